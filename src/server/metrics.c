/* Prometheus metrics registry (metrics.h): families kept sorted by name, series sorted by
 * their canonical label text, one mutex; rendered in the text exposition format 0.0.4. */
#include "server/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"

#define MET_MAX_FAMILIES 256
#define MET_MAX_SERIES   20000 /* per family: live-run labels are bounded by this */
#define MET_MAX_LABELS   16
#define MET_MAX_LABEL    1024 /* bytes of canonical label text */

typedef struct met_series {
    char *key; /* canonical label text: name="escaped value",... sorted by name; "" = none */
    double v;
} met_series_t;

typedef struct met_family {
    char *name, *help;
    enum mt__metric_type type;
    met_series_t *s;
    size_t n, cap;
} met_family_t;

struct mt__metrics {
    pthread_mutex_t mu;
    met_family_t *f;
    size_t n;
};

int mt__metrics_new(mt__metrics_t **out)
{
    mt__metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return MT_ENOMEM;
    if (!(m->f = calloc(MET_MAX_FAMILIES, sizeof *m->f))) {
        free(m);
        return MT_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return MT_OK;
}

void mt__metrics_free(mt__metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        for (size_t j = 0; j < m->f[i].n; j++)
            free(m->f[i].s[j].key);
        free(m->f[i].s);
        free(m->f[i].name);
        free(m->f[i].help);
    }
    free(m->f);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int met_name_ok(const char *s, int colons)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colons && c == ':') || (p > s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Index of name, or -(insertion point) - 1. */
static long met_find_family(const mt__metrics_t *m, const char *name)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->f[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int mt__metrics_declare(mt__metrics_t *m, const char *name, enum mt__metric_type t,
                        const char *help)
{
    size_t nl;
    long i;
    int rc = MT_OK;

    if (!m || !met_name_ok(name, 1) || (t != MT_COUNTER && t != MT_GAUGE && t != MT_SUMMARY))
        return MT_EINVAL;
    nl = strlen(name);
    /* counters end in _total (the convention promtool checks) */
    if (t == MT_COUNTER && (nl <= 6 || strcmp(name + nl - 6, "_total") != 0))
        return MT_EINVAL;
    pthread_mutex_lock(&m->mu);
    i = met_find_family(m, name);
    if (i >= 0) {
        rc = m->f[i].type == t ? MT_OK : MT_ECONFLICT;
        goto out;
    }
    if (m->n == MET_MAX_FAMILIES) {
        rc = MT_ETOOBIG;
        goto out;
    }
    size_t at = (size_t)(-i - 1);
    met_family_t f = {0};
    f.name = strdup(name);
    f.help = strdup(help ? help : "");
    f.type = t;
    if (!f.name || !f.help) {
        free(f.name);
        free(f.help);
        rc = MT_ENOMEM;
        goto out;
    }
    memmove(&m->f[at + 1], &m->f[at], (m->n - at) * sizeof *m->f);
    m->f[at] = f;
    m->n++;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- labels -------------------------------------------------------------------------------- */

typedef struct met_label {
    char name[64];
    char value[MET_MAX_LABEL]; /* unescaped */
} met_label_t;

static int met_label_cmp(const void *a, const void *b)
{
    return strcmp(((const met_label_t *)a)->name, ((const met_label_t *)b)->name);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t met_utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Appends the value escaped for the exposition format (\\, \", \n); bytes that are not
 * UTF-8 become U+FFFD, so the output always parses. */
static int met_escape(char *out, size_t cap, size_t *len, const char *v)
{
    while (*v) {
        const char *e = v;
        size_t el = met_utf8_len((const unsigned char *)v), adv = el ? el : 1;
        if (*v == '\\')
            e = "\\\\", el = 2;
        else if (*v == '"')
            e = "\\\"", el = 2;
        else if (*v == '\n')
            e = "\\n", el = 2;
        else if (el == 0)
            e = "\xef\xbf\xbd", el = 3;
        if (*len + el >= cap)
            return MT_ETOOBIG;
        memcpy(out + *len, e, el);
        *len += el;
        v += adv;
    }
    out[*len] = '\0';
    return MT_OK;
}

/* Parses `name="value",...` (values with \\ \" \n escapes; spaces around items allowed, a
 * trailing comma too) into the canonical text: names sorted, values re-escaped. */
static int met_canon_labels(const char *text, char *out, size_t cap)
{
    met_label_t *l = malloc(MET_MAX_LABELS * sizeof *l);
    size_t n = 0, len = 0;
    const char *p = text ? text : "";
    int rc = MT_EINVAL;

    if (!l)
        return MT_ENOMEM;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == MET_MAX_LABELS)
            goto out;
        met_label_t *x = &l[n];
        size_t k = 0;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
               (k > 0 && *p >= '0' && *p <= '9')) {
            if (k + 1 >= sizeof x->name)
                goto out;
            x->name[k++] = *p++;
        }
        x->name[k] = '\0';
        if (k == 0 || (x->name[0] == '_' && x->name[1] == '_'))
            goto out;
        while (*p == ' ')
            p++;
        if (*p++ != '=')
            goto out;
        while (*p == ' ')
            p++;
        if (*p++ != '"')
            goto out;
        k = 0;
        while (*p != '"') {
            char c = *p++;
            if (c == '\0')
                goto out;
            if (c == '\\') {
                c = *p++;
                if (c == 'n')
                    c = '\n';
                else if (c != '\\' && c != '"')
                    goto out;
            }
            if (k + 1 >= sizeof x->value)
                goto out;
            x->value[k++] = c;
        }
        p++;
        x->value[k] = '\0';
        n++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            goto out;
    }
    qsort(l, n, sizeof *l, met_label_cmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(l[i - 1].name, l[i].name) == 0) {
            rc = MT_EINVAL; /* duplicate label */
            goto out;
        }
        int w = snprintf(out + len, cap - len, "%s%s=\"", i ? "," : "", l[i].name);
        if (w < 0 || (size_t)w >= cap - len) {
            rc = MT_ETOOBIG;
            goto out;
        }
        len += (size_t)w;
        if ((rc = met_escape(out, cap, &len, l[i].value)) < 0)
            goto out;
        if (len + 1 >= cap) {
            rc = MT_ETOOBIG;
            goto out;
        }
        out[len++] = '"';
        out[len] = '\0';
    }
    rc = MT_OK;
out:
    free(l);
    return rc;
}

int mt__metrics_labels(char *out, size_t n, ...)
{
    va_list ap;
    size_t len = 0;
    const char *k;
    int rc = MT_OK;

    if (!out || n == 0)
        return MT_EINVAL;
    out[0] = '\0';
    va_start(ap, n);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        int w;
        if (!met_name_ok(k, 0) || !v) {
            rc = MT_EINVAL;
            break;
        }
        w = snprintf(out + len, n - len, "%s%s=\"", len ? "," : "", k);
        if (w < 0 || (size_t)w >= n - len) {
            rc = MT_ETOOBIG;
            break;
        }
        len += (size_t)w;
        if ((rc = met_escape(out, n, &len, v)) < 0)
            break;
        if (len + 1 >= n) {
            rc = MT_ETOOBIG;
            break;
        }
        out[len++] = '"';
        out[len] = '\0';
    }
    va_end(ap);
    if (rc < 0)
        out[0] = '\0';
    return rc;
}

