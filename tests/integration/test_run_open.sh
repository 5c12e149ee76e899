# Open model: the plan is followed exactly (due = rate x duration) and nothing is lost.
source "$(dirname "$0")/lib.sh"
start_target
out="$WORK/open.json"
timeout $((60 * SLOW)) "$MORTAR" run -q -R 1000 -d 3s -c 20 -t 2 --json "$out" "$TARGET_URL/" >/dev/null ||
  fail "mortar run exited $?"
expect_eq model "$(jqr "$out" .config.model)" open
expect_eq due "$(jqr "$out" .summary.due)" 3000
expect_eq dropped "$(jqr "$out" .summary.dropped)" 0
expect_eq errors "$(jqr "$out" .summary.errors)" 0
# requests due in the last moments may still wait for a connection when the run ends (they
# stay visible as backlog): sent is the plan minus at most what -c could not take at the end
expect_between sent "$(jqr "$out" .summary.sent)" 2980 3000
# completed = sent minus what was still in flight when the run ended (at most -c)
expect_between completed "$(jqr "$out" .summary.requests)" 2980 3000
# each full second carries its share of the plan
jq -e '[.seconds[] | select(.span_s >= 0.999) | .due] | all(. == 1000)' "$out" >/dev/null ||
  fail "per-second due is not 1000: $(jq -c '[.seconds[].due]' "$out")"
pass "per-second due = 1000"

# A ramp: line(100, 500, 2s) then const(200, 1s): (100+500)/2*2 + 200 = 800 requests due.
out2="$WORK/ramp.json"
timeout $((60 * SLOW)) "$MORTAR" run -q --schedule 'line(100, 500, 2s) const(200, 1s)' -c 20 \
  --json "$out2" "$TARGET_URL/" >/dev/null || fail "ramp run exited $?"
expect_eq "ramp due" "$(jqr "$out2" .summary.due)" 800
expect_eq "ramp errors" "$(jqr "$out2" .summary.errors)" 0
