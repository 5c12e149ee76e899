/* The built-in target server: life cycle, listeners and the per-thread event loop.
 *
 * Each worker thread owns an epoll set with its own SO_REUSEPORT listener and its connections;
 * nothing is shared on the hot path except read-only prepared data and, when
 * --stall is used, the time of the first request (written once). Sockets are registered once,
 * edge-triggered, for reading and writing.
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
 * session: :path is resolved and drawn like an HTTP/1 request head, and each stream has its own
 * entry in the timer heap (delays, stalls, throttled DATA), so no stream waits for another. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <stddef.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mortar/target.h"
#include "proto/http1_req.h"
#include "target/behave.h"
#include "target/tls.h"

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

static const char k_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

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

/* The response owed for the current request. */
typedef struct pend {
    int64_t delay_ns;
    uint64_t size;     /* B_FILL */
    uint64_t slow_bps; /* 0: unthrottled */
    uint16_t status;
    uint8_t body;
    uint8_t action; /* enum act */
    uint8_t conn;   /* MT__TGT_CONN_* */
    uint8_t chunked;
    uint8_t head_only;
    uint8_t close_after;
    uint16_t textlen;
    char text[MT__TGT_MSG_MAX];
} pend_t;

typedef struct conn {
    tag_t tag; /* first: epoll data points here */
    uint8_t phase;
    uint8_t readable; /* edge seen and the socket not drained yet */
    uint8_t rdhup;    /* the peer's FIN was signalled: read to EOF */
    uint8_t eof;      /* read returned 0 */
    uint8_t in_ready;
    uint8_t used;  /* a request head has been seen */
    uint8_t sniff; /* TLS is configured: peek at the first byte (0x16: a TLS handshake) */
    int fd;
    tmr_t tm;
    struct xconn *x;            /* TLS and/or HTTP/2 state; NULL for cleartext HTTP/1 */
    struct conn *aprev, *anext; /* all open connections; anext also links dead/free lists */
    struct conn *rprev, *rnext; /* ready list */
    mt__h1_req_t req;
    uint64_t body_left;
    uint32_t rpos, rlen, head_start; /* rbuf: [rpos, rlen) unparsed, the head began at head_start */
    uint32_t out_head, out_n, scratch_used;
    uint64_t slow_bps; /* the queue is being written at this rate (0: as fast as it goes) */
    uint64_t slow_sent;
    int64_t slow_t0;
    pend_t pend;
    seg_t out[OUT_SEGS];
    char scratch[SCRATCH];
    char rbuf[RBUF];
} conn_t;

#define CONN_OF(m) ((conn_t *)((char *)(m)-offsetof(conn_t, tm)))

/* An HTTP/2 request stream: what it asked for and how far its response is. */
enum { ST_HEAD, ST_WAIT, ST_SENT, ST_DEFER };
typedef struct stream {
    tmr_t tm; /* first: the heap points here */
    conn_t *c;
    struct stream *prev, *next; /* the connection's streams; next also links the free list */
    int32_t id;
    uint8_t state;  /* ST_*: headers arriving, response not due yet, submitted, throttled */
    uint8_t action; /* enum act */
    uint8_t body;   /* enum body */
    uint8_t head_only, close_after, chunked, has_path;
    uint16_t status;
    uint16_t textlen;
    int64_t delay_ns;
    uint64_t size;
    uint64_t slow_bps, slow_sent;
    int64_t slow_t0;
    const char *data; /* the body being sent: NULL for the filler */
    uint64_t blen, boff;
    bool counted; /* body bytes count in bytes_sent */
    char *own;    /* the stats JSON, freed with the stream */
    char text[MT__TGT_MSG_MAX];
} stream_t;

/* TLS and HTTP/2 state of a connection, allocated when it turns out to need it. */
typedef struct xconn {
    struct worker *w;
    SSL *ssl;            /* NULL: cleartext */
    nghttp2_session *h2; /* NULL: HTTP/1.1 */
    stream_t *streams;   /* open request streams */
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
    conn_t *all, *ready_head, *ready_tail, *dead, *free;
    uint32_t nconns, nfree;
    uint32_t nstreams, nsfree, nxfree; /* HTTP/2 streams open; free stream and xconn states */
    stream_t *sfree;
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

static void xconn_release(worker_t *w, conn_t *c);
static int xflush(worker_t *w, conn_t *c);
static void stream_fire(worker_t *w, stream_t *s);
static void h2_start(worker_t *w, conn_t *c, const char *data, size_t len);
static void linger_read(worker_t *w, conn_t *c);
static void uncount_conn(worker_t *w, conn_t *c);
static void conn_run(worker_t *w, conn_t *c);
static uint64_t slow_budget(const worker_t *w, const conn_t *c);
static int64_t slow_next(const worker_t *w, const conn_t *c);

/* The per-worker counters are written by their thread only, so a relaxed load and store (a
 * plain add on x86) suffice; readers on other threads load them relaxed. */
static inline void bump(worker_t *w, int i, uint64_t n)
{
    _Atomic uint64_t *c = &w->cnt->v[i];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void bump_status(worker_t *w, unsigned status)
{
    if (status >= 100 && status < 100 + NSTATUS)
        bump(w, C_STATUS + (int)status - 100, 1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- timer heap (min-heap on due) ------------------------------------------------------ */

static void heap_set(worker_t *w, uint32_t i, tmr_t *c)
{
    w->heap[i] = c;
    c->idx = i;
}

static void heap_up(worker_t *w, uint32_t i)
{
    tmr_t *c = w->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (w->heap[p]->due <= c->due)
            break;
        heap_set(w, i, w->heap[p]);
        i = p;
    }
    heap_set(w, i, c);
}

static void heap_down(worker_t *w, uint32_t i)
{
    tmr_t *c = w->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= w->nheap)
            break;
        m = (l + 1 < w->nheap && w->heap[l + 1]->due < w->heap[l]->due) ? l + 1 : l;
        if (c->due <= w->heap[m]->due)
            break;
        heap_set(w, i, w->heap[m]);
        i = m;
    }
    heap_set(w, i, c);
}

/* Capacity is ensured when connections and streams are made (one slot each), so this never
 * allocates. */
static void heap_push(worker_t *w, tmr_t *c, int64_t due)
{
    c->due = due;
    w->heap[w->nheap] = c;
    c->idx = w->nheap++;
    heap_up(w, c->idx);
}

static void heap_remove(worker_t *w, tmr_t *c)
{
    uint32_t i = c->idx;
    tmr_t *last;
    if (i == NOT_IN_HEAP)
        return;
    c->idx = NOT_IN_HEAP;
    last = w->heap[--w->nheap];
    if (i == w->nheap)
        return;
    heap_set(w, i, last);
    heap_up(w, i);
    heap_down(w, last->idx);
}

/* (Re)arms a connection's or stream's one timer. */
static void timer_set(worker_t *w, tmr_t *c, int64_t due)
{
    heap_remove(w, c);
    heap_push(w, c, due);
}

/* Room in the heap for one timer per connection and stream (and one more). */
static bool heap_reserve(worker_t *w)
{
    uint32_t need = w->nconns + w->nstreams + 1;
    if (need > w->heap_cap) {
        uint32_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        tmr_t **h;
        while (cap < need)
            cap *= 2;
        h = realloc(w->heap, cap * sizeof(*h));
        if (!h)
            return false;
        w->heap = h;
        w->heap_cap = cap;
    }
    return true;
}

/* ---- lists ------------------------------------------------------------------------------ */

static void ready_add(worker_t *w, conn_t *c)
{
    if (c->in_ready)
        return;
    c->in_ready = 1;
    c->rnext = NULL;
    c->rprev = w->ready_tail;
    if (w->ready_tail)
        w->ready_tail->rnext = c;
    else
        w->ready_head = c;
    w->ready_tail = c;
}

static void ready_remove(worker_t *w, conn_t *c)
{
    if (!c->in_ready)
        return;
    c->in_ready = 0;
    if (c->rprev)
        c->rprev->rnext = c->rnext;
    else
        w->ready_head = c->rnext;
    if (c->rnext)
        c->rnext->rprev = c->rprev;
    else
        w->ready_tail = c->rprev;
}

/* Frees what queued segments own (the stats JSON) and empties the queue. */
static void drop_output(conn_t *c)
{
    for (uint32_t i = 0; i < c->out_n; i++) {
        seg_t *s = &c->out[c->out_head + i];
        if (s->flags & SF_OWNED)
            free(s->u.own);
    }
    c->out_head = c->out_n = c->scratch_used = 0;
}

static void conn_close(worker_t *w, conn_t *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    drop_output(c);
    if (c->x)
        xconn_release(w, c);
    heap_remove(w, &c->tm);
    ready_remove(w, c);
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        w->all = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    /* freed (or reused) after the current batch of events */
    c->anext = w->dead;
    w->dead = c;
    w->nconns--;
}

static void reap(worker_t *w)
{
    while (w->dead) {
        conn_t *c = w->dead;
        w->dead = c->anext;
        if (w->nfree < FREE_KEEP) {
            c->anext = w->free;
            w->free = c;
            w->nfree++;
        } else {
            free(c);
        }
    }
}

/* ---- output ----------------------------------------------------------------------------- */

/* Room for one more response (compacting the segment queue if that helps). */
static bool room(conn_t *c)
{
    if (c->out_head + c->out_n + SEGS_PER_RESP > OUT_SEGS && c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, c->out_n * sizeof(seg_t));
        c->out_head = 0;
    }
    return c->out_head + c->out_n + SEGS_PER_RESP <= OUT_SEGS &&
           c->scratch_used + SCRATCH_PER_RESP <= SCRATCH;
}

static seg_t *push(conn_t *c, int kind, const char *p, uint64_t len)
{
    seg_t *s = &c->out[c->out_head + c->out_n++];
    s->kind = (uint8_t)kind;
    s->flags = 0;
    s->p = p;
    s->len = len;
    s->u.body = 0;
    return s;
}

static void push_seg(conn_t *c, const char *p, uint64_t len)
{
    if (len > 0)
        push(c, p ? S_MEM : S_FILL, p, len);
}

static void push_chunked(conn_t *c, uint64_t body)
{
    seg_t *s = push(c, S_CHUNKED, NULL, mt__tgt_chunked_len(body));
    s->u.body = body;
    mt__tgt_chunked_tail(s->tail, body);
}

/* Describes a segment as iovecs: at most max of them, at most limit bytes. */
static size_t seg_iov(const seg_t *s, const char *filler, struct iovec *iov, size_t max,
                      uint64_t limit, uint64_t *total)
{
    size_t n = 0;
    uint64_t left = s->len < limit ? s->len : limit;

    switch (s->kind) {
    case S_MEM:
        iov[0].iov_base = (void *)s->p;
        iov[0].iov_len = (size_t)left;
        *total += left;
        return 1;
    case S_FILL:
        while (left > 0 && n < max) {
            size_t l = left < FILLER ? (size_t)left : FILLER;
            iov[n].iov_base = (void *)filler;
            iov[n++].iov_len = l;
            *total += l;
            left -= l;
        }
        return n;
    default:
        return mt__tgt_chunked_iov(s->u.body, s->tail, mt__tgt_chunked_len(s->u.body) - s->len,
                                   filler, iov, max, left, total);
    }
}

