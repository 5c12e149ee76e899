/* The io_uring loop of a worker (docs/adr/0040-io-uring.md): the closed model over plain
 * HTTP/1.1. worker.c keeps the state machine and the loop's head (seconds, timers, the end and
 * its grace); only the I/O edges differ from the epoll loop: connect and send are SQEs, every
 * socket has one multishot recvmsg drawing on a provided-buffer ring, and one
 * io_uring_submit_and_wait_timeout per loop turn submits the queued sends and waits for a batch
 * of completions. Responses are timed by the kernel's receive timestamp (SO_TIMESTAMPING, in
 * each completion's control data), never by when the loop saw them, so the batch costs no
 * precision: it is bounded by --send-tolerance like the epoll loop's batched waits. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <liburing.h>
#include <linux/errqueue.h> /* struct scm_timestamping: needs <time.h> first */

#include "engine/internal.h"

#define UR_BGID  1
#define UR_BUFSZ 8192u /* one receive: its header, control data and payload */
#define UR_BATCH 16u   /* responses awaited per wait while batching */

enum { UR_NONE = 0, UR_CONNECT, UR_SEND, UR_RECV, UR_STOP };

typedef struct mt__uring {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *bufs;
    unsigned nbufs;   /* a power of two */
    struct msghdr mh; /* the multishot recvmsg's template: no name, room for the timestamp */
    int64_t sub_ts;   /* when the last wait submitted (the sends it carried left then) */
    unsigned nsend;   /* sends queued since it */
    int idle;         /* the last batched wait saw no response: block for one next */
    uint64_t live;    /* operations submitted whose last completion has not come */
} mt__uring_t;

int mt__ur_applies(const mt_run_config_t *cfg)
{
    return cfg->io != MT_IO_EPOLL && !cfg->schedule && !cfg->tls && !cfg->http2 && !cfg->script;
}

static uint64_t tag(const mt__worker_t *w, const mt__conn_t *c, unsigned op)
{
    return (uint64_t)op << 56 | (uint64_t)(c->gen & 0xffffff) << 32 | (uint32_t)(c - w->conns);
}

/* A free SQE (submitting what is queued when the queue is full); `need` of them in a row. */
static struct io_uring_sqe *sqe_get(mt__worker_t *w, unsigned need)
{
    struct io_uring *ring = &w->ur->ring;
    if (io_uring_sq_space_left(ring) < need)
        io_uring_submit(ring);
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe)
        w->err = MT_ESYS;
    return sqe;
}

static void buf_recycle(mt__uring_t *u, unsigned bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * UR_BUFSZ, UR_BUFSZ, (unsigned short)bid,
                          io_uring_buf_ring_mask(u->nbufs), 0);
    io_uring_buf_ring_advance(u->br, 1);
}

