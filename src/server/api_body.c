/* Checks of the API's request bodies (serve.h): the only code that reads what clients POST or
 * PUT, so it trusts nothing (fuzzed by tests/fuzz/fuzz_api_body.c). Unknown keys are errors:
 * a misspelt key must not be silently ignored. */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "mortar/error.h"
#include "runspec/runspec.h"
#include "result/baseline.h"
#include "server/agent.h"
#include "server/placement.h"
#include "server/cron.h"
#include "server/serve.h"

typedef struct bd_err {
    char *pointer;
    char *detail;
    size_t n;
} bd_err_t;

__attribute__((format(printf, 3, 4))) static json_t *bd_fail(bd_err_t *e, const char *pointer,
                                                             const char *fmt, ...)
{
    snprintf(e->pointer, e->n, "%s", pointer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, e->n, fmt, ap);
    va_end(ap);
    return NULL;
}

static json_t *bd_parse(const char *body, size_t len, bd_err_t *e)
{
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        return bd_fail(e, "", "the body is not JSON: %s (line %d, column %d)", je.text, je.line,
                       je.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return bd_fail(e, "", "the body must be a JSON object");
    }
    return j;
}

/* NULL when every key of o is in allowed (NULL-terminated); else the first unknown key. */
static const char *bd_unknown(const json_t *o, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0)
                ok = 1;
        if (!ok)
            return k;
    }
    return NULL;
}

static int bd_keys(json_t *o, const char *const *allowed, const char *base, bd_err_t *e)
{
    const char *k = bd_unknown(o, allowed);
    if (k == NULL)
        return 0;
    char p[300];
    snprintf(p, sizeof p, "%s/%.200s", base, k);
    bd_fail(e, p, "unknown key '%.200s'", k);
    return -1;
}

