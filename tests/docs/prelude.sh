# Sourced before each documentation example (tests/docs/doctest.mjs): bash -e, servers in the
# background until the block ends.
set -e
DOC_PIDS=()
doc_stop() { for p in "${DOC_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap doc_stop EXIT
# a server in the background, waited for until it prints its first line (its address)
doc_server() {
  local fifo line
  fifo=$(mktemp -u "$DOC_DIR/.server.XXXXXX")
  mkfifo "$fifo"
  "$@" >"$fifo" 2>>"$DOC_DIR/.server.err" &
  DOC_PIDS+=($!)
  exec {DOC_FD}<"$fifo"
  if ! read -r -t $((30 * DOC_SLOW)) -u "$DOC_FD" line; then
    echo "doctest: the server did not start: $* ($(tail -n 5 "$DOC_DIR/.server.err"))" >&2
    return 1
  fi
  echo "$line"
}
