/* Thresholds: parsing (good and bad, with columns), end-of-run evaluation at the boundaries,
 * tags and missing data, and the per-second abortOnFail watch. */
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

#define S 1000000000LL

#define NTAGS 3
static const char *const tag_names[NTAGS] = {"", "api", "static"};

static mt_threshold_t parse_ok(const char *text)
{
    mt_threshold_t t;
    mt_parse_err_t err = {0};
    int rc = mt_threshold_parse(text, &t, &err);
    if (rc != MT_OK)
        print_error("'%s': rc %d col %d: %s\n", text, rc, err.col, err.msg);
    assert_int_equal(rc, MT_OK);
    return t;
}

/* ---- parsing -------------------------------------------------------------------------- */

static void test_parse_good(void **state)
{
    static const struct {
        const char *in;
        mt_threshold_metric_t metric;
        mt_threshold_agg_t agg;
        double pct;
        mt_threshold_op_t op;
        double value;
        const char *tag, *mask;
        bool abort;
        int64_t delay;
    } cases[] = {
        {"p(99)<200ms", MT_TM_LATENCY, MT_TA_PCT, 99, MT_TOP_LT, 200000, "", "", false, 0},
        {"p(99.9) <= 1.5s", MT_TM_LATENCY, MT_TA_PCT, 99.9, MT_TOP_LE, 1500000, "", "", false, 0},
        {"p( 50 )>=250us", MT_TM_LATENCY, MT_TA_PCT, 50, MT_TOP_GE, 250, "", "", false, 0},
        {"avg<200", MT_TM_LATENCY, MT_TA_AVG, 0, MT_TOP_LT, 200000, "", "", false, 0},
        {"med==0.5ms", MT_TM_LATENCY, MT_TA_MED, 0, MT_TOP_EQ, 500, "", "", false, 0},
        {"min===1us", MT_TM_LATENCY, MT_TA_MIN, 0, MT_TOP_EQ, 1, "", "", false, 0},
        {"max != 2s", MT_TM_LATENCY, MT_TA_MAX, 0, MT_TOP_NE, 2000000, "", "", false, 0},
        {"latency: p(95) < 100", MT_TM_LATENCY, MT_TA_PCT, 95, MT_TOP_LT, 100000, "", "", false, 0},
        {"http_req_duration{tag:api}:p(90)<1s", MT_TM_LATENCY, MT_TA_PCT, 90, MT_TOP_LT, 1e6, "api",
         "", false, 0},
        {"LATENCY { tag : my tag } : AVG > 1", MT_TM_LATENCY, MT_TA_AVG, 0, MT_TOP_GT, 1000,
         "my tag", "", false, 0},
        {"service: p(99)<50ms", MT_TM_SERVICE, MT_TA_PCT, 99, MT_TOP_LT, 50000, "", "", false, 0},
        {"errors<1%", MT_TM_ERRORS, MT_TA_RATE, 0, MT_TOP_LT, 0.01, "", "", false, 0},
        {"rate<0.01", MT_TM_ERRORS, MT_TA_RATE, 0, MT_TOP_LT, 0.01, "", "", false, 0},
        {"errors: rate<=0.5%", MT_TM_ERRORS, MT_TA_RATE, 0, MT_TOP_LE, 0.005, "", "", false, 0},
        {"http_req_failed<0.1", MT_TM_FAILED, MT_TA_RATE, 0, MT_TOP_LT, 0.1, "", "", false, 0},
        {"http_req_failed: rate<0.01", MT_TM_FAILED, MT_TA_RATE, 0, MT_TOP_LT, 0.01, "", "", false,
         0},
        {"failed{tag:api}: count==0", MT_TM_FAILED, MT_TA_COUNT, 0, MT_TOP_EQ, 0, "api", "", false,
         0},
        {"http_req_waiting: p(95)<100", MT_TM_WAITING, MT_TA_PCT, 95, MT_TOP_LT, 100000, "", "",
         false, 0},
        {"http_req_connecting: avg<1ms", MT_TM_CONNECTING, MT_TA_AVG, 0, MT_TOP_LT, 1000, "", "",
         false, 0},
        {"http_req_tls_handshaking: max<1s", MT_TM_TLS, MT_TA_MAX, 0, MT_TOP_LT, 1e6, "", "", false,
         0},
        {"http_req_sending: med<1", MT_TM_SENDING, MT_TA_MED, 0, MT_TOP_LT, 1000, "", "", false, 0},
        {"receive: p(99)<5ms", MT_TM_RECEIVING, MT_TA_PCT, 99, MT_TOP_LT, 5000, "", "", false, 0},
        {"errors{tag:api}: count == 0", MT_TM_ERRORS, MT_TA_COUNT, 0, MT_TOP_EQ, 0, "api", "",
         false, 0},
        {"requests>1000", MT_TM_REQUESTS, MT_TA_COUNT, 0, MT_TOP_GT, 1000, "", "", false, 0},
        {"http_reqs: rate>=99.5", MT_TM_REQUESTS, MT_TA_RATE, 0, MT_TOP_GE, 99.5, "", "", false, 0},
        {"rps>=1000", MT_TM_RPS, MT_TA_VALUE, 0, MT_TOP_GE, 1000, "", "", false, 0},
        {"rps: value > 5", MT_TM_RPS, MT_TA_VALUE, 0, MT_TOP_GT, 5, "", "", false, 0},
        {"status{code:5xx}<1%", MT_TM_STATUS, MT_TA_RATE, 0, MT_TOP_LT, 0.01, "", "5xx", false, 0},
        {"status{code:404,tag:static}: count<=10", MT_TM_STATUS, MT_TA_COUNT, 0, MT_TOP_LE, 10,
         "static", "404", false, 0},
        {"status{code:XX}: rate>0.99", MT_TM_STATUS, MT_TA_RATE, 0, MT_TOP_GT, 0.99, "", "xx",
         false, 0},
        {"p(99)<200ms;abortOnFail", MT_TM_LATENCY, MT_TA_PCT, 99, MT_TOP_LT, 200000, "", "", true,
         0},
        {"p(99)<200ms ; abortOnFail ; delayAbortEval = 10s", MT_TM_LATENCY, MT_TA_PCT, 99,
         MT_TOP_LT, 200000, "", "", true, 10 * S},
        {"errors<1%;delayAbortEval=1m30s;abortOnFail=true", MT_TM_ERRORS, MT_TA_RATE, 0, MT_TOP_LT,
         0.01, "", "", true, 90 * S},
        {"errors<1%;abortonfail=false", MT_TM_ERRORS, MT_TA_RATE, 0, MT_TOP_LT, 0.01, "", "", false,
         0},
        {"avg>-5", MT_TM_LATENCY, MT_TA_AVG, 0, MT_TOP_GT, -5000, "", "", false, 0},
        {"p(0)>=.5", MT_TM_LATENCY, MT_TA_PCT, 0, MT_TOP_GE, 500, "", "", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_threshold_t t = parse_ok(cases[i].in);
        if (t.metric != cases[i].metric || t.agg != cases[i].agg || t.op != cases[i].op ||
            t.value != cases[i].value || (t.agg == MT_TA_PCT && t.pct != cases[i].pct))
            print_error("'%s': metric %d agg %d pct %g op %d value %.17g\n", cases[i].in, t.metric,
                        t.agg, t.pct, t.op, t.value);
        assert_int_equal(t.metric, cases[i].metric);
        assert_int_equal(t.agg, cases[i].agg);
        assert_int_equal(t.op, cases[i].op);
        assert_true(t.value == cases[i].value);
        if (t.agg == MT_TA_PCT)
            assert_true(t.pct == cases[i].pct);
        assert_string_equal(t.tag, cases[i].tag);
        assert_string_equal(t.mask, cases[i].mask);
        assert_int_equal(t.abort_on_fail, cases[i].abort);
        assert_int_equal(t.delay_abort_ns, cases[i].delay);
    }
    mt_threshold_t t = parse_ok("  p(99) < 200ms ;abortOnFail  ");
    assert_string_equal(t.text, "p(99) < 200ms ;abortOnFail");
}

static void test_parse_bad(void **state)
{
    static const struct {
        const char *in;
        int rc, col;
        const char *msg;
    } cases[] = {
        {"", MT_EPARSE, 1, "expected a threshold"},
        {"<200", MT_EPARSE, 1, "expected a metric or an aggregation"},
        {"p99<200", MT_EPARSE, 1, "unknown metric or aggregation 'p99'"},
        {"p(101)<1", MT_EPARSE, 3, "percentile must be between 0 and 100"},
        {"p(-1)<1", MT_EPARSE, 3, "percentile must be between 0 and 100"},
        {"p()<1", MT_EPARSE, 3, "expected a number"},
        {"p(99<1", MT_EPARSE, 5, "expected ')' after the percentile"},
        {"lat: p(99)<1", MT_EPARSE, 1, "unknown metric 'lat'"},
        {"latency: p99<1", MT_EPARSE, 10, "unknown aggregation 'p99' for latency"},
        {"latency: rate<1", MT_EPARSE, 10, "latency has no rate (use avg, min, max, med, p(N))"},
        {"errors: avg<1", MT_EPARSE, 9, "errors has no avg (use rate, count)"},
        {"rps: count<1", MT_EPARSE, 6, "rps has no count (use value)"},
        {"latency<200ms", MT_EPARSE, 1, "latency needs an aggregation"},
        {"count<10", MT_EPARSE, 1, "count needs a metric"},
        {"value>1", MT_EPARSE, 1, "value needs a metric"},
        {"avg{tag:api}<1", MT_EPARSE, 1, "filters go on a metric"},
        {"latency{name:x}: avg<1", MT_EPARSE, 9, "unknown filter 'name' (tag, code)"},
        {"checks: rate>0.99", MT_EPARSE, 1, "unsupported k6 metric 'checks': k6's checks rate"},
        {"checks>0.99", MT_EPARSE, 1, "unsupported k6 metric 'checks'"},
        {"iterations: count>1", MT_EPARSE, 1, "unsupported k6 metric 'iterations'"},
        {"http_req_duration{expected_response:true}: p(95)<1", MT_EPARSE, 19,
         "expected_response is not supported"},
        {"http_req_waiting{tag:api}: avg<1", MT_EPARSE, 1,
         "wait is measured for the whole run only"},
        {"http_req_waiting: avg<1;abortOnFail", MT_EPARSE, 1,
         "wait is known at the end of the run only"},
        {"http_req_failed: avg<1", MT_EPARSE, 18, "failed has no avg (use rate, count)"},
        {"latency{tag x}: avg<1", MT_EPARSE, 13, "expected ':' after the filter name"},
        {"latency{tag:}: avg<1", MT_EPARSE, 13, "empty filter value"},
        {"latency{tag:api: avg<1", MT_EPARSE, 23, "missing '}'"},
        {"latency{tag:a,tag:b}: avg<1", MT_EPARSE, 15, "tag given twice"},
        {"latency{}: avg<1", MT_EPARSE, 9, "expected a filter"},
        {"status<1%", MT_EPARSE, 1, "status needs a code mask"},
        {"status{code:5x}<1%", MT_EPARSE, 13, "bad HTTP code mask"},
        {"status{code:5y0}<1%", MT_EPARSE, 14, "bad code mask: use digits and x"},
        {"status{code:5xx,code:4xx}<1%", MT_EPARSE, 17, "code given twice"},
        {"errors{code:5xx}<1%", MT_EPARSE, 8, "the code filter applies to status only"},
        {"p(99)200ms", MT_EPARSE, 6, "expected an operator"},
        {"p(99)=200ms", MT_EPARSE, 6, "expected an operator"},
        {"p(99)<", MT_EPARSE, 7, "expected a number"},
        {"p(99)<ms", MT_EPARSE, 7, "expected a number"},
        {"p(99)<200sec", MT_EPARSE, 10, "bad unit for latency (us, ms, s; none = ms)"},
        {"p(99)<1%", MT_EPARSE, 8, "bad unit for latency"},
        {"errors<1ms", MT_EPARSE, 9, "bad unit for a rate"},
        {"requests<1%", MT_EPARSE, 11, "requests count takes a plain number"},
        {"rps>10/s", MT_EPARSE, 7, "unexpected text"},
        {"p(99)<200 ms", MT_EPARSE, 11, "unexpected text"},
        {"p(99)<99999999999999999999", MT_ERANGE, 7, "number too large"},
        {"p(99)<1;", MT_EPARSE, 9, "expected an option"},
        {"p(99)<1;abort", MT_EPARSE, 9, "unknown option 'abort'"},
        {"p(99)<1;abortOnFail=yes", MT_EPARSE, 21, "abortOnFail takes true or false"},
        {"p(99)<1;abortOnFail;delayAbortEval", MT_EPARSE, 35, "delayAbortEval needs a duration"},
        {"p(99)<1;abortOnFail;delayAbortEval=", MT_EPARSE, 36, "empty option value"},
        {"p(99)<1;abortOnFail;delayAbortEval=10x", MT_EPARSE, 38, "bad duration '10x'"},
        {"p(99)<1;delayAbortEval=10s", MT_EPARSE, 9, "delayAbortEval needs abortOnFail"},
        {"p(99)<1;abortOnFail;delayAbortEval=10s;abortOnFail=false", MT_EPARSE, 21,
         "delayAbortEval needs abortOnFail"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_threshold_t t;
        mt_parse_err_t err = {0};
        int rc = mt_threshold_parse(cases[i].in, &t, &err);
        assert_parse_err(cases[i].in, rc, &err, cases[i].rc, cases[i].col, cases[i].msg);
    }

    char buf[600];
    mt_threshold_t t;
    mt_parse_err_t err = {0};
    snprintf(buf, sizeof buf, "latency{tag:%0130d}: avg<1", 0);
    assert_int_equal(mt_threshold_parse(buf, &t, &err), MT_EPARSE);
    assert_int_equal(err.col, 13);
    assert_string_equal(err.msg, "tag too long (at most 127 bytes)");
    snprintf(buf, sizeof buf, "latency{tag:%0120d}: avg<1;abortOnFail;%0100d", 0, 0);
    assert_int_equal(mt_threshold_parse(buf, &t, &err), MT_EPARSE);
    snprintf(buf, sizeof buf, "latency{tag:%0120d}:%140savg<1", 0, "");
    assert_int_equal(mt_threshold_parse(buf, &t, &err), MT_EPARSE);
    assert_int_equal(err.col, 1);
    assert_string_equal(err.msg, "threshold too long (at most 255 bytes)");
    assert_int_equal(mt_threshold_parse(NULL, &t, &err), MT_EINVAL);
    assert_int_equal(mt_threshold_parse("avg<1", NULL, &err), MT_EINVAL);
    assert_int_equal(mt_threshold_parse("avg<", &t, NULL), MT_EPARSE);
}

/* ---- end of run ----------------------------------------------------------------------- */

typedef struct run {
    mt_run_result_t r;
    mt_hist_t *lat, *svc;
    mt_tag_stats_t tags[NTAGS];
    mt_hist_t *tlat[NTAGS], *tsvc[NTAGS];
} run_t;

static void run_init(run_t *x)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(mt_hist_new_latency(&x->lat), MT_OK);
    assert_int_equal(mt_hist_new_latency(&x->svc), MT_OK);
    x->r.latency = x->lat;
    x->r.service = x->svc;
    for (int i = 0; i < NTAGS; i++) {
        assert_int_equal(mt_hist_new_latency(&x->tlat[i]), MT_OK);
        assert_int_equal(mt_hist_new_latency(&x->tsvc[i]), MT_OK);
        x->tags[i].latency = x->tlat[i];
        x->tags[i].service = x->tsvc[i];
    }
    x->r.tags = x->tags;
    x->r.ntags = NTAGS;
    x->r.elapsed_ns = 2 * S;
}

static void run_free(run_t *x)
{
    mt_hist_free(x->lat);
    mt_hist_free(x->svc);
    for (int i = 0; i < NTAGS; i++) {
        mt_hist_free(x->tlat[i]);
        mt_hist_free(x->tsvc[i]);
    }
}

static void run_resp(run_t *x, int tag, unsigned status, int64_t lat_us, int64_t svc_us, uint64_t n)
{
    mt_counters_t *cs[2] = {&x->r.c, &x->tags[tag].c};
    for (int i = 0; i < 2; i++) {
        cs[i]->completed += n;
        cs[i]->status[status] += n;
    }
    assert_true(mt_hist_record_n(x->lat, lat_us, n));
    assert_true(mt_hist_record_n(x->tlat[tag], lat_us, n));
    assert_true(mt_hist_record_n(x->svc, svc_us, n));
    assert_true(mt_hist_record_n(x->tsvc[tag], svc_us, n));
}

static void run_err(run_t *x, int tag, int kind, uint64_t n)
{
    mt_counters_t *cs[2] = {&x->r.c, &x->tags[tag].c};
    for (int i = 0; i < 2; i++) {
        cs[i]->errors += n;
        cs[i]->err[kind] += n;
    }
}

static void check(const run_t *x, const char *text, bool pass)
{
    mt_threshold_t t = parse_ok(text);
    mt_threshold_result_t res;
    int rc = mt_threshold_eval_run(&t, &x->r, tag_names, NTAGS, &res);
    assert_int_equal(rc, MT_OK);
    if (res.pass != pass)
        print_error("'%s': %s\n", text, res.message);
    assert_int_equal(res.pass, pass);
}

static void test_eval_latency(void **state)
{
    run_t x;
    mt_threshold_result_t res;
    run_init(&x);
    /* 1..100 us: exact in the histogram (values under 256 us have their own buckets) */
    for (int v = 1; v <= 100; v++)
        run_resp(&x, v <= 50 ? 1 : 2, 200, v, 2 * v, 1);

    check(&x, "p(99)<99us", false);
    check(&x, "p(99)<=99us", true);
    check(&x, "p(99)==99us", true);
    check(&x, "p(99)===0.099ms", true);
    check(&x, "p(99)!=99us", false);
    check(&x, "p(99)>98us", true);
    check(&x, "p(99)>=99.5us", false);
    check(&x, "p(99.9)==100us", true);
    check(&x, "p(100)==100us", true);
    check(&x, "med==50us", true);
    check(&x, "p(50)==50us", true);
    check(&x, "min==1us", true);
    check(&x, "max==100us", true);
    check(&x, "avg==50.5us", true);
    check(&x, "avg<50.5us", false);
    check(&x, "avg<0.051", true); /* ms by default */
    check(&x, "p(99)<1", true);
    check(&x, "service: max==200us", true);
    check(&x, "service: p(50)<100us", false);
    check(&x, "latency{tag:api}: max<=50us", true);
    check(&x, "latency{tag:static}: min>=51us", true);
    check(&x, "latency{tag:static}: min>51us", false);

    mt_threshold_t t = parse_ok("p(99)<200ms");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_true(res.pass);
    assert_true(res.has_value);
    assert_true(res.observed == 0.099);
    assert_string_equal(res.unit, "ms");
    assert_string_equal(res.message, "p(99)<200ms: latency p(99) = 0.099 ms (pass)");

    /* a big value at the histogram's resolution: reported as its bucket's top */
    run_resp(&x, 0, 200, 200000, 200000, 10000);
    t = parse_ok("p(99)<=200ms");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_false(res.pass);
    assert_string_equal(res.message, "p(99)<=200ms: latency p(99) = 200.703 ms (fail)");
    check(&x, "p(99)<=200703us", true);
    run_free(&x);
}

static void test_eval_counts(void **state)
{
    run_t x;
    mt_threshold_result_t res;
    run_init(&x);
    run_resp(&x, 1, 200, 1000, 1000, 90);
    run_resp(&x, 2, 503, 1000, 1000, 9);
    run_err(&x, 1, MT_ERR_TIMEOUT, 1); /* 100 finished in 2 s */

    check(&x, "errors<1%", false);
    check(&x, "errors<=1%", true);
    check(&x, "rate<0.011", true);
    check(&x, "errors: rate == 0.01", true);
    check(&x, "errors: count==1", true);
    check(&x, "errors{tag:static}: count==0", true);
    check(&x, "errors{tag:api}: rate>0.0109", true); /* 1 of 91 */
    check(&x, "requests==100", true);
    check(&x, "requests: count>100", false);
    check(&x, "requests: rate==50", true);
    check(&x, "rps>=50", true);
    check(&x, "rps>50", false);
    check(&x, "status{code:5xx}<=9%", true);
    check(&x, "status{code:5xx}<9%", false);
    check(&x, "status{code:503}: count==9", true);
    check(&x, "status{code:2xx}: rate==0.9", true);
    check(&x, "status{code:xx}: count==99", true);
    check(&x, "status{code:0}: count==1", true); /* no response */
    check(&x, "status{code:5xx,tag:api}: count==0", true);

    /* k6's http_req_failed: errors + statuses outside 200..399 (here 503 x 9 + 1 timeout) */
    mt_counters_set_failed(&x.r.c, NULL);
    for (int i = 0; i < NTAGS; i++)
        mt_counters_set_failed(&x.tags[i].c, NULL);
    check(&x, "http_req_failed<0.1", false);
    check(&x, "http_req_failed<=0.1", true);
    check(&x, "http_req_failed: rate<0.099", false);
    check(&x, "http_req_failed: count==10", true);
    check(&x, "failed{tag:static}: count==9", true);
    check(&x, "errors: count==1", true); /* errors stays network-only */
    {
        mt_status_set_t set;
        mt_parse_err_t perr = {0};
        assert_int_equal(mt_status_set_parse("200-299, 503", &set, &perr), MT_OK);
        mt_counters_set_failed(&x.r.c, &set);
        check(&x, "http_req_failed: count==1", true);
    }

    mt_threshold_t t = parse_ok("errors<1%");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_true(res.observed == 0.01);
    assert_string_equal(res.unit, "");
    assert_string_equal(res.message, "errors<1%: errors rate = 0.01 (1%) (fail)");
    t = parse_ok("rps>=50");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_string_equal(res.unit, "/s");
    assert_string_equal(res.message, "rps>=50: rps value = 50/s (pass)");
    t = parse_ok("status{code:503}: count==9");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_string_equal(res.message, "status{code:503}: count==9: status 503 count = 9 (pass)");
    run_free(&x);
}

static void test_eval_no_data(void **state)
{
    run_t x;
    mt_threshold_result_t res;
    mt_parse_err_t err = {0};
    run_init(&x);

    /* nothing finished: aggregations without data fail, counts are 0 */
    const char *fails[] = {"p(99)<200ms", "avg>0", "errors<1%", "status{code:5xx}<1%",
                           "latency{tag:api}: p(99)<1s"};
    for (size_t i = 0; i < sizeof fails / sizeof fails[0]; i++) {
        mt_threshold_t t = parse_ok(fails[i]);
        assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
        assert_false(res.pass);
        assert_false(res.has_value);
    }
    mt_threshold_t t = parse_ok("p(99)<200ms");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_string_equal(res.message, "p(99)<200ms: latency p(99) = no value (no responses) (fail)");
    check(&x, "requests==0", true);
    check(&x, "errors: count==0", true);
    check(&x, "rps==0", true);
    x.r.elapsed_ns = 0;
    check(&x, "rps==0", false);

    /* tags: unknown, or no per-tag data in the result */
    t = parse_ok("latency{tag:checkout}: p(99)<1s");
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_EINVAL);
    assert_false(res.pass);
    assert_string_equal(res.message,
                        "latency{tag:checkout}: p(99)<1s: unknown tag 'checkout' (fail)");
    assert_int_equal(mt_threshold_check_tags(&t, tag_names, NTAGS, &err), MT_EINVAL);
    assert_string_equal(err.msg, "latency{tag:checkout}: p(99)<1s: unknown tag 'checkout'");
    t = parse_ok("errors{tag:api}: count==0");
    assert_int_equal(mt_threshold_check_tags(&t, tag_names, NTAGS, &err), MT_OK);
    x.r.tags = NULL;
    x.r.ntags = 0;
    assert_int_equal(mt_threshold_eval_run(&t, &x.r, tag_names, NTAGS, &res), MT_OK);
    assert_false(res.pass);
    assert_string_equal(res.message,
                        "errors{tag:api}: count==0: errors count = no value (no data for the tag) "
                        "(fail)");
    assert_int_equal(mt_threshold_eval_run(NULL, &x.r, tag_names, NTAGS, &res), MT_EINVAL);
    run_free(&x);
}

