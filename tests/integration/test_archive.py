"""The archive tier against the real database and data folder (SPEC 9.2, 8.9): studies past
their policy move into one verified container each; a crash at any step leaves the online
copy or a verified container; a retrieval restores and verifies every file, re-archiving
removes them again. The steps are called here in-process; ``test_archive_flows.py`` runs
the same through the dispatcher and Prefect."""

from __future__ import annotations

import asyncio
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from api.archive import rules
from api.archive.container import MANIFEST, container_path, verify_container
from api.ingest.steps import create_run, ingest_file
from imaging.synth import Sizes, synth
from store import files
from store.tables import (
    ArchiveRetrieval,
    AuditLog,
    CaseHistory,
    Hospital,
    Instance,
    Outbox,
    Study,
    Timer,
)
from store.uow import Ctx, now
from tests.fixtures.hospitals import DEMO_PASSWORD as PASSWORD

pytestmark = pytest.mark.integration


async def hospital_id(code: str = "EAST") -> int:
    row = await Hospital.select(Hospital.id).where(Hospital.code == code).first()
    return int(row["id"])


async def ingest_study(tmp: Path, code: str = "EAST", age_days: int = 400) -> int:
    """A fresh synthetic CT study (4 small slices) indexed for ``code``, made old."""
    hid = await hospital_id(code)
    paths = [p for p in synth(tmp, patients=1, sizes=Sizes.small()) if "CT" in p.name] or synth(
        tmp, patients=1, sizes=Sizes.small()
    )
    run_id = await create_run(Ctx(), hid, "import", "archive test")
    results = [await ingest_file(run_id, p) for p in paths]
    assert all(r.ok for r in results), [r.reason for r in results]
    study_id = results[0].study_id
    assert study_id is not None
    await Study.update({Study.created_at: now() - timedelta(days=age_days)}).where(
        Study.id == study_id
    )
    return int(study_id)


async def tier(study_id: int) -> str:
    row = await Study.select(Study.tier).where(Study.id == study_id).first()
    return str(row["tier"])


async def online_files(study_id: int) -> list[Path]:
    members = await rules.members_of(study_id)
    return [files.online_path(m.storage_path) for m in members]


async def container(study_id: int) -> Path:
    row = await Study.select(Study.hospital, Study.study_uid).where(Study.id == study_id).first()
    return container_path(row["hospital"], row["study_uid"], study_id)


@pytest.fixture
async def study(tmp_path: Path) -> int:
    return await ingest_study(tmp_path)


async def test_a_study_past_its_policy_moves_into_a_verified_container(study: int) -> None:
    hid = await hospital_id()
    assert study in await rules.due_studies(rules.Policy(hid, archive_after_days=365), 10_000)
    young = rules.Policy(hid, archive_after_days=500)
    assert study not in await rules.due_studies(young, 10_000)
    members = await rules.members_of(study)
    assert await rules.archive_study(study) == "archived"
    assert await tier(study) == "archive"
    assert not any(p.exists() for p in await online_files(study))
    path = await container(study)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {m.storage_path for m in members} | {MANIFEST}
    assert verify_container(path, members) == len(members)
    audit = await AuditLog.select().where(
        AuditLog.action == "study.archive", AuditLog.target_id == str(study)
    )
    assert [a["outcome"] for a in audit] == ["success"]
    # an archived study is not due again
    assert study not in await rules.due_studies(rules.Policy(hid, 365), 10_000)


async def test_a_crash_before_the_commit_leaves_the_study_online(study: int) -> None:
    await rules.write_and_verify(study)  # ... and the process dies here
    assert await tier(study) == "online"
    assert all(p.exists() for p in await online_files(study))
    assert await rules.archive_study(study) == "archived"  # the next run starts over
    assert await tier(study) == "archive"


async def test_a_crash_after_the_commit_leaves_both_copies_and_the_next_run_tidies(
    study: int,
) -> None:
    members = await rules.write_and_verify(study)
    assert await rules.commit_archive(study, members)  # ... and the process dies here
    assert await tier(study) == "archive"
    assert all(p.exists() for p in await online_files(study))
    assert await rules.remove_leftovers(await hospital_id()) >= len(members)
    assert not any(p.exists() for p in await online_files(study))
    assert verify_container(await container(study), members) == len(members)


