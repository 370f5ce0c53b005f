"""The pipeline's results as DICOM in the source's study, written with highdicom, and SEGs read back.

- ``seg``: label maps as BINARY SEG (segments numbered 1..N, each keeping its label value), and SEGs of any
  kind (BINARY, FRACTIONAL, LABELMAP) read back and turned into training labels by segment name;
- ``sc``: the overlay picture as a Secondary Capture;
- ``sr``: the numbers as a TID 1500 measurement report with image coordinates;
- ``lines``: where each measured line lies on the film;
- ``write``: all three for one pipeline result, to upload or to write into a folder (``write_dicom_results``).
Uploading is the caller's job.
"""

from lib.io.dicom_results.sc import SECONDARY_CAPTURE, overlay_secondary_capture
from lib.io.dicom_results.seg import (
    LABELMAP_SEGMENTATION,
    SEGMENTATION,
    LevelLabel,
    SegContent,
    label_seg,
    label_values,
    level_label,
    read_seg,
    read_seg_content,
)
from lib.io.dicom_results.sr import COMPREHENSIVE_SR, measurement_report
from lib.io.dicom_results.write import (
    FINDINGS_DESCRIPTION,
    OVERLAY_DESCRIPTION,
    REPORT_DESCRIPTION,
    finding_names,
    findings_datasets,
    write_dicom_results,
)

__all__ = [
    "COMPREHENSIVE_SR",
    "FINDINGS_DESCRIPTION",
    "LABELMAP_SEGMENTATION",
    "LevelLabel",
    "OVERLAY_DESCRIPTION",
    "REPORT_DESCRIPTION",
    "SECONDARY_CAPTURE",
    "SEGMENTATION",
    "SegContent",
    "finding_names",
    "findings_datasets",
    "label_seg",
    "label_values",
    "level_label",
    "measurement_report",
    "overlay_secondary_capture",
    "read_seg",
    "read_seg_content",
    "write_dicom_results",
]
