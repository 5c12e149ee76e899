/* Console output of `mortar run`: the header printed before the run, the live per-second line
 * (redrawn in place with a progress bar on a terminal, one plain line per second otherwise) and
 * the wrk-style summary with mortar's extras. Only the CLI prints; the engine never does. */
#ifndef MT_CLI_OUTPUT_H
#define MT_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mortar/engine.h"
#include "result/result.h" /* mt__fmt_us */

/* What the run was asked to do, for the console and the JSON. Strings are borrowed. */
typedef struct mt__run_info {
    const char *url;
    const char *method;
    int connections;
    int threads;
    int64_t duration_ns; /* planned run length (the schedule's length when -d is not given) */
    bool open_model;
    double rate;             /* -R, 0 when not given */
    const char *schedule;    /* --schedule text, NULL when not given */
    uint64_t planned;        /* open model: requests the plan has due within duration_ns */
    int64_t timeout_ns;      /* 0 = none */
    uint64_t max_queue;      /* 0 = the engine's default */
    bool detail;             /* --latency: also print the full percentile distribution */
    const char *ammo;        /* --ammo path ("--uri" for inline URIs); NULL without ammo */
    size_t nrequests;        /* requests in the ammo */
    const char *const *tags; /* tag names (tags[0] = "" untagged); NULL when the run has none */
    size_t ntags;
    const struct mt_runspec *spec; /* the checked spec (the result's http2/streams/tls), or NULL */
} mt__run_info_t;

/* Live progress state, also collecting the per-second request rates for the summary's
 * Req/Sec line. Caller-allocated; nothing to release. */
#define MT__LIVE_RPS_KEEP 3600
typedef struct mt__live {
    FILE *f;
    bool tty;       /* redraw in place with a progress bar */
    bool quiet;     /* print nothing live */
    bool line_open; /* a redrawn line is on screen without its newline */
    const mt__run_info_t *info;
    int64_t elapsed_ns;
    uint64_t rps_n; /* seconds counted in the Req/Sec statistics (near-full ones) */
    double rps_sum, rps_sumsq, rps_max;
    /* the first MT__LIVE_RPS_KEEP of those rates, for wrk's "+/- Stdev" column */
    float rps_keep[MT__LIVE_RPS_KEEP];
    int64_t fin_left_ns; /* the grace left at the last plain "finishing" line; 0: none yet */
} mt__live_t;

/* f is where the live line goes (stderr); tty decides the style (isatty(fileno(f))). */
void mt__live_init(mt__live_t *l, FILE *f, bool tty, bool quiet, const mt__run_info_t *info);
/* One second of the run: update statistics, print or redraw the line. */
void mt__live_second(mt__live_t *l, const mt_second_t *s);
/* After the duration, requests still in flight are awaited (the grace): in_flight of them,
 * for at most left_ns more. Redraws the line (TTY) or prints a plain line about once a second. */
void mt__live_finishing(mt__live_t *l, uint64_t in_flight, int64_t left_ns);
/* Ends a redrawn line so that what follows starts on a fresh line. */
void mt__live_end(mt__live_t *l);

/* "Running 10s test @ URL" and the threads/connections/model lines, before the run. */
void mt__out_header(FILE *f, const mt__run_info_t *info);
/* The final report. interrupted: the run was stopped by a signal. */
/* Whether the run's errors are mostly TLS certificate verification failures of a run that
 * verified (no -k): the summary then suggests -k/--insecure. */
bool mt__out_tls_hint(const mt__run_info_t *info, const mt_run_result_t *r);

void mt__out_summary(FILE *f, const mt__run_info_t *info, const mt__live_t *l,
                     const mt_run_result_t *r, bool interrupted);

#endif
