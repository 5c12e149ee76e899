#!/usr/bin/env bash
# --help and the docs checked against each other, black box (tests/docs/helpcheck.mjs): every
# flag each command's --help lists is in its reference table and vice versa, with the same
# default where the help states one; `mortar help COMMAND` for every command, and an unknown one.
source "$(dirname "$0")/lib.sh"

cd "$MT_SOURCE_DIR"
CHECK=(run=docs/cli.md target=docs/target.md serve=docs/serve.md report=docs/report.md token=docs/serve.md@3 agent=docs/distributed.md db=docs/serve.md@2)
node tests/docs/helpcheck.mjs "$MORTAR" "${CHECK[@]}" >"$WORK/help.txt" 2>&1 || fail "$(cat "$WORK/help.txt")"
cat "$WORK/help.txt"
pass "every command's --help agrees with its reference table"

# the check catches a wrong default: the --streams default mortar run --help once gave
cat >"$WORK/fake-mortar" <<EOS
#!/usr/bin/env bash
"$MORTAR" "\$@" | sed 's/\[closed: 10; open: 100\]/[1; closed: 10]/'
EOS
chmod +x "$WORK/fake-mortar"
rc=0
node tests/docs/helpcheck.mjs "$WORK/fake-mortar" run=docs/cli.md >/dev/null 2>"$WORK/fake.txt" || rc=$?
expect_eq "a help default that differs from docs/cli.md fails the check" "$rc" 1
grep -q -- '--streams' "$WORK/fake.txt" || fail "the failure does not name --streams: $(cat "$WORK/fake.txt")"

# mortar help COMMAND
for c in run target report serve token agent db; do
  "$MORTAR" help "$c" >"$WORK/h.txt" || fail "mortar help $c exits $?"
  grep -qi "usage: mortar $c" "$WORK/h.txt" || fail "mortar help $c: $(head -n 3 "$WORK/h.txt")"
done
pass "mortar help COMMAND prints each command's usage"
"$MORTAR" help >"$WORK/h.txt" || fail "mortar help exits $?"
grep -q '^Usage: mortar COMMAND' "$WORK/h.txt" || fail "mortar help: $(head -n 3 "$WORK/h.txt")"
rc=0
"$MORTAR" help bogus >"$WORK/bogus.out" 2>"$WORK/bogus.err" || rc=$?
expect_eq "mortar help of an unknown command exits" "$rc" 2
grep -q "unknown command 'bogus'" "$WORK/bogus.err" || fail "no message naming the command: $(cat "$WORK/bogus.err")"
[[ ! -s $WORK/bogus.out ]] || fail "mortar help bogus wrote to stdout"
pass "mortar help bogus: a message on stderr, nothing on stdout"
