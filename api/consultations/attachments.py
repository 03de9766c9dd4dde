"""Files attached to a consultation (SPEC 3.1, 3.3).

A file is accepted when its content is one of the allowed kinds — PDF, JPEG, PNG, DICOM
(``DICM`` at offset 128) or ZIP — *and* its name ends like that kind; whatever the browser
claims as content type is ignored. It is written atomically under
``<data_dir>/attachments/<random hex>``: the user's file name never reaches the disk, it is
only given back in ``Content-Disposition`` on download, to those who may see the consultation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import anyio

from api.consultations import access
from api.consultations.schemas import AttachmentRead
from api.consultations.service import actor_of, attachments
from api.consultations.steps import CASE, open_for_editing, record_step
from kernel.errors import AppError, BadRequest, NotFound, TooLarge
from kernel.i18n import N_, Listed, Msg
from kernel.settings import get_settings
from store.files import write_atomic
from store.reads import note
from store.tables import Attachment
from store.uow import Actor, Ctx, now, unit_of_work

MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Kind:
    label: str  # an English word of the catalogue
    content_type: str
    extensions: tuple[str, ...]


PDF = Kind(N_("a PDF document"), "application/pdf", (".pdf",))
JPEG = Kind(N_("a JPEG image"), "image/jpeg", (".jpg", ".jpeg"))
PNG = Kind(N_("a PNG image"), "image/png", (".png",))
DICOM = Kind(N_("a DICOM file"), "application/dicom", (".dcm", ".dicom", ""))
ZIP = Kind(N_("a ZIP archive"), "application/zip", (".zip",))


def sniff(content: bytes) -> Kind | None:
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(content) >= 132 and content[128:132] == b"DICM":
        return DICOM
    if content.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    return None


def clean_name(name: str) -> str:
    """The name shown to people: no folders, no control characters, at most 255 long."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().strip(".") or "attachment"
    if len(base) > 255:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 10 else base[:255]
    return base


def check(name: str, content: bytes) -> Kind:
    if not content:
        raise BadRequest(
            "Choose a file to attach; the upload was empty.",
        )
    if len(content) > MAX_BYTES:
        raise TooLarge(
            "The file is larger than {value} MB; split it or send a smaller one.",
            value=MAX_BYTES // (1024 * 1024),
        )
    kind = sniff(content)
    if kind is None:
        raise UnsupportedType(
            "Only PDF, JPEG, PNG, DICOM and ZIP files can be attached; {name!r} is none of them.",
            name=name,
        )
    ext = Path(name).suffix.lower()
    if ext not in kind.extensions:
        raise UnsupportedType(
            "{name!r} contains {label} but its name does not end in {wanted}; rename it "
            "and try again.",
            name=name,
            label=Msg(kind.label),
            wanted=Listed((e for e in kind.extensions if e), sep=N_(" or ")),
        )
    return kind


class UnsupportedType(AppError):
    status_code = 415


def folder() -> Path:
    return get_settings().server.data_dir / "attachments"


def _write(content: bytes) -> str:
    """Write under a fresh random name, atomically (``store.files.write_atomic``)."""
    name = secrets.token_hex(16)
    write_atomic(folder() / name, content)
    return name


async def upload(
    ctx: Ctx, consultation_id: int, filename: str, content: bytes | None
) -> AttachmentRead:
    actor = actor_of(ctx)
    row = await open_for_editing(
        actor,
        consultation_id,
        N_("Only the applicant and the participants add files to a consultation."),
        N_("Files cannot be added to a consultation that is {state}."),
    )
    name = clean_name(filename)
    kind = check(name, content or b"")
    assert content is not None
    digest = hashlib.sha256(content).hexdigest()
    storage = await anyio.to_thread.run_sync(_write, content)
    try:
        async with unit_of_work(ctx) as uow:
            inserted = await Attachment.insert(
                Attachment(
                    owner_type=CASE,
                    owner_id=consultation_id,
                    hospital=row["hospital"],
                    original_name=name,
                    storage_name=storage,
                    content_type=kind.content_type,
                    size=len(content),
                    sha256=digest,
                    uploaded_by=actor.user_id,
                    created_at=now(),
                )
            ).returning(Attachment.id)
            attachment_id = int(inserted[0]["id"])
            await record_step(
                uow,
                consultation_id,
                "attach",
                row["state"],
                summary={"attachment_id": attachment_id, "name": name, "size": len(content)},
            )
            await uow.audit(
                "consultation.attach",
                CASE,
                consultation_id,
                detail=f"{name}: {kind.content_type}, {len(content)} bytes, sha256 {digest}",
            )
    except BaseException:
        (folder() / storage).unlink(missing_ok=True)
        raise
    return next(a for a in await attachments(consultation_id) if a.id == attachment_id)


@dataclass(frozen=True)
class Download:
    path: Path
    name: str
    content_type: str


async def download(ctx: Ctx, consultation_id: int, attachment_id: int) -> Download:
    actor: Actor = actor_of(ctx)
    await access.involvement(actor, consultation_id)
    row = (
        await Attachment.select()
        .where(
            Attachment.id == attachment_id,
            Attachment.owner_type == CASE,
            Attachment.owner_id == consultation_id,
        )
        .first()
    )
    path = folder() / row["storage_name"] if row else None
    if row is None or path is None or path.parent != folder() or not path.is_file():
        raise NotFound(
            "The consultation has no file with id {attachment_id}.",
            attachment_id=attachment_id,
        )
    note(detail=row["original_name"])  # audited by the route's declaration (api.phi)
    return Download(path, row["original_name"], row["content_type"])
