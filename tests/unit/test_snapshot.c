/* Snapshots: engine second -> snapshot -> JSON -> snapshot keeps every counter and histogram
 * exactly; every corrupt field is rejected with a message naming it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "server/snapshot.h"

#define S     1000000000LL
#define NTAGS 3
static const char *const tag_names[NTAGS] = {"", "api", "static"};

#include "synth_seconds.h"

static void assert_hist_equal(const mt_hist_t *a, const mt_hist_t *b)
{
    assert_int_equal(mt_hist_count(a), mt_hist_count(b));
    assert_int_equal(mt_hist_min(a), mt_hist_min(b));
    assert_int_equal(mt_hist_max(a), mt_hist_max(b));
    for (double p = 0; p <= 100; p += 12.5)
        assert_int_equal(mt_hist_value_at_percentile(a, p), mt_hist_value_at_percentile(b, p));
}

static void fill(sec_t *x)
{
    mt_second_t *s = sec_next(x);
    s->index = 7;
    s->span_ns = S / 2;
    s->open_conns = 12;
    s->backlog = 3;
    resp(x, 0, 200, 150, 40);
    resp(x, 1, 200, 2500, 7);
    resp(x, 2, 503, 90000, 2);
    resp(x, 1, 999, 10, 1); /* status out of range: counted under "other" */
    s->c.sent = s->c.due = 55;
    s->c.errors = s->c.err[MT_ERR_TIMEOUT] = 4;
    s->c.lag_sum_us = 1234;
    s->c.lag_max_us = 99;
    s->c.bytes_in = 1 << 20;
    s->c.bytes_out = 4096;
    s->c.connects = 5;
    s->c.late = 2;
    s->c.dropped = 1;
}

static char *encoded(sec_t *x, size_t *len)
{
    mt__snapshot_t snap;
    char *buf = NULL;
    assert_int_equal(mt__snapshot_from_second(&snap, "run-1", "local", &x->s, tag_names, NTAGS),
                     MT_OK);
    assert_int_equal(mt__snapshot_encode(&snap, &buf, len), MT_OK);
    mt__snapshot_dispose(&snap);
    return buf;
}

static void test_round_trip(void **state)
{
    sec_t x;
    mt__snapshot_t d;
    mt_parse_err_t pe;
    size_t len;
    char *buf;
    (void)state;

    sec_init(&x);
    fill(&x);
    buf = encoded(&x, &len);
    assert_int_equal(mt__snapshot_decode(buf, len, &d, &pe), MT_OK);
    assert_string_equal(d.run_id, "run-1");
    assert_string_equal(d.agent, "local");
    assert_int_equal(d.second, 7);
    assert_int_equal(d.span_ns, S / 2);
    assert_int_equal(d.open_conns, 12);
    assert_int_equal(d.backlog, 3);
    assert_memory_equal(&d.c, &x.s.c, sizeof(d.c));
    assert_hist_equal(d.latency, x.lat);
    assert_hist_equal(d.service, x.svc);
    assert_int_equal(d.ntags, NTAGS);
    for (int i = 0; i < NTAGS; i++) {
        assert_string_equal(d.tags[i].name, tag_names[i]);
        assert_memory_equal(&d.tags[i].c, &x.tags[i].c, sizeof(d.tags[i].c));
        assert_hist_equal(d.tags[i].latency, x.tlat[i]);
        assert_hist_equal(d.tags[i].service, x.tsvc[i]);
    }
    mt__snapshot_dispose(&d);
    free(buf);
    sec_free(&x);
}

/* --trace: a second's exemplars travel in the snapshot (tags by name) and come back equal; a
 * bad one is an error naming it */
