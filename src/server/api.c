/* The REST API of `mortar serve` (docs/api.md): routing, auth, problem details, idempotency,
 * pagination, and the handlers over the store and the analysis. No HTTP library here: the
 * glue in cmd_serve.c turns a libmicrohttpd request into an mt__req_t and sends the
 * mt__resp_t back, so this file is reachable from tests without sockets. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/report.h"
#include "mortar/error.h"
#include "mortar/hist.h"
#include "server/analysis.h"
#include "server/cron.h"
#include "server/log.h"
#include "server/cache.h"
#include "server/placement.h"
#include "server/serve.h"
#include "server/serve_embed.h"

enum { ROLE_NONE, ROLE_VIEWER, ROLE_RUNNER, ROLE_ADMIN };

typedef struct api_ctx {
    mt__serve_t *sv;
    mt_store_t *st;
    const mt__req_t *req;
    mt__resp_t *resp;
    char token_id[40];
    int role;
    const char *seg[8];
    size_t nseg;
    char path_copy[512];
} api_ctx_t;

/* ---- responses ------------------------------------------------------------------------- */

static void api_set(mt__resp_t *r, int status, const char *ctype, char *body, size_t len)
{
    free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->body = body;
    r->len = len;
}

static void api_json(api_ctx_t *c, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (s == NULL) {
        api_set(c->resp, 500, "text/plain", strdup("out of memory"), 13);
        return;
    }
    api_set(c->resp, status, "application/json", s, strlen(s));
}

static const char *api_title(int status)
{
    switch (status) {
    case 400:
        return "Bad request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload too large";
    case 422:
        return "Unprocessable content";
    case 503:
        return "Service unavailable";
    default:
        return "Internal server error";
    }
}

/* An RFC 9457 problem; pointer non-NULL adds "errors":[{"pointer","detail"}]. */
__attribute__((format(printf, 5, 6))) static void
api_problem(api_ctx_t *c, int status, const char *slug, const char *pointer, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char type[128];
    snprintf(type, sizeof type, "https://mortar.dev/problems/%s", slug);
    json_t *p = json_pack("{s:s,s:s,s:i,s:s,s:s}", "type", type, "title", api_title(status),
                          "status", status, "detail", detail, "instance", c->req->path);
    if (pointer)
        json_object_set_new(p, "errors",
                            json_pack("[{s:s,s:s}]", "pointer", pointer, "detail", detail));
    char *s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    api_set(c->resp, status, "application/problem+json", s, s ? strlen(s) : 0);
}

static void api_store_err(api_ctx_t *c, int rc, const char *what)
{
    if (rc == MT_ENOTFOUND)
        api_problem(c, 404, "not-found", NULL, "%s not found", what);
    else if (rc == MT_ECONFLICT)
        api_problem(c, 409, "conflict", NULL, "%s: conflict", what);
    else
        api_problem(c, 500, "internal", NULL, "the store failed (%s)", mt_strerror(rc));
}

/* ---- auth ------------------------------------------------------------------------------ */

static int api_role_of(const char *r)
{
    if (strcmp(r, "admin") == 0)
        return ROLE_ADMIN;
    if (strcmp(r, "runner") == 0)
        return ROLE_RUNNER;
    if (strcmp(r, "viewer") == 0)
        return ROLE_VIEWER;
    return ROLE_NONE;
}

static const char *api_role_name(int r)
{
    return r == ROLE_ADMIN ? "admin" : r == ROLE_RUNNER ? "runner" : "viewer";
}

/* 0 when the caller has at least role `need`; else the problem is set. */
static int api_auth(api_ctx_t *c, int need)
{
    if (c->role == ROLE_NONE) {
        const char *a = c->req->authorization;
        if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0 || a[7] == '\0') {
            api_problem(c, 401, "unauthorized", NULL,
                        "an Authorization: Bearer <token> header is required");
            return -1;
        }
        char hash[65], role[16];
        mt__sha256_hex(a + 7, strlen(a + 7), hash);
        int rc = c->st->ops->token_lookup(c->st, hash, c->token_id, role);
        if (rc == MT_ENOTFOUND) {
            api_problem(c, 401, "unauthorized", NULL, "unknown token");
            return -1;
        }
        if (rc != MT_OK) {
            api_store_err(c, rc, "token");
            return -1;
        }
        c->role = api_role_of(role);
    }
    if (c->role < need) {
        api_problem(c, 403, "forbidden", NULL, "this needs the %s role; the token is %s",
                    api_role_name(need), api_role_name(c->role));
        return -1;
    }
    return 0;
}

/* ---- request helpers -------------------------------------------------------------------- */

static const char *api_q(api_ctx_t *c, const char *k)
{
    return c->req->query ? c->req->query(c->req->query_ctx, k) : NULL;
}

