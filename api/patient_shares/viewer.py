"""OHIF for a share link's recipient: ``/s/<token>/viewer/viewer?StudyInstanceUIDs=<uid>``.

The same OHIF the staff open at ``/viewer`` (``api.viewer``: its scripts, styles and wasm
are public code and load from ``/viewer/…``), with two differences: the page needs a live
session of this link (the password first: else back to the link's form; expired or revoked:
410), and its ``app-config.js`` is the link's own: routed under ``/s/<token>/viewer``, its
one DICOMweb source ``/s/<token>/dicomweb`` (``api.patient_shares.dicomweb``), same origin,
so the link session's cookie (path ``/s/<token>``) goes with every request and the viewer
can read the link's study and nothing else.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.response import Redirect

from api.headers import viewer_policy
from api.patient_shares import service
from api.patient_shares.dicomweb import root_of
from api.viewer import ohif
from api.viewer.controllers import FILES, NOT_INSTALLED, REVALIDATE, ViewerNotInstalled


def base_of(token: str) -> str:
    return f"{service.link_of(token)}/viewer"


def viewer_link(token: str, study_uid: str) -> str:
    """Where the recipient opens the link's study in OHIF."""
    return f"{base_of(token)}/viewer?StudyInstanceUIDs={study_uid}"


class ShareViewerController(Controller):
    path = "/s/{token:str}/viewer"
    include_in_schema = False

    @get("/{file_path:path}")
    async def files(self, request: Request, token: str, file_path: str) -> Response:
        relative = file_path.lstrip("/")
        if relative == "app-config.js":
            await service.share_of_token(token)  # 404 for no such link
            return Response(
                ohif.app_config_js(base_of(token), root_of(token)),
                media_type=ohif.MEDIA_TYPES[".js"],
                headers={"cache-control": REVALIDATE, **await _policy()},
            )
        if FILES.looks_like_file(relative):  # OHIF's public files live under /viewer
            return Redirect(f"{ohif.MOUNT}/{relative}")
        share = await service.session_share(token, request.cookies.get(service.COOKIE, ""))
        if share is None:
            return Redirect(service.link_of(token))
        if not FILES.installed:
            raise ViewerNotInstalled(NOT_INSTALLED)
        page = await FILES.index()
        body = page.body.replace(
            f'src="{ohif.MOUNT}/app-config.js"'.encode(),
            f'src="{base_of(token)}/app-config.js"'.encode(),
        )
        return Response(
            body,
            media_type=page.media_type,
            headers={"cache-control": "no-store", **await _policy()},
        )


async def _policy() -> dict[str, str]:
    hashes = (await FILES.index()).script_hashes if FILES.installed else ()
    return {"content-security-policy": viewer_policy(hashes)}
