/* mortar target: run the built-in target server until SIGINT/SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "mortar/target.h"

#define EXIT_USAGE 2
#define PROG       "mortar target"

static const char k_usage[] =
    "usage: mortar target [--listen ADDR:PORT] [--threads N] [--size BYTES] [--status MIX]\n"
    "                     [--delay DELAY] [--chunked] [--close] [--reset PCT] [--slow RATE]\n"
    "                     [--malformed PCT] [--stall START:LEN]... [--seed N]\n"
    "                     [--tls-cert FILE --tls-key FILE | --tls-self-signed\n"
    "                     [--tls-self-signed-out FILE]] [--h2-max-streams N] [--no-http2]\n"
    "                     [--strict-params] [--allow-remote] [-q]\n"
    "\n"
    "Runs the built-in HTTP/1.1 and HTTP/2 target server (and fault injector) until SIGINT or\n"
    "SIGTERM.\n"
    "Once listening it prints one line, 'listening on ADDR:PORT', to stdout.\n"
    "\n"
    "  --listen ADDR:PORT    address to listen on (default 127.0.0.1:8080; port 0 picks a\n"
    "                        free one; IPv6 as [::1]:PORT)\n"
    "  --threads N           worker threads (default: one per CPU)\n"
    "  --allow-remote        allow a non-loopback listening address\n"
    "  --tls-cert FILE       TLS certificate (PEM, may hold the chain); needs --tls-key\n"
    "  --tls-key FILE        TLS private key (PEM)\n"
    "  --tls-self-signed     TLS with a certificate for localhost made at start\n"
    "  --tls-self-signed-out FILE  write that certificate (PEM) to FILE, for clients' CA\n"
    "                        (with TLS, connections starting with a TLS handshake speak TLS,\n"
    "                        others cleartext, on the same port)\n"
    "  --h2-max-streams N    HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (default 100)\n"
    "  --no-http2            HTTP/1.1 only (no ALPN h2, no cleartext HTTP/2 preface)\n"
    "  -q, --quiet           no summary on stderr at exit\n"
    "  -h, --help            this help\n"
    "\n"
    "Defaults for every request (its query parameters of the same name override them):\n"
    "  --size BYTES          body: BYTES of 'x' instead of \"ok\\n\" (k, m, g suffixes;\n"
    "                        alias --body-size)\n"
    "  --status MIX          status, or a weighted mix: 503, 200:90,503:10\n"
    "  --delay DELAY         before answering: 50ms, uniform 10ms..200ms, exponential exp:50ms\n"
    "  --chunked             Transfer-Encoding: chunked bodies (16 KiB chunks)\n"
    "  --close               Connection: close, and close after each response\n"
    "  --reset PCT           reset the connection (RST) instead of answering PCT % of requests\n"
    "  --slow RATE           write responses at RATE bytes/s (k, m, g suffixes)\n"
    "  --malformed PCT       answer PCT % of requests with a malformed response, then close\n"
    "\n"
    "  --stall START:LEN     hold every response due in [START, START+LEN) until START+LEN,\n"
    "                        measured from the first request (e.g. 3s:1s); repeatable\n"
    "  --seed N              seed of the random choices (default 1: runs are reproducible)\n"
    "\n"
    "Per request, from the query string: status=, size=, delay=, chunked=0|1, close=0|1,\n"
    "reset=, slow=, malformed= (e.g. /?status=200:95,503:5&delay=exp:20ms&size=10k).\n"
    "Other query parameters (an application's own, as in recorded ammo) are ignored and\n"
    "counted (unknown_params in the stats); a bad value of a known one is answered 400.\n"
    "  --strict-params       answer 400 to unknown query parameters too\n"
    "GET /__mortar/stats: counters as JSON; /__mortar/reset: the same, then zero them.\n"
    "See docs/target.md.\n";

#define DEFAULTS_MAX 2048 /* the flags' behaviour, as a query string */

