/* The PostgreSQL store (store.h, docs/adr/0033-postgresql-store.md): libpq, a small pool of
 * connections (one mutex each), every op one short transaction or one statement.
 *
 * Failures: an op whose connection was lost (the server restarted, the network dropped) is
 * retried on a fresh connection for up to PG_RETRY_MS, with backoff: a transaction that failed
 * before its COMMIT was sent rolled back, so running it again is safe; an op whose COMMIT
 * itself was lost is retried only when it is idempotent (the per-second writes: ON CONFLICT on
 * (run, second, tag)). Deadlocks and serialization failures are retried the same way.
 *
 * The pool: PG_POOL connections, each taken by one op at a time (a mutex and a condition over
 * the free ones).
 *
 * The per-second rows go into run_seconds, partitioned by range of the UUIDv7 run id (one
 * partition a month, created on demand: run creation makes sure the month's exists). A merged
 * second is one statement (one round trip): the rows as one JSON parameter, the run's second
 * count and its agents' last second updated in the same statement.
 *
 * The outbox: a state change writes its event and deliveries and NOTIFYs mortar_outbox in its
 * transaction; a listener connection wakes the relay on it. The relay claims one delivery at a
 * time (FOR UPDATE SKIP LOCKED, then a lease in lease_until) in a statement of its own and
 * makes the HTTP call holding no lock: several servers' relays deliver each row once, and a
 * relay that died leaves its rows to the others when their lease runs out. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "mortar/error.h"
#include "server/log.h"
#include "server/store.h"

#define PG_POOL         8
#define PG_RETRY_MS     6000 /* how long an op keeps retrying a connection lost under it */
#define PG_LEASE_S      60   /* a claimed delivery's lease (> the 10 s attempt timeout) */
#define PG_MAXP         16   /* parameters of one statement */
#define PG_PARTS        256  /* months whose partition is known to exist */
#define PG_TOKENS       64   /* tokens remembered ... */
#define PG_TOKEN_TTL_MS 1000 /* ... this long (a revocation on another server: within 1 s) */

/* type oids (pg_type.h is server-side) */
#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_TEXT    25
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

typedef struct pg_store pg_store_t;

typedef struct pg_conn {
    PGconn *c;
    pg_store_t *st;
    int lost;        /* the last statement failed because the connection is gone */
    int transient;   /* ... or with a deadlock / serialization failure: run it again */
    int commit_sent; /* this op sent COMMIT (retry only when idempotent) */
    int idem;        /* this op may be run again even after its COMMIT was sent */
    int unreachable; /* the op began with the database unreachable (no retry then) */
} pg_conn_t;

struct pg_store {
    mt__store_t base;
    char *conninfo;
    char *password;
    pg_conn_t pool[PG_POOL];
    /* the pool: a connection is taken by one op at a time; an op that finds none free waits
     * for the next one released (in the order they come: no connection is favoured) */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    int busy[PG_POOL];
    /* metrics (atomics) */
    uint64_t rtt_us, rtt_n, in_use, waits;
    /* writes failing (like the SQLite store's: health) */
    pthread_mutex_t fault_mu;
    int wfault;
    char wwhy[48];
    int64_t last_probe_ms;
    /* months (yyyy * 12 + mm - 1) whose run_seconds partition exists */
    pthread_mutex_t part_mu;
    int parts[PG_PARTS];
    size_t nparts;
    /* tokens looked up in the last PG_TOKEN_TTL_MS (every API call authenticates: without
     * this each one is a round trip first) */
    pthread_mutex_t tok_mu;
    struct pg_tok {
        char hash[65], id[40], role[16], name[MT_STORE_TOKEN_NAME];
        int64_t until_ms;
    } toks[PG_TOKENS];
    unsigned tok_next;
    /* LISTEN mortar_outbox */
    pthread_t lthread;
    int lstarted, lquit;
    void (*wake)(void *);
    void *wake_ud;
    pthread_mutex_t wake_mu;
    void *multi; /* several servers: the leader's session (pg_multi_t, at the end) */
};

static const mt__store_ops_t pg_ops;
#define PGS(s) ((pg_store_t *)(s))
static void pg_multi_close(pg_store_t *q);

static __thread char pg_tl_why[48];

static int64_t pg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connections ------------------------------------------------------------------------ */

static PGconn *pg_connect(const pg_store_t *q)
{
    const char *keys[] = {"dbname", "password", "connect_timeout", "application_name", NULL};
    const char *vals[] = {q->conninfo, q->password, "5", "mortar", NULL};
    if (q->password == NULL) {
        keys[1] = "connect_timeout";
        vals[1] = "5";
        keys[2] = "application_name";
        vals[2] = "mortar";
        keys[3] = NULL;
    }
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c != NULL && PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SET client_min_messages = warning");
        PQclear(r);
    }
    return c;
}

/* What a failed statement means to an operator. */
static const char *pg_kind(const char *state, PGconn *c)
{
    if (c == NULL || PQstatus(c) != CONNECTION_OK || state == NULL ||
        strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return "database unreachable";
    if (strcmp(state, "53100") == 0)
        return "disk full";
    if (strcmp(state, "25006") == 0)
        return "read-only";
    if (strncmp(state, "53", 2) == 0)
        return "out of resources";
    if (strncmp(state, "XX", 2) == 0)
        return "database corrupt";
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return "database busy";
    return "database error";
}

static void pg_mark_fault(pg_store_t *q, const char *why)
{
    pthread_mutex_lock(&q->fault_mu);
    if (!q->wfault)
        mt__log(MT_LOG_ERROR, "store writes fail", "reason", why, NULL);
    q->wfault = 1;
    snprintf(q->wwhy, sizeof q->wwhy, "%s", why);
    pthread_mutex_unlock(&q->fault_mu);
}

static void pg_mark_ok(pg_store_t *q)
{
    pthread_mutex_lock(&q->fault_mu);
    if (q->wfault)
        mt__log(MT_LOG_INFO, "store writes work again", "was", q->wwhy, NULL);
    q->wfault = 0;
    pthread_mutex_unlock(&q->fault_mu);
}

/* A connection of the pool, locked, (re)connected when it is not usable. */
static pg_conn_t *pg_acquire(mt__store_t *s)
{
    pg_store_t *q = PGS(s);
    pg_conn_t *c = NULL;
    pg_tl_why[0] = '\0';
    pthread_mutex_lock(&q->pool_mu);
    for (int waited = 0;; waited = 1) {
        for (int i = 0; i < PG_POOL && c == NULL; i++)
            if (!q->busy[i])
                c = &q->pool[i];
        if (c != NULL)
            break;
        if (!waited)
            __atomic_fetch_add(&q->waits, 1, __ATOMIC_RELAXED);
        pthread_cond_wait(&q->pool_cv, &q->pool_mu);
    }
    q->busy[c - q->pool] = 1;
    pthread_mutex_unlock(&q->pool_mu);
    __atomic_fetch_add(&q->in_use, 1, __ATOMIC_RELAXED);
    c->lost = c->transient = c->commit_sent = c->idem = c->unreachable = 0;
    if (c->c == NULL || PQstatus(c->c) != CONNECTION_OK) {
        if (c->c != NULL)
            PQfinish(c->c);
        c->c = pg_connect(q);
        c->unreachable = c->c == NULL || PQstatus(c->c) != CONNECTION_OK;
    }
    return c;
}

static void pg_release(pg_conn_t *c)
{
    if (c->c != NULL && PQtransactionStatus(c->c) != PQTRANS_IDLE &&
        PQstatus(c->c) == CONNECTION_OK) {
        PGresult *r = PQexec(c->c, "ROLLBACK"); /* an op left early */
        PQclear(r);
    }
    if (c->lost && c->c != NULL) {
        PQfinish(c->c);
        c->c = NULL;
    }
    __atomic_fetch_sub(&c->st->in_use, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&c->st->pool_mu);
    c->st->busy[c - c->st->pool] = 0;
    pthread_cond_signal(&c->st->pool_cv);
    pthread_mutex_unlock(&c->st->pool_mu);
}

/* After an op ended with rc on c: whether to run it again (then c was released and the
 * caller acquires a fresh one). t0 = when the op began (monotonic us). */
static int pg_again(pg_conn_t *c, int rc, int64_t t0, int64_t *attempt)
{
    if (rc != MT_ESYS || !(c->lost || c->transient) || (c->commit_sent && !c->idem && c->lost))
        return 0;
    /* an op that found the database already down fails at once (the API answers 503, the
     * aggregator retries its second later): only an op that lost its connection under it,
     * the write in flight, waits for the database to come back */
    if (*attempt == 0 && c->unreachable)
        return 0;
    int64_t waited = pg_mono_us() - t0;
    if (waited > (int64_t)PG_RETRY_MS * 1000)
        return 0;
    if (c->lost) {
        PQfinish(c->c);
        c->c = NULL;
    }
    c->lost = 0; /* release must not count it twice */
    pg_release(c);
    int ms = 50 << (*attempt < 4 ? (int)*attempt : 4); /* 50, 100, ... 800 ms */
    (*attempt)++;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* The body runs with c, an acquired connection, and sets rc; runs again on a lost connection
 * (see pg_again). Locals of the body are declared inside it. */
#define PG_OP(s, c, idempotent)                                                                    \
    for (int64_t t0_ = pg_mono_us(), done_ = 0, att_ = 0; !done_;)                                 \
        for (pg_conn_t *c = pg_acquire(s); c != NULL; c = NULL)                                    \
            for (c->idem = (idempotent); c != NULL;                                                \
                 done_ = !pg_again(c, rc, t0_, &att_) ? (pg_release(c), 1) : 0, c = NULL)

/* Runs sql with parameters described by fmt (s = text or NULL, i = int64_t, n = int,
 * d = double, b = int as boolean). *res (may be NULL) gets the result of a statement that
 * returned rows; *changes (may be NULL) the rows it changed. Constraint violations are
 * MT_ECONFLICT (*state then holds the SQLSTATE), other failures MT_ESYS (logged). */
static int pg_vexec(pg_conn_t *c, PGresult **res, int64_t *changes, char state[6], const char *sql,
                    const char *fmt, va_list ap)
{
    const char *vals[PG_MAXP];
    Oid types[PG_MAXP];
    char nums[PG_MAXP][32];
    int np = 0;
    for (; fmt && *fmt && np < PG_MAXP; fmt++, np++) {
        switch (*fmt) {
        case 's':
            vals[np] = va_arg(ap, const char *);
            types[np] = OID_TEXT;
            break;
        case 'i':
            snprintf(nums[np], sizeof nums[np], "%lld", (long long)va_arg(ap, int64_t));
            vals[np] = nums[np];
            types[np] = OID_INT8;
            break;
        case 'n':
            snprintf(nums[np], sizeof nums[np], "%d", va_arg(ap, int));
            vals[np] = nums[np];
            types[np] = OID_INT8;
            break;
        case 'd':
            snprintf(nums[np], sizeof nums[np], "%.17g", va_arg(ap, double));
            vals[np] = nums[np];
            types[np] = OID_FLOAT8;
            break;
        default:
            return MT_EINVAL;
        }
    }
    if (res)
        *res = NULL;
    if (state)
        state[0] = '\0';
    if (c->c == NULL || PQstatus(c->c) != CONNECTION_OK) {
        c->lost = 1;
        snprintf(pg_tl_why, sizeof pg_tl_why, "database unreachable");
        mt__log_limited("database unreachable", 10, MT_LOG_ERROR, "store error", "reason",
                        "database unreachable", "error",
                        c->c ? PQerrorMessage(c->c) : "out of memory", NULL);
        return MT_ESYS;
    }
    int64_t t = pg_mono_us();
    PGresult *r = PQexecParams(c->c, sql, np, types, vals, NULL, NULL, 0);
    __atomic_fetch_add(&c->st->rtt_us, (uint64_t)(pg_mono_us() - t), __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->st->rtt_n, 1, __ATOMIC_RELAXED);
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (changes)
            *changes = atoll(PQcmdTuples(r));
        if (res && es == PGRES_TUPLES_OK)
            *res = r;
        else
            PQclear(r);
        return MT_OK;
    }
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state)
        snprintf(state, 6, "%s", st ? st : "");
    if (st && strncmp(st, "23", 2) == 0) {
        PQclear(r);
        return MT_ECONFLICT;
    }
    const char *why = pg_kind(st, c->c);
    snprintf(pg_tl_why, sizeof pg_tl_why, "%s", why);
    if (strcmp(why, "database unreachable") == 0)
        c->lost = 1;
    if (st && (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0))
        c->transient = 1;
    mt__log_limited(why, 10, MT_LOG_ERROR, "store error", "sql", sql, "reason", why, "error",
                    r ? PQresultErrorMessage(r) : PQerrorMessage(c->c), NULL);
    PQclear(r);
    return MT_ESYS;
}

static int pg_cmd(pg_conn_t *c, int64_t *changes, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = pg_vexec(c, NULL, changes, NULL, sql, fmt, ap);
    va_end(ap);
    return rc;
}

