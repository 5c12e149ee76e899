/* Splitting a run between agents (include/mortar/split.h, ADR 0023): largest remainder for
 * counts, smooth weighted round robin for the stripe of the request sequence. */
#include "mortar/split.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Splits total into out[0..n) proportionally to w (sum W > 0) by largest remainder (ties: the
 * lower index). With min1 (and total >= n) every share is then raised to at least 1 by taking
 * from the largest share (ties: the lower index). */
static void lr_split(uint64_t total, const uint64_t *w, size_t n, uint64_t *out, uint64_t *rem,
                     bool min1)
{
    uint64_t W = 0, given = 0;
    for (size_t i = 0; i < n; i++)
        W += w[i];
    for (size_t i = 0; i < n; i++) {
        /* total <= 2^31 and w[i] <= 2^32 fit: 2^63 */
        unsigned __int128 q = (unsigned __int128)total * w[i];
        out[i] = (uint64_t)(q / W);
        rem[i] = (uint64_t)(q % W);
        given += out[i];
    }
    while (given < total) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (rem[i] > rem[best])
                best = i;
        out[best]++;
        rem[best] = 0;
        given++;
    }
    if (!min1 || total < n)
        return;
    for (size_t i = 0; i < n; i++) {
        if (out[i] > 0)
            continue;
        size_t big = 0;
        for (size_t k = 1; k < n; k++)
            if (out[k] > out[big])
                big = k;
        out[big]--;
        out[i] = 1;
    }
}

/* Reduces w by their gcd and, when their sum is above MT_SPLIT_MAX_PERIOD, scales them down to
 * it (each at least 1). */
static void reduce_weights(uint64_t *w, size_t n, uint64_t *tmp, uint64_t *rem)
{
    uint64_t g = 0, sum = 0;
    for (size_t i = 0; i < n; i++)
        g = gcd64(g, w[i]);
    for (size_t i = 0; i < n; i++) {
        w[i] /= g;
        sum += w[i];
    }
    if (sum <= MT_SPLIT_MAX_PERIOD)
        return;
    lr_split(MT_SPLIT_MAX_PERIOD, w, n, tmp, rem, true);
    memcpy(w, tmp, n * sizeof *w);
    g = 0;
    for (size_t i = 0; i < n; i++)
        g = gcd64(g, w[i]);
    for (size_t i = 0; i < n; i++)
        w[i] /= g;
}

void mt_part_dispose(mt_part_t *part)
{
    if (part == NULL)
        return;
    free(part->residues);
    memset(part, 0, sizeof *part);
}

mt_stripe_t mt_part_stripe(const mt_part_t *part)
{
    return (mt_stripe_t){
        .period = part->period, .residues = part->residues, .nresidues = part->nresidues};
}

