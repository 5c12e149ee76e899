/* Unit tests for the incremental HTTP/1.x response parser (src/proto/http1.c).
 *
 * Every case is fed whole, split into two pieces at every byte position, and one byte at a
 * time; all must agree. Each piece is copied into its own heap buffer of exactly its size,
 * so under ASan any read past a piece fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/proto/http1.c"

#define MAX_RESP 4

typedef struct resp {
    unsigned status;
    uint64_t body;
    bool keep_alive;
    size_t end; /* stream offset just past the response; 0 in a table = the whole input */
} resp_t;

typedef struct outcome {
    int n;
    resp_t r[MAX_RESP];
    int rc;          /* MT_OK: every byte parsed (and EOF accepted); else the error */
    const char *msg; /* err_msg on error */
    uint32_t err_offset;
    size_t err_at; /* stream offset of the start of the response that failed */
} outcome_t;

/* Feed data[0..len) in pieces ending at cuts[0..ncuts) (ascending, the last = len), re-init
 * after each complete response (pipelining), and report EOF at the end if a response is
 * under way. */
static void run(const char *data, size_t len, unsigned flags, const size_t *cuts, size_t ncuts,
                outcome_t *o)
{
    mt_h1_resp_t p;
    size_t a = 0, resp_start = 0;
    int rc = MT_EAGAIN;

    memset(o, 0, sizeof *o);
    mt_h1_resp_init(&p, flags);
    for (size_t k = 0; k < ncuts; k++) {
        size_t b = cuts[k], plen = b - a, off = 0;
        char *piece = malloc(plen ? plen : 1);
        assert_non_null(piece);
        memcpy(piece, data + a, plen);
        do {
            size_t used = 12345;
            rc = mt_h1_resp_feed(&p, piece + off, plen - off, &used);
            assert_true(used <= plen - off);
            off += used;
            if (rc == MT_OK) {
                assert_true(o->n < MAX_RESP);
                assert_true(p.head_done);
                o->r[o->n++] = (resp_t){p.status, p.body_bytes, mt_h1_resp_keep_alive(&p), a + off};
                resp_start = a + off;
                mt_h1_resp_init(&p, flags);
                rc = MT_EAGAIN;
                continue;
            }
            if (rc != MT_EAGAIN) {
                free(piece);
                goto error;
            }
            assert_int_equal(off, plen); /* EAGAIN consumes everything */
        } while (off < plen);
        free(piece);
        a = b;
    }
    assert_int_equal(a, len);
    if (resp_start == len) {
        o->rc = MT_OK; /* idle between responses: a clean close */
        return;
    }
    rc = mt_h1_resp_eof(&p);
    if (rc == MT_OK) {
        assert_true(o->n < MAX_RESP);
        o->r[o->n++] = (resp_t){p.status, p.body_bytes, mt_h1_resp_keep_alive(&p), len};
        o->rc = MT_OK;
        return;
    }
error:
    o->rc = rc;
    o->msg = p.err_msg;
    o->err_offset = p.err_offset;
    o->err_at = resp_start;
    assert_non_null(p.err_msg);
    /* Once failed, the parser stays failed and consumes nothing. */
    if (rc != MT_EEOF) {
        size_t used = 1;
        assert_int_equal(mt_h1_resp_feed(&p, "HTTP/1.1 200 OK\r\n\r\n", 19, &used), rc);
        assert_int_equal(used, 0);
    }
}

static void same_outcome(const char *name, const char *how, const outcome_t *want,
                         const outcome_t *got)
{
    if (got->n != want->n || got->rc != want->rc || got->msg != want->msg ||
        (got->rc != MT_OK && (got->err_offset != want->err_offset || got->err_at != want->err_at)))
        fail_msg("%s (%s): got n=%d rc=%d msg=%s off=%u, want n=%d rc=%d msg=%s off=%u", name, how,
                 got->n, got->rc, got->msg ? got->msg : "-", got->err_offset, want->n, want->rc,
                 want->msg ? want->msg : "-", want->err_offset);
    for (int i = 0; i < got->n; i++) {
        const resp_t *g = &got->r[i], *w = &want->r[i];
        if (g->status != w->status || g->body != w->body || g->keep_alive != w->keep_alive ||
            g->end != w->end)
            fail_msg("%s (%s): response %d: got %u/%llu/%d/%zu, want %u/%llu/%d/%zu", name, how, i,
                     g->status, (unsigned long long)g->body, g->keep_alive, g->end, w->status,
                     (unsigned long long)w->body, w->keep_alive, w->end);
    }
}

