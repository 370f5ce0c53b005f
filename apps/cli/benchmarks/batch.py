"""Batch inference throughput on Ray, and the resume check, on a fresh phantom cohort.

For each worker count: ``python main.py batch-infer --folder COHORT --workers N`` as a user runs it (its own
process, a fresh output folder); the figure is the steady rate between the first and the last film done, so Ray's
start and the models' loading are reported apart. Then the resume check: a 2-worker run killed (its whole session,
``SIGKILL``) once half the films are done, run again, and every film must be done exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from apps.batch.runner import done_counts
from apps.ops.server_process import kill_session
from apps.paths import APP_DIR


def _command(cohort: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, str(APP_DIR / "main.py"), "batch-infer", "--folder", str(cohort), "--out", str(out),
            "--workers", str(workers)]  # fmt: skip


def run_batch_benchmark(out: Path, films: int, seed: int, worker_counts=(1, 2)) -> dict:
    from apps.cli.phantom import make_cohort

    cohort = make_cohort(out / "cohort", patients=films, seed=seed, workers=2)
    figures = {"films": films, "cpu_cores": os.cpu_count(), "runs": {}}
    for workers in worker_counts:
        run_out = out / f"run_{workers}"
        started = time.monotonic()
        subprocess.run(_command(cohort, run_out, workers), check=True, capture_output=True, cwd=APP_DIR)
        report = json.loads((run_out / "report.json").read_text())
        figures["runs"][f"{workers}_workers"] = {
            "wall_seconds": round(time.monotonic() - started, 1),
            "films_per_second_steady": report.get("films_per_second_steady"),
            "films_per_second_overall": report["films_per_second"],
            "failed": len(report["failed"]),
        }
    resume_out = out / "resume"
    first = subprocess.Popen(_command(cohort, resume_out, 2), cwd=APP_DIR, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while sum(done_counts(resume_out).values()) < films // 2 and first.poll() is None:
        time.sleep(0.5)
    kill_session(first.pid)
    first.wait(timeout=60)
    killed_after = sum(done_counts(resume_out).values())
    subprocess.run(_command(cohort, resume_out, 2), check=True, capture_output=True, cwd=APP_DIR)
    done = done_counts(resume_out)
    figures["resume"] = {
        "killed_after_films": killed_after,
        "films_done": len(done),
        "every_film_exactly_once": len(done) == films and set(done.values()) == {1},
    }
    return figures
