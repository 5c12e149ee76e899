/* Yandex.Tank INI configs -> the YAML document of the equivalent load.yaml (runspec/ini.h). */
#include "runspec/ini.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ini_entry {
    char *key; /* lower-cased */
    size_t kline, kcol;
    char *val; /* continuation lines joined with '\n' */
    size_t vlen;
    size_t vline, vcol, vend_line;
} ini_entry_t;

typedef struct ini_section {
    char *name;
    size_t line, col;
    ini_entry_t *e;
    size_t n, cap;
} ini_section_t;

typedef struct ini {
    ini_section_t *s;
    size_t n, cap;
    mt_parse_err_t *err;
} ini_t;

static int ini_fail(ini_t *x, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ini_fail(ini_t *x, size_t line, size_t col, const char *fmt, ...)
{
    va_list ap;
    x->err->line = (int)line + 1;
    x->err->col = (int)col + 1;
    va_start(ap, fmt);
    vsnprintf(x->err->msg, sizeof(x->err->msg), fmt, ap);
    va_end(ap);
    return MT_EPARSE;
}

static int ini_nomem(ini_t *x)
{
    x->err->line = 0;
    x->err->col = 0;
    snprintf(x->err->msg, sizeof(x->err->msg), "out of memory");
    return MT_ENOMEM;
}

static bool ini_space(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

static void ini_free(ini_t *x)
{
    for (size_t i = 0; i < x->n; i++) {
        for (size_t j = 0; j < x->s[i].n; j++) {
            free(x->s[i].e[j].key);
            free(x->s[i].e[j].val);
        }
        free(x->s[i].e);
        free(x->s[i].name);
    }
    free(x->s);
}

/* A printable excerpt of s[0..n) for messages. */
static const char *ini_show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++)
        buf[k++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    if (k + 4 >= cap && n > k) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

static char *ini_dup(const char *s, size_t n, bool lower)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = lower && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    p[n] = '\0';
    return p;
}

/* The line [*pos, end of line) without its "\r\n"; advances *pos past the newline. */
static void ini_line(const char *buf, size_t len, size_t *pos, const char **l, size_t *ll)
{
    const char *nl = memchr(buf + *pos, '\n', len - *pos);
    size_t n = nl != NULL ? (size_t)(nl - (buf + *pos)) : len - *pos;
    *l = buf + *pos;
    *pos += n + (nl != NULL ? 1 : 0);
    if (n > 0 && (*l)[n - 1] == '\r')
        n--;
    *ll = n;
}

bool mt__ini_detect(const char *buf, size_t len)
{
    size_t pos = 0;
    if (buf == NULL)
        return false;
    while (pos < len) {
        const char *l;
        size_t ll, i = 0, e;
        ini_line(buf, len, &pos, &l, &ll);
        while (i < ll && ini_space(l[i]))
            i++;
        if (i == ll || l[i] == '#' || l[i] == ';')
            continue;
        if (l[i] != '[')
            return false;
        e = ll;
        while (e > i && ini_space(l[e - 1]))
            e--;
        if (e - i < 3 || l[e - 1] != ']')
            return false;
        for (size_t k = i + 1; k < e - 1; k++) {
            char c = l[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ' '))
                return false;
        }
        return true;
    }
    return false;
}

static int ini_add_section(ini_t *x, const char *name, size_t n, size_t line, size_t col)
{
    for (size_t i = 0; i < x->n; i++)
        if (strlen(x->s[i].name) == n && memcmp(x->s[i].name, name, n) == 0) {
            char show[64];
            return ini_fail(x, line, col, "section [%s] given twice (first at line %zu)",
                            ini_show(name, n, show, sizeof(show)), x->s[i].line + 1);
        }
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        ini_section_t *ns = realloc(x->s, cap * sizeof(*ns));
        if (ns == NULL)
            return ini_nomem(x);
        x->s = ns;
        x->cap = cap;
    }
    memset(&x->s[x->n], 0, sizeof(x->s[x->n]));
    x->s[x->n].name = ini_dup(name, n, false);
    if (x->s[x->n].name == NULL)
        return ini_nomem(x);
    x->s[x->n].line = line;
    x->s[x->n].col = col;
    x->n++;
    return MT_OK;
}

