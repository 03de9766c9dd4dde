"""Ingest, side by side with Orthanc: the same 1,024 CT instances of 512×512 (explicit VR
little endian, JPEG-LS, JPEG 2000 and RLE, 256 each, 313 MB) through STOW-RS and through
C-STORE (dcmtk ``storescu``, one association) into a fresh AIMIS and a fresh Orthanc.

    uv run python -m bench.imaging_ingest [--rounds 3] [--batch 16] [--clients 2]

Each round starts both servers on empty storage (Orthanc first in odd rounds, AIMIS first
in even ones) and sends the whole set once per method. The clock runs from the first byte
sent until the last instance is stored *and indexed* (for Orthanc, the last response; for
AIMIS, the last response or, if it indexes after answering, the moment its index holds
every instance). Printed: the median round's instances/s and MB/s per side and the
AIMIS ÷ Orthanc speed ratio. About 1–2 minutes a round.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import orthanc as orthanc_mod
from bench.aimis_app import Aimis, add_journal_option
from bench.clients import Peer, StoreScuResult, multipart_related, storescu, stow
from bench.datasets import CtInstance, ct_instances
from bench.measure import (
    Throughput,
    fmt_ratio,
    load_now,
    machine,
    speed_ratio,
    stop_on_sigterm,
    table,
)

METHODS = ("stow", "cstore")


class AimisTemplate:
    """A migrated database with the demo loaded, prepared once and copied for each round
    (SQLite) — every round starts from the same empty index."""

    def __init__(self, postgres: bool, prepare: bool = True, sqlite_journal: str = "") -> None:
        self.postgres = postgres
        self.sqlite_journal = sqlite_journal
        self.dir = Path(tempfile.mkdtemp(prefix="aimis-bench-template-"))
        if prepare and not postgres:
            Aimis(self.dir / "data", keep_data=True).prepare()

    def fresh(self, scp: bool) -> Aimis:
        data = Path(tempfile.mkdtemp(prefix="aimis-bench-app-")) / "data"
        if self.postgres:
            return Aimis(data, postgres=True, scp=scp).start()
        shutil.copytree(self.dir / "data", data)
        app = Aimis(data, scp=scp, sqlite_journal=self.sqlite_journal)
        app.prepare(skip_db=True)
        app.cli("migrate")  # a migration committed since the template was made
        return app.start(prepared=True)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def run_orthanc(
    method: str, cts: list[CtInstance], bodies: list, args: argparse.Namespace, log: Path
) -> Throughput:
    with orthanc_mod.temporary() as server:
        peer = Peer(
            "Orthanc",
            server.dicomweb,
            dicom_port=server.dicom_port,
            called_aet=orthanc_mod.ORTHANC_AET,
        )
        seconds = _send(peer, method, cts, bodies, args, log)
        stored = int(server.statistics()["CountInstances"])  # type: ignore[call-overload]
    return _checked("Orthanc", method, stored, len(cts), seconds, cts)


def run_aimis(
    method: str,
    cts: list[CtInstance],
    bodies: list,
    args: argparse.Namespace,
    log: Path,
    template: AimisTemplate,
) -> Throughput:
    app = template.fresh(scp=method == "cstore")
    try:
        before = app.count_instances()  # the demo's own images
        start = time.perf_counter()
        sent = _send(app.peer(), method, cts, bodies, args, log)
        indexed = app.wait_instances(before + len(cts)) - start
        seconds = max(sent, indexed)
        if indexed > sent + 0.05:
            print(f"    (AIMIS answered after {sent:.1f} s, indexed all after {indexed:.1f} s)")
        stored = app.count_instances() - before
    finally:
        app.stop()
    return _checked("AIMIS", method, stored, len(cts), seconds, cts)


def _send(
    peer: Peer,
    method: str,
    cts: list[CtInstance],
    bodies: list,
    args: argparse.Namespace,
    log: Path,
) -> float:
    if method == "stow":
        result = stow(peer, bodies, args.clients)
        if result.errors or result.failed:
            raise RuntimeError(f"{peer.name} STOW-RS: {result.failed} failed; {result.errors}")
        return result.seconds
    sent: StoreScuResult = storescu(peer, orthanc_mod.SCU_AET, [c.path for c in cts], log)
    if sent.returncode:
        raise RuntimeError(f"{peer.name} storescu exited {sent.returncode}:\n{sent.output}")
    return sent.seconds


def _checked(
    name: str, method: str, stored: int, expected: int, seconds: float, cts: list[CtInstance]
) -> Throughput:
    if stored != expected:
        raise RuntimeError(f"{name} {method}: {stored} of {expected} instances stored")
    result = Throughput(expected, sum(c.size for c in cts), seconds)
    print(
        f"  {name:<7} {method:<6} {result.per_second:7.1f} instances/s "
        f"{result.mb_per_second:6.1f} MB/s ({seconds:.1f} s, load {load_now()})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="instances per STOW-RS request")
    parser.add_argument("--clients", type=int, default=2, help="STOW-RS requests at once")
    parser.add_argument("--limit", type=int, default=0, help="send only the first N instances")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--postgres", action="store_true", help="AIMIS on PostgreSQL")
    parser.add_argument("--sides", default="Orthanc,AIMIS", help="for trying one side alone")
    add_journal_option(parser)
    args = parser.parse_args()
    stop_on_sigterm()
    methods = [m for m in args.methods.split(",") if m]
    orthanc_mod.ensure_installed()
    cts = ct_instances()
    if args.limit:
        cts = cts[: args.limit]
    print(machine())
    mb = sum(c.size for c in cts) / 1e6
    print(
        f"{len(cts)} CT instances 512², {mb:.0f} MB; STOW-RS {args.batch} a request, "
        f"{args.clients} at once; C-STORE one storescu association; {args.rounds} rounds"
    )
    payloads = [c.path.read_bytes() for c in cts]
    bodies = []
    for i in range(0, len(payloads), args.batch):
        chunk = payloads[i : i + args.batch]
        body, content_type = multipart_related(chunk)
        bodies.append((body, content_type, len(chunk)))
    template = AimisTemplate(
        args.postgres, prepare="AIMIS" in args.sides, sqlite_journal=args.aimis_sqlite_journal
    )
    logs = Path(tempfile.mkdtemp(prefix="aimis-bench-ingest-"))
    results: dict[tuple[str, str], list[Throughput]] = {}
    try:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            for method in methods:
                sides: list[tuple[str, Callable[[], Throughput]]] = [
                    ("Orthanc", partial(run_orthanc, method, cts, bodies, args, logs / "o.log")),
                    (
                        "AIMIS",
                        partial(run_aimis, method, cts, bodies, args, logs / "a.log", template),
                    ),
                ]
                for name, run in sides if r % 2 == 0 else reversed(sides):
                    if name not in args.sides:
                        continue
                    results.setdefault((method, name), []).append(run())
    finally:
        template.remove()
        shutil.rmtree(logs, ignore_errors=True)
    rows = []
    for method in methods:
        o = _median(results.get((method, "Orthanc"), []))
        a = _median(results.get((method, "AIMIS"), []))
        label = "STOW-RS" if method == "stow" else "C-STORE (storescu)"
        rows.append(
            [
                label,
                f"{a.per_second:.1f}",
                f"{a.mb_per_second:.1f}",
                f"{o.per_second:.1f}",
                f"{o.mb_per_second:.1f}",
                fmt_ratio(speed_ratio(a.per_second, o.per_second, higher_is_faster=True)),
            ]
        )
    print()
    print(
        table(
            [
                "ingest, median of rounds",
                "AIMIS inst/s",
                "AIMIS MB/s",
                "Orthanc inst/s",
                "Orthanc MB/s",
                "AIMIS ÷ Orthanc",
            ],
            rows,
        )
    )
    print(f"load after: {load_now()}")


def _median(runs: list[Throughput]) -> Throughput:
    """The median round by instances/s (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda t: t.per_second)
    return ordered[(len(ordered) - 1) // 2] if ordered else Throughput(0, 0, 0)


if __name__ == "__main__":
    main()
