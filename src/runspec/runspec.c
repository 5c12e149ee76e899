/* The run spec: the key table, the one setter every source goes through, the checks, the
 * build and the canonical JSON. See runspec.h and docs/adr/0017-run-spec.md. */
#include "runspec/runspec.h"
#include "script/script.h"
#include "proto/text.h"
#include "runspec/config.h"
#include "runspec/readall.h"
#include "proto/request.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RS_DEFAULT_CONNECTIONS       10
#define RS_DEFAULT_DURATION_NS       (10 * 1000000000LL)
#define RS_DEFAULT_TIMEOUT_NS        (2 * 1000000000LL)  /* wrk's */
#define RS_DEFAULT_SEND_TOLERANCE_NS (100 * 1000LL)      /* docs/adr/0037 */
#define RS_DEFAULT_GRACE_NS          (10 * 1000000000LL) /* docs/measurement.md "The end" */
#define RS_MAX_SEND_TOLERANCE_NS     (100 * 1000000LL)
#define RS_DEFAULT_PLACEMENT         (60 * 1000000000LL)

const mt_rs_key_t mt_rs_keys[MT_RSK__COUNT] = {
#define MT__RS_ROW(id, name, flag, sh, type, dflt, min, max, marks, doc)                           \
    {MT_RSK_##id, name, flag, sh, MT_RS_##type, dflt, min, max, marks, doc},
    MT_RUNSPEC_KEYS(MT__RS_ROW)
#undef MT__RS_ROW
};

/* '-' and '_' are the same in key names. */
static bool rs_name_eq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

const mt_rs_key_t *mt_rs_key_find(const char *name)
{
    for (size_t i = 0; i < MT_RSK__COUNT; i++)
        if (rs_name_eq(name, mt_rs_keys[i].name))
            return &mt_rs_keys[i];
    return NULL;
}

const mt_rs_key_t *mt_rs_key_by_flag(const char *flag)
{
    for (size_t i = 0; i < MT_RSK__COUNT; i++)
        if (mt_rs_keys[i].flag != NULL && strcmp(flag, mt_rs_keys[i].flag) == 0)
            return &mt_rs_keys[i];
    return NULL;
}

/* ---- errors ---- */

const char *mt_rs_err_format(const mt_rs_err_t *e, char *buf, size_t n)
{
    const mt_rs_at_t *at = &e->at;
    switch (at->src) {
    case MT_RS_SRC_FLAG:
        if (at->name[0] != '\0')
            snprintf(buf, n, "%s: %s", at->name, e->msg);
        else
            snprintf(buf, n, "%s", e->msg);
        break;
    case MT_RS_SRC_FILE:
        if (at->line > 0 && e->key[0] != '\0')
            snprintf(buf, n, "%s:%d:%d: %s: %s", at->name, at->line, at->col, e->key, e->msg);
        else if (at->line > 0)
            snprintf(buf, n, "%s:%d:%d: %s", at->name, at->line, at->col, e->msg);
        else if (e->key[0] != '\0')
            snprintf(buf, n, "%s: %s: %s", at->name, e->key, e->msg);
        else
            snprintf(buf, n, "%s: %s", at->name, e->msg);
        break;
    case MT_RS_SRC_JSON:
        snprintf(buf, n, "%s: %s", at->name[0] ? at->name : "/", e->msg);
        break;
    default:
        snprintf(buf, n, "%s", e->msg);
    }
    return buf;
}

static int rs_vfail(mt_rs_err_t *err, int code, const mt_rs_key_t *k, const mt_rs_at_t *at,
                    const char *fmt, va_list ap)
{
    err->code = code;
    if (at != NULL)
        err->at = *at;
    else
        memset(&err->at, 0, sizeof(err->at));
    snprintf(err->key, sizeof(err->key), "%s", k != NULL ? k->name : "");
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    for (char *p = err->msg; *p != '\0'; p++) /* user text quoted by a lower layer */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return code;
}

static int rs_fail(mt_rs_err_t *err, const mt_rs_key_t *k, const mt_rs_at_t *at, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static int rs_fail(mt_rs_err_t *err, const mt_rs_key_t *k, const mt_rs_at_t *at, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    rs_vfail(err, MT_EINVAL, k, at, fmt, ap);
    va_end(ap);
    return MT_EINVAL;
}

/* An error at column col (1-based, 0 = none) of the value: in a config file the column is
 * added to the value's own position (FILE:LINE:COL names the character), elsewhere it is
 * given as "col N: ". */
static int rs_fail_in(mt_rs_err_t *err, const mt_rs_key_t *k, const mt_rs_at_t *at, int col,
                      const char *msg)
{
    if (at != NULL && at->src == MT_RS_SRC_FILE && at->line > 0 && at->col > 0 && col > 0 &&
        !at->multiline) {
        mt_rs_at_t a = *at;
        a.col = at->col + col - 1;
        return rs_fail(err, k, &a, "%s", msg);
    }
    if (col > 0)
        return rs_fail(err, k, at, "col %d: %s", col, msg);
    return rs_fail(err, k, at, "%s", msg);
}

static int rs_nomem(mt_rs_err_t *err)
{
    memset(err, 0, sizeof(*err));
    err->code = MT_ENOMEM;
    snprintf(err->msg, sizeof(err->msg), "out of memory");
    return MT_ENOMEM;
}

/* An error about a rule between keys, placed at key id's origin. On the command line such a
 * message names its flags itself, so it gets no "--flag:" prefix (as before the spec). */
static int rs_fail_cross(mt_runspec_t *s, mt_rs_err_t *err, mt_rs_key_id_t id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int rs_fail_cross(mt_runspec_t *s, mt_rs_err_t *err, mt_rs_key_id_t id, const char *fmt, ...)
{
    mt_rs_at_t at = s->at[id];
    va_list ap;
    if (at.src == MT_RS_SRC_FLAG)
        at.name[0] = '\0';
    va_start(ap, fmt);
    rs_vfail(err, MT_EINVAL, NULL, &at, fmt, ap);
    va_end(ap);
    return MT_EINVAL;
}

const char *mt_rs_key_word(const mt_rs_key_t *k, mt_rs_src_t src, char *buf, size_t n)
{
    if (src == MT_RS_SRC_FLAG && k->shortflag != 0)
        snprintf(buf, n, "-%c", k->shortflag);
    else if (src == MT_RS_SRC_FLAG && k->flag != NULL)
        snprintf(buf, n, "--%s", k->flag);
    else
        snprintf(buf, n, "%s", k->name);
    return buf;
}

/* The reader's word for key id in an error whose main source is src: a key keeps the form of
 * where it was set; a default takes the error's. */
typedef struct rs_word {
    char b[40];
} rs_word_t;

static const char *rs_word(const mt_runspec_t *s, mt_rs_key_id_t id, mt_rs_src_t src, rs_word_t *w)
{
    mt_rs_src_t ks = s->set[id] ? s->at[id].src : src;
    if (ks == MT_RS_SRC_NONE)
        ks = s->mode == MT_RS_SERVER ? MT_RS_SRC_JSON : MT_RS_SRC_FLAG;
    return mt_rs_key_word(&mt_rs_keys[id], ks, w->b, sizeof(w->b));
}

/* The main source of an error about key id: where it was set, else the spec's kind. */
static mt_rs_src_t rs_src(const mt_runspec_t *s, mt_rs_key_id_t id)
{
    if (s->set[id] && s->at[id].src != MT_RS_SRC_NONE)
        return s->at[id].src;
    return s->mode == MT_RS_SERVER ? MT_RS_SRC_JSON : MT_RS_SRC_FLAG;
}

/* ---- init / dispose ---- */

void mt_runspec_init(mt_runspec_t *s, unsigned mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->connections = RS_DEFAULT_CONNECTIONS;
    s->duration_ns = RS_DEFAULT_DURATION_NS;
    s->timeout_ns = RS_DEFAULT_TIMEOUT_NS;
    s->send_tolerance_ns = RS_DEFAULT_SEND_TOLERANCE_NS;
    s->grace_ns = RS_DEFAULT_GRACE_NS;
    s->method = "GET";
    s->seed = 1;
    s->agents = 1;
    s->placement_timeout_ns = RS_DEFAULT_PLACEMENT;
    mt_status_set_default(&s->expected);
}

static void rs_free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void mt_runspec_dispose(mt_runspec_t *s)
{
    mt_tls_ctx_free(s->tls_ctx);
    if (s->sched.steps != NULL)
        mt_sched_dispose(&s->sched);
    mt_url_dispose(&s->url);
    free(s->url_txt);
    free(s->schedule_txt);
    free(s->method_own);
    rs_free_list(s->header_txt, s->nheaders);
    free(s->headers);
    free(s->body_txt);
    free(s->body);
    free(s->ammo_path);
    free(s->ammo_type_txt);
    rs_free_list(s->uris, s->nuris);
    rs_free_list(s->autostop_txt, s->nautostop);
    rs_free_list(s->threshold_txt, s->nthreshold);
    free(s->expected_txt);
    free(s->json_path);
    free(s->phout_path);
    free(s->html_path);
    free(s->cacert);
    free(s->cert);
    free(s->key);
    free(s->agent_labels);
    free(s->trace_url);
    free(s->on_agent_loss);
    free(s->request);
    free(s->script_txt);
    free(s->script);
    free(s->script_name);
    rs_free_list(s->script_args, s->nscript_args);
    mt__script_free(s->script_obj);
    if (s->has_ammo)
        mt_ammo_dispose(&s->ammo);
    mt__verdicts_dispose(&s->verdicts);
    rs_free_list(s->warnings, s->nwarnings);
    memset(s, 0, sizeof(*s));
}

/* ---- one value ---- */

static int rs_strdup(char **dst, const char *v, mt_rs_err_t *err)
{
    char *p = strdup(v);
    if (p == NULL)
        return rs_nomem(err);
    free(*dst);
    *dst = p;
    return MT_OK;
}

static int rs_push(char ***list, size_t *n, const char *v, mt_rs_err_t *err)
{
    char **nl = realloc(*list, (*n + 1) * sizeof(*nl));
    if (nl == NULL)
        return rs_nomem(err);
    *list = nl;
    if ((nl[*n] = strdup(v)) == NULL)
        return rs_nomem(err);
    (*n)++;
    return MT_OK;
}

/* wrk's metric suffix (k, M, G, T; case-insensitive): its multiplier, or 0. */
static long long rs_si(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 1000LL;
    case 'm':
    case 'M':
        return 1000000LL;
    case 'g':
    case 'G':
        return 1000000000LL;
    case 't':
    case 'T':
        return 1000000000000LL;
    default:
        return 0;
    }
}

static int rs_int(const mt_rs_key_t *k, const mt_rs_at_t *at, const char *arg, long long *out,
                  mt_rs_err_t *err)
{
    char *end;
    char show[80];
    long long v, min = (long long)k->min;
    long long max = k->max >= 9.2e18 ? LLONG_MAX : (long long)k->max;

    errno = 0;
    v = strtoll(arg, &end, 10);
    if (end != arg && end[0] != '\0' && end[1] == '\0' && rs_si(end[0]) > 1) {
        /* wrk's metric suffixes: 1k = 1000, 2M = 2000000 (any case, whole numbers only) */
        long long m = rs_si(end[0]);
        if (v > LLONG_MAX / m || v < LLONG_MIN / m)
            errno = ERANGE;
        else
            v *= m;
        end++;
    }
    if (arg[0] == '\0' || *end != '\0' || errno == ERANGE ||
        !(arg[0] == '-' || arg[0] == '+' || (arg[0] >= '0' && arg[0] <= '9')))
        return rs_fail(err, k, at, "bad number '%s'", mt__show(arg, show, sizeof(show)));
    if (v < min || v > max)
        return rs_fail(err, k, at, "must be between %lld and %lld (got %s)", min, max,
                       mt__show(arg, show, sizeof(show)));
    *out = v;
    return MT_OK;
}

static int rs_dur(const mt_rs_key_t *k, const mt_rs_at_t *at, const char *arg, bool zero_ok,
                  int64_t *out, mt_rs_err_t *err)
{
    mt_parse_err_t perr = {0};
    char show[80];
    int64_t ns = 0;
    int rc = mt_parse_duration(arg, &ns, &perr);

    mt__show(arg, show, sizeof(show));
    if (rc == MT_ERANGE)
        return rs_fail(err, k, at, "duration '%s' is too long", show);
    if (rc != MT_OK)
        return rs_fail(err, k, at, "bad duration '%s' (col %d)", show, perr.col > 0 ? perr.col : 1);
    if (ns < 0 || (ns == 0 && !zero_ok))
        return rs_fail(err, k, at, "must be more than 0 (got '%s')", show);
    *out = ns;
    return MT_OK;
}

static int rs_header(mt_runspec_t *s, const mt_rs_key_t *k, const mt_rs_at_t *at, const char *arg,
                     mt_rs_err_t *err)
{
    mt_parse_err_t perr = {0};
    mt_header_t h;
    char show[80];
    mt_header_t *nh;
    char *copy;
    char **nt;

    mt__show(arg, show, sizeof(show));
    if (s->nheaders >= MT_RS_MAX_HEADERS)
        return rs_fail(err, k, at, "more than %d headers", MT_RS_MAX_HEADERS);
    copy = strdup(arg);
    if (copy == NULL)
        return rs_nomem(err);
    if (mt_header_parse(copy, &h, &perr) != MT_OK) {
        free(copy);
        if (strchr(arg, ':') == NULL)
            return rs_fail(err, k, at, "header '%s' has no ':'", show);
        if (perr.col > 0)
            return rs_fail(err, k, at, "header '%s': %s (col %d)", show, perr.msg, perr.col);
        return rs_fail(err, k, at, "header '%s': %s", show, perr.msg);
    }
    if (h.name_len == 14 && strncasecmp(h.name, "Content-Length", 14) == 0) {
        free(copy);
        return rs_fail(err, k, at, "Content-Length is computed from the body (use %s)",
                       at->src == MT_RS_SRC_FLAG ? "--body" : "body");
    }
    if (h.name_len == 17 && strncasecmp(h.name, "Transfer-Encoding", 17) == 0) {
        free(copy);
        return rs_fail(err, k, at,
                       "Transfer-Encoding is not supported (the body is sent with "
                       "Content-Length)");
    }
    nh = realloc(s->headers, (s->nheaders + 1) * sizeof(*nh));
    if (nh != NULL)
        s->headers = nh;
    nt = nh != NULL ? realloc(s->header_txt, (s->nheaders + 1) * sizeof(*nt)) : NULL;
    if (nt == NULL) {
        free(copy);
        return rs_nomem(err);
    }
    s->header_txt = nt;
    s->header_txt[s->nheaders] = copy;
    s->headers[s->nheaders++] = h;
    return MT_OK;
}

static int rs_bool(const mt_rs_key_t *k, const mt_rs_at_t *at, const char *v, bool *out,
                   mt_rs_err_t *err)
{
    if (v == NULL || strcmp(v, "true") == 0) {
        *out = true;
        return MT_OK;
    }
    if (strcmp(v, "false") == 0) {
        *out = false;
        return MT_OK;
    }
    char show[80];
    return rs_fail(err, k, at, "expected true or false, got '%s'", mt__show(v, show, sizeof(show)));
}

int mt_runspec_set(mt_runspec_t *s, const mt_rs_key_t *k, const char *v, const mt_rs_at_t *at,
                   mt_rs_err_t *err)
{
    static const mt_rs_at_t none;
    char show[80];
    long long n = 0;
    int rc = MT_OK;

    if (at == NULL)
        at = &none;
    if (k->type != MT_RS_BOOL && v == NULL)
        return rs_fail(err, k, at, "missing value");
    if (s->mode == MT_RS_SERVER && ((k->marks & (MT_RSK_READS | MT_RSK_WRITES)) ||
                                    ((k->marks & MT_RSK_READS_AT) && v != NULL && v[0] == '@')))
        return rs_fail(err, k, at,
                       "not allowed in a server run (runs must not read or write the server's "
                       "files; the server stores the result itself)");
    if (s->mode != MT_RS_SERVER && (k->marks & MT_RSK_SERVER))
        return rs_fail(err, k, at,
                       "applies to runs started through mortar serve (docs/serve.md); mortar "
                       "run does not take it");

    switch ((mt_rs_key_id_t)k->id) {
    case MT_RSK_URL:
        rc = rs_strdup(&s->url_txt, v, err);
        break;
    case MT_RSK_CONNECTIONS:
        rc = rs_int(k, at, v, &n, err);
        s->connections = (int)n;
        break;
    case MT_RSK_THREADS:
        rc = rs_int(k, at, v, &n, err);
        s->threads = (int)n;
        s->threads_set = rc == MT_OK;
        break;
    case MT_RSK_DURATION:
        rc = rs_dur(k, at, v, false, &s->duration_ns, err);
        s->duration_set = rc == MT_OK;
        break;
    case MT_RSK_RATE: {
        char *end;
        double r;
        errno = 0;
        r = strtod(v, &end);
        if (end != v && end[0] != '\0' && end[1] == '\0' && rs_si(end[0]) > 1)
            r *= (double)rs_si(*end++); /* wrk2's -R 1M */
        if (v[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(r))
            rc = rs_fail(err, k, at, "bad rate '%s'", mt__show(v, show, sizeof(show)));
        else if (!(r > 0) || r > k->max)
            rc = rs_fail(err, k, at, "must be more than 0 and at most %.0f (got %s)", k->max,
                         mt__show(v, show, sizeof(show)));
        else
            s->rate = r;
        break;
    }
    case MT_RSK_SCHEDULE:
        rc = rs_strdup(&s->schedule_txt, v, err);
        break;
    case MT_RSK_HEADER:
        rc = rs_header(s, k, at, v, err);
        break;
    case MT_RSK_METHOD:
        if (!mt_http_is_token(v, strlen(v)))
            return rs_fail(err, k, at, "bad method '%s' (letters, digits and !#$%%&'*+-.^_`|~)",
                           mt__show(v, show, sizeof(show)));
        rc = rs_strdup(&s->method_own, v, err);
        if (rc == MT_OK) {
            s->method = s->method_own;
            s->method_set = true;
        }
        break;
    case MT_RSK_BODY: {
        size_t len = strlen(v);
        if (v[0] == '@' && v[1] == '\0')
            return rs_fail(err, k, at, "'@' needs a file name (@FILE, or @- for stdin)");
        if (v[0] != '@' && len > MT_REQUEST_MAX_BODY)
            return rs_fail(err, k, at, "body larger than %u MiB",
                           MT_REQUEST_MAX_BODY / (1024 * 1024));
        rc = rs_strdup(&s->body_txt, v, err);
        if (rc != MT_OK)
            break;
        free(s->body);
        s->body = NULL;
        s->body_len = 0;
        s->has_body = true;
        if (v[0] != '@') {
            if ((s->body = strdup(v)) == NULL)
                return rs_nomem(err);
            s->body_len = len;
        }
        break;
    }
    case MT_RSK_TIMEOUT:
        rc = rs_dur(k, at, v, true, &s->timeout_ns, err);
        break;
    case MT_RSK_MAX_QUEUE:
        rc = rs_int(k, at, v, &n, err);
        s->max_queue = (uint64_t)n;
        break;
    case MT_RSK_GRACE:
        rc = rs_dur(k, at, v, true, &s->grace_ns, err);
        break;
    case MT_RSK_TICK:
        rc = rs_dur(k, at, v, true, &s->tick_ns, err);
        break;
    case MT_RSK_SEND_TOLERANCE:
        rc = rs_dur(k, at, v, true, &s->send_tolerance_ns, err);
        if (rc == MT_OK && s->send_tolerance_ns > RS_MAX_SEND_TOLERANCE_NS)
            return rs_fail(err, k, at, "at most 100ms (it bounds every send's delay)");
        break;
    case MT_RSK_NO_KERNEL_TIMESTAMPS:
        rc = rs_bool(k, at, v, &s->no_kernel_ts, err);
        break;
    case MT_RSK_IO:
        if (strcmp(v, "auto") == 0)
            s->io = MT_IO_AUTO;
        else if (strcmp(v, "epoll") == 0)
            s->io = MT_IO_EPOLL;
        else if (strcmp(v, "io_uring") == 0)
            s->io = MT_IO_URING;
        else
            rc = rs_fail(err, k, at, "'%s' is not auto, epoll or io_uring",
                         mt__show(v, show, sizeof(show)));
        break;
    case MT_RSK_JSON:
    case MT_RSK_PHOUT:
    case MT_RSK_HTML:
        if (v[0] == '\0')
            return rs_fail(err, k, at, "empty file name%s",
                           k->id == MT_RSK_JSON ? " (use - for stdout)" : "");
        rc = rs_strdup(k->id == MT_RSK_JSON    ? &s->json_path
                       : k->id == MT_RSK_PHOUT ? &s->phout_path
                                               : &s->html_path,
                       v, err);
        break;
    case MT_RSK_QUIET:
        rc = rs_bool(k, at, v, &s->quiet, err);
        break;
    case MT_RSK_LATENCY:
        rc = rs_bool(k, at, v, &s->latency, err);
        break;
    case MT_RSK_AMMO:
        rc = rs_strdup(&s->ammo_path, v, err);
        break;
    case MT_RSK_AMMO_TYPE: {
        mt_ammo_type_t t;
        if (mt_ammo_type_parse(v, &t) != MT_OK)
            return rs_fail(err, k, at, "unknown ammo type '%s' (uri, uripost, phantom, access)",
                           mt__show(v, show, sizeof(show)));
        rc = rs_strdup(&s->ammo_type_txt, v, err);
        break;
    }
    case MT_RSK_AMMO_ORDER:
        if (strcmp(v, "sequential") == 0)
            s->ammo_order = MT_ORDER_SEQUENTIAL;
        else if (strcmp(v, "random") == 0)
            s->ammo_order = MT_ORDER_RANDOM;
        else
            rc = rs_fail(err, k, at, "'%s' is not sequential or random",
                         mt__show(v, show, sizeof(show)));
        break;
    case MT_RSK_URI:
        rc = rs_push(&s->uris, &s->nuris, v, err);
        break;
    case MT_RSK_SCRIPT: {
        size_t len = strlen(v);
        if (v[0] == '@' && v[1] == '\0')
            return rs_fail(err, k, at, "'@' needs a file name (@FILE)");
        if (len > MT_SCRIPT_MAX_TEXT)
            return rs_fail(err, k, at, "script larger than %d MiB", MT_SCRIPT_MAX_TEXT >> 20);
        rc = rs_strdup(&s->script_txt, v, err);
        if (rc != MT_OK)
            break;
        free(s->script);
        s->script = NULL;
        s->script_len = 0;
        free(s->script_name);
        s->script_name = strdup(v[0] == '@' ? v + 1 : "script");
        if (s->script_name == NULL)
            return rs_nomem(err);
        if (v[0] != '@') {
            if ((s->script = strdup(v)) == NULL)
                return rs_nomem(err);
            s->script_len = len;
        }
        break;
    }
    case MT_RSK_SCRIPT_ARGS:
        if (s->nscript_args >= MT_SCRIPT_MAX_ARGS)
            return rs_fail(err, k, at, "more than %d script arguments", MT_SCRIPT_MAX_ARGS);
        if (strlen(v) > MT_SCRIPT_MAX_ARG)
            return rs_fail(err, k, at, "a script argument is longer than %d bytes",
                           MT_SCRIPT_MAX_ARG);
        rc = rs_push(&s->script_args, &s->nscript_args, v, err);
        break;
    case MT_RSK_SEED:
        rc = rs_int(k, at, v, &n, err);
        s->seed = (uint64_t)n;
        break;
    case MT_RSK_AUTOSTOP:
    case MT_RSK_THRESHOLD: {
        char msg[300];
        int col = 0;
        bool as = k->id == MT_RSK_AUTOSTOP;
        int vr = as ? mt__verdicts_add_autostop(&s->verdicts, v, &col, msg, sizeof(msg))
                    : mt__verdicts_add_threshold(&s->verdicts, v, &col, msg, sizeof(msg));
        if (vr != MT_OK)
            return rs_fail_in(err, k, at, col, msg);
        if (!as && s->mode == MT_RS_SERVER) {
            mt_threshold_metric_t m = s->verdicts.ths[s->verdicts.nths - 1].metric;
            /* agents ship latency, status and error counts per second, not the breakdown */
            if (m >= MT_TM_CONNECTING && m <= MT_TM_RECEIVING)
                return rs_fail(err, k, at,
                               "'%.60s': the timing breakdown (http_req_connecting, "
                               "http_req_tls_handshaking, http_req_sending, http_req_waiting, "
                               "http_req_receiving) is measured by mortar run only: agents do not "
                               "send it to the server, so this threshold could never pass; use "
                               "http_req_duration or latency",
                               v);
        }
        rc = as ? rs_push(&s->autostop_txt, &s->nautostop, v, err)
                : rs_push(&s->threshold_txt, &s->nthreshold, v, err);
        break;
    }
    case MT_RSK_EXPECTED_STATUSES: {
        mt_parse_err_t pe = {0};
        mt_status_set_t set;
        if (mt_status_set_parse(v, &set, &pe) != MT_OK)
            return rs_fail_in(err, k, at, pe.col, pe.msg);
        rc = rs_strdup(&s->expected_txt, v, err);
        if (rc == MT_OK)
            s->expected = set;
        break;
    }
    case MT_RSK_INSECURE:
        rc = rs_bool(k, at, v, &s->insecure, err);
        break;
    case MT_RSK_CACERT:
    case MT_RSK_CERT:
    case MT_RSK_KEY:
        if (v[0] == '\0')
            return rs_fail(err, k, at, "empty file name");
        rc = rs_strdup(k->id == MT_RSK_CACERT ? &s->cacert
                       : k->id == MT_RSK_CERT ? &s->cert
                                              : &s->key,
                       v, err);
        break;
    case MT_RSK_TLS:
    case MT_RSK_TLS_MIN:
    case MT_RSK_TLS_MAX: {
        int ver = strcmp(v, "1.2") == 0 ? 12 : strcmp(v, "1.3") == 0 ? 13 : 0;
        if (!ver)
            return rs_fail(err, k, at, "'%s' is not a TLS version (1.2 or 1.3)",
                           mt__show(v, show, sizeof(show)));
        if (k->id != MT_RSK_TLS_MAX) {
            s->tls_min = ver;
            s->at[MT_RSK_TLS_MIN] = *at;
            s->set[MT_RSK_TLS_MIN] = true;
        }
        if (k->id != MT_RSK_TLS_MIN) {
            s->tls_max = ver;
            s->at[MT_RSK_TLS_MAX] = *at;
            s->set[MT_RSK_TLS_MAX] = true;
        }
        break;
    }
    case MT_RSK_NO_TLS_RESUME:
        rc = rs_bool(k, at, v, &s->no_tls_resume, err);
        break;
    case MT_RSK_HTTP2:
        rc = rs_bool(k, at, v, &s->http2, err);
        break;
    case MT_RSK_STREAMS:
        rc = rs_int(k, at, v, &n, err);
        s->streams = (int)n;
        s->streams_set = rc == MT_OK;
        break;
    case MT_RSK_PHOUT_TLS:
        rc = rs_bool(k, at, v, &s->phout_tls, err);
        break;
    case MT_RSK_AGENTS:
        rc = rs_int(k, at, v, &n, err);
        s->agents = (int)n;
        break;
    case MT_RSK_AGENT_LABELS:
        if (v[0] == '\0')
            return rs_fail(err, k, at, "empty label selector");
        rc = rs_strdup(&s->agent_labels, v, err);
        break;
    case MT_RSK_ON_AGENT_LOSS:
        if (strcmp(v, "error") != 0 && strcmp(v, "continue") != 0)
            return rs_fail(err, k, at, "'%s' is not error or continue",
                           mt__show(v, show, sizeof(show)));
        rc = rs_strdup(&s->on_agent_loss, v, err);
        break;
    case MT_RSK_PLACEMENT_TIMEOUT:
        rc = rs_dur(k, at, v, true, &s->placement_timeout_ns, err);
        break;
    case MT_RSK_TRACE: {
        char *end;
        double r;
        errno = 0;
        r = strtod(v, &end);
        if (v[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(r))
            rc = rs_fail(err, k, at, "bad sampling ratio '%s' (a number from 0 to 1)",
                         mt__show(v, show, sizeof(show)));
        else if (!(r >= 0 && r <= 1))
            rc = rs_fail(err, k, at, "the sampling ratio must be from 0 to 1 (got %s)",
                         mt__show(v, show, sizeof(show)));
        else
            s->trace = true, s->trace_ratio = r;
        break;
    }
    case MT_RSK_TRACE_URL:
        if (strstr(v, "{trace_id}") == NULL)
            return rs_fail(err, k, at, "'%s' has no {trace_id} placeholder",
                           mt__show(v, show, sizeof(show)));
        rc = rs_strdup(&s->trace_url, v, err);
        break;
    case MT_RSK__COUNT:
        break;
    }
    if (rc == MT_OK) {
        s->set[k->id] = true;
        s->at[k->id] = *at;
    }
    return rc;
}

/* ---- JSON ---- */

/* The shortest text that reads back as d ("1e+12", "0.5", "100"). */
static void rs_num_text(double d, char *buf, size_t n)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static void rs_pointer(char *out, size_t n, const char *base, const char *key, long idx)
{
    size_t at = (size_t)snprintf(out, n, "%s/", base);
    for (const char *p = key; *p != '\0' && at + 3 < n; p++) {
        if (*p == '~' || *p == '/') {
            out[at++] = '~';
            out[at++] = *p == '~' ? '0' : '1';
        } else {
            out[at++] = *p;
        }
    }
    out[at < n ? at : n - 1] = '\0';
    if (idx >= 0 && at < n)
        snprintf(out + at, n - at, "/%ld", idx);
}

static const char *rs_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* One scalar JSON value as the setter's text: strings as they are, numbers in their shortest
 * form, booleans as true/false. */
static int rs_json_scalar(mt_runspec_t *s, const mt_rs_key_t *k, const json_t *v,
                          const mt_rs_at_t *at, mt_rs_err_t *err)
{
    char num[64];
    const char *text = NULL;

    if (k->type == MT_RS_BOOL) {
        if (!json_is_boolean(v))
            return rs_fail(err, k, at, "expected true or false, got %s", rs_json_type(v));
        return json_is_true(v) ? mt_runspec_set(s, k, NULL, at, err) : MT_OK;
    }
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v))
            return rs_fail(err, k, at, "contains a NUL character");
        text = json_string_value(v);
    } else if (json_is_integer(v) &&
               (k->type == MT_RS_INT || k->type == MT_RS_NUM || k->type == MT_RS_DUR)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        text = num;
    } else if (json_is_real(v) &&
               (k->type == MT_RS_INT || k->type == MT_RS_NUM || k->type == MT_RS_DUR)) {
        rs_num_text(json_real_value(v), num, sizeof(num));
        text = num;
    } else {
        const char *want = k->type == MT_RS_INT   ? "a whole number"
                           : k->type == MT_RS_NUM ? "a number"
                           : k->type == MT_RS_DUR ? "a duration (a string, or seconds)"
                           : k->type == MT_RS_URL ? "a URL"
                                                  : "a string";
        return rs_fail(err, k, at, "expected %s, got %s", want, rs_json_type(v));
    }
    return mt_runspec_set(s, k, text, at, err);
}

static int rs_tank_json(mt_runspec_t *s, const json_t *obj, const char *base, mt_rs_err_t *err);

int mt_runspec_from_json(mt_runspec_t *s, const json_t *obj, const char *base, mt_rs_err_t *err)
{
    const char *name;
    const json_t *v;
    mt_rs_at_t at;
    bool seen[MT_RSK__COUNT] = {0};

    memset(&at, 0, sizeof(at));
    at.src = MT_RS_SRC_JSON;
    snprintf(s->json_base, sizeof(s->json_base), "%s", base);
    if (!json_is_object(obj)) {
        snprintf(at.name, sizeof(at.name), "%s", base);
        return rs_fail(err, NULL, &at, "the run config must be a JSON object, got %s",
                       rs_json_type(obj));
    }
    if (json_object_get(obj, "phantom") != NULL)
        return rs_tank_json(s, obj, base, err);
    json_object_foreach((json_t *)obj, name, v)
    {
        const mt_rs_key_t *k = mt_rs_key_find(name);
        int rc;

        rs_pointer(at.name, sizeof(at.name), base, name, -1);
        if (k == NULL) {
            const char *names[MT_RSK__COUNT];
            char show[80];
            const char *hint;
            for (size_t i = 0; i < MT_RSK__COUNT; i++)
                names[i] = mt_rs_keys[i].name;
            hint = mt__config_suggest(name, names, MT_RSK__COUNT);
            mt__show(name, show, sizeof(show));
            if (hint != NULL)
                return rs_fail(err, NULL, &at, "unknown key '%s' (did you mean '%s'?)", show, hint);
            return rs_fail(err, NULL, &at, "unknown key '%s' (the keys: docs/config.md)", show);
        }
        if (seen[k->id])
            return rs_fail(err, k, &at, "duplicate key '%s' (also spelled with '-' or '_')",
                           k->name);
        seen[k->id] = true;
        if (json_is_null(v))
            continue; /* as if not given */
        if (k->type == MT_RS_LIST || k->type == MT_RS_CRITS) {
            if (json_is_array(v)) {
                size_t i;
                const json_t *e;
                json_array_foreach(v, i, e)
                {
                    mt_rs_at_t eat = at;
                    rs_pointer(eat.name, sizeof(eat.name), base, name, (long)i);
                    if (!json_is_string(e))
                        return rs_fail(err, k, &eat, "expected a string, got %s", rs_json_type(e));
                    rc = rs_json_scalar(s, k, e, &eat, err);
                    if (rc != MT_OK)
                        return rc;
                }
                continue;
            }
            if (!json_is_string(v))
                return rs_fail(err, k, &at, "expected a string or a list of strings, got %s",
                               rs_json_type(v));
        }
        rc = rs_json_scalar(s, k, v, &at, err);
        if (rc != MT_OK)
            return rc;
    }
    return MT_OK;
}

int mt_runspec_from_json_text(mt_runspec_t *s, const char *text, size_t len, const char *base,
                              mt_rs_err_t *err)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc;

    if (o == NULL) {
        mt_rs_at_t at;
        memset(&at, 0, sizeof(at));
        at.src = MT_RS_SRC_JSON;
        snprintf(at.name, sizeof(at.name), "%s", base);
        return rs_fail(err, NULL, &at, "not JSON: %s (line %d, col %d)", je.text, je.line,
                       je.column);
    }
    rc = mt_runspec_from_json(s, o, base, err);
    json_decref(o);
    return rc;
}

