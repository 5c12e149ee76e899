/* The in-process agent: runs the engine for runs the server assigns to it, one thread per
 * run, and publishes one snapshot per second, an end message and heartbeats on the bus
 * (bus.h). It obeys mortar.runs.<id>.control stop messages. */
#ifndef MT_SERVER_AGENT_H
#define MT_SERVER_AGENT_H

#include <stddef.h>

#include "server/bus.h"

typedef struct mt__agent mt__agent_t;

typedef struct mt__agent_info {
    const char *name;        /* e.g. "local" */
    const char *labels_json; /* JSON object, e.g. {"zone":"local"} */
    int capacity;            /* runs at once */
    const char *instance;    /* this process's instance id (heartbeats); NULL = none */
    /* The target policy every run is checked against (policy.h): by name when the run is
     * added, and each resolved address right before the engine connects. NULL: none. Called
     * once per run; returns a new reference (or NULL: no policy). */
    struct mt__policy *(*policy)(void *ud);
    void *policy_ud;
} mt__agent_info_t;

int mt__agent_new(const mt__agent_info_t *info, mt__bus_t *bus, mt__agent_t **out);

/* Checks a run config (a JSON object with the keys of `mortar run --config`, e.g.
 * {"url": "http://127.0.0.1:8080/", "rate": 100, "duration": "5s"}) without running it.
 * Returns MT_OK, or MT_EINVAL with a message naming the key in err. */
int mt__agent_check_config(const char *config_json, char *err, size_t errlen);

/* Starts run_id with config_json in a new thread. MT_EINVAL (err filled) for a bad config,
 * MT_EBUSY when at capacity (err says so). The end message
 *   {"run_id","agent","outcome":"completed"|"stopped"|"error","reason","seconds":N}
 * is published after the last snapshot. */
int mt__agent_start(mt__agent_t *a, const char *run_id, const char *config_json, char *err,
                    size_t errlen);
/* Two-phase start (docs/distributed.md). prepare checks config_json (as mt__agent_start) and
 * reserves a slot; part_json (may be NULL: the whole run) is this agent's share. Nothing runs
 * until commit with the start instant on this machine's wall clock: the run's thread waits
 * for it, and its seconds are numbered from it. A commit that arrives after the instant is
 * refused (MT_ECONFLICT, err says by how much) and the slot freed, as abort does. */
int mt__agent_prepare(mt__agent_t *a, const char *run_id, const char *config_json,
                      const char *part_json, char *err, size_t errlen);
int mt__agent_commit(mt__agent_t *a, const char *run_id, int64_t start_unix_ns, char *err,
                     size_t errlen);
int mt__agent_abort(mt__agent_t *a, const char *run_id);
/* Stops every run (the control plane is gone: --lost-after). Returns how many. */
int mt__agent_stop_all(mt__agent_t *a, const char *reason);
/* Asks a run to finish its current second and end (outcome "stopped"). */
int mt__agent_stop(mt__agent_t *a, const char *run_id, const char *reason);
int mt__agent_active(mt__agent_t *a); /* runs in progress */
/* Stops every run (each finishes its second and publishes its end) and joins the threads. */
void mt__agent_free(mt__agent_t *a);

#endif
