"""The batch run on Ray: one actor per worker, each with its own copy of the models, fed films by the driver.

The driver lists the films, skips those already done (``lib.batch.results``), claims each film before handing it
to an idle actor, and books the answer: done (record written atomically) or failed (reason kept, tried again by the
next run). A failure never stops the run; an actor that dies is replaced. ``ray.init()`` starts a local Ray with
``workers`` CPUs, or joins an existing cluster given its address, so the same command runs on a laptop and on a
cluster. Every outcome is appended to ``events.jsonl``, which is how a resumed run can be checked film by film.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from apps.batch.sources import Film
from apps.paths import APP_DIR
from lib.batch.results import ResultStore
from lib.batch.summary import write_summary
from lib.core.atomic import write_json_atomic

logger = logging.getLogger(__name__)

IN_FLIGHT_PER_WORKER = 1  # one film at a time per actor: the next is claimed only when an actor is free


def _worker_class(threads: int, gpus: float = 0.0):
    import ray

    # Ray hides the GPUs from an actor that asks for none, so the pipeline's "auto" device is the CPU there and
    # the actor's GPU share elsewhere.
    @ray.remote(num_cpus=threads, num_gpus=gpus)
    class PipelineWorker:
        """One copy of the pipeline (levels, landmarks, compression) and, for DICOMweb films, one client."""

        def __init__(self, conf: dict, dicomweb_url: Optional[str], write_back: bool):
            import torch

            from apps.cli.predict import build_pipeline

            torch.set_num_threads(threads)
            self.pipeline, _ = build_pipeline(conf, APP_DIR)
            self.url, self.write_back, self.client = dicomweb_url, write_back, None
            if dicomweb_url:
                from dicomweb_client.api import DICOMwebClient

                self.client = DICOMwebClient(url=dicomweb_url)

        def process(self, film: dict, result_dir: str) -> tuple[str, dict]:
            from apps.batch.worker import film_outcome

            item, folder = Film(**film), Path(result_dir)
            return film_outcome(lambda: self.pipeline, item, folder, self.client, self.url, self.write_back)

    return PipelineWorker


def run_batch(
    films: list[Film],
    out_dir: Path,
    conf: dict,
    workers: int = 2,
    threads_per_worker: int = 1,
    gpus_per_worker: float = 0.0,
    address: Optional[str] = None,
    dicomweb_url: Optional[str] = None,
    write_back: bool = False,
    skipped: Optional[list[dict]] = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> dict:
    """Work through ``films`` into ``out_dir``; the run's report (also ``out_dir/report.json``). A film refused for
    itself before (unreadable, not a radiograph) is not tried again unless ``retry_failed``; one that failed for
    another reason (server away, worker lost) is."""
    import ray

    store = ResultStore(out_dir)
    refused = {r["key"]: r for r in store.failed_records() if not r.get("retry", True) and not retry_failed}
    todo = [f for f in films if not store.is_done(f.key) and f.key not in refused]
    report = {
        "films": len(films),
        "already_done": sum(store.is_done(f.key) for f in films),
        "refused_before": [refused[f.key] for f in films if f.key in refused],
        "done": 0,
        "failed": [],
        "held": 0,
    }
    events = Path(out_dir) / "events.jsonl"
    started = time.monotonic()
    if todo:
        # Local Ray: the workers find the app on PYTHONPATH; a cluster gets it through its own runtime environment.
        ray.init(
            address=address,
            num_cpus=None if address else workers * threads_per_worker,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env=None if address else {"env_vars": {"PYTHONPATH": str(APP_DIR)}},
        )
        try:
            worker_class = _worker_class(threads_per_worker, gpus_per_worker)
            _drive(todo, store, events, report, conf, workers, worker_class, dicomweb_url, write_back, progress)
        finally:
            ray.shutdown()
    seconds = time.monotonic() - started
    report["seconds"] = round(seconds, 1)
    report["films_per_second"] = round(report["done"] / seconds, 3) if report["done"] and seconds else None
    finished = report.pop("finished_at", [])
    # Steady throughput: between the first and the last film done, so the models' loading is not counted.
    if len(finished) > 2:
        report["films_per_second_steady"] = round((len(finished) - 1) / (finished[-1] - finished[0]), 3)
    report["skipped"] = list(skipped or [])
    report["summary_rows"] = write_summary(Path(out_dir) / "summary.csv", store.done_records())
    write_json_atomic(report, Path(out_dir) / "report.json")
    return report


def _drive(todo, store, events, report, conf, workers, worker_class, dicomweb_url, write_back, progress) -> None:
    import ray

    def new_actor():
        return worker_class.remote(conf, dicomweb_url, write_back)

    idle = [new_actor() for _ in range(workers)]
    pending: dict = {}
    queue = iter(todo)
    bar = tqdm(total=len(todo), unit="film", desc="batch-infer", disable=not progress, smoothing=0.1)

    def feed() -> None:
        while idle:
            film = next(queue, None)
            if film is None:
                return
            if not store.claim(film.key):  # done or held by another run meanwhile
                report["held"] += 1
                bar.update(1)
                continue
            actor = idle.pop()
            pending[actor.process.remote(asdict(film), str(store.result_dir(film.key)))] = (film, actor)

    feed()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            film, actor = pending.pop(ref)
            try:
                status, record = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the actor died (memory, a crash): the film fails, a new actor
                status, record = "failed", {"key": film.key, "source": film.source, "reason": f"worker lost: {exc}"}
                actor = new_actor()
            if status == "done":
                store.finish(film.key, record)
                report["done"] += 1
                report.setdefault("finished_at", []).append(time.monotonic())
            else:
                store.fail(film.key, record)
                report["failed"].append(record)
                logger.error("%s: %s", film.source, record["reason"])
            append_event(events, {"key": film.key, "status": status, "pid": os.getpid(), "time": time.time()})
            bar.update(1)
            idle.append(actor)
        feed()
    bar.close()


def done_counts(out_dir: Path) -> Counter:
    """How often each film was booked done in ``out_dir`` over all runs (exactly once, when all went well)."""
    path = Path(out_dir) / "events.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return Counter(event["key"] for event in map(json.loads, lines) if event["status"] == "done")


def append_event(path: Path, event: dict) -> None:
    # One short line per write with O_APPEND: whole lines even when two runs share the folder.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")