typedef struct opts {
    char host[64];
    uint16_t port;
    int threads;
    bool has_body_size;
    uint64_t body_size;
    mt_target_stall_t stalls[MT_TARGET_MAX_STALLS];
    size_t nstalls;
    bool allow_remote;
    bool quiet;
    uint64_t seed;
    char defaults[DEFAULTS_MAX]; /* "status=...&delay=..." from the behaviour flags */
    size_t defaults_len;
    const char *tls_cert, *tls_key, *tls_self_signed_out; /* argv strings */
    bool tls_self_signed;
    bool no_http2;
    uint32_t h2_max_streams;
    bool strict_params;
} opts_t;

static int usage_error(const char *flag, const char *fmt, const char *val)
{
    fprintf(stderr, PROG ": %s: ", flag);
    fprintf(stderr, fmt, val);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

static int parse_listen(const char *v, opts_t *o)
{
    char err[256];
    if (mt_target_parse_listen(v, o->host, sizeof(o->host), &o->port, err, sizeof(err)) != MT_OK)
        return usage_error("--listen", "%s", err);
    return 0;
}

static int parse_stall(const char *v, opts_t *o)
{
    char err[256];
    if (o->nstalls == MT_TARGET_MAX_STALLS)
        return usage_error("--stall", "at most 16 stalls (at '%s')", v);
    if (mt_target_parse_stall(v, &o->stalls[o->nstalls], err, sizeof(err)) != MT_OK)
        return usage_error("--stall", "%s", err);
    o->nstalls++;
    return 0;
}

/* A behaviour flag: checked alone (so the message names the flag), then appended to the
 * defaults, where a later flag overrides an earlier one as in a query string. */
static int add_default(opts_t *o, const char *flag, const char *name, const char *val)
{
    char q[256], err[256];
    size_t nlen = strlen(name);
    int n;

    if (strchr(val, '&'))
        return usage_error(flag, "'%s' may not contain '&'", val);
    n = snprintf(q, sizeof(q), "%s=%s", name, val);
    if (n < 0 || (size_t)n >= sizeof(q))
        return usage_error(flag, "'%.60s...' is too long", val);
    if (mt_target_check_behaviour(q, err, sizeof(err)) != MT_OK) {
        const char *m = err;
        /* "status: '99' is not ..." -> "--status: '99' is not ..." */
        if (strncmp(m, name, nlen) == 0 && strncmp(m + nlen, ": ", 2) == 0)
            m += nlen + 2;
        fprintf(stderr, PROG ": %s: %s\n", flag, m);
        return EXIT_USAGE;
    }
    if (o->defaults_len + (size_t)n + 2 > sizeof(o->defaults))
        return usage_error(flag, "%s", "too many behaviour flags");
    if (o->defaults_len)
        o->defaults[o->defaults_len++] = '&';
    memcpy(o->defaults + o->defaults_len, q, (size_t)n + 1);
    o->defaults_len += (size_t)n;
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o, bool *help)
{
    int i = 1, rc = 0;

    /* argv[0] is "target"; tolerate being handed the whole command line too */
    if (argc > 1 && strcmp(argv[1], "target") == 0 && strcmp(argv[0], "target") != 0)
        i = 2;
    for (; i < argc && rc == 0; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char flag[32];
        bool takes;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            return 0;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (strcmp(a, "--allow-remote") == 0) {
            o->allow_remote = true;
            continue;
        }
        if (strcmp(a, "--tls-self-signed") == 0) {
            o->tls_self_signed = true;
            continue;
        }
        if (strcmp(a, "--no-http2") == 0) {
            o->no_http2 = true;
            continue;
        }
        if (strcmp(a, "--strict-params") == 0) {
            o->strict_params = true;
            continue;
        }
        if (strcmp(a, "--chunked") == 0 || strcmp(a, "--close") == 0) {
            if ((rc = add_default(o, a, a + 2, "1")) != 0)
                return rc;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, PROG ": unexpected argument '%s' (see mortar target --help)\n", a);
            return EXIT_USAGE;
        }
        eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof(flag)) {
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(flag, sizeof(flag), "%s", a);
        }
        takes = strcmp(flag, "--listen") == 0 || strcmp(flag, "--threads") == 0 ||
                strcmp(flag, "--body-size") == 0 || strcmp(flag, "--size") == 0 ||
                strcmp(flag, "--stall") == 0 || strcmp(flag, "--status") == 0 ||
                strcmp(flag, "--delay") == 0 || strcmp(flag, "--reset") == 0 ||
                strcmp(flag, "--slow") == 0 || strcmp(flag, "--malformed") == 0 ||
                strcmp(flag, "--seed") == 0 || strcmp(flag, "--tls-cert") == 0 ||
                strcmp(flag, "--tls-key") == 0 || strcmp(flag, "--tls-self-signed-out") == 0 ||
                strcmp(flag, "--h2-max-streams") == 0;
        if (!takes) {
            fprintf(stderr, PROG ": unknown flag '%s' (see mortar target --help)\n", a);
            return EXIT_USAGE;
        }
        if (!val) {
            if (i + 1 >= argc)
                return usage_error(flag, "%s", "needs a value");
            val = argv[++i];
        }
        if (strcmp(flag, "--listen") == 0) {
            rc = parse_listen(val, o);
        } else if (strcmp(flag, "--threads") == 0) {
            char *end;
            long n;
            errno = 0;
            n = strtol(val, &end, 10);
            if (val[0] < '0' || val[0] > '9' || *end || errno || n < 1 || n > MT_TARGET_MAX_THREADS)
                rc = usage_error(flag, "'%s' is not a number 1..256", val);
            else
                o->threads = (int)n;
        } else if (strcmp(flag, "--tls-cert") == 0 || strcmp(flag, "--tls-key") == 0 ||
                   strcmp(flag, "--tls-self-signed-out") == 0) {
            if (!val[0])
                rc = usage_error(flag, "%s", "needs a file name");
            else if (flag[6] == 'c')
                o->tls_cert = val;
            else if (flag[6] == 'k')
                o->tls_key = val;
            else
                o->tls_self_signed_out = val;
        } else if (strcmp(flag, "--h2-max-streams") == 0) {
            char *end;
            long n;
            errno = 0;
            n = strtol(val, &end, 10);
            if (val[0] < '0' || val[0] > '9' || *end || errno || n < 1 ||
                n > MT_TARGET_MAX_H2_STREAMS)
                rc = usage_error(flag, "'%s' is not a number 1..10000", val);
            else
                o->h2_max_streams = (uint32_t)n;
        } else if (strcmp(flag, "--seed") == 0) {
            char *end;
            unsigned long long n;
            errno = 0;
            n = strtoull(val, &end, 10);
            if (val[0] < '0' || val[0] > '9' || *end || errno)
                rc = usage_error(flag, "'%s' is not a number 0..18446744073709551615", val);
            else
                o->seed = n;
        } else if (strcmp(flag, "--status") == 0 || strcmp(flag, "--delay") == 0 ||
                   strcmp(flag, "--reset") == 0 || strcmp(flag, "--slow") == 0 ||
                   strcmp(flag, "--malformed") == 0) {
            rc = add_default(o, flag, flag + 2, val);
        } else if (strcmp(flag, "--body-size") == 0 || strcmp(flag, "--size") == 0) {
            int r = mt_target_parse_size(val, strlen(val), &o->body_size);
            if (r == MT_ERANGE)
                rc = usage_error(flag, "'%s' is more than 1g", val);
            else if (r != MT_OK)
                rc = usage_error(flag, "'%s' is not a byte count (like 100, 10k, 2m)", val);
            else
                o->has_body_size = true;
        } else {
            rc = parse_stall(val, o);
        }
    }
    if (rc == 0 && o->tls_self_signed && (o->tls_cert || o->tls_key))
        return usage_error("--tls-self-signed", "%s",
                           "and --tls-cert/--tls-key exclude each other");
    if (rc == 0 && !o->tls_self_signed && (!o->tls_cert != !o->tls_key))
        return usage_error(o->tls_cert ? "--tls-cert" : "--tls-key", "%s",
                           "needs --tls-cert and --tls-key together");
    if (rc == 0 && o->tls_self_signed_out && !o->tls_self_signed)
        return usage_error("--tls-self-signed-out", "%s", "needs --tls-self-signed");
    if (rc == 0 && !o->allow_remote && !mt_target_is_loopback(o->host)) {
        fprintf(stderr,
                PROG ": --listen: %s is not a loopback address (add --allow-remote to listen on "
                     "it)\n",
                o->host);
        return EXIT_USAGE;
    }
    return rc;
}

