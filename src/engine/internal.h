/* Engine internals shared by run.c (threads, aggregation) and worker.c (event loop). */
#ifndef MT_ENGINE_INTERNAL_H
#define MT_ENGINE_INTERNAL_H

#include <netdb.h>
#include <sys/types.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "mortar/engine.h"
#include "mortar/http1.h"
#include "util/list.h" /* mt__link_t: timeouts, retries (FIFO: their delays are constant) */

#define MT__NS_PER_S     1000000000LL
#define MT__RECV_BUF     (64 * 1024)
#define MT__MAX_EVENTS   512
#define MT__MIN_BATCH_NS (20 * 1000LL)        /* a shorter batched wait costs more than it saves */
#define MT__RETRY_NS     (10 * 1000 * 1000LL) /* closed model: wait after a failed connect */
#define MT__RING         65536 /* per-worker request records awaiting the aggregator */
#define MT__DRAIN_NS     (20 * 1000 * 1000LL)  /* how often the aggregator drains records */
#define MT__FINISH_NS    (250 * 1000 * 1000LL) /* how often on_finishing is called */
#define MT__RT_STEP_NS   (200 * 1000LL) /* a real-time clock step: stamps of that batch unused */
#define MT__RT_PAIR_NS   (20 * 1000LL)  /* the offset's two clock reads at most this far apart */

/* Statistics of one tag inside a slot. */
typedef struct mt__tagslot {
    mt_counters_t c;
    mt_hist_t *latency;
    mt_hist_t *service;
} mt__tagslot_t;

/* One worker's stats for one second. Allocated once per second at most (from a pool),
 * never per request. Handed to the aggregator at the second boundary. */
typedef struct mt__slot {
    struct mt__slot *next;
    uint32_t index;
    int64_t span_ns;
    mt_counters_t c;
    uint32_t open_conns;
    uint64_t backlog;
    mt_hist_t *latency;
    mt_hist_t *service;
    mt__tagslot_t *tags; /* ntags entries, or NULL */
    /* cfg.trace: this second's slowest and failed sampled requests (mt_exemplars_merge) */
    mt_exemplar_t slow[MT_EXEMPLARS_SLOW], errs[MT_EXEMPLARS_ERR];
    size_t nslow, nerrs;
} mt__slot_t;

typedef struct mt__conn mt__conn_t;

#define MT__TRACED  1 /* the request carries a traceparent header */
#define MT__SAMPLED 2 /* ... with the sampled flag set */

/* A request waiting for a connection: when it was due and which request it is. */
typedef struct mt__job {
    int64_t due;
    uint32_t req;
    uint8_t retried; /* sent once already (an HTTP/2 stream the server refused): its send was
                        counted, so it is not counted again, and abandoned if it never goes */
} mt__job_t;

enum mt__conn_state {
    MT__CONN_FREE = 0, /* no socket */
    MT__CONN_CONNECTING,
    MT__CONN_HANDSHAKE, /* TLS handshake in progress */
    MT__CONN_IDLE,      /* connected, no request */
    MT__CONN_SENDING,   /* request partly written */
    MT__CONN_WAITING,   /* request written, response not complete */
    MT__CONN_RETRY,     /* closed model: waiting to reconnect after a failed connect */
};

