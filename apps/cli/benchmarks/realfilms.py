"""``python main.py benchmark realfilms --folder DIR``: the pipeline on every film of a folder, as a contact sheet.

Each film (DICOM, PNG, JPEG, ...) goes through the same in-process pipeline as ``predict``; its overlay becomes one
tile of ``realfilms_sheet.png``, captioned with the file name and the outcome (levels found, or why the film was
refused), and ``realfilms.json`` records per film the levels found, whether C2 anchors them, the segment calls and
the refusal reason. Films carry no labels: this measures robustness (does the pipeline find a spine at all), not
accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from apps.cli.predict import build_pipeline, radiograph_files
from apps.paths import APP_DIR
from lib.anatomy.names import SEGMENTS
from lib.core.atomic import replace_atomic, write_json_atomic
from lib.core.errors import AppError, BadParameterError
from lib.results.contact_sheet import contact_sheet, film_outcome, outcome_caption
from lib.results.overlay import render_overlay, segment_texts
from lib.results.pipeline import segment_anchor_xy

SHEET = "realfilms_sheet.png"
REPORT = "realfilms.json"


def _overlay(data: dict) -> Image.Image:
    result = data["result"]
    anchors = {s: segment_anchor_xy(data["landmarks"], s) for s in SEGMENTS} if data["landmarks"] else {}
    texts = segment_texts(result, {s: a for s, a in anchors.items() if a})
    return render_overlay(data["pixels"], data["pred"], data["heatmap"], texts, max_side_px=720)


def run_films(pipeline, folder: Path, out: Path, columns: int = 4) -> dict:
    """Run ``pipeline`` on every radiograph in ``folder``; write the sheet and the JSON into ``out``."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise BadParameterError(f"--folder {folder} is not a folder")
    files = radiograph_files([folder])
    if not files:
        raise BadParameterError(f"no radiograph files (DICOM, PNG, JPEG, ...) in {folder}")
    out.mkdir(parents=True, exist_ok=True)
    tiles, films = [], {}
    for path in files:
        try:
            data = pipeline.run({"image": str(path)})
            outcome, picture = film_outcome(data["result"]), _overlay(data)
        except AppError as exc:
            outcome = film_outcome(None, str(exc))
            picture = Image.fromarray(np.full((64, 64), 90, dtype=np.uint8))
        films[path.name] = outcome
        tiles.append((picture, outcome_caption(path.name, outcome)))
    sheet = contact_sheet(tiles, columns=columns)
    sheet_path = out / SHEET
    replace_atomic(sheet_path, lambda f: sheet.save(f, format="PNG"))
    report = {
        "folder": str(folder),
        "films": len(films),
        "cervical_spine_found": sum(f["cervical_spine_found"] for f in films.values()),
        "c2_anchored": sum(f["c2_anchored"] for f in films.values()),
        "sheet": str(sheet_path),
        "per_film": films,
    }
    write_json_atomic(report, out / REPORT)
    return report


def run_realfilms_benchmark(args) -> dict:
    if not getattr(args, "folder", None):
        raise BadParameterError("benchmark realfilms needs --folder DIR (the films to run the pipeline on)")
    conf = {"model_dir": str(args.model_dir)} if getattr(args, "model_dir", None) else {}
    pipeline, _ = build_pipeline(conf, APP_DIR)
    return run_films(pipeline, Path(args.folder), Path(args.out))
