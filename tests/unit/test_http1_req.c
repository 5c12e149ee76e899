/* Request-head parser: every case is fed whole, split at every byte and byte by byte, and
 * must give the same result each way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/http1_req.h"

#define MAX_HEAD 4096

/* Feeds s in pieces: first `split` bytes, then the rest in chunks of `chunk` (0: all).
 * Stops at the first result other than MT_EAGAIN. Returns it; *used = bytes consumed. */
static int feed(mt__h1_req_t *p, const char *s, size_t len, size_t split, size_t chunk,
                size_t *used)
{
    size_t off = 0;
    int rc = MT_EAGAIN;

    mt__h1_req_init(p, MAX_HEAD);
    *used = 0;
    while (off < len || (off == 0 && len == 0)) {
        size_t n = len - off, c = 0;
        if (off == 0 && split > 0 && split < n)
            n = split;
        else if (off > 0 && chunk > 0 && chunk < n)
            n = chunk;
        rc = mt__h1_req_feed(p, s + off, n, &c);
        assert_true(c <= n);
        *used += c;
        off += c;
        if (rc != MT_EAGAIN)
            break;
        assert_int_equal(c, n); /* EAGAIN consumes everything */
        if (len == 0)
            break;
    }
    return rc;
}

/* The same request every way must give the same outcome as fed whole. */
static void same_every_way(const char *s, size_t len)
{
    mt__h1_req_t whole, part;
    size_t used_whole, used;
    int rc = feed(&whole, s, len, 0, 0, &used_whole);

    for (size_t split = 1; split <= len; split++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            int rc2 = feed(&part, s, len, split, bytewise ? 1 : 0, &used);
            if (rc2 != rc || used != used_whole)
                fail_msg("split at %zu%s: rc %d used %zu, whole: rc %d used %zu", split,
                         bytewise ? " then bytewise" : "", rc2, used, rc, used_whole);
            assert_int_equal(part.method, whole.method);
            assert_int_equal(part.method_len, whole.method_len);
            assert_int_equal(part.version_minor, whole.version_minor);
            assert_int_equal(part.target_off, whole.target_off);
            assert_int_equal(part.target_len, whole.target_len);
            assert_int_equal(part.head_len, whole.head_len);
            assert_int_equal(part.content_length, whole.content_length);
            assert_int_equal(part.has_content_length, whole.has_content_length);
            assert_int_equal(part.has_transfer_encoding, whole.has_transfer_encoding);
            assert_int_equal(part.has_host, whole.has_host);
            assert_int_equal(part.conn_close, whole.conn_close);
            assert_int_equal(part.conn_keep_alive, whole.conn_keep_alive);
            assert_int_equal(part.expect_continue, whole.expect_continue);
            assert_int_equal(part.err_offset, whole.err_offset);
            assert_int_equal(part.err_status, whole.err_status);
            if (rc != MT_OK && rc != MT_EAGAIN)
                assert_string_equal(part.err_msg, whole.err_msg);
        }
    }
}

typedef struct good {
    const char *req;
    int method;
    const char *target;
    int minor;
    uint64_t content_length;
    int close, keep_alive, te, expect, keep;
    size_t trailing; /* bytes after the head (body or next request) */
} good_t;