/* ---- abortOnFail ---------------------------------------------------------------------- */

#include "synth_seconds.h"

static mt_threshold_watch_t *watch(const char *const *texts, size_t n)
{
    mt_threshold_t t[8];
    mt_threshold_watch_t *w = NULL;
    mt_parse_err_t err = {0};
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        t[i] = parse_ok(texts[i]);
    assert_int_equal(mt_threshold_watch_new(t, n, tag_names, NTAGS, &w, &err), MT_OK);
    return w;
}

static void test_watch(void **state)
{
    sec_t x;
    size_t idx;
    mt_threshold_result_t res;
    const char *texts[] = {"p(99)<50ms", "errors<10%;abortOnFail",
                           "p(99)<50ms;abortOnFail;delayAbortEval=3s",
                           "latency{tag:api}: max<1s;abortOnFail"};
    mt_threshold_watch_t *w = watch(texts, 4);
    sec_init(&x);

    /* p(99) is slow from the start; the watch waits 3 s for it. Errors stay at 5% of the
     * cumulative count. The first threshold has no abortOnFail and is ignored. */
    for (int i = 0; i < 3; i++) {
        mt_second_t *s = sec_next(&x);
        resp(&x, 0, 200, 100000, 95);
        s->c.errors += 5;
        s->c.err[MT_ERR_TIMEOUT] += 5;
        int rc = mt_threshold_watch_feed(w, s, &idx, &res);
        assert_int_equal(rc, i == 2);
    }
    assert_int_equal(idx, 2);
    assert_false(res.pass);
    assert_string_equal(
        res.message, "p(99)<50ms;abortOnFail;delayAbortEval=3s: latency p(99) = 100.351 ms (fail)");
    /* latched */
    assert_int_equal(mt_threshold_watch_feed(w, sec_next(&x), &idx, &res), 1);
    assert_int_equal(idx, 2);
    mt_threshold_watch_free(w);

    /* cumulative: 0% then 20% of 100 -> 10% of 200, not below 10%: aborts */
    const char *texts2[] = {"errors<10%;abortOnFail"};
    w = watch(texts2, 1);
    mt_second_t *s = sec_next(&x);
    resp(&x, 0, 200, 1000, 100);
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 0);
    s = sec_next(&x);
    resp(&x, 0, 200, 1000, 80);
    s->c.errors = 20;
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 1);
    assert_int_equal(idx, 0);
    assert_true(res.observed == 0.1);
    mt_threshold_watch_free(w);

    /* no data yet does not abort; tags follow their own data */
    const char *texts3[] = {"latency{tag:api}: p(50)<10ms;abortOnFail",
                            "requests>=1000;abortOnFail;delayAbortEval=2s"};
    w = watch(texts3, 2);
    s = sec_next(&x);
    resp(&x, 2, 200, 500000, 10); /* static: slow, not ours */
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 0);
    s = sec_next(&x);
    resp(&x, 1, 200, 5000, 10);
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 1);
    assert_int_equal(idx, 1); /* 20 requests after 2 s */
    mt_threshold_watch_free(w);

    w = watch(texts3, 1);
    s = sec_next(&x);
    resp(&x, 1, 200, 5000, 10);
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 0);
    s = sec_next(&x);
    resp(&x, 1, 200, 50000, 11); /* cumulative p50 is now slow */
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 1);
    assert_int_equal(idx, 0);
    mt_threshold_watch_free(w);

    /* unknown tags are refused up front */
    mt_threshold_t t = parse_ok("latency{tag:nope}: avg<1;abortOnFail");
    mt_parse_err_t err = {0};
    assert_int_equal(mt_threshold_watch_new(&t, 1, tag_names, NTAGS, &w, &err), MT_EINVAL);
    assert_string_equal(err.msg, "latency{tag:nope}: avg<1;abortOnFail: unknown tag 'nope'");
    /* none with abortOnFail: never fires */
    t = parse_ok("avg<1");
    assert_int_equal(mt_threshold_watch_new(&t, 1, tag_names, NTAGS, &w, &err), MT_OK);
    s = sec_next(&x);
    resp(&x, 0, 200, 500000, 10);
    assert_int_equal(mt_threshold_watch_feed(w, s, &idx, &res), 0);
    assert_int_equal(mt_threshold_watch_feed(NULL, s, &idx, &res), MT_EINVAL);
    mt_threshold_watch_free(w);
    mt_threshold_watch_free(NULL);
    sec_free(&x);
}