static int ini_add_entry(ini_t *x, const char *k, size_t kn, size_t kline, size_t kcol,
                         const char *v, size_t vn, size_t vcol)
{
    ini_section_t *s = &x->s[x->n - 1];
    ini_entry_t *e;
    char *key = ini_dup(k, kn, true);

    if (key == NULL)
        return ini_nomem(x);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].key, key) == 0) {
            char show[64], sshow[64];
            int rc = ini_fail(x, kline, kcol, "key '%s' given twice in [%s] (first at line %zu)",
                              ini_show(key, kn, show, sizeof(show)),
                              ini_show(s->name, strlen(s->name), sshow, sizeof(sshow)),
                              s->e[i].kline + 1);
            free(key);
            return rc;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        ini_entry_t *ne = realloc(s->e, cap * sizeof(*ne));
        if (ne == NULL) {
            free(key);
            return ini_nomem(x);
        }
        s->e = ne;
        s->cap = cap;
    }
    e = &s->e[s->n];
    memset(e, 0, sizeof(*e));
    e->key = key;
    e->kline = kline;
    e->kcol = kcol;
    e->val = ini_dup(v, vn, false);
    if (e->val == NULL) {
        free(key);
        return ini_nomem(x);
    }
    s->n++;
    e->vlen = vn;
    e->vline = e->vend_line = kline;
    e->vcol = vcol;
    return MT_OK;
}

/* A continuation line: appended to the last value with a newline. */
static int ini_continue(ini_t *x, const char *t, size_t n, size_t line, size_t col)
{
    ini_entry_t *e = &x->s[x->n - 1].e[x->s[x->n - 1].n - 1];
    char *nv = realloc(e->val, e->vlen + n + 2);
    if (nv == NULL)
        return ini_nomem(x);
    e->val = nv;
    if (e->vlen == 0) { /* "uris =" then the values on the next lines: the value starts here */
        e->vline = line;
        e->vcol = col;
    } else {
        e->val[e->vlen++] = '\n';
    }
    memcpy(e->val + e->vlen, t, n);
    e->vlen += n;
    e->val[e->vlen] = '\0';
    e->vend_line = line;
    return MT_OK;
}

static int ini_read(ini_t *x, const char *buf, size_t len)
{
    size_t pos = 0, line = 0;
    bool in_value = false; /* the last line was a key (or its continuation) */
    int rc;

    for (; pos < len; line++) {
        const char *l;
        size_t ll, i = 0, e;
        ini_line(buf, len, &pos, &l, &ll);
        if (ll > MT_INI_MAX_LINE)
            return ini_fail(x, line, 0, "line longer than %d bytes", MT_INI_MAX_LINE);
        if (memchr(l, '\0', ll) != NULL)
            return ini_fail(x, line, (size_t)((const char *)memchr(l, '\0', ll) - l),
                            "a NUL byte (not a text file)");
        while (i < ll && ini_space(l[i]))
            i++;
        e = ll;
        while (e > i && ini_space(l[e - 1]))
            e--;
        if (i == e)
            continue; /* blank: a value may go on after it, as in ConfigParser */
        if (l[i] == '#' || l[i] == ';')
            continue;
        if (i > 0 && in_value) {
            if ((rc = ini_continue(x, l + i, e - i, line, i)) != MT_OK)
                return rc;
            continue;
        }
        if (l[i] == '[') {
            size_t ni, ne;
            if (l[e - 1] != ']')
                return ini_fail(x, line, i, "a section header needs a closing ']' ([phantom])");
            ni = i + 1;
            ne = e - 1;
            while (ni < ne && ini_space(l[ni]))
                ni++;
            while (ne > ni && ini_space(l[ne - 1]))
                ne--;
            if (ni == ne)
                return ini_fail(x, line, i, "empty section name");
            if ((rc = ini_add_section(x, l + ni, ne - ni, line, ni)) != MT_OK)
                return rc;
            in_value = false;
            continue;
        }
        {
            size_t d = i, ke, vs;
            char show[64];
            while (d < e && l[d] != '=' && l[d] != ':')
                d++;
            if (d == e)
                return ini_fail(x, line, i, "expected 'key = value' or a [section], got '%s'",
                                ini_show(l + i, e - i, show, sizeof(show)));
            ke = d;
            while (ke > i && ini_space(l[ke - 1]))
                ke--;
            if (ke == i)
                return ini_fail(x, line, d, "a key is missing before '%c'", l[d]);
            if (x->n == 0)
                return ini_fail(x, line, i,
                                "'%s' is outside any section (Tank's INI keys go under "
                                "[phantom], [autostop], ...)",
                                ini_show(l + i, ke - i, show, sizeof(show)));
            vs = d + 1;
            while (vs < e && ini_space(l[vs]))
                vs++;
            if ((rc = ini_add_entry(x, l + i, ke - i, line, i, l + vs, e - vs, vs)) != MT_OK)
                return rc;
            in_value = true;
        }
    }
    return MT_OK;
}

/* ---- the document ---- */

static void ini_mark(yaml_document_t *doc, int id, size_t line, size_t col, size_t end_line)
{
    yaml_node_t *n = yaml_document_get_node(doc, id);
    n->start_mark.line = line;
    n->start_mark.column = col;
    n->end_mark.line = end_line;
    n->end_mark.column = col;
}