static const good_t k_good[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", MT__H1_M_GET, "/", 1, 0, 0, 0, 0, 0, 1, 0},
    {"GET /x?status=503&size=10 HTTP/1.1\r\nHost: a\r\n\r\n", MT__H1_M_GET, "/x?status=503&size=10",
     1, 0, 0, 0, 0, 0, 1, 0},
    {"HEAD /h HTTP/1.1\r\nhost:a\r\n\r\n", MT__H1_M_HEAD, "/h", 1, 0, 0, 0, 0, 0, 1, 0},
    {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", MT__H1_M_POST, "/p", 1, 5, 0,
     0, 0, 0, 1, 5},
    {"PUT / HTTP/1.1\r\nHost: a\r\ncontent-length:\t 12 \t\r\n\r\n", MT__H1_M_PUT, "/", 1, 12, 0, 0,
     0, 0, 1, 0},
    {"DELETE / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
     MT__H1_M_DELETE, "/", 1, 7, 0, 0, 0, 0, 1, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", MT__H1_M_GET, "/", 1, 0, 1, 0, 0, 0,
     0, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nCONNECTION: Upgrade , CLOSE\r\n\r\n", MT__H1_M_GET, "/", 1, 0, 1,
     0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, close x, xclose\r\n\r\n", MT__H1_M_GET, "/",
     1, 0, 0, 0, 0, 0, 1, 0},
    {"GET / HTTP/1.0\r\n\r\n", MT__H1_M_GET, "/", 0, 0, 0, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", MT__H1_M_GET, "/", 0, 0, 0, 1, 0, 0, 1, 0},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", MT__H1_M_GET, "/", 0, 0, 1, 1, 0, 0,
     0, 0},
    {"GET / HTTP/1.9\r\nHost: a\r\n\r\n", MT__H1_M_GET, "/", 9, 0, 0, 0, 0, 0, 1, 0},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     MT__H1_M_POST, "/", 1, 0, 0, 0, 1, 0, 1, 15},
    {"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
     MT__H1_M_POST, "/", 1, 1, 0, 0, 0, 1, 1, 1},
    {"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\n\r\n", MT__H1_M_POST, "/", 1, 0, 0, 0,
     0, 0, 1, 0},
    {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", MT__H1_M_GET, "/", 1, 0, 0, 0, 0, 0, 1, 0},
    {"\nGET / HTTP/1.1\nHost: a\nX: y\n\n", MT__H1_M_GET, "/", 1, 0, 0, 0, 0, 0, 1, 0},
    {"GETS / HTTP/1.1\r\nHost: a\r\n\r\n", MT__H1_M_OTHER, "/", 1, 0, 0, 0, 0, 0, 1, 0},
    {"get / HTTP/1.1\r\nHost: a\r\n\r\n", MT__H1_M_OTHER, "/", 1, 0, 0, 0, 0, 0, 1, 0},
    {"M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", MT__H1_M_OTHER, "*", 1, 0, 0, 0, 0, 0, 1, 0},
    {"OPTIONS http://h:1/a?b=c HTTP/1.1\r\nHost: h:1\r\n\r\n", MT__H1_M_OPTIONS, "http://h:1/a?b=c",
     1, 0, 0, 0, 0, 0, 1, 0},
    {"PATCH / HTTP/1.1\r\nHost:\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\nContent-Lengthy: x\r\n"
     "Hostname: y\r\n\r\nGET / HTTP/1.1\r\n",
     MT__H1_M_PATCH, "/", 1, 0, 0, 0, 0, 0, 1, 16},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000000000042\r\n\r\n",
     MT__H1_M_GET, "/", 1, 42, 0, 0, 0, 0, 1, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n", MT__H1_M_GET, "/",
     1, 1000000000000000000ull, 0, 0, 0, 0, 1, 0},
};

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(k_good) / sizeof(k_good[0]); i++) {
        const good_t *g = &k_good[i];
        size_t len = strlen(g->req), used;
        mt__h1_req_t p;
        int rc = feed(&p, g->req, len, 0, 0, &used);
        if (rc != MT_OK)
            fail_msg("case %zu: rc %d (%s at %u)", i, rc, p.err_msg ? p.err_msg : "-",
                     p.err_offset);
        if (used != len - g->trailing)
            fail_msg("case %zu: used %zu of %zu", i, used, len);
        assert_int_equal(p.head_len, len - g->trailing);
        assert_int_equal(p.method, g->method);
        assert_int_equal(p.target_len, strlen(g->target));
        assert_memory_equal(g->req + p.target_off, g->target, p.target_len);
        assert_memory_equal(g->req + p.target_off - p.method_len - 1,
                            g->req + strspn(g->req, "\r\n"), p.method_len);
        assert_int_equal(p.version_minor, g->minor);
        assert_int_equal(p.content_length, g->content_length);
        assert_int_equal(p.has_content_length, g->content_length > 0);
        assert_int_equal(p.conn_close, g->close);
        assert_int_equal(p.conn_keep_alive, g->keep_alive);
        assert_int_equal(p.has_transfer_encoding, g->te);
        assert_int_equal(p.expect_continue, g->expect);
        assert_int_equal(mt__h1_req_keep_alive(&p), g->keep);
        same_every_way(g->req, len);
    }
}

typedef struct bad {
    const char *req;
    size_t len; /* 0: strlen(req) */
    int rc;
    int status;
    uint32_t offset;
    const char *msg;
} bad_t;

