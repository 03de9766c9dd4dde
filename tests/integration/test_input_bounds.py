"""Bad input is a 4xx that names the problem, never a 500 (issue 12, finding 8): integers
beyond what the database holds in path parameters, query parameters and JSON bodies, JSON
nested past the limit, JSON bodies past the size limit — over real HTTP, as the
schemathesis run found them (``OverflowError``, ``RecursionError``)."""

from __future__ import annotations

import httpx
import pytest

from kernel.settings import get_settings

pytestmark = pytest.mark.integration

HUGE = 6988382157639015228324213424128  # beyond 64 bits, as schemathesis sent it
BEYOND_64 = 2**64
BEYOND_32 = 2**31  # the SERIAL/INTEGER columns of PostgreSQL hold 32 bits


@pytest.fixture
async def doctor(new_api, demo):
    client = new_api()
    await client.login("dr.wang", demo["password"])
    return client


@pytest.fixture
async def admin(new_api, demo):
    client = new_api()
    await client.login("admin.city", demo["password"], admin=True)
    return client


def refused(res: httpx.Response, status: int, *words: str) -> None:
    assert res.status_code == status, (res.request.url, res.status_code, res.text)
    text = res.text
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize("value", [HUGE, BEYOND_64, BEYOND_32])
async def test_int_path_parameters(doctor, value: int) -> None:
    """The schemathesis cases: every one of them answered 500 before."""
    for method, path, name in [
        ("DELETE", f"/api/consultations/{value}/report/lock", "consultation_id"),
        ("GET", f"/api/consultations/{value}/timeline", "consultation_id"),
        ("GET", f"/api/exams/{value}/report.pdf", "exam_id"),
        ("GET", f"/api/exams/3/report/versions/{value}", "revision"),
        ("GET", f"/api/templates/for-examination/{value}", "examination_id"),
        ("GET", f"/exams/{value}", "exam_id"),
        ("GET", f"/fhir/DiagnosticReport/{value}", "report_id"),
    ]:
        res = await doctor.request(method, path)
        refused(res, 400, f"path parameter '{name}' is out of range", "2147483647")


@pytest.mark.parametrize("value", [HUGE, BEYOND_64, -BEYOND_64])
async def test_int_query_parameters(doctor, admin, value: int) -> None:
    res = await doctor.get(f"/api/exams/5/report/diff?newer={value}&older=1")
    refused(res, 400, "query parameter 'newer' is out of range")
    res = await admin.get(f"/api/manage/audit?before={value}")
    refused(res, 400, "query parameter 'before' is out of range")
    # a query parameter of a dependency (the dictionaries' paging)
    res = await doctor.get(f"/api/dictionaries/devices?page={value}")
    refused(res, 400, "query parameter 'page' is out of range")
    res = await doctor.get(f"/api/consultations/log?offset={value}")
    assert res.status_code in (400, 403), res.text  # the log is an admin's; never a 500
    res = await admin.get(f"/api/consultations/log?offset={value}")
    refused(res, 400, "query parameter 'offset' is out of range")


async def test_odd_numbers_in_query_parameters(doctor) -> None:
    """A control character after a number ("9\\x1d") is whitespace to a regex but not to
    ``int``: a 500 the full schemathesis run found in the guard itself."""
    for value in ("9%1D", "%C2%B9", "%20" + "9" * 30 + "%20", "9" * 30 + "%1C"):
        res = await doctor.get(f"/api/shares/received?before={value}")
        assert res.status_code == 400, (value, res.status_code, res.text)
        assert "before" in res.text


async def test_in_range_values_still_work(doctor, admin) -> None:
    assert (await doctor.get("/api/exams/2147483647")).status_code == 404
    assert (await admin.get("/api/manage/audit?before=2147483647")).status_code == 200
    assert (await doctor.get("/api/exams?limit=5")).status_code == 200


