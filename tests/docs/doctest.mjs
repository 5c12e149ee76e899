// Runs the shell examples of README.md and docs/*.md (docs/CONTRIBUTING.md, "Examples that are
// tested"; ADR 0021). Every ```sh / ```bash / ```console / ```shell block must be preceded by a
// marker comment:
//   <!-- doctest: exit=0 stdout~="requests in" replace="-d 30s=>-d 1s" needs="target:8080" -->
//   <!-- doctest: skip="needs a host outside loopback" -->
// Each block runs in its own directory as a `bash -e` script, with build/mortar and mortar on
// PATH being the binary under test, the files of tests/docs/fixtures/ copied in, every loopback
// port of the block (127.0.0.1:P, localhost:P, [::1]:P) mapped to a free one, and every
// `mortar target` / `mortar serve` line run in the background until it prints its listening
// line (given --listen on the mapped default port when it has none); they are stopped when the
// block ends. Checks: the exit status and each regular expression on stdout/stderr/output.
// Usage: node doctest.mjs --mortar BIN --work DIR [--fixtures DIR] [--only FILE:LINE] FILE...
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { basename, join, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const mortar = resolve(opt('--mortar') || '');
const work = resolve(opt('--work') || '');
const fixtures = opt('--fixtures');
const only = opt('--only');
const slow = Number(process.env.MT_SANITIZED ? 4 : 1);
if (!existsSync(mortar) || !args.length) {
  console.error('usage: doctest.mjs --mortar BIN --work DIR [--fixtures DIR] [--only FILE:LINE] FILE...');
  process.exit(2);
}

const SHELL = new Set(['sh', 'bash', 'console', 'shell']);
const KEYS = new Set(['skip', 'exit', 'stdout~', 'stderr~', 'output~', 'replace', 'needs', 'timeout']);

// key=value pairs; values may be "quoted" (\" inside); keys may repeat
function parseMarker(text, where) {
  const out = [];
  const re = /\s*([a-z]+~?)=(?:"((?:[^"\\]|\\.)*)"|(\S+))/gy;
  let m;
  let pos = 0;
  while ((m = re.exec(text)) !== null) {
    if (!KEYS.has(m[1])) throw new Error(`${where}: unknown doctest key '${m[1]}'`);
    out.push([m[1], m[2] !== undefined ? m[2].replace(/\\"/g, '"') : m[3]]);
    pos = re.lastIndex;
  }
  if (text.slice(pos).trim() !== '') throw new Error(`${where}: cannot read the marker at '${text.slice(pos).trim()}'`);
  return out;
}

function extract(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const f = /^(\s*)(`{3,})(\S*)/.exec(lines[i]);
    if (!f) continue;
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith(f[2])) j++;
    const lang = f[3].toLowerCase();
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === '') k--;
    const mk = k >= 0 ? /^\s*<!--\s*doctest:(.*?)-->\s*$/.exec(lines[k]) : null;
    const where = `${file}:${i + 1}`;
    if (SHELL.has(lang) || mk) {
      if (!SHELL.has(lang)) throw new Error(`${where}: a doctest marker on a \`\`\`${lang} block (sh, bash, console or shell)`);
      if (!mk) throw new Error(`${where}: a shell example without a <!-- doctest: ... --> marker (run it, or skip="why")`);
      const body = lines.slice(i + 1, j).map((l) => l.slice(f[1].length));
      blocks.push({ where, lang, marker: parseMarker(mk[1], where), body });
    }
    i = j;
  }
  return blocks;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

const PRELUDE = readFileSync(new URL('./prelude.sh', import.meta.url), 'utf8');

// logical lines (backslash continuations joined) -> server lines run with doc_server
function transform(body, defaults) {
  const out = [];
  for (let i = 0; i < body.length; i++) {
    let line = body[i];
    let n = 1;
    while (/\\$/.test(line) && i + n < body.length) line = line.slice(0, -1) + ' ' + body[i + n++].trim();
    const m = /^(\s*)((?:\S*\/)?mortar\s+(target|serve)\b.*?)\s*&?\s*(#.*)?$/.exec(line);
    if (m && !/^\s*#/.test(line)) {
      let cmd = m[2];
      if (!/--listen\b/.test(cmd)) cmd += ` --listen 127.0.0.1:${defaults[m[3]]}`;
      out.push(`${m[1]}doc_server ${cmd}`);
      i += n - 1;
    } else {
      out.push(body[i]);
    }
  }
  return out.join('\n');
}

function run(script, dir, env, seconds) {
  return new Promise((res) => {
    const p = spawn('bash', ['-c', script], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }, seconds * 1000);
    p.on('close', (code, sig) => {
      clearTimeout(t);
      try {
        process.kill(-p.pid, 'SIGKILL'); // anything the block left behind
      } catch {}
      res({ code: code ?? 128 + 9, sig, stdout, stderr, timedOut });
    });
  });
}

let ran = 0;
let skipped = 0;
let failed = 0;
const skips = [];
let blocks = [];
try {
  for (const f of args) blocks.push(...extract(f));
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
}
mkdirSync(work, { recursive: true });
for (const [n, b] of blocks.entries()) {
  if (only && !b.where.endsWith(only)) continue;
  const get = (k) => b.marker.filter(([key]) => key === k).map(([, v]) => v);
  if (get('skip').length) {
    skipped++;
    skips.push(`${b.where}: ${get('skip')[0]}`);
    continue;
  }
  const dir = join(work, `${String(n).padStart(3, '0')}-${basename(b.where).replace(/[^A-Za-z0-9.-]/g, '_')}`);
  mkdirSync(join(dir, 'build'), { recursive: true });
  mkdirSync(join(dir, '.bin'), { recursive: true });
  symlinkSync(mortar, join(dir, 'build', 'mortar'));
  symlinkSync(mortar, join(dir, '.bin', 'mortar'));
  const fixtureText = new Map(); // fixtures are copied with the block's port map applied
  const fixtureBytes = new Map(); // binary fixtures (gzip) are copied as they are
  if (fixtures)
    for (const f of readdirSync(fixtures)) {
      const buf = readFileSync(join(fixtures, f));
      const text = buf.toString('utf8');
      if (buf.includes(0) || !Buffer.from(text, 'utf8').equals(buf)) fixtureBytes.set(f, buf);
      else fixtureText.set(f, text);
    }

  let text = b.body.join('\n');
  const want = Number(get('exit')[0] ?? 0);
  if (b.lang === 'console') {
    // "$ cmd" lines are commands, each of which must exit with `exit`; the rest is output
    const cmds = b.body.filter((l) => /^\$ /.test(l)).map((l) => l.slice(2));
    text =
      'set +e\n' +
      cmds
        .map(
          (c, k) =>
            `${c}\ndoc_rc=$?; if [ $doc_rc -ne ${want} ]; then echo "doctest: command ${k + 1} exited $doc_rc, want ${want}" >&2; exit 100; fi`,
        )
        .join('\n');
  }
  for (const r of get('replace')) {
    const [from, to] = r.split('=>');
    if (to === undefined || !text.includes(from)) {
      console.error(`FAIL: ${b.where}: replace="${r}": '${from}' is not in the example`);
      failed++;
      text = null;
      break;
    }
    text = text.split(from).join(to);
  }
  if (text === null) continue;
  // loopback ports -> free ports, one per distinct port of the block
  const ports = new Map();
  const needs = get('needs').join(' ').split(/\s+/).filter(Boolean);
  const defaults = { target: 8080, serve: 8400 };
  for (const p of [...text.matchAll(/(?:127\.0\.0\.1|localhost|\[::1\]):(\d{2,5})\b/g)].map((m) => m[1])
    .concat(needs.map((x) => x.split(':')[1]))
    .concat([...fixtureText.values()].flatMap((t) => [...t.matchAll(/127\.0\.0\.1:(\d{2,5})\b/g)].map((m) => m[1])))
    .concat(/mortar\s+target\b/.test(text) ? ['8080'] : [])
    .concat(/mortar\s+serve\b/.test(text) ? ['8400'] : []))
    if (!ports.has(p)) ports.set(p, await freePort());
  text = text.replace(/(127\.0\.0\.1|localhost|\[::1\]):(\d{2,5})\b/g, (all, h, p) => `${h}:${ports.get(p)}`);
  const mapped = { target: ports.get('8080'), serve: ports.get('8400') };
  for (const [f, buf] of fixtureBytes) writeFileSync(join(dir, f), buf);
  for (const [f, t] of fixtureText)
    writeFileSync(join(dir, f), t.replace(/127\.0\.0\.1:(\d{2,5})\b/g, (all, p) => `127.0.0.1:${ports.get(p)}`));
  let pre = '';
  for (const need of needs) {
    const [what, port] = need.split(':');
    if (what === 'target') pre += `doc_server mortar target --listen 127.0.0.1:${ports.get(port)} >/dev/null\n`;
    else if (what === 'serve')
      pre +=
        `TOKEN=$(mortar token create --role admin --data "$DOC_DIR/.serve-data")\n` +
        `doc_server mortar serve --listen 127.0.0.1:${ports.get(port)} --data "$DOC_DIR/.serve-data" >/dev/null\n`;
    else {
      console.error(`FAIL: ${b.where}: needs="${need}": target:PORT or serve:PORT`);
      failed++;
      continue;
    }
  }
  const script = PRELUDE + pre + transform(text.split('\n'), { ...defaults, ...mapped }) + '\n';
  writeFileSync(join(dir, '.script.sh'), script);
  const env = { ...process.env, DOC_DIR: dir, DOC_SLOW: String(slow), PATH: `${join(dir, '.bin')}:${process.env.PATH}` };
  const seconds = Number(get('timeout')[0] || 60) * slow;
  const r = await run(script, dir, env, seconds);
  ran++;
  const problems = [];
  if (r.timedOut) problems.push(`did not finish within ${seconds}s`);
  else if (r.code !== (b.lang === 'console' ? 0 : want)) problems.push(`exit status ${r.code}, want ${want}`);
  for (const [k, stream] of [['stdout~', r.stdout], ['stderr~', r.stderr], ['output~', r.stdout + r.stderr]])
    for (const re of get(k)) if (!new RegExp(re, 'm').test(stream)) problems.push(`${k.slice(0, -1)} does not match /${re}/`);
  if (problems.length) {
    failed++;
    console.error(`FAIL: ${b.where}: ${problems.join('; ')} (script: ${join(dir, '.script.sh')})`);
    console.error(`  stdout: ${r.stdout.slice(-1500).replace(/\n/g, '\n          ')}`);
    console.error(`  stderr: ${r.stderr.slice(-1500).replace(/\n/g, '\n          ')}`);
  } else {
    console.log(`ok: ${b.where}`);
  }
}
for (const s of skips) console.log(`skipped: ${s}`);
console.log(`${ran} examples run, ${failed} failed, ${skipped} skipped (each with its reason)`);
process.exit(failed ? 1 : 0);
