"""Archive management and data maintenance pages (SPEC 8.9, 8.11, 9.2).

``/manage/archive``: the storage policy (hospital admins edit theirs, the alliance admin sees
every hospital's), "run the policy now", archived studies with "request retrieval", and the
retrievals with their live state and each one's log. ``/manage/data``: "archive now", soft
delete and restore. Pages read through ``api.archive.service`` like the API; every change is made by
the browser through the JSON API (``app.js``), so rules and audit live in one place. The
retrievals table is a fragment the page re-fetches when an event arrives on the hospital's
topic, and every few seconds while a retrieval is still moving.
"""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from api.archive import service
from api.auth import ctx_of
from api.management import hospitals
from api.phi import phi
from states.retrieval import OPEN_STATES
from store.scoping import audit_clause, sees_patient_data
from store.tables import AuditLog
from store.uow import Actor
from ui.management_pages import human_bytes
from ui.pages import PageController, admin_of, fragment, hospital_topics, local_clock, page


def pn(value: str) -> str:
    """A DICOM person name for people: "Zhou^Yan=周^艳" → "Zhou Yan 周艳"."""
    groups = value.split("=")
    alphabetic = " ".join(part for part in groups[0].split("^") if part)
    ideographic = "".join(groups[1].split("^")) if len(groups) > 1 else ""
    return " ".join(part for part in (alphabetic, ideographic) if part)


async def _last_runs(actor: Actor) -> dict[int, dict]:
    """The latest ``archive.policy_run`` audit row of each hospital in scope."""
    rows = (
        await AuditLog.select(AuditLog.at, AuditLog.target_id, AuditLog.detail)
        .where(await audit_clause(actor), AuditLog.action == "archive.policy_run")
        .order_by(AuditLog.id, ascending=False)
        .limit(50)
    )
    latest: dict[int, dict] = {}
    for row in rows:
        hid = int(row["target_id"]) if row["target_id"].isdigit() else 0
        latest.setdefault(hid, {"at": row["at"].isoformat(), "detail": row["detail"]})
    return latest


class ArchivePages(PageController):
    path = "/manage"

    @get("/archive", opt=phi("study.list", "study", mixed=True))
    async def archive(self, request: Request, q: str = "") -> Template:
        actor = admin_of(request)
        ctx = ctx_of(request)
        patients = sees_patient_data(actor)  # the alliance admin: the policies only
        return await page(
            request,
            "archive/archive.html",
            policies=await service.list_policies(actor),
            editable=actor.kind == "hospital_admin",
            patients=patients,
            studies=await service.list_studies(ctx, "archive", q, 0, 100) if patients else None,
            retrievals=await service.list_retrievals(actor, limit=100) if patients else [],
            details=await self._details(actor, 100) if patients else {},
            open_states=OPEN_STATES,
            last_runs=await _last_runs(actor),
            topics=hospital_topics(await hospitals.list_hospitals(actor)) if patients else [],
            q=q,
            when=await local_clock(actor),
            human_bytes=human_bytes,
            pn=pn,
        )

    async def _details(self, actor: Actor, limit: int) -> dict[int, list]:
        ids = [r.id for r in await service.list_retrievals(actor, limit=limit)]
        return await service.histories(ids)

    @get("/archive/retrievals", opt=phi("retrieval.list", "retrieval"))
    async def retrievals(self, request: Request) -> Template:
        """The retrievals table alone (htmx fragment)."""
        actor = admin_of(request)
        return fragment(
            request,
            "archive/_retrievals.html",
            retrievals=await service.list_retrievals(actor, limit=100),
            details=await self._details(actor, 100),
            open_states=OPEN_STATES,
            when=await local_clock(actor),
            pn=pn,
        )

    @get("/data", opt=phi("study.list", "study"))
    async def data(self, request: Request, q: str = "") -> Template:
        actor = admin_of(request)
        ctx = ctx_of(request)
        return await page(
            request,
            "archive/data.html",
            studies=await service.list_studies(ctx, "", q, 0, 50) if q.strip() else None,
            deleted=await service.list_studies(ctx, "", "", 0, 100, deleted=True),
            editable=actor.kind == "hospital_admin",
            q=q,
            when=await local_clock(actor),
            human_bytes=human_bytes,
            pn=pn,
        )
