"""The patient realm's identity (SPEC §10): patient accounts are not staff accounts.

A ``PatientAccount`` is a phone number that logged in with a text-message code (SPEC 10.1);
its ``PatientPerson`` rows are the people whose examinations it sees: the account holder
herself (``relationship`` "self") and her family members (SPEC 10.2), each verified by name
and national ID number. A verified ID number belongs to one live person only (a unique index
over the rows not removed, in the migration step). Nothing here has a ``hospital`` column:
a patient belongs to the alliance, not to one hospital; what she sees of a hospital's
examinations is decided by her matches and the hospital's cloud-film rule.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Hospital
from store.tables.imaging import Examination


class PatientAccount(Table):
    id = col.Serial(primary_key=True)
    phone = col.Varchar(length=20, unique=True)  # E.164 digits without "+", e.g. 8613800000000
    display_name = col.Varchar(length=100, default="")
    wechat_openid = col.Varchar(length=64, default="")  # bound by WeChat web authorisation
    notify_opt_out = col.Boolean(default=False)  # the patient's own opt-out (SPEC 10, point 9)
    language = col.Varchar(length=8, default="zh")
    active = col.Boolean(default=True)
    created_at = col.Timestamptz()
    last_login_at = col.Timestamptz(null=True, default=None)
    version = col.Integer(default=1)


class PatientPerson(Table):
    id = col.Serial(primary_key=True)
    account = col.ForeignKey(PatientAccount, on_delete=col.OnDelete.cascade, index=True)
    relationship = col.Varchar(length=16)  # self | spouse | father | mother | child | other
    name = col.Varchar(length=100)
    id_number = col.Varchar(length=18, index=True)  # upper case; 15-digit legacy form kept
    birth_date = col.Date(null=True, default=None)  # from the ID number
    sex = col.Varchar(length=1, default="")  # M | F, from the ID number
    verified_at = col.Timestamptz()
    removed_at = col.Timestamptz(null=True, default=None)
    created_at = col.Timestamptz()


class PatientSession(Table):
    """A patient's login session: its own table and cookie, never a staff ``Session``
    (``api/patients/sessions.py``). ``wechat_state`` is the pending WeChat web
    authorisation's ``state`` (it comes back with the code and must match)."""

    id = col.Serial(primary_key=True)
    token_hash = col.Varchar(length=64, unique=True)
    account = col.ForeignKey(PatientAccount, on_delete=col.OnDelete.cascade, index=True)
    created_at = col.Timestamptz()
    last_seen_at = col.Timestamptz()
    expires_at = col.Timestamptz()
    ip = col.Varchar(length=64, default="")
    user_agent = col.Varchar(length=300, default="")
    wechat_state = col.Varchar(length=64, default="")
    revoked = col.Boolean(default=False)


class PatientCode(Table):
    """A text-message login code (SPEC 10.1): kept hashed, valid minutes, single use,
    a few tries. ``phone`` as ``PatientAccount.phone``; no account exists before the first
    login, so the code is the phone's."""

    id = col.Serial(primary_key=True)
    phone = col.Varchar(length=20, index=True)
    code_hash = col.Varchar(length=200)
    created_at = col.Timestamptz()
    expires_at = col.Timestamptz()
    tries = col.Integer(default=0)
    used = col.Boolean(default=False)