/* Bytes a throttled queue may write now: one tick's worth at the start, then the rate. */
static uint64_t slow_budget(const worker_t *w, const conn_t *c)
{
    uint64_t bps = c->slow_bps, dt = (uint64_t)(w->now - c->slow_t0);
    uint64_t burst = bps / 100 > 0 ? bps / 100 : 1;
    uint64_t allowed = burst + bps * (dt / NS_PER_S) + bps * (dt % NS_PER_S) / NS_PER_S;
    return allowed > c->slow_sent ? allowed - c->slow_sent : 0;
}

/* When a throttled queue may write again: the next tick, or the next byte if that is later. */
static int64_t slow_next(const worker_t *w, const conn_t *c)
{
    int64_t per_byte = (int64_t)((NS_PER_S + c->slow_bps - 1) / c->slow_bps);
    return w->now + (per_byte > SLOW_TICK_NS ? per_byte : SLOW_TICK_NS);
}

/* Writes queued segments. MT_OK: all written; MT_EAGAIN: the socket is full (EPOLLOUT will
 * resume) or the queue is throttled (its timer will); MT_ESYS: the connection is broken. */
static int flush(worker_t *w, conn_t *c)
{
    const char *filler = w->t->filler;
    if (c->x)
        return xflush(w, c);
    while (c->out_n > 0) {
        struct iovec iov[MAX_IOV];
        struct msghdr m;
        size_t niov = 0;
        uint64_t total = 0, limit = UINT64_MAX, counted = 0;
        ssize_t n;
        uint32_t i;

        if (c->slow_bps) {
            limit = slow_budget(w, c);
            if (limit == 0) {
                timer_set(w, &c->tm, slow_next(w, c));
                return MT_EAGAIN;
            }
        }
        for (i = 0; i < c->out_n && niov < MAX_IOV && total < limit; i++)
            niov += seg_iov(&c->out[c->out_head + i], filler, iov + niov, MAX_IOV - niov,
                            limit - total, &total);
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = niov;
        n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return MT_EAGAIN;
            return MT_ESYS;
        }
        c->slow_sent += (uint64_t)n;
        for (uint64_t left = (uint64_t)n; left > 0;) {
            seg_t *s = &c->out[c->out_head];
            uint64_t take = left < s->len ? left : s->len;
            if (!(s->flags & SF_UNCOUNTED))
                counted += take;
            left -= take;
            s->len -= take;
            if (s->kind == S_MEM)
                s->p += take;
            if (s->len == 0) {
                if (s->flags & SF_OWNED)
                    free(s->u.own);
                c->out_head++;
                c->out_n--;
            }
        }
        bump(w, C_BYTES_OUT, counted);
        if ((uint64_t)n < total)
            return MT_EAGAIN; /* short write: the socket buffer is full */
    }
    c->out_head = 0;
    c->scratch_used = 0;
    if (c->slow_bps) {
        c->slow_bps = 0;
        heap_remove(w, &c->tm); /* the throttle's tick, if armed */
    }
    return MT_OK;
}

/* ---- requests ----------------------------------------------------------------------------- */

static void next_request(conn_t *c)
{
    c->phase = P_HEAD;
    mt__h1_req_init(&c->req, RBUF);
    c->head_start = c->rpos;
}

/* ---- /__mortar/ ------------------------------------------------------------------------- */

/* enum act for a request-target under /__mortar/, A_RESPOND for any other. */
static int control_path(const char *target, size_t len)
{
    static const char prefix[] = "/__mortar/";
    const char *q;
    size_t n;

    if (len < sizeof(prefix) - 1 || memcmp(target, prefix, sizeof(prefix) - 1) != 0)
        return A_RESPOND;
    q = memchr(target, '?', len);
    n = q ? (size_t)(q - target) : len;
    if (n == sizeof(MT_TARGET_STATS_PATH) - 1 && memcmp(target, MT_TARGET_STATS_PATH, n) == 0)
        return A_STATS;
    if (n == sizeof(MT_TARGET_RESET_PATH) - 1 && memcmp(target, MT_TARGET_RESET_PATH, n) == 0)
        return A_ZERO;
    return A_NOTFOUND;
}

/* Sum of all workers' counters. */
static void sum_counters(const struct mt_target *t, uint64_t *sum)
{
    memset(sum, 0, NCOUNTERS * sizeof(*sum));
    for (int i = 0; i < t->nthreads; i++) {
        const counters_t *k = t->workers[i].cnt;
        for (int j = 0; j < NCOUNTERS; j++)
            sum[j] += atomic_load_explicit(&k->v[j], memory_order_relaxed);
    }
}

/* The gauge: the most streams open at once on one connection, since the last reset. */
static uint32_t h2_max_streams_seen(const struct mt_target *t)
{
    uint64_t gen = atomic_load_explicit(&t->gen, memory_order_relaxed);
    uint32_t m = 0;
    for (int i = 0; i < t->nthreads; i++) {
        uint64_t v = atomic_load_explicit(&t->workers[i].cnt->h2_max, memory_order_relaxed);
        if ((v >> 32) == gen && (uint32_t)v > m)
            m = (uint32_t)v;
    }
    return m;
}

/* A bounded appender: overflowing is remembered, never written past. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool over;
} jbuf_t;

__attribute__((format(printf, 2, 3))) static void jb(jbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->over)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->over = true;
    else
        b->len += (size_t)n;
}

/* The counters since the last reset as JSON (one line); zero: then make now the baseline.
 * Returns the length, 0 if it did not fit (it always does in STATS_MAX). */
