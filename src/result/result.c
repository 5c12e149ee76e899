#include "result/result.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/error.h"
#include "mortar/hist.h"

/* ---- the counter table as data ------------------------------------------------------------ */

#define RS_MAX_SUM     false
#define RS_MAX_MAX     true
#define RS_PS_RAW      false
#define RS_PS_PER_SENT true

const mt__counter_desc_t mt__counters[] = {
#define XX(field_, merge_, presence_, summary_, second_, value_, web_, label_)                     \
    {                                                                                              \
        .name = #field_,                                                                           \
        .off = offsetof(mt_counters_t, field_),                                                    \
        .max = RS_MAX_##merge_,                                                                    \
        .presence = MT__CP_##presence_,                                                            \
        .summary = summary_,                                                                       \
        .second = second_,                                                                         \
        .per_sent = RS_PS_##value_,                                                                \
        .web = web_,                                                                               \
        .label = label_,                                                                           \
    },
    MT_COUNTER_MAP(XX)
#undef XX
};
const size_t mt__ncounters = sizeof(mt__counters) / sizeof(mt__counters[0]);

uint64_t mt__counter_get(const mt_counters_t *c, const mt__counter_desc_t *d)
{
    uint64_t v;
    memcpy(&v, (const char *)c + d->off, sizeof(v));
    return v;
}

void mt__counter_set(mt_counters_t *c, const mt__counter_desc_t *d, uint64_t v)
{
    memcpy((char *)c + d->off, &v, sizeof(v));
}

bool mt__counter_tagged(const mt__counter_desc_t *d)
{
    /* and k6's failed (http_req_failed{tag:...}), written when not 0 */
    return (!d->max && d->presence == MT__CP_ALWAYS && !d->per_sent) ||
           strcmp(d->name, "failed") == 0;
}

/* Splits "a.b" into group "a" (in g) and key "b"; no dot: g = "" and the whole path. */
static const char *rs_split(const char *path, char *g, size_t n)
{
    const char *dot = strchr(path, '.');
    if (dot == NULL) {
        g[0] = '\0';
        return path;
    }
    snprintf(g, n, "%.*s", (int)(dot - path), path);
    return dot + 1;
}

json_t *mt__result_path(const json_t *o, const char *path)
{
    char g[64];
    const char *key = rs_split(path, g, sizeof(g));
    if (g[0] != '\0')
        o = json_object_get(o, g);
    return json_object_get(o, key);
}

/* ---- counters in result documents --------------------------------------------------------- */

static json_t *rs_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Rounded to microsecond-ish precision for readability; exact values live in the histograms. */
static json_t *rs_num(double v, double scale)
{
    if (!isfinite(v))
        v = 0;
    return json_real(round(v * scale) / scale);
}

static uint64_t rs_written(const mt_counters_t *c, const mt__counter_desc_t *d)
{
    uint64_t v = mt__counter_get(c, d);
    if (d->per_sent)
        return c->sent > 0 ? (uint64_t)llround((double)v / (double)c->sent) : 0;
    return v;
}

static json_t *rs_err_kinds(const mt_counters_t *c)
{
    json_t *o = json_object();
    for (int k = 0; o != NULL && k < MT_ERR__COUNT; k++)
        json_object_set_new(o, mt_err_kind_name(k), rs_u64(c->err[k]));
    return o;
}

int mt__result_put_counters(json_t *o, const mt_counters_t *c, bool second, bool tagged)
{
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        const char *path = second ? d->second : d->summary;
        json_t *dst = o;
        char g[64];
        const char *key = rs_split(path, g, sizeof(g));
        uint64_t v = rs_written(c, d);

        if (tagged && !mt__counter_tagged(d))
            continue;
        if (d->presence == MT__CP_NONZERO && mt__counter_get(c, d) == 0)
            continue;
        if (g[0] != '\0') {
            dst = json_object_get(o, g);
            if (dst == NULL) {
                dst = json_object();
                if (dst == NULL || json_object_set_new(o, g, dst) != 0)
                    return MT_ENOMEM;
            }
        }
        if (json_object_set_new(dst, key, rs_u64(v)) != 0)
            return MT_ENOMEM;
        if (strcmp(d->name, "errors") == 0 && /* its breakdown by kind (err[]) follows it */
            json_object_set_new(o, "errors_by_kind", rs_err_kinds(c)) != 0)
            return MT_ENOMEM;
    }
    return MT_OK;
}

