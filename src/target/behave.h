/* Target server internals: what one request asks for (resolved from its query string over the
 * server-wide defaults), the per-thread PRNG that turns mixes and distributions into one
 * outcome, and how response heads and chunked bodies are written. Pure functions, no I/O, no
 * allocation.
 *
 * New behaviours go here: a field in mt__tgt_behave_t, a query parameter in behave.c, the
 * draw (if random) in mt__tgt_pick, and the worker acting on it in target.c. */
#ifndef MT_TARGET_BEHAVE_H
#define MT_TARGET_BEHAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MT__TGT_MSG_MAX    160        /* plain-text error body, including its newline */
#define MT__TGT_HEAD_MAX   160        /* longest head mt__tgt_format_head writes */
#define MT__TGT_MAX_MIX    16         /* entries in a status mix */
#define MT__TGT_MAX_WEIGHT 1000000u   /* largest weight in a status mix */
#define MT__TGT_PCT_ONE    100000000u /* probabilities are parts of this (100 %, 6 decimals) */
#define MT__TGT_CHUNK      16384      /* payload of each chunk of a chunked body (hex "4000") */

enum mt__tgt_delay_kind {
    MT__TGT_DELAY_FIXED = 0, /* delay_ns */
    MT__TGT_DELAY_UNIFORM,   /* uniform in [delay_ns, delay_hi_ns] */
    MT__TGT_DELAY_EXP,       /* exponential with mean delay_ns, capped at one hour */
};

/* What a request asks for: a specification, possibly random (a status mix, a delay
 * distribution, fault probabilities); mt__tgt_pick draws one outcome from it. */
typedef struct mt__tgt_behave {
    uint16_t status;    /* the status when nmix == 1; the first entry of a mix otherwise */
    uint8_t nmix;       /* entries in the status mix, 1..MT__TGT_MAX_MIX */
    uint8_t delay_kind; /* enum mt__tgt_delay_kind */
    bool has_size;      /* false: the server's default body */
    bool chunked;       /* Transfer-Encoding: chunked body */
    bool close;         /* Connection: close, and close after the response */
    uint16_t mix_status[MT__TGT_MAX_MIX];
    uint32_t mix_cum[MT__TGT_MAX_MIX]; /* cumulative weights; mix_cum[nmix - 1] > 0 is the total */
    uint64_t size;                     /* body bytes when has_size */
    int64_t delay_ns;    /* fixed delay, uniform low end or exponential mean (0..1 h) */
    int64_t delay_hi_ns; /* uniform high end (>= delay_ns) */
    uint32_t reset;      /* probability of a reset instead of a response, parts of PCT_ONE */
    uint32_t malformed;  /* probability of a malformed response, parts of PCT_ONE */
    uint64_t slow_bps;   /* write the response at this many bytes/s; 0: as fast as possible */
} mt__tgt_behave_t;

/* The built-in defaults: 200, the default body, no delay, no faults. */
void mt__tgt_behave_init(mt__tgt_behave_t *b);

/* Applies query parameters ("status=503&delay=10ms", no '?') on top of b. Returns 0, or -1
 * with msg (NUL-terminated, ends with "\n", at most MT__TGT_MSG_MAX bytes with the NUL) naming
 * the parameter and the problem, e.g. "unknown query parameter: 'foo' (known: ...)\n"; b is
 * then partly updated and should be discarded. Used for the server-wide defaults (the CLI
 * flags) and, through mt__tgt_behave_parse_over, for each request. */
int mt__tgt_behave_apply(const char *query, size_t len, mt__tgt_behave_t *b, char *msg);

/* Resolves a request-target (path and query; only the query matters) over defaults (NULL:
 * the built-in ones) into out. Returns 0, or -1 with msg as for mt__tgt_behave_apply. */
int mt__tgt_behave_parse_over(const mt__tgt_behave_t *defaults, const char *target, size_t len,
                              mt__tgt_behave_t *out, char *msg);

/* mt__tgt_behave_parse_over with a policy for parameters the target does not know: strict,
 * they fail it as there; otherwise they are skipped (a real application's own parameters, as
 * in recorded URI ammo) and counted in *unknown (if not NULL). A known parameter with a bad
 * value fails it either way. */
int mt__tgt_behave_resolve(const mt__tgt_behave_t *defaults, const char *target, size_t len,
                           bool strict, mt__tgt_behave_t *out, uint32_t *unknown, char *msg);

/* mt__tgt_behave_parse_over with the built-in defaults. */
int mt__tgt_behave_parse(const char *target, size_t len, mt__tgt_behave_t *out, char *msg);

/* ---- outcomes ------------------------------------------------------------------------------ */

/* splitmix64: a 64-bit state, one add and two multiplies per number, passes BigCrush. Each
 * worker thread owns one state, seeded with mt__tgt_rand_seed(seed, thread index). */
