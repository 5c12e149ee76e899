#include "cli/json_out.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JO_SCHEMA_ID  "mortar.result/v1"
#define JO_DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(12))

struct mt__json {
    json_t *root;
    json_t *seconds; /* borrowed from root */
    char *path;      /* NULL: stdout */
    char *tmp_path;
    FILE *tmp;
    int err;                 /* first error while adding seconds */
    bool memory;             /* path NULL: keep the document in memory only (--html alone) */
    const char *const *tags; /* tag names, borrowed from the run info */
    size_t ntags;
};

/* Percentile sets written for a histogram. */
enum {
    JO_P_P50 = 1 << 0,
    JO_P_P90 = 1 << 1,
    JO_P_P95 = 1 << 2,
    JO_P_P99 = 1 << 3,
    JO_P_P999 = 1 << 4,
    JO_P_MAX = 1 << 5,
    JO_P_MEAN = 1 << 6,
    JO_P_MIN = 1 << 7,
};
#define JO_P_SECOND    (JO_P_P50 | JO_P_P90 | JO_P_P95 | JO_P_P99 | JO_P_P999 | JO_P_MAX)
#define JO_P_TOTAL     (JO_P_SECOND | JO_P_MEAN | JO_P_MIN)
#define JO_P_BREAKDOWN (JO_P_P50 | JO_P_P90 | JO_P_P99 | JO_P_MAX | JO_P_MEAN)

static json_t *jo_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Rounded to microsecond-ish precision for readability; exact values live in the histograms. */
static json_t *jo_num(double v, double scale)
{
    if (!isfinite(v))
        v = 0;
    return json_real(round(v * scale) / scale);
}

static json_t *jo_pcts(const mt_hist_t *h, unsigned which)
{
    static const struct {
        unsigned bit;
        const char *key;
        double p;
    } pk[] = {
        {JO_P_P50, "p50", 50}, {JO_P_P90, "p90", 90},     {JO_P_P95, "p95", 95},
        {JO_P_P99, "p99", 99}, {JO_P_P999, "p999", 99.9},
    };
    json_t *o = json_object();
    bool empty = h == NULL || mt_hist_count(h) == 0;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++)
        if (which & pk[i].bit)
            json_object_set_new(o, pk[i].key,
                                json_integer(empty ? 0 : mt_hist_value_at_percentile(h, pk[i].p)));
    if (which & JO_P_MAX)
        json_object_set_new(o, "max", json_integer(empty ? 0 : mt_hist_max(h)));
    if (which & JO_P_MEAN)
        json_object_set_new(o, "mean", json_integer(empty ? 0 : llround(mt_hist_mean(h))));
    if (which & JO_P_MIN)
        json_object_set_new(o, "min", json_integer(empty ? 0 : mt_hist_min(h)));
    return o;
}

static json_t *jo_err_kinds(const mt_counters_t *c)
{
    json_t *o = json_object();
    for (int k = 0; o != NULL && k < MT_ERR__COUNT; k++)
        json_object_set_new(o, mt_err_kind_name(k), jo_u64(c->err[k]));
    return o;
}

static json_t *jo_status(const mt_counters_t *c)
{
    json_t *o = json_object();
    char key[8];
    for (int s = 100; o != NULL && s < MT_STATUS_MAX; s++) {
        if (c->status[s] == 0)
            continue;
        snprintf(key, sizeof(key), "%d", s);
        json_object_set_new(o, key, jo_u64(c->status[s]));
    }
    if (o != NULL && c->status[0] > 0)
        json_object_set_new(o, "other", jo_u64(c->status[0]));
    return o;
}

/* Counters shared by the summary and each second, in the order the schema lists them. */
static void jo_counters(json_t *o, const mt_counters_t *c)
{
    json_object_set_new(o, "due", jo_u64(c->due));
    json_object_set_new(o, "sent", jo_u64(c->sent));
    json_object_set_new(o, "completed", jo_u64(c->completed));
    json_object_set_new(o, "errors", jo_u64(c->errors));
    json_object_set_new(o, "errors_by_kind", jo_err_kinds(c));
    json_object_set_new(o, "dropped", jo_u64(c->dropped));
    json_object_set_new(o, "late", jo_u64(c->late));
    json_object_set_new(o, "bytes_in", jo_u64(c->bytes_in));
    json_object_set_new(o, "bytes_out", jo_u64(c->bytes_out));
}

/* Encoded histogram as a JSON string; NULL (and *rc set) on failure. */
static json_t *jo_hist_string(const mt_hist_t *h, int *rc)
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

