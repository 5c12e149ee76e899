/* Change points of a series: E-divisive means (Matteson & James, "A Nonparametric Approach for
 * Multiple Change Point Analysis of Multivariate Data", JASA 2014), the method MongoDB runs
 * over its performance CI histories (Daly et al., ICPE 2020). docs/analysis.md "Change points"
 * and docs/adr/0030-change-points.md say why this method and this significance test.
 *
 * Bisection: the split (tau, kappa) of a segment that maximises the energy statistic
 *   q(X, Y) = m n / (m + n) * E(X, Y),  E = 2/(mn) sum|x - y| - 1/C(m,2) sum|x - x'|
 *                                            - 1/C(n,2) sum|y - y'|      (alpha = 1)
 * over every current segment is the candidate; a permutation test (the observations shuffled
 * within each segment, the search repeated) gives its p-value; a candidate with p <= the
 * significance level becomes a change point and the search recurses, else it stops. The PRNG
 * has a fixed seed, so the same series always gives the same answer. Pure: no I/O, no globals. */
#ifndef MT_STATS_CHANGEPOINT_H
#define MT_STATS_CHANGEPOINT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt__cp_opts {
    size_t min_size;       /* fewest values on each side of a change (>= 2); 0: 5 */
    double sig_level;      /* a candidate is kept when p <= this; 0: 0.001 */
    unsigned permutations; /* of each permutation test; 0: 999 */
    uint64_t seed;         /* of the PRNG; 0: a fixed default */
    size_t max_changes;    /* stop after this many; 0: no limit but the series' length */
} mt__cp_opts_t;

typedef struct mt__cp {
    size_t index;         /* the first value after the change (0 < index < n) */
    double stat;          /* q of the split when it was found */
    double p_value;       /* of its permutation test: (1 + #{q_perm >= q}) / (1 + R) */
    double confidence;    /* 1 - p_value */
    double mean_before;   /* of the segment before it (from the previous change point) */
    double mean_after;    /* of the segment after it (to the next change point) */
    double median_before; /* likewise */
    double median_after;
    unsigned order; /* 1 = the first found (the strongest split) */
} mt__cp_t;

/* The change points of x[0..n) (finite values; NaN/inf are MT_EINVAL), ordered by index, into
 * *out (malloc'd; the caller frees; NULL when *nout = 0). A series shorter than 2 * min_size,
 * or constant, has none. MT_OK, MT_EINVAL (bad options or values), MT_ENOMEM. Cost: O(n^2)
 * memory and O(R n^2) time per change point found (R = permutations). */
int mt__cp_detect(const double *x, size_t n, const mt__cp_opts_t *opts, mt__cp_t **out,
                  size_t *nout);

#endif