static size_t stats_json(struct mt_target *t, char *buf, size_t cap, bool zero)
{
    uint64_t sum[NCOUNTERS], v[NCOUNTERS];
    jbuf_t b = {buf, 0, cap, false};
    const char *sep = "";
    uint32_t h2max;

    pthread_mutex_lock(&t->base_lock);
    sum_counters(t, sum);
    for (int j = 0; j < NCOUNTERS; j++)
        v[j] = sum[j] >= t->base[j] ? sum[j] - t->base[j] : 0;
    h2max = h2_max_streams_seen(t);
    if (zero) {
        memcpy(t->base, sum, sizeof(sum));
        atomic_fetch_add_explicit(&t->gen, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&t->base_lock);

    jb(&b, "{\"connections_accepted\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"responses\":{",
       v[C_CONNECTIONS], v[C_REQUESTS]);
    for (int s = 0; s < NSTATUS; s++) {
        if (v[C_STATUS + s]) {
            jb(&b, "%s\"%d\":%" PRIu64, sep, s + 100, v[C_STATUS + s]);
            sep = ",";
        }
    }
    jb(&b,
       "},\"bytes_sent\":%" PRIu64 ",\"resets\":%" PRIu64 ",\"malformed\":%" PRIu64
       ",\"malformed_by_kind\":{",
       v[C_BYTES_OUT], v[C_RESETS], v[C_MALFORMED]);
    for (int k = 0; k < MT__TGT_MAL_KINDS; k++)
        jb(&b, "%s\"%s\":%" PRIu64, k ? "," : "", mt__tgt_malformed_names[k], v[C_MAL_KIND + k]);
    jb(&b,
       "},\"closes\":%" PRIu64 ",\"bad_requests\":%" PRIu64 ",\"bad_params\":%" PRIu64
       ",\"accept_errors\":%" PRIu64,
       v[C_CLOSES], v[C_BAD_REQUESTS], v[C_BAD_PARAMS], v[C_ACCEPT_ERRORS]);
    jb(&b,
       ",\"handshakes_full\":%" PRIu64 ",\"handshakes_resumed\":%" PRIu64 ",\"tls_errors\":%" PRIu64
       ",\"h2_connections\":%" PRIu64 ",\"h2_streams\":%" PRIu64 ",\"h2_goaways\":%" PRIu64
       ",\"h2_rst_streams\":%" PRIu64 ",\"h2_rst_streams_received\":%" PRIu64
       ",\"h2_refused_streams\":%" PRIu64 ",\"h2_max_concurrent_streams\":%" PRIu32,
       v[C_TLS_FULL], v[C_TLS_RESUMED], v[C_TLS_ERRORS], v[C_H2_CONNS], v[C_H2_STREAMS],
       v[C_H2_GOAWAYS], v[C_H2_RST], v[C_H2_RST_RECV], v[C_H2_REFUSED], h2max);
    jb(&b, ",\"threads\":%d,\"seed\":%" PRIu64 "}\n", t->nthreads, t->seed);
    return b.over ? 0 : b.len;
}

/* Answers a /__mortar/ request. Nothing of it is counted. The JSON is the one allocation a
 * request may cost, and only these requests. */
static void control(worker_t *w, conn_t *c)
{
    static const char notfound[] =
        "unknown path: try " MT_TARGET_STATS_PATH " or " MT_TARGET_RESET_PATH "\n";
    static const char nomem[] = "out of memory\n";
    pend_t *r = &c->pend;
    char *h = c->scratch + c->scratch_used;
    const char *text = NULL;
    char *json = NULL;
    size_t n, jlen = 0, tlen = 0;
    unsigned status = 200;
    seg_t *s;

    if (r->action == A_NOTFOUND) {
        status = 404;
        text = notfound;
        tlen = sizeof(notfound) - 1;
    } else if (!(json = malloc(STATS_MAX)) ||
               !(jlen = stats_json(w->t, json, STATS_MAX, r->action == A_ZERO))) {
        free(json);
        json = NULL;
        status = 500;
        text = nomem;
        tlen = sizeof(nomem) - 1;
    }
    n = mt__tgt_format_head(h, status, json ? jlen : tlen,
                            r->conn | (json ? MT__TGT_HEAD_JSON : 0));
    if (text && !r->head_only) {
        memcpy(h + n, text, tlen);
        n += tlen;
    }
    c->scratch_used += (uint32_t)n;
    push(c, S_MEM, h, n)->flags = SF_UNCOUNTED;
    if (json && !r->head_only) {
        s = push(c, S_MEM, json, jlen);
        s->flags = SF_UNCOUNTED | SF_OWNED;
        s->u.own = json;
    } else {
        free(json);
    }
}

/* ---- responses ---------------------------------------------------------------------------- */

static void slow_start(worker_t *w, conn_t *c, uint64_t bps)
{
    if (bps == 0)
        return;
    c->slow_bps = bps;
    c->slow_sent = 0;
    c->slow_t0 = w->now;
}

/* Queue the response for the current request (room was checked before its head was parsed). */
static void respond(worker_t *w, conn_t *c)
{
    const struct mt_target *t = w->t;
    pend_t *r = &c->pend;

    switch (r->action) {
    case A_RESET:
        bump(w, C_RESETS, 1);
        c->phase = P_RESET;
        return;
    case A_MALFORMED: {
        unsigned k = w->mal_next;
        w->mal_next = (k + 1) % MT__TGT_MAL_KINDS;
        bump(w, C_MALFORMED, 1);
        bump(w, C_MAL_KIND + (int)k, 1);
        push_seg(c, t->mal[k], t->mal_len[k]);
        slow_start(w, c, r->slow_bps);
        c->phase = P_CLOSING;
        return;
    }
    case A_STATS:
    case A_ZERO:
    case A_NOTFOUND:
        control(w, c);
        goto done;
    default:
        break;
    }

    if (r->status == 200 && r->body == B_DEFAULT && !r->chunked) {
        const prep_t *p = &t->prep[r->conn];
        if (r->head_only) {
            push_seg(c, p->buf, p->head_len);
        } else {
            push_seg(c, p->buf, p->len);
            if (!t->default_inline)
                push_seg(c, NULL, t->default_len);
        }
    } else {
        uint64_t blen;
        char *h = c->scratch + c->scratch_used;
        bool nobody = mt__tgt_status_bodyless(r->status) || r->status == 205;
        bool chunked = r->chunked && !nobody;
        size_t n;

        switch (r->body) {
        case B_FILL:
            blen = r->size;
            break;
        case B_TEXT:
            blen = r->textlen;
            break;
        default:
            blen = t->default_len;
            break;
        }
        if (nobody)
            blen = 0;
        n = mt__tgt_format_head(h, r->status, blen, r->conn | (chunked ? MT__TGT_HEAD_CHUNKED : 0));
        if (r->head_only) {
            blen = 0;
        } else if (chunked && r->body == B_DEFAULT && !t->default_fill) {
            /* "ok\n" in one chunk (a --body-size body is 'x', like size=) */
            n += (size_t)sprintf(h + n, "%x\r\n", (unsigned)blen);
            memcpy(h + n, t->prep[0].buf + t->prep[0].head_len, blen);
            n += blen;
            memcpy(h + n, "\r\n0\r\n\r\n", 7);
            n += 7;
            blen = 0;
        } else if (r->body == B_TEXT && blen > 0) {
            memcpy(h + n, r->text, blen);
            n += blen;
            blen = 0;
        }
        c->scratch_used += (uint32_t)n;
        push_seg(c, h, n);
        if (chunked && !r->head_only && (blen > 0 || r->body != B_DEFAULT || t->default_fill))
            push_chunked(c, blen);
        else if (blen > 0 && r->body == B_DEFAULT && t->default_inline)
            push_seg(c, t->prep[0].buf + t->prep[0].head_len, blen);
        else if (blen > 0)
            push_seg(c, NULL, blen);
    }
    bump(w, C_RESPONSES, 1);
    bump_status(w, r->status);
    if (r->close_after && r->action == A_RESPOND)
        bump(w, C_CLOSES, 1);
    slow_start(w, c, r->slow_bps);
done:
    if (r->close_after)
        c->phase = P_CLOSING;
    else
        next_request(c);
}

static void epoch_init(worker_t *w)
{
    int64_t expect = 0;
    if (atomic_compare_exchange_strong(&w->t->epoch, &expect, w->now))
        w->epoch = w->now;
    else
        w->epoch = expect;
}

/* A response due at `due` goes out at the end of any stall that holds it. */
static int64_t stall_adjust(const worker_t *w, int64_t due)
{
    const struct mt_target *t = w->t;
    for (size_t i = 0; i < t->nstalls; i++) {
        int64_t b = w->epoch + t->stalls[i].start_ns;
        int64_t e = b + t->stalls[i].len_ns;
        if (due >= b && due < e)
            due = e;
    }
    return due;
}

/* The whole request (head and body) is in: answer now or park until due. */
static void request_done(worker_t *w, conn_t *c)
{
    int64_t due = w->now + c->pend.delay_ns;
    /* /__mortar/ requests are neither stalled nor start the stall clock */
    if (w->t->nstalls > 0 && c->pend.action < A_STATS) {
        if (!w->epoch)
            epoch_init(w);
        due = stall_adjust(w, due);
    }
    if (due > w->now) {
        c->phase = P_PARKED;
        timer_set(w, &c->tm, due);
        return;
    }
    respond(w, c);
}

static void set_text(pend_t *r, const char *text)
{
    size_t n = strlen(text);
    if (n >= sizeof(r->text))
        n = sizeof(r->text) - 1;
    memcpy(r->text, text, n);
    r->textlen = (uint16_t)n;
}

/* Malformed request: answer with the parser's status, then close. */
static void bad_request(worker_t *w, conn_t *c)
{
    pend_t *r = &c->pend;
    int n;

    c->used = 1;
    bump(w, C_REQUESTS, 1);
    bump(w, C_BAD_REQUESTS, 1);
    r->status = c->req.err_status ? c->req.err_status : 400;
    r->body = B_TEXT;
    r->action = A_BAD;
    r->conn = MT__TGT_CONN_CLOSE;
    r->chunked = 0;
    r->slow_bps = 0;
    r->head_only = 0;
    r->close_after = 1;
    r->delay_ns = 0;
    if (r->status == 431)
        n = snprintf(r->text, sizeof(r->text), "request head larger than %d bytes\n", RBUF);
    else
        n = snprintf(r->text, sizeof(r->text), "bad request: %s at byte %u\n",
                     c->req.err_msg ? c->req.err_msg : "malformed", (unsigned)c->req.err_offset);
    r->textlen = (uint16_t)(n < (int)sizeof(r->text) ? n : (int)sizeof(r->text) - 1);
    c->body_left = 0;
    c->phase = P_BODY;
}

static void head_done(worker_t *w, conn_t *c)
{
    const struct mt_target *t = w->t;
    pend_t *r = &c->pend;
    const mt__h1_req_t *q = &c->req;
    const char *target = c->rbuf + c->head_start + q->target_off;
    bool keep = mt__h1_req_keep_alive(q);
    bool first = !c->used;
    mt__tgt_behave_t b;
    int ctl;

    c->used = 1;
    r->head_only = q->method == MT__H1_M_HEAD;
    r->close_after = !keep;
    r->conn = !keep                   ? MT__TGT_CONN_CLOSE
              : q->version_minor == 0 ? MT__TGT_CONN_KEEP_ALIVE
                                      : MT__TGT_CONN_NONE;
    r->action = A_RESPOND;
    r->chunked = 0;
    r->slow_bps = 0;
    r->delay_ns = 0;
    r->status = 200;
    r->body = B_DEFAULT;
    c->body_left = 0;
    c->phase = P_BODY;

    if (q->has_transfer_encoding) {
        /* the body's framing is unknown to us: answer and close */
        bump(w, C_REQUESTS, 1);
        bump(w, C_BAD_REQUESTS, 1);
        r->action = A_BAD;
        r->status = 501;
        r->body = B_TEXT;
        r->close_after = 1;
        r->conn = MT__TGT_CONN_CLOSE;
        set_text(r, "Transfer-Encoding is not supported: send Content-Length\n");
        return;
    }
    ctl = control_path(target, q->target_len);
    if (ctl != A_RESPOND) {
        /* not counted, nor is a connection opened for it (connections count at accept) */
        if (first)
            uncount_conn(w, c);
        r->action = (uint8_t)ctl;
    } else {
        bump(w, C_REQUESTS, 1);
        if (t->plain && !memchr(target, '?', q->target_len)) {
            /* the fast path: nothing to parse, nothing to draw */
        } else if (mt__tgt_behave_parse_over(&t->defaults, target, q->target_len, &b, r->text) !=
                   0) {
            bump(w, C_BAD_PARAMS, 1);
            r->status = 400;
            r->body = B_TEXT;
            r->textlen = (uint16_t)strlen(r->text);
        } else {
            mt__tgt_pick_t pk;
            mt__tgt_pick(&b, &w->rng, &pk);
            r->status = pk.status;
            r->delay_ns = pk.delay_ns;
            r->action = pk.action == MT__TGT_RESET       ? A_RESET
                        : pk.action == MT__TGT_MALFORMED ? A_MALFORMED
                                                         : A_RESPOND;
            r->body = b.has_size ? B_FILL : B_DEFAULT;
            r->size = b.size;
            r->chunked = b.chunked;
            r->slow_bps = b.slow_bps;
            if (b.close) {
                r->close_after = 1;
                r->conn = MT__TGT_CONN_CLOSE;
            }
        }
    }
    c->body_left = q->content_length;
    if (q->expect_continue && c->body_left > 0 && q->version_minor >= 1) {
        push_seg(c, k_continue, sizeof(k_continue) - 1);
        if (ctl != A_RESPOND)
            c->out[c->out_head + c->out_n - 1].flags = SF_UNCOUNTED;
    }
}

/* Parse and answer what the buffer holds, as far as the state allows. */
static void process_input(worker_t *w, conn_t *c)
{
    for (;;) {
        if (c->phase == P_BODY) {
            uint64_t avail = c->rlen - c->rpos;
            uint64_t take = avail < c->body_left ? avail : c->body_left;
            c->rpos += (uint32_t)take;
            c->body_left -= take;
            if (c->body_left > 0)
                return;
            request_done(w, c);
            continue;
        }
        /* a throttled response holds the requests behind it, as a delayed one does */
        if (c->phase != P_HEAD || c->rpos == c->rlen || c->slow_bps || !room(c))
            return;
        if (!c->used && c->rpos == 0 && c->rbuf[0] == 'P' && w->t->http2) {
            /* HTTP/2 with prior knowledge (cleartext, or TLS without ALPN) */
            int k = mt__tgt_h2_sniff(c->rbuf, c->rlen);
            if (k == 0)
                return;
            if (k == 1) {
                h2_start(w, c, c->rbuf, c->rlen);
                c->rpos = c->rlen = 0;
                return;
            }
        }
        size_t used = 0;
        int rc = mt__h1_req_feed(&c->req, c->rbuf + c->rpos, c->rlen - c->rpos, &used);
        c->rpos += (uint32_t)used;
        if (rc == MT_EAGAIN)
            return;
        if (rc == MT_OK)
            head_done(w, c);
        else
            bad_request(w, c);
    }
}

/* ---- TLS and HTTP/2 ------------------------------------------------------------------------ */

/* A relaxed decrement (the counter is this thread's). */
static inline void unbump(worker_t *w, int i)
{
    bump(w, i, UINT64_MAX);
}

/* The connection's first request went to /__mortar/: it is not counted anywhere. */
static void uncount_conn(worker_t *w, conn_t *c)
{
    unbump(w, C_CONNECTIONS);
    if (c->x && c->x->hs_done)
        unbump(w, c->x->resumed ? C_TLS_RESUMED : C_TLS_FULL);
    if (c->x && c->x->h2)
        unbump(w, C_H2_CONNS);
}

/* Records n concurrent streams on one connection in the gauge (of the current generation). */
static void h2_gauge(worker_t *w, uint32_t n)
{
    uint64_t gen = atomic_load_explicit(&w->t->gen, memory_order_relaxed);
    uint64_t v = atomic_load_explicit(&w->cnt->h2_max, memory_order_relaxed);
    if ((v >> 32) != gen)
        v = gen << 32;
    if (n > (uint32_t)v)
        atomic_store_explicit(&w->cnt->h2_max, gen << 32 | n, memory_order_relaxed);
}

static xconn_t *xconn_get(worker_t *w)
{
    xconn_t *x = w->xfree;
    if (x) {
        w->xfree = x->nfree;
        w->nxfree--;
    } else if (!(x = malloc(sizeof(*x)))) {
        return NULL;
    }
    x->w = w;
    x->ssl = NULL;
    x->h2 = NULL;
    x->streams = NULL;
    x->nfree = NULL;
    x->nstreams = 0;
    x->hs_done = x->resumed = x->read_wants_write = x->goaway = 0;
    x->olen = x->ooff = 0;
    x->ocounted = 0;
    return x;
}

static void stream_release(worker_t *w, conn_t *c, stream_t *s)
{
    xconn_t *x = c->x;
    heap_remove(w, &s->tm);
    free(s->own);
    s->own = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        x->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    x->nstreams--;
    w->nstreams--;
    if (w->nsfree < SFREE_KEEP) {
        s->next = w->sfree;
        w->sfree = s;
        w->nsfree++;
    } else {
        free(s);
    }
}

static void xconn_release(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    while (x->streams)
        stream_release(w, c, x->streams);
    if (x->h2)
        nghttp2_session_del(x->h2);
    if (x->ssl)
        SSL_free(x->ssl);
    c->x = NULL;
    if (w->nxfree < XFREE_KEEP) {
        x->nfree = w->xfree;
        w->xfree = x;
        w->nxfree++;
    } else {
        free(x);
    }
}

/* SSL_read into buf: > 0 bytes, 0 the peer closed, MT_EAGAIN (readable cleared), or an
 * error (the connection is to be closed). */
static int tls_read(worker_t *w, conn_t *c, char *buf, size_t len)
{
    SSL *ssl = c->x->ssl;
    int n, e;

    ERR_clear_error();
    n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    e = SSL_get_error(ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->readable = 0;
        return MT_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->readable = 0;
        c->x->read_wants_write = 1;
        return MT_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        return errno == EINTR ? MT_EAGAIN : MT_ESYS;
    default:
        bump(w, C_TLS_ERRORS, 1);
        return MT_EPROTO;
    }
}

/* Writes obuf[ooff, olen). MT_OK: all of it; MT_EAGAIN: later; else broken. Over TLS the same
 * bytes are offered again after a WANT_*, as SSL_write requires. */
static int xwrite(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    size_t len = x->olen - x->ooff;

    while (len > 0) {
        ssize_t n;
        if (x->ssl) {
            int e;
            ERR_clear_error();
            n = SSL_write(x->ssl, x->obuf + x->ooff, (int)len);
            if (n <= 0) {
                e = SSL_get_error(x->ssl, (int)n);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    return MT_EAGAIN;
                if (e == SSL_ERROR_SSL)
                    bump(w, C_TLS_ERRORS, 1);
                return MT_ESYS;
            }
        } else {
            n = send(c->fd, x->obuf + x->ooff, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return MT_EAGAIN;
                return MT_ESYS;
            }
        }
        x->ooff += (uint32_t)n;
        len -= (size_t)n;
    }
    bump(w, C_BYTES_OUT, x->ocounted);
    x->olen = x->ooff = 0;
    x->ocounted = 0;
    return MT_OK;
}

/* HTTP/1 over TLS: copies queued segments into obuf (at most the throttle's budget), so each
 * write is one TLS record of up to 16 KiB rather than one per segment. MT_EAGAIN: throttled
 * (the timer is armed). */
static int gather(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    uint64_t limit = OBUF, got = 0;

    if (c->slow_bps) {
        uint64_t b = slow_budget(w, c);
        if (b == 0) {
            timer_set(w, &c->tm, slow_next(w, c));
            return MT_EAGAIN;
        }
        if (b < limit)
            limit = b;
    }
    while (c->out_n > 0 && got < limit) {
        seg_t *sg = &c->out[c->out_head];
        struct iovec iov[8];
        uint64_t take = 0;
        size_t k = seg_iov(sg, w->t->filler, iov, 8, limit - got, &take);
        for (size_t i = 0; i < k; i++) {
            memcpy(x->obuf + x->olen, iov[i].iov_base, iov[i].iov_len);
            x->olen += (uint32_t)iov[i].iov_len;
        }
        got += take;
        if (!(sg->flags & SF_UNCOUNTED))
            x->ocounted += take;
        sg->len -= take;
        if (sg->kind == S_MEM)
            sg->p += take;
        if (sg->len == 0) {
            if (sg->flags & SF_OWNED)
                free(sg->u.own);
            c->out_head++;
            c->out_n--;
        }
    }
    c->slow_sent += got;
    return MT_OK;
}

/* flush() for connections with TLS or HTTP/2: stage, then write, until nothing is left. */
static int xflush(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    int rc;

    for (;;) {
        if (x->olen == 0) {
            if (x->h2) {
                if (nghttp2_session_send(x->h2) != 0)
                    return MT_EPROTO;
            } else if (c->out_n > 0 && (rc = gather(w, c)) != MT_OK) {
                return rc;
            }
            if (x->olen == 0)
                break;
        }
        if ((rc = xwrite(w, c)) != MT_OK)
            return rc;
    }
    if (!x->h2) {
        c->out_head = 0;
        c->scratch_used = 0;
        if (c->slow_bps) {
            c->slow_bps = 0;
            heap_remove(w, &c->tm);
        }
    }
    return MT_OK;
}

/* ---- HTTP/2 sessions ---- */

static ssize_t h2_send_cb(nghttp2_session *h, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    conn_t *c = user;
    xconn_t *x = c->x;
    size_t room = OBUF - x->olen;

    (void)h;
    (void)flags;
    if (room == 0)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (len > room)
        len = room;
    memcpy(x->obuf + x->olen, data, len);
    x->olen += (uint32_t)len;
    return (ssize_t)len;
}

static uint64_t rate_budget(int64_t now, uint64_t bps, uint64_t sent, int64_t t0)
{
    uint64_t dt = (uint64_t)(now - t0);
    uint64_t burst = bps / 100 > 0 ? bps / 100 : 1;
    uint64_t allowed = burst + bps * (dt / NS_PER_S) + bps * (dt % NS_PER_S) / NS_PER_S;
    return allowed > sent ? allowed - sent : 0;
}

static ssize_t h2_read_cb(nghttp2_session *h, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user)
{
    stream_t *s = src->ptr;
    conn_t *c = user;
    worker_t *w = c->x->w;
    uint64_t n = s->blen - s->boff;

    (void)h;
    (void)id;
    if (n > length)
        n = length;
    if (s->slow_bps) {
        uint64_t b = rate_budget(w->now, s->slow_bps, s->slow_sent, s->slow_t0);
        if (b == 0) {
            int64_t per_byte = (int64_t)((NS_PER_S + s->slow_bps - 1) / s->slow_bps);
            s->state = ST_DEFER;
            timer_set(w, &s->tm, w->now + (per_byte > SLOW_TICK_NS ? per_byte : SLOW_TICK_NS));
            return NGHTTP2_ERR_DEFERRED;
        }
        if (n > b)
            n = b;
        s->slow_sent += n;
    }
    /* n <= 16 KiB (nghttp2's DATA payload), within the 64 KiB filler */
    memcpy(buf, s->data ? s->data + s->boff : w->t->filler, (size_t)n);
    s->boff += n;
    if (s->counted)
        bump(w, C_BYTES_OUT, n);
    if (s->boff == s->blen)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static stream_t *h2_stream(nghttp2_session *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h, id);
}

static int h2_begin_headers_cb(nghttp2_session *h, const nghttp2_frame *f, void *user)
{
    conn_t *c = user;
    xconn_t *x = c->x;
    worker_t *w = x->w;
    stream_t *s;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (!heap_reserve(w))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if ((s = w->sfree)) {
        w->sfree = s->next;
        w->nsfree--;
    } else if (!(s = malloc(sizeof(*s)))) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->tm.idx = NOT_IN_HEAP;
    s->tm.kind = TM_STREAM;
    s->tm.due = 0;
    s->c = c;
    s->id = f->hd.stream_id;
    s->state = ST_HEAD;
    s->action = A_RESPOND;
    s->body = B_DEFAULT;
    s->head_only = s->close_after = s->chunked = s->has_path = 0;
    s->status = 200;
    s->textlen = 0;
    s->delay_ns = 0;
    s->size = 0;
    s->slow_bps = s->slow_sent = 0;
    s->slow_t0 = 0;
    s->data = NULL;
    s->blen = s->boff = 0;
    s->counted = false;
    s->own = NULL;
    s->prev = NULL;
    s->next = x->streams;
    if (x->streams)
        x->streams->prev = s;
    x->streams = s;
    x->nstreams++;
    w->nstreams++;
    h2_gauge(w, x->nstreams);
    nghttp2_session_set_stream_user_data(h, s->id, s);
    return 0;
}

/* The request's :path: what head_done does for HTTP/1 (count, parse, draw). */
static void h2_path(worker_t *w, conn_t *c, stream_t *s, const char *target, size_t len)
{
    const struct mt_target *t = w->t;
    bool first = !c->used;
    mt__tgt_behave_t b;
    int ctl;

    if (s->has_path)
        return; /* nghttp2 rejects a second :path; be safe */
    s->has_path = 1;
    c->used = 1;
    ctl = control_path(target, len);
    if (ctl != A_RESPOND) {
        if (first)
            uncount_conn(w, c);
        s->action = (uint8_t)ctl;
        return;
    }
    bump(w, C_REQUESTS, 1);
    bump(w, C_H2_STREAMS, 1);
    s->counted = true;
    if (t->plain && !memchr(target, '?', len)) {
        /* the fast path */
    } else if (mt__tgt_behave_parse_over(&t->defaults, target, len, &b, s->text) != 0) {
        bump(w, C_BAD_PARAMS, 1);
        s->status = 400;
        s->body = B_TEXT;
        s->textlen = (uint16_t)strlen(s->text);
    } else {
        mt__tgt_pick_t pk;
        mt__tgt_pick(&b, &w->rng, &pk);
        s->status = pk.status;
        s->delay_ns = pk.delay_ns;
        s->action = pk.action == MT__TGT_RESET       ? A_RESET
                    : pk.action == MT__TGT_MALFORMED ? A_MALFORMED
                                                     : A_RESPOND;
        s->body = b.has_size ? B_FILL : B_DEFAULT;
        s->size = b.size;
        s->chunked = b.chunked;
        s->slow_bps = b.slow_bps;
        s->close_after = b.close;
    }
}

static int h2_header_cb(nghttp2_session *h, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user)
{
    conn_t *c = user;
    stream_t *s;

    (void)flags;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || namelen < 5 ||
        name[0] != ':')
        return 0;
    if (!(s = h2_stream(h, f->hd.stream_id)))
        return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0)
        h2_path(c->x->w, c, s, (const char *)value, valuelen);
    else if (namelen == 7 && memcmp(name, ":method", 7) == 0)
        s->head_only = valuelen == 4 && memcmp(value, "HEAD", 4) == 0;
    return 0;
}

