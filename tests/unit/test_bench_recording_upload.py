"""The recordings benchmark imports, and its chunk body streams the file's bytes in order
(and aborts where told) — the benchmark itself runs by hand (``bench/recording_upload.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import recording_upload


def test_a_chunk_body_is_the_files_slice_in_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # 2.56 MB: three blocks from offset 5
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    blocks = list(recording_upload.body(path, 5, len(data) - 5))
    assert b"".join(blocks) == data[5:] and max(map(len, blocks)) == recording_upload.BLOCK
    sent = []
    with pytest.raises(recording_upload.Aborted):
        for block in recording_upload.body(path, 0, len(data), abort_after=1):
            sent.append(block)
    assert b"".join(sent) == data[: recording_upload.BLOCK]