int mt_split(const mt_split_model_t *model, const uint32_t *weights, size_t n, mt_part_t *parts,
             char *err, size_t errlen)
{
    uint64_t *w = NULL, *conns = NULL, *thr = NULL, *tmp = NULL, *rem = NULL;
    int64_t *cur = NULL;
    int rc = MT_EINVAL;

    if (errlen > 0)
        err[0] = '\0';
    if (model == NULL || weights == NULL || parts == NULL || n == 0) {
        snprintf(err, errlen, "split: no agents");
        return MT_EINVAL;
    }
    if (n > MT_SPLIT_MAX_PERIOD) {
        snprintf(err, errlen, "split: at most %d agents per run (got %zu)", MT_SPLIT_MAX_PERIOD, n);
        return MT_EINVAL;
    }
    if (model->connections < 1 || model->threads < 1 || model->threads > model->connections) {
        snprintf(err, errlen,
                 "split: connections %d and threads %d: need 1 <= threads <= "
                 "connections",
                 model->connections, model->threads);
        return MT_EINVAL;
    }
    if ((size_t)model->connections < n) {
        snprintf(err, errlen, "%zu agents need at least %zu connections (got %d)", n, n,
                 model->connections);
        return MT_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (weights[i] == 0) {
            snprintf(err, errlen, "split: weight of agent %zu is 0", i);
            return MT_EINVAL;
        }
    memset(parts, 0, n * sizeof *parts);
    rc = MT_ENOMEM;
    w = calloc(n, sizeof *w);
    conns = calloc(n, sizeof *conns);
    thr = calloc(n, sizeof *thr);
    tmp = calloc(n, sizeof *tmp);
    rem = calloc(n, sizeof *rem);
    cur = calloc(n, sizeof *cur);
    if (!w || !conns || !thr || !tmp || !rem || !cur)
        goto out;

    for (size_t i = 0; i < n; i++)
        w[i] = weights[i];
    lr_split((uint64_t)model->connections, w, n, conns, rem, true);
    lr_split((uint64_t)model->threads, w, n, thr, rem, true);
    for (size_t i = 0; i < n; i++) {
        if (thr[i] < 1)
            thr[i] = 1;
        if (thr[i] > conns[i])
            thr[i] = conns[i];
    }
    /* stripe weights: the agents' weights (open model) or their connections (closed model:
     * each agent's share of the sequence follows how many requests it keeps in flight) */
    if (!model->open)
        memcpy(w, conns, n * sizeof *w);
    reduce_weights(w, n, tmp, rem);

    uint64_t period = 0;
    for (size_t i = 0; i < n; i++)
        period += w[i];
    for (size_t i = 0; i < n; i++) {
        parts[i].index = (uint32_t)i;
        parts[i].of = (uint32_t)n;
        parts[i].period = (uint32_t)period;
        parts[i].connections = (int)conns[i];
        parts[i].threads = (int)thr[i];
        parts[i].residues = malloc(w[i] * sizeof *parts[i].residues);
        if (parts[i].residues == NULL)
            goto out;
    }
    /* smooth weighted round robin over one period: every slot goes to the agent with the
     * highest credit (ties: the lower index); each agent gets exactly w[i] slots, spread out */
    for (uint64_t k = 0; k < period; k++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            cur[i] += (int64_t)w[i];
            if (cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (int64_t)period;
        parts[best].residues[parts[best].nresidues++] = (uint32_t)k;
    }
    rc = MT_OK;
out:
    if (rc != MT_OK) {
        for (size_t i = 0; i < n; i++)
            mt_part_dispose(&parts[i]);
        if (rc == MT_ENOMEM)
            snprintf(err, errlen, "split: out of memory");
    }
    free(w);
    free(conns);
    free(thr);
    free(tmp);
    free(rem);
    free(cur);
    return rc;
}

int mt_part_check(const mt_part_t *p, char *msg, size_t msglen)
{
    if (p->of < 1 || p->of > MT_SPLIT_MAX_PERIOD || p->index >= p->of) {
        snprintf(msg, msglen, "index %u of %u: need index < of <= %d", p->index, p->of,
                 MT_SPLIT_MAX_PERIOD);
        return MT_EINVAL;
    }
    if (p->period < 1 || p->period > MT_SPLIT_MAX_PERIOD) {
        snprintf(msg, msglen, "period: must be between 1 and %d (got %u)", MT_SPLIT_MAX_PERIOD,
                 p->period);
        return MT_EINVAL;
    }
    if (p->nresidues < 1 || p->nresidues > p->period || p->residues == NULL) {
        snprintf(msg, msglen, "residues: 1..period entries (got %u)", p->nresidues);
        return MT_EINVAL;
    }
    for (uint32_t i = 0; i < p->nresidues; i++) {
        if (p->residues[i] >= p->period) {
            snprintf(msg, msglen, "residues: %u at %u is not below the period %u", p->residues[i],
                     i, p->period);
            return MT_EINVAL;
        }
        if (i > 0 && p->residues[i] <= p->residues[i - 1]) {
            snprintf(msg, msglen, "residues: not ascending at %u", i);
            return MT_EINVAL;
        }
    }
    if (p->connections < 1 || p->threads < 1 || p->threads > p->connections) {
        snprintf(msg, msglen, "connections %d, threads %d: need 1 <= threads <= connections",
                 p->connections, p->threads);
        return MT_EINVAL;
    }
    return MT_OK;
}

char *mt_part_to_json(const mt_part_t *p)
{
    json_t *res = json_array(), *o = NULL;
    char *s = NULL;
    if (res == NULL)
        return NULL;
    for (uint32_t i = 0; i < p->nresidues; i++)
        if (json_array_append_new(res, json_integer(p->residues[i])) != 0)
            goto out;
    o = json_pack("{s:I, s:I, s:I, s:O, s:i, s:i}", "index", (json_int_t)p->index, "of",
                  (json_int_t)p->of, "period", (json_int_t)p->period, "residues", res,
                  "connections", p->connections, "threads", p->threads);
    if (o != NULL)
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(o);
    json_decref(res);
    return s;
}

/* An integer member in [lo, hi]; MT_EPARSE with the key named otherwise. */
static int get_uint(const json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *out,
                    mt_parse_err_t *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL) {
        snprintf(err->msg, sizeof err->msg, "%s: missing", key);
        return MT_EPARSE;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err->msg, sizeof err->msg, "%s: must be an integer between %lld and %lld", key,
                 (long long)lo, (long long)hi);
        return MT_EPARSE;
    }
    *out = json_integer_value(v);
    return MT_OK;
}

