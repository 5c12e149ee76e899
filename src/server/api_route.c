/* The API's pure helpers (serve.h): path -> route, method lists, whole-number query values and
 * JSON Merge Patch. No I/O and no store, so tests/fuzz/fuzz_api_route.c drives them directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/serve.h"

/* The route table: collection, whether an id follows, the sub-resource (NULL: none; "*": one
 * of subs), the template and the allowed methods. */
typedef struct ar_route {
    int kind;
    const char *col;
    int has_id;
    const char *sub;
    const char *tmpl;
    const char *allow;
} ar_route_t;

static const ar_route_t ar_routes[] = {
    {MT__R_OPENAPI, "openapi.json", 0, NULL, "/api/v1/openapi.json", "GET"},
    {MT__R_TESTS, "tests", 0, NULL, "/api/v1/tests", "GET, POST"},
    {MT__R_TEST, "tests", 1, NULL, "/api/v1/tests/{id}", "GET, PUT, PATCH, DELETE"},
    {MT__R_TEST_SUB, "tests", 1, "versions", "/api/v1/tests/{id}/versions", "GET"},
    {MT__R_TEST_SUB, "tests", 1, "trend", "/api/v1/tests/{id}/trend", "GET"},
    {MT__R_TEST_SUB, "tests", 1, "changes", "/api/v1/tests/{id}/changes", "GET"},
    {MT__R_TEST_SUB, "tests", 1, "baseline", "/api/v1/tests/{id}/baseline", "PUT"},
    {MT__R_RUNS, "runs", 0, NULL, "/api/v1/runs", "GET, POST"},
    {MT__R_RUN, "runs", 1, NULL, "/api/v1/runs/{id}", "GET"},
    {MT__R_RUN, "runs", 1, "stop", "/api/v1/runs/{id}/stop", "POST"},
    {MT__R_RUN, "runs", 1, "series", "/api/v1/runs/{id}/series", "GET"},
    {MT__R_RUN, "runs", 1, "summary", "/api/v1/runs/{id}/summary", "GET"},
    {MT__R_RUN, "runs", 1, "compare", "/api/v1/runs/{id}/compare", "GET"},
    {MT__R_RUN, "runs", 1, "result", "/api/v1/runs/{id}/result", "GET"},
    {MT__R_RUN, "runs", 1, "report", "/api/v1/runs/{id}/report", "GET"},
    {MT__R_RUN, "runs", 1, "live", "/api/v1/runs/{id}/live", "GET"},
    {MT__R_SCHEDULES, "schedules", 0, NULL, "/api/v1/schedules", "GET, POST"},
    {MT__R_SCHEDULE, "schedules", 1, NULL, "/api/v1/schedules/{id}", "GET, PUT, PATCH, DELETE"},
    {MT__R_WHOAMI, "whoami", 0, NULL, "/api/v1/whoami", "GET"},
    {MT__R_AGENTS, "agents", 0, NULL, "/api/v1/agents", "GET"},
    {MT__R_AGENT, "agents", 1, NULL, "/api/v1/agents/{name}", "GET"},
    {MT__R_WEBHOOKS, "webhooks", 0, NULL, "/api/v1/webhooks", "GET, POST"},
    {MT__R_WEBHOOK, "webhooks", 1, NULL, "/api/v1/webhooks/{id}", "DELETE"},
    {MT__R_WEBHOOK, "webhooks", 1, "deliveries", "/api/v1/webhooks/{id}/deliveries", "GET"},
    {MT__R_TOKENS, "tokens", 0, NULL, "/api/v1/tokens", "GET, POST"},
    {MT__R_TOKEN, "tokens", 1, NULL, "/api/v1/tokens/{id}", "DELETE"},
    {MT__R_POLICY, "policy", 0, NULL, "/api/v1/policy", "GET, PUT"},
};

int mt__api_match(const char *path, mt__api_match_t *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->route, sizeof m->route, "other");
    if (path == NULL)
        return -1;
    if (strlen(path) >= sizeof m->buf)
        return -2;
    memcpy(m->buf, path, strlen(path) + 1);
    const char *seg[6];
    size_t n = 0;
    /* segments between slashes; empty ones (a doubled slash) are skipped */
    for (char *p = m->buf; *p;) {
        while (*p == '/')
            *p++ = '\0';
        if (*p == '\0')
            break;
        if (n == 6)
            return -1;
        seg[n++] = p;
        while (*p && *p != '/')
            p++;
    }
    if (n < 3 || strcmp(seg[0], "api") != 0 || strcmp(seg[1], "v1") != 0)
        return -1;
    m->id = n > 3 ? seg[3] : NULL;
    m->sub = n > 4 ? seg[4] : NULL;
    for (size_t i = 0; i < sizeof ar_routes / sizeof ar_routes[0]; i++) {
        const ar_route_t *r = &ar_routes[i];
        if (strcmp(r->col, seg[2]) != 0 || (size_t)(3 + r->has_id + (r->sub != NULL)) != n)
            continue;
        if (r->sub && strcmp(r->sub, seg[4]) != 0)
            continue;
        m->kind = r->kind;
        m->allow = r->allow;
        snprintf(m->route, sizeof m->route, "%s", r->tmpl);
        return 0;
    }
    m->id = m->sub = NULL;
    return -1;
}

const char *mt__api_method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; method && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

int mt__api_allowed(const char *allow, const char *method)
{
    size_t ml = strlen(method);
    if (ml == 0)
        return 0;
    for (const char *p = allow; (p = strstr(p, method)); p += ml)
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
            return 1;
    return 0;
}

int mt__api_whole(const char *v, long long lo, long long hi, long long *out)
{
    if (v == NULL || *v == '\0')
        return 1;
    /* digits only (strtoll alone would take " 1", "+1" and "0x1") */
    const char *p = v + (*v == '-');
    if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 18)
        return -1;
    long long x = strtoll(v, NULL, 10);
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

int mt__media_type_is(const char *ctype, const char *want)
{
    if (ctype == NULL)
        return 0;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    size_t n = strcspn(ctype, "; \t");
    return n == strlen(want) && strncasecmp(ctype, want, n) == 0;
}

/* RFC 7396 section 2, MergePatch(Target, Patch). */
json_t *mt__merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (out == NULL)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        json_t *m = mt__merge_patch(json_object_get(out, k), v);
        if (m == NULL || json_object_set_new(out, k, m) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