/* A Yandex.Tank config sent as JSON: read by the --config reader, every value placed at the
 * phantom section (the reader's positions are in a re-encoding the client never saw). */
static int rs_tank_json(mt_runspec_t *s, const json_t *obj, const char *base, mt_rs_err_t *err)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    mt_rs_at_t at;
    int rc;

    if (text == NULL)
        return rs_nomem(err);
    memset(&at, 0, sizeof(at));
    at.src = MT_RS_SRC_JSON;
    rs_pointer(at.name, sizeof(at.name), base, "phantom", -1);
    rc = mt_runspec_apply_text(s, text, strlen(text), NULL, &at, err);
    free(text);
    return rc;
}

/* ---- files: entries from runspec/config.c ---- */

int mt_runspec_apply_text(mt_runspec_t *s, const char *buf, size_t len, const char *file,
                          const mt_rs_at_t *json_at, mt_rs_err_t *err)
{
    mt__config_info_t info;
    mt_parse_err_t perr = {0};
    int argc = 0, rc;
    char **argv = NULL;
    char *url = NULL;
    mt_rs_at_t at;

    memset(&info, 0, sizeof(info));
    memset(&at, 0, sizeof(at));
    rc = mt__config_parse(buf, len, file != NULL ? file : "config", &argc, &argv, &url, &info,
                          &perr);
    if (rc == MT_ENOMEM) {
        rc = rs_nomem(err);
        goto out;
    }
    if (rc != MT_OK) {
        if (json_at != NULL) {
            at = *json_at;
        } else {
            at.src = MT_RS_SRC_FILE;
            snprintf(at.name, sizeof(at.name), "%s", file);
            at.line = perr.line;
            at.col = perr.col;
        }
        rc = rs_fail(err, NULL, &at, "%s", perr.msg);
        goto out;
    }
    for (size_t i = 0; i < info.nwarnings; i++) {
        if (rs_push(&s->warnings, &s->nwarnings, info.warnings[i], err) != MT_OK) {
            rc = MT_ENOMEM;
            goto out;
        }
    }
    rc = mt_runspec_apply_entries(s, argc, argv, &info, url, file, json_at, err);
out:
    mt__config_info_dispose(&info);
    mt__config_argv_free(argc, argv);
    free(url);
    return rc;
}

