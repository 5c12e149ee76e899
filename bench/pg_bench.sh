#!/usr/bin/env bash
# The PostgreSQL store's numbers (docs/benchmarks.md section 13), against a throwaway cluster
# on a Unix socket in a temp dir (as the tests start it: tests/integration/pg_lib.sh; run as
# `nobody` when root), fsync on (a real server's durability):
#  1. bench/agg_bench.c with the postgresql sink (the store's own run_append_second) at 1,000
#     agent-seconds: serve's CPU per agent-second, and the cluster's CPU beside it (utime +
#     stime of the postmaster's children from /proc, before and after)
#  2. bench/serve_api.sh on the PostgreSQL store: p99 of 100 clients reading a 300-second run
#  3. storage bytes per run-second of that run on both stores (PostgreSQL: the run's rows'
#     share of the partition, table + index + TOAST; SQLite: dbstat of run_seconds)
#   bench/pg_bench.sh [BUILD_DIR]
# Run it on an idle machine; it is not part of the tests.
set -euo pipefail
BUILD=$(readlink -f "${1:-build}")
cmake --build "$BUILD" --target mortar mortar-agg-bench mortar-ui-seed -j2 >/dev/null
BIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as() { if [[ $(id -u) -eq 0 ]]; then runuser -u nobody -- "$@"; else "$@"; fi; }
PGD=$(mktemp -d /tmp/mortar-pgbench.XXXXXX)
chmod 755 "$PGD"
[[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$PGD"
cleanup() {
  as "$BIN/pg_ctl" -D "$PGD/data" -m fast -w -s stop >/dev/null 2>&1 || true
  rm -rf "$PGD"
}
trap cleanup EXIT
as "$BIN/initdb" -D "$PGD/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
as "$BIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w -s -o "-k $PGD -c listen_addresses=" start
ADMIN="postgresql://postgres@/postgres?host=$PGD"
psql -X -Atq "$ADMIN" -c "CREATE DATABASE agg" -c "CREATE DATABASE api" >/dev/null
URI_AGG="postgresql://postgres@/agg?host=$PGD"
URI_API="postgresql://postgres@/api?host=$PGD"

pg_cpu() { # seconds of CPU of the cluster's processes so far
  local pm tck=$(getconf CLK_TCK) sum=0 p
  pm=$(head -n 1 "$PGD/data/postmaster.pid")
  for p in $pm $(pgrep -P "$pm"); do
    [[ -r /proc/$p/stat ]] || continue
    sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  awk -v s="$sum" -v t="$tck" 'BEGIN { printf "%.3f", s / t }'
}

echo "### 1. aggregation into PostgreSQL (1000 agents x 10 s, 10 tags)"
"$BUILD/mortar" db migrate --store "$URI_AGG" >/dev/null
c0=$(pg_cpu)
line=$("$BUILD/mortar-agg-bench" --agents 1000 --seconds 10 --tags 10 --sink postgresql --store "$URI_AGG" | grep cpu_us)
c1=$(pg_cpu)
echo "$line"
get() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
pgus=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", (b - a) / 10000 * 1e6 }')
echo "| bus + aggregator | 1000 | 10 | 10 | postgresql | $(get cpu_us_per_agent_second) | $(get agent_seconds_per_core_second) | **$(get half_core_target)** | $pgus |"

echo "### 2. API p99, 100 clients, a 300-second run on PostgreSQL"
bash "$(dirname "$0")/serve_api.sh" "$BUILD" 300 15s "$URI_API"

echo "### 3. storage bytes per run-second"
run=$(psql -X -Atq "$URI_API" -c "SELECT id FROM runs WHERE seconds = 300 ORDER BY id DESC LIMIT 1")
all=$(psql -X -Atq "$URI_API" -c "SELECT count(*) FROM run_seconds")
mine=$(psql -X -Atq "$URI_API" -c "SELECT count(*) FROM run_seconds WHERE run_id = '$run'")
part=$(psql -X -Atq "$URI_API" -c "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'run_seconds'::regclass")
tags=$(psql -X -Atq "$URI_API" -c "SELECT count(DISTINCT tag) FROM run_seconds WHERE run_id = '$run'")
echo "postgresql: $part bytes for $all rows; run $run: $mine rows ($tags tags)"
awk -v p="$part" -v a="$all" -v m="$mine" 'BEGIN { printf "| postgresql | %.0f |\n", p * m / a / 300 }'
# the same run on SQLite: serve_api.sh with its own data directory, then dbstat
sq=$(mktemp -d)
KEEP_DATA=$sq bash "$(dirname "$0")/serve_api.sh" "$BUILD" 300 1s >/dev/null
db=$sq/mortar.db
srun=$(sqlite3 "$db" "SELECT id FROM runs WHERE seconds = 300 ORDER BY id DESC LIMIT 1")
sall=$(sqlite3 "$db" "SELECT count(*) FROM run_seconds")
smine=$(sqlite3 "$db" "SELECT count(*) FROM run_seconds WHERE run_id = '$srun'")
sbytes=$(sqlite3 "$db" "SELECT sum(pgsize) FROM dbstat WHERE name LIKE '%run_seconds%'")
echo "sqlite: $sbytes bytes for $sall rows; run $srun: $smine rows"
awk -v p="$sbytes" -v a="$sall" -v m="$smine" 'BEGIN { printf "| sqlite | %.0f |\n", p * m / a / 300 }'
rm -rf "$sq"
