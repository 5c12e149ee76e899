/* Yandex.Tank ammo -> pre-serialised requests. One pass over the input; request bytes go to
 * one growing arena (offsets while parsing, pointers once it stops moving). Semantics and
 * where they differ from Tank: docs/adr/0007-ammo.md. */
#include "mortar/ammo.h"
#include "mortar/http1.h"
#include "proto/text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define AMMO_TAG_SLOTS 128 /* open-addressing table for tag names (> 2 x MT_MAX_TAGS) */
#define AMMO_HTTP11    " HTTP/1.1\r\n"

typedef struct ammo_hdr {
    const char *name, *value; /* slices of the input or of the options */
    size_t nlen, vlen;
} ammo_hdr_t;

typedef struct ammo_parser {
    const char *p, *end; /* unread input */
    const char *ls;      /* start of the line being parsed (columns count from here) */
    size_t line;         /* number of that line */
    size_t next_line;    /* number of the line p is in */
    mt_parse_err_t *err;
    mt_ammo_type_t type;
    size_t max_requests, max_bytes;
    const char *borrow; /* phantom: requests are slices of this buffer, not copies */

    char *arena; /* request bytes */
    size_t alen, acap;
    size_t mapped;      /* > 0: arena is an mmap of this many bytes (see arena_map) */
    mt_request_t *reqs; /* .data holds an offset into arena (or borrow) until the end */
    size_t nreqs, rcap;
    size_t bytes;

    char tagname[MT_MAX_TAGS][MT_AMMO_MAX_TAG + 1];
    uint8_t taglen[MT_MAX_TAGS];
    uint8_t tagslot[AMMO_TAG_SLOTS]; /* 0: empty, else an index into tagname */
    size_t ntags;

    ammo_hdr_t hdr[MT_AMMO_MAX_HEADERS]; /* headers in force, in order of first definition */
    size_t nhdr;
    char *blk; /* "Name: value\r\n"... for hdr[], rebuilt when dirty */
    size_t blen, bcap;
    bool blk_dirty, has_host;

    size_t skipped, malformed, nwarnings;
    mt_parse_err_t warning;
} ammo_parser_t;

/* ---- small helpers ------------------------------------------------------------------- */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool ci_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

static bool ci_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && ci_eq(s, n, prefix, n);
}

static int clamp_int(size_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && is_ws(**s))
        (*s)++;
    while (*e > *s && is_ws((*e)[-1]))
        (*e)--;
}

