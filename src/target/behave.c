/* Query string -> per-request behaviour, outcomes drawn from it, response heads and chunked
 * bodies. */
#include "target/behave.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mortar/schedule.h"
#include "mortar/target.h"

#define VALUE_SHOWN 40 /* longest value or name quoted back in an error message */

int mt_target_parse_size(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0, mult = 1;
    size_t i = 0;

    if (len > 0) {
        switch (text[len - 1]) {
        case 'k':
        case 'K':
            mult = 1024;
            break;
        case 'm':
        case 'M':
            mult = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mult = 1024 * 1024 * 1024;
            break;
        default:
            break;
        }
        if (mult > 1)
            len--;
    }
    if (len == 0)
        return MT_EPARSE;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return MT_EPARSE;
        v = v * 10 + (uint64_t)(text[i] - '0');
        if (v > MT_TARGET_MAX_BODY)
            return MT_ERANGE;
    }
    if (v > MT_TARGET_MAX_BODY / mult)
        return MT_ERANGE;
    *out = v * mult;
    return MT_OK;
}

/* Error text with the value quoted (shortened if long). */
static void bad(char *msg, const char *what, const char *val, size_t len, const char *why)
{
    int shown = len > VALUE_SHOWN ? VALUE_SHOWN : (int)len;
    snprintf(msg, MT__TGT_MSG_MAX, "%s: '%.*s'%s %s\n", what, shown, val,
             len > VALUE_SHOWN ? "..." : "", why);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "status=CODE" or "status=CODE[:WEIGHT],CODE[:WEIGHT]..." (a missing weight is 1). */
static int parse_status(const char *v, size_t vlen, mt__tgt_behave_t *b, char *msg)
{
    static const char what[] = "is not a status code 200..599 or a mix like 200:90,503:10";
    size_t i = 0;
    uint32_t total = 0;
    unsigned n = 0;

    for (;;) {
        unsigned code = 0;
        uint32_t weight = 1;
        size_t d;

        if (n == MT__TGT_MAX_MIX) {
            bad(msg, "status", v, vlen, "has more than 16 entries");
            return -1;
        }
        for (d = 0; d < 3; d++, i++) {
            if (i >= vlen || !is_digit(v[i]))
                goto syntax;
            code = code * 10 + (unsigned)(v[i] - '0');
        }
        if (code < 200 || code > 599)
            goto syntax;
        if (i < vlen && v[i] == ':') {
            i++;
            weight = 0;
            for (d = 0; i < vlen && is_digit(v[i]); d++, i++) {
                weight = weight * 10 + (uint32_t)(v[i] - '0');
                if (weight > MT__TGT_MAX_WEIGHT) {
                    bad(msg, "status", v, vlen, "has a weight above 1000000");
                    return -1;
                }
            }
            if (d == 0)
                goto syntax;
        }
        total += weight;
        b->mix_status[n] = (uint16_t)code;
        b->mix_cum[n] = total;
        n++;
        if (i == vlen)
            break;
        if (v[i] != ',' || ++i == vlen)
            goto syntax;
    }
    if (total == 0) {
        bad(msg, "status", v, vlen, "has weights adding up to 0");
        return -1;
    }
    b->nmix = (uint8_t)n;
    b->status = b->mix_status[0];
    return 0;
syntax:
    bad(msg, "status", v, vlen, what);
    return -1;
}

/* One duration of at most VALUE_SHOWN characters, 0..1 h. 0, -1 (syntax) or -2 (range). */
static int parse_dur(const char *v, size_t vlen, int64_t *ns)
{
    char buf[VALUE_SHOWN + 1];
    mt_parse_err_t perr;
    int rc;

    if (vlen == 0 || vlen > VALUE_SHOWN || memchr(v, 0, vlen))
        return -1;
    memcpy(buf, v, vlen);
    buf[vlen] = 0;
    memset(&perr, 0, sizeof(perr));
    rc = mt_parse_duration(buf, ns, &perr);
    if (rc == MT_ERANGE || (rc == MT_OK && (*ns < 0 || *ns > MT_TARGET_MAX_DELAY_NS)))
        return -2;
    return rc == MT_OK ? 0 : -1;
}

/* "delay=DUR", "delay=LO..HI" (uniform) or "delay=exp:MEAN" (exponential). */
static int parse_delay(const char *v, size_t vlen, mt__tgt_behave_t *b, char *msg)
{
    static const char what[] = "is not a duration (like 50ms), range (10ms..200ms) or exp:MEAN";
    int64_t lo = 0, hi = 0;
    int rc = -1;
    size_t i;

    if (vlen > 4 && memcmp(v, "exp:", 4) == 0) {
        if ((rc = parse_dur(v + 4, vlen - 4, &lo)) != 0)
            goto fail;
        b->delay_kind = MT__TGT_DELAY_EXP;
        b->delay_ns = lo;
        b->delay_hi_ns = lo;
        return 0;
    }
    for (i = 0; i + 1 < vlen; i++) {
        if (v[i] == '.' && v[i + 1] == '.')
            break;
    }
    if (i + 1 < vlen) {
        /* "1ms...2ms" is not "1ms" to ".2ms" */
        if (i + 2 < vlen && v[i + 2] == '.')
            goto fail;
        if ((rc = parse_dur(v, i, &lo)) != 0 || (rc = parse_dur(v + i + 2, vlen - i - 2, &hi)) != 0)
            goto fail;
        if (lo > hi) {
            bad(msg, "delay", v, vlen, "has its low end above its high end");
            return -1;
        }
        b->delay_kind = lo == hi ? MT__TGT_DELAY_FIXED : MT__TGT_DELAY_UNIFORM;
        b->delay_ns = lo;
        b->delay_hi_ns = hi;
        return 0;
    }
    if ((rc = parse_dur(v, vlen, &lo)) != 0)
        goto fail;
    b->delay_kind = MT__TGT_DELAY_FIXED;
    b->delay_ns = lo;
    b->delay_hi_ns = lo;
    return 0;
fail:
    bad(msg, "delay", v, vlen, rc == -2 ? "is more than 1h" : what);
    return -1;
}

/* A percentage 0..100 with at most 6 decimals, in parts of MT__TGT_PCT_ONE. */
static int parse_pct(const char *v, size_t vlen, uint32_t *out)
{
    uint64_t ip = 0, fp = 0;
    size_t i = 0;
    int nf = 0;

    for (; i < vlen && is_digit(v[i]); i++) {
        ip = ip * 10 + (uint64_t)(v[i] - '0');
        if (ip > 100)
            return -1;
    }
    if (i == 0)
        return -1;
    if (i < vlen) {
        if (v[i] != '.' || ++i == vlen)
            return -1;
        for (; i < vlen; i++) {
            if (!is_digit(v[i]) || ++nf > 6)
                return -1;
            fp = fp * 10 + (uint64_t)(v[i] - '0');
        }
    }
    for (; nf < 6; nf++)
        fp *= 10;
    if (ip * 1000000 + fp > MT__TGT_PCT_ONE)
        return -1;
    *out = (uint32_t)(ip * 1000000 + fp);
    return 0;
}

static int parse_bool(const char *what, const char *v, size_t vlen, bool *out, char *msg)
{
    if (vlen == 1 && (v[0] == '0' || v[0] == '1')) {
        *out = v[0] == '1';
        return 0;
    }
    bad(msg, what, v, vlen, "is not 0 or 1");
    return -1;
}

static int param(const char *k, size_t klen, const char *v, size_t vlen, mt__tgt_behave_t *out,
                 char *msg)
{
#define IS(name) (klen == sizeof(name) - 1 && memcmp(k, name, klen) == 0)
    if (IS("status"))
        return parse_status(v, vlen, out, msg);
    if (IS("size")) {
        int rc = mt_target_parse_size(v, vlen, &out->size);
        if (rc == MT_ERANGE) {
            bad(msg, "size", v, vlen, "is more than 1g");
            return -1;
        }
        if (rc != MT_OK) {
            bad(msg, "size", v, vlen, "is not a byte count (like 100, 10k, 2m)");
            return -1;
        }
        out->has_size = true;
        return 0;
    }
    if (IS("delay"))
        return parse_delay(v, vlen, out, msg);
    if (IS("chunked"))
        return parse_bool("chunked", v, vlen, &out->chunked, msg);
    if (IS("close"))
        return parse_bool("close", v, vlen, &out->close, msg);
    if (IS("reset") || IS("malformed")) {
        const char *name = IS("reset") ? "reset" : "malformed";
        if (parse_pct(v, vlen, name[0] == 'r' ? &out->reset : &out->malformed) != 0) {
            bad(msg, name, v, vlen, "is not a percentage 0..100 (like 5 or 0.1)");
            return -1;
        }
        return 0;
    }
    if (IS("slow")) {
        int rc = mt_target_parse_size(v, vlen, &out->slow_bps);
        if (rc == MT_ERANGE) {
            bad(msg, "slow", v, vlen, "is more than 1g (bytes per second)");
            return -1;
        }
        if (rc != MT_OK) {
            bad(msg, "slow", v, vlen, "is not a byte rate per second (like 1000, 10k, 1m)");
            return -1;
        }
        return 0;
    }
#undef IS
    bad(msg, "unknown query parameter", k, klen,
        "(known: status, size, delay, chunked, close, reset, slow, malformed)");
    return -2;
}

void mt__tgt_behave_init(mt__tgt_behave_t *b)
{
    memset(b, 0, sizeof(*b));
    b->status = 200;
    b->nmix = 1;
    b->mix_status[0] = 200;
    b->mix_cum[0] = 1;
}

/* Applies a query string; unknown parameters fail it (strict) or are skipped and counted. */
static int apply(const char *query, size_t len, bool strict, mt__tgt_behave_t *b, uint32_t *unknown,
                 char *msg)
{
    const char *q = query, *end = query + len;

    msg[0] = 0;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        if (pe > q) {
            const char *k = q;
            size_t klen = (size_t)((eq ? eq : pe) - q);
            const char *v = eq ? eq + 1 : pe;
            size_t vlen = (size_t)(pe - v);
            int rc = param(k, klen, v, vlen, b, msg);
            if (rc == -2 && !strict) {
                msg[0] = 0;
                if (unknown)
                    (*unknown)++;
            } else if (rc != 0) {
                return -1;
            }
        }
        q = amp ? amp + 1 : end;
    }
    return 0;
}

