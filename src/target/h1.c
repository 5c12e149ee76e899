/* The built-in target's HTTP/1: request heads parsed from the connection's buffer, the
 * response plan (plan.c) turned into segments (prepared heads, the scratch area, the shared
 * filler), and the segments written with one sendmsg (or staged for TLS, tlsio.c). See
 * internal.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "target/internal.h"

static const char k_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Frees what queued segments own (the stats JSON) and empties the queue. */
void mt__tgt_drop_output(conn_t *c)
{
    for (uint32_t i = 0; i < c->out_n; i++) {
        seg_t *s = &c->out[c->out_head + i];
        if (s->flags & SF_OWNED)
            free(s->u.own);
    }
    c->out_head = c->out_n = c->scratch_used = 0;
}

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
size_t mt__tgt_seg_iov(const seg_t *s, const char *filler, struct iovec *iov, size_t max,
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

/* Writes queued segments. MT_OK: all written; MT_EAGAIN: the socket is full (EPOLLOUT will
 * resume) or the queue is throttled (its timer will); MT_ESYS: the connection is broken. */
int mt__tgt_flush(worker_t *w, conn_t *c)
{
    const char *filler = w->t->filler;
    if (c->x)
        return mt__tgt_xflush(w, c);
    while (c->out_n > 0) {
        struct iovec iov[MAX_IOV];
        struct msghdr m;
        size_t niov = 0;
        uint64_t total = 0, limit = UINT64_MAX, counted = 0;
        ssize_t n;
        uint32_t i;

        if (c->slow_bps) {
            limit = mt__tgt_rate_budget(w->now, c->slow_bps, c->slow_sent, c->slow_t0);
            if (limit == 0) {
                mt__tgt_timer_set(w, &c->tm, mt__tgt_rate_next(w->now, c->slow_bps));
                return MT_EAGAIN;
            }
        }
        for (i = 0; i < c->out_n && niov < MAX_IOV && total < limit; i++)
            niov += mt__tgt_seg_iov(&c->out[c->out_head + i], filler, iov + niov, MAX_IOV - niov,
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
        mt__tgt_bump(w, C_BYTES_OUT, counted);
        if ((uint64_t)n < total)
            return MT_EAGAIN; /* short write: the socket buffer is full */
    }
    mt__tgt_output_done(w, c);
    return MT_OK;
}

void mt__tgt_output_done(worker_t *w, conn_t *c)
{
    c->out_head = 0;
    c->scratch_used = 0;
    if (c->slow_bps) {
        c->slow_bps = 0;
        mt__tgt_timer_cancel(w, &c->tm); /* the throttle's tick, if armed */
    }
}

static void next_request(conn_t *c)
{
    c->phase = P_HEAD;
    mt__h1_req_init(&c->req, RBUF);
    c->head_start = c->rpos;
}

/* Answers a /__mortar/ request. Nothing of it is counted. The JSON is the one allocation a
 * request may cost, and only these requests. */
static void control(worker_t *w, conn_t *c)
{
    mt__tgt_plan_t *r = &c->plan;
    char *h = c->scratch + c->scratch_used;
    const char *body;
    char *json;
    size_t n, blen;
    unsigned status;
    seg_t *s;

    mt__tgt_control_answer(w->t, r->action, &status, &body, &blen, &json);
    n = mt__tgt_format_head(h, status, blen, r->conn | (json ? MT__TGT_HEAD_JSON : 0));
    if (!json && !r->head_only) {
        memcpy(h + n, body, blen); /* a short text: it goes with the head */
        n += blen;
    }
    c->scratch_used += (uint32_t)n;
    push(c, S_MEM, h, n)->flags = SF_UNCOUNTED;
    if (json && !r->head_only) {
        s = push(c, S_MEM, json, blen);
        s->flags = SF_UNCOUNTED | SF_OWNED;
        s->u.own = json;
    } else {
        free(json);
    }
}

static void slow_start(worker_t *w, conn_t *c, uint64_t bps)
{
    if (bps == 0)
        return;
    c->slow_bps = bps;
    c->slow_sent = 0;
    c->slow_t0 = w->now;
}

/* Queue the response for the current request (room was checked before its head was parsed). */
void mt__tgt_h1_respond(worker_t *w, conn_t *c)
{
    const struct mt_target *t = w->t;
    mt__tgt_plan_t *r = &c->plan;

    switch (r->action) {
    case A_RESET:
        mt__tgt_bump(w, C_RESETS, 1);
        c->phase = P_RESET;
        return;
    case A_MALFORMED: {
        unsigned k = w->mal_next;
        w->mal_next = (k + 1) % MT__TGT_MAL_KINDS;
        mt__tgt_bump(w, C_MALFORMED, 1);
        mt__tgt_bump(w, C_MAL_KIND + (int)k, 1);
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
    mt__tgt_bump(w, C_RESPONSES, 1);
    mt__tgt_bump_status(w, r->status);
    if (r->close_after && r->action == A_RESPOND)
        mt__tgt_bump(w, C_CLOSES, 1);
    slow_start(w, c, r->slow_bps);
done:
    if (r->close_after)
        c->phase = P_CLOSING;
    else
        next_request(c);
}

/* The whole request (head and body) is in: answer now or park until due. */
static void request_done(worker_t *w, conn_t *c)
{
    int64_t due = mt__tgt_plan_due(w, &c->plan);
    if (due > w->now) {
        c->phase = P_PARKED;
        mt__tgt_timer_set(w, &c->tm, due);
        return;
    }
    mt__tgt_h1_respond(w, c);
}

static void set_text(mt__tgt_plan_t *r, const char *text)
{
    size_t n = strlen(text);
    if (n >= sizeof(r->text))
        n = sizeof(r->text) - 1;
    memcpy(r->text, text, n);
    r->textlen = (uint16_t)n;
}

/* A request the target will not serve: count it, answer status with text, then close. */
static void refuse(worker_t *w, conn_t *c, unsigned status)
{
    mt__tgt_plan_t *r = &c->plan;

    mt__tgt_bump(w, C_REQUESTS, 1);
    mt__tgt_bump(w, C_BAD_REQUESTS, 1);
    mt__tgt_plan_reset(r);
    r->status = (uint16_t)status;
    r->body = B_TEXT;
    r->action = A_BAD;
    r->conn = MT__TGT_CONN_CLOSE;
    r->close_after = 1;
    c->body_left = 0;
    c->phase = P_BODY;
}

/* Malformed request: answer with the parser's status, then close. */
static void bad_request(worker_t *w, conn_t *c)
{
    mt__tgt_plan_t *r = &c->plan;
    int n;

    c->used = 1;
    refuse(w, c, c->req.err_status ? c->req.err_status : 400);
    r->head_only = 0;
    if (r->status == 431)
        n = snprintf(r->text, sizeof(r->text), "request head larger than %d bytes\n", RBUF);
    else
        n = snprintf(r->text, sizeof(r->text), "bad request: %s at byte %u\n",
                     c->req.err_msg ? c->req.err_msg : "malformed", (unsigned)c->req.err_offset);
    r->textlen = (uint16_t)(n < (int)sizeof(r->text) ? n : (int)sizeof(r->text) - 1);
}

static void head_done(worker_t *w, conn_t *c)
{
    mt__tgt_plan_t *r = &c->plan;
    const mt__h1_req_t *q = &c->req;
    const char *target = c->rbuf + c->head_start + q->target_off;
    bool keep = mt__h1_req_keep_alive(q);
    bool first = !c->used, counted;

    c->used = 1;
    r->head_only = q->method == MT__H1_M_HEAD;
    r->close_after = !keep;
    r->conn = !keep                   ? MT__TGT_CONN_CLOSE
              : q->version_minor == 0 ? MT__TGT_CONN_KEEP_ALIVE
                                      : MT__TGT_CONN_NONE;
    if (q->has_transfer_encoding) {
        /* the body's framing is unknown to us: answer and close */
        refuse(w, c, 501);
        set_text(r, "Transfer-Encoding is not supported: send Content-Length\n");
        return;
    }
    counted = mt__tgt_plan_request(w, c, first, r, target, q->target_len);
    c->body_left = q->content_length;
    c->phase = P_BODY;
    if (q->expect_continue && c->body_left > 0 && q->version_minor >= 1) {
        push_seg(c, k_continue, sizeof(k_continue) - 1);
        if (!counted)
            c->out[c->out_head + c->out_n - 1].flags = SF_UNCOUNTED;
    }
}

/* Parse and answer what the buffer holds, as far as the state allows. */
void mt__tgt_h1_process(worker_t *w, conn_t *c)
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
                mt__tgt_h2_start(w, c, c->rbuf, c->rlen);
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
