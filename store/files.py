"""Where image files live under the data folder, and how they are written.

- online files: ``<data>/dicom/online/<Instance.storage_path>``
- archive containers: ``<data>/dicom/archive/``
- thumbnails: ``<data>/thumbnails/``
- received files waiting for their migration run's flow: ``<data>/dicom/spool/run-<id>/``

Every write is atomic: a temp file in the destination folder, fsync, rename, fsync of the
folder. A crash leaves either the whole file or no file (at worst a ``.tmp-*`` file that
``sweep_temp`` removes), never half a file under its final name. A batch of files (one
STOW-RS request) syncs each folder once after all its renames (``sync_folder=False``, then
``sync_folders``), still before any index row points at them.

Online paths are content addressed (``h<hospital>/<sha[:2]>/<sha256>.dcm``): the same bytes
always land on the same path, so writing them twice is a no-op and a file that an index row
points at is never overwritten with other bytes. Paths never contain a name someone sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from kernel.settings import get_settings

CHUNK = 1024 * 1024
_TMP_PREFIX = ".tmp-"


def data_root() -> Path:
    return get_settings().server.data_dir


def online_root() -> Path:
    return data_root() / "dicom" / "online"


def archive_root() -> Path:
    return data_root() / "dicom" / "archive"


def thumbnails_root() -> Path:
    return data_root() / "thumbnails"


def spool_root() -> Path:
    return data_root() / "dicom" / "spool"


def online_path(storage_path: str) -> Path:
    """The absolute path of an ``Instance.storage_path``; refuses a path leaving the root."""
    root = online_root().resolve()
    path = (root / storage_path).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"storage path {storage_path!r} leaves the online root")
    return path


def storage_path_for(hospital_id: int, sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return f"h{hospital_id}/{sha256[:2]}/{sha256}.dcm"


def thumbnail_name(study_id: int) -> str:
    return f"study-{study_id}.jpg"


def thumbnail_path(name: str) -> Path:
    root = thumbnails_root().resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"thumbnail name {name!r} leaves the thumbnails folder")
    return path


def spool_dir(run_id: int) -> Path:
    return spool_root() / f"run-{run_id}"


def sha256_of(data: bytes | Path) -> str:
    if isinstance(data, bytes | bytearray | memoryview):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    with open(data, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse to open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sync_folders(folders: Iterable[Path]) -> None:
    """Make the renames into these folders durable (once per folder)."""
    for folder in set(folders):
        _fsync_dir(folder)


def write_atomic(
    dest: Path, data: bytes | Path | Iterable[bytes], *, sync_folder: bool = True
) -> int:
    """Write ``data`` (bytes, a file to copy, or chunks) to ``dest`` atomically; return size.
    ``sync_folder=False``: the caller fsyncs the folder (``sync_folders``) before relying on
    the file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=dest.parent)
    tmp = Path(tmp_name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes | bytearray | memoryview):
                out.write(data)
                size = len(data)
            elif isinstance(data, Path):
                with open(data, "rb") as src:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        size += len(chunk)
            else:
                for chunk in data:
                    out.write(chunk)
                    size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_folder:
        _fsync_dir(dest.parent)
    return size


def move_atomic(src: Path, dest: Path) -> int:
    """Rename a complete file (fsynced here) into place on the same file system."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb+") as f:
        os.fsync(f.fileno())
        size = os.fstat(f.fileno()).st_size
    os.replace(src, dest)
    _fsync_dir(dest.parent)
    return size


def store_online(
    hospital_id: int, sha256: str, data: bytes | Path, *, sync_folder: bool = True
) -> tuple[str, bool]:
    """Put one instance's bytes under the online root; return (storage_path, created).

    ``created`` is False when the same bytes were already there (nothing written)."""
    storage_path = storage_path_for(hospital_id, sha256)
    dest = online_path(storage_path)
    if dest.exists():
        return storage_path, False
    write_atomic(dest, data, sync_folder=sync_folder)
    return storage_path, True


def remove_online(storage_path: str) -> None:
    """Remove a file written for a change that then rolled back."""
    online_path(storage_path).unlink(missing_ok=True)


# what a crash can leave behind: our atomic writes' temp files (attachments and logos too),
# the upload temp files older versions wrote for those, and the folders a STOW-RS request
# or an upload receives into
_TEMP_PATTERNS = (f"{_TMP_PREFIX}*", ".upload-*.tmp")


def _newest_change(path: Path) -> float:
    """The latest modification time of a file, or of a folder and anything in it (a file
    still being received keeps its folder young)."""
    newest = path.stat().st_mtime
    if path.is_dir():
        for inner in path.rglob("*"):
            with contextlib.suppress(OSError):
                newest = max(newest, inner.stat().st_mtime)
    return newest


def leftovers(root: Path | None = None, older_than: float = 0.0) -> list[Path]:
    """Temp files and receiving folders under ``root`` untouched for ``older_than`` seconds."""
    root = root or data_root()
    found: list[Path] = []
    for pattern in _TEMP_PATTERNS:
        found += [p for p in root.rglob(pattern) if p.is_file()]
    incoming = root / spool_root().relative_to(data_root()) / "incoming"
    if incoming.is_dir():
        found += [p for p in incoming.iterdir() if p.is_dir()]
    cutoff = time.time() - older_than
    old = []
    for path in found:
        with contextlib.suppress(OSError):  # gone meanwhile: finished, not left over
            if _newest_change(path) <= cutoff:
                old.append(path)
    return old


def sweep_temp(root: Path | None = None, older_than: float = 0.0) -> tuple[int, int]:
    """Remove what a crash left behind (see ``leftovers``); return (how many, bytes freed).

    ``older_than`` (seconds) spares work in progress: a running upload or write keeps
    touching its file. Removing the same path twice (two sweeps at once) is harmless."""
    removed = freed = 0
    for path in leftovers(root, older_than):
        with contextlib.suppress(OSError):
            if path.is_dir():
                size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            else:
                size = path.stat().st_size
                path.unlink()
            removed += 1
            freed += size
    return removed, freed