/* An integer query parameter in [lo, hi] (dflt when absent); -1 with the problem set. */
static int api_qint(api_ctx_t *c, const char *k, long long lo, long long hi, long long dflt,
                    long long *out)
{
    const char *v = api_q(c, k);
    if (v == NULL || *v == '\0') {
        *out = dflt;
        return 0;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end != '\0' || x < lo || x > hi) {
        char p[64];
        snprintf(p, sizeof p, "?%s", k);
        api_problem(c, 422, "validation", p, "'%s' must be a whole number in [%lld, %lld]", k, lo,
                    hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int api_page(api_ctx_t *c, mt_store_page_t *pg)
{
    long long lim;
    if (api_qint(c, "limit", 1, 500, 50, &lim))
        return -1;
    pg->limit = (size_t)lim;
    pg->cursor = api_q(c, "cursor");
    if (pg->cursor && *pg->cursor == '\0')
        pg->cursor = NULL;
    return 0;
}

typedef json_t *(*api_body_fn)(const char *, size_t, char *, char *, size_t);

static json_t *api_body(api_ctx_t *c, api_body_fn fn)
{
    char pointer[256] = "", detail[512] = "";
    json_t *o = fn(c->req->body, c->req->body_len, pointer, detail, sizeof pointer);
    if (o == NULL)
        api_problem(c, 422, "validation", pointer, "%s", detail);
    return o;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void api_tests(api_ctx_t *c, const char *m)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        mt_store_page_t pg;
        if (api_auth(c, ROLE_VIEWER) || api_page(c, &pg))
            return;
        rc = s->ops->test_list(s, &pg, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "tests");
        return;
    }
    if (api_auth(c, ROLE_RUNNER))
        return;
    json_t *b = api_body(c, mt__body_test);
    if (b == NULL)
        return;
    rc = s->ops->test_create(s, b, &out);
    if (rc == MT_ECONFLICT)
        api_problem(c, 409, "conflict", "/name", "a test named '%s' exists",
                    json_string_value(json_object_get(b, "name")));
    else if (rc == MT_OK)
        api_json(c, 201, out);
    else
        api_store_err(c, rc, "test");
    json_decref(b);
}

static void api_test(api_ctx_t *c, const char *m, const char *id)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        if (api_auth(c, ROLE_VIEWER))
            return;
        rc = s->ops->test_get(s, id, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "test");
    } else if (strcmp(m, "PUT") == 0) {
        if (api_auth(c, ROLE_RUNNER))
            return;
        json_t *b = api_body(c, mt__body_test);
        if (b == NULL)
            return;
        rc = s->ops->test_update(s, id, b, &out);
        if (rc == MT_ECONFLICT)
            api_problem(c, 409, "conflict", "/name", "a test named '%s' exists",
                        json_string_value(json_object_get(b, "name")));
        else
            rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "test");
        json_decref(b);
    } else {
        if (api_auth(c, ROLE_ADMIN))
            return;
        rc = s->ops->test_delete(s, id);
        if (rc == MT_OK)
            api_set(c->resp, 204, "application/json", NULL, 0);
        else
            api_store_err(c, rc, "test");
    }
}

static void api_test_sub(api_ctx_t *c, const char *m, const char *id, const char *sub)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(sub, "versions") == 0) {
        if (api_auth(c, ROLE_VIEWER))
            return;
        rc = s->ops->test_versions(s, id, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "test");
    } else if (strcmp(sub, "trend") == 0) {
        long long lim;
        if (api_auth(c, ROLE_VIEWER) || api_qint(c, "limit", 1, 500, 50, &lim))
            return;
        rc = s->ops->test_trend(s, id, (size_t)lim, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "test");
    } else { /* baseline */
        if (api_auth(c, ROLE_RUNNER))
            return;
        json_t *b = api_body(c, mt__body_baseline);
        if (b == NULL)
            return;
        char err[256] = "";
        rc = s->ops->test_set_baseline(s, id, json_string_value(json_object_get(b, "run_id")), &out,
                                       err, sizeof err);
        if (rc == MT_EINVAL)
            api_problem(c, 422, "validation", "/run_id", "%s", err);
        else
            rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "test");
        json_decref(b);
    }
}

/* ---- runs ------------------------------------------------------------------------------- */

static const char *const api_states[] = {"queued",  "running",     "passed", "failed",
                                         "stopped", "interrupted", "error",  NULL};

static void api_runs(api_ctx_t *c, const char *m)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        mt_store_page_t pg;
        if (api_auth(c, ROLE_VIEWER) || api_page(c, &pg))
            return;
        const char *state = api_q(c, "state"), *test = api_q(c, "test");
        if (state) {
            int ok = 0;
            for (const char *const *p = api_states; *p; p++)
                ok |= strcmp(*p, state) == 0;
            if (!ok) {
                api_problem(c, 422, "validation", "?state",
                            "'state' must be one of queued, running, passed, failed, stopped, "
                            "interrupted, error");
                return;
            }
        }
        rc = s->ops->run_list(s, state, test, &pg, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "runs");
        return;
    }
    if (api_auth(c, ROLE_RUNNER))
        return;
    json_t *b = api_body(c, mt__body_run);
    if (b == NULL)
        return;
    const char *test = json_string_value(json_object_get(b, "test"));
    rc = s->ops->run_create(s, test, json_object_get(b, "config"), json_object_get(b, "labels"),
                            NULL, &out);
    if (rc == MT_ENOTFOUND)
        api_problem(c, 422, "validation", "/test", "test %s does not exist", test);
    else if (rc == MT_OK) {
        mt_log(MT_LOG_INFO, "run queued", "run", json_string_value(json_object_get(out, "id")),
               "test", test, NULL);
        api_json(c, 201, out);
        mt__serve_wake(c->sv);
    } else
        api_store_err(c, rc, "run");
    json_decref(b);
}

