/* Live streams (serve.h): the SSE listeners of runs. Each listener has its own byte queue of
 * ready-to-send events; pushes (from the aggregator's sink and state changes) append to every
 * listener of the run; the connection's thread (libmicrohttpd thread per connection) waits
 * on it. A listener that does not read falls behind up to LV_MAX bytes, then is ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/error.h"
#include "server/serve.h"

#define LV_MAX ((size_t)64 << 20)

struct mt__listener {
    mt__listener_t *next;
    char run_id[40];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t len, off, cap;
    int64_t next_second; /* seconds below are already queued */
    int final;           /* the final state is queued: end once drained */
    char state[16];      /* the state last queued */
    int dead;            /* ended (shutdown or overflow) */
};

struct mt__sse {
    pthread_mutex_t mu;
    mt__listener_t *head;
    int shutdown;
};

int mt__sse_new(mt__sse_t **out)
{
    mt__sse_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return MT_ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    *out = h;
    return MT_OK;
}

void mt__sse_free(mt__sse_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void mt__sse_shutdown(mt__sse_t *h)
{
    pthread_mutex_lock(&h->mu);
    h->shutdown = 1;
    for (mt__listener_t *l = h->head; l; l = l->next) {
        pthread_mutex_lock(&l->mu);
        l->dead = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&h->mu);
}

mt__listener_t *mt__sse_listen(mt__sse_t *h, const char *run_id)
{
    mt__listener_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    snprintf(l->run_id, sizeof l->run_id, "%s", run_id);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&h->mu);
    l->dead = h->shutdown;
    l->next = h->head;
    h->head = l;
    pthread_mutex_unlock(&h->mu);
    return l;
}

void mt__listener_free(mt__sse_t *h, mt__listener_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    for (mt__listener_t **p = &h->head; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->buf);
    free(l);
}

/* Appends an event (listener locked). */
static void lv_append(mt__listener_t *l, const char *id, const char *event, const char *data)
{
    if (l->dead)
        return;
    size_t need = strlen(data) + strlen(event) + (id ? strlen(id) : 0) + 32;
    if (l->off > 0 && l->off == l->len)
        l->off = l->len = 0;
    if (l->len + need > l->cap) {
        if (l->off > 0) {
            memmove(l->buf, l->buf + l->off, l->len - l->off);
            l->len -= l->off;
            l->off = 0;
        }
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + need)
            cap *= 2;
        char *nb = cap <= LV_MAX ? realloc(l->buf, cap) : NULL;
        if (nb == NULL) {
            l->dead = 1; /* too far behind: end the stream, the client reconnects */
            pthread_cond_broadcast(&l->cv);
            return;
        }
        l->buf = nb;
        l->cap = cap;
    }
    int n = id ? snprintf(l->buf + l->len, l->cap - l->len, "id: %s\nevent: %s\ndata: %s\n\n", id,
                          event, data)
               : snprintf(l->buf + l->len, l->cap - l->len, "event: %s\ndata: %s\n\n", event, data);
    if (n > 0)
        l->len += (size_t)n;
    pthread_cond_broadcast(&l->cv);
}

static void lv_second(mt__listener_t *l, uint32_t second, const char *data_json)
{
    if ((int64_t)second < l->next_second || l->final)
        return;
    char id[16];
    snprintf(id, sizeof id, "%u", second);
    lv_append(l, id, "second", data_json);
    l->next_second = (int64_t)second + 1;
}

static int lv_is_final(const json_t *run)
{
    const char *s = json_string_value(json_object_get(run, "state"));
    return s && strcmp(s, "queued") != 0 && strcmp(s, "running") != 0;
}

static void lv_state(mt__listener_t *l, const json_t *run)
{
    if (l->final)
        return;
    char *text = json_dumps(run, JSON_COMPACT);
    if (text)
        lv_append(l, NULL, "state", text);
    const char *st = json_string_value(json_object_get(run, "state"));
    snprintf(l->state, sizeof l->state, "%s", st ? st : "");
    free(text);
    if (lv_is_final(run)) {
        l->final = 1;
        pthread_cond_broadcast(&l->cv);
    }
}

