/* mortar report page: draws the data that `mortar report` embedded (see docs/report.md and the
 * mt__report_data comment in src/report/report.h for its shape) with uPlot. One run, or two runs
 * (A and B) compared. Data is only ever put into the page as text (textContent), never as HTML.
 * window.mortarReport exposes the charts to the browser tests. */
(function () {
  'use strict';

  const DATA = JSON.parse(document.getElementById('mortar-data').textContent);
  const RUNS = DATA.runs;
  const CMP = RUNS.length > 1;
  const charts = [];
  const state = { data: DATA, charts: charts, ready: false };
  window.mortarReport = state;

  /* ---- colours --------------------------------------------------------------------------- */
  const C = {
    a: '#2563eb', aLight: '#93b4f5', b: '#ea580c', bLight: '#f7b288',
    planned: '#64748b', ok: '#16a34a', err: '#dc2626', warn: '#d97706',
    p50: '#2563eb', p90: '#0d9488', p99: '#d97706', p999: '#dc2626', max: '#6b7280',
  };
  const STATUS_COLORS = { '1': ['#64748b'], '2': ['#16a34a', '#4ade80', '#166534'],
    '3': ['#0891b2', '#67e8f9'], '4': ['#d97706', '#f59e0b', '#b45309', '#fbbf24'],
    '5': ['#dc2626', '#f87171', '#991b1b', '#fb7185'], 'o': ['#7c3aed'] };
  const KIND_COLORS = ['#9333ea', '#be123c', '#854d0e', '#0f766e', '#4338ca', '#a21caf', '#b91c1c'];
  const RUN_COLORS = [C.a, C.b];

  /* ---- formatting -------------------------------------------------------------------------- */
  function fmtUs(us) {
    if (us == null || !isFinite(us)) return '–';
    const a = Math.abs(us);
    if (a < 1000) return Math.round(us) + ' µs';
    if (a < 1e6) return trim(us / 1000) + ' ms';
    return trim(us / 1e6) + ' s';
  }
  function trim(v) { /* 3 significant digits */
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }
  function fmtCount(v) {
    if (v == null || !isFinite(v)) return '–';
    return Math.round(v).toLocaleString('en-US');
  }
  function fmtShort(v) {
    if (v == null || !isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return trim(v / 1e9) + 'G';
    if (a >= 1e6) return trim(v / 1e6) + 'M';
    if (a >= 1e4) return trim(v / 1e3) + 'k';
    return Number.isInteger(v) ? String(v) : trim(v);
  }
  function fmtRate(v) { return v == null || !isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: 2 }); }
  const fmtPct = MortarFmt.pct; /* web/shared/fmt.js: takes a fraction */
  const cnt = MortarFmt.counter;
  function fmtSec(v) { return v == null || !isFinite(v) ? '–' : trim(v) + ' s'; }
  function fmtBytes(v) {
    if (v == null || !isFinite(v)) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return trim(v) + ' ' + u[i];
  }
  function fmtUnit(u, v) {
    return u === 'us' ? fmtUs(v) : u === 'rate' ? fmtRate(v) : u === 'pct' ? fmtPct(v == null ? v : v / 100) /* rows carry percent */
      : u === 's' ? fmtSec(v) : fmtCount(v);
  }
  /* seconds from the start: 42s, 3:05, 1:00:00 */
  function fmtT(t, span) {
    if (t == null) return '';
    t = Math.round(t);
    span = Math.max(span || 0, t);
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    if (span >= 3600) return h + ':' + String(m).padStart(2, '0') + ':' + String(s).padStart(2, '0');
    if (span >= 60) return m + ':' + String(s).padStart(2, '0');
    return s + 's';
  }
  /* the percentile for a point on the 1/(1-p) axis */
  function pctOfX(x) {
    if (x <= 1) return '0%';
    const p = 100 * (1 - 1 / x);
    const digits = Math.min(8, Math.max(0, Math.ceil(Math.log10(x) - 1e-9) - 2));
    let t = p.toFixed(digits + 1);
    if (t.includes('.')) t = t.replace(/0+$/, '').replace(/\.$/, '');
    return t + '%';
  }

  /* ---- DOM --------------------------------------------------------------------------------- */
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) for (const k of Object.keys(attrs)) {
      if (k === 'class') e.className = attrs[k];
      else if (k === 'style') e.style.cssText = attrs[k];
      else if (attrs[k] != null) e.setAttribute(k, attrs[k]);
    }
    for (const k of kids.flat(Infinity)) {
      if (k == null || k === false) continue;
      e.appendChild(typeof k === 'string' || typeof k === 'number' ? document.createTextNode(String(k)) : k);
    }
    return e;
  }
  function section(id, title, note) {
    const s = h('section', { id: id, class: 'section' }, h('h2', null, title), note ? h('p', { class: 'note' }, note) : null);
    app.appendChild(s);
    return s;
  }
  function table(head, rows, cls) {
    return h('div', { class: 'table-wrap' }, h('table', { class: cls || '' },
      h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
      h('tbody', null, rows)));
  }
  function json(v) { return typeof v === 'string' ? v : JSON.stringify(v); }

  const app = document.getElementById('app');

  /* ---- per-second series ---------------------------------------------------------------- */
  /* count per second as a rate; seconds shorter than half a second (the run's tail) left out */
  function perSec(run, col) {
    const s = run.seconds, span = s.span, n = s.t.length, out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = span[i] >= 0.5 ? col[i] / span[i] : null;
    return out;
  }
  /* for log scales: 0 (no data in that second) becomes a gap */
  function pos(col) { return col.map((v) => (v > 0 ? v : null)); }
  function sumCols(cols, n) {
    const out = new Array(n).fill(0);
    for (const c of cols) for (let i = 0; i < n; i++) out[i] += c[i];
    return out;
  }
  function non2xx3xx(run) {
    const st = run.seconds.status, cols = [];
    for (const k of Object.keys(st)) if (!(k[0] === '2' || k[0] === '3')) cols.push(st[k]);
    return sumCols(cols, run.seconds.t.length);
  }
  function isOpen(run) { return run.config.model === 'open'; }
  const ANY_OPEN = RUNS.some(isOpen);

  /* ---- charts ---------------------------------------------------------------------------- */
  const SYNC = uPlot.sync('mortar-t');
  const pending = [];

  /* time ticks on whole seconds and minutes */
  const T_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  function logRange(u, min, max) {
    if (min == null || max == null || !(min > 0) || !(max > 0)) return [1, 1000];
    return uPlot.rangeLog(min, max, 10, true);
  }
  function linRange(u, min, max) {
    if (min == null || max == null) return [0, 1];
    return [Math.min(0, min), max > 0 ? max * 1.08 : 1];
  }
  function axisFor(kind) {
    const grid = { stroke: 'rgba(0,0,0,0.07)', width: 1 };
    if (kind === 'us') return { size: 66, grid: grid, values: (u, sp) => sp.map((v) => (v == null ? '' : fmtUs(v))) };
    return { size: 56, grid: grid, values: (u, sp) => sp.map((v) => (v == null ? '' : fmtShort(v))) };
  }
  function valueFor(kind) {
    return kind === 'us' ? (u, v) => fmtUs(v)
      : kind === 'rate' ? (u, v) => (v == null ? '–' : fmtRate(Math.round(v * 100) / 100))
        : (u, v) => (v == null ? '–' : fmtShort(v));
  }
  function line(label, color, data, opts) {
    opts = opts || {};
    const s = { label: label, stroke: color, width: opts.width || 1.6, scale: opts.scale || 'y', spanGaps: !!opts.spanGaps };
    if (opts.dash) s.dash = opts.dash;
    if (opts.fill) s.fill = opts.fill;
    return { s: s, d: data };
  }

  /* A chart card in parent. spec: {id, title, note, x, xKind ('t' | 'pct'), y: {kind, log, label},
   * y2: {kind, label} (optional right axis), lines: [line(...)]}. Created once laid out. */
  function chart(parent, spec) {
    const card = h('div', { class: 'card chart', id: 'chart-' + spec.id },
      h('div', { class: 'card-head' }, h('h3', null, spec.title), spec.tools || null),
      spec.note ? h('p', { class: 'note' }, spec.note) : null);
    const box = h('div', { class: 'plot' });
    card.appendChild(box);
    parent.appendChild(card);
    const entry = { id: spec.id, title: spec.title, plot: null, spec: spec, box: box };
    charts.push(entry);
    pending.push(entry);
    return entry;
  }

  function build(entry, width) {
    const spec = entry.spec, isT = spec.xKind !== 'pct';
    const yKind = spec.y.kind;
    const series = [{
      label: isT ? 'time' : 'percentile',
      value: isT ? (u, v) => fmtT(v, u.scales.x.max) : (u, v) => (v == null ? '–' : pctOfX(v)),
    }];
    /* uPlot shows a lone x value on a made-up 0..100 axis: give a one-second run its end */
    const pad = isT && spec.x.length === 1;
    const data = [pad ? [spec.x[0], spec.x[0] + 1] : spec.x];
    /* dashes on thousands of points cost the canvas hundreds of milliseconds: on long runs
     * dashed series are drawn solid and lighter instead */
    const dense = isT && spec.x.length > 600;
    for (const l of spec.lines) {
      const k = l.s.scale === 'y2' ? spec.y2.kind : yKind;
      const s = Object.assign({ value: valueFor(k) }, l.s);
      if (dense && s.dash) {
        delete s.dash;
        s.stroke = s.stroke + '99';
        s.width = 1;
      }
      series.push(s);
      data.push(pad ? [l.d[0], null] : l.d);
    }
    const scales = {
      x: isT ? { time: false, range: (u, min, max) => [Math.min(0, min), Math.max(max, 1)] }
        : { time: false, distr: 3, log: 10, range: logRange },
      y: spec.y.log ? { distr: 3, log: 10, range: logRange } : { range: linRange },
    };
    const axes = [
      isT ? { size: 40, values: (u, sp) => sp.map((v) => fmtT(v, u.scales.x.max)), space: 60, incrs: T_INCRS, grid: { stroke: 'rgba(0,0,0,0.07)', width: 1 } }
        : {
          size: 40, space: 50, grid: { stroke: 'rgba(0,0,0,0.07)', width: 1 },
          splits: (u, ai, min, max) => {
            const out = [];
            for (let v = 1; v <= max * 1.0001; v *= 10) if (v >= min / 1.0001) out.push(v);
            return out;
          },
          values: (u, sp) => sp.map(pctOfX),
        },
      Object.assign({ label: spec.y.label, labelSize: 18 }, axisFor(yKind)),
    ];
    if (spec.y2) {
      scales.y2 = spec.y2.log ? { distr: 3, log: 10, range: logRange } : { range: linRange };
      axes.push(Object.assign({ scale: 'y2', side: 1, grid: { show: false }, label: spec.y2.label, labelSize: 18 }, axisFor(spec.y2.kind)));
    }
    const opts = {
      width: Math.max(320, width || entry.box.clientWidth), height: spec.height || 260, series: series, scales: scales, axes: axes,
      cursor: isT ? { sync: { key: SYNC.key, setSeries: false }, drag: { x: true, y: false } } : { drag: { x: true, y: false } },
      legend: { live: true },
    };
    entry.plot = new uPlot(opts, data, entry.box);
    if (!data.slice(1).some((d) => d.some((v) => v != null)))
      entry.box.appendChild(h('div', { class: 'empty' }, spec.empty || 'No data in this run.'));
  }

  function layout() {
    /* read every width first: one layout, not one per chart */
    const widths = pending.map((e) => e.box.clientWidth);
    pending.forEach((e, i) => build(e, widths[i]));
    pending.length = 0;
    let raf = 0;
    window.addEventListener('resize', () => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => {
        for (const e of charts) if (e.plot) e.plot.setSize({ width: Math.max(320, e.box.clientWidth), height: e.plot.height });
      });
    });
  }

  /* ---- header, verdicts, key numbers ------------------------------------------------------- */
  function modeText(run) {
    const c = run.config;
    if (c.model === 'open') return 'open model, ' + (c.schedule != null ? 'schedule ' + c.schedule : fmtRate(c.rate) + ' req/s');
    return 'closed model, ' + fmtCount(c.connections) + ' connections';
  }
  function started(run) {
    if (typeof run.started_at !== 'string') return '';
    const d = new Date(run.started_at);
    return isNaN(d) ? run.started_at : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }
  /* https / HTTP/2 facts of a run, when it has them */
  function protoText(run) {
    const t = run.summary.tls, h2 = run.summary.http2, out = [];
    if (t) out.push('TLS handshakes ' + fmtCount(t.handshakes_full) + ' full, ' + fmtCount(t.handshakes_resumed) + ' resumed' +
      (t.error ? ' (error: ' + t.error + ')' : ''));
    if (h2) out.push('HTTP/2 ' + fmtCount(h2.rst_streams) + ' RST_STREAM, ' + fmtCount(h2.goaways) + ' GOAWAY, ' + fmtCount(h2.retried) + ' retried');
    return out.join(' · ');
  }
  function runLine(run, i) {
    const c = run.config;
    return h('div', { class: 'run-line' },
      CMP ? h('span', { class: 'run-tag run-' + 'ab'[i] }, 'AB'[i]) : null,
      h('span', { class: 'method' }, String(c.method)),
      h('span', { class: 'url' }, String(c.url)),
      h('span', { class: 'meta' }, [modeText(run), fmtSec(run.summary.duration_s), started(run),
        CMP ? run.label : null, protoText(run)].filter(Boolean).join(' · ')),
      run.interrupted ? h('span', { class: 'badge warn' }, 'interrupted') : null);
  }
  function header() {
    const head = h('header', { class: 'top' },
      h('div', { class: 'brand' }, h('span', { class: 'logo' }, 'mortar'), h('span', null, CMP ? 'comparison' : 'load test report')),
      RUNS.map(runLine));
    app.appendChild(head);
  }

  /* the baseline verdict (docs/analysis.md): its message and one row per metric */
  function baselineItem(v) {
    const rows = (Array.isArray(v.metrics) ? v.metrics : []).map((m) => h('tr', { class: m.decision === 'regressed' ? 'bad-row' : null },
      h('td', null, json(m.name)), h('td', { class: 'num' }, json(m.run)), h('td', { class: 'num' }, json(m.base)),
      h('td', { class: 'num' }, typeof m.delta_pct === 'number' ? (m.delta_pct > 0 ? '+' : '') + m.delta_pct.toFixed(1) + '%' : '–'),
      h('td', { class: 'num' }, json(m.tolerance) + (m.tolerance_kind === 'pct' ? '%' : '')),
      h('td', { class: 'num' }, typeof m.p_value === 'number' ? m.p_value.toPrecision(2) : '–'),
      h('td', null, json(m.decision))));
    return h('li', { class: 'verdict baseline' + (v.passed === false ? ' failed' : '') },
      h('span', { class: 'badge ' + (v.passed === false ? 'bad' : 'ok') }, v.passed === false ? 'REGRESSED' : 'PASS'),
      h('span', { class: 'kind' }, 'baseline'), h('span', null, json(v.message)),
      h('table', { class: 'baseline-table' }, h('thead', null, h('tr', null, ['metric', 'run', 'base', 'delta', 'tolerance', 'p', 'decision'].map((x) => h('th', null, x)))),
        h('tbody', null, rows)));
  }
  function verdictItem(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return h('li', { class: 'verdict' }, h('span', { class: 'badge' }, '?'), h('code', null, json(v)));
    if (v.kind === 'baseline') return baselineItem(v);
    const passed = v.passed === true, failed = v.passed === false;
    const extra = Object.keys(v).filter((k) => !['kind', 'spec', 'passed'].includes(k))
      .map((k) => h('span', { class: 'kv' }, k + ': ' + json(v[k])));
    return h('li', { class: 'verdict' + (failed ? ' failed' : '') },
      h('span', { class: 'badge ' + (passed ? 'ok' : failed ? 'bad' : '') }, passed ? 'PASS' : failed ? 'FAIL' : '?'),
      v.kind != null ? h('span', { class: 'kind' }, json(v.kind)) : null,
      v.spec != null ? h('code', null, json(v.spec)) : null, extra);
  }
  function verdicts() {
    const have = RUNS.filter((r) => Array.isArray(r.verdicts) && r.verdicts.length);
    if (!have.length) return;
    const s = section('verdicts', 'Verdicts');
    RUNS.forEach((r, i) => {
      if (!Array.isArray(r.verdicts) || !r.verdicts.length) return;
      const failed = r.verdicts.filter((v) => v && v.passed === false).length;
      s.appendChild(h('div', { class: 'card verdicts' + (failed ? ' failed' : ' passed') },
        h('div', { class: 'verdict-sum' }, CMP ? h('span', { class: 'run-tag run-' + 'ab'[i] }, 'AB'[i]) : null,
          failed ? failed + ' of ' + r.verdicts.length + ' failed' : 'all ' + r.verdicts.length + ' passed'),
        h('ul', null, r.verdicts.map(verdictItem))));
    });
  }

  function kpis() {
    const pick = (g, n) => DATA.rows.find((r) => r.g.startsWith(g) && r.n === n);
    const items = [
      ['requests', pick('Throughput', 'requests')], ['req/s', pick('Throughput', 'achieved rps')],
      ['errors', pick('Errors', 'error rate')], ['p50', pick('Latency', 'p50')],
      ['p99', pick('Latency', 'p99')], ['p99.9', pick('Latency', 'p99.9')], ['max', pick('Latency', 'max')],
    ];
    const planned = pick('Throughput', 'planned rps');
    const box = h('div', { class: 'kpis' + (CMP ? ' cmp' : '') });
    for (const [label, row] of items) {
      if (!row) continue;
      const k = h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, label));
      if (!CMP) {
        k.appendChild(h('div', { class: 'kpi-value' + (label === 'errors' && row.a > 0 ? ' bad' : '') }, fmtUnit(row.u, row.a)));
        if (label === 'req/s' && planned && planned.a != null) k.appendChild(h('div', { class: 'kpi-sub' }, 'planned ' + fmtRate(planned.a)));
        if (label === 'errors') k.appendChild(h('div', { class: 'kpi-sub' }, fmtCount(pick('Errors', 'errors').a) + ' failed'));
      } else {
        k.appendChild(h('div', { class: 'kpi-value' }, h('span', { class: 'ka' }, fmtUnit(row.u, row.a)), h('span', { class: 'arrow' }, ' → '), h('span', { class: 'kb' }, fmtUnit(row.u, row.b))));
        k.appendChild(delta(row, 'kpi-sub'));
      }
      box.appendChild(k);
    }
    app.appendChild(box);
  }

  /* ---- deltas -------------------------------------------------------------------------- */
  function deltaText(row) {
    if (row.a == null || row.b == null) return ['–', '–'];
    const d = row.b - row.a;
    const sign = d > 0 ? '+' : d < 0 ? '−' : '';
    const abs = row.u === 'us' ? fmtUs(Math.abs(d)) : fmtUnit(row.u, Math.abs(d));
    const pct = d === 0 ? '0%' : row.a === 0 ? 'new' : sign + Math.abs(100 * d / row.a).toFixed(1) + '%';
    return [d === 0 ? '0' : sign + abs, pct];
  }
  function deltaClass(row) {
    if (row.a == null || row.b == null || row.a === row.b || !row.better) return '';
    const rel = row.a === 0 ? Infinity : Math.abs(row.b - row.a) / Math.abs(row.a);
    if (rel < 0.02) return '';
    const up = row.b > row.a;
    return (up === (row.better === 'higher')) ? 'good' : 'bad';
  }
  function delta(row, cls) {
    const [d, p] = deltaText(row);
    return h('div', { class: (cls || '') + ' delta ' + deltaClass(row) }, d + ' (' + p + ')');
  }

  function rowsTable() {
    const s = section('numbers', CMP ? 'A vs B' : 'Key numbers',
      CMP ? 'B − A, and the change relative to A. Green is better, red is worse (by 2% or more).' : null);
    const groups = [];
    for (const r of DATA.rows) {
      if (!groups.length || groups[groups.length - 1].name !== r.g) groups.push({ name: r.g, rows: [] });
      groups[groups.length - 1].rows.push(r);
    }
    const grid = h('div', { class: 'grid numbers-grid' + (CMP ? ' cmp' : '') });
    for (const g of groups) {
      const trs = g.rows.map((r) => {
        const name = h('td', { class: 'name' + (r.n.startsWith('  ') ? ' sub' : '') }, r.n.trim());
        if (!CMP) return h('tr', null, name, h('td', { class: 'num' }, fmtUnit(r.u, r.a)));
        const [d, p] = deltaText(r), cls = deltaClass(r);
        return h('tr', null, name, h('td', { class: 'num' }, fmtUnit(r.u, r.a)), h('td', { class: 'num' }, fmtUnit(r.u, r.b)),
          h('td', { class: 'num delta ' + cls }, d), h('td', { class: 'num delta ' + cls }, p));
      });
      grid.appendChild(h('div', { class: 'card' }, h('h3', null, g.name),
        table(CMP ? ['', 'A', 'B', 'B − A', 'change'] : ['', ''], trs, 'numbers' + (CMP ? ' cmp' : ''))));
    }
    s.appendChild(grid);
  }

  /* ---- the charts of one run ------------------------------------------------------------- */
  function singleCharts() {
    const r = RUNS[0], s = r.seconds, open = isOpen(r);
    const grid = h('div', { class: 'grid' });
    section('charts', 'Over time', open
      ? 'Latency counts from each request\'s due time (no coordinated omission); service time from the actual send. Drag to zoom, double-click to reset.'
      : 'Closed model: latency counts from the send. Drag to zoom, double-click to reset.').appendChild(grid);

    const rate = [];
    rate.push(line('achieved (completed)', C.a, perSec(r, s.completed), { width: 2, fill: 'rgba(37,99,235,0.08)' }));
    if (open) rate.push(line('sent', C.aLight, perSec(r, s.sent), { width: 1.2 }));
    if (open) rate.push(line('planned (due)', C.planned, perSec(r, s.due), { dash: [6, 4], width: 2 }));
    rate.push(line('errors', C.err, perSec(r, s.errors), { width: 1.4 }));
    chart(grid, { id: 'rps', title: 'Request rate', note: open ? 'Planned (due per second) vs achieved (completed per second).' : 'Completed responses per second.',
      x: s.t, y: { kind: 'rate', label: 'req/s' }, lines: rate });

    const q = (src) => [
      line('p50', C.p50, pos(src.p50)), line('p90', C.p90, pos(src.p90)), line('p99', C.p99, pos(src.p99)),
      line('p99.9', C.p999, pos(src.p999)), line('max', C.max, pos(src.max), { dash: [3, 3], width: 1.2 })];
    chart(grid, { id: 'latency', title: open ? 'Latency over time (from due time)' : 'Latency over time',
      note: 'Each second\'s quantiles, log scale.', x: s.t, y: { kind: 'us', log: true, label: 'latency' }, lines: q(s.lat),
      empty: 'No responses: nothing to measure.' });
    if (open)
      chart(grid, { id: 'service', title: 'Service time over time (from send)', note: 'Each second\'s quantiles, log scale.',
        x: s.t, y: { kind: 'us', log: true, label: 'service time' }, lines: q(s.svc) });

    const st = [];
    const codes = Object.keys(s.status).sort();
    const used = {};
    for (const code of codes) {
      const fam = code === 'other' ? 'o' : code[0], pal = STATUS_COLORS[fam] || STATUS_COLORS.o;
      const n = used[fam] = (used[fam] || 0) + 1;
      st.push(line(code, pal[(n - 1) % pal.length], perSec(r, s.status[code]), { width: 1.8 }));
    }
    Object.keys(s.errors_by_kind).forEach((k, i) =>
      st.push(line('error: ' + k, KIND_COLORS[i % KIND_COLORS.length], perSec(r, s.errors_by_kind[k]), { dash: [5, 3], width: 1.8 })));
    if (!st.length) st.push(line('responses', C.ok, perSec(r, s.completed)));
    chart(grid, { id: 'status', title: 'Status codes and errors', note: 'Responses per second by status code; failed requests by kind (dashed).',
      x: s.t, y: { kind: 'rate', label: 'per second' }, lines: st });

    distChart(grid, false);

    const conn = [line('open connections', C.a, s.open, { width: 2 })];
    if (open) conn.push(line('backlog (due, unsent)', C.warn, s.backlog, { width: 1.4 }));
    conn.push(line('lag mean', C.p90, s.lag_mean, { scale: 'y2', width: 1.4 }));
    conn.push(line('lag max', C.p999, s.lag_max, { scale: 'y2', dash: [3, 3], width: 1.2 }));
    chart(grid, { id: 'connections', title: 'Connections and schedule lag',
      note: 'Open connections at the end of each second (left); schedule lag, send time − due time (right).',
      x: s.t, y: { kind: 'count', label: 'connections' }, y2: { kind: 'us', label: 'lag' }, lines: conn });

    /* the generator's own CPU (docs/measurement.md): absent in imports and older documents */
    if (s.gen_cpu && s.gen_cpu.some((v) => v > 0)) {
      const pctOfCore = (col) => col.map((v, i) => (s.span[i] >= 0.5 ? v / 1e4 / s.span[i] : null));
      chart(grid, { id: 'generator', title: 'Generator CPU',
        note: 'mortar\'s own worker threads, % of one core per second: all of them, and the busiest one (near 100%, mortar itself may have set the pace: add threads or agents).',
        x: s.t, y: { kind: 'count', label: '% of a core' }, lines: [
          line('all worker threads', C.a, pctOfCore(s.gen_cpu), { width: 2 }),
          line('busiest thread', C.warn, pctOfCore(s.gen_cpu_max), { width: 1.4 })] });
    }

    breakdown(grid);
  }

  /* percentile distribution, HdrHistogram style */
  function distChart(parent, cmp) {
    let tables, lines;
    if (!cmp) {
      const r = RUNS[0];
      tables = [[r.dist.latency.x, r.dist.latency.v]];
      lines = [line(isOpen(r) ? 'latency (from due)' : 'latency', C.a, null, { width: 2, spanGaps: true })];
      if (isOpen(r)) {
        tables.push([r.dist.service.x, r.dist.service.v]);
        lines.push(line('service (from send)', C.p90, null, { width: 1.6, dash: [6, 3], spanGaps: true }));
      }
    } else {
      tables = RUNS.map((r) => [r.dist.latency.x, r.dist.latency.v]);
      lines = RUNS.map((r, i) => line('AB'[i] + ': ' + r.label, RUN_COLORS[i], null, { width: 2, spanGaps: true }));
    }
    const joined = uPlot.join(tables);
    lines.forEach((l, i) => { l.d = joined[i + 1]; });
    let log = false;
    const btn = h('button', { class: 'toggle', type: 'button', title: 'linear or log latency axis' }, 'log scale');
    const entry = chart(parent, { id: 'distribution', title: 'Latency by percentile', tools: btn,
      note: 'The whole run\'s latency histogram: the value below which that share of requests fell. The axis stretches the tail (90%, 99%, 99.9%…).',
      x: joined[0], xKind: 'pct', y: { kind: 'us', log: false, label: 'latency' }, lines: lines });
    btn.addEventListener('click', () => {
      log = !log;
      btn.classList.toggle('on', log);
      entry.spec.y.log = log;
      entry.plot.destroy();
      entry.box.textContent = '';
      build(entry);
    });
  }

  /* timing breakdown: p50..p99 bar, p90 tick, whisker to max, mean dot, on one log axis */
  function breakdown(parent) {
    /* tls only for runs that made TLS handshakes (https) */
    const phases = ['connect', 'tls', 'send', 'wait', 'receive'].filter((p) => RUNS.some((r) => r.summary.breakdown_us[p]));
    const names = { connect: 'connect', tls: 'tls handshake', send: 'send', wait: 'wait (TTFB)', receive: 'receive' };
    const NONE = { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    let lo = Infinity, hi = 0;
    for (const r of RUNS) for (const p of phases) {
      const b = r.summary.breakdown_us[p] || NONE;
      for (const k of ['p50', 'p90', 'p99', 'max', 'mean']) if (b[k] > 0) { lo = Math.min(lo, b[k]); hi = Math.max(hi, b[k]); }
    }
    if (!(hi > 0)) { lo = 1; hi = 1000; }
    const l0 = Math.floor(Math.log10(Math.max(1, lo))), l1 = Math.max(l0 + 1, Math.ceil(Math.log10(hi)));
    const X = (v) => (v > 0 ? Math.min(100, Math.max(0, 100 * (Math.log10(Math.max(v, Math.pow(10, l0))) - l0) / (l1 - l0))) : 0);
    const rows = [];
    for (const p of phases) {
      RUNS.forEach((r, i) => {
        const b = r.summary.breakdown_us[p] || NONE, col = RUN_COLORS[i];
        const track = h('div', { class: 'bd-track' },
          h('div', { class: 'bd-whisker', style: `left:${X(b.p99)}%;width:${Math.max(0, X(b.max) - X(b.p99))}%;background:${col}` }),
          h('div', { class: 'bd-bar', style: `left:${X(b.p50)}%;width:${Math.max(0.6, X(b.p99) - X(b.p50))}%;background:${col}` }),
          h('div', { class: 'bd-tick', style: `left:${X(b.p90)}%` }),
          h('div', { class: 'bd-mean', style: `left:${X(b.mean)}%;border-color:${col}` }));
        rows.push(h('div', { class: 'bd-row' },
          h('div', { class: 'bd-name' }, i === 0 ? names[p] : '', CMP ? h('span', { class: 'run-tag small run-' + 'ab'[i] }, 'AB'[i]) : null),
          track,
          h('div', { class: 'bd-vals' }, `p50 ${fmtUs(b.p50)} · p90 ${fmtUs(b.p90)} · p99 ${fmtUs(b.p99)} · max ${fmtUs(b.max)}`)));
      });
    }
    const ticks = [];
    const tickName = (e) => (e < 3 ? Math.pow(10, e) + ' µs' : e < 6 ? Math.pow(10, e - 3) + ' ms' : Math.pow(10, e - 6) + ' s');
    for (let e = l0; e <= l1; e++) ticks.push(h('span', { class: 'bd-axis-tick', style: `left:${100 * (e - l0) / (l1 - l0)}%` }, tickName(e)));
    rows.push(h('div', { class: 'bd-row axis' }, h('div', { class: 'bd-name' }), h('div', { class: 'bd-axis' }, ticks), h('div', { class: 'bd-vals' })));
    const card = h('div', { class: 'card chart wide', id: 'chart-breakdown' },
      h('div', { class: 'card-head' }, h('h3', null, 'Timing breakdown')),
      h('p', { class: 'note' }, 'Whole run, log scale: bar p50 → p99, tick p90, line to max, ring the mean. Connect (TCP) and tls (handshake) are per new connection; wait is the time to the first response byte.'),
      h('div', { class: 'breakdown' }, rows));
    parent.appendChild(card);
    charts.push({ id: 'breakdown', title: 'Timing breakdown', plot: null, html: card });
  }

  /* ---- the charts of two runs ------------------------------------------------------------ */
  function joinRuns(cols) { /* cols(run) -> [[...], ...]: aligned on t from 0 */
    return uPlot.join(RUNS.map((r) => [r.seconds.t].concat(cols(r))));
  }
  function compareCharts() {
    const grid = h('div', { class: 'grid' });
    section('charts', 'Over time, A and B overlaid', 'Both runs from t = 0 on the same axis. Drag to zoom, double-click to reset.').appendChild(grid);
    const tag = (i) => 'AB'[i] + ' ';

    let d = joinRuns((r) => (isOpen(r) ? [perSec(r, r.seconds.completed), perSec(r, r.seconds.due)] : [perSec(r, r.seconds.completed), r.seconds.t.map(() => null)]));
    let lines = [];
    RUNS.forEach((r, i) => {
      lines.push(line(tag(i) + 'achieved', RUN_COLORS[i], d[1 + 2 * i], { width: 2 }));
      if (isOpen(r)) lines.push(line(tag(i) + 'planned', RUN_COLORS[i], d[2 + 2 * i], { width: 1.2, dash: [6, 4] }));
    });
    chart(grid, { id: 'rps', title: 'Request rate', note: 'Completed per second (solid); planned, due per second (dashed).', x: d[0], y: { kind: 'rate', label: 'req/s' }, lines: lines });

    d = joinRuns((r) => [pos(r.seconds.lat.p50), pos(r.seconds.lat.p99), pos(r.seconds.lat.max)]);
    lines = [];
    RUNS.forEach((r, i) => {
      lines.push(line(tag(i) + 'p50', RUN_COLORS[i], d[1 + 3 * i], { width: 1.4, dash: [5, 3] }));
      lines.push(line(tag(i) + 'p99', RUN_COLORS[i], d[2 + 3 * i], { width: 2 }));
      lines.push(line(tag(i) + 'max', i ? C.bLight : C.aLight, d[3 + 3 * i], { width: 1, dash: [2, 3] }));
    });
    chart(grid, { id: 'latency', title: 'Latency over time', note: 'p50 (dashed), p99 (solid), max (dotted); log scale.' + (ANY_OPEN ? ' Open model: from the due time.' : ''),
      x: d[0], y: { kind: 'us', log: true, label: 'latency' }, lines: lines });

    d = joinRuns((r) => [perSec(r, r.seconds.errors), perSec(r, non2xx3xx(r))]);
    lines = [];
    RUNS.forEach((r, i) => {
      lines.push(line(tag(i) + 'errors', RUN_COLORS[i], d[1 + 2 * i], { width: 2 }));
      lines.push(line(tag(i) + 'non-2xx/3xx', RUN_COLORS[i], d[2 + 2 * i], { width: 1.4, dash: [5, 3] }));
    });
    chart(grid, { id: 'status', title: 'Errors and non-2xx/3xx responses', note: 'Failed requests per second (solid); responses with a status outside 2xx/3xx (dashed).',
      x: d[0], y: { kind: 'rate', label: 'per second' }, lines: lines });

    distChart(grid, true);

    d = joinRuns((r) => [r.seconds.open, r.seconds.lag_max]);
    lines = [];
    RUNS.forEach((r, i) => {
      lines.push(line(tag(i) + 'open connections', RUN_COLORS[i], d[1 + 2 * i], { width: 2 }));
      lines.push(line(tag(i) + 'lag max', RUN_COLORS[i], d[2 + 2 * i], { width: 1.2, dash: [3, 3], scale: 'y2' }));
    });
    chart(grid, { id: 'connections', title: 'Connections and schedule lag', note: 'Open connections (left, solid); the worst schedule lag of each second (right, dotted).',
      x: d[0], y: { kind: 'count', label: 'connections' }, y2: { kind: 'us', label: 'lag' }, lines: lines });

    breakdown(grid);
  }

  /* ---- tables ------------------------------------------------------------------------------ */
  function tagsTable() {
    const have = RUNS.filter((r) => r.summary.tags && Object.keys(r.summary.tags).length);
    if (!have.length) return;
    const s = section('tags', 'Per tag', 'Ammo tags; requests without one are "(untagged)". Latency as in the totals.');
    RUNS.forEach((r, i) => {
      const tags = r.summary.tags;
      if (!tags) return;
      const total = Object.values(tags).reduce((a, t) => a + (t.requests || 0), 0) || 1;
      const rows = Object.keys(tags).sort((x, y) => tags[y].requests - tags[x].requests).map((name) => {
        const t = tags[name], l = t.latency_us;
        const done = t.completed + t.errors;
        let bad = 0;
        for (const k of Object.keys(t.status)) if (!(k[0] === '2' || k[0] === '3')) bad += t.status[k];
        return h('tr', null, h('td', { class: 'name' }, name === '' ? '(untagged)' : name),
          h('td', { class: 'num' }, fmtCount(t.requests)), h('td', { class: 'num' }, fmtPct(t.requests / total)),
          h('td', { class: 'num' + (t.errors ? ' bad' : '') }, fmtCount(t.errors)), h('td', { class: 'num' }, fmtPct(done ? t.errors / done : 0)),
          h('td', { class: 'num' + (bad ? ' bad' : '') }, fmtCount(bad)),
          ['p50', 'p90', 'p99', 'p999', 'max', 'mean'].map((k) => h('td', { class: 'num' }, fmtUs(l[k]))));
      });
      s.appendChild(h('div', { class: 'card' }, CMP ? h('h3', null, h('span', { class: 'run-tag run-' + 'ab'[i] }, 'AB'[i]), r.label) : null,
        table(['tag', 'requests', 'share', 'errors', 'error %', 'non-2xx/3xx', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'], rows, 'tags')));
    });
  }

  /* ---- exemplars: the slowest and failed traced requests, linked to their traces ---------- */
  /* the link of a trace id through the run's template (config.trace.url), http(s) only */
  function traceLink(run, id) {
    const tmpl = run.config && run.config.trace && run.config.trace.url;
    if (typeof tmpl !== 'string' || !/^https?:\/\//.test(tmpl)) return h('code', null, id);
    return h('a', { href: tmpl.split('{trace_id}').join(encodeURIComponent(id)), target: '_blank', rel: 'noopener' }, h('code', null, id));
  }
  function exemplarsTable() {
    const have = RUNS.filter((r) => r.exemplars);
    if (!have.length) return;
    const s = section('exemplars', 'Slow and failed requests',
      'Traced requests (--trace): the run\'s slowest and its failed ones, each a link to its trace.');
    RUNS.forEach((r, i) => {
      if (!r.exemplars) return;
      const rows = [];
      for (const kind of ['slow', 'errors']) for (const e of r.exemplars[kind] || []) {
        rows.push(h('tr', null, h('td', { class: 'name' }, kind === 'slow' ? 'slow' : 'error'),
          h('td', { class: 'num' }, fmtCount(e.t)), h('td', { class: 'num' }, fmtUs(e.latency_us)),
          h('td', { class: 'num' + (e.error || e.status >= 400 ? ' bad' : '') }, e.error || String(e.status || '–')),
          h('td', { class: 'name' }, e.tag || ''), h('td', { class: 'val' }, traceLink(r, e.trace_id))));
      }
      s.appendChild(h('div', { class: 'card' }, CMP ? h('h3', null, h('span', { class: 'run-tag run-' + 'ab'[i] }, 'AB'[i]), r.label) : null,
        table(['', 'second', 'latency', 'status', 'tag', 'trace'], rows, 'exemplars')));
    });
  }

  function statusTable() {
    const codes = new Set();
    for (const r of RUNS) for (const k of Object.keys(r.summary.status)) codes.add(k);
    const kinds = new Set();
    for (const r of RUNS) for (const k of Object.keys(r.summary.errors_by_kind)) if (r.summary.errors_by_kind[k]) kinds.add(k);
    const rows = [];
    const cell = (r, v) => {
      const tot = cnt(r.summary, 'completed') + cnt(r.summary, 'errors');
      return [h('td', { class: 'num' }, fmtCount(v || 0)), h('td', { class: 'num dim' }, fmtPct(tot ? (v || 0) / tot : 0))];
    };
    for (const c of Array.from(codes).sort()) rows.push(h('tr', null, h('td', { class: 'name' }, h('span', { class: 'code c' + c[0] }, c)), RUNS.map((r) => cell(r, r.summary.status[c]))));
    for (const k of Array.from(kinds).sort()) rows.push(h('tr', null, h('td', { class: 'name' }, h('span', { class: 'code cerr' }, k)), RUNS.map((r) => cell(r, r.summary.errors_by_kind[k]))));
    const head = ['status / error'].concat(...RUNS.map((r, i) => (CMP ? ['AB'[i], ''] : ['count', 'share'])));
    return h('div', { class: 'card' }, h('h3', null, 'Responses and errors'), table(head, rows, 'status'));
  }

  function configTable() {
    const keys = [];
    for (const r of RUNS) for (const k of Object.keys(r.config)) if (!keys.includes(k)) keys.push(k);
    const extra = [['mortar', (r) => r.mortar_version], ['started', (r) => started(r)], ['bytes in', (r) => fmtBytes(cnt(r.summary, 'bytes_in'))], ['bytes out', (r) => fmtBytes(cnt(r.summary, 'bytes_out'))]];
    const rows = keys.map((k) => {
      const vals = RUNS.map((r) => (k in r.config ? json(r.config[k]) : '–'));
      const diff = CMP && vals[0] !== vals[1];
      return h('tr', { class: diff ? 'diff' : '' }, h('td', { class: 'name' }, k), vals.map((v) => h('td', { class: 'val' }, v)));
    }).concat(extra.map(([k, f]) => h('tr', null, h('td', { class: 'name' }, k), RUNS.map((r) => h('td', { class: 'val' }, String(f(r) == null ? '–' : f(r)))))));
    return h('div', { class: 'card' }, h('h3', null, 'Configuration'), table(CMP ? ['', 'A', 'B'] : ['', 'value'], rows, 'config'));
  }

  function tables() {
    const s = section('details', 'Details');
    s.appendChild(h('div', { class: 'grid two' }, statusTable(), configTable()));
  }

  /* ---- the page ------------------------------------------------------------------------------ */
  function main() {
    header();
    verdicts();
    kpis();
    if (CMP) { rowsTable(); compareCharts(); } else { singleCharts(); rowsTable(); }
    /* an odd chart out takes the whole row */
    const plots = charts.filter((c) => c.plot !== undefined && c.id !== 'breakdown' && c.box);
    if (plots.length % 2) plots[plots.length - 1].box.parentNode.classList.add('wide');
    tagsTable();
    exemplarsTable();
    tables();
    document.getElementById('foot').textContent = 'Generated by ' + DATA.generator + ' · charts by uPlot';
    layout();
    state.renderedMs = performance.now(); /* from navigation start: parse, data, every chart */
    /* the frame that shows them (the browser test and bench/report.sh read these) */
    requestAnimationFrame(() => setTimeout(() => { state.paintedMs = performance.now(); }, 0));
    state.ready = true;
    document.documentElement.setAttribute('data-ready', '1');
  }
  main();
})();
