/* Incremental HTTP/1.x request-head parser: one byte-driven state machine. Names of methods,
 * recognised headers and Connection options are matched on the fly against small tables with
 * a candidate bitmask, so nothing of the input has to be kept between calls. */
#include "proto/http1_req.h"

#include <string.h>

enum {
    S_START = 0, /* before the request line; empty lines are skipped */
    S_START_CR,
    S_METHOD,
    S_TARGET0, /* first byte of the request-target */
    S_TARGET,
    S_VERSION, /* "HTTP/" */
    S_VMAJOR,
    S_VDOT,
    S_VMINOR,
    S_RL_END,
    S_RL_CR,
    S_LINE_START, /* start of a header line or of the final empty line */
    S_NAME,
    S_OWS, /* after ':' */
    S_VALUE,
    S_VALUE_CR,
    S_END_CR,
    S_DONE,
};

/* Recognised headers (hdr = index + 1). */
enum { H_NONE = 0, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_HOST, H_EXPECT };

typedef struct name {
    const char *s;
    uint8_t len;
} name_t;

#define N(str)                                                                                     \
    {                                                                                              \
        str, (uint8_t)(sizeof(str) - 1)                                                            \
    }
static const name_t k_methods[] = {N("GET"),     N("HEAD"),    N("POST"),  N("PUT"),  N("DELETE"),
                                   N("CONNECT"), N("OPTIONS"), N("TRACE"), N("PATCH")};
static const name_t k_headers[] = {N("content-length"), N("transfer-encoding"), N("connection"),
                                   N("host"), N("expect")};
static const name_t k_conn_opts[] = {N("close"), N("keep-alive")};
static const name_t k_expect[] = {N("100-continue")};
#undef N

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* value sub-state flags */
enum {
    V_DIGITS = 1 << 0,   /* Content-Length: a digit was seen */
    V_TRAIL = 1 << 1,    /* whitespace after the token / number */
    V_ELEM_BAD = 1 << 2, /* list element cannot match */
};

#define MAX_CONTENT_LENGTH 1000000000000000000ULL /* 10^18: beyond is an error, not a wrap */

