/* Cron expressions (cron.h): a pure parser and a next-fire-time search that skips whole
 * months, days and hours (ADR 0013). Calendar arithmetic is done on day numbers (Howard
 * Hinnant's civil-from-days), not gmtime, so it is pure, thread-safe and works for any year. */
#include "server/cron.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CRON_MAX_LEN 1024

typedef struct cron_field {
    const char *name;
    int lo, hi;
    const char *const *names; /* 3-letter names for lo.. (NULL: none) */
} cron_field_t;

static const char *const cron_months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const cron_wdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const cron_field_t cron_fields[5] = {
    {"minute", 0, 59, NULL},           {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},     {"month", 1, 12, cron_months},
    {"day-of-week", 0, 7, cron_wdays}, /* 7 = Sunday, folded to 0 */
};

static int cron_err(mt_parse_err_t *err, int col, const char *fmt, const char *field,
                    const char *arg)
{
    if (err) {
        err->line = 0;
        err->col = col;
        if (field && arg)
            snprintf(err->msg, sizeof err->msg, fmt, field, arg);
        else if (field)
            snprintf(err->msg, sizeof err->msg, fmt, field);
        else
            snprintf(err->msg, sizeof err->msg, "%s", fmt);
    }
    return MT_EPARSE;
}

static int cron_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int cron_is_space(int c)
{
    return c == ' ' || c == '\t';
}

/* A printable excerpt of s[0..n) for messages (non-printable bytes as '?'). */
static void cron_excerpt(const char *s, size_t n, char *out, size_t cap)
{
    size_t i;
    if (n > 16)
        n = 16;
    for (i = 0; i < n && i + 1 < cap; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

/* One value at *pp: digits or (for month/day-of-week) a 3-letter name. */
static int cron_value(const cron_field_t *f, const char *base, const char **pp, int *out,
                      mt_parse_err_t *err)
{
    const char *p = *pp;
    char tmp[24];
    if (*p >= '0' && *p <= '9') {
        long v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v < 100000)
                v = v * 10 + (*p - '0');
            p++;
        }
        if (v < f->lo || v > f->hi) {
            char range[32];
            snprintf(range, sizeof range, "%d-%d", f->lo, f->hi);
            cron_excerpt(*pp, (size_t)(p - *pp), tmp, sizeof tmp);
            if (err) {
                err->line = 0;
                err->col = (int)(*pp - base) + 1;
                snprintf(err->msg, sizeof err->msg, "%s: value %s out of range %s", f->name, tmp,
                         range);
            }
            return MT_EPARSE;
        }
        *out = (int)v;
        *pp = p;
        return MT_OK;
    }
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        const char *q = p;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))
            q++;
        cron_excerpt(p, (size_t)(q - p), tmp, sizeof tmp);
        if (!f->names)
            return cron_err(err, (int)(p - base) + 1, "%s: names are not allowed here ('%s')",
                            f->name, tmp);
        if (q - p == 3) {
            for (int i = 0; f->names[i]; i++) {
                if (cron_lower(p[0]) == f->names[i][0] && cron_lower(p[1]) == f->names[i][1] &&
                    cron_lower(p[2]) == f->names[i][2]) {
                    *out = f->lo + i;
                    *pp = q;
                    return MT_OK;
                }
            }
        }
        return cron_err(err, (int)(p - base) + 1, "%s: unknown name '%s'", f->name, tmp);
    }
    if (*p == '\0' || cron_is_space(*p) || *p == ',')
        return cron_err(err, (int)(p - base) + 1, "%s: value expected", f->name, NULL);
    tmp[0] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    tmp[1] = '\0';
    return cron_err(err, (int)(p - base) + 1, "%s: unexpected '%s'", f->name, tmp);
}

/* One field [p, end) into a bit set; *star when it starts with '*' (crontab(5): a field
 * "restricted" for the day OR rule is one that does not start with '*'). */
static int cron_field(const cron_field_t *f, const char *base, const char *p, const char *end,
                      uint64_t *bits, bool *star, mt_parse_err_t *err)
{
    int rc;
    *bits = 0;
    *star = *p == '*';
    for (;;) {
        int a, b, step = 1;
        const char *item = p;
        if (p == end || *p == ',')
            return cron_err(err, (int)(p - base) + 1, "%s: empty list item", f->name, NULL);
        if (*p == '*') {
            a = f->lo;
            b = f->hi;
            p++;
            if (f->lo == 0 && f->hi == 7)
                b = 6; /* '*' in day-of-week: 0-6 */
        } else {
            if ((rc = cron_value(f, base, &p, &a, err)) != MT_OK)
                return rc;
            b = a;
            if (*p == '-') {
                p++;
                if ((rc = cron_value(f, base, &p, &b, err)) != MT_OK)
                    return rc;
                if (b < a) {
                    char tmp[24];
                    cron_excerpt(item, (size_t)(p - item), tmp, sizeof tmp);
                    return cron_err(err, (int)(item - base) + 1, "%s: range %s goes backwards",
                                    f->name, tmp);
                }
            } else if (*p == '/') {
                /* "a/n" = "a-max/n" (as cronie); day-of-week's max is 6 but "7/n" is Sunday */
                b = f->hi == 7 && a < 7 ? 6 : f->hi;
            }
        }
        if (*p == '/') {
            const char *s = ++p;
            long v = 0;
            if (*p < '0' || *p > '9')
                return cron_err(err, (int)(p - base) + 1, "%s: step number expected", f->name,
                                NULL);
            while (*p >= '0' && *p <= '9') {
                if (v < 100000)
                    v = v * 10 + (*p - '0');
                p++;
            }
            if (v < 1 || v > f->hi) {
                char tmp[24], msg[48];
                cron_excerpt(s, (size_t)(p - s), tmp, sizeof tmp);
                snprintf(msg, sizeof msg, "%%s: step %%s out of range 1-%d", f->hi);
                return cron_err(err, (int)(s - base) + 1, msg, f->name, tmp);
            }
            step = (int)v;
        }
        for (int v = a; v <= b; v += step)
            *bits |= (uint64_t)1 << (f->lo == 0 && f->hi == 7 && v == 7 ? 0 : v);
        if (p == end)
            return MT_OK;
        if (*p != ',') {
            char tmp[2] = {(*p >= 0x20 && *p < 0x7f) ? *p : '?', '\0'};
            return cron_err(err, (int)(p - base) + 1, "%s: unexpected '%s'", f->name, tmp);
        }
        p++;
    }
}

