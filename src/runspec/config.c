/* `mortar run --config FILE`: YAML/JSON -> long options for cmd_run.c's getopt_long loop.
 *
 * libyaml loads the file as one document of nodes (JSON is read as YAML: the same positions and
 * messages for both). The root mapping decides the format: a `phantom:` key (or an `autostop:`
 * mapping) means a Yandex.Tank load.yaml, anything else mortar's own keys, which are the long
 * flag names of `mortar run`. Values are checked only for their shape here (a number, a
 * string, a list...); what they mean is checked by cmd_run.c, the one place that validates
 * options. Mapping, defaults and what is ignored: docs/config.md; why: docs/adr/0009. */
#include "runspec/config.h"
#include "runspec/ini.h"
#include "mortar/schedule.h"
#include "runspec/keys.h"
#include "runspec/readall.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Tank's defaults where mortar's differ (yandextank/plugins/Phantom/config/schema.py) */
#define CFG_TANK_INSTANCES "1000" /* phantom.instances: the cap on concurrent clients */
#define CFG_TANK_TIMEOUT   "11s"  /* phantom.timeout */
#define CFG_TANK_PORT      "80"   /* AddressWizard: port 80 when none is given, ssl or not */

#define CFG_SHOW_MAX  40 /* bytes of user text quoted in a message */
#define CFG_MAX_DEPTH 64 /* nested lists and mappings (a config needs 4) */

typedef struct cfg {
    const char *name; /* for warnings */
    yaml_document_t *doc;
    int *argc;
    char ***argv;
    int argc0;             /* *argc at entry: rolled back to on error */
    bool argv_null;        /* *argv was NULL at entry */
    size_t cap;            /* room in *argv, in pointers, the NULL included */
    mt__config_src_t *src; /* one per appended entry */
    size_t srccap;
    bool collect; /* info given: keep warnings and origins */
    int val_off;  /* the next pushed value starts this many characters into its node */
    char **warn;
    size_t nwarn;
    char *url;
    size_t nitems; /* tank_count_item's counter */
    mt_parse_err_t *err;
    mt_parse_err_t need_url, need_ammo; /* see mt__config_info_t */
    bool ini;                           /* the document was built from a Tank INI file */
} cfg_t;

/* ---- small helpers ---- */

static char *cfg_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char cfg_lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool cfg_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static bool cfg_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* s with leading and trailing white space cut: *start and the length. */
static size_t cfg_trim(const char *s, size_t len, const char **start)
{
    while (len > 0 && cfg_is_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && cfg_is_space(s[len - 1]))
        len--;
    *start = s;
    return len;
}

/* A printable excerpt of user text for messages: bytes outside printable ASCII become '?',
 * long text is cut with "...". */
