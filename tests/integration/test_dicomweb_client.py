"""The ``dicomweb-client`` package, unmodified, against the running server with a bearer
token: search, metadata, frames (decoded and as stored), rendered, whole instances."""

# ruff: noqa: F811  (the dicom_data fixture is imported, then requested by name)

from __future__ import annotations

import io

import anyio
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.uid import UID

from imaging.frames import encoded_frame, native_frame
from store.tables import User
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import (  # noqa: F401
    DicomData,
    dicom_data,
)

pytestmark = pytest.mark.integration
MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


@pytest.fixture
async def client(new_api, app_url: str, dicom_data: DicomData) -> DICOMwebClient:
    admin = new_api()
    await admin.login(dicom_data.home.admin, PASSWORD, admin=True)
    user = await User.select(User.id).where(User.username == dicom_data.home.doctor).first()
    res = await admin.post("/api/tokens", json={"user_id": user["id"], "name": "dicomweb-client"})
    assert res.status_code == 201, res.text
    return DICOMwebClient(
        url=f"{app_url}/dicomweb", headers={"Authorization": f"Bearer {res.json()['token']}"}
    )


async def test_dicomweb_client_end_to_end(client: DICOMwebClient, dicom_data: DicomData) -> None:
    def work() -> None:
        ct = dicom_data.first("CT")
        studies = client.search_for_studies(search_filters={"PatientID": ct.patient_id})
        assert ct.study in {s["0020000D"]["Value"][0] for s in studies}
        studies = client.search_for_studies(
            fields=["StudyDescription"],
            limit=2,
            offset=0,
            search_filters={"ModalitiesInStudy": "CT"},
        )
        assert {s["0020000D"]["Value"][0] for s in studies} <= set(dicom_data.studies())
        series = client.search_for_series(study_instance_uid=ct.study)
        assert [s["0020000E"]["Value"][0] for s in series] == [ct.series]
        instances = client.search_for_instances(
            study_instance_uid=ct.study, series_instance_uid=ct.series
        )
        assert ct.sop in {i["00080018"]["Value"][0] for i in instances}

        metadata = client.retrieve_series_metadata(ct.study, ct.series)
        assert ct.sop in {m["00080018"]["Value"][0] for m in metadata}
        assert all("00280010" in m for m in metadata)
        study_metadata = client.retrieve_study_metadata(ct.study)
        assert len(study_metadata) == len(metadata)

        native = (("application/octet-stream", "1.2.840.10008.1.2.1"),)
        for f in {f.transfer_syntax: f for f in dicom_data.files}.values():
            decoded = client.retrieve_instance_frames(
                f.study, f.series, f.sop, frame_numbers=[1], media_types=native
            )
            assert decoded == [native_frame(f.path, 0).data], f.transfer_syntax
            compressed = UID(f.transfer_syntax).is_compressed
            # the client's default (*/*) takes the frame as stored
            anything = client.retrieve_instance_frames(f.study, f.series, f.sop, frame_numbers=[1])
            assert anything == ([encoded_frame(f.path, 0)] if compressed else decoded), (
                f.transfer_syntax
            )
            if compressed and f.transfer_syntax in MEDIA:
                stored = client.retrieve_instance_frames(
                    f.study,
                    f.series,
                    f.sop,
                    frame_numbers=[1],
                    media_types=((MEDIA[f.transfer_syntax], f.transfer_syntax),),
                )
                assert stored == [encoded_frame(f.path, 0)], f.transfer_syntax

        png = client.retrieve_instance_rendered(
            ct.study, ct.series, ct.sop, media_types=("image/png",), params={"window": "40,400"}
        )
        assert Image.open(io.BytesIO(png)).format == "PNG"
        jpeg = client.retrieve_instance_frames_rendered(
            ct.study, ct.series, ct.sop, frame_numbers=[1], media_types=("image/jpeg",)
        )
        assert Image.open(io.BytesIO(jpeg)).format == "JPEG"

        instance = client.retrieve_instance(ct.study, ct.series, ct.sop)
        assert instance.SOPInstanceUID == ct.sop
        assert instance.pixel_array.shape == (64, 64)

    await anyio.to_thread.run_sync(work)
