/* Incremental HTTP/1.x response parser (see include/mortar/http1.h and
 * docs/adr/0002-http1-response-parser.md).
 *
 * One resumable state machine written as labels and gotos: within a call, control runs
 * straight from one label to the next; only when the input runs out is the state saved, and
 * the next call jumps back to the same label. Nothing of a header is kept: the names of the
 * three framing headers are recognised as they pass, their values folded into flags and
 * counters, and every other header, the reason phrase and chunk extensions are skipped with
 * memchr. Bodies and chunk payloads are skipped in bulk.
 *
 * Names and list elements wholly inside the buffer (the common case) are compared a word at a
 * time; one that a piece cuts in two is matched a byte at a time (match = which word, sub = how
 * many of its bytes matched). Both paths must agree exactly: the tests and the fuzzer feed every
 * input whole and split to check it.
 *
 * The head limit costs nothing per byte: each call parses the head only up to `lim`, the
 * point where the limit would be passed; stopping there with input left over is ETOOBIG. */
#include "mortar/http1.h"

#include <assert.h>
#include <string.h>

#include "mortar/error.h"

static_assert(sizeof(mt_h1_resp_t) <= 48, "mt_h1_resp_t lives in every connection: keep it small");

enum {
    /* status line */
    S_VER,        /* "HTTP/1." (sub = bytes matched) */
    S_VER_MINOR,  /* the x of HTTP/1.x */
    S_VER_SP,     /* the space after the version */
    S_STATUS,     /* three digits (sub = digits seen) */
    S_STATUS_END, /* SP reason, or the end of the line */
    /* header (and trailer) lines */
    S_LINE,     /* start of a line */
    S_NAME,     /* in a name (match/sub: framing header being recognised) */
    S_SKIP,     /* skipping to LF: reason phrase, other headers' values, trailers */
    S_LF,       /* after CR: LF, then a new line */
    S_EMPTY_LF, /* after CR on an empty line: LF ends the head (or trailers) */
    S_CL_OWS,   /* Content-Length value: whitespace before a number */
    S_CL_DIGITS,
    S_CL_TAIL,   /* whitespace after a number */
    S_LIST_OWS,  /* Transfer-Encoding / Connection: before a list element */
    S_LIST_TOK,  /* in an element that may be a word we want (match/sub) */
    S_LIST_TAIL, /* whitespace after such a word */
    S_LIST_SKIP, /* in an element we do not want: up to ',' or the end of the line */
    S_FOLD_OWS,  /* obs-fold continuing a Transfer-Encoding / Connection line: its whitespace */
    /* body */
    S_BODY,     /* Content-Length bytes */
    S_BODY_EOF, /* until the connection closes */
    S_CHUNK_SIZE_FIRST,
    S_CHUNK_SIZE,
    S_CHUNK_SIZE_WS, /* whitespace after the size: ';' or the end of the line must follow */
    S_CHUNK_EXT,     /* ";ext...": skipped to LF */
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR,
    S_CHUNK_DATA_LF,
    /* final */
    S_DONE,
    S_EPROTO,
    S_ETOOBIG,
};

enum {
    F_HAVE_CL = 1 << 0,
    F_HAVE_TE = 1 << 1,
    F_CHUNKED = 1 << 2, /* the last transfer coding so far is "chunked" */
    F_CONN_CLOSE = 1 << 3,
    F_CONN_KEEP_ALIVE = 1 << 4,
    F_NO_REUSE = 1 << 5,  /* close-delimited body or 101: the connection cannot be reused */
    F_TRAILER = 1 << 6,   /* the header-line states are parsing chunked trailers */
    F_FOLD_ELEM = 1 << 7, /* the last list line ended inside an element (not after a comma) */
};

/* Words matched on the fly (lower case). The first three are header names, the others
 * elements of the Transfer-Encoding and Connection lists. */
enum { W_NONE, W_CL, W_TE, W_CONN, W_CHUNKED, W_CLOSE, W_KEEP_ALIVE };
static const char *const mt__h1_word[] = {
    "", "content-length", "transfer-encoding", "connection", "chunked", "close", "keep-alive",
};
static const uint8_t mt__h1_word_len[] = {0, 14, 17, 10, 7, 5, 10};

