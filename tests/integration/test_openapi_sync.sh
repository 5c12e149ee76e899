#!/usr/bin/env bash
# docs/openapi.json carries the result and config schemas (Result, Summary, Second, RunConfig)
# bundled by scripts/openapi-sync.mjs from docs/result-schema.json and docs/config-schema.json:
# it must be what the script writes, so the three documents cannot drift apart (ADR 0021).
source "$(dirname "$0")/lib.sh"

node "$MT_SOURCE_DIR/scripts/openapi-sync.mjs" --check >"$WORK/sync.txt" 2>&1 ||
  fail "$(cat "$WORK/sync.txt")"
pass "$(cat "$WORK/sync.txt")"

# the check does catch a drift: a copy of the docs with a changed result schema
mkdir -p "$WORK/tree/docs" "$WORK/tree/scripts"
cp "$MT_SOURCE_DIR"/docs/{openapi,result-schema,config-schema}.json "$WORK/tree/docs/"
cp "$MT_SOURCE_DIR/scripts/openapi-sync.mjs" "$WORK/tree/scripts/"
jq '.["$defs"].summary.properties.requests.description = "changed"' "$MT_SOURCE_DIR/docs/result-schema.json" \
  >"$WORK/tree/docs/result-schema.json"
rc=0
node "$WORK/tree/scripts/openapi-sync.mjs" --check >/dev/null 2>&1 || rc=$?
expect_eq "a changed result schema is caught" "$rc" 1
node "$WORK/tree/scripts/openapi-sync.mjs" >/dev/null
jq -e '.components.schemas["Result.summary"].properties.requests.description == "changed" and
       .components.schemas.Summary.properties.requests.description == "changed"' \
  "$WORK/tree/docs/openapi.json" >/dev/null || fail "the sync did not carry the change into openapi.json"
pass "the sync carries a result-schema change into Result.summary and Summary"
