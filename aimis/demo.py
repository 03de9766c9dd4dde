"""Idempotent demo data: one alliance, three hospitals, departments, doctors, admins."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from api.dictionaries.demo import load_demo_dictionaries
from api.management.departments import create_department
from api.management.hospitals import create_alliance, create_hospital
from api.management.new_accounts import create_account
from api.patient_archive.demo import load_demo_archive, load_demo_cloud_film
from api.patients.demo import DEMO_PHONE, load_demo_patient
from api.statistics.demo import load_demo_history
from kernel.domain import Kind, Module
from kernel.settings import get_settings
from store.examinations import examinations_for_all_studies
from store.tables import Alliance, Department, DiagnosisRequest, Examination, Hospital, Role, User
from store.uow import Ctx, actor_for

DEMO_PASSWORD = "Demo@2026"
ALLIANCE = "Demo Medical Alliance 示范医联体"

HOSPITALS = [
    # code, name, level, modules, departments
    (
        "CITY",
        "City People's Hospital 市人民医院",
        "leading",
        [m.value for m in Module],
        ["Radiology 放射科", "Cardiology 心内科", "Neurology 神经内科", "Ultrasound 超声科"],
    ),
    (
        "EAST",
        "East District Community Health Center 东城社区卫生服务中心",
        "lower",
        [
            Module.remote_diagnosis.value,
            Module.consultation.value,
            Module.cloud_film.value,
            Module.teaching.value,
        ],
        ["Radiology 放射科", "General Practice 全科"],
    ),
    (
        "WEST",
        "Xishan County Hospital 西山县医院",
        "lower",
        [
            Module.remote_diagnosis.value,
            Module.consultation.value,
            Module.ward_round.value,
            Module.teaching.value,
            Module.statistics.value,
            Module.quality_control.value,
        ],
        ["Radiology 放射科", "Internal Medicine 内科"],
    ),
]

# username, display name, hospital code, department index, role name, phone
DOCTORS = [
    ("dr.wang", "Wang Wei 王伟", "CITY", 0, "Senior radiologist", "13800000001"),
    ("dr.li", "Li Na 李娜", "CITY", 0, "Radiologist", "13800000002"),
    ("dr.zhang", "Zhang Min 张敏", "CITY", 1, "Clinician", "13800000003"),
    ("dr.chen", "Chen Jie 陈杰", "EAST", 0, "Radiologist", "13800000004"),
    ("dr.liu", "Liu Yang 刘洋", "WEST", 0, "Senior radiologist", "13800000005"),
    ("dr.zhao", "Zhao Lei 赵磊", "WEST", 1, "Clinician", "13800000006"),
]


@dataclass
class Account:
    username: str
    role: str
    where: str
    login: str


async def load_demo() -> list[Account]:
    ctx = Ctx(ip="127.0.0.1", user_agent="aimis demo")
    alliance = await Alliance.select(Alliance.id).where(Alliance.name == ALLIANCE).first()
    if alliance is None:
        alliance_id = await create_alliance(ctx, ALLIANCE, "alliance.admin", DEMO_PASSWORD)
    else:
        alliance_id = alliance["id"]
    hospital_ids: dict[str, int] = {}
    departments: dict[str, list[int]] = {}
    for code, name, level, modules, dept_names in HOSPITALS:
        row = await Hospital.select(Hospital.id).where(Hospital.code == code).first()
        hospital_id = (
            row["id"]
            if row
            else await create_hospital(ctx, alliance_id, name, code, level, modules)
        )
        hospital_ids[code] = hospital_id
        ids = []
        for dept in dept_names:
            existing = (
                await Department.select(Department.id)
                .where(Department.hospital == hospital_id, Department.name == dept)
                .first()
            )
            ids.append(
                existing["id"] if existing else await create_department(ctx, hospital_id, dept)
            )
        departments[code] = ids
        admin = f"admin.{code.lower()}"
        if not await User.exists().where(User.username == admin):
            await create_account(
                ctx,
                username=admin,
                password=DEMO_PASSWORD,
                display_name=f"{code} admin",
                kind=Kind.hospital_admin,
                alliance_id=alliance_id,
                hospital_id=hospital_id,
            )
    for username, display, code, dept_index, role_name, phone in DOCTORS:
        if await User.exists().where(User.username == username):
            continue
        role = (
            await Role.select(Role.id)
            .where(Role.hospital == hospital_ids[code], Role.name == role_name)
            .first()
        )
        await create_account(
            ctx,
            username=username,
            password=DEMO_PASSWORD,
            display_name=display,
            kind=Kind.doctor,
            alliance_id=alliance_id,
            hospital_id=hospital_ids[code],
            department_id=departments[code][dept_index],
            role_id=role["id"] if role else None,
            phone=phone,
        )
    # the dictionaries first: a study's examination takes its check item from them
    await load_demo_dictionaries(hospital_ids)
    await load_demo_cloud_film(hospital_ids)
    if get_settings().server.demo_study_patients > 0:
        from aimis.imports import load_demo_studies

        await load_demo_studies(hospital_ids, get_settings().server.demo_study_patients)
    await examinations_for_all_studies()  # studies already there (idempotent)
    await load_demo_requests(hospital_ids)
    await load_demo_reports(hospital_ids)
    await load_demo_ward_rounds(hospital_ids)
    await load_demo_courses(hospital_ids, departments)
    await load_demo_quality(hospital_ids)
    await load_demo_patient(hospital_ids)  # after the studies: its people are theirs
    await load_demo_archive(DEMO_PHONE)  # her and her father's examinations, visible
    if get_settings().server.demo_study_patients > 0:
        from aimis.imports import load_demo_archived_study

        # last: the demo's requests and reports are about the online studies above
        await load_demo_archived_study(hospital_ids)
    # last: the year of past work behind the statistics (its own examinations, bulk)
    await load_demo_history(hospital_ids, get_settings().server.demo_history_days)
    accounts = [Account("alliance.admin", "alliance admin", ALLIANCE, "/admin/login")]
    accounts += [
        Account(f"admin.{code.lower()}", "hospital admin", name, "/admin/login")
        for code, name, *_ in HOSPITALS
    ]
    names = {code: name for code, name, *_ in HOSPITALS}
    accounts += [Account(u, r, names[c], "/login") for u, _, c, _, r, _ in DOCTORS]
    # the patient logs in with a text-message code, which the log channel shows here
    accounts.append(Account(DEMO_PHONE, "patient (phone + code)", "the alliance", "/patient/login"))
    return accounts


def print_accounts(accounts: list[Account], base_url: str) -> None:
    print(f"\nDemo accounts (password for all staff: {DEMO_PASSWORD}; the patient's login code")
    print("  appears in this console as a dispatcher line)")
    for a in accounts:
        print(f"  {a.username:<16} {a.role:<20} {a.where}  → {base_url}{a.login}")
    print()


# (requesting doctor, deciding doctor, priority (kernel.priority), clinical information,
# decision, reason)
DEMO_REQUESTS = [
    (
        "dr.chen",
        "",
        2,
        "胸痛2小时，急诊CT，请协助诊断。 Chest pain for 2 h, emergency CT.",
        "",
        "",
    ),
    (
        "dr.chen",
        "dr.li",
        1,
        "体检发现肺结节，请出具报告。 Nodule found at a check-up.",
        "accept",
        "",
    ),
    (
        "dr.chen",
        "dr.wang",
        0,
        "请会诊。 Please report.",
        "reject",
        "图像层厚过大，请薄层重建后重新提交。 Slices too thick: resubmit thin slices.",
    ),
]


async def demo_actor(username: str) -> Ctx:
    """The demo doctor acting (what a login session would carry), for demo steps."""
    return Ctx(actor=await actor_for(username), ip="127.0.0.1", user_agent="aimis demo")


async def load_demo_requests(hospital_ids: dict[str, int]) -> None:
    """Remote diagnosis requests East District → City (once), through the process itself so
    each has its history, events and notices: one emergency waiting, one urgent accepted, one
    rejected. The examinations take the requests' priority, as their doctor would set it."""
    from api.diagnosis.steps import apply_step, create_request

    east, city = hospital_ids["EAST"], hospital_ids["CITY"]
    if await DiagnosisRequest.exists().where(DiagnosisRequest.hospital == east):
        return
    exams = (
        await Examination.select()
        .where(Examination.hospital == east, Examination.status == "images_arrived")
        .order_by(Examination.exam_time, ascending=False)
        .limit(len(DEMO_REQUESTS))
    )
    for exam, (asker, decider, level, info, decision, reason) in zip(
        exams, DEMO_REQUESTS, strict=False
    ):
        if level:
            await Examination.update({Examination.priority: level}).where(
                Examination.id == exam["id"]
            )
        request_id = await create_request(await demo_actor(asker), exam, city, info, level)
        if decision:
            await apply_step(await demo_actor(decider), request_id, decision, reason=reason)


