/* The in-process agent: each run is a runjob (runspec/runjob.h: the run's canonical spec on
 * the real engine, as `mortar run` runs it) in its own thread; each engine second becomes a
 * snapshot on mortar.runs.<id>.second, the end of the run an end message on mortar.runs.<id>.end. A
 * heartbeat thread publishes mortar.agents.<name>.heartbeat once per second. Control messages
 * {"stop": reason} arrive on the bus's dispatcher thread and only ask the engine to stop. */
#include "server/agent.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/error.h"
#include "runspec/runjob.h"
#include "server/dist.h"
#include "server/log.h"
#include "server/policy.h"
#include "server/snapshot.h"
#include "mortar/split.h"

#define AGENT_PREFIX "mortar.runs."
#define AGENT_HB_NS  1000000000LL

typedef struct agent_run {
    struct agent_run *next;
    mt__agent_t *a;
    char id[40];
    mt__runjob_t *job;
    pthread_t thread;
    bool done;    /* the thread has published its end (under a->mu) */
    bool stopped; /* a stop was asked (under a->mu) */
    char reason[256];
    uint32_t seconds;
    int64_t last_second; /* -1: none yet */
    const char *const *tags;
    size_t ntags;
    bool prepared;         /* waiting for its commit (no thread yet) */
    int64_t start_unix_ns; /* 0 = at once */
    int64_t skew_ns;       /* the engine's start minus the start instant */
    bool late;
    mt__policy_guard_t guard; /* the target policy's address check (policy NULL: none) */
} agent_run_t;

struct mt__agent {
    mt__bus_t *bus;
    char name[64];
    json_t *labels;
    char instance[40];
    int capacity;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    agent_run_t *runs;
    int active;
    pthread_t hb;
    bool hb_on, quit, subscribed;
    mt__policy_t *(*policy)(void *ud);
    void *policy_ud;
};

static bool agent_id_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strnlen(s, max) : 0;
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* ---- one run ---- */

static void agent_on_second(const mt_second_t *s, void *ud)
{
    agent_run_t *r = ud;
    mt__snapshot_t snap;
    char subject[96], *buf = NULL;
    size_t len = 0;
    int rc = mt__snapshot_from_second(&snap, r->id, r->a->name, s, r->tags, r->ntags);

    if (rc == MT_OK)
        rc = mt__snapshot_encode(&snap, &buf, &len);
    if (rc == MT_OK) {
        char id[160];
        snprintf(subject, sizeof(subject), AGENT_PREFIX "%s.second", r->id);
        snprintf(id, sizeof id, "%s.%s.%u", r->id, r->a->name, (unsigned)s->index);
        rc = mt__bus_publish_id(r->a->bus, subject, id, buf, len);
    }
    if (r->start_unix_ns > 0 && r->skew_ns == 0) {
        /* how late the engine's workers were released after the start instant */
        const mt_run_result_t *res = mt__runjob_result(r->job);
        if (res != NULL)
            r->skew_ns = res->start_late_ns > 0 ? res->start_late_ns : 1;
    }
    if (rc == MT_OK) {
        r->seconds++;
        r->last_second = s->index;
    } else
        mt__log(MT_LOG_ERROR, "cannot publish a snapshot", "run", r->id, "agent", r->a->name,
                "error", mt_strerror(rc), NULL);
    free(buf);
    mt__snapshot_dispose(&snap);
}

