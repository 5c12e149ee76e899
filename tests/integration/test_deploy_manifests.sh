#!/usr/bin/env bash
# deploy/ checked offline (docs/deploy.md, ADR 0038): both Kustomize overlays rendered with
# `kubectl kustomize` and every object validated against the Kubernetes schemas (npm
# kubernetes-models) and walked against the API's field names (unknown fields refused); the
# compose file parsed by podman-compose and validated against the compose specification's
# schema; yamllint on everything. Each check is also shown to fail on a broken copy.
source "$(dirname "$0")/lib.sh"
cd "$MT_SOURCE_DIR"

# ---- the tools: kubectl (else Debian's kubernetes-client unpacked, not installed), the npm
# packages of tests/deploy/ (installed once into the build directory, redone when the lock
# changes), yamllint and podman-compose (scripts/deps.sh test) ----
CACHE=$(dirname "$MORTAR")/deploy-check
mkdir -p "$CACHE"
KUBECTL=$(command -v kubectl || true)
if [[ -z $KUBECTL ]]; then
  KUBECTL=$CACHE/kubectl-root/usr/bin/kubectl
  if [[ ! -x $KUBECTL ]]; then
    (cd "$CACHE" && timeout 300 apt-get download kubernetes-client >/dev/null &&
      dpkg-deb -x kubernetes-client_*.deb kubectl-root) || fail "no kubectl, and Debian's kubernetes-client could not be unpacked"
  fi
fi
"$KUBECTL" version --client >/dev/null 2>&1 || fail "$KUBECTL does not run"
for t in yamllint podman-compose node npm; do
  command -v "$t" >/dev/null || fail "$t not found (scripts/deps.sh test installs it)"
done
lock=$(sha256sum tests/deploy/package-lock.json | cut -d' ' -f1)
if [[ $(cat "$CACHE/npm.stamp" 2>/dev/null) != "$lock" ]]; then
  cp tests/deploy/package.json tests/deploy/package-lock.json "$CACHE/"
  (cd "$CACHE" && timeout 600 npm ci --no-audit --no-fund >"$CACHE/npm.log" 2>&1) ||
    fail "npm ci of tests/deploy failed: $(tail -n 20 "$CACHE/npm.log")"
  echo "$lock" >"$CACHE/npm.stamp"
fi
cp tests/deploy/check.mjs "$CACHE/check.mjs" # resolves its packages from $CACHE/node_modules
check() { node "$CACHE/check.mjs" "$@"; }

# a copy of deploy/ with the files an installation adds (the small overlay's password file)
cp -r deploy "$WORK/deploy"
echo "not-a-real-password" >"$WORK/deploy/k8s/overlays/small/postgresql-password.txt"

# ---- Kubernetes ----
for o in small production; do
  "$KUBECTL" kustomize "$WORK/deploy/k8s/overlays/$o" >"$WORK/$o.yaml" 2>"$WORK/$o.err" ||
    fail "kubectl kustomize overlays/$o: $(cat "$WORK/$o.err")"
  check k8s "$WORK/$o.yaml" >"$WORK/$o.check" || fail "overlays/$o: $(cat "$WORK/$o.check")"
  pass "overlays/$o renders and validates: $(tail -n 1 "$WORK/$o.check")"
done
# what the issue asks of the rendered objects
S=$WORK/small.yaml
n=$(grep -c '^kind: ' "$S")
expect_eq "overlays/small has every kind" \
  "$(grep '^kind: ' "$S" | sort -u | tr '\n' ' ')" \
  "kind: ConfigMap kind: Deployment kind: Namespace kind: NetworkPolicy kind: PodDisruptionBudget kind: Secret kind: Service kind: StatefulSet "
