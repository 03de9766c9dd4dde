"""A patient share link as a DICOMweb endpoint of its one study (issue 15 point 6 *Beyond*):
the unmodified ``dicomweb-client`` package with the link's bearer token, the browser's
cookie, UID tampering (404), revoked and expired links (410), the link's OHIF page, and the
patient-realm audit rows."""

# ruff: noqa: F811  (the shared fixture is imported, then requested by name)

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from dicomweb_client.api import DICOMwebClient

from store.db import transaction
from store.tables import AuditLog, PatientShare
from store.uow import now
from tests.fixtures.exams import study_with_images
from tests.integration.test_patient_shares import make_link, shared  # noqa: F401

pytestmark = pytest.mark.integration
UID = "0020000D", "0020000E", "00080018"


def first_value(item: dict[str, Any], tag: str) -> Any:
    return item[tag]["Value"][0]


async def bearer(app_url: str, url: str, password: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=app_url) as http:  # no cookie, no CSRF token
        res = await http.post(f"{url}/dicomweb/token", json={"password": password})
    assert res.status_code == 200, res.text
    return dict(res.json())


async def rows(share_id: int, action: str, outcome: str = "success") -> list[dict[str, Any]]:
    return await AuditLog.select().where(
        AuditLog.target_type == "patient_share",
        AuditLog.target_id == str(share_id),
        AuditLog.action == action,
        AuditLog.outcome == outcome,
    )


async def test_dicomweb_client_through_a_link(shared: dict, app_url: str) -> None:
    study = shared["study"]
    made = await make_link(shared["patient"], study["exam_id"], password="secret-dw")
    session = await bearer(app_url, made["url"], "secret-dw")
    root = f"{app_url}{made['url']}/dicomweb"
    assert session["dicomweb"].endswith(f"{made['url']}/dicomweb") and session["token"]
    client = DICOMwebClient(url=root, headers={"Authorization": f"Bearer {session['token']}"})

    def work() -> dict[str, Any]:
        studies = client.search_for_studies()
        assert [first_value(s, UID[0]) for s in studies] == [study["study_uid"]]
        assert f"{made['url']}/dicomweb/studies/" in first_value(studies[0], "00081190")
        series = client.search_for_series(study_instance_uid=study["study_uid"])
        series_uid = first_value(series[0], UID[1])
        instances = client.search_for_instances(
            study_instance_uid=study["study_uid"], series_instance_uid=series_uid
        )
        sop = first_value(instances[0], UID[2])
        metadata = client.retrieve_series_metadata(study["study_uid"], series_uid)
        assert sop in {first_value(m, UID[2]) for m in metadata}
        native = (("application/octet-stream", "1.2.840.10008.1.2.1"),)
        frames = client.retrieve_instance_frames(
            study["study_uid"], series_uid, sop, frame_numbers=[1], media_types=native
        )
        assert len(frames) == 1 and len(frames[0]) > 0
        picture = client.retrieve_instance_rendered(
            study["study_uid"], series_uid, sop, media_types=("image/jpeg",)
        )
        assert picture[:2] == b"\xff\xd8"
        dataset = client.retrieve_instance(study["study_uid"], series_uid, sop)
        assert dataset.SOPInstanceUID == sop
        return {"series": series_uid, "sop": sop, "instances": len(instances)}

    found = await anyio.to_thread.run_sync(work)
    assert found["instances"] > 0
    assert len(await rows(made["id"], "patient_share.open")) == 1  # the token is an opening
    reads = await rows(made["id"], "patient_share.dicomweb")
    assert len(reads) == 7  # one row per call
    assert any("dicomweb.frames" in r["detail"] for r in reads)
    assert all(r["username"].startswith("patient:") for r in reads)
    mine = (await shared["patient"].get("/api/patient/shares/")).json()
    assert next(r for r in mine if r["id"] == made["id"])["openings"] == 1


