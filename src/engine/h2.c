/* HTTP/2 in the engine (docs/adr/0015-tls-and-http2.md): nghttp2 client sessions on the
 * worker's connections, many streams per connection. nghttp2 does the framing, HPACK, flow
 * control and the peer's stream limit; this file feeds it bytes (mem_recv / mem_send, so TLS
 * and cleartext share one path), keeps each stream's request timing, and maps stream and
 * connection ends to the engine's statistics.
 *
 * Open model: a due request goes to a connection with a free stream (connecting ones
 * included: their streams start when the session is up), else to a new connection, else to
 * the backlog. Closed model: each connection keeps cfg.streams requests in flight. Streams the
 * server refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream id) are sent
 * again on another connection with their original due time (counted as h2_retried). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "engine/internal.h"
#include "proto/http1_req.h"

#define H2_WINDOW    (16 * 1024 * 1024) /* our receive window: never the bottleneck */
#define H2_OUT_CHUNK 16384

typedef mt__h2req_t h2req_t;

typedef struct h2stream {
    mt__link_t link; /* in the worker's stream deadline list */
    int64_t deadline;
    uint8_t linked;
    uint8_t peer_rst; /* the server reset it (else a reset is ours: a malformed response) */
    struct mt__conn *conn;
    struct h2stream *prev, *next; /* on the connection */
    struct h2stream *next_free;
    mt__reqtimes_t t;
    uint32_t req;
    uint32_t hbytes; /* response header bytes so far: limited as for HTTP/1 */
    int32_t id;      /* 0 until submitted */
    size_t body_off;
    int64_t done_at;  /* the server's END_STREAM arrived (the response is complete) */
    const h2req_t *q; /* what is sent: hw->reqs[req], or own */
    uint64_t qlen;    /* the request's HTTP/1 size (the sent counter) */
    /* scripted requests only (cfg.script; docs/adr/0031-lua-scripts.md) */
    struct h2sreq *own; /* this stream's request from request() (freed with the stream) */
    char *rbuf;         /* the response as HTTP/1-style text for response() */
    size_t rlen, rcap;
    uint8_t collect;   /* keep the response for response() */
    uint8_t rhead_end; /* the head's blank line was added (body or end) */
    uint8_t rtrunc;    /* max_response reached */
    uint8_t heap;      /* allocated beyond the pool (a request() result over the free streams) */
    uint8_t delayed;   /* a finished stream's place, held for delay() (closed model) */
    uint8_t retried;   /* refused by the server and waiting to go again: its send was counted */
} h2stream_t;

/* A scripted request's bytes and its header fields (which point into data). */
struct h2sreq {
    h2req_t q;
    size_t len;
    char data[];
};

struct mt__h2conn {
    mt__worker_t *w;
    nghttp2_session *s;
    h2stream_t *streams; /* attached to this connection, oldest first: pending or submitted */
    h2stream_t *tail;    /* the newest */
    uint32_t nstreams;
    uint32_t npending;   /* of those, not submitted yet (waiting for the session or SETTINGS) */
    uint8_t ready;       /* session up */
    uint8_t settings;    /* the server's SETTINGS arrived: its stream limit is known */
    uint8_t goaway;      /* no new streams */
    uint8_t on_stack;    /* in the worker's ready stack */
    int32_t goaway_last; /* the GOAWAY's last stream id: streams above it were not processed */
    uint8_t *out;        /* bytes nghttp2 produced that the socket did not take yet */
    size_t outlen, outoff, outcap;
};

struct mt__h2worker {
    struct mt__h2conn *conns; /* one per worker connection */
    h2stream_t *pool;
    h2stream_t *free;
    mt__link_t inflight; /* submitted streams by deadline */
    mt__link_t delayed;  /* scripts: finished streams' places waiting out delay(), by deadline */
    mt__conn_t **ready;  /* connections that take another stream */
    uint32_t nready;
    uint32_t limit; /* streams per connection */
    h2req_t *reqs;
    nghttp2_session_callbacks *cbs;
    mt__worker_t *w;
};

/* ---- requests: the pre-serialised HTTP/1 request as HTTP/2 header fields -------------- */

static int h2_nv(nghttp2_nv *nv, const char *name, size_t nlen, const char *value, size_t vlen)
{
    nv->name = (uint8_t *)(uintptr_t)name;
    nv->namelen = nlen;
    nv->value = (uint8_t *)(uintptr_t)value;
    nv->valuelen = vlen;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
    return 1;
}

/* Fields that are HTTP/1 connection-specific (RFC 9113 8.2.2) are dropped. */
static int h2_skip(const char *n, size_t len)
{
    static const char *const drop[] = {"connection",        "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade",    "host"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strlen(drop[i]) == len && strncasecmp(n, drop[i], len) == 0)
            return 1;
    return 0;
}

