"""Routes that show patient data: declared on the route, refused to whoever sees no
patient data, and every successful read audited in one place (SPEC 8.10, "Users";
issue 12 builds 3 and 8).

A route that returns a patient's data says so where it is defined::

    @get("/{exam_id:int}", opt=phi("exam.view", "examination", "exam_id"))

and ``PhiMiddleware`` (one entry of the app's middleware) does the rest for every request
to a declared route:

- an actor who sees no patient data (``store.scoping.sees_patient_data``: the alliance
  admin) gets 403 with a sentence saying why, before the handler runs, unless the route
  is declared ``mixed`` (a management page that also shows administrative rows: it
  renders for him without the patient part, which scoping leaves empty; his call is
  audited like anybody's);
- exactly one audit row (who, action, target type and id from the path, hospital, when,
  IP, user agent) is written when the response starts with a 2xx status, before the first
  byte of the body leaves: if the row cannot be written, the data is not sent. A refusal
  writes none here (the app's refusal hook records those); nor does a redirect.

Services add what the row should say with ``store.reads.note`` (the examination's hospital, which
report, the search's summary); they never write a read's audit row themselves. Writes
keep the audit row of their change, written in the change's unit of work.
``patient_only()`` declares a route that belongs to patient work without showing patient
data itself (the viewer's page): refused to the alliance admin, not audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import ctx_of
from kernel.errors import Forbidden
from store import reads
from store.scoping import NO_PATIENT_DATA, sees_patient_data
from store.uow import Actor

OPT_KEY = "patient_data"


@dataclass(frozen=True)
class PatientRoute:
    """What a route declares: the audit row of a successful read (``action`` empty: not
    audited), and whether it is refused to those who see no patient data."""

    action: str = ""
    target_type: str = ""
    param: str | None = None  # the path parameter naming the target
    mixed: bool = False

    @property
    def audited(self) -> bool:
        return bool(self.action)


def phi(
    action: str, target_type: str, param: str | None = None, *, mixed: bool = False
) -> dict[str, Any]:
    """The ``opt`` of a route that returns patient data: ``action`` and ``target_type`` of
    its audit row, ``param`` the path parameter holding the target's id."""
    return {OPT_KEY: PatientRoute(action, target_type, param, mixed)}


def patient_only() -> dict[str, Any]:
    """The ``opt`` of a route of patient work that shows no patient data itself."""
    return {OPT_KEY: PatientRoute()}


def declared(handler: Any) -> PatientRoute | None:
    """The declaration of a route handler, if it has one."""
    found = (getattr(handler, "opt", None) or {}).get(OPT_KEY)
    return found if isinstance(found, PatientRoute) else None


async def _write(scope: Scope, route: PatientRoute, read: reads.Read) -> None:
    request: Request[Any, Any, Any] = Request(scope)
    target = read.target_id
    if not target and route.param is not None:
        target = str(scope.get("path_params", {}).get(route.param, ""))
    await reads.read_audits().write(  # durable when it returns (group commit)
        ctx_of(request),
        route.action,
        read.target_type or route.target_type,
        target[:64],
        detail=read.detail,
        hospital_id=read.hospital_id,
    )


class PhiMiddleware(ASGIMiddleware):
    """Refusal and audit of the declared patient-data routes (see the module's text)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        route = declared(scope.get("route_handler"))
        if route is None:
            await next_app(scope, receive, send)
            return
        user = scope.get("user")
        actor = user if isinstance(user, Actor) else None
        if actor is not None and not route.mixed and not sees_patient_data(actor):
            raise Forbidden(NO_PATIENT_DATA)
        if actor is None or not route.audited:
            await next_app(scope, receive, send)  # the handler sends the login's way
            return
        read, token = reads.begin()

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not read.written:
                read.written = True
                if 200 <= int(message["status"]) < 300:
                    await _write(scope, route, read)
            await send(message)

        try:
            await next_app(scope, receive, audited_send)
        finally:
            reads.end(token)
