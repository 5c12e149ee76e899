/* stand-in until split merges: the contract of docs/brief "split" (include/mortar/split.h,
 * mt__runjob_set_part, mt_agg_watch_agents, mt_agg_agent_lost), minimal, so that the NATS
 * transport builds and runs end to end before the exact split and merge land. At merge: delete
 * standin.h/standin.c, include mortar/split.h and the real aggregator.h instead, and drop the
 * mt__standin_* calls (agent.c, cmd_serve.c). What the stand-ins do NOT do: stripe the load
 * (every agent runs the whole config), make the engine wait for the start instant (agent.c
 * waits itself through mt__standin_wait_start), de-duplicate snapshots by (run, agent,
 * second), or complete seconds by watermarks. */
#ifndef MT_SERVER_STANDIN_H
#define MT_SERVER_STANDIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/runjob.h"
#include "server/aggregator.h"

/* stand-in until split merges */
typedef struct mt_part {
    uint32_t index, of;
    uint32_t period;
    uint32_t *residues;
    uint32_t nresidues;
    int connections;
    int threads;
} mt_part_t;

/* stand-in until split merges: agent i of n gets residue i of period n, connections by
 * largest remainder of `connections` (weights ignored). */
int mt_split(uint32_t n, int connections, int threads, mt_part_t *parts);
void mt_part_dispose(mt_part_t *p);
json_t *mt_part_to_json(const mt_part_t *p);
int mt_part_from_json(const json_t *j, mt_part_t *p, char *err, size_t errlen);

/* stand-in until split merges: records nothing in the engine (no stripe); start_unix_ns is
 * kept for mt__standin_wait_start. */
int mt__runjob_set_part(mt__runjob_t *j, const mt_part_t *part, int64_t start_unix_ns);
/* stand-in until split merges: sleeps until start_unix_ns (wall clock); MT_ECONFLICT when
 * it has passed by more than 50 ms (the engine's MT_ELATE later). */
int mt__standin_wait_start(int64_t start_unix_ns);

/* stand-in until split merges */
typedef struct mt_agg_opts {
    const char *on_agent_loss; /* "error" (default) | "continue" */
    uint32_t first_second;     /* resume: seconds below are stored already */
} mt_agg_opts_t;

int mt_agg_watch_agents(mt_agg_t *g, const char *run_id, const char *spec_json,
                        const char *const *agents, size_t n, const mt_agg_opts_t *opts, char *err,
                        size_t errlen);
/* stand-in until split merges: needs the bus to publish the agent's end on its behalf
 * (set with mt__standin_agg_bus) and the second it was lost at. */
int mt_agg_agent_lost(mt_agg_t *g, const char *run_id, const char *agent);
void mt__standin_agg_bus(mt_bus_t *bus);
void mt__standin_agg_lost_at(const char *run_id, const char *agent, int64_t second);

#endif