/* Whole, split in two at every position (a sample of them for big inputs), byte by byte:
 * all must give the same outcome, which is returned. */
static void run_all_ways(const char *name, const char *data, size_t len, unsigned flags,
                         outcome_t *whole)
{
    outcome_t got;
    size_t cuts[2];
    size_t *bytes;

    cuts[0] = len;
    run(data, len, flags, cuts, 1, whole);

    for (size_t i = 0; i <= len; i++) {
        if (len > 4096 && i > 512 && i + 512 < len && i % 97 != 0)
            continue;
        cuts[0] = i;
        cuts[1] = len;
        run(data, len, flags, cuts, 2, &got);
        char how[64];
        snprintf(how, sizeof how, "split at %zu", i);
        same_outcome(name, how, whole, &got);
    }

    bytes = malloc((len + 1) * sizeof *bytes);
    assert_non_null(bytes);
    for (size_t i = 0; i < len; i++)
        bytes[i] = i + 1;
    run(data, len, flags, bytes, len, &got);
    same_outcome(name, "byte by byte", whole, &got);
    free(bytes);
}

/* ---- well-formed responses ---- */

#define CL_OK "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
#define CHUNKED                                                                                    \
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"                                        \
    "5;name=val\r\nhello\r\n"                                                                      \
    "0A ; x=\"y\"\r\n0123456789\r\n"                                                               \
    "0\r\nX-Trailer: 1\r\nX-Other: two\r\n\r\n"
#define R204 "HTTP/1.1 204 No Content\r\nServer: t\r\n\r\n"

typedef struct ok_case {
    const char *name;
    const char *data;
    unsigned flags;
    int n;
    resp_t r[MAX_RESP];
} ok_case_t;

