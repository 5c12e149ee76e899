/* The in-process bus: a FIFO of copied messages and one dispatcher thread that hands each one,
 * in publish order, to every subscription whose prefix matches. Publishers only take the lock
 * to append; subscriber code runs on the dispatcher thread without the lock held, so a
 * callback may publish or subscribe. Design: docs/adr/0012-agents-bus-aggregator.md. */
#include "server/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"

#define BUS_MAX_PENDING       (1u << 20)          /* messages queued at most */
#define BUS_MAX_PENDING_BYTES ((size_t)512 << 20) /* bytes queued at most */
#define BUS_MAX_SUBJECT       1024

typedef struct bus_msg {
    struct bus_msg *next;
    size_t len;
    char *subject; /* points into data[] after the message bytes */
    char data[];   /* msg bytes, then the subject, NUL-terminated */
} bus_msg_t;

typedef struct bus_sub {
    char *prefix;
    size_t plen;
    int pattern; /* prefix is a NATS pattern (has * or >) */
    mt__bus_cb cb;
    void *ud;
} bus_sub_t;

typedef struct bus_resp {
    char *subject;
    mt__bus_reply_cb cb;
    void *ud;
} bus_resp_t;

typedef struct inproc {
    mt__bus_t base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    bool closing; /* no new messages */
    bool stop;    /* dispatcher: exit once the queue is empty */
    bool joined;
    bus_msg_t *head, *tail;
    size_t queued; /* in the queue */
    size_t busy;   /* popped, being delivered */
    uint64_t done; /* deliveries finished */
    size_t bytes;  /* bytes in the queue */
    bus_sub_t *subs;
    size_t nsubs, capsubs;
    bus_msg_t *dead; /* prefixes of removed subscriptions (in ->subject) */
    bus_resp_t *resp;
    size_t nresp;
} inproc_t;

#define IP(b) ((inproc_t *)(b))

int mt__bus_match(const char *filter, const char *subject)
{
    if (strpbrk(filter, "*>") == NULL)
        return strncmp(subject, filter, strlen(filter)) == 0;
    const char *f = filter, *s = subject;
    for (;;) {
        const char *fe = strchr(f, '.'), *se = strchr(s, '.');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f), sl = se ? (size_t)(se - s) : strlen(s);
        if (fl == 1 && f[0] == '>' && fe == NULL)
            return sl > 0;
        if (sl == 0)
            return 0;
        if (!(fl == 1 && f[0] == '*') && (fl != sl || memcmp(f, s, fl) != 0))
            return 0;
        if (fe == NULL || se == NULL)
            return fe == NULL && se == NULL;
        f = fe + 1;
        s = se + 1;
    }
}

static void *bus_main(void *arg)
{
    inproc_t *b = arg;
    bus_sub_t *local = NULL;
    size_t cap = 0;

    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->head == NULL && !b->stop)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->head == NULL)
            break;
        bus_msg_t *m = b->head;
        b->head = m->next;
        if (b->head == NULL)
            b->tail = NULL;
        b->queued--;
        b->bytes -= m->len;
        b->busy = 1;
        /* a private copy of the subscription list: callbacks may subscribe meanwhile */
        size_t n = b->nsubs;
        if (n > cap) {
            bus_sub_t *nl = realloc(local, n * sizeof(*nl));
            if (nl != NULL) {
                local = nl;
                cap = n;
            } else {
                n = cap; /* deliver to those we can; out of memory here is near-impossible */
            }
        }
        if (n > 0)
            memcpy(local, b->subs, n * sizeof(*local));
        pthread_mutex_unlock(&b->mu);

        for (size_t i = 0; i < n; i++)
            if (local[i].pattern ? mt__bus_match(local[i].prefix, m->subject)
                                 : strncmp(m->subject, local[i].prefix, local[i].plen) == 0)
                local[i].cb(m->subject, m->data, m->len, local[i].ud);
        free(m);

        pthread_mutex_lock(&b->mu);
        b->busy = 0;
        b->done++;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    free(local);
    return NULL;
}

