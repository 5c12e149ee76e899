#!/usr/bin/env bash
# The container image, built and run with podman (docs/deploy.md, ADR 0038): the base image
# debian:bookworm-slim made here from Debian's packages (mmdebstrap, cached in
# $MORTAR_CONTAINER_CACHE, default /var/cache/mortar-test), deploy/container/Containerfile built
# unchanged, then nats-server, `mortar serve` and two `mortar agent` in containers (--network
# host, 127.0.0.1 only) run a test through the API against a `mortar target` on loopback: the
# stored seconds count what the target counted. `podman stop` of serve (SIGTERM to PID 1) ends
# a running run as `stopped` and serve exits 0. Where podman cannot run containers this fails
# with the reason, unless MORTAR_SKIP_CONTAINER_TESTS=1 (then it reports itself skipped).
source "$MT_SOURCE_DIR/tests/integration/lib.sh"
source "$MT_SOURCE_DIR/tests/integration/serve_lib.sh"
T0=$SECONDS

export CONTAINERS_CONF=$MT_SOURCE_DIR/tests/container/containers.conf
CACHE=${MORTAR_CONTAINER_CACHE:-/var/cache/mortar-test}
BASE=docker.io/library/debian:bookworm-slim
IMAGE=localhost/mortar:ctest
NATS_IMAGE=localhost/mortar-test-nats:ctest
P=mt-ctest-$$ # container names of this run
CONTAINERS=()

cannot() {
  if [[ ${MORTAR_SKIP_CONTAINER_TESTS:-} == 1 ]]; then
    echo "SKIPPED (MORTAR_SKIP_CONTAINER_TESTS=1): $*"
    exit 77
  fi
  fail "$* (set MORTAR_SKIP_CONTAINER_TESTS=1 to skip the container tests on this machine)"
}
containers_cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  cleanup
}
trap containers_cleanup EXIT
step() { echo "[$((SECONDS - T0))s] $*"; }

# ---- can podman run containers here? ----
for t in podman runc mmdebstrap; do
  command -v "$t" >/dev/null || cannot "$t is not installed (scripts/deps.sh test installs it)"
done
podman info >"$WORK/podman-info.txt" 2>&1 || cannot "podman info fails: $(tail -n 5 "$WORK/podman-info.txt")"
mkdir -p "$CACHE" 2>/dev/null && [[ -w $CACHE ]] || cannot "the base image cache $CACHE is not writable"

# ---- the base image, from Debian's packages, cached ----
# apt in the image reaches the mirror the way this host's apt does: the host's sources and its
# proxy and validity settings are given to mmdebstrap (and stay in the image's apt config)
ROOTFS=$CACHE/bookworm-minbase.tar
if [[ ! -f $ROOTFS || ! -s $ROOTFS ]]; then
  rm -rf "$ROOTFS"
  step "making the base image with mmdebstrap (cached in $ROOTFS)"
  mirror=()
  [[ -f /etc/apt/sources.list.d/debian.sources ]] && mirror=(/etc/apt/sources.list.d/debian.sources)
  aptopts=()
  while IFS= read -r o; do aptopts+=("--aptopt=$o"); done < <(apt-config dump |
    grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date) ' || true)
  rm -rf "$ROOTFS.part"
  timeout 900 mmdebstrap --quiet --format=tar --variant=minbase "${aptopts[@]}" bookworm "$ROOTFS.part" \
    "${mirror[@]}" >"$WORK/mmdebstrap.log" 2>&1 || {
    rm -rf "$ROOTFS.part"
    cannot "mmdebstrap failed: $(tail -n 20 "$WORK/mmdebstrap.log")"
  }
  mv "$ROOTFS.part" "$ROOTFS"
fi
stamp="$(stat -c '%s-%Y' "$ROOTFS")"
if [[ $(podman image inspect --format '{{index .Labels "dev.mortar.rootfs"}}' "$BASE" 2>/dev/null) != "$stamp" ]]; then
  step "importing $ROOTFS as $BASE"
  podman import --change "LABEL dev.mortar.rootfs=$stamp" "$ROOTFS" "$BASE" >"$WORK/import.log" 2>&1 ||
    cannot "podman import failed: $(tail -n 5 "$WORK/import.log")"
fi
podman run --rm --network host --no-healthcheck "$BASE" true >"$WORK/run.log" 2>&1 ||
  cannot "podman cannot run a container here: $(tail -n 5 "$WORK/run.log")"
