"""Every route of the app, from the Litestar app itself (a route added tomorrow is in the
matrix without anybody listing it), with its path filled with the canaries' ids and UIDs and
a body that the route would accept.

A route is called once per *variant*: the set of canary objects its path parameters name
(P1's examination, study and images; P2's shared examination, images and request; P3's
consultation and file; City's administrative rows for the rest). Bodies are built from the
handler's ``data`` type: every required field gets a value of its type, versions the
target's current version, ids the canary's - so a write that forgot its check would
succeed, not fail on a bad body.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar.enums import RequestEncodingType
from litestar.routes import HTTPRoute

from store import uow
from store.tables import (
    Consultation,
    DiagnosisRequest,
    DicomNode,
    Examination,
    ExamReport,
    Hospital,
    NotificationChannel,
    Study,
)
from tests.integration.security.canary import Canary

SAFE = ("GET", "HEAD")
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
# Routes the matrix does not call, each with the reason.
NOT_CALLED: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/logout"): "ends the caller's own session; names no object",
    ("PATCH", "/api/notifications/me"): "the caller's own notification settings; names no object",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, e.g. /api/exams/{exam_id:int}
    handler: Any

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    @property
    def safe(self) -> bool:
        return self.method in SAFE

    @property
    def opt(self) -> dict[str, Any]:
        return dict(getattr(self.handler, "opt", None) or {})


def app_routes() -> list[Route]:
    """Every (method, path) of the app but the generated OPTIONS answers (Allow and CORS
    only) and the HEAD twins of the static files' GET."""
    from aimis.app import create_app

    publisher = uow._publisher[0]
    try:
        app = create_app()
    finally:
        uow.set_publisher(publisher)  # building the app must not rewire this process
    found: list[Route] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue  # the websocket: tests/integration/security/test_alliance_admin.py
        for method, entry in sorted(route.route_handler_map.items()):
            if method in ("OPTIONS", "HEAD"):
                continue
            handler = entry[0] if isinstance(entry, tuple) else entry
            found.append(Route(method, route.path, handler))
    return sorted(found, key=lambda r: (r.path, r.method))


@dataclass
class Variant:
    """One filling of a route's path: which canary it names (``owner``: P1, P2, P3, or A
    for City's administrative rows) and the values."""

    owner: str
    values: dict[str, Any] = field(default_factory=dict)


def _patient_values(canary: Canary) -> dict[str, dict[str, Any]]:
    p1, p2 = canary.p1, canary.p2
    return {
        "P1": {
            "exam_id": p1.exam_id,
            "examination_id": p1.exam_id,
            "study_id": p1.study_id,
            "study": p1.study_uid,
            "series": p1.series_uid,
            "instance": p1.sop_uid,
            "study_uid": p1.study_uid,  # a patient share link's image path
            "series_uid": p1.series_uid,
            "sop_uid": p1.sop_uid,
            "share_id": canary.share_id,
            "run_id": canary.run_id,
            "retrieval_id": canary.retrieval_id,
            "report_id": canary.report_id,
        },
        "P2": {
            "exam_id": p2.exam_id,
            "examination_id": p2.exam_id,
            "study_id": p2.study_id,
            "study": p2.study_uid,
            "series": p2.series_uid,
            "instance": p2.sop_uid,
            "request_id": canary.request_id,
        },
        "P4": {  # City's newer processes about P1 (issues 16 and 17)
            "ward_round_id": canary.ward_round_id,
            "course_id": canary.course_id,
            "recording_id": canary.recording_id,
            "task_id": canary.task_id,
            "case_id": canary.case_id,
            "trigger": "start",
        },
        "P3": {
            "consultation_id": canary.consultation_id,
            "attachment_id": canary.attachment_id,
            "examination_id": p1.exam_id,  # the cloud examination it would detach
        },
    }


def _common(route: Route, canary: Canary) -> dict[str, Any]:
    """City's administrative rows and plain values, by parameter (and path where the name
    alone does not say which row)."""
    path = route.path
    ids = canary.ids
    user = canary.users["admin.city"] if path.startswith("/api/manage/admins") else None
    item = next(
        (
            ids[k]
            for k in ("device-types", "devices", "body-parts", "check-items")
            if f"/{k}/" in path
        ),
        0,
    )
    file_path = "viewer"
    if path.startswith("/static"):
        file_path = "app.js"
    elif path.startswith("/vendor/htmx"):
        file_path = "htmx.min.js"
    elif path.startswith("/vendor/mermaid"):
        file_path = "mermaid.min.js"
    return {
        "hospital_id": canary.city,
        "user_id": user or canary.users["dr.li"],
        "department_id": ids["department_id"],
        "role_id": ids["role_id"],
        "item_id": item,
        "template_id": ids["template_id"],
        "phrase_id": ids["phrase_id"],
        "channel_id": ids["channel_id"],
        "node_id": ids["node_id"],
        "token_id": ids["token_id"],
        "person_id": 1,  # a patient's verified person: staff and nobody are nobody there
        "revision": 1,
        "frames": "1",
        "frame": 1,
        "tag": "7FE00010",
        "business_type": "diagnosis",
        "trigger": "start",
        "token": secrets.token_hex(16),
        "lang": "en",
        "kind": "device-types",
        "file_path": file_path,
        "path": "openapi.json",
    }


def variants(route: Route, canary: Canary) -> list[Variant]:
    common = _common(route, canary)
    params = route.params
    found = []
    for owner, values in _patient_values(canary).items():
        if any(p in values for p in params) and all(p in values or p in common for p in params):
            found.append(Variant(owner, {p: values.get(p, common.get(p)) for p in params}))
    if not found:
        found.append(Variant("A", {p: common[p] for p in params}))
    return found


