#!/usr/bin/env bash
# Prints one closing line for `make test`: the tests of every build it ran, added up.
# Usage: scripts/test-summary.sh BUILD_DIR...
set -euo pipefail
passed=0 failed=0
for dir in "$@"; do
  log=$dir/Testing/Temporary/LastTest.log
  [[ -f $log ]] || continue
  p=$(grep -c '^Test Passed\.' "$log" || true)
  f=$(grep -c '^Test Failed\.' "$log" || true)
  printf '  %-12s %3d passed, %d failed\n' "$(basename "$dir")" "$p" "$f"
  passed=$((passed + p)) failed=$((failed + f))
done
echo "total: $passed passed, $failed failed"
((failed == 0))
