"""Where the installation keeps the files the code reads: templates, static files, the
browser libraries installed from npm (``ui/node_modules``)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI_DIR = ROOT / "ui"
