/* The built-in target's per-thread event loop: epoll, the timer heap (delays, stalls,
 * throttles, lingering closes, HTTP/2 streams), the ready list (connections that used up their
 * turn), accepting, reading, and a connection's turn (mt__tgt_conn_run). See internal.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "target/internal.h"

int64_t mt__tgt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

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

void mt__tgt_timer_cancel(worker_t *w, tmr_t *c)
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
void mt__tgt_timer_set(worker_t *w, tmr_t *c, int64_t due)
{
    mt__tgt_timer_cancel(w, c);
    heap_push(w, c, due);
}

/* Room in the heap for one timer per connection and stream (and one more). */
bool mt__tgt_heap_reserve(worker_t *w)
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

void mt__tgt_ready_add(worker_t *w, conn_t *c)
{
    if (c->in_ready)
        return;
    c->in_ready = 1;
    mt__list_append(&w->ready, &c->rlink);
}

static void ready_remove(worker_t *w, conn_t *c)
{
    if (!c->in_ready)
        return;
    c->in_ready = 0;
    mt__list_remove(&c->rlink);
}

void mt__tgt_conn_close(worker_t *w, conn_t *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    mt__tgt_drop_output(c);
    if (c->x)
        mt__tgt_xconn_release(w, c);
    mt__tgt_timer_cancel(w, &c->tm);
    ready_remove(w, c);
    /* freed (or reused) after the current batch of events */
    mt__list_remove(&c->alink);
    mt__list_append(&w->dead, &c->alink);
    w->nconns--;
}

static void reap(worker_t *w)
{
    while (!mt__list_empty(&w->dead)) {
        conn_t *c = mt__list_entry(w->dead.next, conn_t, alink);
        mt__list_remove(&c->alink);
        if (w->nfree < FREE_KEEP) {
            mt__list_append(&w->free, &c->alink);
            w->nfree++;
        } else {
            free(c);
        }
    }
}

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
        mt__tgt_conn_close(w, c);
        return -1;
    }
    if (c->x) {
        int r = mt__tgt_tls_read(w, c, c->rbuf + c->rlen, space);
        if (r > 0) {
            c->rlen += (uint32_t)r;
            mt__tgt_bump(w, C_BYTES_IN, (uint64_t)r);
            return 0;
        }
        if (r == MT_EAGAIN)
            return 0;
        if (r == 0) {
            c->eof = 1;
            c->readable = 0;
            return 0;
        }
        mt__tgt_conn_close(w, c);
        return -1;
    }
    n = recv(c->fd, c->rbuf + c->rlen, space, 0);
    if (n > 0) {
        c->rlen += (uint32_t)n;
        mt__tgt_bump(w, C_BYTES_IN, (uint64_t)n);
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
    mt__tgt_conn_close(w, c);
    return -1;
}

/* Shut down (lingering): drain the peer until its FIN so unread data does not turn our close
 * into a reset that could destroy the last response in flight. */
void mt__tgt_linger_read(worker_t *w, conn_t *c)
{
    char sink[4096];
    for (int i = 0; i < ROUNDS; i++) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0) {
            mt__tgt_bump(w, C_BYTES_IN, (uint64_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->readable = 0;
            return;
        }
        mt__tgt_conn_close(w, c);
        return;
    }
    mt__tgt_ready_add(w, c);
}