int mt_runspec_apply_entries(mt_runspec_t *s, int argc, char **argv, const mt__config_info_t *info,
                             const char *url, const char *file, const mt_rs_at_t *json_at,
                             mt_rs_err_t *err)
{
    mt_rs_at_t at;
    int rc;

    memset(&at, 0, sizeof(at));
    if (json_at != NULL) {
        at = *json_at;
    } else {
        at.src = MT_RS_SRC_FILE;
        snprintf(at.name, sizeof(at.name), "%s", file);
    }
    if (url != NULL) {
        rc = mt_runspec_set(s, &mt_rs_keys[MT_RSK_URL], url, &at, err);
        if (rc != MT_OK)
            return rc;
    }
    for (int i = info->first; i < info->first + info->n && i < argc; i++) {
        const mt_rs_key_t *k =
            strncmp(argv[i], "--", 2) == 0 ? mt_rs_key_by_flag(argv[i] + 2) : NULL;
        const char *v = NULL;
        int si = i;
        if (k == NULL)
            k = strncmp(argv[i], "--", 2) == 0 ? mt_rs_key_find(argv[i] + 2) : NULL;
        if (k == NULL) {
            at.line = info->src != NULL ? info->src[i - info->first].line : 0;
            at.col = info->src != NULL ? info->src[i - info->first].col : 0;
            return rs_fail(err, NULL, &at, "internal: unexpected entry '%s'", argv[i]);
        }
        if (k->type != MT_RS_BOOL && i + 1 < info->first + info->n) {
            v = argv[++i];
            si = i;
        }
        if (json_at == NULL && info->src != NULL) {
            at.line = info->src[si - info->first].line;
            at.col = info->src[si - info->first].col;
            at.multiline = info->src[si - info->first].multiline;
        }
        rc = mt_runspec_set(s, k, v, &at, err);
        if (rc != MT_OK)
            return rc;
    }
    return MT_OK;
}

