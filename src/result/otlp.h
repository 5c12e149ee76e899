/* OTLP export (docs/tracing.md, docs/adr/0036-trace-links-and-otlp.md): a run's seconds pushed to
 * an OpenTelemetry collector as OTLP/HTTP JSON (POST URL/v1/metrics), by one background thread
 * per exporter: a bounded queue that never blocks the caller (a full queue drops the oldest
 * second and counts it), batches of up to MT__OTLP_BATCH seconds per request, each request
 * retried on a network error, 429 or 5xx after 0.25, 0.5 and 1 s before it counts as failed.
 * Used by `mortar run --otlp` and `mortar serve --otlp`. */
#ifndef MT_RESULT_OTLP_H
#define MT_RESULT_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mortar/hist.h"

#define MT__OTLP_QUEUE 4096 /* seconds waiting to be sent, at most */
#define MT__OTLP_BATCH 64   /* seconds per request, at most */

typedef struct mt__otlp mt__otlp_t;

typedef struct mt__otlp_stats {
    uint64_t exported; /* seconds the collector accepted */
    uint64_t failed;   /* seconds in requests that failed after their retries */
    uint64_t dropped;  /* seconds dropped because the queue was full */
    uint64_t retries;  /* requests sent again */
    uint64_t requests; /* requests sent (first tries) */
} mt__otlp_stats_t;

/* Starts an exporter to url (http:// or https://; "/v1/metrics" is added unless the path
 * already ends with it). MT_OK, MT_EINVAL with err for a bad URL, MT_ENOMEM/MT_ESYS. */
int mt__otlp_new(const char *url, mt__otlp_t **out, char *err, size_t errlen);

/* Queues one second of a run: sec is the second as in the result JSON's "seconds" (borrowed;
 * what is needed is copied), latency its histogram (NULL: the latency metric is a summary of
 * sec's percentiles instead of a histogram); run_id and test (NULL: none) become attributes;
 * start_unix_ns is the run's start. Never blocks on the network. */
void mt__otlp_push(mt__otlp_t *x, const char *run_id, const char *test, int64_t start_unix_ns,
                   const json_t *sec, const mt_hist_t *latency);

/* The OTLP JSON document (ExportMetricsServiceRequest) of one second, as mt__otlp_push would
 * send it alone. New reference; NULL when out of memory. */
json_t *mt__otlp_second_json(const char *run_id, const char *test, int64_t start_unix_ns,
                             const json_t *sec, const mt_hist_t *latency);

void mt__otlp_stats(mt__otlp_t *x, mt__otlp_stats_t *out);

/* Sends what is queued (waiting at most wait_ms for the collector; what is left then counts
 * as failed), stops the thread, writes the final counts to *last (NULL: not wanted) and frees
 * x. NULL x is fine. */
void mt__otlp_free(mt__otlp_t *x, int wait_ms, mt__otlp_stats_t *last);

#endif
