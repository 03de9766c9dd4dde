"""Known DICOM application entities (SPEC 9.1): the PACS and modalities allowed to send to
the C-STORE receiver, each belonging to one hospital. Admins add, change and remove them;
the receiver refuses associations from any other calling AE title."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from aimis.errors import BadRequest, Conflict
from api.ingest.schemas import NodeCreate, NodeRead, NodeUpdate
from api.ingest.service import actor_of, upload_hospital
from store.scoping import get_visible, visible
from store.tables import DicomNode, Hospital
from store.uow import Ctx, now, unit_of_work

# PS3.5 AE VR: 1-16 characters of the default repertoire, no backslash or control characters;
# leading and trailing spaces are not significant.
AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")


def checked_ae_title(value: str) -> str:
    title = value.strip()
    if not AE_TITLE.fullmatch(title):
        raise BadRequest(
            "An AE title has 1 to 16 printable ASCII characters, no backslash (e.g. PACS_CT1).",
            zh="AE 名称须为 1 至 16 个可打印 ASCII 字符，不能含反斜杠（如 PACS_CT1）。",
        )
    return title


def _host(value: str) -> str:
    host = value.strip()
    if len(host) > 200 or any(c.isspace() for c in host):
        raise BadRequest(
            "The host is an IP address or name without spaces (or empty: any).",
            zh="主机须为不含空格的 IP 地址或主机名（留空表示任意）。",
        )
    return host


def _read(row: dict[str, Any], hospital: str) -> NodeRead:
    return NodeRead(
        id=row["id"],
        hospital_id=row["hospital"],
        hospital=hospital,
        ae_title=row["ae_title"],
        host=row["host"],
        description=row["description"],
        enabled=row["enabled"],
        version=row["version"],
    )


async def _names() -> dict[int, str]:
    return {r["id"]: r["name"] for r in await Hospital.select(Hospital.id, Hospital.name)}


async def list_nodes(ctx: Ctx) -> list[NodeRead]:
    rows = await visible(DicomNode, actor_of(ctx)).order_by(DicomNode.ae_title)
    names = await _names()
    return [_read(r, names.get(r["hospital"], "")) for r in rows]


async def create_node(ctx: Ctx, data: NodeCreate) -> NodeRead:
    actor = actor_of(ctx)
    hospital_id = await upload_hospital(actor, data.hospital_id)
    title = checked_ae_title(data.ae_title)
    if await DicomNode.exists().where(DicomNode.ae_title == title):
        raise Conflict(
            f"The AE title {title} is already registered.", zh=f"AE 名称 {title} 已被登记。"
        )
    async with unit_of_work(ctx) as uow:
        row = await DicomNode.insert(
            DicomNode(
                hospital=hospital_id,
                ae_title=title,
                host=_host(data.host),
                description=data.description.strip()[:200],
                created_at=now(),
            )
        ).returning(DicomNode.id)
        node_id = int(row[0]["id"])
        await uow.audit(
            "dicom_node.create",
            "dicom_node",
            node_id,
            detail=f"{title} {data.host}".strip(),
            hospital_id=hospital_id,
        )
    return await get_node(ctx, node_id)


async def get_node(ctx: Ctx, node_id: int) -> NodeRead:
    row = await get_visible(DicomNode, node_id, actor_of(ctx), "DICOM node")
    return _read(row, (await _names()).get(row["hospital"], ""))


async def update_node(ctx: Ctx, node_id: int, data: NodeUpdate) -> NodeRead:
    row = await get_visible(DicomNode, node_id, actor_of(ctx), "DICOM node")
    values: dict[Any, Any] = {DicomNode.version: DicomNode.version + 1}
    if data.host is not msgspec.UNSET:
        values[DicomNode.host] = _host(data.host)
    if data.description is not msgspec.UNSET:
        values[DicomNode.description] = data.description.strip()[:200]
    if data.enabled is not msgspec.UNSET:
        values[DicomNode.enabled] = data.enabled
    async with unit_of_work(ctx) as uow:
        done = (
            await DicomNode.update(values)
            .where(DicomNode.id == node_id, DicomNode.version == data.version)
            .returning(DicomNode.id)
        )
        if not done:
            raise Conflict(
                f"The DICOM node {row['ae_title']} was changed by someone else meanwhile; "
                "reload and try again.",
                zh=f"DICOM 节点 {row['ae_title']} 在此期间已被他人修改，请刷新页面后重试。",
            )
        changes = ", ".join(
            f"{c._meta.name}={v}" for c, v in values.items() if c is not DicomNode.version
        )
        await uow.audit(
            "dicom_node.update", "dicom_node", node_id, detail=changes, hospital_id=row["hospital"]
        )
    return await get_node(ctx, node_id)


async def delete_node(ctx: Ctx, node_id: int) -> None:
    row = await get_visible(DicomNode, node_id, actor_of(ctx), "DICOM node")
    async with unit_of_work(ctx) as uow:
        await DicomNode.delete().where(DicomNode.id == node_id)
        await uow.audit(
            "dicom_node.delete",
            "dicom_node",
            node_id,
            detail=row["ae_title"],
            hospital_id=row["hospital"],
        )


async def node_for(ae_title: str, address: str) -> dict[str, Any] | None:
    """The enabled node a calling AE title (and address, when the node names one) is."""
    row = (
        await DicomNode.select()
        .where(DicomNode.ae_title == ae_title.strip(), DicomNode.enabled.eq(True))
        .first()
    )
    if row is None or (row["host"] and row["host"] != address):
        return None
    return row
