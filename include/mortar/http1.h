/* Incremental HTTP/1.x response parser. Pure: bytes in, state out, no I/O, no allocation.
 * State is small (it lives in every connection): headers are not stored, only what framing
 * needs (status, Content-Length, Transfer-Encoding: chunked, Connection, version) is
 * recognised on the fly, so input may be split at any byte. Bodies are counted, not kept.
 * Interim 1xx responses (except 101) are skipped; the parser reports the final response.
 * Folded header lines (obs-fold) are accepted as RFC 9112 5.2 asks of a user agent. */
#ifndef MORTAR_HTTP1_H
#define MORTAR_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_H1_MAX_HEADER_BYTES (64 * 1024) /* status line + headers (+ trailers) limit */

enum {
    MT_H1_NO_BODY = 1 << 0, /* response to HEAD: no body whatever the headers say */
};

typedef struct mt_h1_resp {
    /* opaque parsing state: do not touch (48 bytes in all; it lives in every connection) */
    uint64_t remaining;  /* body/chunk bytes left; Content-Length while in the head;
                          * trailer bytes seen while in the trailers */
    uint32_t offset;     /* bytes of this response stream consumed so far (saturates) */
    uint32_t err_offset; /* on error: offset in the response where it was found */
    uint16_t status;     /* final status code, valid once headers are done */
    uint8_t state;
    uint8_t sub;           /* position in the word or digit being matched */
    uint8_t match;         /* which framing header name or token is being matched */
    uint8_t flags;         /* framing seen so far (Content-Length, chunked, close...) */
    uint8_t req_flags;     /* MT_H1_* given at init */
    uint8_t version_minor; /* x of HTTP/1.x */
    const char *err_msg;   /* on error: static description */
    /* results */
    uint64_t body_bytes;    /* decoded body bytes (chunk payloads, not framing) */
    uint32_t head_done : 1; /* status line + headers complete (first byte of body may follow) */
} mt_h1_resp_t;

/* Prepare for one response. flags: MT_H1_NO_BODY for HEAD requests. The struct is the
 * caller's (usually inside its connection) and holds no resources: there is no dispose; call
 * init again before each response, including a pipelined one after MT_OK. */
void mt_h1_resp_init(mt_h1_resp_t *p, unsigned flags);

/* Feed bytes. Sets *consumed to the bytes used. Returns:
 *   MT_OK      the response is complete; bytes after *consumed belong to the next response;
 *   MT_EAGAIN  all bytes consumed, more needed;
 *   MT_EPROTO  malformed (p->err_msg, p->err_offset say what and where);
 *   MT_ETOOBIG head exceeded MT_H1_MAX_HEADER_BYTES (interim 1xx heads count towards it),
 *              or the chunked trailers did (their own limit).
 * buf is only read during the call. After MT_OK or an error, further calls return the same
 * code and consume nothing. */
int mt_h1_resp_feed(mt_h1_resp_t *p, const char *buf, size_t len, size_t *consumed);

/* The peer closed the connection. Returns MT_OK if that completes the response (a body
 * delimited by close) or it was already complete, MT_EEOF (with err_msg and err_offset, unless
 * an error was already reported) if the response was cut short or never started. */
int mt_h1_resp_eof(mt_h1_resp_t *p);

/* Has the final response (not an interim 1xx) begun: is its status code known? Time to
 * first byte is measured to the read that makes this true (after 103 Early Hints, the wait
 * for the final response is still waiting, not receiving). */
bool mt_h1_resp_final_started(const mt_h1_resp_t *p);

/* After MT_OK: may the connection carry another request? (HTTP/1.1 without
 * "Connection: close", or HTTP/1.0 with "Connection: keep-alive", and not close-delimited,
 * nor framed by Transfer-Encoding in HTTP/1.0 or together with Content-Length.) */
bool mt_h1_resp_keep_alive(const mt_h1_resp_t *p);

#endif
