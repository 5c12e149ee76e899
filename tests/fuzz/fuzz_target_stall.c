/* libFuzzer driver for the target's --stall parser (mt_target_parse_stall). Whatever the input,
 * it either gives START >= 0 and LEN > 0 that, written back in seconds with nine decimals,
 * parse to the same nanoseconds, or a message that fits and leaves the output alone.
 * The sources are included, not linked from mortar_core, so that libFuzzer's coverage
 * instrumentation sees them. */
#include "../../src/proto/duration.c"
#include "../../src/target/args.c"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_target_stall_t s = {-7, -7}, again = {-7, -7};
    char back[128], err[256], err2[256];
    int rc, rc2;
    char *text = fuzz_cstr(data, size, 512);

    if (!text)
        return 0;
    rc = mt_target_parse_stall(text, &s, err, sizeof(err));
    rc2 = mt_target_parse_stall(text, &again, err2, sizeof(err2));
    CHECK(rc == rc2);
    if (rc == MT_OK) {
        CHECK(err[0] == 0);
        CHECK(s.start_ns >= 0 && s.len_ns > 0);
        CHECK(s.start_ns == again.start_ns && s.len_ns == again.len_ns);
        snprintf(back, sizeof(back), "%" PRId64 ".%09" PRId64 "s:%" PRId64 ".%09" PRId64 "s",
                 s.start_ns / 1000000000, s.start_ns % 1000000000, s.len_ns / 1000000000,
                 s.len_ns % 1000000000);
        CHECK(mt_target_parse_stall(back, &again, NULL, 0) == MT_OK);
        CHECK(again.start_ns == s.start_ns && again.len_ns == s.len_ns);
    } else {
        size_t n = strnlen(err, sizeof(err));
        CHECK(rc == MT_EINVAL);
        CHECK(s.start_ns == -7 && s.len_ns == -7);
        CHECK(strcmp(err, err2) == 0);
        CHECK(n > 0 && n < sizeof(err)); /* it may quote the input */
    }
    free(text);
    return 0;
}
