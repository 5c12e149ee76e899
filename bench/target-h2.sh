#!/usr/bin/env bash
# `mortar target` vs nginx as HTTP/2 servers, measured with Debian's h2load on loopback: the
# same h2load runs (HTTP/2 over TLS, cleartext h2c, HTTP/1.1 over TLS) against nginx (1 worker,
# `return 200`) and `mortar target --threads 1`, each server's CPU (user+sys from /proc) and
# h2load's request rate. Prints a Markdown table; writes nothing else.
#
# Usage: bench/target-h2.sh path/to/mortar [--quick]
#   --quick   1,000 requests per row instead of 10 s runs: checks the script, not the speed
# Run on an otherwise idle machine (client and server share the cores). Needs nginx, h2load
# (nghttp2-client), openssl and jq: scripts/deps.sh bench.
set -euo pipefail

die() { printf 'target-h2: error: %s\n' "$*" >&2; exit 1; }
mortar=${1:-}
[[ -x $mortar ]] || die "usage: bench/target-h2.sh path/to/mortar [--quick]"
mortar=$(cd "$(dirname "$mortar")" && pwd)/$(basename "$mortar")
quick=0
[[ ${2:-} == --quick ]] && quick=1
for t in nginx h2load openssl jq; do command -v "$t" >/dev/null || die "'$t' not found"; done

dir=$(mktemp -d "${TMPDIR:-/tmp}/target-h2.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# free_port: a loopback port nothing listens on (a target's port 0 pick, after it stopped)
free_port() {
  local f="$dir/port.$RANDOM" p
  "$mortar" target -q --threads 1 --listen 127.0.0.1:0 >"$f" &
  p=$!
  for _ in $(seq 100); do [[ -s $f ]] && break; sleep 0.05; done
  kill -TERM "$p"
  wait "$p" || true
  sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$f"
}
# cpu PID: user+sys clock ticks so far
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
  >/dev/null 2>&1 || die "openssl req failed"

# nginx: TLS h2 on one port, h2c on another (nginx cannot do both on one)
ntls=$(free_port) nclear=$(free_port)
mkdir -p "$dir/tmp"
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { use epoll; worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    http2_max_concurrent_streams 100;
    client_body_temp_path $dir/tmp;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    server {
        listen 127.0.0.1:$ntls ssl http2;
        listen 127.0.0.1:$nclear http2;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' &
pids+=($!)

mport=$(free_port)
"$mortar" target --threads 1 -q --listen "127.0.0.1:$mport" --tls-cert "$dir/cert.pem" \
  --tls-key "$dir/key.pem" >"$dir/mortar.out" &
mpid=$!
pids+=("$mpid")
for _ in $(seq 100); do
  [[ -s $dir/mortar.out && -s $dir/nginx.pid ]] && break
  sleep 0.1
done
[[ -s $dir/mortar.out && -s $dir/nginx.pid ]] || die "servers did not start"
# the nginx worker is the child of the master
npid=$(pgrep -P "$(cat "$dir/nginx.pid")" | head -n 1)

if ((quick)); then len=(-n 1000); else len=(-D 10 --warm-up-time 1); fi
hz=$(getconf CLK_TCK)

row() { # row NAME PID URL H2LOAD-ARGS...
  local name=$1 pid=$2 url=$3 c0 c1 rate
  shift 3
  c0=$(cpu "$pid")
  timeout 60 h2load "${len[@]}" "$@" "$url" >"$dir/h2load.txt" 2>&1 || die "h2load $* $url failed"
  c1=$(cpu "$pid")
  rate=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$dir/h2load.txt")
  grep -q ' 0 failed' "$dir/h2load.txt" || rate="$rate (with failures)"
  printf '| %s | %s | %s |\n' "$name" "$rate" "$(awk -v t=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')"
}

echo "| server, protocol (h2load -t1 -c10 -m10) | requests/s | server CPU s |"
echo "|---|---|---|"
row "nginx, h2 over TLS" "$npid" "https://127.0.0.1:$ntls/" -t1 -c10 -m10
row "mortar target, h2 over TLS" "$mpid" "https://127.0.0.1:$mport/" -t1 -c10 -m10
row "nginx, h2c" "$npid" "http://127.0.0.1:$nclear/" -t1 -c10 -m10
row "mortar target, h2c" "$mpid" "http://127.0.0.1:$mport/" -t1 -c10 -m10
row "nginx, HTTP/1.1 over TLS" "$npid" "https://127.0.0.1:$ntls/" -t1 -c10 --h1
row "mortar target, HTTP/1.1 over TLS" "$mpid" "https://127.0.0.1:$mport/" -t1 -c10 --h1
