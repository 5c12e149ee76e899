# --phout: one Phantom line per finished request (12 tab-separated columns, microseconds),
# successes and failures alike, consistent with the JSON summary.
source "$(dirname "$0")/lib.sh"
start_target
ph="$WORK/phout.txt"
out="$WORK/res.json"
# the schedule ends half a second before the run, so nothing is in flight at the end and
# every request sent has its line
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(200, 1s)' -d 1.5s -c 4 -t 2 --phout "$ph" \
  --json "$out" "$TARGET_URL/?size=100" >/dev/null || fail "mortar run exited $?"
done_=$(jqr "$out" .summary.requests)
expect_eq "phout lines = completed + errors" "$(wc -l <"$ph")" "$((done_ + $(jqr "$out" .summary.errors)))"
awk -F'\t' 'NF != 12 { print "line " NR ": " NF " columns"; exit 1 }' "$ph" || fail "phout column count"
pass "12 columns on every line"
awk -F'\t' '$1 !~ /^[0-9]+\.[0-9][0-9][0-9]$/ { print "line " NR ": time " $1; exit 1 }' "$ph" ||
  fail "phout time column"
expect_eq "proto_code 200 lines" "$(awk -F'\t' '$12 == 200 && $11 == 0' "$ph" | wc -l)" "$done_"
# every response has the same size; size_in per line adds up to the JSON's bytes_in
expect_eq "sum of size_in = bytes_in" "$(awk -F'\t' '{ s += $10 } END { print s }' "$ph")" \
  "$(jqr "$out" .summary.bytes_in)"
expect_eq "sum of size_out = bytes_out" "$(awk -F'\t' '{ s += $9 } END { print s }' "$ph")" \
  "$(jqr "$out" .summary.bytes_out)"
# interval_real >= latency (wait) for every line
awk -F'\t' '$3 < $6 { print "line " NR; exit 1 }' "$ph" || fail "interval_real < latency"
pass "interval_real covers latency"

# failures carry the errno in net_code: 111 for a refused connection
port=$(refused_port)
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(50, 1s)' -d 1.5s -c 2 -t 1 --phout "$ph" \
  "http://127.0.0.1:$port/" >/dev/null || fail "refused run exited $?"
expect_eq "refused lines" "$(awk -F'\t' '$11 == 111 && $12 == 0' "$ph" | wc -l)" 50
