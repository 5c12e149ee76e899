/* HTML and text reports of mortar results (report.h). The page is the template web/report/
 * report.html with its @@NAME@@ markers replaced by the embedded assets and the page data. */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "result/result.h"

#define RP_MAX_COUNTERS                                                48 /* rows of MT_COUNTER_MAP, at most */
#define XX(field, merge, presence, summary, second, value, web, label) +1
_Static_assert(0 MT_COUNTER_MAP(XX) <= RP_MAX_COUNTERS, "RP_MAX_COUNTERS: too small");
#undef XX
#include "mortar/error.h"
#include "mortar/hist.h"

#define RP_SCHEMA_ID  "mortar.result/v1"
#define RP_MAX_KINDS  32   /* distinct error kinds in the per-second series */
#define RP_MAX_DIST   4096 /* percentile-distribution points per histogram */
#define RP_DIST_TICKS 5    /* HdrHistogram's default ticks per half distance */
#define RP_DUMP_FLAGS (JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_REAL_PRECISION(10))
#define RP_PATH_MAX   96

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct rp_ctx {
    const char *label;
    char *err;
    size_t errlen;
} rp_ctx_t;

static int rp_fail(const rp_ctx_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rp_fail(const rp_ctx_t *c, int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->err == NULL || c->errlen == 0)
        return code;
    n = snprintf(c->err, c->errlen, "%s: ", c->label);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int rp_nomem(const rp_ctx_t *c)
{
    return rp_fail(c, MT_ENOMEM, "out of memory");
}

static const char *rp_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* ---- field access with paths in the messages --------------------------------------------- */

/* parent[key] of the given type; where is parent's path ("summary", "seconds[3]"). */
static int rp_field(const rp_ctx_t *c, const json_t *parent, const char *where, const char *key,
                    json_type type, json_t **out)
{
    json_t *v = json_object_get(parent, key);
    const char *want;

    *out = NULL;
    if (v == NULL)
        return rp_fail(c, MT_EFORMAT, "%s%s%s: missing", where, *where ? "." : "", key);
    if (json_typeof(v) == type || (type == JSON_REAL && json_is_number(v)) ||
        (type == JSON_TRUE && json_is_boolean(v))) {
        *out = v;
        return MT_OK;
    }
    switch (type) {
    case JSON_OBJECT:
        want = "an object";
        break;
    case JSON_ARRAY:
        want = "an array";
        break;
    case JSON_STRING:
        want = "a string";
        break;
    case JSON_TRUE:
        want = "a boolean";
        break;
    default:
        want = "a number";
        break;
    }
    return rp_fail(c, MT_EFORMAT, "%s%s%s: %s, not %s", where, *where ? "." : "", key,
                   rp_type_name(v), want);
}

static int rp_object(const rp_ctx_t *c, const json_t *parent, const char *where, const char *key,
                     json_t **out)
{
    return rp_field(c, parent, where, key, JSON_OBJECT, out);
}

/* A number field (integer or real). */
static int rp_number(const rp_ctx_t *c, const json_t *parent, const char *where, const char *key,
                     json_t **out)
{
    return rp_field(c, parent, where, key, JSON_REAL, out);
}

/* Checks that every dotted path in keys (NULL-terminated) is a number below obj. */
static int rp_numbers(const rp_ctx_t *c, const json_t *obj, const char *where,
                      const char *const *keys)
{
    char path[RP_PATH_MAX];
    json_t *v;
    int rc;

    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *dot = strchr(keys[i], '.');
        if (dot == NULL) {
            rc = rp_number(c, obj, where, keys[i], &v);
        } else {
            char head[32];
            json_t *sub;
            size_t hl = (size_t)(dot - keys[i]);
            if (hl >= sizeof(head))
                hl = sizeof(head) - 1;
            memcpy(head, keys[i], hl);
            head[hl] = '\0';
            rc = rp_object(c, obj, where, head, &sub);
            if (rc == MT_OK) {
                snprintf(path, sizeof(path), "%s%s%s", where, *where ? "." : "", head);
                rc = rp_number(c, sub, path, dot + 1, &v);
            }
        }
        if (rc != MT_OK)
            return rc;
    }
    return MT_OK;
}

