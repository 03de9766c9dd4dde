"""QIDO-RS study search, side by side with Orthanc, with 100,000 studies indexed on each:
by PatientID, by PatientName prefix, and by StudyDate range + ModalitiesInStudy.

    uv run python -m bench.imaging_qido [--queries 200] [--studies 100000]

Both servers hold the same 100,000 single-instance studies (``bench.datasets``), filled
once and cached (``bench.populated`` says how each is filled). Each query is asked as OHIF
asks it (``limit=101&offset=0&includefield=00081030,00080060``) on one keep-alive
connection; the two servers take turns query by query with the same random parameters,
after 20 warm-up queries of each kind. Every answer is checked: both must return exactly
``min(101, n)`` studies, ``n`` counted from the data set itself. Printed: p50 and p99 in
milliseconds and the AIMIS ÷ Orthanc speed ratio. About 2–4 minutes with the cache
(filling it the first time takes longer: see the printed rates).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from bench import populated
from bench.aimis_app import Aimis, add_journal_option
from bench.aimis_setup import HOSPITAL
from bench.clients import Peer
from bench.datasets import DAYS, FIRST_DAY, MODALITY_SHARE, QidoStudy, qido_studies
from bench.measure import (
    Latencies,
    latency_table,
    load_now,
    machine,
    stop_on_sigterm,
)
from bench.orthanc import ORTHANC_AET, ensure_installed

LIMIT = 101
OHIF = {"limit": str(LIMIT), "offset": "0", "includefield": "00081030,00080060"}


@dataclass(frozen=True)
class Query:
    params: dict[str, str]
    expected: int  # matching studies in the data set
    extra: int = 0  # matching studies only AIMIS holds (the demo's own)


class Planner:
    """Random queries with their true answer counts, from the data set's match keys."""

    def __init__(self, studies: list[QidoStudy], demo: list[QidoStudy], seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.studies = studies
        self.demo = demo
        self.by_pid = Counter(s.patient_id for s in studies)
        self.names = [s.patient_name.split("=")[0].upper() for s in studies]
        self.by_day_modality: dict[tuple[str, str], int] = Counter(
            (s.study_date, s.modality) for s in studies
        )

    def patient_id(self) -> Query:
        pid = self.rng.choice(self.studies).patient_id
        extra = sum(1 for d in self.demo if d.patient_id == pid)
        return Query({"PatientID": pid}, self.by_pid[pid], extra)

    def name_prefix(self) -> Query:
        family, _, given = self.rng.choice(self.names).partition("^")
        prefix = f"{family}^{given[:2]}"
        # a pattern is matched case-insensitively by both (Orthanc: CaseSensitivePN false)
        expected = sum(1 for n in self.names if n.startswith(prefix))
        extra = sum(1 for d in self.demo if d.patient_name.upper().startswith(prefix))
        return Query({"PatientName": f"{prefix.title()}*"}, expected, extra)

    def date_modality(self) -> Query:
        first = FIRST_DAY + dt.timedelta(days=self.rng.randrange(DAYS - 31))
        days = [first + dt.timedelta(days=d) for d in range(31)]
        modality = self.rng.choice(sorted(MODALITY_SHARE))
        expected = sum(self.by_day_modality.get((f"{d:%Y%m%d}", modality), 0) for d in days)
        span = f"{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}"
        extra = sum(
            1
            for d in self.demo
            if span[:8] <= d.study_date <= span[9:] and modality in d.modality.split("\\")
        )
        return Query({"StudyDate": span, "ModalitiesInStudy": modality}, expected, extra)


KINDS: dict[str, Callable[[Planner], Query]] = {
    "PatientID": Planner.patient_id,
    "PatientName prefix": Planner.name_prefix,
    "StudyDate range + modality": Planner.date_modality,
}


def ask(http: httpx.Client, query: Query, log: Latencies, name: str) -> None:
    # Orthanc 1.10's DICOMweb plugin does not percent-decode query values (``%2A`` stays
    # ``%2A``, ``%5E`` stays ``%5E``): wildcards, carets and commas go unescaped to both.
    url = "/studies?" + urlencode({**query.params, **OHIF}, safe="*^,")
    with log.timed():
        res = http.get(url, headers={"Accept": "application/dicom+json"})
    if res.status_code == 204:
        found = 0
    elif res.status_code == 200:
        found = len(res.json())
    else:
        raise RuntimeError(f"{name} {query.params}: {res.status_code} {res.text[:300]}")
    expected = min(query.expected + (query.extra if name == "AIMIS" else 0), LIMIT)
    if found != expected:
        raise RuntimeError(f"{name} {query.params}: {found} studies, expected {expected}")


def demo_studies(app: Aimis, ours: set[str]) -> list[QidoStudy]:
    """The studies the benchmark's doctor sees besides the data set: his hospital's share of
    the demo's synthetic ones; their matches are added to what AIMIS must answer."""
    import sqlite3

    with sqlite3.connect(app.data_dir / "aimis.sqlite", timeout=30) as db:
        rows = db.execute(
            "SELECT study_uid, patient_id, patient_name, study_date, modalities FROM study"
            " WHERE deleted_at IS NULL AND hospital = (SELECT id FROM hospital WHERE code = ?)",
            (HOSPITAL,),
        ).fetchall()
    return [QidoStudy(*row) for row in rows if row[0] not in ours]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200, help="measured queries per kind")
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=20)
    add_journal_option(parser)
    parser.add_argument(
        "--aimis-fill",
        choices=("bulk", "ingest"),
        default="bulk",
        help="how AIMIS is filled (bench.populated): rows in bulk, or through ingest",
    )
    args = parser.parse_args()
    stop_on_sigterm()
    ensure_installed()
    studies, pack = qido_studies(args.studies)
    print(machine())
    print(
        f"{len(studies)} studies indexed on each side; {args.queries} queries of each kind "
        f"per side after {args.warmup} warm-up ones; OHIF's limit={LIMIT}"
    )
    orthanc, app = populated.both(
        pack, sqlite_journal=args.aimis_sqlite_journal, fill=args.aimis_fill
    )
    try:
        try:
            peers = [
                Peer("Orthanc", orthanc.dicomweb, called_aet=ORTHANC_AET),
                app.peer(),
            ]
            demo = demo_studies(app, {s.study_uid for s in studies})
            results = measure(peers, Planner(studies, demo), args.queries, args.warmup)
        finally:
            app.stop()
    finally:
        orthanc.stop()
    rows = [(kind, results[("AIMIS", kind)], results[("Orthanc", kind)]) for kind in KINDS]
    print()
    print(latency_table("QIDO-RS /studies, ms", rows))
    print(f"load after: {load_now()}")


def measure(
    peers: list[Peer], planner: Planner, queries: int, warmup: int
) -> dict[tuple[str, str], Latencies]:
    results: dict[tuple[str, str], Latencies] = defaultdict(lambda: Latencies(""))
    clients = {p.name: p.client(timeout=60) for p in peers}
    try:
        for kind, plan in KINDS.items():
            for n in range(warmup + queries):
                query = plan(planner)
                order = peers if n % 2 == 0 else list(reversed(peers))
                for peer in order:
                    log = results[(peer.name, kind)] if n >= warmup else Latencies("warm-up")
                    ask(clients[peer.name], query, log, peer.name)
            print(
                f"  {kind}: AIMIS p50 {results[('AIMIS', kind)].p50:.1f} ms, Orthanc p50 "
                f"{results[('Orthanc', kind)].p50:.1f} ms (load {load_now()})",
                flush=True,
            )
    finally:
        for http in clients.values():
            http.close()
    return results


if __name__ == "__main__":
    main()
