"""Security headers on every response of the running app (issue 12, finding 7): the
Content-Security-Policy with a fresh nonce per page, nosniff, framing refused, the Referer
kept on this site, HSTS over TLS, and ``Cache-Control: no-store`` on everything that carries
patient data while the static assets stay cacheable."""

# ruff: noqa: F811  (the dicom_data fixture is imported, then requested by name)

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import (  # noqa: F401
    DicomData,
    cors_preflight,
    dicom_data,
)

pytestmark = pytest.mark.integration

DEMO_DOCTOR = "dr.wang"


def directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def assert_security_headers(res: httpx.Response) -> dict[str, list[str]]:
    where = f"{res.request.method} {res.request.url.path} → {res.status_code}"
    assert res.headers.get("x-content-type-options") == "nosniff", where
    assert res.headers.get("x-frame-options") == "DENY", where
    assert res.headers.get("referrer-policy") == "same-origin", where
    policy = directives(res.headers.get("content-security-policy", ""))
    assert policy.get("frame-ancestors") == ["'none'"], where
    assert policy.get("object-src") == ["'none'"], where
    assert "'unsafe-inline'" not in policy.get("script-src", []), where
    assert "strict-transport-security" not in res.headers, where
    return policy


async def test_every_kind_of_response_carries_them(api, demo, dicom_data: DicomData) -> None:
    anonymous = [
        await api.get("/login"),
        await api.get("/api/auth/me"),  # 401
        await api.get("/api/no-such-route"),  # 404 from the router, before any handler
        await api.get("/static/app.js"),
        await api.get("/vendor/htmx/htmx.min.js"),
        await api.get("/health"),
        await api.request("OPTIONS", "/dicomweb/studies", headers={"origin": "https://x.test"}),
    ]
    await api.login(dicom_data.home.doctor, PASSWORD)
    f = dicom_data.files[0]
    logged_in = [
        await api.get("/api/auth/me"),
        await api.get("/exams", headers={"accept": "text/html"}),
        await api.get("/dicomweb/studies", headers={"accept": "application/dicom+json"}),
        await api.get(f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}/rendered"),
        await api.post("/api/exams/columns", json={}),  # 405: no such method
    ]
    assert [r.status_code for r in anonymous[:3]] == [200, 401, 404]
    assert all(r.status_code < 500 for r in anonymous + logged_in)
    for res in anonymous + logged_in:
        policy = assert_security_headers(res)
        assert "'unsafe-eval'" not in policy["script-src"]


async def test_each_page_gets_its_own_nonce_and_its_inline_scripts_carry_it(api) -> None:
    first, second = await api.get("/login"), await api.get("/login")
    nonces = []
    for res in (first, second):
        script_src = directives(res.headers["content-security-policy"])["script-src"]
        [nonce] = [v[len("'nonce-") : -1] for v in script_src if v.startswith("'nonce-")]
        assert len(nonce) >= 22
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", res.text)
        assert inline, "the login page has inline scripts"
        assert all(f'nonce="{nonce}"' in attributes for attributes in inline), inline
        assert re.search(r"\son[a-z]+=", res.text) is None, "no inline event handler"
        assert "javascript:" not in res.text
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    # a response that renders no inline script has no nonce in its policy
    plain = await api.get("/api/auth/me")
    assert directives(plain.headers["content-security-policy"])["script-src"] == ["'self'"]


