"""A study's files as a DICOM file-set in a streamed zip (``imaging/fileset.py``): the
DICOMDIR pydicom and dcmtk read, every file byte for byte under a conformant File ID, a
file without a Study ID or Series Number still listed (a stand-in in the record only), and
the zip written in chunks no larger than the read size plus headers (never whole)."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.fileset import FileSet

from imaging.fileset import CHUNK, DICOMDIR, plan, zip_stream
from imaging.synth import Sizes, synth

pytestmark = pytest.mark.unit


def test_the_zip_holds_a_file_set_a_viewer_opens(tmp_path: Path) -> None:
    paths = synth(tmp_path / "src", patients=1, seed=7, sizes=Sizes.small())
    bare = dcmread(paths[0])
    del bare.StudyID
    del bare.SeriesNumber
    bare.save_as(paths[0])
    made = plan(paths)
    assert len(made.members) == len(paths)
    assert {m.source for m in made.members} == set(paths)

    chunks = list(zip_stream(made.dicomdir, made.members))
    assert len(chunks) > len(paths)
    assert max(len(c) for c in chunks) <= max(CHUNK, len(made.dicomdir)) + 1024
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        assert archive.namelist()[0] == DICOMDIR
        archive.extractall(tmp_path / "out")
    fs = FileSet(tmp_path / "out" / DICOMDIR)
    assert len(fs) == len(paths)
    sources = {m.sop_uid: m.source for m in made.members}
    for instance in fs:
        parts = Path(instance.FileID).parts
        assert all(len(p) <= 8 and p.isupper() and p.isalnum() for p in parts), parts
        source = sources[str(instance.SOPInstanceUID)]
        assert Path(instance.path).read_bytes() == source.read_bytes()
    # the original lacks the keys; only its record has stand-ins
    assert "StudyID" not in dcmread(paths[0])
    if shutil.which("dcmdump"):
        out = subprocess.run(
            ["dcmdump", str(tmp_path / "out" / DICOMDIR)], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.count('"Directory Record" IMAGE') == len(paths)
