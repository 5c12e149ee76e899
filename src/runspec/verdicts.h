/* Verdicts of a run: Yandex.Tank autostop criteria (checked every second; a trip stops the
 * run and sets exit code 21..30) and k6-style thresholds (checked at the end, exit code 99 when
 * any fails; abortOnFail ones also every second). Wraps include/mortar/verdict.h for the run spec,
 * the CLI and the server's aggregator. */
#ifndef MT_RUNSPEC_VERDICTS_H
#define MT_RUNSPEC_VERDICTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "mortar/verdict.h"

#define MT__MAX_VERDICTS 64

typedef struct mt__verdicts {
    mt_autostop_crit_t crits[MT__MAX_VERDICTS];
    size_t ncrits;
    mt_threshold_t ths[MT__MAX_VERDICTS];
    size_t nths;
    mt_autostop_t *as;
    mt_threshold_watch_t *watch;
    uint32_t max_instances;
    bool tripped; /* an autostop criterion stopped the run */
    mt_autostop_trip_t trip;
    bool aborted; /* an abortOnFail threshold stopped the run */
    size_t abort_index;
    mt_threshold_result_t results[MT__MAX_VERDICTS]; /* after mt__verdicts_finish */
    bool finished;
} mt__verdicts_t;

/* Parse one --autostop value (one criterion, or several separated by spaces) / one
 * --threshold value; on error write the message (no prefix, no column: the caller says where)
 * to err, the 1-based column in text to *col (0 = none) and return MT_EPARSE (MT_ERANGE: too
 * many; *col untouched). */
int mt__verdicts_add_autostop(mt__verdicts_t *v, const char *text, int *col, char *err, size_t n);
int mt__verdicts_add_threshold(mt__verdicts_t *v, const char *text, int *col, char *err, size_t n);
bool mt__verdicts_any(const mt__verdicts_t *v);

/* Before the run: check tag names against the run's tags; max_instances is -c. */
int mt__verdicts_start(mt__verdicts_t *v, const char *const *tags, size_t ntags,
                       uint32_t max_instances, char *err, size_t n);
/* Each merged second: returns true when the run must stop (autostop trip or abortOnFail). */
bool mt__verdicts_second(mt__verdicts_t *v, const mt_second_t *s);
/* After the run: evaluate every threshold on the totals. */
void mt__verdicts_finish(mt__verdicts_t *v, const mt_run_result_t *r, const char *const *tags,
                         size_t ntags);
/* 0, the autostop trip's code (21..30), or 99 when a threshold failed. */
int mt__verdicts_exit_code(const mt__verdicts_t *v);
void mt__verdicts_print(FILE *f, const mt__verdicts_t *v);
/* The "verdicts" array of the result JSON (new reference). */
json_t *mt__verdicts_json(const mt__verdicts_t *v);
void mt__verdicts_dispose(mt__verdicts_t *v);

#endif