static json_t *jo_config(const mt__run_info_t *info)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "url", json_string(info->url));
    json_object_set_new(o, "method", json_string(info->method));
    json_object_set_new(o, "connections", json_integer(info->connections));
    json_object_set_new(o, "threads", json_integer(info->threads));
    json_object_set_new(o, "duration_s", jo_num((double)info->duration_ns / 1e9, 1e6));
    json_object_set_new(o, "model", json_string(info->open_model ? "open" : "closed"));
    if (info->open_model && info->schedule != NULL)
        json_object_set_new(o, "schedule", json_string(info->schedule));
    else if (info->open_model)
        json_object_set_new(o, "rate", jo_num(info->rate, 1e6));
    if (info->open_model)
        json_object_set_new(o, "planned_requests", jo_u64(info->planned));
    json_object_set_new(o, "timeout_s", jo_num((double)info->timeout_ns / 1e9, 1e6));
    if (info->max_queue > 0)
        json_object_set_new(o, "max_queue", jo_u64(info->max_queue));
    return o;
}

int mt__json_new(const mt__run_info_t *info, const char *path, mt__json_t **out, char *errbuf,
                 size_t errlen)
{
    mt__json_t *j = calloc(1, sizeof(*j));
    int rc = MT_ENOMEM;

    *out = NULL;
    if (j == NULL)
        goto out;
    j->root = json_object();
    j->seconds = json_array();
    if (j->root == NULL || j->seconds == NULL)
        goto out;
    json_object_set_new(j->root, "schema", json_string(JO_SCHEMA_ID));
    json_object_set_new(j->root, "mortar_version", json_string(MT_VERSION));
    json_object_set_new(j->root, "started_at", json_null()); /* set at the end */
    json_object_set_new(j->root, "config", jo_config(info));
    j->tags = info->tags;
    j->ntags = info->ntags;

    if (path == NULL)
        j->memory = true;
    else if (strcmp(path, "-") != 0) {
        size_t n = strlen(path) + 32;
        j->path = strdup(path);
        j->tmp_path = malloc(n);
        if (j->path == NULL || j->tmp_path == NULL)
            goto out;
        snprintf(j->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
        j->tmp = fopen(j->tmp_path, "w");
        if (j->tmp == NULL) {
            snprintf(errbuf, errlen, "--json: cannot create '%s': %s", j->tmp_path,
                     strerror(errno));
            free(j->tmp_path);
            j->tmp_path = NULL;
            rc = MT_ESYS;
            goto out;
        }
    }
    *out = j;
    j = NULL;
    rc = MT_OK;
out:
    if (rc == MT_ENOMEM)
        snprintf(errbuf, errlen, "--json: out of memory");
    mt__json_free(j);
    return rc;
}

/* Per-tag statistics: {"name": {counters, status, latency_us, service_us}}; NULL when the run
 * has no tags. which: JO_P_SECOND or JO_P_TOTAL. */
static json_t *jo_tags(const char *const *tags, size_t ntags, const mt_tag_stats_t *t, size_t n,
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
        json_object_set_new(x, "requests", jo_u64(t[i].c.completed));
        jo_counters(x, &t[i].c);
        json_object_set_new(x, "status", jo_status(&t[i].c));
        json_object_set_new(x, "latency_us", jo_pcts(t[i].latency, which));
        json_object_set_new(x, "service_us", jo_pcts(t[i].service, which));
        json_object_set_new(o, tags[i], x);
    }
    return o;
}

json_t *mt__json_second_object(const mt_second_t *s, const char *const *tags, size_t ntags)
{
    json_t *o = json_object(), *lag;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "t", json_integer(s->index));
    json_object_set_new(o, "span_s", jo_num((double)s->span_ns / 1e9, 1e6));
    jo_counters(o, &s->c);
    json_object_set_new(o, "open_connections", json_integer(s->open_conns));
    json_object_set_new(o, "backlog", jo_u64(s->backlog));
    lag = json_object();
    if (lag == NULL) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(
        lag, "mean",
        json_integer(s->c.sent > 0 ? llround((double)s->c.lag_sum_us / (double)s->c.sent) : 0));
    json_object_set_new(lag, "max", jo_u64(s->c.lag_max_us));
    json_object_set_new(o, "schedule_lag_us", lag);
    json_object_set_new(o, "status", jo_status(&s->c));
    json_object_set_new(o, "latency_us", jo_pcts(s->latency, JO_P_SECOND));
    json_object_set_new(o, "service_us", jo_pcts(s->service, JO_P_SECOND));
    if (s->ntags > 0)
        json_object_set_new(o, "tags", jo_tags(tags, ntags, s->tags, s->ntags, JO_P_SECOND));
    return o;
}

