/* Load schedules: parsing, step expansion, due times, count_before, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mortar/schedule.h"

#define S  1000000000LL
#define MS 1000000LL

#define assert_near(x, y, eps) assert_true(fabs((double)(x) - (double)(y)) <= (eps))

static mt_sched_t parse_ok(const char *text)
{
    mt_sched_t s;
    mt_parse_err_t err = {0};
    int rc = mt_sched_parse(text, &s, &err);
    if (rc != MT_OK)
        print_error("'%s': rc %d col %d: %s\n", text, rc, err.col, err.msg);
    assert_int_equal(rc, MT_OK);
    return s;
}

static int64_t due(const mt_sched_t *s, uint64_t n)
{
    mt_sched_cursor_t cur = {0};
    int64_t t = -1;
    assert_int_equal(mt_sched_due(s, &cur, n, &t), MT_OK);
    return t;
}

static void check_step(const mt_sched_step_t *st, double a, double b, int64_t start, int64_t dur,
                       uint64_t first, uint64_t count)
{
    assert_near(st->a, a, 1e-12);
    assert_near(st->b, b, 1e-12);
    assert_int_equal(st->start_ns, start);
    assert_int_equal(st->dur_ns, dur);
    assert_int_equal(st->first, first);
    assert_int_equal(st->count, count);
}

/* Invariants every schedule keeps, checked for every request (or a sample when big):
 * due times are non-decreasing and inside their step, and count_before agrees with due. */
static void check_consistency(const mt_sched_t *s)
{
    mt_sched_cursor_t cur = {0};
    int64_t prev = -1, t;
    uint64_t n, stride = s->total > 200000 ? s->total / 100000 : 1;
    size_t i;

    for (i = 0; i < s->nsteps; i++) {
        const mt_sched_step_t *st = &s->steps[i];
        assert_int_equal(st->start_ns, i ? s->steps[i - 1].start_ns + s->steps[i - 1].dur_ns : 0);
        assert_int_equal(st->first, i ? s->steps[i - 1].first + s->steps[i - 1].count : 0);
        if (st->count) {
            /* the last request is inside the step, the would-be next one is not */
            double k = (st->b - st->a) / ((double)st->dur_ns / 1e9);
            double c = (double)st->count, x = (double)st->dur_ns / 1e9;
            assert_true(st->a * x + k / 2 * x * x > c - 1 - 1e-6);
            assert_true(due(s, st->first + st->count - 1) < st->start_ns + st->dur_ns);
        }
    }
    assert_int_equal(s->steps[s->nsteps - 1].first + s->steps[s->nsteps - 1].count, s->total);
    assert_int_equal(s->steps[s->nsteps - 1].start_ns + s->steps[s->nsteps - 1].dur_ns,
                     s->total_ns);

    for (n = 0; n < s->total; n += stride) {
        assert_int_equal(mt_sched_due(s, &cur, n, &t), MT_OK);
        const mt_sched_step_t *st = &s->steps[cur.step];
        assert_true(n >= st->first && n < st->first + st->count);
        assert_true(t >= st->start_ns && t < st->start_ns + st->dur_ns);
        assert_true(t >= prev);
        uint64_t before = mt_sched_count_before(s, t);
        assert_true(before <= n);
        if (stride == 1 && t > prev)
            assert_int_equal(before, n);
        assert_true(mt_sched_count_before(s, t + 1) > n);
        prev = t;
    }
    assert_int_equal(mt_sched_due(s, &cur, s->total, &t), MT_ERANGE);
    assert_int_equal(mt_sched_count_before(s, 0), 0);
    assert_int_equal(mt_sched_count_before(s, -5), 0);
    assert_int_equal(mt_sched_count_before(s, s->total_ns), s->total);
    assert_int_equal(mt_sched_count_before(s, INT64_MAX), s->total);
}

/* ---- formats.md and the header's examples ----------------------------------------- */