static void api_run_stop(api_ctx_t *c, const char *id)
{
    if (api_auth(c, ROLE_RUNNER))
        return;
    json_t *out = NULL;
    int rc = mt__serve_stop_run(c->sv, id, "stopped by API", &out);
    if (rc == MT_ECONFLICT)
        api_problem(c, 409, "conflict", NULL, "run %s has already finished", id);
    else
        rc == MT_OK ? api_json(c, 202, out) : api_store_err(c, rc, "run");
}

/* The window of ?from=&to= (second numbers, inclusive). */
static int api_window(api_ctx_t *c, int64_t *from, int64_t *to)
{
    long long f, t;
    if (api_qint(c, "from", 0, 100000000, 0, &f) || api_qint(c, "to", 0, 100000000, 100000000, &t))
        return -1;
    *from = f;
    *to = t;
    return 0;
}

static void api_series(api_ctx_t *c, const char *id)
{
    int64_t from, to;
    if (api_window(c, &from, &to))
        return;
    char *body = NULL;
    size_t len = 0;
    int rc = c->st->ops->run_series(c->st, id, api_q(c, "tag"), from, to, &body, &len);
    if (rc != MT_OK) {
        api_store_err(c, rc, "run");
        return;
    }
    api_set(c->resp, 200, "application/json", body, len);
}

/* Summary of a run's window (tag NULL: every row, with "tags"). */
static json_t *api_summary_of(api_ctx_t *c, const char *id, const char *tag, int64_t from,
                              int64_t to)
{
    mt_store_rows_t rows;
    int rc = c->st->ops->run_rows(c->st, id, tag, from, to, &rows);
    if (rc != MT_OK) {
        api_store_err(c, rc, "run");
        return NULL;
    }
    char err[256] = "";
    json_t *sum = mt_analysis_summary(rows.rows, rows.n, err, sizeof err);
    mt_store_rows_dispose(&rows);
    if (sum == NULL)
        api_problem(c, 500, "internal", NULL, "run %s: stored data is corrupt: %s", id, err);
    return sum;
}

static void api_summary(api_ctx_t *c, const char *id, const json_t *run)
{
    int64_t from, to;
    if (api_window(c, &from, &to))
        return;
    json_t *sum = api_summary_of(c, id, api_q(c, "tag"), from, to);
    if (sum == NULL)
        return;
    json_object_set(sum, "verdicts", json_object_get(run, "verdicts"));
    api_json(c, 200, sum);
}

static void api_compare(api_ctx_t *c, const char *id, const json_t *run)
{
    const char *with = api_q(c, "with");
    if (with == NULL || *with == '\0')
        with = "baseline";
    const char *test_id = json_string_value(json_object_get(run, "test_id"));
    json_t *test = NULL;
    if (test_id)
        c->st->ops->test_get(c->st, test_id, &test);
    char base_id[64];
    if (strcmp(with, "baseline") == 0) {
        const char *b = json_string_value(json_object_get(test, "baseline_run_id"));
        if (b == NULL) {
            json_decref(test);
            api_problem(c, 409, "conflict", NULL,
                        "run %s has no baseline to compare with (its test has none: PUT "
                        "/api/v1/tests/{id}/baseline, or use ?with=<run id>)",
                        id);
            return;
        }
        snprintf(base_id, sizeof base_id, "%s", b);
    } else {
        snprintf(base_id, sizeof base_id, "%s", with);
        json_t *br = NULL;
        int rc = c->st->ops->run_get(c->st, base_id, &br);
        json_decref(br);
        if (rc != MT_OK) {
            json_decref(test);
            if (rc == MT_ENOTFOUND)
                api_problem(c, 422, "validation", "?with", "run %s does not exist", base_id);
            else
                api_store_err(c, rc, "run");
            return;
        }
    }
    json_t *a = api_summary_of(c, id, NULL, 0, 100000000);
    json_t *b = a ? api_summary_of(c, base_id, NULL, 0, 100000000) : NULL;
    if (a && b) {
        json_t *tol = json_object_get(test, "tolerances");
        json_t *cmp = mt_analysis_compare(a, b, tol ? tol : json_object());
        if (cmp == NULL) {
            api_problem(c, 500, "internal", NULL, "the comparison failed");
        } else {
            json_object_set_new(cmp, "run", json_string(id));
            json_object_set_new(cmp, "base", json_string(base_id));
            api_json(c, 200, cmp);
        }
    }
    json_decref(a);
    json_decref(b);
    json_decref(test);
}

static double api_dur_s(const json_t *v, double dflt)
{
    if (json_is_number(v))
        return json_number_value(v);
    const char *s = json_string_value(v);
    if (s == NULL)
        return dflt;
    double total = 0;
    while (*s) {
        char *end;
        double x = strtod(s, &end);
        if (end == s)
            return dflt;
        s = end;
        if (strncmp(s, "ms", 2) == 0) {
            total += x / 1000;
            s += 2;
        } else if (*s == 'h') {
            total += x * 3600;
            s++;
        } else if (*s == 'm') {
            total += x * 60;
            s++;
        } else {
            total += x;
            if (*s == 's')
                s++;
        }
    }
    return total;
}

