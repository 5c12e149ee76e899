/* The executor: one run of a spec on the real engine, in the caller's thread. `mortar run`
 * (src/cli/cmd_run.c) and mortar serve's agents (src/server/agent.c, and the NATS agent) both
 * run their runs through it. A job never prints, never installs signal handlers and never
 * exits; a job made from JSON (a server run) never touches the server's files: the spec
 * refuses every key marked as reading or writing one (runspec/keys.h).
 *
 * It lives in the run-spec layer, above the engine and below the CLI and the server, so that
 * a job is built from a spec, not from argv (docs/adr/0017-run-spec.md). */
#ifndef MT_RUNSPEC_RUNJOB_H
#define MT_RUNSPEC_RUNJOB_H

#include <stddef.h>

#include "mortar/engine.h"
#include "mortar/split.h"
#include "runspec/runspec.h"
#include "runspec/verdicts.h"

typedef struct mt__runjob mt__runjob_t;

/* A job from a run config as JSON text (len bytes; an API config or the canonical JSON an
 * agent receives): parsed in server mode (no local files), checked and built, nothing run.
 * MT_OK and *out (free with mt__runjob_free); MT_EINVAL or MT_ENOMEM with err filled (its
 * `at` is a JSON pointer from the object's root, ""). Thread-safe. */
int mt__runjob_new(const char *config, size_t len, mt__runjob_t **out, mt_rs_err_t *err);

/* A job from a spec the caller filled (any mode); the job takes *spec over (it is zeroed)
 * and checks and builds it. On error *spec has been disposed. */
int mt__runjob_new_spec(mt_runspec_t *spec, mt__runjob_t **out, mt_rs_err_t *err);

/* Engine callbacks besides on_second (phout's records); before exec. */
void mt__runjob_set_records(mt__runjob_t *j, mt_records_cb cb, void *ud);
/* The engine's on_finishing (mortar/engine.h): the grace's progress, for a live line. */
void mt__runjob_set_finishing(mt__runjob_t *j, void (*cb)(uint64_t, int64_t, void *), void *ud);

/* Before exec: the engine's address check (mortar/engine.h addr_check): a refusal ends exec
 * with MT_EPOLICY before any connect. ud is the caller's; keep it alive for the job. */
void mt__runjob_set_addr_check(mt__runjob_t *j,
                               int (*cb)(const struct sockaddr *, unsigned, void *), void *ud);

/* What mt_split needs of the job: open or closed model, connections and threads. */
void mt__runjob_model(const mt__runjob_t *j, mt_split_model_t *out);

/* Before prepare/exec: run only this agent's part of a split run (mortar/split.h) and/or start
 * at the wall-clock instant start_unix_ns (0 = at once; exec then fails with MT_ELATE and the
 * err "not started: the start instant has passed" if it has passed). part (NULL = the whole
 * run) is checked and copied: its connections replace the job's, and its threads too when the
 * spec sets threads (else the agent's CPUs, at most its connections, as `mortar run` does);
 * its stripe selects the requests. With random ammo order each part draws from its own
 * sequence (the seed is mixed with the part's index). MT_OK, MT_ENOMEM, or MT_EINVAL (after
 * prepare/exec, a negative instant, or a part that fails mt_part_check: call it for the
 * message). */
int mt__runjob_set_part(mt__runjob_t *j, const mt_part_t *part, int64_t start_unix_ns);

/* Before prepare/exec: only the start instant (the part set before is kept). MT_OK, or
 * MT_EINVAL after prepare/exec or for a negative instant. */
int mt__runjob_set_start(mt__runjob_t *j, int64_t start_unix_ns);

/* Makes the engine run (mt_run_new) without starting it, so a caller can reach it before
 * exec (the CLI's signal handler). exec calls it when the caller did not. */
int mt__runjob_prepare(mt__runjob_t *j, mt_rs_err_t *err);

/* The engine run after prepare (NULL before). */
mt_run_t *mt__runjob_engine(const mt__runjob_t *j);

/* The engine settings the job runs with (valid after prepare). */
const mt_run_config_t *mt__runjob_config(const mt__runjob_t *j);

/* Runs the job to its end, or until mt__runjob_stop; on_second (may be NULL) is called in
 * this thread once per second, as mt_run_exec does. Returns MT_OK (target errors are counted,
 * not returned), or an engine error with err filled. Call at most once. */
int mt__runjob_exec(mt__runjob_t *j, mt_second_cb on_second, void *ud, mt_rs_err_t *err);

/* Asks the job to finish its current second and end; from any thread, before or during
 * exec (a job stopped before exec does not run). Not async-signal-safe: a signal handler
 * calls mt_run_stop(mt__runjob_engine(j)). */
void mt__runjob_stop(mt__runjob_t *j);

/* After exec: the totals (NULL when exec did not run the engine). */
const mt_run_result_t *mt__runjob_result(const mt__runjob_t *j);

/* After exec, for a spec with a script (else nothing): the script's done(summary, latency,
 * requests) with the run's merged numbers, in the calling thread (mortar run calls it after
 * its summary, as wrk prints done()'s output after its own). MT_OK, or MT_EINVAL with err's
 * msg naming file, line and "done()". */
int mt__runjob_script_done(mt__runjob_t *j, mt_rs_err_t *err);

/* The run's tag names (tags[0] = "" untagged; NULL and 0 when the requests have no tags). */
const char *const *mt__runjob_tags(const mt__runjob_t *j, size_t *ntags);

/* connections (closed model) or the cap on them (open model). */
int mt__runjob_connections(const mt__runjob_t *j);

/* The autostop criteria and thresholds of the config (crits/ncrits, ths/nths are filled; the
 * evaluators are not started). */
const mt__verdicts_t *mt__runjob_verdicts(const mt__runjob_t *j);

/* The job's spec (checked and built). The job owns it; the caller may start its verdicts. */
mt_runspec_t *mt__runjob_spec(mt__runjob_t *j);

void mt__runjob_free(mt__runjob_t *j); /* NULL is fine */

#endif
