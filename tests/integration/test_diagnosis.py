"""Remote diagnosis requests (SPEC 2.2) over real HTTP against the real app and database:
who writes the report (``store.diagnosis``), the request's API and every step, visibility
of the shared examination both ways, the alliance rule, concurrency, bad input (a sentence,
nothing changed, audited), live events and notices.

Every test makes its own hospitals (unique codes) and examinations, so tests share one
database without depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from aimis.domain import Kind, Module
from aimis.errors import Conflict
from api.management.service import (
    create_account,
    create_department,
    create_hospital,
)
from store.diagnosis import follow_report, reporting_hospital
from store.engine import timeline
from store.tables import (
    Alliance,
    CaseHistory,
    DiagnosisRequest,
    Event,
    Examination,
    Outbox,
    Role,
)
from store.uow import Actor, Ctx, unit_of_work
from tests.integration.test_exams import make_exam

pytestmark = pytest.mark.integration

PASSWORD = "Good#Pass123"
CTX = Ctx(ip="127.0.0.1", user_agent="test")


@dataclass
class Site:
    """A fresh hospital with a Radiology department, a radiologist (report.write), a senior
    radiologist (report.write + review), a clinician (neither) and an admin."""

    hospital_id: int
    alliance_id: int
    code: str
    name: str
    users: dict[str, str]  # role key → username
    ids: dict[str, int]  # role key → user id


ROLES = {"doctor": "Radiologist", "senior": "Senior radiologist", "clinician": "Clinician"}


async def make_site(
    uniq: Any,
    *,
    level: str = "lower",
    modules: list[str] | None = None,
    alliance_id: int | None = None,
) -> Site:
    if alliance_id is None:
        alliance_id = int((await Alliance.select(Alliance.id).order_by(Alliance.id).first())["id"])
    code = uniq("DX-")
    name = f"Diagnosis test {code} 诊断测试医院"
    hospital_id = await create_hospital(
        CTX,
        alliance_id,
        name,
        code,
        level,
        modules if modules is not None else [m.value for m in Module],
    )
    department_id = await create_department(CTX, hospital_id, "Radiology 放射科")
    users: dict[str, str] = {}
    ids: dict[str, int] = {}
    for key, role_name in ROLES.items():
        role = await Role.select(Role.id).where(
            Role.hospital == hospital_id, Role.name == role_name
        ).first()
        users[key] = uniq("dx.")
        ids[key] = await create_account(
            CTX,
            username=users[key],
            password=PASSWORD,
            display_name=f"{role_name} {users[key]}",
            kind=Kind.doctor,
            alliance_id=alliance_id,
            hospital_id=hospital_id,
            department_id=department_id,
            role_id=role["id"],
        )
    users["admin"] = uniq("dxa.")
    ids["admin"] = await create_account(
        CTX,
        username=users["admin"],
        password=PASSWORD,
        display_name="Hospital admin",
        kind=Kind.hospital_admin,
        alliance_id=alliance_id,
        hospital_id=hospital_id,
    )
    return Site(hospital_id, alliance_id, code, name, users, ids)


async def login(new_api: Any, site: Site, key: str = "doctor") -> Any:
    client = new_api()
    await client.login(site.users[key], PASSWORD, admin=key == "admin")
    return client


def actor_ctx(site: Site, key: str = "doctor") -> Ctx:
    """The Ctx of a site's user for calling the store directly (as R's and P's services do)."""
    return Ctx(
        actor=Actor(
            user_id=site.ids[key],
            username=site.users[key],
            kind=Kind.doctor.value,
            alliance_id=site.alliance_id,
            hospital_id=site.hospital_id,
            department_id=None,
            permissions=frozenset({"report.write", "report.review", "report.print"}),
            session_id=0,
            realm="user",
        ),
        ip="127.0.0.1",
        user_agent="test",
    )


async def exam_row(exam_id: int) -> dict[str, Any]:
    return await Examination.select().where(Examination.id == exam_id).first()


async def request_row(request_id: int) -> dict[str, Any]:
    return await DiagnosisRequest.select().where(DiagnosisRequest.id == request_id).first()


async def send(client: Any, exam_id: int, target: Site, **extra: Any) -> Any:
    body = {"examination_id": exam_id, "target_hospital_id": target.hospital_id, **extra}
    return await client.post("/api/diagnosis-requests", json=body)


async def sent(client: Any, exam_id: int, target: Site, **extra: Any) -> dict[str, Any]:
    res = await send(client, exam_id, target, **extra)
    assert res.status_code == 201, res.text
    return dict(res.json())


async def step(client: Any, request_id: int, action: str, **body: Any) -> Any:
    return await client.post(f"/api/diagnosis-requests/{request_id}/{action}", json=body)


