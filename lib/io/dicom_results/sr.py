"""The pipeline's numbers as a DICOM Structured Report: a TID 1500 Measurement Report in a Comprehensive SR
(2D image coordinates on a projection radiograph need SCOORD, not SCOORD3D), written with highdicom.

Measurement groups, each with a Tracking Identifier a reader can key on:
- ``"patient summary"`` (always, so the report is never empty): qualitative evaluations SCT 122494005 "Cervical
  spine" = Present / Absent (whether a lateral cervical spine was found) and, when any segment was assessed,
  "Spinal cord compression" = Present / Absent for the patient (positive if any segment is) and the highest
  segment probability;
- ``"C5/6 compression"`` (one per segment the classifier assessed): finding type SCT 71286001 "Spinal cord
  compression" at SCT "Level of C5/C6 intervertebral disc"; measurements DCM 122157 "Probability" and
  DCM 122411 "Threshold Value" (of the weights that answered; decision = probability >= threshold); qualitative
  evaluation "Spinal cord compression" = SCT "Present" / "Absent"; region: the disc space and the canal behind
  it (``lib.results.pipeline.disc_polygon_xy``) as a closed POLYLINE.
- ``"C5 canal"``: finding type SCT 61853006 "Vertebral canal" at the level's vertebra; SCT 81827009 "Diameter"
  (mm) and 99CCORD "TPR" "Torg-Pavlov ratio"; region: the canal line (``lines.level_lines``).
- ``"C5 body depth"``: the ratio's denominator, SCT 131197000 "Depth" (mm) on the body-depth line.
- ``"C5/6 disc height anterior|middle|posterior"``: 99CCORD "DHA" / "DHM" / "DHP" (mm) on its line.
Regions are SCOORD POLYLINEs selected from the source image, in DICOM image coordinates: the landmark pixel
``[x, y]`` (pixel centres at integers) plus 0.5, since (0, 0) is the top-left corner of the top-left pixel.
Every group has a region, because OHIF 3.13 stops loading the whole report ("Something went wrong") at the first
group without one: the patient summary, and any group whose place was not measured (no landmarks), take the film's
outline, the whole image, as theirs. A value that was not measured (mm with unknown spacing) is left out, and a
group with no value is not written. Millimetres are those of the JSON:
in the detector plane where the magnification is known (``result["measurement_spacing"]`` says which).
"""

from __future__ import annotations

from typing import Mapping, Optional

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dicom_codes
from pydicom.uid import generate_uid

from lib.anatomy.names import SEGMENTS
from lib.io.dicom_results import codes
from lib.io.dicom_results.common import MANUFACTURER, MODEL_NAME, SOFTWARE_VERSION, header_copy, part10, stamp
from lib.io.dicom_results.lines import disc_lines, level_lines

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
PIXEL_CENTRE = 0.5  # landmark pixel [x, y] -> SCOORD column/row (DICOM's origin is the pixel's corner)


def measurement_report(
    source: Dataset,
    result: Mapping,
    landmarks: Optional[Mapping] = None,
    series_description: str = "Cervical cord measurements",
    series_number: int = 312,
) -> hd.sr.ComprehensiveSR:
    """The SR of one pipeline result (``lib.results.pipeline.assemble_result``'s JSON) on its source image.

    landmarks: the landmarks the measurements were taken on (``PipelineInfer.run``'s ``data["landmarks"]``);
    without them the groups carry no image coordinates.
    """
    evidence = header_copy(source)
    landmarks = landmarks or {}
    image = hd.sr.SourceImageForRegion(str(source.SOPClassUID), str(source.SOPInstanceUID))
    versions = dict(result.get("model_versions") or {})
    film = _film_outline(source, image)
    groups = [_summary_group(result, film)] + _segment_groups(result, landmarks, image, versions, film)
    groups += _level_groups(result, landmarks, image, film)
    groups += _disc_groups(result, landmarks, image, film)
    observer = hd.sr.ObserverContext(
        observer_type=dicom_codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[MANUFACTURER, MODEL_NAME, SOFTWARE_VERSION]),
            name=MODEL_NAME,
            manufacturer_name=MANUFACTURER,
            model_name=_versions_text(versions) or SOFTWARE_VERSION,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.IMAGING_PROCEDURE,
        imaging_measurements=groups,
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[evidence],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=series_description[:64],
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=codes.PRIVATE_SCHEME,
                name="Cervical cord app measurements",
                responsible_organization=MANUFACTURER,
            )
        ],
    )
    return part10(stamp(sr))


def _versions_text(versions: Mapping[str, str]) -> str:
    return "; ".join(f"{k} {v}" for k, v in sorted(versions.items()))[:64]


def _tracking(identifier: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=identifier)


def _region(points, image, closed: bool = False) -> hd.sr.ImageRegion:
    data = np.asarray(points, dtype=np.float64) + PIXEL_CENTRE
    if closed:
        data = np.vstack([data, data[:1]])
    return hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=data, source_image=image)


def _film_outline(source: Dataset, image) -> hd.sr.ImageRegion:
    """The whole image as a closed POLYLINE along its outer pixel edges."""
    rows, columns = float(source.Rows), float(source.Columns)
    corners = np.array([[0, 0], [columns, 0], [columns, rows], [0, rows], [0, 0]], dtype=np.float64)
    return hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=corners, source_image=image)


