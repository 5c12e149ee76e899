/* Autostop: Yandex.Tank's criteria, parsed from Tank's syntax and evaluated once per second on
 * the engine's merged snapshots. Semantics and the differences from Tank: docs/autostop.md and
 * docs/adr/0008-autostop-and-thresholds.md. */
#include "mortar/verdict.h"
#include "proto/text.h"
#include "stats/lex.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S  1000000000LL
#define PPM       1000000ULL /* a share of 1 in parts per million */
#define PPB       1000000000ULL
#define MAX_ARGS  4
#define NO_TAG    (-1)
#define WIN_GROW0 16

/* ---- criterion table ------------------------------------------------------------------ */

typedef struct kind_info {
    const char *name;
    mt_autostop_kind_t kind;
    int nargs;   /* without the optional tag */
    bool tagged; /* accepts a tag as one more argument */
    const char *usage;
    int rc;
} kind_info_t;

static const kind_info_t kinds[] = {
    {"time", MT_AUTOSTOP_TIME, 2, true, "rt, window[, tag]", MT_AUTOSTOP_RC_TIME},
    {"quantile", MT_AUTOSTOP_QUANTILE, 3, true, "p, rt, window[, tag]", MT_AUTOSTOP_RC_TIME},
    {"limit", MT_AUTOSTOP_LIMIT, 1, false, "duration", MT_AUTOSTOP_RC_TIME},
    {"http", MT_AUTOSTOP_HTTP, 3, true, "mask, level, window[, tag]", MT_AUTOSTOP_RC_HTTP},
    {"net", MT_AUTOSTOP_NET, 3, true, "mask, level, window[, tag]", MT_AUTOSTOP_RC_NET},
    {"instances", MT_AUTOSTOP_INSTANCES, 2, false, "level, window", MT_AUTOSTOP_RC_INSTANCES},
    {"total_time", MT_AUTOSTOP_TOTAL_TIME, 3, true, "rt, N%, window[, tag]",
     MT_AUTOSTOP_RC_TOTAL_TIME},
    {"total_http", MT_AUTOSTOP_TOTAL_HTTP, 3, true, "mask, level, window[, tag]",
     MT_AUTOSTOP_RC_TOTAL_HTTP},
    {"total_net", MT_AUTOSTOP_TOTAL_NET, 3, true, "mask, level, window[, tag]",
     MT_AUTOSTOP_RC_TOTAL_NET},
    {"negative_http", MT_AUTOSTOP_NEGATIVE_HTTP, 3, true, "mask, level, window[, tag]",
     MT_AUTOSTOP_RC_NEGATIVE_HTTP},
    {"negative_net", MT_AUTOSTOP_NEGATIVE_NET, 3, true, "mask, level, window[, tag]",
     MT_AUTOSTOP_RC_NEGATIVE_NET},
    {"http_trend", MT_AUTOSTOP_HTTP_TREND, 2, true, "mask, window[, tag]",
     MT_AUTOSTOP_RC_HTTP_TREND},
    {"steady_cumulative", MT_AUTOSTOP_STEADY_CUMULATIVE, 1, false, "window", MT_AUTOSTOP_RC_STEADY},
};
enum { NKINDS = sizeof(kinds) / sizeof(kinds[0]) };

static const kind_info_t *kind_info(mt_autostop_kind_t k)
{
    for (size_t i = 0; i < NKINDS; i++) {
        if (kinds[i].kind == k)
            return &kinds[i];
    }
    return NULL;
}

int mt_autostop_net_code(int kind)
{
    return kind >= 0 && kind < MT_ERR__COUNT ? mt_err_kind_errno(kind) : 0;
}

/* ---- parsing -------------------------------------------------------------------------- */

typedef struct span {
    const char *p;
    size_t len;
    int col; /* 1-based column of p in the whole text */
} span_t;

static bool span_is(span_t s, const char *word)
{
    return mt__lex_word_is(s.p, s.len, word);
}

static int fail(mt_parse_err_t *err, int col, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(mt_parse_err_t *err, int col, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__perr_vset(err, col, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/* A time: components "<digits><unit>" summed ("1s500ms"), the last one may omit its unit and
 * then takes def_ns per unit. Units (any case): us ms s m h d w. Result in ns. */
static int parse_time(span_t a, int64_t def_ns, const char *what, int64_t *out, mt_parse_err_t *err)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"us", 1000LL},          {"ms", 1000000LL},      {"s", NS_PER_S},
                 {"m", 60 * NS_PER_S},    {"h", 3600 * NS_PER_S}, {"d", 86400 * NS_PER_S},
                 {"w", 604800 * NS_PER_S}};
    size_t i = 0;
    int64_t total = 0;
    bool big = false;

    while (i < a.len) {
        size_t num = i, u;
        uint64_t v = 0;
        int64_t per = -1;

        if (!mt__lex_digit(a.p[i]))
            return fail(err, a.col + (int)i, MT_EPARSE, "bad %s: expected a number", what);
        for (; i < a.len && mt__lex_digit(a.p[i]); i++) {
            if (v > (UINT64_MAX - 9) / 10)
                big = true;
            else
                v = v * 10 + (uint64_t)(a.p[i] - '0');
        }
        if (i < a.len && a.p[i] == '.')
            return fail(err, a.col + (int)i, MT_EPARSE,
                        "bad %s: fractions are not allowed (write 1s500ms)", what);
        u = i;
        while (i < a.len && mt__lex_alpha(a.p[i]))
            i++;
        if (u == i) {
            if (i < a.len)
                return fail(err, a.col + (int)i, MT_EPARSE, "bad %s: unexpected '%c'", what,
                            (a.p[i] >= 0x20 && a.p[i] < 0x7f) ? a.p[i] : '?');
            per = def_ns;
        } else {
            span_t us = {a.p + u, i - u, a.col + (int)u};
            for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
                if (span_is(us, units[k].name))
                    per = units[k].ns;
            }
            if (per < 0) {
                char q[48];
                mt__quote(q, sizeof q, us.p, us.len);
                return fail(err, us.col, MT_EPARSE, "bad %s: unknown unit '%s' (use ms s m h d w)",
                            what, q);
            }
        }
        if (big || v > (uint64_t)(INT64_MAX / per) || total > INT64_MAX - (int64_t)v * per) {
            return fail(err, a.col + (int)num, MT_ERANGE, "bad %s: too large", what);
        }
        total += (int64_t)v * per;
    }
    *out = total;
    return MT_OK;
}

