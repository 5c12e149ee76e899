/* One worker thread: an epoll loop over its own connections. Sockets are registered once,
 * edge-triggered, for reading and writing, so a request costs one write and one read in the
 * common case (no epoll_ctl per request). Nothing here allocates per request. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h> /* struct scm_timestamping: needs <time.h> first */
#include <linux/net_tstamp.h>

#include "engine/internal.h"

int64_t mt__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * MT__NS_PER_S + ts.tv_nsec;
}

/* ---- kernel timestamps ---------------------------------------------------------------- */

/* CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed by the worker's loop at every wake-up: software
 * timestamps are taken with the real-time clock (ktime_get_real), the engine runs on the
 * monotonic one. One thread per worker, so a thread-local serves the TLS BIO too. */
static _Thread_local int64_t rt_off;
/* The offset moved by more than MT__RT_STEP_NS since the last wake-up: the real-time clock was
 * stepped (settimeofday, an NTP step, a virtual machine's resume) while this batch's data came
 * in, so its stamps may be off by the step, either way. They are not used: the batch is timed
 * by the user clock (counted in timing.user_clock). */
static _Thread_local int rt_stepped;

static void rt_off_update(void)
{
    /* the real-time read between two monotonic ones, taken again when the thread was
     * preempted in between (the pair more than MT__RT_PAIR_NS apart): such an offset would
     * shift this batch's stamps by the preemption; after a few tries the last offset stays */
    int64_t off = 0;
    for (int i = 0; i < 4; i++) {
        struct timespec m0, rt, m1;
        clock_gettime(CLOCK_MONOTONIC, &m0);
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &m1);
        int64_t a = (int64_t)m0.tv_sec * MT__NS_PER_S + m0.tv_nsec;
        int64_t b = (int64_t)m1.tv_sec * MT__NS_PER_S + m1.tv_nsec;
        off = (int64_t)rt.tv_sec * MT__NS_PER_S + rt.tv_nsec - (a + (b - a) / 2);
        if (b - a > MT__RT_PAIR_NS)
            continue;
        rt_stepped =
            rt_off != 0 && (off - rt_off > MT__RT_STEP_NS || rt_off - off > MT__RT_STEP_NS);
        rt_off = off;
        return;
    }
    rt_stepped = rt_off == 0; /* none yet: the loose one, and this batch on the user clock */
    if (rt_off == 0)
        rt_off = off;
}

void mt__rt_off_update(void)
{
    rt_off_update();
}

int64_t mt__rx_cmsg(const struct cmsghdr *h)
{
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_TIMESTAMPING || rt_stepped)
        return 0;
    struct scm_timestamping ts;
    memcpy(&ts, CMSG_DATA(h), sizeof ts);
    if (!ts.ts[0].tv_sec && !ts.ts[0].tv_nsec)
        return 0;
    return (int64_t)ts.ts[0].tv_sec * MT__NS_PER_S + ts.ts[0].tv_nsec - rt_off;
}

ssize_t mt__sock_recv(mt__conn_t *c, void *buf, size_t n)
{
    union {
        char b[CMSG_SPACE(sizeof(struct scm_timestamping))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = n};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    ssize_t k = recvmsg(c->fd, &m, 0);
    c->rx_ts = 0;
    if (k <= 0)
        return k;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        int64_t at = mt__rx_cmsg(h);
        if (at)
            c->rx_ts = at;
    }
    return k;
}

/* Asks the kernel to timestamp the socket's received data; off for the worker if it refuses
 * (its loop then wakes for every event, and responses are timed and counted as user-clock). */
static void kts_enable(mt__worker_t *w, int fd)
{
    int f = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    if (w->kts && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &f, sizeof f) < 0)
        w->kts = w->batch = 0;
}

/* A connection leaves CONNECTING/HANDSHAKE for IDLE. */
static void conn_ready(mt__worker_t *w, mt__conn_t *c)
{
    if (c->state == MT__CONN_CONNECTING || c->state == MT__CONN_HANDSHAKE)
        w->setup--;
    c->state = MT__CONN_IDLE;
}

/* ---- lists ---------------------------------------------------------------------------- */

static void list_init(mt__link_t *l)
{
    l->prev = l->next = l;
}

static int list_empty(const mt__link_t *l)
{
    return l->next == l;
}

static void conn_unlink(mt__conn_t *c)
{
    if (!c->linked)
        return;
    mt__list_remove(&c->link);
    c->linked = 0;
}

void mt__conn_unlink(mt__conn_t *c)
{
    conn_unlink(c);
}

static void conn_append(mt__link_t *l, mt__conn_t *c, int64_t deadline);

void mt__conn_retry(mt__worker_t *w, mt__conn_t *c, int64_t at)
{
    c->state = MT__CONN_RETRY;
    conn_append(&w->retry, c, at);
}

void mt__conn_unused(mt__worker_t *w, mt__conn_t *c)
{
    c->next_idle = w->unused;
    w->unused = c;
}

static void conn_append(mt__link_t *l, mt__conn_t *c, int64_t deadline)
{
    conn_unlink(c);
    c->deadline = deadline;
    mt__list_append(l, &c->link);
    c->linked = 1;
}

static mt__conn_t *list_head(mt__link_t *l)
{
    return list_empty(l) ? NULL : (mt__conn_t *)((char *)l->next - offsetof(mt__conn_t, link));
}

/* ---- stats ---------------------------------------------------------------------------- */

static int64_t us(int64_t ns)
{
    return ns > 0 ? ns / 1000 : 0;
}

static int err_kind(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return MT_ERR_REFUSED;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return MT_ERR_RESET;
    case ETIMEDOUT:
        return MT_ERR_TIMEOUT;
    default:
        return MT_ERR_OTHER;
    }
}

/* Apply STMT to the worker's counters (as ct_) and to those of the tag (when the run has tags). */
#define BOTH(w, tag, STMT)                                                                         \
    do {                                                                                           \
        mt_counters_t *ct_ = &(w)->slot->c;                                                        \
        STMT;                                                                                      \
        if ((w)->slot->tags) {                                                                     \
            ct_ = &(w)->slot->tags[(tag)].c;                                                       \
            STMT;                                                                                  \
        }                                                                                          \
    } while (0)

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Which request the n-th request of the run is (sequential order loops over the list). */
uint32_t mt__pick_req(mt__worker_t *w, uint64_t n)
{
    const mt_run_config_t *cfg = &w->run->cfg;
    if (cfg->nrequests <= 1)
        return 0;
    if (cfg->order == MT_ORDER_RANDOM)
        return (uint32_t)(rng_next(&w->rng) % cfg->nrequests);
    return (uint32_t)(n % cfg->nrequests);
}

static const mt_request_t *req_at(mt__worker_t *w, uint32_t i)
{
    return &w->run->cfg.requests[i];
}

/* When the response began before the request was written in full (an early response: a 413
 * to a large upload), the send phase ends at the response's first byte and wait is 0:
 * send + wait + receive stay the service time, and no phase runs from an unset instant. */
static mt__reqtimes_t norm_times(const mt__reqtimes_t *t, int64_t now)
{
    mt__reqtimes_t n = *t;
    int64_t first = n.first_byte ? n.first_byte : now;
    if (n.send_start && (!n.send_end || n.send_end > first))
        n.send_end = first; /* no response byte: a failure while sending ends it now */
    return n;
}

/* Hand the finished request's record to the aggregator (phout). kind < 0: success. */
static void record(mt__worker_t *w, const mt__reqtimes_t *t, int64_t now, int kind, int eno)
{
    mt_run_t *r = w->run;
    if (!w->ring)
        return;
    uint64_t tail = atomic_load_explicit(&w->rtail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&w->rhead, memory_order_acquire);
    if (tail - head >= MT__RING) {
        w->rdropped++;
        return;
    }
    mt_req_record_t *x = &w->ring[tail % MT__RING];
    int64_t start = t->connect_start ? t->connect_start : t->send_start;
    if (!start)
        start = now;
    x->start_unix_us = r->t0_unix_us + (start - r->t0) / 1000;
    x->due_unix_us = r->t0_unix_us + (t->due - r->t0) / 1000;
    x->total_us = (uint32_t)us(now - start);
    x->connect_us = t->connect_start
                        ? (uint32_t)us((t->connect_end ? t->connect_end : now) - t->connect_start)
                        : 0;
    x->tls_us = t->tls_start ? (uint32_t)us((t->tls_end ? t->tls_end : now) - t->tls_start) : 0;
    x->send_us =
        t->send_start ? (uint32_t)us((t->send_end ? t->send_end : now) - t->send_start) : 0;
    x->wait_us =
        t->send_end ? (uint32_t)us((t->first_byte ? t->first_byte : now) - t->send_end) : 0;
    x->receive_us = t->first_byte ? (uint32_t)us(now - t->first_byte) : 0;
    x->bytes_out = t->sent;
    x->bytes_in = t->rbytes; /* both 64-bit all the way (a response may pass 4 GiB) */
    x->tag = t->tag;
    x->status = kind < 0 ? t->status : 0;
    x->net_errno = (int16_t)eno;
    x->err_kind = (int16_t)kind;
    atomic_store_explicit(&w->rtail, tail + 1, memory_order_release);
}

