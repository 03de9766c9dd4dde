"""Chinese strings of the management platform pages; registered by ``ui.management_pages``."""

from __future__ import annotations

ZH_MANAGE: dict[str, str] = {
    # the hospital's report review setting (SPEC 2.4)
    "Report review": "报告审核",
    "The author of a report may also review it": "报告医生可审核自己的报告",
    (
        "Off (the default): another doctor with the review permission reviews each "
        "initial diagnosis."
    ): "关闭（默认）：每份初步诊断由另一位具有审核权限的医生审核。",
    # pages and sections
    "Hospitals of the alliance": "医联体医院",
    "All hospitals": "全部医院",
    "New hospital": "新建医院",
    "New hospital admin": "新建医院管理员",
    "New department": "新建科室",
    "New doctor": "新建医生",
    "New role": "新建角色",
    "Roles and permissions": "角色与权限",
    "User operation log": "用户操作日志",
    "Hospital QR code": "医院二维码",
    "Contact": "联系方式",
    "Details": "基本资料",
    "Manage": "管理",
    # fields
    "Code": "编码",
    "Address": "地址",
    "Time zone": "时区",
    "Description": "简介",
    "Actions": "操作",
    "Detail": "详情",
    "Role name": "角色名称",
    "Initial password": "初始密码",
    "Empty: generate one": "留空则自动生成",
    "Storage quota (GB)": "存储配额（GB）",
    "Target type": "对象类型",
    "From": "开始日期",
    "To": "结束日期",
    "Name, user name or phone": "姓名、用户名或手机号",
    "e.g. login, user.create": "例如 login、user.create",
    "Letters, digits, - and _": "字母、数字、- 和 _",
    "PNG or JPEG image, at most": "PNG 或 JPEG 图片，最大",
    # states and values
    "All": "全部",
    "Inactive": "停用",
    "Must change password": "需修改密码",
    "too many wrong passwords": "密码错误次数过多",
    "Default role": "默认角色",
    "Users with this role": "拥有此角色的用户",
    "not set": "未设置",
    "none": "无",
    "on": "已开通",
    "off": "未开通",
    "success": "成功",
    "failure": "失败",
    "denied": "拒绝",
    "user": "用户",
    "hospital": "医院",
    "department": "科室",
    "role": "角色",
    "audit_log": "操作日志",
    "alliance": "医联体",
    # actions
    "Edit": "编辑",
    "Filter": "筛选",
    "Clear": "清除",
    "Done": "完成",
    "Save modules": "保存功能模块",
    "Delete role": "删除角色",
    "Newer": "较新",
    "Older": "较早",
    "Page": "页",
    "Pages": "分页",
    # messages
    "No logo yet.": "尚未上传院徽。",
    "No hospitals yet.": "还没有医院。",
    "No departments yet.": "还没有科室。",
    "No doctors match.": "没有符合条件的医生。",
    "No entries match.": "没有符合条件的记录。",
    "No department": "无科室",
    "No role": "无角色",
    "Doctors found": "医生人数",
    "This hospital has no administrator yet.": "该医院还没有管理员。",
    "Times are in": "时间按时区",
    "Newest first, 50 a page": "最新在前，每页 50 条",
    "Temporary password (shown only now):": "临时密码（仅显示这一次）：",
    "Hand it over in person; it must be changed at the next login.": (
        "请当面交给本人；下次登录时必须修改。"
    ),
    "Doctor account created.": "医生账号已创建。",
    "Administrator account created.": "管理员账号已创建。",
    "Password reset; the doctor is logged out.": "密码已重置，该医生已被退出登录。",
    "Password reset; the administrator is logged out.": "密码已重置，该管理员已被退出登录。",
    "Freeze this administrator? The account is logged out until you unfreeze it.": (
        "冻结该管理员？在您解冻之前该账号将被退出登录。"
    ),
    "Reset the password? The administrator is logged out and gets a temporary password.": (
        "重置密码？该管理员将被退出登录并获得临时密码。"
    ),
    "The doctor must change the initial password at first login.": (
        "医生首次登录时必须修改初始密码。"
    ),
    "The alliance administrator switches modules on or off.": "功能模块由医联体管理员开通或关闭。",
    "Print it for your doctors: scanning it opens the login page of this hospital.": (
        "打印给本院医生：扫码即可打开本院登录页。"
    ),
    "Deactivate this department?": "确定停用该科室？",
    "Deactivate this account?": "确定停用该账号？",
    "Delete this role?": "确定删除该角色？",
    "Freeze this account? The doctor is logged out until you unfreeze it.": (
        "确定冻结该账号？解冻前该医生无法登录。"
    ),
    "Reset the password? The doctor is logged out and gets a temporary password.": (
        "确定重置密码？该医生将被退出登录并获得临时密码。"
    ),
    "This page is for alliance administrators.": "此页面仅限医联体管理员。",
    # permissions
    "Write reports": "书写报告",
    "Review reports": "审核报告",
    "Print reports": "打印报告",
    "Apply for consultations": "申请会诊",
    "Review consultations": "审核会诊",
    "Apply for ward rounds": "申请查房",
    "Host teaching sessions": "主持教学",
    "Evaluate image quality": "影像质控评价",
    "View statistics": "查看统计",
    "Download statistics": "下载统计",
    "Share images": "分享影像",
    "Administer": "管理",
}

# What an audit row's target is (``AuditLog.target_type``), as the log shows and filters it:
# code, Chinese, English. Keys are prefixed ("target:study") because some codes are also
# words elsewhere ("study" is the archive's per-study billing unit).
AUDIT_TARGETS: list[tuple[str, str, str]] = [
    ("user", "用户", "User"),
    ("hospital", "医院", "Hospital"),
    ("department", "科室", "Department"),
    ("role", "角色", "Role"),
    ("alliance", "医联体", "Alliance"),
    ("audit_log", "操作日志", "Audit log"),
    ("api_token", "API 令牌", "API token"),
    ("examination", "检查", "Examination"),
    ("study", "影像检查", "Study"),
    ("diagnosis_request", "远程诊断申请", "Diagnosis request"),
    ("exam_report", "检查报告", "Examination report"),
    ("exam_share", "检查分享", "Shared examination"),
    ("consultation", "远程会诊", "Consultation"),
    ("migration", "迁移任务", "Migration run"),
    ("migration_log", "迁移日志", "Migration log"),
    ("retrieval", "归档调阅", "Retrieval"),
    ("dicom_node", "DICOM 节点", "DICOM node"),
    ("check_item", "检查项目", "Check item"),
    ("device", "设备", "Device"),
    ("device_type", "设备类型", "Device type"),
    ("body_part", "检查部位", "Body part"),
    ("report_template", "报告模板", "Report template"),
    ("phrase", "知识库短语", "Knowledge phrase"),
    ("notification_channel", "通知渠道", "Notification channel"),
    ("notification_rule", "通知规则", "Notification rule"),
    ("list_preference", "列表设置", "List settings"),
]
ZH_MANAGE.update({f"target:{code}": zh for code, zh, _ in AUDIT_TARGETS})
EN_MANAGE: dict[str, str] = {f"target:{code}": en for code, _, en in AUDIT_TARGETS}
