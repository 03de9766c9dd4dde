"""The audit log's target types (``AuditLog.target_type``) as the log shows and filters them,
and its actions (``AuditLog.action``) in the reader's words (``action_label``).

Keys are prefixed ("target:study") because some codes are also words elsewhere ("study" is
the archive's per-study billing unit); the en catalogue names them in English, the zh one in
Chinese."""

from __future__ import annotations

import re

from kernel.i18n import N_, Msg, gettext, say
from states.consultation import CONSULTATION
from states.diagnosis import DIAGNOSIS
from states.exam_report import EXAM_REPORT
from states.machine import WORDS
from states.migration import MIGRATION
from states.quality import QUALITY
from states.retrieval import RETRIEVAL
from states.teaching import COURSE
from states.ward_round import WARD_ROUND
from store.scoping import PATIENT_AUDIT_TARGETS

# The processes whose steps ``store.engine`` audits as "<process>.<trigger>".
PROCESSES = {
    p.name: p
    for p in (
        CONSULTATION,
        DIAGNOSIS,
        EXAM_REPORT,
        MIGRATION,
        RETRIEVAL,
        QUALITY,
        WARD_ROUND,
        COURSE,
    )
}

# About running the alliance and its hospitals (an alliance admin reads these too).
ADMINISTRATIVE_TARGETS: tuple[str, ...] = (
    "user",
    "hospital",
    "department",
    "role",
    "alliance",
    "audit_log",
    "api_token",
    "dicom_node",
    "check_item",
    "device",
    "device_type",
    "body_part",
    "report_template",
    "phrase",
    "notification_channel",
    "notification_rule",
    "cloud_film_rule",
)
# Then the targets about a patient's data, as the scoping rule names them.
AUDIT_TARGETS: tuple[str, ...] = ADMINISTRATIVE_TARGETS + tuple(sorted(PATIENT_AUDIT_TARGETS))