/* Next white-space separated field of [*s, e) into [*fs, *fe); false when none is left. */
static bool next_field(const char **s, const char *e, const char **fs, const char **fe)
{
    const char *p = *s;
    while (p < e && is_ws(*p))
        p++;
    if (p == e)
        return false;
    *fs = p;
    while (p < e && !is_ws(*p))
        p++;
    *fe = p;
    *s = p;
    return true;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- errors and warnings ------------------------------------------------------------- */

static int ammo_fail(ammo_parser_t *ps, const char *at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Error at `at` (a position in the current line, or NULL for no column). */
static int ammo_fail(ammo_parser_t *ps, const char *at, int rc, const char *fmt, ...)
{
    va_list ap;
    int col = at && ps->ls && at >= ps->ls ? clamp_int((size_t)(at - ps->ls) + 1) : 0;
    va_start(ap, fmt);
    mt__perr_vset(ps->err, col, rc, fmt, ap);
    va_end(ap);
    if (ps->err)
        ps->err->line = clamp_int(ps->line);
    return rc;
}

static void ammo_warn(ammo_parser_t *ps, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ammo_warn(ammo_parser_t *ps, size_t line, const char *fmt, ...)
{
    va_list ap;
    if (ps->nwarnings++ > 0)
        return;
    va_start(ap, fmt);
    mt__perr_vset(&ps->warning, 0, 0, fmt, ap);
    va_end(ap);
    ps->warning.line = clamp_int(line);
}

/* ---- input lines --------------------------------------------------------------------- */

/* Takes the next line into [*s, *e) (without its LF), sets ps->line and ps->ls. Returns 1,
 * 0 at the end of the input, or MT_ETOOBIG for an over-long line. */
static int take_line(ammo_parser_t *ps, const char **s, const char **e)
{
    size_t left = (size_t)(ps->end - ps->p);
    const char *nl;
    if (left == 0)
        return 0;
    nl = memchr(ps->p, '\n', left > MT_AMMO_MAX_LINE ? MT_AMMO_MAX_LINE + 1 : left);
    ps->ls = ps->p;
    ps->line = ps->next_line;
    if (!nl && left > MT_AMMO_MAX_LINE)
        return ammo_fail(ps, NULL, MT_ETOOBIG, "line is longer than %d bytes", MT_AMMO_MAX_LINE);
    *s = ps->p;
    *e = nl ? nl : ps->end;
    ps->p = nl ? nl + 1 : ps->end;
    if (nl)
        ps->next_line++;
    return 1;
}

static size_t count_lf(const char *s, size_t n)
{
    size_t c = 0;
    const char *e = s + n, *q;
    while (s < e && (q = memchr(s, '\n', (size_t)(e - s))) != NULL) {
        c++;
        s = q + 1;
    }
    return c;
}

/* After `n` bytes of body/request were taken from ps->p: skips them (counting lines) and,
 * unless they ended a line, the rest of their last line, which must be blank.
 * what/size_line describe the length field for the error. */
static int skip_body(ammo_parser_t *ps, size_t n, const char *what, size_t size_line)
{
    const char *b = ps->p, *q;
    ps->next_line += count_lf(b, n);
    ps->p += n;
    if (n == 0 || b[n - 1] == '\n')
        return MT_OK;
    for (q = ps->p; q < ps->end && *q != '\n' && is_ws(*q); q++)
        ;
    if (q < ps->end && *q != '\n') {
        /* the body starts a line (it follows the length line), so its last line starts at
         * its last LF or at its start */
        const char *ls = b + n;
        while (ls > b && ls[-1] != '\n')
            ls--;
        ps->ls = ls;
        ps->line = ps->next_line;
        return ammo_fail(ps, q, MT_EPARSE,
                         "%s %zu on line %zu ends in the middle of a line: is the length right?",
                         what, n, size_line);
    }
    if (q < ps->end) {
        ps->p = q + 1;
        ps->next_line++;
    } else {
        ps->p = q;
    }
    return MT_OK;
}

/* Parses a decimal length field [s, e). */
static int parse_size(ammo_parser_t *ps, const char *s, const char *e, const char *what,
                      const char *expect, size_t *out)
{
    size_t v = 0;
    char q[48];
    if (s == e || *s < '0' || *s > '9') {
        mt__quote(q, sizeof(q), s, (size_t)(e - s));
        return ammo_fail(ps, s, MT_EPARSE, "bad %s '%s': expected \"%s\"", what, q, expect);
    }
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9') {
            mt__quote(q, sizeof(q), s, (size_t)(e - s));
            return ammo_fail(ps, p, MT_EPARSE, "bad %s '%s': expected \"%s\"", what, q, expect);
        }
        if (v > (SIZE_MAX - 9) / 10 || v * 10 + (size_t)(*p - '0') > MT_AMMO_MAX_REQUEST)
            return ammo_fail(ps, s, MT_ETOOBIG, "%s is more than %d bytes", what,
                             MT_AMMO_MAX_REQUEST);
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return MT_OK;
}

/* ---- output -------------------------------------------------------------------------- */

/* For big inputs the arena is one reservation of max_bytes of address space that never
 * moves, with transparent huge pages: page faults on fresh memory are otherwise most of the
 * cost of a big file (1M uri requests: 128 MB, 32k faults; 0.5 s -> under 0.2 s here). Pages
 * are only backed when written; the unused tail is unmapped at the end. Small inputs (and so
 * the fuzzer) use malloc, where ASan sees overruns. */
#define AMMO_MAP_MIN (4 * 1024 * 1024)

static void arena_map(ammo_parser_t *ps)
{
    void *m = mmap(NULL, ps->max_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return; /* e.g. strict overcommit: the malloc path works too */
#ifdef MADV_HUGEPAGE
    (void)madvise(m, ps->max_bytes, MADV_HUGEPAGE); /* only advice */
#endif
    ps->arena = m;
    ps->acap = ps->mapped = ps->max_bytes;
}

/* Room for n more bytes at *w in the arena (max_bytes in all). */
static int arena_reserve(ammo_parser_t *ps, size_t n, const char *at, char **w)
{
    if (n > ps->max_bytes - ps->alen)
        return ammo_fail(ps, at, MT_ETOOBIG, "requests take more than %zu bytes", ps->max_bytes);
    if (n > ps->acap - ps->alen) {
        size_t cap = ps->acap ? ps->acap : 64 * 1024;
        char *na;
        while (cap - ps->alen < n)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (cap > ps->max_bytes)
            cap = ps->max_bytes;
        na = realloc(ps->arena, cap);
        if (!na)
            return ammo_fail(ps, NULL, MT_ENOMEM, "out of memory (%zu bytes of requests)", cap);
        ps->arena = na;
        ps->acap = cap;
    }
    *w = ps->arena + ps->alen;
    return MT_OK;
}

static int push_req(ammo_parser_t *ps, size_t off, size_t len, uint16_t tag, unsigned flags)
{
    if (ps->nreqs == ps->rcap) {
        size_t cap = ps->rcap ? ps->rcap * 2 : 1024;
        mt_request_t *nr;
        if (cap > ps->max_requests)
            cap = ps->max_requests;
        nr = realloc(ps->reqs, cap * sizeof(*nr));
        if (!nr)
            return ammo_fail(ps, NULL, MT_ENOMEM, "out of memory (%zu requests)", cap);
        ps->reqs = nr;
        ps->rcap = cap;
    }
    /* an offset for now: the arena may still move (see finish) */
    ps->reqs[ps->nreqs].data = (const char *)(uintptr_t)off;
    ps->reqs[ps->nreqs].len = len;
    ps->reqs[ps->nreqs].tag = tag;
    ps->reqs[ps->nreqs].parse_flags = flags;
    ps->nreqs++;
    ps->bytes += len;
    return MT_OK;
}

static int check_count(ammo_parser_t *ps)
{
    if (ps->nreqs >= ps->max_requests)
        return ammo_fail(ps, NULL, MT_ETOOBIG, "more than %zu requests", ps->max_requests);
    return MT_OK;
}

/* ---- tags ---------------------------------------------------------------------------- */

static int tag_index(ammo_parser_t *ps, const char *t, size_t n, uint16_t *out)
{
    uint32_t h = 2166136261u;
    size_t slot;
    char q[48];

    *out = 0;
    if (n == 0)
        return MT_OK;
    if (n > MT_AMMO_MAX_TAG) {
        mt__quote(q, sizeof(q), t, n);
        return ammo_fail(ps, t, MT_ETOOBIG, "tag '%s' is longer than %d bytes", q, MT_AMMO_MAX_TAG);
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)t[i]) * 16777619u;
    for (slot = h % AMMO_TAG_SLOTS; ps->tagslot[slot]; slot = (slot + 1) % AMMO_TAG_SLOTS) {
        uint8_t k = ps->tagslot[slot];
        if (ps->taglen[k] == n && memcmp(ps->tagname[k], t, n) == 0) {
            *out = k;
            return MT_OK;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f)
            return ammo_fail(ps, t + i, MT_EPARSE, "bad byte 0x%02x in tag", c);
    }
    if (!utf8_valid((const unsigned char *)t, n))
        return ammo_fail(ps, t, MT_EPARSE, "tag is not valid UTF-8");
    if (ps->ntags == MT_MAX_TAGS) {
        mt__quote(q, sizeof(q), t, n);
        return ammo_fail(ps, t, MT_ETOOBIG, "more than %d distinct tags (tag '%s')",
                         MT_MAX_TAGS - 1, q);
    }
    memcpy(ps->tagname[ps->ntags], t, n);
    ps->tagname[ps->ntags][n] = '\0';
    ps->taglen[ps->ntags] = (uint8_t)n;
    ps->tagslot[slot] = (uint8_t)ps->ntags;
    *out = (uint16_t)ps->ntags++;
    return MT_OK;
}

/* ---- headers (uri, uripost, access) -------------------------------------------------- */

static int hdr_set(ammo_parser_t *ps, const char *name, size_t nlen, const char *value, size_t vlen,
                   const char *at)
{
    size_t i;
    for (i = 0; i < ps->nhdr; i++)
        if (ci_eq(ps->hdr[i].name, ps->hdr[i].nlen, name, nlen))
            break;
    if (i == ps->nhdr) {
        if (ps->nhdr == MT_AMMO_MAX_HEADERS)
            return ammo_fail(ps, at, MT_ETOOBIG, "more than %d headers", MT_AMMO_MAX_HEADERS);
        ps->nhdr++;
    }
    ps->hdr[i] = (ammo_hdr_t){.name = name, .nlen = nlen, .value = value, .vlen = vlen};
    ps->blk_dirty = true;
    return MT_OK;
}

/* "Name: value" in [s, e) (brackets already removed, white space trimmed). */
static int hdr_parse(ammo_parser_t *ps, const char *s, const char *e, int rc)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    const char *ne, *vs, *ve;
    if (!colon)
        return ammo_fail(ps, s, rc, "header line without ':'");
    ne = colon;
    while (ne > s && is_ws(ne[-1]))
        ne--;
    if (ne == s)
        return ammo_fail(ps, s, rc, "empty header name");
    for (const char *p = s; p < ne; p++) {
        unsigned char c = (unsigned char)*p;
        if (is_tchar(c))
            continue;
        if (c == ' ' || c == '\t')
            return ammo_fail(ps, p, rc, "white space in header name");
        if (c > 0x20 && c < 0x7f)
            return ammo_fail(ps, p, rc, "bad character '%c' in header name", c);
        return ammo_fail(ps, p, rc, "bad byte 0x%02x in header name", c);
    }
    vs = colon + 1;
    ve = e;
    trim(&vs, &ve);
    for (const char *p = vs; p < ve; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return ammo_fail(ps, p, rc, "bad byte 0x%02x in header value", c);
    }
    if (ci_eq(s, (size_t)(ne - s), "Content-Length", 14))
        return ammo_fail(ps, s, rc,
                         "Content-Length cannot be set: mortar computes it from the body");
    if (ci_eq(s, (size_t)(ne - s), "Transfer-Encoding", 17))
        return ammo_fail(ps, s, rc, "Transfer-Encoding cannot be set: bodies are sent whole");
    return hdr_set(ps, s, (size_t)(ne - s), vs, (size_t)(ve - vs), s);
}

/* A "[Name: value]" line; [s, e) is trimmed and starts with '['. */
static int hdr_line(ammo_parser_t *ps, const char *s, const char *e)
{
    const char *is = s + 1, *ie;
    if (e - s < 2 || e[-1] != ']')
        return ammo_fail(ps, e, MT_EPARSE, "header line without closing ']'");
    ie = e - 1;
    trim(&is, &ie);
    return hdr_parse(ps, is, ie, MT_EPARSE);
}

static int blk_build(ammo_parser_t *ps, const char *at)
{
    size_t n = 0, i;
    char *w;
    ps->has_host = false;
    for (i = 0; i < ps->nhdr; i++) {
        n += ps->hdr[i].nlen + 1 + (ps->hdr[i].vlen ? 1 + ps->hdr[i].vlen : 0) + 2;
        if (ci_eq(ps->hdr[i].name, ps->hdr[i].nlen, "Host", 4))
            ps->has_host = true;
    }
    if (n > MT_AMMO_MAX_HEAD)
        return ammo_fail(ps, at, MT_ETOOBIG, "headers take more than %d bytes", MT_AMMO_MAX_HEAD);
    if (n > ps->bcap) {
        char *nb = realloc(ps->blk, n);
        if (!nb)
            return ammo_fail(ps, NULL, MT_ENOMEM, "out of memory");
        ps->blk = nb;
        ps->bcap = n;
    }
    w = ps->blk;
    for (i = 0; i < ps->nhdr; i++) {
        const ammo_hdr_t *h = &ps->hdr[i];
        memcpy(w, h->name, h->nlen);
        w += h->nlen;
        *w++ = ':';
        if (h->vlen) {
            *w++ = ' ';
            memcpy(w, h->value, h->vlen);
            w += h->vlen;
        }
        *w++ = '\r';
        *w++ = '\n';
    }
    ps->blen = n;
    ps->blk_dirty = false;
    return MT_OK;
}

/* Applies o->host, o->user_agent and o->headers (errors: line 0, MT_EINVAL). */
static int opts_headers(ammo_parser_t *ps, const mt_ammo_opts_t *o)
{
    char q[48];
    int rc;
    if (!o)
        return MT_OK;
    if (o->host) {
        for (const char *p = o->host; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                mt__quote(q, sizeof(q), o->host, strlen(o->host));
                return ammo_fail(ps, NULL, MT_EINVAL, "bad byte 0x%02x in host '%s'",
                                 (unsigned char)*p, q);
            }
        if (!*o->host)
            return ammo_fail(ps, NULL, MT_EINVAL, "empty host");
        if ((rc = hdr_set(ps, "Host", 4, o->host, strlen(o->host), NULL)) != MT_OK)
            return rc;
    }
    if (o->user_agent && *o->user_agent) {
        const char *s = o->user_agent, *e = s + strlen(s);
        for (const char *p = s; p < e; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return ammo_fail(ps, NULL, MT_EINVAL, "bad byte 0x%02x in the user agent",
                                 (unsigned char)*p);
        if ((rc = hdr_set(ps, "User-Agent", 10, s, (size_t)(e - s), NULL)) != MT_OK)
            return rc;
    }
    for (size_t i = 0; i < o->nheaders; i++) {
        const char *s = o->headers[i], *e;
        if (!s)
            return ammo_fail(ps, NULL, MT_EINVAL, "header %zu is NULL", i + 1);
        e = s + strlen(s);
        ps->ls = s;
        trim(&s, &e);
        if ((rc = hdr_parse(ps, s, e, MT_EINVAL)) != MT_OK) {
            char msg[sizeof(ps->err->msg) + sizeof(q) + 16];
            if (ps->err) {
                mt__quote(q, sizeof(q), o->headers[i], strlen(o->headers[i]));
                snprintf(msg, sizeof(msg), "header '%s': %s", q, ps->err->msg);
                msg[sizeof(ps->err->msg) - 1] = '\0'; /* cut to fit */
                memcpy(ps->err->msg, msg, sizeof(ps->err->msg));
            }
            return rc;
        }
    }
    ps->ls = NULL;
    return MT_OK;
}

/* ---- requests ------------------------------------------------------------------------ */

/* Checks a request-target: origin-form ("/...") or absolute-form ("http(s)://..."). Returns
 * NULL when fine, else the offending position (or s for a bad start) and *why. */
static const char *uri_check(const char *s, const char *e, const char **why)
{
    size_t n = (size_t)(e - s);
    if (!(n > 0 && s[0] == '/') && !ci_prefix(s, n, "http://") && !ci_prefix(s, n, "https://")) {
        *why = "start";
        return s;
    }
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f) {
            *why = "byte";
            return p;
        }
    }
    return NULL;
}

