/* `mortar run [flags] URL`: parse the flags (wrk-compatible where wrk has them) into run_opts_t,
 * build the request and the schedule once, drive the engine, print the live line and the
 * summary, write the JSON result. run_parse_args does all the checking and building without
 * running anything, so tests/unit/test_cli_args.c can call it directly. */
#include "cli/cli.h"
#include "cli/config.h"
#include "mortar/ammo.h"
#include "cli/json_out.h"
#include "cli/phout.h"
#include "cli/readall.h"
#include "cli/report.h"
#include "cli/verdicts.h"
#include "cli/output.h"
#include "mortar/engine.h"
#include "mortar/http1.h"
#include "mortar/schedule.h"
#include "proto/request.h"
#include "proto/url.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RUN_EXIT_OK       0
#define RUN_EXIT_INTERNAL 1
#define RUN_EXIT_USAGE    2

#define RUN_DEFAULT_CONNECTIONS 10
#define RUN_DEFAULT_DURATION_NS (10 * 1000000000LL)
#define RUN_DEFAULT_TIMEOUT_NS  (2 * 1000000000LL) /* wrk's */
#define RUN_MAX_CONNECTIONS     1000000
#define RUN_MAX_THREADS         1024
#define RUN_MAX_RATE            1e9
#define RUN_MAX_QUEUE           (1ULL << 40)
#define RUN_MAX_HEADERS         1024

typedef struct run_opts {
    int connections;
    int threads;
    bool threads_set;
    int64_t duration_ns; /* -d, or the default */
    bool duration_set;
    double rate;              /* -R; 0 = not given */
    const char *schedule_txt; /* --schedule; NULL = not given */
    mt_sched_t sched;         /* built from -R or --schedule */
    bool open_model;
    uint64_t planned;     /* open model: requests due within the run */
    int64_t planned_ns;   /* the run's planned length */
    int64_t timeout_ns;   /* 0 = none */
    uint64_t max_queue;   /* 0 = engine default */
    int64_t tick_ns;      /* --tick: open-model wake-up granularity; 0 = exact */
    const char *method;   /* borrowed from argv or "GET" */
    mt_header_t *headers; /* slices of argv strings */
    size_t nheaders;
    char *body; /* owned */
    size_t body_len;
    bool has_body;
    bool method_set;
    const char *ammo_path;     /* --ammo */
    const char *ammo_type_txt; /* --ammo-type; NULL = auto */
    int ammo_order;            /* MT_ORDER_* */
    uint64_t seed;             /* --seed: random ammo order */
    const char **uris;         /* --uri (repeatable): inline uri-style ammo lines */
    size_t nuris;
    mt_ammo_t ammo; /* built from --ammo or --uri */
    bool has_ammo;
    mt__verdicts_t verdicts; /* --autostop, --threshold */
    const char *json_path;   /* NULL = no JSON, "-" = stdout */
    const char *phout_path;  /* NULL = no phout */
    const char *html_path;   /* --html: the HTML report; NULL = none */
    bool quiet;
    bool latency; /* --latency: full percentile distribution */
    bool help;
    bool version;
    const char *url_txt;
    mt_url_t url;
    char *request; /* owned: the bytes sent */
    size_t request_len;
    unsigned parse_flags;  /* MT_H1_NO_BODY for HEAD */
    mt_tls_config_t tls;   /* -k, --cacert, --cert, --key, --tls*, --no-tls-resume */
    mt_tls_ctx_t *tls_ctx; /* owned; built for https:// URLs */
    bool http2;            /* --http2 */
    int streams;           /* --streams */
    bool streams_set;
    bool phout_tls; /* --phout-tls: a 13th phout column with the TLS handshake time */
} run_opts_t;

enum {
    RUN_OPT_SCHEDULE = 256,
    RUN_OPT_BODY,
    RUN_OPT_TIMEOUT,
    RUN_OPT_MAX_QUEUE,
    RUN_OPT_JSON,
    RUN_OPT_TICK,
    RUN_OPT_PHOUT,
    RUN_OPT_HTML,
    RUN_OPT_AMMO,
    RUN_OPT_AMMO_TYPE,
    RUN_OPT_AMMO_ORDER,
    RUN_OPT_URI,
    RUN_OPT_SEED,
    RUN_OPT_AUTOSTOP,
    RUN_OPT_CONFIG,
    RUN_OPT_THRESHOLD,
    RUN_OPT_VERSION,
    RUN_OPT_CACERT,
    RUN_OPT_CERT,
    RUN_OPT_KEY,
    RUN_OPT_TLS,
    RUN_OPT_TLS_MIN,
    RUN_OPT_TLS_MAX,
    RUN_OPT_NO_TLS_RESUME,
    RUN_OPT_HTTP2,
    RUN_OPT_STREAMS,
    RUN_OPT_PHOUT_TLS,
};

static const struct option run_longopts[] = {
    {"connections", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"duration", required_argument, NULL, 'd'},
    {"rate", required_argument, NULL, 'R'},
    {"schedule", required_argument, NULL, RUN_OPT_SCHEDULE},
    {"header", required_argument, NULL, 'H'},
    {"method", required_argument, NULL, 'm'},
    {"body", required_argument, NULL, RUN_OPT_BODY},
    {"timeout", required_argument, NULL, RUN_OPT_TIMEOUT},
    {"max-queue", required_argument, NULL, RUN_OPT_MAX_QUEUE},
    {"json", required_argument, NULL, RUN_OPT_JSON},
    {"tick", required_argument, NULL, RUN_OPT_TICK},
    {"phout", required_argument, NULL, RUN_OPT_PHOUT},
    {"html", required_argument, NULL, RUN_OPT_HTML},
    {"ammo", required_argument, NULL, RUN_OPT_AMMO},
    {"ammo-type", required_argument, NULL, RUN_OPT_AMMO_TYPE},
    {"ammo-order", required_argument, NULL, RUN_OPT_AMMO_ORDER},
    {"uri", required_argument, NULL, RUN_OPT_URI},
    {"seed", required_argument, NULL, RUN_OPT_SEED},
    {"autostop", required_argument, NULL, RUN_OPT_AUTOSTOP},
    {"config", required_argument, NULL, RUN_OPT_CONFIG},
    {"threshold", required_argument, NULL, RUN_OPT_THRESHOLD},
    {"insecure", no_argument, NULL, 'k'},
    {"cacert", required_argument, NULL, RUN_OPT_CACERT},
    {"cert", required_argument, NULL, RUN_OPT_CERT},
    {"key", required_argument, NULL, RUN_OPT_KEY},
    {"tls", required_argument, NULL, RUN_OPT_TLS},
    {"tls-min", required_argument, NULL, RUN_OPT_TLS_MIN},
    {"tls-max", required_argument, NULL, RUN_OPT_TLS_MAX},
    {"no-tls-resume", no_argument, NULL, RUN_OPT_NO_TLS_RESUME},
    {"http2", no_argument, NULL, RUN_OPT_HTTP2},
    {"streams", required_argument, NULL, RUN_OPT_STREAMS},
    {"phout-tls", no_argument, NULL, RUN_OPT_PHOUT_TLS},
    {"quiet", no_argument, NULL, 'q'},
    {"latency", no_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, RUN_OPT_VERSION},
    {NULL, 0, NULL, 0},
};
#define RUN_SHORTOPTS ":c:t:d:R:H:m:kqLh"