static int pg_res(pg_conn_t *c, PGresult **res, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = pg_vexec(c, res, NULL, NULL, sql, fmt, ap);
    va_end(ap);
    return rc;
}

static int pg_begin(pg_conn_t *c)
{
    return pg_cmd(c, NULL, "BEGIN", NULL);
}

/* Commits when rc is MT_OK, else rolls back; returns the op's result. */
static int pg_end(pg_conn_t *c, int rc)
{
    if (rc == MT_OK) {
        c->commit_sent = 1;
        rc = pg_cmd(c, NULL, "COMMIT", NULL);
        if (rc == MT_OK) {
            pg_mark_ok(c->st);
            return MT_OK;
        }
    }
    if (c->c != NULL && PQstatus(c->c) == CONNECTION_OK) {
        PGresult *r = PQexec(c->c, "ROLLBACK");
        PQclear(r);
    }
    if (rc == MT_ESYS && !c->transient)
        pg_mark_fault(c->st, pg_tl_why[0] ? pg_tl_why : "database error");
    return rc;
}

/* A statement outside a transaction that wrote (or failed to). */
static int pg_wrote(pg_conn_t *c, int rc)
{
    if (rc == MT_OK)
        pg_mark_ok(c->st);
    else if (rc == MT_ESYS && !c->transient)
        pg_mark_fault(c->st, pg_tl_why[0] ? pg_tl_why : "database error");
    return rc;
}

/* Row i of r as an object: a column "x_json" becomes key "x" with the parsed JSON, "x_unix"
 * (Unix s) key "x" with the RFC 3339 time, "x_bool" a boolean; NULL is null. */
static json_t *pg_row(PGresult *r, int i)
{
    json_t *o = json_object();
    int nc = PQnfields(r);
    for (int k = 0; k < nc; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s", PQfname(r, k));
        size_t kl = strlen(key);
        int null = PQgetisnull(r, i, k);
        const char *v = PQgetvalue(r, i, k);
        Oid t = PQftype(r, k);
        json_t *j;
        if (kl > 5 && strcmp(key + kl - 5, "_json") == 0) {
            key[kl - 5] = '\0';
            j = null ? NULL : json_loads(v, JSON_DECODE_ANY, NULL);
            if (j == NULL)
                j = json_null();
        } else if (kl > 5 && strcmp(key + kl - 5, "_unix") == 0) {
            key[kl - 5] = '\0';
            if (null || atoll(v) == 0) {
                j = json_null();
            } else {
                char ts[32];
                mt__rfc3339(atoll(v) * 1000, ts);
                j = json_string(ts);
            }
        } else if (kl > 5 && strcmp(key + kl - 5, "_bool") == 0) {
            key[kl - 5] = '\0';
            j = json_boolean(!null && (v[0] == 't' || atoll(v) != 0));
        } else if (null) {
            j = json_null();
        } else if (t == OID_INT2 || t == OID_INT4 || t == OID_INT8) {
            j = json_integer(atoll(v));
        } else if (t == OID_FLOAT4 || t == OID_FLOAT8 || t == OID_NUMERIC) {
            j = json_real(strtod(v, NULL));
        } else if (t == OID_BOOL) {
            j = json_boolean(v[0] == 't');
        } else {
            j = json_string(v);
        }
        json_object_set_new(o, key, j ? j : json_null());
    }
    return o;
}

/* One row into *out (may be NULL); MT_ENOTFOUND when none. */
static int pg_one(pg_conn_t *c, json_t **out, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = NULL;
    int rc = pg_vexec(c, &r, NULL, NULL, sql, fmt, ap);
    va_end(ap);
    if (rc != MT_OK)
        return rc;
    if (r == NULL || PQntuples(r) == 0)
        rc = MT_ENOTFOUND;
    else if (out)
        *out = pg_row(r, 0);
    PQclear(r);
    return rc;
}

/* Every row into a new array. */
static int pg_all(pg_conn_t *c, json_t **out, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = NULL;
    int rc = pg_vexec(c, &r, NULL, NULL, sql, fmt, ap);
    va_end(ap);
    if (rc != MT_OK)
        return rc;
    json_t *a = json_array();
    for (int i = 0; r != NULL && i < PQntuples(r); i++)
        json_array_append_new(a, pg_row(r, i));
    PQclear(r);
    *out = a;
    return MT_OK;
}

static json_t *pg_page(json_t *rows, size_t limit)
{
    json_t *next = json_null();
    if (json_array_size(rows) > limit) {
        json_array_remove(rows, limit);
        next = json_copy(json_object_get(json_array_get(rows, limit - 1), "id"));
    }
    return json_pack("{s:o,s:o}", "items", rows, "next_cursor", next);
}

static const char *pg_cursor(const mt__store_page_t *pg)
{
    return pg->cursor ? pg->cursor : "~"; /* ids are "C"-collated hex: '~' sorts after all */
}

static char *pg_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

static const char *pg_str(const json_t *o, const char *k, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : dflt;
}

/* ---- partitions of run_seconds --------------------------------------------------------- */

/* The first 48 bits of a UUIDv7 text (ms since the epoch); -1 when not one. */
static int64_t pg_uuid_ms(const char *id)
{
    int64_t ms = 0;
    int nd = 0;
    for (const char *p = id; *p && nd < 12; p++) {
        if (*p == '-')
            continue;
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        ms = ms * 16 + d;
        nd++;
    }
    return nd == 12 ? ms : -1;
}

/* The id prefix "xxxxxxxx-xxxx" of ms: every UUIDv7 of that ms or later sorts at or after it. */
static void pg_uuid_prefix(int64_t ms, char out[16])
{
    uint64_t v = (uint64_t)ms & 0xffffffffffffULL;
    snprintf(out, 16, "%08x-%04x", (unsigned)(v >> 16), (unsigned)(v & 0xffff));
}

static int64_t pg_month_start_ms(int month) /* month = year * 12 + (mon - 1) */
{
    struct tm tm = {0};
    tm.tm_year = month / 12 - 1900;
    tm.tm_mon = month % 12;
    tm.tm_mday = 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* Makes sure the partition of run_seconds that holds the ids of time ms exists. */
static int pg_part_ensure(mt__store_t *s, int64_t ms)
{
    pg_store_t *q = PGS(s);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int month = (tm.tm_year + 1900) * 12 + tm.tm_mon;
    pthread_mutex_lock(&q->part_mu);
    for (size_t i = 0; i < q->nparts; i++)
        if (q->parts[i] == month) {
            pthread_mutex_unlock(&q->part_mu);
            return MT_OK;
        }
    pthread_mutex_unlock(&q->part_mu);
    char from[16], to[16], sql[512];
    pg_uuid_prefix(pg_month_start_ms(month), from);
    pg_uuid_prefix(pg_month_start_ms(month + 1), to);
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS run_seconds_y%04dm%02d PARTITION OF run_seconds FOR "
             "VALUES FROM ('%s') TO ('%s')",
             month / 12, month % 12 + 1, from, to);
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        /* one creator at a time across servers: IF NOT EXISTS alone races */
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL, "SELECT pg_advisory_xact_lock(7303001)", NULL);
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL, sql, NULL);
        rc = pg_end(c, rc);
    }
    if (rc == MT_OK) {
        pthread_mutex_lock(&q->part_mu);
        if (q->nparts == PG_PARTS)
            q->nparts = 0; /* forget the oldest: at worst a harmless IF NOT EXISTS again */
        q->parts[q->nparts++] = month;
        pthread_mutex_unlock(&q->part_mu);
    }
    return rc;
}

/* ---- the outbox ------------------------------------------------------------------------ */

/* Writes event `type` with data and one delivery per matching webhook (in the caller's
 * transaction), and wakes the relays when there is one. */
static int pg_event(pg_conn_t *c, const char *type, const json_t *data)
{
    char id[37], now[32];
    mt__uuid7(id);
    int64_t ms = mt__now_ms();
    mt__rfc3339(ms, now);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:O}", "id", id, "type", type, "created_at", now, "data", data);
    char *text = pg_dump(body);
    json_decref(body);
    int64_t n = 0;
    int rc = pg_cmd(c, NULL, "INSERT INTO events(id,type,created_at,body_json) VALUES($1,$2,$3,$4)",
                    "ssss", id, type, now, text);
    free(text);
    if (rc == MT_OK)
        rc = pg_cmd(c, &n,
                    "INSERT INTO deliveries(id,webhook_id,event_id,state,attempts,next_attempt_at,"
                    "created_at,updated_at) SELECT substr($1, 1, 15) || "
                    "substr(gen_random_uuid()::text, 16), w.id, $1, 'pending', 0, $2, $3, $3 FROM "
                    "webhooks w WHERE EXISTS (SELECT 1 FROM json_array_elements_text("
                    "w.events_json::json) e WHERE e IN ('*', $4))",
                    "siss", id, (int64_t)(ms / 1000), now, type);
    if (rc == MT_OK && n > 0)
        rc = pg_cmd(c, NULL, "SELECT pg_notify('mortar_outbox', '')", NULL);
    return rc;
}

/* ---- migrations ------------------------------------------------------------------------- */

static int pg_migrate(PGconn *db, const mt__migration_t *m, size_t n, int dry, json_t **status,
                      char *err, size_t errlen)
{
    PGresult *r = PQexec(db, "SELECT pg_advisory_lock(7303000)");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "cannot take the migration lock: %s", PQerrorMessage(db));
        return MT_ESYS;
    }
    int rc = MT_OK;
    r = PQexec(db, "SET client_min_messages = warning; CREATE TABLE IF NOT EXISTS schema_history "
                   "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
                   "applied_at TEXT NOT NULL)");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "cannot create schema_history: %s", PQerrorMessage(db));
        rc = MT_ESYS;
    }
    PQclear(r);
    json_t *items = json_array();
    long prev = 0;
    for (size_t i = 0; rc == MT_OK && i < n; i++) {
        char *end = NULL;
        long v = m[i].name[0] == 'V' ? strtol(m[i].name + 1, &end, 10) : 0;
        if (v <= prev || end == NULL || strncmp(end, "__", 2) != 0) {
            snprintf(err, errlen, "migration %s: name is not V<n>__<what>.sql in order", m[i].name);
            rc = MT_EFORMAT;
            break;
        }
        prev = v;
        char sum[65], vs[24];
        mt__sha256_hex(m[i].sql, strlen(m[i].sql), sum);
        snprintf(vs, sizeof vs, "%ld", v);
        const char *pv[1] = {vs};
        r = PQexecParams(db, "SELECT checksum, applied_at FROM schema_history WHERE version = $1",
                         1, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "cannot read schema_history: %s", PQerrorMessage(db));
            PQclear(r);
            rc = MT_ESYS;
            break;
        }
        if (PQntuples(r) > 0) {
            int same = strcmp(PQgetvalue(r, 0, 0), sum) == 0;
            json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s}", "name", m[i].name, "state",
                                                   same ? "applied" : "changed", "checksum", sum,
                                                   "applied_at", PQgetvalue(r, 0, 1)));
            PQclear(r);
            if (!same && !dry) {
                snprintf(err, errlen,
                         "migration %s was changed after it was applied (checksum differs from "
                         "schema_history); add a new migration instead",
                         m[i].name);
                rc = MT_EFORMAT;
            }
            continue;
        }
        PQclear(r);
        if (dry) {
            json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "name", m[i].name, "state",
                                                   "pending", "checksum", sum));
            continue;
        }
        char now[32];
        mt__rfc3339(mt__now_ms(), now);
        /* a migration that must run outside a transaction (CREATE INDEX CONCURRENTLY, ADR
         * 0033) says so on its first line; it must be idempotent (IF NOT EXISTS) */
        int notx = strncmp(m[i].sql, "-- mortar: no-transaction", 25) == 0;
        if (!notx) {
            r = PQexec(db, "BEGIN");
            PQclear(r);
        }
        r = PQexec(db, m[i].sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (ok) {
            const char *p[4] = {vs, m[i].name, sum, now};
            r = PQexecParams(db,
                             "INSERT INTO schema_history(version,name,checksum,applied_at) "
                             "VALUES($1,$2,$3,$4)",
                             4, NULL, p, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        if (ok && !notx) {
            r = PQexec(db, "COMMIT");
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        if (!ok) {
            snprintf(err, errlen, "migration %s failed: %s", m[i].name, PQerrorMessage(db));
            r = PQexec(db, "ROLLBACK");
            PQclear(r);
            rc = MT_ESYS;
            break;
        }
        json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s}", "name", m[i].name, "state",
                                               "applied", "checksum", sum, "applied_at", now));
        mt__log(MT_LOG_INFO, "migration applied", "name", m[i].name, NULL);
    }
    r = PQexec(db, "SELECT pg_advisory_unlock(7303000)");
    PQclear(r);
    if (rc == MT_OK && status)
        *status = items;
    else
        json_decref(items);
    return rc;
}

