/* HTML reports of mortar results (`mortar report`, `mortar run --html`): one self-contained page
 * (the chart library, the page's script and style inline, no network needed) with the run's
 * charts, or two runs compared; and the same comparison as a text table.
 *
 * Inputs are result documents ("mortar.result/v1", docs/result-schema.json) as JSON text. They
 * are parsed and checked here (jansson), reduced to what the charts draw (columnar per-second
 * arrays; the per-second histograms are dropped; the whole-run histograms are decoded into
 * percentile-distribution points), and embedded in the page as JSON. See docs/report.md.
 *
 * Errors (all functions): MT_OK; MT_EFORMAT when an input is not a usable mortar result (not
 * JSON, wrong schema id, a missing or mistyped field, a corrupt histogram: err names the input
 * and the field, e.g. "a.json: seconds[3].completed: missing"); MT_ESYS when the output cannot
 * be written (err says which file and why); MT_ENOMEM. Nothing is ever printed to stderr. */
#ifndef MT_REPORT_REPORT_H
#define MT_REPORT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* One input: JSON text (not NUL-terminated; borrowed) and a label for messages and the page
 * ("a.json"). label NULL: "result" for a single run, "A" / "B" in a comparison. */
typedef struct mt__report_src {
    const char *json;
    size_t len;
    const char *label;
} mt__report_src_t;

/* Writes the HTML page for json_a, or json_a compared with json_b (json_b NULL: a single run),
 * to out_path atomically: to "out_path.tmp.PID" in the same directory, then renamed over
 * out_path, so readers never see half a page. On error nothing is left behind. */
int mt__report_write(const char *json_a, size_t len_a, const char *json_b, size_t len_b,
                     const char *out_path, char *err, size_t errlen);

/* Prints the comparison table (A, B, delta, delta %) of json_a and json_b to f; with json_b
 * NULL, one run's key numbers. Same rows as the page's table. */
int mt__report_compare_text(FILE *f, const char *json_a, size_t len_a, const char *json_b,
                            size_t len_b, char *err, size_t errlen);

/* The same three with labels. b NULL: a single run. mt__report_html writes the page to a
 * stream (not atomically; the caller owns f). */
int mt__report_html(FILE *f, const mt__report_src_t *a, const mt__report_src_t *b, char *err,
                    size_t errlen);
int mt__report_write_file(const mt__report_src_t *a, const mt__report_src_t *b,
                          const char *out_path, char *err, size_t errlen);
int mt__report_text(FILE *f, const mt__report_src_t *a, const mt__report_src_t *b, char *err,
                    size_t errlen);

/* The data the page embeds, as a new JSON object (caller json_decref's it):
 *   {"generator": "mortar 0.1.0", "runs": [RUN, RUN?], "rows": [ROW...]}
 *   RUN  = {"label", "mortar_version", "started_at", "config", "summary", "verdicts"?,
 *           "seconds": {"t": [], "span": [], "due": [], "sent": [], "completed": [],
 *                       "errors": [], "dropped": [], "late": [], "open": [], "backlog": [],
 *                       "lag_mean": [], "lag_max": [],
 *                       "lat": {"p50": [], "p90": [], "p99": [], "p999": [], "max": []},
 *                       "svc": {...same...}, "status": {"200": [], ...},
 *                       "errors_by_kind": {KIND: [], ...only kinds seen...}},
 *           "dist": {"latency": {"x": [], "p": [], "v": []}, "service": {...}}}
 *   ROW  = {"g": group, "n": name, "u": "count"|"rate"|"us"|"pct"|"s", "a": num|null,
 *           "b": num|null (comparisons only), "better": "lower"|"higher"|null}
 * dist.x is 1/(1-p/100) (HdrHistogram's percentile axis), v the latency in us at percentile p. */
int mt__report_data(const mt__report_src_t *a, const mt__report_src_t *b, json_t **out, char *err,
                    size_t errlen);

/* The embedded web assets (generated at build time by cmake/web.cmake from web/report/ and the
 * chart library in node_modules). */
typedef struct mt__asset {
    const char *name; /* "report.html", "report.js", "report.css", "uPlot.iife.min.js", ... */
    const unsigned char *data;
    size_t len;
} mt__asset_t;
extern const mt__asset_t mt__report_assets[];
extern const size_t mt__report_nassets;

#endif
