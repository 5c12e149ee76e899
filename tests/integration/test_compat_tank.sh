# Yandex.Tank compatibility (issue 15): the shapes real Tank users have, written here as files:
# a load.yaml whose ammo comes from the command line, a placeholder address, ssl: true against a
# certificate nobody trusts, a classic load.ini (one-line bracket headers, multi-line uris,
# [autostop]), an instances ramp, a Pandora config, a bad schedule step's position.
source "$(dirname "$0")/lib.sh"
start_target
HOSTPORT=127.0.0.1:$TARGET_PORT

run() { # run EXPECTED_EXIT ARGS...
  local want=$1 rc
  shift
  set +e
  (cd "$WORK" && timeout $((60 * SLOW)) "$MORTAR" run "$@") >"$WORK/stdout" 2>"$WORK/stderr"
  rc=$?
  set -e
  [[ $rc -eq $want ]] || fail "mortar run $* exited $rc, want $want: $(tail -n3 "$WORK/stderr")"
  pass "exit $rc: $*"
}
expect_err() { grep -qF -- "$1" "$WORK/stderr" || fail "stderr lacks '$1': $(cat "$WORK/stderr")"; }

# ---- yandex-tank -c load.yaml ammo.txt: no ammofile/uris in the file, --ammo on the command line
cat >"$WORK/load.yaml" <<YAML
phantom:
  address: $HOSTPORT
  load_profile:
    load_type: rps
    schedule: const(20, 1s)
  header_http: "1.0"
YAML
printf '[Host: example.org]\n/ good\n/?status=404 missing\n' >"$WORK/ammo.txt"
run 0 -q --config load.yaml --ammo ammo.txt --json out.json
expect_eq "ammo from the command line sent" "$(jqr "$WORK/out.json" .summary.completed)" 20
expect_eq "its tags" "$(jq -r '.summary.tags | keys | join(",")' "$WORK/out.json")" ",good,missing"
[[ ! -s $WORK/stderr ]] || fail "header_http: '1.0' (Tank's default) warned: $(cat "$WORK/stderr")"
run 2 -q --config load.yaml
expect_err "load.yaml:1:1: phantom: give ammofile or uris (the requests to send), or --ammo FILE on the command line"

# ---- a placeholder address: fine when the URL argument replaces it, an error otherwise
sed "s/address: .*/address: '{{ target_host }}'/" "$WORK/load.yaml" >"$WORK/placeholder.yaml"
run 0 -q --config placeholder.yaml --ammo ammo.txt --json out.json "$TARGET_URL/"
expect_eq "URL argument used" "$(jqr "$WORK/out.json" .summary.completed)" 20
run 2 -q --config placeholder.yaml --ammo ammo.txt
expect_err "placeholder.yaml:2:12: address: '{{ target_host }}' is not a host name or address (or give the URL on the command line)"

# ---- a schedule step error keeps its place in the file
sed "s/schedule: .*/schedule: line(1, 10, 10s) cnst(5, 1m)/" "$WORK/load.yaml" >"$WORK/badsched.yaml"
run 2 -q --config badsched.yaml --ammo ammo.txt
expect_err "badsched.yaml:5:32: schedule: unknown step 'cnst'"

# ---- instances with a ramp: the peak for the whole length, with a warning
cat >"$WORK/instances.yaml" <<YAML
phantom:
  address: $HOSTPORT
  uris: [/]
  load_profile: {load_type: instances, schedule: 'line(1, 3, 1s) const(2, 1s)'}
YAML
run 0 -q --config instances.yaml --json out.json
expect_eq "closed model, peak connections" "$(jqr "$WORK/out.json" .config.connections)" 3
expect_err "instances.yaml:4:50: phantom.load_profile: mortar keeps a fixed number of connections"

# ---- Pandora
cat >"$WORK/pandora.yaml" <<'YAML'
pools:
  - id: HTTP pool
    gun: {type: http, target: "example.org:80"}
    ammo: {type: uri, file: ./ammo.uri}
    rps: {type: line, from: 1, to: 10, duration: 1m}
