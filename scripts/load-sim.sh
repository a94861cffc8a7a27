#!/usr/bin/env bash
# Load test: start a Doorstep server on a fresh PostgreSQL database, provision
# sim officers and households, run `doorstep sim` against it with many devices
# syncing at once, and print the sim's summary (latency percentiles, errors,
# divergence, the server's peak memory).
#
#   scripts/load-sim.sh                 # 1000 devices, 1000 officers, 3 rounds
#   DEVICES=200 ROUNDS=5 scripts/load-sim.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), psql, and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-1000}
OFFICERS=${OFFICERS:-$DEVICES}
ROUNDS=${ROUNDS:-3}
EDITS=${EDITS:-4}
PER_OFFICER=${PER_OFFICER:-20}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=doorstep_load_$$
WORK=$(mktemp -d)
BIN=$WORK/doorstep

cleanup() {
  if [[ -n "${SERVER_PID:-}" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "building"
go build -o "$BIN" ./server/cmd/doorstep
psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
URL="$PG/$DB?sslmode=disable"

echo "starting the server on a free port (PostgreSQL database $DB)"
DOORSTEP_DATABASE_URL=$URL DOORSTEP_DATA_DIR=$WORK/data DOORSTEP_LOG_LEVEL=warn \
  "$BIN" serve --listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=
for _ in $(seq 1 150); do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  ADDR=$(sed -n 's|^Doorstep is listening on \(http://[^ ]*\).*|\1|p' "$WORK/server.out")
  [[ -n "$ADDR" ]] && curl -fs "$ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$ADDR/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }
echo "server $ADDR, pid $SERVER_PID"

ulimit -n 65536 2>/dev/null || true
set -x
"$BIN" sim --server "$ADDR" --provision --database-url "$URL" \
  --devices "$DEVICES" --officers "$OFFICERS" --households-per-officer "$PER_OFFICER" \
  --rounds "$ROUNDS" --edits "$EDITS" --home "$WORK/devices" --server-pid "$SERVER_PID" "$@"
