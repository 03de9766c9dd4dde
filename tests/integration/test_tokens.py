"""Per-user API tokens: admins create (shown once, only a hash kept) and revoke; a doctor
lists his own; a token opens DICOMweb as its user — only there — and stops at once when
revoked, expired or its user is deactivated; another hospital's token sees nothing of ours."""

# ruff: noqa: F811  (the dicom_data fixture is imported, then requested by name)

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from api.tokens.cache import TTL_SECONDS
from kernel import security
from store.tables import ApiToken, AuditLog, User
from store.uow import now
from tests.fixtures.hospitals import DEMO_PASSWORD, PASSWORD, make_place, new_doctor
from tests.integration.test_dicomweb_data import (  # noqa: F401
    DicomData,
    Place,
    dicom_data,
    new_place,
)

pytestmark = pytest.mark.integration


async def user_id(username: str) -> int:
    row = await User.select(User.id).where(User.username == username).first()
    assert row is not None
    return int(row["id"])


async def test_the_alliance_admin_mints_no_token(new_api, dicom_data: DicomData) -> None:
    """A token reads DICOMweb as its user: minted by the alliance admin it would show him a
    hospital's images (SPEC "Users": no patient data; issue 12, finding 2)."""
    alliance = new_api()
    await alliance.login("alliance.admin", DEMO_PASSWORD, admin=True)
    before = await ApiToken.count()
    for username in (dicom_data.home.doctor, dicom_data.home.admin, "dr.wang"):
        res = await alliance.post(
            "/api/tokens", json={"user_id": await user_id(username), "name": "viewer"}
        )
        assert res.status_code == 403, res.text
        assert "hospital administrator creates it" in res.json()["detail"]
    assert await ApiToken.count() == before


async def make_token(admin, username: str, **extra: object) -> dict:
    res = await admin.post(
        "/api/tokens", json={"user_id": await user_id(username), "name": "viewer", **extra}
    )
    assert res.status_code == 201, res.text
    return res.json()


async def doctor_token(new_api, prefix: str) -> tuple[Place, str]:  # type: ignore[no-untyped-def]
    """A fresh hospital and a viewer token its admin made for its doctor."""
    place = await new_place(prefix)
    admin = new_api()
    await admin.login(place.admin, PASSWORD, admin=True)
    return place, (await make_token(admin, place.doctor))["token"]


async def refused_within_bound(client: httpx.AsyncClient, path: str = "/dicomweb/studies") -> str:
    """A change written by another process than the app's (this test's, straight to the
    database) stops a token the app has just seen within ``api.tokens.cache.TTL_SECONDS``
    (the app keeps a live token's row that long; changes through its own API stop it at
    once). The refusal's sentence."""
    start = time.monotonic()
    while True:
        res = await client.get(path)
        if res.status_code == 401:
            return str(res.json()["detail"])
        assert res.status_code == 200, res.text
        assert time.monotonic() - start < TTL_SECONDS + 1.0, "still accepted past the bound"
        await asyncio.sleep(0.1)