static void h2_respond(worker_t *w, conn_t *c, stream_t *s);

/* The request (headers and any body) is in: answer now, or when due. */
static void h2_request_done(worker_t *w, conn_t *c, stream_t *s)
{
    int64_t due;

    if (!s->has_path) {
        /* CONNECT (no :path): not something the target serves */
        bump(w, C_REQUESTS, 1);
        bump(w, C_H2_STREAMS, 1);
        bump(w, C_BAD_PARAMS, 1);
        s->counted = true;
        s->status = 400;
        s->body = B_TEXT;
        s->textlen = (uint16_t)snprintf(s->text, sizeof(s->text),
                                        "bad request: no :path (CONNECT is not served)\n");
    }
    due = w->now + s->delay_ns;
    if (w->t->nstalls > 0 && s->action < A_STATS) {
        if (!w->epoch)
            epoch_init(w);
        due = stall_adjust(w, due);
    }
    if (due > w->now) {
        s->state = ST_WAIT;
        timer_set(w, &s->tm, due);
        return;
    }
    h2_respond(w, c, s);
}

static int h2_frame_recv_cb(nghttp2_session *h, const nghttp2_frame *f, void *user)
{
    conn_t *c = user;
    stream_t *s;

    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (s = h2_stream(h, f->hd.stream_id)) &&
            s->state == ST_HEAD)
            h2_request_done(c->x->w, c, s);
        break;
    case NGHTTP2_RST_STREAM:
        bump(c->x->w, C_H2_RST_RECV, 1);
        break;
    default:
        break;
    }
    return 0;
}