static void run_usage(FILE *f)
{
    fprintf(f,
            "Usage: mortar run [flags] URL\n"
            "\n"
            "Load-test an HTTP/1.1 or HTTP/2 server, plain or over TLS (https://). Closed model by "
            "default (each connection sends its\n"
            "next request when the previous response ends); -R or --schedule switch to the open\n"
            "model (requests are due on a timetable; latency counts from the due time).\n"
            "\n"
            "  -c, --connections N   connections to keep open (open model: at most N) [10]\n"
            "  -t, --threads N       worker threads [CPUs, at most N connections]\n"
            "  -d, --duration DUR    run length: 10s, 1m30s, 500ms [10s; schedule's length]\n"
            "  -R, --rate N          open model: N requests per second for the duration\n"
            "      --schedule STEPS  open model, Yandex.Tank steps:\n"
            "                        'line(1,100,10s) const(100,20s) step(10,50,10,5s)'\n"
            "  -H, --header 'N: V'   add a header (repeatable); replaces Host/User-Agent/Accept\n"
            "  -m, --method M        request method [GET]\n"
            "      --body @FILE|TEXT request body (@- reads stdin); sets Content-Length\n"
            "      --timeout DUR     per-request timeout, connect included; 0 = none [2s]\n"
            "      --max-queue N     open model: due-but-unsent backlog bound\n"
            "                        [max(10000, 10 x connections, 10 s at peak rate)]\n"
            "      --tick DUR        open model: wake for due requests at most once per DUR,\n"
            "                        trading send precision for CPU (e.g. 1ms) [0: exact]\n"
            "      --json FILE       write the result as JSON (- for stdout)\n"
            "      --phout FILE      write one Phantom/Yandex.Tank phout line per request\n"
            "      --html FILE       write a self-contained HTML report with charts\n"
            "      --ammo FILE       send the requests of a Yandex.Tank ammo file (gzip ok);\n"
            "                        the URL then only says where to connect\n"
            "      --ammo-type T     uri, uripost, phantom, access [auto: phantom if the file\n"
            "                        starts with a digit, else uri]\n"
            "      --ammo-order O    sequential (loops) or random [sequential]\n"
            "      --uri 'PATH [TAG]' a request path (repeatable; uri-ammo style)\n"
            "      --seed N          seed of --ammo-order random [1]\n"
            "      --config FILE     read options from a YAML/JSON file (keys are the long flag\n"
            "                        names, plus url) or a Yandex.Tank load.yaml; flags override\n"
            "      --autostop CRIT   Yandex.Tank criterion, e.g. 'quantile(95,100ms,10s)'\n"
            "                        (repeatable); a trip stops the run, exit 21..30\n"
            "      --threshold EXPR  pass/fail at the end, k6 style: 'p(99)<200ms',\n"
            "                        'errors<1%%', 'p(95)<1s;abortOnFail' (repeatable); exit 99\n"
            "  -k, --insecure        https: do not verify the server's certificate\n"
            "      --cacert FILE     https: trust the CA certificates in FILE (PEM)\n"
            "      --cert FILE       https: client certificate (PEM); --key FILE its key\n"
            "      --tls V           https: TLS version 1.2 or 1.3 only (--tls-min/--tls-max V)\n"
            "      --no-tls-resume   https: full handshake on every connection\n"
            "      --http2           HTTP/2 (ALPN h2 over https; prior knowledge over http)\n"
            "      --streams N       HTTP/2: concurrent streams per connection [1; closed: 10]\n"
            "      --phout-tls       phout: add a 13th column, the TLS handshake time\n"
            "  -q, --quiet           no live progress line\n"
            "  -L, --latency         also print the full percentile distribution\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit status: 0 run completed (target errors are counted, not failures), 1 internal\n"
            "error (e.g. the JSON file could not be written), 2 bad flags or URL, 130 interrupted\n"
            "by SIGINT (143 by SIGTERM). See docs/cli.md.\n");
}

static int run_err(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "mortar run: <message>" into buf; returns the usage exit code. */
static int run_err(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(buf, n, "mortar run: ");
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < n)
        vsnprintf(buf + k, n - (size_t)k, fmt, ap);
    va_end(ap);
    return RUN_EXIT_USAGE;
}

