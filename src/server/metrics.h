/* Prometheus metrics of the server: a fixed registry of counters and gauges (with label
 * sets), safe to update from any thread, rendered in the text exposition format 0.0.4
 * (checked by promtool in the tests). */
#ifndef MT_SERVER_METRICS_H
#define MT_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt__metrics mt__metrics_t;

/* MT_SUMMARY: precomputed quantiles, each series set like a gauge with a "quantile" label
 * (e.g. live-run latency); rendered with TYPE summary, which is what promtool expects of a
 * "quantile" label. */
enum mt__metric_type { MT_COUNTER, MT_GAUGE, MT_SUMMARY };

int mt__metrics_new(mt__metrics_t **out);
void mt__metrics_free(mt__metrics_t *m);
/* Declares a family (name without labels) once, before use. Counter names must end in
 * _total. MT_OK (also when declared again with the same type), MT_EINVAL (bad name),
 * MT_ECONFLICT (declared before with the other type), MT_ETOOBIG (256 families). */
int mt__metrics_declare(mt__metrics_t *m, const char *name, enum mt__metric_type t,
                        const char *help);
/* labels: "" or Prometheus label text without braces, e.g. "method=\"GET\",code=\"200\"".
 * The order of labels does not matter (they are stored sorted). Updates of undeclared
 * families, with malformed label text, or adding a negative amount to a counter are ignored;
 * a family holds at most 20000 label sets. */
void mt__metrics_add(mt__metrics_t *m, const char *name, const char *labels, double v);
void mt__metrics_set(mt__metrics_t *m, const char *name, const char *labels, double v);
void mt__metrics_remove(mt__metrics_t *m, const char *name, const char *labels);
/* Builds label text from key/value pairs ending with NULL, values escaped (\\ \" \n; bytes
 * that are not UTF-8 become U+FFFD): mt__metrics_labels(buf, sizeof buf, "run", id, "test",
 * name, NULL). MT_OK, MT_EINVAL (bad label name) or MT_ETOOBIG; out is "" on error. */
int mt__metrics_labels(char *out, size_t n, ...) __attribute__((sentinel));
/* The whole registry as exposition text (families sorted by name, series by labels),
 * malloc'd, NUL-terminated, freed by the caller; NULL when memory is short. */
char *mt__metrics_render(mt__metrics_t *m, size_t *len);

#endif
