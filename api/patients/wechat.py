"""WeChat web authorisation (网页授权) binds the patient's WeChat for notifications.

The phone is sent to ``{AIMIS_PATIENT_WECHAT_OAUTH_URL}/connect/oauth2/authorize`` with the
official account's AppID, our callback and a fresh ``state`` kept on her session (scope
``snsapi_base``: only the openid, no profile); WeChat sends her back with a ``code``, which
``GET {AIMIS_PATIENT_WECHAT_API_URL}/sns/oauth2/access_token?appid=&secret=&code=
&grant_type=authorization_code`` exchanges for her ``openid``. A callback whose ``state``
is not the session's pending one (a forged or replayed link) binds nothing.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from api.patients.realm import Acting, patient_audit
from kernel import security
from kernel.errors import BadRequest
from kernel.settings import get_settings
from notifiers.configs import OPENID
from store.tables import PatientAccount, PatientSession
from store.uow import unit_of_work

CALLBACK = "/patient/wechat/callback"


def available() -> bool:
    return bool(get_settings().patient.wechat_app_id)


async def start(acting: Acting) -> str:
    """The authorisation URL the phone goes to; its ``state`` is kept on the session."""
    patient = acting.patient
    assert patient is not None
    settings = get_settings()
    if not available():
        raise BadRequest("WeChat binding is not set up on this platform.")
    state = security.new_token(16)
    async with unit_of_work(acting.ctx):
        await PatientSession.update({PatientSession.wechat_state: state}).where(
            PatientSession.id == patient.session_id
        )
    query = urlencode(
        {
            "appid": settings.patient.wechat_app_id,
            "redirect_uri": f"{settings.base_url}{CALLBACK}",
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
    )
    base = settings.patient.wechat_oauth_url.rstrip("/")
    return f"{base}/connect/oauth2/authorize?{query}#wechat_redirect"


async def _openid(code: str) -> str:
    settings = get_settings().patient
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            res = await client.get(
                f"{settings.wechat_api_url.rstrip('/')}/sns/oauth2/access_token",
                params={
                    "appid": settings.wechat_app_id,
                    "secret": settings.wechat_secret.get_secret_value(),
                    "code": code,
                    "grant_type": "authorization_code",
                },
            )
            data = res.json()
    except (httpx.HTTPError, ValueError):
        raise BadRequest("WeChat could not be reached; try binding again later.") from None
    openid = str(data.get("openid") or "") if isinstance(data, dict) else ""
    if not OPENID.fullmatch(openid):
        raise BadRequest(
            "WeChat refused the authorisation ({errcode}); try binding again.",
            errcode=str(data.get("errcode", "?")) if isinstance(data, dict) else "?",
        )
    return openid


async def finish(acting: Acting, code: str, state: str) -> None:
    """Exchange the code for the openid and bind it; the state is used up either way."""
    patient = acting.patient
    assert patient is not None
    if not code or len(code) > 128 or not state or len(state) > 64:
        raise BadRequest("The WeChat authorisation link is incomplete; start the binding again.")
    async with unit_of_work(acting.ctx):
        claimed = (
            await PatientSession.update({PatientSession.wechat_state: ""})
            .where(
                PatientSession.id == patient.session_id,
                PatientSession.wechat_state == state,
            )
            .returning(PatientSession.id)
        )
    if not claimed:
        await patient_audit(
            None,
            acting,
            "patient.wechat_bind",
            "patient_account",
            patient.account_id,
            outcome="denied",
            detail="state mismatch",
        )
        raise BadRequest(
            "This WeChat authorisation was not started from your session, or was used "
            "already; start the binding again.",
            audited=True,
        )
    openid = await _openid(code)
    async with unit_of_work(acting.ctx) as uow:
        await PatientAccount.update(
            {
                PatientAccount.wechat_openid: openid,
                PatientAccount.version: PatientAccount.version + 1,
            }
        ).where(PatientAccount.id == patient.account_id)
        await patient_audit(
            uow, acting, "patient.wechat_bind", "patient_account", patient.account_id
        )


async def unbind(acting: Acting) -> None:
    patient = acting.patient
    assert patient is not None
    async with unit_of_work(acting.ctx) as uow:
        await PatientAccount.update({PatientAccount.wechat_openid: ""}).where(
            PatientAccount.id == patient.account_id
        )
        await patient_audit(
            uow, acting, "patient.wechat_unbind", "patient_account", patient.account_id
        )