# City's own examinations with a report at each later step, written through the report
# service as the doctors would: (device type, author, reviewer or "", printed, title,
# findings, impression). The CT waits for dr.wang's review; the DX is reviewed and printed.
DEMO_REPORTS = [
    (
        "DX",
        "dr.li",
        "dr.wang",
        True,
        "胸部正位片报告",
        "胸廓对称，双肺纹理清晰，未见实变影。双肺门不大。心影大小、形态正常。"
        "双膈面光整，肋膈角锐利。",
        "心肺膈未见明显异常。",
    ),
    (
        "CT",
        "dr.li",
        "",
        False,
        "胸部CT平扫报告",
        "右肺下叶外基底段见一实性结节，大小约6 mm×5 mm，边缘光整。余双肺纹理清晰，"
        "纵隔内未见肿大淋巴结。心影大小、形态未见异常。双侧胸腔未见积液。",
        "右肺下叶实性小结节（6 mm），建议12个月后低剂量CT复查。",
    ),
]


async def load_demo_reports(hospital_ids: dict[str, int]) -> None:
    """Reports at City (once): one waiting for review, one reviewed and printed."""
    from api.reports import lock, review, saving
    from api.reports import print as printing
    from api.reports.schemas import ReportSave, StepIn
    from store.tables import ExamReport

    city = hospital_ids["CITY"]
    if await ExamReport.exists().where(ExamReport.hospital == city):
        return
    for device, author, reviewer, printed, title, findings, impression in DEMO_REPORTS:
        exam = (
            await Examination.select(Examination.id)
            .where(
                Examination.hospital == city,
                Examination.device_type == device,
                Examination.status == "images_arrived",
            )
            .order_by(Examination.exam_time, ascending=False)
            .first()
        )
        if exam is None:
            continue
        writer = await demo_actor(author)
        await lock.take(writer, exam["id"])
        saved = await saving.save(
            writer, exam["id"], ReportSave(0, title=title, findings=findings, impression=impression)
        )
        done = await review.submit(writer, exam["id"], StepIn(saved.version))
        if reviewer and done.version is not None:
            checker = await demo_actor(reviewer)
            await review.approve(checker, exam["id"], StepIn(done.version))
            if printed:
                await printing.print_report(checker, exam["id"])


