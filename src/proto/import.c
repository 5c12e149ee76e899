/* Imports of phout, JTL CSV/XML and k6 NDJSON into per-second rows (mortar/import.h,
 * docs/import.md). Lines are parsed in place from the caller's buffer; only a line split
 * between two calls is copied. The XML form goes through expat's push parser (ADR 0035). */
#include "mortar/import.h"

#include <errno.h>
#include <expat.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"

typedef struct imp_rec {
    int64_t t_us;       /* start, unix us */
    int64_t lat_us;     /* whole request */
    int64_t connect_us; /* -1: unknown (the breakdown) */
    int64_t send_us, wait_us, recv_us;
    int status;   /* HTTP status, 0 = none */
    int err_kind; /* -1 = no network error, else MT_ERR_* */
    int failed;   /* -1: by status (200..399 pass), else the tool's own verdict */
    uint64_t bytes_out, bytes_in;
    const char *tag;
    size_t tag_len;
} imp_rec_t;

typedef struct imp_slot {
    int64_t abs; /* unix second; INT64_MIN when empty */
    mt_counters_t c;
    mt_hist_t *lat;
    mt_counters_t *tc; /* [MT_MAX_TAGS], lazily */
    mt_hist_t **thist; /* [MT_MAX_TAGS], lazily */
    uint64_t tag_mask; /* tags with records in this slot */
} imp_slot_t;

struct mt_imp {
    mt_imp_opts_t o;
    char name[128];
    mt_imp_second_cb cb;
    void *ud;
    mt_imp_format_t fmt;
    int err; /* sticky error */
    char errmsg[256];
    mt_imp_stats_t st;
    mt_hist_t *bd[4]; /* connect, send, wait, recv */
    /* line assembly */
    char *part;
    size_t plen;
    int part_over; /* the current line went over MT_IMP_MAX_LINE */
    uint64_t line;
    /* detection: bytes kept until the first newline */
    char *head;
    size_t hlen;
    /* CSV columns: index of each field we read, -1 = absent */
    int csv_ready;
    int col[9]; /* timeStamp elapsed label responseCode success bytes sentBytes Latency Connect */
    int csv_ncols;
    /* XML */
    XML_Parser xp;
    int xdepth;
    int xml_dead;
    /* tags */
    char *tags[MT_MAX_TAGS];
    size_t tag_len[MT_MAX_TAGS];
    size_t ntags;
    int last_tag; /* the previous record's tag: records come in runs of one tag */
    /* window */
    uint32_t nslots;
    imp_slot_t *slots;
    int64_t lo, hi; /* lowest open second, highest seen; lo = INT64_MIN before any record */
    int started;    /* a second has closed: lo is final for anything below */
    int64_t base;   /* second 0 */
    mt_hist_t *empty;
    mt_tag_stats_t ts[MT_MAX_TAGS];
};

enum { C_TS, C_EL, C_LB, C_RC, C_OK, C_BY, C_SBY, C_LT, C_CT, C__N };

int mt_imp_format_parse(const char *name, mt_imp_format_t *out)
{
    static const struct {
        const char *n;
        mt_imp_format_t f;
    } t[] = {{"auto", MT_IMP_AUTO},       {"phout", MT_IMP_PHOUT}, {"jtl", MT_IMP_AUTO},
             {"jtl-csv", MT_IMP_JTL_CSV}, {"csv", MT_IMP_JTL_CSV}, {"jtl-xml", MT_IMP_JTL_XML},
             {"xml", MT_IMP_JTL_XML},     {"k6", MT_IMP_K6},       {"pandora", MT_IMP_PHOUT}};
    for (size_t i = 0; name && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(name, t[i].n) == 0) {
            *out = t[i].f;
            return MT_OK;
        }
    return MT_EINVAL;
}

const char *mt_imp_format_name(mt_imp_format_t f)
{
    switch (f) {
    case MT_IMP_PHOUT:
        return "phout";
    case MT_IMP_JTL_CSV:
        return "jtl-csv";
    case MT_IMP_JTL_XML:
        return "jtl-xml";
    case MT_IMP_K6:
        return "k6";
    default:
        return "auto";
    }
}

/* ---- messages ---- */

static int imp_bad(mt_imp_t *p, uint64_t line, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(msg, sizeof msg, "%s:%llu: ", p->name, (unsigned long long)line);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++) /* for a terminal: the input's bytes may be anything */
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    if (p->st.malformed < MT_IMP_EXAMPLES)
        snprintf(p->st.examples[p->st.malformed], sizeof p->st.examples[0], "%s", msg);
    p->st.malformed++;
    if (p->o.strict) {
        snprintf(p->errmsg, sizeof p->errmsg, "%s", msg);
        p->err = MT_EPARSE;
        return MT_EPARSE;
    }
    return MT_OK;
}

/* ---- the window of seconds ---- */