/* A printable excerpt of user input for messages: controls become '?', long text is cut. */
static const char *run_show(const char *s, char *buf, size_t n)
{
    size_t i = 0, max = n > 64 ? 60 : n - 4;
    for (; s[i] != '\0' && i < max; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static int run_parse_int(const char *flag, const char *arg, long long min, long long max,
                         long long *out, char *err, size_t n)
{
    char *end;
    char show[80];
    long long v;

    errno = 0;
    v = strtoll(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || errno == ERANGE ||
        !(arg[0] == '-' || arg[0] == '+' || (arg[0] >= '0' && arg[0] <= '9')))
        return run_err(err, n, "%s: bad number '%s'", flag, run_show(arg, show, sizeof(show)));
    if (v < min || v > max)
        return run_err(err, n, "%s: must be between %lld and %lld (got %s)", flag, min, max,
                       run_show(arg, show, sizeof(show)));
    *out = v;
    return RUN_EXIT_OK;
}

static int run_parse_dur(const char *flag, const char *arg, bool zero_ok, int64_t *out, char *err,
                         size_t n)
{
    mt_parse_err_t perr = {0};
    char show[80];
    int64_t ns = 0;
    int rc = mt_parse_duration(arg, &ns, &perr);

    run_show(arg, show, sizeof(show));
    if (rc == MT_ERANGE)
        return run_err(err, n, "%s: duration '%s' is too long", flag, show);
    if (rc != MT_OK)
        return run_err(err, n, "%s: bad duration '%s' (col %d)", flag, show,
                       perr.col > 0 ? perr.col : 1);
    if (ns < 0 || (ns == 0 && !zero_ok))
        return run_err(err, n, "%s: must be more than 0 (got '%s')", flag, show);
    *out = ns;
    return RUN_EXIT_OK;
}

/* --body: "@file" (whole file, "@-" for stdin) or the text itself. */
static int run_read_body(const char *flag, const char *arg, run_opts_t *o, char *err, size_t n)
{
    char show[80];
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc;
    int code = RUN_EXIT_OK;

    free(o->body);
    o->body = NULL;
    o->body_len = 0;
    o->has_body = true;
    if (arg[0] != '@') {
        len = strlen(arg);
        if (len > MT_REQUEST_MAX_BODY)
            return run_err(err, n, "%s: body larger than %u MiB", flag,
                           MT_REQUEST_MAX_BODY / (1024 * 1024));
        o->body = malloc(len + 1);
        if (o->body == NULL)
            return run_err(err, n, "%s: out of memory", flag), RUN_EXIT_INTERNAL;
        memcpy(o->body, arg, len + 1);
        o->body_len = len;
        return RUN_EXIT_OK;
    }

    run_show(arg + 1, show, sizeof(show));
    if (arg[1] == '\0') {
        code = run_err(err, n, "%s: '@' needs a file name (@FILE, or @- for stdin)", flag);
        goto out;
    }
    f = strcmp(arg + 1, "-") == 0 ? stdin : fopen(arg + 1, "rb");
    if (f == NULL) {
        code = run_err(err, n, "%s: cannot open '%s': %s", flag, show, strerror(errno));
        goto out;
    }
    rc = mt__read_stream(f, MT_REQUEST_MAX_BODY, &buf, &len);
    if (rc == MT_ENOMEM) {
        run_err(err, n, "%s: out of memory", flag);
        code = RUN_EXIT_INTERNAL;
        goto out;
    }
    if (rc != MT_OK) {
        code = run_err(err, n, "%s: cannot read '%s': %s", flag, show, strerror(errno));
        goto out;
    }
    if (len > MT_REQUEST_MAX_BODY) {
        code = run_err(err, n, "%s: '%s' is larger than %u MiB", flag, show,
                       MT_REQUEST_MAX_BODY / (1024 * 1024));
        goto out;
    }
    o->body = buf;
    o->body_len = len;
    buf = NULL;
out:
    if (f != NULL && f != stdin)
        fclose(f);
    free(buf);
    return code;
}

static int run_add_header(const char *flag, const char *arg, run_opts_t *o, char *err, size_t n)
{
    mt_parse_err_t perr = {0};
    mt_header_t h;
    char show[80];
    mt_header_t *nh;

    run_show(arg, show, sizeof(show));
    if (mt_header_parse(arg, &h, &perr) != MT_OK) {
        if (strchr(arg, ':') == NULL)
            return run_err(err, n, "%s: header '%s' has no ':'", flag, show);
        if (perr.col > 0)
            return run_err(err, n, "%s: header '%s': %s (col %d)", flag, show, perr.msg, perr.col);
        return run_err(err, n, "%s: header '%s': %s", flag, show, perr.msg);
    }
    if (h.name_len == 14 && strncasecmp(h.name, "Content-Length", 14) == 0)
        return run_err(err, n, "%s: Content-Length is computed from the body (use --body)", flag);
    if (h.name_len == 17 && strncasecmp(h.name, "Transfer-Encoding", 17) == 0)
        return run_err(err, n,
                       "%s: Transfer-Encoding is not supported (the body is sent "
                       "with Content-Length)",
                       flag);
    if (o->nheaders >= RUN_MAX_HEADERS)
        return run_err(err, n, "%s: more than %d headers", flag, RUN_MAX_HEADERS);
    nh = realloc(o->headers, (o->nheaders + 1) * sizeof(*nh));
    if (nh == NULL)
        return run_err(err, n, "%s: out of memory", flag), RUN_EXIT_INTERNAL;
    o->headers = nh;
    o->headers[o->nheaders++] = h;
    return RUN_EXIT_OK;
}

static void run_opts_dispose(run_opts_t *o)
{
    mt_tls_ctx_free(o->tls_ctx);
    o->tls_ctx = NULL;
    if (o->sched.steps != NULL)
        mt_sched_dispose(&o->sched);
    mt_url_dispose(&o->url);
    free(o->headers);
    free(o->body);
    free(o->request);
    free(o->uris);
    if (o->has_ammo)
        mt_ammo_dispose(&o->ammo);
    mt__verdicts_dispose(&o->verdicts);
    memset(o, 0, sizeof(*o));
}

/* Set by runjob (at the end of this file) in its own thread: the agent's runs never print. */
static _Thread_local bool run_silent;

/* --ammo / --uri: the requests come from Tank-style ammo (docs/ammo.md). */
static int run_load_ammo(run_opts_t *o, char *err, size_t n)
{
    mt_ammo_opts_t ao;
    mt_parse_err_t perr = {0};
    mt_ammo_type_t type = MT_AMMO_AUTO;
    const char *hdrs[RUN_MAX_HEADERS];
    char *buf = NULL;
    int rc;

    if (o->ammo_path != NULL && o->nuris > 0)
        return run_err(err, n, "--ammo and --uri cannot be used together");
    if (o->method_set || o->has_body)
        return run_err(err, n,
                       "-m and --body do not combine with --ammo/--uri (the ammo says "
                       "how each request is sent)");
    if (o->ammo_type_txt != NULL)
        mt_ammo_type_parse(o->ammo_type_txt, &type);
    for (size_t i = 0; i < o->nheaders; i++)
        hdrs[i] = o->headers[i].name; /* the -H argument itself: "Name: value" */
    memset(&ao, 0, sizeof(ao));
    ao.host = o->url.host_header;
    ao.headers = hdrs;
    ao.nheaders = o->nheaders;
    ao.user_agent = "mortar/" MT_VERSION;
    if (o->ammo_path != NULL) {
        rc = mt_ammo_load(o->ammo_path, type, &ao, &o->ammo, &perr);
    } else {
        size_t len = 0, at = 0;
        for (size_t i = 0; i < o->nuris; i++)
            len += strlen(o->uris[i]) + 1;
        buf = malloc(len + 1);
        if (buf == NULL)
            return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
        for (size_t i = 0; i < o->nuris; i++) {
            size_t l = strlen(o->uris[i]);
            memcpy(buf + at, o->uris[i], l);
            at += l;
            buf[at++] = '\n';
        }
        rc = mt_ammo_parse(buf, at, MT_AMMO_URI, &ao, &o->ammo, &perr);
        free(buf);
    }
    if (rc == MT_ENOMEM)
        return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
    if (rc != MT_OK) {
        const char *what = o->ammo_path != NULL ? o->ammo_path : "--uri";
        if (perr.line > 0 && perr.col > 0)
            return run_err(err, n, "%s:%d:%d: %s", what, perr.line, perr.col, perr.msg);
        if (perr.line > 0)
            return run_err(err, n, "%s:%d: %s", what, perr.line, perr.msg);
        return run_err(err, n, "%s: %s", what, perr.msg[0] ? perr.msg : mt_strerror(rc));
    }
    o->has_ammo = true;
    if (o->ammo.nwarnings > 0 && !run_silent)
        fprintf(stderr, "mortar run: warning: %s:%d: %s (%zu warning%s)\n",
                o->ammo_path != NULL ? o->ammo_path : "--uri", o->ammo.warning.line,
                o->ammo.warning.msg, o->ammo.nwarnings, o->ammo.nwarnings == 1 ? "" : "s");
    if ((o->ammo.skipped > 0 || o->ammo.malformed > 0) && !run_silent)
        fprintf(stderr, "mortar run: %s: %zu non-GET and %zu unreadable lines skipped\n",
                o->ammo_path, o->ammo.skipped, o->ammo.malformed);
    return RUN_EXIT_OK;
}

/* Checks flags against each other, parses the URL, builds the schedule and the request. */
static int run_finish_opts(run_opts_t *o, char *err, size_t n)
{
    mt_parse_err_t perr = {0};
    mt_request_spec_t spec;
    char show[240];
    int rc;

    if (o->rate > 0 && o->schedule_txt != NULL)
        return run_err(err, n, "-R and --schedule cannot be used together");
    o->open_model = o->rate > 0 || o->schedule_txt != NULL;
    if (o->max_queue > 0 && !o->open_model)
        return run_err(err, n, "--max-queue needs the open model (-R or --schedule)");
    if (o->tick_ns > 0 && !o->open_model)
        return run_err(err, n, "--tick needs the open model (-R or --schedule)");

    if (o->threads_set && o->threads > o->connections)
        return run_err(err, n, "-t: %d threads need at least as many connections (-c %d)",
                       o->threads, o->connections);
    if (!o->threads_set) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu < 1)
            ncpu = 1;
        if (ncpu > RUN_MAX_THREADS)
            ncpu = RUN_MAX_THREADS;
        o->threads = ncpu < o->connections ? (int)ncpu : o->connections;
    }

    run_show(o->url_txt, show, sizeof(show));
    rc = mt_url_parse(o->url_txt, &o->url, &perr);
    if (rc == MT_ENOMEM)
        return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
    if (rc != MT_OK) {
        if (perr.col > 1)
            return run_err(err, n, "bad URL '%s': %s (col %d)", show, perr.msg, perr.col);
        return run_err(err, n, "bad URL '%s': %s", show, perr.msg);
    }

    if (o->streams_set && !o->http2)
        return run_err(err, n, "--streams needs --http2");
    if (!o->url.tls && (o->tls.insecure || o->tls.cacert || o->tls.cert || o->tls.key ||
                        o->tls.min_version || o->tls.max_version || o->tls.no_resume))
        return run_err(err, n,
                       "TLS flags (-k, --cacert, --cert, --key, --tls*, "
                       "--no-tls-resume) need an https:// URL");
    if (o->phout_tls && !o->url.tls)
        return run_err(err, n, "--phout-tls needs an https:// URL");
    if (o->url.tls) {
        o->tls.server_name = o->url.host;
        o->tls.http2 = o->http2;
        char terr[400];
        rc = mt_tls_ctx_new(&o->tls, &o->tls_ctx, terr, sizeof(terr));
        if (rc == MT_ENOMEM)
            return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
        if (rc != MT_OK)
            return run_err(err, n, "%s", terr);
    }
    if (o->http2 && !o->streams_set)
        o->streams = o->rate > 0 || o->schedule_txt != NULL ? 100 : 10;

    o->planned_ns = o->duration_ns;
    if (o->schedule_txt != NULL) {
        rc = mt_sched_parse(o->schedule_txt, &o->sched, &perr);
        if (rc == MT_ENOMEM)
            return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
        if (rc != MT_OK) {
            memset(&o->sched, 0, sizeof(o->sched));
            if (perr.col > 0)
                return run_err(err, n, "--schedule: col %d: %s", perr.col, perr.msg);
            return run_err(err, n, "--schedule: %s", perr.msg);
        }
        if (!o->duration_set) {
            if (o->sched.total_ns <= 0)
                return run_err(err, n, "--schedule: the schedule has no length (give -d)");
            o->planned_ns = o->sched.total_ns;
        }
    } else if (o->rate > 0) {
        rc = mt_sched_const(o->rate, o->duration_ns, &o->sched);
        if (rc != MT_OK) {
            memset(&o->sched, 0, sizeof(o->sched));
            if (rc == MT_ENOMEM)
                return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
            return run_err(err, n, "-R: cannot make a schedule of %g/s for the duration: %s",
                           o->rate, mt_strerror(rc));
        }
    }
    if (o->open_model)
        o->planned = o->planned_ns < o->sched.total_ns
                         ? mt_sched_count_before(&o->sched, o->planned_ns)
                         : o->sched.total;

    if (o->ammo_path != NULL || o->nuris > 0)
        return run_load_ammo(o, err, n);

    memset(&spec, 0, sizeof(spec));
    spec.method = o->method;
    spec.target = o->url.target;
    spec.host = o->url.host_header;
    spec.headers = o->headers;
    spec.nheaders = o->nheaders;
    spec.body = o->body;
    spec.body_len = o->body_len;
    spec.has_body = o->has_body;
    rc = mt_request_build(&spec, &o->request, &o->request_len, &perr);
    if (rc == MT_ENOMEM)
        return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
    if (rc != MT_OK)
        return run_err(err, n, "cannot build the request: %s", perr.msg);
    o->parse_flags = strcmp(o->method, "HEAD") == 0 ? MT_H1_NO_BODY : 0;
    return RUN_EXIT_OK;
}

