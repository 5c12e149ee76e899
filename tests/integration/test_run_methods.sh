# Methods and bodies: HEAD responses carry no body whatever Content-Length says (the parser is
# told), POST sends its body with Content-Length, custom headers reach the server.
source "$(dirname "$0")/lib.sh"
start_target

out="$WORK/head.json"
timeout $((30 * SLOW)) "$MORTAR" run -q -m HEAD --schedule 'const(200, 1s)' -d 1.5s -c 2 -t 1 --json "$out" \
  "$TARGET_URL/?size=100000" >/dev/null || fail "HEAD run exited $?"
expect_eq "HEAD completed" "$(jqr "$out" .summary.requests)" 200
expect_eq "HEAD errors" "$(jqr "$out" .summary.errors)" 0
# had the 100,000-byte bodies been expected, every response would be a timeout
per=$(jqr "$out" '.summary.bytes_in / .summary.requests | floor')
expect_between "HEAD bytes per response" "$per" 1 1000

out="$WORK/post.json"
printf 'hello world' >"$WORK/body.txt"
timeout $((30 * SLOW)) "$MORTAR" run -q -m POST --body @"$WORK/body.txt" -H 'Content-Type: text/plain' \
  --schedule 'const(100, 1s)' -d 1.5s -c 2 -t 1 --json "$out" "$TARGET_URL/" >/dev/null || fail "POST run exited $?"
expect_eq "POST completed" "$(jqr "$out" .summary.requests)" 100
expect_eq "POST 200" "$(jqr "$out" '.summary.status["200"]')" 100
# request bytes: the head plus the 11-byte body, the same for every request
out_per=$(jqr "$out" '.summary.bytes_out / .summary.sent')
[[ $out_per =~ ^[0-9]+$ ]] || fail "bytes_out is not a whole multiple of sent: $out_per"
pass "POST bytes per request: $out_per"
