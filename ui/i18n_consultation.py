# ruff: noqa: E501
"""Chinese for the consultation pages and the printed report; registered at import.

Identifiers (states, triggers, roles) get an English label here first, so templates call
``_(state_labels[state])`` and both languages read naturally.
"""

from __future__ import annotations

from typing import Any

from ui import i18n

STATE_LABELS = {
    "reviewing": "Under review",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "finished": "Finished",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
    "cancelled": "Cancelled",
}

EVENT_LABELS = {
    "create": "Applied for the consultation",
    "agree": "Agreed",
    "deny": "Denied",
    "adjust_expert": "Changed the expert",
    "start": "Started the consultation",
    "withdraw": "Withdrew the application",
    "cancel": "Cancelled the consultation",
    "submit_report": "Submitted the report",
    "attach": "Added a file",
    "save_report": "Saved the report",
}

DECISION_LABELS = {
    "": "Undecided",
    "agree": "Agreed",
    "agree_join": "Agreed and joined",
    "deny": "Denied",
}

ROLE_LABELS = {
    "applicant": "Applicant",
    "participant": "Participant",
    "expert": "Expert",
    "reviewer": "Reviewer",
}

SEX_LABELS = {"": "", "male": "Male", "female": "Female", "other": "Other"}

ACTION_LABELS = {
    "start": "Start the consultation",
    "withdraw": "Withdraw",
    "cancel": "Cancel the consultation",
    "submit_report": "Submit the report",
}

