/* Load schedules: Yandex.Tank's const/line/step syntax, expanded into a flat list of steps
 * with cumulative start times and request indices. Semantics: docs/adr/0005. */
#include "mortar/schedule.h"
#include "proto/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_MAX_STEPS  100000                           /* after expanding step() */
#define SCHED_MAX_RATE   1e9                              /* requests per second */
#define SCHED_MAX_DUR_NS (365LL * 86400LL * 1000000000LL) /* per step and in total */
#define SCHED_MAX_TOTAL  9007199254740992.0               /* 2^53 requests */
#define SCHED_MAX_ADJUST 64                               /* see within_before() */

/* ---- counts and due times within one step ------------------------------------------ */

/* Requests in a step: the number of n >= 0 with t(n) < dur, which is ceil(N) for
 * N = (a+b)/2 * dur. N is snapped to a whole number when it is within rounding noise of
 * one, so that const(0.1, 30s) holds 3 requests, not 4 (0.1 is a little over 1/10 as a
 * double). Either way the result is floor(N) or ceil(N), so every request it holds has
 * t < dur; and a step with any requests at all holds the one due at its start. */
static uint64_t count_from(double n)
{
    double r = nearbyint(n);

    if (n <= 0)
        return 0;
    if (r > 0 && fabs(n - r) <= 1e-9 + 1e-14 * n)
        return (uint64_t)r;
    return (uint64_t)ceil(n);
}

static double requests_by(double a, double b, int64_t dur_ns)
{
    return (a + b) * (double)dur_ns / 2e9;
}

/* Due time of request n of the step, in ns from the step start: the t solving
 * a*t + k/2*t^2 = n with k = (b-a)/dur, rounded to the nearest ns and kept inside the step.
 *
 * Due times must never decrease with n (count_before and the engine rely on it), and every
 * operation used here is monotone, so the choice of formula is what decides it:
 * - const: t = n/a.
 * - k < 0 (and k > 0 with a large against k): t = 2n / (a + sqrt(a^2 + 2kn)), free of
 *   cancellation. For k < 0 the numerator grows and the denominator does not, so it is
 *   monotone. For k > 0 both grow and rounding could reorder neighbours once n passes
 *   ~1e15; past 2^46 it is evaluated in long double, which pushes that far beyond 2^53.
 * - k > 0 with a < 1e5*k (in seconds: the line would reach 2a within a day): t =
 *   (sqrt(a^2 + 2kn) - a) / k, monotone outright. Its cancellation error is about
 *   ulp(a)/k, below 0.05 ns under that condition; it also covers a == 0. */
static int64_t local_due(const mt_sched_step_t *st, uint64_t n)
{
    double t, nn = (double)n, a = st->a;

    if (n == 0)
        return 0;
    if (a == st->b) {
        t = nn * 1e9 / a;
    } else {
        double k = (st->b - a) * 1e9 / (double)st->dur_ns;
        double disc = a * a + 2.0 * k * nn;
        double root = sqrt(disc > 0 ? disc : 0);
        if (k > 0 && a < 1e5 * k) {
            t = (root - a) / k * 1e9;
        } else if (k > 0 && n > (1ULL << 46)) {
            long double la = a, ln = nn;
            long double lt = 2.0L * ln / (la + sqrtl(la * la + 2.0L * (long double)k * ln));
            lt = lt * 1e9L + 0.5L;
            if (!(lt < (long double)st->dur_ns))
                return st->dur_ns - 1;
            return (int64_t)lt;
        } else {
            double den = a + root;
            t = den > 0 ? 2.0 * nn / den * 1e9 : (double)st->dur_ns;
        }
    }
    t += 0.5;
    if (!(t < (double)st->dur_ns)) /* also catches NaN */
        return st->dur_ns - 1;
    return (int64_t)t;
}

/* Requests of the step due strictly before local (ns from the step start, 0 < local).
 * Inverts the due-time formula for an estimate, then settles on the exact answer against
 * local_due() so that count_before and due always agree. */
