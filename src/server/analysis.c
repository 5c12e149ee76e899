/* Analysis over stored rows: a window's summary recomputed exactly from the seconds'
 * histograms (merged, never averaged) and counters (added), and the comparison of two
 * summaries against tolerances. The summary is built by the same code as `mortar run
 * --json`'s (src/result), so its shape is the result JSON's "summary". */
#include "server/analysis.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result/baseline.h"
#include "result/result.h"
#include "mortar/error.h"
#include "mortar/hist.h"

typedef struct an_acc {
    mt_counters_t c;
    mt_hist_t *lat, *svc;
    double span_s;     /* "" rows: sum of the seconds' spans */
    uint32_t max_open; /* max over seconds */
} an_acc_t;

static int an_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int an_fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (n == 0)
        return MT_EPARSE;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return MT_EPARSE;
}

static int an_hist(const char *b64, const char *what, size_t row, mt_hist_t *into, char *err,
                   size_t n)
{
    mt_hist_t *h = NULL;
    int rc;
    if (b64 == NULL)
        return an_fail(err, n, "row %zu: %s: missing", row, what);
    rc = mt_hist_decode(b64, strlen(b64), &h);
    if (rc != MT_OK)
        return an_fail(err, n, "row %zu: %s: not a HdrHistogram V2 encoding", row, what);
    mt_hist_add(into, h);
    mt_hist_free(h);
    return MT_OK;
}

/* Adds one row into acc: its counters as the result builder wrote them (src/result). */
static int an_add_row(an_acc_t *acc, const mt__agg_row_t *row, size_t i, char *err, size_t n)
{
    mt_counters_t c;
    json_error_t je;
    json_t *o;
    const json_t *span, *oc;
    char why[128];
    int rc = MT_OK;

    if (row->data_json == NULL)
        return an_fail(err, n, "row %zu: data_json: missing", i);
    o = json_loads(row->data_json, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return an_fail(err, n, "row %zu: data_json: not a JSON object", i);
    }
    if (mt__result_get_counters(o, true, &c, why, sizeof(why)) != MT_OK) {
        rc = an_fail(err, n, "row %zu: data_json.%s", i, why);
        goto out;
    }
    span = json_object_get(o, "span_s");
    if (!json_is_number(span) || json_number_value(span) < 0) {
        rc = an_fail(err, n, "row %zu: data_json.span_s: expected a number >= 0", i);
        goto out;
    }
    acc->span_s += json_number_value(span);
    oc = json_object_get(o, "open_connections");
    if (json_is_integer(oc) && json_integer_value(oc) > (json_int_t)acc->max_open &&
        json_integer_value(oc) <= UINT32_MAX)
        acc->max_open = (uint32_t)json_integer_value(oc);
    if ((rc = an_hist(row->latency_b64, "latency_b64", i, acc->lat, err, n)) != MT_OK ||
        (rc = an_hist(row->service_b64, "service_b64", i, acc->svc, err, n)) != MT_OK)
        goto out;
    mt_counters_add(&acc->c, &c);
out:
    json_decref(o);
    return rc;
}

static void an_result(const an_acc_t *a, mt_run_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->c = a->c;
    r->elapsed_ns = (int64_t)llround(a->span_s * 1e9);
    r->max_open_conns = a->max_open;
    r->latency = a->lat;
    r->service = a->svc;
}

struct mt__analysis_totals {
    an_acc_t all, tacc[MT_MAX_TAGS];
    const char *names[MT_MAX_TAGS]; /* borrowed from the rows */
    mt_tag_stats_t ts[MT_MAX_TAGS];
    size_t ntags;
    mt_run_result_t res;
};

void mt__analysis_totals_free(mt__analysis_totals_t *t)
{
    if (t == NULL)
        return;
    mt_hist_free(t->all.lat);
    mt_hist_free(t->all.svc);
    for (size_t i = 0; i < t->ntags; i++) {
        mt_hist_free(t->tacc[i].lat);
        mt_hist_free(t->tacc[i].svc);
    }
    free(t);
}

int mt__analysis_totals(const mt__agg_row_t *rows, size_t n, mt__analysis_totals_t **out, char *err,
                        size_t errlen)
{
    mt__analysis_totals_t *t = calloc(1, sizeof(*t));
    int rc = MT_OK;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (t == NULL || mt_hist_new_latency(&t->all.lat) != MT_OK ||
        mt_hist_new_latency(&t->all.svc) != MT_OK) {
        an_fail(err, errlen, "out of memory");
        rc = MT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && rc == MT_OK; i++) {
        const char *tag = rows[i].tag != NULL ? rows[i].tag : "";
        an_acc_t *acc = &t->all;
        if (tag[0] != '\0') {
            size_t k = 0;
            while (k < t->ntags && strcmp(t->names[k], tag) != 0)
                k++;
            if (k == t->ntags) {
                if (t->ntags == MT_MAX_TAGS) {
                    rc = an_fail(err, errlen, "row %zu: more than %d tags", i, MT_MAX_TAGS);
                    break;
                }
                t->names[t->ntags++] = tag;
                if (mt_hist_new_latency(&t->tacc[k].lat) != MT_OK ||
                    mt_hist_new_latency(&t->tacc[k].svc) != MT_OK) {
                    an_fail(err, errlen, "out of memory");
                    rc = MT_ENOMEM;
                    break;
                }
            }
            acc = &t->tacc[k];
        }
        rc = an_add_row(acc, &rows[i], i, err, errlen);
    }
    if (rc != MT_OK)
        goto out;
    an_result(&t->all, &t->res);
    for (size_t k = 0; k < t->ntags; k++)
        t->ts[k] = (mt_tag_stats_t){
            .c = t->tacc[k].c, .latency = t->tacc[k].lat, .service = t->tacc[k].svc};
    t->res.tags = t->ntags > 0 ? t->ts : NULL;
    t->res.ntags = t->ntags;
    *out = t;
    t = NULL;
out:
    mt__analysis_totals_free(t);
    return rc;
}