static int imp_tag_index(mt_imp_t *p, const char *tag, size_t len)
{
    if (len == 0)
        return 0;
    int k = p->last_tag;
    if (k > 0 && p->tag_len[k] == len && memcmp(p->tags[k], tag, len) == 0)
        return k;
    for (size_t i = 1; i < p->ntags; i++)
        if (p->tag_len[i] == len && memcmp(p->tags[i], tag, len) == 0)
            return p->last_tag = (int)i;
    if (p->ntags >= MT_MAX_TAGS)
        return 0;
    char *s = malloc(len + 1);
    if (s == NULL)
        return 0;
    memcpy(s, tag, len);
    s[len] = '\0';
    p->tags[p->ntags] = s;
    p->tag_len[p->ntags] = len;
    return p->last_tag = (int)p->ntags++;
}

static int imp_emit(mt_imp_t *p, imp_slot_t *sl, int64_t abs)
{
    mt_second_t s;
    memset(&s, 0, sizeof s);
    s.index = (uint32_t)(abs - p->base);
    s.span_ns = 1000000000;
    if (sl->abs == abs) {
        s.c = sl->c; /* failed: counted per record (the tool's own verdict where it has one) */
    }
    s.latency = s.service = sl->abs == abs ? sl->lat : p->empty;
    size_t nt = p->ntags > 1 ? p->ntags : 0;
    for (size_t i = 0; i < nt; i++) {
        mt_tag_stats_t *t = &p->ts[i];
        if (i == 0) {
            t->c = s.c;
            t->latency = t->service = s.latency;
        } else if (sl->abs == abs && (sl->tag_mask >> i & 1)) {
            t->c = sl->tc[i];
            t->latency = t->service = sl->thist[i];
        } else {
            memset(&t->c, 0, sizeof t->c);
            t->latency = t->service = p->empty;
        }
    }
    s.tags = nt ? p->ts : NULL;
    s.ntags = nt;
    int rc = p->cb ? p->cb(&s, (const char *const *)p->tags, nt, p->ud) : 0;
    p->st.seconds++;
    /* empty the slot */
    if (sl->abs == abs) {
        memset(&sl->c, 0, sizeof sl->c);
        mt_hist_reset(sl->lat);
        for (size_t i = 1; i < MT_MAX_TAGS; i++)
            if (sl->tag_mask >> i & 1) {
                memset(&sl->tc[i], 0, sizeof sl->tc[i]);
                mt_hist_reset(sl->thist[i]);
            }
        sl->tag_mask = 0;
        sl->abs = INT64_MIN;
    }
    if (rc != 0) {
        p->err = rc;
        snprintf(p->errmsg, sizeof p->errmsg, "%s: the rows could not be stored", p->name);
    }
    return rc;
}

/* Closes the lowest open second. */
static int imp_close_lo(mt_imp_t *p)
{
    if (!p->started) {
        p->started = 1;
        p->base = p->lo;
    }
    imp_slot_t *sl = &p->slots[(uint64_t)p->lo % p->nslots];
    int rc = imp_emit(p, sl, p->lo);
    p->lo++;
    return rc;
}

static void imp_count(mt_counters_t *c, const imp_rec_t *r)
{
    c->due++;
    c->sent++;
    if (r->err_kind >= 0) {
        c->errors++;
        c->err[r->err_kind]++;
    } else {
        c->completed++;
        c->status[r->status >= 100 && r->status < MT_STATUS_MAX ? r->status : 0]++;
    }
    if (r->failed > 0 ||
        (r->failed < 0 && (r->err_kind >= 0 || r->status < 200 || r->status > 399)))
        c->failed++;
    c->bytes_out += r->bytes_out;
    c->bytes_in += r->bytes_in;
}

static int imp_record(mt_imp_t *p, const imp_rec_t *r)
{
    int64_t s = r->t_us >= 0 ? r->t_us / 1000000 : -((-r->t_us + 999999) / 1000000);
    if (r->lat_us < 0)
        return imp_bad(p, p->line, "negative duration");
    if (p->lo == INT64_MIN) {
        p->lo = p->hi = s;
    } else if (s < p->lo) {
        if (p->started || p->hi - s >= (int64_t)p->nslots) {
            p->st.records++;
            p->st.late++;
            return MT_OK;
        }
        p->lo = s;
    } else if (s - (p->started ? p->base : p->lo) > (int64_t)MT_IMP_MAX_SPAN) {
        return imp_bad(p, p->line, "time %lld is more than 7 days after the run's start",
                       (long long)s);
    }
    while (s - p->lo >= (int64_t)p->nslots) {
        int rc = imp_close_lo(p);
        if (rc)
            return rc;
    }
    if (s > p->hi)
        p->hi = s;
    p->st.records++;
    imp_slot_t *sl = &p->slots[(uint64_t)s % p->nslots];
    if (sl->abs != s) {
        sl->abs = s;
    }
    imp_count(&sl->c, r);
    /* as in a native run, latency and its breakdown are of responses: a record without one
     * (a network error) counts in errors, its duration in no histogram */
    bool answered = r->err_kind < 0;
    if (answered)
        mt_hist_record_clamped(sl->lat, r->lat_us);
    int ti = imp_tag_index(p, r->tag, r->tag_len);
    if (ti > 0) {
        if (sl->tc == NULL) {
            sl->tc = calloc(MT_MAX_TAGS, sizeof *sl->tc);
            sl->thist = calloc(MT_MAX_TAGS, sizeof *sl->thist);
            if (sl->tc == NULL || sl->thist == NULL)
                return MT_ENOMEM;
        }
        if (sl->thist[ti] == NULL && mt_hist_new_latency(&sl->thist[ti]) != MT_OK)
            return MT_ENOMEM;
        sl->tag_mask |= UINT64_C(1) << ti;
        imp_count(&sl->tc[ti], r);
        if (answered)
            mt_hist_record_clamped(sl->thist[ti], r->lat_us);
    }
    const int64_t bd[4] = {r->connect_us, r->send_us, r->wait_us, r->recv_us};
    for (int i = 0; i < 4 && answered; i++)
        if (bd[i] >= 0) {
            if (p->bd[i] == NULL && mt_hist_new_latency(&p->bd[i]) != MT_OK)
                return MT_ENOMEM;
            mt_hist_record_clamped(p->bd[i], bd[i]);
        }
    return MT_OK;
}

