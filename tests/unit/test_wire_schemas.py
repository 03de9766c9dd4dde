"""The generic wire shapes of api/schemas.py put the same JSON on the wire as the per-entity
structs they replaced: the page's fields in their order, updates that touch only what is sent."""

from __future__ import annotations

import msgspec
import pytest
from msgspec import UNSET

from api.crud import changed_fields
from api.dictionaries.schemas import CodedPage, CodedRead, CodedUpdate
from api.management.schemas import DepartmentUpdate, DoctorPage


def test_a_page_encodes_its_fields_in_the_old_order() -> None:
    page = CodedPage([CodedRead(1, "CT", "CT", True, 1)], 1, 1, 50)
    assert list(msgspec.json.decode(msgspec.json.encode(page))) == [
        "items",
        "total",
        "page",
        "per_page",
    ]
    fixed = DoctorPage(items=[], total=0, page=1, page_size=20)
    assert list(msgspec.to_builtins(fixed)) == ["items", "total", "page", "page_size"]


def test_an_update_touches_only_what_was_sent() -> None:
    data = msgspec.json.decode(b'{"name": "X", "active": false}', type=CodedUpdate)
    assert (data.name, data.active, data.code, data.version) == ("X", False, UNSET, UNSET)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"colour": "red"}', type=CodedUpdate)


def test_the_audit_detail_lists_active_after_the_own_fields() -> None:
    data = msgspec.json.decode(
        b'{"active": true, "phone": "1", "version": 2}', type=DepartmentUpdate
    )
    assert changed_fields(data) == ["phone", "active"]