@pytest.mark.parametrize("value", [HUGE, BEYOND_64, BEYOND_32])
async def test_int_json_fields(doctor, admin, value: int) -> None:
    res = await doctor.post(
        "/api/diagnosis-requests", json={"examination_id": value, "target_hospital_id": 1}
    )
    refused(res, 400, "examination_id", "2147483647")
    res = await admin.patch("/api/manage/departments/1", json={"version": value})
    refused(res, 400, "version", "2147483647")
    res = await admin.post(
        "/api/manage/roles", json={"name": "x", "permissions": [], "version": value}
    )
    assert res.status_code == 400, res.text
    res = await doctor.put("/api/exams/1/report", json={"template_id": value, "version": 1})
    refused(res, 400, "template_id")


async def test_deeply_nested_json_is_refused(doctor, admin) -> None:
    depth = get_settings().server.json_max_depth
    for nested in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        res = await admin.request(
            "POST",
            "/api/manage/departments",
            content=nested,
            headers={"content-type": "application/json"},
        )
        refused(res, 400, f"nested deeper than {depth} levels")
    # a field's value nested just past the limit is refused, one at the limit decoded
    res = await admin.post(
        "/api/notifications/channels",
        json={"kind": "wecom", "name": "n", "settings": _nest(depth)},
    )
    refused(res, 400, "nested deeper than")
    # brackets inside strings are text, not nesting
    res = await admin.post(
        "/api/manage/departments", json={"name": "[" * 5000, "description": "{" * 5000}
    )
    assert res.status_code != 500 and "nested" not in res.text, res.text
    # without a content type the body is still JSON to the handler: still checked
    res = await doctor.request("PUT", "/api/exams/columns", content=b"[" * 50_000)
    refused(res, 400, "nested deeper than")


