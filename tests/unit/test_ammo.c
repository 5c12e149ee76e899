/* Yandex.Tank ammo: the four formats (examples from docs/formats.md and Tank's own docs and
 * tests, exact bytes), headers, tags, gzip, limits and a table of malformed inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "../../src/proto/ammo.c"

#define LEN(s) (sizeof(s) - 1)

static mt_ammo_t parse_ok(const char *text, size_t len, mt_ammo_type_t type,
                          const mt_ammo_opts_t *o)
{
    mt_ammo_t a;
    mt_parse_err_t err;
    int rc = mt_ammo_parse(text, len, type, o, &a, &err);
    if (rc != MT_OK)
        print_error("rc %d line %d col %d: %s\n", rc, err.line, err.col, err.msg);
    assert_int_equal(rc, MT_OK);
    assert_true(a.nreqs > 0);
    assert_non_null(a.tags);
    assert_string_equal(a.tags[0], "");
    return a;
}

static void check_req(const mt_ammo_t *a, size_t i, const char *expect, size_t len, const char *tag)
{
    assert_true(i < a->nreqs);
    if (a->reqs[i].len != len || memcmp(a->reqs[i].data, expect, len) != 0)
        print_error("request %zu is\n[%.*s]\nexpected\n[%.*s]\n", i, (int)a->reqs[i].len,
                    a->reqs[i].data, (int)len, expect);
    assert_int_equal(a->reqs[i].len, len);
    assert_memory_equal(a->reqs[i].data, expect, len);
    assert_true(a->reqs[i].tag < a->ntags);
    assert_string_equal(a->tags[a->reqs[i].tag], tag);
}
#define CHECK_REQ(a, i, lit, tag) check_req((a), (i), (lit), LEN(lit), (tag))

/* ---- types --------------------------------------------------------------------------- */

static void test_types(void **state)
{
    mt_ammo_type_t t = MT_AMMO_AUTO;
    (void)state;
    assert_int_equal(mt_ammo_type_parse("uri", &t), MT_OK);
    assert_int_equal(t, MT_AMMO_URI);
    assert_int_equal(mt_ammo_type_parse("uripost", &t), MT_OK);
    assert_int_equal(t, MT_AMMO_URIPOST);
    assert_int_equal(mt_ammo_type_parse("phantom", &t), MT_OK);
    assert_int_equal(t, MT_AMMO_PHANTOM);
    assert_int_equal(mt_ammo_type_parse("access", &t), MT_OK);
    assert_int_equal(t, MT_AMMO_ACCESS);
    assert_int_equal(mt_ammo_type_parse("auto", &t), MT_OK);
    assert_int_equal(t, MT_AMMO_AUTO);
    assert_int_equal(mt_ammo_type_parse("URI", &t), MT_EINVAL);
    assert_int_equal(mt_ammo_type_parse("", &t), MT_EINVAL);
    assert_int_equal(mt_ammo_type_parse(NULL, &t), MT_EINVAL);
    assert_string_equal(mt_ammo_type_name(MT_AMMO_URIPOST), "uripost");
    assert_string_equal(mt_ammo_type_name((mt_ammo_type_t)99), "?");

    assert_int_equal(mt_ammo_type_guess("73 good\nGET /", 13), MT_AMMO_PHANTOM);
    assert_int_equal(mt_ammo_type_guess("\n\n  5 /x\nclass", 14), MT_AMMO_PHANTOM);
    assert_int_equal(mt_ammo_type_guess("[Host: a]\n/", 11), MT_AMMO_URI);
    assert_int_equal(mt_ammo_type_guess("/x\n", 3), MT_AMMO_URI);
    assert_int_equal(mt_ammo_type_guess("", 0), MT_AMMO_URI);
    assert_int_equal(mt_ammo_type_guess(NULL, 0), MT_AMMO_URI);
}

/* ---- uri ----------------------------------------------------------------------------- */

/* docs/formats.md (Tank's tutorial), with the trailing spaces Tank's tutorial has */
static const char uri_example[] = "[Connection: close] \n"
                                  "[Host: target.example.com] \n"
                                  "[Cookie: None] \n"
                                  "/?drg tag1\n"
                                  "/ \n"
                                  "/buy tag2 \n"
                                  "[Cookie: test]\n"
                                  "/buy/?rt=0&station_to=7&station_from=9\n";

static void test_uri_example(void **state)
{
    mt_ammo_opts_t o = {.host = "ignored.example:8080"};
    mt_ammo_t a;
    (void)state;

    a = parse_ok(uri_example, LEN(uri_example), MT_AMMO_URI, &o);
    assert_int_equal(a.type, MT_AMMO_URI);
    assert_int_equal(a.nreqs, 4);
    assert_int_equal(a.ntags, 3);
    assert_string_equal(a.tags[1], "tag1");
    assert_string_equal(a.tags[2], "tag2");
    /* Host keeps the place of the option it replaced; Tank sends "Cookie: None" literally */
    CHECK_REQ(&a, 0,
              "GET /?drg HTTP/1.1\r\nHost: target.example.com\r\nConnection: close\r\n"
              "Cookie: None\r\n\r\n",
              "tag1");
    CHECK_REQ(&a, 1,
              "GET / HTTP/1.1\r\nHost: target.example.com\r\nConnection: close\r\n"
              "Cookie: None\r\n\r\n",
              "");
    CHECK_REQ(&a, 2,
              "GET /buy HTTP/1.1\r\nHost: target.example.com\r\nConnection: close\r\n"
              "Cookie: None\r\n\r\n",
              "tag2");
    CHECK_REQ(&a, 3,
              "GET /buy/?rt=0&station_to=7&station_from=9 HTTP/1.1\r\nHost: "
              "target.example.com\r\nConnection: close\r\nCookie: test\r\n\r\n",
              "");
    assert_int_equal(a.nwarnings, 0);
    assert_int_equal(a.warning.line, 0);
    {
        size_t sum = 0;
        for (size_t i = 0; i < a.nreqs; i++)
            sum += a.reqs[i].len;
        assert_int_equal(a.bytes, sum);
    }
    mt_ammo_dispose(&a);
    mt_ammo_dispose(&a); /* twice is harmless */
    assert_null(a.reqs);

    /* the file's Host is enough without options; auto-detection picks uri */
    a = parse_ok(uri_example, LEN(uri_example), MT_AMMO_AUTO, NULL);
    assert_int_equal(a.type, MT_AMMO_URI);
    assert_int_equal(a.nreqs, 4);
    mt_ammo_dispose(&a);
}

