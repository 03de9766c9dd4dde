# ruff: noqa: E501
"""Chinese strings of the sharing pages and the exam page's share panel (registered by
``ui.share_pages``)."""

from __future__ import annotations

ZH_SHARES: dict[str, str] = {
    "Share with a colleague": "分享给同事",
    "Your colleague gets a WeCom message with a link to this examination; the message does not name the patient.": "同事将收到一条带有此检查链接的企业微信消息，消息中不含患者姓名。",
    "Find a colleague": "查找同事",
    "Name or user name": "姓名或用户名",
    "Colleague": "同事",
    "Choose a colleague": "请选择同事",
    "No colleague found": "未找到同事",
    "Message (optional)": "留言（可选）",
    "For example: please look at the left lower lobe": "例如：请看一下左肺下叶",
    "Share": "分享",
    "Shared with {name}.": "已分享给 {name}。",
    "Shared with me": "分享给我的",
    "Unread": "未读",
    "New": "新",
    "Older": "更早",
    "Nobody has shared an examination with you yet.": "还没有同事与您分享检查。",
}
