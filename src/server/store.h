/* The store of `mortar serve`: one ops table (the operations the API, the run lifecycle, the
 * scheduler and the webhook relay need), so the SQLite implementation (store_sqlite.c) and a
 * later PostgreSQL one sit behind the same calls (docs/adr/0011-control-plane.md).
 *
 * Conventions of every op: returns MT_OK or a negative MT_E* code (MT_ENOTFOUND, MT_ECONFLICT,
 * MT_EINVAL, MT_ESYS for a database failure, with the reason logged). Objects handed out as
 * json_t ** are new references the caller json_decref's; they have the shapes of docs/api.md
 * (a Run, a Test, ...). Strings in are borrowed. Every state change writes its event (the
 * transactional outbox, table events) and the deliveries of the webhooks that match it in the
 * same transaction. Every op is safe to call from any thread. */
#ifndef MT_SERVER_STORE_H
#define MT_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server/aggregator.h"
#include "server/scheduler.h"
#include "server/webhook.h"

typedef struct mt__store mt__store_t;

#define MT_STORE_TOKEN_NAME 256 /* a token's name, with its NUL (the API takes up to 200) */

/* A page of a list: newest first; cursor = the last id of the previous page (NULL: first). */
typedef struct mt__store_page {
    size_t limit; /* 1..500 */
    const char *cursor;
} mt__store_page_t;

/* One stored run-second row (aggregator.h's format), owned by an mt__store_rows_t. */
typedef struct mt__store_rows {
    mt__agg_row_t *rows;
    uint32_t *second; /* second of rows[i] */
    size_t n;
} mt__store_rows_t;

/* One agent's part of a run, for run_agent_put. Strings are borrowed. */
#define MT_STORE_KEEP INT64_MIN
typedef struct mt__store_run_agent {
    const char *name;        /* required */
    int64_t index;           /* MT_STORE_KEEP: as stored */
    const char *share_json;  /* the part (split.h's JSON text); NULL: keep */
    const char *state;       /* preparing|ready|running|ended|lost|refused; NULL: keep */
    const char *reason;      /* NULL: keep */
    int64_t clock_offset_us; /* MT_STORE_KEEP: keep */
    int64_t start_skew_us;   /* MT_STORE_KEEP: keep */
    int64_t last_second;     /* MT_STORE_KEEP: keep */
} mt__store_run_agent_t;
/* Every field "keep": set the ones to change. */
#define MT_STORE_RUN_AGENT_INIT(nm)                                                                \
    {                                                                                              \
        (nm), MT_STORE_KEEP, NULL, NULL, NULL, MT_STORE_KEEP, MT_STORE_KEEP, MT_STORE_KEEP         \
    }

/* Counters of a store with a connection pool (/metrics); see ops->stats. */
typedef struct mt__store_stats {
    uint64_t roundtrips;      /* statements sent */
    double roundtrip_seconds; /* their summed round-trip time */
    uint64_t pool_size;       /* connections */
    uint64_t pool_in_use;     /* connections held by an op now */
    uint64_t pool_waits;      /* ops that waited for a connection */
} mt__store_stats_t;

