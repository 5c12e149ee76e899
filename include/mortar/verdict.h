/* Verdicts on a run: Yandex.Tank's autostop criteria (checked each second; the first that trips
 * ends the run with Tank's exit code 21..30) and k6-style thresholds (checked at the end, and
 * each second for those marked abortOnFail; k6 exits 99 when one fails).
 *
 * Parsers are pure (text in, struct or positioned error out). Evaluators hold no globals and
 * never print: they fill result structs that the CLI, agent and server report.
 * Semantics, errno mapping and differences from Tank and k6: docs/autostop.md,
 * docs/thresholds.md, docs/adr/0008-autostop-and-thresholds.md. */
#ifndef MORTAR_VERDICT_H
#define MORTAR_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/engine.h"
#include "mortar/error.h"

#define MT_VERDICT_TEXT_MAX 256 /* a criterion or threshold as written, NUL included */
#define MT_VERDICT_TAG_MAX  128 /* a tag name, NUL included */
#define MT_VERDICT_MSG_MAX  320 /* a message for people, NUL included */

/* ---- autostop ------------------------------------------------------------------------- */

/* Exit codes (Tank's): the process exits with the tripped criterion's code. */
#define MT_AUTOSTOP_RC_TIME          21 /* time, quantile, limit */
#define MT_AUTOSTOP_RC_HTTP          22
#define MT_AUTOSTOP_RC_NET           23
#define MT_AUTOSTOP_RC_INSTANCES     24
#define MT_AUTOSTOP_RC_TOTAL_TIME    25
#define MT_AUTOSTOP_RC_TOTAL_HTTP    26
#define MT_AUTOSTOP_RC_TOTAL_NET     27
#define MT_AUTOSTOP_RC_NEGATIVE_HTTP 28
#define MT_AUTOSTOP_RC_NEGATIVE_NET  29
#define MT_AUTOSTOP_RC_HTTP_TREND    30
#define MT_AUTOSTOP_RC_STEADY        33 /* steady_cumulative (Tank's RC_STEADY) */

typedef enum mt_autostop_kind {
    MT_AUTOSTOP_TIME,              /* time(rt, window[, tag]) */
    MT_AUTOSTOP_QUANTILE,          /* quantile(p, rt, window[, tag]) */
    MT_AUTOSTOP_LIMIT,             /* limit(dur) */
    MT_AUTOSTOP_HTTP,              /* http(mask, level, window[, tag]) */
    MT_AUTOSTOP_NET,               /* net(mask, level, window[, tag]) */
    MT_AUTOSTOP_INSTANCES,         /* instances(level, window) */
    MT_AUTOSTOP_TOTAL_TIME,        /* total_time(rt, N%, window[, tag]) */
    MT_AUTOSTOP_TOTAL_HTTP,        /* total_http(mask, level, window[, tag]) */
    MT_AUTOSTOP_TOTAL_NET,         /* total_net(mask, level, window[, tag]) */
    MT_AUTOSTOP_NEGATIVE_HTTP,     /* negative_http(mask, level, window[, tag]) */
    MT_AUTOSTOP_NEGATIVE_NET,      /* negative_net(mask, level, window[, tag]) */
    MT_AUTOSTOP_HTTP_TREND,        /* http_trend(mask, window[, tag]) */
    MT_AUTOSTOP_STEADY_CUMULATIVE, /* steady_cumulative(window): the whole run's quantiles
                                    * unchanged for window consecutive seconds */
} mt_autostop_kind_t;

/* One parsed criterion. Plain data: copy it freely. Fields a kind does not use are zero. */
typedef struct mt_autostop_crit {
    mt_autostop_kind_t kind;
    int64_t rt_us;     /* time, quantile, total_time: response time, microseconds */
    double quantile;   /* quantile: p in (0, 100] */
    int64_t limit_ns;  /* limit */
    char mask[4];      /* http/net kinds: 1..3 of [0-9x], lower case */
    bool relative;     /* level is a share ("10%") rather than a count */
    uint64_t level;    /* a count, or (relative) the share in parts per million: 10% = 100000 */
    uint32_t window_s; /* consecutive seconds (per-second kinds) or sliding window length */
    char tag[MT_VERDICT_TAG_MAX];   /* "" = every request */
    char text[MT_VERDICT_TEXT_MAX]; /* the criterion as written, trimmed */
} mt_autostop_crit_t;

