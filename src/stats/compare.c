/* The Mann-Whitney U test and the per-metric decision of a baseline comparison
 * (mortar/compare.h). Why this test: docs/adr/0029-baseline-verdict.md. */
#include "mortar/compare.h"

#include <math.h>
#include <stdlib.h>

typedef struct cmp_item {
    double v;
    int from_a;
} cmp_item_t;

static int cmp_item_order(const void *x, const void *y)
{
    double a = ((const cmp_item_t *)x)->v, b = ((const cmp_item_t *)y)->v;
    return (a > b) - (a < b);
}

int mt_mann_whitney(const double *a, size_t na, const double *b, size_t nb, mt_mwu_t *out)
{
    size_t n = na + nb;
    cmp_item_t *it;
    double ra = 0, ties = 0, mu, var, dev;

    if (na == 0 || nb == 0)
        return MT_EINVAL;
    for (size_t i = 0; i < na; i++)
        if (!isfinite(a[i]))
            return MT_EINVAL;
    for (size_t i = 0; i < nb; i++)
        if (!isfinite(b[i]))
            return MT_EINVAL;
    it = malloc(n * sizeof(*it));
    if (it == NULL)
        return MT_ENOMEM;
    for (size_t i = 0; i < na; i++)
        it[i] = (cmp_item_t){a[i], 1};
    for (size_t i = 0; i < nb; i++)
        it[na + i] = (cmp_item_t){b[i], 0};
    qsort(it, n, sizeof(*it), cmp_item_order);
    /* ranks 1..n, tied values share the mean of their ranks */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && it[j].v == it[i].v)
            j++;
        double t = (double)(j - i), rank = ((double)i + 1 + (double)j) / 2.0;
        for (size_t k = i; k < j; k++)
            if (it[k].from_a)
                ra += rank;
        ties += t * t * t - t;
        i = j;
    }
    free(it);

    out->na = na;
    out->nb = nb;
    out->u = ra - (double)na * ((double)na + 1) / 2.0;
    mu = (double)na * (double)nb / 2.0;
    var = (double)na * (double)nb / 12.0 * (((double)n + 1) - ties / ((double)n * ((double)n - 1)));
    if (!(var > 0)) { /* every sample equal */
        out->z = 0;
        out->p = 1;
        return MT_OK;
    }
    dev = fabs(out->u - mu) - 0.5; /* continuity correction */
    if (dev < 0)
        dev = 0;
    out->z = (out->u >= mu ? dev : -dev) / sqrt(var);
    out->p = erfc(fabs(out->z) / sqrt(2.0));
    if (out->p > 1)
        out->p = 1;
    return MT_OK;
}

const char *mt_cmp_decision_name(mt_cmp_decision_t d)
{
    switch (d) {
    case MT_CMP_REGRESSED:
        return "regressed";
    case MT_CMP_IMPROVED:
        return "improved";
    case MT_CMP_NOT_SIGNIFICANT:
        return "not_significant";
    case MT_CMP_INSUFFICIENT:
        return "insufficient_data";
    case MT_CMP_UNCHANGED:
    default:
        return "unchanged";
    }
}

int mt_cmp_metric(mt_cmp_metric_t *m)
{
    double alpha = m->alpha == 0 ? MT_CMP_ALPHA : m->alpha;
    double worse; /* how much worse than base, in the tolerance's unit (< 0: better) */
    int rc;

    if (!(alpha > 0 && alpha < 1) || !(m->tolerance >= 0) || !isfinite(m->tolerance) ||
        !isfinite(m->run) || !isfinite(m->base))
        return MT_EINVAL;
    m->delta = m->run - m->base;
    m->has_pct = m->base != 0;
    m->delta_pct = m->has_pct ? m->delta / fabs(m->base) * 100.0 : 0;
    m->tested = false;
    m->decision = MT_CMP_UNCHANGED;
    if (m->tol_abs)
        worse = m->delta;
    else if (m->has_pct)
        worse = m->delta_pct;
    else /* from nothing: any amount is beyond a percentage */
        worse = m->delta == 0 ? 0 : (m->delta > 0 ? INFINITY : -INFINITY);
    if (!m->higher_is_worse)
        worse = -worse;
    m->exceeds = fabs(worse) > m->tolerance;
    if (m->nrun >= MT_CMP_MIN_SAMPLES && m->nbase >= MT_CMP_MIN_SAMPLES) {
        if ((rc = mt_mann_whitney(m->run_s, m->nrun, m->base_s, m->nbase, &m->mwu)) != MT_OK)
            return rc;
        m->tested = true;
    }
    if (!m->exceeds)
        return MT_OK;
    if (!m->tested)
        m->decision = MT_CMP_INSUFFICIENT;
    else if (m->mwu.p >= alpha)
        m->decision = MT_CMP_NOT_SIGNIFICANT;
    else
        m->decision = worse > 0 ? MT_CMP_REGRESSED : MT_CMP_IMPROVED;
    return MT_OK;
}