int mt_imp_tick(mt_imp_t *p, int64_t now_unix_ns)
{
    if (p->err)
        return p->err;
    int64_t edge = now_unix_ns / 1000000000 - (int64_t)p->o.window_s; /* seconds ending <= now-W */
    while (p->lo != INT64_MIN && p->lo < edge) {
        int rc = imp_close_lo(p);
        if (rc)
            return rc;
        if (p->lo > p->hi)
            p->hi = p->lo;
    }
    return MT_OK;
}

/* ---- numbers ---- */

/* Unsigned decimal of [s, e); -1 if not all digits or empty or too long. */
static int64_t imp_uint(const char *s, const char *e)
{
    if (s >= e || e - s > 18)
        return -1;
    int64_t v = 0;
    for (; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    return v;
}

/* "123", "-5" */
static int imp_int(const char *s, const char *e, int64_t *out)
{
    int neg = s < e && *s == '-';
    int64_t v = imp_uint(s + neg, e);
    if (v < 0)
        return -1;
    *out = neg ? -v : v;
    return 0;
}

/* Decimal with an optional fraction, scaled by 10^scale (6: seconds -> us, 3: ms -> us). */
static int imp_fixed(const char *s, const char *e, int scale, int64_t *out)
{
    const char *dot = memchr(s, '.', (size_t)(e - s));
    int neg = s < e && *s == '-';
    int64_t ip = imp_uint(s + neg, dot ? dot : e);
    if (ip < 0)
        return -1;
    int64_t v = ip;
    for (int i = 0; i < scale; i++) {
        if (v > INT64_MAX / 10)
            return -1;
        v *= 10;
    }
    if (dot) {
        int64_t m = 1;
        for (int i = 0; i < scale; i++)
            m *= 10;
        const char *q = dot + 1;
        if (q == e)
            return -1;
        for (; q < e; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (d > 9)
                return -1;
            m /= 10;
            v += (int64_t)d * m;
        }
    }
    *out = neg ? -v : v;
    return 0;
}

/* errno (phout's net_code) to an error kind */
static int imp_errno_kind(int64_t e)
{
    switch (e) {
    case ECONNREFUSED:
        return MT_ERR_REFUSED;
    case ECONNRESET:
    case EPIPE:
        return MT_ERR_RESET;
    case ETIMEDOUT:
    case 314: /* phantom's own timeout code */
        return MT_ERR_TIMEOUT;
    case EPROTO:
        return MT_ERR_PROTOCOL;
    default:
        return MT_ERR_OTHER;
    }
}

/* ---- phout ---- */

static const char *const phout_cols[12] = {
    "time",      "tag",     "interval_real", "connect_time",
    "send_time", "latency", "receive_time",  "interval_event",
    "size_out",  "size_in", "net_code",      "proto_code"};

static int imp_phout(mt_imp_t *p, const char *s, const char *e)
{
    const char *f[13], *fe[13];
    int n = 0;
    const char *q = s;
    while (n < 13) {
        const char *t = memchr(q, '\t', (size_t)(e - q));
        f[n] = q;
        fe[n] = t ? t : e;
        n++;
        if (t == NULL)
            break;
        q = t + 1;
    }
    if (n < 12)
        return imp_bad(p, p->line, "%d columns, phout has 12 (tab-separated)", n);
    imp_rec_t r = {.err_kind = -1, .failed = -1};
    int64_t v[12];
    if (imp_fixed(f[0], fe[0], 6, &r.t_us) != 0)
        return imp_bad(p, p->line, "column 1 (time): not a number of seconds");
    for (int i = 2; i < 12; i++)
        if (imp_int(f[i], fe[i], &v[i]) != 0)
            return imp_bad(p, p->line, "column %d (%s): not an integer", i + 1, phout_cols[i]);
    r.tag = f[1];
    r.tag_len = (size_t)(fe[1] - f[1]);
    r.lat_us = v[2];
    r.connect_us = v[3];
    r.send_us = v[4];
    r.wait_us = v[5];
    r.recv_us = v[6];
    r.bytes_out = v[8] > 0 ? (uint64_t)v[8] : 0;
    r.bytes_in = v[9] > 0 ? (uint64_t)v[9] : 0;
    if (v[10] != 0)
        r.err_kind = imp_errno_kind(v[10]);
    r.status = (int)(v[11] >= 0 && v[11] < 1000 ? v[11] : 0);
    return imp_record(p, &r);
}

/* ---- JTL CSV ---- */

/* JMeter's default columns (jmeter.properties, JMeter 5), in order, without a header. */
static const char *const jtl_default[] = {
    "timeStamp",  "elapsed", "label",          "responseCode", "responseMessage", "threadName",
    "dataType",   "success", "failureMessage", "bytes",        "sentBytes",       "grpThreads",
    "allThreads", "URL",     "Latency",        "IdleTime",     "Connect"};
static const char *const jtl_want[C__N] = {"timeStamp",    "elapsed", "label",
                                           "responseCode", "success", "bytes",
                                           "sentBytes",    "Latency", "Connect"};

#define CSV_MAX 64

/* Splits one CSV line into fields (quotes with "" inside); *n fields. Quoted fields keep their
 * quotes' inside with "" undoubled only for the label (copied into lb). */
static int csv_split(const char *s, const char *e, const char **f, const char **fe, int *n)
{
    int k = 0;
    const char *q = s;
    for (;;) {
        if (k == CSV_MAX)
            return -1;
        if (q < e && *q == '"') {
            const char *r = q + 1;
            for (;;) {
                const char *x = memchr(r, '"', (size_t)(e - r));
                if (x == NULL)
                    return -1; /* unterminated quote */
                if (x + 1 < e && x[1] == '"') {
                    r = x + 2;
                    continue;
                }
                f[k] = q + 1;
                fe[k] = x;
                k++;
                q = x + 1;
                break;
            }
            if (q == e)
                break;
            if (*q != ',')
                return -1;
            q++;
            continue;
        }
        const char *c = memchr(q, ',', (size_t)(e - q));
        f[k] = q;
        fe[k] = c ? c : e;
        k++;
        if (c == NULL)
            break;
        q = c + 1;
    }
    *n = k;
    return 0;
}

static void csv_columns(mt_imp_t *p, const char *const *names, const size_t *lens, int n)
{
    for (int w = 0; w < C__N; w++) {
        p->col[w] = -1;
        for (int i = 0; i < n; i++)
            if (lens[i] == strlen(jtl_want[w]) && memcmp(names[i], jtl_want[w], lens[i]) == 0)
                p->col[w] = i;
    }
    p->csv_ncols = n;
    p->csv_ready = 1;
}

/* a non-numeric JMeter response code ("Non HTTP response code: java.net.ConnectException") */
static int imp_java_kind(const char *s, size_t n)
{
    static const struct {
        const char *needle;
        int kind;
    } t[] = {{"ConnectException", MT_ERR_REFUSED}, {"NoRouteToHost", MT_ERR_REFUSED},
             {"SocketTimeout", MT_ERR_TIMEOUT},    {"ConnectTimeout", MT_ERR_TIMEOUT},
             {"UnknownHost", MT_ERR_DNS},          {"SSL", MT_ERR_TLS},
             {"NoHttpResponse", MT_ERR_CLOSED},    {"SocketException", MT_ERR_RESET},
             {"ClientProtocol", MT_ERR_PROTOCOL}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t m = strlen(t[i].needle);
        for (size_t j = 0; j + m <= n; j++)
            if (memcmp(s + j, t[i].needle, m) == 0)
                return t[i].kind;
    }
    return MT_ERR_OTHER;
}

/* One JTL sample from its attribute strings (CSV fields or XML attributes); NULL = absent. */
typedef struct jtl_fields {
    const char *v[C__N], *ve[C__N];
} jtl_fields_t;

static int imp_jtl(mt_imp_t *p, const jtl_fields_t *j)
{
    imp_rec_t r = {.err_kind = -1,
                   .failed = -1,
                   .connect_us = -1,
                   .send_us = -1,
                   .wait_us = -1,
                   .recv_us = -1};
    int64_t ts, el, x;
    if (j->v[C_TS] == NULL || imp_uint(j->v[C_TS], j->ve[C_TS]) < 0)
        return imp_bad(p, p->line, "timeStamp: not a number of milliseconds");
    ts = imp_uint(j->v[C_TS], j->ve[C_TS]);
    if (ts > INT64_C(100000000000000)) /* the year 5138 */
        return imp_bad(p, p->line, "timeStamp: %lld is not a time in milliseconds", (long long)ts);
    if (j->v[C_EL] == NULL || imp_int(j->v[C_EL], j->ve[C_EL], &el) != 0 ||
        el > INT64_C(1000000000000) || el < -INT64_C(1000000000000))
        return imp_bad(p, p->line, "elapsed: not a number of milliseconds");
    r.t_us = ts * 1000;
    r.lat_us = el * 1000;
    if (j->v[C_LB]) {
        r.tag = j->v[C_LB];
        r.tag_len = (size_t)(j->ve[C_LB] - j->v[C_LB]);
    }
    if (j->v[C_RC]) {
        int64_t code = imp_uint(j->v[C_RC], j->ve[C_RC]);
        if (code >= 0 && code < 1000)
            r.status = (int)code;
        else
            r.err_kind = imp_java_kind(j->v[C_RC], (size_t)(j->ve[C_RC] - j->v[C_RC]));
    }
    if (j->v[C_OK]) {
        size_t n = (size_t)(j->ve[C_OK] - j->v[C_OK]);
        r.failed = !(n == 4 && strncasecmp(j->v[C_OK], "true", 4) == 0);
    }
    if (j->v[C_BY] && imp_int(j->v[C_BY], j->ve[C_BY], &x) == 0 && x > 0)
        r.bytes_in = (uint64_t)x;
    if (j->v[C_SBY] && imp_int(j->v[C_SBY], j->ve[C_SBY], &x) == 0 && x > 0)
        r.bytes_out = (uint64_t)x;
    int64_t lt = -1, ct = -1;
    if (j->v[C_LT] && imp_int(j->v[C_LT], j->ve[C_LT], &x) == 0 && x >= 0 && x < el + 1)
        lt = x;
    if (j->v[C_CT] && imp_int(j->v[C_CT], j->ve[C_CT], &x) == 0 && x >= 0 && x < el + 1)
        ct = x;
    if (ct >= 0)
        r.connect_us = ct * 1000;
    if (lt >= 0) {
        r.wait_us = (lt - (ct > 0 ? ct : 0)) * 1000;
        if (r.wait_us < 0)
            r.wait_us = 0;
        r.recv_us = el > lt ? (el - lt) * 1000 : 0;
    }
    return imp_record(p, &r);
}

static int imp_csv(mt_imp_t *p, const char *s, const char *e)
{
    const char *f[CSV_MAX], *fe[CSV_MAX];
    int n;
    if (csv_split(s, e, f, fe, &n) != 0)
        return imp_bad(p, p->line, "not a CSV line (an unterminated quote, or over %d columns)",
                       CSV_MAX);
    if (!p->csv_ready) {
        size_t lens[CSV_MAX];
        for (int i = 0; i < n; i++)
            lens[i] = (size_t)(fe[i] - f[i]);
        int header = 0;
        for (int i = 0; i < n; i++)
            header |= lens[i] == 9 && memcmp(f[i], "timeStamp", 9) == 0;
        if (header) {
            csv_columns(p, f, lens, n);
            if (p->col[C_EL] < 0 || p->col[C_TS] < 0) {
                p->csv_ready = 0;
                return imp_bad(p, p->line, "the header has no 'timeStamp' or 'elapsed' column");
            }
            return MT_OK;
        }
        const char *dn[CSV_MAX];
        size_t dl[CSV_MAX];
        int nd = (int)(sizeof jtl_default / sizeof jtl_default[0]);
        for (int i = 0; i < nd; i++) {
            dn[i] = jtl_default[i];
            dl[i] = strlen(jtl_default[i]);
        }
        csv_columns(p, dn, dl, nd);
    }
    if (n != p->csv_ncols)
        return imp_bad(p, p->line, "%d columns, the header has %d", n, p->csv_ncols);
    jtl_fields_t j;
    for (int w = 0; w < C__N; w++) {
        j.v[w] = p->col[w] >= 0 ? f[p->col[w]] : NULL;
        j.ve[w] = p->col[w] >= 0 ? fe[p->col[w]] : NULL;
    }
    return imp_jtl(p, &j);
}

/* ---- JTL XML (expat) ---- */

static const char *const xml_attr[C__N] = {"ts", "t", "lb", "rc", "s", "by", "sby", "lt", "ct"};

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    mt_imp_t *p = ud;
    p->xdepth++;
    if (p->err || p->xdepth != 2)
        return;
    if (strcmp(name, "httpSample") != 0 && strcmp(name, "sample") != 0)
        return;
    jtl_fields_t j;
    memset(&j, 0, sizeof j);
    for (size_t i = 0; atts[i] && atts[i + 1]; i += 2)
        for (int w = 0; w < C__N; w++)
            if (strcmp(atts[i], xml_attr[w]) == 0) {
                j.v[w] = atts[i + 1];
                j.ve[w] = atts[i + 1] + strlen(atts[i + 1]);
            }
    p->line = (uint64_t)XML_GetCurrentLineNumber(p->xp);
    int rc = imp_jtl(p, &j);
    if (rc != MT_OK) {
        p->err = rc;
        XML_StopParser(p->xp, XML_FALSE);
    }
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    mt_imp_t *p = ud;
    (void)name;
    p->xdepth--;
}

