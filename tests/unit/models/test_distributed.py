"""Where a process sits in a torchrun launch, read from torchrun's variables; a broken launch is refused."""

from __future__ import annotations

import pytest

from lib.core.errors import BadParameterError
from lib.models.distributed import Launch, backend_for, device_for, is_rank_zero, torchrun_launch

TORCHRUN = {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_a_torchrun_process_knows_its_rank_and_a_lone_one_runs_alone():
    assert torchrun_launch(TORCHRUN) == Launch(rank=1, local_rank=1, world_size=2)
    assert torchrun_launch({}) is None
    # A server's training subprocess may inherit MASTER_ADDR/MASTER_PORT from an earlier launch: not a launch.
    assert torchrun_launch({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}) is None
    assert torchrun_launch({**TORCHRUN, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"}) is None
    assert is_rank_zero()  # no process group: this process is rank 0


def test_a_broken_launch_is_refused_naming_what_is_wrong():
    with pytest.raises(BadParameterError, match="MASTER_PORT missing"):
        torchrun_launch({k: v for k, v in TORCHRUN.items() if k != "MASTER_PORT"})
    with pytest.raises(BadParameterError, match="RANK 2 is not below WORLD_SIZE 2"):
        torchrun_launch({**TORCHRUN, "RANK": "2"})
    with pytest.raises(BadParameterError, match="whole numbers"):
        torchrun_launch({**TORCHRUN, "WORLD_SIZE": "two"})


def test_gpus_talk_nccl_and_cpus_gloo_each_rank_on_its_own_gpu():
    assert backend_for("cuda") == "nccl" and backend_for("cpu") == "gloo"
    assert device_for(Launch(3, 1, 4), "cuda") == "cuda:1" and device_for(Launch(3, 1, 4), "cpu") == "cpu"