static mt__reqtimes_t conn_times(const mt__conn_t *c)
{
    return (mt__reqtimes_t){.due = c->due,
                            .connect_start = c->connect_start,
                            .connect_end = c->connect_end,
                            .tls_start = c->tls_start,
                            .tls_end = c->tls_end,
                            .send_start = c->send_start,
                            .send_end = c->send_end,
                            .first_byte = c->first_byte,
                            .sent = c->sent,
                            .rbytes = c->rbytes,
                            .tag = c->req->tag,
                            .status = (uint16_t)c->resp.status,
                            .trace = {0},
                            .tflags = c->tflags};
}

static mt__reqtimes_t conn_times_traced(const mt__conn_t *c)
{
    mt__reqtimes_t t = conn_times(c);
    if (c->tflags)
        memcpy(t.trace, c->trace, sizeof t.trace);
    return t;
}

/* ---- trace context (docs/tracing.md) ---------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoroshiro128+: fast, and ids need uniqueness, not secrecy */
static uint64_t trace_rand(mt__worker_t *w)
{
    uint64_t s0 = w->trace_rng[0], s1 = w->trace_rng[1], r = s0 + s1;
    s1 ^= s0;
    w->trace_rng[0] = rotl64(s0, 24) ^ s1 ^ (s1 << 16);
    w->trace_rng[1] = rotl64(s1, 37);
    return r;
}

uint8_t mt__trace_new(mt__worker_t *w, uint8_t trace[24])
{
    uint64_t v[3];
    do
        v[0] = trace_rand(w), v[1] = trace_rand(w);
    while (v[0] == 0 && v[1] == 0);
    do
        v[2] = trace_rand(w);
    while (v[2] == 0);
    memcpy(trace, v, sizeof v);
    uint8_t f = MT__TRACED;
    w->trace_acc += w->run->cfg.trace_ratio;
    if (w->trace_acc >= 1.0) {
        w->trace_acc -= 1.0;
        f |= MT__SAMPLED;
    }
    return f;
}

/* The sampled request of t ended: keep it if it is among the slowest (or failed ones) of the
 * second. failed: a network error or a status outside the expected set. */
static void trace_keep(mt__worker_t *w, const mt__reqtimes_t *t, int64_t lat_us, int kind)
{
    if (!(t->tflags & MT__SAMPLED) || !w->slot)
        return;
    mt_exemplar_t e = {.latency_us = lat_us < 0            ? 0
                                     : lat_us > UINT32_MAX ? UINT32_MAX
                                                           : (uint32_t)lat_us,
                       .status = kind < 0 ? t->status : 0,
                       .err_kind = (int16_t)kind,
                       .tag = t->tag};
    memcpy(e.trace_id, t->trace, 16);
    memcpy(e.span_id, t->trace + 16, 8);
    mt__slot_t *s = w->slot;
    mt_exemplars_merge(s->slow, &s->nslow, MT_EXEMPLARS_SLOW, &e, 1);
    int failed = kind >= 0;
    if (!failed) {
        mt_status_set_t def;
        const mt_status_set_t *ex = w->run->cfg.expected;
        if (!ex) {
            mt_status_set_default(&def);
            ex = &def;
        }
        failed = !mt_status_set_has(ex, t->status);
    }
    if (failed)
        mt_exemplars_merge(s->errs, &s->nerrs, MT_EXEMPLARS_ERR, &e, 1);
}

/* The attached request (c->req, HTTP/1) gets new trace ids and a copy of its bytes with
 * "traceparent: <value>" after the request line. Out of memory: it goes untraced. */
static void trace_attach(mt__worker_t *w, mt__conn_t *c)
{
    const mt_request_t *q = c->req;
    const char *eol = memchr(q->data, '\n', q->len);
    c->tflags = 0;
    if (!eol)
        return;
    size_t line = (size_t)(eol - q->data) + 1;
    size_t need = q->len + sizeof "traceparent: \r\n" - 1 + MT_TRACEPARENT_LEN;
    if (need > c->tcap) {
        char *nb = realloc(c->tbuf, need);
        if (!nb)
            return;
        c->tbuf = nb;
        c->tcap = need;
    }
    uint8_t f = mt__trace_new(w, c->trace);
    char *p = c->tbuf;
    memcpy(p, q->data, line);
    p += line;
    memcpy(p, "traceparent: ", 13);
    p += 13;
    char tp[MT_TRACEPARENT_LEN + 1];
    mt_traceparent_format(tp, c->trace, c->trace + 16, f & MT__SAMPLED);
    memcpy(p, tp, MT_TRACEPARENT_LEN);
    p += MT_TRACEPARENT_LEN;
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, q->data + line, q->len - line);
    c->treq =
        (mt_request_t){.data = c->tbuf, .len = need, .tag = q->tag, .parse_flags = q->parse_flags};
    c->req = &c->treq;
    c->tflags = f;
}

/* A request was sent (its first byte is on its way) at now. */
void mt__stat_sent(mt__worker_t *w, uint16_t tag, int64_t due, int64_t now)
{
    int64_t lag = now - due;
    if (lag < 0)
        lag = 0;
    uint64_t lag_us = (uint64_t)us(lag);
    int closed_model = w->run->cfg.schedule == NULL;
    w->pending++;
    BOTH(w, tag, {
        ct_->sent++;
        ct_->due += (uint64_t)closed_model; /* closed model: a request is due when sent */
        ct_->lag_sum_us += lag_us;
        if (lag_us > ct_->lag_max_us)
            ct_->lag_max_us = lag_us;
        if (lag > MT_LATE_NS)
            ct_->late++;
    });
}

/* A response was received in full at now. */
void mt__stat_done(mt__worker_t *w, const mt__reqtimes_t *t0, int64_t now)
{
    mt__reqtimes_t tn = norm_times(t0, now);
    const mt__reqtimes_t *t = &tn;
    w->pending -= w->pending > 0;
    unsigned st = t->status;
    int64_t svc = us(now - t->send_start), lat = us(now - t->due);
    w->svc_avg += (now - t->send_start - w->svc_avg) / 16;
    BOTH(w, t->tag, (ct_->completed++, ct_->status[st < MT_STATUS_MAX ? st : 0]++));
    mt_hist_record_clamped(w->slot->service, svc);
    mt_hist_record_clamped(w->slot->latency, lat);
    if (w->slot->tags) {
        mt__tagslot_t *ts = &w->slot->tags[t->tag];
        mt_hist_record_clamped(ts->service, svc);
        mt_hist_record_clamped(ts->latency, lat);
    }
    record(w, t, now, -1, 0);
    if (__builtin_expect(t->tflags != 0, 0))
        trace_keep(w, t, lat, -1);
    mt_hist_record_clamped(w->send, us(t->send_end - t->send_start));
    mt_hist_record_clamped(w->wait, us(t->first_byte - t->send_end));
    mt_hist_record_clamped(w->recv, us(now - t->first_byte));
}

/* A request failed with error kind `kind` (errno `eno`, 0 if none). */
void mt__stat_fail(mt__worker_t *w, const mt__reqtimes_t *t0, int kind, int eno, int64_t now)
{
    mt__reqtimes_t t = norm_times(t0, now);
    if (t0->send_start) /* a connect that failed had sent nothing */
        w->pending -= w->pending > 0;
    BOTH(w, t.tag, (ct_->err[kind]++, ct_->errors++));
    record(w, &t, now, kind, eno ? eno : mt_err_kind_errno(kind));
    if (__builtin_expect(t.tflags != 0, 0))
        trace_keep(w, &t, us(now - t.due), kind);
}

