/* THE table of run keys: every setting a run has, once. A new key is one line here (plus its
 * meaning in runspec.c's setter); the config-file reader, the JSON reader, the command-line
 * loop, the canonical JSON, the "reads a local file" rule and the docs tests all read it.
 *
 * X(ID, name, long flag, short flag, type, default, min, max, marks, doc)
 *   name     the key in --config files and API/canonical JSON ('-' and '_' are the same)
 *   long     `mortar run --LONG` (NULL: not a flag); short: 'c' for -c, or 0
 *   type     URL INT NUM DUR STR BOOL LIST CRITS (CRITS: a list; one string may hold several
 *            Tank-style criteria)
 *   default  the default as text for docs and the canonical form (NULL: none, or computed)
 *   min/max  limits of INT and NUM keys (0/0: checked by the setter)
 *   marks    MT_RSK_READS (the value names a local file that is read), MT_RSK_READS_AT (read
 *            when the value starts with '@'), MT_RSK_WRITES (a local file is written),
 *            MT_RSK_SERVER (only for runs started through `mortar serve`), MT_RSK_CONSOLE
 *            (how the CLI prints; no effect on the load)
 *   doc      one line for people (docs/config.md's table is checked against it) */
#ifndef MT_RUNSPEC_KEYS_H
#define MT_RUNSPEC_KEYS_H

#define MT_RSK_READS    0x01u
#define MT_RSK_READS_AT 0x02u
#define MT_RSK_WRITES   0x04u
#define MT_RSK_SERVER   0x08u
#define MT_RSK_CONSOLE  0x10u

