"""What the audit row of a patient-data read says, gathered while the request runs.

The row itself is written by ``api.phi.PhiMiddleware`` (one row per successful call of a
route declared with ``api.phi.phi``); services only describe what they read with
``note``: the examination's hospital (so its admin sees who read it), a search's summary,
the row read when the path does not name it. Outside a declared request (the demo, flows,
a test calling a service) ``note`` does nothing.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass
class Read:
    hospital_id: int | None = None
    detail: str = ""
    target_type: str = ""
    target_id: str = ""
    written: bool = False


_current: ContextVar[Read | None] = ContextVar("aimis_phi_read", default=None)


def begin() -> tuple[Read, Token[Read | None]]:
    read = Read()
    return read, _current.set(read)


def end(token: Token[Read | None]) -> None:
    _current.reset(token)


def note(
    *,
    hospital_id: int | None = None,
    detail: str | None = None,
    target_type: str | None = None,
    target_id: object = None,
) -> None:
    """Tell the audit row of the read under way what was read (each given field replaces
    what an earlier note said)."""
    read = _current.get()
    if read is None:
        return
    if hospital_id is not None:
        read.hospital_id = int(hospital_id)
    if detail is not None:
        read.detail = detail[:2000]
    if target_type is not None:
        read.target_type = target_type
    if target_id is not None:
        read.target_id = str(target_id)
