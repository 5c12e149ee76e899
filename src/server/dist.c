/* mortar serve over NATS (dist.h). Agents are known from their heartbeats; a queued run is
 * placed on enough free matching agents, prepared on each (request/reply with a deadline),
 * committed with one broadcast start instant, and watched: an agent silent for lost_ms, or
 * back with a new instance id, is lost (mt__agg_agent_lost decides by the run's policy). */
#include "server/dist.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/error.h"
#include "mortar/schedule.h"
#include "server/analysis.h"
#include "server/cluster.h"
#include "server/log.h"
#include "mortar/split.h"
#include "runspec/runspec.h"
#include "server/placement.h"

#define DIST_MAX_AGENTS 256

typedef struct dist_agent {
    struct dist_agent *next;
    char name[64], instance[40];
    int64_t last_ms; /* monotonic */
    int capacity, active, assigned;
    json_t *labels, *runs;
} dist_agent_t;

typedef struct dist_member {
    char name[64], instance[40];
    bool ended, lost, skew_logged;
    int64_t missing_since_ms; /* its heartbeats stopped listing the run */
} dist_member_t;

typedef struct dist_run {
    struct dist_run *next;
    char id[40];
    bool resumed;
    uint32_t first_second; /* resumed: seconds below were stored before the restart */
    int64_t grace_until_ms;
    size_t n;
    dist_member_t *m;
} dist_run_t;

typedef struct dist_wait {
    struct dist_wait *next;
    char id[40];
    int64_t since_ms;
    char last_reason[600];
} dist_wait_t;

struct mt__dist {
    mt__serve_t *sv;
    mt__dist_opts_t o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool th_on, quit, subscribed;
    dist_agent_t *agents;
    dist_run_t *runs;
    dist_wait_t *waits;
};

static int64_t d_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t d_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the placement keys of a run config (placement.h reads and checks them) ---- */

int mt__dist_keys(const json_t *config, mt__dist_keys_t *k, char *err, size_t errlen)
{
    mt__place_cfg_t pc;
    char key[32] = "";

    memset(k, 0, sizeof(*k));
    if (mt__place_cfg_read(config, &pc, key, sizeof key, err, errlen) != MT_OK)
        return MT_EINVAL;
    if (pc.agents > DIST_MAX_AGENTS) {
        snprintf(err, errlen, "agents: at most %d over NATS", DIST_MAX_AGENTS);
        return MT_EINVAL;
    }
    k->agents = (int)pc.agents;
    memcpy(k->labels, pc.selector, sizeof k->labels); /* the same size (placement.h) */
    snprintf(k->on_loss, sizeof k->on_loss, "%s", pc.loss_continue ? "continue" : "error");
    k->placement_timeout_ms = pc.timeout_ms; /* 0: wait forever */
    return MT_OK;
}

int mt__dist_labels_match(const char *selector, const json_t *labels)
{
    mt__selector_t sel;
    mt_parse_err_t perr = {0};
    if (mt__selector_parse(selector, &sel, &perr) != MT_OK)
        return 0;
    return mt__selector_match(&sel, labels);
}

/* One agent's row of the run (Run.agents). */
static void d_row(mt__dist_t *d, const char *run, const char *agent, int64_t index,
                  const char *share, const char *state, const char *reason, int64_t offset_us)
{
    mt__store_run_agent_t ra = MT_STORE_RUN_AGENT_INIT(agent);
    ra.index = index;
    ra.share_json = share;
    ra.state = state;
    ra.reason = reason;
    ra.clock_offset_us = offset_us;
    d->sv->store->ops->run_agent_put(d->sv->store, run, &ra);
}

/* ---- agents ---- */

