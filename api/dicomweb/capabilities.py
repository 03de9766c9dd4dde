"""``OPTIONS /dicomweb`` (PS3.18 8.9): what this origin server offers, for people and tools."""

from __future__ import annotations

from litestar import Response, route
from litestar.enums import HttpMethod

from api.dicomweb.attributes import ATTRS_BY_LEVEL, Match
from api.dicomweb.media import IMAGE_TYPES
from api.dicomweb.params import MAX_LIMIT


def describe() -> dict[str, object]:
    return {
        "service": "AIMIS DICOMweb",
        "qido-rs": {
            "resources": [
                "/studies",
                "/series",
                "/instances",
                "/studies/{study}/series",
                "/studies/{study}/instances",
                "/studies/{study}/series/{series}/instances",
            ],
            "matching": {
                level.value: [a.keyword for a in attrs if a.match is not Match.NONE]
                for level, attrs in ATTRS_BY_LEVEL.items()
            },
            "wildcards": ["*", "?"],
            "parameters": ["includefield (attributes or all)", "limit", "offset"],
            "max_limit": MAX_LIMIT,
            "fuzzymatching": False,
        },
        "wado-rs": {
            "resources": [
                "/studies/{study}",
                "/studies/{study}/series/{series}",
                "/studies/{study}/series/{series}/instances/{instance}",
                ".../metadata",
                ".../instances/{instance}/frames/{list}",
                ".../instances/{instance}/bulkdata/{tag}",
                ".../instances/{instance}/rendered",
                ".../frames/{n}/rendered",
                "/studies/{study}/thumbnail",
                ".../series/{series}/thumbnail",
                ".../instances/{instance}/thumbnail",
                ".../frames/{n}/thumbnail",
            ],
            "instances": "application/dicom as stored (no transcoding)",
            "frames": {
                "decoded": "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1",
                "as stored": sorted(set(IMAGE_TYPES.values())),
            },
            "rendered": ["image/jpeg", "image/png"],
            "rendered_parameters": ["window=center,width[,function]", "viewport=w,h", "quality"],
        },
        "stow-rs": {"resources": ["/studies", "/studies/{study}"]},
        "authentication": ["session cookie", "Authorization: Bearer <API token>"],
        "cors": "any origin, without credentials",
    }


@route(path="/dicomweb", http_method=[HttpMethod.OPTIONS], tags=["dicomweb"])
async def capabilities() -> Response:
    return Response(describe(), headers={"Allow": "GET, POST, OPTIONS"})
