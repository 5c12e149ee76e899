/* OTLP/HTTP JSON export of a run's seconds (otlp.h; the mapping of each metric is in
 * docs/tracing.md). */
#include "result/otlp.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "mortar/engine.h"
#include "mortar/error.h"

#define OTLP_TIMEOUT_MS 5000
#define OTLP_TRIES      4 /* the first and three retries: 0.25, 0.5, 1 s later */

/* latency histogram bounds, us (exported in seconds) */
static const int64_t otlp_bounds[] = {100,     250,     500,     1000,    2500,   5000,
                                      10000,   25000,   50000,   100000,  250000, 500000,
                                      1000000, 2500000, 5000000, 10000000};
#define OTLP_NBOUNDS (sizeof otlp_bounds / sizeof otlp_bounds[0])

typedef struct otlp_item {
    json_t *metrics; /* this second's metrics (an array) */
    size_t nsec;     /* 1 */
} otlp_item_t;

struct mt__otlp {
    char *url;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    otlp_item_t *q; /* ring of MT__OTLP_QUEUE */
    size_t qhead, qlen;
    bool stop;
    int64_t deadline_ns; /* once stopping: give up sending after this (monotonic) */
    mt__otlp_stats_t st;
};

static pthread_once_t otlp_curl_once = PTHREAD_ONCE_INIT;
static void otlp_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t otlp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the document ------------------------------------------------------------------------ */

static json_t *otlp_str(uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return json_string(b);
}

static json_t *otlp_attr_s(const char *key, const char *v)
{
    return json_pack("{s:s, s:{s:s}}", "key", key, "value", "stringValue", v);
}

static json_t *otlp_attr_i(const char *key, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return json_pack("{s:s, s:{s:s}}", "key", key, "value", "intValue", b);
}

/* the attributes every point carries */
static json_t *otlp_attrs(const char *run_id, const char *test)
{
    json_t *a = json_array();
    if (a != NULL && run_id != NULL)
        json_array_append_new(a, otlp_attr_s("mortar.run_id", run_id));
    if (a != NULL && test != NULL)
        json_array_append_new(a, otlp_attr_s("mortar.test", test));
    return a;
}

static json_t *otlp_point(const json_t *attrs, json_t *extra, uint64_t t0, uint64_t t1)
{
    json_t *p = json_object();
    if (p == NULL)
        return NULL;
    json_t *a = json_deep_copy(attrs);
    if (extra != NULL)
        json_array_append_new(a, extra);
    json_object_set_new(p, "attributes", a);
    json_object_set_new(p, "startTimeUnixNano", otlp_str(t0));
    json_object_set_new(p, "timeUnixNano", otlp_str(t1));
    return p;
}

static json_t *otlp_metric(const char *name, const char *desc, const char *unit, const char *kind,
                           json_t *points)
{
    json_t *m = json_pack("{s:s, s:s, s:s}", "name", name, "description", desc, "unit", unit);
    json_t *d = json_object();
    if (m == NULL || d == NULL) {
        json_decref(m);
        json_decref(d);
        json_decref(points);
        return NULL;
    }
    json_object_set_new(d, "dataPoints", points);
    if (strcmp(kind, "sum") == 0) {
        json_object_set_new(d, "aggregationTemporality", json_integer(1)); /* DELTA */
        json_object_set_new(d, "isMonotonic", json_true());
    } else if (strcmp(kind, "histogram") == 0) {
        json_object_set_new(d, "aggregationTemporality", json_integer(1));
    }
    json_object_set_new(m, kind, d);
    return m;
}