static int rs_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int rs_fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (n > 0) {
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return MT_EFORMAT;
}

static bool rs_whole(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

int mt__result_get_counters(const json_t *o, bool second, mt_counters_t *c, char *err, size_t n)
{
    const json_t *k, *st, *v;
    const char *key;
    uint64_t u;

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        const char *path = second ? d->second : d->summary;
        bool required = d->presence == MT__CP_ALWAYS || (!second && d->presence == MT__CP_SUMMARY);
        v = mt__result_path(o, path);
        if (v == NULL) {
            if (required)
                return rs_fail(err, n, "%s: missing", path);
            continue;
        }
        if (!rs_whole(v, &u))
            return rs_fail(err, n, "%s: expected a whole number >= 0", path);
        mt__counter_set(c, d, u);
    }
    /* then the PER_SENT ones, written as value / sent: back to the value */
    for (size_t i = 0; i < mt__ncounters; i++) {
        uint64_t mean = mt__counter_get(c, &mt__counters[i]);
        if (mt__counters[i].per_sent)
            mt__counter_set(c, &mt__counters[i],
                            c->sent > 0 && mean > UINT64_MAX / c->sent ? UINT64_MAX
                                                                       : mean * c->sent);
    }

    k = json_object_get(o, "errors_by_kind");
    if (!json_is_object(k))
        return rs_fail(err, n, "errors_by_kind: expected an object");
    for (int e = 0; e < MT_ERR__COUNT; e++) {
        v = json_object_get(k, mt_err_kind_name(e));
        if (v == NULL)
            continue;
        if (!rs_whole(v, &c->err[e]))
            return rs_fail(err, n, "errors_by_kind.%s: expected a whole number >= 0",
                           mt_err_kind_name(e));
    }
    st = json_object_get(o, "status");
    if (!json_is_object(st))
        return rs_fail(err, n, "status: expected an object");
    json_object_foreach((json_t *)st, key, v)
    {
        char *end = NULL;
        bool other = strcmp(key, "other") == 0;
        long code = other ? 0 : strtol(key, &end, 10);
        if ((!other && (*end != '\0' || code < 100 || code >= MT_STATUS_MAX)) || !rs_whole(v, &u))
            return rs_fail(err, n, "status: bad entry");
        c->status[code] += u;
    }
    return MT_OK;
}

json_t *mt__result_status_json(const mt_counters_t *c)
{
    json_t *o = json_object();
    char key[8];
    for (int s = 100; o != NULL && s < MT_STATUS_MAX; s++) {
        if (c->status[s] == 0)
            continue;
        snprintf(key, sizeof(key), "%d", s);
        json_object_set_new(o, key, rs_u64(c->status[s]));
    }
    if (o != NULL && c->status[0] > 0)
        json_object_set_new(o, "other", rs_u64(c->status[0]));
    return o;
}

/* ---- percentiles -------------------------------------------------------------------------- */

enum {
    RS_P_P50 = 1 << 0,
    RS_P_P90 = 1 << 1,
    RS_P_P95 = 1 << 2,
    RS_P_P99 = 1 << 3,
    RS_P_P999 = 1 << 4,
    RS_P_MAX = 1 << 5,
    RS_P_MEAN = 1 << 6,
    RS_P_MIN = 1 << 7,
};
#define RS_P_SECOND    (RS_P_P50 | RS_P_P90 | RS_P_P95 | RS_P_P99 | RS_P_P999 | RS_P_MAX)
#define RS_P_TOTAL     (RS_P_SECOND | RS_P_MEAN | RS_P_MIN)
#define RS_P_BREAKDOWN (RS_P_P50 | RS_P_P90 | RS_P_P99 | RS_P_MAX | RS_P_MEAN)

