"""Finding 2 of issue 12 over real HTTP and the live channel: the alliance admin adds
hospitals and their admins and sees alliance-wide storage and statistics as aggregates -
never a patient, a report, an image or a consultation (SPEC "Users"). Hospital A's own
people keep what they had. (The matrix in ``test_matrix.py`` walks every route; these tests
say what the alliance admin gets instead, in words and figures.)"""

from __future__ import annotations

import asyncio
import html
import json
from typing import Any

import pytest
import websockets

from store.scoping import PATIENT_AUDIT_TARGETS
from store.tables import AuditLog, Examination, Study
from tests.conftest import Api
from tests.integration.security.canary import Canary

pytestmark = pytest.mark.integration

REFUSAL = "never a patient's data"
HTML = {"accept": "text/html"}


@pytest.mark.parametrize(
    "path",
    [
        "/exams",
        "/exams/{exam}",
        "/exams/{exam}/report",
        "/studies",
        "/studies/{study}/mobile",
        "/viewer/viewer?StudyInstanceUIDs={uid}",
        "/diagnosis",
        "/consultations/{consultation}",
        "/manage/data",
        "/manage/migrations",
        "/manage/migration-log",
        "/manage/consultations",
    ],
)
async def test_patient_pages_refuse_him_with_a_sentence(
    path: str, accounts: dict[str, Api], canary: Canary
) -> None:
    address = path.format(
        exam=canary.p1.exam_id,
        study=canary.p1.study_id,
        uid=canary.p1.study_uid,
        consultation=canary.consultation_id,
    )
    res = await accounts["alliance.admin"].get(address, headers=HTML)
    assert res.status_code == 403, (address, res.status_code)
    assert "text/html" in res.headers["content-type"]
    assert REFUSAL in html.unescape(res.text) and canary.p1.patient_id not in res.text
    zh = await accounts["alliance.admin"].get(address, headers={**HTML, "accept-language": "zh"})
    assert "不能查看任何患者数据" in html.unescape(zh.text)
    # the hospital's own admin still works there
    assert (await accounts["admin.city"].get(address, headers=HTML)).status_code in (200, 302, 303)


async def test_api_refusals_and_no_edit(accounts: dict[str, Api], canary: Canary) -> None:
    alliance = accounts["alliance.admin"]
    exam = canary.p1.exam_id
    for path in (
        "/api/exams",
        f"/api/exams/{exam}",
        f"/api/exams/{exam}/report",
        f"/api/exams/{exam}/report.pdf",
        "/api/diagnosis-requests",
        f"/api/diagnosis-requests/{canary.request_id}",
        "/api/consultations/log",
        "/api/archive/studies",
        "/api/archive/retrievals",
        "/api/ingest/runs",
        "/api/ingest/log.csv",
        f"/dicomweb/studies/{canary.p1.study_uid}/metadata",
    ):
        res = await alliance.get(path, headers={"accept": "application/json"})
        assert res.status_code == 403, (path, res.status_code, res.text[:200])
        assert REFUSAL in res.json()["detail"], path
    before = await Examination.select(Examination.version).where(Examination.id == exam).first()
    res = await alliance.patch(f"/api/exams/{exam}", json={"exam_category": "emergency"})
    assert res.status_code == 403 and REFUSAL in res.json()["detail"]
    after = await Examination.select(Examination.version).where(Examination.id == exam).first()
    assert after == before
    # every refusal is in the audit log, as a refusal (the app's hook), never as a read
    rows = await AuditLog.select(AuditLog.action, AuditLog.outcome).where(
        AuditLog.username == "alliance.admin", AuditLog.action == "PATCH /api/exams/{exam_id}"
    )
    assert rows and {r["outcome"] for r in rows} == {"denied"}
    assert not await AuditLog.exists().where(
        AuditLog.username == "alliance.admin", AuditLog.action == "exam.view"
    )
    refused_reads = await AuditLog.select(AuditLog.outcome).where(
        AuditLog.username == "alliance.admin",
        AuditLog.action == "GET /dicomweb/studies/{study}/metadata",
    )
    assert refused_reads and {r["outcome"] for r in refused_reads} == {"denied"}


