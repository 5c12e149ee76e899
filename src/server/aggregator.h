/* The aggregator: subscribes to agents' snapshots on the bus, merges the snapshots of one
 * run-second from all its agents exactly (counters added, histograms merged; percentiles are
 * never averaged), evaluates the run's autostop criteria and thresholds on the merged data,
 * and hands each merged second to a sink (the store) as ready-to-store rows, in order.
 *
 * Runs watched with named agents (mt__agg_watch_agents: the distributed runs) are exact and
 * idempotent: the effect of a snapshot is keyed by (run, agent, second), so a redelivered one is
 * ignored and counted; a second is complete when every agent's WATERMARK (its highest second k
 * such that every second <= k arrived) has passed it, or the agent ended having sent fewer
 * seconds, or was lost (mt__agg_agent_lost): arrival order does not matter, and no timer closes
 * a second while its agents are alive. Runs watched with mt__agg_watch (the in-process agent)
 * learn agent names as they come and a second is also complete 3 s after its first snapshot.
 * Rules: docs/aggregation.md.
 *
 * Stored row format (one per run-second, and one per tag and run-second):
 *   data_json   the second as in the result JSON's "seconds" array (docs/result-schema.json:
 *               t, span_s, due, sent, completed, errors, errors_by_kind, status, latency_us
 *               percentiles, service_us, open_connections, backlog, ...), without "hist",
 *               with "agents": how many agents' snapshots it merges
 *   latency_b64 / service_b64  HdrHistogram V2 compressed base64 of that second's histograms
 * From these rows any window's percentiles are recomputed exactly (analysis.h). */
#ifndef MT_SERVER_AGGREGATOR_H
#define MT_SERVER_AGGREGATOR_H

#include <stddef.h>
#include <stdint.h>

#include "server/bus.h"

typedef struct mt__agg mt__agg_t;

typedef struct mt__agg_row {
    const char *tag;         /* "" = all requests of the second (always rows[0]) */
    const char *data_json;   /* see above */
    const char *latency_b64; /* latency from the due time (open model) / send (closed) */
    const char *service_b64; /* from the actual send */
} mt__agg_row_t;

typedef struct mt__agg_end {
    const char *run_id;
    const char *state;         /* "passed" | "failed" | "stopped" | "error" */
    const char *reason;        /* why: "completed", "threshold ... failed", "autostop ...",
                                * "stopped by API", the agent's error, ... */
    const char *summary_json;  /* the result JSON's "summary" object over the whole run */
    const char *verdicts_json; /* the result JSON's "verdicts" array ([] when none) */
    uint32_t seconds;          /* seconds stored */
    uint32_t lost_seconds;     /* seconds merged but never stored (the sink refused them after
                                * their retries); a run with any ends "failed" if it would
                                * have "passed" */
    const char *loss_reason;   /* "3 seconds lost: disk full"; NULL when none was lost */
} mt__agg_end_t;

typedef struct mt__agg_sink {
    /* One merged second: store rows[0..n) in one transaction. Non-zero return = not stored:
     * the aggregator keeps the second and calls again after 0.25, 0.5, 1, 2 and 4 s; still
     * refused, the second is lost (counted in mt__agg_end_t.lost_seconds). Only stored seconds
     * count in the run's summary. The run's end waits for its seconds' retries. */
    int (*on_second)(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                     size_t n);
    /* The run ended (all agents ended, or a verdict stopped it and the agents then ended). */
    void (*on_end)(void *ud, const mt__agg_end_t *e);
    /* Optional: why the last on_second failed ("disk full"), right after it returned. */
    const char *(*why)(void *ud);
} mt__agg_sink_t;

/* The first call raises glibc's malloc trim threshold to 64 MiB for the process (histogram
 * decoding would otherwise return and re-fault heap pages on every snapshot; ADR 0012).
 * The sink's callbacks run on the bus's dispatcher thread (or the aggregator's timer thread)
 * with the aggregator's lock held: they must not call mt_agg_* themselves. */
int mt__agg_new(mt__bus_t *bus, const mt__agg_sink_t *sink, void *ud, mt__agg_t **out);
/* Expects run_id's snapshots from nagents agents; config_json gives its autostop criteria and
 * thresholds (keys "autostop", "thresholds" of the run config). MT_EINVAL + err on a bad
 * criterion. A failing verdict with abort publishes mortar.runs.<id>.control {"stop": ...}. */