static void test_formats_examples(void **state)
{
    mt_sched_t s = parse_ok("line(1, 10, 10m) const(10, 10m)");
    assert_int_equal(s.nsteps, 2);
    check_step(&s.steps[0], 1, 10, 0, 600 * S, 0, 3300); /* (1+10)/2*600 */
    check_step(&s.steps[1], 10, 10, 600 * S, 600 * S, 3300, 6000);
    assert_int_equal(s.total, 9300);
    assert_int_equal(s.total_ns, 1200 * S);
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("line(1.5, 2.5, 10)"); /* bare number: seconds */
    assert_int_equal(s.nsteps, 1);
    check_step(&s.steps[0], 1.5, 2.5, 0, 10 * S, 0, 20);
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("line(1, 10, 10m) const(10, 10m) step(10, 50, 10, 1m)");
    assert_int_equal(s.nsteps, 7);
    for (int i = 0; i < 5; i++)
        check_step(&s.steps[2 + i], 10.0 * (i + 1), 10.0 * (i + 1), (1200 + 60 * i) * S, 60 * S,
                   9300 + 600 * (uint64_t)(i * (i + 1) / 2), 600 * (uint64_t)(i + 1));
    assert_int_equal(s.total, 9300 + 600 * 15);
    check_consistency(&s);
    mt_sched_dispose(&s);
}

/* White space: anywhere between tokens, newlines too (YAML block scalars), and none at all
 * between steps (Tank splits the schedule at ')'). */
static void test_whitespace(void **state)
{
    static const char *same[] = {
        "const(10,1s) line(1,2,1s)",
        "  const ( 10 , 1s )\n\tline(\n1,\r\n2, 1s)  \n",
        "const(10,1s)line(1,2,1s)",
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        mt_sched_t s = parse_ok(same[i]);
        assert_int_equal(s.nsteps, 2);
        check_step(&s.steps[0], 10, 10, 0, S, 0, 10);
        check_step(&s.steps[1], 1, 2, S, S, 10, 2);
        mt_sched_dispose(&s);
    }
}

/* ---- due times ---------------------------------------------------------------------- */

static void test_const_due(void **state)
{
    mt_sched_t s = parse_ok("const(3, 2s)");
    assert_int_equal(s.total, 6);
    for (uint64_t i = 0; i < 6; i++)
        assert_int_equal(due(&s, i), llround((double)i * 1e9 / 3)); /* i/r */
    assert_int_equal(due(&s, 1), 333333333);
    assert_int_equal(due(&s, 2), 666666667);
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("const(10, 1m)");
    assert_int_equal(s.total, 600);
    for (uint64_t i = 0; i < 600; i++)
        assert_int_equal(due(&s, i), (int64_t)i * 100 * MS);
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("const(20000, 10s)");
    assert_int_equal(s.total, 200000);
    assert_int_equal(due(&s, 199999), 199999LL * 50000);
    check_consistency(&s);
    mt_sched_dispose(&s);
}

/* Due times against the closed form t = (-a + sqrt(a^2 + 2kn)) / k in long double, and the
 * count against (a+b)/2*dur. */