pass "podman runs containers; base image $BASE ($stamp)"

# ---- the image: the real Containerfile, unchanged ----
[[ -f $MT_SOURCE_DIR/node_modules/uplot/dist/uPlot.iife.min.js ]] ||
  fail "node_modules/ is missing: configure the build first (cmake runs npm ci)"
step "podman build deploy/container/Containerfile"
timeout 1800 podman build --format docker --network host -f "$MT_SOURCE_DIR/deploy/container/Containerfile" \
  -t "$IMAGE" "$MT_SOURCE_DIR" >"$WORK/build.log" 2>&1 || fail "podman build failed: $(tail -n 40 "$WORK/build.log")"
step "built"
timeout 900 podman build --network host -f "$MT_SOURCE_DIR/tests/container/nats.Containerfile" -t "$NATS_IMAGE" \
  "$MT_SOURCE_DIR/tests/container" >"$WORK/build-nats.log" 2>&1 || fail "podman build of nats failed: $(tail -n 20 "$WORK/build-nats.log")"
podman image inspect "$IMAGE" >"$WORK/image.json"
expect_jq "the image runs as a non-root user" "$WORK/image.json" '.[0].Config.User == "10001:10001"'
expect_jq "ENTRYPOINT [\"mortar\"]" "$WORK/image.json" '.[0].Config.Entrypoint == ["mortar"]'
expect_jq "a HEALTHCHECK (mortar health)" "$WORK/image.json" '.[0].Healthcheck.Test == ["CMD", "mortar", "health"]'
expect_eq "mortar version in the image" "$(podman run --rm --network host --no-healthcheck "$IMAGE" version)" "$("$MORTAR" version)"
podman run --rm --network host --no-healthcheck --entrypoint sh "$IMAGE" -c 'ldd /usr/local/bin/mortar' >"$WORK/ldd.txt"
if grep -q 'not found' "$WORK/ldd.txt"; then fail "a library is missing: $(grep 'not found' "$WORK/ldd.txt")"; fi
if podman run --rm --network host --no-healthcheck --entrypoint sh "$IMAGE" -c 'command -v gcc cc cmake' >"$WORK/tools.txt"; then
  fail "build tools in the runtime image: $(cat "$WORK/tools.txt")"
fi
pass "the runtime image has every library and no build tools"