/* RFC 9110 tchar */
static const uint8_t k_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline int is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* field-vchar / SP / HTAB (obs-text allowed, as RFC 9110 does for values) */
static inline int is_value_char(unsigned char c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static uint16_t all_of(size_t n)
{
    return (uint16_t)((1u << n) - 1);
}

/* Narrow the candidates by the byte at position *pos (lower-cased when fold). */
static void match_step(const name_t *names, uint16_t *cand, uint8_t *pos, unsigned char c, int fold)
{
    uint16_t m = *cand;
    if (fold)
        c = lower(c);
    while (m) {
        int i = __builtin_ctz(m);
        m &= (uint16_t)(m - 1);
        if (*pos >= names[i].len || (unsigned char)names[i].s[*pos] != c)
            *cand &= (uint16_t) ~(1u << i);
    }
    if (*pos < UINT8_MAX)
        (*pos)++;
}

/* Index + 1 of the candidate matched in full, or 0. */
static int match_end(const name_t *names, uint16_t cand, uint8_t pos)
{
    while (cand) {
        int i = __builtin_ctz(cand);
        cand &= (uint16_t)(cand - 1);
        if (names[i].len == pos)
            return i + 1;
    }
    return 0;
}

void mt__h1_req_init(mt__h1_req_t *p, uint32_t max_head)
{
    memset(p, 0, sizeof(*p));
    p->max_head = max_head;
    p->version_minor = 1;
}

static int fail(mt__h1_req_t *p, int code, uint16_t status, uint32_t off, const char *msg)
{
    p->err = code;
    p->err_status = status;
    p->err_offset = off;
    p->err_msg = msg;
    return code;
}

/* Options list element of Connection / Expect ended: record a full match. */
static void list_elem_end(mt__h1_req_t *p)
{
    if (!(p->vflags & V_ELEM_BAD) && p->pos > 0) {
        if (p->hdr == H_CONNECTION) {
            int m = match_end(k_conn_opts, p->cand, p->pos);
            if (m == 1)
                p->conn_close = 1;
            else if (m == 2)
                p->conn_keep_alive = 1;
        } else if (match_end(k_expect, p->cand, p->pos)) {
            p->expect_continue = 1;
        }
    }
    p->cand = p->hdr == H_CONNECTION ? all_of(COUNT(k_conn_opts)) : all_of(COUNT(k_expect));
    p->pos = 0;
    p->vflags = 0;
}

/* A byte of a recognised header's value (never CR/LF; leading OWS already skipped). */
static int value_byte(mt__h1_req_t *p, unsigned char c, uint32_t off)
{
    switch (p->hdr) {
    case H_CONTENT_LENGTH:
        if (c >= '0' && c <= '9') {
            if (p->vflags & V_TRAIL)
                return fail(p, MT_EPROTO, 400, off, "bad Content-Length");
            p->num = p->num * 10 + (uint64_t)(c - '0');
            if (p->num > MAX_CONTENT_LENGTH)
                return fail(p, MT_EPROTO, 400, off, "Content-Length too large");
            p->vflags |= V_DIGITS;
        } else if (c == ' ' || c == '\t') {
            p->vflags |= V_TRAIL;
        } else {
            return fail(p, MT_EPROTO, 400, off, "bad Content-Length");
        }
        return 0;
    case H_CONNECTION:
    case H_EXPECT:
        if (c == ',') {
            list_elem_end(p);
        } else if (c == ' ' || c == '\t') {
            if (p->pos > 0)
                p->vflags |= V_TRAIL;
        } else if (p->vflags & V_TRAIL) {
            p->vflags |= V_ELEM_BAD;
        } else {
            match_step(p->hdr == H_CONNECTION ? k_conn_opts : k_expect, &p->cand, &p->pos, c, 1);
        }
        return 0;
    default:
        return 0;
    }
}

/* The header line's value ended (at the CR or LF at off). */
static int value_end(mt__h1_req_t *p, uint32_t off)
{
    switch (p->hdr) {
    case H_CONTENT_LENGTH:
        if (!(p->vflags & V_DIGITS))
            return fail(p, MT_EPROTO, 400, off, "empty Content-Length");
        if (p->has_content_length && p->content_length != p->num)
            return fail(p, MT_EPROTO, 400, off, "conflicting Content-Length headers");
        p->has_content_length = 1;
        p->content_length = p->num;
        break;
    case H_CONNECTION:
    case H_EXPECT:
        list_elem_end(p);
        break;
    default:
        break;
    }
    p->hdr = H_NONE;
    return 0;
}

/* The header name ended at ':' (at off). */
static int name_end(mt__h1_req_t *p, uint32_t off)
{
    p->hdr = (uint8_t)match_end(k_headers, p->cand, p->pos);
    p->vflags = 0;
    p->pos = 0;
    p->num = 0;
    switch (p->hdr) {
    case H_HOST:
        if (p->has_host)
            return fail(p, MT_EPROTO, 400, off, "more than one Host header");
        p->has_host = 1;
        break;
    case H_TRANSFER_ENCODING:
        p->has_transfer_encoding = 1;
        break;
    case H_CONNECTION:
        p->cand = all_of(COUNT(k_conn_opts));
        break;
    case H_EXPECT:
        p->cand = all_of(COUNT(k_expect));
        break;
    default:
        break;
    }
    return 0;
}

static int head_end(mt__h1_req_t *p, uint32_t off)
{
    if (p->version_minor >= 1 && !p->has_host)
        return fail(p, MT_EPROTO, 400, off, "missing Host header");
    p->state = S_DONE;
    p->head_len = off + 1;
    return MT_OK;
}

int mt__h1_req_feed(mt__h1_req_t *p, const char *buf, size_t len, size_t *consumed)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0, n = len;
    uint32_t base = p->off;
    int rc = MT_EAGAIN;

    *consumed = 0;
    if (p->err)
        return p->err;
    if (p->state == S_DONE)
        return MT_OK;
    if (n > (size_t)(p->max_head - base))
        n = p->max_head - base;

    for (; i < n; i++) {
        unsigned char c = b[i];
        uint32_t off = base + (uint32_t)i;
        switch (p->state) {
        case S_START:
            if (c == '\r') {
                p->state = S_START_CR;
            } else if (c == '\n') {
                /* empty line before the request line: ignored */
            } else if (k_tchar[c]) {
                p->state = S_METHOD;
                p->cand = all_of(COUNT(k_methods));
                p->pos = 0;
                p->method_len = 1;
                match_step(k_methods, &p->cand, &p->pos, c, 0);
            } else {
                rc = fail(p, MT_EPROTO, 400, off, "bad character in method");
                goto out;
            }
            break;
        case S_START_CR:
        case S_RL_CR:
        case S_VALUE_CR:
        case S_END_CR:
            if (c != '\n') {
                rc = fail(p, MT_EPROTO, 400, off, "CR not followed by LF");
                goto out;
            }
            if (p->state == S_START_CR) {
                p->state = S_START;
            } else if (p->state == S_END_CR) {
                if ((rc = head_end(p, off)) == MT_OK)
                    i++;
                goto out;
            } else {
                p->state = S_LINE_START;
            }
            break;
        case S_METHOD:
            if (k_tchar[c]) {
                match_step(k_methods, &p->cand, &p->pos, c, 0);
                p->method_len++;
            } else if (c == ' ') {
                p->method = (uint8_t)match_end(k_methods, p->cand, p->pos);
                p->state = S_TARGET0;
            } else {
                rc = fail(p, MT_EPROTO, 400, off, "bad character in method");
                goto out;
            }
            break;
        case S_TARGET0:
            if (!is_target_char(c)) {
                rc = fail(p, MT_EPROTO, 400, off,
                          c == ' ' ? "empty request-target" : "bad character in request-target");
                goto out;
            }
            p->target_off = off;
            p->state = S_TARGET;
            break;
        case S_TARGET:
            while (i < n && is_target_char(b[i]))
                i++;
            if (i == n) {
                i--; /* the for loop's increment brings it back to n */
                break;
            }
            off = base + (uint32_t)i;
            if (b[i] == ' ') {
                p->target_len = off - p->target_off;
                p->state = S_VERSION;
                p->pos = 0;
            } else if (b[i] == '\r' || b[i] == '\n') {
                rc = fail(p, MT_EPROTO, 400, off, "request line without HTTP version");
                goto out;
            } else {
                rc = fail(p, MT_EPROTO, 400, off, "bad character in request-target");
                goto out;
            }
            break;
        case S_VERSION:
            if (c != (unsigned char)"HTTP/"[p->pos]) {
                rc = fail(p, MT_EPROTO, 400, off, "bad HTTP version");
                goto out;
            }
            if (++p->pos == 5)
                p->state = S_VMAJOR;
            break;
        case S_VMAJOR:
            if (c < '0' || c > '9') {
                rc = fail(p, MT_EPROTO, 400, off, "bad HTTP version");
                goto out;
            }
            if (c != '1') {
                rc = fail(p, MT_EPROTO, 505, off, "HTTP version not supported");
                goto out;
            }
            p->state = S_VDOT;
            break;
        case S_VDOT:
            if (c != '.') {
                rc = fail(p, MT_EPROTO, 400, off, "bad HTTP version");
                goto out;
            }
            p->state = S_VMINOR;
            break;
        case S_VMINOR:
            if (c < '0' || c > '9') {
                rc = fail(p, MT_EPROTO, 400, off, "bad HTTP version");
                goto out;
            }
            p->version_minor = (uint8_t)(c - '0');
            p->state = S_RL_END;
            break;
        case S_RL_END:
            if (c == '\r') {
                p->state = S_RL_CR;
            } else if (c == '\n') {
                p->state = S_LINE_START;
            } else {
                rc = fail(p, MT_EPROTO, 400, off, "bad HTTP version");
                goto out;
            }
            break;
        case S_LINE_START:
            if (c == '\r') {
                p->state = S_END_CR;
            } else if (c == '\n') {
                if ((rc = head_end(p, off)) == MT_OK)
                    i++;
                goto out;
            } else if (k_tchar[c]) {
                if (++p->nheaders > MT__H1_REQ_MAX_HEADERS) {
                    rc = fail(p, MT_ETOOBIG, 431, off, "too many header lines");
                    goto out;
                }
                p->state = S_NAME;
                p->cand = all_of(COUNT(k_headers));
                p->pos = 0;
                match_step(k_headers, &p->cand, &p->pos, c, 1);
            } else if (c == ' ' || c == '\t') {
                rc = fail(p, MT_EPROTO, 400, off, "obsolete line folding");
                goto out;
            } else {
                rc = fail(p, MT_EPROTO, 400, off, "bad character in header name");
                goto out;
            }
            break;
        case S_NAME:
            if (k_tchar[c]) {
                if (p->cand)
                    match_step(k_headers, &p->cand, &p->pos, c, 1);
            } else if (c == ':') {
                if ((rc = name_end(p, off)) != 0)
                    goto out;
                rc = MT_EAGAIN;
                p->state = S_OWS;
            } else if (c == ' ' || c == '\t') {
                rc = fail(p, MT_EPROTO, 400, off, "whitespace before ':' in header line");
                goto out;
            } else if (c == '\r' || c == '\n') {
                rc = fail(p, MT_EPROTO, 400, off, "header line without ':'");
                goto out;
            } else {
                rc = fail(p, MT_EPROTO, 400, off, "bad character in header name");
                goto out;
            }
            break;
        case S_OWS:
            if (c == ' ' || c == '\t')
                break;
            p->state = S_VALUE;
            /* fall through */
        case S_VALUE:
            if (p->hdr == H_NONE) {
                while (i < n && is_value_char(b[i]))
                    i++;
                if (i == n) {
                    i--;
                    break;
                }
                c = b[i];
                off = base + (uint32_t)i;
            }
            if (c == '\r' || c == '\n') {
                if ((rc = value_end(p, off)) != 0)
                    goto out;
                rc = MT_EAGAIN;
                p->state = c == '\r' ? S_VALUE_CR : S_LINE_START;
            } else if (!is_value_char(c)) {
                rc = fail(p, MT_EPROTO, 400, off, "bad character in header value");
                goto out;
            } else if ((rc = value_byte(p, c, off)) != 0) {
                goto out;
            } else {
                rc = MT_EAGAIN;
            }
            break;
        default:
            rc = fail(p, MT_EPROTO, 400, off, "parser in a bad state");
            goto out;
        }
    }
    if (base + (uint32_t)i >= p->max_head) {
        /* max_head bytes and the head is not over: no later byte can complete it in time */
        rc = fail(p, MT_ETOOBIG, 431, base + (uint32_t)i, "request head too large");
    }

out:
    *consumed = i;
    p->off = base + (uint32_t)i;
    return rc;
}

bool mt__h1_req_keep_alive(const mt__h1_req_t *p)
{
    if (p->conn_close)
        return false;
    if (p->version_minor >= 1)
        return true;
    return p->conn_keep_alive;
}
