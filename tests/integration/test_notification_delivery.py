"""Hospital channels end to end (SPEC 3.6, 8.8): the real app, the real dispatcher running
real Prefect flows, apprise's WeCom plugins and our official-account plugin talking HTTP to
a fake WeChat/WeCom server on loopback. Exact payloads per channel, rules followed, a
failing channel retried then reported, and the fault test: the server fails, recovers, the
dispatcher is killed mid-delivery and restarted — every committed notification arrives,
duplicates only where the delivery log says "possible duplicate"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.settings import get_settings
from store.tables import Notification, Outbox, User
from store.uow import Ctx, unit_of_work
from tests.fakes.smtp import FakeSmtp
from tests.fakes.wechat import FakeWeChat
from tests.fixtures.consultations import (
    create,
)
from tests.fixtures.hospitals import Place, as_user, department, make_place, new_doctor
from tests.fixtures.prefect import DispatcherProcess, own_dispatcher

pytestmark = pytest.mark.integration

APP_SEND, APP_TOKEN = "/cgi-bin/message/send", "/cgi-bin/gettoken"
BOT_SEND = "/cgi-bin/webhook/send"
OA_SEND, OA_TOKEN = "/cgi-bin/message/template/send", "/cgi-bin/token"


@pytest.fixture(scope="module")
def wecom_dispatcher(
    database: str, prefect_home: Path, prefect_proxy: Any, smtp: FakeSmtp
) -> Iterator[DispatcherProcess]:
    """The real dispatcher, with room for a few failed attempts before a row gives up."""
    yield from own_dispatcher(
        prefect_home,
        prefect_proxy,
        "dispatcher",
        AIMIS_DISPATCH_MAX_ATTEMPTS="6",
        AIMIS_SMTP_URL=smtp.url,
    )


@pytest.fixture
def fresh(fake: FakeWeChat) -> Iterator[FakeWeChat]:
    fake.fail_next, fake.hold_seconds = 0, 0
    yield fake
    fake.fail_next, fake.hold_seconds = 0, 0


def base_url() -> str:
    return get_settings().base_url


async def add_channel(place: Place, kind: str, settings: dict[str, str]) -> int:
    res = await place.admin.post(
        "/api/notifications/channels", json={"kind": kind, "settings": settings}
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def set_rule(place: Place, business_type: str, ids: list[int], audience: str) -> None:
    res = await place.admin.put(
        f"/api/notifications/rules/{business_type}",
        json={"channel_ids": ids, "audience": audience},
    )
    assert res.status_code == 200, res.text


async def bind(place: Place, user_id: int, **values: str) -> None:
    res = await place.admin.patch(f"/api/notifications/bindings/{user_id}", json=values)
    assert res.status_code == 200, res.text


async def queue_notice(key: str, payload: dict[str, Any]) -> int:
    """A case step's notice, committed the way a transition commits it."""
    async with unit_of_work(Ctx()) as uow:
        await uow.outbox("notify", payload, key=key)
    row = await Outbox.select(Outbox.id).where(Outbox.idempotency_key == key).first()
    return int(row["id"])


