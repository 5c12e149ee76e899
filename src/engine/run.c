/* A run: validation, threads, and the aggregator that merges the workers' per-second
 * slots exactly (counters summed, histograms added) in the calling thread. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "engine/internal.h"

#define MAX_QUEUE_DEFAULT_MIN 10000ULL
#define MAX_QUEUE_LIMIT       10000000ULL

const char *mt_err_kind_name(int kind)
{
    static const char *const names[] = {
#define XX(n, s) s,
        MT_ERR_KIND_MAP(XX)
#undef XX
    };
    return kind >= 0 && kind < MT_ERR__COUNT ? names[kind] : "unknown";
}

int mt_err_kind_errno(int kind)
{
    switch (kind) {
    case MT_ERR_REFUSED:
        return ECONNREFUSED;
    case MT_ERR_RESET:
        return ECONNRESET;
    case MT_ERR_TIMEOUT:
        return ETIMEDOUT;
    case MT_ERR_DNS:
        return EHOSTUNREACH;
    case MT_ERR_PROTOCOL:
        return EPROTO;
    case MT_ERR_CLOSED:
        return ECONNABORTED;
    case MT_ERR_TLS:
        return EKEYREJECTED;
    default:
        return EIO;
    }
}

int mt_run_default_threads(int connections)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > MT_RUN_MAX_THREADS)
        ncpu = MT_RUN_MAX_THREADS;
    if (connections >= 1 && connections < ncpu)
        ncpu = connections;
    return (int)ncpu;
}

void mt_counters_add(mt_counters_t *dst, const mt_counters_t *src)
{
#define MT__CTR_SUM(f) dst->f += src->f
#define MT__CTR_MAX(f)                                                                             \
    if (src->f > dst->f)                                                                           \
    dst->f = src->f
#define XX(field, merge, presence, summary, second, value, web, label) MT__CTR_##merge(field);
    MT_COUNTER_MAP(XX)
#undef XX
#undef MT__CTR_SUM
#undef MT__CTR_MAX
    for (int i = 0; i < MT_ERR__COUNT; i++)
        dst->err[i] += src->err[i];
    for (int i = 0; i < MT_STATUS_MAX; i++)
        dst->status[i] += src->status[i];
}

/* ---- slots ---------------------------------------------------------------------------- */

int mt__tagslots_new(size_t n, mt__tagslot_t **out)
{
    *out = NULL;
    if (!n)
        return MT_OK;
    mt__tagslot_t *t = calloc(n, sizeof *t);
    if (!t)
        return MT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (mt_hist_new_latency(&t[i].latency) || mt_hist_new_latency(&t[i].service)) {
            mt__tagslots_free(t, n);
            return MT_ENOMEM;
        }
    }
    *out = t;
    return MT_OK;
}

void mt__tagslots_free(mt__tagslot_t *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++) {
        mt_hist_free(t[i].latency);
        mt_hist_free(t[i].service);
    }
    free(t);
}

static void tagslots_reset(mt__tagslot_t *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        memset(&t[i].c, 0, sizeof t[i].c);
        mt_hist_reset(t[i].latency);
        mt_hist_reset(t[i].service);
    }
}

static void tagslots_add(mt__tagslot_t *dst, const mt__tagslot_t *src, size_t n)
{
    for (size_t i = 0; dst && src && i < n; i++) {
        mt_counters_add(&dst[i].c, &src[i].c);
        mt_hist_add(dst[i].latency, src[i].latency);
        mt_hist_add(dst[i].service, src[i].service);
    }
}

static void slot_free(mt__slot_t *s, size_t ntags)
{
    if (!s)
        return;
    mt_hist_free(s->latency);
    mt_hist_free(s->service);
    mt__tagslots_free(s->tags, ntags);
    free(s);
}

