from lib.core.redact import redact_paths


def test_paths_under_the_roots_and_temporary_names_are_hidden():
    text = "cannot read /tmp/abc/tmpx1y2_z3q.nii.gz: ITK said so; see '/data/studies/labels/final/a.nii.gz'"
    out = redact_paths(text, ["/tmp", "/data/studies/"])
    assert "/tmp" not in out and "/data/studies" not in out and "tmpx1y2_z3q" not in out
    assert out == "cannot read <server path>: ITK said so; see '<server path>'"


def test_a_bare_temporary_name_and_other_text_stay_readable():
    assert redact_paths("tmpab12cd34.dcm: not a DICOM file", []) == "<upload>: not a DICOM file"
    assert redact_paths("image id 'x' is not allowed", ["/", ""]) == "image id 'x' is not allowed"


def test_a_root_is_no_prefix_of_a_longer_name():
    assert redact_paths("/tmpfoo/x", ["/tmp"]) == "/tmpfoo/x"
