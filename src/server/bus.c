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
    mt_bus_cb cb;
    void *ud;
} bus_sub_t;

struct mt_bus {
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
};

static void *bus_main(void *arg)
{
    mt_bus_t *b = arg;
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
            if (strncmp(m->subject, local[i].prefix, local[i].plen) == 0)
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

int mt_bus_new_inproc(mt_bus_t **out)
{
    mt_bus_t *b = calloc(1, sizeof(*b));
    *out = NULL;
    if (b == NULL)
        return MT_ENOMEM;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, bus_main, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b);
        return MT_ESYS;
    }
    b->started = true;
    *out = b;
    return MT_OK;
}

int mt_bus_publish(mt_bus_t *b, const char *subject, const void *msg, size_t len)
{
    size_t slen;
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

int mt_bus_subscribe(mt_bus_t *b, const char *prefix, mt_bus_cb cb, void *ud)
{
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
    b->subs[b->nsubs++] = (bus_sub_t){.prefix = p, .plen = strlen(p), .cb = cb, .ud = ud};
    p = NULL;
out:
    pthread_mutex_unlock(&b->mu);
    free(p);
    return rc;
}

void mt_bus_unsubscribe(mt_bus_t *b, mt_bus_cb cb, void *ud)
{
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

void mt_bus_close(mt_bus_t *b)
{
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

void mt_bus_flush(mt_bus_t *b)
{
    if (b == NULL || pthread_equal(pthread_self(), b->thread))
        return;
    pthread_mutex_lock(&b->mu);
    while ((b->head != NULL || b->busy) && !(b->stop && b->joined))
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

size_t mt_bus_pending(mt_bus_t *b)
{
    size_t n;
    if (b == NULL)
        return 0;
    pthread_mutex_lock(&b->mu);
    n = b->queued + b->busy;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void mt_bus_free(mt_bus_t *b)
{
    if (b == NULL)
        return;
    mt_bus_close(b);
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
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}