async def load_demo_ward_rounds(hospital_ids: dict[str, int]) -> None:
    """Ward rounds of Xishan County Hospital with City's experts (once), through the process:
    one scheduled for tomorrow, one finished with both opinions and its conclusion."""
    from datetime import timedelta

    from api.ward_rounds import service as ward_rounds
    from api.ward_rounds.schemas import RecordIn, StepIn, WardPatientIn, WardRoundCreate
    from store.tables import WardRound
    from store.uow import now

    if await WardRound.exists().where(WardRound.hospital == hospital_ids["WEST"]):
        return
    applicant = await demo_actor("dr.zhao")
    experts = {
        u["username"]: u["id"]
        for u in await User.select(User.id, User.username).where(
            User.username.is_in(["dr.wang", "dr.li"])
        )
    }
    exams = await Examination.select(Examination.id).where(
        Examination.hospital == hospital_ids["WEST"]
    )
    for topic, minutes in (
        ("心衰患者查房 Heart failure ward round", 24 * 60),
        ("肺部感染查房 Pneumonia ward round", 10),
    ):
        made = await ward_rounds.create(
            applicant,
            WardRoundCreate(
                topic=topic,
                scheduled_at=(now() + timedelta(minutes=minutes)).isoformat(),
                expert_ids=list(experts.values()),
                summary="双下肢水肿一周，胸闷气短。",
                patient=WardPatientIn(name="周琪"),
                examination_ids=[e["id"] for e in exams[:1]],
            ),
        )
    # the second: started, written and finished
    wid = made.id
    await ward_rounds.apply_step(applicant, wid, "start", StepIn(made.version))
    record = 0
    for username, opinion in (("dr.wang", "考虑肺部感染，建议痰培养。"), ("dr.li", "同意。")):
        done = await ward_rounds.save_record(
            await demo_actor(username), wid, RecordIn(record, opinion=opinion)
        )
        record = done.record_version
    done = await ward_rounds.save_record(
        applicant, wid, RecordIn(record, conclusion="抗感染治疗，三天后复查胸部CT。")
    )
    await ward_rounds.apply_step(applicant, wid, "finish", StepIn(done.version))


