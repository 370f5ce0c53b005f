"""``python main.py benchmark active-learning``: a simulated annotation campaign at a hospital the shipped weights
never saw.

The phantom's held-out centre profile (``external``), in the film style unless ``--style schematic``, makes a pool
of unlabelled films and a held-out test set. Every arm (seed x start x strategy) gets its own copy of that datastore
and its own model folder, and runs the app exactly as a client drives it: the app is built by MONAI Label's
``app_instance`` from ``main.py`` on the copy; each round runs the strategy's scoring method (``app.scoring``), asks
the strategy for ``k`` films one after the other (``app.next_sample``), "corrects" each by saving the phantom's
truth as its final label through the datastore (``save_label``, what Slicer's submit ends in), fine-tunes with the
levels train task (``app.train``, the object ``POST /train/levels`` runs), and scores the served model on the test
films with the levels infer task. Test films carry final labels and a test split: the trainer leaves them out, and
no strategy serves them.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from apps.paths import APP_DIR
from lib.core.errors import AppError, BadParameterError
from lib.evaluation.learning_curves import aggregate_curves, films_needed, plot_learning_curves

logger = logging.getLogger(__name__)

CENTRE = "external"  # the phantom profile the shipped weights were not trained on (lib/phantom/centres.py)
TEST_SPLIT = "test_external"
STARTS = ("shipped", "scratch")
THRESHOLDS = (0.90, 0.95)
# The fine-tuning schedule of one round (request keys of the levels train task, trainers/levels.py).
ROUND_REQUEST = {
    "warm_start": "served",
    "train_batch_size": 8,
    "val_batch_size": 4,
    "learning_rate": 5e-4,  # a quarter of the full-training rate: fine-tuning, not training anew
}


def round_augmentation(style: str) -> dict:
    """Film centres fine-tune with the film augmentation the shipped levels weights were trained with, so a round
    does not train them on one look of film only; the schematic phantom keeps the trainer's standard one."""
    return {"augmentation": "film"} if style == "film" else {}


def check_options(args) -> None:
    """Refuse a campaign that cannot run, naming the option, before minutes go into making films."""
    for name in ("pool_patients", "test_patients", "rounds", "per_round", "epochs", "max_steps"):
        if int(getattr(args, name)) < 1:
            raise BadParameterError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.patience < 0:
        raise BadParameterError(f"--patience must be 0 (off) or more, got {args.patience}")
    if not 0 < args.val_split < 1:
        raise BadParameterError(f"--val-split must be between 0 and 1, got {args.val_split}")
    needed = args.rounds * args.per_round
    if needed > args.pool_patients:
        raise BadParameterError(
            f"--pool-patients {args.pool_patients} is fewer than the {needed} films to correct "
            f"(--rounds {args.rounds} x --per-round {args.per_round})"
        )
    unknown = sorted(set(args.starts) - set(STARTS))
    if unknown:
        raise BadParameterError(f"--starts {unknown} unknown; use {list(STARTS)}")
    if "shipped" in args.starts and not (APP_DIR / "model" / "levels.pt").is_file():
        raise BadParameterError(f"--starts shipped needs the shipped weights {APP_DIR / 'model' / 'levels.pt'}")
    if not args.seeds:
        raise BadParameterError("--seeds needs at least one seed")


@contextmanager
def in_process_app_settings():
    """MONAI Label settings for apps built in this process: no file watcher (this process is the datastore's only
    writer) and no unloading of ``lib`` when ``main.py`` is loaded (the classes already imported stay valid)."""
    from monailabel.config import settings as ml_settings

    saved_reload, saved_env = (
        ml_settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
        os.environ.get("MONAI_LABEL_RELOAD_APP_LIB"),
    )
    ml_settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD = False
    os.environ["MONAI_LABEL_RELOAD_APP_LIB"] = "false"
    try:
        yield
    finally:
        ml_settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD = saved_reload
        if saved_env is None:
            os.environ.pop("MONAI_LABEL_RELOAD_APP_LIB", None)
        else:
            os.environ["MONAI_LABEL_RELOAD_APP_LIB"] = saved_env


def build_app(studies: Path, model_dir: Path, samples: int):
    """The app as MONAI Label builds it from ``main.py``, levels model only, on ``studies``."""
    from monailabel.interfaces.utils.app import app_instance, clear_cache

    clear_cache()
    conf = {"models": "levels", "model_dir": str(model_dir), "device": "cpu", "epistemic_samples": str(samples)}
    return app_instance(app_dir=str(APP_DIR), studies=str(studies), conf=conf)


def check_strategies(strategies: list[str], scratch: Path) -> None:
    """Every asked strategy must be one the app registers (what a client could ask for)."""
    empty = scratch / "empty_datastore"
    empty.mkdir(parents=True, exist_ok=True)
    registered = sorted(build_app(empty, scratch / "empty_model", 2).info()["strategies"])
    unknown = sorted(set(strategies) - set(registered))
    if unknown:
        raise BadParameterError(f"--strategies {unknown} are not registered in the app; registered: {registered}")