def _group(identifier, region, measurements, film, **kwargs):
    """A TID 1410 group on its region, or on the film's outline when its place is unknown; None without a value."""
    measurements = [m for m in measurements if m is not None]
    if not measurements and not kwargs.get("qualitative_evaluations"):
        return None
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(identifier),
        referenced_region=film if region is None else region,
        measurements=measurements or None,
        **kwargs,
    )


def _measurement(name, value, unit) -> Optional[hd.sr.Measurement]:
    if value is None:
        return None
    return hd.sr.Measurement(name=name, value=float(value), unit=unit)


def _summary_group(result: Mapping, film):
    summary = result.get("summary") or {}
    found = bool(result.get("cervical_spine_found"))
    calls = [hd.sr.QualitativeEvaluation(codes.CERVICAL_SPINE, codes.PRESENT if found else codes.ABSENT)]
    if summary.get("positive") is not None:
        calls.append(
            hd.sr.QualitativeEvaluation(codes.CORD_COMPRESSION, codes.PRESENT if summary["positive"] else codes.ABSENT)
        )
    return _group(
        "patient summary",
        None,
        [_measurement(codes.PROBABILITY, summary.get("max_probability"), codes.NO_UNITS)],
        film,
        qualitative_evaluations=calls,
    )


def _segment_groups(result: Mapping, landmarks: Mapping, image, versions: Mapping, film) -> list:
    from lib.results.pipeline import disc_polygon_xy  # the finding's region, as the label map paints it

    algorithm = hd.sr.AlgorithmIdentification(
        name="cervical-cord compression classifier", version=str(versions.get("compression", "unknown"))[:64]
    )
    groups = []
    for segment in SEGMENTS:
        entry = (result.get("segments") or {}).get(segment) or {}
        if entry.get("probability") is None or entry.get("positive") is None:
            continue
        polygon = disc_polygon_xy(landmarks, segment) if landmarks else None
        group = _group(
            f"{segment} compression",
            None if polygon is None else _region(polygon, image, closed=True),
            [
                _measurement(codes.PROBABILITY, entry["probability"], codes.NO_UNITS),
                _measurement(codes.THRESHOLD, entry.get("threshold"), codes.NO_UNITS),
            ],
            film,
            finding_type=codes.CORD_COMPRESSION,
            finding_sites=[hd.sr.FindingSite(codes.DISC_LEVEL[segment])],
            algorithm_id=algorithm,
            qualitative_evaluations=[
                hd.sr.QualitativeEvaluation(
                    codes.CORD_COMPRESSION, codes.PRESENT if entry["positive"] else codes.ABSENT
                )
            ],
        )
        groups.append(group)
    return [g for g in groups if g is not None]


def _measured_levels(result: Mapping) -> dict[str, dict]:
    """Level rows as the JSON gives them (inside each evaluable segment's measurements), once each."""
    levels = {}
    for segment in SEGMENTS:
        measured = ((result.get("segments") or {}).get(segment) or {}).get("measurements") or {}
        for level, row in (measured.get("levels") or {}).items():
            levels.setdefault(level, row)
    return {lv: levels[lv] for lv in sorted(levels, key=lambda name: int(name[1:]))}


def _level_groups(result: Mapping, landmarks: Mapping, image, film) -> list:
    lines = level_lines(landmarks) if landmarks else {}
    groups = []
    for level, row in _measured_levels(result).items():
        line = lines.get(level, {})
        site = [hd.sr.FindingSite(codes.VERTEBRA[level])]
        groups.append(
            _group(
                f"{level} canal",
                _region(line["canal"], image) if "canal" in line else None,
                [
                    _measurement(codes.DIAMETER, row.get("canal_diameter_mm"), codes.MM),
                    _measurement(codes.TORG_PAVLOV_RATIO, row.get("torg_pavlov_ratio"), codes.NO_UNITS),
                ],
                film,
                finding_type=codes.SPINAL_CANAL,
                finding_sites=site,
            )
        )
        groups.append(
            _group(
                f"{level} body depth",
                _region(line["body_depth"], image) if "body_depth" in line else None,
                [_measurement(codes.DEPTH, row.get("body_depth_mm"), codes.MM)],
                film,
                finding_type=codes.VERTEBRA[level],
                finding_sites=site,
            )
        )
    return [g for g in groups if g is not None]


def _disc_groups(result: Mapping, landmarks: Mapping, image, film) -> list:
    lines = disc_lines(landmarks) if landmarks else {}
    modifiers = {"anterior": codes.ANTERIOR, "middle": None, "posterior": codes.POSTERIOR}
    groups = []
    for segment in SEGMENTS:
        measured = ((result.get("segments") or {}).get(segment) or {}).get("measurements") or {}
        disc = measured.get("disc") or {}
        for position, modifier in modifiers.items():
            line = lines.get(segment, {}).get(position)
            groups.append(
                _group(
                    f"{segment} disc height {position}",
                    None if line is None else _region(line, image),
                    [_measurement(codes.DISC_HEIGHT[position], disc.get(f"disc_height_{position}_mm"), codes.MM)],
                    film,
                    finding_sites=[hd.sr.FindingSite(codes.DISC_LEVEL[segment], topographical_modifier=modifier)],
                )
            )
    return [g for g in groups if g is not None]
