/* The baseline verdict (baseline.h): result JSON in, mortar/compare.h's decisions out. */
#include "result/baseline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/compare.h"
#include "mortar/error.h"

enum { BL_P50, BL_P90, BL_P95, BL_P99, BL_P999, BL_RPS, BL_ERR, BL_N };

static const struct bl_desc {
    const char *name; /* in the verdict */
    const char *pkey; /* latency_us.<pkey>; NULL: computed */
    const char *tkey; /* tolerance key */
    const char *flag; /* --tolerance name */
    double tdef;      /* default tolerance */
    bool abs, higher_is_worse;
} bl_desc[BL_N] = {
    [BL_P50] = {"p50_us", "p50", "p50_pct", "p50", 10, false, true},
    [BL_P90] = {"p90_us", "p90", "p90_pct", "p90", 10, false, true},
    [BL_P95] = {"p95_us", "p95", "p95_pct", "p95", 10, false, true},
    [BL_P99] = {"p99_us", "p99", "p99_pct", "p99", 10, false, true},
    [BL_P999] = {"p999_us", "p999", "p999_pct", "p999", 10, false, true},
    [BL_RPS] = {"rps", NULL, "rps_pct", "rps", 5, false, false},
    [BL_ERR] = {"error_rate", NULL, "error_rate_abs", "error_rate", 0.01, true, true},
};

const char *const mt__bl_tolerance_keys[] = {"p50_pct",        "p90_pct",  "p95_pct",
                                             "p99_pct",        "p999_pct", "rps_pct",
                                             "error_rate_abs", "alpha",    NULL};

#define BL_MAX_SECONDS (1u << 22) /* a growable array's maximum: 48 days of seconds */

struct mt__bl_series {
    double *v[BL_N];
    size_t n[BL_N], cap[BL_N];
    size_t seconds;
};

mt__bl_series_t *mt__bl_series_new(void)
{
    return calloc(1, sizeof(mt__bl_series_t));
}

void mt__bl_series_free(mt__bl_series_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < BL_N; i++)
        free(s->v[i]);
    free(s);
}

size_t mt__bl_series_seconds(const mt__bl_series_t *s)
{
    return s->seconds;
}

static int bl_push(mt__bl_series_t *s, int i, double v)
{
    if (s->n[i] == s->cap[i]) {
        size_t cap = s->cap[i] ? s->cap[i] * 2 : 64;
        double *p;
        if (cap > BL_MAX_SECONDS)
            return MT_ETOOBIG;
        p = realloc(s->v[i], cap * sizeof(*p));
        if (p == NULL)
            return MT_ENOMEM;
        s->v[i] = p;
        s->cap[i] = cap;
    }
    s->v[i][s->n[i]++] = v;
    return MT_OK;
}

static bool bl_num(const json_t *o, const char *a, const char *b, double *out)
{
    const json_t *x = json_object_get(o, a);
    if (b != NULL)
        x = json_object_get(x, b);
    if (!json_is_number(x) || !isfinite(json_number_value(x)))
        return false;
    *out = json_number_value(x);
    return true;
}

int mt__bl_series_add(mt__bl_series_t *s, const json_t *sec)
{
    double span, done, errs;
    int rc = MT_OK;

    if (!json_is_object(sec) || !bl_num(sec, "span_s", NULL, &span) ||
        !bl_num(sec, "completed", NULL, &done) || !bl_num(sec, "errors", NULL, &errs) || span < 0 ||
        done < 0 || errs < 0)
        return MT_EINVAL;
    if (span < 0.5)
        return MT_OK;
    if (done > 0)
        for (int i = BL_P50; i <= BL_P999 && rc == MT_OK; i++) {
            double v;
            if (!bl_num(sec, "latency_us", bl_desc[i].pkey, &v))
                return MT_EINVAL;
            rc = bl_push(s, i, v);
        }
    if (rc == MT_OK)
        rc = bl_push(s, BL_RPS, done / span);
    if (rc == MT_OK && done + errs > 0)
        rc = bl_push(s, BL_ERR, errs / (done + errs));
    if (rc == MT_OK)
        s->seconds++;
    return rc;
}

int mt__bl_series_add_doc(mt__bl_series_t *s, const json_t *doc, char *err, size_t errlen)
{
    const json_t *secs = json_object_get(doc, "seconds"), *sec;
    size_t i;
    int rc;

    if (!json_is_array(secs)) {
        snprintf(err, errlen, "seconds: missing (not a mortar result document?)");
        return MT_EINVAL;
    }
    json_array_foreach(secs, i, sec)
    {
        if ((rc = mt__bl_series_add(s, sec)) != MT_OK) {
            snprintf(err, errlen, "seconds[%zu]: %s", i,
                     rc == MT_EINVAL ? "expected span_s, completed, errors and latency_us"
                                     : mt_strerror(rc));
            return rc;
        }
    }
    return MT_OK;
}

