# Claim (a): what mortar reports is what the target did. Status counts, responses, connections
# and bytes in mortar's JSON equal the target's own counters (GET /__mortar/stats) exactly.
# For exact equality nothing may be in flight when the run ends: the schedule ends 0.5 s before
# the run does, so every request has its answer (sent == completed + errors) before mortar exits.
source "$(dirname "$0")/lib.sh"
start_target --seed 42

nz='with_entries(select(.value != 0))' # a status map without zero counts

# check NAME RATE QUERY: 3 s at RATE (open model), then compare with the target's counters.
check() {
  local name=$1 rate=$2 query=$3 out="$WORK/$1.json" st="$WORK/$1.stats.json" planned
  planned=$((rate * 3))
  target_stats "$WORK/$name.before.json"
  run_json "$out" 60 --schedule "const($rate, 3s)" -d 3.5s -c 20 -t 2 "$TARGET_URL/?$query"
  target_stats_since "$WORK/$name.before.json" "$st"

  expect_eq "$name: due" "$(jqr "$out" .summary.due)" "$planned"
  expect_eq "$name: sent" "$(jqr "$out" .summary.sent)" "$planned"
  expect_eq "$name: errors" "$(jqr "$out" .summary.errors)" 0
  expect_eq "$name: completed (nothing in flight at the end)" "$(jqr "$out" .summary.completed)" "$planned"
  expect_eq "$name: target requests = sent" "$(jqr "$st" .requests)" "$planned"
  expect_eq "$name: status counts = target responses" \
    "$(jq -cS ".summary.status | $nz" "$out")" "$(jq -cS ".responses | $nz" "$st")"
  expect_eq "$name: bytes_in = target bytes_sent" \
    "$(jqr "$out" .summary.bytes_in)" "$(jqr "$st" .bytes_sent)"
  expect_eq "$name: connects = target connections accepted" \
    "$(jqr "$out" .summary.connects)" "$(jqr "$st" .connections_accepted)"
  expect_eq "$name: target resets" "$(jqr "$st" .resets)" 0
  expect_eq "$name: target malformed" "$(jqr "$st" .malformed)" 0
  expect_eq "$name: target bad params" "$(jqr "$st" .bad_params)" 0
  # the sum of the seconds is the summary
  expect_eq "$name: sum of seconds' completed" "$(jqr "$out" '[.seconds[].completed] | add')" "$planned"
  expect_eq "$name: sum of seconds' bytes_in" "$(jqr "$out" '[.seconds[].bytes_in] | add')" \
    "$(jqr "$out" .summary.bytes_in)"
  # the generator's own CPU: summed over seconds, the busiest thread-second the largest of the
  # seconds' (each at most its second's total), and no more than 2 threads can use in the run
  expect_jq "$name: generator CPU measured" "$out" '.summary.generator.cpu_us > 0'
  expect_eq "$name: sum of seconds' generator CPU" \
    "$(jqr "$out" '[.seconds[].generator.cpu_us // 0] | add')" "$(jqr "$out" .summary.generator.cpu_us)"
  expect_eq "$name: busiest thread = the largest second's" \
    "$(jqr "$out" '[.seconds[].generator.busiest_thread_cpu_us // 0] | max')" \
    "$(jqr "$out" .summary.generator.busiest_thread_cpu_us)"
  expect_jq "$name: a second's busiest thread within its total" "$out" \
    '[.seconds[] | select(.generator) | .generator.busiest_thread_cpu_us <= .generator.cpu_us] | all'
  expect_jq "$name: generator CPU within 2 threads x (run + setup)" "$out" \
    '.summary.generator.cpu_us <= 2 * (.summary.duration_s + 1) * 1000000'
}

# A 90/10 mix of 200 and 503 with a 1000-byte body (Content-Length).
check mix 200 'status=200:90,503:10&size=1000'
# the mix is the one asked for: 60 of 600 expected to be 503 (binomial sd 7.3; 5 sd either side)
expect_between "mix: 503 responses" "$(jqr "$WORK/mix.json" '.summary.status["503"] // 0')" 23 97
expect_between "mix: 200 responses" "$(jqr "$WORK/mix.json" '.summary.status["200"] // 0')" 503 577

# Chunked bodies larger than mortar's 64 KiB receive buffer, three statuses.
check chunked 100 'status=200:50,404:30,503:20&size=100k&chunked=1'
expect_jq "chunked: bytes_in > 100 KiB per response" "$WORK/chunked.json" \
  '.summary.bytes_in > 300 * 102400'