/* RFC 9110 tchar: the bytes allowed in a header name. */
static const uint8_t mt__h1_tchar[256] = {
    /* clang-format off */
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
    /* clang-format on */
};

static inline unsigned mt__h1_lower(unsigned c)
{
    return (c - 'A' < 26u) ? c + ('a' - 'A') : c;
}

/* 0..15, or -1 if c is not a hex digit. */
static inline int mt__h1_hex(unsigned c)
{
    if (c - '0' < 10u)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6u)
        return (int)(c - 'a' + 10);
    return -1;
}

static inline uint64_t mt__h1_load64(const void *s)
{
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

static inline uint32_t mt__h1_load32(const void *s)
{
    uint32_t v;
    memcpy(&v, s, 4);
    return v;
}

/* Is s[0..n) equal, ignoring case, to w, a lower-case word of letters and '-' (n >= 4)?
 * A word at a time: bit 0x20 is forced on where w has a letter (w's bit 0x40 says where),
 * which folds exactly A-Z onto a-z and leaves '-' to compare as is. */
static inline bool mt__h1_eq_word(const uint8_t *s, const char *w, size_t n)
{
    const uint64_t m64 = 0x2020202020202020ULL;
    const uint32_t m32 = 0x20202020u;
    uint64_t x;
    uint32_t y;

    if (n < 8) {
        y = mt__h1_load32(w);
        if ((mt__h1_load32(s) | ((y >> 1) & m32)) != y)
            return false;
        y = mt__h1_load32(w + n - 4);
        return (mt__h1_load32(s + n - 4) | ((y >> 1) & m32)) == y;
    }
    for (size_t i = 0; i + 8 < n; i += 8) {
        x = mt__h1_load64(w + i);
        if ((mt__h1_load64(s + i) | ((x >> 1) & m64)) != x)
            return false;
    }
    x = mt__h1_load64(w + n - 8);
    return (mt__h1_load64(s + n - 8) | ((x >> 1) & m64)) == x;
}

static inline uint32_t mt__h1_sat_add(uint32_t a, size_t n)
{
    return n >= (size_t)(UINT32_MAX - a) ? UINT32_MAX : a + (uint32_t)n;
}

static inline int mt__h1_is_head_state(unsigned s)
{
    return s <= S_FOLD_OWS;
}

void mt_h1_resp_init(mt_h1_resp_t *p, unsigned flags)
{
    memset(p, 0, sizeof *p);
    p->state = S_VER;
    p->req_flags = (uint8_t)flags;
}

#define DIGIT(ch) ((unsigned)(ch) - '0' < 10u)

/* Suspend if the input (or the head's budget) is used up. */
#define NEED(st)                                                                                   \
    do {                                                                                           \
        if (pos == lim) {                                                                          \
            s = (st);                                                                              \
            goto suspend;                                                                          \
        }                                                                                          \
    } while (0)

#define FAIL(message)                                                                              \
    do {                                                                                           \
        msg = (message);                                                                           \
        goto eproto;                                                                               \
    } while (0)

int mt_h1_resp_feed(mt_h1_resp_t *p, const char *buf, size_t len, size_t *consumed)
{
    const uint8_t *const start = (const uint8_t *)buf;
    const uint8_t *const end = start + len;
    const uint8_t *pos = start;
    const uint8_t *lim = end;    /* end, or where the head/trailer limit is reached */
    const uint8_t *hstart = pos; /* where this call's part of the trailers began */
    const uint8_t *q;
    unsigned s = p->state, sub = p->sub, m = p->match, f = p->flags;
    unsigned c, l;
    int d, rc;
    size_t n;
    const char *msg = NULL;

    switch (s) {
    case S_DONE:
        rc = MT_OK;
        goto out_nothing;
    case S_EPROTO:
        rc = MT_EPROTO;
        goto out_nothing;
    case S_ETOOBIG:
        rc = MT_ETOOBIG;
        goto out_nothing;
    default:
        break;
    }

    if (mt__h1_is_head_state(s)) {
        /* In the head, offset counts head bytes only; in the trailers remaining does. */
        size_t used = (f & F_TRAILER) ? (size_t)p->remaining : p->offset;
        size_t budget = MT_H1_MAX_HEADER_BYTES - used;
        if (len > budget)
            lim = start + budget;
    }

    switch (s) {
    case S_VER:
        goto st_ver;
    case S_VER_MINOR:
        goto st_ver_minor;
    case S_VER_SP:
        goto st_ver_sp;
    case S_STATUS:
        goto st_status;
    case S_STATUS_END:
        goto st_status_end;
    case S_LINE:
        goto st_line;
    case S_NAME:
        goto st_name;
    case S_SKIP:
        goto st_skip;
    case S_LF:
        goto st_lf;
    case S_EMPTY_LF:
        goto st_empty_lf;
    case S_CL_OWS:
        goto st_cl_ows;
    case S_CL_DIGITS:
        goto st_cl_digits;
    case S_CL_TAIL:
        goto st_cl_tail;
    case S_LIST_OWS:
        goto st_list_ows;
    case S_LIST_TOK:
        goto st_list_tok;
    case S_LIST_TAIL:
        goto st_list_tail;
    case S_LIST_SKIP:
        goto st_list_skip;
    case S_FOLD_OWS:
        goto st_fold_ows;
    case S_BODY:
        goto st_body;
    case S_BODY_EOF:
        goto st_body_eof;
    case S_CHUNK_SIZE_FIRST:
        goto st_chunk_size_first;
    case S_CHUNK_SIZE:
        goto st_chunk_size;
    case S_CHUNK_SIZE_WS:
        goto st_chunk_size_ws;
    case S_CHUNK_EXT:
        goto st_chunk_ext;
    case S_CHUNK_SIZE_LF:
        goto st_chunk_size_lf;
    case S_CHUNK_DATA:
        goto st_chunk_data;
    case S_CHUNK_DATA_CR:
        goto st_chunk_data_cr;
    case S_CHUNK_DATA_LF:
        goto st_chunk_data_lf;
    default:
        FAIL("internal: bad parser state");
    }

    /* ---- status line: HTTP/1.x SSS [reason] ---- */
st_ver:
    /* Fast path: the whole "HTTP/1.x SSS" at hand (anything unusual takes the slow path,
     * which finds the precise error). */
    if (sub == 0 && lim - pos >= 12 && memcmp(pos, "HTTP/1.", 7) == 0 && DIGIT(pos[7]) &&
        pos[8] == ' ' && pos[9] != '0' && DIGIT(pos[9]) && DIGIT(pos[10]) && DIGIT(pos[11])) {
        p->version_minor = (uint8_t)(pos[7] - '0');
        p->status = (uint16_t)((pos[9] - '0') * 100 + (pos[10] - '0') * 10 + (pos[11] - '0'));
        pos += 12;
        goto st_status_end;
    }
    for (;;) {
        NEED(S_VER);
        if (*pos != (uint8_t) "HTTP/1."[sub])
            FAIL(sub < 5 ? "bad status line: expected \"HTTP/\"" : "unsupported HTTP version");
        pos++;
        if (++sub == 7)
            break;
    }
st_ver_minor:
    NEED(S_VER_MINOR);
    if (!DIGIT(*pos))
        FAIL("unsupported HTTP version");
    p->version_minor = (uint8_t)(*pos++ - '0');
st_ver_sp:
    NEED(S_VER_SP);
    if (*pos != ' ')
        FAIL("bad status line: expected a space after the version");
    pos++;
    sub = 0;
    p->status = 0;
st_status:
    for (;;) {
        NEED(S_STATUS);
        c = *pos;
        if (!DIGIT(c))
            FAIL("bad status line: status code is not 3 digits");
        p->status = (uint16_t)(p->status * 10 + (c - '0'));
        pos++;
        if (++sub == 3)
            break;
    }
    if (p->status < 100)
        FAIL("bad status line: status code below 100");
st_status_end:
    NEED(S_STATUS_END);
    c = *pos;
    if (c == ' ') {
        pos++;
        goto st_skip; /* the reason phrase */
    }
    if (c == '\r') {
        pos++;
        goto st_lf;
    }
    if (c == '\n') {
        pos++;
        goto st_line;
    }
    FAIL("bad status line: status code is not 3 digits");

    /* ---- header lines (and trailer lines) ---- */
st_line:
    NEED(S_LINE);
    c = *pos;
    if (mt__h1_tchar[c]) {
        /* Fast path: the whole name is here; compare it with a word of the same length. */
        q = pos + 1;
        while (q < lim && mt__h1_tchar[*q])
            q++;
        if (q < lim) {
            n = (size_t)(q - pos);
            m = W_NONE;
            if (!(f & F_TRAILER))
                m = n == 14 ? W_CL : n == 17 ? W_TE : n == 10 ? W_CONN : W_NONE;
            if (m != W_NONE && !mt__h1_eq_word(pos, mt__h1_word[m], n))
                m = W_NONE;
            sub = (unsigned)n;
            pos = q;
            goto name_end;
        }
        /* The name goes on in the next piece: match it a byte at a time. */
        m = W_NONE;
        if (!(f & F_TRAILER)) {
            l = mt__h1_lower(c);
            m = l == 'c' ? W_CL : l == 't' ? W_TE : W_NONE;
        }
        sub = 1;
        pos++;
        goto st_name;
    }
    if (c == '\r') {
        pos++;
        goto st_empty_lf;
    }
    if (c == '\n') {
        pos++;
        goto empty_line;
    }
    if (c == ' ' || c == '\t') {
        /* obs-fold (RFC 9112 5.2): the line continues the previous field's value, as if
         * the CRLF were a space. Only the framing fields' values matter: a folded
         * Transfer-Encoding or Connection list goes on; other fields (and whitespace right
         * after the status line, 2.2) are skipped. */
        if (!(f & F_TRAILER) && m == W_CL)
            FAIL("obs-fold in content-length");
        if (!(f & F_TRAILER) && (m == W_TE || m == W_CONN)) {
            pos++;
            goto st_fold_ows;
        }
        pos++;
        goto st_skip;
    }
    if (c == ':')
        FAIL("empty header name");
    FAIL("invalid character in header name");

st_name:
    while (m != W_NONE) {
        NEED(S_NAME);
        c = *pos;
        if (!mt__h1_tchar[c])
            goto name_end;
        l = mt__h1_lower(c);
        if (sub < mt__h1_word_len[m] && l == (uint8_t)mt__h1_word[m][sub])
            sub++;
        else if (m == W_CL && sub == 3 && l == 'n')
            m = W_CONN, sub = 4; /* "con" is shared by content-length and connection */
        else
            m = W_NONE;
        pos++;
    }
    while (pos < lim && mt__h1_tchar[*pos])
        pos++;
    NEED(S_NAME);
name_end:
    c = *pos;
    if (c == ':') {
        pos++;
        if (m == W_NONE || sub != mt__h1_word_len[m]) {
            m = W_NONE; /* an obs-fold after this line continues a value we skip */
            goto st_skip;
        }
        if (m == W_CL)
            goto st_cl_ows;
        goto st_list_ows;
    }
    if (c == '\r' || c == '\n')
        FAIL("header line without ':'");
    if (c == ' ' || c == '\t')
        FAIL("whitespace in header name");
    FAIL("invalid character in header name");

st_skip:
    q = memchr(pos, '\n', (size_t)(lim - pos));
    if (!q) {
        pos = lim;
        s = S_SKIP;
        goto suspend;
    }
    pos = q + 1;
    goto st_line;

st_lf:
    NEED(S_LF);
    if (*pos != '\n')
        FAIL("expected LF after CR");
    pos++;
    goto st_line;

st_empty_lf:
    NEED(S_EMPTY_LF);
    if (*pos != '\n')
        FAIL("expected LF after CR");
    pos++;
    goto empty_line;

    /* Content-Length: 1*DIGIT, or a list of identical values ("42, 42", RFC 9110 8.6).
     * The number being read is kept in body_bytes (still unused in the head), the accepted
     * length in remaining. */
st_cl_ows:
    for (;;) {
        NEED(S_CL_OWS);
        c = *pos;
        if (c != ' ' && c != '\t')
            break;
        pos++;
    }
    if (!DIGIT(c))
        FAIL("invalid content-length");
    p->body_bytes = c - '0';
    pos++;
st_cl_digits:
    for (;;) {
        NEED(S_CL_DIGITS);
        c = *pos;
        if (!DIGIT(c))
            break;
        c -= '0';
        if (p->body_bytes > (UINT64_MAX - c) / 10)
            FAIL("content-length too large");
        p->body_bytes = p->body_bytes * 10 + c;
        pos++;
    }
    if (c != ' ' && c != '\t')
        goto cl_end;
    pos++;
st_cl_tail:
    for (;;) {
        NEED(S_CL_TAIL);
        c = *pos;
        if (c != ' ' && c != '\t')
            break;
        pos++;
    }
cl_end:
    if (c != ',' && c != '\r' && c != '\n')
        FAIL("invalid content-length");
    if ((f & F_HAVE_CL) && p->remaining != p->body_bytes)
        FAIL("conflicting content-length values");
    f |= F_HAVE_CL;
    p->remaining = p->body_bytes;
    pos++;
    if (c == ',')
        goto st_cl_ows;
    if (c == '\r')
        goto st_lf;
    goto st_line;

    /* Transfer-Encoding and Connection: comma-separated lists. An element counts when,
     * without surrounding whitespace, it is "chunked" / "close" or "keep-alive" (any case).
     * m is the header between elements, the wanted word within one. */
st_list_ows:
    for (;;) {
        NEED(S_LIST_OWS);
        c = *pos;
        if (c != ' ' && c != '\t' && c != ',')
            break;
        pos++;
    }
    if (c == '\r' || c == '\n') {
        f &= ~F_FOLD_ELEM;
        goto list_eol_between;
    }
    l = mt__h1_lower(c);
    if (m == W_TE) {
        /* Only the last coding counts: chunked must be final (RFC 9112 6.3). */
        f = (f | F_HAVE_TE) & ~F_CHUNKED;
        if (l != 'c')
            goto st_list_skip;
        m = W_CHUNKED;
    } else if (l == 'c') {
        m = W_CLOSE;
    } else if (l == 'k') {
        m = W_KEEP_ALIVE;
    } else {
        goto st_list_skip;
    }
    sub = mt__h1_word_len[m];
    if ((size_t)(lim - pos) >= sub) {
        /* Fast path: the word is here (or it is not the word). */
        if (!mt__h1_eq_word(pos, mt__h1_word[m], sub))
            goto list_no_match;
        pos += sub;
        goto st_list_tok;
    }
    sub = 0;
st_list_tok:
    for (;;) {
        NEED(S_LIST_TOK);
        c = *pos;
        if (c == ',' || c == '\r' || c == '\n')
            goto list_tok_end;
        if (c == ' ' || c == '\t')
            break;
        if (sub >= mt__h1_word_len[m] || mt__h1_lower(c) != (uint8_t)mt__h1_word[m][sub])
            goto list_no_match;
        sub++;
        pos++;
    }
    if (sub != mt__h1_word_len[m])
        goto list_no_match;
    pos++;
st_list_tail: /* whitespace after the whole word: the element must end here */
    for (;;) {
        NEED(S_LIST_TAIL);
        c = *pos;
        if (c != ' ' && c != '\t')
            break;
        pos++;
    }
    if (c != ',' && c != '\r' && c != '\n')
        goto list_no_match;
list_tok_end:
    if (sub == mt__h1_word_len[m])
        f |= m == W_CHUNKED ? F_CHUNKED : m == W_CLOSE ? F_CONN_CLOSE : F_CONN_KEEP_ALIVE;
    m = m == W_CHUNKED ? W_TE : W_CONN;
    if (c == '\r' || c == '\n')
        goto list_eol;
    pos++;
    goto st_list_ows;
list_no_match:
    m = m == W_CHUNKED ? W_TE : W_CONN;
st_list_skip:
    for (;;) {
        NEED(S_LIST_SKIP);
        c = *pos;
        if (c == ',' || c == '\r' || c == '\n')
            break;
        pos++;
    }
    if (c == ',') {
        pos++;
        goto st_list_ows;
    }
list_eol:
    f |= F_FOLD_ELEM;
list_eol_between:
    pos++;
    if (c == '\r')
        goto st_lf;
    goto st_line;

    /* A folded continuation of a list line: whitespace, then more of the list. If the line
     * before ended inside an element, text here extends that element ("chunked" + fold +
     * "x" is the single element "chunked x", which is not chunked); a ',' or the end of the
     * line leaves it whole. (A Connection element extended this way keeps the flag it set:
     * only reuse depends on it, never framing.) */
st_fold_ows:
    for (;;) {
        NEED(S_FOLD_OWS);
        c = *pos;
        if (c != ' ' && c != '\t')
            break;
        pos++;
    }
    if (c == ',' || c == '\r' || c == '\n' || !(f & F_FOLD_ELEM))
        goto st_list_ows;
    if (m == W_TE)
        f &= ~F_CHUNKED;
    goto st_list_skip;

    /* ---- the empty line: end of a head (or of the trailers) ---- */
empty_line:
    if (f & F_TRAILER)
        goto done;
    if (p->status < 200 && p->status != 101) {
        /* Interim response (100 Continue, 103 Early Hints): the final one follows. Its
         * bytes stay counted in offset, so a stream of 1xx heads hits the limit. */
        f = 0;
        sub = 0;
        m = W_NONE;
        p->remaining = 0;
        p->body_bytes = 0;
        p->status = 0;
        goto st_ver;
    }
    p->head_done = 1;
    p->body_bytes = 0;
    lim = end;
    if (p->status == 101) {
        f |= F_NO_REUSE; /* the connection now speaks another protocol */
        goto done;
    }
    /* Transfer-Encoding in an HTTP/1.0 response, or together with Content-Length: faulty
     * framing (RFC 9112 6.1, 6.3): the body is read as Transfer-Encoding says, then the
     * connection is closed. */
    if ((f & F_HAVE_TE) && (p->version_minor == 0 || (f & F_HAVE_CL)))
        f |= F_NO_REUSE;
    if ((p->req_flags & MT_H1_NO_BODY) || p->status == 204 || p->status == 304)
        goto done;
    if (f & F_CHUNKED) {
        p->remaining = 0;
        goto st_chunk_size_first;
    }
    if ((f & (F_HAVE_CL | F_HAVE_TE)) == F_HAVE_CL) {
        if (p->remaining == 0)
            goto done;
        goto st_body;
    }
    /* Neither a length nor chunked as the final coding: the body runs until close. */
    f |= F_NO_REUSE;
    goto st_body_eof;

    /* ---- bodies ---- */
st_body:
    n = (size_t)(end - pos);
    if (n < p->remaining) {
        p->remaining -= n;
        p->body_bytes += n;
        pos = end;
        s = S_BODY;
        goto suspend;
    }
    pos += p->remaining;
    p->body_bytes += p->remaining;
    p->remaining = 0;
    goto done;

st_body_eof:
    p->body_bytes += (size_t)(end - pos);
    pos = end;
    s = S_BODY_EOF;
    goto suspend;

    /* chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; the size is read into
     * remaining. */
st_chunk_size_first:
    NEED(S_CHUNK_SIZE_FIRST);
    d = mt__h1_hex(*pos);
    if (d < 0)
        FAIL("invalid chunk size");
    p->remaining = (uint64_t)d;
    pos++;
st_chunk_size:
    for (;;) {
        NEED(S_CHUNK_SIZE);
        c = *pos;
        d = mt__h1_hex(c);
        if (d < 0)
            break;
        if (p->remaining >> 60)
            FAIL("chunk size too large");
        p->remaining = p->remaining << 4 | (uint64_t)d;
        pos++;
    }
    if (c != ' ' && c != '\t')
        goto chunk_size_delim;
    pos++;
st_chunk_size_ws:
    for (;;) {
        NEED(S_CHUNK_SIZE_WS);
        c = *pos;
        if (c != ' ' && c != '\t')
            break;
        pos++;
    }
chunk_size_delim:
    pos++;
    if (c == ';')
        goto st_chunk_ext;
    if (c == '\r')
        goto st_chunk_size_lf;
    if (c == '\n')
        goto chunk_size_done;
    pos--;
    FAIL("invalid chunk size");
st_chunk_ext:
    q = memchr(pos, '\n', (size_t)(end - pos));
    if (!q) {
        pos = end;
        s = S_CHUNK_EXT;
        goto suspend;
    }
    pos = q + 1;
    goto chunk_size_done;
st_chunk_size_lf:
    NEED(S_CHUNK_SIZE_LF);
    if (*pos != '\n')
        FAIL("expected LF after chunk size");
    pos++;
chunk_size_done:
    if (p->remaining == 0) {
        /* Last chunk: trailer lines up to an empty line, under their own limit. remaining
         * now counts trailer bytes of earlier calls. */
        f |= F_TRAILER;
        m = W_NONE;
        hstart = pos;
        if ((size_t)(end - pos) > MT_H1_MAX_HEADER_BYTES)
            lim = pos + MT_H1_MAX_HEADER_BYTES;
        goto st_line;
    }
st_chunk_data:
    n = (size_t)(end - pos);
    if (n < p->remaining) {
        p->remaining -= n;
        p->body_bytes += n;
        pos = end;
        s = S_CHUNK_DATA;
        goto suspend;
    }
    pos += p->remaining;
    p->body_bytes += p->remaining;
    p->remaining = 0;
st_chunk_data_cr:
    NEED(S_CHUNK_DATA_CR);
    c = *pos;
    if (c == '\n') {
        pos++;
        goto st_chunk_size_first;
    }
    if (c != '\r')
        FAIL("missing CRLF after chunk data");
    pos++;
st_chunk_data_lf:
    NEED(S_CHUNK_DATA_LF);
    if (*pos != '\n')
        FAIL("missing CRLF after chunk data");
    pos++;
    goto st_chunk_size_first;

    /* ---- exits ---- */
suspend:
    if (pos != end) {
        /* Stopped at the head or trailer limit with input left over. */
        msg = (f & F_TRAILER) ? "trailers too large" : "response head too large";
        rc = MT_ETOOBIG;
        goto fail;
    }
    if ((f & F_TRAILER) && mt__h1_is_head_state(s))
        p->remaining += (size_t)(end - hstart);
    rc = MT_EAGAIN;
    goto out;

done:
    s = S_DONE;
    rc = MT_OK;
    goto out;

eproto:
    rc = MT_EPROTO;
fail:
    s = rc == MT_EPROTO ? S_EPROTO : S_ETOOBIG;
    p->err_msg = msg;
    p->err_offset = mt__h1_sat_add(p->offset, (size_t)(pos - start));
out:
    p->state = (uint8_t)s;
    p->sub = (uint8_t)sub;
    p->match = (uint8_t)m;
    p->flags = (uint8_t)f;
    p->offset = mt__h1_sat_add(p->offset, (size_t)(pos - start));
    *consumed = (size_t)(pos - start);
    return rc;

out_nothing:
    *consumed = 0;
    return rc;
}

#undef DIGIT
#undef NEED
#undef FAIL

int mt_h1_resp_eof(mt_h1_resp_t *p)
{
    switch (p->state) {
    case S_BODY_EOF:
        p->state = S_DONE;
        return MT_OK;
    case S_DONE:
        return MT_OK;
    case S_EPROTO:
    case S_ETOOBIG:
        return MT_EEOF; /* keep the first error's message */
    default:
        if (p->offset == 0)
            p->err_msg = "connection closed before the response";
        else if (!p->head_done)
            p->err_msg = "connection closed in the response head";
        else
            p->err_msg = "connection closed in the response body";
        p->err_offset = p->offset;
        return MT_EEOF;
    }
}

bool mt_h1_resp_final_started(const mt_h1_resp_t *p)
{
    return p->status >= 200 || p->status == 101;
}

bool mt_h1_resp_keep_alive(const mt_h1_resp_t *p)
{
    if (p->state != S_DONE || (p->flags & (F_NO_REUSE | F_CONN_CLOSE)))
        return false;
    return p->version_minor >= 1 || (p->flags & F_CONN_KEEP_ALIVE);
}