static const char *cfg_show(const char *s, size_t len, char *buf, size_t n)
{
    size_t i = 0, max = n - 4 < CFG_SHOW_MAX ? n - 4 : CFG_SHOW_MAX;
    for (; i < len && i < max; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
    if (i < len) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static char *cfg_vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *p;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    p = malloc((size_t)n + 1);
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

/* Levenshtein distance with adjacent transpositions (optimal string alignment), for
 * "did you mean"; only for short strings (the caller checks). */
static size_t cfg_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[3][65];
    size_t *pp = d[0], *p = d[1], *c = d[2];

    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        p[j] = j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = cfg_lower(a[i - 1]) == cfg_lower(b[j - 1]) ? 0 : 1;
            size_t v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        size_t *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

/* The closest of names to key when it is close enough to be a typo, else NULL. */
const char *mt__config_suggest(const char *key, const char *const *names, size_t n)
{
    size_t klen = strlen(key), best = (size_t)-1, limit;
    const char *pick = NULL;

    if (klen == 0 || klen > 64)
        return NULL;
    limit = klen <= 4 ? 1 : klen <= 8 ? 2 : 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = cfg_distance(key, names[i]);
        if (d < best) {
            best = d;
            pick = names[i];
        }
    }
    return best <= limit ? pick : NULL;
}

/* ---- errors, warnings, output ---- */

static int cfg_fail_at(cfg_t *c, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_fail(cfg_t *c, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_warn(cfg_t *c, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cfg_vfail(cfg_t *c, yaml_mark_t m, const char *fmt, va_list ap)
{
    c->err->line = (int)m.line + 1;
    c->err->col = (int)m.column + 1;
    vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
}

static int cfg_fail_at(cfg_t *c, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_vfail(c, m, fmt, ap);
    va_end(ap);
    return MT_EPARSE;
}

/* A schema error at node `at`: fills c->err, returns MT_EPARSE. */
static int cfg_fail(cfg_t *c, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_vfail(c, at->start_mark, fmt, ap);
    va_end(ap);
    return MT_EPARSE;
}

static int cfg_nomem(cfg_t *c)
{
    c->err->line = 0;
    c->err->col = 0;
    snprintf(c->err->msg, sizeof(c->err->msg), "out of memory");
    return MT_ENOMEM;
}

/* Adds "NAME:LINE:COL: text" to the warnings (when the caller wants them). */
static int cfg_warn(cfg_t *c, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;
    char *text, *line, **nw;

    if (!c->collect)
        return MT_OK;
    va_start(ap, fmt);
    text = cfg_vasprintf(fmt, ap);
    va_end(ap);
    if (text == NULL)
        return cfg_nomem(c);
    {
        int n = snprintf(NULL, 0, "%s:%zu:%zu: %s", c->name, at->start_mark.line + 1,
                         at->start_mark.column + 1, text);
        line = n < 0 ? NULL : malloc((size_t)n + 1);
        if (line != NULL)
            snprintf(line, (size_t)n + 1, "%s:%zu:%zu: %s", c->name, at->start_mark.line + 1,
                     at->start_mark.column + 1, text);
    }
    free(text);
    if (line == NULL)
        return cfg_nomem(c);
    nw = realloc(c->warn, (c->nwarn + 1) * sizeof(*nw));
    if (nw == NULL) {
        free(line);
        return cfg_nomem(c);
    }
    c->warn = nw;
    c->warn[c->nwarn++] = line;
    return MT_OK;
}

/* Appends a copy of s[0..len) to *argv; `at` is where it came from. */
static int cfg_push(cfg_t *c, const char *s, size_t len, const yaml_node_t *at)
{
    size_t k = (size_t)(*c->argc - c->argc0);
    char *copy;

    if (k >= MT_CONFIG_MAX_ARGS)
        return cfg_fail(c, at, "too many values (more than %d command-line arguments)",
                        MT_CONFIG_MAX_ARGS);
    if ((size_t)*c->argc + 2 > c->cap) {
        size_t ncap = c->cap < 16 ? 16 : c->cap * 2;
        char **na = realloc(*c->argv, ncap * sizeof(*na));
        if (na == NULL)
            return cfg_nomem(c);
        *c->argv = na;
        c->cap = ncap;
    }
    if (c->collect && k >= c->srccap) {
        size_t ncap = c->srccap < 16 ? 16 : c->srccap * 2;
        mt__config_src_t *ns = realloc(c->src, ncap * sizeof(*ns));
        if (ns == NULL)
            return cfg_nomem(c);
        c->src = ns;
        c->srccap = ncap;
    }
    copy = cfg_strndup(s, len);
    if (copy == NULL)
        return cfg_nomem(c);
    if (c->collect) {
        c->src[k].line = (int)at->start_mark.line + 1;
        c->src[k].col = (int)at->start_mark.column + 1;
        /* a one-line quoted value: point at its text, so that a column inside the value
         * (a schedule's bad step) adds up to the right place */
        if (at->type == YAML_SCALAR_NODE && at->start_mark.line == at->end_mark.line &&
            (at->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
             at->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
            c->src[k].col++;
        if (at->type == YAML_SCALAR_NODE && at->start_mark.line == at->end_mark.line)
            c->src[k].col += c->val_off;
        c->src[k].multiline =
            at->type == YAML_SCALAR_NODE && at->start_mark.line != at->end_mark.line;
    }
    (*c->argv)[(*c->argc)++] = copy;
    (*c->argv)[*c->argc] = NULL;
    return MT_OK;
}

/* "--flag" (key position) and, when val != NULL, the value (vnode's position). */
static int cfg_emit(cfg_t *c, const char *flag, const yaml_node_t *key, const char *val, size_t len,
                    const yaml_node_t *vnode)
{
    int rc = cfg_push(c, flag, strlen(flag), key);
    if (rc == MT_OK && val != NULL)
        rc = cfg_push(c, val, len, vnode);
    return rc;
}

/* ---- nodes ---- */

static yaml_node_t *cfg_node(cfg_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static const char *cfg_sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool cfg_is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML 1.1 null: an empty or ~/null plain scalar. */
static bool cfg_is_null(const yaml_node_t *n)
{
    const char *s;
    if (!cfg_is_plain(n))
        return false;
    s = cfg_sval(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* YAML 1.1 booleans (plain scalars only): 1 true, 0 false, -1 not a boolean. */
static int cfg_bool_of(const yaml_node_t *n)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No",
                                    "NO",    "off",   "Off",   "OFF"};
    if (!cfg_is_plain(n))
        return -1;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(cfg_sval(n), t[i]) == 0)
            return 1;
        if (strcmp(cfg_sval(n), f[i]) == 0)
            return 0;
    }
    return -1;
}

static const char *cfg_type_name(const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (cfg_is_null(n))
        return "null";
    if (cfg_bool_of(n) >= 0)
        return "a boolean";
    return "a string";
}

/* A scalar usable as text (not null, not a boolean, no NUL byte): *s, *len. `what` names the
 * setting for the message; `expect` says what it should be. */
static int cfg_text(cfg_t *c, const char *what, const char *expect, const yaml_node_t *n,
                    const char **s, size_t *len)
{
    if (n->type != YAML_SCALAR_NODE || cfg_is_null(n) || cfg_bool_of(n) >= 0)
        return cfg_fail(c, n, "%s: expected %s, got %s", what, expect, cfg_type_name(n));
    *s = cfg_sval(n);
    *len = n->data.scalar.length;
    if (strlen(*s) != *len)
        return cfg_fail(c, n, "%s: contains a NUL character", what);
    return MT_OK;
}

static bool cfg_is_int_text(const char *s, size_t len)
{
    size_t i = 0;
    if (len > 0 && (s[0] == '+' || s[0] == '-'))
        i++;
    if (i == len || len > 20)
        return false;
    for (; i < len; i++)
        if (!cfg_is_digit(s[i]))
            return false;
    return true;
}

/* A decimal number: digits with an optional sign, fraction and exponent (no hex, inf, nan). */
static bool cfg_is_num_text(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < len && cfg_is_digit(s[i]); i++)
        digits++;
    if (i < len && s[i] == '.')
        for (i++; i < len && cfg_is_digit(s[i]); i++)
            digits++;
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < len && cfg_is_digit(s[i]); i++)
            e++;
        if (e == 0)
            return false;
    }
    return i == len;
}

/* "unknown key 'x'<where>", with a suggestion when one is close. */
static int cfg_unknown(cfg_t *c, const yaml_node_t *k, const char *where, const char *const *names,
                       size_t n)
{
    const char *key = cfg_sval(k), *hint;
    char show[64];

    cfg_show(key, k->data.scalar.length, show, sizeof(show));
    if (strchr(key, ')') != NULL) /* {schedule: const(1,1s)} splits at the comma */
        return cfg_fail(c, k,
                        "unknown key '%s'%s (quote values with commas inside { }: "
                        "'const(1, 1s)')",
                        show, where);
    hint = mt__config_suggest(key, names, n);
    if (hint != NULL)
        return cfg_fail(c, k, "unknown key '%s'%s (did you mean '%s'?)", show, where, hint);
    return cfg_fail(c, k, "unknown key '%s'%s", show, where);
}

/* ---- mortar's own format ---- */

/* mortar's own keys are runspec/keys.h's table (its types, in the same order, are the kinds
 * of value read here); the file says "url", "connections", ... */
typedef enum cfg_kind {
    K_URL = MT_RS_URL,     /* a string, returned in *url */
    K_INT = MT_RS_INT,     /* a whole number */
    K_NUM = MT_RS_NUM,     /* a number */
    K_DUR = MT_RS_DUR,     /* a duration: a string or a number (seconds) */
    K_STR = MT_RS_STR,     /* a string */
    K_BOOL = MT_RS_BOOL,   /* true: the flag alone; false: nothing */
    K_LIST = MT_RS_LIST,   /* a string or a list of strings: the flag once per string */
    K_CRITS = MT_RS_CRITS, /* as K_LIST; a single string may hold several criteria, Tank-style */
} cfg_kind_t;

typedef struct cfg_key {
    const char *name; /* as in the file ('_' accepted for '-') */
    cfg_kind_t kind;
} cfg_key_t;

#define CFG_NKEYS ((size_t)MT_RSK__COUNT)

static cfg_key_t cfg_key_at(size_t i)
{
    cfg_key_t k = {mt_rs_keys[i].name, (cfg_kind_t)mt_rs_keys[i].type};
    return k;
}

/* Yandex.Tank's sections (yandextank/core/config/00-base.yaml): named in the message when one
 * turns up among mortar's keys. */
static const char *const cfg_tank_sections[] = {
    "core",    "bfg",      "console",   "jmeter",   "json_report", "offline_report",
    "pandora", "rcheck",   "shellexec", "telegraf", "rcassert",    "overload",
    "influx",  "opentsdb", "metaconf",  "uploader", "phantom",     "autostop",
};

static int cfg_mortar_find(const char *key)
{
    const mt_rs_key_t *k = mt_rs_key_find(key);
    return k != NULL ? (int)k->id : -1;
}

#define CFG_PANDORA_MSG                                                                            \
    "a Pandora config (pandora:/pools:): mortar runs phantom: configs; move the target, rps "      \
    "schedule and ammo file to phantom (docs/compatibility.md)"

static int cfg_unknown_mortar_key(cfg_t *c, const yaml_node_t *k)
{
    const char *names[CFG_NKEYS];

    if (strcmp(cfg_sval(k), "pandora") == 0)
        return cfg_fail(c, k, "%s", CFG_PANDORA_MSG);
    for (size_t i = 0; i < sizeof(cfg_tank_sections) / sizeof(cfg_tank_sections[0]); i++)
        if (strcmp(cfg_sval(k), cfg_tank_sections[i]) == 0)
            return cfg_fail(c, k,
                            "unknown key '%s' (a Yandex.Tank section: a Tank config needs "
                            "a phantom: section)",
                            cfg_tank_sections[i]);
    if (strcmp(cfg_sval(k), "pools") == 0)
        return cfg_fail(c, k, "%s", CFG_PANDORA_MSG);
    for (size_t i = 0; i < CFG_NKEYS; i++)
        names[i] = mt_rs_keys[i].name;
    return cfg_unknown(c, k, "", names, CFG_NKEYS);
}

/* Splits Tank's one-string form of autostop criteria ("time(1s,10s) http(5xx,10%,5s)") after
 * each ')' that closes a criterion, and emits each one. */
static int cfg_emit_criteria(cfg_t *c, const char *flag, const yaml_node_t *key,
                             const yaml_node_t *v, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t start, depth = 0;
        const char *t;
        size_t tl;
        int rc;

        while (i < len && cfg_is_space(s[i]))
            i++;
        start = i;
        for (; i < len; i++) {
            if (s[i] == '(')
                depth++;
            else if (s[i] == ')' && depth > 0 && --depth == 0) {
                i++;
                break;
            }
        }
        tl = cfg_trim(s + start, i - start, &t);
        if (tl == 0)
            continue;
        /* the criterion's own place: "col N" of its error adds up from there */
        rc = cfg_push(c, flag, strlen(flag), key);
        c->val_off = (int)(t - s);
        if (rc == MT_OK)
            rc = cfg_push(c, t, tl, v);
        c->val_off = 0;
        if (rc != MT_OK)
            return rc;
    }
    return MT_OK;
}

static int cfg_mortar_value(cfg_t *c, const cfg_key_t *def, const yaml_node_t *k,
                            const yaml_node_t *v)
{
    char flag[32];
    const char *s;
    size_t len;
    int rc;

    snprintf(flag, sizeof(flag), "--%s", def->name);
    if (cfg_is_null(v))
        return MT_OK; /* "key:" alone, ~ or null: as if not given */

    switch (def->kind) {
    case K_URL:
        rc = cfg_text(c, def->name, "a URL", v, &s, &len);
        if (rc != MT_OK)
            return rc;
        c->url = cfg_strndup(s, len);
        return c->url == NULL ? cfg_nomem(c) : MT_OK;
    case K_INT:
    case K_NUM: {
        char show[64];
        const char *expect = def->kind == K_INT ? "a whole number" : "a number";
        rc = cfg_text(c, def->name, expect, v, &s, &len);
        if (rc != MT_OK)
            return rc;
        if (def->kind == K_INT ? !cfg_is_int_text(s, len) : !cfg_is_num_text(s, len))
            return cfg_fail(c, v, "%s: expected %s, got '%s'", def->name, expect,
                            cfg_show(s, len, show, sizeof(show)));
        return cfg_emit(c, flag, k, s, len, v);
    }
    case K_DUR:
        rc = cfg_text(c, def->name, "a duration", v, &s, &len);
        return rc != MT_OK ? rc : cfg_emit(c, flag, k, s, len, v);
    case K_STR:
        rc = cfg_text(c, def->name, "a string", v, &s, &len);
        return rc != MT_OK ? rc : cfg_emit(c, flag, k, s, len, v);
    case K_BOOL: {
        int b = cfg_bool_of(v);
        if (b < 0)
            return cfg_fail(c, v, "%s: expected true or false, got %s", def->name,
                            v->type == YAML_SCALAR_NODE ? "a string" : cfg_type_name(v));
        return b ? cfg_emit(c, flag, k, NULL, 0, NULL) : MT_OK;
    }
    case K_LIST:
    case K_CRITS:
        if (v->type == YAML_SCALAR_NODE) {
            rc = cfg_text(c, def->name, "a string or a list of strings", v, &s, &len);
            if (rc != MT_OK)
                return rc;
            if (def->kind == K_CRITS)
                return cfg_emit_criteria(c, flag, k, v, s, len);
            return cfg_emit(c, flag, k, s, len, v);
        }
        if (v->type != YAML_SEQUENCE_NODE)
            return cfg_fail(c, v, "%s: expected a string or a list of strings, got %s", def->name,
                            cfg_type_name(v));
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            const yaml_node_t *e = cfg_node(c, *it);
            rc = cfg_text(c, def->name, "a string in the list", e, &s, &len);
            if (rc == MT_OK)
                rc = cfg_emit(c, flag, k, s, len, e);
            if (rc != MT_OK)
                return rc;
        }
        return MT_OK;
    }
    return MT_OK;
}