static const ok_case_t ok_cases[] = {
    {"content-length", CL_OK, 0, 1, {{200, 5, true, 0}}},
    {"chunked with extensions and trailers", CHUNKED, 0, 1, {{200, 15, true, 0}}},
    {"HEAD",
     "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
     MT_H1_NO_BODY,
     1,
     {{200, 0, true, 0}}},
    {"HEAD chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
     MT_H1_NO_BODY,
     1,
     {{200, 0, true, 0}}},
    {"204", R204, 0, 1, {{204, 0, true, 0}}},
    {"304",
     "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n",
     0,
     1,
     {{304, 0, true, 0}}},
    {"100-continue and 103 then 200",
     "HTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: close\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     0,
     1,
     {{200, 2, true, 0}}},
    {"101 switching protocols",
     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     0,
     1,
     {{101, 0, false, 0}}},
    {"1.0 close-delimited",
     "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close",
     0,
     1,
     {{200, 16, false, 0}}},
    {"1.1 close-delimited", "HTTP/1.1 200 OK\r\n\r\nab\r\ncd", 0, 1, {{200, 6, false, 0}}},
    {"1.0 keep-alive",
     "HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabc",
     0,
     1,
     {{200, 3, true, 0}}},
    {"1.0 default close",
     "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc",
     0,
     1,
     {{200, 3, false, 0}}},
    {"Connection: close",
     "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
     0,
     1,
     {{200, 3, false, 0}}},
    {"Connection list",
     "HTTP/1.1 200 OK\r\nCONNECTION: keep-alive, Close\r\nContent-Length: 3\r\n\r\nabc",
     0,
     1,
     {{200, 3, false, 0}}},
    {"Connection lookalikes",
     "HTTP/1.1 200 OK\r\nConnection: closed, keep-alive-x,upgrade\r\nContent-Length: 1\r\n\r\nx",
     0,
     1,
     {{200, 1, true, 0}}},
    {"pipelined",
     CL_OK CHUNKED R204,
     0,
     3,
     {{200, 5, true, sizeof CL_OK - 1},
      {200, 15, true, sizeof CL_OK CHUNKED - 1},
      {204, 0, true, sizeof CL_OK CHUNKED R204 - 1}}},
    {"LF only", "HTTP/1.1 200 OK\nContent-Length: 3\nX: y\n\nabc", 0, 1, {{200, 3, true, 0}}},
    {"LF only chunked",
     "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\nT: 1\n\n",
     0,
     1,
     {{200, 3, true, 0}}},
    {"zero-length body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 1, {{200, 0, true, 0}}},
    {"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 1, {{200, 0, true, 0}}},
    {"empty reason", "HTTP/1.1 404 \r\nContent-Length: 1\r\n\r\nx", 0, 1, {{404, 1, true, 0}}},
    {"chunked wins over content-length, then close (RFC 9112 6.3)",
     "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
     "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\n\r\n",
     0,
     1,
     {{200, 26, false, 0}}},
    {"content-length after chunked, then close",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
     "1\r\nx\r\n0\r\n\r\n",
     0,
     1,
     {{200, 1, false, 0}}},
    {"HTTP/1.0 chunked keep-alive: close after (RFC 9112 6.1)",
     "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1\r\nx\r\n0\r\n\r\n",
     0,
     1,
     {{200, 1, false, 0}}},
    {"obs-fold in other fields",
     "HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\n\tc\r\nContent-Length: 2\r\n\r\nok",
     0,
     1,
     {{200, 2, true, 0}}},
    {"obs-fold right after the status line",
     "HTTP/1.1 200 OK\r\n folded\r\nContent-Length: 1\r\n\r\nx",
     0,
     1,
     {{200, 1, true, 0}}},
    {"obs-fold after a header matched piecewise",
     "HTTP/1.1 200 OK\r\nContent-Lengthy: 1\r\n 2\r\nConnectionX: close\n , close\n"
     "Content-Length: 1\r\n\r\nx",
     0,
     1,
     {{200, 1, true, 0}}},
    {"obs-fold continues Transfer-Encoding",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
     0,
     1,
     {{200, 1, true, 0}}},
    {"obs-fold then a comma in Transfer-Encoding",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\t , chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
     0,
     1,
     {{200, 1, true, 0}}},
    {"obs-fold extends the chunked element: not chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n x\r\n\r\nabc",
     0,
     1,
     {{200, 3, false, 0}}},
    {"obs-fold continues Connection",
     "HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n\tclose\r\nContent-Length: 1\r\n\r\nx",
     0,
     1,
     {{200, 1, false, 0}}},
    {"obs-fold in trailers",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n 2\r\n\r\n",
     0,
     1,
     {{200, 1, true, 0}}},
    {"chunked not last: close-delimited",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"
     "Content-Length: 2\r\n\r\nabcdef",
     0,
     1,
     {{200, 6, false, 0}}},
    {"content-length whitespace and lists",
     "HTTP/1.1 200 OK\r\nContent-Length: \t 4 \t\r\ncontent-length: 4,4 , 4\r\n\r\nabcd",
     0,
     1,
     {{200, 4, true, 0}}},
    {"lookalike header names",
     "HTTP/1.1 200 OK\r\nContent-Lengthy: 99\r\nConnectio: close\r\nConnection-X: close\r\n"
     "TE: chunked\r\nTransfer-Encodings: chunked\r\nCon: x\r\nC: y\r\nContent-Lengtx: 7\r\n"
     "Set-Cookie: a=b\r\nTransfer-Encodinx: chunked\r\nConnection: clo se, clone, keep-alivf\r\n"
     "CONTENT-LENGTH: 2\r\n\r\nhi",
     0,
     1,
     {{200, 2, true, 0}}},
    {"chunk size whitespace and leading zeros",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0003  \r\nabc\r\n2\t;a;b=c\r\nde\r\n"
     "0;last\r\n\r\n",
     0,
     1,
     {{200, 5, true, 0}}},
    {"status 599 and odd reason",
     "HTTP/1.1 599 \x80\x01weird\r\nContent-Length: 0\r\n\r\n",
     0,
     1,
     {{599, 0, true, 0}}},
    {"status then LF, empty Connection",
     "HTTP/1.1 200\nConnection:\nContent-Length: 1\n\nx",
     0,
     1,
     {{200, 1, true, 0}}},
    {"empty list elements",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked ,\r\nConnection: "
     ",,\r\n\r\n1\r\nx\r\n0\r\n\r\n",
     0,
     1,
     {{200, 1, true, 0}}},
    {"list elements are whole words",
     "HTTP/1.1 200 OK\r\nConnection: close x, x close,Close\tx\r\nConnection: \t cLoSe \t\r\n"
     "Transfer-Encoding: chunked x\r\nContent-Length: 1\r\n\r\nabc",
     0,
     1,
     {{200, 3, false, 0}}},
    {"list elements with whitespace",
     "HTTP/1.1 200 OK\r\nConnection: x , keep-alive  ,y\r\n"
     "Transfer-Encoding: gzip ,  chunked  \r\n\r\n1\r\nx\r\n0\r\n\r\n",
     0,
     1,
     {{200, 1, true, 0}}},
    {"HTTP/1.9 treated as 1.1",
     "HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n",
     0,
     1,
     {{200, 0, true, 0}}},
};

static void test_ok_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
        const ok_case_t *c = &ok_cases[i];
        size_t len = strlen(c->data);
        outcome_t o;
        run_all_ways(c->name, c->data, len, c->flags, &o);
        if (o.rc != MT_OK)
            fail_msg("%s: rc=%d msg=%s at %u", c->name, o.rc, o.msg, o.err_offset);
        outcome_t want = {.n = c->n, .rc = MT_OK};
        for (int k = 0; k < c->n; k++) {
            want.r[k] = c->r[k];
            if (want.r[k].end == 0)
                want.r[k].end = len;
        }
        same_outcome(c->name, "expected", &want, &o);
    }
}

