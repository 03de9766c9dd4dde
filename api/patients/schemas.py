"""Wire structs of the patient realm's API (``/api/patient``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from api.schemas import Base

Short = Annotated[str, Meta(max_length=100)]


class CodeIn(Base):
    phone: Short


class CodeOut(Base):
    """``resend_after``: the page's countdown before another code may be asked for."""

    message: str
    resend_after: int
    expires_in: int


class PatientLoginIn(Base):
    phone: Short
    code: Short


class PatientLoginOut(Base):
    account_id: int
    verified: bool  # has she verified her own name yet (the page goes on to do so)


class PersonIn(Base):
    relationship: Short
    name: Short
    id_number: Short


class PersonOut(Base):
    id: int
    relationship: str
    name: str
    id_number: str  # masked: 110105********123X
    birth_date: str
    sex: str
    verified_at: str


class AccountOut(Base):
    id: int
    phone: str  # masked
    language: str
    notify_opt_out: bool
    wechat_bound: bool
    persons: list[PersonOut]
    family_max: int


class SettingsIn(Base):
    notify_opt_out: bool | msgspec.UnsetType = msgspec.UNSET
    language: Short | msgspec.UnsetType = msgspec.UNSET


class WechatStartOut(Base):
    url: str


class PatientDone(Base):
    ok: bool = True
    message: str = ""
