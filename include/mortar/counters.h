/* The scalar counters of a run (mt_counters_t, mortar/engine.h) as ONE table. The struct, the
 * merge (mt_counters_add), the result JSON ("mortar.result/v1": summary and seconds), the
 * snapshots on the wire ("mortar.snapshot/v1"), the analysis over stored rows, the HTML
 * report's reader and the web code's names are all produced from it
 * (docs/adr/0018-result-model.md). Adding a counter means adding one row here; every test that
 * walks the table then covers it.
 *
 * The arrays err[] (by MT_ERR_KIND_MAP) and status[] (by HTTP code) are not in the table: they
 * are keyed objects ("errors_by_kind", "status") handled next to it.
 *
 * XX(field, merge, presence, summary, second, value, web, label)
 *   field     the member of mt_counters_t; also its key in snapshots and its metric name
 *   merge     SUM: added when seconds, threads or agents are merged; MAX: the larger wins
 *   presence  ALWAYS: required in snapshots and in the result's summary and seconds;
 *             SUMMARY: required in snapshots and the summary, optional in seconds (absent in
 *             documents written before it was added there);
 *             NONZERO: written only when not 0 (absent = 0) everywhere: older agents and
 *             documents do not have it
 *   summary   key in the result's "summary"; "group.key" places it in a nested object
 *             ("tls", "http2") that is present only when one of its counters is not 0
 *   second    key in each of the result's "seconds" (same rules)
 *   value     RAW: the counter itself; PER_SENT: written as counter / sent (rounded), read
 *             back as value x sent (the schedule lag's sum, shown as a mean)
 *   web       the name in the report's per-second columns and the web code (web/shared/fmt.js
 *             lists the same names; tests/unit/test_result.c checks that they agree)
 *   label     a few words for people (the report, the UI) */
#ifndef MORTAR_COUNTERS_H
#define MORTAR_COUNTERS_H

#define MT_COUNTER_MAP(XX)                                                                         \
    XX(due, SUM, ALWAYS, "due", "due", RAW, "due", "requests due by the plan")                     \
    XX(sent, SUM, ALWAYS, "sent", "sent", RAW, "sent", "requests sent")                            \
    XX(completed, SUM, ALWAYS, "completed", "completed", RAW, "completed", "responses received")   \
    XX(errors, SUM, ALWAYS, "errors", "errors", RAW, "errors", "requests failed")                  \
    XX(dropped, SUM, ALWAYS, "dropped", "dropped", RAW, "dropped", "dropped (never sent)")         \
    XX(late, SUM, ALWAYS, "late", "late", RAW, "late", "late (>1ms after due)")                    \
    XX(lag_sum_us, SUM, ALWAYS, "mean_schedule_lag_us", "schedule_lag_us.mean", PER_SENT,          \
       "lag_mean", "schedule lag mean (us)")                                                       \
    XX(lag_max_us, MAX, ALWAYS, "max_schedule_lag_us", "schedule_lag_us.max", RAW, "lag_max",      \
       "schedule lag max (us)")                                                                    \
    XX(bytes_out, SUM, ALWAYS, "bytes_out", "bytes_out", RAW, "bytes_out", "bytes sent")           \
    XX(bytes_in, SUM, ALWAYS, "bytes_in", "bytes_in", RAW, "bytes_in", "bytes received")           \
    XX(connects, SUM, SUMMARY, "connects", "connects", RAW, "connects", "connections opened")      \
    XX(tls_full, SUM, NONZERO, "tls.handshakes_full", "tls.handshakes_full", RAW, "tls_full",      \
       "TLS full handshakes")                                                                      \
    XX(tls_resumed, SUM, NONZERO, "tls.handshakes_resumed", "tls.handshakes_resumed", RAW,         \
       "tls_resumed", "TLS resumed handshakes")                                                    \
    XX(h2_rst, SUM, NONZERO, "http2.rst_streams", "http2.rst_streams", RAW, "h2_rst",              \
       "HTTP/2 RST_STREAM received")                                                               \
    XX(h2_goaway, SUM, NONZERO, "http2.goaways", "http2.goaways", RAW, "h2_goaway",                \
       "HTTP/2 GOAWAY received")                                                                   \
    XX(h2_retried, SUM, NONZERO, "http2.retried", "http2.retried", RAW, "h2_retried",              \
       "HTTP/2 requests retried")                                                                  \
    XX(retried, SUM, NONZERO, "retried", "retried", RAW, "retried",                                \
       "HTTP/1 requests retried (close race)")                                                     \
    XX(ts_user, SUM, NONZERO, "timing.user_clock", "timing.user_clock", RAW, "ts_user",            \
       "responses timed by the user-space clock (no kernel timestamp)")                            \
    XX(failed, SUM, NONZERO, "failed", "failed", RAW, "failed",                                    \
       "failed as k6 counts them (errors + unexpected status)")                                    \
    XX(abandoned, SUM, NONZERO, "abandoned", "abandoned", RAW, "abandoned",                        \
       "abandoned (unanswered at the end)")                                                        \
    XX(cpu_us, SUM, NONZERO, "generator.cpu_us", "generator.cpu_us", RAW, "gen_cpu",               \
       "generator CPU, worker threads (us)")                                                       \
    XX(cpu_max_us, MAX, NONZERO, "generator.busiest_thread_cpu_us",                                \
       "generator.busiest_thread_cpu_us", RAW, "gen_cpu_max",                                      \
       "busiest worker thread CPU in one second (us)")

#endif
