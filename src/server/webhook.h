/* Webhook delivery from the transactional outbox: every event row written with a state
 * change becomes one delivery per matching webhook; the relay POSTs it (libcurl) at least
 * once, retrying failures with exponential backoff (1 s, 2 s, 4 s ... capped at 10 min,
 * 10 attempts, then "failed"). Each POST carries
 *   Content-Type: application/json
 *   X-Mortar-Event: <event type>          X-Mortar-Event-Id: <event id> (deduplicate on it)
 *   X-Mortar-Delivery: <delivery id>      X-Mortar-Timestamp: <Unix s>
 *   X-Mortar-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 * and counts as delivered on any 2xx within 10 s (the per-attempt timeout). */
#ifndef MT_SERVER_WEBHOOK_H
#define MT_SERVER_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt__delivery {
    const char *id;
    const char *url;
    const char *secret;
    const char *event_id;
    const char *event_type;
    const char *body; /* the event JSON */
    int attempt;      /* attempts made before this one */
} mt__delivery_t;

typedef struct mt__relay_ops {
    /* Deliveries due at now (at most max); freed with free_due. */
    int (*due)(void *ud, int64_t now, size_t max, mt__delivery_t **out, size_t *n);
    void (*free_due)(void *ud, mt__delivery_t *d, size_t n);
    /* Result of one attempt: ok, the HTTP status (0 = none), an error text, and when to try
     * again (0 = never: delivered, or out of attempts). */
    int (*record)(void *ud, const char *delivery_id, int ok, int status, const char *error,
                  int64_t next_attempt_at);
    /* Optional (NULL: every due delivery is this relay's): takes the delivery for this relay
     * just before its attempt (a lease, so relays of other servers leave it alone); MT_OK, or
     * another relay has it (skip it). */
    int (*claim)(void *ud, const char *delivery_id, int64_t now);
} mt__relay_ops_t;

/* The target policy at delivery (policy.h, docs/security.md): url_ok checks a delivery's URL
 * before the attempt, addr_ok each address its host resolved to before curl opens a socket
 * (so the address checked is the address connected to). Each returns 0, or -1 with why; the
 * attempt then fails for good with "refused by the target policy: WHY". NULL: no checks. The
 * guard is kept (not copied) until replaced. */
struct sockaddr;
typedef struct mt__webhook_guard {
    int (*url_ok)(void *ud, const char *url, char *why, size_t n);
    int (*addr_ok)(void *ud, const char *url, const struct sockaddr *sa, unsigned len, char *why,
                   size_t n);
    void *ud;
} mt__webhook_guard_t;
void mt__webhook_set_guard(const mt__webhook_guard_t *g);

/* "sha256=<64 hex>" into out (at least 72 bytes). */
void mt__webhook_sign(const char *secret, int64_t ts, const char *body, char *out, size_t n);
/* Delay before attempt number `attempt` (1-based count of failures so far), seconds. */
int64_t mt__webhook_backoff(int attempt);
/* Makes one pass: delivers what is due at now. Returns deliveries attempted, or < 0. */
int mt__relay_pass(const mt__relay_ops_t *ops, void *ud, int64_t now);

/* The relay the server runs: a thread of its own that starts each delivery as it comes due
 * (ops->due polled every second, or at once after mt__relay_wake), with at most 5 attempts in
 * flight per receiver (scheme://host:port) and each attempt bounded by 10 s, so a receiver that
 * never answers holds only its own slots and never delays another's deliveries. record is
 * called on the relay's thread as each attempt ends. ops and ud outlive the relay.
 * MT_OK, MT_ENOMEM, MT_ESYS (no thread or no libcurl). */
typedef struct mt__relay mt__relay_t;
int mt__relay_start(const mt__relay_ops_t *ops, void *ud, mt__relay_t **out);
/* Something was queued: look for due deliveries now. NULL is a no-op. */
void mt__relay_wake(mt__relay_t *r);
/* Stops the thread; attempts in flight are abandoned unrecorded (still pending: retried by the
 * next relay). NULL is a no-op. */
void mt__relay_stop(mt__relay_t *r);

#endif