YAML
run 2 -q --config pandora.yaml
expect_err "pandora.yaml:1:1: a Pandora config (pandora:/pools:)"

# ---- a classic load.ini
cat >"$WORK/load.ini" <<INI
; load.ini as Tank 1.7 users still write it
[tank]
artifacts_base_dir = logs

[phantom]
address=$HOSTPORT
rps_schedule=line(1, 10, 2s) const(10, 1s)
headers = [Host: example.org] [Connection: keep-alive]
uris=/ root
  /?status=500 err

  /?delay=1ms slow
instances=4
writelog=0

[autostop]
autostop=time(1s,10s)
  http(5xx,100%,5s)

[meta]
job_name = ini smoke
INI
run 0 -q --config load.ini --json out.json
expect_eq "INI schedule's requests" "$(jqr "$WORK/out.json" .summary.due)" 21
expect_eq "INI uris' tags" "$(jq -r '.summary.tags | keys | join(",")' "$WORK/out.json")" ",err,root,slow"
expect_eq "INI instances" "$(jqr "$WORK/out.json" .config.connections)" 4
expect_eq "INI autostop criteria" "$(jq '.verdicts | length' "$WORK/out.json")" 2
# the INI's one-line headers are two headers: the target sees Host example.org (not a mangled
# "Host: example.org] [Connection: keep-alive" value), checked through the request size
sed 's/^headers = .*/headers = [Host: example.org]/' "$WORK/load.ini" >"$WORK/one.ini"
run 0 -q --config one.ini --json one.json
with_two=$(jqr "$WORK/out.json" .summary.bytes_out)
with_one=$(jqr "$WORK/one.json" .summary.bytes_out)
hdr="Connection: keep-alive"
expect_eq "Connection header adds its bytes to each request" "$((with_two - with_one))" \
  "$((21 * (${#hdr} + 2)))"
# its errors are at the INI's lines
printf '[phantom]\naddress=%s\nrps_schedule=const(1,1s) lne(1,2,3s)\nuris=/\n' "$HOSTPORT" >"$WORK/bad.ini"
run 2 -q --config bad.ini
expect_err "bad.ini:3:26: schedule: unknown step 'lne'"

# ---- ssl: true does not verify the certificate (as Phantom); mortar's own https does, with a hint
fifo="$WORK/tls.fifo"
mkfifo "$fifo"
"$MORTAR" target --listen 127.0.0.1:0 --tls-self-signed >"$fifo" 2>"$WORK/tls.err" &
PIDS+=($!)
exec {TLS_FD}<"$fifo"
read -r -t 20 -u "$TLS_FD" line || fail "TLS target did not start"
[[ $line =~ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] || fail "unexpected target line: $line"
TLS_PORT=${BASH_REMATCH[1]}
cat >"$WORK/ssl.yaml" <<YAML
phantom:
  address: 127.0.0.1:$TLS_PORT
  ssl: true
  uris: [/]
  load_profile: {load_type: rps, schedule: 'const(10, 1s)'}
YAML
run 0 -q --config ssl.yaml --json out.json
expect_eq "ssl: true, self-signed: answered" "$(jqr "$WORK/out.json" .summary.completed)" 10
expect_eq "no tls errors" "$(jqr "$WORK/out.json" .summary.errors_by_kind.tls)" 0
run 0 -R 10 -d 1s --json out.json "https://127.0.0.1:$TLS_PORT/"
[[ $(jqr "$WORK/out.json" .summary.errors_by_kind.tls) -gt 0 ]] || fail "https:// verified nothing"
grep -q "hint: most requests failed verifying the server's certificate.*-k/--insecure" "$WORK/stdout" ||
  fail "no -k hint in the summary: $(cat "$WORK/stdout")"
run 0 -k -R 10 -d 1s --json out.json "https://127.0.0.1:$TLS_PORT/"
grep -q "hint:" "$WORK/stdout" && fail "hint printed with -k"
pass "no hint with -k"
