"""Each kind of bad input gives a BadInputError naming the file, the row(s) and the bad value."""

import pytest

from lib.core.errors import BadInputError, BadParameterError
from lib.evaluation.evaluate import evaluate

PRED = "patient_id,segment,probability\nP1,C2/3,0.9\nP1,C3/4,0.1\nP2,C2/3,0.2\nP2,C3/4,0.8\n"
REF = "patient_id,segment,compression\nP1,C2/3,1\nP1,C3/4,0\nP2,C2/3,0\nP2,C3/4,1\n"
READ = "reader,patient_id,segment,call\nA,P1,C2/3,1\nA,P2,C3/4,0\n"


def _run(tmp_path, pred=PRED, ref=REF, readers=None, **kw):
    (tmp_path / "pred.csv").write_text(pred)
    (tmp_path / "ref.csv").write_text(ref)
    rd = None
    if readers is not None:
        rd = tmp_path / "readers.csv"
        rd.write_text(readers)
    return evaluate(
        tmp_path / "pred.csv",
        tmp_path / "ref.csv",
        tmp_path / "out",
        readers_csv=rd,
        n_bootstrap=10,
        progress=False,
        **kw,
    )


def test_good_input_passes(tmp_path):
    assert _run(tmp_path, readers=READ)["test_sets"]["test"]["counts"]["segments"] == 4


@pytest.mark.parametrize(
    "pred,ref,readers,message",
    [
        (PRED.replace("probability", "prob"), REF, None, r"pred.csv: missing column\(s\) probability; found: .*prob"),
        (PRED, REF.replace("compression", "label"), None, r"ref.csv: missing column\(s\) compression"),
        (PRED.replace("0.9", "1.3"), REF, None, r"pred.csv row 2: probability '1.3' is not a number in \[0, 1\]"),
        (PRED.replace("0.9", "nan"), REF, None, r"pred.csv row 2: probability 'nan'"),
        (PRED.replace("0.8", "high"), REF, None, r"pred.csv row 5: probability 'high'"),
        (PRED, REF.replace("P2,C2/3,0", "P2,C2/3,2"), None, r"ref.csv row 4: compression '2' is not one of 0, 1"),
        (PRED.replace("P1,C3/4", "P1,C7/T1"), REF, None, r"pred.csv row 3: segment 'C7/T1' is not one of C2/3"),
        (
            PRED + "P1,C2/3,0.5\n",
            REF,
            None,
            r"pred.csv rows 2 and 6: duplicate \(patient_id, segment\) \('P1', 'C2/3'\)",
        ),
        (PRED + "P9,C2/3,0.5\n", REF, None, r"pred.csv row 6: patient_id 'P9' matches no patient in ref.csv"),
        (PRED + "P1,C5/6,0.5\n", REF, None, r"pred.csv row 6: patient_id 'P1', segment 'C5/6' has no row in ref.csv"),
        (
            PRED.replace("P2,C3/4,0.8\n", ""),
            REF,
            None,
            r"pred.csv has no row for patient_id 'P2', segment 'C3/4' \(ref.csv row 5\)",
        ),
        (PRED, REF, READ.replace("P2,C3/4,0", "P2,C3/4,yes"), r"readers.csv row 3: call 'yes' is not one of 0, 1"),
        (PRED, REF, READ + "A,P1,C2/3,0\n", r"readers.csv rows 2 and 4: duplicate \(reader, patient_id, segment\)"),
        (
            PRED,
            REF,
            READ + "A,P7,C2/3,0\n",
            r"readers.csv row 4: patient_id 'P7', segment 'C2/3' has no row in ref.csv",
        ),
        (PRED, REF + "P3,C2/3,1\n", READ + "A,P3,C2/3,0\n", r"readers.csv row 4: patient_id 'P3' is not in pred.csv"),
        (
            PRED,
            REF.replace("compression", "compression,kang").replace(",1\n", ",1,5\n", 1),
            None,
            r"ref.csv row 2: kang '5' is not one of 0, 1, 2, 3",
        ),
        ("patient_id,segment,probability\n", REF, None, r"pred.csv: no data rows"),
    ],
)
def test_bad_input_is_named(tmp_path, pred, ref, readers, message):
    with pytest.raises(BadInputError, match=message):
        _run(tmp_path, pred, ref, readers)


def test_patient_in_two_splits_is_leakage(tmp_path):
    pred = "patient_id,segment,probability,split\nP1,C2/3,0.9,internal\nP1,C3/4,0.1,external\n"
    with pytest.raises(
        BadInputError,
        match=r"pred.csv rows 2 and 3: patient_id 'P1' is in split 'internal' and "
        r"split 'external'",
    ):
        _run(tmp_path, pred, REF)


def test_many_problems_are_listed_then_counted(tmp_path):
    pred = "patient_id,segment,probability\n" + "".join(f"P{i},C2/3,{9 + i}\n" for i in range(14))
    with pytest.raises(BadInputError, match=r"row 11: .*\n\.\.\. and 4 more") as err:
        _run(tmp_path, pred, REF)
    assert "row 2: probability '9'" in str(err.value)


def test_missing_file_and_bad_threshold(tmp_path):
    (tmp_path / "ref.csv").write_text(REF)
    with pytest.raises(BadInputError, match="nowhere.csv: file not found"):
        evaluate(tmp_path / "nowhere.csv", tmp_path / "ref.csv", tmp_path)
    with pytest.raises(BadParameterError, match=r"threshold 1.5 is not in \[0, 1\]"):
        _run(tmp_path, threshold=1.5)
    with pytest.raises(BadParameterError, match="'youden' needs prediction rows with split 'validation'"):
        _run(tmp_path, threshold="youden")
    with pytest.raises(BadParameterError, match="'median' is not a number"):
        _run(tmp_path, threshold="median")
