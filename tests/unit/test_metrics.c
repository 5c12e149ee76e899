/* The metrics registry and its Prometheus text rendering. With MT_METRICS_OUT set, the sample
 * registry is also written to that file for `promtool check metrics`
 * (tests/integration/test_metrics_format.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <cmocka.h>

#include "mortar/error.h"
#include "server/metrics.h"

static char *render(mt__metrics_t *m)
{
    size_t len = 0;
    char *s = mt__metrics_render(m, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

static void expect_render(mt__metrics_t *m, const char *want)
{
    char *s = render(m);
    if (strcmp(s, want) != 0)
        print_error("got:\n%s\nwant:\n%s\n", s, want);
    assert_string_equal(s, want);
    free(s);
}

static void test_declare(void **state)
{
    mt__metrics_t *m;
    assert_int_equal(mt__metrics_new(&m), MT_OK);
    assert_int_equal(mt__metrics_declare(m, "mortar_x_total", MT_COUNTER, "X."), MT_OK);
    assert_int_equal(mt__metrics_declare(m, "mortar_x_total", MT_COUNTER, "X."), MT_OK);
    assert_int_equal(mt__metrics_declare(m, "mortar_x_total", MT_GAUGE, "X."), MT_ECONFLICT);
    assert_int_equal(mt__metrics_declare(m, "mortar_x", MT_COUNTER, "no _total"), MT_EINVAL);
    assert_int_equal(mt__metrics_declare(m, "_total", MT_COUNTER, ""), MT_EINVAL);
    assert_int_equal(mt__metrics_declare(m, "1abc", MT_GAUGE, ""), MT_EINVAL);
    assert_int_equal(mt__metrics_declare(m, "a-b", MT_GAUGE, ""), MT_EINVAL);
    assert_int_equal(mt__metrics_declare(m, "", MT_GAUGE, ""), MT_EINVAL);
    assert_int_equal(mt__metrics_declare(m, NULL, MT_GAUGE, ""), MT_EINVAL);
    assert_int_equal(mt__metrics_declare(m, "a:b_c9", MT_GAUGE, NULL), MT_OK);
    char name[32];
    int rc = MT_OK;
    for (int i = 0; i < 300 && rc == MT_OK; i++) {
        snprintf(name, sizeof name, "g%d", i);
        rc = mt__metrics_declare(m, name, MT_GAUGE, "");
    }
    assert_int_equal(rc, MT_ETOOBIG);
    mt__metrics_free(m);
    mt__metrics_free(NULL);
}

static void test_update_and_render(void **state)
{
    mt__metrics_t *m;
    assert_int_equal(mt__metrics_new(&m), MT_OK);
    expect_render(m, "");
    /* declared out of order: rendered sorted */
    assert_int_equal(mt__metrics_declare(m, "mortar_runs", MT_GAUGE, "Runs by state."), MT_OK);
    assert_int_equal(
        mt__metrics_declare(m, "mortar_http_requests_total", MT_COUNTER, "HTTP requests served."),
        MT_OK);
    assert_int_equal(mt__metrics_declare(m, "mortar_bus_pending", MT_GAUGE, "Pending."), MT_OK);

    mt__metrics_add(m, "mortar_http_requests_total", "method=\"GET\",route=\"/runs\",code=\"200\"",
                    1);
    /* the same series with labels in another order and spaces */
    mt__metrics_add(m, "mortar_http_requests_total",
                    " code = \"200\" , method=\"GET\", route=\"/runs\", ", 2);
    mt__metrics_add(m, "mortar_http_requests_total", "method=\"POST\",route=\"/runs\",code=\"201\"",
                    1);
    mt__metrics_add(m, "mortar_http_requests_total", "method=\"GET\",route=\"/runs\",code=\"200\"",
                    -5); /* counters only go up */
    mt__metrics_add(m, "mortar_http_requests_total", "method=\"GET\",route=\"/runs\",code=\"200\"",
                    NAN);
    mt__metrics_set(m, "mortar_runs", "state=\"running\"", 3);
    mt__metrics_set(m, "mortar_runs", "state=\"queued\"", 1);
    mt__metrics_set(m, "mortar_runs", "state=\"queued\"", 2);
    mt__metrics_add(m, "mortar_runs", "state=\"queued\"", -1.5);
    mt__metrics_set(m, "mortar_bus_pending", "", 0);
    /* ignored: undeclared, malformed labels */
    mt__metrics_add(m, "mortar_nope_total", "", 1);
    mt__metrics_set(m, "mortar_runs", "state=running", 9);
    mt__metrics_set(m, "mortar_runs", "state=\"x", 9);
    mt__metrics_set(m, "mortar_runs", "state=\"a\"state=\"b\"", 9);
    mt__metrics_set(m, "mortar_runs", "state=\"a\",state=\"b\"", 9);
    mt__metrics_set(m, "mortar_runs", "__name__=\"a\"", 9);
    mt__metrics_set(m, "mortar_runs", "1x=\"a\"", 9);
    mt__metrics_set(m, "mortar_runs", "x=\"\\t\"", 9);
    mt__metrics_set(m, NULL, "", 9);
    mt__metrics_set(NULL, "mortar_runs", "", 9);

    expect_render(m, "# HELP mortar_bus_pending Pending.\n"
                     "# TYPE mortar_bus_pending gauge\n"
                     "mortar_bus_pending 0\n"
                     "# HELP mortar_http_requests_total HTTP requests served.\n"
                     "# TYPE mortar_http_requests_total counter\n"
                     "mortar_http_requests_total{code=\"200\",method=\"GET\",route=\"/runs\"} 3\n"
                     "mortar_http_requests_total{code=\"201\",method=\"POST\",route=\"/runs\"} 1\n"
                     "# HELP mortar_runs Runs by state.\n"
                     "# TYPE mortar_runs gauge\n"
                     "mortar_runs{state=\"queued\"} 0.5\n"
                     "mortar_runs{state=\"running\"} 3\n");

    mt__metrics_remove(m, "mortar_runs", "state=\"queued\"");
    mt__metrics_remove(m, "mortar_runs", "state=\"absent\"");
    mt__metrics_remove(m, "mortar_http_requests_total",
                       "route=\"/runs\",method=\"POST\","
                       "code=\"201\"");
    mt__metrics_remove(m, "mortar_bus_pending", "");
    expect_render(m, "# HELP mortar_bus_pending Pending.\n"
                     "# TYPE mortar_bus_pending gauge\n"
                     "# HELP mortar_http_requests_total HTTP requests served.\n"
                     "# TYPE mortar_http_requests_total counter\n"
                     "mortar_http_requests_total{code=\"200\",method=\"GET\",route=\"/runs\"} 3\n"
                     "# HELP mortar_runs Runs by state.\n"
                     "# TYPE mortar_runs gauge\n"
                     "mortar_runs{state=\"running\"} 3\n");
    mt__metrics_free(m);
}