static const struct {
    const char *name, *expr;
} cron_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int mt__cron_parse(const char *expr, mt__cron_t *out, mt_parse_err_t *err)
{
    const char *p, *start[5], *end[5];
    uint64_t bits[5];
    bool star[5];
    int nf = 0, rc;
    mt__cron_t c;

    if (!expr || !out)
        return MT_EINVAL;
    if (strnlen(expr, CRON_MAX_LEN + 1) > CRON_MAX_LEN)
        return cron_err(err, CRON_MAX_LEN + 1, "cron expression longer than 1024 characters", NULL,
                        NULL);
    p = expr;
    while (cron_is_space(*p))
        p++;
    if (*p == '@') {
        const char *q = p;
        size_t n;
        char tmp[24];
        while (*q && !cron_is_space(*q))
            q++;
        n = (size_t)(q - p);
        for (const char *r = q; *r; r++)
            if (!cron_is_space(*r))
                return cron_err(err, (int)(r - expr) + 1, "unexpected text after the macro", NULL,
                                NULL);
        for (size_t i = 0; i < sizeof cron_macros / sizeof cron_macros[0]; i++) {
            if (strlen(cron_macros[i].name) == n && strncasecmp(p, cron_macros[i].name, n) == 0)
                return mt__cron_parse(cron_macros[i].expr, out, err);
        }
        cron_excerpt(p, n, tmp, sizeof tmp);
        return cron_err(err, (int)(p - expr) + 1,
                        "unknown macro '%s' (@yearly @annually @monthly @weekly @daily "
                        "@midnight @hourly)",
                        tmp, NULL);
    }
    while (*p) {
        if (nf == 5)
            return cron_err(err, (int)(p - expr) + 1,
                            "more than 5 fields (minute hour day-of-month month day-of-week)", NULL,
                            NULL);
        start[nf] = p;
        while (*p && !cron_is_space(*p))
            p++;
        end[nf++] = p;
        while (cron_is_space(*p))
            p++;
    }
    if (nf < 5) {
        char msg[96];
        snprintf(msg, sizeof msg,
                 "%s field missing (5 fields: minute hour day-of-month month "
                 "day-of-week)",
                 cron_fields[nf].name);
        return cron_err(err, (int)(p - expr) + 1, msg, NULL, NULL);
    }
    for (int i = 0; i < 5; i++)
        if ((rc = cron_field(&cron_fields[i], expr, start[i], end[i], &bits[i], &star[i], err)) !=
            MT_OK)
            return rc;
    memset(&c, 0, sizeof c);
    c.minute = bits[0];
    c.hour = (uint32_t)bits[1];
    c.mday = (uint32_t)bits[2];
    c.month = (uint32_t)bits[3];
    c.wday = (uint8_t)bits[4];
    c.mday_star = star[2];
    c.wday_star = star[4];
    *out = c;
    return MT_OK;
}

/* ---- next fire time ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian). */
static int64_t cron_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void cron_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t cron_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool cron_day_matches(const mt__cron_t *c, int mday, int wday)
{
    bool dm = (c->mday >> mday) & 1, dw = (c->wday >> wday) & 1;
    if (c->mday_star || c->wday_star)
        return dm && dw;
    return dm || dw; /* both restricted: either (Vixie cron) */
}

int64_t mt__cron_next(const mt__cron_t *c, int64_t after)
{
    /* ±2^40 s is ±34,000 years: keeps every intermediate far from overflow */
    const int64_t bound = (int64_t)1 << 40;
    if (!c || after < -bound || after > bound)
        return -1;
    if (!c->minute || !c->hour || !c->mday || !c->month || !c->wday)
        return -1;
    int64_t limit = after + (int64_t)(5 * 365 + 2) * 86400;
    int64_t day = cron_floor_div(after, 86400);
    int64_t sod = after - day * 86400 + 60; /* second of day, first candidate minute */
    int hour = (int)(sod / 3600), minute = (int)(sod % 3600 / 60);
    if (hour == 24) {
        day++;
        hour = 0;
        minute = 0;
    }
    for (;;) {
        int64_t y;
        int m, d;
        if (day * 86400 > limit)
            return -1;
        cron_civil_from_days(day, &y, &m, &d);
        if (!((c->month >> m) & 1)) {
            /* first day of the next month */
            day = m == 12 ? cron_days_from_civil(y + 1, 1, 1) : cron_days_from_civil(y, m + 1, 1);
            hour = minute = 0;
            continue;
        }
        int wday = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        if (!cron_day_matches(c, d, wday)) {
            day++;
            hour = minute = 0;
            continue;
        }
        for (; hour < 24; hour++, minute = 0) {
            if (!((c->hour >> hour) & 1))
                continue;
            uint64_t rest = c->minute & (~(uint64_t)0 << minute);
            if (rest) {
                int64_t t = day * 86400 + hour * 3600 + (int64_t)__builtin_ctzll(rest) * 60;
                return t > limit ? -1 : t;
            }
        }
        day++;
        hour = minute = 0;
    }
}
