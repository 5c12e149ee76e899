/* mt_parse_duration: Tank's duration syntax plus ms, us and fractions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mortar/schedule.h"

#define S  1000000000LL
#define MS 1000000LL
#define US 1000LL

static void test_good(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
    } cases[] = {
        /* Tank's regex ^(\d+d)?(\d+h)?(\d+m)?(\d+s?)?$ */
        {"0", 0},
        {"1", S},
        {"10s", 10 * S},
        {"1m", 60 * S},
        {"30m", 1800 * S},
        {"2h", 7200 * S},
        {"1d", 86400 * S},
        {"1h30m", 5400 * S},
        {"1h30s", 3630 * S},
        {"1m30", 90 * S},
        {"1m30s", 90 * S},
        {"1h20m", 4800 * S},
        {"1d2h3m4s", (86400 + 7200 + 180 + 4) * S},
        {"0d0h0m0s", 0},
        {"007s", 7 * S},
        /* mortar extras */
        {"250ms", 250 * MS},
        {"1s500ms", 1500 * MS},
        {"100us", 100 * US},
        {"1ms500us", 1500 * US},
        {"1m1s1ms1us", 60 * S + S + MS + US},
        {"1.5s", 1500 * MS},
        {"0.3s", 300 * MS},
        {"0.1s", 100 * MS},
        {"1.5", 1500 * MS},
        {".5s", 500 * MS},
        {"5.s", 5 * S},
        {"1.5h", 5400 * S},
        {"0.5d", 43200 * S},
        {"1.25ms", 1250 * US},
        {"0.001us", 1},
        {"1.0000000005s", S + 1}, /* half a ns rounds up */
        {"1.0000000004s", S},     /* below half rounds down */
        {"0.123456789123456789s", 123456789},
        {"0.00000000001d", 864},           /* 1e-11 d = 864 ns exactly */
        {"9223372036s", 9223372036 * S},   /* near INT64_MAX */
        {"106751d", 106751LL * 86400 * S}, /* ditto */
        {"106751d23h", (106751LL * 86400 + 23 * 3600) * S},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ns = -1;
        mt_parse_err_t err = {0};
        int rc = mt_parse_duration(cases[i].in, &ns, &err);
        if (rc != MT_OK || ns != cases[i].ns)
            print_error("'%s': rc %d ns %lld msg %s\n", cases[i].in, rc, (long long)ns, err.msg);
        assert_int_equal(rc, MT_OK);
        assert_int_equal(ns, cases[i].ns);
    }
}

static void test_bad(void **state)
{
    static const struct {
        const char *in;
        int rc;
        int col;
        const char *msg; /* substring of err.msg */
    } cases[] = {
        {"", MT_EPARSE, 1, "expected duration"},
        {"10x", MT_EPARSE, 3, "bad duration '10x': unknown unit 'x'"},
        {"10sx", MT_EPARSE, 3, "unknown unit 'sx'"},
        {"10S", MT_EPARSE, 3, "unknown unit 'S'"},
        {"1w", MT_EPARSE, 2, "unknown unit 'w'"},
        {"10ns", MT_EPARSE, 3, "unknown unit 'ns'"},
        {"x", MT_EPARSE, 1, "expected a number"},
        {"s", MT_EPARSE, 1, "expected a number"},
        {".", MT_EPARSE, 1, "expected a number"},
        {"1s1m", MT_EPARSE, 4, "unit 'm' out of order"},
        {"1m1m", MT_EPARSE, 4, "unit 'm' out of order"},
        {"1ms1s", MT_EPARSE, 5, "unit 's' out of order"},
        {"1s5", MT_EPARSE, 4, "missing unit after 's'"},
        {"1ms5", MT_EPARSE, 5, "missing unit after 'ms'"},
        {"1h 30m", MT_EPARSE, 3, "expected a number"},
        {"10 s", MT_EPARSE, 3, "unexpected ' '"},
        {" 1s", MT_EPARSE, 1, "expected a number"},
        {"1s ", MT_EPARSE, 3, "expected a number"},
        {"-5s", MT_EPARSE, 1, "negative duration"},
        {"1.2.3s", MT_EPARSE, 4, "unexpected '.'"},
        {"1,5s", MT_EPARSE, 2, "unexpected ','"},
        {"1e3s", MT_EPARSE, 2, "unknown unit 'e'"},
        {"106752d", MT_ERANGE, 1, "too large"},
        {"9223372037s", MT_ERANGE, 1, "too large"},
        {"99999999999999999999999", MT_ERANGE, 1, "too large"},
        {"106751d1d", MT_EPARSE, 9, "out of order"},
        {"106751d24h", MT_ERANGE, 8, "too large"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ns = 12345;
        mt_parse_err_t err = {0};
        int rc = mt_parse_duration(cases[i].in, &ns, &err);
        if (rc != cases[i].rc || err.col != cases[i].col || !strstr(err.msg, cases[i].msg))
            print_error("'%s': rc %d col %d msg '%s'\n", cases[i].in, rc, err.col, err.msg);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(err.col, cases[i].col);
        assert_non_null(strstr(err.msg, cases[i].msg));
        assert_int_equal(ns, 12345); /* untouched on error */
    }
}

static void test_args(void **state)
{
    int64_t ns;
    char junk[300];

    assert_int_equal(mt_parse_duration(NULL, &ns, NULL), MT_EINVAL);
    assert_int_equal(mt_parse_duration("1s", NULL, NULL), MT_EINVAL);
    /* err may be NULL */
    assert_int_equal(mt_parse_duration("1q", &ns, NULL), MT_EPARSE);
    /* a long, unprintable input still gives a bounded, printable message */
    memset(junk, '\x01', sizeof(junk) - 1);
    junk[0] = '1';
    junk[sizeof(junk) - 1] = '\0';
    mt_parse_err_t err = {0};
    assert_int_equal(mt_parse_duration(junk, &ns, &err), MT_EPARSE);
    assert_int_equal(err.col, 2);
    for (const char *p = err.msg; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
