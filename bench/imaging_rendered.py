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
"""

from __future__ import annotations

import argparse
import io
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
    aimis_app.add_journal_option(parser)
    args = parser.parse_args()
    stop_on_sigterm()
    orthanc_mod.ensure_installed()
    chosen = pick(args.cold)
    print(machine())
    print(
        f"512² CT slices; per syntax {args.cold} cold renders and {args.warm} warm ones of "
        f"one slice, on each side; {PARAMS}"
    )
    everything = [c for items in chosen.values() for c in items]
    body, content_type = multipart_related([c.path.read_bytes() for c in everything])
    with (
        orthanc_mod.temporary() as orthanc,
        aimis_app.temporary(sqlite_journal=args.aimis_sqlite_journal) as app,
    ):
        peers = [Peer("Orthanc", orthanc.dicomweb), app.peer()]
        for peer in peers:
            sent = stow(peer, [(body, content_type, len(everything))], 1)
            if sent.stored != len(everything):
                raise RuntimeError(f"{peer.name}: {sent.stored} stored; {sent.errors}")
        results, diffs = measure(peers, chosen, args.warm)
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


if __name__ == "__main__":
    main()
