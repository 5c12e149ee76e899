/* Placement: label selectors and the choice of agents (placement.h, docs/placement.md). */
#include "server/placement.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/schedule.h"

/* ---- selectors ---------------------------------------------------------------------------- */

typedef struct sel_parser {
    const char *s; /* the text */
    size_t i;      /* position */
    mt__selector_t *out;
    size_t used; /* bytes of out->buf used */
    mt_parse_err_t *err;
} sel_parser_t;

static int sel_fail(sel_parser_t *p, const char *fmt, const char *a)
{
    p->err->line = 1;
    p->err->col = (int)p->i + 1;
    snprintf(p->err->msg, sizeof p->err->msg, fmt, a ? a : "");
    return MT_EPARSE;
}

static void sel_ws(sel_parser_t *p)
{
    while (p->s[p->i] == ' ' || p->s[p->i] == '\t')
        p->i++;
}

static int sel_tokch(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
}

/* A key or value token into buf (may be empty: the caller checks); *tok points at it. */
static int sel_token(sel_parser_t *p, const char **tok, const char *what)
{
    size_t start = p->i;
    while (sel_tokch(p->s[p->i]))
        p->i++;
    size_t len = p->i - start;
    if (len > MT_SEL_MAX_TOKEN) {
        p->i = start;
        return sel_fail(p, "%s longer than 128 characters", what);
    }
    if (p->used + len + 1 > sizeof p->out->buf) {
        p->i = start;
        return sel_fail(p, "selector too long%s", NULL);
    }
    char *d = p->out->buf + p->used;
    memcpy(d, p->s + start, len);
    d[len] = '\0';
    p->used += len + 1;
    *tok = d;
    return MT_OK;
}

/* "in" or "notin" as a whole word at the position? */
static int sel_word(sel_parser_t *p, const char *w)
{
    size_t n = strlen(w);
    return strncmp(p->s + p->i, w, n) == 0 && !sel_tokch(p->s[p->i + n]);
}

static int sel_set(sel_parser_t *p, mt__sel_req_t *r)
{
    sel_ws(p);
    if (p->s[p->i] != '(')
        return sel_fail(p, "expected '(' after in/notin of '%s'", r->key);
    p->i++;
    for (;;) {
        sel_ws(p);
        if (r->nvalues == MT_SEL_MAX_VALUES)
            return sel_fail(p, "more than 32 values in the set of '%s'", r->key);
        const char *v;
        int rc = sel_token(p, &v, "value");
        if (rc != MT_OK)
            return rc;
        if (v[0] == '\0')
            return sel_fail(p, "expected a value in the set of '%s'", r->key);
        r->values[r->nvalues++] = v;
        sel_ws(p);
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == ')') {
            p->i++;
            return MT_OK;
        }
        return sel_fail(p, "expected ',' or ')' in the set of '%s'", r->key);
    }
}

static int sel_req(sel_parser_t *p, mt__sel_req_t *r)
{
    memset(r, 0, sizeof *r);
    sel_ws(p);
    int neg = 0;
    if (p->s[p->i] == '!') {
        neg = 1;
        p->i++;
        sel_ws(p);
    }
    int rc = sel_token(p, &r->key, "key");
    if (rc != MT_OK)
        return rc;
    if (r->key[0] == '\0')
        return sel_fail(p, "expected a label key%s", NULL);
    sel_ws(p);
    char c = p->s[p->i];
    if (neg) {
        r->op = MT_SEL_NOTEXISTS;
        return MT_OK;
    }
    if (c == '\0' || c == ',') {
        r->op = MT_SEL_EXISTS;
        return MT_OK;
    }
    if (c == '=' || (c == '!' && p->s[p->i + 1] == '=')) {
        r->op = c == '=' ? MT_SEL_EQ : MT_SEL_NE;
        p->i += c == '=' ? 1 : 2;
        if (c == '=' && p->s[p->i] == '=')
            p->i++;
        sel_ws(p);
        const char *v;
        if ((rc = sel_token(p, &v, "value")) != MT_OK)
            return rc;
        r->values[0] = v;
        r->nvalues = 1;
        return MT_OK;
    }
    if (sel_word(p, "in")) {
        r->op = MT_SEL_IN;
        p->i += 2;
        return sel_set(p, r);
    }
    if (sel_word(p, "notin")) {
        r->op = MT_SEL_NOTIN;
        p->i += 5;
        return sel_set(p, r);
    }
    return sel_fail(p, "expected =, ==, !=, in, notin, ',' or the end after '%s'", r->key);
}

