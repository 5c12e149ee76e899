/* The /changes document (src/server/changes.c) from a synthetic history: a step inside one
 * config version is a change point with its levels and "near" runs, a config boundary splits
 * the detection (a step there is not a change point), runs without the metric are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <jansson.h>

#include "server/changes.h"

/* n runs "r0".."r<n-1>": p99 = lo before at, hi from it (+ a small deterministic wobble);
 * config version 1 before cfg_at, 2 from it. */
static json_t *history(size_t n, size_t at, double lo, double hi, size_t cfg_at)
{
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "r%zu", i);
        double v = (i < at ? lo : hi) + (double)((i * 7) % 5);
        json_array_append_new(items,
                              json_pack("{s:s,s:s,s:s,s:i,s:f,s:n}", "run_id", id, "state",
                                        "passed", "started_at", "2026-12-07T00:00:00Z",
                                        "config_version", i < cfg_at ? 1 : 2, "p99", v, "rps"));
    }
    return json_pack("{s:o}", "items", items);
}

static void test_step(void **st)
{
    (void)st;
    json_t *h = history(20, 10, 100, 200, 99), *d = mt__changes_doc("t1", h, "p99", 1);
    assert_non_null(d);
    json_t *ch = json_object_get(d, "changes");
    assert_int_equal(json_array_size(ch), 1);
    json_t *c = json_array_get(ch, 0);
    assert_string_equal(json_string_value(json_object_get(c, "run_id")), "r10");
    assert_int_equal(json_integer_value(json_object_get(c, "index")), 10);
    assert_string_equal(json_string_value(json_object_get(c, "direction")), "regression");
    assert_true(json_real_value(json_object_get(c, "relative_change")) > 0.9);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "before"), "runs")), 10);
    assert_int_equal(json_array_size(json_object_get(c, "near")), 9); /* r6 .. r14 */
    assert_false(json_is_true(json_object_get(c, "provisional")));
    assert_int_equal(json_array_size(json_object_get(d, "config_changes")), 0);
    json_decref(d);
    /* without near (the API's form); rps is null everywhere: no values, no change */
    d = mt__changes_doc("t1", h, "p99", 0);
    assert_null(json_object_get(json_array_get(json_object_get(d, "changes"), 0), "near"));
    json_decref(d);
    d = mt__changes_doc("t1", h, "rps", 0);
    assert_int_equal(json_array_size(json_object_get(d, "changes")), 0);
    assert_true(
        json_is_null(json_object_get(json_array_get(json_object_get(d, "runs"), 0), "value")));
    json_decref(d);
    json_decref(h);
}

static void test_rps_down_is_regression_and_provisional(void **st)
{
    (void)st;
    json_t *items = json_array();
    for (size_t i = 0; i < 15; i++) {
        char id[32];
        snprintf(id, sizeof id, "r%zu", i);
        json_array_append_new(
            items, json_pack("{s:s,s:s,s:n,s:i,s:f}", "run_id", id, "state", "passed", "started_at",
                             "config_version", 1, "rps",
                             i < 10 ? 1000.0 + (double)(i % 3) : 500.0 + (double)(i % 3)));
    }
    json_t *h = json_pack("{s:o}", "items", items), *d = mt__changes_doc("t", h, "rps", 0);
    json_t *c = json_array_get(json_object_get(d, "changes"), 0);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "direction")), "regression");
    assert_true(json_is_true(json_object_get(c, "provisional"))); /* 5 runs after, at the end */
    json_decref(d);
    json_decref(h);
}

static void test_config_boundary(void **st)
{
    (void)st;
    /* the level changes with the config: a boundary, not a change point */
    json_t *h = history(30, 15, 100, 200, 15), *d = mt__changes_doc("t1", h, "p99", 0);
    assert_int_equal(json_array_size(json_object_get(d, "changes")), 0);
    json_t *cc = json_object_get(d, "config_changes");
    assert_int_equal(json_array_size(cc), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cc, 0), "run_id")), "r15");
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(d, "runs"), 15), "config_changed")));
    json_decref(d);
    json_decref(h);
    /* a step inside the second config version is found, at its run */
    h = history(40, 28, 100, 300, 15);
    d = mt__changes_doc("t1", h, "p99", 0);
    assert_int_equal(json_array_size(json_object_get(d, "changes")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(d, "changes"), 0), "index")),
                     28);
    json_decref(d);
    json_decref(h);
    assert_true(mt__changes_metric_ok("p999") && mt__changes_metric_ok("error_rate"));
    assert_false(mt__changes_metric_ok("p95") || mt__changes_metric_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_rps_down_is_regression_and_provisional),
        cmocka_unit_test(test_config_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
