/* mortar report: data extraction from a small result (columns, back-filled status codes, error
 * kinds seen, the percentile distribution, the comparison rows), the checks on bad input with
 * their messages, the HTML page (assets inlined, data escaped) and the atomic write. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "report/report.h"
#include "mortar/error.h"
#include "mortar/hist.h"

/* ---- a small valid result --------------------------------------------------------------- */

static char *hist_string(int64_t lo, int64_t hi, int n)
{
    mt_hist_t *h = NULL;
    char *s = NULL;
    size_t len = 0;

    assert_int_equal(mt_hist_new_latency(&h), MT_OK);
    for (int i = 0; i < n; i++)
        mt_hist_record(h, lo + (hi - lo) * i / (n > 1 ? n - 1 : 1));
    assert_int_equal(mt_hist_encode(h, &s, &len), MT_OK);
    mt_hist_free(h);
    return s;
}

static json_t *pcts(int p50, int p90, int p99, int max, bool total)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "p50", p50, "p90", p90, "p95", p99,
                          "p99", p99, "p999", max, "max", max);
    if (total) {
        json_object_set_new(o, "mean", json_integer(p50));
        json_object_set_new(o, "min", json_integer(p50 / 2));
    }
    return o;
}

static json_t *kinds(int timeout)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "refused", 0, "reset", 0, "timeout",
                     timeout, "dns", 0, "protocol", 0, "closed", 0, "other", 0);
}

static json_t *bd(int p50)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:i}", "p50", p50, "p90", p50 * 2, "p99", p50 * 3, "max",
                     p50 * 4, "mean", p50);
}

static json_t *second(int t, int completed, int s503, int timeouts, int p99)
{
    json_t *status = json_pack("{s:i}", "200", completed - s503);
    if (s503 > 0)
        json_object_set_new(status, "503", json_integer(s503));
    return json_pack("{s:i, s:f, s:i, s:i, s:i, s:i, s:o, s:i, s:i, s:i, s:i, s:i, s:i, "
                     "s:{s:i, s:i}, s:o, s:o, s:o, s:s}",
                     "t", t, "span_s", 1.0, "due", 100, "sent", 100, "completed", completed,
                     "errors", timeouts, "errors_by_kind", kinds(timeouts), "dropped", 0, "late", 1,
                     "bytes_in", 1000, "bytes_out", 2000, "open_connections", 4, "backlog", t,
                     "schedule_lag_us", "mean", 10, "max", 90 + t, "status", status, "latency_us",
                     pcts(100, 200, p99, p99 * 2, false), "service_us",
                     pcts(80, 150, p99 / 2, p99, false), "hist", "HISTFAAAAB");
}

/* Result with 3 seconds: a 503 only in second 1, timeouts only in second 2. */
static json_t *result(void)
{
    char *lat = hist_string(100, 1000, 300), *svc = hist_string(50, 500, 300);
    json_t *secs = json_array();
    json_array_append_new(secs, second(0, 100, 0, 0, 900));
    json_array_append_new(secs, second(1, 100, 7, 0, 950));
    json_array_append_new(secs, second(2, 98, 0, 2, 1000));
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:i, s:i, s:f, s:s, s:f, s:i, s:f}, "
        "s:{s:i, s:f, s:f, s:i, s:i, s:i, s:i, s:o, s:i, s:i, s:i, s:i, s:i, s:o, s:o, "
        "s:{s:o, s:o, s:o, s:o}, s:{s:i, s:i}, s:i, s:i, s:i, s:b}, s:o, s:{s:s, s:s}}",
        "schema", "mortar.result/v1", "mortar_version", "0.1.0", "started_at",
        "2025-01-31T12:00:00.123Z", "config", "url", "http://127.0.0.1:8080/", "method", "GET",
        "connections", 4, "threads", 1, "duration_s", 3.0, "model", "open", "rate", 100.0,
        "planned_requests", 300, "timeout_s", 2.0, "summary", "requests", 298, "rps", 99.33,
        "duration_s", 3.0, "due", 300, "sent", 300, "completed", 298, "errors", 2, "errors_by_kind",
        kinds(2), "dropped", 0, "late", 3, "bytes_in", 3000, "bytes_out", 6000, "connects", 4,
        "latency_us", pcts(100, 200, 1000, 2000, true), "service_us",
        pcts(80, 150, 500, 1000, true), "breakdown_us", "connect", bd(50), "send", bd(5), "wait",
        bd(70), "receive", bd(1), "status", "200", 291, "503", 7, "mean_schedule_lag_us", 10,
        "max_schedule_lag_us", 92, "max_open_connections", 4, "interrupted", false, "seconds", secs,
        "histograms", "latency", lat, "service", svc);
    free(lat);
    free(svc);
    assert_non_null(r);
    return r;
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

