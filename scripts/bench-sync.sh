#!/usr/bin/env bash
# Sync engine figures on PostgreSQL, through the full HTTP path with real
# tokens (server/httpapi/sync_bench_test.go), and the figures the issue asks
# for, printed at the end:
#
#   push ingest (batches of 500, mutations/s), the naive gorm path and pgx
#   CopyFrom of the same rows, and the ratios; replay of 1,000 applied
#   mutations; initial pull of 500 households + 5,000 visits; incremental
#   pull of 1,000 changes (p95).
#
# Usage: scripts/bench-sync.sh            (PUSH_BATCHES=600 by default: 300,000 mutations per push figure)
#        PUSH_BATCHES=400 BENCH_SYNC_DEVICES=8 scripts/bench-sync.sh
# Needs Postgres at DOORSTEP_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOORSTEP_TEST_REQUIRE_POSTGRES=1
PUSH_BATCHES=${PUSH_BATCHES:-600}
NAIVE_BATCHES=${NAIVE_BATCHES:-20}
pkg=./server/httpapi/
log=$(mktemp)
trap 'rm -f "$log"' EXIT

bench() { # pattern benchtime
  go test -run '^$' -bench "$1" -benchtime "$2" -count 1 -timeout 60m "$pkg" | grep -E '^Benchmark' | tee -a "$log"
}

echo "== machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), $(psql -h 127.0.0.1 -U postgres -Atc 'show server_version' 2>/dev/null || echo 'postgres ?')"
bench 'BenchmarkPush500' "${PUSH_BATCHES}x"
bench 'BenchmarkPushNaive' "${NAIVE_BATCHES}x"
bench 'BenchmarkCopyFrom$' "${PUSH_BATCHES}x"
bench 'BenchmarkReplay1000$' 50x
bench 'BenchmarkInitialPull' 5x
bench 'BenchmarkIncrementalPull1000$' 40x

metric() { # benchmark-name unit
  awk -v name="$1" -v unit="$2" '$1 ~ "^"name {for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1)}' "$log" | head -n 1
}
app=$(metric 'BenchmarkPush500/app' 'mutations/s')
engine=$(metric 'BenchmarkPush500/engine' 'mutations/s')
devices=$(metric 'BenchmarkPush500/engine' 'devices')
naive=$(metric 'BenchmarkPushNaive/tx-per-mutation' 'mutations/s')
naive1=$(metric 'BenchmarkPushNaive/one-tx' 'mutations/s')
copy=$(metric 'BenchmarkCopyFrom' 'mutations/s')
replay=$(metric 'BenchmarkReplay1000' 'ns/op')
init500=$(metric 'BenchmarkInitialPull/limit=500' 'ms/sync')
init2000=$(metric 'BenchmarkInitialPull/limit=2000' 'ms/sync')
p95=$(metric 'BenchmarkIncrementalPull1000' 'p95-ms')
p50=$(metric 'BenchmarkIncrementalPull1000' 'p50-ms')
ratio() { echo "$1 / $2" | bc -l; }

echo
echo "== Sync figures"
printf 'push, batches of 500, %.0f devices, HTTP + auth, engine alone:     %8.0f mutations/s  (target >= 20000)\n' "$devices" "$engine"
printf 'push, the same through the app (coverage checks in the push):  %8.0f mutations/s\n' "$app"
printf 'naive, gorm row at a time, transaction per mutation:            %8.0f mutations/s  engine/naive = %.1fx (target >= 10x)\n' "$naive" "$(ratio "$engine" "$naive")"
printf 'naive, gorm row at a time, one transaction per batch:           %8.0f mutations/s  engine/naive = %.1fx\n' "$naive1" "$(ratio "$engine" "$naive1")"
printf 'pgx CopyFrom of the same rows (no HTTP, no checks):             %8.0f mutations/s  engine/CopyFrom = %.2f\n' "$copy" "$(ratio "$engine" "$copy")"
printf '(naive and CopyFrom run the same %.0f devices at once as the engine)\n' "$devices"
printf 'replay of 1,000 applied mutations (writes nothing):             %8.1f ms           (target <= 100 ms)\n' "$(ratio "$replay" 1000000)"
printf 'initial pull, 500 households + 5,000 visits:                    %8s ms (page 500), %s ms (page 2000)  (target <= 1000 ms)\n' "$init500" "$init2000"
printf 'incremental pull of 1,000 changes:                              p95 %s ms, p50 %s ms  (target p95 <= 200 ms)\n' "$p95" "$p50"
