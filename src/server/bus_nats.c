/* The NATS bus (bus.h, docs/adr/0022-agents-over-nats.md). Core NATS carries heartbeats,
 * control, commit, prepare and time; a JetStream stream (MORTAR_RUNS, file storage,
 * work-queue retention, de-duplicated by Nats-Msg-Id) carries .second and .end.
 *   - JetStream publishes go through an outbox drained in order by one thread with
 *     synchronous publishes; a message leaves the outbox only when the stream acknowledged it,
 *     so an agent keeps its seconds while NATS is away and re-sends them (the message id makes
 *     a re-send after a lost acknowledgement harmless).
 *   - The server side reads the stream through one durable pull consumer per run it owns
 *     (mt__bus_watch: mortar-run-<id>, filter mortar.runs.<id>.*.*; several servers share one
 *     stream, each reading its own runs) on one thread and hands each message to the
 *     subscribers in stream order; it keeps the message and acknowledges it when mt__bus_ack
 *     says the store has that second (or the run is over). The server that takes a run over
 *     re-creates its consumer, so what the last owner never acknowledged comes at once and in
 *     order.
 *   - Core subscriptions never cover the stream's subjects (those come from the consumer or,
 *     for agents, not at all), so nobody gets a snapshot twice. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <openssl/evp.h>

#include "mortar/error.h"
#include "server/bus.h"
#include "server/log.h"

#define NB_STREAM       "MORTAR_RUNS"
#define NB_PUB_WAIT_MS  2000
#define NB_RETRY_MS     200
#define NB_FETCH_BATCH  256
#define NB_FETCH_MS     250
#define NB_MAX_DELIVER  50
#define NB_DUP_WINDOW_S 120

typedef struct nb_sub {
    struct nb_sub *next;
    struct nbus *b;
    char *filter;
    mt__bus_cb cb;
    void *ud;
    natsSubscription *core[4];
    int ncore;
    bool dead;
} nb_sub_t;

typedef struct nb_resp {
    struct nb_resp *next;
    struct nbus *b;
    char *subject;
    mt__bus_reply_cb cb;
    void *ud;
    natsSubscription *sub;
} nb_resp_t;

typedef struct nb_out {
    struct nb_out *next;
    size_t len;
    char *subject, *id;
    char data[];
} nb_out_t;

typedef struct nb_held {
    struct nb_held *next;
    natsMsg *m;
    char run[64];
    uint32_t second; /* UINT32_MAX: an end */
    int64_t at_ms;
} nb_held_t;

typedef struct nb_run {
    struct nb_run *next;
    char run[64];
    natsSubscription *sub;
    bool dead, purge; /* unwatched: the reading thread drops it */
} nb_run_t;

typedef struct nbus {
    mt__bus_t base;
    natsConnection *nc;
    jsCtx *js;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    nb_sub_t *subs;
    nb_resp_t *resps;
    int inflight; /* subscriber callbacks running */
    /* outbox */
    nb_out_t *ohead, *otail;
    size_t on, omax;
    bool obusy;
    pthread_t pub;
    bool pub_on;
    /* consumers: one per watched run (filter mortar.runs.<id>.*.*) */
    nb_run_t *runs;
    pthread_t fetch;
    bool fetch_on;
    nb_held_t *held;
    int ack_wait_ms;
    bool closing, closed;
    bool consumer;
} nbus_t;

#define NB(b) ((nbus_t *)(b))

static _Thread_local int nb_in_cb;

static int64_t nb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nb_timedwait(nbus_t *b, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&b->cv, &b->mu, &ts);
}

/* mortar.runs.<run>.second | .end: the bus subjects that go through the stream. On NATS they
 * carry the publishing agent's name as one more token (mortar.runs.<run>.second.<agent>), so
 * that NATS permissions can let each agent publish its own snapshots only. */
static bool nb_is_js(const char *s)
{
    return mt__bus_match("mortar.runs.*.second", s) || mt__bus_match("mortar.runs.*.end", s);
}

static bool nb_is_js_nats(const char *s)
{
    return mt__bus_match("mortar.runs.*.second.*", s) || mt__bus_match("mortar.runs.*.end.*", s);
}

/* The agent of a message id "<run>.<agent>.<second|end>": [*a, *a + *n). */
static bool nb_id_agent(const char *id, const char **a, size_t *n)
{
    const char *d1 = id != NULL ? strchr(id, '.') : NULL, *d2 = d1 ? strrchr(id, '.') : NULL;
    if (d1 == NULL || d2 == d1 || d2 == d1 + 1)
        return false;
    *a = d1 + 1;
    *n = (size_t)(d2 - d1 - 1);
    return true;
}

/* ---- delivery to subscribers ---- */