static int h2_frame_send_cb(nghttp2_session *h, const nghttp2_frame *f, void *user)
{
    conn_t *c = user;
    (void)h;
    if (f->hd.type == NGHTTP2_GOAWAY)
        bump(c->x->w, C_H2_GOAWAYS, 1);
    else if (f->hd.type == NGHTTP2_RST_STREAM)
        bump(c->x->w, C_H2_RST, 1);
    return 0;
}

static int h2_invalid_frame_cb(nghttp2_session *h, const nghttp2_frame *f, int err, void *user)
{
    conn_t *c = user;
    (void)h;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (err == NGHTTP2_ERR_REFUSED_STREAM) {
        /* past SETTINGS_MAX_CONCURRENT_STREAMS (a client that did not wait for our SETTINGS) */
        bump(c->x->w, C_H2_REFUSED, 1);
    } else if (err == NGHTTP2_ERR_HTTP_HEADER || err == NGHTTP2_ERR_HTTP_MESSAGING) {
        /* a malformed request: nghttp2 resets its stream with PROTOCOL_ERROR */
        bump(c->x->w, C_REQUESTS, 1);
        bump(c->x->w, C_BAD_REQUESTS, 1);
    }
    return 0;
}

static int h2_stream_close_cb(nghttp2_session *h, int32_t id, uint32_t err, void *user)
{
    conn_t *c = user;
    stream_t *s = h2_stream(h, id);
    (void)err;
    if (s) {
        nghttp2_session_set_stream_user_data(h, id, NULL);
        stream_release(c->x->w, c, s);
    }
    return 0;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,                              \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                           \
    }

static const char k_ok_body[] = "ok\n";

/* The malformed responses over HTTP/2: each is a malformed *stream* (RFC 9113, 8.1.1), which a
 * client resets; the connection and its other streams go on. */
static int h2_prepare(struct mt_target *t)
{
    static nghttp2_nv status_line[] = {NV(":status", "2x0"), NV("content-type", "text/plain"),
                                       NV("content-length", "3")};
    static nghttp2_nv chunk_size[] = {NV(":status", "200"), NV("content-type", "text/plain"),
                                      NV("transfer-encoding", "chunked")};
    static nghttp2_nv truncated[] = {NV(":status", "200"), NV("content-type", "text/plain"),
                                     NV("content-length", "1000")};
    static const nghttp2_nv first[] = {NV(":status", "200"), NV("content-type", "text/plain")};
    static const nghttp2_nv last = NV("content-length", "0");
    nghttp2_nv *nv;
    size_t n = 2 + OVERSIZED_LINES + 1;

    t->h2_mal_nv[MT__TGT_MAL_STATUS_LINE] = status_line;
    t->h2_mal_nvlen[MT__TGT_MAL_STATUS_LINE] = 3;
    t->h2_mal_nv[MT__TGT_MAL_CHUNK_SIZE] = chunk_size;
    t->h2_mal_nvlen[MT__TGT_MAL_CHUNK_SIZE] = 3;
    t->h2_mal_nv[MT__TGT_MAL_TRUNCATED] = truncated;
    t->h2_mal_nvlen[MT__TGT_MAL_TRUNCATED] = 3;
    /* 66 fields "x-padding-NN" of 1008 'x' each (values shared with the HTTP/1 kind) */
    nv = calloc(n, sizeof(*nv));
    t->h2_pad_names = malloc(OVERSIZED_LINES * 12);
    if (!nv || !t->h2_pad_names) {
        free(nv);
        return MT_ENOMEM;
    }
    nv[0] = first[0];
    nv[1] = first[1];
    for (int i = 0; i < OVERSIZED_LINES; i++) {
        char *nm = t->h2_pad_names + i * 12;
        memcpy(nm, "x-padding-", 10);
        nm[10] = (char)('0' + i / 10);
        nm[11] = (char)('0' + i % 10);
        nv[2 + i].name = (uint8_t *)nm;
        nv[2 + i].namelen = 12;
        nv[2 + i].value = (uint8_t *)t->filler;
        nv[2 + i].valuelen = 1024 - 16;
        nv[2 + i].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    }
    nv[n - 1] = last;
    t->h2_mal_nv[MT__TGT_MAL_OVERSIZED] = nv;
    t->h2_mal_nvlen[MT__TGT_MAL_OVERSIZED] = n;
    return MT_OK;
}

static void h2_submit(conn_t *c, stream_t *s, const nghttp2_nv *nv, size_t n, bool body)
{
    nghttp2_data_provider prd;
    prd.source.ptr = s;
    prd.read_callback = h2_read_cb;
    if (nghttp2_submit_response(c->x->h2, s->id, nv, n, body ? &prd : NULL) != 0)
        nghttp2_submit_rst_stream(c->x->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
}

/* Decimal digits of v at p (at most 20); returns how many. */
static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0, len;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    len = n;
    while (n)
        *p++ = tmp[--n];
    return len;
}

/* Answers a stream: what respond() does for HTTP/1. */
static void h2_respond(worker_t *w, conn_t *c, stream_t *s)
{
    const struct mt_target *t = w->t;
    nghttp2_nv nv[3];
    char st[4], clen[24];
    const char *ctype = "text/plain";
    unsigned status = s->status;
    bool nobody, chunked;
    size_t n = 0;

    s->state = ST_SENT;
    switch (s->action) {
    case A_RESET:
        bump(w, C_RESETS, 1);
        nghttp2_submit_rst_stream(c->x->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    case A_MALFORMED: {
        unsigned k = w->mal_next;
        w->mal_next = (k + 1) % MT__TGT_MAL_KINDS;
        bump(w, C_MALFORMED, 1);
        bump(w, C_MAL_KIND + (int)k, 1);
        s->data = k_ok_body;
        s->blen = k == MT__TGT_MAL_OVERSIZED || s->head_only ? 0 : 3;
        s->slow_t0 = w->now;
        h2_submit(c, s, t->h2_mal_nv[k], t->h2_mal_nvlen[k], s->blen > 0);
        return;
    }
    case A_STATS:
    case A_ZERO:
    case A_NOTFOUND: {
        static const char notfound[] =
            "unknown path: try " MT_TARGET_STATS_PATH " or " MT_TARGET_RESET_PATH "\n";
        static const char nomem[] = "out of memory\n";
        size_t jlen = 0;
        s->counted = false;
        s->slow_bps = 0;
        status = 200;
        if (s->action == A_NOTFOUND) {
            status = 404;
            s->data = notfound;
            s->blen = sizeof(notfound) - 1;
        } else if (!(s->own = malloc(STATS_MAX)) ||
                   !(jlen = stats_json(w->t, s->own, STATS_MAX, s->action == A_ZERO))) {
            status = 500;
            s->data = nomem;
            s->blen = sizeof(nomem) - 1;
        } else {
            ctype = "application/json";
            s->data = s->own;
            s->blen = jlen;
        }
        chunked = false;
        nobody = false;
        goto head;
    }
    default:
        break;
    }

    nobody = mt__tgt_status_bodyless(status) || status == 205;
    chunked = s->chunked && !nobody;
    switch (s->body) {
    case B_FILL:
        s->data = NULL;
        s->blen = s->size;
        break;
    case B_TEXT:
        s->data = s->text;
        s->blen = s->textlen;
        break;
    default:
        s->blen = t->default_len;
        s->data = t->default_inline ? t->prep[0].buf + t->prep[0].head_len : NULL;
        break;
    }
    if (nobody)
        s->blen = 0;
    bump(w, C_RESPONSES, 1);
    bump_status(w, status);
    if (s->close_after) {
        bump(w, C_CLOSES, 1);
        if (!c->x->goaway) {
            /* close=1: no new streams; the connection ends once the open ones are answered */
            c->x->goaway = 1;
            nghttp2_submit_goaway(c->x->h2, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c->x->h2),
                                  NGHTTP2_NO_ERROR, NULL, 0);
        }
    }
head:
    st[0] = (char)('0' + status / 100);
    st[1] = (char)('0' + status / 10 % 10);
    st[2] = (char)('0' + status % 10);
    st[3] = 0;
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NO_COPY_NAME};
    nv[n++] = (nghttp2_nv){(uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype),
                           NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    if (!mt__tgt_status_bodyless(status) && !chunked) {
        size_t len = fmt_u64(clen, s->blen);
        nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, len,
                               NGHTTP2_NV_FLAG_NO_COPY_NAME};
    }
    if (s->head_only)
        s->blen = 0;
    s->slow_t0 = w->now;
    s->slow_sent = 0;
    h2_submit(c, s, nv, n, s->blen > 0);
}

