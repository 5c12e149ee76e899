/* Snapshots of one agent's second ("mortar.snapshot/v1"): built from an engine second,
 * written as JSON with HdrHistogram V2 base64 histograms, and read back by a decoder that
 * checks every field (types, ranges, counters that must add up) and names the one that is
 * wrong. Wire format: docs/aggregation.md. */
#include "server/snapshot.h"

#include <jansson.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result/result.h"

#define SNAP_SCHEMA       "mortar.snapshot/v1"
#define SNAP_MAX_BYTES    (16u << 20)
#define SNAP_MAX_SPAN     (60LL * 1000000000LL) /* a second's span: 0 .. 60 s is accepted */
#define SNAP_MAX_TAG      127                   /* tag name bytes (MT_VERDICT_TAG_MAX - 1) */
#define MT__SNAP_MAX_KEYS 64 /* counters of the table + errors_by_kind + status */

#define XX(field, merge, presence, summary, second, value, web, label) +1
_Static_assert(0 MT_COUNTER_MAP(XX) + 2 <= MT__SNAP_MAX_KEYS, "MT__SNAP_MAX_KEYS: too small");
#undef XX

/* ---- building ---- */

static void snap_tag_dispose(mt__snap_tag_t *t)
{
    free(t->name);
    mt_hist_free(t->latency);
    mt_hist_free(t->service);
    memset(t, 0, sizeof(*t));
}

void mt__snapshot_dispose(mt__snapshot_t *s)
{
    if (s == NULL)
        return;
    mt_hist_free(s->latency);
    mt_hist_free(s->service);
    for (size_t i = 0; i < s->ntags; i++)
        snap_tag_dispose(&s->tags[i]);
    free(s->tags);
    memset(s, 0, sizeof(*s));
}

static int snap_copy_hist(const mt_hist_t *src, mt_hist_t **out)
{
    int rc = mt_hist_new_latency(out);
    if (rc != MT_OK)
        return rc;
    if (src != NULL)
        mt_hist_add(*out, src);
    return MT_OK;
}

static bool snap_id_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int mt__snapshot_from_second(mt__snapshot_t *s, const char *run_id, const char *agent,
                             const mt_second_t *sec, const char *const *tags, size_t ntags)
{
    int rc;

    memset(s, 0, sizeof(*s));
    if (run_id == NULL || agent == NULL || sec == NULL || !snap_id_ok(run_id, sizeof(s->run_id)) ||
        !snap_id_ok(agent, sizeof(s->agent)) || (ntags > 0 && tags == NULL) || ntags > MT_MAX_TAGS)
        return MT_EINVAL;
    snprintf(s->run_id, sizeof(s->run_id), "%s", run_id);
    snprintf(s->agent, sizeof(s->agent), "%s", agent);
    s->second = sec->index;
    s->span_ns = sec->span_ns;
    s->open_conns = sec->open_conns;
    s->backlog = sec->backlog;
    s->c = sec->c;
    s->nslow = sec->nslow < MT_EXEMPLARS_SLOW ? sec->nslow : MT_EXEMPLARS_SLOW;
    s->nerrs = sec->nerrs < MT_EXEMPLARS_ERR ? sec->nerrs : MT_EXEMPLARS_ERR;
    if (s->nslow)
        memcpy(s->slow, sec->slow, s->nslow * sizeof *s->slow);
    if (s->nerrs)
        memcpy(s->errs, sec->errs, s->nerrs * sizeof *s->errs);
    if ((rc = snap_copy_hist(sec->latency, &s->latency)) != MT_OK ||
        (rc = snap_copy_hist(sec->service, &s->service)) != MT_OK)
        goto fail;
    if (ntags > 0 && sec->ntags > 0) {
        size_t n = ntags < sec->ntags ? ntags : sec->ntags;
        s->tags = calloc(n, sizeof(*s->tags));
        if (s->tags == NULL) {
            rc = MT_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            mt__snap_tag_t *t = &s->tags[i];
            s->ntags++;
            t->c = sec->tags[i].c;
            if ((t->name = strdup(tags[i] != NULL ? tags[i] : "")) == NULL) {
                rc = MT_ENOMEM;
                goto fail;
            }
            if ((rc = snap_copy_hist(sec->tags[i].latency, &t->latency)) != MT_OK ||
                (rc = snap_copy_hist(sec->tags[i].service, &t->service)) != MT_OK)
                goto fail;
        }
    }
    return MT_OK;
fail:
    mt__snapshot_dispose(s);
    return rc;
}

