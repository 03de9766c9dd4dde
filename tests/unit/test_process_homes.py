"""One home per process: the engine is the only writer of a step's history, and every
process declares its steps beside its machine (issue 13)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import states
from states.machine import Declared, Process
from store import engine

ROOT = Path(__file__).resolve().parents[2]
# The home that binds a process's declared names (api/<feature>/steps.py).
HOMES = {
    "diagnosis_request": "api.diagnosis.steps",
    "consultation": "api.consultations.steps",
    "retrieval": "api.archive.steps",
    "migration": "api.ingest.steps",
    "exam_report": "api.reports.steps",
    "ward_round": "api.ward_rounds.steps",
    "qc_task": "api.quality.steps",
    "course": "api.teaching.steps",
}


def python_sources() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [p for p in out.stdout.split() if not p.startswith("tests/")]


def processes() -> list[tuple[str, Process[Any]]]:
    found = []
    for info in pkgutil.iter_modules(states.__path__):
        module = importlib.import_module(f"states.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Process) and info.name not in ("machine", "docs"):
                found.append((info.name, value))
    return sorted({p.name: (m, p) for m, p in found}.values(), key=lambda mp: mp[1].name)


def test_only_the_engine_writes_case_history() -> None:
    # spelled apart, so this file is not a match itself
    orm, sql = "CaseHistory" + ".insert", "INSERT INTO " + "case_history"
    texts = {p: (ROOT / p).read_text() for p in python_sources()}
    assert not {p for p, text in texts.items() if orm in text}
    # the statement is written once (store.sql.case_history) and run by the engine alone
    # (a benchmark's bulk fill of a scratch database aside)
    product = {p for p, text in texts.items() if sql in text and not p.startswith("bench/")}
    assert product == {"store/sql/case_history.py"}
    users = {p for p, text in texts.items() if "store.sql import case_history" in text}
    assert users <= {"store/engine.py"} and "store/engine.py" in users


def test_process_modules_are_not_in_store() -> None:
    assert not (ROOT / "store" / "diagnosis.py").exists()
    assert not (ROOT / "api" / "consultations" / "records.py").exists()


@pytest.mark.parametrize("module,process", processes(), ids=lambda v: getattr(v, "name", v))
def test_every_process_declares_its_steps(module: str, process: Process[Any]) -> None:
    declared = [
        v
        for v in vars(importlib.import_module(f"states.{module}")).values()
        if isinstance(v, Declared) and v.process == process.name
    ]
    assert declared, f"states/{module}.py declares nothing for {process.name}"
    assert declared[0] is process.declared
    unknown = set(declared[0].steps) - {*process.triggers, declared[0].created}
    assert not unknown, f"{process.name} declares steps its machine lacks: {unknown}"


@pytest.mark.parametrize("module,process", processes(), ids=lambda v: getattr(v, "name", v))
def test_declared_names_are_bound_by_the_home(module: str, process: Process[Any]) -> None:
    if not (process.declared.audiences or process.declared.effects):
        return
    importlib.import_module(HOMES[process.name])
    bound = engine.binding(process)
    assert bound is not None
    assert process.declared.audiences <= bound.audiences.keys()
    assert process.declared.effects <= bound.effects.keys()


def test_callers_of_apply_pass_data_not_code() -> None:
    """What a step leaves is declared beside its machine and bound in its home; a caller of
    the engine passes facts, never a closure of effects."""
    callers = [p for p in python_sources() if "effects=" in (ROOT / p).read_text()]
    bound_in_homes = {f"{m.replace('.', '/')}.py" for m in HOMES.values()}
    bound_in_homes.add("store/engine.py")
    assert set(callers) <= bound_in_homes, set(callers) - bound_in_homes
