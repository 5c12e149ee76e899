// Checks recorded API exchanges against the OpenAPI document: each response's path, method,
// status and media type must be documented, and a JSON body must match the documented schema
// (ajv, JSON Schema 2020-12, as OpenAPI 3.1 uses). Recorded by serve_lib.sh's api():
// DIR/*.meta = {"method","path","status","content_type"}, DIR/*.body = the body.
// Usage: node tests/schema/openapi-check.mjs docs/openapi.json DIR   (exit 1 on any violation)
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';

const [docPath, dir] = process.argv.slice(2);
if (!docPath || !dir) {
  console.error('usage: openapi-check.mjs OPENAPI.json DIR');
  process.exit(2);
}
const doc = JSON.parse(readFileSync(docPath, 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:/i);
ajv.addSchema({ $id: 'openapi', components: doc.components });

// path templates -> regexps, literal templates first ("/tests/{id}" vs "/openapi.json")
const routes = Object.keys(doc.paths).map((t) => ({
  t,
  re: new RegExp('^' + t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
}));
const checkProblem = ajv.compile({ $ref: 'openapi#/components/schemas/Problem' });
const compiled = new Map();

function schemaFor(t, method, code, media) {
  const key = [t, method, code, media].join(' ');
  if (!compiled.has(key)) {
    const schema = doc.paths[t][method].responses[code].content[media].schema;
    // component refs resolve against the document ("openapi#/components/...")
    const text = JSON.stringify(schema).replace(/"#\/components\//g, '"openapi#/components/');
    compiled.set(key, ajv.compile(JSON.parse(text)));
  }
  return compiled.get(key);
}

function resolveResponse(r) {
  return r && r.$ref ? doc.components.responses[r.$ref.split('/').pop()] : r;
}

const metas = readdirSync(dir).filter((f) => f.endsWith('.meta')).sort();
let bad = 0;
const seen = new Set();
for (const f of metas) {
  const m = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const where = `${m.method} ${m.path} -> ${m.status}`;
  const fail = (msg) => {
    bad++;
    console.error(`FAIL: ${where}: ${msg}`);
  };
  // an unknown path's 404 and an unknown method's 405 are problems like any other
  const problem = () => {
    if (!/^application\/problem\+json/.test(m.content_type)) return fail(`not a problem: ${m.content_type}`);
    if (!checkProblem(JSON.parse(readFileSync(join(dir, f.replace(/\.meta$/, '.body')), 'utf8'))))
      fail(`the problem does not match Problem: ${ajv.errorsText(checkProblem.errors)}`);
  };
  const route = routes.find((r) => r.re.test(m.path));
  if (!route) {
    if (m.status !== 404) fail('the path is not in the document');
    else problem();
    continue;
  }
  const op = doc.paths[route.t][m.method.toLowerCase()];
  if (!op) {
    if (m.status !== 405) fail(`no ${m.method} operation`);
    else problem();
    continue;
  }
  seen.add(`${m.method} ${route.t}`);
  const code = String(m.status);
  const resps = op.responses || {};
  const which = resps[code] ? code : resps[code[0] + 'XX'] ? code[0] + 'XX' : resps.default ? 'default' : null;
  if (!which) {
    fail(`status ${code} is not documented (documented: ${Object.keys(resps).join(', ')})`);
    continue;
  }
  const resp = resolveResponse(resps[which]);
  const content = resp.content || {};
  const body = readFileSync(join(dir, f.replace(/\.meta$/, '.body')), 'utf8');
  if (Object.keys(content).length === 0) {
    if (body.length > 0) fail('a body where the document says there is none');
    continue;
  }
  const media = (m.content_type || '').split(';')[0].toLowerCase();
  if (!content[media]) {
    fail(`media type '${media}' is not documented (documented: ${Object.keys(content).join(', ')})`);
    continue;
  }
  if (!media.endsWith('json') || !content[media].schema) continue;
  let json;
  try {
    json = JSON.parse(body);
  } catch (e) {
    fail(`the body is not JSON: ${e.message}`);
    continue;
  }
  let validate;
  if (resps[which].$ref) {
    const name = resps[which].$ref.split('/').pop();
    const k = `response ${name} ${media}`;
    if (!compiled.has(k)) {
      const text = JSON.stringify(content[media].schema).replace(/"#\/components\//g, '"openapi#/components/');
      compiled.set(k, ajv.compile(JSON.parse(text)));
    }
    validate = compiled.get(k);
  } else {
    validate = schemaFor(route.t, m.method.toLowerCase(), which, media);
  }
  if (!validate(json)) {
    fail(
      'the body does not match the schema:\n' +
        validate.errors
          .slice(0, 8)
          .map((e) => `    ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
          .join('\n') +
        `\n    body: ${body.slice(0, 300)}`,
    );
  }
}
if (bad) {
  console.error(`${bad} of ${metas.length} responses break ${docPath}`);
  process.exit(1);
}
console.log(`${metas.length} responses (${seen.size} operations) match ${docPath}`);
