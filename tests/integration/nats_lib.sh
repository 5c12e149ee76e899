# Helpers for the tests of agents over NATS (test_nats_*.sh); sourced after lib.sh and
# serve_lib.sh. Each test starts its own nats-server with JetStream on a random loopback port,
# its storage in $WORK, and stops it by its PID.

NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
[[ -x $NATS_SERVER ]] || fail "nats-server not found (scripts/deps.sh test installs it)"

# start_nats [flags...]: sets NATS_PID, NATS_PORT, NATS_URL. Storage in $WORK/js (kept across
# restarts of the same test). Ready when the ports file appears (the server writes it once it
# listens).
start_nats() {
  local dir=$WORK/nats i
  mkdir -p "$dir"
  rm -f "$dir"/*.ports
  "$NATS_SERVER" -js -sd "$WORK/js" -a 127.0.0.1 -p "${NATS_PORT:--1}" --ports_file_dir "$dir" \
    -l "$WORK/nats.log" "$@" &
  NATS_PID=$!
  PIDS+=("$NATS_PID")
  for ((i = 0; i < 200 * SLOW; i++)); do
    [[ -s $dir/nats-server_$NATS_PID.ports ]] && break
    kill -0 "$NATS_PID" 2>/dev/null || { tail -n 20 "$WORK/nats.log" >&2; fail "nats-server exited"; }
    sleep 0.05
  done
  NATS_URL=$(jq -r '.nats[0]' "$dir/nats-server_$NATS_PID.ports") || fail "no nats ports file"
  NATS_PORT=${NATS_URL##*:}
}

stop_nats() {
  kill -"${1:-TERM}" "$NATS_PID" 2>/dev/null || true
  wait "$NATS_PID" 2>/dev/null || true
}

# start_agent NAME [flags...]: a `mortar agent` on $NATS_URL; AGENT_PID[NAME] is its PID. Waits
# for its first line (it has connected or is retrying) and for the server to list it.
declare -A AGENT_PID
start_agent() {
  local name=$1 fifo="$WORK/agent.$RANDOM.fifo" line fd
  shift
  mkfifo "$fifo"
  "$MORTAR" agent --nats "$NATS_URL" --name "$name" "$@" >"$fifo" 2>>"$WORK/agent-$name.log" &
  AGENT_PID[$name]=$!
  PIDS+=("$!")
  exec {fd}<"$fifo"
  read -r -t $((20 * SLOW)) -u "$fd" line || { tail -n 20 "$WORK/agent-$name.log" >&2; fail "agent $name did not start"; }
  [[ $line == "mortar agent: $name "* ]] || fail "unexpected agent line: $line"
}

# wait_agents TOKEN N: until the server lists at least N agents up (bounded).
wait_agents() {
  local tok=$1 n=$2 got=0 i
  for ((i = 0; i < 200 * SLOW; i++)); do
    api GET /agents "$tok" >/dev/null || true
    got=$(jq '[.items[] | select(.state == "up" or .up == true)] | length' "$OUT" 2>/dev/null || echo 0)
    ((got >= n)) && return 0
    sleep 0.1
  done
  fail "$got agents up, want $n: $(cat "$OUT")"
}