/* ---- checks ---- */

int mt_runspec_check(mt_runspec_t *s, mt_rs_err_t *err)
{
    mt_parse_err_t perr = {0};
    char show[240];
    rs_word_t w1, w2, w3;
    int rc;

    if (s->checked)
        return MT_OK;
    if (s->rate > 0 && s->schedule_txt != NULL) {
        mt_rs_src_t src = rs_src(s, MT_RSK_SCHEDULE);
        return rs_fail_cross(s, err, MT_RSK_SCHEDULE, "%s and %s cannot be used together",
                             rs_word(s, MT_RSK_RATE, src, &w1),
                             rs_word(s, MT_RSK_SCHEDULE, src, &w2));
    }
    s->open_model = s->rate > 0 || s->schedule_txt != NULL;
    if (s->max_queue > 0 && !s->open_model) {
        mt_rs_src_t src = rs_src(s, MT_RSK_MAX_QUEUE);
        return rs_fail_cross(s, err, MT_RSK_MAX_QUEUE, "%s needs the open model (%s or %s)",
                             rs_word(s, MT_RSK_MAX_QUEUE, src, &w1),
                             rs_word(s, MT_RSK_RATE, src, &w2),
                             rs_word(s, MT_RSK_SCHEDULE, src, &w3));
    }
    if (s->tick_ns > 0 && !s->open_model) {
        mt_rs_src_t src = rs_src(s, MT_RSK_TICK);
        return rs_fail_cross(s, err, MT_RSK_TICK, "%s needs the open model (%s or %s)",
                             rs_word(s, MT_RSK_TICK, src, &w1), rs_word(s, MT_RSK_RATE, src, &w2),
                             rs_word(s, MT_RSK_SCHEDULE, src, &w3));
    }
    if (s->threads_set && s->threads > s->connections) {
        mt_rs_src_t src = rs_src(s, MT_RSK_THREADS);
        const char *cw = rs_word(s, MT_RSK_CONNECTIONS, src, &w1);
        return rs_fail(err, &mt_rs_keys[MT_RSK_THREADS], &s->at[MT_RSK_THREADS],
                       "%d threads need at least as many connections (%s%s %d)", s->threads, cw,
                       cw[0] == '-' ? "" : " is", s->connections);
    }
    if (!s->threads_set) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu < 1)
            ncpu = 1;
        if (ncpu > (long)mt_rs_keys[MT_RSK_THREADS].max)
            ncpu = (long)mt_rs_keys[MT_RSK_THREADS].max;
        s->threads = ncpu < s->connections ? (int)ncpu : s->connections;
    }

    if (s->url_txt == NULL) {
        if (s->mode == MT_RS_SERVER) {
            mt_rs_at_t at;
            memset(&at, 0, sizeof(at));
            at.src = MT_RS_SRC_JSON;
            snprintf(at.name, sizeof(at.name), "%s/url", s->json_base);
            return rs_fail(err, &mt_rs_keys[MT_RSK_URL], &at, "the target URL is required");
        }
        return rs_fail(err, NULL, NULL, "missing URL (usage: mortar run [flags] URL)");
    }
    if (s->url.host == NULL) {
        mt__show(s->url_txt, show, sizeof(show));
        rc = mt_url_parse(s->url_txt, &s->url, &perr);
        if (rc == MT_ENOMEM)
            return rs_nomem(err);
        if (rc != MT_OK) {
            memset(&s->url, 0, sizeof(s->url));
            if (perr.col > 1)
                return rs_fail_cross(s, err, MT_RSK_URL, "bad URL '%s': %s (col %d)", show,
                                     perr.msg, perr.col);
            return rs_fail_cross(s, err, MT_RSK_URL, "bad URL '%s': %s", show, perr.msg);
        }
    }

    if (s->io == MT_IO_URING && (s->open_model || s->url.tls || s->http2 || s->script_txt)) {
        /* docs/adr/0040-io-uring.md: io_uring drives the closed model over plain HTTP/1.1 */
        mt_rs_src_t src = rs_src(s, MT_RSK_IO);
        mt_rs_key_id_t why = s->open_model   ? (s->rate > 0 ? MT_RSK_RATE : MT_RSK_SCHEDULE)
                             : s->http2      ? MT_RSK_HTTP2
                             : s->script_txt ? MT_RSK_SCRIPT
                                             : MT_RSK_URL;
        return rs_fail_cross(s, err, MT_RSK_IO,
                             "%s io_uring drives only the closed model over plain http:// "
                             "HTTP/1.1 without a script (not with %s%s); use auto or epoll",
                             rs_word(s, MT_RSK_IO, src, &w1), rs_word(s, why, src, &w2),
                             why == MT_RSK_URL ? " https://" : "");
    }
    if (s->streams_set && !s->http2) {
        mt_rs_src_t src = rs_src(s, MT_RSK_STREAMS);
        return rs_fail_cross(s, err, MT_RSK_STREAMS, "%s needs %s",
                             rs_word(s, MT_RSK_STREAMS, src, &w1),
                             rs_word(s, MT_RSK_HTTP2, src, &w2));
    }
    if (!s->url.tls) {
        static const mt_rs_key_id_t tls_keys[] = {
            MT_RSK_INSECURE, MT_RSK_CACERT,  MT_RSK_CERT,    MT_RSK_KEY,
            MT_RSK_TLS,      MT_RSK_TLS_MIN, MT_RSK_TLS_MAX, MT_RSK_NO_TLS_RESUME};
        for (size_t i = 0; i < sizeof(tls_keys) / sizeof(tls_keys[0]); i++) {
            mt_rs_key_id_t id = tls_keys[i];
            bool on = id == MT_RSK_INSECURE        ? s->insecure
                      : id == MT_RSK_NO_TLS_RESUME ? s->no_tls_resume
                      : id == MT_RSK_TLS_MIN       ? s->tls_min != 0
                      : id == MT_RSK_TLS_MAX       ? s->tls_max != 0
                                                   : s->set[id];
            if (!on)
                continue;
            if (rs_src(s, id) == MT_RS_SRC_FLAG)
                return rs_fail_cross(s, err, id,
                                     "TLS flags (-k, --cacert, --cert, --key, --tls*, "
                                     "--no-tls-resume) need an https:// URL");
            return rs_fail_cross(s, err, id, "%s needs an https:// URL", mt_rs_keys[id].name);
        }
    }
    if (s->phout_tls && !s->url.tls) {
        mt_rs_src_t src = rs_src(s, MT_RSK_PHOUT_TLS);
        return rs_fail_cross(s, err, MT_RSK_PHOUT_TLS, "%s needs an https:// URL",
                             rs_word(s, MT_RSK_PHOUT_TLS, src, &w1));
    }
    if (s->trace && s->script_txt != NULL)
        return rs_fail_cross(s, err, MT_RSK_TRACE,
                             "%s does not go with a script (a script sets its own headers: "
                             "wrk.headers[\"traceparent\"])",
                             rs_word(s, MT_RSK_TRACE, rs_src(s, MT_RSK_TRACE), &w1));
    if (s->http2 && !s->streams_set)
        s->streams = s->open_model ? 100 : 10;

    s->planned_ns = s->duration_ns;
    if (s->sched.steps == NULL && s->schedule_txt != NULL) {
        const mt_rs_key_t *k = &mt_rs_keys[MT_RSK_SCHEDULE];
        rc = mt_sched_parse(s->schedule_txt, &s->sched, &perr);
        if (rc == MT_ENOMEM)
            return rs_nomem(err);
        if (rc != MT_OK) {
            memset(&s->sched, 0, sizeof(s->sched));
            return rs_fail_in(err, k, &s->at[MT_RSK_SCHEDULE], perr.col, perr.msg);
        }
    } else if (s->sched.steps == NULL && s->rate > 0) {
        rc = mt_sched_const(s->rate, s->duration_ns, &s->sched);
        if (rc != MT_OK) {
            memset(&s->sched, 0, sizeof(s->sched));
            if (rc == MT_ENOMEM)
                return rs_nomem(err);
            return rs_fail(err, &mt_rs_keys[MT_RSK_RATE], &s->at[MT_RSK_RATE],
                           "cannot make a schedule of %g/s for the duration: %s", s->rate,
                           mt_strerror(rc));
        }
    }
    if (s->schedule_txt != NULL && !s->duration_set) {
        if (s->sched.total_ns <= 0)
            return rs_fail(err, &mt_rs_keys[MT_RSK_SCHEDULE], &s->at[MT_RSK_SCHEDULE],
                           "the schedule has no length (give %s)",
                           rs_word(s, MT_RSK_DURATION, rs_src(s, MT_RSK_SCHEDULE), &w1));
        s->planned_ns = s->sched.total_ns;
    }
    if (s->open_model)
        s->planned = s->planned_ns < s->sched.total_ns
                         ? mt_sched_count_before(&s->sched, s->planned_ns)
                         : s->sched.total;

    if (s->ammo_path != NULL && s->nuris > 0) {
        mt_rs_src_t src = rs_src(s, MT_RSK_URI);
        return rs_fail_cross(s, err, MT_RSK_URI, "%s and %s cannot be used together",
                             rs_word(s, MT_RSK_AMMO, src, &w1), rs_word(s, MT_RSK_URI, src, &w2));
    }
    if ((s->ammo_path != NULL || s->nuris > 0) && (s->method_set || s->has_body)) {
        mt_rs_key_id_t id = s->method_set ? MT_RSK_METHOD : MT_RSK_BODY;
        if (rs_src(s, id) == MT_RS_SRC_FLAG)
            return rs_fail_cross(s, err, id,
                                 "-m and --body do not combine with --ammo/--uri (the ammo says "
                                 "how each request is sent)");
        return rs_fail_cross(s, err, id,
                             "method and body do not combine with ammo/uri (the ammo says how "
                             "each request is sent)");
    }
    if (s->script_txt != NULL && (s->ammo_path != NULL || s->nuris > 0))
        return rs_fail_cross(s, err, MT_RSK_SCRIPT,
                             "a script makes the requests itself: it does not combine with "
                             "ammo/uri");
    if (s->nscript_args > 0 && s->script_txt == NULL)
        return rs_fail_cross(s, err, MT_RSK_SCRIPT_ARGS,
                             "script arguments (after --) need a script (-s FILE)");
    s->checked = true;
    return MT_OK;
}

