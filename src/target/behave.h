/* Target server internals: what one request asks for (resolved from its query string) and
 * how its response head is written. Pure functions, no I/O, no allocation.
 *
 * New behaviours (faults, jitter, chunked bodies, ...) go here: a field in mt__tgt_behave_t,
 * a query parameter in behave.c, and the worker acting on it. */
#ifndef MT_TARGET_BEHAVE_H
#define MT_TARGET_BEHAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT__TGT_MSG_MAX  160 /* plain-text error body, including its newline */
#define MT__TGT_HEAD_MAX 160 /* longest head mt__tgt_format_head writes */

typedef struct mt__tgt_behave {
    uint16_t status;  /* 200..599 */
    bool has_size;    /* false: the server's default body */
    uint64_t size;    /* body bytes when has_size */
    int64_t delay_ns; /* wait before responding, from the end of the request */
} mt__tgt_behave_t;

/* Resolves the behaviour from a request-target (path and query; only the query matters).
 * out starts as {200, default body, no delay}. Returns 0, or -1 with msg (NUL-terminated,
 * ends with "\n", at most MT__TGT_MSG_MAX bytes with the NUL) naming the parameter and the
 * problem, e.g. "unknown query parameter 'foo'\n". */
int mt__tgt_behave_parse(const char *target, size_t len, mt__tgt_behave_t *out, char *msg);

/* How the response speaks about the connection. */
enum { MT__TGT_CONN_NONE = 0, MT__TGT_CONN_CLOSE, MT__TGT_CONN_KEEP_ALIVE };

/* True if status carries no body and no Content-Length (204, 304). */
bool mt__tgt_status_bodyless(unsigned status);

/* Writes "HTTP/1.1 <status> <reason>\r\nContent-Type: text/plain\r\nContent-Length: <n>\r\n
 * [Connection: close|keep-alive\r\n]\r\n" to buf (at least MT__TGT_HEAD_MAX bytes); bodyless
 * statuses get no Content-Length. Returns the length. */
size_t mt__tgt_format_head(char *buf, unsigned status, uint64_t content_length, int conn);

#endif
