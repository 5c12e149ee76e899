/* mt__cron_parse / mt__cron_next: every field form, names, 7 = Sunday, macros, the Vixie
 * day-of-month / day-of-week OR rule, calendar edges, errors with field and column, and a
 * minute-by-minute reference check of mt__cron_next over short spans. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "server/cron.h"
#include "parse_assert.h"

/* Unix seconds of a UTC civil time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

static mt__cron_t parse_ok(const char *expr)
{
    mt__cron_t c;
    mt_parse_err_t err;
    memset(&err, 0, sizeof err);
    int rc = mt__cron_parse(expr, &c, &err);
    if (rc != MT_OK)
        print_error("'%s': col %d %s\n", expr, err.col, err.msg);
    assert_int_equal(rc, MT_OK);
    return c;
}

static uint64_t bits(int lo, int hi, int step)
{
    uint64_t b = 0;
    for (int i = lo; i <= hi; i += step)
        b |= (uint64_t)1 << i;
    return b;
}

static void test_field_forms(void **state)
{
    mt__cron_t c = parse_ok("* * * * *");
    assert_true(c.minute == bits(0, 59, 1));
    assert_true(c.hour == bits(0, 23, 1));
    assert_true(c.mday == bits(1, 31, 1));
    assert_true(c.month == bits(1, 12, 1));
    assert_true(c.wday == bits(0, 6, 1));
    assert_true(c.mday_star && c.wday_star);

    c = parse_ok("5 4 3 2 1");
    assert_true(c.minute == bits(5, 5, 1) && c.hour == bits(4, 4, 1));
    assert_true(c.mday == bits(3, 3, 1) && c.month == bits(2, 2, 1) && c.wday == bits(1, 1, 1));
    assert_false(c.mday_star || c.wday_star);

    c = parse_ok("*/15 */6 */10 */3 */2");
    assert_true(c.minute == bits(0, 59, 15));
    assert_true(c.hour == bits(0, 23, 6));
    assert_true(c.mday == bits(1, 31, 10));  /* 1 11 21 31 */
    assert_true(c.month == bits(1, 12, 3));  /* 1 4 7 10 */
    assert_true(c.wday == bits(0, 6, 2));    /* 0 2 4 6 */
    assert_true(c.mday_star && c.wday_star); /* start with '*' */

    c = parse_ok("10-20 1-5/2 5/7 3-11/4 1-5");
    assert_true(c.minute == bits(10, 20, 1));
    assert_true(c.hour == bits(1, 5, 2));
    assert_true(c.mday == bits(5, 31, 7)); /* a/n = a-max/n */
    assert_true(c.month == bits(3, 11, 4));
    assert_true(c.wday == bits(1, 5, 1));

    c = parse_ok("0,15,30-35,50-59/5 0,12 1,15,31 1,6,12 0,3,6");
    assert_true(c.minute == (bits(0, 0, 1) | bits(15, 15, 1) | bits(30, 35, 1) | bits(50, 55, 5)));
    assert_true(c.hour == (bits(0, 0, 1) | bits(12, 12, 1)));
    assert_true(c.mday == (bits(1, 1, 1) | bits(15, 15, 1) | bits(31, 31, 1)));
    assert_true(c.month == (bits(1, 1, 1) | bits(6, 6, 1) | bits(12, 12, 1)));
    assert_true(c.wday == (bits(0, 0, 1) | bits(3, 3, 3) | bits(6, 6, 1)));

    /* the largest steps, white space around fields, tabs */
    c = parse_ok("  */59\t0-22/23  * *   *  ");
    assert_true(c.minute == (bits(0, 0, 1) | bits(59, 59, 1)) && c.hour == 1);
    c = parse_ok("59 23 31 12 6");
    assert_true(c.minute == bits(59, 59, 1) && c.wday == bits(6, 6, 1));
}

