"""Chinese strings of the API-token page; registered by ``ui.token_pages``."""

# ruff: noqa: E501

from __future__ import annotations

ZH_TOKENS: dict[str, str] = {
    "API tokens": "API 令牌",
    "New API token": "新建 API 令牌",
    "For user": "所属用户",
    "What it is for": "用途",
    "Expires after (days)": "有效期（天）",
    "empty: until revoked": "留空：直到撤销",
    "Create token": "生成令牌",
    "Prefix": "前缀",
    "Created": "创建时间",
    "Expires": "到期时间",
    "Last used": "最近使用",
    "never": "从未",
    "Revoke": "撤销",
    "Revoke this token? Programs using it stop working at once.": "确定撤销此令牌？使用它的程序将立即无法访问。",
    "revoked": "已撤销",
    "expired": "已过期",
    "active": "有效",
    "No API tokens yet.": "暂无 API 令牌。",
    "Copy this token now; it is shown only once:": "请立即复制此令牌，它只显示这一次：",
    "DICOMweb clients send it as": "DICOMweb 客户端这样发送：",
    "Programs such as DICOMweb clients and viewers use an API token instead of a password. It acts as its user and sees what the user may see.": "DICOMweb 客户端、阅片软件等程序使用 API 令牌代替密码访问。令牌代表其所属用户，只能看到该用户有权查看的内容。",
}