int mt_part_from_json(const char *text, size_t len, mt_part_t *out, mt_parse_err_t *err)
{
    json_error_t je;
    json_t *o;
    json_int_t index, of, period, conns, threads;
    const char *key;
    json_t *v;
    int rc = MT_EPARSE;

    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL) {
        err->line = je.line > 0 ? je.line : 0;
        err->col = je.column > 0 ? je.column : 0;
        snprintf(err->msg, sizeof err->msg, "part: %.150s", je.text);
        return MT_EPARSE;
    }
    if (!json_is_object(o)) {
        snprintf(err->msg, sizeof err->msg, "part: not a JSON object");
        goto out;
    }
    json_object_foreach(o, key, v)
    {
        static const char *const known[] = {"index",    "of",          "period",
                                            "residues", "connections", "threads"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            snprintf(err->msg, sizeof err->msg, "part: unknown key '%.60s'", key);
            goto out;
        }
    }
    if (get_uint(o, "index", 0, MT_SPLIT_MAX_PERIOD - 1, &index, err) ||
        get_uint(o, "of", 1, MT_SPLIT_MAX_PERIOD, &of, err) ||
        get_uint(o, "period", 1, MT_SPLIT_MAX_PERIOD, &period, err) ||
        get_uint(o, "connections", 1, 1000000000, &conns, err) ||
        get_uint(o, "threads", 1, 1000000000, &threads, err))
        goto out;
    v = json_object_get(o, "residues");
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > (size_t)period) {
        snprintf(err->msg, sizeof err->msg, "residues: must be an array of 1..period integers");
        goto out;
    }
    out->index = (uint32_t)index;
    out->of = (uint32_t)of;
    out->period = (uint32_t)period;
    out->connections = (int)conns;
    out->threads = (int)threads;
    out->residues = malloc(json_array_size(v) * sizeof *out->residues);
    if (out->residues == NULL) {
        snprintf(err->msg, sizeof err->msg, "part: out of memory");
        rc = MT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= period) {
            snprintf(err->msg, sizeof err->msg,
                     "residues: entry %zu must be an integer below the "
                     "period",
                     i);
            goto out;
        }
        out->residues[out->nresidues++] = (uint32_t)json_integer_value(x);
    }
    {
        char msg[sizeof err->msg - 16];
        if (mt_part_check(out, msg, sizeof msg) != MT_OK) {
            snprintf(err->msg, sizeof err->msg, "part: %.140s", msg);
            goto out;
        }
    }
    rc = MT_OK;
out:
    json_decref(o);
    if (rc != MT_OK)
        mt_part_dispose(out);
    return rc;
}
