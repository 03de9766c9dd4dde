"""The patient realm's pages (SPEC 10): phone first, Chinese first.

They read the patient cookie alone (``api.patients.realm``): without a patient session a
page sends the reader to ``/patient/login``, whatever staff session the browser holds.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Redirect, Template

from api.patients import persons, wechat
from api.patients.realm import Patient, acting_of, optional_patient
from api.patients.schemas import AccountOut
from kernel.i18n import N_
from store.zones import DEFAULT_TZ
from ui import i18n
from ui.pages import GoTo, PageController, clock, safe_next

RELATIONSHIP_LABELS = {
    "self": N_("relationship:self"),
    "spouse": N_("relationship:spouse"),
    "father": N_("relationship:father"),
    "mother": N_("relationship:mother"),
    "child": N_("relationship:child"),
    "other": N_("relationship:other"),
}
LOGIN = "/patient/login"


async def patient_page(request: Request) -> tuple[Patient, AccountOut]:
    patient = await optional_patient(request)
    if patient is None:
        raise GoTo(Redirect(f"{LOGIN}?next={quote(request.url.path)}"))
    return patient, await persons.account(patient)


# A patient belongs to no hospital: her pages show times in the alliance's zone.
PATIENT_CLOCK = clock(ZoneInfo(DEFAULT_TZ))


def render(request: Request, template: str, **context: Any) -> Template:
    return Template(
        template_name=template,
        context={
            **i18n.context(request),
            "relationship_labels": RELATIONSHIP_LABELS,
            "when": PATIENT_CLOCK,
            **context,
        },
    )


async def account_tab(request: Request, template: str, tab: str, **context: Any) -> Template:
    """One of the account's tabs: the logged-in patient's account (else the login), rendered."""
    _, account = await patient_page(request)
    return render(request, template, account=account, tab=tab, **context)


class PatientPages(PageController):
    path = "/patient"

    @get(LOGIN.removeprefix("/patient"))
    async def login(self, request: Request, next: str = "") -> Template | Redirect:
        target = safe_next(next, "/patient")
        if not target.startswith("/patient"):
            target = "/patient"
        if await optional_patient(request) is not None:
            return Redirect(target)
        return render(request, "patients/login.html", next=target, account=None)

    @get("/")
    async def home(self, request: Request) -> Template:
        _, account = await patient_page(request)
        verified = any(p.relationship == "self" for p in account.persons)
        return render(request, "patients/home.html", account=account, verified=verified, tab="home")

    @get("/verify")
    async def verify(self, request: Request) -> Template | Redirect:
        _, account = await patient_page(request)
        if any(p.relationship == "self" for p in account.persons):
            return Redirect("/patient")
        return render(request, "patients/verify.html", account=account, tab="home")

    @get("/family")
    async def family(self, request: Request) -> Template:
        _, account = await patient_page(request)
        return render(
            request,
            "patients/family.html",
            account=account,
            family=[p for p in account.persons if p.relationship != "self"],
            family_relationships=[r for r in persons.RELATIONSHIPS if r != "self"],
            tab="family",
        )

    @get("/settings")
    async def settings(self, request: Request) -> Template:
        return await account_tab(
            request, "patients/settings.html", "settings", wechat_available=wechat.available()
        )

    @get(wechat.CALLBACK.removeprefix("/patient"))
    async def wechat_callback(
        self,
        request: Request,
        code: str = "",
        oauth_state: Annotated[str, Parameter(query="state")] = "",
    ) -> Redirect:
        await patient_page(request)
        await wechat.finish(acting_of(request), code, oauth_state)
        return Redirect("/patient/settings")
