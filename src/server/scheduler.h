/* The scheduler: turns schedules (cron + test + policy) into queued runs. Time comes from an
 * injected clock so tests step it; the store is reached through callbacks. One call of
 * mt__scheduler_tick does everything due at `now`; the server calls it from a thread once per
 * second (and on wake-ups), tests call it directly.
 *
 * Policy when the previous run of the schedule is still queued or running at fire time:
 *   "skip"  the firing is skipped (counted, logged, an event schedule.skipped)
 *   "queue" a run is queued anyway (runs of one test then execute one after another)
 * Either way a firing whose test the target policy now refuses (ops->allowed) is skipped, with
 * the reason in the event.
 * Missed firings while the server was down: only the most recent one fires (no catch-up
 * storm), and next_fire_at moves past now. */
#ifndef MT_SERVER_SCHEDULER_H
#define MT_SERVER_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt__sched_entry {
    const char *id;
    const char *test_id;
    const char *cron;     /* 5 fields */
    const char *policy;   /* "skip" | "queue" */
    int64_t next_fire_at; /* Unix s; 0 = not computed yet */
} mt__sched_entry_t;

typedef struct mt__scheduler_ops {
    /* Enabled schedules; the scheduler calls free_entries when done with them. */
    int (*list)(void *ud, mt__sched_entry_t **out, size_t *n);
    void (*free_entries)(void *ud, mt__sched_entry_t *e, size_t n);
    /* Is a run started by this schedule queued or running? */
    int (*has_active)(void *ud, const char *schedule_id);
    /* Queue a run of test_id for the schedule (one transaction with its event). */
    int (*enqueue)(void *ud, const char *schedule_id, const char *test_id, int64_t fire_at);
    /* Record a skipped firing (an event schedule.skipped with data.reason). */
    int (*skipped)(void *ud, const char *schedule_id, int64_t fire_at, const char *reason);
    int (*set_next)(void *ud, const char *schedule_id, int64_t next_fire_at);
    /* Optional, with its own ud: may the test's run start now? (the target policy and the
     * limits, rechecked at fire time: an admin may have tightened them since the schedule was
     * made). 0 yes; 1 no, the reason in why (the firing is skipped with it); < 0 error (the
     * firing is tried again next tick). */
    int (*allowed)(void *allowed_ud, const char *schedule_id, const char *test_id, char *why,
                   size_t n);
    void *allowed_ud;
} mt__scheduler_ops_t;

/* Fires every schedule due at now (Unix s). Returns the number of runs queued, or < 0. */
int mt__scheduler_tick(const mt__scheduler_ops_t *ops, void *ud, int64_t now);

#endif