struct mt__conn {
    mt__link_t link;       /* in worker's inflight (deadline order) or retry list */
    int64_t deadline;      /* timeout (inflight) or retry time */
    int64_t due;           /* request's due time (open) or start (closed) */
    int64_t connect_start; /* when the socket was opened for this request; 0 if reused */
    int64_t connect_end;
    int64_t tls_start; /* TLS handshake of this request's new connection; 0 if none */
    int64_t tls_end;
    int64_t send_start;
    int64_t send_end;
    int64_t first_byte;
    int64_t rx_ts;           /* kernel receive time (CLOCK_MONOTONIC) of the bytes of this
                              * socket's last read; 0: the read carried no timestamp */
    const mt_request_t *req; /* the attached request */
    mt_h1_resp_t resp;
    SSL *ssl;              /* NULL: plain TCP */
    struct mt__h2conn *h2; /* HTTP/2 session state (h2.c); NULL for HTTP/1 */
    int fd;
    uint32_t gen;    /* bumped on close: tags epoll events to one socket's life */
    uint64_t sent;   /* request bytes written so far */
    uint64_t rbytes; /* response bytes read so far (interim 1xx heads included) */
    uint8_t state;
    uint8_t has_req; /* a request is attached (connecting for it, sending, waiting) */
    uint8_t linked;
    uint8_t resp_early;    /* its response was complete (and counted) before the request was
                            * written in full: the rest is written, then the connection reused */
    uint8_t retried;       /* this request was already retried once on a fresh connection */
    int werr;              /* errno of a failed write while the response may still be readable */
    mt__conn_t *next_idle; /* idle stack (open model) */
    /* scripted requests only (cfg.script; docs/adr/0031-lua-scripts.md) */
    mt_request_t sreq;  /* what req points at: the script's bytes (or sbuf's copy of them) */
    uint32_t pipe_n;    /* requests in sreq (pipelined) */
    uint32_t pipe_left; /* of them, responses not yet complete */
    uint8_t delayed;    /* on the retry list waiting out delay(), not reconnecting */
    char *sbuf;         /* copy of a request()'s bytes; grows, at most the script's limit */
    size_t scap;
    char *rbuf; /* the response's bytes for response(); at most hooks->max_response */
    size_t rlen, rcap;
    uint8_t rtrunc;
    /* cfg.trace (HTTP/1): the attached request's trace context and its bytes with the
     * traceparent header inserted after the request line (tbuf grows once to the longest) */
    uint8_t trace[24]; /* trace id (16) and span id (8) */
    uint8_t tflags;    /* MT__TRACED | MT__SAMPLED */
    mt_request_t treq;
    char *tbuf;
    size_t tcap;
};

typedef struct mt__worker {
    struct mt_run *run;
    int id;
    pthread_t thread;
    int ep;

    /* connections: a fixed array, allocated at start */
    mt__conn_t *conns;
    uint32_t nconns;     /* cap for this worker */
    uint32_t open;       /* sockets open */
    mt__conn_t *idle;    /* open model: idle connections (stack) */
    mt__conn_t *unused;  /* stack of FREE conns (linked through next_idle) */
    mt__link_t inflight; /* requests in flight, by deadline */
    mt__link_t retry;    /* closed model: connections waiting to reconnect */

    /* open model: this worker handles the run's requests m = id, id + T, id + 2T, ... (global
     * request mt__global_n(m): due time and ammo entry) */
    mt_sched_cursor_t due_cur;
    uint64_t next_n;
    int64_t next_due; /* INT64_MAX when the schedule is exhausted */
    int64_t late;     /* moving average of how late a timed sleep wakes up (ns) */
    int64_t due_gap;  /* next_due - the previous due time: batched waits only below the tolerance */
    mt__job_t *queue; /* ring of due-but-unsent requests */
    uint64_t qcap, qhead, qlen;
    uint64_t qretried; /* of qlen, jobs sent once already (counted in pending) */
    uint64_t seq;      /* closed model: requests started (sequential ammo order) */
    uint64_t rng;      /* random ammo order */

    /* per-second stats */
    mt__slot_t *slot;
    int64_t next_boundary;
    uint32_t second;
    int64_t cpu_ns; /* this thread's CPU clock when its last second was published */

    /* whole-run breakdown histograms (merged by the aggregator after the run) */
    mt_hist_t *connect, *tls, *send, *wait, *recv;
    uint32_t max_open;
    SSL_SESSION *tls_sess;   /* the newest session the server gave us (resumption) */
    char tls_err[160];       /* the first TLS failure's reason */
    struct mt__h2worker *h2; /* HTTP/2 streams (h2.c); NULL for HTTP/1 */

    /* request records for the aggregator: single producer (this worker), single consumer */
    mt_req_record_t *ring;
    _Atomic uint64_t rhead, rtail;
    uint64_t rdropped;

    const mt_script_hooks_t *script; /* cfg.script: NULL on the unscripted path */
    struct sockaddr_storage addr;    /* the script's thread.addr (addrlen > 0), else the run's */
    socklen_t addrlen;
    uint8_t script_stopped; /* the script called thread:stop() */
    uint64_t trace_rng[2];  /* cfg.trace: xoroshiro128+ state, seeded from getrandom */
    double trace_acc;       /* sampling: the flag is set when this passes 1 (then minus 1) */

    /* kernel timestamps and batched waits (docs/adr/0037-kernel-timestamps.md) */
    int kts;          /* sockets get SO_TIMESTAMPING (RX software): responses timed by the kernel */
    int batch;        /* batched waits: kts on and cfg.send_tolerance_ns > 0 */
    uint32_t setup;   /* sockets connecting or in their TLS handshake: waits stay exact */
    uint64_t pending; /* requests sent and not yet completed or failed: batched waits */
    _Atomic uint64_t pub_pending; /* pending, published during the grace (on_finishing) */
    int64_t svc_avg; /* closed model: moving average of the service time (ns); a batch is at
                      * most an eighth of it, so the connections idle at most that long */
    int64_t rx_at;   /* HTTP/2: arrival of the bytes nghttp2 is parsing (0: none) */
    int rx_user;     /* ... and it is the user-space clock's */

    struct mt__uring *ur; /* the io_uring loop (uring.c, docs/adr/0040-io-uring.md); NULL: epoll */

    char *buf; /* receive buffer, MT__RECV_BUF */
    int err;   /* fatal engine error (MT_ENOMEM, MT_ESYS) */
} mt__worker_t;

