/* libFuzzer driver for mt__cron_parse and mt__cron_next. The source is included, not linked
 * from mortar_server, so that libFuzzer's coverage instrumentation sees it. */
#include "../../src/server/cron.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

/* t matches every field of c (gmtime_r as an independent calendar). */
static int fuzz_matches(const mt__cron_t *c, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return 0;
    bool dm = (c->mday >> tm.tm_mday) & 1, dw = (c->wday >> tm.tm_wday) & 1;
    return ((c->minute >> tm.tm_min) & 1) && ((c->hour >> tm.tm_hour) & 1) &&
           ((c->month >> (tm.tm_mon + 1)) & 1) &&
           ((c->mday_star || c->wday_star) ? (dm && dw) : (dm || dw));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_parse_err_t err;
    mt__cron_t c;
    char *text;
    int rc;

    text = fuzz_cstr(data, size, 2048);
    if (!text)
        return 0;
    memset(&err, 0, sizeof(err));
    rc = mt__cron_parse(text, &c, &err);
    if (rc == MT_OK) {
        CHECK(c.minute && c.hour && c.mday && c.month && c.wday);
        CHECK((c.minute >> 60) == 0 && (c.hour >> 24) == 0 && (c.mday & 1) == 0);
        CHECK((c.month & 1) == 0 && (c.month >> 13) == 0 && (c.wday >> 7) == 0);
        /* a few instants derived from the input: results are later whole minutes that match */
        int64_t after = 1795820460; /* 2026-11-27T23:01:00Z */
        for (size_t i = 0; i < size && i < 8; i++)
            after += (int64_t)data[i] * 7919 * 60 + data[i];
        for (int k = 0; k < 3; k++) {
            int64_t t = mt__cron_next(&c, after);
            if (t < 0)
                break;
            CHECK(t > after && t % 60 == 0 && t - after <= (int64_t)(5 * 365 + 2) * 86400);
            CHECK(fuzz_matches(&c, t));
            /* nothing matches between after and t (checked on a short span only) */
            if (t - after <= 3 * 3600)
                for (int64_t u = after - ((after % 60) + 60) % 60 + 60; u < t; u += 60)
                    CHECK(!fuzz_matches(&c, u));
            after = t;
        }
    } else {
        CHECK(rc == MT_EPARSE);
        CHECK(err.col >= 1 && (size_t)err.col <= strlen(text) + 1);
        CHECK(err.msg[0] != '\0');
        for (const char *p = err.msg; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f);
    }
    free(text);
    return 0;
}
