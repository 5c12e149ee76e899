#!/usr/bin/env bash
# Documentation that cannot go stale: every shell example of README.md and docs/*.md runs
# against loopback servers with the built binary, its exit status and output shape checked
# (tests/docs/doctest.mjs; the marker is described in docs/CONTRIBUTING.md). Examples that need
# hosts outside loopback are skipped with a reason, and counted.
source "$(dirname "$0")/lib.sh"

cd "$MT_SOURCE_DIR"
node tests/docs/doctest.mjs --mortar "$MORTAR" --work "$WORK/doctest" --fixtures tests/docs/fixtures \
  README.md docs/*.md >"$WORK/doctest.txt" 2>&1 || {
  cat "$WORK/doctest.txt" >&2
  fail "documentation examples failed"
}
grep -E '^(ok|skipped):' "$WORK/doctest.txt"
pass "$(tail -n 1 "$WORK/doctest.txt")"
