#!/usr/bin/env bash
# The full suite, on SQLite and then on PostgreSQL; non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv || echo "$HOME/.local/bin/uv")
status=0
echo "== suite on SQLite =="
AIMIS_TEST_DB=sqlite "$UV" run --frozen pytest -q -p no:cacheprovider "$@" || status=1
echo "== suite on PostgreSQL =="
AIMIS_TEST_DB=postgres "$UV" run --frozen pytest -q -p no:cacheprovider "$@" || status=1
exit $status