int mt__json_second(mt__json_t *j, const mt_second_t *s)
{
    json_t *o = mt__json_second_object(s, j->tags, j->ntags);
    int rc = MT_ENOMEM;

    if (o == NULL)
        goto out;
    {
        json_t *h = jo_hist_string(s->latency, &rc);
        if (h == NULL)
            goto out;
        json_object_set_new(o, "hist", h);
    }
    if (json_array_append_new(j->seconds, o) != 0) {
        o = NULL;
        rc = MT_ENOMEM;
        goto out;
    }
    o = NULL;
    rc = MT_OK;
out:
    json_decref(o);
    if (rc != MT_OK && j->err == MT_OK)
        j->err = rc;
    return rc;
}

static void jo_rfc3339(char *buf, size_t n, int64_t unix_ns)
{
    time_t secs = (time_t)(unix_ns / 1000000000LL);
    struct tm tm;
    char date[32];
    if (gmtime_r(&secs, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "1970-01-01T00:00:00");
    snprintf(buf, n, "%s.%03dZ", date, (int)(unix_ns / 1000000 % 1000));
}

static json_t *jo_summary(const mt_run_result_t *r, bool interrupted)
{
    const mt_counters_t *c = &r->c;
    double el = (double)r->elapsed_ns / 1e9;
    json_t *o = json_object(), *bd;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "requests", jo_u64(c->completed));
    json_object_set_new(o, "rps", jo_num(el > 0 ? (double)c->completed / el : 0, 1e3));
    json_object_set_new(o, "duration_s", jo_num(el, 1e6));
    jo_counters(o, c);
    json_object_set_new(o, "connects", jo_u64(c->connects));
    json_object_set_new(o, "latency_us", jo_pcts(r->latency, JO_P_TOTAL));
    json_object_set_new(o, "service_us", jo_pcts(r->service, JO_P_TOTAL));
    bd = json_object();
    if (bd != NULL) {
        json_object_set_new(bd, "connect", jo_pcts(r->connect, JO_P_BREAKDOWN));
        if (r->tls != NULL && mt_hist_count(r->tls) > 0)
            json_object_set_new(bd, "tls", jo_pcts(r->tls, JO_P_BREAKDOWN));
        json_object_set_new(bd, "send", jo_pcts(r->send, JO_P_BREAKDOWN));
        json_object_set_new(bd, "wait", jo_pcts(r->wait, JO_P_BREAKDOWN));
        json_object_set_new(bd, "receive", jo_pcts(r->recv, JO_P_BREAKDOWN));
    }
    json_object_set_new(o, "breakdown_us", bd);
    json_object_set_new(o, "status", jo_status(c));
    json_object_set_new(
        o, "mean_schedule_lag_us",
        json_integer(c->sent > 0 ? llround((double)c->lag_sum_us / (double)c->sent) : 0));
    json_object_set_new(o, "max_schedule_lag_us", jo_u64(c->lag_max_us));
    json_object_set_new(o, "max_open_connections", json_integer(r->max_open_conns));
    json_object_set_new(o, "interrupted", json_boolean(interrupted || r->stopped));
    /* HTTP/1 requests sent again after the keep-alive close race (HTTP/2's own: http2) */
    json_object_set_new(o, "retried", jo_u64(c->retried));
    if (c->tls_full || c->tls_resumed || r->tls_error[0]) {
        json_t *t = json_object();
        json_object_set_new(t, "handshakes_full", jo_u64(c->tls_full));
        json_object_set_new(t, "handshakes_resumed", jo_u64(c->tls_resumed));
        json_object_set_new(t, "error", r->tls_error[0] ? json_string(r->tls_error) : json_null());
        json_object_set_new(o, "tls", t);
    }
    if (c->h2_rst || c->h2_goaway || c->h2_retried) {
        json_t *h = json_object();
        json_object_set_new(h, "rst_streams", jo_u64(c->h2_rst));
        json_object_set_new(h, "goaways", jo_u64(c->h2_goaway));
        json_object_set_new(h, "retried", jo_u64(c->h2_retried));
        json_object_set_new(o, "http2", h);
    }
    return o;
}

json_t *mt__json_summary_object(const mt_run_result_t *r, bool interrupted, const char *const *tags,
                                size_t ntags)
{
    json_t *o = jo_summary(r, interrupted);
    if (o != NULL && r->ntags > 0 && tags != NULL)
        json_object_set_new(o, "tags", jo_tags(tags, ntags, r->tags, r->ntags, JO_P_TOTAL));
    return o;
}

