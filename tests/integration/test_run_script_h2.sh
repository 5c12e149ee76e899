#!/usr/bin/env bash
# wrk's Lua scripts over HTTP/2 (-s with --http2, docs/scripting.md): against `mortar target` over
# TLS with h2, whose own counters prove the numbers. Each request of a request() result is its own
# stream (more than free streams wait on the connection, the stream limit holds), response() sees
# the h2 status and lower-case headers, wrk.tag tags, delay() and thread:stop() work in the
# closed model, and the open model counts every request of a result as due.
source "$(dirname "$0")/lib.sh"
cd "$WORK"

start_target --tls-self-signed --tls-self-signed-out "$WORK/ca.pem" --threads 2
URL=https://127.0.0.1:$TARGET_PORT
S=$WORK/scripts
mkdir -p "$S"
nz='with_entries(select(.value != 0))'

# ---- open model, a dynamic request(): counts equal the target's ---------------------------
cat >"$S/dyn.lua" <<'EOF'
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", "/?size=" .. (n % 5 + 1) .. "&status=200:80,404:20")
end
EOF
target_stats b1.json
run_json dyn.json 60 --http2 --streams 4 --cacert ca.pem --schedule "const(100, 2s)" -d 3.5s -c 2 -t 2 \
  -s "$S/dyn.lua" "$URL/"
target_stats_since b1.json s1.json
expect_eq "h2 dynamic: sent" "$(jqr dyn.json .summary.sent)" 200
expect_eq "h2 dynamic: completed" "$(jqr dyn.json .summary.completed)" 200
expect_eq "h2 dynamic: target streams = sent" "$(jqr s1.json .h2_streams)" 200
expect_eq "h2 dynamic: status counts = target responses" \
  "$(jq -cS ".summary.status | $nz" dyn.json)" "$(jq -cS ".responses | $nz" s1.json)"

# ---- several requests in one result: one stream each, more than free streams wait ----------
cat >"$S/multi.lua" <<'EOF'
function init(args)
  local r = {}
  for i = 1, tonumber(args[1]) do
    r[i] = wrk.format(i % 2 == 0 and "POST" or nil, "/?size=" .. i .. "&delay=1ms",
      {["Connection"] = "keep-alive"}, i % 2 == 0 and "body" .. i or nil)
  end
  req = table.concat(r)
end
function request() return req end
EOF
target_stats b2.json
run_json multi.json 60 --http2 --streams 2 --cacert ca.pem --schedule "const(50, 2s)" -d 3.5s -c 2 -t 1 \
  -s "$S/multi.lua" "$URL/" -- 5
target_stats_since b2.json s2.json
echo "multi: $(jq -c '.summary | {due, sent, completed, errors, dropped}' multi.json)"
expect_eq "h2 multi: due (5 per request())" "$(jqr multi.json .summary.due)" 500
expect_eq "h2 multi: completed" "$(jqr multi.json .summary.completed)" 500
expect_eq "h2 multi: target streams" "$(jqr s2.json .h2_streams)" 500
expect_eq "h2 multi: target 200s" "$(jqr s2.json '.responses["200"]')" 500
expect_jq "h2 multi: at most 2 streams at once (--streams)" s2.json '.h2_max_concurrent_streams <= 2'
# the closed model: each result's requests are sent, none lost
target_stats b3.json
run_json multi_closed.json 60 --http2 --streams 3 --cacert ca.pem -d 1s -c 2 -t 1 -s "$S/multi.lua" "$URL/" -- 4
target_stats_since b3.json s3.json
expect_jq "h2 multi closed: answered, no errors" multi_closed.json '.summary.completed > 0 and .summary.errors == 0'
# the run's end abandons what is in flight: at most 2 connections x 3 streams answered uncounted
expect_jq "h2 multi closed: target streams = completed (+ at most 6 in flight at the end)" s3.json \
  '.h2_streams >= $done and .h2_streams <= $done + 6' --argjson done "$(jqr multi_closed.json .summary.completed)"

expect_jq "h2 multi closed: at most 3 streams at once" s3.json '.h2_max_concurrent_streams <= 3'

# ---- response(): status, lower-case headers, body; tags -----------------------------------
cat >"$S/resp.lua" <<'EOF'
wrk.tags = {"even", "odd"}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) responses = 0; s503 = 0; hdr = 0; body = 0; n = 0 end
function request()
  n = n + 1
  wrk.tag = (n % 2 == 0) and "even" or "odd"
  return wrk.format("POST", "/?status=503&size=7", {["X-Id"] = "1"}, "abc")
end
function response(status, headers, b)
  responses = responses + 1
  if status == 503 then s503 = s503 + 1 end
  if headers["content-length"] == "7" and headers["Content-Length"] == nil then hdr = hdr + 1 end
  if #b == 7 then body = body + 1 end
end
function done(summary)
  local r, s, h, b = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    r = r + t:get("responses"); s = s + t:get("s503"); h = h + t:get("hdr"); b = b + t:get("body")
  end
  io.write(string.format("done requests=%d responses=%d 503=%d hdr=%d body=%d\n", summary.requests, r, s, h, b))
end
EOF
run_json resp.json 60 --http2 --streams 4 --cacert ca.pem -c 2 -t 2 -d 1s -s "$S/resp.lua" "$URL/"
completed=$(jqr resp.json .summary.completed)
expect_eq "h2 response(): once per response, status, headers, body" "$(grep '^done ' resp.json.stdout)" \
  "done requests=$completed responses=$completed 503=$completed hdr=$completed body=$completed"
expect_jq "h2 tags: each request tagged by wrk.tag" resp.json \
  '(.summary.tags.even.completed + .summary.tags.odd.completed) == .summary.completed and .summary.tags.even.completed > 0 and .summary.tags.odd.completed > 0'

# ---- delay() and thread:stop() (closed model, one stream) ----------------------------------
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
run_json stop.json 30 --http2 --streams 1 --cacert ca.pem -c 1 -t 1 -d 1s -s "$S/stop.lua" "$URL/"
expect_eq "h2 thread:stop(): 5 requests, then none" "$(jqr stop.json .summary.completed)" 5
expect_eq "h2 delay() after each response" "$(grep -o 'delays=.*' stop.json.stdout)" "delays=5 requests=5"

# ---- a result that is not HTTP/1.1 is a script error, as on HTTP/1 --------------------------
printf 'function request()\n  return "hello"\nend\n' >"$S/not_http.lua"
rc=0
timeout $((30 * SLOW)) "$MORTAR" run -q --http2 --cacert ca.pem -c 1 -t 1 -d 1s -s "$S/not_http.lua" "$URL/" \
  >not_http.out 2>not_http.err || rc=$?
[[ $rc == 1 ]] || fail "not_http: exit $rc, want 1: $(cat not_http.err)"
grep -Eq "in request\(\): request 1 of the result is (not valid|incomplete)" not_http.err ||
  fail "not_http: $(cat not_http.err)"
pass "h2 not_http: exit 1, $(head -n 1 not_http.err)"
stop_target