static void *agent_run_main(void *arg)
{
    agent_run_t *r = arg;
    mt__agent_t *a = r->a;
    char subject[96];
    const char *outcome, *reason;
    char *body = NULL;
    json_t *o;
    mt_rs_err_t rerr;
    int rc = mt__runjob_exec(r->job, agent_on_second, r, &rerr);
    const char *err = rerr.msg;

    pthread_mutex_lock(&a->mu);
    if (rc != MT_OK) {
        outcome = "error";
        reason = rc == MT_EPOLICY && r->guard.why[0] ? r->guard.why : err;
    } else if (r->stopped) {
        outcome = "stopped";
        reason = r->reason;
    } else {
        outcome = "completed";
        reason = "completed";
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "run_id", r->id, "agent", a->name, "outcome",
                  outcome, "reason", reason, "seconds", (json_int_t)r->seconds, "start_skew_us",
                  (json_int_t)(r->skew_ns / 1000));
    const mt_run_result_t *res = mt__runjob_result(r->job);
    json_t *bd = res != NULL && o != NULL ? mt__breakdown_json(res) : NULL;
    if (bd != NULL)
        json_object_set_new(o, "breakdown", bd); /* the run's timing breakdown, merged there */
    /* done before the end is published: whoever sees the end can reuse the capacity and the
     * run id at once; the thread is joined later (agent_reap, mt__agent_free) */
    r->done = true;
    a->active--;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    snprintf(subject, sizeof(subject), AGENT_PREFIX "%s.end", r->id);
    char id[160];
    snprintf(id, sizeof id, "%s.%s.end", r->id, a->name);
    if (body == NULL || mt__bus_publish_id(a->bus, subject, id, body, strlen(body)) != MT_OK)
        mt__log(MT_LOG_ERROR, "cannot publish a run's end", "run", r->id, "agent", a->name, NULL);
    else
        mt__log(MT_LOG_INFO, "run ended", "run", r->id, "agent", a->name, "outcome", outcome, NULL);
    free(body);
    return NULL;
}

static void agent_run_free(agent_run_t *r)
{
    mt__runjob_free(r->job);
    mt__policy_unref(r->guard.policy);
    free(r);
}

/* Joins and frees finished runs. Called with a->mu held. */
static void agent_reap(mt__agent_t *a)
{
    agent_run_t **pp = &a->runs;
    while (*pp != NULL) {
        agent_run_t *r = *pp;
        if (!r->done) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        pthread_join(r->thread, NULL); /* it has returned or is returning */
        agent_run_free(r);
    }
}

static agent_run_t *agent_find(mt__agent_t *a, const char *id, size_t len)
{
    for (agent_run_t *r = a->runs; r != NULL; r = r->next)
        if (!r->done && strlen(r->id) == len && memcmp(r->id, id, len) == 0)
            return r;
    return NULL;
}

static void agent_stop_locked(agent_run_t *r, const char *reason)
{
    if (!r->stopped) {
        r->stopped = true;
        snprintf(r->reason, sizeof(r->reason), "%s", reason);
    }
    mt__runjob_stop(r->job);
}

static agent_run_t *agent_take_prepared(mt__agent_t *a, const char *run_id);

/* ---- bus: control messages ---- */

static void agent_on_control(const char *subject, const void *msg, size_t len, void *ud)
{
    mt__agent_t *a = ud;
    const char *id = subject + strlen(AGENT_PREFIX), *dot = strchr(id, '.');
    json_t *o;
    const json_t *stop;
    agent_run_t *r;

    if (dot == NULL || strcmp(dot, ".control") != 0)
        return;
    o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    stop = json_object_get(o, "stop");
    if (!json_is_object(o) || stop == NULL) {
        mt__log(MT_LOG_WARN, "control message ignored", "subject", subject, NULL);
        json_decref(o);
        return;
    }
    pthread_mutex_lock(&a->mu);
    r = agent_find(a, id, (size_t)(dot - id));
    if (r != NULL && r->prepared) {
        /* a stop before the commit: the start is off, the slot is free again */
        char rid[40];
        snprintf(rid, sizeof rid, "%s", r->id);
        agent_run_t *p = agent_take_prepared(a, rid);
        pthread_mutex_unlock(&a->mu);
        agent_run_free(p);
        json_decref(o);
        return;
    }
    if (r != NULL)
        agent_stop_locked(r, json_is_string(stop) && json_string_length(stop) > 0
                                 ? json_string_value(stop)
                                 : "stopped");
    pthread_mutex_unlock(&a->mu);
    json_decref(o);
}

/* ---- heartbeat ---- */