static const bad_t k_bad[] = {
    {"GARBAGE\r\n\r\n", 0, MT_EPROTO, 400, 7, "bad character in method"},
    {" GET / HTTP/1.1\r\n", 0, MT_EPROTO, 400, 0, "bad character in method"},
    {"GET  / HTTP/1.1\r\n", 0, MT_EPROTO, 400, 4, "empty request-target"},
    {"GET /\x01 HTTP/1.1\r\n", 0, MT_EPROTO, 400, 5, "bad character in request-target"},
    {"GET /\xff HTTP/1.1\r\n", 0, MT_EPROTO, 400, 5, "bad character in request-target"},
    {"GET /\r\n", 0, MT_EPROTO, 400, 5, "request line without HTTP version"},
    {"GET / HTTP/1.1 \r\n", 0, MT_EPROTO, 400, 14, "bad HTTP version"},
    {"GET / HTTPS/1.1\r\n", 0, MT_EPROTO, 400, 10, "bad HTTP version"},
    {"GET / HTTP/11\r\n", 0, MT_EPROTO, 400, 12, "bad HTTP version"},
    {"GET / HTTP/1.x\r\n", 0, MT_EPROTO, 400, 13, "bad HTTP version"},
    {"GET / HTTP/2.0\r\n\r\n", 0, MT_EPROTO, 505, 11, "HTTP version not supported"},
    {"GET / HTTP/0.9\r\n\r\n", 0, MT_EPROTO, 505, 11, "HTTP version not supported"},
    {"GET / HTTP/1.1\rX", 0, MT_EPROTO, 400, 15, "CR not followed by LF"},
    {"\rGET", 0, MT_EPROTO, 400, 1, "CR not followed by LF"},
    {"GET / HTTP/1.1\r\n\r\n", 0, MT_EPROTO, 400, 17, "missing Host header"},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, MT_EPROTO, 400, 29,
     "more than one Host header"},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, MT_EPROTO, 400, 20,
     "whitespace before ':' in header line"},
    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 0, MT_EPROTO, 400, 25,
     "obsolete line folding"},
    {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 0, MT_EPROTO, 400, 20,
     "whitespace before ':' in header line"},
    {"GET / HTTP/1.1\r\nHost\r\n\r\n", 0, MT_EPROTO, 400, 20, "header line without ':'"},
    {"GET / HTTP/1.1\r\n(x): y\r\n\r\n", 0, MT_EPROTO, 400, 16, "bad character in header name"},
    {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 0, MT_EPROTO, 400, 23,
     "bad character in header value"},
    {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 0, MT_EPROTO, 400, 23,
     "bad character in header value"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 0, MT_EPROTO, 400, 30,
     "CR not followed by LF"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 0, MT_EPROTO, 400, 42,
     "bad Content-Length"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 0, MT_EPROTO, 400, 41,
     "bad Content-Length"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 0, MT_EPROTO, 400, 43,
     "bad Content-Length"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", 0, MT_EPROTO, 400, 42,
     "bad Content-Length"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 0, MT_EPROTO, 400, 40,
     "empty Content-Length"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, MT_EPROTO,
     400, 61, "conflicting Content-Length headers"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000001\r\n\r\n", 0, MT_EPROTO, 400,
     59, "Content-Length too large"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, MT_EPROTO,
     400, 59, "Content-Length too large"},
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\r", 0, MT_EPROTO, 400, 26, "CR not followed by LF"},
    {"G\x00T / HTTP/1.1\r\n", 16, MT_EPROTO, 400, 1, "bad character in method"},
};

static size_t bad_len(const bad_t *b)
{
    return b->len ? b->len : strlen(b->req);
}

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(k_bad) / sizeof(k_bad[0]); i++) {
        const bad_t *b = &k_bad[i];
        size_t len = bad_len(b), used;
        mt__h1_req_t p;
        int rc = feed(&p, b->req, len, 0, 0, &used);
        if (rc != b->rc || p.err_status != b->status || p.err_offset != b->offset ||
            strcmp(p.err_msg, b->msg) != 0)
            fail_msg("case %zu: rc %d status %u offset %u msg '%s'; want %d %d %u '%s'", i, rc,
                     p.err_status, p.err_offset, p.err_msg ? p.err_msg : "(null)", b->rc, b->status,
                     b->offset, b->msg);
        if (used != b->offset)
            fail_msg("case %zu: used %zu", i, used);
        same_every_way(b->req, len);
    }
}

