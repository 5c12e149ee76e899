/* Trace context (src/engine/trace.c, docs/tracing.md): the traceparent value written and read
 * back, the sampled share of the engine's ids, the exemplar merge (bounded, order-independent,
 * no duplicates), the exemplars' JSON round trip and the OTLP document of a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/internal.h"
#include "mortar/engine.h"
#include "result/otlp.h"
#include "result/result.h"

static void test_traceparent_format_parse(void **state)
{
    uint8_t t[16], s[8], t2[16], s2[8];
    char out[MT_TRACEPARENT_LEN + 1];
    bool sampled = false;
    mt_parse_err_t err;
    (void)state;
    for (int i = 0; i < 16; i++)
        t[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < 8; i++)
        s[i] = (uint8_t)(i + 1);
    mt_traceparent_format(out, t, s, true);
    assert_string_equal(out, "00-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf-0102030405060708-01");
    assert_int_equal(strlen(out), MT_TRACEPARENT_LEN);
    assert_int_equal(mt_traceparent_parse(out, strlen(out), t2, s2, &sampled, &err), MT_OK);
    assert_memory_equal(t, t2, 16);
    assert_memory_equal(s, s2, 8);
    assert_true(sampled);
    mt_traceparent_format(out, t, s, false);
    assert_string_equal(out + 52, "-00");
    assert_int_equal(mt_traceparent_parse(out, strlen(out), t2, s2, &sampled, &err), MT_OK);
    assert_false(sampled);

    /* errors carry the column */
    static const struct {
        const char *text;
        int col;
    } bad[] = {
        {"00-A0a1a2a3a4a5a6a7a8a9aaabacadaeaf-0102030405060708-01", 4},  /* uppercase */
        {"00-00000000000000000000000000000000-0102030405060708-01", 4},  /* zero trace id */
        {"00-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf-0000000000000000-01", 37}, /* zero span id */
        {"00-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf_0102030405060708-01", 36}, /* separator */
        {"01-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf-0102030405060708-01", 1},  /* version */
        {"00-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf-0102030405060708-0", 55},  /* short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            mt_traceparent_parse(bad[i].text, strlen(bad[i].text), t2, s2, &sampled, &err),
            MT_EPARSE);
        assert_int_equal(err.col, bad[i].col);
    }
}

/* the engine's ids: never zero, distinct, and the sampled flag on floor(n x ratio) of n */
static void test_trace_new_ratio(void **state)
{
    (void)state;
    static const double ratios[] = {0, 0.1, 0.25, 0.5, 1};
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
        struct mt_run run;
        mt__worker_t w;
        memset(&run, 0, sizeof run);
        memset(&w, 0, sizeof w);
        run.cfg.trace = true;
        run.cfg.trace_ratio = ratios[r];
        w.run = &run;
        w.trace_rng[0] = 0x123456789abcdefULL;
        w.trace_rng[1] = 0xfedcba987654321ULL;
        uint8_t prev[24] = {0}, id[24];
        unsigned sampled = 0, n = 1000;
        for (unsigned i = 0; i < n; i++) {
            uint8_t f = mt__trace_new(&w, id);
            assert_true(f & MT__TRACED);
            sampled += (f & MT__SAMPLED) != 0;
            assert_memory_not_equal(id, prev, 24);
            uint8_t z[16] = {0};
            assert_memory_not_equal(id, z, 16);
            assert_memory_not_equal(id + 16, z, 8);
            memcpy(prev, id, 24);
        }
        unsigned want = (unsigned)(n * ratios[r] + 1e-9);
        assert_true(sampled + 1 >= want && sampled <= want);
    }
}

static mt_exemplar_t ex(uint32_t lat, uint8_t id)
{
    mt_exemplar_t e = {.latency_us = lat, .err_kind = -1, .status = 200};
    memset(e.trace_id, id, 16);
    memset(e.span_id, id, 8);
    return e;
}

/* merging in any grouping and order gives the same K slowest, sorted, without duplicates */
static void test_exemplar_merge(void **state)
{
    (void)state;
    mt_exemplar_t all[40];
    for (int i = 0; i < 40; i++)
        all[i] = ex((uint32_t)((i * 7919) % 97), (uint8_t)(i + 1));
    mt_exemplar_t a[MT_EXEMPLARS_SLOW], b[MT_EXEMPLARS_SLOW];
    size_t na = 0, nb = 0;
    mt_exemplars_merge(a, &na, MT_EXEMPLARS_SLOW, all, 40); /* one merge */
    for (int i = 39; i >= 0; i--) { /* one at a time, backwards, in two halves merged */
        mt_exemplar_t part[MT_EXEMPLARS_SLOW];
        size_t np = 0;
        mt_exemplars_merge(part, &np, MT_EXEMPLARS_SLOW, &all[i], 1);
        mt_exemplars_merge(b, &nb, MT_EXEMPLARS_SLOW, part, np);
    }
    assert_int_equal(na, MT_EXEMPLARS_SLOW);
    assert_int_equal(nb, MT_EXEMPLARS_SLOW);
    assert_memory_equal(a, b, sizeof a);
    for (size_t i = 1; i < na; i++)
        assert_true(a[i - 1].latency_us >= a[i].latency_us);
    mt_exemplars_merge(a, &na, MT_EXEMPLARS_SLOW, a, na); /* itself again: no duplicates */
    assert_int_equal(na, MT_EXEMPLARS_SLOW);
    assert_memory_equal(a, b, sizeof a);
    /* the slowest of all is first */
    uint32_t max = 0;
    for (int i = 0; i < 40; i++)
        if (all[i].latency_us > max)
            max = all[i].latency_us;
    assert_int_equal(a[0].latency_us, max);
}