static void test_big_body(void **state)
{
    (void)state;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    size_t hlen = strlen(head), len = hlen + 100000;
    char *data = malloc(len);
    assert_non_null(data);
    memcpy(data, head, hlen);
    memset(data + hlen, 'x', 100000);
    outcome_t o;
    run_all_ways("big body", data, len, 0, &o);
    assert_int_equal(o.rc, MT_OK);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.r[0].body, 100000);
    assert_true(o.r[0].keep_alive);
    free(data);

    /* chunked: 50 chunks of 2000 bytes */
    char *c = malloc(200000), *w = c;
    assert_non_null(c);
    w += sprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 50; i++) {
        w += sprintf(w, "7d0\r\n");
        memset(w, 'y', 2000);
        w += 2000;
        w += sprintf(w, "\r\n");
    }
    w += sprintf(w, "0\r\n\r\n");
    run_all_ways("big chunked body", c, (size_t)(w - c), 0, &o);
    assert_int_equal(o.rc, MT_OK);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.r[0].body, 100000);
    free(c);
}

/* ---- malformed responses ---- */

typedef struct bad_case {
    const char *name;
    const char *data;
    int rc;
    const char *msg; /* substring of err_msg */
    long offset;     /* expected err_offset, or -1: not checked */
} bad_case_t;

#define H  "HTTP/1.1 200 OK\r\n"
#define HC H "Transfer-Encoding: chunked\r\n\r\n"