def make_campaign_cohort(folder: Path, pool: int, test: int, seed: int, style: str = "film") -> dict:
    """Pool and test films of the held-out centre in one datastore: the pool's labels moved aside as the truth an
    annotator would draw (``truth/``), the pool without a split (a new hospital's films), the test films in
    ``TEST_SPLIT`` with their final labels."""
    from apps.cli.phantom import make_cohort
    from apps.datastores.local import RadiographDatastore

    make_cohort(folder, patients=pool + test, seed=seed, centre=CENTRE, preset="cohort", workers=2, style=style)
    store = RadiographDatastore(str(folder), max_image_pixels=400_000_000, auto_reload=False)
    ids = sorted(store.list_images())
    pool_ids, test_ids = ids[:pool], ids[pool:]
    truth = folder.parent / f"{folder.name}_truth"
    truth.mkdir()
    store.update_image_infos({**{i: {"split": ""} for i in pool_ids}, **{i: {"split": TEST_SPLIT} for i in test_ids}})
    for image_id in pool_ids:
        shutil.copyfile(store.get_label_uri(image_id, "final"), truth / f"{image_id}.nii.gz")
        store.remove_label(image_id, "final")
    return {"folder": folder, "truth": truth, "pool": pool_ids, "test": test_ids}


def _copy_datastore(source: Path, target: Path) -> None:
    """Images hard-linked (never written), labels and the index copied (the arm writes those)."""
    shutil.copytree(source, target, copy_function=os.link, ignore=shutil.ignore_patterns("labels", "datastore_v2.json"))
    shutil.copytree(source / "labels", target / "labels")
    shutil.copyfile(source / "datastore_v2.json", target / "datastore_v2.json")


def score_test(app) -> dict:
    """Mean level (body) Dice and level identity of the served levels model on the test films."""
    from apps.cli.benchmarks.levels import evaluate_split

    model = app.models["levels"]
    if not model.pool.available():
        return {"mean_body_dice": 0.0, "level_identity": 0.0, "model_version": None, "note": "no weights yet"}
    result = evaluate_split(model, app.datastore(), TEST_SPLIT, None)
    keep = ("images", "mean_body_dice", "dice_per_level", "level_identity", "seconds_per_image_median")
    return {**{k: result[k] for k in keep}, "model_version": model.pool.card().get("version", "untrained")}


def run_round(app, strategy: str, per_round: int, truth: Path, request: dict) -> dict:
    """One round: score the pool, pick and correct ``per_round`` films, fine-tune; the record of each step."""
    record: dict = {"strategy": strategy}
    started = time.perf_counter()
    if strategy in app.info()["scoring"]:
        scoring = app.scoring({"method": strategy})
        record["scoring"] = {k: scoring.get(k) for k in ("scored", "cached", "left", "seconds", "seconds_per_film")}
        record["scoring"]["reason"] = scoring.get("reason")
    record["scoring_seconds"] = round(time.perf_counter() - started, 2)
    store, picked = app.datastore(), []
    for _ in range(per_round):
        sample = app.next_sample({"strategy": strategy})
        if not sample:
            break
        image_id = sample["id"]
        score = (store.get_image_info(image_id) or {}).get(strategy)
        picked.append({"id": image_id, "score": score})
        # The annotator's save: the corrected label goes through the datastore's checked save_label.
        store.save_label(image_id, str(truth / f"{image_id}.nii.gz"), "final", {})
    record["picked"] = picked
    started = time.perf_counter()
    try:
        stats = app.train({"model": "levels", **request})
    except AppError as exc:  # what the server answers with a 4xx, e.g. every corrected film fell to validation
        logger.warning("round not trained: %s", exc)
        stats = {"error": str(exc)}
    record["training_seconds"] = round(time.perf_counter() - started, 2)
    record["training_error"] = stats.get("error")
    record["schedule"] = stats.get("schedule")
    record["best_selection_dice"] = stats.get("best_metric")
    record["publish"] = stats.get("publish")
    record["published"] = bool((stats.get("publish") or {}).get("published"))
    return record


