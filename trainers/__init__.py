"""Thin MONAI Label train tasks; splits, losses' inputs and metrics come from ``lib``."""
