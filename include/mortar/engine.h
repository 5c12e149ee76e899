/* The load engine: N worker threads, each with its own event loop and connections,
 * sending a pre-serialised HTTP/1.1 request in the open model (a schedule of due times;
 * latency measured from the due time) or the closed model (each connection sends its next
 * request when the previous response ends). The engine never prints, never exits and holds
 * no globals: it reports through the per-second callback and the result. */
#ifndef MORTAR_ENGINE_H
#define MORTAR_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/counters.h"
#include "mortar/error.h"
#include "mortar/hist.h"
#include "mortar/schedule.h"
#include "mortar/split.h"

struct sockaddr;

#define MT_STATUS_MAX 600             /* status[] index: code 100..599; anything else at [0] */
#define MT_LATE_NS    (1000 * 1000LL) /* a request sent later than this after its due time is late */

/* Kinds of failed requests. The names are what JSON and the console print. */
#define MT_ERR_KIND_MAP(XX)                                                                        \
    XX(REFUSED, "refused")   /* connection refused */                                              \
    XX(RESET, "reset")       /* connection reset / broken pipe */                                  \
    XX(TIMEOUT, "timeout")   /* no (complete) response within --timeout, or connect timed out */   \
    XX(DNS, "dns")           /* the target's name did not resolve */                               \
    XX(PROTOCOL, "protocol") /* malformed response */                                              \
    XX(CLOSED, "closed")     /* peer closed before the response was complete */                    \
    XX(TLS, "tls")     /* TLS handshake or record failure (bad certificate, no ALPN h2, ...) */    \
    XX(OTHER, "other") /* any other errno */

enum mt_err_kind {
#define XX(n, s) MT_ERR_##n,
    MT_ERR_KIND_MAP(XX)
#undef XX
        MT_ERR__COUNT
};

const char *mt_err_kind_name(int kind);
/* The errno reported for a kind in per-request records (phout's net_code) when the failure
 * had no errno of its own: timeout 110 (ETIMEDOUT), refused 111, reset 104, dns 113
 * (EHOSTUNREACH), protocol 71 (EPROTO), closed 103 (ECONNABORTED), other 5 (EIO). */
int mt_err_kind_errno(int kind);

/* TLS settings for https:// targets (src/engine/tls.c, docs/tls-http2.md). */
typedef struct mt_tls_config {
    const char *server_name; /* SNI and the certificate's name check; NULL or an IP literal:
                              * no SNI, the certificate is checked against the IP */
    bool insecure;           /* do not verify the server's certificate */
    const char *cacert;      /* PEM file of trusted CAs; NULL = the system's */
    const char *cert;        /* client certificate chain (PEM); NULL = none */
    const char *key;         /* its private key (PEM); NULL = in cert */
    int min_version;         /* 0 = library default, 12 = TLS 1.2, 13 = TLS 1.3 */
    int max_version;
    bool no_resume; /* full handshake on every connection (no session tickets or ids) */
    bool http2;     /* offer ALPN h2 only (else http/1.1) */
} mt_tls_config_t;

/* A TLS client context shared by a run's workers (thread-safe). */
typedef struct mt_tls_ctx mt_tls_ctx_t;
/* MT_OK, or MT_EINVAL with err naming the file or setting and OpenSSL's reason. */
int mt_tls_ctx_new(const mt_tls_config_t *cfg, mt_tls_ctx_t **out, char *err, size_t errlen);
void mt_tls_ctx_free(mt_tls_ctx_t *t);

#define MT_MAX_TAGS 64 /* per-tag statistics: tag names per run, the untagged "" included */

/* One pre-serialised request (ammo entry). */
typedef struct mt_request {
    const char *data; /* the whole request as sent (head + body); not copied */
    size_t len;
    uint16_t tag;         /* index into mt_run_config_t.tags; 0 = untagged */
    unsigned parse_flags; /* MT_H1_NO_BODY for HEAD */
} mt_request_t;

enum { MT_ORDER_SEQUENTIAL = 0, MT_ORDER_RANDOM = 1 };

/* I/O loop of the workers (mt_run_config_t.io; docs/adr/0040-io-uring.md). */
enum { MT_IO_AUTO = 0, MT_IO_EPOLL = 1, MT_IO_URING = 2 };

