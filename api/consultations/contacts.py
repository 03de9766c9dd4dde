"""The contact list for the department and expert pickers (SPEC 3.1, 4.1): departments and
doctors of the alliance's hospitals that take part in remote consultation (or, for a ward
round, the hospitals its caller names). A search matches names, user names, departments and
hospitals, and the pinyin initials of each ("ww" finds 王伟, "fsk" 放射科)."""

from __future__ import annotations

import msgspec
from pypinyin import Style, lazy_pinyin

from api.consultations.access import REVIEW
from api.consultations.schemas import ContactDepartment, ContactDoctor, Contacts
from api.consultations.service import consultation_hospitals
from kernel.domain import Kind
from store.tables import Department, User
from store.uow import Actor

LIMIT = 50


def initials(text: str) -> str:
    """The pinyin initials of the Chinese characters in ``text`` ("王伟" → "ww"); other
    characters as they are, lower case."""
    return "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()


def matches(needle: str, *fields: str) -> bool:
    if not needle:
        return True
    return any(needle in f.lower() for f in fields) or (
        needle.isascii() and any(needle in initials(f).replace(" ", "") for f in fields)
    )


async def search(
    actor: Actor,
    q: str = "",
    department_id: int | None = None,
    hospitals: dict[int, str] | None = None,
) -> Contacts:
    """Search by department, hospital or doctor name (or their pinyin initials);
    ``department_id`` lists its doctors; ``hospitals`` (id → name) replaces the
    consultation hospitals of the actor's alliance."""
    if hospitals is None:
        hospitals = await consultation_hospitals(actor.alliance_id)
    if not hospitals:
        return Contacts([], [])
    needle = q.strip().lower()
    departments = (
        await Department.select(Department.id, Department.name, Department.hospital)
        .where(Department.hospital.is_in(list(hospitals)), Department.active == True)  # noqa: E712
        .order_by(Department.hospital)
        .order_by(Department.name)
    )
    dept_names = {d["id"]: d["name"] for d in departments}
    doctors_query = User.select(
        User.id,
        User.display_name,
        User.username,
        User.department,
        User.hospital,
        User.role.permissions,  # type: ignore[union-attr]
    ).where(
        User.kind == Kind.doctor.value,
        User.active == True,  # noqa: E712
        User.frozen == False,  # noqa: E712
        User.hospital.is_in(list(hospitals)),
    )
    if department_id is not None:
        doctors_query = doctors_query.where(User.department == department_id)
    doctors = await doctors_query.order_by(User.display_name)
    out_departments = [
        ContactDepartment(d["id"], d["name"], d["hospital"], hospitals[d["hospital"]])
        for d in departments
        if (department_id is None or d["id"] == department_id)
        and matches(needle, d["name"], hospitals[d["hospital"]])
    ]
    out_doctors = [
        ContactDoctor(
            id=u["id"],
            display_name=u["display_name"],
            department_id=u["department"],
            department_name=dept_names[u["department"]],
            hospital_id=u["hospital"],
            hospital_name=hospitals[u["hospital"]],
            reviewer=REVIEW in msgspec.json.decode(u["role.permissions"] or "[]"),
        )
        for u in doctors
        if u["department"] in dept_names
        and matches(
            needle,
            u["display_name"],
            u["username"],
            dept_names[u["department"]],
            hospitals[u["hospital"]],
        )
    ]
    return Contacts(out_departments[:LIMIT], out_doctors[:LIMIT])
