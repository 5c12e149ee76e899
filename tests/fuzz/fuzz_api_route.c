/* libFuzzer driver for the API's pure helpers (src/server/api_route.c): path -> route
 * matching and method lists, whole-number query values, media types, JSON Merge Patch and the
 * metrics' method label (first byte 'm'). The
 * first byte picks the helper; the rest is its input. Each must answer, never crash, and keep
 * its promises (checked below). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve.h"

static void fz_match(const char *s)
{
    mt__api_match_t m;
    int rc = mt__api_match(s, &m);
    /* a path over the limit is refused whole (414), never matched by a prefix */
    if ((strlen(s) >= MT__MAX_PATH) != (rc == -2))
        abort();
    if (rc == 0) {
        if (m.kind == MT__R_NONE || m.allow == NULL || strncmp(m.route, "/api/v1/", 8) != 0)
            abort();
        if ((strchr(m.route, '{') != NULL) != (m.id != NULL)) /* {id}, or an agent's {name} */
            abort();
        if (m.id && (strchr(m.id, '/') || *m.id == '\0'))
            abort();
        if (m.sub && strstr(m.route, m.sub) == NULL)
            abort();
        /* every method the route lists is allowed, and a made-up one is not */
        char allow[64];
        snprintf(allow, sizeof allow, "%s", m.allow);
        for (char *save = NULL, *t = strtok_r(allow, ", ", &save); t;
             t = strtok_r(NULL, ", ", &save))
            if (!mt__api_allowed(m.allow, t))
                abort();
        if (mt__api_allowed(m.allow, "GE") || mt__api_allowed(m.allow, ""))
            abort();
    } else if (m.kind != MT__R_NONE || strcmp(m.route, "other") != 0 || m.id || m.sub) {
        abort();
    }
}

/* the metrics' method label: a known method as it is, anything else "other" */
static void fz_method(const char *s)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    const char *l = mt__api_method_label(s);
    int is_known = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        is_known |= strcmp(s, known[i]) == 0;
    if (is_known ? strcmp(l, s) != 0 : strcmp(l, "other") != 0)
        abort();
}

static void fz_whole(const char *s)
{
    long long out = 12345;
    int rc = mt__api_whole(s, -1000, 100000000, &out);
    if (rc == 0) {
        if (out < -1000 || out > 100000000 || strtoll(s, NULL, 10) != out)
            abort();
    } else if (rc == 1) {
        if (*s != '\0' || out != 12345)
            abort();
    } else if (rc != -1) {
        abort();
    }
}

static void fz_patch(const char *s)
{
    const char *nl = strchr(s, '\n');
    if (nl == NULL)
        return;
    json_t *target = json_loadb(s, (size_t)(nl - s), JSON_DECODE_ANY, NULL);
    json_t *patch = json_loads(nl + 1, JSON_DECODE_ANY, NULL);
    if (target && patch) {
        json_t *once = mt__merge_patch(target, patch);
        if (once == NULL)
            abort();
        /* a merge patch is idempotent, and leaves its inputs alone */
        json_t *twice = mt__merge_patch(once, patch);
        json_t *t2 = json_loadb(s, (size_t)(nl - s), JSON_DECODE_ANY, NULL);
        if (twice == NULL || !json_equal(once, twice) || (t2 && !json_equal(t2, target)))
            abort();
        if (json_is_object(patch) && !json_is_object(once))
            abort();
        json_decref(t2);
        json_decref(twice);
        json_decref(once);
    }
    json_decref(target);
    json_decref(patch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] == 'm' ? 4 : data[0] % 4) {
    case 0:
        fz_match(s);
        break;
    case 4:
        fz_method(s);
        break;
    case 1:
        fz_whole(s);
        break;
    case 2:
        fz_patch(s);
        break;
    default:
        if (mt__media_type_is(s, "application/json") && !mt__media_type_is(s, "APPLICATION/JSON"))
            abort();
        break;
    }
    free(s);
    return 0;
}
