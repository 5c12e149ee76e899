/* mortar serve: the control plane process (docs/serve.md, docs/adr/0011-control-plane.md).
 * Threads: libmicrohttpd's (one per connection: SSE streams block in their reader), the bus
 * dispatcher (agent -> aggregator -> store sink), the run dispatcher (queued runs -> the
 * local agent; it also retries final states the store refused), the scheduler's tick, and the
 * webhook relay's own thread (webhook.h); the main thread waits for SIGTERM
 * or SIGINT and then shuts everything down in order. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/commands.h"
#include "proto/url.h"
#include "report/report.h"
#include "result/otlp.h"
#include "mortar/error.h"
#include "server/agent_host.h"
#include "server/analysis.h"
#include "server/baseline.h"
#include "server/cache.h"
#include "server/changes.h"
#include "server/dist.h"
#include "server/import.h"
#include "server/nats_flags.h"
#include "server/log.h"
#include "server/cluster.h"
#include "server/placement.h"
#include "server/scheduler.h"
#include "server/serve.h"
#include "server/ui_assets.h"
#include "server/webhook.h"

typedef struct sv_opts {
    const char *listen;
    const char *data;
    enum mt__log_level level;
    int allow_remote;
    int capacity;
    mt__nats_opts_t nats;  /* nats.url == NULL: the in-process bus */
    int local_agent;       /* with --nats: the built-in agent takes runs too */
    int max_conns;         /* connections at once (libmicrohttpd's limit) */
    int max_conns_ip;      /* per client address; 0: no limit */
    int header_s, body_s;  /* the header and body deadlines (connection guard) */
    const char *policy;    /* --policy FILE: the target policy (policy.h) */
    const char *store;     /* --store URI: PostgreSQL (ADR 0033); NULL: SQLite in --data */
    const char *store_pw;  /* --store-password-file FILE */
    const char *otlp;      /* --otlp URL: push every run's seconds to an OTLP collector */
    const char *trace_url; /* --trace-url TMPL: the UI's link template for runs without one */
    const char *server_id; /* --server-id: this server among several (cluster.h) */
    int on_shutdown;       /* --on-shutdown: SV_SHUT_AUTO, SV_SHUT_STOP or SV_SHUT_HANDOVER */
} sv_opts_t;

enum { SV_SHUT_AUTO, SV_SHUT_STOP, SV_SHUT_HANDOVER };

/* --otlp: the exporter (result/otlp.h), NULL without the flag */
static mt__otlp_t *sv_otlp;

/* --live-window: a live stream starts with at most this many of the stored seconds */
static int sv_live_window = 300;

static mt__serve_t *sv_g; /* for the few callbacks without a user pointer */

static void sv_summarise_interrupted(mt__serve_t *sv, const json_t *page);

/* ---- lifecycle ------------------------------------------------------------------------- */

void mt__serve_wake(mt__serve_t *sv)
{
    pthread_mutex_lock(&sv->wake_mu);
    pthread_cond_signal(&sv->wake);
    pthread_mutex_unlock(&sv->wake_mu);
}

static void sv_wait(mt__serve_t *sv, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&sv->wake_mu);
    if (!sv->stopping)
        pthread_cond_timedwait(&sv->wake, &sv->wake_mu, &ts);
    pthread_mutex_unlock(&sv->wake_mu);
}

static void sv_run_labels(const char *run_id, const char *test_id, char *out, size_t n)
{
    snprintf(out, n, "run=\"%s\",test=\"%s\"", run_id, test_id ? test_id : "");
}

/* Live-run gauges: labels remembered per run so they can be removed at the end. */
typedef struct sv_live_run {
    char id[40];
    char labels[160];
    int64_t start_ns; /* wall clock when this server started the run (OTLP's point times) */
} sv_live_run_t;

static pthread_mutex_t sv_lr_mu = PTHREAD_MUTEX_INITIALIZER;
static sv_live_run_t sv_lr[64];

static void sv_lr_set(const char *id, const char *labels)
{
    pthread_mutex_lock(&sv_lr_mu);
    for (size_t i = 0; i < 64; i++)
        if (sv_lr[i].id[0] == '\0') {
            snprintf(sv_lr[i].id, sizeof sv_lr[i].id, "%s", id);
            snprintf(sv_lr[i].labels, sizeof sv_lr[i].labels, "%s", labels);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            sv_lr[i].start_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
            break;
        }
    pthread_mutex_unlock(&sv_lr_mu);
}

static int sv_lr_get(const char *id, char *labels, size_t n, int take);

static int64_t sv_lr_start(const char *id)
{
    int64_t t = 0;
    pthread_mutex_lock(&sv_lr_mu);
    for (size_t i = 0; i < 64; i++)
        if (strcmp(sv_lr[i].id, id) == 0)
            t = sv_lr[i].start_ns;
    pthread_mutex_unlock(&sv_lr_mu);
    return t;
}

/* --otlp: the exporter's counts in /metrics (after each second and at each scrape) */
static void sv_otlp_metrics(mt__serve_t *sv)
{
    if (sv_otlp == NULL)
        return;
    mt__otlp_stats_t st;
    mt__otlp_stats(sv_otlp, &st);
    mt__metrics_set(sv->metrics, "mortar_otlp_seconds_total", "result=\"exported\"",
                    (double)st.exported);
    mt__metrics_set(sv->metrics, "mortar_otlp_seconds_total", "result=\"failed\"",
                    (double)st.failed);
    mt__metrics_set(sv->metrics, "mortar_otlp_seconds_total", "result=\"dropped\"",
                    (double)st.dropped);
    mt__metrics_set(sv->metrics, "mortar_otlp_retries_total", "", (double)st.retries);
}

/* --otlp: one stored second to the exporter (never blocks), and its counts in /metrics */
static void sv_otlp_second(mt__serve_t *sv, const char *run_id, const mt__agg_row_t *row)
{
    char base[160], test[80] = "";
    if (sv_otlp == NULL)
        return;
    if (sv_lr_get(run_id, base, sizeof base, 0)) {
        const char *t = strstr(base, "test=\"");
        if (t != NULL)
            snprintf(test, sizeof test, "%.*s", (int)strcspn(t + 6, "\""), t + 6);
    }
    json_t *d = json_loads(row->data_json, 0, NULL);
    mt_hist_t *h = NULL;
    if (row->latency_b64 != NULL &&
        mt_hist_decode(row->latency_b64, strlen(row->latency_b64), &h) != MT_OK)
        h = NULL;
    int64_t start = sv_lr_start(run_id);
    if (d != NULL && start == 0) { /* a run this server did not start: its clock, less t */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec -
                (json_integer_value(json_object_get(d, "t")) + 1) * 1000000000LL;
    }
    if (d != NULL)
        mt__otlp_push(sv_otlp, run_id, test[0] ? test : NULL, start, d, h);
    json_decref(d);
    mt_hist_free(h);
    sv_otlp_metrics(sv);
}

static int sv_lr_get(const char *id, char *labels, size_t n, int take)
{
    int found = 0;
    pthread_mutex_lock(&sv_lr_mu);
    for (size_t i = 0; i < 64; i++)
        if (strcmp(sv_lr[i].id, id) == 0) {
            snprintf(labels, n, "%s", sv_lr[i].labels);
            if (take)
                sv_lr[i].id[0] = '\0';
            found = 1;
            break;
        }
    pthread_mutex_unlock(&sv_lr_mu);
    return found;
}

/* latency_us keys of a second and the "percentile" label values of the gauge */
static const char *const sv_quantiles[] = {"p50", "p90", "p99", "p999", NULL};
static const char *const sv_pct_labels[] = {"50", "90", "99", "99.9"};

static void sv_metrics_second(mt__serve_t *sv, const char *run_id, const char *data_json)
{
    char base[160];
    if (!sv_lr_get(run_id, base, sizeof base, 0))
        return;
    json_t *d = json_loads(data_json, 0, NULL);
    if (d == NULL)
        return;
    double span = json_number_value(json_object_get(d, "span_s"));
    double done = json_number_value(json_object_get(d, "completed"));
    mt__metrics_set(sv->metrics, "mortar_run_rps", base, span > 0 ? done / span : done);
    mt__metrics_add(sv->metrics, "mortar_run_errors_total", base,
                    json_number_value(json_object_get(d, "errors")));
    mt__metrics_set(sv->metrics, "mortar_run_open_connections", base,
                    json_number_value(json_object_get(d, "open_connections")));
    /* the generators' own CPU (docs/measurement.md): 0 added for a second without it */
    mt__metrics_add(sv->metrics, "mortar_run_generator_cpu_seconds_total", base,
                    json_number_value(json_object_get(json_object_get(d, "generator"), "cpu_us")) /
                        1e6);
    json_t *lat = json_object_get(d, "latency_us");
    for (const char *const *q = sv_quantiles; *q; q++) {
        char l[200];
        snprintf(l, sizeof l, "%s,percentile=\"%s\"", base, sv_pct_labels[q - sv_quantiles]);
        mt__metrics_set(sv->metrics, "mortar_run_latency_seconds", l,
                        json_number_value(json_object_get(lat, *q)) / 1e6);
    }
    json_decref(d);
}

static void sv_metrics_end(mt__serve_t *sv, const char *run_id)
{
    char base[160];
    if (!sv_lr_get(run_id, base, sizeof base, 1))
        return;
    mt__metrics_remove(sv->metrics, "mortar_run_rps", base);
    mt__metrics_remove(sv->metrics, "mortar_run_errors_total", base);
    mt__metrics_remove(sv->metrics, "mortar_run_open_connections", base);
    mt__metrics_remove(sv->metrics, "mortar_run_generator_cpu_seconds_total", base);
    for (const char *const *q = sv_quantiles; *q; q++) {
        char l[200];
        snprintf(l, sizeof l, "%s,percentile=\"%s\"", base, sv_pct_labels[q - sv_quantiles]);
        mt__metrics_remove(sv->metrics, "mortar_run_latency_seconds", l);
    }
}

/* The aggregator's sink: one transaction per merged second, then the live listeners. */
static int sv_on_second(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                        size_t n)
{
    mt__serve_t *sv = ud;
    if (sv->dist != NULL && mt__dist_stored_before(sv->dist, run_id, second)) {
        mt__bus_ack(sv->bus, run_id, second); /* replayed after a restart: stored already */
        return MT_OK;
    }
    int rc = sv->store->ops->run_append_second(sv->store, run_id, second, rows, n);
    if (rc != MT_OK) {
        char s[16];
        snprintf(s, sizeof s, "%u", second);
        mt__log_limited("serve.second", 10, MT_LOG_ERROR, "second not stored", "run", run_id,
                        "second", s, "error", sv->store->ops->last_error(sv->store), NULL);
        return rc;
    }
    mt__bus_ack(sv->bus, run_id, second); /* NATS: the stream may forget its snapshots */
    mt__cluster_second(sv->cluster, run_id, second);
    if (n > 0) {
        mt__sse_second(sv->live, run_id, second, rows[0].data_json);
        sv_otlp_second(sv, run_id, &rows[0]);
        sv_metrics_second(sv, run_id, rows[0].data_json);
    }
    return MT_OK;
}

static const char *sv_sink_why(void *ud)
{
    mt__serve_t *sv = ud;
    return sv->store->ops->last_error(sv->store);
}

/* ---- final states: stored, or kept and retried until they are (docs/security.md) ---- */

typedef struct sv_final {
    struct sv_final *next;
    char *id, *state, *reason, *summary, *verdicts, *loss_reason;
    uint32_t lost;
    int tries;
    int64_t due_ms;
} sv_final_t;

static pthread_mutex_t sv_finals_mu = PTHREAD_MUTEX_INITIALIZER;
static sv_final_t *sv_finals;

static void sv_final_free(sv_final_t *f)
{
    free(f->id);
    free(f->state);
    free(f->reason);
    free(f->summary);
    free(f->verdicts);
    free(f->loss_reason);
    free(f);
}