/* "<method> <uri> HTTP/1.1" + headers in force (+ Content-Length + body). */
static int emit_http(ammo_parser_t *ps, bool post, const char *uri, size_t ulen, const char *body,
                     size_t blen, uint16_t tag)
{
    char cl[48];
    int cln = 0, rc;
    size_t mlen = post ? 4 : 3, n, off = ps->alen;
    char *w;

    if ((rc = check_count(ps)) != MT_OK)
        return rc;
    if (ps->blk_dirty && (rc = blk_build(ps, uri)) != MT_OK)
        return rc;
    if (!ps->has_host)
        return ammo_fail(
            ps, uri, MT_EPARSE,
            "no Host header for this request: add a [Host: name] line or give the host");
    if (post)
        cln = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", blen);
    n = mlen + 1 + ulen + (sizeof(AMMO_HTTP11) - 1) + ps->blen + (size_t)cln + 2 + blen;
    if ((rc = arena_reserve(ps, n, uri, &w)) != MT_OK)
        return rc;
    memcpy(w, post ? "POST " : "GET ", mlen + 1);
    w += mlen + 1;
    memcpy(w, uri, ulen);
    w += ulen;
    memcpy(w, AMMO_HTTP11, sizeof(AMMO_HTTP11) - 1);
    w += sizeof(AMMO_HTTP11) - 1;
    memcpy(w, ps->blk, ps->blen);
    w += ps->blen;
    memcpy(w, cl, (size_t)cln);
    w += cln;
    *w++ = '\r';
    *w++ = '\n';
    if (blen)
        memcpy(w, body, blen);
    ps->alen += n;
    return push_req(ps, off, n, tag, 0);
}