int mt__tgt_behave_apply(const char *query, size_t len, mt__tgt_behave_t *b, char *msg)
{
    return apply(query, len, true, b, NULL, msg);
}

int mt__tgt_behave_resolve(const mt__tgt_behave_t *defaults, const char *target, size_t len,
                           bool strict, mt__tgt_behave_t *out, uint32_t *unknown, char *msg)
{
    const char *q = memchr(target, '?', len);
    const char *end = target + len;
    const char *hash;

    if (defaults)
        *out = *defaults;
    else
        mt__tgt_behave_init(out);
    msg[0] = 0;
    if (!q)
        return 0;
    q++;
    hash = memchr(q, '#', (size_t)(end - q));
    if (hash)
        end = hash;
    return apply(q, (size_t)(end - q), strict, out, unknown, msg);
}

int mt__tgt_behave_parse_over(const mt__tgt_behave_t *defaults, const char *target, size_t len,
                              mt__tgt_behave_t *out, char *msg)
{
    return mt__tgt_behave_resolve(defaults, target, len, true, out, NULL, msg);
}

int mt__tgt_behave_parse(const char *target, size_t len, mt__tgt_behave_t *out, char *msg)
{
    return mt__tgt_behave_parse_over(NULL, target, len, out, msg);
}

/* ---- outcomes ------------------------------------------------------------------------------ */