static char *sv_dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* One attempt at f: its losses, then its final state (one op each; the loss is idempotent). */
static int sv_final_try(mt__serve_t *sv, const sv_final_t *f, json_t **run)
{
    int rc = MT_OK;
    if (f->lost > 0)
        rc = sv->store->ops->run_set_loss(sv->store, f->id, f->lost, f->loss_reason);
    if (rc == MT_OK)
        rc = sv->store->ops->run_finish(sv->store, f->id, f->state, f->reason, f->summary,
                                        f->verdicts, run);
    return rc;
}

/* Ends run id in the store; when the store fails (MT_ESYS) the end is kept and retried by the
 * dispatcher until it is stored (a run stopped while the disk is full ends `stopped` once space
 * returns). MT_OK, or the store's code (an ECONFLICT: the run was final already). */
static int sv_finish(mt__serve_t *sv, const char *id, const char *state, const char *reason,
                     const char *summary, const char *verdicts, uint32_t lost,
                     const char *loss_reason, json_t **run)
{
    sv_final_t f = {.id = (char *)id,
                    .state = (char *)state,
                    .reason = (char *)reason,
                    .summary = (char *)summary,
                    .verdicts = (char *)verdicts,
                    .loss_reason = (char *)loss_reason,
                    .lost = lost};
    int rc = sv_final_try(sv, &f, run);
    if (rc != MT_ESYS)
        return rc;
    sv_final_t *k = calloc(1, sizeof *k);
    if (k == NULL || (k->id = strdup(id)) == NULL || (k->state = strdup(state)) == NULL) {
        if (k != NULL)
            sv_final_free(k);
        return rc;
    }
    k->reason = sv_dup(reason);
    k->summary = sv_dup(summary);
    k->verdicts = sv_dup(verdicts);
    k->loss_reason = sv_dup(loss_reason);
    k->lost = lost;
    k->due_ms = mt__now_ms() + 500;
    mt__log(MT_LOG_WARN, "run end not stored; kept and retried until it is", "run", id, "state",
            state, "reason", sv->store->ops->last_error(sv->store), NULL);
    pthread_mutex_lock(&sv_finals_mu);
    k->next = sv_finals;
    sv_finals = k;
    pthread_mutex_unlock(&sv_finals_mu);
    return rc;
}

int mt__serve_finish(mt__serve_t *sv, const char *id, const char *state, const char *reason,
                     json_t **run)
{
    return sv_finish(sv, id, state, reason, NULL, NULL, 0, NULL, run);
}

/* Retries the kept final states that are due (dispatcher thread): 0.5 s doubling to 10 s. */
static void sv_finals_retry(mt__serve_t *sv)
{
    int64_t now = mt__now_ms();
    pthread_mutex_lock(&sv_finals_mu);
    sv_final_t *list = sv_finals;
    sv_finals = NULL;
    pthread_mutex_unlock(&sv_finals_mu);
    sv_final_t *keep = NULL;
    while (list != NULL) {
        sv_final_t *f = list;
        list = f->next;
        json_t *run = NULL;
        int rc = f->due_ms <= now ? sv_final_try(sv, f, &run) : MT_ESYS;
        if (rc == MT_ESYS) {
            if (f->due_ms <= now) {
                f->tries++;
                int64_t d = 500LL << (f->tries < 5 ? f->tries : 5);
                f->due_ms = now + (d < 10000 ? d : 10000);
            }
            f->next = keep;
            keep = f;
            continue;
        }
        if (rc == MT_OK) {
            mt__log(MT_LOG_INFO, "run finished (its end stored after the store recovered)", "run",
                    f->id, "state", f->state, "reason", f->reason, NULL);
            mt__sse_state(sv->live, f->id, run);
        }
        json_decref(run);
        sv_final_free(f);
    }
    pthread_mutex_lock(&sv_finals_mu);
    while (keep != NULL) {
        sv_final_t *f = keep;
        keep = f->next;
        f->next = sv_finals;
        sv_finals = f;
    }
    pthread_mutex_unlock(&sv_finals_mu);
}

static int sv_finals_pending(void)
{
    pthread_mutex_lock(&sv_finals_mu);
    int n = sv_finals != NULL;
    pthread_mutex_unlock(&sv_finals_mu);
    return n;
}

static void sv_finals_drop(void)
{
    pthread_mutex_lock(&sv_finals_mu);
    while (sv_finals != NULL) {
        sv_final_t *f = sv_finals;
        sv_finals = f->next;
        mt__log(MT_LOG_ERROR, "run end never stored (the store failed until shutdown)", "run",
                f->id, "state", f->state, NULL);
        sv_final_free(f);
    }
    pthread_mutex_unlock(&sv_finals_mu);
}

/* The baseline verdict at a run's end (docs/analysis.md): when the run completed (passed or
 * failed; a stopped or broken run is not comparable) and its test has a baseline, the verdict
 * is appended to the run's verdicts (*vj, malloc'd); with the test's fail_on_regression a
 * regression turns "passed" into "failed" with a reason naming the metrics (in why). */
static void sv_baseline(mt__serve_t *sv, const mt__agg_end_t *e, const char **state,
                        const char **reason, char **vj, char *why, size_t whylen)
{
    json_t *v = NULL, *all;
    bool fail = false;
    char err[256] = "";

    if (strcmp(e->state, "passed") != 0 && strcmp(e->state, "failed") != 0)
        return;
    if (mt__baseline_at_end(sv->store, e->run_id, &v, &fail, err, sizeof err) != MT_OK) {
        mt__log(MT_LOG_WARN, "baseline verdict not made", "run", e->run_id, "error", err, NULL);
        return;
    }
    if (v == NULL)
        return;
    all = json_loads(e->verdicts_json != NULL ? e->verdicts_json : "[]", 0, NULL);
    if (!json_is_array(all)) {
        json_decref(all);
        all = json_array();
    }
    if (fail && json_is_true(json_object_get(v, "regressed")) && strcmp(e->state, "passed") == 0) {
        *state = "failed";
        snprintf(why, whylen, "baseline regression: %s",
                 json_string_value(json_object_get(v, "message")));
        *reason = why;
        json_object_set_new(v, "failed_run", json_true());
    }
    json_array_append_new(all, v);
    *vj = json_dumps(all, JSON_COMPACT);
    json_decref(all);
}

static void sv_on_end(void *ud, const mt__agg_end_t *e)
{
    mt__serve_t *sv = ud;
    const char *reason = e->reason;
    if (sv->stopping && strcmp(e->state, "stopped") == 0)
        reason = "server shutdown";
    json_t *run = NULL;
    const char *state = e->state;
    char *vj = NULL, why[600];
    sv_baseline(sv, e, &state, &reason, &vj, why, sizeof why);
    int rc = sv_finish(sv, e->run_id, state, reason, e->summary_json,
                       vj != NULL ? vj : e->verdicts_json, e->lost_seconds, e->loss_reason, &run);
    free(vj);
    if (rc == MT_OK) {
        mt__log(MT_LOG_INFO, "run finished", "run", e->run_id, "state", state, "reason", reason,
                NULL);
        mt__sse_state(sv->live, e->run_id, run);
        mt__changes_after_run(sv->store, run); /* test.changed (docs/analysis.md) */
    } else if (rc != MT_ESYS) {
        mt__log(MT_LOG_WARN, "run end not stored", "run", e->run_id, "state", e->state, "error",
                mt_strerror(rc), NULL);
        if (sv->store->ops->run_get(sv->store, e->run_id, &run) == MT_OK)
            mt__sse_state(sv->live, e->run_id, run);
    }
    json_decref(run);
    mt__bus_ack(sv->bus, e->run_id, UINT32_MAX);
    mt__cluster_disown(sv->cluster, e->run_id, 1); /* its lease and stream messages go */
    if (sv->dist != NULL && mt__dist_run_over(sv->dist, e->run_id)) {
        /* resumed after a restart: the aggregator saw only the seconds since then */
        json_t *page = json_pack("{s:[{s:s}]}", "items", "id", e->run_id);
        sv_summarise_interrupted(sv, page);
        json_decref(page);
    }
    sv_metrics_end(sv, e->run_id);
    mt__serve_wake(sv);
}

static void sv_on_heartbeat(const char *subject, const void *msg, size_t len, void *ud)
{
    mt__serve_t *sv = ud;
    json_t *j = json_loadb(msg, len, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "name"));
    if (name) {
        char *labels = json_dumps(json_object_get(j, "labels"), JSON_COMPACT);
        sv->store->ops->agent_heartbeat(sv->store, name, labels ? labels : "{}",
                                        (int)json_integer_value(json_object_get(j, "capacity")),
                                        (int)json_integer_value(json_object_get(j, "active")),
                                        json_string_value(json_object_get(j, "version")),
                                        json_string_value(json_object_get(j, "state")),
                                        mt__now_ms());
        free(labels);
        if (sv->dist != NULL)
            mt__dist_heartbeat(sv->dist, j);
    }
    json_decref(j);
}

static void sv_fail_run(mt__serve_t *sv, const char *id, const char *reason)
{
    json_t *run = NULL;
    if (sv_finish(sv, id, "error", reason, NULL, NULL, 0, NULL, &run) == MT_OK) {
        mt__sse_state(sv->live, id, run);
        json_decref(run);
    }
    mt__log(MT_LOG_WARN, "run error", "run", id, "reason", reason, NULL);
}

/* ---- placement: which queued run starts, on which agents (docs/placement.md) ---- */

/* Queued runs for which too few matching agents are up: since when (dispatcher thread only). */
typedef struct sv_waiting {
    char id[40];
    int64_t since_ms;
    int seen;
} sv_waiting_t;

#define SV_MAX_WAITING 512
static sv_waiting_t sv_waiting[SV_MAX_WAITING];

static int64_t sv_waiting_since(const char *id, int64_t now)
{
    sv_waiting_t *free_slot = NULL;
    for (size_t i = 0; i < SV_MAX_WAITING; i++) {
        if (strcmp(sv_waiting[i].id, id) == 0) {
            sv_waiting[i].seen = 1;
            return sv_waiting[i].since_ms;
        }
        if (free_slot == NULL && sv_waiting[i].id[0] == '\0')
            free_slot = &sv_waiting[i];
    }
    if (free_slot) {
        snprintf(free_slot->id, sizeof free_slot->id, "%s", id);
        free_slot->since_ms = now;
        free_slot->seen = 1;
    }
    return now;
}

/* Forgets the runs not seen since the last sweep (started, stopped, or agents came up). */
static void sv_waiting_sweep(void)
{
    for (size_t i = 0; i < SV_MAX_WAITING; i++) {
        if (!sv_waiting[i].seen)
            sv_waiting[i].id[0] = '\0';
        sv_waiting[i].seen = 0;
    }
}

/* The agents placement may use: the store's list, with the built-in agent's own count. */
static mt__place_agent_t *sv_place_agents(mt__serve_t *sv, json_t **list, size_t *n)
{
    *n = 0;
    if (sv->store->ops->agent_list(sv->store, mt__now_ms(), list) != MT_OK)
        return NULL;
    json_t *items = json_object_get(*list, "items");
    size_t cnt = json_array_size(items);
    mt__place_agent_t *a = calloc(cnt ? cnt : 1, sizeof *a);
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < cnt; i++) {
        json_t *it = json_array_get(items, i);
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *state = json_string_value(json_object_get(it, "state"));
        json_t *labels = json_object_get(it, "labels");
        /* labels as text: json_dumps is freed with the list (kept in a hidden key) */
        char *text = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
        json_object_set_new(it, "_labels_text", json_string(text ? text : "{}"));
        free(text);
        a[i].name = name ? name : "";
        a[i].labels_json = json_string_value(json_object_get(it, "_labels_text"));
        a[i].capacity = (int)json_integer_value(json_object_get(it, "capacity"));
        int reported = (int)json_integer_value(json_object_get(it, "active_runs"));
        int assigned = (int)json_array_size(json_object_get(it, "runs"));
        a[i].active = reported > assigned ? reported : assigned;
        a[i].up = state && strcmp(state, "up") == 0;
        if (sv->agent && strcmp(a[i].name, sv->agent_name) == 0) {
            /* the built-in agent: its own count, not the last heartbeat's */
            a[i].capacity = sv->agent_capacity;
            a[i].active = mt__agent_active(sv->agent);
            a[i].up = 1;
        }
    }
    *n = cnt;
    return a;
}

