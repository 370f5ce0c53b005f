"""The watcher's bookkeeping: its state file survives a restart and refuses another server's, the change feed's
cursor, which series are input, and where Orthanc's REST root lies."""

from __future__ import annotations

import json

import pytest

from lib.batch.watch_state import (
    APP_MANUFACTURER,
    feed_was_reset,
    is_radiograph_series,
    load_state,
    new_series_changes,
    rest_root,
    save_state,
    saved_feed,
)
from lib.core.errors import BadParameterError
from lib.io.series import OVERLAY_DESCRIPTION

URL = "http://127.0.0.1:8042/dicom-web"


def test_the_state_is_kept_across_a_restart_and_refused_for_another_server_or_feed(tmp_path):
    state = load_state(tmp_path, URL, "orthanc")
    assert (state.cursor, state.seen_series, state.retry) == (0, [], [])
    state.cursor = 41
    state.hold_for_retry("1.2", "1.2.3", "server away")
    state.hold_for_retry("1.2", "1.2.3", "server away again")  # one entry per series
    save_state(tmp_path, state)
    again = load_state(tmp_path, URL, "orthanc")
    assert saved_feed(tmp_path) == "orthanc" and saved_feed(tmp_path / "none") is None
    assert again.cursor == 41 and again.retry == [{"study": "1.2", "series": "1.2.3", "reason": "server away again"}]
    with pytest.raises(BadParameterError, match="follows http://127.0.0.1:8042/dicom-web, not http://pacs/dicom-web"):
        load_state(tmp_path, "http://pacs/dicom-web", "orthanc")
    with pytest.raises(BadParameterError, match="give --feed orthanc"):
        load_state(tmp_path, URL, "qido")
    (tmp_path / "watch_state.json").write_text("{not json")
    with pytest.raises(BadParameterError, match="watch_state.json is not a watch state file"):
        load_state(tmp_path, URL, "orthanc")


def test_only_new_series_are_read_from_a_page_of_changes_in_sequence_order():
    page = [
        {"ChangeType": "NewInstance", "Seq": 5, "ID": "i"},
        {"ChangeType": "NewSeries", "Seq": 9, "ID": "b"},
        {"ChangeType": "NewSeries", "Seq": 6, "ID": "a"},
        {"ChangeType": "StableStudy", "Seq": 10, "ID": "s"},
    ]
    assert [c["ID"] for c in new_series_changes(page)] == ["a", "b"]
    assert feed_was_reset(cursor=40, last=4, done=True) and not feed_was_reset(cursor=4, last=40, done=True)


def test_the_apps_own_write_backs_are_never_input():
    assert is_radiograph_series("dx", ("CR", "DX"), "C-SPINE LAT", "Phantom Imaging")
    assert not is_radiograph_series("SR", ("CR", "DX"), "C-SPINE LAT", "")
    assert not is_radiograph_series("OT", ("OT",), OVERLAY_DESCRIPTION, APP_MANUFACTURER)
    assert is_radiograph_series("OT", ("OT",), OVERLAY_DESCRIPTION, "another vendor")  # not ours


def test_the_manufacturer_is_the_one_the_app_writes():
    from lib.io.dicom_results.common import MANUFACTURER

    assert APP_MANUFACTURER == MANUFACTURER


def test_the_rest_root_lies_one_segment_above_the_dicomweb_root():
    assert rest_root(URL + "/") == "http://127.0.0.1:8042"
    assert rest_root("https://pacs.example/orthanc/dicom-web") == "https://pacs.example/orthanc"
    with pytest.raises(BadParameterError, match="not an http"):
        rest_root("127.0.0.1:8042/dicom-web")
    assert json.dumps(rest_root(URL))
