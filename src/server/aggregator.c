/* The aggregator: per run, the snapshots of each second from every agent are merged exactly
 * (counters added, histograms added bucket by bucket) into a pending second; a second is
 * handed to the sink, in order, once it is complete. Runs with named agents (distributed):
 * complete when every agent's watermark passed it or the agent ended before it or was lost;
 * a snapshot already merged for (agent, second) is ignored and counted. Runs of the in-process
 * agent (mt__agg_watch): also when an agent sent a later second or 3 s after its first snapshot.
 * Verdicts run on the merged seconds. One mutex guards everything: bus deliveries and the
 * timer thread take it. Rules: docs/aggregation.md. */
#include "server/aggregator.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "result/result.h"
#include "runspec/runjob.h"
#include "runspec/verdicts.h"
#include "mortar/error.h"
#include "server/log.h"
#include "server/snapshot.h"

#define AGG_PREFIX     "mortar.runs."
#define AGG_TIMEOUT_NS (3 * 1000000000LL)
#define AGG_TICK_NS    (200 * 1000000LL)
#define AGG_MAX_AGENTS 4096
#define AGG_MAX_AHEAD  4096 /* seconds an agent may have sent above its watermark */
/* A second the sink refused is retried after 0.25, 0.5, 1, 2 and 4 s (about 8 s in all), and
 * lost after that; at most AGG_RETRY_HELD seconds of a run wait (the oldest is lost first). */
#define AGG_RETRY_FIRST_NS (250 * 1000000LL)
#define AGG_RETRY_TRIES    5
#define AGG_RETRY_HELD     32

typedef struct agg_acc {
    mt_counters_t c;
    mt_hist_t *lat, *svc;
} agg_acc_t;

typedef struct agg_agent {
    char name[64];
    bool any;            /* sent a snapshot */
    uint32_t max_second; /* highest second sent */
    bool ended;
    char outcome[16];
    char *reason;
    /* named runs: watermark = first second not received (all below arrived) */
    uint32_t wm;
    uint32_t *above; /* seconds received above the watermark, ascending */
    size_t nabove, capabove;
    bool has_count; /* the end said how many seconds the agent sent */
    uint32_t count;
    bool lost;
} agg_agent_t;

typedef struct agg_sec {
    struct agg_sec *next; /* ascending seconds */
    uint32_t second;
    int64_t first_ns; /* when its first snapshot arrived (aggregator clock) */
    int64_t span_ns;
    uint32_t open_conns;
    uint64_t backlog;
    agg_acc_t all;
    agg_acc_t *tags; /* ntags */
    bool *from;      /* per known agent (index in run->agents): its snapshot is in */
    /* --trace: the agents' exemplars merged (tag: index into the run's tags) */
    mt_exemplar_t slow[MT_EXEMPLARS_SLOW], errs[MT_EXEMPLARS_ERR];
    size_t nslow, nerrs;
} agg_sec_t;

/* A merged second the sink has not stored yet: its rows and its data (for the totals). */
typedef struct agg_retry {
    struct agg_retry *next;
    agg_sec_t *s;
    mt__agg_row_t rows[MT_MAX_TAGS + 1];
    char *bufs[MT_MAX_TAGS + 1][3];
    size_t nrows;
    int tries; /* retries made */
    int64_t due_ns;
} agg_retry_t;

typedef struct agg_run {
    struct agg_run *next;
    char id[40];
    unsigned nagents;
    agg_agent_t *agents_p; /* nagents; the first nknown are known by name */
    size_t nknown;
    char **tags;
    size_t ntags;
    mt__verdicts_t *v;
    agg_sec_t *pending;
    uint32_t next_second; /* seconds below it have been emitted */
    /* totals over emitted seconds */
    agg_acc_t total;
    agg_acc_t *ttags;
    int64_t elapsed_ns;
    uint32_t max_open;
    uint32_t stored;
    mt_hist_t *bd[MT__BD_N]; /* the agents' timing breakdowns (end messages), merged */
    bool stop_sent;
    char *stop_reason;
    bool named;         /* agents named at watch time (mt__agg_watch_agents) */
    int loss_policy;    /* enum mt__agg_loss */
    char *loss_reason;  /* the first agent lost: "agent gen-2 lost at second 17" */
    agg_retry_t *retry; /* seconds waiting to be stored again, oldest first */
    size_t nretry;
    uint32_t lost;     /* seconds never stored */
    char lost_why[64]; /* the store's reason for the last one lost */
    bool finishing;    /* every agent is done; the end waits for the retries */
    bool open_tags;    /* an import (mt__agg_watch_import): tags are learnt from snapshots */
} agg_run_t;

struct mt__agg {
    mt__bus_t *bus;
    mt__agg_sink_t sink;
    void *ud;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t timer;
    bool timer_on, quit;
    agg_run_t *runs;
    int64_t (*clock)(void *);
    void *clock_ud;
    uint64_t nseconds, nsnapshots, nrejected, nduplicates;
};

