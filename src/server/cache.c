/* LRU cache of immutable responses (cache.h): a doubly linked list in use order; lookups walk
 * it (a few hundred entries at most: finished runs' reads), which costs far less than
 * rebuilding a response. */
#include "server/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"

typedef struct ent {
    struct ent *prev, *next;
    char *key;
    char *body;
    size_t len;
} ent_t;

struct mt__cache {
    pthread_mutex_t mu;
    ent_t *head, *tail; /* head: most recently used */
    size_t bytes, max;
};

int mt__cache_new(size_t max_bytes, mt__cache_t **out)
{
    mt__cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return MT_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->max = max_bytes;
    *out = c;
    return MT_OK;
}

static void cache_unlink(mt__cache_t *c, ent_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void cache_push_front(mt__cache_t *c, ent_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void cache_drop(mt__cache_t *c, ent_t *e)
{
    cache_unlink(c, e);
    c->bytes -= e->len + strlen(e->key);
    free(e->key);
    free(e->body);
    free(e);
}

void mt__cache_free(mt__cache_t *c)
{
    if (!c)
        return;
    while (c->head)
        cache_drop(c, c->head);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static ent_t *cache_find(mt__cache_t *c, const char *key)
{
    for (ent_t *e = c->head; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

int mt__cache_get(mt__cache_t *c, const char *key, char **body, size_t *len)
{
    int rc = MT_ENOTFOUND;
    pthread_mutex_lock(&c->mu);
    ent_t *e = cache_find(c, key);
    if (e && (*body = malloc(e->len + 1)) != NULL) {
        memcpy(*body, e->body, e->len);
        (*body)[e->len] = '\0';
        *len = e->len;
        cache_unlink(c, e);
        cache_push_front(c, e);
        rc = MT_OK;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void mt__cache_put(mt__cache_t *c, const char *key, const char *body, size_t len)
{
    if (len > c->max / 8)
        return;
    ent_t *n = calloc(1, sizeof *n);
    if (!n || !(n->key = strdup(key)) || !(n->body = malloc(len ? len : 1))) {
        if (n)
            free(n->key);
        free(n);
        return;
    }
    memcpy(n->body, body, len);
    n->len = len;
    pthread_mutex_lock(&c->mu);
    ent_t *old = cache_find(c, key);
    if (old)
        cache_drop(c, old);
    cache_push_front(c, n);
    c->bytes += len + strlen(key);
    while (c->bytes > c->max && c->tail && c->tail != n)
        cache_drop(c, c->tail);
    pthread_mutex_unlock(&c->mu);
}