async def test_an_online_file_that_differs_from_its_checksum_is_never_archived(
    study: int,
) -> None:
    victim = (await online_files(study))[0]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    assert (await rules.archive_study(study)).startswith("refused")
    assert await tier(study) == "online"
    assert all(p.exists() for p in await online_files(study))
    assert not (await container(study)).exists()
    assert not list((await container(study)).parent.glob(".tmp-*"))
    refused = await AuditLog.select().where(
        AuditLog.action == "study.archive", AuditLog.target_id == str(study)
    )
    assert [a["outcome"] for a in refused] == ["failure"]
    assert "differs from its checksum" in refused[0]["detail"]


async def test_instances_arriving_between_container_and_commit_keep_the_study_online(
    study: int, tmp_path: Path
) -> None:
    members = await rules.write_and_verify(study)
    assert not await rules.commit_archive(study, members[:-1])
    assert await tier(study) == "online"


# --- retrievals over HTTP, the flow steps called in-process ----------------------------------


async def admin(new_api, name: str = "admin.east"):  # type: ignore[no-untyped-def]
    client = new_api()
    await client.login(name, PASSWORD, admin=True)
    return client


async def archived_study(tmp: Path) -> int:
    study_id = await ingest_study(tmp)
    assert await rules.archive_study(study_id) == "archived"
    return study_id


async def history(retrieval_id: int) -> list[tuple[str, str]]:
    rows = (
        await CaseHistory.select(CaseHistory.event, CaseHistory.to_state)
        .where(CaseHistory.case_type == "retrieval", CaseHistory.case_id == retrieval_id)
        .order_by(CaseHistory.id)
    )
    return [(r["event"], r["to_state"]) for r in rows]


async def test_retrieval_restores_verifies_and_rearchives(new_api, tmp_path: Path) -> None:
    study_id = await archived_study(tmp_path)
    east = await admin(new_api)
    res = await east.post("/api/archive/retrievals", json={"study_id": study_id, "reason": " "})
    assert res.status_code == 400 and "why" in res.json()["detail"]
    res = await east.post(
        "/api/archive/retrievals", json={"study_id": study_id, "reason": "follow-up comparison"}
    )
    assert res.status_code == 201, res.text
    rid = res.json()["id"]
    assert res.json()["state"] == "queued"
    assert await tier(study_id) == "restoring"
    box = await Outbox.select().where(Outbox.idempotency_key == f"retrieval-{rid}").first()
    assert box["kind"] == "archive.retrieve" and str(rid) in box["payload"]
    again = await east.post(
        "/api/archive/retrievals", json={"study_id": study_id, "reason": "twice"}
    )
    assert again.status_code == 409 and "already being retrieved" in again.json()["detail"]

    assert await rules.restore(rid) == "available"
    assert await tier(study_id) == "available"
    members = await rules.members_of(study_id)
    for m in members:
        assert files.sha256_of(files.online_path(m.storage_path)) == m.sha256
    detail = (await east.get(f"/api/archive/retrievals/{rid}")).json()
    assert detail["retrieval"]["state"] == "available"
    assert [(h["event"], h["to_state"]) for h in detail["history"]] == [
        ("request", "requested"),
        ("queue", "queued"),
        ("restore", "restoring"),
        ("ready", "available"),
    ]
    timer = await Timer.select().where(Timer.case_type == "retrieval", Timer.case_id == rid).first()
    assert timer["kind"] == "rearchive" and timer["fired_at"] is None
    until = (await ArchiveRetrieval.select().where(ArchiveRetrieval.id == rid).first())[
        "available_until"
    ]
    assert timedelta(hours=71) < until - now() <= timedelta(hours=72)
    dup = await east.post("/api/archive/retrievals", json={"study_id": study_id, "reason": "x"})
    assert dup.status_code == 409 and "available until" in dup.json()["detail"]

    # not due yet: the timer sweep writes nothing, re-archiving refuses
    assert await rules.fire_rearchive_timers() == 0
    assert (await rules.rearchive(rid)).startswith("not yet")
    past = now() - timedelta(minutes=1)
    await ArchiveRetrieval.update({ArchiveRetrieval.available_until: past}).where(
        ArchiveRetrieval.id == rid
    )
    await Timer.update({Timer.due_at: past}).where(Timer.id == timer["id"])
    assert await rules.fire_rearchive_timers() == 1
    assert await rules.fire_rearchive_timers() == 0  # claimed once
    box = await Outbox.select().where(Outbox.idempotency_key == f"rearchive-{rid}").first()
    assert box["kind"] == "archive.rearchive"
    assert await rules.rearchive(rid) == "rearchived"
    assert await tier(study_id) == "archive"
    assert not any(p.exists() for p in await online_files(study_id))
    assert (await history(rid))[-1] == ("rearchive", "rearchived")
    assert await rules.rearchive(rid) == "rearchived"  # a second delivery changes nothing


