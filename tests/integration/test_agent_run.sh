# mortar serve's run path: a run config goes through in-process agents, the bus and the
# aggregator (tests/integration/agent_driver.c), and the rows the store would receive add up
# to exactly what the target counted (GET /__mortar/stats). The schedule ends before the run
# does so nothing is in flight at the end.
source "$(dirname "$0")/lib.sh"
DRIVER="$(dirname "$MORTAR")/mortar-agent-driver"
[[ -x $DRIVER ]] || fail "no driver at $DRIVER (build the mortar-agent-driver target)"
start_target

nz='with_entries(select(.value != 0))'

# drive NAME AGENTS CONFIG [STOP_AFTER]: runs the driver, bounded in time; OUT = $WORK/NAME.json
drive() {
  local out="$WORK/$1.json" rc=0
  timeout $((90 * SLOW)) "$DRIVER" "$3" "$2" ${4:-} >"$out" 2>"$out.stderr" || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$out.stderr" >&2
    fail "$1: driver exited $rc"
  fi
  ! grep -v '^{"ts"' "$out.stderr" | grep -q . || { cat "$out.stderr" >&2; fail "$1: the run printed"; }
}

# Two agents, 40 requests each in 1 s, over two tags, 10% 503.
target_stats "$WORK/two.before.json"
cfg='{"url":"'"$TARGET_URL"'/?status=200:90,503:10","schedule":"const(40,1s)","duration":"1.5s",
      "connections":4,"threads":1,"uri":["/?status=200:90,503:10 api","/?status=200 web"]}'
drive two 2 "$cfg"
target_stats_since "$WORK/two.before.json" "$WORK/two.stats.json"
out="$WORK/two.json" st="$WORK/two.stats.json"
expect_eq "two agents: state" "$(jqr "$out" .state)" passed
expect_eq "two agents: sent" "$(jqr "$out" .rows.sent)" 80
expect_eq "two agents: completed" "$(jqr "$out" .rows.completed)" 80
expect_eq "two agents: errors" "$(jqr "$out" .rows.errors)" 0
expect_eq "two agents: target requests = rows' sent" "$(jqr "$st" .requests)" "$(jqr "$out" .rows.sent)"
expect_eq "two agents: status counts = target responses" \
  "$(jq -cS ".rows.status | $nz" "$out")" "$(jq -cS ".responses | $nz" "$st")"
expect_eq "two agents: bytes_in = target bytes_sent" "$(jqr "$out" .rows.bytes_in)" "$(jqr "$st" .bytes_sent)"
expect_eq "two agents: latency histograms hold every response" "$(jqr "$out" .rows.hist_count)" 80
expect_eq "two agents: tag rows add up" "$(jqr "$out" '.tags.api + .tags.web')" 80
expect_eq "two agents: summary requests" "$(jqr "$out" .summary.requests)" 80
expect_eq "two agents: summary status = rows" \
  "$(jq -cS ".summary.status" "$out")" "$(jq -cS ".rows.status | $nz" "$out")"
expect_eq "two agents: seconds stored" "$(jqr "$out" '.seconds >= 2')" true
expect_eq "two agents: heartbeats" "$(jqr "$out" '.heartbeats >= 2')" true

# A threshold that fails: the run is "failed" with the threshold as the reason.
cfg='{"url":"'"$TARGET_URL"'/?status=503","rate":20,"duration":"1s","connections":2,"threads":1,
      "threshold":["errors<1%","status{code:5xx}: count == 0"]}'
drive thr 1 "$cfg"
expect_eq "threshold: state" "$(jqr "$WORK/thr.json" .state)" failed
expect_jq "threshold: reason names it" "$WORK/thr.json" '.reason | test("status\\{code:5xx\\}")'
expect_eq "threshold: verdicts" "$(jqr "$WORK/thr.json" '[.verdicts[].passed] | tostring')" '[true,false]'

# An autostop trip stops both agents through the control subject; the run is "failed".
cfg='{"url":"'"$TARGET_URL"'/?status=500","rate":50,"duration":"60s","connections":4,"threads":1,
      "autostop":["http(5xx,50%,1s)"]}'
drive trip 2 "$cfg"
expect_eq "autostop: state" "$(jqr "$WORK/trip.json" .state)" failed
expect_jq "autostop: reason" "$WORK/trip.json" '.reason | startswith("autostop http(5xx,50%,1s)")'
expect_jq "autostop: ended long before 60 s" "$WORK/trip.json" '.seconds < 30'

# A stop on the control subject (as POST /runs/{id}/stop sends it) ends the run as "stopped".
cfg='{"url":"'"$TARGET_URL"'/","rate":50,"duration":"60s","connections":4,"threads":1}'
drive stop 1 "$cfg" 2
expect_eq "stop: state" "$(jqr "$WORK/stop.json" .state)" stopped
expect_eq "stop: reason" "$(jqr "$WORK/stop.json" .reason)" "stopped by API"
expect_jq "stop: ended long before 60 s" "$WORK/stop.json" '.seconds < 30'

# Configs the agent refuses: files, and bad values, with the key named.
expect_bad() {
  local rc=0
  "$DRIVER" "$1" >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
  expect_eq "refused ($2): exit" "$rc" 2
  grep -q -- "$2" "$WORK/bad.err" || fail "refused ($2): message: $(cat "$WORK/bad.err")"
}
expect_bad '{"url":"'"$TARGET_URL"'/","json":"/tmp/out.json"}' "json: not allowed"
expect_bad '{"url":"'"$TARGET_URL"'/","body":"@/etc/passwd"}' "body: not allowed"
expect_bad '{"url":"'"$TARGET_URL"'/","connections":0}' "connections"
expect_bad '{"url":"'"$TARGET_URL"'/","colour":"red"}' "colour"