/* A run placed on agents other than the built-in one alone: the two-phase start over NATS.
 * Without --nats only the built-in agent heartbeats, so no other agent is ever up and this
 * is not reached (with --nats, dist.c places and starts every run); should an agent's row be
 * left `up` in the store, the run fails with a clear reason instead of hanging. */
static int sv_start_distributed(mt__serve_t *sv, const json_t *run, const mt__place_agent_t *agents,
                                const size_t *chosen, unsigned n, char *err, size_t errlen)
{
    (void)sv;
    (void)run;
    (void)agents;
    (void)chosen;
    snprintf(err, errlen, "%u agents were chosen but this server has no NATS bus to reach them", n);
    return MT_EINVAL;
}

/* Starts run on the built-in agent (the path of every run before NATS). */
static void sv_start_local(mt__serve_t *sv, const json_t *run, const char *cfg)
{
    const char *id = json_string_value(json_object_get(run, "id"));
    const char *test = json_string_value(json_object_get(run, "test_id"));
    char err[512] = "";
    json_t *started = NULL;
    int rc = sv->store->ops->run_start(sv->store, id, sv->agent_name, &started);
    if (rc != MT_OK)
        return;
    mt__store_run_agent_t ra = MT_STORE_RUN_AGENT_INIT(sv->agent_name);
    ra.index = 0;
    ra.share_json = "{\"index\":0,\"of\":1,\"period\":1,\"residues\":[0]}";
    ra.state = "running";
    ra.clock_offset_us = 0;
    ra.start_skew_us = 0;
    sv->store->ops->run_agent_put(sv->store, id, &ra);
    char labels[160];
    sv_run_labels(id, test, labels, sizeof labels);
    sv_lr_set(id, labels);
    rc = mt__agg_watch(sv->agg, id, cfg, 1, err, sizeof err);
    if (rc == MT_OK)
        rc = mt__agent_start(sv->agent, id, cfg, err, sizeof err);
    if (rc == MT_OK) {
        mt__log(MT_LOG_INFO, "run started", "run", id, "agent", sv->agent_name, NULL);
        json_decref(started);
        started = NULL;
        if (sv->store->ops->run_get(sv->store, id, &started) == MT_OK)
            mt__sse_state(sv->live, id, started);
    } else {
        sv_metrics_end(sv, id);
        sv_fail_run(sv, id, err[0] ? err : mt_strerror(rc));
    }
    json_decref(started);
}

/* A waiting run's reason, stored and pushed to its live stream when it changed. */
static void sv_queued_reason(mt__serve_t *sv, const json_t *run, const char *reason)
{
    const char *id = json_string_value(json_object_get(run, "id"));
    const char *was = json_string_value(json_object_get(run, "reason"));
    int changed = 0;
    if ((was && strcmp(was, reason) == 0) || /* as listed: no write at all */
        sv->store->ops->run_queued_reason(sv->store, id, reason, &changed) != MT_OK || !changed)
        return;
    json_t *cur = NULL;
    if (sv->store->ops->run_get(sv->store, id, &cur) == MT_OK)
        mt__sse_state(sv->live, id, cur);
    json_decref(cur);
    mt__log(MT_LOG_INFO, "run waits for agents", "run", id, "reason", reason, NULL);
}

/* Acts on one placement decision; returns 1 when the run started or ended. */
static int sv_act(mt__serve_t *sv, json_t *run, const mt__place_cfg_t *pc,
                  const mt__place_result_t *res, const mt__place_agent_t *agents, int64_t now)
{
    const char *id = json_string_value(json_object_get(run, "id"));
    char err[512] = "";
    switch (res->verdict) {
    case MT_PLACE_INVALID:
        sv_fail_run(sv, id, res->reason);
        return 1;
    case MT_PLACE_TURN: /* enough agents exist: its turn comes when they free up */
        sv_queued_reason(sv, run, res->reason);
        return 0;
    case MT_PLACE_AGENTS: {
        sv_queued_reason(sv, run, res->reason);
        int64_t since = sv_waiting_since(id, now);
        if (pc->timeout_ms <= 0 || now - since < pc->timeout_ms)
            return 0;
        char why[800], t[32];
        if (pc->timeout_ms % 1000 == 0)
            snprintf(t, sizeof t, "%llds", pc->timeout_ms / 1000);
        else
            snprintf(t, sizeof t, "%lld.%03llds", pc->timeout_ms / 1000, pc->timeout_ms % 1000);
        snprintf(why, sizeof why, "placement timeout after %s: %s", t, res->reason);
        sv_fail_run(sv, id, why);
        return 1;
    }
    case MT_PLACE_START:
        break;
    }
    json_t *stripped = mt__place_cfg_strip(json_object_get(run, "config"));
    char *cfg = stripped ? json_dumps(stripped, JSON_COMPACT) : NULL;
    json_decref(stripped);
    pthread_mutex_lock(&sv->run_mu);
    if (cfg == NULL)
        sv_fail_run(sv, id, "the run config cannot be encoded");
    else if (pc->agents == 1 && sv->agent &&
             strcmp(agents[res->chosen[0]].name, sv->agent_name) == 0)
        sv_start_local(sv, run, cfg);
    else if (sv_start_distributed(sv, run, agents, res->chosen, pc->agents, err, sizeof err) !=
             MT_OK)
        sv_fail_run(sv, id, err);
    pthread_mutex_unlock(&sv->run_mu);
    free(cfg);
    return 1;
}

/* One pass over the queued runs, oldest first (mt__place_queue: runs that wait their turn hold
 * their agents; runs for which too few matching agents are up hold nothing and end `error`
 * after their placement_timeout). Returns 1 when a run started or ended. */
static int sv_dispatch_one(mt__serve_t *sv)
{
    if (sv->dist != NULL) /* over NATS: placement and the two-phase start (dist.c) */
        return mt__dist_dispatch_one(sv->dist);
    mt__store_page_t pg = {500, NULL};
    json_t *page = NULL;
    if (sv->store->ops->run_list(sv->store, "queued", NULL, &pg, &page) != MT_OK)
        return 0;
    json_t *items = json_object_get(page, "items"); /* newest first */
    size_t nq = json_array_size(items), nag = 0;
    int done = 0;
    json_t *list = NULL;
    mt__place_agent_t *agents = NULL;
    mt__place_run_t *runs = NULL;
    mt__place_cfg_t *cfgs = NULL;
    mt__place_result_t *res = NULL;
    size_t *chosen = NULL, total = 0;
    if (nq == 0) {
        sv_waiting_sweep();
        goto out;
    }
    agents = sv_place_agents(sv, &list, &nag);
    runs = calloc(nq, sizeof *runs);
    cfgs = calloc(nq, sizeof *cfgs);
    res = calloc(nq, sizeof *res);
    if (agents == NULL || runs == NULL || cfgs == NULL || res == NULL)
        goto out;
    for (size_t i = 0; i < nq; i++) {
        json_t *run = json_array_get(items, nq - 1 - i);
        char key[32], err[512];
        if (mt__place_cfg_read(json_object_get(run, "config"), &cfgs[i], key, sizeof key, err,
                               sizeof err) != MT_OK) {
            /* stored before the keys were checked: it can never be placed */
            sv_fail_run(sv, json_string_value(json_object_get(run, "id")), err);
            done = 1;
            goto out;
        }
        runs[i] = (mt__place_run_t){cfgs[i].agents, cfgs[i].selector};
        total += cfgs[i].agents;
    }
    chosen = calloc(total ? total : 1, sizeof *chosen);
    if (chosen == NULL)
        goto out;
    for (size_t i = 0, off = 0; i < nq; off += runs[i].want, i++)
        res[i].chosen = chosen + off;
    if (mt__place_queue(agents, nag, runs, nq, res) != MT_OK)
        goto out;
    int64_t now = mt__now_ms();
    for (size_t i = 0; i < nq && !sv->stopping; i++)
        done |= sv_act(sv, json_array_get(items, nq - 1 - i), &cfgs[i], &res[i], agents, now);
    sv_waiting_sweep(); /* every queued run was seen: forget the ones no longer waiting */
out:
    free(chosen);
    free(res);
    free(cfgs);
    free(runs);
    free(agents);
    json_decref(list);
    json_decref(page);
    return done;
}

/* Queued runs go to agents; while the store's writes fail nothing is started (a start must be
 * stored) and the loop backs off 0.5 s doubling to 10 s instead of spinning, with one log line
 * per 30 s. Kept final states are retried on every turn. */
static void *sv_dispatcher(void *arg)
{
    mt__serve_t *sv = arg;
    int backoff_ms = 0;
    while (!sv->stopping) {
        if (sv_finals_pending())
            sv_finals_retry(sv);
        char why[64];
        if (sv->store->ops->health(sv->store, why, sizeof why) != MT_OK) {
            backoff_ms = backoff_ms ? (backoff_ms * 2 < 10000 ? backoff_ms * 2 : 10000) : 500;
            char ms[16];
            snprintf(ms, sizeof ms, "%d", backoff_ms);
            mt__log_limited("dispatcher.store", 30, MT_LOG_WARN,
                            "dispatcher waits: the store's writes fail", "reason", why, "retry_ms",
                            ms, NULL);
            sv_wait(sv, backoff_ms);
            continue;
        }
        backoff_ms = 0;
        if (!mt__cluster_leader(sv->cluster)) { /* another server dispatches */
            sv_wait(sv, 500);
            continue;
        }
        if (!sv_dispatch_one(sv))
            sv_wait(sv, sv_finals_pending() ? 250 : 500);
    }
    return NULL;
}

int mt__serve_stop_run(mt__serve_t *sv, const char *id, const char *reason, json_t **out)
{
    pthread_mutex_lock(&sv->run_mu);
    json_t *run = NULL;
    int rc = sv->store->ops->run_get(sv->store, id, &run);
    const char *state = rc == MT_OK ? json_string_value(json_object_get(run, "state")) : "";
    if (rc != MT_OK) {
        /* not found or store error */
    } else if (strcmp(state, "queued") == 0) {
        json_decref(run);
        run = NULL;
        rc = sv_finish(sv, id, "stopped", reason, NULL, NULL, 0, NULL, &run);
        if (rc == MT_OK)
            mt__sse_state(sv->live, id, run);
        else if (rc == MT_ESYS) /* kept: it ends once the store takes writes again */
            rc = MT_OK;
    } else if (strcmp(state, "running") == 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "{\"stop\":\"%s\"}", reason);
        rc = sv->agent != NULL ? mt__agent_stop(sv->agent, id, reason) : MT_ENOTFOUND;
        if (rc == MT_ENOTFOUND) /* not on this agent: tell every agent */
            rc = MT_OK;
        char subj[96];
        snprintf(subj, sizeof subj, "mortar.runs.%s.control", id);
        mt__bus_publish(sv->bus, subj, msg, strlen(msg));
        mt__log(MT_LOG_INFO, "run stop asked", "run", id, "reason", reason, NULL);
    } else {
        rc = MT_ECONFLICT;
    }
    pthread_mutex_unlock(&sv->run_mu);
    if (rc == MT_OK)
        *out = run;
    else
        json_decref(run);
    return rc;
}

/* Counts the relay's results for /metrics, then records them in the store. */
static int sv_relay_record(void *ud, const char *delivery_id, int ok, int status, const char *error,
                           int64_t next_attempt_at)
{
    mt__serve_t *sv = sv_g;
    mt__metrics_add(sv->metrics, "mortar_webhook_deliveries_total",
                    ok                ? "result=\"delivered\""
                    : next_attempt_at ? "result=\"retry\""
                                      : "result=\"failed\"",
                    1);
    return sv->store->ops->relay_ops->record(ud, delivery_id, ok, status, error, next_attempt_at);
}

