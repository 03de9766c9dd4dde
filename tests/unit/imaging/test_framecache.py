"""The decoded-frame cache (issue 18): bounded by bytes, least recently used out first, a
frame too large decoded but not kept, cached arrays read-only, and a render from the cache
the same picture as one read from the file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEGLSLossless

from imaging.framecache import HEADER_ALLOWANCE, FrameCache, LoadedFrame
from imaging.render import Window, load_frame, render, render_loaded, thumbnail, thumbnail_loaded
from imaging.synth import Sizes, synth

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ct() -> Path:
    paths = synth(
        Path(tempfile.mkdtemp()),
        patients=1,
        seed=3,
        sizes=Sizes(64, 1),
        transfer_syntaxes={"CT": JPEGLSLossless},
    )
    return next(p for p in paths if "_CT" in p.parent.name)


def test_bounded_and_least_recently_used_out_first(ct: Path) -> None:
    one = load_frame(ct, 0)
    cost = one.cost
    assert cost == 64 * 64 * 2 + HEADER_ALLOWANCE
    cache = FrameCache(budget_bytes=2 * cost, largest=cost)
    loads: list[str] = []

    def loader(name: str):
        def load() -> LoadedFrame:
            loads.append(name)
            return load_frame(ct, 0)

        return load

    cache.get_or_load("a", loader("a"))
    cache.get_or_load("b", loader("b"))
    cache.get_or_load("a", loader("a"))  # a hit: a is now the most recent
    cache.get_or_load("c", loader("c"))  # over budget: b goes
    assert loads == ["a", "b", "c"]
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.size == 2 * cost and (cache.hits, cache.misses) == (1, 3)
    assert cache.forget(lambda key: key == "a") == 1 and cache.size == cost
    small = FrameCache(budget_bytes=10 * cost, largest=cost - 1)
    small.get_or_load("x", loader("x"))
    assert len(small) == 0  # larger than ``largest``: decoded, not kept


def test_cached_frames_are_read_only(ct: Path) -> None:
    cache = FrameCache(1 << 20, 1 << 20)
    got = cache.get_or_load("k", lambda: load_frame(ct, 0))
    with pytest.raises(ValueError):
        got.frame.array[0, 0] = 1


def test_render_from_a_loaded_frame_is_the_same_picture(ct: Path) -> None:
    loaded = load_frame(ct, 0)
    loaded.frame.array.flags.writeable = False  # as the cache keeps it
    for window in (None, Window(40, 400), Window(-600, 1500)):
        for fmt in ("png", "jpeg"):
            assert render_loaded(loaded, 0, window=window, fmt=fmt) == render(
                ct, 0, window=window, fmt=fmt
            )
    assert thumbnail_loaded(loaded, 32) == thumbnail(ct, 32)
    assert np.asarray(loaded.frame.array).shape == (64, 64)
