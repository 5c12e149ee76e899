/* mt__scheduler_tick with a stepped clock and fake store ops that record every call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "mortar/error.h"
#include "server/scheduler.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

/* ---- the fake store ------------------------------------------------------------------------ */

typedef struct fake_sched {
    const char *id, *test_id, *cron, *policy;
    int enabled, active;
    int64_t next_fire_at;
} fake_sched_t;

typedef struct fake_call {
    char op[12];
    const char *id;
    int64_t t;
} fake_call_t;

typedef struct fake {
    fake_sched_t s[4];
    size_t n;
    fake_call_t calls[4096];
    size_t ncalls;
    int fail_list, fail_active, fail_enqueue;
    int refuse, fail_allowed; /* the policy check (ops.allowed) */
    char reason[512];         /* of the last skipped firing */
    int listed_out;           /* entries handed out and not yet freed */
} fake_t;

static void fake_record(fake_t *f, const char *op, const char *id, int64_t t)
{
    assert_true(f->ncalls < sizeof f->calls / sizeof f->calls[0]);
    fake_call_t *c = &f->calls[f->ncalls++];
    snprintf(c->op, sizeof c->op, "%s", op);
    c->id = id;
    c->t = t;
}

static fake_sched_t *fake_find(fake_t *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->s[i].id, id) == 0)
            return &f->s[i];
    fail_msg("unknown schedule %s", id);
    return NULL;
}

static int fake_list(void *ud, mt__sched_entry_t **out, size_t *n)
{
    fake_t *f = ud;
    if (f->fail_list)
        return MT_ESYS;
    mt__sched_entry_t *e = calloc(f->n + 1, sizeof *e);
    size_t k = 0;
    assert_non_null(e);
    for (size_t i = 0; i < f->n; i++) {
        if (!f->s[i].enabled)
            continue; /* the store lists enabled schedules only */
        e[k].id = f->s[i].id;
        e[k].test_id = f->s[i].test_id;
        e[k].cron = f->s[i].cron;
        e[k].policy = f->s[i].policy;
        e[k].next_fire_at = f->s[i].next_fire_at;
        k++;
    }
    *out = e;
    *n = k;
    f->listed_out++;
    return MT_OK;
}

static void fake_free(void *ud, mt__sched_entry_t *e, size_t n)
{
    fake_t *f = ud;
    f->listed_out--;
    free(e);
}

static int fake_has_active(void *ud, const char *id)
{
    fake_t *f = ud;
    fake_record(f, "has_active", id, 0);
    if (f->fail_active)
        return MT_ESYS;
    return fake_find(f, id)->active;
}

static int fake_enqueue(void *ud, const char *id, const char *test_id, int64_t fire_at)
{
    fake_t *f = ud;
    if (f->fail_enqueue)
        return MT_ESYS;
    assert_string_equal(fake_find(f, id)->test_id, test_id);
    fake_record(f, "enqueue", id, fire_at);
    return MT_OK;
}

static int fake_skipped(void *ud, const char *id, int64_t fire_at, const char *reason)
{
    fake_t *f = ud;
    assert_non_null(reason);
    snprintf(f->reason, sizeof f->reason, "%s", reason);
    fake_record(f, "skipped", id, fire_at);
    return MT_OK;
}

static int fake_allowed(void *ud, const char *id, const char *test_id, char *why, size_t n)
{
    fake_t *f = ud;
    assert_string_equal(fake_find(f, id)->test_id, test_id);
    fake_record(f, "allowed", id, 0);
    if (f->fail_allowed)
        return MT_ESYS;
    if (!f->refuse)
        return 0;
    snprintf(why, n, "the target policy refuses test %s: /config/rate: too fast", test_id);
    return 1;
}

static int fake_set_next(void *ud, const char *id, int64_t next)
{
    fake_t *f = ud;
    fake_find(f, id)->next_fire_at = next;
    fake_record(f, "set_next", id, next);
    return MT_OK;
}

static const mt__scheduler_ops_t fake_ops = {
    .list = fake_list,
    .free_entries = fake_free,
    .has_active = fake_has_active,
    .enqueue = fake_enqueue,
    .skipped = fake_skipped,
    .set_next = fake_set_next,
};

static void fake_add(fake_t *f, const char *id, const char *cron, const char *policy, int64_t next)
{
    fake_sched_t *s = &f->s[f->n++];
    s->id = id;
    s->test_id = "test-1";
    s->cron = cron;
    s->policy = policy;
    s->enabled = 1;
    s->next_fire_at = next;
}