/* ---- updates ------------------------------------------------------------------------------- */

/* Index of key in f, or -(insertion point) - 1. */
static long met_find_series(const met_family_t *f, const char *key)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(f->s[mid].key, key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

enum met_op { MET_ADD, MET_SET, MET_REMOVE };

static void met_update(mt__metrics_t *m, const char *name, const char *labels, double v,
                       enum met_op op)
{
    char key[MET_MAX_LABEL];
    long fi, si;

    if (!m || !name || met_canon_labels(labels, key, sizeof key) < 0)
        return;
    pthread_mutex_lock(&m->mu);
    if ((fi = met_find_family(m, name)) < 0)
        goto out; /* undeclared: ignored */
    met_family_t *f = &m->f[fi];
    if (op == MET_ADD && f->type == MT_COUNTER && !(v >= 0))
        goto out; /* counters only go up */
    si = met_find_series(f, key);
    if (op == MET_REMOVE) {
        if (si >= 0) {
            free(f->s[si].key);
            memmove(&f->s[si], &f->s[si + 1], (f->n - (size_t)si - 1) * sizeof *f->s);
            f->n--;
        }
        goto out;
    }
    if (si < 0) {
        size_t at = (size_t)(-si - 1);
        if (f->n == MET_MAX_SERIES)
            goto out;
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 8;
            met_series_t *s = realloc(f->s, cap * sizeof *s);
            if (!s)
                goto out;
            f->s = s;
            f->cap = cap;
        }
        char *k = strdup(key);
        if (!k)
            goto out;
        memmove(&f->s[at + 1], &f->s[at], (f->n - at) * sizeof *f->s);
        f->s[at].key = k;
        f->s[at].v = 0;
        f->n++;
        si = (long)at;
    }
    if (op == MET_ADD)
        f->s[si].v += v;
    else
        f->s[si].v = v;
out:
    pthread_mutex_unlock(&m->mu);
}