def run_arm(cohort: dict, start: str, strategy: str, seed: int, args, folder: Path, baseline: dict | None) -> dict:
    """One strategy from one start on a fresh copy of the seed's datastore."""
    studies, model_dir = folder / "studies", folder / "model"
    _copy_datastore(cohort["folder"], studies)
    model_dir.mkdir(parents=True)
    if start == "shipped":
        for name in ("levels.pt", "levels.json"):
            if (APP_DIR / "model" / name).is_file():
                shutil.copyfile(APP_DIR / "model" / name, model_dir / name)
    random.seed(seed)  # MONAI Label's random strategy draws from Python's generator
    app = build_app(studies, model_dir, args.samples)
    request = {
        **ROUND_REQUEST,
        "max_epochs": args.epochs,
        "max_steps": args.max_steps,
        "early_stop_patience": args.patience,
        "val_split": args.val_split,
        **round_augmentation(args.style),
    }
    test = start_test = baseline or score_test(app)
    points, rounds = [(0, test["mean_body_dice"])], []
    corrected = 0
    for number in range(1, args.rounds + 1):
        record = run_round(app, strategy, args.per_round, cohort["truth"], request)
        corrected += len(record["picked"])
        started = time.perf_counter()
        test = score_test(app)
        record.update(
            round=number,
            corrected=corrected,
            test=test,
            test_seconds=round(time.perf_counter() - started, 2),
            round_seconds=round(record["scoring_seconds"] + record["training_seconds"], 2),
        )
        logger.info(
            "%s/%s seed %d round %d: %d corrected, Dice %s, %.0f s",
            start,
            strategy,
            seed,
            number,
            corrected,
            test["mean_body_dice"],
            record["round_seconds"],
        )
        points.append((corrected, test["mean_body_dice"]))
        rounds.append(record)
    return {
        "seed": seed,
        "start": start,
        "strategy": strategy,
        "start_test": start_test,
        "curve": points,
        "rounds": rounds,
    }


def summarise(runs: list[dict]) -> dict:
    """Per arm (strategy x start): the aggregated curve, films to reach each threshold, seconds per round."""
    arms: dict[str, dict] = {}
    for run in runs:
        arms.setdefault(f"{run['strategy']} / {run['start']}", []).append(run)
    summary = {}
    for name, group in arms.items():
        curves = [run["curve"] for run in group]
        seconds = [r["round_seconds"] for run in group for r in run["rounds"]]
        per_film = [
            r["scoring"]["seconds_per_film"]
            for run in group
            for r in run["rounds"]
            if r.get("scoring", {}).get("seconds_per_film") is not None
        ]
        summary[name] = {
            "curve": aggregate_curves(curves),
            "films_needed": {f"{t:.2f}": films_needed(curves, t) for t in THRESHOLDS},
            "seconds_per_round_mean": round(sum(seconds) / len(seconds), 1) if seconds else None,
            "scoring_seconds_per_film_mean": round(sum(per_film) / len(per_film), 4) if per_film else None,
        }
    return summary


def _needed_line(name: str, arm: dict) -> str:
    parts = []
    for threshold, needed in arm["films_needed"].items():
        if needed["median"] is None:
            parts.append(f"Dice {threshold}: not reached")
            continue
        text = f"Dice {threshold}: {needed['median']:g} films (range {needed['min']}-{needed['max']})"
        if needed["not_reached"]:
            text += f", {needed['not_reached']} run(s) never"
        parts.append(text)
    return f"{name}: " + "; ".join(parts)


def write_outputs(out: Path, args, runs: list[dict], seconds: float, complete: bool) -> dict:
    """The figure and the JSON of the runs so far (written after every arm, so a stopped campaign keeps them)."""
    summary = summarise(runs)
    figure = out / "active_learning.png"
    plot_learning_curves(
        {name: arm["curve"] for name, arm in summary.items()},
        figure,
        f"Active learning at the '{CENTRE}' centre ({args.style} phantom): pool {args.pool_patients}, "
        f"test {args.test_patients}, {len(args.seeds)} seed(s)",
        THRESHOLDS,
    )
    options = (
        "pool_patients",
        "test_patients",
        "rounds",
        "per_round",
        "seeds",
        "starts",
        "strategies",
        "epochs",
        "max_steps",
        "patience",
        "val_split",
        "samples",
        "style",
    )
    result = {
        "centre": CENTRE,
        "style": args.style,
        "complete": complete,
        "options": {k: getattr(args, k) for k in options},
        "round_request": {**ROUND_REQUEST, **round_augmentation(args.style)},
        "summary": summary,
        "runs": runs,
        "figure": str(figure),
        "json": str(out / "active_learning.json"),
        "seconds": round(seconds, 1),
    }
    (out / "active_learning.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def run_active_learning_benchmark(args) -> dict:
    import torch

    check_options(args)
    torch.set_num_threads(2)
    out = Path(args.out)
    work = out / "campaign"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.perf_counter()
    runs = []
    with in_process_app_settings():
        check_strategies(args.strategies, work)
        for seed in args.seeds:
            cohort = make_campaign_cohort(
                work / f"seed{seed}", args.pool_patients, args.test_patients, seed, args.style
            )
            for start in args.starts:
                baseline = None  # the start's test score, the same for every strategy
                for strategy in args.strategies:
                    folder = work / f"seed{seed}" / f"{start}_{strategy}"
                    run = run_arm(cohort, start, strategy, seed, args, folder, baseline)
                    baseline = baseline or run["start_test"]
                    runs.append(run)
                    write_outputs(out, args, runs, time.perf_counter() - started, complete=False)
        from monailabel.interfaces.utils.app import clear_cache

        clear_cache()
    result = write_outputs(out, args, runs, time.perf_counter() - started, complete=True)
    for name, arm in result["summary"].items():
        print(_needed_line(name, arm))
    return {k: result[k] for k in ("centre", "options", "summary", "figure", "json", "seconds")}