/* A validated number below obj by dotted path (one dot at most); NAN when absent. */
static double rp_get(const json_t *obj, const char *key)
{
    const char *dot = strchr(key, '.');
    json_t *v;

    if (dot != NULL) {
        char head[32];
        size_t hl = (size_t)(dot - key);
        if (hl >= sizeof(head))
            return NAN;
        memcpy(head, key, hl);
        head[hl] = '\0';
        obj = json_object_get(obj, head);
        key = dot + 1;
    }
    v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---- validation -------------------------------------------------------------------------- */

static const char *const rp_pcts_second[] = {"p50", "p90", "p99", "p999", "max", NULL};
static const char *const rp_pcts_total[] = {"p50", "p90",  "p95", "p99", "p999",
                                            "max", "mean", "min", NULL};
static const char *const rp_pcts_breakdown[] = {"p50", "p90", "p99", "max", "mean", NULL};
static const char *const rp_phases[] = {"connect", "send", "wait", "receive"};
static const char *const rp_lat_keys[] = {"p50", "p90", "p99", "p999", "max"};

static bool rp_status_key(const char *k)
{
    if (strcmp(k, "other") == 0)
        return true;
    return k[0] >= '1' && k[0] <= '5' && k[1] >= '0' && k[1] <= '9' && k[2] >= '0' && k[2] <= '9' &&
           k[3] == '\0';
}

/* An object of counts: status codes (status = true) or error kinds. */
static int rp_counts(const rp_ctx_t *c, const json_t *parent, const char *where, const char *key,
                     bool status, json_t **out)
{
    char path[RP_PATH_MAX];
    const char *k;
    json_t *v;
    int rc = rp_object(c, parent, where, key, out);

    if (rc != MT_OK)
        return rc;
    snprintf(path, sizeof(path), "%s%s%s", where, *where ? "." : "", key);
    json_object_foreach(*out, k, v)
    {
        if (status && !rp_status_key(k))
            return rp_fail(c, MT_EFORMAT, "%s: '%.20s' is not a status code", path, k);
        if (!json_is_number(v))
            return rp_fail(c, MT_EFORMAT, "%s.%.20s: %s, not a number", path, k, rp_type_name(v));
    }
    return MT_OK;
}

static int rp_pcts(const rp_ctx_t *c, const json_t *parent, const char *where, const char *key,
                   const char *const *pcts)
{
    char path[RP_PATH_MAX];
    json_t *o;
    int rc = rp_object(c, parent, where, key, &o);

    if (rc != MT_OK)
        return rc;
    snprintf(path, sizeof(path), "%s%s%s", where, *where ? "." : "", key);
    return rp_numbers(c, o, path, pcts);
}

static int rp_check_config(const rp_ctx_t *c, const json_t *root)
{
    static const char *const nums[] = {"connections", "threads", "duration_s", NULL};
    json_t *cfg, *v;
    int rc;

    if ((rc = rp_object(c, root, "", "config", &cfg)) != MT_OK ||
        (rc = rp_field(c, cfg, "config", "url", JSON_STRING, &v)) != MT_OK ||
        (rc = rp_field(c, cfg, "config", "method", JSON_STRING, &v)) != MT_OK ||
        (rc = rp_numbers(c, cfg, "config", nums)) != MT_OK ||
        (rc = rp_field(c, cfg, "config", "model", JSON_STRING, &v)) != MT_OK)
        return rc;
    if (strcmp(json_string_value(v), "open") != 0 && strcmp(json_string_value(v), "closed") != 0)
        return rp_fail(c, MT_EFORMAT, "config.model: '%.20s', not 'open' or 'closed'",
                       json_string_value(v));
    return MT_OK;
}

static int rp_check_tag(const rp_ctx_t *c, const json_t *tag, const char *where)
{
    static const char *const nums[] = {"requests", "errors", "completed", NULL};
    json_t *v;
    int rc;

    if (!json_is_object(tag))
        return rp_fail(c, MT_EFORMAT, "%s: %s, not an object", where, rp_type_name(tag));
    if ((rc = rp_numbers(c, tag, where, nums)) != MT_OK ||
        (rc = rp_counts(c, tag, where, "status", true, &v)) != MT_OK ||
        (rc = rp_pcts(c, tag, where, "latency_us", rp_pcts_total)) != MT_OK)
        return rc;
    return MT_OK;
}

static int rp_check_summary(const rp_ctx_t *c, const json_t *root, json_t **out)
{
    /* the summary's numbers: these, and the counters of the table it always carries */
    static const char *const fixed[] = {"requests", "rps", "duration_s", "max_open_connections"};
    const char *nums[sizeof(fixed) / sizeof(fixed[0]) + RP_MAX_COUNTERS + 1];
    size_t nn = 0;
    char path[RP_PATH_MAX];
    json_t *s, *v, *bd, *tags;
    const char *k;
    int rc;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        nums[nn++] = fixed[i];
    for (size_t i = 0; i < mt__ncounters; i++)
        if (mt__counters[i].presence != MT__CP_NONZERO)
            nums[nn++] = mt__counters[i].summary;
    nums[nn] = NULL;
    if ((rc = rp_object(c, root, "", "summary", &s)) != MT_OK ||
        (rc = rp_numbers(c, s, "summary", nums)) != MT_OK ||
        (rc = rp_counts(c, s, "summary", "errors_by_kind", false, &v)) != MT_OK ||
        (rc = rp_counts(c, s, "summary", "status", true, &v)) != MT_OK ||
        (rc = rp_pcts(c, s, "summary", "latency_us", rp_pcts_total)) != MT_OK ||
        (rc = rp_pcts(c, s, "summary", "service_us", rp_pcts_total)) != MT_OK ||
        (rc = rp_object(c, s, "summary", "breakdown_us", &bd)) != MT_OK ||
        (rc = rp_field(c, s, "summary", "interrupted", JSON_TRUE, &v)) != MT_OK)
        return rc;
    for (size_t i = 0; i < sizeof(rp_phases) / sizeof(rp_phases[0]); i++)
        if ((rc = rp_pcts(c, bd, "summary.breakdown_us", rp_phases[i], rp_pcts_breakdown)) != MT_OK)
            return rc;
    tags = json_object_get(s, "tags");
    if (tags != NULL) {
        if (!json_is_object(tags))
            return rp_fail(c, MT_EFORMAT, "summary.tags: %s, not an object", rp_type_name(tags));
        json_object_foreach(tags, k, v)
        {
            snprintf(path, sizeof(path), "summary.tags[\"%.24s\"]", k);
            if ((rc = rp_check_tag(c, v, path)) != MT_OK)
                return rc;
        }
    }
    *out = s;
    return MT_OK;
}

/* ---- per-second columns -------------------------------------------------------------------- */

/* Appends v (a validated number) to arr; false when out of memory. */
static bool rp_push(json_t *arr, json_t *v)
{
    return json_array_append(arr, v) == 0;
}

/* The column for key in a map of columns (status codes, error kinds), created on first use and
 * back-filled with zeros for the seconds before it appeared. NULL when out of memory. */
static json_t *rp_map_col(json_t *map, const char *key, size_t filled)
{
    json_t *col = json_object_get(map, key), *zero;

    if (col != NULL)
        return col;
    col = json_array();
    zero = json_integer(0);
    if (col == NULL || zero == NULL || json_object_set_new(map, key, col) != 0) {
        json_decref(zero);
        return NULL;
    }
    for (size_t i = 0; i < filled; i++)
        if (json_array_append(col, zero) != 0) {
            json_decref(zero);
            return NULL;
        }
    json_decref(zero);
    return col;
}

/* Pads every column of map with zeros to n entries. */
static bool rp_map_pad(json_t *map, size_t n)
{
    const char *k;
    json_t *col, *zero = json_integer(0);
    bool ok = zero != NULL;

    json_object_foreach(map, k, col)
    {
        while (ok && json_array_size(col) < n)
            ok = json_array_append(col, zero) == 0;
    }
    json_decref(zero);
    return ok;
}

/* Adds one second's counts object to the map of columns (second index i). */
static int rp_map_add(const rp_ctx_t *c, json_t *map, const json_t *counts, size_t i,
                      size_t max_keys, const char *where)
{
    const char *k;
    json_t *v, *col;

    json_object_foreach((json_t *)counts, k, v)
    {
        if (json_object_get(map, k) == NULL && json_object_size(map) >= max_keys)
            return rp_fail(c, MT_EFORMAT, "%s: more than %zu different keys", where, max_keys);
        col = rp_map_col(map, k, i);
        if (col == NULL)
            return rp_nomem(c);
        if (!rp_push(col, v))
            return rp_nomem(c);
    }
    return MT_OK;
}

/* Removes the columns that are zero all through (error kinds that never happened). */
static void rp_map_drop_zero(json_t *map)
{
    const char *k;
    void *tmp;
    json_t *col, *v;
    size_t i;

    json_object_foreach_safe(map, tmp, k, col)
    {
        bool any = false;
        json_array_foreach(col, i, v)
        {
            if (json_number_value(v) != 0) {
                any = true;
                break;
            }
        }
        if (!any)
            json_object_del(map, k);
    }
}

/* Per-second columns: these four, then one per counter of the table (named by its "web"
 * name: "due", "lag_mean", ...). */
enum { RP_C_T, RP_C_SPAN, RP_C_OPEN, RP_C_BACKLOG, RP_C__FIXED };
static const char *const rp_col_names[RP_C__FIXED] = {"t", "span", "open", "backlog"};
static const char *const rp_col_keys[RP_C__FIXED] = {"t", "span_s", "open_connections", "backlog"};
#define RP_C__COUNT (RP_C__FIXED + RP_MAX_COUNTERS)

/* ---- exemplars (docs/tracing.md) ----------------------------------------------------------- */

#define RP_MAX_EXEMPLARS 25 /* of each kind (slow, errors) in the page: the run's slowest */

static bool rp_hex_ok(const json_t *v, size_t n)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A second's exemplars joined to ex[0] (slow) and ex[1] (errors), each entry with its "t". */
static int rp_exemplars_add(const rp_ctx_t *c, const json_t *sec, const char *where, json_t **ex)
{
    const json_t *o = json_object_get(sec, "exemplars");
    static const char *const keys[2] = {"slow", "errors"};
    if (o == NULL)
        return MT_OK;
    if (!json_is_object(o))
        return rp_fail(c, MT_EFORMAT, "%s.exemplars: %s, not an object", where, rp_type_name(o));
    for (int k = 0; k < 2; k++) {
        const json_t *a = json_object_get(o, keys[k]), *e;
        size_t i;
        if (a == NULL)
            continue;
        if (!json_is_array(a))
            return rp_fail(c, MT_EFORMAT, "%s.exemplars.%s: %s, not an array", where, keys[k],
                           rp_type_name(a));
        json_array_foreach(a, i, e)
        {
            const json_t *lat = json_object_get(e, "latency_us");
            if (!json_is_object(e) || !rp_hex_ok(json_object_get(e, "trace_id"), 32) ||
                !rp_hex_ok(json_object_get(e, "span_id"), 16) || !json_is_integer(lat))
                return rp_fail(c, MT_EFORMAT,
                               "%s.exemplars.%s[%zu]: expected trace_id (32 hex), span_id (16 "
                               "hex) and latency_us",
                               where, keys[k], i);
            json_t *x = json_deep_copy(e);
            if (x == NULL || json_object_set(x, "t", json_object_get(sec, "t")) != 0 ||
                json_array_append_new(ex[k], x) != 0)
                return rp_nomem(c);
        }
    }
    return MT_OK;
}

static int rp_ex_cmp(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "latency_us"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "latency_us"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* run.exemplars = {"slow": [...], "errors": [...]}: the run's RP_MAX_EXEMPLARS slowest of each;
 * absent when the run kept none. Takes ex. */
static int rp_exemplars_finish(const rp_ctx_t *c, json_t **ex, json_t *run)
{
    json_t *o = NULL;
    int rc = MT_OK;
    if (ex[0] == NULL || ex[1] == NULL) {
        rc = rp_nomem(c);
        goto out;
    }
    if (json_array_size(ex[0]) + json_array_size(ex[1]) == 0)
        goto out;
    o = json_object();
    for (int k = 0; o != NULL && k < 2; k++) {
        size_t n = json_array_size(ex[k]);
        json_t **v = malloc((n ? n : 1) * sizeof *v), *keep = json_array();
        for (size_t i = 0; v != NULL && i < n; i++)
            v[i] = json_array_get(ex[k], i);
        if (v != NULL)
            qsort(v, n, sizeof *v, rp_ex_cmp);
        for (size_t i = 0; v != NULL && keep != NULL && i < n && i < RP_MAX_EXEMPLARS; i++)
            json_array_append(keep, v[i]);
        free(v);
        if (keep == NULL || json_object_set_new(o, k == 0 ? "slow" : "errors", keep) != 0) {
            rc = rp_nomem(c);
            goto out;
        }
    }
    if (o == NULL || json_object_set(run, "exemplars", o) != 0)
        rc = rp_nomem(c);
out:
    json_decref(o);
    json_decref(ex[0]);
    json_decref(ex[1]);
    return rc;
}

static int rp_seconds1(const rp_ctx_t *c, const json_t *root, json_t *run, json_t **ex);

static int rp_seconds(const rp_ctx_t *c, const json_t *root, json_t *run)
{
    json_t *ex[2] = {json_array(), json_array()}; /* slow, errors: kept by the run */
    int rc = ex[0] != NULL && ex[1] != NULL ? rp_seconds1(c, root, run, ex) : rp_nomem(c);
    if (rc != MT_OK) {
        json_decref(ex[0]);
        json_decref(ex[1]);
        return rc;
    }
    return rp_exemplars_finish(c, ex, run);
}

static int rp_seconds1(const rp_ctx_t *c, const json_t *root, json_t *run, json_t **ex)
{
    json_t *secs, *out, *cols[RP_C__COUNT], *lat, *svc, *status, *kinds, *sec, *v, *o;
    char where[RP_PATH_MAX];
    double prev_t = -1;
    size_t i;
    int rc;

    if ((rc = rp_field(c, root, "", "seconds", JSON_ARRAY, &secs)) != MT_OK)
        return rc;
    out = json_object();
    if (out == NULL || json_object_set_new(run, "seconds", out) != 0)
        return rp_nomem(c);
    for (i = 0; i < RP_C__FIXED + mt__ncounters; i++) {
        const char *name = i < RP_C__FIXED ? rp_col_names[i] : mt__counters[i - RP_C__FIXED].web;
        cols[i] = json_array();
        if (cols[i] == NULL || json_object_set_new(out, name, cols[i]) != 0)
            return rp_nomem(c);
    }
    lat = json_object();
    svc = json_object();
    status = json_object();
    kinds = json_object();
    if (json_object_set_new(out, "lat", lat) != 0 || json_object_set_new(out, "svc", svc) != 0 ||
        json_object_set_new(out, "status", status) != 0 ||
        json_object_set_new(out, "errors_by_kind", kinds) != 0)
        return rp_nomem(c);
    for (i = 0; i < sizeof(rp_lat_keys) / sizeof(rp_lat_keys[0]); i++) {
        json_t *a = json_array(), *b = json_array();
        if (json_object_set_new(lat, rp_lat_keys[i], a) != 0 ||
            json_object_set_new(svc, rp_lat_keys[i], b) != 0)
            return rp_nomem(c);
    }

    json_array_foreach(secs, i, sec)
    {
        snprintf(where, sizeof(where), "seconds[%zu]", i);
        if (!json_is_object(sec))
            return rp_fail(c, MT_EFORMAT, "%s: %s, not an object", where, rp_type_name(sec));
        for (int k = 0; k < RP_C__FIXED; k++) {
            if ((rc = rp_number(c, sec, where, rp_col_keys[k], &v)) != MT_OK)
                return rc;
            if (!rp_push(cols[k], v))
                return rp_nomem(c);
        }
        v = json_object_get(sec, "t");
        if (!(json_number_value(v) > prev_t))
            return rp_fail(c, MT_EFORMAT, "%s.t: %g does not follow the second before (%g)", where,
                           json_number_value(v), prev_t);
        prev_t = json_number_value(v);

        for (size_t k = 0; k < mt__ncounters; k++) {
            const mt__counter_desc_t *d = &mt__counters[k];
            const char *one[] = {d->second, NULL};
            v = mt__result_path(sec, d->second);
            if (v == NULL && d->presence != MT__CP_ALWAYS) {
                if (json_array_append_new(cols[RP_C__FIXED + k], json_integer(0)) != 0)
                    return rp_nomem(c); /* absent: 0 */
                continue;
            }
            if ((rc = rp_numbers(c, sec, where, one)) != MT_OK)
                return rc;
            if (!rp_push(cols[RP_C__FIXED + k], v))
                return rp_nomem(c);
        }
        for (int h = 0; h < 2; h++) {
            const char *key = h == 0 ? "latency_us" : "service_us";
            json_t *dst = h == 0 ? lat : svc;
            char w2[RP_PATH_MAX + 16];
            if ((rc = rp_pcts(c, sec, where, key, rp_pcts_second)) != MT_OK)
                return rc;
            o = json_object_get(sec, key);
            snprintf(w2, sizeof(w2), "%s.%s", where, key);
            for (size_t k = 0; k < sizeof(rp_lat_keys) / sizeof(rp_lat_keys[0]); k++)
                if (!rp_push(json_object_get(dst, rp_lat_keys[k]),
                             json_object_get(o, rp_lat_keys[k])))
                    return rp_nomem(c);
        }
        if ((rc = rp_counts(c, sec, where, "status", true, &o)) != MT_OK ||
            (rc = rp_map_add(c, status, o, i, 1000, where)) != MT_OK ||
            (rc = rp_counts(c, sec, where, "errors_by_kind", false, &o)) != MT_OK ||
            (rc = rp_map_add(c, kinds, o, i, RP_MAX_KINDS, where)) != MT_OK)
            return rc;
        if (!rp_map_pad(status, i + 1) || !rp_map_pad(kinds, i + 1))
            return rp_nomem(c);
        if ((rc = rp_exemplars_add(c, sec, where, ex)) != MT_OK)
            return rc;
    }
    rp_map_drop_zero(kinds);
    return MT_OK;
}

/* ---- percentile distribution --------------------------------------------------------------- */

typedef struct rp_dist {
    json_t *x, *p, *v;
    uint64_t total;
    double last_x;
    bool full, oom;
} rp_dist_t;

static int rp_dist_point(double percentile, int64_t value, uint64_t count_to, void *ud)
{
    rp_dist_t *d = ud;
    double x;
    size_t n = json_array_size(d->x);

    (void)count_to;
    if (n >= RP_MAX_DIST) {
        d->full = true;
        return 1;
    }
    /* 1/(1-p); the maximum (p = 100) goes where one in `total` values lies beyond */
    x = percentile < 100.0 ? 1.0 / (1.0 - percentile / 100.0) : (double)d->total;
    if (n > 0 && !(x > d->last_x)) {
        /* same place on the axis as the point before: keep the larger value there */
        json_t *last = json_array_get(d->v, n - 1);
        if ((double)value > json_number_value(last))
            d->oom |= json_integer_set(last, value) != 0 ||
                      json_real_set(json_array_get(d->p, n - 1), percentile) != 0;
        return 0;
    }
    d->last_x = x;
    d->oom |= json_array_append_new(d->x, json_real(x)) != 0 ||
              json_array_append_new(d->p, json_real(percentile)) != 0 ||
              json_array_append_new(d->v, json_integer(value)) != 0;
    return d->oom;
}

static int rp_hist(const rp_ctx_t *c, const json_t *hists, const char *key, json_t *dist)
{
    json_t *s, *o;
    mt_hist_t *h = NULL;
    rp_dist_t d = {0};
    int rc;

    if ((rc = rp_field(c, hists, "histograms", key, JSON_STRING, &s)) != MT_OK)
        return rc;
    rc = mt_hist_decode(json_string_value(s), json_string_length(s), &h);
    if (rc == MT_ENOMEM)
        return rp_nomem(c);
    if (rc != MT_OK)
        return rp_fail(c, MT_EFORMAT, "histograms.%s: not an HdrHistogram encoding (%s)", key,
                       mt_strerror(rc));
    o = json_object();
    d.x = json_array();
    d.p = json_array();
    d.v = json_array();
    d.total = mt_hist_count(h);
    if (o == NULL || json_object_set_new(o, "x", d.x) != 0 ||
        json_object_set_new(o, "p", d.p) != 0 || json_object_set_new(o, "v", d.v) != 0 ||
        json_object_set_new(dist, key, o) != 0) {
        rc = rp_nomem(c);
        goto out;
    }
    mt_hist_foreach_percentile(h, RP_DIST_TICKS, rp_dist_point, &d);
    if (d.oom)
        rc = rp_nomem(c);
out:
    mt_hist_free(h);
    return rc;
}

/* ---- one run ------------------------------------------------------------------------------- */

static int rp_copy(const rp_ctx_t *c, json_t *run, const char *key, json_t *v)
{
    if (v != NULL && json_object_set(run, key, v) != 0)
        return rp_nomem(c);
    return MT_OK;
}

/* Parses and checks one input, and builds its RUN object (report.h). *doc_out keeps the parsed
 * document (the rows read it). */
static int rp_run(const rp_ctx_t *c, const mt__report_src_t *src, json_t **run_out,
                  json_t **doc_out)
{
    json_error_t je;
    json_t *doc = NULL, *run = NULL, *v, *summary = NULL, *hists, *dist;
    int rc;

    *run_out = NULL;
    *doc_out = NULL;
    if (src == NULL || src->json == NULL)
        return rp_fail(c, MT_EINVAL, "no input");
    doc = json_loadb(src->json, src->len, 0, &je);
    if (doc == NULL)
        return rp_fail(c, MT_EFORMAT, "not JSON: line %d col %d: %s", je.line, je.column, je.text);
    if (!json_is_object(doc)) {
        rc = rp_fail(c, MT_EFORMAT, "not a mortar result: the document is %s, not an object",
                     rp_type_name(doc));
        goto out;
    }
    v = json_object_get(doc, "schema");
    if (!json_is_string(v)) {
        rc = rp_fail(c, MT_EFORMAT, "not a mortar result: no \"schema\": \"" RP_SCHEMA_ID "\"");
        goto out;
    }
    if (strcmp(json_string_value(v), RP_SCHEMA_ID) != 0) {
        rc = rp_fail(c, MT_EFORMAT, "schema is '%.60s', this mortar reads '" RP_SCHEMA_ID "'",
                     json_string_value(v));
        goto out;
    }
    run = json_object();
    dist = json_object();
    if (run == NULL || dist == NULL || json_object_set_new(run, "dist", dist) != 0 ||
        json_object_set_new(run, "label", json_string(c->label)) != 0) {
        rc = rp_nomem(c);
        goto out;
    }
    if ((rc = rp_check_config(c, doc)) != MT_OK ||
        (rc = rp_check_summary(c, doc, &summary)) != MT_OK ||
        (rc = rp_seconds(c, doc, run)) != MT_OK ||
        (rc = rp_object(c, doc, "", "histograms", &hists)) != MT_OK ||
        (rc = rp_hist(c, hists, "latency", dist)) != MT_OK ||
        (rc = rp_hist(c, hists, "service", dist)) != MT_OK)
        goto out;
    v = json_object_get(doc, "verdicts");
    if (v != NULL && !json_is_array(v)) {
        rc = rp_fail(c, MT_EFORMAT, "verdicts: %s, not an array", rp_type_name(v));
        goto out;
    }
    if ((rc = rp_copy(c, run, "verdicts", v)) != MT_OK ||
        (rc = rp_copy(c, run, "config", json_object_get(doc, "config"))) != MT_OK ||
        (rc = rp_copy(c, run, "summary", summary)) != MT_OK ||
        (rc = rp_copy(c, run, "mortar_version", json_object_get(doc, "mortar_version"))) != MT_OK ||
        (rc = rp_copy(c, run, "started_at", json_object_get(doc, "started_at"))) != MT_OK ||
        (rc = rp_copy(c, run, "interrupted", json_object_get(summary, "interrupted"))) != MT_OK)
        goto out;
    *run_out = run;
    *doc_out = doc;
    return MT_OK;
out:
    json_decref(run);
    json_decref(doc);
    return rc;
}

/* ---- comparison rows ----------------------------------------------------------------------- */

enum { RP_NEUTRAL, RP_LOWER, RP_HIGHER };

typedef struct rp_row {
    const char *group;
    char name[48];
    const char *unit; /* "count", "rate", "us", "pct", "s" */
    double a, b;      /* NAN: not applicable */
    int better;
} rp_row_t;

typedef struct rp_rows {
    rp_row_t *v;
    size_t n, cap;
} rp_rows_t;

static bool rp_row_add(rp_rows_t *r, const char *group, const char *name, const char *unit,
                       double a, double b, int better)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        rp_row_t *v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL)
            return false;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n].group = group;
    snprintf(r->v[r->n].name, sizeof(r->v[r->n].name), "%s", name);
    r->v[r->n].unit = unit;
    r->v[r->n].a = a;
    r->v[r->n].b = b;
    r->v[r->n].better = better;
    r->n++;
    return true;
}

