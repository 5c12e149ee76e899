/* Change points (src/stats/changepoint.c): synthetic histories with seeded noise. A step finds
 * exactly one change at the right index, a flat history none, and the edge cases (short,
 * constant, non-finite, two steps, determinism) behave as changepoint.h says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "mortar/error.h"
#include "stats/changepoint.h"

/* Seeded Gaussian noise (Box-Muller over a 64-bit LCG): the same series on every machine. */
static uint64_t lcg;
static double unif(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(lcg >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

/* n values: level a before index at, b from it, noise sd. */
static void series(double *x, size_t n, size_t at, double a, double b, double sd, uint64_t seed)
{
    lcg = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = (i < at ? a : b) + sd * gauss();
}

static void test_step(void **st)
{
    (void)st;
    double x[30];
    series(x, 30, 15, 2000, 2600, 60, 42);
    mt__cp_t *cp;
    size_t n;
    assert_int_equal(mt__cp_detect(x, 30, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cp[0].index, 15);
    assert_true(cp[0].p_value <= 0.01);
    assert_true(cp[0].confidence >= 0.99);
    assert_true(fabs(cp[0].mean_before - 2000) < 60 && fabs(cp[0].mean_after - 2600) < 60);
    assert_true(fabs(cp[0].median_before - 2000) < 80 && fabs(cp[0].median_after - 2600) < 80);
    assert_int_equal(cp[0].order, 1);
    free(cp);
}

static void test_step_down_any_seed(void **st)
{
    (void)st;
    /* an improvement is a change too; and the answer does not hang on one lucky seed */
    for (uint64_t seed = 1; seed <= 10; seed++) {
        double x[30];
        series(x, 30, 15, 5000, 3500, 150, seed);
        mt__cp_t *cp;
        size_t n;
        assert_int_equal(mt__cp_detect(x, 30, NULL, &cp, &n), MT_OK);
        assert_int_equal(n, 1);
        assert_int_equal(cp[0].index, 15);
        assert_true(cp[0].mean_after < cp[0].mean_before);
        free(cp);
    }
}

static void test_flat(void **st)
{
    (void)st;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        double x[30];
        series(x, 30, 30, 2000, 2000, 60, seed);
        mt__cp_t *cp = (mt__cp_t *)1;
        size_t n = 99;
        assert_int_equal(mt__cp_detect(x, 30, NULL, &cp, &n), MT_OK);
        assert_int_equal(n, 0);
        assert_null(cp);
    }
}

static void test_two_steps(void **st)
{
    (void)st;
    double x[60];
    series(x, 60, 20, 100, 200, 8, 7);
    for (size_t i = 40; i < 60; i++)
        x[i] += 150; /* 100 -> 200 -> 350 */
    mt__cp_t *cp;
    size_t n;
    assert_int_equal(mt__cp_detect(x, 60, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(cp[0].index, 20);
    assert_int_equal(cp[1].index, 40);
    /* levels are of the segments between change points */
    assert_true(fabs(cp[0].mean_after - 200) < 10 && fabs(cp[1].mean_before - 200) < 10);
    assert_true(fabs(cp[1].mean_after - 350) < 10);
    free(cp);
}

static void test_short_and_constant(void **st)
{
    (void)st;
    double x[30];
    mt__cp_t *cp;
    size_t n;
    /* 9 values with min_size 5: too short to split, however big the step */
    series(x, 9, 4, 1, 1000, 0, 1);
    assert_int_equal(mt__cp_detect(x, 9, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(mt__cp_detect(NULL, 0, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 0);
    for (size_t i = 0; i < 30; i++)
        x[i] = 1234.5;
    assert_int_equal(mt__cp_detect(x, 30, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 0);
    /* 10 values, a clean step in the middle: the smallest series with a change */
    series(x, 10, 5, 10, 1000, 1, 3);
    assert_int_equal(mt__cp_detect(x, 10, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cp[0].index, 5);
    free(cp);
}

static void test_min_size(void **st)
{
    (void)st;
    double x[30];
    mt__cp_t *cp;
    size_t n;
    /* a step 3 values from the end: no split leaves fewer than min_size values on a side, so
     * the change is placed at the nearest allowed index, n - min_size; it moves to its place
     * as values arrive (or at once with a smaller min_size) */
    series(x, 30, 27, 100, 500, 5, 9);
    assert_int_equal(mt__cp_detect(x, 30, NULL, &cp, &n), MT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cp[0].index, 25);
    free(cp);
    mt__cp_opts_t o = {.min_size = 3};
    assert_int_equal(mt__cp_detect(x, 30, &o, &cp, &n), MT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cp[0].index, 27);
    free(cp);
}

static void test_deterministic(void **st)
{
    (void)st;
    double x[40];
    series(x, 40, 25, 1000, 1080, 40, 5); /* a small step: the p-value is not trivial */
    mt__cp_t *a, *b;
    size_t na, nb;
    assert_int_equal(mt__cp_detect(x, 40, NULL, &a, &na), MT_OK);
    assert_int_equal(mt__cp_detect(x, 40, NULL, &b, &nb), MT_OK);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].index, b[i].index);
        assert_true(a[i].p_value == b[i].p_value);
    }
    free(a);
    free(b);
}

static void test_invalid(void **st)
{
    (void)st;
    double x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    mt__cp_t *cp;
    size_t n;
    x[3] = NAN;
    assert_int_equal(mt__cp_detect(x, 12, NULL, &cp, &n), MT_EINVAL);
    x[3] = INFINITY;
    assert_int_equal(mt__cp_detect(x, 12, NULL, &cp, &n), MT_EINVAL);
    x[3] = 4;
    mt__cp_opts_t o = {.min_size = 1};
    assert_int_equal(mt__cp_detect(x, 12, &o, &cp, &n), MT_EINVAL);
    o = (mt__cp_opts_t){.sig_level = 1.5};
    assert_int_equal(mt__cp_detect(x, 12, &o, &cp, &n), MT_EINVAL);
    assert_int_equal(mt__cp_detect(NULL, 12, NULL, &cp, &n), MT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_step_down_any_seed),
        cmocka_unit_test(test_flat),
        cmocka_unit_test(test_two_steps),
        cmocka_unit_test(test_short_and_constant),
        cmocka_unit_test(test_min_size),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
