"""``python main.py benchmark load``: does the server keep answering while it infers?

A live server (``python main.py serve``, shipped models) on a small phantom datastore over loopback. Idle: ``/info/``
and the download of a radiograph (``GET /datastore/image``, about 2 MB) timed one after another. Under load: 20
``POST /infer/pipeline`` at once while the same two requests are timed in a loop until the burst is over. The figures
are p50 and p95 latencies in milliseconds, their ratio under load to idle, and the server's peak resident memory.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from apps.cli.phantom import make_cohort
from apps.ops.server_process import LiveServer

BURST = 20
IDLE_SAMPLES = 20
TIMEOUT_S = 900


def run_load_benchmark(out: Path, seed: int = 0, burst: int = BURST) -> dict:
    studies = out / "studies" if (out / "studies").exists() else make_cohort(out / "studies", 2, seed, workers=1)
    with LiveServer(studies, conf={"skip_trainers": "true"}, log_path=out / "server.log") as server:
        image_id = sorted(requests.get(f"{server.url}/datastore/?output=all", timeout=60).json()["objects"])[0]
        probes = {
            "info": f"{server.url}/info/",
            "download": f"{server.url}/datastore/image?image={image_id}",
        }
        size = len(requests.get(probes["download"], timeout=60).content)
        _infer(server.url, image_id)  # warm-up: networks loaded, caches made
        idle = {name: [_timed(url) for _ in range(IDLE_SAMPLES)] for name, url in probes.items()}
        loaded, burst_s, infer_s = _under_load(server.url, image_id, probes, burst)
        peak_mb = _peak_rss_mb(server.process.pid)  # ``serve`` execs the server: this pid is the server
    return {
        "server_peak_rss_mb": peak_mb,
        "burst": burst,
        "download_bytes": size,
        "burst_seconds": round(burst_s, 1),
        "inference_seconds_p50": round(statistics.median(infer_s), 2),
        "idle_ms": {name: _summary(values) for name, values in idle.items()},
        "under_load_ms": {name: _summary(values) for name, values in loaded.items()},
        "p95_ratio_load_to_idle": {
            name: round(_p95(loaded[name]) / max(_p95(idle[name]), 1e-6), 1) for name in probes if loaded[name]
        },
    }


def _under_load(url: str, image_id: str, probes: dict, burst: int):
    samples: dict[str, list[float]] = {name: [] for name in probes}
    done = threading.Event()

    def sample(name: str, probe: str) -> None:
        while not done.is_set():
            samples[name].append(_timed(probe))
            time.sleep(0.1)

    samplers = [threading.Thread(target=sample, args=item, daemon=True) for item in probes.items()]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=burst) as pool:
        futures = [pool.submit(_infer, url, image_id) for _ in range(burst)]
        time.sleep(0.5)  # the burst has reached the server
        for thread in samplers:
            thread.start()
        infer_s = [f.result() for f in futures]
    burst_s = time.perf_counter() - started
    done.set()
    for thread in samplers:
        thread.join(timeout=TIMEOUT_S)
    return samples, burst_s, infer_s


def _infer(url: str, image_id: str) -> float:
    started = time.perf_counter()
    answer = requests.post(f"{url}/infer/pipeline", params={"image": image_id, "output": "json"}, timeout=TIMEOUT_S)
    answer.raise_for_status()
    return time.perf_counter() - started


def _timed(url: str) -> float:
    started = time.perf_counter()
    answer = requests.get(url, timeout=TIMEOUT_S)
    answer.raise_for_status()
    return 1000.0 * (time.perf_counter() - started)


def _peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory so far (Linux ``VmHWM``), None where /proc does not say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else 0.0


def _summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 1), "p95": round(_p95(values), 1)}
