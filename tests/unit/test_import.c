/* mt_imp (mortar/import.h): every format split at every byte gives the same seconds as in one
 * piece; the reorder window's rule (late records, empty seconds, second 0); tags; detection;
 * malformed lines lenient and strict; the live clock; k6's RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/proto/import.c"

#define MAXS 64
typedef struct got {
    uint32_t n;
    uint32_t index[MAXS];
    uint64_t sent[MAXS], errors[MAXS], s200[MAXS], s404[MAXS], refused[MAXS], hist[MAXS];
    size_t ntags;
    uint64_t tag_sent[MAXS][4];
    char tag1[64];
} got_t;

static int on_second(const mt_second_t *s, const char *const *tags, size_t ntags, void *ud)
{
    got_t *g = ud;
    assert_true(g->n < MAXS);
    uint32_t i = g->n++;
    g->index[i] = s->index;
    g->sent[i] = s->c.sent;
    g->errors[i] = s->c.errors;
    g->s200[i] = s->c.status[200];
    g->s404[i] = s->c.status[404];
    g->refused[i] = s->c.err[MT_ERR_REFUSED];
    g->hist[i] = mt_hist_count(s->latency);
    assert_int_equal(s->ntags, ntags);
    g->ntags = ntags;
    for (size_t t = 0; t < ntags && t < 4; t++)
        g->tag_sent[i][t] = s->tags[t].c.sent;
    if (ntags > 1)
        snprintf(g->tag1, sizeof g->tag1, "%s", tags[1]);
    return 0;
}

static uint64_t g_wait; /* the last run's count of breakdown "wait" values */

static int run(const char *in, size_t len, size_t split, mt_imp_format_t fmt, got_t *g,
               mt_imp_stats_t *st, char *err)
{
    mt_imp_opts_t o = {.format = fmt, .window_s = 3, .name = "f"};
    mt_imp_t *p = NULL;
    memset(g, 0, sizeof *g);
    assert_int_equal(mt_imp_new(&o, on_second, g, &p), MT_OK);
    int rc = MT_OK;
    for (size_t off = 0; rc == MT_OK && off < len; off += split) {
        size_t n = len - off < split ? len - off : split;
        rc = mt_imp_feed(p, in + off, n);
    }
    if (rc == MT_OK)
        rc = mt_imp_finish(p);
    *st = *mt_imp_stats(p);
    g_wait = st->wait ? mt_hist_count(st->wait) : 0;
    st->connect = st->send = st->wait = st->recv = NULL; /* freed below */
    if (err)
        snprintf(err, 256, "%s", mt_imp_error(p));
    mt_imp_free(p);
    return rc;
}

static void same_every_split(const char *in, mt_imp_format_t fmt, uint64_t records)
{
    got_t whole, part;
    mt_imp_stats_t st1, st2;
    size_t len = strlen(in);
    assert_int_equal(run(in, len, len, fmt, &whole, &st1, NULL), MT_OK);
    assert_int_equal(st1.records, records);
    assert_int_equal(st1.malformed, 0);
    for (size_t split = 1; split < len; split++) {
        assert_int_equal(run(in, len, split, fmt, &part, &st2, NULL), MT_OK);
        assert_int_equal(st2.records, records);
        assert_memory_equal(&whole, &part, sizeof whole);
    }
}

static const char phout[] =
    "1700000001.500\thome\t1500\t10\t20\t1000\t470\t1500\t100\t200\t0\t200\n"
    "1700000000.250\tcart\t2500\t10\t20\t2000\t470\t2500\t100\t200\t0\t404\n"
    "1700000000.999\t\t900\t0\t0\t0\t0\t900\t100\t0\t111\t0\n"
    "1700000003.000\thome\t1000\t10\t20\t500\t470\t1000\t100\t200\t0\t200"; /* no newline */

static void test_phout(void **state)
{
    (void)state;
    same_every_split(phout, MT_IMP_AUTO, 4);
    got_t g;
    mt_imp_stats_t st;
    assert_int_equal(run(phout, strlen(phout), 7, MT_IMP_AUTO, &g, &st, NULL), MT_OK);
    /* second 0 = 1700000000 (the earliest), 1 and 3 in their seconds, 2 empty */
    assert_int_equal(g.n, 4);
    assert_int_equal(g.sent[0], 2);
    assert_int_equal(g.errors[0], 1);
    assert_int_equal(g.refused[0], 1);
    assert_int_equal(g.s404[0], 1);
    assert_int_equal(g.hist[0], 1); /* the refused record has no response to time */
    assert_int_equal(g.sent[1], 1);
    assert_int_equal(g.sent[2], 0);
    assert_int_equal(g.sent[3], 1);
    for (uint32_t i = 0; i < g.n; i++)
        assert_int_equal(g.index[i], i);
    assert_int_equal(g.ntags, 3); /* "", home, cart */
    assert_string_equal(g.tag1, "home");
    assert_int_equal(g.tag_sent[0][2], 1);
    assert_int_equal(g_wait, 3); /* nor a breakdown */
}