/* ---- open / close ----------------------------------------------------------------------- */

static void *pg_listen_main(void *arg);

static void pg_close(mt__store_t *s)
{
    if (s == NULL)
        return;
    pg_store_t *q = PGS(s);
    if (q->lstarted) {
        __atomic_store_n(&q->lquit, 1, __ATOMIC_RELAXED);
        pthread_join(q->lthread, NULL);
    }
    pg_multi_close(q);
    for (int i = 0; i < PG_POOL; i++) {
        if (q->pool[i].c)
            PQfinish(q->pool[i].c);
    }
    pthread_mutex_destroy(&q->pool_mu);
    pthread_mutex_destroy(&q->tok_mu);
    pthread_cond_destroy(&q->pool_cv);
    pthread_mutex_destroy(&q->fault_mu);
    pthread_mutex_destroy(&q->part_mu);
    pthread_mutex_destroy(&q->wake_mu);
    free(q->conninfo);
    if (q->password)
        memset(q->password, 0, strlen(q->password));
    free(q->password);
    free(q);
}

/* Opens the store without migrating (db status) or migrating (serve, db migrate). */
static int pg_open(const char *uri, const char *password, const mt__migration_t *m, size_t n,
                   int migrate, json_t **status, mt__store_t **out, char *err, size_t errlen)
{
    pg_store_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MT_ENOMEM;
    q->base.ops = &pg_ops;
    q->conninfo = strdup(uri);
    q->password = password ? strdup(password) : NULL;
    pthread_mutex_init(&q->fault_mu, NULL);
    pthread_mutex_init(&q->part_mu, NULL);
    pthread_mutex_init(&q->wake_mu, NULL);
    pthread_mutex_init(&q->pool_mu, NULL);
    pthread_mutex_init(&q->tok_mu, NULL);
    pthread_cond_init(&q->pool_cv, NULL);
    for (int i = 0; i < PG_POOL; i++)
        q->pool[i].st = q;
    if (q->conninfo == NULL || (password && q->password == NULL)) {
        pg_close(&q->base);
        return MT_ENOMEM;
    }
    PGconn *db = pg_connect(q);
    if (db == NULL || PQstatus(db) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", db ? PQerrorMessage(db) : "out of memory");
        size_t l = strlen(msg);
        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        snprintf(err, errlen, "cannot connect to the database: %s", msg);
        PQfinish(db);
        pg_close(&q->base);
        return MT_ESYS;
    }
    int rc = pg_migrate(db, m, n, !migrate, status, err, errlen);
    q->pool[0].c = db;
    if (rc != MT_OK) {
        pg_close(&q->base);
        return rc;
    }
    *out = &q->base;
    return MT_OK;
}

int mt__store_open_pg_with(const char *uri, const char *password, const mt__migration_t *m,
                           size_t n, mt__store_t **out, char *err, size_t errlen)
{
    return pg_open(uri, password, m, n, 1, NULL, out, err, errlen);
}

int mt__store_open_pg(const char *uri, const char *password, mt__store_t **out, char *err,
                      size_t errlen)
{
    return pg_open(uri, password, mt__pg_migrations, mt__npg_migrations, 1, NULL, out, err, errlen);
}

int mt__store_pg_migrations(const char *uri, const char *password, int apply, json_t **status,
                            char *err, size_t errlen)
{
    mt__store_t *s = NULL;
    int rc = pg_open(uri, password, mt__pg_migrations, mt__npg_migrations, apply, status, &s, err,
                     errlen);
    if (rc == MT_OK)
        pg_close(s);
    return rc;
}

static int pg_ping(mt__store_t *s)
{
    int rc = MT_OK;
    pg_conn_t *c = pg_acquire(s);
    rc = pg_one(c, NULL, "SELECT 1 AS one", NULL);
    pg_release(c);
    return rc;
}

static const char *pg_last_error(mt__store_t *s)
{
    (void)s;
    return pg_tl_why;
}

static int pg_health(mt__store_t *s, char *why, size_t n)
{
    pg_store_t *q = PGS(s);
    int64_t now = mt__now_ms();
    pthread_mutex_lock(&q->fault_mu);
    int fault = q->wfault, probe = fault && now - q->last_probe_ms >= 1000;
    if (probe)
        q->last_probe_ms = now;
    pthread_mutex_unlock(&q->fault_mu);
    if (probe) {
        pg_conn_t *c = pg_acquire(s);
        int rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL,
                        "UPDATE schema_history SET applied_at = applied_at WHERE version = "
                        "(SELECT max(version) FROM schema_history)",
                        NULL);
        pg_end(c, rc);
        pg_release(c);
    }
    pthread_mutex_lock(&q->fault_mu);
    fault = q->wfault;
    snprintf(why, n, "%s", fault ? q->wwhy : "");
    pthread_mutex_unlock(&q->fault_mu);
    return fault ? MT_ESYS : MT_OK;
}

static int pg_stats(mt__store_t *s, mt__store_stats_t *out)
{
    pg_store_t *q = PGS(s);
    out->roundtrips = __atomic_load_n(&q->rtt_n, __ATOMIC_RELAXED);
    out->roundtrip_seconds = (double)__atomic_load_n(&q->rtt_us, __ATOMIC_RELAXED) / 1e6;
    out->pool_size = PG_POOL;
    out->pool_in_use = __atomic_load_n(&q->in_use, __ATOMIC_RELAXED);
    out->pool_waits = __atomic_load_n(&q->waits, __ATOMIC_RELAXED);
    return MT_OK;
}

/* ---- generic reads ---------------------------------------------------------------------- */

static int pg_read_one(mt__store_t *s, json_t **out, const char *sql, const char *a)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_one(c, out, sql, "s", a);
    }
    return rc;
}

static int pg_list_page(mt__store_t *s, const char *sql, const mt__store_page_t *pg, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_all(c, &rows, sql, "si", pg_cursor(pg), (int64_t)pg->limit + 1);
        if (rc == MT_OK)
            *out = pg_page(rows, pg->limit);
    }
    return rc;
}

static int pg_delete_by_id(mt__store_t *s, const char *sql, const char *id)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        int64_t n = 0;
        rc = pg_wrote(c, pg_cmd(c, &n, sql, "s", id));
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
    }
    return rc;
}

/* ---- tokens ----------------------------------------------------------------------------- */

static int pg_token_create(mt__store_t *s, const char *name, const char *role, const char *hash,
                           json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    int rc = MT_OK;
    PG_OP(s, c, 1) /* the id is fixed: a second try conflicts rather than duplicates */
    {
        rc = pg_wrote(c, pg_cmd(c, NULL,
                                "INSERT INTO tokens(id,name,role,hash,created_at) "
                                "VALUES($1,$2,$3,$4,$5)",
                                "sssss", id, name, role, hash, now));
    }
    if (rc == MT_OK && out)
        *out =
            json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", name, "role", role, "created_at", now);
    return rc;
}

static int pg_token_lookup(mt__store_t *s, const char *hash, char *id, char *role, char *name)
{
    pg_store_t *q = PGS(s);
    int64_t now = mt__now_ms();
    pthread_mutex_lock(&q->tok_mu);
    for (size_t i = 0; i < PG_TOKENS; i++)
        if (q->toks[i].until_ms > now && strcmp(q->toks[i].hash, hash) == 0) {
            snprintf(id, 40, "%s", q->toks[i].id);
            snprintf(role, 16, "%s", q->toks[i].role);
            snprintf(name, MT_STORE_TOKEN_NAME, "%s", q->toks[i].name);
            pthread_mutex_unlock(&q->tok_mu);
            return MT_OK;
        }
    pthread_mutex_unlock(&q->tok_mu);
    json_t *row = NULL;
    int rc = pg_read_one(s, &row, "SELECT id, role, name FROM tokens WHERE hash = $1", hash);
    if (rc == MT_OK) {
        snprintf(id, 40, "%s", pg_str(row, "id", ""));
        snprintf(role, 16, "%s", pg_str(row, "role", ""));
        snprintf(name, MT_STORE_TOKEN_NAME, "%s", pg_str(row, "name", ""));
        json_decref(row);
        pthread_mutex_lock(&q->tok_mu);
        struct pg_tok *t = &q->toks[q->tok_next++ % PG_TOKENS];
        snprintf(t->hash, sizeof t->hash, "%s", hash);
        snprintf(t->id, sizeof t->id, "%s", id);
        snprintf(t->role, sizeof t->role, "%s", role);
        snprintf(t->name, sizeof t->name, "%s", name);
        t->until_ms = now + PG_TOKEN_TTL_MS;
        pthread_mutex_unlock(&q->tok_mu);
    }
    return rc;
}

static int pg_token_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return pg_list_page(s,
                        "SELECT id, name, role, created_at FROM tokens WHERE id < $1 "
                        "ORDER BY id DESC LIMIT $2",
                        pg, out);
}

static int pg_token_delete(mt__store_t *s, const char *id)
{
    int rc = pg_delete_by_id(s, "DELETE FROM tokens WHERE id = $1", id);
    if (rc == MT_OK) { /* revoked here at once */
        pthread_mutex_lock(&PGS(s)->tok_mu);
        memset(PGS(s)->toks, 0, sizeof PGS(s)->toks);
        pthread_mutex_unlock(&PGS(s)->tok_mu);
    }
    return rc;
}

/* ---- idempotency ------------------------------------------------------------------------- */

static int pg_idem_get(mt__store_t *s, const char *scope, const char *key, char **req_hash,
                       int *status, char **ctype, char **body)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *row = NULL;
        rc = pg_one(c, &row,
                    "SELECT request_hash, status, content_type, body FROM idempotency_keys "
                    "WHERE scope = $1 AND key = $2 AND created_at > $3",
                    "ssi", scope, key, (int64_t)(mt__now_ms() / 1000 - 86400));
        if (rc == MT_OK) {
            *req_hash = strdup(pg_str(row, "request_hash", ""));
            *status = (int)json_integer_value(json_object_get(row, "status"));
            *ctype = strdup(pg_str(row, "content_type", ""));
            *body = strdup(pg_str(row, "body", ""));
            json_decref(row);
        }
    }
    return rc;
}

static int pg_idem_put(mt__store_t *s, const char *scope, const char *key, const char *req_hash,
                       int status, const char *ctype, const char *body)
{
    int64_t now = mt__now_ms() / 1000;
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL, "DELETE FROM idempotency_keys WHERE created_at <= $1", "i",
                        now - 86400);
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL,
                        "INSERT INTO idempotency_keys AS k(scope,key,request_hash,status,"
                        "content_type,body,created_at) VALUES($1,$2,$3,$4,$5,$6,$7) "
                        "ON CONFLICT (scope, key) DO UPDATE SET status = EXCLUDED.status, "
                        "content_type = EXCLUDED.content_type, body = EXCLUDED.body "
                        "WHERE k.status = 0",
                        "sssnssi", scope, key, req_hash, status, ctype, body, now);
        rc = pg_end(c, rc);
    }
    return rc;
}

/* ---- settings ------------------------------------------------------------------------------ */

static int pg_policy_get(mt__store_t *s, char **json, int64_t *version)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *row = NULL;
        rc = pg_one(c, &row, "SELECT value, version FROM settings WHERE key = 'policy'", NULL);
        if (rc == MT_OK) {
            *json = strdup(pg_str(row, "value", ""));
            *version = json_integer_value(json_object_get(row, "version"));
            rc = *json ? MT_OK : MT_ENOMEM;
            json_decref(row);
        }
    }
    return rc;
}

static int pg_policy_put(mt__store_t *s, const char *json, int64_t *version)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        json_t *row = NULL;
        rc = pg_wrote(c, pg_one(c, &row,
                                "INSERT INTO settings(key, value, version, updated_at) "
                                "VALUES('policy', $1, 1, $2) ON CONFLICT(key) DO UPDATE SET "
                                "value = excluded.value, version = settings.version + 1, "
                                "updated_at = excluded.updated_at RETURNING version",
                                "ss", json, now));
        if (rc == MT_OK)
            *version = json_integer_value(json_object_get(row, "version"));
        json_decref(row);
    }
    return rc;
}

/* ---- tests ------------------------------------------------------------------------------ */

#define PG_TEST_COLS                                                                               \
    "SELECT id, name, description, version, config_version, config_json, tolerances_json, "        \
    "baseline_run_id, "                                                                            \
    "CASE WHEN fail_on_regression <> 0 THEN 'true' ELSE 'false' END AS fail_on_regression_json, "  \
    "created_at, updated_at FROM tests "

static int pg_test_get_db(pg_conn_t *c, const char *id, json_t **out)
{
    return pg_one(c, out, PG_TEST_COLS "WHERE id = $1 AND deleted = 0", "s", id);
}

