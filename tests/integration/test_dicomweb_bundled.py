"""Every pixel-data file bundled with pydicom that ingest accepts (so pydicom decodes it)
renders through ``/rendered`` and is served by ``/frames`` — first and last frame, decoded
to Explicit VR Little Endian and, for compressed files, as stored.

Several bundled files share a SOP Instance UID (one image in many transfer syntaxes);
within a hospital a second one would be a new revision of the first, so each copy goes
to a hospital of its own, read by that hospital's doctor.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from pydicom.uid import UID

from api.ingest.steps import create_run, ingest_file
from imaging.frames import encoded_frame, native_frame
from imaging.read import LENIENT, IngestRefused, validate_for_ingest
from store.uow import Ctx
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import (
    new_place,
)
from tests.unit.imaging.bundled import REFUSED, bundled, bundled_names

pytestmark = pytest.mark.integration
OCTET = 'multipart/related; type="application/octet-stream"'


@dataclass
class Bundled:
    name: str
    path: Path
    study: str
    series: str
    sop: str
    frames: int
    rows: int
    columns: int
    syntax: UID
    doctor: str = ""

    @property
    def url(self) -> str:
        return f"/dicomweb/studies/{self.study}/series/{self.series}/instances/{self.sop}"


def pixel_files() -> list[Bundled]:
    out = []
    for name in bundled_names():
        if name in REFUSED:
            continue
        path = bundled(name)
        try:
            parsed = validate_for_ingest(path, LENIENT)
        except IngestRefused:
            continue  # no identity to file it under (no Study/Series UID)
        if parsed.pixels is None or not (
            parsed.study_instance_uid and parsed.series_instance_uid and parsed.sop_instance_uid
        ):
            continue
        out.append(
            Bundled(
                name,
                path,
                parsed.study_instance_uid,
                parsed.series_instance_uid,
                parsed.sop_instance_uid,
                parsed.pixels.frames,
                parsed.pixels.rows,
                parsed.pixels.columns,
                parsed.transfer_syntax_uid,
            )
        )
    return out


@pytest.fixture(scope="module")
async def bundled_index(database: str, demo: dict) -> list[Bundled]:
    files = pixel_files()
    copies: dict[str, int] = {}
    runs: list[tuple[int, str]] = []
    for f in files:
        n = copies.get(f.sop, 0)
        copies[f.sop] = n + 1
        if n == len(runs):
            place = await new_place("DWB-")
            run_id = await create_run(Ctx(), place.hospital_id, "import", "pydicom files")
            runs.append((run_id, place.doctor))
        f.doctor = runs[n][1]
        result = await ingest_file(runs[n][0], f.path, file_name=f.name, policy=LENIENT)
        assert result.ok, (f.name, result)
    return files


def parts(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    boundary = content_type.split("boundary=")[1].split(";")[0].strip('"').encode()
    out = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        out.append((head.decode(), data[:-2]))
    return out


async def test_every_bundled_pixel_file(new_api, bundled_index: list[Bundled]) -> None:
    assert len(bundled_index) >= 40, [f.name for f in bundled_index]
    clients = {}
    for doctor in {f.doctor for f in bundled_index}:
        clients[doctor] = new_api()
        await clients[doctor].login(doctor, PASSWORD)
    failures = []
    for f in bundled_index:
        doctor = clients[f.doctor]
        res = await doctor.get(f.url + "/rendered", headers={"Accept": "image/png"})
        if res.status_code != 200:
            failures.append((f.name, "rendered", res.status_code, res.text[:200]))
            continue
        picture = Image.open(io.BytesIO(res.content))
        if picture.size != (f.columns, f.rows):
            failures.append((f.name, "rendered size", picture.size))
        wanted = sorted({1, f.frames})
        frame_list = ",".join(map(str, wanted))
        res = await doctor.get(f.url + f"/frames/{frame_list}", headers={"Accept": OCTET})
        if res.status_code != 200:
            failures.append((f.name, "frames", res.status_code, res.text[:200]))
            continue
        got = [data for _, data in parts(res.content, res.headers["content-type"])]
        if got != [native_frame(f.path, n - 1).data for n in wanted]:
            failures.append((f.name, "decoded frame bytes differ"))
        if f.syntax.is_compressed:
            res = await doctor.get(
                f.url + f"/frames/{frame_list}",
                headers={"Accept": OCTET + "; transfer-syntax=*"},
            )
            got_parts = parts(res.content, res.headers["content-type"])
            if [data for _, data in got_parts] != [encoded_frame(f.path, n - 1) for n in wanted]:
                failures.append((f.name, "stored frame bytes differ"))
            if not all(f"transfer-syntax={f.syntax}" in head for head, _ in got_parts):
                failures.append((f.name, "part content type", got_parts[0][0]))
    assert not failures, failures