/* Parses `run`'s argv (argv[0] is "run") into *o, which is always initialised and must be
 * released with run_opts_dispose. Returns 0 (check o->help / o->version), or an exit code
 * (2 usage, 1 internal) with "mortar run: ..." in err. Uses getopt_long (global state: it
 * is reset here) and reorders argv. */
static int run_parse_args_url(int argc, char **argv, const char *url, run_opts_t *o, char *err,
                              size_t n);

static int run_parse_args(int argc, char **argv, run_opts_t *o, char *err, size_t n)
{
    return run_parse_args_url(argc, argv, NULL, o, err, n);
}

/* url: the URL to use when argv gives none (from --config), or NULL. */
static int run_parse_args_url(int argc, char **argv, const char *url, run_opts_t *o, char *err,
                              size_t n)
{
    int code = RUN_EXIT_OK;
    char show[80];

    memset(o, 0, sizeof(*o));
    o->connections = RUN_DEFAULT_CONNECTIONS;
    o->duration_ns = RUN_DEFAULT_DURATION_NS;
    o->timeout_ns = RUN_DEFAULT_TIMEOUT_NS;
    o->method = "GET";
    o->seed = 1;
    err[0] = '\0';

    optind = 0; /* glibc: full re-initialisation, so the parser can run more than once */
    opterr = 0;
    for (;;) {
        int li = -1, c;
        char flag[32];
        long long v;

        c = getopt_long(argc, argv, RUN_SHORTOPTS, run_longopts, &li);
        if (c == -1)
            break;
        if (li >= 0)
            snprintf(flag, sizeof(flag), "--%s", run_longopts[li].name);
        else
            snprintf(flag, sizeof(flag), "-%c", c);

        switch (c) {
        case 'c':
            code = run_parse_int(flag, optarg, 1, RUN_MAX_CONNECTIONS, &v, err, n);
            o->connections = (int)v;
            break;
        case 't':
            code = run_parse_int(flag, optarg, 1, RUN_MAX_THREADS, &v, err, n);
            o->threads = (int)v;
            o->threads_set = true;
            break;
        case 'd':
            code = run_parse_dur(flag, optarg, false, &o->duration_ns, err, n);
            o->duration_set = true;
            break;
        case 'R': {
            char *end;
            double r;
            errno = 0;
            r = strtod(optarg, &end);
            if (optarg[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(r))
                code = run_err(err, n, "%s: bad rate '%s'", flag,
                               run_show(optarg, show, sizeof(show)));
            else if (!(r > 0) || r > RUN_MAX_RATE)
                code = run_err(err, n, "%s: must be more than 0 and at most %.0f (got %s)", flag,
                               RUN_MAX_RATE, run_show(optarg, show, sizeof(show)));
            o->rate = r;
            break;
        }
        case RUN_OPT_SCHEDULE:
            o->schedule_txt = optarg;
            break;
        case 'H':
            code = run_add_header(flag, optarg, o, err, n);
            break;
        case 'm':
            if (!mt_http_is_token(optarg, strlen(optarg)))
                code = run_err(err, n, "%s: bad method '%s' (letters, digits and !#$%%&'*+-.^_`|~)",
                               flag, run_show(optarg, show, sizeof(show)));
            o->method = optarg;
            o->method_set = true;
            break;
        case RUN_OPT_BODY:
            code = run_read_body(flag, optarg, o, err, n);
            break;
        case RUN_OPT_TIMEOUT:
            code = run_parse_dur(flag, optarg, true, &o->timeout_ns, err, n);
            break;
        case RUN_OPT_AMMO:
            o->ammo_path = optarg;
            break;
        case RUN_OPT_AMMO_TYPE: {
            mt_ammo_type_t t;
            if (mt_ammo_type_parse(optarg, &t) != MT_OK)
                code = run_err(err, n, "%s: unknown ammo type '%s' (uri, uripost, phantom, access)",
                               flag, run_show(optarg, show, sizeof(show)));
            o->ammo_type_txt = optarg;
            break;
        }
        case RUN_OPT_AMMO_ORDER:
            if (strcmp(optarg, "sequential") == 0)
                o->ammo_order = MT_ORDER_SEQUENTIAL;
            else if (strcmp(optarg, "random") == 0)
                o->ammo_order = MT_ORDER_RANDOM;
            else
                code = run_err(err, n, "%s: '%s' is not sequential or random", flag,
                               run_show(optarg, show, sizeof(show)));
            break;
        case RUN_OPT_URI: {
            const char **nu = realloc(o->uris, (o->nuris + 1) * sizeof(*nu));
            if (nu == NULL)
                return run_err(err, n, "out of memory"), RUN_EXIT_INTERNAL;
            o->uris = nu;
            o->uris[o->nuris++] = optarg;
            break;
        }
        case RUN_OPT_CONFIG:
            break; /* read by mt_cli_run before parsing: its options come first */
        case RUN_OPT_AUTOSTOP:
            if (mt__verdicts_add_autostop(&o->verdicts, optarg, err, n) != MT_OK)
                code = RUN_EXIT_USAGE;
            break;
        case RUN_OPT_THRESHOLD:
            if (mt__verdicts_add_threshold(&o->verdicts, optarg, err, n) != MT_OK)
                code = RUN_EXIT_USAGE;
            break;
        case RUN_OPT_SEED:
            code = run_parse_int(flag, optarg, 0, LLONG_MAX, &v, err, n);
            o->seed = (uint64_t)v;
            break;
        case RUN_OPT_HTML:
            if (optarg[0] == '\0')
                code = run_err(err, n, "%s: empty file name", flag);
            o->html_path = optarg;
            break;
        case RUN_OPT_PHOUT:
            if (optarg[0] == '\0')
                code = run_err(err, n, "%s: empty file name", flag);
            o->phout_path = optarg;
            break;
        case RUN_OPT_TICK:
            code = run_parse_dur(flag, optarg, true, &o->tick_ns, err, n);
            break;
        case RUN_OPT_MAX_QUEUE:
            code = run_parse_int(flag, optarg, 1, (long long)RUN_MAX_QUEUE, &v, err, n);
            o->max_queue = (uint64_t)v;
            break;
        case RUN_OPT_JSON:
            if (optarg[0] == '\0')
                code = run_err(err, n, "%s: empty file name (use - for stdout)", flag);
            o->json_path = optarg;
            break;
        case 'k':
            o->tls.insecure = true;
            break;
        case RUN_OPT_CACERT:
        case RUN_OPT_CERT:
        case RUN_OPT_KEY:
            if (optarg[0] == '\0')
                code = run_err(err, n, "%s: empty file name", flag);
            else if (access(optarg, R_OK) != 0)
                code = run_err(err, n, "%s: cannot read '%s': %s", flag,
                               run_show(optarg, show, sizeof(show)), strerror(errno));
            *(c == RUN_OPT_CACERT ? &o->tls.cacert
              : c == RUN_OPT_CERT ? &o->tls.cert
                                  : &o->tls.key) = optarg;
            break;
        case RUN_OPT_TLS:
        case RUN_OPT_TLS_MIN:
        case RUN_OPT_TLS_MAX: {
            int ver = strcmp(optarg, "1.2") == 0 ? 12 : strcmp(optarg, "1.3") == 0 ? 13 : 0;
            if (!ver)
                code = run_err(err, n, "%s: '%s' is not a TLS version (1.2 or 1.3)", flag,
                               run_show(optarg, show, sizeof(show)));
            if (c != RUN_OPT_TLS_MAX)
                o->tls.min_version = ver;
            if (c != RUN_OPT_TLS_MIN)
                o->tls.max_version = ver;
            break;
        }
        case RUN_OPT_NO_TLS_RESUME:
            o->tls.no_resume = true;
            break;
        case RUN_OPT_HTTP2:
            o->http2 = true;
            break;
        case RUN_OPT_STREAMS:
            code = run_parse_int(flag, optarg, 1, 1 << 16, &v, err, n);
            o->streams = (int)v;
            o->streams_set = true;
            break;
        case RUN_OPT_PHOUT_TLS:
            o->phout_tls = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'L':
            o->latency = true;
            break;
        case 'h':
            o->help = true;
            break;
        case RUN_OPT_VERSION:
            o->version = true;
            break;
        case ':': {
            const char *a = argv[optind - 1];
            if (a != NULL && strncmp(a, "--", 2) == 0)
                code = run_err(err, n, "%s: missing value", run_show(a, show, sizeof(show)));
            else
                code = run_err(err, n, "-%c: missing value", optopt);
            break;
        }
        default: { /* '?' */
            const char *a = argv[optind - 1];
            if (optopt != 0 && optopt < 256)
                code = run_err(err, n, "unknown option '-%c'", optopt);
            else if (a != NULL) {
                size_t k = strcspn(a, "=");
                run_show(a, show, sizeof(show));
                if (k < strlen(show))
                    show[k] = '\0';
                code = run_err(err, n, "unknown option '%s'", show);
            } else
                code = run_err(err, n, "unknown option");
            break;
        }
        }
        if (code != RUN_EXIT_OK)
            return code;
    }
    if (o->help || o->version)
        return RUN_EXIT_OK;

    if (optind >= argc && url == NULL)
        return run_err(err, n, "missing URL (usage: mortar run [flags] URL)");
    if (optind + 1 < argc)
        return run_err(err, n, "unexpected argument '%s' (give one URL)",
                       run_show(argv[optind + 1], show, sizeof(show)));
    o->url_txt = optind < argc ? argv[optind] : url;
    return run_finish_opts(o, err, n);
}

/* ---- running ---- */

/* Set while the engine runs so that the handler can stop it; read only by the handler. */
static mt_run_t *volatile run_active;
static volatile sig_atomic_t run_signal;

static void run_on_signal(int sig)
{
    mt_run_t *r = run_active;
    run_signal = sig;
    if (r != NULL)
        mt_run_stop(r);
}

typedef struct run_ctx {
    mt_run_t *run;
    mt__verdicts_t *verdicts;
    mt__live_t live;
    mt__json_t *json;
    mt__phout_t *phout;
} run_ctx_t;

static void run_on_second(const mt_second_t *s, void *ud)
{
    run_ctx_t *ctx = ud;
    if (mt__verdicts_second(ctx->verdicts, s))
        mt_run_stop(ctx->run); /* the verdict is printed with the summary */
    mt__live_second(&ctx->live, s);
    if (ctx->json != NULL)
        mt__json_second(ctx->json, s); /* an error is kept and reported by mt__json_finish */
}

/* The engine's settings from parsed options (everything but the record callback). */
static void run_engine_config(const run_opts_t *o, mt_run_config_t *cfg)
{
    cfg->host = o->url.host;
    cfg->port = o->url.port;
    cfg->request = o->request;
    cfg->request_len = o->request_len;
    cfg->parse_flags = o->parse_flags;
    cfg->threads = o->threads;
    cfg->connections = o->connections;
    cfg->duration_ns = o->open_model && !o->duration_set ? 0 : o->duration_ns;
    cfg->schedule = o->open_model ? &o->sched : NULL;
    cfg->timeout_ns = o->timeout_ns;
    cfg->max_queue = o->max_queue;
    cfg->tick_ns = o->tick_ns;
    cfg->tls = o->tls_ctx;
    cfg->http2 = o->http2;
    cfg->streams = o->http2 ? o->streams : 1;
    if (o->has_ammo) {
        cfg->requests = o->ammo.reqs;
        cfg->nrequests = o->ammo.nreqs;
        cfg->tags = o->ammo.tags;
        cfg->ntags = o->ammo.ntags;
        cfg->order = o->ammo_order;
        cfg->seed = o->seed;
    }
}

static int run_exec(run_opts_t *o)
{
    mt__run_info_t info;
    mt_run_config_t cfg;
    mt_run_t *run = NULL;
    run_ctx_t ctx;
    struct sigaction sa, old_int, old_term, old_pipe;
    FILE *sumf = stdout;
    char err[512];
    int code = RUN_EXIT_INTERNAL, rc;
    bool interrupted;

    memset(&ctx, 0, sizeof(ctx));
    memset(&info, 0, sizeof(info));
    info.url = o->url_txt;
    info.method = o->method;
    info.connections = o->connections;
    info.threads = o->threads;
    info.duration_ns = o->planned_ns;
    info.open_model = o->open_model;
    info.rate = o->rate;
    info.schedule = o->schedule_txt;
    info.planned = o->planned;
    info.timeout_ns = o->timeout_ns;
    info.max_queue = o->max_queue;
    info.detail = o->latency;
    if (o->has_ammo) {
        info.tags = o->ammo.tags;
        info.ntags = o->ammo.ntags;
        info.ammo = o->ammo_path != NULL ? o->ammo_path : "--uri";
        info.nrequests = o->ammo.nreqs;
    }

    if (o->html_path != NULL) {
        /* fail before the run, as --json does, when the report cannot be written */
        FILE *probe = fopen(o->html_path, "a");
        if (probe == NULL) {
            fprintf(stderr, "mortar run: --html: cannot create '%s': %s\n", o->html_path,
                    strerror(errno));
            goto out;
        }
        fclose(probe);
    }
    if (o->json_path != NULL || o->html_path != NULL) {
        if (o->json_path != NULL && strcmp(o->json_path, "-") == 0)
            sumf = stderr; /* stdout carries the JSON alone */
        rc = mt__json_new(&info, o->json_path, &ctx.json, err, sizeof(err));
        if (rc != MT_OK) {
            fprintf(stderr, "mortar run: %s\n", err);
            goto out;
        }
    }

    if (o->phout_path != NULL) {
        rc = mt__phout_open(o->phout_path, info.tags, info.ntags, &ctx.phout, err, sizeof(err));
        if (rc != MT_OK) {
            fprintf(stderr, "mortar run: %s\n", err);
            goto out;
        }
        mt__phout_tls_column(ctx.phout, o->phout_tls);
    }

    memset(&cfg, 0, sizeof(cfg));
    if (ctx.phout != NULL) {
        cfg.on_records = mt__phout_records;
        cfg.records_ud = ctx.phout;
    }
    run_engine_config(o, &cfg);
    rc = mt_run_new(&cfg, &run);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar run: cannot set up the run: %s\n", mt_strerror(rc));
        code = rc == MT_EINVAL ? RUN_EXIT_USAGE : RUN_EXIT_INTERNAL;
        goto out;
    }

    rc = mt__verdicts_start(&o->verdicts, cfg.tags, cfg.ntags, (uint32_t)cfg.connections, err,
                            sizeof(err));
    if (rc != MT_OK) {
        fprintf(stderr, "%s\n", err);
        code = RUN_EXIT_USAGE;
        goto out;
    }
    ctx.run = run;
    ctx.verdicts = &o->verdicts;

    mt__out_header(sumf, &info);
    mt__live_init(&ctx.live, stderr, isatty(STDERR_FILENO) == 1, o->quiet, &info);

    /* the first SIGINT stops the run and still reports; a second one kills (SA_RESETHAND) */
    run_signal = 0;
    run_active = run;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = run_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, &old_pipe);

    rc = mt_run_exec(run, run_on_second, &ctx);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    run_active = NULL;
    mt__live_end(&ctx.live);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar run: the engine failed: %s\n", mt_strerror(rc));
        code = RUN_EXIT_INTERNAL;
        sigaction(SIGPIPE, &old_pipe, NULL);
        goto out;
    }

    interrupted = run_signal != 0;
    mt__verdicts_finish(&o->verdicts, mt_run_result(run), cfg.tags, cfg.ntags);
    mt__out_summary(sumf, &info, &ctx.live, mt_run_result(run), interrupted);
    mt__verdicts_print(sumf, &o->verdicts);
    code = RUN_EXIT_OK;
    if (interrupted)
        code = 128 + (int)run_signal; /* 130 after SIGINT, 143 after SIGTERM */
    else if (mt__verdicts_exit_code(&o->verdicts) != 0)
        code = mt__verdicts_exit_code(&o->verdicts);
    if (ctx.json != NULL) {
        if (mt__verdicts_any(&o->verdicts))
            mt__json_set(ctx.json, "verdicts", mt__verdicts_json(&o->verdicts));
        mt__json_set(ctx.json, "exit_code", json_integer(code));
    }
    if (ctx.json != NULL &&
        mt__json_finish(ctx.json, mt_run_result(run), interrupted, err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "mortar run: %s\n", err);
        code = RUN_EXIT_INTERNAL;
    }
    if (o->html_path != NULL && ctx.json != NULL && code != RUN_EXIT_INTERNAL) {
        size_t tlen = 0;
        char *text = mt__json_text(ctx.json, &tlen);
        rc = text != NULL ? mt__report_write(text, tlen, NULL, 0, o->html_path, err, sizeof(err))
                          : MT_ENOMEM;
        free(text);
        if (rc != MT_OK) {
            fprintf(stderr, "mortar run: --html: %s\n", rc == MT_ENOMEM ? "out of memory" : err);
            code = RUN_EXIT_INTERNAL;
        }
    }
    if (ctx.phout != NULL) {
        rc = mt__phout_close(ctx.phout, err, sizeof(err));
        ctx.phout = NULL;
        if (rc != MT_OK) {
            fprintf(stderr, "mortar run: %s\n", err);
            code = RUN_EXIT_INTERNAL;
        }
    }
    if (fflush(stdout) != 0 && code == RUN_EXIT_OK) {
        fprintf(stderr, "mortar run: cannot write the summary: %s\n", strerror(errno));
        code = RUN_EXIT_INTERNAL;
    }
    sigaction(SIGPIPE, &old_pipe, NULL);