static void test_uri_headers(void **state)
{
    const char *hs[] = {"Accept: */*", "X-A: 1", "x-a:  2 ", "Host: from-h.example"};
    mt_ammo_opts_t o = {
        .host = "t.example:81", .headers = hs, .nheaders = 4, .user_agent = "mortar/0.1.0"};
    static const char text[] = "# a comment\r\n"
                               "\r\n"
                               "/a\r\n"
                               "[X-A: 3]\r\n"
                               "[user-agent: tank]\r\n"
                               "  /b\tt\r\n"
                               "[HOST: file.example]\r\n"
                               "[X-Empty:]\r\n"
                               "[X-Colon: a:b]]\r\n"
                               "http://abs.example/c\r\n";
    mt_ammo_t a;
    (void)state;

    a = parse_ok(text, LEN(text), MT_AMMO_URI, &o);
    assert_int_equal(a.nreqs, 3);
    /* options: -H after -H of the same name (any case) replaces it, in place */
    CHECK_REQ(&a, 0,
              "GET /a HTTP/1.1\r\nHost: from-h.example\r\nUser-Agent: mortar/0.1.0\r\n"
              "Accept: */*\r\nx-a: 2\r\n\r\n",
              "");
    CHECK_REQ(&a, 1,
              "GET /b HTTP/1.1\r\nHost: from-h.example\r\nuser-agent: tank\r\n"
              "Accept: */*\r\nX-A: 3\r\n\r\n",
              "t");
    CHECK_REQ(&a, 2,
              "GET http://abs.example/c HTTP/1.1\r\nHOST: file.example\r\nuser-agent: tank\r\n"
              "Accept: */*\r\nX-A: 3\r\nX-Empty:\r\nX-Colon: a:b]\r\n\r\n",
              "");
    mt_ammo_dispose(&a);
}

static void test_uri_no_host(void **state)
{
    mt_ammo_t a;
    mt_parse_err_t err;
    static const char text[] = "/a\n[Host: h]\n/b\n";
    (void)state;
    assert_int_equal(mt_ammo_parse(text, LEN(text), MT_AMMO_URI, NULL, &a, &err), MT_EPARSE);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 1);
    assert_non_null(strstr(err.msg, "no Host header"));
    assert_null(a.reqs);
    mt_ammo_dispose(&a);
    /* after [Host] it works; no trailing newline at the end of the file */
    a = parse_ok(text + 3, LEN(text) - 4, MT_AMMO_URI, NULL);
    CHECK_REQ(&a, 0, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", "");
    mt_ammo_dispose(&a);
}

/* ---- uripost ------------------------------------------------------------------------- */

static void test_uripost_example(void **state)
{
    /* docs/formats.md */
    static const char ex[] = "[Host: example.org]\n5 /route/?rll=1&origin=1\nclass\n";
    /* Tank's tutorial: three bodies, the second with a tag-less 10-byte body */
    static const char tut[] =
        "[Host: example.org]\n"
        "[Connection: close] \n"
        "[User-Agent: Tank]  \n"
        "5 /route/?rll=50.262025%2C53.276083~50.056015%2C53.495561&origin=1&simplify=1\n"
        "class\n"
        "10 /route/?rll=50.262025%2C53.276083~50.056015%2C53.495561&origin=1&simplify=1\n"
        "hello!clas\n"
        "7 /route/?rll=37.565147%2C55.695758~37.412796%2C55.691454&origin=1&simplify=1\n"
        "uripost\n";
    mt_ammo_opts_t o = {.host = "x", .user_agent = "mortar"};
    mt_ammo_t a;
    (void)state;

    a = parse_ok(ex, LEN(ex), MT_AMMO_URIPOST, NULL);
    assert_int_equal(a.nreqs, 1);
    CHECK_REQ(&a, 0,
              "POST /route/?rll=1&origin=1 HTTP/1.1\r\nHost: example.org\r\n"
              "Content-Length: 5\r\n\r\nclass",
              "");
    mt_ammo_dispose(&a);

    a = parse_ok(tut, LEN(tut), MT_AMMO_URIPOST, &o);
    assert_int_equal(a.nreqs, 3);
    CHECK_REQ(&a, 1,
              "POST /route/?rll=50.262025%2C53.276083~50.056015%2C53.495561&origin=1&simplify=1 "
              "HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Tank\r\nConnection: close\r\n"
              "Content-Length: 10\r\n\r\nhello!clas",
              "");
    CHECK_REQ(&a, 2,
              "POST /route/?rll=37.565147%2C55.695758~37.412796%2C55.691454&origin=1&simplify=1 "
              "HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Tank\r\nConnection: close\r\n"
              "Content-Length: 7\r\n\r\nuripost",
              "");
    mt_ammo_dispose(&a);
}

