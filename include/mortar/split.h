/* Splitting one run between several agents so that together they send exactly what one
 * generator would have sent (docs/aggregation.md "Split and merge", ADR 0023). Pure: no I/O.
 *
 * Open model: the single-generator schedule numbers its requests n = 0, 1, 2, ... The split
 * stripes that sequence: with period P, request n belongs to the agent whose residues contain
 * n mod P. Every n belongs to exactly one agent, so the union of the agents' due times is the
 * single-generator schedule, whatever the schedule (const, line, step, -R, combinations).
 * Shares are proportional to the agents' weights and interleaved evenly over one period
 * (smooth weighted round robin), so every agent's rate follows the schedule's shape.
 *
 * Closed model: connections are split by largest remainder of the weights, threads likewise
 * (at least 1 per agent, at most its connections); the stripe (period = the connections after
 * reduction) is then proportional to each agent's connections.
 *
 * Ammo in sequential order: entry n mod nentries of request n is what that request sends, on
 * every agent, so each entry of the single-generator order is sent by exactly one agent. */
#ifndef MORTAR_SPLIT_H
#define MORTAR_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/error.h"

#define MT_SPLIT_MAX_PERIOD 1024 /* longest stripe period; also the most agents of one run */

/* A stripe of the global request sequence (engine side: mt_run_config_t.stripe). Request n
 * is this agent's when n mod period is one of residues[]; residues are ascending, distinct and
 * below period. The agent's m-th request (m = 0, 1, ...) is global request
 * (m / nresidues) * period + residues[m % nresidues]. */
typedef struct mt_stripe {
    uint32_t period;
    const uint32_t *residues;
    uint32_t nresidues;
} mt_stripe_t;

/* One agent's part of a run. */
typedef struct mt_part {
    uint32_t index, of; /* this is part index (0-based) of `of` parts */
    uint32_t period;    /* stripe period, 1..MT_SPLIT_MAX_PERIOD */
    uint32_t *residues; /* owned (malloc); ascending */
    uint32_t nresidues; /* 1..period */
    int connections;    /* closed: connections to keep busy; open: cap on open connections */
    int threads;        /* 1..connections */
} mt_part_t;

/* What of the run the split needs. */
typedef struct mt_split_model {
    bool open;       /* open model (a schedule or -R); else closed */
    int connections; /* -c of the single-generator run (closed: busy; open: cap) */
    int threads;     /* -t of the single-generator run */
} mt_split_model_t;

/* Splits the run into n parts, one per weight (weights[i] >= 1: capacities, or 1 each).
 * parts must hold n entries; on MT_OK each must be released with mt_part_dispose. Errors:
 * MT_EINVAL with err for people ("3 agents need at least 3 connections (got 2)", "weight of
 * agent 2 is 0", more than MT_SPLIT_MAX_PERIOD agents), MT_ENOMEM; on error no part needs
 * disposing. Weights whose reduced sum exceeds MT_SPLIT_MAX_PERIOD are scaled down to it
 * (largest remainder, each agent at least 1 slot): the split stays exact, shares approximate. */
int mt_split(const mt_split_model_t *model, const uint32_t *weights, size_t n, mt_part_t *parts,
             char *err, size_t errlen);

/* Frees part->residues and zeroes *part. NULL is fine. */
void mt_part_dispose(mt_part_t *part);

/* The part's stripe for the engine (points into part; valid while part is). */
mt_stripe_t mt_part_stripe(const mt_part_t *part);

/* Wire form (inside a prepare message):
 *   {"index":1,"of":3,"period":3,"residues":[1],"connections":34,"threads":1}
 * to_json returns a malloc'd compact JSON string (NULL when out of memory). */
char *mt_part_to_json(const mt_part_t *part);
/* Parses and checks the wire form (len bytes). MT_OK: *out owns its residues (release with
 * mt_part_dispose). MT_EPARSE: err->msg names the problem ("residues: not ascending at 2"). */
int mt_part_from_json(const char *json, size_t len, mt_part_t *out, mt_parse_err_t *err);

/* Checks a part's invariants (what from_json checks after parsing). MT_OK or MT_EINVAL with
 * why in msg. */
int mt_part_check(const mt_part_t *part, char *msg, size_t msglen);

#endif
