"""A cloud-film migration run (SPEC 9.1) as an explicit machine.

received ─verify─▶ verified ─store─▶ stored ─index─▶ indexed ─make_thumbnails─▶ thumbnailed
    ─bill─▶ billed ─match─▶ matched ─notify─▶ notified
Any open state ─fail─▶ failed ─retry─▶ received.
received ─retry [nothing_queued]─▶ received: a run whose follow-up (its flow's outbox row) is
gone while it still waits in ``received`` (the process that received it died and its held
row ran out, or the flow gave up) is queued again, by an admin or the stale-run sweep.

A run's files go through verify → store → index one file at a time inside
``api.ingest.steps.ingest_file`` (a crash leaves each file wholly indexed or not at
all); the run-level steps ``verify``/``store``/``index`` are applied once every received
file has its outcome, so each is a history row and a live event. A run in which no file
could be stored cannot ``store``: it fails with the reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import Msg
from states.machine import Process, Said, Step, declare


class MigrationState(StrEnum):
    received = "received"
    verified = "verified"
    stored = "stored"
    indexed = "indexed"
    thumbnailed = "thumbnailed"
    billed = "billed"
    matched = "matched"
    notified = "notified"
    failed = "failed"


class FileOutcome(StrEnum):
    """What became of one received file of a run (``MigrationItem.status``). These ids, and
    the run's states above, are the one vocabulary of migration runs: the API, the events and
    every page use them, and show them as ``item.<outcome>`` and ``migration.<state>``
    (translated by the catalogue, ``locale/``)."""

    received = "received"  # spooled, not checked yet
    stored = "stored"
    duplicate = "duplicate"
    new_version = "new_version"
    refused = "refused"  # the file was not acceptable (the item says why); nothing stored
    failed = "failed"  # an acceptable file could not be stored (send it again)


@dataclass(frozen=True)
class MigrationFacts:
    """A run's files by outcome (``received``: all of them)."""

    received: int = 0
    pending: int = 0  # received files without an outcome yet
    stored: int = 0
    duplicates: int = 0
    new_versions: int = 0
    refused: int = 0
    failed: int = 0
    queued: bool = False  # a follow-up (the run's flow) is pending or running

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates + self.new_versions


def something_received(f: MigrationFacts) -> str | None:
    return None if f.received > 0 else "The run received no file."


def every_file_checked(f: MigrationFacts) -> str | None:
    if f.pending:
        return Msg("{n} received file(s) have not been checked yet.", n=f.pending)
    return None


def some_file_accepted(f: MigrationFacts) -> str | None:
    if f.accepted == 0:
        return Msg("None of the {n} received file(s) could be stored.", n=f.received)
    return None


def nothing_queued(f: MigrationFacts) -> str | None:
    if f.queued:
        return Msg(
            "The run's follow-up is already queued or running; wait for it to finish "
            "before retrying."
        )
    return None


S = MigrationState
OPEN = (S.received, S.verified, S.stored, S.indexed, S.thumbnailed, S.billed, S.matched)

MIGRATION = Process(
    "migration",
    MigrationState,
    S.received,
    [
        Step("verify", S.received, S.verified, (something_received, every_file_checked)),
        Step("store", S.verified, S.stored, (some_file_accepted,)),
        Step("index", S.stored, S.indexed),
        Step("make_thumbnails", S.indexed, S.thumbnailed),
        Step("bill", S.thumbnailed, S.billed),
        Step("match", S.billed, S.matched),
        Step("notify", S.matched, S.notified),
        Step("fail", OPEN, S.failed),
        Step("retry", S.failed, S.received),
        Step("retry", S.received, S.received, (nothing_queued,)),
    ],
)

# The order the flow walks; each trigger leads to the next state.
PIPELINE: tuple[tuple[str, MigrationState], ...] = (
    ("verify", S.verified),
    ("store", S.stored),
    ("index", S.indexed),
    ("make_thumbnails", S.thumbnailed),
    ("bill", S.billed),
    ("match", S.matched),
    ("notify", S.notified),
)


def progress(state: MigrationState) -> int:
    """How far along the pipeline a state is, 0 (received) to 7 (notified)."""
    for i, (_, reached) in enumerate(PIPELINE, start=1):
        if reached == state:
            return i
    return 0


# What a run's steps leave besides their history row (bound in api/ingest/steps.py): a run
# is created by its "receive"; its end (notify or fail) stamps it finished (a failure keeps
# the reason); a retry clears that and queues the run's flow again.
MIGRATION_STEPS = declare(
    MIGRATION,
    {
        "receive": Said(),
        "notify": Said(after=("finished",)),
        "fail": Said(after=("finished",)),
        "retry": Said(after=("requeued",)),
    },
    created="receive",
)
