#!/usr/bin/env bash
# Monthly report figures on PostgreSQL (server/report/bench_test.go), printed
# at the end:
#
#   with 1,000,000 visits in October (200,000 households, 600 officers,
#   60 outlets): the branch's monthly report served over HTTP from the report
#   tables (p50/p95), a full rebuild of the month, the worker taking in a
#   push of 500 visits; and push throughput through the real HTTP path with
#   and without the report worker running (alternated ROUNDS times, medians),
#   with the worker's own busy time.
#
# Usage: scripts/bench-reports.sh
#        BENCH_REPORT_VISITS=200000 BENCH_REPORT_HOUSEHOLDS=40000 scripts/bench-reports.sh   (smaller, quicker)
#        PUSH_BATCHES=120 BENCH_SYNC_DEVICES=4 scripts/bench-reports.sh
# Needs Postgres at DOORSTEP_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOORSTEP_TEST_REQUIRE_POSTGRES=1
PUSH_BATCHES=${PUSH_BATCHES:-60}
ROUNDS=${ROUNDS:-5}
pkg=./server/report/
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), $(psql -h 127.0.0.1 -U postgres -Atc 'show server_version' 2>/dev/null || echo 'postgres ?')"
go test -run '^$' -bench 'BenchmarkReports1M$' -benchtime 3x -count 1 -timeout 90m -v "$pkg" |
  grep -E '^(Benchmark|\s+bench_test.go)' | tee -a "$log"
# Push throughput: worker off and on, alternated ROUNDS times on fresh databases.
for _ in $(seq 1 "$ROUNDS"); do
  go test -run '^$' -bench 'BenchmarkPushWithReportWorker$' -benchtime "${PUSH_BATCHES}x" -count 1 -timeout 60m "$pkg" |
    grep -E '^Benchmark' | tee -a "$log"
done

metric() { # benchmark-name unit
  awk -v name="$1" -v unit="$2" '$1 ~ "^"name {for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1)}' "$log"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
p50=$(metric 'BenchmarkReports1M/monthly-branch-http' 'p50-ms' | head -n 1)
p95=$(metric 'BenchmarkReports1M/monthly-branch-http' 'p95-ms' | head -n 1)
lines=$(metric 'BenchmarkReports1M/monthly-branch-http' 'lines' | head -n 1)
rebuild=$(metric 'BenchmarkReports1M/rebuild-month' 's/rebuild' | head -n 1)
visits=$(metric 'BenchmarkReports1M/rebuild-month' 'visits' | head -n 1)
catchup=$(metric 'BenchmarkReports1M/catchup-500-visits' 'ms/push-of-500' | head -n 1)
off=$(metric 'BenchmarkPushWithReportWorker/worker=false' 'mutations/s' | median)
on=$(metric 'BenchmarkPushWithReportWorker/worker=true' 'mutations/s' | median)
drain=$(metric 'BenchmarkPushWithReportWorker/worker=true' 'drain-ms' | median)
wbusy=$(metric 'BenchmarkPushWithReportWorker/worker=true' 'worker-ms/1k-mutations' | median)
pbusy=$(metric 'BenchmarkPushWithReportWorker/worker=true' 'push-ms/1k-mutations' | median)

echo
echo "== Report figures"
printf 'visits in the month:                               %10.0f\n' "$visits"
printf 'branch monthly report over HTTP (%s lines):        p50 %6.1f ms, p95 %6.1f ms   (target <= 200 ms)\n' "$lines" "$p50" "$p95"
printf 'full rebuild of the month:                         %10.1f s    (target <= 60 s)\n' "$rebuild"
printf 'worker taking in a push of 500 visits (500 officers): %7.0f ms\n' "$catchup"
printf 'push throughput, no report worker (median of %s):   %10.0f mutations/s\n' "$ROUNDS" "$off"
printf 'push throughput, report worker running (5 s poll): %10.0f mutations/s   throughput cost %.1f%% (target <= 15%%)\n' \
  "$on" "$(echo "($off - $on) * 100 / $off" | bc -l)"
printf 'worker busy time per 1,000 pushed mutations:       %10.1f ms   (%.1f%% of the push wall time); drain after the last push %s ms\n' \
  "$wbusy" "$(echo "$wbusy * 100 / $pbusy" | bc -l)" "$drain"