static uint64_t otlp_u64(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static json_t *otlp_sum1(const json_t *attrs, uint64_t t0, uint64_t t1, uint64_t v)
{
    json_t *pts = json_array(), *p = otlp_point(attrs, NULL, t0, t1);
    json_object_set_new(p, "asInt", otlp_str(v));
    json_array_append_new(pts, p);
    return pts;
}

/* the metrics of one second (an array) */
static json_t *otlp_metrics(const char *run_id, const char *test, int64_t start_unix_ns,
                            const json_t *sec, const mt_hist_t *latency)
{
    json_t *ms = json_array(), *attrs = otlp_attrs(run_id, test), *pts, *p;
    if (ms == NULL || attrs == NULL) {
        json_decref(ms);
        json_decref(attrs);
        return NULL;
    }
    uint64_t t = otlp_u64(sec, "t");
    double span = json_number_value(json_object_get(sec, "span_s"));
    uint64_t t0 = (uint64_t)start_unix_ns + t * 1000000000ULL;
    uint64_t t1 = t0 + (uint64_t)(span > 0 ? span * 1e9 : 0);
    uint64_t completed = otlp_u64(sec, "completed");

    json_array_append_new(ms, otlp_metric("mortar.requests", "responses received", "{request}",
                                          "sum", otlp_sum1(attrs, t0, t1, completed)));
    json_array_append_new(ms, otlp_metric("mortar.requests.sent", "requests sent", "{request}",
                                          "sum", otlp_sum1(attrs, t0, t1, otlp_u64(sec, "sent"))));
    /* the generator's own CPU in the second (docs/measurement.md); none in older documents */
    uint64_t cpu = otlp_u64(json_object_get(sec, "generator"), "cpu_us");
    if (cpu > 0)
        json_array_append_new(ms, otlp_metric("mortar.generator.cpu.time",
                                              "CPU time of mortar's worker threads", "us", "sum",
                                              otlp_sum1(attrs, t0, t1, cpu)));
    pts = json_array();
    p = otlp_point(attrs, NULL, t0, t1);
    json_object_set_new(p, "asDouble", json_real(span > 0 ? (double)completed / span : 0));
    json_array_append_new(pts, p);
    json_array_append_new(
        ms, otlp_metric("mortar.rps", "responses per second", "{request}/s", "gauge", pts));

    /* errors by kind: one point per kind seen (none: one point of 0) */
    pts = json_array();
    const json_t *ek = json_object_get(sec, "errors_by_kind");
    const char *kind;
    const json_t *v;
    json_object_foreach((json_t *)ek, kind, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            continue;
        p = otlp_point(attrs, otlp_attr_s("error.type", kind), t0, t1);
        json_object_set_new(p, "asInt", otlp_str((uint64_t)json_integer_value(v)));
        json_array_append_new(pts, p);
    }
    if (json_array_size(pts) == 0) {
        p = otlp_point(attrs, NULL, t0, t1);
        json_object_set_new(p, "asInt", otlp_str(0));
        json_array_append_new(pts, p);
    }
    json_array_append_new(ms, otlp_metric("mortar.errors",
                                          "requests failed without a response, by kind",
                                          "{request}", "sum", pts));

    /* responses by status code */
    pts = json_array();
    json_object_foreach((json_t *)json_object_get(sec, "status"), kind, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            continue;
        char *end;
        long code = strtol(kind, &end, 10);
        p = otlp_point(attrs,
                       *end == '\0' ? otlp_attr_i("http.response.status_code", code)
                                    : otlp_attr_s("http.response.status_code", kind),
                       t0, t1);
        json_object_set_new(p, "asInt", otlp_str((uint64_t)json_integer_value(v)));
        json_array_append_new(pts, p);
    }
    json_array_append_new(
        ms, otlp_metric("mortar.responses", "responses by status code", "{response}", "sum", pts));

    /* latency: a histogram when the second's histogram is at hand, else a summary */
    pts = json_array();
    if (latency != NULL) {
        uint64_t counts[OTLP_NBOUNDS + 1];
        json_t *bc = json_array(), *eb = json_array();
        mt_hist_bucketize(latency, otlp_bounds, OTLP_NBOUNDS, counts);
        for (size_t i = 0; i <= OTLP_NBOUNDS; i++)
            json_array_append_new(bc, otlp_str(counts[i]));
        for (size_t i = 0; i < OTLP_NBOUNDS; i++)
            json_array_append_new(eb, json_real((double)otlp_bounds[i] / 1e6));
        uint64_t n = mt_hist_count(latency);
        p = otlp_point(attrs, NULL, t0, t1);
        json_object_set_new(p, "count", otlp_str(n));
        json_object_set_new(p, "sum", json_real(mt_hist_mean(latency) * (double)n / 1e6));
        if (n > 0) {
            json_object_set_new(p, "min", json_real((double)mt_hist_min(latency) / 1e6));
            json_object_set_new(p, "max", json_real((double)mt_hist_max(latency) / 1e6));
        }
        json_object_set_new(p, "bucketCounts", bc);
        json_object_set_new(p, "explicitBounds", eb);
        json_array_append_new(pts, p);
        json_array_append_new(ms, otlp_metric("mortar.latency",
                                              "latency (open model: from the due time)", "s",
                                              "histogram", pts));
    } else {
        static const struct {
            const char *key;
            double q;
        } qs[] = {{"p50", 0.5},  {"p90", 0.9},    {"p95", 0.95},
                  {"p99", 0.99}, {"p999", 0.999}, {"max", 1.0}};
        const json_t *lat = json_object_get(sec, "latency_us");
        json_t *qv = json_array();
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            const json_t *x = json_object_get(lat, qs[i].key);
            if (json_is_number(x))
                json_array_append_new(qv, json_pack("{s:f, s:f}", "quantile", qs[i].q, "value",
                                                    json_number_value(x) / 1e6));
        }
        p = otlp_point(attrs, NULL, t0, t1);
        json_object_set_new(p, "count", otlp_str(completed));
        json_object_set_new(p, "sum", json_real(0)); /* not kept per second without a histogram */
        json_object_set_new(p, "quantileValues", qv);
        json_array_append_new(pts, p);
        json_array_append_new(ms, otlp_metric("mortar.latency",
                                              "latency (open model: from the due time)", "s",
                                              "summary", pts));
    }
    json_decref(attrs);
    for (size_t i = 0; i < json_array_size(ms); i++)
        if (!json_is_object(json_array_get(ms, i))) {
            json_decref(ms);
            return NULL;
        }
    return ms;
}