class CloudFilmRule(Table):
    """A hospital's cloud-film settings (SPEC 8.7, 10.3, 10.6), one row per hospital.

    Each check item carries its own rule (``CheckItem.cloud_film``, ``cloud_film_visible``,
    ``cloud_film_hours``: the check type of SPEC 8.5/8.7); this row is the rule of the
    examinations that have no check item, and the hospital-wide switches: whether an
    examination may be matched to a patient by phone number, whether patients may download
    the original DICOM. "At once" is ``after_hours`` with 0 hours."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.cascade, unique=True)
    enabled = col.Boolean(default=False)  # for examinations without a check item
    visible_when = col.Varchar(length=16, default="after_review")  # after_review | after_hours
    visible_hours = col.Integer(default=0)
    match_by_phone = col.Boolean(default=False)
    allow_download = col.Boolean(default=False)
    updated_at = col.Timestamptz()
    version = col.Integer(default=1)


class PatientMatch(Table):
    """An examination found to be a patient person's (SPEC 10.3, 9.1): by the manual proof,
    by ID number, by phone or by the printed QR code (``how``). At most one live match per
    (person, examination): a unique index over the rows not un-matched (migration step
    2026-12-07T14:00). ``visible_at`` is when the patient may see it under the hospital's
    rule (NULL: waiting for the report's review, or cloud film off); the ``cloud_film``
    timer makes it visible and tells the patient (``notified_at``). Un-matched rows stay
    (``unmatched_at`` and why): the audit trail of what a patient once saw."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    person = col.ForeignKey(PatientPerson, on_delete=col.OnDelete.cascade, index=True)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.cascade, index=True)
    how = col.Varchar(length=12)  # manual | id_number | phone | qr
    matched_at = col.Timestamptz()
    visible_at = col.Timestamptz(null=True, default=None)
    notified_at = col.Timestamptz(null=True, default=None)
    unmatched_at = col.Timestamptz(null=True, default=None)
    unmatch_reason = col.Varchar(length=200, default="")


class PatientShare(Table):
    """A share link of one examination (SPEC 10.5, ``api/patient_shares``): made by the
    patient of an account for an examination matched to one of its persons and visible to
    her. Only hashes are kept: the token's (``kernel.security.token_hash``) and the
    password's (``kernel.security.hash_password``, as the staff passwords). ``failures``
    counts wrong passwords; at the limit the link is ``locked_at``."""

    id = col.Serial(primary_key=True)
    account = col.ForeignKey(PatientAccount, on_delete=col.OnDelete.cascade, index=True)
    person = col.ForeignKey(PatientPerson, on_delete=col.OnDelete.cascade)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.cascade, index=True)
    token_hash = col.Varchar(length=64, unique=True)
    password_hash = col.Varchar(length=200)
    created_at = col.Timestamptz()
    expires_at = col.Timestamptz()
    revoked_at = col.Timestamptz(null=True, default=None)
    failures = col.Integer(default=0)
    locked_at = col.Timestamptz(null=True, default=None)
    openings = col.Integer(default=0)


class PatientShareSession(Table):
    """A recipient's short session of one share link, after the right password (its own
    cookie ``aimis_share``; it shows that link's examination only, and ends with the link's
    revocation or expiry)."""

    id = col.Serial(primary_key=True)
    share = col.ForeignKey(PatientShare, on_delete=col.OnDelete.cascade, index=True)
    token_hash = col.Varchar(length=64, unique=True)
    created_at = col.Timestamptz()
    expires_at = col.Timestamptz()


class PatientDownload(Table):
    """A patient's request to download one examination's original DICOM (SPEC 10.6,
    ``api/patient_archive/downloads.py``): the security code texted to her phone (hashed,
    valid minutes), the wrong codes counted (``attempts``; at the limit the request is
    ``invalidated_at``), then the link (its token's hash, ``expires_at`` 30 minutes after
    ``issued_at``) and how often it was used (``downloads``)."""

    id = col.Serial(primary_key=True)
    account = col.ForeignKey(PatientAccount, on_delete=col.OnDelete.cascade, index=True)
    person = col.ForeignKey(PatientPerson, on_delete=col.OnDelete.cascade)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.cascade, index=True)
    code_hash = col.Varchar(length=200)
    code_expires_at = col.Timestamptz()
    attempts = col.Integer(default=0)
    invalidated_at = col.Timestamptz(null=True, default=None)
    token_hash = col.Varchar(length=64, null=True, default=None, unique=True)
    issued_at = col.Timestamptz(null=True, default=None)
    expires_at = col.Timestamptz(null=True, default=None)
    downloads = col.Integer(default=0)
    created_at = col.Timestamptz()