static json_t *rs_pcts(const mt_hist_t *h, unsigned which)
{
    static const struct {
        unsigned bit;
        const char *key;
        double p;
    } pk[] = {
        {RS_P_P50, "p50", 50}, {RS_P_P90, "p90", 90},     {RS_P_P95, "p95", 95},
        {RS_P_P99, "p99", 99}, {RS_P_P999, "p999", 99.9},
    };
    json_t *o = json_object();
    bool empty = h == NULL || mt_hist_count(h) == 0;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++)
        if (which & pk[i].bit)
            json_object_set_new(o, pk[i].key,
                                json_integer(empty ? 0 : mt_hist_value_at_percentile(h, pk[i].p)));
    if (which & RS_P_MAX)
        json_object_set_new(o, "max", json_integer(empty ? 0 : mt_hist_max(h)));
    if (which & RS_P_MEAN)
        json_object_set_new(o, "mean", json_integer(empty ? 0 : llround(mt_hist_mean(h))));
    if (which & RS_P_MIN)
        json_object_set_new(o, "min", json_integer(empty ? 0 : mt_hist_min(h)));
    return o;
}

/* Encoded histogram as a JSON string; NULL (and *rc set) on failure. */
static json_t *rs_hist_string(const mt_hist_t *h, int *rc)
{
    char *enc = NULL;
    size_t len = 0;
    json_t *s;

    if (h == NULL) {
        *rc = MT_EINVAL;
        return NULL;
    }
    *rc = mt_hist_encode(h, &enc, &len);
    if (*rc != MT_OK)
        return NULL;
    s = json_stringn(enc, len);
    free(enc);
    if (s == NULL)
        *rc = MT_ENOMEM;
    return s;
}

/* A nested group ("tls", "http2") is present when one of its counters is not 0, and then
 * holds all of them; the summary's "tls" also when there was a TLS error, with "error". */
static int rs_complete_groups(json_t *o, const mt_counters_t *c, bool second, const char *tls_error)
{
    for (size_t i = 0; i < mt__ncounters; i++) {
        const char *path = second ? mt__counters[i].second : mt__counters[i].summary;
        const char *dot = strchr(path, '.');
        char g[64];
        json_t *grp;
        bool tls;

        if (dot == NULL || mt__counters[i].presence != MT__CP_NONZERO)
            continue;
        snprintf(g, sizeof(g), "%.*s", (int)(dot - path), path);
        tls = !second && strcmp(g, "tls") == 0;
        grp = json_object_get(o, g);
        if (grp == NULL && !(tls && tls_error != NULL && tls_error[0] != '\0'))
            continue;
        if (grp == NULL) {
            grp = json_object();
            if (grp == NULL || json_object_set_new(o, g, grp) != 0)
                return MT_ENOMEM;
        }
        if (json_object_get(grp, dot + 1) == NULL &&
            json_object_set_new(grp, dot + 1, rs_u64(mt__counter_get(c, &mt__counters[i]))) != 0)
            return MT_ENOMEM;
        if (tls && json_object_get(grp, "error") == NULL &&
            json_object_set_new(grp, "error",
                                tls_error != NULL && tls_error[0] ? json_string(tls_error)
                                                                  : json_null()) != 0)
            return MT_ENOMEM;
    }
    return MT_OK;
}

/* ---- parts of the document ---------------------------------------------------------------- */

/* Per-tag statistics: {"name": {requests, counters, status, latency_us, service_us}}; NULL
 * when the run has no tags. which: RS_P_SECOND or RS_P_TOTAL. */
static json_t *rs_tags(const char *const *tags, size_t ntags, const mt_tag_stats_t *t, size_t n,
                       unsigned which)
{
    json_t *o;
    if (t == NULL || n == 0 || tags == NULL)
        return NULL;
    o = json_object();
    for (size_t i = 0; o != NULL && i < n && i < ntags; i++) {
        json_t *x = json_object();
        if (x == NULL)
            break;
        json_object_set_new(x, "requests", rs_u64(t[i].c.completed));
        if (mt__result_put_counters(x, &t[i].c, which == RS_P_SECOND, true) != MT_OK) {
            json_decref(x);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(x, "status", mt__result_status_json(&t[i].c));
        json_object_set_new(x, "latency_us", rs_pcts(t[i].latency, which));
        json_object_set_new(x, "service_us", rs_pcts(t[i].service, which));
        json_object_set_new(o, tags[i], x);
    }
    return o;
}

json_t *mt__result_second_json(const mt_second_t *s, const char *const *tags, size_t ntags)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "t", json_integer(s->index));
    json_object_set_new(o, "span_s", rs_num((double)s->span_ns / 1e9, 1e6));
    if (mt__result_put_counters(o, &s->c, true, false) != MT_OK ||
        rs_complete_groups(o, &s->c, true, NULL) != MT_OK) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "open_connections", json_integer(s->open_conns));
    json_object_set_new(o, "backlog", rs_u64(s->backlog));
    json_object_set_new(o, "status", mt__result_status_json(&s->c));
    json_object_set_new(o, "latency_us", rs_pcts(s->latency, RS_P_SECOND));
    json_object_set_new(o, "service_us", rs_pcts(s->service, RS_P_SECOND));
    if (s->ntags > 0)
        json_object_set_new(o, "tags", rs_tags(tags, ntags, s->tags, s->ntags, RS_P_SECOND));
    if (s->nslow > 0 || s->nerrs > 0)
        json_object_set_new(
            o, "exemplars",
            mt__result_exemplars_json(s->slow, s->nslow, s->errs, s->nerrs, tags, ntags));
    return o;
}

