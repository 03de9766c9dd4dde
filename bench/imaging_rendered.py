"""Rendered frame, side by side with Orthanc: one 512×512 CT slice as a windowed JPEG
(WADO-RS ``/rendered``, ``window=40,400,linear``, ``quality=90``) in each transfer syntax
of the CT set — explicit VR little endian, JPEG-LS lossless, JPEG 2000 lossless, RLE.

    uv run python -m bench.imaging_rendered [--cold 40] [--warm 200]

Both servers start empty and receive the same slices by STOW-RS. Per syntax:
- cold: ``--cold`` different slices, each rendered once — the first request for that
  instance since the server started (no rendered-image or file cache of the server's own
  holds it; the operating system's page cache does, on both sides, since the files were
  just written);
- warm: one slice rendered ``--warm`` times in a row after a first request.
The servers take turns request by request on one keep-alive connection each. Every image
is checked (200, ``image/jpeg``, 512×512) and the two servers' pictures of the same slice
are compared (mean absolute difference in grey levels, printed). Printed: p50 and p99 in
milliseconds and the AIMIS ÷ Orthanc speed ratio. About 1–2 minutes.

Then (``--overhead``, default 300 runs) the per-request work an audited read adds, timed in
a process of its own on the app's database while the app runs (``overhead_child``): the
bearer token → actor (the Piccolo select of before; the plain statement; the cached answer),
the instance lookup (the Piccolo select with the scope rule; the plain statement) and the
read's audit row with its commit (the Piccolo insert of before; the plain insert; the group
writer alone, and with 8 and 32 reads at once, per read). "Audited read − unaudited read" is
the audit row: what ``api.phi`` waits for before the first byte.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections import defaultdict

import httpx
import numpy as np
from PIL import Image
from pydicom.uid import UID

from bench import aimis_app
from bench import orthanc as orthanc_mod
from bench.clients import Peer, multipart_related, stow
from bench.datasets import CtInstance, ct_instances
from bench.measure import (
    Latencies,
    latency_table,
    load_now,
    machine,
    stop_on_sigterm,
    table,
)

PARAMS = "window=40,400,linear&quality=90"


def rendered_url(c: CtInstance) -> str:
    return f"/studies/{c.study_uid}/series/{c.series_uid}/instances/{c.sop_uid}/rendered"


def fetch(http: httpx.Client, c: CtInstance, log: Latencies | None, name: str) -> np.ndarray:
    url = f"{rendered_url(c)}?{PARAMS}"
    if log is None:
        res = http.get(url, headers={"Accept": "image/jpeg"})
    else:
        with log.timed():
            res = http.get(url, headers={"Accept": "image/jpeg"})
    if res.status_code != 200 or not res.headers.get("content-type", "").startswith("image/jpeg"):
        raise RuntimeError(f"{name} {url}: {res.status_code} {res.text[:300]}")
    image = Image.open(io.BytesIO(res.content))
    if image.size != (512, 512):
        raise RuntimeError(f"{name} {url}: a {image.size} picture, not 512×512")
    return np.asarray(image.convert("L"), dtype=np.int16)


def pick(cold: int) -> dict[str, list[CtInstance]]:
    """Per syntax: ``cold`` slices spread over the series, plus one more for the warm runs."""
    by_ts: dict[str, list[CtInstance]] = defaultdict(list)
    for c in ct_instances():
        by_ts[c.transfer_syntax].append(c)
    chosen = {}
    for ts, items in by_ts.items():
        step = max(1, len(items) // (cold + 1))
        chosen[ts] = items[::step][: cold + 1]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=40, help="slices rendered once, per syntax")
    parser.add_argument("--warm", type=int, default=200, help="repeats of one slice, per syntax")
    parser.add_argument(
        "--overhead", type=int, default=300, help="runs of each per-request step (0: none)"
    )
    parser.add_argument("--postgres", action="store_true", help="AIMIS on PostgreSQL")
    parser.add_argument("--overhead-child", nargs=5, help=argparse.SUPPRESS)
    aimis_app.add_journal_option(parser)
    args = parser.parse_args()
    if args.overhead_child:
        asyncio.run(overhead_child(*args.overhead_child[:4], runs=int(args.overhead_child[4])))
        return
    stop_on_sigterm()
    orthanc_mod.ensure_installed()
    chosen = pick(args.cold)
    print(machine())
    print(f"AIMIS on {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(
        f"512² CT slices; per syntax {args.cold} cold renders and {args.warm} warm ones of "
        f"one slice, on each side; {PARAMS}"
    )
    everything = [c for items in chosen.values() for c in items]
    body, content_type = multipart_related([c.path.read_bytes() for c in everything])
    with (
        orthanc_mod.temporary() as orthanc,
        aimis_app.temporary(
            postgres=args.postgres, sqlite_journal=args.aimis_sqlite_journal
        ) as app,
    ):
        peers = [Peer("Orthanc", orthanc.dicomweb), app.peer()]
        for peer in peers:
            sent = stow(peer, [(body, content_type, len(everything))], 1)
            if sent.stored != len(everything):
                raise RuntimeError(f"{peer.name}: {sent.stored} stored; {sent.errors}")
        results, diffs = measure(peers, chosen, args.warm)
        overhead = ""
        if args.overhead:
            hot = next(iter(chosen.values()))[-1]
            token = app.headers["Authorization"].removeprefix("Bearer ")
            overhead = app.cli(
                "-m",
                "bench.imaging_rendered",
                "--overhead-child",
                token,
                hot.study_uid,
                hot.series_uid,
                hot.sop_uid,
                str(args.overhead),
            )
    rows = [
        (
            f"{UID(ts).name} ({phase})",
            results[("AIMIS", ts, phase)],
            results[("Orthanc", ts, phase)],
        )
        for ts in chosen
        for phase in ("cold", "warm")
    ]
    print()
    print(latency_table("/rendered 512² CT, ms", rows))
    print(
        "mean |AIMIS − Orthanc| grey levels per syntax: "
        + ", ".join(f"{UID(ts).name}: {d:.2f}" for ts, d in diffs.items())
    )
    if overhead:
        print()
        print(overhead)
    print(f"load after: {load_now()}")


def measure(
    peers: list[Peer], chosen: dict[str, list[CtInstance]], warm: int
) -> tuple[dict[tuple[str, str, str], Latencies], dict[str, float]]:
    results: dict[tuple[str, str, str], Latencies] = defaultdict(lambda: Latencies(""))
    diffs: dict[str, float] = {}
    clients = {p.name: p.client(timeout=60) for p in peers}
    try:
        for ts, items in chosen.items():
            pictures: dict[str, list[np.ndarray]] = defaultdict(list)
            for n, c in enumerate(items[:-1]):
                for peer in peers if n % 2 == 0 else list(reversed(peers)):
                    log = results[(peer.name, ts, "cold")]
                    pictures[peer.name].append(fetch(clients[peer.name], c, log, peer.name))
            diffs[ts] = float(
                np.mean(
                    [
                        np.abs(a - o).mean()
                        for a, o in zip(pictures["AIMIS"], pictures["Orthanc"], strict=True)
                    ]
                )
            )
            hot = items[-1]
            for peer in peers:
                fetch(clients[peer.name], hot, None, peer.name)
            for n in range(warm):
                for peer in peers if n % 2 == 0 else list(reversed(peers)):
                    fetch(clients[peer.name], hot, results[(peer.name, ts, "warm")], peer.name)
            print(
                f"  {UID(ts).name}: cold p50 AIMIS {results[('AIMIS', ts, 'cold')].p50:.1f} ms,"
                f" Orthanc {results[('Orthanc', ts, 'cold')].p50:.1f} ms (load {load_now()})",
                flush=True,
            )
    finally:
        for http in clients.values():
            http.close()
    return results, diffs


def latency_cells(log: Latencies) -> list[str]:
    return [f"{log.p50:.2f}", f"{log.p99:.2f}"]


async def overhead_child(token: str, study: str, series: str, sop: str, *, runs: int) -> None:
    """Time each per-request step of an audited ``/rendered`` (run by ``main`` in the app's
    environment: its settings, its database)."""
    from api.dicomweb.lookup import stored_instance, stored_instances
    from api.tokens import service as tokens
    from api.tokens.cache import TOKENS
    from kernel import security
    from store.db import start_pool, transaction
    from store.reads import read_audits
    from store.tables import ApiToken, AuditLog
    from store.uow import Ctx, live_actor_columns, now, write_audit

    await start_pool()
    actor = await tokens.actor_for_api_token(token)
    assert actor is not None, "the benchmark's token is not accepted"
    ctx = Ctx(actor=actor, ip="127.0.0.1", user_agent="bench")
    digest = security.token_hash(token)

    async def token_piccolo() -> None:  # what api.tokens.service._token_row ran before
        await (
            ApiToken.select(
                ApiToken.id,
                ApiToken.hospital,
                ApiToken.expires_at,
                ApiToken.last_used_at,
                ApiToken.revoked_at,
                *live_actor_columns(ApiToken.user),
            )
            .where(ApiToken.token_hash == digest)
            .first()
        )

    async def token_plain() -> None:
        TOKENS.clear()
        await tokens.actor_for_api_token(token)

    async def token_cached() -> None:
        await tokens.actor_for_api_token(token)

    async def lookup_piccolo() -> None:
        await stored_instances(actor, study, series, sop)

    async def lookup_plain() -> None:
        await stored_instance(actor, study, series, sop)

    async def audit_piccolo() -> None:  # what store.uow.write_audit ran before
        async with transaction():
            await AuditLog.insert(
                AuditLog(
                    at=now(),
                    user_id=actor.user_id,
                    username=actor.username,
                    hospital_id=actor.hospital_id,
                    alliance_id=actor.alliance_id,
                    action="rendered",
                    target_type="study",
                    target_id=study,
                    outcome="success",
                    ip=ctx.ip,
                    user_agent=ctx.user_agent,
                    detail="bench: overhead",
                )
            )

    async def audit_plain() -> None:
        async with transaction():
            await write_audit(ctx, "rendered", "study", study, detail="bench: overhead")

    async def audit_group() -> None:
        await read_audits().write(ctx, "rendered", "study", study, detail="bench: overhead")

    steps = [
        ("token → actor, Piccolo select (before)", token_piccolo),
        ("token → actor, plain statement (cache cleared)", token_plain),
        ("token → actor, cached", token_cached),
        ("instance lookup, Piccolo select + scope (before)", lookup_piccolo),
        ("instance lookup, plain statement", lookup_plain),
        ("audit row + commit, Piccolo insert (before)", audit_piccolo),
        ("audit row + commit, plain insert", audit_plain),
        ("audit row, group writer, 1 read at a time", audit_group),
    ]
    rows = []
    for name, step in steps:
        await step()
        log = Latencies(name)
        for _ in range(runs):
            with log.timed():
                await step()
        rows.append([name, *latency_cells(log), ""])
    for concurrent in (8, 32):
        for name, one in (
            ("audit row + commit, plain insert, own transaction", audit_plain),
            ("audit row, group writer", audit_group),
        ):
            log = Latencies(name)
            start = time.perf_counter()
            rounds = max(1, runs // concurrent)
            for _ in range(rounds):

                async def timed(one=one, log=log) -> None:  # type: ignore[no-untyped-def]
                    with log.timed():
                        await one()

                await asyncio.gather(*(timed() for _ in range(concurrent)))
            per_s = rounds * concurrent / (time.perf_counter() - start)
            rows.append([f"{name}, {concurrent} at once", *latency_cells(log), f"{per_s:.0f}"])
    groups = read_audits()
    print(
        table(
            [f"per-request step, ms ({runs} runs; load {load_now()})", "p50", "p99", "rows/s"],
            rows,
        )
    )
    print(f"group writer: {groups.rows} rows in {groups.groups} commits")


if __name__ == "__main__":
    main()
