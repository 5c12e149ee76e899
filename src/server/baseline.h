/* The baseline verdict of a stored run (docs/analysis.md, ADR 0029): its stored seconds and a
 * baseline run's compared by result/baseline.h. Used by GET /runs/{id}/compare and at the end
 * of every run of a test that has a baseline (cmd_serve.c's on_end). */
#ifndef MT_SERVER_BASELINE_H
#define MT_SERVER_BASELINE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "server/store.h"

/* run_id against base_id with tolerances (NULL: the defaults). MT_OK with *out a new verdict
 * object, or an error (MT_ENOTFOUND: a run does not exist; MT_EPARSE: stored data is
 * corrupt) with err filled. */
int mt__baseline_verdict(mt__store_t *st, const char *run_id, const char *base_id,
                         const json_t *tolerances, json_t **out, char *err, size_t errlen);

/* The end-of-run verdict: when run_id's test has a baseline (another run), *out is the
 * verdict against it and *fail says whether the test has fail_on_regression. MT_OK with *out
 * NULL when there is nothing to compare with; MT_ENOTFOUND with err filled when the baseline
 * has no stored seconds (no verdict is made). */
int mt__baseline_at_end(mt__store_t *st, const char *run_id, json_t **out, bool *fail, char *err,
                        size_t errlen);

#endif
