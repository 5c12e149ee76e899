/* Several `mortar serve` on one store (cluster.h, docs/adr/0034-several-servers.md). One
 * thread per server, every MT_CLUSTER_TICK_MS: take or keep the leadership, renew the leases
 * of the runs this server aggregates (one that another server took is dropped here), and with
 * NATS take over the running runs whose lease lapsed (their owner died): the run is resumed
 * from the store's seconds and the stream (dist.c), exactly as after a restart. Every
 * LIVE_MS it also brings the live streams of runs aggregated elsewhere up to date from the
 * store (sse.c). */
#include "server/cluster.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mortar/error.h"
#include "server/dist.h"
#include "server/log.h"

#define CL_LIVE_MS 500

typedef struct cl_run {
    struct cl_run *next;
    char id[40];
    int64_t taken_ms;  /* a takeover: when (monotonic); 0 = started here */
    bool first_logged; /* the first second stored after the takeover was logged */
} cl_run_t;

struct mt__cluster {
    mt__serve_t *sv;
    char id[MT_CLUSTER_ID_MAX + 1];
    int takeover;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool th_on, quit;
    int leader; /* atomic */
    cl_run_t *runs;
    size_t nruns;
    uint64_t takeovers;
};

static int64_t cl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mt__cluster_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > MT_CLUSTER_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

void mt__cluster_default_id(char out[MT_CLUSTER_ID_MAX + 1])
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "mortar");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            *p = '-';
    snprintf(out, MT_CLUSTER_ID_MAX + 1, "%s-%ld", host, (long)getpid());
}