/* Per-request record (phout). Times in microseconds. */
typedef struct mt_req_record {
    int64_t start_unix_us;        /* when the request started (connect or send), wall clock */
    int64_t due_unix_us;          /* its due time (open model; = start in the closed model) */
    uint32_t total_us;            /* start .. last response byte (or the error) */
    uint32_t connect_us;          /* TCP connect; 0 when the connection was reused */
    uint32_t tls_us;              /* TLS handshake; 0 when reused or plain */
    uint32_t send_us;             /* first byte sent .. last byte sent, or the response's first byte
                                   * if that came first (docs/measurement.md) */
    uint32_t wait_us;             /* end of send .. first byte of the final (non-1xx) response */
    uint32_t receive_us;          /* that first byte .. last byte received */
    uint64_t bytes_out, bytes_in; /* 64-bit: a response may exceed 4 GiB */
    uint16_t tag;
    uint16_t status;   /* 0 when there was no response */
    int16_t net_errno; /* 0, or the errno of the failure (110 for a timeout) */
    int16_t err_kind;  /* -1, or MT_ERR_* */
} mt_req_record_t;

/* Called in mt_run_exec's thread with batches of records, in no particular order across
 * threads. The records are valid only during the call. */
typedef void (*mt_records_cb)(const mt_req_record_t *recs, size_t n, void *ud);

/* Scripted requests (src/script, docs/scripting.md): when mt_run_config_t.script is set, each
 * request's bytes come from the hooks instead of request/requests. Every hook is called in the
 * worker's own thread with that worker's index. */
typedef struct mt_script_req {
    const char *data; /* one or more whole HTTP/1.1 requests, sent back to back */
    size_t len;
    uint32_t count;       /* requests in data (pipelined), >= 1: each response is counted */
    uint16_t tag;         /* index into mt_run_config_t.tags; 0 = untagged */
    unsigned parse_flags; /* MT_H1_NO_BODY: they are HEAD requests */
    bool stable;          /* data stays valid until the run ends (not copied); else it is valid
                           * only until the next call on this worker, and the engine copies it */
} mt_script_req_t;

typedef struct mt_script_hooks {
    /* The next request(s) of a connection. MT_OK and *out; MT_EEOF: the thread stopped itself
     * (no more requests from this worker); anything else: a script error, the run stops and
     * returns MT_EINVAL (the hooks' owner keeps the message). */
    int (*request)(void *ud, int worker, mt_script_req_t *out);
    /* NULL: responses are not handed over (and not kept). Else called once per complete
     * response with its bytes as received (interim 1xx heads, head, body framing; over HTTP/2
     * "HTTP/2.0 <status> " then the final head's fields and the body as received), at most
     * max_response of them (truncated: the rest was not kept). Return as request() does. */
    int (*response)(void *ud, int worker, const char *resp, size_t len, bool truncated);
    /* NULL: none. Closed model: ns to wait after a response before the next request. */
    int (*delay)(void *ud, int worker, int64_t *ns);
    /* NULL: none. Before the run: the address this worker connects to instead of the run's
     * (wrk's thread.addr): 1 with a struct sockaddr of *len bytes (<= cap) written to sa, or
     * 0 for the run's address. */
    int (*address)(void *ud, int worker, void *sa, size_t cap, uint32_t *len);
    size_t max_response;
    void *ud;
} mt_script_hooks_t;

/* What a run gets when it does not say (mortar run's flags, config files, the API): one copy
 * for every front end. */
#define MT_RUN_DEFAULT_CONNECTIONS 10
#define MT_RUN_DEFAULT_DURATION_NS (10 * 1000000000LL)
#define MT_RUN_DEFAULT_TIMEOUT_NS  (2 * 1000000000LL) /* wrk's */
#define MT_RUN_MAX_THREADS         1024
/* Worker threads when a run does not say: one per online CPU, at most one per connection and
 * MT_RUN_MAX_THREADS; at least 1. */
int mt_run_default_threads(int connections);

/* The response statuses that count as success for the `failed` counter (k6's http_req_failed:
 * a request failed when it got no response, or a status outside this set). A bitmap over
 * 0..MT_STATUS_MAX-1; index 0 (a status outside 100..599) is never expected. */
typedef struct mt_status_set {
    uint64_t bits[(MT_STATUS_MAX + 63) / 64];
} mt_status_set_t;

