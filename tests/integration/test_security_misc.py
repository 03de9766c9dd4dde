"""Issue 12, findings 5 and 10 (the accounts parts), over real HTTP: the login page's
``next=``, the password history against administrators' resets, no CSRF value in the login
answer, and the websocket's Origin."""

from __future__ import annotations

import html
import re

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from store.tables import AuditLog, User
from tests.fixtures.hospitals import PASSWORD, make_doctor
from tests.integration.conftest import PUBLIC_URL, client
from tests.integration.test_live import cookie_header, subscribe, ws_url

pytestmark = pytest.mark.integration

OFF_SITE = [
    "/%09/evil.example",  # a tab: browsers drop it and read //evil.example
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "//evil.example",
    "/\\evil.example",
    "/%5cevil.example",
    "/%2f/evil.example",
    "/%252f%252fevil.example",  # encoded twice
    "https://evil.example/",
    "javascript:alert(1)",
    "/%e2%80%a8/evil.example",  # LINE SEPARATOR
    " /evil",
]


def rendered_next(page: str) -> str:
    match = re.search(r'data-then="redirect:([^"]*)"', page)
    assert match, page[:500]
    return html.unescape(match.group(1))


@pytest.mark.parametrize("target", OFF_SITE)
async def test_next_accepts_only_a_path_of_this_site(api, target) -> None:
    for login, default in (("/login", "/"), ("/admin/login", "/manage")):
        res = await api.get(f"{login}?next={target}")
        assert res.status_code == 200
        assert rendered_next(res.text) == default, target


async def test_a_nul_in_next_is_refused_before_any_page(api) -> None:
    """A NUL character is refused in any query (api.bounds): no page, so no redirect."""
    for login in ("/login", "/admin/login"):
        res = await api.get(f"{login}?next=/%00/evil.example")
        assert res.status_code == 400
        assert "evil.example" not in res.headers.get("location", "")


async def test_next_keeps_a_path_of_this_site(api) -> None:
    res = await api.get("/login?next=%2Fviewer%3Fstudy%3D1.2.3%26series%3D4")
    assert rendered_next(res.text) == "/viewer?study=1.2.3&series=4"
    res = await api.get("/login?next=/account/password")
    assert rendered_next(res.text) == "/account/password"


async def test_an_admin_reset_does_not_flush_the_password_history(api, new_api, uniq) -> None:
    """Five temporary passwords from the administrator used to push the user's own out of
    the last five; now they are not kept, and the user's old password stays refused."""
    username = await make_doctor(uniq)  # its password is PASSWORD, kept in the history
    user = await User.select(User.id).where(User.username == username).first()
    admin = new_api()
    await admin.login("admin.east", "Demo@2026", admin=True)
    for _ in range(5):
        res = await admin.post(f"/api/manage/doctors/{user['id']}/reset-password")
        assert res.status_code == 200, res.text
    temporary = res.json()["temporary_password"]
    res = await api.login(username, temporary)
    assert res.json()["must_change_password"] is True
    for refused in (PASSWORD, temporary):  # an old one, and the administrator's
        res = await api.post(
            "/api/auth/password", json={"old_password": temporary, "new_password": refused}
        )
        assert res.status_code == 400, res.text
        assert "last 5" in res.json()["detail"]
    res = await api.post(
        "/api/auth/password", json={"old_password": temporary, "new_password": "Own#Choice77"}
    )
    assert res.status_code == 200, res.text


async def test_an_admin_given_first_password_must_really_change(new_api, uniq) -> None:
    admin = new_api()
    await admin.login("admin.east", "Demo@2026", admin=True)
    username = uniq("given")
    res = await admin.post(
        "/api/manage/doctors",
        json={"username": username, "display_name": "Given", "password": "Given#Pass2026"},
    )
    assert res.status_code == 201, res.text
    doctor = new_api()
    await doctor.login(username, "Given#Pass2026")
    res = await doctor.post(
        "/api/auth/password",
        json={"old_password": "Given#Pass2026", "new_password": "Given#Pass2026"},
    )
    assert res.status_code == 400 and "current one" in res.json()["detail"]


async def test_the_login_answer_carries_no_csrf_value(api, demo) -> None:
    res = await api.login("dr.wang", demo["password"])
    assert set(res.json()) == {"user_id", "realm", "must_change_password"}
    # the UI's CSRF token is the cookie, and it works
    assert api.http.cookies.get("csrftoken")
    assert (await api.post("/api/auth/logout")).status_code == 200


async def test_websocket_refuses_a_cross_site_origin(api, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    await api.login(username, PASSWORD)
    headers = cookie_header(api)
    for origin in ("http://evil.example", "null", f"{app_url}.evil.example", "http://127.0.0.2"):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(
                ws_url(app_url), additional_headers=headers, origin=origin
            ):
                pass
        assert refused.value.response.status_code == 403, origin
    rows = await AuditLog.select(AuditLog.detail).where(
        AuditLog.action == "websocket /ws", AuditLog.username == username
    )
    assert any("evil.example" in r["detail"] for r in rows)
    # its own origin, and a client that is no browser (no Origin at all), are let in
    user = await User.select(User.id).where(User.username == username).first()
    allowed: tuple[str | None, ...] = (app_url, None)
    for own in allowed:
        async with websockets.connect(
            ws_url(app_url),
            additional_headers=headers,
            origin=own,  # type: ignore[arg-type]
        ) as ws:
            reply = await subscribe(ws, [f"user:{user['id']}"])
            assert reply["topics"] == [f"user:{user['id']}"]


async def test_websocket_accepts_the_public_url_origin(guarded) -> None:
    """Behind a proxy the Host may differ from what the browser shows: AIMIS_PUBLIC_URL's
    origin is the app's too."""
    me = client(guarded[0])
    await me.login("dr.chen", "Demo@2026")
    async with websockets.connect(
        ws_url(guarded[0]), additional_headers=cookie_header(me), origin=PUBLIC_URL
    ) as ws:
        assert (await subscribe(ws, []))["op"] == "subscribed"
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            ws_url(guarded[0]), additional_headers=cookie_header(me), origin="https://evil.example"
        ):
            pass
    await me.aclose()
