/* Noise-aware comparison of two runs (docs/analysis.md, docs/adr/0029-baseline-verdict.md).
 *
 * A metric of a run is compared with the same metric of a baseline run twice: its whole-run
 * value against a tolerance (percent or absolute), and its per-second values (one sample per
 * second of each run) by a two-sided Mann-Whitney U test. A change is a regression only when
 * it is BOTH worse than the tolerance AND significant (p < alpha): fixed tolerances alone cry
 * wolf on noisy machines, a test alone flags changes too small to matter.
 *
 * Pure: arrays in, a struct out; no I/O, no globals, never prints. */
#ifndef MORTAR_COMPARE_H
#define MORTAR_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "mortar/error.h"

/* Fewer samples than this in either run: no test is made (MT_CMP_INSUFFICIENT). With 5 and 5
 * fully separated samples the smallest two-sided p is 0.012. */
#define MT_CMP_MIN_SAMPLES 5
#define MT_CMP_ALPHA       0.01 /* the default significance level */

/* The Mann-Whitney U test of a against b, two-sided, by the normal approximation with the tie
 * correction of the variance and a continuity correction of 0.5. */
typedef struct mt_mwu {
    double u;      /* U of a: the number of pairs (x in a, y in b) with x > y, ties count 1/2 */
    double z;      /* standardised U (0 when the variance is 0) */
    double p;      /* two-sided p-value; 1 when every sample is equal */
    size_t na, nb; /* sample sizes */
} mt_mwu_t;

/* Fills out. MT_OK, MT_EINVAL when na or nb is 0 or a value is not finite, MT_ENOMEM. The
 * arrays are only read. */
int mt_mann_whitney(const double *a, size_t na, const double *b, size_t nb, mt_mwu_t *out);

typedef enum mt_cmp_decision {
    MT_CMP_UNCHANGED = 0,   /* within the tolerance */
    MT_CMP_REGRESSED,       /* worse than the tolerance and significant */
    MT_CMP_IMPROVED,        /* better than the tolerance and significant */
    MT_CMP_NOT_SIGNIFICANT, /* beyond the tolerance, but the per-second data does not show it */
    MT_CMP_INSUFFICIENT,    /* beyond the tolerance, too few seconds in a run to test it */
} mt_cmp_decision_t;

/* "unchanged", "regressed", "improved", "not_significant", "insufficient_data" */
const char *mt_cmp_decision_name(mt_cmp_decision_t d);

typedef struct mt_cmp_metric {
    /* in */
    double run, base;    /* whole-run values */
    const double *run_s; /* per-second values of the run (may be NULL when nrun 0) */
    size_t nrun;
    const double *base_s; /* per-second values of the baseline */
    size_t nbase;
    double tolerance; /* >= 0: percent of base, or absolute when tol_abs */
    bool tol_abs;
    bool higher_is_worse; /* latency, error rate: true; throughput: false */
    double alpha;         /* significance level, (0, 1); 0 takes MT_CMP_ALPHA */
    /* out */
    double delta;     /* run - base */
    double delta_pct; /* 100 * delta / base; valid when has_pct */
    bool has_pct;
    bool exceeds; /* worse (or better) than the tolerance */
    bool tested;  /* a test was made: mwu and p are valid */
    mt_mwu_t mwu;
    mt_cmp_decision_t decision;
} mt_cmp_metric_t;

/* Decides one metric: fills the "out" fields of m. MT_OK, MT_EINVAL (bad alpha/tolerance or
 * a non-finite sample), MT_ENOMEM. */
int mt_cmp_metric(mt_cmp_metric_t *m);

#endif
