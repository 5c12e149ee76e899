/* Request builder: exact bytes, header override, body and Content-Length, CR/LF rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/request.h"

#define UA "User-Agent: mortar/" MT_VERSION "\r\n"

static void expect_bytes(const mt_request_spec_t *spec, const char *want, size_t want_len)
{
    char *out = NULL;
    size_t len = 0;
    mt_parse_err_t err;
    int rc = mt_request_build(spec, &out, &len, &err);
    if (rc != MT_OK)
        fail_msg("build failed: %d %s", rc, err.msg);
    if (len != want_len || memcmp(out, want, len) != 0)
        fail_msg("got (%zu bytes):\n%.*s\nwant (%zu bytes):\n%s", len, (int)len, out, want_len,
                 want);
    assert_int_equal(out[len], '\0');
    free(out);
}
#define EXPECT(spec, lit) expect_bytes((spec), (lit), sizeof(lit) - 1)

static mt_header_t hdr(const char *line)
{
    mt_header_t h;
    mt_parse_err_t err;
    if (mt_header_parse(line, &h, &err) != MT_OK)
        fail_msg("header '%s': %s", line, err.msg);
    return h;
}

static void test_default_get(void **state)
{
    mt_request_spec_t s = {.target = "/", .host = "example.com"};
    (void)state;
    EXPECT(&s, "GET / HTTP/1.1\r\n"
               "Host: example.com\r\n" UA "Accept: */*\r\n"
               "\r\n");
    s.method = "GET";
    s.target = "/a/b?c=d";
    s.host = "[::1]:8080";
    EXPECT(&s, "GET /a/b?c=d HTTP/1.1\r\n"
               "Host: [::1]:8080\r\n" UA "Accept: */*\r\n"
               "\r\n");
}

static void test_user_headers(void **state)
{
    mt_header_t h[] = {hdr("X-One: 1"),    hdr("host:   other.example  "),
                       hdr("X-Two:"),      hdr("user-agent: me/1.0"),
                       hdr("Cookie: a=b"), hdr("Cookie: c=d")};
    mt_request_spec_t s = {
        .target = "/", .host = "example.com", .headers = h, .nheaders = sizeof(h) / sizeof(h[0])};
    (void)state;
    /* defaults replaced in place (name as the user spelt it), others in order, repeats kept */
    EXPECT(&s, "GET / HTTP/1.1\r\n"
               "host: other.example\r\n"
               "user-agent: me/1.0\r\n"
               "Accept: */*\r\n"
               "X-One: 1\r\n"
               "X-Two: \r\n"
               "Cookie: a=b\r\n"
               "Cookie: c=d\r\n"
               "\r\n");
}

static void test_two_host_headers(void **state)
{
    mt_header_t h[] = {hdr("Accept: text/html"), hdr("HOST: a"), hdr("Host: b")};
    mt_request_spec_t s = {.target = "/", .host = "x", .headers = h, .nheaders = 3};
    (void)state;
    EXPECT(&s, "GET / HTTP/1.1\r\n"
               "HOST: a\r\n"
               "Host: b\r\n" UA "Accept: text/html\r\n"
               "\r\n");
}

static void test_body(void **state)
{
    mt_header_t h[] = {hdr("Content-Type: application/json")};
    mt_request_spec_t s = {.method = "POST",
                           .target = "/api",
                           .host = "h:81",
                           .headers = h,
                           .nheaders = 1,
                           .body = "{\"a\":1}",
                           .body_len = 7,
                           .has_body = true};
    (void)state;
    EXPECT(&s, "POST /api HTTP/1.1\r\n"
               "Host: h:81\r\n" UA "Accept: */*\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 7\r\n"
               "\r\n"
               "{\"a\":1}");

    /* binary body, NULs kept; any method may carry one */
    s.method = "GET";
    s.nheaders = 0;
    s.body = "a\0b";
    s.body_len = 3;
    EXPECT(&s, "GET /api HTTP/1.1\r\n"
               "Host: h:81\r\n" UA "Accept: */*\r\n"
               "Content-Length: 3\r\n"
               "\r\n"
               "a\0b");

    /* an empty body still says so */
    s.body = NULL;
    s.body_len = 0;
    EXPECT(&s, "GET /api HTTP/1.1\r\n"
               "Host: h:81\r\n" UA "Accept: */*\r\n"
               "Content-Length: 0\r\n"
               "\r\n");
}

static void test_length_for_post_without_body(void **state)
{
    mt_request_spec_t s = {.method = "PUT", .target = "/", .host = "h"};
    (void)state;
    EXPECT(&s, "PUT / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nContent-Length: 0\r\n\r\n");
    s.method = "HEAD";
    EXPECT(&s, "HEAD / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\n\r\n");
    s.method = "DELETE";
    EXPECT(&s, "DELETE / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\n\r\n");
}

