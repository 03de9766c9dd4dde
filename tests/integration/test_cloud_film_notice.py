"""The cloud-film notice (SPEC 8.7; issue 15 point 9): a matched examination's timer falls
due, the real ``sweep-timers`` flow fires it on the real Prefect server, and the real
dispatcher sends the patient a WeChat official-account template message through the
hospital's channel to a fake WeChat server on loopback — the exact request asserted. A
patient who opted out is not told; the rule page counts the patients told."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.patient_archive import matching
from api.patient_archive.schemas import ManualMatch
from kernel.settings import get_settings
from store.tables import AuditLog, Examination, Notification, Outbox, PatientMatch, Timer
from store.uow import Ctx
from tests.fixtures.exams import make_exam, make_place
from tests.fixtures.patients import make_person
from tests.fixtures.waiting import outbox_settled
from tests.integration.test_cloud_film import RULES, set_default
from tests.integration.test_timers import SWEEP, counts_of

pytestmark = pytest.mark.integration
OA_SEND = "/cgi-bin/message/template/send"
CTX = Ctx(ip="127.0.0.1", user_agent="patient test")


async def matched(hospital_id: int, name: str, pn: str, **person: Any) -> tuple[dict, int]:
    exam = await make_exam(hospital_id, name=pn, date="20260115")
    row = await Examination.select().where(Examination.id == exam).first()
    who = await make_person(name, **person)
    [made] = await matching.manual_match(
        CTX, who["id"], ManualMatch(accession_number=row["accession_number"])
    )
    return who, made.id


async def test_the_due_timer_tells_the_patient_by_wechat_and_respects_her_opt_out(
    dispatcher, fake, run_flow, new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    appid = uniq("wx")
    res = await place.admin.post(
        "/api/notifications/channels",
        json={
            "kind": "wechat_oa",
            "settings": {
                "app_id": appid,
                "secret": "OaSecret1",
                "template_id": "TPL-film",
                "base_url": fake.base_url,
            },
        },
    )
    assert res.status_code == 201, res.text
    # visible 1 hour after the exam (January): due at once, but only through the timer
    await set_default(place.admin, visible_when="after_hours", visible_hours=1)
    openid, quiet_openid = "o" + uniq("film") * 2, "o" + uniq("quiet") * 2
    person, match_id = await matched(place.hospital_id, "林雪", "LIN^XUE=林雪", openid=openid)
    _, quiet_id = await matched(
        place.hospital_id, "林雪", "LIN^XUE=林雪", openid=quiet_openid, opt_out=True
    )
    _, no_wechat_id = await matched(place.hospital_id, "马丁", "MA^DING=马丁")
    for mid in (match_id, quiet_id, no_wechat_id):
        assert await Timer.exists().where(
            Timer.case_type == "patient_match", Timer.case_id == mid, Timer.fired_at.is_null()
        )
        assert not await Outbox.exists().where(Outbox.idempotency_key == f"notify-patient-{mid}")

    counts = counts_of(run_flow(SWEEP))
    assert counts["fired"] >= 3 and counts["failed"] == 0

    told = await outbox_settled(f"notify-patient-{match_id}", within=120)
    assert told["status"] == "done", told
    exam_id = (await PatientMatch.select().where(PatientMatch.id == match_id).first())[
        "examination"
    ]
    link = f"{get_settings().base_url}/patient/examinations/{exam_id}"
    hospital = "Exam test"  # the test hospital's name starts so
    sends = [r for r in fake.sent(OA_SEND) if r.body.get("touser") == openid]
    assert len(sends) >= 1 and sends[0].accepted
    body = sends[0].body
    assert body["template_id"] == "TPL-film" and body["url"] == link
    assert body["data"]["first"]["value"].startswith("云胶片：您在" + hospital)
    assert body["data"]["first"]["value"].endswith("的检查已加入影像档案")
    assert body["data"]["keyword1"] == {"value": f"登录查看: {link}"}
    assert "林雪" not in str(body)  # nothing of the patient in the message
    row = await PatientMatch.select().where(PatientMatch.id == match_id).first()
    assert row["notified_at"] is not None
    [delivery] = await Notification.select().where(Notification.outbox_id == told["id"])
    assert (delivery["channel"], delivery["status"]) == ("wechat_oa", "sent")

    # She opted out: no message, the log says so.
    await outbox_settled(f"notify-patient-{quiet_id}", within=120)
    assert not [r for r in fake.sent(OA_SEND) if r.body.get("touser") == quiet_openid]
    assert (await PatientMatch.select().where(PatientMatch.id == quiet_id).first())[
        "notified_at"
    ] is None
    skipped = await AuditLog.select(AuditLog.outcome, AuditLog.detail).where(
        AuditLog.action == "patient_match.notify", AuditLog.target_id == str(quiet_id)
    )
    assert skipped == [{"outcome": "skipped", "detail": "the patient opted out of notices"}]

    # No WeChat bound and no text-message sender yet: recorded as such, not faked.
    plain = await outbox_settled(f"notify-patient-{no_wechat_id}", within=120)
    [sms] = await Notification.select().where(Notification.outbox_id == plain["id"])
    assert (sms["channel"], sms["status"]) == ("sms", "failed")
    assert "text-message notice" in sms["error"]

    # The rule page counts the patients told under the rule.
    read = (await place.admin.get(RULES)).json()
    assert (read["default"]["matched"], read["default"]["notified"]) == (3, 1)
    # Fired once: the next sweep sends nothing again.
    before = len(fake.sent(OA_SEND))
    run_flow(SWEEP)
    await asyncio.sleep(1)
    assert len(fake.sent(OA_SEND)) == before
    assert person["id"] == row["person"]