static int imp_xml(mt_imp_t *p, const char *buf, size_t len, int final)
{
    if (p->xml_dead)
        return p->err;
    if (p->xp == NULL) {
        p->xp = XML_ParserCreate("UTF-8");
        if (p->xp == NULL)
            return MT_ENOMEM;
        XML_SetUserData(p->xp, p);
        XML_SetElementHandler(p->xp, xml_start, xml_end);
    }
    while (len > 0 || final) {
        int n = len > (1u << 30) ? 1 << 30 : (int)len;
        int fin = final && (size_t)n == len;
        if (XML_Parse(p->xp, buf, n, fin) == XML_STATUS_ERROR) {
            if (p->err)
                return p->err;
            p->xml_dead = 1;
            uint64_t ln = (uint64_t)XML_GetCurrentLineNumber(p->xp);
            int rc = imp_bad(p, ln, "column %lu: XML: %s (the rest of the file is not read)",
                             (unsigned long)XML_GetCurrentColumnNumber(p->xp),
                             XML_ErrorString(XML_GetErrorCode(p->xp)));
            return rc;
        }
        buf += n;
        len -= (size_t)n;
        if (fin)
            break;
    }
    p->st.lines = (uint64_t)XML_GetCurrentLineNumber(p->xp);
    return p->err;
}

