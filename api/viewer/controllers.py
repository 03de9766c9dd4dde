"""``/viewer``: the OHIF viewer, its ``app-config.js``, and its routes for one study or several
(``/viewer/viewer?StudyInstanceUIDs=a,b``).

The viewer's page needs a logged-in session (else the login, coming back here afterwards);
its scripts, styles and wasm are OHIF's public code and carry no patient data. The images
come from ``/dicomweb`` on this origin with the same session, scoped like every read.
"""

from __future__ import annotations

from urllib.parse import quote

from litestar import Controller, Request, Response, get
from litestar.response import File, Redirect

from api.headers import viewer_policy
from api.phi import patient_only
from api.viewer import ohif
from api.viewer.ohif import OhifFiles, Rewritten
from kernel.errors import AppError, NotFound
from kernel.i18n import N_
from store.uow import Actor

FILES = OhifFiles()
ONE_YEAR = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class ViewerNotInstalled(AppError):
    status_code = 503


def viewer_url(study_uids: list[str]) -> str:
    """Where OHIF shows these studies; several open side by side (OHIF's compare layout)."""
    url = f"{ohif.MOUNT}/viewer?StudyInstanceUIDs={quote(','.join(study_uids), safe=',')}"
    return url + ("&hangingProtocolId=@ohif/hpCompare" if len(study_uids) > 1 else "")


async def _policy(*, worker: bool = False) -> dict[str, str]:
    """Every response under ``/viewer`` carries OHIF's CSP (api/headers.py): the page's, and
    for its other files the workers' (a worker runs under the policy of its own response)."""
    hashes = (await FILES.index()).script_hashes if FILES.installed else ()
    return {"content-security-policy": viewer_policy(hashes, worker=worker)}


def _send(request: Request, item: Rewritten, cache: str, policy: dict[str, str]) -> Response:
    headers = {"cache-control": cache, "etag": f'"{item.etag}"', "vary": "accept-encoding"}
    headers.update(policy)
    if request.headers.get("if-none-match") == f'"{item.etag}"':
        return Response(b"", status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(item.gzipped, media_type=item.media_type, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)


def _login_first(request: Request) -> Redirect | None:
    if isinstance(request.scope.get("user"), Actor):
        return None
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(here, safe='')}")


class ViewerController(Controller):
    path = ohif.MOUNT
    include_in_schema = False
    opt = patient_only()  # the alliance admin sees no images: 403 (api.phi)

    @get("/")
    async def root(self, request: Request) -> Response:
        """``/viewer?StudyInstanceUIDs=a,b`` (the short form other pages link to) goes to
        OHIF's viewer route; without studies to show, our study list is the way in (OHIF's
        own list is off)."""
        uids = [
            uid.strip()
            for value in request.query_params.getall("StudyInstanceUIDs", [])
            for uid in value.split(",")
            if uid.strip()
        ]
        return Redirect(viewer_url(uids) if uids else "/studies")

    @get("/{file_path:path}")
    async def files(self, request: Request, file_path: str) -> Response:
        relative = file_path.lstrip("/")
        if relative == "app-config.js":
            return Response(
                ohif.app_config_js(),
                media_type=ohif.MEDIA_TYPES[".js"],
                headers={"cache-control": REVALIDATE, **await _policy()},
            )
        if not FILES.looks_like_file(relative):
            return await self._page(request)
        if not FILES.installed:
            raise ViewerNotInstalled(NOT_INSTALLED)
        path = FILES.resolve(relative)
        if path is None:
            raise NotFound("The viewer has no file {relative!r}.", relative=relative)
        cache = ONE_YEAR if ohif.immutable(path.name) else REVALIDATE
        rewritten = await FILES.rewritten(path)
        policy = await _policy(worker=True)
        if rewritten is not None:
            return _send(request, rewritten, cache, policy)
        return File(
            path,
            media_type=ohif.media_type(path),
            content_disposition_type="inline",
            headers={"cache-control": cache, **policy},
        )

    async def _page(self, request: Request) -> Response:
        """OHIF's single page, for every route of the viewer (its router takes over)."""
        redirect = _login_first(request)
        if redirect is not None:
            return redirect
        if not FILES.installed:
            raise ViewerNotInstalled(NOT_INSTALLED)
        return _send(request, await FILES.index(), REVALIDATE, await _policy())


NOT_INSTALLED = N_(
    "The image viewer is not installed on this server: run `make setup` (it installs OHIF "
    "from npm into ui/node_modules) and start the app again."
)
