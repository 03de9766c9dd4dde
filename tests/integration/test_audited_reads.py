"""The per-request work of an audited read (issue 18): the plain statements of the token, the
instance lookup and the audit row (each ``check``-ed against its table and run here), the
token → actor cache (a change through the app stops a token at once), the instance lookup's
scope (another hospital's instance is still not found) and the group writer of reads' audit
rows (every row committed when its read is answered)."""

# ruff: noqa: F811  (the dicom_data fixture is imported, then requested by name)

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import pytest

from api.dicomweb.lookup import stored_instance, stored_instances
from api.dicomweb.rendered import prerender, prerendered_path, prerendered_root, sweep_prerendered
from api.tokens import service as tokens
from api.tokens.cache import TokenCache
from kernel import security
from kernel.errors import NotFound
from store.db import transaction
from store.reads import ReadAudits
from store.sql import Statement, api_token, audit_log, check, instance_read
from store.tables import ApiToken, AuditLog
from store.uow import Ctx, actor_for, now, write_audit
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import (  # noqa: F401
    DicomData,
    dicom_data,
)
from tests.integration.test_ingest_recovery import kill9, web_process
from tests.integration.test_tokens import bearer, doctor_token, make_token, user_id

pytestmark = pytest.mark.integration

MODULES = (api_token, audit_log, instance_read)


def test_every_statement_matches_its_table() -> None:
    statements = [s for m in MODULES for s in m.STATEMENTS]
    assert statements and all(isinstance(s, Statement) for s in statements)
    for statement in statements:
        assert check(statement) == [], statement.sqlite


async def test_the_token_statements_run(new_api, dicom_data: DicomData) -> None:
    admin = new_api()
    await admin.login(dicom_data.home.admin, PASSWORD, admin=True)
    created = await make_token(admin, dicom_data.home.doctor)
    digest = security.token_hash(created["token"])
    row = await api_token.ACTOR_OF_TOKEN.one(token_hash=digest)
    assert row is not None
    assert row["id"] == created["info"]["id"] and row["user.username"] == dicom_data.home.doctor
    assert row["user.active"] is True and row["user.frozen"] is False
    assert row["user.hospital.active"] is True and row["revoked_at"] is None
    assert row["user.hospital"] == row["hospital"] == dicom_data.home.hospital_id
    assert tokens._refusal(row, now()) == ""
    at = now()
    async with transaction():
        await api_token.TOUCH.run(at=at, id=row["id"])
    stored = await ApiToken.select(ApiToken.last_used_at).where(ApiToken.id == row["id"]).first()
    assert stored is not None and stored["last_used_at"] == at
    again = await api_token.ACTOR_OF_TOKEN.one(token_hash=digest)
    assert again is not None and again["last_used_at"] == at
    assert await api_token.ACTOR_OF_TOKEN.one(token_hash="0" * 64) is None


async def test_the_audit_insert_stores_what_piccolo_reads(dicom_data: DicomData) -> None:
    actor = await actor_for(dicom_data.home.doctor)
    ctx = Ctx(actor=actor, ip="10.0.0.9", user_agent="x" * 400)
    async with transaction():
        await write_audit(ctx, "test.plain", "study", "1.2.3", detail="plain insert")
    row = (
        await AuditLog.select()
        .where(AuditLog.action == "test.plain")
        .order_by(AuditLog.id, ascending=False)
        .first()
    )
    assert row is not None
    assert (row["user_id"], row["username"], row["hospital_id"]) == (
        actor.user_id,
        actor.username,
        actor.hospital_id,
    )
    assert row["target_type"] == "study" and row["target_id"] == "1.2.3"
    assert row["ip"] == "10.0.0.9" and len(row["user_agent"]) == 300
    assert abs((now() - row["at"]).total_seconds()) < 60
    # its time compares with Piccolo's own rows (same stored form): found by a range query
    found = await AuditLog.count().where(AuditLog.id == row["id"], AuditLog.at >= row["at"])
    assert found == 1
    # outside a transaction it opens one of its own
    await write_audit(ctx, "test.plain.alone", detail="alone")
    assert await AuditLog.count().where(AuditLog.action == "test.plain.alone") >= 1