static void agent_heartbeat(mt__agent_t *a)
{
    char subject[128], *body;
    json_t *runs = json_object();
    for (agent_run_t *r = a->runs; r != NULL; r = r->next)
        if (!r->done && !r->prepared)
            json_object_set_new(runs, r->id,
                                json_pack("{s:I, s:I}", "last_second", (json_int_t)r->last_second,
                                          "start_skew_us", (json_int_t)(r->skew_ns / 1000)));
    json_t *o = json_pack("{s:s, s:O, s:i, s:i, s:s, s:s, s:o}", "name", a->name, "labels",
                          a->labels, "capacity", a->capacity, "active", a->active, "version",
                          MT_VERSION, "instance", a->instance, "runs", runs);
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    snprintf(subject, sizeof(subject), "mortar.agents.%s.heartbeat", a->name);
    if (body != NULL)
        mt__bus_publish(a->bus, subject, body, strlen(body));
    free(body);
}

static void *agent_hb_main(void *arg)
{
    mt__agent_t *a = arg;
    struct timespec next;

    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&a->mu);
    while (!a->quit) {
        next.tv_sec += AGENT_HB_NS / 1000000000LL;
        while (!a->quit && pthread_cond_timedwait(&a->cv, &a->mu, &next) == 0)
            ; /* woken for another reason (a run ended): keep the one-second beat */
        if (!a->quit)
            agent_heartbeat(a);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- API ---- */

int mt__agent_new(const mt__agent_info_t *info, mt__bus_t *bus, mt__agent_t **out)
{
    pthread_condattr_t ca;
    mt__agent_t *a;
    int rc;

    *out = NULL;
    if (info == NULL || bus == NULL || !agent_id_ok(info->name, sizeof(a->name)) ||
        info->capacity < 1)
        return MT_EINVAL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return MT_ENOMEM;
    a->bus = bus;
    snprintf(a->name, sizeof(a->name), "%s", info->name);
    a->capacity = info->capacity;
    a->policy = info->policy;
    a->policy_ud = info->policy_ud;
    snprintf(a->instance, sizeof(a->instance), "%s", info->instance ? info->instance : "");
    a->labels = info->labels_json != NULL ? json_loads(info->labels_json, 0, NULL) : json_object();
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!json_is_object(a->labels)) {
        mt__agent_free(a);
        return MT_EINVAL;
    }
    rc = mt__bus_subscribe(bus, AGENT_PREFIX "*.control", agent_on_control, a);
    if (rc != MT_OK) {
        mt__agent_free(a);
        return rc;
    }
    a->subscribed = true;
    pthread_mutex_lock(&a->mu);
    agent_heartbeat(a); /* the first beat before new returns: the server knows it at once */
    pthread_mutex_unlock(&a->mu);
    if (pthread_create(&a->hb, NULL, agent_hb_main, a) != 0) {
        mt__agent_free(a);
        return MT_ESYS;
    }
    a->hb_on = true;
    *out = a;
    return MT_OK;
}

int mt__agent_check_config(const char *config_json, char *err, size_t errlen)
{
    mt__runjob_t *job = NULL;
    mt_rs_err_t rerr;
    int rc;

    if (config_json == NULL) {
        snprintf(err, errlen, "no config");
        return MT_EINVAL;
    }
    rc = mt__runjob_new(config_json, strlen(config_json), &job, &rerr);
    if (rc != MT_OK && errlen > 0)
        mt_rs_err_format(&rerr, err, errlen);
    mt__runjob_free(job);
    return rc == MT_ENOMEM ? MT_ENOMEM : rc != MT_OK ? MT_EINVAL : MT_OK;
}