uint64_t mt__tgt_rand(uint64_t *state);
uint64_t mt__tgt_rand_seed(uint64_t seed, unsigned stream);

enum mt__tgt_action {
    MT__TGT_RESPOND = 0, /* an ordinary response */
    MT__TGT_RESET,       /* no response: reset the connection */
    MT__TGT_MALFORMED,   /* a malformed response, then close */
};

typedef struct mt__tgt_pick {
    uint16_t status;
    uint8_t action; /* enum mt__tgt_action */
    int64_t delay_ns;
} mt__tgt_pick_t;

/* Draws one outcome. Numbers are drawn only for what is random (a mix of two or more
 * statuses, a delay range or distribution, a reset or malformed probability strictly between
 * 0 and 100 %), in that order, so a fixed seed and a fixed request sequence give a fixed
 * sequence of outcomes. */
void mt__tgt_pick(const mt__tgt_behave_t *b, uint64_t *rng, mt__tgt_pick_t *out);

/* Kinds of malformed responses, in the order a worker cycles through them. */
enum mt__tgt_malformed_kind {
    MT__TGT_MAL_STATUS_LINE = 0, /* "HTTP/1.1 2x0 OK" */
    MT__TGT_MAL_CHUNK_SIZE,      /* Transfer-Encoding: chunked, then "zz\r\n" */
    MT__TGT_MAL_TRUNCATED,       /* Content-Length larger than the body sent, then close */
    MT__TGT_MAL_OVERSIZED,       /* a header block larger than 64 KiB */
    MT__TGT_MAL_KINDS
};

/* "status_line", "chunk_size", "truncated", "oversized_headers" (the stats JSON keys). */
extern const char *const mt__tgt_malformed_names[MT__TGT_MAL_KINDS];

/* ---- writing -------------------------------------------------------------------------------- */

/* How the response speaks about the connection (low bits of mt__tgt_format_head's `conn`). */
enum { MT__TGT_CONN_NONE = 0, MT__TGT_CONN_CLOSE, MT__TGT_CONN_KEEP_ALIVE };
#define MT__TGT_CONN_MASK    0x0f
#define MT__TGT_HEAD_CHUNKED 0x10 /* "Transfer-Encoding: chunked" instead of Content-Length */
#define MT__TGT_HEAD_JSON    0x20 /* "Content-Type: application/json" instead of text/plain */

/* True if status carries no body and no Content-Length (204, 304). */
bool mt__tgt_status_bodyless(unsigned status);

/* Writes "HTTP/1.1 <status> <reason>\r\nContent-Type: text/plain\r\nContent-Length: <n>\r\n
 * [Connection: close|keep-alive\r\n]\r\n" to buf (at least MT__TGT_HEAD_MAX bytes); bodyless
 * statuses get no Content-Length (nor Transfer-Encoding). conn is MT__TGT_CONN_*, optionally
 * or-ed with MT__TGT_HEAD_CHUNKED and MT__TGT_HEAD_JSON. Returns the length. */
size_t mt__tgt_format_head(char *buf, unsigned status, uint64_t content_length, int conn);

/* Chunked bodies of `body` payload bytes: chunks of MT__TGT_CHUNK bytes ("4000\r\n" DATA
 * "\r\n"), a last shorter chunk if needed, then the last-chunk "0\r\n\r\n". */

/* Bytes on the wire for a chunked body of `body` payload bytes. */
uint64_t mt__tgt_chunked_len(uint64_t body);

/* Writes the size line of the last, shorter chunk ("e20\r\n") to tail (at least 6 bytes) and
 * returns its length; 0 if body is a multiple of MT__TGT_CHUNK (there is no shorter chunk). */
size_t mt__tgt_chunked_tail(char *tail, uint64_t body);

/* Describes wire bytes [off, mt__tgt_chunked_len(body)) of a chunked body as at most max
 * iovecs holding at most limit bytes in all; payload points into filler (at least
 * MT__TGT_CHUNK bytes of it), the short chunk's size line into tail (as written by
 * mt__tgt_chunked_tail), the rest into static strings. Returns the iovecs used and adds
 * their bytes to *bytes. */
size_t mt__tgt_chunked_iov(uint64_t body, const char *tail, uint64_t off, const char *filler,
                           struct iovec *iov, size_t max, uint64_t limit, uint64_t *bytes);

/* ---- protocol detection -------------------------------------------------------------------- */

/* The HTTP/2 client connection preface (RFC 9113, 3.4), 24 bytes. */
#define MT__TGT_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define MT__TGT_H2_PREFACE_LEN 24

/* What the first bytes of a cleartext connection are: 1 the HTTP/2 preface (all of it is in
 * buf), 0 a prefix of it (wait for more), -1 something else (HTTP/1). */
int mt__tgt_h2_sniff(const char *buf, size_t len);

#endif
