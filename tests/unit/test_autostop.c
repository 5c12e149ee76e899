/* Autostop: parsing (good and bad, with columns), and evaluation on synthetic seconds: each
 * criterion trips exactly at the second it should, tag filters, shares, sliding windows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "parse_assert.h"

#include "mortar/verdict.h"

#define S  1000000000LL
#define MS 1000LL /* in microseconds */

/* ---- synthetic seconds ---------------------------------------------------------------- */

#define NTAGS 3
static const char *const tag_names[NTAGS] = {"", "api", "static"};

#include "synth_seconds.h"

static void errs(sec_t *x, int tag, int kind, uint64_t n)
{
    mt_counters_t *cs[2] = {&x->s.c, &x->tags[tag].c};
    for (int i = 0; i < 2; i++) {
        cs[i]->errors += n;
        cs[i]->err[kind] += n;
    }
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        print_error("'%s' does not start with '%s'\n", s, prefix);
    assert_true(strncmp(s, prefix, strlen(prefix)) == 0);
}

static mt_autostop_crit_t parse_ok(const char *text)
{
    mt_autostop_crit_t c;
    mt_parse_err_t err = {0};
    int rc = mt_autostop_parse(text, &c, &err);
    if (rc != MT_OK)
        print_error("'%s': rc %d col %d: %s\n", text, rc, err.col, err.msg);
    assert_int_equal(rc, MT_OK);
    return c;
}

static mt_autostop_t *make(const char *const *texts, size_t n)
{
    mt_autostop_crit_t c[8];
    mt_autostop_t *a = NULL;
    mt_parse_err_t err = {0};
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        c[i] = parse_ok(texts[i]);
    int rc = mt_autostop_new(c, n, tag_names, NTAGS, &a, &err);
    if (rc != MT_OK)
        print_error("new: %s\n", err.msg);
    assert_int_equal(rc, MT_OK);
    return a;
}

static mt_autostop_t *make1(const char *text)
{
    return make(&text, 1);
}

/* Feeds the second and checks it trips (or not). */
static void expect(mt_autostop_t *a, const mt_second_t *s, uint32_t max_inst, int want,
                   mt_autostop_trip_t *trip)
{
    mt_autostop_trip_t t;
    int rc = mt_autostop_feed(a, s, max_inst, &t);
    if (rc != want)
        print_error("second %u: feed returned %d, want %d%s%s\n", s->index, rc, want,
                    rc == 1 ? ": " : "", rc == 1 ? t.message : "");
    assert_int_equal(rc, want);
    if (trip)
        *trip = t;
}

/* ---- parsing -------------------------------------------------------------------------- */