/* A URI field (and what follows it) for uri/uripost; reports errors at the field. */
static int uri_field(ammo_parser_t *ps, const char *s, const char *e)
{
    const char *why = NULL, *bad = uri_check(s, e, &why);
    char q[48];
    if (!bad)
        return MT_OK;
    if (why[0] == 's') {
        mt__quote(q, sizeof(q), s, (size_t)(e - s));
        return ammo_fail(ps, s, MT_EPARSE, "URI '%s' does not start with '/'", q);
    }
    return ammo_fail(ps, bad, MT_EPARSE, "bad byte 0x%02x in URI", (unsigned char)*bad);
}

static int no_more_fields(ammo_parser_t *ps, const char *s, const char *e)
{
    const char *fs, *fe;
    char q[48];
    if (!next_field(&s, e, &fs, &fe))
        return MT_OK;
    mt__quote(q, sizeof(q), fs, (size_t)(e - fs));
    return ammo_fail(ps, fs, MT_EPARSE,
                     "unexpected '%s' after the tag (a URI cannot contain white space: use %%20)",
                     q);
}

/* ---- formats ------------------------------------------------------------------------- */

static int parse_uri(ammo_parser_t *ps)
{
    const char *s, *e, *us, *ue, *ts, *te;
    uint16_t tag;
    int rc;

    while ((rc = take_line(ps, &s, &e)) == 1) {
        trim(&s, &e);
        if (s == e || *s == '#')
            continue;
        if (*s == '[') {
            if ((rc = hdr_line(ps, s, e)) != MT_OK)
                return rc;
            continue;
        }
        next_field(&s, e, &us, &ue);
        if ((rc = uri_field(ps, us, ue)) != MT_OK)
            return rc;
        ts = te = NULL;
        next_field(&s, e, &ts, &te);
        if ((rc = no_more_fields(ps, s, e)) != MT_OK ||
            (rc = tag_index(ps, ts, ts ? (size_t)(te - ts) : 0, &tag)) != MT_OK ||
            (rc = emit_http(ps, false, us, (size_t)(ue - us), NULL, 0, tag)) != MT_OK)
            return rc;
    }
    return rc;
}

