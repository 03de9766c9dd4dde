"""Alliances, hospitals and their people: accounts, sessions, log-in codes, API tokens,
the rate-limit counters; the column mixins of a hospital's editable records.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Alliance(Table):
    id = Serial(primary_key=True)
    name = Varchar(length=200, unique=True)
    created_at = Timestamptz()


class Hospital(Table):
    id = Serial(primary_key=True)
    alliance = ForeignKey(Alliance, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=200)
    code = Varchar(length=40, unique=True)
    level = Varchar(length=20, default="lower")  # leading | lower
    time_zone = Varchar(length=64, default="Asia/Shanghai")
    modules = JSON(default="[]")  # enabled feature modules, see kernel.domain.MODULES
    phone = Varchar(length=40, default="")
    address = Varchar(length=300, default="")
    logo_file = Varchar(length=200, default="")  # name under <data>/logos, never user-chosen
    storage_quota_bytes = BigInt(default=0)
    storage_used_bytes = BigInt(default=0)
    active = Boolean(default=True)
    # may the author of a report also review it (SPEC 2.4)? Most hospitals say no.
    self_review_allowed = Boolean(default=False)
    created_at = Timestamptz()
    version = Integer(default=1)


class HospitalRecord:
    """The columns of a record a hospital keeps and edits (roles, departments, dictionaries):
    its hospital, when it was made and the ``version`` for optimistic concurrency. Piccolo
    copies a mixin's columns into each table (the columns come first in the table's list)."""

    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class SwitchableRecord(HospitalRecord):
    """A hospital's record that is switched off (``active``), never deleted, once in use."""

    active = Boolean(default=True)


class Department(SwitchableRecord, Table):
    id = Serial(primary_key=True)
    name = Varchar(length=200)
    phone = Varchar(length=40, default="")
    description = Text(default="")


class Role(HospitalRecord, Table):
    id = Serial(primary_key=True)
    name = Varchar(length=100)
    permissions = JSON(default="[]")
    builtin = Boolean(default=False)


class User(Table, tablename="app_user"):
    id = Serial(primary_key=True)
    username = Varchar(length=64, unique=True)
    phone = Varchar(length=32, null=True, default=None, unique=True)
    email = Varchar(length=200, default="")
    display_name = Varchar(length=100)
    kind = Varchar(length=20)  # alliance_admin | hospital_admin | doctor
    alliance = ForeignKey(Alliance, null=True, on_delete=OnDelete.restrict, index=True)
    hospital = ForeignKey(Hospital, null=True, on_delete=OnDelete.restrict, index=True)
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null)
    role = ForeignKey(Role, null=True, on_delete=OnDelete.set_null)
    password_hash = Varchar(length=200)
    must_change_password = Boolean(default=False)
    active = Boolean(default=True)
    frozen = Boolean(default=False)
    frozen_reason = Varchar(length=20, default="")  # failed_logins | admin
    frozen_day = Varchar(length=10, default="")  # hospital-local date of an automatic freeze
    failed_day = Varchar(length=10, default="")  # hospital-local date the count is for
    failed_count = Integer(default=0)
    wechat_openid = Varchar(length=64, default="")
    wecom_userid = Varchar(length=64, default="")
    language = Varchar(length=8, default="zh")
    created_at = Timestamptz()
    version = Integer(default=1)


class PasswordHistory(Table):
    id = Serial(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    password_hash = Varchar(length=200)
    created_at = Timestamptz()


class Session(Table, tablename="app_session"):
    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    csrf_token = Varchar(length=64)  # unused, empty: the CSRF token is the csrftoken cookie
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    realm = Varchar(length=10)  # app | admin
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=300, default="")
    revoked = Boolean(default=False)


class QrLogin(Table):
    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    status = Varchar(length=12, default="pending")  # pending | confirmed | used
    user = ForeignKey(User, null=True, on_delete=OnDelete.cascade)


class ResetCode(Table):
    id = Serial(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    code_hash = Varchar(length=200)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    tries = Integer(default=0)
    used = Boolean(default=False)


class RateLimit(Table):
    """A fixed-window counter shared by all web replicas (``api.ratelimit``): one row per
    key (a rule and the hash of its subject), counted up with one atomic upsert."""

    id = Serial(primary_key=True)
    key = Varchar(length=80, unique=True)
    hits = Integer(default=0)
    window_end_ms = BigInt(index=True)  # Unix milliseconds: the same on SQLite and PostgreSQL


class ApiToken(Table):
    """A per-user bearer token for DICOMweb clients; only its hash is kept."""

    id = Serial(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=12)  # shown to admins to tell tokens apart
    created_by = Integer()
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