/* A firing rechecks its test against the target policy as it is now (an admin may have
 * tightened it since the schedule was made). The store does not record who made a schedule,
 * so the limits are the runner's (the least role that may make one); the destination's names
 * are checked here, its resolved addresses when the run connects. */
static int sv_sched_allowed(void *ud, const char *schedule_id, const char *test_id, char *why,
                            size_t n)
{
    mt__serve_t *sv = ud;
    json_t *t = NULL;
    char pointer[256] = "", detail[512] = "";
    (void)schedule_id;
    int rc = sv->store->ops->test_get(sv->store, test_id, &t);
    if (rc == MT_ENOTFOUND)
        return 0; /* the enqueue says so */
    if (rc != MT_OK)
        return rc;
    mt__policy_t *p = mt__serve_policy(sv);
    if (p == NULL) {
        json_decref(t);
        return MT_ENOMEM;
    }
    rc = mt__policy_check_config(p, "runner", json_object_get(t, "config"), 0, "/config", pointer,
                                 detail, sizeof pointer);
    mt__policy_unref(p);
    json_decref(t);
    if (rc == 0)
        return 0;
    snprintf(why, n, "the target policy refuses test %s: %s: %s", test_id, pointer, detail);
    return 1;
}

/* The scheduler's own thread: webhook deliveries run on the relay's (webhook.h), so a slow
 * receiver never delays a firing. */
static void *sv_scheduler(void *arg)
{
    mt__serve_t *sv = arg;
    mt__scheduler_ops_t ops = *sv->store->ops->sched_ops;
    ops.allowed = sv_sched_allowed;
    ops.allowed_ud = sv;
    while (!sv->stopping) {
        int64_t now = mt__now_ms() / 1000;
        /* one scheduler among several servers: the leader's */
        int q = mt__cluster_leader(sv->cluster) ? mt__scheduler_tick(&ops, sv->store, now) : 0;
        if (q > 0)
            mt__serve_wake(sv);
        sv_wait(sv, 1000);
    }
    return NULL;
}

/* ---- the target policy's hooks (policy.h) ------------------------------------------------- */

static mt__policy_t *sv_agent_policy(void *ud)
{
    return mt__serve_policy(ud);
}

/* A webhook URL against the policy: by name (sa NULL: before any lookup), or one address it
 * resolved to (curl's socket callback). */
static int sv_hook_check(void *ud, const char *url, const struct sockaddr *sa, unsigned len,
                         char *why, size_t n)
{
    mt__policy_t *p = mt__serve_policy(ud);
    mt_url_t u;
    mt_parse_err_t perr = {0};
    int rc = -1;
    if (p == NULL)
        snprintf(why, n, "out of memory");
    else if (mt_url_parse(url, &u, &perr) != MT_OK)
        snprintf(why, n, "not a URL: %s", perr.msg);
    else {
        rc = sa == NULL
                 ? mt__policy_check_name(p, u.tls ? "https" : "http", u.host, u.port_num, why, n)
                 : mt__policy_check_addr(p, u.host, sa, (socklen_t)len, why, n);
        mt_url_dispose(&u);
    }
    mt__policy_unref(p);
    return rc;
}

static int sv_hook_url_ok(void *ud, const char *url, char *why, size_t n)
{
    return sv_hook_check(ud, url, NULL, 0, why, n);
}

static int sv_hook_addr_ok(void *ud, const char *url, const struct sockaddr *sa, unsigned len,
                           char *why, size_t n)
{
    return sv_hook_check(ud, url, sa, len, why, n);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum mt__metric_type t;
    const char *help;
} sv_families[] = {
    {"mortar_http_requests_total", MT_COUNTER, "HTTP requests served, by method, route and code."},
    {"mortar_http_request_duration_seconds_total", MT_COUNTER,
     "Total seconds spent answering HTTP requests, by route (divide by the request count)."},
    {"mortar_runs", MT_GAUGE, "Runs in the store, by state."},
    {"mortar_agg_snapshots_total", MT_COUNTER, "Agent snapshots received by the aggregator."},
    {"mortar_agg_seconds_total", MT_COUNTER, "Merged run-seconds handed to the store."},
    {"mortar_bus_pending", MT_GAUGE, "Bus messages published and not yet delivered."},
    {"mortar_outbox_pending", MT_GAUGE, "Webhook deliveries waiting in the outbox."},
    {"mortar_webhook_deliveries_total", MT_COUNTER, "Webhook delivery attempts, by result."},
    {"mortar_otlp_seconds_total", MT_COUNTER,
     "--otlp: run-seconds exported to the collector, failed after retries, or dropped (queue "
     "full), by result."},
    {"mortar_otlp_retries_total", MT_COUNTER, "--otlp: export requests sent again."},
    {"mortar_agents", MT_GAUGE,
     "Agents, by state (up, draining, stopped; down: no heartbeat for 10 s)."},
    {"mortar_run_rps", MT_GAUGE, "Completed requests per second of a running run (last second)."},
    {"mortar_run_latency_seconds", MT_GAUGE,
     "Latency percentiles of a running run's last second, seconds."},
    {"mortar_run_errors_total", MT_COUNTER, "Errors of a running run."},
    {"mortar_run_open_connections", MT_GAUGE, "Open connections of a running run."},
    {"mortar_run_generator_cpu_seconds_total", MT_COUNTER,
     "CPU time of a running run's generators (their worker threads, all agents), seconds."},
    {"mortar_store_roundtrips_total", MT_COUNTER, "Statements sent to the store (PostgreSQL)."},
    {"mortar_store_roundtrip_seconds_total", MT_COUNTER,
     "Summed round-trip time of the statements sent to the store (PostgreSQL)."},
    {"mortar_store_pool_connections", MT_GAUGE, "Connections of the store's pool (PostgreSQL)."},
    {"mortar_store_pool_in_use", MT_GAUGE, "Connections of the store's pool held by an op now."},
    {"mortar_store_pool_waits_total", MT_COUNTER, "Store ops that waited for a free connection."},
    {"mortar_server_leader", MT_GAUGE,
     "1 when this server leads (runs the scheduler and the dispatcher), by server id."},
    {"mortar_server_owned_runs", MT_GAUGE,
     "Running runs whose aggregation this server owns (holds the lease of), by server id."},
    {"mortar_server_takeovers_total", MT_COUNTER,
     "Runs this server took over from a server whose lease lapsed, by server id."},
};

#define SV_CACHE_BYTES (64u << 20) /* finished runs' reads kept in memory */

/* Does an Accept-Encoding value accept gzip? ("gzip", "gzip;q=1", not "gzip;q=0") */
static int sv_accepts_gzip(const char *v)
{
    while (v && (v = strcasestr(v, "gzip")) != NULL) {
        const char *e = v + 4;
        while (*e == ' ')
            e++;
        if (*e == '\0' || *e == ',')
            return 1;
        if (*e == ';') {
            const char *q = strstr(e, "q=");
            const char *comma = strchr(e, ',');
            if (!q || (comma && q > comma) || strtod(q + 2, NULL) > 0)
                return 1;
        }
        v = e;
    }
    return 0;
}

static int sv_metrics_init(mt__serve_t *sv)
{
    int rc = mt__metrics_new(&sv->metrics);
    for (size_t i = 0; rc == MT_OK && i < sizeof sv_families / sizeof sv_families[0]; i++)
        rc = mt__metrics_declare(sv->metrics, sv_families[i].name, sv_families[i].t,
                                 sv_families[i].help);
    return rc;
}

static char *sv_metrics_text(mt__serve_t *sv, size_t *len)
{
    static const char *const states[] = {"queued",  "running",     "passed", "failed",
                                         "stopped", "interrupted", "error"};
    json_t *counts = NULL;
    int64_t outbox = 0;
    if (sv->store->ops->run_counts(sv->store, &counts, &outbox) == MT_OK) {
        for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
            char l[64];
            snprintf(l, sizeof l, "state=\"%s\"", states[i]);
            mt__metrics_set(sv->metrics, "mortar_runs", l,
                            (double)json_integer_value(json_object_get(counts, states[i])));
        }
        mt__metrics_set(sv->metrics, "mortar_outbox_pending", "", (double)outbox);
        json_decref(counts);
    }
    mt__store_stats_t ss;
    if (sv->store->ops->stats != NULL && sv->store->ops->stats(sv->store, &ss) == MT_OK) {
        mt__metrics_set(sv->metrics, "mortar_store_roundtrips_total", "", (double)ss.roundtrips);
        mt__metrics_set(sv->metrics, "mortar_store_roundtrip_seconds_total", "",
                        ss.roundtrip_seconds);
        mt__metrics_set(sv->metrics, "mortar_store_pool_connections", "", (double)ss.pool_size);
        mt__metrics_set(sv->metrics, "mortar_store_pool_in_use", "", (double)ss.pool_in_use);
        mt__metrics_set(sv->metrics, "mortar_store_pool_waits_total", "", (double)ss.pool_waits);
    }
    uint64_t secs = 0, snaps = 0, rej = 0;
    mt__agg_stats(sv->agg, &secs, &snaps, &rej);
    mt__metrics_set(sv->metrics, "mortar_agg_seconds_total", "", (double)secs);
    mt__metrics_set(sv->metrics, "mortar_agg_snapshots_total", "", (double)snaps);
    mt__metrics_set(sv->metrics, "mortar_bus_pending", "", (double)mt__bus_pending(sv->bus));
    sv_otlp_metrics(sv);
    if (sv->cluster != NULL) {
        char l[MT_CLUSTER_ID_MAX + 16];
        snprintf(l, sizeof l, "server=\"%s\"", mt__cluster_id(sv->cluster));
        mt__metrics_set(sv->metrics, "mortar_server_leader", l,
                        mt__cluster_leader(sv->cluster) ? 1.0 : 0.0);
        mt__metrics_set(sv->metrics, "mortar_server_owned_runs", l,
                        (double)mt__cluster_owned(sv->cluster));
        mt__metrics_set(sv->metrics, "mortar_server_takeovers_total", l,
                        (double)mt__cluster_takeovers(sv->cluster));
    }
    json_t *agents = NULL;
    if (sv->store->ops->agent_list(sv->store, mt__now_ms(), &agents) == MT_OK) {
        static const char *const ag_states[] = {"up", "down", "draining", "stopped"};
        int count[4] = {0};
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(agents, "items"), i, a)
        {
            const char *st = json_string_value(json_object_get(a, "state"));
            size_t k = 1; /* anything unknown counts as down */
            for (size_t j = 0; st && j < 4; j++)
                if (strcmp(st, ag_states[j]) == 0)
                    k = j;
            count[k]++;
        }
        for (size_t j = 0; j < 4; j++) {
            char l[32];
            snprintf(l, sizeof l, "state=\"%s\"", ag_states[j]);
            mt__metrics_set(sv->metrics, "mortar_agents", l, count[j]);
        }
        json_decref(agents);
    }
    return mt__metrics_render(sv->metrics, len);
}

/* ---- connection guard ------------------------------------------------------------------ */
/* libmicrohttpd runs a thread per connection and only has an idle timeout, so a client that
 * sends one header byte now and then holds a connection (and a thread) for ever. The guard
 * (docs/adr/0027-hostile-clients.md) knows every connection and its phase: waiting for its
 * headers (from accept, or from the end of the previous answer on a kept-alive connection),
 * sending its body, or being answered. A connection past its header or body deadline is cut
 * (shutdown(2): its thread sees the end of the stream and closes it), and when more than
 * max_waiting connections wait for headers, the one waiting longest is cut: a flood of slow
 * clients can never take the last slots (the reserve), so a client that sends its request at
 * once is still served. The list's lock orders shutdown() before libmicrohttpd's close(), so
 * the guard never touches a reused descriptor. */
enum { SG_HEADERS, SG_BODY, SG_BUSY, SG_CUT };