static void test_incomplete(void **state)
{
    const char *req = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    size_t len = strlen(req);
    (void)state;
    for (size_t n = 0; n < len; n++) {
        mt__h1_req_t p;
        size_t used;
        int rc = feed(&p, req, n, 0, 0, &used);
        assert_int_equal(rc, MT_EAGAIN);
        assert_int_equal(used, n);
    }
}

static void test_sticky_error(void **state)
{
    mt__h1_req_t p;
    size_t used;
    (void)state;
    mt__h1_req_init(&p, MAX_HEAD);
    assert_int_equal(mt__h1_req_feed(&p, "BAD\x01", 4, &used), MT_EPROTO);
    assert_int_equal(used, 3);
    assert_int_equal(mt__h1_req_feed(&p, "GET / HTTP/1.1\r\n", 16, &used), MT_EPROTO);
    assert_int_equal(used, 0);
    assert_int_equal(p.err_offset, 3);
}

static void test_done_consumes_nothing_more(void **state)
{
    mt__h1_req_t p;
    size_t used;
    (void)state;
    mt__h1_req_init(&p, MAX_HEAD);
    assert_int_equal(mt__h1_req_feed(&p, "GET / HTTP/1.0\r\n\r\nGET", 21, &used), MT_OK);
    assert_int_equal(used, 18);
    assert_int_equal(mt__h1_req_feed(&p, "GET", 3, &used), MT_OK);
    assert_int_equal(used, 0);
}

/* Builds "GET / HTTP/1.1\r\nHost: a\r\nX: <pad>\r\n\r\n" of exactly total bytes. */
static char *head_of(size_t total)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t fixed = strlen(pre) + 4;
    char *s = malloc(total + 1);
    assert_non_null(s);
    assert_true(total > fixed);
    strcpy(s, pre);
    memset(s + strlen(pre), 'v', total - fixed);
    strcpy(s + total - 4, "\r\n\r\n");
    return s;
}

static void test_limits(void **state)
{
    mt__h1_req_t p;
    size_t used;
    char *s;
    (void)state;

    /* exactly the limit: fine */
    s = head_of(MAX_HEAD);
    assert_int_equal(feed(&p, s, MAX_HEAD, 0, 0, &used), MT_OK);
    assert_int_equal(used, MAX_HEAD);
    assert_int_equal(feed(&p, s, MAX_HEAD, 0, 1, &used), MT_OK);
    free(s);

    /* one more: 431 as soon as the limit is reached, even with no byte beyond it yet */
    s = head_of(MAX_HEAD + 1);
    assert_int_equal(feed(&p, s, MAX_HEAD + 1, 0, 0, &used), MT_ETOOBIG);
    assert_int_equal(p.err_status, 431);
    assert_int_equal(p.err_offset, MAX_HEAD);
    assert_int_equal(used, MAX_HEAD);
    assert_int_equal(feed(&p, s, MAX_HEAD, 0, 0, &used), MT_ETOOBIG);
    assert_int_equal(feed(&p, s, MAX_HEAD + 1, 100, 7, &used), MT_ETOOBIG);
    assert_int_equal(used, MAX_HEAD);
    free(s);

    /* too many header lines */
    {
        char buf[MAX_HEAD];
        size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
        for (int i = 0; i < MT__H1_REQ_MAX_HEADERS; i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X:%d\r\n", i % 10);
        memcpy(buf + n, "Host: a\r\n\r\n", 11);
        n += 11;
        assert_int_equal(feed(&p, buf, n, 0, 0, &used), MT_ETOOBIG);
        assert_int_equal(p.err_status, 431);
        assert_string_equal(p.err_msg, "too many header lines");
        same_every_way(buf, n);
    }
}

static void test_keep_alive_rules(void **state)
{
    static const struct {
        const char *req;
        int keep;
    } k[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection:keep-alive \r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: keep-alive2\r\n\r\n", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        mt__h1_req_t p;
        size_t used;
        assert_int_equal(feed(&p, k[i].req, strlen(k[i].req), 0, 0, &used), MT_OK);
        if (mt__h1_req_keep_alive(&p) != k[i].keep)
            fail_msg("case %zu: keep-alive %d", i, !k[i].keep);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_sticky_error),
        cmocka_unit_test(test_done_consumes_nothing_more),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_keep_alive_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
