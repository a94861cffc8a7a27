#!/usr/bin/env bash
# Coverage ledger benchmark: the month's ledger of a county with 20,000
# households and 60,000 visits in the month (255,000 visits in the table), on
# PostgreSQL, through the service and through the real HTTP router. Prints
# ms per ledger, the gzip'd response size, the executed query plan, and the
# machine's load (the figures are only comparable on a quiet machine).
#
#   scripts/bench-coverage.sh            # 20 ledgers per variant, 3 runs
#   N=50 COUNT=5 scripts/bench-coverage.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20}
COUNT=${COUNT:-3}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
DOORSTEP_TEST_REQUIRE_POSTGRES=1 go test -run '^$' -bench 'BenchmarkLedgerCounty20k' \
  -benchtime "${N}x" -count "$COUNT" -timeout 30m -v ./server/coverage/ >"$OUT" 2>&1 || { cat "$OUT"; exit 1; }
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== query plan (first run)"
awk '/query plan:/{p=1; next} p && /^ *(BenchmarkLedger|--- BENCH|=== RUN)/{exit} p' "$OUT" | sed 's/^ *bench_test.go:[0-9]*: //' | head -80
echo
echo "== figures (wall ms per ledger; go-cpu: CPU ms the Go side spent per ledger)"
awk '/^BenchmarkLedgerCounty20k\// && NF >= 4 {
    name=$1; sub(/-[0-9]+$/, "", name); ms=$3/1e6
    n[name]++; sum[name]+=ms; if (!(name in min) || ms<min[name]) min[name]=ms; if (ms>max[name]) max[name]=ms
    for (i=5; i<NF; i+=2) { if ($(i+1)=="gzip-bytes/op") size[name]=$i; if ($(i+1)=="go-cpu-ms/op") cpu[name]+=$i }
  }
  END {
    for (k in n) printf "%-36s runs=%d  min=%.1f  mean=%.1f  max=%.1f  go-cpu=%.1f%s\n", k, n[k], min[k], sum[k]/n[k], max[k], cpu[k]/n[k], (k in size ? sprintf("  response=%.0f KiB gzip", size[k]/1024) : "")
  }' "$OUT" | sort
