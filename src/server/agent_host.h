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

typedef struct mt_agent_host mt_agent_host_t;

int mt_agent_host_new(mt_bus_t *bus, mt_agent_t *agent, const char *name, const char *instance,
                      int64_t lost_after_ms, mt_agent_host_t **out);
void mt_agent_host_free(mt_agent_host_t *h); /* before mt_agent_free; NULL is fine */

/* The control plane's side of mortar.time: {"unix_ns": now}. */
int mt__time_reply(const char *subject, const void *msg, size_t len, char **reply, size_t *rlen,
                   void *ud);

#endif
