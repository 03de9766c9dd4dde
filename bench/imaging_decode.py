"""Per transfer syntax: header parse, frame decode, and decode + window + JPEG encode of one
512² CT slice, as the ``/rendered`` path does it. Prints p50/p99 in milliseconds.

    uv run python -m bench.imaging_decode [--runs 200]   (as a module: bench/statistics.py
    would hide the standard library's statistics when run as a script)

The slices come from the project's own generator (one per syntax, same phantom seed), so
the figures compare codecs, not images. Each syntax is also timed with each installed plugin
alone (and pydicom's JPEG baseline / lossless files), to show why imaging/codecs.py orders
them as it does (CharLS first for JPEG-LS, Pillow first for JPEG baseline).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from imaging.codecs import decoder_plugins, prefer_fast_decoders
from imaging.frames import decode_frame
from imaging.read import parse_instance
from imaging.render import Window, load_frame, render, render_frame, render_loaded
from imaging.synth import Sizes, synth

SYNTAXES = (ExplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless)
# pydicom's bundled JPEG baseline (colour, 8-bit) and lossless process 14 files.
BUNDLED = ("SC_jpeg_no_color_transform.dcm", "SC_rgb_jpeg_gdcm.dcm", "JPGExtended.dcm")


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
        print("('from decoded' = another window of a frame the decoded-frame cache holds)")
        print(
            f"{'transfer syntax':<44} {'header':>13} {'decode':>13} {'rendered JPEG':>15}"
            f" {'from decoded':>15}"
        )
        for ts, path in slices.items():
            header = _times(functools.partial(parse_instance, path), args.runs)
            decode = _times(functools.partial(decode_frame, path, 0), args.runs)
            rendered = _times(
                functools.partial(render, path, 0, window=window, quality=90), args.runs
            )
            loaded = load_frame(path, 0)
            again = _times(
                functools.partial(render_loaded, loaded, 0, window=Window(-600, 1500)), args.runs
            )
            print(
                f"{UID(ts).name[:44]:<44} {header[0]:6.2f}/{header[1]:6.2f} "
                f"{decode[0]:6.2f}/{decode[1]:6.2f} {rendered[0]:7.2f}/{rendered[1]:7.2f}"
                f" {again[0]:7.2f}/{again[1]:7.2f}"
            )
        # Every installed plugin alone, per syntax (what imaging/codecs.py orders by): the CT
        # slices above, and pydicom's own JPEG baseline and lossless files (no generator
        # writes those syntaxes here).
        samples = {
            UID(ts).name: path for ts, path in slices.items() if ts != ExplicitVRLittleEndian
        }
        for name in BUNDLED:
            found = get_testdata_file(name, download=False)
            if found is not None:
                samples[name] = Path(found)
        print(f"decode with one plugin alone, ms (p50 / p99; {args.runs} runs)")
        for label, path in samples.items():
            ts = dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
            for plugin in decoder_plugins(ts):
                try:
                    p50, p99 = _times(
                        functools.partial(pixel_array, path, index=0, decoding_plugin=plugin),
                        args.runs,
                    )
                except Exception as exc:  # a plugin that cannot decode this file
                    print(
                        f"  {label[:40]:<40} {plugin:<10} fails: {str(exc).splitlines()[-1][:60]}"
                    )
                    continue
                print(f"  {label[:40]:<40} {plugin:<10} {p50:6.2f}/{p99:6.2f}")
        ct = slices[ExplicitVRLittleEndian]
        p50, p99 = _times(lambda: render_frame(ct, 0, window=window), args.runs)
        print(f"parse+decode+window, no encode (explicit VR LE): {p50:6.2f}/{p99:6.2f}")


if __name__ == "__main__":
    main()
