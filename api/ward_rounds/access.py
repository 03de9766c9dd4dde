"""Who takes part in a ward round — the one place that answers "may this actor see it?".

Only its applicant and its invited experts see a ward round: every read, every step, the
record, the print and the live channel (``case:ward_round:<id>``) ask ``involvement``;
anybody else gets "not found" (audited by the route), so a round's existence does not leak.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from api.consultations.service import module_hospitals
from kernel.domain import Module
from kernel.errors import NotFound
from store.tables import WardRound, WardRoundExpert
from store.uow import Actor


@dataclass(frozen=True)
class Involvement:
    ward_round_id: int
    roles: frozenset[str]  # applicant | expert

    @property
    def applicant(self) -> bool:
        return "applicant" in self.roles

    @property
    def expert(self) -> bool:
        return "expert" in self.roles


async def involvements(actor: Actor, only: int | None = None) -> dict[int, frozenset[str]]:
    roles: dict[int, set[str]] = defaultdict(set)
    own = WardRound.select(WardRound.id).where(WardRound.applicant == actor.user_id)
    invited = WardRoundExpert.select(WardRoundExpert.ward_round).where(
        WardRoundExpert.expert == actor.user_id
    )
    if only is not None:
        own = own.where(WardRound.id == only)
        invited = invited.where(WardRoundExpert.ward_round == only)
    for row in await own:
        roles[row["id"]].add("applicant")
    for row in await invited:
        roles[row["ward_round"]].add("expert")
    return {wid: frozenset(r) for wid, r in roles.items()}


async def involvement(actor: Actor, ward_round_id: int) -> Involvement:
    """The actor's part in one round; NotFound if none (whether it exists or not)."""
    roles = (await involvements(actor, ward_round_id)).get(ward_round_id)
    if not roles:
        raise NotFound(
            "No ward round with id {ward_round_id} exists, or you take no part in it.",
            ward_round_id=ward_round_id,
        )
    return Involvement(ward_round_id, roles)


async def can_watch(actor: Actor, ward_round_id: int) -> bool:
    return bool((await involvements(actor, ward_round_id)).get(ward_round_id))


async def people_of(ward_round_id: int) -> list[int]:
    """The applicant and the experts."""
    row = await WardRound.select(WardRound.applicant).where(WardRound.id == ward_round_id).first()
    experts = await WardRoundExpert.select(WardRoundExpert.expert).where(
        WardRoundExpert.ward_round == ward_round_id
    )
    return sorted({*(r["expert"] for r in experts), *([row["applicant"]] if row else [])})


async def expert_hospitals(alliance_id: int | None) -> dict[int, str]:
    """The leading hospitals of the alliance with the ward-round module on: id → name."""
    return await module_hospitals(alliance_id, Module.ward_round, level="leading")