def bearer(app_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=app_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def test_create_list_revoke(new_api, app_url: str, dicom_data: DicomData) -> None:
    admin = new_api()
    await admin.login(dicom_data.home.admin, PASSWORD, admin=True)
    created = await make_token(admin, dicom_data.home.doctor, expires_days=30)
    token, info = created["token"], created["info"]
    assert token.startswith("aimis_") and info["prefix"] == token[:12]
    assert info["status"] == "active" and info["last_used_at"] is None
    row = await ApiToken.select().where(ApiToken.id == info["id"]).first()
    assert row["token_hash"] == security.token_hash(token) and token not in str(row)
    assert row["hospital"] == dicom_data.home.hospital_id

    async with bearer(app_url, token) as client:
        res = await client.get("/dicomweb/studies")
        assert res.status_code == 200
        assert {i["0020000D"]["Value"][0] for i in res.json()} == set(dicom_data.studies())
        # the token is for DICOMweb only: the rest of the API does not take it
        assert (await client.get("/api/auth/me")).status_code == 401
        assert (await client.get("/api/tokens")).status_code == 401
    listed = (await admin.get("/api/tokens")).json()
    mine = next(t for t in listed if t["id"] == info["id"])
    assert mine["last_used_at"] is not None and "token" not in mine

    doctor = new_api()
    await doctor.login(dicom_data.home.doctor, PASSWORD)
    own = (await doctor.get("/api/tokens")).json()
    assert [t["id"] for t in own] == [info["id"]]
    res = await doctor.post("/api/tokens", json={"user_id": 1, "name": "x"})
    assert res.status_code == 403
    assert (await doctor.delete(f"/api/tokens/{info['id']}")).status_code == 403

    res = await admin.delete(f"/api/tokens/{info['id']}")
    assert res.status_code == 200 and res.json()["status"] == "revoked"
    async with bearer(app_url, token) as client:
        res = await client.get("/dicomweb/studies")
        assert res.status_code == 401
        assert "revoked" in res.json()["detail"]
    actions = {
        r["action"]
        for r in await AuditLog.select(AuditLog.action).where(
            AuditLog.target_type == "api_token", AuditLog.target_id == str(info["id"])
        )
    }
    assert actions == {"api_token.create", "api_token.revoke"}


async def test_expired_token(new_api, app_url: str, dicom_data: DicomData) -> None:
    admin = new_api()
    await admin.login(dicom_data.home.admin, PASSWORD, admin=True)
    created = await make_token(admin, dicom_data.home.doctor)
    token = created["token"]
    await ApiToken.update({ApiToken.expires_at: now() - timedelta(minutes=1)}).where(
        ApiToken.id == created["info"]["id"]
    )
    async with bearer(app_url, token) as client:
        assert (await client.get("/dicomweb/studies")).status_code == 401
    listed = (await admin.get("/api/tokens")).json()
    assert next(t for t in listed if t["id"] == created["info"]["id"])["status"] == "expired"


async def test_token_of_another_hospital_sees_nothing_of_ours(
    new_api, app_url: str, dicom_data: DicomData
) -> None:
    admin = new_api()
    await admin.login(dicom_data.other.admin, PASSWORD, admin=True)
    token = (await make_token(admin, dicom_data.other.doctor))["token"]
    ours = dicom_data.first("CT")
    async with bearer(app_url, token) as client:
        res = await client.get("/dicomweb/studies")
        seen = {i["0020000D"]["Value"][0] for i in res.json()}
        assert seen == {f.study for f in dicom_data.other_files}
        res = await client.get(f"/dicomweb/studies/{ours.study}/metadata")
        assert res.status_code == 404
        res = await client.get(
            f"/dicomweb/studies/{ours.study}/series/{ours.series}/instances/{ours.sop}/frames/1"
        )
        assert res.status_code == 404
    row = (
        await AuditLog.select()
        .where(AuditLog.username == dicom_data.other.doctor)
        .order_by(AuditLog.id, ascending=False)
        .first()
    )
    assert row["outcome"] == "denied" and "may not see it" in row["detail"]


async def test_hospital_admin_scope_and_bad_input(new_api, dicom_data: DicomData) -> None:
    admin = new_api()
    await admin.login("admin.east", DEMO_PASSWORD, admin=True)
    # a user of another hospital is not found for this admin
    res = await admin.post(
        "/api/tokens", json={"user_id": await user_id("dr.wang"), "name": "pacs"}
    )
    assert res.status_code == 404
    for body, words in (
        ({"user_id": await user_id("dr.chen"), "name": " "}, "name of 1 to 100"),
        ({"user_id": await user_id("dr.chen"), "name": "x", "expires_days": 0}, "1 to 3650"),
    ):
        res = await admin.post("/api/tokens", json=body)
        assert res.status_code == 400 and words in res.json()["detail"]
    before = await ApiToken.count()
    res = await admin.post("/api/tokens", json={"name": "no user"})
    assert res.status_code == 400
    assert await ApiToken.count() == before
    created = await make_token(admin, "dr.chen")
    city = new_api()
    await city.login("admin.city", DEMO_PASSWORD, admin=True)
    assert created["info"]["id"] not in [t["id"] for t in (await city.get("/api/tokens")).json()]
    res = await city.delete(f"/api/tokens/{created['info']['id']}")
    assert res.status_code == 404
    row = await ApiToken.select().where(ApiToken.id == created["info"]["id"]).first()
    assert row["revoked_at"] is None


async def test_deactivated_user_token_stops(new_api, app_url: str, dicom_data: DicomData) -> None:
    place, token = await doctor_token(new_api, "DWT-")
    async with bearer(app_url, token) as client:
        assert (await client.get("/dicomweb/studies")).status_code == 200
        await User.update({User.active: False}).where(User.username == place.doctor)
        assert "deactivated" in await refused_within_bound(client)
        await User.update({User.active: True, User.frozen: True}).where(
            User.username == place.doctor
        )
        assert "frozen" in await refused_within_bound(client)


async def test_a_deactivated_hospitals_tokens_stop_and_come_back_with_it(
    new_api, app_url: str, demo, uniq
) -> None:
    """Issue 12 finding 3: every use checks the token's user and hospital, over the real API:
    the alliance admin deactivates the hospital → 401 saying why; reactivates → it works
    again (deactivation suspends; revoking ends a token). The same for the account itself."""
    place = await make_place(new_api, demo, uniq)
    doctor = await new_doctor(place, uniq)
    res = await place.admin.post("/api/tokens", json={"user_id": doctor["id"], "name": "pacs"})
    assert res.status_code == 201, res.text
    token = res.json()["token"]
    alliance = new_api()
    await alliance.login("alliance.admin", DEMO_PASSWORD, admin=True)

    async def set_hospital(active: bool) -> None:
        res = await alliance.patch(f"/api/manage/hospitals/{place.id}", json={"active": active})
        assert res.status_code == 200 and res.json()["active"] is active, res.text

    async with bearer(app_url, token) as client:
        assert (await client.get("/dicomweb/studies")).status_code == 200
        await set_hospital(False)
        for path in ("/dicomweb/studies", "/dicomweb/studies/1.2.3/series"):
            res = await client.get(path)
            assert res.status_code == 401, res.text
            assert res.json()["detail"] == "The bearer token's hospital is deactivated."
        await set_hospital(True)
        assert (await client.get("/dicomweb/studies")).status_code == 200

        for action, again, words in (
            ("deactivate", "activate", "account is deactivated"),
            ("freeze", "unfreeze", "account is frozen"),
        ):
            res = await place.admin.post(f"/api/manage/doctors/{doctor['id']}/{action}")
            assert res.status_code == 200, res.text
            res = await client.get("/dicomweb/studies")
            assert res.status_code == 401 and words in res.json()["detail"], res.text
            res = await place.admin.post(f"/api/manage/doctors/{doctor['id']}/{again}")
            assert res.status_code == 200, res.text
            assert (await client.get("/dicomweb/studies")).status_code == 200
    refused = await AuditLog.select(AuditLog.detail).where(
        AuditLog.outcome == "denied", AuditLog.detail.like("The bearer token's%")
    )
    assert {"The bearer token's hospital is deactivated."} <= {r["detail"] for r in refused}


async def test_a_token_does_not_follow_its_user_to_another_hospital(
    new_api, app_url: str, dicom_data: DicomData
) -> None:
    place, token = await doctor_token(new_api, "MVT-")
    async with bearer(app_url, token) as client:
        assert (await client.get("/dicomweb/studies")).status_code == 200
        # no API moves an account between hospitals; an old row or a future one must not
        # carry the token along into the other hospital's images
        await User.update({User.hospital: dicom_data.home.hospital_id}).where(
            User.username == place.doctor
        )
        assert "another hospital" in await refused_within_bound(client)