/* ExportMetricsServiceRequest of a list of metrics (stolen) */
static json_t *otlp_doc(json_t *metrics)
{
    return json_pack("{s:[{s:{s:[o]}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceMetrics", "resource",
                     "attributes", otlp_attr_s("service.name", "mortar"), "scopeMetrics", "scope",
                     "name", "mortar", "version", MT_VERSION, "metrics", metrics);
}

json_t *mt__otlp_second_json(const char *run_id, const char *test, int64_t start_unix_ns,
                             const json_t *sec, const mt_hist_t *latency)
{
    json_t *ms = otlp_metrics(run_id, test, start_unix_ns, sec, latency);
    return ms != NULL ? otlp_doc(ms) : NULL;
}

/* ---- the sender ------------------------------------------------------------------------- */

static size_t otlp_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

/* 0: accepted; 1: retry (network, 429, 5xx); -1: refused for good */
static int otlp_post(mt__otlp_t *x, const char *body, size_t len, long timeout_ms)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long code = 0;
    int rc = 1;
    if (c == NULL || h == NULL)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, x->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, otlp_discard);
    if (curl_easy_perform(c) != CURLE_OK)
        goto out;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    rc = code >= 200 && code < 300 ? 0 : (code == 429 || code >= 500) ? 1 : -1;
out:
    curl_slist_free_all(h);
    if (c != NULL)
        curl_easy_cleanup(c);
    return rc;
}

static void *otlp_main(void *ud)
{
    mt__otlp_t *x = ud;
    otlp_item_t batch[MT__OTLP_BATCH];
    for (;;) {
        pthread_mutex_lock(&x->mu);
        while (!x->stop && x->qlen == 0)
            pthread_cond_wait(&x->cv, &x->mu);
        if (x->qlen == 0) {
            pthread_mutex_unlock(&x->mu);
            break;
        }
        size_t n = 0;
        while (n < MT__OTLP_BATCH && x->qlen > 0) {
            batch[n++] = x->q[x->qhead];
            x->qhead = (x->qhead + 1) % MT__OTLP_QUEUE;
            x->qlen--;
        }
        x->st.requests++;
        pthread_mutex_unlock(&x->mu);

        json_t *all = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_extend(all, batch[i].metrics);
            json_decref(batch[i].metrics);
        }
        json_t *doc = otlp_doc(all);
        char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        int rc = body != NULL ? 1 : -1;
        for (int tries = 0; body != NULL && tries < OTLP_TRIES; tries++) {
            long tmo = OTLP_TIMEOUT_MS;
            pthread_mutex_lock(&x->mu);
            bool stopping = x->stop;
            int64_t left = x->deadline_ns - otlp_now();
            pthread_mutex_unlock(&x->mu);
            if (stopping) {
                if (left <= 0)
                    break;
                if (left / 1000000 < tmo)
                    tmo = (long)(left / 1000000) + 1;
            }
            if (tries > 0) {
                pthread_mutex_lock(&x->mu);
                x->st.retries++;
                pthread_mutex_unlock(&x->mu);
                struct timespec ts = {0, 250000000L << (tries - 1)};
                if (ts.tv_nsec >= 1000000000L)
                    ts = (struct timespec){1, 0};
                nanosleep(&ts, NULL);
            }
            rc = otlp_post(x, body, strlen(body), tmo);
            if (rc <= 0)
                break;
        }
        free(body);
        pthread_mutex_lock(&x->mu);
        if (rc == 0)
            x->st.exported += n;
        else
            x->st.failed += n;
        pthread_mutex_unlock(&x->mu);
    }
    return NULL;
}