static void test_line_due(void **state)
{
    static const struct {
        const char *text;
        double a, b, dur;
    } cases[] = {
        {"line(1, 10, 10m)", 1, 10, 600},
        {"line(10, 1, 10m)", 10, 1, 600},
        {"line(0, 100, 30s)", 0, 100, 30},
        {"line(100, 0, 30s)", 100, 0, 30},
        {"line(2, 12, 25s)", 2, 12, 25},
        {"line(1.1, 5.8, 2s)", 1.1, 5.8, 2},
        {"line(1, 2, 3s)", 1, 2, 3},
        {"line(5000, 20000, 1m)", 5000, 20000, 60},
        {"line(1000, 1001, 1h)", 1000, 1001, 3600},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        mt_sched_t s = parse_ok(cases[c].text);
        double a = cases[c].a, b = cases[c].b, d = cases[c].dur, k = (b - a) / d;
        double want = (a + b) / 2 * d;
        assert_int_equal(s.nsteps, 1);
        assert_int_equal(s.total, (uint64_t)ceil(want - 1e-9));
        mt_sched_cursor_t cur = {0};
        for (uint64_t n = 0; n < s.total; n++) {
            long double ln = n, la = a, lk = k;
            long double t = (-la + sqrtl(la * la + 2 * lk * ln)) / lk * 1e9L;
            int64_t got;
            assert_int_equal(mt_sched_due(&s, &cur, n, &got), MT_OK);
            if (fabsl((long double)got - t) > 2)
                print_error("%s n=%llu: got %lld want %.3Lf\n", cases[c].text,
                            (unsigned long long)n, (long long)got, t);
            assert_true(fabsl((long double)got - t) <= 2);
        }
        check_consistency(&s);
        mt_sched_dispose(&s);
    }
}

/* Tank's own expectations (yandextank/stepper/tests/test_load_plan.py, TestCreate): due
 * times in ms, truncated as Tank does. */
static void test_tank_due_times(void **state)
{
    static const struct {
        const char *text;
        int n;
        int64_t ms[10];
    } cases[] = {
        {"line(1, 5, 2s)", 6, {0, 618, 1000, 1302, 1561, 1791}},
        {"line(1.1, 5.8, 2s)", 6, {0, 566, 917, 1196, 1435, 1647}},
        {"line(5, 1, 2s)", 6, {0, 208, 438, 697, 1000, 1381}},
        {"const(1, 10s)", 10, {0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000}},
        {"const(200, 0.1s)", 10, {0, 5, 10, 15, 20, 25, 30, 35, 40, 45}},
        {"const(1, 2s) const(2, 2s)", 6, {0, 1000, 2000, 2500, 3000, 3500}},
        {"const(1.5, 10s)", 10, {0, 666, 1333, 2000, 2666, 3333, 4000, 4666, 5333, 6000}},
        {"step(1, 5, 1, 5s)", 10, {0, 1000, 2000, 3000, 4000, 5000, 5500, 6000, 6500, 7000}},
        {"step(1.2, 5.7, 1.1, 5s)", 10, {0, 833, 1666, 2500, 3333, 4166, 5000, 5434, 5869, 6304}},
        {"const(1, 1)", 1, {0}},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        mt_sched_t s = parse_ok(cases[c].text);
        mt_sched_cursor_t cur = {0};
        assert_true(s.total >= (uint64_t)cases[c].n);
        for (int i = 0; i < cases[c].n; i++) {
            int64_t t;
            assert_int_equal(mt_sched_due(&s, &cur, (uint64_t)i, &t), MT_OK);
            if (t / MS != cases[c].ms[i])
                print_error("%s n=%d: %lld ns\n", cases[c].text, i, (long long)t);
            assert_int_equal(t / MS, cases[c].ms[i]);
        }
        check_consistency(&s);
        mt_sched_dispose(&s);
    }
}

/* Tank's counts (test_load_plan.py TestLineNew/TestStairway.test_iter): total requests and
 * how many are due at or after a threshold. */
