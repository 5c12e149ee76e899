/* mortar import / mortar collect --follow (docs/import.md, ADR 0035): other tools' result
 * files (phout, JMeter JTL CSV/XML, k6 JSON) into runs of `mortar serve`. The file is streamed
 * as the body of POST /api/v1/runs/import, which parses it (mortar/import.h); --dry-run parses
 * it here instead and prints what the run would hold. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mortar/error.h"
#include "mortar/hist.h"
#include "mortar/import.h"

#define EXIT_OK     0
#define EXIT_FAILED 1 /* imported; the run failed its thresholds (or ended error) */
#define EXIT_USAGE  2 /* bad flags, or a file that is not of the format (strict: a bad line) */
#define EXIT_SERVER 3 /* the server could not be reached or refused the request */

typedef struct imp_cli {
    const char *prog;
    const char *file;
    const char *server;
    const char *test;
    const char *format;
    const char *token_file;
    bool strict, dry_run, follow, json;
    int window;       /* 0: the server's default */
    int idle_timeout; /* follow: seconds without new data before the end */
    long pid;         /* follow: end when this process exits */
} imp_cli_t;

static const char k_import_usage[] =
    "usage: mortar import FILE --server URL --test NAME [flags]\n"
    "       mortar import FILE --dry-run [flags]\n"
    "\n"
    "Imports another tool's per-request results as a run of a test on `mortar serve`: Yandex.Tank\n"
    "or Pandora phout, JMeter JTL (CSV with or without a header, XML), k6 JSON (k6 --out json).\n"
    "The run is judged by the test's thresholds and autostop like any other.\n"
    "\n"
    "  --server URL          the mortar serve to import into\n"
    "  --test NAME           the test (name or id) the run belongs to\n"
    "  --format F            auto, phout, jtl-csv, jtl-xml or k6 [auto]\n"
    "  --strict              the first malformed line fails the import (exit 2)\n"
    "  --window S            reorder window in seconds [10]\n"
    "  --token-file F        the API token in a file (else $MORTAR_TOKEN)\n"
    "  --dry-run             parse FILE here and print the run's numbers as JSON; no server\n"
    "  --json                print the server's answer (the Run and the import's counts) as JSON\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 imported and passed, 1 imported and failed (thresholds, autostop), 2 bad\n"
    "usage or a file that is not of the format, 3 the server refused or could not be reached.\n"
    "See docs/import.md.\n";

static const char k_collect_usage[] =
    "usage: mortar collect --follow FILE --server URL --test NAME [flags]\n"
    "\n"
    "Follows a result file a running tool writes (a Tank phout, a JTL, k6 JSON) into a live run\n"
    "of `mortar serve`: each second shows in the UI about 1 s after its end. Survives log\n"
    "rotation (a new file at the path) and truncation.\n"
    "\n"
    "  --follow FILE         the file to follow (read from its start)\n"
    "  --server URL          the mortar serve to send to\n"
    "  --test NAME           the test (name or id) the run belongs to\n"
    "  --format F            auto, phout, jtl-csv, jtl-xml or k6 [auto]\n"
    "  --idle-timeout S      end after S seconds without new data [30]\n"
    "  --pid PID             end once process PID has exited (and its last lines are sent)\n"
    "  --window S            seconds a second waits for late records [1]\n"
    "  --token-file F        the API token in a file (else $MORTAR_TOKEN)\n"
    "  --json                print the server's answer as JSON\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status as mortar import. See docs/import.md.\n";

enum {
    O_SERVER = 256,
    O_TEST,
    O_FORMAT,
    O_STRICT,
    O_WINDOW,
    O_TOKEN_FILE,
    O_DRY_RUN,
    O_JSON,
    O_FOLLOW,
    O_IDLE,
    O_PID,
};

