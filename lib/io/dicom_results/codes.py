"""The coded concepts the app's DICOM objects use, in one place.

SNOMED CT (SCT) and DICOM (DCM) codes where a standard concept fits; a small private coding scheme
(``99CCORD``, named in each SR's Coding Scheme Identification Sequence) for the app's own measurements that
have no standard code (Torg-Pavlov ratio, disc heights by position).

Vertebrae: the DICOM anatomic codes C2 39976000 .. C7 87391001; spinal canal: SCT 61853006 "Vertebral canal";
a compression finding: SCT 71286001 "Spinal cord compression" (category SCT 49755003 "Morphologically Abnormal
Structure") at SCT "Level of C2/C3 intervertebral disc" 243902007 .. "Level of C6/C7" 243906005.
"""

from __future__ import annotations

from highdicom.sr import CodedConcept

from lib.anatomy.names import SEGMENTS

PRIVATE_SCHEME = "99CCORD"


def _sct(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, "SCT", meaning)


def _dcm(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, "DCM", meaning)


def _private(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, PRIVATE_SCHEME, meaning)


ANATOMICAL_STRUCTURE = _sct("123037004", "Anatomical Structure")
MORPHOLOGICALLY_ABNORMAL = _sct("49755003", "Morphologically Abnormal Structure")
VERTEBRA = {
    "C2": _sct("39976000", "C2 vertebra"),
    "C3": _sct("113205007", "C3 vertebra"),
    "C4": _sct("5329002", "C4 vertebra"),
    "C5": _sct("36978003", "C5 vertebra"),
    "C6": _sct("36054005", "C6 vertebra"),
    "C7": _sct("87391001", "C7 vertebra"),
}
SPINAL_CANAL = _sct("61853006", "Vertebral canal")
CORD_COMPRESSION = _sct("71286001", "Spinal cord compression")
DISC_LEVEL = {
    segment: _sct(code, f"Level of {segment.split('/')[0]}/C{segment.split('/')[1]} intervertebral disc")
    for segment, code in zip(SEGMENTS, ("243902007", "243903002", "243904008", "243905009", "243906005"))
}
CERVICAL_SPINE = _sct("122494005", "Cervical spine")
LATERAL_PROJECTION = _sct("399067008", "Lateral projection")
IMAGING_PROCEDURE = _sct("363679005", "Imaging procedure")
PRESENT = _sct("52101004", "Present")
ABSENT = _sct("272519000", "Absent")
ANTERIOR = _sct("255549009", "Anterior")
POSTERIOR = _sct("255551008", "Posterior")

# Measurements (SR concept names) and units.
DIAMETER = _sct("81827009", "Diameter")
DEPTH = _sct("131197000", "Depth")
HEIGHT = _dcm("121207", "Height")
PROBABILITY = _dcm("122157", "Probability")
THRESHOLD = _dcm("122411", "Threshold Value")
TORG_PAVLOV_RATIO = _private("TPR", "Torg-Pavlov ratio")
DISC_HEIGHT = {
    "anterior": _private("DHA", "Anterior disc height"),
    "middle": _private("DHM", "Middle disc height"),
    "posterior": _private("DHP", "Posterior disc height"),
}
MM = CodedConcept("mm", "UCUM", "millimeter")
NO_UNITS = CodedConcept("1", "UCUM", "no units")