def _nest(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


async def test_oversized_json_is_refused(admin) -> None:
    limit = get_settings().server.json_max_bytes
    big = {"name": "x" * (limit + 10)}
    res = await admin.post("/api/manage/departments", json=big)
    refused(res, 413, f"larger than {limit} bytes")

    # streamed without a length: counted as it comes
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    res = await admin.request(
        "POST",
        "/api/manage/departments",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    refused(res, 413, "larger than")


async def test_long_lists_and_strings_name_the_field(admin) -> None:
    res = await admin.post("/api/manage/roles", json={"name": "r", "permissions": ["x"] * 1001})
    refused(res, 400, "permissions")
    res = await admin.post("/api/manage/departments", json={"name": "x" * 20_000})
    refused(res, 400, "name")


async def test_refused_bad_input_changes_nothing(admin) -> None:
    before = (await admin.get("/api/manage/departments")).json()
    await admin.post("/api/manage/departments", json={"name": "ok", "phone": BEYOND_64})
    await admin.post(
        "/api/manage/departments",
        content=b'{"name": "deep", "description": ' + b"[" * 100 + b"]" * 100 + b"}",
        headers={"content-type": "application/json"},
    )
    assert (await admin.get("/api/manage/departments")).json() == before


async def test_unicode_digits_are_not_numbers(doctor) -> None:
    """``"¹".isdigit()`` is true and ``int("¹")`` raises: a 500 schemathesis found."""
    instance = "/dicomweb/studies/0/series/0/instances/1"
    for path, headers in [
        (f"{instance}/frames/%C2%B9/thumbnail", {}),
        (
            f"{instance}/frames/%C2%B9",
            {"accept": "multipart/related; type=application/octet-stream"},
        ),
        (f"{instance}/rendered?quality=%C2%B9", {}),
        ("/dicomweb/studies?limit=%C2%B9", {"accept": "application/dicom+json"}),
        ("/dicomweb/studies?offset=%C2%B2", {"accept": "application/dicom+json"}),
        ("/api/exams?limit=%C2%B9", {}),
    ]:
        res = await doctor.get(path, headers=headers)
        assert 400 <= res.status_code < 500, (path, res.status_code, res.text)


async def test_live_channel_messages_are_bounded_too(app_url, doctor) -> None:
    """A deep or huge-numbered subscribe message gets an error and the socket stays open."""
    import json

    import websockets

    cookie = "; ".join(f"{k}={v}" for k, v in doctor.http.cookies.items())
    url = app_url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        for bad in (
            '{"op": "subscribe", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
            json.dumps({"op": "subscribe", "topics": [], "last_id": BEYOND_64}),
        ):
            await ws.send(bad)
            assert json.loads(await ws.recv())["op"] == "error"
        await ws.send(json.dumps({"op": "subscribe", "topics": []}))
        assert json.loads(await ws.recv())["op"] == "subscribed"


async def test_pages_with_huge_numbers_in_their_filters(admin) -> None:
    for path in (
        f"/manage/doctors?department_id={HUGE}&page_no={HUGE}",
        f"/manage/audit?before={HUGE}",
        f"/manage/audit?after={BEYOND_32}",
        f"/manage/migrations?offset={HUGE}",
    ):
        res = await admin.get(path, headers={"accept": "text/html"})
        assert res.status_code < 500, (path, res.status_code)


def test_every_request_body_field_is_bounded() -> None:
    """What the next schema adds is bounded too: every int, string, list and map a JSON
    body of any route may carry has its limits (the shared types of api/bounds.py)."""
    import msgspec.inspect as mi

    from aimis.app import create_app
    from api.bounds import handler_inputs

    unbounded: list[str] = []
    seen: set[type] = set()

    def walk(t: object, where: str) -> None:
        if isinstance(t, mi.IntType | mi.FloatType):
            if (t.ge is None and t.gt is None) or (t.le is None and t.lt is None):
                unbounded.append(where)
        elif isinstance(t, mi.StrType | mi.BytesType):
            if t.max_length is None:
                unbounded.append(where)
        elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            if t.max_length is None:
                unbounded.append(where)
            walk(t.item_type, f"{where}[]")
        elif isinstance(t, mi.DictType):
            if t.max_length is None:
                unbounded.append(where)
            walk(t.value_type, f"{where}{{}}")
        elif isinstance(t, mi.UnionType):
            for member in t.types:
                walk(member, where)
        elif isinstance(t, mi.StructType) and t.cls not in seen:
            seen.add(t.cls)
            for f in t.fields:
                walk(f.type, f"{t.cls.__name__}.{f.name}")

    bodies = 0
    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            if handler_inputs(handler).json_body:
                bodies += 1
                walk(mi.type_info(handler.parsed_fn_signature.parameters["data"].annotation), "")
    assert bodies > 60
    assert not unbounded, unbounded


async def test_nul_characters_are_refused_naming_where(doctor, admin, api) -> None:
    """PostgreSQL's text cannot hold U+0000 (the full schemathesis run on PostgreSQL found 6
    such 500s; SQLite stores it): refused wherever it comes in, saying where."""
    res = await doctor.get("/api/knowledge?category=a%00b")
    refused(res, 400, "query parameter 'category'", "NUL")
    res = await doctor.get("/api/shares/colleagues?q=%00")
    refused(res, 400, "query parameter 'q'", "NUL")
    res = await doctor.put(
        "/api/exams/2/report", json={"title": "t", "version": 1, "findings": "x\u0000y"}
    )
    refused(res, 400, "field $.findings", "NUL")
    res = await api.post("/api/auth/login", json={"identifier": "\u0000", "password": "\u0000"})
    refused(res, 400, "NUL")
    res = await doctor.get(
        "/dicomweb/studies/1.2%003/series", headers={"accept": "application/dicom+json"}
    )
    refused(res, 400, "address", "NUL")
    # the six characters \u0000 as text are fine
    res = await doctor.get("/api/knowledge?q=%5Cu0000")
    assert res.status_code == 200, res.text