static bool rp_is_open(const json_t *doc)
{
    const char *m = json_string_value(json_object_get(json_object_get(doc, "config"), "model"));
    return m != NULL && strcmp(m, "open") == 0;
}

static double rp_planned_rps(const json_t *doc)
{
    const json_t *cfg = json_object_get(doc, "config");
    double d = rp_get(cfg, "duration_s"), n = rp_get(cfg, "planned_requests");

    if (!rp_is_open(doc))
        return NAN;
    if (isfinite(n) && d > 0)
        return n / d;
    return rp_get(cfg, "rate");
}

static double rp_error_rate(const json_t *s)
{
    double e = rp_get(s, "errors"), done = rp_get(s, "completed") + e;
    return done > 0 ? 100.0 * e / done : 0;
}

static double rp_non_2xx3xx(const json_t *s)
{
    const char *k;
    json_t *v;
    double sum = 0;

    json_object_foreach(json_object_get(s, "status"), k, v)
    {
        if (!(k[0] == '2' || k[0] == '3'))
            sum += json_number_value(v);
    }
    return sum;
}

/* Summary value or NAN for a document that is NULL (single run). */
static double rp_sv(const json_t *doc, const char *key)
{
    return doc == NULL ? NAN : rp_get(json_object_get(doc, "summary"), key);
}

