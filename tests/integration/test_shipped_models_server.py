"""The shipped weights (``model/``) in a real server, asked through MONAI Label's client as Slicer asks: on a phantom
film with a reference-positive and reference-negative segments, the probabilities and calls, the Grad-CAM heatmap,
the finding values in the label map and their names, the model versions, and the same answer twice; and a chest
film refused ("no cervical spine"), with no masks.

The film is the held-out (``test_internal``) patient of a small seeded cohort; with the shipped weights its
positive segment is called with a probability well above the card's threshold and its negatives well below.
Retrained weights that miss these calls fail here, on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import nrrd
import numpy as np
import pydicom
import pytest
from monailabel.client import MONAILabelClient
from PIL import Image
from scipy import ndimage

from apps.cli.phantom import make_cohort
from apps.ops.server_process import LiveServer
from apps.paths import APP_DIR
from lib.anatomy.levels import principal_axis
from lib.anatomy.names import FINDING_LABELS, LEVEL_LABELS, SEGMENTS, VERTEBRAE
from lib.evaluation.shifts import rotated, tight_crop
from lib.io.reader import read_radiograph
from lib.results.heatmap import heatmap_from_json
from lib.results.pipeline import PIPELINE_LABELS
from tests.dicom_factory import pydicom_data_file

SEED, PATIENTS = 11, 8  # 8 patients: 6 train, 1 validation, 1 test_internal
FILM_SPLIT = "test_internal"
SLICER_PARAMS = {"result_extension": ".nrrd", "result_dtype": "uint8"}  # what Slicer's module sends with infer
NEAR_MM = 3.0  # "at the disc": within this distance of the positive segment's painted region
CARDS = {
    name: json.loads((APP_DIR / "model" / f"{name}.json").read_text())
    for name in ("levels", "compression", "landmarks")
}


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("shipped") / "studies", patients=PATIENTS, seed=SEED, workers=1)


@pytest.fixture(scope="module")
def server(studies):
    with LiveServer(studies) as live:  # no --conf: the app's model/ folder, as a user's server serves it
        yield live


@pytest.fixture(scope="module")
def client(server):
    return MONAILabelClient(server.url)


@pytest.fixture(scope="module")
def film(client):
    """The film and its reference: ``{"id", "positive" (highest Kang grade, cranial first), "negative" (lowest Kang
    grade, cranial first), "negatives" (every reference-negative segment)}``, read from the datastore's image infos."""
    objects = client.datastore()["objects"]
    infos = {image_id: obj["image"]["info"] for image_id, obj in objects.items()}
    held_out = sorted(i for i, info in infos.items() if info.get("split") == FILM_SPLIT)
    assert len(held_out) == 1, f"expected one {FILM_SPLIT} film, got {held_out}"
    image_id = held_out[0]
    reference = infos[image_id]["segments"]
    positives = [s for s in SEGMENTS if reference[s]["compression"] == 1 and reference[s]["evaluable"]]
    negatives = [s for s in SEGMENTS if reference[s]["compression"] == 0]
    readable_negatives = [s for s in negatives if reference[s]["evaluable"]]
    assert positives and readable_negatives, f"{image_id}: needs a positive and a negative segment: {reference}"
    return {
        "id": image_id,
        "positive": max(positives, key=lambda s: (reference[s]["kang"], -SEGMENTS.index(s))),
        "negative": min(readable_negatives, key=lambda s: (reference[s]["kang"], SEGMENTS.index(s))),
        "negatives": negatives,
    }


def _infer(client, image_id):
    label_file, result = client.infer(model="pipeline", image_id=image_id, params=dict(SLICER_PARAMS))
    return label_file, json.loads(result) if isinstance(result, str) else result


@pytest.fixture(scope="module")
def answer(client, film):
    label_file, result = _infer(client, film["id"])
    volume, header = nrrd.read(label_file)
    return {"result": result, "volume": volume, "header": header}


def test_spine_levels_and_model_versions(answer):
    result = answer["result"]
    assert result["cervical_spine_found"] is True and result["compression_called"] is True
    assert set(VERTEBRAE[:5]) <= set(result["levels"]["found"])  # C2..C6
    assert result["model_versions"] == {name: card["version"] for name, card in CARDS.items()}