out:
    if (ctx.phout != NULL)
        mt__phout_close(ctx.phout, err, sizeof(err));
    mt__json_free(ctx.json);
    if (run != NULL)
        mt_run_free(run);
    return code;
}

/* --config FILE: its options go first so that the command line overrides them. Returns the
 * exit code; on success cargc and cargv hold the merged argv and curl the URL from the file
 * (or NULL). */
static int run_apply_config(int argc, char **argv, int *cargc, char ***cargv, char **curl)
{
    const char *path = NULL;
    mt__config_info_t info;
    mt_parse_err_t perr = {0};
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    *cargc = 0;
    *cargv = NULL;
    *curl = NULL;
    if (path == NULL)
        return RUN_EXIT_OK;
    *cargv = calloc(2, sizeof(char *));
    if (*cargv == NULL || ((*cargv)[0] = strdup("run")) == NULL)
        goto nomem;
    *cargc = 1;
    memset(&info, 0, sizeof(info));
    rc = mt__config_load_info(path, cargc, cargv, curl, &info, &perr);
    for (size_t i = 0; i < info.nwarnings; i++)
        fprintf(stderr, "mortar run: warning: %s\n", info.warnings[i]);
    mt__config_info_dispose(&info);
    if (rc == MT_ENOMEM)
        goto nomem;
    if (rc != MT_OK) {
        if (perr.line > 0)
            fprintf(stderr, "mortar run: %s:%d:%d: %s\n", path, perr.line, perr.col, perr.msg);
        else
            fprintf(stderr, "mortar run: --config: %s\n", perr.msg);
        return RUN_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        char **na = realloc(*cargv, (size_t)(*cargc + 2) * sizeof(char *));
        if (na == NULL)
            goto nomem;
        *cargv = na;
        if ((na[*cargc] = strdup(argv[i])) == NULL)
            goto nomem;
        na[++*cargc] = NULL;
    }
    return RUN_EXIT_OK;
nomem:
    fprintf(stderr, "mortar run: out of memory\n");
    return RUN_EXIT_INTERNAL;
}

