"""An administrator releases a report lock: the holder's open editor (real Chromium) says so
live and keeps his text read-only, and the holder gets a notice linking the report, delivered
by the real outbox dispatcher (a Prefect flow run)."""

from __future__ import annotations

import msgspec
import pytest

from store.tables import ExamReport, Notification, Outbox
from tests.e2e.conftest import login
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import PASSWORD
from tests.fixtures.reports import make_hospital
from tests.fixtures.waiting import outbox_settled

pytestmark = pytest.mark.e2e


async def test_admin_release_tells_the_holder(context, app_url, new_api, uniq, dispatcher) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    author = h.names["author"].split(" ", 1)[1]
    page = await context.new_page()
    await login(page, app_url, author, PASSWORD)
    await page.goto(f"{app_url}/exams/{exam_id}/report")
    await page.click("#report-edit")
    await page.wait_for_selector("#r-findings:not([readonly])")
    await page.wait_for_selector("#live-state[data-connected='1']")
    await page.fill("#r-findings", "typed, not yet saved")

    res = await h.admin.post(f"/api/exams/{exam_id}/report/lock/release")
    assert res.status_code == 200, res.text

    told = page.locator("[data-testid=lock-released]")
    await told.wait_for()
    assert "An administrator released your lock" in await told.inner_text()
    assert await page.locator("#r-findings").get_attribute("readonly") is not None
    assert await page.locator("#r-findings").input_value() == "typed, not yet saved"

    report = await ExamReport.select(ExamReport.id).where(ExamReport.examination == exam_id).first()
    assert report is not None
    rows = await Outbox.select().where(Outbox.kind == "notify")
    mine = [
        r
        for r in rows
        if (
            p := msgspec.json.decode(r["payload"])
            if isinstance(r["payload"], str)
            else r["payload"]
        )
        and p.get("event") == "lock_released"
        and p.get("case_id") == report["id"]
    ]
    assert len(mine) == 1
    payload = (
        msgspec.json.decode(mine[0]["payload"])
        if isinstance(mine[0]["payload"], str)
        else mine[0]["payload"]
    )
    assert payload["user_ids"] == [h.author_id]
    assert payload["link"] == f"/exams/{exam_id}/report"
    # the dispatcher runs the row as a flow run: one notice, to the holder alone, sent
    row = await outbox_settled(mine[0]["idempotency_key"], log=dispatcher.output)
    assert (row["status"], row["error"]) == ("done", "")
    notices = await Notification.select().where(Notification.outbox_id == mine[0]["id"])
    assert [n["user_id"] for n in notices] == [h.author_id]
    assert (notices[0]["business_type"], notices[0]["status"]) == ("diagnosis", "sent")
