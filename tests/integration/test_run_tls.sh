# mortar run over HTTPS and HTTP/2 against Debian's nginx (TLS 1.2/1.3 + h2, a CA and a server
# certificate this test makes with `openssl req`): exact counts (nginx's access log counts what
# it served), handshake timing present, resumption visible, wrong CA -> "tls" errors with the
# reason, the server's HTTP/2 stream limit respected, h2c prior knowledge, GOAWAY handled.
source "$(dirname "$0")/lib.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || fail "nginx is not installed (scripts/deps.sh test installs it)"

# ---- certificates: a CA, a server certificate it signs, and an unrelated CA ----
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mortar-test-ca \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
  -out server.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca \
  -keyout other.key -out other.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mortar-client \
  -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem 2>/dev/null

# ---- nginx on free ports: TLS (h2 + http/1.1), and cleartext h2c ----
P_TLS=$(refused_port)
P_H2C=$(refused_port)
P_MTLS=$(refused_port)
mkdir -p nginx/logs nginx/tmp
cat >nginx/nginx.conf <<EOF
worker_processes 1;
daemon off;
error_log $WORK/nginx/logs/error.log;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  log_format m '\$server_protocol \$status';
  access_log $WORK/nginx/logs/access.log m;
  ssl_session_cache shared:SSL:1m;
  ssl_protocols TLSv1.2 TLSv1.3;
  keepalive_requests 50;
  http2_max_concurrent_streams 8;
  server {
    listen 127.0.0.1:$P_TLS ssl http2;
    ssl_certificate $WORK/server.pem;
    ssl_certificate_key $WORK/server.key;
    location / { return 200 "hello\n"; }
  }
  server {
    listen 127.0.0.1:$P_MTLS ssl;
    ssl_certificate $WORK/server.pem;
    ssl_certificate_key $WORK/server.key;
    ssl_verify_client on;
    ssl_client_certificate $WORK/ca.pem;
    location / { return 200 "hello \$ssl_client_s_dn\n"; }
  }
  server {
    listen 127.0.0.1:$P_H2C http2;
    location / { return 200 "hello\n"; }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/start.err" &
PIDS+=($!)
# nginx is up when it answers (curl retries refused connections, bounded)
curl -sS --max-time 5 --retry 20 --retry-connrefused --cacert ca.pem -o /dev/null "https://127.0.0.1:$P_TLS/" ||
  { cat "$WORK/nginx/start.err" "$WORK/nginx/logs/error.log" >&2; fail "nginx did not start"; }
LOG=$WORK/nginx/logs/access.log
served() { # served PROTOCOL: lines in nginx's access log since the last reset, then reset
  local n
  n=$(grep -c "^$1 200\$" "$LOG" || true)
  : >"$LOG"
  echo "$n"
}
: >"$LOG"
URL=https://127.0.0.1:$P_TLS/

# ---- HTTPS/1.1, open model: exact counts, handshake timing, resumption ----
run_json r1.json 30 -c 4 -t 1 --schedule 'const(300,1s)' -d 1.5s --cacert ca.pem "$URL"
expect_eq "https/1.1 completed" "$(jqr r1.json .summary.requests)" 300
expect_eq "https/1.1 errors" "$(jqr r1.json .summary.errors)" 0
expect_eq "nginx served HTTP/1.1" "$(served HTTP/1.1)" 300
expect_jq "tls handshake timing present" r1.json '.summary.breakdown_us.tls.max > 0'
expect_jq "every connection made a handshake" r1.json \
  '.summary.tls.handshakes_full + .summary.tls.handshakes_resumed == .summary.connects'
# nginx closes a connection after 50 requests: 300 requests on 4 connections need reconnections
expect_jq "reconnections resumed their sessions" r1.json '.summary.tls.handshakes_resumed > 0'
expect_jq "fewer full handshakes than connections" r1.json '.summary.tls.handshakes_full < .summary.connects'

run_json r2.json 30 -c 4 -t 1 --schedule 'const(300,1s)' -d 1.5s --cacert ca.pem --no-tls-resume "$URL"
expect_eq "--no-tls-resume: nothing resumed" "$(jqr r2.json .summary.tls.handshakes_resumed)" 0
expect_jq "--no-tls-resume: a full handshake per connection" r2.json \
  '.summary.tls.handshakes_full == .summary.connects'
expect_eq "--no-tls-resume completed" "$(jqr r2.json .summary.requests)" 300
expect_jq "the result's config says no resumption" r2.json '.config.tls.resume == false'
served HTTP/1.1 >/dev/null

# TLS 1.2 only, closed model, phout with the TLS column
run_json r3.json 30 -c 2 -t 1 -d 1s --tls 1.2 --cacert ca.pem --phout "$WORK/p.phout" --phout-tls "$URL"
expect_eq "tls 1.2 errors" "$(jqr r3.json .summary.errors)" 0
expect_jq "the result's config has the TLS settings" r3.json \
  '.config.http2 == false and .config.tls.min == "1.2" and .config.tls.max == "1.2" and .config.tls.resume and (.config.tls.insecure | not) and .config.tls.cacert == "ca.pem"'
expect_jq "tls 1.2 completed" r3.json '.summary.requests > 0'
expect_eq "phout --phout-tls has 13 columns" "$(awk -F'\t' '{print NF}' "$WORK/p.phout" | sort -u)" 13
served HTTP/1.1 >/dev/null

# ---- a wrong CA: a distinct error kind with the reason; -k accepts ----
run_json r4.json 30 -c 2 -t 1 --schedule 'const(20,1s)' -d 1.5s --cacert other.pem "$URL"
expect_eq "wrong CA: tls errors" "$(jqr r4.json .summary.errors_by_kind.tls)" 20
expect_eq "wrong CA: nothing completed" "$(jqr r4.json .summary.requests)" 0
expect_jq "wrong CA: the reason is given" r4.json '.summary.tls.error | test("certificate verify failed")'
grep -q 'TLS error: certificate verify failed' r4.json.stdout || fail "summary does not print the TLS error"
expect_eq "nginx served nothing" "$(served HTTP/1.1)" 0
run_json r5.json 30 -c 2 -t 1 --schedule 'const(20,1s)' -d 1.5s -k --cacert other.pem "$URL"
expect_eq "-k: completed" "$(jqr r5.json .summary.requests)" 20
served HTTP/1.1 >/dev/null

# ---- client certificates: nginx requires one signed by the CA ----
run_json m1.json 30 -c 1 -t 1 --schedule 'const(10,1s)' -d 1.5s --cacert ca.pem --cert client.pem --key client.key "https://127.0.0.1:$P_MTLS/"
expect_jq "client certificate: 10 answered 200" m1.json '.summary.status["200"] == 10'
run_json m2.json 30 -c 1 -t 1 --schedule 'const(10,1s)' -d 1.5s --cacert ca.pem "https://127.0.0.1:$P_MTLS/"
expect_jq "no client certificate: nginx answers 400, 10 times" m2.json '.summary.status["400"] == 10'
served HTTP/1.1 >/dev/null
rc=0
"$MORTAR" run -d 1s --cacert ca.pem --cert client.pem --key other.key "https://127.0.0.1:$P_MTLS/" 2>err.txt || rc=$?
expect_eq "a key that does not match --cert exits" "$rc" 2
grep -q 'mismatch' err.txt || fail "mismatched key not explained: $(cat err.txt)"

# ---- HTTP/2 over TLS: exact counts, the server's limit (8 streams) respected with --streams 20 ----
run_json r6.json 30 -c 2 -t 1 --http2 --streams 20 --schedule 'const(300,1s)' -d 1.5s --cacert ca.pem "$URL"
expect_jq "the result's config has http2 and the streams" r6.json '.config.http2 and .config.streams == 20 and .config.tls.resume'
expect_eq "h2 completed" "$(jqr r6.json .summary.requests)" 300
expect_eq "h2 errors" "$(jqr r6.json .summary.errors)" 0
expect_eq "nginx served HTTP/2.0" "$(served HTTP/2.0)" 300
expect_jq "h2: no stream refused by RST_STREAM (limit respected)" r6.json '(.summary.http2.rst_streams // 0) == 0'
expect_jq "h2: GOAWAY after 50 requests handled" r6.json '.summary.http2.goaways > 0'

# closed model over h2, and ALPN: h2 was negotiated (nginx logs the protocol)
run_json r7.json 30 -c 2 -t 1 --http2 --streams 4 -d 1s --cacert ca.pem "$URL"
expect_eq "h2 closed errors" "$(jqr r7.json .summary.errors)" 0
expect_jq "h2 closed completed" r7.json '.summary.requests > 0'
expect_eq "h2 closed: all HTTP/2" "$(grep -vc '^HTTP/2.0 200$' "$LOG" || true)" 0
served HTTP/2.0 >/dev/null

# ---- h2c (prior knowledge) on cleartext ----
run_json r8.json 30 -c 1 -t 1 --http2 --streams 10 --schedule 'const(100,1s)' -d 1.5s "http://127.0.0.1:$P_H2C/"
expect_eq "h2c completed" "$(jqr r8.json .summary.requests)" 100
expect_eq "nginx served h2c" "$(served HTTP/2.0)" 100

# ---- flag errors: exit 2 with the flag named ----
rc=0
"$MORTAR" run -d 1s --cacert "$WORK/missing.pem" "$URL" 2>err.txt || rc=$?
expect_eq "missing --cacert exits" "$rc" 2
grep -q -- '--cacert' err.txt || fail "error does not name --cacert: $(cat err.txt)"
rc=0
"$MORTAR" run -d 1s -k "http://127.0.0.1:$P_H2C/" 2>err.txt || rc=$?
expect_eq "-k on http:// exits" "$rc" 2
rc=0
"$MORTAR" run -d 1s --streams 4 "$URL" 2>err.txt || rc=$?
expect_eq "--streams without --http2 exits" "$rc" 2