int mt_cli_run(int argc, char **argv)
{
    run_opts_t o;
    char err[512];
    int cargc = 0;
    char **cargv = NULL, *curl = NULL;
    int code = run_apply_config(argc, argv, &cargc, &cargv, &curl);

    if (code != RUN_EXIT_OK) {
        mt__config_argv_free(cargc, cargv);
        free(curl);
        return code;
    }
    if (cargv != NULL)
        code = run_parse_args_url(cargc, cargv, curl, &o, err, sizeof(err));
    else
        code = run_parse_args(argc, argv, &o, err, sizeof(err));

    if (code != RUN_EXIT_OK) {
        fprintf(stderr, "%s\n", err);
        if (code == RUN_EXIT_USAGE)
            fprintf(stderr, "Try 'mortar run --help'.\n");
    } else if (o.help) {
        run_usage(stdout);
    } else if (o.version) {
        printf("mortar %s\n", MT_VERSION);
    } else {
        code = run_exec(&o);
    }
    run_opts_dispose(&o);
    mt__config_argv_free(cargc, cargv);
    free(curl);
    return code;
}

/* ---- runjob: the same run for mortar serve's agent (cli/runjob.h) ---- */

#include "cli/runjob.h"

#include <pthread.h>

struct mt__runjob {
    int argc;
    char **argv; /* run_opts_t borrows from these */
    char *url;
    run_opts_t o;
    pthread_mutex_t mu;
    mt_run_t *run; /* during and after exec */
    bool stop;
    bool executed;
    bool has_part;
    mt_part_t part; /* owned copy (mt__runjob_set_part) */
    mt_stripe_t stripe;
    int64_t start_unix_ns;
};

