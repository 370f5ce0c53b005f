"""Typed app settings, parsed once from MONAI Label's ``--conf key value`` strings.

Every setting has a default, a type and an allowed range; an unknown key or a bad value raises
``BadParameterError`` naming the key, the value and what is allowed, so a typo never passes silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Mapping
from urllib.parse import urlsplit

from lib.core.errors import BadParameterError

MODEL_NAMES = ("levels", "compression", "landmarks", "pipeline")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """What a user can set with ``--conf``; see the README's settings table."""

    models: tuple[str, ...] = MODEL_NAMES
    preload: bool = False
    tracking: bool = False
    device: str = "auto"
    max_image_pixels: int = 50_000_000
    kang_threshold: int = 2
    skip_trainers: bool = False
    epistemic_samples: int = 5
    auto_scoring: bool = False
    use_pretrained: bool = True
    model_dir: str = ""
    # The request gate (lib/core/gate.py, README "Security"): what reaches the server at all.
    enable_model_upload: bool = False
    enable_model_download: bool = False
    enable_logs: bool = False
    auth_token_file: str = ""
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 256 * 1024 * 1024
    # Request handling: work taken off the server's event loop, and what one session upload may unpack to.
    worker_threads: int = 2
    session_max_files: int = 1000
    session_max_bytes: int = 2_000_000_000


_HELP = {
    "models": "comma-separated subset of levels,compression,landmarks,pipeline, or 'all'",
    "preload": "load networks at start-up instead of on first request (true/false)",
    "tracking": "MLflow experiment tracking during training (true/false); off unless asked",
    "device": "auto, cpu or cuda",
    "max_image_pixels": "largest radiograph accepted, rows x columns; 1,000 to 400,000,000",
    "kang_threshold": "Kang grade from which a segment counts as compressed; 1 to 3",
    "skip_trainers": "serve models without registering trainers (true/false)",
    "epistemic_samples": "dropout samples for the uncertainty strategy; 2 to 50",
    "auto_scoring": "run every scoring method at start-up and after each next sample and training (true/false); "
    "off: only on POST /scoring/<method>",
    "use_pretrained": "start from the weights shipped in model/ when present (true/false)",
    "model_dir": "folder for weights, cards and training runs; empty means the app's model/ folder",
    "enable_model_upload": "answer PUT and DELETE /model/<name>, which replace or remove the served weights "
    "(true/false)",
    "enable_model_download": "answer GET /model/<name>, which hands out the served weights (true/false)",
    "enable_logs": "answer /logs and /logs/gpu, the server's log and nvidia-smi (true/false)",
    "auth_token_file": "file holding the token every request must carry as 'Authorization: Bearer <token>'; "
    "empty: no token, and the server answers this machine only",
    "allowed_hosts": "comma-separated host names the server answers as, beyond loopback names, the machine's own name "
    "and the bound address",
    "allowed_origins": "comma-separated web origins (scheme://host[:port]) allowed to call the server, beyond its "
    "own and loopback ones",
    "max_upload_bytes": "largest request body accepted, in bytes; 1,024 to 17,179,869,184",
    "worker_threads": "inferences, uploads and label saves run at once in worker threads, off the event loop "
    "(at least MONAI_LABEL_INFER_CONCURRENCY); 1 to 64",
    "session_max_files": "most files one session upload may send or unpack to; 1 to 100,000",
    "session_max_bytes": "most bytes one session upload may unpack to; 1,000,000 to 100,000,000,000",
}


def settings_help() -> dict[str, tuple[str, str]]:
    """``{key: (default, meaning)}`` for every setting, in declaration order (README table, --help)."""
    defaults = Settings()
    out = {}
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        shown = (
            ",".join(value)
            if isinstance(value, tuple)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        out[f.name] = (shown, _HELP[f.name])
    return out


def _parse_bool(key: str, raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadParameterError(f"setting {key}={raw!r} is not a boolean; use one of true/false, 1/0, yes/no, on/off")


def _parse_int(key: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip().replace("_", ""))
    except ValueError:
        raise BadParameterError(f"setting {key}={raw!r} is not an integer; allowed {low} to {high}") from None
    if not low <= value <= high:
        raise BadParameterError(f"setting {key}={value} is out of range; allowed {low} to {high}")
    return value


def _parse_models(raw: str) -> tuple[str, ...]:
    text = str(raw).strip().lower()
    if text == "all":
        return MODEL_NAMES
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown or not names:
        raise BadParameterError(
            f"setting models={raw!r} names unknown models {unknown}; allowed: {', '.join(MODEL_NAMES)} or 'all'"
        )
    return names


def _parse_device(raw: str) -> str:
    text = str(raw).strip().lower()
    if text not in ("auto", "cpu", "cuda"):
        raise BadParameterError(f"setting device={raw!r} is not allowed; use auto, cpu or cuda")
    return text


def _parse_hosts(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower().rstrip(".") for n in str(raw).split(",") if n.strip())
    wrong = [n for n in names if not n or any(c in n for c in "/@ ") or n.count(":") == 1]
    if wrong:
        raise BadParameterError(f"setting allowed_hosts={raw!r} has entries that are no host names: {wrong}")
    return names


def _parse_origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().lower().rstrip("/") for o in str(raw).split(",") if o.strip())
    wrong = [o for o in origins if not _is_origin(o)]
    if wrong:
        raise BadParameterError(
            f"setting allowed_origins={raw!r} has entries that are no web origins: {wrong}; "
            "write scheme://host[:port], e.g. https://viewer.example.org"
        )
    return origins


def _is_origin(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.path or parts.query)


_PARSERS = {
    "models": _parse_models,
    "device": _parse_device,
    "max_image_pixels": lambda raw: _parse_int("max_image_pixels", raw, 1_000, 400_000_000),
    "kang_threshold": lambda raw: _parse_int("kang_threshold", raw, 1, 3),
    "epistemic_samples": lambda raw: _parse_int("epistemic_samples", raw, 2, 50),
    "model_dir": lambda raw: str(raw).strip(),
    "auth_token_file": lambda raw: str(raw).strip(),
    "allowed_hosts": lambda raw: _parse_hosts(raw),
    "allowed_origins": lambda raw: _parse_origins(raw),
    "max_upload_bytes": lambda raw: _parse_int("max_upload_bytes", raw, 1_024, 16 * 1024**3),
    "worker_threads": lambda raw: _parse_int("worker_threads", raw, 1, 64),
    "session_max_files": lambda raw: _parse_int("session_max_files", raw, 1, 100_000),
    "session_max_bytes": lambda raw: _parse_int("session_max_bytes", raw, 1_000_000, 100_000_000_000),
}


def parse_settings(conf: Mapping[str, str] | None) -> Settings:
    """Build ``Settings`` from ``--conf`` strings; raises ``BadParameterError`` on unknown keys or bad values."""
    conf = dict(conf or {})
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(k for k in conf if k not in known)
    if unknown:
        raise BadParameterError(f"unknown setting(s) {unknown}; known settings: {', '.join(known)}")
    values = {}
    for key, raw in conf.items():
        if key in _PARSERS:
            values[key] = _PARSERS[key](raw)
        elif known[key].type in ("bool", bool):
            values[key] = _parse_bool(key, raw)
    return dataclasses.replace(Settings(), **values)
