"""Archive tier, retrievals and data maintenance (SPEC 8.9, 8.11, 9.2).

Who: hospital admins edit their hospital's storage policy, soft-delete and restore its
studies, request and follow retrievals; alliance admins see every hospital's policy of
their alliance and may start policy runs for them, but no study or retrieval (patient
data, ``store.scoping``). Every read goes through ``store.scoping``; a study of another
hospital is "not found".

A retrieval request claims the study with one conditional update (``tier: archive →
restoring``) in the transaction that creates the case, so of two simultaneous requests for
one study exactly one wins on SQLite and PostgreSQL alike; the other gets 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from api.archive import schemas
from api.archive.rules import queue
from api.archive.steps import open_retrieval
from api.crud import first_or_not_found
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from kernel.i18n import N_, Msg
from states.retrieval import OPEN_STATES, RETRIEVAL
from store.engine import timeline
from store.reads import note
from store.scoping import can_see_hospital, deletion_clauses, hospital_ids_clause, visible
from store.tables import ArchiveRetrieval, CaseHistory, Hospital, Outbox, StoragePolicy, Study
from store.uow import Actor, Ctx, now, unit_of_work

TIERS = ("online", "archive", "restoring", "available")
RETRIEVAL_STATES = tuple(s.value for s in RETRIEVAL.states)
LIMITS = {
    "archive_after_days": (1, 36500),
    "validity_days": (1, 36500),
    "available_hours": (1, 24 * 90),
}
BILLING_UNITS = ("study", "GB")
MAX_PAGE = 200


def actor_of(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized(
            "Please log in; your session is missing or has expired.",
        )
    return ctx.actor


def hospital_admin(ctx: Ctx, what: str) -> Actor:
    actor = actor_of(ctx)
    if actor.kind != "hospital_admin" or actor.hospital_id is None:
        raise Forbidden("Only the hospital's administrator may {what}.", what=Msg(what))
    return actor


async def hospital_of(actor: Actor, hospital_id: int | None) -> int:
    """The hospital an admin acts for: his own, or (alliance admin) one he names."""
    if actor.kind == "hospital_admin" and actor.hospital_id is not None:
        if hospital_id not in (None, actor.hospital_id):
            raise NotFound(
                "No hospital with id {hospital_id} exists, or it is not yours.",
                hospital_id=hospital_id,
            )
        return actor.hospital_id
    if hospital_id is None:
        raise BadRequest("Name the hospital (hospital_id).")
    if not await can_see_hospital(actor, hospital_id):
        raise NotFound(
            "No hospital with id {hospital_id} exists in your alliance.",
            hospital_id=hospital_id,
        )
    return hospital_id


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def page_bounds(offset: int, limit: int) -> tuple[int, int]:
    return max(offset, 0), min(max(limit, 1), MAX_PAGE)


# --- storage policy --------------------------------------------------------------------------


def _policy(hospital: dict[str, Any], row: dict[str, Any] | None) -> schemas.PolicyRead:
    defaults = StoragePolicy()
    source = row or {
        "archive_after_days": defaults.archive_after_days,
        "validity_days": defaults.validity_days,
        "available_hours": defaults.available_hours,
        "resource_package": defaults.resource_package,
        "billing_unit": defaults.billing_unit,
        "version": 0,
    }
    return schemas.PolicyRead(
        hospital_id=hospital["id"],
        hospital_name=hospital["name"],
        archive_after_days=source["archive_after_days"],
        validity_days=source["validity_days"],
        available_hours=source["available_hours"],
        resource_package=source["resource_package"],
        billing_unit=source["billing_unit"],
        version=source["version"],
    )


async def list_policies(actor: Actor) -> list[schemas.PolicyRead]:
    hospitals = await visible(Hospital, actor, Hospital.id, Hospital.name).order_by(Hospital.id)
    rows = {
        r["hospital"]: r
        for r in await StoragePolicy.select().where(
            StoragePolicy.hospital.is_in([h["id"] for h in hospitals] or [0])
        )
    }
    return [_policy(h, rows.get(h["id"])) for h in hospitals]


async def get_policy(actor: Actor, hospital_id: int | None = None) -> schemas.PolicyRead:
    hid = await hospital_of(actor, hospital_id)
    for policy in await list_policies(actor):
        if policy.hospital_id == hid:
            return policy
    raise NotFound("No hospital with id {hid} exists.", hid=hid)


def _checked(data: schemas.PolicyUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (low, high) in LIMITS.items():
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if not low <= value <= high:
            raise BadRequest(
                "The {label} must be between {low} and {high}; {value} is not.",
                label=Msg(name.replace("_", " "), context="archive limit"),
                low=low,
                high=high,
                value=value,
            )
        values[name] = value
    if data.resource_package is not msgspec.UNSET:
        package = data.resource_package.strip()
        if not package or len(package) > 100:
            raise BadRequest(
                "The resource package is a name of 1 to 100 characters.",
            )
        values["resource_package"] = package
    if data.billing_unit is not msgspec.UNSET:
        if data.billing_unit not in BILLING_UNITS:
            raise BadRequest("The billing unit is study or GB.")
        values["billing_unit"] = data.billing_unit
    if not values:
        raise BadRequest(
            "Nothing to change: send at least one policy field.",
        )
    return values


async def update_policy(ctx: Ctx, data: schemas.PolicyUpdate) -> schemas.PolicyRead:
    actor = hospital_admin(ctx, N_("change the storage policy"))
    assert actor.hospital_id is not None
    values = _checked(data)
    async with unit_of_work(ctx) as uow:
        existing = (
            await StoragePolicy.select(StoragePolicy.id, StoragePolicy.version)
            .where(StoragePolicy.hospital == actor.hospital_id)
            .first()
        )
        current = existing["version"] if existing else 0
        if data.version != current:
            raise Conflict(
                "The policy was changed by someone else meanwhile. Reload and try again.",
                extra={"version": current},
            )
        if existing is None:
            await StoragePolicy.insert(StoragePolicy(hospital=actor.hospital_id, **values))
        else:
            cols: dict[Any, Any] = {
                StoragePolicy._meta.get_column_by_name(k): v for k, v in values.items()
            }
            updated = (
                await StoragePolicy.update(
                    {**cols, StoragePolicy.version: StoragePolicy.version + 1}
                )
                .where(StoragePolicy.id == existing["id"], StoragePolicy.version == current)
                .returning(StoragePolicy.id)
            )
            if not updated:
                raise Conflict(
                    "The policy was changed by someone else meanwhile. Reload.",
                )
        await uow.audit(
            "archive.policy_update",
            "hospital",
            actor.hospital_id,
            detail=", ".join(f"{k}={v}" for k, v in values.items()),
        )
        await uow.event(
            f"hospital:{actor.hospital_id}", "archive.policy", {"hospital_id": actor.hospital_id}
        )
    return await get_policy(actor)


async def run_policy(ctx: Ctx, data: schemas.PolicyRunIn) -> schemas.Done:
    """Queue one run of ``apply-archive-policy`` for a hospital (the dispatcher runs it)."""
    actor = actor_of(ctx)
    hid = await hospital_of(actor, data.hospital_id)
    prefix = f"archive-policy-{hid}-"
    async with unit_of_work(ctx) as uow:
        waiting = await Outbox.exists().where(
            Outbox.idempotency_key.like(prefix + "%"),
            Outbox.status.is_in(["pending", "running"]),
        )
        if waiting:
            raise Conflict(
                "A policy run for this hospital is already waiting or running.",
            )
        key = f"{prefix}{now().strftime('%Y%m%dT%H%M%S%f')}"
        await uow.outbox("archive.policy", {"hospital_id": hid}, key=key)
        await uow.audit("archive.policy_run_requested", "hospital", hid, hospital_id=hid)
    return schemas.Done(message=f"The archive policy runs now (flow run {key}).")


# --- studies ---------------------------------------------------------------------------------


def _study(row: dict[str, Any], open_ids: dict[int, int]) -> schemas.StudyRow:
    return schemas.StudyRow(
        id=row["id"],
        hospital_id=row["hospital"],
        hospital_name=row["hospital.name"],
        study_uid=row["study_uid"],
        study_date=row["study_date"],
        accession_number=row["accession_number"],
        modalities=row["modalities"],
        description=row["description"],
        patient_id=row["patient_id"],
        patient_name=row["patient_name"],
        num_instances=row["num_instances"],
        size_bytes=row["size_bytes"],
        tier=row["tier"],
        archived_at=iso(row["archived_at"]),
        deleted_at=iso(row["deleted_at"]),
        version=row["version"],
        open_retrieval_id=open_ids.get(row["id"]),
    )


async def _open_retrievals(study_ids: list[int]) -> dict[int, int]:
    if not study_ids:
        return {}
    rows = await ArchiveRetrieval.select(ArchiveRetrieval.id, ArchiveRetrieval.study).where(
        ArchiveRetrieval.study.is_in(study_ids),
        ArchiveRetrieval.state.is_in(list(OPEN_STATES)),
    )
    return {r["study"]: r["id"] for r in rows}


async def list_studies(
    ctx: Ctx, tier: str = "", q: str = "", offset: int = 0, limit: int = 50, deleted: bool = False
) -> schemas.StudyPage:
    """Studies of the admin's scope by tier (or the soft-deleted ones); the read is audited
    (patient names and IDs are shown)."""
    actor = actor_of(ctx)
    if tier and tier not in TIERS:
        raise BadRequest(
            "The tier is one of {value}.",
            value=", ".join(TIERS),
        )
    offset, limit = page_bounds(offset, limit)
    clause = deletion_clauses(Study, deleted)
    if tier:
        clause.append(Study.tier == tier)
    term = q.strip()
    if term:
        clause.append(
            (Study.patient_id == term)
            | (Study.accession_number == term)
            | (Study.study_uid == term)
            | Study.patient_name_search.like(term.upper().replace("%", "") + "%")
        )
    total = await Study.count().where(hospital_ids_clause(Study, actor), *clause)
    rows = (
        await visible(Study, actor, *Study.all_columns(), Study.hospital.name, deleted=None)
        .where(*clause)
        .order_by(Study.deleted_at if deleted else Study.id, ascending=False)
        .offset(offset)
        .limit(limit)
    )
    open_ids = await _open_retrievals([r["id"] for r in rows])
    what = "deleted studies" if deleted else f"{tier or 'all'} studies"
    # audited by the routes' declaration (api.phi)
    note(detail=f"{what}: {len(rows)} of {total} shown" + (f", search {term!r}" if term else ""))
    return schemas.StudyPage([_study(r, open_ids) for r in rows], total, offset, limit)


def stated_reason(text: str, missing: str) -> str:
    """The reason a request states (a retrieval, a deletion), stripped: ``BadRequest(missing)``
    when there is none, another when it is longer than 300 characters."""
    reason = text.strip()
    if not reason:
        raise BadRequest(missing)
    if len(reason) > 300:
        raise BadRequest("The reason is at most 300 characters.")
    return reason


async def visible_study(actor: Actor, study_id: int) -> dict[str, Any]:
    """A study of the admin's scope, deleted or not (deleting, restoring and retrieving say
    which they need)."""
    row = await visible(Study, actor, deleted=None).where(Study.id == study_id).first()
    if row is None:
        raise NotFound(
            "No study with id {study_id} exists, or it belongs to another hospital.",
            study_id=study_id,
        )
    return row


# --- retrievals ------------------------------------------------------------------------------

RETRIEVAL_COLUMNS = (
    *ArchiveRetrieval.all_columns(),
    ArchiveRetrieval.hospital.name,
    ArchiveRetrieval.study.study_uid,
    ArchiveRetrieval.study.accession_number,
    ArchiveRetrieval.study.patient_name,
)


def _retrieval(row: dict[str, Any], names: dict[int, str]) -> schemas.RetrievalRead:
    return schemas.RetrievalRead(
        id=row["id"],
        hospital_id=row["hospital"],
        hospital_name=row["hospital.name"],
        study_id=row["study"],
        study_uid=row["study.study_uid"],
        accession_number=row["study.accession_number"],
        patient_name=row["study.patient_name"],
        state=row["state"],
        version=row["version"],
        requested_by=row["requested_by"],
        requested_by_name=names.get(row["requested_by"], ""),
        reason=row["reason"],
        available_until=iso(row["available_until"]),
        error=row["error"],
        created_at=row["created_at"].isoformat(),
        updated_at=row["updated_at"].isoformat(),
    )


async def _names(user_ids: list[int]) -> dict[int, str]:
    from store.tables import User

    if not user_ids:
        return {}
    rows = await User.select(User.id, User.display_name).where(User.id.is_in(user_ids))
    return {r["id"]: r["display_name"] for r in rows}


async def _read(actor: Actor, retrieval_id: int) -> schemas.RetrievalRead:
    row = await first_or_not_found(
        visible(ArchiveRetrieval, actor, *RETRIEVAL_COLUMNS).where(
            ArchiveRetrieval.id == retrieval_id
        ),
        N_("No retrieval with id {retrieval_id} exists, or it belongs to another hospital."),
        retrieval_id=retrieval_id,
    )
    return _retrieval(row, await _names([row["requested_by"]]))


async def _why_not(study: dict[str, Any]) -> Conflict:
    """Why the study cannot be retrieved now."""
    if study["tier"] == "online":
        return Conflict("The study is online; it needs no retrieval.")
    row = (
        await ArchiveRetrieval.select(
            ArchiveRetrieval.id, ArchiveRetrieval.state, ArchiveRetrieval.available_until
        )
        .where(
            ArchiveRetrieval.study == study["id"],
            ArchiveRetrieval.state.is_in(list(OPEN_STATES)),
        )
        .first()
    )
    if row is None:
        return Conflict(
            "The study is {tier}; try again in a moment.",
            tier=Msg(study["tier"], context="archive tier"),
        )
    if row["state"] == "available":
        return Conflict(
            "The study is already retrieved (retrieval {id}), available until {until}.",
            id=row["id"],
            until=iso(row["available_until"]),
        )
    return Conflict(
        "The study is already being retrieved (retrieval {id}, {state}).",
        id=row["id"],
        state=Msg(row["state"], context="retrieval state"),
    )


async def request_retrieval(ctx: Ctx, data: schemas.RetrievalCreate) -> schemas.RetrievalRead:
    actor = actor_of(ctx)
    reason = stated_reason(
        data.reason, N_("Say why the study is needed; the reason is kept with the request.")
    )
    study = await visible_study(actor, data.study_id)
    if study["hospital"] != actor.hospital_id:  # a doctor's shared study: its owner's call
        raise Forbidden("Only the study's own hospital may have it retrieved.")
    if study["deleted_at"] is not None:
        raise NotFound(
            "No study with id {study_id} exists; it was deleted.",
            study_id=data.study_id,
        )
    at = now()
    async with unit_of_work(ctx):
        claimed = (
            await Study.update(
                {Study.tier: "restoring", Study.updated_at: at, Study.version: Study.version + 1}
            )
            .where(Study.id == study["id"], Study.tier == "archive", Study.deleted_at.is_null())
            .returning(Study.id)
        )
        if not claimed:
            fresh = await Study.select().where(Study.id == study["id"]).first()
            raise await _why_not(fresh or study)
        rid = await open_retrieval(ctx, actor, study, reason)
    created = await ArchiveRetrieval.select().where(ArchiveRetrieval.id == rid).first()
    assert created is not None
    await queue(ctx, created)
    return await _read(actor, rid)


async def list_retrievals(
    actor: Actor, state: str = "", offset: int = 0, limit: int = 50
) -> list[schemas.RetrievalRead]:
    if state and state not in RETRIEVAL_STATES:
        raise BadRequest(
            "The state is one of {value}.",
            value=", ".join(RETRIEVAL_STATES),
        )
    offset, limit = page_bounds(offset, limit)
    query = visible(ArchiveRetrieval, actor, *RETRIEVAL_COLUMNS)
    if state:
        query = query.where(ArchiveRetrieval.state == state)
    rows = await query.order_by(ArchiveRetrieval.id, ascending=False).offset(offset).limit(limit)
    names = await _names(sorted({r["requested_by"] for r in rows}))
    return [_retrieval(r, names) for r in rows]


async def get_retrieval(actor: Actor, retrieval_id: int) -> schemas.RetrievalDetail:
    read = await _read(actor, retrieval_id)
    return schemas.RetrievalDetail(
        read, [schemas.HistoryEntry.of(h) for h in await timeline("retrieval", retrieval_id)]
    )


async def histories(retrieval_ids: list[int]) -> dict[int, list[schemas.HistoryEntry]]:
    """The logs of several retrievals (already scoped by the caller) in one query."""
    out: dict[int, list[schemas.HistoryEntry]] = {rid: [] for rid in retrieval_ids}
    if not retrieval_ids:
        return out
    rows = (
        await CaseHistory.select()
        .where(CaseHistory.case_type == "retrieval", CaseHistory.case_id.is_in(retrieval_ids))
        .order_by(CaseHistory.id)
    )
    for row in rows:
        out[row["case_id"]].append(schemas.HistoryEntry.of(row))
    return out


async def can_watch(actor: Actor, retrieval_id: int) -> bool:
    """The live topic ``case:retrieval:<id>``: admins who may see the retrieval."""
    if not actor.is_admin:
        return False
    return bool(
        await visible(ArchiveRetrieval, actor, ArchiveRetrieval.id)
        .where(ArchiveRetrieval.id == retrieval_id)
        .first()
    )
