/* Placement of runs on agents (docs/placement.md, docs/adr/0024-placement.md). Pure: no I/O,
 * no clock, no globals; the dispatcher of `mortar serve` feeds it the agents it knows.
 *
 * Label selectors have the shape of Kubernetes' equality- and set-based selectors:
 *   zone=a   zone==a   zone!=b   zone in (a,b)   zone notin (a,b)   gpu   !gpu
 * requirements separated by commas are AND-ed ("zone in (a,b),tier!=spot"); the empty selector
 * matches every agent. Keys and values are [A-Za-z0-9._/-] (values may be empty with = and
 * !=); whitespace around tokens is ignored. != and notin also match agents without the key,
 * as in Kubernetes. Labels are an agent's JSON object of strings; a non-string value counts as
 * absent. */
#ifndef MT_SERVER_PLACEMENT_H
#define MT_SERVER_PLACEMENT_H

#include <stddef.h>

#include <jansson.h>

#include "mortar/error.h"

#define MT_SEL_MAX_LEN    1024 /* characters of a selector */
#define MT_SEL_MAX_REQS   32   /* comma-separated requirements */
#define MT_SEL_MAX_VALUES 32   /* values of one in/notin set */
#define MT_SEL_MAX_TOKEN  128  /* characters of a key or a value */

enum mt__sel_op {
    MT_SEL_EQ,        /* key=v, key==v */
    MT_SEL_NE,        /* key!=v */
    MT_SEL_IN,        /* key in (a,b) */
    MT_SEL_NOTIN,     /* key notin (a,b) */
    MT_SEL_EXISTS,    /* key */
    MT_SEL_NOTEXISTS, /* !key */
};

typedef struct mt__sel_req {
    enum mt__sel_op op;
    const char *key;                       /* into the selector's buf */
    const char *values[MT_SEL_MAX_VALUES]; /* one for EQ/NE, the set for IN/NOTIN */
    unsigned nvalues;
} mt__sel_req_t;

/* A parsed selector: caller-allocated (about 9 KiB), self-contained, nothing to free. */
typedef struct mt__selector {
    char buf[2 * MT_SEL_MAX_LEN + 2]; /* NUL-separated keys and values */
    mt__sel_req_t reqs[MT_SEL_MAX_REQS];
    unsigned n;
} mt__selector_t;

/* Parses text (NULL or blank: matches everything). MT_OK, or MT_EPARSE with err->col (1-based)
 * and err->msg naming what is wrong, e.g. "expected ')' to close the set of 'zone'". */
int mt__selector_parse(const char *text, mt__selector_t *out, mt_parse_err_t *err);

/* 1 when labels (a JSON object; NULL or not an object = no labels) satisfy every requirement. */
int mt__selector_match(const mt__selector_t *sel, const json_t *labels);

/* What the dispatcher knows of an agent. Strings are borrowed. */
typedef struct mt__place_agent {
    const char *name;
    const char *labels_json; /* JSON object text; NULL or invalid = no labels */
    int capacity;            /* runs (parts of runs) it takes at once */
    int active;              /* parts it runs now */
    int up;                  /* heartbeating and willing to take work */
} mt__place_agent_t;

/* Counts behind a placement decision (for the reason and the placement timeout). */
typedef struct mt__place_stats {
    unsigned matching;    /* agents whose labels match, up or not */
    unsigned matching_up; /* ... and up */
    unsigned free;        /* ... and with a free slot (active < capacity) */
} mt__place_stats_t;

/* Chooses `want` distinct agents that match selector, are up and have a free slot; one part
 * of a run per agent. Among the free ones it prefers the most free slots, then the fewest
 * active parts, then the name (deterministic). Returns MT_OK with the chosen indices into
 * agents in chosen[0..want-1] (caller-allocated, at least want entries); MT_EBUSY when fewer
 * than want are free, with a reason for people in reason, e.g.
 *   "waiting for 3 agents matching zone=a: 1 free of 2 matching (1 more down)";
 * MT_EINVAL for want == 0 or a bad selector (reason: "agent_labels: column 6: ..."). stats may
 * be NULL. */
int mt__place_ex(const mt__place_agent_t *agents, size_t n, unsigned want, const char *selector,
                 size_t *chosen, char *reason, size_t reasonlen, mt__place_stats_t *stats);
int mt__place(const mt__place_agent_t *agents, size_t n, unsigned want, const char *selector,
              size_t *chosen, char *reason, size_t reasonlen);

/* ---- the queue: every queued run at once, oldest first ---- */

typedef struct mt__place_run {
    unsigned want;        /* "agents" */
    const char *selector; /* "agent_labels" (NULL = any) */
} mt__place_run_t;

enum mt__place_verdict {
    MT_PLACE_START,   /* start now on chosen[0..want-1] */
    MT_PLACE_TURN,    /* enough matching agents are up but busy: waits its turn, holding them */
    MT_PLACE_AGENTS,  /* fewer matching agents are up than it wants: its placement timeout runs */
    MT_PLACE_INVALID, /* want == 0 or a bad selector: reason says why */
};

typedef struct mt__place_result {
    enum mt__place_verdict verdict;
    size_t *chosen; /* caller-allocated, runs[i].want entries (NULL when want is 0); START only */
    mt__place_stats_t stats;
    char reason[640]; /* TURN, AGENTS: what it waits for; INVALID: what is wrong */
} mt__place_result_t;

/* Decides a whole queue in one pass, oldest run first (runs[0]), over a private copy of agents
 * (not modified): a run that starts takes a slot of each chosen agent, so later runs see them
 * busier; a run that waits its TURN holds every up agent its selector matches, so later runs
 * start only on other agents (no starvation of large runs by small ones); a run waiting for
 * AGENTS holds nothing. res[i] answers runs[i]. MT_OK, or MT_ENOMEM. */
int mt__place_queue(const mt__place_agent_t *agents, size_t n, const mt__place_run_t *runs,
                    size_t nruns, mt__place_result_t *res);

/* The placement keys of a run config (docs/placement.md), read from the run's canonical
 * config JSON (the run-spec key table checks their types; this reads their meaning). */
typedef struct mt__place_cfg {
    unsigned agents;                   /* "agents": 1..1024, default 1 */
    char selector[MT_SEL_MAX_LEN + 1]; /* "agent_labels": default "" (any agent) */
    int loss_continue;                 /* "on_agent_loss": "error" (0, default) | "continue" (1) */
    long long timeout_ms; /* "placement_timeout": a duration, default 60 s; 0 = wait forever */
} mt__place_cfg_t;

/* Reads and checks the placement keys of cfg (a JSON object; absent keys take defaults).
 * MT_OK, or MT_EINVAL with key[] set to the bad key and err to a message naming it. */
int mt__place_cfg_read(const json_t *cfg, mt__place_cfg_t *out, char *key, size_t keylen, char *err,
                       size_t errlen);

/* A new reference to a copy of cfg without the placement keys: the part of the config an
 * agent's engine runs (the keys are the control plane's). */
json_t *mt__place_cfg_strip(const json_t *cfg);

#endif
