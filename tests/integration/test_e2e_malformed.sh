# Claim (e), malformed replies: a broken status line, a bad chunk size and oversized headers
# are errors_by_kind.protocol; a body cut short by the server closing is errors_by_kind.closed.
# Each matches the target's count of what it sent, kind by kind; everything else completes;
# the server closes after each malformed reply, so mortar reconnects. Nothing is in flight at
# the end (the schedule ends 0.5 s before the run), so the counts must match exactly.
source "$(dirname "$0")/lib.sh"
start_target --malformed 20 --seed 5
out="$WORK/malformed.json"
st="$WORK/malformed.stats.json"
target_stats "$WORK/before.json"
run_json "$out" 60 --schedule 'const(200, 3s)' -d 3.5s -c 20 -t 2 "$TARGET_URL/"
target_stats_since "$WORK/before.json" "$st"

bad=$(jqr "$st" .malformed)
expect_between "target malformed replies (20% of 600: binomial, 5 sd)" "$bad" 70 170
expect_eq "malformed = sum of its kinds" "$(jqr "$st" '[.malformed_by_kind[]] | add')" "$bad"
for kind in status_line chunk_size truncated oversized_headers; do
  expect_between "target malformed $kind" "$(jqr "$st" ".malformed_by_kind.$kind")" 1 600
done
proto=$(jqr "$st" '.malformed_by_kind | .status_line + .chunk_size + .oversized_headers')
trunc=$(jqr "$st" .malformed_by_kind.truncated)
expect_eq "protocol = status line + chunk size + oversized headers" \
  "$(jqr "$out" .summary.errors_by_kind.protocol)" "$proto"
# a truncated body ends when the server closes: it must not wait for --timeout
expect_eq "timeouts" "$(jqr "$out" .summary.errors_by_kind.timeout)" 0
expect_eq "closed = truncated" "$(jqr "$out" .summary.errors_by_kind.closed)" "$trunc"
expect_eq "errors = malformed (no other kind)" "$(jqr "$out" .summary.errors)" "$bad"
expect_eq "sent" "$(jqr "$out" .summary.sent)" 600
expect_eq "target requests = sent" "$(jqr "$st" .requests)" 600
expect_eq "completed = sent - malformed" "$(jqr "$out" .summary.completed)" $((600 - bad))
expect_eq "status counts = target responses" \
  "$(jq -cS '.summary.status | with_entries(select(.value != 0))' "$out")" \
  "$(jq -cS '.responses | with_entries(select(.value != 0))' "$st")"
expect_eq "connects = target connections accepted" "$(jqr "$out" .summary.connects)" "$(jqr "$st" .connections_accepted)"
expect_jq "connects >= malformed (the server closes after each)" "$out" ".summary.connects >= $bad"