/* clang-format off */
#define MT_RUNSPEC_KEYS(X)                                                                         \
    X(URL, "url", NULL, 0, URL, NULL, 0, 0, 0,                                                     \
      "the target URL, http:// or https:// (the command line's URL argument wins)")               \
    X(CONNECTIONS, "connections", "connections", 'c', INT, "10", 1, 1000000, 0,                    \
      "connections to keep open (open model: at most N)")                                          \
    X(THREADS, "threads", "threads", 't', INT, NULL, 1, 1024, 0,                                   \
      "worker threads [the machine's CPUs, at most connections]")                                  \
    X(DURATION, "duration", "duration", 'd', DUR, "10s", 0, 0, 0,                                  \
      "run length: 10s, 1m30s, 500ms [10s; a schedule's own length]")                              \
    X(RATE, "rate", "rate", 'R', NUM, NULL, 0, 1e9, 0,                                             \
      "open model: requests per second for the duration")                                          \
    X(SCHEDULE, "schedule", "schedule", 0, STR, NULL, 0, 0, 0,                                     \
      "open model, Yandex.Tank steps: 'line(1,100,10s) const(100,20s)'")                           \
    X(HEADER, "header", "header", 'H', LIST, NULL, 0, 0, 0,                                        \
      "request headers 'Name: value' (a string or a list)")                                        \
    X(METHOD, "method", "method", 'm', STR, "GET", 0, 0, 0, "request method")                      \
    X(BODY, "body", "body", 0, STR, NULL, 0, 0, MT_RSK_READS_AT,                                   \
      "request body text, or @FILE (@- stdin); sets Content-Length")                               \
    X(TIMEOUT, "timeout", "timeout", 'T', DUR, "2s", 0, 0, 0,                                      \
      "per-request timeout, connect included; 0 = none")                                           \
    X(GRACE, "grace", "grace", 0, DUR, "10s", 0, 0, 0,                                             \
      "after the duration, wait up to DUR for requests in flight; 0 = abandon them at once")      \
    X(MAX_QUEUE, "max-queue", "max-queue", 0, INT, NULL, 1, 1099511627776.0, 0,                    \
      "open model: bound on the due-but-unsent backlog")                                           \
    X(TICK, "tick", "tick", 0, DUR, NULL, 0, 0, 0,                                                 \
      "open model: wake for due requests at most once per DUR [0: exact]")                        \
    X(SEND_TOLERANCE, "send-tolerance", "send-tolerance", 0, DUR, "100us", 0, 0, 0,                \
      "batched waits: a send due at t leaves by t + DUR; 0 = wake for every event")               \
    X(NO_KERNEL_TIMESTAMPS, "no-kernel-timestamps", "no-kernel-timestamps", 0, BOOL, "false", 0,   \
      0, 0, "time responses by the user-space clock (no SO_TIMESTAMPING); waits are then exact")  \
    X(IO, "io", "io", 0, STR, "auto", 0, 0, 0,                                                    \
      "I/O loop: auto (io_uring for closed-model plain HTTP/1.1 when the kernel has it), epoll, io_uring") \
    X(JSON, "json", "json", 0, STR, NULL, 0, 0, MT_RSK_WRITES,                                     \
      "write the result as JSON to FILE (- for stdout)")                                           \
    X(PHOUT, "phout", "phout", 0, STR, NULL, 0, 0, MT_RSK_WRITES,                                  \
      "write one Phantom/Yandex.Tank phout line per request to FILE")                              \
    X(HTML, "html", "html", 0, STR, NULL, 0, 0, MT_RSK_WRITES,                                     \
      "write a self-contained HTML report to FILE")                                                \
    X(QUIET, "quiet", "quiet", 'q', BOOL, "false", 0, 0, MT_RSK_CONSOLE,                           \
      "no live progress line")                                                                     \
    X(LATENCY, "latency", "latency", 'L', BOOL, "false", 0, 0, MT_RSK_CONSOLE,                     \
      "also print the full percentile distribution")                                               \
    X(AMMO, "ammo", "ammo", 0, STR, NULL, 0, 0, MT_RSK_READS,                                      \
      "send the requests of a Yandex.Tank ammo FILE (gzip ok)")                                    \
    X(AMMO_TYPE, "ammo-type", "ammo-type", 0, STR, NULL, 0, 0, 0,                                  \
      "uri, uripost, phantom, access [auto]")                                                      \
    X(AMMO_ORDER, "ammo-order", "ammo-order", 0, STR, "sequential", 0, 0, 0,                       \
      "sequential (loops) or random")                                                              \
    X(URI, "uri", "uri", 0, LIST, NULL, 0, 0, 0,                                                   \
      "request paths 'PATH [TAG]' (uri-ammo style; a string or a list)")                           \
    X(SEED, "seed", "seed", 0, INT, "1", 0, 9223372036854775807.0, 0,                              \
      "seed of ammo-order random")                                                                 \
    X(AUTOSTOP, "autostop", "autostop", 0, CRITS, NULL, 0, 0, 0,                                   \
      "Yandex.Tank autostop criteria, e.g. 'quantile(95,100ms,10s)'")                              \
    X(THRESHOLD, "threshold", "threshold", 0, LIST, NULL, 0, 0, 0,                                 \
      "k6-style pass/fail thresholds: 'p(99)<200ms', 'errors<1%'")                                 \
    X(EXPECTED_STATUSES, "expected_statuses", "expected-status", 0, STR, "200-399", 0, 0, 0,       \
      "statuses that are not failures for http_req_failed/failed: '200-299,404'")                  \
    X(INSECURE, "insecure", "insecure", 'k', BOOL, "false", 0, 0, 0,                               \
      "https: do not verify the server's certificate")                                             \
    X(CACERT, "cacert", "cacert", 0, STR, NULL, 0, 0, MT_RSK_READS,                                \
      "https: trust the CA certificates in FILE (PEM)")                                            \
    X(CERT, "cert", "cert", 0, STR, NULL, 0, 0, MT_RSK_READS,                                      \
      "https: client certificate FILE (PEM)")                                                      \
    X(KEY, "key", "key", 0, STR, NULL, 0, 0, MT_RSK_READS, "https: the client certificate's key FILE") \
    X(TLS, "tls", "tls", 0, STR, NULL, 0, 0, 0, "https: TLS version 1.2 or 1.3 only")             \
    X(TLS_MIN, "tls-min", "tls-min", 0, STR, NULL, 0, 0, 0, "https: lowest TLS version (1.2, 1.3)") \
    X(TLS_MAX, "tls-max", "tls-max", 0, STR, NULL, 0, 0, 0, "https: highest TLS version (1.2, 1.3)") \
    X(NO_TLS_RESUME, "no-tls-resume", "no-tls-resume", 0, BOOL, "false", 0, 0, 0,                  \
      "https: full handshake on every connection")                                                 \
    X(HTTP2, "http2", "http2", 0, BOOL, "false", 0, 0, 0,                                          \
      "HTTP/2 (ALPN h2 over https; prior knowledge over http)")                                    \
    X(STREAMS, "streams", "streams", 0, INT, NULL, 1, 65536, 0,                                    \
      "HTTP/2: concurrent streams per connection [closed: 10; open: 100]")                         \
    X(PHOUT_TLS, "phout-tls", "phout-tls", 0, BOOL, "false", 0, 0, 0,                              \
      "phout: a 13th column, the TLS handshake time")                                              \
    X(AGENTS, "agents", NULL, 0, INT, "1", 1, 1024, MT_RSK_SERVER,                                 \
      "mortar serve: how many agents share the run")                                               \
    X(AGENT_LABELS, "agent_labels", NULL, 0, STR, NULL, 0, 0, MT_RSK_SERVER,                       \
      "mortar serve: label selector the agents must match ('zone=a,gpu!=yes')")                   \
    X(ON_AGENT_LOSS, "on_agent_loss", NULL, 0, STR, "error", 0, 0, MT_RSK_SERVER,                  \
      "mortar serve: error (end the run) or continue without the lost agent's share")              \
    X(PLACEMENT_TIMEOUT, "placement_timeout", NULL, 0, DUR, "60s", 0, 0, MT_RSK_SERVER,            \
      "mortar serve: how long a run waits for its agents before it ends in error (0: forever)") \
    X(SCRIPT, "script", NULL, 0, STR, NULL, 0, 0, MT_RSK_READS_AT,                                 \
      "a wrk Lua script: its text, or @FILE (mortar run -s FILE)")                                \
    X(SCRIPT_ARGS, "script_args", NULL, 0, LIST, NULL, 0, 0, 0,                                    \
      "the script's init(args) (mortar run -s FILE URL -- ARGS)")                                 \
    X(TRACE, "trace", "trace", 0, NUM, NULL, 0, 1, 0,                                             \
      "send a W3C traceparent on every request; the share sampled, 0..1 [off; --trace alone: 1]") \
    X(TRACE_URL, "trace_url", "trace-url", 0, STR, NULL, 0, 0, 0,                                  \
      "link template of a trace id: 'https://tempo.internal/trace/{trace_id}'")