/* ---- encoding ---- */

static json_t *snap_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *snap_counters(const mt_counters_t *c)
{
    json_t *o = json_object(), *k = json_object(), *st = json_object();
    char key[8];

    if (o == NULL || k == NULL || st == NULL) {
        json_decref(o);
        json_decref(k);
        json_decref(st);
        return NULL;
    }
    /* the counter table (mortar/counters.h): NONZERO ones are optional on the wire (older
     * agents do not send them) and written only when not 0 */
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        uint64_t v = mt__counter_get(c, d);
        if (d->presence != MT__CP_NONZERO || v != 0)
            json_object_set_new(o, d->name, snap_u64(v));
        if (strcmp(d->name, "errors") == 0) {
            for (int e = 0; e < MT_ERR__COUNT; e++)
                json_object_set_new(k, mt_err_kind_name(e), snap_u64(c->err[e]));
            json_object_set_new(o, "errors_by_kind", k);
        }
    }
    for (int i = 100; i < MT_STATUS_MAX; i++) {
        if (c->status[i] == 0)
            continue;
        snprintf(key, sizeof(key), "%d", i);
        json_object_set_new(st, key, snap_u64(c->status[i]));
    }
    if (c->status[0] > 0)
        json_object_set_new(st, "other", snap_u64(c->status[0]));
    json_object_set_new(o, "status", st);
    return o;
}

static int snap_hist_json(json_t *o, const char *key, const mt_hist_t *h)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    json_t *s;

    if (h == NULL) {
        mt_hist_t *empty = NULL;
        if ((rc = mt_hist_new_latency(&empty)) != MT_OK)
            return rc;
        rc = mt_hist_encode(empty, &text, &len);
        mt_hist_free(empty);
    } else {
        rc = mt_hist_encode(h, &text, &len);
    }
    if (rc != MT_OK)
        return rc;
    s = json_stringn(text, len);
    free(text);
    if (s == NULL || json_object_set_new(o, key, s) != 0)
        return MT_ENOMEM;
    return MT_OK;
}

int mt__snapshot_encode(const mt__snapshot_t *s, char **out, size_t *len)
{
    json_t *o = json_object(), *tags = NULL;
    int rc = MT_ENOMEM;

    *out = NULL;
    *len = 0;
    if (o == NULL)
        goto out;
    json_object_set_new(o, "schema", json_string(SNAP_SCHEMA));
    json_object_set_new(o, "run_id", json_string(s->run_id));
    json_object_set_new(o, "agent", json_string(s->agent));
    json_object_set_new(o, "second", json_integer(s->second));
    json_object_set_new(o, "span_ns", json_integer(s->span_ns));
    json_object_set_new(o, "open_connections", json_integer(s->open_conns));
    json_object_set_new(o, "backlog", snap_u64(s->backlog));
    json_object_set_new(o, "counters", snap_counters(&s->c));
    if ((rc = snap_hist_json(o, "latency", s->latency)) != MT_OK ||
        (rc = snap_hist_json(o, "service", s->service)) != MT_OK)
        goto out;
    rc = MT_ENOMEM;
    tags = json_array();
    if (tags == NULL)
        goto out;
    for (size_t i = 0; i < s->ntags; i++) {
        json_t *t = json_object();
        if (t == NULL || json_array_append_new(tags, t) != 0)
            goto out;
        json_object_set_new(t, "name", json_string(s->tags[i].name));
        json_object_set_new(t, "counters", snap_counters(&s->tags[i].c));
        if ((rc = snap_hist_json(t, "latency", s->tags[i].latency)) != MT_OK ||
            (rc = snap_hist_json(t, "service", s->tags[i].service)) != MT_OK)
            goto out;
        rc = MT_ENOMEM;
    }
    json_object_set_new(o, "tags", tags);
    tags = NULL;
    if (s->nslow > 0 || s->nerrs > 0) {
        const char *names[MT_MAX_TAGS];
        size_t nn = s->ntags < MT_MAX_TAGS ? s->ntags : MT_MAX_TAGS;
        for (size_t i = 0; i < nn; i++)
            names[i] = s->tags[i].name;
        json_t *ex = mt__result_exemplars_json(s->slow, s->nslow, s->errs, s->nerrs, names, nn);
        if (ex == NULL || json_object_set_new(o, "exemplars", ex) != 0)
            goto out;
    }
    *out = json_dumps(o, JSON_COMPACT);
    if (*out == NULL)
        goto out;
    *len = strlen(*out);
    rc = MT_OK;
out:
    json_decref(tags);
    json_decref(o);
    return rc;
}

