"""Chinese and English. Templates write English and call ``_()``; Chinese comes from here.

The language is the ``lang`` cookie (set by the switch in the header), else the browser's
Accept-Language. Unknown strings fall back to English, so a missing entry never breaks a page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

LANGUAGES = ("zh", "en")

ZH: dict[str, str] = {
    "AIMIS": "AIMIS 医学影像协同平台",
    "Log in": "登录",
    "Log out": "退出",
    "Password": "密码",
    "QR code": "扫码登录",
    "User name or phone": "用户名或手机号",
    "Forgot password?": "忘记密码？",
    "Administrator login": "管理员登录",
    "Doctor login": "医生登录",
    "Scan with the AIMIS mobile page of a logged-in phone, then confirm there.": "用已登录的手机扫描二维码，并在手机上确认。",
    "Waiting for confirmation…": "等待手机确认…",
    "The QR code has expired.": "二维码已过期。",
    "New QR code": "刷新二维码",
    "Confirm login on the other screen": "确认在另一台设备登录",
    "Confirm": "确认",
    "Send code": "发送验证码",
    "Verification code": "验证码",
    "New password": "新密码",
    "Current password": "当前密码",
    "Change password": "修改密码",
    "At least 8 characters mixing three of: lower case, upper case, digits, symbols; different "
    "from your last 5 passwords.": "至少 8 个字符，包含小写字母、大写字母、数字、符号中的三类，且不同于最近 5 次使用的密码。",
    "Reset password": "重置密码",
    "Home": "首页",
    "Management": "管理平台",
    "Modules": "功能模块",
    "Hospital": "医院",
    "Hospitals": "医院",
    "Departments": "科室",
    "Doctors": "医生",
    "Roles": "角色权限",
    "Audit log": "操作日志",
    "Hospital information": "医院信息",
    "remote_diagnosis": "远程诊断",
    "consultation": "远程会诊",
    "ward_round": "远程查房",
    "teaching": "远程教学",
    "statistics": "数据统计",
    "quality_control": "影像质控",
    "cloud_film": "云胶片",
    "Coming soon": "即将上线",
    "Live updates": "实时动态",
    "No updates yet.": "暂无动态。",
    "Your hospital has no modules switched on.": "您所在医院尚未开通任何功能模块。",
    "Please set your own password before you go on.": "请先设置您自己的密码。",
    "Save": "保存",
    "Create": "新建",
    "Name": "名称",
    "Phone": "电话",
    "Status": "状态",
    "Active": "启用",
    "Frozen": "冻结",
    "Freeze": "冻结",
    "Unfreeze": "解冻",
    "Activate": "启用",
    "Deactivate": "停用",
    "Search": "搜索",
    "Export CSV": "导出 CSV",
    "Time": "时间",
    "User": "用户",
    "Action": "操作",
    "Target": "对象",
    "Outcome": "结果",
    "IP address": "IP 地址",
    "Previous": "上一页",
    "Next": "下一页",
    "Role": "角色",
    "Department": "科室",
    "Permissions": "权限",
    "Error": "错误",
    "Back": "返回",
    "Welcome": "欢迎",
    "Your modules": "您的功能模块",
    "Display name": "姓名",
    "User name": "用户名",
    "E-mail": "电子邮箱",
    "Logo": "院徽",
    "Upload": "上传",
    "Download hospital QR code": "下载医院二维码",
    "Storage used": "已用存储",
    "Storage quota": "存储配额",
    "Level": "等级",
    "leading": "牵头医院",
    "lower": "基层医院",
    "Hospital admins": "医院管理员",
    "Reset password to": "重置密码为",
    "Language": "语言",
}


def register(entries: dict[str, str]) -> None:
    """Feature areas keep their Chinese strings in their own module and register them."""
    ZH.update(entries)


def language(request: Request) -> str:
    lang = request.cookies.get("lang", "")
    if lang in LANGUAGES:
        return lang
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


# English labels for keys that are identifiers in the code (modules, permissions, kinds).
EN: dict[str, str] = {
    "remote_diagnosis": "Remote diagnosis",
    "consultation": "Remote consultation",
    "ward_round": "Remote ward round",
    "teaching": "Remote teaching",
    "statistics": "Data statistics",
    "quality_control": "Image quality control",
    "cloud_film": "Cloud film",
    "leading": "Leading hospital",
    "lower": "Lower-level hospital",
    "outpatient": "Outpatient",
    "inpatient": "Inpatient",
    "physical": "Physical examination",
    "emergency": "Emergency",
    "sex:M": "M",
    "sex:F": "F",
    "sex:O": "O",
}
ZH.update({"sex:M": "男", "sex:F": "女", "sex:O": "其他"})


def translator(lang: str):  # type: ignore[no-untyped-def]
    if lang == "zh":
        return lambda text: ZH.get(text, text)
    return lambda text: EN.get(text, text)


def sex_label(translate: Any) -> Any:
    """DICOM's M / F / O as the reader's word (男 / 女 / 其他); anything else as stored."""
    return lambda value: translate(f"sex:{value}") if value in ("M", "F", "O") else value or ""


def dicom_date(value: str | None) -> str:
    """A DICOM date (YYYYMMDD) as 1985-12-01; anything else as stored."""
    value = (value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def context(request: Request) -> dict[str, Any]:
    lang = language(request)
    translate = translator(lang)
    return {"lang": lang, "_": translate, "sex": sex_label(translate), "ymd": dicom_date}
