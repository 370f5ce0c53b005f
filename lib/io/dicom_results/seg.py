"""Label maps as DICOM SEG (written with highdicom), and SEGs read back (BINARY, FRACTIONAL and LABELMAP).

Segment numbers and label values. DICOM asks a BINARY SEG to number its segments 1, 2, 3 ... without gaps, so
a segment's number is its rank among the label values present (a map holding C2-C6, the canal and a C4/5
finding, values 1-5, 7 and 10, gets segments 1-7). Each segment keeps its label value three ways, so any reader
maps it back:
- the Segment Label is the app's name (``"C5"``, ``"spinal_canal"``, ``"C4/5 compression p=0.93"``), and the
  name gives the value through ``lib.anatomy.names`` (the app's contract: labels by name, ids following);
- the Segment Description reads ``"label value 10: C4/5 compression"``;
- a private element in the segment's item, creator ``CERVICAL_CORD 1`` in group 0071 (element (0071,xx01),
  US) holds the value.

Plane. A projection radiograph (CR/DX) has no Image Position/Orientation (Patient), and highdicom's path for a
source without a Frame of Reference writes a SEG without Plane Position and Plane Orientation, which OHIF 3
needs to lay a SEG over a DX. So the SEG keeps the source's Frame of Reference (a source without one gets a
UID derived from its SOP Instance UID, the same for every result of that image) and states the plane viewers
assume for a position-less 2D image: origin 0, rows along y ([1, 0, 0, 0, 1, 0]), the source's own pixel
spacing (Pixel Spacing, else Imager Pixel Spacing, else 1 mm) and a nominal 1 mm Slice Thickness (a projection
has no slab, but the Pixel Measures macro requires one). Because the grid is the source's, each frame's
Derivation Image Sequence names the source instance with Spatial Locations Preserved YES.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from skimage.color import rgb2lab

from lib.anatomy.names import FINDING_LABELS, LEVEL_LABELS, SEGMENTS
from lib.core.errors import BadInputError
from lib.io.dicom_results import codes
from lib.io.dicom_results.common import (
    DEVICE_SERIAL,
    MANUFACTURER,
    MODEL_NAME,
    SOFTWARE_VERSION,
    header_copy,
    part10,
    stamp,
)
from lib.io.labels import distinct_label_values

SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.7"
PRIVATE_GROUP, PRIVATE_CREATOR, LABEL_VALUE_ELEMENT = 0x0071, "CERVICAL_CORD 1", 0x01
FINDING_NAME = re.compile(r"^\s*(C[2-6]/[3-7])\s+compression\b", re.IGNORECASE)
_COLOURS = {  # as the overlay draws them (lib.results.overlay.LEVEL_COLOURS); findings red
    1: (230, 25, 75),
    2: (60, 180, 75),
    3: (255, 225, 25),
    4: (0, 130, 200),
    5: (245, 130, 48),
    6: (145, 30, 180),
    7: (70, 240, 240),
}
_NAMES_BY_VALUE = {v: n for n, v in {**LEVEL_LABELS, **FINDING_LABELS}.items()}


def label_seg(
    source: Dataset,
    label_hw: np.ndarray,
    names: Mapping[int, str],
    series_description: str,
    series_number: int = 300,
    algorithm: Optional[hd.AlgorithmIdentificationSequence] = None,
    every_level: bool = False,
) -> hd.seg.Segmentation:
    """A BINARY DICOM SEG of a ``[rows, cols]`` label map (values: ``lib.anatomy.names`` ids) on ``source``.

    names: label value -> Segment Label (e.g. ``{4: "C5", 10: "C4/5 compression p=0.93"}``); every non-zero
    value present needs one. algorithm: who made the map (segments AUTOMATIC); None for an annotator's label
    (MANUAL). every_level: a segment for each level label (C2-C7, spinal canal) even where the map has none, empty
    frames included, so an annotator who paints a missing level in a viewer paints it under its canonical name
    (a segment the viewer adds itself is "Segment 1", which no label can be).
    """
    label = np.asarray(label_hw)
    if label.shape != (int(source.Rows), int(source.Columns)):
        raise BadInputError(f"label {label.shape} does not match the image {int(source.Rows)} x {int(source.Columns)}")
    present = sorted(distinct_label_values(label) - {0})
    if every_level:
        present = sorted(set(present) | set(LEVEL_LABELS.values()))
        names = {**{v: n for n, v in LEVEL_LABELS.items()}, **names}
    if not present:
        raise BadInputError("the label map is empty: a DICOM SEG needs at least one segment")
    unnamed = [v for v in present if v not in names]
    if unnamed:
        raise BadInputError(f"label values {unnamed} have no segment name")
    unknown = [v for v in present if v not in _NAMES_BY_VALUE]
    if unknown:
        raise BadInputError(f"label values {unknown} are none of the app's labels {sorted(_NAMES_BY_VALUE)}")
    numbers = np.zeros(label.shape, dtype=np.uint8)
    for number, value in enumerate(present, start=1):
        numbers[label == value] = number
    descriptions = [
        _description(number, value, str(names[value]), algorithm) for number, value in enumerate(present, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[_placed(source)],
        pixel_array=numbers[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number=DEVICE_SERIAL,
        content_label="FINDINGS" if algorithm is not None else "LEVELS",
        content_description=series_description[:64],
        content_creator_name=None,
        series_description=series_description[:64],
        omit_empty_frames=not every_level,
    )
    seg.BodyPartExamined = "CSPINE"
    return part10(stamp(seg))


def _description(
    number: int, value: int, name: str, algorithm: Optional[hd.AlgorithmIdentificationSequence]
) -> hd.seg.SegmentDescription:
    canonical = _NAMES_BY_VALUE[value]
    if canonical in LEVEL_LABELS:
        category = codes.ANATOMICAL_STRUCTURE
        kind = codes.SPINAL_CANAL if canonical == "spinal_canal" else codes.VERTEBRA[canonical]
        regions = None
    else:
        segment = canonical.split(" ")[0]
        category, kind, regions = codes.MORPHOLOGICALLY_ABNORMAL, codes.CORD_COMPRESSION, [codes.DISC_LEVEL[segment]]
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name[:64],
        segmented_property_category=category,
        segmented_property_type=kind,
        algorithm_type="AUTOMATIC" if algorithm is not None else "MANUAL",
        algorithm_identification=algorithm,
        anatomic_regions=regions,
    )
    description.SegmentDescription = f"label value {value}: {canonical}"[:64]
    rgb = np.asarray(_COLOURS.get(value, (255, 0, 0)), dtype=np.float64) / 255.0
    lab = rgb2lab(rgb[None, None])[0, 0]
    description.RecommendedDisplayCIELabValue = list(
        hd.color.CIELabColor(float(np.clip(lab[0], 0, 100)), *np.clip(lab[1:], -128, 127).tolist()).value
    )
    block = description.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(LABEL_VALUE_ELEMENT, "US", int(value))
    return description


def frame_of_reference_uid(source: Dataset) -> str:
    """The source's Frame of Reference UID, or one derived from its SOP Instance UID when it has none."""
    if source.get("FrameOfReferenceUID"):
        return str(source.FrameOfReferenceUID)
    return generate_uid(entropy_srcs=[str(source.SOPInstanceUID), "frame-of-reference"])