/* ---- k6 NDJSON ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* RFC 3339 ("2024-05-01T10:00:00.123456789+02:00", "...Z") to unix us; -1 on error. */
static int rfc3339_us(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    const char *q = s + 19;
    int64_t frac = 0, m = 100000;
    if (*q == '.') {
        q++;
        if (*q < '0' || *q > '9')
            return -1;
        for (; *q >= '0' && *q <= '9'; q++) {
            frac += (*q - '0') * m;
            m /= 10;
        }
    }
    int64_t off = 0;
    if (*q == 'Z' || *q == 'z')
        q++;
    else if (*q == '+' || *q == '-') {
        int oh, om, k = 0;
        if (sscanf(q + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
            return -1;
        off = (oh * 3600 + om * 60) * (*q == '-' ? -1 : 1);
        q += 6;
    } else
        return -1;
    if (*q != '\0')
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out = ((days * 86400 + h * 3600 + mi * 60 + se) - off) * 1000000 + frac;
    return 0;
}

/* k6's error_code tag (docs: k6 error codes) to an error kind */
static int k6_kind(long code)
{
    if (code == 1050)
        return MT_ERR_TIMEOUT;
    if (code >= 1100 && code < 1200)
        return MT_ERR_DNS;
    if (code == 1211)
        return MT_ERR_TIMEOUT;
    if (code == 1212)
        return MT_ERR_REFUSED;
    if (code == 1201 || code == 1220)
        return MT_ERR_RESET;
    if (code >= 1300 && code < 1400)
        return MT_ERR_TLS;
    if (code >= 1600 && code < 1700)
        return MT_ERR_PROTOCOL;
    return MT_ERR_OTHER;
}

static int imp_k6(mt_imp_t *p, const char *s, const char *e)
{
    json_error_t je;
    json_t *o = json_loadb(s, (size_t)(e - s), JSON_REJECT_DUPLICATES, &je);
    int rc = MT_OK;
    if (o == NULL)
        return imp_bad(p, p->line, "column %d: not JSON: %s", je.column, je.text);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *metric = json_string_value(json_object_get(o, "metric"));
    json_t *data = json_object_get(o, "data");
    if (type == NULL || metric == NULL || !json_is_object(data)) {
        rc = imp_bad(p, p->line, "not a k6 record (no \"type\", \"metric\" or \"data\")");
        goto out;
    }
    if (strcmp(type, "Point") != 0) {
        p->st.ignored++;
        goto out;
    }
    static const char *const parts[4] = {"http_req_connecting", "http_req_sending",
                                         "http_req_waiting", "http_req_receiving"};
    json_t *jv = json_object_get(data, "value");
    const char *time = json_string_value(json_object_get(data, "time"));
    int64_t t_us;
    if (!json_is_number(jv) || time == NULL || rfc3339_us(time, &t_us) != 0) {
        rc = imp_bad(p, p->line, "a Point without a number \"value\" or an RFC 3339 \"time\"");
        goto out;
    }
    double ms = json_number_value(jv);
    if (!(ms >= 0 && ms < 3.6e9)) {
        rc = imp_bad(p, p->line, "value %g ms out of range", ms);
        goto out;
    }
    int64_t us = (int64_t)(ms * 1000.0 + 0.5);
    for (int i = 0; i < 4; i++)
        if (strcmp(metric, parts[i]) == 0) {
            if (p->bd[i] == NULL && mt_hist_new_latency(&p->bd[i]) != MT_OK) {
                rc = MT_ENOMEM;
                goto out;
            }
            mt_hist_record_clamped(p->bd[i], us);
            p->st.ignored++;
            goto out;
        }
    if (strcmp(metric, "http_req_duration") != 0) {
        p->st.ignored++;
        goto out;
    }
    imp_rec_t r = {.err_kind = -1,
                   .failed = -1,
                   .connect_us = -1,
                   .send_us = -1,
                   .wait_us = -1,
                   .recv_us = -1};
    r.t_us = t_us - us; /* k6 stamps a request's samples with its end */
    r.lat_us = us;
    json_t *tags = json_object_get(data, "tags");
    const char *status = json_string_value(json_object_get(tags, "status"));
    const char *ecode = json_string_value(json_object_get(tags, "error_code"));
    const char *name = json_string_value(json_object_get(tags, "name"));
    const char *expected = json_string_value(json_object_get(tags, "expected_response"));
    long st = status ? strtol(status, NULL, 10) : 0;
    if (st > 0 && st < 1000)
        r.status = (int)st;
    else
        r.err_kind = k6_kind(ecode ? strtol(ecode, NULL, 10) : 0);
    if (expected)
        r.failed = strcmp(expected, "true") != 0;
    if (name) {
        r.tag = name;
        r.tag_len = strlen(name);
    }
    rc = imp_record(p, &r);
out:
    json_decref(o);
    return rc;
}

/* ---- lines and detection ---- */

static int imp_line(mt_imp_t *p, const char *s, const char *e)
{
    p->line++;
    p->st.lines = p->line;
    if (e > s && e[-1] == '\r')
        e--;
    if (s == e)
        return MT_OK;
    if (p->fmt == MT_IMP_K6 && (*s == ' ' || *s == '\t')) {
        const char *q = s;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q == e)
            return MT_OK;
    }
    switch (p->fmt) {
    case MT_IMP_PHOUT:
        return imp_phout(p, s, e);
    case MT_IMP_JTL_CSV:
        return imp_csv(p, s, e);
    case MT_IMP_K6:
        return imp_k6(p, s, e);
    default:
        return MT_EINVAL;
    }
}

static mt_imp_format_t imp_detect(const char *s, size_t n)
{
    size_t i = 0;
    if (n >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        i = 3;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i < n && s[i] == '<')
        return MT_IMP_JTL_XML;
    if (i < n && s[i] == '{')
        return MT_IMP_K6;
    const char *nl = memchr(s + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - s) : n;
    size_t tabs = 0, commas = 0;
    for (size_t k = i; k < end; k++)
        tabs += s[k] == '\t', commas += s[k] == ',';
    if (tabs >= 11)
        return MT_IMP_PHOUT;
    if (commas >= 1 && memmem(s + i, end - i, "timeStamp", 9) != NULL &&
        memmem(s + i, end - i, "elapsed", 7) != NULL)
        return MT_IMP_JTL_CSV; /* a header line */
    if (commas >= 2) {
        size_t d = i;
        while (d < end && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d - i >= 10 && d < end && s[d] == ',')
            return MT_IMP_JTL_CSV;
    }
    return MT_IMP_AUTO;
}

static int imp_lines(mt_imp_t *p, const char *buf, size_t len)
{
    const char *s = buf, *e = buf + len;
    while (s < e) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));
        if (nl == NULL) {
            size_t n = (size_t)(e - s);
            if (p->part_over || p->plen + n > MT_IMP_MAX_LINE) {
                p->part_over = 1;
                p->plen = 0;
                return MT_OK;
            }
            memcpy(p->part + p->plen, s, n);
            p->plen += n;
            return MT_OK;
        }
        int rc;
        if (p->part_over) {
            p->line++;
            rc = imp_bad(p, p->line, "line over %u bytes", MT_IMP_MAX_LINE);
            p->part_over = 0;
            p->plen = 0;
        } else if (p->plen > 0) {
            size_t n = (size_t)(nl - s);
            if (p->plen + n > MT_IMP_MAX_LINE) {
                p->line++;
                rc = imp_bad(p, p->line, "line over %u bytes", MT_IMP_MAX_LINE);
            } else {
                memcpy(p->part + p->plen, s, n);
                rc = imp_line(p, p->part, p->part + p->plen + n);
            }
            p->plen = 0;
        } else {
            rc = imp_line(p, s, nl);
        }
        if (rc != MT_OK)
            return p->err = rc;
        s = nl + 1;
    }
    return MT_OK;
}

