/* The message bus between agents and the aggregator (docs/adr/0011-control-plane.md).
 * Messages are opaque bytes (JSON documents, see snapshot.h) on dotted subjects:
 *   mortar.runs.<run_id>.second     an agent's snapshot of one second      (agent -> aggregator)
 *   mortar.runs.<run_id>.end        an agent finished its part of a run     (agent -> aggregator)
 *   mortar.runs.<run_id>.control    {"stop": "reason"}                      (server -> agents)
 *   mortar.agents.<name>.heartbeat  {"name","labels","capacity","active"}   (agent -> server)
 * The in-process implementation copies each message into a queue that one dispatcher thread
 * delivers, in publish order, to every subscriber whose prefix matches; publishers never run
 * subscriber code. NATS JetStream is the next implementation of the same interface. */
#ifndef MT_SERVER_BUS_H
#define MT_SERVER_BUS_H

#include <stddef.h>

typedef struct mt_bus mt_bus_t;

/* Called on the dispatcher thread; msg is valid only during the call. */
typedef void (*mt_bus_cb)(const char *subject, const void *msg, size_t len, void *ud);

int mt_bus_new_inproc(mt_bus_t **out);
/* Copies msg. Returns MT_OK, MT_ENOMEM, or MT_EINVAL after mt_bus_close. */
int mt_bus_publish(mt_bus_t *b, const char *subject, const void *msg, size_t len);
/* Every message whose subject starts with prefix ("" = all) goes to cb. */
int mt_bus_subscribe(mt_bus_t *b, const char *prefix, mt_bus_cb cb, void *ud);
/* Removes the subscriptions of (cb, ud). On return cb is no longer running for them (unless
 * called from a callback, where it takes effect with the next message), so ud may be freed. */
void mt_bus_unsubscribe(mt_bus_t *b, mt_bus_cb cb, void *ud);
/* Delivers what is queued, then refuses new messages. */
void mt_bus_close(mt_bus_t *b);
/* Waits until every message published so far (and any its callbacks published) has been
 * delivered. For tests and orderly shutdown; must not be called from a callback (it returns
 * at once there). */
void mt_bus_flush(mt_bus_t *b);
/* Messages published and not yet delivered (a gauge for /metrics). */
size_t mt_bus_pending(mt_bus_t *b);
void mt_bus_free(mt_bus_t *b); /* closes first; NULL is fine; never from a callback */

#endif
