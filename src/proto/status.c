/* The expected-status set of the `failed` counter (k6's http_req_failed) and its text form
 * ("200-399", "200-299,404", "2xx 304"). See docs/thresholds.md. */
#include "mortar/engine.h"
#include "proto/text.h"

#include <string.h>

static void set_range(mt_status_set_t *s, unsigned a, unsigned b)
{
    for (unsigned c = a; c <= b && c < MT_STATUS_MAX; c++)
        s->bits[c / 64] |= (uint64_t)1 << (c % 64);
}

void mt_status_set_default(mt_status_set_t *s)
{
    memset(s, 0, sizeof *s);
    set_range(s, 200, 399);
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A code or a mask (3 characters of [0-9x], first a digit); *lo..*hi the codes it covers. */
static int code_at(const char *text, const char **pp, unsigned *lo, unsigned *hi,
                   mt_parse_err_t *err)
{
    const char *p = *pp;
    char q[48];
    size_t n = 0;
    unsigned a = 0, b = 0;
    while (p[n] && (p[n] >= '0' && p[n] <= '9' ? true : p[n] == 'x' || p[n] == 'X'))
        n++;
    if (*p == '\0')
        return mt__perr_set(err, (int)(p - text) + 1, MT_EPARSE,
                            "a status is missing at the end (200-399)");
    if (n != 3 || p[0] < '1' || p[0] > '5') {
        size_t w = n ? n : strcspn(p, ",- \t\r\n");
        mt__quote(q, sizeof q, p, w ? w : 1);
        return mt__perr_set(err, (int)(p - text) + 1, MT_EPARSE,
                            "bad status '%s' (a code 100..599, or a mask like 2xx)", q);
    }
    for (size_t i = 0; i < 3; i++) {
        bool x = p[i] == 'x' || p[i] == 'X';
        if (x && i + 1 < 3 && !(p[i + 1] == 'x' || p[i + 1] == 'X')) {
            mt__quote(q, sizeof q, p, 3);
            return mt__perr_set(err, (int)(p - text) + 1, MT_EPARSE,
                                "bad mask '%s' (x only at the end: 5xx, 50x)", q);
        }
        a = a * 10 + (x ? 0 : (unsigned)(p[i] - '0'));
        b = b * 10 + (x ? 9 : (unsigned)(p[i] - '0'));
    }
    *lo = a;
    *hi = b;
    *pp = p + 3;
    return MT_OK;
}

int mt_status_set_parse(const char *text, mt_status_set_t *out, mt_parse_err_t *err)
{
    mt_status_set_t s;
    const char *p = text;
    bool any = false;
    int rc;

    if (!text || !out)
        return MT_EINVAL;
    memset(&s, 0, sizeof s);
    for (;;) {
        unsigned lo, hi, lo2, hi2;
        while (is_sep(*p))
            p++;
        if (*p == '\0')
            break;
        if ((rc = code_at(text, &p, &lo, &hi, err)) != MT_OK)
            return rc;
        const char *after = p;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '-') {
            p = after;
        } else {
            const char *b;
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            b = p;
            if ((rc = code_at(text, &p, &lo2, &hi2, err)) != MT_OK)
                return rc;
            if (lo2 < lo)
                return mt__perr_set(err, (int)(b - text) + 1, MT_EPARSE,
                                    "a range goes up (%u-%u, not %u-%u)", lo2, lo, lo, lo2);
            hi = hi2;
        }
        if (*p && !is_sep(*p)) {
            char q[48];
            mt__quote(q, sizeof q, p, 1);
            return mt__perr_set(err, (int)(p - text) + 1, MT_EPARSE,
                                "unexpected '%s' (codes and ranges separated by commas: "
                                "200-299,404)",
                                q);
        }
        set_range(&s, lo, hi);
        any = true;
    }
    if (!any)
        return mt__perr_set(err, 1, MT_EPARSE, "no status given (e.g. 200-399, or 200-299,404)");
    *out = s;
    return MT_OK;
}

void mt_counters_set_failed(mt_counters_t *c, const mt_status_set_t *expected)
{
    mt_status_set_t d;
    uint64_t n = c->errors + c->status[0];
    if (!expected) {
        mt_status_set_default(&d);
        expected = &d;
    }
    for (unsigned code = 1; code < MT_STATUS_MAX; code++)
        if (c->status[code] && !mt_status_set_has(expected, code))
            n += c->status[code];
    c->failed = n;
}
