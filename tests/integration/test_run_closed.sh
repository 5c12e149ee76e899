# Closed model against the built-in target: counts agree with themselves and the JSON is whole.
source "$(dirname "$0")/lib.sh"
start_target
out="$WORK/closed.json"
timeout $((60 * SLOW)) "$MORTAR" run -q -c 8 -t 2 -d 2s --json "$out" "$TARGET_URL/" >"$WORK/stdout" ||
  fail "mortar run exited $?"
grep -q 'Requests/sec' "$WORK/stdout" || fail "no summary on stdout"
expect_eq schema "$(jqr "$out" .schema)" mortar.result/v1
expect_eq model "$(jqr "$out" .config.model)" closed
req=$(jqr "$out" .summary.requests)
[[ $req -gt 0 ]] || fail "no requests completed"
expect_eq "status 200 = requests" "$(jqr "$out" '.summary.status["200"]')" "$req"
expect_eq errors "$(jqr "$out" .summary.errors)" 0
expect_eq "sum of seconds = requests" "$(jqr "$out" '[.seconds[].completed] | add')" "$req"
nsec=$(jqr "$out" '.seconds | length')
expect_between "seconds" "$nsec" 2 3
# the latency quantiles are ordered and the encoded histogram is present
jq -e '.summary.latency_us | .p50 <= .p90 and .p90 <= .p99 and .p99 <= .max' "$out" >/dev/null ||
  fail "quantiles out of order"
jq -e '.histograms.latency | startswith("HIST")' "$out" >/dev/null || fail "no encoded histogram"
pass "closed model"