/* The result's "config" (docs/result-schema.json) from the run's config object. */
static json_t *api_result_config(const json_t *cfg, size_t nsec, const json_t *sum)
{
    json_t *rc = json_object();
    const char *url = json_string_value(json_object_get(cfg, "url"));
    const char *method = json_string_value(json_object_get(cfg, "method"));
    json_t *conns = json_object_get(cfg, "connections"), *thr = json_object_get(cfg, "threads");
    int open = json_object_get(cfg, "rate") || json_object_get(cfg, "schedule");
    json_object_set_new(rc, "url", json_string(url ? url : ""));
    json_object_set_new(rc, "method", json_string(method ? method : "GET"));
    json_object_set_new(rc, "connections",
                        json_integer(json_is_integer(conns) ? json_integer_value(conns) : 10));
    json_object_set_new(rc, "threads",
                        json_integer(json_is_integer(thr) ? json_integer_value(thr) : 1));
    double dur = api_dur_s(json_object_get(cfg, "duration"), (double)nsec);
    json_object_set_new(rc, "duration_s", json_real(dur > 0 ? dur : 1));
    json_object_set_new(rc, "model", json_string(open ? "open" : "closed"));
    json_object_set_new(rc, "timeout_s", json_real(api_dur_s(json_object_get(cfg, "timeout"), 2)));
    if (json_is_number(json_object_get(cfg, "rate")))
        json_object_set(rc, "rate", json_object_get(cfg, "rate"));
    if (json_is_string(json_object_get(cfg, "schedule")))
        json_object_set(rc, "schedule", json_object_get(cfg, "schedule"));
    if (open) /* what the plan had due: the stored seconds' "due" total */
        json_object_set_new(rc, "planned_requests",
                            json_integer(json_integer_value(json_object_get(sum, "due"))));
    return rc;
}

/* Adds a base64 histogram into *acc (created on first use). */
static int api_hist_add(mt_hist_t **acc, const char *b64)
{
    if (b64 == NULL || *b64 == '\0')
        return 0;
    mt_hist_t *h = NULL;
    if (mt_hist_decode(b64, strlen(b64), &h) != MT_OK)
        return -1;
    if (*acc == NULL)
        *acc = h;
    else {
        mt_hist_add(*acc, h);
        mt_hist_free(h);
    }
    return 0;
}

static json_t *api_hist_json(mt_hist_t *h)
{
    mt_hist_t *empty = NULL;
    if (h == NULL && mt_hist_new_latency(&empty) != MT_OK)
        return json_null();
    char *s = NULL;
    size_t n;
    json_t *j = mt_hist_encode(h ? h : empty, &s, &n) == MT_OK ? json_string(s) : json_null();
    free(s);
    mt_hist_free(empty);
    return j;
}

/* The whole result document (mortar.result/v1) from the stored rows; NULL with the problem. */
static json_t *api_result_doc(api_ctx_t *c, const char *id, const json_t *run)
{
    mt_store_rows_t rows;
    int rc = c->st->ops->run_rows(c->st, id, NULL, 0, 100000000, &rows);
    if (rc != MT_OK) {
        api_store_err(c, rc, "run");
        return NULL;
    }
    char err[256] = "";
    json_t *sum = mt_analysis_summary(rows.rows, rows.n, err, sizeof err);
    json_t *secs = json_array(), *tags = json_object();
    mt_hist_t *lat = NULL, *svc = NULL;
    int bad = sum == NULL;
    for (size_t i = 0; !bad && i < rows.n; i++) {
        const mt_agg_row_t *r = &rows.rows[i];
        if (r->tag[0] == '\0') {
            json_t *d = json_loads(r->data_json, 0, NULL);
            if (d == NULL) {
                bad = 1;
                break;
            }
            json_object_set_new(d, "hist", json_string(r->latency_b64));
            json_array_append_new(secs, d);
            bad = api_hist_add(&lat, r->latency_b64) || api_hist_add(&svc, r->service_b64);
        } else {
            mt_hist_t *t = NULL;
            json_t *prev = json_object_get(tags, r->tag);
            if (prev)
                mt_hist_decode(json_string_value(prev), json_string_length(prev), &t);
            bad = api_hist_add(&t, r->latency_b64);
            json_object_set_new(tags, r->tag, api_hist_json(t));
            mt_hist_free(t);
        }
    }
    size_t nsec = json_array_size(secs);
    mt_store_rows_dispose(&rows);
    if (bad) {
        json_decref(sum);
        json_decref(secs);
        json_decref(tags);
        mt_hist_free(lat);
        mt_hist_free(svc);
        api_problem(c, 500, "internal", NULL, "run %s: stored data is corrupt%s%s", id,
                    err[0] ? ": " : "", err);
        return NULL;
    }
    json_t *hists =
        json_pack("{s:o,s:o}", "latency", api_hist_json(lat), "service", api_hist_json(svc));
    if (json_object_size(tags))
        json_object_set(hists, "tags", tags);
    json_decref(tags);
    mt_hist_free(lat);
    mt_hist_free(svc);
    json_t *started = json_object_get(run, "started_at");
    if (!json_is_string(started))
        started = json_object_get(run, "created_at");
    json_t *doc = json_pack("{s:s,s:s,s:O,s:o,s:o,s:o,s:o}", "schema", "mortar.result/v1",
                            "mortar_version", MT_VERSION, "started_at", started, "config",
                            api_result_config(json_object_get(run, "config"), nsec, sum), "summary",
                            sum, "seconds", secs, "histograms", hists);
    json_t *v = json_object_get(run, "verdicts");
    if (json_is_array(v) && json_array_size(v) > 0) /* present when any was given */
        json_object_set(doc, "verdicts", v);
    return doc;
}

