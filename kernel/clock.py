"""Calendar helpers anyone may import (services, flows, pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local_day(time_zone: str, at: datetime | None = None) -> str:
    """The ISO date it is (or was at ``at``) in ``time_zone``."""
    return (at or datetime.now(UTC)).astimezone(ZoneInfo(time_zone)).date().isoformat()