static dist_agent_t *d_agent(mt__dist_t *d, const char *name)
{
    for (dist_agent_t *a = d->agents; a != NULL; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

void mt__dist_heartbeat(mt__dist_t *d, const json_t *hb)
{
    const char *name = json_string_value(json_object_get(hb, "name"));
    const char *inst = json_string_value(json_object_get(hb, "instance"));
    if (name == NULL || strlen(name) >= 64)
        return;
    pthread_mutex_lock(&d->mu);
    dist_agent_t *a = d_agent(d, name);
    if (a == NULL && (a = calloc(1, sizeof(*a))) != NULL) {
        snprintf(a->name, sizeof a->name, "%s", name);
        a->next = d->agents;
        d->agents = a;
    }
    if (a != NULL) {
        if (inst != NULL && a->instance[0] != '\0' && strcmp(inst, a->instance) != 0)
            mt__log(MT_LOG_WARN, "agent restarted (new instance)", "agent", name, "instance", inst,
                    NULL);
        snprintf(a->instance, sizeof a->instance, "%s", inst ? inst : "");
        a->last_ms = d_mono_ms();
        a->capacity = (int)json_integer_value(json_object_get(hb, "capacity"));
        a->active = (int)json_integer_value(json_object_get(hb, "active"));
        json_decref(a->labels);
        a->labels = json_incref(json_object_get(hb, "labels"));
        json_decref(a->runs);
        a->runs = json_incref(json_object_get(hb, "runs"));
        /* what the agent reports of our runs: the last second it sent, its start skew */
        const char *rid;
        json_t *rv;
        json_object_foreach(a->runs, rid, rv)
        {
            json_int_t ls = json_integer_value(json_object_get(rv, "last_second"));
            for (dist_run_t *r = d->runs; r != NULL; r = r->next) {
                if (strcmp(r->id, rid) != 0)
                    continue;
                for (size_t i = 0; i < r->n; i++)
                    if (strcmp(r->m[i].name, name) == 0 && !r->m[i].skew_logged && ls >= 0) {
                        char sk[32];
                        snprintf(
                            sk, sizeof sk, "%lld",
                            (long long)json_integer_value(json_object_get(rv, "start_skew_us")));
                        mt__log(MT_LOG_INFO, "agent start skew", "run", rid, "agent", name,
                                "start_skew_us", sk, NULL);
                        r->m[i].skew_logged = true;
                        mt__store_run_agent_t ra = MT_STORE_RUN_AGENT_INIT(name);
                        ra.start_skew_us =
                            (long long)json_integer_value(json_object_get(rv, "start_skew_us"));
                        d->sv->store->ops->run_agent_put(d->sv->store, rid, &ra);
                    }
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
}

/* ---- runs ---- */

static void d_run_free(dist_run_t *r)
{
    free(r->m);
    free(r);
}

static dist_run_t *d_run_unlink(mt__dist_t *d, const char *id)
{
    for (dist_run_t **pp = &d->runs; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            dist_run_t *r = *pp;
            *pp = r->next;
            return r;
        }
    return NULL;
}

int mt__dist_stored_before(mt__dist_t *d, const char *run_id, uint32_t second)
{
    int r = 0;
    pthread_mutex_lock(&d->mu);
    for (dist_run_t *x = d->runs; x != NULL; x = x->next)
        if (strcmp(x->id, run_id) == 0)
            r = x->resumed && second < x->first_second;
    pthread_mutex_unlock(&d->mu);
    return r;
}

int mt__dist_run_over(mt__dist_t *d, const char *run_id)
{
    pthread_mutex_lock(&d->mu);
    dist_run_t *r = d_run_unlink(d, run_id);
    int resumed = 0;
    if (r != NULL) {
        resumed = r->resumed;
        for (size_t i = 0; i < r->n; i++) {
            dist_agent_t *a = d_agent(d, r->m[i].name);
            if (a != NULL && a->assigned > 0 && !r->m[i].ended && !r->m[i].lost)
                a->assigned--; /* not released by its end or its loss yet */
        }
        d_run_free(r);
    }
    pthread_mutex_unlock(&d->mu);
    return resumed;
}

/* mortar.runs.<id>.end: that agent is done with the run */
static void d_on_end(const char *subject, const void *msg, size_t len, void *ud)
{
    mt__dist_t *d = ud;
    const char *id = subject + strlen("mortar.runs."), *dot = strchr(id, '.');
    json_t *o = json_loadb(msg, len, 0, NULL);
    const char *agent = json_string_value(json_object_get(o, "agent"));
    if (dot != NULL && agent != NULL) {
        pthread_mutex_lock(&d->mu);
        for (dist_run_t *r = d->runs; r != NULL; r = r->next) {
            if (strlen(r->id) != (size_t)(dot - id) || memcmp(r->id, id, (size_t)(dot - id)) != 0)
                continue;
            for (size_t i = 0; i < r->n; i++)
                if (strcmp(r->m[i].name, agent) == 0 && !r->m[i].ended) {
                    r->m[i].ended = true;
                    dist_agent_t *a = d_agent(d, agent);
                    if (a != NULL && a->assigned > 0)
                        a->assigned--;
                    json_t *sk = json_object_get(o, "start_skew_us");
                    if (json_is_integer(sk)) {
                        char s[32];
                        snprintf(s, sizeof s, "%lld", (long long)json_integer_value(sk));
                        mt__log(MT_LOG_INFO, "agent ended", "run", r->id, "agent", agent, "outcome",
                                json_string_value(json_object_get(o, "outcome")), "start_skew_us",
                                s, NULL);
                    }
                }
        }
        pthread_mutex_unlock(&d->mu);
    }
    json_decref(o);
}

/* Loss detection, every 250 ms. */
static void *d_main(void *arg)
{
    mt__dist_t *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->quit) {
        int64_t now = d_mono_ms();
        /* while we are cut off from NATS nobody's heartbeats arrive: that is not their loss */
        bool connected = mt__bus_connected(d->sv->bus);
        for (dist_run_t *r = d->runs; r != NULL; r = r->next) {
            if (!connected && r->grace_until_ms < now + d->o.lost_ms)
                r->grace_until_ms = now + d->o.lost_ms;
            if (now < r->grace_until_ms)
                continue;
            for (size_t i = 0; i < r->n; i++) {
                dist_member_t *m = &r->m[i];
                if (m->ended || m->lost)
                    continue;
                dist_agent_t *a = d_agent(d, m->name);
                const char *why = NULL;
                if (a == NULL || now - a->last_ms > d->o.lost_ms)
                    why = "no heartbeat";
                else if (m->instance[0] != '\0' && strcmp(a->instance, m->instance) != 0)
                    why = "restarted (new instance)";
                else if (json_object_get(a->runs, r->id) != NULL) {
                    m->missing_since_ms = 0;
                    if (m->instance[0] == '\0') /* resumed: learn which instance runs it */
                        snprintf(m->instance, sizeof m->instance, "%s", a->instance);
                } else if (r->resumed) {
                    /* up, but not running it (restarted while we were down): its end, if it
                     * sent one, would have come through the stream by now */
                    if (m->missing_since_ms == 0)
                        m->missing_since_ms = now;
                    else if (now - m->missing_since_ms > d->o.lost_ms)
                        why = "does not run it any more (restarted?)";
                }
                if (why == NULL)
                    continue;
                m->lost = true;
                if (a != NULL && a->assigned > 0)
                    a->assigned--;
                mt__log(MT_LOG_WARN, "agent lost", "run", r->id, "agent", m->name, "why", why,
                        NULL);
                d_row(d, r->id, m->name, MT_STORE_KEEP, NULL, "lost", why, MT_STORE_KEEP);
                char id[40], name[64];
                snprintf(id, sizeof id, "%s", r->id);
                snprintf(name, sizeof name, "%s", m->name);
                pthread_mutex_unlock(&d->mu);
                mt__agg_agent_lost(d->sv->agg, id, name);
                pthread_mutex_lock(&d->mu);
                goto again; /* the list may have changed */
            }
        }
    again:;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!d->quit)
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ---- placement and the two-phase start ---- */

static void d_fail(mt__dist_t *d, const char *id, const char *reason)
{
    json_t *run = NULL;
    if (mt__serve_finish(d->sv, id, "error", reason, &run) == MT_OK) {
        mt__sse_state(d->sv->live, id, run);
        json_decref(run);
    }
    mt__log(MT_LOG_WARN, "run error", "run", id, "reason", reason, NULL);
}

/* A run that will not start after all: its agents are told to drop it (a prepared slot is
 * also dropped after its deadline), their slots are released, and the run ends error. */
static void d_abandon(mt__dist_t *d, const char *id, const char *stop, char names[][64], size_t n,
                      const char *reason)
{
    char subj[96], msg[160];
    snprintf(subj, sizeof subj, "mortar.runs.%s.control", id);
    snprintf(msg, sizeof msg, "{\"stop\":\"%s\"}", stop);
    mt__bus_publish(d->sv->bus, subj, msg, strlen(msg));
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        dist_agent_t *a = d_agent(d, names[i]);
        if (a != NULL && a->assigned > 0)
            a->assigned--;
    }
    pthread_mutex_unlock(&d->mu);
    d_fail(d, id, reason);
}

static dist_wait_t *d_wait(mt__dist_t *d, const char *id)
{
    for (dist_wait_t *w = d->waits; w != NULL; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    dist_wait_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->since_ms = d_mono_ms();
    w->next = d->waits;
    d->waits = w;
    return w;
}

static void d_wait_done(mt__dist_t *d, const char *id)
{
    for (dist_wait_t **pp = &d->waits; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            dist_wait_t *w = *pp;
            *pp = w->next;
            free(w);
            return;
        }
}

/* The agents that take this run's parts (placement.h: selector, up, free slots, capacity):
 * their names into names[0..want-1] and their capacities (the split's weights) into
 * weights; MT_OK, or MT_EBUSY / MT_EINVAL with a reason for people. Called with d->mu. */
static int d_place(mt__dist_t *d, const mt__dist_keys_t *k, char names[][64], uint32_t *weights,
                   char *reason, size_t reasonlen)
{
    mt__place_agent_t pa[DIST_MAX_AGENTS];
    char *labels[DIST_MAX_AGENTS];
    size_t n = 0, chosen[DIST_MAX_AGENTS];
    int64_t now = d_mono_ms();
    for (dist_agent_t *a = d->agents; a != NULL && n < DIST_MAX_AGENTS; a = a->next) {
        if (!d->o.local_agent && strcmp(a->name, "local") == 0)
            continue;
        labels[n] = a->labels ? json_dumps(a->labels, JSON_COMPACT) : NULL;
        pa[n].name = a->name;
        pa[n].labels_json = labels[n];
        pa[n].capacity = a->capacity;
        pa[n].active = a->active > a->assigned ? a->active : a->assigned;
        pa[n].up = now - a->last_ms <= d->o.lost_ms;
        n++;
    }
    int rc = mt__place_ex(pa, n, (unsigned)k->agents, k->labels, chosen, reason, reasonlen, NULL);
    if (rc == MT_OK)
        for (int i = 0; i < k->agents; i++) {
            snprintf(names[i], 64, "%s", pa[chosen[i]].name);
            weights[i] = pa[chosen[i]].capacity > 0 ? (uint32_t)pa[chosen[i]].capacity : 1;
        }
    for (size_t i = 0; i < n; i++)
        free(labels[i]);
    return rc;
}

/* The split's view of a run config (runspec.h: the model, connections, threads). */
static int d_model(const json_t *config, mt_split_model_t *m, char *err, size_t errlen)
{
    mt_runspec_t s;
    mt_rs_err_t rerr;
    int rc;
    mt_runspec_init(&s, MT_RS_SERVER);
    rc = mt_runspec_from_json(&s, config, "/config", &rerr);
    if (rc == MT_OK)
        rc = mt_runspec_check(&s, &rerr);
    if (rc == MT_OK) {
        m->open = s.open_model;
        m->connections = s.connections;
        m->threads = s.threads;
    } else
        mt_rs_err_format(&rerr, err, errlen);
    mt_runspec_dispose(&s);
    return rc;
}

int mt__dist_dispatch_one(mt__dist_t *d)
{
    mt__serve_t *sv = d->sv;
    json_t *run = NULL;
    if (sv->store->ops->run_next_queued(sv->store, &run) != MT_OK)
        return 0;
    const char *id = json_string_value(json_object_get(run, "id"));
    json_t *config = json_object_get(run, "config");
    char err[512] = "", reason[600] = "";
    int did = 0;
    mt__dist_keys_t k;
    char(*names)[64] = NULL;
    json_t **replies = NULL;
    uint32_t *weights = NULL;
    size_t n = 0;
    if (mt__dist_keys(config, &k, err, sizeof err) != MT_OK) {
        d_fail(d, id, err);
        did = 1;
        goto out;
    }
    names = calloc((size_t)k.agents, sizeof(*names));
    replies = calloc((size_t)k.agents, sizeof(*replies));
    if (names == NULL || replies == NULL)
        goto out;
    weights = calloc((size_t)k.agents, sizeof(*weights));
    if (weights == NULL)
        goto out;
    pthread_mutex_lock(&d->mu);
    int prc = d_place(d, &k, names, weights, reason, sizeof reason);
    if (prc == MT_EINVAL) {
        pthread_mutex_unlock(&d->mu);
        d_fail(d, id, reason);
        did = 1;
        goto out;
    }
    n = prc == MT_OK ? (size_t)k.agents : 0;
    dist_wait_t *w = prc != MT_OK ? d_wait(d, id) : NULL;
    if (w != NULL) {
        bool timeout =
            k.placement_timeout_ms > 0 && d_mono_ms() - w->since_ms > k.placement_timeout_ms;
        bool changed = strcmp(w->last_reason, reason) != 0;
        snprintf(w->last_reason, sizeof w->last_reason, "%s", reason);
        if (timeout)
            d_wait_done(d, id);
        pthread_mutex_unlock(&d->mu);
        if (timeout) {
            char why[700];
            snprintf(why, sizeof why, "placement timeout after %lld s: %s",
                     (long long)(k.placement_timeout_ms / 1000), reason);
            d_fail(d, id, why);
            did = 1;
        } else if (changed) {
            int ch = 0;
            sv->store->ops->run_queued_reason(sv->store, id, reason, &ch);
            json_t *cur = NULL;
            if (ch && sv->store->ops->run_get(sv->store, id, &cur) == MT_OK)
                mt__sse_state(sv->live, id, cur);
            json_decref(cur);
            mt__log(MT_LOG_INFO, "run queued", "run", id, "reason", reason, NULL);
        }
        goto out;
    }
    d_wait_done(d, id);
    for (size_t i = 0; i < n; i++) {
        dist_agent_t *a = d_agent(d, names[i]);
        if (a != NULL)
            a->assigned++; /* held while preparing */
    }
    pthread_mutex_unlock(&d->mu);
    did = 1;

    /* phase 1: prepare on each agent its part (split.h: weights = the agents' capacities) */
    mt_part_t *parts = calloc(n, sizeof(*parts));
    mt_split_model_t model;
    char **shares = calloc(n, sizeof(*shares));
    if (parts == NULL || shares == NULL) {
        snprintf(reason, sizeof reason, "cannot split the run: out of memory");
        free(parts);
        free(shares);
        goto release;
    }
    if (d_model(config, &model, err, sizeof err) != MT_OK ||
        mt_split(&model, weights, n, parts, err, sizeof err) != MT_OK) {
        snprintf(reason, sizeof reason, "cannot split the run: %s", err);
        free(parts);
        free(shares);
        goto release;
    }
    for (size_t i = 0; i < n; i++) {
        shares[i] = mt_part_to_json(&parts[i]);
        d_row(d, id, names[i], (int64_t)i, shares[i], "preparing", NULL, MT_STORE_KEEP);
    }
    for (size_t i = 0; i < n && reason[0] == '\0'; i++) {
        json_t *req = json_pack("{s:s, s:O, s:o, s:i}", "run_id", id, "config", config, "part",
                                shares[i] ? json_loads(shares[i], 0, NULL) : json_null(),
                                "deadline_ms", 15000);
        char *body = json_dumps(req, JSON_COMPACT), subject[128], *rep = NULL;
        json_decref(req);
        size_t rlen = 0;
        snprintf(subject, sizeof subject, "mortar.agents.%s.prepare", names[i]);
        int rc = body ? mt__bus_request(sv->bus, subject, body, strlen(body), d->o.prepare_ms, &rep,
                                        &rlen)
                      : MT_ENOMEM;
        free(body);
        replies[i] = rc == MT_OK ? json_loadb(rep, rlen, 0, NULL) : NULL;
        free(rep);
        if (rc != MT_OK)
            snprintf(reason, sizeof reason, "agent %s did not answer the prepare within %d ms (%s)",
                     names[i], d->o.prepare_ms, mt_strerror(rc));
        else if (!json_is_true(json_object_get(replies[i], "ready")))
            snprintf(reason, sizeof reason, "agent %s refused the run: %s", names[i],
                     json_string_value(json_object_get(replies[i], "reason"))
                         ? json_string_value(json_object_get(replies[i], "reason"))
                         : "no reason given");
        if (reason[0] != '\0')
            d_row(d, id, names[i], MT_STORE_KEEP, NULL, "refused", reason, MT_STORE_KEEP);
        else
            d_row(d, id, names[i], MT_STORE_KEEP, NULL, "ready", NULL,
                  json_integer_value(json_object_get(replies[i], "clock_offset_us")));
    }
    for (size_t i = 0; i < n; i++) {
        mt_part_dispose(&parts[i]);
        free(shares[i]);
    }
    free(parts);
    free(shares);
release:
    if (reason[0] != '\0') {
        /* the others drop their prepared slot on this stop (or after their deadline) */
        d_abandon(d, id, "prepare failed", names, n, reason);
        goto out;
    }

    /* the run's record: the agents' names in its agent column; the aggregator's watch */
    char joined[DIST_MAX_AGENTS * 8 + 64] = "";
    size_t jl = 0;
    const char *list[DIST_MAX_AGENTS];
    for (size_t i = 0; i < n; i++) {
        list[i] = names[i];
        jl += (size_t)snprintf(joined + jl, sizeof joined - jl, "%s%s", i ? "," : "", names[i]);
        if (jl >= sizeof joined)
            jl = sizeof joined - 1;
    }
    dist_run_t *dr = calloc(1, sizeof(*dr));
    dist_member_t *mem = calloc(n, sizeof(*mem));
    char *cfg = json_dumps(config, JSON_COMPACT);
    json_t *started = NULL;
    pthread_mutex_lock(&sv->run_mu);
    /* the lease first: a running run without one is an orphan to the other servers */
    int rc =
        dr && mem && cfg ? (sv->cluster ? mt__cluster_own(sv->cluster, id) : MT_OK) : MT_ENOMEM;
    bool owned = rc == MT_OK && sv->cluster != NULL;
    if (rc == MT_OK)
        rc = sv->store->ops->run_start(sv->store, id, joined, &started);
    if (rc == MT_OK) {
        mt__agg_opts_t ao = {.on_agent_loss = k.on_loss, .first_second = 0};
        rc = mt__agg_watch_agents(sv->agg, id, cfg, list, n, &ao, err, sizeof err);
        if (rc == MT_OK && (rc = mt__bus_watch(sv->bus, id)) != MT_OK) {
            mt__agg_unwatch(sv->agg, id);
            snprintf(err, sizeof err, "cannot read the run's messages from the stream");
        }
    }
    if (rc != MT_OK && owned)
        mt__cluster_disown(sv->cluster, id, 1);
    if (rc == MT_OK) {
        snprintf(dr->id, sizeof dr->id, "%s", id);
        dr->n = n;
        dr->m = mem;
        for (size_t i = 0; i < n; i++) {
            snprintf(mem[i].name, sizeof mem[i].name, "%s", names[i]);
            const char *inst = json_string_value(json_object_get(replies[i], "instance"));
            snprintf(mem[i].instance, sizeof mem[i].instance, "%s", inst ? inst : "");
        }
        pthread_mutex_lock(&d->mu);
        dr->next = d->runs;
        d->runs = dr;
        pthread_mutex_unlock(&d->mu);
        dr = NULL;
        mem = NULL;
        /* phase 2: one commit, one start instant on the control plane's clock */
        int64_t t = d_wall_ns() + d->o.start_ms * 1000000LL;
        char subj[96], msg[128];
        snprintf(subj, sizeof subj, "mortar.runs.%s.commit", id);
        snprintf(msg, sizeof msg, "{\"start_unix_ns\":%lld}", (long long)t);
        mt__bus_publish(sv->bus, subj, msg, strlen(msg));
        for (size_t i = 0; i < n; i++)
            d_row(d, id, names[i], MT_STORE_KEEP, NULL, "running", NULL, MT_STORE_KEEP);
        json_decref(started);
        started = NULL;
        sv->store->ops->run_get(sv->store, id, &started);
        mt__log(MT_LOG_INFO, "run started", "run", id, "agents", joined, NULL);
        mt__sse_state(sv->live, id, started);
    } else {
        d_abandon(d, id, "start failed", names, n, err[0] ? err : mt_strerror(rc));
    }
    pthread_mutex_unlock(&sv->run_mu);
    json_decref(started);
    free(cfg);
    free(dr);
    free(mem);
out:
    if (replies != NULL)
        for (int i = 0; i < k.agents; i++)
            json_decref(replies[i]);
    free(replies);
    free(names);
    free(weights);
    json_decref(run);
    return did;
}

size_t mt__dist_resume(mt__dist_t *d, const json_t *page)
{
    size_t i, count = 0;
    json_t *r;
    json_array_foreach(json_object_get(page, "items"), i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *agents = json_string_value(json_object_get(r, "agent"));
        json_t *config = json_object_get(r, "config");
        if (id == NULL || agents == NULL || agents[0] == '\0')
            continue;
        mt__dist_keys_t k;
        char err[512] = "";
        if (mt__dist_keys(config, &k, err, sizeof err) != MT_OK)
            continue;
        char tmp[DIST_MAX_AGENTS * 8 + 64];
        snprintf(tmp, sizeof tmp, "%s", agents);
        const char *list[DIST_MAX_AGENTS];
        size_t n = 0;
        char *save = NULL;
        for (char *t = strtok_r(tmp, ",", &save); t != NULL && n < DIST_MAX_AGENTS;
             t = strtok_r(NULL, ",", &save))
            list[n++] = t;
        dist_run_t *dr = calloc(1, sizeof(*dr));
        dist_member_t *mem = calloc(n ? n : 1, sizeof(*mem));
        char *cfg = json_dumps(config, JSON_COMPACT);
        mt__agg_opts_t ao = {.on_agent_loss = k.on_loss};
        mt__store_rows_t rows;
        if (d->sv->store->ops->run_rows(d->sv->store, id, "", 0, INT64_MAX / 2, &rows) == MT_OK) {
            ao.first_second = (uint32_t)rows.n;
            mt__store_rows_dispose(&rows);
        }
        if (dr == NULL || mem == NULL || cfg == NULL ||
            mt__agg_watch_agents(d->sv->agg, id, cfg, list, n, &ao, err, sizeof err) != MT_OK) {
            free(dr);
            free(mem);
            free(cfg);
            continue;
        }
        if (mt__bus_watch(d->sv->bus, id) != MT_OK) {
            mt__agg_unwatch(d->sv->agg, id);
            free(dr);
            free(mem);
            free(cfg);
            continue;
        }
        free(cfg);
        snprintf(dr->id, sizeof dr->id, "%s", id);
        dr->resumed = true;
        dr->first_second = ao.first_second;
        /* agents heartbeat within a second of our start: give them lost_ms + 2 s */
        dr->grace_until_ms = d_mono_ms() + d->o.lost_ms + 2000;
        dr->n = n;
        dr->m = mem;
        for (size_t j = 0; j < n; j++)
            snprintf(mem[j].name, sizeof mem[j].name, "%s", list[j]);
        pthread_mutex_lock(&d->mu);
        dr->next = d->runs;
        d->runs = dr;
        pthread_mutex_unlock(&d->mu);
        char fs[16];
        snprintf(fs, sizeof fs, "%u", ao.first_second);
        mt__log(MT_LOG_INFO, "run resumed", "run", id, "agents", agents, "stored_seconds", fs,
                NULL);
        count++;
    }
    return count;
}

int mt__dist_new(mt__serve_t *sv, const mt__dist_opts_t *o, mt__dist_t **out)
{
    mt__dist_t *d = calloc(1, sizeof(*d));
    *out = NULL;
    if (d == NULL)
        return MT_ENOMEM;
    d->sv = sv;
    d->o = *o;
    if (d->o.lost_ms <= 0)
        d->o.lost_ms = 3000;
    if (d->o.start_ms <= 0)
        d->o.start_ms = 500;
    if (d->o.prepare_ms <= 0)
        d->o.prepare_ms = 5000;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = mt__bus_subscribe(sv->bus, "mortar.runs.*.end", d_on_end, d);
    if (rc != MT_OK) {
        mt__dist_free(d);
        return rc;
    }
    d->subscribed = true;
    if (pthread_create(&d->th, NULL, d_main, d) != 0) {
        mt__dist_free(d);
        return MT_ESYS;
    }
    d->th_on = true;
    *out = d;
    return MT_OK;
}

void mt__dist_free(mt__dist_t *d)
{
    if (d == NULL)
        return;
    if (d->subscribed)
        mt__bus_unsubscribe(d->sv->bus, d_on_end, d);
    pthread_mutex_lock(&d->mu);
    d->quit = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->th_on)
        pthread_join(d->th, NULL);
    while (d->agents != NULL) {
        dist_agent_t *a = d->agents;
        d->agents = a->next;
        json_decref(a->labels);
        json_decref(a->runs);
        free(a);
    }
    while (d->runs != NULL) {
        dist_run_t *r = d->runs;
        d->runs = r->next;
        d_run_free(r);
    }
    while (d->waits != NULL) {
        dist_wait_t *w = d->waits;
        d->waits = w->next;
        free(w);
    }
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}