def _placed(source: Dataset) -> Dataset:
    """The source header with the plane a viewer assumes for it (see the module doc) for highdicom to copy."""
    placed = header_copy(source)
    placed.FrameOfReferenceUID = frame_of_reference_uid(source)
    placed.PositionReferenceIndicator = source.get("PositionReferenceIndicator", "") or ""
    if "ImagePositionPatient" not in placed:
        placed.ImagePositionPatient = [0.0, 0.0, 0.0]
    if "ImageOrientationPatient" not in placed:
        placed.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    if "PixelSpacing" not in placed:
        spacing = source.get("ImagerPixelSpacing") or [1.0, 1.0]
        placed.PixelSpacing = [float(v) for v in spacing]
    if not placed.get("SliceThickness"):
        placed.SliceThickness = 1.0  # nominal: a projection has no slab, but the Pixel Measures macro needs one
    return placed


# Reading -------------------------------------------------------------------------------------------------------


@dataclass
class SegContent:
    """A single-plane SEG read back: one bool ``[rows, cols]`` mask per segment number, segment number ->
    Segment Label, and what it refers to."""

    masks: dict[int, np.ndarray]
    labels: dict[int, str]
    segmentation_type: str
    shape: tuple[int, int]
    label_values: dict[int, int] = field(default_factory=dict)  # from the app's private element, when present
    referenced_series: list[str] = field(default_factory=list)
    referenced_instances: list[str] = field(default_factory=list)

    @property
    def numbers(self) -> np.ndarray:
        """int32 ``[rows, cols]``: the segment number at each pixel (0 none; where segments overlap, the higher)."""
        out = np.zeros(self.shape, dtype=np.int32)
        for number in sorted(self.masks):
            out[self.masks[number]] = number
        return out