static int parse_window(span_t a, uint32_t *out, mt_parse_err_t *err)
{
    int64_t ns;
    int rc = parse_time(a, NS_PER_S, "window", &ns, err);
    if (rc != MT_OK)
        return rc;
    if (ns % NS_PER_S != 0)
        return fail(err, a.col, MT_EPARSE, "window must be a whole number of seconds");
    if (ns < NS_PER_S)
        return fail(err, a.col, MT_EPARSE, "window must be at least 1s");
    if (ns / NS_PER_S > (int64_t)UINT32_MAX)
        return fail(err, a.col, MT_ERANGE, "window too long");
    *out = (uint32_t)(ns / NS_PER_S);
    return MT_OK;
}

static int parse_rt(span_t a, int64_t *us, mt_parse_err_t *err)
{
    int64_t ns;
    int rc = parse_time(a, 1000000LL, "response time", &ns, err);
    if (rc == MT_OK)
        *us = ns / 1000;
    return rc;
}

/* digits[.digits] as value * 10^-scale; at most 18 significant digits kept. */
static int parse_decimal(span_t a, const char *what, uint64_t *mant, int *scale,
                         mt_parse_err_t *err)
{
    size_t i = 0;
    uint64_t m = 0;
    int sc = 0, nd = 0;
    bool dot = false;

    for (; i < a.len; i++) {
        char c = a.p[i];
        if (c == '.' && !dot) {
            dot = true;
            continue;
        }
        if (!mt__lex_digit(c))
            break;
        nd++;
        if (m > 99999999999999999ULL) {
            if (!dot)
                return fail(err, a.col, MT_ERANGE, "bad %s: too large", what);
            continue; /* digits beyond 18 after the point no longer matter */
        }
        m = m * 10 + (uint64_t)(c - '0');
        if (dot)
            sc++;
    }
    if (nd == 0)
        return fail(err, a.col, MT_EPARSE, "bad %s: expected a number", what);
    if (i < a.len)
        return fail(err, a.col + (int)i, MT_EPARSE, "bad %s: unexpected '%c'", what,
                    (a.p[i] >= 0x20 && a.p[i] < 0x7f) ? a.p[i] : '?');
    *mant = m;
    *scale = sc;
    return MT_OK;
}

/* "12.5%" -> 125000 ppm (rounded to the nearest ppm), 0..100%. */
static int parse_share(span_t a, uint64_t *ppm, mt_parse_err_t *err)
{
    uint64_t m;
    int sc, rc;
    span_t num = {a.p, a.len - 1, a.col};

    rc = parse_decimal(num, "level", &m, &sc, err);
    if (rc != MT_OK)
        return rc;
    /* percent * 10^4 = ppm */
    while (sc > 4) {
        m = (m + (sc == 5 ? 5 : 0)) / 10; /* round at the last step, truncate before */
        sc--;
    }
    for (; sc < 4; sc++) {
        if (m > 1000000)
            return fail(err, a.col, MT_EPARSE, "level above 100%%");
        m *= 10;
    }
    if (m > PPM)
        return fail(err, a.col, MT_EPARSE, "level above 100%%");
    *ppm = m;
    return MT_OK;
}

static int parse_level(span_t a, bool share_only, mt_autostop_crit_t *c, mt_parse_err_t *err)
{
    if (a.len > 0 && a.p[a.len - 1] == '%') {
        c->relative = true;
        return parse_share(a, &c->level, err);
    }
    if (share_only)
        return fail(err, a.col, MT_EPARSE, "expected a share like 70%%");
    uint64_t v = 0;
    for (size_t i = 0; i < a.len; i++) {
        if (!mt__lex_digit(a.p[i]))
            return fail(err, a.col + (int)i, MT_EPARSE,
                        "bad level: expected a count or a share like 10%%");
        if (v > (UINT64_MAX - 9) / 10)
            return fail(err, a.col, MT_ERANGE, "bad level: too large");
        v = v * 10 + (uint64_t)(a.p[i] - '0');
    }
    c->relative = false;
    c->level = v;
    return MT_OK;
}

