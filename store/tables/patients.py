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
