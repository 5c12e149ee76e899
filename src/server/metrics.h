/* Prometheus metrics of the server: a fixed registry of counters and gauges (with label
 * sets), safe to update from any thread, rendered in the text exposition format 0.0.4
 * (checked by promtool in the tests). */
#ifndef MT_SERVER_METRICS_H
#define MT_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt_metrics mt_metrics_t;

enum mt_metric_type { MT_COUNTER, MT_GAUGE };

int mt_metrics_new(mt_metrics_t **out);
void mt_metrics_free(mt_metrics_t *m);
/* Declares a family (name without labels) once, before use. */
int mt_metrics_declare(mt_metrics_t *m, const char *name, enum mt_metric_type t, const char *help);
/* labels: "" or Prometheus label text without braces, e.g. "method=\"GET\",code=\"200\"". */
void mt_metrics_add(mt_metrics_t *m, const char *name, const char *labels, double v);
void mt_metrics_set(mt_metrics_t *m, const char *name, const char *labels, double v);
void mt_metrics_remove(mt_metrics_t *m, const char *name, const char *labels);
/* The whole registry as exposition text, malloc'd. */
char *mt_metrics_render(mt_metrics_t *m, size_t *len);

#endif