/* Builds one request's fields; names are lowercased into `lower` (owned by the caller). */
int mt__h2_req_build(const mt_request_t *q, int tls, mt__h2req_t *out)
{
    char **lower = &out->lower;
    const char *p = q->data, *end = q->data + q->len;
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!eol || !hend)
        return MT_EINVAL;
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2)
        return MT_EINVAL;
    size_t maxf = 4;
    for (const char *x = eol + 2; x < hend; x++)
        maxf += *x == '\n';
    maxf += 2;
    out->nv = calloc(maxf, sizeof *out->nv);
    *lower = malloc((size_t)(hend - p) + 1);
    if (!out->nv || !*lower)
        return MT_ENOMEM;
    memcpy(*lower, p, (size_t)(hend - p));
    size_t n = 0;
    n += h2_nv(&out->nv[n], ":method", 7, p, (size_t)(sp1 - p));
    n += h2_nv(&out->nv[n], ":scheme", 7, tls ? "https" : "http", tls ? 5 : 4);
    size_t authority = n++;
    out->nv[authority].name = NULL;
    n += h2_nv(&out->nv[n], ":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    for (const char *l = eol + 2; l < hend;) {
        const char *le = memmem(l, (size_t)(hend + 2 - l), "\r\n", 2);
        const char *colon = memchr(l, ':', (size_t)(le - l));
        if (!colon)
            return MT_EINVAL;
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t'))
            v++;
        size_t nlen = (size_t)(colon - l);
        if (nlen == 4 && strncasecmp(l, "host", 4) == 0)
            h2_nv(&out->nv[authority], ":authority", 10, v, (size_t)(le - v));
        if (!h2_skip(l, nlen)) {
            char *ln = *lower + (l - p);
            for (size_t i = 0; i < nlen; i++)
                ln[i] = (char)((ln[i] >= 'A' && ln[i] <= 'Z') ? ln[i] + 32 : ln[i]);
            n += h2_nv(&out->nv[n], ln, nlen, v, (size_t)(le - v));
        }
        l = le + 2;
    }
    if (!out->nv[authority].name) { /* no Host: drop the slot */
        memmove(&out->nv[authority], &out->nv[authority + 1],
                (n - authority - 1) * sizeof *out->nv);
        n--;
    }
    out->nnv = n;
    out->body = hend + 4;
    out->body_len = (size_t)(end - (hend + 4));
    return MT_OK;
}

/* ---- streams -------------------------------------------------------------------------- */

static void s_unlink(h2stream_t *s)
{
    if (!s->linked)
        return;
    mt__list_remove(&s->link);
    s->linked = 0;
}

static void s_append(mt__link_t *l, h2stream_t *s, int64_t deadline)
{
    s_unlink(s);
    s->deadline = deadline;
    mt__list_append(l, &s->link);
    s->linked = 1;
}

static h2stream_t *s_head(mt__link_t *l)
{
    return l->next == l ? NULL : (h2stream_t *)((char *)l->next - offsetof(h2stream_t, link));
}

static struct mt__h2conn *H(mt__worker_t *w, mt__conn_t *c)
{
    return &w->h2->conns[c - w->conns];
}

static h2stream_t *s_new(mt__worker_t *w, mt__conn_t *c, mt__job_t job)
{
    struct mt__h2worker *hw = w->h2;
    h2stream_t *s = hw->free;
    uint8_t heap = 0;
    if (s) {
        hw->free = s->next_free;
    } else if (w->script) { /* a request() result beyond the free streams waits on the conn */
        s = malloc(sizeof *s);
        if (!s)
            return NULL;
        heap = 1;
    } else {
        return NULL;
    }
    memset(s, 0, sizeof *s);
    s->heap = heap;
    s->conn = c;
    s->req = job.req;
    s->t.due = job.due;
    s->retried = job.retried;
    const mt_request_t *rq = &w->run->cfg.requests[job.req];
    s->t.tag = rq->tag;
    s->q = &hw->reqs[job.req];
    s->qlen = rq->len;
    struct mt__h2conn *h = H(w, c);
    s->prev = h->tail; /* appended: pending streams are sent oldest first */
    if (h->tail)
        h->tail->next = s;
    else
        h->streams = s;
    h->tail = s;
    h->nstreams++;
    h->npending++;
    return s;
}

static void sreq_free(struct h2sreq *o)
{
    if (!o)
        return;
    free(o->q.lower);
    free(o->q.nv);
    free(o);
}