async def test_the_instance_lookup_keeps_the_scope(dicom_data: DicomData) -> None:
    f = dicom_data.first("CT")
    home = await actor_for(dicom_data.home.doctor)
    other = await actor_for(dicom_data.other.doctor)
    rows = await instance_read.CURRENT_BY_UIDS.fetch(
        study_uid=f.study, series_uid=f.series, sop_uid=f.sop
    )
    assert len(rows) == 1 and rows[0]["hospital"] == dicom_data.home.hospital_id
    assert rows[0]["study.deleted_at"] is None
    fast = await stored_instance(home, f.study, f.series, f.sop)
    assert fast == (await stored_instances(home, f.study, f.series, f.sop))[0]
    assert fast.sop_uid == f.sop and fast.series_uid == f.series and fast.study_uid == f.study
    with pytest.raises(NotFound):
        await stored_instance(other, f.study, f.series, f.sop)
    with pytest.raises(NotFound):
        await stored_instance(home, f.study, f.series, "1.2.999")
    assert not await instance_read.CURRENT_BY_UIDS.fetch(
        study_uid=f.study, series_uid="1.2.999", sop_uid=f.sop
    )


async def test_another_hospitals_token_gets_404_on_rendered_and_frames(
    new_api, app_url: str, dicom_data: DicomData
) -> None:
    admin = new_api()
    await admin.login(dicom_data.other.admin, PASSWORD, admin=True)
    token = (await make_token(admin, dicom_data.other.doctor))["token"]
    f = dicom_data.first("CT")
    base = f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}"
    async with bearer(app_url, token) as client:
        for path in ("/rendered", "/frames/1", "/frames/1/rendered", "/thumbnail"):
            res = await client.get(base + path, headers={"Accept": "*/*"})
            assert res.status_code == 404, (path, res.text)


async def rendered(client: httpx.AsyncClient, dicom_data: DicomData) -> httpx.Response:
    f = dicom_data.first("CT")
    url = f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}/rendered"
    return await client.get(url, headers={"Accept": "image/jpeg"})


async def test_a_change_through_the_app_stops_a_cached_token_at_once(
    new_api, app_url: str, dicom_data: DicomData
) -> None:
    """The app holds a live token's row for a few seconds; revoking the token, deactivating
    or freezing its account through the app's API refuse the very next request."""
    admin = new_api()
    await admin.login(dicom_data.home.admin, PASSWORD, admin=True)
    doctor = await user_id(dicom_data.home.doctor)
    for change, undo, words in (
        (f"/api/manage/doctors/{doctor}/deactivate", f"/api/manage/doctors/{doctor}/activate",
         "account is deactivated"),
        (f"/api/manage/doctors/{doctor}/freeze", f"/api/manage/doctors/{doctor}/unfreeze",
         "account is frozen"),
        ("revoke", "", "revoked"),
    ):  # fmt: skip
        created = await make_token(admin, dicom_data.home.doctor)
        async with bearer(app_url, created["token"]) as client:
            for _ in range(3):  # held by the app's cache now
                res = await rendered(client, dicom_data)
                assert res.status_code == 200, res.text
            if change == "revoke":
                res = await admin.delete(f"/api/tokens/{created['info']['id']}")
            else:
                res = await admin.post(change)
            assert res.status_code == 200, res.text
            res = await rendered(client, dicom_data)
            assert res.status_code == 401 and words in res.json()["detail"], res.text
            if undo:
                assert (await admin.post(undo)).status_code == 200
                assert (await rendered(client, dicom_data)).status_code == 200


async def test_a_refused_token_is_never_cached(new_api, app_url: str) -> None:
    _place, token = await doctor_token(new_api, "RTC-")
    async with bearer(app_url, "aimis_" + "x" * 40) as client:
        for _ in range(2):
            assert (await client.get("/dicomweb/studies")).status_code == 401
    async with bearer(app_url, token) as client:
        assert (await client.get("/dicomweb/studies")).status_code == 200


def test_the_cache_holds_nothing_while_a_change_is_open() -> None:
    """A row read while a change to accounts is uncommitted may be the old one: it is not
    kept, and what was kept before is dropped; once the change ends, rows are kept again."""

    class Tx:
        _committed = False
        _rolled_back = False

    cache = TokenCache(ttl=60)
    row = {"id": 1}
    cache.put("h", row, cache.generation)
    assert cache.get("h") is row
    tx = Tx()
    generation = cache.generation
    cache.changed(tx)
    assert cache.get("h") is None
    cache.put("h", row, cache.generation)  # read during the change
    assert cache.get("h") is None
    tx._committed = True
    cache.put("h", row, generation)  # read before the change: too old
    assert cache.get("h") is None
    cache.put("h", row, cache.generation)
    assert cache.get("h") is row
    expired = TokenCache(ttl=0)
    expired.put("h", row, expired.generation)
    assert expired.get("h") is None


