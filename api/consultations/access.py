"""Who takes part in a consultation — the one place that answers "may this actor see it?".

Only the applicant, the participants, the invited experts and the reviewers (permission
``consultation.review``) of invited departments see a consultation (issue 3, item 7). Every
read, every action and the live channel (``case:consultation:<id>``) ask ``involvement``;
anybody else gets "not found", so a consultation's existence does not leak.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import msgspec

from kernel.domain import Kind, Permission
from kernel.errors import NotFound
from store.tables import Consultation, ConsultationInvite, ConsultationParticipant, User
from store.uow import Actor

REVIEW = Permission.consultation_review.value
APPLY = Permission.consultation_apply.value


@dataclass(frozen=True)
class Involvement:
    consultation_id: int
    roles: frozenset[str]  # applicant | participant | expert | reviewer

    @property
    def applicant(self) -> bool:
        return "applicant" in self.roles

    @property
    def editor(self) -> bool:
        """Participants (the applicant included) write the report and add files."""
        return bool(self.roles & {"applicant", "participant"})


def reviews_department(actor: Actor, department_id: int) -> bool:
    return (
        actor.kind == Kind.doctor
        and REVIEW in actor.permissions
        and actor.department_id is not None
        and actor.department_id == department_id
    )


async def involvements(actor: Actor, only: int | None = None) -> dict[int, frozenset[str]]:
    """Every consultation the actor takes part in (or just ``only``), with the actor's roles."""
    roles: dict[int, set[str]] = defaultdict(set)

    def narrow(query, column):  # type: ignore[no-untyped-def]
        return query.where(column == only) if only is not None else query

    own = await narrow(
        Consultation.select(Consultation.id).where(Consultation.applicant == actor.user_id),
        Consultation.id,
    )
    for row in own:
        roles[row["id"]].add("applicant")
    joined = await narrow(
        ConsultationParticipant.select(
            ConsultationParticipant.consultation, ConsultationParticipant.role
        ).where(ConsultationParticipant.user == actor.user_id),
        ConsultationParticipant.consultation,
    )
    for row in joined:
        roles[row["consultation"]].add("participant")
        if row["role"] != "participant":
            roles[row["consultation"]].add(row["role"])
    # invited departments: their expert, and (with the review permission) their reviewers
    invited: list[tuple[Any, str]] = [(ConsultationInvite.expert == actor.user_id, "expert")]
    if actor.kind == Kind.doctor and REVIEW in actor.permissions and actor.department_id:
        invited.append((ConsultationInvite.department == actor.department_id, "reviewer"))
    for where, role in invited:
        rows = await narrow(
            ConsultationInvite.select(ConsultationInvite.consultation).where(where),
            ConsultationInvite.consultation,
        )
        for row in rows:
            roles[row["consultation"]].add(role)
    return {cid: frozenset(r) for cid, r in roles.items()}


async def involvement(actor: Actor, consultation_id: int) -> Involvement:
    """The actor's part in one consultation; NotFound if none (whether it exists or not)."""
    roles = (await involvements(actor, consultation_id)).get(consultation_id)
    if not roles:
        raise NotFound(
            "No consultation with id {consultation_id} exists, or you take no part in it.",
            consultation_id=consultation_id,
        )
    return Involvement(consultation_id, roles)


async def can_watch(actor: Actor, consultation_id: int) -> bool:
    """For the live channel: may ``actor`` subscribe to ``case:consultation:<id>``?"""
    return bool((await involvements(actor, consultation_id)).get(consultation_id))


async def reviewers_of(department_ids: list[int]) -> list[int]:
    """Active doctors of these departments whose role has the review permission."""
    if not department_ids:
        return []
    rows = await User.select(User.id, User.role.permissions).where(  # type: ignore[union-attr]
        User.department.is_in(department_ids),
        User.kind == Kind.doctor.value,
        User.active == True,  # noqa: E712
        User.frozen == False,  # noqa: E712
    )
    return sorted(
        row["id"] for row in rows if REVIEW in msgspec.json.decode(row["role.permissions"] or "[]")
    )


async def people_of(consultation_id: int) -> list[int]:
    """Applicant, participants and the experts of departments that have not denied."""
    people: set[int] = set()
    row = (
        await Consultation.select(Consultation.applicant)
        .where(Consultation.id == consultation_id)
        .first()
    )
    if row:
        people.add(row["applicant"])
    for p in await ConsultationParticipant.select(ConsultationParticipant.user).where(
        ConsultationParticipant.consultation == consultation_id
    ):
        people.add(p["user"])
    for i in await ConsultationInvite.select(
        ConsultationInvite.expert, ConsultationInvite.decision
    ).where(ConsultationInvite.consultation == consultation_id):
        if i["expert"] and i["decision"] != "deny":
            people.add(i["expert"])
    return sorted(people)


async def audience(consultation_id: int) -> list[int]:
    """Everybody who may watch the case: the people and the invited departments' reviewers."""
    invites = await ConsultationInvite.select(ConsultationInvite.department).where(
        ConsultationInvite.consultation == consultation_id
    )
    reviewers = await reviewers_of([i["department"] for i in invites])
    return sorted(set(await people_of(consultation_id)) | set(reviewers))
