/* Change points of a test's history (changes.h). */
#include "server/changes.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"
#include "server/log.h"
#include "stats/changepoint.h"

const char *const mt__changes_metrics[] = {"p50", "p90", "p99", "p999", "rps", "error_rate", NULL};

#define CH_MIN_SIZE 5     /* runs on each side of a change */
#define CH_SIG      0.001 /* significance level of the permutation test */
#define CH_PERM     999   /* permutations of each test */
/* A change point found within this many runs of a known one is that one: near the end of the
 * history a change is placed at most min_size - 1 runs early (no split leaves fewer than
 * min_size runs after it) and moves to its place as runs arrive; two real change points are at
 * least min_size apart. */
#define CH_NEAR (CH_MIN_SIZE - 1)

int mt__changes_metric_ok(const char *m)
{
    for (size_t i = 0; m && mt__changes_metrics[i]; i++)
        if (strcmp(m, mt__changes_metrics[i]) == 0)
            return 1;
    return 0;
}

/* Up is worse for latency and errors, down is worse for throughput. */
static const char *ch_direction(const char *metric, double before, double after)
{
    int up = after > before;
    return (strcmp(metric, "rps") == 0 ? !up : up) ? "regression" : "improvement";
}

static json_t *ch_level(double mean, double median, size_t runs)
{
    return json_pack("{s:f,s:f,s:I}", "mean", mean, "median", median, "runs", (json_int_t)runs);
}

/* One config segment: items[from, to) whose config version is the same. */
static int ch_segment(const char *metric, const json_t *items, size_t from, size_t to,
                      int with_near, const mt__cp_opts_t *opts, json_t *changes)
{
    size_t n = 0, L = to - from;
    double *x = malloc((L ? L : 1) * sizeof *x);
    size_t *pos = malloc((L ? L : 1) * sizeof *pos);
    int rc = MT_ENOMEM;
    if (!x || !pos)
        goto out;
    for (size_t i = from; i < to; i++) {
        json_t *v = json_object_get(json_array_get(items, i), metric);
        if (json_is_number(v) && isfinite(json_number_value(v))) {
            x[n] = json_number_value(v);
            pos[n++] = i;
        }
    }
    mt__cp_t *cp = NULL;
    size_t ncp = 0;
    rc = mt__cp_detect(x, n, opts, &cp, &ncp);
    if (rc != MT_OK)
        goto out;
    for (size_t k = 0; k < ncp; k++) {
        const mt__cp_t *c = &cp[k];
        size_t at = pos[c->index];
        const json_t *run = json_array_get(items, at);
        size_t lo = k == 0 ? 0 : cp[k - 1].index, hi = k + 1 < ncp ? cp[k + 1].index : n;
        json_t *rel = c->median_before != 0
                          ? json_real((c->median_after - c->median_before) / fabs(c->median_before))
                          : json_null();
        int same = c->median_after == c->median_before;
        /* the last change with only min_size runs after it: no split may leave fewer, so the
         * change may lie later than this; the next runs settle it */
        int provisional = k + 1 == ncp && to == json_array_size(items) &&
                          hi - c->index == n - c->index && n - c->index == opts->min_size;
        json_t *o = json_pack("{s:O,s:I,s:O,s:O,s:o,s:o,s:o,s:s,s:f,s:f}", "run_id",
                              json_object_get(run, "run_id"), "index", (json_int_t)at, "started_at",
                              json_object_get(run, "started_at"), "config_version",
                              json_object_get(run, "config_version"), "before",
                              ch_level(c->mean_before, c->median_before, c->index - lo), "after",
                              ch_level(c->mean_after, c->median_after, hi - c->index),
                              "relative_change", rel, "direction",
                              same ? ch_direction(metric, c->mean_before, c->mean_after)
                                   : ch_direction(metric, c->median_before, c->median_after),
                              "confidence", c->confidence, "p_value", c->p_value);
        if (o)
            json_object_set_new(o, "provisional", json_boolean(provisional));
        if (o && with_near) {
            json_t *near = json_array();
            size_t a = c->index > CH_NEAR ? c->index - CH_NEAR : 0;
            size_t b = c->index + CH_NEAR + 1 < n ? c->index + CH_NEAR + 1 : n;
            for (size_t i = a; i < b; i++)
                json_array_append(near, json_object_get(json_array_get(items, pos[i]), "run_id"));
            json_object_set_new(o, "near", near);
        }
        if (o == NULL || json_array_append_new(changes, o) != 0) {
            rc = MT_ENOMEM;
            break;
        }
    }
    free(cp);
out:
    free(x);
    free(pos);
    return rc;
}

