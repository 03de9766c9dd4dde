"""The DICOM files bundled inside the pydicom wheel, found without any download.

``pydicom.data.get_testdata_files()`` also tries to fetch every file of pydicom's online
test set (it fails slowly without a network), so the bundled folder is listed directly and
each name is resolved with ``get_testdata_file(name, download=False)``.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.data import DATA_ROOT, get_testdata_file

from imaging.read import RefusalCode

ROOT = Path(DATA_ROOT) / "test_files"


def bundled_names() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file())


def bundled(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not bundled with pydicom"
    return Path(path)


# Every bundled file ingest refuses, and why. A file not listed here must be accepted.
REFUSED: dict[str, RefusalCode] = {
    "ExplVR_BigEndNoMeta.dcm": RefusalCode.NO_FILE_META,
    "ExplVR_LitEndNoMeta.dcm": RefusalCode.NO_FILE_META,
    "no_meta.dcm": RefusalCode.NO_FILE_META,
    "rtstruct.dcm": RefusalCode.NO_FILE_META,
    "meta_missing_tsyntax.dcm": RefusalCode.NO_TRANSFER_SYNTAX,
    "JPEG-lossy.dcm": RefusalCode.UNDECODABLE,
    # the delimiter sits inside the SIZ marker: the codestream claims a 3.7-billion-pixel width
    "JPEG2000-embedded-sequence-delimiter.dcm": RefusalCode.MALFORMED,
    "MR_truncated.dcm": RefusalCode.TRUNCATED,
    "rtplan_truncated.dcm": RefusalCode.TRUNCATED,
    "badVR.dcm": RefusalCode.INVALID_VALUE,
    "UN_sequence.dcm": RefusalCode.MISSING_UID,
    "empty_charset_LEI.dcm": RefusalCode.MISSING_UID,
    "nested_priv_SQ.dcm": RefusalCode.MISSING_UID,
    "no_meta_group_length.dcm": RefusalCode.MISSING_UID,
    "priv_SQ.dcm": RefusalCode.MISSING_UID,
    "README.txt": RefusalCode.NOT_DICOM,
    "crayons.icc": RefusalCode.NOT_DICOM,
    "rtplan.dump": RefusalCode.NOT_DICOM,
    "rtstruct.dump": RefusalCode.NOT_DICOM,
    "test1.json": RefusalCode.NOT_DICOM,
    "test_PN.json": RefusalCode.NOT_DICOM,
    "zipMR.gz": RefusalCode.NOT_DICOM,
    "dicomdirtests/README.txt": RefusalCode.NOT_DICOM,
    "dicomdirtests/TINY_ALPHA/README": RefusalCode.NOT_DICOM,
    # CT Image Storage headers whose pixel data was stripped to keep the wheel small
    **{
        name: RefusalCode.NO_PIXEL_DATA
        for name in (
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "dicomdirtests/TINY_ALPHA/PT000000").rglob("IM*")
        )
    },
    **{
        f"dicomdirtests/{name}": RefusalCode.NOT_AN_INSTANCE
        for name in (
            "DICOMDIR",
            "DICOMDIR-bigEnd",
            "DICOMDIR-empty.dcm",
            "DICOMDIR-implicit",
            "DICOMDIR-nooffset",
            "DICOMDIR-nopatient",
            "DICOMDIR-reordered",
            "TINY_ALPHA/DICOMDIR",
        )
    },
}

# Well-formed and decodable, but without a patient identity: refused only by the strict
# ingest policy (the default), accepted by the lenient one.
IDENTITY_ONLY = {
    RefusalCode.MISSING_PATIENT_ID,
    RefusalCode.MISSING_UID,
}