int mt__selector_parse(const char *text, mt__selector_t *out, mt_parse_err_t *err)
{
    memset(out, 0, sizeof out->reqs);
    out->n = 0;
    mt_parse_err_t dummy;
    sel_parser_t p = {text ? text : "", 0, out, 0, err ? err : &dummy};
    size_t len = strlen(p.s);
    if (len > MT_SEL_MAX_LEN) {
        p.i = MT_SEL_MAX_LEN;
        return sel_fail(&p, "selector longer than 1024 characters%s", NULL);
    }
    sel_ws(&p);
    if (p.s[p.i] == '\0')
        return MT_OK; /* everything */
    for (;;) {
        if (out->n == MT_SEL_MAX_REQS)
            return sel_fail(&p, "more than 32 requirements%s", NULL);
        int rc = sel_req(&p, &out->reqs[out->n]);
        if (rc != MT_OK)
            return rc;
        out->n++;
        sel_ws(&p);
        if (p.s[p.i] == '\0')
            return MT_OK;
        if (p.s[p.i] != ',')
            return sel_fail(&p, "expected ',' between requirements%s", NULL);
        p.i++;
    }
}

int mt__selector_match(const mt__selector_t *sel, const json_t *labels)
{
    for (unsigned i = 0; i < sel->n; i++) {
        const mt__sel_req_t *r = &sel->reqs[i];
        const char *v =
            json_is_object(labels) ? json_string_value(json_object_get(labels, r->key)) : NULL;
        int in = 0;
        for (unsigned k = 0; v && k < r->nvalues; k++)
            if (strcmp(v, r->values[k]) == 0)
                in = 1;
        int ok;
        switch (r->op) {
        case MT_SEL_EQ:
        case MT_SEL_IN:
            ok = in;
            break;
        case MT_SEL_NE:
        case MT_SEL_NOTIN:
            ok = !in;
            break;
        case MT_SEL_EXISTS:
            ok = v != NULL;
            break;
        default:
            ok = v == NULL;
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- choosing agents ---------------------------------------------------------------------- */

typedef struct place_cand {
    size_t index;
    int free_slots;
    int active;
    const char *name;
} place_cand_t;

static int place_cmp(const void *a, const void *b)
{
    const place_cand_t *x = a, *y = b;
    if (x->free_slots != y->free_slots)
        return x->free_slots > y->free_slots ? -1 : 1;
    if (x->active != y->active)
        return x->active < y->active ? -1 : 1;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void place_need(char *out, size_t n, unsigned want, const char *sel)
{
    snprintf(out, n, "%u agent%s%s%s", want, want == 1 ? "" : "s", sel[0] ? " matching " : "", sel);
}

int mt__place_ex(const mt__place_agent_t *agents, size_t n, unsigned want, const char *selector,
                 size_t *chosen, char *reason, size_t reasonlen, mt__place_stats_t *stats)
{
    mt__place_stats_t st = {0};
    if (reasonlen)
        reason[0] = '\0';
    if (stats)
        *stats = st;
    if (want == 0) {
        snprintf(reason, reasonlen, "agents: must be at least 1");
        return MT_EINVAL;
    }
    mt__selector_t *sel = malloc(sizeof *sel);
    if (sel == NULL) {
        snprintf(reason, reasonlen, "out of memory");
        return MT_ENOMEM;
    }
    mt_parse_err_t perr = {0};
    if (mt__selector_parse(selector, sel, &perr) != MT_OK) {
        snprintf(reason, reasonlen, "agent_labels: column %d: %s", perr.col, perr.msg);
        free(sel);
        return MT_EINVAL;
    }
    /* the selector as people wrote it, without surrounding blanks, for the reason */
    char shown[MT_SEL_MAX_LEN + 1];
    const char *s = selector ? selector : "";
    while (*s == ' ' || *s == '\t')
        s++;
    snprintf(shown, sizeof shown, "%s", s);
    for (size_t l = strlen(shown); l > 0 && (shown[l - 1] == ' ' || shown[l - 1] == '\t'); l--)
        shown[l - 1] = '\0';

    place_cand_t *cand = n ? malloc(n * sizeof *cand) : NULL;
    if (n && cand == NULL) {
        free(sel);
        snprintf(reason, reasonlen, "out of memory");
        return MT_ENOMEM;
    }
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        const mt__place_agent_t *a = &agents[i];
        json_t *labels = a->labels_json ? json_loads(a->labels_json, 0, NULL) : NULL;
        int m = mt__selector_match(sel, labels);
        json_decref(labels);
        if (!m)
            continue;
        st.matching++;
        if (!a->up)
            continue;
        st.matching_up++;
        if (a->active >= a->capacity)
            continue;
        st.free++;
        cand[nc++] = (place_cand_t){i, a->capacity - a->active, a->active, a->name ? a->name : ""};
    }
    free(sel);
    if (stats)
        *stats = st;
    int rc = MT_OK;
    if (st.free >= want) {
        qsort(cand, nc, sizeof *cand, place_cmp);
        for (unsigned k = 0; k < want; k++)
            chosen[k] = cand[k].index;
    } else {
        char need[MT_SEL_MAX_LEN + 64];
        place_need(need, sizeof need, want, shown);
        char down[48] = "";
        if (st.matching > st.matching_up)
            snprintf(down, sizeof down, " (%u more down)", st.matching - st.matching_up);
        if (shown[0])
            snprintf(reason, reasonlen, "waiting for %s: %u free of %u matching%s", need, st.free,
                     st.matching_up, down);
        else
            snprintf(reason, reasonlen, "waiting for %s: %u free of %u up%s", need, st.free,
                     st.matching_up, down);
        rc = MT_EBUSY;
    }
    free(cand);
    return rc;
}

int mt__place(const mt__place_agent_t *agents, size_t n, unsigned want, const char *selector,
              size_t *chosen, char *reason, size_t reasonlen)
{
    return mt__place_ex(agents, n, want, selector, chosen, reason, reasonlen, NULL);
}

/* ---- the queue ---------------------------------------------------------------------------- */

int mt__place_queue(const mt__place_agent_t *agents, size_t n, const mt__place_run_t *runs,
                    size_t nruns, mt__place_result_t *res)
{
    mt__place_agent_t *ag = n ? malloc(n * sizeof *ag) : NULL;
    mt__selector_t *sel = malloc(sizeof *sel);
    json_t **labels = n ? calloc(n, sizeof *labels) : NULL;
    int rc = MT_OK;
    if ((n && (ag == NULL || labels == NULL)) || sel == NULL) {
        rc = MT_ENOMEM;
        goto out;
    }
    if (n)
        memcpy(ag, agents, n * sizeof *ag);
    for (size_t i = 0; i < n; i++)
        labels[i] = agents[i].labels_json ? json_loads(agents[i].labels_json, 0, NULL) : NULL;
    for (size_t r = 0; r < nruns; r++) {
        mt__place_result_t *o = &res[r];
        int prc = mt__place_ex(ag, n, runs[r].want, runs[r].selector, o->chosen, o->reason,
                               sizeof o->reason, &o->stats);
        if (prc == MT_ENOMEM) {
            rc = prc;
            goto out;
        }
        if (prc == MT_EINVAL) {
            o->verdict = MT_PLACE_INVALID;
        } else if (prc == MT_OK) {
            o->verdict = MT_PLACE_START;
            for (unsigned k = 0; k < runs[r].want; k++)
                ag[o->chosen[k]].active++;
        } else if (o->stats.matching_up >= runs[r].want) {
            o->verdict = MT_PLACE_TURN;
            /* hold what it could use: every matching up agent is busy for the runs after it */
            if (mt__selector_parse(runs[r].selector, sel, NULL) == MT_OK)
                for (size_t i = 0; i < n; i++)
                    if (ag[i].up && ag[i].active < ag[i].capacity &&
                        mt__selector_match(sel, labels[i]))
                        ag[i].active = ag[i].capacity;
        } else {
            o->verdict = MT_PLACE_AGENTS;
        }
    }
out:
    for (size_t i = 0; labels && i < n; i++)
        json_decref(labels[i]);
    free(labels);
    free(sel);
    free(ag);
    return rc;
}

/* ---- the run config's placement keys ------------------------------------------------------ */

static const char *const place_keys[] = {"agents", "agent_labels", "on_agent_loss",
                                         "placement_timeout", NULL};

int mt__place_cfg_read(const json_t *cfg, mt__place_cfg_t *out, char *key, size_t keylen, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->agents = 1;
    out->timeout_ms = 60000;
    if (keylen)
        key[0] = '\0';
    json_t *v = json_object_get(cfg, "agents");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1024) {
            snprintf(key, keylen, "agents");
            snprintf(err, errlen, "agents: expected a whole number of agents in [1, 1024]");
            return MT_EINVAL;
        }
        out->agents = (unsigned)json_integer_value(v);
    }
    v = json_object_get(cfg, "agent_labels");
    if (v) {
        mt__selector_t *sel = malloc(sizeof *sel);
        mt_parse_err_t perr = {0};
        int rc = !json_is_string(v) ? MT_EINVAL
                 : sel == NULL      ? MT_ENOMEM
                                    : mt__selector_parse(json_string_value(v), sel, &perr);
        free(sel);
        if (rc != MT_OK) {
            snprintf(key, keylen, "agent_labels");
            if (rc == MT_EPARSE)
                snprintf(err, errlen, "agent_labels: column %d: %s", perr.col, perr.msg);
            else
                snprintf(err, errlen,
                         "agent_labels: expected a label selector string, e.g. \"zone=a\"");
            return MT_EINVAL;
        }
        snprintf(out->selector, sizeof out->selector, "%s", json_string_value(v));
    }
    v = json_object_get(cfg, "on_agent_loss");
    if (v) {
        const char *s = json_string_value(v);
        if (s == NULL || (strcmp(s, "error") != 0 && strcmp(s, "continue") != 0)) {
            snprintf(key, keylen, "on_agent_loss");
            snprintf(err, errlen, "on_agent_loss: expected \"error\" or \"continue\"");
            return MT_EINVAL;
        }
        out->loss_continue = strcmp(s, "continue") == 0;
    }
    v = json_object_get(cfg, "placement_timeout");
    if (v) {
        int64_t ns = -1;
        mt_parse_err_t perr = {0};
        if (json_is_integer(v) && json_integer_value(v) >= 0 &&
            json_integer_value(v) <= 366LL * 86400)
            ns = json_integer_value(v) * 1000000000LL;
        else if (json_is_string(v) && mt_parse_duration(json_string_value(v), &ns, &perr) != MT_OK)
            ns = -1;
        if (ns < 0 || ns > 366LL * 86400 * 1000000000LL) {
            snprintf(key, keylen, "placement_timeout");
            snprintf(err, errlen,
                     "placement_timeout: expected a duration such as \"60s\" or \"5m\" (0 = wait "
                     "for agents forever), at most 366d");
            return MT_EINVAL;
        }
        out->timeout_ms = ns / 1000000;
    }
    return MT_OK;
}

json_t *mt__place_cfg_strip(const json_t *cfg)
{
    json_t *c = json_copy((json_t *)cfg);
    for (const char *const *k = place_keys; c && *k; k++)
        json_object_del(c, *k);
    return c;
}