static uint64_t within_before(const mt_sched_step_t *st, int64_t local)
{
    uint64_t n, lo, hi;
    double x, est;
    int i;

    if (st->count == 0)
        return 0;
    if (local >= st->dur_ns)
        return st->count;
    x = (double)local / 1e9;
    est = st->a * x + (st->b - st->a) / ((double)st->dur_ns / 1e9) * x * x / 2.0;
    est = ceil(est);
    n = !(est > 0) ? 0 : est >= (double)st->count ? st->count : (uint64_t)est;

    /* The answer is the least n with local_due(n) >= local (or count). */
    for (i = 0; i < SCHED_MAX_ADJUST && n > 0 && local_due(st, n - 1) >= local; i++)
        n--;
    for (; i < SCHED_MAX_ADJUST && n < st->count && local_due(st, n) < local; i++)
        n++;
    if (i < SCHED_MAX_ADJUST)
        return n;
    lo = 0;
    hi = st->count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (local_due(st, mid) < local)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- parser ------------------------------------------------------------------------ */

typedef struct parser {
    const char *text;
    const char *p;
    mt_parse_err_t *err;
    mt_sched_step_t *steps; /* owned until handed to the result */
    size_t nsteps, cap;
    int64_t total_ns;
    uint64_t total;
} parser_t;

enum kind { K_CONST, K_LINE, K_STEP };

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

/* An argument token runs to white space, ',', '(', ')' or the end. */
static bool ends_token(char c)
{
    return c == '\0' || c == ',' || c == '(' || c == ')' || is_space(c);
}

static void skip_space(parser_t *ps)
{
    while (is_space(*ps->p))
        ps->p++;
}

static int fail(parser_t *ps, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__perr_vset(ps->err, (int)(at - ps->text) + 1, MT_EPARSE, fmt, ap);
    va_end(ap);
    return MT_EPARSE;
}

/* Appends one expanded step, enforcing the size limits. at: where to point errors. */
static int add_step(parser_t *ps, const char *at, double a, double b, int64_t dur_ns)
{
    mt_sched_step_t *st;
    double n = requests_by(a, b, dur_ns);
    uint64_t count;

    if (ps->nsteps >= SCHED_MAX_STEPS)
        return fail(ps, at, "too many steps (max %d after expanding step())", SCHED_MAX_STEPS);
    if (dur_ns > SCHED_MAX_DUR_NS - ps->total_ns)
        return fail(ps, at, "schedule longer than 365d");
    if (!(n <= SCHED_MAX_TOTAL))
        return fail(ps, at, "too many requests (max 2^53)");
    count = count_from(n);
    if ((double)(ps->total + count) > SCHED_MAX_TOTAL)
        return fail(ps, at, "too many requests (max 2^53)");
    if (ps->nsteps == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        mt_sched_step_t *grown;
        if (cap > SCHED_MAX_STEPS)
            cap = SCHED_MAX_STEPS;
        grown = realloc(ps->steps, cap * sizeof(*grown));
        if (!grown)
            return MT_ENOMEM;
        ps->steps = grown;
        ps->cap = cap;
    }
    st = &ps->steps[ps->nsteps++];
    st->a = a;
    st->b = b;
    st->start_ns = ps->total_ns;
    st->dur_ns = dur_ns;
    st->first = ps->total;
    st->count = count;
    ps->total_ns += dur_ns;
    ps->total += count;
    return MT_OK;
}

/* Number: digits with an optional fraction ("10", "1.5", ".5"); no sign, no exponent.
 * Converted without strtod, so the locale's decimal point does not matter. Returns NULL
 * when the token is a number, else where it goes wrong. */
static const char *scan_number(const char *s, const char *end, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t m = 0;
    int sig = 0, exp10 = 0;
    bool any = false;
    const char *p = s;

    for (; p < end && is_digit(*p); p++) {
        any = true;
        if (sig < 18) {
            m = m * 10 + (uint64_t)(*p - '0');
            sig += m > 0;
        } else if (exp10 < 400) {
            exp10++;
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit(*p); p++) {
            any = true;
            if (sig < 18 && exp10 > -400) {
                m = m * 10 + (uint64_t)(*p - '0');
                sig += m > 0;
                exp10--;
            }
        }
    }
    if (p < end || !any)
        return p < end ? p : s;
    if (exp10 >= 0)
        *out = (double)m * (exp10 <= 22 ? pow10[exp10] : pow(10, exp10));
    else
        *out = (double)m / (-exp10 <= 22 ? pow10[-exp10] : pow(10, -exp10));
    return NULL;
}

/* Parses one numeric argument named what ("rate", "step size", ...). */
static int parse_number(parser_t *ps, const char *what, bool positive, double *out)
{
    const char *start, *end, *bad;
    char q[48];

    skip_space(ps);
    start = ps->p;
    for (end = start; !ends_token(*end); end++)
        ;
    if (end == start)
        return fail(ps, start, "expected %s", what);
    if (*start == '-' && !scan_number(start + 1, end, out))
        return fail(ps, start, "%s must be %s 0", what, positive ? ">" : ">=");
    bad = scan_number(start, end, out);
    if (bad) {
        mt__quote(q, sizeof(q), start, (size_t)(end - start));
        return fail(ps, bad, "bad %s '%s'", what, q);
    }
    if (positive && !(*out > 0))
        return fail(ps, start, "%s must be > 0", what);
    if (*out > SCHED_MAX_RATE)
        return fail(ps, start, "%s must be <= 1e9", what);
    ps->p = end;
    return MT_OK;
}

/* Parses a duration argument with mt_parse_duration, pointing its errors into the text. */
static int parse_dur(parser_t *ps, int64_t *out)
{
    const char *start, *end;
    char buf[64], q[48];
    mt_parse_err_t sub;
    size_t len;
    int rc;

    skip_space(ps);
    start = ps->p;
    for (end = start; !ends_token(*end); end++)
        ;
    len = (size_t)(end - start);
    if (len == 0)
        return fail(ps, start, "expected duration");
    if (len >= sizeof(buf)) {
        mt__quote(q, sizeof(q), start, len);
        return fail(ps, start, "bad duration '%s': too long", q);
    }
    memcpy(buf, start, len);
    buf[len] = '\0';
    memset(&sub, 0, sizeof(sub));
    rc = mt_parse_duration(buf, out, &sub);
    if (rc == MT_ERANGE || (rc == MT_OK && *out > SCHED_MAX_DUR_NS))
        return fail(ps, start, "duration must be <= 365d");
    if (rc != MT_OK) {
        int col = sub.col > 0 && (size_t)sub.col <= len ? sub.col - 1 : 0;
        return fail(ps, start + col, "%s", sub.msg);
    }
    if (*out == 0)
        return fail(ps, start, "duration must be > 0");
    ps->p = end;
    return MT_OK;
}

/* Expects ',' after the argument named what. */
static int expect_comma(parser_t *ps, const char *what)
{
    skip_space(ps);
    if (*ps->p != ',')
        return fail(ps, ps->p, "expected ',' after %s", what);
    ps->p++;
    return MT_OK;
}

/* step(a, b, s, dur): const(a), const(a±s), ... while on the grid up to b, then const(b)
 * when b is off the grid. A grid point within rounding noise of b counts as b. */
static int expand_stairs(parser_t *ps, const char *at, double a, double b, double s, int64_t dur_ns)
{
    double q = fabs(b - a) / s, r, dir = b < a ? -1.0 : 1.0;
    uint64_t n, i;
    bool on_grid;
    int rc;

    if (!(q < SCHED_MAX_STEPS))
        return fail(ps, at, "too many steps (max %d after expanding step())", SCHED_MAX_STEPS);
    r = nearbyint(q);
    on_grid = fabs(q - r) <= 1e-9 * (r > 1 ? r : 1);
    n = on_grid ? (uint64_t)r : (uint64_t)floor(q);
    for (i = 0; i <= n; i++) {
        double rate = (on_grid && i == n) ? b : a + dir * (double)i * s;
        if ((rc = add_step(ps, at, rate < 0 ? 0 : rate, rate < 0 ? 0 : rate, dur_ns)) != MT_OK)
            return rc;
    }
    if (!on_grid)
        return add_step(ps, at, b, b, dur_ns);
    return MT_OK;
}

static int parse_step(parser_t *ps)
{
    const char *name = ps->p, *kw;
    double a = 0, b = 0, s = 0;
    int64_t dur = 0;
    enum kind kind;
    size_t len;
    char q[48];
    int rc;

    while (is_word(*ps->p))
        ps->p++;
    len = (size_t)(ps->p - name);
    if (len == 0) {
        unsigned char c = (unsigned char)*name;
        if (c >= 0x20 && c < 0x7f)
            return fail(ps, name, "unexpected '%c' (expected const, line or step)", c);
        return fail(ps, name, "unexpected byte 0x%02x (expected const, line or step)", c);
    }
    if (len == 5 && memcmp(name, "const", 5) == 0) {
        kind = K_CONST;
        kw = "const";
    } else if (len == 4 && memcmp(name, "line", 4) == 0) {
        kind = K_LINE;
        kw = "line";
    } else if (len == 4 && memcmp(name, "step", 4) == 0) {
        kind = K_STEP;
        kw = "step";
    } else {
        mt__quote(q, sizeof(q), name, len);
        return fail(ps, name, "unknown step '%s' (expected const, line or step)", q);
    }
    skip_space(ps);
    if (*ps->p != '(')
        return fail(ps, ps->p, "expected '(' after '%s'", kw);
    ps->p++;

    if (kind == K_CONST) {
        if ((rc = parse_number(ps, "rate", false, &a)) != MT_OK ||
            (rc = expect_comma(ps, "rate")) != MT_OK)
            return rc;
        b = a;
    } else {
        if ((rc = parse_number(ps, "start rate", false, &a)) != MT_OK ||
            (rc = expect_comma(ps, "start rate")) != MT_OK ||
            (rc = parse_number(ps, "end rate", false, &b)) != MT_OK ||
            (rc = expect_comma(ps, "end rate")) != MT_OK)
            return rc;
        if (kind == K_STEP && ((rc = parse_number(ps, "step size", true, &s)) != MT_OK ||
                               (rc = expect_comma(ps, "step size")) != MT_OK))
            return rc;
    }
    if ((rc = parse_dur(ps, &dur)) != MT_OK)
        return rc;
    skip_space(ps);
    if (*ps->p == '\0')
        return fail(ps, ps->p, "missing ')'");
    if (*ps->p != ')')
        return fail(ps, ps->p, "expected ')' after duration");
    ps->p++;

    if (kind == K_STEP)
        return expand_stairs(ps, name, a, b, s, dur);
    return add_step(ps, name, a, b, dur);
}

int mt_sched_parse(const char *text, mt_sched_t *out, mt_parse_err_t *err)
{
    parser_t ps;
    int rc = MT_OK;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!text || !out)
        return MT_EINVAL;
    memset(&ps, 0, sizeof(ps));
    ps.text = ps.p = text;
    ps.err = err;

    skip_space(&ps);
    if (*ps.p == '\0') {
        rc = fail(&ps, text, "empty schedule");
        goto out;
    }
    while (*ps.p) {
        if ((rc = parse_step(&ps)) != MT_OK)
            goto out;
        skip_space(&ps);
    }
    if (ps.total == 0) {
        rc = fail(&ps, text, "schedule has no requests (only pauses)");
        goto out;
    }
    out->steps = ps.steps;
    out->nsteps = ps.nsteps;
    out->total_ns = ps.total_ns;
    out->total = ps.total;
    ps.steps = NULL;
out:
    free(ps.steps);
    return rc;
}