def test_every_evaluable_segment_has_a_probability_and_a_call_at_the_cards_threshold(answer):
    result = answer["result"]
    threshold = CARDS["compression"]["threshold"]
    assert result["threshold"] == pytest.approx(threshold, abs=1e-9)
    found = set(result["levels"]["found"])
    segments = result["segments"]
    assert set(segments) == set(SEGMENTS)
    for segment in SEGMENTS:
        upper, lower = segment.split("/")
        assert segments[segment]["evaluable"] == ({upper, "C" + lower} <= found), segment
    evaluable = [s for s in SEGMENTS if segments[s]["evaluable"]]
    assert evaluable == result["summary"]["evaluable_segments"] and len(evaluable) >= 4
    for segment in evaluable:
        entry = segments[segment]
        assert 0.0 <= entry["probability"] <= 1.0, (segment, entry)
        assert entry["threshold"] == result["threshold"]
        compressed = entry["probability"] >= threshold
        assert entry["positive"] is compressed, (segment, entry)
        assert entry["decision"] == ("compressed" if compressed else "not compressed"), (segment, entry)


def test_reference_positive_is_called_compressed_and_negatives_are_not(answer, film):
    segments, threshold = answer["result"]["segments"], CARDS["compression"]["threshold"]
    positive, negative = segments[film["positive"]], segments[film["negative"]]
    assert positive["evaluable"] and positive["probability"] > threshold and positive["decision"] == "compressed"
    assert negative["evaluable"] and negative["probability"] < threshold and negative["decision"] == "not compressed"
    called = [s for s in film["negatives"] if segments[s]["positive"] is True]
    assert called == [], f"reference-negative segments called compressed: {called}"
    summary = answer["result"]["summary"]
    assert summary["positive"] is True and film["positive"] in summary["positive_segments"]


def _finding_region(answer, segment) -> np.ndarray:
    """[rows, cols] mask of the segment's finding value in the returned label map."""
    return answer["volume"][:, :, 0].T == FINDING_LABELS[f"{segment} compression"]


def _mm_from(region: np.ndarray, spacing_mm) -> np.ndarray:
    return ndimage.distance_transform_edt(~region, sampling=tuple(spacing_mm))


def test_label_map_has_the_films_geometry_and_only_the_called_findings(answer, film):
    result, volume, header = answer["result"], answer["volume"], answer["header"]
    rows, cols = result["radiograph"]["shape"]
    assert volume.shape == (cols, rows, 1)  # W x H x 1, as Slicer holds a 2D image
    # On the grid Slicer reads the DICOM on: ImagerPixelSpacing, i.e. the measurement spacing times the magnification.
    viewer, magnification = result["radiograph"]["viewer_geometry"], result["radiograph"]["magnification"]
    row_mm, col_mm = result["radiograph"]["spacing_mm"]
    directions = np.asarray(header["space directions"], float)
    assert np.allclose(directions, (np.asarray(viewer["direction"]) @ np.diag(viewer["spacing"])).T)
    assert np.allclose(header["space origin"], viewer["origin"])
    assert np.allclose(np.diag(directions)[:2], [col_mm * magnification, row_mm * magnification], rtol=1e-3)
    present = set(np.unique(volume).tolist())
    assert present <= set(range(13)), present
    assert FINDING_LABELS[f"{film['positive']} compression"] in present
    negative_values = {FINDING_LABELS[f"{s} compression"] for s in film["negatives"]}
    assert not present & negative_values, present & negative_values
    assert result["label_names"] == {name: v for name, v in PIPELINE_LABELS.items() if v in present - {0}}
    assert set(result["label_names"].values()) == present - {0}