STRINGS: dict[str, str] = {
    # states, events, decisions, roles
    "Under review": "审核中",
    "Scheduled": "待开始",
    "In progress": "进行中",
    "Finished": "已完成",
    "Rejected": "已拒绝",
    "Withdrawn": "已撤回",
    "Cancelled": "已取消",
    "Applied for the consultation": "发起会诊申请",
    "Agreed": "同意",
    "Denied": "拒绝",
    "Changed the expert": "调整专家",
    "Started the consultation": "开始会诊",
    "Withdrew the application": "撤回申请",
    "Cancelled the consultation": "取消会诊",
    "Submitted the report": "提交会诊报告",
    "Added a file": "上传附件",
    "Saved the report": "保存会诊报告",
    "Undecided": "待审核",
    "Agreed and joined": "同意并参与",
    "Applicant": "申请人",
    "Participant": "参与人",
    "Expert": "专家",
    "Reviewer": "审核人",
    "applicant": "申请人",
    "participant": "参与人",
    "expert": "专家",
    "Male": "男",
    "Female": "女",
    "Other": "其他",
    "male": "男",
    "female": "女",
    "other": "其他",
    "reviewing": "审核中",
    "scheduled": "待开始",
    "in_progress": "进行中",
    "finished": "已完成",
    "rejected": "已拒绝",
    "withdrawn": "已撤回",
    "cancelled": "已取消",
    # actions
    "Start the consultation": "开始会诊",
    "Withdraw": "撤回",
    "Cancel the consultation": "取消会诊",
    "Submit the report": "提交报告",
    "Submit the report? It cannot be changed afterwards.": "确定提交报告？提交后不能再修改。",
    "Agree and join": "同意并参与",
    "Agree": "同意",
    "Deny": "拒绝",
    "Decide": "提交审核意见",
    "Decision": "审核意见",
    "Reason": "理由",
    "Reason (needed to deny)": "理由（拒绝时必填）",
    "Change expert": "调整专家",
    "Start audio/video consultation": "开始音视频会诊",
    "Preparing the meeting…": "正在准备会议…",
    "The meeting opens in a new window.": "会议将在新窗口中打开。",
    "Waiting:": "等待：",
    # lists and form
    "Remote consultation": "远程会诊",
    "Consultations": "会诊",
    "New consultation": "发起会诊",
    "Waiting for my review": "待我审核",
    "My consultations": "我的会诊",
    "Nothing waiting for your review.": "暂无待审核的会诊。",
    "You take part in no consultation yet.": "您尚未参与任何会诊。",
    "Topic": "会诊主题",
    "Scheduled time": "会诊时间",
    "Clinical summary": "病情摘要",
    "Patient": "患者",
    "Patient name": "患者姓名",
    "Sex": "性别",
    "Birth date": "出生日期",
    "ID number": "身份证号",
    "HIS number": "HIS 号",
    "Invited departments": "受邀科室",
    "Search departments, doctors or hospitals": "搜索科室、医生或医院",
    "Invite": "邀请",
    "Invite as expert": "邀请为专家",
    "Mandatory": "必选",
    "Optional": "可选",
    "No expert chosen": "未指定专家",
    "Remove": "移除",
    "No department invited yet.": "尚未邀请科室。",
    "Files": "附件",
    "PDF, JPEG, PNG, DICOM or ZIP, at most 20 MB each.": "PDF、JPEG、PNG、DICOM 或 ZIP，每个不超过 20 MB。",
    "Apply": "提交申请",
    "Creating…": "正在提交…",
    "Uploading": "正在上传",
    "Open the consultation": "打开会诊",
    "The consultation is created, but some files were refused:": "会诊已创建，但以下文件未被接受：",
    "State": "状态",
    "Applicant hospital": "申请医院",
    "My part": "我的角色",
    "Open": "打开",
    "Waiting departments": "待审核科室",
    "Nothing found.": "未找到。",
    # room
    "Information": "会诊信息",
    "Applied": "申请时间",
    "Materials": "会诊资料",
    "Cloud examinations": "云端检查",
    "Examinations of this patient appear here once the imaging module is connected; they are matched by ID number or HIS number.": "影像模块接入后，将按身份证号或 HIS 号在此显示该患者的云端检查。",
    "Uploaded files": "上传的文件",
    "No files yet.": "暂无文件。",
    "Attach a file": "上传附件",
    "Size": "大小",
    "Uploaded by": "上传人",
    "Participants": "参与人员",
    "Department": "科室",
    "Hospital": "医院",
    "Timeline": "会诊进程",
    "Process diagram": "流程图",
    "Consultation report": "会诊报告",
    "Consultation opinion": "会诊意见",
    "No report yet.": "尚未填写报告。",
    "Edit report": "编辑报告",
    "Save report": "保存报告",
    "Stop editing": "结束编辑",
    "Print (PDF)": "打印（PDF）",
    "is editing the report until": "正在编辑报告，锁定至",
    "You are editing; the lock is kept while you type and ends 30 minutes after your last change.": "您正在编辑；输入时保持锁定，最后一次修改 30 分钟后自动释放。",
    "Report version": "报告版本",
    "Submitted": "已提交",
    "Actions": "操作",
    "Nothing for you to do now.": "您当前无需操作。",
    "Live": "实时",
    "Who": "操作人",
    "When": "时间",
    "What": "事项",
    "Version": "版本",
    # pdf
    "Remote consultation report": "远程会诊报告",
    "Consultation": "会诊",
    "Draft — not submitted": "草稿（未提交）",
    "version": "版本",
    "Printed": "打印于",
    "Page {n}": "第 {n} 页",
    # admin log
    "Consultation log": "会诊日志",
    "Invited hospitals": "受邀医院",
    "Created": "创建时间",
    "No consultations match.": "没有符合条件的会诊。",
    "Search topic or applicant": "搜索主题或申请人",
    "Search": "搜索",
    "consultations": "条会诊",
}

i18n.register(STRINGS)


def labels() -> dict[str, Any]:
    """The label tables for a template context."""
    return {
        "state_labels": STATE_LABELS,
        "event_labels": EVENT_LABELS,
        "decision_labels": DECISION_LABELS,
        "role_labels": ROLE_LABELS,
        "sex_labels": SEX_LABELS,
        "action_labels": ACTION_LABELS,
    }
