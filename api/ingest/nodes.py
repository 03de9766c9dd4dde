"""Known DICOM application entities (SPEC 9.1): the PACS and modalities allowed to send to
the C-STORE receiver, each belonging to one hospital. Admins add, change and remove them;
the receiver refuses associations from any other calling AE title.

A node names the IP address it calls from; one without an address is accepted only when its
admin ticked "any address" (an AE title alone is no secret: anyone who knows it could send
into the hospital). The receiver (``api/dimse/scp.py``) applies ``refusal``.

What a node may do is its own four switches (issue 19): ``may_store`` (C-STORE),
``may_query`` (C-FIND), ``may_retrieve`` (C-MOVE, C-GET) and ``move_destination`` (the
target of a C-MOVE of a node of the same hospital, reached at ``host``:``port``, so it
needs both)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import msgspec

from api.ingest.schemas import NodeCreate, NodeRead, NodeUpdate
from api.ingest.service import actor_of, upload_hospital
from kernel.errors import BadRequest, Conflict
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
        )
    return title


def _host(value: str) -> str:
    """The IP address a node calls from, normalised; empty when none is given."""
    host = value.strip()
    if not host:
        return ""
    address = ip_of(host)
    if address is None:
        raise BadRequest(
            "{host!r} is not an IP address; give the address the PACS calls from "
            "(e.g. 10.0.0.21), or none and tick 'any address'.",
            host=host[:60],
        )
    return address


def ip_of(value: str) -> str | None:
    """``value`` as the receiver sees a peer's address (IPv4 for an IPv4-mapped one)."""
    try:
        address = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _placed(host: str, any_address: bool) -> None:
    if host and any_address:
        raise BadRequest(
            "A node has either an IP address or 'any address', not both.",
        )
    if not host and not any_address:
        raise BadRequest(
            "Give the IP address the node calls from, or tick 'any address' to "
            "accept its AE title from anywhere.",
        )


PERMISSIONS = ("may_store", "may_query", "may_retrieve", "move_destination")


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise BadRequest(
            "A port is a number from 1 to 65535 (0: the node has no SCP of its own).",
        )
    return value


def _reachable(host: str, port: int, move_destination: bool) -> None:
    if move_destination and (not host or not port):
        raise BadRequest(
            "A C-MOVE destination needs the IP address and the port its own SCP listens on.",
        )


def refusal(node: dict[str, Any] | None, ae_title: str, address: str) -> str:
    """Why an association of ``ae_title`` from ``address`` is refused, or "" (the receiver's
    rule, audited there)."""
    if node is None:
        return f"calling AE title {ae_title!r} is not a known DICOM node"
    if node["host"]:
        if ip_of(address) != ip_of(node["host"]):
            return f"DICOM node {ae_title} may call only from {node['host']}, not {address}"
        return ""
    if not node["any_address"]:
        return (
            f"DICOM node {ae_title} has no IP address and is not marked 'any address'; "
            f"refused from {address} until an administrator gives it one"
        )
    return ""


def _read(row: dict[str, Any], hospital: str) -> NodeRead:
    return NodeRead(
        id=row["id"],
        hospital_id=row["hospital"],
        hospital=hospital,
        ae_title=row["ae_title"],
        host=row["host"],
        any_address=bool(row["any_address"]),
        description=row["description"],
        enabled=row["enabled"],
        version=row["version"],
        port=row["port"],
        **{name: bool(row[name]) for name in PERMISSIONS},
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
        raise Conflict("The AE title {title} is already registered.", title=title)
    host = _host(data.host)
    _placed(host, data.any_address)
    port = _port(data.port)
    _reachable(host, port, data.move_destination)
    async with unit_of_work(ctx) as uow:
        row = await DicomNode.insert(
            DicomNode(
                hospital=hospital_id,
                ae_title=title,
                host=host,
                any_address=data.any_address,
                description=data.description.strip()[:200],
                created_at=now(),
                port=port,
                **{name: getattr(data, name) for name in PERMISSIONS},
            )
        ).returning(DicomNode.id)
        node_id = int(row[0]["id"])
        await uow.audit(
            "dicom_node.create",
            "dicom_node",
            node_id,
            detail=f"{title} {host or 'any address'}:{port} "
            + ",".join(name for name in PERMISSIONS if getattr(data, name)),
            hospital_id=hospital_id,
        )
    return await get_node(ctx, node_id)


async def get_node(ctx: Ctx, node_id: int) -> NodeRead:
    row = await get_visible(DicomNode, node_id, actor_of(ctx), "DICOM node")
    return _read(row, (await _names()).get(row["hospital"], ""))


async def update_node(ctx: Ctx, node_id: int, data: NodeUpdate) -> NodeRead:
    row = await get_visible(DicomNode, node_id, actor_of(ctx), "DICOM node")
    values: dict[Any, Any] = {DicomNode.version: DicomNode.version + 1}
    if data.host is not msgspec.UNSET or data.any_address is not msgspec.UNSET:
        host = row["host"] if data.host is msgspec.UNSET else _host(data.host)
        anywhere = (
            bool(row["any_address"]) if data.any_address is msgspec.UNSET else data.any_address
        )
        if data.host is not msgspec.UNSET and host and data.any_address is msgspec.UNSET:
            anywhere = False  # an address given narrows an "any address" node to it
        _placed(host, anywhere)
        values[DicomNode.host] = host
        values[DicomNode.any_address] = anywhere
    if data.description is not msgspec.UNSET:
        values[DicomNode.description] = data.description.strip()[:200]
    if data.enabled is not msgspec.UNSET:
        values[DicomNode.enabled] = data.enabled
    if data.port is not msgspec.UNSET:
        values[DicomNode.port] = _port(data.port)
    for name in PERMISSIONS:
        if getattr(data, name) is not msgspec.UNSET:
            values[getattr(DicomNode, name)] = getattr(data, name)
    _reachable(
        values.get(DicomNode.host, row["host"]),
        values.get(DicomNode.port, row["port"]),
        values.get(DicomNode.move_destination, row["move_destination"]),
    )
    async with unit_of_work(ctx) as uow:
        done = (
            await DicomNode.update(values)
            .where(DicomNode.id == node_id, DicomNode.version == data.version)
            .returning(DicomNode.id)
        )
        if not done:
            raise Conflict(
                "The DICOM node {ae_title} was changed by someone else meanwhile; "
                "reload and try again.",
                ae_title=row["ae_title"],
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