static json_t *rs_exemplar_list(const mt_exemplar_t *e, size_t n, const char *const *tags,
                                size_t ntags)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        char hex[33];
        json_t *x = json_object();
        if (x == NULL)
            break;
        mt_hex_encode(hex, e[i].trace_id, 16);
        json_object_set_new(x, "trace_id", json_string(hex));
        mt_hex_encode(hex, e[i].span_id, 8);
        json_object_set_new(x, "span_id", json_string(hex));
        json_object_set_new(x, "latency_us", json_integer(e[i].latency_us));
        if (e[i].status != 0)
            json_object_set_new(x, "status", json_integer(e[i].status));
        if (e[i].err_kind >= 0 && e[i].err_kind < MT_ERR__COUNT)
            json_object_set_new(x, "error", json_string(mt_err_kind_name(e[i].err_kind)));
        if (e[i].tag > 0 && tags != NULL && e[i].tag < ntags)
            json_object_set_new(x, "tag", json_string(tags[e[i].tag]));
        json_array_append_new(a, x);
    }
    return a;
}

json_t *mt__result_exemplars_json(const mt_exemplar_t *slow, size_t nslow,
                                  const mt_exemplar_t *errs, size_t nerrs, const char *const *tags,
                                  size_t ntags)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "slow", rs_exemplar_list(slow, nslow, tags, ntags));
    json_object_set_new(o, "errors", rs_exemplar_list(errs, nerrs, tags, ntags));
    return o;
}