async def notices(request_id: int) -> list[dict[str, Any]]:
    rows = (
        await Outbox.select(Outbox.payload)
        .where(
            Outbox.kind == "notify",
            Outbox.idempotency_key.like(f"notify-diagnosis_request-{request_id}-%"),
        )
        .order_by(Outbox.id)
    )
    return [msgspec.json.decode(r["payload"]) for r in rows]


# --- the store contract: reporting_hospital and follow_report ---------------------------------


async def test_reporting_hospital_follows_the_open_request(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    exam = await exam_row(exam_id)
    assert await reporting_hospital(exam) == lower.hospital_id  # no request: its own
    client = await login(new_api, lower)
    request = await sent(client, exam_id, leading, clinical_info="cough", urgent=True)
    with pytest.raises(Conflict) as waiting:
        await reporting_hospital(exam)
    assert waiting.value.message == (
        f"The examination waits for {leading.name} to accept the remote diagnosis request."
    )
    target = await login(new_api, leading)
    assert (await step(target, request["id"], "accept")).status_code == 200
    assert await reporting_hospital(exam) == leading.hospital_id
    # a rejected or cancelled request gives the report back to the examination's hospital
    other = await make_exam(lower.hospital_id)
    second = await sent(client, other, leading)
    res = await step(target, second["id"], "reject", reason="no radiologist on duty")
    assert res.status_code == 200, res.text
    assert await reporting_hospital(await exam_row(other)) == lower.hospital_id
    third = await sent(client, other, leading)
    assert (await step(client, third["id"], "cancel")).status_code == 200
    assert await reporting_hospital(await exam_row(other)) == lower.hospital_id


async def test_follow_report_moves_the_request_with_the_report(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    client = await login(new_api, lower)
    request = await sent(client, exam_id, leading)
    rid = request["id"]
    target = await login(new_api, leading)
    assert (await step(target, rid, "accept")).status_code == 200
    ctx = actor_ctx(leading)

    async def follow(step_name: str, hospital_id: int | None = None) -> str:
        async with unit_of_work(ctx):  # as R and P call it: inside their unit of work
            await follow_report(ctx, exam_id, hospital_id or leading.hospital_id, step_name)
        return str((await request_row(rid))["state"])

    # a report of another hospital (the requester's own hospital) moves nothing
    assert await follow("draft", lower.hospital_id) == "accepted"
    assert await follow("draft") == "reporting"
    assert await follow("draft") == "reporting"  # a second save: no-op
    assert await follow("initial") == "initial_report"
    assert await follow("return") == "returned"
    assert await follow("initial") == "initial_report"  # straight from returned
    assert await follow("approve") == "reviewed"
    assert await follow("print") == "printed"
    assert await follow("print") == "printed"  # a reprint: no-op
    history = [(h["event"], h["to_state"]) for h in await timeline("diagnosis_request", rid)]
    assert history == [
        ("create", "requested"),
        ("accept", "accepted"),
        ("draft", "reporting"),
        ("initial", "initial_report"),
        ("return", "returned"),
        ("draft", "reporting"),
        ("initial", "initial_report"),
        ("approve", "reviewed"),
        ("print", "printed"),
    ]
    # the requesting hospital hears every step live
    events = await Event.select(Event.type).where(
        Event.topic == f"hospital:{lower.hospital_id}",
        Event.type.like("diagnosis_request.%"),
    )
    assert [e["type"] for e in events][-3:] == [
        "diagnosis_request.initial",
        "diagnosis_request.approve",
        "diagnosis_request.print",
    ]
    # the requesting doctor is told of acceptance, review and printing
    told = [(n["event"], n["user_ids"]) for n in await notices(rid)]
    assert ("review", [lower.ids["doctor"]]) in told and ("print", [lower.ids["doctor"]]) in told
    # a step out of order is refused (the report's transaction rolls back with it)
    with pytest.raises(Conflict):
        await follow("approve")
    assert (await request_row(rid))["state"] == "printed"


async def test_follow_report_rolls_back_with_the_report(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    request = await sent(await login(new_api, lower), exam_id, leading)
    assert (await step(await login(new_api, leading), request["id"], "accept")).status_code == 200
    ctx = actor_ctx(leading)
    with pytest.raises(RuntimeError):
        async with unit_of_work(ctx):
            await follow_report(ctx, exam_id, leading.hospital_id, "draft")
            raise RuntimeError("the report's own write failed")
    row = await request_row(request["id"])
    assert (row["state"], row["version"]) == ("accepted", 2)
    assert await CaseHistory.count().where(
        CaseHistory.case_type == "diagnosis_request", CaseHistory.case_id == request["id"]
    ) == 2
