"""Notification pages in real headless Chromium against the real app (SPEC 3.6, 8.8): the
hospital admin's channels, rules and doctors' bindings, the delivery log (filters, live
refresh, alliance view), and a doctor's "my notifications"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from api.management.new_accounts import create_account
from kernel.domain import Kind
from store.tables import Alliance, Notification, NotificationChannel, NotificationRule, User
from store.uow import Ctx, now
from tests.e2e.conftest import login, shot
from tests.e2e.test_management_pages import (
    Place,
    admin_page,
    no_horizontal_scroll,
)
from tests.e2e.test_management_pages import place as place
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e

BOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


async def doctor_of(place: Place, uniq, **values: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    alliance = await Alliance.select(Alliance.id).where(Alliance.name.like("Demo%")).first()
    username = uniq("uidoc.")
    user_id = await create_account(
        Ctx(),
        username=username,
        password=PASSWORD,
        display_name=f"Dr {username}",
        kind=Kind.doctor,
        alliance_id=alliance["id"],
        hospital_id=place.id,
    )
    if values:
        await User.update({getattr(User, k): v for k, v in values.items()}).where(
            User.id == user_id
        )
    return user_id, username


async def eventually(query: Callable[[], Any], seconds: float = 10) -> Any:
    """The first row the query finds within ``seconds`` (the browser's request is async)."""
    for _ in range(int(seconds / 0.05)):
        row = await query()
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the change never reached the database")


async def channels_of(hospital_id: int) -> dict[str, dict]:
    rows = await NotificationChannel.select().where(NotificationChannel.hospital == hospital_id)
    return {r["kind"]: {**r, "config": msgspec.json.decode(r["config"])} for r in rows}


async def test_admin_sets_up_channels_rules_and_bindings(
    context, app_url, place: Place, uniq
) -> None:
    doctor_id, doctor = await doctor_of(place, uniq)
    page, _ = await admin_page(context, app_url, place, dialogs=True)
    await page.click("header nav summary:has-text('Management')")  # the grouped menu
    await page.click("nav >> text=Notifications")
    await page.wait_for_url("**/manage/notifications")

    # A WeCom application with a bad AgentId: a sentence, nothing stored.
    app = page.locator("section.channel[data-kind=wecom_app]")
    await app.locator("input[name='settings.corp_id']").fill("ww7d1c2b3a4e5f6071")
    await app.locator("input[name='settings.agent_id']").fill("10000x2")
    await app.locator("input[name='settings.secret']").fill("App-Secret-Shh")
    await app.locator("button[type=submit]").click()
    await app.locator("[data-msg].error").wait_for()
    assert "is a number" in await app.locator("[data-msg]").inner_text()
    assert await channels_of(place.id) == {}
    await app.locator("input[name='settings.agent_id']").fill("1000002")
    await app.locator("button[type=submit]").click()
    await page.locator("section.channel[data-kind=wecom_app] [data-secret=secret]").wait_for()

    bot = page.locator("section.channel[data-kind=wecom_bot]")
    await bot.locator("input[name='settings.key']").fill(BOT_KEY)
    await bot.locator("input[name='settings.base_url']").fill("http://127.0.0.1:9")
    await bot.locator("button[type=submit]").click()
    await page.locator("section.channel[data-kind=wecom_bot] [data-secret=key]").wait_for()
    stored = await channels_of(place.id)
    assert stored["wecom_app"]["config"]["secret"] == "App-Secret-Shh"
    assert stored["wecom_bot"]["config"] == {
        "name": "WeCom group robot",
        "key": BOT_KEY,
        "base_url": "http://127.0.0.1:9",
    }
    html = await page.content()
    assert BOT_KEY not in html and "App-Secret-Shh" not in html
    assert await page.locator("[data-secret=key]").inner_text() == "set"

    # The robot's test button queues a message for the group.
    await page.locator("section.channel[data-kind=wecom_bot] .test-form button").click()
    await page.locator("section.channel[data-kind=wecom_bot] .test-form .msg.ok").wait_for()

    # Consultations go to the hospital's WeCom group.
    rule = page.locator("tr[data-rule=consultation]")
    await rule.locator(f"input[value='{stored['wecom_bot']['id']}']").check()
    await rule.locator("select[name=audience]").select_option("hospital")
    await rule.locator("button[type=submit]").click()
    row = await eventually(
        lambda: NotificationRule.select().where(NotificationRule.hospital == place.id).first()
    )
    assert (msgspec.json.decode(row["channels"]), row["audience"], row["enabled"]) == (
        [stored["wecom_bot"]["id"]],
        "hospital",
        True,
    )

    # The doctor's WeCom user id, set by the admin; a bad one is refused with a sentence.
    binding = page.locator(f"tr[data-user='{doctor}']")
    await binding.locator("input[name=wecom_userid]").fill("-bad id")
    await binding.locator("button[type=submit]").click()
    await binding.locator("[data-msg].error").wait_for()
    assert "WeCom user id" in await binding.locator("[data-msg]").inner_text()
    await binding.locator("input[name=wecom_userid]").fill("ZhangSan")
    await binding.locator("button[type=submit]").click()
    await eventually(
        lambda: (
            User.select(User.id)
            .where(User.id == doctor_id, User.wecom_userid == "ZhangSan")
            .first()
        )
    )
    await page.locator(f"tr[data-user='{doctor}'] input[value=ZhangSan]").wait_for()
    await shot(page, "notify-settings")

    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/manage/notifications")
    assert "企业微信群机器人" in await page.content()
    await shot(page, "notify-settings-zh")


async def test_delivery_log_filters_pages_and_refreshes_live(
    context, browser, app_url, place: Place, uniq
) -> None:
    doctor_id, _doctor = await doctor_of(place, uniq)
    at = now()
    rows = [
        ("sent", "wecom_app", "consultation", doctor_id, 1, ""),
        ("failed", "wecom_bot", "ward_round", None, 6, "Failed to send WeCom Bot notification"),
        ("sent", "wechat_oa", "consultation", doctor_id, 2, "possible duplicate: attempt 1 …"),
    ]
    for status, channel, business_type, user_id, attempts, error in rows:
        await Notification.insert(
            Notification(
                outbox_id=0,
                hospital_id=place.id,
                user_id=user_id,
                business_type=business_type,
                channel=channel,
                status=status,
                attempts=attempts,
                error=error,
                created_at=at,
                sent_at=at if status == "sent" else None,
            )
        )
    page = await context.new_page()
    await login(page, app_url, place.admin, PASSWORD, admin=True)
    await page.click("header nav summary:has-text('Logs')")  # the grouped menu
    await page.click("nav >> text=Delivery log")
    await page.wait_for_url("**/manage/notifications/log")
    table = page.locator("#log-table tbody tr[data-id]")
    assert await table.count() == 3
    assert await page.locator("[data-testid=log-total]").inner_text() == "3"
    assert await page.locator(".badge >> text=possible duplicate").count() == 1

    await page.select_option("#f-status", "failed")
    await page.click("#log-filter button[type=submit]")
    await page.wait_for_url("**status=failed**")
    await page.locator("#log-table tbody tr[data-status=failed]").wait_for()
    assert await table.count() == 1
    assert "the group" in await table.first.inner_text()
    await shot(page, "notify-log-failed")

    # Live refresh: a new failure shows up without a reload.
    await Notification.insert(
        Notification(
            outbox_id=0,
            hospital_id=place.id,
            user_id=doctor_id,
            business_type="consultation",
            channel="email",
            status="failed",
            attempts=3,
            error="SMTP refused",
            created_at=now(),
        )
    )
    await page.locator("#log-table tbody tr[data-status=failed] >> text=SMTP refused").wait_for(
        timeout=12000
    )
    assert await table.count() == 2

    # A bad date is a sentence on the page, not an error page.
    await page.goto(f"{app_url}/manage/notifications/log?date_from=2026-13-40")
    assert "is not a date" in await page.locator("#log-rows .msg.error").inner_text()

    # The alliance admin sees every hospital of the alliance, with the hospital's name.
    alliance_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    alliance_page = await alliance_ctx.new_page()
    await login(alliance_page, app_url, "alliance.admin", "Demo@2026", admin=True)
    await alliance_page.goto(f"{app_url}/manage/notifications/log?hospital_id={place.id}")
    assert await alliance_page.locator("#log-table tbody tr[data-id]").count() == 4
    assert "Browser Hospital" in await alliance_page.locator("#log-table").inner_text()
    await no_horizontal_scroll(alliance_page)
    await shot(alliance_page, "notify-log-alliance-phone")
    await alliance_ctx.close()


async def test_doctor_binds_wechat_and_language(context, app_url, place: Place, uniq) -> None:
    doctor_id, doctor = await doctor_of(place, uniq)
    page = await context.new_page()
    await login(page, app_url, doctor, PASSWORD)
    await page.click("[data-testid=who]")  # the account menu
    await page.click("text=My notifications")
    await page.wait_for_url("**/account/notifications")
    await page.fill("#m-openid", "not an openid!")
    await page.click("#bindings-form button[type=submit]")
    await page.locator("#bindings-form .msg.error").wait_for()
    assert "openid" in await page.locator("#bindings-form .msg").inner_text()
    await page.fill("#m-openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    await page.fill("#m-wecom", "LiNa")
    await page.select_option("#m-lang", "en")
    await page.click("#bindings-form button[type=submit]")
    await page.locator("#bindings-form .msg.ok").wait_for()
    user = (
        await User.select(User.wechat_openid, User.wecom_userid, User.language)
        .where(User.id == doctor_id)
        .first()
    )
    assert user == {
        "wechat_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "wecom_userid": "LiNa",
        "language": "en",
    }
    # A second save right away works (the form keeps the new version).
    await page.fill("#m-wecom", "LiNa2")
    await page.click("#bindings-form button[type=submit]")
    await eventually(
        lambda: (
            User.select(User.id).where(User.id == doctor_id, User.wecom_userid == "LiNa2").first()
        )
    )
    assert "error" not in (await page.locator("#bindings-form .msg").get_attribute("class") or "")
    await shot(page, "notify-mine")