static void test_parse_good(void **state)
{
    mt_autostop_crit_t c;

    c = parse_ok("time(1s500ms, 30s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_TIME);
    assert_int_equal(c.rt_us, 1500 * MS);
    assert_int_equal(c.window_s, 30);
    assert_string_equal(c.tag, "");
    assert_string_equal(c.text, "time(1s500ms, 30s)");

    c = parse_ok("  time(100, 10)  "); /* rt defaults to ms, windows to s */
    assert_int_equal(c.rt_us, 100 * MS);
    assert_int_equal(c.window_s, 10);
    assert_string_equal(c.text, "time(100, 10)");

    c = parse_ok("TIME(1S,1M)"); /* names and units in any case, as Tank */
    assert_int_equal(c.kind, MT_AUTOSTOP_TIME);
    assert_int_equal(c.rt_us, 1000 * MS);
    assert_int_equal(c.window_s, 60);

    c = parse_ok("time(1m, 1w)");
    assert_int_equal(c.rt_us, 60000 * MS);
    assert_int_equal(c.window_s, 604800);

    c = parse_ok("time(250us,1h1m1)");
    assert_int_equal(c.rt_us, 250);
    assert_int_equal(c.window_s, 3661);

    c = parse_ok("quantile(95, 100ms, 10s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_QUANTILE);
    assert_true(c.quantile == 95.0);
    assert_int_equal(c.rt_us, 100 * MS);
    assert_int_equal(c.window_s, 10);

    c = parse_ok("quantile(99.9,1s,5,api)");
    assert_true(c.quantile == 99.9);
    assert_string_equal(c.tag, "api");

    c = parse_ok("limit(1m30s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_LIMIT);
    assert_int_equal(c.limit_ns, 90 * S);
    c = parse_ok("limit(1500ms)");
    assert_int_equal(c.limit_ns, 1500000000LL);
    c = parse_ok("limit(2)");
    assert_int_equal(c.limit_ns, 2 * S);

    c = parse_ok("http(5xx, 10%, 1m)");
    assert_int_equal(c.kind, MT_AUTOSTOP_HTTP);
    assert_string_equal(c.mask, "5xx");
    assert_true(c.relative);
    assert_int_equal(c.level, 100000);
    assert_int_equal(c.window_s, 60);

    c = parse_ok("http(5XX,12.5%,1)");
    assert_string_equal(c.mask, "5xx");
    assert_int_equal(c.level, 125000);
    c = parse_ok("http(404,0.0001%,1)");
    assert_int_equal(c.level, 1);
    c = parse_ok("http(404,100%,1)");
    assert_int_equal(c.level, 1000000);

    c = parse_ok("net(xx, 1, 30)");
    assert_int_equal(c.kind, MT_AUTOSTOP_NET);
    assert_string_equal(c.mask, "xx");
    assert_false(c.relative);
    assert_int_equal(c.level, 1);
    assert_int_equal(c.window_s, 30);

    c = parse_ok("net(110,5,10s, my tag )");
    assert_string_equal(c.mask, "110");
    assert_string_equal(c.tag, "my tag");

    c = parse_ok("instances(80%, 10)");
    assert_int_equal(c.kind, MT_AUTOSTOP_INSTANCES);
    assert_true(c.relative);
    assert_int_equal(c.level, 800000);

    c = parse_ok("total_time(300ms, 70%, 3s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_TOTAL_TIME);
    assert_int_equal(c.rt_us, 300 * MS);
    assert_int_equal(c.level, 700000);
    assert_int_equal(c.window_s, 3);

    c = parse_ok("total_http(5xx,10%,10s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_TOTAL_HTTP);
    c = parse_ok("total_net(111,3,10s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_TOTAL_NET);
    c = parse_ok("negative_http(2xx,10%,10s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_NEGATIVE_HTTP);
    c = parse_ok("negative_net(0,10%,10s,api)");
    assert_int_equal(c.kind, MT_AUTOSTOP_NEGATIVE_NET);
    assert_string_equal(c.mask, "0");
    c = parse_ok("http_trend(2xx, 10s)");
    assert_int_equal(c.kind, MT_AUTOSTOP_HTTP_TREND);
    assert_int_equal(c.window_s, 10);
    c = parse_ok("http_trend ( 2xx , 10s , api )");
    assert_string_equal(c.tag, "api");
    assert_string_equal(c.text, "http_trend ( 2xx , 10s , api )");
}

static void test_parse_bad(void **state)
{
    static const struct {
        const char *in;
        int rc, col;
        const char *msg;
    } cases[] = {
        {"", MT_EPARSE, 1, "expected a criterion"},
        {"   ", MT_EPARSE, 4, "expected a criterion"},
        {"(1,2)", MT_EPARSE, 1, "expected a criterion name"},
        {"tme(1s,5s)", MT_EPARSE, 1, "unknown criterion 'tme'"},
        {"  qsat(1,2,3)", MT_EPARSE, 3, "unknown criterion 'qsat'"},
        {"time 1s,5s", MT_EPARSE, 6, "expected '(' after 'time'"},
        {"time(1s,5s", MT_EPARSE, 11, "missing ')'"},
        {"time(1s,(5s))", MT_EPARSE, 9, "unexpected '('"},
        {"time(1s,5s) x", MT_EPARSE, 13, "unexpected text after ')'"},
        {"time(1s)", MT_EPARSE, 5, "time: expected 2 or 3 arguments (rt, window[, tag]), got 1"},
        {"time(1s,2,t,u)", MT_EPARSE, 5, "time: expected 2 or 3 arguments"},
        {"time(1,2,3,4,5)", MT_EPARSE, 5, "time: too many arguments"},
        {"limit(1s,api)", MT_EPARSE, 6, "limit: expected 1 argument (duration), got 2"},
        {"instances(5,1,api)", MT_EPARSE, 10, "instances: expected 2 arguments"},
        {"time(,5s)", MT_EPARSE, 6, "empty argument"},
        {"time(1s, )", MT_EPARSE, 10, "empty argument"},
        {"time(1s,5s,)", MT_EPARSE, 12, "empty argument"},
        {"time()", MT_EPARSE, 6, "empty argument"},
        {"time(1.5s,5s)", MT_EPARSE, 7, "bad response time: fractions are not allowed"},
        {"time(1sec,5s)", MT_EPARSE, 7, "bad response time: unknown unit 'sec'"},
        {"time(1 s,5s)", MT_EPARSE, 7, "bad response time: unexpected ' '"},
        {"time(s,5s)", MT_EPARSE, 6, "bad response time: expected a number"},
        {"time(-1,5s)", MT_EPARSE, 6, "bad response time: expected a number"},
        {"time(99999999999999999999,5)", MT_ERANGE, 6, "bad response time: too large"},
        {"time(1s,1500ms)", MT_EPARSE, 9, "window must be a whole number of seconds"},
        {"time(1s,0)", MT_EPARSE, 9, "window must be at least 1s"},
        {"time(1s,10000w)", MT_ERANGE, 9, "window too long"},
        {"quantile(0,1s,5)", MT_EPARSE, 10, "percentile must be above 0 and at most 100"},
        {"quantile(100.5,1s,5)", MT_EPARSE, 10, "percentile must be above 0"},
        {"quantile(p95,1s,5)", MT_EPARSE, 10, "bad percentile: expected a number"},
        {"quantile(9 5,1s,5)", MT_EPARSE, 11, "bad percentile: unexpected ' '"},
        {"limit(0)", MT_EPARSE, 7, "duration must be positive"},
        {"http(5x,10%,1)", MT_EPARSE, 6, "bad HTTP code mask: 3 characters"},
        {"http(5xxx,10%,1)", MT_EPARSE, 6, "bad code mask: at most 3 characters"},
        {"http(5y0,10%,1)", MT_EPARSE, 7, "bad code mask: use digits and x"},
        {"http(5xx,10.5,1)", MT_EPARSE, 12, "bad level: expected a count or a share"},
        {"http(5xx,%,1)", MT_EPARSE, 10, "bad level: expected a number"},
        {"http(5xx,101%,1)", MT_EPARSE, 10, "level above 100%"},
        {"http(5xx,1000000000%,1)", MT_EPARSE, 10, "level above 100%"},
        {"total_time(1s,5,1)", MT_EPARSE, 15, "expected a share like 70%"},
        {"net(1x0x,1,1)", MT_EPARSE, 5, "bad code mask: at most 3 characters"},
        {"http_trend(5x,1)", MT_EPARSE, 12, "bad HTTP code mask"},
        {"time(1s,5s,a\tb)", MT_EPARSE, 13, "bad tag: control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_autostop_crit_t c;
        mt_parse_err_t err = {0};
        int rc = mt_autostop_parse(cases[i].in, &c, &err);
        assert_parse_err(cases[i].in, rc, &err, cases[i].rc, cases[i].col, cases[i].msg);
    }

    /* over-long tags and texts */
    char buf[600];
    mt_autostop_crit_t c;
    mt_parse_err_t err = {0};
    snprintf(buf, sizeof buf, "time(1s,5s,%0250d)", 0);
    assert_int_equal(mt_autostop_parse(buf, &c, &err), MT_EPARSE);
    assert_int_equal(err.col, 1);
    assert_string_equal(err.msg, "criterion too long (at most 255 bytes)");
    snprintf(buf, sizeof buf, "time(1s,5s,%0130d)", 0);
    assert_int_equal(mt_autostop_parse(buf, &c, &err), MT_EPARSE);
    assert_int_equal(err.col, 12);
    assert_string_equal(err.msg, "tag too long (at most 127 bytes)");

    assert_int_equal(mt_autostop_parse(NULL, &c, &err), MT_EINVAL);
    assert_int_equal(mt_autostop_parse("time(1,1)", NULL, &err), MT_EINVAL);
    assert_int_equal(mt_autostop_parse("tme(1,1)", &c, NULL), MT_EPARSE);
}

static void test_parse_list(void **state)
{
    mt_autostop_crit_t c[4];
    size_t n = 99;
    mt_parse_err_t err = {0};

    assert_int_equal(mt_autostop_parse_list("time(1s500ms,30s)\n  http(5xx, 10%, 1m)"
                                            " net(xx,1,30)quantile(95,100ms,10s)",
                                            c, 4, &n, &err),
                     MT_OK);
    assert_int_equal(n, 4);
    assert_int_equal(c[0].kind, MT_AUTOSTOP_TIME);
    assert_int_equal(c[1].kind, MT_AUTOSTOP_HTTP);
    assert_int_equal(c[2].kind, MT_AUTOSTOP_NET);
    assert_int_equal(c[3].kind, MT_AUTOSTOP_QUANTILE);
    assert_string_equal(c[1].text, "http(5xx, 10%, 1m)");

    assert_int_equal(mt_autostop_parse_list("  \n", c, 4, &n, &err), MT_OK);
    assert_int_equal(n, 0);

    /* the column is in the whole text */
    assert_int_equal(mt_autostop_parse_list("time(1s,5s) tme(1s,5s)", c, 4, &n, &err), MT_EPARSE);
    assert_int_equal(err.col, 13);
    assert_string_equal(err.msg, "unknown criterion 'tme'");
    assert_int_equal(mt_autostop_parse_list("time(1s,5s)\nhttp(5xx,10%,1.5)", c, 4, &n, &err),
                     MT_EPARSE);
    assert_int_equal(err.col, 27);

    assert_int_equal(mt_autostop_parse_list("limit(1) limit(2) limit(3)", c, 2, &n, &err),
                     MT_ETOOBIG);
    assert_int_equal(err.col, 19);
}

static void test_new_errors(void **state)
{
    mt_autostop_crit_t c = parse_ok("time(1s,5s,checkout)");
    mt_autostop_t *a = (mt_autostop_t *)1;
    mt_parse_err_t err = {0};

    assert_int_equal(mt_autostop_new(&c, 1, tag_names, NTAGS, &a, &err), MT_EINVAL);
    assert_string_equal(err.msg, "time(1s,5s,checkout): unknown tag 'checkout'");
    assert_int_equal(mt_autostop_new(&c, 1, NULL, 0, &a, &err), MT_EINVAL);

    /* a zeroed struct is not a criterion */
    memset(&c, 0, sizeof c);
    assert_int_equal(mt_autostop_new(&c, 1, NULL, 0, &a, &err), MT_EINVAL);

    /* no criteria: never trips */
    assert_int_equal(mt_autostop_new(NULL, 0, NULL, 0, &a, &err), MT_OK);
    sec_t x;
    sec_init(&x);
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 500, 5 * S / 1000, 10);
    expect(a, s, 0, 0, NULL);
    mt_autostop_free(a);
    sec_free(&x);
    mt_autostop_free(NULL);
}

static void test_net_codes(void **state)
{
    assert_int_equal(mt_autostop_net_code(MT_ERR_REFUSED), 111);
    assert_int_equal(mt_autostop_net_code(MT_ERR_RESET), 104);
    assert_int_equal(mt_autostop_net_code(MT_ERR_TIMEOUT), 110);
    assert_int_equal(mt_autostop_net_code(MT_ERR_DNS), 113);
    assert_int_equal(mt_autostop_net_code(MT_ERR_PROTOCOL), 71);
    assert_int_equal(mt_autostop_net_code(MT_ERR_CLOSED), 103);
    assert_int_equal(mt_autostop_net_code(MT_ERR_OTHER), 5);
    assert_int_equal(mt_autostop_net_code(-1), 0);
    assert_int_equal(mt_autostop_net_code(MT_ERR__COUNT), 0);
}

/* ---- per-second criteria -------------------------------------------------------------- */

static void test_time(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("time(100ms, 3s)");
    sec_init(&x);

    /* above, above, below (resets), then three above: trips at the third of those */
    bool slow[] = {true, true, false, true, true};
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, slow[i] ? 150 * MS : 50 * MS, 10);
        expect(a, s, 0, 0, NULL);
    }
    /* an empty second breaks the run too */
    expect(a, sec_next(&x), 0, 0, NULL);
    for (int i = 0; i < 2; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, 150 * MS, 10);
        expect(a, s, 0, 0, NULL);
    }
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, 90 * MS, 5);
    resp(&x, 0, 200, 120 * MS, 5); /* average 105 ms */
    expect(a, s, 0, 1, &t);
    assert_int_equal(t.exit_code, 21);
    assert_int_equal(t.second, 8);
    assert_int_equal(t.index, 0);
    assert_string_equal(t.criterion, "time(100ms, 3s)");
    assert_prefix(t.message,
                  "time(100ms, 3s): average response time above 100 ms for 3 s (last 10");
    /* latched */
    expect(a, sec_next(&x), 0, 1, &t);
    assert_int_equal(t.second, 8);
    mt_autostop_free(a);

    /* exactly rt is not above it */
    a = make1("time(100ms,1)");
    s = sec_next(&x);
    resp(&x, 0, 200, 100 * MS, 100);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 103 * MS, 100);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_quantile(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("quantile(95,100ms,2s)");
    sec_init(&x);

    /* 95 fast + 5 slow: p95 is fast */
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, 10 * MS, 95);
    resp(&x, 0, 200, 200 * MS, 5);
    expect(a, s, 0, 0, NULL);
    /* 94 fast + 6 slow: p95 is slow */
    for (int i = 0; i < 2; i++) {
        s = sec_next(&x);
        resp(&x, 0, 200, 10 * MS, 94);
        resp(&x, 0, 200, 200 * MS, 6);
        expect(a, s, 0, i == 1, &t);
    }
    assert_int_equal(t.exit_code, 21);
    assert_int_equal(t.second, 2);
    assert_string_equal(t.message,
                        "quantile(95,100ms,2s): p95 above 100 ms for 2 s (last 200.703 ms)");
    mt_autostop_free(a);

    /* values equal to rt do not trip; the whole of the same bucket does not either */
    a = make1("quantile(50,100ms,1)");
    s = sec_next(&x);
    resp(&x, 0, 200, 100 * MS, 10);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 102 * MS, 10);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    /* p100 is the max; fractional p */
    a = make1("quantile(99.9,1ms,1)");
    s = sec_next(&x);
    resp(&x, 0, 200, 500, 999);
    resp(&x, 0, 200, 5000, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 500, 998);
    resp(&x, 0, 200, 5000, 2);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);
    sec_free(&x);
}