async def test_patient_data_is_never_stored_by_a_cache(
    api, new_api, demo, dicom_data: DicomData
) -> None:
    await api.login(dicom_data.home.doctor, PASSWORD)
    f = dicom_data.files[0]
    instance = f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}"
    clinic = new_api()
    await clinic.login(DEMO_DOCTOR, demo["password"])
    exams = (await clinic.get("/api/exams")).json()["items"]
    assert exams, "the demo loads examinations"
    for path in (f"/api/exams/{exams[0]['id']}", f"/exams/{exams[0]['id']}", "/exams"):
        res = await clinic.get(path, headers={"accept": "text/html, application/json"})
        assert res.status_code == 200, (path, res.status_code)
        assert res.headers.get("cache-control") == "no-store", (path, res.headers)
    private = {
        "/api/exams": {},
        "/dicomweb/studies": {"accept": "application/dicom+json"},
        f"/dicomweb/studies/{f.study}/metadata": {"accept": "application/dicom+json"},
        instance: {"accept": 'multipart/related; type="application/dicom"'},
        f"{instance}/rendered": {"accept": "image/jpeg"},
        f"{instance}/thumbnail": {"accept": "image/jpeg"},
        f"{instance}/frames/1": {"accept": 'multipart/related; type="application/octet-stream"'},
        "/fhir/DiagnosticReport/1": {},
        "/api/exams/1/report.pdf": {},
    }
    for path, headers in private.items():
        res = await api.get(path, headers=headers)
        assert res.status_code < 500, (path, res.status_code)
        assert res.headers.get("cache-control") == "no-store", (path, res.headers)


async def test_static_assets_stay_cacheable(api, demo) -> None:
    await api.login(DEMO_DOCTOR, demo["password"])
    for path in ("/static/app.js", "/static/favicon.svg", "/vendor/htmx/htmx.min.js"):
        res = await api.get(path)
        assert res.status_code == 200, path
        assert "no-store" not in res.headers.get("cache-control", ""), path
    index = await api.get("/viewer/viewer", headers={"accept": "text/html"})
    bundle = re.search(r'src="(/viewer/app\.bundle\.[0-9a-f]+\.js)"', index.text)
    assert bundle is not None
    res = await api.get(bundle.group(1))
    assert "immutable" in res.headers["cache-control"]


async def test_the_viewer_runs_under_its_own_policy(api, demo) -> None:
    """OHIF: wasm and blob: workers; its two inline scripts by hash; eval only for the
    files it starts as workers (the page ignores a script file's policy)."""
    await api.login(DEMO_DOCTOR, demo["password"])
    index = await api.get("/viewer/viewer", headers={"accept": "text/html"})
    policy = assert_security_headers(index)
    scripts = policy["script-src"]
    assert "'wasm-unsafe-eval'" in scripts and "'unsafe-eval'" not in scripts
    assert policy["worker-src"] == ["'self'", "blob:"]
    inline = re.findall(r"<script>(.*?)</script>", index.text, re.DOTALL)
    assert len(inline) == 2
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in scripts
    bundle = re.search(r'src="(/viewer/app\.bundle\.[0-9a-f]+\.js)"', index.text)
    assert bundle is not None
    worker = directives((await api.get(bundle.group(1))).headers["content-security-policy"])
    assert "'unsafe-eval'" in worker["script-src"] and "blob:" in worker["worker-src"]


async def test_hsts_only_over_tls(api, behind_proxy: str) -> None:
    plain = await api.get("/login")
    assert "strict-transport-security" not in plain.headers
    # an X-Forwarded-Proto from a proxy the operator did not name is not believed
    spoofed = await api.get("/login", headers={"x-forwarded-proto": "https"})
    assert "strict-transport-security" not in spoofed.headers
    # the trusted TLS proxy in front of the app says so (AIMIS_TRUSTED_PROXIES)
    async with httpx.AsyncClient(base_url=behind_proxy) as client:
        assert "strict-transport-security" not in (await client.get("/login")).headers
        tls = await client.get("/login", headers={"x-forwarded-proto": "https"})
    assert tls.headers["strict-transport-security"].startswith("max-age=")
    assert int(tls.headers["strict-transport-security"].split("=")[1]) >= 15_552_000


async def test_dicomweb_cors_still_works(api, dicom_data: DicomData) -> None:
    preflight = await cors_preflight(api.request)
    assert_security_headers(preflight)
    await api.login(dicom_data.home.doctor, PASSWORD)
    res = await api.get(
        "/dicomweb/studies",
        headers={"origin": "https://viewer.example", "accept": "application/dicom+json"},
    )
    assert res.status_code == 200
    assert res.headers["access-control-allow-origin"] == "*"
    assert res.headers["cache-control"] == "no-store"
