/* The built-in target server's internals, shared by its files:
 *
 *   target.c   life cycle: configuration, prepared responses, listeners, threads, totals
 *   loop.c     the per-thread event loop: epoll, the timer heap, the ready list, accepting,
 *              reading and a connection's turn
 *   plan.c     the response plan: a request-target to what is answered (HTTP/1 and HTTP/2)
 *   h1.c       HTTP/1: parsing request heads, queueing responses as segments, writing them
 *   h2.c       HTTP/2: nghttp2 server sessions, one timer per stream
 *   tlsio.c    TLS: the sniff and handshake, reads, and staged writes (also HTTP/2's)
 *   control.c  the /__mortar/ endpoints: counters as JSON, reset
 *   behave.c   (pure) query parameters, the PRNG and outcomes, head formatting
 *   tls.c      the TLS context and the self-signed certificate
 *
 * Each worker thread owns an epoll set with its own SO_REUSEPORT listener and its connections;
 * nothing is shared on the hot path except read-only prepared data and, when --stall is used,
 * the time of the first request (written once). Sockets are registered once, edge-triggered,
 * for reading and writing.
 *
 * A connection reads into a fixed buffer, parses every complete request in it, queues the
 * responses as segments (prepared heads, a per-connection scratch area for formatted heads,
 * a shared filler buffer for bodies) and writes them with one sendmsg. A response that is not
 * due yet (delay=, --stall) parks the connection in the worker's timer heap; requests behind
 * it stay unparsed in the buffer (or the socket) until it has been answered. A throttled
 * response (slow=) is written a slice per timer tick from the same heap.
 *
 * Faults: a reset flushes what is queued, then closes with SO_LINGER {1, 0} (an RST); a
 * malformed response is one of four prepared byte strings, then the connection is closed.
 *
 * Counters are per worker (plain loads and stores of relaxed atomics: no locked instruction on
 * the hot path); /__mortar/stats sums them with relaxed loads. /__mortar/reset does not write
 * other threads' counters: it records a baseline that later sums subtract.
 *
 * TLS and HTTP/2 (ADR 0016): with TLS configured, a connection whose first byte is 0x16 gets an
 * SSL (non-blocking handshake, reads and writes retried on the next epoll event) and an xconn
 * whose staging buffer turns queued segments (HTTP/1.1) or nghttp2's frames (HTTP/2) into large
 * writes. HTTP/2 (ALPN h2, or the client preface on the first bytes) runs an nghttp2 server
 * session: :path is resolved into the same plan as an HTTP/1 request-target, and each stream
 * has its own entry in the timer heap (delays, stalls, throttled DATA), so no stream waits for
 * another.
 *
 * Types here are private to src/target (short names); functions shared across its files are
 * mt__tgt_*. */
#ifndef MT_TARGET_INTERNAL_H
#define MT_TARGET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "mortar/error.h"
#include "mortar/target.h"
#include "proto/http1_req.h"
#include "target/behave.h"
#include "util/list.h"

#define NS_PER_S         1000000000ll
#define RBUF             MT_TARGET_RECV_BUF
#define OUT_SEGS         32   /* queued response segments per connection */
#define SEGS_PER_RESP    3    /* 100 Continue + head + body */
#define SCRATCH          2048 /* formatted heads (and error bodies) waiting to be written */
#define SCRATCH_PER_RESP (MT__TGT_HEAD_MAX + MT__TGT_MSG_MAX + 64)
#define MAX_IOV          64
#define FILLER           (64 * 1024) /* bodies are slices of this many 'x' */
#define INLINE_MAX       (16 * 1024) /* default bodies up to this size are stored after their head */
#define MAX_EVENTS       256
#define ROUNDS           8              /* reads per connection before others get a turn */
#define LINGER_NS        (2 * NS_PER_S) /* after our last response, wait for the peer's FIN this long */
#define ACCEPT_RETRY_NS  (10 * 1000 * 1000ll) /* after EMFILE and friends */
#define FREE_KEEP        1024                 /* closed connections kept for reuse per worker */
#define NOT_IN_HEAP      UINT32_MAX
#define SLOW_TICK_NS     (10 * 1000 * 1000ll) /* a throttled response is written every 10 ms */
#define OVERSIZED_LINES  66           /* malformed oversized head: 66 lines of 1 KiB, past 64 KiB */
#define STATS_MAX        (32 * 1024)  /* the stats JSON (at most ~13 KiB with every status) */
#define NSTATUS          900          /* per-status counters for 100..999 */
#define OBUF             (32 * 1024)  /* TLS and HTTP/2: bytes staged for one write */
#define H2_READ          (16 * 1024)  /* HTTP/2: bytes read at once */
#define XFREE_KEEP       256          /* TLS/HTTP/2 connection states kept for reuse per worker */
#define SFREE_KEEP       4096         /* HTTP/2 stream states kept for reuse per worker */
#define H2_MAX_HEADERS   (128 * 1024) /* largest header block sent (the oversized malformed kind) */

