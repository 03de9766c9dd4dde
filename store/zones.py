"""A hospital's time zone: dates and times people see are the hospital's local ones."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from store.tables import Hospital

DEFAULT_TZ = "Asia/Shanghai"


async def hospital_zone(hospital_id: int | None) -> ZoneInfo:
    """The hospital's zone; the default for no hospital (an alliance admin) or a bad name."""
    row = (
        await Hospital.select(Hospital.time_zone).where(Hospital.id == hospital_id).first()
        if hospital_id
        else None
    )
    try:
        return ZoneInfo(row["time_zone"] if row else DEFAULT_TZ)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TZ)
