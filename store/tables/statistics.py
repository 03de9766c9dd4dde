"""Data statistics (SPEC 6): rollups kept by database triggers, never written by the app.

``stat_day``: how many examinations (``kind`` exam, by examination time), remote diagnosis
requests (``remote``: received, for the diagnosing hospital; ``sent``: for the requesting
one, by creation time) and consultations (``consult``, for the applicant's hospital) fell
on one local day of the hospital, per department (0: none) and device type (the modality
code, "" for consultations). ``stat_turnaround``: reports per local day of the step, step
(``initial``: examination → initial report; ``reviewed``: examination → review), doctor
and a bucket of the minutes it took (``api.statistics.service.BUCKETS``): median and
90th percentile, and each doctor's workload, come from it without reading a report.

The triggers (migration 2026-12-07T22:00, block 1) keep both in the transaction of every
insert, update and delete of the rows they count; a GROUP BY over the base tables gives
the same numbers (tests/integration/test_statistics_rollups.py).
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table


class StatDay(Table):
    id = col.Serial(primary_key=True)
    hospital = col.Integer()  # no foreign key: only the triggers write it
    kind = col.Varchar(length=12)  # exam | remote | sent | consult
    day = col.Varchar(length=10)  # YYYY-MM-DD in the hospital's time zone
    department = col.Integer(default=0)
    device_type = col.Varchar(length=16, default="")
    n = col.BigInt(default=0)


class StatTurnaround(Table):
    id = col.Serial(primary_key=True)
    hospital = col.Integer()  # the reporting hospital
    stage = col.Varchar(length=12)  # initial | reviewed
    day = col.Varchar(length=10)  # the step's local day
    doctor = col.Integer(default=0)  # initial_by / reviewer (0: unknown)
    bucket = col.Integer()  # index into api.statistics.service.BUCKETS
    n = col.BigInt(default=0)
