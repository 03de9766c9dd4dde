"""``aimis migrate``: bring the app database to the schema of this code.

A database built by the migrations the baseline replaced is marked first
(``store.baseline``); then Piccolo runs whatever has not run yet.
"""

from __future__ import annotations

import os

from kernel.errors import AppError
from kernel.settings import get_settings


class MigrationFailed(Exception):
    """The database could not be migrated; the message says why and what to do."""


async def migrate() -> str:
    """Migrate; returns a line worth telling the operator, or ''."""
    # Piccolo's migration commands find the app registry through this module path.
    os.environ.setdefault("PICCOLO_CONF", "store.piccolo_conf")
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    from store.baseline import BASELINE, mark_old_chain
    from store.db import ENGINE, use_write_ahead_log

    Migration._meta.db = ENGINE  # Piccolo's own table of what ran, on our engine

    get_settings().server.data_dir.mkdir(parents=True, exist_ok=True)
    await use_write_ahead_log()
    note = ""
    try:
        if await mark_old_chain():
            note = f"Built by the migrations the baseline replaces: {BASELINE} marked as run."
    except AppError as exc:
        raise MigrationFailed(f"migration refused: {exc.message}") from None
    result = await run_forwards("store")
    if not result.success:
        raise MigrationFailed(f"migration failed: {result.message}")
    return note
