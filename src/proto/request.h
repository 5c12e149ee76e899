/* Builds the HTTP/1.1 request mortar sends, once, before the run: the engine writes the same
 * bytes for every request. Pure: no I/O.
 *
 *   METHOD target HTTP/1.1\r\n
 *   Host: <host>\r\n
 *   User-Agent: mortar/<MT_VERSION>\r\n
 *   Accept: * / *\r\n                       (without the spaces)
 *   <user headers, in the order given>\r\n
 *   Content-Length: <n>\r\n                 (with a body; "0" for POST/PUT/PATCH without one)
 *   \r\n
 *   <body>
 *
 * A user header whose name matches a default one (Host, User-Agent, Accept; case-insensitive)
 * replaces it in place; several user headers of that name all go there. Content-Length and
 * Transfer-Encoding cannot be given as headers: the length comes from the body. */
#ifndef MT_PROTO_REQUEST_H
#define MT_PROTO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "mortar/error.h"

#define MT_REQUEST_MAX_BODY (64u * 1024 * 1024) /* --body limit */
#define MT_REQUEST_MAX_HEAD (256u * 1024)       /* request line + headers limit */

/* A header as slices of someone else's memory (not NUL-terminated). */
typedef struct mt_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} mt_header_t;

/* Splits "Name: value" (the -H argument) at the first ':'. The name must be a token (RFC 9110
 * tchar); the value has leading and trailing spaces/tabs trimmed and may not contain CR, LF or
 * NUL. out points into line (keep line alive). Returns MT_OK or MT_EPARSE with err->col (1-based
 * in line) and err->msg ("no ':'", "bad character ' ' in header name", "value contains CR/LF").
 * err may be NULL. */
int mt_header_parse(const char *line, mt_header_t *out, mt_parse_err_t *err);

typedef struct mt_request_spec {
    const char *method;         /* a token; NULL means "GET" */
    const char *target;         /* request-target, e.g. "/path?q" (no spaces or controls) */
    const char *host;           /* Host header value */
    const mt_header_t *headers; /* user headers, in order; may be NULL when nheaders == 0 */
    size_t nheaders;
    const char *body; /* used when has_body (may be NULL when body_len == 0) */
    size_t body_len;
    bool has_body;
} mt_request_spec_t;

/* Serialises the request into one malloc'd buffer (*out, *out_len bytes, also NUL-terminated
 * for convenience; the NUL is not counted). Caller frees *out with free(). Returns MT_OK;
 * MT_EINVAL with err->msg for a bad method, target or header (each is validated again here);
 * MT_ETOOBIG if the body exceeds MT_REQUEST_MAX_BODY or the head MT_REQUEST_MAX_HEAD;
 * MT_ENOMEM. err may be NULL. */
int mt_request_build(const mt_request_spec_t *spec, char **out, size_t *out_len,
                     mt_parse_err_t *err);

/* True if s[0..len) is a non-empty RFC 9110 token (method and header-name syntax). */
bool mt_http_is_token(const char *s, size_t len);

#endif