# --- Actions (``AuditLog.action``) as the log shows them --------------------------------------
# Each code written by name, with its English label (the message id; the zh catalogue gives the
# Chinese). The state machines' steps ("consultation.start") are labelled from the machines'
# own words (``action_label``); a refused request's code is its method and path.
ACTIONS: dict[str, str] = {
    "login": N_("Log in"),
    "logout": N_("Log out"),
    "login.qr": N_("Log in by QR code"),
    "login.qr_confirm": N_("Confirm a QR login on the phone"),
    "password.change": N_("Change password"),
    "password.initial": N_("Set the initial password"),
    "password.reset": N_("Reset password with a code"),
    "password.reset_request": N_("Request a password-reset code"),
    "account.freeze": N_("Freeze account"),
    "account.unfreeze": N_("Unfreeze account"),
    "account.phone_code": N_("Request a code to bind a phone number"),
    "account.phone_bind": N_("Bind phone number"),
    "alliance.create": N_("Create alliance"),
    "hospital.create": N_("Create hospital"),
    "hospital.update": N_("Edit hospital"),
    "hospital.activate": N_("Activate hospital"),
    "hospital.deactivate": N_("Deactivate hospital"),
    "hospital.modules": N_("Set hospital modules"),
    "hospital.logo": N_("Change hospital logo"),
    "department.create": N_("Create department"),
    "department.update": N_("Edit department"),
    "department.activate": N_("Activate department"),
    "department.deactivate": N_("Deactivate department"),
    "role.create": N_("Create role"),
    "role.update": N_("Edit role"),
    "role.delete": N_("Delete role"),
    "user.create": N_("Create account"),
    "user.update": N_("Edit account"),
    "user.activate": N_("Activate account"),
    "user.deactivate": N_("Deactivate account"),
    "user.password_reset": N_("Reset an account's password"),
    "api_token.create": N_("Create API token"),
    "api_token.revoke": N_("Revoke API token"),
    "audit.read": N_("Read the operation log"),
    "audit.export": N_("Export the operation log"),
    "archive.policy_run": N_("Apply the archive policy"),
    "archive.policy_run_requested": N_("Request an archive policy run"),
    "archive.policy_update": N_("Change the archive policy"),
    "study.archive": N_("Archive study"),
    "study.archive_requested": N_("Request to archive a study"),
    "study.delete": N_("Delete study"),
    "study.restore": N_("Restore study"),
    "study.list": N_("List studies"),
    "study.view": N_("View study"),
    "exam.create": N_("Create examination"),
    "exam.update": N_("Edit examination"),
    "exam.share": N_("Share examination"),
    "exam.columns": N_("Choose list columns"),
    "exam.list": N_("List examinations"),
    "exam.view": N_("View examination"),
    "share.open": N_("Open share link"),
    "share.list": N_("List shares"),
    "exam_report.create": N_("Start report"),
    "exam_report.lock": N_("Lock report for editing"),
    "exam_report.unlock": N_("Release report lock"),
    "exam_report.autosave": N_("Autosave report"),
    "exam_report.view": N_("View report"),
    "exam_report.pdf": N_("Download report PDF"),
    "exam_report.print": N_("Print report"),
    "exam_report.fhir": N_("Export report as FHIR"),
    "exam_report.dicom": N_("Export report as DICOM"),
    "diagnosis_request.create": N_("Create diagnosis request"),
    "diagnosis_request.list": N_("List diagnosis requests"),
    "diagnosis_request.view": N_("View diagnosis request"),
    "consultation.create": N_("Apply for consultation"),
    "consultation.list": N_("List consultations"),
    "consultation.view": N_("View consultation"),
    "qc_task.list": N_("List QC tasks"),
    "statistics.detail": N_("View statistics detail rows"),
    "statistics.download": N_("Download statistics detail rows"),
    "recording.upload_start": N_("Start recording upload"),
    "recording.uploaded": N_("Recording uploaded"),
    "recording.upload_refused": N_("Recording upload refused"),
    "recording.upload_removed": N_("Remove unfinished recording upload"),
    "ward_round.list": N_("List ward rounds"),
    "ward_round.view": N_("View ward round"),
    "ward_round.exam_search": N_("Search examinations for a ward round"),
    "ward_round.timeline": N_("View ward round timeline"),
    "ward_round.record_print": N_("Print ward-round record"),
    "ward_round.reminder": N_("Ward round reminder sent"),
    "ward_round.overrun": N_("Ward round overrun notice sent"),
    "qc_task.view": N_("View QC task"),
    "qc_case.view": N_("View QC case"),
    "qc_case.evaluate": N_("Evaluate QC case"),
    "qc_case.arbitrate": N_("Arbitrate QC case"),
    "qc.statistics": N_("Read QC statistics"),
    "consultation.log": N_("Read the consultation log"),
    "consultation.attach": N_("Attach file to consultation"),
    "consultation.attach_exam": N_("Attach examination to consultation"),
    "consultation.detach_exam": N_("Remove examination from consultation"),
    "consultation.attachment_download": N_("Download consultation attachment"),
    "consultation.exam_search": N_("Search examinations for a consultation"),
    "consultation.meeting_ready": N_("Consultation meeting ready"),
    "consultation.reminder": N_("Consultation reminder sent"),
    "consultation.report_lock": N_("Lock consultation report"),
    "consultation.report_lock_expired": N_("Consultation report lock expired"),
    "consultation.report_unlock": N_("Release consultation report lock"),
    "consultation.report_save": N_("Save consultation report"),
    "consultation.report_print": N_("Print consultation report"),
    "consultation.timeline": N_("View consultation timeline"),
    "migration.receive": N_("Receive migration run"),
    "migration.read": N_("View migration run"),
    "migration.refuse_file": N_("Refuse migration file"),
    "migration.fail_file": N_("Migration file failed"),
    "migration_log.read": N_("View migration log"),
    "migration_log.export": N_("Export migration log"),
    "retrieval.request": N_("Request archive retrieval"),
    "retrieval.list": N_("List archive retrievals"),
    "retrieval.view": N_("View archive retrieval"),
    "dicom.associate": N_("DICOM association"),
    "dicom.store": N_("DICOM store (C-STORE)"),
    "dicom.find": N_("DICOM query (C-FIND)"),
    "dicom.move": N_("DICOM retrieve to a node (C-MOVE)"),
    "dicom.get": N_("DICOM retrieve (C-GET)"),
    "dicomweb.search": N_("DICOMweb search"),
    "dicomweb.retrieve": N_("DICOMweb retrieve"),
    "dicomweb.metadata": N_("DICOMweb metadata"),
    "dicomweb.frames": N_("DICOMweb frames"),
    "dicomweb.bulkdata": N_("DICOMweb bulk data"),
    "dicomweb.rendered": N_("DICOMweb rendered image"),
    "dicomweb.thumbnail": N_("DICOMweb thumbnail"),
    "dicom_node.create": N_("Add DICOM node"),
    "dicom_node.update": N_("Edit DICOM node"),
    "dicom_node.delete": N_("Delete DICOM node"),
    "dictionary.check_item.create": N_("Add check item"),
    "dictionary.device.create": N_("Add device"),
    "dictionary.device_type.create": N_("Add device type"),
    "dictionary.body_part.create": N_("Add body part"),
    "knowledge.create": N_("Add knowledge entry"),
    "template.create": N_("Create report template"),
    "template.render": N_("Fill report template"),
    "notification_channel.create": N_("Add notification channel"),
    "notification_channel.update": N_("Edit notification channel"),
    "notification_channel.test": N_("Test notification channel"),
    "notification_rule.set": N_("Set notification rule"),
    "notification_binding.update": N_("Change own notification addresses"),
    "notification_binding.admin_update": N_("Change a user's notification addresses"),
    "cloud_film.rule": N_("Change cloud-film rule"),
    "patient.code_request": N_("Patient asks for a login code"),
    "patient.login": N_("Patient logs in"),
    "patient.logout": N_("Patient logs out"),
    "patient.verify": N_("Patient verifies a real name"),
    "patient.family_remove": N_("Patient removes a family member"),
    "patient.settings": N_("Patient changes settings"),
    "patient.wechat_bind": N_("Patient binds WeChat"),
    "patient.wechat_unbind": N_("Patient unbinds WeChat"),
    "patient_match.manual": N_("Match an examination by the patient's proof"),
    "patient_match.id_number": N_("Match an examination by ID number"),
    "patient_match.phone": N_("Match an examination by phone number"),
    "patient_match.qr": N_("Match an examination by the report's QR code"),
    "patient_match.unmatch": N_("Unmatch an examination from a patient"),
    "patient_match.visible": N_("Examination visible to the patient"),
    "patient_match.notify": N_("Tell the patient of a new examination"),
    "patient_archive.list": N_("Patient lists her examinations"),
    "patient_archive.view": N_("Patient opens an examination"),
    "patient_archive.image": N_("Patient views an image"),
    "patient_qr.scan": N_("Patient scans a report's QR code"),
    "patient_share.create": N_("Patient creates a share link"),
    "patient_share.revoke": N_("Patient revokes a share link"),
    "patient_share.open": N_("Share link opened"),
    "patient_share.wrong_password": N_("Wrong share-link password"),
    "patient_download.code_request": N_("Patient asks for a download security code"),
    "patient_download.wrong_code": N_("Wrong download security code"),
    "patient_download.link": N_("Download link issued"),
    "patient_download.start": N_("Original images download started"),
    "patient_share.dicomweb": N_("Images read through a share link (DICOMweb)"),
}
# A code that is a request (the refusal of one: "POST /api/…"), shown with its path.
REQUEST = re.compile(r"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|websocket) /\S*")


