"""Receiving folders: where a STOW-RS request's parts and an upload's files (and its zips'
entries) are streamed before they are ingested or spooled, ``<data>/dicom/spool/incoming/<hex>``.

A receiving folder belongs to the process receiving into it, and says so by an exclusive
``flock`` on its lock file ``incoming/<hex>.lock``, taken before the folder is made and held
until it is removed. The kernel drops the lock when that process ends in any way (``kill -9``,
an out-of-memory kill, a power cut), so at start-up ``clean_receiving_folders`` removes every
folder whose lock it can take (its receiver is gone: a half-received upload) and keeps every
folder whose lock is held (another live process, e.g. a second web process on the same data
folder, is still receiving into it). The hourly ``sweep-temp-files`` still removes what is
untouched for ``AIMIS_TEMP_MAX_AGE_HOURS`` (folders an older version left without a lock file).

Why a lock and not a pid file: a pid says nothing once the process is gone and its number
is reused, and processes in containers sharing one data volume each have their own pid
numbers (every one of them may be pid 7); a lock is held by a live open file, whoever holds
it. ``flock`` is per open file, so two receivers in one process never share a lock either.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from store import files

log = logging.getLogger(__name__)

LOCK = ".lock"


def incoming_root() -> Path:
    return files.spool_root() / "incoming"


def _try_lock(path: Path, create: bool) -> int | None:
    """An open descriptor holding the exclusive lock of ``path``, or None (held elsewhere,
    or the file is gone and ``create`` is false)."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def claim_folder() -> tuple[Path, int]:
    """A new receiving folder and the descriptor holding its lock (blocking: a thread)."""
    root = incoming_root()
    root.mkdir(parents=True, exist_ok=True)
    while True:  # a new name; held only by a start-up clean that opened it first: another
        name = uuid.uuid4().hex
        fd = _try_lock(root / f"{name}{LOCK}", create=True)
        if fd is not None:
            break
    folder = root / name
    folder.mkdir()
    return folder, fd


def release_folder(folder: Path, fd: int) -> None:
    """Remove the folder, then its lock file, then let go of the lock (blocking)."""
    shutil.rmtree(folder, True)
    with contextlib.suppress(FileNotFoundError):
        Path(f"{folder}{LOCK}").unlink()
    os.close(fd)


@contextlib.asynccontextmanager
async def receiving_folder() -> AsyncIterator[Path]:
    """``async with receiving_folder() as folder``: a locked folder, removed afterwards."""
    folder, fd = await asyncio.to_thread(claim_folder)
    try:
        yield folder
    finally:
        await asyncio.to_thread(release_folder, folder, fd)


def clean_receiving_folders(root: Path | None = None) -> tuple[int, int]:
    """Remove the receiving folders (and lock files) whose receiver is gone; returns (folders
    removed, kept because a live process still receives into them). A folder without a lock
    file is left to the age-based sweep: it may be one a receiver is just making (it takes
    the lock first, so this is only a folder an older version left)."""
    root = root or incoming_root()
    if not root.is_dir():
        return 0, 0
    removed = kept = 0
    for lock in sorted(root.glob(f"*{LOCK}")):
        folder = root / lock.name.removesuffix(LOCK)
        fd = _try_lock(lock, create=False)
        if fd is None:
            kept += lock.exists()
            continue
        try:
            if folder.is_dir():
                shutil.rmtree(folder, True)
                removed += 1
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    if removed or kept:
        log.info(
            "receiving folders: %d left by a stopped process removed, %d still receiving",
            removed,
            kept,
        )
    return removed, kept