static void test_uripost_bodies(void **state)
{
    /* CRLF file; bodies with line ends inside and at their end; size 0; tags; a header
     * changing between bodies; blank lines and comments between entries; Tank's test file
     * uses a lower-case "host" */
    static const char text[] = "[host: h.example]\r\n"
                               "[Content-Type: application/json]\r\n"
                               "4 /a t1\r\n"
                               "{}\r\n"
                               "\r\n"
                               "# next\r\n"
                               "0 /empty\r\n"
                               "[Content-Type: text/plain]\r\n"
                               "6 /b t2\r\n"
                               "x\ny\nz\n"
                               "3 /c t1\r\n"
                               "abc";
    mt_ammo_t a;
    (void)state;

    a = parse_ok(text, LEN(text), MT_AMMO_URIPOST, NULL);
    assert_int_equal(a.nreqs, 4);
    assert_int_equal(a.ntags, 3);
    CHECK_REQ(&a, 0,
              "POST /a HTTP/1.1\r\nhost: h.example\r\nContent-Type: application/json\r\n"
              "Content-Length: 4\r\n\r\n{}\r\n",
              "t1");
    CHECK_REQ(&a, 1,
              "POST /empty HTTP/1.1\r\nhost: h.example\r\nContent-Type: application/json\r\n"
              "Content-Length: 0\r\n\r\n",
              "");
    CHECK_REQ(&a, 2,
              "POST /b HTTP/1.1\r\nhost: h.example\r\nContent-Type: text/plain\r\n"
              "Content-Length: 6\r\n\r\nx\ny\nz\n",
              "t2");
    CHECK_REQ(&a, 3,
              "POST /c HTTP/1.1\r\nhost: h.example\r\nContent-Type: text/plain\r\n"
              "Content-Length: 3\r\n\r\nabc",
              "t1");
    mt_ammo_dispose(&a);
}

static void test_uripost_lines_after_body(void **state)
{
    /* a 5-line body: the error two lines later must name line 9 */
    static const char text[] = "[Host: h]\n"       /* 1 */
                               "10 /a\n"           /* 2 */
                               "1\n2\n3\n4\n5\n"   /* 3..7 */
                               "\n"                /* 8 */
                               "[Broken header\n"; /* 9 */
    mt_ammo_t a;
    mt_parse_err_t err;
    (void)state;
    assert_int_equal(mt_ammo_parse(text, LEN(text), MT_AMMO_URIPOST, NULL, &a, &err), MT_EPARSE);
    assert_int_equal(err.line, 9);
    assert_string_equal(err.msg, "header line without closing ']'");
}

/* ---- phantom ------------------------------------------------------------------------- */

static void test_phantom_example(void **state)
{
    /* docs/formats.md / Tank's tutorial with CRLFs: the head is 74 bytes */
    static const char good[] = "74 good\n"
                               "GET / HTTP/1.0\r\n"
                               "Host: xxx.tanks.example.com\r\n"
                               "User-Agent: xxx (shell 1)\r\n"
                               "\r\n"
                               "\n"
                               "78 bad\n"
                               "GET /abra HTTP/1.0\r\n"
                               "Host: xxx.tanks.example.com\r\n"
                               "User-Agent: xxx (shell 1)\r\n"
                               "\r\n";
    /* ... and as printed there, "73": the size cuts the final LF, which then ends the line */
    static const char doc73[] = "73 good\n"
                                "GET / HTTP/1.0\r\n"
                                "Host: xxx.tanks.example.com\r\n"
                                "User-Agent: xxx (shell 1)\r\n"
                                "\r\n";
    mt_ammo_t a;
    (void)state;

    a = parse_ok(good, LEN(good), MT_AMMO_PHANTOM, NULL);
    assert_int_equal(a.type, MT_AMMO_PHANTOM);
    assert_int_equal(a.nreqs, 2);
    CHECK_REQ(&a, 0,
              "GET / HTTP/1.0\r\nHost: xxx.tanks.example.com\r\nUser-Agent: xxx (shell 1)\r\n\r\n",
              "good");
    CHECK_REQ(&a, 1,
              "GET /abra HTTP/1.0\r\nHost: xxx.tanks.example.com\r\nUser-Agent: xxx (shell "
              "1)\r\n\r\n",
              "bad");
    assert_int_equal(a.reqs[0].parse_flags, 0);
    assert_int_equal(a.nwarnings, 0);
    mt_ammo_dispose(&a);

    a = parse_ok(doc73, LEN(doc73), MT_AMMO_AUTO, NULL);
    assert_int_equal(a.type, MT_AMMO_PHANTOM);
    assert_int_equal(a.nreqs, 1);
    assert_int_equal(a.reqs[0].len, 73);
    assert_int_equal(a.nwarnings, 1); /* sent as is, but the head is cut: warned */
    assert_int_equal(a.warning.line, 1);
    assert_non_null(strstr(a.warning.msg, "is the size right?"));
    mt_ammo_dispose(&a);
}

static void test_phantom_tank_test_ammo(void **state)
{
    /* yandextank/stepper/tests/test-ammo.txt: CRLF lines; the POST's size includes a CRLF
     * after its 490-byte body; two spaces before HTTP/1.1 are sent as they are */
    char text[2048], body[491];
    int n;
    mt_ammo_t a;
    (void)state;

    for (int i = 0; i < 490; i++)
        body[i] = (char)('a' + i % 26);
    body[490] = '\0';
    n = snprintf(text, sizeof(text),
                 "601 case1\r\nPOST /case1?sleep=10  HTTP/1.1\r\nHost: localhost\r\nAccept: "
                 "*/*\r\nConnection: keep-alive\r\nContent-Length: 490\r\n\r\n%s\r\n"
                 "88 case2\r\nGET /case2?sleep=100  HTTP/1.1\r\nHost: localhost\r\nAccept: "
                 "*/*\r\nConnection: keep-alive\r\n\r\n"
                 "88 case3\r\nGET /case3?sleep=150  HTTP/1.1\r\nHost: localhost\r\nAccept: "
                 "*/*\r\nConnection: keep-alive\r\n\r\n",
                 body);
    a = parse_ok(text, (size_t)n, MT_AMMO_PHANTOM, NULL);
    assert_int_equal(a.nreqs, 3);
    assert_int_equal(a.reqs[0].len, 601);
    assert_int_equal(a.reqs[1].len, 88);
    assert_int_equal(a.reqs[2].len, 88);
    assert_string_equal(a.tags[a.reqs[0].tag], "case1");
    assert_string_equal(a.tags[a.reqs[2].tag], "case3");
    assert_memory_equal(a.reqs[2].data, "GET /case3?sleep=150  HTTP/1.1\r\n", 32);
    assert_int_equal(a.nwarnings, 0); /* the CRLF after the body is tolerated */
    mt_ammo_dispose(&a);
}

