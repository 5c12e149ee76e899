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

# the runner itself: a false example, a marker whose replace is not in the block, and an
# unmarked shell block each fail it
mkdir -p "$WORK/self"
cat >"$WORK/self/false.md" <<'MD'
<!-- doctest: needs="target:8080" stdout~="Requests/sec:" -->
```sh
mortar run -d 1s --no-such-flag http://127.0.0.1:8080/
```
MD
cat >"$WORK/self/replace.md" <<'MD'
<!-- doctest: replace="-d 30s=>-d 1s" -->
```sh
mortar version
```
MD
printf '```sh\nmortar version\n```\n' >"$WORK/self/unmarked.md"
for f in false replace unmarked; do
  rc=0
  node tests/docs/doctest.mjs --mortar "$MORTAR" --work "$WORK/self/$f" "$WORK/self/$f.md" >"$WORK/self/$f.txt" 2>&1 || rc=$?
  expect_eq "the runner fails on a $f example" "$rc" 1
done
grep -q 'exit status 2, want 0' "$WORK/self/false.txt" || fail "false: $(cat "$WORK/self/false.txt")"
grep -q "'-d 30s' is not in the example" "$WORK/self/replace.txt" || fail "replace: $(cat "$WORK/self/replace.txt")"
grep -q 'without a <!-- doctest' "$WORK/self/unmarked.txt" || fail "unmarked: $(cat "$WORK/self/unmarked.txt")"
pass "the runner reports each by file and line"
