"""The head end of a film: C1 in its place around the dens, the skull base above it, the mandible in front."""

import numpy as np

from lib.phantom.film.head import (
    c1_bones,
    mandible_film_outline,
    occiput_curve,
    skull_base_outline,
    teeth_outlines,
    vault_outline,
)
from lib.phantom.film.shapes import dens_film_outline
from lib.phantom.film.spec import sample_film_patient
from lib.phantom.raster import fill_polygon


def _c2(film_config, index=0):
    return sample_film_patient(film_config, index).spine.bodies["C2"]


def _along(c2, pts):
    """(mm in front of C2's posterior wall, mm above its mid-height) of points."""
    rel = np.asarray(pts) - c2.posterior_mid
    return rel @ c2.u, rel @ c2.v


def test_c1_anterior_arch_sits_in_front_of_the_dens_and_its_posterior_arch_behind_the_canal(film_config):
    c2 = _c2(film_config)
    (anterior, posterior), (lateral,) = c1_bones(c2)
    dens_front, dens_up = _along(c2, dens_film_outline(c2))
    arch_front, arch_up = _along(c2, anterior.outline_mm)
    assert arch_front.min() > dens_front.max()  # a gap: the atlanto-dental interval
    assert arch_front.min() - dens_front.max() < 4.0
    assert dens_up.min() < arch_up.mean() < dens_up.max()
    back, up = _along(c2, posterior.outline_mm)
    assert back.max() < -0.5 * c2.canal_mm and up.min() > 0.5 * c2.height_mm  # a bar behind the canal, above C2
    assert lateral.thickness_mm >= 10.0


def test_the_skull_base_lies_above_c1_and_the_vault_shares_the_occiputs_edge(film_config):
    c2 = _c2(film_config, 1)
    rng = np.random.default_rng(0)
    _, up = _along(c2, skull_base_outline(c2, rng))
    assert up.min() > 0.5 * c2.height_mm + 12.0
    curve = occiput_curve(c2, rng)
    back, up = _along(c2, curve)
    assert back[-1] < back[0] - 30.0 and up[-1] > up[0] + 30.0  # back from the foramen magnum, then up
    vault = vault_outline(c2, curve)
    assert np.min(np.linalg.norm(vault - curve[len(curve) // 2], axis=1)) < 3.0


def test_the_mandible_lies_in_front_of_c2_and_the_teeth_along_its_crest(film_config):
    c2 = _c2(film_config, 2)
    front, _ = _along(c2, mandible_film_outline(c2, 12.0))
    depth = np.linalg.norm(c2.corners["anterior_inferior"] - c2.corners["posterior_inferior"])
    assert front.min() > depth  # the ramus, even leaning back, stays in front of the bodies
    crowns = teeth_outlines(c2, 12.0, np.random.default_rng(1))
    assert len(crowns) == 14
    lows = crowns[::2]  # the lower row, back to front
    origin = np.min(np.concatenate(lows), axis=0) - 2.0
    masks = [fill_polygon(10.0 * (crown - origin), (1200, 1200)) for crown in lows]  # 0.1 mm pixels
    assert all(m.any() for m in masks)
    assert int(np.sum(masks, axis=0).max()) == 1  # side by side along the crest, never on top of each other
    assert _along(c2, lows[-1])[0].mean() > _along(c2, lows[0])[0].mean() + 30.0