/* mt__report_data of one document; returns the data (caller decrefs) or NULL with err set. */
static json_t *data_of(const json_t *doc, const json_t *doc_b, int *rc, char *err, size_t n)
{
    char *a = dump(doc), *b = doc_b ? dump(doc_b) : NULL;
    mt__report_src_t sa = {a, strlen(a), NULL}, sb = {b, b ? strlen(b) : 0, NULL};
    json_t *out = NULL;

    *rc = mt__report_data(&sa, b ? &sb : NULL, &out, err, n);
    free(a);
    free(b);
    return out;
}

static json_int_t col_int(const json_t *cols, const char *key, size_t i)
{
    const json_t *c = json_object_get(cols, key);
    assert_non_null(c);
    return json_integer_value(json_array_get(c, i));
}

/* ---- extraction ---------------------------------------------------------------------------- */

static void test_columns(void **state)
{
    char err[256] = "";
    int rc;
    json_t *doc = result();
    json_t *d = data_of(doc, NULL, &rc, err, sizeof(err));

    (void)state;
    assert_int_equal(rc, MT_OK);
    json_t *run = json_array_get(json_object_get(d, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run, "label")), "result");
    json_t *s = json_object_get(run, "seconds");
    assert_int_equal(json_array_size(json_object_get(s, "t")), 3);
    assert_int_equal(col_int(s, "t", 2), 2);
    assert_int_equal(col_int(s, "completed", 2), 98);
    assert_int_equal(col_int(s, "due", 0), 100);
    assert_int_equal(col_int(s, "backlog", 1), 1);
    assert_int_equal(col_int(s, "open", 0), 4);
    assert_int_equal(col_int(s, "lag_max", 2), 92);
    assert_int_equal(col_int(json_object_get(s, "lat"), "p99", 1), 950);
    assert_int_equal(col_int(json_object_get(s, "lat"), "max", 0), 1800);
    assert_int_equal(col_int(json_object_get(s, "svc"), "p99", 2), 500);
    assert_null(json_object_get(json_object_get(s, "lat"), "p95")); /* not drawn: not embedded */

    /* status codes as columns, back-filled with zeros */
    json_t *st = json_object_get(s, "status");
    assert_int_equal(json_object_size(st), 2);
    assert_int_equal(col_int(st, "503", 0), 0);
    assert_int_equal(col_int(st, "503", 1), 7);
    assert_int_equal(col_int(st, "503", 2), 0);
    assert_int_equal(col_int(st, "200", 1), 93);
    /* only the error kinds that happened */
    json_t *k = json_object_get(s, "errors_by_kind");
    assert_int_equal(json_object_size(k), 1);
    assert_int_equal(col_int(k, "timeout", 2), 2);
    assert_int_equal(col_int(k, "timeout", 0), 0);

    /* the per-second histograms are not embedded */
    char *text = dump(d);
    assert_null(strstr(text, "HISTF"));
    free(text);

    /* config and summary carried through */
    assert_string_equal(json_string_value(json_object_get(json_object_get(run, "config"), "url")),
                        "http://127.0.0.1:8080/");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(run, "summary"), "requests")), 298);
    json_decref(d);
    json_decref(doc);
}

