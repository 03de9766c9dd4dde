"""Demo dictionaries, report templates and knowledge phrases for the demo hospitals.

Idempotent and fast: each part is written once per hospital, with plain inserts (no
audit rows: it is set-up data, like the demo accounts' hospitals). The codes are those the
project's synthetic studies carry (``imaging/synth.py``), so the demo examinations find
their check items.
"""

from __future__ import annotations

from store.tables import BodyPart, CheckItem, Device, DeviceType
from store.uow import now

DEVICE_TYPES = [
    ("CT", "CT 计算机断层扫描"),
    ("MR", "MR 磁共振成像"),
    ("DX", "DR 数字化X线摄影"),
    ("CR", "CR 计算机X线摄影"),
    ("US", "US 超声"),
    ("MG", "MG 乳腺X线摄影"),
]

BODY_PARTS = [
    ("CHEST", "胸部"),
    ("HEAD", "头颅"),
    ("ABDOMEN", "腹部"),
    ("HAND", "手部"),
    ("BREAST", "乳腺"),
    ("HEART", "心脏"),
    ("LSPINE", "腰椎"),
]

# type, name, station name, model
DEVICES = [
    ("CT", "CT 1 号机 64排", "CITYCT01", "SOMATOM go.Top"),
    ("MR", "MR 1.5T", "CITYMR01", "MAGNETOM Amira"),
    ("DX", "DR 摄影室 1", "CITYDR01", "uDR 780i"),
    ("CR", "CR 读取仪", "CITYCR01", "CR 30-X"),
    ("US", "彩超 3 号诊室", "CITYUS03", "EPIQ 7"),
    ("MG", "乳腺钼靶机", "CITYMG01", "Selenia Dimensions"),
]

# code, name, type, body part, category, scanning method, cloud film, visible, hours
CHECK_ITEMS = [
    ("CT-CHEST", "胸部CT平扫", "CT", "CHEST", "outpatient", "平扫", True, "after_review", 0),
    ("CT-HEAD", "头颅CT平扫", "CT", "HEAD", "emergency", "平扫", True, "after_hours", 2),
    ("MR-HEAD", "头颅MR平扫", "MR", "HEAD", "outpatient", "平扫", True, "after_review", 0),
    ("DX-CHEST", "胸部正位片", "DX", "CHEST", "physical", "正位", True, "after_hours", 24),
    ("CR-HAND", "手部正位片", "CR", "HAND", "outpatient", "正位", True, "after_review", 0),
    ("MG-BREAST", "乳腺钼靶", "MG", "BREAST", "physical", "双侧", True, "after_review", 0),
    ("US-HEART", "心脏彩超", "US", "HEART", "inpatient", "经胸", False, "after_review", 0),
    ("US-ABD", "腹部超声", "US", "ABDOMEN", "outpatient", "常规", True, "after_review", 0),
    ("CT-ABD-E", "腹部CT增强", "CT", "ABDOMEN", "inpatient", "增强", True, "after_review", 0),
]


async def load_demo_dictionaries(hospital_ids: dict[str, int]) -> None:
    for code, hospital_id in hospital_ids.items():
        if not await DeviceType.exists().where(DeviceType.hospital == hospital_id):
            await _dictionaries(code, hospital_id)


async def _dictionaries(hospital_code: str, hospital_id: int) -> None:
    at = now()
    types: dict[str, int] = {}
    for code, name in DEVICE_TYPES:
        row = await DeviceType.insert(
            DeviceType(hospital=hospital_id, code=code, name=name, created_at=at)
        ).returning(DeviceType.id)
        types[code] = row[0]["id"]
    parts: dict[str, int] = {}
    for code, name in BODY_PARTS:
        row = await BodyPart.insert(
            BodyPart(hospital=hospital_id, code=code, name=name, created_at=at)
        ).returning(BodyPart.id)
        parts[code] = row[0]["id"]
    await Device.insert(
        *(
            Device(
                hospital=hospital_id,
                device_type=types[type_code],
                name=name,
                station_name=station.replace("CITY", hospital_code),
                model=model,
                created_at=at,
            )
            for type_code, name, station, model in DEVICES
        )
    )
    await CheckItem.insert(
        *(
            CheckItem(
                hospital=hospital_id,
                code=code,
                name=name,
                device_type=types[type_code],
                body_part=parts[part_code],
                exam_category=category,
                scanning_method=method,
                cloud_film=film,
                cloud_film_visible=visible,
                cloud_film_hours=hours,
                created_at=at,
            )
            for code, name, type_code, part_code, category, method, film, visible, hours in (
                CHECK_ITEMS
            )
        )
    )
