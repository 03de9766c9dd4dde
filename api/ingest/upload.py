"""Uploads from the UI (files, a folder, zips) and ``aimis import``: received files are
checked as archives, spooled durably under the data folder and handed to the run's flow,
which verifies, stores and indexes them. The request returns once the files are spooled.

Nothing of a refused upload is kept: the whole request is read and every zip checked and
expanded into a temp folder first; the run is created only when all of it is acceptable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from litestar.datastructures import Headers

from api.ingest.multipart import boundary_of, check_declared_size, read_parts
from api.ingest.receiving import receiving_folder
from api.ingest.steps import create_run, hand_over, spool_file
from api.ingest.zips import Received, ZipLimits, expand_zip, is_zip
from kernel.errors import BadRequest, TooLarge
from kernel.i18n import Msg
from kernel.settings import get_settings
from store.uow import Ctx


def expand(received: list[Received], folder: Path) -> list[Received]:
    """Zips replaced by their entries; every size within the upload limit."""
    budget = get_settings().ingest.max_upload_bytes
    out: list[Received] = []
    for n, item in enumerate(received, start=1):
        if is_zip(item.path, item.name):
            label = Msg("The zip {name}", name=item.name or f"#{n}")
            limits = ZipLimits.from_settings(budget)
            entries = expand_zip(item.path, folder / f"zip-{n}", label, limits)
            item.path.unlink(missing_ok=True)
            prefix = f"{item.name}/" if item.name else ""
            out += [Received(e.path, prefix + e.name, e.size) for e in entries]
            budget -= sum(e.size for e in entries)
        else:
            out.append(item)
            budget -= item.size
        if budget < 0:
            raise TooLarge(
                "The upload expands to more than the {max_upload_bytes:,} bytes accepted.",
                max_upload_bytes=get_settings().ingest.max_upload_bytes,
            )
    return out


async def spool_run(
    ctx: Ctx,
    hospital_id: int,
    source: str,
    detail: str,
    received: list[Received],
    move: bool,
    queue: bool = True,
) -> int:
    """A run holding the received files, handed to its flow (``queue``); returns its id."""
    run_id = await create_run(ctx, hospital_id, source, detail, spool=True, follow_up=queue)
    try:
        for item in received:
            await spool_file(run_id, item.path, item.name, move=move)
    finally:  # a run interrupted here still reaches its flow, which reports what is missing
        if queue:  # (killed here: its follow-up, queued with it, falls due after the hold)
            await hand_over(ctx, run_id)
    return run_id


async def upload(ctx: Ctx, hospital_id: int, headers: Headers, body: AsyncIterator[bytes]) -> int:
    """``multipart/form-data`` with one or more ``files`` parts (files, a folder's files,
    zips); returns the new run's id."""
    limit = get_settings().ingest.max_upload_bytes
    check_declared_size(headers.get("content-length"), limit)
    boundary, _ = boundary_of(headers.get("content-type", ""), "multipart/form-data")
    async with receiving_folder() as folder:
        parts = await read_parts(body, boundary, folder, limit)
        sent = [
            Received(p.path, p.file_name, p.size)
            for p in parts
            if p.field_name == "files" and (p.file_name or p.size)
        ]
        if not sent:
            raise BadRequest(
                "Choose at least one file, folder or zip to upload.",
            )
        received = await asyncio.to_thread(expand, sent, folder)
        if not received:
            raise BadRequest(
                "The upload holds no file (only empty folders or zips).",
            )
        names = sorted({r.name.split("/")[0] for r in sent})
        detail = ", ".join(names)[:200]
        return await spool_run(ctx, hospital_id, "upload", detail, received, move=True)


def collect(path: Path, folder: Path) -> list[Received]:
    """``aimis import PATH``: a folder's files (hidden ones skipped), a zip, or one file."""
    if path.is_dir():
        found = [
            p
            for p in sorted(path.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        ]
        received = [Received(p, str(p.relative_to(path)), p.stat().st_size) for p in found]
    elif path.is_file():
        received = [Received(path, path.name, path.stat().st_size)]
    else:
        raise BadRequest("{path} is neither a file nor a folder.", path=path)
    zips = [r for r in received if is_zip(r.path, r.name)]
    plain = [r for r in received if r not in zips]
    for n, z in enumerate(zips, start=1):
        entries = expand_zip(
            z.path,
            folder / f"zip-{n}",
            Msg("The zip {name}", name=z.name),
            ZipLimits.from_settings(),
        )
        plain += [Received(e.path, f"{z.name}/{e.name}", e.size) for e in entries]
    return plain


async def import_path(ctx: Ctx, hospital_id: int, path: Path, queue: bool = True) -> int:
    """Spool a folder/zip/file for ``hospital_id`` (copies; the source stays untouched);
    ``queue=False`` leaves the run for the caller to migrate inline."""
    async with receiving_folder() as folder:
        received = await asyncio.to_thread(collect, path, folder)
        if not received:
            raise BadRequest("{path} holds no file.", path=path)
        return await spool_run(
            ctx, hospital_id, "import", str(path)[:200], received, move=False, queue=queue
        )
