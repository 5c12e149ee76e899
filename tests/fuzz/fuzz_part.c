/* libFuzzer driver for mt_part_from_json (the part of a split run inside a prepare message).
 * The source is included, not linked from mortar_core, so that libFuzzer's coverage
 * instrumentation sees it. A part that parses passes mt_part_check, survives a round trip
 * through mt_part_to_json unchanged, and maps request numbers as the engine does. */
#include "../../src/proto/split.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_part_t p, q;
    mt_parse_err_t err;
    char msg[160];

    if (size > 64 * 1024)
        return 0;
    int rc = mt_part_from_json((const char *)data, size, &p, &err);
    if (rc != MT_OK) {
        CHECK(rc == MT_EPARSE || rc == MT_ENOMEM);
        CHECK(p.residues == NULL);
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    CHECK(mt_part_check(&p, msg, sizeof msg) == MT_OK);
    char *js = mt_part_to_json(&p);
    CHECK(js != NULL);
    CHECK(mt_part_from_json(js, strlen(js), &q, &err) == MT_OK);
    CHECK(q.index == p.index && q.of == p.of && q.period == p.period &&
          q.nresidues == p.nresidues && q.connections == p.connections && q.threads == p.threads);
    CHECK(memcmp(q.residues, p.residues, p.nresidues * sizeof *p.residues) == 0);
    /* the engine's mapping: increasing, and each global n is in the stripe */
    uint64_t prev = 0;
    for (uint64_t m = 0; m < 3 * (uint64_t)p.nresidues; m++) {
        uint64_t n = (m / p.nresidues) * p.period + p.residues[m % p.nresidues];
        CHECK(m == 0 || n > prev);
        prev = n;
    }
    free(js);
    mt_part_dispose(&q);
    mt_part_dispose(&p);
    return 0;
}