uint64_t mt__tgt_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t mt__tgt_rand_seed(uint64_t seed, unsigned stream)
{
    /* distinct, well-mixed starting points for each thread of one seed */
    uint64_t s = seed ^ ((uint64_t)stream * 0xd1b54a32d192ed03ull);
    return mt__tgt_rand(&s);
}

/* Uniform in [0, n) for n < 2^32 (multiply-shift on the top 32 bits: no division). */
static uint32_t below(uint64_t *rng, uint32_t n)
{
    return (uint32_t)(((mt__tgt_rand(rng) >> 32) * n) >> 32);
}

/* True with probability p / MT__TGT_PCT_ONE; draws only when p is strictly between 0 and 1. */
static bool chance(uint64_t *rng, uint32_t p)
{
    if (p == 0)
        return false;
    if (p >= MT__TGT_PCT_ONE)
        return true;
    return below(rng, MT__TGT_PCT_ONE) < p;
}

void mt__tgt_pick(const mt__tgt_behave_t *b, uint64_t *rng, mt__tgt_pick_t *out)
{
    out->status = b->status;
    out->action = MT__TGT_RESPOND;
    out->delay_ns = b->delay_ns;
    if (b->nmix > 1) {
        uint32_t r = below(rng, b->mix_cum[b->nmix - 1]);
        unsigned i = 0;
        while (i + 1 < b->nmix && r >= b->mix_cum[i])
            i++;
        out->status = b->mix_status[i];
    }
    if (b->delay_kind == MT__TGT_DELAY_UNIFORM && b->delay_hi_ns > b->delay_ns) {
        uint64_t span = (uint64_t)(b->delay_hi_ns - b->delay_ns) + 1;
        out->delay_ns = b->delay_ns + (int64_t)(mt__tgt_rand(rng) % span);
    } else if (b->delay_kind == MT__TGT_DELAY_EXP && b->delay_ns > 0) {
        /* u in (0, 1]: -ln(u) is exponential with mean 1 */
        double u = (double)((mt__tgt_rand(rng) >> 11) + 1) * 0x1p-53;
        double d = -(double)b->delay_ns * log(u);
        out->delay_ns = d >= (double)MT_TARGET_MAX_DELAY_NS ? MT_TARGET_MAX_DELAY_NS : (int64_t)d;
    }
    if (chance(rng, b->reset))
        out->action = MT__TGT_RESET;
    else if (chance(rng, b->malformed))
        out->action = MT__TGT_MALFORMED;
}