/* the exemplars' JSON reads back as written */
static void test_exemplar_json(void **state)
{
    (void)state;
    static const char *const tags[] = {"", "login", "search"};
    mt_exemplar_t slow[2] = {ex(900, 1), ex(800, 2)}, errs[1] = {ex(50, 3)};
    slow[1].tag = 2;
    errs[0].status = 0;
    errs[0].err_kind = MT_ERR_TIMEOUT;
    json_t *o = mt__result_exemplars_json(slow, 2, errs, 1, tags, 3);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "slow"), 0), "trace_id")),
                        "01010101010101010101010101010101");
    mt_exemplar_t s2[MT_EXEMPLARS_SLOW], e2[MT_EXEMPLARS_ERR];
    size_t ns, ne;
    char err[200];
    assert_int_equal(mt__result_exemplars_get(o, s2, &ns, e2, &ne, tags, 3, err, sizeof err),
                     MT_OK);
    assert_int_equal(ns, 2);
    assert_int_equal(ne, 1);
    assert_memory_equal(s2, slow, sizeof slow);
    assert_memory_equal(e2, errs, sizeof errs);
    json_object_set_new(json_array_get(json_object_get(o, "slow"), 0), "trace_id",
                        json_string("xyz"));
    assert_int_equal(mt__result_exemplars_get(o, s2, &ns, e2, &ne, tags, 3, err, sizeof err),
                     MT_EFORMAT);
    assert_non_null(strstr(err, "exemplars.slow[0]"));
    json_decref(o);
}

/* one second as OTLP JSON: the counts of the second, attributes, a histogram that adds up */
static void test_otlp_second(void **state)
{
    (void)state;
    mt_hist_t *h;
    assert_int_equal(mt_hist_new_latency(&h), MT_OK);
    for (int i = 1; i <= 100; i++)
        mt_hist_record(h, i * 1000);
    json_t *sec =
        json_pack("{s:i, s:f, s:i, s:i, s:i, s:{s:i, s:i}, s:{s:i, s:i}}", "t", 2, "span_s", 1.0,
                  "completed", 100, "sent", 101, "errors", 3, "errors_by_kind", "timeout", 2,
                  "reset", 1, "status", "200", 90, "503", 10);
    json_t *doc = mt__otlp_second_json("r1", "checkout", 1000000000000LL, sec, h);
    assert_non_null(doc);
    json_t *ms = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(doc, "resourceMetrics"), 0),
                                       "scopeMetrics"),
                       0),
        "metrics");
    size_t i;
    json_t *m;
    int seen = 0;
    json_array_foreach(ms, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (strcmp(name, "mortar.requests") == 0) {
            json_t *p = json_array_get(json_object_get(json_object_get(m, "sum"), "dataPoints"), 0);
            assert_string_equal(json_string_value(json_object_get(p, "asInt")), "100");
            assert_string_equal(json_string_value(json_object_get(p, "startTimeUnixNano")),
                                "1002000000000");
            assert_string_equal(json_string_value(json_object_get(p, "timeUnixNano")),
                                "1003000000000");
            seen |= 1;
        } else if (strcmp(name, "mortar.errors") == 0) {
            assert_int_equal(
                json_array_size(json_object_get(json_object_get(m, "sum"), "dataPoints")), 2);
            seen |= 2;
        } else if (strcmp(name, "mortar.latency") == 0) {
            json_t *p =
                json_array_get(json_object_get(json_object_get(m, "histogram"), "dataPoints"), 0);
            json_t *bc = json_object_get(p, "bucketCounts"), *v;
            size_t k;
            long long total = 0;
            json_array_foreach(bc, k, v) total += atoll(json_string_value(v));
            assert_int_equal(total, 100);
            assert_int_equal(json_array_size(bc),
                             json_array_size(json_object_get(p, "explicitBounds")) + 1);
            assert_string_equal(
                json_string_value(json_object_get(
                    json_object_get(json_array_get(json_object_get(p, "attributes"), 1), "value"),
                    "stringValue")),
                "checkout");
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    json_decref(doc);
    json_decref(sec);
    mt_hist_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_format_parse),
        cmocka_unit_test(test_trace_new_ratio),
        cmocka_unit_test(test_exemplar_merge),
        cmocka_unit_test(test_exemplar_json),
        cmocka_unit_test(test_otlp_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