static int parse_mask(span_t a, bool http, char *out, mt_parse_err_t *err)
{
    size_t at;
    switch (mt__lex_mask(a.p, a.len, http, out, &at)) {
    case MT__LEX_TOO_LONG:
        return fail(err, a.col, MT_EPARSE, "bad code mask: at most 3 characters (404, 5xx, xx)");
    case MT__LEX_BAD_CHAR:
        return fail(err, a.col + (int)at, MT_EPARSE,
                    "bad code mask: use digits and x (404, 5xx, xx)");
    case MT__LEX_BAD_HTTP:
        return fail(err, a.col, MT_EPARSE,
                    "bad HTTP code mask: 3 characters (404, 5xx), xx for any, 0 for none");
    default:
        return MT_OK;
    }
}

static int parse_tag(span_t a, char *out, mt_parse_err_t *err)
{
    size_t at;
    switch (mt__lex_tag(a.p, a.len, out, MT_VERDICT_TAG_MAX, &at)) {
    case MT__LEX_TOO_LONG:
        return fail(err, a.col, MT_EPARSE, "tag too long (at most %d bytes)",
                    MT_VERDICT_TAG_MAX - 1);
    case MT__LEX_BAD_CHAR:
        return fail(err, a.col + (int)at, MT_EPARSE, "bad tag: control character");
    default:
        return MT_OK;
    }
}

static int parse_args(const kind_info_t *ki, const span_t *args, int nargs, mt_autostop_crit_t *c,
                      mt_parse_err_t *err)
{
    int rc = MT_OK;
    double p;
    uint64_t m;
    int sc;

    switch (ki->kind) {
    case MT_AUTOSTOP_TIME:
        if ((rc = parse_rt(args[0], &c->rt_us, err)) != MT_OK)
            return rc;
        rc = parse_window(args[1], &c->window_s, err);
        break;
    case MT_AUTOSTOP_QUANTILE:
        if ((rc = parse_decimal(args[0], "percentile", &m, &sc, err)) != MT_OK)
            return rc;
        p = (double)m / pow(10.0, sc);
        if (!(p > 0.0 && p <= 100.0))
            return fail(err, args[0].col, MT_EPARSE, "percentile must be above 0 and at most 100");
        c->quantile = p;
        if ((rc = parse_rt(args[1], &c->rt_us, err)) != MT_OK)
            return rc;
        rc = parse_window(args[2], &c->window_s, err);
        break;
    case MT_AUTOSTOP_LIMIT:
        if ((rc = parse_time(args[0], NS_PER_S, "duration", &c->limit_ns, err)) != MT_OK)
            return rc;
        if (c->limit_ns <= 0)
            return fail(err, args[0].col, MT_EPARSE, "duration must be positive");
        break;
    case MT_AUTOSTOP_HTTP:
    case MT_AUTOSTOP_NET:
    case MT_AUTOSTOP_TOTAL_HTTP:
    case MT_AUTOSTOP_TOTAL_NET:
    case MT_AUTOSTOP_NEGATIVE_HTTP:
    case MT_AUTOSTOP_NEGATIVE_NET: {
        bool http = ki->kind == MT_AUTOSTOP_HTTP || ki->kind == MT_AUTOSTOP_TOTAL_HTTP ||
                    ki->kind == MT_AUTOSTOP_NEGATIVE_HTTP;
        if ((rc = parse_mask(args[0], http, c->mask, err)) != MT_OK)
            return rc;
        if ((rc = parse_level(args[1], false, c, err)) != MT_OK)
            return rc;
        rc = parse_window(args[2], &c->window_s, err);
        break;
    }
    case MT_AUTOSTOP_INSTANCES:
        if ((rc = parse_level(args[0], false, c, err)) != MT_OK)
            return rc;
        rc = parse_window(args[1], &c->window_s, err);
        break;
    case MT_AUTOSTOP_TOTAL_TIME:
        if ((rc = parse_rt(args[0], &c->rt_us, err)) != MT_OK)
            return rc;
        if ((rc = parse_level(args[1], true, c, err)) != MT_OK)
            return rc;
        rc = parse_window(args[2], &c->window_s, err);
        break;
    case MT_AUTOSTOP_HTTP_TREND:
        if ((rc = parse_mask(args[0], true, c->mask, err)) != MT_OK)
            return rc;
        rc = parse_window(args[1], &c->window_s, err);
        break;
    case MT_AUTOSTOP_STEADY_CUMULATIVE:
        rc = parse_window(args[0], &c->window_s, err);
        break;
    }
    if (rc == MT_OK && nargs > ki->nargs)
        rc = parse_tag(args[ki->nargs], c->tag, err);
    return rc;
}

/* Parses one criterion starting at p (white space before it skipped); *next is set to just
 * after its ')'. */
