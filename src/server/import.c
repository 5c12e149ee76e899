/* POST /api/v1/runs/import (import.h, docs/import.md): the streamed body through mt_imp into
 * snapshots of the agent "import" on the bus; the aggregator does the rest. */
#include "server/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/import.h"
#include "server/log.h"
#include "server/snapshot.h"

#define IM_AGENT       "import"
#define IM_MAX_PENDING 256 /* bus messages queued before the parser waits (bounded memory) */

struct mt__import {
    mt__serve_t *sv;
    mt_imp_t *p;
    char test_id[40];
    char *config; /* the test's config JSON (its autostop and thresholds) */
    char file[128];
    char run_id[40];
    int live;
    int failed; /* the run could not be made or a snapshot not published */
    char why[256];
    int64_t last_tick_ns;
    json_t *creator; /* the caller's token: the run's "created_by" */
};

static int64_t im_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void im_nap(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void im_problem(mt__resp_t *r, int status, const char *slug, const char *title,
                       const char *detail, const char *run_id)
{
    char type[128];
    snprintf(type, sizeof type, "https://mortar.dev/problems/%s", slug);
    json_t *p = json_pack("{s:s,s:s,s:i,s:s,s:s}", "type", type, "title", title, "status", status,
                          "detail", detail, "instance", "/api/v1/runs/import");
    if (run_id && run_id[0])
        json_object_set_new(p, "run_id", json_string(run_id));
    r->status = status;
    r->ctype = "application/problem+json";
    r->body = json_dumps(p, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(p);
}

static json_t *im_source(mt__import_t *im)
{
    const mt_imp_stats_t *st = mt_imp_stats(im->p);
    json_t *ex = json_array();
    for (uint64_t i = 0; i < st->malformed && i < MT_IMP_EXAMPLES; i++)
        json_array_append_new(ex, json_string(st->examples[i]));
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:i,s:b}", "tool",
                          mt_imp_format_name(mt_imp_format(im->p)), "file", im->file, "records",
                          (json_int_t)st->records, "malformed", (json_int_t)st->malformed, "late",
                          (json_int_t)st->late, "ignored", (json_int_t)st->ignored, "seconds",
                          (int)st->seconds, "live", im->live);
    json_object_set_new(o, "malformed_examples", ex);
    static const char *const names[4] = {"connect", "send", "wait", "receive"};
    const mt_hist_t *h[4] = {st->connect, st->send, st->wait, st->recv};
    json_t *bd = json_object();
    for (int i = 0; i < 4; i++)
        if (h[i] != NULL && mt_hist_count(h[i]) > 0)
            json_object_set_new(bd, names[i],
                                json_pack("{s:f,s:I,s:I}", "mean_us", mt_hist_mean(h[i]), "p50_us",
                                          (json_int_t)mt_hist_value_at_percentile(h[i], 50),
                                          "p99_us",
                                          (json_int_t)mt_hist_value_at_percentile(h[i], 99)));
    json_object_set_new(o, "breakdown", bd);
    return o;
}

static int im_create(mt__import_t *im)
{
    json_t *src = im_source(im), *run = NULL;
    char *sj = json_dumps(src, JSON_COMPACT);
    json_decref(src);
    mt__store_t *st = im->sv->store;
    int rc = sj ? st->ops->run_import_begin(st, im->test_id, sj, im->creator, &run) : MT_ENOMEM;
    free(sj);
    if (rc != MT_OK) {
        snprintf(im->why, sizeof im->why, "the run could not be stored: %s", mt_strerror(rc));
        return rc;
    }
    snprintf(im->run_id, sizeof im->run_id, "%s",
             json_string_value(json_object_get(run, "id")) ?: "");
    char err[256] = "";
    rc = mt__agg_watch_import(im->sv->agg, im->run_id, im->config, err, sizeof err);
    if (rc != MT_OK) {
        snprintf(im->why, sizeof im->why, "the test's criteria: %.200s", err);
        mt__serve_finish(im->sv, im->run_id, "error", im->why, NULL);
        json_decref(run);
        return rc;
    }
    mt__sse_state(im->sv->live, im->run_id, run);
    mt__log(MT_LOG_INFO, "import started", "run", im->run_id, "file", im->file, "format",
            mt_imp_format_name(mt_imp_format(im->p)), NULL);
    json_decref(run);
    return MT_OK;
}

static int im_on_second(const mt_second_t *s, const char *const *tags, size_t ntags, void *ud)
{
    mt__import_t *im = ud;
    if (im->failed)
        return MT_ESYS;
    if (im->run_id[0] == '\0' && im_create(im) != MT_OK) {
        im->failed = 1;
        return MT_ESYS;
    }
    mt__snapshot_t snap;
    char *buf = NULL, subject[96], id[160];
    size_t len = 0;
    int rc = mt__snapshot_from_second(&snap, im->run_id, IM_AGENT, s, tags, ntags);
    if (rc == MT_OK)
        rc = mt__snapshot_encode(&snap, &buf, &len);
    if (rc == MT_OK) {
        snprintf(subject, sizeof subject, "mortar.runs.%s.second", im->run_id);
        snprintf(id, sizeof id, "%s.%s.%u", im->run_id, IM_AGENT, (unsigned)s->index);
        rc = mt__bus_publish_id(im->sv->bus, subject, id, buf, len);
    }
    free(buf);
    mt__snapshot_dispose(&snap);
    if (rc != MT_OK) {
        snprintf(im->why, sizeof im->why, "a second could not be published: %s", mt_strerror(rc));
        im->failed = 1;
        return rc;
    }
    /* the parser is faster than the store: wait while the bus holds many seconds */
    for (int i = 0; i < 30000 && mt__bus_pending(im->sv->bus) > IM_MAX_PENDING; i++)
        im_nap(1);
    return MT_OK;
}

