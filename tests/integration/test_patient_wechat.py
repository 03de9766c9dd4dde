"""WeChat web authorisation binds a patient's openid (issue 15, point 3), against a fake
WeChat on loopback (``tests/fakes/wechat.py``: ``/sns/oauth2/access_token``), in an app
started with the official account's AppID pointed there."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from store.tables import AuditLog, PatientAccount
from tests.fakes.wechat import FakeWeChat
from tests.fixtures.patients import login_patient
from tests.integration.conftest import PUBLIC_URL, _replicas, client

pytestmark = pytest.mark.integration

OPENID = "oPatient_Fake_OpenId_0000001"


@pytest.fixture(scope="module")
def wechat() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wechat_app(database: str, wechat: FakeWeChat) -> Iterator[str]:
    appid, secret = wechat.oauth_app
    for urls in _replicas(
        1,
        "patient-wechat",
        AIMIS_PATIENT_WECHAT_APP_ID=appid,
        AIMIS_PATIENT_WECHAT_SECRET=secret,
        AIMIS_PATIENT_WECHAT_API_URL=wechat.base_url,
        AIMIS_PATIENT_WECHAT_OAUTH_URL="https://open.weixin.qq.com",
    ):
        yield urls[0]


async def openid_of(phone: str) -> str:
    row = (
        await PatientAccount.select(PatientAccount.wechat_openid)
        .where(PatientAccount.phone == f"86{phone}")
        .first()
    )
    assert row is not None
    return str(row["wechat_openid"])


async def start(api) -> dict[str, str]:  # type: ignore[no-untyped-def]
    res = await api.post("/api/patient/wechat/start")
    assert res.status_code == 200, res.text
    url = urlsplit(res.json()["url"])
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "open.weixin.qq.com",
        "/connect/oauth2/authorize",
    )
    assert url.fragment == "wechat_redirect"
    return {k: v[0] for k, v in parse_qs(url.query).items()}


async def test_the_code_from_wechat_binds_the_openid(wechat_app: str, wechat: FakeWeChat) -> None:
    api = client(wechat_app)
    phone = await login_patient(api)
    query = await start(api)
    assert query["appid"] == wechat.oauth_app[0] and query["scope"] == "snsapi_base"
    assert query["redirect_uri"] == f"{PUBLIC_URL}/patient/wechat/callback"
    wechat.oauth_codes["code-from-wechat-1"] = OPENID
    res = await api.get(
        "/patient/wechat/callback",
        params={"code": "code-from-wechat-1", "state": query["state"]},
        headers={"accept": "text/html"},
    )
    assert res.status_code in (302, 303) and res.headers["location"] == "/patient/settings"
    assert await openid_of(phone) == OPENID
    [exchange] = [r for r in wechat.requests if r.path == "/sns/oauth2/access_token"]
    assert exchange.query["code"] == "code-from-wechat-1"
    assert exchange.query["grant_type"] == "authorization_code"
    me = (await api.get("/api/patient/me")).json()
    assert me["wechat_bound"] is True and OPENID not in str(me)
    # the state is used up: the same link again binds nothing
    wechat.oauth_codes["code-from-wechat-2"] = "oSomebody_Else_OpenId_000002"
    again = await api.get(
        "/patient/wechat/callback",
        params={"code": "code-from-wechat-2", "state": query["state"]},
        headers={"accept": "application/json"},
    )
    assert again.status_code == 400 and "not started from your session" in again.json()["detail"]
    assert await openid_of(phone) == OPENID
    assert (await api.post("/api/patient/wechat/unbind")).status_code == 200
    assert await openid_of(phone) == ""
    account = (await api.get("/api/patient/me")).json()["id"]
    actions = [
        r["action"]
        for r in await AuditLog.select(AuditLog.action).where(
            AuditLog.username == f"patient:{account}", AuditLog.action.like("patient.wechat%")
        )
    ]
    assert sorted(actions) == [
        "patient.wechat_bind",
        "patient.wechat_bind",
        "patient.wechat_unbind",
    ]


async def test_a_forged_state_or_a_refused_code_binds_nothing(
    wechat_app: str, wechat: FakeWeChat
) -> None:
    victim = client(wechat_app)
    phone = await login_patient(victim)
    attacker = client(wechat_app)
    await login_patient(attacker)
    attacker_state = (await start(attacker))["state"]
    await start(victim)
    wechat.oauth_codes["attackers-code"] = "oAttacker_OpenId_00000000003"
    # the attacker's link opened in the victim's browser: her session's state differs
    res = await victim.get(
        "/patient/wechat/callback",
        params={"code": "attackers-code", "state": attacker_state},
        headers={"accept": "application/json"},
    )
    assert res.status_code == 400
    assert await openid_of(phone) == ""
    # a code WeChat does not know (expired, used): WeChat's errcode is said, nothing bound
    state = (await start(victim))["state"]
    res = await victim.get(
        "/patient/wechat/callback",
        params={"code": "never-issued", "state": state},
        headers={"accept": "application/json"},
    )
    assert res.status_code == 400 and "40029" in res.json()["detail"]
    assert await openid_of(phone) == ""
    # no patient session: the login page, nothing exchanged
    before = len(wechat.requests)
    nobody = client(wechat_app)
    res = await nobody.get(
        "/patient/wechat/callback",
        params={"code": "x", "state": state},
        headers={"accept": "text/html"},
    )
    assert res.status_code in (302, 303) and res.headers["location"].startswith("/patient/login")
    assert len(wechat.requests) == before