void mt__metrics_add(mt__metrics_t *m, const char *name, const char *labels, double v)
{
    met_update(m, name, labels, v, MET_ADD);
}

void mt__metrics_set(mt__metrics_t *m, const char *name, const char *labels, double v)
{
    met_update(m, name, labels, v, MET_SET);
}

void mt__metrics_remove(mt__metrics_t *m, const char *name, const char *labels)
{
    met_update(m, name, labels, 0, MET_REMOVE);
}

/* ---- rendering ----------------------------------------------------------------------------- */

typedef struct met_buf {
    char *b;
    size_t n, cap;
    int oom;
} met_buf_t;

static void met_put(met_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void met_put(met_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int w;
    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        w = vsnprintf(b->b + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)w;
        char *nb = realloc(b->b, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->b = nb;
        b->cap = cap;
    }
}

/* HELP text: backslash and newline escaped. */
static void met_put_help(met_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            met_put(b, "\\\\");
        else if (*s == '\n')
            met_put(b, "\\n");
        else
            met_put(b, "%c", *s);
    }
}

static void met_put_value(met_buf_t *b, double v)
{
    if (isnan(v))
        met_put(b, "NaN");
    else if (isinf(v))
        met_put(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        met_put(b, "%.0f", v);
    else {
        /* the shortest of %.15g..%.17g that reads back as the same double */
        char t[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(t, sizeof t, "%.*g", prec, v);
            if (strtod(t, NULL) == v)
                break;
        }
        met_put(b, "%s", t);
    }
}

char *mt__metrics_render(mt__metrics_t *m, size_t *len)
{
    met_buf_t b = {0};
    if (len)
        *len = 0;
    if (!m)
        return NULL;
    b.cap = 4096;
    if (!(b.b = malloc(b.cap)))
        return NULL;
    b.b[0] = '\0';
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        const met_family_t *f = &m->f[i];
        met_put(&b, "# HELP %s ", f->name);
        met_put_help(&b, f->help);
        met_put(&b, "\n# TYPE %s %s\n", f->name,
                f->type == MT_COUNTER ? "counter"
                : f->type == MT_GAUGE ? "gauge"
                                      : "summary");
        for (size_t j = 0; j < f->n; j++) {
            if (f->s[j].key[0])
                met_put(&b, "%s{%s} ", f->name, f->s[j].key);
            else
                met_put(&b, "%s ", f->name);
            met_put_value(&b, f->s[j].v);
            met_put(&b, "\n");
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        free(b.b);
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.b;
}
