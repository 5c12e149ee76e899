/* The built-in target server (`mortar target`): a fast multi-threaded HTTP/1.1 keep-alive
 * (and HTTP/2, TLS)
 * server to calibrate against. N worker threads, each with its own epoll loop and its own
 * SO_REUSEPORT listener; responses are pre-serialised once; nothing is allocated per request.
 *
 * Each request's behaviour comes from its query string over server-wide defaults (see
 * docs/target.md), and may be a fault:
 *   status=CODE or a weighted mix 200:90,503:10     size=BYTES (body of that many 'x')
 *   delay=DUR, LO..HI (uniform) or exp:MEAN         chunked=0|1   close=0|1
 *   reset=PCT (reset instead of answering)          slow=BYTES_PER_S
 *   malformed=PCT (a broken response, then close)
 * Random choices come from a per-thread PRNG seeded with cfg->seed and the thread index.
 * Unknown parameters or bad values are answered 400 with a plain-text body naming them.
 * GET /__mortar/stats answers the counters as JSON; /__mortar/reset answers them and zeroes
 * them. Neither is counted.
 *
 * Over TLS (a certificate, or one made at start) and HTTP/2 (ALPN h2, or the cleartext
 * preface) the same behaviours apply per stream; see docs/target.md.
 *
 * Like the engine, the server never prints, never exits and holds no globals.
 *
 * Life cycle:
 *   mt_target_new     validate, bind and listen (the port is known from here on)
 *   mt_target_start   spawn the worker threads
 *   mt_target_stop    ask them to finish (async-signal-safe)
 *   mt_target_wait    join them
 *   mt_target_free    release everything (stops and joins first if needed) */
#ifndef MORTAR_TARGET_H
#define MORTAR_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/error.h"

#define MT_TARGET_MAX_THREADS    256
#define MT_TARGET_MAX_STALLS     16
#define MT_TARGET_MAX_BODY       (1ull << 30)            /* size= and --body-size limit */
#define MT_TARGET_MAX_DELAY_NS   (3600ll * 1000000000ll) /* delay= limit: one hour */
#define MT_TARGET_RECV_BUF       4096 /* per-connection receive buffer: larger request heads get 431 */
#define MT_TARGET_H2_STREAMS     100               /* default SETTINGS_MAX_CONCURRENT_STREAMS */
#define MT_TARGET_MAX_H2_STREAMS 10000             /* largest --h2-max-streams */
#define MT_TARGET_STATS_PATH     "/__mortar/stats" /* GET: the counters as JSON */
#define MT_TARGET_RESET_PATH     "/__mortar/reset" /* GET or POST: the counters, then zero them */

/* Hold every response from start_ns (measured from the first request the server receives)
 * for len_ns: a response due in [start, start + len) is written at start + len. */
typedef struct mt_target_stall {
    int64_t start_ns;
    int64_t len_ns; /* > 0 */
} mt_target_stall_t;

typedef struct mt_target_config {
    const char *host;   /* numeric IPv4 or IPv6 address (no brackets); NULL: "127.0.0.1" */
    uint16_t port;      /* 0 picks a free port (read it back with mt_target_port) */
    int threads;        /* worker threads, 1..MT_TARGET_MAX_THREADS; 0: one per CPU */
    bool has_body_size; /* false: the default body is "ok\n" */
    uint64_t body_size; /* default body: this many 'x' (<= MT_TARGET_MAX_BODY) */
    const mt_target_stall_t *stalls; /* copied by mt_target_new; may be NULL if nstalls == 0 */
    size_t nstalls;                  /* <= MT_TARGET_MAX_STALLS */
    bool allow_remote; /* false: host must be a loopback address (127.0.0.0/8 or ::1) */
    /* Server-wide default behaviour in query-string syntax, e.g. "status=200:90,503:10&
     * delay=exp:20ms&malformed=1"; each request's own parameters override it. NULL or "":
     * none. Copied (parsed) by mt_target_new; a bad value fails it with MT_EINVAL. */
    const char *defaults;
    uint64_t seed; /* PRNG seed (thread i draws from a stream of seed and i); the CLI uses 1 */
    /* TLS (docs/target.md#tls): with a certificate (tls_cert and tls_key, PEM files) or
     * tls_self_signed (a P-256 key and certificate for localhost made at start, written as
     * PEM to tls_self_signed_out if not NULL), connections whose first byte is a TLS
     * handshake record speak TLS 1.2/1.3; others stay cleartext on the same port. */
    const char *tls_cert;
    const char *tls_key;
    bool tls_self_signed;
    const char *tls_self_signed_out;
    /* HTTP/2: offered by ALPN over TLS and recognised by its preface on cleartext (prior
     * knowledge), unless no_http2. h2_max_streams: SETTINGS_MAX_CONCURRENT_STREAMS,
     * 1..MT_TARGET_MAX_H2_STREAMS; 0: MT_TARGET_H2_STREAMS. */
    bool no_http2;
    uint32_t h2_max_streams;
    /* A request's query parameter the target does not know (status, size, delay, chunked,
     * close, reset, slow, malformed): false (the default) ignores it and counts it in
     * unknown_params, as an application's own parameters in recorded ammo; true answers the
     * request 400 (bad_params). A known parameter with a bad value is a 400 either way. */
    bool strict_params;
} mt_target_config_t;

