#!/usr/bin/env bash
# The aggregation benchmark of mortar serve (bench/agg_bench.c): N agents x S seconds of
# snapshots with T tags through the in-process bus into the aggregator and a sink, CPU per
# agent-second from getrusage. Prints the raw line and a row for docs/benchmarks.md.
#   bench/agg.sh [BUILD_DIR] [--agents N] [--seconds S] [--tags T] [--sink none|sqlite]
# Defaults: build, 1000 agents, 10 s, 10 tags, both sinks. Run it on an idle machine.
set -euo pipefail
BUILD=${1:-build}
[[ $# -gt 0 ]] && shift
cmake --build "$BUILD" --target mortar-agg-bench -j2 >/dev/null
BIN="$BUILD/mortar-agg-bench"
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--agents 1000 --seconds 10 --tags 10)
sinks=(none sqlite)
for a in "${args[@]}"; do [[ $a == --sink ]] && sinks=(); done
[[ ${#sinks[@]} -gt 0 ]] || sinks=("")
echo "| aggregation | agents | seconds | tags | sink | CPU µs / agent-second | agent-seconds / core-second | target ≤ 500 µs (1,000/s in half a core) |"
echo "|---|---:|---:|---:|---|---:|---:|---|"
for sink in "${sinks[@]}"; do
  extra=()
  [[ -n $sink ]] && extra=(--sink "$sink")
  line=$(timeout 600 "$BIN" "${args[@]}" "${extra[@]}")
  echo "$line" >&2
  get() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
  echo "| bus + aggregator | $(get agents) | $(get seconds) | $(get tags) | $(get sink) | $(get cpu_us_per_agent_second) | $(get agent_seconds_per_core_second) | **$(get half_core_target)** |"
done
