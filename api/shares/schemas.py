"""Wire structs of sharing (SPEC 2.6): ``ShareCreate`` in, ``ShareRead`` and ``Colleague``
out. A share is a pointer to an examination, never a permission: the recipient opens it
through the ordinary visibility rule of examinations."""

from __future__ import annotations

from api.bounds import Id, Text
from api.schemas import Base


class ShareCreate(Base):
    to_user_id: Id
    message: Text = ""


class ShareRead(Base):
    id: int
    exam_id: int
    from_user_id: int
    from_name: str
    to_user_id: int
    to_name: str
    message: str
    created_at: str
    read_at: str | None
    # the examination as the recipient's list shows it (he sees it anyway: same hospital)
    patient_name: str = ""
    check_item_name: str = ""
    device_type: str = ""
    exam_time: str = ""
    link: str = ""


class ReceivedShares(Base):
    items: list[ShareRead]
    unread: int


class Colleague(Base):
    id: int
    display_name: str
    department_name: str
