#!/usr/bin/env bash
# Kernel timestamps and batched waits (issue 17, docs/adr/0037-kernel-timestamps.md): mortar
# against wrk and h2load in the same run, against nginx (1 worker, CPU 1; clients on CPU 0),
# interleaved rounds so that a busy machine hurts every client alike. CPU per request is
# user+sys of the finished process (GNU time) over its completed requests.
#
# Usage: bench/kts.sh path/to/mortar [ROUNDS] [SECONDS]       (defaults: 3 rounds of 10 s)
#   The closed model runs on both I/O loops: closed_kts with --io epoll, closed_uring with
#   --io io_uring (docs/adr/0040-io-uring.md). KTS_ONLY=closed runs only wrk and the closed rows,
#   KTS_ONLY=open only wrk and the open rows (more rounds for the open model's p99 medians).
#   open_exact waits exactly (--send-tolerance 0) with kernel timestamps; open_kts250 is the open
#   model with the first version's 250-us tolerance (the default is 100 us).
#   First, bench/wakecost.c measures what one sleep and wake-up costs here (the floor under any
#   loop that sends each request at its due time: one wake-up per request at -R 20000). The
#   closed rows include `floor` (bench/floor.c): a client that makes only the system calls a
#   request needs, the floor under any closed-model client on this machine.
# Prints one line per run and, at the end, a markdown table of the medians (docs/benchmarks.md
# section 16). Environment: BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { printf 'kts: error: %s\n' "$*" >&2; exit 1; }
[[ $# -ge 1 && $# -le 3 ]] || { echo "usage: bench/kts.sh path/to/mortar [ROUNDS] [SECONDS]" >&2; exit 2; }
mortar=$1 rounds=${2:-3} dur=${3:-10}
[[ -x $mortar && -f $mortar ]] || die "'$mortar' is not an executable file"
[[ $rounds =~ ^[1-9][0-9]*$ && $dur =~ ^[1-9][0-9]*$ ]] || die "ROUNDS and SECONDS are positive integers"
for t in nginx wrk h2load openssl jq awk taskset /usr/bin/time cc; do
  command -v "$t" >/dev/null || die "'$t' not found (scripts/deps.sh bench)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mortar-kts.XXXXXX")
nginx_pid=''
cleanup() {
  [[ -z $nginx_pid ]] || { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kts: temp dir kept: $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
port=$((20000 + RANDOM % 10000))
sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$port|g" -e "s|@TLSPORT@|$((port + 1))|g" "$here/nginx.conf.in" >"$tmp/nginx.conf"
taskset -c 1 nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" -g 'daemon off;' </dev/null >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
for ((i = 0; i < 500; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(cat "$tmp/error.log")"
  sleep 0.02
done
url=http://127.0.0.1:$port/ surl=https://127.0.0.1:$((port + 1))/

# run KEY CMD...: CPU per request (us), rate, p99 (ms) of one run, appended to $tmp/KEY.rows
run() {
  local key=$1 u s n rate p99 lag
  shift
  taskset -c 0 /usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null ||
    { echo "kts: $key failed: $(tail -n3 "$tmp/err")" >&2; return 0; }
  read -r u s < <(tail -n1 "$tmp/time")
  case $key in
  wrk*)
    n=$(awk '/requests in/ { print $1 }' "$tmp/out")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v }' "$tmp/out")
    lag=- ;;
  h2load*)
    n=$(awk '/^requests:/ { print $8 }' "$tmp/out")
    p99=- lag=- ;;
  floor*)
    n=$(awk '$1 == "floor:" { print $2 }' "$tmp/out")
    p99=- lag=- ;;
  *)
    n=$(jq -r .summary.completed "$tmp/json")
    p99=$(jq -r '.summary.latency_us.p99 / 1000' "$tmp/json")
    lag=$(jq -r '"\(.summary.mean_schedule_lag_us)/\(.summary.max_schedule_lag_us)/\(.summary.timing.user_clock // 0)"' "$tmp/json") ;;
  esac
  [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "kts: $key: no request count" >&2; return 0; }
  rate=$(awk -v n="$n" -v d="$dur" 'BEGIN { printf "%.0f", n / d }')
  local cpu
  cpu=$(awk -v u="$u" -v s="$s" -v n="$n" 'BEGIN { printf "%.2f", (u + s) * 1e6 / n }')
  printf '%-14s cpu %6s us/req  rate %7s/s  p99 %6s ms  lag mean/max/user-clock %s\n' "$key" "$cpu" "$rate" "$p99" "$lag"
  echo "$cpu $rate $p99" >>"$tmp/$key.rows"
}

