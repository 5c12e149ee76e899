/* `mortar run [flags] URL`: the flags (wrk-compatible where wrk has them) and an optional
 * --config file fill a run spec (src/runspec: one table of keys, one setter, one validator),
 * which a runjob drives through the engine; this file adds what only a console has: the live
 * line and the summary, the JSON/phout/HTML files, signals and exit codes. run_parse_args does
 * all the checking and building without running anything, so tests/unit/test_cli_args.c can
 * call it directly. */
#include "cli/cli.h"
#include "proto/text.h"
#include "cli/json_out.h"
#include "cli/phout.h"
#include "report/report.h"
#include "result/baseline.h"
#include "result/otlp.h"
#include "result/result.h"
#include "cli/output.h"
#include "mortar/engine.h"
#include "runspec/config.h"
#include "runspec/runjob.h"
#include "runspec/runspec.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_EXIT_OK       0
#define RUN_EXIT_INTERNAL 1
#define RUN_EXIT_USAGE    2

/* What the command line says: the run spec, and the two flags that are not run settings. */
typedef struct run_opts {
    mt_runspec_t s;
    bool help;
    bool version;
    const char *baseline; /* --baseline FILE (borrowed from argv) */
    const char *otlp;     /* --otlp URL: push the seconds to an OpenTelemetry collector */
    json_t *base_doc;     /* its result document, read before the run */
    json_t *tolerances;   /* --tolerance NAME=VALUE flags (result/baseline.h's keys) */
    /* the --config file's errors that the command line may make up for (config.h) */
    char config_path[256];
    mt_parse_err_t need_url, need_ammo;
} run_opts_t;

enum {
    RUN_OPT_SCHEDULE = 256,
    RUN_OPT_BODY,
    RUN_OPT_TIMEOUT,
    RUN_OPT_GRACE,
    RUN_OPT_MAX_QUEUE,
    RUN_OPT_JSON,
    RUN_OPT_TICK,
    RUN_OPT_SEND_TOLERANCE,
    RUN_OPT_NO_KERNEL_TIMESTAMPS,
    RUN_OPT_IO,
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
    RUN_OPT_BASELINE,
    RUN_OPT_TOLERANCE,
    RUN_OPT_EXPECTED_STATUS,
    RUN_OPT_DIST,
    RUN_OPT_TRACE,
    RUN_OPT_TRACE_URL,
    RUN_OPT_OTLP,
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
    {"grace", required_argument, NULL, RUN_OPT_GRACE},
    {"max-queue", required_argument, NULL, RUN_OPT_MAX_QUEUE},
    {"json", required_argument, NULL, RUN_OPT_JSON},
    {"tick", required_argument, NULL, RUN_OPT_TICK},
    {"send-tolerance", required_argument, NULL, RUN_OPT_SEND_TOLERANCE},
    {"no-kernel-timestamps", no_argument, NULL, RUN_OPT_NO_KERNEL_TIMESTAMPS},
    {"io", required_argument, NULL, RUN_OPT_IO},
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
    {"baseline", required_argument, NULL, RUN_OPT_BASELINE},
    {"tolerance", required_argument, NULL, RUN_OPT_TOLERANCE},
    {"script", required_argument, NULL, 's'},
    {"expected-status", required_argument, NULL, RUN_OPT_EXPECTED_STATUS},
    {"dist", required_argument, NULL, RUN_OPT_DIST},
    {"trace", optional_argument, NULL, RUN_OPT_TRACE},
    {"trace-url", required_argument, NULL, RUN_OPT_TRACE_URL},
    {"otlp", required_argument, NULL, RUN_OPT_OTLP},
    {"quiet", no_argument, NULL, 'q'},
    {"latency", no_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, RUN_OPT_VERSION},
    {NULL, 0, NULL, 0},
};
#define RUN_SHORTOPTS ":c:t:d:R:H:m:s:T:D:kqLh"

