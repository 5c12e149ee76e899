/* URL parser: good and bad URLs, IPv6, ports, query, fragment, error positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/url.h"

typedef struct good_case {
    const char *in;
    const char *host;
    const char *port;
    const char *target;
    const char *host_header;
    bool ipv6;
} good_case_t;

static const good_case_t good[] = {
    {"http://localhost:8080/path?x=1", "localhost", "8080", "/path?x=1", "localhost:8080", false},
    {"http://example.com", "example.com", "80", "/", "example.com", false},
    {"http://example.com/", "example.com", "80", "/", "example.com", false},
    {"http://example.com:80/a", "example.com", "80", "/a", "example.com", false},
    {"HTTP://Example.COM/A", "Example.COM", "80", "/A", "Example.COM", false},
    {"http://127.0.0.1:8080", "127.0.0.1", "8080", "/", "127.0.0.1:8080", false},
    {"http://[::1]:8080/x", "::1", "8080", "/x", "[::1]:8080", true},
    {"http://[::1]/", "::1", "80", "/", "[::1]", true},
    {"http://[2001:db8::a:b]:65535", "2001:db8::a:b", "65535", "/", "[2001:db8::a:b]:65535", true},
    {"http://[::ffff:127.0.0.1]:1/", "::ffff:127.0.0.1", "1", "/", "[::ffff:127.0.0.1]:1", true},
    {"http://h?a=b&c", "h", "80", "/?a=b&c", "h", false},
    {"http://h/p?q#frag", "h", "80", "/p?q", "h", false},
    {"http://h#frag", "h", "80", "/", "h", false},
    {"http://h:/", "h", "80", "/", "h", false},
    {"http://h:00081/", "h", "81", "/", "h:81", false},
    {"http://my_host-1.local~/a%20b/%7Ec;x=1", "my_host-1.local~", "80", "/a%20b/%7Ec;x=1",
     "my_host-1.local~", false},
    {"http://h//double//slash", "h", "80", "//double//slash", "h", false},
    {"https://h/", "h", "443", "/", "h", false},
    {"HTTPS://h:443/x", "h", "443", "/x", "h", false},
    {"https://h:80/", "h", "80", "/", "h:80", false},
    {"https://[::1]:8443/", "::1", "8443", "/", "[::1]:8443", true},
};

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        mt_url_t u;
        mt_parse_err_t err;
        int rc = mt_url_parse(good[i].in, &u, &err);
        if (rc != MT_OK)
            fail_msg("%s: rc %d: %s (col %d)", good[i].in, rc, err.msg, err.col);
        assert_string_equal(u.host, good[i].host);
        assert_string_equal(u.port, good[i].port);
        assert_int_equal(u.port_num, atoi(good[i].port));
        assert_string_equal(u.target, good[i].target);
        assert_string_equal(u.host_header, good[i].host_header);
        assert_int_equal(u.ipv6, good[i].ipv6);
        mt_url_dispose(&u);
        mt_url_dispose(&u); /* twice is fine */
    }
}

typedef struct bad_case {
    const char *in;
    int col;
    const char *msg;
} bad_case_t;

