/* The scheduler (scheduler.h): one tick fires what is due, with the skip/queue policy and
 * "only the most recent missed firing" after downtime (ADR 0013). */
#include "server/scheduler.h"

#include <stdio.h>
#include <string.h>

#include "mortar/error.h"
#include "server/cron.h"
#include "server/log.h"

/* The most recent firing of c in [first, now] (first <= now), or -1 when there is none (a
 * stored next_fire_at that is no firing of the current cron). Looks back in growing windows so
 * that a long downtime costs a few searches, not one per missed minute. */
static int64_t sched_latest(const mt__cron_t *c, int64_t first, int64_t now)
{
    static const int64_t windows[] = {60, 3600, 86400, 32 * 86400, 367 * 86400, 6 * 367 * 86400};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        int64_t from = now - windows[i], t, n;
        if (from <= first)
            from = first;
        t = mt__cron_next(c, from);
        if (t >= 0 && t <= now) {
            /* at most one window's worth of firings to walk */
            while ((n = mt__cron_next(c, t)) >= 0 && n <= now)
                t = n;
            return t;
        }
        if (from == first)
            break;
    }
    return mt__cron_next(c, first - 1) == first ? first : -1;
}

static void sched_log_rc(const char *msg, const char *id, int rc)
{
    char code[16];
    snprintf(code, sizeof code, "%d", rc);
    mt__log(MT_LOG_ERROR, msg, "schedule", id, "error", mt_strerror(rc), "code", code, NULL);
}

int mt__scheduler_tick(const mt__scheduler_ops_t *ops, void *ud, int64_t now)
{
    mt__sched_entry_t *e = NULL;
    size_t n = 0;
    int rc, queued = 0;

    if (!ops || !ops->list || !ops->has_active || !ops->enqueue || !ops->skipped || !ops->set_next)
        return MT_EINVAL;
    if ((rc = ops->list(ud, &e, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const mt__sched_entry_t *s = &e[i];
        mt__cron_t c;
        mt_parse_err_t perr;
        int64_t fire_at, next;
        char when[24];

        if (!s->id || !s->test_id || !s->cron)
            continue;
        if (mt__cron_parse(s->cron, &c, &perr) != MT_OK) {
            /* the API validates crons, so this is a store edited by hand: say so, go on */
            char col[16];
            snprintf(col, sizeof col, "%d", perr.col);
            mt__log(MT_LOG_WARN, "schedule has an invalid cron", "schedule", s->id, "cron", s->cron,
                    "col", col, "error", perr.msg, NULL);
            continue;
        }
        if (s->next_fire_at <= 0) {
            /* new (or never fires within 5 years: stays 0 and is looked at again next tick) */
            next = mt__cron_next(&c, now);
            if (next > 0 && (rc = ops->set_next(ud, s->id, next)) < 0)
                sched_log_rc("schedule: storing next_fire_at failed", s->id, rc);
            continue;
        }
        if (s->next_fire_at > now)
            continue;

        fire_at = sched_latest(&c, s->next_fire_at, now);
        if (fire_at < 0) {
            /* the cron changed under a stored next_fire_at: nothing was due after all */
            next = mt__cron_next(&c, now);
            if ((rc = ops->set_next(ud, s->id, next > 0 ? next : 0)) < 0)
                sched_log_rc("schedule: storing next_fire_at failed", s->id, rc);
            continue;
        }
        snprintf(when, sizeof when, "%lld", (long long)fire_at);
        if (fire_at != s->next_fire_at)
            mt__log(MT_LOG_INFO, "schedule missed firings: only the latest fires", "schedule",
                    s->id, "fire_at", when, NULL);

        int skip = 0;
        char why[512] = "previous run still active";
        if (ops->allowed) {
            if ((rc = ops->allowed(ops->allowed_ud, s->id, s->test_id, why, sizeof why)) < 0) {
                sched_log_rc("schedule: checking the target policy failed", s->id, rc);
                continue; /* next_fire_at unchanged: tried again next tick */
            }
            skip = rc > 0;
            if (!skip)
                snprintf(why, sizeof why, "previous run still active");
        }
        if (!skip && (!s->policy || strcmp(s->policy, "queue") != 0)) {
            if (s->policy && strcmp(s->policy, "skip") != 0)
                mt__log(MT_LOG_WARN, "schedule has an unknown policy, using skip", "schedule",
                        s->id, "policy", s->policy, NULL);
            if ((rc = ops->has_active(ud, s->id)) < 0) {
                sched_log_rc("schedule: checking active runs failed", s->id, rc);
                continue; /* next_fire_at unchanged: tried again next tick */
            }
            skip = rc > 0;
        }
        if (skip) {
            if ((rc = ops->skipped(ud, s->id, fire_at, why)) < 0) {
                sched_log_rc("schedule: recording a skipped firing failed", s->id, rc);
                continue;
            }
            mt__log(MT_LOG_INFO, "schedule skipped", "schedule", s->id, "fire_at", when, "reason",
                    why, NULL);
        } else {
            if ((rc = ops->enqueue(ud, s->id, s->test_id, fire_at)) < 0) {
                sched_log_rc("schedule: queueing a run failed", s->id, rc);
                continue;
            }
            queued++;
            mt__log(MT_LOG_INFO, "schedule fired", "schedule", s->id, "test", s->test_id, "fire_at",
                    when, NULL);
        }
        next = mt__cron_next(&c, now);
        if ((rc = ops->set_next(ud, s->id, next > 0 ? next : 0)) < 0)
            sched_log_rc("schedule: storing next_fire_at failed", s->id, rc);
    }
    if (ops->free_entries)
        ops->free_entries(ud, e, n);
    return queued;
}