int mt__otlp_new(const char *url, mt__otlp_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strchr(url + 8, ' ') != NULL || strlen(url) > 2000) {
        snprintf(err, errlen, "--otlp: expected an http:// or https:// URL");
        return MT_EINVAL;
    }
    pthread_once(&otlp_curl_once, otlp_curl_init);
    mt__otlp_t *x = calloc(1, sizeof *x);
    size_t ul = strlen(url);
    const char *suffix = "/v1/metrics";
    bool has = ul >= strlen(suffix) && strcmp(url + ul - strlen(suffix), suffix) == 0;
    if (x == NULL || (x->q = calloc(MT__OTLP_QUEUE, sizeof *x->q)) == NULL ||
        (x->url = malloc(ul + strlen(suffix) + 1)) == NULL) {
        if (x != NULL)
            free(x->q);
        free(x);
        snprintf(err, errlen, "out of memory");
        return MT_ENOMEM;
    }
    snprintf(x->url, ul + strlen(suffix) + 1, "%.*s%s", (int)(ul - (url[ul - 1] == '/' && !has)),
             url, has ? "" : suffix);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    if (pthread_create(&x->thread, NULL, otlp_main, x) != 0) {
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv);
        free(x->url);
        free(x->q);
        free(x);
        snprintf(err, errlen, "--otlp: cannot start the exporter thread");
        return MT_ESYS;
    }
    *out = x;
    return MT_OK;
}

void mt__otlp_push(mt__otlp_t *x, const char *run_id, const char *test, int64_t start_unix_ns,
                   const json_t *sec, const mt_hist_t *latency)
{
    json_t *ms = otlp_metrics(run_id, test, start_unix_ns, sec, latency);
    pthread_mutex_lock(&x->mu);
    if (ms == NULL) {
        x->st.dropped++;
    } else {
        if (x->qlen == MT__OTLP_QUEUE) { /* full: the oldest second goes */
            json_decref(x->q[x->qhead].metrics);
            x->qhead = (x->qhead + 1) % MT__OTLP_QUEUE;
            x->qlen--;
            x->st.dropped++;
        }
        x->q[(x->qhead + x->qlen) % MT__OTLP_QUEUE] = (otlp_item_t){.metrics = ms, .nsec = 1};
        x->qlen++;
        pthread_cond_signal(&x->cv);
    }
    pthread_mutex_unlock(&x->mu);
}

void mt__otlp_stats(mt__otlp_t *x, mt__otlp_stats_t *out)
{
    pthread_mutex_lock(&x->mu);
    *out = x->st;
    pthread_mutex_unlock(&x->mu);
}

void mt__otlp_free(mt__otlp_t *x, int wait_ms, mt__otlp_stats_t *last)
{
    if (x == NULL)
        return;
    pthread_mutex_lock(&x->mu);
    x->stop = true;
    x->deadline_ns = otlp_now() + (int64_t)wait_ms * 1000000LL;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    pthread_join(x->thread, NULL);
    if (last != NULL)
        *last = x->st;
    for (size_t i = 0; i < x->qlen; i++)
        json_decref(x->q[(x->qhead + i) % MT__OTLP_QUEUE].metrics);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    free(x->q);
    free(x->url);
    free(x);
}