/* A stream's timer: its response is due, or its throttled body may go on. */
static void stream_fire(worker_t *w, stream_t *s)
{
    conn_t *c = s->c;
    if (s->state == ST_WAIT) {
        h2_respond(w, c, s);
    } else if (s->state == ST_DEFER) {
        s->state = ST_SENT;
        nghttp2_session_resume_data(c->x->h2, s->id);
    }
    conn_run(w, c);
}

static int h2_callbacks(struct mt_target *t)
{
    nghttp2_session_callbacks *cb;

    if (nghttp2_session_callbacks_new(&cb) != 0)
        return MT_ENOMEM;
    nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_frame_recv_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_frame_send_cb);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, h2_invalid_frame_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_stream_close_cb);
    t->h2_cbs = cb;
    if (nghttp2_option_new(&t->h2_opt) != 0)
        return MT_ENOMEM;
    nghttp2_option_set_max_send_header_block_length(t->h2_opt, H2_MAX_HEADERS);
    return h2_prepare(t);
}

/* The connection speaks HTTP/2 from here on; data: bytes already read (the preface...). */
static void h2_start(worker_t *w, conn_t *c, const char *data, size_t len)
{
    nghttp2_settings_entry iv[1] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, w->t->h2_max_streams},
    };

    c->phase = P_H2;
    if (!c->x && !(c->x = xconn_get(w)))
        goto fail;
    if (nghttp2_session_server_new2(&c->x->h2, w->t->h2_cbs, c, w->t->h2_opt) != 0) {
        c->x->h2 = NULL;
        goto fail;
    }
    bump(w, C_H2_CONNS, 1);
    if (nghttp2_submit_settings(c->x->h2, NGHTTP2_FLAG_NONE, iv, 1) != 0)
        goto fail;
    if (len > 0 && nghttp2_session_mem_recv(c->x->h2, (const uint8_t *)data, len) < 0)
        goto fail;
    return;
fail:
    c->eof = 1; /* h2_run closes it */
}

/* Ends a connection whose session is done (GOAWAY): close_notify, FIN, linger. */
static void h2_end(worker_t *w, conn_t *c)
{
    if (c->x->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->x->ssl); /* best effort: the close_notify */
    }
    if (c->eof || shutdown(c->fd, SHUT_WR) != 0) {
        conn_close(w, c);
        return;
    }
    c->phase = P_LINGER;
    timer_set(w, &c->tm, w->now + LINGER_NS);
    if (c->readable)
        linger_read(w, c);
}

/* An HTTP/2 connection's turn: write what the session has, read and feed it what came. */
static void h2_run(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    char buf[H2_READ];
    int rounds = 0;

    if (!x || !x->h2) {
        conn_close(w, c);
        return;
    }
    for (;;) {
        ssize_t n;
        int rc = xflush(w, c);
        if (rc == MT_EAGAIN)
            return; /* EPOLLOUT (or a timer) resumes; reading waits: backpressure */
        /* the peer's FIN: like a parked HTTP/1 connection, a client that has gone is not
         * waited for (delayed streams are dropped, as HTTP/1 drops delayed requests) */
        if (rc != MT_OK || c->eof) {
            conn_close(w, c);
            return;
        }
        if (!nghttp2_session_want_read(x->h2) && !nghttp2_session_want_write(x->h2)) {
            h2_end(w, c);
            return;
        }
        if (!c->readable || c->eof)
            return;
        if (++rounds > ROUNDS) {
            ready_add(w, c);
            return;
        }
        if (x->ssl) {
            n = tls_read(w, c, buf, sizeof(buf));
            if (n == MT_EAGAIN)
                continue;
        } else {
            n = recv(c->fd, buf, sizeof(buf), 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (errno != EINTR)
                    c->readable = 0;
                continue;
            }
            if (n > 0 && (size_t)n < sizeof(buf) && !c->rdhup)
                c->readable = 0;
        }
        if (n < 0) {
            conn_close(w, c);
            return;
        }
        if (n == 0) {
            c->eof = 1;
            c->readable = 0;
            continue;
        }
        bump(w, C_BYTES_IN, (uint64_t)n);
        if (nghttp2_session_mem_recv(x->h2, (uint8_t *)buf, (size_t)n) < 0) {
            /* a connection error: nghttp2 has queued its GOAWAY; send it if it goes at once */
            xflush(w, c);
            conn_close(w, c);
            return;
        }
    }
}

/* Before HTTP: the TLS sniff and handshake, and HTTP/2 connections. Returns true if it has
 * handled this turn, false if the HTTP/1 loop should run (cleartext, or TLS established). */
static bool special_run(worker_t *w, conn_t *c)
{
    xconn_t *x;

    if (c->sniff) {
        unsigned char b;
        ssize_t n;
        if (!c->readable)
            return true;
        n = recv(c->fd, &b, 1, MSG_PEEK);
        if (n < 0 && errno == EINTR)
            return true;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->readable = 0;
            return true;
        }
        if (n <= 0) {
            conn_close(w, c);
            return true;
        }
        c->sniff = 0;
        if (b != 0x16)
            return false; /* cleartext on the TLS port */
        if (!(c->x = xconn_get(w)) || !(c->x->ssl = SSL_new(w->t->ssl_ctx)) ||
            SSL_set_fd(c->x->ssl, c->fd) != 1) {
            bump(w, C_TLS_ERRORS, 1);
            conn_close(w, c);
            return true;
        }
        SSL_set_accept_state(c->x->ssl);
    }
    x = c->x;
    if (!x)
        return false;
    if (x->ssl && !x->hs_done) {
        int r, e;
        const unsigned char *alpn = NULL;
        unsigned alen = 0;

        ERR_clear_error();
        r = SSL_do_handshake(x->ssl);
        if (r != 1) {
            e = SSL_get_error(x->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                c->readable = 0;
                return true;
            }
            if (e == SSL_ERROR_WANT_WRITE)
                return true;
            bump(w, C_TLS_ERRORS, 1);
            conn_close(w, c);
            return true;
        }
        x->hs_done = 1;
        x->resumed = SSL_session_reused(x->ssl) ? 1 : 0;
        bump(w, x->resumed ? C_TLS_RESUMED : C_TLS_FULL, 1);
        c->readable = 1; /* records may have come with the last flight: read until WANT_READ */
        SSL_get0_alpn_selected(x->ssl, &alpn, &alen);
        if (alen == 2 && memcmp(alpn, "h2", 2) == 0)
            h2_start(w, c, NULL, 0);
    }
    if (c->phase == P_H2) {
        h2_run(w, c);
        return true;
    }
    return false;
}

/* ---- connections -------------------------------------------------------------------------- */

/* Reads once into the buffer. Returns 0, or -1 if the connection was closed. */
static int read_more(worker_t *w, conn_t *c)
{
    uint32_t keep = c->phase == P_HEAD ? c->head_start : c->rpos;
    size_t space;
    ssize_t n;

    if (keep > 0) {
        memmove(c->rbuf, c->rbuf + keep, c->rlen - keep);
        c->rlen -= keep;
        c->rpos -= keep;
        c->head_start = c->head_start >= keep ? c->head_start - keep : 0;
    }
    space = RBUF - c->rlen;
    if (space == 0) { /* cannot happen: the parser stops at RBUF bytes of head */
        conn_close(w, c);
        return -1;
    }
    if (c->x) {
        int r = tls_read(w, c, c->rbuf + c->rlen, space);
        if (r > 0) {
            c->rlen += (uint32_t)r;
            bump(w, C_BYTES_IN, (uint64_t)r);
            return 0;
        }
        if (r == MT_EAGAIN)
            return 0;
        if (r == 0) {
            c->eof = 1;
            c->readable = 0;
            return 0;
        }
        conn_close(w, c);
        return -1;
    }
    n = recv(c->fd, c->rbuf + c->rlen, space, 0);
    if (n > 0) {
        c->rlen += (uint32_t)n;
        bump(w, C_BYTES_IN, (uint64_t)n);
        if ((size_t)n < space && !c->rdhup)
            c->readable = 0; /* drained: the next edge will tell */
        return 0;
    }
    if (n == 0) {
        c->eof = 1;
        c->readable = 0;
        return 0;
    }
    if (errno == EINTR)
        return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->readable = 0;
        return 0;
    }
    conn_close(w, c);
    return -1;
}

/* Shut down (lingering): drain the peer until its FIN so unread data does not turn our close
 * into a reset that could destroy the last response in flight. */
static void linger_read(worker_t *w, conn_t *c)
{
    char sink[4096];
    for (int i = 0; i < ROUNDS; i++) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0) {
            bump(w, C_BYTES_IN, (uint64_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->readable = 0;
            return;
        }
        conn_close(w, c);
        return;
    }
    ready_add(w, c);
}

static void conn_run(worker_t *w, conn_t *c)
{
    int rounds = 0;
    if ((c->sniff || c->x) && c->phase != P_LINGER && special_run(w, c))
        return;
    for (;;) {
        if (c->phase == P_LINGER) {
            if (c->readable)
                linger_read(w, c);
            return;
        }
        process_input(w, c);
        if (c->phase == P_H2) { /* the HTTP/2 preface */
            h2_run(w, c);
            return;
        }
        /* over TLS, bytes may wait in the staging buffer with the queue already empty */
        if (c->out_n > 0 || (c->x && c->x->olen > 0)) {
            int rc = flush(w, c);
            if (rc == MT_EAGAIN)
                return;
            if (rc != MT_OK) {
                conn_close(w, c);
                return;
            }
            /* the queue was full: requests may be waiting in the buffer */
            if ((c->phase == P_HEAD || c->phase == P_BODY) && c->rpos < c->rlen)
                continue;
        }
        if (c->phase == P_RESET) {
            /* an RST instead of a FIN: the client sees "connection reset by peer" */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            conn_close(w, c);
            return;
        }
        if (c->phase == P_CLOSING) {
            if (c->x && c->x->ssl) {
                ERR_clear_error();
                SSL_shutdown(c->x->ssl); /* best effort: the close_notify */
            }
            if (c->eof || shutdown(c->fd, SHUT_WR) != 0) {
                conn_close(w, c);
                return;
            }
            c->phase = P_LINGER;
            timer_set(w, &c->tm, w->now + LINGER_NS);
            continue;
        }
        if (c->phase == P_PARKED)
            return;
        if (c->eof) {
            /* the peer sent everything it will: what is left is an incomplete request */
            conn_close(w, c);
            return;
        }
        if (!c->readable)
            return;
        if (++rounds > ROUNDS) {
            ready_add(w, c);
            return;
        }
        if (read_more(w, c) != 0)
            return;
    }
}