static const bad_case_t bad_cases[] = {
    {"no status code", "HTTP/1.1 OK\r\n\r\n", MT_EPROTO, "bad status line", 9},
    {"not HTTP", "HTTX/1.1 200 OK\r\n\r\n", MT_EPROTO, "bad status line", 3},
    {"lower-case http", "http/1.1 200 OK\r\n\r\n", MT_EPROTO, "bad status line", 0},
    {"leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n", MT_EPROTO, "bad status line", 0},
    {"HTTP/2", "HTTP/2.0 200 OK\r\n\r\n", MT_EPROTO, "HTTP version", 5},
    {"HTTP/1.x", "HTTP/1.x 200 OK\r\n\r\n", MT_EPROTO, "HTTP version", 7},
    {"HTTP/1.10", "HTTP/1.10 200 OK\r\n\r\n", MT_EPROTO, "bad status line", 8},
    {"4-digit status", "HTTP/1.1 2000 OK\r\n\r\n", MT_EPROTO, "bad status line", 12},
    {"2-digit status", "HTTP/1.1 20 OK\r\n\r\n", MT_EPROTO, "bad status line", 11},
    {"status below 100", "HTTP/1.1 099 x\r\n\r\n", MT_EPROTO, "bad status line", 12},
    {"two spaces", "HTTP/1.1  200 OK\r\n\r\n", MT_EPROTO, "bad status line", 9},
    {"CR without LF", "HTTP/1.1 200\rX\r\n\r\n", MT_EPROTO, "LF after CR", 13},
    {"CR without LF ending the head", H "X: 1\r\n\r\r", MT_EPROTO, "LF after CR", 24},
    {"CR without LF after content-length", H "Content-Length: 1\r\r\n", MT_EPROTO, "LF after CR",
     35},
    {"content-length letters", H "Content-Length: abc\r\n\r\n", MT_EPROTO, "invalid content-length",
     33},
    {"content-length negative", H "Content-Length: -1\r\n\r\n", MT_EPROTO, "invalid content-length",
     33},
    {"content-length plus", H "Content-Length: +1\r\n\r\n", MT_EPROTO, "invalid content-length",
     -1},
    {"content-length empty", H "Content-Length: \r\n\r\n", MT_EPROTO, "invalid content-length", 33},
    {"content-length two numbers", H "Content-Length: 1 2\r\n\r\n", MT_EPROTO,
     "invalid content-length", 35},
    {"content-length trailing junk", H "Content-Length: 12abc\r\n\r\n", MT_EPROTO,
     "invalid content-length", 35},
    {"content-length empty list element", H "Content-Length: 1,\r\n\r\n", MT_EPROTO,
     "invalid content-length", 35},
    {"content-length overflow", H "Content-Length: 18446744073709551616\r\n\r\n", MT_EPROTO,
     "content-length too large", 52},
    {"content-length huge", H "Content-Length: 999999999999999999999999999\r\n\r\n", MT_EPROTO,
     "content-length too large", -1},
    {"conflicting content-lengths", H "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
     MT_EPROTO, "conflicting content-length", 53},
    {"conflicting content-length list", H "Content-Length: 5, 6\r\n\r\nhello", MT_EPROTO,
     "conflicting content-length", 37},
    {"chunk size not hex", HC "zz\r\n", MT_EPROTO, "invalid chunk size", 47},
    {"chunk size empty", HC "\r\n", MT_EPROTO, "invalid chunk size", 47},
    {"chunk size negative", HC "-1\r\n", MT_EPROTO, "invalid chunk size", 47},
    {"chunk size two numbers", HC "1 2\r\nx\r\n0\r\n\r\n", MT_EPROTO, "invalid chunk size", 49},
    {"chunk size junk", HC "1x\r\n", MT_EPROTO, "invalid chunk size", 48},
    {"chunk size overflow", HC "10000000000000000\r\n", MT_EPROTO, "chunk size too large", 63},
    {"chunk size CR without LF", HC "3\rabc\r\n", MT_EPROTO, "LF after chunk size", 49},
    {"missing CRLF after chunk", HC "3\r\nabcX\r\n0\r\n\r\n", MT_EPROTO, "CRLF after chunk data",
     53},
    {"CR without LF after chunk", HC "3\r\nabc\rX0\r\n\r\n", MT_EPROTO, "CRLF after chunk data",
     54},
    {"header line without ':'", H "NoColonHere\r\n\r\n", MT_EPROTO, "without ':'", 28},
    {"header line without ':' (LF)", H "X-Ok: 1\nNoColon\n\n", MT_EPROTO, "without ':'", 32},
    {"whitespace before ':'", H "Content-Length : 5\r\n\r\nhello", MT_EPROTO,
     "whitespace in header name", 31},
    {"obs-fold in content-length", H "Content-Length: 1\r\n 1\r\n\r\nx", MT_EPROTO,
     "obs-fold in content-length", 36},
    {"empty header name", H ": x\r\n\r\n", MT_EPROTO, "empty header name", 17},
    {"bad byte in name", H "X\x01Y: 1\r\n\r\n", MT_EPROTO, "invalid character in header name", 18},
    {"bad trailer", HC "0\r\nnot a trailer\r\n\r\n", MT_EPROTO, "whitespace in header name", 53},
    {"bad byte in trailer name", HC "0\r\n(x): 1\r\n\r\n", MT_EPROTO,
     "invalid character in header name", 50},
};