static const char *im_q(const mt__req_t *q, const char *k)
{
    return q->query ? q->query(q->query_ctx, k) : NULL;
}

/* mt__import_begin once the caller is known: the import takes `creator` when it begins. */
static int im_begin(mt__serve_t *sv, const mt__req_t *q, mt__resp_t *r, json_t *creator,
                    mt__import_t **out)
{
    char detail[300];
    const char *test = im_q(q, "test"), *format = im_q(q, "format"), *strict = im_q(q, "strict"),
               *window = im_q(q, "window"), *file = im_q(q, "file"), *live = im_q(q, "live");
    mt_imp_opts_t o = {0};
    if (test == NULL || test[0] == '\0') {
        im_problem(r, 400, "bad-request", "Bad request",
                   "?test=NAME is required: the test the imported run belongs to", NULL);
        return -1;
    }
    if (format && format[0] && mt_imp_format_parse(format, &o.format) != MT_OK) {
        snprintf(detail, sizeof detail,
                 "format: '%.40s' is not one of auto, phout, jtl, jtl-csv, jtl-xml, k6", format);
        im_problem(r, 400, "bad-request", "Bad request", detail, NULL);
        return -1;
    }
    int is_live = live && (strcmp(live, "1") == 0 || strcmp(live, "true") == 0);
    o.strict = strict && (strcmp(strict, "1") == 0 || strcmp(strict, "true") == 0);
    o.window_s = is_live ? 1 : 0;
    if (window && window[0]) {
        char *end;
        long w = strtol(window, &end, 10);
        if (*end != '\0' || w < 1 || w > 3600) {
            snprintf(detail, sizeof detail, "window: '%.20s' is not a whole number in [1, 3600]",
                     window);
            im_problem(r, 400, "bad-request", "Bad request", detail, NULL);
            return -1;
        }
        o.window_s = (uint32_t)w;
    }
    const mt__store_ops_t *ops = sv->store->ops;
    if (ops->test_find == NULL || ops->run_import_begin == NULL || ops->run_import_source == NULL) {
        im_problem(r, 503, "unavailable", "Service unavailable",
                   "this server's store does not take imports", NULL);
        return -1;
    }
    json_t *t = NULL;
    int rc = ops->test_find(sv->store, test, &t);
    if (rc != MT_OK) {
        snprintf(detail, sizeof detail, "test '%.100s' %s", test,
                 rc == MT_ENOTFOUND ? "not found (create it first: POST /api/v1/tests)"
                                    : "could not be read");
        im_problem(r, rc == MT_ENOTFOUND ? 404 : 503,
                   rc == MT_ENOTFOUND ? "not-found" : "unavailable",
                   rc == MT_ENOTFOUND ? "Not found" : "Service unavailable", detail, NULL);
        return -1;
    }
    mt__import_t *im = calloc(1, sizeof *im);
    if (im == NULL) {
        json_decref(t);
        return -1;
    }
    im->sv = sv;
    im->live = is_live;
    snprintf(im->test_id, sizeof im->test_id, "%s",
             json_string_value(json_object_get(t, "id")) ?: "");
    im->config = json_dumps(json_object_get(t, "config"), JSON_COMPACT);
    json_decref(t);
    snprintf(im->file, sizeof im->file, "%s", file && file[0] ? file : "body");
    o.name = im->file;
    if (im->config == NULL || mt_imp_new(&o, im_on_second, im, &im->p) != MT_OK) {
        free(im->config);
        free(im);
        im_problem(r, 500, "internal", "Internal error", "out of memory", NULL);
        return -1;
    }
    im->creator = creator;
    *out = im;
    return MT_OK;
}

int mt__import_begin(mt__serve_t *sv, const mt__req_t *q, mt__resp_t *r, mt__import_t **out)
{
    json_t *creator = NULL;
    snprintf(r->route, sizeof r->route, "/api/v1/runs/import");
    if (mt__api_runner(sv, q, r, &creator) != 0) {
        snprintf(r->route, sizeof r->route, "/api/v1/runs/import");
        return -1;
    }
    snprintf(r->route, sizeof r->route, "/api/v1/runs/import");
    int rc = im_begin(sv, q, r, creator, out);
    if (rc != MT_OK)
        json_decref(creator);
    return rc;
}

void mt__import_feed(mt__import_t *im, const char *buf, size_t len)
{
    mt_imp_feed(im->p, buf, len);
    if (im->live) {
        int64_t now = im_wall_ns();
        if (now - im->last_tick_ns >= 100000000) {
            im->last_tick_ns = now;
            mt_imp_tick(im->p, now);
        }
    }
}