static void test_jtl_csv(void **state)
{
    (void)state;
    /* JMeter's default columns, no header; a quoted label with a comma; a non-HTTP code */
    same_every_split("1700000000100,12,\"a, b\",200,OK,T 1-1,text,true,,10,5,1,1,http://x/,6,0,2\n"
                     "1700000000200,7,a,Non HTTP response code: java.net.ConnectException,"
                     "Non HTTP,T 1-1,text,false,,0,0,1,1,http://x/,0,0,0\r\n",
                     MT_IMP_AUTO, 2);
    same_every_split("label,elapsed,timeStamp\nx,5,1700000000000\ny,6,1700000001000\n", MT_IMP_AUTO,
                     2);
    got_t g;
    mt_imp_stats_t st;
    const char *in = "1700000000100,12,x,Non HTTP response code: java.net.ConnectException,"
                     "m,t,text,false,,0,0,1,1,u,0,0,0\n";
    assert_int_equal(run(in, strlen(in), 1000, MT_IMP_JTL_CSV, &g, &st, NULL), MT_OK);
    assert_int_equal(g.refused[0], 1);
}

static void test_jtl_xml(void **state)
{
    (void)state;
    same_every_split("<?xml version=\"1.0\"?>\n<testResults version=\"1.2\">\n"
                     "<httpSample t=\"5\" lt=\"2\" ct=\"1\" ts=\"1700000000000\" s=\"true\" "
                     "lb=\"a &amp; b\" rc=\"200\" by=\"3\" sby=\"4\">\n"
                     "  <httpSample t=\"1\" ts=\"1700000000000\" lb=\"sub\" rc=\"302\"/>\n"
                     "</httpSample>\n<sample t=\"9\" ts=\"1700000001000\" lb=\"j\" rc=\"500\" "
                     "s=\"false\"/>\n</testResults>\n",
                     MT_IMP_AUTO, 2);
    got_t g;
    mt_imp_stats_t st;
    char err[256];
    const char *bad = "<testResults>\n<httpSample t=\"x\" ts=\"1700000000000\"/>\n"
                      "<httpSample t=\"1\" ts=\"1700000000000\"/>\n<oops></testResults>";
    assert_int_equal(run(bad, strlen(bad), 5, MT_IMP_AUTO, &g, &st, err), MT_OK);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.malformed, 2); /* the bad sample, then the XML error */
    assert_string_equal(st.examples[0], "f:2: elapsed: not a number of milliseconds");
    assert_non_null(strstr(st.examples[1], "f:4: column"));
}

static void test_k6(void **state)
{
    (void)state;
    same_every_split(
        "{\"type\":\"Metric\",\"data\":{},\"metric\":\"http_req_duration\"}\n"
        "{\"type\":\"Point\",\"metric\":\"http_req_duration\",\"data\":{\"time\":"
        "\"2023-11-14T22:13:20.500000+00:00\",\"value\":250.5,\"tags\":{\"name\":\"home\","
        "\"status\":\"200\",\"expected_response\":\"true\"}}}\n"
        "{\"type\":\"Point\",\"metric\":\"http_reqs\",\"data\":{\"time\":"
        "\"2023-11-14T22:13:20.500000+00:00\",\"value\":1,\"tags\":{}}}\n"
        "{\"type\":\"Point\",\"metric\":\"http_req_duration\",\"data\":{\"time\":"
        "\"2023-11-14T23:13:21+01:00\",\"value\":3,\"tags\":{\"status\":\"0\","
        "\"error_code\":\"1212\"}}}\n",
        MT_IMP_AUTO, 2);
    int64_t us;
    assert_int_equal(rfc3339_us("2023-11-14T22:13:20.5Z", &us), 0);
    assert_int_equal(us, INT64_C(1700000000500000));
    assert_int_equal(rfc3339_us("2023-11-14T23:13:20-00:30", &us), 0);
    assert_int_equal(us, INT64_C(1700005400000000));
    assert_int_equal(rfc3339_us("2023-11-14 22:13:20Z", &us), -1);
    assert_int_equal(rfc3339_us("2023-11-14T22:13:20", &us), -1);
}

