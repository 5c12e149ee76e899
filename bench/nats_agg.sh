#!/usr/bin/env bash
# Agents over NATS, measured (docs/benchmarks.md, docs/distributed.md):
#  1. the aggregator fed through a real nats-server by N simulated agents at one snapshot per
#     second each (bench/nats_agg_bench.c): the server side's CPU per agent-second (goal
#     <= 500 us, as in process) and nats-server's CPU per agent-second beside it;
#  2. the start skew across 10 `mortar agent` processes (goal <= 5 ms on loopback), from the
#     agents' own report (their engine start minus the commit's instant);
#  3. a 3-agent run at RATE: the achieved rate of each second against the planned one.
# Everything on 127.0.0.1, in a temp dir, stopped at the end.
#   bench/nats_agg.sh [BUILD_DIR] [--agents N] [--seconds S] [--tags T] [--rate R] [--run-seconds S]
# Defaults: build, 1000 agents, 10 s, 10 tags, rate 3000, run 10 s. Run it on an idle machine.
set -euo pipefail
BUILD=${1:-build}
[[ $# -gt 0 ]] && shift
AGENTS=1000 SECONDS_=10 TAGS=10 RATE=3000 RUNSECS=10
while [[ $# -gt 1 ]]; do
  case $1 in
    --agents) AGENTS=$2 ;; --seconds) SECONDS_=$2 ;; --tags) TAGS=$2 ;;
    --rate) RATE=$2 ;; --run-seconds) RUNSECS=$2 ;;
    *) echo "nats_agg.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
cmake --build "$BUILD" --target mortar mortar-nats-agg-bench -j2 >/dev/null
M=$(readlink -f "$BUILD/mortar") B=$(readlink -f "$BUILD/mortar-nats-agg-bench")
NS=$(command -v nats-server || echo /usr/sbin/nats-server)
W=$(mktemp -d) PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT

start_nats() {
  rm -rf "$W/js" "$W"/*.ports
  "$NS" -js -sd "$W/js" -a 127.0.0.1 -p -1 --ports_file_dir "$W" -l "$W/nats.log" & NPID=$!
  PIDS+=("$NPID")
  for _ in $(seq 200); do [[ -s $W/nats-server_$NPID.ports ]] && break; sleep 0.05; done
  URL=$(jq -r '.nats[0]' "$W/nats-server_$NPID.ports")
}
# CPU seconds of a process so far (utime + stime)
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

# ---- 1. aggregation through NATS ----
start_nats
"$B" agg --nats "$URL" --agents "$AGENTS" --seconds "$SECONDS_" --tags "$TAGS" >"$W/agg.out" 2>"$W/agg.err" &
APID=$!
PIDS+=("$APID")
for _ in $(seq 200); do grep -q ready "$W/agg.out" && break; sleep 0.05; done
n0=$(cpu_of "$NPID")
"$B" pub --nats "$URL" --agents "$AGENTS" --seconds "$SECONDS_" --tags "$TAGS" >"$W/pub.out" 2>"$W/pub.err"
wait "$APID"
n1=$(cpu_of "$NPID")
agg=$(grep nats-agg "$W/agg.out") pub=$(cat "$W/pub.out")
echo "$agg" >&2
echo "$pub" >&2
get() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$2"; }
natsus=$(awk -v a="$n0" -v b="$n1" -v n="$((AGENTS * SECONDS_))" 'BEGIN {printf "%.1f", (b - a) / n * 1e6}')
echo "| aggregation over NATS | agents | seconds | tags | serve CPU µs / agent-second | nats-server CPU µs / agent-second | seconds the publisher ran late | target ≤ 500 µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
echo "| JetStream → durable consumer → aggregator | $AGENTS | $SECONDS_ | $TAGS | $(get cpu_us_per_agent_second "$agg") | $natsus | $(get seconds_late "$pub") | **$(get target "$agg")** |"
kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null || true

# ---- 2. start skew across 10 agents, 3. a 3-agent run ----
start_nats
"$M" target --listen 127.0.0.1:0 >"$W/target.out" 2>/dev/null & PIDS+=("$!")
for _ in $(seq 100); do grep -q listening "$W/target.out" && break; sleep 0.05; done
TURL=http://$(grep -o '127.0.0.1:[0-9]*' "$W/target.out" | head -1)
TOK=$("$M" token create --role admin --data "$W/data")
"$M" serve --listen 127.0.0.1:0 --data "$W/data" --nats "$URL" >"$W/serve.out" 2>"$W/serve.log" & PIDS+=("$!")
for _ in $(seq 100); do grep -q listening "$W/serve.out" && break; sleep 0.05; done
API=$(grep -o 'http://[0-9.:]*' "$W/serve.out")/api/v1
for i in $(seq 10); do
  "$M" agent --nats "$URL" --name "gen-$i" >/dev/null 2>"$W/agent-$i.log" & PIDS+=("$!")
done
H="Authorization: Bearer $TOK"
for _ in $(seq 200); do
  n=$(curl -s -H "$H" "$API/agents" | jq '[.items[] | select(.state == "up")] | length')
  ((n >= 10)) && break
  sleep 0.1
done
run() { # CONFIG -> run id, after it ended
  local id st
  id=$(curl -s -H "$H" -H 'Content-Type: application/json' -d "{\"config\":$1}" "$API/runs" | jq -r .id)
  for _ in $(seq 1200); do
    st=$(curl -s -H "$H" "$API/runs/$id" | jq -r .state)
    [[ $st =~ ^(passed|failed|stopped|error)$ ]] && break
    sleep 0.1
  done
  echo "$id"
}
R=$(run "{\"url\":\"$TURL/\",\"rate\":100,\"duration\":\"2s\",\"agents\":10}")
grep "\"msg\":\"agent ended\",\"run\":\"$R\"" "$W/serve.log" | grep -o '"start_skew_us":-\?[0-9]*' | cut -d: -f2 >"$W/skew"
echo
echo "| start skew, 10 agents (agent's start − commit instant) | agents reporting | min µs | median µs | max µs | goal ≤ 5,000 µs |"
echo "|---|---:|---:|---:|---:|---|"
sort -n "$W/skew" | awk '{a[NR] = $1} END {m = a[int((NR + 1) / 2)]; mx = (a[NR] < 0 ? -a[NR] : a[NR]); mn = (a[1] < 0 ? -a[1] : a[1]); if (mn > mx) mx = mn;
  printf "| loopback, 10 agents on this machine | %d | %d | %d | %d | **%s** |\n", NR, a[1], m, a[NR], (mx <= 5000 ? "PASS" : "MISS")}'

R=$(run "{\"url\":\"$TURL/\",\"rate\":$RATE,\"duration\":\"${RUNSECS}s\",\"agents\":3}")
curl -s -H "$H" "$API/runs/$R/series" >"$W/series.json"
echo
echo "| 3-agent run | planned rps | seconds | Σ due | Σ sent | worst second sent/due | goal within 1 % |"
echo "|---|---:|---:|---:|---:|---:|---|"
jq -r --arg rate "$RATE" '.items as $s | ($s | map(select(.due > 0) | .sent / .due) | min) as $w |
  "| 3 agents (\(.items | length) s) | \($rate) | \($s | length) | \($s | map(.due) | add) | \($s | map(.sent) | add) | \($w * 1000 | round / 1000) | **\(if $w >= 0.99 then "PASS" else "MISS" end)** |"' "$W/series.json"