cc -std=c11 -O2 -o "$tmp/wakecost" "$here/wakecost.c" -luring || die "cannot build bench/wakecost.c (liburing-dev)"
taskset -c 0 "$tmp/wakecost" 50 100000 | tee "$tmp/wakecost.out"
wake=$(awk '$1 == "clock_nanosleep" { print $3 }' "$tmp/wakecost.out")
cc -std=c11 -O2 -o "$tmp/floor" "$here/floor.c" || die "cannot build bench/floor.c"

m=("$mortar" run -q -t1 -d "${dur}s" --json "$tmp/json")
for ((r = 1; r <= rounds; r++)); do
  echo "--- round $r"
  run wrk wrk -t1 -c100 -d "${dur}s" --latency "$url"
  if [[ ${KTS_ONLY:-} != closed ]]; then
    run open_exact_old "${m[@]}" -c100 -R 20000 --send-tolerance 0 --no-kernel-timestamps "$url"
    run open_exact "${m[@]}" -c100 -R 20000 --send-tolerance 0 "$url"
    run open_kts "${m[@]}" -c100 -R 20000 "$url"
    run open_kts250 "${m[@]}" -c100 -R 20000 --send-tolerance 250us "$url"
  fi
  [[ ${KTS_ONLY:-} != open ]] || continue
  run floor "$tmp/floor" 127.0.0.1 "$port" 100 "$dur"
  run closed_old "${m[@]}" -c100 --io epoll --send-tolerance 0 --no-kernel-timestamps "$url"
  run closed_kts "${m[@]}" -c100 --io epoll "$url"
  run closed_uring "${m[@]}" -c100 --io io_uring "$url"
  [[ ${KTS_ONLY:-} != closed ]] || continue
  run h2load h2load -c10 -m10 -t1 -D "$dur" "$surl"
  run h2_old "${m[@]}" -k --http2 -c10 --streams 10 --send-tolerance 0 --no-kernel-timestamps "$surl"
  run h2_kts "${m[@]}" -k --http2 -c10 --streams 10 "$surl"
done

med() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'; }
col() { [[ -s $tmp/$1.rows ]] && awk -v c="$2" '{ print $c }' "$tmp/$1.rows" | med || echo n/a; }
wrk=$(col wrk 1) h2l=$(col h2load 1)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| client | CPU µs / request (median of $rounds) | ratio | completed/s | p99 ms |"
echo "|---|---:|---:|---:|---:|"
for k in wrk open_exact_old open_exact open_kts open_kts250 floor closed_old closed_kts closed_uring h2load h2_old h2_kts; do
  [[ -s $tmp/$k.rows ]] || continue
  base=$wrk
  [[ $k == h2* ]] && base=$h2l
  echo "| $k | $(col $k 1) | $(ratio "$(col $k 1)" "$base") | $(col $k 2) | $(col $k 3) |"
done
echo
echo "One sleep and wake-up (clock_nanosleep, 50 us apart): $wake us of CPU = $(ratio "$wake" "$wrk") x wrk's whole request."
if [[ -s $tmp/floor.rows ]]; then
  fl=$(col floor 1)
  echo "The closed-model floor (bench/floor.c) is $(ratio "$fl" "$wrk") x wrk here. An open-model loop that wakes once"
  echo "every K requests spends about floor + wake-up / K: $(awk -v f="$fl" -v w="$wake" -v b="$wrk" 'BEGIN { if (b > 0) printf "K = 1: %.2f x, K = 2: %.2f x, K = 10: %.2f x wrk", (f + w) / b, (f + w / 2) / b, (f + w / 10) / b }')."
fi