static void test_distribution(void **state)
{
    char err[256] = "";
    int rc;
    json_t *doc = result();
    json_t *d = data_of(doc, NULL, &rc, err, sizeof(err));

    (void)state;
    assert_int_equal(rc, MT_OK);
    json_t *dist = json_object_get(
        json_object_get(json_array_get(json_object_get(d, "runs"), 0), "dist"), "latency");
    json_t *x = json_object_get(dist, "x"), *p = json_object_get(dist, "p"),
           *v = json_object_get(dist, "v");
    size_t n = json_array_size(x);
    assert_true(n > 10);
    assert_int_equal(json_array_size(p), n);
    assert_int_equal(json_array_size(v), n);
    /* starts at p = 0 (x = 1), x strictly increasing, values non-decreasing */
    assert_true(json_real_value(json_array_get(x, 0)) == 1.0);
    for (size_t i = 1; i < n; i++) {
        assert_true(json_real_value(json_array_get(x, i)) >
                    json_real_value(json_array_get(x, i - 1)));
        assert_true(json_integer_value(json_array_get(v, i)) >=
                    json_integer_value(json_array_get(v, i - 1)));
        double pi = json_real_value(json_array_get(p, i));
        if (pi < 100)
            assert_true(fabs(json_real_value(json_array_get(x, i)) - 1 / (1 - pi / 100)) < 1e-6);
    }
    /* the maximum at "one in 300" (300 values) and about 1000 us */
    assert_true(json_real_value(json_array_get(x, n - 1)) >= 300.0);
    json_int_t max = json_integer_value(json_array_get(v, n - 1));
    assert_true(max >= 1000 && max <= 1010);
    json_decref(d);
    json_decref(doc);
}

static const json_t *row(const json_t *d, const char *group_prefix, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(d, "rows"), i, r)
    {
        if (strncmp(json_string_value(json_object_get(r, "g")), group_prefix,
                    strlen(group_prefix)) == 0 &&
            strcmp(json_string_value(json_object_get(r, "n")), name) == 0)
            return r;
    }
    fail_msg("no row %s / %s", group_prefix, name);
    return NULL;
}

static void test_rows(void **state)
{
    char err[256] = "";
    int rc;
    json_t *a = result(), *b = result();
    json_t *sb = json_object_get(b, "summary");

    (void)state;
    json_object_set_new(sb, "requests", json_integer(447));
    json_object_set_new(json_object_get(sb, "latency_us"), "p99", json_integer(1500));
    json_object_set_new(json_object_get(sb, "errors_by_kind"), "reset", json_integer(4));

    json_t *d = data_of(a, NULL, &rc, err, sizeof(err));
    assert_int_equal(rc, MT_OK);
    const json_t *r = row(d, "Throughput", "requests");
    assert_true(json_number_value(json_object_get(r, "a")) == 298);
    assert_null(json_object_get(r, "b")); /* single run: no b */
    assert_string_equal(json_string_value(json_object_get(r, "better")), "higher");
    r = row(d, "Throughput", "planned rps");
    assert_true(json_number_value(json_object_get(r, "a")) == 100);
    r = row(d, "Errors", "error rate");
    assert_true(fabs(json_number_value(json_object_get(r, "a")) - 200.0 / 300) < 1e-9);
    r = row(d, "Errors", "non-2xx/3xx responses");
    assert_true(json_number_value(json_object_get(r, "a")) == 7);
    row(d, "Errors", "  timeout");
    json_decref(d);

    d = data_of(a, b, &rc, err, sizeof(err));
    assert_int_equal(rc, MT_OK);
    assert_int_equal(json_array_size(json_object_get(d, "runs")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(d, "runs"), 1), "label")),
        "B");
    r = row(d, "Throughput", "requests");
    assert_true(json_number_value(json_object_get(r, "b")) == 447);
    r = row(d, "Latency", "p99");
    assert_true(json_number_value(json_object_get(r, "a")) == 1000);
    assert_true(json_number_value(json_object_get(r, "b")) == 1500);
    assert_string_equal(json_string_value(json_object_get(r, "u")), "us");
    r = row(d, "Errors", "  reset"); /* only b has resets: still a row */
    assert_true(json_number_value(json_object_get(r, "a")) == 0);
    assert_true(json_number_value(json_object_get(r, "b")) == 4);
    json_decref(d);
    json_decref(a);
    json_decref(b);
}

