/* The response plan: one function turns a request-target into what the target answers, for
 * HTTP/1 requests and HTTP/2 streams alike (the /__mortar/ paths, counting, the query over
 * the server's defaults, the parameter policy, the draw), and one says when it is due
 * (delay, --stall). The protocols only say how. See internal.h. */
#include <stdatomic.h>
#include <string.h>

#include "target/internal.h"

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

/* The connection's first request went to /__mortar/: it is not counted anywhere. */
void mt__tgt_uncount_conn(worker_t *w, conn_t *c)
{
    mt__tgt_unbump(w, C_CONNECTIONS);
    if (c->x && c->x->hs_done)
        mt__tgt_unbump(w, c->x->resumed ? C_TLS_RESUMED : C_TLS_FULL);
    if (c->x && c->x->h2)
        mt__tgt_unbump(w, C_H2_CONNS);
}

void mt__tgt_plan_reset(mt__tgt_plan_t *p)
{
    p->action = A_RESPOND;
    p->status = 200;
    p->body = B_DEFAULT;
    p->chunked = 0;
    p->delay_ns = 0;
    p->size = 0;
    p->slow_bps = 0;
    p->textlen = 0;
}

bool mt__tgt_plan_request(worker_t *w, conn_t *c, bool first, mt__tgt_plan_t *p, const char *target,
                          size_t len)
{
    const struct mt_target *t = w->t;
    mt__tgt_behave_t b;
    mt__tgt_pick_t pk;
    uint32_t unknown = 0;
    int ctl, rc;

    mt__tgt_plan_reset(p);
    ctl = mt__tgt_control_path(target, len);
    if (ctl != A_RESPOND) {
        /* not counted, nor is a connection opened for it (connections count at accept) */
        if (first)
            mt__tgt_uncount_conn(w, c);
        p->action = (uint8_t)ctl;
        return false;
    }
    mt__tgt_bump(w, C_REQUESTS, 1);
    if (t->plain && !memchr(target, '?', len))
        return true; /* the fast path: nothing to parse, nothing to draw */
    rc = mt__tgt_behave_resolve(&t->defaults, target, len, t->strict_params, &b, &unknown, p->text);
    if (unknown)
        mt__tgt_bump(w, C_UNKNOWN_PARAMS, unknown);
    if (rc != 0) {
        mt__tgt_bump(w, C_BAD_PARAMS, 1);
        p->status = 400;
        p->body = B_TEXT;
        p->textlen = (uint16_t)strlen(p->text);
        return true;
    }
    mt__tgt_pick(&b, &w->rng, &pk);
    p->status = pk.status;
    p->delay_ns = pk.delay_ns;
    p->action = pk.action == MT__TGT_RESET       ? A_RESET
                : pk.action == MT__TGT_MALFORMED ? A_MALFORMED
                                                 : A_RESPOND;
    p->body = b.has_size ? B_FILL : B_DEFAULT;
    p->size = b.size;
    p->chunked = b.chunked;
    p->slow_bps = b.slow_bps;
    if (b.close) {
        p->close_after = 1;
        p->conn = MT__TGT_CONN_CLOSE;
    }
    return true;
}

int64_t mt__tgt_plan_due(worker_t *w, const mt__tgt_plan_t *p)
{
    int64_t due = p->delay_ns > 0 ? mt__tgt_now() + p->delay_ns : w->now;
    if (w->t->nstalls > 0 && p->action < A_STATS) {
        if (!w->epoch)
            epoch_init(w);
        due = stall_adjust(w, due);
    }
    return due;
}