static int pg_test_version_row(pg_conn_t *c, const json_t *t)
{
    char *cfg = pg_dump(json_object_get(t, "config"));
    char *tol = pg_dump(json_object_get(t, "tolerances"));
    int rc = pg_cmd(
        c, NULL,
        "INSERT INTO test_versions(test_id,version,name,description,config_json,"
        "tolerances_json,created_at) VALUES($1,$2,$3,$4,$5,$6,$7)",
        "sisssss", pg_str(t, "id", ""), (int64_t)json_integer_value(json_object_get(t, "version")),
        pg_str(t, "name", ""), pg_str(t, "description", ""), cfg, tol, pg_str(t, "updated_at", ""));
    free(cfg);
    free(tol);
    return rc;
}

static int pg_test_write(mt__store_t *s, const char *update_id, const json_t *body, json_t **out)
{
    char id[37], now[32];
    if (update_id)
        snprintf(id, sizeof id, "%s", update_id);
    else
        mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    json_t *tol = json_object_get(body, "tolerances");
    char *cfg = pg_dump(json_object_get(body, "config"));
    char *tols = tol ? pg_dump(tol) : strdup("{}");
    const char *name = pg_str(body, "name", ""), *desc = pg_str(body, "description", "");
    int64_t forg = json_is_true(json_object_get(body, "fail_on_regression"));
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        json_t *t = NULL;
        int64_t n = 1;
        rc = pg_begin(c);
        if (rc == MT_OK && !update_id)
            rc = pg_cmd(c, NULL,
                        "INSERT INTO tests(id,name,description,version,config_json,"
                        "tolerances_json,fail_on_regression,created_at,updated_at) "
                        "VALUES($1,$2,$3,1,$4,$5,$6,$7,$8)",
                        "sssssiss", id, name, desc, cfg, tols, forg, now, now);
        if (rc == MT_OK && update_id)
            rc = pg_cmd(c, &n,
                        "UPDATE tests SET name = $1, description = $2, config_json = $3, "
                        "tolerances_json = $4, fail_on_regression = $5, version = version + 1, "
                        "updated_at = $6, config_version = config_version + CASE WHEN "
                        "config_json IS DISTINCT FROM $3 THEN 1 ELSE 0 END "
                        "WHERE id = $7 AND deleted = 0",
                        "ssssiss", name, desc, cfg, tols, forg, now, id);
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
        if (rc == MT_OK)
            rc = pg_test_get_db(c, id, &t);
        if (rc == MT_OK)
            rc = pg_test_version_row(c, t);
        if (rc == MT_OK)
            rc = pg_event(c, update_id ? "test.updated" : "test.created", t);
        rc = pg_end(c, rc);
        if (rc == MT_OK)
            *out = t;
        else
            json_decref(t);
    }
    free(cfg);
    free(tols);
    return rc;
}

static int pg_test_create(mt__store_t *s, const json_t *body, json_t **out)
{
    return pg_test_write(s, NULL, body, out);
}

static int pg_test_update(mt__store_t *s, const char *id, const json_t *body, json_t **out)
{
    return pg_test_write(s, id, body, out);
}

static int pg_test_get(mt__store_t *s, const char *id, json_t **out)
{
    return pg_read_one(s, out, PG_TEST_COLS "WHERE id = $1 AND deleted = 0", id);
}

static int pg_test_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return pg_list_page(s, PG_TEST_COLS "WHERE deleted = 0 AND id < $1 ORDER BY id DESC LIMIT $2",
                        pg, out);
}

static int pg_test_versions(mt__store_t *s, const char *id, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_one(c, NULL, "SELECT id FROM tests WHERE id = $1 AND deleted = 0", "s", id);
        if (rc == MT_OK)
            rc = pg_all(c, &rows,
                        "SELECT version, name, description, config_json, tolerances_json, "
                        "created_at FROM test_versions WHERE test_id = $1 ORDER BY version",
                        "s", id);
        if (rc == MT_OK)
            *out = json_pack("{s:o}", "items", rows);
    }
    return rc;
}

static int pg_test_delete(mt__store_t *s, const char *id)
{
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        int64_t n = 0;
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, &n,
                        "UPDATE tests SET deleted = 1, name = name || ' (deleted ' || id || ')' "
                        "WHERE id = $1 AND deleted = 0",
                        "s", id);
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL, "UPDATE schedules SET enabled = 0 WHERE test_id = $1", "s", id);
        rc = pg_end(c, rc);
    }
    return rc;
}

static int pg_is_final(const char *st)
{
    return st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
}

static int pg_test_set_baseline(mt__store_t *s, const char *id, const char *run_id, json_t **out,
                                char *err, size_t errlen)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *run = NULL, *t = NULL;
        rc = pg_test_get_db(c, id, &t);
        if (rc == MT_OK) {
            rc = pg_one(c, &run, "SELECT test_id, state FROM runs WHERE id = $1", "s", run_id);
            if (rc == MT_ENOTFOUND) {
                snprintf(err, errlen, "run %s does not exist", run_id);
                rc = MT_EINVAL;
            }
        }
        if (rc == MT_OK) {
            const char *tid = json_string_value(json_object_get(run, "test_id"));
            const char *st = json_string_value(json_object_get(run, "state"));
            if (tid == NULL || strcmp(tid, id) != 0) {
                snprintf(err, errlen, "run %s is not a run of test %s", run_id, id);
                rc = MT_EINVAL;
            } else if (!pg_is_final(st) || strcmp(st, "error") == 0) {
                snprintf(err, errlen, "run %s is %s, not finished", run_id, st);
                rc = MT_EINVAL;
            }
        }
        if (rc == MT_OK)
            rc = pg_wrote(c, pg_cmd(c, NULL, "UPDATE tests SET baseline_run_id = $1 WHERE id = $2",
                                    "ss", run_id, id));
        json_decref(t);
        t = NULL;
        if (rc == MT_OK)
            rc = pg_test_get_db(c, id, &t);
        json_decref(run);
        if (rc == MT_OK)
            *out = t;
    }
    return rc;
}

/* A number of the summary as JSON (keeps integer / real as stored). */
#define PG_SUM(path) "(summary_json::jsonb #> '{" path "}')"
#define PG_ERR_RATE(dflt)                                                                          \
    "CASE WHEN coalesce((summary_json::jsonb ->> 'requests')::float8, 0) > 0 THEN "                \
    "(summary_json::jsonb ->> 'errors')::float8 / (summary_json::jsonb ->> 'requests')::float8 "   \
    "ELSE " dflt " END"

static int pg_test_trend(mt__store_t *s, const char *id, size_t limit, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_one(c, NULL, "SELECT id FROM tests WHERE id = $1", "s", id);
        if (rc == MT_OK)
            rc = pg_all(
                c, &rows,
                "SELECT * FROM (SELECT id AS run_id, created_at, state, "
                "config_version, " PG_SUM("rps") " AS rps_json, " PG_SUM(
                    "latency_us,p50") " AS p50_us_json, " PG_SUM("latency_us,p99") " AS "
                                                                                   "p99_us_"
                                                                                   "json,"
                                                                                   " " PG_ERR_RATE(
                                                                                       "0") " A"
                                                                                            "S "
                                                                                            "er"
                                                                                            "ro"
                                                                                            "r_"
                                                                                            "ra"
                                                                                            "te"
                                                                                            " F"
                                                                                            "RO"
                                                                                            "M "
                                                                                            "ru"
                                                                                            "ns"
                                                                                            " W"
                                                                                            "HE"
                                                                                            "RE"
                                                                                            " t"
                                                                                            "es"
                                                                                            "t_"
                                                                                            "id"
                                                                                            " ="
                                                                                            " $"
                                                                                            "1 "
                                                                                            "AN"
                                                                                            "D "
                                                                                            "st"
                                                                                            "at"
                                                                                            "e "
                                                                                            "IN"
                                                                                            " "
                                                                                            "('"
                                                                                            "pa"
                                                                                            "ss"
                                                                                            "ed"
                                                                                            "',"
                                                                                            "'f"
                                                                                            "ai"
                                                                                            "le"
                                                                                            "d'"
                                                                                            ",'"
                                                                                            "st"
                                                                                            "op"
                                                                                            "pe"
                                                                                            "d'"
                                                                                            ") "
                                                                                            "OR"
                                                                                            "DE"
                                                                                            "R "
                                                                                            "BY"
                                                                                            " i"
                                                                                            "d "
                                                                                            "DE"
                                                                                            "SC"
                                                                                            " L"
                                                                                            "IM"
                                                                                            "IT"
                                                                                            " $"
                                                                                            "2)"
                                                                                            " x"
                                                                                            " "
                                                                                            "OR"
                                                                                            "DE"
                                                                                            "R "
                                                                                            "BY"
                                                                                            " r"
                                                                                            "un"
                                                                                            "_i"
                                                                                            "d",
                "si", id, (int64_t)limit);
        if (rc == MT_OK) {
            /* as on SQLite: a rate of no requests is the integer 0 */
            size_t i;
            json_t *r;
            json_array_foreach(rows, i, r)
            {
                json_t *e = json_object_get(r, "error_rate");
                if (json_is_real(e) && json_real_value(e) == 0)
                    json_object_set_new(r, "error_rate", json_integer(0));
            }
            *out = json_pack("{s:o}", "items", rows);
        }
    }
    return rc;
}

static int pg_test_history(mt__store_t *s, const char *id, size_t limit, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_one(c, NULL, "SELECT id FROM tests WHERE id = $1", "s", id);
        if (rc == MT_OK)
            rc =
                pg_all(c, &rows,
                       "SELECT run_id, state, started_at, test_version, config_version, p50_json, "
                       "p90_json, p99_json, p999_json, rps_json, error_rate FROM (SELECT id AS "
                       "run_id, "
                       "state, started_at, test_version, config_version, " PG_SUM("latency_us,p50") " AS p50_json, " PG_SUM("latency_us,p90") " AS p90_json, " PG_SUM(
                           "latency_us,p99") " AS p99_json, " PG_SUM("latency_us,p999") " AS "
                                                                                        "p999_json,"
                                                                                        " " PG_SUM("rps") " AS rps_json, " PG_ERR_RATE(
                                                                                            "NULL") " AS error_rate, "
                                                                                                    "coalesce(started_at, created_at) AS ord FROM runs WHERE test_id = $1 AND state IN "
                                                                                                    "('passed','failed','stopped') AND summary_json IS NOT NULL ORDER BY ord DESC, "
                                                                                                    "id DESC LIMIT $2) x ORDER BY ord, run_id",
                       "si", id, (int64_t)limit);
        if (rc == MT_OK)
            *out = json_pack("{s:o}", "items", rows);
    }
    return rc;
}

static int pg_any_known(const json_t *ids, const json_t *known)
{
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(ids, i, a) json_array_foreach(known, j, b) if (json_equal(a, b)) return 1;
    return 0;
}

#define PG_KNOWN_MAX 200

static int pg_test_changes_put(mt__store_t *s, const char *id, const json_t *found, json_t **fresh)
{
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        json_t *row = NULL, *known = NULL, *news = json_array();
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_one(c, &row, "SELECT name, changes_json FROM tests WHERE id = $1 FOR UPDATE",
                        "s", id);
        if (rc == MT_OK) {
            known = json_object_get(row, "changes");
            int first = !json_is_object(known);
            known = first ? json_object() : json_deep_copy(known);
            const char *metric;
            json_t *cps;
            json_object_foreach((json_t *)found, metric, cps)
            {
                json_t *k = json_object_get(known, metric);
                if (!json_is_array(k)) {
                    k = json_array();
                    json_object_set_new(known, metric, k);
                }
                size_t i;
                json_t *cp;
                json_array_foreach(cps, i, cp)
                {
                    json_t *near = json_object_get(cp, "near");
                    if (!first && !pg_any_known(near, k)) {
                        json_t *cc = json_deep_copy(cp);
                        json_object_del(cc, "near");
                        json_object_set_new(cc, "metric", json_string(metric));
                        json_array_append_new(news, cc);
                    }
                    json_t *rid = json_object_get(cp, "run_id");
                    json_t *one = json_pack("[O]", rid);
                    if (!pg_any_known(one, k))
                        json_array_append(k, rid);
                    json_decref(one);
                }
                while (json_array_size(k) > PG_KNOWN_MAX)
                    json_array_remove(k, 0);
            }
            char *text = pg_dump(known);
            rc =
                pg_cmd(c, NULL, "UPDATE tests SET changes_json = $1 WHERE id = $2", "ss", text, id);
            free(text);
        }
        if (rc == MT_OK && json_array_size(news) > 0) {
            json_t *data = json_pack("{s:s,s:O,s:O}", "test_id", id, "test_name",
                                     json_object_get(row, "name"), "changes", news);
            rc = pg_event(c, "test.changed", data);
            json_decref(data);
        }
        rc = pg_end(c, rc);
        json_decref(row);
        json_decref(known);
        if (rc == MT_OK && fresh)
            *fresh = news;
        else
            json_decref(news);
    }
    return rc;
}

/* ---- runs ------------------------------------------------------------------------------- */

