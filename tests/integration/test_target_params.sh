# The built-in target and query parameters it does not know (issue 19, item 13): recorded ammo
# carries the application's own parameters. By default the target ignores them (and counts
# them in /__mortar/stats); with --strict-params they are answered 400 as bad parameters. The
# ammo is docs/ammo.md's own examples, read from the document, so the docs stay true.
source "$(dirname "$0")/lib.sh"
DOC="${MT_SOURCE_DIR:-$(dirname "$0")/../..}/docs/ammo.md"

# doc_block HEADING: the first fenced block after the line "HEADING" in docs/ammo.md.
doc_block() {
  awk -v h="$1" '$0 == h { f = 1; next } f && /^```/ { if (b) exit; b = 1; next } b { print }' "$DOC"
}
doc_block '## uri: one GET per line' >"$WORK/uri.ammo"
doc_block '## uripost: one POST per body' >"$WORK/post.ammo"
grep -q '^/buy/?rt=0&station_to=7&station_from=9$' "$WORK/uri.ammo" ||
  fail "docs/ammo.md's uri example changed: $(cat "$WORK/uri.ammo")"
grep -q '^5 /route/?rll=1&origin=1$' "$WORK/post.ammo" ||
  fail "docs/ammo.md's uripost example changed: $(cat "$WORK/post.ammo")"

# run AMMO TYPE N OUT: N requests of the ammo, in order, all answered before the run ends
run() {
  timeout $((30 * SLOW)) "$MORTAR" run -q --schedule "const($3, 1s)" -d 1.5s -c 2 -t 1 \
    --ammo "$1" --ammo-type "$2" --json "$4" "$TARGET_URL/" >/dev/null ||
    fail "$2 ammo run exited $?"
}

# default: the application's parameters are ignored; every response is a 200
start_target --threads 1
target_stats "$WORK/before.json"
run "$WORK/uri.ammo" uri 40 "$WORK/uri.json"
run "$WORK/post.ammo" uripost 20 "$WORK/post.json"
expect_eq "uri example: statuses" "$(jq -c .summary.status "$WORK/uri.json")" '{"200":40}'
expect_eq "uripost example: statuses" "$(jq -c .summary.status "$WORK/post.json")" '{"200":20}'
target_stats_since "$WORK/before.json" "$WORK/since.json"
# per pass of the uri file: drg (1) + rt, station_to, station_from (3); uripost: rll, origin
expect_eq "stats: unknown parameters counted" "$(jqr "$WORK/since.json" .unknown_params)" \
  $((10 * 4 + 10 * 2))
expect_eq "stats: no bad parameters" "$(jqr "$WORK/since.json" .bad_params)" 0
expect_eq "stats: lenient mode" "$(jqr "$WORK/since.json" .strict_params)" false
# a known parameter next to unknown ones still applies, and a bad value of one is still a 400
expect_eq "unknown and known together" \
  "$(curl -sS -o /dev/null -w '%{http_code}' "$TARGET_URL/buy/?rt=0&status=503&x")" 503
expect_eq "bad value of a known parameter" \
  "$(curl -sS -w ' %{http_code}' "$TARGET_URL/?page=1&delay=soon")" \
  "delay: 'soon' is not a duration (like 50ms), range (10ms..200ms) or exp:MEAN
 400"
stop_target

# --strict-params: the same ammo gets 400s for the URIs with the application's parameters
start_target --threads 1 --strict-params
target_stats "$WORK/before.json"
run "$WORK/uri.ammo" uri 40 "$WORK/uri.json"
expect_eq "strict: uri example statuses" "$(jq -c .summary.status "$WORK/uri.json")" \
  '{"200":20,"400":20}'
expect_eq "strict: the 400s are the URIs with parameters" \
  "$(jq -c '[.summary.tags.tag1.status, .summary.tags.tag2.status]' "$WORK/uri.json")" \
  '[{"400":10},{"200":10}]'
target_stats_since "$WORK/before.json" "$WORK/since.json"
expect_eq "strict: bad parameters" "$(jqr "$WORK/since.json" .bad_params)" 20
expect_eq "strict: none ignored" "$(jqr "$WORK/since.json" .unknown_params)" 0
expect_eq "strict: mode" "$(jqr "$WORK/since.json" .strict_params)" true
expect_eq "strict: the message names the parameter" "$(curl -sS "$TARGET_URL/?drg")" \
  "unknown query parameter: 'drg' (known: status, size, delay, chunked, close, reset, slow, malformed)"
stop_target