void mt__tgt_conn_run(worker_t *w, conn_t *c)
{
    int rounds = 0;
    if ((c->sniff || c->x) && c->phase != P_LINGER && mt__tgt_tls_run(w, c))
        return;
    for (;;) {
        if (c->phase == P_LINGER) {
            if (c->readable)
                mt__tgt_linger_read(w, c);
            return;
        }
        mt__tgt_h1_process(w, c);
        if (c->phase == P_H2) { /* the HTTP/2 preface */
            mt__tgt_h2_run(w, c);
            return;
        }
        /* over TLS, bytes may wait in the staging buffer with the queue already empty */
        if (c->out_n > 0 || (c->x && c->x->olen > 0)) {
            int rc = mt__tgt_flush(w, c);
            if (rc == MT_EAGAIN)
                return;
            if (rc != MT_OK) {
                mt__tgt_conn_close(w, c);
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
            mt__tgt_conn_close(w, c);
            return;
        }
        if (c->phase == P_CLOSING) {
            if (c->x && c->x->ssl) {
                ERR_clear_error();
                SSL_shutdown(c->x->ssl); /* best effort: the close_notify */
            }
            if (c->eof || shutdown(c->fd, SHUT_WR) != 0) {
                mt__tgt_conn_close(w, c);
                return;
            }
            c->phase = P_LINGER;
            mt__tgt_timer_set(w, &c->tm, w->now + LINGER_NS);
            continue;
        }
        if (c->phase == P_PARKED)
            return;
        if (c->eof) {
            /* the peer sent everything it will: what is left is an incomplete request */
            mt__tgt_conn_close(w, c);
            return;
        }
        if (!c->readable)
            return;
        if (++rounds > ROUNDS) {
            mt__tgt_ready_add(w, c);
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
        mt__tgt_conn_close(w, c);
        return;
    }
    if ((ev & (EPOLLRDHUP | EPOLLHUP)) && c->phase == P_PARKED) {
        /* the client gave up waiting (timeout): drop it now rather than hold its socket
         * until a delay that may be minutes long runs out */
        mt__tgt_conn_close(w, c);
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
    mt__tgt_conn_run(w, c);
}

static conn_t *conn_get(worker_t *w)
{
    conn_t *c;
    if (!mt__tgt_heap_reserve(w))
        return NULL;
    if (!mt__list_empty(&w->free)) {
        c = mt__list_entry(w->free.next, conn_t, alink);
        mt__list_remove(&c->alink);
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
            mt__tgt_bump(w, C_ACCEPT_ERRORS, 1);
            w->accept_retry = w->now + ACCEPT_RETRY_NS;
            return;
        }
        c = conn_get(w);
        if (!c) {
            close(fd);
            mt__tgt_bump(w, C_ACCEPT_ERRORS, 1);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            mt__list_append(&w->free, &c->alink);
            w->nfree++;
            mt__tgt_bump(w, C_ACCEPT_ERRORS, 1);
            continue;
        }
        mt__list_append(&w->all, &c->alink);
        w->nconns++;
        mt__tgt_bump(w, C_CONNECTIONS, 1);
    }
}

static void run_timers(worker_t *w)
{
    while (w->nheap > 0 && w->heap[0]->due <= w->now) {
        tmr_t *m = w->heap[0];
        conn_t *c;
        mt__tgt_timer_cancel(w, m);
        if (m->kind == TM_STREAM) {
            mt__tgt_stream_fire(w, (stream_t *)m);
            continue;
        }
        c = CONN_OF(m);
        if (c->phase == P_PARKED) {
            mt__tgt_h1_respond(w, c);
            mt__tgt_conn_run(w, c);
        } else if (c->phase == P_LINGER) {
            mt__tgt_conn_close(w, c); /* lingered long enough */
        } else {
            mt__tgt_conn_run(w, c); /* a throttled response's next slice */
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
    mt__link_t *last = w->ready.prev;
    while (!mt__list_empty(&w->ready)) {
        conn_t *c = mt__list_entry(w->ready.next, conn_t, rlink);
        bool was_last = &c->rlink == last;
        ready_remove(w, c);
        mt__tgt_conn_run(w, c);
        if (was_last)
            break;
    }
}

/* How long epoll may sleep: until the next timer (nanosecond precision), not at all when
 * connections wait in the ready list, or forever (NULL). */
static const struct timespec *wait_time(worker_t *w, struct timespec *ts)
{
    int64_t next = INT64_MAX, d;

    if (!mt__list_empty(&w->ready)) {
        next = 0;
    } else {
        if (w->nheap > 0)
            next = w->heap[0]->due;
        if (w->accept_retry && w->accept_retry < next)
            next = w->accept_retry;
        if (next == INT64_MAX)
            return NULL;
    }
    d = next == 0 ? 0 : next - mt__tgt_now();
    if (d < 0)
        d = 0;
    ts->tv_sec = d / NS_PER_S;
    ts->tv_nsec = d % NS_PER_S;
    return ts;
}

void *mt__tgt_worker_main(void *arg)
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
        w->now = mt__tgt_now();
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
        w->now = mt__tgt_now();
        run_timers(w);
        run_ready(w);
        reap(w);
    }
    while (!mt__list_empty(&w->all))
        mt__tgt_conn_close(w, mt__list_entry(w->all.next, conn_t, alink));
    reap(w);
    return NULL;
}

void mt__tgt_worker_dispose(worker_t *w)
{
    while (!mt__list_empty(&w->free)) {
        conn_t *c = mt__list_entry(w->free.next, conn_t, alink);
        mt__list_remove(&c->alink);
        free(c);
    }
    while (!mt__list_empty(&w->sfree)) {
        stream_t *st = mt__list_entry(w->sfree.next, stream_t, link);
        mt__list_remove(&st->link);
        free(st);
    }
    while (w->xfree) {
        xconn_t *x = w->xfree;
        w->xfree = x->nfree;
        free(x);
    }
    free(w->heap);
    w->heap = NULL;
}
