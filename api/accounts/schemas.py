"""Wire structs of the accounts API."""

from __future__ import annotations

import msgspec

from api.bounds import Text
from api.schemas import Base


class LoginIn(Base):
    identifier: Text = msgspec.field(name="identifier")
    password: Text


class LoginOut(Base):
    """The CSRF token is the ``csrftoken`` cookie (Litestar's middleware), never a body field."""

    user_id: int
    realm: str
    must_change_password: bool = False


class MeOut(Base):
    user_id: int
    username: str
    display_name: str
    kind: str
    hospital_id: int | None
    hospital_name: str
    alliance_id: int | None
    department_id: int | None
    permissions: list[str]
    modules: list[str]
    realm: str
    must_change_password: bool
    # modules he takes part in without holding their permission (named an evaluator or the
    # arbitrator of a quality-control task): the home page's card and the menu lead him there
    named_in: list[str] = []


class PasswordChangeIn(Base):
    old_password: Text
    new_password: Text


class ForgotIn(Base):
    identifier: Text


class ResetIn(Base):
    identifier: Text
    code: Text
    new_password: Text


class QrOut(Base):
    token: str
    topic: str
    expires_at: str
    svg: str
    url: str


class PhoneIn(Base):
    phone: Text


class PhoneBindIn(Base):
    phone: Text
    code: Text


class FirstPasswordIn(Base):
    new_password: Text


class FirstLoginOut(Base):
    """What the first QR login of the logged-in account still has to do on the phone."""

    phone: bool
    password: bool


class Done(Base):
    ok: bool = True
    message: str = ""
