"""Demo dictionaries, report templates and knowledge phrases for the demo hospitals.

Idempotent and fast: each part is written once per hospital, with plain inserts (no
audit rows: it is set-up data, like the demo accounts' hospitals). The codes are those the
project's synthetic studies carry (``imaging/synth.py``), so the demo examinations find
their check items.
"""

from __future__ import annotations

import msgspec

from api.dictionaries.knowledge import search_text
from store.tables import BodyPart, CheckItem, Device, DeviceType, KnowledgePhrase, ReportTemplate
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


SHOWN = [
    "hospital",
    "patient_name",
    "patient_sex",
    "patient_age",
    "patient_id",
    "accession_number",
    "check_item",
    "device",
    "exam_time",
    "department",
]
HEADER = (
    "{hospital}\n姓名：{patient_name}  性别：{patient_sex}  年龄：{patient_age}岁  "
    "患者ID：{patient_id}\n检查号：{accession_number}  科室：{department}  "
    "设备：{device}  检查时间：{exam_time}"
)
FOOTER = "本报告仅供临床参考，请结合临床及其他检查综合判断。"

# check item code, template name, findings, impression
TEMPLATES = [
    (
        "CT-CHEST",
        "胸部CT平扫报告",
        "胸廓对称，气管居中。双肺纹理清晰，走行自然，双肺野内未见明确实质性病变。"
        "双侧肺门不大，纵隔内未见肿大淋巴结。心影大小、形态未见异常。双侧胸膜未见增厚，"
        "胸腔未见积液。",
        "胸部CT平扫未见明显异常。",
    ),
    (
        "CT-HEAD",
        "头颅CT平扫报告",
        "脑实质内未见异常密度影，灰白质分界清晰。脑室系统大小、形态正常，脑沟、脑裂不宽，"
        "中线结构居中。颅骨未见骨折征象。",
        "颅脑CT平扫未见明显异常。",
    ),
    (
        "MR-HEAD",
        "头颅MR平扫报告",
        "脑实质内未见异常信号，T1WI、T2WI信号正常。脑室系统无扩大，脑沟、脑裂无增宽，"
        "中线结构居中。",
        "头颅MR平扫未见明显异常。",
    ),
    (
        "DX-CHEST",
        "胸部正位片报告",
        "胸廓对称，双肺纹理清晰，未见实变影。双肺门不大。心影大小、形态正常。"
        "双膈面光整，肋膈角锐利。",
        "心肺膈未见明显异常。",
    ),
    (
        "US-ABD",
        "腹部超声报告",
        "肝脏大小形态正常，包膜光整，实质回声均匀。胆囊不大，壁光滑，腔内未见异常回声。"
        "胰腺、脾脏大小形态正常。双肾大小形态正常，集合系统未见分离。",
        "肝胆胰脾双肾未见明显异常。",
    ),
    (
        "MG-BREAST",
        "乳腺钼靶报告",
        "双侧乳腺呈散在纤维腺体型，双乳未见明确肿块影及异常钙化，皮肤、乳头未见异常，"
        "双侧腋下未见肿大淋巴结。",
        "双乳未见明显异常（BI-RADS 1类）。",
    ),
]

