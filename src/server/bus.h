/* The message bus between agents, the aggregator and the control plane (docs/adr/0011,
 * 0012, 0022). Messages are opaque bytes (JSON documents, see snapshot.h) on dotted subjects:
 *   mortar.runs.<run_id>.second     an agent's snapshot of one second      (agent -> aggregator)
 *   mortar.runs.<run_id>.end        an agent finished its part of a run     (agent -> aggregator)
 *   mortar.runs.<run_id>.control    {"stop": "reason"}                      (server -> agents)
 *   mortar.runs.<run_id>.commit     {"start_unix_ns": T}                    (server -> agents)
 *   mortar.agents.<name>.heartbeat  {"name","labels","capacity","active",..} (agent -> server)
 *   mortar.agents.<name>.prepare    request/reply: a run's part            (server -> agent)
 *   mortar.time                     request/reply: the server's wall clock (agent -> server)
 * Two implementations sit behind one ops table (STYLE.md, "Concurrency"):
 *   - in-process (bus.c): a FIFO of copied messages and one dispatcher thread that delivers
 *     them, in publish order, to every matching subscriber; publishers never run subscriber
 *     code;
 *   - NATS (bus_nats.c): core NATS for everything but .second and .end, which go through a
 *     JetStream stream (file storage, de-duplicated by message id) that the server reads with
 *     a durable pull consumer and acknowledges once the store has the second (mt_bus_ack).
 * A subscription filter is either a prefix ("mortar.agents.", "" = all) or a NATS subject
 * pattern with `*` (one token) and a final `>` (the rest), e.g. "mortar.runs.*.control". */
#ifndef MT_SERVER_BUS_H
#define MT_SERVER_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt_bus mt_bus_t;

/* Called on a bus thread; msg is valid only during the call. */
typedef void (*mt_bus_cb)(const char *subject, const void *msg, size_t len, void *ud);
/* A responder: fills *reply (malloc'd, the bus frees it) and *rlen; non-zero = no answer. */
typedef int (*mt_bus_reply_cb)(const char *subject, const void *msg, size_t len, char **reply,
                               size_t *rlen, void *ud);

typedef struct mt_bus_ops {
    const char *name; /* "inproc" | "nats" */
    int (*publish)(mt_bus_t *b, const char *subject, const char *msg_id, const void *msg,
                   size_t len);
    int (*subscribe)(mt_bus_t *b, const char *filter, mt_bus_cb cb, void *ud);
    void (*unsubscribe)(mt_bus_t *b, mt_bus_cb cb, void *ud);
    int (*respond)(mt_bus_t *b, const char *subject, mt_bus_reply_cb cb, void *ud);
    void (*unrespond)(mt_bus_t *b, const char *subject);
    int (*request)(mt_bus_t *b, const char *subject, const void *msg, size_t len, int timeout_ms,
                   char **reply, size_t *rlen);
    void (*ack)(mt_bus_t *b, const char *run_id, uint32_t upto);
    void (*close)(mt_bus_t *b);
    void (*flush)(mt_bus_t *b);
    size_t (*pending)(mt_bus_t *b);
    int (*connected)(mt_bus_t *b);
    void (*free)(mt_bus_t *b);
} mt_bus_ops_t;

/* Every implementation's struct starts with this. */
struct mt_bus {
    const mt_bus_ops_t *ops;
};

int mt_bus_new_inproc(mt_bus_t **out);

/* Copies msg. Returns MT_OK, MT_ENOMEM, or MT_EINVAL after mt_bus_close. */
int mt_bus_publish(mt_bus_t *b, const char *subject, const void *msg, size_t len);
/* The same with a de-duplication id (NATS: the Nats-Msg-Id header of a JetStream publish,
 * "<run>.<agent>.<second>"); the in-process bus ignores it. On NATS, .second and .end
 * messages are queued and published in order by a background thread that retries until the
 * stream has them (an agent keeps them while NATS is away); MT_ENOMEM when that queue is full. */
int mt_bus_publish_id(mt_bus_t *b, const char *subject, const char *msg_id, const void *msg,
                      size_t len);