static const mt__bus_ops_t inproc_ops;

int mt__bus_new_inproc(mt__bus_t **out)
{
    inproc_t *b = calloc(1, sizeof(*b));
    *out = NULL;
    if (b == NULL)
        return MT_ENOMEM;
    b->base.ops = &inproc_ops;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, bus_main, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b);
        return MT_ESYS;
    }
    b->started = true;
    *out = &b->base;
    return MT_OK;
}

static int ip_publish(mt__bus_t *bb, const char *subject, const char *msg_id, const void *msg,
                      size_t len)
{
    inproc_t *b = IP(bb);
    size_t slen;
    (void)msg_id;
    bus_msg_t *m;

    if (b == NULL || subject == NULL || (msg == NULL && len > 0))
        return MT_EINVAL;
    slen = strnlen(subject, BUS_MAX_SUBJECT + 1);
    if (slen > BUS_MAX_SUBJECT || len > BUS_MAX_PENDING_BYTES)
        return MT_EINVAL;
    m = malloc(sizeof(*m) + len + slen + 1);
    if (m == NULL)
        return MT_ENOMEM;
    m->next = NULL;
    m->len = len;
    if (len > 0)
        memcpy(m->data, msg, len);
    m->subject = m->data + len;
    memcpy(m->subject, subject, slen + 1);

    pthread_mutex_lock(&b->mu);
    if (b->closing) {
        pthread_mutex_unlock(&b->mu);
        free(m);
        return MT_EINVAL;
    }
    if (b->queued >= BUS_MAX_PENDING || b->bytes + len > BUS_MAX_PENDING_BYTES) {
        pthread_mutex_unlock(&b->mu);
        free(m);
        return MT_ENOMEM; /* the queue is full: the consumer is far behind */
    }
    if (b->tail != NULL)
        b->tail->next = m;
    else
        b->head = m;
    b->tail = m;
    b->queued++;
    b->bytes += len;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return MT_OK;
}

static int ip_subscribe(mt__bus_t *bb, const char *prefix, mt__bus_cb cb, void *ud)
{
    inproc_t *b = IP(bb);
    int rc = MT_OK;
    char *p;

    if (b == NULL || prefix == NULL || cb == NULL)
        return MT_EINVAL;
    p = strdup(prefix);
    if (p == NULL)
        return MT_ENOMEM;
    pthread_mutex_lock(&b->mu);
    if (b->nsubs == b->capsubs) {
        size_t nc = b->capsubs ? b->capsubs * 2 : 8;
        bus_sub_t *ns = realloc(b->subs, nc * sizeof(*ns));
        if (ns == NULL) {
            rc = MT_ENOMEM;
            goto out;
        }
        b->subs = ns;
        b->capsubs = nc;
    }
    b->subs[b->nsubs++] = (bus_sub_t){
        .prefix = p, .plen = strlen(p), .pattern = strpbrk(p, "*>") != NULL, .cb = cb, .ud = ud};
    p = NULL;
out:
    pthread_mutex_unlock(&b->mu);
    free(p);
    return rc;
}