static void on_signal(int sig)
{
    (void)sig; /* never runs: the signals are blocked and taken by sigwait */
}

int mt_cli_target(int argc, char **argv)
{
    opts_t o;
    bool help = false;
    mt_target_config_t cfg;
    mt_target_t *t = NULL;
    mt_target_stats_t st;
    sigset_t set, old;
    struct sigaction sa, old_int, old_term;
    struct timespec t0, t1;
    char err[256];
    int rc, sig = 0, code = 1;

    memset(&o, 0, sizeof(o));
    strcpy(o.host, "127.0.0.1");
    o.port = 8080;
    o.seed = 1;
    if ((rc = parse_args(argc, argv, &o, &help)) != 0)
        return rc;
    if (help) {
        fputs(k_usage, stdout);
        return 0;
    }

    /* Signals are taken synchronously with sigwait; a handler is installed so a SIGINT that
     * a non-interactive shell set to "ignore" for a background job is still delivered. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    memset(&cfg, 0, sizeof(cfg));
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.threads = o.threads;
    cfg.has_body_size = o.has_body_size;
    cfg.body_size = o.body_size;
    cfg.stalls = o.stalls;
    cfg.nstalls = o.nstalls;
    cfg.allow_remote = o.allow_remote;
    cfg.defaults = o.defaults;
    cfg.seed = o.seed;
    cfg.tls_cert = o.tls_cert;
    cfg.tls_key = o.tls_key;
    cfg.tls_self_signed = o.tls_self_signed;
    cfg.tls_self_signed_out = o.tls_self_signed_out;
    cfg.no_http2 = o.no_http2;
    cfg.h2_max_streams = o.h2_max_streams;
    cfg.strict_params = o.strict_params;
    if ((rc = mt_target_new(&cfg, &t, err, sizeof(err))) != MT_OK) {
        fprintf(stderr, PROG ": %s\n", err[0] ? err : mt_strerror(rc));
        code = rc == MT_EINVAL ? EXIT_USAGE : 1;
        goto out;
    }
    if ((rc = mt_target_start(t)) != MT_OK) {
        fprintf(stderr, PROG ": cannot start worker threads: %s\n", mt_strerror(rc));
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (strchr(o.host, ':'))
        printf("listening on [%s]:%u\n", o.host, (unsigned)mt_target_port(t));
    else
        printf("listening on %s:%u\n", o.host, (unsigned)mt_target_port(t));
    fflush(stdout);

    while (sigwait(&set, &sig) != 0) {
    }
    mt_target_stop(t);
    rc = mt_target_wait(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != MT_OK) {
        fprintf(stderr, PROG ": worker failed: %s\n", mt_strerror(rc));
        goto out;
    }
    if (!o.quiet) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        mt_target_stats(t, &st);
        fprintf(stderr,
                PROG ": %s: served %llu requests on %llu connections in %.1fs "
                     "(%llu malformed, %llu bad parameters, %llu unknown parameters ignored, "
                     "%llu resets, %llu malformed responses)\n",
                sig == SIGINT ? "interrupted" : "terminated", (unsigned long long)st.requests,
                (unsigned long long)st.connections, secs, (unsigned long long)st.bad_requests,
                (unsigned long long)st.bad_params, (unsigned long long)st.unknown_params,
                (unsigned long long)st.resets, (unsigned long long)st.malformed);
    }
    code = 0;
out:
    mt_target_free(t);
    /* unblock first: a second signal still pending goes to the no-op handler */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (sig == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    /* else keep the no-op handler: the process is on its way out, and a second signal may
     * still come (timeout(1) signals its child, then its whole process group) and must not
     * turn exit status 0 into death by signal */
    return code;
}
