# ruff: noqa: E501
"""Chinese for the report editor, the examination page's report panel and the hospital's
self-review setting; registered at import."""

from __future__ import annotations

from ui import i18n

STATE_LABELS = {
    "": "Not started",
    "draft": "Draft",
    "initial": "Initial diagnosis",
    "reviewed": "Reviewed",
    "returned": "Returned",
}

NOTE_LABELS = {
    "": "Saved",
    "autosave": "Autosaved",
    "initial diagnosis": "Initial diagnosis",
    "approved": "Approved",
}

FIELD_LABELS = {"title": "Title", "findings": "Findings", "impression": "Impression"}

STRINGS: dict[str, str] = {
    "Report": "报告",
    "Examination report": "检查报告",
    "Images": "影像",
    "Phone viewer": "手机看图",
    "Other examinations of this patient": "该患者的其他检查",
    "later": "较新",
    "No other examinations of this patient.": "该患者没有其他检查。",
    "Not started": "未开始",
    "Draft": "草稿",
    "Initial diagnosis": "初步诊断",
    "Reviewed": "已审核",
    "Returned": "已退回",
    "Autosaved": "自动保存",
    "Saved": "已保存",
    "Approved": "已审核通过",
    "Title": "标题",
    "Findings": "影像所见",
    "Impression": "诊断意见",
    "Author": "报告医生",
    "Reviewer": "审核医生",
    "Reporting hospital": "报告医院",
    "Write report": "书写报告",
    "Open report": "打开报告",
    "Edit": "编辑",
    "Template": "报告模板",
    "Choose a template": "选择模板",
    "Apply template": "套用模板",
    "Replace the text you wrote with the template?": "用模板替换已写的内容吗？",
    "Phrases": "常用语",
    "Search the knowledge base": "搜索知识库",
    "Insert": "插入",
    "No phrases match.": "没有匹配的常用语。",
    "Save and close": "保存并结束编辑",
    "Stop editing": "结束编辑",
    "Submit initial diagnosis": "提交初步诊断",
    "Approve": "审核通过",
    "Return": "退回",
    "Reason for returning": "退回原因",
    "Returned with the reason": "退回原因",
    "Review": "审核",
    "Print": "打印",
    "Saved at": "已保存于",
    "Saving…": "正在保存…",
    "is editing the report until": "正在编辑报告，锁定至",
    "You are editing; the lock is kept while you type and ends 30 minutes after your last change.": "您正在编辑；输入时保持锁定，最后一次修改 30 分钟后自动释放。",
    "Release the lock": "释放锁定",
    "Release the lock of this report? Unsaved typing of its holder is lost.": "释放该报告的锁定吗？持有人未保存的内容将丢失。",
    "Versions": "版本",
    "Version": "版本",
    "Compare": "比较",
    "Older": "较早版本",
    "Newer": "较新版本",
    "unchanged": "未修改",
    "No versions yet.": "暂无版本。",
    "Nothing written yet.": "尚未书写。",
    "The report is not shown to your hospital yet.": "报告尚未向贵院开放。",
    "Submit the initial diagnosis for review?": "提交初步诊断以供审核吗？",
    "Approve this report?": "审核通过该报告吗？",
    "Live": "实时",
    "Examination": "检查",
    "Patient": "患者",
    "Exam time": "检查时间",
    "Check item": "检查项目",
    "Actions": "操作",
    "Printed": "已打印",
    "times": "次",
    "once": "1 次",
    # the hospital's setting
    # sentences of the API shown on the page
    "The report is written by": "报告书写医院：",
}

i18n.register(STRINGS)


def labels() -> dict[str, object]:
    return {"state_labels": STATE_LABELS, "note_labels": NOTE_LABELS, "field_labels": FIELD_LABELS}
