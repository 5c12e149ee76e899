/* Shared by the web UI of `mortar serve` (web/serve/app.js, loaded before it as /ui/fmt.js) and
 * the HTML report (web/report/report.js, inlined into the page before it): number formatting
 * both agree on, and the names of a run's counters. Defines window.MortarFmt. */
(function (g) {
  'use strict';

  /* A run's counters, as MT_COUNTER_MAP (include/mortar/counters.h) lists them:
   * [name, key in the result's summary, key in each second, label]. Keys with a dot are nested
   * ("tls.handshakes_full"). tests/unit/test_result.c checks that this list is the C table. */
  const COUNTERS = [
    ['due', 'due', 'due', 'requests due by the plan'],
    ['sent', 'sent', 'sent', 'requests sent'],
    ['completed', 'completed', 'completed', 'responses received'],
    ['errors', 'errors', 'errors', 'requests failed'],
    ['dropped', 'dropped', 'dropped', 'dropped (never sent)'],
    ['late', 'late', 'late', 'late (>1ms after due)'],
    ['lag_mean', 'mean_schedule_lag_us', 'schedule_lag_us.mean', 'schedule lag mean (us)'],
    ['lag_max', 'max_schedule_lag_us', 'schedule_lag_us.max', 'schedule lag max (us)'],
    ['bytes_out', 'bytes_out', 'bytes_out', 'bytes sent'],
    ['bytes_in', 'bytes_in', 'bytes_in', 'bytes received'],
    ['connects', 'connects', 'connects', 'connections opened'],
    ['tls_full', 'tls.handshakes_full', 'tls.handshakes_full', 'TLS full handshakes'],
    ['tls_resumed', 'tls.handshakes_resumed', 'tls.handshakes_resumed', 'TLS resumed handshakes'],
    ['h2_rst', 'http2.rst_streams', 'http2.rst_streams', 'HTTP/2 RST_STREAM received'],
    ['h2_goaway', 'http2.goaways', 'http2.goaways', 'HTTP/2 GOAWAY received'],
    ['h2_retried', 'http2.retried', 'http2.retried', 'HTTP/2 requests retried'],
    ['retried', 'retried', 'retried', 'HTTP/1 requests retried (close race)'],
    ['ts_user', 'timing.user_clock', 'timing.user_clock', 'responses timed by the user-space clock (no kernel timestamp)'],
    ['failed', 'failed', 'failed', 'failed as k6 counts them (errors + unexpected status)'],
    ['abandoned', 'abandoned', 'abandoned', 'abandoned (unanswered at the end)'],
    ['gen_cpu', 'generator.cpu_us', 'generator.cpu_us', 'generator CPU, worker threads (us)'],
    ['gen_cpu_max', 'generator.busiest_thread_cpu_us', 'generator.busiest_thread_cpu_us', 'busiest worker thread CPU in one second (us)'],
  ];
  const BY_NAME = {};
  for (const c of COUNTERS) BY_NAME[c[0]] = c;

  /* The member at a dotted path of o, or undefined. */
  function path(o, p) {
    for (const k of p.split('.')) {
      if (o == null || typeof o !== 'object') return undefined;
      o = o[k];
    }
    return o;
  }

  /* Counter `name` of a result summary (second false) or of one second (second true), or
   * undefined when the document does not have it (older documents; the "tls" and "http2"
   * groups are present only when one of their counters is not 0). */
  function find(o, name, second) {
    const c = BY_NAME[name];
    if (!c) throw new Error('mortar: unknown counter ' + name);
    const v = path(o, second ? c[2] : c[1]);
    return typeof v === 'number' ? v : undefined;
  }
  /* The same, 0 when absent. */
  function counter(o, name, second) {
    const v = find(o, name, second);
    return v === undefined ? 0 : v;
  }

  /* A fraction as a percentage: 0.25 -> "25.00%", 0.0004 -> "0.040%"; '–' when there is none. */
  function pct(f) {
    if (f == null || !isFinite(f)) return '–';
    const p = f * 100;
    return (p > 0 && p < 0.1 ? p.toPrecision(2) : p.toFixed(2)) + '%';
  }

  g.MortarFmt = Object.freeze({ COUNTERS: COUNTERS, counter: counter, find: find, pct: pct });
})(typeof window !== 'undefined' ? window : globalThis);
