"""One version string for the app, its result JSON and its model cards."""

APP_VERSION = "0.1.0"