mt__slot_t *mt__slot_get(mt_run_t *r)
{
    pthread_mutex_lock(&r->mu);
    mt__slot_t *s = r->pool;
    if (s)
        r->pool = s->next;
    pthread_mutex_unlock(&r->mu);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        if (mt_hist_new_latency(&s->latency) || mt_hist_new_latency(&s->service) ||
            mt__tagslots_new(r->cfg.ntags, &s->tags)) {
            slot_free(s, r->cfg.ntags);
            return NULL;
        }
    } else {
        mt_hist_t *lat = s->latency, *svc = s->service;
        mt__tagslot_t *tags = s->tags;
        memset(s, 0, sizeof *s);
        s->latency = lat;
        s->service = svc;
        s->tags = tags;
        mt_hist_reset(lat);
        mt_hist_reset(svc);
        tagslots_reset(tags, r->cfg.ntags);
    }
    return s;
}

void mt__slot_put(mt_run_t *r, mt__slot_t *s)
{
    pthread_mutex_lock(&r->mu);
    s->next = r->pool;
    r->pool = s;
    pthread_mutex_unlock(&r->mu);
}

void mt__slot_publish(mt_run_t *r, int worker, mt__slot_t *s)
{
    s->next = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->ready_tail[worker])
        r->ready_tail[worker]->next = s;
    else
        r->ready_head[worker] = s;
    r->ready_tail[worker] = s;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- API ------------------------------------------------------------------------------ */

static uint64_t default_max_queue(const mt_run_config_t *cfg)
{
    double peak = 0;
    for (size_t i = 0; i < cfg->schedule->nsteps; i++) {
        const mt_sched_step_t *st = &cfg->schedule->steps[i];
        if (st->a > peak)
            peak = st->a;
        if (st->b > peak)
            peak = st->b;
    }
    double q = peak * 10;
    if (q < 10.0 * cfg->connections)
        q = 10.0 * cfg->connections;
    if (q < (double)MAX_QUEUE_DEFAULT_MIN)
        q = (double)MAX_QUEUE_DEFAULT_MIN;
    if (q > (double)MAX_QUEUE_LIMIT)
        q = (double)MAX_QUEUE_LIMIT;
    return (uint64_t)q;
}

int mt_run_new(const mt_run_config_t *cfg, mt_run_t **out)
{
    *out = NULL;
    if (!cfg || !cfg->host || !cfg->port)
        return MT_EINVAL;
    if (cfg->nrequests == 0 && (!cfg->request || cfg->request_len == 0) && !cfg->script)
        return MT_EINVAL;
    if (cfg->script && (cfg->nrequests || !cfg->script->request))
        return MT_EINVAL;
    if (cfg->nrequests > UINT32_MAX || (cfg->nrequests && !cfg->requests))
        return MT_EINVAL;
    for (size_t i = 0; i < cfg->nrequests; i++) {
        const mt_request_t *q = &cfg->requests[i];
        if (!q->data || q->len == 0 || q->len > UINT32_MAX ||
            (cfg->ntags ? q->tag >= cfg->ntags : q->tag != 0))
            return MT_EINVAL;
    }
    if (cfg->ntags > MT_MAX_TAGS || (cfg->ntags && !cfg->tags) ||
        (cfg->order != MT_ORDER_SEQUENTIAL && cfg->order != MT_ORDER_RANDOM))
        return MT_EINVAL;
    if (cfg->request_len > UINT32_MAX || cfg->threads < 1 || cfg->connections < 1 ||
        cfg->threads > cfg->connections || cfg->timeout_ns < 0 || cfg->duration_ns < 0)
        return MT_EINVAL;
    if (!cfg->schedule && cfg->duration_ns == 0)
        return MT_EINVAL;
    if (cfg->max_queue > MAX_QUEUE_LIMIT || cfg->start_unix_ns < 0)
        return MT_EINVAL;
    if (cfg->trace && (cfg->script || !(cfg->trace_ratio >= 0 && cfg->trace_ratio <= 1)))
        return MT_EINVAL;
    if (cfg->stripe) {
        const mt_stripe_t *st = cfg->stripe;
        if (st->period < 1 || st->nresidues < 1 || st->nresidues > st->period || !st->residues)
            return MT_EINVAL;
        for (uint32_t i = 0; i < st->nresidues; i++)
            if (st->residues[i] >= st->period || (i > 0 && st->residues[i] <= st->residues[i - 1]))
                return MT_EINVAL;
    }
    mt_run_t *r = calloc(1, sizeof *r);
    if (!r)
        return MT_ENOMEM;
    r->cfg = *cfg;
    if (cfg->nrequests == 0) {
        r->one = (mt_request_t){
            .data = cfg->request, .len = cfg->request_len, .parse_flags = cfg->parse_flags};
        r->cfg.requests = &r->one;
        r->cfg.nrequests = 1;
    }
    if (cfg->schedule && cfg->duration_ns == 0)
        r->cfg.duration_ns = cfg->schedule->total_ns;
    if (cfg->schedule && cfg->max_queue == 0)
        r->cfg.max_queue = default_max_queue(cfg);
    r->stop_fd = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->stop_fd < 0) {
        mt_run_free(r);
        return MT_ESYS;
    }
    *out = r;
    return MT_OK;
}