static void run_usage(FILE *f)
{
    fprintf(f,
            "Usage: mortar run [flags] URL [-- SCRIPT ARGS]\n"
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
            "  -T, --timeout DUR     per-request timeout, connect included; 0 = none [2s]\n"
            "      --grace DUR       after the duration, wait up to DUR for the requests in\n"
            "                        flight (they count); 0: abandon them at once [10s]\n"
            "      --max-queue N     open model: due-but-unsent backlog bound\n"
            "                        [max(10000, 10 x connections, 10 s at peak rate)]\n"
            "      --tick DUR        open model: wake for due requests at most once per DUR,\n"
            "                        trading send precision for CPU (e.g. 1ms) [0: exact]\n"
            "      --send-tolerance DUR  batched waits: a send due at t leaves by t + DUR,\n"
            "                        responses timed by the kernel; 0: every event [100us]\n"
            "      --no-kernel-timestamps  responses timed by the user-space clock\n"
            "      --io LOOP         auto, epoll or io_uring (closed model, plain HTTP/1.1)\n"
            "                        [auto: io_uring where it applies and the kernel has it]\n"
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
            "      --baseline FILE   compare with an earlier run's result JSON (--json, or\n"
            "                        GET /api/v1/runs/{id}/result); exit 99 on a regression\n"
            "      --tolerance M=V   --baseline's tolerance (repeatable), e.g. p99=20%%,\n"
            "                        error_rate=0.02, alpha=0.05 (docs/analysis.md)\n"
            "                        [p50..p999 10%%, rps 5%%, error_rate 0.01, alpha 0.01]\n"
            "      --expected-status LIST  statuses that are not failures for http_req_failed\n"
            "                        (k6): '200-299,404', '2xx 304' [200-399]\n"
            "  -D, --dist fixed      wrk2's interval distribution: only fixed (exact intervals)\n"
            "  -k, --insecure        https: do not verify the server's certificate\n"
            "      --cacert FILE     https: trust the CA certificates in FILE (PEM)\n"
            "      --cert FILE       https: client certificate (PEM); --key FILE its key\n"
            "      --tls V           https: TLS version 1.2 or 1.3 only (--tls-min/--tls-max V)\n"
            "      --no-tls-resume   https: full handshake on every connection\n"
            "      --http2           HTTP/2 (ALPN h2 over https; prior knowledge over http)\n"
            "      --streams N       HTTP/2: concurrent streams per connection [closed: 10; open: "
            "100]\n"
            "      --phout-tls       phout: add a 13th column, the TLS handshake time\n"
            "  -s, --script FILE     a wrk Lua script (request(), response(), done(), ...);\n"
            "                        arguments after -- go to its init(args)\n"
            "      --trace [RATIO]   send a W3C traceparent header on every request; RATIO of\n"
            "                        them sampled (0..1) [1]; keeps the slowest and failed\n"
            "                        requests' trace ids per second (docs/tracing.md)\n"
            "      --trace-url TMPL  link of a trace id in the report:\n"
            "                        'https://tempo.internal/trace/{trace_id}'\n"
            "      --otlp URL        push per-second metrics to an OpenTelemetry collector over\n"
            "                        OTLP/HTTP JSON, e.g. http://127.0.0.1:4318\n"
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

/* A spec error as "mortar run: ..." into buf; returns the exit code. */
static int run_spec_err(const mt_rs_err_t *e, char *buf, size_t n)
{
    char msg[700];
    run_err(buf, n, "%s", mt_rs_err_format(e, msg, sizeof(msg)));
    return e->code == MT_ENOMEM ? RUN_EXIT_INTERNAL : RUN_EXIT_USAGE;
}

static void run_opts_dispose(run_opts_t *o)
{
    mt_runspec_dispose(&o->s);
    json_decref(o->base_doc);
    json_decref(o->tolerances);
    memset(o, 0, sizeof(*o));
}

/* Whether a word after --trace is its ratio (a number) rather than the URL. */
static bool run_is_ratio(const char *w)
{
    char *end;
    if (w[0] == '\0' || w[0] == '-')
        return false;
    (void)strtod(w, &end);
    return *end == '\0';
}

/* --config FILE: its settings go in first so that the command line overrides them. */
static int run_apply_config(const char *path, run_opts_t *o, char *err, size_t n)
{
    mt__config_info_t info;
    mt_parse_err_t perr = {0};
    mt_rs_err_t rerr;
    int cargc = 0, rc, code = RUN_EXIT_OK;
    char **cargv = NULL, *curl = NULL;

    memset(&info, 0, sizeof(info));
    rc = mt__config_load_info(path, &cargc, &cargv, &curl, &info, &perr);
    for (size_t i = 0; rc != MT_ENOMEM && i < info.nwarnings; i++) {
        char **nw = realloc(o->s.warnings, (o->s.nwarnings + 1) * sizeof(*nw));
        if (nw == NULL || (nw[o->s.nwarnings] = strdup(info.warnings[i])) == NULL) {
            if (nw != NULL)
                o->s.warnings = nw;
            rc = MT_ENOMEM;
            break;
        }
        o->s.warnings = nw;
        o->s.nwarnings++;
    }
    if (rc == MT_ENOMEM) {
        run_err(err, n, "out of memory");
        code = RUN_EXIT_INTERNAL;
    } else if (rc != MT_OK) {
        if (perr.line > 0)
            code = run_err(err, n, "%s:%d:%d: %s", path, perr.line, perr.col, perr.msg);
        else
            code = run_err(err, n, "--config: %s", perr.msg);
    } else {
        snprintf(o->config_path, sizeof(o->config_path), "%s", path);
        o->need_url = info.need_url;
        o->need_ammo = info.need_ammo;
        rc = mt_runspec_apply_entries(&o->s, cargc, cargv, &info, curl, path, NULL, &rerr);
        if (rc != MT_OK)
            code = run_spec_err(&rerr, err, n);
    }
    mt__config_info_dispose(&info);
    mt__config_argv_free(cargc, cargv);
    free(curl);
    return code;
}

/* --baseline FILE: a result document (`mortar run --json`, GET /api/v1/runs/{id}/result), read
 * and checked before the run so that a bad file costs no run. */
static int run_read_baseline(run_opts_t *o, char *err, size_t n)
{
    json_error_t je;
    mt__bl_series_t *s;
    char why[256];
    int rc;

    o->base_doc = json_load_file(o->baseline, JSON_REJECT_DUPLICATES, &je);
    if (o->base_doc == NULL)
        return run_err(err, n, "--baseline %s:%d:%d: %s", o->baseline, je.line, je.column, je.text);
    if (!json_is_object(o->base_doc) || !json_is_object(json_object_get(o->base_doc, "summary")))
        return run_err(err, n, "--baseline %s: summary: missing (not a mortar result document)",
                       o->baseline);
    if ((s = mt__bl_series_new()) == NULL)
        return run_err(err, n, "out of memory");
    rc = mt__bl_series_add_doc(s, o->base_doc, why, sizeof(why));
    mt__bl_series_free(s);
    if (rc == MT_ENOMEM)
        return run_err(err, n, "out of memory");
    if (rc != MT_OK)
        return run_err(err, n, "--baseline %s: %s", o->baseline, why);
    return RUN_EXIT_OK;
}

/* Parses `run`'s argv (argv[0] is "run") into *o, which is always initialised and must be
 * released with run_opts_dispose: a --config file first, then the flags, then the spec is
 * checked and built. Returns 0 (check o->help / o->version), or an exit code (2 usage,
 * 1 internal) with "mortar run: ..." in err. Uses getopt_long (global state: it is reset
 * here; the CLI is one thread) and reorders argv. */
static int run_parse_args(int argc, char **argv, run_opts_t *o, char *err, size_t n)
{
    const char *config = NULL;
    mt_rs_err_t rerr;
    mt_rs_at_t at;
    char show[80];
    int code;

    memset(o, 0, sizeof(*o));
    mt_runspec_init(&o->s, MT_RS_CLI);
    err[0] = '\0';

    /* wrk's way: the arguments after -- are the script's (init(args)), not ours */
    int nopt = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            nopt = i;
            break;
        }
    for (int i = nopt + 1; i < argc; i++) {
        memset(&at, 0, sizeof(at));
        at.src = MT_RS_SRC_FLAG;
        snprintf(at.name, sizeof(at.name), "--");
        if (mt_runspec_set(&o->s, &mt_rs_keys[MT_RSK_SCRIPT_ARGS], argv[i], &at, &rerr) != MT_OK)
            return run_spec_err(&rerr, err, n);
    }
    argc = nopt;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
    }
    if (config != NULL && (code = run_apply_config(config, o, err, n)) != RUN_EXIT_OK)
        return code;

    optind = 0; /* glibc: full re-initialisation, so the parser can run more than once */
    opterr = 0;
    for (;;) {
        int li = -1, c;
        const mt_rs_key_t *k = NULL;

        c = getopt_long(argc, argv, RUN_SHORTOPTS, run_longopts, &li);
        if (c == -1)
            break;
        memset(&at, 0, sizeof(at));
        at.src = MT_RS_SRC_FLAG;
        if (li >= 0)
            snprintf(at.name, sizeof(at.name), "--%s", run_longopts[li].name);
        else
            snprintf(at.name, sizeof(at.name), "-%c", c);

        switch (c) {
        case RUN_OPT_CONFIG:
            continue; /* read first: its options come before the flags */
        case 'h':
            o->help = true;
            continue;
        case RUN_OPT_VERSION:
            o->version = true;
            continue;
        case RUN_OPT_BASELINE:
            o->baseline = optarg;
            continue;
        case RUN_OPT_OTLP:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
                return run_err(err, n, "--otlp %s: expected an http:// or https:// URL",
                               mt__show(optarg, show, sizeof(show)));
            o->otlp = optarg;
            continue;
        case RUN_OPT_TRACE: {
            /* --trace, --trace=RATIO or --trace RATIO (the next word when it is a number) */
            const char *v = optarg;
            if (v == NULL && optind < argc && run_is_ratio(argv[optind]))
                v = argv[optind++];
            if (mt_runspec_set(&o->s, &mt_rs_keys[MT_RSK_TRACE], v ? v : "1", &at, &rerr) != MT_OK)
                return run_spec_err(&rerr, err, n);
            continue;
        }
        case RUN_OPT_TOLERANCE: {
            char why[200];
            if (o->tolerances == NULL && (o->tolerances = json_object()) == NULL)
                return run_err(err, n, "out of memory");
            if (mt__bl_tolerance_parse(optarg, o->tolerances, why, sizeof(why)) != MT_OK)
                return run_err(err, n, "--tolerance %s", why);
            continue;
        }
        case 's': { /* a file on the command line: the spec gets "@FILE" and reads it */
            size_t len = strlen(optarg) + 2;
            char *v = malloc(len);
            if (v == NULL)
                return run_err(err, n, "out of memory");
            snprintf(v, len, "@%s", optarg);
            int src = mt_runspec_set(&o->s, &mt_rs_keys[MT_RSK_SCRIPT], v, &at, &rerr);
            free(v);
            if (src != MT_OK)
                return run_spec_err(&rerr, err, n);
            continue;
        }
        case 'D':
        case RUN_OPT_DIST: /* wrk2's -D: mortar's open model is wrk2's default, fixed */
            if (strcmp(optarg, "fixed") == 0)
                continue;
            return run_err(err, n,
                           "%s %s: wrk2's exp/norm/zipf request-interval distributions are not "
                           "supported; mortar sends at exact intervals (wrk2's default, -D fixed); "
                           "for ramps use --schedule",
                           at.name, mt__show(optarg, show, sizeof(show)));
        case ':': {
            const char *a = argv[optind - 1];
            if (a != NULL && strncmp(a, "--", 2) == 0)
                return run_err(err, n, "%s: missing value", mt__show(a, show, sizeof(show)));
            return run_err(err, n, "-%c: missing value", optopt);
        }
        case '?': {
            const char *a = argv[optind - 1];
            if (optopt != 0 && optopt < 256)
                return run_err(err, n, "unknown option '-%c'", optopt);
            if (a != NULL) {
                size_t kk = strcspn(a, "=");
                mt__show(a, show, sizeof(show));
                if (kk < strlen(show))
                    show[kk] = '\0';
                return run_err(err, n, "unknown option '%s'", show);
            }
            return run_err(err, n, "unknown option");
        }
        default:
            break;
        }
        if (li >= 0) {
            k = mt_rs_key_by_flag(run_longopts[li].name);
        } else {
            for (size_t i = 0; i < MT_RSK__COUNT && k == NULL; i++)
                if (mt_rs_keys[i].shortflag == c)
                    k = &mt_rs_keys[i];
        }
        if (k == NULL)
            return run_err(err, n, "%s: not a run setting", at.name);
        if (mt_runspec_set(&o->s, k, optarg, &at, &rerr) != MT_OK)
            return run_spec_err(&rerr, err, n);
    }
    if (o->help || o->version)
        return RUN_EXIT_OK;
    if (o->tolerances != NULL && o->baseline == NULL)
        return run_err(err, n, "--tolerance: only with --baseline FILE");
    if (o->baseline != NULL && (code = run_read_baseline(o, err, n)) != RUN_EXIT_OK)
        return code;

    if (optind + 1 < argc)
        return run_err(err, n, "unexpected argument '%s' (give one URL)",
                       mt__show(argv[optind + 1], show, sizeof(show)));
    if (optind < argc) {
        memset(&at, 0, sizeof(at));
        at.src = MT_RS_SRC_FLAG; /* the URL argument: messages say "bad URL" themselves */
        if (mt_runspec_set(&o->s, &mt_rs_keys[MT_RSK_URL], argv[optind], &at, &rerr) != MT_OK)
            return run_spec_err(&rerr, err, n);
    }
    if (o->need_url.line > 0 && optind >= argc)
        return run_err(err, n, "%s:%d:%d: %s (or give the URL on the command line)", o->config_path,
                       o->need_url.line, o->need_url.col, o->need_url.msg);
    if (o->need_ammo.line > 0 && o->s.ammo_path == NULL && o->s.nuris == 0)
        return run_err(err, n, "%s:%d:%d: %s", o->config_path, o->need_ammo.line, o->need_ammo.col,
                       o->need_ammo.msg);
    if (mt_runspec_check(&o->s, &rerr) != MT_OK || mt_runspec_build(&o->s, &rerr) != MT_OK)
        return run_spec_err(&rerr, err, n);
    return RUN_EXIT_OK;
}

