"""The overlay PNG: size, heatmap and positive-segment colours, outlines and text actually drawn."""

import numpy as np
import pytest
from PIL import Image

from lib.core.errors import BadInputError
from lib.results.overlay import render_overlay, segment_texts, write_overlay


def _scene():
    pixels = np.full((300, 200), 0.3, dtype=np.float32)
    label = np.zeros((300, 200), dtype=np.uint8)
    label[40:90, 40:120] = 1
    label[110:160, 40:120] = 2
    label[92:108, 40:150] = 8  # C2/3 compression
    heat = np.zeros((300, 200), dtype=np.float32)
    heat[200:260, 120:180] = 1.0
    return pixels, label, heat


def test_overlay_png_has_the_radiograph_size_and_is_not_blank(tmp_path):
    pixels, label, heat = _scene()
    path = write_overlay(tmp_path / "o.png", pixels, label, heat, [("C2/3 0.91", [100, 20], True)], title="x")
    with Image.open(path) as picture:
        assert picture.size == (200, 300) and picture.mode == "RGB"
        rgb = np.asarray(picture).astype(int)
    grey = rgb[270:290, 10:30]
    assert (grey == round(0.3 * 255)).all()  # untouched radiograph stays grey
    hot = rgb[220:240, 140:160].mean(axis=(0, 1))
    assert hot[0] > 150 and hot[0] > hot[2] + 100  # heatmap is warm
    positive = rgb[95:105, 60:100].mean(axis=(0, 1))
    assert positive[0] > positive[1] + 40  # positive segment tinted red
    assert (rgb[40, 60:100] == [230, 25, 75]).all() and (rgb[60, 60:100] == 76).all()  # C2 outline, inside grey
    assert rgb.std() > 10


def test_text_is_drawn_and_large_images_are_shrunk():
    pixels, label, heat = _scene()
    plain = np.asarray(render_overlay(pixels, label, heat)).astype(int)
    texted = np.asarray(render_overlay(pixels, label, heat, [("C2/3 0.91", [100, 20], True)])).astype(int)
    assert np.abs(plain - texted)[5:35].sum() > 0 and np.abs(plain - texted)[60:].sum() == 0
    small = render_overlay(pixels, label, heat, max_side_px=150)
    assert small.size == (100, 150)


def test_segment_texts_show_probability_or_na():
    result = {
        "segments": {"C2/3": {"probability": 0.912, "positive": True}, "C6/7": {"probability": None, "positive": None}}
    }
    texts = segment_texts(result, {"C2/3": [1, 2], "C6/7": [3, 4]})
    assert texts == [("C2/3 0.91", [1, 2], True), ("C6/7 n/a", [3, 4], False)]


def test_mismatched_label_is_refused():
    with pytest.raises(BadInputError, match="same shape"):
        render_overlay(np.zeros((10, 10)), np.zeros((10, 11), dtype=np.uint8))
