/* The agent's side of the NATS protocol (docs/adr/0022-agents-over-nats.md): puts an agent
 * (agent.h) on a bus so a control plane can use it.
 *   - answers mortar.agents.<name>.prepare: checks the run spec again (it never reads local
 *     files: runjob refuses such keys), measures this machine's clock offset to the control
 *     plane (mortar.time, best of 3 round trips), reserves a slot, and replies
 *       {"ready":true,"agent","instance","clock_offset_us","rtt_us"}  or
 *       {"ready":false,"agent","instance","reason"}
 *   - takes mortar.runs.<id>.commit {"start_unix_ns": T} (the control plane's clock) for the
 *     runs it prepared: T on this machine is T - offset; a commit that arrives after T is
 *     refused: the agent publishes its end with outcome "error" and the reason;
 *   - a prepared run that gets no commit within its deadline is dropped;
 *   - asks mortar.time once a second; after lost_after_ms without an answer it stops its
 *     runs ("lost the control plane"): an agent cut off from NATS does not load a target
 *     forever. */
#ifndef MT_SERVER_AGENT_HOST_H
#define MT_SERVER_AGENT_HOST_H

#include <stdint.h>

#include "server/agent.h"
#include "server/bus.h"

typedef struct mt__agent_host mt__agent_host_t;

int mt__agent_host_new(mt__bus_t *bus, mt__agent_t *agent, const char *name, const char *instance,
                       int64_t lost_after_ms, mt__agent_host_t **out);
void mt__agent_host_free(mt__agent_host_t *h); /* before mt__agent_free; NULL is fine */

/* Decoders of what arrives from the bus (pure; fuzzed by tests/fuzz/fuzz_nats_msg.c).
 * A prepare {"run_id","config":{..},"part":{..}|null,"deadline_ms":N}: run (1..39 of
 * A-Z a-z 0-9 - _), *config and *part (compact JSON, malloc'd; *part NULL when absent),
 * *ttl_ms (0 = default). MT_EINVAL with err saying what is wrong. */
int mt__prepare_decode(const void *msg, size_t len, char run[40], char **config, char **part,
                       int64_t *ttl_ms, char *err, size_t errlen);
/* A commit {"start_unix_ns": T} (T > 0). MT_EINVAL when malformed. */
int mt__commit_decode(const void *msg, size_t len, int64_t *start_unix_ns);

/* The control plane's side of mortar.time: {"unix_ns": now}. */
int mt__time_reply(const char *subject, const void *msg, size_t len, char **reply, size_t *rlen,
                   void *ud);

#endif
