"""The short form of ``bench/schemathesis_full.py`` (issue 12): schemathesis over the whole
OpenAPI as a doctor and as a hospital admin, a few generated cases per operation, against
its own app process with its own data folder and database (it sends destructive writes as
an admin: never the suite's shared app). No answer may be a 5xx."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.aimis_app import Aimis
from bench.schemathesis_full import run_schemathesis
from tests.conftest import TEST_DB

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 8  # per operation and account: about a minute each on 2 cores


@pytest.fixture(scope="module")
def own_app() -> Iterator[Aimis]:
    app = Aimis(Path(tempfile.mkdtemp(prefix="aimis-st-")), postgres=TEST_DB == "postgres")
    app.start()
    yield app
    app.stop()


@pytest.mark.timeout(600)
def test_no_case_answers_a_server_error(own_app: Aimis, tmp_path: Path) -> None:
    results = run_schemathesis(
        own_app.url, max_examples=MAX_EXAMPLES, phases="examples,fuzzing", report_dir=tmp_path
    )
    summary = "\n".join(r.summary() for r in results)
    print(summary)
    for result in results:
        assert result.operations >= 150, summary  # the whole API was tried
        assert result.statuses["2xx"] > 100, summary  # logged in: not only refusals
        assert result.errors == 0, summary