def url(route: Route, variant: Variant) -> str:
    def value(match: re.Match[str]) -> str:
        return str(variant.values[match.group(1)])

    return PARAM.sub(value, route.path)


# --- bodies ---------------------------------------------------------------------------------


async def _version(route: Route, variant: Variant) -> int:
    """The current version of what the route writes, so a version check is no excuse."""
    v = variant.values
    path = route.path
    row: dict[str, Any] | None = None
    if "request_id" in v:
        row = (
            await DiagnosisRequest.select(DiagnosisRequest.version)
            .where(DiagnosisRequest.id == v["request_id"])
            .first()
        )
    elif "consultation_id" in v:
        row = (
            await Consultation.select(Consultation.version)
            .where(Consultation.id == v["consultation_id"])
            .first()
        )
    elif "exam_id" in v and "/report" in path:
        row = (
            await ExamReport.select(ExamReport.version)
            .where(ExamReport.examination == v["exam_id"])
            .first()
        )
    elif "exam_id" in v:
        row = (
            await Examination.select(Examination.version)
            .where(Examination.id == v["exam_id"])
            .first()
        )
    elif "study_id" in v:
        row = await Study.select(Study.version).where(Study.id == v["study_id"]).first()
    elif "node_id" in v:
        row = await DicomNode.select(DicomNode.version).where(DicomNode.id == v["node_id"]).first()
    elif "channel_id" in v:
        row = (
            await NotificationChannel.select(NotificationChannel.version)
            .where(NotificationChannel.id == v["channel_id"])
            .first()
        )
    elif "hospital_id" in v:
        row = await Hospital.select(Hospital.version).where(Hospital.id == v["hospital_id"]).first()
    return int(row["version"]) if row else 1


def _value(name: str, kind: Any, canary: Canary, variant: Variant, version: int) -> Any:
    """A value of ``kind`` for a required field called ``name``."""
    named: dict[str, Any] = {
        "version": version,
        "examination_id": variant.values.get("exam_id", canary.p1.exam_id),
        "study_id": variant.values.get("study_id", canary.p1.study_id),
        "target_hospital_id": canary.west,
        "to_user_id": canary.users["dr.li"],
        # an expert of the consultation's invited department, else a City doctor
        "user_id": canary.users["dr.liu" if "consultation_id" in variant.values else "dr.li"],
        "department_id": canary.ids["department_id"],
        "decision": "agree",
        "reason": "security matrix",
        "kind": "email",
        "name": "security matrix",
        "title": "security matrix",
        "topic": "security matrix",
        "identifier": "nobody",
        "password": "Wrong#Pass123",
    }
    if name in named:
        return named[name]
    origin = getattr(kind, "__origin__", None)
    if kind is int:
        return 1
    if kind is bool:
        return False
    if kind is str:
        return "x"
    if origin is list or kind is list:
        return []
    if origin is dict or kind is dict:
        return {}
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return {
            f.name: _value(f.name, f.type, canary, variant, version)
            for f in msgspec.structs.fields(kind)
            if f.required
        }
    return None


# Bodies that name City's objects where the route's own path names none.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/archive/policy/run"): {"hospital_id": "city"},
    # an admin's edit that changes something (an empty one is refused before any lookup)
    ("PATCH", "/api/exams/{exam_id:int}"): {"exam_category": "outpatient"},
    # a real priority (a bad one is refused before any lookup); the diagnosing hospital too
    # is refused: only the examination's own hospital sets it
    ("PUT", "/api/exams/{exam_id:int}/priority"): {"priority": "emergency"},
}
# Fields through which a body names an object of hospital A.
NAMES_A = {"examination_id", "study_id", "user_id", "to_user_id", "hospital_id"}


async def request_kwargs(route: Route, variant: Variant, canary: Canary) -> dict[str, Any]:
    """``json=`` or ``files=`` for a write, from the handler's ``data`` type."""
    fixed = BODIES.get((route.method, route.path))
    if fixed is not None:
        return {"json": {k: canary.city if v == "city" else v for k, v in fixed.items()}}
    data = route.handler.parsed_data_field
    if route.safe or data is None:
        return {}
    definition = data.kwarg_definition
    media = getattr(definition, "media_type", None)
    if media == RequestEncodingType.MULTI_PART:
        return {"files": {"file": ("x.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}}
    kind = data.annotation
    version = await _version(route, variant)
    if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return {"json": {}}
    body = _value("data", kind, canary, variant, version)
    if not route.params and not NAMES_A & set(body):
        # a create in the caller's own scope names nothing of A: an empty body (refused),
        # so the matrix leaves no rows behind in the other hospitals
        return {"json": {}}
    return {"json": body}


def accept(path: str) -> str:
    """What a real client of the route asks for (else DICOMweb answers 406 before looking)."""
    if not path.startswith("/dicomweb"):
        return "text/html,application/json;q=0.9,*/*;q=0.8"
    if path.endswith(("/rendered", "/thumbnail")):
        return "image/jpeg"
    if "/frames/" in path or "/bulkdata/" in path:
        return 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    if path.endswith("/metadata") or path.endswith(("/studies", "/series", "/instances")):
        return "application/dicom+json"
    return 'multipart/related; type="application/dicom"'


def found_in(body: str, markers: list[str]) -> list[str]:
    low = body.lower()
    return [m for m in markers if m.lower() in low]
