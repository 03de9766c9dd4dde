"""The cloud-film notice by text message (issue 15 point 9): a patient without WeChat, or
one whose hospital's WeChat channel refuses the message for good, is told by Tencent Cloud
SMS — the real dispatcher and Prefect, the platform's SMS account pointed at the fake
SendSms server on loopback, which checks each request's signature; the exact request
asserted. A patient who opted out gets nothing."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from api.patient_archive import visibility
from store.db import transaction
from store.tables import (
    AuditLog,
    Notification,
    NotificationChannel,
    PatientMatch,
)
from store.uow import Ctx, unit_of_work
from tests.fakes.tencent_sms import FakeTencentSms
from tests.fixtures.exams import make_exam, make_place
from tests.fixtures.patients import make_person
from tests.fixtures.prefect import SMS_APP_ID, SMS_NOTICE_TEMPLATE
from tests.fixtures.waiting import outbox_settled
from tests.integration.test_cloud_film import match_by_hand, set_default
from tests.integration.test_notice_batches import task_runs

pytestmark = pytest.mark.integration
CTX = Ctx(ip="127.0.0.1", user_agent="patient test")


async def visible_match(hospital_id: int, name: str, pn: str, **person: Any) -> dict[str, Any]:
    """A person's manual match, visible at once, its notice queued now."""
    exam = await make_exam(hospital_id, name=pn)
    who = await make_person(name, **person)
    [made] = await match_by_hand(who["id"], exam)
    async with unit_of_work(CTX) as uow:
        await visibility.fire_due(uow, [exam])
    return {"id": made.id, "exam": exam, "phone": who["phone"], "openid": person.get("openid")}


def texts_to(sms: FakeTencentSms, phone: str) -> list[dict[str, Any]]:
    return [r.body for r in sms.requests if r.body.get("PhoneNumberSet") == [f"+{phone}"]]


async def test_no_wechat_or_a_refused_one_is_told_by_text_and_an_opt_out_is_not(
    sms_dispatcher, sms: FakeTencentSms, new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    link_base = "/patient/examinations/"

    plain = await visible_match(place.hospital_id, "马丁", "MA^DING=马丁")
    done = await outbox_settled(f"notify-patient-{plain['id']}", within=120)
    assert done["status"] == "done", done
    [text] = texts_to(sms, plain["phone"])
    assert text["TemplateId"] == SMS_NOTICE_TEMPLATE and text["SmsSdkAppId"] == SMS_APP_ID
    hospital, link = text["TemplateParamSet"]
    assert hospital.startswith("Exam test") and link.endswith(f"{link_base}{plain['exam']}")
    assert "马丁" not in str(text)  # nothing of the patient in the message
    assert all(r.signature_ok for r in sms.requests)
    [delivery] = await Notification.select().where(Notification.outbox_id == done["id"])
    assert (delivery["channel"], delivery["status"]) == ("sms", "sent")
    row = await PatientMatch.select().where(PatientMatch.id == plain["id"]).first()
    assert row["notified_at"] is not None

    quiet = await visible_match(place.hospital_id, "马丁", "MA^DING=马丁", opt_out=True)
    await outbox_settled(f"notify-patient-{quiet['id']}", within=120)
    assert texts_to(sms, quiet["phone"]) == []
    [skipped] = await AuditLog.select(AuditLog.outcome).where(
        AuditLog.action == "patient_match.notify", AuditLog.target_id == str(quiet["id"])
    )
    assert skipped["outcome"] == "skipped"

    # WeChat bound, but the hospital's channel refuses the message for good (its API host is
    # outside the outbound rule): the text goes instead
    res = await place.admin.post(
        "/api/notifications/channels",
        json={
            "kind": "wechat_oa",
            "settings": {
                "app_id": uniq("wx"),
                "secret": "OaSecret1",
                "template_id": "TPL-film",
                "base_url": sms.base_url,
            },
        },
    )
    assert res.status_code == 201, res.text
    channel = await NotificationChannel.select().where(NotificationChannel.id == res.json()["id"])
    config = dict(msgspec.json.decode(channel[0]["config"]))
    async with transaction():
        await NotificationChannel.update(
            {
                NotificationChannel.config: msgspec.json.encode(
                    {**config, "base_url": "http://127.0.0.2:9"}
                ).decode()
            }
        ).where(NotificationChannel.id == res.json()["id"])
    bound = await visible_match(
        place.hospital_id, "马丁", "MA^DING=马丁", openid="o" + uniq("refused") * 2
    )
    done = await outbox_settled(f"notify-patient-{bound['id']}", within=120)
    assert done["status"] == "done", done
    deliveries = {
        r["channel"]: r
        for r in await Notification.select().where(Notification.outbox_id == done["id"])
    }
    assert deliveries["wechat_oa"]["status"] != "sent"
    assert "not sent" in deliveries["wechat_oa"]["error"]
    assert deliveries["sms"]["status"] == "sent"
    assert len(texts_to(sms, bound["phone"])) == 1


async def test_a_days_notices_go_in_batches_each_a_task_run_of_its_own(
    sms_dispatcher, sms: FakeTencentSms, new_api, uniq, prefect_api
) -> None:
    """Examinations that become visible together (a day's reports) are told in batch flow
    runs (``notify-patient-batch``), each patient's notice a task run named after its match:
    every patient texted exactly once, fewer flow runs than notices."""
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    exams, phones, matches = [], {}, []
    for n in range(6):
        exam = await make_exam(place.hospital_id, name=f"BATCH^P{n}=批{n}")
        who = await make_person(f"批{n}")
        [made] = await match_by_hand(who["id"], exam)
        exams.append(exam)
        phones[made.id] = who["phone"]
        matches.append(made.id)
    async with unit_of_work(CTX) as uow:  # visible in one step: all queued in one commit
        await visibility.fire_due(uow, exams)
    keys = [f"notify-patient-{m}" for m in matches]
    rows = [await outbox_settled(key, within=120) for key in keys]
    assert [r["status"] for r in rows] == ["done"] * len(keys), rows
    for match_id, phone in phones.items():
        assert len(texts_to(sms, phone)) == 1, match_id
    runs = {r["flow_run_id"] for r in rows}
    assert len(runs) < len(rows), runs
    tasks = await task_runs(prefect_api, keys)
    assert sorted(t["name"] for t in tasks) == sorted(keys)
    by_key = {r["idempotency_key"]: r for r in rows}
    assert all(t["flow_run_id"] == by_key[t["name"]]["flow_run_id"] for t in tasks)
    async with httpx.AsyncClient(timeout=10) as http:
        res = await http.post(
            f"{prefect_api}/flow_runs/filter", json={"flow_runs": {"id": {"any_": list(runs)}}}
        )
    batched = [r for r in res.json() if r["parameters"].get("outbox_ids")]
    assert batched and all(r["state_type"] == "COMPLETED" for r in res.json())
