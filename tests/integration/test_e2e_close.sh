# Claim (e), closes: a server that closes after every response (`close=1`, "Connection: close")
# causes no errors; mortar opens a new connection for every request, and the reconnects show
# in `connects`, in both models.
source "$(dirname "$0")/lib.sh"
start_target

# Open model; nothing in flight at the end (the schedule ends 0.5 s before the run).
out="$WORK/open.json"
st="$WORK/open.stats.json"
target_stats "$WORK/before.json"
run_json "$out" 60 --schedule 'const(200, 2s)' -d 2.5s -c 10 -t 1 "$TARGET_URL/?close=1"
target_stats_since "$WORK/before.json" "$st"
expect_eq "open: errors" "$(jqr "$out" .summary.errors)" 0
expect_eq "open: sent" "$(jqr "$out" .summary.sent)" 400
expect_eq "open: completed" "$(jqr "$out" .summary.completed)" 400
expect_eq "open: connects (one per request)" "$(jqr "$out" .summary.connects)" 400
expect_eq "open: target connections accepted" "$(jqr "$st" .connections_accepted)" 400
expect_eq "open: target closes (one per response)" "$(jqr "$st" .closes)" 400
expect_eq "open: target responses" "$(jqr "$st" '.responses["200"] // 0')" 400

# Closed model: every request is preceded by exactly one connect (a request whose connect is
# still in progress at the end is in neither count).
out="$WORK/closed.json"
run_json "$out" 60 -c 4 -t 1 -d 2s "$TARGET_URL/?close=1"
sent=$(jqr "$out" .summary.sent)
expect_eq "closed: errors" "$(jqr "$out" .summary.errors)" 0
expect_between "closed: in flight at the end" $((sent - $(jqr "$out" .summary.completed))) 0 4
expect_eq "closed: connects = sent" "$(jqr "$out" .summary.connects)" "$sent"
[[ $sent -gt 100 ]] || fail "closed: only $sent requests"
pass "closed: $sent requests on $sent connections"
