#!/usr/bin/env bash
# wrk's Lua scripts (-s, docs/scripting.md): the counts of a scripted run equal the target's own
# counters, pipelined requests are each counted, setup()/init(args)/done() run as wrk runs them,
# response() and delay() are called, thread:stop() stops a thread, tags give per-tag statistics,
# errors name the file, the line and the phase, odd script arguments never crash, and a script's
# text runs through mortar serve's API (where an @FILE is refused).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
start_target --seed 7

S=$WORK/scripts
mkdir -p "$S"

# ---- counts: a dynamic request() in the open model, nothing in flight at the end ----------
cat >"$S/dyn.lua" <<'EOF'
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", "/?size=" .. (n % 5 + 1) .. "&status=200:80,404:20")
end
EOF
target_stats "$WORK/b1.json"
run_json "$WORK/dyn.json" 60 --schedule "const(100, 2s)" -d 3.5s -c 4 -t 2 -s "$S/dyn.lua" "$TARGET_URL/"
target_stats_since "$WORK/b1.json" "$WORK/s1.json"
expect_eq "dynamic: sent" "$(jqr "$WORK/dyn.json" .summary.sent)" 200
expect_eq "dynamic: completed" "$(jqr "$WORK/dyn.json" .summary.completed)" 200
expect_eq "dynamic: target requests = sent" "$(jqr "$WORK/s1.json" .requests)" 200
expect_eq "dynamic: bytes_in = target bytes_sent" "$(jqr "$WORK/dyn.json" .summary.bytes_in)" \
  "$(jqr "$WORK/s1.json" .bytes_sent)"
nz='with_entries(select(.value != 0))'
expect_eq "dynamic: status counts = target responses" \
  "$(jq -cS ".summary.status | $nz" "$WORK/dyn.json")" "$(jq -cS ".responses | $nz" "$WORK/s1.json")"