typedef struct sv_gconn {
    struct sv_gconn *prev, *next;
    int fd;
    int state;        /* SG_* */
    int64_t since_ms; /* monotonic: when the phase began */
} sv_gconn_t;

static struct {
    pthread_mutex_t mu;
    sv_gconn_t *head;
    size_t live;        /* connections not cut */
    size_t max_live;    /* --max-connections: more, and one is cut */
    size_t waiting;     /* connections in SG_HEADERS */
    size_t max_waiting; /* more: the longest waiting is cut */
    int64_t header_ms, body_ms;
    uint64_t cut_header, cut_body, cut_flood; /* since the last log line */
} sv_gd = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t sv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Cuts e (guard locked). */
static void sv_gd_cut(sv_gconn_t *e)
{
    if (e->state == SG_HEADERS)
        sv_gd.waiting--;
    sv_gd.live--;
    e->state = SG_CUT;
    shutdown(e->fd, SHUT_RDWR);
}

static void sv_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        sv_gconn_t *e = ci ? calloc(1, sizeof *e) : NULL;
        *socket_context = e;
        if (e == NULL)
            return;
        e->fd = ci->connect_fd;
        e->state = SG_HEADERS;
        e->since_ms = sv_mono_ms();
        pthread_mutex_lock(&sv_gd.mu);
        e->next = sv_gd.head;
        if (sv_gd.head)
            sv_gd.head->prev = e;
        sv_gd.head = e;
        sv_gd.live++;
        sv_gd.waiting++;
        /* over either limit: the connection waiting longest for its headers goes (the new
         * one when none waits: every other one is being answered) */
        while (sv_gd.waiting > sv_gd.max_waiting || sv_gd.live > sv_gd.max_live) {
            sv_gconn_t *old = NULL;
            for (sv_gconn_t *x = sv_gd.head; x; x = x->next)
                if (x->state == SG_HEADERS && (old == NULL || x->since_ms <= old->since_ms))
                    old = x;
            sv_gd_cut(old ? old : e);
            sv_gd.cut_flood++;
            if (old == NULL || old == e)
                break;
        }
        pthread_mutex_unlock(&sv_gd.mu);
        return;
    }
    sv_gconn_t *e = *socket_context;
    if (e == NULL)
        return;
    pthread_mutex_lock(&sv_gd.mu);
    if (e->state == SG_HEADERS)
        sv_gd.waiting--;
    if (e->state != SG_CUT)
        sv_gd.live--;
    if (e->prev)
        e->prev->next = e->next;
    else
        sv_gd.head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&sv_gd.mu);
    free(e);
    *socket_context = NULL;
}

/* The connection enters a phase (SG_HEADERS, SG_BODY or SG_BUSY); a cut one stays cut. */
static void sv_gd_phase(struct MHD_Connection *conn, int state)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    sv_gconn_t *e = ci ? ci->socket_context : NULL;
    if (e == NULL)
        return;
    pthread_mutex_lock(&sv_gd.mu);
    if (e->state != SG_CUT && e->state != state) {
        if (e->state == SG_HEADERS)
            sv_gd.waiting--;
        if (state == SG_HEADERS)
            sv_gd.waiting++;
        e->state = state;
        e->since_ms = sv_mono_ms();
    }
    pthread_mutex_unlock(&sv_gd.mu);
}

/* Every 250 ms: cuts the connections past their header or body deadline; one log line a
 * second at most says how many were cut and why. */
static void *sv_guard(void *arg)
{
    mt__serve_t *sv = arg;
    int64_t logged = 0;
    while (!sv->stopping) {
        /* its own sleep: a wait on sv->wake could take a wake-up meant for the dispatcher */
        struct timespec tick = {0, 250 * 1000000L};
        nanosleep(&tick, NULL);
        int64_t now = sv_mono_ms();
        uint64_t nh = 0, nb = 0, nf = 0;
        pthread_mutex_lock(&sv_gd.mu);
        for (sv_gconn_t *e = sv_gd.head; e; e = e->next)
            if (e->state == SG_HEADERS && now - e->since_ms > sv_gd.header_ms) {
                sv_gd_cut(e);
                sv_gd.cut_header++;
            } else if (e->state == SG_BODY && now - e->since_ms > sv_gd.body_ms) {
                sv_gd_cut(e);
                sv_gd.cut_body++;
            }
        if (now - logged >= 1000) {
            nh = sv_gd.cut_header, nb = sv_gd.cut_body, nf = sv_gd.cut_flood;
            sv_gd.cut_header = sv_gd.cut_body = sv_gd.cut_flood = 0;
        }
        pthread_mutex_unlock(&sv_gd.mu);
        if (nh + nb + nf > 0) {
            char h[24], b[24], f[24];
            snprintf(h, sizeof h, "%llu", (unsigned long long)nh);
            snprintf(b, sizeof b, "%llu", (unsigned long long)nb);
            snprintf(f, sizeof f, "%llu", (unsigned long long)nf);
            mt__log(MT_LOG_WARN, "slow connections closed", "header_timeout", h, "body_timeout", b,
                    "oldest_waiting_under_load", f, NULL);
            logged = now;
        }
    }
    return NULL;
}

/* ---- HTTP glue (libmicrohttpd) -------------------------------------------------------- */

typedef struct sv_conn {
    char *body;
    size_t len, cap;
    int too_large;
    int answered;      /* answered from the headers: the body is never read */
    mt__import_t *imp; /* POST /api/v1/runs/import: the body streams into it (import.h) */
    int64_t t0_ms;
    struct timespec t0;
} sv_conn_t;

typedef struct sv_sse {
    mt__serve_t *sv;
    mt__listener_t *l;
} sv_sse_t;

static ssize_t sv_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sv_sse_t *s = cls;
    long n = mt__listener_read(s->l, buf, max, 15000);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == 0) { /* keep-alive comment: also finds closed connections */
        static const char ka[] = ": keep-alive\n\n";
        size_t k = sizeof ka - 1 < max ? sizeof ka - 1 : max;
        memcpy(buf, ka, k);
        return (ssize_t)k;
    }
    return n;
}

static void sv_sse_free(void *cls)
{
    sv_sse_t *s = cls;
    mt__listener_free(s->sv->live, s->l);
    free(s);
}

