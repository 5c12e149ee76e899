/* libFuzzer driver for the HTTP/1.x response parser (src/proto/http1.c).
 *
 * The input is a stream of (pipelined) responses. It is parsed whole, in pseudo-random pieces
 * derived from the input (including empty pieces), and byte by byte, with and without
 * MT_H1_NO_BODY; every way must give the same responses and the same error at the same
 * offset. Each piece is copied to its own heap buffer so ASan sees any read past it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/proto/http1.c"
#include "fuzz_check.h"

typedef struct summary {
    uint64_t digest; /* of every completed response: status, body, keep-alive, end offset */
    size_t n;
    int rc;
    const char *msg;
    uint32_t err_offset;
    size_t err_at; /* stream offset where the failing response began */
} summary_t;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0x100000001b3ULL;
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* mode 0: whole; 1: byte by byte; otherwise pieces of pseudo-random length seeded by mode. */
static void run(const uint8_t *data, size_t size, unsigned flags, uint64_t mode, summary_t *s)
{
    mt_h1_resp_t p;
    size_t a = 0, resp_start = 0;
    uint64_t rng = mode | 1;
    int rc;

    memset(s, 0, sizeof *s);
    mt_h1_resp_init(&p, flags);
    while (a < size) {
        size_t plen = size - a, off = 0;
        if (mode == 1) {
            plen = 1;
        } else if (mode != 0) {
            uint64_t r = next_rand(&rng);
            size_t want = (r & 7) == 0 ? (size_t)(r >> 8) % 4096 : (size_t)(r >> 8) % 24;
            if (want < plen)
                plen = want;
        }
        uint8_t *piece = malloc(plen ? plen : 1);
        CHECK(piece);
        memcpy(piece, data + a, plen);
        do {
            size_t used = (size_t)-1;
            rc = mt_h1_resp_feed(&p, (const char *)piece + off, plen - off, &used);
            CHECK(used <= plen - off);
            off += used;
            if (rc == MT_OK) {
                size_t end = a + off;
                CHECK(end > resp_start);
                CHECK(p.head_done);
                CHECK(mt_h1_resp_final_started(&p)); /* a complete response has its status */
                CHECK(p.status >= 100 && p.status <= 999);
                CHECK(p.body_bytes < end - resp_start);
                s->digest = mix(s->digest, p.status);
                s->digest = mix(s->digest, p.body_bytes);
                s->digest = mix(s->digest, mt_h1_resp_keep_alive(&p));
                s->digest = mix(s->digest, end);
                s->n++;
                resp_start = end;
                mt_h1_resp_init(&p, flags);
                continue;
            }
            if (rc != MT_EAGAIN) {
                free(piece);
                goto error;
            }
            CHECK(off == plen);
        } while (off < plen);
        free(piece);
        a += plen;
    }
    if (resp_start == size) {
        s->rc = MT_OK;
        return;
    }
    rc = mt_h1_resp_eof(&p);
    if (rc == MT_OK) {
        CHECK(p.head_done);
        CHECK(!mt_h1_resp_keep_alive(&p));
        s->digest = mix(s->digest, p.status);
        s->digest = mix(s->digest, p.body_bytes);
        s->digest = mix(s->digest, size);
        s->n++;
        s->rc = MT_OK;
        return;
    }
    CHECK(rc == MT_EEOF);
error:
    CHECK(rc == MT_EPROTO || rc == MT_ETOOBIG || rc == MT_EEOF);
    CHECK(p.err_msg && p.err_msg[0]);
    CHECK(resp_start + p.err_offset <= size);
    s->rc = rc;
    s->msg = p.err_msg;
    s->err_offset = p.err_offset;
    s->err_at = resp_start;
}

static void same(const summary_t *a, const summary_t *b)
{
    CHECK(a->digest == b->digest);
    CHECK(a->n == b->n);
    CHECK(a->rc == b->rc);
    CHECK(a->msg == b->msg);
    CHECK(a->err_offset == b->err_offset);
    CHECK(a->err_at == b->err_at);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    summary_t whole, split;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ULL;

    for (unsigned flags = 0; flags <= MT_H1_NO_BODY; flags += MT_H1_NO_BODY) {
        run(data, size, flags, 0, &whole);
        run(data, size, flags, h | 2, &split);
        same(&whole, &split);
        run(data, size, flags, mix(h, 1) | 2, &split);
        same(&whole, &split);
        if (size <= 2048) {
            run(data, size, flags, 1, &split);
            same(&whole, &split);
        }
    }
    return 0;
}