static pthread_mutex_t runjob_getopt_mu = PTHREAD_MUTEX_INITIALIZER;

/* Keys whose value names a file the run would read or write. */
static const char *runjob_file_key(const char *flag, const char *value)
{
    static const char *const keys[] = {"--json",   "--phout",  "--html", "--ammo",
                                       "--config", "--cacert", "--cert", "--key"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(flag, keys[i]) == 0)
            return keys[i] + 2;
    if (strcmp(flag, "--body") == 0 && value != NULL && value[0] == '@')
        return "body";
    return NULL;
}

int mt__runjob_new(const char *config, size_t len, mt__runjob_t **out, char *err, size_t n)
{
    mt__config_info_t info;
    mt_parse_err_t perr = {0};
    mt__runjob_t *j;
    int rc, code;

    *out = NULL;
    err[0] = '\0';
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        goto nomem;
    pthread_mutex_init(&j->mu, NULL);
    j->argv = calloc(2, sizeof(char *));
    if (j->argv == NULL || (j->argv[0] = strdup("run")) == NULL)
        goto nomem;
    j->argc = 1;
    memset(&info, 0, sizeof(info));
    rc = mt__config_parse(config, len, "config", &j->argc, &j->argv, &j->url, &info, &perr);
    if (rc == MT_ENOMEM) {
        mt__config_info_dispose(&info);
        goto nomem;
    }
    if (rc != MT_OK) {
        mt__config_format_err("config", rc, &perr, err, n);
        mt__config_info_dispose(&info);
        goto bad;
    }
    for (int i = info.first; i < j->argc; i++) {
        const char *key = runjob_file_key(j->argv[i], i + 1 < j->argc ? j->argv[i + 1] : NULL);
        if (key == NULL)
            continue;
        snprintf(err, n,
                 "config:%d:%d: %s: not allowed in a server run (runs must not read or write "
                 "the server's files; the server stores the result itself)",
                 info.src[i - info.first].line, info.src[i - info.first].col, key);
        mt__config_info_dispose(&info);
        goto bad;
    }
    mt__config_info_dispose(&info); /* warnings are dropped: a server run has no console */

    pthread_mutex_lock(&runjob_getopt_mu);
    run_silent = true;
    code = run_parse_args_url(j->argc, j->argv, j->url, &j->o, err, n);
    run_silent = false;
    pthread_mutex_unlock(&runjob_getopt_mu);
    if (code == RUN_EXIT_OK && (j->o.help || j->o.version)) {
        snprintf(err, n, "mortar run: help and version are not run settings");
        code = RUN_EXIT_USAGE;
    }
    if (code != RUN_EXIT_OK) {
        if (code == RUN_EXIT_INTERNAL && strstr(err, "out of memory") != NULL)
            goto nomem;
        goto bad;
    }
    *out = j;
    return MT_OK;
bad:
    mt__runjob_free(j);
    return MT_EINVAL;
nomem:
    snprintf(err, n, "out of memory");
    mt__runjob_free(j);
    return MT_ENOMEM;
}

