"""Chinese strings of the dictionary, template and knowledge pages; registered by
``ui.dictionary_pages``."""

from __future__ import annotations

ZH_DICTIONARIES: dict[str, str] = {
    "Dictionaries": "字典",
    "Examination dictionaries": "检查字典",
    "Check items": "检查项目",
    "Device types": "设备类型",
    "Body parts": "检查部位",
    "Devices": "设备",
    "Report templates": "报告模板",
    "Knowledge base": "知识库",
    "Device type": "设备类型",
    "Body part": "检查部位",
    "Station name": "工作站名",
    "Model": "型号",
    "Exam category": "检查类别",
    "Scanning method": "扫描方式",
    "Cloud film": "云胶片",
    "Enabled for this check item": "该检查项目启用云胶片",
    "Visible to the patient": "患者可见时间",
    "after the report is reviewed": "报告审核后",
    "N hours after the exam": "检查后 N 小时",
    "Hours (N)": "小时数（N）",
    "%(n)s h after the exam": "检查后 %(n)s 小时",
    "after review": "审核后",
    "Off": "关闭",
    "outpatient": "门诊",
    "inpatient": "住院",
    "physical": "体检",
    "emergency": "急诊",
    "New entry": "新增",
    "Search code or name": "搜索编码或名称",
    "Nothing found.": "没有找到。",
    "No entries yet.": "暂无条目。",
    "Page": "页码",
    "Previous": "上一页",
    "Next": "下一页",
    "DICOM modality, e.g. CT": "DICOM 检查类型，如 CT",
    "DICOM body part, e.g. CHEST": "DICOM 检查部位，如 CHEST",
    "Deactivate this entry? Examinations keep referring to it.": (
        "确定停用该条目？已有检查仍引用它。"
    ),
}
