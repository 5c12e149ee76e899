/* mortar serve over NATS: placement, the two-phase start, agent-loss detection and resume
 * (docs/distributed.md, docs/adr/0022-agents-over-nats.md). cmd_serve.c calls these when
 * started with --nats; the in-process path does not use them. */
#ifndef MT_SERVER_DIST_H
#define MT_SERVER_DIST_H

#include <stdint.h>

#include <jansson.h>

#include "server/placement.h"
#include "server/serve.h"

typedef struct mt__dist mt__dist_t;

typedef struct mt__dist_opts {
    int64_t lost_ms;  /* an agent silent this long is lost (default 3000) */
    int64_t start_ms; /* commit: the start instant is this far ahead (default 500) */
    int prepare_ms;   /* an agent's answer to a prepare (default 5000) */
    int local_agent;  /* the built-in agent takes part (it is on the bus like the others) */
} mt__dist_opts_t;

int mt__dist_new(mt__serve_t *sv, const mt__dist_opts_t *o, mt__dist_t **out);
void mt__dist_free(mt__dist_t *d);
/* Starts the oldest queued run when enough matching agents are free; 1 when it did
 * something (started, failed or timed out a run). */
int mt__dist_dispatch_one(mt__dist_t *d);
/* A heartbeat (the JSON object an agent published). */
void mt__dist_heartbeat(mt__dist_t *d, const json_t *hb);
/* The aggregator ended run_id: forget it; 1 when it was resumed after a restart (its summary
 * must be recomputed from the stored seconds). */
int mt__dist_run_over(mt__dist_t *d, const char *run_id);
/* 1 when second of run_id was stored before a restart (a resumed run's replayed snapshot):
 * the sink must not store it again. */
int mt__dist_stored_before(mt__dist_t *d, const char *run_id, uint32_t second);
/* At startup: takes back the runs the last server left running (agents keep running them);
 * returns how many. */
size_t mt__dist_resume(mt__dist_t *d, const json_t *running_page);

/* Distribution keys of a run config ("agents", "agent_labels", "on_agent_loss",
 * "placement_timeout"), read through placement.h's mt__place_cfg_read. */
typedef struct mt__dist_keys {
    int agents;
    char labels[MT_SEL_MAX_LEN + 1]; /* the selector (agent_labels) */
    char on_loss[16];
    int64_t placement_timeout_ms;
} mt__dist_keys_t;
/* MT_OK or MT_EINVAL with err naming the key. */
int mt__dist_keys(const json_t *config, mt__dist_keys_t *k, char *err, size_t errlen);
/* 1 when labels (a JSON object) match selector ("k=v,k2!=v2"; "" matches all). */
int mt__dist_labels_match(const char *selector, const json_t *labels);

#endif
