/* Several `mortar serve` on one store (docs/serve.md "Several servers", ADR 0034): this
 * server's id, the scheduler's leadership (the store's leader_try: a PostgreSQL advisory lock;
 * always this server on SQLite), the leases of the runs whose aggregation it owns (renewed
 * every second; a run whose lease lapsed is taken over and resumed from the stream), and the
 * live streams of runs owned elsewhere (followed from the store). */
#ifndef MT_SERVER_CLUSTER_H
#define MT_SERVER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "server/serve.h"

typedef struct mt__cluster mt__cluster_t;

#define MT_CLUSTER_LEASE_MS 3000 /* a lease not renewed for this long lapses */
#define MT_CLUSTER_TICK_MS  1000 /* leadership, renewals and the search for orphans */
#define MT_CLUSTER_ID_MAX   100

/* 1 when id is a valid server id: 1..100 of A-Z a-z 0-9 . _ - */
int mt__cluster_id_ok(const char *id);
/* The default server id: "<hostname>-<pid>" (characters outside the set above become '-'). */
void mt__cluster_default_id(char out[MT_CLUSTER_ID_MAX + 1]);

/* Starts the cluster thread (its first turn at once: leadership, then orphans to resume).
 * takeover: look for orphaned runs (only with NATS: their agents keep running). */
int mt__cluster_new(mt__serve_t *sv, const char *server_id, int takeover, mt__cluster_t **out);
/* Stops the thread (shutdown); the calls below keep working. NULL is fine. */
void mt__cluster_stop(mt__cluster_t *c);
void mt__cluster_free(mt__cluster_t *c);
const char *mt__cluster_id(const mt__cluster_t *c);
/* 1 while this server is the leader (runs the scheduler and the dispatcher). */
int mt__cluster_leader(mt__cluster_t *c);
/* Takes run_id's lease (a run about to start here). MT_OK, MT_ECONFLICT when another server
 * holds it, or the store's error. */
int mt__cluster_own(mt__cluster_t *c, const char *run_id);
/* 1 when this server aggregates run_id (holds its lease). */
int mt__cluster_owns(mt__cluster_t *c, const char *run_id);
/* This server no longer aggregates run_id: over = the run ended (its stream messages and
 * lease go); else only this server's part (another owns it now). */
void mt__cluster_disown(mt__cluster_t *c, const char *run_id, int over);
/* A second of run_id was stored here (logs the first one after a takeover). */
void mt__cluster_second(mt__cluster_t *c, const char *run_id, uint32_t second);
/* Runs this server owns now. */
size_t mt__cluster_owned(mt__cluster_t *c);
/* Takeovers done by this server since it started. */
uint64_t mt__cluster_takeovers(mt__cluster_t *c);

#endif
