/* Cron expressions: 5 fields (minute hour day-of-month month day-of-week), UTC. Each field:
 * '*', numbers, ranges a-b, steps a-b/n, a/n and '*' followed by /n, lists a,b; month and
 * weekday names (jan..dec, sun..sat; 7 = sunday too); the macros @hourly @daily @midnight
 * @weekly @monthly @yearly @annually. Day-of-month and day-of-week are OR-ed when both are
 * restricted (Vixie cron: a field is restricted when it does not start with '*'). */
#ifndef MT_SERVER_CRON_H
#define MT_SERVER_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "mortar/error.h"

typedef struct mt__cron {
    uint64_t minute;            /* bit i = minute i */
    uint32_t hour, mday, month; /* mday bits 1..31, month bits 1..12 */
    uint8_t wday;               /* bits 0..6, 0 = Sunday */
    bool mday_star, wday_star;
} mt__cron_t;

/* MT_OK, or MT_EPARSE with err naming the field and column (1-based). */
int mt__cron_parse(const char *expr, mt__cron_t *out, mt_parse_err_t *err);
/* The first fire time strictly after `after` (Unix seconds, UTC), at a whole minute; -1 if
 * none within 5 years (e.g. "0 0 30 2 *"). */
int64_t mt__cron_next(const mt__cron_t *c, int64_t after);

#endif
