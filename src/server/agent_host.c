/* The agent's side of the NATS protocol: prepare, commit, clock offset, lost control plane
 * (agent_host.h, docs/adr/0022-agents-over-nats.md). */
#include "server/agent_host.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netdb.h>
#include <sys/socket.h>

#include "mortar/error.h"
#include "proto/url.h"
#include "server/log.h"

#define HOST_TIME_TIMEOUT_MS 1000
#define HOST_PREPARE_TTL_MS  15000 /* a prepared run without a commit is dropped after it */

typedef struct host_prep {
    struct host_prep *next;
    char run[64];
    int64_t deadline_ms; /* monotonic */
    int64_t offset_ns;   /* control plane's clock minus ours, measured at prepare */
} host_prep_t;

struct mt__agent_host {
    mt__bus_t *bus;
    mt__agent_t *agent;
    char name[64], instance[40];
    int64_t lost_after_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool th_on, quit, lost, subscribed;
    int64_t last_ok_ms;
    host_prep_t *preps;
};

static int64_t host_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t host_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int mt__time_reply(const char *subject, const void *msg, size_t len, char **reply, size_t *rlen,
                   void *ud)
{
    (void)subject;
    (void)msg;
    (void)len;
    (void)ud;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"unix_ns\":%lld}", (long long)host_wall_ns());
    *reply = strdup(buf);
    *rlen = (size_t)n;
    return *reply == NULL;
}

/* One round trip to mortar.time: the control plane's clock minus ours at the midpoint. */
static int host_time_once(mt__agent_host_t *h, int64_t *offset_ns, int64_t *rtt_ns)
{
    char *reply = NULL;
    size_t rlen = 0;
    int64_t t0 = host_wall_ns();
    int rc = mt__bus_request(h->bus, "mortar.time", "{}", 2, HOST_TIME_TIMEOUT_MS, &reply, &rlen);
    int64_t t1 = host_wall_ns();
    if (rc != MT_OK)
        return rc;
    json_t *o = json_loadb(reply, rlen, 0, NULL);
    json_t *v = json_object_get(o, "unix_ns");
    rc = json_is_integer(v) ? MT_OK : MT_EPROTO;
    if (rc == MT_OK) {
        *offset_ns = (int64_t)json_integer_value(v) - (t0 + (t1 - t0) / 2);
        *rtt_ns = t1 - t0;
    }
    json_decref(o);
    free(reply);
    return rc;
}

static int host_measure(mt__agent_host_t *h, int64_t *offset_ns, int64_t *rtt_ns)
{
    int rc = MT_EAGAIN;
    *rtt_ns = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        int64_t off, rtt;
        if (host_time_once(h, &off, &rtt) == MT_OK) {
            rc = MT_OK;
            if (rtt < *rtt_ns) {
                *rtt_ns = rtt;
                *offset_ns = off;
            }
        }
    }
    return rc;
}

static char *host_reply(mt__agent_host_t *h, bool ready, const char *reason, int64_t off,
                        int64_t rtt, size_t *rlen)
{
    json_t *o =
        json_pack("{s:b, s:s, s:s}", "ready", ready, "agent", h->name, "instance", h->instance);
    if (ready) {
        json_object_set_new(o, "clock_offset_us", json_integer(off / 1000));
        json_object_set_new(o, "rtt_us", json_integer(rtt / 1000));
    } else {
        json_object_set_new(o, "reason", json_string(reason));
    }
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *rlen = t ? strlen(t) : 0;
    return t;
}

int mt__prepare_decode(const void *msg, size_t len, char run[40], char **config, char **part,
                       int64_t *ttl_ms, char *err, size_t errlen)
{
    *config = *part = NULL;
    *ttl_ms = 0;
    run[0] = '\0';
    json_t *o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    const char *id = json_string_value(json_object_get(o, "run_id"));
    json_t *cfg = json_object_get(o, "config"), *pj = json_object_get(o, "part"),
           *ttl = json_object_get(o, "deadline_ms");
    int rc = MT_EINVAL;
    size_t n = id != NULL ? strlen(id) : 0;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "prepare: not a JSON object");
        goto out;
    }
    if (n == 0 || n >= 40 ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789-_") != n) {
        snprintf(err, errlen, "prepare: run_id: 1..39 of A-Z a-z 0-9 - _");
        goto out;
    }
    if (!json_is_object(cfg)) {
        snprintf(err, errlen, "prepare: config: a JSON object expected");
        goto out;
    }
    if (pj != NULL && !json_is_object(pj) && !json_is_null(pj)) {
        snprintf(err, errlen, "prepare: part: a JSON object or null expected");
        goto out;
    }
    if (ttl != NULL && (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
                        json_integer_value(ttl) > 600000)) {
        snprintf(err, errlen, "prepare: deadline_ms: 1..600000 expected");
        goto out;
    }
    memcpy(run, id, n + 1);
    *ttl_ms = ttl != NULL ? (int64_t)json_integer_value(ttl) : 0;
    *config = json_dumps(cfg, JSON_COMPACT);
    *part = json_is_object(pj) ? json_dumps(pj, JSON_COMPACT) : NULL;
    rc = *config != NULL && (*part != NULL || !json_is_object(pj)) ? MT_OK : MT_ENOMEM;
    if (rc != MT_OK) {
        snprintf(err, errlen, "out of memory");
        free(*config);
        free(*part);
        *config = *part = NULL;
    }
