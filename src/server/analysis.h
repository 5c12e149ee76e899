/* Analysis over stored rows (aggregator.h's row format): a window's summary recomputed from
 * the merged histograms, and the comparison of two summaries against a test's tolerances. */
#ifndef MT_SERVER_ANALYSIS_H
#define MT_SERVER_ANALYSIS_H

#include <stddef.h>

#include <jansson.h>

#include "mortar/engine.h"
#include "server/aggregator.h"

/* The totals of rows (any order; rows of every tag may be mixed) as a run's result: counters
 * added, histograms merged, per tag in the order tags first appear. MT_OK, or MT_EPARSE /
 * MT_ENOMEM with err filled ("row 3: data_json.completed: missing"). The tag names are
 * borrowed from rows: keep them alive. Free with mt__analysis_totals_free. */
typedef struct mt__analysis_totals mt__analysis_totals_t;
int mt__analysis_totals(const mt__agg_row_t *rows, size_t n, mt__analysis_totals_t **out, char *err,
                        size_t errlen);
/* The totals as a run result (borrowed from t); its connect/send/... histograms are NULL. */
const mt_run_result_t *mt__analysis_result(const mt__analysis_totals_t *t);
/* The tag names of the result's tags (borrowed; NULL when there are none). */
const char *const *mt__analysis_tags(const mt__analysis_totals_t *t, size_t *ntags);
void mt__analysis_totals_free(mt__analysis_totals_t *t);

/* The "config" object of a result document built from rows: totals are the rows' totals,
 * nseconds the number of untagged rows. Returns a new reference (NULL: out of memory). */
typedef json_t *(*mt__analysis_config_cb)(const mt_run_result_t *totals, size_t nseconds, void *ud);

/* The whole "mortar.result/v1" document of a run's stored rows, by the builder `mortar run
 * --json` uses (src/result): the untagged rows as its seconds (with their latency histograms as
 * "hist"), the summary and histograms from mt__analysis_totals, "config" from config(). The
 * caller may set "started_at" (else the epoch) and "verdicts". MT_OK with *out a new
 * reference, or MT_EPARSE / MT_ENOMEM with err filled. */
int mt__analysis_result_doc(const mt__agg_row_t *rows, size_t n, mt__analysis_config_cb config,
                            void *ud, json_t **out, char *err, size_t errlen);

/* Summary of rows (any order; rows of every tag may be mixed): the result JSON's "summary"
 * shape (requests, rps, duration_s, errors, errors_by_kind, status, latency_us, service_us
 * percentiles, ...) plus "tags" when tagged rows are present. NULL with err filled on a
 * corrupt row. */
json_t *mt__analysis_summary(const mt__agg_row_t *rows, size_t n, char *err, size_t errlen);

/* The baseline verdict of a run (result/baseline.h, docs/analysis.md): the untagged rows of
 * run and base (their summaries and their seconds, tagged rows ignored) compared by
 * mt__bl_compare with the test's tolerances (NULL: the defaults); base_id is named in it.
 * MT_OK with *out the verdict object (a new reference), or MT_EPARSE / MT_ENOMEM with err
 * filled. */
int mt__analysis_compare(const mt__agg_row_t *run, size_t nrun, const mt__agg_row_t *base,
                         size_t nbase, const json_t *tolerances, const char *base_id, json_t **out,
                         char *err, size_t errlen);

#endif
