/* Thresholds: k6-style pass/fail assertions on a run's totals ("p(99)<200ms", "errors<1%"),
 * evaluated at the end, and each second on the data so far for those marked abortOnFail.
 * Syntax, metrics and semantics: docs/thresholds.md and docs/adr/0008. */
#include "mortar/verdict.h"
#include "mortar/schedule.h"
#include "proto/text.h"
#include "stats/lex.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXACT 9007199254740992.0 /* 2^53 */

/* ---- names ---------------------------------------------------------------------------- */

typedef enum { TK_TREND, TK_RATE, TK_COUNTER, TK_VALUE, TK_STATUS } metric_type_t;

typedef struct metric_info {
    const char *name;
    mt_threshold_metric_t metric;
    int shorthand; /* aggregation when written without one ("errors<1%"), or -1 */
} metric_info_t;

static const metric_info_t metrics[] = {
    {"latency", MT_TM_LATENCY, -1},
    {"http_req_duration", MT_TM_LATENCY, -1},
    {"service", MT_TM_SERVICE, -1},
    {"errors", MT_TM_ERRORS, MT_TA_RATE},
    {"http_req_failed", MT_TM_FAILED, MT_TA_RATE},
    {"failed", MT_TM_FAILED, MT_TA_RATE},
    {"http_req_connecting", MT_TM_CONNECTING, -1},
    {"connect", MT_TM_CONNECTING, -1},
    {"http_req_tls_handshaking", MT_TM_TLS, -1},
    {"tls_handshake", MT_TM_TLS, -1},
    {"http_req_sending", MT_TM_SENDING, -1},
    {"send", MT_TM_SENDING, -1},
    {"http_req_waiting", MT_TM_WAITING, -1},
    {"wait", MT_TM_WAITING, -1},
    {"http_req_receiving", MT_TM_RECEIVING, -1},
    {"receive", MT_TM_RECEIVING, -1},
    {"requests", MT_TM_REQUESTS, MT_TA_COUNT},
    {"http_reqs", MT_TM_REQUESTS, MT_TA_COUNT},
    {"rps", MT_TM_RPS, MT_TA_VALUE},
    {"status", MT_TM_STATUS, MT_TA_RATE},
};
enum { NMETRICS = sizeof(metrics) / sizeof(metrics[0]) };

static const char *const agg_names[] = {"avg", "min", "max", "med", "p", "rate", "count", "value"};
static const char *const metric_names[] = {"latency",       "service", "errors", "requests",
                                           "rps",           "status",  "failed", "connect",
                                           "tls_handshake", "send",    "wait",   "receive"};

static bool agg_allowed(mt_threshold_metric_t m, mt_threshold_agg_t a)
{
    switch (m) {
    case MT_TM_LATENCY:
    case MT_TM_SERVICE:
    case MT_TM_CONNECTING:
    case MT_TM_TLS:
    case MT_TM_SENDING:
    case MT_TM_WAITING:
    case MT_TM_RECEIVING:
        return a == MT_TA_AVG || a == MT_TA_MIN || a == MT_TA_MAX || a == MT_TA_MED ||
               a == MT_TA_PCT;
    case MT_TM_ERRORS:
    case MT_TM_STATUS:
    case MT_TM_FAILED:
        return a == MT_TA_RATE || a == MT_TA_COUNT;
    case MT_TM_REQUESTS:
        return a == MT_TA_COUNT || a == MT_TA_RATE;
    case MT_TM_RPS:
        return a == MT_TA_VALUE;
    }
    return false;
}

static const char *agg_usage(mt_threshold_metric_t m)
{
    switch (m) {
    case MT_TM_LATENCY:
    case MT_TM_SERVICE:
    case MT_TM_CONNECTING:
    case MT_TM_TLS:
    case MT_TM_SENDING:
    case MT_TM_WAITING:
    case MT_TM_RECEIVING:
        return "avg, min, max, med, p(N)";
    case MT_TM_ERRORS:
    case MT_TM_STATUS:
    case MT_TM_FAILED:
        return "rate, count";
    case MT_TM_REQUESTS:
        return "count, rate";
    case MT_TM_RPS:
        return "value";
    }
    return "";
}

/* The run's breakdown (end of run, whole run only). */
static bool is_breakdown(mt_threshold_metric_t m)
{
    return m >= MT_TM_CONNECTING && m <= MT_TM_RECEIVING;
}

static bool is_trend(mt_threshold_metric_t m)
{
    return m == MT_TM_LATENCY || m == MT_TM_SERVICE || is_breakdown(m);
}