static int rs_unhex(const char *t, uint8_t *out, size_t n)
{
    if (t == NULL || strlen(t) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = t[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 0;
}

static int rs_exemplars_get1(const json_t *a, const char *what, mt_exemplar_t *out, size_t *n,
                             size_t cap, const char *const *tags, size_t ntags, char *err,
                             size_t errlen)
{
    *n = 0;
    if (a == NULL)
        return MT_OK;
    if (!json_is_array(a) || json_array_size(a) > cap) {
        snprintf(err, errlen, "exemplars.%s: expected an array of at most %zu", what, cap);
        return MT_EFORMAT;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *x = json_array_get(a, i);
        mt_exemplar_t e = {.err_kind = -1};
        const json_t *lat = json_object_get(x, "latency_us"), *st = json_object_get(x, "status");
        const json_t *er = json_object_get(x, "error"), *tg = json_object_get(x, "tag");
        if (!json_is_object(x) ||
            rs_unhex(json_string_value(json_object_get(x, "trace_id")), e.trace_id, 16) ||
            rs_unhex(json_string_value(json_object_get(x, "span_id")), e.span_id, 8) ||
            !json_is_integer(lat) || json_integer_value(lat) < 0 ||
            json_integer_value(lat) > UINT32_MAX ||
            (st && (!json_is_integer(st) || json_integer_value(st) < 0 ||
                    json_integer_value(st) >= MT_STATUS_MAX)) ||
            (er && !json_is_string(er)) || (tg && !json_is_string(tg))) {
            snprintf(err, errlen,
                     "exemplars.%s[%zu]: expected {trace_id: 32 hex, span_id: 16 hex, "
                     "latency_us, status?, error?, tag?}",
                     what, i);
            return MT_EFORMAT;
        }
        e.latency_us = (uint32_t)json_integer_value(lat);
        e.status = st ? (uint16_t)json_integer_value(st) : 0;
        for (int k = 0; er && k < MT_ERR__COUNT; k++)
            if (strcmp(json_string_value(er), mt_err_kind_name(k)) == 0)
                e.err_kind = (int16_t)k;
        if (er && e.err_kind < 0)
            e.err_kind = MT_ERR_OTHER;
        for (size_t k = 1; tg && tags && k < ntags; k++)
            if (strcmp(json_string_value(tg), tags[k]) == 0)
                e.tag = (uint16_t)k;
        mt_exemplars_merge(out, n, cap, &e, 1);
    }
    return MT_OK;
}

int mt__result_exemplars_get(const json_t *o, mt_exemplar_t *slow, size_t *nslow,
                             mt_exemplar_t *errs, size_t *nerrs, const char *const *tags,
                             size_t ntags, char *err, size_t n)
{
    *nslow = *nerrs = 0;
    if (o == NULL)
        return MT_OK;
    if (!json_is_object(o)) {
        snprintf(err, n, "exemplars: expected an object");
        return MT_EFORMAT;
    }
    int rc = rs_exemplars_get1(json_object_get(o, "slow"), "slow", slow, nslow, MT_EXEMPLARS_SLOW,
                               tags, ntags, err, n);
    if (rc == MT_OK)
        rc = rs_exemplars_get1(json_object_get(o, "errors"), "errors", errs, nerrs,
                               MT_EXEMPLARS_ERR, tags, ntags, err, n);
    return rc;
}

json_t *mt__result_summary_json(const mt_run_result_t *r, bool interrupted, const char *const *tags,
                                size_t ntags)
{
    const mt_counters_t *c = &r->c;
    double el = (double)r->elapsed_ns / 1e9;
    json_t *o = json_object(), *bd;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "requests", rs_u64(c->completed));
    json_object_set_new(o, "rps", rs_num(el > 0 ? (double)c->completed / el : 0, 1e3));
    json_object_set_new(o, "duration_s", rs_num(el, 1e6));
    if (mt__result_put_counters(o, c, false, false) != MT_OK) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "latency_us", rs_pcts(r->latency, RS_P_TOTAL));
    json_object_set_new(o, "service_us", rs_pcts(r->service, RS_P_TOTAL));
    bd = json_object();
    if (bd != NULL) {
        json_object_set_new(bd, "connect", rs_pcts(r->connect, RS_P_BREAKDOWN));
        if (r->tls != NULL && mt_hist_count(r->tls) > 0)
            json_object_set_new(bd, "tls", rs_pcts(r->tls, RS_P_BREAKDOWN));
        json_object_set_new(bd, "send", rs_pcts(r->send, RS_P_BREAKDOWN));
        json_object_set_new(bd, "wait", rs_pcts(r->wait, RS_P_BREAKDOWN));
        json_object_set_new(bd, "receive", rs_pcts(r->recv, RS_P_BREAKDOWN));
    }
    json_object_set_new(o, "breakdown_us", bd);
    json_object_set_new(o, "status", mt__result_status_json(c));
    json_object_set_new(o, "max_open_connections", json_integer(r->max_open_conns));
    json_object_set_new(o, "interrupted", json_boolean(interrupted || r->stopped));
    if (rs_complete_groups(o, c, false, r->tls_error) != MT_OK) {
        json_decref(o);
        return NULL;
    }
    if (r->ntags > 0 && tags != NULL)
        json_object_set_new(o, "tags", rs_tags(tags, ntags, r->tags, r->ntags, RS_P_TOTAL));
    return o;
}

