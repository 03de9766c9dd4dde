"""Ingest's statements (``store.sql.{patient,study,series,instance,migration_item,
migration_run,hospital}``): each matches its table's definition (``check``), and each runs on the
real database (SQLite, or PostgreSQL with ``AIMIS_TEST_DB=postgres``) with the effect it
claims, inside a transaction that is rolled back, so nothing stays behind."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import msgspec
import pytest

from store.db import transaction
from store.sql import check
from store.sql import hospital as sql_hospital
from store.sql import instance as sql_instance
from store.sql import migration_item as sql_item
from store.sql import migration_run as sql_run
from store.sql import patient as sql_patient
from store.sql import series as sql_series
from store.sql import study as sql_study
from store.tables import MigrationItem, MigrationRun, Study
from store.uow import now
from tests.fixtures.hospitals import hospital_id

pytestmark = pytest.mark.integration

MODULES = (sql_patient, sql_study, sql_series, sql_instance, sql_item, sql_run, sql_hospital)


class Rollback(Exception):
    pass


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_statement_matches_its_table(module: ModuleType) -> None:
    statements = module.STATEMENTS
    declared = [v for v in vars(module).values() if type(v).__name__ == "Statement"]
    assert set(declared) == set(statements)  # none left out of the list the test checks
    for statement in statements:
        assert check(statement) == [], statement.sqlite


async def test_the_statements_of_one_file_run_and_roll_back() -> None:
    hid = await hospital_id()
    tag = uuid.uuid4().hex[:12]
    at = now()
    seen: dict[str, Any] = {}
    with pytest.raises(Rollback):
        async with transaction():
            pkey = f"{hid}::SQL-{tag}"
            assert await sql_patient.BY_KEY.one(patient_key=pkey) is None
            patient = await sql_patient.INSERT.one(
                hospital=hid, patient_key=pkey, issuer="", created_at=at,
                patient_id=f"SQL-{tag}", name="SQL^TEST", birth_date="", sex="O",
                id_number="", phone="",
            )  # fmt: skip
            assert patient is not None
            again = await sql_patient.INSERT.one(
                hospital=hid, patient_key=pkey, issuer="", created_at=at,
                patient_id=f"SQL-{tag}", name="SQL^TEST", birth_date="", sex="O",
                id_number="", phone="",
            )  # fmt: skip
            assert again is None  # ON CONFLICT DO NOTHING returns no row
            assert await sql_patient.BY_KEY.one(patient_key=pkey) == {"id": patient["id"]}

            study_uid = f"1.2.826.0.1.3680043.8.498.{int(tag, 16)}"
            skey = f"{hid}:{study_uid}"
            values: dict[str, Any] = dict.fromkeys(sql_study.INSERT_COLUMNS, "")
            values |= {
                "hospital": hid, "patient": patient["id"], "study_key": skey,
                "study_uid": study_uid, "modalities": "CT", "priority": 0,
                "created_at": at, "updated_at": at,
            }  # fmt: skip
            study = await sql_study.INSERT.one(**values)
            assert study is not None and await sql_study.INSERT.one(**values) is None
            sid = study["id"]
            found = await sql_study.FOR_INGEST.one(study_key=skey)
            assert found == {
                "id": sid, "modalities": "CT", "body_parts": "", "priority": 0, "tier": "online"
            }  # fmt: skip
            tiers = await sql_study.TIERS.fetch(keys=msgspec.json.encode([skey, "x"]).decode())
            assert tiers == [{"study_key": skey, "tier": "online"}]

            series_key = f"{hid}:{study_uid}.1"
            assert await sql_series.FOR_INGEST.one(series_key=series_key) is None
            series = await sql_series.INSERT.one(
                hospital=hid, study=sid, series_key=series_key, series_uid=f"{study_uid}.1",
                modality="CT", series_number=1, description="", body_part="",
                performed_start_date="", created_at=at,
            )  # fmt: skip
            assert series is not None
            empty = await sql_series.FOR_INGEST.one(series_key=series_key)
            assert empty is not None and not empty["filled"]

            sop = f"{study_uid}.1.1"
            path = f"h{hid}/00/{tag}.dcm"
            inst_values: dict[str, Any] = {
                "hospital": hid, "study": sid, "series": series["id"], "sop_uid": sop,
                "instance_key": f"{hid}:{sop}:1", "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
                "instance_number": 1, "transfer_syntax": "1.2.840.10008.1.2.1", "rows": 8,
                "columns": 8, "frames": 1, "bits_allocated": 16, "photometric": "MONOCHROME2",
                "size_bytes": 100, "sha256": "0" * 64, "storage_path": path, "revision": 1,
                "superseded": False, "migration": None, "created_at": at,
                "decode_state": "pending",
            }  # fmt: skip
            inst = await sql_instance.INSERT.one(**inst_values)
            assert inst is not None
            filled = await sql_series.FOR_INGEST.one(series_key=series_key)
            assert filled is not None and filled["filled"]
            assert await sql_instance.HOLDS_FILE.one(storage_path=path) == {"id": inst["id"]}
            await sql_instance.SUPERSEDE.run(id=inst["id"])
            rows = await sql_instance.OF_SOPS.fetch(
                hospital=hid, sops=msgspec.json.encode([sop, "1.2.3"]).decode()
            )
            assert len(rows) == 1 and rows[0]["superseded"] and rows[0]["revision"] == 1
            assert rows[0]["decode_state"] == "pending" and rows[0]["storage_path"] == path

            await sql_series.GROW.run(id=series["id"], count=1, size=100)
            await sql_study.GROW.run(
                id=sid, modalities="CT\\SR", body_parts="HEAD", priority=2, count=1,
                new_series=1, size=100, undecodable=0, touched=1, at=at,
            )  # fmt: skip
            await sql_study.FLAG_UNDECODABLE.run(id=sid)
            grown = await sql_study.FOR_INGEST.one(study_key=skey)
            assert grown is not None
            assert (grown["modalities"], grown["body_parts"], grown["priority"]) == (
                "CT\\SR", "HEAD", 2
            )  # fmt: skip

            run_row = await _run(hid)
            assert await sql_run.HOSPITAL.one(id=run_row) == {"hospital": hid}
            item = await sql_item.INSERT.one(
                migration=run_row, file_name="a.dcm", size_bytes=100, status="stored",
                code="", reason="", sop_uid=sop, study_uid=study_uid,
            )  # fmt: skip
            assert item is not None
            await sql_item.RESOLVE.run(
                id=item["id"], status="refused", code="quota", reason="full", sop_uid=sop,
                study_uid=study_uid,
            )  # fmt: skip
            counts = dict.fromkeys(("received", "stored", "duplicate", "new_version"), 1)
            await sql_run.COUNT.run(id=run_row, failed=2, received_bytes=100, **counts)
            for uid in (study_uid, "1.2.3", study_uid):  # each added once, in order
                await sql_run.COUNT_AND_STUDY.run(
                    id=run_row, failed=0, received_bytes=0, study_uid=uid, **counts
                )
                counts = dict.fromkeys(counts, 0)
            listed = await sql_run.STUDY_UIDS.one(id=run_row)
            assert listed is not None
            assert msgspec.json.decode(listed["study_uids"]) == [study_uid, "1.2.3"]
            quota = await sql_run.HOSPITAL_QUOTA.one(id=run_row)
            assert quota is not None and quota["hospital"] == hid
            assert await sql_hospital.QUOTA.one(id=hid) == {
                "storage_quota_bytes": quota["storage_quota_bytes"],
                "storage_used_bytes": quota["storage_used_bytes"],
            }
            await sql_hospital.ADD_USED.run(id=hid, bytes=7)
            used = await sql_hospital.QUOTA.one(id=hid)
            assert used is not None
            assert used["storage_used_bytes"] == quota["storage_used_bytes"] + 7
            seen.update(sid=sid, run=run_row, item=item["id"])
            seen["run_row"] = await _run_counts(run_row)
            seen["item_row"] = await _item(item["id"])
            seen["study_row"] = await _study(sid)
            raise Rollback
    assert seen["run_row"] == {
        "received_count": 2, "stored_count": 2, "duplicate_count": 2,
        "new_version_count": 2, "failed_count": 2, "received_bytes": 100,
    }  # fmt: skip
    assert seen["item_row"] == {"status": "refused", "code": "quota", "reason": "full"}
    assert seen["study_row"] == {
        "num_instances": 1, "num_series": 1, "size_bytes": 100, "undecodable": 1
    }  # fmt: skip
    assert await sql_study.FOR_INGEST.one(study_key=f"{hid}:x") is None
    assert await sql_run.HOSPITAL.one(id=seen["run"]) is None  # rolled back


async def _run(hid: int) -> int:
    row = await MigrationRun.insert(
        MigrationRun(hospital=hid, source="stow", created_at=now())
    ).returning(MigrationRun.id)
    return int(row[0]["id"])


async def _run_counts(run_id: int) -> dict[str, Any]:
    row = await (
        MigrationRun.select(
            MigrationRun.received_count,
            MigrationRun.stored_count,
            MigrationRun.duplicate_count,
            MigrationRun.new_version_count,
            MigrationRun.failed_count,
            MigrationRun.received_bytes,
        )
        .where(MigrationRun.id == run_id)
        .first()
    )
    return dict(row)


async def _item(item_id: int) -> dict[str, Any]:
    row = await (
        MigrationItem.select(MigrationItem.status, MigrationItem.code, MigrationItem.reason)
        .where(MigrationItem.id == item_id)
        .first()
    )
    return dict(row)


async def _study(study_id: int) -> dict[str, Any]:
    row = await (
        Study.select(Study.num_instances, Study.num_series, Study.size_bytes, Study.undecodable)
        .where(Study.id == study_id)
        .first()
    )
    return dict(row)