static void test_tank_counts(void **state)
{
    static const struct {
        const char *text;
        uint64_t total;
        int64_t threshold_ms;
        uint64_t above;
    } cases[] = {
        {"line(2, 12, 25s)", 175, 5000, 160},
        {"line(2, 12, 25s)", 175, 10000, 135},
        {"line(2, 12, 25s)", 175, 15000, 100},
        {"line(2, 12, 25s)", 175, 20000, 55},
        {"line(0, 10, 25s)", 125, 15000, 80},
        {"line(10, 12, 20s)", 220, 10000, 115},
        {"line(10, 10, 20s)", 200, 10000, 100},
        {"line(10, 0, 25s)", 125, 10000, 45},
        {"line(10, 0, 25s)", 125, 15000, 20},
        {"step(0, 1000, 50, 3s)", 31500, 9000, 31050},
        {"step(0, 1000, 50, 3s)", 31500, 15000, 30000},
        {"step(0, 1000, 50, 3s)", 31500, 45000, 15750},
        {"line(0, 10, 20s) const(10, 10s)", 200, 0, 200},
        {"line(0, 10, 20s) line(10, 0, 20s)", 200, 0, 200},
        {"const(5, 10s) const(10, 5s)", 100, 0, 100},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        mt_sched_t s = parse_ok(cases[c].text);
        assert_int_equal(s.total, cases[c].total);
        assert_int_equal(s.total - mt_sched_count_before(&s, cases[c].threshold_ms * MS),
                         cases[c].above);
        check_consistency(&s);
        mt_sched_dispose(&s);
    }
}

/* ---- step() expansion --------------------------------------------------------------- */

static void check_rates(const char *text, const double *rates, size_t n, int64_t dur)
{
    mt_sched_t s = parse_ok(text);
    if (s.nsteps != n)
        print_error("%s: %zu steps\n", text, s.nsteps);
    assert_int_equal(s.nsteps, n);
    for (size_t i = 0; i < n; i++) {
        assert_near(s.steps[i].a, rates[i], 1e-9);
        assert_true(s.steps[i].a == s.steps[i].b);
        assert_int_equal(s.steps[i].dur_ns, dur);
        assert_int_equal(s.steps[i].start_ns, (int64_t)i * dur);
    }
    check_consistency(&s);
    mt_sched_dispose(&s);
}

static void test_step_expansion(void **state)
{
    /* b on the grid: included, once (Tank: range(0, int((b-a)/s) + 1)) */
    check_rates("step(10, 50, 10, 1m)", (double[]){10, 20, 30, 40, 50}, 5, 60 * S);
    check_rates("step(50, 10, 10, 1m)", (double[]){50, 40, 30, 20, 10}, 5, 60 * S);
    check_rates("step(1, 5, 1, 5s)", (double[]){1, 2, 3, 4, 5}, 5, 5 * S);
    /* b off the grid: a final const(b) */
    check_rates("step(10, 35, 10, 1s)", (double[]){10, 20, 30, 35}, 4, S);
    check_rates("step(35, 10, 10, 1s)", (double[]){35, 25, 15, 10}, 4, S);
    check_rates("step(1.2, 5.7, 1.1, 5s)", (double[]){1.2, 2.3, 3.4, 4.5, 5.6, 5.7}, 6, 5 * S);
    check_rates("step(1, 1.5, 1, 1s)", (double[]){1, 1.5}, 2, S);
    /* a == b: one step */
    check_rates("step(5, 5, 1, 1s)", (double[]){5}, 1, S);
    /* decimal steps that are not exact in binary still land on b, exactly */
    check_rates("step(0, 0.3, 0.1, 10s)", (double[]){0, 0.1, 0.2, 0.3}, 4, 10 * S);
    check_rates("step(0, 0.7, 0.1, 10s)", (double[]){0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7}, 8,
                10 * S);
    check_rates("step(1, 0, 0.1, 10s)",
                (double[]){1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0}, 11, 10 * S);

    mt_sched_t s = parse_ok("step(0, 0.3, 0.1, 10s)");
    assert_true(s.steps[3].a == 0.3);
    assert_int_equal(s.steps[0].count, 0); /* const(0) is a pause */
    assert_int_equal(s.total, 1 + 2 + 3);
    mt_sched_dispose(&s);
}

/* ---- fractional rates, ceil counts, pauses, cumulative indices ---------------------- */

