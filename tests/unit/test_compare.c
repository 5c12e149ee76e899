/* The noise-aware comparison (mortar/compare.h): the Mann-Whitney U test on known samples, and
 * the decision rule (beyond the tolerance AND significant). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "mortar/compare.h"

#define NEAR(a, b, eps) assert_true(fabs((a) - (b)) < (eps))

static void test_mwu_known(void **state)
{
    /* SciPy's documented example (mannwhitneyu, method="asymptotic"): U = 17, p = 0.11134688 */
    static const double males[] = {19, 22, 16, 29, 24}, females[] = {20, 11, 17, 12};
    /* fully separated: U = 0, z = -2.5067, p = 0.0121858 */
    static const double lo[] = {1, 2, 3, 4, 5}, hi[] = {6, 7, 8, 9, 10};
    /* ties across the samples: average ranks and the tie-corrected variance */
    static const double ta[] = {1, 2, 2, 3}, tb[] = {2, 3, 4, 5};
    mt_mwu_t r;
    (void)state;

    assert_int_equal(mt_mann_whitney(males, 5, females, 4, &r), MT_OK);
    NEAR(r.u, 17, 1e-12);
    NEAR(r.p, 0.11134688653314041, 1e-9);
    assert_int_equal(mt_mann_whitney(lo, 5, hi, 5, &r), MT_OK);
    NEAR(r.u, 0, 1e-12);
    NEAR(r.z, -2.5067182457620487, 1e-9);
    NEAR(r.p, 0.012185780355344818, 1e-9);
    assert_int_equal(mt_mann_whitney(hi, 5, lo, 5, &r), MT_OK); /* symmetric */
    NEAR(r.u, 25, 1e-12);
    NEAR(r.p, 0.012185780355344818, 1e-9);
    assert_int_equal(mt_mann_whitney(ta, 4, tb, 4, &r), MT_OK);
    NEAR(r.u, 2.5, 1e-12);
    NEAR(r.z, -1.4883513944689681, 1e-9);
    NEAR(r.p, 0.13665824773814753, 1e-9);
}

static void test_mwu_edges(void **state)
{
    static const double same[] = {7, 7, 7, 7, 7, 7};
    double bad[] = {1, NAN};
    mt_mwu_t r;
    (void)state;

    assert_int_equal(mt_mann_whitney(same, 6, same, 6, &r), MT_OK); /* no variance */
    assert_true(r.p == 1);
    assert_int_equal(mt_mann_whitney(same, 0, same, 6, &r), MT_EINVAL);
    assert_int_equal(mt_mann_whitney(bad, 2, same, 6, &r), MT_EINVAL);
}

/* A deterministic noisy sample around level (xorshift; +-20% uniform noise). */
static void noisy(double *out, size_t n, double level, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = level * (0.8 + 0.4 * (double)(x % 10000) / 10000.0);
    }
}

static mt_cmp_metric_t latency(double run, const double *rs, size_t nr, double base,
                               const double *bs, size_t nb, double tol)
{
    mt_cmp_metric_t m = {.run = run,
                         .base = base,
                         .run_s = rs,
                         .nrun = nr,
                         .base_s = bs,
                         .nbase = nb,
                         .tolerance = tol,
                         .higher_is_worse = true};
    assert_int_equal(mt_cmp_metric(&m), MT_OK);
    return m;
}

static void test_decisions(void **state)
{
    enum { N = 30 };
    double a[N], b[N], c[N];
    mt_cmp_metric_t m;
    (void)state;

    noisy(a, N, 2000, 1);
    noisy(b, N, 2000, 2);
    noisy(c, N, 6000, 3); /* shifted 3x */

    /* identical samples: not significant, whatever the tolerance */
    m = latency(2000, a, N, 2000, a, N, 0);
    assert_true(m.tested);
    assert_true(m.mwu.p > 0.5);
    assert_int_equal(m.decision, MT_CMP_UNCHANGED);
    /* two samples of the same level: a small tolerance is exceeded by noise, the test says no */
    m = latency(2300, a, N, 2000, b, N, 5);
    assert_true(m.exceeds);
    assert_true(m.mwu.p >= 0.01);
    assert_int_equal(m.decision, MT_CMP_NOT_SIGNIFICANT);
    /* shifted 3x: significant and beyond the tolerance */
    m = latency(6000, c, N, 2000, a, N, 10);
    assert_true(m.mwu.p < 1e-6);
    assert_int_equal(m.decision, MT_CMP_REGRESSED);
    NEAR(m.delta_pct, 200, 1e-9);
    /* the same shift within a generous tolerance: unchanged */
    m = latency(6000, c, N, 2000, a, N, 250);
    assert_int_equal(m.decision, MT_CMP_UNCHANGED);
    /* the other way: improved */
    m = latency(2000, a, N, 6000, c, N, 10);
    assert_int_equal(m.decision, MT_CMP_IMPROVED);
    /* throughput: lower is worse */
    m = (mt_cmp_metric_t){
        .run = 2000, .base = 6000, .run_s = a, .nrun = N, .base_s = c, .nbase = N, .tolerance = 5};
    assert_int_equal(mt_cmp_metric(&m), MT_OK);
    assert_int_equal(m.decision, MT_CMP_REGRESSED);
    /* too few seconds */
    m = latency(6000, c, 4, 2000, a, N, 10);
    assert_false(m.tested);
    assert_int_equal(m.decision, MT_CMP_INSUFFICIENT);
    /* bad input */
    m = (mt_cmp_metric_t){.run = 1, .base = 1, .tolerance = -1};
    assert_int_equal(mt_cmp_metric(&m), MT_EINVAL);
    m = (mt_cmp_metric_t){.run = 1, .base = 1, .alpha = 2};
    assert_int_equal(mt_cmp_metric(&m), MT_EINVAL);
    assert_string_equal(mt_cmp_decision_name(MT_CMP_REGRESSED), "regressed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mwu_known),
        cmocka_unit_test(test_mwu_edges),
        cmocka_unit_test(test_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
