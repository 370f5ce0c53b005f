"""Where the app lives on disk: the repository root, which is the MONAI Label app folder."""

from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]