/* ---- decoding ---- */

static int snap_fail(mt_parse_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int snap_fail(mt_parse_err_t *err, const char *fmt, ...)
{
    va_list ap;
    err->line = 0;
    err->col = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return MT_EPARSE;
}

/* A non-negative JSON integer at o[key] into *v. where names the object for messages. */
static int snap_uint(const json_t *o, const char *where, const char *key, uint64_t max, uint64_t *v,
                     mt_parse_err_t *err)
{
    const json_t *x = json_object_get(o, key);
    if (x == NULL)
        return snap_fail(err, "%s%s: missing", where, key);
    if (!json_is_integer(x))
        return snap_fail(err, "%s%s: expected a whole number", where, key);
    if (json_integer_value(x) < 0 || (uint64_t)json_integer_value(x) > max)
        return snap_fail(err, "%s%s: %lld is out of range (0 .. %llu)", where, key,
                         (long long)json_integer_value(x), (unsigned long long)max);
    *v = (uint64_t)json_integer_value(x);
    return MT_OK;
}

/* Every key of o must be among names. */
static int snap_keys(const json_t *o, const char *where, const char *const *names, size_t n,
                     mt_parse_err_t *err)
{
    const char *k;
    const json_t *v;
    char show[48];

    json_object_foreach((json_t *)o, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, names[i]) == 0;
        if (!known) {
            size_t i = 0;
            for (; k[i] != '\0' && i < sizeof(show) - 4; i++)
                show[i] = ((unsigned char)k[i] < 0x20 || k[i] == 0x7f) ? '?' : k[i];
            show[i] = '\0';
            return snap_fail(err, "%sunknown key '%s'", where, show);
        }
    }
    return MT_OK;
}

