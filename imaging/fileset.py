"""A study's original files as a DICOM file-set in a zip, streamed (SPEC 10.6).

``plan(paths)`` reads each file's header only (``stop_before_pixels``) and lets pydicom's
``FileSet`` make the DICOMDIR's records (PATIENT → STUDY → SERIES → IMAGE, or the record
type the SOP class calls for) and the File IDs, conformant ones (up to 8 components of 8
upper-case characters: ``PT000000/ST000000/SE000000/IM000000``). Only the headers pass
through pydicom's staging folder, a temporary one; the DICOMDIR's bytes are kept, the
headers thrown away. A Type 1 key a file lacks (Study ID, Series Number, …) is given a
stand-in in the *record* only; the files themselves go into the zip byte for byte.

``zip_stream(entries)`` writes a zip as it goes: each entry's bytes are read in chunks
from disk and yielded as soon as ``zipfile`` has written them (a write-only sink, so
``zipfile`` uses data descriptors and never seeks); nothing holds a whole file, let alone
the study. Entries are stored (DICOM pixel data is mostly compressed already, and the
phone's download should not wait for a 2-core server's deflate).
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet

CHUNK = 512 * 1024
DICOMDIR = "DICOMDIR"
# What a record takes when the file lacks a Type 1 key of it (PS3.3 F.5): the record only.
STAND_INS = {
    "PatientID": "UNKNOWN",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "1",
    "Modality": "OT",
    "SeriesNumber": "1",
}
ZIP64_ENTRY = 2**31  # an entry this large is written with its ZIP64 header


@dataclass(frozen=True, slots=True)
class Member:
    """One original file of the set: where it is, its File ID, its SOP instance."""

    source: Path
    file_id: str  # "PT000000/ST000000/SE000000/IM000000"
    sop_uid: str


@dataclass(frozen=True, slots=True)
class Plan:
    dicomdir: bytes
    members: list[Member]


def _header(path: Path, number: int) -> Dataset:
    ds = dcmread(path, stop_before_pixels=True)
    for keyword, value in STAND_INS.items():
        if keyword not in ds or ds[keyword].VM == 0:
            setattr(ds, keyword, value)
    if "InstanceNumber" not in ds or ds["InstanceNumber"].VM == 0:
        ds.InstanceNumber = number
    return ds


def plan(paths: Iterable[Path], fileset_id: str = "AIMIS") -> Plan:
    """The DICOMDIR and the File ID of each file (the same SOP instance twice: once)."""
    fs = FileSet()
    fs.ID = fileset_id[:16].upper()
    sources: dict[str, Path] = {}
    for number, path in enumerate(paths, start=1):
        ds = _header(path, number)
        sources.setdefault(str(ds.SOPInstanceUID), path)
        fs.add(ds)
    with tempfile.TemporaryDirectory(prefix="aimis-fileset-") as folder:
        fs.write(folder)
        dicomdir = (Path(folder) / DICOMDIR).read_bytes()
        members = [
            Member(
                sources[str(i.SOPInstanceUID)],
                PurePosixPath(*Path(i.FileID).parts).as_posix(),
                str(i.SOPInstanceUID),
            )
            for i in fs
        ]
    return Plan(dicomdir, members)


class _Sink:
    """A write-only file for ``zipfile``: what is written waits here until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._at = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._at += len(data)
        return len(data)

    def tell(self) -> int:
        return self._at

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_stream(dicomdir: bytes, members: Iterable[Member]) -> Iterator[bytes]:
    """The zip of the set, chunk by chunk: DICOMDIR first, then each file under its File
    ID, read ``CHUNK`` bytes at a time."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(DICOMDIR, dicomdir)
        yield sink.take()
        for member in members:
            size = member.source.stat().st_size
            info = zipfile.ZipInfo(member.file_id, date_time=time.localtime()[:6])
            info.file_size = size
            with (
                member.source.open("rb") as source,
                archive.open(info, "w", force_zip64=size >= ZIP64_ENTRY) as entry,
            ):
                while chunk := source.read(CHUNK):
                    entry.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