async def test_a_damaged_container_fails_the_retrieval_with_the_reason(
    new_api, tmp_path: Path
) -> None:
    study_id = await archived_study(tmp_path)
    path = await container(study_id)
    path.write_bytes(path.read_bytes()[:200])  # the cold tier lost most of it
    east = await admin(new_api)
    res = await east.post(
        "/api/archive/retrievals", json={"study_id": study_id, "reason": "second opinion"}
    )
    rid = res.json()["id"]
    assert await rules.restore(rid) == "failed"
    detail = (await east.get(f"/api/archive/retrievals/{rid}")).json()
    assert detail["retrieval"]["state"] == "failed"
    assert "cannot be read" in detail["retrieval"]["error"]
    assert detail["history"][-1]["event"] == "fail"
    assert await tier(study_id) == "archive"
    assert not any(p.exists() for p in await online_files(study_id))


async def test_other_hospitals_and_doctors_cannot_retrieve(new_api, tmp_path: Path) -> None:
    study_id = await archived_study(tmp_path)
    west = await admin(new_api, "admin.west")
    res = await west.post("/api/archive/retrievals", json={"study_id": study_id, "reason": "x"})
    assert res.status_code == 404
    doctor = new_api()
    await doctor.login("dr.wang", PASSWORD)
    res = await doctor.post("/api/archive/retrievals", json={"study_id": study_id, "reason": "x"})
    assert res.status_code == 403
    assert await tier(study_id) == "archive"
    assert not await ArchiveRetrieval.exists().where(ArchiveRetrieval.study == study_id)
    denied = await AuditLog.select().where(
        AuditLog.action == "POST /api/archive/retrievals", AuditLog.outcome == "denied"
    )
    assert len(denied) >= 2
    online = await ingest_study(tmp_path / "online", age_days=1)
    east = await admin(new_api)
    res = await east.post("/api/archive/retrievals", json={"study_id": online, "reason": "x"})
    assert res.status_code == 409 and "online" in res.json()["detail"]


async def test_retrievals_are_their_hospitals_alone(new_api, tmp_path: Path) -> None:
    """A retrieval names a patient's study: its hospital's admin requests and follows it;
    the alliance admin (SPEC "Users": no patient data; issue 12, finding 2) and other
    hospitals' admins never see it."""
    study_id = await archived_study(tmp_path)
    alliance = await admin(new_api, "alliance.admin")
    refused = await alliance.post(
        "/api/archive/retrievals", json={"study_id": study_id, "reason": "alliance audit"}
    )
    assert refused.status_code == 403 and "never a patient's data" in refused.json()["detail"]
    assert not await ArchiveRetrieval.exists().where(ArchiveRetrieval.study == study_id)
    east = await admin(new_api)
    res = await east.post("/api/archive/retrievals", json={"study_id": study_id, "reason": "x"})
    assert res.status_code == 201, res.text
    assert res.json()["hospital_name"]
    assert (await alliance.get("/api/archive/retrievals")).status_code == 403
    assert (await alliance.get(f"/api/archive/retrievals/{res.json()['id']}")).status_code == 403
    west = await admin(new_api, "admin.west")
    assert res.json()["id"] not in [
        r["id"] for r in (await west.get("/api/archive/retrievals")).json()
    ]
    assert (await west.get(f"/api/archive/retrievals/{res.json()['id']}")).status_code == 404


