"""The phantom's DX carries what a DX For Presentation must: the lateral view code, laterality, the presentation
LUT shape its photometric interpretation asks for, burned-in annotation and lossy compression stated, and the
Type 2 attributes present (empty where a phantom has no value)."""

import pydicom
import pytest

from lib.phantom import cohort_config, label_record
from tests.dicom_factory import phantom_source


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_phantom_dx_states_view_laterality_presentation_and_type_2s(tmp_path, photometric):
    config = cohort_config(patients=12, seed=4, centre="external", validation_fraction=0, test_fraction=0)
    index = next(i for i in range(12) if label_record(config, i)["summary"]["photometric"] == photometric)
    _, path = phantom_source(tmp_path, seed=4, index=index, centre="external")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == photometric
    assert ds.PresentationLUTShape == ("INVERSE" if photometric == "MONOCHROME1" else "IDENTITY")
    assert (ds.ImageLaterality, ds.BurnedInAnnotation, ds.LossyImageCompression) == ("U", "NO", "00")
    view = ds.ViewCodeSequence[0]
    assert (view.CodingSchemeDesignator, view.CodeValue) == ("SCT", "399067008") and ds.ViewPosition == "LL"
    region = ds.AnatomicRegionSequence[0]
    assert (region.CodingSchemeDesignator, region.CodeValue) == ("SCT", "122494005")
    for keyword in (
        "PatientBirthDate",
        "ReferringPhysicianName",
        "PositionReferenceIndicator",
        "DetectorType",
        "PositionerType",
        "AcquisitionContextSequence",
    ):
        assert keyword in ds and not ds.data_element(keyword).value, keyword
