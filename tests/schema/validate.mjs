// Validates JSON documents against a JSON Schema (draft 2020-12) with ajv.
// Usage: node tests/schema/validate.mjs SCHEMA.json DOC.json...   (exit 1 on the first invalid)
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';

const [schemaPath, ...docs] = process.argv.slice(2);
if (!schemaPath || docs.length === 0) {
  console.error('usage: validate.mjs SCHEMA.json DOC.json...');
  process.exit(2);
}
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
let bad = 0;
for (const doc of docs) {
  if (validate(JSON.parse(readFileSync(doc, 'utf8')))) {
    console.log(`ok: ${doc} is valid`);
  } else {
    bad++;
    console.error(`FAIL: ${doc}:`);
    for (const e of validate.errors.slice(0, 10)) console.error(`  ${e.instancePath || '/'} ${e.message}`);
  }
}
process.exit(bad ? 1 : 0);