out:
    json_decref(o);
    return rc;
}

int mt__commit_decode(const void *msg, size_t len, int64_t *start_unix_ns)
{
    json_t *o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *t = json_object_get(o, "start_unix_ns");
    int rc = json_is_integer(t) && json_integer_value(t) > 0 ? MT_OK : MT_EINVAL;
    if (rc == MT_OK)
        *start_unix_ns = (int64_t)json_integer_value(t);
    json_decref(o);
    return rc;
}

/* The target must resolve from this agent (each agent resolves it itself: split-horizon DNS
 * may give agents in different zones different addresses). */
static int host_resolve(const char *config, char *err, size_t errlen)
{
    json_t *o = json_loads(config, 0, NULL);
    const char *url = json_string_value(json_object_get(o, "url"));
    mt_url_t u;
    mt_parse_err_t pe;
    int rc = MT_OK;
    if (url != NULL && mt_url_parse(url, &u, &pe) == MT_OK) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        int e = getaddrinfo(u.host, u.port, &hints, &res);
        if (e != 0 || res == NULL) {
            snprintf(err, errlen, "cannot resolve the target %s: %s", u.host,
                     e != 0 ? gai_strerror(e) : "no address");
            rc = MT_EINVAL;
        }
        if (res != NULL)
            freeaddrinfo(res);
        mt_url_dispose(&u);
    } /* else: the config check names what is wrong with the url */
    json_decref(o);
    return rc;
}

static int host_on_prepare(const char *subject, const void *msg, size_t len, char **reply,
                           size_t *rlen, void *ud)
{
    mt__agent_host_t *h = ud;
    char err[512] = "", run[40];
    int64_t off = 0, rtt = 0, ttl = 0;
    char *cfg = NULL, *part = NULL;
    (void)subject;
    int rc = mt__prepare_decode(msg, len, run, &cfg, &part, &ttl, err, sizeof err);
    if (rc != MT_OK)
        goto out;
    if (host_resolve(cfg, err, sizeof err) != MT_OK) {
        rc = MT_EINVAL;
        goto out;
    }
    if (host_measure(h, &off, &rtt) != MT_OK) {
        rc = MT_EAGAIN;
        snprintf(err, sizeof err, "cannot measure the clock offset: mortar.time does not answer");
        goto out;
    }
    rc = mt__agent_prepare(h->agent, run, cfg, part, err, sizeof err);
    if (rc == MT_OK) {
        host_prep_t *p = calloc(1, sizeof(*p));
        if (p == NULL) {
            mt__agent_abort(h->agent, run);
            rc = MT_ENOMEM;
            snprintf(err, sizeof err, "out of memory");
            goto out;
        }
        snprintf(p->run, sizeof p->run, "%s", run);
        p->offset_ns = off;
        p->deadline_ms = host_mono_ms() + (ttl > 0 ? ttl : HOST_PREPARE_TTL_MS);
        pthread_mutex_lock(&h->mu);
        p->next = h->preps;
        h->preps = p;
        pthread_mutex_unlock(&h->mu);
        char o_us[32];
        snprintf(o_us, sizeof o_us, "%lld", (long long)(off / 1000));
        mt__log(MT_LOG_INFO, "ready", "run", run, "clock_offset_us", o_us, NULL);
    } else {
        mt__log(MT_LOG_WARN, "prepare refused", "run", run, "reason", err, NULL);
    }
out:
    *reply = host_reply(h, rc == MT_OK, err, off, rtt, rlen);
    free(cfg);
    free(part);
    return *reply == NULL;
}

