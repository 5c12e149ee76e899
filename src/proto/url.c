#include "proto/url.h"
#include "proto/text.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_HOST_MAX 255 /* longest DNS name (253) with some slack */

static int url_fail(mt_parse_err_t *err, size_t pos, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int url_fail(mt_parse_err_t *err, size_t pos, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__perr_vset(err, (int)pos + 1, code, fmt, ap);
    va_end(ap);
    return code;
}

static bool url_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool url_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool url_is_scheme_char(unsigned char c)
{
    return url_is_alpha(c) || url_is_digit(c) || c == '+' || c == '-' || c == '.';
}

/* unreserved characters of RFC 3986 that make up host names and IPv4 addresses */
static bool url_is_host_char(unsigned char c)
{
    return url_is_alpha(c) || url_is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Describes a byte for a message: "'x'" when printable, "byte 0x1f" otherwise. */
static const char *url_describe(unsigned char c, char *buf, size_t n)
{
    if (c == ' ')
        snprintf(buf, n, "space");
    else if (c > 0x20 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static char *url_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void mt_url_dispose(mt_url_t *u)
{
    if (u == NULL)
        return;
    free(u->host);
    free(u->target);
    free(u->host_header);
    u->host = u->target = u->host_header = NULL;
}

/* Parses the scheme and the "//" after it; *pos is left on the authority. */
static int url_parse_scheme(const char *t, size_t *pos, bool *tls, mt_parse_err_t *err)
{
    size_t i = 0;
    while (url_is_scheme_char((unsigned char)t[i]))
        i++;
    if (i == 0 || !url_is_alpha((unsigned char)t[0]) || t[i] != ':')
        return url_fail(err, 0, MT_EPARSE, "missing scheme (use http://HOST[:PORT]/PATH)");
    if (strncmp(t + i + 1, "//", 2) != 0) {
        /* "localhost:8080" reads as scheme "localhost"; say what is missing instead */
        if (url_is_digit((unsigned char)t[i + 1]) || t[i + 1] == '\0')
            return url_fail(err, 0, MT_EPARSE, "missing scheme (use http://HOST[:PORT]/PATH)");
        return url_fail(err, i + 1, MT_EPARSE, "expected '//' after '%.*s:'", (int)i, t);
    }
    if ((i == 4 && strncasecmp(t, "http", 4) == 0) || (i == 5 && strncasecmp(t, "https", 5) == 0)) {
        *tls = i == 5;
        *pos = i + 3;
        return MT_OK;
    }
    if (i > 32)
        return url_fail(err, 0, MT_EPARSE, "unsupported scheme '%.32s...'", t);
    return url_fail(err, 0, MT_EPARSE, "unsupported scheme '%.*s'", (int)i, t);
}

/* Host and port of the authority t[start, end). */
static int url_parse_authority(const char *t, size_t start, size_t end, mt_url_t *u,
                               mt_parse_err_t *err)
{
    char what[16];
    size_t host_start, host_end, i;
    const char *at = memchr(t + start, '@', end - start);

    if (at != NULL)
        return url_fail(err, (size_t)(at - t), MT_EPARSE,
                        "user info ('user@') is not supported; use -H 'Authorization: ...'");
    if (start == end)
        return url_fail(err, start, MT_EPARSE, "missing host");

    if (t[start] == '[') {
        char addr[INET6_ADDRSTRLEN + 1];
        unsigned char bin[16];
        const char *close = memchr(t + start, ']', end - start);
        if (close == NULL)
            return url_fail(err, start, MT_EPARSE, "unterminated '[' in IPv6 address");
        host_start = start + 1;
        host_end = (size_t)(close - t);
        for (i = host_start; i < host_end; i++) {
            unsigned char c = (unsigned char)t[i];
            if (c == '%')
                return url_fail(err, i, MT_EPARSE, "IPv6 zone ids are not supported");
            if (!(url_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                  c == '.'))
                return url_fail(err, i, MT_EPARSE, "bad %s in IPv6 address",
                                url_describe(c, what, sizeof(what)));
        }
        if (host_end - host_start >= sizeof(addr))
            return url_fail(err, host_start, MT_EPARSE, "bad IPv6 address");
        memcpy(addr, t + host_start, host_end - host_start);
        addr[host_end - host_start] = '\0';
        if (inet_pton(AF_INET6, addr, bin) != 1)
            return url_fail(err, host_start, MT_EPARSE, "bad IPv6 address '%s'", addr);
        i = host_end + 1;
        if (i < end && t[i] != ':')
            return url_fail(err, i, MT_EPARSE, "unexpected %s after ']'",
                            url_describe((unsigned char)t[i], what, sizeof(what)));
        u->ipv6 = true;
    } else {
        host_start = start;
        for (i = start; i < end && t[i] != ':'; i++) {
            unsigned char c = (unsigned char)t[i];
            if (!url_is_host_char(c))
                return url_fail(err, i, MT_EPARSE, "bad %s in host",
                                url_describe(c, what, sizeof(what)));
        }
        host_end = i;
        if (host_end == host_start)
            return url_fail(err, start, MT_EPARSE, "missing host");
        if (host_end - host_start > URL_HOST_MAX)
            return url_fail(err, start, MT_EPARSE, "host name longer than %d bytes", URL_HOST_MAX);
    }

    /* i is on ':' or at end */
    u->port_num = u->tls ? 443 : 80;
    if (i < end) {
        size_t p = i + 1;
        unsigned long port = 0;
        if (p < end) {
            for (size_t k = p; k < end; k++) {
                unsigned char c = (unsigned char)t[k];
                if (!url_is_digit(c))
                    return url_fail(err, k, MT_EPARSE, "bad %s in port",
                                    url_describe(c, what, sizeof(what)));
                if (port <= 65535)
                    port = port * 10 + (c - '0');
            }
            if (port < 1 || port > 65535)
                return url_fail(err, p, MT_EPARSE, "port out of range (1-65535)");
            u->port_num = (uint16_t)port;
        }
        /* "host:" with an empty port means the default (RFC 3986 3.2.3) */
    }
    snprintf(u->port, sizeof(u->port), "%u", (unsigned)u->port_num);

    u->host = url_strndup(t + host_start, host_end - host_start);
    if (u->host == NULL)
        return MT_ENOMEM;
    {
        size_t hl = host_end - host_start;
        size_t n = hl + 2 + 1 + 5 + 1; /* brackets, ':', port, NUL */
        u->host_header = malloc(n);
        if (u->host_header == NULL)
            return MT_ENOMEM;
        snprintf(u->host_header, n, "%s%s%s", u->ipv6 ? "[" : "", u->host, u->ipv6 ? "]" : "");
        if (u->port_num != (u->tls ? 443 : 80)) {
            size_t l = strlen(u->host_header);
            snprintf(u->host_header + l, n - l, ":%u", (unsigned)u->port_num);
        }
    }
    return MT_OK;
}

/* Path and query t[start, end): printable ASCII other than space. */
static int url_parse_target(const char *t, size_t start, size_t end, mt_url_t *u,
                            mt_parse_err_t *err)
{
    char what[16];
    bool slash = start < end && t[start] == '/';
    size_t n = end - start;

    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f)
            return url_fail(err, i, MT_EPARSE,
                            "%s not allowed in path or query (percent-encode it)",
                            url_describe(c, what, sizeof(what)));
    }
    u->target = malloc(n + 2);
    if (u->target == NULL)
        return MT_ENOMEM;
    /* an empty path becomes "/" (also before a query: "http://h?q" sends "/?q") */
    snprintf(u->target, n + 2, "%s%.*s", slash ? "" : "/", (int)n, t + start);
    return MT_OK;
}

int mt_url_parse(const char *text, mt_url_t *out, mt_parse_err_t *err)
{
    mt_url_t u = {0};
    size_t len, pos = 0, auth_end, target_end;
    int rc;

    if (err != NULL) {
        err->line = 0;
        err->col = 0;
        err->msg[0] = '\0';
    }
    len = strnlen(text, MT_URL_MAX_LEN + 1);
    if (len > MT_URL_MAX_LEN) {
        rc = url_fail(err, MT_URL_MAX_LEN, MT_ETOOBIG, "URL longer than %d bytes", MT_URL_MAX_LEN);
        goto out;
    }
    if (len == 0) {
        rc = url_fail(err, 0, MT_EPARSE, "empty URL");
        goto out;
    }

    rc = url_parse_scheme(text, &pos, &u.tls, err);
    if (rc != MT_OK)
        goto out;

    auth_end = pos + strcspn(text + pos, "/?#");
    rc = url_parse_authority(text, pos, auth_end, &u, err);
    if (rc != MT_OK)
        goto out;

    target_end = auth_end + strcspn(text + auth_end, "#"); /* the fragment is not sent */
    rc = url_parse_target(text, auth_end, target_end, &u, err);
    if (rc != MT_OK)
        goto out;

    *out = u;
    memset(&u, 0, sizeof(u));
out:
    mt_url_dispose(&u);
    return rc;
}
