"""Every table a hospital owns is classified in ``store.scoping`` (issue 12, finding 2): a
table added tomorrow with a ``hospital`` column fails here until someone decides whether the
alliance admin may read it (administrative rows) or not (patient rows)."""

from __future__ import annotations

import inspect

import pytest
from piccolo.table import Table

from store import scoping, tables
from store.uow import Actor

pytestmark = pytest.mark.unit


def hospital_tables() -> set[type[Table]]:
    found = set()
    for _, value in inspect.getmembers(tables, inspect.isclass):
        if issubclass(value, Table) and value is not Table:
            names = {c._meta.name for c in value._meta.columns}
            if "hospital" in names:
                found.add(value)
    return found


def test_every_hospital_owned_table_is_classified_once() -> None:
    owned = hospital_tables()
    assert owned, "no table with a hospital column found"
    both = scoping.ADMINISTRATIVE_TABLES & scoping.PATIENT_TABLES
    assert not both, f"classified twice: {sorted(t.__name__ for t in both)}"
    unclassified = (
        owned - scoping.ADMINISTRATIVE_TABLES - scoping.PATIENT_TABLES - scoping.AGGREGATE_TABLES
    )
    assert not unclassified, (
        "classify these in store/scoping.py (administrative or patient rows): "
        f"{sorted(t.__name__ for t in unclassified)}"
    )


def actor(kind: str, hospital_id: int | None, alliance_id: int | None = 1) -> Actor:
    return Actor(1, "x", kind, alliance_id, hospital_id, None, frozenset(), 0, "admin")


def test_who_sees_patient_data() -> None:
    assert scoping.sees_patient_data(actor("doctor", 3))
    assert scoping.sees_patient_data(actor("hospital_admin", 3))
    assert not scoping.sees_patient_data(actor("alliance_admin", None))
    assert not scoping.sees_patient_data(actor("doctor", None))
    assert not scoping.sees_patient_data(None)
    assert scoping.patient_hospital_ids(actor("alliance_admin", None)) == []
    assert scoping.patient_hospital_ids(actor("hospital_admin", 3)) == [3]


def test_the_alliance_admin_gets_nothing_of_patient_rows() -> None:
    alliance = actor("alliance_admin", None)
    for table in scoping.PATIENT_TABLES:
        assert scoping.hospital_ids_clause(table, alliance) is scoping.NOTHING, table
    for table in scoping.ADMINISTRATIVE_TABLES - {tables.Hospital}:
        assert scoping.hospital_ids_clause(table, alliance) is not scoping.NOTHING, table
    # a table nobody classified is closed to him too
    assert scoping.is_patient_table(tables.Event)


def test_every_table_pointing_at_a_study_or_examination_says_whether_it_goes_with_it() -> None:
    """SPEC 8.11: a table with a foreign key to a study or an examination is deleted with it
    (``DELETED_BY``, hidden by the one soft-delete rule) or kept on purpose
    (``KEPT_WHEN_DELETED``); a new one fails here until someone decides."""
    pointing = set()
    for _, value in inspect.getmembers(tables, inspect.isclass):
        if issubclass(value, Table) and value is not Table:
            for column in value._meta.foreign_key_columns:
                if column._foreign_key_meta.resolved_references in (
                    tables.Study,
                    tables.Examination,
                ):
                    pointing.add(value)
    undecided = pointing - scoping.DELETED_BY - scoping.KEPT_WHEN_DELETED
    assert not undecided, (
        "decide in store/scoping.py whether these go with a deleted study or examination: "
        f"{sorted(t.__name__ for t in undecided)}"
    )
    # the deleted tables a hospital owns are patient rows; one without a hospital column
    # (a consultation's attached examinations) is read only through the row it hangs off
    assert scoping.DELETED_BY & hospital_tables() <= scoping.PATIENT_TABLES
    assert tables.ConsultationExamination in scoping.DELETED_BY


def test_the_soft_delete_rule_reads_the_mark_of_the_study_or_examination() -> None:
    on_study = {tables.Study, tables.Series, tables.Instance, tables.ArchiveRetrieval}
    for table in scoping.DELETED_BY:
        carrier = "study" if table in on_study else "examination"
        (live,) = (c.querystring.template for c in scoping.deletion_clauses(table))
        (gone,) = (c.querystring.template for c in scoping.deletion_clauses(table, deleted=True))
        assert live.split(".")[0].strip('"').endswith(carrier), live
        assert live.endswith('."deleted_at" IS NULL') and gone.endswith('."deleted_at" IS NOT NULL')
        assert scoping.deletion_clauses(table, deleted=None) == []
    assert scoping.deletion_clauses(tables.Department) == []
