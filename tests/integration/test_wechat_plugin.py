"""The WeChat official-account apprise plugin against a fake WeChat server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import apprise
import pytest

import notifiers.wechat_official
from tests.fakes.wechat import FakeWeChat

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


def test_template_message_payload(fake: FakeWeChat) -> None:
    notifiers.wechat_official._tokens.clear()
    ap = apprise.Apprise()
    url = (
        f"wxoa://wxAppID:S3cret@wechat/oOpenID_A/oOpenID_B?template=TplX1&base={fake.base_url}"
        "&link=http%3A%2F%2F127.0.0.1%3A8000%2Fconsultations%2F7"
    )
    assert ap.add(url)
    assert ap.notify(body="Cardiology agreed", title="Consultation 7")
    token = fake.sent("/cgi-bin/token")
    assert token[0].query == {
        "grant_type": "client_credential",
        "appid": "wxAppID",
        "secret": "S3cret",
    }
    sent = fake.sent("/cgi-bin/message/template/send")
    assert [s.query["access_token"] for s in sent] == ["fake-token", "fake-token"]
    assert sent[0].body == {
        "touser": "oOpenID_A",
        "template_id": "TplX1",
        "url": "http://127.0.0.1:8000/consultations/7",
        "data": {"first": {"value": "Consultation 7"}, "keyword1": {"value": "Cardiology agreed"}},
    }
    assert sent[1].body["touser"] == "oOpenID_B"


def test_failure_is_reported(fake: FakeWeChat) -> None:
    notifiers.wechat_official._tokens.clear()
    fake.fail_next = 5
    ap = apprise.Apprise()
    ap.add(f"wxoa://wxAppID:S3cret@wechat/oOpenID_A?template=T&base={fake.base_url}")
    assert not ap.notify(body="x", title="y")
