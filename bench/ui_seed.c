/* mortar-ui-seed: makes a long stored run for bench/ui.sh out of a short real one, through the
 * store (store.h), as if the server had run it: a new run with the source's config is queued,
 * started and given SECONDS stored seconds, the source's seconds (every tag's rows, with their
 * histograms) repeated in turn with "t" renumbered, then finished with the source's summary
 * (duration_s set to SECONDS) and verdicts. Prints the new run's id. Stop `mortar serve` on the
 * data directory first (one writer).
 *
 * Usage: mortar-ui-seed --data DIR|--store URI --from RUN_ID [--seconds N]  (N default 3600) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"
#include "server/store.h"

static int die(const char *what, int rc)
{
    fprintf(stderr, "mortar-ui-seed: %s: %s\n", what, mt_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *from = NULL, *uri = NULL;
    long seconds = 3600;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            uri = argv[++i];
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr,
                    "usage: mortar-ui-seed --data DIR|--store URI --from RUN_ID [--seconds N]\n");
            return 2;
        }
    }
    if ((dir == NULL) == (uri == NULL) || from == NULL || seconds < 1 || seconds > 1000000) {
        fprintf(stderr, "usage: mortar-ui-seed --data DIR|--store URI --from RUN_ID "
                        "[--seconds 1..1000000]\n");
        return 2;
    }
    char err[512] = "";
    mt__store_t *st = NULL;
    int rc = mt__store_open_any(dir, uri, NULL, &st, err, sizeof err);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar-ui-seed: %s: %s\n", uri ? uri : dir, err);
        return 1;
    }
    const mt__store_ops_t *op = st->ops;
    json_t *src = NULL, *run = NULL, *tmp = NULL;
    if ((rc = op->run_get(st, from, &src)) != MT_OK)
        return die(from, rc);
    const char *state = json_string_value(json_object_get(src, "state"));
    json_t *summary = json_object_get(src, "summary");
    if (state == NULL || !json_is_object(summary)) {
        fprintf(stderr, "mortar-ui-seed: %s is not finished (state %s)\n", from,
                state ? state : "?");
        return 1;
    }
    mt__store_rows_t rows;
    if ((rc = op->run_rows(st, from, NULL, 0, 100000000, &rows)) != MT_OK)
        return die("rows of the source run", rc);
    if (rows.n == 0) {
        fprintf(stderr, "mortar-ui-seed: %s stored no seconds\n", from);
        return 1;
    }
    /* the source's seconds: [first row index, row count) per second */
    size_t nsec = 0, *at = calloc(rows.n + 1, sizeof *at);
    for (size_t i = 0; i < rows.n; i++)
        if (i == 0 || rows.second[i] != rows.second[i - 1])
            at[nsec++] = i;
    at[nsec] = rows.n;
    if (nsec > 1)
        nsec--; /* the last second may be partial: leave it out of the repetition */

    json_t *labels = json_pack("{s:s}", "seeded", "bench/ui.sh");
    if ((rc = op->run_create(st, NULL, json_object_get(src, "config"), labels, NULL, NULL, &run)) !=
        MT_OK)
        return die("run_create", rc);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(run, "id")));
    json_decref(run);
    if ((rc = op->run_start(st, id, "seed", &tmp)) != MT_OK)
        return die("run_start", rc);
    json_decref(tmp);

    mt__agg_row_t *out = calloc(rows.n, sizeof *out);
    char **texts = calloc(rows.n, sizeof *texts);
    for (long s = 0; s < seconds; s++) {
        size_t k = (size_t)s % nsec, n = at[k + 1] - at[k];
        for (size_t j = 0; j < n; j++) {
            const mt__agg_row_t *r = &rows.rows[at[k] + j];
            json_error_t je;
            json_t *d = json_loads(r->data_json, 0, &je);
            if (d == NULL) {
                fprintf(stderr, "mortar-ui-seed: a stored row is not JSON: %s\n", je.text);
                return 1;
            }
            json_object_set_new(d, "t", json_integer(s));
            texts[j] = json_dumps(d, JSON_COMPACT);
            json_decref(d);
            out[j] = *r;
            out[j].data_json = texts[j];
        }
        rc = op->run_append_second(st, id, (uint32_t)s, out, n);
        for (size_t j = 0; j < n; j++)
            free(texts[j]);
        if (rc != MT_OK)
            return die("run_append_second", rc);
    }
    json_object_set_new(summary, "duration_s", json_integer(seconds));
    char *sum = json_dumps(summary, JSON_COMPACT);
    json_t *v = json_object_get(src, "verdicts");
    char *ver = json_is_null(v) || v == NULL ? NULL : json_dumps(v, JSON_COMPACT);
    if ((rc = op->run_finish(st, id, state, "seeded by bench/ui.sh", sum, ver, &tmp)) != MT_OK)
        return die("run_finish", rc);
    json_decref(tmp);
    printf("%s\n", id);
    free(sum);
    free(ver);
    free(out);
    free(texts);
    free(at);
    json_decref(labels);
    json_decref(src);
    mt__store_rows_dispose(&rows);
    op->close(st);
    return 0;
}
