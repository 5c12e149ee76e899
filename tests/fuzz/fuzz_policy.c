/* libFuzzer driver for the target policy's parsers (server/policy.h): a policy file (YAML or
 * JSON) and a network. A parsed policy must survive its canonical JSON round trip unchanged,
 * and address checks must answer 0 or -1 with a reason. Nothing here resolves a name: the
 * checks that would (mt__policy_check_url, check_config with resolve) are not called. The
 * source is included, not linked, so that coverage instrumentation sees it. */
#include "../../src/server/policy.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

static void fuzz_printable(const char *s)
{
    CHECK(s[0] != '\0');
    for (const char *p = s; *p; p++)
        CHECK((unsigned char)*p >= 0x20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size, 16384);
    if (text == NULL)
        return 0;
    char err[600] = "";
    mt__policy_t *p = mt__policy_parse(text, size, "f.yaml", err, sizeof err);
    if (p == NULL) {
        CHECK(strncmp(err, "f.yaml", 6) == 0);
    } else {
        json_t *j = mt__policy_to_json(p, 1, NULL);
        CHECK(j != NULL);
        char pointer[300], detail[300];
        mt__policy_t *q = mt__policy_from_json(j, pointer, detail, sizeof pointer);
        CHECK(q != NULL);
        json_t *k = mt__policy_to_json(q, 1, NULL);
        CHECK(json_equal(j, k));
        json_decref(j);
        json_decref(k);
        /* a few addresses from the input's bytes */
        for (size_t i = 0; i + 16 <= size && i < 64; i += 16) {
            struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
            memcpy(&a6.sin6_addr, data + i, 16);
            char why[300] = "";
            int rc =
                mt__policy_check_addr(q, "h", (struct sockaddr *)&a6, sizeof a6, why, sizeof why);
            CHECK(rc == 0 || (rc == -1 && why[0] != '\0'));
        }
        char why[300] = "";
        int rc = mt__policy_check_name(q, "http", text, 80, why, sizeof why);
        CHECK(rc == 0 || (rc == -1 && why[0] != '\0'));
        mt__policy_unref(q);
        mt__policy_unref(p);
    }
    /* the input as one network */
    if (size < 64) {
        mt__cidr_t c;
        char why[200] = "";
        if (mt__cidr_parse(text, &c, why, sizeof why) == 0) {
            CHECK(c.bits >= 0 && c.bits <= 128);
            CHECK(mt__cidr_match(&c, c.addr));
        } else {
            fuzz_printable(why);
        }
    }
    free(text);
    return 0;
}
