# Claim (b): the open model at a fixed rate sends exactly rate x duration requests, and all but
# the ones still in flight when the run ends complete: completed = rate x duration - in flight,
# in flight = sent - completed - errors, which is at most the connection cap. The target's own
# request count confirms it.
source "$(dirname "$0")/lib.sh"
start_target

# check NAME RATE DURATION THREADS PLANNED
check() {
  local name=$1 rate=$2 dur=$3 threads=$4 planned=$5 out="$WORK/$1.json" st="$WORK/$1.stats.json"
  local conns=20 sent completed errors inflight
  target_stats "$WORK/$name.before.json"
  run_json "$out" 60 -R "$rate" -d "$dur" -c $conns -t "$threads" "$TARGET_URL/"
  target_stats_since "$WORK/$name.before.json" "$st"

  expect_eq "$name: planned_requests" "$(jqr "$out" .config.planned_requests)" "$planned"
  expect_eq "$name: due" "$(jqr "$out" .summary.due)" "$planned"
  sent=$(jqr "$out" .summary.sent)
  completed=$(jqr "$out" .summary.completed)
  errors=$(jqr "$out" .summary.errors)
  expect_eq "$name: sent" "$sent" "$planned"
  expect_eq "$name: dropped" "$(jqr "$out" .summary.dropped)" 0
  expect_eq "$name: errors" "$errors" 0
  inflight=$((sent - completed - errors))
  expect_between "$name: in flight at the end (sent - completed - errors)" "$inflight" 0 $conns
  expect_eq "$name: in flight at the end = abandoned" "$inflight" "$(jqr "$out" '.summary.abandoned // 0')"
  expect_eq "$name: completed + in flight = rate x duration" $((completed + inflight)) "$planned"
  expect_eq "$name: requests = completed" "$(jqr "$out" .summary.requests)" "$completed"
  # the target has every request mortar counts as answered; the ones in flight at the end may
  # still be on their way through its socket when the stats are taken
  expect_between "$name: target requests" "$(jqr "$st" .requests)" $((sent - inflight)) "$sent"
  expect_eq "$name: sum of seconds' sent" "$(jqr "$out" '[.seconds[].sent] | add')" "$sent"
  expect_eq "$name: sum of seconds' completed" "$(jqr "$out" '[.seconds[].completed] | add')" "$completed"
}

# 500/s for 4 s over two threads (each sends every other request of the plan)
check r500 500 4s 2 2000
# a fractional rate: 333.5/s for 3 s holds 1000.5 requests, rounded up (docs/schedules.md)
check r333_5 333.5 3s 3 1001