static int ch_same_config(const json_t *a, const json_t *b)
{
    return json_equal(json_object_get(a, "config_version"), json_object_get(b, "config_version")) ||
           (json_is_null(json_object_get(a, "config_version")) &&
            json_is_null(json_object_get(b, "config_version")));
}

json_t *mt__changes_doc(const char *test_id, const json_t *history, const char *metric,
                        int with_near)
{
    const json_t *items = json_object_get(history, "items");
    size_t n = json_array_size(items);
    mt__cp_opts_t o = {.min_size = CH_MIN_SIZE, .sig_level = CH_SIG, .permutations = CH_PERM};
    json_t *runs = json_array(), *changes = json_array(), *cfg = json_array();
    json_t *doc =
        json_pack("{s:s,s:s,s:{s:s,s:f,s:I,s:I,s:b},s:o,s:o,s:o}", "test_id", test_id, "metric",
                  metric, "method", "name", "e-divisive means", "significance", CH_SIG,
                  "permutations", (json_int_t)CH_PERM, "min_size", (json_int_t)CH_MIN_SIZE,
                  "segments_on_config", 1, "runs", runs, "changes", changes, "config_changes", cfg);
    if (doc == NULL)
        return NULL;
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(items, i);
        int boundary = i > 0 && !ch_same_config(json_array_get(items, i - 1), r);
        json_t *v = json_object_get(r, metric);
        json_array_append_new(
            runs,
            json_pack("{s:O,s:O,s:O,s:O,s:O,s:b}", "run_id", json_object_get(r, "run_id"), "state",
                      json_object_get(r, "state"), "started_at", json_object_get(r, "started_at"),
                      "config_version", json_object_get(r, "config_version"), "value",
                      json_is_number(v) ? v : json_null(), "config_changed", boundary));
        if (boundary) {
            json_array_append_new(
                cfg, json_pack("{s:O,s:I,s:O,s:O}", "run_id", json_object_get(r, "run_id"), "index",
                               (json_int_t)i, "from",
                               json_object_get(json_array_get(items, i - 1), "config_version"),
                               "to", json_object_get(r, "config_version")));
            if (ch_segment(metric, items, from, i, with_near, &o, changes) != MT_OK)
                goto fail;
            from = i;
        }
    }
    if (ch_segment(metric, items, from, n, with_near, &o, changes) != MT_OK)
        goto fail;
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

void mt__changes_after_run(mt__store_t *s, const json_t *run)
{
    const char *test_id = json_string_value(json_object_get(run, "test_id"));
    const char *state = json_string_value(json_object_get(run, "state"));
    if (test_id == NULL || state == NULL ||
        (strcmp(state, "passed") != 0 && strcmp(state, "failed") != 0 &&
         strcmp(state, "stopped") != 0))
        return;
    json_t *hist = NULL, *found = json_object(), *fresh = NULL;
    int rc = s->ops->test_history(s, test_id, MT__CHANGES_LIMIT, &hist);
    for (size_t i = 0; rc == MT_OK && mt__changes_metrics[i]; i++) {
        json_t *doc = mt__changes_doc(test_id, hist, mt__changes_metrics[i], 1);
        if (doc == NULL) {
            rc = MT_ENOMEM;
            break;
        }
        json_object_set(found, mt__changes_metrics[i], json_object_get(doc, "changes"));
        json_decref(doc);
    }
    if (rc == MT_OK)
        rc = s->ops->test_changes_put(s, test_id, found, &fresh);
    if (rc != MT_OK) {
        mt__log(MT_LOG_WARN, "change points not updated", "test", test_id, "error", mt_strerror(rc),
                NULL);
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(fresh, i, c)
        {
            mt__log(MT_LOG_INFO, "change point", "test", test_id, "metric",
                    json_string_value(json_object_get(c, "metric")), "run",
                    json_string_value(json_object_get(c, "run_id")), "direction",
                    json_string_value(json_object_get(c, "direction")), NULL);
        }
    }
    json_decref(hist);
    json_decref(found);
    json_decref(fresh);
}