/* A request sent and never answered: in flight when the run ended (after the grace). */
void mt__stat_abandoned(mt__worker_t *w, uint16_t tag)
{
    w->pending -= w->pending > 0;
    BOTH(w, tag, ct_->abandoned++);
}

/* A due request that was never sent: the plan was not carried out. */
void mt__stat_dropped(mt__worker_t *w, uint16_t tag)
{
    BOTH(w, tag, ct_->dropped++);
}

void mt__stat_unsent(mt__worker_t *w, mt__job_t job)
{
    uint16_t tag = w->run->cfg.nrequests ? req_at(w, job.req)->tag : 0;
    if (job.retried)
        mt__stat_abandoned(w, tag);
    else
        mt__stat_dropped(w, tag);
}

/* This thread's CPU time (user + system), ns; 0 if the clock cannot be read. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * MT__NS_PER_S + ts.tv_nsec;
}

static void publish(mt__worker_t *w, int64_t end)
{
    mt_run_t *r = w->run;
    mt__slot_t *s = w->slot;
    int64_t start = r->t0 + (int64_t)w->second * MT__NS_PER_S;
    /* the generator's own CPU since the last second was published (a worker that woke late
     * past several boundaries counts it in the first of them) */
    int64_t cpu = thread_cpu_ns();
    uint64_t cpu_us = cpu > w->cpu_ns ? (uint64_t)(cpu - w->cpu_ns) / 1000 : 0;
    w->cpu_ns = cpu;
    s->c.cpu_us += cpu_us;
    if (cpu_us > s->c.cpu_max_us)
        s->c.cpu_max_us = cpu_us;
    s->index = w->second;
    s->span_ns = end > start ? end - start : 0;
    s->open_conns = w->open;
    s->backlog = w->qlen;
    w->slot = NULL;
    mt__slot_publish(r, w->id, s);
}

/* Publish every second whose boundary is at or before `now`. */
static void roll_seconds(mt__worker_t *w, int64_t now)
{
    while (w->slot && now >= w->next_boundary) {
        publish(w, w->next_boundary);
        w->second++;
        w->next_boundary += MT__NS_PER_S;
        w->slot = mt__slot_get(w->run);
        if (!w->slot)
            w->err = MT_ENOMEM;
    }
}

/* At exit: publish the seconds up to `end` and the last partial one. */
static void finish_seconds(mt__worker_t *w, int64_t end)
{
    roll_seconds(w, end);
    if (!w->slot)
        return;
    if (end > w->next_boundary - MT__NS_PER_S) {
        publish(w, end);
    } else {
        mt__slot_put(w->run, w->slot);
        w->slot = NULL;
    }
}

/* ---- connections ---------------------------------------------------------------------- */

void mt__conn_close(mt__worker_t *w, mt__conn_t *c)
{
    conn_unlink(c);
    if (c->ssl) {
        /* no close_notify round trip; marked as shut down so the session stays resumable */
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        if (c->state == MT__CONN_CONNECTING || c->state == MT__CONN_HANDSHAKE)
            w->setup--;
        if (w->ur)
            mt__ur_close(w, c->fd); /* the ring's operations on it are cancelled first */
        else
            close(c->fd); /* also removes it from epoll */
        c->fd = -1;
        c->gen++; /* events still queued for the old socket are ignored */
        w->open--;
    }
    c->state = MT__CONN_FREE;
    c->has_req = 0;
    c->resp_early = 0;
    c->werr = 0;
    c->delayed = 0;
}

static void conn_release(mt__worker_t *w, mt__conn_t *c)
{
    mt__conn_close(w, c);
    c->next_idle = w->unused;
    w->unused = c;
}

static void dispatch(mt__worker_t *w, mt__job_t job, int64_t now);
static int queue_pop(mt__worker_t *w, mt__job_t *job);
static void conn_lost(mt__worker_t *w, mt__conn_t *c, int64_t now);
static void conn_send(mt__worker_t *w, mt__conn_t *c, int64_t now);
/* Fails the connection's request (or drops the idle connection) with kind "tls". */
static void tls_fail(mt__worker_t *w, mt__conn_t *c, int64_t now, const char *why);
static void conn_start_request(mt__worker_t *w, mt__conn_t *c, mt__job_t job, int64_t now);
static void conn_next(mt__worker_t *w, mt__conn_t *c, int64_t now);
static void conn_readable(mt__worker_t *w, mt__conn_t *c, uint32_t ev);

/* ---- scripted requests (cfg.script; off the unscripted path) --------------------------- */

/* A script error (or thread:stop()) ends this connection's part: the run stops on an error. */
static void script_halt(mt__worker_t *w, mt__conn_t *c, int rc)
{
    if (rc == MT_EEOF) {
        w->script_stopped = 1;
    } else if (!w->err) {
        w->err = MT_EINVAL;
        mt_run_stop(w->run);
    }
    mt__conn_close(w, c);
    if (mt__open_model(w))
        conn_release(w, c);
}

/* The connection's next request from request(). MT_OK, or the connection was given up. */
static int script_next(mt__worker_t *w, mt__conn_t *c)
{
    mt_script_req_t q;
    int rc = w->script_stopped ? MT_EEOF : w->script->request(w->script->ud, w->id, &q);
    if (rc != MT_OK) {
        if (rc == MT_EEOF && mt__open_model(w))
            mt__stat_dropped(w, 0);
        script_halt(w, c, rc);
        return rc;
    }
    const char *data = q.data;
    if (!q.stable) {
        if (q.len > c->scap) {
            size_t cap = c->scap ? c->scap : 1024;
            while (cap < q.len)
                cap *= 2;
            char *nb = realloc(c->sbuf, cap);
            if (!nb) {
                w->err = MT_ENOMEM;
                mt_run_stop(w->run);
                script_halt(w, c, MT_ENOMEM);
                return MT_ENOMEM;
            }
            c->sbuf = nb;
            c->scap = cap;
        }
        memcpy(c->sbuf, q.data, q.len);
        data = c->sbuf;
    }
    c->sreq =
        (mt_request_t){.data = data, .len = q.len, .tag = q.tag, .parse_flags = q.parse_flags};
    c->req = &c->sreq;
    c->pipe_n = c->pipe_left = q.count ? q.count : 1;
    c->rlen = 0;
    c->rtrunc = 0;
    return MT_OK;
}

/* The other requests of a pipelined bundle are sent too (the first was counted). */
static void script_sent_more(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    uint64_t more = c->pipe_n - 1;
    for (uint64_t i = 0; i < more; i++)
        mt__stat_sent(w, c->req->tag, c->due, now);
    if (mt__open_model(w)) /* one due slot, several requests: each is due */
        BOTH(w, c->req->tag, ct_->due += more);
}

void mt__keep(char **buf, size_t *len, size_t *cap, uint8_t *trunc, size_t max, const void *data,
              size_t n)
{
    if (*len + n > max) {
        *trunc = 1;
        n = *len < max ? max - *len : 0;
    }
    if (!n)
        return;
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb) {
            *trunc = 1;
            return;
        }
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}

/* Keep response bytes for response(), up to the hooks' limit. */
static void script_keep(mt__worker_t *w, mt__conn_t *c, const char *data, size_t len)
{
    mt__keep(&c->rbuf, &c->rlen, &c->rcap, &c->rtrunc, w->script->max_response, data, len);
}

/* A response is complete: hand it to response(). MT_OK or the hook's error. */
static int script_response(mt__worker_t *w, mt__conn_t *c)
{
    int rc =
        w->script->response(w->script->ud, w->id, c->rbuf ? c->rbuf : "", c->rlen, c->rtrunc != 0);
    c->rlen = 0;
    c->rtrunc = 0;
    if (rc != MT_OK && !w->err) {
        w->err = MT_EINVAL;
        mt_run_stop(w->run);
    }
    return rc;
}

/* After feeding: responses of a pipelined bundle that complete before its last one are
 * counted here and the parser goes on with the bytes after them. Returns the feed result
 * for the bytes left (*data, *len, *used updated), as the caller's code expects. */