async def test_he_keeps_the_hospitals_and_their_figures(
    accounts: dict[str, Api], canary: Canary
) -> None:
    alliance = accounts["alliance.admin"]
    hospitals = (await alliance.get("/api/manage/hospitals")).json()
    assert {h["id"] for h in hospitals} >= {canary.city, canary.east, canary.west}
    admins = await alliance.get(f"/api/manage/hospitals/{canary.city}/admins")
    assert admins.status_code == 200 and "admin.city" in admins.text
    studies = await Study.count().where(Study.hospital == canary.city, Study.deleted_at.is_null())
    exams = await Examination.count().where(
        Examination.hospital == canary.city, Examination.deleted_at.is_null()
    )
    assert studies >= 2 and exams >= 2
    page = await alliance.get("/manage/hospitals", headers=HTML)
    assert page.status_code == 200
    row = page.text.split('data-code="CITY"')[1].split("</tr>")[0]
    assert f'data-testid="studies">{studies}<' in row
    assert f'data-testid="examinations">{exams}<' in row
    one = await alliance.get(f"/manage/hospitals/{canary.city}", headers=HTML)
    assert f'data-testid="study-count">{studies}<' in one.text
    assert canary.p1.patient_id not in page.text + one.text
    # the menu offers no patient page (the archive shows the storage policies only)
    assert 'href="/exams"' not in page.text and 'href="/studies"' not in page.text
    archive = await alliance.get("/manage/archive", headers=HTML)
    assert archive.status_code == 200 and 'id="no-patient-data"' in archive.text
    assert canary.p1.patient_id not in archive.text and 'id="archived"' not in archive.text
    assert (await alliance.get("/api/archive/policies")).status_code == 200
    assert (await alliance.get("/api/notifications/log")).status_code == 200


async def test_his_audit_log_is_about_administration(
    accounts: dict[str, Api], canary: Canary
) -> None:
    """Who read which patient's examination is the hospital's business; so are other
    people's refused requests (their text may quote a search)."""
    alliance, city = accounts["alliance.admin"], accounts["admin.city"]
    await accounts["dr.wang"].get(f"/api/exams/{canary.p1.exam_id}")
    # a search quoting a name (not a canary's: the matrix checks East's own log after this)
    await accounts["dr.chen"].get("/dicomweb/studies?PatientName=Zorvyn*")
    await accounts["dr.chen"].get(f"/api/exams/{canary.p1.exam_id}")
    mine = await city.get("/api/manage/audit", params={"user": "dr.wang", "action": "exam.view"})
    assert mine.json()["items"], "the hospital admin sees who read his patients"
    for params in (
        {"user": "dr.wang"},
        {"action": "exam.view"},
        {"target_type": "examination"},
        {"target_type": "consultation"},
        {"user": "dr.chen"},
    ):
        res = await alliance.get("/api/manage/audit", params=params)
        assert res.status_code == 200, res.text
        items = res.json()["items"]
        others = [
            (i["action"], i["target_type"], i["detail"])
            for i in items
            if i["username"] != "alliance.admin"
            and (i["target_type"] in PATIENT_AUDIT_TARGETS or not i["target_type"])
        ]
        assert not others, (params, others)  # logins and other administration stay
    everything = await alliance.get("/api/manage/audit/export.csv")
    for patient in canary.patients():
        assert patient.patient_id not in everything.text
    assert "api_token.create" in everything.text  # administration stays visible to him


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


async def subscribe(app_url: str, client: Api, topics: list[str]) -> dict[str, Any]:
    cookies = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
    async with websockets.connect(
        ws_url(app_url), additional_headers={"Cookie": cookies}, origin=app_url
    ) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": topics}))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_no_patient_event_reaches_him(
    app_url: str, accounts: dict[str, Api], canary: Canary
) -> None:
    """``hospital:<id>`` carries the examinations', requests', runs' and retrievals' events;
    the case topics each report, run, retrieval and consultation: his are none."""
    topics = [
        f"hospital:{canary.city}",
        f"hospital:{canary.west}",
        f"case:report:{canary.p1.exam_id}",
        f"case:exam_report:{canary.report_id}",
        f"case:migration:{canary.run_id}",
        f"case:retrieval:{canary.retrieval_id}",
        f"case:consultation:{canary.consultation_id}",
    ]
    alliance = await subscribe(app_url, accounts["alliance.admin"], topics)
    assert alliance["op"] == "subscribed" and alliance["topics"] == []
    assert set(alliance["refused"]) == set(topics)
    own = await subscribe(app_url, accounts["admin.city"], topics[:1] + topics[2:6])
    assert own["topics"] == topics[:1] + topics[2:6]
    user = f"user:{canary.users['alliance.admin']}"
    assert (await subscribe(app_url, accounts["alliance.admin"], [user]))["topics"] == [user]