enum { K_LISTEN = 1, K_STOP, K_CONN };

/* An entry of the worker's timer heap: a connection's (delay, stall, throttle, linger) or an
 * HTTP/2 stream's (delay, stall, throttle). */
enum { TM_CONN, TM_STREAM };
typedef struct tmr {
    int64_t due;
    uint32_t idx; /* position in the heap, NOT_IN_HEAP if not there */
    uint8_t kind;
} tmr_t;

typedef struct tag {
    uint8_t kind;
} tag_t;

enum seg_kind {
    S_MEM,     /* p, len */
    S_FILL,    /* len bytes of the shared filler */
    S_CHUNKED, /* the last len wire bytes of a chunked body of u.body payload bytes */
};
enum { SF_UNCOUNTED = 1, SF_OWNED = 2 }; /* not in bytes_sent; u.own is freed once written */

typedef struct seg {
    const char *p; /* S_MEM: the rest to write */
    uint64_t len;  /* bytes left to write */
    union {
        uint64_t body; /* S_CHUNKED */
        void *own;     /* S_MEM with SF_OWNED: the allocation to free */
    } u;
    uint8_t kind;
    uint8_t flags;
    char tail[6]; /* S_CHUNKED: size line of the last, shorter chunk */
} seg_t;

enum phase {
    P_HEAD,    /* reading a request head */
    P_BODY,    /* discarding a request body (body_left may be 0: the request is complete) */
    P_PARKED,  /* complete, response not due yet: in the timer heap */
    P_CLOSING, /* last response queued: flush, then shut down */
    P_LINGER,  /* shut down for writing: draining the peer until its FIN (in the timer heap) */
    P_RESET,   /* reset instead of answering: flush what is queued, then RST */
    P_H2,      /* HTTP/2: the session decides (h2_run) */
};

enum body { B_DEFAULT, B_FILL, B_TEXT };

enum act {
    A_RESPOND,   /* an ordinary response (also 400 for bad parameters) */
    A_BAD,       /* a malformed request: answer and close (not counted in closes) */
    A_RESET,     /* reset instead of a response */
    A_MALFORMED, /* a malformed response, then close */
    A_STATS,     /* /__mortar/stats */
    A_ZERO,      /* /__mortar/reset */
    A_NOTFOUND,  /* another /__mortar/ path */
};

/* The response plan: what a request (an HTTP/1 request or an HTTP/2 stream) is to be answered
 * with, decided once from its request-target by mt__tgt_plan_request and acted on by the
 * protocol's writer (h1.c respond, h2.c mt__tgt_h2_respond). */
typedef struct mt__tgt_plan {
    int64_t delay_ns;
    uint64_t size;     /* B_FILL */
    uint64_t slow_bps; /* 0: unthrottled */
    uint16_t status;
    uint8_t body;
    uint8_t action; /* enum act */
    uint8_t conn;   /* MT__TGT_CONN_* (HTTP/1 only) */
    uint8_t chunked;
    uint8_t head_only;
    uint8_t close_after;
    uint16_t textlen;
    char text[MT__TGT_MSG_MAX];
} mt__tgt_plan_t;