static int parse_at(const char *text, const char *p, const char **next, mt_autostop_crit_t *out,
                    mt_parse_err_t *err)
{
    const char *name, *start, *open;
    span_t nm, args[MAX_ARGS];
    int nargs = 0, rc;
    const kind_info_t *ki = NULL;
    mt_autostop_crit_t c;

#define COL(q) ((int)((q)-text) + 1)
    memset(&c, 0, sizeof c);
    while (mt__lex_ws(*p))
        p++;
    start = name = p;
    if (*p == '\0')
        return fail(err, COL(p), MT_EPARSE, "expected a criterion");
    while (mt__lex_alpha(*p) || *p == '_')
        p++;
    if (p == name)
        return fail(err, COL(p), MT_EPARSE, "expected a criterion name");
    nm = (span_t){name, (size_t)(p - name), COL(name)};
    for (size_t i = 0; i < NKINDS; i++) {
        if (span_is(nm, kinds[i].name))
            ki = &kinds[i];
    }
    if (!ki) {
        char q[48];
        mt__quote(q, sizeof q, nm.p, nm.len);
        return fail(err, nm.col, MT_EPARSE, "unknown criterion '%s'", q);
    }
    while (mt__lex_ws(*p))
        p++;
    if (*p != '(')
        return fail(err, COL(p), MT_EPARSE, "expected '(' after '%s'", ki->name);
    open = p++;

    for (;;) {
        const char *a = p, *e;
        while (*p && *p != ',' && *p != ')' && *p != '(')
            p++;
        if (*p == '\0')
            return fail(err, COL(p), MT_EPARSE, "missing ')'");
        if (*p == '(')
            return fail(err, COL(p), MT_EPARSE, "unexpected '('");
        e = p;
        while (a < e && mt__lex_ws(*a))
            a++;
        while (e > a && mt__lex_ws(e[-1]))
            e--;
        if (nargs == MAX_ARGS)
            return fail(err, COL(open), MT_EPARSE, "%s: too many arguments (%s)", ki->name,
                        ki->usage);
        args[nargs++] = (span_t){a, (size_t)(e - a), COL(a)};
        if (a == e)
            return fail(err, COL(a), MT_EPARSE, "empty argument");
        if (*p++ == ')')
            break;
    }
    if (nargs < ki->nargs || nargs > ki->nargs + (ki->tagged ? 1 : 0)) {
        if (ki->tagged)
            return fail(err, COL(open), MT_EPARSE, "%s: expected %d or %d arguments (%s), got %d",
                        ki->name, ki->nargs, ki->nargs + 1, ki->usage, nargs);
        return fail(err, COL(open), MT_EPARSE, "%s: expected %d argument%s (%s), got %d", ki->name,
                    ki->nargs, ki->nargs == 1 ? "" : "s", ki->usage, nargs);
    }
    if ((size_t)(p - start) >= MT_VERDICT_TEXT_MAX)
        return fail(err, COL(start), MT_EPARSE, "criterion too long (at most %d bytes)",
                    MT_VERDICT_TEXT_MAX - 1);
    c.kind = ki->kind;
    rc = parse_args(ki, args, nargs, &c, err);
    if (rc != MT_OK)
        return rc;
    memcpy(c.text, start, (size_t)(p - start));
    c.text[p - start] = '\0';
    *out = c;
    *next = p;
    return MT_OK;
#undef COL
}

int mt_autostop_parse(const char *text, mt_autostop_crit_t *out, mt_parse_err_t *err)
{
    const char *p;
    mt_autostop_crit_t c;
    int rc;

    if (!text || !out)
        return MT_EINVAL;
    rc = parse_at(text, text, &p, &c, err);
    if (rc != MT_OK)
        return rc;
    while (mt__lex_ws(*p))
        p++;
    if (*p)
        return fail(err, (int)(p - text) + 1, MT_EPARSE, "unexpected text after ')'");
    *out = c;
    return MT_OK;
}

int mt_autostop_parse_list(const char *text, mt_autostop_crit_t *out, size_t cap, size_t *n,
                           mt_parse_err_t *err)
{
    const char *p = text;
    size_t k = 0;

    if (!text || !n || (!out && cap > 0))
        return MT_EINVAL;
    for (;;) {
        mt_autostop_crit_t c;
        const char *start;
        int rc;
        while (mt__lex_ws(*p))
            p++;
        if (*p == '\0')
            break;
        start = p;
        rc = parse_at(text, p, &p, &c, err);
        if (rc != MT_OK)
            return rc;
        if (k == cap)
            return fail(err, (int)(start - text) + 1, MT_ETOOBIG, "too many criteria (at most %zu)",
                        cap);
        out[k++] = c;
    }
    *n = k;
    return MT_OK;
}

/* ---- evaluation ----------------------------------------------------------------------- */

/* Sliding window of per-second samples; grows up to its length, then wraps. */
typedef struct win_sample {
    int64_t a;
    uint64_t b;
} win_sample_t;

typedef struct win {
    win_sample_t *buf;
    uint32_t cap, len, head, max;
    int64_t sum_a;
    uint64_t sum_b;
} win_t;

typedef struct crit_state {
    mt_autostop_crit_t c;
    int rc;
    int tag;                       /* index into the second's tags, or NO_TAG */
    int64_t rt_he;                 /* rt at the histogram's resolution: the top of rt's bucket */
    uint32_t run;                  /* per-second kinds: consecutive seconds the condition held */
    bool http_code[MT_STATUS_MAX]; /* which status codes the mask matches (index 0 = none) */
    bool net_kind[MT_ERR__COUNT];
    bool zero; /* the mask matches code 0 */
    win_t win;
    int64_t last; /* http_trend: the previous second's matching count */
    /* steady_cumulative: the run's latency so far and its quantiles at the previous second */
    mt_hist_t *cum;
    int64_t prevq[9];
    bool have_prev;
} crit_state_t;