/* Calls of one op (for id, or any id when NULL), their times into t. */
static size_t fake_calls(const fake_t *f, const char *op, const char *id, int64_t *t, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < f->ncalls; i++) {
        if (strcmp(f->calls[i].op, op) != 0 || (id && strcmp(f->calls[i].id, id) != 0))
            continue;
        if (k < max && t)
            t[k] = f->calls[i].t;
        k++;
    }
    return k;
}

/* Ticks every second of [from, to]; returns the runs queued. */
static int step(fake_t *f, int64_t from, int64_t to)
{
    int total = 0;
    for (int64_t now = from; now <= to; now++) {
        int rc = mt__scheduler_tick(&fake_ops, f, now);
        assert_true(rc >= 0);
        total += rc;
    }
    assert_int_equal(f->listed_out, 0);
    return total;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_new_schedule_gets_next(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    int64_t t0 = utc(2026, 11, 27, 23, 1) + 30;
    fake_add(f, "s1", "*/15 * * * *", "skip", 0);
    fake_add(f, "s2", "@daily", "queue", 0);
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, t0), 0);
    assert_true(f->s[0].next_fire_at == utc(2026, 11, 27, 23, 15));
    assert_true(f->s[1].next_fire_at == utc(2026, 11, 28, 0, 0));
    assert_int_equal(fake_calls(f, "enqueue", NULL, NULL, 0), 0);
    /* created exactly on a matching minute: the next one, not this one */
    f->s[0].next_fire_at = 0;
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, utc(2026, 11, 27, 23, 15)), 0);
    assert_true(f->s[0].next_fire_at == utc(2026, 11, 27, 23, 30));
    free(f);
}

static void test_fires_at_the_right_minutes(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    int64_t t0 = utc(2026, 11, 27, 22, 50), fired[16]; /* .. 00:09:59 */
    fake_add(f, "q", "*/15 * * * *", "queue", 0);
    fake_add(f, "h", "5 * * * *", "skip", 0);
    assert_int_equal(step(f, t0, t0 + 4800 - 1), 7);
    size_t n = fake_calls(f, "enqueue", "q", fired, 16);
    assert_int_equal(n, 5);
    assert_true(fired[0] == utc(2026, 11, 27, 23, 0));
    assert_true(fired[1] == utc(2026, 11, 27, 23, 15));
    assert_true(fired[2] == utc(2026, 11, 27, 23, 30));
    assert_true(fired[3] == utc(2026, 11, 27, 23, 45));
    assert_true(fired[4] == utc(2026, 11, 28, 0, 0));
    n = fake_calls(f, "enqueue", "h", fired, 16);
    assert_int_equal(n, 2);
    assert_true(fired[0] == utc(2026, 11, 27, 23, 5));
    assert_true(fired[1] == utc(2026, 11, 28, 0, 5));
    /* each firing happened in the tick at its minute: the next tick set next_fire_at beyond */
    assert_true(f->s[0].next_fire_at == utc(2026, 11, 28, 0, 15));
    /* and the call right after the tick at 23:00:00 stored next = 23:15 */
    int64_t nexts[64];
    n = fake_calls(f, "set_next", "q", nexts, 64);
    assert_int_equal(n, 6); /* the first computation + one per firing */
    assert_true(nexts[0] == utc(2026, 11, 27, 23, 0));
    assert_true(nexts[1] == utc(2026, 11, 27, 23, 15));
    free(f);
}

/* The policy is rechecked when a schedule fires: a refused firing is skipped with the reason
 * (whatever the schedule's policy), an error retries the same firing next tick. */
