/* W3C trace context (https://www.w3.org/TR/trace-context/): the traceparent header value and
 * the exemplars of a second (docs/tracing.md, docs/adr/0036-trace-links-and-otlp.md). */
#include <stdio.h>
#include <string.h>

#include "mortar/engine.h"

static const char hexd[] = "0123456789abcdef";

void mt_hex_encode(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void mt_traceparent_format(char *out, const uint8_t trace_id[16], const uint8_t span_id[8],
                           bool sampled)
{
    memcpy(out, "00-", 3);
    mt_hex_encode(out + 3, trace_id, 16);
    out[35] = '-';
    mt_hex_encode(out + 36, span_id, 8);
    out[52] = '-';
    out[53] = '0';
    out[54] = sampled ? '1' : '0';
    out[55] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n bytes from 2n lowercase hex digits at text + at; -1 with the bad column. */
static int unhex(const char *text, size_t at, uint8_t *out, size_t n, int *col)
{
    for (size_t i = 0; i < 2 * n; i++) {
        int v = hexval(text[at + i]);
        if (v < 0) {
            *col = (int)(at + i) + 1;
            return -1;
        }
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int perr(mt_parse_err_t *err, int col, const char *msg)
{
    if (err) {
        err->line = 0;
        err->col = col;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return MT_EPARSE;
}

int mt_traceparent_parse(const char *text, size_t len, uint8_t trace_id[16], uint8_t span_id[8],
                         bool *sampled, mt_parse_err_t *err)
{
    int col = 0;
    uint8_t ver, flags;
    if (len != MT_TRACEPARENT_LEN)
        return perr(err, len < MT_TRACEPARENT_LEN ? (int)len + 1 : MT_TRACEPARENT_LEN + 1,
                    "traceparent: expected 55 characters");
    if (unhex(text, 0, &ver, 1, &col) < 0)
        return perr(err, col, "traceparent: version: expected 2 lowercase hex digits");
    if (ver != 0)
        return perr(err, 1, "traceparent: only version 00 is written");
    if (text[2] != '-' || text[35] != '-' || text[52] != '-')
        return perr(err,
                    text[2] != '-'    ? 3
                    : text[35] != '-' ? 36
                                      : 53,
                    "traceparent: expected '-'");
    if (unhex(text, 3, trace_id, 16, &col) < 0)
        return perr(err, col, "traceparent: trace id: expected 32 lowercase hex digits");
    if (all_zero(trace_id, 16))
        return perr(err, 4, "traceparent: trace id is all zeros");
    if (unhex(text, 36, span_id, 8, &col) < 0)
        return perr(err, col, "traceparent: span id: expected 16 lowercase hex digits");
    if (all_zero(span_id, 8))
        return perr(err, 37, "traceparent: span id is all zeros");
    if (unhex(text, 53, &flags, 1, &col) < 0)
        return perr(err, col, "traceparent: flags: expected 2 lowercase hex digits");
    *sampled = flags & 1;
    return MT_OK;
}

/* a before b: slower first, then the smaller trace id, then the smaller span id */
static int before(const mt_exemplar_t *a, const mt_exemplar_t *b)
{
    if (a->latency_us != b->latency_us)
        return a->latency_us > b->latency_us;
    int c = memcmp(a->trace_id, b->trace_id, sizeof a->trace_id);
    if (c)
        return c < 0;
    return memcmp(a->span_id, b->span_id, sizeof a->span_id) < 0;
}

void mt_exemplars_merge(mt_exemplar_t *dst, size_t *n, size_t cap, const mt_exemplar_t *src,
                        size_t m)
{
    for (size_t j = 0; j < m; j++) {
        const mt_exemplar_t *e = &src[j];
        size_t i = 0, k = *n;
        int dup = 0;
        for (size_t x = 0; x < k; x++)
            if (!memcmp(dst[x].trace_id, e->trace_id, 16) && !memcmp(dst[x].span_id, e->span_id, 8))
                dup = 1;
        if (dup)
            continue;
        while (i < k && before(&dst[i], e))
            i++;
        if (i >= cap)
            continue; /* not among the cap slowest */
        if (k == cap)
            k--; /* the fastest falls out */
        memmove(&dst[i + 1], &dst[i], (k - i) * sizeof *dst);
        dst[i] = *e;
        *n = k + 1;
    }
}