# dr.wang (City, Radiology) lectures; his department (dr.li) is the range of both courses.
LECTURER_ROLE = "Senior radiologist"
LIVE_COURSE = "肺结节CT随访 Lung nodule follow-up (live)"
FINISHED_COURSE = "胸片阅读基础 Chest X-ray basics (recorded)"


async def load_demo_courses(
    hospital_ids: dict[str, int], departments: dict[str, list[int]]
) -> None:
    """Remote teaching at City (once), through the process: City's senior radiologists may
    host (``teaching.host``); a course live now, and a finished one whose recording (a few
    seconds of ffmpeg's test pattern) went through the recording processing steps, so it is
    ``recording_available``. Without ffmpeg the finished course stays ``ended``."""
    import json
    from datetime import timedelta

    from api.teaching import service as teaching
    from kernel.domain import Permission
    from store.tables import Course
    from store.uow import now

    city = hospital_ids["CITY"]
    role = await Role.select().where(Role.hospital == city, Role.name == LECTURER_ROLE).first()
    if role is not None:
        permissions = json.loads(role["permissions"] or "[]")
        if Permission.teaching_host.value not in permissions:
            await Role.update(
                {Role.permissions: json.dumps([*permissions, Permission.teaching_host.value])}
            ).where(Role.id == role["id"])
    if await Course.exists().where(Course.hospital == city):
        return
    lecturer = await demo_actor("dr.wang")
    radiology = departments["CITY"][0]
    at = now()
    for topic, before, after, steps in (
        (LIVE_COURSE, 10, 50, ("publish", "start")),
        (FINISHED_COURSE, 55, 5, ("publish", "start", "end")),
    ):
        course_id = await teaching.create(
            lecturer,
            {
                "topic": topic,
                "starts_at": (at - timedelta(minutes=before)).isoformat(),
                "ends_at": (at + timedelta(minutes=after)).isoformat(),
                "place": "示教室 Teaching room 2",
                "introduction": "影像科业务学习。 Radiology in-service training.",
                "meeting_url": "https://meet.example/aimis-demo" if topic == LIVE_COURSE else "",
                "department_ids": [radiology],
            },
        )
        for trigger in steps:
            version = await Course.select(Course.version).where(Course.id == course_id)
            await teaching.act(lecturer, course_id, trigger, version[0]["version"])
    if await demo_recording(lecturer, course_id):
        version = await Course.select(Course.version).where(Course.id == course_id)
        await teaching.act(lecturer, course_id, "recording_ready", version[0]["version"])


def _make_clip(path: Path) -> subprocess.CompletedProcess[str]:
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-f", "mp4", str(path)]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