static void s_free(mt__worker_t *w, h2stream_t *s)
{
    struct mt__h2conn *h = H(w, s->conn);
    s_unlink(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        h->tail = s->prev;
    h->nstreams--;
    h->npending -= s->id == 0;
    if (h->s && s->id > 0)
        nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
    if (__builtin_expect(w->script != NULL, 0)) {
        sreq_free(s->own);
        free(s->rbuf);
        if (s->heap) {
            free(s);
            return;
        }
    }
    s->next_free = w->h2->free;
    w->h2->free = s;
}

static uint32_t conn_limit(mt__worker_t *w, struct mt__h2conn *h)
{
    uint32_t lim = w->h2->limit;
    if (h->s) {
        uint32_t peer =
            nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (peer < lim)
            lim = peer;
    }
    return lim ? lim : 1;
}

static int conn_takes(mt__worker_t *w, mt__conn_t *c)
{
    struct mt__h2conn *h = H(w, c);
    return c->fd >= 0 && !h->goaway && h->nstreams < conn_limit(w, h);
}

static void ready_push(mt__worker_t *w, mt__conn_t *c)
{
    struct mt__h2conn *h = H(w, c);
    if (h->on_stack || !mt__open_model(w))
        return;
    h->on_stack = 1;
    w->h2->ready[w->h2->nready++] = c;
}

static void ready_remove(mt__worker_t *w, mt__conn_t *c)
{
    struct mt__h2conn *h = H(w, c);
    if (!h->on_stack)
        return;
    h->on_stack = 0;
    for (uint32_t i = 0; i < w->h2->nready; i++)
        if (w->h2->ready[i] == c) {
            w->h2->ready[i] = w->h2->ready[--w->h2->nready];
            return;
        }
}

/* ---- scripted requests (cfg.script; off the unscripted path) --------------------------- */

static void script_error(mt__worker_t *w)
{
    if (!w->err) {
        w->err = MT_EINVAL;
        mt_run_stop(w->run);
    }
}

/* The first request of a request() result: MT_OK and its length (head and Content-Length
 * body), MT_EEOF when only blank lines are left, else MT_EINVAL. */
int mt__h2_script_next(const char *p, size_t len, size_t *reqlen)
{
    mt__h1_req_t q;
    size_t used = 0;
    mt__h1_req_init(&q, MT_H1_MAX_HEADER_BYTES);
    int rc = mt__h1_req_feed(&q, p, len, &used);
    if (rc == MT_EAGAIN) {
        for (size_t i = 0; i < len; i++)
            if (p[i] != '\r' && p[i] != '\n')
                return MT_EINVAL;
        return MT_EEOF;
    }
    if (rc != MT_OK || q.has_transfer_encoding || q.content_length > len - used)
        return MT_EINVAL;
    *reqlen = used + (size_t)q.content_length;
    return MT_OK;
}

/* One request() call: each request of its result becomes a stream on c, pending until the
 * connection has a free stream (conn_refill sends them oldest first). MT_OK, or no request:
 * the script stopped its thread (MT_EEOF) or failed (the run stops). */
static int s_script(mt__worker_t *w, mt__conn_t *c, mt__job_t job)
{
    mt_script_req_t q;
    int rc = w->script_stopped ? MT_EEOF : w->script->request(w->script->ud, w->id, &q);
    if (rc != MT_OK) {
        if (rc == MT_EEOF) {
            w->script_stopped = 1;
            if (mt__open_model(w))
                mt__stat_dropped(w, 0);
        } else {
            script_error(w);
        }
        return rc;
    }
    const mt_run_config_t *cfg = &w->run->cfg;
    size_t off = 0;
    uint32_t k = 0;
    while (off < q.len) {
        size_t len;
        int frc = mt__h2_script_next(q.data + off, q.len - off, &len);
        if (frc == MT_EEOF && k > 0) /* trailing blank lines (request() checked) */
            break;
        if (frc != MT_OK) {
            script_error(w);
            return MT_EINVAL;
        }
        struct h2sreq *o = malloc(sizeof *o + len);
        if (!o) {
            w->err = MT_ENOMEM;
            mt_run_stop(w->run);
            return MT_ENOMEM;
        }
        memset(&o->q, 0, sizeof o->q);
        o->len = len;
        memcpy(o->data, q.data + off, len);
        mt_request_t one = {.data = o->data, .len = len};
        if (mt__h2_req_build(&one, cfg->tls != NULL, &o->q) != MT_OK) {
            sreq_free(o);
            script_error(w);
            return MT_EINVAL;
        }
        h2stream_t *s = s_new(w, c, job);
        if (!s) {
            sreq_free(o);
            w->err = MT_ENOMEM;
            mt_run_stop(w->run);
            return MT_ENOMEM;
        }
        s->own = o;
        s->q = &o->q;
        s->qlen = len;
        s->t.tag = q.tag;
        s->collect = w->script->response != NULL;
        off += len;
        k++;
    }
    if (k > 1 && mt__open_model(w)) { /* one due slot, several requests: each is due */
        w->slot->c.due += k - 1;
        if (w->slot->tags)
            w->slot->tags[q.tag].c.due += k - 1;
    }
    return MT_OK;
}

/* Response text for response(), as HTTP/1-style bytes ("HTTP/2.0 200", lower-case names as
 * h2 gives them, the body as received), up to the hooks' limit. */
static void r_add(mt__worker_t *w, h2stream_t *s, const void *data, size_t len)
{
    mt__keep(&s->rbuf, &s->rlen, &s->rcap, &s->rtrunc, w->script->max_response, data, len);
}

/* A scripted stream's response is complete (and counted): response(), then, closed model,
 * delay(). Returns 1 when the stream's place now waits out the delay (not freed). */
static int s_script_done(mt__worker_t *w, h2stream_t *s, int64_t now)
{
    if (s->collect) {
        if (!s->rhead_end)
            r_add(w, s, "\r\n", 2);
        if (w->script->response(w->script->ud, w->id, s->rbuf ? s->rbuf : "", s->rlen,
                                s->rtrunc != 0) != MT_OK) {
            script_error(w);
            return 0;
        }
    }
    if (!w->script->delay || mt__open_model(w))
        return 0;
    int64_t ns = 0;
    if (w->script->delay(w->script->ud, w->id, &ns) != MT_OK) {
        script_error(w);
        return 0;
    }
    if (ns <= 0)
        return 0;
    /* the place stays taken (counted in nstreams) until the delay is over */
    struct mt__h2conn *h = H(w, s->conn);
    if (h->s && s->id > 0)
        nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
    s->id = -1;
    s->delayed = 1;
    s->deadline = now + ns;
    /* by deadline: from the end, where a delay like the others' lands */
    mt__link_t *at = w->h2->delayed.prev;
    while (at != &w->h2->delayed && mt__list_entry(at, h2stream_t, link)->deadline > s->deadline)
        at = at->prev;
    mt__list_append(at->next, &s->link); /* after at */
    s->linked = 1;
    return 1;
}

/* ---- sending -------------------------------------------------------------------------- */

static ssize_t h2_body_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    h2stream_t *s = src->ptr;
    const h2req_t *q = s->q;
    (void)sess, (void)id, (void)ud;
    size_t n = q->body_len - s->body_off;
    if (n > len)
        n = len;
    memcpy(buf, q->body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == q->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* cfg.trace: the request's fields plus a traceparent (nghttp2 copies them at submit). A stream
 * sent again (refused by the server) keeps its ids. */
static int32_t s_submit_traced(mt__worker_t *w, struct mt__h2conn *h, h2stream_t *s,
                               const nghttp2_data_provider *prd)
{
    const h2req_t *q = s->q;
    nghttp2_nv stack[64], *nv = stack;
    if (q->nnv + 1 > sizeof stack / sizeof stack[0]) {
        nv = malloc((q->nnv + 1) * sizeof *nv);
        if (!nv) /* untraced rather than unsent */
            return nghttp2_submit_request(h->s, NULL, q->nv, q->nnv, prd, s);
    }
    if (!s->t.tflags)
        s->t.tflags = mt__trace_new(w, s->t.trace);
    char tp[MT_TRACEPARENT_LEN + 1];
    mt_traceparent_format(tp, s->t.trace, s->t.trace + 16, s->t.tflags & MT__SAMPLED);
    memcpy(nv, q->nv, q->nnv * sizeof *nv);
    nv[q->nnv] = (nghttp2_nv){.name = (uint8_t *)"traceparent",
                              .namelen = 11,
                              .value = (uint8_t *)tp,
                              .valuelen = MT_TRACEPARENT_LEN,
                              .flags = NGHTTP2_NV_FLAG_NONE};
    int32_t id = nghttp2_submit_request(h->s, NULL, nv, q->nnv + 1, prd, s);
    if (nv != stack)
        free(nv);
    return id;
}

/* Submits a stream's request on a live session. */
static void s_submit(mt__worker_t *w, mt__conn_t *c, h2stream_t *s, int64_t now)
{
    struct mt__h2worker *hw = w->h2;
    struct mt__h2conn *h = H(w, c);
    const h2req_t *q = s->q;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = h2_body_read};
    h->npending--;
    s->t.send_start = now;
    int32_t id;
    if (__builtin_expect(w->run->cfg.trace, 0)) {
        id = s_submit_traced(w, h, s, q->body_len ? &prd : NULL);
    } else {
        id = nghttp2_submit_request(h->s, NULL, q->nv, q->nnv, q->body_len ? &prd : NULL, s);
    }
    if (id < 0) { /* out of stream ids: this connection is done */
        h->goaway = 1;
        s->id = -1;
        return;
    }
    s->id = id;
    s->t.sent = s->qlen; /* its HTTP/1 size: h2 frames vary */
    /* a request the server refused goes again, counted (sent, due) once */
    if (!s->retried)
        mt__stat_sent(w, s->t.tag, s->t.due, now);
    if (w->run->cfg.timeout_ns > 0)
        s_append(&hw->inflight, s, now + w->run->cfg.timeout_ns);
}

/* Appends n bytes to the connection's output buffer. */
static int out_add(struct mt__h2conn *h, const uint8_t *data, size_t n)
{
    if (h->outlen + n > h->outcap) {
        size_t cap = h->outcap ? h->outcap : H2_OUT_CHUNK;
        while (cap < h->outlen + n)
            cap *= 2;
        uint8_t *o = realloc(h->out, cap);
        if (!o)
            return MT_ENOMEM;
        h->out = o;
        h->outcap = cap;
    }
    memcpy(h->out + h->outlen, data, n);
    h->outlen += n;
    return MT_OK;
}

/* Writes what nghttp2 has to send: every frame it has ready is gathered first, so a batch of
 * requests (or WINDOW_UPDATEs) costs one write. Returns 0, or -1 after failing the
 * connection. */
static int h2_flush(mt__worker_t *w, mt__conn_t *c)
{
    struct mt__h2conn *h = H(w, c);
    for (;;) {
        if (h->outoff == h->outlen) {
            h->outoff = h->outlen = 0;
            for (;;) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(h->s, &data);
                if (n < 0) {
                    mt__h2_conn_fail(w, c, MT_ERR_PROTOCOL, EPROTO, mt__now());
                    return -1;
                }
                if (n == 0)
                    break;
                if (out_add(h, data, (size_t)n) != MT_OK) {
                    w->err = MT_ENOMEM;
                    return -1;
                }
                if (h->outlen >= 4 * H2_OUT_CHUNK)
                    break;
            }
            if (h->outlen == 0)
                return 0;
        }
        while (h->outoff < h->outlen) {
            ssize_t k = mt__conn_io(w, c, 1, h->out + h->outoff, h->outlen - h->outoff);
            if (k > 0) {
                h->outoff += (size_t)k;
                w->slot->c.bytes_out += (uint64_t)k;
                continue;
            }
            if (k == -1 && errno == EAGAIN)
                return 0; /* EPOLLOUT resumes */
            mt__h2_conn_fail(w, c, k == -2 ? MT_ERR_TLS : MT_ERR_RESET, k == -1 ? errno : 0,
                             mt__now());
            return -1;
        }
    }
}