void mt__result_rfc3339(char *buf, size_t n, int64_t unix_ns)
{
    time_t secs = (time_t)(unix_ns / 1000000000LL);
    struct tm tm;
    char date[32];
    if (gmtime_r(&secs, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "1970-01-01T00:00:00");
    snprintf(buf, n, "%s.%03dZ", date, (int)(unix_ns / 1000000 % 1000));
}

void mt__fmt_us(char *buf, size_t n, double us)
{
    if (!(us >= 0))
        us = 0;
    if (us < 1000)
        snprintf(buf, n, "%.0fus", us);
    else if (us < 1000000)
        snprintf(buf, n, "%.2fms", us / 1000);
    else
        snprintf(buf, n, "%.2fs", us / 1000000);
}

/* ---- the document builder ----------------------------------------------------------------- */

struct mt__result {
    json_t *root;
    json_t *seconds; /* owned until finish puts it into root */
    int err;         /* first error while adding seconds */
    bool started;    /* "started_at" set by the caller */
    const char *const *tags;
    size_t ntags;
};

int mt__result_new(json_t *config, const char *const *tags, size_t ntags, mt__result_t **out)
{
    mt__result_t *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL || config == NULL || (d->root = json_object()) == NULL ||
        (d->seconds = json_array()) == NULL) {
        json_decref(config);
        mt__result_free(d);
        return MT_ENOMEM;
    }
    json_object_set_new(d->root, "schema", json_string(MT__RESULT_SCHEMA));
    json_object_set_new(d->root, "mortar_version", json_string(MT_VERSION));
    json_object_set_new(d->root, "started_at", json_null()); /* set by finish */
    json_object_set_new(d->root, "config", config);
    d->tags = tags;
    d->ntags = tags != NULL ? ntags : 0;
    *out = d;
    return MT_OK;
}

int mt__result_add_second_json(mt__result_t *d, json_t *sec)
{
    if (sec == NULL || json_array_append_new(d->seconds, sec) != 0) {
        if (d->err == MT_OK)
            d->err = MT_ENOMEM;
        return MT_ENOMEM;
    }
    return MT_OK;
}

int mt__result_add_second(mt__result_t *d, const mt_second_t *s)
{
    json_t *o = mt__result_second_json(s, d->tags, d->ntags), *h;
    int rc = MT_ENOMEM;

    if (o == NULL)
        goto fail;
    if ((h = rs_hist_string(s->latency, &rc)) == NULL)
        goto fail;
    json_object_set_new(o, "hist", h);
    return mt__result_add_second_json(d, o);
fail:
    json_decref(o);
    if (d->err == MT_OK)
        d->err = rc;
    return rc;
}

int mt__result_finish(mt__result_t *d, const mt_run_result_t *r, bool interrupted)
{
    char when[48];
    json_t *hists = NULL, *sum, *h;
    int rc = d->err;

    if (rc != MT_OK)
        return rc;
    if (!d->started) {
        mt__result_rfc3339(when, sizeof(when), r->start_unix_ns);
        json_object_set_new(d->root, "started_at", json_string(when));
    }
    sum = mt__result_summary_json(r, interrupted, d->tags, d->ntags);
    if (sum == NULL || json_object_set_new(d->root, "summary", sum) != 0 ||
        json_object_set(d->root, "seconds", d->seconds) != 0 || (hists = json_object()) == NULL ||
        json_object_set_new(d->root, "histograms", hists) != 0)
        return d->err = MT_ENOMEM;
    if ((h = rs_hist_string(r->latency, &rc)) == NULL)
        return d->err = rc;
    json_object_set_new(hists, "latency", h);
    if ((h = rs_hist_string(r->service, &rc)) == NULL)
        return d->err = rc;
    json_object_set_new(hists, "service", h);
    if (r->ntags > 0 && d->tags != NULL) {
        json_t *th = json_object();
        if (th == NULL || json_object_set_new(hists, "tags", th) != 0)
            return d->err = MT_ENOMEM;
        for (size_t i = 0; i < r->ntags && i < d->ntags; i++) {
            if ((h = rs_hist_string(r->tags[i].latency, &rc)) == NULL)
                return d->err = rc;
            json_object_set_new(th, d->tags[i], h);
        }
    }
    return MT_OK;
}

void mt__result_set(mt__result_t *d, const char *key, json_t *value)
{
    if (value == NULL) {
        if (d->err == MT_OK)
            d->err = MT_ENOMEM;
        return;
    }
    if (strcmp(key, "started_at") == 0)
        d->started = true;
    json_object_set_new(d->root, key, value);
}

json_t *mt__result_doc(const mt__result_t *d)
{
    return d->root;
}

void mt__result_free(mt__result_t *d)
{
    if (d == NULL)
        return;
    json_decref(d->seconds);
    json_decref(d->root);
    free(d);
}
