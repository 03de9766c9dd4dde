"""Chinese strings of the notification pages; registered by ``ui.notification_pages``.

``EN_NOTIFY`` labels the keys that are identifiers (statuses, audiences, business types).
"""

from __future__ import annotations

ZH_NOTIFY: dict[str, str] = {
    # pages and sections
    "Notifications": "消息通知",
    "My notifications": "我的消息通知",
    "Delivery log": "消息发送日志",
    "Channels": "通知渠道",
    "Rules": "通知规则",
    "Doctors' WeChat and WeCom bindings": "医生的微信与企业微信绑定",
    "Each business type goes by the channels its rule names. Without a rule, messages go by "
    "e-mail when the platform has a mail server, else to the dispatcher log.": (
        "各业务类型按其规则所选渠道发送；未配置规则时，平台配置了邮件服务器则发邮件，否则写入调度日志。"
    ),
    "Involved: the people of the case. Department: also their department colleagues. "
    "Hospital: only the group robot posts.": (
        "相关人员：业务涉及的人；科室：另加他们所在科室的同事；全院：仅由群机器人发到群里。"
    ),
    "Your hospital sends case reminders (consultations, ward rounds, reports …) to WeChat, "
    "WeCom or e-mail, as its administrator set up. Tell it where to reach you.": (
        "医院按管理员的配置，通过微信、企业微信或邮件发送业务提醒（会诊、查房、报告等）。请填写您的接收方式。"
    ),
    # channels
    "WeCom application message": "企业微信应用消息",
    "WeCom group robot": "企业微信群机器人",
    "WeChat official account template message": "微信公众号模板消息",
    "Dispatcher log": "调度日志",
    "corp ID (CorpID)": "企业 ID（CorpID）",
    "application AgentId": "应用 AgentId",
    "application Secret": "应用 Secret",
    "API host": "接口地址",
    "webhook key": "Webhook key",
    "AppID": "AppID",
    "AppSecret": "AppSecret",
    "template ID": "模板 ID",
    "mail server URL": "邮件服务器 URL",
    "the platform's mail server": "使用平台邮件服务器",
    "set": "已设置",
    "set — leave empty to keep": "已设置 — 留空则保持不变",
    "optional": "可选",
    "Enabled": "已启用",
    "Disabled": "已停用",
    "disabled": "已停用",
    "Not configured": "未配置",
    "Enable": "启用",
    "Disable": "停用",
    "Disable this channel? Rules that use it skip it.": "停用此渠道？使用它的规则将跳过它。",
    "Add channel": "添加渠道",
    "Add a channel first.": "请先添加渠道。",
    "Send a test message to": "测试消息发给",
    "Send test message": "发送测试消息",
    "Myself": "我自己",
    "Only people with a": "只列出已绑定",
    "are listed.": "的人员。",
    "The test message is posted to the group.": "测试消息将发到群里。",
    # rules
    "Business type": "业务类型",
    "Audience": "接收范围",
    "On": "启用",
    "no rule: platform default": "未配置：使用平台默认",
    "audience:involved": "相关人员",
    "audience:department": "所在科室",
    "audience:hospital": "全院（群机器人）",
    "diagnosis": "远程诊断",
    "share": "影像分享",
    "migration": "云胶片",
    "account": "账号",
    "test": "测试消息",
    # bindings
    "Doctor": "医生",
    "WeCom user id": "企业微信账号",
    "WeChat openid": "微信 openid",
    "Message language": "消息语言",
    "Your account (账号) in the WeCom address book, e.g. ZhangSan.": (
        "您在企业微信通讯录中的账号，例如 ZhangSan。"
    ),
    "Shown by the hospital's official account after you follow it (28 characters).": (
        "关注医院公众号后由公众号显示（28 个字符）。"
    ),
    "none — ask your administrator": "无 — 请联系管理员",
    "Saved.": "已保存。",
    # log
    "Channel": "渠道",
    "Recipient": "接收人",
    "Sent": "发送时间",
    "Attempts": "尝试次数",
    "the group": "群",
    "deliveries": "条",
    "Live refresh": "实时刷新",
    "No deliveries match.": "没有符合条件的记录。",
    "possible duplicate": "可能重复",
    "status:pending": "等待发送",
    "status:sending": "发送中",
    "status:sent": "已发送",
    "status:failed": "失败",
}

EN_NOTIFY: dict[str, str] = {
    "status:pending": "pending",
    "status:sending": "sending",
    "status:sent": "sent",
    "status:failed": "failed",
    "audience:involved": "People involved",
    "audience:department": "Their departments",
    "audience:hospital": "Hospital group (robot)",
    "diagnosis": "Remote diagnosis",
    "share": "Shared examination",
    "migration": "Cloud film",
    "account": "Account",
    "test": "Test message",
}