static int parse_uripost(ammo_parser_t *ps)
{
    static const char expect[] = "<body length> <URI> [tag]";
    const char *s, *e, *fs, *fe, *us, *ue, *ts, *te, *body;
    size_t size, line;
    uint16_t tag;
    int rc;

    while ((rc = take_line(ps, &s, &e)) == 1) {
        trim(&s, &e);
        if (s == e || *s == '#')
            continue;
        if (*s == '[') {
            if ((rc = hdr_line(ps, s, e)) != MT_OK)
                return rc;
            continue;
        }
        next_field(&s, e, &fs, &fe);
        if ((rc = parse_size(ps, fs, fe, "body length", expect, &size)) != MT_OK)
            return rc;
        if (!next_field(&s, e, &us, &ue))
            return ammo_fail(ps, fe, MT_EPARSE, "no URI after the body length: expected \"%s\"",
                             expect);
        if ((rc = uri_field(ps, us, ue)) != MT_OK)
            return rc;
        ts = te = NULL;
        next_field(&s, e, &ts, &te);
        if ((rc = no_more_fields(ps, s, e)) != MT_OK ||
            (rc = tag_index(ps, ts, ts ? (size_t)(te - ts) : 0, &tag)) != MT_OK)
            return rc;
        if (size > (size_t)(ps->end - ps->p))
            return ammo_fail(ps, fs, MT_EPARSE,
                             "body length %zu runs past the end of the file (%zu bytes left)", size,
                             (size_t)(ps->end - ps->p));
        body = ps->p;
        line = ps->line;
        if ((rc = emit_http(ps, true, us, (size_t)(ue - us), body, size, tag)) != MT_OK ||
            (rc = skip_body(ps, size, "body length", line)) != MT_OK)
            return rc;
    }
    return rc;
}