def test_heatmap_is_on_the_film_and_peaks_at_the_positive_disc(answer, film):
    result = answer["result"]
    heat = heatmap_from_json(result["heatmap"])
    assert heat is not None, "no heatmap in the answer"
    assert heat.shape == tuple(result["radiograph"]["shape"])
    assert heat.max() > 0.5
    hot = float(np.mean(heat > 0))
    assert 0.0 < hot < 0.5, hot  # inside the segment crops only
    spacing = result["radiograph"]["spacing_mm"]
    from_disc = _mm_from(_finding_region(answer, film["positive"]), spacing)
    # Each crop's Grad-CAM is scaled to its own maximum, so every crop reaches about 1 and the film's single hottest
    # pixel says nothing about which segment it belongs to. What must hold: the positive segment's own peak (the
    # JSON's) is at its disc, and the decoded heatmap around it reaches that crop's maximum (1, up to one 8-bit grey
    # level lost to bilinear sampling onto the film's pixels).
    x, y = result["segments"][film["positive"]]["heatmap_peak"]
    row, col = int(round(y)), int(round(x))
    assert from_disc[row, col] <= NEAR_MM, from_disc[row, col]
    assert heat[max(row - 3, 0) : row + 4, max(col - 3, 0) : col + 4].max() >= heat.max() - 1.5 / 255


def test_the_same_request_gives_the_same_answer(client, film, answer):
    _, again = _infer(client, film["id"])
    first = {s: (e["probability"], e["decision"]) for s, e in answer["result"]["segments"].items()}
    second = {s: (e["probability"], e["decision"]) for s, e in again["segments"].items()}
    assert second == first
    assert again["label_names"] == answer["result"]["label_names"]


def _column_lean_deg(labels: np.ndarray) -> float:
    """Signed lean from vertical of the C2-C7 bodies' principal axis (positive: down towards higher columns), the
    measure ``lib.models.second_look`` turns by, on the label map's pixels rather than the network's logits."""
    points = np.argwhere((labels >= LEVEL_LABELS["C2"]) & (labels <= LEVEL_LABELS["C7"]))[:, ::-1]  # [x, y]
    d_x, d_y = principal_axis(points)
    return float(np.degrees(np.arctan2(d_x, d_y)))


def _levels_of(client, tmp_path, name: str, pixels: np.ndarray) -> tuple[dict, np.ndarray]:
    """(the levels task's JSON, its label map as rows x cols) for ``pixels`` uploaded as an 8-bit PNG."""
    png = tmp_path / f"{name}.png"
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(png)
    client.upload_image(str(png), image_id=name)
    label_file, params = client.infer("levels", name, dict(SLICER_PARAMS))
    params = json.loads(params) if isinstance(params, str) else params
    labels = nrrd.read(label_file)[0][..., 0].T  # (W, H, 1) on disk -> rows, cols
    assert labels.shape == pixels.shape
    return params, labels


def _on_their_bodies(labels: np.ndarray, truth: np.ndarray, names) -> None:
    for name in names:  # each body where the truth puts it, on the film as it was sent
        overlap = ((labels == LEVEL_LABELS[name]) & (truth == LEVEL_LABELS[name])).sum()
        assert overlap >= 0.5 * (truth == LEVEL_LABELS[name]).sum(), name


@pytest.mark.parametrize("lean", [30.0, -30.0])
def test_a_film_leaning_30_degrees_is_read_upright_and_keeps_its_levels(client, studies, film, answer, tmp_path, lean):
    # A department's crooked film: the levels network reads a column leaning 15 degrees or more a second time,
    # turned upright (lib/models/second_look.py), and the answer comes back on the film's own pixels. The film is
    # turned so its column leans ``lean`` in all, whatever its own posture (the refusal rule stops at 45 degrees).
    image = read_radiograph(str(next(Path(studies).glob(f"{film['id']}.*"))))
    upright = answer["volume"][..., 0].T  # (W, H, 1) on disk -> rows, cols
    pixels, moved, _ = rotated(image.pixels, upright, image.spacing_mm, lean - _column_lean_deg(upright))
    assert _column_lean_deg(moved) == pytest.approx(lean, abs=2.0)
    params, labels = _levels_of(client, tmp_path, f"leaning_{abs(lean):.0f}_{'right' if lean > 0 else 'left'}", pixels)
    assert abs(params["levels"]["read_upright_deg"]) >= 15.0, params["levels"]
    assert params["cervical_spine_found"] is True, params["reason"]
    assert set(VERTEBRAE[:4]) <= set(params["levels"]["found"]), params["levels"]  # C2..C5
    _on_their_bodies(labels, moved, VERTEBRAE[:4])