typedef struct conn {
    tag_t tag; /* first: epoll data points here */
    uint8_t phase;
    uint8_t readable; /* edge seen and the socket not drained yet */
    uint8_t rdhup;    /* the peer's FIN was signalled: read to EOF */
    uint8_t eof;      /* read returned 0 */
    uint8_t in_ready; /* on the worker's ready list */
    uint8_t used;     /* a request head has been seen */
    uint8_t sniff;    /* TLS is configured: peek at the first byte (0x16: a TLS handshake) */
    int fd;
    tmr_t tm;
    struct xconn *x;  /* TLS and/or HTTP/2 state; NULL for cleartext HTTP/1 */
    mt__link_t alink; /* on the worker's list of open, dead or free connections */
    mt__link_t rlink; /* on the worker's ready list (in_ready) */
    mt__h1_req_t req;
    uint64_t body_left;
    uint32_t rpos, rlen, head_start; /* rbuf: [rpos, rlen) unparsed, the head began at head_start */
    uint32_t out_head, out_n, scratch_used;
    uint64_t slow_bps; /* the queue is being written at this rate (0: as fast as it goes) */
    uint64_t slow_sent;
    int64_t slow_t0;
    mt__tgt_plan_t plan; /* for the current request */
    seg_t out[OUT_SEGS];
    char scratch[SCRATCH];
    char rbuf[RBUF];
} conn_t;

#define CONN_OF(m) mt__list_entry(m, conn_t, tm)

/* An HTTP/2 request stream: what it asked for and how far its response is. */
enum { ST_HEAD, ST_WAIT, ST_SENT, ST_DEFER };
typedef struct stream {
    tmr_t tm; /* first: the heap points here */
    conn_t *c;
    mt__link_t link; /* on the connection's streams, or the worker's free list */
    int32_t id;
    uint8_t state; /* ST_*: headers arriving, response not due yet, submitted, throttled */
    uint8_t has_path;
    mt__tgt_plan_t plan;
    uint64_t slow_sent; /* throttled body: bytes sent since slow_t0 (at plan.slow_bps) */
    int64_t slow_t0;
    const char *data; /* the body being sent: NULL for the filler */
    uint64_t blen, boff;
    bool counted; /* body bytes count in bytes_sent */
    char *own;    /* the stats JSON, freed with the stream */
} stream_t;

/* TLS and HTTP/2 state of a connection, allocated when it turns out to need it. */
typedef struct xconn {
    struct worker *w;
    SSL *ssl;            /* NULL: cleartext */
    nghttp2_session *h2; /* NULL: HTTP/1.1 */
    mt__link_t streams;  /* open request streams (stream_t.link) */
    struct xconn *nfree; /* the worker's free list */
    uint32_t nstreams;
    uint8_t hs_done; /* the TLS handshake has completed */
    uint8_t resumed; /* ... by resuming a session */
    uint8_t read_wants_write;
    uint8_t goaway;      /* a GOAWAY has been submitted */
    uint32_t olen, ooff; /* obuf: [ooff, olen) not yet written */
    uint64_t ocounted;   /* HTTP/1 over TLS: bytes of obuf that count in bytes_sent */
    char obuf[OBUF];
} xconn_t;

typedef struct prep {
    char *buf;
    uint32_t head_len;
    uint32_t len; /* head + inline body */
} prep_t;

/* Per-worker counters, one array so summing and baselining are loops. */
enum {
    C_CONNECTIONS,
    C_REQUESTS,
    C_RESPONSES,
    C_BAD_REQUESTS,
    C_BAD_PARAMS,
    C_UNKNOWN_PARAMS,
    C_ACCEPT_ERRORS,
    C_BYTES_IN,
    C_BYTES_OUT,
    C_RESETS,
    C_MALFORMED,
    C_CLOSES,
    C_TLS_FULL,
    C_TLS_RESUMED,
    C_TLS_ERRORS,
    C_H2_CONNS,
    C_H2_STREAMS,
    C_H2_GOAWAYS,
    C_H2_RST,
    C_H2_RST_RECV,
    C_H2_REFUSED,
    C_MAL_KIND,                                /* MT__TGT_MAL_KINDS of them */
    C_STATUS = C_MAL_KIND + MT__TGT_MAL_KINDS, /* status s at C_STATUS + s - 100 */
    NCOUNTERS = C_STATUS + NSTATUS,
};