static int cfg_mortar(cfg_t *c, const yaml_node_t *root)
{
    const yaml_node_t *seen[CFG_NKEYS] = {0};

    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        int idx, rc;

        if (k->type != YAML_SCALAR_NODE)
            return cfg_fail(c, k, "expected a key name, got %s", cfg_type_name(k));
        idx = cfg_mortar_find(cfg_sval(k));
        if (idx < 0)
            return cfg_unknown_mortar_key(c, k);
        if (seen[idx] != NULL)
            return cfg_fail(c, k, "duplicate key '%s' (first at line %zu)", mt_rs_keys[idx].name,
                            seen[idx]->start_mark.line + 1);
        seen[idx] = k;
        cfg_key_t def = cfg_key_at((size_t)idx);
        rc = cfg_mortar_value(c, &def, k, v);
        if (rc != MT_OK)
            return rc;
    }
    return MT_OK;
}

/* ---- Yandex.Tank load.yaml ---- */

/* phantom keys mortar uses */
enum {
    TP_ADDRESS,
    TP_PORT,
    TP_SSL,
    TP_LOAD_PROFILE,
    TP_INSTANCES,
    TP_TIMEOUT,
    TP_AMMOFILE,
    TP_AMMO_TYPE,
    TP_URIS,
    TP_HEADERS,
    TP_PHOUT_FILE,
    TP_ENABLED,
    TP_TANK_TYPE,
    TP_HEADER_HTTP,
    TP_MULTI,
    TP_NMAPPED,
    TP_OTHER = TP_NMAPPED, /* accepted and not used */
};

typedef struct tank_key {
    const char *name;
    int id;           /* TP_* */
    const char *dflt; /* TP_OTHER: values that change nothing, '|'-separated ("[]": an empty
                       * list or string, "~": null only); NULL: never warned about */
    const char *why;  /* TP_OTHER: the warning when the value is not a default */
} tank_key_t;

/* Every key of Tank's phantom section (yandextank/plugins/Phantom/config/schema.py, rendered
 * in schema_generated.yaml), in its order. Keys that only tune Tank or phantom themselves are
 * accepted silently; keys that change the load or the results warn unless at their default. */
static const tank_key_t tank_phantom_keys[] = {
    {"additional_libs", TP_OTHER, "[]", "phantom modules are not used by mortar"},
    {"address", TP_ADDRESS, NULL, NULL},
    {"affinity", TP_OTHER, "", "mortar does not pin threads to CPUs"},
    {"ammo_limit", TP_OTHER, "-1", "mortar has no request limit: the run ends with the schedule"},
    {"ammo_type", TP_AMMO_TYPE, NULL, NULL},
    {"ammofile", TP_AMMOFILE, NULL, NULL},
    {"autocases", TP_OTHER, "0", "requests are tagged only by the ammo"},
    {"buffered_seconds", TP_OTHER, NULL, NULL},
    {"cache_dir", TP_OTHER, NULL, NULL},
    {"chosen_cases", TP_OTHER, "", "every request of the ammo is sent"},
    {"client_certificate", TP_OTHER, "", "TLS client certificates are not supported"},
    {"client_cipher_suites", TP_OTHER, "", "TLS cipher lists are not supported"},
    {"client_key", TP_OTHER, "", "TLS client certificates are not supported"},
    {"config", TP_OTHER, "", "a ready-made phantom config cannot be used"},
    {"connection_test", TP_OTHER, NULL, NULL},
    {"enabled", TP_ENABLED, NULL, NULL},
    {"enum_ammo", TP_OTHER, "false", "requests are not numbered in their tags"},
    {"file_cache", TP_OTHER, NULL, NULL},
    {"force_stepping", TP_OTHER, NULL, NULL},
    {"gatling_ip", TP_OTHER, "", "mortar does not bind to chosen source addresses"},
    {"header_http", TP_HEADER_HTTP, NULL, NULL},
    {"headers", TP_HEADERS, NULL, NULL},
    {"instances", TP_INSTANCES, NULL, NULL},
    {"load_profile", TP_LOAD_PROFILE, NULL, NULL},
    {"loop", TP_OTHER, "-1", "mortar sends the ammo round and round until the run ends"},
    {"method_options", TP_OTHER, "", "not used by mortar"},
    {"method_prefix", TP_OTHER, "method_stream", "not used by mortar"},
    {"multi", TP_MULTI, NULL, NULL},
    {"name", TP_OTHER, NULL, NULL},
    {"package", TP_OTHER, NULL, NULL},
    {"phantom_http_entity", TP_OTHER, "8M", "mortar has its own response size limits"},
    {"phantom_http_field", TP_OTHER, "8K", "mortar has its own response size limits"},
    {"phantom_http_field_num", TP_OTHER, "128", "mortar has its own response size limits"},
    {"phantom_http_line", TP_OTHER, "1K", "mortar has its own response size limits"},
    {"phantom_modules_path", TP_OTHER, NULL, NULL},
    {"phantom_path", TP_OTHER, NULL, NULL},
    {"phout_file", TP_PHOUT_FILE, NULL, NULL},
    {"port", TP_PORT, NULL, NULL},
    {"source_log_prefix", TP_OTHER, "", "not used by mortar"},
    {"ssl", TP_SSL, NULL, NULL},
    {"stall_timeout", TP_OTHER, NULL, NULL},
    {"tank_type", TP_TANK_TYPE, NULL, NULL},
    {"threads", TP_OTHER, "~", "mortar picks its own thread count (one per CPU; see -t)"},
    {"timeout", TP_TIMEOUT, NULL, NULL},
    {"uris", TP_URIS, NULL, NULL},
    {"use_caching", TP_OTHER, NULL, NULL},
    {"writelog", TP_OTHER, "0|none|false", "mortar writes no request/response log (see --phout)"},
};
#define TANK_NPHANTOM (sizeof(tank_phantom_keys) / sizeof(tank_phantom_keys[0]))