static void test_phantom_zero_and_head(void **state)
{
    static const char text[] = "\n"
                               "26 h\n"
                               "HEAD /x HTTP/1.1\r\nA: b\r\n\r\n\n"
                               "16\n"
                               "GET / HTTP/1.1\n\n"
                               "0\n"
                               "5 never\n"
                               "hello\n";
    mt_ammo_t a;
    (void)state;

    a = parse_ok(text, LEN(text), MT_AMMO_PHANTOM, NULL);
    assert_int_equal(a.nreqs, 2);
    assert_int_equal(a.ntags, 2); /* "never" is after the 0: never read */
    CHECK_REQ(&a, 0, "HEAD /x HTTP/1.1\r\nA: b\r\n\r\n", "h");
    assert_int_equal(a.reqs[0].parse_flags, MT_H1_NO_BODY);
    CHECK_REQ(&a, 1, "GET / HTTP/1.1\n\n", "");
    assert_int_equal(a.reqs[1].parse_flags, 0);
    assert_int_equal(a.nwarnings, 1);
    assert_int_equal(a.warning.line, 10);
    assert_non_null(strstr(a.warning.msg, "ignored"));
    mt_ammo_dispose(&a);
}

static void test_phantom_warnings(void **state)
{
    mt_ammo_t a;
    static const char cl_short[] = "42\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabcd\n";
    static const char no_cl[] = "28\nPOST / HTTP/1.1\r\n\r\nabcdefghi\n";
    static const char chunked[] = "52\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "0\r\n\r\n\n";
    (void)state;
    a = parse_ok(cl_short, LEN(cl_short), MT_AMMO_PHANTOM, NULL);
    assert_int_equal(a.nwarnings, 1);
    assert_non_null(strstr(a.warning.msg, "Content-Length is 2 but 4 bytes"));
    mt_ammo_dispose(&a);
    a = parse_ok(no_cl, LEN(no_cl), MT_AMMO_PHANTOM, NULL);
    assert_int_equal(a.nwarnings, 1);
    mt_ammo_dispose(&a);
    a = parse_ok(chunked, LEN(chunked), MT_AMMO_PHANTOM, NULL);
    assert_int_equal(a.nwarnings, 0);
    mt_ammo_dispose(&a);
}

/* ---- access -------------------------------------------------------------------------- */

static void test_access(void **state)
{
    static const char text[] =
        "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 "
        "2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n"
        "10.0.0.1 - - [10/Oct/2000:13:55:37 -0700] \"POST /form HTTP/1.1\" 302 0 \"-\" \"-\"\n"
        "\n"
        "10.0.0.2 - - [10/Oct/2000:13:55:38 -0700] \"-\" 400 0 \"-\" \"-\"\n"
        "10.0.0.3 - - [10/Oct/2000:13:55:39 -0700] \"GET /x?y=1&z=%20 HTTP/2.0\" 200 5 \"-\" "
        "\"curl/8\"\r\n"
        "10.0.0.4 - - [10/Oct/2000:13:55:40 -0700] \"HEAD / HTTP/1.1\" 200 0 \"-\" \"-\"\n"
        "garbage without quotes\n"
        "10.0.0.5 - - [10/Oct/2000:13:55:41 -0700] \"GET /unterminated HTTP/1.1\n";
    mt_ammo_opts_t o = {.host = "site.example"};
    mt_ammo_t a;
    (void)state;

    a = parse_ok(text, LEN(text), MT_AMMO_ACCESS, &o);
    assert_int_equal(a.type, MT_AMMO_ACCESS);
    assert_int_equal(a.nreqs, 3);
    CHECK_REQ(&a, 0, "GET /apache_pb.gif HTTP/1.1\r\nHost: site.example\r\n\r\n", "");
    CHECK_REQ(&a, 1, "GET /x?y=1&z=%20 HTTP/1.1\r\nHost: site.example\r\n\r\n", "");
    CHECK_REQ(&a, 2, "GET /unterminated HTTP/1.1\r\nHost: site.example\r\n\r\n", "");
    assert_int_equal(a.skipped, 2);   /* POST, HEAD */
    assert_int_equal(a.malformed, 2); /* "-", no quotes */
    assert_int_equal(a.nwarnings, 2);
    assert_int_equal(a.warning.line, 4);
    assert_int_equal(a.ntags, 1);
    mt_ammo_dispose(&a);
}

static void test_access_nothing(void **state)
{
    static const char text[] = "a \"POST / HTTP/1.1\" 200\nb \"-\" 400\n";
    mt_ammo_opts_t o = {.host = "h"};
    mt_ammo_t a;
    mt_parse_err_t err;
    (void)state;
    assert_int_equal(mt_ammo_parse(text, LEN(text), MT_AMMO_ACCESS, &o, &a, &err), MT_EPARSE);
    assert_int_equal(err.line, 0);
    assert_string_equal(err.msg, "no GET requests in the access log (1 lines with other "
                                 "methods, 1 without a request line)");
}

/* ---- tags ---------------------------------------------------------------------------- */