/* Tank's steady_cumulative(window): the run's cumulative quantiles unchanged for window
 * consecutive seconds -> exit 33 */
static void test_steady_cumulative(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_parse_err_t err = {0};
    mt_autostop_crit_t c;
    (void)state;
    mt_autostop_t *a = make1("steady_cumulative(2s)");
    sec_init(&x);

    mt_second_t *s = sec_next(&x); /* no responses yet: nothing to compare */
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 10 * MS, 50);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x); /* a slower second moves the upper quantiles */
    resp(&x, 0, 200, 10 * MS, 40);
    resp(&x, 0, 200, 80 * MS, 10);
    expect(a, s, 0, 0, NULL);
    /* the run's own mix again (90 fast, 10 slow so far): its quantiles stay put for 2 s */
    for (int i = 0; i < 2; i++) {
        s = sec_next(&x);
        resp(&x, 0, 200, 10 * MS, 90 << i);
        resp(&x, 0, 200, 80 * MS, 10 << i);
        expect(a, s, 0, i == 1, &t);
    }
    assert_int_equal(t.exit_code, 33);
    assert_string_equal(t.message,
                        "steady_cumulative(2s): the run's cumulative quantiles did not change "
                        "for 2 s");
    mt_autostop_free(a);
    sec_free(&x);
    assert_int_equal(mt_autostop_parse("steady_cumulative(1s, tag)", &c, &err), MT_EPARSE);
    assert_int_equal(mt_autostop_parse("steady_cumulative()", &c, &err), MT_EPARSE);
}