/* A rate in k6's sense: a fraction of requests (0..1); "%" allowed. */
static bool is_fraction(const mt_threshold_t *t)
{
    return (t->metric == MT_TM_ERRORS || t->metric == MT_TM_STATUS || t->metric == MT_TM_FAILED) &&
           t->agg == MT_TA_RATE;
}

static bool is_per_second(const mt_threshold_t *t)
{
    return t->metric == MT_TM_RPS || (t->metric == MT_TM_REQUESTS && t->agg == MT_TA_RATE);
}

/* ---- parsing -------------------------------------------------------------------------- */

typedef struct cur {
    const char *text, *p;
    mt_parse_err_t *err;
} cur_t;

static int col_of(const cur_t *c, const char *q)
{
    return (int)(q - c->text) + 1;
}

static int fail(cur_t *c, const char *at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(cur_t *c, const char *at, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__perr_vset(c->err, col_of(c, at), rc, fmt, ap);
    va_end(ap);
    return rc;
}

static void skip_ws(cur_t *c)
{
    while (mt__lex_ws(*c->p))
        c->p++;
}

static bool word_is(const char *p, size_t n, const char *w)
{
    return mt__lex_word_is(p, n, w);
}

static size_t ident_len(const char *p)
{
    return mt__lex_ident_len(p);
}

static void quote_word(char *q, size_t cap, const char *p, size_t n)
{
    mt__quote(q, cap, p, n);
}

/* number := [-+] digits [. digits] | [-+] . digits; as mant * 10^-scale */
static int parse_number(cur_t *c, bool *neg, uint64_t *mant, int *scale)
{
    const char *start = c->p;
    uint64_t m = 0;
    int sc = 0, nd = 0;
    bool dot = false, big = false;

    *neg = false;
    if (*c->p == '-' || *c->p == '+')
        *neg = *c->p++ == '-';
    for (;; c->p++) {
        char ch = *c->p;
        if (ch == '.' && !dot) {
            dot = true;
            continue;
        }
        if (!mt__lex_digit(ch))
            break;
        nd++;
        if (m > 99999999999999999ULL) {
            if (!dot)
                big = true;
            continue;
        }
        m = m * 10 + (uint64_t)(ch - '0');
        if (dot)
            sc++;
    }
    if (nd == 0)
        return fail(c, start, MT_EPARSE, "expected a number");
    if (big)
        return fail(c, start, MT_ERANGE, "number too large");
    *mant = m;
    *scale = sc;
    return MT_OK;
}

/* mant * mult / 10^scale, correctly rounded while mant * mult fits in 2^53. */
static double scaled(uint64_t mant, double mult, int scale)
{
    double v = (double)mant * mult;
    if (v <= MAX_EXACT && scale <= 22)
        return v / pow(10.0, scale);
    return (double)mant * mult * pow(10.0, -scale);
}

static int parse_filters(cur_t *c, mt_threshold_t *t, bool *has_code, const char **code_at)
{
    c->p++; /* '{' */
    for (;;) {
        const char *key, *val, *vend;
        size_t klen, at;

        skip_ws(c);
        key = c->p;
        klen = ident_len(key);
        if (klen == 0)
            return fail(c, key, MT_EPARSE, "expected a filter (tag:NAME or code:MASK)");
        c->p += klen;
        skip_ws(c);
        if (*c->p != ':')
            return fail(c, c->p, MT_EPARSE, "expected ':' after the filter name");
        c->p++;
        skip_ws(c);
        val = c->p;
        while (*c->p && *c->p != ',' && *c->p != '}')
            c->p++;
        if (!*c->p)
            return fail(c, c->p, MT_EPARSE, "missing '}'");
        vend = c->p;
        while (vend > val && mt__lex_ws(vend[-1]))
            vend--;
        if (vend == val)
            return fail(c, val, MT_EPARSE, "empty filter value");
        if (word_is(key, klen, "tag")) {
            if (t->tag[0])
                return fail(c, key, MT_EPARSE, "tag given twice");
            switch (mt__lex_tag(val, (size_t)(vend - val), t->tag, MT_VERDICT_TAG_MAX, &at)) {
            case MT__LEX_TOO_LONG:
                return fail(c, val, MT_EPARSE, "tag too long (at most %d bytes)",
                            MT_VERDICT_TAG_MAX - 1);
            case MT__LEX_BAD_CHAR:
                return fail(c, val + at, MT_EPARSE, "bad tag: control character");
            default:
                break;
            }
        } else if (word_is(key, klen, "code")) {
            if (*has_code)
                return fail(c, key, MT_EPARSE, "code given twice");
            switch (mt__lex_mask(val, (size_t)(vend - val), true, t->mask, &at)) {
            case MT__LEX_TOO_LONG:
                return fail(c, val, MT_EPARSE, "bad code mask: at most 3 characters (404, 5xx)");
            case MT__LEX_BAD_CHAR:
                return fail(c, val + at, MT_EPARSE,
                            "bad code mask: use digits and x (404, 5xx, xx)");
            case MT__LEX_BAD_HTTP:
                return fail(c, val, MT_EPARSE,
                            "bad HTTP code mask: 3 characters (404, 5xx), xx for any, 0 for none");
            default:
                break;
            }
            *has_code = true;
            *code_at = key;
        } else {
            char q[48];
            quote_word(q, sizeof q, key, klen);
            if (word_is(key, klen, "expected_response"))
                return fail(c, key, MT_EPARSE,
                            "expected_response is not supported: latency covers every response; "
                            "use http_req_failed for the share of unexpected statuses, or "
                            "status{code:MASK}");
            return fail(c, key, MT_EPARSE, "unknown filter '%s' (tag, code)", q);
        }
        if (*c->p == '}') {
            c->p++;
            return MT_OK;
        }
        c->p++; /* ',' */
    }
}

/* k6 metrics mortar does not have: what to use instead. */
static const char *k6_hint(const char *w, size_t n)
{
    static const struct {
        const char *name, *hint;
    } h[] = {
        {"checks", "k6's checks rate comes from check() in a script; mortar has no checks: use "
                   "http_req_failed (with --expected-status) or status{code:MASK}"},
        {"http_req_blocked", "mortar does not time DNS/pool waits separately: use "
                             "http_req_connecting or http_req_duration"},
        {"iterations", "mortar has no iterations: use http_reqs (count, rate)"},
        {"iteration_duration", "mortar has no iterations: use http_req_duration"},
        {"vus", "mortar has no VUs: connections are fixed by -c"},
        {"vus_max", "mortar has no VUs: connections are fixed by -c"},
        {"data_sent", "no data_sent threshold: bytes sent are in the result (bytes_out)"},
        {"data_received", "no data_received threshold: bytes received are in the result "
                          "(bytes_in)"},
        {"group_duration", "mortar has no groups: use latency{tag:NAME}"},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (word_is(w, n, h[i].name))
            return h[i].hint;
    return NULL;
}

static const metric_info_t *find_metric(const char *p, size_t n)
{
    for (size_t i = 0; i < NMETRICS; i++) {
        if (word_is(p, n, metrics[i].name))
            return &metrics[i];
    }
    return NULL;
}

static int find_agg(const char *p, size_t n)
{
    for (int i = 0; i < (int)(sizeof agg_names / sizeof agg_names[0]); i++) {
        if (i != MT_TA_PCT && word_is(p, n, agg_names[i]))
            return i;
    }
    return -1;
}

/* "p(N)" with c->p at 'p'. */
static int parse_pct(cur_t *c, mt_threshold_t *t)
{
    const char *at;
    bool neg;
    uint64_t m;
    int sc, rc;

    c->p++; /* 'p' */
    skip_ws(c);
    c->p++; /* '(' */
    skip_ws(c);
    at = c->p;
    if ((rc = parse_number(c, &neg, &m, &sc)) != MT_OK)
        return rc;
    t->pct = scaled(m, 1.0, sc);
    if (neg || t->pct > 100.0)
        return fail(c, at, MT_EPARSE, "percentile must be between 0 and 100");
    skip_ws(c);
    if (*c->p != ')')
        return fail(c, c->p, MT_EPARSE, "expected ')' after the percentile");
    c->p++;
    t->agg = MT_TA_PCT;
    return MT_OK;
}

static bool at_pct(const char *p, size_t n)
{
    if (n != 1 || mt__lex_lower(*p) != 'p')
        return false;
    p++;
    while (mt__lex_ws(*p))
        p++;
    return *p == '(';
}

static int parse_option(cur_t *c, mt_threshold_t *t, bool *has_delay, const char **delay_at)
{
    const char *name, *val = NULL, *vend;
    size_t n;
    char buf[64];

    skip_ws(c);
    name = c->p;
    n = ident_len(name);
    if (n == 0)
        return fail(c, name, MT_EPARSE, "expected an option (abortOnFail, delayAbortEval=10s)");
    c->p += n;
    skip_ws(c);
    if (*c->p == '=') {
        c->p++;
        skip_ws(c);
        val = c->p;
        while (*c->p && *c->p != ';')
            c->p++;
        vend = c->p;
        while (vend > val && mt__lex_ws(vend[-1]))
            vend--;
        if (vend == val)
            return fail(c, val, MT_EPARSE, "empty option value");
    } else {
        vend = NULL;
    }
    if (word_is(name, n, "abortOnFail")) {
        if (!val || word_is(val, (size_t)(vend - val), "true"))
            t->abort_on_fail = true;
        else if (word_is(val, (size_t)(vend - val), "false"))
            t->abort_on_fail = false;
        else
            return fail(c, val, MT_EPARSE, "abortOnFail takes true or false");
    } else if (word_is(name, n, "delayAbortEval")) {
        mt_parse_err_t derr = {0};
        int rc;
        if (!val)
            return fail(c, c->p, MT_EPARSE, "delayAbortEval needs a duration (delayAbortEval=10s)");
        if ((size_t)(vend - val) >= sizeof buf)
            return fail(c, val, MT_EPARSE, "bad duration: too long");
        memcpy(buf, val, (size_t)(vend - val));
        buf[vend - val] = '\0';
        rc = mt_parse_duration(buf, &t->delay_abort_ns, &derr);
        if (rc != MT_OK)
            return fail(c, val + (derr.col > 0 ? derr.col - 1 : 0), rc, "%s", derr.msg);
        *has_delay = true;
        *delay_at = name;
    } else {
        char q[48];
        quote_word(q, sizeof q, name, n);
        return fail(c, name, MT_EPARSE, "unknown option '%s' (abortOnFail, delayAbortEval)", q);
    }
    return MT_OK;
}

int mt_threshold_parse(const char *text, mt_threshold_t *out, mt_parse_err_t *err)
{
    cur_t c = {text, text, err};
    mt_threshold_t t;
    const char *start, *w, *end, *code_at = NULL, *delay_at = NULL, *num_at;
    size_t wn;
    bool has_code = false, has_filter = false, has_delay = false, neg;
    uint64_t mant;
    int scale, rc;
    double mult = 1.0;

    if (!text || !out)
        return MT_EINVAL;
    memset(&t, 0, sizeof t);
    skip_ws(&c);
    start = c.p;
    if (*c.p == '\0')
        return fail(&c, c.p, MT_EPARSE, "expected a threshold (p(99)<200ms, errors<1%%)");

    /* subject: "metric[{filters}] : aggregation" or a lone aggregation or metric */
    w = c.p;
    wn = ident_len(w);
    if (wn == 0)
        return fail(&c, w, MT_EPARSE, "expected a metric or an aggregation (p(99), avg, errors)");
    if (at_pct(w, wn)) {
        t.metric = MT_TM_LATENCY;
        if ((rc = parse_pct(&c, &t)) != MT_OK)
            return rc;
    } else {
        const metric_info_t *mi;
        c.p += wn;
        skip_ws(&c);
        if (*c.p == '{') {
            has_filter = true;
            if ((rc = parse_filters(&c, &t, &has_code, &code_at)) != MT_OK)
                return rc;
            skip_ws(&c);
        }
        mi = find_metric(w, wn);
        if (*c.p == ':') {
            const char *a;
            size_t an;
            int agg;
            if (!mi) {
                char q[48];
                const char *hint = k6_hint(w, wn);
                quote_word(q, sizeof q, w, wn);
                if (hint)
                    return fail(&c, w, MT_EPARSE, "unsupported k6 metric '%s': %s", q, hint);
                return fail(&c, w, MT_EPARSE,
                            "unknown metric '%s' (latency, service, errors, failed, requests, "
                            "rps, status, connect, tls_handshake, send, wait, receive)",
                            q);
            }
            t.metric = mi->metric;
            c.p++;
            skip_ws(&c);
            a = c.p;
            an = ident_len(a);
            if (at_pct(a, an)) {
                if ((rc = parse_pct(&c, &t)) != MT_OK)
                    return rc;
            } else {
                agg = an ? find_agg(a, an) : -1;
                if (agg < 0) {
                    char q[48];
                    quote_word(q, sizeof q, a, an ? an : strcspn(a, " <>=!"));
                    return fail(&c, a, MT_EPARSE, "unknown aggregation '%s' for %s (%s)", q,
                                metric_names[t.metric], agg_usage(t.metric));
                }
                t.agg = (mt_threshold_agg_t)agg;
                c.p += an;
            }
            if (!agg_allowed(t.metric, t.agg))
                return fail(&c, a, MT_EPARSE, "%s has no %s (use %s)", metric_names[t.metric],
                            agg_names[t.agg], agg_usage(t.metric));
        } else if (mi) {
            if (mi->shorthand < 0)
                return fail(&c, w, MT_EPARSE, "%s needs an aggregation (%s: p(99)<200ms)",
                            metric_names[mi->metric], metric_names[mi->metric]);
            t.metric = mi->metric;
            t.agg = (mt_threshold_agg_t)mi->shorthand;
        } else {
            int agg = find_agg(w, wn);
            if (has_filter)
                return fail(&c, w, MT_EPARSE,
                            "filters go on a metric (latency{tag:NAME}: p(99)<200ms)");
            if (agg == MT_TA_AVG || agg == MT_TA_MIN || agg == MT_TA_MAX || agg == MT_TA_MED) {
                t.metric = MT_TM_LATENCY;
                t.agg = (mt_threshold_agg_t)agg;
            } else if (agg == MT_TA_RATE) {
                t.metric = MT_TM_ERRORS;
                t.agg = MT_TA_RATE;
            } else if (agg >= 0) {
                return fail(&c, w, MT_EPARSE,
                            "%s needs a metric (errors: count<10, requests: count>1000, "
                            "rps: value>100)",
                            agg_names[agg]);
            } else {
                char q[48];
                const char *hint = k6_hint(w, wn);
                quote_word(q, sizeof q, w, wn);
                if (hint)
                    return fail(&c, w, MT_EPARSE, "unsupported k6 metric '%s': %s", q, hint);
                return fail(&c, w, MT_EPARSE, "unknown metric or aggregation '%s'", q);
            }
        }
    }
    if (t.metric == MT_TM_STATUS && !has_code)
        return fail(&c, w, MT_EPARSE, "status needs a code mask (status{code:5xx}<1%%)");
    if (t.metric != MT_TM_STATUS && has_code)
        return fail(&c, code_at, MT_EPARSE, "the code filter applies to status only");

    /* operator */
    skip_ws(&c);
    if (strncmp(c.p, "===", 3) == 0) {
        t.op = MT_TOP_EQ;
        c.p += 3;
    } else if (strncmp(c.p, "==", 2) == 0) {
        t.op = MT_TOP_EQ;
        c.p += 2;
    } else if (strncmp(c.p, "!=", 2) == 0) {
        t.op = MT_TOP_NE;
        c.p += 2;
    } else if (strncmp(c.p, ">=", 2) == 0) {
        t.op = MT_TOP_GE;
        c.p += 2;
    } else if (strncmp(c.p, "<=", 2) == 0) {
        t.op = MT_TOP_LE;
        c.p += 2;
    } else if (*c.p == '>') {
        t.op = MT_TOP_GT;
        c.p++;
    } else if (*c.p == '<') {
        t.op = MT_TOP_LT;
        c.p++;
    } else {
        return fail(&c, c.p, MT_EPARSE, "expected an operator (< <= > >= == === !=)");
    }

    /* value and unit */
    skip_ws(&c);
    num_at = c.p;
    if ((rc = parse_number(&c, &neg, &mant, &scale)) != MT_OK)
        return rc;
    w = c.p;
    wn = *w == '%' ? 1 : ident_len(w);
    if (is_trend(t.metric)) {
        if (wn == 0 || word_is(w, wn, "ms"))
            mult = 1000.0;
        else if (word_is(w, wn, "us"))
            mult = 1.0;
        else if (word_is(w, wn, "s"))
            mult = 1e6;
        else
            return fail(&c, w, MT_EPARSE, "bad unit for %s (us, ms, s; none = ms)",
                        metric_names[t.metric]);
        t.value = scaled(mant, mult, scale);
    } else if (is_fraction(&t)) {
        if (wn == 1 && *w == '%')
            t.value = scaled(mant, 1.0, scale + 2);
        else if (wn == 0)
            t.value = scaled(mant, 1.0, scale);
        else
            return fail(&c, w, MT_EPARSE, "bad unit for a rate (a fraction like 0.01, or 1%%)");
    } else {
        if (wn != 0)
            return fail(&c, w, MT_EPARSE, "%s %s takes a plain number", metric_names[t.metric],
                        agg_names[t.agg]);
        t.value = scaled(mant, 1.0, scale);
    }
    if (neg)
        t.value = -t.value;
    if (!isfinite(t.value))
        return fail(&c, num_at, MT_ERANGE, "number too large");
    c.p += wn;

    /* options */
    skip_ws(&c);
    end = c.p;
    while (*c.p == ';') {
        c.p++;
        if ((rc = parse_option(&c, &t, &has_delay, &delay_at)) != MT_OK)
            return rc;
        end = c.p;
        skip_ws(&c);
    }
    if (*c.p)
        return fail(&c, c.p, MT_EPARSE, "unexpected text (options follow ';')");
    while (end > start && mt__lex_ws(end[-1]))
        end--;
    if (has_delay && !t.abort_on_fail)
        return fail(&c, delay_at, MT_EPARSE, "delayAbortEval needs abortOnFail");
    if (is_breakdown(t.metric) && t.tag[0])
        return fail(&c, start, MT_EPARSE, "%s is measured for the whole run only (no tag filter)",
                    metric_names[t.metric]);
    if (is_breakdown(t.metric) && t.abort_on_fail)
        return fail(&c, start, MT_EPARSE, "%s is known at the end of the run only (no abortOnFail)",
                    metric_names[t.metric]);
    if ((size_t)(end - start) >= MT_VERDICT_TEXT_MAX)
        return fail(&c, start, MT_EPARSE, "threshold too long (at most %d bytes)",
                    MT_VERDICT_TEXT_MAX - 1);
    memcpy(t.text, start, (size_t)(end - start));
    t.text[end - start] = '\0';
    *out = t;
    return MT_OK;
}

/* ---- evaluation ----------------------------------------------------------------------- */

int mt_threshold_check_tags(const mt_threshold_t *t, const char *const *tags, size_t ntags,
                            mt_parse_err_t *err)
{
    char q[48];
    if (!t)
        return MT_EINVAL;
    if (!t->tag[0] || mt__lex_find_tag(t->tag, tags, ntags) >= 0)
        return MT_OK;
    mt__quote(q, sizeof q, t->tag, strnlen(t->tag, MT_VERDICT_TAG_MAX));
    return mt__perr_set(err, 0, MT_EINVAL, "%s: unknown tag '%s'", t->text, q);
}

/* Responses whose status matches the mask; code 0 = no valid status (errors included). */
static uint64_t status_matched(const char *mask, const mt_counters_t *c)
{
    bool zero = mt__lex_mask_match(mask, 0);
    uint64_t m = zero ? c->status[0] + c->errors : 0;
    for (unsigned code = 1; code < MT_STATUS_MAX; code++) {
        if (c->status[code] && (code >= 100 ? mt__lex_mask_match(mask, code) : zero))
            m += c->status[code];
    }
    return m;
}

typedef struct scope {
    const mt_counters_t *c; /* NULL: the tag has no data */
    const mt_hist_t *latency, *service;
    int64_t elapsed_ns;
    const mt_hist_t *breakdown[5]; /* connect, tls, send, wait, recv: whole run only */
} scope_t;

static void fmt_trim(char *buf, size_t cap, double v, int decimals)
{
    char *e;
    snprintf(buf, cap, "%.*f", decimals, v);
    if (!strchr(buf, '.'))
        return;
    e = buf + strlen(buf);
    while (e > buf && e[-1] == '0')
        *--e = '\0';
    if (e > buf && e[-1] == '.')
        *--e = '\0';
}

static void describe(const mt_threshold_t *t, char *buf, size_t cap)
{
    char p[32];
    const char *m = metric_names[t->metric];
    switch (t->agg) {
    case MT_TA_PCT:
        fmt_trim(p, sizeof p, t->pct, 6);
        snprintf(buf, cap, "%s p(%s)", m, p);
        break;
    default:
        if (t->metric == MT_TM_STATUS)
            snprintf(buf, cap, "status %s %s", t->mask, agg_names[t->agg]);
        else
            snprintf(buf, cap, "%s %s", m, agg_names[t->agg]);
        break;
    }
}

static bool compare(double a, mt_threshold_op_t op, double b)
{
    switch (op) {
    case MT_TOP_LT:
        return a < b;
    case MT_TOP_LE:
        return a <= b;
    case MT_TOP_GT:
        return a > b;
    case MT_TOP_GE:
        return a >= b;
    case MT_TOP_EQ:
        return a == b;
    case MT_TOP_NE:
        return a != b;
    }
    return false;
}

static void resultf(mt_threshold_result_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void resultf(mt_threshold_result_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
}

static void eval_scope(const mt_threshold_t *t, const scope_t *s, mt_threshold_result_t *out)
{
    double base = 0.0; /* in the threshold's base unit, compared with t->value */
    const char *why = NULL;
    char what[96], val[64];

    memset(out, 0, sizeof *out);
    out->unit = "";
    describe(t, what, sizeof what);
    if (!s->c) {
        why = "no data for the tag";
    } else if (is_trend(t->metric)) {
        const mt_hist_t *h = t->metric == MT_TM_LATENCY ? s->latency
                             : t->metric == MT_TM_SERVICE
                                 ? s->service
                                 : s->breakdown[t->metric - MT_TM_CONNECTING];
        out->unit = "ms";
        if (!h && is_breakdown(t->metric)) {
            why = "the breakdown is measured by mortar run only";
        } else if (!h || mt_hist_count(h) == 0) {
            why = t->metric == MT_TM_CONNECTING ? "no new connections"
                  : t->metric == MT_TM_TLS      ? "no TLS handshakes"
                                                : "no responses";
        } else {
            switch (t->agg) {
            case MT_TA_AVG:
                base = mt_hist_mean(h);
                break;
            case MT_TA_MIN:
                base = (double)mt_hist_min(h);
                break;
            case MT_TA_MAX:
                base = (double)mt_hist_max(h);
                break;
            case MT_TA_MED:
                base = (double)mt_hist_value_at_percentile(h, 50.0);
                break;
            default:
                base = (double)mt_hist_value_at_percentile(h, t->pct);
                break;
            }
            out->observed = base / 1000.0;
        }
    } else {
        uint64_t fin = s->c->completed + s->c->errors, num = 0;
        if (t->metric == MT_TM_ERRORS)
            num = s->c->errors;
        else if (t->metric == MT_TM_FAILED)
            num = s->c->failed;
        else if (t->metric == MT_TM_STATUS)
            num = status_matched(t->mask, s->c);
        else
            num = fin;
        if (is_fraction(t)) {
            if (fin == 0)
                why = "no requests";
            else
                base = (double)num / (double)fin;
        } else if (is_per_second(t)) {
            out->unit = "/s";
            if (s->elapsed_ns <= 0)
                why = "no elapsed time";
            else
                base = (double)num / ((double)s->elapsed_ns / 1e9);
        } else {
            base = (double)num;
        }
        out->observed = base;
    }
    if (why) {
        out->has_value = false;
        out->pass = false;
        out->observed = 0.0;
        resultf(out, "%s: %s = no value (%s) (fail)", t->text, what, why);
        return;
    }
    out->has_value = true;
    out->pass = compare(base, t->op, t->value);
    if (is_trend(t->metric)) {
        fmt_trim(val, sizeof val, out->observed, 3);
        strcat(val, " ms");
    } else if (is_fraction(t)) {
        char pc[40];
        fmt_trim(pc, sizeof pc, out->observed * 100.0, 4);
        fmt_trim(val, sizeof val, out->observed, 6);
        snprintf(val + strlen(val), sizeof val - strlen(val), " (%s%%)", pc);
    } else if (is_per_second(t)) {
        fmt_trim(val, sizeof val, out->observed, 2);
        strcat(val, "/s");
    } else {
        fmt_trim(val, sizeof val, out->observed, 0);
    }
    resultf(out, "%s: %s = %s (%s)", t->text, what, val, out->pass ? "pass" : "fail");
}

int mt_threshold_eval_run(const mt_threshold_t *t, const mt_run_result_t *r,
                          const char *const *tags, size_t ntags, mt_threshold_result_t *out)
{
    scope_t s = {0};

    if (!t || !r || !out)
        return MT_EINVAL;
    s.elapsed_ns = r->elapsed_ns;
    if (t->tag[0]) {
        int i = mt__lex_find_tag(t->tag, tags, ntags);
        if (i < 0) {
            char q[48];
            memset(out, 0, sizeof *out);
            out->unit = "";
            mt__quote(q, sizeof q, t->tag, strnlen(t->tag, MT_VERDICT_TAG_MAX));
            resultf(out, "%s: unknown tag '%s' (fail)", t->text, q);
            return MT_EINVAL;
        }
        if (r->tags && (size_t)i < r->ntags) {
            s.c = &r->tags[i].c;
            s.latency = r->tags[i].latency;
            s.service = r->tags[i].service;
        }
    } else {
        s.c = &r->c;
        s.latency = r->latency;
        s.service = r->service;
        s.breakdown[0] = r->connect;
        s.breakdown[1] = r->tls;
        s.breakdown[2] = r->send;
        s.breakdown[3] = r->wait;
        s.breakdown[4] = r->recv;
    }
    eval_scope(t, &s, out);
    return MT_OK;
}

/* ---- abortOnFail watch ---------------------------------------------------------------- */

typedef struct watched {
    mt_threshold_t t;
    size_t index; /* in the caller's array */
    int tag;      /* -1: every request */
    mt_counters_t c;
    bool seen;    /* the scope had data in some second (tags: present in the snapshot) */
    mt_hist_t *h; /* trend thresholds: cumulative latency or service histogram */
} watched_t;

struct mt_threshold_watch {
    watched_t *w;
    size_t n;
    int64_t elapsed_ns;
    bool failed;
    size_t failed_index;
    mt_threshold_result_t failed_result;
};

void mt_threshold_watch_free(mt_threshold_watch_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        mt_hist_free(w->w[i].h);
    free(w->w);
    free(w);
}

int mt_threshold_watch_new(const mt_threshold_t *t, size_t n, const char *const *tags, size_t ntags,
                           mt_threshold_watch_t **out, mt_parse_err_t *err)
{
    mt_threshold_watch_t *w;
    int rc = MT_OK;

    if (!out || (n > 0 && !t))
        return MT_EINVAL;
    w = calloc(1, sizeof *w);
    if (!w)
        return MT_ENOMEM;
    w->w = calloc(n ? n : 1, sizeof *w->w);
    if (!w->w) {
        free(w);
        return MT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        watched_t *x;
        if (!t[i].abort_on_fail)
            continue;
        if ((rc = mt_threshold_check_tags(&t[i], tags, ntags, err)) != MT_OK)
            goto out;
        x = &w->w[w->n++];
        x->t = t[i];
        x->t.text[MT_VERDICT_TEXT_MAX - 1] = '\0';
        x->t.tag[MT_VERDICT_TAG_MAX - 1] = '\0';
        x->t.mask[sizeof x->t.mask - 1] = '\0';
        x->index = i;
        x->tag = x->t.tag[0] ? mt__lex_find_tag(x->t.tag, tags, ntags) : -1;
        if (is_trend(x->t.metric) && (rc = mt_hist_new_latency(&x->h)) != MT_OK)
            goto out;
    }
out:
    if (rc != MT_OK) {
        mt_threshold_watch_free(w);
        return rc;
    }
    *out = w;
    return MT_OK;
}

int mt_threshold_watch_feed(mt_threshold_watch_t *w, const mt_second_t *s, size_t *index,
                            mt_threshold_result_t *out)
{
    int hit = 0;

    if (!w || !s || !index || !out)
        return MT_EINVAL;
    if (w->failed) {
        *index = w->failed_index;
        *out = w->failed_result;
        return 1;
    }
    w->elapsed_ns += s->span_ns > 0 ? s->span_ns : 0;
    for (size_t i = 0; i < w->n; i++) {
        watched_t *x = &w->w[i];
        const mt_counters_t *c = NULL;
        const mt_hist_t *lat = NULL, *svc = NULL;
        mt_threshold_result_t r;
        scope_t sc;

        if (x->tag < 0) {
            c = &s->c;
            lat = s->latency;
            svc = s->service;
        } else if (s->tags && (size_t)x->tag < s->ntags) {
            c = &s->tags[x->tag].c;
            lat = s->tags[x->tag].latency;
            svc = s->tags[x->tag].service;
        }
        if (c) {
            x->seen = true;
            mt_counters_add(&x->c, c);
            if (x->h) {
                const mt_hist_t *src = x->t.metric == MT_TM_LATENCY ? lat : svc;
                if (src)
                    mt_hist_add(x->h, src);
            }
        }
        if (hit || w->elapsed_ns < x->t.delay_abort_ns)
            continue;
        sc = (scope_t){.c = x->seen ? &x->c : NULL,
                       .latency = x->h,
                       .service = x->h,
                       .elapsed_ns = w->elapsed_ns};
        eval_scope(&x->t, &sc, &r);
        /* no data yet (no responses so far) is not a reason to abort */
        if (r.has_value && !r.pass) {
            hit = 1;
            w->failed = true;
            w->failed_index = x->index;
            w->failed_result = r;
        }
    }
    if (!hit)
        return 0;
    *index = w->failed_index;
    *out = w->failed_result;
    return 1;
}
