/* The result file of `mortar run --json FILE` ("mortar.result/v1", described by
 * docs/result-schema.json): the "config" object from the run's options, the document from
 * src/result's builder (result/result.h), and the writing. Seconds are added as they arrive
 * (mt_second_t lives only during the callback, so each is turned into JSON at once); the whole
 * document is written at the end, atomically: to FILE.tmp.PID, then renamed over FILE. "-" means
 * stdout. */
#ifndef MT_CLI_JSON_OUT_H
#define MT_CLI_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli/output.h"
#include "mortar/engine.h"

typedef struct mt__json mt__json_t;

/* Starts a result for a run described by info (copied as JSON right away). path NULL keeps
 * the document in memory only (for mt__json_text). For a file, the
 * temporary file is created now so that an unwritable path fails before the run, not after it.
 * Returns MT_OK, MT_ESYS (errbuf says which file and why) or MT_ENOMEM. Free with
 * mt__json_free. */
int mt__json_new(const mt__run_info_t *info, const char *path, mt__json_t **out, char *errbuf,
                 size_t errlen);

/* Appends one second. Returns MT_OK or MT_ENOMEM / the histogram encoder's error; after an
 * error the result is incomplete and mt__json_finish reports it. */
int mt__json_second(mt__json_t *j, const mt_second_t *s);

/* Adds the totals and writes the document (temporary file + rename, or stdout). Returns MT_OK,
 * or MT_ESYS / MT_ENOMEM with errbuf filled. Call at most once. */
int mt__json_finish(mt__json_t *j, const mt_run_result_t *r, bool interrupted, char *errbuf,
                    size_t errlen);

/* The document as text (after mt__json_finish), malloc'd; the caller frees it. NULL when out of
 * memory. */
char *mt__json_text(const mt__json_t *j, size_t *len);

/* Sets a top-level member (steals the reference), e.g. "verdicts" and "exit_code". */
void mt__json_set(mt__json_t *j, const char *key, json_t *value);

/* Releases j; removes the temporary file if the document was never finished. NULL is fine. */
void mt__json_free(mt__json_t *j);

#endif
