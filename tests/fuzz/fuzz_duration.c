/* libFuzzer driver for mt_parse_duration. The source is included, not linked from
 * mortar_core, so that libFuzzer's coverage instrumentation sees it. */
#include "../../src/proto/duration.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_parse_err_t err;
    int64_t ns = -1;
    char *text;
    int rc;

    text = fuzz_cstr(data, size, 1024);
    if (!text)
        return 0;
    memset(&err, 0, sizeof(err));

    rc = mt_parse_duration(text, &ns, &err);
    if (rc == MT_OK) {
        CHECK(ns >= 0);
        /* after a unit, "1us" adds exactly 1 us (unless now out of order or too large) */
        size_t len = strlen(text);
        if (len > 0 && len < 1000 && dur_is_alpha(text[len - 1])) {
            char more[1024];
            int64_t ns2;
            snprintf(more, sizeof(more), "%s1us", text);
            if (mt_parse_duration(more, &ns2, NULL) == MT_OK)
                CHECK(ns2 == ns + 1000);
        }
    } else {
        CHECK(rc == MT_EPARSE || rc == MT_ERANGE);
        CHECK(ns == -1);
        CHECK(err.col >= 1 && (size_t)err.col <= strlen(text) + 1);
        CHECK(err.msg[0] != '\0');
        for (const char *p = err.msg; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f);
    }
    free(text);
    return 0;
}