static void test_exemplars(void **state)
{
    sec_t x;
    mt__snapshot_t d;
    mt_parse_err_t pe;
    size_t len;
    char *buf;
    mt_exemplar_t slow[2], errs[1];
    (void)state;

    memset(slow, 0, sizeof slow);
    memset(errs, 0, sizeof errs);
    for (int i = 0; i < 2; i++) {
        memset(slow[i].trace_id, 0x11 * (i + 1), 16);
        memset(slow[i].span_id, 0x21 * (i + 1), 8);
        slow[i].latency_us = 900 - 100 * (uint32_t)i;
        slow[i].status = 200;
        slow[i].err_kind = -1;
        slow[i].tag = (uint16_t)(i + 1);
    }
    memset(errs[0].trace_id, 0x77, 16);
    memset(errs[0].span_id, 0x78, 8);
    errs[0].latency_us = 2000000;
    errs[0].err_kind = MT_ERR_TIMEOUT;
    sec_init(&x);
    fill(&x);
    x.s.slow = slow;
    x.s.nslow = 2;
    x.s.errs = errs;
    x.s.nerrs = 1;
    buf = encoded(&x, &len);
    assert_non_null(strstr(buf, "\"exemplars\""));
    assert_int_equal(mt__snapshot_decode(buf, len, &d, &pe), MT_OK);
    assert_int_equal(d.nslow, 2);
    assert_int_equal(d.nerrs, 1);
    assert_memory_equal(d.slow, slow, sizeof slow);
    assert_memory_equal(d.errs, errs, sizeof errs);
    mt__snapshot_dispose(&d);
    char *bad = strstr(buf, "11111111111111111111111111111111");
    assert_non_null(bad);
    bad[0] = 'X';
    assert_int_equal(mt__snapshot_decode(buf, len, &d, &pe), MT_EPARSE);
    assert_non_null(strstr(pe.msg, "exemplars.slow[0]"));
    free(buf);
    sec_free(&x);
}

static void test_bad_ids(void **state)
{
    sec_t x;
    mt__snapshot_t snap;
    (void)state;
    sec_init(&x);
    fill(&x);
    assert_int_equal(mt__snapshot_from_second(&snap, "a.b", "local", &x.s, NULL, 0), MT_EINVAL);
    assert_int_equal(mt__snapshot_from_second(&snap, "r", "", &x.s, NULL, 0), MT_EINVAL);
    assert_int_equal(mt__snapshot_from_second(&snap, "r", "local", NULL, NULL, 0), MT_EINVAL);
    sec_free(&x);
}

/* One corruption: a JSON pointer-ish path ("counters.status") and a new value (NULL: remove);
 * want is a substring of the message. */
typedef struct corrupt {
    const char *obj; /* "", "counters", "counters.errors_by_kind", "counters.status", "tags0" */
    const char *key;
    const char *value_json; /* NULL: remove the key */
    const char *want;
} corrupt_t;

static json_t *locate(json_t *root, const char *obj)
{
    if (obj[0] == '\0')
        return root;
    if (strcmp(obj, "tags0") == 0)
        return json_array_get(json_object_get(root, "tags"), 0);
    if (strcmp(obj, "tags1") == 0)
        return json_array_get(json_object_get(root, "tags"), 1);
    if (strncmp(obj, "counters.", 9) == 0)
        return json_object_get(json_object_get(root, "counters"), obj + 9);
    return json_object_get(root, obj);
}

