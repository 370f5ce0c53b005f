"""Settings from --conf: parsed once, typed, validated with messages that name the key and the allowed values."""

import pytest

from lib.core.errors import BadParameterError
from lib.core.settings import MODEL_NAMES, Settings, parse_settings, settings_help


def test_defaults_and_typed_values():
    assert parse_settings(None) == Settings()
    parsed = parse_settings({"preload": "Yes", "tracking": "0", "models": "levels, pipeline", "kang_threshold": "3"})
    assert parsed.preload is True and parsed.tracking is False
    assert parsed.models == ("levels", "pipeline") and parsed.kang_threshold == 3
    assert parse_settings({"models": "all"}).models == MODEL_NAMES
    assert Settings().auto_scoring is False and parse_settings({"auto_scoring": "true"}).auto_scoring is True


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"preload": "maybe"}, r"preload='maybe' is not a boolean"),
        ({"kang_threshold": "4"}, r"kang_threshold=4 is out of range; allowed 1 to 3"),
        ({"max_image_pixels": "lots"}, r"max_image_pixels='lots' is not an integer"),
        ({"models": "levels,spleen"}, r"unknown models \['spleen'\]"),
        ({"device": "tpu"}, r"device='tpu' is not allowed"),
        ({"auto_scoring": "sometimes"}, r"auto_scoring='sometimes' is not a boolean"),
        ({"prelaod": "true"}, r"unknown setting\(s\) \['prelaod'\]"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_range(conf, message):
    with pytest.raises(BadParameterError, match=message):
        parse_settings(conf)


def test_help_lists_every_setting():
    assert set(settings_help()) == set(Settings.__dataclass_fields__)


def test_gate_settings_are_off_and_bounded_by_default():
    defaults = Settings()
    assert not (defaults.enable_model_upload or defaults.enable_model_download or defaults.enable_logs)
    assert defaults.auth_token_file == "" and defaults.max_upload_bytes == 256 * 1024 * 1024
    parsed = parse_settings(
        {"allowed_hosts": "WS12.hospital.org, fe80::1", "allowed_origins": "https://Viewer.hospital.org/"}
    )
    assert parsed.allowed_hosts == ("ws12.hospital.org", "fe80::1")
    assert parsed.allowed_origins == ("https://viewer.hospital.org",)


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"allowed_origins": "viewer.hospital.org"}, "no web origins"),
        ({"allowed_origins": "https://viewer.hospital.org/ohif"}, "no web origins"),
        ({"allowed_hosts": "ws12:8000"}, "no host names"),
        ({"max_upload_bytes": "10"}, "out of range"),
        ({"enable_logs": "please"}, "not a boolean"),
    ],
)
def test_bad_gate_settings_name_the_key(conf, message):
    with pytest.raises(BadParameterError, match=message):
        parse_settings(conf)


def test_request_handling_settings_are_bounded():
    parsed = parse_settings({"worker_threads": "4", "session_max_files": "10", "session_max_bytes": "5_000_000"})
    assert (parsed.worker_threads, parsed.session_max_files, parsed.session_max_bytes) == (4, 10, 5_000_000)
    with pytest.raises(BadParameterError, match="worker_threads=0 is out of range; allowed 1 to 64"):
        parse_settings({"worker_threads": "0"})
    with pytest.raises(BadParameterError, match="session_max_bytes=10 is out of range"):
        parse_settings({"session_max_bytes": "10"})