static int script_feed(mt__worker_t *w, mt__conn_t *c, const char **data, size_t *len, size_t *used,
                       int rc, int64_t now)
{
    for (;;) {
        if (w->script->response)
            script_keep(w, c, *data, rc == MT_OK ? *used : *len);
        if (rc != MT_OK || c->pipe_left <= 1)
            return rc;
        if (!c->first_byte)
            c->first_byte = now;
        mt__reqtimes_t t = conn_times_traced(c);
        mt__stat_done(w, &t, now);
        if (w->script->response && script_response(w, c) != MT_OK)
            return MT_OK; /* the run stops; this response was counted */
        c->pipe_left--;
        mt_h1_resp_init(&c->resp, c->req->parse_flags);
        c->first_byte = 0;
        *data += *used;
        *len -= *used;
        *used = 0;
        if (!*len)
            return MT_EAGAIN;
        c->first_byte = now;
        rc = mt_h1_resp_feed(&c->resp, *data, *len, used);
    }
}

/* Closed model, after a response: delay() says how long to wait before the next request.
 * Returns 1 when the connection now waits on the retry list (in due-time order). */
static int script_delay(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    int64_t ns = 0;
    if (w->script->delay(w->script->ud, w->id, &ns) != MT_OK) {
        if (!w->err) {
            w->err = MT_EINVAL;
            mt_run_stop(w->run);
        }
        return 0;
    }
    if (ns <= 0)
        return 0;
    c->has_req = 0;
    conn_unlink(c);
    c->delayed = 1;
    c->deadline = now + ns;
    mt__link_t *at = w->retry.prev; /* insert after the last entry due no later */
    while (at != &w->retry &&
           ((mt__conn_t *)((char *)at - offsetof(mt__conn_t, link)))->deadline > c->deadline)
        at = at->prev;
    c->link.prev = at;
    c->link.next = at->next;
    at->next->prev = &c->link;
    at->next = &c->link;
    c->linked = 1;
    return 1;
}

int mt__queue_push(mt__worker_t *w, mt__job_t job)
{
    if (w->qlen >= w->qcap)
        return 0;
    w->queue[(w->qhead + w->qlen) % w->qcap] = job;
    w->qlen++;
    w->qretried += job.retried;
    return 1;
}

int mt__queue_push_front(mt__worker_t *w, mt__job_t job)
{
    if (w->qlen >= w->qcap)
        return 0;
    w->qhead = (w->qhead + w->qcap - 1) % w->qcap;
    w->queue[w->qhead] = job;
    w->qlen++;
    w->qretried += job.retried;
    return 1;
}

int mt__queue_pop(mt__worker_t *w, mt__job_t *job)
{
    return queue_pop(w, job);
}

static int queue_pop(mt__worker_t *w, mt__job_t *job)
{
    if (!w->qlen)
        return 0;
    *job = w->queue[w->qhead];
    w->qhead = (w->qhead + 1) % w->qcap;
    w->qlen--;
    w->qretried -= job->retried;
    return 1;
}

/* May a failed request be sent again? The keep-alive close race (RFC 9112 9.3.1): a reused
 * connection the server closed in order (EOF: an idle timeout's close) just as the request
 * went out, no byte of a response arrived, and the method is idempotent (RFC 9110 9.2.2,
 * with or without a body): acting twice does no harm. Once per request, and only from a
 * reused connection: a fresh one that fails is the server's answer. A reset is not retried:
 * an idle close is a FIN (the request meets EOF), an abortive close is the server's doing. */
static int idempotent(const mt_request_t *q)
{
    static const char *const m[] = {"GET ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "TRACE "};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t n = strlen(m[i]);
        if (q->len >= n && memcmp(q->data, m[i], n) == 0)
            return 1;
    }
    return 0;
}

static int retry_ok(const mt__conn_t *c, int kind)
{
    return kind == MT_ERR_CLOSED && !c->retried && c->connect_start == 0 && c->rbytes == 0 &&
           c->pipe_n <= 1 && (c->state == MT__CONN_SENDING || c->state == MT__CONN_WAITING) &&
           idempotent(c->req);
}

/* Send the attached request again on a fresh connection in the same slot. It keeps its due
 * time (latency still runs from it) and was counted as sent once; its timeout starts over. */
static void request_retry(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    BOTH(w, c->req->tag, ct_->retried++);
    mt__conn_close(w, c);
    c->has_req = 1;
    c->retried = 1;
    c->send_start = c->send_end = c->first_byte = 0;
    c->sent = c->rbytes = 0;
    mt__conn_connect(w, c, now);
}

/* The attached request failed with error kind `kind` (errno `eno`, 0 if none). The
 * connection is closed. */
static void request_fail(mt__worker_t *w, mt__conn_t *c, int kind, int eno, int64_t now)
{
    if (c->h2) {
        mt__h2_conn_fail(w, c, kind, eno, now);
        return;
    }
    if (c->resp_early) {
        kind = -1; /* its response was counted: the rest of the body was ours to give up */
    } else if (retry_ok(c, kind)) {
        if (!w->run->stopping && now < w->run->t_end) {
            request_retry(w, c, now);
            return;
        }
        kind = -1; /* the run is over: abandoned, as every request in flight at the end */
        mt__stat_abandoned(w, c->req->tag);
    }
    if (kind >= 0) {
        mt__reqtimes_t t = conn_times_traced(c);
        mt__stat_fail(w, &t, kind, eno, now);
        for (uint32_t i = 1; i < c->pipe_left; i++) /* the rest of a pipelined bundle */
            mt__stat_fail(w, &t, kind, eno, now);
    }
    c->pipe_left = 0;
    int was_connecting = c->state == MT__CONN_CONNECTING || c->state == MT__CONN_HANDSHAKE;
    mt__conn_close(w, c);
    if (mt__open_model(w)) {
        conn_release(w, c);
        /* a backlog request may now get a fresh connection */
        mt__job_t job;
        if (mt__may_send(w, now) && queue_pop(w, &job))
            dispatch(w, job, now);
        return;
    }
    if (was_connecting || kind == MT_ERR_DNS) {
        c->state = MT__CONN_RETRY;
        conn_append(&w->retry, c, now + MT__RETRY_NS);
    } else {
        conn_next(w, c, now);
    }
}

