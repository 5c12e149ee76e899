/* Analysis: a window's summary from stored rows equals the merged histogram's percentiles and
 * the added counters; comparisons flag regressions by tolerance. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "result/baseline.h"
#include "result/result.h"
#include "server/analysis.h"

#define S     1000000000LL
#define NTAGS 2
static const char *const tag_names[NTAGS] = {"", "api"};

#include "synth_seconds.h"

typedef struct rowbuf {
    char *data, *lat, *svc;
} rowbuf_t;

static void make_row(const mt_second_t *s, const char *const *tags, size_t ntags, rowbuf_t *b)
{
    json_t *o = mt__result_second_json(s, tags, ntags);
    size_t len;
    assert_non_null(o);
    b->data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_int_equal(mt_hist_encode(s->latency, &b->lat, &len), MT_OK);
    assert_int_equal(mt_hist_encode(s->service, &b->svc, &len), MT_OK);
}

static int64_t jint(const json_t *o, const char *a, const char *b)
{
    const json_t *x = json_object_get(o, a);
    if (b != NULL)
        x = json_object_get(x, b);
    assert_true(json_is_integer(x));
    return json_integer_value(x);
}

static void test_window_summary(void **state)
{
    enum { N = 5 };
    sec_t x;
    rowbuf_t b[2 * N];
    mt__agg_row_t rows[2 * N];
    mt_hist_t *all, *api;
    uint64_t completed = 0, errors = 0;
    char err[200];
    json_t *sum;
    (void)state;

    sec_init(&x);
    assert_int_equal(mt_hist_new_latency(&all), MT_OK);
    assert_int_equal(mt_hist_new_latency(&api), MT_OK);
    for (int i = 0; i < N; i++) {
        mt_second_t *s = sec_next(&x);
        for (int k = 0; k < 50 + i * 10; k++) {
            int64_t lat = 100 + ((k * 7919 + i * 104729) % 90000);
            int tag = k % 3 == 0;
            resp(&x, tag, k % 17 == 0 ? 502 : 200, lat, 1);
            mt_hist_record(all, lat);
            if (tag)
                mt_hist_record(api, lat);
        }
        s->c.sent = s->c.completed + 1;
        s->c.errors = s->c.err[MT_ERR_RESET] = 1;
        completed += s->c.completed;
        errors += s->c.errors;
        make_row(s, tag_names, NTAGS, &b[2 * i]);
        rows[2 * i] = (mt__agg_row_t){"", b[2 * i].data, b[2 * i].lat, b[2 * i].svc};
        /* the tag's row, as the aggregator builds it */
        mt_second_t t = {.index = s->index,
                         .span_ns = s->span_ns,
                         .c = x.tags[1].c,
                         .latency = x.tlat[1],
                         .service = x.tsvc[1]};
        make_row(&t, NULL, 0, &b[2 * i + 1]);
        rows[2 * i + 1] =
            (mt__agg_row_t){"api", b[2 * i + 1].data, b[2 * i + 1].lat, b[2 * i + 1].svc};
    }
    /* reversed order: rows come in any order */
    mt__agg_row_t rev[2 * N];
    for (int i = 0; i < 2 * N; i++)
        rev[i] = rows[2 * N - 1 - i];
    sum = mt__analysis_summary(rev, 2 * N, err, sizeof(err));
    assert_non_null(sum);
    assert_int_equal(jint(sum, "requests", NULL), completed);
    assert_int_equal(jint(sum, "errors", NULL), errors);
    assert_int_equal(jint(sum, "latency_us", "p50"), mt_hist_value_at_percentile(all, 50));
    assert_int_equal(jint(sum, "latency_us", "p99"), mt_hist_value_at_percentile(all, 99));
    assert_int_equal(jint(sum, "latency_us", "p999"), mt_hist_value_at_percentile(all, 99.9));
    assert_int_equal(jint(sum, "latency_us", "max"), mt_hist_max(all));
    assert_int_equal(jint(sum, "latency_us", "min"), mt_hist_min(all));
    assert_true(json_real_value(json_object_get(sum, "duration_s")) == 5.0);
    json_t *tapi = json_object_get(json_object_get(sum, "tags"), "api");
    assert_non_null(tapi);
    assert_int_equal(jint(tapi, "requests", NULL), mt_hist_count(api));
    assert_int_equal(jint(tapi, "latency_us", "p90"), mt_hist_value_at_percentile(api, 90));
    json_decref(sum);

    /* a window of the first two seconds, "" rows only */
    sum = mt__analysis_summary(rows, 3, err, sizeof(err)); /* "" 0, api 0, "" 1 */
    assert_non_null(sum);
    assert_int_equal(jint(sum, "requests", NULL), 50 + 60);
    json_decref(sum);

    /* corrupt rows */
    mt__agg_row_t bad = rows[0];
    bad.latency_b64 = "HISTFAAAgarbage";
    assert_null(mt__analysis_summary(&bad, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "row 0: latency_b64"));
    bad = rows[0];
    bad.data_json = "{\"sent\": -1}";
    assert_null(mt__analysis_summary(&bad, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "row 0: data_json"));
    bad.data_json = "[";
    assert_null(mt__analysis_summary(&bad, 1, err, sizeof(err)));

    for (int i = 0; i < 2 * N; i++) {
        free(b[i].data);
        free(b[i].lat);
        free(b[i].svc);
    }
    mt_hist_free(all);
    mt_hist_free(api);
    sec_free(&x);
}