struct mt_run {
    mt_run_config_t cfg;
    mt_request_t one; /* cfg.request as a one-entry list when no ammo is given */
    int64_t t0;       /* CLOCK_MONOTONIC ns at start */
    int64_t t0_unix_us;
    int64_t t_end;     /* t0 + duration */
    int64_t finish_at; /* the next on_finishing call (monotonic ns); 0: none made yet */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int have_addr;
    int refused; /* the config's addr_check refused an address */
    int stop_fd; /* eventfd, readable once stop is requested */
    atomic_int stopping;

    mt__worker_t *workers;
    int nworkers;
    int ninit; /* workers initialised (to dispose) */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    mt__slot_t **ready_head, **ready_tail; /* per worker FIFO of finished seconds */
    int *done;                             /* per worker: exited */
    mt__slot_t *pool;                      /* free slots */

    mt_run_result_t result;
    mt_hist_t *latency, *service, *connect, *tls, *send, *wait, *recv;
    mt__slot_t merged;
    mt__tagslot_t *tag_totals;  /* whole run, per tag */
    mt_tag_stats_t *pub_second; /* what mt_second_t.tags points to */
    mt_tag_stats_t *pub_total;  /* what mt_run_result_t.tags points to */
};

/* HTTP/2 (h2.c): one request as HTTP/2 fields, built once at start from its HTTP/1 bytes:
 * :method, :scheme, :authority (from Host), :path, then the other fields lowercased without the
 * connection-specific ones (RFC 9113 8.2.2). Values point into the request's bytes. */
typedef struct mt__h2req {
    nghttp2_nv *nv;
    size_t nnv;
    char *lower; /* a copy of the head holding the lowercased names; free with nv */
    const char *body;
    size_t body_len;
} mt__h2req_t;
int mt__h2_req_build(const mt_request_t *q, int tls, mt__h2req_t *out);
/* Scripts over h2: the length of the first request of a request() result (head and
 * Content-Length body). MT_OK; MT_EEOF: only blank lines are left; else MT_EINVAL. */
int mt__h2_script_next(const char *p, size_t len, size_t *reqlen);
/* Appends n bytes of data to a response kept for a script's response() (*buf of *len bytes in
 * *cap, grown by doubling), at most max in all; past max, or out of memory, *trunc is set. */
void mt__keep(char **buf, size_t *len, size_t *cap, uint8_t *trunc, size_t max, const void *data,
              size_t n);