node -e '
const YAML = require(process.argv[1] + "/node_modules/yaml");
const docs = YAML.parseAllDocuments(require("fs").readFileSync(process.argv[2], "utf8")).map((d) => d.toJS());
const get = (k, n) => docs.find((d) => d.kind === k && d.metadata.name === n);
const fail = (m) => { console.error(m); process.exit(1); };
const serve = get("Deployment", "mortar-serve"), agent = get("Deployment", "mortar-agent");
if (!(serve.spec.replicas > 1)) fail("serve replicas " + serve.spec.replicas);
const sc = serve.spec.template.spec.containers[0];
if (sc.readinessProbe.httpGet.path !== "/readyz" || sc.livenessProbe.httpGet.path !== "/healthz") fail("serve probes");
if (!sc.env.some((e) => e.name === "PGPASSWORD" && e.valueFrom.secretKeyRef)) fail("PGPASSWORD not from a Secret");
if (!sc.env.some((e) => e.name === "MORTAR_STORE_URL" && e.valueFrom.secretKeyRef)) fail("store URL not from a Secret");
if (!sc.args.includes("--store")) fail("serve without --store");
const ac = agent.spec.template.spec.containers[0];
if (ac.resources.requests.cpu !== ac.resources.limits.cpu) fail("agent cpu requests != limits");
if (!ac.env.some((e) => e.name === "POD_NAME" && e.valueFrom.fieldRef.fieldPath === "metadata.name")) fail("pod name not from the downward API");
if (ac.args[ac.args.indexOf("--name") + 1] !== "$(POD_NAME)") fail("agent --name is not the pod name");
if (!agent.spec.template.spec.topologySpreadConstraints.some((t) => t.topologyKey === "kubernetes.io/hostname")) fail("agents not spread over nodes");
for (const d of docs.filter((d) => d.spec && d.spec.template)) {
  const ps = d.spec.template.spec;
  if (ps.securityContext.runAsNonRoot !== true) fail(d.metadata.name + ": may run as root");
  for (const c of ps.containers) {
    const s = c.securityContext;
    if (s.readOnlyRootFilesystem !== true || s.allowPrivilegeEscalation !== false) fail(d.metadata.name + ": securityContext");
  }
}
if (!get("PodDisruptionBudget", "mortar-serve")) fail("no PDB for serve");
if (!get("StatefulSet", "nats").spec.template.spec.containers[0].args.includes("-js")) fail("NATS without JetStream");
for (const n of ["mortar-default-deny", "mortar-agent", "mortar-serve", "nats"]) if (!get("NetworkPolicy", n)) fail("no NetworkPolicy " + n);
const ae = get("NetworkPolicy", "mortar-agent").spec;
if (ae.ingress && ae.ingress.length) fail("something may connect to agents");
' "$CACHE" "$S" 2>"$WORK/props.err" || fail "overlays/small: $(cat "$WORK/props.err")"
pass "probes, PDB, CPU requests = limits, spread, pod name, Secret, securityContext, NetworkPolicies ($n objects)"
grep -q 'nats_url: nats://nats.messaging.svc:4222' "$WORK/production.yaml" || fail "production: NATS URL not patched"
if grep -q '^kind: StatefulSet' "$WORK/production.yaml"; then fail "production runs its own NATS"; fi
pass "overlays/production points at an existing NATS"

# a misspelt field in a copy: the check fails and names it
cp -r "$WORK/deploy" "$WORK/broken"
sed -i '0,/          resources:/s//          resoures:/' "$WORK/broken/k8s/base/agent.yaml"
"$KUBECTL" kustomize "$WORK/broken/k8s/overlays/small" >"$WORK/broken.yaml" || fail "the broken copy does not render"
rc=0; check k8s "$WORK/broken.yaml" >"$WORK/broken.check" || rc=$?
expect_eq "a misspelt resoures: fails the check" "$rc" 1
grep -q 'Deployment/mortar-agent.*containers\[0\]\.resoures: unknown field' "$WORK/broken.check" ||
  fail "the failure does not name the field: $(cat "$WORK/broken.check")"
