"""Wire structs of the notification API. Secrets go in, never out: a read says per secret
only whether it is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import UNSET, UnsetType

from api.bounds import Fields, Id, Int, Many, Text
from api.schemas import Base, FixedPage, Update, partial


class ChannelRead(Base):
    id: int
    hospital_id: int
    kind: str
    kind_label: str
    name: str
    settings: dict[str, str]  # the plain settings (ids, template, API host)
    secrets: dict[str, bool]  # secret setting -> is it set
    enabled: bool
    version: int
    created_at: str


class ChannelCreate(Base):
    kind: Text
    name: Text = ""
    settings: Fields[Text] = {}
    enabled: bool = True


if TYPE_CHECKING:

    class ChannelUpdate(Update, ChannelCreate): ...

else:  # an empty secret in ``settings`` keeps the stored one
    ChannelUpdate = partial(ChannelCreate, "ChannelUpdate", base=Update, exclude=("kind",))


class ChannelTest(Base):
    user_id: Id | None = None  # who gets it on a personal channel; default: yourself


class Queued(Base):
    message: str
    key: str


class RuleRead(Base):
    business_type: str
    business_label: str
    channel_ids: list[int]
    audience: str
    enabled: bool
    configured: bool  # False: no rule yet, the platform fallback applies
    version: int


class RuleUpdate(Base):
    channel_ids: Many[Id]
    audience: Text = "involved"
    enabled: bool = True
    version: Int | UnsetType = UNSET


class BindingRead(Base):
    user_id: int
    username: str
    display_name: str
    email: str
    wechat_openid: str
    wecom_userid: str
    language: str
    version: int


class BindingUpdate(Update):
    wechat_openid: Text | UnsetType = UNSET
    wecom_userid: Text | UnsetType = UNSET
    language: Text | UnsetType = UNSET


class DeliveryRead(Base):
    id: int
    outbox_id: int
    hospital_id: int | None
    hospital_name: str
    user_id: int | None
    recipient: str  # display name, or "group" for a robot's post
    channel: str
    business_type: str
    status: str
    attempts: int
    error: str
    possible_duplicate: bool
    created_at: str
    sent_at: str | None


DeliveryPage = FixedPage[DeliveryRead]
