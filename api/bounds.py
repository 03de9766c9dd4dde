"""Bounds on what a request may carry, so that bad input is a 4xx naming the field, never an
``OverflowError`` from the database driver or a ``RecursionError`` from the JSON decoder.

- The shared annotated types of the wire schemas: ``Id`` (a row id: the tables'
  ``SERIAL``/``INTEGER`` columns hold 32 bits on PostgreSQL), ``Int`` (any 32-bit value:
  versions, days, hours), ``Number`` (a float), ``Text``/``LongText``, ``Many[T]`` (a list
  of at most ``MAX_ITEMS``) and ``Fields[T]`` (a small name → value map). msgspec checks them while
  decoding; Litestar answers 400 naming the field (``Expected `int` <= 2147483647 - at
  `$.department_id```).
- ``InputBoundsMiddleware``: every ``{x:int}`` path parameter within the id range and every
  int query parameter within 32 bits (one check for all routes, before any guard reads the
  database; the int parameters are read off each handler's signature), and the JSON body
  of a handler that takes one: at most ``json_max_bytes`` (else 413) and nested at most
  ``json_max_depth`` levels (else 400). The body is read once here and handed on unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs

import msgspec
import msgspec.inspect
from litestar.enums import RequestEncodingType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send
from msgspec import Meta

from kernel.errors import AppError, BadRequest
from kernel.i18n import Msg
from kernel.settings import get_settings

INT32_MAX = 2**31 - 1
MAX_ITEMS = 1000

T = TypeVar("T")

# 0 and below name no row: the services answer "not found" for them, as before
Id = Annotated[int, Meta(ge=0, le=INT32_MAX)]
Int = Annotated[int, Meta(ge=-INT32_MAX - 1, le=INT32_MAX)]
Number = Annotated[float, Meta(ge=-1e15, le=1e15)]
# above the services' own limits (they say which field in a sentence of their own):
# these only stop what no service would look at
Text = Annotated[str, Meta(max_length=10_000)]
LongText = Annotated[str, Meta(max_length=1_000_000)]
Many = Annotated[list[T], Meta(max_length=MAX_ITEMS)]
Fields = Annotated[dict[str, T], Meta(max_length=100)]


class PayloadTooLarge(AppError):
    status_code = 413


_RESERVED = {"data", "request", "socket", "state", "scope", "headers", "cookies", "query", "body"}


@dataclass(frozen=True, slots=True)
class HandlerInputs:
    json_body: bool  # decodes a JSON ``data`` body (not multipart, a form or a stream)
    int_queries: tuple[tuple[str, str], ...]  # (query key, parameter name) of int parameters


def _is_int(annotation: Any) -> bool:
    try:
        info = msgspec.inspect.type_info(annotation)
    except Exception:
        return False
    types = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    return any(isinstance(t, msgspec.inspect.IntType) for t in types)


def handler_inputs(handler: Any) -> HandlerInputs:
    signature = getattr(handler, "parsed_fn_signature", None)
    if signature is None:
        return HandlerInputs(False, ())
    data = signature.parameters.get("data")
    media = getattr(getattr(data, "kwarg_definition", None), "media_type", None)
    json_body = data is not None and media in (None, RequestEncodingType.JSON)
    return HandlerInputs(json_body, tuple(_int_queries(signature, handler.resolve_dependencies())))


def _int_queries(signature: Any, dependencies: dict[str, Any]) -> list[tuple[str, str]]:
    """The int parameters of a signature and of the dependencies it uses (a ``Provide``'d
    function's parameters are query parameters too)."""
    queries = []
    for name, field in signature.parameters.items():
        provider = dependencies.get(name)
        if provider is not None:
            inner = getattr(provider, "parsed_fn_signature", None)
            if inner is not None:
                rest = {k: v for k, v in dependencies.items() if k != name}
                queries += _int_queries(inner, rest)
            continue
        if name in _RESERVED or not _is_int(field.annotation):
            continue
        kwarg = field.kwarg_definition
        if getattr(kwarg, "header", None) or getattr(kwarg, "cookie", None):
            continue
        queries.append((getattr(kwarg, "query", None) or name, name))
    return queries


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _nul_path(body: bytes) -> str | None:
    """Where in the JSON a string (a key or a value) holds a NUL, as ``$.a[0].b``; None if
    nowhere (the body is not JSON, or the text ``\\u0000`` was only quoted)."""
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    stack: list[tuple[str, Any]] = [("$", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            return where
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return where
                stack.append((f"{where}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` (strings skipped;
    stops at the first level past the limit, so a body of a million ``[`` costs little)."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


_INTEGER = re.compile(r"[+-]?[0-9]+")  # what msgspec reads as an int (no spaces)


def _out_of_range(where: Msg, name: str, low: int) -> BadRequest:
    return BadRequest(
        "The {where} {name!r} is out of range: it is a number from {low} to {int32_max}.",
        where=where,
        name=name,
        low=low,
        int32_max=INT32_MAX,
    )


def _nul_in(where: Msg) -> BadRequest:
    return BadRequest(
        "The {where} contains a NUL character (U+0000), which no text may hold.",
        where=where,
    )


def _input_refusal(scope: Scope, inputs: HandlerInputs) -> BadRequest | None:
    """An int path or query parameter beyond what the database columns hold, or a NUL
    character in the path or the query (PostgreSQL's text refuses it: a 500 otherwise)."""
    paths = scope.get("path_params") or {}
    if "\x00" in scope.get("path", ""):
        return _nul_in(Msg("address"))
    for name, value in paths.items():
        if isinstance(value, int) and not 0 <= value <= INT32_MAX:
            return _out_of_range(Msg("path parameter"), name, 0)
    if not scope.get("query_string"):
        return None
    query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    for key, values in query.items():
        if "\x00" in key or any("\x00" in value for value in values):
            return _nul_in(Msg("query parameter {key!r}", key=key))
    for key, name in inputs.int_queries:
        if name in paths:
            continue
        for value in query.get(key, ()):
            if _INTEGER.fullmatch(value) and not -INT32_MAX - 1 <= int(value) <= INT32_MAX:
                return _out_of_range(Msg("query parameter"), name, -INT32_MAX - 1)
    return None


class InputBoundsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inputs: dict[int, HandlerInputs] = {}

    def _inputs_of(self, handler: Any) -> HandlerInputs:
        key = id(handler)
        if key not in self._inputs:
            self._inputs[key] = handler_inputs(handler)
        return self._inputs[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inputs = self._inputs_of(scope.get("route_handler"))
        refusal = _input_refusal(scope, inputs)
        if refusal is not None:
            raise refusal
        if not inputs.json_body:
            await self.app(scope, receive, send)
            return
        body = await self._read_json_body(scope, receive)
        sent = False

        async def replay() -> ReceiveMessage:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return HTTPRequestEvent(type="http.request", body=body, more_body=False)

        await self.app(scope, replay, send)

    async def _read_json_body(self, scope: Scope, receive: Receive) -> bytes:
        settings = get_settings()
        limit = settings.server.json_max_bytes
        too_large = PayloadTooLarge(
            "The JSON body is larger than {limit} bytes.",
            limit=limit,
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_depth_exceeds(body, settings.server.json_max_depth):
            raise BadRequest(
                "The JSON body is nested deeper than {json_max_depth} levels.",
                json_max_depth=settings.server.json_max_depth,
            )
        if _ESCAPED_NUL.search(body):
            where = _nul_path(body)
            if where is not None:
                raise _nul_in(Msg("field {where}", where=where))
        return body
