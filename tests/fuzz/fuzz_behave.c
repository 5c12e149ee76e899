/* libFuzzer driver for the target's behaviour parser: the input is a request-target (and, as
 * a query string, server-wide defaults). Whatever it is, the parser must either produce a
 * behaviour within its documented bounds, from which every drawn outcome is in range and
 * every head and chunked body is well-formed, or a one-line message that fits. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/target.h"
#include "target/behave.h"

#define MAX_CHUNKED 200000 /* chunked bodies longer than this are checked only for length */

static void check_msg(const char *msg)
{
    size_t n = strnlen(msg, MT__TGT_MSG_MAX);
    if (n == 0 || n >= MT__TGT_MSG_MAX || msg[n - 1] != '\n')
        abort();
}

static void check_behave(const mt__tgt_behave_t *b)
{
    if (b->nmix < 1 || b->nmix > MT__TGT_MAX_MIX || b->status != b->mix_status[0] ||
        b->mix_cum[b->nmix - 1] == 0)
        abort();
    for (unsigned i = 0; i < b->nmix; i++) {
        if (b->mix_status[i] < 200 || b->mix_status[i] > 599)
            abort();
        if (i > 0 && b->mix_cum[i] < b->mix_cum[i - 1])
            abort();
    }
    if (b->delay_ns < 0 || b->delay_ns > MT_TARGET_MAX_DELAY_NS || b->delay_hi_ns < b->delay_ns ||
        b->delay_hi_ns > MT_TARGET_MAX_DELAY_NS || b->delay_kind > MT__TGT_DELAY_EXP)
        abort();
    if (b->reset > MT__TGT_PCT_ONE || b->malformed > MT__TGT_PCT_ONE)
        abort();
    if ((b->has_size && b->size > MT_TARGET_MAX_BODY) || b->slow_bps > MT_TARGET_MAX_BODY)
        abort();
}

/* Field by field: padding is not part of the value. */
static bool same(const mt__tgt_behave_t *a, const mt__tgt_behave_t *b)
{
    if (a->status != b->status || a->nmix != b->nmix || a->delay_kind != b->delay_kind ||
        a->has_size != b->has_size || a->chunked != b->chunked || a->close != b->close ||
        (a->has_size && a->size != b->size) || a->delay_ns != b->delay_ns ||
        a->delay_hi_ns != b->delay_hi_ns || a->reset != b->reset || a->malformed != b->malformed ||
        a->slow_bps != b->slow_bps)
        return false;
    for (unsigned i = 0; i < a->nmix; i++) {
        if (a->mix_status[i] != b->mix_status[i] || a->mix_cum[i] != b->mix_cum[i])
            return false;
    }
    return true;
}

static void check_pick(const mt__tgt_behave_t *b, uint64_t seed)
{
    uint64_t rng = mt__tgt_rand_seed(seed, 0);
    for (int k = 0; k < 8; k++) {
        mt__tgt_pick_t p;
        unsigned i;
        mt__tgt_pick(b, &rng, &p);
        for (i = 0; i < b->nmix && b->mix_status[i] != p.status; i++) {
        }
        if (i == b->nmix || p.action > MT__TGT_MALFORMED || p.delay_ns < 0 ||
            p.delay_ns > MT_TARGET_MAX_DELAY_NS)
            abort();
        if (b->delay_kind != MT__TGT_DELAY_EXP &&
            (p.delay_ns < b->delay_ns || p.delay_ns > b->delay_hi_ns))
            abort();
        if ((b->reset == MT__TGT_PCT_ONE && p.action != MT__TGT_RESET) ||
            (b->reset == 0 && b->malformed == 0 && p.action != MT__TGT_RESPOND))
            abort();
    }
}

static void check_write(const mt__tgt_behave_t *b, uint64_t step)
{
    static char filler[MT__TGT_CHUNK];
    char head[MT__TGT_HEAD_MAX], tail[8];
    uint64_t body = b->has_size ? b->size : 3, len, off = 0;

    if (mt__tgt_format_head(head, b->status, body,
                            MT__TGT_CONN_KEEP_ALIVE | MT__TGT_HEAD_CHUNKED | MT__TGT_HEAD_JSON) >
            sizeof(head) ||
        mt__tgt_format_head(head, b->status, body, MT__TGT_CONN_CLOSE) > sizeof(head))
        abort();
    len = mt__tgt_chunked_len(body);
    if (len < body + 5)
        abort();
    if (body > MAX_CHUNKED)
        return;
    if (filler[0] != 'x')
        memset(filler, 'x', sizeof(filler));
    mt__tgt_chunked_tail(tail, body);
    while (off < len) {
        struct iovec iov[16];
        uint64_t bytes = 0, sum = 0;
        size_t n = mt__tgt_chunked_iov(body, tail, off, filler, iov, 16, step, &bytes);
        if (n == 0 || n > 16)
            abort();
        for (size_t i = 0; i < n; i++)
            sum += iov[i].iov_len;
        if (sum != bytes || sum > step)
            abort();
        off += sum;
    }
    if (off != len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    mt__tgt_behave_t b, again, over;
    char msg[MT__TGT_MSG_MAX], msg2[MT__TGT_MSG_MAX], err[256];
    int rc, rc2;
    char *z;

    /* as a request-target */
    memset(msg, 0x7f, sizeof(msg));
    rc = mt__tgt_behave_parse(s, size, &b, msg);
    rc2 = mt__tgt_behave_parse(s, size, &again, msg2);
    if (rc != rc2 || strcmp(msg, msg2) != 0)
        abort();
    if (rc == 0) {
        if (msg[0] || !same(&b, &again))
            abort();
        check_behave(&b);
        check_pick(&b, size);
        check_write(&b, size ? (uint64_t)data[0] * 97 + 1 : UINT64_MAX);
        /* over itself as defaults: a query applied twice changes nothing */
        if (mt__tgt_behave_parse_over(&b, s, size, &over, msg) != 0 || !same(&over, &b))
            abort();
    } else {
        check_msg(msg);
    }

    /* as server-wide defaults (a query string without '?'), and through the public check */
    mt__tgt_behave_init(&b);
    rc = mt__tgt_behave_apply(s, size, &b, msg);
    if (rc == 0)
        check_behave(&b);
    else
        check_msg(msg);
    z = malloc(size + 1);
    if (!z)
        return 0;
    memcpy(z, data, size);
    z[size] = 0;
    rc2 = mt_target_check_behaviour(z, err, sizeof(err));
    if (!memchr(data, 0, size) && (rc2 == MT_OK) != (rc == 0))
        abort();
    if (rc2 != MT_OK && (!err[0] || strchr(err, '\n')))
        abort();
    free(z);
    return 0;
}