static int snap_dec_counters(const json_t *o, const char *where, mt_counters_t *c,
                             mt_parse_err_t *err)
{
    const char *names[MT__SNAP_MAX_KEYS];
    size_t nnames = 0;
    char w[96];
    const json_t *k, *st, *v;
    const char *key;
    uint64_t sum = 0, nstatus = 0;
    int rc;

    memset(c, 0, sizeof(*c));
    if (!json_is_object(o))
        return snap_fail(err, "%s: expected an object", where);
    snprintf(w, sizeof(w), "%s: ", where);
    for (size_t i = 0; i < mt__ncounters; i++)
        names[nnames++] = mt__counters[i].name;
    names[nnames++] = "errors_by_kind";
    names[nnames++] = "status";
    if ((rc = snap_keys(o, w, names, nnames, err)) != MT_OK)
        return rc;
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        uint64_t x = 0;
        if (d->presence == MT__CP_NONZERO && json_object_get(o, d->name) == NULL)
            continue; /* optional on the wire: absent = 0 */
        if ((rc = snap_uint(o, w, d->name, (uint64_t)INT64_MAX, &x, err)) != MT_OK)
            return rc;
        mt__counter_set(c, d, x);
    }

    k = json_object_get(o, "errors_by_kind");
    snprintf(w, sizeof(w), "%s.errors_by_kind", where);
    if (k == NULL)
        return snap_fail(err, "%s: missing", w);
    if (!json_is_object(k))
        return snap_fail(err, "%s: expected an object", w);
    {
        const char *kinds[MT_ERR__COUNT];
        for (int i = 0; i < MT_ERR__COUNT; i++)
            kinds[i] = mt_err_kind_name(i);
        snprintf(w, sizeof(w), "%s.errors_by_kind: ", where);
        if ((rc = snap_keys(k, w, kinds, MT_ERR__COUNT, err)) != MT_OK)
            return rc;
        for (int i = 0; i < MT_ERR__COUNT; i++) {
            if ((rc = snap_uint(k, w, kinds[i], (uint64_t)INT64_MAX, &c->err[i], err)) != MT_OK)
                return rc;
            if (c->err[i] > (uint64_t)INT64_MAX - sum)
                return snap_fail(err, "%s.errors_by_kind: the sum is too large", where);
            sum += c->err[i];
        }
    }
    if (sum != c->errors)
        return snap_fail(err, "%s.errors: %llu, but errors_by_kind adds up to %llu", where,
                         (unsigned long long)c->errors, (unsigned long long)sum);

    st = json_object_get(o, "status");
    snprintf(w, sizeof(w), "%s.status", where);
    if (st == NULL)
        return snap_fail(err, "%s: missing", w);
    if (!json_is_object(st))
        return snap_fail(err, "%s: expected an object", w);
    json_object_foreach((json_t *)st, key, v)
    {
        int code = -1;
        if (strcmp(key, "other") == 0) {
            code = 0;
        } else if (strlen(key) == 3 && key[0] >= '1' && key[0] <= '5' && key[1] >= '0' &&
                   key[1] <= '9' && key[2] >= '0' && key[2] <= '9') {
            code = (key[0] - '0') * 100 + (key[1] - '0') * 10 + (key[2] - '0');
        } else {
            char show[16];
            size_t i = 0;
            for (; key[i] != '\0' && i < sizeof(show) - 1; i++)
                show[i] = ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) ? '?' : key[i];
            show[i] = '\0';
            return snap_fail(err, "%s: key '%s' is not a status code (100..599 or \"other\")", w,
                             show);
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return snap_fail(err, "%s.%s: expected a whole number >= 0", w, key);
        c->status[code] = (uint64_t)json_integer_value(v);
        if (c->status[code] > (uint64_t)INT64_MAX - nstatus)
            return snap_fail(err, "%s: the sum is too large", w);
        nstatus += c->status[code];
    }
    if (nstatus != c->completed)
        return snap_fail(err, "%s.completed: %llu, but status adds up to %llu", where,
                         (unsigned long long)c->completed, (unsigned long long)nstatus);
    return MT_OK;
}

static int snap_dec_hist(const json_t *o, const char *where, const char *key, mt_hist_t **out,
                         mt_parse_err_t *err)
{
    const json_t *x = json_object_get(o, key);
    int rc;

    *out = NULL;
    if (x == NULL)
        return snap_fail(err, "%s%s: missing", where, key);
    if (!json_is_string(x))
        return snap_fail(err, "%s%s: expected a base64 HdrHistogram string", where, key);
    rc = mt_hist_decode(json_string_value(x), json_string_length(x), out);
    if (rc == MT_ENOMEM)
        return rc;
    if (rc != MT_OK) {
        *out = NULL;
        return snap_fail(err, "%s%s: not a HdrHistogram V2 encoding (%s)", where, key,
                         mt_strerror(rc));
    }
    return MT_OK;
}

static int snap_dec_tag(const json_t *t, size_t i, mt__snap_tag_t *out, mt_parse_err_t *err)
{
    static const char *const names[] = {"name", "counters", "latency", "service"};
    char w[64];
    const json_t *name;
    int rc;

    snprintf(w, sizeof(w), "tags[%zu]: ", i);
    if (!json_is_object(t))
        return snap_fail(err, "tags[%zu]: expected an object", i);
    if ((rc = snap_keys(t, w, names, 4, err)) != MT_OK)
        return rc;
    name = json_object_get(t, "name");
    if (name == NULL)
        return snap_fail(err, "tags[%zu].name: missing", i);
    if (!json_is_string(name))
        return snap_fail(err, "tags[%zu].name: expected a string", i);
    if (json_string_length(name) > SNAP_MAX_TAG ||
        strlen(json_string_value(name)) != json_string_length(name))
        return snap_fail(err, "tags[%zu].name: longer than %d bytes or has a NUL", i, SNAP_MAX_TAG);
    for (size_t k = 0; k < json_string_length(name); k++) {
        unsigned char ch = (unsigned char)json_string_value(name)[k];
        if (ch < 0x20 || ch == 0x7f)
            return snap_fail(err, "tags[%zu].name: control character at byte %zu", i, k + 1);
    }
    if ((out->name = strdup(json_string_value(name))) == NULL)
        return MT_ENOMEM;
    snprintf(w, sizeof(w), "tags[%zu].counters", i);
    {
        const json_t *c = json_object_get(t, "counters");
        if (c == NULL)
            return snap_fail(err, "%s: missing", w);
        if ((rc = snap_dec_counters(c, w, &out->c, err)) != MT_OK)
            return rc;
    }
    snprintf(w, sizeof(w), "tags[%zu].", i);
    if ((rc = snap_dec_hist(t, w, "latency", &out->latency, err)) != MT_OK ||
        (rc = snap_dec_hist(t, w, "service", &out->service, err)) != MT_OK)
        return rc;
    return MT_OK;
}