static void arm_recv(mt__worker_t *w, mt__conn_t *c)
{
    struct io_uring_sqe *sqe = sqe_get(w, 1);
    if (!sqe)
        return;
    io_uring_prep_recvmsg_multishot(sqe, c->fd, &w->ur->mh, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    io_uring_sqe_set_data64(sqe, tag(w, c, UR_RECV));
    w->ur->live++;
}

static unsigned pow2_at_least(unsigned n)
{
    unsigned p = 1;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

int mt__ur_init(mt__worker_t *w)
{
    mt__uring_t *u = calloc(1, sizeof *u);
    if (!u)
        return MT_ENOMEM;
    unsigned entries = pow2_at_least(4 * w->nconns + 16);
    if (entries < 64)
        entries = 64;
    if (entries > 32768)
        entries = 32768;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    /* bound to this thread; completions' work runs when it waits, not as interrupts */
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 2 * entries;
    if (io_uring_queue_init_params(entries, &u->ring, &p) < 0) {
        free(u);
        return MT_ESYS;
    }
    u->nbufs = pow2_at_least(2 * w->nconns + 16);
    if (u->nbufs < 64)
        u->nbufs = 64;
    if (u->nbufs > 4096)
        u->nbufs = 4096;
    size_t rsz = u->nbufs * sizeof(struct io_uring_buf);
    int rc = MT_ENOMEM;
    if (posix_memalign((void **)&u->br, 4096, rsz) != 0) {
        u->br = NULL;
        goto fail;
    }
    u->bufs = malloc((size_t)u->nbufs * UR_BUFSZ);
    if (!u->bufs)
        goto fail;
    memset(u->br, 0, rsz);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)u->br;
    reg.ring_entries = u->nbufs;
    reg.bgid = UR_BGID;
    rc = MT_ESYS;
    if (io_uring_register_buf_ring(&u->ring, &reg, 0) < 0)
        goto fail;
    io_uring_buf_ring_init(u->br);
    for (unsigned i = 0; i < u->nbufs; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * UR_BUFSZ, UR_BUFSZ, (unsigned short)i,
                              io_uring_buf_ring_mask(u->nbufs), (int)i);
    io_uring_buf_ring_advance(u->br, (int)u->nbufs);
    u->mh.msg_controllen = CMSG_SPACE(sizeof(struct scm_timestamping));
    w->ur = u;
    struct io_uring_sqe *sqe = sqe_get(w, 1); /* stop_fd readable: wake up */
    io_uring_prep_poll_add(sqe, w->run->stop_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, (uint64_t)UR_STOP << 56);
    u->live++;
    return MT_OK;
fail:
    io_uring_queue_exit(&u->ring);
    free(u->br);
    free(u->bufs);
    free(u);
    return rc;
}

void mt__ur_free(mt__worker_t *w)
{
    mt__uring_t *u = w->ur;
    if (!u)
        return;
    /* Cancel every operation and wait until the last has completed, here in the ring's thread:
     * a socket is closed only when the ring lets go of it, and a ring left to tear itself down
     * after its thread is gone may hold sockets open for long (seen: the peer never saw them
     * closed). Bounded, whatever the kernel does. */
    struct io_uring_sqe *sqe;
    if (io_uring_sq_space_left(&u->ring) < 1)
        io_uring_submit(&u->ring); /* the queued closes first */
    sqe = io_uring_get_sqe(&u->ring);
    if (sqe) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, UR_NONE);
    }
    int64_t until = mt__now() + MT__NS_PER_S;
    while (u->live > 0 && mt__now() < until) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            seen++;
            if ((cqe->user_data >> 56) != UR_NONE && !(cqe->flags & IORING_CQE_F_MORE))
                u->live--;
        }
        io_uring_cq_advance(&u->ring, seen);
    }
    io_uring_queue_exit(&u->ring);
    free(u->br);
    free(u->bufs);
    free(u);
    w->ur = NULL;
}

void mt__ur_connect(mt__worker_t *w, mt__conn_t *c, const struct sockaddr_storage *sa,
                    socklen_t len)
{
    struct io_uring_sqe *sqe = sqe_get(w, 1);
    if (!sqe)
        return;
    io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)sa, len);
    io_uring_sqe_set_data64(sqe, tag(w, c, UR_CONNECT));
    w->ur->live++;
}

void mt__ur_send(mt__worker_t *w, mt__conn_t *c, const char *data, size_t len)
{
    struct io_uring_sqe *sqe = sqe_get(w, 1);
    if (!sqe)
        return;
    /* MSG_WAITALL: the ring writes it all (waiting for room), a short count means a failure */
    io_uring_prep_send(sqe, c->fd, data, len, MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(sqe, tag(w, c, UR_SEND));
    w->ur->nsend++;
    w->ur->live++;
}

void mt__ur_close(mt__worker_t *w, int fd)
{
    /* the ring holds its own reference to the socket: cancel what is armed on it, then close
     * it, both in the ring and in that order (the number is not reused before the cancel) */
    struct io_uring_sqe *sqe = sqe_get(w, 2);
    if (!sqe) {
        close(fd);
        return;
    }
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    sqe->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, UR_NONE);
    sqe = io_uring_get_sqe(&w->ur->ring);
    io_uring_prep_close(sqe, fd);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, UR_NONE);
}

/* One completion of c's multishot recvmsg: res bytes in buffer data (or -errno); more: the
 * receive stays armed. Returns 1 if it was a response's bytes. */