async def demo_recording(ctx: Ctx, course_id: int) -> bool:
    """A six-second clip (testsrc + a tone, H.264/AAC) as the course's recording: the row as
    an upload makes it, the file as received, then the real processing steps
    (``api.recordings.processing.process_inline``). False, with a line, without ffmpeg."""
    import anyio

    from api.recordings import processing, storage
    from store.tables import Recording
    from store.uow import now

    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        print("demo: ffmpeg is not installed; the finished course has no recording")
        return False
    assert ctx.actor is not None
    inserted = await Recording.insert(
        Recording(
            hospital=ctx.actor.hospital_id,
            owner_kind="course",
            owner_id=course_id,
            uploader=ctx.actor.user_id,
            filename="chest-xray-basics.mp4",
            declared_size=0,
            received=0,
            status="uploading",
            created_at=now(),
        )
    ).returning(Recording.id)
    recording_id = int(inserted[0]["id"])
    incoming = storage.incoming(recording_id)
    incoming.parent.mkdir(parents=True, exist_ok=True)
    done = await anyio.to_thread.run_sync(_make_clip, incoming)
    if done.returncode != 0:
        print(f"demo: ffmpeg could not make the demo clip: {done.stderr.strip()[-200:]}")
        await Recording.delete().where(Recording.id == recording_id)
        incoming.unlink(missing_ok=True)
        return False
    size = incoming.stat().st_size
    await Recording.update(
        {Recording.declared_size: size, Recording.received: size, Recording.status: "processing"}
    ).where(Recording.id == recording_id)
    return await processing.process_inline(recording_id) == "ready"


async def load_demo_quality(hospital_ids: dict[str, int]) -> None:
    """Quality control at City (once), through the service and the flow's own sampling step
    (``api.quality.sampling.draw_sample``, what the ``qc-sample`` flow runs; the outbox row
    the "sample" step wrote finds the task drawn and leaves it): one task completed, its case
    rated RADPEER 3a by dr.li and decided by dr.wang, the arbitrator; one in evaluation."""
    from api.quality import service as quality
    from api.quality.sampling import draw_sample, population_ids
    from api.quality.schemas import ArbitrationIn, EvaluationIn, SeriesGrade, StepIn, TaskCreate
    from store.tables import QcCase, QcTask

    city = hospital_ids["CITY"]
    if await QcTask.exists().where(QcTask.hospital == city):
        return
    manager, evaluator = await demo_actor("dr.wang"), await demo_actor("dr.li")
    assert manager.actor and evaluator.actor
    tasks = (
        # name, what is evaluated, sample size
        ("胸片质控 Chest X-ray QC", ["images", "initial_report", "review_report"], 1),
        ("影像质控 Image QC", ["images"], 3),
    )
    for name, objects, size in tasks:
        data = TaskCreate(
            name=name,
            sample_size=size,
            objects=objects,
            evaluators=[evaluator.actor.user_id],
            arbitrator=manager.actor.user_id,
            blind=True,
        )
        criteria = {"hospital": city, "criteria": "{}", "targets": json.dumps(objects)}
        if len(await population_ids(criteria)) < size:
            continue  # a demo without its studies: nothing to sample
        task = await quality.create_task(manager, data)
        await quality.sample(manager, task.id, StepIn(version=task.version))
        await draw_sample(task.id)
        if "initial_report" not in objects:
            continue  # left in evaluation
        row = await QcCase.select(QcCase.id).where(QcCase.task == task.id).first()
        assert row is not None
        case = await quality.read_case(evaluator.actor, row["id"])
        evaluation = EvaluationIn(
            version=case.version,
            series=[SeriesGrade(series_uid=s.series_uid, grade="good") for s in case.series],
            initial_score=78,
            initial_comment="结节未描述。 The nodule is not described.",
            review_score=80,
            radpeer="3a",
            radpeer_comment="漏诊右下肺结节。 A right lower lobe nodule is missed.",
        )
        saved = await quality.evaluate(evaluator, case.id, evaluation)
        await quality.arbitrate(
            manager,
            case.id,
            ArbitrationIn(version=saved.version, radpeer="3a", comment="同意评价。 Agreed: 3a."),
        )