static host_prep_t *host_take(mt__agent_host_t *h, const char *run, size_t n)
{
    for (host_prep_t **pp = &h->preps; *pp != NULL; pp = &(*pp)->next) {
        host_prep_t *p = *pp;
        if (strlen(p->run) == n && memcmp(p->run, run, n) == 0) {
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void host_publish_refusal(mt__agent_host_t *h, const char *run, const char *reason)
{
    char subject[128], id[160];
    snprintf(subject, sizeof subject, "mortar.runs.%s.end", run);
    snprintf(id, sizeof id, "%s.%s.end", run, h->name);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "run_id", run, "agent", h->name, "outcome",
                          "error", "reason", reason, "seconds", 0);
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (t != NULL)
        mt__bus_publish_id(h->bus, subject, id, t, strlen(t));
    free(t);
}

/* mortar.runs.<id>.commit {"start_unix_ns": T} */
static void host_on_commit(const char *subject, const void *msg, size_t len, void *ud)
{
    mt__agent_host_t *h = ud;
    const char *id = subject + strlen("mortar.runs."), *dot = strchr(id, '.');
    if (dot == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    host_prep_t *p = host_take(h, id, (size_t)(dot - id));
    pthread_mutex_unlock(&h->mu);
    if (p == NULL)
        return; /* not ours */
    char err[256] = "";
    int64_t t = 0;
    int rc = mt__commit_decode(msg, len, &t);
    if (rc != MT_OK) {
        snprintf(err, sizeof err, "a commit without start_unix_ns");
        mt__agent_abort(h->agent, p->run);
    } else {
        rc = mt__agent_commit(h->agent, p->run, t - p->offset_ns, err, sizeof err);
    }
    if (rc != MT_OK) {
        char reason[400];
        snprintf(reason, sizeof reason, "agent %s refused the start: %s", h->name, err);
        mt__log(MT_LOG_WARN, "commit refused", "run", p->run, "reason", err, NULL);
        host_publish_refusal(h, p->run, reason);
    }
    free(p);
}

static void *host_main(void *arg)
{
    mt__agent_host_t *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->quit) {
        pthread_mutex_unlock(&h->mu);
        int64_t off, rtt;
        int ok = host_time_once(h, &off, &rtt) == MT_OK;
        int64_t now = host_mono_ms();
        pthread_mutex_lock(&h->mu);
        if (ok) {
            if (h->lost)
                mt__log(MT_LOG_INFO, "control plane back", NULL);
            h->lost = false;
            h->last_ok_ms = now;
        } else if (!h->lost && now - h->last_ok_ms > h->lost_after_ms) {
            h->lost = true;
            pthread_mutex_unlock(&h->mu);
            char why[128];
            snprintf(why, sizeof why, "agent %s lost the control plane for %lld s", h->name,
                     (long long)((now - h->last_ok_ms) / 1000));
            int n = mt__agent_stop_all(h->agent, why);
            char ns[16];
            snprintf(ns, sizeof ns, "%d", n);
            mt__log(MT_LOG_WARN, "control plane lost: runs stopped", "runs", ns, NULL);
            pthread_mutex_lock(&h->mu);
        }
        /* prepared runs whose commit never came */
        for (host_prep_t **pp = &h->preps; *pp != NULL;) {
            host_prep_t *p = *pp;
            if (now > p->deadline_ms) {
                *pp = p->next;
                mt__agent_abort(h->agent, p->run);
                free(p);
            } else {
                pp = &p->next;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        if (!h->quit)
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int mt__agent_host_new(mt__bus_t *bus, mt__agent_t *agent, const char *name, const char *instance,
                       int64_t lost_after_ms, mt__agent_host_t **out)
{
    char subject[128];
    int rc;
    mt__agent_host_t *h = calloc(1, sizeof(*h));
    *out = NULL;
    if (h == NULL)
        return MT_ENOMEM;
    h->bus = bus;
    h->agent = agent;
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->instance, sizeof h->instance, "%s", instance ? instance : "");
    h->lost_after_ms = lost_after_ms > 0 ? lost_after_ms : 30000;
    h->last_ok_ms = host_mono_ms();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(subject, sizeof subject, "mortar.agents.%s.prepare", name);
    if ((rc = mt__bus_respond(bus, subject, host_on_prepare, h)) != MT_OK ||
        (rc = mt__bus_subscribe(bus, "mortar.runs.*.commit", host_on_commit, h)) != MT_OK) {
        mt__agent_host_free(h);
        return rc;
    }
    h->subscribed = true;
    if (pthread_create(&h->th, NULL, host_main, h) != 0) {
        mt__agent_host_free(h);
        return MT_ESYS;
    }
    h->th_on = true;
    *out = h;
    return MT_OK;
}

void mt__agent_host_free(mt__agent_host_t *h)
{
    if (h == NULL)
        return;
    if (h->subscribed) {
        char subject[128];
        snprintf(subject, sizeof subject, "mortar.agents.%s.prepare", h->name);
        mt__bus_unrespond(h->bus, subject);
        mt__bus_unsubscribe(h->bus, host_on_commit, h);
    }
    pthread_mutex_lock(&h->mu);
    h->quit = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (h->th_on)
        pthread_join(h->th, NULL);
    while (h->preps != NULL) {
        host_prep_t *p = h->preps;
        h->preps = p->next;
        mt__agent_abort(h->agent, p->run);
        free(p);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