static cl_run_t *cl_find(mt__cluster_t *c, const char *id)
{
    for (cl_run_t *r = c->runs; r != NULL; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

static void cl_add(mt__cluster_t *c, const char *id, int64_t taken_ms)
{
    pthread_mutex_lock(&c->mu);
    if (cl_find(c, id) == NULL) {
        cl_run_t *r = calloc(1, sizeof *r);
        if (r != NULL) {
            snprintf(r->id, sizeof r->id, "%s", id);
            r->taken_ms = taken_ms;
            r->next = c->runs;
            c->runs = r;
            c->nruns++;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* Removes id; 1 when it was there. */
static int cl_remove(mt__cluster_t *c, const char *id)
{
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (cl_run_t **pp = &c->runs; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            cl_run_t *r = *pp;
            *pp = r->next;
            free(r);
            c->nruns--;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    return found;
}

int mt__cluster_own(mt__cluster_t *c, const char *run_id)
{
    mt__store_t *st = c->sv->store;
    int got = 0;
    char holder[128] = "";
    int rc = st->ops->lease_take(st, run_id, c->id, MT_CLUSTER_LEASE_MS, &got, holder);
    if (rc != MT_OK)
        return rc;
    if (!got)
        return MT_ECONFLICT;
    cl_add(c, run_id, 0);
    return MT_OK;
}

int mt__cluster_owns(mt__cluster_t *c, const char *run_id)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    int own = cl_find(c, run_id) != NULL;
    pthread_mutex_unlock(&c->mu);
    return own;
}

void mt__cluster_disown(mt__cluster_t *c, const char *run_id, int over)
{
    if (c == NULL)
        return;
    cl_remove(c, run_id);
    mt__bus_unwatch(c->sv->bus, run_id, over);
    if (over)
        c->sv->store->ops->lease_release(c->sv->store, run_id, c->id);
}

void mt__cluster_second(mt__cluster_t *c, const char *run_id, uint32_t second)
{
    if (c == NULL)
        return;
    int64_t since = -1;
    pthread_mutex_lock(&c->mu);
    cl_run_t *r = cl_find(c, run_id);
    if (r != NULL && r->taken_ms != 0 && !r->first_logged) {
        r->first_logged = true;
        since = cl_mono_ms() - r->taken_ms;
    }
    pthread_mutex_unlock(&c->mu);
    if (since >= 0) {
        char s[24], ms[24];
        snprintf(s, sizeof s, "%u", second);
        snprintf(ms, sizeof ms, "%lld", (long long)since);
        mt__log(MT_LOG_INFO, "first second stored after the takeover", "run", run_id, "second", s,
                "ms_since_takeover", ms, NULL);
    }
}

size_t mt__cluster_owned(mt__cluster_t *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    size_t n = c->nruns;
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t mt__cluster_takeovers(mt__cluster_t *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->takeovers;
    pthread_mutex_unlock(&c->mu);
    return n;
}

const char *mt__cluster_id(const mt__cluster_t *c)
{
    return c != NULL ? c->id : "";
}

int mt__cluster_leader(mt__cluster_t *c)
{
    return c == NULL || __atomic_load_n(&c->leader, __ATOMIC_ACQUIRE);
}

static void cl_leadership(mt__cluster_t *c)
{
    mt__store_t *st = c->sv->store;
    int leader = 0;
    if (st->ops->leader_try(st, c->id, &leader) != MT_OK)
        leader = 0; /* the store is away: its session (and the lock) may be gone */
    int was = __atomic_exchange_n(&c->leader, leader, __ATOMIC_ACQ_REL);
    if (leader != was) {
        mt__log(leader ? MT_LOG_INFO : MT_LOG_WARN,
                leader ? "this server leads (scheduler, dispatcher)" : "leadership lost", "server",
                c->id, NULL);
        if (leader)
            mt__serve_wake(c->sv);
    }
}

/* Renews every owned lease; a run another server holds now is dropped here. */
static void cl_renew(mt__cluster_t *c)
{
    mt__store_t *st = c->sv->store;
    pthread_mutex_lock(&c->mu);
    size_t n = c->nruns, k = 0;
    char(*ids)[40] = n ? calloc(n, sizeof *ids) : NULL;
    for (cl_run_t *r = c->runs; r != NULL && ids != NULL && k < n; r = r->next)
        snprintf(ids[k++], sizeof ids[0], "%s", r->id);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < k; i++) {
        int rc = st->ops->lease_renew(st, ids[i], c->id, MT_CLUSTER_LEASE_MS);
        if (rc != MT_ECONFLICT)
            continue; /* renewed, or the store is away: try again next turn */
        mt__log(MT_LOG_WARN, "run lease lost: another server aggregates the run now", "run", ids[i],
                "server", c->id, NULL);
        mt__agg_unwatch(c->sv->agg, ids[i]);
        if (c->sv->dist != NULL)
            mt__dist_run_over(c->sv->dist, ids[i]);
        mt__cluster_disown(c, ids[i], 0);
    }
    free(ids);
}

/* Takes over the running runs nobody owns (their server died, or this one restarted). */
static void cl_orphans(mt__cluster_t *c)
{
    mt__serve_t *sv = c->sv;
    json_t *orphans = NULL;
    if (sv->dist == NULL || sv->store->ops->lease_orphans(sv->store, c->id, &orphans) != MT_OK)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(orphans, "items"), i, v)
    {
        const char *id = json_string_value(v);
        int got = 0;
        char holder[128] = "";
        pthread_mutex_lock(&c->mu);
        bool mine = id == NULL || cl_find(c, id) != NULL;
        pthread_mutex_unlock(&c->mu);
        if (mine ||
            sv->store->ops->lease_take(sv->store, id, c->id, MT_CLUSTER_LEASE_MS, &got, holder) !=
                MT_OK ||
            !got)
            continue;
        json_t *run = NULL;
        if (sv->store->ops->run_get(sv->store, id, &run) != MT_OK) {
            sv->store->ops->lease_release(sv->store, id, c->id);
            continue;
        }
        const char *state = json_string_value(json_object_get(run, "state"));
        if (state == NULL || strcmp(state, "running") != 0) { /* ended meanwhile */
            json_decref(run);
            sv->store->ops->lease_release(sv->store, id, c->id);
            continue;
        }
        cl_add(c, id, cl_mono_ms());
        json_t *page = json_pack("{s:[O]}", "items", run);
        size_t n = page != NULL ? mt__dist_resume(sv->dist, page) : 0;
        json_decref(page);
        json_decref(run);
        if (n == 0) {
            /* not resumable (no agents recorded): kept, so that servers do not pass it round */
            mt__log(MT_LOG_WARN, "orphaned run not resumable", "run", id, NULL);
            continue;
        }
        pthread_mutex_lock(&c->mu);
        c->takeovers++;
        pthread_mutex_unlock(&c->mu);
        mt__log(MT_LOG_INFO, "run taken over", "run", id, "server", c->id, NULL);
    }
    json_decref(orphans);
}

static void *cl_main(void *arg)
{
    mt__cluster_t *c = arg;
    int64_t next_tick = 0;
    pthread_mutex_lock(&c->mu);
    while (!c->quit) {
        pthread_mutex_unlock(&c->mu);
        int64_t now = cl_mono_ms();
        if (now >= next_tick) {
            next_tick = now + MT_CLUSTER_TICK_MS;
            cl_leadership(c);
            cl_renew(c);
            if (c->takeover)
                cl_orphans(c);
        }
        mt__sse_follow(c->sv->live, c->sv->store);
        pthread_mutex_lock(&c->mu);
        if (c->quit)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)CL_LIVE_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int mt__cluster_new(mt__serve_t *sv, const char *server_id, int takeover, mt__cluster_t **out)
{
    *out = NULL;
    if (!mt__cluster_id_ok(server_id))
        return MT_EINVAL;
    mt__cluster_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return MT_ENOMEM;
    c->sv = sv;
    c->takeover = takeover;
    snprintf(c->id, sizeof c->id, "%s", server_id);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* the first turn before anything else runs: the leadership decides who dispatches */
    cl_leadership(c);
    if (pthread_create(&c->th, NULL, cl_main, c) != 0) {
        mt__cluster_free(c);
        return MT_ESYS;
    }
    c->th_on = true;
    *out = c;
    return MT_OK;
}

void mt__cluster_stop(mt__cluster_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->quit = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->th_on)
        pthread_join(c->th, NULL);
    c->th_on = false;
}

void mt__cluster_free(mt__cluster_t *c)
{
    if (c == NULL)
        return;
    mt__cluster_stop(c);
    while (c->runs != NULL) {
        cl_run_t *r = c->runs;
        c->runs = r->next;
        free(r);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