async def wait_outbox(process: DispatcherProcess, ids: list[int], status: str, within: float = 90):
    deadline = time.monotonic() + within
    while True:
        rows = await Outbox.select(Outbox.id, Outbox.status, Outbox.error).where(
            Outbox.id.is_in(ids)
        )
        if all(r["status"] == status for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{rows}\ndispatcher log:\n{process.output()[-6000:]}")
        await asyncio.sleep(0.2)


async def deliveries(outbox_id: int) -> list[dict]:
    return await Notification.select().where(Notification.outbox_id == outbox_id)


def text_of(title: str, link: str, zh: bool = True) -> str:
    see = "登录 AIMIS 查看详情" if zh else "Log in to AIMIS for the details"
    return f"{title}\r\n{see}: {link}"


async def test_each_channel_sends_the_real_apis_payload(
    wecom_dispatcher, fresh, smtp, new_api, demo, uniq
) -> None:
    place = await make_place(new_api, demo, uniq)
    corp, key, appid = uniq("ww"), uniq("robot-"), uniq("wx")
    app = await add_channel(
        place,
        "wecom_app",
        {
            "corp_id": corp,
            "agent_id": "1000002",
            "secret": "CorpSecret1",
            "base_url": fresh.base_url,
        },
    )
    bot = await add_channel(place, "wecom_bot", {"key": key, "base_url": fresh.base_url})
    oa = await add_channel(
        place,
        "wechat_oa",
        {
            "app_id": appid,
            "secret": "OaSecret1",
            "template_id": "TPL-case-step",
            "base_url": fresh.base_url,
        },
    )
    await set_rule(place, "consultation", [app, bot, oa], "involved")
    a, b, c = [await new_doctor(place, uniq) for _ in range(3)]
    a_user, b_open, a_open = uniq("Wang."), "o" + uniq("B") * 2, "o" + uniq("A") * 2
    await bind(place, a["id"], wecom_userid=a_user, wechat_openid=a_open)
    await bind(place, b["id"], wechat_openid=b_open, language="en")
    c_mail = f"{c['username']}@hospital.test"
    await User.update({User.email: c_mail}).where(User.id == c["id"])

    link = f"{base_url()}/consultations/4242"
    outbox_id = await queue_notice(
        uniq("notify-consultation-4242-"),
        {
            "business_type": "consultation",
            "event": "agree",
            "case_type": "consultation",
            "case_id": 4242,
            "user_ids": [a["id"], b["id"], c["id"]],
            "link": "/consultations/4242",
        },
    )
    await wait_outbox(wecom_dispatcher, [outbox_id], "done")

    zh = text_of("远程会诊 #4242：已有科室同意", link)
    rows = {(r["user_id"], r["channel"]): r for r in await deliveries(outbox_id)}
    assert set(rows) == {
        (a["id"], "wecom_app"),
        (None, "wecom_bot"),
        (a["id"], "wechat_oa"),
        (b["id"], "wechat_oa"),
        (c["id"], "email"),
    }
    assert all((r["status"], r["hospital_id"]) == ("sent", place.id) for r in rows.values())
    # Exactly once each — or once more where the log counts a possible duplicate (an
    # attempt that outlived AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS on a loaded machine).
    times = {k: 1 + r["error"].startswith("possible duplicate") for k, r in rows.items()}

    tokens = [r for r in fresh.sent(APP_TOKEN) if r.query.get("corpid") == corp]
    assert tokens and all(t.query == {"corpid": corp, "corpsecret": "CorpSecret1"} for t in tokens)
    sends = [r for r in fresh.sent(APP_SEND) if r.body.get("touser") == a_user]
    assert len(sends) == times[(a["id"], "wecom_app")]
    for sent in sends:
        assert sent.query == {"access_token": "fake-token"} and sent.accepted
        assert sent.body == {
            "agentid": 1000002,
            "msgtype": "text",
            "text": {"content": zh},
            "touser": a_user,
        }
    posts = [r for r in fresh.sent(BOT_SEND) if r.query.get("key") == key]
    assert len(posts) == times[(None, "wecom_bot")]  # once for the hospital, not per user
    assert all(p.body == {"msgtype": "text", "text": {"content": zh}} for p in posts)
    oa_tokens = [r for r in fresh.sent(OA_TOKEN) if r.query.get("appid") == appid]
    assert oa_tokens and oa_tokens[0].query == {
        "grant_type": "client_credential",
        "appid": appid,
        "secret": "OaSecret1",
    }

    def template(openid: str, first: str, keyword1: str) -> dict:
        data = {"first": {"value": first}, "keyword1": {"value": f"{keyword1}: {link}"}}
        return {"touser": openid, "template_id": "TPL-case-step", "data": data, "url": link}

    expected = {
        a_open: template(a_open, "远程会诊 #4242：已有科室同意", "登录 AIMIS 查看详情"),
        b_open: template(
            b_open,
            "Remote consultation #4242: a department agreed",
            "Log in to AIMIS for the details",
        ),
    }
    for openid, user in ((a_open, a), (b_open, b)):
        got = [r.body for r in fresh.sent(OA_SEND) if r.body["touser"] == openid]
        assert got == [expected[openid]] * times[(user["id"], "wechat_oa")]
    # c has none of the rule's bindings: the platform fallback (e-mail) reaches him, with
    # the step in his language first and in English below.
    mails = await smtp.wait_for(c_mail, times[(c["id"], "email")], 10)
    assert len(mails) == times[(c["id"], "email")]
    assert mails[0].subject == "远程会诊 #4242：已有科室同意"
    assert "Remote consultation #4242: a department agreed" in mails[0].text

    # The admin's test button goes the same way, through the outbox and the dispatcher.
    res = await place.admin.post(f"/api/notifications/channels/{bot}/test", json={})
    assert res.status_code == 202, res.text
    test_row = (
        await Outbox.select(Outbox.id).where(Outbox.idempotency_key == res.json()["key"]).first()
    )
    await wait_outbox(wecom_dispatcher, [test_row["id"]], "done")
    bodies = [r.body for r in fresh.sent(BOT_SEND) if r.query.get("key") == key]
    assert bodies[-1] == {
        "msgtype": "text",
        "text": {
            "content": text_of(
                "AIMIS：测试消息：此通道配置正确", f"{base_url()}/manage/notifications/log"
            )
        },
    }
    log = (await place.admin.get("/api/notifications/log", params={"business_type": "test"})).json()
    assert [(i["recipient"], i["channel"], i["status"]) for i in log["items"]] == [
        ("group", "wecom_bot", "sent")
    ]


async def test_a_verification_code_goes_by_the_account_rule_to_the_user_alone(
    wecom_dispatcher, fresh, api, new_api, demo, uniq
) -> None:
    place = await make_place(new_api, demo, uniq)
    corp = uniq("wwcode")
    app = await add_channel(
        place,
        "wecom_app",
        {
            "corp_id": corp,
            "agent_id": "1000004",
            "secret": "CodeSecret",
            "base_url": fresh.base_url,
        },
    )
    await set_rule(place, "account", [app], "involved")
    doctor = await new_doctor(place, uniq)
    wecom_id = uniq("Code.")
    await bind(place, doctor["id"], wecom_userid=wecom_id)
    res = await api.post("/api/auth/forgot", json={"identifier": doctor["username"]})
    assert res.status_code == 202, res.text
    deadline = time.monotonic() + 30
    while not [r for r in fresh.delivered(APP_SEND) if r.body["touser"] == wecom_id]:
        assert time.monotonic() < deadline, wecom_dispatcher.output()[-4000:]
        await asyncio.sleep(0.1)
    [sent] = [r for r in fresh.delivered(APP_SEND) if r.body["touser"] == wecom_id]
    content = sent.body["text"]["content"]
    assert content.startswith("AIMIS 验证码 verification code\r\n您的 AIMIS 验证码是 ")
    code = content.split("验证码是 ")[1][:6]
    assert code.isdigit()
    res = await api.post(
        "/api/auth/reset",
        json={"identifier": doctor["username"], "code": code, "new_password": "Fresh#Pass456"},
    )
    assert res.status_code == 200, res.text
    rows = await Notification.select(Notification.channel, Notification.business_type).where(
        Notification.user_id == doctor["id"]
    )
    assert rows == [{"channel": "wecom_app", "business_type": "account"}]


async def test_audience_department_reaches_the_colleagues_of_the_people_involved(
    wecom_dispatcher, fresh, new_api, demo, uniq
) -> None:
    place = await make_place(new_api, demo, uniq)
    departments = []
    for name in ("Radiology 放射科", "Cardiology 心内科"):
        res = await place.admin.post("/api/manage/departments", json={"name": name})
        assert res.status_code == 201, res.text
        departments.append(res.json()["id"])
    corp = uniq("wwdept")
    app = await add_channel(
        place,
        "wecom_app",
        {
            "corp_id": corp,
            "agent_id": "1000005",
            "secret": "DeptSecret",
            "base_url": fresh.base_url,
        },
    )
    await set_rule(place, "diagnosis", [app], "department")
    people = {}
    for who, dept in (("involved", 0), ("colleague", 0), ("elsewhere", 1)):
        doctor = await new_doctor(place, uniq, department_id=departments[dept])
        people[who] = (doctor["id"], uniq(f"{who}."))
        await bind(place, doctor["id"], wecom_userid=people[who][1])
    outbox_id = await queue_notice(
        uniq("notify-diagnosis-"),
        {
            "business_type": "diagnosis",
            "event": "accept",
            "case_id": 77,
            "user_ids": [people["involved"][0]],
            "link": "/diagnoses/77",
        },
    )
    await wait_outbox(wecom_dispatcher, [outbox_id], "done")
    rows = {r["user_id"]: r for r in await deliveries(outbox_id)}
    assert sorted(rows) == sorted([people["involved"][0], people["colleague"][0]])
    for who in ("involved", "colleague"):  # once, or once more where the log says so
        times = 1 + rows[people[who][0]]["error"].startswith("possible duplicate")
        sent = [r for r in fresh.delivered(APP_SEND) if r.body["touser"] == people[who][1]]
        assert len(sent) == times and "#77" in sent[0].body["text"]["content"]
    assert not [r for r in fresh.sent(APP_SEND) if r.body["touser"] == people["elsewhere"][1]]


async def test_a_failing_channel_retries_with_backoff_then_shows_failed_in_the_log(
    wecom_dispatcher, fresh, new_api, demo, uniq
) -> None:
    place = await make_place(new_api, demo, uniq)
    key = uniq("down-")
    bot = await add_channel(place, "wecom_bot", {"key": key, "base_url": fresh.base_url})
    await set_rule(place, "ward_round", [bot], "hospital")
    doctor = await new_doctor(place, uniq)
    fresh.fail_next = 10_000
    outbox_id = await queue_notice(
        uniq("notify-ward-round-"),
        {
            "business_type": "ward_round",
            "event": "remind",
            "case_id": 8,
            "user_ids": [doctor["id"]],
            "link": "/ward-rounds/8",
        },
    )
    [row] = await wait_outbox(wecom_dispatcher, [outbox_id], "failed", within=120)
    assert "500" in row["error"]
    fresh.fail_next = 0
    tries = [r for r in fresh.sent(BOT_SEND) if r.query.get("key") == key]
    assert len(tries) == 6 * 3  # 6 outbox attempts, each sending 3 times (2 task retries)
    assert not any(t.accepted for t in tries)
    log = (await place.admin.get("/api/notifications/log", params={"status": "failed"})).json()
    [item] = log["items"]
    assert (item["recipient"], item["channel"], item["business_type"]) == (
        "group",
        "wecom_bot",
        "ward_round",
    )
    assert item["attempts"] == 6 and "500" in item["error"] and key not in item["error"]
    # nothing personal went out: audience "hospital" is the group only
    assert [(n["user_id"], n["channel"]) for n in await deliveries(outbox_id)] == [
        (None, "wecom_bot")
    ]


async def test_fault_server_fails_then_recovers_and_a_killed_dispatcher_loses_nothing(
    wecom_dispatcher, fresh, new_api, demo, uniq
) -> None:
    """N consultations committed while WeCom fails three times; the dispatcher is killed
    (SIGKILL) while sends are in flight and started again."""
    admins = {code: await as_user(new_api, f"admin.{code.lower()}") for code in ("CITY", "WEST")}
    corp = uniq("wwfault")
    for code, admin in admins.items():
        place = Place(0, code, admin, f"admin.{code.lower()}")
        existing = [
            c
            for c in (await admin.get("/api/notifications/channels")).json()
            if c["kind"] == "wecom_app"
        ]
        settings = {
            "corp_id": corp,
            "agent_id": "1000009",
            "secret": "FaultSecret",
            "base_url": fresh.base_url,
        }
        if existing:
            res = await admin.patch(
                f"/api/notifications/channels/{existing[0]['id']}",
                json={"settings": settings, "enabled": True},
            )
            assert res.status_code == 200, res.text
            app = existing[0]["id"]
        else:
            app = await add_channel(place, "wecom_app", settings)
        await set_rule(place, "consultation", [app], "involved")
    li = await User.select(User.id).where(User.username == "dr.li").first()
    liu = await User.select(User.id).where(User.username == "dr.liu").first()
    await bind(Place(0, "CITY", admins["CITY"], ""), li["id"], wecom_userid="LiNa")
    await bind(Place(0, "WEST", admins["WEST"], ""), liu["id"], wecom_userid="LiuYang")

    first = len(fresh.requests)
    fresh.fail_next = 3
    fresh.hold_seconds = 0.3  # each accepted send takes a while: the kill lands mid-send
    applicant = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    n = 6
    cids = []
    for i in range(n):  # each create commits its notice with the transition; none waits for it
        started = time.monotonic()
        made = await create(
            applicant, [{"department_id": west, "mandatory": True}], uniq(f"fault {i} ")
        )
        assert time.monotonic() - started < 5
        cids.append(made["id"])
    keys = await Outbox.select(Outbox.id, Outbox.idempotency_key).where(
        Outbox.kind == "notify", Outbox.idempotency_key.like("notify-consultation-%")
    )
    prefixes = tuple(f"notify-consultation-{cid}-" for cid in cids)
    ids = [r["id"] for r in keys if r["idempotency_key"].startswith(prefixes)]
    assert len(ids) == 2 * n  # a notice per audience: the applicant's and the reviewers'

    deadline = time.monotonic() + 60
    while len([r for r in fresh.sent(APP_SEND) if r.status == 0 or r.accepted]) < 2:
        assert time.monotonic() < deadline, wecom_dispatcher.output()[-4000:]
        await asyncio.sleep(0.02)
    wecom_dispatcher.kill()
    killed_at = len(fresh.requests) - first
    fresh.hold_seconds = 0
    wecom_dispatcher.start()
    await wait_outbox(wecom_dispatcher, ids, "done", within=120)

    rows = await Notification.select().where(
        Notification.outbox_id.is_in(ids), Notification.channel == "wecom_app"
    )
    assert len(rows) == 2 * n  # the applicant and the reviewer of each consultation
    assert all(r["status"] == "sent" for r in rows), rows
    duplicates = sum(r["error"].startswith("possible duplicate") for r in rows)
    accepted = [r for r in fresh.delivered(APP_SEND) if r.body["touser"] in ("LiNa", "LiuYang")]
    for cid in cids:
        for who in ("LiNa", "LiuYang"):
            got = [
                r
                for r in accepted
                if r.body["touser"] == who and f"#{cid}：" in r.body["text"]["content"]
            ]
            assert got, f"consultation {cid} never reached {who}"
    assert len(accepted) - 2 * n <= duplicates, (len(accepted), duplicates)
    failed = [r for r in fresh.requests[first:] if r.status == 500]
    assert len(failed) == 3
    print(
        f"fault test: {n} consultations, {2 * n} WeCom messages; {len(failed)} server "
        f"failures, dispatcher killed after {killed_at} requests; {len(accepted)} accepted "
        f"sends, {duplicates} counted as possible duplicates"
    )
    # the transitions never waited for the channel
    assert (
        len(cids) == n
        and await Outbox.count().where(Outbox.id.is_in(ids), Outbox.status == "done") == 2 * n
    )
