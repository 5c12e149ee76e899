#!/usr/bin/env bash
# Sizing per agent core (docs/deploy.md "Sizing", docs/benchmarks.md section 17): what one
# generator core sustains against `mortar target` on loopback, with the open-files limit of
# the container tests (20,000). The generator runs on CPU 0 with one thread (taskset), the
# target on CPU 1 with one thread; optionally the same run from the container image.
# Usage: bench/deploy_sizing.sh build/mortar [IMAGE]     (prints the markdown section)
set -euo pipefail
MORTAR=$(readlink -f "${1:?usage: $0 MORTAR [IMAGE]}")
IMAGE=${2:-}
SECS=${SECS:-10}
W=$(mktemp -d)
TPID=
trap '[[ -n $TPID ]] && kill "$TPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
ulimit -n 20000

taskset -c 1 "$MORTAR" target --listen 127.0.0.1:0 --threads 1 >"$W/target.out" 2>&1 &
TPID=$!
for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$W/target.out" && break; sleep 0.1; done
URL="http://127.0.0.1:$(grep -o '[0-9]*$' "$W/target.out" | head -n 1)/"

# row LABEL ARGS...: one run of `mortar run -t1 ARGS -d SECS` on CPU 0
row() {
  local label=$1
  shift
  /usr/bin/time -f '%M' -o "$W/rss" taskset -c 0 "$MORTAR" run -q -t1 -d "${SECS}s" --json "$W/r.json" "$@" "$URL" \
    >/dev/null 2>"$W/err" || true
  jq -r --arg l "$label" --arg rss "$(tail -n 1 "$W/rss")" '.summary as $s |
    "| \($l) | \($s.rps | floor) | \($s.latency_us.p50) | \($s.latency_us.p99) | \($s.errors) | \($s.dropped) | \($s.max_open_connections) | \(($rss | tonumber) / 1024 | floor) MB |"' "$W/r.json"
}

echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); mortar $("$MORTAR" version | cut -d' ' -f2); ${SECS} s per run; open files 20,000."
echo "- Reproduce: \`bench/deploy_sizing.sh build/mortar [localhost/mortar:latest]\`"
echo
echo "| generator (1 core, \`-t1\`) | requests/s | p50 µs | p99 µs | errors | dropped | connections open | peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "closed, 100 connections" -c 100
row "closed, 1,000 connections" -c 1000
row "closed, 10,000 connections" -c 10000
for r in 5000 10000 20000 40000; do
  row "open, $r/s, up to 1,000 connections" -R "$r" -c 1000
done
if [[ -n $IMAGE ]]; then
  export CONTAINERS_CONF=${CONTAINERS_CONF:-$(dirname "$0")/../tests/container/containers.conf}
  podman run --rm --network host --no-healthcheck --cpuset-cpus 0 "$IMAGE" run -q -t1 -c 100 -d "${SECS}s" --json - "$URL" \
    2>/dev/null | jq -r '.summary as $s | "| closed, 100 connections, **in the image** (podman, --cpuset-cpus 0) | \($s.rps | floor) | \($s.latency_us.p50) | \($s.latency_us.p99) | \($s.errors) | \($s.dropped) | \($s.max_open_connections) | |"'
fi
