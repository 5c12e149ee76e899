/* Load schedules (Yandex.Tank `phantom.load_profile.schedule` with load_type rps) and
 * durations. Pure parsers: text in, struct or positioned error out.
 *
 * A schedule is a list of steps run one after another. Request n of a step (n = 0, 1, ...)
 * is due at the t solving a*t + (b-a)/(2*dur)*t^2 = n (const: a == b, so t = n/a);
 * the step holds the requests with t < dur. Time is in nanoseconds from the run start. */
#ifndef MORTAR_SCHEDULE_H
#define MORTAR_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "mortar/error.h"

typedef struct mt_sched_step {
    double a, b;      /* rate (requests/s) at step start and end; a == b for const */
    int64_t start_ns; /* step start, from run start */
    int64_t dur_ns;   /* step length */
    uint64_t first;   /* index (0-based, over the whole schedule) of the step's first request */
    uint64_t count;   /* requests in this step */
} mt_sched_step_t;

typedef struct mt_sched {
    mt_sched_step_t *steps; /* owned */
    size_t nsteps;
    int64_t total_ns; /* sum of step durations */
    uint64_t total;   /* total requests */
} mt_sched_t;

/* Parse "line(1, 10, 10m) const(10, 10m) step(10, 50, 10, 1m)". On error returns MT_EPARSE
 * and fills err (col is 1-based within text; message names the problem, e.g.
 * "unknown step 'lin'"). On success *out owns its steps: release with mt_sched_dispose. */
int mt_sched_parse(const char *text, mt_sched_t *out, mt_parse_err_t *err);
/* Constant rate for dur (the -R flag). rate > 0. */
int mt_sched_const(double rate, int64_t dur_ns, mt_sched_t *out);
void mt_sched_dispose(mt_sched_t *s);

/* Cursor for walking due times in increasing n without rescanning steps. Zero-initialise. */
typedef struct mt_sched_cursor {
    size_t step;
} mt_sched_cursor_t;

/* Due time (ns from start) of request n. Returns MT_OK, or MT_ERANGE when n >= s->total.
 * n must not decrease between calls with the same cursor (reset the cursor to go back). */
int mt_sched_due(const mt_sched_t *s, mt_sched_cursor_t *cur, uint64_t n, int64_t *due_ns);

/* Number of requests due strictly before t_ns (the plan's cumulative count at t). */
uint64_t mt_sched_count_before(const mt_sched_t *s, int64_t t_ns);

/* Durations: Tank's `^(\d+d)?(\d+h)?(\d+m)?(\d+s?)?$` (a bare number is seconds) plus "ms"
 * and "us" units and fractional values ("1.5s", "250ms", "1s500ms"). Returns MT_EPARSE with
 * err->col set on bad input, MT_ERANGE when it overflows. */
int mt_parse_duration(const char *text, int64_t *ns, mt_parse_err_t *err);

#endif
