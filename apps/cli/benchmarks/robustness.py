"""``python main.py benchmark robustness --studies DIR``: the pipeline on a datastore's test films under each shift a
real department produces (``lib.evaluation.shifts``), scored against the truth shifted the same way.

The pipeline is the server's (``predict.build_pipeline``, the same task ``benchmark pipeline`` and ``realfilms``
run), handed each film in memory after the shift (``PipelineInfer.run_radiograph``): the file is read once with
the app's reader, then mirrored, rotated, resampled, re-exposed or cropped, and its level truth with it.
Writes ``robustness.json`` and ``robustness.png`` (the table) into ``--out`` and prints the table.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from apps.cli.predict import build_pipeline
from apps.datastores.local import RadiographDatastore
from apps.paths import APP_DIR
from lib.core.atomic import replace_atomic, write_json_atomic
from lib.core.errors import AppError, BadParameterError
from lib.evaluation.robustness import film_record, level_dice, markdown_table, summarise, table_png
from lib.evaluation.shifts import SHIFTS, shift_named
from lib.io.labels import read_label_map
from lib.io.radiograph import SPACING_UNKNOWN, Radiograph
from lib.io.reader import read_radiograph
from lib.models.crops import segment_targets

logger = logging.getLogger(__name__)
REPORT, FIGURE = "robustness.json", "robustness.png"
DEFAULT_OUT = APP_DIR / "runs" / "robustness"
DEFAULT_SPLIT = "test_internal"


def test_films(store: RadiographDatastore, split: str, limit) -> list:
    """Ids of the split's films with a final level label, sorted; at most ``limit``."""
    labelled = set(store.get_labeled_images("final"))
    ids = [i for i in sorted(store.list_images()) if store.get_image_info(i).get("split") == split and i in labelled]
    return ids[:limit] if limit else ids


def shifted_radiograph(image: Radiograph, pixels, spacing) -> Radiograph:
    """The film after a shift, as the reader would have given it (its spacing moved with the pixels)."""
    return Radiograph(
        pixels=pixels,
        spacing_mm=spacing,
        spacing_source=image.spacing_source if spacing is not None else SPACING_UNKNOWN,
        path=image.path,
        file_format=image.file_format,
        magnification=image.magnification,
    )


def run_robustness(pipeline, store, ids: list, shifts: list, kang_threshold: int = 2) -> dict:
    """``{"per_shift": {shift: figures}, "per_film": {shift: {image_id: record}}}`` for ``ids`` under ``shifts``."""
    per_film = {name: {} for name in shifts}
    for image_id in ids:
        image = read_radiograph(store.get_image_uri(image_id), max_pixels=pipeline.max_pixels)
        truth = read_label_map(store.get_label_uri(image_id, "final")).astype("uint8")
        targets = segment_targets(store.get_image_info(image_id), kang_threshold, require_evaluable=False)
        for name in shifts:
            pixels, moved, spacing = shift_named(name).apply(image.pixels, truth, image.spacing_mm)
            try:
                data = pipeline.run_radiograph(shifted_radiograph(image, pixels, spacing))
                result, predicted, error = data["result"], data["pred"], ""
            except AppError as exc:
                logger.warning("%s under %s: %s", image_id, name, exc)
                result, predicted, error = None, None, str(exc)
            record = film_record(result, predicted, moved, targets, error=error)
            if predicted is not None and predicted.shape == truth.shape:
                # Against the truth left where it was: shows that the shift moved the answer and the truth alike.
                record["level_dice_unshifted_truth"] = level_dice(predicted, truth)
            per_film[name][image_id] = record
    return {"per_shift": {n: summarise(list(per_film[n].values())) for n in shifts}, "per_film": per_film}


def _shift_list(text) -> list:
    if not text:
        return list(SHIFTS)
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    for name in names:
        shift_named(name)  # an unknown name is refused with the known ones listed
    return names


def run_robustness_benchmark(args) -> dict:
    if not getattr(args, "studies", None):
        raise BadParameterError("benchmark robustness needs --studies DIR (a datastore with final level labels)")
    studies = Path(args.studies)
    if not studies.is_dir():
        raise BadParameterError(f"--studies {studies} is not a folder")
    out = Path(getattr(args, "out", None) or DEFAULT_OUT)
    shifts = _shift_list(getattr(args, "shifts", None))
    import torch

    torch.set_num_threads(2)
    split = getattr(args, "split", None) or DEFAULT_SPLIT
    conf = {"model_dir": str(args.model_dir)} if getattr(args, "model_dir", None) else {}
    pipeline, settings = build_pipeline(conf, APP_DIR)
    store = RadiographDatastore(
        str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False, read_only=True
    )
    ids = test_films(store, split, getattr(args, "limit", None))
    if not ids:
        raise BadParameterError(f"no film of split {split!r} with a final level label in {studies}")
    started = time.perf_counter()
    measured = run_robustness(pipeline, store, ids, shifts, settings.kang_threshold)
    descriptions = {name: SHIFTS[name].description for name in shifts}
    report = {
        "studies": str(studies),
        "split": split,
        "films": len(ids),
        "model_versions": _versions(pipeline),
        "shifts": descriptions,
        "seconds": round(time.perf_counter() - started, 1),
        **measured,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(report, out / REPORT)
    title = f"robustness: {len(ids)} films of {studies.name}/{split}"
    picture = table_png(measured["per_shift"], descriptions, title)
    replace_atomic(out / FIGURE, lambda f: f.write(picture))
    print(markdown_table(measured["per_shift"], descriptions))
    print(f"\n{out / REPORT}, {out / FIGURE}")
    return {k: v for k, v in report.items() if k != "per_film"}


def _versions(pipeline) -> dict:
    pools = {"levels": pipeline.levels.pool, "compression": pipeline.compression, "landmarks": pipeline.landmarks}
    return {name: str(pool.card().get("version", "untrained")) for name, pool in pools.items() if pool is not None}
