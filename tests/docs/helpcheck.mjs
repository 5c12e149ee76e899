// Checks each command's --help against its reference table in the docs, black box (the help
// text is parsed; no source is read): every flag the help lists is in the table, every flag of
// the table is named by the help, and where the help states a default, the table's default
// column states the same values (the numbers, sizes, durations, addresses and paths in it).
// Usage: node helpcheck.mjs MORTAR CMD=DOC.md[@N]...   (the Nth flag table; exit 1 on any difference)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [mortar, ...pairs] = process.argv.slice(2);
if (!mortar || !pairs.length) {
  console.error('usage: helpcheck.mjs MORTAR CMD=DOC.md...');
  process.exit(2);
}

// the values a default names: "10", "2s", "127.0.0.1:8080", "./mortar-data", "10,000" = 10000
function values(text) {
  const t = text.replace(/(\d),(\d{3})\b/g, '$1$2');
  const v = t.match(/\.\/[\w.-]+|\d+(?:\.\d+)*(?::\d+)?(?:ms|us|s|m|h|k)?\b/g) || [];
  return [...new Set(v)].sort();
}

function parseHelp(text) {
  const lines = text.split('\n');
  const flags = new Map(); // long or short flag -> {names, desc}
  let cur = null;
  for (const line of lines) {
    const m = /^ {2,6}((?:-[A-Za-z0-9], )?--[a-z0-9][a-z0-9-]*|-[A-Za-z0-9](?=[ ,]))(.*)$/.exec(line);
    if (m) {
      cur = { names: m[1].split(', '), desc: m[2] };
      for (const n of cur.names) flags.set(n, cur);
    } else if (cur && /^ {10,}\S/.test(line)) {
      cur.desc += ' ' + line.trim(); // a continuation of the description
    } else {
      cur = null;
    }
  }
  for (const f of new Set(flags.values())) {
    // "[10]" at the end (run), or "(default 10; ...)" / "(default: ...)" (target, serve)
    const b = /\[([^\]]*)\]\s*$/.exec(f.desc);
    const p = /\(default:? ([^;)]*)/.exec(f.desc);
    f.dflt = b ? b[1] : p ? p[1] : null;
  }
  return flags;
}

// the nth (1-based) table whose first column is "flag"
function parseTable(md, where, nth) {
  const lines = md.split('\n').map((l) => l.trimStart());
  let start = -1;
  for (let seen = 0; seen < nth; seen++) {
    start = lines.findIndex((l, i) => i > start && /^\|\s*flag\s*\|/.test(l));
    if (start < 0) break;
  }
  if (start < 0) throw new Error(`${where}: no table whose first column is "flag"`);
  const head = lines[start].split('|').map((c) => c.trim());
  const dcol = head.indexOf('default');
  const rows = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const cells = lines[i].split(/(?<!\\)\|/).map((c) => c.trim());
    const names = [...cells[1].matchAll(/`(--?[A-Za-z0-9][A-Za-z0-9-]*)/g)].map((m) => m[1]);
    rows.push({ names, dflt: dcol > 0 ? cells[dcol] : null, line: i + 1 });
  }
  return rows;
}

let bad = 0;
const fail = (msg) => {
  bad++;
  console.error(`FAIL: ${msg}`);
};
for (const pair of pairs) {
  const [cmd, spec] = pair.split('=');
  const [doc, nth] = spec.split('@');
  let help;
  try {
    help = execFileSync(mortar, [cmd, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    fail(`mortar ${cmd} --help exits ${e.status}`);
    continue;
  }
  const flags = parseHelp(help);
  const rows = parseTable(readFileSync(doc, 'utf8'), doc, Number(nth || 1));
  const inDoc = new Map();
  for (const r of rows) for (const n of r.names) inDoc.set(n, r);
  let n = 0;
  for (const [name, f] of flags) {
    const r = inDoc.get(name);
    if (!r) {
      fail(`mortar ${cmd} --help lists ${name}; the table of ${doc} does not`);
      continue;
    }
    if (!name.startsWith('--') || f.dflt === null || r.dflt === null) continue;
    n++;
    const hv = values(f.dflt).join(' ');
    const dv = values(r.dflt).join(' ');
    if (hv !== dv)
      fail(`${name}: mortar ${cmd} --help says the default is [${f.dflt}], ${doc}:${r.line} says ${r.dflt} (values: '${hv}' vs '${dv}')`);
  }
  for (const r of rows)
    for (const name of r.names)
      if (!new RegExp(`(^|[\\s,/(\\[])${name.replace(/-/g, '\\-')}(?![A-Za-z0-9-])`, 'm').test(help))
        fail(`${doc}:${r.line} documents ${name}; mortar ${cmd} --help does not name it`);
  console.log(`ok: mortar ${cmd} --help and ${doc}: ${flags.size} flag names, ${n} defaults compared`);
}
process.exit(bad ? 1 : 0);
