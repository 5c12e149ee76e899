/* Query string -> per-request behaviour, and response heads. */
#include "target/behave.h"

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

static int param(const char *k, size_t klen, const char *v, size_t vlen, mt__tgt_behave_t *out,
                 char *msg)
{
#define IS(name) (klen == sizeof(name) - 1 && memcmp(k, name, klen) == 0)
    if (IS("status")) {
        unsigned s = 0;
        size_t i;
        if (vlen != 3)
            goto bad_status;
        for (i = 0; i < 3; i++) {
            if (v[i] < '0' || v[i] > '9')
                goto bad_status;
            s = s * 10 + (unsigned)(v[i] - '0');
        }
        if (s < 200 || s > 599)
            goto bad_status;
        out->status = (uint16_t)s;
        return 0;
    bad_status:
        bad(msg, "status", v, vlen, "is not a status code 200..599");
        return -1;
    }
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
    if (IS("delay")) {
        char buf[VALUE_SHOWN + 1];
        mt_parse_err_t perr = {0};
        int64_t ns = 0;
        int rc;
        if (vlen == 0 || vlen > VALUE_SHOWN) {
            bad(msg, "delay", v, vlen, "is not a duration (like 50ms, 1s, 250us)");
            return -1;
        }
        memcpy(buf, v, vlen);
        buf[vlen] = 0;
        rc = mt_parse_duration(buf, &ns, &perr);
        if (rc == MT_OK && ns > MT_TARGET_MAX_DELAY_NS)
            rc = MT_ERANGE;
        if (rc == MT_ERANGE || (rc == MT_OK && ns < 0)) {
            bad(msg, "delay", v, vlen, "is more than 1h");
            return -1;
        }
        if (rc != MT_OK) {
            bad(msg, "delay", v, vlen, "is not a duration (like 50ms, 1s, 250us)");
            return -1;
        }
        out->delay_ns = ns;
        return 0;
    }
#undef IS
    bad(msg, "unknown query parameter", k, klen, "(known: status, size, delay)");
    return -1;
}

int mt__tgt_behave_parse(const char *target, size_t len, mt__tgt_behave_t *out, char *msg)
{
    const char *q = memchr(target, '?', len);
    const char *end = target + len;
    const char *hash;

    out->status = 200;
    out->has_size = false;
    out->size = 0;
    out->delay_ns = 0;
    msg[0] = 0;
    if (!q)
        return 0;
    q++;
    hash = memchr(q, '#', (size_t)(end - q));
    if (hash)
        end = hash;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        if (pe > q) {
            const char *k = q;
            size_t klen = (size_t)((eq ? eq : pe) - q);
            const char *v = eq ? eq + 1 : pe;
            size_t vlen = (size_t)(pe - v);
            if (param(k, klen, v, vlen, out, msg) != 0)
                return -1;
        }
        q = amp ? amp + 1 : end;
    }
    return 0;
}

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
    const char *r = reason(status);
    char *p = buf;

    if (status < 100 || status > 999)
        status = 500;
    p = PUT(p, "HTTP/1.1 ");
    *p++ = (char)('0' + status / 100);
    *p++ = (char)('0' + status / 10 % 10);
    *p++ = (char)('0' + status % 10);
    *p++ = ' ';
    p = put(p, r, strlen(r));
    p = PUT(p, "\r\nContent-Type: text/plain\r\n");
    if (!mt__tgt_status_bodyless(status)) {
        p = PUT(p, "Content-Length: ");
        p = put_u64(p, content_length);
        p = PUT(p, "\r\n");
    }
    if (conn == MT__TGT_CONN_CLOSE)
        p = PUT(p, "Connection: close\r\n");
    else if (conn == MT__TGT_CONN_KEEP_ALIVE)
        p = PUT(p, "Connection: keep-alive\r\n");
    p = PUT(p, "\r\n");
    return (size_t)(p - buf);
}