# run CONTAINER-NAME [podman run args...] -- [mortar args...]: a detached container on the host
# network, removed at exit
run() {
  local name=$P-$1
  shift
  CONTAINERS+=("$name")
  local pre=()
  while [[ $# -gt 0 && $1 != -- ]]; do pre+=("$1"); shift; done
  shift
  podman run -d --name "$name" --network host "${pre[@]}" "$@" >/dev/null 2>"$WORK/$name.err" ||
    fail "podman run $name: $(cat "$WORK/$name.err")"
}
# wait_log CONTAINER REGEX: until the container's output has a matching line (bounded); prints it
wait_log() {
  local i line
  for ((i = 0; i < 300 * SLOW; i++)); do
    line=$(podman logs "$P-$1" 2>&1 | grep -E -m 1 "$2" || true)
    [[ -n $line ]] && { echo "$line"; return 0; }
    [[ $(podman inspect --format '{{.State.Running}}' "$P-$1" 2>/dev/null) == true ]] ||
      fail "$1 exited: $(podman logs "$P-$1" 2>&1 | tail -n 20)"
    sleep 0.1
  done
  fail "$1: no line matching $2: $(podman logs "$P-$1" 2>&1 | tail -n 20)"
}

# ---- NATS, serve and two agents in containers; the target on loopback ----
mkdir -p "$WORK/nats" "$WORK/data"
chown 10001:10001 "$WORK/data"
run nats -v "$WORK/nats:/nats:Z" -- "$NATS_IMAGE" -js -sd /nats/js -a 127.0.0.1 -p -1 --ports_file_dir /nats
for ((i = 0; i < 300 * SLOW; i++)); do
  f=$(ls "$WORK"/nats/nats-server_*.ports 2>/dev/null | head -n 1 || true)
  [[ -n $f && -s $f ]] && break
  sleep 0.1
done
NATS_URL=$(jq -r '.nats[0]' "$f") || fail "no NATS ports file: $(podman logs "$P-nats" 2>&1 | tail)"
[[ $NATS_URL == nats://127.0.0.1:* ]] || fail "NATS not on loopback: $NATS_URL"
pass "nats-server in a container: $NATS_URL"

TOK=$(podman run --rm --network host --no-healthcheck -v "$WORK/data:/var/lib/mortar:Z" "$IMAGE" token create --role admin \
  --data /var/lib/mortar) || fail "token create in the container"
start_serve_container() {
  run "$1" -v "$WORK/data:/var/lib/mortar:Z" --no-healthcheck -- "$IMAGE" \
    serve --listen 127.0.0.1:0 --data /var/lib/mortar --nats "$NATS_URL"
  local line
  line=$(wait_log "$1" '^mortar serve: listening on ')
  [[ $line =~ ^mortar\ serve:\ listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] || fail "unexpected serve line: $line"
  SERVE_PORT=${BASH_REMATCH[1]}
  API="http://127.0.0.1:$SERVE_PORT/api/v1"
}
start_serve_container serve
pass "serve in a container on 127.0.0.1:$SERVE_PORT"
rc=0
podman run --rm --network host --no-healthcheck "$IMAGE" health "http://127.0.0.1:$SERVE_PORT/readyz" || rc=$?
expect_eq "mortar health (the HEALTHCHECK's command) on a ready serve" "$rc" 0
rc=0
podman run --rm --network host --no-healthcheck "$IMAGE" health "http://127.0.0.1:$(refused_port)/readyz" 2>/dev/null || rc=$?
expect_eq "mortar health on nothing" "$rc" 1

for a in gen-1 gen-2; do
  run "$a" --no-healthcheck -- "$IMAGE" agent --nats "$NATS_URL" --name "$a"
  wait_log "$a" "^mortar agent: $a " >/dev/null
done
for ((i = 0; i < 300 * SLOW; i++)); do
  api GET /agents "$TOK" >/dev/null || true
  [[ $(jq '[.items[] | select(.state == "up" or .up == true)] | length' "$OUT" 2>/dev/null || echo 0) -ge 2 ]] && break
  sleep 0.1
done
expect_jq "two agents up" "$OUT" '[.items[] | select(.state == "up" or .up == true)] | length >= 2'

# ---- a run over both agents against the target on loopback ----
start_target
target_stats "$WORK/before.json"
expect_api "queue a 2-agent run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":40,\"duration\":\"3s\",\"agents\":2}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 120 passed
target_stats_since "$WORK/before.json" "$WORK/d.json"
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
cp "$OUT" "$WORK/run.json"
expect_eq "it ran on both agents" "$(jq -r '.agent | split(",") | sort | join(",")' "$WORK/run.json")" gen-1,gen-2
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
expect_eq "Σ sent over the stored seconds = the target's count" \
  "$(jq '[.items[].sent] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"
expect_eq "Σ completed = the target's count" "$(jq '[.items[].completed] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"
expect_eq "120 requests (40/s for 3 s)" "$(jq .requests "$WORK/d.json")" 120

# ---- podman stop of serve: SIGTERM to PID 1 stops the running run ----
expect_api "queue a long run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"10m\",\"agents\":2}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 120 running
wait_seconds "$RUN" "$TOK" 2 60
step "podman stop serve"
podman stop -t 60 "$P-serve" >/dev/null || fail "podman stop serve"
expect_eq "serve exits 0 on SIGTERM as PID 1 (not killed)" \
  "$(podman inspect --format '{{.State.ExitCode}}' "$P-serve")" 0
# (into a file first: `podman logs | grep -q` under pipefail fails when grep's early exit
# breaks podman's pipe)
podman logs "$P-serve" >"$WORK/serve-logs.txt" 2>&1 || true
grep -q '"msg":"shutting down","signal":"SIGTERM"' "$WORK/serve-logs.txt" ||
  fail "serve did not log its SIGTERM: $(tail -n 5 "$WORK/serve-logs.txt")"
start_serve_container serve2
expect_api "the run after the restart" 200 GET "/runs/$RUN" "$TOK"
expect_jq "the run ended stopped by the shutdown" "$OUT" '.state == "stopped" and (.reason | test("server shutdown"))'

# ---- agents stop on SIGTERM too ----
podman stop -t 60 "$P-gen-1" >/dev/null || fail "podman stop gen-1"
expect_eq "an agent exits 0 on SIGTERM as PID 1" "$(podman inspect --format '{{.State.ExitCode}}' "$P-gen-1")" 0
check_openapi
step "done"