static void nb_deliver(nbus_t *b, nb_sub_t *only, const char *subject, const void *data, size_t len)
{
    pthread_mutex_lock(&b->mu);
    for (nb_sub_t *s = b->subs; s != NULL; s = s->next) {
        if (s->dead || (only != NULL && s != only) || !mt__bus_match(s->filter, subject))
            continue;
        b->inflight++;
        pthread_mutex_unlock(&b->mu);
        nb_in_cb = 1;
        s->cb(subject, data, len, s->ud);
        nb_in_cb = 0;
        pthread_mutex_lock(&b->mu);
        b->inflight--;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
}

static void nb_core_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    nb_sub_t *s = closure;
    const char *subject = natsMsg_GetSubject(m);
    (void)nc;
    (void)sub;
    if (!nb_is_js_nats(subject))
        nb_deliver(s->b, s, subject, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

/* ---- publish ---- */

static int nb_status(natsStatus st)
{
    switch (st) {
    case NATS_OK:
        return MT_OK;
    case NATS_NO_MEMORY:
        return MT_ENOMEM;
    case NATS_TIMEOUT:
        return MT_EAGAIN;
    case NATS_NO_RESPONDERS:
        return MT_ENOTFOUND;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
        return MT_EINVAL;
    case NATS_MAX_PAYLOAD:
        return MT_ETOOBIG;
    default:
        return MT_EPROTO;
    }
}

static int nb_publish(mt__bus_t *bb, const char *subject, const char *msg_id, const void *msg,
                      size_t len)
{
    nbus_t *b = NB(bb);
    if (subject == NULL || (msg == NULL && len > 0) || len > (size_t)1 << 30)
        return MT_EINVAL;
    if (!nb_is_js(subject)) {
        if (b->closed)
            return MT_EINVAL;
        return nb_status(natsConnection_Publish(b->nc, subject, msg, (int)len));
    }
    const char *ag;
    size_t agl;
    if (!nb_id_agent(msg_id, &ag, &agl) || memchr(ag, '*', agl) || memchr(ag, '>', agl))
        return MT_EINVAL; /* the stream needs "<run>.<agent>.<second|end>" */
    size_t sl = strlen(subject) + 1 + agl + 1, il = strlen(msg_id) + 1;
    nb_out_t *o = malloc(sizeof(*o) + len + sl + il);
    if (o == NULL)
        return MT_ENOMEM;
    o->next = NULL;
    o->len = len;
    if (len > 0)
        memcpy(o->data, msg, len);
    o->subject = o->data + len;
    snprintf(o->subject, sl, "%s.%.*s", subject, (int)agl, ag);
    o->id = o->subject + sl;
    memcpy(o->id, msg_id, il);
    pthread_mutex_lock(&b->mu);
    int rc = MT_OK;
    if (b->closing)
        rc = MT_EINVAL;
    else if (b->on >= b->omax)
        rc = MT_ENOMEM; /* NATS has been away too long: the oldest are kept, this one is not */
    if (rc != MT_OK) {
        pthread_mutex_unlock(&b->mu);
        free(o);
        return rc;
    }
    if (b->otail != NULL)
        b->otail->next = o;
    else
        b->ohead = o;
    b->otail = o;
    b->on++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return MT_OK;
}

static void *nb_pub_main(void *arg)
{
    nbus_t *b = arg;
    int64_t warned = 0;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->ohead == NULL && !b->closing)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->ohead == NULL)
            break;
        nb_out_t *o = b->ohead;
        b->obusy = true;
        pthread_mutex_unlock(&b->mu);

        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = o->id;
        po.MaxWait = NB_PUB_WAIT_MS;
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus st = js_Publish(&pa, b->js, o->subject, o->data, (int)o->len, &po, &jerr);
        jsPubAck_Destroy(pa);

        pthread_mutex_lock(&b->mu);
        b->obusy = false;
        if (st == NATS_OK) {
            b->ohead = o->next;
            if (b->ohead == NULL)
                b->otail = NULL;
            b->on--;
            free(o);
            pthread_cond_broadcast(&b->cv);
            continue;
        }
        if (b->closing && b->closed)
            break; /* shutting down and NATS is gone: the rest are lost with the process */
        int64_t now = nb_now_ms();
        if (now - warned > 5000) {
            char n[24];
            snprintf(n, sizeof n, "%zu", b->on);
            mt__log(MT_LOG_WARN, "stream publish failed, retrying", "subject", o->subject, "error",
                    natsStatus_GetText(st), "queued", n, NULL);
            warned = now;
        }
        nb_timedwait(b, NB_RETRY_MS);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ---- subscribe ---- */

/* The core NATS subjects for a filter: the filter as a NATS subject, or, where that would
 * cover the stream's subjects, the protocol's core subjects it covers. */
static int nb_core_subjects(const char *filter, char out[4][256])
{
    char subj[256];
    if (strpbrk(filter, "*>") != NULL)
        snprintf(subj, sizeof subj, "%s", filter);
    else if (filter[0] == '\0')
        snprintf(subj, sizeof subj, ">");
    else if (filter[strlen(filter) - 1] == '.')
        snprintf(subj, sizeof subj, "%s>", filter);
    else
        snprintf(subj, sizeof subj, "%s", filter);
    if (!mt__bus_match(subj, "mortar.runs.x.second.a") &&
        !mt__bus_match(subj, "mortar.runs.x.end.a") &&
        !mt__bus_match(subj, "mortar.runs.x.second") && !mt__bus_match(subj, "mortar.runs.x.end")) {
        snprintf(out[0], 256, "%s", subj);
        return 1;
    }
    static const char *const core[][2] = {
        {"mortar.runs.*.control", "mortar.runs.x.control"},
        {"mortar.runs.*.commit", "mortar.runs.x.commit"},
        {"mortar.agents.>", "mortar.agents.x.heartbeat"},
        {"mortar.time", "mortar.time"},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof core / sizeof core[0]; i++)
        if (mt__bus_match(subj, core[i][1]))
            snprintf(out[n++], 256, "%s", core[i][0]);
    return n;
}

static int nb_subscribe(mt__bus_t *bb, const char *filter, mt__bus_cb cb, void *ud)
{
    nbus_t *b = NB(bb);
    nb_sub_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->filter = strdup(filter)) == NULL) {
        free(s);
        return MT_ENOMEM;
    }
    s->b = b;
    s->cb = cb;
    s->ud = ud;
    pthread_mutex_lock(&b->mu);
    s->next = b->subs;
    b->subs = s;
    pthread_mutex_unlock(&b->mu);
    char subj[4][256];
    int n = nb_core_subjects(filter, subj);
    for (int i = 0; i < n; i++) {
        natsStatus st = natsConnection_Subscribe(&s->core[s->ncore], b->nc, subj[i], nb_core_cb, s);
        if (st != NATS_OK) {
            mt__log(MT_LOG_ERROR, "NATS subscribe failed", "subject", subj[i], "error",
                    natsStatus_GetText(st), NULL);
            return nb_status(st);
        }
        s->ncore++;
    }
    return MT_OK;
}