void mt_run_stop(mt_run_t *r)
{
    int saved = errno;
    atomic_store(&r->stopping, 1);
    uint64_t one = 1;
    ssize_t n = write(r->stop_fd, &one, sizeof one);
    (void)n;
    errno = saved;
}

static int64_t wall_ns(void)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    return (int64_t)wall.tv_sec * MT__NS_PER_S + wall.tv_nsec;
}

/* Waits for the monotonic instant t (or a stop request). */
/* Sleeps until monotonic time t, or until a stop. ppoll (which a stop wakes) takes the wait
 * until 2 ms before t: the kernel adds 0.1 % of a poll timeout as slack (0.5 ms on a 500 ms
 * wait); the last 2 ms are one absolute clock_nanosleep with a 1 ns timer slack, so the start
 * instant is met within the scheduler's wake-up latency (the start skew of a distributed run). */
static void wait_until(mt_run_t *r, int64_t t)
{
    const int64_t fine = 2 * MT__NS_PER_S / 1000;
    for (;;) {
        int64_t left = t - mt__now();
        if (left <= fine || atomic_load(&r->stopping))
            break;
        left -= fine;
        struct pollfd p = {.fd = r->stop_fd, .events = POLLIN};
        struct timespec ts = {.tv_sec = left / MT__NS_PER_S, .tv_nsec = left % MT__NS_PER_S};
        ppoll(&p, 1, &ts, NULL);
    }
    if (atomic_load(&r->stopping) || t - mt__now() <= 0)
        return;
    int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct timespec at = {.tv_sec = t / MT__NS_PER_S, .tv_nsec = t % MT__NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
        ;
    if (slack > 0)
        prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
}

static void resolve(mt_run_t *r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(r->cfg.host, r->cfg.port, &hints, &res) != 0 || !res)
        return; /* every connect will count a "dns" error */
    for (struct addrinfo *ai = res; r->cfg.addr_check && ai; ai = ai->ai_next)
        if (r->cfg.addr_check(ai->ai_addr, (unsigned)ai->ai_addrlen, r->cfg.addr_check_ud) != 0) {
            r->refused = 1;
            freeaddrinfo(res);
            return;
        }
    memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
    r->addrlen = res->ai_addrlen;
    r->have_addr = 1;
    freeaddrinfo(res);
}

/* Deliver the request records the workers have produced so far (exec thread only). */
static void drain_records(mt_run_t *r)
{
    if (!r->cfg.on_records)
        return;
    for (int i = 0; i < r->nworkers; i++) {
        mt__worker_t *w = &r->workers[i];
        if (!w->ring)
            continue;
        uint64_t head = atomic_load_explicit(&w->rhead, memory_order_relaxed);
        uint64_t tail = atomic_load_explicit(&w->rtail, memory_order_acquire);
        while (head < tail) {
            uint64_t at = head % MT__RING, n = tail - head;
            if (n > MT__RING - at)
                n = MT__RING - at;
            r->cfg.on_records(&w->ring[at], (size_t)n, r->cfg.records_ud);
            head += n;
        }
        atomic_store_explicit(&w->rhead, head, memory_order_release);
    }
}