/* The default set: 200..399, as k6. */
void mt_status_set_default(mt_status_set_t *s);
static inline bool mt_status_set_has(const mt_status_set_t *s, unsigned code)
{
    return code < MT_STATUS_MAX && (s->bits[code / 64] >> (code % 64) & 1u);
}
/* Parses "200-399", "200-299,404", "200 204 3xx" (codes 100..599, ranges A-B, masks like 2xx;
 * separated by commas and/or white space). MT_EPARSE with err->col (1-based) on bad text. */
int mt_status_set_parse(const char *text, mt_status_set_t *out, mt_parse_err_t *err);
/* ---- trace context (W3C traceparent, docs/tracing.md, ADR 0036) ---------------------------- */

#define MT_TRACEPARENT_LEN 55 /* "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" */
#define MT_EXEMPLARS_SLOW  5  /* slowest sampled requests kept per second (after every merge) */
#define MT_EXEMPLARS_ERR   5  /* failed sampled requests kept per second (after every merge) */

/* One traced request kept as an example of a second: its trace and span ids (as sent in its
 * traceparent header) and what happened to it. */
typedef struct mt_exemplar {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint32_t latency_us; /* as the latency histogram: from the due time (open), send (closed) */
    uint16_t status;     /* the response's status; 0 when there was none */
    int16_t err_kind;    /* -1, or MT_ERR_* when it failed without a response */
    uint16_t tag;        /* index into mt_run_config_t.tags */
} mt_exemplar_t;

/* Writes the traceparent header value of ids (version 00, flags 01 when sampled, else 00) into
 * out (MT_TRACEPARENT_LEN characters and a NUL: out holds at least MT_TRACEPARENT_LEN + 1). */
void mt_traceparent_format(char *out, const uint8_t trace_id[16], const uint8_t span_id[8],
                           bool sampled);
/* Parses a traceparent value (exactly the 55 characters of version 00, lowercase hex, ids not
 * all zero). MT_OK, or MT_EPARSE with err->col (1-based) at the first bad character. */
int mt_traceparent_parse(const char *text, size_t len, uint8_t trace_id[16], uint8_t span_id[8],
                         bool *sampled, mt_parse_err_t *err);
/* Lowercase hex of n bytes into out (2n characters and a NUL). */
void mt_hex_encode(char *out, const uint8_t *p, size_t n);
/* Merges src[0..m) into the set dst[0..*n) (capacity cap), keeping the cap slowest by
 * latency_us (ties: the smaller trace id first), sorted slowest first. The result does not
 * depend on the order of merges: worker slots, agents' snapshots and any regrouping give the
 * same set. An exemplar already in dst (same trace and span id) is not added twice. */
void mt_exemplars_merge(mt_exemplar_t *dst, size_t *n, size_t cap, const mt_exemplar_t *src,
                        size_t m);

