"""The archive container: one zip per study under the archive root
(``<data>/dicom/archive/h<hospital>/<study uid>.zip``), its instance files under their
``storage_path`` names plus a ``manifest.json`` of instance ids and SHA-256 sums. Blocking
file work (run it in a thread): writing a container atomically (temp file, fsync, rename,
fsync the folder), verifying every entry against ``Instance.sha256`` (the truth), extracting
it back into the online tier, and removing online files. The rules of when a study moves
are ``api.archive.rules``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store import files

MANIFEST = "manifest.json"
CHUNK = 1024 * 1024
UID_RE = re.compile(r"[0-9][0-9.]{0,63}")


class ContainerInvalid(Exception):
    """The container (or an online file) does not hold what the index says."""


@dataclass(frozen=True)
class Member:
    """One instance row of a study: what its container entry must hold."""

    instance_id: int
    storage_path: str
    sha256: str
    size: int


def container_path(hospital_id: int, study_uid: str, study_id: int) -> Path:
    """``h<hospital>/<study uid>.zip``; a UID that is not digits and dots (never expected
    after ingest checks) falls back to the study's id, so the name is never user-chosen."""
    name = study_uid if UID_RE.fullmatch(study_uid) else f"study-{study_id}"
    return files.archive_root() / f"h{hospital_id}" / f"{name}.zip"


def _sha_chunks(path: Path, digest: Any) -> Any:
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            yield chunk


def write_container(dest: Path, members: list[Member], level: int) -> int:
    """Zip the online files of ``members`` atomically into ``dest``; returns its size.
    An online file whose bytes differ from its index row is refused (never archived)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
                for m in members:
                    src = files.online_path(m.storage_path)
                    if not src.exists():
                        raise ContainerInvalid(f"online file of instance {m.instance_id} missing")
                    digest = hashlib.sha256()
                    with zf.open(m.storage_path, "w", force_zip64=True) as entry:
                        for chunk in _sha_chunks(src, digest):
                            entry.write(chunk)
                    if digest.hexdigest() != m.sha256:
                        raise ContainerInvalid(
                            f"online file of instance {m.instance_id} differs from its checksum"
                        )
                manifest = [m.__dict__ for m in members]
                zf.writestr(MANIFEST, json.dumps(manifest))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    files._fsync_dir(dest.parent)
    return dest.stat().st_size


def verify_container(path: Path, members: list[Member]) -> int:
    """Re-read every entry; each must hash to its instance row's SHA-256. Returns how many
    were verified; raises ContainerInvalid on the first difference."""
    if not path.exists():
        raise ContainerInvalid(f"the archive container {path.name} is missing")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist()) - {MANIFEST}
            wanted = {m.storage_path for m in members}
            if names != wanted:
                raise ContainerInvalid(
                    f"the container holds {len(names)} files, the index {len(wanted)}"
                )
            for m in members:
                digest = hashlib.sha256()
                with zf.open(m.storage_path) as entry:
                    while chunk := entry.read(CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() != m.sha256:
                    raise ContainerInvalid(f"instance {m.instance_id} differs in the container")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ContainerInvalid(f"the container cannot be read: {exc}") from None
    return len(members)


def _restore_entry(zf: zipfile.ZipFile, m: Member, dest: Path) -> None:
    """Stream one entry to a temp file beside ``dest``, hashing it; only bytes that match
    the index's SHA-256 are renamed into place (the online path is content addressed, so a
    wrong file there would be trusted later)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(m.storage_path) as entry:
            while chunk := entry.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != m.sha256:
            raise ContainerInvalid(f"instance {m.instance_id} differs in the container")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    files._fsync_dir(dest.parent)


def extract_container(path: Path, members: list[Member]) -> int:
    """Put every member back under the online root, each written atomically and only if
    its bytes hash to the index's SHA-256. Returns how many files were verified. A container
    that cannot be read is ContainerInvalid; a failing disk (OSError) is left to the retries."""
    if not path.exists():
        raise ContainerInvalid(f"the archive container {path.name} is missing")
    verified = 0
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for m in members:
                dest = files.online_path(m.storage_path)
                if dest.exists() and files.sha256_of(dest) == m.sha256:
                    verified += 1  # restored by an earlier attempt, or stored online later
                    continue
                if m.storage_path not in names:
                    raise ContainerInvalid(f"instance {m.instance_id} is not in the container")
                _restore_entry(zf, m, dest)
                verified += 1
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ContainerInvalid(f"the container cannot be read: {exc}") from None
    return verified


def remove_files(paths: list[str]) -> int:
    removed = 0
    for storage_path in paths:
        path = files.online_path(storage_path)
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        with contextlib.suppress(OSError):  # the <sha[:2]> folder, when now empty
            path.parent.rmdir()
    return removed


def sweep_stale_temp(max_age_seconds: float = 3600) -> int:
    """Temp containers a killed run left behind (a live run's are younger than this)."""
    removed = 0
    limit = time.time() - max_age_seconds
    for path in files.archive_root().glob("h*/.tmp-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def on_disk(members: list[Member]) -> list[Member]:
    return [m for m in members if files.online_path(m.storage_path).exists()]


def contained(path: Path) -> set[tuple[str, str]]:
    """(storage path, SHA-256) of every file the container's manifest lists."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(MANIFEST))
    except (FileNotFoundError, KeyError, zipfile.BadZipFile, ValueError):
        return set()
    return {(m["storage_path"], m["sha256"]) for m in manifest}