/* ---- running ---- */

/* Set while the engine runs so that the handler can stop it; read only by the handler. */
static mt_run_t *volatile run_active;
static volatile sig_atomic_t run_signal;
/* Set once run_exec may have created an output file: a signal then stops the run (at once if
 * it has not started) so that the outputs are written; before, it exits as the default action
 * would. Caught from the start, not only around the run: a background job inherits SIGINT
 * ignored, and a signal sent while the ammo or a script was read was lost. */
static volatile sig_atomic_t run_outputs;
static struct sigaction run_old_int, run_old_term;

static void run_on_signal(int sig)
{
    mt_run_t *r = run_active;
    if (!run_outputs)
        _exit(128 + sig); /* nothing written yet, nothing to lose */
    run_signal = sig;
    if (r != NULL)
        mt_run_stop(r);
}

/* The first SIGINT/SIGTERM is run_on_signal's; a second one kills (SA_RESETHAND). */
static void run_signals_catch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = run_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigaction(SIGINT, &sa, &run_old_int);
    sigaction(SIGTERM, &sa, &run_old_term);
}

static void run_signals_restore(void)
{
    sigaction(SIGINT, &run_old_int, NULL);
    sigaction(SIGTERM, &run_old_term, NULL);
}

typedef struct run_ctx {
    mt_run_t *run;
    mt__verdicts_t *verdicts;
    mt__live_t live;
    mt__json_t *json;
    mt__phout_t *phout;
    mt__bl_series_t *bl; /* --baseline: this run's seconds */
    mt__otlp_t *otlp;    /* --otlp */
    const char *const *tags;
    size_t ntags;
    char run_id[40]; /* --otlp: the mortar.run_id attribute (the run's start, a random suffix) */
} run_ctx_t;

