/* mortar report: an HTML page (and a text table) from `mortar run --json` results. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/readall.h"
#include "report/report.h"
#include "mortar/error.h"

#define PROG          "mortar report"
#define EXIT_OK       0
#define EXIT_INTERNAL 1
#define EXIT_USAGE    2

/* Reads a whole file (path "-": stdin) into a new buffer (*out, caller frees; not
 * NUL-terminated; non-NULL on success, even when empty). Bounded by MT__REPORT_MAX_INPUT.
 * MT_ESYS, MT_ETOOBIG or MT_ENOMEM with err filled ("a.json: cannot open: ..."). */
#define MT__REPORT_MAX_INPUT ((size_t)1 << 30)

static int report_read_file(const char *path, char **out, size_t *out_len, char *err, size_t errlen)
{
    bool std_in = strcmp(path, "-") == 0;
    FILE *f = std_in ? stdin : fopen(path, "rb");
    int rc;

    *out = NULL;
    *out_len = 0;
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MT_ESYS;
    }
    rc = mt__read_stream(f, MT__REPORT_MAX_INPUT, out, out_len);
    if (rc == MT_ESYS)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else if (rc == MT_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (*out_len > MT__REPORT_MAX_INPUT) {
        snprintf(err, errlen, "%s: larger than %zu MiB", path, MT__REPORT_MAX_INPUT >> 20);
        rc = MT_ETOOBIG;
    } else if (*out == NULL && (*out = malloc(1)) == NULL) { /* empty: still a buffer */
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MT_ENOMEM;
    }
    if (rc != MT_OK) {
        free(*out);
        *out = NULL;
        *out_len = 0;
    }
    if (!std_in)
        fclose(f);
    return rc;
}

static const char k_usage[] =
    "usage: mortar report RESULT.json [-o FILE] [--compare OTHER.json]\n"
    "\n"
    "Turns the result of `mortar run --json` into one self-contained HTML page (charts of\n"
    "the rates, latency, status codes and errors, connections and schedule lag over time,\n"
    "the latency percentile distribution, the timing breakdown, tags, config, verdicts).\n"
    "\n"
    "  -o, --output FILE     write the page to FILE (atomically); '-' writes it to stdout\n"
    "  --compare OTHER.json  compare RESULT (A) with OTHER (B): the page overlays both runs\n"
    "                        and tabulates the differences; the table is printed on stdout\n"
    "  -h, --help            this help\n"
    "\n"
    "Without -o the key numbers (or, with --compare, the comparison) are printed as a table on\n"
    "stdout. RESULT may be '-' (stdin). Exit status: 0 written, 2 bad usage or an input that\n"
    "is not a mortar result, 1 the page could not be written. See docs/report.md.\n";

enum { OPT_COMPARE = 256 };

static const struct option k_longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"compare", required_argument, NULL, OPT_COMPARE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Base name for labels: "runs/a.json" -> "a.json". */
static const char *report_label(const char *path)
{
    const char *s = strrchr(path, '/');
    if (strcmp(path, "-") == 0)
        return "stdin";
    return s != NULL && s[1] != '\0' ? s + 1 : path;
}

static int report_exit_code(int rc)
{
    return rc == MT_EFORMAT || rc == MT_EINVAL || rc == MT_ETOOBIG ? EXIT_USAGE : EXIT_INTERNAL;
}

int mt_cli_report(int argc, char **argv)
{
    const char *out = NULL, *cmp = NULL, *in = NULL;
    char *ja = NULL, *jb = NULL, err[512];
    size_t la = 0, lb = 0;
    int code = EXIT_OK, rc;

    optind = 0; /* glibc: full re-initialisation; argv is reordered (flags may follow FILE) */
    opterr = 0;
    for (;;) {
        int li = -1, c = getopt_long(argc, argv, ":o:h", k_longopts, &li);
        if (c == -1)
            break;
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case OPT_COMPARE:
            cmp = optarg;
            break;
        case 'h':
            fputs(k_usage, stdout);
            return EXIT_OK;
        case ':':
            fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            if (optopt != 0)
                fprintf(stderr, PROG ": unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, PROG ": unknown option '%s'\n", argv[optind - 1]);
            fprintf(stderr, "Try 'mortar report --help'.\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        in = argv[optind++];
    if (in == NULL) {
        fprintf(stderr, PROG ": missing RESULT.json (usage: mortar report RESULT.json "
                             "[-o FILE] [--compare OTHER.json])\n");
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": one result at a time (got '%s' too; use --compare OTHER.json)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    if (cmp != NULL && strcmp(in, "-") == 0 && strcmp(cmp, "-") == 0) {
        fprintf(stderr, PROG ": only one of RESULT and --compare can be '-' (stdin)\n");
        return EXIT_USAGE;
    }

    if ((rc = report_read_file(in, &ja, &la, err, sizeof(err))) != MT_OK ||
        (cmp != NULL && (rc = report_read_file(cmp, &jb, &lb, err, sizeof(err))) != MT_OK)) {
        fprintf(stderr, PROG ": %s\n", err);
        code = EXIT_USAGE; /* an unreadable input is a usage error, as in mortar run */
        goto out;
    }
    mt__report_src_t a = {ja, la, report_label(in)};
    mt__report_src_t b = {jb, lb, cmp != NULL ? report_label(cmp) : NULL};
    if (cmp != NULL && strcmp(a.label, b.label) == 0) {
        a.label = in; /* same base name in two folders: show the paths */
        b.label = cmp;
    }
    if (out != NULL) {
        rc = mt__report_write_file(&a, cmp != NULL ? &b : NULL, out, err, sizeof(err));
        if (rc != MT_OK) {
            fprintf(stderr, PROG ": %s\n", err);
            code = report_exit_code(rc);
            goto out;
        }
    }
    /* the table: without -o, and for a comparison unless the page itself went to stdout */
    if (out == NULL || (cmp != NULL && strcmp(out, "-") != 0)) {
        rc = mt__report_text(stdout, &a, cmp != NULL ? &b : NULL, err, sizeof(err));
        if (rc != MT_OK) {
            fprintf(stderr, PROG ": %s\n", err);
            code = report_exit_code(rc);
            goto out;
        }
    }
out:
    free(ja);
    free(jb);
    return code;
}