static void api_report(api_ctx_t *c, const char *id, const json_t *run)
{
    json_t *doc = api_result_doc(c, id, run);
    if (doc == NULL)
        return;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char *page = NULL, err[512] = "";
    size_t plen = 0;
    FILE *f = open_memstream(&page, &plen);
    int rc = MT_ENOMEM;
    if (f && text) {
        char label[64];
        snprintf(label, sizeof label, "run %.40s", id);
        mt__report_src_t a = {text, strlen(text), label};
        rc = mt__report_html(f, &a, NULL, err, sizeof err);
    }
    if (f)
        fclose(f);
    free(text);
    if (rc != MT_OK) {
        free(page);
        api_problem(c, 500, "internal", NULL, "cannot make the report: %s", err);
        return;
    }
    api_set(c->resp, 200, "text/html; charset=utf-8", page, plen);
}

/* ---- finished runs' reads, from the cache ---------------------------------------------- */

static int api_run_final(const json_t *run)
{
    const char *st = json_string_value(json_object_get(run, "state"));
    return st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
}

/* The cache key of a read: what it is, of which run, with which window and tag. */
static int api_cache_key(api_ctx_t *c, const char *id, const char *sub, char *key, size_t n)
{
    if (!c->sv->cache || !sub ||
        (strcmp(sub, "series") != 0 && strcmp(sub, "summary") != 0 && strcmp(sub, "result") != 0))
        return 0;
    const char *tag = api_q(c, "tag"), *from = api_q(c, "from"), *to = api_q(c, "to");
    int k = snprintf(key, n, "%s\x1f%s\x1f%s\x1f%s\x1f%s", id, sub, tag ? tag : "\x1e",
                     from ? from : "", to ? to : "");
    return k > 0 && (size_t)k < n;
}

/* Answers from the cache when the read was kept (gzip-encoded if the client asks). */
static int api_cache_serve(api_ctx_t *c, const char *key, const char *gzkey)
{
    char *body;
    size_t len;
    if (c->req->accept_gzip && mt__cache_get(c->sv->cache, gzkey, &body, &len) == MT_OK) {
        api_set(c->resp, 200, "application/json", body, len);
        c->resp->gzip = 1;
        return 1;
    }
    if (mt__cache_get(c->sv->cache, key, &body, &len) == MT_OK) {
        api_set(c->resp, 200, "application/json", body, len);
        return 1;
    }
    return 0;
}

/* Keeps a finished run's answer, plain and gzip-encoded, and sends the encoded one to a
 * client that asks for it. */
static void api_cache_keep(api_ctx_t *c, const char *key, const char *gzkey)
{
    if (c->resp->status != 200 || c->resp->body == NULL)
        return;
    mt__cache_put(c->sv->cache, key, c->resp->body, c->resp->len);
    char *gz;
    size_t gzlen;
    if (c->resp->len <= 1024 || mt__gzip(c->resp->body, c->resp->len, &gz, &gzlen) != MT_OK)
        return;
    mt__cache_put(c->sv->cache, gzkey, gz, gzlen);
    if (c->req->accept_gzip) {
        api_set(c->resp, 200, "application/json", gz, gzlen);
        c->resp->gzip = 1;
    } else {
        free(gz);
    }
}

static void api_run(api_ctx_t *c, const char *m, const char *id, const char *sub)
{
    if (sub && strcmp(sub, "stop") == 0) {
        api_run_stop(c, id);
        return;
    }
    if (api_auth(c, ROLE_VIEWER))
        return;
    char key[512], gzkey[520];
    int cacheable = api_cache_key(c, id, sub, key, sizeof key);
    snprintf(gzkey, sizeof gzkey, "%s\x1fgzip", key);
    if (cacheable && api_cache_serve(c, key, gzkey))
        return;
    json_t *run = NULL;
    int rc = c->st->ops->run_get(c->st, id, &run);
    if (rc != MT_OK) {
        api_store_err(c, rc, "run");
        return;
    }
    if (sub == NULL) {
        api_json(c, 200, run);
        return;
    }
    if (strcmp(sub, "series") == 0)
        api_series(c, id);
    else if (strcmp(sub, "summary") == 0)
        api_summary(c, id, run);
    else if (strcmp(sub, "compare") == 0)
        api_compare(c, id, run);
    else if (strcmp(sub, "result") == 0) {
        json_t *doc = api_result_doc(c, id, run);
        if (doc)
            api_json(c, 200, doc);
    } else if (strcmp(sub, "report") == 0)
        api_report(c, id, run);
    else { /* live */
        const char *le = c->req->last_event_id;
        int64_t from = 0;
        if (le && *le) {
            char *end;
            long long x = strtoll(le, &end, 10);
            if (*end == '\0' && x >= 0)
                from = x + 1;
        }
        snprintf(c->resp->live_run, sizeof c->resp->live_run, "%s", id);
        c->resp->live_from = from;
        api_set(c->resp, 200, "text/event-stream", NULL, 0);
    }
    /* a finished run's reads never change: keep the answer */
    if (cacheable && api_run_final(run))
        api_cache_keep(c, key, gzkey);
    json_decref(run);
}

