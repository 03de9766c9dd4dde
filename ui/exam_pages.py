"""Examination list pages (SPEC 2.1, 2.3, 2.6; issue 5 items 2, 8, 9): the list for
doctors and admins (the same responsive page on desktop and phone), its table fragment for
live refresh, and an examination's page with the admin's edit form.

Pages read through ``api.exams.search``, ``counts`` and ``columns`` like the API, and
what they offer to choose from through ``api.exams.choices`` (the same visibility rule
and scoping); the edit and the column choice are sent by the browser to the JSON API, so
the rules and the audit live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import Provide
from litestar.response import Template

from api.auth import ctx_of, module_enabled
from api.exams import choices, columns, search
from api.exams.counts import status_counts
from api.exams.filters import ExamQuery, provide_exam_query
from api.exams.schemas import ExamRead
from api.phi import phi
from kernel import priority as priorities
from kernel.domain import Module
from kernel.errors import Forbidden
from store.examinations import STATUSES
from store.uow import Actor
from ui.labels.exams import COLUMN_LABELS, STATUS_LABELS
from ui.pages import PageController, hospital_topics, local_clock, page, user_of

MODALITIES = ("CT", "MR", "DX", "CR", "DR", "US", "MG", "XA", "RF", "NM", "PT", "ES", "OT")
CATEGORIES = ("outpatient", "inpatient", "physical", "emergency")


async def exam_reader(request: Request) -> Actor:
    """The signed-in user who may read examinations (doctors of a hospital with remote
    diagnosis, hospital administrators), or on to the login page. The alliance
    administrator is refused by the routes' declaration (``api.phi``)."""
    actor = user_of(request)
    if not actor.is_admin and not await module_enabled(actor.hospital_id, Module.remote_diagnosis):
        raise Forbidden("The module 'remote_diagnosis' is switched off for your hospital.")
    return actor


def age(exam: ExamRead) -> str:
    """Age in years at the examination, from the DICOM birth date (YYYYMMDD)."""
    b = exam.patient_birth_date
    if len(b) != 8 or not (b.isascii() and b.isdigit()):
        return ""
    try:
        born = date(int(b[:4]), int(b[4:6]), int(b[6:8]))
    except ValueError:
        return ""
    at = datetime.fromisoformat(exam.exam_time).date()
    return str(at.year - born.year - ((at.month, at.day) < (born.month, born.day)))


def cell(exam: ExamRead, column: str, when: Callable[[str | None], str]) -> str:
    values: dict[str, Callable[[], str]] = {
        "patient_name": lambda: exam.patient_name,
        "patient_sex": lambda: exam.patient_sex,
        "patient_age": lambda: age(exam),
        "patient_id": lambda: exam.patient_id,
        "accession_number": lambda: exam.accession_number,
        "his_number": lambda: exam.patient_his_number,
        "id_number": lambda: exam.patient_id_number,
        "check_item": lambda: exam.check_item_name,
        "device_type": lambda: exam.device_type,
        "body_part": lambda: exam.body_part,
        "exam_category": lambda: exam.exam_category,
        "scanning_method": lambda: exam.scanning_method,
        "department": lambda: exam.department_name,
        "hospital": lambda: exam.hospital_name,
        "exam_time": lambda: when(exam.exam_time),
        "print_time": lambda: when(exam.print_time),
        "status": lambda: exam.status,
    }
    return values[column]()


async def _list_context(request: Request, actor: Actor, query: ExamQuery) -> dict[str, Any]:
    result = await search.list_exams(ctx_of(request), query)
    counts = await status_counts(actor, query)
    prefs = await columns.get_columns(actor)
    given = query.given()
    return {
        "result": result,
        "counts": counts,
        "columns": prefs.columns,
        "prefs": prefs,
        "query": query,
        "given": given,
        "next_url": (
            "/exams?" + urlencode({**given, "cursor": result.next_cursor})
            if result.next_cursor
            else ""
        ),
        "first_url": "/exams?" + urlencode(given),
        "priority_url": lambda p: "/exams?" + urlencode({**given, "priority": p}),
        "status_url": lambda s: (
            "/exams?"
            + urlencode(
                {**given, "status": s} if s else {k: v for k, v in given.items() if k != "status"}
            )
        ),
        "when": await local_clock(actor),
        "cell": cell,
        "column_labels": COLUMN_LABELS,
        "status_labels": STATUS_LABELS,
        "statuses": STATUSES,
        "priorities": priorities.NAMES,
        "priority_labels": priorities.LABELS,
    }


class ExamPages(PageController):
    path = "/exams"
    dependencies = {"exam_query": Provide(provide_exam_query)}

    @get("/", opt=phi("exam.list", "examination"))
    async def index(self, request: Request, exam_query: ExamQuery) -> Template:
        actor = await exam_reader(request)
        context = await _list_context(request, actor, exam_query)
        departments = await choices.departments(actor)
        hospitals = await choices.hospitals(actor)
        return await page(
            request,
            "exams/index.html",
            **context,
            departments=departments,
            hospitals=hospitals,
            modalities=MODALITIES,
            categories=CATEGORIES,
            topics=hospital_topics(hospitals),
            filters_open=any(
                v and k not in ("q", "sort", "order", "limit") for k, v in context["given"].items()
            )
            or (exam_query.sort, exam_query.order) != ("exam_time", "desc"),
            rows_url="/exams/rows?" + urlencode({**context["given"], "cursor": exam_query.cursor}),
        )

    @get("/rows", opt=phi("exam.list", "examination"))
    async def rows(self, request: Request, exam_query: ExamQuery) -> Template:
        """The counts and the table alone: what the live refresh swaps in."""
        actor = await exam_reader(request)
        return await page(
            request, "exams/_rows.html", **await _list_context(request, actor, exam_query)
        )

    @get("/{exam_id:int}", opt=phi("exam.view", "examination", "exam_id"))
    async def detail(self, request: Request, exam_id: int) -> Template:
        actor = await exam_reader(request)
        exam = await search.view(ctx_of(request), exam_id)
        editable = actor.is_admin and actor.realm == "admin" and not exam.shared
        check_items: list[dict[str, Any]] = []
        departments: list[dict[str, Any]] = []
        if editable:
            check_items, departments = await choices.edit_choices(actor, exam_id)
        return await page(
            request,
            "exams/detail.html",
            exam=exam,
            editable=editable,
            may_set_priority=not exam.shared and (actor.is_admin or actor.kind == "doctor"),
            priorities=priorities.NAMES,
            priority_labels=priorities.LABELS,
            check_items=check_items,
            departments=departments,
            categories=CATEGORIES,
            age=age(exam),
            when=await local_clock(actor),
            status_labels=STATUS_LABELS,
        )