static void test_fractional(void **state)
{
    /* count = ceil((a+b)/2*dur): const(1.5, 1s) holds n=0 (t=0) and n=1 (t=0.667s) */
    mt_sched_t s = parse_ok("const(1.5, 1s)");
    assert_int_equal(s.total, 2);
    assert_int_equal(due(&s, 1), 666666667);
    mt_sched_dispose(&s);

    s = parse_ok("const(1.5, 1s) const(1.5, 1s)");
    assert_int_equal(s.total, 4);
    assert_int_equal(due(&s, 2), S);
    mt_sched_dispose(&s);

    /* 0.1 is a little above 1/10 as a double; the count stays 3, not 4 */
    s = parse_ok("const(0.1, 30s)");
    assert_int_equal(s.total, 3);
    assert_int_equal(due(&s, 1), 10 * S);
    assert_int_equal(due(&s, 2), 20 * S);
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("line(0.5, 0.7, 10s) const(0.3, 10s)");
    assert_int_equal(s.steps[0].count, 6);
    assert_int_equal(s.steps[1].count, 3);
    assert_int_equal(s.steps[1].first, 6);
    check_consistency(&s);
    mt_sched_dispose(&s);

    /* a tiny positive rate still sends the request due at the step start */
    s = parse_ok("const(0.001, 1s)");
    assert_int_equal(s.total, 1);
    assert_int_equal(due(&s, 0), 0);
    mt_sched_dispose(&s);

    /* fractional durations */
    s = parse_ok("const(1000, 1.5s) const(1000, 250ms) const(1000, 1s500ms)");
    assert_int_equal(s.steps[0].count, 1500);
    assert_int_equal(s.steps[1].count, 250);
    assert_int_equal(s.steps[2].count, 1500);
    assert_int_equal(s.steps[2].start_ns, 1750 * MS);
    assert_int_equal(s.total_ns, 3250 * MS);
    check_consistency(&s);
    mt_sched_dispose(&s);
}

static void test_multi_step(void **state)
{
    mt_sched_t s = parse_ok("const(2, 1s) line(2, 4, 2s) step(4, 2, 1, 1s) const(1, 1h30m)");
    assert_int_equal(s.nsteps, 6);
    check_step(&s.steps[0], 2, 2, 0, S, 0, 2);
    check_step(&s.steps[1], 2, 4, S, 2 * S, 2, 6);
    check_step(&s.steps[2], 4, 4, 3 * S, S, 8, 4);
    check_step(&s.steps[3], 3, 3, 4 * S, S, 12, 3);
    check_step(&s.steps[4], 2, 2, 5 * S, S, 15, 2);
    check_step(&s.steps[5], 1, 1, 6 * S, 5400 * S, 17, 5400);
    assert_int_equal(s.total, 5417);
    assert_int_equal(s.total_ns, 5406 * S);
    /* each step's first request is due at its start */
    for (size_t i = 0; i < s.nsteps; i++)
        assert_int_equal(due(&s, s.steps[i].first), s.steps[i].start_ns);
    check_consistency(&s);
    mt_sched_dispose(&s);
}

static void test_pauses(void **state)
{
    mt_sched_t s = parse_ok("const(2, 1s) const(0, 1s) line(0, 0, 1s) const(1, 1s) const(0, 5s)");
    assert_int_equal(s.nsteps, 5);
    assert_int_equal(s.total, 3);
    assert_int_equal(s.total_ns, 9 * S);
    assert_int_equal(s.steps[1].count, 0);
    assert_int_equal(s.steps[2].count, 0);
    assert_int_equal(s.steps[4].count, 0);
    assert_int_equal(due(&s, 0), 0);
    assert_int_equal(due(&s, 1), 500 * MS);
    assert_int_equal(due(&s, 2), 3 * S);
    assert_int_equal(mt_sched_count_before(&s, 1500 * MS), 2);
    assert_int_equal(mt_sched_count_before(&s, 3 * S), 2);
    assert_int_equal(mt_sched_count_before(&s, 3 * S + 1), 3);
    assert_int_equal(mt_sched_count_before(&s, 8 * S), 3);
    check_consistency(&s);
    mt_sched_dispose(&s);

    /* starting with a pause */
    s = parse_ok("const(0, 10s) const(1, 2s)");
    assert_int_equal(due(&s, 0), 10 * S);
    assert_int_equal(due(&s, 1), 11 * S);
    assert_int_equal(mt_sched_count_before(&s, 10 * S), 0);
    check_consistency(&s);
    mt_sched_dispose(&s);

    /* a line from and to zero */
    s = parse_ok("line(0, 10, 2s) line(10, 0, 2s)");
    assert_int_equal(s.total, 20);
    assert_int_equal(due(&s, 0), 0);
    assert_int_equal(due(&s, 1), 632455532); /* sqrt(2n/k), k = 5 */
    check_consistency(&s);
    mt_sched_dispose(&s);
}

