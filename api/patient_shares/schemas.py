"""Wire structs of the patient's share links (``/api/patient/shares``, ``/s/<token>``)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from api.schemas import Base

Password = Annotated[str, Meta(max_length=64)]


class ShareIn(Base):
    """A new link: the examination, how many days (one of ``DAYS``) and the password
    (empty: one is generated and shown once)."""

    examination_id: Annotated[int, Meta(ge=1, le=2**31 - 1)]
    days: Annotated[int, Meta(ge=1, le=365)] = 7
    password: Password = ""


class ShareMade(Base):
    """The link and, when it was generated, the password: both shown this once."""

    id: int
    url: str
    password: str
    expires_at: str
    message: str


class Opening(Base):
    at: str
    address: str  # masked: 10.1.*.* / 2001:db8:*


class ShareRow(Base):
    id: int
    examination_id: int
    title: str
    created_at: str
    expires_at: str
    state: str  # active | expired | revoked | locked
    openings: int
    opened: list[Opening]


class PasswordIn(Base):
    password: Password


class ShareDone(Base):
    message: str = ""


class ShareSession(Base):
    """A link session for a DICOMweb client: ``Authorization: Bearer <token>`` on
    ``dicomweb`` (the link's root) until ``expires_at``."""

    token: str
    expires_at: str
    dicomweb: str