static void test_policy_rechecked_at_fire_time(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    mt__scheduler_ops_t ops = fake_ops;
    int64_t t0 = utc(2026, 11, 27, 23, 0), t[8];
    (void)state;
    ops.allowed = fake_allowed;
    ops.allowed_ud = f;
    fake_add(f, "skip", "*/10 * * * *", "skip", t0 + 600);
    fake_add(f, "queue", "*/10 * * * *", "queue", t0 + 600);
    f->refuse = 1;
    assert_int_equal(mt__scheduler_tick(&ops, f, t0 + 600), 0);
    assert_int_equal(fake_calls(f, "enqueue", NULL, NULL, 0), 0);
    assert_int_equal(fake_calls(f, "skipped", "skip", t, 8), 1);
    assert_true(t[0] == t0 + 600);
    assert_int_equal(fake_calls(f, "skipped", "queue", NULL, 0), 1);
    assert_string_equal(f->reason, "the target policy refuses test test-1: /config/rate: too fast");
    assert_true(f->s[0].next_fire_at == t0 + 1200 && f->s[1].next_fire_at == t0 + 1200);
    /* the check fails: nothing recorded, the same firing next tick */
    f->refuse = 0;
    f->fail_allowed = 1;
    assert_int_equal(mt__scheduler_tick(&ops, f, t0 + 1200), 0);
    assert_int_equal(fake_calls(f, "skipped", NULL, NULL, 0), 2);
    assert_true(f->s[0].next_fire_at == t0 + 1200);
    /* allowed again (the policy relaxed): both fire; an active run still skips "skip", with
     * its own reason */
    f->fail_allowed = 0;
    f->s[0].active = 1;
    assert_int_equal(mt__scheduler_tick(&ops, f, t0 + 1201), 1);
    assert_int_equal(fake_calls(f, "enqueue", "queue", t, 8), 1);
    assert_true(t[0] == t0 + 1200);
    assert_int_equal(fake_calls(f, "skipped", "skip", NULL, 0), 2);
    assert_string_equal(f->reason, "previous run still active");
    assert_int_equal(f->listed_out, 0);
    free(f);
}

static void test_skip_vs_queue_while_active(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    int64_t t0 = utc(2026, 11, 27, 23, 0), t[8];
    fake_add(f, "skip", "*/10 * * * *", "skip", t0 + 600);
    fake_add(f, "queue", "*/10 * * * *", "queue", t0 + 600);
    f->s[0].active = f->s[1].active = 1;
    assert_int_equal(step(f, t0 + 1, t0 + 1200), 2); /* two firings: 23:10 and 23:20 */
    assert_int_equal(fake_calls(f, "enqueue", "skip", NULL, 0), 0);
    assert_int_equal(fake_calls(f, "skipped", "skip", t, 8), 2);
    assert_true(t[0] == t0 + 600 && t[1] == t0 + 1200);
    assert_int_equal(fake_calls(f, "enqueue", "queue", t, 8), 2);
    assert_true(t[0] == t0 + 600 && t[1] == t0 + 1200);
    /* "queue" does not even ask */
    assert_int_equal(fake_calls(f, "has_active", "queue", NULL, 0), 0);
    /* a skipped firing still moves next_fire_at on */
    assert_true(f->s[0].next_fire_at == t0 + 1800);
    /* once the run is over, "skip" fires again */
    f->s[0].active = 0;
    assert_int_equal(step(f, t0 + 1201, t0 + 1800), 2);
    assert_int_equal(fake_calls(f, "enqueue", "skip", t, 8), 1);
    assert_true(t[0] == t0 + 1800);
    free(f);
}

static void test_missed_firings_after_downtime(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    int64_t t[8];
    /* down from before 10:15 until 13:07: 11 firings missed, only 13:00 fires */
    fake_add(f, "a", "*/15 * * * *", "queue", utc(2026, 11, 27, 10, 15));
    /* every minute, down for 400 days: only the current minute fires */
    fake_add(f, "b", "* * * * *", "skip", utc(2025, 10, 23, 13, 0));
    /* daily at 03:00, down for 3 days: today's 03:00 fires */
    fake_add(f, "c", "0 3 * * *", "queue", utc(2026, 11, 24, 3, 0));
    /* yearly on Feb 29, last due 2024: the 2028 one is not due yet, the 2024 one fires */
    fake_add(f, "d", "0 0 29 2 *", "queue", utc(2024, 2, 29, 0, 0));
    int64_t now = utc(2026, 11, 27, 13, 7) + 42;
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, now), 4);
    assert_int_equal(fake_calls(f, "enqueue", "a", t, 8), 1);
    assert_true(t[0] == utc(2026, 11, 27, 13, 0));
    assert_true(f->s[0].next_fire_at == utc(2026, 11, 27, 13, 15));
    assert_int_equal(fake_calls(f, "enqueue", "b", t, 8), 1);
    assert_true(t[0] == utc(2026, 11, 27, 13, 7));
    assert_true(f->s[1].next_fire_at == utc(2026, 11, 27, 13, 8));
    assert_int_equal(fake_calls(f, "enqueue", "c", t, 8), 1);
    assert_true(t[0] == utc(2026, 11, 27, 3, 0));
    assert_true(f->s[2].next_fire_at == utc(2026, 11, 28, 3, 0));
    assert_int_equal(fake_calls(f, "enqueue", "d", t, 8), 1);
    assert_true(t[0] == utc(2024, 2, 29, 0, 0));
    assert_true(f->s[3].next_fire_at == utc(2028, 2, 29, 0, 0));
    /* nothing more until the next minute */
    assert_int_equal(step(f, now + 1, utc(2026, 11, 27, 13, 8) - 1), 0);
    assert_int_equal(step(f, utc(2026, 11, 27, 13, 8), utc(2026, 11, 27, 13, 8)), 1);
    free(f);
}