static int imp_dispatch(mt_imp_t *p, const char *buf, size_t len, int final)
{
    if (p->fmt == MT_IMP_JTL_XML)
        return imp_xml(p, buf, len, final);
    int rc = imp_lines(p, buf, len);
    if (rc == MT_OK && final && (p->plen > 0 || p->part_over)) {
        if (p->part_over) {
            p->line++;
            rc = imp_bad(p, p->line, "line over %u bytes", MT_IMP_MAX_LINE);
        } else
            rc = imp_line(p, p->part, p->part + p->plen);
        p->plen = 0;
        p->part_over = 0;
        if (rc != MT_OK)
            p->err = rc;
    }
    return rc;
}

/* The format is known or must be now: the kept head, then the rest. */
static int imp_detected(mt_imp_t *p, const char *rest, size_t len)
{
    if (p->fmt == MT_IMP_AUTO)
        p->fmt = imp_detect(p->head, p->hlen);
    if (p->fmt == MT_IMP_AUTO) {
        snprintf(p->errmsg, sizeof p->errmsg,
                 "%s: cannot tell the format from the first line (phout, JTL CSV or XML, k6 "
                 "JSON); give --format",
                 p->name);
        return p->err = MT_EPARSE;
    }
    size_t hl = p->hlen;
    p->hlen = 0;
    int rc = imp_dispatch(p, p->head, hl, 0);
    if (rc == MT_OK && len > 0)
        rc = imp_dispatch(p, rest, len, 0);
    return rc;
}