/* Tank's cumulative quantiles (the ones steady_cumulative compares) */
static const double steady_q[9] = {25, 50, 75, 80, 90, 95, 98, 99, 100};

struct mt_autostop {
    crit_state_t *st;
    size_t n;
    int64_t elapsed_ns;
    bool tripped;
    mt_autostop_trip_t trip;
};

/* The top of value's bucket in the latency histogram layout, so that "above rt" means "in a
 * bucket above rt's" and a value equal to rt never counts as above it. */
static int rt_resolution(int64_t rt_us, int64_t *out)
{
    mt_hist_t *h;
    int rc = mt_hist_new_latency(&h);
    if (rc != MT_OK)
        return rc;
    if (rt_us <= 0 || !mt_hist_record(h, rt_us))
        *out = rt_us;
    else
        *out = mt_hist_max(h);
    mt_hist_free(h);
    return MT_OK;
}

int mt_autostop_new(const mt_autostop_crit_t *c, size_t n, const char *const *tags, size_t ntags,
                    mt_autostop_t **out, mt_parse_err_t *err)
{
    mt_autostop_t *a;
    int rc = MT_OK;

    if (!out || (n > 0 && !c))
        return MT_EINVAL;
    a = calloc(1, sizeof *a);
    if (!a)
        return MT_ENOMEM;
    a->st = calloc(n ? n : 1, sizeof *a->st);
    if (!a->st) {
        free(a);
        return MT_ENOMEM;
    }
    a->n = n;
    for (size_t i = 0; i < n; i++) {
        crit_state_t *st = &a->st[i];
        const kind_info_t *ki = kind_info(c[i].kind);
        char q[48];

        st->c = c[i];
        st->c.text[MT_VERDICT_TEXT_MAX - 1] = '\0';
        st->c.tag[MT_VERDICT_TAG_MAX - 1] = '\0';
        st->c.mask[sizeof st->c.mask - 1] = '\0';
        if (!ki || (st->c.window_s == 0 && ki->kind != MT_AUTOSTOP_LIMIT)) {
            rc = fail(err, 0, MT_EINVAL, "criterion %zu: not a parsed criterion", i + 1);
            goto out;
        }
        st->rc = ki->rc;
        st->tag = NO_TAG;
        if (st->c.tag[0]) {
            st->tag = mt__lex_find_tag(st->c.tag, tags, ntags);
            if (st->tag == NO_TAG || (size_t)st->tag >= MT_MAX_TAGS) {
                mt__quote(q, sizeof q, st->c.tag, strlen(st->c.tag));
                rc = fail(err, 0, MT_EINVAL, "%s: unknown tag '%s'", st->c.text, q);
                goto out;
            }
        }
        if ((rc = rt_resolution(st->c.rt_us, &st->rt_he)) != MT_OK)
            goto out;
        /* codes outside 100..599 are "no valid status", code 0, as Tank's failed requests */
        st->zero = st->c.mask[0] && mt__lex_mask_match(st->c.mask, 0);
        for (unsigned code = 1; code < MT_STATUS_MAX; code++)
            st->http_code[code] = code >= 100 ? mt__lex_mask_match(st->c.mask, code) : st->zero;
        for (int k = 0; k < MT_ERR__COUNT; k++)
            st->net_kind[k] = mt__lex_mask_match(st->c.mask, (unsigned)mt_autostop_net_code(k));
        st->win.max = st->c.window_s;
        if (st->c.kind == MT_AUTOSTOP_STEADY_CUMULATIVE &&
            (rc = mt_hist_new_latency(&st->cum)) != MT_OK)
            goto out;
        if (st->c.kind == MT_AUTOSTOP_HTTP_TREND) {
            /* Tank starts the tangents with one 0: the first second's slope is its count */
            st->win.buf = malloc(sizeof *st->win.buf);
            if (!st->win.buf) {
                rc = MT_ENOMEM;
                goto out;
            }
            st->win.cap = st->win.len = 1;
            st->win.buf[0] = (win_sample_t){0, 0};
        }
    }
out:
    if (rc != MT_OK) {
        mt_autostop_free(a);
        return rc;
    }
    *out = a;
    return MT_OK;
}

void mt_autostop_free(mt_autostop_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->st[i].win.buf);
        mt_hist_free(a->st[i].cum);
    }
    free(a->st);
    free(a);
}

/* Appends a sample, dropping the oldest when the window is full. */
static int win_push(win_t *w, win_sample_t s)
{
    if (w->len == w->max) {
        win_sample_t *old = &w->buf[w->head];
        w->sum_a -= old->a;
        w->sum_b -= old->b;
        *old = s;
        w->head = (w->head + 1) % w->max;
    } else {
        /* not yet full: head is 0 and samples are contiguous */
        if (w->len == w->cap) {
            uint32_t cap = w->cap ? w->cap : WIN_GROW0 / 2;
            cap = cap > w->max / 2 ? w->max : cap * 2;
            win_sample_t *nb = realloc(w->buf, (size_t)cap * sizeof *nb);
            if (!nb)
                return MT_ENOMEM;
            w->buf = nb;
            w->cap = cap;
        }
        w->buf[w->len++] = s;
    }
    w->sum_a += s.a;
    w->sum_b += s.b;
    return MT_OK;
}

static const mt_counters_t zero_counters;

