/* libFuzzer driver for the target's --listen parser (mt_target_parse_listen). Whatever the
 * input, it either gives a numeric host that fits the buffer and a port that, written back as
 * ADDR:PORT (or [IPV6]:PORT), parses to the same, or a message that fits. A short host
 * buffer is refused, never overrun (ASan watches). The source is included, not linked from
 * mortar_core, so that libFuzzer's coverage instrumentation sees it. */
#include "../../src/target/args.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "fuzz_check.h"

static void check_err(const char *err, size_t cap)
{
    size_t n = strnlen(err, cap);
    CHECK(n > 0 && n < cap); /* it may quote the input, newlines and all */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[64], host2[64], small[8], back[160], err[256], err2[256];
    uint16_t port = 0, port2 = 0;
    unsigned char tmp[16];
    int rc, rc2;
    char *text = fuzz_cstr(data, size, 512);

    if (!text)
        return 0;
    rc = mt_target_parse_listen(text, host, sizeof(host), &port, err, sizeof(err));
    rc2 = mt_target_parse_listen(text, host2, sizeof(host2), &port2, err2, sizeof(err2));
    CHECK(rc == rc2);
    if (rc == MT_OK) {
        bool v6 = strchr(host, ':') != NULL;
        CHECK(err[0] == 0);
        CHECK(strcmp(host, host2) == 0 && port == port2);
        CHECK(host[0] && strlen(host) < sizeof(host));
        CHECK(inet_pton(v6 ? AF_INET6 : AF_INET, host, tmp) == 1);
        snprintf(back, sizeof(back), v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
        CHECK(mt_target_parse_listen(back, host2, sizeof(host2), &port2, NULL, 0) == MT_OK);
        CHECK(strcmp(host, host2) == 0 && port == port2);
    } else {
        CHECK(rc == MT_EINVAL);
        CHECK(strcmp(err, err2) == 0);
        check_err(err, sizeof(err));
    }
    /* a buffer too short for most hosts, and a message buffer of one byte */
    rc2 = mt_target_parse_listen(text, small, sizeof(small), &port2, err2, 1);
    CHECK(rc2 == MT_OK || rc2 == MT_EINVAL);
    CHECK(err2[0] == 0);
    if (rc2 == MT_OK)
        CHECK(rc == MT_OK && strlen(small) < sizeof(small));
    free(text);
    return 0;
}