static void test_window(void **state)
{
    (void)state;
    /* window 3: a record more than 3 s older than the newest one read is late */
    const char *in = "1700000010.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"
                     "1700000008.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"  /* 2 s older: in */
                     "1700000014.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"  /* closes 8..10 */
                     "1700000010.5\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"  /* late */
                     "1700000011.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"; /* 3 s older: in */
    got_t g;
    mt_imp_stats_t st;
    assert_int_equal(run(in, strlen(in), 3, MT_IMP_PHOUT, &g, &st, NULL), MT_OK);
    assert_int_equal(st.records, 5);
    assert_int_equal(st.late, 1);
    assert_int_equal(g.n, 7); /* 8..14 */
    assert_int_equal(g.sent[0], 1);
    assert_int_equal(g.sent[2], 1);
    assert_int_equal(g.sent[3], 1);
    assert_int_equal(g.sent[6], 1);
    assert_int_equal(g.sent[1] + g.sent[4] + g.sent[5], 0);
    /* more than 7 days after second 0: malformed */
    const char *far = "1700000000.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"
                      "1800000000.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n";
    assert_int_equal(run(far, strlen(far), 100, MT_IMP_PHOUT, &g, &st, NULL), MT_OK);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(g.n, 1);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *in = "1700000000.0\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"
                     "1700000000.0\tt\tx\t0\t0\t0\t0\t1\t0\t0\t0\t200\n"
                     "\n"
                     "1700000000.0\tt\t1\n";
    got_t g;
    mt_imp_stats_t st;
    char err[256];
    assert_int_equal(run(in, strlen(in), 1, MT_IMP_AUTO, &g, &st, err), MT_OK);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.malformed, 2);
    assert_string_equal(st.examples[0], "f:2: column 3 (interval_real): not an integer");
    assert_string_equal(st.examples[1], "f:4: 3 columns, phout has 12 (tab-separated)");
    mt_imp_opts_t o = {.strict = true, .name = "f"};
    mt_imp_t *p;
    assert_int_equal(mt_imp_new(&o, on_second, &g, &p), MT_OK);
    assert_int_equal(mt_imp_feed(p, in, strlen(in)), MT_EPARSE);
    assert_string_equal(mt_imp_error(p), "f:2: column 3 (interval_real): not an integer");
    assert_int_equal(mt_imp_feed(p, "x", 1), MT_EPARSE); /* sticky */
    mt_imp_free(p);
    /* a line over the limit */
    size_t n = MT_IMP_MAX_LINE + 10;
    char *big = malloc(n + 60);
    memcpy(big, in, 45);
    memset(big + 45, 'a', n);
    memcpy(big + 45 + n, "\n", 2);
    assert_int_equal(run(big, strlen(big), 4096, MT_IMP_PHOUT, &g, &st, NULL), MT_OK);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.malformed, 1);
    free(big);
    /* no known format */
    assert_int_equal(run("hello\n", 6, 6, MT_IMP_AUTO, &g, &st, err), MT_EPARSE);
    assert_non_null(strstr(err, "give --format"));
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(imp_detect("\xEF\xBB\xBF<?xml", 8), MT_IMP_JTL_XML);
    assert_int_equal(imp_detect(" {\"type\"", 8), MT_IMP_K6);
    assert_int_equal(imp_detect("1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\n", 27), MT_IMP_PHOUT);
    assert_int_equal(imp_detect("1700000000000,1,a\n", 18), MT_IMP_JTL_CSV);
    assert_int_equal(imp_detect("elapsed,timeStamp\n", 18), MT_IMP_JTL_CSV);
    assert_int_equal(imp_detect("a,b,c\n", 6), MT_IMP_AUTO);
    mt_imp_format_t f;
    assert_int_equal(mt_imp_format_parse("jtl-xml", &f), MT_OK);
    assert_int_equal(f, MT_IMP_JTL_XML);
    assert_int_equal(mt_imp_format_parse("json", &f), MT_EINVAL);
}

static void test_tick(void **state)
{
    (void)state;
    mt_imp_opts_t o = {.window_s = 1, .name = "live"};
    mt_imp_t *p;
    got_t g = {0};
    assert_int_equal(mt_imp_new(&o, on_second, &g, &p), MT_OK);
    const char *l = "1700000000.2\tt\t1\t0\t0\t0\t0\t1\t0\t0\t0\t200\n";
    assert_int_equal(mt_imp_feed(p, l, strlen(l)), MT_OK);
    assert_int_equal(mt_imp_tick(p, INT64_C(1700000001900000000)), MT_OK);
    assert_int_equal(g.n, 0); /* 0.9 s after the second's end: still open */
    assert_int_equal(mt_imp_tick(p, INT64_C(1700000002000000000)), MT_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(mt_imp_tick(p, INT64_C(1700000004000000000)), MT_OK);
    assert_int_equal(g.n, 3); /* empty seconds follow the clock */
    assert_int_equal(mt_imp_feed(p, l, strlen(l)), MT_OK);
    assert_int_equal(mt_imp_stats(p)->late, 1);
    assert_int_equal(mt_imp_start_unix_ns(p), INT64_C(1700000000000000000));
    mt_imp_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phout),   cmocka_unit_test(test_jtl_csv),
        cmocka_unit_test(test_jtl_xml), cmocka_unit_test(test_k6),
        cmocka_unit_test(test_window),  cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_detect),  cmocka_unit_test(test_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