static void test_compare_text(void **state)
{
    json_t *a = result(), *b = result();
    char *ta, *tb, *out = NULL, err[256] = "";
    size_t outlen = 0;
    FILE *f;

    (void)state;
    json_object_set_new(json_object_get(b, "summary"), "requests", json_integer(447));
    ta = dump(a);
    tb = dump(b);
    f = open_memstream(&out, &outlen);
    assert_int_equal(mt__report_compare_text(f, ta, strlen(ta), tb, strlen(tb), err, sizeof(err)),
                     MT_OK);
    fclose(f);
    assert_non_null(strstr(out, "A = A: GET http://127.0.0.1:8080/"));
    assert_non_null(strstr(out, "B - A"));
    assert_non_null(strstr(
        out, "  requests                            298          447         +149    +50.0%"));
    assert_non_null(strstr(
        out, "  p99                              1.00ms       1.00ms            0      0.0%"));
    free(out);

    /* one run: a single column */
    out = NULL;
    f = open_memstream(&out, &outlen);
    assert_int_equal(mt__report_compare_text(f, ta, strlen(ta), NULL, 0, err, sizeof(err)), MT_OK);
    fclose(f);
    assert_null(strstr(out, "B - A"));
    assert_non_null(strstr(out, "  requests                            298\n"));
    free(out);
    free(ta);
    free(tb);
    json_decref(a);
    json_decref(b);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void expect_bad_text(const char *text, const char *msg)
{
    char err[256] = "";
    json_t *out = (json_t *)1;
    mt__report_src_t s = {text, strlen(text), "in.json"};
    int rc = mt__report_data(&s, NULL, &out, err, sizeof(err));
    if (rc != MT_EFORMAT || strstr(err, msg) == NULL)
        fail_msg("'%.60s': rc %d, err '%s', want '%s'", text, rc, err, msg);
    assert_null(out);
}

static void expect_bad(json_t *doc, const char *msg)
{
    char *t = dump(doc);
    expect_bad_text(t, msg);
    free(t);
    json_decref(doc);
}

static void test_bad_input(void **state)
{
    json_t *d;

    (void)state;
    expect_bad_text("", "in.json: not JSON: line 1");
    expect_bad_text("not json", "in.json: not JSON: line 1 col 3: '[' or '{' expected near 'not'");
    expect_bad_text("[1, 2]", "in.json: not a mortar result: the document is an array");
    expect_bad_text("{}", "in.json: not a mortar result: no \"schema\"");
    expect_bad_text("{\"schema\": \"mortar.result/v9\"}",
                    "in.json: schema is 'mortar.result/v9', this mortar reads 'mortar.result/v1'");

    d = result();
    json_object_del(json_object_get(d, "config"), "model");
    expect_bad(d, "in.json: config.model: missing");

    d = result();
    json_object_set_new(json_object_get(d, "config"), "model", json_string("half-open"));
    expect_bad(d, "in.json: config.model: 'half-open', not 'open' or 'closed'");

    d = result();
    json_object_del(json_object_get(d, "summary"), "rps");
    expect_bad(d, "in.json: summary.rps: missing");

    d = result();
    json_object_set_new(json_object_get(json_object_get(d, "summary"), "latency_us"), "p99",
                        json_string("1ms"));
    expect_bad(d, "in.json: summary.latency_us.p99: a string, not a number");

    d = result();
    json_object_del(
        json_object_get(json_object_get(json_object_get(d, "summary"), "breakdown_us"), "wait"),
        "p90");
    expect_bad(d, "in.json: summary.breakdown_us.wait.p90: missing");

    d = result();
    json_object_del(json_array_get(json_object_get(d, "seconds"), 1), "completed");
    expect_bad(d, "in.json: seconds[1].completed: missing");

    d = result();
    json_array_set_new(json_object_get(d, "seconds"), 2, json_integer(3));
    expect_bad(d, "in.json: seconds[2]: a number, not an object");

    d = result();
    json_object_set_new(json_array_get(json_object_get(d, "seconds"), 2), "t", json_integer(1));
    expect_bad(d, "in.json: seconds[2].t: 1 does not follow the second before (1)");

    d = result();
    json_object_set_new(json_object_get(json_array_get(json_object_get(d, "seconds"), 0), "status"),
                        "2000", json_integer(1));
    expect_bad(d, "in.json: seconds[0].status: '2000' is not a status code");

    d = result();
    json_object_set_new(
        json_object_get(json_array_get(json_object_get(d, "seconds"), 0), "latency_us"), "p999",
        json_null());
    expect_bad(d, "in.json: seconds[0].latency_us.p999: null, not a number");

    d = result();
    json_object_set_new(d, "seconds", json_object());
    expect_bad(d, "in.json: seconds: an object, not an array");

    d = result();
    json_object_set_new(json_object_get(d, "histograms"), "latency",
                        json_string("HISTFAAAgarbage"));
    expect_bad(d, "in.json: histograms.latency: not an HdrHistogram encoding");

    d = result();
    json_object_del(d, "histograms");
    expect_bad(d, "in.json: histograms: missing");

    d = result();
    json_object_set_new(d, "verdicts", json_string("passed"));
    expect_bad(d, "in.json: verdicts: a string, not an array");

    d = result();
    json_object_set_new(json_object_get(d, "summary"), "tags",
                        json_pack("{s:{s:i}}", "api", "requests", 3));
    expect_bad(d, "in.json: summary.tags[\"api\"].errors: missing");
}

/* ---- the page ------------------------------------------------------------------------------ */

static char *page_of(json_t *doc, json_t *doc_b, int *rc, char *err, size_t n)
{
    char *a = dump(doc), *b = doc_b ? dump(doc_b) : NULL, *out = NULL;
    size_t len = 0;
    mt__report_src_t sa = {a, strlen(a), "a.json"}, sb = {b, b ? strlen(b) : 0, "b.json"};
    FILE *f = open_memstream(&out, &len);

    *rc = mt__report_html(f, &sa, b ? &sb : NULL, err, n);
    fclose(f);
    free(a);
    free(b);
    return out;
}

static void test_html(void **state)
{
    char err[256] = "";
    int rc;
    json_t *doc = result();

    (void)state;
    /* text that would end the script element, or start a comment in it */
    json_object_set_new(json_object_get(doc, "config"), "url",
                        json_string("http://h/</script><script>alert(1)</script><!--"));
    json_object_set_new(doc, "verdicts",
                        json_pack("[{s:s, s:s, s:b, s:f}]", "kind", "threshold", "spec",
                                  "p99 < 1ms & errors < 1%", "passed", 1, "value_us", 1000.0));
    char *html = page_of(doc, NULL, &rc, err, sizeof(err));
    assert_int_equal(rc, MT_OK);
    assert_true(strncmp(html, "<!doctype html>", 15) == 0);
    assert_null(strstr(html, "@@DATA@@"));
    assert_null(strstr(html, "@@UPLOT_JS@@"));
    assert_null(strstr(html, "@@REPORT_JS@@"));
    assert_null(strstr(html, "@@REPORT_CSS@@"));
    assert_non_null(strstr(html, "var uPlot=")); /* the chart library, inline */
    assert_non_null(strstr(html, "window.mortarReport"));
    assert_non_null(strstr(html, "<script type=\"application/json\" id=\"mortar-data\">{"));
    /* nothing loaded from anywhere */
    assert_null(strstr(html, "<script src"));
    assert_null(strstr(html, "<link"));
    /* the data cannot close the element: '<' and '/' are escaped inside strings */
    assert_null(strstr(html, "alert(1)</script>"));
    assert_non_null(strstr(html, "\\u003c\\/script\\u003e\\u003cscript\\u003ealert(1)"));
    assert_non_null(strstr(html, "\\u003c!--"));
    assert_non_null(strstr(html, "p99 \\u003c 1ms \\u0026 errors"));
    /* the title is HTML-escaped */
    assert_non_null(strstr(html, "<title>mortar: GET http://h/&lt;/script&gt;&lt;script&gt;"
                                 "alert(1)&lt;/script&gt;&lt;!--</title>"));
    /* exactly three scripts: data, uPlot, report (the data's text cannot end or add one) */
    size_t nscripts = 0;
    for (const char *p = html; (p = strstr(p, "</script>")) != NULL; p++)
        nscripts++;
    assert_int_equal(nscripts, 3);
    free(html);

    /* a comparison */
    json_t *b = result();
    html = page_of(doc, b, &rc, err, sizeof(err));
    assert_int_equal(rc, MT_OK);
    assert_non_null(strstr(html, "<title>mortar: a.json vs b.json</title>"));
    assert_non_null(strstr(html, "\"label\":\"b.json\""));
    free(html);
    json_decref(b);

    /* bad input: no page at all */
    json_object_del(doc, "seconds");
    html = page_of(doc, NULL, &rc, err, sizeof(err));
    assert_int_equal(rc, MT_EFORMAT);
    assert_string_equal(err, "a.json: seconds: missing");
    assert_true(html == NULL || html[0] == '\0');
    free(html);
    json_decref(doc);
}

/* every inlined script and style can be inlined (web.cmake checks this at build time too) */
static void test_assets(void **state)
{
    static const char *const want[] = {"report.html", "report.js", "report.css",
                                       "uPlot.iife.min.js", "uPlot.min.css"};
    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < mt__report_nassets; j++) {
            const mt__asset_t *a = &mt__report_assets[j];
            if (strcmp(a->name, want[i]) != 0)
                continue;
            found = true;
            assert_true(a->len > 100);
            assert_int_equal(a->data[a->len], 0); /* NUL after the bytes */
            if (strcmp(a->name, "report.html") != 0) {
                assert_null(strstr((const char *)a->data, "</script"));
                assert_null(strstr((const char *)a->data, "</style"));
            }
        }
        if (!found)
            fail_msg("asset %s is not embedded", want[i]);
    }
}

