"""Remote ward rounds (SPEC 4): the process from the application to the printed record, its
guards and refusals, who sees a round and its examinations, the pinyin expert picker, the
list's search, and the reminder, start and overrun timers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from store.tables import Event, Hospital, WardRound, WardRoundRecordVersion
from store.uow import now
from store.zones import hospital_zone
from tests.fixtures.hospitals import as_user, hospital_id, user_id
from tests.fixtures.refusals import audited, refuse
from tests.fixtures.ward_rounds import (
    apply,
    fire,
    new_round,
    notices,
    patient_exams,
    pending,
    refused,
    snapshot,
    version,
)
from tests.integration.test_report_outputs import pdf_text  # poppler's pdftotext

pytestmark = pytest.mark.integration


async def _put(api, wid: int, **body) -> dict:
    res = await api.put(f"/api/ward-rounds/{wid}/record", json=body)
    assert res.status_code == 200, res.text
    return res.json()


async def test_the_whole_round_from_application_to_printed_record(new_api, uniq) -> None:
    idn, his = "3101041970" + uniq("")[:6].upper().replace("-", "0"), uniq("HIS-")
    exams = await patient_exams(idn, his)
    zhao, wid = await new_round(new_api, uniq, minutes=10, examination_ids=exams)
    wang, li = await as_user(new_api, "dr.wang"), await as_user(new_api, "dr.li")
    # the experts see it in their list and read the room with its examinations
    listed = (await wang.get("/api/ward-rounds")).json()
    assert wid in [r["id"] for r in listed]
    room = (await li.get(f"/api/ward-rounds/{wid}")).json()
    assert room["state"] == "scheduled" and room["my_roles"] == ["expert"]
    assert [e["id"] for e in room["examinations"]] == exams
    assert all(e["readable"] and e["viewer_url"] for e in room["examinations"])
    assert (await li.get(f"/api/exams/{exams[0]}")).status_code == 200
    # the experts were invited (notice "invited"), the applicant's creation is in the history
    first = (await notices(wid))[0]
    assert first["event"] == "invited" and first["business_type"] == "ward_round"
    assert sorted(first["user_ids"]) == sorted([await user_id("dr.wang"), await user_id("dr.li")])
    # an expert starts it (10 minutes ahead: within the start window)
    res = await wang.post(f"/api/ward-rounds/{wid}/start", json={"version": room["version"]})
    assert res.status_code == 200 and res.json()["state"] == "in_progress", res.text
    # the record: the conclusion by the applicant, an opinion by each expert, versioned
    saved = await _put(zhao, wid, record_version=0, conclusion="继续抗凝治疗，一周后复查。")
    assert saved["record_version"] == 1
    await refused(
        li,
        "PUT",
        f"/api/ward-rounds/{wid}/record",
        409,
        wid,
        "dr.li",
        "saved the ward-round record meanwhile",
        json={"record_version": 0, "opinion": "stale"},
    )
    await _put(wang, wid, record_version=1, opinion="考虑深静脉血栓，建议超声复查。")
    blocked = await refused(
        zhao,
        "POST",
        f"/api/ward-rounds/{wid}/finish",
        409,
        wid,
        APPLICANT_NAME,
        "has not written an opinion",
        json={"version": await version(wid)},
    )
    assert "Li Na" in blocked["detail"]
    await _put(li, wid, record_version=2, opinion="同意，注意出血风险。")
    assert await WardRoundRecordVersion.count().where(WardRoundRecordVersion.ward_round == wid) == 3
    res = await zhao.post(f"/api/ward-rounds/{wid}/finish", json={"version": await version(wid)})
    assert res.status_code == 200 and res.json()["state"] == "finished", res.text
    # every step: a history row, a live event, a notice to the people taking part
    timeline = [t["event"] for t in (await zhao.get(f"/api/ward-rounds/{wid}/timeline")).json()]
    assert timeline == ["create", "start", "record_saved", "record_saved", "record_saved", "finish"]
    events = await Event.select(Event.type).where(Event.topic == f"case:ward_round:{wid}")
    assert {"ward_round.create", "ward_round.start", "ward_round.finish"} <= {
        e["type"] for e in events
    }
    told = {n["event"]: n for n in await notices(wid)}
    people = sorted([await user_id("dr.zhao"), await user_id("dr.wang"), await user_id("dr.li")])
    assert sorted(told["start"]["user_ids"]) == people == sorted(told["finish"]["user_ids"])
    # printed in the hospital's layout
    pdf = await li.get(f"/api/ward-rounds/{wid}/record.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    for words in (
        "西山县医院",
        "远程查房记录",
        "继续抗凝治疗",
        "考虑深静脉血栓",
        "注意出血风险",
        "Li Na",
    ):
        assert words in text, words
    assert "DRAFT" not in text
    # a finished round refuses every change and stays as it was
    for method, path_, body, says in [
        ("POST", "cancel", {"version": await version(wid)}, "cannot cancel"),
        ("POST", "start", {"version": await version(wid)}, "cannot start"),
        ("POST", "finish", {"version": await version(wid)}, "cannot finish"),
        ("PUT", "record", {"record_version": 3, "conclusion": "x"}, "while the round is in"),
    ]:
        await refused(
            zhao,
            method,
            f"/api/ward-rounds/{wid}/{path_}",
            409,
            wid,
            APPLICANT_NAME,
            says,
            json=body,
        )


APPLICANT_NAME = "dr.zhao"


async def test_guards_cancel_and_who_may_do_what(new_api, uniq) -> None:
    zhao, wid = await new_round(new_api, uniq)  # two days ahead
    wang = await as_user(new_api, "dr.wang")
    url = f"/api/ward-rounds/{wid}"
    v = await version(wid)
    await refused(
        wang, "POST", f"{url}/start", 409, wid, "dr.wang", "15 minutes before", json={"version": v}
    )
    await refused(
        wang,
        "POST",
        f"{url}/cancel",
        403,
        wid,
        "dr.wang",
        "Only the applicant",
        json={"version": v},
    )
    await refused(
        zhao,
        "PUT",
        f"{url}/record",
        409,
        wid,
        "dr.zhao",
        "while the round is in progress",
        json={"record_version": 0, "conclusion": "x"},
    )
    await refused(
        zhao,
        "POST",
        f"{url}/cancel",
        409,
        wid,
        "dr.zhao",
        "changed by someone else",
        json={"version": v + 5},
    )
    # somebody taking no part: not found, audited (the round's existence does not leak)
    zhang = await as_user(new_api, "dr.zhang")
    await refused(zhang, "GET", url, 404, wid, "dr.zhang", "take no part in it")
    await refused(
        zhang, "POST", f"{url}/start", 404, wid, "dr.zhang", "take no part", json={"version": v}
    )
    assert wid not in [r["id"] for r in (await zhang.get("/api/ward-rounds")).json()]
    # a hospital with the module off: 403 on the API and the page
    chen = await as_user(new_api, "dr.chen")
    res = await chen.get("/api/ward-rounds")
    assert res.status_code == 403 and "switched off" in res.json()["detail"]
    assert (await chen.get("/ward-rounds")).status_code == 403
    # the applicant cancels before the start: the timers go, a cancelled round refuses change
    assert set(await pending(wid)) == {"reminder", "start"}
    res = await zhao.post(f"{url}/cancel", json={"version": v, "reason": "患者已出院"})
    assert res.status_code == 200 and res.json()["state"] == "cancelled", res.text
    assert await pending(wid) == {}
    for trigger in ("start", "finish", "cancel"):
        await refused(
            zhao,
            "POST",
            f"{url}/{trigger}",
            409,
            wid,
            "dr.zhao",
            f"cannot {trigger}",
            json={"version": await version(wid)},
        )


async def test_bad_applications_are_refused(new_api, uniq) -> None:
    zhao = await as_user(new_api, "dr.zhao")
    liu, chen = await user_id("dr.liu"), await user_id("dr.chen")  # WEST / EAST: no experts
    city_exam = (await patient_exams("110105199001011234", uniq("H"), "CITY", 1))[0]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"expert_ids": []}, 400, "at least one expert"),
        ({"expert_ids": [liu]}, 400, "cannot be a ward-round expert"),
        ({"expert_ids": [chen]}, 400, "cannot be a ward-round expert"),
        ({"scheduled_at": "2020-01-01T09:00"}, 400, "in the past"),
        ({"examination_ids": [city_exam]}, 404, "examination"),
        ({"topic": " "}, 400, "topic"),
    ]
    for body, status, says in cases:
        merged = {
            "topic": uniq("bad "),
            "scheduled_at": (now() + timedelta(days=1)).isoformat(),
            "expert_ids": [await user_id("dr.wang")],
            **body,
        }
        _, head = await refuse(
            zhao, "POST", "/api/ward-rounds", status, says, WardRound.count, json=merged
        )
        await audited(head, status, await user_id("dr.zhao"), tries=20)


async def test_pinyin_expert_search_and_the_list_search(new_api, uniq) -> None:
    zhao = await as_user(new_api, "dr.zhao")
    found = (await zhao.get("/api/ward-rounds/experts", params={"q": "ww"})).json()
    assert "Wang Wei 王伟" in [d["display_name"] for d in found["doctors"]]
    by_dept = (await zhao.get("/api/ward-rounds/experts", params={"q": "fsk"})).json()
    # leading hospitals only (City, and those other tests add to the alliance): never the
    # applicant's own or another county's
    leading = {
        r["name"]
        for r in await Hospital.select(Hospital.name).where(
            Hospital.alliance
            == (
                await Hospital.select(Hospital.alliance)
                .where(Hospital.id == await hospital_id("CITY"))
                .first()
            )["alliance"],
            Hospital.level == "leading",
        )
    }
    # departments come in hospital order (City first); doctors by name, so other tests'
    # leading hospitals may fill the doctors' page
    departments = {d["hospital_name"] for d in by_dept["departments"]}
    assert "City People's Hospital 市人民医院" in departments and departments <= leading
    assert {d["hospital_name"] for d in by_dept["doctors"]} <= leading
    ln = (await zhao.get("/api/contacts", params={"q": "ln"})).json()  # the consultations' too
    assert "Li Na 李娜" in [d["display_name"] for d in ln["doctors"]]
    topic = uniq("肺炎查房 ")
    made = await apply(
        zhao,
        topic,
        expert_ids=[await user_id("dr.wang")],
        patient={"name": "赵六", "id_number": "", "his_number": uniq("HIS")},
    )
    other = await apply(zhao, uniq("other "), expert_ids=[await user_id("dr.li")])

    async def ids(**params) -> list[int]:
        res = await zhao.get("/api/ward-rounds", params=params)
        assert res.status_code == 200, res.text
        return [r["id"] for r in res.json()]

    assert await ids(q=topic) == [made["id"]]
    assert made["id"] in await ids(patient="赵六") and other["id"] not in await ids(patient="赵六")
    assert made["id"] in await ids(expert="ww") and made["id"] not in await ids(expert="ln")
    zone = await hospital_zone(await hospital_id("WEST"))
    day = datetime.fromisoformat(made["scheduled_at"]).astimezone(zone).date().isoformat()
    assert made["id"] in await ids(q=topic, day_from=day, day_to=day)
    assert await ids(q=topic, day_to="2020-01-01") == []
    res = await zhao.get("/api/ward-rounds", params={"day_from": "tomorrow"})
    assert res.status_code == 400 and "not a date" in res.json()["detail"]


async def test_examinations_are_found_only_where_the_applicant_may_see(new_api, uniq) -> None:
    idn = "4401031985" + "0" * 6 + "12"
    west = await patient_exams(idn, uniq("H"))
    city = await patient_exams(idn, uniq("H"), "CITY", 1)
    zhao = await as_user(new_api, "dr.zhao")
    found = await zhao.get("/api/ward-rounds/examinations", params={"id_number": idn})
    assert found.status_code == 200, found.text
    ids = [e["id"] for e in found.json()]
    assert set(west) <= set(ids) and city[0] not in ids
    # attached, the experts read them; somebody else of the leading hospital does not
    made = await apply(zhao, uniq("exams "), examination_ids=west[:1])
    wang, zhang = await as_user(new_api, "dr.wang"), await as_user(new_api, "dr.zhang")
    assert (await wang.get(f"/api/exams/{west[0]}")).status_code == 200
    assert (await wang.get(f"/api/exams/{west[1]}")).status_code == 404
    assert (await zhang.get(f"/api/exams/{west[0]}")).status_code == 404
    res = await zhao.post(f"/api/ward-rounds/{made['id']}/cancel", json={"version": 1})
    assert res.status_code == 200, res.text
    assert (await wang.get(f"/api/exams/{west[0]}")).status_code == 404


async def test_reminders_start_and_overrun_timers(new_api, uniq) -> None:
    zhao, wid = await new_round(new_api, uniq)
    row = await WardRound.select(WardRound.scheduled_at).where(WardRound.id == wid).first()
    starts = row["scheduled_at"]
    timers = await pending(wid)
    assert timers["reminder"] == starts - timedelta(minutes=60)  # the first lead time
    assert timers["start"] == starts
    # half an hour before the start the first reminder fires and sets the next lead time's
    starts = now() + timedelta(minutes=30)
    await WardRound.update({WardRound.scheduled_at: starts}).where(WardRound.id == wid)
    assert await fire(wid, "reminder") == "fired"
    reminded = [n for n in await notices(wid) if n["event"] == "reminder"]
    assert len(reminded) == 1 and len(reminded[0]["user_ids"]) == 3 and reminded[0]["starts_at"]
    assert (await pending(wid))["reminder"] == starts - timedelta(minutes=15)
    # the time has come: the start timer starts it, the overrun timer follows
    await WardRound.update({WardRound.scheduled_at: now() - timedelta(minutes=1)}).where(
        WardRound.id == wid
    )
    assert await fire(wid, "start") == "fired"
    state = (await zhao.get(f"/api/ward-rounds/{wid}")).json()
    assert state["state"] == "in_progress"
    assert set(await pending(wid)) == {"overrun"}
    assert await fire(wid, "overrun") == "fired"
    assert [n["event"] for n in await notices(wid)][-1] == "overrun"
    history = (await zhao.get(f"/api/ward-rounds/{wid}/timeline")).json()
    assert history[-1]["event"] == "start" and history[-1]["actor"] == "system"
    assert (await snapshot(wid))["state"] == "in_progress"


async def test_the_demo_has_a_scheduled_and_a_finished_round(new_api) -> None:
    wang = await as_user(new_api, "dr.wang")
    rounds = (await wang.get("/api/ward-rounds", params={"q": "ward round"})).json()
    states = {r["topic"]: r["state"] for r in rounds}
    assert states["心衰患者查房 Heart failure ward round"] == "scheduled"
    assert states["肺部感染查房 Pneumonia ward round"] == "finished"
