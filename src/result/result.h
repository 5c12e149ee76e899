/* The result model of a run (docs/adr/0018-result-model.md): the counter table
 * (MT_COUNTER_MAP, mortar/counters.h) as data, and the one builder of the "mortar.result/v1"
 * document (docs/result-schema.json) used by `mortar run --json` (src/cli/json_out.c writes it),
 * `GET /api/v1/runs/{id}/result` (src/server/api.c), the aggregator's stored seconds and
 * summaries, the analysis over stored rows and the HTML report's reader (src/report).
 *
 * No I/O and no printing: documents are jansson objects; writing them is the caller's. */
#ifndef MT_RESULT_RESULT_H
#define MT_RESULT_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mortar/engine.h"

#define MT__RESULT_SCHEMA "mortar.result/v1"

/* ---- the counter table as data ------------------------------------------------------------ */

enum mt__counter_presence {
    MT__CP_ALWAYS,  /* required in snapshots, the summary and each second */
    MT__CP_SUMMARY, /* required in snapshots and the summary; optional in seconds */
    MT__CP_NONZERO, /* written only when not 0; absent = 0 */
};

typedef struct mt__counter_desc {
    const char *name; /* the mt_counters_t member; its snapshot key and metric name */
    size_t off;       /* offsetof(mt_counters_t, member) */
    bool max;         /* merged by taking the larger (else added) */
    enum mt__counter_presence presence;
    const char *summary; /* path in the result's "summary" ("tls.handshakes_full") */
    const char *second;  /* path in each of the result's "seconds" */
    bool per_sent;       /* written as value / sent (rounded), read back as value x sent */
    const char *web;     /* name in the report's columns and web/shared/fmt.js */
    const char *label;   /* for people */
} mt__counter_desc_t;

/* One entry per row of MT_COUNTER_MAP, in its order. */
extern const mt__counter_desc_t mt__counters[];
extern const size_t mt__ncounters;

/* The counter d of c (read / write). */
uint64_t mt__counter_get(const mt_counters_t *c, const mt__counter_desc_t *d);
void mt__counter_set(mt_counters_t *c, const mt__counter_desc_t *d, uint64_t v);
/* Whether per-tag objects carry d: the added, always-present counters written as they are,
 * and `failed` (when not 0). */
bool mt__counter_tagged(const mt__counter_desc_t *d);

/* The member at path ("a" or "a.b") of o (borrowed), or NULL. */
json_t *mt__result_path(const json_t *o, const char *path);

/* ---- counters in result documents --------------------------------------------------------- */

/* Writes c's table counters into o at their summary paths (second false) or second paths,
 * followed by "errors_by_kind" (every kind). tagged: only the counters per-tag objects carry.
 * Nested groups are created when one of their counters is written. Returns MT_OK or
 * MT_ENOMEM. */
int mt__result_put_counters(json_t *o, const mt_counters_t *c, bool second, bool tagged);

/* Reads what mt__result_put_counters wrote (plus "status") back into *c (zeroed first).
 * Counters that may be absent count as 0. MT_OK, or MT_EFORMAT with err naming the member
 * ("schedule_lag_us.mean: missing", "errors_by_kind.reset: expected a whole number >= 0"). */
int mt__result_get_counters(const json_t *o, bool second, mt_counters_t *c, char *err, size_t n);

/* The "status" object of c: {"200": n, ..., "other": n}, only codes seen. NULL: no memory. */
json_t *mt__result_status_json(const mt_counters_t *c);

/* ---- parts of the document ---------------------------------------------------------------- */

/* One second as in the "seconds" array, without "hist"; tags/ntags name s->tags. New
 * reference; NULL when out of memory. */
json_t *mt__result_second_json(const mt_second_t *s, const char *const *tags, size_t ntags);

/* The "exemplars" object of a second: {"slow": [...], "errors": [...]}, each entry {trace_id,
 * span_id (lowercase hex), latency_us, status (when there was a response), error (the kind,
 * when there was none), tag (when tagged)}. New reference; NULL when out of memory. */
json_t *mt__result_exemplars_json(const mt_exemplar_t *slow, size_t nslow,
                                  const mt_exemplar_t *errs, size_t nerrs, const char *const *tags,
                                  size_t ntags);
/* Reads an "exemplars" object back (NULL o: none), tag names looked up in tags (unknown: 0).
 * MT_OK, or MT_EFORMAT with err naming the member. */
int mt__result_exemplars_get(const json_t *o, mt_exemplar_t *slow, size_t *nslow,
                             mt_exemplar_t *errs, size_t *nerrs, const char *const *tags,
                             size_t ntags, char *err, size_t n);

/* The "summary" object of r (with "tags" when r has per-tag totals and tags is given). r's
 * connect / tls / send / wait / recv histograms may be NULL (their breakdown percentiles are
 * then 0). New reference; NULL when out of memory. */
json_t *mt__result_summary_json(const mt_run_result_t *r, bool interrupted, const char *const *tags,
                                size_t ntags);

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of a wall-clock time in ns since the epoch. */
void mt__result_rfc3339(char *buf, size_t n, int64_t unix_ns);

/* Formats a duration given in microseconds with a readable unit: "850us", "1.25ms", "2.10s". */
void mt__fmt_us(char *buf, size_t n, double us);

/* ---- the document builder ----------------------------------------------------------------- */

typedef struct mt__result mt__result_t;

/* Starts a document. config is the ready "config" object (the caller's: from the run's
 * options or its stored spec); the reference is stolen, also on failure. tags (borrowed, kept
 * for the life of the builder) name the run's tags, tags[0] = "" untagged; NULL / 0: none.
 * MT_OK or MT_ENOMEM. Free with mt__result_free. */
int mt__result_new(json_t *config, const char *const *tags, size_t ntags, mt__result_t **out);

/* Appends one second (with its encoded latency histogram as "hist"). MT_OK, MT_ENOMEM or the
 * encoder's error; the first error is kept and returned again by mt__result_finish. */
int mt__result_add_second(mt__result_t *d, const mt_second_t *s);

/* Appends a second already in document form (stolen), e.g. a stored row's; it must carry
 * "hist". MT_OK or MT_ENOMEM (kept as above). */
int mt__result_add_second_json(mt__result_t *d, json_t *sec);

/* Completes the document from the run's totals: "started_at" (from r->start_unix_ns unless
 * set with mt__result_set), "summary", "seconds" and "histograms" (whole-run latency and
 * service, and per-tag latency when r has tags). Returns the first error of the seconds, or
 * MT_ENOMEM / the histogram encoder's error. Call at most once. */
int mt__result_finish(mt__result_t *d, const mt_run_result_t *r, bool interrupted);

/* Sets a top-level member (steals value), e.g. "verdicts", "exit_code", "started_at". A NULL
 * value records MT_ENOMEM. */
void mt__result_set(mt__result_t *d, const char *key, json_t *value);

/* The document (borrowed; valid until mt__result_free). */
json_t *mt__result_doc(const mt__result_t *d);

/* Releases d. NULL is fine. */
void mt__result_free(mt__result_t *d);

#endif