typedef struct tank {
    const yaml_node_t *section;         /* the phantom: key */
    const yaml_node_t *key[TP_NMAPPED]; /* mapped keys, NULL when absent (or null) */
    const yaml_node_t *val[TP_NMAPPED];
} tank_t;

/* Whether v is one of the '|'-separated defaults in dflt. */
static bool tank_is_default(const yaml_node_t *v, const char *dflt)
{
    const char *s;
    int b;

    if (cfg_is_null(v))
        return true;
    if (strcmp(dflt, "~") == 0)
        return false;
    if (strcmp(dflt, "[]") == 0)
        return (v->type == YAML_SEQUENCE_NODE &&
                v->data.sequence.items.top == v->data.sequence.items.start) ||
               (v->type == YAML_SCALAR_NODE && cfg_sval(v)[0] == '\0');
    if (v->type != YAML_SCALAR_NODE)
        return false;
    b = cfg_bool_of(v);
    s = b == 1 ? "true" : b == 0 ? "false" : cfg_sval(v);
    for (const char *d = dflt;;) {
        const char *bar = strchr(d, '|');
        size_t n = bar != NULL ? (size_t)(bar - d) : strlen(d);
        if (strlen(s) == n) {
            size_t i = 0;
            while (i < n && cfg_lower(s[i]) == cfg_lower(d[i]))
                i++;
            if (i == n)
                return true;
        }
        if (bar == NULL)
            return false;
        d = bar + 1;
    }
}

/* A Tank string or list of strings (a string holds one item per line): calls fn per item,
 * trimmed, skipping empty ones (Tank drops empty URIs). */
typedef int (*tank_item_fn)(cfg_t *c, const yaml_node_t *key, const yaml_node_t *at, const char *s,
                            size_t len);

static int tank_items(cfg_t *c, const char *what, const yaml_node_t *key, const yaml_node_t *v,
                      tank_item_fn fn)
{
    const char *s, *t;
    size_t len, tl;
    int rc;

    if (cfg_is_null(v))
        return MT_OK;
    if (v->type == YAML_SCALAR_NODE) {
        rc = cfg_text(c, what, "a list of strings", v, &s, &len);
        if (rc != MT_OK)
            return rc;
        while (len > 0) {
            const char *nl = memchr(s, '\n', len);
            size_t ll = nl != NULL ? (size_t)(nl - s) : len;
            tl = cfg_trim(s, ll, &t);
            if (tl > 0 && (rc = fn(c, key, v, t, tl)) != MT_OK)
                return rc;
            s += ll;
            len -= ll;
            if (len > 0) { /* the newline */
                s++;
                len--;
            }
        }
        return MT_OK;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return cfg_fail(c, v, "%s: expected a list of strings, got %s", what, cfg_type_name(v));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *e = cfg_node(c, *it);
        rc = cfg_text(c, what, "a string in the list", e, &s, &len);
        if (rc != MT_OK)
            return rc;
        tl = cfg_trim(s, len, &t);
        if (tl > 0 && (rc = fn(c, key, e, t, tl)) != MT_OK)
            return rc;
    }
    return MT_OK;
}

static int tank_count_item(cfg_t *c, const yaml_node_t *key, const yaml_node_t *at, const char *s,
                           size_t len)
{
    (void)key, (void)at, (void)s, (void)len;
    c->nitems++;
    return MT_OK;
}

static int tank_uri_item(cfg_t *c, const yaml_node_t *key, const yaml_node_t *at, const char *s,
                         size_t len)
{
    (void)key;
    return cfg_emit(c, "--uri", at, s, len, at);
}

/* "[Host: example.com]" or "Host: example.com": Tank strips the brackets (stepper/main.py). */
static int tank_header_item(cfg_t *c, const yaml_node_t *key, const yaml_node_t *at, const char *s,
                            size_t len)
{
    const char *t;

    (void)key;
    len = cfg_trim(s, len, &s);
    if (len > 0 && s[0] == '[') {
        /* "[Host: a] [Connection: close]": Tank's one-line form, one header per bracket pair */
        size_t i = 0;
        char show[64];
        int rc;
        while (i < len) {
            const char *open, *close;
            while (i < len && cfg_is_space(s[i]))
                i++;
            if (i >= len)
                break;
            open = s + i;
            if (*open != '[')
                return cfg_fail(c, at, "headers: expected '[Name: value]' items, got '%s'",
                                cfg_show(open, len - i, show, sizeof(show)));
            close = memchr(open, ']', len - i);
            if (close == NULL)
                return cfg_fail(c, at, "headers: '[' without a closing ']' in '%s'",
                                cfg_show(open, len - i, show, sizeof(show)));
            {
                size_t hl = cfg_trim(open + 1, (size_t)(close - open - 1), &t);
                if (hl > 0 && (rc = cfg_emit(c, "--header", at, t, hl, at)) != MT_OK)
                    return rc;
            }
            i = (size_t)(close + 1 - s);
        }
        return MT_OK;
    }
    while (len > 0 && (*s == '[' || *s == ']')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == '[' || s[len - 1] == ']'))
        len--;
    len = cfg_trim(s, len, &t);
    return len == 0 ? MT_OK : cfg_emit(c, "--header", at, t, len, at);
}

static int tank_criterion_item(cfg_t *c, const yaml_node_t *key, const yaml_node_t *at,
                               const char *s, size_t len)
{
    (void)key;
    return cfg_emit_criteria(c, "--autostop", at, at, s, len);
}

/* A plain boolean for Tank's boolean settings. */
static int tank_bool(cfg_t *c, const char *what, const yaml_node_t *v, bool *out)
{
    int b = cfg_bool_of(v);
    if (b < 0 && cfg_is_plain(v) &&
        (strcmp(cfg_sval(v), "1") == 0 || strcmp(cfg_sval(v), "0") == 0))
        b = cfg_sval(v)[0] == '1'; /* Tank's INI: ssl=1 */
    if (b < 0)
        return cfg_fail(c, v, "%s: expected true or false, got %s", what,
                        v->type == YAML_SCALAR_NODE ? "a string" : cfg_type_name(v));
    *out = b == 1;
    return MT_OK;
}

/* Tank's address forms (common/util.py AddressWizard): "[host]:port", "[host]", "host:port",
 * "host", and a bare IPv6 address (more than one ':') without a port. Builds the URL into
 * c->url: scheme://host[:port]/, IPv6 in brackets. */