static int agent_add(mt__agent_t *a, const char *run_id, const char *config_json,
                     const char *part_json, bool prepared, char *err, size_t errlen)
{
    agent_run_t *r;
    mt_rs_err_t rerr;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (a == NULL || config_json == NULL || !agent_id_ok(run_id, sizeof(r->id))) {
        snprintf(err, errlen, "run id: 1..39 of A-Z a-z 0-9 - _");
        return MT_EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return MT_ENOMEM;
    }
    r->a = a;
    r->last_second = -1;
    r->prepared = prepared;
    snprintf(r->id, sizeof(r->id), "%s", run_id);
    rc = mt__runjob_new(config_json, strlen(config_json), &r->job, &rerr);
    if (rc != MT_OK) {
        mt_rs_err_format(&rerr, err, errlen);
        free(r);
        return rc == MT_ENOMEM ? MT_ENOMEM : MT_EINVAL;
    }
    if (part_json != NULL) {
        mt_part_t part;
        mt_parse_err_t perr = {0};
        char why[160] = "";
        rc = mt_part_from_json(part_json, strlen(part_json), &part, &perr);
        if (rc == MT_OK) {
            rc = mt__runjob_set_part(r->job, &part, 0);
            if (rc != MT_OK)
                mt_part_check(&part, why, sizeof why);
            mt_part_dispose(&part);
        } else
            snprintf(why, sizeof why, "%s", perr.msg);
        if (rc != MT_OK) {
            snprintf(err, errlen, "part: %s", why[0] ? why : mt_strerror(rc));
            agent_run_free(r);
            return MT_EINVAL;
        }
    }
    r->tags = mt__runjob_tags(r->job, &r->ntags);
    if (a->policy != NULL && (r->guard.policy = a->policy(a->policy_ud)) != NULL) {
        const mt_url_t *u = &mt__runjob_spec(r->job)->url;
        char why[256];
        if (mt__policy_check_name(r->guard.policy, u->tls ? "https" : "http", u->host, u->port_num,
                                  why, sizeof why) != 0) {
            snprintf(err, errlen, "%s", why);
            agent_run_free(r);
            return MT_EINVAL;
        }
        snprintf(r->guard.host, sizeof r->guard.host, "%s", u->host);
        mt__runjob_set_addr_check(r->job, mt__policy_guard_cb, &r->guard);
    }

    pthread_mutex_lock(&a->mu);
    agent_reap(a);
    if (a->quit) {
        rc = MT_EINVAL;
        snprintf(err, errlen, "agent %s is shutting down", a->name);
    } else if (agent_find(a, run_id, strlen(run_id)) != NULL) {
        rc = MT_EINVAL;
        snprintf(err, errlen, "run %s is on agent %s already", run_id, a->name);
    } else if (a->active >= a->capacity) {
        rc = MT_EBUSY;
        snprintf(err, errlen, "agent %s is at capacity (%d runs)", a->name, a->capacity);
    } else if (!prepared && pthread_create(&r->thread, NULL, agent_run_main, r) != 0) {
        rc = MT_ESYS;
        snprintf(err, errlen, "cannot start a thread");
    } else {
        r->next = a->runs;
        a->runs = r;
        a->active++;
        rc = MT_OK;
    }
    pthread_mutex_unlock(&a->mu);
    if (rc != MT_OK)
        agent_run_free(r);
    else
        mt__log(MT_LOG_INFO, prepared ? "run prepared" : "run started", "run", run_id, "agent",
                a->name, NULL);
    return rc;
}

int mt__agent_start(mt__agent_t *a, const char *run_id, const char *config_json, char *err,
                    size_t errlen)
{
    return agent_add(a, run_id, config_json, NULL, false, err, errlen);
}

int mt__agent_prepare(mt__agent_t *a, const char *run_id, const char *config_json,
                      const char *part_json, char *err, size_t errlen)
{
    return agent_add(a, run_id, config_json, part_json, true, err, errlen);
}

/* Unlinks and frees a prepared run (no thread). Called with a->mu held. */
static agent_run_t *agent_take_prepared(mt__agent_t *a, const char *run_id)
{
    for (agent_run_t **pp = &a->runs; *pp != NULL; pp = &(*pp)->next) {
        agent_run_t *r = *pp;
        if (r->prepared && strcmp(r->id, run_id) == 0) {
            *pp = r->next;
            a->active--;
            pthread_cond_broadcast(&a->cv);
            return r;
        }
    }
    return NULL;
}