/* ---- build ---- */

/* script @FILE: its text; then the script is compiled and its top level run (syntax errors
 * and top-level errors are the config's errors, FILE:LINE). */
static int rs_load_script(mt_runspec_t *s, mt_rs_err_t *err)
{
    const mt_rs_key_t *k = &mt_rs_keys[MT_RSK_SCRIPT];
    const mt_rs_at_t *at = &s->at[MT_RSK_SCRIPT];
    char show[80], msg[300];
    int rc;

    if (s->script == NULL) {
        const char *path = s->script_txt + 1;
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t len = 0;
        mt__show(path, show, sizeof(show));
        if (f == NULL)
            return rs_fail(err, k, at, "cannot open '%s': %s", show, strerror(errno));
        rc = mt__read_stream(f, MT_SCRIPT_MAX_TEXT, &buf, &len);
        fclose(f);
        if (rc == MT_ENOMEM)
            return rs_nomem(err);
        if (rc != MT_OK)
            return rs_fail(err, k, at, "cannot read '%s': %s", show, strerror(errno));
        if (len > MT_SCRIPT_MAX_TEXT) {
            free(buf);
            return rs_fail(err, k, at, "'%s' is larger than %d MiB", show,
                           MT_SCRIPT_MAX_TEXT >> 20);
        }
        s->script = buf;
        s->script_len = len;
    }
    mt__script_target_t t = {
        .url = s->url_txt,
        .scheme = s->url.tls ? "https" : "http",
        .host = s->url.host,
        .port = NULL,
        .connect_port = s->url.port,
        .host_header = s->url.host_header,
        .method = s->method,
        .path = s->url.target,
        .headers = (const char *const *)s->header_txt,
        .nheaders = s->nheaders,
        .body = s->has_body ? s->body : NULL,
        .body_len = s->body_len,
        .sandbox = s->mode == MT_RS_SERVER,
    };
    size_t hl = strlen(s->url.host_header), pl = strlen(s->url.port);
    if (hl > pl && s->url.host_header[hl - pl - 1] == ':' &&
        strcmp(s->url.host_header + hl - pl, s->url.port) == 0)
        t.port = s->url.port; /* wrk.port: the URL's own port, nil when it has none */
    rc = mt__script_new(s->script_name, s->script, s->script_len,
                        (const char *const *)s->script_args, s->nscript_args, &t, &s->script_obj,
                        msg, sizeof(msg));
    if (rc == MT_ENOMEM)
        return rs_nomem(err);
    if (rc != MT_OK && s->script_txt[0] != '@' && strchr(s->script_txt, '\n') == NULL &&
        s->script_len > 4 && strcmp(s->script_txt + s->script_len - 4, ".lua") == 0)
        return rs_fail(err, NULL, NULL, "%s (a file name? write script: '@%s')", msg,
                       mt__show(s->script_txt, show, sizeof(show)));
    if (rc != MT_OK)
        return rs_fail(err, NULL, NULL, "%s", msg);
    return MT_OK;
}