static void test_corrupt_fields(void **state)
{
    static const corrupt_t cases[] = {
        {"", "schema", NULL, "schema"},
        {"", "schema", "\"mortar.snapshot/v2\"", "schema"},
        {"", "run_id", NULL, "run_id: missing"},
        {"", "run_id", "5", "run_id: expected a string"},
        {"", "run_id", "\"a.b\"", "run_id: expected"},
        {"", "run_id", "\"0123456789012345678901234567890123456789\"", "run_id: expected"},
        {"", "agent", "\"\"", "agent: expected"},
        {"", "second", "-1", "second: -1 is out of range"},
        {"", "second", "1.5", "second: expected a whole number"},
        {"", "second", "8589934592", "second: 8589934592 is out of range"},
        {"", "span_ns", "\"1s\"", "span_ns: expected a whole number"},
        {"", "span_ns", "61000000000", "span_ns: 61000000000 is out of range"},
        {"", "open_connections", "-3", "open_connections: -3 is out of range"},
        {"", "backlog", NULL, "backlog: missing"},
        {"", "counters", "[]", "counters: expected an object"},
        {"", "counters", NULL, "counters: missing"},
        {"counters", "sent", "\"1\"", "counters: sent: expected a whole number"},
        {"counters", "errors", "5", "counters.errors: 5, but errors_by_kind adds up to 4"},
        {"counters", "completed", "1", "counters.completed: 1, but status adds up to 50"},
        {"counters", "bogus", "1", "counters: unknown key 'bogus'"},
        {"counters", "status", "7", "counters.status: expected an object"},
        {"counters.errors_by_kind", "reset", "-1", "errors_by_kind: reset: -1 is out of range"},
        {"counters.errors_by_kind", "gremlins", "0", "unknown key 'gremlins'"},
        {"counters.errors_by_kind", "timeout", NULL, "errors_by_kind: timeout: missing"},
        {"counters.status", "700", "1", "key '700' is not a status code"},
        {"counters.status", "20", "1", "key '20' is not a status code"},
        {"counters.status", "200", "-4", "counters.status.200: expected a whole number"},
        {"", "latency", "\"HISTFAAAnot-a-histogram\"", "latency: not a HdrHistogram"},
        {"", "latency", "17", "latency: expected a base64 HdrHistogram string"},
        {"", "service", NULL, "service: missing"},
        {"", "tags", "{}", "tags: expected an array"},
        {"", "tags", NULL, "tags: missing"},
        {"", "extra", "1", "unknown key 'extra'"},
        {"tags0", "name", "5", "tags[0].name: expected a string"},
        {"tags0", "name", "\"api\"", "tags[1].name: the same as tags[0]'s"},
        {"tags0", "name", "\"a\\u0001b\"", "tags[0].name: control character"},
        {"tags1", "latency", "\"x\"", "tags[1].latency: not a HdrHistogram"},
        {"tags1", "counters", NULL, "tags[1].counters: missing"},
        {"tags1", "colour", "1", "tags[1]: unknown key 'colour'"},
    };
    sec_t x;
    size_t len;
    char *buf;
    (void)state;

    sec_init(&x);
    fill(&x);
    buf = encoded(&x, &len);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const corrupt_t *c = &cases[i];
        json_t *root = json_loadb(buf, len, 0, NULL), *o;
        mt__snapshot_t d;
        mt_parse_err_t pe;
        char *bad;
        int rc;
        assert_non_null(root);
        o = locate(root, c->obj);
        assert_non_null(o);
        if (c->value_json == NULL)
            assert_int_equal(json_object_del(o, c->key), 0);
        else
            json_object_set_new(o, c->key, json_loads(c->value_json, JSON_DECODE_ANY, NULL));
        bad = json_dumps(root, JSON_COMPACT);
        rc = mt__snapshot_decode(bad, strlen(bad), &d, &pe);
        if (rc != MT_EPARSE || strstr(pe.msg, c->want) == NULL)
            print_error("case %zu (%s.%s): rc %d msg '%s'; want '%s'\n", i, c->obj, c->key, rc,
                        pe.msg, c->want);
        assert_int_equal(rc, MT_EPARSE);
        assert_non_null(strstr(pe.msg, c->want));
        assert_null(d.latency);
        assert_null(d.tags);
        free(bad);
        json_decref(root);
    }
    free(buf);
    sec_free(&x);
}

static void test_not_json(void **state)
{
    static const char *const bad[] = {
        "", "[1,2]", "{\"schema\":", "{} trailing", "nul\0l", "{\"a\":1,\"a\":2}"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mt__snapshot_t d;
        mt_parse_err_t pe;
        int rc = mt__snapshot_decode(bad[i], strlen(bad[i]) + (i == 4), &d, &pe);
        assert_int_equal(rc, MT_EPARSE);
        assert_true(pe.msg[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_exemplars),
        cmocka_unit_test(test_bad_ids),    cmocka_unit_test(test_corrupt_fields),
        cmocka_unit_test(test_not_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
