"""Where a recording's files live under the data folder (``store.files.data_root``):

- being received: ``<data>/recordings/incoming/<id>.part`` (appended chunk by chunk);
- processed: ``<data>/recordings/h<hospital>/<id>.mp4`` and ``<id>.jpg`` (written as
  ``.tmp-*`` files beside them and renamed, ``store.files.move_atomic``).

The paths in the ``recording`` row are relative to ``<data>/recordings``; no name a user
sent reaches the disk.
"""

from __future__ import annotations

from pathlib import Path

from store.files import data_root


def root() -> Path:
    return data_root() / "recordings"


def incoming(recording_id: int) -> Path:
    return root() / "incoming" / f"{recording_id}.part"


def video_name(hospital_id: int, recording_id: int) -> str:
    return f"h{hospital_id}/{recording_id}.mp4"


def poster_name(hospital_id: int, recording_id: int) -> str:
    return f"h{hospital_id}/{recording_id}.jpg"


def resolve(relative: str) -> Path:
    """The absolute path of a stored name; refuses one leaving the recordings folder."""
    base = root().resolve()
    path = (base / relative).resolve()
    if not relative or not path.is_relative_to(base):
        raise ValueError(f"recording path {relative!r} leaves the recordings folder")
    return path
