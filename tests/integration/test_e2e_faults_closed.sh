# Claim (e), all faults at once in the closed model, where requests are still in flight when
# the run ends: resets, malformed replies (status line, chunk size, oversized headers,
# truncated body), chunked bodies and a status mix, on keep-alive connections and with
# `close=1`. The run finishes (also under ASan+UBSan: the sanitizer build runs this same
# test), errors are only of the kinds the faults cause, and mortar's counts differ from the
# target's only by what was in flight at the end: each abandoned request became at most one
# response, reset or malformed reply at the target.
# Then a slow body (slow=) longer than --timeout: every request fails as a timeout.
source "$(dirname "$0")/lib.sh"
start_target --reset 4 --malformed 4 --seed 11
conns=8

# chaos NAME QUERY: a 3 s closed-model run, then mortar's counts against the target's.
chaos() {
  local name=$1 query=$2 out="$WORK/$1.json" st="$WORK/$1.stats.json"
  local sent completed errors inflight d_resp d_reset d_proto d_closed kind
  target_stats "$WORK/$name.before.json"
  run_json "$out" 60 -c $conns -t 2 -d 3s "$TARGET_URL/?$query"
  target_stats_since "$WORK/$name.before.json" "$st"

  sent=$(jqr "$out" .summary.sent)
  completed=$(jqr "$out" .summary.completed)
  errors=$(jqr "$out" .summary.errors)
  inflight=$((sent - completed - errors))
  [[ $completed -gt 100 ]] || fail "$name: only $completed requests completed"
  expect_between "$name: in flight at the end" "$inflight" 0 $conns
  expect_eq "$name: in flight at the end = abandoned" "$inflight" "$(jqr "$out" '.summary.abandoned // 0')"
  for kind in refused timeout dns other; do
    expect_eq "$name: errors_by_kind.$kind" "$(jqr "$out" .summary.errors_by_kind.$kind)" 0
  done
  expect_eq "$name: errors = reset + protocol + closed" \
    "$(jqr "$out" '.summary.errors_by_kind | .reset + .protocol + .closed')" "$errors"
  expect_jq "$name: some resets, protocol errors and closes" "$out" \
    '.summary.errors_by_kind | .reset > 0 and .protocol > 0 and .closed > 0'
  # target minus mortar, per outcome: each >= 0, and together at most what was in flight
  d_resp=$(($(jqr "$st" '[.responses[]] | add // 0') - completed))
  d_reset=$(($(jqr "$st" .resets) - $(jqr "$out" .summary.errors_by_kind.reset)))
  d_proto=$(($(jqr "$st" '.malformed_by_kind | .status_line + .chunk_size + .oversized_headers') - \
    $(jqr "$out" .summary.errors_by_kind.protocol)))
  d_closed=$(($(jqr "$st" .malformed_by_kind.truncated) - $(jqr "$out" .summary.errors_by_kind.closed)))
  expect_between "$name: target responses - completed" $d_resp 0 "$inflight"
  expect_between "$name: target resets - reset errors" $d_reset 0 "$inflight"
  expect_between "$name: target status/chunk/header faults - protocol errors" $d_proto 0 "$inflight"
  expect_between "$name: target truncated - closed errors" $d_closed 0 "$inflight"
  expect_between "$name: all differences together" $((d_resp + d_reset + d_proto + d_closed)) 0 "$inflight"
  expect_between "$name: sent - target requests" $((sent - $(jqr "$st" .requests))) 0 "$inflight"
  expect_jq "$name: status counts only of the mix" "$out" \
    '.summary.status | with_entries(select(.value != 0)) | keys - ["200", "500"] == []'
}

# keep-alive connections, closed only by the faults
chaos keepalive 'status=200:80,500:20&size=20k&chunked=1'
# and a new connection for every request (Connection: close)
chaos close 'status=200:80,500:20&size=20k&chunked=1&close=1'
expect_jq "close: a connection per request" "$WORK/close.json" \
  '.summary.connects >= .summary.completed'

# A 100 KiB body at 10 KiB/s takes 10 s; with --timeout 300ms no request completes, each one
# is a timeout, and the receive side never crashes on the partial bodies. (A target without
# the faults above.)
stop_target
start_target
out="$WORK/slow.json"
run_json "$out" 60 -c 4 -t 1 -d 2s --timeout 300ms "$TARGET_URL/?size=100k&slow=10240"
sent=$(jqr "$out" .summary.sent)
expect_eq "slow: completed" "$(jqr "$out" .summary.completed)" 0
expect_eq "slow: errors = timeouts" "$(jqr "$out" .summary.errors)" "$(jqr "$out" .summary.errors_by_kind.timeout)"
# each connection's requests start at 0, 300, ..., 1800 ms: 7 at most; the last ones time out
# in the run's grace (docs/measurement.md "The end of the run"), so every request sent is one
expect_between "slow: timeouts (4 connections x at most 7 periods of 300 ms in 2 s)" \
  "$(jqr "$out" .summary.errors_by_kind.timeout)" 16 28
expect_eq "slow: every request sent timed out (none abandoned)" "$(jqr "$out" .summary.errors)" "$sent"
expect_jq "slow: bytes arrived before the timeouts" "$out" '.summary.bytes_in > 0'