#define PG_RUN_AGENTS(where)                                                                       \
    "(SELECT coalesce(json_agg(json_build_object('name', name, 'index', idx, 'share', "            \
    "share_json::json, 'state', state, 'reason', reason, 'clock_offset_us', clock_offset_us, "     \
    "'start_skew_us', start_skew_us, 'last_second', last_second, 'updated_at', updated_at) "       \
    "ORDER BY idx, name), '[]'::json) FROM run_agents WHERE " where ")"

#define PG_RUN_COLS                                                                                \
    "SELECT id, test_id, test_version, config_version, schedule_id, state, reason, config_json, "  \
    "labels_json, agent, created_at, started_at, ended_at, seconds, lost_seconds, loss_reason, "   \
    "summary_json, verdicts_json, source_json, created_by_json, " PG_RUN_AGENTS(                   \
        "run_id = runs.id") " AS agents_json FROM runs "

static int pg_run_get_db(pg_conn_t *c, const char *id, json_t **out)
{
    return pg_one(c, out, PG_RUN_COLS "WHERE id = $1", "s", id);
}

static int pg_run_insert(pg_conn_t *c, const char *id, const char *test_id, const json_t *config,
                         const json_t *labels, const char *schedule_id, const json_t *created_by,
                         json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    json_t *t = NULL;
    int64_t ver = 0;
    char *cfg = NULL;
    int rc = MT_OK;
    if (test_id) {
        rc = pg_test_get_db(c, test_id, &t);
        if (rc != MT_OK)
            return rc;
        ver = json_integer_value(json_object_get(t, "version"));
        cfg = pg_dump(json_object_get(t, "config"));
    } else {
        cfg = pg_dump(config);
    }
    char *lab = labels ? pg_dump(labels) : strdup("{}");
    char *by = created_by ? pg_dump(created_by) : NULL;
    char vers[24];
    snprintf(vers, sizeof vers, "%lld", (long long)ver);
    rc = pg_cmd(c, NULL,
                "INSERT INTO runs(id,test_id,test_version,config_version,schedule_id,state,"
                "config_json,labels_json,created_at,created_by_json) VALUES($1,$2,$3::int8,"
                "(SELECT config_version FROM tests WHERE id = $2),$4,'queued',$5,$6,$7,$8)",
                "ssssssss", id, test_id, test_id ? vers : NULL, schedule_id, cfg, lab, now, by);
    free(cfg);
    free(lab);
    free(by);
    json_decref(t);
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = pg_run_get_db(c, id, &run);
    if (rc == MT_OK)
        rc = pg_event(c, "run.queued", run);
    if (rc == MT_OK && out)
        *out = run;
    else
        json_decref(run);
    return rc;
}

static int pg_run_create(mt__store_t *s, const char *test_id, const json_t *config,
                         const json_t *labels, const char *schedule_id, const json_t *created_by,
                         json_t **out)
{
    char id[37];
    mt__uuid7(id);
    int rc = pg_part_ensure(s, pg_uuid_ms(id));
    if (rc != MT_OK)
        return rc;
    PG_OP(s, c, 0)
    {
        json_t *run = NULL;
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_run_insert(c, id, test_id, config, labels, schedule_id, created_by, &run);
        rc = pg_end(c, rc);
        if (rc == MT_OK)
            *out = run;
        else
            json_decref(run);
    }
    return rc;
}

static int pg_test_find(mt__store_t *s, const char *key, json_t **out)
{
    return pg_read_one(s, out, PG_TEST_COLS "WHERE (id = $1 OR name = $1) AND deleted = 0", key);
}

/* An imported run (docs/import.md): inserted running on agent "import" with the test's current
 * config and its source (event run.started), in one transaction. */
static int pg_run_import_begin(mt__store_t *s, const char *test_id, const char *source_json,
                               const json_t *created_by, json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    int rc = pg_part_ensure(s, pg_uuid_ms(id));
    if (rc != MT_OK)
        return rc;
    char *by = created_by ? pg_dump(created_by) : NULL;
    PG_OP(s, c, 0)
    {
        json_t *run = NULL;
        int64_t n = 0;
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, &n,
                        "INSERT INTO runs(id,test_id,test_version,config_version,schedule_id,"
                        "state,config_json,labels_json,created_at,agent,started_at,source_json,"
                        "created_by_json) "
                        "SELECT $1, id, version, config_version, NULL, 'running', config_json, "
                        "'{}', $2, 'import', $2, $3, $5 FROM tests WHERE id = $4 AND deleted = 0",
                        "sssss", id, now, source_json, test_id, by);
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
        if (rc == MT_OK)
            rc = pg_run_get_db(c, id, &run);
        if (rc == MT_OK)
            rc = pg_event(c, "run.started", run);
        rc = pg_end(c, rc);
        if (rc == MT_OK && out)
            *out = run;
        else
            json_decref(run);
    }
    free(by);
    return rc;
}

/* Sets an imported run's source; with start_ms > 0 also its start (and end, once ended) from
 * the data's own times. */
static int pg_run_import_source(mt__store_t *s, const char *id, const char *source_json,
                                int64_t start_ms, uint32_t seconds)
{
    char start[32], end[32];
    mt__rfc3339(start_ms, start);
    mt__rfc3339(start_ms + (int64_t)seconds * 1000, end);
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        int64_t n = 0;
        rc = pg_cmd(c, &n,
                    "UPDATE runs SET source_json = $1, started_at = CASE WHEN $5 <> 0 THEN $2 ELSE "
                    "started_at END, ended_at = CASE WHEN $5 <> 0 AND ended_at IS NOT NULL THEN $3 "
                    "ELSE ended_at END WHERE id = $4",
                    "ssssn", source_json, start, end, id, (int)(start_ms > 0));
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
    }
    return rc;
}

static int pg_run_get(mt__store_t *s, const char *id, json_t **out)
{
    return pg_read_one(s, out, PG_RUN_COLS "WHERE id = $1", id);
}

static int pg_run_list(mt__store_t *s, const char *state, const char *test_id,
                       const mt__store_page_t *pg, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_all(c, &rows,
                    PG_RUN_COLS "WHERE id < $1 AND ($2::text IS NULL OR state = $2) AND "
                                "($3::text IS NULL OR test_id = $3) ORDER BY id DESC LIMIT $4",
                    "sssi", pg_cursor(pg), state, test_id, (int64_t)pg->limit + 1);
        if (rc == MT_OK)
            *out = pg_page(rows, pg->limit);
    }
    return rc;
}

static int pg_run_next_queued(mt__store_t *s, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_one(c, out, PG_RUN_COLS "WHERE state = 'queued' ORDER BY id LIMIT 1", NULL);
    }
    return rc;
}

static int pg_run_queued_reason(mt__store_t *s, const char *id, const char *reason, int *changed)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        int64_t n = 0;
        rc = pg_wrote(c, pg_cmd(c, &n,
                                "UPDATE runs SET reason = $1 WHERE id = $2 AND state = 'queued' "
                                "AND reason IS DISTINCT FROM $1",
                                "ss", reason, id));
        *changed = rc == MT_OK && n > 0;
    }
    return rc;
}

static int pg_run_start(mt__store_t *s, const char *id, const char *agent, json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        json_t *run = NULL;
        int64_t n = 0;
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, &n,
                        "UPDATE runs SET state = 'running', agent = $1, started_at = $2, "
                        "reason = NULL WHERE id = $3 AND state = 'queued'",
                        "sss", agent, now, id);
        if (rc == MT_OK && n == 0)
            rc = MT_ECONFLICT;
        if (rc == MT_OK)
            rc = pg_run_get_db(c, id, &run);
        if (rc == MT_OK)
            rc = pg_event(c, "run.started", run);
        rc = pg_end(c, rc);
        if (rc == MT_OK && out)
            *out = run;
        else
            json_decref(run);
    }
    return rc;
}

static int pg_regressed(const json_t *run)
{
    const json_t *v;
    size_t i;
    json_array_foreach(json_object_get(run, "verdicts"), i, v)
    {
        const char *k = json_string_value(json_object_get(v, "kind"));
        if (k != NULL && strcmp(k, "baseline") == 0 &&
            json_is_true(json_object_get(v, "regressed")))
            return 1;
    }
    return 0;
}

static int pg_finish_db(pg_conn_t *c, const char *id, const char *state, const char *reason,
                        const char *summary_json, const char *verdicts_json, int at_last,
                        json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    int64_t n = 0;
    /* the run's row first (the order every writer of a run takes its locks in) */
    int rc = pg_one(c, NULL, "SELECT id FROM runs WHERE id = $1 FOR NO KEY UPDATE", "s", id);
    if (rc == MT_OK)
        rc = pg_cmd(c, NULL,
                    "UPDATE run_agents SET state = 'ended', updated_at = $1 WHERE run_id = $2 "
                    "AND state IN ('preparing','ready','running') AND EXISTS (SELECT 1 FROM runs "
                    "WHERE id = $2 AND state IN ('queued','running'))",
                    "ss", now, id);
    if (rc == MT_OK)
        rc = pg_cmd(c, &n,
                    "UPDATE runs SET state = $1, reason = $2, ended_at = $3, summary_json = "
                    "coalesce($4, summary_json), verdicts_json = coalesce($5, verdicts_json), "
                    "seconds = (SELECT count(*) FROM run_seconds WHERE run_id = $6 AND tag = '') "
                    "WHERE id = $6 AND state IN ('queued','running')",
                    "ssssss", state, reason, now, summary_json, verdicts_json, id);
    if (rc == MT_OK && n == 0)
        rc = MT_ECONFLICT;
    if (rc == MT_OK && at_last)
        rc =
            pg_cmd(c, NULL,
                   "UPDATE runs SET ended_at = coalesce(to_char((started_at::timestamptz + "
                   "make_interval(secs => (SELECT max(second) + 1 FROM run_seconds WHERE run_id "
                   "= $1 AND tag = ''))) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
                   "started_at, ended_at) WHERE id = $1",
                   "s", id);
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = pg_run_get_db(c, id, &run);
    if (rc == MT_OK && strcmp(state, "stopped") == 0)
        rc = pg_event(c, "run.stopped", run);
    if (rc == MT_OK)
        rc = pg_event(c, "run.finished", run);
    if (rc == MT_OK && pg_regressed(run))
        rc = pg_event(c, "run.regressed", run);
    if (rc == MT_OK && out)
        *out = run;
    else
        json_decref(run);
    return rc;
}

static int pg_run_finish(mt__store_t *s, const char *id, const char *state, const char *reason,
                         const char *summary_json, const char *verdicts_json, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_finish_db(c, id, state, reason, summary_json, verdicts_json, 0, out);
        rc = pg_end(c, rc);
    }
    return rc;
}

/* One merged second in one statement: the rows (one JSON array parameter) inserted or replaced
 * on (run, second, tag), the run's count of seconds raised by the untagged rows that are new,
 * and the running agents' last second. */
static const char pg_append_sql[] =
    "WITH r AS (SELECT id FROM runs WHERE id = $1 FOR NO KEY UPDATE), "
    "old AS (SELECT count(*) AS n FROM run_seconds WHERE run_id = $1 AND second = $2 AND "
    "tag = ''), "
    "ins AS (INSERT INTO run_seconds(run_id,second,tag,data_json,latency,service) "
    "SELECT $1, $2, x.t, x.d, decode(x.l, 'base64'), decode(x.v, 'base64') FROM r, "
    "json_to_recordset($3::json) AS x(t text, d text, l text, v text) "
    "ON CONFLICT (run_id, second, tag) DO UPDATE SET data_json = excluded.data_json, "
    "latency = excluded.latency, service = excluded.service "
    "RETURNING tag), "
    "up AS (UPDATE runs SET seconds = seconds + (SELECT CASE WHEN (SELECT n FROM old) = 0 AND "
    "EXISTS (SELECT 1 FROM ins WHERE tag = '') THEN 1 ELSE 0 END) WHERE id = $1 RETURNING id), "
    "ag AS (UPDATE run_agents SET last_second = $2 WHERE run_id = $1 AND state = 'running' AND "
    "coalesce(last_second, -1) < $2 AND EXISTS (SELECT 1 FROM up) RETURNING 1) "
    "SELECT (SELECT count(*) FROM r) AS runs, (SELECT count(*) FROM ins) AS rows";