static void run_on_finishing(uint64_t in_flight, int64_t left_ns, void *ud)
{
    run_ctx_t *ctx = ud;
    mt__live_finishing(&ctx->live, in_flight, left_ns);
}

static void run_on_second(const mt_second_t *s, void *ud)
{
    run_ctx_t *ctx = ud;
    if (mt__verdicts_second(ctx->verdicts, s))
        mt_run_stop(ctx->run); /* the verdict is printed with the summary */
    mt__live_second(&ctx->live, s);
    if (ctx->json != NULL)
        mt__json_second(ctx->json, s); /* an error is kept and reported by mt__json_finish */
    if (ctx->otlp != NULL) {
        const mt_run_result_t *res = mt_run_result(ctx->run);
        json_t *o = mt__result_second_json(s, ctx->tags, ctx->ntags);
        if (ctx->run_id[0] == '\0') {
            unsigned rnd = 0;
            FILE *f = fopen("/dev/urandom", "rb");
            if (f != NULL) {
                if (fread(&rnd, sizeof rnd, 1, f) != 1)
                    rnd = 0;
                fclose(f);
            }
            snprintf(ctx->run_id, sizeof ctx->run_id, "cli-%lld-%08x",
                     (long long)(res->start_unix_ns / 1000000000LL), rnd);
        }
        if (o != NULL)
            mt__otlp_push(ctx->otlp, ctx->run_id, NULL, res->start_unix_ns, o, s->latency);
        json_decref(o);
    }
    if (ctx->bl != NULL) {
        json_t *o = mt__result_second_json(s, NULL, 0);
        if (o == NULL || mt__bl_series_add(ctx->bl, o) != MT_OK) {
            mt__bl_series_free(ctx->bl); /* the comparison is reported as not made */
            ctx->bl = NULL;
        }
        json_decref(o);
    }
}

