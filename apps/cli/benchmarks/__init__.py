"""The benchmarks behind every figure in the README and the model cards, one function per name.

Each takes the parsed ``python main.py benchmark`` arguments and returns a JSON-ready dict.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def bench_phantom(args) -> dict:
    """The 660-patient protocol cohort: generation time, determinism, realism and the oracle ceiling."""
    from apps.cli.benchmarks.phantom import run_benchmark

    out = _fresh(Path(args.out) / "phantom_protocol")
    return run_benchmark(out, seed=args.seed, figure_path=str(Path(args.out) / "phantom_realism.png"))


def bench_evaluate(args) -> dict:
    """``evaluate`` on 300 segments (60 patients) with 2,000 bootstrap replicates."""
    from apps.cli.benchmarks.evaluation import run_benchmark

    return run_benchmark(n_patients=60, n_bootstrap=2000, seed=args.seed)


def bench_levels(args) -> dict:
    """Levels model: Dice and level identity on the phantom test splits, inference time and peak memory."""
    from apps.cli.benchmarks.levels import run_levels_benchmark

    return run_levels_benchmark(args)


def bench_pipeline(args) -> dict:
    """The whole pipeline: seconds per radiograph and measurement error against the phantom's truth."""
    from apps.cli.benchmarks.pipeline import run_pipeline_benchmark

    return run_pipeline_benchmark(args)


BENCHMARKS = {"phantom": bench_phantom, "evaluate": bench_evaluate, "levels": bench_levels, "pipeline": bench_pipeline}
