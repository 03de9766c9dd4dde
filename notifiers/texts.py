"""Message texts per business type, event and language (zh / en): English ids of the
catalogue (``locale/``), translated into the recipient's language.

A message says what happened to which case and links to its page; nothing of the patient
(no name, no ID, not the free-text topic, which a doctor may have written a name into). The
page behind the link shows the rest after login.
"""

from __future__ import annotations

from kernel.i18n import N_, gettext
from notifiers.base import Channel, OutgoingMessage

BUSINESS_TYPES: dict[str, str] = {
    "consultation": N_("Remote consultation"),
    "ward_round": N_("Remote ward round"),
    "diagnosis": N_("Remote diagnosis"),
    "share": N_("Shared examination"),
    "teaching": N_("Remote teaching"),
    "quality_control": N_("Image quality control"),
    "migration": N_("Cloud film"),
    "account": N_("Account"),
}
TEST = "test"
# A case's priority (kernel.priority) said before its kind when it is not routine.
PRIORITY_WORDS: dict[str, str] = {
    "urgent": N_("URGENT"),
    "emergency": N_("EMERGENCY"),
}

# A case whose kind is not its business type: a hospital's own examination report is reported
# under "diagnosis" (its rules and its module) but is not a remote diagnosis request.
CASE_TYPES: dict[str, str] = {
    "exam_report": N_("Examination report"),
}

EVENTS: dict[str, str] = {
    "create": N_("new request, please review"),
    "submitted": N_("your request was sent to the invited departments for review"),
    "invited": N_("you are invited as an expert"),
    "expert_assigned": N_("you are now the expert of an invited department"),
    "expert_replaced": N_("another expert replaces you; you no longer take part"),
    "reminder": N_("starts at {starts_at}"),
    "agree": N_("a department agreed"),
    "deny": N_("a department declined"),
    "adjust_expert": N_("the expert was changed"),
    "start": N_("has started"),
    "withdraw": N_("was withdrawn"),
    "cancel": N_("was cancelled"),
    "submit_report": N_("the report was submitted"),
    "finish": N_("was finished; the record is written"),
    "overrun": N_("runs over its planned time"),
    "remind": N_("starts soon"),
    "accept": N_("was accepted"),
    "reject": N_("was rejected"),
    "review": N_("the report was reviewed"),
    "return": N_("the report was returned"),
    "print": N_("the report was printed"),
    "lock_released": N_("an administrator released your lock of the report"),
    "share": N_("a colleague shared an examination with you"),
    "stored": N_("the examination is in the cloud"),
    "sampled": N_("the sample is drawn; your cases wait for your evaluation"),
    "nothing_drawn": N_("the sampling drew nothing; see the task for why"),
    "arbitrate": N_("cases wait for your arbitration"),
    "complete": N_("is completed"),
    "published": N_("was published; you are in its teaching range"),
    "end": N_("has ended"),
    "recording_ready": N_("its recording is ready to watch"),
    TEST: N_("test message: this channel works"),
}


def business_label(business_type: str, language: str) -> str:
    label = BUSINESS_TYPES.get(business_type)
    if business_type == TEST:
        return "AIMIS"
    return gettext(label, lang=language) if label else business_type


def event_label(event: str, language: str, payload: dict | None = None) -> str:
    """The event's words; ``{starts_at}`` (a reminder's) comes from the payload, written as
    the case's local time when it was queued."""
    label = EVENTS.get(event)
    if not label:
        return event.replace("_", " ")
    return gettext(label, lang=language, starts_at=str((payload or {}).get("starts_at", "")))


def _lines(payload: dict, language: str, link: str) -> tuple[str, str]:
    """The headline and the "see" line of a case step in one language."""
    case_id = payload.get("case_id")
    case = CASE_TYPES.get(str(payload.get("case_type", "")))
    what = (
        gettext(case, lang=language)
        if case
        else business_label(str(payload.get("business_type", "")), language)
    )
    if case_id:
        what = f"{what} #{case_id}"
    level = PRIORITY_WORDS.get(str(payload.get("priority", "")))
    if level:
        level = gettext(level, lang=language)
        what = gettext("[{priority}] {what}", lang=language, priority=level, what=what)
    event = event_label(str(payload.get("event", "")), language, payload)
    return (
        gettext("{what}: {event}", lang=language, what=what, event=event),
        gettext("Log in to AIMIS for the details: {link}", lang=language, link=link),
    )


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