typedef struct mt_run_config {
    const char *host;    /* name or address to connect to */
    const char *port;    /* port number or service name */
    const char *request; /* the whole request as sent (head + body); not copied: keep alive */
    size_t request_len;
    unsigned parse_flags;       /* MT_H1_NO_BODY for HEAD */
    int threads;                /* worker threads, >= 1 */
    int connections;            /* closed: connections kept busy; open: cap on open connections */
    int64_t duration_ns;        /* run length; open model: 0 = the schedule's length */
    const mt_sched_t *schedule; /* NULL: closed model. Not copied: keep alive for the run. */
    int64_t timeout_ns;         /* per request, including its connect; 0 = none */
    int64_t tick_ns;            /* open model: wake for due requests at most once per tick (due
                                 * times rounded up to a multiple of it); 0 = at each due time */
    int64_t send_tolerance_ns;  /* batched waits (docs/adr/0037-kernel-timestamps.md): a send
                                 * due at t leaves by t + this, responses are seen at most this
                                 * late (and timed by the kernel); 0 = wake for every event */
    bool no_kernel_ts;          /* time responses by the user-space clock (waits then exact) */
    int64_t grace_ns;           /* after the duration (not after a stop): wait up to this for the
                                 * requests in flight, which then count in the last second; the
                                 * rest are abandoned (counted); 0 = abandon at once */
    uint64_t max_queue;         /* open: bound on due-but-unsent requests (beyond it they are
                                 * dropped and counted); 0 = max(10,000, 10 x connections,
                                 * 10 s at the schedule's peak rate), at most 10,000,000 */
    /* MT_IO_AUTO: io_uring for the closed model over plain HTTP/1.1 without a script when the
     * kernel has what it needs, else epoll; MT_IO_EPOLL; MT_IO_URING: io_uring where it applies
     * (the caller rejects it elsewhere), and the run fails if the kernel lacks it */
    int io;
    /* ammo: when nrequests > 0 these are sent (in `order`) instead of request/request_len */
    const mt_request_t *requests; /* not copied */
    size_t nrequests;
    int order;                /* MT_ORDER_SEQUENTIAL (loops) or MT_ORDER_RANDOM */
    uint64_t seed;            /* for MT_ORDER_RANDOM */
    const char *const *tags;  /* tag names, tags[0] = "" (untagged); NULL/0: no per-tag stats */
    size_t ntags;             /* <= MT_MAX_TAGS */
    mt_records_cb on_records; /* per-request records (phout); NULL: none are kept */
    void *records_ud;
    /* While the run waits after its duration for the requests in flight (the grace): called
     * about every 250 ms in mt_run_exec's thread (as the second callback is) with how many
     * are still awaited and how long the grace has left, while any are. NULL: never. */
    void (*on_finishing)(uint64_t in_flight, int64_t grace_left_ns, void *ud);
    void *finishing_ud;
    const mt_tls_ctx_t *tls; /* NULL: plain TCP; else TLS on every connection (not copied) */
    bool http2;              /* HTTP/2: over TLS with ALPN h2, else prior knowledge (h2c) */
    int streams;             /* HTTP/2: concurrent streams per connection (closed model: kept
                              * busy; open: at most), capped by the server's setting; 0 = 1 */
    /* One agent's part of a run split between agents (mortar/split.h); NULL: the whole run.
     * The engine sends only the global requests n of the stripe: due times (open model) and
     * ammo entries (sequential order: entry n mod nrequests) are those of request n of the
     * single-generator run. Not copied: keep alive for the run. */
    const mt_stripe_t *stripe;
    /* 0: start now. Else the wall-clock instant (CLOCK_REALTIME ns) the run starts at:
     * mt_run_exec waits until then and numbers seconds from it; if it is called after that
     * instant it returns MT_ELATE instead of starting late. */
    int64_t start_unix_ns;
    /* NULL, or called once per address the target's name resolved to, after resolution and
     * before any socket exists (mortar serve's target policy: the address connected to is the
     * address checked, so a name that changes its answer cannot slip past). Non-zero refuses
     * the run: mt_run_exec then returns MT_EPOLICY without a single connect. */
    int (*addr_check)(const struct sockaddr *sa, unsigned len, void *ud);
    void *addr_check_ud;
    /* NULL: the requests above. Else every request comes from these hooks (HTTP/1, or with
     * http2 each request of a result is a stream; not with ammo); request/request_len may be
     * NULL. Not copied. */
    const mt_script_hooks_t *script;
    /* statuses counted as success by the `failed` counter (k6's http_req_failed); NULL: 200..399.
     * Not copied: keep alive for the run. */
    const mt_status_set_t *expected;
    /* Trace context: when set, every request carries a W3C traceparent header (a new random
     * trace id and span id per request, version 00) and each second keeps its slowest and its
     * failed sampled requests (mt_second_t.slow / errs). Not with script. */
    bool trace;
    double trace_ratio; /* 0..1: the share of requests whose sampled flag is set (exactly: each
                         * worker sets it on floor(n x ratio) of its first n requests) */
} mt_run_config_t;

/* A run's counters: the scalar ones come from MT_COUNTER_MAP (mortar/counters.h, which says
 * what each one counts and how it is merged and written). due counts requests due by the plan
 * (closed model: = sent); errors is the sum of err[]; lag_* are over sent requests (send time -
 * due time, us); h2_retried counts refusals of streams by the server (GOAWAY / REFUSED_STREAM):
 * each such request goes again, counted once in sent and due. */
typedef struct mt_counters {
#define XX(field, merge, presence, summary, second, value, web, label) uint64_t field;
    MT_COUNTER_MAP(XX)
#undef XX
    uint64_t err[MT_ERR__COUNT];    /* failed requests by kind (MT_ERR_KIND_MAP) */
    uint64_t status[MT_STATUS_MAX]; /* responses by status code; [0]: outside 100..599 */
} mt_counters_t;