static int tank_url(cfg_t *c, tank_t *t)
{
    const yaml_node_t *av = t->val[TP_ADDRESS];
    const char *s, *host, *port = NULL;
    size_t len, hlen, plen = 0;
    bool ssl = false, v6;
    char show[64];
    int rc;

    if (av == NULL)
        return cfg_fail(c, t->section, "phantom: address is required (host:port)");
    rc = cfg_text(c, "address", "host:port", av, &s, &len);
    if (rc != MT_OK)
        return rc;
    len = cfg_trim(s, len, &s);
    cfg_show(s, len, show, sizeof(show));
    if (len == 0)
        return cfg_fail(c, av, "address: empty (expected host:port)");
    if (memchr(s, '/', len) != NULL)
        return cfg_fail(c, av, "address: '%s' is not host:port (give no scheme or path)", show);
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return cfg_fail(c, av, "address: '%s' has no closing ']'", show);
        host = s + 1;
        hlen = (size_t)(close - host);
        if ((size_t)(close + 1 - s) < len) {
            const char *rest = close + 1;
            size_t rlen = len - (size_t)(rest - s);
            if (rest[0] != ':')
                return cfg_fail(c, av, "address: '%s': expected ':port' after ']'", show);
            plen = cfg_trim(rest + 1, rlen - 1, &port);
        }
    } else {
        const char *colon = memchr(s, ':', len);
        host = s;
        hlen = len;
        if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
            plen = len - hlen - 1;
        }
    }
    hlen = cfg_trim(host, hlen, &host);
    if (hlen == 0)
        return cfg_fail(c, av, "address: '%s' has no host", show);
    for (size_t i = 0; i < hlen; i++) {
        char ch = host[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || cfg_is_digit(ch) ||
              ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '%'))
            return cfg_fail(c, av, "address: '%s' is not a host name or address", show);
    }
    if (port != NULL && plen == 0)
        port = NULL; /* "host:" */
    if (port != NULL && !cfg_is_int_text(port, plen))
        return cfg_fail(c, av, "address: '%s': the port is not a number", show);

    if (t->val[TP_PORT] != NULL) { /* phantom.port overrides (deprecated in Tank) */
        const char *ps;
        size_t pl;
        rc = cfg_text(c, "port", "a port number", t->val[TP_PORT], &ps, &pl);
        if (rc != MT_OK)
            return rc;
        pl = cfg_trim(ps, pl, &ps);
        if (pl > 0) {
            if (!cfg_is_int_text(ps, pl) || ps[0] == '+' || ps[0] == '-')
                return cfg_fail(c, t->val[TP_PORT], "port: expected a port number, got '%s'",
                                cfg_show(ps, pl, show, sizeof(show)));
            port = ps;
            plen = pl;
        }
    }
    if (t->val[TP_SSL] != NULL && (rc = tank_bool(c, "ssl", t->val[TP_SSL], &ssl)) != MT_OK)
        return rc;
    if (ssl && port == NULL) {
        port = CFG_TANK_PORT;
        plen = strlen(port);
        rc = cfg_warn(c, av,
                      "phantom.address has no port: Tank connects to port 80 even with ssl: "
                      "true, and so does mortar (write host:443 for the usual HTTPS port)");
        if (rc != MT_OK)
            return rc;
    }
    v6 = memchr(host, ':', hlen) != NULL;
    {
        int n = snprintf(NULL, 0, "%s://%s%.*s%s%s%.*s/", ssl ? "https" : "http", v6 ? "[" : "",
                         (int)hlen, host, v6 ? "]" : "", port != NULL ? ":" : "",
                         port != NULL ? (int)plen : 0, port != NULL ? port : "");
        c->url = n < 0 ? NULL : malloc((size_t)n + 1);
        if (c->url == NULL)
            return cfg_nomem(c);
        snprintf(c->url, (size_t)n + 1, "%s://%s%.*s%s%s%.*s/", ssl ? "https" : "http",
                 v6 ? "[" : "", (int)hlen, host, v6 ? "]" : "", port != NULL ? ":" : "",
                 port != NULL ? (int)plen : 0, port != NULL ? port : "");
    }
    return MT_OK;
}

/* load_type: instances with exactly one "const(N, duration)" step: *n and *dur (slices). */
static bool tank_instances_const(const char *s, size_t len, const char **n, size_t *nlen,
                                 const char **dur, size_t *dlen)
{
    size_t i = 0;
#define SKIP_WS()                                                                                  \
    while (i < len && cfg_is_space(s[i]))                                                          \
    i++
    SKIP_WS();
    if (len - i < 5 || memcmp(s + i, "const", 5) != 0)
        return false;
    i += 5;
    SKIP_WS();
    if (i >= len || s[i++] != '(')
        return false;
    SKIP_WS();
    *n = s + i;
    while (i < len && cfg_is_digit(s[i]))
        i++;
    *nlen = (size_t)(s + i - *n);
    if (*nlen == 0 || *nlen > 9)
        return false;
    SKIP_WS();
    if (i >= len || s[i++] != ',')
        return false;
    SKIP_WS();
    *dur = s + i;
    while (i < len && !cfg_is_space(s[i]) && s[i] != ')' && s[i] != ',' && s[i] != '(')
        i++;
    *dlen = (size_t)(s + i - *dur);
    if (*dlen == 0)
        return false;
    SKIP_WS();
    if (i >= len || s[i++] != ')')
        return false;
    SKIP_WS();
#undef SKIP_WS
    return i == len;
}

/* load_type: instances with line/step/several steps: mortar keeps a fixed number of
 * connections (the closed model has no ramp), so the run gets the schedule's peak count for
 * the schedule's whole length, with a warning saying so. */
static int tank_instances_steps(cfg_t *c, const yaml_node_t *sck, const yaml_node_t *sc,
                                const char *sched, size_t slen)
{
    char *text = cfg_strndup(sched, slen), num[32], dur[32];
    mt_sched_t sp;
    mt_parse_err_t perr = {0};
    double peak = 0;
    int rc;

    if (text == NULL)
        return cfg_nomem(c);
    memset(&sp, 0, sizeof(sp));
    rc = mt_sched_parse(text, &sp, &perr);
    free(text);
    if (rc == MT_ENOMEM)
        return cfg_nomem(c);
    if (rc != MT_OK) {
        yaml_mark_t m = sc->start_mark;
        if (sc->start_mark.line == sc->end_mark.line) {
            bool quoted = sc->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                          sc->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            m.column += (size_t)(perr.col > 0 ? perr.col - 1 : 0) + (quoted ? 1 : 0);
        }
        return cfg_fail_at(c, m, "schedule: %s (load_type: instances takes const, line and step)",
                           perr.msg);
    }
    for (size_t i = 0; i < sp.nsteps; i++) {
        if (sp.steps[i].a > peak)
            peak = sp.steps[i].a;
        if (sp.steps[i].b > peak)
            peak = sp.steps[i].b;
    }
    snprintf(num, sizeof(num), "%.0f", ceil(peak));
    snprintf(dur, sizeof(dur), "%lldms", (long long)(sp.total_ns / 1000000));
    mt_sched_dispose(&sp);
    if (peak < 1)
        return cfg_fail(c, sc, "schedule: load_type: instances needs at least 1 instance");
    rc = cfg_warn(c, sc,
                  "phantom.load_profile: mortar keeps a fixed number of connections: the "
                  "instances schedule runs as %s connections (its peak) for its whole %s, "
                  "without Tank's ramp",
                  num, dur);
    if (rc == MT_OK)
        rc = cfg_emit(c, "--connections", sck, num, strlen(num), sc);
    return rc != MT_OK ? rc : cfg_emit(c, "--duration", sck, dur, strlen(dur), sc);
}

/* load_profile: {load_type: rps|instances, schedule: STEPS} -> the schedule options. */
static int tank_load_profile(cfg_t *c, tank_t *t, bool *instances_mode)
{
    const yaml_node_t *lp = t->val[TP_LOAD_PROFILE], *lt = NULL, *sc = NULL, *sck = NULL;
    const char *type, *s, *sched;
    size_t tlen, slen;
    char show[64];
    int rc;

    if (lp == NULL)
        return cfg_fail(c, t->section,
                        c->ini ? "[phantom]: rps_schedule (or instances_schedule) is required"
                               : "phantom: load_profile is required");
    if (lp->type != YAML_MAPPING_NODE)
        return cfg_fail(c, lp, "load_profile: expected a mapping (load_type, schedule), got %s",
                        cfg_type_name(lp));
    for (yaml_node_pair_t *p = lp->data.mapping.pairs.start; p < lp->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        static const char *const names[] = {"load_type", "schedule"};
        if (k->type != YAML_SCALAR_NODE)
            return cfg_fail(c, k, "expected a key name, got %s", cfg_type_name(k));
        if (strcmp(cfg_sval(k), "load_type") == 0 || strcmp(cfg_sval(k), "schedule") == 0) {
            const yaml_node_t **slot = cfg_sval(k)[0] == 'l' ? &lt : &sc;
            if (*slot != NULL)
                return cfg_fail(c, k, "duplicate key '%s'", cfg_sval(k));
            *slot = v;
            if (cfg_sval(k)[0] == 's')
                sck = k;
            continue;
        }
        return cfg_unknown(c, k, " in load_profile", names, 2);
    }
    if (lt == NULL || cfg_is_null(lt))
        return cfg_fail(c, lp, "load_profile: load_type is required (rps or instances)");
    if (sc == NULL || cfg_is_null(sc))
        return cfg_fail(c, lp, "load_profile: schedule is required");
    rc = cfg_text(c, "load_type", "rps or instances", lt, &type, &tlen);
    if (rc != MT_OK)
        return rc;
    rc = cfg_text(c, "schedule", "a string of steps", sc, &s, &slen);
    if (rc != MT_OK)
        return rc;
    slen = cfg_trim(s, slen, &sched);
    if (slen == 0)
        return cfg_fail(c, sc, "schedule: empty");

    if (strcmp(type, "rps") == 0) {
        *instances_mode = false;
        return cfg_emit(c, "--schedule", sck, sched, slen, sc);
    }
    if (strcmp(type, "instances") == 0) {
        const char *n, *dur;
        size_t nlen, dlen;
        *instances_mode = true;
        if (!tank_instances_const(sched, slen, &n, &nlen, &dur, &dlen))
            return tank_instances_steps(c, sck, sc, sched, slen);
        rc = cfg_emit(c, "--connections", sck, n, nlen, sc);
        return rc != MT_OK ? rc : cfg_emit(c, "--duration", sck, dur, dlen, sc);
    }
    if (strcmp(type, "stpd_file") == 0)
        return cfg_fail(c, lt, "load_type: stpd_file is not supported (use rps or instances)");
    return cfg_fail(c, lt, "load_type: expected rps or instances, got '%s'",
                    cfg_show(type, tlen, show, sizeof(show)));
}

