/* The REST API of `mortar serve` (docs/api.md): routing, auth, problem details, idempotency,
 * pagination, and the handlers over the store and the analysis. No HTTP library here: the
 * glue in cmd_serve.c turns a libmicrohttpd request into an mt__req_t and sends the
 * mt__resp_t back, so this file is reachable from tests without sockets. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report.h"
#include "mortar/engine.h"
#include "mortar/error.h"
#include "mortar/schedule.h"
#include "mortar/hist.h"
#include "runspec/runspec.h"
#include "server/analysis.h"
#include "server/baseline.h"
#include "server/cron.h"
#include "server/log.h"
#include "server/cache.h"
#include "server/changes.h"
#include "server/placement.h"
#include "server/serve.h"
#include "server/serve_embed.h"

/* A keyed POST whose twin runs on another server waits this long for its response. */
#define API_IDEM_WAIT_MS 10000
#define API_IDEM_POLL_MS 50

enum { ROLE_NONE, ROLE_VIEWER, ROLE_RUNNER, ROLE_ADMIN };

typedef struct api_ctx {
    mt__serve_t *sv;
    mt__store_t *st;
    const mt__req_t *req;
    mt__resp_t *resp;
    char token_id[40];
    char token_name[MT_STORE_TOKEN_NAME];
    int role;
    char *idem_body; /* what an Idempotency-Key keeps instead of the body (NULL: the body) */
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
    case 414:
        return "URI too long";
    case 415:
        return "Unsupported media type";
    case 422:
        return "Unprocessable content";
    case 429:
        return "Too many requests";
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
    else if (rc == MT_ESYS) { /* the database failed: say how (docs/security.md) */
        const char *why = c->st->ops->last_error ? c->st->ops->last_error(c->st) : "";
        api_problem(c, 503, "store-unavailable", NULL, "the store is unavailable: %s",
                    why && why[0] ? why : "database error");
    } else
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
        int rc = c->st->ops->token_lookup(c->st, hash, c->token_id, role, c->token_name);
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

/* Who is calling (after api_auth): a run's "created_by". */
static json_t *api_creator(const api_ctx_t *c)
{
    return json_pack("{s:s,s:s,s:s}", "token_id", c->token_id, "token_name", c->token_name, "role",
                     api_role_name(c->role));
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
    int r = mt__api_whole(api_q(c, k), lo, hi, out);
    if (r == 1) {
        *out = dflt;
        return 0;
    }
    if (r != 0) {
        char p[64];
        snprintf(p, sizeof p, "?%s", k);
        api_problem(c, 422, "validation", p, "'%s' must be a whole number in [%lld, %lld]", k, lo,
                    hi);
        return -1;
    }
    return 0;
}

static int api_page(api_ctx_t *c, mt__store_page_t *pg)
{
    long long lim;
    if (api_qint(c, "limit", 1, 500, 50, &lim))
        return -1;
    pg->limit = (size_t)lim;
    pg->cursor = api_q(c, "cursor");
    if (pg->cursor && *pg->cursor == '\0')
        pg->cursor = NULL;
    /* a cursor is the next_cursor of a previous page: an id (hex digits and '-') */
    if (pg->cursor && (strlen(pg->cursor) > 64 ||
                       strspn(pg->cursor, "0123456789abcdef-") != strlen(pg->cursor))) {
        api_problem(c, 400, "bad-cursor", "?cursor",
                    "'cursor' is not a cursor of this list: pass the next_cursor of the previous "
                    "page as it is");
        return -1;
    }
    return 0;
}

typedef json_t *(*api_body_fn)(const char *, size_t, char *, char *, size_t);

static json_t *api_body(api_ctx_t *c, api_body_fn fn)
{
    /* a body that is not JSON at all is a malformed request (400); JSON that breaks the
     * schema (duplicate keys too) is 422 */
    json_error_t je;
    json_t *any = json_loadb(c->req->body ? c->req->body : "", c->req->body_len,
                             JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (any == NULL) {
        api_problem(c, 400, "malformed-json", NULL, "the body is not JSON: %s (line %d, column %d)",
                    je.text, je.line, je.column);
        return NULL;
    }
    json_decref(any);
    char pointer[256] = "", detail[512] = "";
    json_t *o = fn(c->req->body, c->req->body_len, pointer, detail, sizeof pointer);
    if (o == NULL)
        api_problem(c, 422, "validation", pointer, "%s", detail);
    return o;
}

/* PATCH: the stored object's writable keys (keys, NULL-terminated) with the body applied as
 * an RFC 7396 merge patch, then checked by fn as a PUT body would be; NULL with the problem
 * set. The body is application/merge-patch+json (application/json is accepted too). */
static json_t *api_patched(api_ctx_t *c, const char *id, int schedule, api_body_fn fn)
{
    static const char *const test_keys[] = {"name",       "description",        "config",
                                            "tolerances", "fail_on_regression", NULL};
    static const char *const sched_keys[] = {"test_id", "cron", "policy", "enabled", NULL};
    const char *ct = c->req->content_type;
    if (!mt__media_type_is(ct, "application/merge-patch+json") &&
        !mt__media_type_is(ct, "application/json")) {
        api_problem(c, 415, "unsupported-media-type", NULL,
                    "PATCH takes a JSON Merge Patch (Content-Type: application/merge-patch+json "
                    "or application/json), not %s",
                    ct ? ct : "a body without Content-Type");
        return NULL;
    }
    json_error_t je;
    json_t *patch = json_loadb(c->req->body ? c->req->body : "", c->req->body_len,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (patch == NULL) {
        /* JSON with a duplicate key is invalid (422, as in api_body); not JSON at all is 400 */
        json_error_t je2;
        json_t *any = json_loadb(c->req->body ? c->req->body : "", c->req->body_len,
                                 JSON_DECODE_ANY | JSON_ALLOW_NUL, &je2);
        if (any)
            api_problem(c, 422, "validation", "", "%s (line %d, column %d)", je.text, je.line,
                        je.column);
        else
            api_problem(c, 400, "malformed-json", NULL,
                        "the body is not JSON: %s (line %d, column %d)", je.text, je.line,
                        je.column);
        json_decref(any);
        return NULL;
    }
    json_t *cur = NULL;
    int rc =
        schedule ? c->st->ops->sched_get(c->st, id, &cur) : c->st->ops->test_get(c->st, id, &cur);
    if (rc != MT_OK) {
        json_decref(patch);
        api_store_err(c, rc, schedule ? "schedule" : "test");
        return NULL;
    }
    json_t *in = json_object();
    for (const char *const *k = schedule ? sched_keys : test_keys; *k; k++)
        if (json_object_get(cur, *k))
            json_object_set(in, *k, json_object_get(cur, *k));
    json_decref(cur);
    json_t *merged = mt__merge_patch(in, patch);
    json_decref(in);
    json_decref(patch);
    char *text = merged ? json_dumps(merged, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(merged);
    if (text == NULL) {
        api_problem(c, 500, "internal", NULL, "out of memory");
        return NULL;
    }
    char pointer[256] = "", detail[512] = "";
    json_t *b = fn(text, strlen(text), pointer, detail, sizeof pointer);
    free(text);
    if (b == NULL)
        api_problem(c, 422, "validation", pointer, "%s", detail);
    return b;
}

/* ---- the target policy (policy.h) -------------------------------------------------------- */

mt__policy_t *mt__serve_policy(mt__serve_t *sv)
{
    char *text = NULL;
    int64_t ver = 0;
    int rc = sv->store && sv->store->ops->policy_get
                 ? sv->store->ops->policy_get(sv->store, &text, &ver)
                 : MT_ENOTFOUND;
    pthread_mutex_lock(&sv->policy_mu);
    if (rc == MT_OK && ver != sv->policy_version) {
        json_t *j = json_loads(text, 0, NULL);
        char pointer[256], detail[256];
        mt__policy_t *p = j ? mt__policy_from_json(j, pointer, detail, sizeof pointer) : NULL;
        json_decref(j);
        if (p != NULL) {
            mt__policy_unref(sv->policy);
            sv->policy = p;
            sv->policy_version = ver;
        } else {
            mt__log(MT_LOG_ERROR, "the stored target policy is not valid; keeping the last one",
                    NULL);
        }
    }
    if (sv->policy == NULL)
        sv->policy = mt__policy_default();
    mt__policy_t *out = mt__policy_ref(sv->policy);
    pthread_mutex_unlock(&sv->policy_mu);
    free(text);
    return out;
}

int mt__serve_set_policy(mt__serve_t *sv, mt__policy_t *p)
{
    json_t *j = mt__policy_to_json(p, 1, NULL);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int64_t ver = 0;
    int rc = text == NULL ? MT_ENOMEM : sv->store->ops->policy_put(sv->store, text, &ver);
    free(text);
    if (rc != MT_OK) {
        mt__policy_unref(p);
        return rc;
    }
    pthread_mutex_lock(&sv->policy_mu);
    mt__policy_unref(sv->policy);
    sv->policy = p;
    sv->policy_version = ver;
    pthread_mutex_unlock(&sv->policy_mu);
    return MT_OK;
}

/* A run config against the target policy and the caller's limits, its URL resolved; 0, or -1
 * with the 422 set. test_id: the config is that test's (the problem points at /test_id). */
static int api_policy_config(api_ctx_t *c, const json_t *config, const char *test_id)
{
    mt__policy_t *p = mt__serve_policy(c->sv);
    if (p == NULL) {
        api_problem(c, 500, "internal", NULL, "out of memory");
        return -1;
    }
    char pointer[256] = "", detail[512] = "";
    int rc = mt__policy_check_config(p, api_role_name(c->role), config, 1, "/config", pointer,
                                     detail, sizeof pointer);
    mt__policy_unref(p);
    if (rc == 0)
        return 0;
    if (test_id)
        api_problem(c, 422, "policy", "/test_id", "test %s: %s: %s", test_id, pointer, detail);
    else
        api_problem(c, 422, "policy", pointer, "%s", detail);
    return -1;
}

/* The config of test id against the policy (a missing test is left to the caller). */
static int api_policy_test(api_ctx_t *c, const char *id)
{
    json_t *t = NULL;
    if (id == NULL || c->st->ops->test_get(c->st, id, &t) != MT_OK)
        return 0;
    int rc = api_policy_config(c, json_object_get(t, "config"), id);
    json_decref(t);
    return rc;
}

/* The caller's role may queue one more run (its concurrent_runs limit); -1 with 429 set. */
static int api_policy_runs(api_ctx_t *c)
{
    mt__policy_t *p = mt__serve_policy(c->sv);
    int64_t lim = p ? mt__policy_limits(p, api_role_name(c->role))->concurrent_runs : 0;
    mt__policy_unref(p);
    if (lim <= 0)
        return 0;
    json_t *counts = NULL;
    int64_t pending = 0;
    int rc = c->st->ops->run_counts(c->st, &counts, &pending);
    if (rc != MT_OK) {
        api_store_err(c, rc, "runs");
        return -1;
    }
    int64_t active = json_integer_value(json_object_get(counts, "queued")) +
                     json_integer_value(json_object_get(counts, "running"));
    json_decref(counts);
    if (active < lim)
        return 0;
    api_problem(c, 429, "too-many-runs", NULL,
                "%lld runs are queued or running; a %s may start runs only while fewer than %lld "
                "are (the target policy's limit)",
                (long long)active, api_role_name(c->role), (long long)lim);
    return -1;
}

static void api_policy(api_ctx_t *c, const char *m)
{
    if (api_auth(c, strcmp(m, "GET") == 0 ? ROLE_VIEWER : ROLE_ADMIN))
        return;
    if (strcmp(m, "PUT") == 0) {
        json_error_t je;
        json_t *j = json_loadb(c->req->body ? c->req->body : "", c->req->body_len,
                               JSON_REJECT_DUPLICATES, &je);
        if (j == NULL) {
            api_problem(c, 422, "validation", "", "the body is not JSON: %s (line %d, column %d)",
                        je.text, je.line, je.column);
            return;
        }
        char pointer[256] = "", detail[512] = "";
        mt__policy_t *p = mt__policy_from_json(j, pointer, detail, sizeof pointer);
        json_decref(j);
        if (p == NULL) {
            api_problem(c, 422, "validation", pointer, "%s", detail);
            return;
        }
        int rc = mt__serve_set_policy(c->sv, p);
        if (rc != MT_OK) {
            api_store_err(c, rc, "policy");
            return;
        }
        mt__log(MT_LOG_INFO, "target policy set", "token", c->token_id, NULL);
    }
    mt__policy_t *p = mt__serve_policy(c->sv);
    if (p == NULL) {
        api_problem(c, 500, "internal", NULL, "out of memory");
        return;
    }
    api_json(c, 200, mt__policy_to_json(p, c->role == ROLE_ADMIN, api_role_name(c->role)));
    mt__policy_unref(p);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void api_tests(api_ctx_t *c, const char *m)
{
    mt__store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        mt__store_page_t pg;
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
    if (api_policy_config(c, json_object_get(b, "config"), NULL)) {
        json_decref(b);
        return;
    }
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
    mt__store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        if (api_auth(c, ROLE_VIEWER))
            return;
        rc = s->ops->test_get(s, id, &out);
        rc == MT_OK ? api_json(c, 200, out) : api_store_err(c, rc, "test");
    } else if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        if (api_auth(c, ROLE_RUNNER))
            return;
        json_t *b = strcmp(m, "PUT") == 0 ? api_body(c, mt__body_test)
                                          : api_patched(c, id, 0, mt__body_test);
        if (b == NULL)
            return;
        if (api_policy_config(c, json_object_get(b, "config"), NULL)) {
            json_decref(b);
            return;
        }
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

/* GET /tests/{id}/changes?metric=&limit=: change points of the test's history (changes.h) */
static void api_test_changes(api_ctx_t *c, const char *id)
{
    mt__store_t *s = c->st;
    long long lim;
    if (api_auth(c, ROLE_VIEWER) ||
        api_qint(c, "limit", 1, MT__CHANGES_LIMIT_MAX, MT__CHANGES_LIMIT, &lim))
        return;
    const char *metric = api_q(c, "metric");
    if (metric == NULL || *metric == '\0')
        metric = "p99";
    if (!mt__changes_metric_ok(metric)) {
        api_problem(c, 422, "validation", "?metric",
                    "'metric' must be one of p50, p90, p99, p999, rps, "
                    "error_rate (got '%.40s')",
                    metric);
        return;
    }
    json_t *hist = NULL;
    int rc = s->ops->test_history(s, id, (size_t)lim, &hist);
    if (rc != MT_OK) {
        api_store_err(c, rc, "test");
        return;
    }
    json_t *out = mt__changes_doc(id, hist, metric, 0);
    json_decref(hist);
    if (out == NULL)
        api_store_err(c, MT_ENOMEM, "test");
    else
        api_json(c, 200, out);
}

static void api_test_sub(api_ctx_t *c, const char *m, const char *id, const char *sub)
{
    mt__store_t *s = c->st;
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
    } else if (strcmp(sub, "changes") == 0) {
        api_test_changes(c, id);
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
    mt__store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        mt__store_page_t pg;
        if (api_auth(c, ROLE_VIEWER) || api_page(c, &pg))
            return;
        /* ?test= is the deprecated name of ?test_id= */
        const char *state = api_q(c, "state"), *test = api_q(c, "test_id");
        if (test == NULL)
            test = api_q(c, "test");
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
    const char *test = json_string_value(json_object_get(b, "test_id"));
    if ((test ? api_policy_test(c, test)
              : api_policy_config(c, json_object_get(b, "config"), NULL)) ||
        api_policy_runs(c)) {
        json_decref(b);
        return;
    }
    json_t *by = api_creator(c);
    rc = s->ops->run_create(s, test, json_object_get(b, "config"), json_object_get(b, "labels"),
                            NULL, by, &out);
    json_decref(by);
    if (rc == MT_ENOTFOUND)
        api_problem(c, 422, "validation", "/test_id", "test %s does not exist", test);
    else if (rc == MT_OK) {
        mt__log(MT_LOG_INFO, "run queued", "run", json_string_value(json_object_get(out, "id")),
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
    mt__store_rows_t rows;
    int rc = c->st->ops->run_rows(c->st, id, tag, from, to, &rows);
    if (rc != MT_OK) {
        api_store_err(c, rc, "run");
        return NULL;
    }
    char err[256] = "";
    /* one tag's rows are summarised as the whole (the analysis puts tagged rows under "tags"
     * and would leave the totals at zero): the same rows with the tag blanked */
    mt__agg_row_t *one = NULL;
    if (tag != NULL && rows.n > 0) {
        one = malloc(rows.n * sizeof *one);
        if (one == NULL) {
            mt__store_rows_dispose(&rows);
            api_problem(c, 500, "internal", NULL, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < rows.n; i++) {
            one[i] = rows.rows[i];
            one[i].tag = "";
        }
    }
    json_t *sum = mt__analysis_summary(one ? one : rows.rows, rows.n, err, sizeof err);
    free(one);
    mt__store_rows_dispose(&rows);
    if (sum == NULL)
        api_problem(c, 500, "internal", NULL, "run %s: stored data is corrupt: %s", id, err);
    return sum;
}

/* summary.interrupted says whether the run ended before its plan: a run stopped (by the API,
 * a signal or a server shutdown) or interrupted (the server died) did. */
static void api_mark_interrupted(json_t *sum, const json_t *run)
{
    const char *st = json_string_value(json_object_get(run, "state"));
    if (st && (strcmp(st, "interrupted") == 0 || strcmp(st, "stopped") == 0))
        json_object_set_new(sum, "interrupted", json_true());
}

/* The timing breakdown is not kept per second: the agents ship their whole run's at its end
 * (docs/aggregation.md) and the run's own summary has it merged. A summary of the whole run
 * takes it from there. */
static void api_whole_breakdown(json_t *sum, const json_t *run)
{
    json_t *bd = json_object_get(json_object_get(run, "summary"), "breakdown_us");
    if (json_is_object(bd))
        json_object_set(sum, "breakdown_us", bd);
}

static void api_summary(api_ctx_t *c, const char *id, const json_t *run)
{
    int64_t from, to;
    if (api_window(c, &from, &to))
        return;
    json_t *sum = api_summary_of(c, id, api_q(c, "tag"), from, to);
    if (sum == NULL)
        return;
    if (api_q(c, "tag") == NULL && api_q(c, "from") == NULL && api_q(c, "to") == NULL)
        api_whole_breakdown(sum, run);
    api_mark_interrupted(sum, run);
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
    json_t *cmp = NULL;
    char err[256] = "";
    int rc = mt__baseline_verdict(c->st, id, base_id, json_object_get(test, "tolerances"), &cmp,
                                  err, sizeof err);
    if (rc == MT_ENOTFOUND) {
        api_store_err(c, rc, "run");
    } else if (rc != MT_OK) {
        api_problem(c, 500, "internal", NULL, "the comparison failed: %s", err);
    } else {
        /* the verdict object, plus the names this endpoint always had */
        json_object_set_new(cmp, "run", json_string(id));
        json_object_set_new(cmp, "base", json_string(base_id));
        json_object_set(cmp, "regression", json_object_get(cmp, "regressed"));
        api_json(c, 200, cmp);
    }
    json_decref(test);
}

/* The result's "config" of a stored run: its config read back into a run spec and written by
 * the same builder as `mortar run --json` (runspec.h); planned_requests is what the stored
 * seconds had due. NULL when the stored config no longer reads (the caller answers 500). */
static json_t *api_result_config(const json_t *cfg, uint64_t due)
{
    mt_runspec_t s;
    mt_rs_err_t rerr;
    json_t *o = NULL;

    mt_runspec_init(&s, MT_RS_SERVER);
    if (mt_runspec_from_json(&s, cfg, "/config", &rerr) == MT_OK &&
        mt_runspec_check(&s, &rerr) == MT_OK)
        o = mt_runspec_result_config(&s, &due);
    mt_runspec_dispose(&s);
    return o;
}

typedef struct api_cfg_ud {
    const json_t *cfg;
} api_cfg_ud_t;

static json_t *api_result_config_cb(const mt_run_result_t *totals, size_t nseconds, void *ud)
{
    (void)nseconds;
    return api_result_config(((const api_cfg_ud_t *)ud)->cfg, totals->c.due);
}

/* The whole result document (mortar.result/v1) from the stored rows, by the same builder as
 * `mortar run --json` (analysis.c, src/result). NULL with the problem answered. */
static json_t *api_result_doc(api_ctx_t *c, const char *id, const json_t *run)
{
    mt__store_rows_t rows;
    api_cfg_ud_t ud = {json_object_get(run, "config")};
    char err[256] = "";
    json_t *doc = NULL, *started, *v;
    int rc = c->st->ops->run_rows(c->st, id, NULL, 0, 100000000, &rows);

    if (rc != MT_OK) {
        api_store_err(c, rc, "run");
        return NULL;
    }
    rc = mt__analysis_result_doc(rows.rows, rows.n, api_result_config_cb, &ud, &doc, err,
                                 sizeof err);
    mt__store_rows_dispose(&rows);
    if (rc == MT_ENOMEM) {
        api_problem(c, 500, "internal", NULL, "run %s: out of memory", id);
        return NULL;
    }
    if (rc != MT_OK) {
        api_problem(c, 500, "internal", NULL, "run %s: stored data is corrupt%s%s", id,
                    err[0] ? ": " : "", err);
        return NULL;
    }
    api_mark_interrupted(json_object_get(doc, "summary"), run);
    api_whole_breakdown(json_object_get(doc, "summary"), run);
    started = json_object_get(run, "started_at");
    if (!json_is_string(started))
        started = json_object_get(run, "created_at");
    if (json_is_string(started))
        json_object_set(doc, "started_at", started);
    v = json_object_get(run, "verdicts");
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
        /* Last-Event-ID: the id of a second this stream sent (0 .. 2^32-1); a larger number
         * is clamped (nothing older is replayed), anything else is refused */
        const char *le = c->req->last_event_id;
        int64_t from = 0;
        if (le && *le) {
            size_t dl = strspn(le, "0123456789");
            if (dl == 0 || le[dl] != '\0') {
                api_problem(c, 400, "bad-last-event-id", NULL,
                            "Last-Event-ID must be the id of an event of this stream (a whole "
                            "number), not '%.40s'",
                            le);
                json_decref(run);
                return;
            }
            long long x = dl > 10 ? (long long)UINT32_MAX : strtoll(le, NULL, 10);
            from = (x > (long long)UINT32_MAX ? (long long)UINT32_MAX : x) + 1;
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
    mt__selector_t *sel = NULL;
    if (selector) {
        mt_parse_err_t perr = {0};
        sel = malloc(sizeof *sel);
        if (sel == NULL) {
            api_problem(c, 500, "internal", NULL, "out of memory");
            return;
        }
        if (mt__selector_parse(selector, sel, &perr) != MT_OK) {
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
                        : sel == NULL || mt__selector_match(sel, json_object_get(a, "labels"));
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
    mt__cron_t cr;
    mt_parse_err_t pe;
    if (mt__cron_parse(json_string_value(json_object_get(b, "cron")), &cr, &pe) != MT_OK)
        return 0;
    int64_t n = mt__cron_next(&cr, mt__now_ms() / 1000);
    return n < 0 ? 0 : n;
}

static void api_schedules(api_ctx_t *c, const char *m, const char *id)
{
    mt__store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (strcmp(m, "GET") == 0) {
        mt__store_page_t pg;
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
    json_t *b = strcmp(m, "PATCH") == 0 ? api_patched(c, id, 1, mt__body_schedule)
                                        : api_body(c, mt__body_schedule);
    if (b == NULL)
        return;
    if (api_policy_test(c, json_string_value(json_object_get(b, "test_id")))) {
        json_decref(b);
        return;
    }
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

/* What non-admins see of webhooks: the URL's scheme and host only (paths and queries often
 * hold secrets; ports tell what listens where), and of deliveries neither the receiver's status
 * nor the error (a failed delivery's error answers a port scan). */
static void api_webhook_redact(json_t *items, int deliveries)
{
    size_t i;
    json_t *w;
    json_array_foreach(items, i, w)
    {
        if (deliveries) {
            json_object_set_new(w, "last_status", json_null());
            json_object_set_new(w, "last_error", json_null());
            continue;
        }
        const char *url = json_string_value(json_object_get(w, "url"));
        char out[300] = "";
        if (url) {
            const char *h = strstr(url, "://");
            h = h ? h + 3 : url;
            size_t sl = (size_t)(h - url);
            const char *at = h + strcspn(h, "/?#");
            const char *cred = memchr(h, '@', (size_t)(at - h));
            if (cred)
                h = cred + 1;
            size_t hl = strcspn(h, "/?#");
            if (h[0] == '[') {
                const char *rb = memchr(h, ']', hl);
                hl = rb ? (size_t)(rb - h) + 1 : hl;
            } else {
                hl = strcspn(h, "/?#:");
            }
            snprintf(out, sizeof out, "%.*s%.*s/", (int)sl, url, (int)(hl > 250 ? 250 : hl), h);
        }
        json_object_set_new(w, "url", json_string(out));
        json_object_set_new(w, "url_redacted", json_true());
    }
}

static void api_webhooks(api_ctx_t *c, const char *m, const char *id, const char *sub)
{
    mt__store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    mt__store_page_t pg;
    if (api_auth(c, strcmp(m, "GET") == 0 ? ROLE_VIEWER : ROLE_ADMIN))
        return;
    if (strcmp(m, "GET") == 0) {
        if (api_page(c, &pg))
            return;
        rc =
            sub ? s->ops->webhook_deliveries(s, id, &pg, &out) : s->ops->webhook_list(s, &pg, &out);
        if (rc == MT_OK && c->role != ROLE_ADMIN)
            api_webhook_redact(json_object_get(out, "items"), sub != NULL);
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
        mt__policy_t *p = mt__serve_policy(c->sv);
        char why[512] = "";
        int refused =
            p == NULL || mt__policy_check_url(p, json_string_value(json_object_get(b, "url")), why,
                                              sizeof why) != 0;
        mt__policy_unref(p);
        if (refused) {
            api_problem(c, 422, "policy", "/url", "%s", why[0] ? why : "out of memory");
            json_decref(b);
            return;
        }
        rc = s->ops->webhook_create(s, json_string_value(json_object_get(b, "url")),
                                    json_string_value(json_object_get(b, "secret")),
                                    json_object_get(b, "events"), &out);
        rc == MT_OK ? api_json(c, 201, out) : api_store_err(c, rc, "webhook");
        json_decref(b);
    }
}

static void api_tokens(api_ctx_t *c, const char *m, const char *id)
{
    mt__store_t *s = c->st;
    json_t *out = NULL;
    int rc;
    if (api_auth(c, ROLE_ADMIN))
        return;
    if (strcmp(m, "GET") == 0) {
        mt__store_page_t pg;
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
        if (mt__token_secret(secret) != MT_OK) { /* fail closed: never a weak token */
            mt__log(MT_LOG_ERROR, "no random bytes for a token secret", NULL);
            api_problem(c, 503, "no-randomness", NULL,
                        "the system's random source failed: no token was made; try again");
            json_decref(b);
            return;
        }
        mt__sha256_hex(secret, strlen(secret), hash);
        rc = s->ops->token_create(s, json_string_value(json_object_get(b, "name")),
                                  json_string_value(json_object_get(b, "role")), hash, &out);
        if (rc == MT_OK) {
            /* the secret is shown once and stored nowhere: a replay of this request with its
             * Idempotency-Key gets the token's metadata only (docs/serve.md "Secrets") */
            c->idem_body = json_dumps(out, JSON_COMPACT);
            json_object_set_new(out, "token", json_string(secret));
            api_json(c, 201, out);
        } else
            api_store_err(c, rc, "token");
        json_decref(b);
    }
}

/* ---- routing ----------------------------------------------------------------------------- */

/* Allowed methods of a route; 0 when the method is one of them. */
static int api_allow(api_ctx_t *c, const char *route, const char *allow)
{
    snprintf(c->resp->route, sizeof c->resp->route, "%s", route);
    const char *m = c->req->method;
    if (mt__api_allowed(allow, m))
        return 0;
    c->resp->allow = allow;
    api_problem(c, 405, "method-not-allowed", NULL, "%s is not allowed here (allowed: %s)", m,
                allow);
    return -1;
}

/* Replays or records the response of a POST with an Idempotency-Key; returns 1 when the
 * response is already set (replayed or refused). */
static int api_idem_before(api_ctx_t *c, char hash[65])
{
    const char *k = c->req->idempotency_key;
    if (api_auth(c, ROLE_VIEWER)) /* who asks comes first: no validation answers before auth */
        return 1;
    size_t kl = strlen(k);
    int ok = kl >= 1 && kl <= 255;
    for (size_t i = 0; ok && i < kl; i++)
        ok = k[i] > 0x20 && k[i] < 0x7f;
    if (!ok) {
        api_problem(c, 422, "validation", NULL,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return 1;
    }
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
    int status = 0, rc;
    /* Several servers share the keys: the first to reserve one (a row with status 0) runs the
     * request; a twin on another server waits for its response (polled: at most
     * API_IDEM_WAIT_MS), then replays it. */
    int64_t deadline = mt__now_ms() + API_IDEM_WAIT_MS;
    for (;;) {
        rc = c->st->ops->idem_get(c->st, c->token_id, k, &rh, &status, &ct, &body);
        if (rc == MT_ENOTFOUND) {
            int claimed = 1;
            if (c->st->ops->idem_claim != NULL &&
                (rc = c->st->ops->idem_claim(c->st, c->token_id, k, hash, &claimed)) != MT_OK) {
                api_store_err(c, rc, "idempotency key");
                return 1;
            }
            if (claimed)
                return 0;
            continue; /* a twin reserved it between the two calls */
        }
        if (rc != MT_OK) {
            api_store_err(c, rc, "idempotency key");
            return 1;
        }
        if (status != 0 || strcmp(rh, hash) != 0)
            break;
        free(rh);
        free(ct);
        free(body);
        rh = ct = body = NULL;
        if (mt__now_ms() >= deadline) {
            api_problem(c, 409, "idempotency-in-progress", NULL,
                        "a request with Idempotency-Key '%s' is still being processed; retry", k);
            return 1;
        }
        struct timespec ts = {0, API_IDEM_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
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

static void api_route(api_ctx_t *c, const mt__api_match_t *r)
{
    const char *m = c->req->method, *id = r->id, *sub = r->sub;
    if (r->kind == MT__R_NONE) {
        snprintf(c->resp->route, sizeof c->resp->route, "other");
        api_problem(c, 404, "not-found", NULL, "no such endpoint: %s", c->req->path);
        return;
    }
    if (api_allow(c, r->route, r->allow))
        return;
    switch (r->kind) {
    case MT__R_OPENAPI:
        api_set(c->resp, 200, "application/json", strdup(mt__openapi_json), mt__openapi_len);
        break;
    case MT__R_TESTS:
        api_tests(c, m);
        break;
    case MT__R_TEST:
        api_test(c, m, id);
        break;
    case MT__R_TEST_SUB:
        api_test_sub(c, m, id, sub);
        break;
    case MT__R_RUNS:
        api_runs(c, m);
        break;
    case MT__R_RUN:
        api_run(c, m, id, sub);
        break;
    case MT__R_SCHEDULES:
    case MT__R_SCHEDULE:
        api_schedules(c, m, id);
        break;
    case MT__R_WHOAMI:
        /* who the token is: the UI shows only what the role may do */
        if (api_auth(c, ROLE_VIEWER) == 0) {
            json_t *w =
                json_pack("{s:s,s:s}", "token_id", c->token_id, "role", api_role_name(c->role));
            if (w != NULL && c->sv->trace_url != NULL) /* serve --trace-url (docs/tracing.md) */
                json_object_set_new(w, "trace_url", json_string(c->sv->trace_url));
            api_json(c, 200, w);
        }
        break;
    case MT__R_AGENTS:
    case MT__R_AGENT:
        if (api_auth(c, ROLE_VIEWER) == 0)
            api_agents(c, id);
        break;
    case MT__R_WEBHOOKS:
    case MT__R_WEBHOOK:
        api_webhooks(c, m, id, sub);
        break;
    case MT__R_POLICY:
        api_policy(c, m);
        break;
    default: /* tokens */
        api_tokens(c, m, id);
        break;
    }
}

int mt__api_viewer(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp)
{
    api_ctx_t c = {.sv = sv, .st = sv->store, .req = req, .resp = resp};
    memset(resp, 0, sizeof *resp);
    return api_auth(&c, ROLE_VIEWER);
}

int mt__api_runner(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp, json_t **creator)
{
    api_ctx_t c = {.sv = sv, .st = sv->store, .req = req, .resp = resp};
    memset(resp, 0, sizeof *resp);
    int rc = api_auth(&c, ROLE_RUNNER);
    if (rc == 0 && creator != NULL)
        *creator = api_creator(&c);
    return rc;
}

void mt__api_handle(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp)
{
    api_ctx_t c = {.sv = sv, .st = sv->store, .req = req, .resp = resp};
    memset(resp, 0, sizeof *resp);
    snprintf(resp->route, sizeof resp->route, "other");
    mt__api_match_t route;
    int mrc = mt__api_match(req->path, &route);
    if (mrc == -2) {
        api_problem(&c, 414, "uri-too-long", NULL, "the path is over %d bytes", MT__MAX_PATH - 1);
        return;
    }
    if (mrc != 0 && route.kind == MT__R_NONE && strncmp(req->path, "/api/v1/", 8) != 0) {
        api_problem(&c, 404, "not-found", NULL, "no such endpoint: %s", req->path);
        return;
    }
    if (req->body_too_large) {
        api_problem(&c, 413, "payload-too-large", NULL, "the body is over %zu bytes",
                    MT__API_MAX_BODY);
        return;
    }
    char hash[65];
    /* POST and PATCH are not idempotent by themselves: they honour Idempotency-Key */
    int idem = (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PATCH") == 0) &&
               req->idempotency_key != NULL;
    if (!idem) {
        api_route(&c, &route);
        free(c.idem_body);
        return;
    }
    /* Keyed POSTs run one at a time, lookup to store, so two concurrent requests with one key
     * cannot both run (POSTs are rare; reads never take this lock). */
    static pthread_mutex_t idem_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&idem_mu);
    if (!api_idem_before(&c, hash)) {
        api_route(&c, &route);
        /* the first response is kept (not server errors, nor 429 too-many-runs: those may
         * succeed when retried) */
        if (resp->status < 500 && resp->status != 401 && resp->status != 429 && c.role != ROLE_NONE)
            c.st->ops->idem_put(c.st, c.token_id, req->idempotency_key, hash, resp->status,
                                resp->ctype,
                                c.idem_body  ? c.idem_body
                                : resp->body ? resp->body
                                             : "");
        else if (c.st->ops->idem_release != NULL && c.token_id[0] != '\0')
            c.st->ops->idem_release(c.st, c.token_id, req->idempotency_key); /* may be retried */
    }
    pthread_mutex_unlock(&idem_mu);
    free(c.idem_body);
}