void mt__listener_prime(mt__listener_t *l, mt__store_t *s, const char *run_id, int64_t from,
                        int64_t window)
{
    pthread_mutex_lock(&l->mu);
    json_t *run = NULL;
    if (s->ops->run_get(s, run_id, &run) != MT_OK)
        run = NULL;
    /* only the last `window` stored seconds ("seconds" counts them; ids start at 0): a
     * day-long run's stream does not begin with its whole history (that is /series) */
    json_int_t stored = json_integer_value(json_object_get(run, "seconds"));
    if (window > 0 && stored - window > from)
        from = stored - window;
    l->next_second = from;
    mt__store_rows_t rows;
    if (s->ops->run_rows(s, run_id, "", from, (int64_t)UINT32_MAX, &rows) == MT_OK) {
        for (size_t i = 0; i < rows.n; i++)
            lv_second(l, rows.second[i], rows.rows[i].data_json);
        mt__store_rows_dispose(&rows);
    }
    if (run)
        lv_state(l, run);
    json_decref(run);
    pthread_mutex_unlock(&l->mu);
}

long mt__listener_read(mt__listener_t *l, char *buf, size_t max, int timeout_ms)
{
    pthread_mutex_lock(&l->mu);
    if (l->off == l->len && !l->dead && !l->final) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (l->off == l->len && !l->dead && !l->final)
            if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
                break;
    }
    long n;
    if (l->dead && l->off == l->len)
        n = -1;
    else if (l->off < l->len) {
        size_t k = l->len - l->off < max ? l->len - l->off : max;
        memcpy(buf, l->buf + l->off, k);
        l->off += k;
        n = (long)k;
    } else {
        n = l->final ? -1 : 0;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

void mt__sse_second(mt__sse_t *h, const char *run_id, uint32_t second, const char *data_json)
{
    pthread_mutex_lock(&h->mu);
    for (mt__listener_t *l = h->head; l; l = l->next) {
        if (strcmp(l->run_id, run_id) != 0)
            continue;
        pthread_mutex_lock(&l->mu);
        lv_second(l, second, data_json);
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&h->mu);
}

void mt__sse_state(mt__sse_t *h, const char *run_id, const json_t *run)
{
    pthread_mutex_lock(&h->mu);
    for (mt__listener_t *l = h->head; l; l = l->next) {
        if (strcmp(l->run_id, run_id) != 0)
            continue;
        pthread_mutex_lock(&l->mu);
        lv_state(l, run);
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&h->mu);
}

/* One run followed: its listeners' first missing second and last state (mt__sse_follow). */
typedef struct lv_follow {
    char run_id[40];
    int64_t from;
    char state[16];
} lv_follow_t;

void mt__sse_follow(mt__sse_t *h, mt__store_t *s)
{
    lv_follow_t *f = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&h->mu);
    for (mt__listener_t *l = h->head; l; l = l->next) {
        pthread_mutex_lock(&l->mu);
        int skip = l->final || l->dead || l->state[0] == '\0'; /* "": not primed yet */
        int64_t from = l->next_second;
        char state[16];
        snprintf(state, sizeof state, "%s", l->state);
        pthread_mutex_unlock(&l->mu);
        if (skip)
            continue;
        size_t i = 0;
        while (i < n && strcmp(f[i].run_id, l->run_id) != 0)
            i++;
        if (i < n) {
            if (from < f[i].from)
                f[i].from = from;
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            lv_follow_t *nf = realloc(f, nc * sizeof *nf);
            if (nf == NULL)
                break;
            f = nf;
            cap = nc;
        }
        snprintf(f[n].run_id, sizeof f[n].run_id, "%s", l->run_id);
        f[n].from = from;
        snprintf(f[n].state, sizeof f[n].state, "%s", state);
        n++;
    }
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        mt__store_rows_t rows;
        if (s->ops->run_rows(s, f[i].run_id, "", f[i].from, (int64_t)UINT32_MAX, &rows) == MT_OK) {
            for (size_t k = 0; k < rows.n; k++)
                mt__sse_second(h, f[i].run_id, rows.second[k], rows.rows[k].data_json);
            mt__store_rows_dispose(&rows);
        }
        json_t *run = NULL;
        if (s->ops->run_get(s, f[i].run_id, &run) != MT_OK)
            continue;
        const char *st = json_string_value(json_object_get(run, "state"));
        if (st != NULL && strcmp(st, f[i].state) != 0) {
            /* only the listeners that have not seen this state yet */
            pthread_mutex_lock(&h->mu);
            for (mt__listener_t *l = h->head; l; l = l->next) {
                if (strcmp(l->run_id, f[i].run_id) != 0)
                    continue;
                pthread_mutex_lock(&l->mu);
                if (strcmp(l->state, st) != 0)
                    lv_state(l, run);
                pthread_mutex_unlock(&l->mu);
            }
            pthread_mutex_unlock(&h->mu);
        }
        json_decref(run);
    }
    free(f);
}