/* Position of the end of the head (just after its empty line) in d[0..n), or 0. */
static size_t head_end(const char *d, size_t n)
{
    const char *p = d, *e = d + n, *q;
    while ((q = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        if (q + 1 < e && q[1] == '\n')
            return (size_t)(q + 2 - d);
        if (q + 2 < e && q[1] == '\r' && q[2] == '\n')
            return (size_t)(q + 3 - d);
        p = q + 1;
    }
    return 0;
}

/* Looks at a raw request: HEAD -> MT_H1_NO_BODY; warns when its size looks wrong (Tank
 * sends such requests as they are, and so does mortar). */
static unsigned raw_check(ammo_parser_t *ps, const char *d, size_t n, size_t line)
{
    unsigned flags = 0;
    size_t he, body, i;
    bool has_cl = false, has_te = false, cl_bad = false;
    uint64_t cl = 0;

    if (n >= 5 && memcmp(d, "HEAD ", 5) == 0)
        flags |= MT_H1_NO_BODY;
    he = head_end(d, n);
    if (he == 0) {
        ammo_warn(ps, line,
                  "the request of %zu bytes has no empty line ending its head: is the size "
                  "right?",
                  n);
        return flags;
    }
    /* header lines: after the request line, up to the empty line */
    for (i = 0; i < he;) {
        const char *l = d + i, *nl = memchr(l, '\n', he - i);
        size_t ll = (size_t)(nl - l);
        i += ll + 1;
        if (l == d)
            continue;
        if (ci_prefix(l, ll, "content-length:")) {
            const char *v = l + 15, *ve = l + ll;
            trim(&v, &ve);
            has_cl = true;
            cl = 0;
            cl_bad = v == ve;
            for (; v < ve; v++) {
                if (*v < '0' || *v > '9' || cl > UINT64_MAX / 16) {
                    cl_bad = true;
                    break;
                }
                cl = cl * 10 + (uint64_t)(*v - '0');
            }
        } else if (ci_prefix(l, ll, "transfer-encoding:")) {
            has_te = true;
        }
    }
    body = n - he;
    if (has_te || (flags & MT_H1_NO_BODY))
        return flags;
    if (has_cl && !cl_bad) {
        /* a line end after the body is common (Tank's own test ammo has one): allow it */
        size_t extra = body > cl ? body - (size_t)cl : 0;
        bool eol = (extra == 1 && d[n - 1] == '\n') ||
                   (extra == 2 && d[n - 2] == '\r' && d[n - 1] == '\n');
        if (cl != body && !eol)
            ammo_warn(ps, line,
                      "Content-Length is %llu but %zu bytes follow the head: is the size right?",
                      (unsigned long long)cl, body);
    } else if (!has_cl && body > 2) {
        ammo_warn(
            ps, line,
            "%zu bytes follow the head of a request without Content-Length: is the size right?",
            body);
    }
    return flags;
}

static int parse_phantom(ammo_parser_t *ps)
{
    static const char expect[] = "<size> [tag]";
    const char *s, *e, *fs, *fe, *ts, *te, *d;
    size_t size, line;
    uint16_t tag;
    unsigned flags;
    int rc;

    while ((rc = take_line(ps, &s, &e)) == 1) {
        trim(&s, &e);
        if (s == e || *s == '#')
            continue;
        next_field(&s, e, &fs, &fe);
        if (*fs == '[' || *fs == '/') {
            char q[48];
            mt__quote(q, sizeof(q), fs, (size_t)(fe - fs));
            return ammo_fail(
                ps, fs, MT_EPARSE,
                "bad request size '%s': expected \"%s\" (is this uri or uripost ammo?)", q, expect);
        }
        if ((rc = parse_size(ps, fs, fe, "request size", expect, &size)) != MT_OK)
            return rc;
        ts = te = NULL;
        next_field(&s, e, &ts, &te);
        if ((rc = no_more_fields(ps, s, e)) != MT_OK)
            return rc;
        if (size == 0) {
            /* Tank starts again from the top here: what follows is never read */
            const char *q = ps->p;
            while (q < ps->end && (is_ws(*q) || *q == '\n'))
                q++;
            if (q < ps->end)
                ammo_warn(ps, ps->line,
                          "request size 0 starts the ammo again from the top: the %zu bytes after "
                          "this line are ignored",
                          (size_t)(ps->end - ps->p));
            ps->p = ps->end;
            return MT_OK;
        }
        if ((rc = tag_index(ps, ts, ts ? (size_t)(te - ts) : 0, &tag)) != MT_OK ||
            (rc = check_count(ps)) != MT_OK)
            return rc;
        if (size > (size_t)(ps->end - ps->p))
            return ammo_fail(ps, fs, MT_EPARSE,
                             "request size %zu runs past the end of the file (%zu bytes left)",
                             size, (size_t)(ps->end - ps->p));
        d = ps->p;
        line = ps->line;
        flags = raw_check(ps, d, size, line);
        if (ps->borrow) {
            if ((rc = push_req(ps, (size_t)(d - ps->borrow), size, tag, flags)) != MT_OK)
                return rc;
        } else {
            char *w;
            size_t off = ps->alen;
            if ((rc = arena_reserve(ps, size, fs, &w)) != MT_OK)
                return rc;
            memcpy(w, d, size);
            ps->alen += size;
            if ((rc = push_req(ps, off, size, tag, flags)) != MT_OK)
                return rc;
        }
        if ((rc = skip_body(ps, size, "request size", line)) != MT_OK)
            return rc;
    }
    return rc;
}

static int parse_access(ammo_parser_t *ps)
{
    const char *s, *e, *q1, *q2, *f[4][2], *p;
    const char *why;
    size_t nf;
    int rc;

    while ((rc = take_line(ps, &s, &e)) == 1) {
        trim(&s, &e);
        if (s == e)
            continue;
        /* the request line is between the first two double quotes (Tank: split('"')[1]) */
        q1 = memchr(s, '"', (size_t)(e - s));
        if (!q1) {
            ps->malformed++;
            ammo_warn(ps, ps->line, "no request line (in double quotes): line skipped");
            continue;
        }
        q2 = memchr(q1 + 1, '"', (size_t)(e - q1 - 1));
        if (!q2)
            q2 = e;
        p = q1 + 1;
        for (nf = 0; nf < 4 && next_field(&p, q2, &f[nf][0], &f[nf][1]); nf++)
            ;
        if (nf != 3 || !memchr(f[2][0], '/', (size_t)(f[2][1] - f[2][0]))) {
            ps->malformed++;
            ammo_warn(ps, ps->line, "request line is not \"METHOD URI HTTP/x.y\": line skipped");
            continue;
        }
        if (f[0][1] - f[0][0] != 3 || memcmp(f[0][0], "GET", 3) != 0) {
            ps->skipped++;
            continue;
        }
        if (uri_check(f[1][0], f[1][1], &why)) {
            ps->malformed++;
            ammo_warn(ps, ps->line,
                      "URI does not start with '/' or has a control byte: line skipped");
            continue;
        }
        if ((rc = emit_http(ps, false, f[1][0], (size_t)(f[1][1] - f[1][0]), NULL, 0, 0)) != MT_OK)
            return rc;
    }
    return rc;
}

/* ---- driver -------------------------------------------------------------------------- */

static void parser_free(ammo_parser_t *ps)
{
    if (ps->mapped)
        munmap(ps->arena, ps->mapped);
    else
        free(ps->arena);
    free(ps->reqs);
    free(ps->blk);
}

/* Moves the results into *out: pointers into the final arena, the tag table. */
static int finish(ammo_parser_t *ps, mt_ammo_t *out)
{
    const char *base;
    size_t names = 0, i;
    char **tags, *w;

    if (ps->mapped) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE), keep;
        keep = (ps->alen + page - 1) / page * page;
        if (keep == 0)
            keep = page;
        if (keep < ps->mapped && munmap(ps->arena + keep, ps->mapped - keep) == 0)
            ps->mapped = keep;
    } else if (ps->arena && ps->alen < ps->acap) {
        char *na = realloc(ps->arena, ps->alen ? ps->alen : 1);
        if (na)
            ps->arena = na;
    }
    if (ps->nreqs < ps->rcap) {
        mt_request_t *nr = realloc(ps->reqs, ps->nreqs * sizeof(*nr));
        if (nr)
            ps->reqs = nr;
    }
    for (i = 0; i < ps->ntags; i++)
        names += (size_t)ps->taglen[i] + 1;
    tags = malloc(ps->ntags * sizeof(*tags) + names);
    if (!tags)
        return ammo_fail(ps, NULL, MT_ENOMEM, "out of memory");
    w = (char *)(tags + ps->ntags);
    for (i = 0; i < ps->ntags; i++) {
        tags[i] = w;
        memcpy(w, ps->tagname[i], (size_t)ps->taglen[i] + 1);
        w += ps->taglen[i] + 1;
    }
    base = ps->borrow ? ps->borrow : ps->arena;
    for (i = 0; i < ps->nreqs; i++)
        ps->reqs[i].data = base + (uintptr_t)ps->reqs[i].data;

    out->reqs = ps->reqs;
    out->nreqs = ps->nreqs;
    out->tags = (const char **)tags;
    out->ntags = ps->ntags;
    out->type = ps->type;
    out->bytes = ps->bytes;
    out->skipped = ps->skipped;
    out->malformed = ps->malformed;
    out->nwarnings = ps->nwarnings;
    out->warning = ps->warning;
    out->mem_ = ps->arena; /* NULL when borrowing: the caller hands over the input */
    out->mapped_ = ps->mapped;
    ps->arena = NULL;
    ps->mapped = 0;
    ps->reqs = NULL;
    return MT_OK;
}