/* A string field that must be an id ([A-Za-z0-9_-], 1 .. max-1 bytes). */
static int snap_dec_id(const json_t *o, const char *key, char *out, size_t max, mt_parse_err_t *err)
{
    const json_t *x = json_object_get(o, key);
    if (x == NULL)
        return snap_fail(err, "%s: missing", key);
    if (!json_is_string(x))
        return snap_fail(err, "%s: expected a string", key);
    if (json_string_length(x) >= max || strlen(json_string_value(x)) != json_string_length(x) ||
        !snap_id_ok(json_string_value(x), max))
        return snap_fail(err, "%s: expected 1..%zu of A-Z a-z 0-9 - _", key, max - 1);
    memcpy(out, json_string_value(x), json_string_length(x) + 1);
    return MT_OK;
}

int mt__snapshot_decode(const char *buf, size_t len, mt__snapshot_t *out, mt_parse_err_t *err)
{
    static const char *const names[] = {"schema",  "run_id",           "agent",   "second",
                                        "span_ns", "open_connections", "backlog", "counters",
                                        "latency", "service",          "tags",    "exemplars"};
    mt_parse_err_t dummy;
    json_error_t je;
    json_t *root = NULL;
    const json_t *x;
    uint64_t v;
    int rc;

    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof(*err));
    if (out == NULL)
        return MT_EINVAL;
    memset(out, 0, sizeof(*out));
    if (buf == NULL && len > 0)
        return MT_EINVAL;
    if (len > SNAP_MAX_BYTES)
        return snap_fail(err, "larger than %u MiB", SNAP_MAX_BYTES >> 20);
    root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        rc = snap_fail(err, "not JSON: %s", je.text);
        err->line = je.line > 0 ? je.line : 0;
        err->col = je.column > 0 ? je.column : 0;
        return rc;
    }
    if (!json_is_object(root)) {
        rc = snap_fail(err, "expected a JSON object");
        goto out;
    }
    if ((rc = snap_keys(root, "", names, sizeof(names) / sizeof(names[0]), err)) != MT_OK)
        goto out;
    x = json_object_get(root, "schema");
    if (x == NULL || !json_is_string(x) || strcmp(json_string_value(x), SNAP_SCHEMA) != 0) {
        rc = snap_fail(err, "schema: expected \"%s\"", SNAP_SCHEMA);
        goto out;
    }
    if ((rc = snap_dec_id(root, "run_id", out->run_id, sizeof(out->run_id), err)) != MT_OK ||
        (rc = snap_dec_id(root, "agent", out->agent, sizeof(out->agent), err)) != MT_OK)
        goto out;
    if ((rc = snap_uint(root, "", "second", UINT32_MAX, &v, err)) != MT_OK)
        goto out;
    out->second = (uint32_t)v;
    if ((rc = snap_uint(root, "", "span_ns", (uint64_t)SNAP_MAX_SPAN, &v, err)) != MT_OK)
        goto out;
    out->span_ns = (int64_t)v;
    if ((rc = snap_uint(root, "", "open_connections", UINT32_MAX, &v, err)) != MT_OK)
        goto out;
    out->open_conns = (uint32_t)v;
    if ((rc = snap_uint(root, "", "backlog", (uint64_t)INT64_MAX, &out->backlog, err)) != MT_OK)
        goto out;
    x = json_object_get(root, "counters");
    if (x == NULL) {
        rc = snap_fail(err, "counters: missing");
        goto out;
    }
    if ((rc = snap_dec_counters(x, "counters", &out->c, err)) != MT_OK)
        goto out;
    if ((rc = snap_dec_hist(root, "", "latency", &out->latency, err)) != MT_OK ||
        (rc = snap_dec_hist(root, "", "service", &out->service, err)) != MT_OK)
        goto out;
    x = json_object_get(root, "tags");
    if (x == NULL) {
        rc = snap_fail(err, "tags: missing");
        goto out;
    }
    if (!json_is_array(x)) {
        rc = snap_fail(err, "tags: expected an array");
        goto out;
    }
    if (json_array_size(x) > MT_MAX_TAGS) {
        rc = snap_fail(err, "tags: more than %d", MT_MAX_TAGS);
        goto out;
    }
    if (json_array_size(x) > 0) {
        out->tags = calloc(json_array_size(x), sizeof(*out->tags));
        if (out->tags == NULL) {
            rc = MT_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < json_array_size(x); i++) {
            out->ntags++;
            if ((rc = snap_dec_tag(json_array_get(x, i), i, &out->tags[i], err)) != MT_OK)
                goto out;
            for (size_t j = 0; j < i; j++)
                if (strcmp(out->tags[j].name, out->tags[i].name) == 0) {
                    rc = snap_fail(err, "tags[%zu].name: the same as tags[%zu]'s", i, j);
                    goto out;
                }
        }
    }
    if ((x = json_object_get(root, "exemplars")) != NULL) {
        const char *tn[MT_MAX_TAGS];
        char why[200];
        size_t nn = out->ntags < MT_MAX_TAGS ? out->ntags : MT_MAX_TAGS;
        for (size_t i = 0; i < nn; i++)
            tn[i] = out->tags[i].name;
        if (mt__result_exemplars_get(x, out->slow, &out->nslow, out->errs, &out->nerrs, tn, nn, why,
                                     sizeof(why)) != MT_OK) {
            rc = snap_fail(err, "%s", why);
            goto out;
        }
    }
    rc = MT_OK;
