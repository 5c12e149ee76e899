/* The API's pure helpers (src/server/api_route.c): routes, method lists, whole-number query
 * values, media types, and JSON Merge Patch against RFC 7396's own examples (appendix A). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/serve.h"

static void expect_route(const char *path, int kind, const char *route, const char *id,
                         const char *sub)
{
    mt__api_match_t m;
    int rc = mt__api_match(path, &m);
    if (kind == MT__R_NONE) {
        assert_int_equal(rc, -1);
        assert_string_equal(m.route, "other");
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(m.kind, kind);
    assert_string_equal(m.route, route);
    if (id)
        assert_string_equal(m.id, id);
    else
        assert_null(m.id);
    if (sub)
        assert_string_equal(m.sub, sub);
    else
        assert_null(m.sub);
}

static void test_routes(void **state)
{
    (void)state;
    expect_route("/api/v1/tests", MT__R_TESTS, "/api/v1/tests", NULL, NULL);
    expect_route("/api/v1/tests/", MT__R_TESTS, "/api/v1/tests", NULL, NULL);
    expect_route("/api/v1/tests/abc", MT__R_TEST, "/api/v1/tests/{id}", "abc", NULL);
    expect_route("/api/v1/tests/abc/trend", MT__R_TEST_SUB, "/api/v1/tests/{id}/trend", "abc",
                 "trend");
    expect_route("/api/v1/runs/r1/series", MT__R_RUN, "/api/v1/runs/{id}/series", "r1", "series");
    expect_route("/api/v1/runs/r1/stop", MT__R_RUN, "/api/v1/runs/{id}/stop", "r1", "stop");
    expect_route("//api/v1//schedules/s", MT__R_SCHEDULE, "/api/v1/schedules/{id}", "s", NULL);
    expect_route("/api/v1/webhooks/w/deliveries", MT__R_WEBHOOK, "/api/v1/webhooks/{id}/deliveries",
                 "w", "deliveries");
    expect_route("/api/v1/openapi.json", MT__R_OPENAPI, "/api/v1/openapi.json", NULL, NULL);
    expect_route("/api/v1/whoami", MT__R_WHOAMI, "/api/v1/whoami", NULL, NULL);
    expect_route("/api/v1/whoami/x", MT__R_NONE, NULL, NULL, NULL);
    expect_route("/api/v1/runs/r1/bogus", MT__R_NONE, NULL, NULL, NULL);
    expect_route("/api/v1/runs/r1/series/x", MT__R_NONE, NULL, NULL, NULL);
    expect_route("/api/v2/runs", MT__R_NONE, NULL, NULL, NULL);
    expect_route("/api/v1", MT__R_NONE, NULL, NULL, NULL);
    expect_route("", MT__R_NONE, NULL, NULL, NULL);
    char longp[600];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    memcpy(longp, "/api/v1/tests/", 14);
    /* over the limit: -2 (414), whole; never a route of a prefix */
    mt__api_match_t m;
    assert_int_equal(mt__api_match(longp, &m), -2);
    assert_int_equal(m.kind, MT__R_NONE);
    assert_string_equal(m.route, "other");
    longp[MT__MAX_PATH - 1] = '\0'; /* 511 bytes: matched as usual */
    assert_int_equal(mt__api_match(longp, &m), 0);
    assert_int_equal(m.kind, MT__R_TEST);
}

static void test_method_label(void **state)
{
    (void)state;
    assert_string_equal(mt__api_method_label("GET"), "GET");
    assert_string_equal(mt__api_method_label("OPTIONS"), "OPTIONS");
    assert_string_equal(mt__api_method_label("FOO"), "other");
    assert_string_equal(mt__api_method_label("get"), "other");
    assert_string_equal(mt__api_method_label(""), "other");
    assert_string_equal(mt__api_method_label(NULL), "other");
}

static void test_allowed(void **state)
{
    (void)state;
    const char *a = "GET, PUT, PATCH, DELETE";
    assert_true(mt__api_allowed(a, "GET"));
    assert_true(mt__api_allowed(a, "PATCH"));
    assert_true(mt__api_allowed(a, "DELETE"));
    assert_false(mt__api_allowed(a, "POST"));
    assert_false(mt__api_allowed(a, "PAT"));
    assert_false(mt__api_allowed(a, "ET"));
    assert_false(mt__api_allowed(a, ""));
}

static void test_whole(void **state)
{
    (void)state;
    long long x = 7;
    assert_int_equal(mt__api_whole(NULL, 0, 10, &x), 1);
    assert_int_equal(mt__api_whole("", 0, 10, &x), 1);
    assert_int_equal(x, 7);
    assert_int_equal(mt__api_whole("10", 0, 10, &x), 0);
    assert_int_equal(x, 10);
    assert_int_equal(mt__api_whole("11", 0, 10, &x), -1);
    assert_int_equal(mt__api_whole("-1", 0, 10, &x), -1);
    assert_int_equal(mt__api_whole("-1", -5, 10, &x), 0);
    assert_int_equal(x, -1);
    assert_int_equal(mt__api_whole(" 1", 0, 10, &x), -1);
    assert_int_equal(mt__api_whole("+1", 0, 10, &x), -1);
    assert_int_equal(mt__api_whole("0x1", 0, 10, &x), -1);
    assert_int_equal(mt__api_whole("1e3", 0, 10000, &x), -1);
    assert_int_equal(mt__api_whole("-", 0, 10, &x), -1);
    assert_int_equal(mt__api_whole("99999999999999999999", 0, 10, &x), -1);
}

static void test_media(void **state)
{
    (void)state;
    assert_true(mt__media_type_is("application/json", "application/json"));
    assert_true(mt__media_type_is("Application/JSON; charset=utf-8", "application/json"));
    assert_true(mt__media_type_is(" application/merge-patch+json", "application/merge-patch+json"));
    assert_false(mt__media_type_is("application/jsonx", "application/json"));
    assert_false(mt__media_type_is("text/plain", "application/json"));
    assert_false(mt__media_type_is(NULL, "application/json"));
}

/* RFC 7396 appendix A: original, patch, result */
static void test_merge_patch(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *t = json_loads(cases[i][0], JSON_DECODE_ANY, NULL);
        json_t *p = json_loads(cases[i][1], JSON_DECODE_ANY, NULL);
        json_t *want = json_loads(cases[i][2], JSON_DECODE_ANY, NULL);
        json_t *before = json_deep_copy(t);
        json_t *got = mt__merge_patch(t, p);
        assert_non_null(got);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY);
            print_error("case %zu: got %s, want %s\n", i, g, cases[i][2]);
            free(g);
            fail();
        }
        assert_true(json_equal(t, before)); /* the target is not changed */
        json_decref(t);
        json_decref(p);
        json_decref(want);
        json_decref(before);
        json_decref(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),       cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_method_label), cmocka_unit_test(test_whole),
        cmocka_unit_test(test_media),        cmocka_unit_test(test_merge_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
