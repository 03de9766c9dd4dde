"""Chinese strings of the grouped main menu in ``templates/base.html`` (registered by
``ui.exam_pages``, whose engineer keeps the menu)."""

from __future__ import annotations

ZH_NAV: dict[str, str] = {
    "Main menu": "主菜单",
    "Overview": "概览",
    "Imaging": "影像",
    "Logs": "日志",
    "Remote diagnosis": "远程诊断",
    "Shared with me": "分享给我的",  # as ui/i18n_shares.py
}