/* ---- schedules, agents, webhooks, tokens ------------------------------------------------- */

/* GET /agents (?selector= keeps the agents a label selector matches: placement.h) and
 * GET /agents/{name}. */
static void api_agents(api_ctx_t *c, const char *name)
{
    const char *selector = name ? NULL : api_q(c, "selector");
    mt_selector_t *sel = NULL;
    if (selector) {
        mt_parse_err_t perr = {0};
        sel = malloc(sizeof *sel);
        if (sel == NULL) {
            api_problem(c, 500, "internal", NULL, "out of memory");
            return;
        }
        if (mt_selector_parse(selector, sel, &perr) != MT_OK) {
            api_problem(c, 422, "validation", "?selector", "selector: column %d: %s", perr.col,
                        perr.msg);
            free(sel);
            return;
        }
    }
    json_t *out = NULL;
    int rc = c->st->ops->agent_list(c->st, mt__now_ms(), &out);
    if (rc != MT_OK) {
        free(sel);
        api_store_err(c, rc, "agents");
        return;
    }
    json_t *items = json_object_get(out, "items");
    for (size_t i = json_array_size(items); i-- > 0;) {
        json_t *a = json_array_get(items, i);
        int keep = name ? strcmp(json_string_value(json_object_get(a, "name")), name) == 0
                        : sel == NULL || mt_selector_match(sel, json_object_get(a, "labels"));
        if (!keep)
            json_array_remove(items, i);
    }
    free(sel);
    if (name == NULL) {
        api_json(c, 200, out);
        return;
    }
    json_t *one = json_incref(json_array_get(items, 0));
    json_decref(out);
    if (one == NULL)
        api_problem(c, 404, "not-found", NULL, "agent %s not found", name);
    else
        api_json(c, 200, one);
}

static int64_t api_next_fire(const json_t *b)
{
    mt_cron_t cr;
    mt_parse_err_t pe;
    if (mt_cron_parse(json_string_value(json_object_get(b, "cron")), &cr, &pe) != MT_OK)
        return 0;
    int64_t n = mt_cron_next(&cr, mt__now_ms() / 1000);
    return n < 0 ? 0 : n;
}

static void api_schedules(api_ctx_t *c, const char *m, const char *id)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        mt_store_page_t pg;
        if (api_auth(c, ROLE_VIEWER) || (id == NULL && api_page(c, &pg)))
            return;
        rc = id ? s->ops->sched_get(s, id, &out) : s->ops->sched_list(s, &pg, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "schedule");
        return;
    }
    if (api_auth(c, ROLE_RUNNER))
        return;
    if (strcmp(m, "DELETE") == 0) {
        rc = s->ops->sched_delete(s, id);
        if (rc == MT_OK)
            api_set(c->resp, 204, "application/json", NULL, 0);
        else
            api_store_err(c, rc, "schedule");
        return;
    }
    json_t *b = api_body(c, mt__body_schedule);
    if (b == NULL)
        return;
    int64_t next = api_next_fire(b);
    rc = id ? s->ops->sched_update(s, id, b, next, &out) : s->ops->sched_create(s, b, next, &out);
    if (rc == MT_EINVAL)
        api_problem(c, 422, "validation", "/test_id", "test %s does not exist",
                    json_string_value(json_object_get(b, "test_id")));
    else if (rc == MT_OK)
        api_json(c, id ? 200 : 201, out);
    else
        api_store_err(c, rc, "schedule");
    json_decref(b);
}

static void api_webhooks(api_ctx_t *c, const char *m, const char *id, const char *sub)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    mt_store_page_t pg;
    if (api_auth(c, strcmp(m, "GET") == 0 ? ROLE_VIEWER : ROLE_ADMIN))
        return;
    if (strcmp(m, "GET") == 0) {
        if (api_page(c, &pg))
            return;
        rc =
            sub ? s->ops->webhook_deliveries(s, id, &pg, &out) : s->ops->webhook_list(s, &pg, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "webhook");
    } else if (strcmp(m, "DELETE") == 0) {
        rc = s->ops->webhook_delete(s, id);
        if (rc == MT_OK)
            api_set(c->resp, 204, "application/json", NULL, 0);
        else
            api_store_err(c, rc, "webhook");
    } else {
        json_t *b = api_body(c, mt__body_webhook);
        if (b == NULL)
            return;
        rc = s->ops->webhook_create(s, json_string_value(json_object_get(b, "url")),
                                    json_string_value(json_object_get(b, "secret")),
                                    json_object_get(b, "events"), &out);
        rc == MT_OK ? api_json(c, 201, out) : api_store_err(c, rc, "webhook");
        json_decref(b);
    }
}