static const mt_counters_t *scope_counters(const crit_state_t *st, const mt_second_t *s)
{
    if (st->tag == NO_TAG)
        return &s->c;
    if (s->tags && (size_t)st->tag < s->ntags)
        return &s->tags[st->tag].c;
    return &zero_counters;
}

static const mt_hist_t *scope_latency(const crit_state_t *st, const mt_second_t *s)
{
    if (st->tag == NO_TAG)
        return s->latency;
    if (s->tags && (size_t)st->tag < s->ntags)
        return s->tags[st->tag].latency;
    return NULL;
}

static uint64_t finished(const mt_counters_t *c)
{
    return c->completed + c->errors;
}

static uint64_t http_matched(const crit_state_t *st, const mt_counters_t *c)
{
    uint64_t m = 0;
    for (unsigned code = 1; code < MT_STATUS_MAX; code++) {
        if (st->http_code[code])
            m += c->status[code];
    }
    if (st->zero)
        m += c->status[0] + c->errors; /* no (valid) status: code 0 */
    return m;
}

static uint64_t net_matched(const crit_state_t *st, const mt_counters_t *c, bool with_zero)
{
    uint64_t m = 0;
    for (int k = 0; k < MT_ERR__COUNT; k++) {
        if (st->net_kind[k])
            m += c->err[k];
    }
    if (with_zero && st->zero)
        m += c->completed;
    return m;
}

/* num/den >= ppm/10^6, exactly while the products fit. */
static bool share_ge(uint64_t num, uint64_t den, uint64_t ppm)
{
    if (num <= UINT64_MAX / PPM && den <= UINT64_MAX / PPM)
        return num * PPM >= ppm * den;
    return (double)num / (double)den * 1e6 >= (double)ppm;
}

static bool share_gt(uint64_t num, uint64_t den, uint64_t ppm)
{
    if (num <= UINT64_MAX / PPM && den <= UINT64_MAX / PPM)
        return num * PPM > ppm * den;
    return (double)num / (double)den * 1e6 > (double)ppm;
}

/* num/den in parts per billion, rounded; 0 when den is 0. */
static uint64_t share_ppb(uint64_t num, uint64_t den)
{
    if (den == 0)
        return 0;
    if (num <= (UINT64_MAX - den) / (2 * PPB))
        return (2 * num * PPB + den) / (2 * den);
    return (uint64_t)llround((double)num / (double)den * 1e9);
}

/* Number of recorded values in buckets above rt's (see rt_resolution): the count minus the
 * largest rank whose value is at most rt_he, found by bisection on ranks. */
static uint64_t count_above(const mt_hist_t *h, int64_t rt_he)
{
    uint64_t n = h ? mt_hist_count(h) : 0, lo = 0, hi;

    if (n == 0 || mt_hist_max(h) <= rt_he)
        return 0;
    hi = n; /* invariant: rank lo is at most rt_he (rank 0 trivially), rank hi is above */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (mt_hist_value_at_percentile(h, 100.0 * (double)mid / (double)n) <= rt_he)
            lo = mid;
        else
            hi = mid;
    }
    return n - lo;
}

/* ---- messages ------------------------------------------------------------------------- */

/* microseconds as milliseconds: "241 ms", "1.5 ms" */
static void fmt_ms(char *buf, size_t cap, double us)
{
    char *e;
    snprintf(buf, cap, "%.3f", us / 1000.0);
    e = buf + strlen(buf);
    while (e > buf && e[-1] == '0')
        *--e = '\0';
    if (e > buf && e[-1] == '.')
        *--e = '\0';
    snprintf(e, cap - (size_t)(e - buf), " ms");
}

/* a share in parts per billion of 1 as a percentage: "12.5%" */
static void fmt_pct(char *buf, size_t cap, double ppb)
{
    char *e;
    snprintf(buf, cap, "%.2f", ppb / 1e7);
    e = buf + strlen(buf);
    while (e > buf && e[-1] == '0')
        *--e = '\0';
    if (e > buf && e[-1] == '.')
        *--e = '\0';
    snprintf(e, cap - (size_t)(e - buf), "%%");
}

static void fmt_level(char *buf, size_t cap, const mt_autostop_crit_t *c)
{
    if (c->relative)
        fmt_pct(buf, cap, (double)c->level * 1000.0);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)c->level);
}

static void fmt_secs(char *buf, size_t cap, int64_t ns)
{
    char *e;
    snprintf(buf, cap, "%.3f", (double)ns / 1e9);
    e = buf + strlen(buf);
    while (e > buf && e[-1] == '0')
        *--e = '\0';
    if (e > buf && e[-1] == '.')
        *--e = '\0';
    snprintf(e, cap - (size_t)(e - buf), " s");
}

/* ---- per-kind evaluation -------------------------------------------------------------- */

typedef struct eval_ctx {
    const mt_second_t *s;
    uint32_t max_instances;
    int64_t elapsed_ns;
    char *msg;
    size_t cap;
} eval_ctx_t;

/* Messages are cut at MT_VERDICT_MSG_MAX (a long tag or criterion text can reach it). */
static void msgf(eval_ctx_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void msgf(eval_ctx_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, x->cap, fmt, ap);
    va_end(ap);
}

#define MSG(...) msgf(x, __VA_ARGS__)

/* Per-second kinds: count consecutive seconds; trip when the run reaches the window. */
static bool hold(crit_state_t *st, bool cond)
{
    st->run = cond ? st->run + 1 : 0;
    return cond && st->run >= st->c.window_s;
}