static void test_names(void **state)
{
    mt__cron_t c = parse_ok("0 0 * jan-mar,Dec mon-fri");
    assert_true(c.month == (bits(1, 3, 1) | bits(12, 12, 1)));
    assert_true(c.wday == bits(1, 5, 1));
    c = parse_ok("0 0 * JUL SUN,sat");
    assert_true(c.month == bits(7, 7, 1));
    assert_true(c.wday == (bits(0, 0, 1) | bits(6, 6, 1)));
    c = parse_ok("0 0 * feb/3 tue/2");
    assert_true(c.month == bits(2, 12, 3));
    assert_true(c.wday == bits(2, 6, 2));
    c = parse_ok("0 0 * * 7/1");
    assert_true(c.wday == bits(0, 0, 1));
    c = parse_ok("0 0 * * 7");
    assert_true(c.wday == bits(0, 0, 1));
    c = parse_ok("0 0 * * 5-7");
    assert_true(c.wday == (bits(5, 6, 1) | 1));
    c = parse_ok("0 0 * * 0-7");
    assert_true(c.wday == bits(0, 6, 1));
}

static void test_macros(void **state)
{
    static const struct {
        const char *macro, *expr;
    } cases[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {" @HOURLY ", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt__cron_t a = parse_ok(cases[i].macro), b = parse_ok(cases[i].expr);
        assert_memory_equal(&a, &b, sizeof a);
    }
}

static void expect_err(const char *expr, int col, const char *msg)
{
    mt__cron_t c;
    mt_parse_err_t err;
    memset(&c, 0xab, sizeof c);
    memset(&err, 0, sizeof err);
    int rc = mt__cron_parse(expr, &c, &err);
    assert_parse_err(expr, rc, &err, MT_EPARSE, col, msg);
    /* out is untouched on error */
    mt__cron_t untouched;
    memset(&untouched, 0xab, sizeof untouched);
    assert_memory_equal(&c, &untouched, sizeof c);
    /* a NULL err is fine */
    assert_int_equal(mt__cron_parse(expr, &c, NULL), MT_EPARSE);
}

static void test_errors(void **state)
{
    expect_err("", 1, "minute field missing");
    expect_err("   ", 4, "minute field missing");
    expect_err("* * * *", 8, "day-of-week field missing");
    expect_err("* * *", 6, "month field missing");
    expect_err("* * * * * *", 11, "more than 5 fields");
    expect_err("60 * * * *", 1, "minute: value 60 out of range 0-59");
    expect_err("* 24 * * *", 3, "hour: value 24 out of range 0-23");
    expect_err("* * 0 * *", 5, "day-of-month: value 0 out of range 1-31");
    expect_err("* * 32 * *", 5, "day-of-month: value 32 out of range 1-31");
    expect_err("* * * 13 *", 7, "month: value 13 out of range 1-12");
    expect_err("* * * 0 *", 7, "month: value 0 out of range 1-12");
    expect_err("* * * * 8", 9, "day-of-week: value 8 out of range 0-7");
    expect_err("* * * * 99999999999999", 9, "day-of-week: value 9999999999999");
    expect_err("5-1 * * * *", 1, "minute: range 5-1 goes backwards");
    expect_err("* * * * fri-mon", 9, "day-of-week: range fri-mon goes backwards");
    expect_err("*/0 * * * *", 3, "minute: step 0 out of range 1-59");
    expect_err("* */24 * * *", 5, "hour: step 24 out of range 1-23");
    expect_err("*/ * * * *", 3, "minute: step number expected");
    expect_err("1-5/x * * * *", 5, "minute: step number expected");
    expect_err("1,,2 * * * *", 3, "minute: empty list item");
    expect_err("1, * * * *", 3, "minute: empty list item");
    expect_err(",1 * * * *", 1, "minute: empty list item");
    expect_err("* * * foo *", 7, "month: unknown name 'foo'");
    expect_err("* * * * sunday", 9, "day-of-week: unknown name 'sunday'");
    expect_err("* mon * * *", 3, "hour: names are not allowed here ('mon')");
    expect_err("* * * jan *x", 12, "day-of-week: unexpected 'x'");
    expect_err("*-5 * * * *", 2, "minute: unexpected '-'");
    expect_err("1- * * * *", 3, "minute: value expected");
    expect_err("? * * * *", 1, "minute: unexpected '?'");
    expect_err("L * * * *", 1, "minute: names are not allowed here ('L')");
    expect_err("* * 1W * *", 6, "day-of-month: unexpected 'W'");
    expect_err("*/60 * * * *", 3, "minute: step 60 out of range 1-59");
    expect_err("@reboot", 1, "unknown macro '@reboot'");
    expect_err("@daily x", 8, "unexpected text after the macro");
    expect_err("@", 1, "unknown macro '@'");
    expect_err("1 2 3 4 5 \xff", 11, "more than 5 fields");

    char big[1100];
    memset(big, ' ', sizeof big);
    big[sizeof big - 1] = '\0';
    expect_err(big, 1025, "cron expression longer than 1024 characters");

    mt__cron_t c;
    assert_int_equal(mt__cron_parse(NULL, &c, NULL), MT_EINVAL);
    assert_int_equal(mt__cron_parse("* * * * *", NULL, NULL), MT_EINVAL);
}

static int64_t next_of(const char *expr, int64_t after)
{
    mt__cron_t c = parse_ok(expr);
    return mt__cron_next(&c, after);
}

#define EXPECT_NEXT(expr, after, want)                                                             \
    do {                                                                                           \
        int64_t got_ = next_of(expr, after), want_ = (want);                                       \
        if (got_ != want_)                                                                         \
            print_error("'%s' after %lld: got %lld want %lld\n", expr, (long long)(after),         \
                        (long long)got_, (long long)want_);                                        \
        assert_true(got_ == want_);                                                                \
    } while (0)

static void test_next_basic(void **state)
{
    int64_t t = utc(2026, 11, 27, 23, 1);
    /* strictly after, at a whole minute */
    EXPECT_NEXT("* * * * *", t, t + 60);
    EXPECT_NEXT("* * * * *", t + 1, t + 60);
    EXPECT_NEXT("* * * * *", t + 59, t + 60);
    EXPECT_NEXT("* * * * *", t - 1, t);
    EXPECT_NEXT("*/15 * * * *", t, utc(2026, 11, 27, 23, 15));
    EXPECT_NEXT("0 * * * *", t, utc(2026, 11, 28, 0, 0));
    EXPECT_NEXT("@hourly", utc(2026, 11, 27, 22, 0), utc(2026, 11, 27, 23, 0));
    EXPECT_NEXT("30 9 * * *", t, utc(2026, 11, 28, 9, 30));
    EXPECT_NEXT("30 9 * * mon-fri", t, utc(2026, 11, 30, 9, 30)); /* 27th is a Friday */
    EXPECT_NEXT("0 0 * * 7", t, utc(2026, 11, 29, 0, 0));         /* Sunday */
    EXPECT_NEXT("0 0 * * 0", t, utc(2026, 11, 29, 0, 0));
    EXPECT_NEXT("@weekly", t, utc(2026, 11, 29, 0, 0));
    EXPECT_NEXT("@monthly", t, utc(2026, 12, 1, 0, 0));
    EXPECT_NEXT("@yearly", t, utc(2027, 1, 1, 0, 0));
    EXPECT_NEXT("15 14 1 * *", t, utc(2026, 12, 1, 14, 15));
    EXPECT_NEXT("0 22 * * 1-5", t, utc(2026, 11, 30, 22, 0));
    EXPECT_NEXT("23 0-20/2 * * *", t, utc(2026, 11, 28, 0, 23));
    EXPECT_NEXT("5 4 * * sun", t, utc(2026, 11, 29, 4, 5));
    EXPECT_NEXT("0 0,12 1 */2 *", t, utc(2027, 1, 1, 0, 0));
    EXPECT_NEXT("0 4 8-14 * *", t, utc(2026, 12, 8, 4, 0));
    /* the same minute later in the hour / the next hour within the day */
    EXPECT_NEXT("59 23 * * *", utc(2026, 11, 27, 23, 58), utc(2026, 11, 27, 23, 59));
    EXPECT_NEXT("0 23 * * *", utc(2026, 11, 27, 23, 0), utc(2026, 11, 28, 23, 0));
}

static void test_next_rollovers(void **state)
{
    /* end of year */
    EXPECT_NEXT("* * * * *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 0, 0));
    EXPECT_NEXT("0 0 1 1 *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 0, 0));
    EXPECT_NEXT("0 0 31 12 *", utc(2026, 12, 31, 0, 0), utc(2027, 12, 31, 0, 0));
    /* end of months: 31 only in long months */
    EXPECT_NEXT("0 0 31 * *", utc(2026, 1, 31, 0, 0), utc(2026, 3, 31, 0, 0));
    EXPECT_NEXT("0 0 31 * *", utc(2026, 4, 1, 0, 0), utc(2026, 5, 31, 0, 0));
    EXPECT_NEXT("0 0 31 * *", utc(2026, 7, 31, 0, 0), utc(2026, 8, 31, 0, 0));
    EXPECT_NEXT("0 0 30 * *", utc(2026, 1, 30, 0, 0), utc(2026, 3, 30, 0, 0));
    EXPECT_NEXT("0 12 1 * *", utc(2026, 2, 28, 23, 59), utc(2026, 3, 1, 12, 0));
    /* leap years: Feb 29 in 2028, then 2032; 2100 is not a leap year, 2000 was */
    EXPECT_NEXT("0 0 29 2 *", utc(2026, 11, 27, 0, 0), utc(2028, 2, 29, 0, 0));
    EXPECT_NEXT("0 0 29 2 *", utc(2028, 2, 29, 0, 0), utc(2032, 2, 29, 0, 0));
    EXPECT_NEXT("0 0 29 2 *", utc(2097, 3, 1, 0, 0), -1); /* 2100 skipped: 2104 > 5 y */
    EXPECT_NEXT("0 0 29 2 *", utc(1999, 3, 1, 0, 0), utc(2000, 2, 29, 0, 0));
    EXPECT_NEXT("0 0 * 2 *", utc(2028, 2, 28, 0, 0), utc(2028, 2, 29, 0, 0));
    EXPECT_NEXT("0 0 * 2 *", utc(2027, 2, 28, 0, 0), utc(2028, 2, 1, 0, 0));
    EXPECT_NEXT("0 0 * 3 *", utc(2028, 2, 28, 12, 0), utc(2028, 3, 1, 0, 0));
    /* impossible dates: none within 5 years */
    EXPECT_NEXT("0 0 30 2 *", utc(2026, 11, 27, 0, 0), -1);
    EXPECT_NEXT("0 0 31 2 *", utc(2026, 11, 27, 0, 0), -1);
    EXPECT_NEXT("0 0 31 4,6,9,11 *", utc(2026, 11, 27, 0, 0), -1);
    EXPECT_NEXT("0 0 31 4,6,9,12 *", utc(2026, 11, 27, 0, 0), utc(2026, 12, 31, 0, 0));
    /* but Feb 30 with a weekday restriction fires on that weekday (OR rule) */
    EXPECT_NEXT("0 0 30 2 mon", utc(2026, 11, 27, 0, 0), utc(2027, 2, 1, 0, 0));
    /* before 1970 and far dates work too; out of range instants give -1 */
    EXPECT_NEXT("0 0 1 1 *", utc(1969, 6, 1, 0, 0), utc(1970, 1, 1, 0, 0));
    EXPECT_NEXT("* * * * *", -61, -60);
    EXPECT_NEXT("* * * * *", -60, 0);
    EXPECT_NEXT("0 0 1 1 *", utc(2399, 6, 1, 0, 0), utc(2400, 1, 1, 0, 0));
    EXPECT_NEXT("* * * * *", INT64_MAX, -1);
    EXPECT_NEXT("* * * * *", INT64_MIN, -1);
    assert_true(mt__cron_next(NULL, 0) == -1);
}

static void test_next_or_rule(void **state)
{
    /* both restricted: the 13th OR any Friday */
    int64_t t = utc(2026, 11, 1, 0, 0); /* a Sunday */
    EXPECT_NEXT("0 0 13 * 5", t, utc(2026, 11, 6, 0, 0));
    EXPECT_NEXT("0 0 13 * 5", utc(2026, 11, 6, 0, 0), utc(2026, 11, 13, 0, 0));
    EXPECT_NEXT("0 0 13 * 5", utc(2026, 11, 13, 0, 0), utc(2026, 11, 20, 0, 0));
    EXPECT_NEXT("0 0 1,15 * 3", t, utc(2026, 11, 4, 0, 0));
    EXPECT_NEXT("0 0 1,15 * 3", utc(2026, 11, 11, 0, 0), utc(2026, 11, 15, 0, 0));
    /* one side '*': AND, i.e. only the restricted side counts */
    EXPECT_NEXT("0 0 * * 5", t, utc(2026, 11, 6, 0, 0));
    EXPECT_NEXT("0 0 13 * *", t, utc(2026, 11, 13, 0, 0));
    /* a field starting with '*' counts as unrestricted (crontab(5)): "*" + "/2" AND Monday */
    EXPECT_NEXT("0 0 */2 * 1", t, utc(2026, 11, 9, 0, 0)); /* odd days AND Mondays: Nov 9 */
    /* the same days spelled without '*': both restricted, so odd days OR Mondays */
    EXPECT_NEXT("0 0 1-31/2 * 1", t, utc(2026, 11, 2, 0, 0));
    EXPECT_NEXT("0 0 1-31/2 * 1", utc(2026, 11, 2, 0, 0), utc(2026, 11, 3, 0, 0));
}

/* Reference: minute by minute with gmtime_r. */
static int64_t ref_next(const mt__cron_t *c, int64_t after, int64_t span)
{
    int64_t t = after - ((after % 60) + 60) % 60 + 60;
    for (; t <= after + span; t += 60) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (!((c->minute >> tm.tm_min) & 1) || !((c->hour >> tm.tm_hour) & 1) ||
            !((c->month >> (tm.tm_mon + 1)) & 1))
            continue;
        bool dm = (c->mday >> tm.tm_mday) & 1, dw = (c->wday >> tm.tm_wday) & 1;
        if ((c->mday_star || c->wday_star) ? (dm && dw) : (dm || dw))
            return t;
    }
    return -1;
}

static void test_next_reference(void **state)
{
    static const char *const exprs[] = {
        "* * * * *",       "*/7 * * * *",    "13 */5 * * *",    "0 0 * * *",
        "30 1-3 * * 1-5",  "0 12 13 * 5",    "*/20 6-18 * * 0", "0 0 28-31 * *",
        "5,10 23 31 * *",  "59 23 * * 6",    "0 0 1 * mon",     "0 */8 29 2 *",
        "1-59/29 * 1 3 *", "45 2 * 2,3 sat", "0 0 * * 7",       "17 17 17 * 3",
    };
    /* starting points around month/year ends and a leap day; each searched 40 days ahead */
    const int64_t starts[] = {
        utc(2026, 11, 27, 23, 1),   utc(2026, 12, 31, 23, 30), utc(2028, 2, 27, 22, 59) + 17,
        utc(2027, 1, 31, 0, 0) - 1, utc(2026, 3, 31, 12, 0),
    };
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        mt__cron_t c = parse_ok(exprs[i]);
        for (size_t j = 0; j < sizeof starts / sizeof starts[0]; j++) {
            int64_t after = starts[j];
            for (int k = 0; k < 3; k++) {
                int64_t want = ref_next(&c, after, 40 * 86400);
                if (want < 0)
                    break;
                int64_t got = mt__cron_next(&c, after);
                if (got != want)
                    print_error("'%s' after %lld: got %lld want %lld\n", exprs[i], (long long)after,
                                (long long)got, (long long)want);
                assert_true(got == want);
                after = got;
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_forms),  cmocka_unit_test(test_names),
        cmocka_unit_test(test_macros),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_next_basic),   cmocka_unit_test(test_next_rollovers),
        cmocka_unit_test(test_next_or_rule), cmocka_unit_test(test_next_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
