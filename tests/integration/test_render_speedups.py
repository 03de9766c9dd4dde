"""Issue 18 point 4 against the running app: ``/rendered`` per transfer syntax drawn from the
fastest decoder and the decoded-frame cache is still the picture a reference decode gives,
a replaced or deleted instance never shows its old pixels, and the thumbnail step
pre-renders each series' middle slice so that its first view is served without decoding."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from api.dicomweb.rendered import prerendered_root
from flows.migration import make_thumbnails, middle_slices, prerender_study
from store import files
from store.tables import Instance, Study
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import StudyFile, describe, ingest, new_place

pytestmark = pytest.mark.integration
PNG = {"Accept": "image/png"}


@pytest.fixture(scope="module")
async def place(database: str, demo: dict):
    return await new_place("RS-")


@pytest.fixture
async def doctor(new_api, place):
    client = new_api()
    await client.login(place.doctor, PASSWORD)
    return client


def url(f: StudyFile) -> str:
    return f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}"


def ct_series(folder: Path, ts: str, slices: int = 3, seed: int = 7) -> list[Path]:
    from imaging.synth import Sizes, synth

    paths = synth(
        folder, patients=1, seed=seed, sizes=Sizes(64, slices), transfer_syntaxes={"CT": ts}
    )
    return sorted(p for p in paths if dcmread(p, stop_before_pixels=True).Modality == "CT")


def bundled_copy(name: str, folder: Path) -> Path:
    """A pydicom test file under new UIDs and a patient ID of its own (so no other test's
    copy of it is the same instance)."""
    path = get_testdata_file(name, download=False)
    assert path is not None, name
    ds = dcmread(path)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID = f"RS-{ds.SOPInstanceUID[-8:]}"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / name
    ds.save_as(out, enforce_file_format=True)
    return out


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR to 0–255, written here again as the reference."""
    y = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.floor(np.clip(y, 0, 255) + 0.5)


def reference_gray(path: Path, center: float, width: float) -> np.ndarray:
    ds = dcmread(path)
    stored = pixel_array(str(path), index=0).astype(np.float64)
    hu = stored * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    return linear_window(hu, center, width)


async def picture(doctor, path: str, **kw: object) -> np.ndarray:
    res = await doctor.get(path, **kw)
    assert res.status_code == 200, (path, res.status_code, res.text[:300])
    return np.asarray(Image.open(io.BytesIO(res.content))).astype(np.int16)


GRAY = [ExplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless]


async def test_rendered_gray_per_syntax_is_the_reference(doctor, place) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aimis-render-"))
    for n, ts in enumerate(GRAY):
        [first, *_] = ct_series(folder / str(n), ts, slices=2, seed=100 + n)
        await ingest(place.hospital_id, [first])
        f = describe(first)
        assert f.transfer_syntax == ts
        expected = reference_gray(first, 40, 400)
        lossless = await picture(
            doctor, url(f) + "/rendered", params={"window": "40,400,linear"}, headers=PNG
        )
        assert lossless.shape == expected.shape
        assert np.abs(lossless - expected).max() <= 1, ts
        # Another window of the same frame (from the decoded-frame cache), then JPEG.
        wide = await picture(
            doctor, url(f) + "/rendered", params={"window": "-600,1500"}, headers=PNG
        )
        assert np.abs(wide - reference_gray(first, -600, 1500)).max() <= 1, ts
        jpeg = await picture(doctor, url(f) + "/rendered", params={"window": "40,400"})
        assert np.abs(jpeg - expected).mean() < 2.0, ts


@pytest.mark.parametrize(
    ("name", "ts"),
    [
        ("SC_jpeg_no_color_transform.dcm", JPEGBaseline8Bit),
        ("SC_rgb_jpeg_gdcm.dcm", JPEGLosslessSV1),
    ],
)
async def test_rendered_colour_jpeg_is_the_reference(doctor, place, name: str, ts: str) -> None:
    path = bundled_copy(name, Path(tempfile.mkdtemp(prefix="aimis-render-")))
    await ingest(place.hospital_id, [path], lenient=True)
    f = describe(path)
    assert f.transfer_syntax == ts
    # The reference is libjpeg (pylibjpeg), whatever decoder the app picked first.
    expected = pixel_array(str(path), index=0, decoding_plugin="pylibjpeg").astype(np.int16)
    got = await picture(doctor, url(f) + "/rendered", headers=PNG)
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 1.0 and np.abs(got - expected).max() <= 8


def replaced(path: Path, out: Path) -> Path:
    """The same instance (same UIDs) with other pixels: a new version when ingested."""
    ds = dcmread(path)
    arr = ds.pixel_array
    ds.PixelData = (arr.astype(np.int32)[::-1] + 37).astype(arr.dtype).tobytes()
    ds.save_as(out, enforce_file_format=True)
    return out