static int pg_run_append_second(mt__store_t *s, const char *run_id, uint32_t second,
                                const mt__agg_row_t *rows, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "t", rows[i].tag ? rows[i].tag : "",
                                           "d", rows[i].data_json ? rows[i].data_json : "{}", "l",
                                           rows[i].latency_b64 ? rows[i].latency_b64 : "", "v",
                                           rows[i].service_b64 ? rows[i].service_b64 : ""));
    char *text = pg_dump(a);
    json_decref(a);
    if (text == NULL)
        return MT_ENOMEM;
    int rc = MT_OK;
    for (int pass = 0; pass < 2; pass++) {
        PG_OP(s, c, 1)
        {
            json_t *row = NULL;
            rc = pg_wrote(c, pg_one(c, &row, pg_append_sql, "sis", run_id, (int64_t)second, text));
            if (rc == MT_OK && json_integer_value(json_object_get(row, "runs")) == 0)
                rc = MT_ENOTFOUND;
            json_decref(row);
        }
        /* a conflict here is a row no partition takes (a run id of a month whose partition
         * is not made yet): make it, and go again */
        if (rc != MT_ECONFLICT || pass > 0 || pg_part_ensure(s, pg_uuid_ms(run_id)) != MT_OK)
            break;
    }
    if (rc == MT_ECONFLICT)
        rc = MT_ENOTFOUND;
    free(text);
    return rc;
}

void mt__store_rows_dispose(mt__store_rows_t *r);

static int pg_run_rows(mt__store_t *s, const char *run_id, const char *tag, int64_t from,
                       int64_t to, mt__store_rows_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        PGresult *r = NULL;
        rc = pg_res(c, &r,
                    "SELECT second, tag, data_json, translate(encode(latency, 'base64'), E'\\n', "
                    "''), translate(encode(service, 'base64'), E'\\n', '') FROM run_seconds WHERE "
                    "run_id = $1 AND second BETWEEN $2 AND $3 AND ($4::text IS NULL OR tag = $4) "
                    "ORDER BY second, tag",
                    "siis", run_id, from, to, tag);
        size_t k = rc == MT_OK ? (size_t)PQntuples(r) : 0;
        if (rc == MT_OK && k > 0) {
            out->rows = calloc(k, sizeof *out->rows);
            out->second = calloc(k, sizeof *out->second);
            if (out->rows == NULL || out->second == NULL)
                rc = MT_ENOMEM;
        }
        for (size_t i = 0; rc == MT_OK && i < k; i++) {
            out->second[i] = (uint32_t)atoll(PQgetvalue(r, (int)i, 0));
            out->rows[i] =
                (mt__agg_row_t){strdup(PQgetvalue(r, (int)i, 1)), strdup(PQgetvalue(r, (int)i, 2)),
                                strdup(PQgetvalue(r, (int)i, 3)), strdup(PQgetvalue(r, (int)i, 4))};
            out->n = i + 1;
        }
        PQclear(r);
        if (rc != MT_OK)
            mt__store_rows_dispose(out);
    }
    return rc;
}

static int pg_run_series(mt__store_t *s, const char *run_id, const char *tag, int64_t from,
                         int64_t to, char **json, size_t *len)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *row = NULL;
        rc = pg_one(c, &row,
                    "SELECT '{\"run_id\":' || to_json(r.id)::text || ',\"items\":[' || "
                    "coalesce((SELECT string_agg(data_json, ',' ORDER BY second) FROM "
                    "run_seconds WHERE run_id = r.id AND second BETWEEN $2 AND $3 AND tag = $4), "
                    "'') || ']}' AS body FROM runs r WHERE r.id = $1",
                    "siis", run_id, from, to, tag ? tag : "");
        if (rc == MT_OK) {
            const char *v = pg_str(row, "body", "");
            *len = strlen(v);
            *json = strdup(v);
            if (*json == NULL)
                rc = MT_ENOMEM;
        }
        json_decref(row);
    }
    return rc;
}

static int pg_run_set_loss(mt__store_t *s, const char *id, uint32_t lost, const char *reason)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        int64_t n = 0;
        rc = pg_wrote(c, pg_cmd(c, &n,
                                "UPDATE runs SET lost_seconds = $1, loss_reason = $2 WHERE id = $3",
                                "iss", (int64_t)lost, reason, id));
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
    }
    return rc;
}

static int pg_run_set_summary(mt__store_t *s, const char *id, const char *summary_json)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        int64_t n = 0;
        rc = pg_wrote(c, pg_cmd(c, &n, "UPDATE runs SET summary_json = $1 WHERE id = $2", "ss",
                                summary_json, id));
        if (rc == MT_OK && n == 0)
            rc = MT_ENOTFOUND;
    }
    return rc;
}

static int pg_run_recover_one(mt__store_t *s, const char *id, const char *reason)
{
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_finish_db(c, id, "interrupted", reason, NULL, NULL, 1, NULL);
        rc = pg_end(c, rc);
    }
    return rc;
}

static int pg_run_recover(mt__store_t *s, const char *reason, size_t *n)
{
    json_t *ids = NULL;
    int rc = MT_OK;
    *n = 0;
    PG_OP(s, c, 1)
    {
        rc = pg_all(c, &ids, "SELECT id FROM runs WHERE state = 'running'", NULL);
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        int r = pg_run_recover_one(s, pg_str(v, "id", ""), reason);
        if (r == MT_OK)
            (*n)++;
        else if (r != MT_ECONFLICT)
            rc = r;
    }
    json_decref(ids);
    return rc;
}

static int pg_run_counts(mt__store_t *s, json_t **out, int64_t *outbox_pending)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL, *p = NULL;
        rc = pg_all(c, &rows, "SELECT state, count(*) AS n FROM runs GROUP BY state", NULL);
        if (rc == MT_OK)
            rc =
                pg_one(c, &p, "SELECT count(*) AS n FROM deliveries WHERE state = 'pending'", NULL);
        if (rc == MT_OK) {
            json_t *o = json_object();
            size_t i;
            json_t *v;
            json_array_foreach(rows, i, v)
                json_object_set(o, pg_str(v, "state", "?"), json_object_get(v, "n"));
            *outbox_pending = json_integer_value(json_object_get(p, "n"));
            *out = o;
        }
        json_decref(rows);
        json_decref(p);
    }
    return rc;
}

/* ---- a run's agents -------------------------------------------------------------------- */

static int pg_run_agent_state_ok(const char *st)
{
    static const char *const states[] = {"preparing", "ready",   "running", "ended",
                                         "lost",      "refused", NULL};
    for (const char *const *p = states; *p; p++)
        if (strcmp(st, *p) == 0)
            return 1;
    return 0;
}

static int pg_run_agent_put(mt__store_t *s, const char *run_id, const mt__store_run_agent_t *a)
{
    if (a == NULL || a->name == NULL || (a->state && !pg_run_agent_state_ok(a->state)))
        return MT_EINVAL;
    char now[32], nums[4][24];
    const char *nv[4];
    const int64_t v[] = {a->index, a->clock_offset_us, a->start_skew_us, a->last_second};
    for (int i = 0; i < 4; i++) {
        snprintf(nums[i], sizeof nums[i], "%lld", (long long)v[i]);
        nv[i] = v[i] == MT_STORE_KEEP ? NULL : nums[i];
    }
    mt__rfc3339(mt__now_ms(), now);
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(
            c, pg_cmd(c, NULL,
                      "INSERT INTO run_agents(run_id,name,idx,share_json,state,reason,"
                      "clock_offset_us,start_skew_us,last_second,updated_at) VALUES($1,$2,"
                      "coalesce($3::int8,0),$4,coalesce($5,'preparing'),$6,$7::int8,$8::int8,"
                      "$9::int8,$10) ON CONFLICT(run_id,name) DO UPDATE SET "
                      "idx = coalesce($3::int8, run_agents.idx), "
                      "share_json = coalesce($4, run_agents.share_json), "
                      "state = coalesce($5, run_agents.state), "
                      "reason = coalesce($6, run_agents.reason), "
                      "clock_offset_us = coalesce($7::int8, run_agents.clock_offset_us), "
                      "start_skew_us = coalesce($8::int8, run_agents.start_skew_us), "
                      "last_second = coalesce($9::int8, run_agents.last_second), updated_at = $10",
                      "ssssssssss", run_id, a->name, nv[0], a->share_json, a->state, a->reason,
                      nv[1], nv[2], nv[3], now));
    }
    return rc;
}

static int pg_run_agents_list(mt__store_t *s, const char *run_id, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_one(c, NULL, "SELECT id FROM runs WHERE id = $1", "s", run_id);
        if (rc == MT_OK)
            rc = pg_one(c, out, "SELECT " PG_RUN_AGENTS("run_id = $1") " AS items_json", "s",
                        run_id);
    }
    return rc;
}

/* ---- agents ----------------------------------------------------------------------------- */

static int pg_agent_heartbeat(mt__store_t *s, const char *name, const char *labels_json,
                              int capacity, int active, const char *version, const char *state,
                              int64_t now_ms)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(c, pg_cmd(c, NULL,
                                "INSERT INTO agents(name,labels_json,capacity,active_runs,"
                                "last_heartbeat,version,state) VALUES($1,$2,$3,$4,$5,"
                                "coalesce($6,''),coalesce($7,'up')) ON CONFLICT(name) DO "
                                "UPDATE SET labels_json = $2, capacity = $3, active_runs = $4, "
                                "last_heartbeat = $5, version = coalesce($6, agents.version), "
                                "state = coalesce($7, agents.state)",
                                "ssnniss", name, labels_json ? labels_json : "{}", capacity, active,
                                now_ms, version, state));
    }
    return rc;
}

static int pg_agent_list(mt__store_t *s, int64_t now_ms, json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_all(c, &rows,
                    "SELECT name, labels_json, capacity, active_runs, (SELECT "
                    "coalesce(json_agg(run_id ORDER BY run_id), '[]'::json) FROM run_agents WHERE "
                    "run_agents.name = agents.name AND state IN ('preparing','ready','running')) "
                    "AS runs_json, version, CASE WHEN state = 'stopped' THEN 'stopped' WHEN "
                    "last_heartbeat <= $1 THEN 'down' ELSE state END AS state, "
                    "to_char(to_timestamp(last_heartbeat / 1000.0) AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS last_heartbeat FROM agents ORDER BY "
                    "name",
                    "i", now_ms - 10000);
        if (rc == MT_OK)
            *out = json_pack("{s:o}", "items", rows);
    }
    return rc;
}

/* ---- schedules -------------------------------------------------------------------------- */

#define PG_SCHED_COLS                                                                              \
    "SELECT id, test_id, cron, policy, enabled AS enabled_bool, CASE WHEN enabled = 1 AND "        \
    "next_fire_at > 0 THEN next_fire_at END AS next_fire_at_unix, last_fire_at AS "                \
    "last_fire_at_unix, created_at, updated_at FROM schedules "

static int pg_sched_check_test(pg_conn_t *c, const json_t *body)
{
    int rc = pg_one(c, NULL, "SELECT id FROM tests WHERE id = $1 AND deleted = 0", "s",
                    pg_str(body, "test_id", ""));
    return rc == MT_ENOTFOUND ? MT_EINVAL : rc;
}

static int pg_sched_create(mt__store_t *s, const json_t *body, int64_t next_fire_at, json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    json_t *en = json_object_get(body, "enabled");
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_sched_check_test(c, body);
        if (rc == MT_OK)
            rc = pg_wrote(c, pg_cmd(c, NULL,
                                    "INSERT INTO schedules(id,test_id,cron,policy,enabled,"
                                    "next_fire_at,created_at,updated_at) "
                                    "VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
                                    "ssssniss", id, pg_str(body, "test_id", ""),
                                    pg_str(body, "cron", ""), pg_str(body, "policy", "skip"),
                                    en ? json_is_true(en) : 1, next_fire_at, now, now));
        if (rc == MT_OK)
            rc = pg_one(c, out, PG_SCHED_COLS "WHERE id = $1", "s", id);
    }
    return rc;
}

static int pg_sched_update(mt__store_t *s, const char *id, const json_t *body, int64_t next_fire_at,
                           json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    json_t *en = json_object_get(body, "enabled");
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_one(c, NULL, "SELECT id FROM schedules WHERE id = $1", "s", id);
        if (rc == MT_OK)
            rc = pg_sched_check_test(c, body);
        if (rc == MT_OK)
            rc =
                pg_wrote(c, pg_cmd(c, NULL,
                                   "UPDATE schedules SET test_id = $1, cron = $2, policy = $3, "
                                   "enabled = $4, next_fire_at = $5, updated_at = $6 WHERE id = $7",
                                   "sssniss", pg_str(body, "test_id", ""), pg_str(body, "cron", ""),
                                   pg_str(body, "policy", "skip"), en ? json_is_true(en) : 1,
                                   next_fire_at, now, id));
        if (rc == MT_OK)
            rc = pg_one(c, out, PG_SCHED_COLS "WHERE id = $1", "s", id);
    }
    return rc;
}

static int pg_sched_get(mt__store_t *s, const char *id, json_t **out)
{
    return pg_read_one(s, out, PG_SCHED_COLS "WHERE id = $1", id);
}

static int pg_sched_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return pg_list_page(s, PG_SCHED_COLS "WHERE id < $1 ORDER BY id DESC LIMIT $2", pg, out);
}

static int pg_sched_delete(mt__store_t *s, const char *id)
{
    return pg_delete_by_id(s, "DELETE FROM schedules WHERE id = $1", id);
}

