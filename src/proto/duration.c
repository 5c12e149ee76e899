/* Durations: Tank's `^(\d+d)?(\d+h)?(\d+m)?(\d+s?)?$` plus "ms", "us" and fractions.
 * Values are computed in integer nanoseconds so "0.1s" is exactly 100000000 ns. */
#include "mortar/schedule.h"
#include "proto/text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Units, largest first; components must appear in this order, each at most once. The
 * nanosecond count of each unit is mant * 10^exp10, which lets fractions be exact. */
typedef struct unit {
    const char *name;
    int64_t ns;
    int64_t mant;
    int exp10;
} unit_t;

static const unit_t units[] = {
    {"d", 86400LL * 1000000000LL, 864, 11},
    {"h", 3600LL * 1000000000LL, 36, 11},
    {"m", 60LL * 1000000000LL, 6, 10},
    {"s", 1000000000LL, 1, 9},
    {"ms", 1000000LL, 1, 6},
    {"us", 1000LL, 1, 3},
};
enum { UNIT_S = 3, NUNITS = sizeof(units) / sizeof(units[0]) };

static int dur_fail(mt_parse_err_t *err, int rc, const char *text, const char *at, const char *fmt,
                    ...)
{
    char q[48], what[96];
    va_list ap;

    if (!err)
        return rc;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    mt__quote(q, sizeof(q), text, strlen(text));
    err->line = 0;
    err->col = (int)(at - text) + 1;
    if (*text)
        snprintf(err->msg, sizeof(err->msg), "bad duration '%s': %s", q, what);
    else
        snprintf(err->msg, sizeof(err->msg), "%s", what);
    return rc;
}

static bool dur_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool dur_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* round(0.<digits> * unit) in ns, exactly for the first exp10 digits (which is every digit
 * that can matter above 1 ns), then rounded using the next six. */
static int64_t frac_ns(const char *digits, size_t nd, const unit_t *u)
{
    uint64_t g = 0, r = 0;
    size_t i;

    for (i = 0; i < (size_t)u->exp10; i++)
        g = g * 10 + (uint64_t)(i < nd ? digits[i] - '0' : 0);
    for (; i < (size_t)u->exp10 + 6; i++)
        r = r * 10 + (uint64_t)(i < nd ? digits[i] - '0' : 0);
    return (int64_t)((uint64_t)u->mant * g + ((uint64_t)u->mant * r + 500000) / 1000000);
}

int mt_parse_duration(const char *text, int64_t *ns, mt_parse_err_t *err)
{
    const char *p = text, *big_at = NULL;
    int last = -1;
    int64_t total = 0;

    if (!text || !ns)
        return MT_EINVAL;
    if (*p == '\0')
        return dur_fail(err, MT_EPARSE, text, p, "expected duration");

    while (*p) {
        const char *num = p, *frac = NULL, *uname;
        size_t nfrac = 0, ulen;
        uint64_t ip = 0;
        bool over = false, any = false;
        int rank = -1;
        int64_t comp;

        if (*p == '-')
            return dur_fail(err, MT_EPARSE, text, p, "negative duration");
        for (; dur_is_digit(*p); p++) {
            unsigned d = (unsigned)(*p - '0');
            any = true;
            if (ip > (UINT64_MAX - d) / 10)
                over = true;
            else
                ip = ip * 10 + d;
        }
        if (*p == '.') {
            frac = ++p;
            while (dur_is_digit(*p))
                p++;
            nfrac = (size_t)(p - frac);
            any = any || nfrac > 0;
        }
        if (!any)
            return dur_fail(err, MT_EPARSE, text, num, "expected a number");

        uname = p;
        while (dur_is_alpha(*p))
            p++;
        ulen = (size_t)(p - uname);
        if (ulen == 0) {
            /* A bare number is seconds, and only as the last component after d, h or m. */
            if (*p != '\0')
                return dur_fail(err, MT_EPARSE, text, p, "unexpected '%c'",
                                (*p >= 0x20 && *p < 0x7f) ? *p : '?');
            if (last >= UNIT_S)
                return dur_fail(err, MT_EPARSE, text, uname, "missing unit after '%s'",
                                units[last].name);
            rank = UNIT_S;
        } else {
            for (int i = 0; i < (int)NUNITS; i++) {
                if (strlen(units[i].name) == ulen && memcmp(units[i].name, uname, ulen) == 0)
                    rank = i;
            }
            if (rank < 0) {
                char q[48];
                mt__quote(q, sizeof(q), uname, ulen);
                return dur_fail(err, MT_EPARSE, text, uname,
                                "unknown unit '%s' (use d h m s ms us)", q);
            }
            if (rank <= last)
                return dur_fail(err, MT_EPARSE, text, uname,
                                "unit '%s' out of order (largest first, each once)",
                                units[rank].name);
        }
        last = rank;

        if (over || ip > (uint64_t)(INT64_MAX / units[rank].ns)) {
            if (!big_at)
                big_at = num;
            continue;
        }
        comp = (int64_t)ip * units[rank].ns;
        if (frac) {
            int64_t f = frac_ns(frac, nfrac, &units[rank]);
            if (comp > INT64_MAX - f) {
                if (!big_at)
                    big_at = num;
                continue;
            }
            comp += f;
        }
        if (total > INT64_MAX - comp) {
            if (!big_at)
                big_at = num;
            continue;
        }
        total += comp;
    }
    if (big_at)
        return dur_fail(err, MT_ERANGE, text, big_at, "too large");
    *ns = total;
    return MT_OK;
}