static void test_bad_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *c = &bad_cases[i];
        outcome_t o;
        run_all_ways(c->name, c->data, strlen(c->data), 0, &o);
        if (o.rc != c->rc || !o.msg || !strstr(o.msg, c->msg))
            fail_msg("%s: rc=%d msg=%s, want rc=%d msg~%s", c->name, o.rc, o.msg ? o.msg : "-",
                     c->rc, c->msg);
        if (c->offset >= 0 && o.err_offset != (uint32_t)c->offset)
            fail_msg("%s: err_offset %u, want %ld (%s)", c->name, o.err_offset, c->offset, o.msg);
    }
}

/* A head of exactly MT_H1_MAX_HEADER_BYTES is accepted; one byte more is ETOOBIG. */
static char *head_of_size(size_t size, const char *extra)
{
    const char *pre = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ";
    size_t plen = strlen(pre), elen = strlen(extra);
    char *d = malloc(size + elen);
    assert_non_null(d);
    assert_true(size > plen + 4);
    memcpy(d, pre, plen);
    memset(d + plen, 'a', size - plen - 4);
    memcpy(d + size - 4, "\r\n\r\n", 4);
    memcpy(d + size, extra, elen);
    return d;
}

static void test_head_limit(void **state)
{
    (void)state;
    outcome_t o;
    char *d = head_of_size(MT_H1_MAX_HEADER_BYTES, "");
    run_all_ways("head at the limit", d, MT_H1_MAX_HEADER_BYTES, 0, &o);
    assert_int_equal(o.rc, MT_OK);
    assert_int_equal(o.n, 1);
    free(d);

    d = head_of_size(MT_H1_MAX_HEADER_BYTES + 1, "");
    run_all_ways("head over the limit", d, MT_H1_MAX_HEADER_BYTES + 1, 0, &o);
    assert_int_equal(o.rc, MT_ETOOBIG);
    assert_string_equal(o.msg, "response head too large");
    assert_int_equal(o.err_offset, MT_H1_MAX_HEADER_BYTES);
    free(d);

    /* A huge head that never ends: stops at the limit, whatever comes after. */
    size_t big = 3 * MT_H1_MAX_HEADER_BYTES;
    d = malloc(big);
    assert_non_null(d);
    memcpy(d, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(d + 20, 'b', big - 20);
    run_all_ways("endless header", d, big, 0, &o);
    assert_int_equal(o.rc, MT_ETOOBIG);
    assert_int_equal(o.err_offset, MT_H1_MAX_HEADER_BYTES);

    /* Trailers have their own limit, counted from the last chunk. */
    const char *pre = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX: ";
    size_t plen = strlen(pre), tstart = plen - 3;
    for (int over = 0; over <= 1; over++) {
        size_t len = tstart + MT_H1_MAX_HEADER_BYTES + (size_t)over;
        memcpy(d, pre, plen);
        memset(d + plen, 'c', len - plen - 4);
        memcpy(d + len - 4, "\r\n\r\n", 4);
        run_all_ways("trailers at the limit", d, len, 0, &o);
        if (over) {
            assert_int_equal(o.rc, MT_ETOOBIG);
            assert_string_equal(o.msg, "trailers too large");
            assert_int_equal(o.err_offset, tstart + MT_H1_MAX_HEADER_BYTES);
        } else {
            assert_int_equal(o.rc, MT_OK);
            assert_int_equal(o.r[0].body, 2);
        }
    }
    free(d);
}

/* ---- API behaviour ---- */

static void test_eof(void **state)
{
    (void)state;
    mt_h1_resp_t p;
    size_t used;

    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_eof(&p), MT_EEOF);
    assert_string_equal(p.err_msg, "connection closed before the response");

    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, "HTTP/1.1 200 OK\r\n", 17, &used), MT_EAGAIN);
    assert_int_equal(mt_h1_resp_eof(&p), MT_EEOF);
    assert_string_equal(p.err_msg, "connection closed in the response head");
    assert_int_equal(p.err_offset, 17);

    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, r, strlen(r), &used), MT_EAGAIN);
    assert_true(p.head_done);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.body_bytes, 3);
    assert_false(mt_h1_resp_keep_alive(&p)); /* not complete */
    assert_int_equal(mt_h1_resp_eof(&p), MT_EEOF);
    assert_string_equal(p.err_msg, "connection closed in the response body");

    /* close-delimited: EOF completes it; EOF again is still fine */
    r = "HTTP/1.1 200 OK\r\n\r\nabc";
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, r, strlen(r), &used), MT_EAGAIN);
    assert_int_equal(mt_h1_resp_eof(&p), MT_OK);
    assert_int_equal(mt_h1_resp_eof(&p), MT_OK);
    assert_int_equal(p.body_bytes, 3);
    assert_false(mt_h1_resp_keep_alive(&p));

    /* after MT_OK: feed consumes nothing and says OK again */
    r = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP";
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, r, strlen(r), &used), MT_OK);
    assert_int_equal(used, strlen(r) - 4);
    assert_int_equal(mt_h1_resp_feed(&p, r, strlen(r), &used), MT_OK);
    assert_int_equal(used, 0);
    assert_int_equal(mt_h1_resp_eof(&p), MT_OK);
    assert_true(mt_h1_resp_keep_alive(&p));

    /* an error is kept by eof */
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, "HTTP/3", 6, &used), MT_EPROTO);
    assert_int_equal(mt_h1_resp_eof(&p), MT_EEOF);
    assert_string_equal(p.err_msg, "unsupported HTTP version");
}