/* ---- callbacks ------------------------------------------------------------------------ */

/* The arrival of the bytes being parsed: the kernel's timestamp of the read, else now. */
static int64_t rx_now(const mt__worker_t *w)
{
    return w->rx_at ? w->rx_at : mt__now();
}

static int cb_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    h2stream_t *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
    if (!s)
        return 0;
    /* the same bound as HTTP/1 heads (RFC 9113 counts 32 bytes of overhead per field) */
    s->hbytes += (uint32_t)(nlen + vlen + 32);
    if (s->hbytes > MT_H1_MAX_HEADER_BYTES)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream: protocol */
    if (__builtin_expect(s->collect, 0) && nlen && name[0] != ':' && !s->rhead_end) {
        mt__worker_t *w = ((mt__conn_t *)ud)->h2->w;
        r_add(w, s, name, nlen);
        r_add(w, s, ": ", 2);
        r_add(w, s, value, vlen);
        r_add(w, s, "\r\n", 2);
    }
    if (nlen != 7 || memcmp(name, ":status", 7) != 0 || vlen != 3)
        return 0;
    unsigned st = 0;
    for (size_t i = 0; i < 3; i++) {
        if (value[i] < '0' || value[i] > '9')
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream: protocol */
        st = st * 10 + (unsigned)(value[i] - '0');
    }
    if (st >= 200 || !s->t.status) /* 1xx interim responses are replaced by the final one */
        s->t.status = (uint16_t)st;
    if (__builtin_expect(s->collect, 0) && !s->rhead_end) { /* a new head: 1xx ones go */
        char line[24];
        int n = snprintf(line, sizeof line, "HTTP/2.0 %03u \r\n", st);
        s->rlen = 0;
        s->rtrunc = 0;
        r_add(((mt__conn_t *)ud)->h2->w, s, line, (size_t)n);
    }
    /* time to first byte ends at the final response's HEADERS, not at a 1xx (103) */
    if (st >= 200 && !s->t.first_byte)
        s->t.first_byte = rx_now(((mt__conn_t *)ud)->h2->w);
    return 0;
}

