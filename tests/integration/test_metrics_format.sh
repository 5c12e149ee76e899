#!/usr/bin/env bash
# The Prometheus text of the metrics registry passes `promtool check metrics` (format and
# lint): tests/unit/test_metrics renders a sample registry (every platform family of
# docs/api.md, escaped label values, +Inf/NaN-free sample values) into MT_METRICS_OUT.
source "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || fail "promtool not installed (scripts/deps.sh: prometheus)"
# the unit-test binary sits next to the mortar binary's tests/ directory in the build tree
DRIVER=${MT_TEST_METRICS:-$(dirname "$MORTAR")/tests/test_metrics}
[[ -x $DRIVER ]] || fail "no test_metrics binary at $DRIVER (set MT_TEST_METRICS)"

OUT="$WORK/metrics.txt"
MT_METRICS_OUT="$OUT" timeout $((60 * SLOW)) "$DRIVER" >"$WORK/driver.log" 2>&1 ||
  { cat "$WORK/driver.log" >&2; fail "test_metrics failed"; }
[[ -s $OUT ]] || fail "test_metrics wrote no metrics to $OUT"
expect_eq "families rendered" "$(grep -c '^# TYPE ' "$OUT")" 13
expect_eq "families sorted" "$(grep '^# TYPE ' "$OUT" | LC_ALL=C sort -c 2>&1 && echo yes)" yes
expect_eq "counters end in _total" \
  "$(awk '/^# TYPE .* counter$/ && $3 !~ /_total$/ { bad++ } END { print bad + 0 }' "$OUT")" 0

if ! timeout 60 promtool check metrics <"$OUT" >"$WORK/promtool.log" 2>&1; then
  cat "$WORK/promtool.log" >&2
  fail "promtool check metrics found problems"
fi
pass "promtool check metrics"
