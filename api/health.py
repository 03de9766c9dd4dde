"""``GET /health``: database, live channel, Prefect API, decodable DICOM transfer syntaxes."""

from __future__ import annotations

import time

import httpx
import msgspec
from litestar import Response, get
from litestar.channels import ChannelsPlugin

from imaging.codecs import transfer_syntax_report
from kernel.settings import get_settings
from store.tables import Alliance


class Check(msgspec.Struct):
    ok: bool
    detail: str = ""
    ms: float = 0.0


class Health(msgspec.Struct):
    ok: bool
    database: Check
    channel: Check
    prefect: Check
    transfer_syntaxes: dict[str, list[str]]


async def _timed(coro) -> Check:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    try:
        detail = await coro
        return Check(True, detail or "", round((time.perf_counter() - start) * 1000, 1))
    except Exception as exc:
        return Check(
            False,
            f"{type(exc).__name__}: {exc}"[:300],
            round((time.perf_counter() - start) * 1000, 1),
        )


async def _db() -> str:
    await Alliance.count()
    return "postgresql" if get_settings().is_postgres else "sqlite"


async def _channel(channels: ChannelsPlugin) -> str:
    await channels.wait_published(b"{}", ["health"])
    return "redis" if get_settings().redis.url else "memory"


async def _prefect() -> str:
    url = get_settings().prefect_api
    async with httpx.AsyncClient(timeout=2.0) as client:
        res = await client.get(f"{url}/health")
        res.raise_for_status()
    return url


@get("/health", tags=["ops"], cache=False)
async def health(channels: ChannelsPlugin) -> Response[Health]:
    db = await _timed(_db())
    channel = await _timed(_channel(channels))
    prefect = await _timed(_prefect())
    report = transfer_syntax_report()
    # The web app serves users without Prefect (it is never on an interactive path).
    ok = db.ok and channel.ok
    return Response(Health(ok, db, channel, prefect, report), status_code=200 if ok else 503)
