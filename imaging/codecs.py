"""Which DICOM transfer syntaxes this installation can decode (reported at start-up)."""

from __future__ import annotations

from functools import cache


@cache
def transfer_syntax_report() -> dict[str, list[str]]:
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID, AllTransferSyntaxes

    decodable: list[str] = []
    missing: list[str] = []
    for raw in AllTransferSyntaxes:
        uid = UID(raw)
        try:
            decoder = get_decoder(uid)
        except NotImplementedError:
            continue  # not a pixel-data encoding pydicom knows (e.g. MPEG, JPIP)
        (decodable if decoder.is_available else missing).append(f"{uid.name} ({uid})")
    return {"decodable": sorted(decodable), "missing": sorted(missing)}