/* Every message whose subject matches filter (see above) goes to cb. */
int mt_bus_subscribe(mt_bus_t *b, const char *filter, mt_bus_cb cb, void *ud);
/* Removes the subscriptions of (cb, ud). On return cb is no longer running for them (unless
 * called from a callback, where it takes effect with the next message), so ud may be freed. */
void mt_bus_unsubscribe(mt_bus_t *b, mt_bus_cb cb, void *ud);
/* Answers requests on one exact subject (one responder per subject and bus). */
int mt_bus_respond(mt_bus_t *b, const char *subject, mt_bus_reply_cb cb, void *ud);
/* Stops answering subject; on return the responder is not running (unless called from it). */
void mt_bus_unrespond(mt_bus_t *b, const char *subject);
/* A request and its reply (*reply malloc'd, NUL-terminated, the caller frees). MT_EAGAIN
 * after timeout_ms, MT_ENOTFOUND when nobody answers that subject. */
int mt_bus_request(mt_bus_t *b, const char *subject, const void *msg, size_t len, int timeout_ms,
                   char **reply, size_t *rlen);
/* The store has every second of run_id up to and including upto (UINT32_MAX: the run is over):
 * the NATS bus acknowledges the stream messages it delivered for them. No-op in process. */
void mt_bus_ack(mt_bus_t *b, const char *run_id, uint32_t upto);
/* Delivers what is queued, then refuses new messages. */
void mt_bus_close(mt_bus_t *b);
/* Waits until every message published so far (and any its callbacks published) has been
 * delivered (NATS: flushed to the server and, for .second/.end, stored in the stream). For
 * tests and orderly shutdown; must not be called from a callback (it returns at once there). */
void mt_bus_flush(mt_bus_t *b);
/* Messages published and not yet delivered (a gauge for /metrics). */
size_t mt_bus_pending(mt_bus_t *b);
void mt_bus_free(mt_bus_t *b); /* closes first; NULL is fine; never from a callback */

/* 1 when subject matches filter (a prefix or a NATS pattern, see above). */
int mt__bus_match(const char *filter, const char *subject);

/* ---- NATS (bus_nats.c) -------------------------------------------------------------------- */
typedef struct mt_nats_opts {
    const char *url;  /* nats://host:port[,nats://...] */
    const char *name; /* connection name shown by the server */
    const char *user; /* with password */
    const char *password;
    const char *token;
    const char *creds_file; /* a .creds file (JWT + nkey seed) */
    const char *nkey_file;  /* a file holding an nkey seed (SU...) */
    const char *ca_file;    /* TLS: trust these CAs */
    const char *cert_file;  /* TLS: client certificate (with key_file) */
    const char *key_file;
    /* non-NULL: the server side. Creates the stream if missing and reads .second/.end through
     * this durable pull consumer, delivering them to subscribers on one thread in stream
     * order; each is acknowledged by mt_bus_ack. NULL: an agent (publishes only). */
    const char *durable;
    int ack_wait_ms;   /* durable consumer's AckWait (default 10000) */
    size_t outbox_max; /* .second/.end messages kept while NATS is away (default 4096) */
} mt_nats_opts_t;

/* Connects (retrying in the background when the server is not up yet, for agents; the server
 * side needs the stream and fails with err filled when it cannot make it in ~5 s). */
int mt_bus_new_nats(const mt_nats_opts_t *o, mt_bus_t **out, char *err, size_t errlen);
/* The public key ("U...") of the nkey seed in a file; MT_EINVAL with err naming the file. */
int mt__nkey_public_from_seed_file(const char *path, char pub[64], char *err, size_t errlen);
/* A stream message id "<run>.<agent>.<second|end>" -> run, second (UINT32_MAX for an end).
 * MT_EINVAL when malformed (the server then drops the message). */
int mt__nats_msg_id_parse(const char *id, char run[64], uint32_t *second);
/* 1 while connected (for /readyz and logs); the in-process bus always is. */
int mt_bus_connected(mt_bus_t *b);

#endif
