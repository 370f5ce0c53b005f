"""The landmark refiner: a small MONAI regressor that moves mask-derived walls and spinolaminar points onto the film.

Input: ``[B, 1, 48, 48]`` patches (``lib.models.patches.sample_patch``). Output: ``[B, 3]``, one offset per point
kind (``POINTS`` order) in tenths of a body depth; the output of the patch's own kind is used. Training shows the
network patches centred near the reference point, displaced along and across the body axis, turned and rescaled
a little, so it learns to correct coarse landmarks of any origin (the levels model, an older mask, a hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import Regressor

from lib.models.patches import (
    PATCH_SIZE,
    POINTS,
    PointFrame,
    apply_offsets,
    body_axes,
    line_offset,
    point_frames,
    reference_line,
    sample_patch,
)
from lib.models.weights import load_weights

CHANNELS = (16, 32, 64, 96)
OUTPUT_SCALE = 10.0  # network units per body depth, so targets are of order one
NETWORK_DESCRIPTION = (
    f"MONAI Regressor: {PATCH_SIZE}x{PATCH_SIZE} patch, residual stages {list(CHANNELS)} "
    f"(stride 2, instance norm, PReLU), linear head, {len(POINTS)} offsets"
)
# Training displacement of the patch centre (body depths) and frame: a little beyond the coarse errors seen from the
# levels model (about 0.03 depth standard deviation, tails to 0.1), so the corrections stay inside what was seen.
JITTER_ALONG = 0.12
JITTER_ACROSS = 0.06
JITTER_TURN_DEG = 6.0
JITTER_SCALE = 0.08
CROP_MARGIN = 0.4  # body depths kept around a level's landmarks when training crops are cut
ITERATIONS = 2  # refine, re-centre on the refined point, refine again


def refiner_network() -> Regressor:
    return Regressor(
        in_shape=(1, PATCH_SIZE, PATCH_SIZE),
        out_shape=(len(POINTS),),
        channels=CHANNELS,
        strides=(2, 2, 2, 2),
        num_res_units=1,
    )


@dataclass
class PointSet:
    """Training points in memory: per level a float16 crop of the film and its reference landmarks."""

    crops: list = field(default_factory=list)  # float16 [h, w]
    origins: list = field(default_factory=list)  # (x, y) of each crop's top-left pixel on the film
    marks: list = field(default_factory=list)  # reference landmarks of the crop's level, film pixels
    points: list = field(default_factory=list)  # (crop index, point kind)

    def __len__(self) -> int:
        return len(self.points)

    def counts(self) -> dict:
        return {"points": len(self.points), "levels": len(self.crops)}


def build_point_set(cases: Iterable[tuple]) -> PointSet:
    """From ``(pixels, reference landmarks)`` pairs: crops around each level and its refinable points."""
    out = PointSet()
    for pixels, landmarks in cases:
        for level, marks in landmarks.items():
            kinds = [f.point for f in point_frames({level: marks})]
            if not kinds:
                continue
            _, _, depth = body_axes(marks)
            xy = np.array([v for v in marks.values()], dtype=np.float64)
            lo = np.maximum(np.floor(xy.min(0) - CROP_MARGIN * depth), 0).astype(int)
            hi = np.minimum(np.ceil(xy.max(0) + CROP_MARGIN * depth), [pixels.shape[1] - 1, pixels.shape[0] - 1])
            hi = hi.astype(int)
            out.crops.append(np.asarray(pixels[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1], dtype=np.float16))
            out.origins.append((float(lo[0]), float(lo[1])))
            out.marks.append(marks)
            out.points += [(len(out.crops) - 1, kind) for kind in kinds]
    return out


def _rotate(vec: np.ndarray, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1]])


def jittered_sample(points: PointSet, index: int, rng: np.random.Generator) -> tuple[np.ndarray, float, int]:
    """(patch, target offset in network units, point kind index) for training point ``index``."""
    crop_index, kind = points.points[index]
    marks = points.marks[crop_index]
    u, v, depth = body_axes(marks)
    line_point, line_dir = reference_line(marks, kind)
    turn = rng.uniform(-JITTER_TURN_DEG, JITTER_TURN_DEG)
    u, v = _rotate(u, turn), _rotate(v, turn)
    scale = depth * (1.0 + rng.uniform(-JITTER_SCALE, JITTER_SCALE))
    start = np.asarray(line_point) + depth * (
        rng.uniform(-JITTER_ALONG, JITTER_ALONG) * u + rng.uniform(-JITTER_ACROSS, JITTER_ACROSS) * v
    )
    frame = PointFrame("", kind, start, u, v, scale)
    target = line_offset(frame, line_point, line_dir)
    crop = points.crops[crop_index].astype(np.float32)
    return (
        sample_patch(crop, frame, points.origins[crop_index]),
        float(target or 0.0) * OUTPUT_SCALE,
        POINTS.index(kind),
    )


def make_batch(points: PointSet, indices, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    samples = [jittered_sample(points, int(i), rng) for i in indices]
    patches = torch.from_numpy(np.stack([s[0] for s in samples])[:, None])
    return patches, torch.tensor([s[1] for s in samples]), torch.tensor([s[2] for s in samples])


def _kind_output(output: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
    return output.gather(1, kinds[:, None])[:, 0]


def train_epoch(
    network, optimizer, scheduler, points: PointSet, batch_size: int, rng: np.random.Generator, device: str = "cpu"
) -> float:
    """One pass over the points, each with a fresh random displacement; returns the mean Smooth-L1 loss."""
    network.train()
    order = rng.permutation(len(points))
    total, seen = 0.0, 0
    for start in range(0, len(order), batch_size):
        patches, targets, kinds = make_batch(points, order[start : start + batch_size], rng)
        output = _kind_output(network(patches.to(device)), kinds.to(device))
        loss = F.smooth_l1_loss(output, targets.to(device), beta=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += float(loss.detach()) * len(targets)
        seen += len(targets)
    return total / max(seen, 1)


def validation_error(network, points: PointSet, seed: int = 0, device: str = "cpu", batch_size: int = 256) -> float:
    """Mean absolute offset error (body depths) on fixed displacements of the validation points (the publish score)."""
    if len(points) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    network.eval()
    errors = []
    with torch.no_grad():
        for start in range(0, len(points), batch_size):
            patches, targets, kinds = make_batch(points, range(start, min(start + batch_size, len(points))), rng)
            output = _kind_output(network(patches.to(device)), kinds.to(device)).cpu()
            errors.append(torch.abs(output - targets) / OUTPUT_SCALE)
    return float(torch.cat(errors).mean())


def predict_offsets(network, image: np.ndarray, frames: list[PointFrame], device: str = "cpu") -> dict:
    """``{(level, point): offset in body depths}`` for each frame on the film ``image`` (float [rows, cols])."""
    if not frames:
        return {}
    patches = torch.from_numpy(np.stack([sample_patch(image, f) for f in frames])[:, None]).to(device)
    kinds = torch.tensor([POINTS.index(f.point) for f in frames], device=device)
    network.eval()
    with torch.no_grad():
        output = _kind_output(network(patches), kinds).cpu().numpy() / OUTPUT_SCALE
    return {(f.level, f.point): float(o) for f, o in zip(frames, output)}


def refine_landmarks(
    network, image: np.ndarray, landmarks: Mapping[str, Mapping], device: str = "cpu", iterations: int = ITERATIONS
) -> dict:
    """Landmarks with posterior and anterior walls and spinolaminar points moved by the refiner; the rest as given.

    Each pass predicts an offset per point from a patch centred on the current estimate; the next pass starts from
    the moved landmarks, so a coarse error near the edge of the patch is corrected in two steps.
    """
    out = {level: dict(marks) for level, marks in landmarks.items()}
    image = np.asarray(image, dtype=np.float32)
    for _ in range(iterations):
        out = apply_offsets(out, predict_offsets(network, image, point_frames(out), device))
    return out


def load_refiner(path, device: str = "cpu") -> Optional[torch.nn.Module]:
    """The refiner network from a weight file, in eval mode; None when the file is absent."""
    from pathlib import Path

    if not Path(path).is_file():
        return None
    return load_weights(refiner_network().to(device), path, device).eval()
