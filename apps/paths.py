"""Where the app lives on disk: the repository root, which is the MONAI Label app folder."""

from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]
# The phantom demo datastore that ``serve`` and ``demo-ohif`` start on, made on their first run.
DEMO_DATASTORE = APP_DIR / "data" / "demo"