static int eval_per_second(crit_state_t *st, eval_ctx_t *x, bool *tripped)
{
    const mt_autostop_crit_t *c = &st->c;
    const mt_counters_t *ct = scope_counters(st, x->s);
    const mt_hist_t *h = scope_latency(st, x->s);
    uint64_t n = h ? mt_hist_count(h) : 0, tot = finished(ct), m;
    char a[48], b[48];

    switch (c->kind) {
    case MT_AUTOSTOP_TIME: {
        double mean = n ? mt_hist_mean(h) : 0.0;
        if ((*tripped = hold(st, n > 0 && mean > (double)st->rt_he))) {
            fmt_ms(a, sizeof a, (double)c->rt_us);
            fmt_ms(b, sizeof b, mean);
            MSG("%s: average response time above %s for %u s (last %s)", c->text, a, c->window_s,
                b);
        }
        break;
    }
    case MT_AUTOSTOP_QUANTILE: {
        int64_t v = n ? mt_hist_value_at_percentile(h, c->quantile) : 0;
        if ((*tripped = hold(st, n > 0 && v > st->rt_he))) {
            fmt_ms(a, sizeof a, (double)c->rt_us);
            fmt_ms(b, sizeof b, (double)v);
            MSG("%s: p%g above %s for %u s (last %s)", c->text, c->quantile, a, c->window_s, b);
        }
        break;
    }
    case MT_AUTOSTOP_HTTP:
    case MT_AUTOSTOP_NET: {
        bool http = c->kind == MT_AUTOSTOP_HTTP, cond;
        m = http ? http_matched(st, ct) : net_matched(st, ct, false);
        if (c->relative)
            cond = tot > 0 ? share_ge(m, tot, c->level) : c->level == 0;
        else
            cond = m >= c->level;
        if ((*tripped = hold(st, cond))) {
            fmt_level(a, sizeof a, c);
            if (c->relative)
                fmt_pct(b, sizeof b, (double)share_ppb(m, tot));
            else
                snprintf(b, sizeof b, "%llu", (unsigned long long)m);
            MSG("%s: %s %s at or above %s for %u s (last %s)", c->text,
                http ? "HTTP codes" : "network codes", c->mask, a, c->window_s, b);
        }
        break;
    }
    case MT_AUTOSTOP_INSTANCES: {
        uint64_t open = x->s->open_conns;
        bool cond;
        if (c->relative)
            cond = x->max_instances > 0 && share_gt(open, x->max_instances, c->level);
        else
            cond = open > c->level;
        if ((*tripped = hold(st, cond))) {
            fmt_level(a, sizeof a, c);
            if (c->relative)
                MSG("%s: open connections above %s of %u for %u s (last %llu)", c->text, a,
                    x->max_instances, c->window_s, (unsigned long long)open);
            else
                MSG("%s: open connections above %s for %u s (last %llu)", c->text, a, c->window_s,
                    (unsigned long long)open);
        }
        break;
    }
    default:
        *tripped = false;
        break;
    }
    return MT_OK;
}

/* Tank's steady_cumulative: the cumulative quantiles (25..100) of the run so far are the same
 * as a second before, for window consecutive seconds: the results have settled. */
static int eval_steady(crit_state_t *st, eval_ctx_t *x, bool *tripped)
{
    int64_t q[9];
    bool same;
    if (x->s->latency)
        mt_hist_add(st->cum, x->s->latency);
    if (mt_hist_count(st->cum) == 0) {
        *tripped = hold(st, false);
        return MT_OK;
    }
    for (int i = 0; i < 9; i++)
        q[i] = mt_hist_value_at_percentile(st->cum, steady_q[i]);
    same = st->have_prev && memcmp(q, st->prevq, sizeof q) == 0;
    memcpy(st->prevq, q, sizeof q);
    st->have_prev = true;
    if ((*tripped = hold(st, same)))
        MSG("%s: the run's cumulative quantiles did not change for %u s", st->c.text,
            st->c.window_s);
    return MT_OK;
}