/* The grace after the duration: tells on_finishing how many requests are still awaited. */
static void finishing(mt_run_t *r, int64_t now)
{
    uint64_t n = 0;
    for (int i = 0; i < r->nworkers; i++)
        n += atomic_load_explicit(&r->workers[i].pub_pending, memory_order_relaxed);
    if (n > 0)
        r->cfg.on_finishing(n, r->t_end + r->cfg.grace_ns - now, r->cfg.finishing_ud);
}

/* Merge the heads of the workers' queues that belong to the smallest pending second.
 * Returns 1 with r->merged filled, 0 when every worker is done and drained. While waiting,
 * drains the records (on_records) and reports the grace (on_finishing). */
static int next_second(mt_run_t *r)
{
    mt__slot_t *taken[r->nworkers];
    int ntaken = 0;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        int ready = 1, any = 0;
        for (int i = 0; i < r->nworkers; i++) {
            if (r->ready_head[i])
                any = 1;
            else if (!r->done[i])
                ready = 0;
        }
        if (ready) {
            if (!any) {
                pthread_mutex_unlock(&r->mu);
                return 0;
            }
            break;
        }
        int64_t wait_ns = r->cfg.on_records ? MT__DRAIN_NS : -1; /* -1: until signalled */
        if (r->cfg.on_finishing && r->cfg.grace_ns > 0 && !atomic_load(&r->stopping)) {
            /* the first call a little after the end: every worker has published its count */
            int64_t now = mt__now(),
                    at = r->finish_at ? r->finish_at : r->t_end + MT__FINISH_NS / 2;
            if (now >= at && now < r->t_end + r->cfg.grace_ns) {
                pthread_mutex_unlock(&r->mu);
                finishing(r, now);
                pthread_mutex_lock(&r->mu);
                r->finish_at = now + MT__FINISH_NS;
                continue;
            }
            if (now < at && (wait_ns < 0 || at - now < wait_ns))
                wait_ns = at - now;
        }
        if (wait_ns < 0) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        if (r->cfg.on_records) {
            /* records are drained every MT__DRAIN_NS so the workers' rings never fill */
            pthread_mutex_unlock(&r->mu);
            drain_records(r);
            pthread_mutex_lock(&r->mu);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ns / MT__NS_PER_S;
        until.tv_nsec += wait_ns % MT__NS_PER_S;
        if (until.tv_nsec >= MT__NS_PER_S) {
            until.tv_sec++;
            until.tv_nsec -= MT__NS_PER_S;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    uint32_t k = UINT32_MAX;
    for (int i = 0; i < r->nworkers; i++)
        if (r->ready_head[i] && r->ready_head[i]->index < k)
            k = r->ready_head[i]->index;
    for (int i = 0; i < r->nworkers; i++) {
        mt__slot_t *s = r->ready_head[i];
        if (s && s->index == k) {
            r->ready_head[i] = s->next;
            if (!r->ready_head[i])
                r->ready_tail[i] = NULL;
            taken[ntaken++] = s;
        }
    }
    pthread_mutex_unlock(&r->mu);

    mt__slot_t *m = &r->merged;
    memset(&m->c, 0, sizeof m->c);
    mt_hist_reset(m->latency);
    mt_hist_reset(m->service);
    tagslots_reset(m->tags, r->cfg.ntags);
    m->index = k;
    m->span_ns = 0;
    m->open_conns = 0;
    m->backlog = 0;
    m->nslow = m->nerrs = 0;
    for (int i = 0; i < ntaken; i++) {
        mt__slot_t *s = taken[i];
        mt_exemplars_merge(m->slow, &m->nslow, MT_EXEMPLARS_SLOW, s->slow, s->nslow);
        mt_exemplars_merge(m->errs, &m->nerrs, MT_EXEMPLARS_ERR, s->errs, s->nerrs);
        mt_counters_add(&m->c, &s->c);
        mt_hist_add(m->latency, s->latency);
        mt_hist_add(m->service, s->service);
        tagslots_add(m->tags, s->tags, r->cfg.ntags);
        m->open_conns += s->open_conns;
        m->backlog += s->backlog;
        if (s->span_ns > m->span_ns)
            m->span_ns = s->span_ns;
        mt__slot_put(r, s);
    }
    /* k6's http_req_failed: derived here from errors and status[], once per second */
    mt_counters_set_failed(&m->c, r->cfg.expected);
    for (size_t t = 0; m->tags && t < r->cfg.ntags; t++)
        mt_counters_set_failed(&m->tags[t].c, r->cfg.expected);
    return 1;
}

int mt_run_exec(mt_run_t *r, mt_second_cb cb, void *ud)
{
    int rc = MT_OK, started = 0;
    mt_run_result_t *res = &r->result;
    if (r->workers)
        return MT_EINVAL; /* one exec per run */
    if (r->cfg.start_unix_ns && wall_ns() > r->cfg.start_unix_ns)
        return MT_ELATE;
    r->nworkers = r->cfg.threads;
    r->workers = calloc((size_t)r->nworkers, sizeof *r->workers);
    r->ready_head = calloc((size_t)r->nworkers, sizeof *r->ready_head);
    r->ready_tail = calloc((size_t)r->nworkers, sizeof *r->ready_tail);
    r->done = calloc((size_t)r->nworkers, sizeof *r->done);
    if (!r->workers || !r->ready_head || !r->ready_tail || !r->done)
        return MT_ENOMEM;
    if (mt_hist_new_latency(&r->latency) || mt_hist_new_latency(&r->service) ||
        mt_hist_new_latency(&r->connect) || mt_hist_new_latency(&r->tls) ||
        mt_hist_new_latency(&r->send) || mt_hist_new_latency(&r->wait) ||
        mt_hist_new_latency(&r->recv) || mt_hist_new_latency(&r->merged.latency) ||
        mt_hist_new_latency(&r->merged.service) ||
        mt__tagslots_new(r->cfg.ntags, &r->merged.tags) ||
        mt__tagslots_new(r->cfg.ntags, &r->tag_totals))
        return MT_ENOMEM;
    if (r->cfg.ntags) {
        r->pub_second = calloc(r->cfg.ntags, sizeof *r->pub_second);
        r->pub_total = calloc(r->cfg.ntags, sizeof *r->pub_total);
        if (!r->pub_second || !r->pub_total)
            return MT_ENOMEM;
    }
    for (; r->ninit < r->nworkers; r->ninit++) {
        rc = mt__worker_init(&r->workers[r->ninit], r, r->ninit);
        if (rc) {
            mt__worker_dispose(&r->workers[r->ninit]);
            return rc;
        }
    }
    resolve(r);
    if (r->refused)
        return MT_EPOLICY;

    res->open_model = r->cfg.schedule != NULL;
    if (r->cfg.start_unix_ns) {
        /* the common start instant: t0 is its monotonic equivalent, so seconds are numbered
         * from it whatever this clock does meanwhile */
        int64_t wall = wall_ns(), mono = mt__now();
        if (wall > r->cfg.start_unix_ns)
            return MT_ELATE;
        r->t0 = mono + (r->cfg.start_unix_ns - wall);
        wait_until(r, r->t0);
        res->start_late_ns = mt__now() - r->t0; /* the wake-up's lateness: the start skew */
        if (atomic_load(&r->stopping))
            r->t0 = mt__now();
        res->start_unix_ns =
            r->cfg.start_unix_ns + (r->t0 - (mono + (r->cfg.start_unix_ns - wall)));
    } else {
        res->start_unix_ns = wall_ns();
        r->t0 = mt__now();
    }
    r->t0_unix_us = res->start_unix_ns / 1000;
    r->t_end = r->t0 + r->cfg.duration_ns;
    for (; started < r->nworkers; started++) {
        if (pthread_create(&r->workers[started].thread, NULL, mt__worker_main,
                           &r->workers[started])) {
            rc = MT_ESYS;
            mt_run_stop(r);
            pthread_mutex_lock(&r->mu);
            for (int i = started; i < r->nworkers; i++)
                r->done[i] = 1;
            pthread_mutex_unlock(&r->mu);
            break;
        }
    }

    while (next_second(r)) {
        mt__slot_t *m = &r->merged;
        mt_counters_add(&res->c, &m->c);
        mt_hist_add(r->latency, m->latency);
        mt_hist_add(r->service, m->service);
        tagslots_add(r->tag_totals, m->tags, r->cfg.ntags);
        for (size_t t = 0; t < r->cfg.ntags; t++)
            r->pub_second[t] = (mt_tag_stats_t){
                .c = m->tags[t].c, .latency = m->tags[t].latency, .service = m->tags[t].service};
        res->seconds++;
        res->elapsed_ns = (int64_t)m->index * MT__NS_PER_S + m->span_ns;
        mt_second_t sec = {
            .index = m->index,
            .span_ns = m->span_ns,
            .c = m->c,
            .open_conns = m->open_conns,
            .backlog = m->backlog,
            .latency = m->latency,
            .service = m->service,
            .tags = r->pub_second,
            .ntags = r->cfg.ntags,
            .slow = m->slow,
            .nslow = m->nslow,
            .errs = m->errs,
            .nerrs = m->nerrs,
        };
        drain_records(r); /* records of this second reach the consumer before the second */
        if (cb)
            cb(&sec, ud);
    }
    for (int i = 0; i < started; i++) {
        mt__worker_t *w = &r->workers[i];
        pthread_join(w->thread, NULL);
        mt_hist_add(r->connect, w->connect);
        mt_hist_add(r->tls, w->tls);
        mt_hist_add(r->send, w->send);
        if (w->tls_err[0] && !res->tls_error[0])
            snprintf(res->tls_error, sizeof res->tls_error, "%s", w->tls_err);
        mt_hist_add(r->wait, w->wait);
        mt_hist_add(r->recv, w->recv);
        res->max_open_conns += w->max_open; /* sum of per-worker peaks: an upper bound */
        res->records_dropped += w->rdropped;
        if (w->err && !rc)
            rc = w->err;
    }
    res->stopped = atomic_load(&r->stopping) != 0;
    res->latency = r->latency;
    res->service = r->service;
    res->connect = r->connect;
    res->tls = r->tls;
    res->send = r->send;
    res->wait = r->wait;
    res->recv = r->recv;
    drain_records(r);
    for (size_t t = 0; t < r->cfg.ntags; t++)
        r->pub_total[t] = (mt_tag_stats_t){.c = r->tag_totals[t].c,
                                           .latency = r->tag_totals[t].latency,
                                           .service = r->tag_totals[t].service};
    res->tags = r->pub_total;
    res->ntags = r->cfg.ntags;
    return rc;
}

const mt_run_result_t *mt_run_result(const mt_run_t *r)
{
    return &r->result;
}

void mt_run_free(mt_run_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ninit; i++)
        mt__worker_dispose(&r->workers[i]);
    for (int i = 0; r->ready_head && i < r->nworkers; i++) {
        mt__slot_t *s = r->ready_head[i];
        while (s) {
            mt__slot_t *n = s->next;
            slot_free(s, r->cfg.ntags);
            s = n;
        }
    }
    mt__slot_t *s = r->pool;
    while (s) {
        mt__slot_t *n = s->next;
        slot_free(s, r->cfg.ntags);
        s = n;
    }
    mt__tagslots_free(r->merged.tags, r->cfg.ntags);
    mt__tagslots_free(r->tag_totals, r->cfg.ntags);
    free(r->pub_second);
    free(r->pub_total);
    mt_hist_free(r->latency);
    mt_hist_free(r->service);
    mt_hist_free(r->connect);
    mt_hist_free(r->tls);
    mt_hist_free(r->send);
    mt_hist_free(r->wait);
    mt_hist_free(r->recv);
    mt_hist_free(r->merged.latency);
    mt_hist_free(r->merged.service);
    if (r->stop_fd >= 0)
        close(r->stop_fd);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->workers);
    free(r->ready_head);
    free(r->ready_tail);
    free(r->done);
    free(r);
}
