/* Internals of `mortar serve` shared by cmd_serve.c (process, HTTP glue, run lifecycle),
 * api.c (the REST API), api_body.c (request body checks) and live.c (SSE listeners). */
#ifndef MT_SERVER_SERVE_H
#define MT_SERVER_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server/agent.h"
#include "server/aggregator.h"
#include "server/bus.h"
#include "server/metrics.h"
#include "server/policy.h"
#include "server/store.h"

#define MT__API_MAX_BODY ((size_t)1 << 20)
/* Request paths of this many bytes or more are answered 414 (never truncated), and request
 * headers over MT__MAX_HEADERS bytes in all 431, both before any body is read (cmd_serve.c). */
#define MT__MAX_PATH    512
#define MT__MAX_HEADERS ((size_t)16 << 10)

/* ---- live streams (live.c) ---------------------------------------------------------------- */
typedef struct mt__sse mt__sse_t;
typedef struct mt__listener mt__listener_t;

int mt__sse_new(mt__sse_t **out);
void mt__sse_free(mt__sse_t *h);
/* Ends every stream (server shutdown); later listeners end at once. */
void mt__sse_shutdown(mt__sse_t *h);
/* A new listener of run_id's events; every push after this call reaches it. The caller then
 * primes it (mt__listener_prime) and reads it until it ends; mt__listener_free at the end. */
mt__listener_t *mt__sse_listen(mt__sse_t *h, const char *run_id);
void mt__listener_free(mt__sse_t *h, mt__listener_t *l);
/* Under the listener's lock, so no push interleaves: queues the stored seconds (rows of tag
 * "" with second >= from, and only the last `window` of them when window > 0) and the run's
 * state; ends after it when the run is final. */
void mt__listener_prime(mt__listener_t *l, mt__store_t *s, const char *run_id, int64_t from,
                        int64_t window);
/* Copies up to max bytes of the stream into buf, waiting up to timeout_ms for some. Returns
 * bytes (0 = nothing yet: the caller sends a keep-alive comment), or -1 at the end. */
long mt__listener_read(mt__listener_t *l, char *buf, size_t max, int timeout_ms);
void mt__sse_second(mt__sse_t *h, const char *run_id, uint32_t second, const char *data_json);
void mt__sse_state(mt__sse_t *h, const char *run_id, const json_t *run);
/* Brings the listeners of runs aggregated by another server (several servers on one store)
 * up to date from the store: the seconds stored since their last one, and the run's state
 * when it changed. Harmless for runs aggregated here (each second is sent once). */
void mt__sse_follow(mt__sse_t *h, mt__store_t *s);

/* ---- the server ---------------------------------------------------------------------------- */
typedef struct mt__serve {
    mt__store_t *store;
    mt__bus_t *bus;
    mt__agent_t *agent;
    mt__agg_t *agg;
    mt__metrics_t *metrics;
    mt__sse_t *live;
    struct mt__cache *cache;     /* finished runs' series/summary/result (cache.h) */
    struct mt__dist *dist;       /* --nats: placement, two-phase start, agent loss (dist.h) */
    struct mt__cluster *cluster; /* server id, leadership, run leases (cluster.h) */
    const char *agent_name;
    int agent_capacity;
    int ready;
    volatile int stopping;
    pthread_mutex_t run_mu; /* dispatcher start vs stop endpoint */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake;
    pthread_mutex_t policy_mu; /* policy, policy_version */
    mt__policy_t *policy;      /* the target policy in force (NULL until first asked) */
    int64_t policy_version;    /* the store's version it was read from (0: not from the store) */
    const char *trace_url;     /* --trace-url: the link template of runs that have none */
} mt__serve_t;

/* The target policy in force (a new reference; mt__policy_unref it): the store's when it has
 * one (re-read when its version changed: every server of a store sees a PUT), else the one
 * set at start, else the built-in default. NULL only when out of memory. (api.c) */
mt__policy_t *mt__serve_policy(mt__serve_t *sv);
/* Sets p (the caller's reference is taken) as the policy and stores it: --policy FILE and PUT
 * /policy. MT_OK or the store's error. (api.c) */
int mt__serve_set_policy(mt__serve_t *sv, mt__policy_t *p);

/* Wakes the dispatcher (a run was queued, or a slot freed). */
void mt__serve_wake(mt__serve_t *sv);
/* Ends run id with a final state and reason (no summary). When the store fails (MT_ESYS) the
 * end is kept and retried by the dispatcher until it is stored (docs/security.md "Store
 * failures"); *run (may be NULL) gets the Run only when it was stored now. */
int mt__serve_finish(mt__serve_t *sv, const char *id, const char *state, const char *reason,
                     json_t **run);
/* Stops a run: a queued run at once, a running one through its agent (202). */
int mt__serve_stop_run(mt__serve_t *sv, const char *id, const char *reason, json_t **out);

/* ---- the API (api.c) ---------------------------------------------------------------------- */
typedef const char *(*mt__query_fn)(void *ctx, const char *key);