/* Adds src into dst (MAX counters of the table take the larger). */
void mt_counters_add(mt_counters_t *dst, const mt_counters_t *src);
/* Sets c->failed from c->errors and c->status[] (requests without a response, plus responses
 * outside `expected`; NULL = the default set). */
void mt_counters_set_failed(mt_counters_t *c, const mt_status_set_t *expected);

/* Statistics of one tag (one second, or the whole run). */
typedef struct mt_tag_stats {
    mt_counters_t c;
    const mt_hist_t *latency; /* open: from due time; closed: from send */
    const mt_hist_t *service;
} mt_tag_stats_t;

/* One second of the run, merged across threads. Valid only during the callback. */
typedef struct mt_second {
    uint32_t index;  /* second number from run start, 0-based */
    int64_t span_ns; /* length covered (the last second may be partial) */
    mt_counters_t c;
    uint32_t open_conns;        /* open connections at the end of the second */
    uint64_t backlog;           /* due but unsent at the end of the second */
    const mt_hist_t *latency;   /* open: from due time; closed: from send */
    const mt_hist_t *service;   /* from the actual send */
    const mt_tag_stats_t *tags; /* per tag (index as in the config); NULL when ntags == 0 */
    size_t ntags;
    /* cfg.trace: the slowest sampled requests that ended in this second (at most
     * MT_EXEMPLARS_SLOW, slowest first) and the sampled ones that failed (a network error or
     * a status outside cfg.expected; at most MT_EXEMPLARS_ERR, slowest first). */
    const mt_exemplar_t *slow;
    size_t nslow;
    const mt_exemplar_t *errs;
    size_t nerrs;
} mt_second_t;

typedef struct mt_run_result {
    mt_counters_t c;
    int64_t start_unix_ns; /* wall clock at start */
    int64_t start_late_ns; /* with cfg.start_unix_ns: how late the workers were released after
                            * the instant (the start skew of this generator), else 0 */
    int64_t elapsed_ns;    /* measured run length */
    uint32_t seconds;      /* per-second snapshots delivered */
    uint32_t max_open_conns;
    bool stopped; /* ended early by mt_run_stop */
    bool open_model;
    const mt_hist_t *latency;   /* whole run; open: from due time */
    const mt_hist_t *service;   /* from actual send */
    const mt_hist_t *connect;   /* TCP connect time, per new connection */
    const mt_hist_t *tls;       /* TLS handshake time, per new TLS connection */
    const mt_hist_t *send;      /* first byte written .. last byte written */
    const mt_hist_t *wait;      /* last byte written .. first response byte (TTFB) */
    const mt_hist_t *recv;      /* first .. last response byte */
    const mt_tag_stats_t *tags; /* whole run, per tag; NULL when ntags == 0 */
    size_t ntags;
    uint64_t records_dropped; /* per-request records lost because the consumer fell behind */
    char tls_error[160];      /* the first TLS failure's reason ("" if none) */
} mt_run_result_t;

typedef struct mt_run mt_run_t;
typedef void (*mt_second_cb)(const mt_second_t *s, void *ud);

/* Validates cfg and allocates a run. Returns MT_EINVAL for bad settings. Free with mt_run_free. */
int mt_run_new(const mt_run_config_t *cfg, mt_run_t **out);
/* Runs to the end (or until mt_run_stop), calling cb in the calling thread once per second,
 * in order, including the last partial second. Target errors (refused, DNS, ...) are counted,
 * not returned. Returns MT_OK, or MT_ESYS/MT_ENOMEM if the engine itself could not run, or
 * MT_ELATE when cfg.start_unix_ns had passed (nothing was sent). A stop requested while it
 * waits for start_unix_ns ends it at once with MT_OK and no seconds. */
int mt_run_exec(mt_run_t *r, mt_second_cb cb, void *ud);
/* Ask a running exec to finish now. Async-signal-safe; callable from any thread. */
void mt_run_stop(mt_run_t *r);
/* Totals; valid after mt_run_exec returns, until mt_run_free. */
const mt_run_result_t *mt_run_result(const mt_run_t *r);
void mt_run_free(mt_run_t *r);

#endif
