#!/usr/bin/env bash
# Agents over NATS with authentication (docs/distributed.md, "Security"): a token; users with
# the documented per-agent permissions (an agent may publish its own heartbeats and snapshots
# only: one using another's credentials never shows up); TLS with a client certificate; an
# nkey. Each case: a serve and an agent connect and a short run passes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/nats_lib.sh"

start_target
RUNCFG="{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\"}}"

# one_run DATA: queue a short run on the agents of this serve and wait for it to pass
one_run() {
  local tok
  tok=$("$MORTAR" token create --role admin --data "$1")
  wait_agents "$tok" 1
  expect_api "queue a run" 201 POST /runs "$tok" "$RUNCFG"
  wait_run "$(jq -r .id "$OUT")" "$tok" 60 passed
  pass "the run passed"
  TOK=$tok
}

# ---- a token ----
start_nats --auth s3cret-token
echo s3cret-token >"$WORK/token"
rc=0
MORTAR_NATS_TOKEN=wrong timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/bad" \
  --nats "$NATS_URL" >/dev/null 2>"$WORK/e" || rc=$?
expect_eq "a wrong token: serve exits 1" "$rc" 1
grep -qi 'authorization' "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"
start_serve "$WORK/d1" --nats "$NATS_URL" --nats-token-file "$WORK/token"
MORTAR_NATS_TOKEN=s3cret-token start_agent tok-1
one_run "$WORK/d1"
stop_serve
kill "${AGENT_PID[tok-1]}"
stop_nats

# ---- users with per-agent permissions ----
cat >"$WORK/perm.conf" <<'CONF'
authorization {
  users = [
    { user: serve, password: serve-pw, permissions: {
        publish: ["mortar.runs.*.control", "mortar.runs.*.commit", "mortar.agents.*.prepare",
                  "mortar.runs.*.end.*", "$JS.API.>", "$JS.ACK.MORTAR_RUNS.>", "_INBOX.>"]
        subscribe: ["mortar.agents.*.heartbeat", "mortar.time", "mortar.runs.*.control",
                    "mortar.runs.*.commit", "_INBOX.>"] } }
    { user: gen-1, password: gen-1-pw, permissions: {
        publish: ["mortar.agents.gen-1.heartbeat", "mortar.runs.*.second.gen-1",
                  "mortar.runs.*.end.gen-1", "mortar.time"]
        subscribe: ["mortar.agents.gen-1.prepare", "mortar.runs.*.control",
                    "mortar.runs.*.commit", "_INBOX.>"]
        allow_responses: true } }
  ]
}
CONF
NATS_PORT=-1 start_nats -c "$WORK/perm.conf"
echo serve-pw >"$WORK/serve.pw"
start_serve "$WORK/d2" --nats "$NATS_URL" --nats-user serve --nats-password-file "$WORK/serve.pw"
MORTAR_NATS_PASSWORD=gen-1-pw start_agent gen-1 --nats-user gen-1
one_run "$WORK/d2"
expect_api "a run of 40 requests" 201 POST /runs "$TOK" "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"2s\"}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 60 passed
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
expect_eq "Σ sent with the documented permissions" "$(jq '[.items[].sent] | add' "$OUT")" 40
# an agent with gen-1's credentials but another name may not publish as that name
MORTAR_NATS_PASSWORD=gen-1-pw start_agent gen-2 --nats-user gen-1
for ((i = 0; i < 100 * SLOW; i++)); do
  grep -q 'Not Permitted' "$WORK/agent-gen-2.log" && break
  sleep 0.1
done
grep -q 'Not Permitted' "$WORK/agent-gen-2.log" || fail "gen-2 was not refused: $(tail -n 3 "$WORK/agent-gen-2.log")"
expect_api "agents" 200 GET /agents "$TOK"
expect_jq "gen-2 (gen-1's credentials) is not registered" "$OUT" '[.items[] | select(.name == "gen-2")] | length == 0'
stop_serve
kill "${AGENT_PID[gen-1]}" "${AGENT_PID[gen-2]}"
stop_nats

# ---- TLS with a client certificate ----
(
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-ca \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout srv.key -out srv.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mortar-client \
    -keyout cli.key -out cli.csr 2>/dev/null
  openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out cli.pem 2>/dev/null
)
NATS_PORT=-1 start_nats --tlsverify --tlscert "$WORK/srv.pem" --tlskey "$WORK/srv.key" --tlscacert "$WORK/ca.pem"
TLS=(--nats-ca "$WORK/ca.pem" --nats-cert "$WORK/cli.pem" --nats-key "$WORK/cli.key")
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/bad2" --nats "$NATS_URL" \
  --nats-ca "$WORK/ca.pem" >/dev/null 2>"$WORK/e" || rc=$?
expect_eq "TLS without the client certificate: serve exits 1" "$rc" 1
start_serve "$WORK/d3" --nats "$NATS_URL" "${TLS[@]}"
start_agent tls-1 "${TLS[@]}"
one_run "$WORK/d3"
stop_serve
kill "${AGENT_PID[tls-1]}"
stop_nats

# ---- an nkey (seed and public key made here with Python's cryptography, not with mortar) ----
python3 - "$WORK" <<'PY'
import base64, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
def crc16(b):
    c = 0
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else c << 1
            c &= 0xffff
    return c
def enc(raw):
    raw += crc16(raw).to_bytes(2, 'little')
    return base64.b32encode(raw).decode().rstrip('=')
seed = os.urandom(32)
pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)
U = 20 << 3
s = enc(bytes([(18 << 3) | (U >> 5), (U & 31) << 3]) + seed)
p = enc(bytes([U]) + pub)
open(sys.argv[1] + '/user.nk', 'w').write(s + '\n')
open(sys.argv[1] + '/nkey.conf', 'w').write('authorization { users = [ { nkey: %s } ] }\n' % p)
PY
NATS_PORT=-1 start_nats -c "$WORK/nkey.conf"
start_serve "$WORK/d4" --nats "$NATS_URL" --nats-nkey "$WORK/user.nk"
start_agent nk-1 --nats-nkey "$WORK/user.nk"
one_run "$WORK/d4"
printf 'not a seed\n' >"$WORK/bad.nk"
rc=0; "$MORTAR" agent --nats "$NATS_URL" --nats-nkey "$WORK/bad.nk" 2>"$WORK/e" || rc=$?
expect_eq "a file without a seed: agent exits 2" "$rc" 2
grep -q 'no valid nkey seed' "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"