static const bad_case_t bad[] = {
    {"", 1, "empty URL"},
    {"htp://x", 1, "unsupported scheme 'htp'"},
    {"ftp://x/", 1, "unsupported scheme 'ftp'"},
    {"httpss://x/", 1, "unsupported scheme 'httpss'"},
    {"localhost:8080", 1, "missing scheme (use http://HOST[:PORT]/PATH)"},
    {"localhost", 1, "missing scheme (use http://HOST[:PORT]/PATH)"},
    {"/path", 1, "missing scheme (use http://HOST[:PORT]/PATH)"},
    {"127.0.0.1:80/", 1, "missing scheme (use http://HOST[:PORT]/PATH)"},
    {"http:/x", 6, "expected '//' after 'http:'"},
    {"http://", 8, "missing host"},
    {"http:///path", 8, "missing host"},
    {"http://:8080/", 8, "missing host"},
    {"http://user:pw@h/", 15, "user info ('user@') is not supported; use -H 'Authorization: ...'"},
    {"http://h:0/", 10, "port out of range (1-65535)"},
    {"http://h:65536/", 10, "port out of range (1-65535)"},
    {"http://h:99999999999999999999/", 10, "port out of range (1-65535)"},
    {"http://h:8a/", 11, "bad 'a' in port"},
    {"http://h:-1/", 10, "bad '-' in port"},
    {"http://ex ample.com/", 10, "bad space in host"},
    {"http://ex%41mple/", 10, "bad '%' in host"},
    {"http://h/a b", 11, "space not allowed in path or query (percent-encode it)"},
    {"http://h/a\tb", 11, "byte 0x09 not allowed in path or query (percent-encode it)"},
    {"http://h/\x7f", 10, "byte 0x7f not allowed in path or query (percent-encode it)"},
    {"http://h/caf\xc3\xa9", 13, "byte 0xc3 not allowed in path or query (percent-encode it)"},
    {"http://h/?q=\r\n", 13, "byte 0x0d not allowed in path or query (percent-encode it)"},
    {"http://[::1/", 8, "unterminated '[' in IPv6 address"},
    {"http://[::1]x/", 13, "unexpected 'x' after ']'"},
    {"http://[fe80::1%25eth0]/", 16, "IPv6 zone ids are not supported"},
    {"http://[zz::1]/", 9, "bad 'z' in IPv6 address"},
    {"http://[1:2:3]/", 9, "bad IPv6 address '1:2:3'"},
    {"http://[]/", 9, "bad IPv6 address ''"},
    {"http://[::1]:0/", 14, "port out of range (1-65535)"},
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mt_url_t u;
        mt_parse_err_t err;
        memset(&u, 0x5a, sizeof(u)); /* must not be touched on failure */
        int rc = mt_url_parse(bad[i].in, &u, &err);
        if (rc != MT_EPARSE)
            fail_msg("'%s': expected MT_EPARSE, got %d", bad[i].in, rc);
        if (strcmp(err.msg, bad[i].msg) != 0 || err.col != bad[i].col)
            fail_msg("'%s': got '%s' col %d, want '%s' col %d", bad[i].in, err.msg, err.col,
                     bad[i].msg, bad[i].col);
        assert_int_equal(u.port_num, 0x5a5a);
    }
}

static void test_null_err(void **state)
{
    mt_url_t u;
    (void)state;
    assert_int_equal(mt_url_parse("bogus", &u, NULL), MT_EPARSE);
    assert_int_equal(mt_url_parse("http://h/", &u, NULL), MT_OK);
    mt_url_dispose(&u);
}

static void test_long(void **state)
{
    mt_url_t u;
    mt_parse_err_t err;
    size_t n = MT_URL_MAX_LEN + 10;
    char *s = malloc(n + 1);
    (void)state;
    assert_non_null(s);
    memcpy(s, "http://h/", 9);
    memset(s + 9, 'a', n - 9);
    s[n] = '\0';
    assert_int_equal(mt_url_parse(s, &u, &err), MT_ETOOBIG);
    /* just at the limit is fine */
    s[MT_URL_MAX_LEN] = '\0';
    assert_int_equal(mt_url_parse(s, &u, &err), MT_OK);
    assert_int_equal(strlen(u.target), MT_URL_MAX_LEN - 8);
    mt_url_dispose(&u);

    /* host names are bounded */
    memset(s, 0, n);
    memcpy(s, "http://", 7);
    memset(s + 7, 'a', 256);
    assert_int_equal(mt_url_parse(s, &u, &err), MT_EPARSE);
    assert_string_equal(err.msg, "host name longer than 255 bytes");
    s[7 + 255] = '\0';
    assert_int_equal(mt_url_parse(s, &u, &err), MT_OK);
    mt_url_dispose(&u);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_null_err),
        cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
