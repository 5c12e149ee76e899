/* libFuzzer driver for mt__store_uri_check (--store, src/server/store_open.c). The source is
 * included, not linked from mortar_server, so that libFuzzer's coverage instrumentation sees
 * it. Properties: never a crash; an accepted URI is postgresql:// or postgres://, has no
 * password in its user info or query and no space or control byte; a refusal says why in
 * printable ASCII naming --store. */
#include "../../src/server/store_open.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *uri = fuzz_cstr(data, size, 8192);
    if (!uri)
        return 0;
    char err[512] = "";
    int rc = mt__store_uri_check(uri, err, sizeof err);
    if (rc == MT_OK) {
        size_t pre = strncmp(uri, "postgresql://", 13) == 0 ? 13 : 11;
        CHECK(strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0);
        CHECK(strlen(uri) <= URI_MAX);
        for (const char *p = uri; *p; p++)
            CHECK((unsigned char)*p > 0x20 && (unsigned char)*p != 0x7f);
        size_t end = pre + strcspn(uri + pre, "/?#");
        const char *at = NULL;
        for (size_t i = pre; i < end; i++)
            if (uri[i] == '@')
                at = uri + i;
        if (at != NULL)
            CHECK(memchr(uri + pre, ':', (size_t)(at - (uri + pre))) == NULL);
        const char *q = strchr(uri + end, '?');
        if (q != NULL) {
            CHECK(strncmp(q + 1, "password=", 9) != 0);
            CHECK(strstr(q, "&password=") == NULL);
        }
    } else {
        CHECK(rc == MT_EINVAL);
        CHECK(strncmp(err, "--store", 7) == 0);
        fuzz_check_ascii(err);
    }
    free(uri);
    return 0;
}
