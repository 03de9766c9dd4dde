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


def _check(
    zf: zipfile.ZipFile, label: str, limits: ZipLimits, label_zh: str
) -> list[zipfile.ZipInfo]:
    entries = [
        i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith(SKIPPED_PREFIXES)
    ]
    if len(entries) > limits.entries:
        raise TooLarge(
            f"{label} holds {len(entries):,} files; at most {limits.entries:,} are accepted.",
            zh=f"{label_zh} 包含 {len(entries):,} 个文件，最多接受 {limits.entries:,} 个。",
        )
    total = 0
    for info in entries:
        if unsafe_name(info.filename):
            raise BadRequest(
                f"{label} holds an entry named {info.filename!r} that points outside the "
                "archive (path traversal); nothing was stored.",
                zh=f"{label_zh} 中名为 {info.filename!r} 的条目指向压缩包之外（路径穿越），"
                "未存储任何文件。",
            )
        if info.flag_bits & 0x1:
            raise BadRequest(
                f"{label}: {info.filename!r} is encrypted; send it unencrypted.",
                zh=f"{label_zh}：{info.filename!r} 已加密，请发送未加密的文件。",
            )
        if info.file_size > limits.file_bytes:
            raise TooLarge(
                f"{label}: {info.filename!r} expands to {info.file_size:,} bytes, more than "
                f"the {limits.file_bytes:,} allowed for one file.",
                zh=f"{label_zh}：{info.filename!r} 解压后为 {info.file_size:,} 字节，"
                f"超过单个文件允许的 {limits.file_bytes:,} 字节。",
            )
        if info.file_size and (
            info.compress_size == 0 or info.file_size / info.compress_size > limits.ratio
        ):
            raise TooLarge(
                f"{label}: {info.filename!r} expands {info.file_size:,} bytes from "
                f"{info.compress_size:,}, more than {limits.ratio} times (a zip bomb); nothing "
                "was stored.",
                zh=f"{label_zh}：{info.filename!r} 由 {info.compress_size:,} 字节解压为 "
                f"{info.file_size:,} 字节，超过 {limits.ratio} 倍（疑似压缩炸弹），"
                "未存储任何文件。",
            )
        total += info.file_size
    if total > limits.total_bytes:
        raise TooLarge(
            f"{label} expands to {total:,} bytes; at most {limits.total_bytes:,} are accepted.",
            zh=f"{label_zh} 解压后为 {total:,} 字节，最多接受 {limits.total_bytes:,} 字节。",
        )
    return entries


def expand_zip(
    path: Path, folder: Path, label: str, limits: ZipLimits, label_zh: str = "压缩包"
) -> list[Received]:
    """Expand ``path`` into ``folder`` (generated names); 400/413 saying what is wrong.
    ``label`` names the zip in the refusal ("The zip a.zip"), ``label_zh`` in its Chinese."""
    try:
        with zipfile.ZipFile(path) as zf:
            entries = _check(zf, label, limits, label_zh)
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
                                f"{label}: {info.filename!r} expands past the size its header "
                                "declares (a zip bomb); nothing was stored.",
                                zh=f"{label_zh}：{info.filename!r} 解压后超过其文件头声明的"
                                "大小（疑似压缩炸弹），未存储任何文件。",
                            )
                        out.write(chunk)
                received.append(Received(dest, info.filename, written))
            return received
    except zipfile.BadZipFile as exc:
        raise BadRequest(
            f"{label} is not a readable zip archive: {exc}",
            zh=f"{label_zh} 不是可读取的 zip 压缩包：{exc}",
        ) from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise BadRequest(
            f"{label} could not be expanded: {exc}", zh=f"{label_zh} 无法解压：{exc}"
        ) from None


def is_zip(path: Path, name: str) -> bool:
    if name.lower().endswith(".zip"):
        return True
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"