int mt_imp_feed(mt_imp_t *p, const char *buf, size_t len)
{
    if (p->err)
        return p->err;
    if (p->fmt == MT_IMP_AUTO) {
        /* keep bytes until the first non-blank line is whole */
        size_t room = MT_IMP_MAX_LINE - p->hlen;
        size_t n = len < room ? len : room;
        memcpy(p->head + p->hlen, buf, n);
        p->hlen += n;
        buf += n;
        len -= n;
        size_t i = 0;
        while (i < p->hlen && (p->head[i] == ' ' || p->head[i] == '\t' || p->head[i] == '\r' ||
                               p->head[i] == '\n'))
            i++;
        int whole = (i < p->hlen && (p->head[i] == '<' || p->head[i] == '{')) ||
                    memchr(p->head + i, '\n', p->hlen - i) != NULL || p->hlen == MT_IMP_MAX_LINE;
        if (!whole)
            return MT_OK;
        return imp_detected(p, buf, len);
    }
    return imp_dispatch(p, buf, len, 0);
}

int mt_imp_finish(mt_imp_t *p)
{
    if (p->err)
        return p->err;
    int rc;
    if (p->fmt == MT_IMP_AUTO) {
        if (p->hlen == 0)
            return MT_OK; /* empty input: no seconds */
        rc = imp_detected(p, NULL, 0);
        if (rc != MT_OK)
            return rc;
    }
    rc = imp_dispatch(p, "", 0, 1);
    if (rc != MT_OK)
        return rc;
    while (p->lo != INT64_MIN && p->lo <= p->hi) {
        rc = imp_close_lo(p);
        if (rc)
            return rc;
    }
    return MT_OK;
}

