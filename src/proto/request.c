#include "proto/request.h"
#include "proto/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef MT_VERSION
#error "MT_VERSION is defined by the build (CMake: add_compile_definitions)"
#endif

#define REQ_USER_AGENT "mortar/" MT_VERSION

static int req_fail(mt_parse_err_t *err, int col, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int req_fail(mt_parse_err_t *err, int col, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__perr_vset(err, col, code, fmt, ap);
    va_end(ap);
    return code;
}

static bool req_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool mt_http_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!req_is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool req_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Position of the first CR, LF or NUL in v[0..len), or len. */
static size_t req_find_crlf(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
            return i;
    return len;
}

int mt_header_parse(const char *line, mt_header_t *out, mt_parse_err_t *err)
{
    const char *colon = strchr(line, ':');
    size_t name_len, vstart, vend, bad;

    if (colon == NULL)
        return req_fail(err, 0, MT_EPARSE, "no ':'");
    name_len = (size_t)(colon - line);
    if (name_len == 0)
        return req_fail(err, 1, MT_EPARSE, "empty header name");
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (!req_is_tchar(c)) {
            if (c == ' ' || c == '\t')
                return req_fail(err, (int)i + 1, MT_EPARSE, "white space in header name");
            if (c > 0x20 && c < 0x7f)
                return req_fail(err, (int)i + 1, MT_EPARSE, "bad character '%c' in header name", c);
            return req_fail(err, (int)i + 1, MT_EPARSE, "bad byte 0x%02x in header name", c);
        }
    }
    vstart = name_len + 1;
    vend = vstart + strlen(colon + 1);
    bad = req_find_crlf(line + vstart, vend - vstart);
    if (bad < vend - vstart)
        return req_fail(err, (int)(vstart + bad) + 1, MT_EPARSE, "value contains CR/LF");
    while (vstart < vend && req_is_ows(line[vstart]))
        vstart++;
    while (vend > vstart && req_is_ows(line[vend - 1]))
        vend--;
    out->name = line;
    out->name_len = name_len;
    out->value = line + vstart;
    out->value_len = vend - vstart;
    return MT_OK;
}

