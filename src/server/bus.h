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
 *     a durable pull consumer and acknowledges once the store has the second (mt__bus_ack).
 * A subscription filter is either a prefix ("mortar.agents.", "" = all) or a NATS subject
 * pattern with `*` (one token) and a final `>` (the rest), e.g. "mortar.runs.*.control". */
#ifndef MT_SERVER_BUS_H
#define MT_SERVER_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt__bus mt__bus_t;

/* Called on a bus thread; msg is valid only during the call. */
typedef void (*mt__bus_cb)(const char *subject, const void *msg, size_t len, void *ud);
/* A responder: fills *reply (malloc'd, the bus frees it) and *rlen; non-zero = no answer. */
typedef int (*mt__bus_reply_cb)(const char *subject, const void *msg, size_t len, char **reply,
                                size_t *rlen, void *ud);

typedef struct mt__bus_ops {
    const char *name; /* "inproc" | "nats" */
    int (*publish)(mt__bus_t *b, const char *subject, const char *msg_id, const void *msg,
                   size_t len);
    int (*subscribe)(mt__bus_t *b, const char *filter, mt__bus_cb cb, void *ud);
    void (*unsubscribe)(mt__bus_t *b, mt__bus_cb cb, void *ud);
    int (*respond)(mt__bus_t *b, const char *subject, mt__bus_reply_cb cb, void *ud);
    void (*unrespond)(mt__bus_t *b, const char *subject);
    int (*request)(mt__bus_t *b, const char *subject, const void *msg, size_t len, int timeout_ms,
                   char **reply, size_t *rlen);
    void (*ack)(mt__bus_t *b, const char *run_id, uint32_t upto);
    int (*watch)(mt__bus_t *b, const char *run_id);               /* NULL: no-op */
    void (*unwatch)(mt__bus_t *b, const char *run_id, int purge); /* NULL: no-op */
    void (*close)(mt__bus_t *b);
    void (*flush)(mt__bus_t *b);
    size_t (*pending)(mt__bus_t *b);
    int (*connected)(mt__bus_t *b);
    void (*free)(mt__bus_t *b);
} mt__bus_ops_t;

/* Every implementation's struct starts with this. */
struct mt__bus {
    const mt__bus_ops_t *ops;
};

int mt__bus_new_inproc(mt__bus_t **out);

/* Copies msg. Returns MT_OK, MT_ENOMEM, or MT_EINVAL after mt__bus_close. */
int mt__bus_publish(mt__bus_t *b, const char *subject, const void *msg, size_t len);
/* The same with a de-duplication id (NATS: the Nats-Msg-Id header of a JetStream publish,
 * "<run>.<agent>.<second>"); the in-process bus ignores it. On NATS, .second and .end
 * messages are queued and published in order by a background thread that retries until the
 * stream has them (an agent keeps them while NATS is away); MT_ENOMEM when that queue is full. */
int mt__bus_publish_id(mt__bus_t *b, const char *subject, const char *msg_id, const void *msg,
                       size_t len);
/* Every message whose subject matches filter (see above) goes to cb. */
int mt__bus_subscribe(mt__bus_t *b, const char *filter, mt__bus_cb cb, void *ud);
/* Removes the subscriptions of (cb, ud). On return cb is no longer running for them (unless
 * called from a callback, where it takes effect with the next message), so ud may be freed. */
void mt__bus_unsubscribe(mt__bus_t *b, mt__bus_cb cb, void *ud);
/* Answers requests on one exact subject (one responder per subject and bus). */
int mt__bus_respond(mt__bus_t *b, const char *subject, mt__bus_reply_cb cb, void *ud);
/* Stops answering subject; on return the responder is not running (unless called from it). */
void mt__bus_unrespond(mt__bus_t *b, const char *subject);
/* A request and its reply (*reply malloc'd, NUL-terminated, the caller frees). MT_EAGAIN
 * after timeout_ms, MT_ENOTFOUND when nobody answers that subject. */
int mt__bus_request(mt__bus_t *b, const char *subject, const void *msg, size_t len, int timeout_ms,
                    char **reply, size_t *rlen);
/* The store has every second of run_id up to and including upto (UINT32_MAX: the run is over):
 * the NATS bus acknowledges the stream messages it delivered for them. No-op in process. */
void mt__bus_ack(mt__bus_t *b, const char *run_id, uint32_t upto);
/* This server owns run_id's aggregation from now on (docs/serve.md "Several servers"): the
 * NATS bus (re)creates the run's durable consumer (mortar-run-<id>, filter
 * mortar.runs.<id>.*.*) so that every message the stream still holds for the run (what a dead
 * owner never acknowledged) comes first and in order, then reads it. MT_OK; no-op in
 * process. */
int mt__bus_watch(mt__bus_t *b, const char *run_id);
/* Stops reading run_id (the run is over, or another server owns it now); purge: the run is
 * over, so its consumer and what the stream still holds for it go too. Safe from a bus
 * callback (the reading thread finishes it). */
void mt__bus_unwatch(mt__bus_t *b, const char *run_id, int purge);
/* Delivers what is queued, then refuses new messages. */
void mt__bus_close(mt__bus_t *b);
/* Waits until every message published so far (and any its callbacks published) has been
 * delivered (NATS: flushed to the server and, for .second/.end, stored in the stream). For
 * tests and orderly shutdown; must not be called from a callback (it returns at once there). */
void mt__bus_flush(mt__bus_t *b);
/* Messages published and not yet delivered (a gauge for /metrics). */
size_t mt__bus_pending(mt__bus_t *b);
void mt__bus_free(mt__bus_t *b); /* closes first; NULL is fine; never from a callback */

/* 1 when subject matches filter (a prefix or a NATS pattern, see above). */
int mt__bus_match(const char *filter, const char *subject);

/* ---- NATS (bus_nats.c) -------------------------------------------------------------------- */
typedef struct mt__nats_opts {
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
    /* non-NULL: the server side. Creates the stream if missing and reads .second/.end of the
     * runs it watches (mt__bus_watch) through one durable pull consumer per run, delivering
     * them to subscribers on one thread in stream order; each is acknowledged by mt__bus_ack.
     * A consumer of this name (the single consumer of earlier versions) is deleted: a
     * work-queue stream admits no overlapping consumers. NULL: an agent (publishes only). */
    const char *durable;
    int ack_wait_ms;   /* durable consumer's AckWait (default 10000) */
    size_t outbox_max; /* .second/.end messages kept while NATS is away (default 4096) */
} mt__nats_opts_t;

/* Connects (retrying in the background when the server is not up yet, for agents; the server
 * side needs the stream and fails with err filled when it cannot make it in ~5 s). */
int mt__bus_new_nats(const mt__nats_opts_t *o, mt__bus_t **out, char *err, size_t errlen);
/* The public key ("U...") of the nkey seed in a file; MT_EINVAL with err naming the file. */
int mt__nkey_public_from_seed_file(const char *path, char pub[64], char *err, size_t errlen);
/* A stream message id "<run>.<agent>.<second|end>" -> run, second (UINT32_MAX for an end).
 * MT_EINVAL when malformed (the server then drops the message). */
int mt__nats_msg_id_parse(const char *id, char run[64], uint32_t *second);
/* 1 while connected (for /readyz and logs); the in-process bus always is. */
int mt__bus_connected(mt__bus_t *b);

#endif