async def test_the_group_writer_commits_every_row_before_it_answers(
    dicom_data: DicomData,
) -> None:
    actor = await actor_for(dicom_data.home.doctor)
    ctx = Ctx(actor=actor, ip="127.0.0.1", user_agent="group")
    writer = ReadAudits()
    tag = f"group {now().timestamp()}"

    async def read(n: int) -> int:
        await writer.write(ctx, "test.group", "study", str(n), detail=tag)
        # answered: the row is there for any other connection
        return await AuditLog.count().where(AuditLog.detail == tag, AuditLog.target_id == str(n))

    seen = await asyncio.gather(*(read(n) for n in range(20)))
    assert seen == [1] * 20
    assert writer.rows == 20 and writer.groups < 20
    assert await AuditLog.count().where(AuditLog.detail == tag) == 20


async def test_pictures_nobody_can_ask_for_are_swept(dicom_data: DicomData) -> None:
    """The pre-rendered pictures of a current online instance stay; those of a file that is
    no current instance (replaced, archived, never stored) and those of an older drawing
    version go."""
    f = dicom_data.first("CT")
    stored = await stored_instance(
        await actor_for(dicom_data.home.doctor), f.study, f.series, f.sop
    )
    kept = await asyncio.to_thread(prerender, stored.sha256, stored.path)
    kept = kept or [p for p in prerendered_root().glob(f"{stored.sha256[:2]}/{stored.sha256}-*")]
    assert kept
    stray_sha = "f" * 64
    stray = prerendered_path(stray_sha, "f1-full-q90.jpeg")
    old = prerendered_root() / stored.sha256[:2] / f"{stored.sha256}-v0-f1-full-q90.jpeg"
    for path in (stray, old):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"picture")
    removed, freed = await sweep_prerendered()
    assert removed >= 2 and freed >= 14
    assert not stray.exists() and not old.exists()
    assert all(p.exists() for p in kept)
    # a fresh one is spared when asked to
    stray.write_bytes(b"picture")
    await sweep_prerendered(older_than=3600)
    assert stray.exists()
    await sweep_prerendered()
    assert not stray.exists()


async def test_a_killed_web_process_lost_no_audit_row_of_an_answered_read(
    new_api, tmp_path, dicom_data: DicomData
) -> None:
    """Reads in flight on a second web process that is killed -9 mid-way: every read that was
    answered has its audit row (the group writer answers only after the commit)."""
    admin = new_api()
    await admin.login(dicom_data.home.admin, PASSWORD, admin=True)
    token = (await make_token(admin, dicom_data.home.doctor))["token"]
    f = dicom_data.first("CT")
    url = f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}/rendered"
    proc, base = web_process(tmp_path / "web.log")
    tag = f"kill9-{uuid.uuid4().hex[:8]}"
    answered: list[str] = []
    enough = asyncio.Event()
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            assert (await client.get(url, headers={"Accept": "image/jpeg"})).status_code == 200

            async def read(n: int) -> None:
                agent = f"{tag}-{n}"
                with contextlib.suppress(httpx.HTTPError):  # killed mid-request
                    res = await client.get(
                        url, headers={"Accept": "image/jpeg", "User-Agent": agent}
                    )
                    if res.status_code == 200 and res.content:
                        answered.append(agent)
                        if len(answered) >= 30:
                            enough.set()

            async def kill_soon() -> None:
                await enough.wait()
                kill9(proc)

            await asyncio.gather(kill_soon(), *(read(n) for n in range(400)))
    finally:
        if proc.poll() is None:
            kill9(proc)
    assert 30 <= len(answered) < 400, len(answered)
    rows = await AuditLog.select(AuditLog.user_agent).where(AuditLog.user_agent.like(f"{tag}-%"))
    written = {r["user_agent"] for r in rows}
    assert set(answered) <= written, sorted(set(answered) - written)[:5]
