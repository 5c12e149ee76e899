/* Log-linear latency histogram, HdrHistogram layout (bucket/sub-bucket scheme of
 * HdrHistogram_c with unit magnitude from `lowest`), so counts are exact and mergeable
 * and the wire encoding is HdrHistogram's V2 compressed format ("HISTF..." base64),
 * readable by HdrHistogram tools. Values are plain integers (mortar records microseconds).
 *
 * Ownership: mt_hist_new allocates, mt_hist_free releases. Not thread-safe: one writer. */
#ifndef MORTAR_HIST_H
#define MORTAR_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mt_hist mt_hist_t;

/* lowest >= 1 (smallest distinguishable value), highest >= 2*lowest, sigfigs 1..5.
 * Returns 0 and sets *out, or MT_EINVAL / MT_ENOMEM. */
int mt_hist_new(int64_t lowest, int64_t highest, int sigfigs, mt_hist_t **out);
/* The histogram mortar uses for latencies: 1 us .. 1 h, 2 significant digits (<=1% error). */
int mt_hist_new_latency(mt_hist_t **out);
void mt_hist_free(mt_hist_t *h);
void mt_hist_reset(mt_hist_t *h);

/* Record value (count n). Returns false (and records nothing) if value < 0 or > highest. */
bool mt_hist_record(mt_hist_t *h, int64_t value);
bool mt_hist_record_n(mt_hist_t *h, int64_t value, uint64_t n);
/* Record, clamping values above highest to highest (negative to 0). Never fails. */
void mt_hist_record_clamped(mt_hist_t *h, int64_t value);

/* dst += src exactly. Works across differing ranges/precision by re-recording each
 * bucket's representative value; returns the count of values dst could not hold. */
uint64_t mt_hist_add(mt_hist_t *dst, const mt_hist_t *src);

uint64_t mt_hist_count(const mt_hist_t *h);
int64_t mt_hist_min(const mt_hist_t *h); /* 0 when empty */
int64_t mt_hist_max(const mt_hist_t *h); /* 0 when empty; highest equivalent value */
double mt_hist_mean(const mt_hist_t *h);
double mt_hist_stddev(const mt_hist_t *h);
/* Counts per explicit bucket (OTLP/Prometheus style): counts[i] = values v with
 * bounds[i-1] < v <= bounds[i] (each value at its bucket's highest equivalent value), counts
 * holds nbounds + 1 entries, the last one above bounds[nbounds-1]. bounds ascending. */
void mt_hist_bucketize(const mt_hist_t *h, const int64_t *bounds, size_t nbounds, uint64_t *counts);
/* Value at percentile p in [0,100] (HdrHistogram semantics: highest equivalent value of the
 * bucket holding the p-th value). 0 when empty. */
int64_t mt_hist_value_at_percentile(const mt_hist_t *h, double p);

/* Percentile distribution as HdrHistogram prints it (ticks_per_half_distance steps).
 * cb is called in increasing order; return non-zero from cb to stop. */
typedef int (*mt_hist_percentile_cb)(double percentile, int64_t value, uint64_t count_to, void *ud);
void mt_hist_foreach_percentile(const mt_hist_t *h, int ticks_per_half_distance,
                                mt_hist_percentile_cb cb, void *ud);

/* Encode as HdrHistogram V2 compressed + base64 ("HISTFAAA..."), NUL-terminated.
 * *out is malloc'd; caller frees with free(). */
int mt_hist_encode(const mt_hist_t *h, char **out, size_t *out_len);
/* Decode the base64 V2 (compressed or not) encoding. Returns MT_EFORMAT on any corruption;
 * never crashes on bad input. *out is new; caller frees with mt_hist_free. */
int mt_hist_decode(const char *b64, size_t len, mt_hist_t **out);

#endif