static double bl_tol(const json_t *tol, const char *key, double def)
{
    const json_t *x = json_object_get(tol, key);
    return json_is_number(x) && json_number_value(x) >= 0 ? json_number_value(x) : def;
}

/* The whole-run value of metric i; false when the summary lacks it. */
static bool bl_whole(const json_t *sum, int i, double *out)
{
    double e, c;
    if (bl_desc[i].pkey != NULL)
        return bl_num(sum, "latency_us", bl_desc[i].pkey, out);
    if (i == BL_RPS)
        return bl_num(sum, "rps", NULL, out);
    if (!bl_num(sum, "errors", NULL, &e) || !bl_num(sum, "requests", NULL, &c))
        return false;
    *out = e + c > 0 ? e / (e + c) : 0;
    return true;
}

static json_t *bl_real(double v, double scale)
{
    return json_real(round(v * scale) / scale);
}

json_t *mt__bl_compare(const json_t *run_summary, const mt__bl_series_t *run,
                       const json_t *base_summary, const mt__bl_series_t *base,
                       const json_t *tolerances, const char *base_run)
{
    double alpha = bl_tol(tolerances, "alpha", MT_CMP_ALPHA);
    json_t *out, *metrics, *regs;
    char msg[512] = "";
    size_t mlen = 0;
    bool any = false;

    if (!(alpha > 0 && alpha < 1))
        alpha = MT_CMP_ALPHA;
    out = json_pack("{s:s, s:s, s:f, s:{s:I, s:I}}", "kind", "baseline", "method", "mann-whitney-u",
                    "alpha", alpha, "seconds", "run", (json_int_t)(run ? run->seconds : 0), "base",
                    (json_int_t)(base ? base->seconds : 0));
    metrics = json_array();
    regs = json_array();
    if (out == NULL || metrics == NULL || regs == NULL) {
        json_decref(out);
        json_decref(metrics);
        json_decref(regs);
        return NULL;
    }
    if (base_run != NULL)
        json_object_set_new(out, "base_run", json_string(base_run));
    for (int i = 0; i < BL_N; i++) {
        mt_cmp_metric_t m = {0};
        json_t *o;
        if (!bl_whole(run_summary, i, &m.run) || !bl_whole(base_summary, i, &m.base))
            continue;
        m.run_s = run ? run->v[i] : NULL;
        m.nrun = run ? run->n[i] : 0;
        m.base_s = base ? base->v[i] : NULL;
        m.nbase = base ? base->n[i] : 0;
        m.tolerance = bl_tol(tolerances, bl_desc[i].tkey, bl_desc[i].tdef);
        m.tol_abs = bl_desc[i].abs;
        m.higher_is_worse = bl_desc[i].higher_is_worse;
        m.alpha = alpha;
        if (mt_cmp_metric(&m) != MT_OK)
            continue; /* MT_ENOMEM: the metric is left out rather than guessed */
        bool reg = m.decision == MT_CMP_REGRESSED;
        o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:f, s:s, s:b, s:o, s:b, s:s, s:b}", "name",
                      bl_desc[i].name, "run", bl_real(m.run, 1e6), "base", bl_real(m.base, 1e6),
                      "delta", bl_real(m.delta, 1e6), "delta_pct",
                      m.has_pct ? bl_real(m.delta_pct, 1e3) : json_null(), "tolerance", m.tolerance,
                      "tolerance_kind", m.tol_abs ? "abs" : "pct", "exceeds_tolerance", m.exceeds,
                      "p_value", m.tested ? json_real(m.mwu.p) : json_null(), "significant",
                      m.tested && m.mwu.p < alpha, "decision", mt_cmp_decision_name(m.decision),
                      "regression", reg);
        if (o == NULL)
            continue;
        json_array_append_new(metrics, o);
        if (!reg)
            continue;
        any = true;
        json_array_append_new(regs, json_string(bl_desc[i].name));
        if (mlen < sizeof(msg)) {
            int w;
            if (m.has_pct)
                w = snprintf(msg + mlen, sizeof(msg) - mlen, "%s%s %+.1f%% (p=%.2g)",
                             mlen ? ", " : "", bl_desc[i].name, round(m.delta_pct * 1e3) / 1e3,
                             m.mwu.p);
            else
                w = snprintf(msg + mlen, sizeof(msg) - mlen, "%s%s %+g (p=%.2g)", mlen ? ", " : "",
                             bl_desc[i].name, m.delta, m.mwu.p);
            mlen += w > 0 ? (size_t)w : 0;
        }
    }
    json_object_set_new(out, "metrics", metrics);
    json_object_set_new(out, "regressions", regs);
    json_object_set_new(out, "regressed", json_boolean(any));
    json_object_set_new(out, "passed", json_boolean(!any));
    json_object_set_new(out, "message",
                        json_string(any ? msg : "no regression beyond the tolerances"));
    return out;
}