/* Parses one criterion ("quantile(95, 100ms, 10s)", "http(5xx,10%,1m,checkout)"). On error
 * returns MT_EPARSE (MT_ERANGE for numbers too large) and fills err: col is the 1-based byte
 * column in text, msg names the problem without the column ("unknown criterion 'tme'"). */
int mt_autostop_parse(const char *text, mt_autostop_crit_t *out, mt_parse_err_t *err);

/* Parses Tank's list form: criteria separated by white space (newlines included), e.g. the
 * INI value "time(1s,10s) http(5xx,10%,5s)". Stores at most cap criteria in out and their
 * number in *n; more than cap is an error (MT_ETOOBIG). err->col is relative to text. */
int mt_autostop_parse_list(const char *text, mt_autostop_crit_t *out, size_t cap, size_t *n,
                           mt_parse_err_t *err);

/* What tripped. */
typedef struct mt_autostop_trip {
    int exit_code;                       /* 21..30 */
    size_t index;                        /* which criterion (index in the array given to new) */
    uint32_t second;                     /* mt_second_t.index of the second that tripped it */
    char criterion[MT_VERDICT_TEXT_MAX]; /* its text */
    char message[MT_VERDICT_MSG_MAX];    /* "quantile(95,100ms,10s): p95 above 100 ms for ..." */
} mt_autostop_trip_t;

typedef struct mt_autostop mt_autostop_t;

/* Builds the evaluator for n criteria (copied; c may be freed after). tags/ntags are the run's
 * tag names (mt_run_config_t.tags, tags[0] = ""); a criterion naming a tag that is not among
 * them is an error: MT_EINVAL with err->msg naming it and err->col = 0. Free with
 * mt_autostop_free. n == 0 is allowed (never trips). */
int mt_autostop_new(const mt_autostop_crit_t *c, size_t n, const char *const *tags, size_t ntags,
                    mt_autostop_t **out, mt_parse_err_t *err);

/* Feeds one second (call in order, every second, the last partial one included).
 * max_instances is the connection cap that instances(N%) is relative to (0: N% never trips).
 * Returns 1 and fills *trip when a criterion trips (the first in array order when several
 * trip in the same second); once tripped it stays tripped and later calls return 1 with the
 * same trip. Returns 0 otherwise, MT_EINVAL on NULL arguments, MT_ENOMEM when a sliding
 * window could not grow. Not thread-safe; allocates only to grow windows. */
int mt_autostop_feed(mt_autostop_t *a, const mt_second_t *s, uint32_t max_instances,
                     mt_autostop_trip_t *trip);

void mt_autostop_free(mt_autostop_t *a);

/* The network code (errno) autostop's net criteria see for an error kind: the engine's
 * mt_err_kind_errno (refused 111, reset 104, timeout 110, dns 113, protocol 71, closed 103,
 * other 5); successful requests have code 0. */
int mt_autostop_net_code(int kind);

/* ---- thresholds ----------------------------------------------------------------------- */

typedef enum mt_threshold_metric {
    MT_TM_LATENCY,  /* trend, us: latency histogram (from due time); k6: http_req_duration */
    MT_TM_SERVICE,  /* trend, us: service time (from the actual send) */
    MT_TM_ERRORS,   /* rate: failed / finished requests; count: failed; k6: http_req_failed */
    MT_TM_REQUESTS, /* counter: finished requests (responses + errors); k6: http_reqs */
    MT_TM_RPS,      /* value: finished requests per second of the run */
    MT_TM_STATUS,   /* status{code:MASK}: rate = matching / finished; count = matching */
    MT_TM_FAILED,   /* rate/count: the `failed` counter, k6's http_req_failed (errors + responses
                     * outside the expected statuses) over finished requests */
    /* trends of the whole run's breakdown (mt_run_result_t connect..recv): end of run only,
     * no tag filter, no abortOnFail; k6's http_req_connecting .. http_req_receiving */
    MT_TM_CONNECTING,
    MT_TM_TLS,
    MT_TM_SENDING,
    MT_TM_WAITING,
    MT_TM_RECEIVING,
} mt_threshold_metric_t;