static void test_tags(void **state)
{
    char text[8192];
    size_t n = 0;
    mt_ammo_opts_t o = {.host = "h"};
    mt_ammo_t a;
    mt_parse_err_t err;
    (void)state;

    for (int i = 1; i <= 63; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "/%d tag%d\n/again tag%d\n", i, i, i);
    a = parse_ok(text, n, MT_AMMO_URI, &o);
    assert_int_equal(a.ntags, MT_MAX_TAGS);
    assert_int_equal(a.nreqs, 126);
    for (int i = 1; i <= 63; i++) {
        char name[16];
        snprintf(name, sizeof(name), "tag%d", i);
        assert_string_equal(a.tags[i], name);
        assert_int_equal(a.reqs[2 * (i - 1)].tag, i);
        assert_int_equal(a.reqs[2 * (i - 1) + 1].tag, i);
    }
    mt_ammo_dispose(&a);

    /* the 64th distinct tag is one too many (line 127) */
    n += (size_t)snprintf(text + n, sizeof(text) - n, "/x tag1\n/y tag64\n");
    assert_int_equal(mt_ammo_parse(text, n, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_int_equal(err.line, 128);
    assert_int_equal(err.col, 4);
    assert_string_equal(err.msg, "more than 63 distinct tags (tag 'tag64')");
    assert_null(a.reqs);

    /* a 64-byte tag is fine, UTF-8 too */
    {
        static const char ok[] =
            "/ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
            "/ \xd1\x82\xd0\xb5\xd0\xb3\n";
        a = parse_ok(ok, LEN(ok), MT_AMMO_URI, &o);
        assert_int_equal(a.ntags, 3);
        assert_int_equal(strlen(a.tags[1]), 64);
        assert_string_equal(a.tags[2], "\xd1\x82\xd0\xb5\xd0\xb3");
        mt_ammo_dispose(&a);
    }
}

/* ---- malformed input ----------------------------------------------------------------- */

typedef struct bad_case {
    mt_ammo_type_t type;
    const char *text;
    int rc, line, col;
    const char *msg;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {MT_AMMO_URI, "[Host: a]\n[Cookie test]\n/", MT_EPARSE, 2, 2, "header line without ':'"},
    {MT_AMMO_URI, "[Host a\n/", MT_EPARSE, 1, 8, "header line without closing ']'"},
    {MT_AMMO_URI, "[: x]\n/", MT_EPARSE, 1, 2, "empty header name"},
    {MT_AMMO_URI, "[X Y: z]\n/", MT_EPARSE, 1, 3, "white space in header name"},
    {MT_AMMO_URI, "[X\x01: z]\n/", MT_EPARSE, 1, 3, "bad byte 0x01 in header name"},
    {MT_AMMO_URI, "[X: a\x01]\n/", MT_EPARSE, 1, 6, "bad byte 0x01 in header value"},
    {MT_AMMO_URI, "[Content-Length: 5]\n/", MT_EPARSE, 1, 2,
     "Content-Length cannot be set: mortar computes it from the body"},
    {MT_AMMO_URI, "[transfer-encoding: chunked]\n/", MT_EPARSE, 1, 2,
     "Transfer-Encoding cannot be set: bodies are sent whole"},
    {MT_AMMO_URI, "\n\nbuy/ tag\n", MT_EPARSE, 3, 1, "URI 'buy/' does not start with '/'"},
    {MT_AMMO_URI, "/a\x01 tag\n", MT_EPARSE, 1, 3, "bad byte 0x01 in URI"},
    {MT_AMMO_URI, "/a b c\n", MT_EPARSE, 1, 6,
     "unexpected 'c' after the tag (a URI cannot contain white space: use %20)"},
    {MT_AMMO_URI, "/a t\x01g\n", MT_EPARSE, 1, 5, "bad byte 0x01 in tag"},
    {MT_AMMO_URI, "/a t\xff\n", MT_EPARSE, 1, 4, "tag is not valid UTF-8"},
    {MT_AMMO_URI, "/a aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     MT_ETOOBIG, 1, 4, "tag 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is longer than 64 bytes"},
    {MT_AMMO_URI, "", MT_EPARSE, 0, 0, "no requests in ammo"},
    {MT_AMMO_URI, "[Host: a]\n# only a comment\n\n", MT_EPARSE, 0, 0, "no requests in ammo"},
    {MT_AMMO_URIPOST, "[Host: a]\n5 /x\nabc", MT_EPARSE, 2, 1,
     "body length 5 runs past the end of the file (3 bytes left)"},
    {MT_AMMO_URIPOST, "[Host: a]\n/x\nabc", MT_EPARSE, 2, 1,
     "bad body length '/x': expected \"<body length> <URI> [tag]\""},
    {MT_AMMO_URIPOST, "[Host: a]\n5x /x\nabc", MT_EPARSE, 2, 2,
     "bad body length '5x': expected \"<body length> <URI> [tag]\""},
    {MT_AMMO_URIPOST, "[Host: a]\n5\nclass\n", MT_EPARSE, 2, 2,
     "no URI after the body length: expected \"<body length> <URI> [tag]\""},
    {MT_AMMO_URIPOST, "[Host: a]\n3 /x\nclass\n", MT_EPARSE, 3, 4,
     "body length 3 on line 2 ends in the middle of a line: is the length right?"},
    {MT_AMMO_URIPOST, "[Host: a]\n99999999999999999999999 /x\n", MT_ETOOBIG, 2, 1,
     "body length is more than 67108864 bytes"},
    {MT_AMMO_URIPOST, "[Host: a]\n1 /x a b\nz\n", MT_EPARSE, 2, 8,
     "unexpected 'b' after the tag (a URI cannot contain white space: use %20)"},
    {MT_AMMO_PHANTOM, "73 good\nGET / HTTP/1.0\r\n", MT_EPARSE, 1, 1,
     "request size 73 runs past the end of the file (16 bytes left)"},
    {MT_AMMO_PHANTOM, "[Host: a]\n/\n", MT_EPARSE, 1, 1,
     "bad request size '[Host:': expected \"<size> [tag]\" (is this uri or uripost ammo?)"},
    {MT_AMMO_PHANTOM, "GET / HTTP/1.1\n", MT_EPARSE, 1, 1,
     "bad request size 'GET': expected \"<size> [tag]\""},
    {MT_AMMO_PHANTOM, "-5 x\n", MT_EPARSE, 1, 1,
     "bad request size '-5': expected \"<size> [tag]\""},
    {MT_AMMO_PHANTOM, "3 a b\nabc\n", MT_EPARSE, 1, 5,
     "unexpected 'b' after the tag (a URI cannot contain white space: use %20)"},
    {MT_AMMO_PHANTOM, "3\nGET / HTTP/1.1\r\n\r\n", MT_EPARSE, 2, 5,
     "request size 3 on line 1 ends in the middle of a line: is the length right?"},
    {MT_AMMO_PHANTOM, "4 a\nab\ncd\nef\n", MT_EPARSE, 3, 2,
     "request size 4 on line 1 ends in the middle of a line: is the length right?"},
    {MT_AMMO_PHANTOM, "0\n5 x\nhello\n", MT_EPARSE, 0, 0, "no requests in ammo"},
    {MT_AMMO_ACCESS, "\n\n", MT_EPARSE, 0, 0,
     "no GET requests in the access log (0 lines with other methods, 0 without a request "
     "line)"},
};

static void test_malformed(void **state)
{
    mt_ammo_opts_t o = {.host = "h"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        mt_ammo_t a;
        mt_parse_err_t err;
        int rc = mt_ammo_parse(c->text, strlen(c->text), c->type, &o, &a, &err);
        if (rc != c->rc || err.line != c->line || err.col != c->col || strcmp(err.msg, c->msg) != 0)
            print_error("case %zu: rc %d line %d col %d msg '%s'\n   expected rc %d line %d "
                        "col %d msg '%s'\n",
                        i, rc, err.line, err.col, err.msg, c->rc, c->line, c->col, c->msg);
        assert_int_equal(rc, c->rc);
        assert_int_equal(err.line, c->line);
        assert_int_equal(err.col, c->col);
        assert_string_equal(err.msg, c->msg);
        assert_null(a.reqs);
        assert_int_equal(a.nreqs, 0);
        mt_ammo_dispose(&a);
    }
}

static void test_bad_options(void **state)
{
    const char *hs[] = {"X-Ok: 1", "No colon here"};
    const char *cl[] = {"Content-Length: 3"};
    mt_ammo_opts_t o = {.host = "h", .headers = hs, .nheaders = 2};
    mt_ammo_t a;
    mt_parse_err_t err;
    (void)state;

    assert_int_equal(mt_ammo_parse("/", 1, MT_AMMO_URI, &o, &a, &err), MT_EINVAL);
    assert_int_equal(err.line, 0);
    assert_string_equal(err.msg, "header 'No colon here': header line without ':'");
    o.headers = cl;
    o.nheaders = 1;
    assert_int_equal(mt_ammo_parse("/", 1, MT_AMMO_URI, &o, &a, &err), MT_EINVAL);
    assert_non_null(strstr(err.msg, "Content-Length cannot be set"));
    o.nheaders = 0;
    o.host = "bad host";
    assert_int_equal(mt_ammo_parse("/", 1, MT_AMMO_URI, &o, &a, &err), MT_EINVAL);
    assert_string_equal(err.msg, "bad byte 0x20 in host 'bad host'");
    o.host = "h";
    assert_int_equal(mt_ammo_parse("/", 1, (mt_ammo_type_t)42, &o, &a, &err), MT_EINVAL);
    /* options do not touch phantom requests */
    o.host = "bad host";
    a = parse_ok("3\nabc\n", 6, MT_AMMO_PHANTOM, &o);
    mt_ammo_dispose(&a);
}

/* ---- limits -------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    mt_ammo_opts_t o = {.host = "h", .max_requests = 2};
    mt_ammo_t a;
    mt_parse_err_t err;
    char *big;
    size_t n;
    (void)state;

    assert_int_equal(mt_ammo_parse("/a\n/b\n/c\n", 9, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_int_equal(err.line, 3);
    assert_string_equal(err.msg, "more than 2 requests");
    o.max_requests = 0;
    o.max_bytes = 40; /* each request is 28 bytes */
    assert_int_equal(mt_ammo_parse("/a\n/b\n", 6, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_int_equal(err.line, 2);
    assert_string_equal(err.msg, "requests take more than 40 bytes");
    o.max_bytes = 0;

    /* an over-long line */
    big = malloc(MT_AMMO_MAX_LINE + 16);
    assert_non_null(big);
    memcpy(big, "/ok\n/", 5);
    memset(big + 5, 'a', MT_AMMO_MAX_LINE);
    n = 5 + MT_AMMO_MAX_LINE;
    assert_int_equal(mt_ammo_parse(big, n, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_int_equal(err.line, 2);
    assert_string_equal(err.msg, "line is longer than 65536 bytes");
    /* exactly the limit is fine */
    a = parse_ok(big, n - 1, MT_AMMO_URI, &o);
    assert_int_equal(a.nreqs, 2);
    mt_ammo_dispose(&a);
    free(big);

    /* more headers than MT_AMMO_MAX_HEADERS: [Host] and 63 others fit (the option's Host
     * is the same header), one more does not */
    {
        char text[4096];
        n = (size_t)snprintf(text, sizeof(text), "[Host: f]\n");
        for (int i = 1; i < MT_AMMO_MAX_HEADERS; i++)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "[X-%d: v]\n", i);
        a = parse_ok(text, n + (size_t)snprintf(text + n, sizeof(text) - n, "/\n"), MT_AMMO_URI,
                     &o);
        /* request line, Host, X-1..X-9, X-10..X-63, empty line */
        assert_int_equal(a.reqs[0].len, 16 + 9 + 9 * 8 + 54 * 9 + 2);
        mt_ammo_dispose(&a);
        n += (size_t)snprintf(text + n, sizeof(text) - n, "[X-64: v]\n/\n");
        assert_int_equal(mt_ammo_parse(text, n, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
        assert_int_equal(err.line, MT_AMMO_MAX_HEADERS + 1);
        assert_string_equal(err.msg, "more than 64 headers");
    }
}

/* ---- gzip and files ------------------------------------------------------------------ */

static char tmpdir[64];

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const char *mode, const void *data, size_t len)
{
    gzFile g = gzopen(path, mode);
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
}

static void test_gzip(void **state)
{
    char path[128], path2[128];
    mt_ammo_opts_t o = {.host = "h"};
    mt_ammo_t a;
    mt_parse_err_t err;
    static const char ph[] = "5 t\nhello\n3\nabc\n";
    (void)state;

    snprintf(path, sizeof(path), "%s/uri.gz", tmpdir);
    write_gz(path, "wb", uri_example, LEN(uri_example));
    assert_int_equal(mt_ammo_load(path, MT_AMMO_AUTO, &o, &a, &err), MT_OK);
    assert_int_equal(a.type, MT_AMMO_URI);
    assert_int_equal(a.nreqs, 4);
    CHECK_REQ(&a, 3,
              "GET /buy/?rt=0&station_to=7&station_from=9 HTTP/1.1\r\nHost: "
              "target.example.com\r\nConnection: close\r\nCookie: test\r\n\r\n",
              "");
    mt_ammo_dispose(&a);

    /* two gzip members one after the other (gzip -c a >> f) read as one text */
    snprintf(path2, sizeof(path2), "%s/two.gz", tmpdir);
    write_gz(path2, "wb", ph, 10);
    write_gz(path2, "ab", ph + 10, LEN(ph) - 10);
    assert_int_equal(mt_ammo_load(path2, MT_AMMO_PHANTOM, NULL, &a, &err), MT_OK);
    assert_int_equal(a.nreqs, 2);
    CHECK_REQ(&a, 0, "hello", "t");
    CHECK_REQ(&a, 1, "abc", "");
    /* phantom requests are slices of the loaded text, not copies */
    assert_true(a.mem_ != NULL && a.reqs[0].data > a.mem_ && a.reqs[1].data < a.mem_ + 16);
    mt_ammo_dispose(&a);

    /* plain file, phantom */
    snprintf(path2, sizeof(path2), "%s/plain.txt", tmpdir);
    write_file(path2, ph, LEN(ph));
    assert_int_equal(mt_ammo_load(path2, MT_AMMO_PHANTOM, NULL, &a, &err), MT_OK);
    assert_int_equal(a.nreqs, 2);
    mt_ammo_dispose(&a);

    /* the cap on the gunzipped size: 100 KB that compress to a few hundred bytes */
    {
        char *many = malloc(100000);
        assert_non_null(many);
        for (size_t i = 0; i < 100000; i += 2)
            memcpy(many + i, "/\n", 2);
        write_gz(path, "wb", many, 100000);
        free(many);
    }
    o.max_bytes = 10000;
    assert_int_equal(mt_ammo_load(path, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_string_equal(err.msg, "gzip data inflates to more than 10000 bytes");
    assert_null(a.reqs);
    o.max_bytes = 100000;
    assert_int_equal(mt_ammo_load(path, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_string_equal(err.msg, "requests take more than 100000 bytes");
    o.max_bytes = 0;
    assert_int_equal(mt_ammo_load(path, MT_AMMO_URI, &o, &a, &err), MT_OK);
    assert_int_equal(a.nreqs, 50000);
    mt_ammo_dispose(&a);
    o.max_bytes = 10;
    assert_int_equal(mt_ammo_load(path2, MT_AMMO_URI, &o, &a, &err), MT_ETOOBIG);
    assert_non_null(strstr(err.msg, "is larger than 10 bytes"));
    o.max_bytes = 0;

    /* a parse error in a gzipped file still names the line */
    {
        static const char badtxt[] = "[Host: a]\n\n[oops\n";
        write_gz(path, "wb", badtxt, LEN(badtxt));
        assert_int_equal(mt_ammo_load(path, MT_AMMO_URI, &o, &a, &err), MT_EPARSE);
        assert_int_equal(err.line, 3);
    }
    unlink(path);
    unlink(path2);
    snprintf(path2, sizeof(path2), "%s/two.gz", tmpdir);
    unlink(path2);
}

static void test_gunzip_errors(void **state)
{
    unsigned char z[256];
    uLongf zlen;
    char *out;
    size_t outlen;
    mt_parse_err_t err;
    z_stream zs;
    (void)state;

    /* gzip-wrapped deflate made with zlib's stream API (windowBits 16 + 15) */
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t) "/a\n/b\n";
    zs.avail_in = 6;
    zs.next_out = z;
    zs.avail_out = sizeof(z);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    zlen = sizeof(z) - zs.avail_out;
    deflateEnd(&zs);

    assert_int_equal(mt_ammo_gunzip((char *)z, zlen, 1000, &out, &outlen, &err), MT_OK);
    assert_int_equal(outlen, 6);
    assert_string_equal(out, "/a\n/b\n");
    free(out);
    /* exactly at the cap, and one over */
    assert_int_equal(mt_ammo_gunzip((char *)z, zlen, 6, &out, &outlen, &err), MT_OK);
    free(out);
    assert_int_equal(mt_ammo_gunzip((char *)z, zlen, 5, &out, &outlen, &err), MT_ETOOBIG);
    assert_null(out);
    /* truncated at every length */
    for (uLongf cut = 0; cut < zlen; cut++) {
        int rc = mt_ammo_gunzip((char *)z, cut, 1000, &out, &outlen, &err);
        assert_int_equal(rc, MT_EFORMAT);
        assert_null(out);
    }
    /* trailing zeros are padding; trailing garbage is an error */
    memset(z + zlen, 0, 8);
    assert_int_equal(mt_ammo_gunzip((char *)z, zlen + 8, 1000, &out, &outlen, &err), MT_OK);
    free(out);
    z[zlen + 3] = 'x';
    assert_int_equal(mt_ammo_gunzip((char *)z, zlen + 8, 1000, &out, &outlen, &err), MT_EFORMAT);
    assert_string_equal(err.msg, "8 bytes of garbage after the gzip data");
    /* a corrupt byte in the deflate data */
    z[12] ^= 0xff;
    assert_int_equal(mt_ammo_gunzip((char *)z, zlen, 1000, &out, &outlen, &err), MT_EFORMAT);
    assert_int_equal(err.line, 0);
}

static void test_load_errors(void **state)
{
    char path[128];
    mt_ammo_t a;
    mt_parse_err_t err;
    (void)state;
    snprintf(path, sizeof(path), "%s/missing.txt", tmpdir);
    assert_int_equal(mt_ammo_load(path, MT_AMMO_URI, NULL, &a, &err), MT_ESYS);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.msg, "missing.txt"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    assert_int_equal(mt_ammo_load(tmpdir, MT_AMMO_URI, NULL, &a, &err), MT_ESYS);
    assert_non_null(strstr(err.msg, "Is a directory"));
    /* an empty file */
    snprintf(path, sizeof(path), "%s/empty.txt", tmpdir);
    write_file(path, "", 0);
    assert_int_equal(mt_ammo_load(path, MT_AMMO_AUTO, NULL, &a, &err), MT_EPARSE);
    assert_string_equal(err.msg, "no requests in ammo");
    unlink(path);
}

/* ---- robustness and speed ------------------------------------------------------------ */

/* Every prefix of every example parses or fails cleanly, and errors stay inside the text. */
static void test_prefixes(void **state)
{
    static const struct {
        mt_ammo_type_t type;
        const char *text;
    } ex[] = {
        {MT_AMMO_URI, uri_example},
        {MT_AMMO_URIPOST, "[Host: a]\n4 /a t\n{}\r\n\n0 /b\n[X: y]\n2 /c\nab"},
        {MT_AMMO_PHANTOM, "5 t\nhello\n\n16\nGET / HTTP/1.1\n\n0\n"},
        {MT_AMMO_ACCESS, "x \"GET / HTTP/1.1\" 200\ny \"POST /p HTTP/1.1\"\n\"GET /q HTTP/1.0\""},
    };
    mt_ammo_opts_t o = {.host = "h"};
    (void)state;
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        size_t len = strlen(ex[i].text), lines = 1;
        for (size_t k = 0; k < len; k++)
            lines += ex[i].text[k] == '\n';
        for (size_t cut = 0; cut <= len; cut++) {
            char *copy = malloc(cut + 1);
            mt_ammo_t a;
            mt_parse_err_t err;
            int rc;
            assert_non_null(copy);
            memcpy(copy, ex[i].text, cut); /* exactly cut bytes, no NUL after them */
            rc = mt_ammo_parse(copy, cut, ex[i].type, &o, &a, &err);
            if (rc == MT_OK) {
                for (size_t r = 0; r < a.nreqs; r++)
                    assert_true(a.reqs[r].len > 0 && a.reqs[r].tag < a.ntags);
            } else {
                assert_true(err.line >= 0 && (size_t)err.line <= lines);
                assert_true(err.msg[0] != '\0');
            }
            mt_ammo_dispose(&a);
            free(copy);
        }
    }
}

static void test_speed_1m(void **state)
{
    const size_t n = 1000000;
    size_t cap = n * 40 + 100, len = 0;
    char *text = malloc(cap);
    mt_ammo_opts_t o = {.host = "bench.example:8080", .user_agent = "mortar/0.1.0"};
    struct timespec t0, t1;
    mt_ammo_t a;
    double secs;
    (void)state;

    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "[Connection: keep-alive]\n[Accept: */*]\n");
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf(text + len, cap - len, "/item/%zu?q=%zu tag%zu\n", i, i * 7, i % 10);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    a = parse_ok(text, len, MT_AMMO_URI, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("1M uri requests (%zu bytes in, %zu out) parsed in %.3f s\n", len, a.bytes, secs);
    assert_int_equal(a.nreqs, n);
    assert_int_equal(a.ntags, 11);
    CHECK_REQ(&a, 999999,
              "GET /item/999999?q=6999993 HTTP/1.1\r\nHost: bench.example:8080\r\n"
              "User-Agent: mortar/0.1.0\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n",
              "tag9");
    /* generous for sanitizer builds; an optimised build takes a fraction of a second */
    assert_true(secs < 10.0);
    mt_ammo_dispose(&a);
    free(text);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mt_ammo_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_uri_example),
        cmocka_unit_test(test_uri_headers),
        cmocka_unit_test(test_uri_no_host),
        cmocka_unit_test(test_uripost_example),
        cmocka_unit_test(test_uripost_bodies),
        cmocka_unit_test(test_uripost_lines_after_body),
        cmocka_unit_test(test_phantom_example),
        cmocka_unit_test(test_phantom_tank_test_ammo),
        cmocka_unit_test(test_phantom_zero_and_head),
        cmocka_unit_test(test_phantom_warnings),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_access_nothing),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_gunzip_errors),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_speed_1m),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