/* --baseline: the verdict of this run against the file's (a new reference; NULL with a message
 * printed when it could not be made). */
static json_t *run_baseline(const run_opts_t *o, run_ctx_t *ctx, const mt_run_result_t *r,
                            bool interrupted)
{
    mt__bl_series_t *base = mt__bl_series_new();
    json_t *sum = mt__result_summary_json(r, interrupted, NULL, 0), *v = NULL;
    char why[256];

    if (base != NULL && sum != NULL && ctx->bl != NULL &&
        mt__bl_series_add_doc(base, o->base_doc, why, sizeof(why)) == MT_OK)
        v = mt__bl_compare(sum, ctx->bl, json_object_get(o->base_doc, "summary"), base,
                           o->tolerances, NULL);
    if (v != NULL)
        json_object_set_new(v, "base_file", json_string(o->baseline));
    else
        fprintf(stderr,
                "mortar run: --baseline: the comparison could not be made (out of memory)\n");
    json_decref(sum);
    mt__bl_series_free(base);
    return v;
}

/* Runs the spec in o (taken over by the job; the baseline stays o's). */
static int run_exec(run_opts_t *o)
{
    mt__run_info_t info;
    const mt_run_config_t *cfg;
    mt__runjob_t *job = NULL;
    mt_runspec_t *sp;
    mt_run_t *run;
    mt_rs_err_t rerr;
    run_ctx_t ctx;
    struct sigaction sa, old_pipe;
    FILE *sumf = stdout;
    char err[512];
    int code = RUN_EXIT_INTERNAL, rc;
    bool interrupted;
    json_t *bl = NULL;

    memset(&ctx, 0, sizeof(ctx));
    memset(&info, 0, sizeof(info));
    run_outputs = 1; /* from here a signal stops the run, which writes what it has */
    rc = mt__runjob_new_spec(&o->s, &job, &rerr);
    if (rc != MT_OK) {
        code = run_spec_err(&rerr, err, sizeof(err));
        fprintf(stderr, "%s\n", err);
        return code;
    }
    sp = mt__runjob_spec(job);
    info.url = sp->url_txt;
    info.method = sp->method;
    info.connections = sp->connections;
    info.threads = sp->threads;
    info.duration_ns = sp->planned_ns;
    info.open_model = sp->open_model;
    info.rate = sp->rate;
    info.schedule = sp->schedule_txt;
    info.planned = sp->planned;
    info.timeout_ns = sp->timeout_ns;
    info.max_queue = sp->max_queue;
    info.detail = sp->latency;
    info.spec = sp;
    if (sp->has_ammo) {
        info.tags = sp->ammo.tags;
        info.ntags = sp->ammo.ntags;
        info.ammo = sp->ammo_path != NULL ? sp->ammo_path : "--uri";
        info.nrequests = sp->ammo.nreqs;
    } else if (sp->script_obj != NULL) {
        info.tags = mt__runjob_tags(job, &info.ntags);
    }

    if (sp->html_path != NULL) {
        /* fail before the run, as --json does, when the report cannot be written */
        FILE *probe = fopen(sp->html_path, "a");
        if (probe == NULL) {
            fprintf(stderr, "mortar run: --html: cannot create '%s': %s\n", sp->html_path,
                    strerror(errno));
            goto out;
        }
        fclose(probe);
    }
    if (sp->json_path != NULL || sp->html_path != NULL) {
        if (sp->json_path != NULL && strcmp(sp->json_path, "-") == 0)
            sumf = stderr; /* stdout carries the JSON alone */
        rc = mt__json_new(&info, sp->json_path, &ctx.json, err, sizeof(err));
        if (rc != MT_OK) {
            fprintf(stderr, "mortar run: %s\n", err);
            goto out;
        }
    }

    if (sp->phout_path != NULL) {
        rc = mt__phout_open(sp->phout_path, info.tags, info.ntags, &ctx.phout, err, sizeof(err));
        if (rc != MT_OK) {
            fprintf(stderr, "mortar run: %s\n", err);
            goto out;
        }
        mt__phout_tls_column(ctx.phout, sp->phout_tls);
        mt__runjob_set_records(job, mt__phout_records, ctx.phout);
    }

    if (!sp->quiet) /* the grace's progress line (ctx.live is ready before the run starts) */
        mt__runjob_set_finishing(job, run_on_finishing, &ctx);
    rc = mt__runjob_prepare(job, &rerr);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar run: %s\n", rerr.msg);
        code = rc == MT_EINVAL ? RUN_EXIT_USAGE : RUN_EXIT_INTERNAL;
        goto out;
    }
    run = mt__runjob_engine(job);
    cfg = mt__runjob_config(job);

    rc = mt__verdicts_start(&sp->verdicts, cfg->tags, cfg->ntags, (uint32_t)cfg->connections, err,
                            sizeof(err));
    if (rc != MT_OK) {
        fprintf(stderr, "%s\n", err);
        code = RUN_EXIT_USAGE;
        goto out;
    }
    ctx.run = run;
    ctx.verdicts = &sp->verdicts;
    ctx.tags = cfg->tags;
    ctx.ntags = cfg->ntags;
    if (o->otlp != NULL && mt__otlp_new(o->otlp, &ctx.otlp, err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "mortar run: %s\n", err);
        goto out;
    }

    mt__out_header(sumf, &info);
    mt__live_init(&ctx.live, stderr, isatty(STDERR_FILENO) == 1, sp->quiet, &info);
    if (o->base_doc != NULL && (ctx.bl = mt__bl_series_new()) == NULL) {
        fprintf(stderr, "mortar run: out of memory\n");
        goto out;
    }

    /* the first SIGINT stops the run and still reports; one that came while it was being
     * prepared stops it before its first request (an empty, interrupted run is reported) */
    run_active = run;
    if (run_signal != 0)
        mt_run_stop(run);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old_pipe);

    rc = mt__runjob_exec(job, run_on_second, &ctx, &rerr);

    run_signals_restore(); /* from here a signal acts as before mortar run started */
    run_active = NULL;
    mt__live_end(&ctx.live);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar run: %s\n", rerr.msg);
        code = RUN_EXIT_INTERNAL;
        sigaction(SIGPIPE, &old_pipe, NULL);
        goto out;
    }

    interrupted = run_signal != 0;
    mt__verdicts_finish(&sp->verdicts, mt_run_result(run), cfg->tags, cfg->ntags);
    mt__out_summary(sumf, &info, &ctx.live, mt_run_result(run), interrupted);
    mt__verdicts_print(sumf, &sp->verdicts);
    fflush(sumf);
    code = RUN_EXIT_OK;
    if (mt__runjob_script_done(job, &rerr) != MT_OK) {
        fprintf(stderr, "mortar run: %s\n", rerr.msg);
        code = RUN_EXIT_INTERNAL;
    }
    if (interrupted)
        code = 128 + (int)run_signal; /* 130 after SIGINT, 143 after SIGTERM */
    else if (mt__verdicts_exit_code(&sp->verdicts) != 0)
        code = mt__verdicts_exit_code(&sp->verdicts);
    if (o->base_doc != NULL) {
        bl = run_baseline(o, &ctx, mt_run_result(run), interrupted);
        if (bl == NULL && code == RUN_EXIT_OK)
            code = RUN_EXIT_INTERNAL;
        if (bl != NULL) {
            mt__bl_print(sumf, bl);
            if (json_is_true(json_object_get(bl, "regressed")) && code == RUN_EXIT_OK)
                code = MT_THRESHOLD_EXIT_CODE; /* like a failed threshold */
        }
    }
    if (ctx.json != NULL) {
        if (mt__verdicts_any(&sp->verdicts) || bl != NULL) {
            json_t *vs =
                mt__verdicts_any(&sp->verdicts) ? mt__verdicts_json(&sp->verdicts) : json_array();
            if (bl != NULL)
                json_array_append(vs, bl);
            mt__json_set(ctx.json, "verdicts", vs);
        }
        mt__json_set(ctx.json, "exit_code", json_integer(code));
    }
    if (ctx.otlp != NULL) {
        mt__otlp_stats_t st;
        mt__otlp_free(ctx.otlp, 10000, &st); /* what is queued goes out, 10 s at most */
        ctx.otlp = NULL;
        if (st.failed > 0 || st.dropped > 0)
            fprintf(stderr,
                    "mortar run: --otlp: %llu seconds exported, %llu failed, %llu dropped\n",
                    (unsigned long long)st.exported, (unsigned long long)st.failed,
                    (unsigned long long)st.dropped);
        if (ctx.json != NULL)
            mt__json_set(ctx.json, "otlp",
                         json_pack("{s:I, s:I, s:I, s:I}", "exported", (json_int_t)st.exported,
                                   "failed", (json_int_t)st.failed, "dropped",
                                   (json_int_t)st.dropped, "retries", (json_int_t)st.retries));
    }
    if (ctx.json != NULL &&
        mt__json_finish(ctx.json, mt_run_result(run), interrupted, err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "mortar run: %s\n", err);
        code = RUN_EXIT_INTERNAL;
    }
    if (sp->html_path != NULL && ctx.json != NULL && code != RUN_EXIT_INTERNAL) {
        size_t tlen = 0;
        char *text = mt__json_text(ctx.json, &tlen);
        rc = text != NULL ? mt__report_write(text, tlen, NULL, 0, sp->html_path, err, sizeof(err))
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
    mt__otlp_free(ctx.otlp, 0, NULL);
    mt__json_free(ctx.json);
    mt__runjob_free(job);
    mt__bl_series_free(ctx.bl);
    json_decref(bl);
    return code;
}

int mt_cli_run(int argc, char **argv)
{
    run_opts_t o;
    char err[1024];
    run_signal = 0;
    run_outputs = 0;
    run_signals_catch(); /* before the ammo or a script is read */
    int code = run_parse_args(argc, argv, &o, err, sizeof(err));

    for (size_t i = 0; i < o.s.nwarnings; i++)
        fprintf(stderr, "mortar run: warning: %s\n", o.s.warnings[i]);
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
    run_signals_restore();
    return code;
}