# --- storage policy --------------------------------------------------------------------------


async def test_policy_editor_checks_values_and_versions(new_api) -> None:
    east = await admin(new_api)
    policy = (await east.get("/api/archive/policy")).json()
    version = policy["version"]
    bad = await east.put("/api/archive/policy", json={"version": version, "archive_after_days": 0})
    assert bad.status_code == 400 and "between 1 and 36500" in bad.json()["detail"]
    assert (await east.get("/api/archive/policy")).json() == policy
    ok = await east.put(
        "/api/archive/policy",
        json={"version": version, "archive_after_days": 180, "available_hours": 48},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["archive_after_days"] == 180 and ok.json()["version"] == version + 1
    stale = await east.put("/api/archive/policy", json={"version": version, "validity_days": 9})
    assert stale.status_code == 409
    policy = await rules.policy_of(await hospital_id())
    assert (policy.archive_after_days, policy.available_hours) == (180, 48)
    alliance = await admin(new_api, "alliance.admin")
    res = await alliance.put("/api/archive/policy", json={"version": 1, "validity_days": 9})
    assert res.status_code == 403
    names = {p["hospital_name"] for p in (await alliance.get("/api/archive/policies")).json()}
    assert len(names) >= 3
    assert len((await east.get("/api/archive/policies")).json()) == 1
    # put the default back for the other tests
    back = (await east.get("/api/archive/policy")).json()["version"]
    await east.put(
        "/api/archive/policy",
        json={"version": back, "archive_after_days": 365, "available_hours": 72},
    )


async def test_run_now_queues_one_policy_run(new_api) -> None:
    east = await admin(new_api)
    res = await east.post("/api/archive/policy/run", json={})
    assert res.status_code == 202, res.text
    again = await east.post("/api/archive/policy/run", json={})
    assert again.status_code == 409
    hid = await hospital_id()
    rows = await Outbox.select().where(
        Outbox.kind == "archive.policy", Outbox.idempotency_key.like(f"archive-policy-{hid}-%")
    )
    assert any(r["status"] == "pending" for r in rows)
    await Outbox.update({Outbox.status: "done"}).where(
        Outbox.kind == "archive.policy", Outbox.status == "pending"
    )  # no dispatcher in this module
    alliance = await admin(new_api, "alliance.admin")
    assert (await alliance.post("/api/archive/policy/run", json={})).status_code == 400
    res = await alliance.post("/api/archive/policy/run", json={"hospital_id": hid})
    assert res.status_code == 202
    await Outbox.update({Outbox.status: "done"}).where(
        Outbox.kind == "archive.policy", Outbox.status == "pending"
    )


# --- soft delete and restore (SPEC 8.11) ------------------------------------------------------


async def test_soft_delete_and_restore(new_api, tmp_path: Path) -> None:
    study_id = await ingest_study(tmp_path, age_days=1)
    east = await admin(new_api)
    listed = (await east.get("/api/archive/studies", params={"tier": "online"})).json()
    row = next(s for s in listed["items"] if s["id"] == study_id)
    url = f"/api/archive/studies/{study_id}"
    res = await east.post(f"{url}/delete", json={"version": row["version"], "reason": ""})
    assert res.status_code == 400
    res = await east.post(f"{url}/delete", json={"version": row["version"] - 1, "reason": "dup"})
    assert res.status_code == 409
    alliance = await admin(new_api, "alliance.admin")
    res = await alliance.post(f"{url}/delete", json={"version": row["version"], "reason": "x"})
    assert res.status_code == 403
    west = await admin(new_api, "admin.west")
    res = await west.post(f"{url}/delete", json={"version": row["version"], "reason": "x"})
    assert res.status_code == 404
    res = await east.post(
        f"{url}/delete", json={"version": row["version"], "reason": "sent to the wrong patient"}
    )
    assert res.status_code == 200, res.text
    version = res.json()["version"]
    ids = [
        s["id"]
        for s in (await east.get("/api/archive/studies", params={"limit": 200})).json()["items"]
    ]
    assert study_id not in ids
    deleted = (await east.get("/api/archive/deleted")).json()
    assert study_id in [s["id"] for s in deleted["items"]]
    res = await east.post(f"{url}/delete", json={"version": version, "reason": "again"})
    assert res.status_code == 409
    assert all(p.exists() for p in await online_files(study_id))  # files are kept
    res = await east.post(f"{url}/restore", json={"version": version})
    assert res.status_code == 200, res.text
    assert study_id not in [
        s["id"] for s in (await east.get("/api/archive/deleted")).json()["items"]
    ]
    study = await Study.select().where(Study.id == study_id).first()
    assert study["deleted_at"] is None and study["deleted_by"] is None
    actions = [
        a["action"]
        for a in await AuditLog.select(AuditLog.action)
        .where(AuditLog.target_type == "study", AuditLog.target_id == str(study_id))
        .order_by(AuditLog.id)
    ]
    assert actions[-2:] == ["study.delete", "study.restore"]
    res = await east.post(f"{url}/restore", json={"version": version + 1})
    assert res.status_code == 409
    assert await Instance.count().where(Instance.study == study_id) > 0


async def test_of_two_simultaneous_requests_exactly_one_wins(new_api, tmp_path: Path) -> None:
    study_id = await archived_study(tmp_path)
    east, again = await admin(new_api), await admin(new_api)  # two sessions of the admin
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/archive/retrievals", json={"study_id": study_id, "reason": f"race {n}"}
            )
            for n, client in enumerate([east, again, east, again])
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    assert await ArchiveRetrieval.count().where(ArchiveRetrieval.study == study_id) == 1
    assert await tier(study_id) == "restoring"