typedef struct mt__store_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(mt__store_t *s);
    int (*ping)(mt__store_t *s); /* MT_OK when the store answers (readyz) */
    /* MT_OK when writes work; MT_ESYS while they fail, with why = "disk full", "database
     * corrupt", "read-only", ... (the last failed write's kind). While failing, a probe write
     * (at most one a second) notices that they work again. */
    int (*health)(mt__store_t *s, char *why, size_t n);
    /* The kind of this thread's last failed store call ("disk full", ...; "" when none): an op
     * that returned MT_ESYS says why through it. Valid until the thread's next store call. */
    const char *(*last_error)(mt__store_t *s);
    /* Optional (NULL on SQLite): the pool's counters, for /metrics. */
    int (*stats)(mt__store_t *s, mt__store_stats_t *out);
    /* Optional (NULL on SQLite): calls wake(ud) from a thread of the store whenever a
     * delivery is committed, by this server or another sharing the database (PostgreSQL
     * LISTEN/NOTIFY), so the relay starts it at once. */
    void (*set_outbox_wake)(mt__store_t *s, void (*wake)(void *), void *ud);

    /* ---- tokens (hash = hex SHA-256 of the secret) ---- */
    int (*token_create)(mt__store_t *s, const char *name, const char *role, const char *hash,
                        json_t **out); /* {"id","name","role","created_at"} */
    /* The token's id, role ("viewer"/"runner"/"admin") and name into id[40], role[16] and
     * name[MT_STORE_TOKEN_NAME]. */
    int (*token_lookup)(mt__store_t *s, const char *hash, char *id, char *role, char *name);
    int (*token_list)(mt__store_t *s, const mt__store_page_t *pg, json_t **out);
    int (*token_delete)(mt__store_t *s, const char *id);

    /* ---- idempotency keys (scope = token id; kept 24 h) ---- */
    /* MT_ENOTFOUND, or the stored response: *req_hash, *ctype, *body malloc'd (caller frees). */
    int (*idem_get)(mt__store_t *s, const char *scope, const char *key, char **req_hash,
                    int *status, char **ctype, char **body);
    /* Stores a response (filling a reservation of idem_claim); a key already stored (a
     * concurrent twin) is kept as it was. */
    int (*idem_put)(mt__store_t *s, const char *scope, const char *key, const char *req_hash,
                    int status, const char *ctype, const char *body);

    /* ---- tests: body = {"name","description","config","tolerances"} (validated) ---- */
    int (*test_create)(mt__store_t *s, const json_t *body, json_t **out); /* ECONFLICT: name */
    int (*test_update)(mt__store_t *s, const char *id, const json_t *body, json_t **out);
    int (*test_get)(mt__store_t *s, const char *id, json_t **out);
    int (*test_list)(mt__store_t *s, const mt__store_page_t *pg, json_t **out);
    int (*test_versions)(mt__store_t *s, const char *id, json_t **out);
    int (*test_delete)(mt__store_t *s, const char *id);
    /* EINVAL: the run is not of this test or not finished (err says which). */
    int (*test_set_baseline)(mt__store_t *s, const char *id, const char *run_id, json_t **out,
                             char *err, size_t errlen);
    int (*test_trend)(mt__store_t *s, const char *id, size_t limit, json_t **out);
    /* The last `limit` finished runs (passed, failed, stopped, with a summary) of a test,
     * oldest first by started_at: {"items":[{"run_id","state","started_at","test_version",
     * "config_version","p50","p90","p99","p999" (latency, us),"rps","error_rate"}]}; a metric
     * the summary lacks is null. The input of change-point detection (changes.h). */
    int (*test_history)(mt__store_t *s, const char *id, size_t limit, json_t **out);
    /* Records the change points found after a run ended, found = {"<metric>": [{"run_id",
     * "near": [run ids], ...}]}: one not seen before (no id of its "near" among the metric's
     * known run ids) is new, and the new ones raise one test.changed event
     * {"test_id","test_name","changes":[the new ones without "near", with "metric"]}. The
     * first call for a test records without announcing (a history older than the feature).
     * *fresh (may be NULL) = the new ones. */
    int (*test_changes_put)(mt__store_t *s, const char *id, const json_t *found, json_t **fresh);

    /* A test by id or by name (deleted ones are not found). */
    int (*test_find)(mt__store_t *s, const char *id_or_name, json_t **out);

    /* ---- runs ---- */
    /* Queues a run (event run.queued). test_id NULL: config is the run's own; else config is
     * the test's current one (taken here). schedule_id may be NULL. created_by (NULL: none) is
     * kept as the run's "created_by": {"token_id","token_name","role"} of the API caller (the
     * scheduler's runs have {"schedule_id"}). */
    int (*run_create)(mt__store_t *s, const char *test_id, const json_t *config,
                      const json_t *labels, const char *schedule_id, const json_t *created_by,
                      json_t **out);
    int (*run_get)(mt__store_t *s, const char *id, json_t **out);
    /* An imported run (docs/import.md): inserted `running` on agent "import" with the test's
     * current config and source_json (event run.started); it then ends as any run does.
     * MT_ENOTFOUND when the test does not exist. created_by as for run_create. */
    int (*run_import_begin)(mt__store_t *s, const char *test_id, const char *source_json,
                            const json_t *created_by, json_t **out);
    /* Sets an imported run's source; with start_ms > 0 also started_at = the data's start and,
     * once it ended, ended_at = start + seconds. */
    int (*run_import_source)(mt__store_t *s, const char *id, const char *source_json,
                             int64_t start_ms, uint32_t seconds);
    /* state, test_id: filters or NULL. */
    int (*run_list)(mt__store_t *s, const char *state, const char *test_id,
                    const mt__store_page_t *pg, json_t **out);
    /* The oldest queued run (MT_ENOTFOUND when none). */
    int (*run_next_queued)(mt__store_t *s, json_t **out);
    /* A queued run's reason (what it waits for: placement.h), written only when it changed;
     * *changed = 1 then (no event: the reason is progress, not a state change). MT_OK and
     * *changed = 0 when the run is no longer queued. */
    int (*run_queued_reason)(mt__store_t *s, const char *id, const char *reason, int *changed);
    /* queued -> running (event run.started), clearing the queued reason; ECONFLICT when it is
     * no longer queued. agent: the agent's name, or the agents' names joined by ','. */
    int (*run_start)(mt__store_t *s, const char *id, const char *agent, json_t **out);
    /* Any non-final state -> state (final), with the summary and verdicts (JSON text or NULL)
     * and the number of stored seconds (events run.finished, and run.stopped when stopped).
     * ECONFLICT when already final. */
    int (*run_finish)(mt__store_t *s, const char *id, const char *state, const char *reason,
                      const char *summary_json, const char *verdicts_json, json_t **out);
    /* One merged second's rows in one transaction (aggregator.h). */
    int (*run_append_second)(mt__store_t *s, const char *run_id, uint32_t second,
                             const mt__agg_row_t *rows, size_t n);
    /* Rows of a run with second in [from, to], ordered by second then tag. tag NULL = every
     * tag; "" = the untagged rows only. */
    int (*run_rows)(mt__store_t *s, const char *run_id, const char *tag, int64_t from, int64_t to,
                    mt__store_rows_t *out);
    /* The series body {"run_id":..., "items":[data_json, ...]} of rows of tag (NULL = "")
     * with second in [from, to], built by the database without parsing (the hot read of the
     * UI and dashboards). *json malloc'd; MT_ENOTFOUND when the run does not exist. */
    int (*run_series)(mt__store_t *s, const char *run_id, const char *tag, int64_t from, int64_t to,
                      char **json, size_t *len);
    /* Records the seconds a run lost (merged but never stored) and why (run's lost_seconds,
     * loss_reason). MT_ENOTFOUND when the run does not exist. */
    int (*run_set_loss)(mt__store_t *s, const char *id, uint32_t lost, const char *reason);
    /* Sets a finished run's summary (JSON text), e.g. recomputed for an interrupted run. */
    int (*run_set_summary)(mt__store_t *s, const char *id, const char *summary_json);
    /* Start-up recovery: running -> interrupted with reason (events), ended_at = the end of its
     * last stored second (its start when none). *n = runs changed. */
    int (*run_recover)(mt__store_t *s, const char *reason, size_t *n);
    /* Runs per state: {"queued":N,...} for /metrics; outbox = pending deliveries. */
    int (*run_counts)(mt__store_t *s, json_t **out, int64_t *outbox_pending);

    /* ---- a run's agents (table run_agents, docs/placement.md) ---- */
    /* Inserts or updates the row (run_id, a->name); fields of a that are NULL or MT_STORE_KEEP
     * keep their stored value (on insert: index 0, state 'preparing', the rest null). The run
     * must exist (else ECONFLICT); a bad state is EINVAL. */
    int (*run_agent_put)(mt__store_t *s, const char *run_id, const struct mt__store_run_agent *a);
    /* {"items":[{"name","index","share","state","reason","clock_offset_us","start_skew_us",
     * "last_second","updated_at"}]} ordered by index (the Run's "agents" array). */
    int (*run_agents_list)(mt__store_t *s, const char *run_id, json_t **out);

    /* ---- agents ---- */
    /* Registers or refreshes an agent; version and state (NULL: keep as stored) are what the
     * agent says of itself (state "up", "draining" or "stopped"). */
    int (*agent_heartbeat)(mt__store_t *s, const char *name, const char *labels_json, int capacity,
                           int active, const char *version, const char *state, int64_t now_ms);
    /* {"items":[{"name","labels","capacity","active_runs","runs":[run ids],"version","state",
     * "last_heartbeat"}]}: state "down" when no heartbeat for 10 s before now_ms; runs = the
     * runs whose part on it is preparing, ready or running. */
    int (*agent_list)(mt__store_t *s, int64_t now_ms, json_t **out);

    /* ---- schedules: body = {"test_id","cron","policy","enabled"} (validated) ---- */
    int (*sched_create)(mt__store_t *s, const json_t *body, int64_t next_fire_at, json_t **out);
    int (*sched_update)(mt__store_t *s, const char *id, const json_t *body, int64_t next_fire_at,
                        json_t **out);
    int (*sched_get)(mt__store_t *s, const char *id, json_t **out);
    int (*sched_list)(mt__store_t *s, const mt__store_page_t *pg, json_t **out);
    int (*sched_delete)(mt__store_t *s, const char *id);

    /* ---- webhooks ---- */
    int (*webhook_create)(mt__store_t *s, const char *url, const char *secret, const json_t *events,
                          json_t **out);
    int (*webhook_list)(mt__store_t *s, const mt__store_page_t *pg, json_t **out);
    int (*webhook_delete)(mt__store_t *s, const char *id);
    int (*webhook_deliveries)(mt__store_t *s, const char *id, const mt__store_page_t *pg,
                              json_t **out);

    /* ---- settings (table settings): the target policy's canonical JSON ---- */
    /* *json malloc'd (caller frees) and its version (1, 2, ...); MT_ENOTFOUND when never set. */
    int (*policy_get)(mt__store_t *s, char **json, int64_t *version);
    /* Stores json as the policy; *version = its new version. */
    int (*policy_put)(mt__store_t *s, const char *json, int64_t *version);

    /* The scheduler's and the relay's callbacks over this store (their ud = the mt__store_t *):
     * a fired schedule queues its run with events schedule.fired and run.queued in one
     * transaction; a skipped one writes schedule.skipped. */
    const mt__scheduler_ops_t *sched_ops;
    const mt__relay_ops_t *relay_ops;

    /* ---- several servers on one store (docs/serve.md "Several servers", ADR 0034) ----
     * Owners are server ids (cmd_serve.c: --server-id, else hostname-pid). Expiry is on the
     * store's clock, so the servers' clocks need not agree. A store that only one server can
     * open at a time (SQLite: the data directory's lock) grants every lease and the
     * leadership to whoever asks. */
    /* Takes run_id's aggregation lease for owner for ttl_ms when it is free, expired or
     * owner's already: *got = 1; else *got = 0 and holder (128 bytes, may be NULL) = its
     * owner. */
    int (*lease_take)(mt__store_t *s, const char *run_id, const char *owner, int64_t ttl_ms,
                      int *got, char *holder);
    /* Extends owner's lease by ttl_ms from now; MT_ECONFLICT when another server holds it. */
    int (*lease_renew)(mt__store_t *s, const char *run_id, const char *owner, int64_t ttl_ms);
    /* Drops owner's lease of run_id (the run is over); MT_OK also when it held none. */
    int (*lease_release)(mt__store_t *s, const char *run_id, const char *owner);
    /* The running runs nobody owns: no lease, an expired one, or (a single-server store) one
     * of an earlier process than owner: {"items":["<run id>",...]}. */
    int (*lease_orphans)(mt__store_t *s, const char *owner, json_t **out);
    /* {"items":[{"run_id","owner","expires_in_ms"}]}: the leases of running runs. */
    int (*lease_list)(mt__store_t *s, json_t **out);
    /* Takes or keeps the scheduler's leadership for owner; *leader = 1 while held (PostgreSQL:
     * a session advisory lock on a dedicated connection, lost with the session). */
    int (*leader_try)(mt__store_t *s, const char *owner, int *leader);
    /* Reserves an idempotency key before its request runs (a row with status 0): *claimed = 1
     * when this call made it; 0 when it exists (done, or running on some server: idem_get
     * then returns status 0 until idem_put stores the response). Expired keys go first. */
    int (*idem_claim)(mt__store_t *s, const char *scope, const char *key, const char *req_hash,
                      int *claimed);
    /* Drops a reservation whose response is not kept (a 5xx, ...): the key may be retried. */
    int (*idem_release)(mt__store_t *s, const char *scope, const char *key);
} mt__store_ops_t;

