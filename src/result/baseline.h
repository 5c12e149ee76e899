/* The baseline verdict of a run (docs/analysis.md, ADR 0029): the run's summary and seconds
 * against a baseline run's, metric by metric, by mortar/compare.h's rule (beyond the tolerance
 * AND significant by a Mann-Whitney U test on the per-second values). Shared by `mortar run
 * --baseline` (src/cli) and the server's end-of-run verdict and /compare (src/server). */
#ifndef MT_RESULT_BASELINE_H
#define MT_RESULT_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* The per-second values of one run, one array per compared metric. */
typedef struct mt__bl_series mt__bl_series_t;

/* A new empty series (NULL: out of memory). Free with mt__bl_series_free. */
mt__bl_series_t *mt__bl_series_new(void);
void mt__bl_series_free(mt__bl_series_t *s);
/* Adds one second in the result JSON's "seconds" shape (t, span_s, completed, errors,
 * latency_us{p50,...}). A second shorter than half a second (a run's last, partial one) is
 * skipped, and so are a second's latencies when it completed nothing. MT_OK, MT_EINVAL when
 * sec is not such an object (its fields missing), MT_ENOMEM. */
int mt__bl_series_add(mt__bl_series_t *s, const json_t *sec);
/* Adds every element of a result document's "seconds" array (doc may be the whole document).
 * MT_OK, MT_EINVAL with err filled ("seconds[3]: ...") when the document has no such array. */
int mt__bl_series_add_doc(mt__bl_series_t *s, const json_t *doc, char *err, size_t errlen);
/* How many seconds were taken. */
size_t mt__bl_series_seconds(const mt__bl_series_t *s);

/* Reads tolerances: an object {"p50_pct": 10, "p90_pct": 10, "p95_pct": 10, "p99_pct": 10,
 * "p999_pct": 10, "rps_pct": 5, "error_rate_abs": 0.01, "alpha": 0.01} (missing keys take
 * these defaults; NULL = all defaults).
 *
 * Compares the run (its summary in the result JSON's "summary" shape and its seconds) with
 * the baseline's. Returns a new verdict object (NULL: out of memory):
 *   {"kind": "baseline", "method": "mann-whitney-u", "alpha": 0.01, "passed": bool,
 *    "regressed": bool, "regressions": ["p99_us", ...], "message": "p99_us +189.0% (p=0.0001)",
 *    "seconds": {"run": n, "base": n},
 *    "metrics": [{"name": "p50_us", "run", "base", "delta", "delta_pct" (null when base is 0),
 *                 "tolerance", "tolerance_kind": "pct"|"abs", "exceeds_tolerance": bool,
 *                 "p_value": number|null (null: too few seconds to test), "significant": bool,
 *                 "decision": "unchanged"|"regressed"|"improved"|"not_significant"|
 *                             "insufficient_data", "regression": bool}, ...]}
 * A metric missing from either summary is left out. base_run (may be NULL) is set as
 * "base_run". */
json_t *mt__bl_compare(const json_t *run_summary, const mt__bl_series_t *run,
                       const json_t *base_summary, const mt__bl_series_t *base,
                       const json_t *tolerances, const char *base_run);

/* The tolerance keys accepted (NULL-terminated), for validators. */
extern const char *const mt__bl_tolerance_keys[];

/* Parses "p99=10%", "rps=5%", "error_rate=0.01", "alpha=0.05" (the CLI's --tolerance) into
 * tolerances (an object): "p99" is p99_pct, "error_rate" is error_rate_abs (a fraction, or a
 * percent with '%': "error_rate=1%" = 0.01). MT_OK, or MT_EINVAL with err filled. */
int mt__bl_tolerance_parse(const char *text, json_t *tolerances, char *err, size_t errlen);

/* Prints the verdict as a table for people. */
void mt__bl_print(FILE *f, const json_t *verdict);

#endif