static void api_tokens(api_ctx_t *c, const char *m, const char *id)
{
    mt_store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (api_auth(c, ROLE_ADMIN))
        return;
    if (strcmp(m, "GET") == 0) {
        mt_store_page_t pg;
        if (api_page(c, &pg))
            return;
        rc = s->ops->token_list(s, &pg, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "tokens");
    } else if (strcmp(m, "DELETE") == 0) {
        rc = s->ops->token_delete(s, id);
        if (rc == MT_OK)
            api_set(c->resp, 204, "application/json", NULL, 0);
        else
            api_store_err(c, rc, "token");
    } else {
        json_t *b = api_body(c, mt__body_token);
        if (b == NULL)
            return;
        char secret[64], hash[65];
        mt__token_secret(secret);
        mt__sha256_hex(secret, strlen(secret), hash);
        rc = s->ops->token_create(s, json_string_value(json_object_get(b, "name")),
                                  json_string_value(json_object_get(b, "role")), hash, &out);
        if (rc == MT_OK) {
            json_object_set_new(out, "token", json_string(secret));
            api_json(c, 201, out);
        } else
            api_store_err(c, rc, "token");
        json_decref(b);
    }
}

/* ---- routing ----------------------------------------------------------------------------- */

static int api_split(api_ctx_t *c, const char *path)
{
    snprintf(c->path_copy, sizeof c->path_copy, "%s", path);
    c->nseg = 0;
    for (char *p = c->path_copy, *save = NULL, *t; (t = strtok_r(p, "/", &save)); p = NULL) {
        if (c->nseg == 8)
            return -1;
        c->seg[c->nseg++] = t;
    }
    return 0;
}

/* Allowed methods of a route; 0 when the method is one of them. */
static int api_allow(api_ctx_t *c, const char *route, const char *allow)
{
    snprintf(c->resp->route, sizeof c->resp->route, "%s", route);
    const char *m = c->req->method;
    size_t ml = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)); p += ml)
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
            return 0;
    c->resp->allow = allow;
    api_problem(c, 405, "method-not-allowed", NULL, "%s is not allowed here (allowed: %s)", m,
                allow);
    return -1;
}

static int api_is(const api_ctx_t *c, size_t i, const char *s)
{
    return i < c->nseg && strcmp(c->seg[i], s) == 0;
}

/* Replays or records the response of a POST with an Idempotency-Key; returns 1 when the
 * response is already set (replayed or refused). */
