"""What a parsed DICOM instance is (``ParsedInstance``, its pixel module and where its pixel data
lies), the ingest policy (``STRICT``, ``LENIENT``) and the refusal (``IngestRefused`` with a
stable ``RefusalCode``). ``imaging.read`` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import FileDataset
from pydicom.uid import (
    UID,
)

Source = Path | str | bytes | bytearray | memoryview | BinaryIO


class RefusalCode(StrEnum):
    TOO_LARGE = "too-large"
    NOT_DICOM = "not-dicom"
    NO_FILE_META = "no-file-meta"
    NO_TRANSFER_SYNTAX = "no-transfer-syntax"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported-transfer-syntax"
    MALFORMED = "malformed"
    INVALID_VALUE = "invalid-value"
    TRUNCATED = "truncated"
    NOT_AN_INSTANCE = "not-an-instance"
    MISSING_UID = "missing-uid"
    MISSING_PATIENT_ID = "missing-patient-id"
    INCOMPLETE_PIXEL_MODULE = "incomplete-pixel-module"
    UNDECODABLE = "undecodable"
    NO_PIXEL_DATA = "no-pixel-data"


class IngestRefused(Exception):
    """The file may not be ingested; ``reason`` is written for the person who sent it."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """What ingest insists on beyond a well-formed file.

    ``require_patient_id``: a study without a patient identity cannot be matched to a
    patient archive, so the default refuses it. ``decode_check``: decode the first and last
    frame to prove the pixel data is readable. ``max_bytes``: refuse larger files outright.
    """

    require_patient_id: bool = True
    require_study_and_series: bool = True
    decode_check: bool = True
    max_bytes: int | None = None


STRICT = IngestPolicy()
# For files that are well formed but lack an identity (research exports, test data).
LENIENT = IngestPolicy(require_patient_id=False, require_study_and_series=False)


@dataclass(frozen=True, slots=True)
class PixelModule:
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int


@dataclass(frozen=True, slots=True)
class PixelDataLocation:
    """Where the pixel data value starts in the instance's dataset stream."""

    keyword: str
    vr: str | None
    value_offset: int
    length: int | None  # None: undefined length, i.e. encapsulated
    fragments: int = 0
    basic_offsets: tuple[int, ...] = ()

    @property
    def encapsulated(self) -> bool:
        return self.length is None


@dataclass(frozen=True, slots=True)
class ParsedInstance:
    """A parsed file: its header (everything but the pixel data) and where its pixels are."""

    dataset: FileDataset
    transfer_syntax_uid: UID
    size: int
    pixel_data: PixelDataLocation | None
    pixels: PixelModule | None

    def _text(self, keyword: str) -> str:
        value = self.dataset.get(keyword)
        return "" if value is None else str(value).strip()

    @property
    def sop_class_uid(self) -> str:
        return self._text("SOPClassUID")

    @property
    def sop_instance_uid(self) -> str:
        return self._text("SOPInstanceUID")

    @property
    def study_instance_uid(self) -> str:
        return self._text("StudyInstanceUID")

    @property
    def series_instance_uid(self) -> str:
        return self._text("SeriesInstanceUID")

    @property
    def patient_id(self) -> str:
        return self._text("PatientID")

    @property
    def modality(self) -> str:
        return self._text("Modality")

    @property
    def number_of_frames(self) -> int:
        return self.pixels.frames if self.pixels else 0


@dataclass(frozen=True, slots=True)
class OpenInstance:
    parsed: ParsedInstance
    stream: BinaryIO  # positions in ``parsed.pixel_data`` are offsets in this stream


def decode_error(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # pydicom lists each plugin's failure on its own line; the plugins' words say most.
    detail = "; ".join(lines[1:]) if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
    return detail.rstrip(".")[:300]


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")[:300]
