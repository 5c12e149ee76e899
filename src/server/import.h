/* POST /api/v1/runs/import?test=NAME&format=&strict=&window=&file=&live= (docs/import.md,
 * ADR 0035): the request body is another tool's result file, read as it streams in
 * (mortar/import.h) and turned into an imported Run. Each closed second goes on the bus as a
 * snapshot of the agent "import", so the aggregator stores it, evaluates the test's autostop
 * and thresholds on it, pushes it to live streams and ends the run (state by its verdicts,
 * webhooks), exactly as for a run of mortar's own agents. The run exists from its first
 * closed second; with live=1 (`mortar collect --follow`) seconds also close by the wall clock. */
#ifndef MT_SERVER_IMPORT_H
#define MT_SERVER_IMPORT_H

#include <stddef.h>

#include "server/serve.h"

typedef struct mt__import mt__import_t;

/* The request's headers are in (method POST, path /api/v1/runs/import): checks the token
 * (runner), the test and the parameters. MT_OK and *out, or non-zero with r set to the
 * problem (400, 401, 403, 404). */
int mt__import_begin(mt__serve_t *sv, const mt__req_t *q, mt__resp_t *r, mt__import_t **out);
/* The next bytes of the body. */
void mt__import_feed(mt__import_t *im, const char *buf, size_t len);
/* The body ended: closes every second, ends the run, waits (up to 30 s) for its final state
 * and answers 201 {"run": Run, "import": {...}}; or the problem (422 for a file that is not
 * of the format, or a malformed record with strict). Frees im. */
void mt__import_end(mt__import_t *im, mt__resp_t *r);
/* The connection went away before the end: the run ends `error` with the seconds so far.
 * Frees im. */
void mt__import_abort(mt__import_t *im);

#endif
