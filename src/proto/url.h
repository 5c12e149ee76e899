/* Target URL parser for `mortar run`: http[s]://host[:port][/path][?query][#fragment].
 * Pure: text in, struct or positioned error out, no I/O and no name resolution.
 *
 * Accepted: scheme "http" or "https" (any case); host as a DNS name / IPv4 address
 * ([A-Za-z0-9.-_~]) or an IPv6 literal in brackets ("[::1]"); optional port 1..65535 (an empty
 * port, "host:", means the default: 80, 443 for https); path and query made of printable ASCII
 * without spaces. The fragment is dropped (it is never sent). Rejected with a message: other
 * schemes, user info ("user@host"), IPv6 zone ids, control characters, spaces and non-ASCII bytes.
 */
#ifndef MT_PROTO_URL_H
#define MT_PROTO_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "mortar/error.h"

#define MT_URL_MAX_LEN (16 * 1024) /* longer input is MT_ETOOBIG */

typedef struct mt_url {
    char *host;        /* what to connect to: name or address; IPv6 without brackets */
    char port[6];      /* decimal port, "80" ("443" for https) by default */
    bool tls;          /* https */
    uint16_t port_num; /* the same as a number */
    bool ipv6;         /* host is an IPv6 literal */
    char *target;      /* request-target: path (at least "/") and "?query" */
    char *host_header; /* Host header value: host, "[v6]" in brackets, ":port" unless the default */
} mt_url_t;

/* Parse NUL-terminated text into *out (caller-allocated; its strings are malloc'd by the parser
 * and released with mt_url_dispose). Returns MT_OK, MT_EPARSE (malformed or unsupported; err->col
 * is the 1-based column of the problem, err->msg says what), MT_ETOOBIG (longer than
 * MT_URL_MAX_LEN) or MT_ENOMEM. On error *out holds nothing to release. err may be NULL. */
int mt_url_parse(const char *text, mt_url_t *out, mt_parse_err_t *err);

/* Releases the strings of a parsed URL; safe on a zeroed struct and twice. */
void mt_url_dispose(mt_url_t *u);

#endif