static int eval_window(crit_state_t *st, eval_ctx_t *x, bool *tripped)
{
    const mt_autostop_crit_t *c = &st->c;
    const mt_counters_t *ct = scope_counters(st, x->s);
    uint64_t tot = finished(ct), m = 0;
    win_sample_t smp = {0, 0};
    const char *what = "";
    char a[48], b[48];
    int rc;

    *tripped = false;
    switch (c->kind) {
    case MT_AUTOSTOP_TOTAL_TIME: {
        const mt_hist_t *h = scope_latency(st, x->s);
        smp.a = (int64_t)count_above(h, st->rt_he);
        smp.b = h ? mt_hist_count(h) : 0;
        if ((rc = win_push(&st->win, smp)) != MT_OK)
            return rc;
        if (st->win.len >= c->window_s && st->win.sum_b > 0 &&
            share_ge((uint64_t)st->win.sum_a, st->win.sum_b, c->level)) {
            *tripped = true;
            fmt_ms(a, sizeof a, (double)c->rt_us);
            fmt_pct(b, sizeof b, (double)share_ppb((uint64_t)st->win.sum_a, st->win.sum_b));
            MSG("%s: %s of responses slower than %s over the last %u s", c->text, b, a,
                c->window_s);
        }
        return MT_OK;
    }
    case MT_AUTOSTOP_TOTAL_HTTP:
        m = http_matched(st, ct);
        what = "HTTP codes";
        break;
    case MT_AUTOSTOP_TOTAL_NET:
        m = net_matched(st, ct, false);
        what = "network codes";
        break;
    case MT_AUTOSTOP_NEGATIVE_HTTP:
        m = tot - http_matched(st, ct);
        what = "HTTP codes other than";
        break;
    case MT_AUTOSTOP_NEGATIVE_NET:
        m = tot - net_matched(st, ct, true);
        what = "network codes other than";
        break;
    default:
        return MT_OK;
    }
    /* Tank: a relative level compares the mean of the per-second shares, a count the sum */
    smp.a = (int64_t)(c->relative ? share_ppb(m, tot) : m);
    if ((rc = win_push(&st->win, smp)) != MT_OK)
        return rc;
    if (st->win.len < c->window_s)
        return MT_OK;
    fmt_level(a, sizeof a, c);
    if (c->relative) {
        uint64_t need = c->level * 1000ULL * c->window_s; /* sum of ppb over the window */
        if ((uint64_t)st->win.sum_a >= need) {
            *tripped = true;
            fmt_pct(b, sizeof b, (double)st->win.sum_a / c->window_s);
            MSG("%s: %s %s averaged %s of requests per second over the last %u s "
                "(level %s)",
                c->text, what, c->mask, b, c->window_s, a);
        }
    } else if ((uint64_t)st->win.sum_a >= c->level) {
        *tripped = true;
        MSG("%s: %llu requests with %s %s over the last %u s (level %s)", c->text,
            (unsigned long long)st->win.sum_a, what, c->mask, c->window_s, a);
    }
    return MT_OK;
}

static int eval_trend(crit_state_t *st, eval_ctx_t *x, bool *tripped)
{
    const mt_autostop_crit_t *c = &st->c;
    int64_t m = (int64_t)http_matched(st, scope_counters(st, x->s));
    win_t *w = &st->win;
    double mean, err = 0.0, acc = 0.0;
    int rc;

    *tripped = false;
    if ((rc = win_push(w, (win_sample_t){m - st->last, 0})) != MT_OK)
        return rc;
    st->last = m;
    mean = (double)w->sum_a / (double)w->len;
    if (w->len >= 2) {
        for (uint32_t i = 0; i < w->len; i++) {
            double d = (double)w->buf[(w->head + i) % w->cap].a - mean;
            acc += d * d;
        }
        err = sqrt(acc / (double)w->len / (double)(w->len - 1));
    }
    if (mean + err < 0) {
        *tripped = true;
        MSG("%s: HTTP codes %s trend down: %.2f +/- %.2f per second over the last %u s", c->text,
            c->mask, mean, err, w->len);
    }
    return MT_OK;
}

int mt_autostop_feed(mt_autostop_t *a, const mt_second_t *s, uint32_t max_instances,
                     mt_autostop_trip_t *trip)
{
    eval_ctx_t x;
    char msg[MT_VERDICT_MSG_MAX];
    int found = -1;

    if (!a || !s || !trip)
        return MT_EINVAL;
    if (a->tripped) {
        *trip = a->trip;
        return 1;
    }
    a->elapsed_ns += s->span_ns > 0 ? s->span_ns : 0;
    x = (eval_ctx_t){s, max_instances, a->elapsed_ns, msg, sizeof msg};
    /* every criterion sees every second (their windows must not skip any), so keep going
     * after the first trip and report the first in order */
    for (size_t i = 0; i < a->n; i++) {
        crit_state_t *st = &a->st[i];
        bool t = false;
        int rc;

        msg[0] = '\0';
        switch (st->c.kind) {
        case MT_AUTOSTOP_LIMIT:
            t = x.elapsed_ns >= st->c.limit_ns;
            if (t) {
                char d[48];
                fmt_secs(d, sizeof d, x.elapsed_ns);
                snprintf(msg, sizeof msg, "%s: the run lasted %s", st->c.text, d);
            }
            rc = MT_OK;
            break;
        case MT_AUTOSTOP_TOTAL_TIME:
        case MT_AUTOSTOP_TOTAL_HTTP:
        case MT_AUTOSTOP_TOTAL_NET:
        case MT_AUTOSTOP_NEGATIVE_HTTP:
        case MT_AUTOSTOP_NEGATIVE_NET:
            rc = eval_window(st, &x, &t);
            break;
        case MT_AUTOSTOP_HTTP_TREND:
            rc = eval_trend(st, &x, &t);
            break;
        case MT_AUTOSTOP_STEADY_CUMULATIVE:
            rc = eval_steady(st, &x, &t);
            break;
        default:
            rc = eval_per_second(st, &x, &t);
            break;
        }
        if (rc != MT_OK)
            return rc;
        if (t && found < 0) {
            found = (int)i;
            a->trip.exit_code = st->rc;
            a->trip.index = i;
            a->trip.second = s->index;
            snprintf(a->trip.criterion, sizeof a->trip.criterion, "%s", st->c.text);
            snprintf(a->trip.message, sizeof a->trip.message, "%s", msg);
        }
    }
    if (found < 0)
        return 0;
    a->tripped = true;
    *trip = a->trip;
    return 1;
}