static int cb_data(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *ud)
{
    h2stream_t *s = nghttp2_session_get_stream_user_data(sess, id);
    if (s) {
        s->t.rbytes += (uint64_t)len;
        if (!s->t.first_byte)
            s->t.first_byte = rx_now(((mt__conn_t *)ud)->h2->w);
        if (__builtin_expect(s->collect, 0)) {
            mt__worker_t *w = ((mt__conn_t *)ud)->h2->w;
            if (!s->rhead_end)
                r_add(w, s, "\r\n", 2);
            s->rhead_end = 1;
            r_add(w, s, data, len);
        }
    }
    return 0;
}

static int cb_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    h2stream_t *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
    if (s)
        s->t.send_end = mt__now();
    return 0;
}

static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
    mt__conn_t *c = ud;
    mt__worker_t *w = c->h2->w;
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
        c->h2->settings = 1;
    } else if (f->hd.type == NGHTTP2_RST_STREAM) {
        w->slot->c.h2_rst++;
        h2stream_t *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
        if (s)
            s->peer_rst = 1;
    } else if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
               (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        /* the response is complete; the stream closes when our side is done too (an early
         * response: the request body is still being sent, RFC 9113 8.1) */
        h2stream_t *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
        if (s && !s->done_at) {
            s->done_at = rx_now(w);
            if (!w->rx_at || w->rx_user) {
                w->slot->c.ts_user++;
                if (w->slot->tags)
                    w->slot->tags[s->t.tag].c.ts_user++;
            }
        }
    } else if (f->hd.type == NGHTTP2_GOAWAY) {
        w->slot->c.h2_goaway++;
        c->h2->goaway = 1; /* no new streams; the ones above last_stream_id are refused */
        c->h2->goaway_last = f->goaway.last_stream_id;
    }
    return 0;
}

static void s_retry(mt__worker_t *w, h2stream_t *s, int64_t now);

static int cb_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
    mt__conn_t *c = ud;
    mt__worker_t *w = c->h2->w;
    h2stream_t *s = nghttp2_session_get_stream_user_data(sess, id);
    if (!s)
        return 0;
    int64_t now = mt__now();
    s_unlink(s);
    if (code == NGHTTP2_NO_ERROR && s->t.status) {
        mt__stat_done(w, &s->t, s->done_at ? s->done_at : now);
        if (__builtin_expect(w->script != NULL, 0) && s_script_done(w, s, now))
            return 0; /* its place waits out delay() */
        s_free(w, s);
    } else if (code == NGHTTP2_REFUSED_STREAM) {
        s_retry(w, s, now);
    } else if (s->peer_rst) {
        mt__stat_fail(w, &s->t, MT_ERR_RESET, ECONNRESET, now);
        s_free(w, s);
    } else { /* ended without a response, or reset by us for a malformed one */
        mt__stat_fail(w, &s->t, MT_ERR_PROTOCOL, EPROTO, now);
        s_free(w, s);
    }
    return 0;
}

/* ---- connections ---------------------------------------------------------------------- */

static void conn_refill(mt__worker_t *w, mt__conn_t *c, int64_t now);

/* Has the stream's request been sent: on a stream now, or before a refusal? */
static uint8_t s_sent(const h2stream_t *s)
{
    return s->id > 0 || s->retried;
}

/* A stream that will not finish is counted by where it stands: sent (or refused after a
 * send) and never answered, abandoned; never sent, dropped (open model; the closed model
 * counts a request due only when it is sent). */
static void s_count_unfinished(mt__worker_t *w, const h2stream_t *s)
{
    if (s_sent(s))
        mt__stat_abandoned(w, s->t.tag);
    else if (mt__open_model(w))
        mt__stat_dropped(w, s->t.tag);
}

/* The stream goes back to be sent again, counted once: open model, to the backlog's head (any
 * connection may take it); closed model, it waits on its own connection, which sends it
 * first when it is up again (conn_refill). Its request and due time are kept. */
