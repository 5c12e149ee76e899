#!/usr/bin/env bash
# Lua scripts (docs/scripting.md): CPU per request of `mortar run -s` against wrk running the
# same script on the same target in the same run of this script, and the unscripted hot path of
# this build against another mortar binary (the one before the script hook). Prints markdown
# rows for docs/benchmarks.md (section 12).
#   bench/script_bench.sh [MORTAR] [SECONDS] [BASELINE_MORTAR] [ROUNDS]
# Defaults: build/mortar, 5 s, no baseline, 3 rounds (rows alternate wrk / mortar each round).
# Everything on 127.0.0.1; the target (mortar target, 1 thread) on CPU 1, clients on CPU 0.
set -euo pipefail
MORTAR=$(readlink -f "${1:-build/mortar}")
SECS=${2:-5}
BASE=${3:-}
ROUNDS=${4:-3}
command -v wrk >/dev/null || { echo "wrk is needed (scripts/deps.sh bench)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "GNU time is needed (scripts/deps.sh bench)" >&2; exit 2; }
WORK=$(mktemp -d)
TPID=
cleanup() { [[ -n $TPID ]] && kill "$TPID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

mkfifo "$WORK/t.fifo"
# started directly (not through the pin function, a subshell) so that $! is the target itself
if command -v taskset >/dev/null; then
  taskset -c 1 "$MORTAR" target --listen 127.0.0.1:0 --threads 1 >"$WORK/t.fifo" 2>/dev/null &
else
  "$MORTAR" target --listen 127.0.0.1:0 --threads 1 >"$WORK/t.fifo" 2>/dev/null &
fi
TPID=$!
read -r -t 20 line <"$WORK/t.fifo"
PORT=${line##*:}
URL="http://127.0.0.1:$PORT/"

cat >"$WORK/req.lua" <<'EOF'
-- a dynamic request per call: a counter in the path (the common shape of real scripts)
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/?n=" .. n)
end
EOF

# measure NAME CMD...: prints "NAME requests cpu_us_per_request"
measure() {
  local name=$1 out="$WORK/$1.out" t="$WORK/$1.time" n
  shift
  pin 0 /usr/bin/time -f '%U %S' -o "$t" "$@" >"$out" 2>&1
  if [[ $name == wrk* ]]; then
    n=$(awk '/requests in/ { print $1; exit }' "$out")
  else
    n=$(jq -r .summary.completed "$WORK/$name.json")
  fi
  awk -v n="$n" -v name="$name" '{ printf "%s %d %.2f\n", name, n, ($1 + $2) * 1e6 / n }' "$t"
}

echo "| round | client | requests | CPU µs / request |"
echo "|---:|---|---:|---:|"
declare -a rw rm rb rh
for ((i = 1; i <= ROUNDS; i++)); do
  read -r _ n c < <(measure wrk wrk -t1 -c50 -d"${SECS}s" -s "$WORK/req.lua" "$URL")
  echo "| $i | \`wrk -t1 -c50 -d${SECS}s -s req.lua\` | $n | $c |"
  rw+=("$c")
  read -r _ n c < <(measure mortar "$MORTAR" run -q -t1 -c50 -d"${SECS}s" -s "$WORK/req.lua" --json "$WORK/mortar.json" "$URL")
  echo "| $i | \`mortar run -t1 -c50 -d${SECS}s -s req.lua\` | $n | $c |"
  rm+=("$c")
  read -r _ n c < <(measure hot "$MORTAR" run -q -t1 -c50 -d"${SECS}s" --json "$WORK/hot.json" "$URL")
  echo "| $i | \`mortar run -t1 -c50 -d${SECS}s\` (no script, this build) | $n | $c |"
  rh+=("$c")
  if [[ -n $BASE ]]; then
    read -r _ n c < <(measure base "$BASE" run -q -t1 -c50 -d"${SECS}s" --json "$WORK/base.json" "$URL")
    echo "| $i | \`mortar run -t1 -c50 -d${SECS}s\` (no script, baseline) | $n | $c |"
    rb+=("$c")
  fi
done
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mw=$(med "${rw[@]}")
mm=$(med "${rm[@]}")
echo
echo "Medians: wrk $mw µs, mortar $mm µs per scripted request: mortar / wrk = $(awk -v a="$mm" -v b="$mw" 'BEGIN { printf "%.2f", a / b }') (goal ≤ 0.8)."
if [[ -n $BASE ]]; then
  mh=$(med "${rh[@]}")
  mb=$(med "${rb[@]}")
  echo "Unscripted: this build $mh µs, baseline $mb µs per request: $(awk -v a="$mh" -v b="$mb" 'BEGIN { printf "%.2f", a / b }') ×."
fi
