/* The built-in target's HTTP/2 (ADR 0016): an nghttp2 server session per connection, a
 * stream per request whose :path is resolved into the same plan as an HTTP/1 request-target
 * (plan.c), and one timer per stream (delays, stalls, throttled DATA), so no stream waits for
 * another. Malformed responses are malformed streams. See internal.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "target/internal.h"

static void h2_respond(worker_t *w, conn_t *c, stream_t *s);

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,                              \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                           \
    }

static const char k_ok_body[] = "ok\n";

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

void mt__tgt_stream_release(worker_t *w, conn_t *c, stream_t *s)
{
    xconn_t *x = c->x;
    mt__tgt_timer_cancel(w, &s->tm);
    free(s->own);
    s->own = NULL;
    mt__list_remove(&s->link);
    x->nstreams--;
    w->nstreams--;
    if (w->nsfree < SFREE_KEEP) {
        mt__list_append(&w->sfree, &s->link);
        w->nsfree++;
    } else {
        free(s);
    }
}

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
    if (s->plan.slow_bps) {
        uint64_t b = mt__tgt_rate_budget(w->now, s->plan.slow_bps, s->slow_sent, s->slow_t0);
        if (b == 0) {
            s->state = ST_DEFER;
            mt__tgt_timer_set(w, &s->tm, mt__tgt_rate_next(w->now, s->plan.slow_bps));
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
        mt__tgt_bump(w, C_BYTES_OUT, n);
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
    if (!mt__tgt_heap_reserve(w))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!mt__list_empty(&w->sfree)) {
        s = mt__list_entry(w->sfree.next, stream_t, link);
        mt__list_remove(&s->link);
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
    mt__tgt_plan_reset(&s->plan);
    s->plan.head_only = s->plan.close_after = s->plan.conn = 0;
    s->has_path = 0;
    s->slow_sent = 0;
    s->slow_t0 = 0;
    s->data = NULL;
    s->blen = s->boff = 0;
    s->counted = false;
    s->own = NULL;
    mt__list_append(&x->streams, &s->link);
    x->nstreams++;
    w->nstreams++;
    h2_gauge(w, x->nstreams);
    nghttp2_session_set_stream_user_data(h, s->id, s);
    return 0;
}

/* The request's :path: into the stream's plan, as an HTTP/1 request-target (plan.c). */
static void h2_path(worker_t *w, conn_t *c, stream_t *s, const char *target, size_t len)
{
    bool first = !c->used;

    if (s->has_path)
        return; /* nghttp2 rejects a second :path; be safe */
    s->has_path = 1;
    c->used = 1;
    if (mt__tgt_plan_request(w, c, first, &s->plan, target, len)) {
        mt__tgt_bump(w, C_H2_STREAMS, 1);
        s->counted = true;
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
        s->plan.head_only = valuelen == 4 && memcmp(value, "HEAD", 4) == 0;
    return 0;
}

/* The request (headers and any body) is in: answer now, or when due. */
static void h2_request_done(worker_t *w, conn_t *c, stream_t *s)
{
    int64_t due;

    if (!s->has_path) {
        /* CONNECT (no :path): not something the target serves */
        mt__tgt_bump(w, C_REQUESTS, 1);
        mt__tgt_bump(w, C_H2_STREAMS, 1);
        mt__tgt_bump(w, C_BAD_PARAMS, 1);
        s->counted = true;
        s->plan.status = 400;
        s->plan.body = B_TEXT;
        s->plan.textlen = (uint16_t)snprintf(s->plan.text, sizeof(s->plan.text),
                                             "bad request: no :path (CONNECT is not served)\n");
    }
    due = mt__tgt_plan_due(w, &s->plan);
    if (due > w->now) {
        s->state = ST_WAIT;
        mt__tgt_timer_set(w, &s->tm, due);
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
        mt__tgt_bump(c->x->w, C_H2_RST_RECV, 1);
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
        mt__tgt_bump(c->x->w, C_H2_GOAWAYS, 1);
    else if (f->hd.type == NGHTTP2_RST_STREAM)
        mt__tgt_bump(c->x->w, C_H2_RST, 1);
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
        mt__tgt_bump(c->x->w, C_H2_REFUSED, 1);
    } else if (err == NGHTTP2_ERR_HTTP_HEADER || err == NGHTTP2_ERR_HTTP_MESSAGING) {
        /* a malformed request: nghttp2 resets its stream with PROTOCOL_ERROR */
        mt__tgt_bump(c->x->w, C_REQUESTS, 1);
        mt__tgt_bump(c->x->w, C_BAD_REQUESTS, 1);
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
        mt__tgt_stream_release(c->x->w, c, s);
    }
    return 0;
}

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

/* Answers a stream: what mt__tgt_h1_respond does for HTTP/1. */
static void h2_respond(worker_t *w, conn_t *c, stream_t *s)
{
    const struct mt_target *t = w->t;
    nghttp2_nv nv[3];
    char st[4], clen[24];
    const char *ctype = "text/plain";
    unsigned status = s->plan.status;
    bool nobody, chunked;
    size_t n = 0;

    s->state = ST_SENT;
    switch (s->plan.action) {
    case A_RESET:
        mt__tgt_bump(w, C_RESETS, 1);
        nghttp2_submit_rst_stream(c->x->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    case A_MALFORMED: {
        unsigned k = w->mal_next;
        w->mal_next = (k + 1) % MT__TGT_MAL_KINDS;
        mt__tgt_bump(w, C_MALFORMED, 1);
        mt__tgt_bump(w, C_MAL_KIND + (int)k, 1);
        s->data = k_ok_body;
        s->blen = k == MT__TGT_MAL_OVERSIZED || s->plan.head_only ? 0 : 3;
        s->slow_t0 = w->now;
        h2_submit(c, s, t->h2_mal_nv[k], t->h2_mal_nvlen[k], s->blen > 0);
        return;
    }
    case A_STATS:
    case A_ZERO:
    case A_NOTFOUND: {
        size_t blen;
        s->counted = false;
        s->plan.slow_bps = 0;
        mt__tgt_control_answer(w->t, s->plan.action, &status, &s->data, &blen, &s->own);
        s->blen = blen;
        if (s->own)
            ctype = "application/json";
        chunked = false;
        nobody = false;
        goto head;
    }
    default:
        break;
    }

    nobody = mt__tgt_status_bodyless(status) || status == 205;
    chunked = s->plan.chunked && !nobody;
    switch (s->plan.body) {
    case B_FILL:
        s->data = NULL;
        s->blen = s->plan.size;
        break;
    case B_TEXT:
        s->data = s->plan.text;
        s->blen = s->plan.textlen;
        break;
    default:
        s->blen = t->default_len;
        s->data = t->default_inline ? t->prep[0].buf + t->prep[0].head_len : NULL;
        break;
    }
    if (nobody)
        s->blen = 0;
    mt__tgt_bump(w, C_RESPONSES, 1);
    mt__tgt_bump_status(w, status);
    if (s->plan.close_after) {
        mt__tgt_bump(w, C_CLOSES, 1);
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
    if (s->plan.head_only)
        s->blen = 0;
    s->slow_t0 = w->now;
    s->slow_sent = 0;
    h2_submit(c, s, nv, n, s->blen > 0);
}

/* A stream's timer: its response is due, or its throttled body may go on. */
void mt__tgt_stream_fire(worker_t *w, stream_t *s)
{
    conn_t *c = s->c;
    if (s->state == ST_WAIT) {
        h2_respond(w, c, s);
    } else if (s->state == ST_DEFER) {
        s->state = ST_SENT;
        nghttp2_session_resume_data(c->x->h2, s->id);
    }
    mt__tgt_conn_run(w, c);
}

int mt__tgt_h2_init(struct mt_target *t)
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
void mt__tgt_h2_start(worker_t *w, conn_t *c, const char *data, size_t len)
{
    nghttp2_settings_entry iv[1] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, w->t->h2_max_streams},
    };

    c->phase = P_H2;
    if (!c->x && !(c->x = mt__tgt_xconn_get(w)))
        goto fail;
    if (nghttp2_session_server_new2(&c->x->h2, w->t->h2_cbs, c, w->t->h2_opt) != 0) {
        c->x->h2 = NULL;
        goto fail;
    }
    mt__tgt_bump(w, C_H2_CONNS, 1);
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
        mt__tgt_conn_close(w, c);
        return;
    }
    c->phase = P_LINGER;
    mt__tgt_timer_set(w, &c->tm, w->now + LINGER_NS);
    if (c->readable)
        mt__tgt_linger_read(w, c);
}

