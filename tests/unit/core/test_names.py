import pytest

from lib.core.errors import BadInputError
from lib.core.names import check_name, is_safe_name


@pytest.mark.parametrize("value", ["final", "original", "C2-review_1", "a" * 64, "1.2.840.10008.5"])
def test_plain_tags_pass(value):
    assert check_name(value, "label tag") == value


@pytest.mark.parametrize(
    "value",
    ["", "../../x", "/abs", "..", ".hidden", "a/b", "a\\b", "a\x00b", "a" * 65, "a" * 300, "tag with space", None, 5],
)
def test_tags_that_could_leave_their_folder_are_refused(value):
    with pytest.raises(BadInputError, match="label tag .* is not allowed"):
        check_name(value, "label tag")


def test_image_ids_allow_128_characters_and_dicom_uids():
    assert is_safe_name("a" * 128, "image id") and is_safe_name("1.2.826.0.1.3680043.2.1125.1", "image id")
    assert not is_safe_name("a" * 129, "image id") and not is_safe_name("../escape", "image id")


def test_session_ids_are_uuids():
    assert is_safe_name("6f1c2a3e-0b5d-11ef-9a3c-0242ac120002", "session id")
    assert not is_safe_name("..", "session id") and not is_safe_name("ABC", "session id")


def test_a_long_value_is_cut_short_in_the_message():
    with pytest.raises(BadInputError) as caught:
        check_name("x" * 300, "label tag")
    assert len(str(caught.value)) < 220