void mt__conn_connect(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    mt_run_t *r = w->run;
    c->connect_start = now;
    c->connect_end = 0;
    c->tls_start = c->tls_end = 0;
    c->state = MT__CONN_CONNECTING;
    const struct sockaddr_storage *sa = &r->addr;
    socklen_t salen = r->addrlen;
    if (__builtin_expect(w->addrlen != 0, 0)) { /* a script's thread.addr */
        sa = &w->addr;
        salen = w->addrlen;
    } else if (!r->have_addr) {
        request_fail(w, c, MT_ERR_DNS, 0, now);
        return;
    }
    /* io_uring: a blocking socket, so that the ring waits for readiness itself instead of
     * completing with -EAGAIN */
    int fd = socket(sa->ss_family, SOCK_STREAM | (w->ur ? 0 : SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        request_fail(w, c, err_kind(errno), errno, now);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    kts_enable(w, fd);
    c->fd = fd;
    c->rx_ts = 0;
    w->open++;
    w->setup++;
    if (w->open > w->max_open)
        w->max_open = w->open;
    if (w->ur) { /* completion (or failure): mt__conn_up */
        mt__ur_connect(w, c, sa, salen);
        if (r->cfg.timeout_ns > 0)
            conn_append(&w->inflight, c, now + r->cfg.timeout_ns);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)c->gen << 32 | (uint64_t)(c - w->conns)};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        request_fail(w, c, err_kind(errno), errno, now);
        return;
    }
    if (connect(fd, (const struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS) {
        request_fail(w, c, err_kind(errno), errno, now);
        return;
    }
    /* completion (or failure) is reported by EPOLLOUT / EPOLLERR */
    if (r->cfg.timeout_ns > 0)
        conn_append(&w->inflight, c, now + r->cfg.timeout_ns);
}

/* Write what is left of the request. */
static void conn_written(mt__worker_t *w, mt__conn_t *c, int64_t now);

static void conn_write(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    const mt_request_t *q = c->req;
    if (w->ur) { /* one send for the rest; its completion: mt__conn_sent */
        mt__ur_send(w, c, q->data + c->sent, q->len - c->sent);
        return;
    }
    while (c->sent < q->len) {
        ssize_t n = mt__conn_io(w, c, 1, (void *)(uintptr_t)(q->data + c->sent), q->len - c->sent);
        if (n == -2) {
            tls_fail(w, c, now, w->tls_err);
            return;
        }
        if (n == 0)
            n = -1, errno = ECONNRESET;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return; /* EPOLLOUT will resume */
            if ((errno == EPIPE || errno == ECONNRESET) && !c->resp_early && !c->werr) {
                /* the server stopped reading: a response it sent first (a 413 before the
                 * body) may be waiting to be read; the failure counts only if none is */
                c->werr = errno;
                c->state = MT__CONN_WAITING;
                conn_readable(w, c, EPOLLRDHUP);
                return;
            }
            request_fail(w, c, err_kind(errno), errno, now);
            return;
        }
        c->sent += (uint64_t)n;
        BOTH(w, q->tag, ct_->bytes_out += (uint64_t)n);
    }
    conn_written(w, c, mt__now());
}

/* The request is written in full at now. */
static void conn_written(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    if (c->resp_early) {
        /* the early response was counted; the body is now complete: reuse the connection */
        c->resp_early = 0;
        c->state = MT__CONN_IDLE;
        conn_next(w, c, now);
        return;
    }
    c->send_end = now;
    c->state = MT__CONN_WAITING;
}

/* Start the attached request on a connected socket. */
static void conn_send(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    c->send_start = now;
    c->send_end = 0;
    c->first_byte = 0;
    c->sent = 0;
    c->rbytes = 0;
    c->resp_early = 0;
    c->werr = 0;
    mt_h1_resp_init(&c->resp, c->req->parse_flags);
    c->state = MT__CONN_SENDING;
    if (!c->retried) { /* a retried request is counted once */
        mt__stat_sent(w, c->req->tag, c->due, now);
        if (__builtin_expect(c->pipe_n > 1, 0))
            script_sent_more(w, c, now);
    }
    if (!c->linked && w->run->cfg.timeout_ns > 0)
        conn_append(&w->inflight, c, now + w->run->cfg.timeout_ns);
    conn_write(w, c, now);
}

static void conn_start_request(mt__worker_t *w, mt__conn_t *c, mt__job_t job, int64_t now)
{
    c->due = job.due;
    if (__builtin_expect(w->script != NULL, 0)) { /* the one check on the unscripted path */
        if (script_next(w, c) != MT_OK)
            return;
    } else {
        c->req = req_at(w, job.req);
        if (__builtin_expect(w->run->cfg.trace, 0))
            trace_attach(w, c);
    }
    c->has_req = 1;
    c->retried = 0;
    c->send_start = c->send_end = c->first_byte = 0;
    c->sent = c->rbytes = 0;
    if (c->state == MT__CONN_IDLE) {
        c->connect_start = c->connect_end = 0;
        c->tls_start = c->tls_end = 0;
        conn_send(w, c, now);
    } else {
        mt__conn_connect(w, c, now);
    }
}

/* A connection finished its request (or connected without one): give it the next job. */
static void conn_next(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    c->has_req = 0;
    conn_unlink(c);
    if (c->h2) { /* closed model: (re)connect; the connection then keeps its streams busy */
        if (w->run->stopping || now >= w->run->t_end) {
            mt__h2_conn_fail(w, c, -1, 0, now);
            return;
        }
        mt__h2_conn_open(w, c, now);
        return;
    }
    if (w->run->stopping || now >= w->run->t_end) {
        if (c->state != MT__CONN_FREE)
            mt__conn_close(w, c);
        return;
    }
    mt__job_t job;
    if (!mt__open_model(w)) {
        uint64_t n = mt__global_n(w->run, w->seq++ * (uint64_t)w->run->nworkers + (uint64_t)w->id);
        job.due = now;
        job.req = mt__pick_req(w, n);
        conn_start_request(w, c, job, now);
        return;
    }
    if (c->state == MT__CONN_FREE) {
        conn_release(w, c);
        if (queue_pop(w, &job))
            dispatch(w, job, now); /* takes the connection back from the unused stack */
        return;
    }
    if (queue_pop(w, &job)) {
        conn_start_request(w, c, job, now);
        return;
    }
    c->next_idle = w->idle;
    w->idle = c;
}

/* Open model: a request fell due. */
static void dispatch(mt__worker_t *w, mt__job_t job, int64_t now)
{
    if (w->h2) {
        mt__h2_dispatch(w, job, now);
        return;
    }
    if (w->idle) {
        mt__conn_t *c = w->idle;
        w->idle = c->next_idle;
        conn_start_request(w, c, job, now);
        return;
    }
    if (w->unused) {
        mt__conn_t *c = w->unused;
        w->unused = c->next_idle;
        conn_start_request(w, c, job, now);
        return;
    }
    if (mt__queue_push(w, job))
        return;
    mt__stat_unsent(w, job);
}

/* The attached request's response was complete at `at` (its last bytes' arrival: the kernel's
 * timestamp, else the user-space clock, `user` set) and is seen at `now`. */
static void request_done(mt__worker_t *w, mt__conn_t *c, int64_t at, int user, int64_t now, int eof)
{
    mt__reqtimes_t t = conn_times_traced(c);
    if (user)
        BOTH(w, t.tag, ct_->ts_user++);
    mt__stat_done(w, &t, at);
    if (__builtin_expect(w->script != NULL, 0)) {
        c->pipe_left = 0;
        if (w->script->response && script_response(w, c) != MT_OK) {
            mt__conn_close(w, c);
            return;
        }
    }
    if (c->state == MT__CONN_SENDING) {
        /* The response came before the request was written in full. Never write the next
         * request into what the server still reads as this body: finish the body and then
         * reuse the connection if the response allows it, else close it now. */
        if (!eof && mt_h1_resp_keep_alive(&c->resp)) {
            c->resp_early = 1;
            return;
        }
        mt__conn_close(w, c);
        conn_next(w, c, now);
        return;
    }
    if (eof || !mt_h1_resp_keep_alive(&c->resp))
        mt__conn_close(w, c);
    else
        c->state = MT__CONN_IDLE;
    if (__builtin_expect(w->script != NULL, 0) && w->script->delay && !mt__open_model(w) &&
        script_delay(w, c, now))
        return;
    conn_next(w, c, now);
}

/* ---- TLS ------------------------------------------------------------------------------ */

/* Keeps the first TLS failure's reason for the run's result. */
void mt__tls_note(mt__worker_t *w, const char *why)
{
    if (!w->tls_err[0])
        snprintf(w->tls_err, sizeof w->tls_err, "%s", why);
}

/* recv/send on a connection, TLS or not: > 0 bytes, 0 EOF, -1 with errno (EAGAIN: wait for
 * the socket), or -2 for a TLS failure (its reason noted). */
ssize_t mt__conn_io(mt__worker_t *w, mt__conn_t *c, int write, void *buf, size_t n)
{
    if (!c->ssl) {
        for (;;) {
            ssize_t k = write    ? send(c->fd, buf, n, MSG_NOSIGNAL)
                        : w->kts ? mt__sock_recv(c, buf, n)
                                 : recv(c->fd, buf, n, 0);
            if (k < 0 && errno == EINTR)
                continue;
            return k;
        }
    }
    int len = n > INT_MAX ? INT_MAX : (int)n;
    int rc = write ? SSL_write(c->ssl, buf, len) : SSL_read(c->ssl, buf, len);
    if (rc > 0)
        return rc;
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0 || write == 0)
            return errno == 0 ? 0 : -1;
        return -1;
    default: {
        char why[160];
        mt__tls_reason(why, sizeof why);
        mt__tls_note(w, why[0] ? why : "TLS record error");
        return -2;
    }
    }
}

static void tls_fail(mt__worker_t *w, mt__conn_t *c, int64_t now, const char *why)
{
    mt__tls_note(w, why);
    if (c->h2)
        mt__h2_conn_fail(w, c, MT_ERR_TLS, 0, now);
    else if (c->has_req)
        request_fail(w, c, MT_ERR_TLS, 0, now);
    else
        conn_lost(w, c, now);
}

