# Ctrl-C (SIGINT) stops the run cleanly: summary printed, JSON written, exit 130.
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