static int pg_sc_list(void *ud, mt__sched_entry_t **out, size_t *n)
{
    mt__store_t *s = ud;
    json_t *rows = NULL;
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_all(c, &rows,
                    "SELECT s.id, s.test_id, s.cron, s.policy, s.next_fire_at FROM schedules s "
                    "JOIN tests t ON t.id = s.test_id WHERE s.enabled = 1 AND t.deleted = 0 "
                    "ORDER BY s.id",
                    NULL);
    }
    if (rc != MT_OK)
        return rc;
    size_t k = json_array_size(rows);
    mt__sched_entry_t *e = calloc(k ? k : 1, sizeof *e);
    if (e == NULL) {
        json_decref(rows);
        return MT_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        json_t *r = json_array_get(rows, i);
        e[i].id = strdup(pg_str(r, "id", ""));
        e[i].test_id = strdup(pg_str(r, "test_id", ""));
        e[i].cron = strdup(pg_str(r, "cron", ""));
        e[i].policy = strdup(pg_str(r, "policy", "skip"));
        e[i].next_fire_at = json_integer_value(json_object_get(r, "next_fire_at"));
    }
    json_decref(rows);
    *out = e;
    *n = k;
    return MT_OK;
}

static void pg_sc_free(void *ud, mt__sched_entry_t *e, size_t n)
{
    (void)ud;
    for (size_t i = 0; i < n; i++) {
        free((char *)e[i].id);
        free((char *)e[i].test_id);
        free((char *)e[i].cron);
        free((char *)e[i].policy);
    }
    free(e);
}

static int pg_sc_has_active(void *ud, const char *schedule_id)
{
    json_t *row = NULL;
    int rc = pg_read_one(ud, &row,
                         "SELECT id FROM runs WHERE schedule_id = $1 AND state IN "
                         "('queued','running') LIMIT 1",
                         schedule_id);
    json_decref(row);
    return rc == MT_OK ? 1 : rc == MT_ENOTFOUND ? 0 : rc;
}

static int pg_sc_fire_event(pg_conn_t *c, const char *type, const char *schedule_id,
                            const char *test_id, int64_t fire_at, const json_t *run,
                            const char *reason)
{
    char ts[32];
    mt__rfc3339(fire_at * 1000, ts);
    json_t *d =
        json_pack("{s:s,s:s,s:s}", "schedule_id", schedule_id, "test_id", test_id, "fire_at", ts);
    if (run)
        json_object_set(d, "run", (json_t *)run);
    if (reason)
        json_object_set_new(d, "reason", json_string(reason));
    int rc = pg_event(c, type, d);
    json_decref(d);
    if (rc == MT_OK)
        rc = pg_cmd(c, NULL, "UPDATE schedules SET last_fire_at = $1 WHERE id = $2", "is", fire_at,
                    schedule_id);
    return rc;
}

static int pg_sc_enqueue(void *ud, const char *schedule_id, const char *test_id, int64_t fire_at)
{
    mt__store_t *s = ud;
    char id[37];
    mt__uuid7(id);
    int rc = pg_part_ensure(s, pg_uuid_ms(id));
    if (rc != MT_OK)
        return rc;
    json_t *labels = json_pack("{s:s}", "schedule", schedule_id);
    json_t *by = json_pack("{s:s}", "schedule_id", schedule_id);
    PG_OP(s, c, 0)
    {
        json_t *run = NULL;
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_run_insert(c, id, test_id, NULL, labels, schedule_id, by, &run);
        if (rc == MT_OK)
            rc = pg_sc_fire_event(c, "schedule.fired", schedule_id, test_id, fire_at, run, NULL);
        rc = pg_end(c, rc);
        json_decref(run);
    }
    json_decref(labels);
    json_decref(by);
    return rc;
}

static int pg_sc_skipped(void *ud, const char *schedule_id, int64_t fire_at, const char *reason)
{
    mt__store_t *s = ud;
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        json_t *row = NULL;
        rc = pg_one(c, &row, "SELECT test_id FROM schedules WHERE id = $1", "s", schedule_id);
        if (rc == MT_OK)
            rc = pg_begin(c);
        if (rc == MT_OK) {
            rc = pg_sc_fire_event(c, "schedule.skipped", schedule_id, pg_str(row, "test_id", ""),
                                  fire_at, NULL, reason);
            rc = pg_end(c, rc);
        }
        json_decref(row);
    }
    return rc;
}

static int pg_sc_set_next(void *ud, const char *schedule_id, int64_t next)
{
    mt__store_t *s = ud;
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(c, pg_cmd(c, NULL, "UPDATE schedules SET next_fire_at = $1 WHERE id = $2",
                                "is", next, schedule_id));
    }
    return rc;
}

static const mt__scheduler_ops_t pg_sched_ops = {
    .list = pg_sc_list,
    .free_entries = pg_sc_free,
    .has_active = pg_sc_has_active,
    .enqueue = pg_sc_enqueue,
    .skipped = pg_sc_skipped,
    .set_next = pg_sc_set_next,
};

/* ---- webhooks and the relay ------------------------------------------------------------- */

static int pg_webhook_create(mt__store_t *s, const char *url, const char *secret,
                             const json_t *events, json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    char *ev = pg_dump(events);
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(c, pg_cmd(c, NULL,
                                "INSERT INTO webhooks(id,url,secret,events_json,created_at) "
                                "VALUES($1,$2,$3,$4,$5)",
                                "sssss", id, url, secret, ev, now));
    }
    free(ev);
    if (rc == MT_OK)
        *out = json_pack("{s:s,s:s,s:O,s:s}", "id", id, "url", url, "events", events, "created_at",
                         now);
    return rc;
}

static int pg_webhook_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return pg_list_page(s,
                        "SELECT id, url, events_json, created_at FROM webhooks WHERE id < $1 "
                        "ORDER BY id DESC LIMIT $2",
                        pg, out);
}

static int pg_webhook_delete(mt__store_t *s, const char *id)
{
    return pg_delete_by_id(s, "DELETE FROM webhooks WHERE id = $1", id);
}

static int pg_webhook_deliveries(mt__store_t *s, const char *id, const mt__store_page_t *pg,
                                 json_t **out)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        json_t *rows = NULL;
        rc = pg_one(c, NULL, "SELECT id FROM webhooks WHERE id = $1", "s", id);
        if (rc == MT_OK)
            rc = pg_all(c, &rows,
                        "SELECT d.id, d.event_id, e.type AS event_type, d.state, d.attempts, "
                        "d.next_attempt_at AS next_attempt_at_unix, d.last_status, d.last_error, "
                        "d.created_at, d.updated_at FROM deliveries d JOIN events e ON e.id = "
                        "d.event_id WHERE d.webhook_id = $1 AND d.id < $2 ORDER BY d.id DESC "
                        "LIMIT $3",
                        "ssi", id, pg_cursor(pg), (int64_t)pg->limit + 1);
        if (rc == MT_OK)
            *out = pg_page(rows, pg->limit);
    }
    return rc;
}

static int pg_rl_due(void *ud, int64_t now, size_t max, mt__delivery_t **out, size_t *n)
{
    mt__store_t *s = ud;
    json_t *rows = NULL;
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        /* at most 10 per webhook (as on SQLite); rows leased by a relay are not due */
        rc = pg_all(c, &rows,
                    "SELECT d.id, w.url, w.secret, d.event_id, e.type, e.body_json AS body, "
                    "d.attempts FROM (SELECT id, webhook_id, event_id, attempts, "
                    "next_attempt_at, row_number() OVER (PARTITION BY webhook_id ORDER BY "
                    "next_attempt_at, id) AS k FROM deliveries WHERE state = 'pending' AND "
                    "next_attempt_at <= $1 AND lease_until <= $1) d JOIN webhooks w ON w.id = "
                    "d.webhook_id JOIN events e ON e.id = d.event_id WHERE d.k <= 10 ORDER BY "
                    "d.next_attempt_at, d.id LIMIT $2",
                    "ii", now, (int64_t)max);
    }
    if (rc != MT_OK)
        return rc;
    size_t k = json_array_size(rows);
    mt__delivery_t *d = calloc(k ? k : 1, sizeof *d);
    if (d == NULL) {
        json_decref(rows);
        return MT_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        json_t *r = json_array_get(rows, i);
        d[i].id = strdup(pg_str(r, "id", ""));
        d[i].url = strdup(pg_str(r, "url", ""));
        d[i].secret = strdup(pg_str(r, "secret", ""));
        d[i].event_id = strdup(pg_str(r, "event_id", ""));
        d[i].event_type = strdup(pg_str(r, "type", ""));
        d[i].body = strdup(pg_str(r, "body", "{}"));
        d[i].attempt = (int)json_integer_value(json_object_get(r, "attempts"));
    }
    json_decref(rows);
    *out = d;
    *n = k;
    return MT_OK;
}

static void pg_rl_free(void *ud, mt__delivery_t *d, size_t n)
{
    (void)ud;
    for (size_t i = 0; i < n; i++) {
        free((char *)d[i].id);
        free((char *)d[i].url);
        free((char *)d[i].secret);
        free((char *)d[i].event_id);
        free((char *)d[i].event_type);
        free((char *)d[i].body);
    }
    free(d);
}

/* Takes a due delivery for this relay: locked with SKIP LOCKED (another relay claiming it at the
 * same instant skips it) and leased, in one statement that commits at once, so the HTTP call
 * that follows holds no lock. MT_ECONFLICT: another relay has it. */
static int pg_rl_claim(void *ud, const char *delivery_id, int64_t now)
{
    mt__store_t *s = ud;
    int rc = MT_OK;
    PG_OP(s, c, 0)
    {
        int64_t n = 0;
        rc = pg_wrote(c, pg_cmd(c, &n,
                                "UPDATE deliveries SET lease_until = $2 + $3 WHERE id = (SELECT "
                                "id FROM deliveries WHERE id = $1 AND state = 'pending' AND "
                                "lease_until <= $2 FOR UPDATE SKIP LOCKED)",
                                "sii", delivery_id, now, (int64_t)PG_LEASE_S));
        if (rc == MT_OK && n == 0)
            rc = MT_ECONFLICT;
    }
    return rc;
}

static int pg_rl_record(void *ud, const char *delivery_id, int ok, int status, const char *error,
                        int64_t next_attempt_at)
{
    mt__store_t *s = ud;
    char now[32], st[16];
    mt__rfc3339(mt__now_ms(), now);
    snprintf(st, sizeof st, "%d", status);
    const char *state = ok ? "delivered" : next_attempt_at ? "pending" : "failed";
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(c, pg_cmd(c, NULL,
                                "UPDATE deliveries SET state = $1, attempts = attempts + 1, "
                                "next_attempt_at = $2, lease_until = 0, last_status = "
                                "$3::int8, last_error = $4, updated_at = $5 WHERE id = $6",
                                "sissss", state, next_attempt_at, status ? st : NULL, error, now,
                                delivery_id));
    }
    return rc;
}

static const mt__relay_ops_t pg_relay_ops = {
    .due = pg_rl_due,
    .free_due = pg_rl_free,
    .record = pg_rl_record,
    .claim = pg_rl_claim,
};

/* LISTEN mortar_outbox on a connection of its own: a notification (an event with deliveries
 * committed, by this server or another) wakes the relay at once instead of at its next poll. */
