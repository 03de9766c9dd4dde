#!/usr/bin/env bash
# The full suite on SQLite and on PostgreSQL; non-zero on any failure.
#
# The passes run at the same time (about half the wall time of one after the other on two
# cores); each uses its own database, data folder and Redis key prefix (tests/conftest.py).
# AIMIS_TEST_SERIAL=1 runs them one after the other, streaming the output as it comes.
# Extra arguments go to both pytest runs.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv || echo "$HOME/.local/bin/uv")
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

pass() {  # pass DB: one pytest run on DB, its output in $logs/DB.log, its status in $logs/DB.rc
  local db=$1
  AIMIS_TEST_DB=$db "$UV" run --frozen pytest -q -p no:cacheprovider --durations=40 "${@:2}" \
    >"$logs/$db.log" 2>&1
  echo $? >"$logs/$db.rc"
}

start=$SECONDS
if [[ "${AIMIS_TEST_SERIAL:-0}" == "1" ]]; then  # one after the other, output as it comes
  status=0
  echo "== suite on SQLite =="
  AIMIS_TEST_DB=sqlite "$UV" run --frozen pytest -q -p no:cacheprovider --durations=40 "$@" \
    || status=1
  echo "== suite on PostgreSQL =="
  AIMIS_TEST_DB=postgres "$UV" run --frozen pytest -q -p no:cacheprovider --durations=40 "$@" \
    || status=1
  echo "== both passes: $((SECONDS - start)) s, status $status =="
  exit $status
else
  pass sqlite "$@" &
  first=$!
  pass postgres "$@" &
  second=$!
  while kill -0 "$first" 2>/dev/null || kill -0 "$second" 2>/dev/null; do
    sleep 60
    echo "… $((SECONDS - start)) s: SQLite $(tail -c 80 "$logs/sqlite.log" 2>/dev/null | tr -d '\n' | grep -o '\[ *[0-9]*%\]' | tail -1) PostgreSQL $(tail -c 80 "$logs/postgres.log" 2>/dev/null | tr -d '\n' | grep -o '\[ *[0-9]*%\]' | tail -1)"
  done
  wait
fi
status=0
declare -A name=([sqlite]=SQLite [postgres]=PostgreSQL)
for db in sqlite postgres; do
  echo "== suite on ${name[$db]} =="
  cat "$logs/$db.log"
  [[ "$(cat "$logs/$db.rc")" == "0" ]] || status=1
done
echo "== both passes: $((SECONDS - start)) s, status $status =="
exit $status