static void test_limit(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    const char *texts[] = {"limit(3s)", "limit(2500ms)"};
    sec_init(&x);
    for (int k = 0; k < 2; k++) {
        mt_autostop_t *a = make1(texts[k]);
        x.next = 0;
        expect(a, sec_next(&x), 0, 0, NULL);
        expect(a, sec_next(&x), 0, 0, NULL);
        expect(a, sec_next(&x), 0, 1, &t);
        assert_int_equal(t.exit_code, 21);
        assert_int_equal(t.second, 2);
        assert_string_equal(t.message, k == 0 ? "limit(3s): the run lasted 3 s"
                                              : "limit(2500ms): the run lasted 3 s");
        mt_autostop_free(a);
    }
    /* partial seconds count by their span */
    mt_autostop_t *a = make1("limit(1500ms)");
    mt_second_t *s = sec_next(&x);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    s->span_ns = S / 2;
    expect(a, s, 0, 1, &t);
    assert_string_equal(t.message, "limit(1500ms): the run lasted 1.5 s");
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_http(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("http(5xx,10%,2)");
    sec_init(&x);

    /* 9% then 10% (at the level: trips, Tank compares >=) twice */
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, MS, 91);
    resp(&x, 0, 503, MS, 9);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 90);
    resp(&x, 0, 500, MS, 10);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 80);
    resp(&x, 0, 502, MS, 10);
    errs(&x, 0, MT_ERR_TIMEOUT, 10); /* errors count in the denominator: 10/100 */
    expect(a, s, 0, 1, &t);
    assert_int_equal(t.exit_code, 22);
    assert_string_equal(t.message,
                        "http(5xx,10%,2): HTTP codes 5xx at or above 10% for 2 s (last 10%)");
    mt_autostop_free(a);

    /* counts; a mask that is a single code */
    a = make1("http(404, 5, 1)");
    s = sec_next(&x);
    resp(&x, 0, 404, MS, 4);
    resp(&x, 0, 403, MS, 100);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 404, MS, 5);
    expect(a, s, 0, 1, &t);
    assert_string_equal(t.message,
                        "http(404, 5, 1): HTTP codes 404 at or above 5 for 1 s (last 5)");
    mt_autostop_free(a);

    /* xx: any status; 0: no status (errors) */
    a = make1("http(xx, 100%, 1)");
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 5);
    resp(&x, 0, 599, MS, 5);
    errs(&x, 0, MT_ERR_RESET, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 5);
    resp(&x, 0, 101, MS, 5);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    a = make1("http(0, 3, 1)");
    s = sec_next(&x);
    errs(&x, 0, MT_ERR_RESET, 2);
    resp(&x, 0, 200, MS, 100);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    errs(&x, 0, MT_ERR_RESET, 2);
    s->c.completed += 1;
    s->c.status[0] += 1; /* a response without a valid status */
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    /* 4x4 matches 404 and 414, not 400 */
    a = make1("http(4x4, 2, 1)");
    s = sec_next(&x);
    resp(&x, 0, 400, MS, 5);
    resp(&x, 0, 404, MS, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 414, MS, 1);
    resp(&x, 0, 404, MS, 1);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    /* no responses: a share is 0 */
    a = make1("http(5xx, 1%, 1)");
    expect(a, sec_next(&x), 0, 0, NULL);
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_net(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("net(xx,1,2)");
    sec_init(&x);

    for (int i = 0; i < 3; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, MS, 100);
        if (i > 0)
            errs(&x, 0, i == 1 ? MT_ERR_OTHER : MT_ERR_DNS, 1); /* 5 is non-zero too */
        expect(a, s, 0, i == 2, &t);
    }
    assert_int_equal(t.exit_code, 23);
    assert_int_equal(t.second, 2);
    assert_string_equal(t.message, "net(xx,1,2): network codes xx at or above 1 for 2 s (last 1)");
    mt_autostop_free(a);

    /* specific errnos */
    a = make1("net(110,2,1)");
    mt_second_t *s = sec_next(&x);
    errs(&x, 0, MT_ERR_REFUSED, 5);
    errs(&x, 0, MT_ERR_TIMEOUT, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    errs(&x, 0, MT_ERR_TIMEOUT, 2);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    a = make1("net(11x,3,1)"); /* 110, 111, 113 */
    s = sec_next(&x);
    errs(&x, 0, MT_ERR_TIMEOUT, 1);
    errs(&x, 0, MT_ERR_REFUSED, 1);
    errs(&x, 0, MT_ERR_RESET, 5);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    errs(&x, 0, MT_ERR_TIMEOUT, 1);
    errs(&x, 0, MT_ERR_REFUSED, 1);
    errs(&x, 0, MT_ERR_DNS, 1);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    /* shares of all finished requests */
    a = make1("net(xx,50%,1)");
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 2);
    errs(&x, 0, MT_ERR_CLOSED, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 1);
    errs(&x, 0, MT_ERR_PROTOCOL, 1);
    expect(a, s, 0, 1, &t);
    assert_string_equal(t.message,
                        "net(xx,50%,1): network codes xx at or above 50% for 1 s (last 50%)");
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_instances(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("instances(80%,2)");
    sec_init(&x);

    uint32_t open[] = {81, 80, 81, 90};
    for (int i = 0; i < 4; i++) {
        mt_second_t *s = sec_next(&x);
        s->open_conns = open[i];
        expect(a, s, 100, i == 3, &t);
    }
    assert_int_equal(t.exit_code, 24);
    assert_string_equal(t.message,
                        "instances(80%,2): open connections above 80% of 100 for 2 s (last 90)");
    mt_autostop_free(a);

    /* no cap: a share never trips */
    a = make1("instances(1%,1)");
    mt_second_t *s = sec_next(&x);
    s->open_conns = 1000;
    expect(a, s, 0, 0, NULL);
    mt_autostop_free(a);

    a = make1("instances(50,1)");
    s = sec_next(&x);
    s->open_conns = 50;
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    s->open_conns = 51;
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);
    sec_free(&x);
}