# Details the platform writes itself, read in the reader's words (``detail_label``); every
# other detail is shown as it was recorded (names, numbers, a reason a person typed).
DETAILS: dict[str, tuple[re.Pattern[str], str]] = {
    "consultation.reminder": (
        re.compile(r"(?P<count>[0-9]+) people reminded"),
        N_("People reminded: {count}"),
    ),
}


def detail_label(action: str, detail: str) -> str:
    """The detail of an ``action`` row in the reader's words when the platform wrote it
    (``DETAILS``), else empty: the page shows the detail as recorded."""
    known = DETAILS.get(action)
    match = known[0].fullmatch(detail or "") if known else None
    return gettext(known[1], **match.groupdict()) if known and match else ""


def action_label(code: str) -> str:
    """``code`` in the reader's words: its label; a state machine's step as "process: step";
    a request as such; any other code as it is."""
    if code in ACTIONS:
        return gettext(ACTIONS[code])
    name, _, step = code.partition(".")
    process = PROCESSES.get(name)
    if process is not None and step:
        word = WORDS.get(name, name)
        return say(
            Msg(
                "{process}: {step}",
                process=Msg(name, context="process"),
                step=Msg(step.replace("_", " "), context=f"{word} step"),
            )
        )
    if REQUEST.fullmatch(code):
        return gettext("Request {request}", request=code)
    return code
