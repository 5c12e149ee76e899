/* The baseline verdict of a stored run (baseline.h). */
#include "server/baseline.h"

#include <stdio.h>
#include <string.h>

#include "mortar/error.h"
#include "server/analysis.h"

int mt__baseline_verdict(mt__store_t *st, const char *run_id, const char *base_id,
                         const json_t *tolerances, json_t **out, char *err, size_t errlen)
{
    mt__store_rows_t a = {0}, b = {0};
    int rc;

    *out = NULL;
    if ((rc = st->ops->run_rows(st, run_id, NULL, 0, 100000000, &a)) != MT_OK) {
        snprintf(err, errlen, "run %s: %s", run_id, mt_strerror(rc));
        return rc;
    }
    if ((rc = st->ops->run_rows(st, base_id, NULL, 0, 100000000, &b)) != MT_OK) {
        snprintf(err, errlen, "baseline run %s: %s", base_id, mt_strerror(rc));
        goto out;
    }
    rc = mt__analysis_compare(a.rows, a.n, b.rows, b.n, tolerances, base_id, out, err, errlen);
out:
    mt__store_rows_dispose(&a);
    mt__store_rows_dispose(&b);
    return rc;
}

int mt__baseline_at_end(mt__store_t *st, const char *run_id, json_t **out, bool *fail, char *err,
                        size_t errlen)
{
    json_t *run = NULL, *test = NULL;
    const char *test_id, *base_id;
    int rc;

    *out = NULL;
    *fail = false;
    if ((rc = st->ops->run_get(st, run_id, &run)) != MT_OK)
        goto out;
    test_id = json_string_value(json_object_get(run, "test_id"));
    if (test_id == NULL || st->ops->test_get(st, test_id, &test) != MT_OK)
        goto out; /* an ad-hoc run, or its test was deleted: no baseline */
    base_id = json_string_value(json_object_get(test, "baseline_run_id"));
    if (base_id == NULL || strcmp(base_id, run_id) == 0)
        goto out;
    rc = mt__baseline_verdict(st, run_id, base_id, json_object_get(test, "tolerances"), out, err,
                              errlen);
    if (rc == MT_OK &&
        json_integer_value(json_object_get(json_object_get(*out, "seconds"), "base")) == 0) {
        /* the baseline's seconds are gone (or it never stored any): nothing to judge against */
        snprintf(err, errlen, "baseline run %s has no stored seconds", base_id);
        json_decref(*out);
        *out = NULL;
        rc = MT_ENOTFOUND;
    }
    if (rc == MT_OK)
        *fail = json_is_true(json_object_get(test, "fail_on_regression"));
out:
    json_decref(run);
    json_decref(test);
    return rc;
}