static void s_retry(mt__worker_t *w, h2stream_t *s, int64_t now)
{
    w->slot->c.h2_retried++;
    if (!mt__may_send(w, now)) {
        /* after the end nothing starts: it will not go again (and the grace need not wait
         * for it) */
        s_count_unfinished(w, s);
        s_free(w, s);
        return;
    }
    uint8_t sent = s_sent(s);
    if (!mt__open_model(w)) {
        struct mt__h2conn *h = H(w, s->conn);
        s_unlink(s);
        if (s->id > 0 && h->s)
            nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
        if (s->id != 0)
            h->npending++;
        s->id = 0;
        s->retried = sent;
        s->body_off = 0;
        s->done_at = 0;
        s->hbytes = 0;
        s->peer_rst = 0;
        s->rlen = 0;
        s->rhead_end = 0;
        s->rtrunc = 0;
        s->t.send_end = s->t.first_byte = 0; /* send_start: it is in flight since then */
        s->t.rbytes = 0;
        s->t.status = 0;
        return;
    }
    /* put it first: it was due before everything in the backlog */
    mt__job_t job = {.due = s->t.due, .req = s->req, .retried = sent};
    if (!mt__queue_push_front(w, job))
        s_count_unfinished(w, s);
    s_free(w, s);
}

static void conn_release(mt__worker_t *w, mt__conn_t *c)
{
    struct mt__h2conn *h = H(w, c);
    ready_remove(w, c);
    if (h->s) {
        nghttp2_session_del(h->s);
        h->s = NULL;
    }
    h->ready = h->settings = h->goaway = 0;
    h->goaway_last = 0;
    h->outlen = h->outoff = 0;
    mt__conn_close(w, c);
}

/* The connection is over: its streams fail with kind (kind < 0: abandoned, not counted) or,
 * if never sent or refused unprocessed, go back to be sent again. */
void mt__h2_conn_fail(mt__worker_t *w, mt__conn_t *c, int kind, int eno, int64_t now)
{
    struct mt__h2conn *h = H(w, c);
    int was_connecting = c->state == MT__CONN_CONNECTING || c->state == MT__CONN_HANDSHAKE;
    int64_t last = h->goaway_last;
    int goaway = h->goaway;
    /* streams go back to be sent again only from a connection that worked (the server's
     * SETTINGS arrived); one that never did (not HTTP/2, closed at once) fails them, else
     * they would wait for connections that fail the same way, uncounted, to the end */
    int usable = h->settings;
    for (h2stream_t *s = h->streams, *next; s; s = next) {
        next = s->next; /* s_retry may keep s on the connection (closed model) */
        if (kind < 0 || s->delayed) {
            if (kind < 0 && !s->delayed)
                s_count_unfinished(w, s); /* the run is over */
            s_free(w, s);
        } else if (!was_connecting && usable &&
                   (s->id <= 0 || (goaway && s->id > last && !s->t.first_byte))) {
            s_retry(w, s, now);
        } else {
            if (was_connecting) {
                s->t.connect_start = c->connect_start;
                s->t.connect_end = c->connect_end;
                s->t.tls_start = c->tls_start;
                s->t.tls_end = c->tls_end;
            }
            if (s->retried && !s->t.send_start) /* sent on an earlier connection */
                w->pending -= w->pending > 0;
            mt__stat_fail(w, &s->t, kind, eno, now);
            s_free(w, s);
        }
    }
    conn_release(w, c);
    if (kind < 0)
        return;
    if (!mt__open_model(w)) {
        if (was_connecting) {
            mt__conn_retry(w, c, now + MT__RETRY_NS); /* worker.c's retry list reconnects it */
        } else if (!w->run->stopping && now < w->run->t_end) {
            mt__h2_conn_open(w, c, now);
        }
        return;
    }
    /* open model: the slot is free again; the backlog may use it */
    mt__conn_unused(w, c);
    mt__job_t job;
    while (w->qlen && (w->h2->nready || w->unused) && mt__may_send(w, now) &&
           mt__queue_pop(w, &job))
        mt__h2_dispatch(w, job, now);
}

static void conn_after(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    struct mt__h2conn *h = H(w, c);
    if (c->fd < 0)
        return;
    uint32_t before;
    do {
        conn_refill(w, c, now);
        if (c->fd < 0)
            return;
        before = h->nstreams;
        if (h2_flush(w, c) < 0)
            return;
        /* a stream can close while we send: the last DATA of a request whose response
         * already ended (an early response). Its place takes the next request now, not at
         * the next socket event, which may never come on an idle connection. */
    } while (h->nstreams < before);
    if (h->goaway && h->nstreams == 0) {
        /* drained after GOAWAY: close; the slot takes new work */
        mt__h2_conn_fail(w, c, MT_ERR_CLOSED, 0, now);
        return;
    }
    if (h->goaway)
        ready_remove(w, c);
    else if (conn_takes(w, c))
        ready_push(w, c);
}

/* Gives the connection more streams: closed model, up to the limit; open model, from the
 * backlog. */
/* Sends the streams that wait on the connection, oldest first, as far as its limit goes. */
static void s_submit_pending(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    struct mt__h2conn *h = H(w, c);
    if (!h->npending)
        return;
    uint32_t lim = conn_limit(w, h), active = h->nstreams - h->npending;
    for (h2stream_t *s = h->streams; s && active < lim && h->npending; s = s->next)
        if (s->id == 0) {
            s_submit(w, c, s, now);
            active++;
        }
}

