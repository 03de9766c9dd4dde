"""Hospital logo and hospital QR code (SPEC 8.1).

A logo is accepted only if Pillow decodes it as PNG or JPEG, whatever its file name says; it
is re-encoded as PNG (so no foreign bytes are ever served back) and written atomically
under ``<data_dir>/logos/<hospital_id>-<random>.png`` — the name is never the user's.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import anyio
import segno
from PIL import Image, UnidentifiedImageError

from api.management.hospitals import get_hospital
from api.management.schemas import HospitalRead
from api.management.service import actor_of
from kernel.errors import BadRequest, NotFound, TooLarge
from kernel.settings import get_settings
from store.files import write_atomic
from store.scoping import get_visible
from store.tables import Hospital
from store.uow import Actor, Ctx, unit_of_work

ACCEPTED_FORMATS = ("PNG", "JPEG")
MAX_LOGO_PIXELS = 4096 * 4096
LOGO_BOX = (512, 512)  # stored logos are scaled down to fit; a header shows them small


def logos_dir() -> Path:
    return get_settings().server.data_dir / "logos"


def _normalise_logo(content: bytes) -> bytes:
    """Decode, check and re-encode as PNG; raises BadRequest with the reason."""
    not_image = BadRequest(
        "The logo must be a PNG or JPEG image; this file is not one.",
    )
    try:
        with Image.open(io.BytesIO(content)) as probe:
            fmt = probe.format
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise not_image from None
    if fmt not in ACCEPTED_FORMATS:
        raise BadRequest(
            "The logo must be a PNG or JPEG image, not {fmt}.",
            fmt=fmt,
        )
    if width * height > MAX_LOGO_PIXELS:
        raise BadRequest(
            "The logo is {width}×{height} pixels; at most 4096×4096 is accepted.",
            width=width,
            height=height,
        )
    try:
        with Image.open(io.BytesIO(content)) as img:
            img.load()
            rgba = img.convert("RGBA")
        rgba.thumbnail(LOGO_BOX)
        out = io.BytesIO()
        rgba.save(out, format="PNG", optimize=True)
    except (OSError, SyntaxError, ValueError):
        raise not_image from None
    return out.getvalue()


async def upload_logo(ctx: Ctx, hospital_id: int, content: bytes | None) -> HospitalRead:
    actor = actor_of(ctx)
    before = await get_visible(Hospital, hospital_id, actor, "hospital")
    limit = get_settings().server.logo_max_bytes
    if not content:
        raise BadRequest(
            "Choose a PNG or JPEG file to upload as the logo (form field 'logo').",
        )
    if len(content) > limit:
        raise TooLarge(
            "The logo is {value} KB; at most {value2} KB is accepted.",
            value=len(content) // 1024,
            value2=limit // 1024,
        )
    png = await anyio.to_thread.run_sync(_normalise_logo, content)
    name = f"{hospital_id}-{secrets.token_hex(8)}.png"
    folder = logos_dir()
    path = folder / name
    await anyio.to_thread.run_sync(write_atomic, path, png)
    try:
        async with unit_of_work(ctx) as uow:
            await Hospital.update(
                {Hospital.logo_file: name, Hospital.version: Hospital.version + 1}
            ).where(Hospital.id == hospital_id)
            await uow.audit(
                "hospital.logo",
                "hospital",
                hospital_id,
                detail=f"{len(content)} bytes in, {len(png)} bytes PNG stored",
                hospital_id=hospital_id,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    old = before["logo_file"]
    if old and old != name and "/" not in old and "\\" not in old:
        (folder / old).unlink(missing_ok=True)
    return await get_hospital(actor, hospital_id)


async def logo_bytes(actor: Actor, hospital_id: int) -> bytes:
    row = await get_visible(Hospital, hospital_id, actor, "hospital")
    name = row["logo_file"]
    path = logos_dir() / name
    if not name or path.parent != logos_dir() or not path.is_file():
        raise NotFound("This hospital has no logo yet.")
    return await anyio.Path(path).read_bytes()


def login_url(code: str) -> str:
    return f"{get_settings().base_url}/login?hospital={code}"


async def hospital_qr_png(actor: Actor, hospital_id: int) -> tuple[str, bytes]:
    """The PNG of a QR code that opens the hospital's login page, and a file name for it."""
    row = await get_visible(Hospital, hospital_id, actor, "hospital")
    out = io.BytesIO()
    segno.make(login_url(row["code"]), error="m").save(out, kind="png", scale=10, border=4)
    return f"hospital-{row['code']}-qr.png", out.getvalue()
