"""Body outlines: curved endplates, rounded corners and a lip, around the landmark corners."""

import numpy as np

from lib.phantom.anatomy import Body
from lib.phantom.film.shapes import CORNER_RADIUS_MM, body_outline, chaikin, ellipse_outline


def _box_body():
    corners = {
        "posterior_inferior": np.array([0.0, 0.0]),
        "anterior_inferior": np.array([16.0, 0.0]),
        "posterior_superior": np.array([0.0, 14.0]),
        "anterior_superior": np.array([16.0, 14.0]),
    }
    return Body(corners, np.array([1.0, 0.0]), np.array([0.0, 1.0]), 15.0, 18.0)


def _height_at(outline, x, upper: bool):
    near = outline[np.abs(outline[:, 0] - x) < 0.4]
    return near[:, 1].max() if upper else near[:, 1].min()


def test_endplates_are_concave_and_the_anterior_wall_set_back():
    outline = body_outline(_box_body(), "C4", lip_mm=1.0)
    assert _height_at(outline, 8.0, upper=True) < 14.0 - 0.3  # superior endplate sags in its middle
    assert _height_at(outline, 8.0, upper=False) > 0.3  # inferior endplate rises in its middle
    mid = outline[np.abs(outline[:, 1] - 7.0) < 0.5]
    assert mid[:, 0].max() < 16.0 - 0.1


def test_the_outline_stays_close_to_every_corner_and_has_a_lip_below_the_anterior_inferior_one():
    body = _box_body()
    outline = body_outline(body, "C5", lip_mm=1.2)
    for name, corner in body.corners.items():
        gap = np.min(np.linalg.norm(outline - corner, axis=1))
        assert gap < CORNER_RADIUS_MM, name
    assert outline[:, 1].min() < -0.8  # the lip hangs below the inferior endplate at the front
    assert outline[np.argmin(outline[:, 1]), 0] > 12.0


def test_chaikin_keeps_a_convex_polygon_inside_itself():
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    cut = chaikin(square, rounds=2)
    assert len(cut) == 16
    assert cut.min() >= 0.0 and cut.max() <= 10.0
    assert np.max(np.linalg.norm(cut - [0.0, 0.0], axis=1).min()) > 1.0  # the corner itself is cut off


def test_ellipse_outline_lies_on_its_ellipse():
    pts = ellipse_outline(np.array([5.0, -2.0]), (8.0, 3.0), 0.0)
    assert np.allclose(((pts[:, 0] - 5.0) / 8.0) ** 2 + ((pts[:, 1] + 2.0) / 3.0) ** 2, 1.0)