static int api_idem_before(api_ctx_t *c, char hash[65])
{
    const char *k = c->req->idempotency_key;
    size_t kl = strlen(k);
    int ok = kl >= 1 && kl <= 255;
    for (size_t i = 0; ok && i < kl; i++)
        ok = k[i] > 0x20 && k[i] < 0x7f;
    if (!ok) {
        api_problem(c, 422, "validation", NULL,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return 1;
    }
    if (api_auth(c, ROLE_VIEWER))
        return 1;
    size_t n = strlen(c->req->path) + c->req->body_len + 16;
    char *buf = malloc(n);
    if (buf == NULL) {
        api_problem(c, 500, "internal", NULL, "out of memory");
        return 1;
    }
    int h = snprintf(buf, n, "%s\n%s\n", c->req->method, c->req->path);
    if (c->req->body_len)
        memcpy(buf + h, c->req->body, c->req->body_len);
    mt__sha256_hex(buf, (size_t)h + c->req->body_len, hash);
    free(buf);
    char *rh = NULL, *ct = NULL, *body = NULL;
    int status = 0;
    int rc = c->st->ops->idem_get(c->st, c->token_id, k, &rh, &status, &ct, &body);
    if (rc == MT_ENOTFOUND)
        return 0;
    if (rc != MT_OK) {
        api_store_err(c, rc, "idempotency key");
        return 1;
    }
    if (strcmp(rh, hash) != 0) {
        api_problem(c, 422, "idempotency-mismatch", NULL,
                    "Idempotency-Key '%s' was used with a different request", k);
    } else {
        const char *ctype = strcmp(ct, "application/problem+json") == 0 ? "application/problem+json"
                                                                        : "application/json";
        api_set(c->resp, status, ctype, body, strlen(body));
        body = NULL;
        c->resp->replayed = 1;
    }
    free(rh);
    free(ct);
    free(body);
    return 1;
}

static void api_route(api_ctx_t *c)
{
    const char *m = c->req->method;
    size_t n = c->nseg;
    /* /api/v1/<collection>[/<id>[/<sub>]] */
    const char *col = n > 2 ? c->seg[2] : "";
    const char *id = n > 3 ? c->seg[3] : NULL;
    const char *sub = n > 4 ? c->seg[4] : NULL;
    if (n > 5)
        goto notfound;
    if (strcmp(col, "openapi.json") == 0 && n == 3) {
        if (api_allow(c, "/api/v1/openapi.json", "GET") == 0)
            api_set(c->resp, 200, "application/json", strdup(mt__openapi_json), mt__openapi_len);
        return;
    }
    if (strcmp(col, "tests") == 0) {
        if (id == NULL) {
            if (api_allow(c, "/api/v1/tests", "GET, POST") == 0)
                api_tests(c, m);
        } else if (sub == NULL) {
            if (api_allow(c, "/api/v1/tests/{id}", "GET, PUT, DELETE") == 0)
                api_test(c, m, id);
        } else if (strcmp(sub, "versions") == 0 || strcmp(sub, "trend") == 0) {
            char r[64];
            snprintf(r, sizeof r, "/api/v1/tests/{id}/%s", sub);
            if (api_allow(c, r, "GET") == 0)
                api_test_sub(c, m, id, sub);
        } else if (strcmp(sub, "baseline") == 0) {
            if (api_allow(c, "/api/v1/tests/{id}/baseline", "PUT") == 0)
                api_test_sub(c, m, id, sub);
        } else
            goto notfound;
        return;
    }
    if (strcmp(col, "runs") == 0) {
        static const char *const subs[] = {"series", "summary", "compare", "result",
                                           "report", "live",    NULL};
        if (id == NULL) {
            if (api_allow(c, "/api/v1/runs", "GET, POST") == 0)
                api_runs(c, m);
            return;
        }
        if (sub == NULL) {
            if (api_allow(c, "/api/v1/runs/{id}", "GET") == 0)
                api_run(c, m, id, NULL);
            return;
        }
        if (strcmp(sub, "stop") == 0) {
            if (api_allow(c, "/api/v1/runs/{id}/stop", "POST") == 0)
                api_run(c, m, id, sub);
            return;
        }
        for (const char *const *p = subs; *p; p++)
            if (strcmp(*p, sub) == 0) {
                char r[64];
                snprintf(r, sizeof r, "/api/v1/runs/{id}/%s", sub);
                if (api_allow(c, r, "GET") == 0)
                    api_run(c, m, id, sub);
                return;
            }
        goto notfound;
    }
    if (strcmp(col, "schedules") == 0 && sub == NULL) {
        if (api_allow(c, id ? "/api/v1/schedules/{id}" : "/api/v1/schedules",
                      id ? "GET, PUT, DELETE" : "GET, POST") == 0)
            api_schedules(c, m, id);
        return;
    }
    if (strcmp(col, "whoami") == 0 && id == NULL) {
        /* who the token is: the UI shows only what the role may do */
        if (api_allow(c, "/api/v1/whoami", "GET") == 0 && api_auth(c, ROLE_VIEWER) == 0)
            api_json(
                c, 200,
                json_pack("{s:s,s:s}", "token_id", c->token_id, "role", api_role_name(c->role)));
        return;
    }
    if (strcmp(col, "agents") == 0 && sub == NULL) {
        if (api_allow(c, id ? "/api/v1/agents/{name}" : "/api/v1/agents", "GET") == 0 &&
            api_auth(c, ROLE_VIEWER) == 0)
            api_agents(c, id);
        return;
    }
    if (strcmp(col, "webhooks") == 0) {
        if (id == NULL) {
            if (api_allow(c, "/api/v1/webhooks", "GET, POST") == 0)
                api_webhooks(c, m, NULL, NULL);
        } else if (sub == NULL) {
            if (api_allow(c, "/api/v1/webhooks/{id}", "DELETE") == 0)
                api_webhooks(c, m, id, NULL);
        } else if (strcmp(sub, "deliveries") == 0) {
            if (api_allow(c, "/api/v1/webhooks/{id}/deliveries", "GET") == 0)
                api_webhooks(c, m, id, sub);
        } else
            goto notfound;
        return;
    }
    if (strcmp(col, "tokens") == 0 && sub == NULL) {
        if (api_allow(c, id ? "/api/v1/tokens/{id}" : "/api/v1/tokens",
                      id ? "DELETE" : "GET, POST") == 0)
            api_tokens(c, m, id);
        return;
    }
notfound:
    snprintf(c->resp->route, sizeof c->resp->route, "other");
    api_problem(c, 404, "not-found", NULL, "no such endpoint: %s", c->req->path);
}

int mt__api_viewer(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp)
{
    api_ctx_t c = {.sv = sv, .st = sv->store, .req = req, .resp = resp};
    memset(resp, 0, sizeof *resp);
    return api_auth(&c, ROLE_VIEWER);
}

void mt__api_handle(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp)
{
    api_ctx_t c = {.sv = sv, .st = sv->store, .req = req, .resp = resp};
    memset(resp, 0, sizeof *resp);
    snprintf(resp->route, sizeof resp->route, "other");
    if (api_split(&c, req->path) || !api_is(&c, 0, "api") || !api_is(&c, 1, "v1")) {
        api_problem(&c, 404, "not-found", NULL, "no such endpoint: %s", req->path);
        return;
    }
    if (req->body_too_large) {
        api_problem(&c, 413, "payload-too-large", NULL, "the body is over %zu bytes",
                    MT__API_MAX_BODY);
        return;
    }
    char hash[65];
    int idem = strcmp(req->method, "POST") == 0 && req->idempotency_key != NULL;
    if (!idem) {
        api_route(&c);
        return;
    }
    /* Keyed POSTs run one at a time, lookup to store, so two concurrent requests with one key
     * cannot both run (POSTs are rare; reads never take this lock). */
    static pthread_mutex_t idem_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&idem_mu);
    if (!api_idem_before(&c, hash)) {
        api_route(&c);
        /* the first response is kept (not server errors: those may succeed when retried) */
        if (resp->status < 500 && resp->status != 401 && c.role != ROLE_NONE)
            c.st->ops->idem_put(c.st, c.token_id, req->idempotency_key, hash, resp->status,
                                resp->ctype, resp->body ? resp->body : "");
    }
    pthread_mutex_unlock(&idem_mu);
}