static void test_escaping_and_values(void **state)
{
    mt__metrics_t *m;
    char labels[256];
    assert_int_equal(mt__metrics_new(&m), MT_OK);
    assert_int_equal(mt__metrics_declare(m, "g", MT_GAUGE, "Help with \\ and\nnewline \"q\"."),
                     MT_OK);
    /* values given escaped in label text stay escaped; invalid UTF-8 becomes U+FFFD */
    mt__metrics_set(m, "g", "t=\"a\\\"b\\\\c\\nd\"", 1.25);
    assert_int_equal(mt__metrics_labels(labels, sizeof labels, "t", "x\xff\"y", "run", "r1", NULL),
                     MT_OK);
    assert_string_equal(labels, "t=\"x\xef\xbf\xbd\\\"y\",run=\"r1\"");
    mt__metrics_set(m, "g", labels, -0.1);
    mt__metrics_set(m, "g", "t=\"big\"", 1e300);
    mt__metrics_set(m, "g", "t=\"third\"", 1.0 / 3);
    mt__metrics_set(m, "g", "t=\"int\"", 9007199254740991.0);
    mt__metrics_set(m, "g", "t=\"inf\"", INFINITY);
    mt__metrics_set(m, "g", "t=\"ninf\"", -INFINITY);
    mt__metrics_set(m, "g", "t=\"nan\"", NAN);
    mt__metrics_set(m, "g", "t=\"\xe2\x82\xac\"", 2); /* valid UTF-8 kept */
    expect_render(m, "# HELP g Help with \\\\ and\\nnewline \"q\".\n"
                     "# TYPE g gauge\n"
                     "g{run=\"r1\",t=\"x\xef\xbf\xbd\\\"y\"} -0.1\n"
                     "g{t=\"a\\\"b\\\\c\\nd\"} 1.25\n"
                     "g{t=\"big\"} 1e+300\n"
                     "g{t=\"inf\"} +Inf\n"
                     "g{t=\"int\"} 9007199254740991\n"
                     "g{t=\"nan\"} NaN\n"
                     "g{t=\"ninf\"} -Inf\n"
                     "g{t=\"third\"} 0.3333333333333333\n"
                     "g{t=\"\xe2\x82\xac\"} 2\n");
    /* mt__metrics_labels errors */
    assert_int_equal(mt__metrics_labels(labels, sizeof labels, "bad-name", "v", NULL), MT_EINVAL);
    assert_string_equal(labels, "");
    assert_int_equal(mt__metrics_labels(labels, 8, "run", "0123456789", NULL), MT_ETOOBIG);
    assert_string_equal(labels, "");
    assert_int_equal(mt__metrics_labels(labels, sizeof labels, NULL), MT_OK);
    assert_string_equal(labels, "");
    mt__metrics_free(m);
}

