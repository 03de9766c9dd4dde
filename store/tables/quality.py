"""Image quality control (SPEC 7): a QC task (a case on the engine, ``states/quality.py``), the
examinations its sampling drew (one ``QcCase`` each, assigned to one evaluator) and the
image grades of a case's series.

A case copies the examination's device type, device, department, body part, time and
reporting doctors at sampling: the QC statistics group one table by them, and a later edit of
the examination does not move an evaluation from one group to another.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Hospital
from store.tables.imaging import Examination


class QcTask(Table):
    """A QC task (SPEC 7.1): draft → sampling → evaluating → arbitration → completed, or
    cancelled. ``criteria``: the JSON of the selection (date range, device type, device,
    departments, body part); ``targets``: what is evaluated (images, initial_report,
    review_report); ``evaluators``: user ids. The sample's ``seed`` and the ``population``
    it was drawn from are kept for audit: the same seed over the same population (ordered by
    id) draws the same examinations."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    name = col.Varchar(length=200)
    state = col.Varchar(length=16, default="draft", index=True)
    version = col.Integer(default=1)
    criteria = col.Text(default="{}")
    sample_size = col.Integer(null=True, default=None)
    sample_percent = col.Integer(null=True, default=None)
    targets = col.Text(default="[]")  # what is evaluated (API: ``objects``)
    evaluators = col.Text(default="[]")
    arbitrator = col.Integer(null=True, default=None)
    blind = col.Boolean(default=False)
    seed = col.BigInt(null=True, default=None)
    population = col.Integer(null=True, default=None)
    sampled = col.Integer(default=0)
    note = col.Text(default="")  # why the last sampling drew nothing
    created_by = col.Integer()
    created_at = col.Timestamptz()
    updated_at = col.Timestamptz()


class QcCase(Table):
    """One sampled examination of a task, evaluated by one evaluator (SPEC 7.2): pending →
    evaluated, or → arbitration (RADPEER 2b, 3a, 3b) → arbitrated; the arbitrator's RADPEER
    and comment sit beside the evaluator's, which stay as they were."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    task = col.ForeignKey(QcTask, on_delete=col.OnDelete.cascade, index=True)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.restrict, index=True)
    position = col.Integer()  # order in the sample
    evaluator = col.Integer(index=True)
    state = col.Varchar(length=16, default="pending", index=True)
    version = col.Integer(default=1)
    device_type = col.Varchar(length=16, default="")
    device_name = col.Varchar(length=100, default="")
    department = col.Integer(null=True, default=None)
    body_part = col.Varchar(length=64, default="")
    exam_time = col.Timestamptz()
    initial_by = col.Integer(null=True, default=None)
    reviewer = col.Integer(null=True, default=None)
    initial_score = col.Integer(null=True, default=None)
    initial_comment = col.Text(default="")
    review_score = col.Integer(null=True, default=None)
    review_comment = col.Text(default="")
    radpeer = col.Varchar(length=4, default="")
    radpeer_comment = col.Text(default="")
    evaluated_at = col.Timestamptz(null=True, default=None)
    arbiter_radpeer = col.Varchar(length=4, default="")
    arbiter_comment = col.Text(default="")
    arbitrated_by = col.Integer(null=True, default=None)
    arbitrated_at = col.Timestamptz(null=True, default=None)


class QcSeriesGrade(Table):
    """The image grade of one series of a case (excellent | good | acceptable | reject, 甲/乙/
    丙/废片) with its reasons; replaced as a whole when the evaluation is saved again."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    case = col.ForeignKey(QcCase, on_delete=col.OnDelete.cascade, index=True)
    series_uid = col.Varchar(length=64)
    grade = col.Varchar(length=12)
    reasons = col.Text(default="")