static bool rp_kind_seen(const char *kind, const json_t *da, const json_t *db)
{
    const json_t *docs[2] = {da, db};
    for (int i = 0; i < 2; i++) {
        json_t *k = json_object_get(
            json_object_get(json_object_get(docs[i], "summary"), "errors_by_kind"), kind);
        if (k != NULL && json_number_value(k) != 0)
            return true;
    }
    return false;
}

/* The table rows for doc a (and b, NULL for a single run). */
static bool rp_rows(rp_rows_t *r, const json_t *da, const json_t *db)
{
    static const struct {
        const char *key, *name;
    } lat[] = {{"p50", "p50"},    {"p90", "p90"}, {"p95", "p95"},  {"p99", "p99"},
               {"p999", "p99.9"}, {"max", "max"}, {"mean", "mean"}};
    const json_t *sa = json_object_get(da, "summary"), *sb = json_object_get(db, "summary");
    bool open = rp_is_open(da) || (db != NULL && rp_is_open(db)), ok = true;
    const char *k;
    json_t *v;
    char name[64], key[64];

#define ROW(g, n, u, key_, better)                                                                 \
    ok = ok && rp_row_add(r, g, n, u, rp_sv(da, key_), rp_sv(db, key_), better)
#define ROWV(g, n, u, va, vb, better) ok = ok && rp_row_add(r, g, n, u, va, vb, better)
    ROW("Throughput", "requests", "count", "requests", RP_HIGHER);
    ROW("Throughput", "achieved rps", "rate", "rps", RP_HIGHER);
    if (open)
        ROWV("Throughput", "planned rps", "rate", rp_planned_rps(da), db ? rp_planned_rps(db) : NAN,
             RP_NEUTRAL);
    ROW("Throughput", "duration", "s", "duration_s", RP_NEUTRAL);

    ROW("Errors", "errors", "count", "errors", RP_LOWER);
    ROWV("Errors", "error rate", "pct", rp_error_rate(sa), sb ? rp_error_rate(sb) : NAN, RP_LOWER);
    /* kinds in a's order, then those only b has */
    for (int pass = 0; pass < 2; pass++) {
        const json_t *s = pass == 0 ? sa : sb;
        json_object_foreach(json_object_get(s, "errors_by_kind"), k, v)
        {
            if (pass == 1 && json_object_get(json_object_get(sa, "errors_by_kind"), k) != NULL)
                continue;
            if (!rp_kind_seen(k, da, db))
                continue;
            snprintf(name, sizeof(name), "  %.30s", k);
            snprintf(key, sizeof(key), "errors_by_kind.%.40s", k);
            ROW("Errors", name, "count", key, RP_LOWER);
        }
    }
    ROWV("Errors", "non-2xx/3xx responses", "count", rp_non_2xx3xx(sa),
         sb ? rp_non_2xx3xx(sb) : NAN, RP_LOWER);
    if (open) {
        ROW("Errors", "dropped (never sent)", "count", "dropped", RP_LOWER);
        ROW("Errors", "late (>1ms after due)", "count", "late", RP_LOWER);
    }
    if (json_number_value(json_object_get(sa, "abandoned")) > 0 ||
        json_number_value(json_object_get(sb, "abandoned")) > 0)
        ROW("Errors", "abandoned (unanswered at the end)", "count", "abandoned", RP_LOWER);

    for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
        snprintf(key, sizeof(key), "latency_us.%s", lat[i].key);
        ROW(open ? "Latency (from due time)" : "Latency", lat[i].name, "us", key, RP_LOWER);
    }
    if (open)
        for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
            snprintf(key, sizeof(key), "service_us.%s", lat[i].key);
            ROW("Service time (from send)", lat[i].name, "us", key, RP_LOWER);
        }
    for (size_t i = 0; i < sizeof(rp_phases) / sizeof(rp_phases[0]); i++) {
        const json_t *ba = json_object_get(json_object_get(sa, "breakdown_us"), rp_phases[i]);
        const json_t *bb = json_object_get(json_object_get(sb, "breakdown_us"), rp_phases[i]);
        static const char *const pk[] = {"p50", "p99"};
        for (int j = 0; j < 2; j++) {
            snprintf(name, sizeof(name), "%s %s", rp_phases[i], pk[j]);
            ROWV("Timing breakdown", name, "us", rp_get(ba, pk[j]), sb ? rp_get(bb, pk[j]) : NAN,
                 RP_LOWER);
        }
    }
    ROW("Connections", "connects", "count", "connects", RP_NEUTRAL);
    ROW("Connections", "max open connections", "count", "max_open_connections", RP_NEUTRAL);
    if (open) {
        ROW("Connections", "schedule lag mean", "us", "mean_schedule_lag_us", RP_LOWER);
        ROW("Connections", "schedule lag max", "us", "max_schedule_lag_us", RP_LOWER);
    }
    /* the counters written only when not 0 (TLS handshakes, HTTP/2 events: the table's
     * NONZERO rows), when either run has one */
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        const json_t *va, *vb;
        if (d->presence != MT__CP_NONZERO || strcmp(d->summary, "abandoned") == 0)
            continue; /* abandoned: with the errors */
        va = mt__result_path(sa, d->summary);
        vb = sb != NULL ? mt__result_path(sb, d->summary) : NULL;
        if (json_number_value(va) == 0 && json_number_value(vb) == 0)
            continue;
        ROWV("Protocol", d->label, "count", json_number_value(va),
             db != NULL ? json_number_value(vb) : NAN, RP_NEUTRAL);
    }