static int ammo_parse(const char *buf, size_t len, mt_ammo_type_t type, const mt_ammo_opts_t *o,
                      const char *borrow, mt_ammo_t *out, mt_parse_err_t *err)
{
    ammo_parser_t *ps;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err)
        memset(err, 0, sizeof(*err));
    if (!buf && len)
        return mt__perr_set(err, 0, MT_EINVAL, "no input");
    if (!buf)
        buf = ""; /* no arithmetic on NULL */
    if (type == MT_AMMO_AUTO)
        type = mt_ammo_type_guess(buf, len);
    if (type < MT_AMMO_URI || type > MT_AMMO_ACCESS)
        return mt__perr_set(err, 0, MT_EINVAL, "unknown ammo type %d", (int)type);
    if (!(ps = calloc(1, sizeof(*ps))))
        return mt__perr_set(err, 0, MT_ENOMEM, "out of memory");
    ps->p = buf;
    ps->end = buf + len;
    ps->next_line = 1;
    ps->err = err;
    ps->type = type;
    ps->max_requests = o && o->max_requests ? o->max_requests : MT_AMMO_DEF_REQUESTS;
    ps->max_bytes = o && o->max_bytes ? o->max_bytes : MT_AMMO_DEF_BYTES;
    ps->borrow = type == MT_AMMO_PHANTOM ? borrow : NULL;
    if (!ps->borrow && len >= AMMO_MAP_MIN)
        arena_map(ps);
    ps->ntags = 1; /* tags[0] = "" */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        ps->p += 3; /* UTF-8 byte order mark */

    if (type != MT_AMMO_PHANTOM && (rc = opts_headers(ps, o)) != MT_OK)
        goto out;
    switch (type) {
    case MT_AMMO_URI:
        rc = parse_uri(ps);
        break;
    case MT_AMMO_URIPOST:
        rc = parse_uripost(ps);
        break;
    case MT_AMMO_PHANTOM:
        rc = parse_phantom(ps);
        break;
    default:
        rc = parse_access(ps);
        break;
    }
    if (rc != MT_OK)
        goto out;
    if (ps->nreqs == 0) {
        ps->line = 0;
        if (type == MT_AMMO_ACCESS)
            rc = ammo_fail(ps, NULL, MT_EPARSE,
                           "no GET requests in the access log (%zu lines with other methods, %zu "
                           "without a request line)",
                           ps->skipped, ps->malformed);
        else
            rc = ammo_fail(ps, NULL, MT_EPARSE, "no requests in ammo");
        goto out;
    }
    rc = finish(ps, out);
out:
    parser_free(ps);
    free(ps);
    if (rc != MT_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- public -------------------------------------------------------------------------- */

static const char *const ammo_type_names[] = {"auto", "uri", "uripost", "phantom", "access"};

int mt_ammo_type_parse(const char *name, mt_ammo_type_t *out)
{
    for (size_t i = 0; name && i < sizeof(ammo_type_names) / sizeof(ammo_type_names[0]); i++)
        if (strcmp(name, ammo_type_names[i]) == 0) {
            *out = (mt_ammo_type_t)i;
            return MT_OK;
        }
    return MT_EINVAL;
}

const char *mt_ammo_type_name(mt_ammo_type_t type)
{
    if ((unsigned)type < sizeof(ammo_type_names) / sizeof(ammo_type_names[0]))
        return ammo_type_names[type];
    return "?";
}

mt_ammo_type_t mt_ammo_type_guess(const char *buf, size_t len)
{
    const char *p, *e;
    if (!buf)
        return MT_AMMO_URI;
    p = buf;
    e = buf + len;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < e && (is_ws(*p) || *p == '\n'))
        p++;
    return p < e && *p >= '0' && *p <= '9' ? MT_AMMO_PHANTOM : MT_AMMO_URI;
}

int mt_ammo_parse(const char *buf, size_t len, mt_ammo_type_t type, const mt_ammo_opts_t *o,
                  mt_ammo_t *out, mt_parse_err_t *err)
{
    return ammo_parse(buf, len, type, o, NULL, out, err);
}