int mt_sched_const(double rate, int64_t dur_ns, mt_sched_t *out)
{
    parser_t ps;
    int rc;

    if (!out)
        return MT_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!(rate > 0) || dur_ns <= 0)
        return MT_EINVAL;
    if (rate > SCHED_MAX_RATE || dur_ns > SCHED_MAX_DUR_NS)
        return MT_ERANGE;
    memset(&ps, 0, sizeof(ps));
    ps.text = ps.p = "";
    rc = add_step(&ps, ps.text, rate, rate, dur_ns);
    if (rc != MT_OK) {
        free(ps.steps);
        return rc == MT_EPARSE ? MT_ERANGE : rc;
    }
    out->steps = ps.steps;
    out->nsteps = ps.nsteps;
    out->total_ns = ps.total_ns;
    out->total = ps.total;
    return MT_OK;
}

void mt_sched_dispose(mt_sched_t *s)
{
    if (!s)
        return;
    free(s->steps);
    memset(s, 0, sizeof(*s));
}

/* ---- queries ------------------------------------------------------------------------ */

/* The step holding request n (n < total): the last step whose first <= n. */
static size_t find_step(const mt_sched_t *s, uint64_t n)
{
    size_t lo = 0, hi = s->nsteps;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->steps[mid].first <= n)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int mt_sched_due(const mt_sched_t *s, mt_sched_cursor_t *cur, uint64_t n, int64_t *due_ns)
{
    const mt_sched_step_t *st;
    size_t i;

    if (!s || !cur || !due_ns)
        return MT_EINVAL;
    if (n >= s->total)
        return MT_ERANGE;
    i = cur->step;
    /* Going back (against the contract) or a stale cursor costs a search, not a crash. */
    if (i >= s->nsteps || n < s->steps[i].first)
        i = find_step(s, n);
    /* Walking forward passes each step once: O(1) amortised for increasing n. */
    while (n - s->steps[i].first >= s->steps[i].count)
        i++;
    cur->step = i;
    st = &s->steps[i];
    *due_ns = st->start_ns + local_due(st, n - st->first);
    return MT_OK;
}

uint64_t mt_sched_count_before(const mt_sched_t *s, int64_t t_ns)
{
    const mt_sched_step_t *st;
    size_t lo = 0, hi;

    if (!s || s->nsteps == 0 || t_ns <= 0)
        return 0;
    if (t_ns >= s->total_ns)
        return s->total;
    /* The last step starting before t: earlier steps are wholly due before t (their due
     * times stay below their end), later ones wholly at or after it. */
    hi = s->nsteps;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->steps[mid].start_ns < t_ns)
            lo = mid;
        else
            hi = mid;
    }
    st = &s->steps[lo];
    return st->first + within_before(st, t_ns - st->start_ns);
}
