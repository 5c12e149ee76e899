/* Yandex.Tank ammo: turns an ammo file (uri, uripost, phantom or access format) into
 * pre-serialised HTTP/1.1 requests with tags, ready for mt_run_config_t.requests / .tags.
 * Formats and the choices made where Tank is vague: docs/ammo.md, docs/adr/0007-ammo.md.
 *
 * mt_ammo_parse is pure (a buffer in, requests or an error with a line out; no I/O);
 * mt_ammo_load reads a file, gunzips it if needed, and parses it. One pass over the input;
 * all request bytes live in one allocation owned by the mt_ammo_t. */
#ifndef MORTAR_AMMO_H
#define MORTAR_AMMO_H

#include <stddef.h>

#include "mortar/engine.h"
#include "mortar/error.h"

/* Limits (each one, when hit, is an error naming the line). */
#define MT_AMMO_MAX_LINE     (64 * 1024)        /* bytes in a text line (URI, [header], size) */
#define MT_AMMO_MAX_TAG      64                 /* bytes in a tag name */
#define MT_AMMO_MAX_HEADERS  64                 /* headers in force at once (uri, uripost) */
#define MT_AMMO_MAX_HEAD     (64 * 1024)        /* bytes of all headers in force */
#define MT_AMMO_MAX_REQUEST  (64 * 1024 * 1024) /* one phantom request or one uripost body */
#define MT_AMMO_DEF_REQUESTS ((size_t)10 * 1000 * 1000) /* max_requests when 0 */
#define MT_AMMO_DEF_BYTES    ((size_t)1 << 30)          /* max_bytes when 0: 1 GiB */

typedef enum mt_ammo_type {
    MT_AMMO_AUTO = 0, /* Tank's guess: phantom if the first line starts with a digit, else uri */
    MT_AMMO_URI,      /* "uri":     [Header: value] lines and "/uri [tag]" lines -> GET */
    MT_AMMO_URIPOST,  /* "uripost": [Header: value] lines and "<len> /uri [tag]" + body -> POST */
    MT_AMMO_PHANTOM,  /* "phantom": "<size> [tag]" + raw request bytes, sent as they are */
    MT_AMMO_ACCESS,   /* "access":  nginx/apache access log; GET request lines are used */
} mt_ammo_type_t;

/* "auto", "uri", "uripost", "phantom", "access" -> *out. MT_EINVAL for anything else. */
int mt_ammo_type_parse(const char *name, mt_ammo_type_t *out);
/* The name mt_ammo_type_parse accepts ("?" for a value out of range). Never NULL. */
const char *mt_ammo_type_name(mt_ammo_type_t type);
/* What MT_AMMO_AUTO resolves to for this input: MT_AMMO_PHANTOM when the first non-blank
 * line starts with a digit, else MT_AMMO_URI. The input must already be gunzipped. */
mt_ammo_type_t mt_ammo_type_guess(const char *buf, size_t len);

/* Settings from the command line / config. Applied to uri, uripost and access requests only;
 * phantom requests are sent exactly as written. All strings are only read during the call. */
typedef struct mt_ammo_opts {
    const char *host; /* Host header value ("name[:port]") unless a header sets Host; may be
                       * NULL, then a uri/uripost file must set [Host: ...] before each URI */
    const char *const *headers; /* "Name: value" strings (-H), in order; a later one of the
                                 * same name (case-insensitive) replaces an earlier one; the
                                 * file's [Name: value] lines replace them in turn */
    size_t nheaders;
    const char *user_agent; /* User-Agent unless a header sets one; NULL: none */
    size_t max_requests;    /* 0: MT_AMMO_DEF_REQUESTS */
    size_t max_bytes;       /* cap on the request bytes kept, the file size and the gunzipped
                             * size; 0: MT_AMMO_DEF_BYTES */
} mt_ammo_opts_t;

