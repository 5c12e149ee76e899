/* Change points across a test's history (issue 18, docs/analysis.md "Change points", ADR 0030):
 * E-divisive means (src/stats/changepoint.h) over one metric of the test's finished runs, split
 * first at every change of the test's config (a change of the test is not a change of the
 * service), and the test.changed event when a run's end reveals a change point not seen before. */
#ifndef MT_SERVER_CHANGES_H
#define MT_SERVER_CHANGES_H

#include <stddef.h>

#include <jansson.h>

#include "server/store.h"

#define MT__CHANGES_LIMIT     100 /* runs looked at by default (and after every run) */
#define MT__CHANGES_LIMIT_MAX 500 /* the most a request may ask for */

/* The metrics, NULL-terminated: p50, p90, p99, p999 (latency, us), rps, error_rate. */
extern const char *const mt__changes_metrics[];
/* Whether m is one of them. */
int mt__changes_metric_ok(const char *m);

/* The change points of metric over history (test_history's object, borrowed) as the body of
 * GET /tests/{id}/changes: {"test_id","metric","method":{...},"runs":[...],"changes":[...],
 * "config_changes":[...]} (docs/api.md). with_near: each change also carries "near", the run
 * ids within min_size - 1 positions of it (what test_changes_put matches on). NULL when out of
 * memory. */
json_t *mt__changes_doc(const char *test_id, const json_t *history, const char *metric,
                        int with_near);

/* After a run ended: when it is a finished run of a test, detects on every metric and records
 * what it finds (store test_changes_put: new change points raise test.changed). Errors are
 * logged, never returned: the run's end is stored already. */
void mt__changes_after_run(mt__store_t *s, const json_t *run);

#endif
