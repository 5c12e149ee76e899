/* A `mortar run` for another front end: mortar serve's agent (src/server/agent.c) runs a run
 * config (the JSON/YAML object of `mortar run --config`, docs/config.md) through the very code
 * the CLI uses (config.c turns it into flags, cmd_run.c checks them and builds the request and
 * the schedule), on the real engine, in the caller's thread. Unlike the CLI a job never prints,
 * never installs signal handlers and never touches files: keys that read or write files
 * (json, phout, html, ammo, body '@FILE') are refused, so an API user cannot make the server
 * read or write its files. Implemented at the end of cmd_run.c (it needs run_opts_t). */
#ifndef MT_CLI_RUNJOB_H
#define MT_CLI_RUNJOB_H

#include <stddef.h>

#include "cli/verdicts.h"
#include "mortar/engine.h"
#include "mortar/split.h"

typedef struct mt__runjob mt__runjob_t;

/* Parses and checks config (len bytes; JSON or YAML text) without running anything. Returns
 * MT_OK and *out (free with mt__runjob_free), MT_EINVAL with a message for people in err
 * ("config:3:10: connections: must be between 1 and 1000000 (got 0)"), or MT_ENOMEM.
 * Thread-safe (the flag parser's global getopt state is taken under a lock). */
int mt__runjob_new(const char *config, size_t len, mt__runjob_t **out, char *err, size_t n);

/* Runs the job to its end, or until mt__runjob_stop; on_second (may be NULL) is called in
 * this thread once per second, as mt_run_exec does. Returns MT_OK (target errors are counted,
 * not returned), or an engine error with err filled. Call at most once. */
int mt__runjob_exec(mt__runjob_t *j, mt_second_cb on_second, void *ud, char *err, size_t n);

/* Asks the job to finish its current second and end; from any thread, before or during
 * exec (a job stopped before exec does not run). */
void mt__runjob_stop(mt__runjob_t *j);

/* After exec: the totals (NULL when exec did not run the engine). */
const mt_run_result_t *mt__runjob_result(const mt__runjob_t *j);

/* The run's tag names (tags[0] = "" untagged; NULL and 0 when the requests have no tags). */
const char *const *mt__runjob_tags(const mt__runjob_t *j, size_t *ntags);

/* -c: connections (closed model) or the cap on them (open model). */
int mt__runjob_connections(const mt__runjob_t *j);

/* The autostop criteria and thresholds of the config (crits/ncrits, ths/nths are filled; the
 * evaluators are not started). */
const mt__verdicts_t *mt__runjob_verdicts(const mt__runjob_t *j);

/* What mt_split needs of the job: open or closed model, -c and -t. */
void mt__runjob_model(const mt__runjob_t *j, mt_split_model_t *out);

/* Before exec: run only this agent's part of a split run (mortar/split.h) and/or start at the
 * wall-clock instant start_unix_ns (0 = at once; exec then fails with MT_ELATE and the err
 * "not started: the start instant has passed" if it has passed). part (NULL = the whole run)
 * is checked and copied: its connections replace the job's, and its threads too when the
 * config sets threads (else the agent's CPUs, at most its connections, as `mortar run` does);
 * its stripe selects the requests. With random ammo order each part draws from its own
 * sequence (the seed is mixed with the part's index). MT_OK, MT_ENOMEM, or MT_EINVAL (after
 * exec, a negative instant, or a part that fails mt_part_check: call it for the message). */
int mt__runjob_set_part(mt__runjob_t *j, const mt_part_t *part, int64_t start_unix_ns);

void mt__runjob_free(mt__runjob_t *j); /* NULL is fine */

#endif