/* The phantom: section. */
static int tank_phantom(cfg_t *c, const yaml_node_t *section, const yaml_node_t *ph)
{
    tank_t t;
    const yaml_node_t *seen[TANK_NPHANTOM] = {0};
    const char *s;
    size_t len;
    bool instances_mode = false, has_ammo = false, has_uris = false;
    int rc;

    memset(&t, 0, sizeof(t));
    t.section = section;
    for (yaml_node_pair_t *p = ph->data.mapping.pairs.start; p < ph->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        const tank_key_t *def = NULL;
        size_t i;

        if (k->type != YAML_SCALAR_NODE)
            return cfg_fail(c, k, "expected a key name, got %s", cfg_type_name(k));
        for (i = 0; i < TANK_NPHANTOM; i++)
            if (strcmp(cfg_sval(k), tank_phantom_keys[i].name) == 0) {
                def = &tank_phantom_keys[i];
                break;
            }
        if (def == NULL) {
            const char *names[TANK_NPHANTOM];
            if (strcmp(cfg_sval(k), "rps_schedule") == 0 ||
                strcmp(cfg_sval(k), "instances_schedule") == 0)
                return cfg_fail(c, k,
                                "unknown key '%s' in phantom (Tank's YAML configs use "
                                "load_profile: {load_type, schedule})",
                                cfg_sval(k));
            static const char *const ini_names[] = {"rps_schedule", "instances_schedule"};
            const char *near = c->ini ? mt__config_suggest(cfg_sval(k), ini_names, 2) : NULL;
            if (near != NULL) {
                char show[64];
                return cfg_fail(c, k, "unknown key '%s' in [phantom] (did you mean '%s'?)",
                                cfg_show(cfg_sval(k), k->data.scalar.length, show, sizeof(show)),
                                near);
            }
            for (size_t j = 0; j < TANK_NPHANTOM; j++)
                names[j] = tank_phantom_keys[j].name;
            return cfg_unknown(c, k, " in phantom", names, TANK_NPHANTOM);
        }
        if (seen[i] != NULL)
            return cfg_fail(c, k, "duplicate key '%s' (first at line %zu)", def->name,
                            seen[i]->start_mark.line + 1);
        seen[i] = k;
        if (def->id == TP_OTHER) {
            if (def->dflt != NULL && !tank_is_default(v, def->dflt) &&
                (rc = cfg_warn(c, k, "phantom.%s is ignored: %s", def->name, def->why)) != MT_OK)
                return rc;
            continue;
        }
        if (cfg_is_null(v))
            continue; /* as if not given: Tank's default */
        t.key[def->id] = k;
        t.val[def->id] = v;
    }

    if (t.val[TP_ENABLED] != NULL) {
        bool on = true;
        if ((rc = tank_bool(c, "enabled", t.val[TP_ENABLED], &on)) != MT_OK)
            return rc;
        if (!on)
            return cfg_fail(c, t.val[TP_ENABLED],
                            "phantom is disabled (enabled: false): mortar runs only the "
                            "phantom section of a Tank config");
    }
    if (t.val[TP_TANK_TYPE] != NULL) {
        rc = cfg_text(c, "tank_type", "http", t.val[TP_TANK_TYPE], &s, &len);
        if (rc != MT_OK)
            return rc;
        if (strcmp(s, "none") == 0)
            return cfg_fail(c, t.val[TP_TANK_TYPE],
                            "tank_type: none (a plain TCP gun) is not supported");
        if (strcmp(s, "http") != 0)
            return cfg_fail(c, t.val[TP_TANK_TYPE], "tank_type: expected http or none");
    }
    if (t.val[TP_HEADER_HTTP] != NULL) {
        rc = cfg_text(c, "header_http", "1.0 or 1.1", t.val[TP_HEADER_HTTP], &s, &len);
        if (rc != MT_OK)
            return rc;
        /* 1.0 is Tank's default and says nothing about the user's intent: mortar sends
         * HTTP/1.1 with keep-alive either way, silently (docs/config.md) */
        if (strcmp(s, "1.0") != 0 && strcmp(s, "1.1") != 0) {
            return cfg_fail(c, t.val[TP_HEADER_HTTP], "header_http: expected 1.0 or 1.1");
        }
    }
    if (t.val[TP_MULTI] != NULL) {
        const yaml_node_t *m = t.val[TP_MULTI];
        if (m->type != YAML_SEQUENCE_NODE)
            return cfg_fail(c, m, "multi: expected a list of sections, got %s", cfg_type_name(m));
        if (m->data.sequence.items.top > m->data.sequence.items.start &&
            (rc = cfg_warn(c, t.key[TP_MULTI],
                           "phantom.multi is ignored: only the main load runs (%d more "
                           "listed here)",
                           (int)(m->data.sequence.items.top - m->data.sequence.items.start))) !=
                MT_OK)
            return rc;
    }

    rc = tank_url(c, &t);
    if (rc == MT_EPARSE && t.val[TP_ADDRESS] != NULL &&
        c->err->line == (int)t.val[TP_ADDRESS]->start_mark.line + 1 &&
        c->err->col == (int)t.val[TP_ADDRESS]->start_mark.column + 1) {
        /* a placeholder address (the command line's URL replaces it): an error only when the
         * command line gives no URL */
        c->need_url = *c->err;
        memset(c->err, 0, sizeof(*c->err));
        free(c->url);
        c->url = NULL;
        rc = MT_OK;
    }
    if (rc != MT_OK)
        return rc;
    if (t.val[TP_SSL] != NULL) {
        bool ssl = false;
        /* Phantom never verifies the server's certificate: neither does mortar for ssl: true
         * (mortar's own https URLs verify; docs/config.md) */
        if ((rc = tank_bool(c, "ssl", t.val[TP_SSL], &ssl)) != MT_OK)
            return rc;
        if (ssl && (rc = cfg_emit(c, "--insecure", t.key[TP_SSL], NULL, 0, NULL)) != MT_OK)
            return rc;
    }

    /* the load */
    rc = tank_load_profile(c, &t, &instances_mode);
    if (rc != MT_OK)
        return rc;
    if (!instances_mode) {
        if (t.val[TP_INSTANCES] != NULL) {
            rc = cfg_text(c, "instances", "a whole number", t.val[TP_INSTANCES], &s, &len);
            if (rc != MT_OK)
                return rc;
            if (!cfg_is_int_text(s, len))
                return cfg_fail(c, t.val[TP_INSTANCES], "instances: expected a whole number");
            rc = cfg_emit(c, "--connections", t.key[TP_INSTANCES], s, len, t.val[TP_INSTANCES]);
        } else {
            rc = cfg_emit(c, "--connections", section, CFG_TANK_INSTANCES,
                          strlen(CFG_TANK_INSTANCES), section);
        }
        if (rc != MT_OK)
            return rc;
    } else if (t.val[TP_INSTANCES] != NULL) {
        rc = cfg_warn(c, t.key[TP_INSTANCES],
                      "phantom.instances is not used with load_type: instances (the schedule "
                      "sets the count)");
        if (rc != MT_OK)
            return rc;
    }
    if (t.val[TP_TIMEOUT] != NULL) {
        rc = cfg_text(c, "timeout", "a duration", t.val[TP_TIMEOUT], &s, &len);
        if (rc == MT_OK)
            rc = cfg_emit(c, "--timeout", t.key[TP_TIMEOUT], s, len, t.val[TP_TIMEOUT]);
    } else {
        rc = cfg_emit(c, "--timeout", section, CFG_TANK_TIMEOUT, strlen(CFG_TANK_TIMEOUT), section);
    }
    if (rc != MT_OK)
        return rc;

    /* the requests */
    if (t.val[TP_HEADERS] != NULL &&
        (rc = tank_items(c, "headers", t.key[TP_HEADERS], t.val[TP_HEADERS], tank_header_item)) !=
            MT_OK)
        return rc;
    if (t.val[TP_AMMOFILE] != NULL) {
        rc = cfg_text(c, "ammofile", "a file name", t.val[TP_AMMOFILE], &s, &len);
        if (rc != MT_OK)
            return rc;
        has_ammo = len > 0; /* Tank's default is "" */
    }
    if (t.val[TP_URIS] != NULL) {
        /* count first (Tank drops empty URIs): both ammofile and uris is an error */
        c->nitems = 0;
        rc = tank_items(c, "uris", t.key[TP_URIS], t.val[TP_URIS], tank_count_item);
        if (rc != MT_OK)
            return rc;
        has_uris = c->nitems > 0;
    }
    if (has_ammo && has_uris)
        return cfg_fail(c, t.key[TP_URIS],
                        "phantom: both uris and ammofile are given (Tank takes one of them)");
    if (has_ammo) {
        const char *type = "auto";
        size_t tl = 4;
        rc = cfg_emit(c, "--ammo", t.key[TP_AMMOFILE], s, len, t.val[TP_AMMOFILE]);
        if (rc != MT_OK)
            return rc;
        if (t.val[TP_AMMO_TYPE] != NULL) {
            rc = cfg_text(c, "ammo_type", "phantom, uri, uripost or access", t.val[TP_AMMO_TYPE],
                          &type, &tl);
            if (rc != MT_OK)
                return rc;
            if (strcmp(type, "phantom") == 0) {
                /* Tank reads "phantom" (its default) as phantom, or uri when the first line
                 * does not start with a digit (stepper/config.py): mortar's auto */
                type = "auto";
                tl = 4;
            } else if (strcmp(type, "uri") != 0 && strcmp(type, "uripost") != 0 &&
                       strcmp(type, "access") != 0) {
                return cfg_fail(c, t.val[TP_AMMO_TYPE],
                                "ammo_type: expected phantom, uri, uripost or access");
            }
        }
        rc = cfg_emit(c, "--ammo-type",
                      t.key[TP_AMMO_TYPE] != NULL ? t.key[TP_AMMO_TYPE] : t.key[TP_AMMOFILE], type,
                      tl, t.val[TP_AMMO_TYPE] != NULL ? t.val[TP_AMMO_TYPE] : t.val[TP_AMMOFILE]);
        if (rc != MT_OK)
            return rc;
    } else if (has_uris) {
        rc = tank_items(c, "uris", t.key[TP_URIS], t.val[TP_URIS], tank_uri_item);
        if (rc != MT_OK)
            return rc;
    } else {
        /* `yandex-tank -c load.yaml ammo.txt`: the ammo may come from the command line */
        c->need_ammo.line = (int)section->start_mark.line + 1;
        c->need_ammo.col = (int)section->start_mark.column + 1;
        snprintf(c->need_ammo.msg, sizeof(c->need_ammo.msg),
                 "phantom: give ammofile or uris (the requests to send), or --ammo FILE on the "
                 "command line");
    }
    if (t.val[TP_PHOUT_FILE] != NULL) {
        rc = cfg_text(c, "phout_file", "a file name", t.val[TP_PHOUT_FILE], &s, &len);
        if (rc == MT_OK && len > 0)
            rc = cfg_emit(c, "--phout", t.key[TP_PHOUT_FILE], s, len, t.val[TP_PHOUT_FILE]);
        if (rc != MT_OK)
            return rc;
    }
    return MT_OK;
}