static void ip_unsubscribe(mt__bus_t *bb, mt__bus_cb cb, void *ud)
{
    inproc_t *b = IP(bb);
    uint64_t done;
    size_t k = 0;

    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->nsubs; i++) {
        if (b->subs[i].cb == cb && b->subs[i].ud == ud) {
            /* the dispatcher's copy of the list may still point at the prefix: it is freed
             * with the bus (unsubscribing is rare) */
            bus_msg_t *dead = malloc(sizeof(*dead));
            if (dead != NULL) {
                dead->subject = b->subs[i].prefix;
                dead->next = b->dead;
                b->dead = dead;
            } /* else: leak the few bytes rather than risk a use after free */
        } else {
            b->subs[k++] = b->subs[i];
        }
    }
    b->nsubs = k;
    /* a delivery in progress may still be calling cb: wait for it to finish */
    done = b->done;
    if (!pthread_equal(pthread_self(), b->thread))
        while (b->busy && b->done == done)
            pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void ip_close(mt__bus_t *bb)
{
    inproc_t *b = IP(bb);
    bool join;

    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    b->closing = true;
    b->stop = true;
    pthread_cond_broadcast(&b->cv);
    /* called from a callback (the dispatcher itself): it drains and exits on its own */
    join = b->started && !b->joined && !pthread_equal(pthread_self(), b->thread);
    if (join)
        b->joined = true;
    pthread_mutex_unlock(&b->mu);
    if (join)
        pthread_join(b->thread, NULL);
}