def read_seg_content(seg: Dataset) -> SegContent:
    """Any SEG of one plane: BINARY or FRACTIONAL (one frame per segment, Segmentation Storage) or LABELMAP
    (pixel values are segment numbers, Label Map Segmentation Storage). What cannot be read raises
    ``BadInputError`` with the reason."""
    if getattr(seg, "Modality", "") != "SEG":
        modality = str(getattr(seg, "Modality", "") or "missing")
        raise BadInputError(f"the DICOM object's modality is {modality}, not SEG: a label is a SEG on the radiograph")
    kind = str(seg.get("SegmentationType", "")).upper()
    if str(seg.get("SOPClassUID", "")) == LABELMAP_SEGMENTATION:
        kind = "LABELMAP"
    if kind not in ("BINARY", "FRACTIONAL", "LABELMAP"):
        raise BadInputError(f"SEG of segmentation type {kind or 'missing'!r}: BINARY, FRACTIONAL or LABELMAP expected")
    items = list(seg.get("SegmentSequence") or [])
    labels, values = {}, {}
    for item in items:
        if "SegmentNumber" not in item:
            raise BadInputError("SEG segment without a Segment Number")
        number = int(item.SegmentNumber)
        if kind == "LABELMAP" and number == 0:
            continue  # the background segment of a label map
        labels[number] = str(item.get("SegmentLabel", "") or "").strip()
        value = _private_label_value(item)
        if value is not None:
            values[number] = value
    if not labels:
        raise BadInputError("the SEG describes no segments")
    try:
        frames = np.asarray(seg.pixel_array)
    except Exception as exc:  # pydicom raises several kinds for missing or undecodable pixel data
        raise BadInputError(f"the SEG's pixels cannot be read ({type(exc).__name__}: {exc})") from None
    frames = frames[None] if frames.ndim == 2 else frames
    shape = (int(frames.shape[1]), int(frames.shape[2]))
    masks: dict[int, np.ndarray] = {}
    if kind == "LABELMAP":
        stray = sorted(set(np.unique(frames).tolist()) - set(labels) - {0})
        if stray:
            raise BadInputError(f"label map SEG pixels hold segment numbers {stray} that no segment describes")
        for number in labels:
            masks[number] = (frames == number).any(axis=0)
    else:
        cut = 0.5 * float(seg.get("MaximumFractionalValue", 255)) if kind == "FRACTIONAL" else 0.5
        for i, frame in enumerate(frames):
            number = _frame_segment(seg, i)
            if number not in labels:
                raise BadInputError(f"SEG frame {i + 1} refers to segment {number}, which is not described")
            masks[number] = masks.get(number, np.zeros(shape, dtype=bool)) | (frame > cut)
    series, instances = _references(seg)
    return SegContent(masks, labels, kind, shape, values, series, instances)


def _private_label_value(item: Dataset) -> Optional[int]:
    try:
        return int(item.get_private_item(PRIVATE_GROUP, LABEL_VALUE_ELEMENT, PRIVATE_CREATOR).value)
    except (KeyError, TypeError, ValueError):
        return None


def _frame_segment(seg: Dataset, index: int) -> int:
    groups = []
    per_frame = seg.get("PerFrameFunctionalGroupsSequence") or []
    if index < len(per_frame):
        groups.append(per_frame[index])
    groups += list(seg.get("SharedFunctionalGroupsSequence") or [])
    for group in groups:
        identification = group.get("SegmentIdentificationSequence")
        if identification:
            return int(identification[0].ReferencedSegmentNumber)
    raise BadInputError(f"SEG frame {index + 1} names no segment (Segment Identification Sequence missing)")


