"""Statistics pages (SPEC 6): ``/statistics``, the overview per hospital, the stacked bar
chart and the trend line of a range at a step, turnaround and workload per doctor, and the
downloads. The charts are data (``ui/static/charts.js`` draws them with ECharts); each
in-hospital examination bar or point links to its rows: the examination list filtered by
the bar's days (and device type, department), for staff only. The alliance admin sees the
same figures for each hospital of his alliance, without links to rows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import Provide
from litestar.response import Template

from api.auth import module_enabled
from api.consultations.labels import STATE_LABELS as CONSULTATION_STATES
from api.statistics import cases, service
from api.statistics.details import exam_query
from api.statistics.figures import STEPS, StatFilter, StatQuery, provide_stat_query
from api.statistics.schemas import Series
from kernel.domain import Module, Permission
from kernel.errors import Forbidden
from kernel.i18n import N_, Msg, gettext
from store.tables import Department, Hospital
from store.uow import Actor
from ui.labels.diagnosis import STATE_LABELS as DIAGNOSIS_STATES
from ui.management_pages import human_bytes
from ui.pages import PageController, local_clock, page, user_of

SERIES = (
    ("exam", N_("In-hospital examinations")),
    ("remote", N_("Remote diagnoses")),
    ("consult", N_("Consultations")),
)


async def may_view(actor: Actor) -> tuple[bool, bool]:
    """(sees rows, may download); 403 for a user the statistics are not for."""
    if actor.kind == "alliance_admin":
        return False, False
    if not await module_enabled(actor.hospital_id, Module.statistics):
        raise Forbidden(
            "The module {value!r} is switched off for your hospital.",
            value=Msg(Module.statistics.value),
        )
    admin = actor.kind == "hospital_admin"
    if not admin and Permission.statistics_view.value not in actor.permissions:
        raise Forbidden(
            "Your role lacks the permission {permission!r}.",
            permission=Permission.statistics_view.value,
        )
    return True, admin or Permission.statistics_download.value in actor.permissions


def chart(series: Series, kind: str, links: dict[str, list[str]] | None) -> dict[str, Any]:
    return {
        "type": kind,
        "stacked": kind == "bar",
        "labels": series.labels,
        "series": [
            {
                "name": gettext(title),
                "values": getattr(series, key),
                "links": (links or {}).get(key),
            }
            for key, title in SERIES
        ],
    }


def row_links(series: Series, f: StatFilter, hospital: int) -> dict[str, list[str]]:
    """Each bar's rows, per series: the examination list with the bar's filter; the
    remote diagnoses' and consultations' cases (``/statistics/cases``)."""
    out = []
    bars = list(zip(series.starts, series.ends, strict=True))
    for start, end in bars:
        q = exam_query(
            StatFilter(
                start=f.start.fromisoformat(start),
                end=f.end.fromisoformat(end),
                step=f.step,
                department_id=f.department_id,
                device_type=f.device_type,
            ),
            hospital,
        )
        out.append("/exams?" + urlencode(q.given()))
    links = {"exam": out}
    if f.department_id is None and not f.device_type:  # those figures are per hospital
        for kind in ("remote", "consult"):
            links[kind] = [
                "/statistics/cases?" + urlencode({"kind": kind, "start": a, "end": b})
                for a, b in bars
            ]
    return links


class StatisticsPages(PageController):
    path = "/statistics"
    dependencies = {"stat_query": Provide(provide_stat_query)}

    @get("/")
    async def index(self, request: Request, stat_query: StatQuery) -> Template:
        actor = user_of(request)
        rows, download = await may_view(actor)
        f = await service.parse(actor, stat_query)
        series = await service.series(actor, f)
        hospitals = await service.hospitals_in_scope(actor)
        links = row_links(series, f, hospitals[0]) if rows and hospitals else None
        names = await Hospital.select(Hospital.id, Hospital.name).where(
            Hospital.id.is_in(hospitals or [0])
        )
        departments = (
            await Department.select(Department.id, Department.name)
            .where(Department.hospital == actor.hospital_id)
            .order_by(Department.name)
            if actor.hospital_id
            else []
        )
        given = {k: v for k, v in vars(stat_query).items() if v}
        window = {
            "start": f.start.isoformat(),
            "end": f.end.isoformat(),
            "step": f.step,
            **({"device_type": f.device_type} if f.device_type else {}),
            **({"department_id": str(f.department_id)} if f.department_id is not None else {}),
        }
        return await page(
            request,
            "statistics/index.html",
            f=f,
            steps=STEPS,
            query=stat_query,
            given=given,
            overview=await service.overview(actor, f),
            alltime=await service.overview(actor, None),
            series=series,
            bars=chart(series, "bar", links),
            trend=chart(series, "line", links),
            links=links,
            turnaround=await service.turnaround(actor, f),
            hospitals=names,
            departments=departments,
            rows=rows,
            download=download,
            download_query=urlencode(window),
            human_bytes=human_bytes,
        )

    @get("/cases")
    async def cases(
        self, request: Request, stat_query: StatQuery, kind: str = "remote", cursor: str = ""
    ) -> Template:
        """The remote diagnoses or consultations behind a bar (no patient data)."""
        actor = user_of(request)
        await may_view(actor)
        f = await service.parse(actor, stat_query)
        result = await cases.cases(actor, kind, f, cursor)  # refuses the alliance admin
        window = {"kind": kind, "start": f.start.isoformat(), "end": f.end.isoformat()}
        return await page(
            request,
            "statistics/cases.html",
            f=f,
            result=result,
            title=SERIES[1][1] if kind == "remote" else SERIES[2][1],
            state_labels=DIAGNOSIS_STATES if kind == "remote" else CONSULTATION_STATES,
            when=await local_clock(actor),
            next_url="/statistics/cases?" + urlencode({**window, "cursor": result.next_cursor})
            if result.next_cursor
            else "",
            back_url="/statistics?" + urlencode({"start": window["start"], "end": window["end"]}),
        )
