"""Per transfer syntax: header parse, frame decode, and decode + window + JPEG encode of one
512² CT slice, as the ``/rendered`` path does it. Prints p50/p99 in milliseconds.

    uv run python bench/imaging_decode.py [--runs 200]

The slices come from the project's own generator (one per syntax, same phantom seed), so
the figures compare codecs, not images. JPEG-LS is also timed with each plugin alone, to show
why CharLS goes first (imaging/codecs.py).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydicom.pixels import pixel_array
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from imaging.codecs import prefer_fast_decoders
from imaging.frames import decode_frame
from imaging.read import parse_instance
from imaging.render import Window, render, render_frame
from imaging.synth import Sizes, synth

SYNTAXES = (ExplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless)


def _times(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    prefer_fast_decoders()
    sizes = Sizes(ct=512, ct_slices=1)
    with tempfile.TemporaryDirectory() as tmp:
        slices: dict[UID, Path] = {}
        for ts in SYNTAXES:
            files = synth(
                Path(tmp) / ts, patients=1, seed=1, sizes=sizes, transfer_syntaxes={"CT": ts}
            )
            slices[ts] = next(f for f in files if "_CT" in f.parent.name)
        window = Window(40, 400)
        print(f"512×512 CT slice, {args.runs} runs each, milliseconds (p50 / p99)")
        print(f"{'transfer syntax':<44} {'header':>13} {'decode':>13} {'rendered JPEG':>15}")
        for ts, path in slices.items():
            header = _times(functools.partial(parse_instance, path), args.runs)
            decode = _times(functools.partial(decode_frame, path, 0), args.runs)
            rendered = _times(
                functools.partial(render, path, 0, window=window, quality=90), args.runs
            )
            print(
                f"{UID(ts).name[:44]:<44} {header[0]:6.2f}/{header[1]:6.2f} "
                f"{decode[0]:6.2f}/{decode[1]:6.2f} {rendered[0]:7.2f}/{rendered[1]:7.2f}"
            )
        jls = slices[JPEGLSLossless]
        for plugin in ("pyjpegls", "pylibjpeg"):
            p50, p99 = _times(
                functools.partial(pixel_array, jls, decoding_plugin=plugin), args.runs
            )
            print(f"JPEG-LS decode with {plugin:<10} only: {p50:6.2f}/{p99:6.2f}")
        ct = slices[ExplicitVRLittleEndian]
        p50, p99 = _times(lambda: render_frame(ct, 0, window=window), args.runs)
        print(f"parse+decode+window, no encode (explicit VR LE): {p50:6.2f}/{p99:6.2f}")


if __name__ == "__main__":
    main()