/* ---- sliding windows ------------------------------------------------------------------ */

static void test_total_time(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("total_time(100ms, 50%, 3s)");
    sec_init(&x);

    /* slow shares 60%, 40%, 50%: 15 of 30 over the window, trips when it is full; the first
     * second alone was above the level but the window was not full yet */
    int slow[] = {6, 4, 5};
    for (int i = 0; i < 3; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, 150 * MS, (uint64_t)slow[i]);
        resp(&x, 0, 200, 100 * MS, (uint64_t)(10 - slow[i])); /* exactly rt: not slow */
        expect(a, s, 0, i == 2, &t);
    }
    assert_int_equal(t.exit_code, 25);
    assert_string_equal(t.message,
                        "total_time(100ms, 50%, 3s): 50% of responses slower than 100 ms over the "
                        "last 3 s");
    mt_autostop_free(a);

    /* the window slides: old seconds leave it; shares are pooled (weighted by count) */
    a = make1("total_time(100ms, 50%, 2s)");
    x.next = 0;
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, 200 * MS, 100); /* 100% of 100 */
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 10 * MS, 100); /* window: 100 of 200 -> trips */
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    a = make1("total_time(100ms, 50%, 2s)");
    s = sec_next(&x);
    resp(&x, 0, 200, 200 * MS, 99);
    resp(&x, 0, 200, 10 * MS, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 10 * MS, 102); /* 99 of 202 */
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 200 * MS, 1);
    resp(&x, 0, 200, 10 * MS, 1); /* 1 of 104 */
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 200 * MS, 51);
    resp(&x, 0, 200, 10 * MS, 51); /* 52 of 104: exactly 50% */
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);

    /* empty seconds: no responses in the window, no trip */
    a = make1("total_time(1ms, 0%, 1s)");
    expect(a, sec_next(&x), 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, 10, 1);
    expect(a, s, 0, 1, NULL); /* 0% >= 0% */
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_total_http(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("total_http(5xx, 10%, 3)");
    sec_init(&x);

    /* Tank averages the per-second shares: 50%, 0%, 0% -> 16.7% >= 10%, although only 1 of
     * 202 responses was a 5xx */
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 500, MS, 1);
    resp(&x, 0, 200, MS, 1);
    expect(a, s, 0, 0, NULL);
    for (int i = 0; i < 2; i++) {
        s = sec_next(&x);
        resp(&x, 0, 200, MS, 100);
        expect(a, s, 0, i == 1, &t);
    }
    assert_int_equal(t.exit_code, 26);
    assert_string_equal(t.message, "total_http(5xx, 10%, 3): HTTP codes 5xx averaged 16.67% of "
                                   "requests per second over the last 3 s (level 10%)");
    mt_autostop_free(a);

    /* exactly at the level over a full window */
    a = make1("total_http(5xx, 10%, 2)");
    s = sec_next(&x);
    resp(&x, 0, 503, MS, 15);
    resp(&x, 0, 200, MS, 85);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 503, MS, 1);
    resp(&x, 0, 200, MS, 19);
    expect(a, s, 0, 1, NULL); /* (15% + 5%) / 2 */
    mt_autostop_free(a);

    /* counts are summed over the window */
    a = make1("total_http(5xx, 5, 3)");
    int counts[] = {2, 2, 0, 2, 3};
    for (int i = 0; i < 5; i++) {
        s = sec_next(&x);
        resp(&x, 0, 500, MS, (uint64_t)counts[i]);
        resp(&x, 0, 200, MS, 10);
        expect(a, s, 0, i == 4, &t); /* windows: 4, 4, 5 at the last */
    }
    assert_string_equal(t.message, "total_http(5xx, 5, 3): 5 requests with HTTP codes 5xx over "
                                   "the last 3 s (level 5)");
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_total_net(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("total_net(xx, 3, 2)");
    sec_init(&x);

    int counts[] = {1, 1, 1, 2};
    for (int i = 0; i < 4; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, MS, 10);
        errs(&x, 0, MT_ERR_TIMEOUT, (uint64_t)counts[i]);
        expect(a, s, 0, i == 3, &t);
    }
    assert_int_equal(t.exit_code, 27);
    mt_autostop_free(a);

    a = make1("total_net(111, 20%, 1)");
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, MS, 8);
    errs(&x, 0, MT_ERR_TIMEOUT, 2);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 8);
    errs(&x, 0, MT_ERR_REFUSED, 2);
    expect(a, s, 0, 1, NULL);
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_negative(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("negative_http(2xx, 20%, 2)");
    sec_init(&x);

    /* non-2xx (errors included): 25%, then 15% -> mean 20% */
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, MS, 75);
    resp(&x, 0, 404, MS, 20);
    errs(&x, 0, MT_ERR_TIMEOUT, 5);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 204, MS, 85);
    resp(&x, 0, 500, MS, 15);
    expect(a, s, 0, 1, &t);
    assert_int_equal(t.exit_code, 28);
    assert_string_equal(t.message, "negative_http(2xx, 20%, 2): HTTP codes other than 2xx averaged "
                                   "20% of requests per second over the last 2 s (level 20%)");
    mt_autostop_free(a);

    /* negative_net(0, ...): requests with a network error; code 0 is a success */
    a = make1("negative_net(0, 10%, 1)");
    s = sec_next(&x);
    resp(&x, 0, 500, MS, 91);
    errs(&x, 0, MT_ERR_REFUSED, 9);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 90);
    errs(&x, 0, MT_ERR_REFUSED, 10);
    expect(a, s, 0, 1, &t);
    assert_int_equal(t.exit_code, 29);
    mt_autostop_free(a);

    /* counts: finished requests not matching */
    a = make1("negative_net(110, 50, 2)");
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 20);
    errs(&x, 0, MT_ERR_TIMEOUT, 100);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 200, MS, 30);
    expect(a, s, 0, 1, NULL); /* 20 + 30 */
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_http_trend(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("http_trend(2xx, 3)");
    sec_init(&x);

    /* tangents start as [0]: 100, 110, 110 -> [100,10,0]; 100 -> [10,0,-10]: mean 0;
     * 90 -> [0,-10,-10]: mean -6.67, error 3.33, sum below 0 */
    int counts[] = {100, 110, 110, 100, 90};
    for (int i = 0; i < 5; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, MS, (uint64_t)counts[i]);
        resp(&x, 0, 500, MS, 50); /* other codes do not count */
        expect(a, s, 0, i == 4, &t);
    }
    assert_int_equal(t.exit_code, 30);
    assert_int_equal(t.second, 4);
    assert_string_equal(t.message, "http_trend(2xx, 3): HTTP codes 2xx trend down: -6.67 +/- 3.33 "
                                   "per second over the last 3 s");
    mt_autostop_free(a);

    /* a steady fall trips once the window has no rise left */
    a = make1("http_trend(2xx, 2)");
    int fall[] = {50, 40, 30};
    for (int i = 0; i < 3; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, MS, (uint64_t)fall[i]);
        expect(a, s, 0, i == 2, NULL); /* [0,50] [50,-10] [-10,-10] */
    }
    mt_autostop_free(a);
    sec_free(&x);
}