typedef struct counters {
    _Atomic uint64_t v[NCOUNTERS];
    /* the most concurrent HTTP/2 streams on one connection: generation (of /__mortar/reset)
     * in the high 32 bits, the maximum in the low 32 */
    _Atomic uint64_t h2_max;
} counters_t;

typedef struct worker worker_t;
struct worker {
    struct mt_target *t;
    pthread_t thread;
    int ep, lfd;
    tag_t listen_tag;
    int64_t now;
    int64_t accept_retry; /* 0: none */
    int64_t epoch;        /* cached t->epoch; 0: not seen yet */
    tmr_t **heap;
    uint32_t nheap, heap_cap;
    mt__link_t all;   /* open connections (conn_t.alink) */
    mt__link_t ready; /* connections with work left after their turn (conn_t.rlink), FIFO */
    mt__link_t dead;  /* closed in this batch of events: freed or kept after it (alink) */
    mt__link_t free;  /* closed connections kept for reuse (alink) */
    uint32_t nconns, nfree;
    uint32_t nstreams, nsfree, nxfree; /* HTTP/2 streams open; free stream and xconn states */
    mt__link_t sfree;                  /* free stream states (stream_t.link) */
    xconn_t *xfree;
    uint64_t rng;      /* PRNG state (mt__tgt_rand) */
    unsigned mal_next; /* the next malformed kind */
    counters_t *cnt;   /* written by this thread only; read by any */
    int err;
    bool quit;
};

struct mt_target {
    mt_target_stall_t stalls[MT_TARGET_MAX_STALLS]; /* sorted by start */
    size_t nstalls;
    int nthreads;
    uint16_t port;
    int stop_fd;
    tag_t stop_tag;
    _Atomic int64_t epoch; /* monotonic ns of the first request; 0 until then */
    bool started, joined;
    int nstarted;
    worker_t *workers;
    char *filler;
    char *prep_mem;
    prep_t prep[3]; /* default response by MT__TGT_CONN_* */
    bool default_fill;
    bool default_inline;
    uint64_t default_len;
    mt__tgt_behave_t defaults; /* server-wide behaviour (the CLI flags) */
    bool plain;                /* defaults are the built-in ones: skip parsing bare paths */
    bool strict_params;        /* an unknown query parameter is a 400, not ignored */
    uint64_t seed;
    const char *mal[MT__TGT_MAL_KINDS]; /* malformed responses, prepared */
    size_t mal_len[MT__TGT_MAL_KINDS];
    char *oversized;           /* mal[MT__TGT_MAL_OVERSIZED], allocated */
    pthread_mutex_t base_lock; /* guards base: taken only for /__mortar/ requests */
    bool base_lock_init;
    uint64_t base[NCOUNTERS]; /* counter values at the last /__mortar/reset */
    _Atomic uint32_t gen;     /* /__mortar/reset generation (for the h2_max gauge) */
    SSL_CTX *ssl_ctx;         /* NULL: no TLS */
    bool http2;
    uint32_t h2_max_streams;
    nghttp2_session_callbacks *h2_cbs;
    nghttp2_option *h2_opt;
    nghttp2_nv *h2_mal_nv[MT__TGT_MAL_KINDS]; /* malformed responses over HTTP/2 */
    size_t h2_mal_nvlen[MT__TGT_MAL_KINDS];
    char *h2_pad_names; /* the oversized kind's header names */
};

/* ---- counters (per worker: written by its thread only) ---------------------------------- */

/* A relaxed load and store (a plain add on x86) suffice; readers on other threads load them
 * relaxed. */