/* HTTP/2 (h2.c): the worker's streams and the hooks worker.c calls for h2 connections. */
int mt__h2_init(mt__worker_t *w);
void mt__h2_dispose(mt__worker_t *w);
void mt__h2_dispatch(mt__worker_t *w, mt__job_t job, int64_t now);   /* open model */
void mt__h2_conn_open(mt__worker_t *w, mt__conn_t *c, int64_t now);  /* closed model */
void mt__h2_conn_ready(mt__worker_t *w, mt__conn_t *c, int64_t now); /* TCP (+TLS) is up */
void mt__h2_conn_fail(mt__worker_t *w, mt__conn_t *c, int kind, int eno, int64_t now);
void mt__h2_readable(mt__worker_t *w, mt__conn_t *c, uint32_t ev);
void mt__h2_writable(mt__worker_t *w, mt__conn_t *c);
void mt__h2_timers(mt__worker_t *w, int64_t now);
int64_t mt__h2_next_deadline(mt__worker_t *w);
/* At exit: streams sent and never answered (or refused and not sent again) are abandoned;
 * open model, streams waiting for their connection or its stream limit are dropped. */
void mt__h2_count_unfinished(mt__worker_t *w);

/* worker.c's pieces h2.c shares */
void mt__conn_connect(mt__worker_t *w, mt__conn_t *c, int64_t now);
void mt__conn_close(mt__worker_t *w, mt__conn_t *c);
void mt__conn_unlink(mt__conn_t *c);
void mt__conn_retry(mt__worker_t *w, mt__conn_t *c, int64_t at); /* closed model: reconnect at */
void mt__conn_unused(mt__worker_t *w, mt__conn_t *c);            /* open model: slot is free */
ssize_t mt__conn_io(mt__worker_t *w, mt__conn_t *c, int write, void *buf, size_t n);
int mt__queue_pop(mt__worker_t *w, mt__job_t *job);
int mt__queue_push(mt__worker_t *w, mt__job_t job);
int mt__queue_push_front(mt__worker_t *w, mt__job_t job); /* first out (due before the rest) */
uint32_t mt__pick_req(mt__worker_t *w, uint64_t n);
void mt__tls_note(mt__worker_t *w, const char *why);

/* Timing of one request, for the statistics and the per-request record. */
typedef struct mt__reqtimes {
    int64_t due, connect_start, connect_end, tls_start, tls_end;
    int64_t send_start, send_end, first_byte;
    uint64_t sent, rbytes;
    uint16_t tag, status;
    uint8_t trace[24]; /* cfg.trace: trace id and span id */
    uint8_t tflags;    /* MT__TRACED | MT__SAMPLED */
} mt__reqtimes_t;
/* cfg.trace: new ids for a request into trace[24]; returns MT__TRACED, | MT__SAMPLED when the
 * ratio says so. */
uint8_t mt__trace_new(mt__worker_t *w, uint8_t trace[24]);
void mt__stat_sent(mt__worker_t *w, uint16_t tag, int64_t due, int64_t now);
void mt__stat_done(mt__worker_t *w, const mt__reqtimes_t *t, int64_t now);
void mt__stat_fail(mt__worker_t *w, const mt__reqtimes_t *t, int kind, int eno, int64_t now);
void mt__stat_abandoned(mt__worker_t *w, uint16_t tag);
void mt__stat_dropped(mt__worker_t *w, uint16_t tag);
/* A due job that will not be sent: dropped, or abandoned if it was sent once (retried). */
void mt__stat_unsent(mt__worker_t *w, mt__job_t job);

int64_t mt__now(void);

/* The global request number (single-generator order) of this run's m-th request: m itself,
 * or the m-th member of the run's stripe (mortar/split.h). */
static inline uint64_t mt__global_n(const struct mt_run *r, uint64_t m)
{
    const mt_stripe_t *s = r->cfg.stripe;
    if (!s)
        return m;
    return (m / s->nresidues) * s->period + s->residues[m % s->nresidues];
}

static inline int mt__open_model(const mt__worker_t *w)
{
    return w->run->cfg.schedule != NULL;
}

/* May a request start now? Not after the run's end or a stop: during the grace only what was
 * sent (or is on a connection being opened) finishes; the backlog is counted as dropped. */
static inline int mt__may_send(const mt__worker_t *w, int64_t now)
{
    return !w->run->stopping && now < w->run->t_end;
}

/* When to wake up for the send due at `due` (ns) in the open model's batched waits
 * (docs/adr/0037-kernel-timestamps.md): requests falling due `gap` apart (the last gap seen),
 * `tol` the send tolerance, `late` how late this worker's sleeps wake up on average. Below the
 * tolerance one wake-up sends several: it is the due time of the last one that fits in tol,
 * aimed earlier by `late` (at most half the span), so that the first leaves by due + tol and
 * the last on time. Otherwise (or with tol 0) the due time itself. */