const char *const mt__tgt_malformed_names[MT__TGT_MAL_KINDS] = {
    "status_line",
    "chunk_size",
    "truncated",
    "oversized_headers",
};

/* ---- writing -------------------------------------------------------------------------------- */

bool mt__tgt_status_bodyless(unsigned status)
{
    return status == 204 || status == 304;
}

static const char *reason(unsigned s)
{
    switch (s) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 418:
        return "I'm a teapot";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

size_t mt__tgt_format_head(char *buf, unsigned status, uint64_t content_length, int conn)
{
    const char *r;
    char *p = buf;

    if (status < 100 || status > 999)
        status = 500;
    r = reason(status);
    p = PUT(p, "HTTP/1.1 ");
    *p++ = (char)('0' + status / 100);
    *p++ = (char)('0' + status / 10 % 10);
    *p++ = (char)('0' + status % 10);
    *p++ = ' ';
    p = put(p, r, strlen(r));
    if (conn & MT__TGT_HEAD_JSON)
        p = PUT(p, "\r\nContent-Type: application/json\r\n");
    else
        p = PUT(p, "\r\nContent-Type: text/plain\r\n");
    if (!mt__tgt_status_bodyless(status)) {
        if (conn & MT__TGT_HEAD_CHUNKED) {
            p = PUT(p, "Transfer-Encoding: chunked\r\n");
        } else {
            p = PUT(p, "Content-Length: ");
            p = put_u64(p, content_length);
            p = PUT(p, "\r\n");
        }
    }
    if ((conn & MT__TGT_CONN_MASK) == MT__TGT_CONN_CLOSE)
        p = PUT(p, "Connection: close\r\n");
    else if ((conn & MT__TGT_CONN_MASK) == MT__TGT_CONN_KEEP_ALIVE)
        p = PUT(p, "Connection: keep-alive\r\n");
    p = PUT(p, "\r\n");
    return (size_t)(p - buf);
}

/* ---- chunked bodies ------------------------------------------------------------------------- */

static const char k_chunk_head[] = "4000\r\n"; /* MT__TGT_CHUNK in hex */
static const char k_crlf[] = "\r\n";
static const char k_last_chunk[] = "0\r\n\r\n";
#define CHUNK_HEAD (sizeof(k_chunk_head) - 1)
#define FULL_WIRE  (CHUNK_HEAD + MT__TGT_CHUNK + 2) /* one full chunk on the wire */
#define LAST_WIRE  (sizeof(k_last_chunk) - 1)

_Static_assert(MT__TGT_CHUNK == 0x4000, "k_chunk_head must spell MT__TGT_CHUNK in hex");

size_t mt__tgt_chunked_tail(char *tail, uint64_t body)
{
    static const char hex[] = "0123456789abcdef";
    unsigned r = (unsigned)(body % MT__TGT_CHUNK);
    char tmp[4];
    size_t n = 0, len = 0;

    if (r == 0)
        return 0;
    while (r) {
        tmp[n++] = hex[r & 15];
        r >>= 4;
    }
    while (n)
        tail[len++] = tmp[--n];
    tail[len++] = '\r';
    tail[len++] = '\n';
    return len;
}

uint64_t mt__tgt_chunked_len(uint64_t body)
{
    char tail[8];
    uint64_t r = body % MT__TGT_CHUNK;
    uint64_t n = body / MT__TGT_CHUNK * FULL_WIRE + LAST_WIRE;
    if (r)
        n += mt__tgt_chunked_tail(tail, body) + r + 2;
    return n;
}

size_t mt__tgt_chunked_iov(uint64_t body, const char *tail, uint64_t off, const char *filler,
                           struct iovec *iov, size_t max, uint64_t limit, uint64_t *bytes)
{
    char tmp[8];
    const uint64_t full = body / MT__TGT_CHUNK * FULL_WIRE;
    const uint64_t r = body % MT__TGT_CHUNK;
    const uint64_t hl = mt__tgt_chunked_tail(tmp, body);
    const uint64_t short_end = full + (r ? hl + r + 2 : 0);
    const uint64_t end = short_end + LAST_WIRE;
    size_t n = 0;

    while (n < max && limit > 0 && off < end) {
        const char *p;
        uint64_t len;
        if (off < full) {
            uint64_t in = off % FULL_WIRE;
            if (in < CHUNK_HEAD) {
                p = k_chunk_head + in;
                len = CHUNK_HEAD - in;
            } else if (in < CHUNK_HEAD + MT__TGT_CHUNK) {
                p = filler;
                len = CHUNK_HEAD + MT__TGT_CHUNK - in;
            } else {
                p = k_crlf + (in - CHUNK_HEAD - MT__TGT_CHUNK);
                len = FULL_WIRE - in;
            }
        } else if (off < short_end) {
            uint64_t in = off - full;
            if (in < hl) {
                p = tail + in;
                len = hl - in;
            } else if (in < hl + r) {
                p = filler;
                len = hl + r - in;
            } else {
                p = k_crlf + (in - hl - r);
                len = hl + r + 2 - in;
            }
        } else {
            p = k_last_chunk + (off - short_end);
            len = end - off;
        }
        if (len > limit)
            len = limit;
        iov[n].iov_base = (void *)p;
        iov[n].iov_len = (size_t)len;
        n++;
        off += len;
        limit -= len;
        *bytes += len;
    }
    return n;
}

/* ---- protocol detection -------------------------------------------------------------------- */

int mt__tgt_h2_sniff(const char *buf, size_t len)
{
    size_t n = len < MT__TGT_H2_PREFACE_LEN ? len : MT__TGT_H2_PREFACE_LEN;
    if (memcmp(buf, MT__TGT_H2_PREFACE, n) != 0)
        return -1;
    return n == MT__TGT_H2_PREFACE_LEN ? 1 : 0;
}