/* ---- writing ------------------------------------------------------------------------------ */

static void test_write_atomic(void **state)
{
    char dir[] = "/tmp/mortar-report-test.XXXXXX", path[256], err[256] = "";
    json_t *doc = result();
    char *text = dump(doc);
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/out.html", dir);
    assert_int_equal(mt__report_write(text, strlen(text), NULL, 0, path, err, sizeof(err)), MT_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 50000);
    /* only the page: the temporary file was renamed */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = out.html", dir);
    assert_int_equal(system(cmd), 0);

    /* bad input leaves the old page alone and no temporary file */
    assert_int_equal(mt__report_write("{", 1, NULL, 0, path, err, sizeof(err)), MT_EFORMAT);
    assert_non_null(strstr(err, "result: not JSON"));
    assert_int_equal(system(cmd), 0);
    struct stat st2;
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st2.st_size, st.st_size);

    /* an unwritable place */
    snprintf(path, sizeof(path), "%s/no/such/dir/out.html", dir);
    assert_int_equal(mt__report_write(text, strlen(text), NULL, 0, path, err, sizeof(err)),
                     MT_ESYS);
    assert_non_null(strstr(err, "cannot create"));

    /* a device is written in place, never replaced */
    assert_int_equal(
        mt__report_write(text, strlen(text), text, strlen(text), "/dev/null", err, sizeof(err)),
        MT_OK);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(text);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns),   cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_rows),      cmocka_unit_test(test_compare_text),
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_html),
        cmocka_unit_test(test_assets),    cmocka_unit_test(test_write_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