/* ---- tags, order, codes --------------------------------------------------------------- */

static void test_tags(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    mt_autostop_t *a = make1("time(100ms, 1s, api)");
    sec_init(&x);

    mt_second_t *s = sec_next(&x);
    resp(&x, 2, 200, 500 * MS, 100); /* "static" slow: not ours */
    resp(&x, 1, 200, 10 * MS, 10);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 1, 200, 150 * MS, 10);
    resp(&x, 0, 200, MS, 1000); /* overall fast */
    expect(a, s, 0, 1, &t);
    assert_string_equal(t.criterion, "time(100ms, 1s, api)");
    mt_autostop_free(a);

    const char *texts[] = {"http(5xx,50%,1,static)", "net(xx,1,1,api)", "total_time(1ms,50%,1,api)",
                           "quantile(50,1ms,1,static)"};
    for (int k = 0; k < 4; k++) {
        a = make1(texts[k]);
        s = sec_next(&x);
        resp(&x, 0, 500, 5 * MS, 10); /* everything bad, but untagged */
        errs(&x, 0, MT_ERR_TIMEOUT, 10);
        expect(a, s, 0, 0, NULL);
        s = sec_next(&x);
        resp(&x, k == 1 || k == 2 ? 1 : 2, 500, 5 * MS, 10);
        errs(&x, k == 1 || k == 2 ? 1 : 2, MT_ERR_TIMEOUT, 1);
        expect(a, s, 0, 1, &t);
        mt_autostop_free(a);
    }

    /* a snapshot without per-tag data: the tag has no requests */
    a = make1("http(5xx,1,1,api)");
    s = sec_next(&x);
    resp(&x, 1, 500, MS, 10);
    s->tags = NULL;
    s->ntags = 0;
    expect(a, s, 0, 0, NULL);
    mt_autostop_free(a);
    sec_free(&x);
}