/* clang-format on */

typedef enum mt_rs_type {
    MT_RS_URL,
    MT_RS_INT,
    MT_RS_NUM,
    MT_RS_DUR,
    MT_RS_STR,
    MT_RS_BOOL,
    MT_RS_LIST,
    MT_RS_CRITS,
} mt_rs_type_t;

typedef enum mt_rs_key_id {
#define MT__RS_ID(id, ...) MT_RSK_##id,
    MT_RUNSPEC_KEYS(MT__RS_ID)
#undef MT__RS_ID
        MT_RSK__COUNT
} mt_rs_key_id_t;

typedef struct mt_rs_key {
    mt_rs_key_id_t id;
    const char *name;
    const char *flag; /* long flag without "--", or NULL */
    char shortflag;   /* or 0 */
    mt_rs_type_t type;
    const char *dflt; /* NULL: none or computed */
    double min, max;  /* INT/NUM limits (0/0: the setter checks) */
    unsigned marks;   /* MT_RSK_* */
    const char *doc;
} mt_rs_key_t;

/* The table, in MT_RUNSPEC_KEYS order (mt_rs_keys[id].id == id). */
extern const mt_rs_key_t mt_rs_keys[MT_RSK__COUNT];

/* The key named name ('_' and '-' are the same), or NULL. */
const mt_rs_key_t *mt_rs_key_find(const char *name);
/* The key whose long flag is flag (without "--"), or NULL. */
const mt_rs_key_t *mt_rs_key_by_flag(const char *flag);

#endif
