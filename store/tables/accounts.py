"""Alliances, hospitals and their people: accounts, sessions, log-in codes, API tokens,
the rate-limit counters; the column mixins of a hospital's editable records.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table


class Alliance(Table):
    id = col.Serial(primary_key=True)
    name = col.Varchar(length=200, unique=True)
    created_at = col.Timestamptz()


class Hospital(Table):
    id = col.Serial(primary_key=True)
    alliance = col.ForeignKey(Alliance, on_delete=col.OnDelete.restrict, index=True)
    name = col.Varchar(length=200)
    code = col.Varchar(length=40, unique=True)
    level = col.Varchar(length=20, default="lower")  # leading | lower
    time_zone = col.Varchar(length=64, default="Asia/Shanghai")
    modules = col.JSON(default="[]")  # enabled feature modules, see kernel.domain.MODULES
    phone = col.Varchar(length=40, default="")
    address = col.Varchar(length=300, default="")
    logo_file = col.Varchar(length=200, default="")  # name under <data>/logos, never user-chosen
    storage_quota_bytes = col.BigInt(default=0)
    storage_used_bytes = col.BigInt(default=0)
    active = col.Boolean(default=True)
    # may the author of a report also review it (SPEC 2.4)? Most hospitals say no.
    self_review_allowed = col.Boolean(default=False)
    created_at = col.Timestamptz()
    version = col.Integer(default=1)


class HospitalRecord:
    """The columns of a record a hospital keeps and edits (roles, departments, dictionaries):
    its hospital, when it was made and the ``version`` for optimistic concurrency. Piccolo
    copies a mixin's columns into each table (the columns come first in the table's list)."""

    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    created_at = col.Timestamptz()
    version = col.Integer(default=1)


class SwitchableRecord(HospitalRecord):
    """A hospital's record that is switched off (``active``), never deleted, once in use."""

    active = col.Boolean(default=True)


class Department(SwitchableRecord, Table):
    id = col.Serial(primary_key=True)
    name = col.Varchar(length=200)
    phone = col.Varchar(length=40, default="")
    description = col.Text(default="")


class Role(HospitalRecord, Table):
    id = col.Serial(primary_key=True)
    name = col.Varchar(length=100)
    permissions = col.JSON(default="[]")
    builtin = col.Boolean(default=False)


class User(Table, tablename="app_user"):
    id = col.Serial(primary_key=True)
    username = col.Varchar(length=64, unique=True)
    phone = col.Varchar(length=32, null=True, default=None, unique=True)
    email = col.Varchar(length=200, default="")
    display_name = col.Varchar(length=100)
    kind = col.Varchar(length=20)  # alliance_admin | hospital_admin | doctor
    alliance = col.ForeignKey(Alliance, null=True, on_delete=col.OnDelete.restrict, index=True)
    hospital = col.ForeignKey(Hospital, null=True, on_delete=col.OnDelete.restrict, index=True)
    department = col.ForeignKey(Department, null=True, on_delete=col.OnDelete.set_null)
    role = col.ForeignKey(Role, null=True, on_delete=col.OnDelete.set_null)
    password_hash = col.Varchar(length=200)
    must_change_password = col.Boolean(default=False)
    active = col.Boolean(default=True)
    frozen = col.Boolean(default=False)
    frozen_reason = col.Varchar(length=20, default="")  # failed_logins | admin
    frozen_day = col.Varchar(length=10, default="")  # hospital-local date of an automatic freeze
    failed_day = col.Varchar(length=10, default="")  # hospital-local date the count is for
    failed_count = col.Integer(default=0)
    wechat_openid = col.Varchar(length=64, default="")
    wecom_userid = col.Varchar(length=64, default="")
    language = col.Varchar(length=8, default="zh")
    created_at = col.Timestamptz()
    version = col.Integer(default=1)


class PasswordHistory(Table):
    id = col.Serial(primary_key=True)
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    password_hash = col.Varchar(length=200)
    created_at = col.Timestamptz()


class Session(Table, tablename="app_session"):
    id = col.Serial(primary_key=True)
    token_hash = col.Varchar(length=64, unique=True)
    csrf_token = col.Varchar(length=64)  # unused, empty: the CSRF token is the csrftoken cookie
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    realm = col.Varchar(length=10)  # app | admin
    created_at = col.Timestamptz()
    last_seen_at = col.Timestamptz()
    expires_at = col.Timestamptz()
    ip = col.Varchar(length=64, default="")
    user_agent = col.Varchar(length=300, default="")
    revoked = col.Boolean(default=False)


class QrLogin(Table):
    id = col.Serial(primary_key=True)
    token_hash = col.Varchar(length=64, unique=True)
    created_at = col.Timestamptz()
    expires_at = col.Timestamptz()
    status = col.Varchar(length=12, default="pending")  # pending | confirmed | used
    user = col.ForeignKey(User, null=True, on_delete=col.OnDelete.cascade)


class ResetCode(Table):
    id = col.Serial(primary_key=True)
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    code_hash = col.Varchar(length=200)
    created_at = col.Timestamptz()
    expires_at = col.Timestamptz()
    tries = col.Integer(default=0)
    used = col.Boolean(default=False)


class RateLimit(Table):
    """A fixed-window counter shared by all web replicas (``api.ratelimit``): one row per
    key (a rule and the hash of its subject), counted up with one atomic upsert."""

    id = col.Serial(primary_key=True)
    key = col.Varchar(length=80, unique=True)
    hits = col.Integer(default=0)
    window_end_ms = col.BigInt(index=True)  # Unix milliseconds: the same on SQLite and PostgreSQL


class ApiToken(Table):
    """A per-user bearer token for DICOMweb clients; only its hash is kept."""

    id = col.Serial(primary_key=True)
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.cascade, index=True)
    name = col.Varchar(length=100)
    token_hash = col.Varchar(length=64, unique=True)
    prefix = col.Varchar(length=12)  # shown to admins to tell tokens apart
    created_by = col.Integer()
    created_at = col.Timestamptz()
    expires_at = col.Timestamptz(null=True, default=None)
    last_used_at = col.Timestamptz(null=True, default=None)
    revoked_at = col.Timestamptz(null=True, default=None)