static void test_header_parse(void **state)
{
    mt_header_t h;
    mt_parse_err_t err;
    (void)state;

    assert_int_equal(mt_header_parse("X-A:\t b c \t", &h, &err), MT_OK);
    assert_int_equal(h.name_len, 3);
    assert_memory_equal(h.name, "X-A", 3);
    assert_int_equal(h.value_len, 3);
    assert_memory_equal(h.value, "b c", 3);

    assert_int_equal(mt_header_parse("X-B: a:b:c", &h, &err), MT_OK);
    assert_int_equal(h.value_len, 5);

    assert_int_equal(mt_header_parse("Foo", &h, &err), MT_EPARSE);
    assert_string_equal(err.msg, "no ':'");
    assert_int_equal(mt_header_parse(": v", &h, &err), MT_EPARSE);
    assert_string_equal(err.msg, "empty header name");
    assert_int_equal(mt_header_parse("Fo o: v", &h, &err), MT_EPARSE);
    assert_string_equal(err.msg, "white space in header name");
    assert_int_equal(err.col, 3);
    assert_int_equal(mt_header_parse("Foo : v", &h, &err), MT_EPARSE);
    assert_int_equal(err.col, 4);
    assert_int_equal(mt_header_parse("F(o): v", &h, &err), MT_EPARSE);
    assert_string_equal(err.msg, "bad character '(' in header name");
    assert_int_equal(mt_header_parse("X: a\r\nEvil: 1", &h, &err), MT_EPARSE);
    assert_string_equal(err.msg, "value contains CR/LF");
    assert_int_equal(err.col, 5);
    assert_int_equal(mt_header_parse("X: a\nb", &h, &err), MT_EPARSE);
    assert_int_equal(mt_header_parse("X: a\r", &h, &err), MT_EPARSE);
    assert_int_equal(mt_header_parse("X\r\n: a", &h, &err), MT_EPARSE);
    assert_int_equal(mt_header_parse("X: a", &h, NULL), MT_OK);
}

static void expect_fail(const mt_request_spec_t *s, int code, const char *msg)
{
    char *out = (char *)1;
    size_t len = 1;
    mt_parse_err_t err;
    assert_int_equal(mt_request_build(s, &out, &len, &err), code);
    assert_null(out);
    assert_int_equal(len, 0);
    if (msg != NULL)
        assert_string_equal(err.msg, msg);
}

static void test_build_rejects(void **state)
{
    mt_header_t crlf = {"X", 1, "a\r\nEvil: 1", 11};
    mt_header_t lf = {"X", 1, "a\nb", 3};
    mt_header_t badname = {"X Y", 3, "v", 1};
    mt_header_t empty = {"", 0, "v", 1};
    mt_header_t cl = {"content-length", 14, "5", 1};
    mt_header_t te = {"Transfer-Encoding", 17, "chunked", 7};
    mt_request_spec_t s = {.target = "/", .host = "h", .nheaders = 1};
    (void)state;

    s.headers = &crlf;
    expect_fail(&s, MT_EINVAL, "header 'X': value contains CR/LF");
    s.headers = &lf;
    expect_fail(&s, MT_EINVAL, "header 'X': value contains CR/LF");
    s.headers = &badname;
    expect_fail(&s, MT_EINVAL, "bad header name 'X Y'");
    s.headers = &empty;
    expect_fail(&s, MT_EINVAL, "bad header name ''");
    s.headers = &cl;
    expect_fail(&s, MT_EINVAL, "Content-Length is computed from the body (use --body)");
    s.headers = &te;
    expect_fail(&s, MT_EINVAL, NULL);

    s.nheaders = 0;
    s.method = "G T";
    expect_fail(&s, MT_EINVAL, "bad method 'G T' (must be a token)");
    s.method = "";
    expect_fail(&s, MT_EINVAL, NULL);
    s.method = NULL;
    s.target = "/a b";
    expect_fail(&s, MT_EINVAL, "space or control character in request target");
    s.target = "";
    expect_fail(&s, MT_EINVAL, "empty request target");
    s.target = "/";
    s.host = "h\r\nX: y";
    expect_fail(&s, MT_EINVAL, "bad Host value");
    s.host = "h";
    s.has_body = true;
    s.body = "";
    s.body_len = (size_t)MT_REQUEST_MAX_BODY + 1; /* never read: the size is checked first */
    expect_fail(&s, MT_ETOOBIG, "body larger than 64 MiB");
}

static void test_head_limit(void **state)
{
    size_t n = MT_REQUEST_MAX_HEAD;
    char *v = malloc(n + 1);
    mt_header_t h;
    mt_request_spec_t s = {.target = "/", .host = "h", .headers = &h, .nheaders = 1};
    (void)state;
    assert_non_null(v);
    memset(v, 'v', n);
    v[n] = '\0';
    h = (mt_header_t){"X", 1, v, n};
    expect_fail(&s, MT_ETOOBIG, NULL);
    free(v);
}

static void test_token(void **state)
{
    (void)state;
    assert_true(mt_http_is_token("GET", 3));
    assert_true(mt_http_is_token("X-Custom_1.!#$%&'*+^`|~", 23));
    assert_false(mt_http_is_token("", 0));
    assert_false(mt_http_is_token("A B", 3));
    assert_false(mt_http_is_token("A:B", 3));
    assert_false(mt_http_is_token("A\0B", 3));
    assert_false(mt_http_is_token("\xc3\xa9", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_get),
        cmocka_unit_test(test_user_headers),
        cmocka_unit_test(test_two_host_headers),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_length_for_post_without_body),
        cmocka_unit_test(test_header_parse),
        cmocka_unit_test(test_build_rejects),
        cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
