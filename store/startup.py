"""Start-up checks of the app database: reachable, and migrated."""

from __future__ import annotations

from kernel.errors import AppError
from store.tables import Alliance


async def check_database() -> None:
    try:
        await Alliance.count()
    except Exception as exc:  # a clear sentence instead of a stack trace at first request
        raise AppError(f"The app database is not ready ({exc}); run `aimis migrate`.") from exc