int mt__agg_watch(mt__agg_t *g, const char *run_id, const char *config_json, unsigned nagents,
                  char *err, size_t errlen);
/* An imported run (import.h): as mt__agg_watch with one agent, except that its tags are
 * learnt from its snapshots (up to MT_MAX_TAGS, "" first) instead of taken from config_json. */
int mt__agg_watch_import(mt__agg_t *g, const char *run_id, const char *config_json, char *err,
                         size_t errlen);
/* What to do when an agent of a run is lost (mt__agg_agent_lost). */
enum mt__agg_loss {
    MT_AGG_LOSS_ERROR = 0, /* the run ends "error": "agent gen-2 lost at second 17"; the other
                            * agents are told to stop (control), their seconds are stored */
    MT_AGG_LOSS_CONTINUE,  /* the run goes on without the lost agent's share (not
                            * redistributed); later seconds carry "agents": K < N */
};

typedef struct mt__agg_opts {
    const char *on_agent_loss; /* "error" (NULL: the default) | "continue" (enum mt__agg_loss) */
    uint32_t first_second;     /* resume: seconds below it are stored already; snapshots of them
                                * are ignored (counted as duplicates) */
} mt__agg_opts_t;

/* Parses an on_agent_loss value ("error" | "continue"; NULL = "error") into enum mt__agg_loss.
 * MT_OK or MT_EINVAL. */
int mt__agg_loss_parse(const char *text, int *out);

/* Watches run_id as a run split between the n named agents (names: 1..63 bytes, distinct;
 * copied). opts may be NULL (defaults); its strings are not kept. Snapshots and ends from
 * other agents are rejected. Errors as mt__agg_watch, plus MT_EINVAL for bad names or options
 * ("on_agent_loss: must be error or continue (got 'x')"). */
int mt__agg_watch_agents(mt__agg_t *g, const char *run_id, const char *spec_json,
                         const char *const *agents, size_t n, const mt__agg_opts_t *opts, char *err,
                         size_t errlen);

/* The agent stopped answering (heartbeats): its watermark W is final ("lost at second W": the
 * first second not received from it), snapshots it sends later are rejected. By the run's
 * policy the run ends "error" once the remaining agents ended (they are sent a stop at once),
 * or goes on without it. MT_OK; MT_ENOTFOUND for a run not watched or an agent it does not
 * have; a second call for the same agent, or one for an agent that had ended, is MT_OK and
 * changes nothing. */
int mt__agg_agent_lost(mt__agg_t *g, const char *run_id, const char *agent);

/* The agent's watermark in a watched run: *next = first second not yet received from it
 * (every second below arrived). MT_OK or MT_ENOTFOUND. For the Run resource's agents. */
int mt__agg_agent_watermark(mt__agg_t *g, const char *run_id, const char *agent, uint32_t *next);

/* Snapshots ignored as duplicates of (run, agent, second) already merged (redeliveries). */
uint64_t mt__agg_duplicates(mt__agg_t *g);

/* Forgets run_id without calling on_end (e.g. its agent could not start it). MT_ENOTFOUND
 * when it is not watched. An agent that died mid-run is handled instead by publishing its end
 * on its behalf: mortar.runs.<id>.end {"agent":"NAME","outcome":"error","reason":"agent down"}. */
int mt__agg_unwatch(mt__agg_t *g, const char *run_id);
/* Merged seconds handed to the sink / snapshots received / rejected (for /metrics). */
void mt__agg_stats(mt__agg_t *g, uint64_t *seconds, uint64_t *snapshots, uint64_t *rejected);
/* Unsubscribes, stops the timer and drops runs still watched (their on_end is not called). */
void mt__agg_free(mt__agg_t *g);

/* For tests and benchmarks: the clock that times the 3 s limit (nanoseconds, monotonic;
 * NULL restores CLOCK_MONOTONIC), and one check of that limit now (the aggregator's own timer
 * does it every 200 ms). */
void mt__agg_set_clock(mt__agg_t *g, int64_t (*clock)(void *ud), void *ud);
void mt__agg_poll(mt__agg_t *g);

#endif