struct mt__store {
    const mt__store_ops_t *ops;
};

/* Opens (creating) DIR/mortar.db, applies the pending migrations (an applied one whose
 * checksum changed is MT_EFORMAT with err saying which). */
int mt__store_open_sqlite(const char *dir, mt__store_t **out, char *err, size_t errlen);

/* The same with an explicit migration list (tests): names "V<n>__<what>.sql", in order. */
typedef struct mt__migration {
    const char *name;
    const char *sql;
} mt__migration_t;
extern const mt__migration_t mt__migrations[]; /* embedded src/server/migrations/ */
extern const size_t mt__nmigrations;
int mt__store_open_sqlite_with(const char *dir, const mt__migration_t *m, size_t n,
                               mt__store_t **out, char *err, size_t errlen);

void mt__store_rows_dispose(mt__store_rows_t *r);

/* ---- PostgreSQL (store_pg.c, docs/adr/0033-postgresql-store.md) ---- */
extern const mt__migration_t mt__pg_migrations[]; /* src/server/migrations/postgresql/ */
extern const size_t mt__npg_migrations;
/* Opens the store at uri (a libpq URI or conninfo; password NULL: PGPASSWORD / ~/.pgpass),
 * applying the pending migrations under an advisory lock (a changed one: MT_EFORMAT, err says
 * which; database unreachable: MT_ESYS). */
