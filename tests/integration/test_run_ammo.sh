# Yandex.Tank ammo through mortar run: requests and tags from the file, per-tag results in the
# JSON and phout, gzip, the other formats, and bad ammo named by file and line (exit 2).
source "$(dirname "$0")/lib.sh"
start_target

cat >"$WORK/uri.ammo" <<'AMMO'
[Connection: keep-alive]
[Cookie: None]
/?status=200 ok
/?status=404 missing
[Cookie: test]
/?status=503 broken
AMMO
out="$WORK/uri.json"
ph="$WORK/uri.phout"
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(300, 1s)' -d 1.5s -c 4 -t 1 --ammo "$WORK/uri.ammo" \
  --phout "$ph" --json "$out" "$TARGET_URL/" >/dev/null || fail "uri ammo run exited $?"
# sequential order: each of the three requests a third of the time, each under its tag (the
# schedule ends before the run, so nothing is in flight at the end and the counts are exact)
expect_eq "tag ok: 200s" "$(jqr "$out" '.summary.tags.ok.status["200"]')" 100
expect_eq "tag missing: 404s" "$(jqr "$out" '.summary.tags.missing.status["404"]')" 100
expect_eq "tag broken: 503s" "$(jqr "$out" '.summary.tags.broken.status["503"]')" 100
expect_eq "per-second tags add up" "$(jqr "$out" '[.seconds[].tags.ok.completed] | add')" 100
expect_eq "phout lines tagged broken" "$(awk -F'\t' '$2 == "broken" && $12 == 503' "$ph" | wc -l)" 100
jq -e '.histograms.tags.ok | startswith("HIST")' "$out" >/dev/null || fail "no per-tag histogram"
pass "per-tag histogram"

# gzip: the same file compressed gives the same requests
gzip -c "$WORK/uri.ammo" >"$WORK/uri.ammo.gz"
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(30, 1s)' -d 1.5s -c 2 -t 1 --ammo "$WORK/uri.ammo.gz" \
  --json "$out" "$TARGET_URL/" >/dev/null || fail "gzip ammo run exited $?"
expect_eq "gzip: 404s" "$(jqr "$out" '.summary.status["404"]')" 10

# uripost: POST with the exact body length
printf '[Host: example.org]\n5 /?status=201 post\nhello\n' >"$WORK/post.ammo"
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(20, 1s)' -d 1.5s -c 2 -t 1 --ammo "$WORK/post.ammo" \
  --ammo-type uripost --json "$out" "$TARGET_URL/" >/dev/null || fail "uripost run exited $?"
expect_eq "uripost: 201s" "$(jqr "$out" '.summary.tags.post.status["201"]')" 20

# phantom: raw requests, sizes counted in bytes
req=$'GET /?status=202 HTTP/1.1\r\nHost: x\r\n\r\n'
printf '%d raw\n%s\n' "${#req}" "$req" >"$WORK/raw.ammo"
timeout $((30 * SLOW)) "$MORTAR" run -q --schedule 'const(20, 1s)' -d 1.5s -c 2 -t 1 --ammo "$WORK/raw.ammo" \
  --json "$out" "$TARGET_URL/" >/dev/null || fail "phantom run exited $?"
expect_eq "phantom: 202s" "$(jqr "$out" '.summary.tags.raw.status["202"]')" 20
expect_eq "phantom: bytes out" "$(jqr "$out" .summary.bytes_out)" "$((20 * ${#req}))"

# random order is reproducible for a given seed
a=$("$MORTAR" run -q --schedule 'const(100, 1s)' -d 1.5s -c 1 -t 1 --ammo "$WORK/uri.ammo" --ammo-order random --seed 7 \
  --json - "$TARGET_URL/" 2>/dev/null | jq -c '[.summary.tags[] | .requests]')
b=$("$MORTAR" run -q --schedule 'const(100, 1s)' -d 1.5s -c 1 -t 1 --ammo "$WORK/uri.ammo" --ammo-order random --seed 7 \
  --json - "$TARGET_URL/" 2>/dev/null | jq -c '[.summary.tags[] | .requests]')
expect_eq "random order with a seed repeats" "$a" "$b"

# bad ammo: file and line named, exit 2, nothing sent
printf '/ok\n[Host example.org]\n/\n' >"$WORK/bad.ammo"
set +e
"$MORTAR" run -q --schedule 'const(10, 1s)' -d 1.5s --ammo "$WORK/bad.ammo" "$TARGET_URL/" 2>"$WORK/err" >/dev/null
rc=$?
set -e
expect_eq "bad ammo exit" "$rc" 2
grep -q "bad.ammo:2:" "$WORK/err" || fail "message lacks file:line: $(cat "$WORK/err")"
pass "bad ammo: $(head -n1 "$WORK/err")"