/* The engine walks n, n+threads, n+2*threads... with one cursor per thread. */
static void test_cursor_stride(void **state)
{
    mt_sched_t s = parse_ok("const(7, 1s) const(0, 1s) line(1, 20, 3s) step(10, 1, 3, 1s) "
                            "const(2, 1s)");
    for (uint64_t start = 0; start < 3; start++) {
        mt_sched_cursor_t cur = {0};
        int64_t prev = -1;
        for (uint64_t n = start; n < s.total; n += 3) {
            int64_t t;
            assert_int_equal(mt_sched_due(&s, &cur, n, &t), MT_OK);
            assert_int_equal(t, due(&s, n)); /* same as with a fresh cursor */
            assert_true(t > prev);
            prev = t;
        }
    }
    /* big jumps skip steps; going back (against the contract) still answers right */
    mt_sched_cursor_t cur = {0};
    int64_t t;
    assert_int_equal(mt_sched_due(&s, &cur, s.total - 1, &t), MT_OK);
    assert_int_equal(cur.step, s.nsteps - 1);
    assert_int_equal(mt_sched_due(&s, &cur, 3, &t), MT_OK);
    assert_int_equal(t, due(&s, 3));
    cur.step = 12345; /* garbage cursor */
    assert_int_equal(mt_sched_due(&s, &cur, 5, &t), MT_OK);
    assert_int_equal(t, due(&s, 5));
    assert_int_equal(mt_sched_due(&s, &cur, s.total, &t), MT_ERANGE);
    assert_int_equal(mt_sched_due(NULL, &cur, 0, &t), MT_EINVAL);
    check_consistency(&s);
    mt_sched_dispose(&s);
}

/* Many steps, many requests: the cursor walk stays linear. */
static void test_large(void **state)
{
    mt_sched_t s = parse_ok("step(1000, 100000, 1000, 1s) line(100000, 1, 10s)");
    assert_int_equal(s.nsteps, 101);
    mt_sched_cursor_t cur = {0};
    int64_t t, prev = -1;
    for (uint64_t n = 0; n < s.total; n++) {
        assert_int_equal(mt_sched_due(&s, &cur, n, &t), MT_OK);
        assert_true(t >= prev);
        prev = t;
    }
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("line(1, 1000000000, 100s)");
    check_consistency(&s);
    mt_sched_dispose(&s);

    s = parse_ok("const(1000000000, 1s) line(1000000000, 0, 2s)");
    check_consistency(&s);
    mt_sched_dispose(&s);
}

/* Near 2^53 requests, neighbouring due times are ~1 ns apart, where double rounding could
 * reorder them; they must still never decrease. Sampled: the start, the end, and spread. */
