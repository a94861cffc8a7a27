#!/usr/bin/env bash
# Import benchmark: 100,000 households of a synthetic monitoring list on
# PostgreSQL, through the registry service as the API drives it:
#
#   dry run  parse, validate, compare with the branch's list, seal and index
#            the personal numbers, store the preview (staged rows + report)
#   commit   apply exactly that preview: households, assignments, change
#            report, change log, in one transaction
#   re-import the same file again: compare, find nothing to do, write nothing
#            (the benchmark fails if any table changed)
#
# Targets: dry run + commit <= 30 s; unchanged re-import <= 10 s.
# Prints the machine's load too: the figures only compare on a quiet machine.
#
#   scripts/bench-import.sh          # 3 runs
#   COUNT=5 scripts/bench-import.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-3}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
DOORSTEP_TEST_REQUIRE_POSTGRES=1 go test -run '^$' -bench '^BenchmarkImport100k$' -benchtime 1x -count "$COUNT" \
  -timeout 60m ./server/registry/ >"$OUT" 2>&1 || { cat "$OUT"; exit 1; }
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== seconds per run (100,000 households)"
awk '/^BenchmarkImport100k/ {
    for (i=5; i<NF; i+=2) { k=$(i+1); v=$i; n[k]++; s[k]+=v; if (!(k in lo) || v<lo[k]) lo[k]=v; if (v>hi[k]) hi[k]=v }
  }
  END {
    split("parse-s compare-s dryrun-s commit-s dryrun+commit-s reimport-s", order, " ")
    for (j=1; j<=6; j++) { k=order[j]; if (k in n) printf "%-18s runs=%d  min=%6.2f  mean=%6.2f  max=%6.2f\n", k, n[k], lo[k], s[k]/n[k], hi[k] }
    if ("dryrun+commit-s" in n) printf "\ntarget dry run + commit <= 30 s: %s (worst %.2f s)\n", (hi["dryrun+commit-s"] <= 30 ? "met" : "NOT met"), hi["dryrun+commit-s"]
    if ("reimport-s" in n) printf "target unchanged re-import <= 10 s, writing nothing: %s (worst %.2f s)\n", (hi["reimport-s"] <= 10 ? "met" : "NOT met"), hi["reimport-s"]
  }' "$OUT"