/* Publishes the run's end (the aggregator then ends it) and waits for its final state. */
static json_t *im_end_run(mt__import_t *im, const char *outcome, const char *reason)
{
    const mt_imp_stats_t *st = mt_imp_stats(im->p);
    json_t *src = im_source(im);
    char *sj = json_dumps(src, JSON_COMPACT);
    json_decref(src);
    int64_t start_ns = mt_imp_start_unix_ns(im->p);
    mt__store_t *s = im->sv->store;
    if (sj)
        s->ops->run_import_source(s, im->run_id, sj, start_ns / 1000000, st->seconds);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "run_id", im->run_id, "agent", IM_AGENT,
                          "outcome", outcome, "reason", reason, "seconds", (json_int_t)st->seconds,
                          "start_skew_us", (json_int_t)0);
    /* the file's timing breakdown, where the format has one: the run's summary.breakdown_us
     * (docs/aggregation.md), as an agent ships its own */
    mt_run_result_t res = {
        .connect = st->connect, .send = st->send, .wait = st->wait, .recv = st->recv};
    json_t *bd = o != NULL && (st->connect || st->send || st->wait || st->recv)
                     ? mt__breakdown_json(&res)
                     : NULL;
    if (bd != NULL)
        json_object_set_new(o, "breakdown", bd);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char subject[96], id[160];
    snprintf(subject, sizeof subject, "mortar.runs.%s.end", im->run_id);
    snprintf(id, sizeof id, "%s.%s.end", im->run_id, IM_AGENT);
    if (body == NULL || mt__bus_publish_id(im->sv->bus, subject, id, body, strlen(body)) != MT_OK)
        mt__serve_finish(im->sv, im->run_id, "error", "the import's end could not be published",
                         NULL);
    free(body);
    json_t *run = NULL;
    for (int i = 0; i < 1500; i++) { /* up to 30 s for the store to take every second */
        json_decref(run);
        run = NULL;
        if (s->ops->run_get(s, im->run_id, &run) != MT_OK)
            break;
        const char *state = json_string_value(json_object_get(run, "state"));
        if (state && strcmp(state, "running") != 0)
            break;
        im_nap(20);
    }
    /* ended_at follows the data too, now that the run has ended */
    if (sj && start_ns > 0) {
        s->ops->run_import_source(s, im->run_id, sj, start_ns / 1000000, st->seconds);
        json_decref(run);
        run = NULL;
        s->ops->run_get(s, im->run_id, &run);
    }
    free(sj);
    return run;
}

static void im_free(mt__import_t *im)
{
    mt_imp_free(im->p);
    free(im->config);
    json_decref(im->creator);
    free(im);
}

void mt__import_end(mt__import_t *im, mt__resp_t *r)
{
    int rc = mt_imp_finish(im->p);
    const mt_imp_stats_t *st = mt_imp_stats(im->p);
    snprintf(r->route, sizeof r->route, "/api/v1/runs/import");
    if (rc != MT_OK && !im->failed && im->run_id[0] == '\0') {
        im_problem(r, 422, "unprocessable", "Unprocessable content", mt_imp_error(im->p), NULL);
        im_free(im);
        return;
    }
    if (im->failed && im->run_id[0] == '\0') {
        im_problem(r, 503, "unavailable", "Service unavailable", im->why, NULL);
        im_free(im);
        return;
    }
    if (im->run_id[0] == '\0') {
        char d[300];
        snprintf(d, sizeof d, "%s: no request records (%llu lines, %llu malformed)", im->file,
                 (unsigned long long)st->lines, (unsigned long long)st->malformed);
        im_problem(r, 422, "unprocessable", "Unprocessable content",
                   st->malformed ? st->examples[0] : d, NULL);
        im_free(im);
        return;
    }
    const char *why = im->failed ? im->why : rc != MT_OK ? mt_imp_error(im->p) : "completed";
    json_t *run = im_end_run(im, rc == MT_OK && !im->failed ? "completed" : "error", why);
    if (rc != MT_OK || im->failed) {
        im_problem(r, im->failed ? 503 : 422, im->failed ? "unavailable" : "unprocessable",
                   im->failed ? "Service unavailable" : "Unprocessable content", why, im->run_id);
    } else {
        json_t *src = im_source(im);
        json_t *o = json_pack("{s:o,s:o}", "run", run ? run : json_null(), "import", src);
        run = NULL;
        r->status = 201;
        r->ctype = "application/json";
        r->body = json_dumps(o, JSON_COMPACT);
        r->len = r->body ? strlen(r->body) : 0;
        json_decref(o);
        mt__log(MT_LOG_INFO, "import ended", "run", im->run_id, "file", im->file, NULL);
    }
    json_decref(run);
    im_free(im);
}

void mt__import_abort(mt__import_t *im)
{
    if (im->run_id[0] != '\0' && !im->failed) {
        mt_imp_finish(im->p);
        json_decref(im_end_run(im, "error", "the upload was cut off before its end"));
    }
    im_free(im);
}