static void ip_flush(mt__bus_t *bb)
{
    inproc_t *b = IP(bb);
    if (pthread_equal(pthread_self(), b->thread))
        return;
    pthread_mutex_lock(&b->mu);
    while ((b->head != NULL || b->busy) && !(b->stop && b->joined))
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static size_t ip_pending(mt__bus_t *bb)
{
    inproc_t *b = IP(bb);
    size_t n;
    pthread_mutex_lock(&b->mu);
    n = b->queued + b->busy;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static void ip_free(mt__bus_t *bb)
{
    inproc_t *b = IP(bb);
    ip_close(bb);
    if (!b->joined) /* closed from a callback earlier: the thread has exited or is exiting */
        pthread_join(b->thread, NULL);
    for (size_t i = 0; i < b->nsubs; i++)
        free(b->subs[i].prefix);
    free(b->subs);
    while (b->dead != NULL) {
        bus_msg_t *d = b->dead;
        b->dead = d->next;
        free(d->subject);
        free(d);
    }
    for (size_t i = 0; i < b->nresp; i++)
        free(b->resp[i].subject);
    free(b->resp);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

static int ip_respond(mt__bus_t *bb, const char *subject, mt__bus_reply_cb cb, void *ud)
{
    inproc_t *b = IP(bb);
    int rc = MT_OK;
    pthread_mutex_lock(&b->mu);
    bus_resp_t *nr = realloc(b->resp, (b->nresp + 1) * sizeof(*nr));
    char *s = strdup(subject);
    if (nr != NULL)
        b->resp = nr;
    if (nr == NULL || s == NULL) {
        free(s);
        rc = MT_ENOMEM;
    } else {
        b->resp[b->nresp++] = (bus_resp_t){s, cb, ud};
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void ip_unrespond(mt__bus_t *bb, const char *subject)
{
    inproc_t *b = IP(bb);
    pthread_mutex_lock(&b->mu);
    size_t k = 0;
    for (size_t i = 0; i < b->nresp; i++) {
        if (strcmp(b->resp[i].subject, subject) == 0)
            free(b->resp[i].subject);
        else
            b->resp[k++] = b->resp[i];
    }
    b->nresp = k;
    pthread_mutex_unlock(&b->mu);
}

/* In process a request runs its responder on the caller's thread. */
static int ip_request(mt__bus_t *bb, const char *subject, const void *msg, size_t len,
                      int timeout_ms, char **reply, size_t *rlen)
{
    inproc_t *b = IP(bb);
    bus_resp_t r = {0};
    (void)timeout_ms;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->nresp; i++)
        if (strcmp(b->resp[i].subject, subject) == 0)
            r = b->resp[i];
    pthread_mutex_unlock(&b->mu);
    if (r.cb == NULL)
        return MT_ENOTFOUND;
    char *out = NULL;
    size_t n = 0;
    if (r.cb(subject, msg, len, &out, &n, r.ud) != 0 || out == NULL) {
        free(out);
        return MT_ENOTFOUND;
    }
    char *z = realloc(out, n + 1);
    if (z == NULL) {
        free(out);
        return MT_ENOMEM;
    }
    z[n] = '\0';
    *reply = z;
    if (rlen != NULL)
        *rlen = n;
    return MT_OK;
}

static void ip_ack(mt__bus_t *b, const char *run_id, uint32_t upto)
{
    (void)b;
    (void)run_id;
    (void)upto;
}

static int ip_connected(mt__bus_t *b)
{
    (void)b;
    return 1;
}

static const mt__bus_ops_t inproc_ops = {
    .name = "inproc",
    .publish = ip_publish,
    .subscribe = ip_subscribe,
    .unsubscribe = ip_unsubscribe,
    .respond = ip_respond,
    .unrespond = ip_unrespond,
    .request = ip_request,
    .ack = ip_ack,
    .close = ip_close,
    .flush = ip_flush,
    .pending = ip_pending,
    .connected = ip_connected,
    .free = ip_free,
};

/* ---- the interface: dispatch through the ops table ---- */

int mt__bus_publish(mt__bus_t *b, const char *subject, const void *msg, size_t len)
{
    return b == NULL ? MT_EINVAL : b->ops->publish(b, subject, NULL, msg, len);
}

int mt__bus_publish_id(mt__bus_t *b, const char *subject, const char *msg_id, const void *msg,
                       size_t len)
{
    return b == NULL ? MT_EINVAL : b->ops->publish(b, subject, msg_id, msg, len);
}

int mt__bus_subscribe(mt__bus_t *b, const char *filter, mt__bus_cb cb, void *ud)
{
    return b == NULL || filter == NULL || cb == NULL ? MT_EINVAL
                                                     : b->ops->subscribe(b, filter, cb, ud);
}

void mt__bus_unsubscribe(mt__bus_t *b, mt__bus_cb cb, void *ud)
{
    if (b != NULL)
        b->ops->unsubscribe(b, cb, ud);
}

int mt__bus_respond(mt__bus_t *b, const char *subject, mt__bus_reply_cb cb, void *ud)
{
    return b == NULL || subject == NULL || cb == NULL ? MT_EINVAL
                                                      : b->ops->respond(b, subject, cb, ud);
}

void mt__bus_unrespond(mt__bus_t *b, const char *subject)
{
    if (b != NULL && subject != NULL)
        b->ops->unrespond(b, subject);
}

int mt__bus_request(mt__bus_t *b, const char *subject, const void *msg, size_t len, int timeout_ms,
                    char **reply, size_t *rlen)
{
    *reply = NULL;
    return b == NULL || subject == NULL
               ? MT_EINVAL
               : b->ops->request(b, subject, msg, len, timeout_ms, reply, rlen);
}

void mt__bus_ack(mt__bus_t *b, const char *run_id, uint32_t upto)
{
    if (b != NULL && run_id != NULL)
        b->ops->ack(b, run_id, upto);
}

int mt__bus_watch(mt__bus_t *b, const char *run_id)
{
    return b != NULL && run_id != NULL && b->ops->watch != NULL ? b->ops->watch(b, run_id) : MT_OK;
}

void mt__bus_unwatch(mt__bus_t *b, const char *run_id, int purge)
{
    if (b != NULL && run_id != NULL && b->ops->unwatch != NULL)
        b->ops->unwatch(b, run_id, purge);
}

void mt__bus_close(mt__bus_t *b)
{
    if (b != NULL)
        b->ops->close(b);
}

void mt__bus_flush(mt__bus_t *b)
{
    if (b != NULL)
        b->ops->flush(b);
}

size_t mt__bus_pending(mt__bus_t *b)
{
    return b == NULL ? 0 : b->ops->pending(b);
}

int mt__bus_connected(mt__bus_t *b)
{
    return b != NULL && b->ops->connected(b);
}

void mt__bus_free(mt__bus_t *b)
{
    if (b != NULL)
        b->ops->free(b);
}