static const char *sv_query(void *ctx, const char *key)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static const char *sv_ctype_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (dot && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (dot && strcmp(dot, ".json") == 0)
        return "application/json";
    if (dot && strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    return "application/octet-stream";
}

/* The UI's policy: only its own scripts, styles and API; no inline script, no framing. The
 * report pages (/report) inline their script, so they get their own policy below. */
static const char sv_csp_ui[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";
static const char sv_csp_report[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static int sv_static(const char *url, mt__resp_t *r)
{
    const char *name = NULL;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        name = "index.html";
    else if (strncmp(url, "/ui/", 4) == 0)
        name = url + 4;
    if (name == NULL)
        return 0;
    snprintf(r->route, sizeof r->route, "%s", strcmp(name, "index.html") == 0 ? "/" : "/ui/{name}");
    for (size_t i = 0; i < mt__serve_nassets; i++)
        if (strcmp(mt__serve_assets[i].name, name) == 0) {
            r->status = 200;
            r->ctype = sv_ctype_of(name);
            r->body = malloc(mt__serve_assets[i].len + 1);
            if (r->body)
                memcpy(r->body, mt__serve_assets[i].data, mt__serve_assets[i].len);
            r->len = mt__serve_assets[i].len;
            return 1;
        }
    return 0;
}

static void sv_simple(mt__resp_t *r, int status, const char *route, const char *ctype,
                      const char *body)
{
    r->status = status;
    r->ctype = ctype;
    r->body = strdup(body);
    r->len = strlen(body);
    snprintf(r->route, sizeof r->route, "%s", route);
}

static void sv_relay_wake(void *ud)
{
    mt__relay_wake(ud);
}

/* /readyz: 200 {"status":"ready"}, or 503 {"status":"not ready","reason":"store: disk full"}. */
static void sv_readyz(mt__serve_t *sv, mt__resp_t *r)
{
    char why[96] = "", st[64] = "";
    if (!sv->ready || sv->stopping)
        snprintf(why, sizeof why, "%s", sv->stopping ? "shutting down" : "starting");
    else if (sv->store->ops->ping(sv->store) != MT_OK)
        snprintf(why, sizeof why, "store: %s", sv->store->ops->last_error(sv->store));
    else if (sv->store->ops->health(sv->store, st, sizeof st) != MT_OK)
        snprintf(why, sizeof why, "store: writes fail: %s", st);
    else if (!mt__bus_connected(sv->bus))
        snprintf(why, sizeof why, "bus: not connected");
    if (why[0] == '\0') {
        sv_simple(r, 200, "/readyz", "application/json", "{\"status\":\"ready\"}");
        return;
    }
    json_t *o = json_pack("{s:s,s:s}", "status", "not ready", "reason", why);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    sv_simple(r, 503, "/readyz", "application/json",
              body != NULL ? body : "{\"status\":\"not ready\"}");
    free(body);
}

static void sv_observe(mt__serve_t *sv, const char *method, const mt__resp_t *r, int64_t t0_ms,
                       const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
    char l[200], code[8], ms[32];
    snprintf(code, sizeof code, "%d", r->status);
    /* a client picks the method: unknown ones share one series */
    snprintf(l, sizeof l, "method=\"%s\",route=\"%s\",code=\"%s\"", mt__api_method_label(method),
             r->route, code);
    mt__metrics_add(sv->metrics, "mortar_http_requests_total", l, 1);
    snprintf(l, sizeof l, "route=\"%s\"", r->route);
    mt__metrics_add(sv->metrics, "mortar_http_request_duration_seconds_total", l, s);
    snprintf(ms, sizeof ms, "%.3f", s * 1000);
    mt__log(r->status >= 500 ? MT_LOG_WARN : MT_LOG_INFO, "request", "method", method, "route",
            r->route, "status", code, "duration_ms", ms, NULL);
    (void)t0_ms;
}

/* A problem+json answer made here (before the API sees the request). */
static void sv_problem(mt__resp_t *r, int status, const char *slug, const char *title,
                       const char *detail)
{
    json_t *p = json_pack("{s:s,s:s,s:i,s:s}", "type", "", "title", title, "status", status,
                          "detail", detail);
    char type[128];
    snprintf(type, sizeof type, "https://mortar.dev/problems/%s", slug);
    json_object_set_new(p, "type", json_string(type));
    r->status = status;
    r->ctype = "application/problem+json";
    r->body = json_dumps(p, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(p);
    if (r->route[0] == '\0')
        snprintf(r->route, sizeof r->route, "other");
}

typedef struct sv_hdrs {
    size_t bytes;
    int authorization;
} sv_hdrs_t;

static enum MHD_Result sv_count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    sv_hdrs_t *h = cls;
    (void)kind;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
        h->authorization++;
    return MHD_YES;
}

enum { SV_GATE_READ, SV_GATE_ANSWERED, SV_GATE_NOW };

/* The first call of a request has its headers only. Everything that can be refused from them
 * is refused here, before one byte of the body is read: a path or headers over the limits, two
 * Authorization headers, a method the health checks do not take, and for the API a body
 * without a known token (401) or over MT__API_MAX_BODY (413). SV_GATE_ANSWERED: r is the
 * answer; SV_GATE_NOW: a body the endpoint never reads (not the API): answer at once, unread;
 * SV_GATE_READ: read the body, the API answers at the end. */
static int sv_gate(mt__serve_t *sv, struct MHD_Connection *conn, const char *url,
                   const char *method, mt__resp_t *r)
{
    char detail[160];
    if (strlen(url) >= MT__MAX_PATH) {
        snprintf(detail, sizeof detail, "the path is over %d bytes", MT__MAX_PATH - 1);
        sv_problem(r, 414, "uri-too-long", "URI too long", detail);
        return SV_GATE_ANSWERED;
    }
    sv_hdrs_t h = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, sv_count_header, &h);
    if (h.bytes > MT__MAX_HEADERS) {
        snprintf(detail, sizeof detail, "the request headers are over %zu bytes", MT__MAX_HEADERS);
        sv_problem(r, 431, "headers-too-large", "Request header fields too large", detail);
        return SV_GATE_ANSWERED;
    }
    if (h.authorization > 1) {
        sv_problem(r, 400, "bad-request", "Bad request",
                   "the request has more than one Authorization header");
        return SV_GATE_ANSWERED;
    }
    int health = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
    int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    if ((health && !get && !head) || (strcmp(url, "/metrics") == 0 && !get)) {
        snprintf(r->route, sizeof r->route, "%s", url);
        r->allow = health ? "GET, HEAD" : "GET";
        snprintf(detail, sizeof detail, "%.40s is not allowed here (allowed: %s)", method,
                 r->allow);
        sv_problem(r, 405, "method-not-allowed", "Method not allowed", detail);
        return SV_GATE_ANSWERED;
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long clen = cl ? strtoull(cl, NULL, 10) : 0;
    if (clen == 0 && te == NULL)
        return SV_GATE_READ; /* no body */
    if (strncmp(url, "/api/", 5) != 0)
        return SV_GATE_NOW;
    mt__api_match_t m;
    mt__api_match(url, &m);
    mt__req_t q = {.method = method,
                   .path = url,
                   .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                MHD_HTTP_HEADER_AUTHORIZATION)};
    if (mt__api_viewer(sv, &q, r) != 0) { /* no known token: 401, and the body stays unread */
        snprintf(r->route, sizeof r->route, "%s", m.route);
        return SV_GATE_ANSWERED;
    }
    if (clen > MT__API_MAX_BODY) { /* the API's own 413 (or 404), without reading */
        q.body_too_large = 1;
        mt__api_handle(sv, &q, r);
        return SV_GATE_ANSWERED;
    }
    return SV_GATE_READ;
}

static enum MHD_Result sv_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    mt__serve_t *sv = cls;
    sv_conn_t *c = *con_cls;
    mt__resp_t r;
    memset(&r, 0, sizeof r);
    const char *csp = sv_csp_ui;
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &c->t0);
        *con_cls = c;
        sv_gd_phase(conn, SG_BODY);
        if (strcmp(method, "POST") == 0 && strcmp(url, "/api/v1/runs/import") == 0) {
            /* a streamed body of any length (docs/import.md): authorised before it is read,
             * then free of the body deadline (a `collect --follow` lasts as long as its run) */
            mt__req_t q = {.method = method,
                           .path = url,
                           .authorization = MHD_lookup_connection_value(
                               conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                           .query = sv_query,
                           .query_ctx = conn};
            if (mt__import_begin(sv, &q, &r, &c->imp) != MT_OK) {
                c->answered = 1;
                goto respond;
            }
            sv_gd_phase(conn, SG_BUSY);
            return MHD_YES;
        }
        int g = sv_gate(sv, conn, url, method, &r);
        if (g == SV_GATE_READ)
            return MHD_YES;
        c->answered = 1; /* libmicrohttpd closes the connection after this early answer */
        if (g == SV_GATE_ANSWERED)
            goto respond;
    } else if (c->answered) {
        *upload_data_size = 0; /* answered already: nothing of the body is kept */
        return MHD_YES;
    } else if (c->imp != NULL) {
        if (*upload_data_size > 0) {
            mt__import_feed(c->imp, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        mt__import_end(c->imp, &r);
        c->imp = NULL;
        goto respond;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (c->too_large || c->len + n > MT__API_MAX_BODY) {
            c->too_large = 1;
        } else {
            if (c->len + n + 1 > c->cap) {
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + n + 1)
                    cap *= 2;
                char *nb = realloc(c->body, cap);
                if (nb == NULL)
                    return MHD_NO;
                c->body = nb;
                c->cap = cap;
            }
            memcpy(c->body + c->len, upload_data, n);
            c->len += n;
            c->body[c->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (strcmp(url, "/healthz") == 0) {
        sv_simple(&r, 200, "/healthz", "application/json", "{\"status\":\"ok\"}");
    } else if (strcmp(url, "/readyz") == 0) {
        /* with --nats, cut off from NATS means no run can start or be watched; a store that
         * cannot be read or written is not ready either (the reason is in the body) */
        sv_readyz(sv, &r);
    } else if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        mt__req_t q = {.method = "GET",
                       .path = "/metrics",
                       .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                    MHD_HTTP_HEADER_AUTHORIZATION)};
        if (mt__api_viewer(sv, &q, &r) == 0) {
            r.status = 200;
            r.body = sv_metrics_text(sv, &r.len);
            r.ctype = "text/plain; version=0.0.4; charset=utf-8";
            if (r.body == NULL)
                sv_simple(&r, 500, "/metrics", "text/plain", "cannot render the metrics\n");
        }
        snprintf(r.route, sizeof r.route, "/metrics");
    } else if (strncmp(url, "/api/", 5) == 0) {
        mt__req_t q = {
            .method = method,
            .path = url,
            .authorization =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            .idempotency_key =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key"),
            .last_event_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID"),
            .content_type =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
            .accept_gzip = sv_accepts_gzip(MHD_lookup_connection_value(
                conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING)),
            .query = sv_query,
            .query_ctx = conn,
            .body = c->body,
            .body_len = c->len,
            .body_too_large = c->too_large,
        };
        mt__api_handle(sv, &q, &r);
        if (strcmp(r.route, "/api/v1/runs/{id}/report") == 0)
            csp = sv_csp_report;
    } else if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) && sv_static(url, &r)) {
        /* served */
    } else {
        sv_simple(&r, 404, "other", "application/problem+json",
                  "{\"type\":\"https://mortar.dev/problems/not-found\",\"title\":\"Not found\","
                  "\"status\":404,\"detail\":\"no such page\"}");
    }

respond:
    sv_gd_phase(conn, SG_BUSY);
    struct MHD_Response *resp;
    if (r.live_run[0]) {
        sv_sse_t *s = calloc(1, sizeof *s);
        if (s == NULL || (s->l = mt__sse_listen(sv->live, r.live_run)) == NULL) {
            free(s);
            return MHD_NO;
        }
        s->sv = sv;
        mt__listener_prime(s->l, sv->store, r.live_run, r.live_from, sv_live_window);
        resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sv_sse_read, s, sv_sse_free);
        if (resp == NULL) {
            sv_sse_free(s);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else {
        resp = MHD_create_response_from_buffer(r.len, r.body ? r.body : (void *)"",
                                               r.body ? MHD_RESPMEM_MUST_FREE
                                                      : MHD_RESPMEM_PERSISTENT);
        r.body = NULL;
        if (resp == NULL)
            return MHD_NO;
    }
    if (r.ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.ctype);
    if (r.replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (r.gzip)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (r.gzip || strcmp(r.route, "/api/v1/runs/{id}/series") == 0 ||
        strcmp(r.route, "/api/v1/runs/{id}/summary") == 0 ||
        strcmp(r.route, "/api/v1/runs/{id}/result") == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (r.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r.allow);
    if (r.status == 401) /* RFC 6750 */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mortar\"");
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    sv_observe(sv, method, &r, c->t0_ms, &c->t0);
    free(r.body);
    return ret;
}

static void sv_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sv_conn_t *c = *con_cls;
    if (c) {
        if (c->imp != NULL) /* cut off mid-body: the run ends with what came */
            mt__import_abort(c->imp);
        free(c->body);
        free(c);
        *con_cls = NULL;
    }
    (void)toe;
    sv_gd_phase(conn, SG_HEADERS); /* kept alive: the next request's headers have a deadline */
}

/* ---- flags and main ----------------------------------------------------------------------- */

static void sv_usage(FILE *f)
{
    fprintf(f,
            "Usage: mortar serve [flags]\n"
            "\n"
            "The control plane: stores tests and runs, runs them on the built-in agent, serves\n"
            "the REST API (/api/v1, docs/api.md), the web UI (/), /metrics, /healthz, /readyz.\n"
            "\n"
            "Flags:\n"
            "  --listen HOST:PORT    address to listen on (default 127.0.0.1:8400; port 0 = any\n"
            "                        free port)\n"
            "  --allow-remote        allow a non-loopback --listen address (use TLS in front)\n"
            "  --data DIR            data directory, created if missing (default ./mortar-data)\n"
            "  --store URI           keep the state in PostgreSQL instead of SQLite in --data:\n"
            "                        a libpq URI postgresql://[user@]host[:port]/db[?...]; the\n"
            "                        password from PGPASSWORD, ~/.pgpass or the next flag,\n"
            "                        never in the URI (docs/serve.md#choosing-a-store)\n"
            "  --store-password-file FILE\n"
            "                        the PostgreSQL password: the first line of FILE\n"
            "  --agent-capacity N    runs the built-in agent runs at once (default 1)\n"
            "  --policy FILE         the target policy (YAML or JSON, docs/security.md): where\n"
            "                        runs and webhooks may send, limits per role; stored for\n"
            "                        every server of the store (default: the stored one, else\n"
            "                        the built-in default)\n"
            "  --trace-url TMPL      link template of a trace id for runs whose config has no\n"
            "                        trace_url: 'https://tempo.internal/trace/{trace_id}'\n"
            "  --otlp URL            push every run's per-second metrics to an OpenTelemetry\n"
            "                        collector over OTLP/HTTP JSON (docs/tracing.md)\n"
            "\n"
            "Connections (docs/serve.md#connections):\n"
            "  --max-connections N   connections at once (default 1000); a tenth is kept for\n"
            "                        clients that send their request at once\n"
            "  --max-connections-per-ip N\n"
            "                        connections at once from one address (default 0: no\n"
            "                        limit; behind a proxy every client has its address)\n"
            "  --header-timeout S    seconds a client has to send a request's headers\n"
            "                        (default 10)\n"
            "  --body-timeout S      seconds a client has to send a request's body (default 60)\n"
            "  --live-window S       a live stream starts with the last S stored seconds\n"
            "                        (default 300; older ones: /series)\n"
            "\n"
            "Agents over NATS (docs/distributed.md): runs go to `mortar agent` "
            "processes\n" MT__NATS_USAGE
            "  --local-agent         with --nats: the built-in agent takes runs too\n"
            "\n"
            "Several servers on one store (docs/serve.md#several-servers):\n"
            "  --server-id ID        this server's name in run leases, logs and /metrics\n"
            "                        (default HOSTNAME-PID)\n"
            "  --on-shutdown MODE    what SIGTERM does to the runs this server aggregates:\n"
            "                        handover (release them to another server; the agents go\n"
            "                        on), stop, or auto (default: handover with --store\n"
            "                        postgresql:// and --nats without --local-agent, else stop)\n"
            "\n"
            "  --log-level LEVEL     debug, info, warn or error (default info); JSON lines on\n"
            "                        stderr\n"
            "  -h, --help            this help\n"
            "\n"
            "A first admin token: mortar token create --role admin --data DIR\n"
            "Docs: docs/serve.md\n");
}

/* HOST:PORT (IPv4, [IPv6] or localhost) into addr; *loopback set. */
static int sv_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *alen,
                           int *loopback)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(addr, 0, sizeof *addr);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *alen = sizeof *a6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *alen = sizeof *a4;
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