# ---- pipelining: request() returns 3 requests; each is due, sent and answered -------------
cat >"$S/pipe.lua" <<'EOF'
function init(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format(nil, "/?size=" .. i) end
  req = table.concat(r)
end
function request() return req end
EOF
target_stats "$WORK/b2.json"
run_json "$WORK/pipe.json" 60 --schedule "const(50, 2s)" -d 3.5s -c 2 -t 1 -s "$S/pipe.lua" "$TARGET_URL/" -- 3
target_stats_since "$WORK/b2.json" "$WORK/s2.json"
echo "pipelined: $(jq -c '.summary | {due, sent, completed, errors, dropped}' "$WORK/pipe.json")"
expect_eq "pipelined: due (3 per request())" "$(jqr "$WORK/pipe.json" .summary.due)" 300
expect_eq "pipelined: completed" "$(jqr "$WORK/pipe.json" .summary.completed)" 300
expect_eq "pipelined: target requests" "$(jqr "$WORK/s2.json" .requests)" 300
expect_eq "pipelined: target connections = mortar connects" "$(jqr "$WORK/s2.json" .connections_accepted)" \
  "$(jqr "$WORK/pipe.json" .summary.connects)"
# the static request (no request() function) pipelines too, in the closed model
run_json "$WORK/pipe_closed.json" 60 -d 1s -c 2 -t 1 -s "$S/pipe.lua" "$TARGET_URL/" -- 4
expect_jq "pipelined closed: answered, no errors" "$WORK/pipe_closed.json" \
  '.summary.completed > 0 and .summary.errors == 0'

# ---- setup(), init(args), response(), done(), thread:get/set, wrk.lookup/connect -----------
cat >"$S/life.lua" <<'EOF'
wrk.tags = {"even", "odd"}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
  local addrs = wrk.lookup(wrk.host, wrk.port)
  thread:set("reachable", wrk.connect(addrs[1]))
end
function init(args)
  nargs = #args
  a1 = args[1]
  responses = 0
  statuses = {}
  n = 0
end
function request()
  n = n + 1
  wrk.tag = (n % 2 == 0) and "even" or "odd"
  return wrk.format("POST", "/?status=503", {["X-Id"] = tostring(id)}, "abc")
end
function response(status, headers, body)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
  last_len = headers["Content-Length"]
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("responses")
    io.write(string.format("thread %d id=%d nargs=%d a1=%s reachable=%s 503s=%d\n", _, t:get("id"),
      t:get("nargs"), t:get("a1"), tostring(t:get("reachable")), t:get("statuses")[503] or 0))
  end
  io.write(string.format("done requests=%d responses=%d status_errors=%d p50ok=%s\n",
    summary.requests, total, summary.errors.status,
    tostring(latency:percentile(50) >= latency.min and latency.max >= latency:percentile(50))))
end
EOF
timeout $((30 * SLOW)) "$MORTAR" run -q -c 2 -t 2 -d 1s -s "$S/life.lua" --json "$WORK/life.json" \
  "$TARGET_URL/" -- "first arg" "" >"$WORK/life.out" 2>"$WORK/life.err" || fail "life.lua exited $?: $(cat "$WORK/life.err")"
grep -q '^thread 1 id=1 nargs=2 a1=first arg reachable=true 503s=[1-9]' "$WORK/life.out" ||
  fail "setup/init/thread:get output: $(grep thread "$WORK/life.out")"
grep -q '^thread 2 id=2 nargs=2 a1=first arg reachable=true' "$WORK/life.out" || fail "thread 2: $(cat "$WORK/life.out")"
pass "setup(thread), thread:set/get, init(args), wrk.lookup, wrk.connect"
done_line=$(grep '^done ' "$WORK/life.out")
completed=$(jqr "$WORK/life.json" .summary.completed)
expect_eq "done(): summary.requests = completed, response() once per response" "$done_line" \
  "done requests=$completed responses=$completed status_errors=$completed p50ok=true"
# done()'s output comes after the summary, as wrk prints it
awk '/^done /{d=NR} /Requests\/sec/{s=NR} END{exit !(s && d > s)}' "$WORK/life.out" ||
  fail "done() output is not after the summary"
pass "done() output after the summary"
expect_jq "tags: each request tagged by wrk.tag" "$WORK/life.json" \
  '(.summary.tags.even.completed + .summary.tags.odd.completed) == .summary.completed and .summary.tags.even.completed > 0'

# ---- thread.addr (wrk's addr.lua): a thread connects where setup() says, not to the URL ------
DEAD=$(refused_port)
start_target
cat >"$S/addr.lua" <<LUA
function setup(thread)
  local addrs = wrk.lookup("127.0.0.1", "$TARGET_PORT")
  if wrk.connect(addrs[1]) then thread.addr = addrs[1] end
end
function init(args) io.write("url " .. args[0] .. " addr " .. wrk.thread.addr .. "\\n") end
LUA
run_json "$WORK/addr.json" 30 -c 2 -t 2 -d 1s -s "$S/addr.lua" "http://127.0.0.1:$DEAD/"
expect_jq "thread.addr: answered by the target setup() chose, no refused connects" "$WORK/addr.json" \
  '.summary.completed > 0 and .summary.errors == 0'
grep -q "^url http://127.0.0.1:$DEAD/ addr 127.0.0.1:$TARGET_PORT$" "$WORK/addr.json.stdout" ||
  fail "args[0] and thread.addr: $(grep url "$WORK/addr.json.stdout")"
pass "init(args): args[0] is the URL; wrk.thread.addr is setup()'s"

# ---- delay() and thread:stop() (closed model, one connection) -----------------------------
cat >"$S/stop.lua" <<'EOF'
local n = 0
delays = 0
function delay() delays = delays + 1; return 1 end
function request()
  n = n + 1
  if n > 5 then wrk.thread:stop() end
  return wrk.format()
end
local t
function setup(thread) t = thread end
function done(s) io.write("delays=" .. t:get("delays") .. " requests=" .. s.requests .. "\n") end
EOF
timeout $((30 * SLOW)) "$MORTAR" run -q -c 1 -t 1 -d 1s -s "$S/stop.lua" --json "$WORK/stop.json" \
  "$TARGET_URL/" >"$WORK/stop.out" 2>&1 || fail "stop.lua exited $?: $(cat "$WORK/stop.out")"
expect_eq "thread:stop(): 5 requests, then none" "$(jqr "$WORK/stop.json" .summary.completed)" 5
expect_eq "delay() after each response" "$(grep -o 'delays=.*' "$WORK/stop.out")" "delays=5 requests=5"

# ---- errors: file, line and phase ---------------------------------------------------------
# expect_fail NAME CODE MESSAGE-REGEX mortar-run-args...
expect_fail() {
  local name=$1 code=$2 re=$3 rc=0
  shift 3
  timeout $((30 * SLOW)) "$MORTAR" run -q -c 1 -t 1 -d 1s "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  [[ $rc == "$code" ]] || fail "$name: exit $rc, want $code: $(cat "$WORK/$name.err")"
  grep -Eq "$re" "$WORK/$name.err" || fail "$name: message $(cat "$WORK/$name.err"), want /$re/"
  pass "$name: exit $code, $(head -n 1 "$WORK/$name.err")"
}
printf 'local x\nfunction request()\n  return x.y\nend\n' >"$S/bad_request.lua"
expect_fail bad_request 1 "bad_request.lua:3: in request\(\): attempt to index" -s "$S/bad_request.lua" "$TARGET_URL/"
printf 'function request(\n  return 1\nend\n' >"$S/syntax.lua"
expect_fail syntax 2 "syntax.lua:2: .*expected" -s "$S/syntax.lua" "$TARGET_URL/"
printf '\nfunction init(args)\n  error("no token")\nend\n' >"$S/bad_init.lua"
expect_fail bad_init 2 "bad_init.lua:3: in init\(\): no token" -s "$S/bad_init.lua" "$TARGET_URL/"
printf 'function setup(t)\n  t.addr = "somewhere"\nend\n' >"$S/bad_setup.lua"
expect_fail bad_setup 2 "bad_setup.lua:2: in setup\(\): thread.addr: 'somewhere' is not an address" -s "$S/bad_setup.lua" "$TARGET_URL/"
printf 'function done(s)\n  return s.nope.x\nend\n' >"$S/bad_done.lua"
expect_fail bad_done 1 "bad_done.lua:2: in done\(\): attempt to index" -s "$S/bad_done.lua" "$TARGET_URL/"
printf 'function response(s, h, b)\n  error("boom " .. s)\nend\n' >"$S/bad_response.lua"
expect_fail bad_response 1 "bad_response.lua:2: in response\(\): boom 200" -s "$S/bad_response.lua" "$TARGET_URL/"
printf 'function request()\n  return "hello"\nend\n' >"$S/not_http.lua"
expect_fail not_http 1 "in request\(\): request 1 of the result is (not valid|incomplete)" -s "$S/not_http.lua" "$TARGET_URL/"
printf 'function request()\n  return 42\nend\n' >"$S/not_string.lua"
expect_fail not_string 1 "not_string.lua: in request\(\): returned a number" -s "$S/not_string.lua" "$TARGET_URL/"
printf 'wrk.tags = {"a"}\nfunction request()\n  wrk.tag = "b"\n  return wrk.format()\nend\n' >"$S/bad_tag.lua"
expect_fail bad_tag 1 "in request\(\): wrk.tag 'b' is not one of wrk.tags" -s "$S/bad_tag.lua" "$TARGET_URL/"
expect_fail args_without_script 2 "need a script" "$TARGET_URL/" -- a

# ---- script arguments: odd input is passed through or refused, never a crash ----------------
printf 'function init(args)\n  io.write("n=" .. #args .. " len1=" .. #(args[1] or "") .. "\\n")\nend\nfunction request() return wrk.format() end\n' >"$S/args.lua"
timeout $((30 * SLOW)) "$MORTAR" run -q -c 1 -t 1 -d 200ms -s "$S/args.lua" "$TARGET_URL/" -- "" $'\xff\xfe' '%s%n' '--' '-x' >"$WORK/args.out" 2>&1 ||
  fail "odd arguments: exit $?: $(tail -n 3 "$WORK/args.out")"
grep -q '^n=5 len1=0$' "$WORK/args.out" || fail "odd arguments: $(grep n= "$WORK/args.out")"
pass "odd script arguments reach init(args)"
expect_fail args_too_long 2 "longer than" -s "$S/args.lua" "$TARGET_URL/" -- "$(head -c 70000 /dev/zero | tr '\0' a)"
mapfile -t many < <(seq 1 1100)
expect_fail args_too_many 2 "more than 1024 script arguments" -s "$S/args.lua" "$TARGET_URL/" -- "${many[@]}"

# ---- HTTPS ------------------------------------------------------------------------------
stop_target
start_target --tls-self-signed
run_json "$WORK/tls.json" 60 -k --schedule "const(50, 1s)" -d 1.5s -c 2 -t 1 -s "$S/pipe.lua" \
  "https://127.0.0.1:$TARGET_PORT/" -- 2
expect_eq "https pipelined: completed" "$(jqr "$WORK/tls.json" .summary.completed)" 100
stop_target

# ---- mortar serve: the script's text travels in the run's config -------------------------
start_target
DATA=$WORK/data
RUNNER=$("$MORTAR" token create --role runner --data "$DATA")
start_serve "$DATA"
CFG=$(jq -n --arg url "$TARGET_URL/" --rawfile script "$S/pipe.lua" \
  '{url: $url, script: $script, script_args: ["2"], schedule: "const(20, 1s)", duration: "1.5s", connections: 2, threads: 1}')
expect_api "serve: queue a scripted run" 201 POST /runs "$RUNNER" "{\"config\":$CFG}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$RUNNER" 60 'passed|failed|stopped|error|interrupted'
expect_jq "serve: the scripted run passed" "$OUT" '.state == "passed"'
expect_api "serve: result" 200 GET "/runs/$RUN/result" "$RUNNER"
expect_jq "serve: two requests per request() call, all answered" "$OUT" \
  '.summary.completed == 40 and .summary.errors == 0'
expect_problem "serve: a script file is refused" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"script\":\"@/etc/hostname\"}}"
expect_problem "serve: a syntax error is refused" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"script\":\"function (\"}}"
grep -q 'script' "$OUT" || fail "the problem does not name the script: $(cat "$OUT")"
# a server run's script reaches no file of the agent's: io.open and require are gone
SANDBOX='local ok = io.open == nil and require == nil and os.execute == nil and dofile == nil and loadstring("\27LJ") == nil
if not ok then error("sandbox: the agent'"'"'s files are reachable") end
function request() return wrk.format() end'
CFG=$(jq -n --arg url "$TARGET_URL/" --arg script "$SANDBOX" \
  '{url: $url, script: $script, rate: 10, duration: "1s", connections: 1, threads: 1}')
expect_api "serve: a sandboxed script is accepted" 201 POST /runs "$RUNNER" "{\"config\":$CFG}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$RUNNER" 60 'passed|failed|stopped|error|interrupted'
expect_jq "serve: io, require, os.execute and bytecode are not reachable" "$OUT" '.state == "passed"'
expect_problem "serve: a top level that never ends is cut off" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"script\":\"while true do end\"}}"
grep -q 'ran longer than' "$OUT" || fail "the problem does not say why: $(cat "$OUT")"
check_openapi
stop_serve
