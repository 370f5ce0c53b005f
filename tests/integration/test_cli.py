"""The command line: ``serve`` hands its process over to MONAI Label's server from a light process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.cli.main import build_parser, main
from apps.ops.server_process import LiveServer

APP_DIR = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "monai", "monailabel", "scipy")

# ``python main.py serve ...`` as run from a shell, with os.execve replaced by a probe that reports and exits.
SERVE_PROBE = """
import json, os, runpy, sys
def probe(path, argv, env):
    heavy = sorted(m for m in {heavy!r} if m in sys.modules)
    print(json.dumps({{"path": path, "argv": argv, "env": {{k: env.get(k) for k in {keys!r}}}, "heavy": heavy}}))
    sys.exit(0)
os.execve = probe
sys.path.insert(0, {app!r})
sys.argv = ["main.py"] + {args!r}
runpy.run_path({main!r}, run_name="__main__")
"""


def _serve_probe(args: list[str], env: dict[str, str]) -> dict:
    script = SERVE_PROBE.format(
        heavy=HEAVY,
        keys=("MONAI_LABEL_TRACKING_ENABLED", "SERVE_PROBE_MARKER"),
        app=str(APP_DIR),
        args=args,
        main=str(APP_DIR / "main.py"),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serve_execs_monailabel_start_server_with_the_same_argv_and_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MONAI_LABEL_TRACKING_ENABLED"}
    env["SERVE_PROBE_MARKER"] = "kept"
    args = ["serve", "--studies", str(tmp_path), "--port", "8123", "--conf", "models", "levels"]
    seen = _serve_probe(args, env)
    assert seen["path"] == sys.executable
    assert seen["argv"] == [
        sys.executable,
        "-m",
        "monailabel.main",
        "start_server",
        "--app",
        str(APP_DIR),
        "--studies",
        str(tmp_path),
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--conf",
        "models",
        "levels",
    ]
    assert seen["env"] == {"MONAI_LABEL_TRACKING_ENABLED": "false", "SERVE_PROBE_MARKER": "kept"}
    assert seen["heavy"] == []  # the process that execs imported no torch, MONAI Label or scipy


def test_serve_keeps_a_tracking_choice_from_the_environment(tmp_path):
    env = dict(os.environ, MONAI_LABEL_TRACKING_ENABLED="true")
    seen = _serve_probe(["serve", "--studies", str(tmp_path)], env)
    assert seen["env"]["MONAI_LABEL_TRACKING_ENABLED"] == "true"
    assert seen["argv"][-4:] == ["--host", "127.0.0.1", "--port", "8000"]


def _process_group(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue  # exited while listed
        if stat and int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_the_serve_process_is_the_server_and_stops_with_its_group(tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    with LiveServer(studies, conf={"models": "levels", "skip_trainers": "true"}) as live:
        argv = Path(f"/proc/{live.process.pid}/cmdline").read_bytes().split(b"\0")
        assert argv[1:4] == [b"-m", b"monailabel.main", b"start_server"]  # no parent waits beside it
        assert os.getpgid(live.process.pid) == live.process.pid
    assert live.process.returncode is not None
    deadline = time.monotonic() + 10  # killed task processes are reaped by init a moment later
    while _process_group(live.process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _process_group(live.process.pid) == []


def test_serve_refuses_a_bad_setting_before_it_execs(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(os, "execve", lambda *a: pytest.fail("execve must not run on a bad --conf"))
    assert main(["serve", "--studies", str(tmp_path), "--conf", "prelaod", "true"]) == 2
    assert "unknown setting(s) ['prelaod']" in capsys.readouterr().err


def test_batch_infer_refuses_more_gpus_than_the_machine_has_before_ray_starts(monkeypatch, capsys, tmp_path):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray must not start: it would wait for the GPUs"))
    args = ["batch-infer", "--folder", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "2"]
    assert main([*args, "--gpus-per-worker", "64"]) == 2
    assert "needs 128 GPU(s); this machine has" in capsys.readouterr().err
    assert main([*args, "--gpus-per-worker", "-1"]) == 2
    assert "--gpus-per-worker must be 0 or more" in capsys.readouterr().err


def test_every_command_registers_in_help_order():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == [
        "serve",
        "phantom",
        "train",
        "evaluate",
        "study",
        "benchmark",
        "predict",
        "batch-infer",
        "watch",
        "import-labels",
        "orthanc",
        "demo-ohif",
        "settings",
    ]