static void conn_refill(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    struct mt__h2conn *h = H(w, c);
    if (!h->ready || !h->settings || h->goaway)
        return;
    mt_run_t *r = w->run;
    /* streams that waited for the connection (and its stream limit) go first */
    s_submit_pending(w, c, now);
    if (!mt__open_model(w)) {
        while (conn_takes(w, c) && !r->stopping && now < r->t_end) {
            uint64_t n = mt__global_n(r, w->seq++ * (uint64_t)r->nworkers + (uint64_t)w->id);
            mt__job_t job = {.due = now, .req = mt__pick_req(w, n)};
            if (__builtin_expect(w->script != NULL, 0)) {
                if (s_script(w, c, job) != MT_OK)
                    break;
                s_submit_pending(w, c, now);
                continue;
            }
            h2stream_t *s = s_new(w, c, job);
            if (!s)
                break;
            s_submit(w, c, s, now);
        }
        return;
    }
    mt__job_t job;
    while (conn_takes(w, c) && mt__may_send(w, now) && mt__queue_pop(w, &job)) {
        if (__builtin_expect(w->script != NULL, 0)) {
            if (s_script(w, c, job) != MT_OK)
                break;
            s_submit_pending(w, c, now);
            continue;
        }
        h2stream_t *s = s_new(w, c, job);
        if (!s) {
            mt__queue_push(w, job);
            break;
        }
        s_submit(w, c, s, now);
    }
}

void mt__h2_conn_ready(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    struct mt__h2worker *hw = w->h2;
    struct mt__h2conn *h = H(w, c);
    mt__conn_unlink(c); /* its connect deadline is over */
    if (nghttp2_session_client_new(&h->s, hw->cbs, c) != 0) {
        w->err = MT_ENOMEM;
        return;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW}};
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, H2_WINDOW);
    h->ready = 1;
    /* streams that waited for the connection carry its connect and TLS time; they are sent
     * once the server's SETTINGS say how many it takes (conn_refill) */
    for (h2stream_t *s = h->streams; s; s = s->next) {
        s->t.connect_start = c->connect_start;
        s->t.connect_end = c->connect_end;
        s->t.tls_start = c->tls_start;
        s->t.tls_end = c->tls_end;
    }
    conn_after(w, c, now);
}

void mt__h2_conn_open(mt__worker_t *w, mt__conn_t *c, int64_t now)
{
    c->has_req = 0;
    if (!mt__open_model(w) && !H(w, c)->streams) {
        /* closed model: the connection is opened for its first request, as in HTTP/1, so
         * a connection that cannot be made (refused, TLS, no ALPN h2) fails a request */
        uint64_t n = mt__global_n(w->run, w->seq++ * (uint64_t)w->run->nworkers + (uint64_t)w->id);
        mt__job_t job = {.due = now, .req = mt__pick_req(w, n)};
        if (__builtin_expect(w->script != NULL, 0)) {
            if (s_script(w, c, job) != MT_OK)
                return; /* no request: the connection stays closed */
        } else {
            s_new(w, c, job);
        }
    }
    mt__conn_connect(w, c, now);
}

void mt__h2_dispatch(mt__worker_t *w, mt__job_t job, int64_t now)
{
    struct mt__h2worker *hw = w->h2;
    while (hw->nready) {
        mt__conn_t *c = hw->ready[hw->nready - 1];
        if (!conn_takes(w, c)) {
            ready_remove(w, c);
            continue;
        }
        if (__builtin_expect(w->script != NULL, 0)) {
            if (s_script(w, c, job) == MT_OK && H(w, c)->ready && H(w, c)->settings) {
                s_submit_pending(w, c, now);
                h2_flush(w, c);
            }
            if (c->fd >= 0 && !conn_takes(w, c))
                ready_remove(w, c);
            return;
        }
        h2stream_t *s = s_new(w, c, job);
        if (!s)
            break;
        if (H(w, c)->ready && H(w, c)->settings) {
            s_submit(w, c, s, now);
            h2_flush(w, c);
        }
        if (c->fd >= 0 && !conn_takes(w, c))
            ready_remove(w, c);
        return;
    }
    if (w->unused) {
        mt__conn_t *c = w->unused;
        w->unused = c->next_idle;
        if (__builtin_expect(w->script != NULL, 0)) {
            if (s_script(w, c, job) == MT_OK) {
                mt__h2_conn_open(w, c, now);
                if (c->fd >= 0)
                    ready_push(w, c);
                return;
            }
            c->next_idle = w->unused;
            w->unused = c;
            return; /* the job is gone: counted as dropped (thread:stop()) or the run stops */
        }
        h2stream_t *s = s_new(w, c, job);
        if (s) {
            mt__h2_conn_open(w, c, now);
            if (c->fd >= 0)
                ready_push(w, c);
            return;
        }
        c->next_idle = w->unused;
        w->unused = c;
    }
    if (!mt__queue_push(w, job))
        mt__stat_unsent(w, job);
}

void mt__h2_writable(mt__worker_t *w, mt__conn_t *c)
{
    if (!H(w, c)->s)
        return;
    conn_after(w, c, mt__now());
}