static int sv_parse(int argc, char **argv, sv_opts_t *o)
{
    static const struct option lo[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'L'},
        {"allow-remote", no_argument, NULL, 'r'},
        {"agent-capacity", required_argument, NULL, 'c'},
        {"local-agent", no_argument, NULL, 'A'},
        {"max-connections", required_argument, NULL, 'M'},
        {"max-connections-per-ip", required_argument, NULL, 'I'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"body-timeout", required_argument, NULL, 'B'},
        {"live-window", required_argument, NULL, 'W'},
        {"policy", required_argument, NULL, 'P'},
        {"store", required_argument, NULL, 'S'},
        {"store-password-file", required_argument, NULL, 'Q'},
        {"otlp", required_argument, NULL, 'O'},
        {"trace-url", required_argument, NULL, 'U'},
        {"server-id", required_argument, NULL, 'i'},
        {"on-shutdown", required_argument, NULL, 'X'},
        MT__NATS_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->listen = "127.0.0.1:8400";
    o->data = "./mortar-data";
    o->level = MT_LOG_INFO;
    o->capacity = 1;
    o->max_conns = 1000;
    o->header_s = 10;
    o->body_s = 60;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'l':
            o->listen = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'S': {
            char why[512];
            if (mt__store_uri_check(optarg, why, sizeof why) != MT_OK) {
                fprintf(stderr, "mortar serve: %s\n", why);
                return 2;
            }
            o->store = optarg;
            break;
        }
        case 'Q':
            o->store_pw = optarg;
            break;
        case 'r':
            o->allow_remote = 1;
            break;
        case 'c':
            if (mt__flag_int("serve", "--agent-capacity", optarg, 1, 64, &o->capacity) != 0)
                return 2;
            break;
        case 'L':
            if (strcmp(optarg, "debug") == 0)
                o->level = MT_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                o->level = MT_LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                o->level = MT_LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                o->level = MT_LOG_ERROR;
            else {
                fprintf(stderr,
                        "mortar serve: --log-level: '%s' is not debug, info, warn or "
                        "error\n",
                        optarg);
                return 2;
            }
            break;
        case 'A':
            o->local_agent = 1;
            break;
        case 'M':
            if (mt__flag_int("serve", "--max-connections", optarg, 16, 100000, &o->max_conns))
                return 2;
            break;
        case 'I':
            if (mt__flag_int("serve", "--max-connections-per-ip", optarg, 0, 100000,
                             &o->max_conns_ip))
                return 2;
            break;
        case 'H':
            if (mt__flag_int("serve", "--header-timeout", optarg, 1, 3600, &o->header_s))
                return 2;
            break;
        case 'B':
            if (mt__flag_int("serve", "--body-timeout", optarg, 1, 3600, &o->body_s))
                return 2;
            break;
        case 'W':
            if (mt__flag_int("serve", "--live-window", optarg, 1, 1000000, &sv_live_window))
                return 2;
            break;
        case 'P':
            o->policy = optarg;
            break;
        case 'U':
            if (strstr(optarg, "{trace_id}") == NULL ||
                (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)) {
                fprintf(stderr,
                        "mortar serve: --trace-url: '%s' is not an http(s) URL with a {trace_id} "
                        "placeholder\n",
                        optarg);
                return 2;
            }
            o->trace_url = optarg;
            break;
        case 'O':
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "mortar serve: --otlp: '%s' is not an http:// or https:// URL\n",
                        optarg);
                return 2;
            }
            o->otlp = optarg;
            break;
        case 'i':
            if (!mt__cluster_id_ok(optarg)) {
                fprintf(stderr,
                        "mortar serve: --server-id: '%s' is not 1 to %d of A-Z a-z 0-9 . _ -\n",
                        optarg, MT_CLUSTER_ID_MAX);
                return 2;
            }
            o->server_id = optarg;
            break;
        case 'X':
            if (strcmp(optarg, "stop") == 0)
                o->on_shutdown = SV_SHUT_STOP;
            else if (strcmp(optarg, "handover") == 0)
                o->on_shutdown = SV_SHUT_HANDOVER;
            else if (strcmp(optarg, "auto") == 0)
                o->on_shutdown = SV_SHUT_AUTO;
            else {
                fprintf(stderr, "mortar serve: --on-shutdown: '%s' is not auto, stop or handover\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            sv_usage(stdout);
            return 0;
        default:
            if (ch >= MT__NF_URL && ch <= MT__NF_KEY) {
                if (mt__nats_flag("serve", ch, optarg, &o->nats) != 0)
                    return 2;
                break;
            }
            fprintf(stderr,
                    "mortar serve: unknown or incomplete flag '%s'\nTry 'mortar serve "
                    "--help'.\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mortar serve: unexpected argument '%s'\nTry 'mortar serve --help'.\n",
                argv[optind]);
        return 2;
    }
    if (o->local_agent && o->nats.url == NULL) {
        fprintf(stderr, "mortar serve: --local-agent goes with --nats (without it the built-in "
                        "agent runs everything)\n");
        return 2;
    }
    if (o->on_shutdown == SV_SHUT_HANDOVER &&
        (o->nats.url == NULL || o->store == NULL || o->local_agent)) {
        fprintf(stderr, "mortar serve: --on-shutdown handover needs several servers' setup: "
                        "--store postgresql://..., --nats, and no --local-agent (its part of a "
                        "run ends with the process)\n");
        return 2;
    }
    if (mt__nats_flags_finish("serve", &o->nats) != 0)
        return 2;
    return -1;
}

/* Several servers on one store: the runs this server does not aggregate are another's, and a
 * shutdown here leaves them alone. */
static bool sv_shared(const mt__serve_t *sv)
{
    return sv->dist != NULL && sv->cluster != NULL &&
           strcmp(sv->store->ops->name, "postgresql") == 0;
}

/* Gives run id up without ending it (--on-shutdown handover): its lease is released, so
 * another server takes it over at its next turn (cluster.c) and resumes it from the stored
 * seconds and the stream, as after a crash; the agents go on meanwhile. */
static void sv_handover(mt__serve_t *sv, const char *id)
{
    mt__agg_unwatch(sv->agg, id);
    mt__dist_run_over(sv->dist, id);
    mt__cluster_disown(sv->cluster, id, 0);
    sv->store->ops->lease_release(sv->store, id, mt__cluster_id(sv->cluster));
    mt__log(MT_LOG_INFO, "run handed over", "run", id, "server", mt__cluster_id(sv->cluster), NULL);
}

static void sv_shutdown_runs(mt__serve_t *sv, bool handover)
{
    mt__store_page_t pg = {500, NULL};
    json_t *page = NULL;
    bool shared = sv_shared(sv);
    if (sv->store->ops->run_list(sv->store, "running", NULL, &pg, &page) != MT_OK)
        return;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(page, "items"), i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        if (sv->agent != NULL)
            mt__agent_stop(sv->agent, id, "server shutdown");
        if (id == NULL || (shared && !mt__cluster_owns(sv->cluster, id)))
            continue; /* another server's run */
        if (handover) {
            sv_handover(sv, id);
            continue;
        }
        if (sv->dist != NULL) {
            char subj[96];
            snprintf(subj, sizeof subj, "mortar.runs.%s.control", id);
            const char *stop = "{\"stop\":\"server shutdown\"}";
            mt__bus_publish(sv->bus, subj, stop, strlen(stop));
        }
    }
    json_decref(page);
}

static void sv_finish_leftovers(mt__serve_t *sv, bool shared)
{
    mt__store_page_t pg = {500, NULL};
    json_t *page = NULL;
    if (sv->store->ops->run_list(sv->store, "running", NULL, &pg, &page) != MT_OK)
        return;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(page, "items"), i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        if (id == NULL || (shared && !mt__cluster_owns(sv->cluster, id)))
            continue; /* another server's run, or one handed over */
        json_t *run = NULL;
        if (sv->store->ops->run_finish(sv->store, id, "stopped", "server shutdown", NULL, NULL,
                                       &run) == MT_OK)
            mt__sse_state(sv->live, id, run);
        json_decref(run);
    }
    json_decref(page);
}

/* libmicrohttpd's own messages ("Failed to bind to port 0: ...") go to the debug log, not to
 * stderr: the failures users must see are reported by us, naming what we were doing. */
static void sv_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    int saved = errno;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    mt__log(MT_LOG_DEBUG, "libmicrohttpd", "message", msg, NULL);
    errno = saved;
}

/* An interrupted run has no summary from the aggregator: compute it from what was stored. */
static void sv_summarise_interrupted(mt__serve_t *sv, const json_t *page)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(page, "items"), i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        mt__store_rows_t rows;
        if (sv->store->ops->run_rows(sv->store, id, NULL, 0, INT64_MAX / 2, &rows) != MT_OK)
            continue;
        char err[256] = "";
        json_t *sum = rows.n ? mt__analysis_summary(rows.rows, rows.n, err, sizeof err) : NULL;
        mt__store_rows_dispose(&rows);
        if (sum) /* the run did not end as planned */
            json_object_set_new(sum, "interrupted", json_true());
        char *text = sum ? json_dumps(sum, JSON_COMPACT) : NULL;
        if (text)
            sv->store->ops->run_set_summary(sv->store, id, text);
        else if (err[0])
            mt__log(MT_LOG_WARN, "interrupted run not summarised", "run", id, "error", err, NULL);
        free(text);
        json_decref(sum);
    }
}

