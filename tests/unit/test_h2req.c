/* HTTP/1 request bytes -> HTTP/2 fields (src/engine/h2.c, mt__h2_req_build), and a script's
 * request() result split into its requests (mt__h2_script_next). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/internal.h"

static mt__h2req_t build(const char *raw, int tls)
{
    mt_request_t q = {.data = raw, .len = strlen(raw)};
    mt__h2req_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(mt__h2_req_build(&q, tls, &r), MT_OK);
    return r;
}

static void dispose(mt__h2req_t *r)
{
    free(r->nv);
    free(r->lower);
}

/* "name: value" of field i */
static void expect_field(const mt__h2req_t *r, size_t i, const char *name, const char *value)
{
    assert_true(i < r->nnv);
    char got[256];
    snprintf(got, sizeof got, "%.*s: %.*s", (int)r->nv[i].namelen, (const char *)r->nv[i].name,
             (int)r->nv[i].valuelen, (const char *)r->nv[i].value);
    char want[256];
    snprintf(want, sizeof want, "%s: %s", name, value);
    assert_string_equal(got, want);
}

static void test_get(void **state)
{
    (void)state;
    mt__h2req_t r = build("GET /a?b=1 HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: mortar\r\n"
                          "Accept: */*\r\n\r\n",
                          1);
    assert_int_equal(r.nnv, 6);
    expect_field(&r, 0, ":method", "GET");
    expect_field(&r, 1, ":scheme", "https");
    expect_field(&r, 2, ":authority", "example.com:8443");
    expect_field(&r, 3, ":path", "/a?b=1");
    expect_field(&r, 4, "user-agent", "mortar");
    expect_field(&r, 5, "accept", "*/*");
    assert_int_equal(r.body_len, 0);
    dispose(&r);
}

static void test_post_body_and_dropped_fields(void **state)
{
    (void)state;
    mt__h2req_t r = build("POST /api HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
                          "Content-Type: application/json\r\nKeep-Alive: 5\r\n"
                          "Content-Length: 7\r\nX-Trace-ID:   abc\r\n\r\n{\"a\":1}",
                          0);
    expect_field(&r, 0, ":method", "POST");
    expect_field(&r, 1, ":scheme", "http");
    expect_field(&r, 2, ":authority", "h");
    expect_field(&r, 3, ":path", "/api");
    expect_field(&r, 4, "content-type", "application/json");
    expect_field(&r, 5, "content-length", "7");
    expect_field(&r, 6, "x-trace-id", "abc");
    assert_int_equal(r.nnv, 7);
    assert_int_equal(r.body_len, 7);
    assert_memory_equal(r.body, "{\"a\":1}", 7);
    dispose(&r);
}

static void test_no_host(void **state)
{
    (void)state;
    mt__h2req_t r = build("HEAD / HTTP/1.1\r\nAccept: x\r\n\r\n", 0);
    assert_int_equal(r.nnv, 4);
    expect_field(&r, 0, ":method", "HEAD");
    expect_field(&r, 2, ":path", "/");
    expect_field(&r, 3, "accept", "x");
    dispose(&r);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"GET / HTTP/1.1\r\nHost: h\r\n", "GET\r\n\r\n",
                         "GET / HTTP/1.1\r\nno colon\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mt_request_t q = {.data = bad[i], .len = strlen(bad[i])};
        mt__h2req_t r;
        memset(&r, 0, sizeof r);
        assert_int_equal(mt__h2_req_build(&q, 0, &r), MT_EINVAL);
        dispose(&r);
    }
}

/* A result of three requests (a POST body among them, trailing blank lines) splits into three
 * streams' requests, each converted on its own. */
static void test_script_split(void **state)
{
    (void)state;
    const char *res = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                      "DELETE /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n\r\n\r\n";
    const char *want_method[] = {"GET", "POST", "DELETE"}, *want_path[] = {"/a", "/b", "/c"};
    size_t off = 0, len = strlen(res), k = 0, n;
    int rc;
    while ((rc = mt__h2_script_next(res + off, len - off, &n)) == MT_OK) {
        assert_true(k < 3);
        mt_request_t q = {.data = res + off, .len = n};
        mt__h2req_t r;
        memset(&r, 0, sizeof r);
        assert_int_equal(mt__h2_req_build(&q, 1, &r), MT_OK);
        expect_field(&r, 0, ":method", want_method[k]);
        expect_field(&r, 3, ":path", want_path[k]);
        assert_int_equal(r.body_len, k == 1 ? 5 : 0);
        if (k == 1)
            assert_memory_equal(r.body, "hello", 5);
        if (k == 2)
            assert_int_equal(r.nnv, 4); /* Connection dropped */
        dispose(&r);
        off += n;
        k++;
    }
    assert_int_equal(rc, MT_EEOF);
    assert_int_equal(k, 3);
}

static void test_script_split_bad(void **state)
{
    (void)state;
    const char *bad[] = {"hello", "GET / HTTP/1.1\r\nHost: h\r\n",
                         "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort",
                         "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        assert_int_equal(mt__h2_script_next(bad[i], strlen(bad[i]), &n), MT_EINVAL);
    }
    size_t n = 0;
    assert_int_equal(mt__h2_script_next("\r\n\r\n", 4, &n), MT_EEOF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),          cmocka_unit_test(test_post_body_and_dropped_fields),
        cmocka_unit_test(test_no_host),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_script_split), cmocka_unit_test(test_script_split_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
