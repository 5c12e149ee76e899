#!/usr/bin/env bash
# mortar report: pages and tables from real runs against the built-in target, exit codes and
# messages on bad input, atomic writes; then the browser test (tests/browser/, Node's test
# runner driving Debian's chromium), which checks that every chart draws and saves screenshots
# into test-artifacts/ beside the binary.
source "$(dirname "$0")/lib.sh"

SRC=${MT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ARTIFACTS="$(dirname "$MORTAR")/test-artifacts"

start_target
run_json "$WORK/a.json" 30 -R 200 -d 3s "$TARGET_URL/?delay=exp:1ms"
run_json "$WORK/b.json" 30 -c 4 -d 3s "$TARGET_URL/?status=200:90,503:7,404:3&delay=exp:2ms&reset=1"
run_json "$WORK/tr.json" 30 -c 4 -d 2s --trace --trace-url 'https://tempo.internal/trace/{trace_id}' \
  "$TARGET_URL/?status=200:80,500:20&delay=exp:1ms"
stop_target

# report RC ARGS...: runs `mortar report ARGS`, expecting exit status RC; output in $WORK/out, $WORK/err
report() {
  local want=$1 rc=0
  shift
  timeout $((60 * SLOW)) "$MORTAR" report "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq $want ]] || { cat "$WORK/err" >&2; fail "mortar report $*: exit $rc, want $want"; }
}
expect_err() { grep -qF -- "$1" "$WORK/err" || fail "stderr lacks '$1': $(head -c 400 "$WORK/err")"; pass "message: $1"; }
expect_out() { grep -qF -- "$1" "$WORK/out" || fail "stdout lacks '$1': $(head -c 400 "$WORK/out")"; pass "table: $1"; }
no_tmp() { [[ -z $(find "$WORK" -name '*.tmp.*' -print -quit) ]] || fail "a temporary file was left: $(find "$WORK" -name '*.tmp.*')"; }

# ---- one run ------------------------------------------------------------------------------
report 0 "$WORK/a.json" -o "$WORK/a.html"
[[ -s $WORK/a.html ]] || fail "no page written"
[[ ! -s $WORK/out ]] || fail "stdout not empty with -o and one run: $(head -c 200 "$WORK/out")"
grep -q '<script type="application/json" id="mortar-data">{' "$WORK/a.html" || fail "no data in the page"
grep -q 'var uPlot=' "$WORK/a.html" || fail "uPlot is not inline"
if grep -qE '<script[^>]* src=|<link ' "$WORK/a.html"; then fail "the page loads something"; fi
if grep -q 'HISTF' "$WORK/a.html"; then fail "histogram strings were embedded"; fi
size=$(stat -c %s "$WORK/a.html")
expect_between "page size (bytes)" "$size" 60000 400000
no_tmp
pass "page written"

report 0 "$WORK/a.json"
expect_out "a.json: GET $TARGET_URL/?delay=exp:1ms, open model"
expect_out "achieved rps"
expect_out "Latency (from due time)"

report 0 - -o - <"$WORK/a.json"
grep -q '</html>' "$WORK/out" || fail "-o - did not write the page to stdout"
pass "stdin in, page to stdout"

# ---- comparison -----------------------------------------------------------------------------
report 0 "$WORK/a.json" --compare "$WORK/b.json" -o "$WORK/ab.html"
[[ -s $WORK/ab.html ]] || fail "no comparison page"
expect_out "A = a.json"
expect_out "B = b.json"
expect_out "B - A"
grep -E '^  requests +[0-9]+ +[0-9]+ +[-+0-9]+ +([-+0-9.]+%|new)$' "$WORK/out" >/dev/null ||
  fail "no requests row: $(grep requests "$WORK/out")"
pass "comparison table"
report 0 -o "$WORK/ba.html" --compare "$WORK/a.json" "$WORK/b.json"
pass "flags before and after the file"

# ---- bad input: exit 2 and a message naming the file and the field --------------------------
printf 'not json' >"$WORK/bad.json"
report 2 "$WORK/bad.json" -o "$WORK/bad.html"
expect_err "mortar report: bad.json: not JSON: line 1"
[[ ! -e $WORK/bad.html ]] || fail "a page was written for bad input"
: >"$WORK/empty.json"
report 2 "$WORK/empty.json"
expect_err "empty.json: not JSON"
jq '.schema = "mortar.result/v0"' "$WORK/a.json" >"$WORK/v0.json"
report 2 "$WORK/v0.json" -o "$WORK/v0.html"
expect_err "v0.json: schema is 'mortar.result/v0', this mortar reads 'mortar.result/v1'"
jq 'del(.seconds[1].completed)' "$WORK/a.json" >"$WORK/nocompleted.json"
report 2 "$WORK/a.json" --compare "$WORK/nocompleted.json"
expect_err "nocompleted.json: seconds[1].completed: missing"
jq '.summary.latency_us.p99 = "fast"' "$WORK/a.json" >"$WORK/str.json"
report 2 "$WORK/str.json"
expect_err "str.json: summary.latency_us.p99: a string, not a number"
report 2 "$WORK/nope.json"
expect_err "nope.json: cannot open: No such file or directory"
report 2
expect_err "missing RESULT.json"
report 2 "$WORK/a.json" --frobnicate
expect_err "unknown option '--frobnicate'"
report 2 "$WORK/a.json" --compare
expect_err "--compare needs a value"
report 2 "$WORK/a.json" "$WORK/b.json"
expect_err "one result at a time"
no_tmp

# ---- output errors: exit 1, nothing left behind ---------------------------------------------
report 1 "$WORK/a.json" -o "$WORK/no/such/dir/r.html"
expect_err "cannot create '$WORK/no/such/dir/r.html.tmp."
report 0 "$WORK/a.json" -o /dev/null
pass "a device is written in place"
report 0 --help
expect_out "usage: mortar report RESULT.json"

# ---- the pages in a browser -----------------------------------------------------------------
command -v node >/dev/null || fail "node is missing: scripts/deps.sh test"
[[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is missing: scripts/deps.sh test (apt-get install chromium)"
[[ -d $SRC/node_modules/playwright-core ]] || fail "$SRC/node_modules/playwright-core is missing: configure runs npm ci"
mkdir -p "$ARTIFACTS"
rc=0
MORTAR="$MORTAR" MT_RESULT_A="$WORK/a.json" MT_RESULT_B="$WORK/b.json" MT_RESULT_TRACE="$WORK/tr.json" MT_ARTIFACT_DIR="$ARTIFACTS" \
  timeout $((240 * SLOW)) node --test "$SRC"/tests/browser/*.test.mjs || rc=$?
[[ $rc -eq 0 ]] || fail "browser test failed ($rc)"
for png in report.png report-compare.png report-tags.png; do
  [[ -s $ARTIFACTS/$png ]] || fail "no screenshot $ARTIFACTS/$png"
done
pass "browser test; screenshots in $ARTIFACTS"
