/* The target's command-line values that are more than a number: --listen ADDR:PORT and
 * --stall START:LEN. Pure functions (no I/O), so the CLI prints their messages and the fuzz
 * targets (tests/fuzz/fuzz_target_listen.c, fuzz_target_stall.c) call them directly. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/schedule.h"
#include "mortar/target.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    if (err && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return MT_EINVAL;
}

int mt_target_parse_listen(const char *v, char *host, size_t hostcap, uint16_t *port, char *err,
                           size_t errlen)
{
    const char *colon, *h = v, *p;
    size_t hlen;
    char *end;
    unsigned long n;
    unsigned char tmp[16];

    if (err && errlen > 0)
        err[0] = 0;
    if (v[0] == '[') {
        const char *rb = strchr(v, ']');
        if (!rb || rb[1] != ':')
            return fail(err, errlen, "expected [IPV6]:PORT, got '%s'", v);
        h = v + 1;
        hlen = (size_t)(rb - h);
        p = rb + 2;
    } else {
        colon = strrchr(v, ':');
        if (!colon)
            return fail(err, errlen, "expected ADDR:PORT, got '%s'", v);
        hlen = (size_t)(colon - v);
        p = colon + 1;
        if (memchr(v, ':', hlen))
            return fail(err, errlen, "IPv6 addresses go in brackets: '%s'", v);
    }
    if (hlen == 0 || hlen >= hostcap || hlen >= INET6_ADDRSTRLEN)
        return fail(err, errlen, "bad address in '%s'", v);
    memcpy(host, h, hlen);
    host[hlen] = 0;
    if (h != v && inet_pton(AF_INET6, host, tmp) != 1)
        return fail(err, errlen, "'%s' in brackets is not an IPv6 address", host);
    if (strcmp(host, "localhost") == 0 && hostcap > 9)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
        return fail(err, errlen, "'%s' is not a numeric IPv4 or IPv6 address", host);
    errno = 0;
    n = strtoul(p, &end, 10);
    if (p[0] < '0' || p[0] > '9' || *end || errno || n > 65535)
        return fail(err, errlen, "bad port '%s'", p);
    *port = (uint16_t)n;
    return MT_OK;
}

int mt_target_parse_stall(const char *v, mt_target_stall_t *out, char *err, size_t errlen)
{
    const char *colon = strchr(v, ':');
    char start[64];
    mt_parse_err_t perr;
    int64_t s, len;
    size_t n;

    if (err && errlen > 0)
        err[0] = 0;
    if (!colon || colon == v || !colon[1])
        return fail(err, errlen, "expected START:LEN (like 3s:1s), got '%s'", v);
    n = (size_t)(colon - v);
    if (n >= sizeof(start))
        return fail(err, errlen, "bad START in '%s'", v);
    memcpy(start, v, n);
    start[n] = 0;
    memset(&perr, 0, sizeof(perr));
    if (mt_parse_duration(start, &s, &perr) != MT_OK || s < 0) {
        if (perr.msg[0])
            return fail(err, errlen, "START: %s", perr.msg);
        return fail(err, errlen, "bad START '%s'", start);
    }
    memset(&perr, 0, sizeof(perr));
    if (mt_parse_duration(colon + 1, &len, &perr) != MT_OK) {
        if (perr.msg[0])
            return fail(err, errlen, "LEN: %s", perr.msg);
        return fail(err, errlen, "bad LEN '%s'", colon + 1);
    }
    if (len <= 0)
        return fail(err, errlen, "LEN must be more than 0 in '%s'", v);
    out->start_ns = s;
    out->len_ns = len;
    return MT_OK;
}