# a wrong type: the schema
sed 's/^  replicas: 2$/  replicas: two/' "$WORK/small.yaml" >"$WORK/broken2.yaml"
rc=0; check k8s "$WORK/broken2.yaml" >"$WORK/broken2.check" || rc=$?
expect_eq "replicas: two fails the schema check" "$rc" 1
grep -q 'replicas must be integer' "$WORK/broken2.check" || fail "no reason: $(cat "$WORK/broken2.check")"
# a missing required field
sed 's/^        name: agent$/        nam: agent/' "$WORK/small.yaml" >"$WORK/broken3.yaml"
rc=0; check k8s "$WORK/broken3.yaml" >"$WORK/broken3.check" || rc=$?
expect_eq "a container without a name fails" "$rc" 1
grep -q 'containers/0 must have required property name' "$WORK/broken3.check" || fail "no reason: $(cat "$WORK/broken3.check")"

# ---- compose ----
C=$WORK/deploy/compose.yaml
export CONTAINERS_CONF=$MT_SOURCE_DIR/tests/container/containers.conf
# Debian's podman-compose (1.0.3) has no `config`: `ps` parses and resolves the file (and only
# lists this project's containers: none)
timeout 60 podman-compose -p mortar-compose-check -f "$C" ps >"$WORK/pc.out" 2>&1 ||
  fail "podman-compose cannot read deploy/compose.yaml: $(tail -n 20 "$WORK/pc.out")"
check compose "$C" >"$WORK/c.check" || fail "deploy/compose.yaml: $(cat "$WORK/c.check")"
pass "deploy/compose.yaml: $(tail -n 1 "$WORK/c.check")"
for s in nats postgres serve-1 serve-2 agent-1 agent-2 agent-3 target admin-token; do
  node -e 'const Y = require(process.argv[1] + "/node_modules/yaml");
    const c = Y.parse(require("fs").readFileSync(process.argv[2], "utf8"), { merge: true });
    if (!c.services[process.argv[3]]) process.exit(1);' "$CACHE" "$C" "$s" || fail "compose has no service $s"
done
pass "compose: NATS, PostgreSQL, two serve, three agents, target, admin-token"
grep -q -- '"-js"' "$C" || fail "compose: NATS without JetStream"
sed 's/^    command: \["agent"/    comand: ["agent"/' "$C" >"$WORK/broken-compose.yaml"
rc=0; check compose "$WORK/broken-compose.yaml" >"$WORK/bc.check" || rc=$?
expect_eq "a misspelt comand: fails the compose check" "$rc" 1
grep -q "/services/agent-1: must NOT have additional properties: unknown key 'comand'" "$WORK/bc.check" ||
  fail "the failure does not name the key: $(cat "$WORK/bc.check")"
printf 'services:\n  a:\n    image: x\n   command: y\n' >"$WORK/broken-yaml.yaml"
rc=0; timeout 60 podman-compose -p mortar-compose-check -f "$WORK/broken-yaml.yaml" ps >"$WORK/pc2.out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "podman-compose accepted a file that is not YAML"
pass "podman-compose refuses a broken file (exit $rc)"

# ---- yamllint ----
yamllint -f parsable -c deploy/.yamllint.yaml deploy/ >"$WORK/yl.txt" 2>&1 || fail "yamllint: $(cat "$WORK/yl.txt")"
pass "yamllint: deploy/ is clean"
printf 'a: 1\na: 2\n' >"$WORK/broken/dup.yaml"
rc=0; yamllint -f parsable -c deploy/.yamllint.yaml "$WORK/broken/dup.yaml" >"$WORK/yl2.txt" 2>&1 || rc=$?
expect_eq "yamllint fails on a duplicated key" "$rc" 1

# the image's build stage installs every library scripts/deps.sh builds with (an import parser
# once needed libexpat1-dev and only the image's build noticed, minutes into the container test)
for p in $(sed -n '/^build_pkgs=(/,/)/p' "$MT_SOURCE_DIR/scripts/deps.sh" | tr ' ()' '\n\n\n' | grep -- '^lib.*-dev$'); do
  grep -q -- "$p" "$MT_SOURCE_DIR/deploy/container/Containerfile" ||
    fail "deploy/container/Containerfile does not install $p (scripts/deps.sh build_pkgs has it)"
done
pass "the Containerfile's build stage installs every library package of scripts/deps.sh"