static int imp_int_flag(const char *prog, const char *flag, const char *arg, long min, long max,
                        long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: %s: '%s' is not a whole number in [%ld, %ld]\n", prog, flag, arg, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

static int imp_parse(int argc, char **argv, imp_cli_t *o, bool collect)
{
    static const struct option lo[] = {
        {"server", required_argument, NULL, O_SERVER},
        {"test", required_argument, NULL, O_TEST},
        {"format", required_argument, NULL, O_FORMAT},
        {"strict", no_argument, NULL, O_STRICT},
        {"window", required_argument, NULL, O_WINDOW},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"dry-run", no_argument, NULL, O_DRY_RUN},
        {"json", no_argument, NULL, O_JSON},
        {"follow", required_argument, NULL, O_FOLLOW},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"pid", required_argument, NULL, O_PID},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        bool only_import = c == O_STRICT || c == O_DRY_RUN;
        bool only_collect = c == O_FOLLOW || c == O_IDLE || c == O_PID;
        if ((collect && only_import) || (!collect && only_collect)) {
            fprintf(stderr, "%s: %s is not a flag of this command (see --help)\n", o->prog,
                    argv[optind - 1]);
            return EXIT_USAGE;
        }
        switch (c) {
        case O_SERVER:
            o->server = optarg;
            break;
        case O_TEST:
            o->test = optarg;
            break;
        case O_FORMAT: {
            mt_imp_format_t f;
            if (mt_imp_format_parse(optarg, &f) != MT_OK) {
                fprintf(stderr,
                        "%s: --format: '%s' is not one of auto, phout, jtl-csv, jtl-xml, k6\n",
                        o->prog, optarg);
                return EXIT_USAGE;
            }
            o->format = optarg;
            break;
        }
        case O_STRICT:
            o->strict = true;
            break;
        case O_WINDOW:
            if (imp_int_flag(o->prog, "--window", optarg, 1, 3600, &v) != 0)
                return EXIT_USAGE;
            o->window = (int)v;
            break;
        case O_TOKEN_FILE:
            o->token_file = optarg;
            break;
        case O_DRY_RUN:
            o->dry_run = true;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_FOLLOW:
            o->follow = true;
            o->file = optarg;
            break;
        case O_IDLE:
            if (imp_int_flag(o->prog, "--idle-timeout", optarg, 1, 86400, &v) != 0)
                return EXIT_USAGE;
            o->idle_timeout = (int)v;
            break;
        case O_PID:
            if (imp_int_flag(o->prog, "--pid", optarg, 1, 1L << 22, &v) != 0)
                return EXIT_USAGE;
            o->pid = v;
            break;
        case 'h':
            fputs(collect ? k_collect_usage : k_import_usage, stdout);
            return -1;
        case ':':
            fprintf(stderr, "%s: %s needs a value\n", o->prog, argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "%s: unknown flag '%s' (see --help)\n", o->prog, argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (!collect) {
        if (optind != argc - 1) {
            fprintf(stderr, "%s: give one FILE (see --help)\n", o->prog);
            return EXIT_USAGE;
        }
        o->file = argv[optind];
    } else if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (the file goes after --follow)\n", o->prog,
                argv[optind]);
        return EXIT_USAGE;
    } else if (!o->follow) {
        fprintf(stderr, "%s: --follow FILE is required\n", o->prog);
        return EXIT_USAGE;
    }
    if (!o->dry_run && (o->server == NULL || o->test == NULL)) {
        fprintf(stderr, "%s: --server URL and --test NAME are required%s\n", o->prog,
                collect ? "" : " (or --dry-run)");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- --dry-run: the run's numbers computed here ---- */

typedef struct dry {
    mt_counters_t c;
    mt_hist_t *lat;
    uint32_t seconds;
    json_t *tags; /* name -> count */
} dry_t;

static int dry_second(const mt_second_t *s, const char *const *tags, size_t ntags, void *ud)
{
    dry_t *d = ud;
    mt_counters_add(&d->c, &s->c);
    mt_hist_add(d->lat, s->latency);
    d->seconds++;
    for (size_t i = 1; i < ntags; i++) {
        if (s->tags[i].c.sent == 0)
            continue;
        json_t *v = json_object_get(d->tags, tags[i]);
        json_object_set_new(d->tags, tags[i],
                            json_integer(json_integer_value(v) + (json_int_t)s->tags[i].c.sent));
    }
    return 0;
}

static int imp_dry_run(const imp_cli_t *o, const mt_imp_opts_t *io)
{
    FILE *f = strcmp(o->file, "-") == 0 ? stdin : fopen(o->file, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: cannot open: %s\n", o->prog, o->file, strerror(errno));
        return EXIT_USAGE;
    }
    dry_t d = {.tags = json_object()};
    mt_imp_t *p = NULL;
    int rc = mt_hist_new_latency(&d.lat);
    if (rc == MT_OK)
        rc = mt_imp_new(io, dry_second, &d, &p);
    static char buf[1 << 20];
    size_t n;
    while (rc == MT_OK && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = mt_imp_feed(p, buf, n);
    if (rc == MT_OK && ferror(f)) {
        fprintf(stderr, "%s: %s: read error: %s\n", o->prog, o->file, strerror(errno));
        rc = MT_ESYS;
    }
    if (rc == MT_OK)
        rc = mt_imp_finish(p);
    if (f != stdin)
        fclose(f);
    int exit = EXIT_OK;
    if (rc != MT_OK) {
        fprintf(stderr, "%s: %s\n", o->prog,
                p && mt_imp_error(p)[0] ? mt_imp_error(p) : mt_strerror(rc));
        exit = EXIT_USAGE;
    } else {
        const mt_imp_stats_t *st = mt_imp_stats(p);
        json_t *status = json_object(), *kinds = json_object(), *ex = json_array();
        for (int i = 0; i < MT_STATUS_MAX; i++)
            if (d.c.status[i]) {
                char k[8];
                snprintf(k, sizeof k, "%d", i);
                json_object_set_new(status, k, json_integer((json_int_t)d.c.status[i]));
            }
        static const char *const kn[] = {
#define XX(n, s) s,
            MT_ERR_KIND_MAP(XX)
#undef XX
        };
        for (int i = 0; i < MT_ERR__COUNT; i++)
            if (d.c.err[i])
                json_object_set_new(kinds, kn[i], json_integer((json_int_t)d.c.err[i]));
        for (uint64_t i = 0; i < st->malformed && i < MT_IMP_EXAMPLES; i++)
            json_array_append_new(ex, json_string(st->examples[i]));
        json_t *lat = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "min", (json_int_t)mt_hist_min(d.lat),
                                "p50", (json_int_t)mt_hist_value_at_percentile(d.lat, 50), "p90",
                                (json_int_t)mt_hist_value_at_percentile(d.lat, 90), "p99",
                                (json_int_t)mt_hist_value_at_percentile(d.lat, 99), "p999",
                                (json_int_t)mt_hist_value_at_percentile(d.lat, 99.9), "max",
                                (json_int_t)mt_hist_max(d.lat));
        json_t *out = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "format",
            mt_imp_format_name(mt_imp_format(p)), "records", (json_int_t)st->records, "malformed",
            (json_int_t)st->malformed, "late", (json_int_t)st->late, "ignored",
            (json_int_t)st->ignored, "seconds", (int)d.seconds, "start_unix",
            (json_int_t)(mt_imp_start_unix_ns(p) / 1000000000), "sent", (json_int_t)d.c.sent,
            "completed", (json_int_t)d.c.completed, "errors", (json_int_t)d.c.errors, "failed",
            (json_int_t)d.c.failed, "bytes_in", (json_int_t)d.c.bytes_in, "status", status,
            "errors_by_kind", kinds, "latency_us", lat, "tags", d.tags, "malformed_examples", ex);
        d.tags = NULL;
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        puts(s ? s : "{}");
        free(s);
        json_decref(out);
        for (uint64_t i = 0; i < st->malformed && i < MT_IMP_EXAMPLES; i++)
            fprintf(stderr, "%s: skipped: %s\n", o->prog, st->examples[i]);
        if (st->malformed > MT_IMP_EXAMPLES)
            fprintf(stderr, "%s: ... %" PRIu64 " malformed lines in all\n", o->prog, st->malformed);
    }
    json_decref(d.tags);
    mt_hist_free(d.lat);
    mt_imp_free(p);
    return exit;
}

/* ---- the upload ---- */

typedef struct up {
    const imp_cli_t *o;
    FILE *f;
    /* follow */
    int fd;
    ino_t ino;
    dev_t dev;
    off_t off;
    char *pend; /* bytes read but not sent (a partial line is held back) */
    size_t plen, pcap;
    int64_t last_data_ms, last_send_ms;
    int ended;
    uint64_t rotations, truncations;
} up_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t up_read_file(char *buf, size_t size, size_t n, void *ud)
{
    up_t *u = ud;
    return fread(buf, 1, size * n, u->f);
}

/* follow: reads what the file has now into u->pend; notices rotation and truncation */
static int follow_fill(up_t *u)
{
    char tmp[65536];
    int got = 0;
    for (;;) {
        if (u->pcap - u->plen < sizeof tmp) {
            size_t cap = u->pcap ? u->pcap * 2 : sizeof tmp * 2;
            if (cap > ((size_t)64 << 20))
                return got; /* a 64 MiB line: send what is held first */
            char *nb = realloc(u->pend, cap);
            if (nb == NULL)
                return got;
            u->pend = nb;
            u->pcap = cap;
        }
        ssize_t n = read(u->fd, u->pend + u->plen, u->pcap - u->plen);
        if (n > 0) {
            u->plen += (size_t)n;
            u->off += n;
            got = 1;
            continue;
        }
        break;
    }
    (void)tmp;
    struct stat path_st, fd_st;
    if (!got && stat(u->o->file, &path_st) == 0) {
        if (path_st.st_ino != u->ino || path_st.st_dev != u->dev) {
            /* rotated: the old file is read to its end (above); go on with the new one */
            int nfd = open(u->o->file, O_RDONLY | O_CLOEXEC);
            if (nfd >= 0) {
                close(u->fd);
                u->fd = nfd;
                u->ino = path_st.st_ino;
                u->dev = path_st.st_dev;
                u->off = 0;
                u->rotations++;
                fprintf(stderr, "%s: %s was rotated: following the new file\n", u->o->prog,
                        u->o->file);
                return follow_fill(u);
            }
        } else if (fstat(u->fd, &fd_st) == 0 && fd_st.st_size < u->off) {
            lseek(u->fd, 0, SEEK_SET);
            u->off = 0;
            u->truncations++;
            fprintf(stderr, "%s: %s was truncated: reading it from its start\n", u->o->prog,
                    u->o->file);
            return follow_fill(u);
        }
    }
    return got;
}

static size_t up_follow(char *buf, size_t size, size_t n, void *ud)
{
    up_t *u = ud;
    size_t room = size * n;
    const imp_cli_t *o = u->o;
    for (;;) {
        if (u->ended) {
            /* the writer is gone: the held partial line too, then the end */
            size_t k = u->plen < room ? u->plen : room;
            memcpy(buf, u->pend, k);
            memmove(u->pend, u->pend + k, u->plen - k);
            u->plen -= k;
            return k;
        }
        if (follow_fill(u))
            u->last_data_ms = mono_ms();
        /* complete lines only, so a keep-alive newline never splits one */
        char *nl = u->plen ? memrchr(u->pend, '\n', u->plen) : NULL;
        if (nl != NULL) {
            size_t whole = (size_t)(nl - u->pend) + 1;
            size_t k = whole < room ? whole : room;
            memcpy(buf, u->pend, k);
            memmove(u->pend, u->pend + k, u->plen - k);
            u->plen -= k;
            u->last_send_ms = mono_ms();
            return k;
        }
        int64_t now = mono_ms();
        bool gone = o->pid > 0 && kill((pid_t)o->pid, 0) != 0 && errno == ESRCH;
        if (gone || now - u->last_data_ms >= (int64_t)o->idle_timeout * 1000) {
            if (!gone || !follow_fill(u)) {
                fprintf(stderr, "%s: %s\n", o->prog,
                        gone ? "the writer exited: ending the run"
                             : "no new data within --idle-timeout: ending the run");
                u->ended = 1;
            }
            continue;
        }
        if (now - u->last_send_ms >= 250) {
            /* a blank line: lets the server close seconds by the clock while the file is quiet */
            buf[0] = '\n';
            u->last_send_ms = now;
            return 1;
        }
        struct timespec t = {0, 50 * 1000000L};
        nanosleep(&t, NULL);
    }
}

typedef struct resp_buf {
    char *b;
    size_t n;
} resp_buf_t;

static size_t up_body(char *ptr, size_t size, size_t n, void *ud)
{
    resp_buf_t *r = ud;
    size_t k = size * n;
    if (r->n + k > ((size_t)8 << 20))
        return 0;
    char *nb = realloc(r->b, r->n + k + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->n, ptr, k);
    r->n += k;
    nb[r->n] = '\0';
    r->b = nb;
    return k;
}

static int imp_token(const imp_cli_t *o, char *out, size_t n)
{
    if (o->token_file) {
        FILE *f = fopen(o->token_file, "r");
        if (f == NULL) {
            fprintf(stderr, "%s: --token-file: %s: %s\n", o->prog, o->token_file, strerror(errno));
            return -1;
        }
        size_t k = fread(out, 1, n - 1, f);
        fclose(f);
        out[k] = '\0';
        while (k > 0 && (out[k - 1] == '\n' || out[k - 1] == '\r' || out[k - 1] == ' '))
            out[--k] = '\0';
        if (k == 0) {
            fprintf(stderr, "%s: --token-file: %s is empty\n", o->prog, o->token_file);
            return -1;
        }
        return 0;
    }
    const char *e = getenv("MORTAR_TOKEN");
    snprintf(out, n, "%s", e ? e : "");
    return 0;
}

static int imp_upload(const imp_cli_t *o)
{
    char token[512];
    if (imp_token(o, token, sizeof token) != 0)
        return EXIT_USAGE;
    up_t u = {.o = o, .fd = -1};
    struct stat st;
    if (o->follow) {
        u.fd = open(o->file, O_RDONLY | O_CLOEXEC);
        if (u.fd < 0 || fstat(u.fd, &st) != 0) {
            fprintf(stderr, "%s: --follow: %s: cannot open: %s\n", o->prog, o->file,
                    strerror(errno));
            return EXIT_USAGE;
        }
        u.ino = st.st_ino;
        u.dev = st.st_dev;
        u.last_data_ms = u.last_send_ms = mono_ms();
    } else {
        u.f = fopen(o->file, "rb");
        if (u.f == NULL || fstat(fileno(u.f), &st) != 0) {
            fprintf(stderr, "%s: %s: cannot open: %s\n", o->prog, o->file, strerror(errno));
            if (u.f)
                fclose(u.f);
            return EXIT_USAGE;
        }
    }
    CURL *c = curl_easy_init();
    if (c == NULL)
        return EXIT_SERVER;
    const char *base = strrchr(o->file, '/') ? strrchr(o->file, '/') + 1 : o->file;
    char *et = curl_easy_escape(c, o->test, 0), *ef = curl_easy_escape(c, base, 0);
    char url[2048], extra[64] = "";
    size_t sl = strlen(o->server);
    while (sl > 0 && o->server[sl - 1] == '/')
        sl--;
    if (o->window)
        snprintf(extra, sizeof extra, "&window=%d", o->window);
    snprintf(url, sizeof url, "%.*s/api/v1/runs/import?test=%s&file=%s&format=%s%s%s%s", (int)sl,
             o->server, et ? et : "", ef ? ef : "", o->format ? o->format : "auto",
             o->strict ? "&strict=1" : "", o->follow ? "&live=1" : "", extra);
    curl_free(et);
    curl_free(ef);
    struct curl_slist *h = NULL;
    char auth[600];
    if (token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Content-Type: application/octet-stream");
    h = curl_slist_append(h, "Expect:");
    if (o->follow)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    resp_buf_t rb = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, o->follow ? up_follow : up_read_file);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    if (!o->follow)
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, up_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (u.f)
        fclose(u.f);
    if (u.fd >= 0)
        close(u.fd);
    free(u.pend);
    int exit = EXIT_OK;
    if (cc != CURLE_OK) {
        fprintf(stderr, "%s: %s: %s\n", o->prog, o->server, curl_easy_strerror(cc));
        exit = EXIT_SERVER;
        goto out;
    }
    json_t *j = rb.b ? json_loads(rb.b, 0, NULL) : NULL;
    if (code != 201) {
        const char *d = json_string_value(json_object_get(j, "detail"));
        const char *rid = json_string_value(json_object_get(j, "run_id"));
        fprintf(stderr, "%s: the server answered %ld: %s%s%s\n", o->prog, code,
                d ? d : (rb.b ? rb.b : ""), rid ? " (run " : "", rid ? rid : "");
        if (rid)
            fputs(")\n", stderr);
        exit = code == 422 || code == 400 || code == 404 ? EXIT_USAGE : EXIT_SERVER;
        if (code == 422 && rid)
            exit = EXIT_USAGE;
        json_decref(j);
        goto out;
    }
    json_t *run = json_object_get(j, "run"), *im = json_object_get(j, "import");
    const char *state = json_string_value(json_object_get(run, "state"));
    if (o->json) {
        char *s = json_dumps(j, JSON_INDENT(2));
        puts(s ? s : "{}");
        free(s);
    } else {
        printf("run %s: %s (%s)\n", json_string_value(json_object_get(run, "id")) ?: "?",
               state ? state : "?", json_string_value(json_object_get(run, "reason")) ?: "");
        printf("%s %s: %" JSON_INTEGER_FORMAT " records in %" JSON_INTEGER_FORMAT
               " seconds, %" JSON_INTEGER_FORMAT " malformed lines skipped, %" JSON_INTEGER_FORMAT
               " late\n",
               json_string_value(json_object_get(im, "tool")) ?: "?", o->file,
               json_integer_value(json_object_get(im, "records")),
               json_integer_value(json_object_get(im, "seconds")),
               json_integer_value(json_object_get(im, "malformed")),
               json_integer_value(json_object_get(im, "late")));
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(im, "malformed_examples"), i, e)
        fprintf(stderr, "%s: skipped: %s\n", o->prog, json_string_value(e));
    if (state == NULL || strcmp(state, "passed") != 0)
        exit = EXIT_FAILED;
    json_decref(j);
out:
    free(rb.b);
    return exit;
}

static int imp_main(int argc, char **argv, bool collect)
{
    imp_cli_t o = {.prog = collect ? "mortar collect" : "mortar import", .idle_timeout = 30};
    int rc = imp_parse(argc, argv, &o, collect);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    mt_imp_opts_t io = {.strict = o.strict, .window_s = (uint32_t)o.window, .name = o.file};
    if (o.format)
        mt_imp_format_parse(o.format, &io.format);
    if (o.dry_run)
        return imp_dry_run(&o, &io);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = imp_upload(&o);
    curl_global_cleanup();
    return rc;
}

int mt_cli_import(int argc, char **argv)
{
    return imp_main(argc, argv, false);
}

int mt_cli_collect(int argc, char **argv)
{
    return imp_main(argc, argv, true);
}