static void conn_event(worker_t *w, conn_t *c, uint32_t ev)
{
    if (c->fd < 0)
        return;
    if (ev & EPOLLERR) {
        conn_close(w, c);
        return;
    }
    if ((ev & (EPOLLRDHUP | EPOLLHUP)) && c->phase == P_PARKED) {
        /* the client gave up waiting (timeout): drop it now rather than hold its socket
         * until a delay that may be minutes long runs out */
        conn_close(w, c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        c->readable = 1;
    if ((ev & EPOLLOUT) && c->x && c->x->read_wants_write) {
        c->x->read_wants_write = 0;
        c->readable = 1;
    }
    if (ev & (EPOLLRDHUP | EPOLLHUP))
        c->rdhup = 1;
    conn_run(w, c);
}

static conn_t *conn_get(worker_t *w)
{
    conn_t *c;
    if (!heap_reserve(w))
        return NULL;
    if (w->free) {
        c = w->free;
        w->free = c->anext;
        w->nfree--;
    } else {
        c = malloc(sizeof(*c));
        if (!c)
            return NULL;
    }
    c->tag.kind = K_CONN;
    c->phase = P_HEAD;
    c->readable = c->rdhup = c->eof = c->in_ready = c->used = 0;
    c->sniff = w->t->ssl_ctx != NULL;
    c->x = NULL;
    c->slow_bps = c->slow_sent = 0;
    c->slow_t0 = 0;
    c->fd = -1;
    c->tm.idx = NOT_IN_HEAP;
    c->tm.kind = TM_CONN;
    c->tm.due = 0;
    c->aprev = c->anext = c->rprev = c->rnext = NULL;
    c->body_left = 0;
    c->rpos = c->rlen = c->head_start = 0;
    c->out_head = c->out_n = c->scratch_used = 0;
    mt__h1_req_init(&c->req, RBUF);
    return c;
}

static void do_accept(worker_t *w)
{
    for (;;) {
        struct epoll_event ev;
        conn_t *c;
        int one = 1;
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the edge is spent, so come back later */
            bump(w, C_ACCEPT_ERRORS, 1);
            w->accept_retry = w->now + ACCEPT_RETRY_NS;
            return;
        }
        c = conn_get(w);
        if (!c) {
            close(fd);
            bump(w, C_ACCEPT_ERRORS, 1);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            c->anext = w->free;
            w->free = c;
            w->nfree++;
            bump(w, C_ACCEPT_ERRORS, 1);
            continue;
        }
        c->anext = w->all;
        if (w->all)
            w->all->aprev = c;
        w->all = c;
        w->nconns++;
        bump(w, C_CONNECTIONS, 1);
    }
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void run_timers(worker_t *w)
{
    while (w->nheap > 0 && w->heap[0]->due <= w->now) {
        tmr_t *m = w->heap[0];
        conn_t *c;
        heap_remove(w, m);
        if (m->kind == TM_STREAM) {
            stream_fire(w, (stream_t *)m);
            continue;
        }
        c = CONN_OF(m);
        if (c->phase == P_PARKED) {
            respond(w, c);
            conn_run(w, c);
        } else if (c->phase == P_LINGER) {
            conn_close(w, c); /* lingered long enough */
        } else {
            conn_run(w, c); /* a throttled response's next slice */
        }
    }
    if (w->accept_retry && w->accept_retry <= w->now) {
        w->accept_retry = 0;
        do_accept(w);
    }
}

static void run_ready(worker_t *w)
{
    /* only those queued before this pass: a connection re-queued by conn_run waits */
    conn_t *last = w->ready_tail;
    while (w->ready_head) {
        conn_t *c = w->ready_head;
        bool was_last = c == last;
        ready_remove(w, c);
        conn_run(w, c);
        if (was_last)
            break;
    }
}

/* How long epoll may sleep: until the next timer (nanosecond precision), not at all when
 * connections wait in the ready list, or forever (NULL). */
static const struct timespec *wait_time(worker_t *w, struct timespec *ts)
{
    int64_t next = INT64_MAX, d;

    if (w->ready_head) {
        next = 0;
    } else {
        if (w->nheap > 0)
            next = w->heap[0]->due;
        if (w->accept_retry && w->accept_retry < next)
            next = w->accept_retry;
        if (next == INT64_MAX)
            return NULL;
    }
    d = next == 0 ? 0 : next - now_ns();
    if (d < 0)
        d = 0;
    ts->tv_sec = d / NS_PER_S;
    ts->tv_nsec = d % NS_PER_S;
    return ts;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    struct epoll_event evs[MAX_EVENTS];

    /* timers are the server's product (delay=, --stall): no 50 us of default slack */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    while (!w->quit) {
        struct timespec ts;
        int n = epoll_pwait2(w->ep, evs, MAX_EVENTS, wait_time(w, &ts), NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            w->err = MT_ESYS;
            break;
        }
        w->now = now_ns();
        for (int i = 0; i < n; i++) {
            tag_t *tg = evs[i].data.ptr;
            switch (tg->kind) {
            case K_LISTEN:
                do_accept(w);
                break;
            case K_STOP:
                w->quit = true;
                break;
            default:
                conn_event(w, (conn_t *)tg, evs[i].events);
                break;
            }
        }
        w->now = now_ns();
        run_timers(w);
        run_ready(w);
        reap(w);
    }
    while (w->all)
        conn_close(w, w->all);
    reap(w);
    return NULL;
}

/* ---- life cycle --------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void errf(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

bool mt_target_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!host)
        return false;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int cmp_stall(const void *a, const void *b)
{
    const mt_target_stall_t *x = a, *y = b;
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* A socket bound to addr; reuseport for the listeners, not for the probe that checks nobody
 * else listens there (SO_REUSEPORT would otherwise silently share the port with them). */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t sl, bool reuseport,
                       const char *host, char *err, size_t errlen, int *out)
{
    int one = 1, rc = MT_ESYS;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    char port[8];

    snprintf(port, sizeof(port), "%u",
             ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
                                      : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
    if (fd < 0) {
        errf(err, errlen, "socket: %s", strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        errf(err, errlen, "setsockopt SO_REUSEPORT: %s", strerror(errno));
        goto out;
    }
    if (bind(fd, (const struct sockaddr *)ss, sl) != 0) {
        char what[96];
        snprintf(what, sizeof(what), ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
        errf(err, errlen, "bind %s: %s", what, strerror(errno));
        goto out;
    }
    *out = fd;
    fd = -1;
    rc = MT_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The malformed responses (enum mt__tgt_malformed_kind); each ends the connection. */
static const char k_mal_status[] = "HTTP/1.1 2x0 OK\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 3\r\nConnection: close\r\n\r\nok\n";
static const char k_mal_chunk[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n";
static const char k_mal_truncated[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 1000\r\nConnection: close\r\n\r\nok\n";

/* Oversized: OVERSIZED_LINES header lines of 1 KiB each, past MT_H1_MAX_HEADER_BYTES. */
static int prepare_malformed(struct mt_target *t)
{
    static const char first[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    static const char last[] = "Content-Length: 0\r\nConnection: close\r\n\r\n";
    size_t len = sizeof(first) - 1 + OVERSIZED_LINES * 1024 + sizeof(last) - 1, off;

    t->oversized = malloc(len);
    if (!t->oversized)
        return MT_ENOMEM;
    memcpy(t->oversized, first, sizeof(first) - 1);
    off = sizeof(first) - 1;
    for (int i = 0; i < OVERSIZED_LINES; i++) {
        /* "X-Padding-00: xxx...x\r\n", 1024 bytes */
        memcpy(t->oversized + off, "X-Padding-", 10);
        t->oversized[off + 10] = (char)('0' + i / 10);
        t->oversized[off + 11] = (char)('0' + i % 10);
        memcpy(t->oversized + off + 12, ": ", 2);
        memset(t->oversized + off + 14, 'x', 1024 - 16);
        memcpy(t->oversized + off + 1022, "\r\n", 2);
        off += 1024;
    }
    memcpy(t->oversized + off, last, sizeof(last) - 1);
    t->mal[MT__TGT_MAL_STATUS_LINE] = k_mal_status;
    t->mal_len[MT__TGT_MAL_STATUS_LINE] = sizeof(k_mal_status) - 1;
    t->mal[MT__TGT_MAL_CHUNK_SIZE] = k_mal_chunk;
    t->mal_len[MT__TGT_MAL_CHUNK_SIZE] = sizeof(k_mal_chunk) - 1;
    t->mal[MT__TGT_MAL_TRUNCATED] = k_mal_truncated;
    t->mal_len[MT__TGT_MAL_TRUNCATED] = sizeof(k_mal_truncated) - 1;
    t->mal[MT__TGT_MAL_OVERSIZED] = t->oversized;
    t->mal_len[MT__TGT_MAL_OVERSIZED] = len;
    return MT_OK;
}

static int prepare(struct mt_target *t, const mt_target_config_t *cfg)
{
    static const char ok[] = "ok\n";
    size_t each;
    int rc;

    if ((rc = prepare_malformed(t)) != MT_OK)
        return rc;

    t->filler = malloc(FILLER);
    if (!t->filler)
        return MT_ENOMEM;
    memset(t->filler, 'x', FILLER);
    t->default_fill = cfg->has_body_size;
    t->default_len = cfg->has_body_size ? cfg->body_size : sizeof(ok) - 1;
    t->default_inline = t->default_len <= INLINE_MAX;
    each = MT__TGT_HEAD_MAX + (t->default_inline ? t->default_len : 0);
    t->prep_mem = malloc(3 * each);
    if (!t->prep_mem)
        return MT_ENOMEM;
    for (int i = 0; i < 3; i++) {
        prep_t *p = &t->prep[i];
        p->buf = t->prep_mem + (size_t)i * each;
        p->head_len = (uint32_t)mt__tgt_format_head(p->buf, 200, t->default_len, i);
        p->len = p->head_len;
        if (t->default_inline) {
            if (t->default_fill)
                memset(p->buf + p->head_len, 'x', t->default_len);
            else
                memcpy(p->buf + p->head_len, ok, t->default_len);
            p->len += (uint32_t)t->default_len;
        }
    }
    return MT_OK;
}

static int worker_init(struct mt_target *t, worker_t *w, unsigned index, char *err, size_t errlen)
{
    struct epoll_event ev;
    /* own cache lines: one thread's increments never invalidate another's */
    size_t csize = (sizeof(counters_t) + 63) / 64 * 64;

    w->t = t;
    w->rng = mt__tgt_rand_seed(t->seed, index);
    w->cnt = aligned_alloc(64, csize);
    if (!w->cnt) {
        errf(err, errlen, "out of memory");
        return MT_ENOMEM;
    }
    memset(w->cnt, 0, csize);
    w->listen_tag.kind = K_LISTEN;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0) {
        errf(err, errlen, "epoll_create1: %s", strerror(errno));
        return MT_ESYS;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = &w->listen_tag;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev) != 0)
        goto fail;
    ev.events = EPOLLIN;
    ev.data.ptr = &t->stop_tag;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, t->stop_fd, &ev) != 0)
        goto fail;
    return MT_OK;
fail:
    errf(err, errlen, "epoll_ctl: %s", strerror(errno));
    return MT_ESYS;
}

int mt_target_new(const mt_target_config_t *cfg, mt_target_t **out, char *err, size_t errlen)
{
    struct mt_target *t = NULL;
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    int rc = MT_EINVAL, probe = -1;
    mt__tgt_behave_t defaults;
    char msg[MT__TGT_MSG_MAX];

    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons(cfg->port);
        sl = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(cfg->port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        errf(err, errlen, "'%s' is not a numeric IPv4 or IPv6 address", host);
        goto out;
    }
    if (!cfg->allow_remote && !mt_target_is_loopback(host)) {
        errf(err, errlen, "%s is not a loopback address", host);
        goto out;
    }
    if (cfg->threads < 0 || cfg->threads > MT_TARGET_MAX_THREADS) {
        errf(err, errlen, "threads: %d is not in 0..%d", cfg->threads, MT_TARGET_MAX_THREADS);
        goto out;
    }
    if (cfg->has_body_size && cfg->body_size > MT_TARGET_MAX_BODY) {
        errf(err, errlen, "body size: %llu is more than 1g", (unsigned long long)cfg->body_size);
        goto out;
    }
    if (cfg->nstalls > MT_TARGET_MAX_STALLS || (cfg->nstalls > 0 && !cfg->stalls)) {
        errf(err, errlen, "stalls: %zu, at most %d", cfg->nstalls, MT_TARGET_MAX_STALLS);
        goto out;
    }
    if (cfg->h2_max_streams > MT_TARGET_MAX_H2_STREAMS) {
        errf(err, errlen, "h2 max streams: %u is not in 1..%d", (unsigned)cfg->h2_max_streams,
             MT_TARGET_MAX_H2_STREAMS);
        goto out;
    }
    if (cfg->tls_self_signed && (cfg->tls_cert || cfg->tls_key)) {
        errf(err, errlen, "TLS: a certificate and key, or a self-signed certificate, not both");
        goto out;
    }
    if (!cfg->tls_self_signed && (!cfg->tls_cert != !cfg->tls_key)) {
        errf(err, errlen, "TLS needs both a certificate and a key");
        goto out;
    }
    if (cfg->tls_self_signed_out && !cfg->tls_self_signed) {
        errf(err, errlen, "TLS: the self-signed output needs a self-signed certificate");
        goto out;
    }
    for (size_t i = 0; i < cfg->nstalls; i++) {
        if (cfg->stalls[i].start_ns < 0 || cfg->stalls[i].len_ns <= 0 ||
            cfg->stalls[i].start_ns > INT64_MAX / 4 || cfg->stalls[i].len_ns > INT64_MAX / 4) {
            errf(err, errlen, "stall %zu: start must be >= 0 and length > 0", i + 1);
            goto out;
        }
    }

    mt__tgt_behave_init(&defaults);
    if (cfg->defaults &&
        mt__tgt_behave_apply(cfg->defaults, strlen(cfg->defaults), &defaults, msg) != 0) {
        msg[strcspn(msg, "\n")] = 0;
        errf(err, errlen, "%s", msg);
        goto out;
    }

    rc = MT_ENOMEM;
    t = calloc(1, sizeof(*t));
    if (!t)
        goto out;
    if (pthread_mutex_init(&t->base_lock, NULL) != 0)
        goto out;
    t->base_lock_init = true;
    t->defaults = defaults;
    t->plain = defaults.status == 200 && defaults.nmix == 1 && defaults.delay_ns == 0 &&
               defaults.delay_kind == MT__TGT_DELAY_FIXED && !defaults.has_size &&
               !defaults.chunked && !defaults.close && !defaults.reset && !defaults.malformed &&
               !defaults.slow_bps;
    t->seed = cfg->seed;
    t->stop_fd = -1;
    t->stop_tag.kind = K_STOP;
    t->nthreads = cfg->threads ? cfg->threads : cpu_count();
    if (t->nthreads > MT_TARGET_MAX_THREADS)
        t->nthreads = MT_TARGET_MAX_THREADS;
    t->http2 = !cfg->no_http2;
    t->h2_max_streams = cfg->h2_max_streams ? cfg->h2_max_streams : MT_TARGET_H2_STREAMS;
    t->nstalls = cfg->nstalls;
    if (cfg->nstalls)
        memcpy(t->stalls, cfg->stalls, cfg->nstalls * sizeof(t->stalls[0]));
    qsort(t->stalls, t->nstalls, sizeof(t->stalls[0]), cmp_stall);
    atomic_init(&t->epoch, 0);
    if ((rc = prepare(t, cfg)) != MT_OK || (rc = h2_callbacks(t)) != MT_OK)
        goto out;
    if (cfg->tls_self_signed || cfg->tls_cert || cfg->tls_key) {
        rc = mt__tgt_tls_ctx(cfg->tls_cert, cfg->tls_key, cfg->tls_self_signed,
                             cfg->tls_self_signed_out, t->http2, &t->ssl_ctx, err, errlen);
        if (rc != MT_OK)
            goto out;
    }
    t->workers = calloc((size_t)t->nthreads, sizeof(worker_t));
    if (!t->workers) {
        rc = MT_ENOMEM;
        goto out;
    }
    for (int i = 0; i < t->nthreads; i++)
        t->workers[i].ep = t->workers[i].lfd = -1;

    rc = MT_ESYS;
    t->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->stop_fd < 0) {
        errf(err, errlen, "eventfd: %s", strerror(errno));
        goto out;
    }
    /* the probe: fails if anyone listens there already, and picks the port for port 0 */
    if ((rc = bind_socket(&ss, sl, false, host, err, errlen, &probe)) != MT_OK)
        goto out;
    if (getsockname(probe, (struct sockaddr *)&ss, &sl) != 0) {
        errf(err, errlen, "getsockname: %s", strerror(errno));
        rc = MT_ESYS;
        goto out;
    }
    t->port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                      : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    close(probe);
    probe = -1;
    for (int i = 0; i < t->nthreads; i++) {
        worker_t *w = &t->workers[i];
        if ((rc = bind_socket(&ss, sl, true, host, err, errlen, &w->lfd)) != MT_OK)
            goto out;
        if (listen(w->lfd, SOMAXCONN) != 0) {
            errf(err, errlen, "listen: %s", strerror(errno));
            rc = MT_ESYS;
            goto out;
        }
        if ((rc = worker_init(t, w, (unsigned)i, err, errlen)) != MT_OK)
            goto out;
    }
    *out = t;
    t = NULL;
    rc = MT_OK;
out:
    if (probe >= 0)
        close(probe);
    mt_target_free(t);
    return rc;
}

uint16_t mt_target_port(const mt_target_t *t)
{
    return t->port;
}

int mt_target_threads(const mt_target_t *t)
{
    return t->nthreads;
}

int mt_target_start(mt_target_t *t)
{
    sigset_t all, old;
    int rc = MT_OK;

    if (t->started)
        return MT_EINVAL;
    t->started = true;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i < t->nthreads; i++) {
        if (pthread_create(&t->workers[i].thread, NULL, worker_main, &t->workers[i]) != 0) {
            rc = MT_ESYS;
            break;
        }
        t->nstarted++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != MT_OK) {
        mt_target_stop(t);
        mt_target_wait(t);
    }
    return rc;
}

void mt_target_stop(mt_target_t *t)
{
    uint64_t one = 1;
    if (t && t->stop_fd >= 0 && write(t->stop_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, which is all we need */
    }
}

int mt_target_wait(mt_target_t *t)
{
    int rc = MT_OK;
    if (!t->started || t->joined)
        return MT_OK;
    for (int i = 0; i < t->nstarted; i++) {
        pthread_join(t->workers[i].thread, NULL);
        if (rc == MT_OK && t->workers[i].err)
            rc = t->workers[i].err;
    }
    t->joined = true;
    return rc;
}

void mt_target_stats(const mt_target_t *t, mt_target_stats_t *out)
{
    uint64_t sum[NCOUNTERS];

    sum_counters(t, sum);
    memset(out, 0, sizeof(*out));
    out->connections = sum[C_CONNECTIONS];
    out->requests = sum[C_REQUESTS];
    out->responses = sum[C_RESPONSES];
    out->bad_requests = sum[C_BAD_REQUESTS];
    out->bad_params = sum[C_BAD_PARAMS];
    out->accept_errors = sum[C_ACCEPT_ERRORS];
    out->resets = sum[C_RESETS];
    out->malformed = sum[C_MALFORMED];
    out->closes = sum[C_CLOSES];
    out->bytes_in = sum[C_BYTES_IN];
    out->bytes_out = sum[C_BYTES_OUT];
    out->tls_handshakes_full = sum[C_TLS_FULL];
    out->tls_handshakes_resumed = sum[C_TLS_RESUMED];
    out->tls_errors = sum[C_TLS_ERRORS];
    out->h2_connections = sum[C_H2_CONNS];
    out->h2_streams = sum[C_H2_STREAMS];
    out->h2_goaways = sum[C_H2_GOAWAYS];
    out->h2_rst_streams = sum[C_H2_RST];
}

int mt_target_check_behaviour(const char *query, char *err, size_t errlen)
{
    mt__tgt_behave_t b;
    char msg[MT__TGT_MSG_MAX];

    mt__tgt_behave_init(&b);
    if (!query || mt__tgt_behave_apply(query, strlen(query), &b, msg) == 0)
        return MT_OK;
    msg[strcspn(msg, "\n")] = 0;
    errf(err, errlen, "%s", msg);
    return MT_EINVAL;
}

void mt_target_free(mt_target_t *t)
{
    if (!t)
        return;
    if (t->started && !t->joined) {
        mt_target_stop(t);
        mt_target_wait(t);
    }
    for (int i = 0; t->workers && i < t->nthreads; i++) {
        worker_t *w = &t->workers[i];
        while (w->free) {
            conn_t *c = w->free;
            w->free = c->anext;
            free(c);
        }
        while (w->sfree) {
            stream_t *st = w->sfree;
            w->sfree = st->next;
            free(st);
        }
        while (w->xfree) {
            xconn_t *x = w->xfree;
            w->xfree = x->nfree;
            free(x);
        }
        free(w->heap);
        free(w->cnt);
        if (w->lfd >= 0)
            close(w->lfd);
        if (w->ep >= 0)
            close(w->ep);
    }
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    free(t->workers);
    free(t->prep_mem);
    free(t->filler);
    free(t->oversized);
    SSL_CTX_free(t->ssl_ctx);
    if (t->h2_cbs)
        nghttp2_session_callbacks_del(t->h2_cbs);
    if (t->h2_opt)
        nghttp2_option_del(t->h2_opt);
    free(t->h2_mal_nv[MT__TGT_MAL_OVERSIZED]);
    free(t->h2_pad_names);
    if (t->base_lock_init)
        pthread_mutex_destroy(&t->base_lock);
    free(t);
}