static const json_t *metric(const json_t *cmp, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(cmp, "metrics"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
            return m;
    }
    fail_msg("no metric %s", name);
    return NULL;
}

static bool regressed(const json_t *cmp, const char *name)
{
    return json_is_true(json_object_get(metric(cmp, name), "regression"));
}

/* n seconds whose values are the summary's, each nudged by a small alternating jitter */
static mt__bl_series_t *series_of(const json_t *sum, int n)
{
    mt__bl_series_t *s = mt__bl_series_new();
    const json_t *l = json_object_get(sum, "latency_us");
    double rps = json_number_value(json_object_get(sum, "rps"));
    double req = json_number_value(json_object_get(sum, "requests"));
    double er = json_number_value(json_object_get(sum, "errors")) /
                (req + json_number_value(json_object_get(sum, "errors")));
    assert_non_null(s);
    for (int k = 0; k < n; k++) {
        double j = 1 + 0.002 * (k % 5 - 2);
        double done = round(rps * j);
        json_t *sec =
            json_pack("{s:f, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f}}", "span_s", 1.0, "completed",
                      done, "errors", round(done * er / (1 - er)), "latency_us", "p50",
                      json_number_value(json_object_get(l, "p50")) * j, "p90",
                      json_number_value(json_object_get(l, "p90")) * j, "p95",
                      json_number_value(json_object_get(l, "p95")) * j, "p99",
                      json_number_value(json_object_get(l, "p99")) * j, "p999",
                      json_number_value(json_object_get(l, "p999")) * j);
        assert_int_equal(mt__bl_series_add(s, sec), MT_OK);
        json_decref(sec);
    }
    return s;
}

static json_t *compare(const json_t *run, const json_t *base, const json_t *tol, int n)
{
    mt__bl_series_t *rs = series_of(run, n), *bs = series_of(base, n);
    json_t *cmp = mt__bl_compare(run, rs, base, bs, tol, "b");
    assert_non_null(cmp);
    mt__bl_series_free(rs);
    mt__bl_series_free(bs);
    return cmp;
}

static void test_compare(void **state)
{
    json_t *base =
        json_loads("{\"requests\":1000,\"errors\":0,\"rps\":100.0,\"latency_us\":"
                   "{\"p50\":1000,\"p90\":2000,\"p95\":3000,\"p99\":5000,\"p999\":9000}}",
                   0, NULL);
    json_t *run = json_loads("{\"requests\":980,\"errors\":20,\"rps\":96.0,\"latency_us\":"
                             "{\"p50\":1050,\"p90\":2300,\"p95\":3000,\"p99\":5400,\"p999\":8000}}",
                             0, NULL);
    json_t *tol, *cmp;
    (void)state;

    assert_non_null(base);
    assert_non_null(run);
    /* defaults: 10% latency, 5% rps, 0.01 error rate; 10 seconds each, clearly apart */
    cmp = compare(run, base, NULL, 10);
    assert_int_equal(json_array_size(json_object_get(cmp, "metrics")), 7);
    assert_false(regressed(cmp, "p50_us")); /* +5% */
    assert_true(regressed(cmp, "p90_us"));  /* +15% */
    assert_false(regressed(cmp, "p99_us")); /* +8% */
    assert_false(regressed(cmp, "p999_us"));
    assert_string_equal(json_string_value(json_object_get(metric(cmp, "p999_us"), "decision")),
                        "improved");
    assert_false(regressed(cmp, "rps"));       /* -4% */
    assert_true(regressed(cmp, "error_rate")); /* 0 -> 0.02 */
    assert_true(json_is_true(json_object_get(cmp, "regressed")));
    assert_false(json_is_true(json_object_get(cmp, "passed")));
    assert_true(json_real_value(json_object_get(metric(cmp, "p90_us"), "delta_pct")) == 15.0);
    assert_true(json_real_value(json_object_get(metric(cmp, "p90_us"), "p_value")) < 0.01);
    assert_non_null(strstr(json_string_value(json_object_get(cmp, "message")), "p90_us +15.0%"));
    json_decref(cmp);

    tol =
        json_loads("{\"p90_pct\":20,\"p99_pct\":5,\"rps_pct\":3,\"error_rate_abs\":0.05}", 0, NULL);
    cmp = compare(run, base, tol, 10);
    assert_false(regressed(cmp, "p90_us"));
    assert_true(regressed(cmp, "p99_us"));
    assert_true(regressed(cmp, "rps"));
    assert_false(regressed(cmp, "error_rate"));
    json_decref(cmp);

    /* too few seconds to test: beyond the tolerance, but no regression is claimed */
    cmp = compare(run, base, NULL, 3);
    assert_false(json_is_true(json_object_get(cmp, "regressed")));
    assert_string_equal(json_string_value(json_object_get(metric(cmp, "p90_us"), "decision")),
                        "insufficient_data");
    assert_true(json_is_null(json_object_get(metric(cmp, "p90_us"), "p_value")));
    json_decref(cmp);

    /* identical runs never regress */
    cmp = compare(base, base, tol, 10);
    assert_false(json_is_true(json_object_get(cmp, "regressed")));
    json_decref(cmp);
    json_decref(tol);
    json_decref(base);
    json_decref(run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_summary),
        cmocka_unit_test(test_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