static void test_monotone_extreme(void **state)
{
    static const char *cases[] = {
        "line(1, 1000000000, 100d)",         "line(0, 1000000000, 104d)",
        "line(1000000000, 0, 104d)",         "line(500000000, 1000000000, 100d)",
        "line(900000000, 1000000000, 104d)", "line(1000000000, 999999999.9, 104d)",
        "const(999999999.9, 104d)",
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        mt_sched_t s = parse_ok(cases[c]);
        uint64_t x = 88172645463325252ULL; /* xorshift */
        for (int i = 0; i < 30000; i++) {
            uint64_t n;
            int64_t t0, t1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            n = i % 3 == 0 ? x % 1000 : i % 3 == 1 ? s.total - 2 - x % 1000 : x % (s.total - 1);
            mt_sched_cursor_t cur = {0};
            assert_int_equal(mt_sched_due(&s, &cur, n, &t0), MT_OK);
            assert_int_equal(mt_sched_due(&s, &cur, n + 1, &t1), MT_OK);
            assert_true(t1 >= t0);
            assert_true(mt_sched_count_before(&s, t0) <= n);
            assert_true(mt_sched_count_before(&s, t0 + 1) > n);
        }
        mt_sched_dispose(&s);
    }
}

static void test_sched_const(void **state)
{
    mt_sched_t s;
    assert_int_equal(mt_sched_const(100, 10 * S, &s), MT_OK);
    assert_int_equal(s.nsteps, 1);
    check_step(&s.steps[0], 100, 100, 0, 10 * S, 0, 1000);
    assert_int_equal(s.total, 1000);
    assert_int_equal(s.total_ns, 10 * S);
    check_consistency(&s);
    mt_sched_dispose(&s);
    mt_sched_dispose(&s); /* twice is harmless */
    mt_sched_dispose(NULL);

    assert_int_equal(mt_sched_const(0, S, &s), MT_EINVAL);
    assert_null(s.steps);
    assert_int_equal(mt_sched_const(-1, S, &s), MT_EINVAL);
    assert_int_equal(mt_sched_const(NAN, S, &s), MT_EINVAL);
    assert_int_equal(mt_sched_const(10, 0, &s), MT_EINVAL);
    assert_int_equal(mt_sched_const(10, S, NULL), MT_EINVAL);
    assert_int_equal(mt_sched_const(INFINITY, S, &s), MT_ERANGE);
    assert_int_equal(mt_sched_const(1e9, 365LL * 86400 * S, &s), MT_ERANGE); /* > 2^53 */
    assert_int_equal(mt_sched_const(1, 366LL * 86400 * S, &s), MT_ERANGE);
    assert_null(s.steps);
}