int mt_imp_new(const mt_imp_opts_t *o, mt_imp_second_cb cb, void *ud, mt_imp_t **out)
{
    mt_imp_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return MT_ENOMEM;
    p->o = *o;
    if (p->o.window_s == 0)
        p->o.window_s = MT_IMP_DEFAULT_WINDOW;
    if (p->o.window_s > 3600) {
        free(p);
        return MT_EINVAL;
    }
    snprintf(p->name, sizeof p->name, "%s", o->name ? o->name : "input");
    p->o.name = p->name;
    p->cb = cb;
    p->ud = ud;
    p->fmt = o->format;
    p->lo = p->hi = INT64_MIN;
    p->nslots = p->o.window_s + 1;
    p->tags[0] = calloc(1, 1);
    p->ntags = 1;
    p->part = malloc(MT_IMP_MAX_LINE);
    p->head = malloc(MT_IMP_MAX_LINE);
    p->slots = calloc(p->nslots, sizeof *p->slots);
    if (p->tags[0] == NULL || p->part == NULL || p->head == NULL || p->slots == NULL ||
        mt_hist_new_latency(&p->empty) != MT_OK) {
        mt_imp_free(p);
        return MT_ENOMEM;
    }
    for (uint32_t i = 0; i < p->nslots; i++) {
        p->slots[i].abs = INT64_MIN;
        if (mt_hist_new_latency(&p->slots[i].lat) != MT_OK) {
            mt_imp_free(p);
            return MT_ENOMEM;
        }
    }
    *out = p;
    return MT_OK;
}

const mt_imp_stats_t *mt_imp_stats(const mt_imp_t *p)
{
    mt_imp_t *q = (mt_imp_t *)p;
    q->st.connect = p->bd[0];
    q->st.send = p->bd[1];
    q->st.wait = p->bd[2];
    q->st.recv = p->bd[3];
    return &p->st;
}

const char *mt_imp_error(const mt_imp_t *p)
{
    return p->errmsg;
}

mt_imp_format_t mt_imp_format(const mt_imp_t *p)
{
    return p->fmt;
}

int64_t mt_imp_start_unix_ns(const mt_imp_t *p)
{
    return p->started ? p->base * 1000000000 : 0;
}

void mt_imp_free(mt_imp_t *p)
{
    if (p == NULL)
        return;
    if (p->xp)
        XML_ParserFree(p->xp);
    for (size_t i = 0; i < p->ntags; i++)
        free(p->tags[i]);
    for (uint32_t i = 0; p->slots && i < p->nslots; i++) {
        mt_hist_free(p->slots[i].lat);
        for (size_t t = 0; p->slots[i].thist && t < MT_MAX_TAGS; t++)
            mt_hist_free(p->slots[i].thist[t]);
        free(p->slots[i].thist);
        free(p->slots[i].tc);
    }
    for (int i = 0; i < 4; i++)
        mt_hist_free(p->bd[i]);
    mt_hist_free(p->empty);
    free(p->slots);
    free(p->part);
    free(p->head);
    free(p);
}
