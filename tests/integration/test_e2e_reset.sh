# Claim (e), resets: a connection reset by the server is counted as errors_by_kind.reset, one
# per reset the target made, and as nothing else; every other request completes; each reset
# costs a connection, so mortar reconnects (connects >= resets). Nothing is in flight at the
# end (the schedule ends 0.5 s before the run), so the counts must match exactly.
source "$(dirname "$0")/lib.sh"
start_target --seed 3
out="$WORK/reset.json"
st="$WORK/reset.stats.json"
target_stats "$WORK/before.json"
run_json "$out" 60 --schedule 'const(200, 3s)' -d 3.5s -c 20 -t 2 "$TARGET_URL/?reset=10"
target_stats_since "$WORK/before.json" "$st"

resets=$(jqr "$st" .resets)
expect_between "target resets (10% of 600: binomial, 5 sd)" "$resets" 23 97
expect_eq "errors_by_kind.reset = target resets" "$(jqr "$out" .summary.errors_by_kind.reset)" "$resets"
expect_eq "errors = resets (no other kind)" "$(jqr "$out" .summary.errors)" "$resets"
expect_eq "sent" "$(jqr "$out" .summary.sent)" 600
expect_eq "target requests = sent" "$(jqr "$st" .requests)" 600
expect_eq "completed = sent - resets" "$(jqr "$out" .summary.completed)" $((600 - resets))
expect_eq "completed = target responses" "$(jqr "$out" .summary.completed)" "$(jqr "$st" '[.responses[]] | add // 0')"
expect_eq "connects = target connections accepted" "$(jqr "$out" .summary.connects)" "$(jqr "$st" .connections_accepted)"
expect_jq "connects >= resets (each reset ends a connection)" "$out" ".summary.connects >= $resets"
expect_eq "seconds' errors add up" "$(jqr "$out" '[.seconds[].errors] | add')" "$resets"