/* ---- errors ------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    static const struct {
        const char *in;
        int col;
        const char *msg; /* substring of err.msg */
    } cases[] = {
        {"", 1, "empty schedule"},
        {"   \n ", 1, "empty schedule"},
        {"lin(1, 2, 3s)", 1, "unknown step 'lin'"},
        {"const(1, 1s) Line(1, 2, 3s)", 14, "unknown step 'Line'"},
        {"ramp(10, 1m)", 1, "unknown step 'ramp' (expected const, line or step)"},
        {"(1, 1s)", 1, "unexpected '('"},
        {"const(1, 1s),const(1, 1s)", 13, "unexpected ','"},
        {"\x01", 1, "unexpected byte 0x01"},
        {"const", 6, "expected '(' after 'const'"},
        {"const 10, 1s", 7, "expected '(' after 'const'"},
        {"const(10 1s)", 10, "expected ',' after rate"},
        {"const(10)", 9, "expected ',' after rate"},
        {"const(10", 9, "expected ',' after rate"},
        {"line(1, 2)", 10, "expected ',' after end rate"},
        {"line(1 2, 3s)", 8, "expected ',' after start rate"},
        {"step(1, 2, 1)", 13, "expected ',' after step size"},
        {"const(, 1s)", 7, "expected rate"},
        {"const(10, )", 11, "expected duration"},
        {"const(10,", 10, "expected duration"},
        {"const(x, 1s)", 7, "bad rate 'x'"},
        {"const(10x, 1s)", 9, "bad rate '10x'"},
        {"const(1e3, 1s)", 8, "bad rate '1e3'"},
        {"const(1.2.3, 1s)", 10, "bad rate"},
        {"line(1, +2, 1s)", 9, "bad end rate '+2'"},
        {"const(10, 10x)", 13, "bad duration '10x'"},
        {"const(10, 1h 30m)", 14, "expected ')' after duration"},
        {"const(10, 1s1m)", 14, "unit 'm' out of order"},
        {"const(10, 1s", 13, "missing ')'"},
        {"const(10, 1s  ", 15, "missing ')'"},
        {"const(10, 1s, 5)", 13, "expected ')' after duration"},
        {"const(-1, 1s)", 7, "rate must be >= 0"},
        {"line(1, -5, 1s)", 9, "end rate must be >= 0"},
        {"step(1, 5, 0, 1s)", 12, "step size must be > 0"},
        {"step(1, 5, -1, 1s)", 12, "step size must be > 0"},
        {"step(1, 5, 0.0, 1s)", 12, "step size must be > 0"},
        {"const(10, 0)", 11, "duration must be > 0"},
        {"const(10, -1s)", 11, "negative duration"},
        {"const(2000000000, 1s)", 7, "rate must be <= 1e9"},
        {"const(1, 366d)", 10, "duration must be <= 365d"},
        {"const(1, 99999999999999999999s)", 10, "duration must be <= 365d"},
        {"const(1, 1111111111111111111111111111111111111111111111111111111111111111s)", 10,
         "too long"},
        {"const(1, 200d) const(1, 200d)", 16, "schedule longer than 365d"},
        {"step(0, 1000000, 1, 1s)", 1, "too many steps (max 100000"},
        {"step(0, 1000000000, 0.000001, 1s)", 1, "too many steps"},
        {"const(1000000000, 365d)", 1, "too many requests (max 2^53)"},
        {"const(1000000000, 104d) const(1000000000, 1d)", 25, "too many requests"},
        {"const(0, 10s)", 1, "schedule has no requests"},
        {"const(10, 1s) )", 15, "unexpected ')'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mt_sched_t s;
        mt_parse_err_t err = {0};
        int rc = mt_sched_parse(cases[i].in, &s, &err);
        if (rc != MT_EPARSE || err.col != cases[i].col || !strstr(err.msg, cases[i].msg))
            print_error("'%s': rc %d col %d msg '%s'\n", cases[i].in, rc, err.col, err.msg);
        assert_int_equal(rc, MT_EPARSE);
        assert_int_equal(err.col, cases[i].col);
        assert_non_null(strstr(err.msg, cases[i].msg));
        assert_null(s.steps); /* nothing to dispose */
        assert_int_equal(s.nsteps, 0);
    }
    mt_sched_t s;
    assert_int_equal(mt_sched_parse(NULL, &s, NULL), MT_EINVAL);
    assert_int_equal(mt_sched_parse("const(1, 1s)", NULL, NULL), MT_EINVAL);
    assert_int_equal(mt_sched_parse("lin(1, 1s)", &s, NULL), MT_EPARSE); /* err optional */
}

/* The limits themselves are accepted. */
static void test_limits_ok(void **state)
{
    mt_sched_t s = parse_ok("step(0, 99999, 1, 1ms)");
    assert_int_equal(s.nsteps, 100000);
    mt_sched_dispose(&s);
    s = parse_ok("const(1, 365d)");
    assert_int_equal(s.total_ns, 365LL * 86400 * S);
    mt_sched_dispose(&s);
    s = parse_ok("const(1000000000, 104d)"); /* 8.99e15 < 2^53 */
    check_consistency(&s);
    mt_sched_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_examples), cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_const_due),        cmocka_unit_test(test_line_due),
        cmocka_unit_test(test_tank_due_times),   cmocka_unit_test(test_tank_counts),
        cmocka_unit_test(test_step_expansion),   cmocka_unit_test(test_fractional),
        cmocka_unit_test(test_multi_step),       cmocka_unit_test(test_pauses),
        cmocka_unit_test(test_cursor_stride),    cmocka_unit_test(test_large),
        cmocka_unit_test(test_monotone_extreme), cmocka_unit_test(test_sched_const),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_limits_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