static inline int64_t mt__send_wake(int64_t due, int64_t gap, int64_t tol, int64_t late)
{
    if (tol <= 0 || gap >= tol)
        return due;
    int64_t span = gap > 0 ? tol / gap * gap : tol;
    int64_t early = late < span / 2 ? late : span / 2;
    return due + span - (early > 0 ? early : 0);
}
void mt__tls_reason(char *buf, size_t n);
SSL *mt__tls_new(const mt_tls_ctx_t *t, mt__worker_t *w, mt__conn_t *c, bool resume);

/* Kernel receive timestamps (worker.c): recv on a plain socket that also reads the
 * SO_TIMESTAMPING control message into c->rx_ts (0 when the read carried none). */
ssize_t mt__sock_recv(mt__conn_t *c, void *buf, size_t n);
/* The instant the bytes just read from c arrived: the kernel's timestamp when the read had
 * one (never after now), else now. *user is set when it is the user-space clock. */
static inline int64_t mt__rx_time(const mt__conn_t *c, int64_t now, int *user)
{
    *user = c->rx_ts == 0;
    return c->rx_ts && c->rx_ts < now ? c->rx_ts : now;
}
/* The CLOCK_REALTIME - CLOCK_MONOTONIC offset of this thread, refreshed (the loop does it at
 * every wake-up), and the kernel receive time (CLOCK_MONOTONIC) a control message carries
 * (SCM_TIMESTAMPING), 0 if none. */
void mt__rt_off_update(void);
int64_t mt__rx_cmsg(const struct cmsghdr *h);

/* HTTP/1 receive path shared by the epoll and io_uring loops (worker.c) */
enum { MT__DATA_STOP, MT__DATA_MORE, MT__DATA_SHORT };
int mt__conn_data(mt__worker_t *w, mt__conn_t *c, const char *buf, size_t n, int64_t at, int user,
                  int64_t now, int peer_closed);
void mt__conn_eof(mt__worker_t *w, mt__conn_t *c, int64_t now);
void mt__conn_rerr(mt__worker_t *w, mt__conn_t *c, int eno, int64_t now);
void mt__conn_up(mt__worker_t *w, mt__conn_t *c, int err, int64_t now);
void mt__conn_sent(mt__worker_t *w, mt__conn_t *c, int res, int64_t at);

/* The io_uring loop (uring.c): the closed model over plain HTTP/1.1 (no TLS, no HTTP/2, no
 * script). Does the run use it (cfg.io and what it needs)? */
int mt__ur_applies(const mt_run_config_t *cfg);
/* Creates the worker's ring (in the worker's thread): MT_OK, or MT_ESYS when the kernel lacks
 * something it needs (w->ur stays NULL). */
int mt__ur_init(mt__worker_t *w);
/* Submits what is queued, then flushes and frees the ring. */
void mt__ur_free(mt__worker_t *w);
void mt__ur_connect(mt__worker_t *w, mt__conn_t *c, const struct sockaddr_storage *sa,
                    socklen_t len);
void mt__ur_send(mt__worker_t *w, mt__conn_t *c, const char *data, size_t len);
void mt__ur_close(mt__worker_t *w, int fd);
/* One wait: submits the queued operations, waits for completions until wake (batched within
 * tol while responses are awaited) and handles them. MT_OK or MT_ESYS. */
int mt__ur_wait(mt__worker_t *w, int64_t wake, int64_t tol);

void *mt__worker_main(void *arg);
int mt__worker_init(mt__worker_t *w, struct mt_run *r, int id);
void mt__worker_dispose(mt__worker_t *w);
mt__slot_t *mt__slot_get(struct mt_run *r);
void mt__slot_put(struct mt_run *r, mt__slot_t *s);
void mt__slot_publish(struct mt_run *r, int worker, mt__slot_t *s);
int mt__tagslots_new(size_t n, mt__tagslot_t **out);
void mt__tagslots_free(mt__tagslot_t *t, size_t n);

#endif