static void *pg_listen_main(void *arg)
{
    pg_store_t *q = arg;
    PGconn *c = NULL;
    while (!__atomic_load_n(&q->lquit, __ATOMIC_RELAXED)) {
        if (c == NULL || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = pg_connect(q);
            PGresult *r = c ? PQexec(c, "LISTEN mortar_outbox") : NULL;
            int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                PQfinish(c);
                c = NULL;
                struct timespec ts = {0, 500000000L};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        struct pollfd pfd = {PQsocket(c), POLLIN, 0};
        if (poll(&pfd, 1, 250) > 0 && PQconsumeInput(c) == 0) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        int got = 0;
        PGnotify *nt;
        while ((nt = PQnotifies(c)) != NULL) {
            got = 1;
            PQfreemem(nt);
        }
        if (got) {
            pthread_mutex_lock(&q->wake_mu);
            if (q->wake)
                q->wake(q->wake_ud);
            pthread_mutex_unlock(&q->wake_mu);
        }
    }
    PQfinish(c);
    return NULL;
}

static void pg_set_outbox_wake(mt__store_t *s, void (*wake)(void *), void *ud)
{
    pg_store_t *q = PGS(s);
    pthread_mutex_lock(&q->wake_mu);
    q->wake = wake;
    q->wake_ud = ud;
    pthread_mutex_unlock(&q->wake_mu);
    if (wake != NULL && !q->lstarted && pthread_create(&q->lthread, NULL, pg_listen_main, q) == 0)
        q->lstarted = 1;
}

/* ---- mortar db prune --------------------------------------------------------------------- */

int mt__store_pg_prune(mt__store_t *s, int64_t before_ms, int dry, json_t **dropped, char *err,
                       size_t errlen)
{
    if (s == NULL || s->ops != &pg_ops) {
        snprintf(err, errlen, "not a PostgreSQL store");
        return MT_EINVAL;
    }
    char cut[16];
    pg_uuid_prefix(before_ms, cut);
    json_t *rows = NULL;
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        /* partitions whose upper bound is at or before the cut: every run in them is older */
        rc = pg_all(c, &rows,
                    "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM "
                    "pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "
                    "'run_seconds'::regclass AND substring(pg_get_expr(c.relpartbound, c.oid) "
                    "from 'TO \\(''([^'']*)''\\)') COLLATE \"C\" <= $1 ORDER BY 1",
                    "s", cut);
    }
    if (rc != MT_OK) {
        snprintf(err, errlen, "cannot list the partitions of run_seconds: %s", pg_tl_why);
        return rc;
    }
    json_t *done = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        const char *name = pg_str(v, "name", "");
        if (!dry) {
            char sql[256];
            int r1 = MT_OK;
            PG_OP(s, c, 1)
            {
                /* CONCURRENTLY: readers and writers of the other partitions never wait */
                snprintf(sql, sizeof sql,
                         "ALTER TABLE run_seconds DETACH PARTITION \"%s\" CONCURRENTLY", name);
                rc = pg_cmd(c, NULL, sql, NULL);
                if (rc == MT_OK) {
                    snprintf(sql, sizeof sql, "DROP TABLE \"%s\"", name);
                    rc = pg_cmd(c, NULL, sql, NULL);
                }
                r1 = rc;
            }
            if (r1 != MT_OK) {
                snprintf(err, errlen, "cannot drop partition %s: %s", name, pg_tl_why);
                json_decref(done);
                json_decref(rows);
                return r1;
            }
        }
        json_array_append_new(done, json_string(name));
    }
    json_decref(rows);
    pthread_mutex_lock(&PGS(s)->part_mu);
    PGS(s)->nparts = 0;
    pthread_mutex_unlock(&PGS(s)->part_mu);
    *dropped = done;
    return MT_OK;
}

/* ---- several servers on one database (store.h, docs/adr/0034-several-servers.md) ----------
 * Leases on the database's clock; the leadership is a session advisory lock held on a
 * connection of its own (not the pool's): it goes with the session when the server dies. */

#define PG_NOW_MS     "(extract(epoch from clock_timestamp()) * 1000)::bigint"
#define PG_LEADER_KEY "7303002" /* 7303000: migrations, 7303001: partitions */

typedef struct pg_multi {
    pthread_mutex_t mu;
    PGconn *lead; /* the leader's session (holds the advisory lock while leading) */
    int leading;
} pg_multi_t;

static void pg_multi_close(pg_store_t *q)
{
    pg_multi_t *m = q->multi;
    if (m == NULL)
        return;
    if (m->lead != NULL)
        PQfinish(m->lead); /* the session ends: the lock is released */
    pthread_mutex_destroy(&m->mu);
    free(m);
    q->multi = NULL;
}

static int pg_lease_take(mt__store_t *s, const char *run_id, const char *owner, int64_t ttl_ms,
                         int *got, char *holder)
{
    int rc = MT_OK;
    *got = 0;
    if (holder != NULL)
        holder[0] = '\0';
    PG_OP(s, c, 1) /* run again after a lost commit: the owner finds its own row then */
    {
        json_t *row = NULL;
        rc = pg_one(c, &row,
                    "INSERT INTO run_leases AS l (run_id, owner, expires_at, taken_at) "
                    "VALUES ($1, $2, " PG_NOW_MS " + $3, " PG_NOW_MS ") "
                    "ON CONFLICT (run_id) DO UPDATE SET owner = EXCLUDED.owner, "
                    "expires_at = EXCLUDED.expires_at, taken_at = CASE WHEN l.owner = "
                    "EXCLUDED.owner THEN l.taken_at ELSE EXCLUDED.taken_at END, generation = "
                    "l.generation + CASE WHEN l.owner = EXCLUDED.owner THEN 0 ELSE 1 END "
                    "WHERE l.owner = EXCLUDED.owner OR l.expires_at < " PG_NOW_MS " "
                    "RETURNING owner",
                    "ssi", run_id, owner, ttl_ms);
        if (rc == MT_OK) {
            *got = 1;
            if (holder != NULL)
                snprintf(holder, 128, "%s", owner);
            json_decref(row);
        } else if (rc == MT_ENOTFOUND) { /* held by another server */
            rc = pg_one(c, &row, "SELECT owner FROM run_leases WHERE run_id = $1", "s", run_id);
            if (rc == MT_OK && holder != NULL)
                snprintf(holder, 128, "%s", pg_str(row, "owner", ""));
            json_decref(row);
            rc = MT_OK;
        }
        pg_wrote(c, rc);
    }
    return rc;
}

static int pg_lease_renew(mt__store_t *s, const char *run_id, const char *owner, int64_t ttl_ms)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        int64_t n = 0;
        rc = pg_cmd(c, &n,
                    "UPDATE run_leases SET expires_at = " PG_NOW_MS " + $3 WHERE run_id = $1 "
                    "AND owner = $2",
                    "ssi", run_id, owner, ttl_ms);
        if (rc == MT_OK && n == 0)
            rc = MT_ECONFLICT;
        pg_wrote(c, rc == MT_ECONFLICT ? MT_OK : rc);
    }
    return rc;
}

static int pg_lease_release(mt__store_t *s, const char *run_id, const char *owner)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(c, pg_cmd(c, NULL, "DELETE FROM run_leases WHERE run_id = $1 AND owner = $2",
                                "ss", run_id, owner));
    }
    return rc;
}

static int pg_lease_orphans(mt__store_t *s, const char *owner, json_t **out)
{
    int rc = MT_OK;
    (void)owner; /* several servers: a live owner's lease is never an orphan's, ours included */
    json_t *rows = NULL;
    PG_OP(s, c, 1)
    {
        json_decref(rows);
        rows = NULL;
        rc = pg_all(c, &rows,
                    "SELECT r.id AS id FROM runs r LEFT JOIN run_leases l ON l.run_id = r.id "
                    "WHERE r.state = 'running' AND (l.run_id IS NULL OR l.expires_at < " PG_NOW_MS
                    ") ORDER BY r.id",
                    NULL);
    }
    if (rc != MT_OK)
        return rc;
    json_t *ids = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) json_array_append(ids, json_object_get(r, "id"));
    json_decref(rows);
    *out = json_pack("{s:o}", "items", ids);
    return *out ? MT_OK : MT_ENOMEM;
}

static int pg_lease_list(mt__store_t *s, json_t **out)
{
    int rc = MT_OK;
    json_t *rows = NULL;
    PG_OP(s, c, 1)
    {
        json_decref(rows);
        rows = NULL;
        rc = pg_all(c, &rows,
                    "SELECT l.run_id AS run_id, l.owner AS owner, l.expires_at - " PG_NOW_MS
                    " AS expires_in_ms FROM run_leases l JOIN runs r ON r.id = l.run_id WHERE "
                    "r.state = 'running' ORDER BY l.run_id",
                    NULL);
    }
    if (rc == MT_OK)
        *out = json_pack("{s:o}", "items", rows);
    return rc;
}

static int pg_leader_try(mt__store_t *s, const char *owner, int *leader)
{
    pg_store_t *q = PGS(s);
    (void)owner;
    *leader = 0;
    pthread_mutex_lock(&q->fault_mu); /* q->multi is made once, under a lock */
    if (q->multi == NULL && (q->multi = calloc(1, sizeof(pg_multi_t))) != NULL)
        pthread_mutex_init(&((pg_multi_t *)q->multi)->mu, NULL);
    pg_multi_t *m = q->multi;
    pthread_mutex_unlock(&q->fault_mu);
    if (m == NULL)
        return MT_ENOMEM;
    pthread_mutex_lock(&m->mu);
    if (m->lead != NULL && PQstatus(m->lead) != CONNECTION_OK) {
        PQfinish(m->lead);
        m->lead = NULL;
        m->leading = 0;
    }
    if (m->lead == NULL) {
        m->lead = pg_connect(q);
        m->leading = 0;
        if (m->lead == NULL || PQstatus(m->lead) != CONNECTION_OK) {
            PQfinish(m->lead);
            m->lead = NULL;
            pthread_mutex_unlock(&m->mu);
            return MT_ESYS;
        }
    }
    /* leading: a round trip proves the session (and so the lock) is still there */
    PGresult *r = PQexec(m->lead, m->leading ? "SELECT true"
                                             : "SELECT pg_try_advisory_lock(" PG_LEADER_KEY ")");
    int ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    int got = ok && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!ok) { /* the session is gone or broken: so is the lock */
        PQfinish(m->lead);
        m->lead = NULL;
        m->leading = 0;
        pthread_mutex_unlock(&m->mu);
        return MT_ESYS;
    }
    m->leading = got;
    *leader = got;
    pthread_mutex_unlock(&m->mu);
    return MT_OK;
}

static int pg_idem_claim(mt__store_t *s, const char *scope, const char *key, const char *req_hash,
                         int *claimed)
{
    int64_t now = mt__now_ms() / 1000;
    int rc = MT_OK;
    *claimed = 0;
    PG_OP(s, c, 0) /* not again after a lost commit: the twin would be this request */
    {
        int64_t n = 0;
        rc = pg_begin(c);
        if (rc == MT_OK)
            rc = pg_cmd(c, NULL, "DELETE FROM idempotency_keys WHERE created_at <= $1", "i",
                        now - 86400);
        if (rc == MT_OK)
            rc = pg_cmd(c, &n,
                        "INSERT INTO idempotency_keys(scope,key,request_hash,status,"
                        "content_type,body,created_at) VALUES($1,$2,$3,0,'','',$4) "
                        "ON CONFLICT DO NOTHING",
                        "sssi", scope, key, req_hash, now);
        rc = pg_end(c, rc);
        *claimed = rc == MT_OK && n == 1;
    }
    return rc;
}

static int pg_idem_release(mt__store_t *s, const char *scope, const char *key)
{
    int rc = MT_OK;
    PG_OP(s, c, 1)
    {
        rc = pg_wrote(c, pg_cmd(c, NULL,
                                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND "
                                "status = 0",
                                "ss", scope, key));
    }
    return rc;
}

static const mt__store_ops_t pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .ping = pg_ping,
    .health = pg_health,
    .last_error = pg_last_error,
    .stats = pg_stats,
    .set_outbox_wake = pg_set_outbox_wake,
    .run_set_loss = pg_run_set_loss,
    .token_create = pg_token_create,
    .token_lookup = pg_token_lookup,
    .token_list = pg_token_list,
    .token_delete = pg_token_delete,
    .idem_get = pg_idem_get,
    .idem_put = pg_idem_put,
    .test_create = pg_test_create,
    .test_update = pg_test_update,
    .test_get = pg_test_get,
    .test_list = pg_test_list,
    .test_versions = pg_test_versions,
    .test_delete = pg_test_delete,
    .test_set_baseline = pg_test_set_baseline,
    .test_trend = pg_test_trend,
    .test_history = pg_test_history,
    .test_changes_put = pg_test_changes_put,
    .run_create = pg_run_create,
    .run_get = pg_run_get,
    .test_find = pg_test_find,
    .run_import_begin = pg_run_import_begin,
    .run_import_source = pg_run_import_source,
    .run_list = pg_run_list,
    .run_next_queued = pg_run_next_queued,
    .run_queued_reason = pg_run_queued_reason,
    .run_start = pg_run_start,
    .run_finish = pg_run_finish,
    .run_append_second = pg_run_append_second,
    .run_rows = pg_run_rows,
    .run_series = pg_run_series,
    .run_set_summary = pg_run_set_summary,
    .run_recover = pg_run_recover,
    .run_counts = pg_run_counts,
    .policy_get = pg_policy_get,
    .policy_put = pg_policy_put,
    .run_agent_put = pg_run_agent_put,
    .run_agents_list = pg_run_agents_list,
    .agent_heartbeat = pg_agent_heartbeat,
    .agent_list = pg_agent_list,
    .sched_create = pg_sched_create,
    .sched_update = pg_sched_update,
    .sched_get = pg_sched_get,
    .sched_list = pg_sched_list,
    .sched_delete = pg_sched_delete,
    .webhook_create = pg_webhook_create,
    .webhook_list = pg_webhook_list,
    .webhook_delete = pg_webhook_delete,
    .webhook_deliveries = pg_webhook_deliveries,
    .sched_ops = &pg_sched_ops,
    .relay_ops = &pg_relay_ops,
    .lease_take = pg_lease_take,
    .lease_renew = pg_lease_renew,
    .lease_release = pg_lease_release,
    .lease_orphans = pg_lease_orphans,
    .lease_list = pg_lease_list,
    .leader_try = pg_leader_try,
    .idem_claim = pg_idem_claim,
    .idem_release = pg_idem_release,
};
