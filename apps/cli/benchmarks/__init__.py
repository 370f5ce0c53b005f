"""``python main.py benchmark NAME``: the benchmarks behind every figure in the README and the model cards, one
function per name.

Each takes the parsed ``python main.py benchmark`` arguments and returns a JSON-ready dict.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from apps.paths import APP_DIR


def add_parser(sub) -> None:
    benchmark = sub.add_parser("benchmark", help="measure speed and accuracy figures quoted in the README and cards")
    benchmark.add_argument(
        "name",
        choices=(
            "phantom",
            "evaluate",
            "levels",
            "pipeline",
            "realfilms",
            "robustness",
            "batch",
            "security",
            "load",
            "active-learning",
        ),
        help="what to measure",
    )
    benchmark.add_argument(
        "--out", type=Path, help="scratch or report folder (default runs/benchmark; robustness: runs/robustness)"
    )
    benchmark.add_argument("--seed", type=int, default=0)
    benchmark.add_argument("--studies", type=Path, help="datastore to measure on (levels; default data/protocol)")
    benchmark.add_argument("--model-dir", type=Path, help="weights to measure (default: the app's model/)")
    benchmark.add_argument("--limit", type=int, help="at most this many images per split")
    benchmark.add_argument("--split", help="split to measure (pipeline; default test_internal)")
    benchmark.add_argument("--films", type=int, default=200, help="phantom films to run (batch; default 200)")
    benchmark.add_argument("--folder", type=Path, help="films to run the pipeline on (realfilms)")
    benchmark.add_argument(
        "--shifts", help="comma-separated shifts (robustness; default all: none, mirrored, rotated_20, ...)"
    )
    campaign = benchmark.add_argument_group("active-learning (a simulated annotation campaign at a new centre)")
    campaign.add_argument("--pool-patients", type=int, default=40, help="unlabelled pool films (default 40)")
    campaign.add_argument("--test-patients", type=int, default=20, help="held-out test films (default 20)")
    campaign.add_argument("--rounds", type=int, default=3, help="annotation rounds (default 3)")
    campaign.add_argument("--per-round", type=int, default=8, help="films corrected per round (default 8)")
    campaign.add_argument("--seeds", type=int, nargs="+", default=[0], help="campaign seeds (default 0)")
    campaign.add_argument("--starts", nargs="+", default=["shipped", "scratch"], help="shipped and/or scratch")
    campaign.add_argument(
        "--strategies",
        nargs="+",
        default=["levels_uncertainty", "levels_tta", "random"],
        help="registered strategies to compare (default levels_uncertainty levels_tta random)",
    )
    campaign.add_argument("--epochs", type=int, default=20, help="most epochs per round (default 20)")
    campaign.add_argument("--max-steps", type=int, default=40, help="optimiser steps per round at most (default 40)")
    campaign.add_argument("--patience", type=int, default=3, help="early stop after N epochs without gain (default 3)")
    campaign.add_argument("--val-split", type=float, default=0.25, help="validation share of corrected films")
    campaign.add_argument("--samples", type=int, default=5, help="MC-dropout samples per film (default 5)")
    campaign.add_argument(
        "--style",
        choices=("film", "schematic"),
        default="film",
        help="how the new centre's films are drawn (default film; schematic: the shipped models' own phantom, where "
        "they start near the 0.95 mark)",
    )
    benchmark.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one benchmark and print its figures as JSON (the numbers quoted in the README and model cards)."""
    if args.out is None and args.name != "robustness":  # robustness picks its own default report folder
        args.out = APP_DIR / "runs" / "benchmark"
    result = BENCHMARKS[args.name](args)
    print(json.dumps(result, indent=2))
    return 0


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


def bench_batch(args) -> dict:
    """``batch-infer`` on Ray: films per second with 1 and 2 workers, and a killed run resumed."""
    from apps.cli.benchmarks.batch import run_batch_benchmark

    return run_batch_benchmark(_fresh(Path(args.out) / "batch"), films=args.films, seed=args.seed)


def bench_security(args) -> dict:
    """The request gate: attacks replayed against live servers on loopback, printed as a markdown table."""
    from apps.cli.benchmarks.probing import run_security_benchmark

    return run_security_benchmark(_fresh(Path(args.out) / "security"))


def bench_realfilms(args) -> dict:
    """The pipeline on every film of ``--folder``: a contact sheet of the overlays and what was found per film."""
    from apps.cli.benchmarks.realfilms import run_realfilms_benchmark

    return run_realfilms_benchmark(args)


def bench_robustness(args) -> dict:
    """The pipeline on a datastore's test films under each department shift, against the shifted truth."""
    from apps.cli.benchmarks.robustness import run_robustness_benchmark

    return run_robustness_benchmark(args)


def bench_load(args) -> dict:
    """A live server's /info/ and image download, idle and during 20 concurrent pipeline inferences (p95 ms)."""
    from apps.cli.benchmarks.load import run_load_benchmark

    out = Path(args.out) / "load"
    out.mkdir(parents=True, exist_ok=True)
    return run_load_benchmark(out, seed=args.seed)


def bench_active_learning(args) -> dict:
    """A simulated annotation campaign at the held-out centre: Dice against corrected films per strategy and start."""
    from apps.cli.benchmarks.active_learning import run_active_learning_benchmark

    return run_active_learning_benchmark(args)


BENCHMARKS = {
    "phantom": bench_phantom,
    "evaluate": bench_evaluate,
    "levels": bench_levels,
    "pipeline": bench_pipeline,
    "batch": bench_batch,
    "security": bench_security,
    "realfilms": bench_realfilms,
    "robustness": bench_robustness,
    "load": bench_load,
    "active-learning": bench_active_learning,
}
