"""schemathesis over the whole OpenAPI of a real AIMIS process, logged in as a doctor and as
a hospital admin: every answer must be below 500 (issue 12, the check of finding 8).

    uv run python -m bench.schemathesis_full [--postgres] [--max-examples 100] [--workers 2]

The app runs in its own process with its own data folder and database (``bench/aimis_app.py``:
migrated, the demo loaded): schemathesis sends destructive writes as an admin, so it never
shares a database with anything else. The doctor goes first (the admin may deactivate him).
Logging out and changing one's own password are left out: they end the run's session.

Prints, per account, the operations, the cases sent, the answers by status class and every
operation that answered 5xx (with schemathesis's own report in ``--report-dir``); exits 1 if
any case answered 5xx. ``tests/integration/test_schemathesis.py`` runs a short form of it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = (("dr.wang", False), ("admin.city", True))  # a CITY radiologist, CITY's admin
PASSWORD = "Demo@2026"
SESSION_ENDERS = ("/api/auth/logout", "/api/auth/password")


@dataclass
class Result:
    account: str
    operations: int = 0
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: dict[str, list[str]] = field(default_factory=dict)  # operation → curl lines
    exit_code: int = 0

    @property
    def errors(self) -> int:
        return sum(len(v) for v in self.server_errors.values())

    def summary(self) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        lines = [
            f"{self.account}: {self.operations} operations, {self.cases} cases ({codes}), "
            f"{self.errors} answered 5xx"
        ]
        for operation, examples in sorted(self.server_errors.items()):
            lines.append(f"  5xx  {operation}: {len(examples)} case(s), e.g. {examples[0]}")
        return "\n".join(lines)


def session_headers(url: str, username: str, admin: bool) -> list[str]:
    """A logged-in session as schemathesis headers: the cookies, and the CSRF header that
    Litestar's CSRF middleware compares with the csrftoken cookie."""
    with httpx.Client(base_url=url, timeout=30) as http:
        http.get("/login")
        res = http.post(
            "/api/auth/admin-login" if admin else "/api/auth/login",
            json={"identifier": username, "password": PASSWORD},
            headers={"x-csrftoken": http.cookies.get("csrftoken") or ""},
        )
        res.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        return ["-H", f"Cookie: {cookie}", "-H", f"x-csrftoken: {http.cookies['csrftoken']}"]


def read_report(path: Path, result: Result) -> None:
    operations = set()
    for line in path.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        operations.add(recorder["label"])
        for case_id, interaction in recorder.get("interactions", {}).items():
            response = interaction.get("response")
            result.cases += 1
            if response is None:
                result.statuses["no answer"] += 1
                continue
            status = int(response["status_code"])
            result.statuses[f"{status // 100}xx"] += 1
            if status >= 500:
                case = recorder["cases"].get(case_id, {}).get("value", {})
                example = f"{interaction['request']['method']} {interaction['request']['uri']}"
                if case.get("body") is not None:
                    example += f" body={json.dumps(case['body'])[:200]}"
                result.server_errors.setdefault(recorder["label"], []).append(example)
    result.operations = len(operations)


def run_schemathesis(
    url: str,
    *,
    max_examples: int,
    workers: int = 2,
    phases: str = "examples,coverage,fuzzing,stateful",
    report_dir: Path,
    seed: int | None = None,
) -> list[Result]:
    results = []
    for username, admin in ACCOUNTS:
        report = report_dir / f"{username}.ndjson"
        args = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(max_examples),
            "--workers",
            str(workers),
            "--phases",
            phases,
            "--generation-database",
            "none",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            "--no-color",
            "--request-timeout",
            "60",
            *session_headers(url, username, admin),
        ]
        for path in SESSION_ENDERS:
            args += ["--exclude-path", path]
        if seed is not None:
            args += ["--seed", str(seed)]
        log = report_dir / f"{username}.log"
        with log.open("wb") as out:
            code = subprocess.run(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
        result = Result(username, exit_code=code)
        if not report.exists():
            raise RuntimeError(f"schemathesis wrote no report:\n{log.read_text()[-4000:]}")
        read_report(report, result)
        results.append(result)
    return results


def main() -> int:
    from bench.aimis_app import Aimis

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--report-dir", type=Path, default=ROOT / "bench" / ".cache" / "st")
    args = parser.parse_args()
    args.report_dir.mkdir(parents=True, exist_ok=True)
    app = Aimis(Path(tempfile.mkdtemp(prefix="aimis-schemathesis-")), postgres=args.postgres)
    try:
        app.start()
        print(f"AIMIS at {app.url} ({'PostgreSQL' if args.postgres else 'SQLite'})", flush=True)
        results = run_schemathesis(
            app.url,
            max_examples=args.max_examples,
            workers=args.workers,
            report_dir=args.report_dir,
            seed=args.seed,
        )
    finally:
        app.stop()
    for result in results:
        print(result.summary())
    total = sum(r.cases for r in results)
    errors = sum(r.errors for r in results)
    print(f"total: {total} cases, {errors} answered 5xx (reports in {args.report_dir})")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