static void test_disabled_not_listed(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    int64_t t0 = utc(2026, 11, 27, 23, 0);
    fake_add(f, "on", "* * * * *", "queue", 0);
    fake_add(f, "off", "* * * * *", "queue", t0 + 60);
    f->s[1].enabled = 0;
    assert_int_equal(step(f, t0, t0 + 300), 5);
    for (size_t i = 0; i < f->ncalls; i++)
        assert_string_equal(f->calls[i].id, "on");
    /* enabled again later with a stale next_fire_at: one catch-up firing, then on time */
    f->s[1].enabled = 1;
    assert_int_equal(step(f, t0 + 301, t0 + 301), 1);
    assert_true(f->s[1].next_fire_at == t0 + 360);
    free(f);
}

static void test_errors_retry_next_tick(void **state)
{
    fake_t *f = calloc(1, sizeof *f);
    int64_t t0 = utc(2026, 11, 27, 23, 0), t[4];
    fake_add(f, "s", "*/5 * * * *", "skip", t0);
    fake_add(f, "bad", "61 * * * *", "queue", t0);
    fake_add(f, "never", "0 0 30 2 *", "queue", 0);
    fake_add(f, "odd", "*/5 * * * *", "sometimes", t0);

    f->fail_list = 1;
    assert_true(mt__scheduler_tick(&fake_ops, f, t0) == MT_ESYS);
    f->fail_list = 0;

    f->fail_active = 1; /* "s" and "odd" cannot tell: not fired, next_fire_at unchanged */
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, t0), 0);
    assert_true(f->s[0].next_fire_at == t0);
    f->fail_active = 0;
    f->fail_enqueue = 1; /* not queued: tried again at the next tick */
    f->s[0].policy = "queue";
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, t0 + 1), 0);
    assert_true(f->s[0].next_fire_at == t0);
    f->fail_enqueue = 0;
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, t0 + 2), 2); /* "s" and "odd" (skip) */
    assert_int_equal(fake_calls(f, "enqueue", "s", t, 4), 1);
    assert_true(t[0] == t0);
    /* an invalid cron and an impossible one are left alone */
    assert_int_equal(fake_calls(f, "enqueue", "bad", NULL, 0), 0);
    assert_true(f->s[1].next_fire_at == t0);
    assert_true(f->s[2].next_fire_at == 0);
    assert_int_equal(fake_calls(f, "set_next", "never", NULL, 0), 0);
    assert_true(mt__scheduler_tick(NULL, f, t0) == MT_EINVAL);
    free(f);

    /* a stored next_fire_at that the (changed) cron never fires at: recomputed, not fired */
    f = calloc(1, sizeof *f);
    fake_add(f, "changed", "0 12 * * *", "queue", t0 + 7 * 60); /* 23:07 */
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, t0 + 600), 0);
    assert_true(f->s[0].next_fire_at == utc(2026, 11, 28, 12, 0));
    /* but one that is a firing of it, before a later firing, still fires the later one */
    f->s[0].next_fire_at = utc(2026, 11, 26, 12, 0);
    assert_int_equal(mt__scheduler_tick(&fake_ops, f, t0 + 600), 1);
    assert_int_equal(fake_calls(f, "enqueue", "changed", t, 4), 1);
    assert_true(t[0] == utc(2026, 11, 27, 12, 0));
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_schedule_gets_next),
        cmocka_unit_test(test_fires_at_the_right_minutes),
        cmocka_unit_test(test_skip_vs_queue_while_active),
        cmocka_unit_test(test_policy_rechecked_at_fire_time),
        cmocka_unit_test(test_missed_firings_after_downtime),
        cmocka_unit_test(test_disabled_not_listed),
        cmocka_unit_test(test_errors_retry_next_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
