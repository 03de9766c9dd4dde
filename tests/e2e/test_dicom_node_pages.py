"""The DICOM nodes page in real headless Chromium (issue 19 point 2): a hospital admin gives
a node its port and what it may do (store, query, retrieve, move destination), sees them in
the list, changes them in the row, and is told why a move destination without a port is
refused. In Chinese too."""

from __future__ import annotations

import pytest

from store.tables import DicomNode
from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import DEMO_PASSWORD as PASSWORD

pytestmark = pytest.mark.e2e


async def test_a_node_gets_its_port_and_permissions(app_url, context, uniq) -> None:
    page = await context.new_page()
    await login(page, app_url, "admin.city", PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/dicom-nodes")
    title = uniq("QR")[:16].upper()
    await page.fill("#n-ae", title)
    await page.fill("#n-host", "10.0.0.31")
    await page.check("#n-dest")
    await page.click("#node-form button[type=submit]")
    await page.wait_for_selector("#node-form [data-msg].error")
    assert "needs the IP address and the port" in await page.inner_text("#node-form [data-msg]")
    assert not await DicomNode.exists().where(DicomNode.ae_title == title)

    await page.fill("#n-port", "11112")
    await page.check("#n-query")
    await page.check("#n-retrieve")
    await page.click("#node-form button[type=submit]")
    row = f"tr[data-node='{title}']"
    await page.wait_for_selector(row)
    node = await DicomNode.select().where(DicomNode.ae_title == title).first()
    assert (node["port"], node["may_store"], node["may_query"], node["may_retrieve"]) == (
        11112,
        True,
        True,
        True,
    )
    assert node["move_destination"] is True
    edit = f"{row} [data-testid=node-edit]"
    assert await page.input_value(f"{edit} input[name=port]") == "11112"
    assert await page.is_checked(f"{edit} input[name=may_query]")
    await shot(page, "dicom-nodes-permissions")

    # change them in the row: no retrieving, no store, another port
    await page.uncheck(f"{edit} input[name=may_retrieve]")
    await page.uncheck(f"{edit} input[name=may_store]")
    await page.fill(f"{edit} input[name=port]", "4242")
    async with page.expect_navigation():  # saved, then the page reloads
        await page.click(f"{edit} button[type=submit]")
    assert await page.input_value(f"{edit} input[name=port]") == "4242"
    changed = await DicomNode.select().where(DicomNode.ae_title == title).first()
    assert (changed["port"], changed["may_store"], changed["may_retrieve"]) == (4242, False, False)
    assert changed["may_query"] and changed["version"] == node["version"] + 1

    # a move destination cannot lose its port
    await page.fill(f"{edit} input[name=port]", "0")
    await page.click(f"{edit} button[type=submit]")
    await page.wait_for_selector(f"{edit} [data-msg].error")
    assert "needs the IP address and the port" in await page.inner_text(f"{edit} [data-msg]")
    assert (await DicomNode.select().where(DicomNode.ae_title == title).first())["port"] == 4242

    await page.wait_for_function("() => window.aimis !== undefined")
    bad = await page.evaluate(
        "aimis.api('POST', '/api/ingest/nodes', {ae_title: 'PORTLESS', host: '10.0.0.32', "
        "port: 70000}).catch(e => e.message)"
    )
    assert "A port is a number from 1 to 65535" in bad
    assert not await DicomNode.exists().where(DicomNode.ae_title == "PORTLESS")

    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/manage/dicom-nodes")
    assert "端口与权限" in await page.inner_text("#node-table")
    assert "移动目标" in await page.inner_text(f"{row}")