static int ini_scalar(yaml_document_t *doc, const char *s, size_t n, size_t line, size_t col,
                      size_t end_line)
{
    int id = yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)s, (int)n,
                                      YAML_PLAIN_SCALAR_STYLE);
    if (id > 0)
        ini_mark(doc, id, line, col, end_line);
    return id;
}

static int ini_pair(ini_t *x, yaml_document_t *doc, int map, int k, int v)
{
    if (k <= 0 || v <= 0 || !yaml_document_append_mapping_pair(doc, map, k, v))
        return ini_nomem(x);
    return MT_OK;
}

static int ini_build(ini_t *x, yaml_document_t *doc)
{
    int root, rc;

    root = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    if (root <= 0)
        return ini_nomem(x);
    for (size_t i = 0; i < x->n; i++) {
        ini_section_t *s = &x->s[i];
        const ini_entry_t *sched = NULL;
        bool phantom = strcmp(s->name, "phantom") == 0;
        int k, m;

        k = ini_scalar(doc, s->name, strlen(s->name), s->line, s->col, s->line);
        if (k <= 0)
            return ini_fail(x, s->line, s->col, "section name: not UTF-8 text");
        m = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
        if (m > 0)
            ini_mark(doc, m, s->line, s->col, s->line);
        if ((rc = ini_pair(x, doc, root, k, m)) != MT_OK)
            return rc;
        for (size_t j = 0; j < s->n; j++) {
            const ini_entry_t *e = &s->e[j];
            if (phantom && (strcmp(e->key, "rps_schedule") == 0 ||
                            strcmp(e->key, "instances_schedule") == 0)) {
                if (e->vlen == 0)
                    continue; /* Tank's default: empty */
                if (sched != NULL)
                    return ini_fail(x, e->kline, e->kcol,
                                    "both %s and %s are given (Tank takes one schedule)",
                                    sched->key, e->key);
                sched = e;
                continue;
            }
            k = ini_scalar(doc, e->key, strlen(e->key), e->kline, e->kcol, e->kline);
            int v = ini_scalar(doc, e->val, e->vlen, e->vline, e->vcol, e->vend_line);
            if (k <= 0 || v <= 0) {
                char show[64];
                return ini_fail(x, e->kline, e->kcol, "'%s': not UTF-8 text",
                                ini_show(e->key, strlen(e->key), show, sizeof(show)));
            }
            if ((rc = ini_pair(x, doc, m, k, v)) != MT_OK)
                return rc;
        }
        if (sched != NULL) {
            /* rps_schedule = X  ->  load_profile: {load_type: rps, schedule: X} */
            const char *type = sched->key[0] == 'r' ? "rps" : "instances";
            int lp, lk, tk, tv, sk, sv;
            lk = ini_scalar(doc, "load_profile", 12, sched->kline, sched->kcol, sched->kline);
            lp = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
            if (lp > 0)
                ini_mark(doc, lp, sched->kline, sched->kcol, sched->kline);
            if ((rc = ini_pair(x, doc, m, lk, lp)) != MT_OK)
                return rc;
            tk = ini_scalar(doc, "load_type", 9, sched->kline, sched->kcol, sched->kline);
            tv = ini_scalar(doc, type, strlen(type), sched->kline, sched->kcol, sched->kline);
            if ((rc = ini_pair(x, doc, lp, tk, tv)) != MT_OK)
                return rc;
            sk = ini_scalar(doc, "schedule", 8, sched->kline, sched->kcol, sched->kline);
            sv = ini_scalar(doc, sched->val, sched->vlen, sched->vline, sched->vcol,
                            sched->vend_line);
            if (sv <= 0)
                return ini_fail(x, sched->kline, sched->kcol, "%s: not UTF-8 text", sched->key);
            if ((rc = ini_pair(x, doc, lp, sk, sv)) != MT_OK)
                return rc;
        }
    }
    return MT_OK;
}

int mt__ini_to_yaml(const char *buf, size_t len, yaml_document_t *doc, mt_parse_err_t *err)
{
    ini_t x;
    int rc;

    memset(&x, 0, sizeof(x));
    x.err = err;
    memset(err, 0, sizeof(*err));
    if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
        return ini_nomem(&x);
    rc = ini_read(&x, buf != NULL ? buf : "", len);
    if (rc == MT_OK && x.n == 0)
        rc = ini_fail(&x, 0, 0, "no [section] in the INI file");
    if (rc == MT_OK)
        rc = ini_build(&x, doc);
    ini_free(&x);
    if (rc != MT_OK)
        yaml_document_delete(doc);
    return rc;
}