/* Time to first byte ends at the final response: mt_h1_resp_final_started is false through
 * interim 1xx heads and true once the final status code has been read. */
static void test_final_started(void **state)
{
    (void)state;
    mt_h1_resp_t p;
    size_t used;
    const char *r = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    size_t len = strlen(r), final = strstr(r, "HTTP/1.1 200") - r;
    for (size_t cut = 0; cut <= len; cut++) {
        mt_h1_resp_init(&p, 0);
        assert_false(mt_h1_resp_final_started(&p));
        int rc = mt_h1_resp_feed(&p, r, cut, &used);
        /* the status code's last digit is at final + 11 */
        if (cut >= final + 12)
            assert_true(mt_h1_resp_final_started(&p));
        else
            assert_false(mt_h1_resp_final_started(&p));
        if (cut < len) {
            assert_int_equal(rc, MT_EAGAIN);
            assert_int_equal(mt_h1_resp_feed(&p, r + cut, len - cut, &used), MT_OK);
        }
        assert_true(mt_h1_resp_final_started(&p));
        assert_int_equal(p.status, 200);
    }
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, "HTTP/1.1 101 S\r\n\r\n", 19, &used), MT_OK);
    assert_true(mt_h1_resp_final_started(&p));
}

static void test_max_lengths(void **state)
{
    (void)state;
    mt_h1_resp_t p;
    size_t used;
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nab";
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, r, strlen(r), &used), MT_EAGAIN);
    assert_int_equal(p.remaining, UINT64_MAX - 2);

    r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nab";
    mt_h1_resp_init(&p, 0);
    assert_int_equal(mt_h1_resp_feed(&p, r, strlen(r), &used), MT_EAGAIN);
    assert_int_equal(p.remaining, UINT64_MAX - 2);
    assert_int_equal(p.body_bytes, 2);
}

static void test_struct_and_errors(void **state)
{
    (void)state;
    assert_true(sizeof(mt_h1_resp_t) <= 48);
    assert_string_equal(mt_strerror(MT_EPROTO), "protocol error");
    assert_string_equal(mt_strerror(MT_ETOOBIG), "size limit exceeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_cases),    cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_bad_cases),   cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_eof),         cmocka_unit_test(test_final_started),
        cmocka_unit_test(test_max_lengths), cmocka_unit_test(test_struct_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