static inline void mt__tgt_bump(worker_t *w, int i, uint64_t n)
{
    _Atomic uint64_t *c = &w->cnt->v[i];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* A relaxed decrement. */
static inline void mt__tgt_unbump(worker_t *w, int i)
{
    mt__tgt_bump(w, i, UINT64_MAX);
}

static inline void mt__tgt_bump_status(worker_t *w, unsigned status)
{
    if (status >= 100 && status < 100 + NSTATUS)
        mt__tgt_bump(w, C_STATUS + (int)status - 100, 1);
}

/* A throttle at bps bytes/s started at t0 and has sent `sent`: the bytes it may write at now
 * (one 10 ms tick's worth at the start, then the rate), and when to look again if none. */
static inline uint64_t mt__tgt_rate_budget(int64_t now, uint64_t bps, uint64_t sent, int64_t t0)
{
    uint64_t dt = (uint64_t)(now - t0);
    uint64_t burst = bps / 100 > 0 ? bps / 100 : 1;
    uint64_t allowed = burst + bps * (dt / NS_PER_S) + bps * (dt % NS_PER_S) / NS_PER_S;
    return allowed > sent ? allowed - sent : 0;
}

/* The next tick, or the next byte if that is later. */
static inline int64_t mt__tgt_rate_next(int64_t now, uint64_t bps)
{
    int64_t per_byte = (int64_t)((NS_PER_S + bps - 1) / bps);
    return now + (per_byte > SLOW_TICK_NS ? per_byte : SLOW_TICK_NS);
}

/* ---- loop.c ------------------------------------------------------------------------------ */

/* The worker thread's body (pthread_create's start routine; arg is its worker_t). */
void *mt__tgt_worker_main(void *arg);
/* CLOCK_MONOTONIC in ns. The loop caches it in w->now once per batch of events. */
int64_t mt__tgt_now(void);
/* (Re)arms a connection's or stream's one timer; removes it from the heap. */
void mt__tgt_timer_set(worker_t *w, tmr_t *m, int64_t due);
void mt__tgt_timer_cancel(worker_t *w, tmr_t *m);
/* Room in the heap for one timer per connection and stream (and one more). */
bool mt__tgt_heap_reserve(worker_t *w);
/* Gives the connection another turn after the others (it had more to do than one turn). */
void mt__tgt_ready_add(worker_t *w, conn_t *c);
/* Closes the socket and releases what the connection holds; the memory is reused or freed
 * after the current batch of events. Idempotent. */
void mt__tgt_conn_close(worker_t *w, conn_t *c);
/* A connection's turn: read, parse, answer, write, as far as it can go now. */
void mt__tgt_conn_run(worker_t *w, conn_t *c);
/* Shut down for writing: drains the peer until its FIN. */
void mt__tgt_linger_read(worker_t *w, conn_t *c);
/* Frees a worker's kept connection, stream and xconn states (at mt_target_free). */
void mt__tgt_worker_dispose(worker_t *w);

/* ---- plan.c ------------------------------------------------------------------------------ */

/* The plan's outcome fields to an ordinary 200 with the default body, no delay (head_only,
 * conn and close_after are the protocol's and are left alone). */
void mt__tgt_plan_reset(mt__tgt_plan_t *p);
/* Resolves a request-target into p, for HTTP/1 and HTTP/2 alike: a /__mortar/ path sets the
 * control action (and, on a connection's first request, takes the connection out of the
 * counters); any other request is counted and its outcome drawn from its query over the
 * server's defaults (a bad parameter: 400 with a one-line text; an unknown one: ignored and
 * counted, or a 400 with --strict-params). close=1 sets close_after and conn. Returns true
 * if the request counts (it is not a /__mortar/ request). */
bool mt__tgt_plan_request(worker_t *w, conn_t *c, bool first, mt__tgt_plan_t *p, const char *target,
                          size_t len);
/* When the planned response is due: now plus its delay, pushed past any --stall that holds
 * it (/__mortar/ responses are neither stalled nor start the stall clock). A delay counts
 * from a clock read for this request, not the batch's cached w->now: a batch of TLS
 * handshakes (or a preemption) before the request was read would shorten it. */
int64_t mt__tgt_plan_due(worker_t *w, const mt__tgt_plan_t *p);
/* The connection's first request went to /__mortar/: it is not counted anywhere. */
void mt__tgt_uncount_conn(worker_t *w, conn_t *c);

/* ---- h1.c -------------------------------------------------------------------------------- */

/* Parses and answers what the connection's buffer holds, as far as its state allows. */
void mt__tgt_h1_process(worker_t *w, conn_t *c);
/* Queues the response for the current request (a parked one whose time has come). */
void mt__tgt_h1_respond(worker_t *w, conn_t *c);
/* Writes queued segments. MT_OK: all written; MT_EAGAIN: the socket is full (EPOLLOUT will
 * resume) or the queue is throttled (its timer will); else the connection is broken. */
int mt__tgt_flush(worker_t *w, conn_t *c);
/* Frees what queued segments own (the stats JSON) and empties the queue. */
void mt__tgt_drop_output(conn_t *c);
/* Describes a segment as iovecs: at most max of them, at most limit bytes (added to *total). */
size_t mt__tgt_seg_iov(const seg_t *s, const char *filler, struct iovec *iov, size_t max,
                       uint64_t limit, uint64_t *total);
/* The queue is fully written: rewind it, stop a throttle's timer. */
void mt__tgt_output_done(worker_t *w, conn_t *c);

/* ---- h2.c -------------------------------------------------------------------------------- */

/* The callbacks, options and malformed responses every session shares (at mt_target_new). */
int mt__tgt_h2_init(struct mt_target *t);
void mt__tgt_h2_dispose(struct mt_target *t);
/* The connection speaks HTTP/2 from here on; data: bytes already read (the preface...). */
void mt__tgt_h2_start(worker_t *w, conn_t *c, const char *data, size_t len);
/* An HTTP/2 connection's turn: write what the session has, read and feed it what came. */
void mt__tgt_h2_run(worker_t *w, conn_t *c);
/* A stream's timer: its response is due, or its throttled body may go on. */
void mt__tgt_stream_fire(worker_t *w, stream_t *s);
void mt__tgt_stream_release(worker_t *w, conn_t *c, stream_t *s);

/* ---- tlsio.c ----------------------------------------------------------------------------- */

xconn_t *mt__tgt_xconn_get(worker_t *w);
/* Releases c->x (its streams, session and SSL) and sets it to NULL. */
void mt__tgt_xconn_release(worker_t *w, conn_t *c);
/* SSL_read into buf: > 0 bytes, 0 the peer closed, MT_EAGAIN (readable cleared), or an
 * error (the connection is to be closed). */
int mt__tgt_tls_read(worker_t *w, conn_t *c, char *buf, size_t len);
/* mt__tgt_flush for connections with TLS or HTTP/2: stage, then write, until nothing is left. */
int mt__tgt_xflush(worker_t *w, conn_t *c);
/* Before HTTP: the TLS sniff and handshake, and HTTP/2 connections. Returns true if it has
 * handled this turn, false if the HTTP/1 loop should run (cleartext, or TLS established). */
bool mt__tgt_tls_run(worker_t *w, conn_t *c);

/* ---- control.c --------------------------------------------------------------------------- */

/* enum act for a request-target under /__mortar/, A_RESPOND for any other. */
int mt__tgt_control_path(const char *target, size_t len);
/* The answer to a /__mortar/ request (action A_STATS, A_ZERO or A_NOTFOUND): *status and the
 * body (*data, *len); *json is the stats JSON when the body is JSON (allocated: the caller
 * frees it), NULL for a plain-text body (static). */
void mt__tgt_control_answer(struct mt_target *t, int action, unsigned *status, const char **data,
                            size_t *len, char **json);
/* Sum of all workers' counters (NCOUNTERS of them). */
void mt__tgt_sum_counters(const struct mt_target *t, uint64_t *sum);

#endif
