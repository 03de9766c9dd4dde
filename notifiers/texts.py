"""Message texts per business type, event and language (zh / en).

A message says what happened to which case and links to its page; nothing of the patient
(no name, no ID, not the free-text topic, which a doctor may have written a name into). The
page behind the link shows the rest after login.
"""

from __future__ import annotations

from notifiers.base import Channel, OutgoingMessage

BUSINESS_TYPES: dict[str, tuple[str, str]] = {
    "consultation": ("远程会诊", "Remote consultation"),
    "ward_round": ("远程查房", "Remote ward round"),
    "diagnosis": ("远程诊断", "Remote diagnosis"),
    "share": ("影像分享", "Shared examination"),
    "teaching": ("远程教学", "Remote teaching"),
    "quality_control": ("影像质控", "Image quality control"),
    "migration": ("云胶片", "Cloud film"),
    "account": ("账号", "Account"),
}
TEST = "test"

# A case whose kind is not its business type: a hospital's own examination report is reported
# under "diagnosis" (its rules and its module) but is not a remote diagnosis request.
CASE_TYPES: dict[str, tuple[str, str]] = {
    "exam_report": ("检查报告", "Examination report"),
}

EVENTS: dict[str, tuple[str, str]] = {
    "create": ("新申请，请审核", "new request, please review"),
    "agree": ("已有科室同意", "a department agreed"),
    "deny": ("已有科室拒绝", "a department declined"),
    "adjust_expert": ("会诊专家已调整", "the expert was changed"),
    "start": ("已开始", "has started"),
    "withdraw": ("已撤回", "was withdrawn"),
    "cancel": ("已取消", "was cancelled"),
    "submit_report": ("报告已提交", "the report was submitted"),
    "remind": ("即将开始", "starts soon"),
    "accept": ("已接受", "was accepted"),
    "reject": ("已拒绝", "was rejected"),
    "review": ("报告已审核", "the report was reviewed"),
    "return": ("报告被退回", "the report was returned"),
    "print": ("报告已打印", "the report was printed"),
    "share": ("有同事与您分享了检查", "a colleague shared an examination with you"),
    "stored": ("检查已上传云端", "the examination is in the cloud"),
    TEST: ("测试消息：此通道配置正确", "test message: this channel works"),
}


def _lang(language: str) -> int:
    return 1 if language == "en" else 0


def business_label(business_type: str, language: str) -> str:
    pair = BUSINESS_TYPES.get(business_type)
    if business_type == TEST:
        return "AIMIS"
    return pair[_lang(language)] if pair else business_type


def event_label(event: str, language: str) -> str:
    pair = EVENTS.get(event)
    return pair[_lang(language)] if pair else event.replace("_", " ")


def _lines(payload: dict, language: str, link: str) -> tuple[str, str]:
    """The headline and the "see" line of a case step in one language."""
    case_id = payload.get("case_id")
    case = CASE_TYPES.get(str(payload.get("case_type", "")))
    what = (
        case[_lang(language)]
        if case
        else business_label(str(payload.get("business_type", "")), language)
    )
    if case_id:
        what = f"{what} #{case_id}"
    event = event_label(str(payload.get("event", "")), language)
    if language == "zh":
        return f"{what}：{event}", f"登录 AIMIS 查看详情: {link}"
    return f"{what}: {event}", f"Log in to AIMIS for the details: {link}"


def case_message(
    payload: dict,
    *,
    channel: Channel,
    address: str,
    language: str,
    base_url: str,
    channel_id: int | None = None,
) -> OutgoingMessage:
    """A step of a case: kind, number, event, and the deep link, in the recipient's
    language. Phone channels (WeCom, official account) carry that language only; an e-mail
    (or the log) has room for the other language below it, as the verification code has."""
    lang = "en" if language == "en" else "zh"
    link = f"{base_url}{payload.get('link', '')}"
    title, see = _lines(payload, lang, link)
    body = see
    if channel in (Channel.email, Channel.log):
        other_title, other_see = _lines(payload, "zh" if lang == "en" else "en", link)
        body = f"{title}\n{see}\n\n{other_title}\n{other_see}"
    return OutgoingMessage(
        channel=channel,
        address=address,
        title=title,
        body=body,
        link=link,
        channel_id=channel_id,
    )
