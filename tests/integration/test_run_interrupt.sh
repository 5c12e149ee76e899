# Ctrl-C (SIGINT) stops the run cleanly: summary printed, JSON written, exit 130. A SIGINT or
# SIGTERM while the ammo is still being read (before anything is written) exits at once, also
# from a background job (which inherits SIGINT ignored): 130 / 143, no JSON left behind.
source "$(dirname "$0")/lib.sh"
start_target
out="$WORK/int.json"
fifo="$WORK/run.fifo"
mkfifo "$fifo"
# not a TTY: one plain progress line per second on stderr
"$MORTAR" run -R 200 -d 60s -c 10 --json "$out" "$TARGET_URL/" >"$WORK/stdout" 2>"$fifo" &
run_pid=$!
PIDS+=("$run_pid")
exec {fd}<"$fifo"
read -r -t $((30 * SLOW)) -u "$fd" line || fail "no progress line"
kill -INT "$run_pid"
set +e
timeout $((30 * SLOW)) tail --pid="$run_pid" -f /dev/null
wait "$run_pid"
rc=$?
set -e
expect_eq "exit code" "$rc" 130
expect_eq interrupted "$(jqr "$out" .summary.interrupted)" true
req=$(jqr "$out" .summary.requests)
[[ $req -gt 0 ]] || fail "no requests recorded before the interrupt"
grep -q 'Requests/sec' "$WORK/stdout" || fail "no summary after interrupt"
pass "interrupted after $req requests"

# A signal while the ammo is read: the ammo is a FIFO, so opening its other end returns only once
# mortar opened it to read (its handlers are installed by then); the signal is sent before the
# ammo's end (the FIFO closed without a line: nothing is written to a reader that may be gone),
# so it is pending when the read returns. Without the handler (SIGINT ignored in a background
# job) the read would see an empty ammo: exit 2.
for sig in INT TERM; do
  afifo="$WORK/ammo-$sig.fifo"
  mkfifo "$afifo"
  rm -f "$WORK/early.json"
  "$MORTAR" run -q -d 60s -c 2 --ammo "$afifo" --json "$WORK/early.json" "$TARGET_URL/" \
    >"$WORK/early.out" 2>"$WORK/early.err" &
  early_pid=$!
  PIDS+=("$early_pid")
  exec {afd}>"$afifo"
  kill -"$sig" "$early_pid"
  exec {afd}>&-
  set +e
  wait "$early_pid"
  rc=$?
  set -e
  want=130
  [[ $sig == TERM ]] && want=143
  expect_eq "SIG$sig while the ammo is read: exit code" "$rc" "$want"
  [[ ! -e $WORK/early.json ]] || fail "SIG$sig before the run: a JSON file was written"
  compgen -G "$WORK/early.json.tmp.*" >/dev/null && fail "SIG$sig before the run: a temporary JSON file was left"
  pass "SIG$sig while the ammo is read: no run, nothing written"
done
