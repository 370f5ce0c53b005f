"""Per-segment pathology: what narrows the canal at each disc level, and the MRI grade it produces.

A segment's liability mixes a patient factor (age / degeneration, shared by the patient's segments) with a
segment factor; its target prevalence sets the liability threshold. The liability decides how much the canal is
narrowed; that narrowing is split into causes a radiograph shows (osteophyte, OPLL, listhesis, disc height loss)
and causes it does not (disc bulge, ligamentum flavum buckling). The space available for the cord (SAC) and the
Kang grade follow from the drawn amounts, so labels stay consistent with the anatomy.
All lengths are true (unmagnified) mm.
"""

from __future__ import annotations

import math
from typing import Dict

import numpy as np
from scipy.special import ndtri

from lib.anatomy.names import SEGMENTS

# Cord AP diameter about 8.8 mm at C2, 8.7 at C4, 7.4 at C7 (clinical.md), interpolated to the disc levels.
CORD_DIAMETER_MM = {"C2/3": 8.7, "C3/4": 8.6, "C4/5": 8.4, "C5/6": 8.0, "C6/7": 7.6}
# CSF reserve (SAC - cord) at which Kang grade 1, 2 and 3 begin: below 2.5 mm most of the subarachnoid space is
# gone, below 1 mm the cord is deformed, below -1 mm the cord is squeezed enough to change signal.
KANG_RESERVE_MM = {1: 2.5, 2: 1.0, 3: -1.0}
RESERVE_PER_LIABILITY_SD_MM = 2.2
MIN_RESERVE_MM = -3.5  # even severe compression leaves the cord some 4-5 mm
MAX_LISTHESIS_MM = 4.0
MAX_OSTEOPHYTE_MM = 6.0
DISC_LOSS_NARROWING_PER_MM = 0.5  # a collapsing disc buckles the annulus and flavum into the canal


def kang_from_reserve(reserve_mm: float) -> int:
    """Kang grade 0-3 from the CSF reserve (SAC minus cord diameter, mm)."""
    return sum(reserve_mm < KANG_RESERVE_MM[g] for g in (1, 2, 3))


def _allocate_visible(rng: np.random.Generator, visible_mm: float, opll_prone: bool, max_disc_loss_mm: float) -> dict:
    """Split the visible part of the narrowing into drawn features (mm of each feature)."""
    alpha = np.array([2.0, 1.5 if opll_prone else 1e-3, 0.7, 1.2])
    share = rng.dirichlet(alpha) * visible_mm
    listhesis = min(share[2], MAX_LISTHESIS_MM)
    disc_loss = min(share[3] / DISC_LOSS_NARROWING_PER_MM, max_disc_loss_mm)
    leftover = (share[2] - listhesis) + (share[3] - disc_loss * DISC_LOSS_NARROWING_PER_MM)
    osteophyte = share[0] + leftover
    opll = share[1]
    if osteophyte > MAX_OSTEOPHYTE_MM:  # very large spurs read as ossified ligament instead
        opll, osteophyte = opll + osteophyte - MAX_OSTEOPHYTE_MM, MAX_OSTEOPHYTE_MM
    return {
        "osteophyte_mm": float(osteophyte),
        "opll_mm": float(opll),
        "listhesis_mm": float(listhesis),
        "disc_height_loss_mm": float(disc_loss),
    }


def sample_segments(
    rng: np.random.Generator,
    config,
    patient_z: float,
    canal_disc_mm: Dict[str, float],
    disc_height_mm: Dict[str, float],
    opll_prone: bool,
    cord_scale: float,
) -> Dict[str, dict]:
    """Pathology and labels of the five segments of one patient.

    Returns ``{segment: {"kang", "compression", "sac_mm", "reserve_mm", "cord_mm", "liability",
    "visible_features": {...}, "invisible_features": {...}}}``.
    """
    prevalence = config.segment_prevalence()
    rho = config.patient_correlation
    alpha_inv = 14.0 * config.invisible_share
    beta_inv = 14.0 * (1.0 - config.invisible_share)
    out = {}
    for segment in SEGMENTS:
        liability = math.sqrt(rho) * patient_z + math.sqrt(1.0 - rho) * rng.standard_normal()
        threshold = float(ndtri(1.0 - prevalence[segment]))
        target_reserve = KANG_RESERVE_MM[config.compression_min_kang] - RESERVE_PER_LIABILITY_SD_MM * (
            liability - threshold
        )
        target_reserve = max(target_reserve, MIN_RESERVE_MM)
        cord = CORD_DIAMETER_MM[segment] * cord_scale
        room = canal_disc_mm[segment] - cord
        narrowing = max(0.0, room - target_reserve)
        invisible_share = rng.beta(alpha_inv, beta_inv) if alpha_inv > 0 else 0.0
        invisible = narrowing * invisible_share
        split = rng.uniform(0.3, 0.8)
        visible = _allocate_visible(rng, narrowing - invisible, opll_prone, disc_height_mm[segment] - 1.5)
        # Recompute the narrowing from what was drawn so caps cannot make SAC disagree with the anatomy.
        drawn = (
            visible["osteophyte_mm"]
            + visible["opll_mm"]
            + visible["listhesis_mm"]
            + visible["disc_height_loss_mm"] * DISC_LOSS_NARROWING_PER_MM
            + invisible
        )
        sac = canal_disc_mm[segment] - drawn
        kang = kang_from_reserve(sac - cord)
        if rng.random() < config.label_noise:  # the MRI reader is one grade off now and then
            kang = int(np.clip(kang + rng.choice((-1, 1)), 0, 3))
        visible["canal_at_disc_mm"] = float(canal_disc_mm[segment])
        visible["visible_narrowing_mm"] = float(drawn - invisible)
        out[segment] = {
            "kang": int(kang),
            "compression": int(kang >= config.compression_min_kang),
            "sac_mm": float(sac),
            "reserve_mm": float(sac - cord),
            "cord_mm": float(cord),
            "liability": float(liability),
            "visible_features": visible,
            "invisible_features": {
                "disc_bulge_mm": float(invisible * split),
                "flavum_buckling_mm": float(invisible * (1 - split)),
            },
        }
    return out
