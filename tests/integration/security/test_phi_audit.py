"""Patient-data reads are audited in one place (issue 12, build 8 and finding 9).

Every readable route of the app is called, its path filled with the canaries, as hospital
A's own people (a doctor, the report's author, the hospital admin). A route whose answer
names a canary shows patient data: it must be declared (``api.phi.phi`` on the route), and
a declared route must write exactly one audit row per successful call - its action, the
target from the path, the caller - and none when it refuses. So a new route that shows
patient data without the declaration fails here by itself. Refusals never name a patient.
"""

from __future__ import annotations

from typing import Any

import pytest

from api.phi import declared
from store.tables import AuditLog
from tests.integration.security.canary import INSIDERS, Canary
from tests.integration.security.routes import (
    NOT_CALLED,
    Route,
    accept,
    app_routes,
    found_in,
    url,
    variants,
)

pytestmark = pytest.mark.integration

SHOWN: dict[str, set[tuple[str, str]]] = {}  # insider -> routes whose answer named a canary
# Routes that must be among them: the detector itself works (a route renamed or a canary
# no longer reaching its page shows up here, not as silence).
MUST_SHOW = {
    ("GET", "/api/exams/{exam_id:int}"),
    ("GET", "/api/exams"),
    ("GET", "/exams/{exam_id:int}"),
    ("GET", "/dicomweb/studies/{study:str}/metadata"),
    ("GET", "/dicomweb/studies"),
    ("GET", "/api/diagnosis-requests/{request_id:int}"),
    ("GET", "/api/consultations/{consultation_id:int}"),
    ("GET", "/api/templates/{template_id:int}/render/{examination_id:int}"),
    ("GET", "/api/ingest/runs/{run_id:int}"),
}


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    return [r for r in app_routes() if r.safe and (r.method, r.path) not in NOT_CALLED]


async def _last_audit_id() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


@pytest.mark.parametrize("insider", INSIDERS)
async def test_every_read_of_patient_data_is_declared_and_audited_once(
    insider: str, accounts: dict[str, Any], canary: Canary, routes: list[Route]
) -> None:
    client = accounts[insider]
    user_id = canary.users[insider]
    problems: list[str] = []
    shown: set[tuple[str, str]] = set()
    for route in routes:
        route_decl = declared(route.handler)
        if route_decl is not None and route_decl.param is not None:
            assert route_decl.param in route.params, (route.path, route_decl)
        for variant in variants(route, canary):
            address = url(route, variant)
            mark = await _last_audit_id()
            res = await client.get(address, headers={"accept": accept(address)})
            where = f"GET {address} ({variant.owner}) -> {res.status_code}"
            assert res.status_code < 500, f"{where}: {res.text[:300]}"
            markers = [m for p in canary.patients() for m in p.markers() if m not in address]
            body = res.content.decode("utf-8", "replace")
            hits = found_in(body, markers)
            rows = await AuditLog.select(
                AuditLog.action, AuditLog.target_type, AuditLog.target_id, AuditLog.ip
            ).where(AuditLog.id > mark, AuditLog.user_id == user_id, AuditLog.outcome == "success")
            if hits and res.is_success:
                shown.add((route.method, route.path))
                if route_decl is None or not route_decl.audited:
                    problems.append(f"{where}: shows {hits} but is not declared PHI")
            if hits and not res.is_success:
                names = [h for h in hits if not h.startswith("1.")]
                if names:
                    problems.append(f"{where}: a refusal names the patient {names}")
            if route_decl is None or not route_decl.audited:
                continue
            if res.is_success:
                actions = [r["action"] for r in rows]
                if actions != [route_decl.action]:
                    problems.append(f"{where}: audit rows {actions}, want [{route_decl.action}]")
                elif not rows[0]["ip"]:
                    problems.append(f"{where}: the audit row has no address")
                elif route_decl.param in route.params and not rows[0]["target_id"]:
                    problems.append(f"{where}: the audit row names no target")
            elif any(r["action"] == route_decl.action for r in rows):
                problems.append(f"{where}: a refused read wrote a read's audit row")
    SHOWN[insider] = shown
    assert not problems, f"{insider}:\n" + "\n".join(problems)


def test_the_detector_saw_the_canaries(capsys) -> None:
    """Runs after the above: the known patient-data routes did show a canary."""
    assert set(SHOWN) == set(INSIDERS), "run the whole module"
    seen = set().union(*SHOWN.values())
    assert not MUST_SHOW - seen, sorted(MUST_SHOW - seen)
    with capsys.disabled():
        print(f"\nroutes that showed a canary to hospital A's people: {len(seen)}")
        for method, path in sorted(seen, key=lambda r: r[1]):
            print(f"  {method} {path}")