int mt__store_open_pg(const char *uri, const char *password, mt__store_t **out, char *err,
                      size_t errlen);
int mt__store_open_pg_with(const char *uri, const char *password, const mt__migration_t *m,
                           size_t n, mt__store_t **out, char *err, size_t errlen);
/* mortar db migrate (apply = 1) / status (apply = 0: reads only): *status = [{"name","state":
 * "applied"|"pending"|"changed","checksum","applied_at"}]. */
int mt__store_pg_migrations(const char *uri, const char *password, int apply, json_t **status,
                            char *err, size_t errlen);
/* mortar db prune: detaches and drops the run_seconds partitions whose runs all began before
 * before_ms (dry: lists them only); *dropped = their names. */
int mt__store_pg_prune(mt__store_t *s, int64_t before_ms, int dry, json_t **dropped, char *err,
                       size_t errlen);

/* --store: the store a command uses (store_open.c). uri NULL: SQLite in data_dir. A uri
 * that is not postgresql:// / postgres://, or holds a password, is MT_EINVAL with err
 * naming the flag and the column. password_file (may be NULL): the password's file (first
 * line). */
int mt__store_uri_check(const char *uri, char *err, size_t errlen);
int mt__store_open_any(const char *data_dir, const char *uri, const char *password_file,
                       mt__store_t **out, char *err, size_t errlen);
/* The password of a --store-password-file (its first line, malloc'd), or NULL with err. */
char *mt__store_read_password(const char *path, char *err, size_t errlen);

/* Helpers shared by the server files (util.c). */
void mt__uuid7(char out[37]);
void mt__rfc3339(int64_t ms, char out[32]); /* Unix ms -> "2026-11-27T23:01:02.345Z" */
int64_t mt__now_ms(void);
void mt__sha256_hex(const void *data, size_t len, char out[65]);

#endif