int mt__agent_abort(mt__agent_t *a, const char *run_id)
{
    pthread_mutex_lock(&a->mu);
    agent_run_t *r = agent_take_prepared(a, run_id);
    pthread_mutex_unlock(&a->mu);
    if (r == NULL)
        return MT_ENOTFOUND;
    agent_run_free(r);
    mt__log(MT_LOG_INFO, "prepared run dropped", "run", run_id, "agent", a->name, NULL);
    return MT_OK;
}

int mt__agent_commit(mt__agent_t *a, const char *run_id, int64_t start_unix_ns, char *err,
                     size_t errlen)
{
    struct timespec ts;
    int rc = MT_ENOTFOUND;
    agent_run_t *r = NULL, *late = NULL;

    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (errlen > 0)
        err[0] = '\0';
    pthread_mutex_lock(&a->mu);
    for (r = a->runs; r != NULL; r = r->next)
        if (r->prepared && strcmp(r->id, run_id) == 0)
            break;
    if (r == NULL) {
        snprintf(err, errlen, "run %s is not prepared on agent %s", run_id, a->name);
    } else if (start_unix_ns > 0 && now > start_unix_ns) {
        late = agent_take_prepared(a, run_id);
        rc = MT_ECONFLICT;
        snprintf(err, errlen, "the commit arrived %.1f ms after the start instant",
                 (double)(now - start_unix_ns) / 1e6);
    } else {
        r->start_unix_ns = start_unix_ns;
        mt__runjob_set_start(r->job, start_unix_ns); /* the engine waits for the instant */
        r->prepared = false;
        if (pthread_create(&r->thread, NULL, agent_run_main, r) != 0) {
            r->prepared = true;
            late = agent_take_prepared(a, run_id);
            rc = MT_ESYS;
            snprintf(err, errlen, "cannot start a thread");
        } else {
            rc = MT_OK;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (late != NULL)
        agent_run_free(late);
    if (rc == MT_OK)
        mt__log(MT_LOG_INFO, "run committed", "run", run_id, "agent", a->name, NULL);
    return rc;
}

int mt__agent_stop_all(mt__agent_t *a, const char *reason)
{
    int n = 0;
    pthread_mutex_lock(&a->mu);
    for (agent_run_t *r = a->runs; r != NULL; r = r->next)
        if (!r->done && !r->prepared) {
            agent_stop_locked(r, reason);
            n++;
        }
    pthread_mutex_unlock(&a->mu);
    return n;
}

int mt__agent_stop(mt__agent_t *a, const char *run_id, const char *reason)
{
    agent_run_t *r;
    int rc = MT_ENOTFOUND;

    if (a == NULL || run_id == NULL)
        return MT_EINVAL;
    pthread_mutex_lock(&a->mu);
    r = agent_find(a, run_id, strlen(run_id));
    if (r != NULL) {
        agent_stop_locked(r, reason != NULL && reason[0] != '\0' ? reason : "stopped");
        rc = MT_OK;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int mt__agent_active(mt__agent_t *a)
{
    int n;
    pthread_mutex_lock(&a->mu);
    n = a->active;
    pthread_mutex_unlock(&a->mu);
    return n;
}

void mt__agent_free(mt__agent_t *a)
{
    if (a == NULL)
        return;
    if (a->subscribed)
        mt__bus_unsubscribe(a->bus, agent_on_control, a);
    pthread_mutex_lock(&a->mu);
    a->quit = true;
    for (agent_run_t *r = a->runs; r != NULL; r = r->next)
        if (!r->done && !r->prepared)
            agent_stop_locked(r, "agent shutting down");
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->hb_on)
        pthread_join(a->hb, NULL);
    while (a->runs != NULL) {
        agent_run_t *r = a->runs;
        a->runs = r->next;
        if (!r->prepared)
            pthread_join(r->thread, NULL);
        agent_run_free(r);
    }
    json_decref(a->labels);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}
