/* libFuzzer driver for the baseline verdict's inputs (sources included for coverage): the
 * --tolerance parser (first line of the input) and a baseline result document (the rest, as
 * `mortar run --baseline FILE` reads it). Checks: a tolerance is either set with a number >= 0
 * or refused with a message; a document's seconds are read or refused with a message; a run
 * compared with itself never regresses, whatever the tolerances. */
#include "../../src/stats/compare.c"
#include "../../src/result/baseline.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size, 1 << 16), *nl, err[256] = "";
    json_t *tol = json_object(), *doc;
    mt__bl_series_t *s = mt__bl_series_new();

    if (text == NULL || tol == NULL || s == NULL)
        goto out;
    nl = strchr(text, '\n');
    if (nl != NULL)
        *nl = '\0';
    if (mt__bl_tolerance_parse(text, tol, err, sizeof(err)) == MT_OK) {
        const char *k;
        json_t *v;
        CHECK(json_object_size(tol) == 1);
        json_object_foreach(tol, k, v) CHECK(json_is_number(v) && json_number_value(v) >= 0);
    } else {
        CHECK(err[0] != '\0');
    }
    if (nl == NULL)
        goto out;
    doc = json_loads(nl + 1, 0, NULL);
    if (doc != NULL) {
        err[0] = '\0';
        if (mt__bl_series_add_doc(s, doc, err, sizeof(err)) == MT_OK) {
            json_t *sum = json_object_get(doc, "summary");
            json_t *v = mt__bl_compare(sum, s, sum, s, tol, "self");
            if (v != NULL) {
                CHECK(!json_is_true(json_object_get(v, "regressed")));
                CHECK(json_is_string(json_object_get(v, "message")));
                FILE *f = fopen("/dev/null", "w");
                if (f != NULL) {
                    mt__bl_print(f, v);
                    fclose(f);
                }
            }
            json_decref(v);
        } else {
            CHECK(err[0] != '\0');
        }
        json_decref(doc);
    }
out:
    mt__bl_series_free(s);
    json_decref(tol);
    free(text);
    return 0;
}