typedef struct mt__req {
    const char *method;
    const char *path; /* without the query */
    const char *authorization;
    const char *idempotency_key;
    const char *last_event_id;
    const char *content_type; /* NULL when absent */
    int accept_gzip;          /* Accept-Encoding names gzip */
    mt__query_fn query;
    void *query_ctx;
    const char *body;
    size_t body_len;
    int body_too_large;
} mt__req_t;

typedef struct mt__resp {
    int status;
    const char *ctype; /* static */
    char *body;        /* malloc'd */
    size_t len;
    int replayed;      /* Idempotent-Replayed: true */
    int gzip;          /* body is gzip-encoded (Content-Encoding: gzip) */
    const char *allow; /* Allow: for 405 */
    char route[64];    /* the route template, for logs and metrics */
    char live_run[40]; /* non-empty: answer with the live stream of this run */
    int64_t live_from; /* first second to send */
} mt__resp_t;

void mt__api_handle(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp);
/* 0 when req carries a token of at least the viewer role; else resp is the problem (/metrics). */
int mt__api_viewer(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp);
/* The same for the runner role (POST /runs/import, checked before its body is read); when 0
 * and creator is not NULL, *creator = the caller as a run's "created_by" (a new reference). */
int mt__api_runner(mt__serve_t *sv, const mt__req_t *req, mt__resp_t *resp, json_t **creator);

/* body as a gzip stream (level 6), malloc'd; MT_ENOMEM or MT_EFORMAT on failure (util.c). */
int mt__gzip(const char *body, size_t len, char **out, size_t *out_len);
/* A whole-number flag of `mortar CMD` in [min, max] into *out: 0, or -1 after printing
 * "mortar CMD: FLAG: 'ARG' is not a whole number in [MIN, MAX]" to stderr (util.c). */
int mt__flag_int(const char *cmd, const char *flag, const char *arg, long min, long max, int *out);
/* A new token secret: "mt_" + 43 base64url characters of 32 random bytes (util.c). */
int mt__token_secret(char out[64]);

/* ---- request bodies (api_body.c): a JSON document -> checked object ----------------------- */
/* Each returns NULL and fills pointer (JSON pointer of the bad key) and detail on a bad body;
 * else a new reference to the checked object (defaults filled in). */
json_t *mt__body_test(const char *body, size_t len, char *pointer, char *detail, size_t n);
json_t *mt__body_run(const char *body, size_t len, char *pointer, char *detail, size_t n);
json_t *mt__body_schedule(const char *body, size_t len, char *pointer, char *detail, size_t n);
json_t *mt__body_webhook(const char *body, size_t len, char *pointer, char *detail, size_t n);
json_t *mt__body_token(const char *body, size_t len, char *pointer, char *detail, size_t n);
json_t *mt__body_baseline(const char *body, size_t len, char *pointer, char *detail, size_t n);
/* ---- pure helpers of the API (api_route.c) ------------------------------------------------- */
enum {
    MT__R_NONE,
    MT__R_OPENAPI,
    MT__R_TESTS,
    MT__R_TEST,
    MT__R_TEST_SUB,
    MT__R_RUNS,
    MT__R_RUN,
    MT__R_SCHEDULES,
    MT__R_SCHEDULE,
    MT__R_WHOAMI,
    MT__R_AGENTS,
    MT__R_AGENT,
    MT__R_WEBHOOKS,
    MT__R_WEBHOOK,
    MT__R_TOKENS,
    MT__R_TOKEN,
    MT__R_POLICY,
};
typedef struct mt__api_match {
    int kind;          /* MT__R_* */
    const char *allow; /* the route's methods, "GET, POST" (static) */
    const char *id;    /* the {id} segment, into buf; NULL when the route has none */
    const char *sub;   /* the sub-resource segment ("series", "stop", ...), or NULL */
    char route[64];    /* the template, "/api/v1/runs/{id}/series"; "other" when none */
    char buf[MT__MAX_PATH];
} mt__api_match_t;
/* Matches an API path (without the query) to its route; 0, or -1 when none matches (404), or
 * -2 when the path is MT__MAX_PATH bytes or more (414: it matches nothing, never a prefix).
 * Empty segments (doubled slashes) are ignored. */
int mt__api_match(const char *path, mt__api_match_t *m);
/* The `method` label of a request in the metrics: one of the methods the server knows
 * (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS), else "other" (a static string). */
const char *mt__api_method_label(const char *method);
/* 1 when method is one of allow ("GET, PUT, DELETE"), else 0. */
int mt__api_allowed(const char *allow, const char *method);
/* A whole-number query value in [lo, hi]: 0 with *out, 1 when v is NULL or empty (absent),
 * -1 when it is not decimal digits (one leading '-' allowed) or out of range. */
int mt__api_whole(const char *v, long long lo, long long hi, long long *out);
/* 1 when the Content-Type ctype is the media type want (case-insensitive, parameters ignored). */
int mt__media_type_is(const char *ctype, const char *want);
/* RFC 7396 JSON Merge Patch: a new value, target with patch applied (neither is changed);
 * NULL when out of memory. */
json_t *mt__merge_patch(const json_t *target, const json_t *patch);

#endif