static int rs_warn(mt_runspec_t *s, mt_rs_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rs_warn(mt_runspec_t *s, mt_rs_err_t *err, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    return rs_push(&s->warnings, &s->nwarnings, line, err);
}

/* ammo / uri: the requests come from Tank-style ammo (docs/ammo.md). */
static int rs_load_ammo(mt_runspec_t *s, mt_rs_err_t *err)
{
    mt_ammo_opts_t ao;
    mt_parse_err_t perr = {0};
    mt_ammo_type_t type = MT_AMMO_AUTO;
    const char *hdrs[MT_RS_MAX_HEADERS];
    mt_rs_key_id_t id = s->ammo_path != NULL ? MT_RSK_AMMO : MT_RSK_URI;
    mt_rs_at_t at = s->at[id];
    char *buf = NULL;
    int rc;

    if (s->ammo_type_txt != NULL)
        mt_ammo_type_parse(s->ammo_type_txt, &type);
    for (size_t i = 0; i < s->nheaders; i++)
        hdrs[i] = s->header_txt[i]; /* "Name: value" */
    memset(&ao, 0, sizeof(ao));
    ao.host = s->url.host_header;
    ao.headers = hdrs;
    ao.nheaders = s->nheaders;
    ao.user_agent = "mortar/" MT_VERSION;
    if (s->ammo_path != NULL) {
        rc = mt_ammo_load(s->ammo_path, type, &ao, &s->ammo, &perr);
    } else {
        size_t len = 0, pos = 0;
        for (size_t i = 0; i < s->nuris; i++)
            len += strlen(s->uris[i]) + 1;
        buf = malloc(len + 1);
        if (buf == NULL)
            return rs_nomem(err);
        for (size_t i = 0; i < s->nuris; i++) {
            size_t l = strlen(s->uris[i]);
            memcpy(buf + pos, s->uris[i], l);
            pos += l;
            buf[pos++] = '\n';
        }
        rc = mt_ammo_parse(buf, pos, MT_AMMO_URI, &ao, &s->ammo, &perr);
        free(buf);
    }
    if (rc == MT_ENOMEM)
        return rs_nomem(err);
    if (rc != MT_OK) {
        const char *what = s->ammo_path != NULL ? s->ammo_path : "--uri";
        if (at.src == MT_RS_SRC_JSON) {
            /* uri entry n is line n + 1 of the inline ammo */
            if (id == MT_RSK_URI && perr.line > 0 && s->nuris > 1) {
                char base[180];
                snprintf(base, sizeof(base), "%.179s", at.name);
                char *slash = strrchr(base, '/');
                if (slash != NULL && slash[1] >= '0' && slash[1] <= '9')
                    *slash = '\0';
                snprintf(at.name, sizeof(at.name), "%s/%d", base, perr.line - 1);
            }
            return rs_fail(err, &mt_rs_keys[id], &at, "%s",
                           perr.msg[0] ? perr.msg : mt_strerror(rc));
        }
        memset(&at, 0, sizeof(at));
        if (perr.line > 0 && perr.col > 0)
            return rs_fail(err, NULL, &at, "%s:%d:%d: %s", what, perr.line, perr.col, perr.msg);
        if (perr.line > 0)
            return rs_fail(err, NULL, &at, "%s:%d: %s", what, perr.line, perr.msg);
        return rs_fail(err, NULL, &at, "%s: %s", what, perr.msg[0] ? perr.msg : mt_strerror(rc));
    }
    s->has_ammo = true;
    if (s->ammo.nwarnings > 0 &&
        rs_warn(s, err, "%s:%d: %s (%zu warning%s)", s->ammo_path != NULL ? s->ammo_path : "--uri",
                s->ammo.warning.line, s->ammo.warning.msg, s->ammo.nwarnings,
                s->ammo.nwarnings == 1 ? "" : "s") != MT_OK)
        return MT_ENOMEM;
    if ((s->ammo.skipped > 0 || s->ammo.malformed > 0) &&
        rs_warn(s, err, "%s: %zu non-GET and %zu unreadable lines skipped",
                s->ammo_path != NULL ? s->ammo_path : "--uri", s->ammo.skipped,
                s->ammo.malformed) != MT_OK)
        return MT_ENOMEM;
    return MT_OK;
}

/* body @FILE (@- stdin) */
static int rs_read_body(mt_runspec_t *s, mt_rs_err_t *err)
{
    const mt_rs_key_t *k = &mt_rs_keys[MT_RSK_BODY];
    const mt_rs_at_t *at = &s->at[MT_RSK_BODY];
    const char *path = s->body_txt + 1;
    char show[80];
    FILE *f;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    mt__show(path, show, sizeof(show));
    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return rs_fail(err, k, at, "cannot open '%s': %s", show, strerror(errno));
    rc = mt__read_stream(f, MT_REQUEST_MAX_BODY, &buf, &len);
    if (f != stdin)
        fclose(f);
    if (rc == MT_ENOMEM)
        return rs_nomem(err);
    if (rc != MT_OK)
        return rs_fail(err, k, at, "cannot read '%s': %s", show, strerror(errno));
    if (len > MT_REQUEST_MAX_BODY) {
        free(buf);
        return rs_fail(err, k, at, "'%s' is larger than %u MiB", show,
                       MT_REQUEST_MAX_BODY / (1024 * 1024));
    }
    free(s->body);
    s->body = buf;
    s->body_len = len;
    return MT_OK;
}

int mt_runspec_build(mt_runspec_t *s, mt_rs_err_t *err)
{
    mt_parse_err_t perr = {0};
    mt_request_spec_t spec;
    int rc;

    if (!s->checked && (rc = mt_runspec_check(s, err)) != MT_OK)
        return rc;
    if (s->built)
        return MT_OK;
    if (s->body_txt != NULL && s->body_txt[0] == '@' && s->body == NULL &&
        (rc = rs_read_body(s, err)) != MT_OK)
        return rc;
    if (s->url.tls) {
        static const mt_rs_key_id_t files[] = {MT_RSK_CACERT, MT_RSK_CERT, MT_RSK_KEY};
        char terr[400];
        for (size_t i = 0; i < 3; i++) {
            const char *p = files[i] == MT_RSK_CACERT ? s->cacert
                            : files[i] == MT_RSK_CERT ? s->cert
                                                      : s->key;
            char show[80];
            if (p != NULL && access(p, R_OK) != 0)
                return rs_fail(err, &mt_rs_keys[files[i]], &s->at[files[i]], "cannot read '%s': %s",
                               mt__show(p, show, sizeof(show)), strerror(errno));
        }
        memset(&s->tls, 0, sizeof(s->tls));
        s->tls.insecure = s->insecure;
        s->tls.cacert = s->cacert;
        s->tls.cert = s->cert;
        s->tls.key = s->key;
        s->tls.min_version = s->tls_min;
        s->tls.max_version = s->tls_max;
        s->tls.no_resume = s->no_tls_resume;
        s->tls.server_name = s->url.host;
        s->tls.http2 = s->http2;
        rc = mt_tls_ctx_new(&s->tls, &s->tls_ctx, terr, sizeof(terr));
        if (rc == MT_ENOMEM)
            return rs_nomem(err);
        if (rc != MT_OK)
            return rs_fail(err, NULL, NULL, "%s", terr);
    }
    if (s->script_txt != NULL && (rc = rs_load_script(s, err)) != MT_OK)
        return rc;
    if (s->ammo_path != NULL || s->nuris > 0) {
        rc = rs_load_ammo(s, err);
        if (rc == MT_OK)
            s->built = true;
        return rc;
    }
    memset(&spec, 0, sizeof(spec));
    spec.method = s->method;
    spec.target = s->url.target;
    spec.host = s->url.host_header;
    spec.headers = s->headers;
    spec.nheaders = s->nheaders;
    spec.body = s->body;
    spec.body_len = s->body_len;
    spec.has_body = s->has_body;
    rc = mt_request_build(&spec, &s->request, &s->request_len, &perr);
    if (rc == MT_ENOMEM)
        return rs_nomem(err);
    if (rc != MT_OK)
        return rs_fail(err, NULL, NULL, "cannot build the request: %s", perr.msg);
    s->parse_flags = strcmp(s->method, "HEAD") == 0 ? MT_H1_NO_BODY : 0;
    s->built = true;
    return MT_OK;
}

void mt_runspec_engine_config(const mt_runspec_t *s, mt_run_config_t *cfg)
{
    cfg->host = s->url.host;
    cfg->port = s->url.port;
    cfg->request = s->request;
    cfg->request_len = s->request_len;
    cfg->parse_flags = s->parse_flags;
    cfg->threads = s->threads;
    cfg->connections = s->connections;
    cfg->duration_ns = s->open_model && !s->duration_set ? 0 : s->duration_ns;
    cfg->schedule = s->open_model ? &s->sched : NULL;
    cfg->timeout_ns = s->timeout_ns;
    cfg->max_queue = s->max_queue;
    cfg->tick_ns = s->tick_ns;
    cfg->send_tolerance_ns = s->send_tolerance_ns;
    cfg->grace_ns = s->grace_ns;
    cfg->no_kernel_ts = s->no_kernel_ts;
    cfg->io = s->io;
    cfg->tls = s->tls_ctx;
    cfg->http2 = s->http2;
    cfg->streams = s->http2 ? s->streams : 1;
    cfg->expected = &s->expected;
    cfg->trace = s->trace;
    cfg->trace_ratio = s->trace_ratio;
    if (s->has_ammo) {
        cfg->requests = s->ammo.reqs;
        cfg->nrequests = s->ammo.nreqs;
        cfg->tags = s->ammo.tags;
        cfg->ntags = s->ammo.ntags;
        cfg->order = s->ammo_order;
        cfg->seed = s->seed;
    }
    if (s->script_obj != NULL) {
        cfg->tags = mt__script_tags(s->script_obj, &cfg->ntags);
        /* cfg->script is set by the runjob once the script's threads are started */
    }
}

/* ---- canonical JSON ---- */

/* A duration in the largest unit that keeps it exact: "90s", "500ms", "250us", "0.000000001s". */
static void rs_dur_text(int64_t ns, char *buf, size_t n)
{
    if (ns % 1000000000LL == 0)
        snprintf(buf, n, "%llds", (long long)(ns / 1000000000LL));
    else if (ns % 1000000LL == 0)
        snprintf(buf, n, "%lldms", (long long)(ns / 1000000LL));
    else if (ns % 1000LL == 0)
        snprintf(buf, n, "%lldus", (long long)(ns / 1000LL));
    else
        snprintf(buf, n, "%lld.%09llds", (long long)(ns / 1000000000LL),
                 (long long)(ns % 1000000000LL));
}

static int rs_put(json_t *o, const char *k, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new(o, k, v);
}

static json_t *rs_list(char **l, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(l[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *rs_dur_json(int64_t ns)
{
    char b[48];
    rs_dur_text(ns, b, sizeof(b));
    return json_string(b);
}

json_t *mt_runspec_to_json(const mt_runspec_t *s)
{
    json_t *o = json_object();
    int bad = 0;
    char b[48];

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < MT_RSK__COUNT; i++) {
        const mt_rs_key_t *k = &mt_rs_keys[i];
        json_t *v = NULL;
        bool skip = false;

        if ((k->marks & MT_RSK_SERVER) && s->mode != MT_RS_SERVER)
            continue;
        switch ((mt_rs_key_id_t)k->id) {
        case MT_RSK_URL:
            skip = s->url_txt == NULL;
            v = skip ? NULL : json_string(s->url_txt);
            break;
        case MT_RSK_CONNECTIONS:
            v = json_integer(s->connections);
            break;
        case MT_RSK_THREADS:
            skip = !s->threads_set; /* else: the CPUs of the machine that runs it */
            v = skip ? NULL : json_integer(s->threads);
            break;
        case MT_RSK_DURATION:
            skip = !s->duration_set && s->schedule_txt != NULL; /* the schedule's length */
            v = skip ? NULL : rs_dur_json(s->duration_ns);
            break;
        case MT_RSK_RATE:
            skip = !(s->rate > 0);
            v = skip ? NULL : json_real(s->rate);
            break;
        case MT_RSK_SCHEDULE:
            skip = s->schedule_txt == NULL;
            v = skip ? NULL : json_string(s->schedule_txt);
            break;
        case MT_RSK_HEADER:
            skip = s->nheaders == 0;
            v = skip ? NULL : rs_list(s->header_txt, s->nheaders);
            break;
        case MT_RSK_METHOD:
            skip = s->ammo_path != NULL || s->nuris > 0; /* the ammo says */
            v = skip ? NULL : json_string(s->method);
            break;
        case MT_RSK_BODY:
            skip = s->body_txt == NULL;
            v = skip ? NULL : json_string(s->body_txt);
            break;
        case MT_RSK_TIMEOUT:
            v = rs_dur_json(s->timeout_ns);
            break;
        case MT_RSK_MAX_QUEUE:
            skip = s->max_queue == 0;
            v = skip ? NULL : json_integer((json_int_t)s->max_queue);
            break;
        case MT_RSK_TICK:
            skip = s->tick_ns == 0;
            v = skip ? NULL : rs_dur_json(s->tick_ns);
            break;
        case MT_RSK_SEND_TOLERANCE:
            v = rs_dur_json(s->send_tolerance_ns);
            break;
        case MT_RSK_GRACE:
            v = rs_dur_json(s->grace_ns);
            break;
        case MT_RSK_NO_KERNEL_TIMESTAMPS:
            v = json_boolean(s->no_kernel_ts);
            break;
        case MT_RSK_IO:
            v = json_string(s->io == MT_IO_URING   ? "io_uring"
                            : s->io == MT_IO_EPOLL ? "epoll"
                                                   : "auto");
            break;
        case MT_RSK_JSON:
            skip = s->json_path == NULL;
            v = skip ? NULL : json_string(s->json_path);
            break;
        case MT_RSK_PHOUT:
            skip = s->phout_path == NULL;
            v = skip ? NULL : json_string(s->phout_path);
            break;
        case MT_RSK_HTML:
            skip = s->html_path == NULL;
            v = skip ? NULL : json_string(s->html_path);
            break;
        case MT_RSK_QUIET:
            v = json_boolean(s->quiet);
            break;
        case MT_RSK_LATENCY:
            v = json_boolean(s->latency);
            break;
        case MT_RSK_AMMO:
            skip = s->ammo_path == NULL;
            v = skip ? NULL : json_string(s->ammo_path);
            break;
        case MT_RSK_AMMO_TYPE:
            skip = s->ammo_type_txt == NULL;
            v = skip ? NULL : json_string(s->ammo_type_txt);
            break;
        case MT_RSK_AMMO_ORDER:
            v = json_string(s->ammo_order == MT_ORDER_RANDOM ? "random" : "sequential");
            break;
        case MT_RSK_URI:
            skip = s->nuris == 0;
            v = skip ? NULL : rs_list(s->uris, s->nuris);
            break;
        case MT_RSK_SCRIPT: /* the text, never a file name: agents read no local files */
            skip = s->script == NULL;
            v = skip ? NULL : json_stringn(s->script, s->script_len);
            break;
        case MT_RSK_SCRIPT_ARGS:
            skip = s->nscript_args == 0;
            v = skip ? NULL : rs_list(s->script_args, s->nscript_args);
            break;
        case MT_RSK_SEED:
            v = json_integer((json_int_t)s->seed);
            break;
        case MT_RSK_AUTOSTOP:
            skip = s->nautostop == 0;
            v = skip ? NULL : rs_list(s->autostop_txt, s->nautostop);
            break;
        case MT_RSK_THRESHOLD:
            skip = s->nthreshold == 0;
            v = skip ? NULL : rs_list(s->threshold_txt, s->nthreshold);
            break;
        case MT_RSK_EXPECTED_STATUSES:
            v = json_string(s->expected_txt ? s->expected_txt : "200-399");
            break;
        case MT_RSK_INSECURE:
            v = json_boolean(s->insecure);
            break;
        case MT_RSK_CACERT:
            skip = s->cacert == NULL;
            v = skip ? NULL : json_string(s->cacert);
            break;
        case MT_RSK_CERT:
            skip = s->cert == NULL;
            v = skip ? NULL : json_string(s->cert);
            break;
        case MT_RSK_KEY:
            skip = s->key == NULL;
            v = skip ? NULL : json_string(s->key);
            break;
        case MT_RSK_TLS:
            skip = true; /* written as tls-min and tls-max */
            break;
        case MT_RSK_TLS_MIN:
        case MT_RSK_TLS_MAX: {
            int ver = k->id == MT_RSK_TLS_MIN ? s->tls_min : s->tls_max;
            skip = ver == 0;
            v = skip ? NULL : json_string(ver == 12 ? "1.2" : "1.3");
            break;
        }
        case MT_RSK_NO_TLS_RESUME:
            v = json_boolean(s->no_tls_resume);
            break;
        case MT_RSK_HTTP2:
            v = json_boolean(s->http2);
            break;
        case MT_RSK_STREAMS:
            skip = !s->http2;
            v = skip ? NULL : json_integer(s->streams_set || s->checked ? s->streams : 0);
            if (v != NULL && json_integer_value(v) == 0) {
                json_decref(v);
                v = NULL;
                skip = true;
            }
            break;
        case MT_RSK_PHOUT_TLS:
            v = json_boolean(s->phout_tls);
            break;
        case MT_RSK_AGENTS:
            v = json_integer(s->agents);
            break;
        case MT_RSK_AGENT_LABELS:
            skip = s->agent_labels == NULL;
            v = skip ? NULL : json_string(s->agent_labels);
            break;
        case MT_RSK_ON_AGENT_LOSS:
            v = json_string(s->on_agent_loss != NULL ? s->on_agent_loss : "error");
            break;
        case MT_RSK_PLACEMENT_TIMEOUT:
            rs_dur_text(s->placement_timeout_ns, b, sizeof(b));
            v = json_string(b);
            break;
        case MT_RSK_TRACE:
            skip = !s->trace;
            v = skip ? NULL : json_real(s->trace_ratio);
            break;
        case MT_RSK_TRACE_URL:
            skip = s->trace_url == NULL;
            v = skip ? NULL : json_string(s->trace_url);
            break;
        case MT_RSK__COUNT:
            skip = true;
            break;
        }
        if (skip)
            continue;
        if (rs_put(o, k->name, v) != 0)
            bad = 1;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the result's "config" object ---- */

static json_t *rs_num(double v, double scale)
{
    if (!isfinite(v))
        v = 0;
    return json_real(round(v * scale) / scale);
}

static json_t *rs_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *mt_runspec_result_config(const mt_runspec_t *s, const uint64_t *planned)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "url", json_string(s->url_txt ? s->url_txt : ""));
    json_object_set_new(o, "method", json_string(s->method ? s->method : "GET"));
    json_object_set_new(o, "connections", json_integer(s->connections));
    json_object_set_new(o, "threads", json_integer(s->threads));
    json_object_set_new(o, "duration_s", rs_num((double)s->planned_ns / 1e9, 1e6));
    json_object_set_new(o, "model", json_string(s->open_model ? "open" : "closed"));
    if (s->open_model && s->schedule_txt != NULL)
        json_object_set_new(o, "schedule", json_string(s->schedule_txt));
    else if (s->open_model)
        json_object_set_new(o, "rate", rs_num(s->rate, 1e6));
    if (s->open_model)
        json_object_set_new(o, "planned_requests", rs_u64(planned ? *planned : s->planned));
    json_object_set_new(o, "timeout_s", rs_num((double)s->timeout_ns / 1e9, 1e6));
    if (s->max_queue > 0)
        json_object_set_new(o, "max_queue", rs_u64(s->max_queue));
    /* the protocol settings: http2 always, streams with http2, tls for https:// targets */
    json_object_set_new(o, "http2", json_boolean(s->http2));
    if (s->http2)
        json_object_set_new(o, "streams", json_integer(s->streams));
    if (s->url.tls) {
        json_t *t = json_object();
        if (t == NULL) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(t, "insecure", json_boolean(s->insecure));
        json_object_set_new(t, "resume", json_boolean(!s->no_tls_resume));
        if (s->tls_min != 0)
            json_object_set_new(t, "min", json_string(s->tls_min == 12 ? "1.2" : "1.3"));
        if (s->tls_max != 0)
            json_object_set_new(t, "max", json_string(s->tls_max == 12 ? "1.2" : "1.3"));
        if (s->cacert != NULL)
            json_object_set_new(t, "cacert", json_string(s->cacert));
        if (s->cert != NULL)
            json_object_set_new(t, "cert", json_string(s->cert));
        if (s->key != NULL)
            json_object_set_new(t, "key", json_string(s->key));
        json_object_set_new(o, "tls", t);
    }
    if (s->trace || s->trace_url != NULL) {
        json_t *t = json_object();
        if (t == NULL) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(t, "ratio", json_real(s->trace ? s->trace_ratio : 0));
        if (s->trace_url != NULL)
            json_object_set_new(t, "url", json_string(s->trace_url));
        json_object_set_new(o, "trace", t);
    }
    return o;
}