async def test_uid_tampering_is_not_found(shared: dict, app_url: str, tmp_path: Path) -> None:
    study = shared["study"]
    made = await make_link(shared["patient"], study["exam_id"], password="secret-dw")
    token = (await bearer(app_url, made["url"], "secret-dw"))["token"]
    other = await study_with_images(shared["place"].hospital_id, tmp_path / "other")
    http = httpx.AsyncClient(
        base_url=f"{app_url}{made['url']}/dicomweb",
        headers={"Authorization": f"Bearer {token}", "Accept": "*/*"},
    )
    async with http:
        series = (await http.get(f"/studies/{study['study_uid']}/series")).json()
        series_uid = first_value(series[0], UID[1])
        inst = (
            await http.get(f"/studies/{study['study_uid']}/series/{series_uid}/instances")
        ).json()
        sop = first_value(inst[0], UID[2])
        mine = f"/studies/{study['study_uid']}/series/{series_uid}/instances/{sop}"
        assert (await http.get(f"{mine}/metadata")).status_code == 200
        # the other study (same hospital, its own staff see it): not through this link
        for path in (
            f"/studies/{other['study_uid']}/metadata",
            f"/studies/{other['study_uid']}/thumbnail",
            f"/studies/{study['study_uid']}/series/1.2.3/metadata",
            f"/studies/{study['study_uid']}/series/{series_uid}/instances/1.2.3/frames/1",
            f"/studies/{other['study_uid']}/series/{series_uid}/instances/{sop}/rendered",
            f"/studies/{other['study_uid']}/series/{series_uid}/instances/{sop}",
        ):
            assert (await http.get(path)).status_code == 404, path
        # searches never list it
        assert (
            await http.get("/studies", params={"StudyInstanceUID": other["study_uid"]})
        ).json() == []
        assert (await http.get(f"/studies/{other['study_uid']}/series")).json() == []
        everything = (await http.get("/instances")).json()
        assert {first_value(i, UID[0]) for i in everything} == {study["study_uid"]}
    denied = await rows(made["id"], "patient_share.dicomweb", "denied")
    assert len(denied) == 6 and all("404" in r["detail"] for r in denied)


async def test_cookie_viewer_and_the_end_of_a_link(
    shared: dict, app_url: str, new_api: Any
) -> None:
    study = shared["study"]
    made = await make_link(shared["patient"], study["exam_id"], password="secret-dw")
    url = made["url"]
    doctor = new_api()
    assert (await doctor.get(f"{url}/dicomweb/studies")).status_code == 401
    page = await doctor.http.get(f"{url}/viewer/viewer?StudyInstanceUIDs={study['study_uid']}")
    assert page.status_code in (302, 303, 307) and page.headers["location"] == url
    assert (await doctor.post(f"{url}/open", json={"password": "secret-dw"})).status_code == 200
    res = await doctor.get(f"{url}/dicomweb/studies", headers={"Accept": "application/dicom+json"})
    assert res.status_code == 200 and len(res.json()) == 1
    page = await doctor.get(f"{url}/viewer/viewer?StudyInstanceUIDs={study['study_uid']}")
    assert page.status_code == 200 and f'src="{url}/viewer/app-config.js"' in page.text
    config = (await doctor.get(f"{url}/viewer/app-config.js")).text
    assert f'"routerBasename": "{url}/viewer"' in config and f'"{url}/dicomweb"' in config
    # someone else's session (another link) does not open this one
    second = await make_link(shared["patient"], study["exam_id"], password="secret-2nd")
    other_token = (await bearer(app_url, second["url"], "secret-2nd"))["token"]
    res = await new_api().get(
        f"{url}/dicomweb/studies", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert res.status_code == 401
    assert (await new_api().get("/s/no-such-link/dicomweb/studies")).status_code == 404
    # revoked: 410, for the cookie and for a bearer taken before
    token = (await bearer(app_url, url, "secret-dw"))["token"]
    assert (await shared["patient"].post(f"/api/patient/shares/{made['id']}/revoke")).is_success
    assert (await doctor.get(f"{url}/dicomweb/studies")).status_code == 410
    res = await new_api().get(
        f"{url}/dicomweb/studies", headers={"Authorization": f"Bearer {token}"}
    )
    assert res.status_code == 410
    assert (await doctor.get(f"{url}/viewer/viewer")).status_code == 410
    res = await new_api().post(f"{url}/dicomweb/token", json={"password": "secret-dw"})
    assert res.status_code == 410
    assert len(await rows(made["id"], "patient_share.dicomweb", "denied")) >= 2
    # expired: 410 as well
    token = (await bearer(app_url, second["url"], "secret-2nd"))["token"]
    async with transaction():
        await PatientShare.update({PatientShare.expires_at: now() - timedelta(seconds=1)}).where(
            PatientShare.id == second["id"]
        )
    res = await new_api().get(
        f"{second['url']}/dicomweb/studies", headers={"Authorization": f"Bearer {token}"}
    )
    assert res.status_code == 410
