/* The built-in target's /__mortar/ endpoints: GET /__mortar/stats answers the counters since
 * the last reset as one line of JSON; /__mortar/reset answers the same and makes now the
 * baseline (it never writes other threads' counters). These requests are not counted and
 * never delayed. See internal.h and docs/target.md. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/internal.h"

/* enum act for a request-target under /__mortar/, A_RESPOND for any other. */
int mt__tgt_control_path(const char *target, size_t len)
{
    static const char prefix[] = "/__mortar/";
    const char *q;
    size_t n;

    if (len < sizeof(prefix) - 1 || memcmp(target, prefix, sizeof(prefix) - 1) != 0)
        return A_RESPOND;
    q = memchr(target, '?', len);
    n = q ? (size_t)(q - target) : len;
    if (n == sizeof(MT_TARGET_STATS_PATH) - 1 && memcmp(target, MT_TARGET_STATS_PATH, n) == 0)
        return A_STATS;
    if (n == sizeof(MT_TARGET_RESET_PATH) - 1 && memcmp(target, MT_TARGET_RESET_PATH, n) == 0)
        return A_ZERO;
    return A_NOTFOUND;
}

/* Sum of all workers' counters. */
void mt__tgt_sum_counters(const struct mt_target *t, uint64_t *sum)
{
    memset(sum, 0, NCOUNTERS * sizeof(*sum));
    for (int i = 0; i < t->nthreads; i++) {
        const counters_t *k = t->workers[i].cnt;
        for (int j = 0; j < NCOUNTERS; j++)
            sum[j] += atomic_load_explicit(&k->v[j], memory_order_relaxed);
    }
}

/* The gauge: the most streams open at once on one connection, since the last reset. */
static uint32_t h2_max_streams_seen(const struct mt_target *t)
{
    uint64_t gen = atomic_load_explicit(&t->gen, memory_order_relaxed);
    uint32_t m = 0;
    for (int i = 0; i < t->nthreads; i++) {
        uint64_t v = atomic_load_explicit(&t->workers[i].cnt->h2_max, memory_order_relaxed);
        if ((v >> 32) == gen && (uint32_t)v > m)
            m = (uint32_t)v;
    }
    return m;
}

/* A bounded appender: overflowing is remembered, never written past. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool over;
} jbuf_t;

__attribute__((format(printf, 2, 3))) static void jb(jbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->over)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->over = true;
    else
        b->len += (size_t)n;
}

/* The counters since the last reset as JSON (one line); zero: then make now the baseline.
 * Returns the length, 0 if it did not fit (it always does in STATS_MAX). */
static size_t stats_json(struct mt_target *t, char *buf, size_t cap, bool zero)
{
    uint64_t sum[NCOUNTERS], v[NCOUNTERS];
    jbuf_t b = {buf, 0, cap, false};
    const char *sep = "";
    uint32_t h2max;

    pthread_mutex_lock(&t->base_lock);
    mt__tgt_sum_counters(t, sum);
    for (int j = 0; j < NCOUNTERS; j++)
        v[j] = sum[j] >= t->base[j] ? sum[j] - t->base[j] : 0;
    h2max = h2_max_streams_seen(t);
    if (zero) {
        memcpy(t->base, sum, sizeof(sum));
        atomic_fetch_add_explicit(&t->gen, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&t->base_lock);

    jb(&b, "{\"connections_accepted\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"responses\":{",
       v[C_CONNECTIONS], v[C_REQUESTS]);
    for (int s = 0; s < NSTATUS; s++) {
        if (v[C_STATUS + s]) {
            jb(&b, "%s\"%d\":%" PRIu64, sep, s + 100, v[C_STATUS + s]);
            sep = ",";
        }
    }
    jb(&b,
       "},\"bytes_sent\":%" PRIu64 ",\"resets\":%" PRIu64 ",\"malformed\":%" PRIu64
       ",\"malformed_by_kind\":{",
       v[C_BYTES_OUT], v[C_RESETS], v[C_MALFORMED]);
    for (int k = 0; k < MT__TGT_MAL_KINDS; k++)
        jb(&b, "%s\"%s\":%" PRIu64, k ? "," : "", mt__tgt_malformed_names[k], v[C_MAL_KIND + k]);
    jb(&b,
       "},\"closes\":%" PRIu64 ",\"bad_requests\":%" PRIu64 ",\"bad_params\":%" PRIu64
       ",\"unknown_params\":%" PRIu64 ",\"strict_params\":%s,\"accept_errors\":%" PRIu64,
       v[C_CLOSES], v[C_BAD_REQUESTS], v[C_BAD_PARAMS], v[C_UNKNOWN_PARAMS],
       t->strict_params ? "true" : "false", v[C_ACCEPT_ERRORS]);
    jb(&b,
       ",\"handshakes_full\":%" PRIu64 ",\"handshakes_resumed\":%" PRIu64 ",\"tls_errors\":%" PRIu64
       ",\"h2_connections\":%" PRIu64 ",\"h2_streams\":%" PRIu64 ",\"h2_goaways\":%" PRIu64
       ",\"h2_rst_streams\":%" PRIu64 ",\"h2_rst_streams_received\":%" PRIu64
       ",\"h2_refused_streams\":%" PRIu64 ",\"h2_max_concurrent_streams\":%" PRIu32,
       v[C_TLS_FULL], v[C_TLS_RESUMED], v[C_TLS_ERRORS], v[C_H2_CONNS], v[C_H2_STREAMS],
       v[C_H2_GOAWAYS], v[C_H2_RST], v[C_H2_RST_RECV], v[C_H2_REFUSED], h2max);
    jb(&b, ",\"threads\":%d,\"seed\":%" PRIu64 "}\n", t->nthreads, t->seed);
    return b.over ? 0 : b.len;
}

void mt__tgt_control_answer(struct mt_target *t, int action, unsigned *status, const char **data,
                            size_t *len, char **json)
{
    static const char notfound[] =
        "unknown path: try " MT_TARGET_STATS_PATH " or " MT_TARGET_RESET_PATH "\n";
    static const char nomem[] = "out of memory\n";
    char *j = NULL;
    size_t jlen = 0;

    *json = NULL;
    if (action == A_NOTFOUND) {
        *status = 404;
        *data = notfound;
        *len = sizeof(notfound) - 1;
    } else if (!(j = malloc(STATS_MAX)) ||
               !(jlen = stats_json(t, j, STATS_MAX, action == A_ZERO))) {
        free(j);
        *status = 500;
        *data = nomem;
        *len = sizeof(nomem) - 1;
    } else {
        *status = 200;
        *data = *json = j;
        *len = jlen;
    }
}