int mt__json_finish(mt__json_t *j, const mt_run_result_t *r, bool interrupted, char *errbuf,
                    size_t errlen)
{
    char when[48];
    json_t *hists = NULL;
    const char *where = j->path != NULL ? j->path : "stdout";
    int rc = j->err;

    if (rc != MT_OK) {
        snprintf(errbuf, errlen, "--json: cannot record a second: %s", mt_strerror(rc));
        goto out;
    }
    jo_rfc3339(when, sizeof(when), r->start_unix_ns);
    json_object_set_new(j->root, "started_at", json_string(when));
    json_object_set_new(j->root, "summary", jo_summary(r, interrupted));
    if (r->ntags > 0) {
        json_t *sm = json_object_get(j->root, "summary");
        if (sm != NULL)
            json_object_set_new(sm, "tags",
                                jo_tags(j->tags, j->ntags, r->tags, r->ntags, JO_P_TOTAL));
    }
    json_object_set(j->root, "seconds", j->seconds);
    hists = json_object();
    if (hists == NULL) {
        rc = MT_ENOMEM;
        snprintf(errbuf, errlen, "--json: out of memory");
        goto out;
    }
    {
        json_t *lat = jo_hist_string(r->latency, &rc), *svc;
        if (lat == NULL)
            goto enc_fail;
        json_object_set_new(hists, "latency", lat);
        svc = jo_hist_string(r->service, &rc);
        if (svc == NULL)
            goto enc_fail;
        json_object_set_new(hists, "service", svc);
        if (r->ntags > 0 && j->tags != NULL) {
            json_t *th = json_object();
            if (th == NULL) {
                rc = MT_ENOMEM;
                goto enc_fail;
            }
            json_object_set_new(hists, "tags", th);
            for (size_t i = 0; i < r->ntags && i < j->ntags; i++) {
                json_t *h = jo_hist_string(r->tags[i].latency, &rc);
                if (h == NULL)
                    goto enc_fail;
                json_object_set_new(th, j->tags[i], h);
            }
        }
    }
    json_object_set(j->root, "histograms", hists);

    if (j->memory)
        goto out;
    if (j->path == NULL) {
        if (json_dumpf(j->root, stdout, JO_DUMP_FLAGS) != 0 || fputc('\n', stdout) == EOF ||
            fflush(stdout) != 0) {
            rc = MT_ESYS;
            snprintf(errbuf, errlen, "--json: cannot write to %s: %s", where, strerror(errno));
        }
        goto out;
    }

    errno = 0;
    if (json_dumpf(j->root, j->tmp, JO_DUMP_FLAGS) != 0 || fputc('\n', j->tmp) == EOF ||
        fflush(j->tmp) != 0 || fsync(fileno(j->tmp)) != 0) {
        rc = MT_ESYS;
        snprintf(errbuf, errlen, "--json: cannot write '%s': %s", j->tmp_path,
                 errno != 0 ? strerror(errno) : "write failed");
        goto out;
    }
    {
        FILE *f = j->tmp;
        j->tmp = NULL;
        if (fclose(f) != 0) {
            rc = MT_ESYS;
            snprintf(errbuf, errlen, "--json: cannot write '%s': %s", j->tmp_path, strerror(errno));
            goto out;
        }
    }
    if (rename(j->tmp_path, j->path) != 0) {
        rc = MT_ESYS;
        snprintf(errbuf, errlen, "--json: cannot rename '%s' to '%s': %s", j->tmp_path, j->path,
                 strerror(errno));
        goto out;
    }
    free(j->tmp_path); /* renamed: nothing left to remove */
    j->tmp_path = NULL;
    rc = MT_OK;
    goto out;

enc_fail:
    snprintf(errbuf, errlen, "--json: cannot encode a histogram: %s", mt_strerror(rc));
out:
    json_decref(hists);
    return rc;
}

char *mt__json_text(const mt__json_t *j, size_t *len)
{
    char *text = json_dumps(j->root, JO_DUMP_FLAGS);
    *len = text != NULL ? strlen(text) : 0;
    return text;
}

void mt__json_set(mt__json_t *j, const char *key, json_t *value)
{
    if (value == NULL) {
        if (j->err == MT_OK)
            j->err = MT_ENOMEM;
        return;
    }
    json_object_set_new(j->root, key, value);
}

void mt__json_free(mt__json_t *j)
{
    if (j == NULL)
        return;
    if (j->tmp != NULL)
        fclose(j->tmp);
    if (j->tmp_path != NULL)
        unlink(j->tmp_path);
    free(j->tmp_path);
    free(j->path);
    json_decref(j->seconds);
    json_decref(j->root);
    free(j);
}