typedef struct hammer {
    mt__metrics_t *m;
    int id;
} hammer_t;

static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    char labels[64];
    for (int i = 0; i < 5000; i++) {
        mt__metrics_add(h->m, "mortar_c_total", "", 1);
        snprintf(labels, sizeof labels, "w=\"%d\",i=\"%d\"", h->id, i % 50);
        mt__metrics_add(h->m, "mortar_c_total", labels, 1);
        if (i % 100 == 0)
            free(mt__metrics_render(h->m, NULL));
    }
    return NULL;
}

static void test_threads(void **state)
{
    mt__metrics_t *m;
    pthread_t t[4];
    hammer_t h[4];
    assert_int_equal(mt__metrics_new(&m), MT_OK);
    assert_int_equal(mt__metrics_declare(m, "mortar_c_total", MT_COUNTER, "C."), MT_OK);
    for (int i = 0; i < 4; i++) {
        h[i].m = m;
        h[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = render(m);
    assert_non_null(strstr(s, "\nmortar_c_total 20000\n"));
    assert_non_null(strstr(s, "\nmortar_c_total{i=\"7\",w=\"3\"} 100\n"));
    /* 1 unlabelled + 4 x 50 labelled series */
    int lines = 0;
    for (char *p = s; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + 1 + 200);
    free(s);
    mt__metrics_free(m);
}

/* The sample the promtool check reads: every platform family of docs/api.md, with tricky
 * label values. */
static void test_sample_for_promtool(void **state)
{
    mt__metrics_t *m;
    char l[512];
    assert_int_equal(mt__metrics_new(&m), MT_OK);
    static const struct {
        const char *name;
        enum mt__metric_type t;
        const char *help;
    } fams[] = {
        {"mortar_http_requests_total", MT_COUNTER, "HTTP requests served by the API."},
        {"mortar_http_request_duration_seconds_total", MT_COUNTER,
         "Total time spent serving API requests, seconds."},
        {"mortar_runs", MT_GAUGE, "Runs by state."},
        {"mortar_agg_snapshots_total", MT_COUNTER, "Per-second snapshots received."},
        {"mortar_agg_seconds_total", MT_COUNTER, "Merged seconds stored."},
        {"mortar_bus_pending", MT_GAUGE, "Messages waiting on the bus."},
        {"mortar_outbox_pending", MT_GAUGE, "Webhook deliveries waiting."},
        {"mortar_webhook_deliveries_total", MT_COUNTER, "Webhook delivery attempts by result."},
        {"mortar_agents", MT_GAUGE, "Agents by state."},
        {"mortar_run_rps", MT_GAUGE, "Live run: responses per second."},
        {"mortar_run_latency_seconds", MT_SUMMARY, "Live run: latency quantiles, seconds."},
        {"mortar_run_errors_total", MT_COUNTER, "Live run: errors."},
        {"mortar_run_open_connections", MT_GAUGE, "Live run: open connections."},
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
        assert_int_equal(mt__metrics_declare(m, fams[i].name, fams[i].t, fams[i].help), MT_OK);
    mt__metrics_add(m, "mortar_http_requests_total",
                    "method=\"GET\",route=\"/api/v1/runs\",code=\"200\"", 12);
    mt__metrics_add(m, "mortar_http_requests_total",
                    "method=\"POST\",route=\"/api/v1/runs\",code=\"422\"", 1);
    mt__metrics_add(m, "mortar_http_request_duration_seconds_total", "", 0.0425);
    mt__metrics_set(m, "mortar_runs", "state=\"queued\"", 1);
    mt__metrics_set(m, "mortar_runs", "state=\"running\"", 2);
    mt__metrics_add(m, "mortar_agg_snapshots_total", "", 4096);
    mt__metrics_add(m, "mortar_agg_seconds_total", "", 1024);
    mt__metrics_set(m, "mortar_bus_pending", "", 0);
    mt__metrics_set(m, "mortar_outbox_pending", "", 3);
    mt__metrics_add(m, "mortar_webhook_deliveries_total", "result=\"ok\"", 7);
    mt__metrics_add(m, "mortar_webhook_deliveries_total", "result=\"retry\"", 2);
    mt__metrics_add(m, "mortar_webhook_deliveries_total", "result=\"failed\"", 0);
    mt__metrics_set(m, "mortar_agents", "state=\"up\"", 1);
    mt__metrics_set(m, "mortar_agents", "state=\"down\"", 0);
    assert_int_equal(mt__metrics_labels(l, sizeof l, "run", "0193a1b2-0000-7000-8000-000000000001",
                                        "test", "checkout \"v2\"\nline\\2 \xff", NULL),
                     MT_OK);
    mt__metrics_set(m, "mortar_run_rps", l, 1999.5);
    mt__metrics_add(m, "mortar_run_errors_total", l, 3);
    mt__metrics_set(m, "mortar_run_open_connections", l, 64);
    static const char *const q[] = {"0.5", "0.9", "0.99", "0.999"};
    for (int i = 0; i < 4; i++) {
        char lq[600];
        snprintf(lq, sizeof lq, "%s,quantile=\"%s\"", l, q[i]);
        mt__metrics_set(m, "mortar_run_latency_seconds", lq, 0.001 * (i + 1));
    }
    char *s = render(m);
    assert_non_null(strstr(s, "# TYPE mortar_runs gauge\n"));
    assert_non_null(strstr(s, "# TYPE mortar_run_latency_seconds summary\n"));
    assert_non_null(strstr(s, "# TYPE mortar_webhook_deliveries_total counter\n"));
    assert_non_null(strstr(s, "test=\"checkout \\\"v2\\\"\\nline\\\\2 \xef\xbf\xbd\""));
    const char *out = getenv("MT_METRICS_OUT");
    if (out && *out) {
        FILE *f = fopen(out, "w");
        assert_non_null(f);
        assert_int_equal(fputs(s, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
    }
    free(s);
    mt__metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declare),
        cmocka_unit_test(test_update_and_render),
        cmocka_unit_test(test_escaping_and_values),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_sample_for_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
