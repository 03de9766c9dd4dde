"""Expanding an uploaded zip safely: everything is checked against the central directory
before a byte is written, and again while expanding (a lying header cannot exceed what it
declared). Entry names are shown to people only; files are written under generated names,
yet an entry that tries to leave the archive (``../``, absolute paths, drive letters) is a
refusal of the whole upload, because such an archive is an attack, not an export."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kernel.errors import BadRequest, TooLarge
from kernel.settings import get_settings

CHUNK = 1024 * 1024
SKIPPED_PREFIXES = ("__MACOSX/",)


@dataclass(frozen=True)
class Received:
    """A received file waiting to be spooled: where it is, what the sender called it."""

    path: Path
    name: str
    size: int


@dataclass(frozen=True)
class ZipLimits:
    entries: int
    total_bytes: int
    file_bytes: int
    ratio: int

    @classmethod
    def from_settings(cls, budget: int | None = None) -> ZipLimits:
        s = get_settings()
        total = s.ingest.max_upload_bytes if budget is None else budget
        return cls(s.ingest.max_zip_entries, total, s.ingest.max_file_bytes, s.ingest.zip_max_ratio)


def unsafe_name(name: str) -> bool:
    if not name or "\x00" in name or name.startswith(("/", "\\")):
        return True
    if len(name) > 1 and name[1] == ":":  # C:\...
        return True
    return ".." in PurePosixPath(name.replace("\\", "/")).parts


def _check(zf: zipfile.ZipFile, label: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    entries = [
        i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith(SKIPPED_PREFIXES)
    ]
    if len(entries) > limits.entries:
        raise TooLarge(
            "{label} holds {n:,} files; at most {entries:,} are accepted.",
            label=label,
            n=len(entries),
            entries=limits.entries,
        )
    total = 0
    for info in entries:
        if unsafe_name(info.filename):
            raise BadRequest(
                "{label} holds an entry named {filename!r} that points outside the "
                "archive (path traversal); nothing was stored.",
                label=label,
                filename=info.filename,
            )
        if info.flag_bits & 0x1:
            raise BadRequest(
                "{label}: {filename!r} is encrypted; send it unencrypted.",
                label=label,
                filename=info.filename,
            )
        if info.file_size > limits.file_bytes:
            raise TooLarge(
                "{label}: {filename!r} expands to {file_size:,} bytes, more than the "
                "{file_bytes:,} allowed for one file.",
                label=label,
                filename=info.filename,
                file_size=info.file_size,
                file_bytes=limits.file_bytes,
            )
        if info.file_size and (
            info.compress_size == 0 or info.file_size / info.compress_size > limits.ratio
        ):
            raise TooLarge(
                "{label}: {filename!r} expands {file_size:,} bytes from "
                "{compress_size:,}, more than {ratio} times (a zip bomb); nothing "
                "was stored.",
                label=label,
                filename=info.filename,
                file_size=info.file_size,
                compress_size=info.compress_size,
                ratio=limits.ratio,
            )
        total += info.file_size
    if total > limits.total_bytes:
        raise TooLarge(
            "{label} expands to {total:,} bytes; at most {total_bytes:,} are accepted.",
            label=label,
            total=total,
            total_bytes=limits.total_bytes,
        )
    return entries


def expand_zip(path: Path, folder: Path, label: str, limits: ZipLimits) -> list[Received]:
    """Expand ``path`` into ``folder`` (generated names); 400/413 saying what is wrong.
    ``label`` names the zip in the refusal (``Msg("The zip {name}", name=…)``: translated
    with the sentence)."""
    try:
        with zipfile.ZipFile(path) as zf:
            entries = _check(zf, label, limits)
            folder.mkdir(parents=True, exist_ok=True)
            received = []
            for n, info in enumerate(entries, start=1):
                dest = folder / f"entry-{n:06d}"
                written = 0
                with zf.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            raise TooLarge(
                                "{label}: {filename!r} expands past the size its "
                                "header declares (a zip bomb); nothing was stored.",
                                label=label,
                                filename=info.filename,
                            )
                        out.write(chunk)
                received.append(Received(dest, info.filename, written))
            return received
    except zipfile.BadZipFile as exc:
        raise BadRequest(
            "{label} is not a readable zip archive: {exc}",
            label=label,
            exc=exc,
        ) from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise BadRequest("{label} could not be expanded: {exc}", label=label, exc=exc) from None


def is_zip(path: Path, name: str) -> bool:
    if name.lower().endswith(".zip"):
        return True
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"