/* The autostop: section: {autostop: [criteria], enabled, package, report_file}. */
static int tank_autostop(cfg_t *c, const yaml_node_t *as)
{
    static const char *const names[] = {"autostop", "enabled", "package", "report_file"};
    const yaml_node_t *list = NULL, *listk = NULL, *enabled = NULL;
    bool on = true;
    int rc;

    for (yaml_node_pair_t *p = as->data.mapping.pairs.start; p < as->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return cfg_fail(c, k, "expected a key name, got %s", cfg_type_name(k));
        if (strcmp(cfg_sval(k), "autostop") == 0) {
            if (list != NULL)
                return cfg_fail(c, k, "duplicate key 'autostop'");
            list = v;
            listk = k;
        } else if (strcmp(cfg_sval(k), "enabled") == 0) {
            enabled = v;
        } else if (strcmp(cfg_sval(k), "package") != 0 && strcmp(cfg_sval(k), "report_file") != 0) {
            return cfg_unknown(c, k, " in autostop", names, 4);
        }
    }
    if (enabled != NULL && !cfg_is_null(enabled) &&
        (rc = tank_bool(c, "enabled", enabled, &on)) != MT_OK)
        return rc;
    if (!on || list == NULL)
        return MT_OK;
    return tank_items(c, "autostop", listk, list, tank_criterion_item);
}

static int cfg_tank(cfg_t *c, const yaml_node_t *root)
{
    const yaml_node_t *ph = NULL, *phk = NULL, *as = NULL, *pandora = NULL;
    int rc;

    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        char show[64];
        if (k->type != YAML_SCALAR_NODE)
            return cfg_fail(c, k, "expected a section name, got %s", cfg_type_name(k));
        if (strcmp(cfg_sval(k), "phantom") == 0 || strcmp(cfg_sval(k), "autostop") == 0) {
            bool is_ph = cfg_sval(k)[0] == 'p';
            if ((is_ph ? ph : as) != NULL)
                return cfg_fail(c, k, "duplicate section '%s'", cfg_sval(k));
            if (v->type != YAML_MAPPING_NODE)
                return cfg_fail(c, v, "%s: expected a mapping, got %s", cfg_sval(k),
                                cfg_type_name(v));
            if (is_ph) {
                ph = v;
                phk = k;
            } else {
                as = v;
            }
            continue;
        }
        if (strcmp(cfg_sval(k), "pandora") == 0)
            pandora = k;
        /* other Tank sections (console, telegraf, overload, uploader, ...) are skipped */
        if (v->type == YAML_MAPPING_NODE || cfg_is_null(v) || strcmp(cfg_sval(k), "version") == 0)
            continue;
        return cfg_fail(c, k,
                        "'%s' is not a Yandex.Tank section (mortar's own keys cannot be mixed "
                        "with a Tank config)",
                        cfg_show(cfg_sval(k), k->data.scalar.length, show, sizeof(show)));
    }
    if (ph == NULL && pandora != NULL)
        return cfg_fail(c, pandora, "%s", CFG_PANDORA_MSG);
    if (ph == NULL)
        return cfg_fail(c, root,
                        "no phantom: section (mortar runs the phantom part of a Tank config)");
    rc = tank_phantom(c, phk, ph);
    if (rc == MT_OK && as != NULL)
        rc = tank_autostop(c, as);
    return rc;
}

/* A Tank config has a phantom: section, or an autostop: mapping (mortar's autostop is a list). */
static bool cfg_is_tank(cfg_t *c, const yaml_node_t *root)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        if (k->type != YAML_SCALAR_NODE)
            continue;
        if (strcmp(cfg_sval(k), "phantom") == 0)
            return true;
        if (strcmp(cfg_sval(k), "autostop") == 0 && v->type == YAML_MAPPING_NODE)
            return true;
    }
    return false;
}

/* ---- entry points ---- */