/* Drives the handshake; on success the connection is ready for its request. */
static void tls_handshake(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    int rc = SSL_connect(c->ssl);
    if (rc == 1) {
        now = mt__now();
        c->tls_end = now;
        mt_hist_record_clamped(w->tls, us(now - c->tls_start));
        int resumed = SSL_session_reused(c->ssl);
        BOTH(w, c->req ? c->req->tag : 0, {
            if (resumed)
                ct_->tls_resumed++;
            else
                ct_->tls_full++;
        });
        if (c->h2) {
            /* still HANDSHAKE on failure: the requests waiting for this connection fail
             * with "tls" instead of going back to wait for another one */
            const unsigned char *p = NULL;
            unsigned len = 0;
            SSL_get0_alpn_selected(c->ssl, &p, &len);
            if (len != 2 || memcmp(p, "h2", 2) != 0) {
                tls_fail(w, c, now, "the server did not agree to HTTP/2 (ALPN h2)");
                return;
            }
            conn_ready(w, c);
            mt__h2_conn_ready(w, c, now);
            return;
        }
        conn_ready(w, c);
        if (c->has_req)
            conn_send(w, c, now);
        else
            conn_next(w, c, now);
        return;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    char why[160];
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        snprintf(why, sizeof why, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else {
        mt__tls_reason(why, sizeof why);
        if (!why[0])
            snprintf(why, sizeof why, "handshake failed (%s)",
                     e == SSL_ERROR_SYSCALL ? "connection closed" : "TLS error");
    }
    tls_fail(w, c, now, why);
}

/* TCP is up: start TLS. */
static void tls_start(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    const mt_run_config_t *cfg = &w->run->cfg;
    c->ssl = mt__tls_new(cfg->tls, w, c, true);
    if (!c->ssl) {
        char why[160];
        mt__tls_reason(why, sizeof why);
        tls_fail(w, c, now, why[0] ? why : "cannot create a TLS connection");
        return;
    }
    c->tls_start = now;
    c->state = MT__CONN_HANDSHAKE;
    tls_handshake(w, c, now);
}

/* Remove an idle connection from the idle stack (the server closed it). */
static void idle_remove(mt__worker_t *w, mt__conn_t *c)
{
    mt__conn_t **pp = &w->idle;
    while (*pp && *pp != c)
        pp = &(*pp)->next_idle;
    if (*pp)
        *pp = c->next_idle;
}

/* A connection without a request went away (server closed an idle keep-alive socket). */
static void conn_lost(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    if (c->h2) {
        mt__h2_conn_fail(w, c, MT_ERR_CLOSED, 0, now);
        return;
    }
    if (c->state == MT__CONN_IDLE && mt__open_model(w))
        idle_remove(w, c);
    mt__conn_close(w, c);
    conn_next(w, c, now);
}

static int only_crlf(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != '\r' && b[i] != '\n')
            return 0;
    return 1;
}

/* n > 0 bytes of c's stream at buf, arrived at `at` (`user`: by the user-space clock), read at
 * now; peer_closed: the peer has closed (do not reuse the connection). Returns MT__DATA_STOP
 * (the connection was handled: failed, done or closed), MT__DATA_MORE (read on) or
 * MT__DATA_SHORT (read on unless this read drained the socket). */
int mt__conn_data(mt__worker_t *w, mt__conn_t *c, const char *buf, size_t n, int64_t at, int user,
                  int64_t now, int peer_closed)
{
    if ((c->state != MT__CONN_WAITING && c->state != MT__CONN_SENDING) || c->resp_early) {
        /* bytes nobody asked for */
        w->slot->c.bytes_in += (uint64_t)n;
        if (c->state == MT__CONN_IDLE && only_crlf(buf, n))
            return MT__DATA_MORE; /* a stray CRLF after a response: ignored */
        if (c->has_req)
            request_fail(w, c, MT_ERR_PROTOCOL, EPROTO, now);
        else
            conn_lost(w, c, now);
        return MT__DATA_STOP;
    }
    BOTH(w, c->req->tag, ct_->bytes_in += (uint64_t)n);
    /* a stray CRLF left by the previous response, arriving after the next request
     * went out: skipped, as a server skips empty lines before a request (RFC 9112
     * 2.2); it is not part of this response */
    size_t skip = 0;
    if (c->rbytes == 0)
        while (skip < n && (buf[skip] == '\r' || buf[skip] == '\n'))
            skip++;
    if (skip == n)
        return MT__DATA_SHORT;
    const char *data = buf + skip;
    size_t len = n - skip;
    c->rbytes += len;
    size_t used = 0;
    int rc = mt_h1_resp_feed(&c->resp, data, len, &used);
    if (__builtin_expect(w->script != NULL, 0)) {
        rc = script_feed(w, c, &data, &len, &used, rc, at);
        if (w->err)
            return MT__DATA_STOP;
    }
    /* time to first byte ends at the final response, not at a 1xx (103 Early Hints) */
    if (!c->first_byte && mt_h1_resp_final_started(&c->resp))
        c->first_byte = at;
    if (rc == MT_OK) {
        /* bytes after a complete response: a stray CRLF is discarded, and so is
         * anything after a response that ends the connection (RFC 9112 6.3); more
         * on a keep-alive connection is a server bug */
        if (used != len && mt_h1_resp_keep_alive(&c->resp) && !only_crlf(data + used, len - used)) {
            request_fail(w, c, MT_ERR_PROTOCOL, EPROTO, now);
            return MT__DATA_STOP;
        }
        if (used != len && !mt_h1_resp_keep_alive(&c->resp))
            peer_closed = 1; /* do not reuse it */
        request_done(w, c, at, user, now, peer_closed);
        return MT__DATA_STOP;
    }
    if (rc != MT_EAGAIN) {
        request_fail(w, c, MT_ERR_PROTOCOL, EPROTO, now);
        return MT__DATA_STOP;
    }
    return MT__DATA_SHORT;
}

/* The end of c's stream, seen at now. */
void mt__conn_eof(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    if (c->has_req && (c->state == MT__CONN_WAITING || c->state == MT__CONN_SENDING)) {
        if (!c->resp_early && c->rbytes && mt_h1_resp_eof(&c->resp) == MT_OK) {
            request_done(w, c, now, 1, now, 1); /* close-delimited body: EOF's time */
            return;
        }
        if (c->werr)
            request_fail(w, c, err_kind(c->werr), c->werr, now);
        else
            request_fail(w, c, MT_ERR_CLOSED, 0, now);
        return;
    }
    conn_lost(w, c, now); /* idle keep-alive socket closed: not an error */
}

/* A read on c failed with eno (EAGAIN: after a failed write, that write's error). */
void mt__conn_rerr(mt__worker_t *w, mt__conn_t *c, int eno, int64_t now)
{
    if (eno == EAGAIN)
        eno = c->werr;
    if (c->has_req)
        request_fail(w, c, err_kind(eno), eno, now);
    else
        conn_lost(w, c, now);
}

/* ev: the epoll events that woke us. With EPOLLRDHUP/EPOLLHUP the peer has closed: that edge
 * will not come again, so read on to the end of the stream even after a short read, and do
 * not reuse the connection for another request. */
static void conn_readable(mt__worker_t *w, mt__conn_t *c, uint32_t ev)
{
    int peer_closed = (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    for (;;) {
        ssize_t n = mt__conn_io(w, c, 0, w->buf, MT__RECV_BUF);
        if (n == -2) {
            tls_fail(w, c, mt__now(), w->tls_err);
            return;
        }
        int64_t now = mt__now();
        if (n > 0) {
            int user = 1;
            int64_t at = mt__rx_time(c, now, &user);
            int d = mt__conn_data(w, c, w->buf, (size_t)n, at, user, now, peer_closed);
            if (d == MT__DATA_STOP)
                return;
            /* a short read drained the socket (the next arrival raises a new edge); not so
             * with TLS, where one read returns one record: read on until OpenSSL wants more */
            if (d == MT__DATA_SHORT && (size_t)n < MT__RECV_BUF && !peer_closed && !c->ssl)
                return;
            continue;
        }
        if (n == 0) {
            mt__conn_eof(w, c, now);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && !c->werr)
            return;
        mt__conn_rerr(w, c, errno, now);
        return;
    }
}

/* c's TCP connect completed at now: its time and count (both loops). */
static void conn_connected(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    c->connect_end = now;
    BOTH(w, c->req ? c->req->tag : 0, ct_->connects++);
    mt_hist_record_clamped(w->connect, us(now - c->connect_start));
}

/* io_uring: c's connect completed (err: its errno, 0 on success) at now. */
void mt__conn_up(mt__worker_t *w, mt__conn_t *c, int err, int64_t now)
{
    if (err) {
        request_fail(w, c, err_kind(err), err, now);
        return;
    }
    conn_connected(w, c, now);
    conn_ready(w, c);
    if (c->has_req)
        conn_send(w, c, now);
    else
        conn_next(w, c, now);
}

/* io_uring: a send on c completed with res (bytes, or -errno); at: when it was submitted. */
void mt__conn_sent(mt__worker_t *w, mt__conn_t *c, int res, int64_t at)
{
    if (c->state != MT__CONN_SENDING)
        return;
    if (res == 0)
        res = -ECONNRESET;
    if (res < 0) {
        int eno = -res;
        if ((eno == EPIPE || eno == ECONNRESET) && !c->resp_early && !c->werr) {
            /* the server stopped reading: a response it sent first may still be read (the
             * connection's receive completions tell); the failure counts only if none is */
            c->werr = eno;
            c->state = MT__CONN_WAITING;
            return;
        }
        request_fail(w, c, err_kind(eno), eno, mt__now());
        return;
    }
    c->sent += (uint64_t)res;
    BOTH(w, c->req->tag, ct_->bytes_out += (uint64_t)res);
    if (c->sent < c->req->len)
        conn_write(w, c, at);
    else
        conn_written(w, c, at);
}

static void conn_event(mt__worker_t *w, mt__conn_t *c, uint32_t ev)
{
    int64_t now = mt__now();
    if (c->state == MT__CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            request_fail(w, c, err_kind(err), err, now);
            return;
        }
        conn_connected(w, c, now);
        if (w->run->cfg.tls) {
            tls_start(w, c, now);
            return; /* the handshake consumed this edge's readiness */
        }
        conn_ready(w, c);
        if (c->h2) {
            mt__h2_conn_ready(w, c, now);
            return;
        }
        if (c->has_req)
            conn_send(w, c, now);
        else
            conn_next(w, c, now);
        if (c->state == MT__CONN_FREE || c->fd < 0)
            return;
    }
    if (c->state == MT__CONN_HANDSHAKE) {
        tls_handshake(w, c, now);
        return;
    }
    if (c->h2) {
        if (ev & EPOLLOUT)
            mt__h2_writable(w, c);
        if (c->fd >= 0 && c->state == MT__CONN_IDLE &&
            (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
            mt__h2_readable(w, c, ev);
        return;
    }
    if (c->state == MT__CONN_SENDING && (ev & EPOLLOUT)) {
        uint32_t gen = c->gen;
        conn_write(w, c, now);
        /* closed (and maybe reopened for the next request): this event was the old socket's */
        if (c->state == MT__CONN_FREE || c->fd < 0 || c->gen != gen)
            return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        conn_readable(w, c, ev);
}

/* ---- timers --------------------------------------------------------------------------- */

static void check_timers(mt__worker_t *w, int64_t now)
{
    mt__conn_t *c;
    if (w->h2)
        mt__h2_timers(w, now);
    while ((c = list_head(&w->inflight)) && c->deadline <= now) {
        conn_unlink(c);
        if (c->h2)
            mt__h2_conn_fail(w, c, MT_ERR_TIMEOUT, ETIMEDOUT, now);
        else if (c->has_req)
            request_fail(w, c, MT_ERR_TIMEOUT, ETIMEDOUT, now);
        else
            conn_lost(w, c, now);
    }
    while ((c = list_head(&w->retry)) && c->deadline <= now) {
        conn_unlink(c);
        if (!c->delayed) /* a delay() wait keeps its connection */
            c->state = MT__CONN_FREE;
        c->delayed = 0;
        conn_next(w, c, now);
    }
}

/* Releases the requests due at or before `until` (at time now >= until). */
static void release_due(mt__worker_t *w, int64_t until, int64_t now)
{
    mt_run_t *r = w->run;
    while (w->next_due <= until) {
        mt__job_t job = {.due = w->next_due, .req = mt__pick_req(w, mt__global_n(r, w->next_n))};
        BOTH(w, req_at(w, job.req)->tag, ct_->due++);
        dispatch(w, job, now);
        w->next_n += (uint64_t)r->nworkers;
        int64_t d;
        if (mt_sched_due(r->cfg.schedule, &w->due_cur, mt__global_n(r, w->next_n), &d) == MT_OK &&
            r->t0 + d < r->t_end)
            w->next_due = r->t0 + d;
        else
            w->next_due = INT64_MAX;
        w->due_gap = w->next_due - job.due;
    }
}

/* ---- loop ----------------------------------------------------------------------------- */

/* The requests sent and not finished that may still finish: a refused one waiting in the
 * backlog does not count (nothing leaves the backlog after the end). */
static uint64_t awaited(const mt__worker_t *w)
{
    return w->pending > w->qretried ? w->pending - w->qretried : 0;
}

/* Is a request of this worker sent (or connecting) and not finished? */
static int in_flight(const mt__worker_t *w)
{
    return awaited(w) > 0 || w->setup > 0 || !list_empty(&w->inflight);
}

/* At exit, what was due and did not finish is counted once, by where it stands. Sent and
 * never answered: abandoned (a request being retried on a new connection was sent once, so
 * it is abandoned too). Never sent - waiting in the backlog for a connection, or on a
 * connection still being opened: dropped (the plan was not carried out), so that due = sent +
 * dropped + the connects that failed, and a server that holds every connection (or is slow
 * to accept) at the end does not make the last due requests vanish from the result. */
static void count_unfinished(mt__worker_t *w)
{
    mt__job_t job;
    while (queue_pop(w, &job))
        mt__stat_unsent(w, job);
    for (uint32_t i = 0; i < w->nconns; i++) {
        mt__conn_t *c = &w->conns[i];
        if (c->h2 || c->fd < 0 || !c->has_req || !c->req)
            continue;
        if (c->send_start) {
            uint32_t n = c->pipe_left > 1 ? c->pipe_left : 1;
            while (n-- > 0)
                mt__stat_abandoned(w, c->req->tag);
        } else if (c->retried) {
            mt__stat_abandoned(w, c->req->tag);
        } else if (mt__open_model(w)) { /* the closed model counts a request due when sent */
            mt__stat_dropped(w, c->req->tag);
        }
    }
    if (w->h2)
        mt__h2_count_unfinished(w);
}

int mt__worker_init(mt__worker_t *w, mt_run_t *r, int id)
{
    int rc = MT_ENOMEM;
    memset(w, 0, sizeof *w);
    w->run = r;
    w->id = id;
    w->ep = -1;
    int T = r->nworkers;
    w->nconns = (uint32_t)(r->cfg.connections / T + (id < r->cfg.connections % T ? 1 : 0));
    list_init(&w->inflight);
    list_init(&w->retry);
    w->conns = calloc(w->nconns ? w->nconns : 1, sizeof *w->conns);
    w->buf = malloc(MT__RECV_BUF);
    if (!w->conns || !w->buf)
        goto out;
    for (uint32_t i = w->nconns; i-- > 0;) {
        w->conns[i].fd = -1;
        w->conns[i].next_idle = w->unused;
        w->unused = &w->conns[i];
    }
    if (r->cfg.schedule) {
        w->qcap = r->cfg.max_queue / (uint64_t)T + 1;
        w->queue = malloc(w->qcap * sizeof *w->queue);
        if (!w->queue)
            goto out;
    }
    w->rng = r->cfg.seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1));
    if (r->cfg.trace) { /* trace ids: fresh randomness per worker, never the ammo seed */
        if (getrandom(w->trace_rng, sizeof w->trace_rng, 0) != (ssize_t)sizeof w->trace_rng) {
            w->trace_rng[0] = (uint64_t)mt__now() ^ 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1);
            w->trace_rng[1] = (uint64_t)(uintptr_t)w ^ 0xD1B54A32D192ED03ULL;
        }
        if (!w->trace_rng[0] && !w->trace_rng[1])
            w->trace_rng[1] = 1;
    }
    w->kts = !r->cfg.no_kernel_ts;
    w->batch = w->kts && r->cfg.send_tolerance_ns > 0;
    w->script = r->cfg.script;
    if (w->script && w->script->address) {
        uint32_t len = 0;
        if (w->script->address(w->script->ud, id, &w->addr, sizeof w->addr, &len) == 1 &&
            len <= sizeof w->addr)
            w->addrlen = (socklen_t)len;
    }
    if (r->cfg.on_records) {
        w->ring = malloc(MT__RING * sizeof *w->ring);
        if (!w->ring)
            goto out;
    }
    if (mt_hist_new_latency(&w->connect) || mt_hist_new_latency(&w->tls) ||
        mt_hist_new_latency(&w->send) || mt_hist_new_latency(&w->wait) ||
        mt_hist_new_latency(&w->recv))
        goto out;
    if (r->cfg.http2 && (rc = mt__h2_init(w)) != MT_OK)
        goto out;
    rc = MT_ENOMEM;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0) {
        rc = MT_ESYS;
        goto out;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, r->stop_fd, &ev) < 0) {
        rc = MT_ESYS;
        goto out;
    }
    rc = MT_OK;