static void test_status_set(void **state)
{
    mt_status_set_t s;
    mt_parse_err_t err = {0};
    (void)state;
    mt_status_set_default(&s);
    assert_false(mt_status_set_has(&s, 199));
    assert_true(mt_status_set_has(&s, 200));
    assert_true(mt_status_set_has(&s, 399));
    assert_false(mt_status_set_has(&s, 400));
    assert_false(mt_status_set_has(&s, 0));
    assert_int_equal(mt_status_set_parse("200-299,404", &s, &err), MT_OK);
    assert_true(mt_status_set_has(&s, 250));
    assert_true(mt_status_set_has(&s, 404));
    assert_false(mt_status_set_has(&s, 301));
    assert_int_equal(mt_status_set_parse(" 2xx 30x\t418 ", &s, &err), MT_OK);
    assert_true(mt_status_set_has(&s, 299));
    assert_true(mt_status_set_has(&s, 309));
    assert_false(mt_status_set_has(&s, 310));
    assert_true(mt_status_set_has(&s, 418));
    assert_int_equal(mt_status_set_parse("200 - 2xx", &s, &err), MT_OK);
    assert_true(mt_status_set_has(&s, 299));
    static const struct {
        const char *in;
        int col;
        const char *msg;
    } bad[] = {
        {"", 1, "no status given"},
        {" , ", 1, "no status given"},
        {"200-", 5, "a status is missing at the end"},
        {"600", 1, "bad status '600'"},
        {"20", 1, "bad status '20'"},
        {"2000", 1, "bad status '2000'"},
        {"x00", 1, "bad status 'x00'"},
        {"2x0", 1, "bad mask '2x0'"},
        {"300-200", 5, "a range goes up"},
        {"200;404", 4, "unexpected ';'"},
        {"ok", 1, "bad status 'ok'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(mt_status_set_parse(bad[i].in, &s, &err), MT_EPARSE);
        if (err.col != bad[i].col || strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("'%s': col %d '%s', want col %d '%s'", bad[i].in, err.col, err.msg, bad[i].col,
                     bad[i].msg);
    }
}

static void test_eval_breakdown(void **state)
{
    run_t x;
    mt_hist_t *wait;
    (void)state;
    run_init(&x);
    run_resp(&x, 0, 200, 1000, 1000, 10);
    check(&x, "http_req_waiting: avg<1", false); /* no breakdown given: no value */
    assert_int_equal(mt_hist_new_latency(&wait), MT_OK);
    assert_true(mt_hist_record_n(wait, 3000, 10));
    x.r.wait = wait;
    check(&x, "http_req_waiting: avg<4ms", true);
    check(&x, "wait: p(99)<2ms", false);
    mt_hist_free(wait);
    run_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),   cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_eval_latency), cmocka_unit_test(test_eval_counts),
        cmocka_unit_test(test_eval_no_data), cmocka_unit_test(test_watch),
        cmocka_unit_test(test_status_set),   cmocka_unit_test(test_eval_breakdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