void mt__h2_readable(mt__worker_t *w, mt__conn_t *c, uint32_t ev)
{
    struct mt__h2conn *h = H(w, c);
    if (!h->s)
        return;
    for (;;) {
        ssize_t n = mt__conn_io(w, c, 0, w->buf, MT__RECV_BUF);
        if (n > 0) {
            w->slot->c.bytes_in += (uint64_t)n;
            w->rx_at = mt__rx_time(c, mt__now(), &w->rx_user);
            ssize_t used = nghttp2_session_mem_recv(h->s, (const uint8_t *)w->buf, (size_t)n);
            w->rx_at = 0;
            if (used < 0) {
                mt__h2_conn_fail(w, c, MT_ERR_PROTOCOL, EPROTO, mt__now());
                return;
            }
            if (w->err)
                break;
            if (!c->ssl && (size_t)n < MT__RECV_BUF && !(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                break; /* a short read drained the socket: the next arrival raises an edge */
            continue;
        }
        if (n == 0) {
            mt__h2_conn_fail(w, c, MT_ERR_CLOSED, 0, mt__now());
            return;
        }
        if (n == -1 && errno == EAGAIN)
            break;
        mt__h2_conn_fail(w, c, n == -2 ? MT_ERR_TLS : MT_ERR_RESET, n == -1 ? errno : 0, mt__now());
        return;
    }
    if (!nghttp2_session_check_request_allowed(h->s))
        h->goaway = 1; /* GOAWAY: nghttp2 refuses new streams from now on */
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s) && h->nstreams == 0) {
        mt__h2_conn_fail(w, c, MT_ERR_CLOSED, 0, mt__now());
        return;
    }
    conn_after(w, c, mt__now());
}

/* ---- timers --------------------------------------------------------------------------- */

void mt__h2_timers(mt__worker_t *w, int64_t now)
{
    h2stream_t *s;
    while ((s = s_head(&w->h2->inflight)) && s->deadline <= now) {
        mt__conn_t *c = s->conn;
        struct mt__h2conn *h = H(w, c);
        s_unlink(s);
        if (h->s && s->id > 0)
            nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
        mt__stat_fail(w, &s->t, MT_ERR_TIMEOUT, ETIMEDOUT, now);
        s_free(w, s);
        if (c->fd >= 0)
            conn_after(w, c, now);
    }
    while ((s = s_head(&w->h2->delayed)) && s->deadline <= now) { /* delay() is over */
        mt__conn_t *c = s->conn;
        s_free(w, s);
        if (c->fd >= 0)
            conn_after(w, c, now);
    }
}

void mt__h2_count_unfinished(mt__worker_t *w)
{
    for (uint32_t i = 0; i < w->nconns; i++)
        for (h2stream_t *s = w->h2->conns[i].streams; s; s = s->next)
            if (!s->delayed)
                s_count_unfinished(w, s);
}

int64_t mt__h2_next_deadline(mt__worker_t *w)
{
    h2stream_t *s = s_head(&w->h2->inflight), *d = s_head(&w->h2->delayed);
    int64_t t = s ? s->deadline : INT64_MAX;
    return d && d->deadline < t ? d->deadline : t;
}

/* ---- setup ---------------------------------------------------------------------------- */

int mt__h2_init(mt__worker_t *w)
{
    const mt_run_config_t *cfg = &w->run->cfg;
    struct mt__h2worker *hw = calloc(1, sizeof *hw);
    if (!hw)
        return MT_ENOMEM;
    w->h2 = hw;
    hw->w = w;
    hw->inflight.prev = hw->inflight.next = &hw->inflight;
    mt__list_init(&hw->delayed);
    hw->limit = cfg->streams > 0 ? (uint32_t)cfg->streams : 1;
    size_t nconns = w->nconns ? w->nconns : 1, nstreams = nconns * hw->limit;
    hw->conns = calloc(nconns, sizeof *hw->conns);
    hw->pool = calloc(nstreams, sizeof *hw->pool);
    hw->ready = calloc(nconns, sizeof *hw->ready);
    hw->reqs = calloc(cfg->nrequests, sizeof *hw->reqs);
    if (!hw->conns || !hw->pool || !hw->ready || !hw->reqs)
        return MT_ENOMEM;
    for (size_t i = nstreams; i-- > 0;) {
        hw->pool[i].next_free = hw->free;
        hw->free = &hw->pool[i];
    }
    for (uint32_t i = 0; i < w->nconns; i++) {
        w->conns[i].h2 = &hw->conns[i];
        hw->conns[i].w = w;
    }
    for (size_t i = 0; !cfg->script && i < cfg->nrequests; i++) { /* a script's come later */
        int rc = mt__h2_req_build(&cfg->requests[i], cfg->tls != NULL, &hw->reqs[i]);
        if (rc != MT_OK)
            return rc;
    }
    if (nghttp2_session_callbacks_new(&hw->cbs) != 0)
        return MT_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(hw->cbs, cb_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(hw->cbs, cb_data);
    nghttp2_session_callbacks_set_on_frame_send_callback(hw->cbs, cb_frame_send);
    nghttp2_session_callbacks_set_on_frame_recv_callback(hw->cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(hw->cbs, cb_stream_close);
    return MT_OK;
}

void mt__h2_dispose(mt__worker_t *w)
{
    struct mt__h2worker *hw = w->h2;
    if (!hw)
        return;
    for (uint32_t i = 0; hw->conns && i < w->nconns; i++) {
        while (w->script && hw->conns[i].streams) /* scripted requests own memory */
            s_free(w, hw->conns[i].streams);
        if (hw->conns[i].s)
            nghttp2_session_del(hw->conns[i].s);
        free(hw->conns[i].out);
    }
    for (size_t i = 0; hw->reqs && i < w->run->cfg.nrequests; i++) {
        free(hw->reqs[i].lower);
        free(hw->reqs[i].nv);
    }
    if (hw->cbs)
        nghttp2_session_callbacks_del(hw->cbs);
    free(hw->conns);
    free(hw->pool);
    free(hw->ready);
    free(hw->reqs);
    free(hw);
    w->h2 = NULL;
}