/* A string of 1..max bytes without control characters; required or not. */
static int bd_string(json_t *o, const char *key, int required, size_t max, bd_err_t *e)
{
    json_t *v = json_object_get(o, key);
    char p[64];
    snprintf(p, sizeof p, "/%s", key);
    if (v == NULL) {
        if (required) {
            bd_fail(e, p, "'%s' is required", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        bd_fail(e, p, "'%s' must be a string", key);
        return -1;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if ((required && n == 0) || n > max) {
        bd_fail(e, p, "'%s' must have 1 to %zu characters", key, max);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) {
            bd_fail(e, p, "'%s' contains a control character", key);
            return -1;
        }
    return 0;
}

/* The run config at parent[key] (pointer base): read by the run spec in server mode (no
 * local files), checked and built as the agent will build it, so a bad config is a 422 with
 * the spec's own pointer and wording. With canonical, the config is replaced by its canonical
 * form (runspec.h: the keys of --config, defaults filled in), which is what is stored and
 * what agents get. */
static int bd_config(json_t *parent, const char *key, const char *base, bool canonical, bd_err_t *e)
{
    json_t *cfg = json_object_get(parent, key);
    mt_runspec_t s;
    mt_rs_err_t rerr;
    int rc;

    mt_runspec_init(&s, MT_RS_SERVER);
    rc = mt_runspec_from_json(&s, cfg, base, &rerr);
    if (rc == MT_OK)
        rc = mt_runspec_check(&s, &rerr);
    if (rc == MT_OK)
        rc = mt_runspec_build(&s, &rerr);
    if (rc == MT_OK && canonical) {
        json_t *canon = mt_runspec_to_json(&s);
        if (canon == NULL || json_object_set_new(parent, key, canon) != 0) {
            rc = MT_ENOMEM;
            memset(&rerr, 0, sizeof(rerr));
            snprintf(rerr.msg, sizeof(rerr.msg), "out of memory");
        }
    }
    mt_runspec_dispose(&s);
    if (rc == MT_OK) {
        /* the placement keys' syntax (placement.h: the label selector) */
        mt__place_cfg_t pc;
        char pkey[32], perr[256];
        if (mt__place_cfg_read(json_object_get(parent, key), &pc, pkey, sizeof pkey, perr,
                               sizeof perr) != MT_OK) {
            char p[300];
            snprintf(p, sizeof p, "%s/%s", base, pkey);
            bd_fail(e, p, "%s", perr);
            return -1;
        }
    }
    if (rc == MT_OK)
        return 0;
    bd_fail(e, rerr.at.src == MT_RS_SRC_JSON && rerr.at.name[0] ? rerr.at.name : base, "%s",
            rerr.msg[0] ? rerr.msg : "invalid run config");
    return -1;
}

static json_t *bd_done(json_t *o, int bad)
{
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *mt__body_test(const char *body, size_t len, char *pointer, char *detail, size_t n)
{
    bd_err_t e = {pointer, detail, n};
    static const char *const keys[] = {"name",       "description",        "config",
                                       "tolerances", "fail_on_regression", NULL};
    const char *const *tkeys = mt__bl_tolerance_keys; /* result/baseline.h */
    json_t *o = bd_parse(body, len, &e);
    if (o == NULL)
        return NULL;
    if (bd_keys(o, keys, "", &e) || bd_string(o, "name", 1, 200, &e) ||
        bd_string(o, "description", 0, 10000, &e))
        return bd_done(o, 1);
    json_t *cfg = json_object_get(o, "config");
    if (cfg == NULL) {
        bd_fail(&e, "/config", "'config' is required");
        return bd_done(o, 1);
    }
    if (bd_config(o, "config", "/config", false, &e))
        return bd_done(o, 1);
    json_t *tol = json_object_get(o, "tolerances");
    if (tol == NULL) {
        json_object_set_new(o, "tolerances", json_object());
    } else {
        if (!json_is_object(tol)) {
            bd_fail(&e, "/tolerances", "'tolerances' must be an object");
            return bd_done(o, 1);
        }
        if (bd_keys(tol, tkeys, "/tolerances", &e))
            return bd_done(o, 1);
        const char *k;
        json_t *v;
        json_object_foreach(tol, k, v)
        {
            if (!json_is_number(v) || json_number_value(v) < 0) {
                char p[64];
                snprintf(p, sizeof p, "/tolerances/%s", k);
                bd_fail(&e, p, "'%s' must be a number >= 0", k);
                return bd_done(o, 1);
            }
            if (strcmp(k, "alpha") == 0 &&
                !(json_number_value(v) > 0 && json_number_value(v) < 1)) {
                bd_fail(&e, "/tolerances/alpha",
                        "'alpha' (the significance level) must be between 0 and 1, e.g. 0.01");
                return bd_done(o, 1);
            }
        }
    }
    json_t *forg = json_object_get(o, "fail_on_regression");
    if (forg == NULL)
        json_object_set_new(o, "fail_on_regression", json_false());
    else if (!json_is_boolean(forg)) {
        bd_fail(&e, "/fail_on_regression", "'fail_on_regression' must be true or false");
        return bd_done(o, 1);
    }
    if (json_object_get(o, "description") == NULL)
        json_object_set_new(o, "description", json_string(""));
    return o;
}

static int bd_labels(json_t *o, bd_err_t *e)
{
    json_t *l = json_object_get(o, "labels");
    if (l == NULL) {
        json_object_set_new(o, "labels", json_object());
        return 0;
    }
    if (!json_is_object(l) || json_object_size(l) > 64) {
        bd_fail(e, "/labels", "'labels' must be an object of at most 64 strings");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(l, k, v)
    {
        if (!json_is_string(v) || json_string_length(v) > 1000 || strlen(k) > 200) {
            char p[300];
            snprintf(p, sizeof p, "/labels/%.200s", k);
            bd_fail(e, p, "a label must be a string of at most 1000 characters");
            return -1;
        }
    }
    return 0;
}

json_t *mt__body_run(const char *body, size_t len, char *pointer, char *detail, size_t n)
{
    bd_err_t e = {pointer, detail, n};
    /* "test" is the deprecated name of "test_id" (the name schedules and Run use); it is
     * accepted and read as "test_id" during the deprecation window (docs/api.md) */
    static const char *const keys[] = {"test_id", "test", "config", "labels", NULL};
    json_t *o = bd_parse(body, len, &e);
    if (o == NULL)
        return NULL;
    if (bd_keys(o, keys, "", &e) || bd_string(o, "test_id", 0, 64, &e) ||
        bd_string(o, "test", 0, 64, &e))
        return bd_done(o, 1);
    if (json_object_get(o, "test") != NULL) {
        if (json_object_get(o, "test_id") != NULL) {
            bd_fail(&e, "/test", "give 'test_id' only ('test' is its deprecated name)");
            return bd_done(o, 1);
        }
        json_object_set(o, "test_id", json_object_get(o, "test"));
        json_object_del(o, "test");
    }
    json_t *t = json_object_get(o, "test_id"), *cfg = json_object_get(o, "config");
    if ((t == NULL) == (cfg == NULL)) {
        bd_fail(&e, "", "give either 'test_id' (a test id) or 'config' (a run config)");
        return bd_done(o, 1);
    }
    if (cfg && bd_config(o, "config", "/config", true, &e))
        return bd_done(o, 1);
    return bd_done(o, bd_labels(o, &e));
}

json_t *mt__body_schedule(const char *body, size_t len, char *pointer, char *detail, size_t n)
{
    bd_err_t e = {pointer, detail, n};
    static const char *const keys[] = {"test_id", "cron", "policy", "enabled", NULL};
    json_t *o = bd_parse(body, len, &e);
    if (o == NULL)
        return NULL;
    if (bd_keys(o, keys, "", &e) || bd_string(o, "test_id", 1, 64, &e) ||
        bd_string(o, "cron", 1, 200, &e) || bd_string(o, "policy", 0, 16, &e))
        return bd_done(o, 1);
    mt__cron_t c;
    mt_parse_err_t pe = {0};
    if (mt__cron_parse(json_string_value(json_object_get(o, "cron")), &c, &pe) != MT_OK) {
        bd_fail(&e, "/cron", "column %d: %s", pe.col, pe.msg);
        return bd_done(o, 1);
    }
    const char *p = json_string_value(json_object_get(o, "policy"));
    if (p == NULL)
        json_object_set_new(o, "policy", json_string("skip"));
    else if (strcmp(p, "skip") != 0 && strcmp(p, "queue") != 0) {
        bd_fail(&e, "/policy", "'policy' must be \"skip\" or \"queue\"");
        return bd_done(o, 1);
    }
    json_t *en = json_object_get(o, "enabled");
    if (en == NULL)
        json_object_set_new(o, "enabled", json_true());
    else if (!json_is_boolean(en)) {
        bd_fail(&e, "/enabled", "'enabled' must be true or false");
        return bd_done(o, 1);
    }
    return o;
}

static const char *const bd_event_types[] = {"*",
                                             "run.queued",
                                             "run.started",
                                             "run.finished",
                                             "run.stopped",
                                             "test.created",
                                             "test.updated",
                                             "test.changed",
                                             "schedule.fired",
                                             "schedule.skipped",
                                             "run.regressed",
                                             NULL};

json_t *mt__body_webhook(const char *body, size_t len, char *pointer, char *detail, size_t n)
{
    bd_err_t e = {pointer, detail, n};
    static const char *const keys[] = {"url", "secret", "events", NULL};
    json_t *o = bd_parse(body, len, &e);
    if (o == NULL)
        return NULL;
    if (bd_keys(o, keys, "", &e) || bd_string(o, "url", 1, 2000, &e) ||
        bd_string(o, "secret", 1, 500, &e))
        return bd_done(o, 1);
    const char *url = json_string_value(json_object_get(o, "url"));
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        bd_fail(&e, "/url", "'url' must start with http:// or https://");
        return bd_done(o, 1);
    }
    json_t *ev = json_object_get(o, "events");
    if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > 32) {
        bd_fail(&e, "/events", "'events' must be a list of 1 to 32 event types (or [\"*\"])");
        return bd_done(o, 1);
    }
    size_t i;
    json_t *v;
    json_array_foreach(ev, i, v)
    {
        int ok = 0;
        for (const char *const *t = bd_event_types; json_is_string(v) && *t; t++)
            if (strcmp(*t, json_string_value(v)) == 0)
                ok = 1;
        if (!ok) {
            char p[64];
            snprintf(p, sizeof p, "/events/%zu", i);
            bd_fail(&e, p,
                    "not an event type (run.queued, run.started, run.finished, "
                    "run.stopped, test.created, test.updated, schedule.fired, "
                    "test.changed, "
                    "schedule.skipped, run.regressed, or *)");
            return bd_done(o, 1);
        }
    }
    return o;
}

json_t *mt__body_token(const char *body, size_t len, char *pointer, char *detail, size_t n)
{
    bd_err_t e = {pointer, detail, n};
    static const char *const keys[] = {"name", "role", NULL};
    json_t *o = bd_parse(body, len, &e);
    if (o == NULL)
        return NULL;
    if (bd_keys(o, keys, "", &e) || bd_string(o, "name", 0, 200, &e) ||
        bd_string(o, "role", 1, 16, &e))
        return bd_done(o, 1);
    const char *r = json_string_value(json_object_get(o, "role"));
    if (strcmp(r, "viewer") != 0 && strcmp(r, "runner") != 0 && strcmp(r, "admin") != 0) {
        bd_fail(&e, "/role", "'role' must be viewer, runner or admin");
        return bd_done(o, 1);
    }
    if (json_object_get(o, "name") == NULL)
        json_object_set_new(o, "name", json_string(""));
    return o;
}

json_t *mt__body_baseline(const char *body, size_t len, char *pointer, char *detail, size_t n)
{
    bd_err_t e = {pointer, detail, n};
    static const char *const keys[] = {"run_id", NULL};
    json_t *o = bd_parse(body, len, &e);
    if (o == NULL)
        return NULL;
    return bd_done(o, bd_keys(o, keys, "", &e) || bd_string(o, "run_id", 1, 64, &e));
}
