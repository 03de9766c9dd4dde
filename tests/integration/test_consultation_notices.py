"""Who is told what at each step of a consultation (SPEC 3.6): the outbox rows the engine
writes from the declaration (states/consultation.py), and the texts the dispatcher makes of
them in both languages (notifiers/texts.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from api.consultations.reminders import send_reminder
from notifiers.base import Channel
from notifiers.texts import case_message
from store.tables import Consultation, Hospital, Timer
from store.uow import Ctx, unit_of_work
from tests.fixtures.consultations import create, decide, make_user, notify_rows, version
from tests.fixtures.hospitals import as_user, department, user_id

pytestmark = pytest.mark.integration


def told(rows: list[dict]) -> dict[str, set[int]]:
    return {r["event"]: set(r["user_ids"]) for r in rows}


def text(payload: dict, language: str) -> str:
    message = case_message(
        payload, channel=Channel.wecom_app, address="u", language=language, base_url="https://a"
    )
    return message.title


async def test_each_step_tells_each_person_once_with_his_own_words(new_api, uniq) -> None:
    li_id, liu_id = await user_id("dr.li"), await user_id("dr.liu")
    _, first_expert = await make_user(uniq, "WEST", "Radiology", "Radiologist")
    _, second_expert = await make_user(uniq, "WEST", "Radiology", "Radiologist")
    west = await department("WEST", "Radiology")
    li = await as_user(new_api, "dr.li")
    made = await create(
        li,
        [{"department_id": west, "mandatory": True, "expert_id": first_expert}],
        uniq("notices "),
    )
    cid = made["id"]

    # create: the applicant hears his request went out, the reviewer is asked to review,
    # the expert that he is invited.
    rows = await notify_rows(cid)
    assert told(rows) == {
        "submitted": {li_id},
        "create": {liu_id},
        "invited": {first_expert},
    }
    by_event = {r["event"]: r for r in rows}
    assert "please review" not in text(by_event["submitted"], "en")
    assert "sent to the invited departments" in text(by_event["submitted"], "en")
    assert "please review" in text(by_event["create"], "en")
    assert "invited as an expert" in text(by_event["invited"], "en")
    for row in rows:  # Chinese, not the English words
        zh = text(row, "zh")
        assert zh != text(row, "en") and "please" not in zh and "invited" not in zh

    # adjust the expert: the new one is told he is the expert, the old one that he is
    # replaced, the others that the expert changed.
    liu = await as_user(new_api, "dr.liu")
    res = await liu.post(
        f"/api/consultations/{cid}/expert",
        json={"department_id": west, "user_id": second_expert, "version": await version(cid)},
    )
    assert res.status_code == 200, res.text
    rows = (await notify_rows(cid))[3:]
    assert told(rows) == {
        "expert_assigned": {second_expert},
        "expert_replaced": {first_expert},
        "adjust_expert": {li_id},
    }
    replaced = next(r for r in rows if r["event"] == "expert_replaced")
    assert "no longer take part" in text(replaced, "en")

    # agree and join: the people taking part; the replaced expert is not among them.
    await decide(liu, cid, west, "agree_join")
    [agreed] = (await notify_rows(cid))[6:]
    assert agreed["event"] == "agree" and set(agreed["user_ids"]) == {li_id, liu_id, second_expert}

    # the reminder says when it starts, in the applicant hospital's clock, in both languages
    [timer] = await Timer.select(Timer.id).where(
        Timer.case_type == "consultation", Timer.case_id == cid, Timer.kind == "reminder"
    )
    async with unit_of_work(Ctx(user_agent="test")) as uow:
        assert await send_reminder(uow, cid, timer["id"])
    [reminder] = (await notify_rows(cid))[7:]
    assert set(reminder["user_ids"]) == {li_id, liu_id, second_expert}
    [row] = await Consultation.select(Consultation.scheduled_at).where(Consultation.id == cid)
    [city] = await Hospital.select(Hospital.time_zone).where(Hospital.code == "CITY")
    zone = city["time_zone"]
    local = row["scheduled_at"].astimezone(ZoneInfo(zone))
    expected = f"{local:%Y-%m-%d %H:%M} ({zone})"
    assert reminder["starts_at"] == expected
    assert f"starts at {expected}" in text(reminder, "en")
    assert expected in text(reminder, "zh") and "starts at" not in text(reminder, "zh")

    # start: the people taking part
    li_start = await li.post(
        f"/api/consultations/{cid}/start", json={"version": await version(cid)}
    )
    assert li_start.status_code == 200, li_start.text
    [started] = (await notify_rows(cid))[8:]
    assert started["event"] == "start"
    assert set(started["user_ids"]) == {li_id, liu_id, second_expert}


async def test_the_expert_of_a_department_that_declines_is_told(new_api, uniq) -> None:
    li_id = await user_id("dr.li")
    _, expert = await make_user(uniq, "WEST", "Radiology", "Radiologist")
    west = await department("WEST", "Radiology")
    li = await as_user(new_api, "dr.li")
    made = await create(
        li, [{"department_id": west, "mandatory": False, "expert_id": expert}], uniq("deny ")
    )
    cid = made["id"]
    liu = await as_user(new_api, "dr.liu")
    await decide(liu, cid, west, "deny", 1, reason="busy")
    [denied] = (await notify_rows(cid))[3:]
    assert denied["event"] == "deny" and set(denied["user_ids"]) == {li_id, expert}
    assert "declined" in text(denied, "en")