#undef ROW
#undef ROWV
    return ok;
}

static json_t *rp_num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *rp_rows_json(const rp_rows_t *r, bool two)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < r->n; i++) {
        const rp_row_t *w = &r->v[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "g", w->group, "n", w->name, "u",
                              w->unit, "a", rp_num_or_null(w->a), "better",
                              w->better == RP_LOWER    ? json_string("lower")
                              : w->better == RP_HIGHER ? json_string("higher")
                                                       : json_null());
        if (o == NULL || (two && json_object_set_new(o, "b", rp_num_or_null(w->b)) != 0) ||
            json_array_append_new(arr, o) != 0) {
            json_decref(o);
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* ---- the data -------------------------------------------------------------------------------- */

typedef struct rp_docs {
    json_t *doc[2];
    json_t *data;
    rp_rows_t rows;
} rp_docs_t;

static void rp_docs_dispose(rp_docs_t *d)
{
    json_decref(d->doc[0]);
    json_decref(d->doc[1]);
    json_decref(d->data);
    free(d->rows.v);
    memset(d, 0, sizeof(*d));
}

static int rp_build(const mt__report_src_t *a, const mt__report_src_t *b, rp_docs_t *d, char *err,
                    size_t errlen)
{
    const mt__report_src_t *src[2] = {a, b};
    json_t *runs, *run, *rows;
    int rc = MT_OK;

    memset(d, 0, sizeof(*d));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    d->data = json_object();
    runs = json_array();
    if (d->data == NULL || runs == NULL || json_object_set_new(d->data, "runs", runs) != 0 ||
        json_object_set_new(d->data, "generator", json_string("mortar " MT_VERSION)) != 0) {
        rp_ctx_t c = {"report", err, errlen};
        rc = rp_nomem(&c);
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        rp_ctx_t c = {NULL, err, errlen};
        if (i == 1 && b == NULL)
            break;
        c.label = src[i] != NULL && src[i]->label != NULL ? src[i]->label
                  : b == NULL                             ? "result"
                  : i == 0                                ? "A"
                                                          : "B";
        if ((rc = rp_run(&c, src[i], &run, &d->doc[i])) != MT_OK)
            goto out;
        if (json_array_append_new(runs, run) != 0) {
            rc = rp_nomem(&c);
            goto out;
        }
    }
    rows = NULL;
    if (!rp_rows(&d->rows, d->doc[0], d->doc[1]) ||
        (rows = rp_rows_json(&d->rows, b != NULL)) == NULL ||
        json_object_set_new(d->data, "rows", rows) != 0) {
        rp_ctx_t c = {"report", err, errlen};
        rc = rp_nomem(&c);
        goto out;
    }
    return MT_OK;
out:
    rp_docs_dispose(d);
    return rc;
}

int mt__report_data(const mt__report_src_t *a, const mt__report_src_t *b, json_t **out, char *err,
                    size_t errlen)
{
    rp_docs_t d;
    int rc = rp_build(a, b, &d, err, errlen);

    *out = NULL;
    if (rc != MT_OK)
        return rc;
    *out = d.data;
    d.data = NULL;
    rp_docs_dispose(&d);
    return MT_OK;
}

/* ---- HTML -------------------------------------------------------------------------------- */

static const mt__asset_t *rp_asset(const char *name)
{
    for (size_t i = 0; i < mt__report_nassets; i++)
        if (strcmp(mt__report_assets[i].name, name) == 0)
            return &mt__report_assets[i];
    return NULL;
}

static void rp_html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* JSON inside <script type="application/json">: '<', '>' and '&' only occur inside strings
 * there, where \u escapes mean the same, so no text can close or confuse the script element. */
static int rp_dump_cb(const char *buf, size_t size, void *ud)
{
    FILE *f = ud;
    size_t start = 0;

    for (size_t i = 0; i < size; i++) {
        const char *esc = buf[i] == '<'   ? "\\u003c"
                          : buf[i] == '>' ? "\\u003e"
                          : buf[i] == '&' ? "\\u0026"
                                          : NULL;
        if (esc == NULL)
            continue;
        if (fwrite(buf + start, 1, i - start, f) != i - start || fputs(esc, f) == EOF)
            return -1;
        start = i + 1;
    }
    return fwrite(buf + start, 1, size - start, f) == size - start ? 0 : -1;
}

static void rp_title(FILE *f, const rp_docs_t *d)
{
    const json_t *runs = json_object_get(d->data, "runs");
    const json_t *r0 = json_array_get(runs, 0), *r1 = json_array_get(runs, 1);

    if (r1 != NULL) {
        fputs("mortar: ", f);
        rp_html_text(f, json_string_value(json_object_get(r0, "label")));
        fputs(" vs ", f);
        rp_html_text(f, json_string_value(json_object_get(r1, "label")));
        return;
    }
    const json_t *cfg = json_object_get(d->doc[0], "config");
    fputs("mortar: ", f);
    rp_html_text(f, json_string_value(json_object_get(cfg, "method")));
    fputc(' ', f);
    rp_html_text(f, json_string_value(json_object_get(cfg, "url")));
}

/* Writes the text a marker stands for; false when name is not a marker. */
static bool rp_marker(FILE *f, const char *name, size_t len, const rp_docs_t *d, const rp_ctx_t *c,
                      int *rc)
{
    static const struct {
        const char *marker, *asset;
    } subst[] = {
        {"UPLOT_CSS", "uPlot.min.css"},    {"REPORT_CSS", "report.css"},
        {"UPLOT_JS", "uPlot.iife.min.js"}, {"FMT_JS", "fmt.js"},
        {"REPORT_JS", "report.js"},
    };

    *rc = MT_OK;
    if (len == 5 && memcmp(name, "TITLE", 5) == 0) {
        rp_title(f, d);
        return true;
    }
    if (len == 4 && memcmp(name, "DATA", 4) == 0) {
        if (json_dump_callback(d->data, rp_dump_cb, f, RP_DUMP_FLAGS) != 0 && !ferror(f))
            *rc = rp_nomem(c);
        return true;
    }
    for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
        if (strlen(subst[i].marker) != len || memcmp(name, subst[i].marker, len) != 0)
            continue;
        const mt__asset_t *a = rp_asset(subst[i].asset);
        if (a == NULL)
            *rc = rp_fail(c, MT_EINVAL, "%s is not embedded in this build", subst[i].asset);
        else
            fwrite(a->data, 1, a->len, f);
        return true;
    }
    return false;
}

/* The template with each @@NAME@@ marker replaced (report.html). */
static int rp_html_write(FILE *f, const rp_docs_t *d, const rp_ctx_t *c)
{
    const mt__asset_t *tpl = rp_asset("report.html");
    const char *p, *end, *m, *me;
    int rc = MT_OK;

    if (tpl == NULL)
        return rp_fail(c, MT_EINVAL, "report.html is not embedded in this build");
    p = (const char *)tpl->data;
    end = p + tpl->len;
    while (p < end && rc == MT_OK) {
        m = memmem(p, (size_t)(end - p), "@@", 2);
        if (m == NULL) {
            fwrite(p, 1, (size_t)(end - p), f);
            break;
        }
        fwrite(p, 1, (size_t)(m - p), f);
        me = memmem(m + 2, (size_t)(end - m - 2), "@@", 2);
        if (me != NULL && me - m - 2 <= 32 &&
            rp_marker(f, m + 2, (size_t)(me - m - 2), d, c, &rc)) {
            p = me + 2;
        } else {
            fwrite(m, 1, 2, f);
            p = m + 2;
        }
    }
    return rc;
}

int mt__report_html(FILE *f, const mt__report_src_t *a, const mt__report_src_t *b, char *err,
                    size_t errlen)
{
    rp_docs_t d;
    rp_ctx_t c = {"report", err, errlen};
    int rc = rp_build(a, b, &d, err, errlen);

    if (rc != MT_OK)
        return rc;
    rc = rp_html_write(f, &d, &c);
    if (rc == MT_OK && (fflush(f) != 0 || ferror(f)))
        rc = rp_fail(&c, MT_ESYS, "cannot write the page: %s", strerror(errno));
    rp_docs_dispose(&d);
    return rc;
}

int mt__report_write_file(const mt__report_src_t *a, const mt__report_src_t *b,
                          const char *out_path, char *err, size_t errlen)
{
    rp_ctx_t c = {out_path, err, errlen};
    struct stat st;
    char *tmp = NULL;
    FILE *f;
    int rc;

    if (strcmp(out_path, "-") == 0)
        return mt__report_html(stdout, a, b, err, errlen);
    /* a device or a pipe (/dev/null, /dev/stdout) is written in place: never renamed over */
    if (stat(out_path, &st) == 0 && !S_ISREG(st.st_mode)) {
        f = fopen(out_path, "w");
        if (f == NULL)
            return rp_fail(&c, MT_ESYS, "cannot open: %s", strerror(errno));
        rc = mt__report_html(f, a, b, err, errlen);
        if (fclose(f) != 0 && rc == MT_OK)
            rc = rp_fail(&c, MT_ESYS, "cannot write: %s", strerror(errno));
        return rc;
    }
    size_t n = strlen(out_path) + 32;
    tmp = malloc(n);
    if (tmp == NULL)
        return rp_nomem(&c);
    snprintf(tmp, n, "%s.tmp.%ld", out_path, (long)getpid());
    f = fopen(tmp, "w");
    if (f == NULL) {
        rc = rp_fail(&c, MT_ESYS, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    rc = mt__report_html(f, a, b, err, errlen);
    if (rc == MT_OK && fsync(fileno(f)) != 0)
        rc = rp_fail(&c, MT_ESYS, "cannot write '%s': %s", tmp, strerror(errno));
    if (fclose(f) != 0 && rc == MT_OK)
        rc = rp_fail(&c, MT_ESYS, "cannot write '%s': %s", tmp, strerror(errno));
    if (rc == MT_OK && rename(tmp, out_path) != 0)
        rc = rp_fail(&c, MT_ESYS, "cannot rename '%s' to '%s': %s", tmp, out_path, strerror(errno));
    if (rc != MT_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

int mt__report_write(const char *json_a, size_t len_a, const char *json_b, size_t len_b,
                     const char *out_path, char *err, size_t errlen)
{
    mt__report_src_t a = {json_a, len_a, NULL}, b = {json_b, len_b, NULL};
    return mt__report_write_file(&a, json_b != NULL ? &b : NULL, out_path, err, errlen);
}

/* ---- text -------------------------------------------------------------------------------- */

static void rp_fmt(char *buf, size_t n, const char *unit, double v, bool sign)
{
    const char *s = sign && v > 0 ? "+" : sign && v < 0 ? "-" : "";
    double m = sign ? fabs(v) : v;

    if (!isfinite(v)) {
        snprintf(buf, n, "-");
    } else if (strcmp(unit, "us") == 0) {
        char t[24];
        mt__fmt_us(t, sizeof(t), m);
        snprintf(buf, n, "%s%s", s, t);
    } else if (strcmp(unit, "rate") == 0) {
        snprintf(buf, n, "%s%.2f", s, m);
    } else if (strcmp(unit, "pct") == 0) {
        snprintf(buf, n, "%s%.2f%%", s, m);
    } else if (strcmp(unit, "s") == 0) {
        snprintf(buf, n, "%s%.2fs", s, m);
    } else {
        snprintf(buf, n, "%s%.0f", s, m);
    }
}

static void rp_text_verdicts(FILE *f, const json_t *doc, const char *label)
{
    const json_t *vs = json_object_get(doc, "verdicts");
    const json_t *v;
    size_t i;

    if (json_array_size(vs) == 0)
        return;
    fprintf(f, "Verdicts%s%s%s\n", label ? " (" : "", label ? label : "", label ? ")" : "");
    json_array_foreach(vs, i, v)
    {
        const json_t *passed = json_object_get(v, "passed");
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *spec = json_string_value(json_object_get(v, "spec"));
        if (spec == NULL) /* a baseline verdict: its message names the regressions */
            spec = json_string_value(json_object_get(v, "message"));
        fprintf(f, "  %-4s  %-10s %s\n",
                json_is_boolean(passed) ? (json_is_true(passed) ? "PASS" : "FAIL") : "?",
                kind ? kind : "?", spec ? spec : "");
    }
}

static void rp_text_run_line(FILE *f, const char *tag, const json_t *run, const json_t *doc)
{
    const json_t *cfg = json_object_get(doc, "config");
    const char *started = json_string_value(json_object_get(doc, "started_at"));

    fprintf(f, "%s%s: %s %s, %s model, %.0fs%s%s%s\n", tag,
            json_string_value(json_object_get(run, "label")),
            json_string_value(json_object_get(cfg, "method")),
            json_string_value(json_object_get(cfg, "url")),
            json_string_value(json_object_get(cfg, "model")), rp_get(cfg, "duration_s"),
            started ? ", started " : "", started ? started : "",
            json_is_true(json_object_get(run, "interrupted")) ? " (interrupted)" : "");
}

int mt__report_text(FILE *f, const mt__report_src_t *a, const mt__report_src_t *b, char *err,
                    size_t errlen)
{
    rp_docs_t d;
    rp_ctx_t c = {"report", err, errlen};
    const json_t *runs;
    const char *group = NULL;
    char va[32], vb[32], dv[32], dp[32];
    int rc = rp_build(a, b, &d, err, errlen);

    if (rc != MT_OK)
        return rc;
    runs = json_object_get(d.data, "runs");
    if (b == NULL) {
        rp_text_run_line(f, "", json_array_get(runs, 0), d.doc[0]);
    } else {
        rp_text_run_line(f, "A = ", json_array_get(runs, 0), d.doc[0]);
        rp_text_run_line(f, "B = ", json_array_get(runs, 1), d.doc[1]);
        fprintf(f, "\n%-28s %12s %12s %12s %9s\n", "", "A", "B", "B - A", "change");
    }
    for (size_t i = 0; i < d.rows.n; i++) {
        const rp_row_t *w = &d.rows.v[i];
        if (group == NULL || strcmp(group, w->group) != 0) {
            group = w->group;
            fprintf(f, "%s\n", group);
        }
        rp_fmt(va, sizeof(va), w->unit, w->a, false);
        if (b == NULL) {
            fprintf(f, "  %-26s %12s\n", w->name, va);
            continue;
        }
        rp_fmt(vb, sizeof(vb), w->unit, w->b, false);
        rp_fmt(dv, sizeof(dv), w->unit, w->b - w->a, true);
        if (!isfinite(w->a) || !isfinite(w->b))
            snprintf(dp, sizeof(dp), "-");
        else if (w->a == w->b)
            snprintf(dp, sizeof(dp), "0.0%%");
        else if (w->a == 0)
            snprintf(dp, sizeof(dp), "new");
        else
            snprintf(dp, sizeof(dp), "%+.1f%%", 100.0 * (w->b - w->a) / fabs(w->a));
        if (isfinite(w->a) && isfinite(w->b) && w->a == w->b)
            snprintf(dv, sizeof(dv), "0");
        fprintf(f, "  %-26s %12s %12s %12s %9s\n", w->name, va, vb, dv, dp);
    }
    rp_text_verdicts(f, d.doc[0], b != NULL ? "A" : NULL);
    if (b != NULL)
        rp_text_verdicts(f, d.doc[1], "B");
    if (fflush(f) != 0 || ferror(f))
        rc = rp_fail(&c, MT_ESYS, "cannot write the table: %s", strerror(errno));
    rp_docs_dispose(&d);
    return rc;
}

int mt__report_compare_text(FILE *f, const char *json_a, size_t len_a, const char *json_b,
                            size_t len_b, char *err, size_t errlen)
{
    mt__report_src_t a = {json_a, len_a, NULL}, b = {json_b, len_b, NULL};
    return mt__report_text(f, &a, json_b != NULL ? &b : NULL, err, errlen);
}
