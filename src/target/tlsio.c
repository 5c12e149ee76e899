/* The built-in target's TLS I/O (the context is tls.c's): the sniff of a connection's first
 * byte, the non-blocking handshake and ALPN, SSL reads, and the staging buffer that turns
 * queued HTTP/1 segments or nghttp2's frames into large writes (also for cleartext HTTP/2).
 * See internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "target/internal.h"

xconn_t *mt__tgt_xconn_get(worker_t *w)
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
    mt__list_init(&x->streams);
    x->nfree = NULL;
    x->nstreams = 0;
    x->hs_done = x->resumed = x->read_wants_write = x->goaway = 0;
    x->olen = x->ooff = 0;
    x->ocounted = 0;
    return x;
}

void mt__tgt_xconn_release(worker_t *w, conn_t *c)
{
    xconn_t *x = c->x;
    while (!mt__list_empty(&x->streams))
        mt__tgt_stream_release(w, c, mt__list_entry(x->streams.next, stream_t, link));
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
int mt__tgt_tls_read(worker_t *w, conn_t *c, char *buf, size_t len)
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
        mt__tgt_bump(w, C_TLS_ERRORS, 1);
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
                    mt__tgt_bump(w, C_TLS_ERRORS, 1);
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
    mt__tgt_bump(w, C_BYTES_OUT, x->ocounted);
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
        uint64_t b = mt__tgt_rate_budget(w->now, c->slow_bps, c->slow_sent, c->slow_t0);
        if (b == 0) {
            mt__tgt_timer_set(w, &c->tm, mt__tgt_rate_next(w->now, c->slow_bps));
            return MT_EAGAIN;
        }
        if (b < limit)
            limit = b;
    }
    while (c->out_n > 0 && got < limit) {
        seg_t *sg = &c->out[c->out_head];
        struct iovec iov[8];
        uint64_t take = 0;
        size_t k = mt__tgt_seg_iov(sg, w->t->filler, iov, 8, limit - got, &take);
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

/* mt__tgt_flush for connections with TLS or HTTP/2: stage, then write, until nothing is left. */
int mt__tgt_xflush(worker_t *w, conn_t *c)
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
    if (!x->h2)
        mt__tgt_output_done(w, c);
    return MT_OK;
}

/* Before HTTP: the TLS sniff and handshake, and HTTP/2 connections. Returns true if it has
 * handled this turn, false if the HTTP/1 loop should run (cleartext, or TLS established). */
bool mt__tgt_tls_run(worker_t *w, conn_t *c)
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
            mt__tgt_conn_close(w, c);
            return true;
        }
        c->sniff = 0;
        if (b != 0x16)
            return false; /* cleartext on the TLS port */
        if (!(c->x = mt__tgt_xconn_get(w)) || !(c->x->ssl = SSL_new(w->t->ssl_ctx)) ||
            SSL_set_fd(c->x->ssl, c->fd) != 1) {
            mt__tgt_bump(w, C_TLS_ERRORS, 1);
            mt__tgt_conn_close(w, c);
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
            mt__tgt_bump(w, C_TLS_ERRORS, 1);
            mt__tgt_conn_close(w, c);
            return true;
        }
        x->hs_done = 1;
        x->resumed = SSL_session_reused(x->ssl) ? 1 : 0;
        mt__tgt_bump(w, x->resumed ? C_TLS_RESUMED : C_TLS_FULL, 1);
        c->readable = 1; /* records may have come with the last flight: read until WANT_READ */
        SSL_get0_alpn_selected(x->ssl, &alpn, &alen);
        if (alen == 2 && memcmp(alpn, "h2", 2) == 0)
            mt__tgt_h2_start(w, c, NULL, 0);
    }
    if (c->phase == P_H2) {
        mt__tgt_h2_run(w, c);
        return true;
    }
    return false;
}