out:
    return rc;
}

void mt__worker_dispose(mt__worker_t *w)
{
    if (w->conns) {
        for (uint32_t i = 0; i < w->nconns; i++) {
            SSL_free(w->conns[i].ssl);
            if (w->conns[i].fd >= 0)
                close(w->conns[i].fd);
            free(w->conns[i].sbuf);
            free(w->conns[i].tbuf);
            free(w->conns[i].rbuf);
        }
    }
    if (w->tls_sess)
        SSL_SESSION_free(w->tls_sess);
    mt__h2_dispose(w);
    if (w->ep >= 0)
        close(w->ep);
    free(w->conns);
    free(w->buf);
    free(w->queue);
    free(w->ring);
    mt_hist_free(w->connect);
    mt_hist_free(w->tls);
    mt_hist_free(w->send);
    mt_hist_free(w->wait);
    mt_hist_free(w->recv);
    memset(w, 0, sizeof *w);
    w->ep = -1;
}

void *mt__worker_main(void *arg)
{
    mt__worker_t *w = arg;
    mt_run_t *r = w->run;
    struct epoll_event events[MT__MAX_EVENTS];

    /* the default 50 us timer slack would delay every due-time wake-up */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    w->cpu_ns = thread_cpu_ns();
    w->next_boundary = r->t0 + MT__NS_PER_S;
    w->slot = mt__slot_get(r);
    if (!w->slot) {
        w->err = MT_ENOMEM;
        goto out;
    }
    if (mt__ur_applies(&r->cfg)) {
        int urc = mt__ur_init(w);
        if (urc != MT_OK && r->cfg.io == MT_IO_URING) { /* asked for: no quiet fallback */
            w->err = urc;
            goto out;
        }
    }
    int64_t now = mt__now();
    if (r->cfg.schedule) {
        int64_t d;
        w->next_n = (uint64_t)w->id;
        if (mt_sched_due(r->cfg.schedule, &w->due_cur, mt__global_n(r, w->next_n), &d) == MT_OK &&
            r->t0 + d < r->t_end)
            w->next_due = r->t0 + d;
        else
            w->next_due = INT64_MAX;
    } else {
        w->next_due = INT64_MAX;
        while (w->unused) {
            mt__conn_t *c = w->unused;
            w->unused = c->next_idle;
            c->state = MT__CONN_FREE;
            conn_next(w, c, now);
            if (!w->slot)
                break;
        }
    }

    int idle = 0; /* the last timed batch found no event: wait for one instead */
    /* after t_end no request starts; the loop goes on until the requests in flight are
     * answered (or fail, or time out) or the grace is over: they count in the last second */
    int64_t grace_end = r->t_end + (r->cfg.grace_ns > 0 ? r->cfg.grace_ns : 0);
    while (!r->stopping && !w->err) {
        if (w->kts)
            rt_off_update();
        now = mt__now();
        /* requests due in a closing second count in it even when this wake-up came late */
        while (now >= w->next_boundary && now < r->t_end && w->slot) {
            release_due(w, w->next_boundary - 1, now);
            roll_seconds(w, w->next_boundary);
        }
        if (!w->slot)
            break;
        /* every request due before the end is released, even if this wake-up came late */
        release_due(w, now, now);
        if (now >= r->t_end && (now >= grace_end || !in_flight(w)))
            break;
        check_timers(w, now);
        if (now >= r->t_end && !in_flight(w))
            break; /* the last ones timed out */
        /* the grace: how many are awaited, for on_finishing (mt_run_exec's thread) */
        if (now >= r->t_end)
            atomic_store_explicit(&w->pub_pending, awaited(w), memory_order_relaxed);

        /* batched waits (docs/adr/0037-kernel-timestamps.md): a send due at t leaves by
         * t + tol, and the responses that arrive meanwhile wait for that wake-up (timed by
         * the kernel, they lose nothing but the connection's idle time) */
        int64_t tol = w->batch ? r->cfg.send_tolerance_ns : 0;
        /* a batch must not slow the load down: in the closed model each connection's next
         * request waits for the batch, so a batch is at most 1/8 of the service time (none
         * below MT__MIN_BATCH_NS: a sleep would cost more than it saves); in the open model a
         * request waiting in the backlog for a connection makes waits exact */
        int64_t wait_tol = tol;
        if (!mt__open_model(w) && wait_tol > w->svc_avg / 8)
            wait_tol = w->svc_avg / 8;
        if (wait_tol < MT__MIN_BATCH_NS || w->qlen > 0)
            wait_tol = 0;
        int64_t wake = w->next_boundary;
        if (r->t_end < wake)
            wake = r->t_end;
        if (now >= r->t_end) /* the grace: no second rolls, nothing falls due */
            wake = grace_end;
        if (w->next_due < wake) {
            int64_t tick = r->cfg.tick_ns, due = w->next_due;
            if (tick > 0) /* batch due requests: sleeping costs more than a send */
                due = r->t0 + ((due - r->t0 + tick - 1) / tick) * tick;
            due = mt__send_wake(due, w->due_gap, tol, w->late); /* several sends per tol */
            if (due < wake)
                wake = due;
        }
        mt__conn_t *h = list_head(&w->inflight);
        if (h && h->deadline < wake)
            wake = h->deadline;
        h = list_head(&w->retry);
        if (h && h->deadline < wake)
            wake = h->deadline;
        if (w->h2) {
            int64_t d = mt__h2_next_deadline(w);
            if (d < wake)
                wake = d;
        }
        if (w->ur) { /* io_uring (uring.c): the same waits, submissions and completions batched */
            if (mt__ur_wait(w, wake, wait_tol) != MT_OK) {
                w->err = MT_ESYS;
                break;
            }
            continue;
        }
        int64_t t = mt__now();
        int n;
        if (w->pending && wait_tol > 0 && w->setup == 0 && !idle) {
            /* responses are awaited: sleep through them (their bytes carry the kernel's time)
             * and collect them in one batch at most tol from now; no look before the sleep
             * (one system call less per wake-up: an answer already there loses nothing but
             * its connection's idle time) */
            if (wake > t + wait_tol)
                wake = t + wait_tol;
            if (wake > t) {
                struct timespec at = {.tv_sec = wake / MT__NS_PER_S,
                                      .tv_nsec = wake % MT__NS_PER_S};
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
                    ;
                w->late += (mt__now() - wake - w->late) / 16; /* how late sleeps wake */
            }
            n = epoll_wait(w->ep, events, MT__MAX_EVENTS, 0);
            idle = n == 0; /* a batch that found nothing: the server is slow, block next */
        } else {
            /* nothing pending (or a connection is being set up: its times are the user
             * clock's): wake at the first event */
            int64_t wait = wake - t;
            if (wait < 0)
                wait = 0;
            struct timespec ts = {.tv_sec = wait / MT__NS_PER_S, .tv_nsec = wait % MT__NS_PER_S};
            n = epoll_pwait2(w->ep, events, MT__MAX_EVENTS, &ts, NULL);
            idle = 0;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            w->err = MT_ESYS;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag == UINT64_MAX)
                continue; /* stop_fd: the loop condition sees it */
            mt__conn_t *c = &w->conns[(uint32_t)tag];
            if (c->fd < 0 || c->gen != (uint32_t)(tag >> 32))
                continue; /* closed (or reopened) earlier in this batch */
            conn_event(w, c, events[i].events);
            if (!w->slot)
                break;
        }
    }
    /* deadlines that passed inside the run (or its grace) are timeouts even if the loop saw
     * them late; requests still in flight now are abandoned (counted), not failed */
    now = mt__now();
    int64_t last = r->stopping ? r->t_end : grace_end; /* no grace after a stop */
    if (w->slot)
        check_timers(w, now < last ? now : last);
    if (w->slot)
        count_unfinished(w);
    atomic_store_explicit(&w->pub_pending, 0, memory_order_relaxed);
    if (w->slot)
        finish_seconds(w, now < r->t_end ? now : r->t_end);
out:
    mt__ur_free(w); /* in this thread: the ring is bound to it */
    pthread_mutex_lock(&r->mu);
    r->done[w->id] = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}