def test_a_tight_c2_c6_crop_is_read_zoomed_out_and_keeps_its_levels(client, studies, film, answer, tmp_path):
    # A collimated or cropped film: its bodies fill more of the network's input than on any film it was trained
    # on, so it reads them a second time zoomed out to their usual size (lib/models/second_look.py).
    image = read_radiograph(str(next(Path(studies).glob(f"{film['id']}.*"))))
    pixels, cropped, _ = tight_crop(image.pixels, answer["volume"][..., 0].T, image.spacing_mm)
    params, labels = _levels_of(client, tmp_path, "tight_crop", pixels)
    assert params["levels"]["read_zoomed_out"] > 1.0, params["levels"]
    assert params["cervical_spine_found"] is True, params["reason"]
    assert params["levels"]["c2_in_view"] is True and set(VERTEBRAE[:5]) <= set(params["levels"]["found"])  # C2..C6
    _on_their_bodies(labels, cropped, VERTEBRAE[:5])


def test_a_film_with_bone_dark_is_read_turned_over_with_the_same_findings(client, studies, film, answer, tmp_path):
    # A MONOCHROME1 film whose photometric tag was lost on export reaches the app bone dark: the levels network
    # reads it both ways up and keeps the way its bodies stand out brighter (lib/models/polarity.py), and every
    # model after it sees the film turned back, so the findings are the film's own (up to the PNG's 8 bits).
    image = read_radiograph(str(next(Path(studies).glob(f"{film['id']}.*"))))
    png = tmp_path / "bone_dark.png"
    Image.fromarray(np.round((1.0 - image.pixels) * 255).astype(np.uint8)).save(png)
    client.upload_image(str(png), image_id="bone_dark")
    label_file, result = _infer(client, "bone_dark")
    assert answer["result"]["levels"]["read_inverted"] is False
    assert result["levels"]["read_inverted"] is True, result["levels"]
    assert any("grey scale inverted" in w for w in result["warnings"]), result["warnings"]
    assert result["levels"]["found"] == answer["result"]["levels"]["found"]
    for segment, entry in answer["result"]["segments"].items():
        again = result["segments"][segment]
        assert again["decision"] == entry["decision"], segment
        if entry["probability"] is not None:
            assert again["probability"] == pytest.approx(entry["probability"], abs=0.05), segment
    labels = nrrd.read(label_file)[0][..., 0]
    _on_their_bodies(labels.T, answer["volume"][..., 0].T, VERTEBRAE[:5])


def test_a_chest_film_gets_no_confident_masks(client):
    # The shipped weights, not weights trained in a test: an honest refusal is what users get from model/.
    client.upload_image(str(pydicom_data_file("RG1_UNCR.dcm")), image_id="chest")
    _, params = client.infer("levels", "chest", {})
    params = json.loads(params) if isinstance(params, str) else params
    assert params["cervical_spine_found"] is False and params["reason"].startswith("no cervical")
    assert params["label_names"] == {}


@pytest.mark.parametrize("source", ["MR2_UNCR.dcm", "CT_small.dcm", "US1_UNCR.dcm"])
def test_a_slice_of_another_modality_saved_as_png_is_refused_with_the_reason(client, tmp_path, source):
    # What an archive sweep meets: an MRI, CT or ultrasound frame exported as a PNG, with no DICOM tags left to say so.
    dataset = pydicom.dcmread(pydicom_data_file(source))
    frame = dataset.pixel_array.astype(np.float64)
    frame = frame[0] if frame.ndim == 3 and frame.shape[-1] != 3 else frame
    frame = frame.mean(axis=-1) if frame.ndim == 3 else frame
    frame = (frame - frame.min()) / max(np.ptp(frame), 1e-6) * 255
    png = tmp_path / f"{source.split('.')[0].lower()}.png"
    Image.fromarray(frame.astype(np.uint8)).save(png)
    image_id = png.stem
    client.upload_image(str(png), image_id=image_id)
    _, params = client.infer("levels", image_id, {})
    params = json.loads(params) if isinstance(params, str) else params
    assert params["cervical_spine_found"] is False, f"{source} as PNG was taken for a cervical spine"
    assert params["reason"].startswith("no cervical") and params["label_names"] == {}
