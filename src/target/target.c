/* The built-in target server's life cycle: configuration checks, the prepared responses
 * (default bodies, malformed ones), the listeners (one SO_REUSEPORT socket per worker
 * thread), the threads, and the totals. The rest is in the files internal.h lists. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "target/internal.h"
#include "target/tls.h"

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
    t->strict_params = cfg->strict_params;
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
    if ((rc = prepare(t, cfg)) != MT_OK || (rc = mt__tgt_h2_init(t)) != MT_OK)
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
    for (int i = 0; i < t->nthreads; i++) {
        worker_t *w = &t->workers[i];
        w->ep = w->lfd = -1;
        mt__list_init(&w->all);
        mt__list_init(&w->ready);
        mt__list_init(&w->dead);
        mt__list_init(&w->free);
        mt__list_init(&w->sfree);
    }

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
        if (pthread_create(&t->workers[i].thread, NULL, mt__tgt_worker_main, &t->workers[i]) != 0) {
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

    mt__tgt_sum_counters(t, sum);
    memset(out, 0, sizeof(*out));
    out->connections = sum[C_CONNECTIONS];
    out->requests = sum[C_REQUESTS];
    out->responses = sum[C_RESPONSES];
    out->bad_requests = sum[C_BAD_REQUESTS];
    out->bad_params = sum[C_BAD_PARAMS];
    out->unknown_params = sum[C_UNKNOWN_PARAMS];
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
        mt__tgt_worker_dispose(w);
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
    mt__tgt_h2_dispose(t);
    if (t->base_lock_init)
        pthread_mutex_destroy(&t->base_lock);
    free(t);
}