def test_the_machine_refuses_with_sentences() -> None:
    from states.retrieval import RETRIEVAL, RetrievalFacts, RetrievalState

    s = RetrievalState
    d = RETRIEVAL.decide(s.restoring, "ready", RetrievalFacts(instances=4, verified=3))
    assert not d.allowed and d.reason == "Only 3 of 4 restored files were verified."
    assert RETRIEVAL.decide(s.restoring, "ready", RetrievalFacts(4, 4)).dest == s.available
    later = now() + timedelta(hours=1)
    d = RETRIEVAL.decide(s.available, "rearchive", RetrievalFacts(available_until=later, now=now()))
    assert not d.allowed and "stays available until" in d.reason
    assert not RETRIEVAL.decide(s.queued, "fail", RetrievalFacts()).allowed
    assert RETRIEVAL.decide(s.queued, "fail", RetrievalFacts(reason="disk")).dest == s.failed
    d = RETRIEVAL.decide(s.available, "fail", RetrievalFacts(reason="x"))
    assert not d.allowed and d.reason == "You cannot fail a retrieval that is available."
    assert RETRIEVAL.terminal == {s.rearchived, s.failed}


ARCHIVE_ONE = """
import asyncio, sys
from store.db import close_pool, start_pool
from api.archive.rules import archive_study

async def main():
    await start_pool()
    print("ready", flush=True)
    print(await archive_study(int(sys.argv[1])), flush=True)
    await close_pool()

asyncio.run(main())
"""


async def test_a_killed_archiver_leaves_one_good_copy_at_every_moment(tmp_path: Path) -> None:
    """SIGKILL an archiving process at several moments of a 21 MB, 40-slice CT study: each
    time the study is either online with every file intact or archived with a container
    that verifies; a second run always completes."""
    import contextlib
    import os
    import signal

    from pydicom.uid import ExplicitVRLittleEndian

    from tests.fixtures.children import python_child

    hid = await hospital_id()
    sizes = Sizes(ct=512, ct_slices=40, mr=48, mr_slices=3, us_frames=2)
    outcomes = []
    for n, delay in enumerate((0.1, 0.5, 1.0, 1.8)):
        out = tmp_path / f"k{n}"
        ct = {"CT": ExplicitVRLittleEndian}
        paths = synth(out, patients=1, sizes=sizes, transfer_syntaxes=ct)
        run_id = await create_run(Ctx(), hid, "import", "kill test")
        results = [await ingest_file(run_id, p) for p in paths]
        study_id = max(
            {r.study_id for r in results}, key=lambda s: sum(r.study_id == s for r in results)
        )
        assert study_id is not None
        proc = await python_child(ARCHIVE_ONE, study_id)
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(delay)  # the child archives meanwhile
        # on a quiet machine the child may finish first: that is a moment to check too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        members = await rules.members_of(study_id)
        state = await tier(study_id)
        if state == "online":
            for m in members:
                assert files.sha256_of(files.online_path(m.storage_path)) == m.sha256
        else:
            assert state == "archive"
            assert verify_container(await container(study_id), members) == len(members)
        outcomes.append(state)
        # the next run finishes the work
        if state == "online":
            assert await rules.archive_study(study_id) == "archived"
        await rules.remove_leftovers(hid)
        assert await tier(study_id) == "archive"
        assert verify_container(await container(study_id), members) == len(members)
        assert not any(p.exists() for p in await online_files(study_id))
    print("tier after each kill:", outcomes)


