/* libFuzzer driver for the request body checks of mortar serve's API (src/server/api_body.c).
 * The first byte picks the body kind (test, run, schedule, webhook, token, baseline); the rest
 * is the body. A check must return an object or fill pointer and detail, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve.h"

typedef json_t *(*body_fn)(const char *, size_t, char *, char *, size_t);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const body_fn fns[] = {mt__body_test,    mt__body_run,   mt__body_schedule,
                                  mt__body_webhook, mt__body_token, mt__body_baseline};
    if (size < 1 || size > 65536)
        return 0;
    body_fn fn = fns[data[0] % (sizeof fns / sizeof fns[0])];
    char pointer[256], detail[512];
    pointer[0] = detail[0] = '\0';
    /* not NUL-terminated on purpose: the checks take a length */
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data + 1, size - 1);
    json_t *o = fn(body, size - 1, pointer, detail, sizeof pointer);
    if (o == NULL) {
        if (detail[0] == '\0' || strlen(pointer) >= sizeof pointer)
            abort(); /* a refusal always says why */
    } else if (!json_is_object(o)) {
        abort();
    }
    json_decref(o);
    free(body);
    return 0;
}
