"""Server-rendered pages, their templates, static files and translations."""

from pathlib import Path

UI_DIR = Path(__file__).resolve().parent
