/* libFuzzer driver for mt_traceparent_parse (and the exemplars' JSON reader): the source is
 * included so that coverage instrumentation sees it. What parses is written back identically. */
#include "../../src/engine/trace.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_check.h"
#include "result/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t t[16], s[8];
    bool sampled = false;
    mt_parse_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = mt_traceparent_parse((const char *)data, size, t, s, &sampled, &err);
    if (rc == MT_OK) {
        char out[MT_TRACEPARENT_LEN + 1];
        CHECK(size == MT_TRACEPARENT_LEN);
        mt_traceparent_format(out, t, s, sampled);
        CHECK(memcmp(out, data, 53) == 0); /* the flags byte may carry other bits */
    } else {
        CHECK(rc == MT_EPARSE);
        CHECK(err.col >= 1 && (size_t)err.col <= MT_TRACEPARENT_LEN + 1);
        CHECK(err.msg[0] != '\0');
        fuzz_check_ascii(err.msg);
    }
    /* the same bytes as an "exemplars" object of a result document */
    json_t *o = json_loadb((const char *)data, size, 0, NULL);
    if (o != NULL) {
        mt_exemplar_t sl[MT_EXEMPLARS_SLOW], er[MT_EXEMPLARS_ERR];
        size_t ns = 99, ne = 99;
        char msg[200];
        static const char *const tags[] = {"", "a"};
        rc = mt__result_exemplars_get(o, sl, &ns, er, &ne, tags, 2, msg, sizeof msg);
        CHECK(rc == MT_OK || rc == MT_EFORMAT);
        if (rc == MT_OK)
            CHECK(ns <= MT_EXEMPLARS_SLOW && ne <= MT_EXEMPLARS_ERR);
        json_decref(o);
    }
    return 0;
}
