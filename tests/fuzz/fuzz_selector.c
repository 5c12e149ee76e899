/* libFuzzer driver for the label selectors of placement (mt__selector_parse, mt__selector_match,
 * mt__place). The source is included, not linked from mortar_server, so that libFuzzer's
 * coverage instrumentation sees it. */
#include "../../src/server/placement.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size, 4096);
    if (!text)
        return 0;
    mt__selector_t *sel = malloc(sizeof *sel);
    mt_parse_err_t err;
    memset(&err, 0, sizeof err);
    int rc = mt__selector_parse(text, sel, &err);
    static const char *const labels[] = {
        "{}",
        "{\"zone\":\"a\"}",
        "{\"zone\":\"b\",\"tier\":\"spot\"}",
        "{\"k\":\"\",\"n\":1}",
    };
    if (rc == MT_OK) {
        CHECK(sel->n <= MT_SEL_MAX_REQS);
        for (unsigned i = 0; i < sel->n; i++) {
            const mt__sel_req_t *r = &sel->reqs[i];
            CHECK(r->key && r->key[0] && strlen(r->key) <= MT_SEL_MAX_TOKEN);
            CHECK(r->key >= sel->buf && r->key < sel->buf + sizeof sel->buf);
            CHECK(r->nvalues <= MT_SEL_MAX_VALUES);
            if (r->op == MT_SEL_EQ || r->op == MT_SEL_NE)
                CHECK(r->nvalues == 1);
            if (r->op == MT_SEL_IN || r->op == MT_SEL_NOTIN)
                CHECK(r->nvalues >= 1);
            for (unsigned k = 0; k < r->nvalues; k++)
                CHECK(strlen(r->values[k]) <= MT_SEL_MAX_TOKEN);
        }
        /* every agent: matching never fails; placement keeps to up agents with a free slot */
        mt__place_agent_t ag[4];
        for (size_t i = 0; i < 4; i++) {
            json_t *l = json_loads(labels[i], 0, NULL);
            (void)mt__selector_match(sel, l);
            json_decref(l);
            ag[i] = (mt__place_agent_t){"a", labels[i], (int)i, 1, (int)(i & 1)};
        }
        size_t chosen[4];
        char reason[256];
        for (unsigned want = 1; want <= 4; want++) {
            int prc = mt__place(ag, 4, want, text, chosen, reason, sizeof reason);
            CHECK(prc == MT_OK || prc == MT_EBUSY);
            if (prc == MT_OK)
                for (unsigned k = 0; k < want; k++)
                    CHECK(chosen[k] < 4 && ag[chosen[k]].up &&
                          ag[chosen[k]].active < ag[chosen[k]].capacity);
            else
                CHECK(strncmp(reason, "waiting for ", 12) == 0);
        }
        /* the queue: the same selector three times and one other; each start is valid */
        mt__place_run_t runs[4] = {{1, text}, {2, text}, {1, "zone=a"}, {1, text}};
        mt__place_result_t res[4];
        size_t qc[4][2];
        memset(res, 0, sizeof res);
        for (int i = 0; i < 4; i++)
            res[i].chosen = qc[i];
        CHECK(mt__place_queue(ag, 4, runs, 4, res) == MT_OK);
        for (int i = 0; i < 4; i++) {
            CHECK(res[i].verdict != MT_PLACE_INVALID);
            if (res[i].verdict == MT_PLACE_START)
                for (unsigned k = 0; k < runs[i].want; k++)
                    CHECK(qc[i][k] < 4 && ag[qc[i][k]].up);
            else
                CHECK(strncmp(res[i].reason, "waiting for ", 12) == 0);
        }
    } else {
        CHECK(rc == MT_EPARSE);
        CHECK(err.col >= 1 && (size_t)err.col <= strlen(text) + 1);
        CHECK(err.msg[0] != '\0');
        char reason[256];
        size_t chosen[1];
        CHECK(mt__place(NULL, 0, 1, text, chosen, reason, sizeof reason) == MT_EINVAL);
    }
    free(sel);
    free(text);
    return 0;
}
