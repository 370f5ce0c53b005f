"""Results as DICOM in the source study (SEG, Secondary Capture, SR) and SEG read back.

Kept as the import path existing callers use; the code lives in ``lib.io.dicom_results``.
"""

from lib.io.dicom_results import (  # noqa: F401
    SECONDARY_CAPTURE,
    finding_names,
    findings_datasets,
    label_seg,
    measurement_report,
    overlay_secondary_capture,
    read_seg,
    read_seg_content,
    write_dicom_results,
)