async def test_an_instance_arriving_after_archiving_is_never_removed(tmp_path: Path) -> None:
    """An image of the study arriving while its container is written stops the archiving
    (the study stays online with every file); once the study is archived, ingest refuses
    further images of it. Either way no image is lost."""
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    hid = await hospital_id()
    paths = synth(tmp_path, patients=1, sizes=Sizes.small())
    run_id = await create_run(Ctx(), hid, "import", "late instance")
    results = [await ingest_file(run_id, p) for p in paths]
    first = results[0]
    assert first.study_id is not None
    study_id = int(first.study_id)
    ds = dcmread(paths[0])

    def another(name: str) -> Path:
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        out = tmp_path / name
        ds.save_as(out)
        return out

    members = await rules.write_and_verify(study_id)
    late = await ingest_file(run_id, another("late.dcm"))  # while the container is written
    assert late.ok and late.study_id == study_id
    assert not await rules.commit_archive(study_id, members)  # members changed: no commit
    assert await tier(study_id) == "online"
    await rules.remove_leftovers(hid)
    late_row = await Instance.select().where(Instance.id == late.instance_id).first()
    assert files.online_path(late_row["storage_path"]).exists()
    assert all(files.online_path(m.storage_path).exists() for m in members)
    # archived for real now, the late image inside; a later image is refused, nothing removed
    assert await rules.archive_study(study_id) == "archived"
    later = await ingest_file(run_id, another("later.dcm"))
    assert (later.status, later.code) == ("refused", "archived")
    assert not await Instance.exists().where(Instance.sop_uid == ds.SOPInstanceUID)


async def test_the_sweep_fails_abandoned_retrievals_and_queues_stuck_requests(
    new_api, tmp_path: Path
) -> None:
    study_id = await archived_study(tmp_path / "a")
    east = await admin(new_api)
    res = await east.post("/api/archive/retrievals", json={"study_id": study_id, "reason": "x"})
    rid = res.json()["id"]
    await Outbox.update({Outbox.status: "failed", Outbox.error: "Prefect said no 5 times"}).where(
        Outbox.idempotency_key == f"retrieval-{rid}"
    )
    assert await rules.fail_abandoned() >= 1
    detail = (await east.get(f"/api/archive/retrievals/{rid}")).json()
    assert detail["retrieval"]["state"] == "failed"
    assert "Prefect said no 5 times" in detail["retrieval"]["error"]
    assert await tier(study_id) == "archive"

    # a request whose queueing step never ran (the web app died between the two)
    stuck_study = await archived_study(tmp_path / "b")
    hid = await hospital_id()
    await Study.update({Study.tier: "restoring"}).where(Study.id == stuck_study)
    made = now() - timedelta(minutes=5)
    row = await ArchiveRetrieval.insert(
        ArchiveRetrieval(
            hospital=hid,
            study=stuck_study,
            state="requested",
            requested_by=1,
            reason="stuck",
            created_at=made,
            updated_at=made,
        )
    ).returning(ArchiveRetrieval.id)
    stuck = row[0]["id"]
    assert await rules.queue_stuck_requests() >= 1
    state = await ArchiveRetrieval.select(ArchiveRetrieval.state).where(
        ArchiveRetrieval.id == stuck
    )
    assert state[0]["state"] == "queued"
    assert await Outbox.exists().where(Outbox.idempotency_key == f"retrieval-{stuck}")
