"""Training partitions: the datastore's split wins, test images never train, patients stay together."""

from lib.models.splits import hashed_fraction, partition


def test_known_splits_are_kept_and_test_splits_left_out():
    items = [
        {"image": "a", "split": "train"},
        {"image": "b", "split": "validation"},
        {"image": "c", "split": "test_internal"},
        {"image": "d", "split": "test_external"},
    ]
    train, validation = partition(items)
    assert [i["image"] for i in train] == ["a"] and [i["image"] for i in validation] == ["b"]


def test_unsplit_images_are_hashed_by_patient_so_a_patient_never_straddles():
    items = [{"image": f"img{i}", "patient_id": f"P{i // 2}"} for i in range(400)]
    train, validation = partition(items, val_fraction=0.2)
    assert 0.12 < len(validation) / len(items) < 0.28
    train_patients = {i["patient_id"] for i in train}
    assert not train_patients & {i["patient_id"] for i in validation}
    assert hashed_fraction("P1") == hashed_fraction("P1")