int mt__bl_tolerance_parse(const char *text, json_t *tolerances, char *err, size_t errlen)
{
    const char *eq = strchr(text, '=');
    char name[32], *end;
    size_t nl;
    double v;
    bool pct;

    if (eq == NULL || eq == text || (nl = (size_t)(eq - text)) >= sizeof(name)) {
        snprintf(err, errlen, "'%s': expected NAME=VALUE, e.g. p99=10%% or error_rate=0.01", text);
        return MT_EINVAL;
    }
    memcpy(name, text, nl);
    name[nl] = '\0';
    v = strtod(eq + 1, &end);
    pct = *end == '%';
    if (end == eq + 1 || (pct ? end[1] != '\0' : *end != '\0') || !isfinite(v) || v < 0) {
        snprintf(err, errlen, "'%s': '%s' is not a number >= 0 (e.g. 10%%)", text, eq + 1);
        return MT_EINVAL;
    }
    if (strcmp(name, "alpha") == 0) {
        if (pct || !(v > 0 && v < 1)) {
            snprintf(err, errlen, "'%s': alpha must be a number between 0 and 1, e.g. 0.01", text);
            return MT_EINVAL;
        }
        json_object_set_new(tolerances, "alpha", json_real(v));
        return MT_OK;
    }
    for (int i = 0; i < BL_N; i++) {
        if (strcmp(name, bl_desc[i].flag) != 0 && strcmp(name, bl_desc[i].tkey) != 0)
            continue;
        if (bl_desc[i].abs) {
            if (pct)
                v /= 100;
            if (v > 1) {
                snprintf(err, errlen, "'%s': an error rate is a fraction 0..1 or a percent", text);
                return MT_EINVAL;
            }
        } else if (!pct && strcmp(name, bl_desc[i].tkey) != 0) {
            snprintf(err, errlen, "'%s': write the tolerance as a percent, e.g. %s=10%%", text,
                     name);
            return MT_EINVAL;
        }
        json_object_set_new(tolerances, bl_desc[i].tkey, json_real(v));
        return MT_OK;
    }
    snprintf(err, errlen,
             "'%s': unknown metric '%s' (p50, p90, p95, p99, p999, rps, error_rate, alpha)", text,
             name);
    return MT_EINVAL;
}

void mt__bl_print(FILE *f, const json_t *v)
{
    const json_t *ms = json_object_get(v, "metrics"), *m;
    size_t i;

    fprintf(f, "\nBaseline%s%s (Mann-Whitney U on %lld vs %lld seconds, alpha %g)\n",
            json_is_string(json_object_get(v, "base_run")) ? " " : "",
            json_is_string(json_object_get(v, "base_run"))
                ? json_string_value(json_object_get(v, "base_run"))
                : "",
            (long long)json_integer_value(json_object_get(json_object_get(v, "seconds"), "run")),
            (long long)json_integer_value(json_object_get(json_object_get(v, "seconds"), "base")),
            json_number_value(json_object_get(v, "alpha")));
    fprintf(f, "  %-11s %12s %12s %10s %10s %9s  %s\n", "metric", "run", "base", "delta",
            "tolerance", "p", "decision");
    json_array_foreach(ms, i, m)
    {
        const json_t *dp = json_object_get(m, "delta_pct"), *p = json_object_get(m, "p_value");
        bool abs = strcmp(json_string_value(json_object_get(m, "tolerance_kind")), "abs") == 0;
        char d[32], t[32], ps[32];
        if (json_is_number(dp))
            snprintf(d, sizeof d, "%+.1f%%", json_number_value(dp));
        else
            snprintf(d, sizeof d, "%+g", json_number_value(json_object_get(m, "delta")));
        snprintf(t, sizeof t, abs ? "%g" : "%g%%",
                 json_number_value(json_object_get(m, "tolerance")));
        if (json_is_number(p))
            snprintf(ps, sizeof ps, "%.2g", json_number_value(p));
        else
            snprintf(ps, sizeof ps, "-");
        fprintf(f, "  %-11s %12g %12g %10s %10s %9s  %s\n",
                json_string_value(json_object_get(m, "name")),
                json_number_value(json_object_get(m, "run")),
                json_number_value(json_object_get(m, "base")), d, t, ps,
                json_string_value(json_object_get(m, "decision")));
    }
    fprintf(f, "  %s%s\n", json_is_true(json_object_get(v, "regressed")) ? "REGRESSED: " : "",
            json_string_value(json_object_get(v, "message")));
}