static bool req_name_is(const mt_header_t *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* The size is computed first (a measuring pass), then bytes are appended: no regrowth. */
typedef struct req_buf {
    char *p;
    size_t len;
} req_buf_t;

static void req_put(req_buf_t *b, const char *s, size_t n)
{
    if (n > 0) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

/* Writes (b->p != NULL) or measures (b->p == NULL: only b->len grows) the head. */
static void req_emit_head(req_buf_t *b, const mt_request_spec_t *spec, const char *method,
                          const char *clen, bool send_clen)
{
    static const char *const defaults[] = {"Host", "User-Agent", "Accept"};
    const char *dvalues[] = {spec->host, REQ_USER_AGENT, "*/*"};
    bool measure = b->p == NULL;
    /* measuring uses the same code path with a sink that only counts */
#define PUT(s, n)                                                                                  \
    do {                                                                                           \
        if (measure)                                                                               \
            b->len += (n);                                                                         \
        else                                                                                       \
            req_put(b, (s), (n));                                                                  \
    } while (0)
#define PUT_HEADER(nm, nl, v, vl)                                                                  \
    do {                                                                                           \
        PUT(nm, nl);                                                                               \
        PUT(": ", 2);                                                                              \
        PUT(v, vl);                                                                                \
        PUT("\r\n", 2);                                                                            \
    } while (0)

    PUT(method, strlen(method));
    PUT(" ", 1);
    PUT(spec->target, strlen(spec->target));
    PUT(" HTTP/1.1\r\n", 11);
    for (size_t d = 0; d < sizeof(defaults) / sizeof(defaults[0]); d++) {
        bool replaced = false;
        for (size_t i = 0; i < spec->nheaders; i++) {
            const mt_header_t *h = &spec->headers[i];
            if (req_name_is(h, defaults[d])) {
                PUT_HEADER(h->name, h->name_len, h->value, h->value_len);
                replaced = true;
            }
        }
        if (!replaced)
            PUT_HEADER(defaults[d], strlen(defaults[d]), dvalues[d], strlen(dvalues[d]));
    }
    for (size_t i = 0; i < spec->nheaders; i++) {
        const mt_header_t *h = &spec->headers[i];
        bool is_default = false;
        for (size_t d = 0; d < sizeof(defaults) / sizeof(defaults[0]); d++)
            is_default = is_default || req_name_is(h, defaults[d]);
        if (!is_default)
            PUT_HEADER(h->name, h->name_len, h->value, h->value_len);
    }
    if (send_clen)
        PUT_HEADER("Content-Length", 14, clen, strlen(clen));
    PUT("\r\n", 2);
#undef PUT_HEADER
#undef PUT
}

/* Methods whose requests carry content: servers (nginx: 411) want a Content-Length even when
 * it is 0. */
static bool req_method_wants_length(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

int mt_request_build(const mt_request_spec_t *spec, char **out, size_t *out_len,
                     mt_parse_err_t *err)
{
    const char *method = spec->method != NULL ? spec->method : "GET";
    char clen[24];
    bool send_clen;
    req_buf_t b = {0};
    size_t head_len, total;

    *out = NULL;
    *out_len = 0;
    if (!mt_http_is_token(method, strlen(method)))
        return req_fail(err, 0, MT_EINVAL, "bad method '%.40s' (must be a token)", method);
    if (spec->target == NULL || spec->target[0] == '\0')
        return req_fail(err, 0, MT_EINVAL, "empty request target");
    for (const char *p = spec->target; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return req_fail(err, 0, MT_EINVAL, "space or control character in request target");
    if (spec->host == NULL || req_find_crlf(spec->host, strlen(spec->host)) < strlen(spec->host))
        return req_fail(err, 0, MT_EINVAL, "bad Host value");
    for (size_t i = 0; i < spec->nheaders; i++) {
        const mt_header_t *h = &spec->headers[i];
        if (!mt_http_is_token(h->name, h->name_len))
            return req_fail(err, 0, MT_EINVAL, "bad header name '%.*s'",
                            (int)(h->name_len > 40 ? 40 : h->name_len), h->name);
        if (req_find_crlf(h->value, h->value_len) < h->value_len)
            return req_fail(err, 0, MT_EINVAL, "header '%.*s': value contains CR/LF",
                            (int)(h->name_len > 40 ? 40 : h->name_len), h->name);
        if (req_name_is(h, "Content-Length"))
            return req_fail(err, 0, MT_EINVAL,
                            "Content-Length is computed from the body (use --body)");
        if (req_name_is(h, "Transfer-Encoding"))
            return req_fail(err, 0, MT_EINVAL,
                            "Transfer-Encoding is not supported (bodies go with Content-Length)");
    }
    if (spec->has_body && spec->body_len > MT_REQUEST_MAX_BODY)
        return req_fail(err, 0, MT_ETOOBIG, "body larger than %u MiB",
                        MT_REQUEST_MAX_BODY / (1024 * 1024));

    send_clen = spec->has_body || req_method_wants_length(method);
    snprintf(clen, sizeof(clen), "%zu", spec->has_body ? spec->body_len : (size_t)0);

    req_emit_head(&b, spec, method, clen, send_clen);
    head_len = b.len;
    if (head_len > MT_REQUEST_MAX_HEAD)
        return req_fail(err, 0, MT_ETOOBIG, "request head larger than %u KiB",
                        MT_REQUEST_MAX_HEAD / 1024);
    total = head_len + (spec->has_body ? spec->body_len : 0);

    b.p = malloc(total + 1);
    if (b.p == NULL)
        return MT_ENOMEM;
    b.len = 0;
    req_emit_head(&b, spec, method, clen, send_clen);
    if (spec->has_body)
        req_put(&b, spec->body, spec->body_len);
    b.p[b.len] = '\0';
    *out = b.p;
    *out_len = b.len;
    return MT_OK;
}
