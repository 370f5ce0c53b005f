"""The series descriptions of the DICOM objects the app writes: how the app, its datastore and the viewer tooling
know them again. Kept apart from ``lib.io.dicom_results`` (highdicom, scipy) so light callers stay light."""

FINDINGS_DESCRIPTION = "Cervical cord findings"  # the pipeline's findings SEG
OVERLAY_DESCRIPTION = "Cervical cord overlay"  # its overlay Secondary Capture
REPORT_DESCRIPTION = "Cervical cord measurements"  # its measurement SR
WRITE_BACK_PREFIX = "Cervical cord"  # all three: with the app's Manufacturer, never training labels
LABEL_DESCRIPTION = "Cervical levels label"  # an annotator's final label stored as SEG
# The levels model's answer as a SEG to correct, every level named; the app's own is never a label, a corrected
# copy stored by a viewer is.
TO_CORRECT_DESCRIPTION = "Cervical levels to correct"