out:
    json_decref(root);
    if (rc != MT_OK)
        mt__snapshot_dispose(out);
    return rc;
}

/* ---- the run's timing breakdown (end message) ---- */

const char *const mt__bd_names[MT__BD_N] = {"connect", "tls", "send", "wait", "receive"};

json_t *mt__breakdown_json(const mt_run_result_t *r)
{
    const mt_hist_t *h[MT__BD_N] = {r->connect, r->tls, r->send, r->wait, r->recv};
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < MT__BD_N; i++) {
        char *text = NULL;
        size_t len = 0;
        if (h[i] == NULL || (i == 1 && mt_hist_count(h[i]) == 0))
            continue;
        if (mt_hist_encode(h[i], &text, &len) != MT_OK ||
            json_object_set_new(o, mt__bd_names[i], json_stringn(text, len)) != 0) {
            json_decref(o);
            o = NULL;
        }
        free(text);
    }
    if (o != NULL && json_object_size(o) == 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

int mt__breakdown_add(const json_t *bd, mt_hist_t *h[MT__BD_N])
{
    mt_hist_t *x[MT__BD_N] = {0};
    const char *k;
    const json_t *v;
    int rc = json_is_object(bd) ? MT_OK : MT_EPARSE;
    json_object_foreach((json_t *)bd, k, v)
    {
        int i = 0;
        while (i < MT__BD_N && strcmp(k, mt__bd_names[i]) != 0)
            i++;
        if (i == MT__BD_N || x[i] != NULL || !json_is_string(v) ||
            mt_hist_decode(json_string_value(v), json_string_length(v), &x[i]) != MT_OK) {
            rc = MT_EPARSE;
            break;
        }
    }
    for (int i = 0; rc == MT_OK && i < MT__BD_N; i++) /* all or nothing */
        if (x[i] != NULL && h[i] == NULL)
            rc = mt_hist_new_latency(&h[i]);
    for (int i = 0; i < MT__BD_N; i++) {
        if (rc == MT_OK && x[i] != NULL)
            mt_hist_add(h[i], x[i]); /* values beyond an hour are clamped out, as everywhere */
        mt_hist_free(x[i]);
    }
    return rc;
}