/* Totals over all threads since start (/__mortar/reset does not change these). Requests to
 * /__mortar/ are not counted, nor are connections whose first request went there. */
typedef struct mt_target_stats {
    uint64_t connections;    /* accepted */
    uint64_t requests;       /* request heads (well-formed or not) */
    uint64_t responses;      /* responses queued (including error responses; not resets or
                              * malformed responses) */
    uint64_t bad_requests;   /* malformed requests (answered 400/431/501/505 and closed) */
    uint64_t bad_params;     /* well-formed requests with a bad query (answered 400) */
    uint64_t unknown_params; /* query parameters ignored because the target does not know them
                              * (not with strict_params) */
    uint64_t accept_errors;  /* accept4 failures other than EAGAIN (e.g. EMFILE) */
    uint64_t resets;         /* connections reset instead of a response (reset=) */
    uint64_t malformed;      /* malformed responses sent (malformed=) */
    uint64_t closes;         /* responses after which the server closed (close=1, Connection:
                              * close, HTTP/1.0) */
    uint64_t bytes_in;
    uint64_t bytes_out; /* all bytes written except those of /__mortar/ responses (over TLS:
                         * plaintext; over HTTP/2: response body bytes) */
    uint64_t tls_handshakes_full;
    uint64_t tls_handshakes_resumed;
    uint64_t tls_errors; /* failed handshakes and TLS errors on established connections */
    uint64_t h2_connections;
    uint64_t h2_streams;     /* request streams opened by clients */
    uint64_t h2_goaways;     /* GOAWAY frames sent */
    uint64_t h2_rst_streams; /* RST_STREAM frames sent */
} mt_target_stats_t;

typedef struct mt_target mt_target_t;

/* Validates cfg, prepares the responses, binds and listens. On success *out is owned by the
 * caller (release with mt_target_free). On failure returns MT_EINVAL (bad config; also a
 * non-loopback host without allow_remote), MT_ESYS (socket/bind/listen/epoll failed) or
 * MT_ENOMEM, and writes a one-line description to err (if err != NULL, errlen > 0), e.g.
 * "bind 127.0.0.1:80: Permission denied". */
int mt_target_new(const mt_target_config_t *cfg, mt_target_t **out, char *err, size_t errlen);

/* The port listened on (the chosen one when cfg->port was 0). */
uint16_t mt_target_port(const mt_target_t *t);

/* Number of worker threads (after resolving threads == 0). */
int mt_target_threads(const mt_target_t *t);

/* Spawns the worker threads; they serve until mt_target_stop. All signals are blocked in
 * them, so a process's signals go to its other threads. Returns MT_OK, MT_EINVAL if already
 * started, or MT_ESYS (pthread_create failed; the threads already running are stopped). */
int mt_target_start(mt_target_t *t);

/* Asks the workers to finish: they close their connections and return. Async-signal-safe,
 * callable from any thread, any number of times. */
void mt_target_stop(mt_target_t *t);

/* Waits for the workers to finish (call mt_target_stop first, or from another thread).
 * Returns MT_OK, or the first fatal worker error (MT_ESYS if epoll_wait itself failed). */
int mt_target_wait(mt_target_t *t);

/* Totals; exact once mt_target_wait has returned (approximate while running). */
void mt_target_stats(const mt_target_t *t, mt_target_stats_t *out);

/* Stops and joins the workers if needed, closes the sockets and frees t. NULL is fine. */
void mt_target_free(mt_target_t *t);

/* True if host is a numeric loopback address: 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. */
bool mt_target_is_loopback(const char *host);

/* Parses a listening address "ADDR:PORT" or "[IPV6]:PORT" (the target's --listen; ADDR is a
 * numeric IPv4 address or "localhost" for 127.0.0.1, brackets hold only an IPv6 address) into
 * host (NUL-terminated, at most hostcap bytes with the NUL, no brackets) and *port
 * (0..65535). Returns MT_OK, or MT_EINVAL with a message in err (if err != NULL, errlen > 0),
 * e.g. "bad port 'x'"; host and *port are then unspecified. Does not check that ADDR is a
 * loopback address. */
int mt_target_parse_listen(const char *text, char *host, size_t hostcap, uint16_t *port, char *err,
                           size_t errlen);

/* Parses a stall "START:LEN" (the target's --stall; durations as mt_parse_duration, START >= 0,
 * LEN > 0) into *out. Returns MT_OK, or MT_EINVAL with a message in err (as above),
 * e.g. "expected START:LEN (like 3s:1s), got '3s'"; *out is then unchanged. */
int mt_target_parse_stall(const char *text, mt_target_stall_t *out, char *err, size_t errlen);

/* Checks a default behaviour (the syntax of mt_target_config_t.defaults). Returns MT_OK, or
 * MT_EINVAL with a one-line message naming the parameter in err (if err != NULL, errlen > 0),
 * e.g. "status: '99' is not a status code 200..599 or a mix like 200:90,503:10". */
int mt_target_check_behaviour(const char *query, char *err, size_t errlen);

/* Parses a byte count: decimal digits with an optional k, m or g suffix (powers of 1024).
 * Returns MT_OK, MT_EPARSE (not a number) or MT_ERANGE (above MT_TARGET_MAX_BODY). */
int mt_target_parse_size(const char *text, size_t len, uint64_t *out);

#endif