/* libyaml's error as a positioned message. */
static int cfg_yaml_error(cfg_t *c, const yaml_parser_t *p, const char *buf, size_t len)
{
    yaml_mark_t m = p->problem_mark;

    if (p->error == YAML_MEMORY_ERROR)
        return cfg_nomem(c);
    if (p->error == YAML_READER_ERROR) {
        /* reader errors carry a byte offset, not a mark */
        size_t off = p->problem_offset < len ? p->problem_offset : len, line = 0, col = 0;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 0;
            } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
                col++;
            }
        }
        m.line = line;
        m.column = col;
        return cfg_fail_at(c, m, "%s", p->problem != NULL ? p->problem : "cannot read the text");
    }
    if (p->context != NULL)
        return cfg_fail_at(c, m, "%s (%s at line %zu)",
                           p->problem != NULL ? p->problem : "syntax error", p->context,
                           p->context_mark.line + 1);
    return cfg_fail_at(c, m, "%s", p->problem != NULL ? p->problem : "syntax error");
}

/* libyaml has no nesting limit, and its scanner's time grows with the square of the flow
 * nesting depth ("[[[[...": minutes for a few hundred thousand): a first pass over the events
 * stops at CFG_MAX_DEPTH, long before that, and before any node is built. */
static int cfg_check_depth(cfg_t *c, const char *buf, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int depth = 0, rc = MT_OK;

    if (!yaml_parser_initialize(&parser))
        return cfg_nomem(c);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    for (;;) {
        yaml_event_type_t type;
        yaml_mark_t mark;

        if (!yaml_parser_parse(&parser, &ev)) {
            rc = cfg_yaml_error(c, &parser, buf, len);
            break;
        }
        type = ev.type;
        mark = ev.start_mark;
        yaml_event_delete(&ev);
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_MAX_DEPTH) {
                rc = cfg_fail_at(c, mark, "nested deeper than %d levels", CFG_MAX_DEPTH);
                break;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (type == YAML_STREAM_END_EVENT) {
            break;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* A Tank INI file (load.ini): its YAML equivalent, mapped as a load.yaml (runspec/ini.h). */
static int cfg_run_ini(cfg_t *c, const char *buf, size_t len)
{
    yaml_document_t doc;
    int rc = mt__ini_to_yaml(buf, len, &doc, c->err);
    if (rc != MT_OK)
        return rc;
    c->doc = &doc;
    c->ini = true;
    rc = cfg_tank(c, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    c->doc = NULL;
    return rc;
}

static bool cfg_is_ini_name(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    return n > 4 && (strcmp(name + n - 4, ".ini") == 0 || strcmp(name + n - 4, ".INI") == 0);
}

static int cfg_run(cfg_t *c, const char *buf, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    yaml_node_t *root;
    bool have_doc = false;
    int rc;

    if (len > MT_CONFIG_MAX_BYTES) {
        c->err->line = 0;
        c->err->col = 0;
        snprintf(c->err->msg, sizeof(c->err->msg), "larger than %d MiB",
                 MT_CONFIG_MAX_BYTES / (1024 * 1024));
        return MT_EPARSE;
    }
    if (mt__ini_detect(buf, len) || cfg_is_ini_name(c->name))
        return cfg_run_ini(c, buf, len);
    rc = cfg_check_depth(c, buf, len);
    if (rc != MT_OK)
        return rc;
    if (!yaml_parser_initialize(&parser))
        return cfg_nomem(c);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = cfg_yaml_error(c, &parser, buf, len);
        goto out;
    }
    have_doc = true;
    c->doc = &doc;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        yaml_mark_t m = {0, 0, 0};
        rc = cfg_fail_at(c, m, "no settings (the file is empty)");
        goto out;
    }
    /* one document only: a second one is most likely a mistake */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = cfg_yaml_error(c, &parser, buf, len);
        goto out;
    }
    if (yaml_document_get_root_node(&extra) != NULL) {
        rc = cfg_fail_at(c, yaml_document_get_root_node(&extra)->start_mark,
                         "a second YAML document (give one)");
        yaml_document_delete(&extra);
        goto out;
    }
    yaml_document_delete(&extra);
    if (root->type != YAML_MAPPING_NODE) {
        rc = cfg_fail(c, root, "expected a mapping of settings (key: value), got %s",
                      cfg_type_name(root));
        goto out;
    }
    rc = cfg_is_tank(c, root) ? cfg_tank(c, root) : cfg_mortar(c, root);
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int mt__config_parse(const char *buf, size_t len, const char *name, int *argc, char ***argv,
                     char **url, mt__config_info_t *info, mt_parse_err_t *err)
{
    mt_parse_err_t dummy;
    cfg_t c;
    int rc;

    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof(*err));
    if (url != NULL)
        *url = NULL;
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (argc == NULL || argv == NULL || url == NULL || *argc < 0 || (buf == NULL && len > 0) ||
        (*argv == NULL && *argc != 0)) {
        snprintf(err->msg, sizeof(err->msg), "invalid argument");
        return MT_EINVAL;
    }
    memset(&c, 0, sizeof(c));
    c.name = name != NULL ? name : "config";
    c.argc = argc;
    c.argv = argv;
    c.argc0 = *argc;
    c.argv_null = *argv == NULL;
    c.cap = *argv == NULL ? 0 : (size_t)*argc + 1;
    c.collect = info != NULL;
    c.err = err;

    rc = cfg_run(&c, buf != NULL ? buf : "", len);
    if (rc == MT_OK) {
        *url = c.url;
        if (info != NULL) {
            info->first = c.argc0;
            info->n = *argc - c.argc0;
            info->src = c.src;
            info->warnings = c.warn;
            info->nwarnings = c.nwarn;
            info->need_url = c.need_url;
            info->need_ammo = c.need_ammo;
            return MT_OK;
        }
    } else {
        for (int i = c.argc0; i < *argc; i++)
            free((*argv)[i]);
        *argc = c.argc0;
        if (c.argv_null) {
            free(*argv);
            *argv = NULL;
        } else {
            (*argv)[c.argc0] = NULL;
        }
        free(c.url);
    }
    free(c.src);
    for (size_t i = 0; i < c.nwarn; i++)
        free(c.warn[i]);
    free(c.warn);
    return rc;
}

int mt__config_load_info(const char *path, int *argc, char ***argv, char **url,
                         mt__config_info_t *info, mt_parse_err_t *err)
{
    mt_parse_err_t dummy;
    char show[64];
    FILE *f;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof(*err));
    if (url != NULL)
        *url = NULL;
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (path == NULL) {
        snprintf(err->msg, sizeof(err->msg), "invalid argument");
        return MT_EINVAL;
    }
    cfg_show(path, strlen(path), show, sizeof(show));
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err->msg, sizeof(err->msg), "cannot open '%s': %s", show, strerror(errno));
        return MT_ESYS;
    }
    rc = mt__read_stream(f, MT_CONFIG_MAX_BYTES, &buf, &len);
    if (rc == MT_ENOMEM) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        goto out;
    }
    if (rc != MT_OK) {
        snprintf(err->msg, sizeof(err->msg), "cannot read '%s': %s", show, strerror(errno));
        goto out;
    }
    rc = mt__config_parse(buf, len, path, argc, argv, url, info, err);
out:
    fclose(f);
    free(buf);
    return rc;
}

int mt__config_load(const char *path, int *argc, char ***argv, char **url, mt_parse_err_t *err)
{
    return mt__config_load_info(path, argc, argv, url, NULL, err);
}

void mt__config_argv_free(int argc, char **argv)
{
    if (argv == NULL)
        return;
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

void mt__config_info_dispose(mt__config_info_t *info)
{
    if (info == NULL)
        return;
    free(info->src);
    for (size_t i = 0; i < info->nwarnings; i++)
        free(info->warnings[i]);
    free(info->warnings);
    memset(info, 0, sizeof(*info));
}

const char *mt__config_format_err(const char *path, int rc, const mt_parse_err_t *err, char *buf,
                                  size_t n)
{
    char show[64];

    if (n == 0)
        return buf;
    cfg_show(path != NULL ? path : "config", path != NULL ? strlen(path) : 6, show, sizeof(show));
    if (rc == MT_ESYS || rc == MT_ENOMEM || rc == MT_EINVAL)
        snprintf(buf, n, "%s", err->msg);
    else if (err->line > 0)
        snprintf(buf, n, "%s:%d:%d: %s", show, err->line, err->col, err->msg);
    else
        snprintf(buf, n, "%s: %s", show, err->msg);
    return buf;
}