typedef enum mt_threshold_agg {
    MT_TA_AVG,
    MT_TA_MIN,
    MT_TA_MAX,
    MT_TA_MED,
    MT_TA_PCT, /* p(N) */
    MT_TA_RATE,
    MT_TA_COUNT,
    MT_TA_VALUE,
} mt_threshold_agg_t;

typedef enum mt_threshold_op {
    MT_TOP_LT,
    MT_TOP_LE,
    MT_TOP_GT,
    MT_TOP_GE,
    MT_TOP_EQ, /* == and === */
    MT_TOP_NE,
} mt_threshold_op_t;

/* One parsed threshold. Plain data: copy it freely. */
typedef struct mt_threshold {
    mt_threshold_metric_t metric;
    mt_threshold_agg_t agg;
    double pct; /* p(N): N in [0, 100] */
    mt_threshold_op_t op;
    double value;                 /* in base units: us for trends, a fraction for rates */
    char mask[4];                 /* MT_TM_STATUS: the code mask */
    char tag[MT_VERDICT_TAG_MAX]; /* "" = every request */
    bool abort_on_fail;           /* checked each second on the data so far; failing ends the run */
    int64_t delay_abort_ns;       /* ... but not before the run has lasted this long */
    char text[MT_VERDICT_TEXT_MAX]; /* as written, trimmed */
} mt_threshold_t;

/* Parses "[metric[{tag:NAME}] ':'] aggregation op number[unit] (';' option)*", e.g.
 * "p(99)<200ms", "errors<1%", "latency{tag:checkout}: p(99.9) <= 1.5s;abortOnFail",
 * "status{code:5xx}: count == 0", "rps>=1000;abortOnFail;delayAbortEval=10s".
 * Errors as mt_autostop_parse (MT_EPARSE/MT_ERANGE, 1-based col, msg without the column). */
int mt_threshold_parse(const char *text, mt_threshold_t *out, mt_parse_err_t *err);

/* Checks that the threshold's tag (if any) is among the run's tags: MT_OK or MT_EINVAL with
 * err->msg naming it. */
int mt_threshold_check_tags(const mt_threshold_t *t, const char *const *tags, size_t ntags,
                            mt_parse_err_t *err);

typedef struct mt_threshold_result {
    bool pass;
    bool has_value;   /* false: no data to aggregate (no responses, no requests); fails */
    double observed;  /* in display units: ms for trends, a fraction for rates, a count,
                       * requests per second for rps / requests: rate */
    const char *unit; /* "ms", "", "/s": static */
    char message[MT_VERDICT_MSG_MAX]; /* "p(99)<200ms: p(99) = 241.3 ms (fail)" */
} mt_threshold_result_t;

/* Evaluates t on a finished run. tags/ntags as in mt_run_config_t. Returns MT_OK and fills
 * *out (pass or fail); MT_EINVAL for NULL arguments or a tag not among tags (out->message
 * then says so and out->pass is false). */
int mt_threshold_eval_run(const mt_threshold_t *t, const mt_run_result_t *r,
                          const char *const *tags, size_t ntags, mt_threshold_result_t *out);

/* Per-second watch for the abortOnFail thresholds: keeps cumulative counters and histograms
 * (only for the scopes those thresholds need) and evaluates them, as mt_threshold_eval_run
 * would on the run so far, once the run has lasted delayAbortEval. */
typedef struct mt_threshold_watch mt_threshold_watch_t;

/* t is copied. Thresholds without abortOnFail are ignored. MT_EINVAL for an unknown tag
 * (err filled), MT_ENOMEM. Free with mt_threshold_watch_free. */
int mt_threshold_watch_new(const mt_threshold_t *t, size_t n, const char *const *tags, size_t ntags,
                           mt_threshold_watch_t **out, mt_parse_err_t *err);
/* Adds one second. Returns 1 when an abortOnFail threshold fails on the data so far (*index
 * = its index in the array given to new, *out = its result), 0 when none does, MT_EINVAL for
 * NULL arguments. Keeps returning 1 for the same threshold once one has failed. */
int mt_threshold_watch_feed(mt_threshold_watch_t *w, const mt_second_t *s, size_t *index,
                            mt_threshold_result_t *out);
void mt_threshold_watch_free(mt_threshold_watch_t *w);

#define MT_THRESHOLD_EXIT_CODE 99 /* k6's exit code when thresholds fail */

#endif
