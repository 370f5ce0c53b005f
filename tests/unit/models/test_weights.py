"""Checkpoints that carry their card, and the pool that lends each concurrent request a network of its own."""

import json
import threading

import torch

from lib.models.weights import NetworkPool, load_weights, read_checkpoint, write_checkpoint


def _net():
    return torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Dropout(0.5))


def _save(path, value: float, card: dict):
    net = _net()
    torch.nn.init.constant_(net[0].weight, value)
    write_checkpoint(net.state_dict(), card, path)


def test_checkpoint_keeps_weights_and_card_together(tmp_path):
    _save(tmp_path / "m.pt", 0.25, {"threshold": 0.7, "version": "m-1"})
    state, card = read_checkpoint(tmp_path / "m.pt")
    assert card == {"threshold": 0.7, "version": "m-1"} and float(state["0.weight"][0, 0]) == 0.25
    assert not list(tmp_path.glob(".*.tmp"))


def test_older_checkpoints_read_their_card_from_the_json_beside_them(tmp_path):
    net = _net()
    torch.save(net.state_dict(), tmp_path / "plain.pt")
    (tmp_path / "plain.json").write_text(json.dumps({"version": "plain-0"}))
    torch.save({"model": net.state_dict()}, tmp_path / "monai.pt")
    assert read_checkpoint(tmp_path / "plain.pt")[1] == {"version": "plain-0"}
    assert read_checkpoint(tmp_path / "monai.pt")[1] == {}
    loaded = load_weights(_net(), tmp_path / "monai.pt")
    assert torch.equal(loaded[0].weight, net[0].weight)


def test_pool_without_weights_lends_nothing(tmp_path):
    pool = NetworkPool(tmp_path / "absent.pt", _net)
    assert not pool.available() and pool.card() == {}
    with pool.borrow() as served:
        assert served is None


def test_each_borrower_gets_its_own_network_and_copies_are_reused(tmp_path):
    _save(tmp_path / "m.pt", 0.5, {"version": "m-1"})
    pool = NetworkPool(tmp_path / "m.pt", _net)
    with pool.borrow() as first, pool.borrow() as second:
        assert first.network is not second.network and first.version == "m-1"
        first.network.train()  # a borrower may switch modes; the pool hands it back in eval mode
        kept = {id(first.network), id(second.network)}
    with pool.borrow() as again:
        assert id(again.network) in kept and not again.network.training


def test_a_replaced_file_is_served_with_its_own_card(tmp_path):
    path = tmp_path / "m.pt"
    _save(path, 0.5, {"version": "m-1", "threshold": 0.3})
    pool = NetworkPool(path, _net)
    with pool.borrow() as old:
        _save(path, 2.0, {"version": "m-2", "threshold": 0.9})  # published while a request holds the old one
        assert old.card["threshold"] == 0.3 and float(old.network[0].weight[0, 0].detach()) == 0.5
    with pool.borrow() as new:
        assert new.card == {"version": "m-2", "threshold": 0.9} and float(new.network[0].weight[0, 0].detach()) == 2.0
        assert new.network is not old.network  # the old copy was not returned to the pool
    assert pool.card()["version"] == "m-2"


def test_concurrent_borrowers_never_share_a_network(tmp_path):
    _save(tmp_path / "m.pt", 0.5, {"version": "m-1"})
    pool = NetworkPool(tmp_path / "m.pt", _net)
    holders, clashes, start = {}, [], threading.Barrier(6)

    def work():
        start.wait()
        for _ in range(20):
            with pool.borrow() as served:
                key = id(served.network)
                if holders.setdefault(key, threading.get_ident()) != threading.get_ident():
                    clashes.append(key)
                served.network(torch.ones(1, 2))
                holders.pop(key)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clashes == []