int mt_cli_serve(int argc, char **argv)
{
    sv_opts_t o = {0};
    int prc = sv_parse(argc, argv, &o);
    if (prc >= 0)
        return prc;
    struct sockaddr_storage addr;
    socklen_t alen;
    int loopback = 0;
    if (sv_parse_listen(o.listen, &addr, &alen, &loopback) != 0) {
        fprintf(stderr,
                "mortar serve: --listen: '%s' is not HOST:PORT (an IP address, "
                "[IPv6] or localhost, and a port 0..65535)\n",
                o.listen);
        return 2;
    }
    if (!loopback && !o.allow_remote) {
        fprintf(stderr,
                "mortar serve: --listen %s is not a loopback address; the API would be "
                "reachable from other machines. Add --allow-remote to mean it (and put "
                "TLS in front).\n",
                o.listen);
        return 2;
    }
    mt__policy_t *file_policy = NULL;
    if (o.policy != NULL) {
        char perr[600];
        file_policy = mt__policy_load(o.policy, perr, sizeof perr);
        if (file_policy == NULL) {
            fprintf(stderr, "mortar serve: --policy: %s\n", perr);
            return 2;
        }
    }
    mt__log_init(2, o.level);
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread started below inherits it */

    mt__serve_t sv = {.agent_name = "local", .agent_capacity = o.capacity};
    sv_g = &sv;
    pthread_mutex_init(&sv.run_mu, NULL);
    pthread_mutex_init(&sv.wake_mu, NULL);
    pthread_cond_init(&sv.wake, NULL);
    pthread_mutex_init(&sv.policy_mu, NULL);
    char err[512] = "";
    /* one server per data directory: two would dispatch the same queued runs. The lock is
     * taken before the store is opened, so a second server never migrates the schema under
     * the first one (the directory is created here for the lock file). With --store, the data
     * directory is not used: the database holds the state and its advisory lock guards the
     * migrations (ADR 0033). */
    int lock_fd = -1;
    if (o.store == NULL) {
        char lock_path[4096];
        snprintf(lock_path, sizeof lock_path, "%s/serve.lock", o.data);
        {
            char tmp[4096]; /* like mkdir -p: the parents too */
            snprintf(tmp, sizeof tmp, "%s", o.data);
            for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                    *p = '\0';
                    mkdir(tmp, 0700);
                    *p = '/';
                }
        }
        if (mkdir(o.data, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "mortar serve: %s: cannot create the data directory: %s\n", o.data,
                    strerror(errno));
            mt__policy_unref(file_policy);
            return 1;
        }
        lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
            fprintf(stderr, "mortar serve: %s: %s\n", lock_path,
                    lock_fd < 0 ? strerror(errno)
                                : "another mortar serve uses this data directory (one per --data)");
            if (lock_fd >= 0)
                close(lock_fd);
            mt__policy_unref(file_policy);
            return 1;
        }
    }
    int rc = mt__store_open_any(o.data, o.store, o.store_pw, &sv.store, err, sizeof err);
    if (rc != MT_OK) {
        mt__policy_unref(file_policy);
        fprintf(stderr, "mortar serve: store: %s\n", err);
        if (lock_fd >= 0)
            close(lock_fd);
        if (rc == MT_EINVAL)
            return 2;
        return rc == MT_EFORMAT ? 2 : 1;
    }
    /* --policy FILE wins at start: stored, so every server of the store applies it */
    if (file_policy != NULL && (rc = mt__serve_set_policy(&sv, file_policy)) != MT_OK) {
        fprintf(stderr, "mortar serve: --policy: cannot store it: %s\n", mt_strerror(rc));
        sv.store->ops->close(sv.store);
        if (lock_fd >= 0)
            close(lock_fd);
        return 1;
    }
    static mt__webhook_guard_t hook_guard = {sv_hook_url_ok, sv_hook_addr_ok, NULL};
    hook_guard.ud = &sv;
    mt__webhook_set_guard(&hook_guard);
    /* runs the last process left running were cut off: say so, keep what was stored */
    char reason[128], now[32];
    mt__rfc3339(mt__now_ms(), now);
    snprintf(reason, sizeof reason, "server stopped during the run (restart at %s)", now);
    mt__store_page_t rpg = {500, NULL};
    json_t *was_running = NULL;
    sv.store->ops->run_list(sv.store, "running", NULL, &rpg, &was_running);
    size_t nrec = 0;
    /* with NATS the agents keep running: those runs are resumed below instead */
    if (o.nats.url == NULL) {
        sv.store->ops->run_recover(sv.store, reason, &nrec);
        sv_summarise_interrupted(&sv, was_running);
    }
    if (nrec) {
        char n[24];
        snprintf(n, sizeof n, "%zu", nrec);
        mt__log(MT_LOG_WARN, "runs interrupted by the last stop", "runs", n, NULL);
    }
    mt__agent_info_t info = {.name = sv.agent_name,
                             .labels_json = "{\"zone\":\"local\"}",
                             .capacity = o.capacity,
                             .policy = sv_agent_policy,
                             .policy_ud = &sv};
    mt__agent_host_t *local_host = NULL;
    int ret = 1;
    pthread_t disp, tick, guard;
    mt__relay_t *relay = NULL;
    int threads = 0;
    struct MHD_Daemon *d = NULL;
    if ((rc = mt__sse_new(&sv.live)) != MT_OK || (rc = sv_metrics_init(&sv)) != MT_OK ||
        (rc = mt__cache_new(SV_CACHE_BYTES, &sv.cache)) != MT_OK) {
        fprintf(stderr, "mortar serve: cannot start: %s\n", mt_strerror(rc));
        goto out;
    }
    if (o.nats.url != NULL) {
        o.nats.name = "mortar-serve";
        o.nats.durable = "mortar-serve";
        rc = mt__bus_new_nats(&o.nats, &sv.bus, err, sizeof err);
        if (rc != MT_OK) {
            fprintf(stderr, "mortar serve: %s\n", err);
            ret = rc == MT_EINVAL ? 2 : 1;
            goto out;
        }
    } else if ((rc = mt__bus_new_inproc(&sv.bus)) != MT_OK) {
        fprintf(stderr, "mortar serve: cannot start: %s\n", mt_strerror(rc));
        goto out;
    }
    sv.trace_url = o.trace_url;
    if (o.otlp != NULL) {
        char oerr[200];
        if (mt__otlp_new(o.otlp, &sv_otlp, oerr, sizeof oerr) != MT_OK) {
            fprintf(stderr, "mortar serve: %s\n", oerr);
            goto out;
        }
    }
    mt__agg_sink_t sink = {sv_on_second, sv_on_end, sv_sink_why};
    if ((rc = mt__agg_new(sv.bus, &sink, &sv, &sv.agg)) != MT_OK ||
        (rc = mt__bus_subscribe(sv.bus, "mortar.agents.*.heartbeat", sv_on_heartbeat, &sv)) !=
            MT_OK) {
        fprintf(stderr, "mortar serve: cannot start: %s\n", mt_strerror(rc));
        goto out;
    }
    if (o.nats.url != NULL) {
        mt__dist_opts_t dopt = {.local_agent = o.local_agent};
        if ((rc = mt__bus_respond(sv.bus, "mortar.time", mt__time_reply, NULL)) != MT_OK ||
            (rc = mt__dist_new(&sv, &dopt, &sv.dist)) != MT_OK) {
            fprintf(stderr, "mortar serve: cannot start: %s\n", mt_strerror(rc));
            goto out;
        }
        /* the runs the last process (or a dead server of the store) left running are taken
         * over by the cluster thread's first turn (cluster.h), lease by lease */
    }
    {
        char sid[MT_CLUSTER_ID_MAX + 1];
        mt__cluster_default_id(sid);
        if ((rc = mt__cluster_new(&sv, o.server_id ? o.server_id : sid, o.nats.url != NULL,
                                  &sv.cluster)) != MT_OK) {
            fprintf(stderr, "mortar serve: cannot start: %s\n", mt_strerror(rc));
            goto out;
        }
        mt__log(MT_LOG_INFO, "server id", "server", mt__cluster_id(sv.cluster), NULL);
    }
    if (o.nats.url == NULL || o.local_agent) {
        if ((rc = mt__agent_new(&info, sv.bus, &sv.agent)) != MT_OK ||
            (o.nats.url != NULL && (rc = mt__agent_host_new(sv.bus, sv.agent, sv.agent_name, "",
                                                            30000, &local_host)) != MT_OK)) {
            fprintf(stderr, "mortar serve: cannot start the agent: %s\n", mt_strerror(rc));
            goto out;
        }
        sv.store->ops->agent_heartbeat(sv.store, sv.agent_name, info.labels_json, o.capacity, 0,
                                       MT_VERSION, "up", mt__now_ms());
    }
    /* the connection guard: deadlines, and a tenth of the connections kept from clients that
     * are slow to send their headers (ADR 0027). libmicrohttpd's own limit is twice ours:
     * connections the guard cut still count there until their threads have closed them, and
     * a burst of them must not make it refuse the next client. */
    sv_gd.header_ms = (int64_t)o.header_s * 1000;
    sv_gd.body_ms = (int64_t)o.body_s * 1000;
    /* a descriptor per connection, twice over (above), and some for the store and the bus:
     * raise the open-files limit as far as allowed, else fewer connections (said once) */
    struct rlimit nofile;
    unsigned mhd_limit = (unsigned)o.max_conns * 2;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < (rlim_t)mhd_limit + 128) {
        nofile.rlim_cur =
            nofile.rlim_max < (rlim_t)mhd_limit + 128 ? nofile.rlim_max : (rlim_t)mhd_limit + 128;
        setrlimit(RLIMIT_NOFILE, &nofile);
        getrlimit(RLIMIT_NOFILE, &nofile);
        if (nofile.rlim_cur < (rlim_t)mhd_limit + 128) {
            mhd_limit = nofile.rlim_cur > 160 ? (unsigned)nofile.rlim_cur - 128 : 32;
            if ((unsigned)o.max_conns > mhd_limit / 2)
                o.max_conns = (int)(mhd_limit / 2 < 16 ? 16 : mhd_limit / 2);
            char n[24], f[24];
            snprintf(n, sizeof n, "%d", o.max_conns);
            snprintf(f, sizeof f, "%llu", (unsigned long long)nofile.rlim_cur);
            mt__log(MT_LOG_WARN, "the open-files limit caps --max-connections", "max_connections",
                    n, "nofile", f, NULL);
        }
    }
    sv_gd.max_live = (size_t)o.max_conns;
    sv_gd.max_waiting = (size_t)(o.max_conns - o.max_conns / 10);
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                         0, NULL, NULL, sv_handler, &sv, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_NOTIFY_COMPLETED, sv_completed, NULL,
                         MHD_OPTION_NOTIFY_CONNECTION, sv_notify, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
                         mhd_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o.max_conns_ip,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
                         MHD_OPTION_EXTERNAL_LOGGER, sv_mhd_log, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "mortar serve: cannot listen on %s: %s\n", o.listen, strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    static mt__relay_ops_t relay_ops;
    relay_ops = *sv.store->ops->relay_ops;
    relay_ops.record = sv_relay_record;
    if ((rc = mt__relay_start(&relay_ops, sv.store, &relay)) != MT_OK) {
        fprintf(stderr, "mortar serve: cannot start the webhook relay: %s\n", mt_strerror(rc));
        goto out;
    }
    if (sv.store->ops->set_outbox_wake != NULL) /* PostgreSQL: LISTEN mortar_outbox */
        sv.store->ops->set_outbox_wake(sv.store, sv_relay_wake, relay);
    if (pthread_create(&disp, NULL, sv_dispatcher, &sv) != 0) {
        fprintf(stderr, "mortar serve: cannot start threads\n");
        goto out;
    }
    if (pthread_create(&tick, NULL, sv_scheduler, &sv) != 0) {
        fprintf(stderr, "mortar serve: cannot start threads\n");
        sv.stopping = 1;
        pthread_join(disp, NULL);
        goto out;
    }
    if (pthread_create(&guard, NULL, sv_guard, &sv) != 0) {
        fprintf(stderr, "mortar serve: cannot start threads\n");
        sv.stopping = 1;
        pthread_join(disp, NULL);
        pthread_join(tick, NULL);
        goto out;
    }
    threads = 1;
    sv.ready = 1;
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(o.listen, ':') - o.listen), o.listen);
    char url[300], pstr[8];
    snprintf(url, sizeof url, "http://%s:%u", host, port);
    snprintf(pstr, sizeof pstr, "%u", port);
    mt__log(MT_LOG_INFO, "serve started", "url", url, "store", sv.store->ops->name, "data",
            o.store ? "-" : o.data, NULL);
    printf("mortar serve: listening on %s\n", url);
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    mt__log(MT_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    ret = 0;
out:
    sv.ready = 0;
    pthread_mutex_lock(&sv.wake_mu);
    sv.stopping = 1;
    pthread_cond_broadcast(&sv.wake);
    pthread_mutex_unlock(&sv.wake_mu);
    if (threads) {
        pthread_join(disp, NULL);
        pthread_join(tick, NULL);
        pthread_join(guard, NULL);
    }
    mt__cluster_stop(sv.cluster); /* no more takeovers; the ends below still disown runs */
    if (relay != NULL && sv.store->ops->set_outbox_wake != NULL)
        sv.store->ops->set_outbox_wake(sv.store, NULL, NULL);
    mt__relay_stop(relay);
    bool shared = sv.store != NULL && sv_shared(&sv);
    bool handover = shared && (o.on_shutdown == SV_SHUT_HANDOVER ||
                               (o.on_shutdown == SV_SHUT_AUTO && sv.agent == NULL));
    if (sv.agent || sv.dist) {
        pthread_mutex_lock(&sv.run_mu);
        sv_shutdown_runs(&sv, handover);
        pthread_mutex_unlock(&sv.run_mu);
    }
    mt__agent_host_free(local_host);
    mt__agent_free(sv.agent); /* each run finishes its second and publishes its end */
    if (sv.dist != NULL) {
        mt__bus_flush(sv.bus);
        mt__dist_free(sv.dist);
        sv.dist = NULL;
    }
    if (sv.bus)
        mt__bus_close(sv.bus); /* delivers the ends: the sink stores the final states */
    mt__agg_free(sv.agg);
    mt__otlp_free(sv_otlp, 5000, NULL); /* the queued seconds go out, 5 s at most */
    sv_otlp = NULL;
    if (sv.store && sv.live)
        sv_finish_leftovers(&sv, shared);
    if (sv.live)
        mt__sse_shutdown(sv.live);
    if (d)
        MHD_stop_daemon(d);
    mt__bus_free(sv.bus);
    mt__cluster_free(sv.cluster);
    mt__sse_free(sv.live);
    if (sv.metrics)
        mt__metrics_free(sv.metrics);
    mt__cache_free(sv.cache);
    json_decref(was_running);
    sv_finals_drop();
    sv.store->ops->close(sv.store);
    if (lock_fd >= 0)
        close(lock_fd);
    mt__webhook_set_guard(NULL);
    mt__policy_unref(sv.policy);
    mt__log(MT_LOG_INFO, "serve stopped", NULL);
    return ret;
}
