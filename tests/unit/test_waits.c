/* The open model's batched waits (docs/adr/0037-kernel-timestamps.md, mt__send_wake): when a
 * worker wakes up to send requests falling due closer together than the send tolerance. The
 * bound is arithmetic, so it is checked here exhaustively; what the loop does with it against a
 * real server is test_e2e_kernel_timestamps'. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/internal.h"

#define US 1000LL

/* Without a tolerance, or with requests at least that far apart: the due time itself. */
static void test_exact_when_nothing_to_batch(void **state)
{
    (void)state;
    assert_int_equal(mt__send_wake(5000 * US, 50 * US, 0, 0), 5000 * US);
    assert_int_equal(mt__send_wake(5000 * US, 50 * US, 0, 30 * US), 5000 * US);
    assert_int_equal(mt__send_wake(5000 * US, 100 * US, 100 * US, 0), 5000 * US);
    assert_int_equal(mt__send_wake(5000 * US, 250 * US, 100 * US, 20 * US), 5000 * US);
}

/* -R 20000 (50 us apart) with the default 100 us: one wake-up for three sends, at the third's
 * due time, aimed earlier by how late sleeps wake up. */
static void test_last_due_in_the_window(void **state)
{
    (void)state;
    assert_int_equal(mt__send_wake(0, 50 * US, 100 * US, 0), 100 * US);
    assert_int_equal(mt__send_wake(0, 50 * US, 100 * US, 21 * US), 79 * US);
    /* 75 us: two sends, at the second's due time (not 75 us after the first) */
    assert_int_equal(mt__send_wake(0, 50 * US, 75 * US, 0), 50 * US);
    /* 30 us apart, 100 us: the fourth (90 us) is the last in the window */
    assert_int_equal(mt__send_wake(1000 * US, 30 * US, 100 * US, 0), 1090 * US);
    /* requests due at the same instant: the whole tolerance */
    assert_int_equal(mt__send_wake(0, 0, 100 * US, 10 * US), 90 * US);
}

/* The aim never moves by more than half the span, whatever a stalled machine made of `late`. */
static void test_lateness_capped(void **state)
{
    (void)state;
    assert_int_equal(mt__send_wake(0, 50 * US, 60 * US, 40 * US), 25 * US);
    assert_int_equal(mt__send_wake(0, 50 * US, 100 * US, 5000 * US), 50 * US);
    assert_int_equal(mt__send_wake(0, 50 * US, 100 * US, -7 * US), 100 * US);
}

/* For every gap below the tolerance and every lateness: the wake-up is after the first due time
 * and no later than due + tol, and a wake-up as late as the average leaves the first request by
 * due + tol (the bound the tolerance promises) and sends at least the requests due by then. */
static void test_bound_exhaustive(void **state)
{
    (void)state;
    const int64_t tols[] = {20 * US, 100 * US, 250 * US, 1000 * US, 100000 * US};
    for (size_t i = 0; i < sizeof tols / sizeof tols[0]; i++) {
        int64_t tol = tols[i];
        for (int64_t gap = 0; gap < tol; gap += tol / 97 + 1) {
            for (int64_t late = 0; late <= 2 * tol; late += tol / 13 + 1) {
                int64_t due = 123456789 * US;
                int64_t wake = mt__send_wake(due, gap, tol, late);
                assert_true(wake > due);
                assert_true(wake <= due + tol);
                int64_t span = gap > 0 ? tol / gap * gap : tol;
                if (late <= span / 2)
                    assert_int_equal(wake + late, due + span);
                else
                    assert_int_equal(wake, due + span - span / 2);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_when_nothing_to_batch),
        cmocka_unit_test(test_last_due_in_the_window),
        cmocka_unit_test(test_lateness_capped),
        cmocka_unit_test(test_bound_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
