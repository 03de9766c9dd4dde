"""Remote ward rounds (SPEC 4): the round a county hospital's ward doctor applies for, the
experts of the leading hospital invited to it (each with his opinion), the cloud
examinations attached to it and the versions of its ward-round record.

A round is a patient row of the applicant's hospital (``store.scoping``); the experts read it
and its attached examinations through ``api/ward_rounds/access.py`` and
``store.scoping.consultation_exams_sql``.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Hospital, User
from store.tables.imaging import Examination


class WardRound(Table):
    id = col.Serial(primary_key=True)
    # the applicant's (the county hospital's)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    applicant = col.ForeignKey(User, on_delete=col.OnDelete.restrict)
    topic = col.Varchar(length=200)
    scheduled_at = col.Timestamptz(index=True)
    summary = col.Text(default="")
    patient_name = col.Varchar(length=100, default="")
    patient_id_number = col.Varchar(length=32, default="")
    patient_his_number = col.Varchar(length=64, default="")
    state = col.Varchar(length=20, default="scheduled", index=True)
    version = col.Integer(default=1)
    meeting_url = col.Varchar(length=500, default="")
    conclusion = col.Text(default="")
    record_version = col.Integer(default=0)  # the ward-round record's, 0: never saved
    started_at = col.Timestamptz(null=True, default=None)
    finished_at = col.Timestamptz(null=True, default=None)
    created_at = col.Timestamptz()


class WardRoundExpert(Table):
    """An invited expert of the leading hospital and the opinion he wrote in the record."""

    id = col.Serial(primary_key=True)
    ward_round = col.ForeignKey(WardRound, on_delete=col.OnDelete.cascade, index=True)
    expert = col.ForeignKey(User, on_delete=col.OnDelete.restrict, index=True)
    opinion = col.Text(default="")
    opinion_at = col.Timestamptz(null=True, default=None)


class WardRoundExamination(Table):
    """A cloud examination attached to a round: one row per pair, in the order attached."""

    id = col.Serial(primary_key=True)
    ward_round = col.ForeignKey(WardRound, on_delete=col.OnDelete.cascade, index=True)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.restrict, index=True)
    added_by = col.ForeignKey(User, null=True, on_delete=col.OnDelete.set_null)
    added_at = col.Timestamptz()


class WardRoundRecordVersion(Table):
    """Each save of the ward-round record: the conclusion and every opinion as they stood."""

    id = col.Serial(primary_key=True)
    ward_round = col.ForeignKey(WardRound, on_delete=col.OnDelete.cascade, index=True)
    version = col.Integer()
    conclusion = col.Text(default="")
    opinions = col.JSON(default="{}")  # expert user id → opinion
    author = col.Integer()
    created_at = col.Timestamptz()
