/* Incremental HTTP/1.x request-head parser (the server side of http1.h). Pure: bytes in,
 * state out, no I/O, no allocation, no pointers kept into the input.
 *
 * Input may be split at any byte. Headers are not stored: only what a server needs to frame
 * and answer the request is recognised on the fly (method, request-target position,
 * version, Host, Content-Length, Transfer-Encoding, Connection, Expect). The request-target
 * is reported as an offset from the first byte fed since init, so a caller that keeps the
 * head contiguous (as the target server does: heads must fit its receive buffer) can read
 * it without a copy. The body is not parsed: after MT_OK the caller reads
 * content_length bytes itself.
 *
 * Accepted grammar (RFC 9112), deliberately strict where leniency is a smuggling risk:
 *   *( CRLF ) method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
 *   *( field-name ":" OWS field-value OWS CRLF ) CRLF
 * A bare LF is accepted wherever CRLF is; a CR not followed by LF is an error. Obsolete line
 * folding, whitespace before ':', control characters, a second Host, differing
 * Content-Lengths are errors. HTTP/1.1 without Host is an error. */
#ifndef MT_PROTO_HTTP1_REQ_H
#define MT_PROTO_HTTP1_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/error.h"

#define MT__H1_REQ_MAX_HEADERS 100 /* more header lines than this: MT_ETOOBIG (431) */

/* Methods recognised by name (anything else that is a token is MT__H1_M_OTHER). */
enum mt__h1_method {
    MT__H1_M_OTHER = 0,
    MT__H1_M_GET,
    MT__H1_M_HEAD,
    MT__H1_M_POST,
    MT__H1_M_PUT,
    MT__H1_M_DELETE,
    MT__H1_M_CONNECT,
    MT__H1_M_OPTIONS,
    MT__H1_M_TRACE,
    MT__H1_M_PATCH,
};

typedef struct mt__h1_req {
    /* opaque parsing state: do not touch */
    uint64_t num;      /* Content-Length value being read */
    uint32_t off;      /* bytes consumed since init */
    uint32_t max_head; /* limit on off */
    uint16_t nheaders; /* header lines seen */
    uint16_t cand;     /* candidate bitmask: method / header name / value token */
    uint8_t state;
    uint8_t pos;    /* position in the token being matched (saturates) */
    uint8_t hdr;    /* which recognised header the current line is (0 = other) */
    uint8_t vflags; /* value sub-state */
    int err;        /* sticky error code, 0 while fine */

    /* results, valid once feed returned MT_OK */
    uint8_t method;        /* enum mt__h1_method */
    uint8_t version_minor; /* HTTP/1.<minor>; 1.x with x >= 1 behaves as 1.1 */
    uint32_t method_len;   /* the method starts at target_off - method_len - 1 */
    uint32_t target_off;   /* request-target: offset from the first byte fed since init */
    uint32_t target_len;
    uint32_t head_len;       /* bytes of the whole head, including leading empty lines */
    uint64_t content_length; /* 0 when absent */
    uint32_t has_content_length : 1;
    uint32_t has_transfer_encoding : 1; /* any Transfer-Encoding (framing the caller must handle) */
    uint32_t has_host : 1;
    uint32_t conn_close : 1;      /* "close" among the Connection options */
    uint32_t conn_keep_alive : 1; /* "keep-alive" among the Connection options */
    uint32_t expect_continue : 1; /* Expect: 100-continue */

    /* on error */
    uint32_t err_offset; /* offset (from the first byte fed since init) of the offending byte */
    uint16_t err_status; /* the HTTP status to answer with: 400, 431 or 505 */
    const char *err_msg; /* static description, e.g. "bad character in request-target" */
} mt__h1_req_t;

/* Prepare for one request head of at most max_head bytes (leading empty lines count). */
void mt__h1_req_init(mt__h1_req_t *p, uint32_t max_head);

/* Feed bytes. Sets *consumed to the bytes used. Returns:
 *   MT_OK      the head is complete (*consumed ends just after its final LF); the results
 *              are valid; any body and the next request follow;
 *   MT_EAGAIN  all bytes consumed, more needed;
 *   MT_EPROTO  malformed: err_msg, err_offset and err_status (400 or 505) say what, where and
 *              how to answer; *consumed stops at the offending byte;
 *   MT_ETOOBIG the head exceeded max_head bytes or MT__H1_REQ_MAX_HEADERS lines (431).
 * Errors are sticky: later calls return the same code and consume nothing. */
int mt__h1_req_feed(mt__h1_req_t *p, const char *buf, size_t len, size_t *consumed);

/* After MT_OK: may the connection carry another request? HTTP/1.1 unless "Connection: close";
 * HTTP/1.0 only with "Connection: keep-alive". */
bool mt__h1_req_keep_alive(const mt__h1_req_t *p);

#endif