static void test_order_and_codes(void **state)
{
    sec_t x;
    mt_autostop_trip_t t;
    const char *texts[] = {"limit(10s)", "net(xx,1,1)", "http(5xx,1,1)", "time(1ms,1)"};
    mt_autostop_t *a = make(texts, 4);
    sec_init(&x);

    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 500, 50 * MS, 1);
    errs(&x, 0, MT_ERR_RESET, 1);
    expect(a, s, 0, 1, &t);
    assert_int_equal(t.index, 1); /* the first in order */
    assert_int_equal(t.exit_code, 23);
    mt_autostop_free(a);

    /* several trip in the same second: the first in order is reported */
    const char *texts2[] = {"http(5xx,1,1)", "time(1ms,2)"};
    a = make(texts2, 2);
    s = sec_next(&x);
    resp(&x, 0, 200, 50 * MS, 1);
    expect(a, s, 0, 0, NULL);
    s = sec_next(&x);
    resp(&x, 0, 500, 50 * MS, 1);
    expect(a, s, 0, 1, &t);
    assert_int_equal(t.index, 0);
    mt_autostop_free(a);

    static const struct {
        const char *text;
        int rc;
    } rcs[] = {{"time(1,1)", 21},
               {"quantile(50,1,1)", 21},
               {"limit(1)", 21},
               {"http(xx,1,1)", 22},
               {"net(xx,1,1)", 23},
               {"instances(0,1)", 24},
               {"total_time(1,0%,1)", 25},
               {"total_http(xx,0,1)", 26},
               {"total_net(xx,0,1)", 27},
               {"negative_http(404,0,1)", 28},
               {"negative_net(0,0,1)", 29},
               {"http_trend(xx,1)", 30}};
    for (size_t i = 0; i < sizeof rcs / sizeof rcs[0]; i++) {
        int rc = 0;
        a = make1(rcs[i].text);
        x.next = 0;
        /* 10 then 1 responses (http_trend falls), a timeout each second, 5 connections */
        for (int k = 0; k < 2 && rc == 0; k++) {
            s = sec_next(&x);
            resp(&x, 0, 200, 5 * MS, k == 0 ? 10 : 1);
            errs(&x, 0, MT_ERR_TIMEOUT, 1);
            s->open_conns = 5;
            rc = mt_autostop_feed(a, s, 0, &t);
        }
        assert_int_equal(rc, 1);
        assert_int_equal(t.exit_code, rcs[i].rc);
        mt_autostop_free(a);
    }
    assert_int_equal(mt_autostop_feed(NULL, s, 0, &t), MT_EINVAL);
    sec_free(&x);
}

/* Long windows grow as seconds arrive and then wrap. */
static void test_long_window(void **state)
{
    sec_t x;
    mt_autostop_t *a = make1("total_http(5xx, 1000, 1000s)");
    sec_init(&x);
    for (int i = 0; i < 1500; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, i < 1000 ? 200 : 500, MS, 1);
        resp(&x, 0, 200, MS, 1);
        /* the window holds 1000 seconds; 5xx started at second 1000 */
        expect(a, s, 0, 0, NULL);
    }
    for (int i = 0; i < 500; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 500, MS, 1);
        expect(a, s, 0, i == 499, NULL); /* 500 in the window, one more each second */
    }
    mt_autostop_free(a);
    sec_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_net_codes),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_net),
        cmocka_unit_test(test_steady_cumulative),
        cmocka_unit_test(test_instances),
        cmocka_unit_test(test_total_time),
        cmocka_unit_test(test_total_http),
        cmocka_unit_test(test_total_net),
        cmocka_unit_test(test_negative),
        cmocka_unit_test(test_http_trend),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_order_and_codes),
        cmocka_unit_test(test_long_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