int mt_ammo_gunzip(const char *buf, size_t len, size_t max_out, char **out, size_t *out_len,
                   mt_parse_err_t *err)
{
    z_stream zs;
    size_t cap, used = 0, fed = 0;
    char *o = NULL;
    int rc = MT_OK, zrc;

    *out = NULL;
    *out_len = 0;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return mt__perr_set(err, 0, MT_ENOMEM, "cannot start gzip decoding");
    cap = len < max_out / 4 ? len * 4 : max_out;
    if (cap < 4096)
        cap = 4096;
    for (;;) {
        if (zs.avail_in == 0 && fed < len) {
            size_t n = len - fed > (1u << 30) ? (1u << 30) : len - fed;
            zs.next_in = (Bytef *)(uintptr_t)(buf + fed);
            zs.avail_in = (uInt)n;
            fed += n;
        }
        if (!o || used == cap) {
            char *no;
            if (o) {
                if (cap > max_out) {
                    rc = mt__perr_set(err, 0, MT_ETOOBIG,
                                      "gzip data inflates to more than %zu "
                                      "bytes",
                                      max_out);
                    goto out;
                }
                cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
                if (cap > max_out)
                    cap = max_out + 1; /* one byte over: proves the data is too big */
            }
            if (!(no = realloc(o, cap + 1))) {
                rc = mt__perr_set(err, 0, MT_ENOMEM, "out of memory (%zu bytes)", cap);
                goto out;
            }
            o = no;
        }
        zs.next_out = (Bytef *)(o + used);
        zs.avail_out = cap - used > UINT_MAX ? UINT_MAX : (uInt)(cap - used);
        {
            uInt before = zs.avail_out;
            zrc = inflate(&zs, Z_NO_FLUSH);
            used += before - zs.avail_out;
        }
        if (used > max_out) {
            rc = mt__perr_set(err, 0, MT_ETOOBIG, "gzip data inflates to more than %zu bytes",
                              max_out);
            goto out;
        }
        if (zrc == Z_STREAM_END) {
            size_t rest = zs.avail_in + (len - fed);
            const unsigned char *r = (const unsigned char *)buf + (len - rest);
            size_t i;
            if (rest >= 2 && r[0] == 0x1f && r[1] == 0x8b) {
                inflateReset(&zs); /* another gzip member follows */
                continue;
            }
            for (i = 0; i < rest && r[i] == 0; i++)
                ;
            if (i < rest)
                rc = mt__perr_set(err, 0, MT_EFORMAT, "%zu bytes of garbage after the gzip data",
                                  rest);
            goto out;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = mt__perr_set(err, 0, zrc == Z_MEM_ERROR ? MT_ENOMEM : MT_EFORMAT,
                              "corrupt gzip data: %s", zs.msg ? zs.msg : zError(zrc));
            goto out;
        }
        if (zs.avail_in == 0 && fed == len && zs.avail_out > 0) {
            rc = mt__perr_set(err, 0, MT_EFORMAT, "gzip data is truncated");
            goto out;
        }
    }
out:
    inflateEnd(&zs);
    if (rc != MT_OK) {
        free(o);
        return rc;
    }
    if (used + 1 < cap) { /* give back the slack: phantom ammo keeps this buffer */
        char *no = realloc(o, used + 1);
        if (no)
            o = no;
    }
    o[used] = '\0';
    *out = o;
    *out_len = used;
    return MT_OK;
}

/* Reads the whole file (at most max bytes) into a malloc'd buffer. */
static int read_file(const char *path, size_t max, char **out, size_t *out_len, mt_parse_err_t *err)
{
    struct stat st;
    size_t cap = 64 * 1024, len = 0;
    char *b = NULL;
    int fd, rc = MT_OK;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mt__perr_set(err, 0, MT_ESYS, "cannot open '%.100s': %s", path, strerror(errno));
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = mt__perr_set(err, 0, MT_ESYS, "cannot read '%.100s': %s", path, strerror(EISDIR));
            goto out;
        }
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
            goto too_big;
        if (S_ISREG(st.st_mode) && st.st_size > 0)
            cap = (size_t)st.st_size + 1; /* + 1: EOF is seen without growing */
    }
    if (cap > max + 1)
        cap = max + 1;
    if (!(b = malloc(cap)))
        goto no_mem;
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb;
            if (len > max)
                goto too_big;
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            if (cap > max + 1)
                cap = max + 1; /* one byte over the limit proves the file is too big */
            if (!(nb = realloc(b, cap)))
                goto no_mem;
            b = nb;
        }
        n = read(fd, b + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mt__perr_set(err, 0, MT_ESYS, "cannot read '%.100s': %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max)
        goto too_big;
    goto out;
too_big:
    rc = mt__perr_set(err, 0, MT_ETOOBIG, "'%.100s' is larger than %zu bytes", path, max);
    goto out;
no_mem:
    rc = mt__perr_set(err, 0, MT_ENOMEM, "out of memory reading '%.100s'", path);
out:
    close(fd);
    if (rc != MT_OK) {
        free(b);
        return rc;
    }
    *out = b;
    *out_len = len;
    return MT_OK;
}

int mt_ammo_load(const char *path, mt_ammo_type_t type, const mt_ammo_opts_t *o, mt_ammo_t *out,
                 mt_parse_err_t *err)
{
    size_t max = o && o->max_bytes ? o->max_bytes : MT_AMMO_DEF_BYTES, len = 0;
    char *buf = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err)
        memset(err, 0, sizeof(*err));
    if ((rc = read_file(path, max, &buf, &len, err)) != MT_OK)
        return rc;
    if (len >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b) {
        char *raw = buf;
        rc = mt_ammo_gunzip(raw, len, max, &buf, &len, err);
        free(raw);
        if (rc != MT_OK)
            return rc;
    }
    rc = ammo_parse(buf, len, type, o, buf, out, err);
    if (rc == MT_OK && out->mem_ == NULL)
        out->mem_ = buf; /* phantom: the requests are slices of buf */
    else
        free(buf);
    return rc;
}

void mt_ammo_dispose(mt_ammo_t *a)
{
    if (!a)
        return;
    free(a->reqs);
    free((void *)a->tags);
    if (a->mapped_)
        munmap(a->mem_, a->mapped_);
    else
        free(a->mem_);
    memset(a, 0, sizeof(*a));
}