const mt_run_result_t *mt__analysis_result(const mt__analysis_totals_t *t)
{
    return &t->res;
}

const char *const *mt__analysis_tags(const mt__analysis_totals_t *t, size_t *ntags)
{
    *ntags = t->ntags;
    return t->ntags > 0 ? t->names : NULL;
}

json_t *mt__analysis_summary(const mt__agg_row_t *rows, size_t n, char *err, size_t errlen)
{
    mt__analysis_totals_t *t = NULL;
    json_t *out = NULL;

    if (mt__analysis_totals(rows, n, &t, err, errlen) != MT_OK)
        return NULL;
    out = mt__result_summary_json(&t->res, false, t->names, t->ntags);
    if (out == NULL)
        an_fail(err, errlen, "out of memory");
    mt__analysis_totals_free(t);
    return out;
}

int mt__analysis_result_doc(const mt__agg_row_t *rows, size_t n, mt__analysis_config_cb config,
                            void *ud, json_t **out, char *err, size_t errlen)
{
    mt__analysis_totals_t *tot = NULL;
    mt__result_t *d = NULL;
    size_t nsec = 0;
    int rc;

    *out = NULL;
    if ((rc = mt__analysis_totals(rows, n, &tot, err, errlen)) != MT_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        nsec += rows[i].tag == NULL || rows[i].tag[0] == '\0';
    if ((rc = mt__result_new(config(&tot->res, nsec, ud), tot->ntags > 0 ? tot->names : NULL,
                             tot->ntags, &d)) != MT_OK) {
        an_fail(err, errlen, "out of memory");
        goto out;
    }
    /* the seconds as stored (the untagged rows), each with its latency histogram */
    for (size_t i = 0; i < n; i++) {
        json_t *sec;
        if (rows[i].tag != NULL && rows[i].tag[0] != '\0')
            continue;
        sec = json_loads(rows[i].data_json, 0, NULL); /* read once already by the totals */
        if (!json_is_object(sec)) {
            json_decref(sec);
            rc = an_fail(err, errlen, "row %zu: data_json: not a JSON object", i);
            goto out;
        }
        json_object_set_new(sec, "hist",
                            json_string(rows[i].latency_b64 != NULL ? rows[i].latency_b64 : ""));
        mt__result_add_second_json(d, sec);
    }
    if ((rc = mt__result_finish(d, &tot->res, false)) != MT_OK) {
        an_fail(err, errlen, "%s", rc == MT_ENOMEM ? "out of memory" : "cannot encode a histogram");
        goto out;
    }
    *out = json_incref(mt__result_doc(d));
out:
    mt__result_free(d);
    mt__analysis_totals_free(tot);
    return rc;
}

/* ---- comparison ---- */

/* The untagged rows' seconds into a series. */
static int an_series(const mt__agg_row_t *rows, size_t n, mt__bl_series_t *s, char *err,
                     size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        json_t *o;
        int rc;
        if (rows[i].tag != NULL && rows[i].tag[0] != '\0')
            continue;
        o = rows[i].data_json != NULL ? json_loads(rows[i].data_json, 0, NULL) : NULL;
        rc = o != NULL ? mt__bl_series_add(s, o) : MT_EINVAL;
        json_decref(o);
        if (rc != MT_OK)
            return rc == MT_EINVAL ? an_fail(err, errlen, "row %zu: data_json: not a second", i)
                                   : rc;
    }
    return MT_OK;
}

int mt__analysis_compare(const mt__agg_row_t *run, size_t nrun, const mt__agg_row_t *base,
                         size_t nbase, const json_t *tolerances, const char *base_id, json_t **out,
                         char *err, size_t errlen)
{
    json_t *rs = NULL, *bs = NULL;
    mt__bl_series_t *ra = mt__bl_series_new(), *ba = mt__bl_series_new();
    int rc = MT_ENOMEM;

    *out = NULL;
    if (ra == NULL || ba == NULL) {
        an_fail(err, errlen, "out of memory");
        goto out;
    }
    rc = MT_EPARSE;
    if ((rs = mt__analysis_summary(run, nrun, err, errlen)) == NULL ||
        (bs = mt__analysis_summary(base, nbase, err, errlen)) == NULL)
        goto out;
    if ((rc = an_series(run, nrun, ra, err, errlen)) != MT_OK ||
        (rc = an_series(base, nbase, ba, err, errlen)) != MT_OK)
        goto out;
    *out = mt__bl_compare(rs, ra, bs, ba, tolerances, base_id);
    rc = *out != NULL ? MT_OK : MT_ENOMEM;
    if (rc != MT_OK)
        an_fail(err, errlen, "out of memory");
out:
    json_decref(rs);
    json_decref(bs);
    mt__bl_series_free(ra);
    mt__bl_series_free(ba);
    return rc;
}