static int on_recv(mt__worker_t *w, mt__conn_t *c, int res, char *data, int more)
{
    mt__uring_t *u = w->ur;
    int64_t now = mt__now();
    if (res == -ENOBUFS) { /* every buffer in use: arm again (they are given back meanwhile) */
        if (!more)
            arm_recv(w, c);
        return 0;
    }
    if (res < 0) {
        mt__conn_rerr(w, c, -res, now);
        return 0;
    }
    struct io_uring_recvmsg_out *o = data ? io_uring_recvmsg_validate(data, res, &u->mh) : NULL;
    if (!o || o->payloadlen == 0) {
        mt__conn_eof(w, c, now);
        return 0;
    }
    c->rx_ts = 0;
    for (struct cmsghdr *h = io_uring_recvmsg_cmsg_firsthdr(o, &u->mh); h;
         h = io_uring_recvmsg_cmsg_nexthdr(o, &u->mh, h)) {
        int64_t at = mt__rx_cmsg(h);
        if (at)
            c->rx_ts = at;
    }
    const char *payload = io_uring_recvmsg_payload(o, &u->mh);
    size_t len = io_uring_recvmsg_payload_length(o, res, &u->mh);
    uint32_t gen = c->gen;
    int user = 1;
    int64_t at = mt__rx_time(c, now, &user);
    mt__conn_data(w, c, payload, len, at, user, now, 0);
    /* the receive ended (but not the socket): arm it again */
    if (!more && c->fd >= 0 && c->gen == gen)
        arm_recv(w, c);
    return 1;
}

static int on_cqe(mt__worker_t *w, const struct io_uring_cqe *cqe)
{
    mt__uring_t *u = w->ur;
    uint64_t t = cqe->user_data;
    unsigned op = (unsigned)(t >> 56);
    char *data = NULL;
    int resp = 0;
    if (op != UR_NONE && !(cqe->flags & IORING_CQE_F_MORE))
        u->live--;
    if (cqe->flags & IORING_CQE_F_BUFFER)
        data = u->bufs + (size_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) * UR_BUFSZ;
    if (op == UR_CONNECT || op == UR_SEND || op == UR_RECV) {
        mt__conn_t *c = &w->conns[(uint32_t)t];
        if (c->fd >= 0 && (c->gen & 0xffffff) == (uint32_t)(t >> 32 & 0xffffff)) {
            if (op == UR_CONNECT) {
                if (c->state == MT__CONN_CONNECTING) {
                    if (cqe->res == 0)
                        arm_recv(w, c); /* before the request's send in the queue */
                    mt__conn_up(w, c, cqe->res < 0 ? -cqe->res : 0, mt__now());
                }
            } else if (op == UR_SEND) {
                mt__conn_sent(w, c, cqe->res, u->sub_ts);
            } else {
                resp = on_recv(w, c, cqe->res, data, (cqe->flags & IORING_CQE_F_MORE) != 0);
            }
        }
    }
    if (data)
        buf_recycle(u, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    return resp;
}

int mt__ur_wait(mt__worker_t *w, int64_t wake, int64_t tol)
{
    mt__uring_t *u = w->ur;
    int64_t t = mt__now();
    /* the sends' completions come at once (a send that finds room completes inline) */
    unsigned nr = u->nsend + 1;
    int batch = w->pending && tol > 0 && w->setup == 0 && !u->idle;
    if (batch) {
        /* responses are awaited: sleep through them (their bytes carry the kernel's time)
         * until a batch of them is there, at most tol from now */
        nr = u->nsend + (unsigned)(w->pending < UR_BATCH ? w->pending : UR_BATCH);
        if (wake > t + tol)
            wake = t + tol;
    }
    int64_t d = wake - t;
    if (d < 0)
        d = 0;
    struct __kernel_timespec ts = {.tv_sec = d / MT__NS_PER_S, .tv_nsec = d % MT__NS_PER_S};
    struct io_uring_cqe *cqe;
    u->sub_ts = t;
    u->nsend = 0;
    int rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, nr, &ts, NULL);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
        return MT_ESYS;
    unsigned head, seen = 0, resp = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        seen++;
        resp += (unsigned)on_cqe(w, cqe);
        if (!w->slot || w->err)
            break;
    }
    io_uring_cq_advance(&u->ring, seen);
    u->idle = batch && resp == 0; /* the server is slow: wait for the first response next */
    return MT_OK;
}
