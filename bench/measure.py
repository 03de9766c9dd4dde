"""Measurement helpers shared by the benchmarks: percentiles, rates, ratios, the machine.

Ratios are always printed as "AIMIS ÷ Orthanc" *speed*: above 1 AIMIS is faster, below 1
it is slower, whether the figure is a rate (instances/s) or a latency (ms).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of the samples; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Latencies:
    """Milliseconds of repeated requests of one kind."""

    name: str
    samples: list[float] = field(default_factory=list)

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.samples.append((time.perf_counter() - start) * 1000)

    def add(self, fn: Callable[[], object]) -> object:
        with self.timed():
            return fn()

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


@dataclass(frozen=True)
class Throughput:
    """A bulk transfer: how many instances and bytes in how many seconds."""

    instances: int
    size_bytes: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.instances / self.seconds if self.seconds else math.nan

    @property
    def mb_per_second(self) -> float:
        return self.size_bytes / 1e6 / self.seconds if self.seconds else math.nan


def speed_ratio(aimis: float, orthanc: float, *, higher_is_faster: bool) -> float:
    """AIMIS ÷ Orthanc as speed: > 1 means AIMIS is faster."""
    if not aimis or not orthanc or math.isnan(aimis) or math.isnan(orthanc):
        return math.nan
    return aimis / orthanc if higher_is_faster else orthanc / aimis


def fmt_ratio(ratio: float) -> str:
    if math.isnan(ratio):
        return "n/a"
    verdict = "faster" if ratio >= 1 else "slower"
    return f"{ratio:.2f}× ({verdict})"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, so the output can be pasted into docs/benchmarks.md as it is."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def latency_table(title: str, rows: list[tuple[str, Latencies, Latencies]]) -> str:
    """The p50/p99 comparison table of request latencies: one row per (label, AIMIS, Orthanc)."""
    header = ["AIMIS p50", "AIMIS p99", "Orthanc p50", "Orthanc p99", "AIMIS ÷ Orthanc p50", "p99"]
    return table(
        [title, *header],
        [
            [
                label,
                f"{a.p50:.1f}",
                f"{a.p99:.1f}",
                f"{o.p50:.1f}",
                f"{o.p99:.1f}",
                fmt_ratio(speed_ratio(a.p50, o.p50, higher_is_faster=False)),
                fmt_ratio(speed_ratio(a.p99, o.p99, higher_is_faster=False)),
            ]
            for label, a, o in rows
        ],
    )


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def machine() -> str:
    """nproc, CPU model, RAM, load and the versions of both sides, for the record."""
    model, mem_kb = "?", 0
    with contextlib.suppress(OSError, StopIteration):
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(r for r in cpuinfo if r.startswith("model name")).split(":", 1)[1].strip()
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = int(next(r for r in meminfo if r.startswith("MemTotal")).split()[1])
    load = os.getloadavg()
    import pydicom

    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024**2:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"pydicom {pydicom.__version__}, {_first_line(['Orthanc', '--version'])}, "
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


class Server:
    """A server a benchmark starts and always stops: ``with Orthanc(...) as peer:``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers a benchmark started are stopped too."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def load_now() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
