/* libFuzzer driver for mt_sched_parse, then the queries on whatever parses: due times
 * never decrease, stay inside their step, and agree with mt_sched_count_before.
 *
 * The sources are included, not linked from mortar_core, so that libFuzzer's coverage
 * instrumentation sees them (the library is built without it). */
#include "../../src/proto/duration.c"
#include "../../src/proto/schedule.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

/* Checks request n against its neighbour n-1 (prev, or -1) and returns its due time. */
static int64_t check_one(const mt_sched_t *s, mt_sched_cursor_t *cur, uint64_t n, int64_t prev)
{
    int64_t t;
    const mt_sched_step_t *st;

    CHECK(mt_sched_due(s, cur, n, &t) == MT_OK);
    CHECK(cur->step < s->nsteps);
    st = &s->steps[cur->step];
    CHECK(n >= st->first && n - st->first < st->count);
    CHECK(t >= st->start_ns && t < st->start_ns + st->dur_ns);
    CHECK(t >= prev);
    CHECK(mt_sched_count_before(s, t) <= n);
    CHECK(mt_sched_count_before(s, t + 1) > n);
    return t;
}

/* Walks count requests from n0 (bounded by the total) with one cursor. */
static void walk(const mt_sched_t *s, uint64_t n0, uint64_t count)
{
    mt_sched_cursor_t cur = {0};
    int64_t prev = -1;

    if (n0 > 0)
        prev = check_one(s, &cur, n0 - 1, -1);
    for (uint64_t n = n0; n < s->total && n - n0 < count; n++)
        prev = check_one(s, &cur, n, prev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_sched_t s;
    mt_parse_err_t err;
    char *text;
    int rc;

    text = fuzz_cstr(data, size, 4096);
    if (!text)
        return 0;
    memset(&err, 0, sizeof(err));

    rc = mt_sched_parse(text, &s, &err);
    if (rc == MT_OK) {
        int64_t end = 0;
        uint64_t first = 0;
        CHECK(s.nsteps > 0 && s.nsteps <= SCHED_MAX_STEPS && s.total > 0);
        CHECK(s.total_ns > 0 && s.total_ns <= SCHED_MAX_DUR_NS);
        for (size_t i = 0; i < s.nsteps; i++) {
            const mt_sched_step_t *st = &s.steps[i];
            CHECK(st->start_ns == end && st->first == first && st->dur_ns > 0);
            CHECK(st->a >= 0 && st->b >= 0 && st->a <= SCHED_MAX_RATE && st->b <= SCHED_MAX_RATE);
            end += st->dur_ns;
            first += st->count;
        }
        CHECK(end == s.total_ns && first == s.total);
        walk(&s, 0, 2000);
        walk(&s, s.total > 500 ? s.total - 500 : 0, 500);
        /* around the first step boundaries */
        for (size_t i = 1; i < s.nsteps && i < 64; i++)
            walk(&s, s.steps[i].first > 3 ? s.steps[i].first - 3 : 0, 6);
        /* a spread of points, with the cursor jumping forward */
        {
            mt_sched_cursor_t cur = {0};
            int64_t prev = -1;
            for (uint64_t k = 0; k < 64; k++)
                prev = check_one(&s, &cur, s.total / 64 * k, prev);
        }
        CHECK(mt_sched_count_before(&s, s.total_ns) == s.total);
        CHECK(mt_sched_count_before(&s, 0) == 0);
        mt_sched_dispose(&s);
    } else {
        CHECK(rc == MT_EPARSE || rc == MT_ENOMEM);
        CHECK(s.steps == NULL && s.nsteps == 0);
        if (rc == MT_EPARSE) {
            CHECK(err.col >= 1 && (size_t)err.col <= strlen(text) + 1);
            CHECK(err.msg[0] != '\0');
            for (const char *p = err.msg; *p; p++)
                CHECK(*p >= 0x20 && *p < 0x7f);
        }
    }
    free(text);
    return 0;
}