static int64_t agg_mono(void *ud)
{
    struct timespec ts;
    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- accumulators ---- */

static int acc_init(agg_acc_t *a)
{
    memset(a, 0, sizeof(*a));
    if (mt_hist_new_latency(&a->lat) != MT_OK || mt_hist_new_latency(&a->svc) != MT_OK)
        return MT_ENOMEM;
    return MT_OK;
}

static void acc_dispose(agg_acc_t *a)
{
    mt_hist_free(a->lat);
    mt_hist_free(a->svc);
    memset(a, 0, sizeof(*a));
}

static void acc_add(agg_acc_t *a, const mt_counters_t *c, const mt_hist_t *lat,
                    const mt_hist_t *svc)
{
    mt_counters_add(&a->c, c);
    if (lat != NULL)
        mt_hist_add(a->lat, lat);
    if (svc != NULL)
        mt_hist_add(a->svc, svc);
}

static agg_acc_t *accs_new(size_t n)
{
    agg_acc_t *t = n > 0 ? calloc(n, sizeof(*t)) : NULL;
    if (n > 0 && t == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (acc_init(&t[i]) != MT_OK) {
            for (size_t k = 0; k <= i; k++)
                acc_dispose(&t[k]);
            free(t);
            return NULL;
        }
    return t;
}

static void accs_free(agg_acc_t *t, size_t n)
{
    for (size_t i = 0; t != NULL && i < n; i++)
        acc_dispose(&t[i]);
    free(t);
}

/* ---- runs ---- */

static void sec_free(agg_sec_t *s, size_t ntags)
{
    if (s == NULL)
        return;
    acc_dispose(&s->all);
    accs_free(s->tags, ntags);
    free(s->from);
    free(s);
}

static void retry_free(agg_retry_t *t, size_t ntags)
{
    for (size_t i = 0; i < t->nrows; i++)
        for (int k = 0; k < 3; k++)
            free(t->bufs[i][k]);
    sec_free(t->s, ntags);
    free(t);
}

static void run_free(agg_run_t *r)
{
    if (r == NULL)
        return;
    while (r->retry != NULL) {
        agg_retry_t *t = r->retry;
        r->retry = t->next;
        retry_free(t, r->ntags);
    }
    while (r->pending != NULL) {
        agg_sec_t *s = r->pending;
        r->pending = s->next;
        sec_free(s, r->ntags);
    }
    for (size_t i = 0; i < r->nknown; i++) {
        free(r->agents_p[i].reason);
        free(r->agents_p[i].above);
    }
    free(r->agents_p);
    free(r->loss_reason);
    for (size_t i = 0; i < r->ntags; i++)
        free(r->tags[i]);
    free(r->tags);
    if (r->v != NULL)
        mt__verdicts_dispose(r->v);
    free(r->v);
    acc_dispose(&r->total);
    accs_free(r->ttags, r->ntags);
    for (int i = 0; i < MT__BD_N; i++)
        mt_hist_free(r->bd[i]);
    free(r->stop_reason);
    free(r);
}

static agg_run_t *run_find(mt__agg_t *g, const char *id, size_t len)
{
    for (agg_run_t *r = g->runs; r != NULL; r = r->next)
        if (strlen(r->id) == len && memcmp(r->id, id, len) == 0)
            return r;
    return NULL;
}

static void run_unlink(mt__agg_t *g, agg_run_t *r)
{
    for (agg_run_t **p = &g->runs; *p != NULL; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            return;
        }
}

/* The agent's index in r->agents_p, registering it when there is room; -1 otherwise. */
static int run_agent(agg_run_t *r, const char *name)
{
    for (size_t i = 0; i < r->nknown; i++)
        if (strcmp(r->agents_p[i].name, name) == 0)
            return (int)i;
    if (r->named || r->nknown >= r->nagents)
        return -1; /* an agent the run does not have */
    snprintf(r->agents_p[r->nknown].name, sizeof(r->agents_p[0].name), "%s", name);
    return (int)r->nknown++;
}

static int tag_index(const agg_run_t *r, const char *name)
{
    for (size_t i = 0; i < r->ntags; i++)
        if (strcmp(r->tags[i], name) == 0)
            return (int)i;
    return -1;
}

/* One more accumulator at the end of *t (n entries now). */
static int accs_grow(agg_acc_t **t, size_t n)
{
    agg_acc_t *nt = realloc(*t, (n + 1) * sizeof(*nt));
    if (nt == NULL)
        return MT_ENOMEM;
    *t = nt;
    memset(&nt[n], 0, sizeof nt[n]);
    return acc_init(&nt[n]);
}

/* An import's new tag: every accumulator array of the run (totals, pending seconds, seconds
 * waiting to be stored again) grows by one, so loops over r->ntags stay in bounds. */
static int run_add_tag(agg_run_t *r, const char *name)
{
    if (r->ntags >= MT_MAX_TAGS)
        return MT_ETOOBIG;
    char **nt = realloc(r->tags, (r->ntags + 1) * sizeof(*nt));
    if (nt == NULL)
        return MT_ENOMEM;
    r->tags = nt;
    char *copy = strdup(name);
    if (copy == NULL || accs_grow(&r->ttags, r->ntags) != MT_OK) {
        free(copy);
        return MT_ENOMEM;
    }
    for (agg_sec_t *s = r->pending; s != NULL; s = s->next)
        if (accs_grow(&s->tags, r->ntags) != MT_OK)
            goto nomem;
    for (agg_retry_t *t = r->retry; t != NULL; t = t->next)
        if (t->s != NULL && accs_grow(&t->s->tags, r->ntags) != MT_OK)
            goto nomem;
    r->tags[r->ntags++] = copy;
    return MT_OK;
nomem:
    /* the arrays that grew keep an extra initialised entry: harmless, freed with the run */
    free(copy);
    return MT_ENOMEM;
}

/* ---- emitting a merged second ---- */

static void agg_publish_stop(mt__agg_t *g, agg_run_t *r, const char *reason)
{
    char subject[96];
    char *body;
    json_t *o;

    if (r->stop_sent)
        return;
    r->stop_sent = true;
    r->stop_reason = strdup(reason);
    o = json_pack("{s:s}", "stop", reason);
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    snprintf(subject, sizeof(subject), AGG_PREFIX "%s.control", r->id);
    if (body == NULL || mt__bus_publish(g->bus, subject, body, strlen(body)) != MT_OK)
        mt__log(MT_LOG_ERROR, "cannot publish a stop", "run", r->id, "reason", reason, NULL);
    free(body);
}

/* Builds one row: data_json and the two encoded histograms (malloc'd into the out args). */
static int row_build(const mt_second_t *s, const char *const *tags, size_t ntags, unsigned agents,
                     char **data, char **lat, char **svc)
{
    json_t *o = mt__result_second_json(s, tags, ntags);
    size_t len;

    *data = *lat = *svc = NULL;
    if (o == NULL || json_object_set_new(o, "agents", json_integer(agents)) != 0) {
        json_decref(o);
        return MT_ENOMEM;
    }
    *data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (*data == NULL)
        return MT_ENOMEM;
    if (mt_hist_encode(s->latency, lat, &len) != MT_OK ||
        mt_hist_encode(s->service, svc, &len) != MT_OK)
        return MT_ENOMEM;
    return MT_OK;
}

/* A stored second counts in the run's totals (so Run.summary covers exactly the seconds that
 * /summary and /series read back). */
static void agg_total(agg_run_t *r, const agg_sec_t *s)
{
    acc_add(&r->total, &s->all.c, s->all.lat, s->all.svc);
    for (size_t i = 0; i < r->ntags; i++)
        acc_add(&r->ttags[i], &s->tags[i].c, s->tags[i].lat, s->tags[i].svc);
    int64_t end = (int64_t)s->second * 1000000000LL + s->span_ns;
    if (end > r->elapsed_ns)
        r->elapsed_ns = end;
    if (s->open_conns > r->max_open)
        r->max_open = s->open_conns;
    r->stored++;
}

/* The sink's reason for its last refusal ("disk full", ...). */
static const char *agg_why(mt__agg_t *g, int rc)
{
    const char *w = g->sink.why != NULL ? g->sink.why(g->ud) : NULL;
    return w != NULL && w[0] != '\0' ? w : mt_strerror(rc);
}

static void agg_lose(mt__agg_t *g, agg_run_t *r, agg_retry_t *t, const char *why)
{
    char num[16], n[16];
    r->lost++;
    snprintf(r->lost_why, sizeof(r->lost_why), "%s", why);
    snprintf(num, sizeof(num), "%u", (unsigned)t->s->second);
    snprintf(n, sizeof(n), "%u", (unsigned)r->lost);
    mt__log(MT_LOG_ERROR, "second lost: the store refused it after its retries", "run", r->id,
            "second", num, "lost", n, "reason", why, NULL);
    retry_free(t, r->ntags);
}

/* Retries the waiting seconds that are due at now (all of them, once, when final: then those
 * still refused are lost). */
static void agg_retry(mt__agg_t *g, agg_run_t *r, int64_t now)
{
    agg_retry_t **pp = &r->retry;
    while (*pp != NULL) {
        agg_retry_t *t = *pp;
        if (t->due_ns > now) {
            pp = &t->next;
            continue;
        }
        int rc = g->sink.on_second(g->ud, r->id, t->s->second, t->rows, t->nrows);
        if (rc == 0) {
            *pp = t->next;
            r->nretry--;
            agg_total(r, t->s);
            retry_free(t, r->ntags);
            continue;
        }
        if (++t->tries >= AGG_RETRY_TRIES) {
            *pp = t->next;
            r->nretry--;
            agg_lose(g, r, t, agg_why(g, rc));
            continue;
        }
        t->due_ns = now + (AGG_RETRY_FIRST_NS << t->tries);
        pp = &t->next;
    }
}

/* Stores a merged second; a refused one waits for its retries (takes s). true when s was
 * taken. */
static bool agg_emit(mt__agg_t *g, agg_run_t *r, agg_sec_t *s)
{
    mt_tag_stats_t ts[MT_MAX_TAGS];
    mt__agg_row_t rows[MT_MAX_TAGS + 1];
    char *bufs[MT_MAX_TAGS + 1][3];
    size_t nrows = 0;
    bool taken = false;
    mt_second_t sec;
    int rc = MT_OK;
    unsigned agents = 0;

    for (size_t i = 0; i < r->nagents; i++)
        agents += s->from[i];
    memset(bufs, 0, sizeof(bufs));
    for (size_t i = 0; i < r->ntags; i++)
        ts[i] = (mt_tag_stats_t){
            .c = s->tags[i].c, .latency = s->tags[i].lat, .service = s->tags[i].svc};
    memset(&sec, 0, sizeof(sec));
    sec.index = s->second;
    sec.span_ns = s->span_ns;
    sec.c = s->all.c;
    sec.open_conns = s->open_conns;
    sec.backlog = s->backlog;
    sec.latency = s->all.lat;
    sec.service = s->all.svc;
    sec.tags = r->ntags > 0 ? ts : NULL;
    sec.ntags = r->ntags;
    sec.slow = s->slow;
    sec.nslow = s->nslow;
    sec.errs = s->errs;
    sec.nerrs = s->nerrs;

    /* verdicts on the merged data, before anything else sees the second */
    if (r->v != NULL && !r->stop_sent && mt__verdicts_second(r->v, &sec)) {
        char reason[MT_VERDICT_MSG_MAX + 64];
        if (r->v->tripped)
            snprintf(reason, sizeof(reason), "autostop %s", r->v->trip.message);
        else
            snprintf(reason, sizeof(reason), "threshold %s failed (abortOnFail)",
                     r->v->ths[r->v->abort_index].text);
        agg_publish_stop(g, r, reason);
    }

    rc = row_build(&sec, (const char *const *)r->tags, r->ntags, agents, &bufs[0][0], &bufs[0][1],
                   &bufs[0][2]);
    rows[nrows++] = (mt__agg_row_t){
        .tag = "", .data_json = bufs[0][0], .latency_b64 = bufs[0][1], .service_b64 = bufs[0][2]};
    for (size_t i = 0; rc == MT_OK && i < r->ntags; i++) {
        mt_second_t t;
        if (r->tags[i][0] == '\0')
            continue; /* the untagged slice: the "" row is every request */
        memset(&t, 0, sizeof(t));
        t.index = s->second;
        t.span_ns = s->span_ns;
        t.c = s->tags[i].c;
        t.open_conns = s->open_conns;
        t.backlog = s->backlog;
        t.latency = s->tags[i].lat;
        t.service = s->tags[i].svc;
        rc = row_build(&t, NULL, 0, agents, &bufs[nrows][0], &bufs[nrows][1], &bufs[nrows][2]);
        rows[nrows] = (mt__agg_row_t){.tag = r->tags[i],
                                      .data_json = bufs[nrows][0],
                                      .latency_b64 = bufs[nrows][1],
                                      .service_b64 = bufs[nrows][2]};
        nrows++;
    }
    g->nseconds++;
    if (rc != MT_OK) {
        mt__log(MT_LOG_ERROR, "cannot build a second's rows", "run", r->id, NULL);
        g->nrejected++;
        r->lost++;
        snprintf(r->lost_why, sizeof(r->lost_why), "out of memory");
    } else if (g->sink.on_second == NULL ||
               (rc = g->sink.on_second(g->ud, r->id, s->second, rows, nrows)) == 0) {
        agg_total(r, s);
    } else {
        agg_retry_t *t = calloc(1, sizeof(*t)), **pp;
        const char *why = agg_why(g, rc);
        char num[16];
        snprintf(num, sizeof(num), "%u", (unsigned)s->second);
        mt__log_limited("agg.refused", 10, MT_LOG_WARN, "the store refused a second; will retry",
                        "run", r->id, "second", num, "reason", why, NULL);
        if (t == NULL) {
            r->lost++;
            snprintf(r->lost_why, sizeof(r->lost_why), "%s", why);
        } else {
            t->s = s;
            memcpy(t->rows, rows, sizeof(rows));
            memcpy(t->bufs, bufs, sizeof(bufs));
            t->nrows = nrows;
            t->due_ns = g->clock(g->clock_ud) + AGG_RETRY_FIRST_NS;
            for (pp = &r->retry; *pp != NULL; pp = &(*pp)->next)
                ;
            *pp = t;
            r->nretry++;
            taken = true;
            nrows = 0;                        /* the buffers are t's now */
            if (r->nretry > AGG_RETRY_HELD) { /* the oldest gives way */
                agg_retry_t *old = r->retry;
                r->retry = old->next;
                r->nretry--;
                agg_lose(g, r, old, why);
            }
        }
    }
    for (size_t i = 0; i < nrows; i++)
        for (int k = 0; k < 3; k++)
            free(bufs[i][k]);
    return taken;
}

/* Named runs: agent a has sent every second <= second it will ever send. */
static bool agent_covers(const agg_agent_t *a, uint32_t second)
{
    if (a->lost || a->wm > second)
        return true;
    return a->ended && (!a->has_count || second >= a->count);
}

/* Named runs: the agent sent everything it will send (or is lost). */
static bool agent_done(const agg_agent_t *a)
{
    return a->lost || (a->ended && (!a->has_count || a->wm >= a->count));
}

static bool sec_complete(const agg_run_t *r, const agg_sec_t *s)
{
    unsigned done = 0;
    if (r->named) {
        for (size_t i = 0; i < r->nknown; i++)
            if (!agent_covers(&r->agents_p[i], s->second))
                return false;
        return true;
    }
    for (size_t i = 0; i < r->nknown; i++) {
        const agg_agent_t *a = &r->agents_p[i];
        if (s->from[i] || a->ended || a->lost || (a->any && a->max_second > s->second))
            done++;
    }
    return done >= r->nagents;
}

/* Emits the leading pending seconds that are complete (or all of them when force). */
static void agg_flush(mt__agg_t *g, agg_run_t *r, int64_t now, bool force)
{
    while (r->pending != NULL) {
        agg_sec_t *s = r->pending;
        if (!force && !sec_complete(r, s) && (r->named || now - s->first_ns < AGG_TIMEOUT_NS))
            break;
        r->pending = s->next;
        r->next_second = s->second + 1;
        if (!agg_emit(g, r, s))
            sec_free(s, r->ntags);
    }
}

/* ---- the end of a run ---- */

static void agg_finish(mt__agg_t *g, agg_run_t *r)
{
    mt_tag_stats_t ts[MT_MAX_TAGS];
    mt_run_result_t res;
    json_t *summary, *verdicts;
    char *sj, *vj;
    const char *state = "passed", *reason = "completed";
    char why[MT_VERDICT_MSG_MAX + 64];
    bool stopped = false;
    mt__agg_end_t e;

    agg_flush(g, r, 0, true);
    memset(&res, 0, sizeof(res));
    for (size_t i = 0; i < r->ntags; i++)
        ts[i] = (mt_tag_stats_t){
            .c = r->ttags[i].c, .latency = r->ttags[i].lat, .service = r->ttags[i].svc};
    res.c = r->total.c;
    res.elapsed_ns = r->elapsed_ns;
    res.seconds = r->stored;
    res.max_open_conns = r->max_open;
    res.latency = r->total.lat;
    res.service = r->total.svc;
    res.connect = r->bd[0];
    res.tls = r->bd[1];
    res.send = r->bd[2];
    res.wait = r->bd[3];
    res.recv = r->bd[4];
    res.tags = r->ntags > 0 ? ts : NULL;
    res.ntags = r->ntags;

    for (size_t i = 0; i < r->nknown; i++)
        if (strcmp(r->agents_p[i].outcome, "stopped") == 0)
            stopped = true;
    res.stopped = stopped;
    if (r->v != NULL)
        mt__verdicts_finish(r->v, &res, (const char *const *)r->tags, r->ntags);

    for (size_t i = 0; i < r->nknown; i++)
        if (strcmp(r->agents_p[i].outcome, "error") == 0) {
            state = "error";
            snprintf(why, sizeof(why), "agent %s: %s", r->agents_p[i].name,
                     r->agents_p[i].reason != NULL ? r->agents_p[i].reason : "error");
            reason = why;
            break;
        }
    if (strcmp(state, "error") != 0) {
        if (r->stop_sent && r->v != NULL && (r->v->tripped || r->v->aborted)) {
            state = "failed";
            reason = r->stop_reason != NULL ? r->stop_reason : "verdict";
        } else if (stopped) {
            state = "stopped";
            reason = "stopped";
            for (size_t i = 0; i < r->nknown; i++)
                if (strcmp(r->agents_p[i].outcome, "stopped") == 0 &&
                    r->agents_p[i].reason != NULL) {
                    reason = r->agents_p[i].reason;
                    break;
                }
        } else if (r->v != NULL && mt__verdicts_exit_code(r->v) != 0) {
            state = "failed";
            for (size_t i = 0; i < r->v->nths; i++)
                if (!r->v->results[i].pass) {
                    snprintf(why, sizeof(why), "threshold %s", r->v->results[i].message);
                    break;
                }
            reason = why;
        }
    }

    char lost[96];
    if (r->lost > 0) {
        snprintf(lost, sizeof(lost), "%u second%s lost: %s", (unsigned)r->lost,
                 r->lost == 1 ? "" : "s", r->lost_why);
        if (strcmp(state, "passed") == 0) { /* never passed with holes */
            state = "failed";
            reason = lost;
        }
    }
    if (r->loss_reason != NULL && r->loss_policy == MT_AGG_LOSS_ERROR) {
        state = "error";
        reason = r->loss_reason;
    } else if (r->loss_reason != NULL && strcmp(state, "passed") == 0) {
        snprintf(why, sizeof(why), "completed; %s (its share was not redistributed)",
                 r->loss_reason);
        reason = why;
    }

    summary = mt__result_summary_json(&res, stopped, (const char *const *)r->tags, r->ntags);
    verdicts = r->v != NULL ? mt__verdicts_json(r->v) : json_array();
    sj = summary != NULL ? json_dumps(summary, JSON_COMPACT) : NULL;
    vj = verdicts != NULL ? json_dumps(verdicts, JSON_COMPACT) : NULL;
    json_decref(summary);
    json_decref(verdicts);
    if (sj == NULL || vj == NULL)
        mt__log(MT_LOG_ERROR, "out of memory building a run's summary", "run", r->id, NULL);
    e = (mt__agg_end_t){.run_id = r->id,
                        .state = state,
                        .reason = reason,
                        .summary_json = sj != NULL ? sj : "{}",
                        .verdicts_json = vj != NULL ? vj : "[]",
                        .seconds = r->stored,
                        .lost_seconds = r->lost,
                        .loss_reason = r->lost > 0 ? lost : NULL};
    if (g->sink.on_end != NULL)
        g->sink.on_end(g->ud, &e);
    free(sj);
    free(vj);
    run_unlink(g, r);
    run_free(r);
}

/* Ends the run (on_end, frees r) when every agent is done; true if it did. */
static bool agg_maybe_finish(mt__agg_t *g, agg_run_t *r)
{
    unsigned done = 0;
    for (size_t i = 0; i < r->nknown; i++)
        done +=
            r->named ? agent_done(&r->agents_p[i]) : r->agents_p[i].ended || r->agents_p[i].lost;
    if (done < r->nagents || r->finishing)
        return false;
    agg_flush(g, r, 0, true);
    if (r->retry != NULL) { /* the end waits for the retries (the timer finishes it) */
        r->finishing = true;
        return false;
    }
    agg_finish(g, r);
    return true;
}

/* Was second received from agent a already? */
static bool agent_has(const agg_agent_t *a, uint32_t second)
{
    if (second < a->wm)
        return true;
    for (size_t i = 0; i < a->nabove && a->above[i] <= second; i++)
        if (a->above[i] == second)
            return true;
    return false;
}

/* Records second as received from a and advances its watermark. MT_ENOMEM, or MT_ERANGE when
 * it is too far above the watermark. */
static int agent_mark(agg_agent_t *a, uint32_t second)
{
    size_t k;
    if (second == a->wm) {
        a->wm++;
        for (k = 0; k < a->nabove && a->above[k] == a->wm; k++)
            a->wm++;
        if (k > 0) {
            memmove(a->above, a->above + k, (a->nabove - k) * sizeof(*a->above));
            a->nabove -= k;
        }
        return MT_OK;
    }
    if (a->nabove >= AGG_MAX_AHEAD)
        return MT_ERANGE;
    if (a->nabove == a->capabove) {
        size_t cap = a->capabove ? a->capabove * 2 : 8;
        uint32_t *p = realloc(a->above, cap * sizeof(*p));
        if (p == NULL)
            return MT_ENOMEM;
        a->above = p;
        a->capabove = cap;
    }
    for (k = a->nabove; k > 0 && a->above[k - 1] > second; k--)
        a->above[k] = a->above[k - 1];
    a->above[k] = second;
    a->nabove++;
    return MT_OK;
}

/* ---- messages ---- */

static void agg_reject(mt__agg_t *g, const char *run, const char *why)
{
    g->nrejected++;
    mt__log(MT_LOG_WARN, "snapshot rejected", "run", run, "reason", why, NULL);
}

static void agg_on_second(mt__agg_t *g, agg_run_t *r, const void *msg, size_t len)
{
    mt__snapshot_t snap;
    mt_parse_err_t pe;
    agg_sec_t *s, **pp;
    agg_agent_t *a;
    int ai, rc;

    rc = mt__snapshot_decode(msg, len, &snap, &pe);
    if (rc != MT_OK) {
        agg_reject(g, r->id, rc == MT_EPARSE ? pe.msg : mt_strerror(rc));
        return;
    }
    if (strcmp(snap.run_id, r->id) != 0) {
        agg_reject(g, r->id, "run_id differs from the subject's");
        goto out;
    }
    ai = run_agent(r, snap.agent);
    if (ai < 0) {
        agg_reject(g, r->id,
                   r->named ? "an agent the run does not have" : "more agents than the run has");
        goto out;
    }
    a = &r->agents_p[ai];
    if (agent_has(a, snap.second)) {
        g->nduplicates++; /* a redelivery (or a second stored before a resume) */
        goto out;
    }
    if (a->lost) {
        agg_reject(g, r->id, "snapshot from an agent declared lost");
        goto out;
    }
    /* a named run's end may overtake the agent's last seconds (redelivery reorders) */
    if (a->ended && !(r->named && a->has_count && snap.second < a->count)) {
        agg_reject(g, r->id, "snapshot after the agent's end");
        goto out;
    }
    if ((uint64_t)snap.second >= (uint64_t)a->wm + AGG_MAX_AHEAD) {
        agg_reject(g, r->id, "second too far above the agent's earlier seconds");
        goto out;
    }
    if (snap.second < r->next_second) {
        agg_reject(g, r->id, "late: the second was already stored");
        goto out;
    }
    for (size_t i = 0; i < snap.ntags; i++)
        if (tag_index(r, snap.tags[i].name) < 0 &&
            !(r->open_tags && run_add_tag(r, snap.tags[i].name) == MT_OK)) {
            agg_reject(g, r->id, "a tag the run does not have");
            goto out;
        }
    for (pp = &r->pending; *pp != NULL && (*pp)->second < snap.second; pp = &(*pp)->next)
        ;
    s = *pp;
    if (s == NULL || s->second != snap.second) {
        s = calloc(1, sizeof(*s));
        if (s == NULL || acc_init(&s->all) != MT_OK ||
            (r->ntags > 0 && (s->tags = accs_new(r->ntags)) == NULL) ||
            (s->from = calloc(r->nagents, sizeof(bool))) == NULL) {
            sec_free(s, r->ntags);
            agg_reject(g, r->id, "out of memory");
            goto out;
        }
        s->second = snap.second;
        s->first_ns = g->clock(g->clock_ud);
        s->next = *pp;
        *pp = s;
    }
    if (agent_mark(a, snap.second) != MT_OK) {
        agg_reject(g, r->id, "out of memory");
        goto out;
    }
    s->from[ai] = true;
    if (snap.span_ns > s->span_ns)
        s->span_ns = snap.span_ns;
    s->open_conns += snap.open_conns;
    s->backlog += snap.backlog;
    acc_add(&s->all, &snap.c, snap.latency, snap.service);
    for (size_t i = 0; i < snap.ntags; i++) {
        int ti = tag_index(r, snap.tags[i].name);
        acc_add(&s->tags[ti], &snap.tags[i].c, snap.tags[i].latency, snap.tags[i].service);
    }
    for (int k = 0; k < 2; k++) { /* exemplars: tags renumbered into the run's */
        mt_exemplar_t *src = k ? snap.errs : snap.slow;
        size_t n = k ? snap.nerrs : snap.nslow;
        for (size_t i = 0; i < n; i++) {
            int ti = src[i].tag < snap.ntags ? tag_index(r, snap.tags[src[i].tag].name) : 0;
            src[i].tag = (uint16_t)(ti > 0 ? ti : 0);
        }
        if (k)
            mt_exemplars_merge(s->errs, &s->nerrs, MT_EXEMPLARS_ERR, src, n);
        else
            mt_exemplars_merge(s->slow, &s->nslow, MT_EXEMPLARS_SLOW, src, n);
    }
    if (!r->agents_p[ai].any || snap.second > r->agents_p[ai].max_second)
        r->agents_p[ai].max_second = snap.second;
    r->agents_p[ai].any = true;
    g->nsnapshots++;
    agg_flush(g, r, g->clock(g->clock_ud), false);
    if (r->named)
        agg_maybe_finish(g, r); /* an end that came before this second */
out:
    mt__snapshot_dispose(&snap);
}

/* {"run_id","agent","outcome":"completed"|"stopped"|"error","reason","seconds","breakdown"} */
static void agg_on_end(mt__agg_t *g, agg_run_t *r, const void *msg, size_t len)
{
    json_t *o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *agent = json_object_get(o, "agent"), *oc = json_object_get(o, "outcome"),
                 *why = json_object_get(o, "reason"), *secs = json_object_get(o, "seconds");
    int ai;

    if (!json_is_object(o) || !json_is_string(agent) || json_string_length(agent) == 0 ||
        json_string_length(agent) >= sizeof(r->agents_p[0].name) || !json_is_string(oc) ||
        (strcmp(json_string_value(oc), "completed") != 0 &&
         strcmp(json_string_value(oc), "stopped") != 0 &&
         strcmp(json_string_value(oc), "error") != 0) ||
        (why != NULL && !json_is_string(why) && !json_is_null(why)) ||
        (secs != NULL && (!json_is_integer(secs) || json_integer_value(secs) < 0 ||
                          json_integer_value(secs) > UINT32_MAX))) {
        agg_reject(g, r->id, "malformed end message");
        goto out;
    }
    ai = run_agent(r, json_string_value(agent));
    if (ai < 0 || r->agents_p[ai].ended || r->agents_p[ai].lost) {
        agg_reject(g, r->id,
                   ai < 0                 ? "end from an agent the run does not have"
                   : r->agents_p[ai].lost ? "end from an agent declared lost"
                                          : "second end");
        goto out;
    }
    r->agents_p[ai].ended = true;
    if (r->named && secs != NULL) {
        r->agents_p[ai].has_count = true;
        r->agents_p[ai].count = (uint32_t)json_integer_value(secs);
    }
    snprintf(r->agents_p[ai].outcome, sizeof(r->agents_p[ai].outcome), "%s", json_string_value(oc));
    const json_t *bd = json_object_get(o, "breakdown");
    if (bd != NULL && mt__breakdown_add(bd, r->bd) != MT_OK) /* the end counts without it */
        mt__log(MT_LOG_WARN, "malformed timing breakdown in an end message", "run", r->id, "agent",
                r->agents_p[ai].name, NULL);
    if (json_is_string(why))
        r->agents_p[ai].reason = strdup(json_string_value(why));
    if (agg_maybe_finish(g, r)) /* frees r */
        goto out;
    agg_flush(g, r, g->clock(g->clock_ud), false);
out:
    json_decref(o);
}

static void agg_on_msg(const char *subject, const void *msg, size_t len, void *ud)
{
    mt__agg_t *g = ud;
    const char *id = subject + strlen(AGG_PREFIX), *dot = strchr(id, '.');
    agg_run_t *r;

    if (dot == NULL || (strcmp(dot, ".second") != 0 && strcmp(dot, ".end") != 0))
        return; /* control messages and others are not ours */
    pthread_mutex_lock(&g->mu);
    r = run_find(g, id, (size_t)(dot - id));
    if (r == NULL) {
        g->nrejected++;
        mt__log(MT_LOG_WARN, "message for a run not watched", "subject", subject, NULL);
    } else if (dot[1] == 's') {
        agg_on_second(g, r, msg, len);
    } else {
        agg_on_end(g, r, msg, len);
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- the timer ---- */

/* One tick: complete seconds out, due retries, runs whose end waited for its retries. */
static void agg_tick(mt__agg_t *g, int64_t now)
{
    agg_run_t *next;
    for (agg_run_t *r = g->runs; r != NULL; r = next) {
        next = r->next;
        agg_flush(g, r, now, false);
        if (r->retry != NULL)
            agg_retry(g, r, now);
        if (r->finishing && r->retry == NULL)
            agg_finish(g, r); /* frees r */
    }
}

void mt__agg_poll(mt__agg_t *g)
{
    pthread_mutex_lock(&g->mu);
    agg_tick(g, g->clock(g->clock_ud));
    pthread_mutex_unlock(&g->mu);
}

void mt__agg_set_clock(mt__agg_t *g, int64_t (*clock)(void *ud), void *ud)
{
    pthread_mutex_lock(&g->mu);
    g->clock = clock != NULL ? clock : agg_mono;
    g->clock_ud = ud;
    pthread_mutex_unlock(&g->mu);
}

static void *agg_timer(void *arg)
{
    mt__agg_t *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += AGG_TICK_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (g->quit)
            break;
        agg_tick(g, g->clock(g->clock_ud));
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- API ---- */

/* Every snapshot decodes ~22 histograms (26 KiB each) and frees them: with glibc's default
 * (dynamic) trim threshold the heap's top is returned to the kernel and faulted back in for
 * every snapshot, a quarter of the aggregator's CPU. A process running an aggregator keeps up
 * to 64 MiB of free heap instead (docs/adr/0012). Blocks up to 4 MiB come from the heap too,
 * not from a fresh mapping each (the API's responses of a finished run are a few hundred KiB:
 * an mmap, page faults and munmap per response cost more than building it). */
static void agg_tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

int mt__agg_new(mt__bus_t *bus, const mt__agg_sink_t *sink, void *ud, mt__agg_t **out)
{
    static pthread_once_t tuned = PTHREAD_ONCE_INIT;
    pthread_condattr_t ca;
    mt__agg_t *g;
    int rc;

    *out = NULL;
    if (bus == NULL || sink == NULL)
        return MT_EINVAL;
    pthread_once(&tuned, agg_tune_malloc);
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return MT_ENOMEM;
    g->bus = bus;
    g->sink = *sink;
    g->ud = ud;
    g->clock = agg_mono;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&g->timer, NULL, agg_timer, g) != 0) {
        mt__agg_free(g);
        return MT_ESYS;
    }
    g->timer_on = true;
    rc = mt__bus_subscribe(bus, AGG_PREFIX, agg_on_msg, g);
    if (rc != MT_OK) {
        mt__agg_free(g);
        return rc;
    }
    *out = g;
    return MT_OK;
}

int mt__agg_loss_parse(const char *text, int *out)
{
    if (text == NULL || strcmp(text, "error") == 0)
        *out = MT_AGG_LOSS_ERROR;
    else if (strcmp(text, "continue") == 0)
        *out = MT_AGG_LOSS_CONTINUE;
    else
        return MT_EINVAL;
    return MT_OK;
}

static int agg_watch(mt__agg_t *g, const char *run_id, const char *config_json, unsigned nagents,
                     const char *const *names, int loss_policy, uint32_t first_second, char *err,
                     size_t errlen)
{
    mt__runjob_t *job = NULL;
    agg_run_t *r = NULL;
    const char *const *tags;
    size_t ntags = 0, idlen;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (g == NULL || run_id == NULL || config_json == NULL || nagents == 0 ||
        nagents > AGG_MAX_AGENTS) {
        snprintf(err, errlen, "invalid argument (agents: 1..%d)", AGG_MAX_AGENTS);
        return MT_EINVAL;
    }
    idlen = strlen(run_id);
    if (idlen == 0 || idlen >= sizeof(r->id) || strchr(run_id, '.') != NULL) {
        snprintf(err, errlen, "run id: 1..%zu characters without '.'", sizeof(r->id) - 1);
        return MT_EINVAL;
    }
    {
        mt_rs_err_t rerr;
        rc = mt__runjob_new(config_json, strlen(config_json), &job, &rerr);
        if (rc != MT_OK) {
            mt_rs_err_format(&rerr, err, errlen);
            return rc;
        }
    }
    rc = MT_ENOMEM;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto fail;
    memcpy(r->id, run_id, idlen + 1);
    r->nagents = nagents;
    r->agents_p = calloc(nagents, sizeof(*r->agents_p));
    if (r->agents_p == NULL || acc_init(&r->total) != MT_OK)
        goto fail;
    r->loss_policy = loss_policy;
    r->next_second = first_second;
    for (unsigned i = 0; i < nagents; i++)
        r->agents_p[i].wm = first_second;
    if (names != NULL) {
        r->named = true;
        for (unsigned i = 0; i < nagents; i++)
            snprintf(r->agents_p[i].name, sizeof(r->agents_p[i].name), "%s", names[i]);
        r->nknown = nagents;
    }
    tags = mt__runjob_tags(job, &ntags);
    if (ntags > 0) {
        r->tags = calloc(ntags, sizeof(char *));
        if (r->tags == NULL)
            goto fail;
        for (size_t i = 0; i < ntags; i++) {
            if ((r->tags[i] = strdup(tags[i])) == NULL)
                goto fail;
            r->ntags++;
        }
        if ((r->ttags = accs_new(ntags)) == NULL)
            goto fail;
    }
    {
        const mt__verdicts_t *src = mt__runjob_verdicts(job);
        if (mt__verdicts_any(src)) {
            /* a split run's connections are divided between its agents (mortar/split.h) */
            uint64_t cap = (uint64_t)mt__runjob_connections(job) * (r->named ? 1 : nagents);
            r->v = calloc(1, sizeof(*r->v));
            if (r->v == NULL)
                goto fail;
            memcpy(r->v->crits, src->crits, src->ncrits * sizeof(src->crits[0]));
            r->v->ncrits = src->ncrits;
            memcpy(r->v->ths, src->ths, src->nths * sizeof(src->ths[0]));
            r->v->nths = src->nths;
            rc = mt__verdicts_start(r->v, (const char *const *)r->tags, r->ntags,
                                    cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap, err, errlen);
            if (rc != MT_OK) {
                rc = MT_EINVAL;
                goto fail;
            }
        }
    }
    mt__runjob_free(job);
    job = NULL;
    pthread_mutex_lock(&g->mu);
    if (run_find(g, run_id, idlen) != NULL) {
        pthread_mutex_unlock(&g->mu);
        snprintf(err, errlen, "run %s is watched already", run_id);
        rc = MT_ECONFLICT;
        goto fail;
    }
    r->next = g->runs;
    g->runs = r;
    pthread_mutex_unlock(&g->mu);
    return MT_OK;
fail:
    if (rc == MT_ENOMEM)
        snprintf(err, errlen, "out of memory");
    mt__runjob_free(job);
    run_free(r);
    return rc;
}

int mt__agg_watch(mt__agg_t *g, const char *run_id, const char *config_json, unsigned nagents,
                  char *err, size_t errlen)
{
    return agg_watch(g, run_id, config_json, nagents, NULL, MT_AGG_LOSS_ERROR, 0, err, errlen);
}

int mt__agg_watch_import(mt__agg_t *g, const char *run_id, const char *config_json, char *err,
                         size_t errlen)
{
    int rc = agg_watch(g, run_id, config_json, 1, NULL, MT_AGG_LOSS_ERROR, 0, err, errlen);
    if (rc == MT_OK) {
        pthread_mutex_lock(&g->mu);
        agg_run_t *r = run_find(g, run_id, strlen(run_id));
        if (r != NULL)
            r->open_tags = true;
        pthread_mutex_unlock(&g->mu);
    }
    return rc;
}

int mt__agg_watch_agents(mt__agg_t *g, const char *run_id, const char *spec_json,
                         const char *const *agents, size_t n, const mt__agg_opts_t *opts, char *err,
                         size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    if (agents == NULL || n == 0 || n > AGG_MAX_AGENTS) {
        snprintf(err, errlen, "agents: 1..%d names", AGG_MAX_AGENTS);
        return MT_EINVAL;
    }
    int policy = MT_AGG_LOSS_ERROR;
    if (opts != NULL && mt__agg_loss_parse(opts->on_agent_loss, &policy) != MT_OK) {
        snprintf(err, errlen, "on_agent_loss: must be error or continue (got '%.40s')",
                 opts->on_agent_loss);
        return MT_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = agents[i] != NULL ? strlen(agents[i]) : 0;
        if (len == 0 || len >= sizeof(((agg_agent_t *)0)->name)) {
            snprintf(err, errlen, "agent %zu: a name of 1..%zu bytes", i,
                     sizeof(((agg_agent_t *)0)->name) - 1);
            return MT_EINVAL;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(agents[k], agents[i]) == 0) {
                snprintf(err, errlen, "agent %.63s: named twice", agents[i]);
                return MT_EINVAL;
            }
    }
    return agg_watch(g, run_id, spec_json, (unsigned)n, agents, policy,
                     opts != NULL ? opts->first_second : 0, err, errlen);
}

int mt__agg_agent_lost(mt__agg_t *g, const char *run_id, const char *agent)
{
    agg_run_t *r;
    agg_agent_t *a;
    int ai, rc = MT_OK;

    if (g == NULL || run_id == NULL || agent == NULL)
        return MT_EINVAL;
    pthread_mutex_lock(&g->mu);
    r = run_find(g, run_id, strlen(run_id));
    ai = r != NULL ? run_agent(r, agent) : -1;
    if (ai < 0) {
        rc = MT_ENOTFOUND;
        goto out;
    }
    a = &r->agents_p[ai];
    if (a->lost || (a->ended && (!r->named || agent_done(a))))
        goto out; /* nothing to lose */
    a->lost = true;
    if (r->loss_reason == NULL) {
        char why[128];
        snprintf(why, sizeof(why), "agent %s lost at second %u", a->name, (unsigned)a->wm);
        r->loss_reason = strdup(why);
        mt__log(MT_LOG_WARN, "agent lost", "run", r->id, "reason", why, NULL);
        if (r->loss_policy == MT_AGG_LOSS_ERROR)
            agg_publish_stop(g, r, why);
    }
    if (!agg_maybe_finish(g, r))
        agg_flush(g, r, g->clock(g->clock_ud), false);
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int mt__agg_agent_watermark(mt__agg_t *g, const char *run_id, const char *agent, uint32_t *next)
{
    agg_run_t *r;
    int rc = MT_ENOTFOUND;
    if (g == NULL || run_id == NULL || agent == NULL)
        return MT_EINVAL;
    pthread_mutex_lock(&g->mu);
    r = run_find(g, run_id, strlen(run_id));
    for (size_t i = 0; r != NULL && i < r->nknown; i++)
        if (strcmp(r->agents_p[i].name, agent) == 0) {
            *next = r->agents_p[i].wm;
            rc = MT_OK;
            break;
        }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

uint64_t mt__agg_duplicates(mt__agg_t *g)
{
    uint64_t n;
    pthread_mutex_lock(&g->mu);
    n = g->nduplicates;
    pthread_mutex_unlock(&g->mu);
    return n;
}

int mt__agg_unwatch(mt__agg_t *g, const char *run_id)
{
    agg_run_t *r;
    if (g == NULL || run_id == NULL)
        return MT_EINVAL;
    pthread_mutex_lock(&g->mu);
    r = run_find(g, run_id, strlen(run_id));
    if (r != NULL)
        run_unlink(g, r);
    pthread_mutex_unlock(&g->mu);
    run_free(r);
    return r != NULL ? MT_OK : MT_ENOTFOUND;
}

void mt__agg_stats(mt__agg_t *g, uint64_t *seconds, uint64_t *snapshots, uint64_t *rejected)
{
    pthread_mutex_lock(&g->mu);
    if (seconds != NULL)
        *seconds = g->nseconds;
    if (snapshots != NULL)
        *snapshots = g->nsnapshots;
    if (rejected != NULL)
        *rejected = g->nrejected;
    pthread_mutex_unlock(&g->mu);
}

void mt__agg_free(mt__agg_t *g)
{
    if (g == NULL)
        return;
    mt__bus_unsubscribe(g->bus, agg_on_msg, g);
    if (g->timer_on) {
        pthread_mutex_lock(&g->mu);
        g->quit = true;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->timer, NULL);
    }
    while (g->runs != NULL) {
        agg_run_t *r = g->runs;
        g->runs = r->next;
        run_free(r);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}