/* Parsed ammo. Filled by mt_ammo_parse / mt_ammo_load, freed by mt_ammo_dispose. */
typedef struct mt_ammo {
    mt_request_t *reqs; /* in file order; data points into memory owned by this struct */
    size_t nreqs;
    const char **tags; /* tags[0] = "" (untagged), then each distinct tag in order of first
                        * use; ntags <= MT_MAX_TAGS; reqs[i].tag indexes it */
    size_t ntags;
    mt_ammo_type_t type; /* the format parsed (MT_AMMO_AUTO resolved) */
    size_t bytes;        /* sum of reqs[i].len */
    size_t skipped;      /* access: request lines with a method other than GET (not sent) */
    size_t malformed;    /* access: non-blank lines without a usable request line (not sent) */
    /* Things that are probably mistakes but are sent anyway (Tank sends them too): a phantom
     * request whose size does not match its head and Content-Length, text after a phantom
     * size 0, access lines that are not request lines. The first one is described here, with
     * its line; warning.line == 0 when there is none. */
    size_t nwarnings;
    mt_parse_err_t warning;
    /* private */
    char *mem_;     /* the bytes reqs[i].data points into */
    size_t mapped_; /* > 0: mem_ is an mmap of this size, else malloc'd */
} mt_ammo_t;

/* Parses ammo of the given type from buf (len bytes; need not be NUL-terminated; not
 * gunzipped: see mt_ammo_load) into *out, which the caller frees with mt_ammo_dispose. o may
 * be NULL (no host, no headers, default limits). buf is only read during the call: the
 * requests are copied.
 *
 * Returns MT_OK; on failure *out holds nothing (disposing it is harmless) and err (if not
 * NULL) says where and what: err->line (1-based; 0 when no line applies, e.g. a bad option
 * or "no requests in ammo"), err->col (1-based byte column in that line, 0 if none) and
 * err->msg, e.g. "header line without ':'" or "body length 5 runs past the end of the file".
 * Callers print it as "<file>:<line>: <msg>". Codes:
 *   MT_EPARSE  malformed input, or no requests at all;
 *   MT_ETOOBIG a limit was hit (MT_AMMO_MAX_*, max_requests, max_bytes, more than
 *              MT_MAX_TAGS - 1 distinct tags);
 *   MT_EINVAL  a bad option (o->host, o->headers, type);
 *   MT_ENOMEM. */
int mt_ammo_parse(const char *buf, size_t len, mt_ammo_type_t type, const mt_ammo_opts_t *o,
                  mt_ammo_t *out, mt_parse_err_t *err);

/* Reads the file at path, gunzips it when it starts with the gzip magic (several gzip
 * members are read one after another), and parses it as mt_ammo_parse does. Phantom ammo
 * is not copied: the requests point into the file's bytes, which *out keeps. Besides
 * mt_ammo_parse's codes: MT_ESYS (err->msg names the path and the system error, line 0),
 * MT_ETOOBIG (the file or its gunzipped data exceeds max_bytes), MT_EFORMAT (corrupt or
 * truncated gzip data). */
int mt_ammo_load(const char *path, mt_ammo_type_t type, const mt_ammo_opts_t *o, mt_ammo_t *out,
                 mt_parse_err_t *err);

/* Inflates gzip data (one or more members; trailing zero bytes are ignored) into a new
 * malloc'd buffer (*out, *out_len bytes, plus a NUL not counted); the caller frees *out.
 * MT_ETOOBIG if it inflates to more than max_out bytes, MT_EFORMAT for corrupt or truncated
 * data, MT_ENOMEM. err may be NULL; its line is 0. */
int mt_ammo_gunzip(const char *buf, size_t len, size_t max_out, char **out, size_t *out_len,
                   mt_parse_err_t *err);

/* Frees what mt_ammo_parse / mt_ammo_load allocated and zeroes *a. Safe on a zeroed struct
 * and twice. The requests and tags must no longer be in use (the run has ended). */
void mt_ammo_dispose(mt_ammo_t *a);

#endif