# category, title, keywords, findings, impression
PHRASES = [
    (
        "胸部",
        "双肺未见异常",
        "正常 normal 肺",
        "双肺纹理清晰，走行自然，未见实质性病变。",
        "双肺未见明显异常。",
    ),
    (
        "胸部",
        "肺结节（实性）",
        "结节 nodule 肺",
        "右肺上叶见一实性结节，直径约6mm，边界清晰。",
        "右肺上叶实性小结节，建议12个月后复查。",
    ),
    (
        "胸部",
        "磨玻璃结节",
        "GGO 磨玻璃 结节 肺",
        "左肺下叶见磨玻璃密度结节，直径约8mm。",
        "左肺下叶磨玻璃结节，建议3个月后复查。",
    ),
    (
        "胸部",
        "肺炎",
        "感染 炎症 pneumonia 肺",
        "右肺下叶见斑片状高密度影，边缘模糊。",
        "右肺下叶炎症，建议治疗后复查。",
    ),
    ("胸部", "肺气肿", "COPD 肺气肿 肺", "双肺透亮度增高，肺纹理稀疏。", "双肺肺气肿。"),
    ("胸部", "胸腔积液", "积液 effusion 胸膜", "右侧胸腔见弧形液体密度影。", "右侧胸腔少量积液。"),
    ("胸部", "陈旧性肺结核", "结核 TB 钙化 肺", "右肺上叶见条索及钙化灶。", "右肺上叶陈旧性病变。"),
    (
        "头颅",
        "颅脑未见异常",
        "正常 normal 脑",
        "脑实质内未见异常密度影，中线结构居中。",
        "颅脑未见明显异常。",
    ),
    (
        "头颅",
        "腔隙性脑梗死",
        "梗死 infarct 腔梗 脑",
        "双侧基底节区见多发小斑点状低密度影。",
        "双侧基底节区腔隙性脑梗死。",
    ),
    (
        "头颅",
        "脑出血",
        "出血 hemorrhage 脑",
        "左侧基底节区见团块状高密度影，周围见低密度水肿带。",
        "左侧基底节区脑出血，请结合临床。",
    ),
    ("头颅", "脑萎缩", "萎缩 atrophy 脑", "脑沟、脑裂增宽，脑室系统扩大。", "脑萎缩。"),
    (
        "腹部",
        "脂肪肝",
        "脂肪肝 fatty liver 肝",
        "肝实质回声细密增强，后方回声衰减。",
        "脂肪肝（轻度）。",
    ),
    ("腹部", "肝囊肿", "囊肿 cyst 肝", "肝右叶见一无回声区，边界清晰，后方回声增强。", "肝囊肿。"),
    (
        "腹部",
        "胆囊结石",
        "结石 gallstone 胆囊",
        "胆囊腔内见强回声团，后伴声影，随体位移动。",
        "胆囊结石。",
    ),
    ("腹部", "肾结石", "结石 kidney stone 肾", "右肾集合系统内见强回声，后伴声影。", "右肾结石。"),
    (
        "乳腺",
        "乳腺增生",
        "增生 乳腺",
        "双侧乳腺腺体增厚，回声不均。",
        "双侧乳腺增生（BI-RADS 2类）。",
    ),
    (
        "乳腺",
        "乳腺结节",
        "结节 BI-RADS 乳腺",
        "左乳外上象限见低回声结节，边界清，形态规则。",
        "左乳结节（BI-RADS 3类），建议随访。",
    ),
    (
        "骨骼",
        "骨折",
        "骨折 fracture",
        "右桡骨远端骨皮质连续性中断，断端轻度移位。",
        "右桡骨远端骨折。",
    ),
    (
        "骨骼",
        "腰椎退行性变",
        "退变 骨质增生 腰椎",
        "腰椎椎体边缘骨质增生，椎间隙变窄。",
        "腰椎退行性变。",
    ),
    (
        "心脏",
        "心脏彩超未见异常",
        "正常 心脏 超声",
        "各房室大小正常，室壁运动协调，瓣膜启闭正常。",
        "心脏结构及功能未见明显异常。",
    ),
]


async def load_demo_dictionaries(hospital_ids: dict[str, int]) -> None:
    for code, hospital_id in hospital_ids.items():
        if not await DeviceType.exists().where(DeviceType.hospital == hospital_id):
            await _dictionaries(code, hospital_id)
        if not await ReportTemplate.exists().where(ReportTemplate.hospital == hospital_id):
            await _templates(hospital_id)
        if not await KnowledgePhrase.exists().where(KnowledgePhrase.hospital == hospital_id):
            await _phrases(hospital_id)


async def _templates(hospital_id: int) -> None:
    items = await CheckItem.select(CheckItem.id, CheckItem.code).where(
        CheckItem.hospital == hospital_id
    )
    ids = {r["code"]: r["id"] for r in items}
    shown = msgspec.json.encode(SHOWN).decode()
    await ReportTemplate.insert(
        *(
            ReportTemplate(
                hospital=hospital_id,
                name=name,
                check_item=ids.get(code),
                scope="hospital",
                shown_fields=shown,
                title_format="{check_item}检查报告",
                header_format=HEADER,
                findings_format=findings,
                impression_format=impression,
                footer_format=FOOTER,
                created_at=now(),
            )
            for code, name, findings, impression in TEMPLATES
        )
    )


async def _phrases(hospital_id: int) -> None:
    await KnowledgePhrase.insert(
        *(
            KnowledgePhrase(
                hospital=hospital_id,
                category=category,
                title=title,
                keywords=keywords,
                findings=findings,
                impression=impression,
                search_text=search_text(title, category, keywords, findings, impression),
                created_at=now(),
            )
            for category, title, keywords, findings, impression in PHRASES
        )
    )


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
