/* libFuzzer driver for the target's HTTP/2 side: the input is what a client sends after the
 * connection preface (frames, HPACK blocks, :path query strings), fed to a real server session
 * with the target's callbacks (nghttp2 parses the frames; the target parses :path and acts on
 * it) over a socketpair. Then every timer is fired (delays, stalls, throttled bodies) a bounded
 * number of times and the connection is closed. Nothing may crash or leak, and afterwards no
 * stream or timer may be left. The preface sniffer is checked on every prefix of the input.
 *
 * It includes loop.c to reach the worker and connection internals (as unit tests may). */
#include "../../src/target/loop.c"

#include <stdio.h>

#define FUZZ_MAX_INPUT (64 * 1024)
#define TIMER_TURNS    64

static mt_target_t *g_t;

static void check_sniff(const uint8_t *data, size_t size)
{
    int last = 0;
    for (size_t n = 0; n <= size && n <= 32; n++) {
        int k = mt__tgt_h2_sniff((const char *)data, n);
        bool is_prefix = memcmp(data, MT__TGT_H2_PREFACE,
                                n < MT__TGT_H2_PREFACE_LEN ? n : MT__TGT_H2_PREFACE_LEN) == 0;
        if (k < -1 || k > 1 || (last == -1 && k != -1) || (last == 1 && k != 1))
            abort();
        if (k == 1 && (n < MT__TGT_H2_PREFACE_LEN || !is_prefix))
            abort();
        if (k == 0 && (n >= MT__TGT_H2_PREFACE_LEN || !is_prefix))
            abort();
        if (k == -1 && is_prefix)
            abort();
        last = k;
    }
}

static void drain(int fd)
{
    char sink[65536];
    while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    worker_t *w;
    conn_t *c;
    int sv[2];

    check_sniff(data, size);
    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (!g_t) {
        mt_target_config_t cfg;
        static const mt_target_stall_t stall = {1000000, 5000000};
        char err[256];
        memset(&cfg, 0, sizeof(cfg));
        cfg.port = 0;
        cfg.threads = 1;
        cfg.stalls = &stall;
        cfg.nstalls = 1;
        cfg.h2_max_streams = 8;
        if (mt_target_new(&cfg, &g_t, err, sizeof(err)) != MT_OK) {
            fprintf(stderr, "mt_target_new: %s\n", err);
            abort();
        }
    }
    w = &g_t->workers[0];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    w->now = mt__tgt_now();
    c = conn_get(w);
    if (!c)
        abort();
    c->fd = sv[0];
    mt__list_append(&w->all, &c->alink);
    w->nconns++;

    mt__tgt_h2_start(w, c, MT__TGT_H2_PREFACE, MT__TGT_H2_PREFACE_LEN);
    if (c->x && c->x->h2 && !c->eof)
        nghttp2_session_mem_recv(c->x->h2, data, size);
    /* let it answer what is due, then fire every timer (responses, throttled slices) */
    for (int turn = 0; turn < TIMER_TURNS && c->fd >= 0; turn++) {
        mt__tgt_conn_run(w, c);
        drain(sv[1]);
        if (c->fd < 0 || w->nheap == 0)
            break;
        w->now = w->heap[0]->due;
        run_timers(w);
        drain(sv[1]);
    }
    mt__tgt_conn_close(w, c);
    while (!mt__list_empty(&w->ready))
        ready_remove(w, mt__list_entry(w->ready.next, conn_t, rlink));
    reap(w);
    close(sv[1]);
    if (w->nstreams != 0 || w->nheap != 0 || w->nconns != 0)
        abort();
    return 0;
}
