"""Thin MONAI Label infer tasks; the maths they call lives in ``lib``."""