async def test_a_replaced_instance_never_shows_its_old_pixels(doctor, place) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aimis-render-"))
    [first, *_] = ct_series(folder, ExplicitVRLittleEndian, slices=2, seed=31)
    await ingest(place.hospital_id, [first])
    f = describe(first)
    old = reference_gray(first, 40, 400)
    params = {"window": "40,400"}
    assert (
        np.abs(await picture(doctor, url(f) + "/rendered", params=params, headers=PNG) - old).max()
        <= 1
    )
    thumb_before = await picture(doctor, url(f) + "/thumbnail", headers=PNG)
    newer = replaced(first, folder / "v2.dcm")
    await ingest(place.hospital_id, [newer])
    rows = await Instance.select(Instance.superseded).where(Instance.sop_uid == f.sop)
    assert sorted(r["superseded"] for r in rows) == [False, True]
    new = reference_gray(newer, 40, 400)
    assert np.abs(new - old).max() > 50  # the test means something: the pixels differ
    got = await picture(doctor, url(f) + "/rendered", params=params, headers=PNG)
    assert np.abs(got - new).max() <= 1
    other = await picture(doctor, url(f) + "/rendered", params={"window": "40,401"}, headers=PNG)
    assert np.abs(other - reference_gray(newer, 40, 401)).max() <= 1
    assert not np.array_equal(
        await picture(doctor, url(f) + "/thumbnail", headers=PNG), thumb_before
    )


async def test_a_deleted_study_is_not_rendered_from_any_cache(new_api, doctor, place) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aimis-render-"))
    [first, *_] = ct_series(folder, JPEGLSLossless, slices=2, seed=47)
    await ingest(place.hospital_id, [first])
    f = describe(first)
    assert (await doctor.get(url(f) + "/rendered")).status_code == 200  # now in memory
    study = await Study.select(Study.id, Study.version).where(Study.study_uid == f.study).first()
    assert study is not None
    admin = new_api()
    await admin.login(place.admin, PASSWORD, admin=True)
    reason = {"version": study["version"], "reason": "sent to the wrong patient's folder"}
    res = await admin.post(f"/api/archive/studies/{study['id']}/delete", json=reason)
    assert res.status_code == 200, res.text
    gone = await doctor.get(url(f) + "/rendered")
    assert gone.status_code == 404, gone.text
    assert (await doctor.get(url(f) + "/thumbnail")).status_code == 404


def test_middle_slices_are_the_thumbnails_choice() -> None:
    rows = [{"id": i, "series": 1 if i < 5 else 2} for i in range(8)]  # 5 + 3 slices
    assert [r["id"] for r in middle_slices(rows)] == [2, 6, 4]
    assert [r["id"] for r in middle_slices(rows[:3])] == [1]  # the study's middle is the series'
    assert middle_slices([]) == []


async def test_the_thumbnail_step_prerenders_the_middle_slice(doctor, place) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aimis-render-"))
    paths = ct_series(folder, JPEG2000Lossless, slices=5, seed=59)
    await ingest(place.hospital_id, paths)
    described = sorted(
        (describe(p) for p in paths), key=lambda f: int(dcmread(f.path).InstanceNumber)
    )
    study = await Study.select(Study.id).where(Study.study_uid == described[0].study).first()
    assert study is not None
    middle = described[len(described) // 2]
    sha = (await Instance.select(Instance.sha256).where(Instance.sop_uid == middle.sop).first())[
        "sha256"
    ]
    written = sorted(prerendered_root().glob(f"*/{sha}-*"))
    assert written == []
    assert await prerender_study(study["id"]) == 1
    names = sorted(p.name.split("-", 2)[2] for p in prerendered_root().glob(f"*/{sha}-*"))
    assert names == ["f1-128x128-q90.jpeg", "f1-full-q90.jpeg", "thumb-128x128-q90.jpeg"]
    assert await prerender_study(study["id"]) == 0  # already there: nothing drawn again
    # The first views are served from those files, even with the DICOM file away (the
    # pictures were drawn from it, and a request for another window still needs it).
    stored = await Instance.select(Instance.storage_path).where(Instance.sop_uid == middle.sop)
    dicom = files.online_path(stored[0]["storage_path"])
    away = dicom.with_name(dicom.name + ".away")
    shutil.move(dicom, away)
    try:
        base = url(middle) + "/frames/1"
        series_thumbnail = f"/dicomweb/studies/{middle.study}/series/{middle.series}/thumbnail"
        for path, variant in (
            (base + "/rendered", "f1-full-q90.jpeg"),
            (base + "/thumbnail", "f1-128x128-q90.jpeg"),
            (series_thumbnail, "thumb-128x128-q90.jpeg"),
        ):
            res = await doctor.get(path)
            assert res.status_code == 200, (path, res.text)
            [on_disk] = prerendered_root().glob(f"*/{sha}-*-{variant}")
            assert res.content == on_disk.read_bytes()
        res = await doctor.get(base + "/rendered", params={"window": "40,400"})
        assert res.status_code != 200  # not pre-rendered: drawn from the file, which is away
    finally:
        shutil.move(away, dicom)
    res = await doctor.get(base + "/rendered", params={"window": "40,400"})
    assert res.status_code == 200  # the file back, the other window is drawn


async def test_make_thumbnails_prerenders(place) -> None:
    from api.ingest.steps import create_run, ingest_file
    from store.uow import Ctx

    folder = Path(tempfile.mkdtemp(prefix="aimis-render-"))
    paths = ct_series(folder, RLELossless, slices=3, seed=67)
    run_id = await create_run(Ctx(), place.hospital_id, "import", "render speedups")
    for p in paths:
        assert (await ingest_file(run_id, p, file_name=p.name)).ok
    assert await make_thumbnails(run_id) == 1
    middle = describe(
        sorted(paths, key=lambda p: int(dcmread(p, stop_before_pixels=True).InstanceNumber))[1]
    )
    row = await Instance.select(Instance.sha256).where(Instance.sop_uid == middle.sop).first()
    assert row is not None
    assert len(list(prerendered_root().glob(f"*/{row['sha256']}-*"))) == 3
