/* E-divisive means (changepoint.h): the statistic, the bisection and the permutation test,
 * written from Matteson & James (2014), section 3. */
#include "stats/changepoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"

#define CP_MIN_SIZE     5
#define CP_SIG_LEVEL    0.01
#define CP_PERMUTATIONS 999
#define CP_SEED         0x6d6f72746172ULL /* "mortar" */

/* splitmix64 (Steele, Lea & Flood 2014): small, fast, and the same sequence everywhere */
static uint64_t cp_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Fisher-Yates over v[0..n) */
static void cp_shuffle(double *v, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(cp_rand(s) % i);
        double t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

typedef struct cp_work {
    size_t n, min;
    double *p; /* n x (n + 1): p[k * (n + 1) + t] = sum_{s <= i < t} |v_i - v_k| for a segment */
} cp_work_t;

/* The best split of segment v[s..e): *tau (the first value of Y) and its q, over every
 * s + min <= tau and tau + min <= kappa <= e. Returns 0 when the segment is too short. */
static int cp_best_in(cp_work_t *w, const double *v, size_t s, size_t e, size_t *tau, double *q)
{
    size_t min = w->min, L = e - s, stride = w->n + 1;
    if (L < 2 * min)
        return 0;
    /* column prefix sums within the segment, indices relative to s */
    for (size_t k = 0; k < L; k++) {
        double *row = w->p + k * stride;
        row[0] = 0;
        for (size_t t = 0; t < L; t++)
            row[t + 1] = row[t] + fabs(v[s + t] - v[s + k]);
    }
    double best = -INFINITY;
    size_t arg = 0;
    double wx = 0; /* sum over pairs i < j < t of |v_i - v_j| for X = [0, t) */
    for (size_t t = 1; t + min <= L; t++) {
        wx += w->p[(t - 1) * stride + (t - 1)]; /* value t - 1 joins X */
        if (t < min)
            continue;
        double m = (double)t;
        double b = 0, wy = 0; /* between X and Y, within Y = [t, k) */
        for (size_t k = t; k < L; k++) {
            const double *row = w->p + k * stride;
            b += row[t];
            wy += row[k] - row[t];
            size_t ny = k + 1 - t;
            if (ny < min)
                continue;
            double n = (double)ny;
            double e_stat = 2.0 * b / (m * n) - wx / (m * (m - 1) / 2) - wy / (n * (n - 1) / 2);
            double qv = m * n / (m + n) * e_stat;
            if (qv > best) {
                best = qv;
                arg = t;
            }
        }
    }
    *tau = s + arg;
    *q = best;
    return 1;
}

/* The best split over every segment [b[i], b[i+1]) of v: its segment index, tau and q.
 * Returns 0 when no segment can be split. */
static int cp_best(cp_work_t *w, const double *v, const size_t *b, size_t nb, size_t *seg,
                   size_t *tau, double *q)
{
    int found = 0;
    for (size_t i = 0; i + 1 < nb; i++) {
        size_t t;
        double qv;
        if (!cp_best_in(w, v, b[i], b[i + 1], &t, &qv))
            continue;
        if (!found || qv > *q) {
            found = 1;
            *seg = i;
            *tau = t;
            *q = qv;
        }
    }
    return found;
}

static int cp_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void cp_level(const double *x, size_t s, size_t e, double *tmp, double *mean, double *median)
{
    double sum = 0;
    size_t L = e - s;
    for (size_t i = s; i < e; i++)
        sum += x[i];
    *mean = sum / (double)L;
    memcpy(tmp, x + s, L * sizeof *tmp);
    qsort(tmp, L, sizeof *tmp, cp_cmp_double);
    *median = L % 2 ? tmp[L / 2] : (tmp[L / 2 - 1] + tmp[L / 2]) / 2;
}

static int cp_cmp_index(const void *a, const void *b)
{
    const mt__cp_t *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int mt__cp_detect(const double *x, size_t n, const mt__cp_opts_t *opts, mt__cp_t **out,
                  size_t *nout)
{
    *out = NULL;
    *nout = 0;
    mt__cp_opts_t o = opts ? *opts : (mt__cp_opts_t){0};
    if (o.min_size == 0)
        o.min_size = CP_MIN_SIZE;
    if (o.sig_level == 0)
        o.sig_level = CP_SIG_LEVEL;
    if (o.permutations == 0)
        o.permutations = CP_PERMUTATIONS;
    if (o.seed == 0)
        o.seed = CP_SEED;
    if (o.min_size < 2 || !(o.sig_level > 0 && o.sig_level < 1) || (n > 0 && x == NULL))
        return MT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return MT_EINVAL;
    if (n < 2 * o.min_size)
        return MT_OK;
    int constant = 1;
    for (size_t i = 1; i < n && constant; i++)
        constant = x[i] == x[0];
    if (constant)
        return MT_OK;

    int rc = MT_ENOMEM;
    size_t maxcp = n / o.min_size; /* segments of at least min_size each */
    if (o.max_changes && o.max_changes < maxcp)
        maxcp = o.max_changes;
    cp_work_t w = {.n = n, .min = o.min_size};
    w.p = malloc(n * (n + 1) * sizeof *w.p);
    double *perm = malloc(n * sizeof *perm);
    size_t *b = malloc((maxcp + 2) * sizeof *b);
    mt__cp_t *cps = calloc(maxcp + 1, sizeof *cps);
    if (!w.p || !perm || !b || !cps)
        goto out;
    size_t nb = 2, ncp = 0;
    b[0] = 0;
    b[1] = n;
    uint64_t rng = o.seed;
    /* (1 + hits) / (1 + R) > sig_level, i.e. not significant, once hits reach this */
    double limit = o.sig_level * (o.permutations + 1.0) - 1.0;
    while (ncp < maxcp) {
        size_t seg, tau;
        double q;
        if (!cp_best(&w, x, b, nb, &seg, &tau, &q) || !(q > 0))
            break;
        /* permutation test: shuffle within each current segment, search again */
        unsigned hits = 0, r;
        double tie = q * (1 - 1e-9);
        for (r = 0; r < o.permutations; r++) {
            memcpy(perm, x, n * sizeof *perm);
            for (size_t i = 0; i + 1 < nb; i++)
                cp_shuffle(perm + b[i], b[i + 1] - b[i], &rng);
            size_t ps, pt;
            double pq;
            if (cp_best(&w, perm, b, nb, &ps, &pt, &pq) && pq >= tie)
                hits++;
            if ((double)hits > limit)
                break; /* already not significant: the rest cannot change that */
        }
        double p = (1.0 + hits) / (1.0 + o.permutations);
        if (r < o.permutations || p > o.sig_level)
            break;
        mt__cp_t *c = &cps[ncp];
        c->index = tau;
        c->stat = q;
        c->p_value = p;
        c->confidence = 1 - p;
        c->order = (unsigned)(ncp + 1);
        ncp++;
        /* tau splits segment seg: insert it into the sorted boundaries */
        memmove(b + seg + 2, b + seg + 1, (nb - seg - 1) * sizeof *b);
        b[seg + 1] = tau;
        nb++;
    }
    qsort(cps, ncp, sizeof *cps, cp_cmp_index);
    /* levels from the final segments: b[i] is cps[i - 1].index */
    for (size_t i = 0; i < ncp; i++) {
        cp_level(x, i == 0 ? 0 : cps[i - 1].index, cps[i].index, perm, &cps[i].mean_before,
                 &cps[i].median_before);
        cp_level(x, cps[i].index, i + 1 < ncp ? cps[i + 1].index : n, perm, &cps[i].mean_after,
                 &cps[i].median_after);
    }
    if (ncp > 0) {
        *out = cps;
        cps = NULL;
    }
    *nout = ncp;
    rc = MT_OK;
out:
    free(w.p);
    free(perm);
    free(b);
    free(cps);
    return rc;
}