def _references(seg: Dataset) -> tuple[list[str], list[str]]:
    series, instances = [], []
    for item in seg.get("ReferencedSeriesSequence") or []:
        if item.get("SeriesInstanceUID"):
            series.append(str(item.SeriesInstanceUID))
        instances += [str(i.ReferencedSOPInstanceUID) for i in item.get("ReferencedInstanceSequence") or []]
    for group in seg.get("PerFrameFunctionalGroupsSequence") or []:
        for derivation in group.get("DerivationImageSequence") or []:
            instances += [str(i.ReferencedSOPInstanceUID) for i in derivation.get("SourceImageSequence") or []]
    instances += [str(i.ReferencedSOPInstanceUID) for i in seg.get("SourceImageSequence") or []]
    return list(dict.fromkeys(series)), list(dict.fromkeys(instances))


def read_seg(seg: Dataset) -> tuple[np.ndarray, dict[int, str]]:
    """A single-plane SEG back as (int32 ``[rows, cols]`` map of segment numbers, segment number -> label)."""
    content = read_seg_content(seg)
    return content.numbers, content.labels


@dataclass
class LevelLabel:
    """A SEG as a training label: uint8 canonical ids (``LEVEL_LABELS``), the level names found, the finding
    segments it dropped."""

    label: np.ndarray
    levels: list[str]
    dropped_findings: list[str]


def canonical_name(name: str) -> Optional[str]:
    """``"c5"`` -> ``"C5"``, ``"Spinal canal"`` -> ``"spinal_canal"``; None for any other name."""
    key = re.sub(r"[\s_-]+", "_", str(name).strip()).lower()
    return next((n for n in LEVEL_LABELS if n.lower() == key), None)


def level_label(content: SegContent) -> LevelLabel:
    """The SEG's level segments as canonical ids. Finding segments (``"C5/6 compression ..."``) are dropped;
    any other name is refused with the names allowed; a SEG with no level segment left is refused."""
    mapping, dropped, unknown = {}, [], []
    for number, name in sorted(content.labels.items()):
        canonical = canonical_name(name)
        if canonical is not None:
            mapping[number] = canonical
        elif FINDING_NAME.match(name):
            dropped.append(name)
        else:
            unknown.append(name or f"(segment {number} has no label)")
    if unknown:
        raise BadInputError(
            f"SEG segments {unknown} are not level names; name each segment one of {', '.join(LEVEL_LABELS)} "
            f"(case does not matter), or like '{SEGMENTS[0]} compression' for a finding, which is not trained on"
        )
    twice = sorted({n for n in mapping.values() if list(mapping.values()).count(n) > 1})
    if twice:
        raise BadInputError(f"SEG names {twice} on more than one segment; each level is one segment")
    if not mapping:
        raise BadInputError(f"the SEG holds only findings ({', '.join(dropped)}) and no level segment to train on")
    label = np.zeros(content.shape, dtype=np.uint8)
    for number in sorted(mapping):  # findings are not painted, so what they overlap stays anatomy
        label[content.masks.get(number, np.zeros(content.shape, dtype=bool))] = LEVEL_LABELS[mapping[number]]
    return LevelLabel(label, [mapping[k] for k in sorted(mapping)], dropped)


def label_value(content: SegContent, number: int) -> Optional[int]:
    """The app's label value of a segment: its private element, else its name (``lib.anatomy.names``)."""
    if number in content.label_values:
        return content.label_values[number]
    name = content.labels.get(number, "")
    canonical = canonical_name(name)
    if canonical is not None:
        return LEVEL_LABELS[canonical]
    finding = FINDING_NAME.match(name)
    return FINDING_LABELS[f"{finding.group(1).upper()} compression"] if finding else None


def label_values(content: SegContent) -> np.ndarray:
    """uint8 ``[rows, cols]`` of the app's label values (the map the SEG was written from); 0 where none."""
    out = np.zeros(content.shape, dtype=np.uint8)
    for number in sorted(content.masks):
        value = label_value(content, number)
        if value is None:
            raise BadInputError(f"SEG segment {number} ({content.labels.get(number)!r}) has no label value")
        out[content.masks[number]] = value
    return out