/* An HTTP/2 connection's turn: write what the session has, read and feed it what came. */
void mt__tgt_h2_run(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    char buf[H2_READ];
    int rounds = 0;

    if (!x || !x->h2) {
        mt__tgt_conn_close(w, c);
        return;
    }
    for (;;) {
        ssize_t n;
        int rc = mt__tgt_xflush(w, c);
        if (rc == MT_EAGAIN)
            return; /* EPOLLOUT (or a timer) resumes; reading waits: backpressure */
        /* the peer's FIN: like a parked HTTP/1 connection, a client that has gone is not
         * waited for (delayed streams are dropped, as HTTP/1 drops delayed requests) */
        if (rc != MT_OK || c->eof) {
            mt__tgt_conn_close(w, c);
            return;
        }
        if (!nghttp2_session_want_read(x->h2) && !nghttp2_session_want_write(x->h2)) {
            h2_end(w, c);
            return;
        }
        if (!c->readable || c->eof)
            return;
        if (++rounds > ROUNDS) {
            mt__tgt_ready_add(w, c);
            return;
        }
        if (x->ssl) {
            n = mt__tgt_tls_read(w, c, buf, sizeof(buf));
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
            mt__tgt_conn_close(w, c);
            return;
        }
        if (n == 0) {
            c->eof = 1;
            c->readable = 0;
            continue;
        }
        mt__tgt_bump(w, C_BYTES_IN, (uint64_t)n);
        if (nghttp2_session_mem_recv(x->h2, (uint8_t *)buf, (size_t)n) < 0) {
            /* a connection error: nghttp2 has queued its GOAWAY; send it if it goes at once */
            mt__tgt_xflush(w, c);
            mt__tgt_conn_close(w, c);
            return;
        }
    }
}

void mt__tgt_h2_dispose(struct mt_target *t)
{
    if (t->h2_cbs)
        nghttp2_session_callbacks_del(t->h2_cbs);
    if (t->h2_opt)
        nghttp2_option_del(t->h2_opt);
    free(t->h2_mal_nv[MT__TGT_MAL_OVERSIZED]);
    free(t->h2_pad_names);
}