int mt__runjob_exec(mt__runjob_t *j, mt_second_cb on_second, void *ud, char *err, size_t n)
{
    run_opts_t *o = &j->o;
    mt_run_config_t cfg;
    mt_run_t *run = NULL;
    int rc;

    err[0] = '\0';
    if (j->executed) {
        snprintf(err, n, "the job has run already");
        return MT_EINVAL;
    }
    j->executed = true;
    memset(&cfg, 0, sizeof(cfg));
    run_engine_config(o, &cfg);
    if (j->has_part) {
        cfg.connections = j->part.connections;
        cfg.threads = j->part.threads;
        if (!o->threads_set) { /* no -t: this machine's CPUs, as mortar run does */
            long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
            if (ncpu < 1)
                ncpu = 1;
            if (ncpu > RUN_MAX_THREADS)
                ncpu = RUN_MAX_THREADS;
            cfg.threads = ncpu < cfg.connections ? (int)ncpu : cfg.connections;
        }
        cfg.stripe = &j->stripe;
        if (cfg.order == MT_ORDER_RANDOM && j->part.of > 1)
            cfg.seed ^= 0x9E3779B97F4A7C15ULL * ((uint64_t)j->part.index + 1);
    }
    cfg.start_unix_ns = j->start_unix_ns;
    rc = mt_run_new(&cfg, &run);
    if (rc != MT_OK) {
        snprintf(err, n, "cannot set up the run: %s", mt_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&j->mu);
    j->run = run;
    if (j->stop)
        mt_run_stop(run); /* stopped before it started: the engine ends at once */
    pthread_mutex_unlock(&j->mu);
    rc = mt_run_exec(run, on_second, ud);
    if (rc == MT_ELATE)
        snprintf(err, n, "not started: the start instant has passed");
    else if (rc != MT_OK)
        snprintf(err, n, "the engine failed: %s", mt_strerror(rc));
    return rc;
}

void mt__runjob_stop(mt__runjob_t *j)
{
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    if (j->run != NULL)
        mt_run_stop(j->run);
    pthread_mutex_unlock(&j->mu);
}

const mt_run_result_t *mt__runjob_result(const mt__runjob_t *j)
{
    return j->run != NULL ? mt_run_result(j->run) : NULL;
}

const char *const *mt__runjob_tags(const mt__runjob_t *j, size_t *ntags)
{
    if (!j->o.has_ammo || j->o.ammo.ntags == 0) {
        *ntags = 0;
        return NULL;
    }
    *ntags = j->o.ammo.ntags;
    return j->o.ammo.tags;
}

int mt__runjob_connections(const mt__runjob_t *j)
{
    return j->o.connections;
}

const mt__verdicts_t *mt__runjob_verdicts(const mt__runjob_t *j)
{
    return &j->o.verdicts;
}

void mt__runjob_model(const mt__runjob_t *j, mt_split_model_t *out)
{
    out->open = j->o.open_model;
    out->connections = j->o.connections;
    out->threads = j->o.threads;
}

int mt__runjob_set_part(mt__runjob_t *j, const mt_part_t *part, int64_t start_unix_ns)
{
    char why[160];
    uint32_t *res = NULL;

    if (j->executed || start_unix_ns < 0 ||
        (part != NULL && mt_part_check(part, why, sizeof why) != MT_OK))
        return MT_EINVAL;
    if (part != NULL) {
        res = malloc(part->nresidues * sizeof *res);
        if (res == NULL)
            return MT_ENOMEM;
        memcpy(res, part->residues, part->nresidues * sizeof *res);
    }
    mt_part_dispose(&j->part);
    j->has_part = part != NULL;
    if (part != NULL) {
        j->part = *part;
        j->part.residues = res;
        j->stripe = mt_part_stripe(&j->part);
    }
    j->start_unix_ns = start_unix_ns;
    return MT_OK;
}

void mt__runjob_free(mt__runjob_t *j)
{
    if (j == NULL)
        return;
    mt_part_dispose(&j->part);
    if (j->run != NULL)
        mt_run_free(j->run);
    run_opts_dispose(&j->o);
    mt__config_argv_free(j->argc, j->argv);
    free(j->url);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