static void nb_unsubscribe(mt__bus_t *bb, mt__bus_cb cb, void *ud)
{
    nbus_t *b = NB(bb);
    pthread_mutex_lock(&b->mu);
    for (nb_sub_t *s = b->subs; s != NULL; s = s->next) {
        if (s->dead || s->cb != cb || s->ud != ud)
            continue;
        s->dead = true; /* freed with the bus: a core callback may be on its way */
        for (int i = 0; i < s->ncore; i++)
            natsSubscription_Unsubscribe(s->core[i]);
    }
    while (!nb_in_cb && b->inflight > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* ---- request / reply ---- */

static void nb_resp_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    nb_resp_t *r = closure;
    char *out = NULL;
    size_t n = 0;
    (void)sub;
    pthread_mutex_lock(&r->b->mu);
    r->b->inflight++;
    pthread_mutex_unlock(&r->b->mu);
    const char *reply = natsMsg_GetReply(m);
    if (reply != NULL && reply[0] != '\0' &&
        r->cb(natsMsg_GetSubject(m), natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &out, &n,
              r->ud) == 0 &&
        out != NULL)
        natsConnection_Publish(nc, reply, out, (int)n);
    free(out);
    natsMsg_Destroy(m);
    pthread_mutex_lock(&r->b->mu);
    r->b->inflight--;
    pthread_cond_broadcast(&r->b->cv);
    pthread_mutex_unlock(&r->b->mu);
}

static int nb_respond(mt__bus_t *bb, const char *subject, mt__bus_reply_cb cb, void *ud)
{
    nbus_t *b = NB(bb);
    nb_resp_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MT_ENOMEM;
    r->b = b;
    r->cb = cb;
    r->ud = ud;
    r->subject = strdup(subject);
    natsStatus st = r->subject == NULL
                        ? NATS_NO_MEMORY
                        : natsConnection_Subscribe(&r->sub, b->nc, subject, nb_resp_cb, r);
    if (st != NATS_OK) {
        free(r->subject);
        free(r);
        return nb_status(st);
    }
    pthread_mutex_lock(&b->mu);
    r->next = b->resps;
    b->resps = r;
    pthread_mutex_unlock(&b->mu);
    return MT_OK;
}

static void nb_unrespond(mt__bus_t *bb, const char *subject)
{
    nbus_t *b = NB(bb);
    pthread_mutex_lock(&b->mu);
    nb_resp_t *r = NULL;
    for (nb_resp_t **pp = &b->resps; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->subject, subject) == 0) {
            r = *pp;
            *pp = r->next;
            break;
        }
    pthread_mutex_unlock(&b->mu);
    if (r == NULL)
        return;
    /* drain: the callback in progress finishes before this returns */
    if (natsSubscription_Drain(r->sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(r->sub, 2000);
    natsSubscription_Destroy(r->sub);
    free(r->subject);
    free(r);
}

static int nb_request(mt__bus_t *bb, const char *subject, const void *msg, size_t len,
                      int timeout_ms, char **reply, size_t *rlen)
{
    nbus_t *b = NB(bb);
    natsMsg *m = NULL;
    natsStatus st = natsConnection_Request(&m, b->nc, subject, msg, (int)len, timeout_ms);
    if (st != NATS_OK)
        return nb_status(st);
    int n = natsMsg_GetDataLength(m);
    char *z = malloc((size_t)n + 1);
    if (z == NULL) {
        natsMsg_Destroy(m);
        return MT_ENOMEM;
    }
    if (n > 0)
        memcpy(z, natsMsg_GetData(m), (size_t)n);
    z[n] = '\0';
    natsMsg_Destroy(m);
    *reply = z;
    if (rlen != NULL)
        *rlen = (size_t)n;
    return MT_OK;
}

/* ---- the consumer (server side) ---- */

/* "<run>.<agent>.<second|end>" -> run and second (UINT32_MAX for an end) */
static bool nb_parse_id(const char *id, char run[64], uint32_t *second)
{
    const char *d1 = strchr(id, '.'), *d2 = d1 ? strrchr(id, '.') : NULL;
    if (d1 == NULL || d2 == d1 || (size_t)(d1 - id) >= 64)
        return false;
    memcpy(run, id, (size_t)(d1 - id));
    run[d1 - id] = '\0';
    if (strcmp(d2 + 1, "end") == 0) {
        *second = UINT32_MAX;
        return true;
    }
    char *e;
    unsigned long v = strtoul(d2 + 1, &e, 10);
    if (*e != '\0' || e == d2 + 1 || v >= UINT32_MAX)
        return false;
    *second = (uint32_t)v;
    return true;
}

int mt__nats_msg_id_parse(const char *id, char run[64], uint32_t *second)
{
    const char *a;
    size_t n;
    return id != NULL && nb_parse_id(id, run, second) && nb_id_agent(id, &a, &n) ? MT_OK
                                                                                 : MT_EINVAL;
}

static void nb_consumer_name(const char *run, char out[96])
{
    snprintf(out, 96, "mortar-run-%s", run);
}

/* Drops the unwatched runs' subscriptions (reading thread only: nobody else destroys them);
 * a run that is over also loses its consumer and what the stream still holds for it. */
static void nb_reap(nbus_t *b)
{
    nb_run_t *dead = NULL;
    pthread_mutex_lock(&b->mu);
    for (nb_run_t **pp = &b->runs; *pp != NULL;) {
        nb_run_t *r = *pp;
        if (r->dead) {
            *pp = r->next;
            r->next = dead;
            dead = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&b->mu);
    while (dead != NULL) {
        nb_run_t *r = dead;
        dead = r->next;
        natsSubscription_Destroy(r->sub);
        if (r->purge) {
            char name[96], filter[128];
            jsErrCode jerr = 0;
            nb_consumer_name(r->run, name);
            js_DeleteConsumer(b->js, NB_STREAM, name, NULL, &jerr);
            jsOptions jo;
            jsOptions_Init(&jo);
            snprintf(filter, sizeof filter, "mortar.runs.%s.*.*", r->run);
            jo.Stream.Purge.Subject = filter;
            js_PurgeStream(b->js, NB_STREAM, &jo, &jerr);
        }
        free(r);
    }
}

static void nb_take(nbus_t *b, natsMsgList *list);

static void *nb_fetch_main(void *arg)
{
    nbus_t *b = arg;
    int64_t warned = 0;
    for (;;) {
        nb_reap(b);
        pthread_mutex_lock(&b->mu);
        bool stop = b->closing;
        /* held messages nobody acknowledges (a run no longer watched) are dropped: the stream
         * re-delivers them up to its limit */
        int64_t now = nb_now_ms();
        for (nb_held_t **pp = &b->held; *pp != NULL;) {
            nb_held_t *h = *pp;
            if (now - h->at_ms > 2 * (int64_t)b->ack_wait_ms) {
                *pp = h->next;
                natsMsg_Destroy(h->m);
                free(h);
            } else {
                pp = &h->next;
            }
        }
        size_t n = 0;
        for (nb_run_t *r = b->runs; r != NULL; r = r->next)
            n += !r->dead;
        natsSubscription **subs = n ? calloc(n, sizeof *subs) : NULL;
        size_t k = 0;
        for (nb_run_t *r = b->runs; r != NULL && subs != NULL; r = r->next)
            if (!r->dead)
                subs[k++] = r->sub;
        if (k == 0 && !stop)
            nb_timedwait(b, NB_FETCH_MS); /* nothing to read until a run is watched */
        pthread_mutex_unlock(&b->mu);
        if (stop) {
            free(subs);
            break;
        }
        /* the subscriptions stay valid: only this thread destroys them (nb_reap) */
        int64_t tmo = k ? NB_FETCH_MS / (int64_t)k : NB_FETCH_MS;
        if (tmo < 20)
            tmo = 20;
        bool failed = false;
        for (size_t i = 0; i < k; i++) {
            natsMsgList list = {0};
            jsErrCode jerr = 0;
            natsStatus st = natsSubscription_Fetch(&list, subs[i], NB_FETCH_BATCH, tmo, &jerr);
            if (st != NATS_OK && st != NATS_TIMEOUT) {
                failed = true;
                if (nb_now_ms() - warned > 5000) {
                    mt__log(MT_LOG_WARN, "stream fetch failed, retrying", "error",
                            natsStatus_GetText(st), NULL);
                    warned = nb_now_ms();
                }
            }
            nb_take(b, &list);
            natsMsgList_Destroy(&list);
        }
        free(subs);
        if (failed) {
            pthread_mutex_lock(&b->mu);
            if (!b->closing)
                nb_timedwait(b, NB_RETRY_MS);
            pthread_mutex_unlock(&b->mu);
        }
    }
    return NULL;
}

/* Hands the fetched messages to the subscribers and holds them until acknowledged. */
static void nb_take(nbus_t *b, natsMsgList *list)
{
    for (int i = 0; i < list->Count; i++) {
        natsMsg *m = list->Msgs[i];
        const char *nsubj = natsMsg_GetSubject(m), *id = NULL, *ag = NULL;
        const char *last = strrchr(nsubj, '.');
        size_t agl = 0;
        char subject[256];
        nb_held_t *h = calloc(1, sizeof(*h));
        /* the subject's agent token (what NATS permissions checked) must be the message
         * id's agent: otherwise an agent could pass snapshots off as another's */
        bool ok = h != NULL && last != NULL &&
                  natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK &&
                  nb_parse_id(id, h->run, &h->second) && nb_id_agent(id, &ag, &agl) &&
                  strlen(last + 1) == agl && memcmp(last + 1, ag, agl) == 0 &&
                  (size_t)(last - nsubj) < sizeof subject;
        if (!ok) {
            mt__log(MT_LOG_WARN, "stream message dropped: its subject and id disagree", "subject",
                    nsubj, "id", id ? id : "", NULL);
            free(h);
            natsMsg_Ack(m, NULL);
            natsMsg_Destroy(m);
            list->Msgs[i] = NULL;
            continue;
        }
        memcpy(subject, nsubj, (size_t)(last - nsubj));
        subject[last - nsubj] = '\0';
        nb_deliver(b, NULL, subject, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        h->m = m;
        h->at_ms = nb_now_ms();
        pthread_mutex_lock(&b->mu);
        h->next = b->held;
        b->held = h;
        pthread_mutex_unlock(&b->mu);
        list->Msgs[i] = NULL;
    }
}

static bool nb_run_id_ok(const char *run)
{
    size_t n = strlen(run);
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = run[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int nb_watch(mt__bus_t *bb, const char *run)
{
    nbus_t *b = NB(bb);
    if (!b->consumer || !nb_run_id_ok(run))
        return MT_EINVAL;
    pthread_mutex_lock(&b->mu);
    for (nb_run_t *r = b->runs; r != NULL; r = r->next)
        if (strcmp(r->run, run) == 0 && !r->dead) {
            pthread_mutex_unlock(&b->mu);
            return MT_OK;
        }
    pthread_mutex_unlock(&b->mu);
    nb_run_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MT_ENOMEM;
    snprintf(r->run, sizeof r->run, "%s", run);
    char name[96], filter[128];
    nb_consumer_name(run, name);
    snprintf(filter, sizeof filter, "mortar.runs.%s.*.*", run);
    /* made afresh: the messages an earlier owner had been given but never acknowledged (it
     * was killed) come at once and in stream order rather than after AckWait, out of order.
     * The stream keeps every message that was not acknowledged (work-queue retention). */
    jsErrCode jerr = 0;
    js_DeleteConsumer(b->js, NB_STREAM, name, NULL, &jerr);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name;
    cc.FilterSubject = filter;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = (int64_t)b->ack_wait_ms * 1000000LL;
    cc.MaxDeliver = NB_MAX_DELIVER;
    cc.MaxAckPending = 1 << 20;
    jsConsumerInfo *ci = NULL;
    natsStatus st = js_AddConsumer(&ci, b->js, NB_STREAM, &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (st == NATS_OK || jerr == JSConsumerNameExistErr || jerr == JSConsumerExistingActiveErr) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = NB_STREAM;
        so.Consumer = name;
        st = js_PullSubscribe(&r->sub, b->js, filter, name, NULL, &so, &jerr);
    }
    if (st != NATS_OK) {
        mt__log(MT_LOG_ERROR, "cannot read the run's stream messages", "run", run, "consumer", name,
                "error", nats_GetLastError(NULL), NULL);
        free(r);
        return MT_EPROTO;
    }
    pthread_mutex_lock(&b->mu);
    r->next = b->runs;
    b->runs = r;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return MT_OK;
}

static void nb_unwatch(mt__bus_t *bb, const char *run, int purge)
{
    nbus_t *b = NB(bb);
    pthread_mutex_lock(&b->mu);
    for (nb_run_t *r = b->runs; r != NULL; r = r->next)
        if (strcmp(r->run, run) == 0 && !r->dead) {
            r->dead = true;
            r->purge = purge != 0;
        }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void nb_ack(mt__bus_t *bb, const char *run_id, uint32_t upto)
{
    nbus_t *b = NB(bb);
    pthread_mutex_lock(&b->mu);
    for (nb_held_t **pp = &b->held; *pp != NULL;) {
        nb_held_t *h = *pp;
        if (strcmp(h->run, run_id) == 0 &&
            (upto == UINT32_MAX || (h->second != UINT32_MAX && h->second <= upto))) {
            *pp = h->next;
            natsMsg_Ack(h->m, NULL);
            natsMsg_Destroy(h->m);
            free(h);
        } else {
            pp = &h->next;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

static int nb_setup_stream(nbus_t *b, const char *durable, char *err, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    /* one subject pattern, so that a run's consumer may filter on mortar.runs.<id>.*.* (a
     * filter must lie within one of the stream's subjects); the 5-token subjects under
     * mortar.runs are exactly .second.<agent> and .end.<agent> (control and commit have 4) */
    static const char *subjects[] = {"mortar.runs.*.*.*"};
    natsStatus st = js_GetStreamInfo(&si, b->js, NB_STREAM, NULL, &jerr);
    if (st == NATS_OK && si != NULL &&
        (si->Config->SubjectsLen != 1 || strcmp(si->Config->Subjects[0], subjects[0]) != 0)) {
        /* made by an earlier version (two subject patterns): widened in place, no message
         * lost */
        jsStreamConfig sc = *si->Config;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        jsStreamInfo *ui = NULL;
        st = js_UpdateStream(&ui, b->js, &sc, NULL, &jerr);
        jsStreamInfo_Destroy(ui);
    } else if (st == NATS_NOT_FOUND || (st != NATS_OK && jerr == JSStreamNotFoundErr)) {
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        sc.Name = NB_STREAM;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        sc.Retention = js_WorkQueuePolicy;
        sc.MaxAge = (int64_t)24 * 3600 * 1000000000LL;
        sc.Duplicates = (int64_t)NB_DUP_WINDOW_S * 1000000000LL;
        st = js_AddStream(&si, b->js, &sc, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK) {
        snprintf(err, errlen,
                 "cannot create the JetStream stream %s: %s (is JetStream on? "
                 "nats-server -js)",
                 NB_STREAM, nats_GetLastError(NULL));
        return MT_EPROTO;
    }
    /* the single consumer of earlier versions would overlap the per-run ones, which a
     * work-queue stream refuses */
    js_DeleteConsumer(b->js, NB_STREAM, durable, NULL, &jerr);
    return MT_OK;
}

/* ---- nkeys: the public key of a seed file (cnats wants both) ---- */

static uint16_t nk_crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int k = 0; k < 8; k++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

static const char nk_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* An nkey seed file holds one "S..." line (or a .creds-like block with it): the seed's
 * Ed25519 key gives the public key, encoded as nkeys do (type byte, key, CRC16, base32). */
int mt__nkey_public_from_seed_file(const char *path, char pub[64], char *err, size_t errlen)
{
    char text[4096], seed[128] = "";
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "--nats-nkey %s: cannot read it", path);
        return MT_EINVAL;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    for (char *line = strtok(text, "\r\n"); line != NULL; line = strtok(NULL, "\r\n")) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (line[0] == 'S' && strlen(line) == 58) {
            snprintf(seed, sizeof seed, "%s", line);
            break;
        }
    }
    OPENSSL_cleanse(text, sizeof text);
    unsigned char raw[40];
    size_t nraw = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *c = seed; *c != '\0' && nraw < sizeof raw; c++) {
        const char *pos = strchr(nk_b32, *c);
        if (pos == NULL)
            break;
        acc = (acc << 5) | (uint32_t)(pos - nk_b32);
        bits += 5;
        if (bits >= 8) {
            raw[nraw++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    OPENSSL_cleanse(seed, sizeof seed);
    int rc = MT_EINVAL;
    EVP_PKEY *k = NULL;
    if (nraw != 36 || (raw[0] >> 3) != 18 ||
        nk_crc16(raw, 34) != (uint16_t)(raw[34] | raw[35] << 8)) {
        snprintf(err, errlen,
                 "--nats-nkey %s: no valid nkey seed (a line 'SU...' of 58 "
                 "characters)",
                 path);
        goto out;
    }
    unsigned char type = (unsigned char)(((raw[0] & 7) << 5) | (raw[1] >> 3));
    unsigned char pk[35];
    size_t pklen = 32;
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 2, 32);
    if (k == NULL || EVP_PKEY_get_raw_public_key(k, pk + 1, &pklen) != 1 || pklen != 32) {
        snprintf(err, errlen, "--nats-nkey %s: the seed is not an Ed25519 key", path);
        goto out;
    }
    pk[0] = type;
    uint16_t crc = nk_crc16(pk, 33);
    pk[33] = (unsigned char)(crc & 0xff);
    pk[34] = (unsigned char)(crc >> 8);
    size_t o = 0;
    acc = 0;
    bits = 0;
    for (size_t i = 0; i < sizeof pk; i++) {
        acc = (acc << 8) | pk[i];
        bits += 8;
        while (bits >= 5) {
            pub[o++] = nk_b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        pub[o++] = nk_b32[(acc << (5 - bits)) & 31];
    pub[o] = '\0';
    rc = MT_OK;
out:
    OPENSSL_cleanse(raw, sizeof raw);
    EVP_PKEY_free(k);
    return rc;
}

/* ---- lifecycle ---- */

static void nb_close(mt__bus_t *bb)
{
    nbus_t *b = NB(bb);
    pthread_mutex_lock(&b->mu);
    if (b->closing) {
        pthread_mutex_unlock(&b->mu);
        return;
    }
    /* give the outbox a few seconds to reach the stream (an agent's last seconds and end) */
    int64_t until = nb_now_ms() + 5000;
    while (b->ohead != NULL && nb_now_ms() < until)
        nb_timedwait(b, 100);
    b->closing = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->fetch_on)
        pthread_join(b->fetch, NULL);
    b->fetch_on = false;
    natsConnection_FlushTimeout(b->nc, 1000);
    pthread_mutex_lock(&b->mu);
    b->closed = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->pub_on)
        pthread_join(b->pub, NULL);
    b->pub_on = false;
}

static void nb_flush(mt__bus_t *bb)
{
    nbus_t *b = NB(bb);
    if (nb_in_cb)
        return;
    pthread_mutex_lock(&b->mu);
    while (b->ohead != NULL && !b->closed)
        nb_timedwait(b, 100);
    pthread_mutex_unlock(&b->mu);
    natsConnection_FlushTimeout(b->nc, 2000);
}

static size_t nb_pending(mt__bus_t *bb)
{
    nbus_t *b = NB(bb);
    pthread_mutex_lock(&b->mu);
    size_t n = b->on;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static int nb_connected(mt__bus_t *bb)
{
    return natsConnection_Status(NB(bb)->nc) == NATS_CONN_STATUS_CONNECTED;
}

static void nb_free(mt__bus_t *bb)
{
    nbus_t *b = NB(bb);
    nb_close(bb);
    /* the consumers stay: the server that takes the runs over re-creates them, and what this
     * one never acknowledged comes back to it */
    while (b->runs != NULL) {
        nb_run_t *r = b->runs;
        b->runs = r->next;
        natsSubscription_Destroy(r->sub);
        free(r);
    }
    while (b->held != NULL) {
        nb_held_t *h = b->held;
        b->held = h->next;
        natsMsg_Destroy(h->m);
        free(h);
    }
    natsConnection_Close(b->nc);
    /* a callback the library had started before the close finishes before its data goes */
    pthread_mutex_lock(&b->mu);
    while (b->inflight > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    while (b->subs != NULL) {
        nb_sub_t *s = b->subs;
        b->subs = s->next;
        for (int i = 0; i < s->ncore; i++)
            natsSubscription_Destroy(s->core[i]);
        free(s->filter);
        free(s);
    }
    while (b->resps != NULL) {
        nb_resp_t *r = b->resps;
        b->resps = r->next;
        natsSubscription_Destroy(r->sub);
        free(r->subject);
        free(r);
    }
    while (b->ohead != NULL) {
        nb_out_t *o = b->ohead;
        b->ohead = o->next;
        free(o);
    }
    jsCtx_Destroy(b->js);
    natsConnection_Destroy(b->nc);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

static const mt__bus_ops_t nats_ops = {
    .name = "nats",
    .publish = nb_publish,
    .subscribe = nb_subscribe,
    .unsubscribe = nb_unsubscribe,
    .respond = nb_respond,
    .unrespond = nb_unrespond,
    .request = nb_request,
    .ack = nb_ack,
    .watch = nb_watch,
    .unwatch = nb_unwatch,
    .close = nb_close,
    .flush = nb_flush,
    .pending = nb_pending,
    .connected = nb_connected,
    .free = nb_free,
};

static void nb_on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    mt__log(MT_LOG_WARN, "NATS disconnected", NULL);
}

static void nb_on_reconnected(natsConnection *nc, void *closure)
{
    char url[256] = "";
    (void)closure;
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    mt__log(MT_LOG_INFO, "NATS reconnected", "url", url, NULL);
}

static void nb_on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    mt__log(MT_LOG_WARN, "NATS error", "error", natsStatus_GetText(err), NULL);
}

int mt__bus_new_nats(const mt__nats_opts_t *o, mt__bus_t **out, char *err, size_t errlen)
{
    natsOptions *no = NULL;
    nbus_t *b = NULL;
    natsStatus st;
    int rc = MT_EPROTO;
    const char *what = "options";

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (o == NULL || o->url == NULL || o->url[0] == '\0') {
        snprintf(err, errlen, "no NATS URL");
        return MT_EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return MT_ENOMEM;
    b->base.ops = &nats_ops;
    b->omax = o->outbox_max > 0 ? o->outbox_max : 4096;
    b->ack_wait_ms = o->ack_wait_ms > 0 ? o->ack_wait_ms : 10000;
    b->consumer = o->durable != NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);

    if ((st = natsOptions_Create(&no)) != NATS_OK ||
        (st = natsOptions_SetURL(no, o->url)) != NATS_OK ||
        (st = natsOptions_SetName(no, o->name ? o->name : "mortar")) != NATS_OK ||
        (st = natsOptions_SetMaxReconnect(no, -1)) != NATS_OK ||
        (st = natsOptions_SetReconnectWait(no, 250)) != NATS_OK ||
        (st = natsOptions_SetReconnectJitter(no, 50, 250)) != NATS_OK ||
        (st = natsOptions_SetReconnectBufSize(no, 64 << 20)) != NATS_OK ||
        (st = natsOptions_SetTimeout(no, 2000)) != NATS_OK ||
        (st = natsOptions_SetDisconnectedCB(no, nb_on_disconnected, NULL)) != NATS_OK ||
        (st = natsOptions_SetReconnectedCB(no, nb_on_reconnected, NULL)) != NATS_OK ||
        (st = natsOptions_SetErrorHandler(no, nb_on_error, NULL)) != NATS_OK)
        goto fail;
    what = "authentication options";
    if (o->user != NULL && (st = natsOptions_SetUserInfo(no, o->user, o->password)) != NATS_OK)
        goto fail;
    if (o->token != NULL && (st = natsOptions_SetToken(no, o->token)) != NATS_OK)
        goto fail;
    what = "--nats-creds";
    if (o->creds_file != NULL &&
        (st = natsOptions_SetUserCredentialsFromFiles(no, o->creds_file, NULL)) != NATS_OK)
        goto fail;
    what = "--nats-nkey";
    if (o->nkey_file != NULL) {
        char pub[64];
        if (mt__nkey_public_from_seed_file(o->nkey_file, pub, err, errlen) != MT_OK) {
            rc = MT_EINVAL;
            goto out;
        }
        if ((st = natsOptions_SetNKeyFromSeed(no, pub, o->nkey_file)) != NATS_OK)
            goto fail;
    }
    what = "TLS options";
    if (o->ca_file != NULL || o->cert_file != NULL) {
        if ((st = natsOptions_SetSecure(no, true)) != NATS_OK)
            goto fail;
        what = "--nats-ca";
        if (o->ca_file != NULL &&
            (st = natsOptions_LoadCATrustedCertificates(no, o->ca_file)) != NATS_OK)
            goto fail;
        what = "--nats-cert/--nats-key";
        if (o->cert_file != NULL &&
            (st = natsOptions_LoadCertificatesChain(no, o->cert_file, o->key_file)) != NATS_OK)
            goto fail;
    }
    /* agents start before NATS is reachable and keep trying; the server needs it at once */
    if (!b->consumer && (st = natsOptions_SetRetryOnFailedConnect(no, true, NULL, NULL)) != NATS_OK)
        goto fail;
    what = "connect";
    st = natsConnection_Connect(&b->nc, no);
    if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED)
        goto fail;
    what = "JetStream";
    if ((st = natsConnection_JetStream(&b->js, b->nc, NULL)) != NATS_OK)
        goto fail;
    if (b->consumer && (rc = nb_setup_stream(b, o->durable, err, errlen)) != MT_OK)
        goto out;
    if (pthread_create(&b->pub, NULL, nb_pub_main, b) != 0) {
        rc = MT_ESYS;
        snprintf(err, errlen, "cannot start a thread");
        goto out;
    }
    b->pub_on = true;
    if (b->consumer) {
        if (pthread_create(&b->fetch, NULL, nb_fetch_main, b) != 0) {
            rc = MT_ESYS;
            snprintf(err, errlen, "cannot start a thread");
            goto out;
        }
        b->fetch_on = true;
    }
    natsOptions_Destroy(no);
    *out = &b->base;
    return MT_OK;
fail:
    snprintf(err, errlen, "NATS %s (%s): %s", what, o->url, nats_GetLastError(NULL));
    rc = st == NATS_NO_MEMORY ? MT_ENOMEM : st == NATS_INVALID_ARG ? MT_EINVAL : MT_EPROTO;
out:
    natsOptions_Destroy(no);
    nb_free(&b->base);
    return rc;
}
