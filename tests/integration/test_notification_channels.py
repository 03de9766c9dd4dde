"""Notification management over real HTTP against the real app (SPEC 3.6, 8.8): a hospital
admin's channels (secrets write-only), rules, bindings, and the refusals — each a 4xx that
changes nothing and lands in the audit log."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from store.tables import AuditLog, NotificationChannel, NotificationRule, Outbox, User
from tests.fixtures.hospitals import PASSWORD, Place, new_doctor

pytestmark = pytest.mark.integration

WECOM_APP = {
    "corp_id": "ww7d1c2b3a4e5f6071",
    "agent_id": "1000002",
    "secret": "AppSecret-Very-Secret-42",
    "base_url": "http://127.0.0.1:9",
}
WECOM_BOT = {"key": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", "base_url": "http://127.0.0.1:9"}
WECHAT_OA = {
    "app_id": "wx1234567890abcdef",
    "secret": "OaSecret-Hush-99",
    "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
}
SECRETS = ("AppSecret-Very-Secret-42", "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", "OaSecret-Hush-99")


async def add(place: Place, kind: str, settings: dict[str, str], **extra: Any) -> dict:
    res = await place.admin.post(
        "/api/notifications/channels", json={"kind": kind, "settings": settings, **extra}
    )
    assert res.status_code == 201, res.text
    return dict(res.json())


async def stored(channel_id: int) -> dict:
    row = await NotificationChannel.select().where(NotificationChannel.id == channel_id).first()
    assert row is not None
    return {**row, "config": msgspec.json.decode(row["config"])}


async def state(hospital_id: int) -> tuple:
    """Everything a refused request must leave as it was."""
    channels = await NotificationChannel.select().where(NotificationChannel.hospital == hospital_id)
    rules = await NotificationRule.select().where(NotificationRule.hospital == hospital_id)
    users = await User.select(
        User.id, User.wechat_openid, User.wecom_userid, User.language, User.version
    ).where(User.hospital == hospital_id)
    outbox = await Outbox.count().where(Outbox.idempotency_key.like("notify-test-%"))
    return channels, rules, sorted(users, key=lambda u: u["id"]), outbox


async def refusals(username: str) -> list[dict]:
    return (
        await AuditLog.select(AuditLog.action, AuditLog.outcome, AuditLog.detail)
        .where(AuditLog.username == username, AuditLog.outcome.is_in(["denied", "failure"]))
        .order_by(AuditLog.id)
    )


async def test_admin_configures_each_channel_and_never_reads_a_secret_back(place) -> None:
    app = await add(place, "wecom_app", WECOM_APP, name="影像科应用")
    bot = await add(place, "wecom_bot", WECOM_BOT)
    oa = await add(place, "wechat_oa", WECHAT_OA)
    mail = await add(place, "email", {})

    assert app["settings"] == {
        "corp_id": "ww7d1c2b3a4e5f6071",
        "agent_id": "1000002",
        "base_url": "http://127.0.0.1:9",
    }
    assert (app["name"], app["secrets"], app["enabled"]) == ("影像科应用", {"secret": True}, True)
    assert bot["settings"] == {"base_url": "http://127.0.0.1:9"}
    assert bot["secrets"] == {"key": True}
    assert oa["settings"]["base_url"] == "https://api.weixin.qq.com"  # the real host by default
    assert oa["secrets"] == {"secret": True}
    assert (mail["secrets"], mail["name"]) == ({"smtp_url": False}, "E-mail")

    listed = await place.admin.get("/api/notifications/channels")
    assert [c["kind"] for c in listed.json()] == ["wecom_app", "wecom_bot", "wechat_oa", "email"]
    page = await place.admin.get("/manage/notifications", headers={"accept": "text/html"})
    assert page.status_code == 200
    for text in (listed.text, page.text):
        assert not any(secret in text for secret in SECRETS)

    # An empty secret keeps the stored one; other settings change; the version moves on.
    res = await place.admin.patch(
        f"/api/notifications/channels/{app['id']}",
        json={"settings": {**WECOM_APP, "secret": "", "agent_id": "1000003"}, "version": 1},
    )
    assert res.status_code == 200, res.text
    assert (res.json()["settings"]["agent_id"], res.json()["version"]) == ("1000003", 2)
    assert (await stored(app["id"]))["config"]["secret"] == WECOM_APP["secret"]
    res = await place.admin.patch(
        f"/api/notifications/channels/{app['id']}",
        json={"settings": {"secret": "Rotated-Secret-7"}, "enabled": False},
    )
    assert res.status_code == 200, res.text
    assert res.json()["enabled"] is False and "Rotated" not in res.text
    assert (await stored(app["id"]))["config"]["secret"] == "Rotated-Secret-7"

    audits = (
        await AuditLog.select(AuditLog.action, AuditLog.detail)
        .where(
            AuditLog.username == place.admin_name,
            AuditLog.action.like("notification_channel.%"),
        )
        .order_by(AuditLog.id)
    )
    assert [a["action"] for a in audits] == ["notification_channel.create"] * 4 + [
        "notification_channel.update"
    ] * 2
    assert "agent_id" in audits[4]["detail"] and "disabled" in audits[5]["detail"]
    assert not any(s in a["detail"] for a in audits for s in (*SECRETS, "Rotated-Secret-7"))

    # A stale version is refused.
    res = await place.admin.patch(
        f"/api/notifications/channels/{app['id']}", json={"name": "x", "version": 1}
    )
    assert res.status_code == 409, res.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "wecom", "settings": {}}, "not a channel kind"),
        ({"kind": "wecom_app", "settings": {**WECOM_APP, "corp_id": ""}}, "corp ID"),
        ({"kind": "wecom_app", "settings": {**WECOM_APP, "agent_id": "10x"}}, "is a number"),
        ({"kind": "wecom_app", "settings": {**WECOM_APP, "base_url": "ftp://x"}}, "API host"),
        ({"kind": "wecom_bot", "settings": {"key": "a key with spaces"}}, "webhook key"),
        ({"kind": "wechat_oa", "settings": {**WECHAT_OA, "colour": "red"}}, "no setting"),
        ({"kind": "email", "settings": {"smtp_url": "smtp.example.com"}}, "mailto://"),
        ({"kind": "wecom_app"}, "corp ID"),
    ],
)
async def test_invalid_channel_settings_are_refused_and_audited(place, body, says) -> None:
    before = await state(place.id)
    res = await place.admin.post("/api/notifications/channels", json=body)
    assert res.status_code == 400, res.text
    assert says in res.json()["detail"]
    assert await state(place.id) == before
    [refusal] = await refusals(place.admin_name)
    assert refusal["action"] == "POST /api/notifications/channels"
    assert refusal["outcome"] == "failure" and says in refusal["detail"]


async def test_one_channel_of_a_kind_per_hospital(place) -> None:
    await add(place, "wecom_bot", WECOM_BOT)
    before = await state(place.id)
    res = await place.admin.post(
        "/api/notifications/channels", json={"kind": "wecom_bot", "settings": WECOM_BOT}
    )
    assert res.status_code == 409 and "already" in res.json()["detail"]
    assert await state(place.id) == before


async def test_another_hospitals_channels_are_not_found(place, other, uniq) -> None:
    theirs = await add(other, "wecom_app", WECOM_APP)
    mine = await add(place, "wecom_bot", WECOM_BOT)
    before = (await state(place.id), await state(other.id))
    cid = theirs["id"]
    attempts = [
        ("GET", f"/api/notifications/channels/{cid}", None),
        ("PATCH", f"/api/notifications/channels/{cid}", {"enabled": False}),
        ("POST", f"/api/notifications/channels/{cid}/test", {}),
        ("PUT", "/api/notifications/rules/consultation", {"channel_ids": [mine["id"], cid]}),
    ]
    for method, url, body in attempts:
        res = await place.admin.request(method, url, json=body)
        assert res.status_code == 404, (method, url, res.text)
        assert str(cid) in res.json()["detail"]
    assert (await state(place.id), await state(other.id)) == before
    denied = [r["action"] for r in await refusals(place.admin_name)]
    assert denied == [
        "GET /api/notifications/channels/{channel_id}",
        "PATCH /api/notifications/channels/{channel_id}",
        "POST /api/notifications/channels/{channel_id}/test",
        "PUT /api/notifications/rules/{business_type}",
    ]
    # and their doctors' bindings are not mine to set
    doctor = await new_doctor(other, uniq)
    theirs_before = await state(other.id)
    res = await place.admin.patch(
        f"/api/notifications/bindings/{doctor['id']}", json={"wecom_userid": "Someone"}
    )
    assert res.status_code == 404
    assert (await state(other.id)) == theirs_before


async def test_doctors_and_alliance_admins_cannot_manage_channels(
    place, new_api, uniq, demo
) -> None:
    await add(place, "wecom_bot", WECOM_BOT)
    doctor = await new_doctor(place, uniq)
    client = new_api()
    await client.login(doctor["username"], PASSWORD)
    res = await client.post(
        "/api/auth/password", json={"old_password": PASSWORD, "new_password": "Other#Pass789"}
    )
    assert res.status_code == 200, res.text
    alliance = new_api()
    await alliance.login("alliance.admin", demo["password"], admin=True)
    before = await state(place.id)
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/api/notifications/channels", None),
        ("POST", "/api/notifications/channels", {"kind": "wecom_bot", "settings": WECOM_BOT}),
        ("PUT", "/api/notifications/rules/consultation", {"channel_ids": []}),
        ("PATCH", f"/api/notifications/bindings/{doctor['id']}", {"wecom_userid": "X1"}),
    ]
    for who in (client, alliance):
        for method, url, body in calls:
            res = await who.request(method, url, json=body)
            assert res.status_code == 403, (method, url, res.text)
    res = await client.get("/api/notifications/log")
    assert res.status_code == 403
    assert await state(place.id) == before
    assert len(await refusals(doctor["username"])) == 5
    assert len(await refusals("alliance.admin")) >= 4


async def test_rules_name_channels_and_an_audience(place) -> None:
    app = await add(place, "wecom_app", WECOM_APP)
    bot = await add(place, "wecom_bot", WECOM_BOT)
    rules = (await place.admin.get("/api/notifications/rules")).json()
    assert [r["business_type"] for r in rules][:3] == ["consultation", "ward_round", "diagnosis"]
    assert not any(r["configured"] for r in rules)
    res = await place.admin.put(
        "/api/notifications/rules/consultation",
        json={"channel_ids": [bot["id"], app["id"]], "audience": "department"},
    )
    assert res.status_code == 200, res.text
    assert res.json() == {
        "business_type": "consultation",
        "business_label": "Remote consultation",
        "channel_ids": sorted([app["id"], bot["id"]]),
        "audience": "department",
        "enabled": True,
        "configured": True,
        "version": 1,
    }
    res = await place.admin.put(
        "/api/notifications/rules/consultation",
        json={"channel_ids": [bot["id"]], "audience": "hospital", "version": 1},
    )
    assert (res.status_code, res.json()["version"]) == (200, 2)

    before = await state(place.id)
    for body, status, says in [
        ({"channel_ids": [app["id"]], "audience": "hospital"}, 400, "group robot"),
        ({"channel_ids": [app["id"]], "audience": "everyone"}, 400, "audience"),
        ({"channel_ids": [], "audience": "involved"}, 400, "at least one"),
        ({"channel_ids": [app["id"]], "version": 1}, 409, "version"),
    ]:
        res = await place.admin.put("/api/notifications/rules/consultation", json=body)
        assert res.status_code == status and says in res.json()["detail"], res.text
    res = await place.admin.put(
        "/api/notifications/rules/account", json={"channel_ids": [app["id"], bot["id"]]}
    )
    assert res.status_code == 400 and "owner alone" in res.json()["detail"]
    res = await place.admin.put("/api/notifications/rules/dinner", json={"channel_ids": []})
    assert res.status_code == 400 and "business type" in res.json()["detail"]
    assert await state(place.id) == before


async def test_bindings_are_checked_set_by_the_user_and_by_the_admin(place, new_api, uniq) -> None:
    doctor = await new_doctor(place, uniq)
    client = new_api()
    await client.login(doctor["username"], PASSWORD)
    await client.post(
        "/api/auth/password", json={"old_password": PASSWORD, "new_password": "Other#Pass789"}
    )

    mine = (await client.get("/api/notifications/me")).json()
    assert (mine["wechat_openid"], mine["wecom_userid"], mine["language"]) == ("", "", "zh")
    res = await client.patch(
        "/api/notifications/me",
        json={
            "wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "language": "en",
            "version": mine["version"],
        },
    )
    assert res.status_code == 200, res.text
    assert (res.json()["wechat_openid"], res.json()["language"]) == (
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "en",
    )

    before = await state(place.id)
    for body, says in [
        ({"wechat_openid": "o bad openid"}, "openid"),
        ({"wechat_openid": "<script>"}, "openid"),
        ({"wecom_userid": "-starts-with-dash"}, "WeCom user id"),
        ({"wecom_userid": "x" * 65}, "WeCom user id"),
        ({"language": "fr"}, "language"),
    ]:
        res = await client.patch("/api/notifications/me", json=body)
        assert res.status_code == 400 and says in res.json()["detail"], res.text
        res = await place.admin.patch(f"/api/notifications/bindings/{doctor['id']}", json=body)
        assert res.status_code == 400 and says in res.json()["detail"], res.text
    assert await state(place.id) == before
    assert len(await refusals(doctor["username"])) == 5
    assert len(await refusals(place.admin_name)) == 5

    res = await place.admin.patch(
        f"/api/notifications/bindings/{doctor['id']}", json={"wecom_userid": "LiNa.Radiology"}
    )
    assert res.status_code == 200, res.text
    row = (
        await User.select(User.wecom_userid, User.wechat_openid)
        .where(User.id == doctor["id"])
        .first()
    )
    assert row == {
        "wecom_userid": "LiNa.Radiology",
        "wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    }
    actions = (
        await AuditLog.select(AuditLog.action)
        .where(
            AuditLog.target_id == str(doctor["id"]),
            AuditLog.action.like("notification_binding.%"),
        )
        .order_by(AuditLog.id)
    )
    assert [a["action"] for a in actions] == [
        "notification_binding.update",
        "notification_binding.admin_update",
    ]


async def test_a_test_message_needs_the_binding_and_is_queued_in_the_outbox(place, uniq) -> None:
    app = await add(place, "wecom_app", WECOM_APP)
    bot = await add(place, "wecom_bot", WECOM_BOT)
    doctor = await new_doctor(place, uniq)
    before = await state(place.id)
    res = await place.admin.post(
        f"/api/notifications/channels/{app['id']}/test", json={"user_id": doctor["id"]}
    )
    assert res.status_code == 400 and "no WeCom user id" in res.json()["detail"]
    assert await state(place.id) == before

    res = await place.admin.post(f"/api/notifications/channels/{bot['id']}/test", json={})
    assert res.status_code == 202, res.text
    row = await Outbox.select().where(Outbox.idempotency_key == res.json()["key"]).first()
    assert row["kind"] == "notify" and row["status"] == "pending"
    assert msgspec.json.decode(row["payload"]) == {
        "business_type": "test",
        "event": "test",
        "hospital_id": place.id,
        "channel_id": bot["id"],
        "user_ids": [],
        "link": "/manage/notifications/log",
    }
