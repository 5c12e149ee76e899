/* The SQLite store (store.h): one file DIR/mortar.db in WAL mode. One writer connection
 * behind a mutex (SQLite has one writer at a time anyway) and a small pool of reader
 * connections, so API reads run in parallel with each other and with the writer (WAL
 * readers see the last committed state and never block it). See docs/adr/0011. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "mortar/error.h"
#include "server/log.h"
#include "server/store.h"

#define SQ_READERS 8

typedef struct sq_conn {
    pthread_mutex_t mu;
    sqlite3 *db;
} sq_conn_t;

typedef struct sq_store {
    mt__store_t base;
    sq_conn_t w;
    sq_conn_t r[SQ_READERS];
    unsigned next_r;
    /* writes failing (docs/security.md "Store failures"): set when a write on w fails, cleared
     * when one commits; why = the failure's kind ("disk full", ...) */
    pthread_mutex_t fault_mu;
    int wfault;
    char wwhy[48];
    int64_t last_probe_ms;
} sq_store_t;

static const mt__store_ops_t sq_ops;

#define SQ(s) ((sq_store_t *)(s))

/* ---- connections ---------------------------------------------------------------------- */

/* The store whose writer this thread holds (sq_wlock), so a failure on its connection marks
 * the store's writes as failing; and this thread's last failure, for the API's answer. */
static __thread sq_store_t *sq_cur;
static __thread char sq_tl_why[48];

/* What a SQLite result code means to an operator. */
static const char *sq_kind(int code)
{
    switch (code & 0xff) {
    case SQLITE_FULL:
        return "disk full";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "database corrupt";
    case SQLITE_READONLY:
        return "read-only";
    case SQLITE_IOERR:
        return "I/O error";
    case SQLITE_CANTOPEN:
        return "cannot open the database file";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "database busy";
    case SQLITE_NOMEM:
        return "out of memory";
    default:
        return "database error";
    }
}

/* Notes a failure of db: this thread's last error, and the store's write fault when db is the
 * writer. Returns its kind. */
static const char *sq_fail(sqlite3 *db)
{
    const char *why = sq_kind(sqlite3_extended_errcode(db));
    snprintf(sq_tl_why, sizeof sq_tl_why, "%s", why);
    if (sq_cur != NULL && db == sq_cur->w.db) {
        pthread_mutex_lock(&sq_cur->fault_mu);
        if (!sq_cur->wfault)
            mt__log(MT_LOG_ERROR, "store writes fail", "reason", why, NULL);
        sq_cur->wfault = 1;
        snprintf(sq_cur->wwhy, sizeof sq_cur->wwhy, "%s", why);
        pthread_mutex_unlock(&sq_cur->fault_mu);
    }
    return why;
}

/* A write of db committed: the store's writes work (again). */
static void sq_wrote(sqlite3 *db)
{
    if (sq_cur == NULL || db != sq_cur->w.db || !sqlite3_get_autocommit(db))
        return;
    pthread_mutex_lock(&sq_cur->fault_mu);
    if (sq_cur->wfault)
        mt__log(MT_LOG_INFO, "store writes work again", "was", sq_cur->wwhy, NULL);
    sq_cur->wfault = 0;
    pthread_mutex_unlock(&sq_cur->fault_mu);
}

/* Failures are logged at most once per 10 s per kind of statement (a full disk fails every
 * write: the log must not fill what is left of it). */
static void sq_log(sqlite3 *db, const char *what)
{
    const char *why = sq_fail(db);
    mt__log_limited(why, 10, MT_LOG_ERROR, "store error", "op", what, "reason", why, "error",
                    sqlite3_errmsg(db), NULL);
}

static int sq_exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
        const char *why = sq_fail(db);
        mt__log_limited(why, 10, MT_LOG_ERROR, "store error", "sql", sql, "reason", why, "error",
                        e ? e : "?", NULL);
        sqlite3_free(e);
        return MT_ESYS;
    }
    return MT_OK;
}

static sqlite3 *sq_wlock(mt__store_t *s)
{
    pthread_mutex_lock(&SQ(s)->w.mu);
    sq_cur = SQ(s);
    sq_tl_why[0] = '\0'; /* a new op: its own failure, if any, is the one to tell */
    return SQ(s)->w.db;
}

static void sq_wunlock(mt__store_t *s)
{
    sq_cur = NULL;
    pthread_mutex_unlock(&SQ(s)->w.mu);
}

/* A free reader connection (or the next one, waited for). */
static sq_conn_t *sq_rlock(mt__store_t *s)
{
    sq_store_t *q = SQ(s);
    sq_tl_why[0] = '\0';
    for (int i = 0; i < SQ_READERS; i++)
        if (pthread_mutex_trylock(&q->r[i].mu) == 0)
            return &q->r[i];
    sq_conn_t *c = &q->r[__atomic_fetch_add(&q->next_r, 1, __ATOMIC_RELAXED) % SQ_READERS];
    pthread_mutex_lock(&c->mu);
    return c;
}

static int sq_begin(sqlite3 *db)
{
    return sq_exec(db, "BEGIN IMMEDIATE");
}

static int sq_end(sqlite3 *db, int rc)
{
    if (rc == MT_OK) {
        rc = sq_exec(db, "COMMIT");
        if (rc == MT_OK) {
            sq_wrote(db);
            return MT_OK;
        }
    }
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Prepares sql and binds the arguments described by fmt: s = text (NULL binds NULL),
 * i = int64_t, d = double, n = int. NULL on failure (logged). */
static sqlite3_stmt *sq_prep(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sq_log(db, sql);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    for (int i = 1; fmt && *fmt; fmt++, i++) {
        switch (*fmt) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i);
            break;
        }
        case 'i':
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'n':
            sqlite3_bind_int(st, i, va_arg(ap, int));
            break;
        case 'd':
            sqlite3_bind_double(st, i, va_arg(ap, double));
            break;
        }
    }
    va_end(ap);
    return st;
}

/* Steps a statement that returns no rows; finalizes it. Constraint failures: ECONFLICT. */
static int sq_run(sqlite3 *db, sqlite3_stmt *st)
{
    if (st == NULL)
        return MT_ESYS;
    int rc = sqlite3_step(st);
    int ret = MT_OK;
    if (rc == SQLITE_CONSTRAINT)
        ret = MT_ECONFLICT;
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sq_log(db, sqlite3_sql(st));
        ret = MT_ESYS;
    } else {
        sq_wrote(db); /* outside a transaction: committed */
    }
    sqlite3_finalize(st);
    return ret;
}

/* The current row as an object: a column "x_json" becomes key "x" with the parsed JSON, a
 * column "x_unix" (Unix s) key "x" with the RFC 3339 time; NULL is null. */
static json_t *sq_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int nc = sqlite3_column_count(st);
    for (int i = 0; i < nc; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s", sqlite3_column_name(st, i));
        size_t kl = strlen(key);
        int t = sqlite3_column_type(st, i);
        json_t *v;
        if (kl > 5 && strcmp(key + kl - 5, "_json") == 0) {
            key[kl - 5] = '\0';
            v = t == SQLITE_NULL
                    ? json_null()
                    : json_loads((const char *)sqlite3_column_text(st, i), JSON_DECODE_ANY, NULL);
            if (v == NULL)
                v = json_null();
        } else if (kl > 5 && strcmp(key + kl - 5, "_unix") == 0) {
            key[kl - 5] = '\0';
            if (t == SQLITE_NULL || sqlite3_column_int64(st, i) == 0) {
                v = json_null();
            } else {
                char ts[32];
                mt__rfc3339(sqlite3_column_int64(st, i) * 1000, ts);
                v = json_string(ts);
            }
        } else if (kl > 5 && strcmp(key + kl - 5, "_bool") == 0) {
            key[kl - 5] = '\0';
            v = json_boolean(sqlite3_column_int(st, i));
        } else if (t == SQLITE_NULL) {
            v = json_null();
        } else if (t == SQLITE_INTEGER) {
            v = json_integer(sqlite3_column_int64(st, i));
        } else if (t == SQLITE_FLOAT) {
            v = json_real(sqlite3_column_double(st, i));
        } else {
            v = json_string((const char *)sqlite3_column_text(st, i));
        }
        json_object_set_new(o, key, v);
    }
    return o;
}

/* One row into *out (MT_ENOTFOUND when none); finalizes st. */
static int sq_one(sqlite3 *db, sqlite3_stmt *st, json_t **out)
{
    if (st == NULL)
        return MT_ESYS;
    int rc = sqlite3_step(st), ret = MT_OK;
    if (rc == SQLITE_ROW) {
        if (out)
            *out = sq_row(st);
    } else if (rc == SQLITE_DONE) {
        ret = MT_ENOTFOUND;
    } else {
        sq_log(db, sqlite3_sql(st));
        ret = MT_ESYS;
    }
    sqlite3_finalize(st);
    return ret;
}

/* Every row into a new array; finalizes st. */
static int sq_all(sqlite3 *db, sqlite3_stmt *st, json_t **out)
{
    if (st == NULL)
        return MT_ESYS;
    json_t *a = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(a, sq_row(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sq_log(db, "select");
        json_decref(a);
        return MT_ESYS;
    }
    *out = a;
    return MT_OK;
}

/* A page {"items": [...limit], "next_cursor": id|null} from limit + 1 rows. */
static json_t *sq_page(json_t *rows, size_t limit)
{
    json_t *next = json_null();
    if (json_array_size(rows) > limit) {
        json_array_remove(rows, limit);
        next = json_copy(json_object_get(json_array_get(rows, limit - 1), "id"));
    }
    return json_pack("{s:o,s:o}", "items", rows, "next_cursor", next);
}

static const char *sq_cursor(const mt__store_page_t *pg)
{
    /* ids are hex and '-': anything else sorts after every id, so it just ends the list */
    return pg->cursor ? pg->cursor : "~";
}

static char *sq_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ---- the outbox ------------------------------------------------------------------------ */

static int sq_matches(const char *events_json, const char *type)
{
    json_t *a = json_loads(events_json, 0, NULL);
    size_t i;
    json_t *v;
    int m = 0;
    json_array_foreach(a, i, v)
    {
        const char *e = json_string_value(v);
        if (e && (strcmp(e, "*") == 0 || strcmp(e, type) == 0))
            m = 1;
    }
    json_decref(a);
    return m;
}

/* Writes event `type` with data (borrowed) and one delivery per matching webhook; call inside
 * the state change's transaction. */
static int sq_event(sqlite3 *db, const char *type, const json_t *data)
{
    char id[37], now[32];
    mt__uuid7(id);
    int64_t ms = mt__now_ms();
    mt__rfc3339(ms, now);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:O}", "id", id, "type", type, "created_at", now, "data", data);
    char *text = sq_dump(body);
    json_decref(body);
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO events(id,type,created_at,body_json) "
                                "VALUES(?,?,?,?)",
                                "ssss", id, type, now, text));
    free(text);
    if (rc != MT_OK)
        return rc;
    sqlite3_stmt *st = sq_prep(db, "SELECT id, events_json FROM webhooks", NULL);
    if (st == NULL)
        return MT_ESYS;
    while (rc == MT_OK && sqlite3_step(st) == SQLITE_ROW) {
        if (!sq_matches((const char *)sqlite3_column_text(st, 1), type))
            continue;
        char did[37];
        mt__uuid7(did);
        rc = sq_run(db, sq_prep(db,
                                "INSERT INTO deliveries(id,webhook_id,event_id,state,attempts,"
                                "next_attempt_at,created_at,updated_at) "
                                "VALUES(?,?,?,'pending',0,?,?,?)",
                                "sssiss", did, (const char *)sqlite3_column_text(st, 0), id,
                                (int64_t)(ms / 1000), now, now));
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- migrations ------------------------------------------------------------------------ */

static int sq_migrate(sqlite3 *db, const mt__migration_t *m, size_t n, char *err, size_t errlen)
{
    if (sq_exec(db, "CREATE TABLE IF NOT EXISTS schema_history (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)") !=
        MT_OK) {
        snprintf(err, errlen, "cannot create schema_history: %s (%s)", sqlite3_errmsg(db),
                 sq_kind(sqlite3_extended_errcode(db)));
        return MT_ESYS;
    }
    long prev = 0;
    for (size_t i = 0; i < n; i++) {
        char *end;
        long v = m[i].name[0] == 'V' ? strtol(m[i].name + 1, &end, 10) : 0;
        if (v <= prev || strncmp(end, "__", 2) != 0) {
            snprintf(err, errlen, "migration %s: name is not V<n>__<what>.sql in order", m[i].name);
            return MT_EFORMAT;
        }
        prev = v;
        char sum[65];
        mt__sha256_hex(m[i].sql, strlen(m[i].sql), sum);
        json_t *row = NULL;
        int rc = sq_one(
            db,
            sq_prep(db, "SELECT checksum FROM schema_history WHERE version = ?", "i", (int64_t)v),
            &row);
        if (rc == MT_OK) {
            int same = strcmp(json_string_value(json_object_get(row, "checksum")), sum) == 0;
            json_decref(row);
            if (!same) {
                snprintf(err, errlen,
                         "migration %s was changed after it was applied (checksum differs from "
                         "schema_history); add a new migration instead",
                         m[i].name);
                return MT_EFORMAT;
            }
            continue;
        }
        if (rc != MT_ENOTFOUND) {
            snprintf(err, errlen, "cannot read schema_history: %s (%s)", sqlite3_errmsg(db),
                     sq_kind(sqlite3_extended_errcode(db)));
            return rc;
        }
        char now[32];
        mt__rfc3339(mt__now_ms(), now);
        char *e = NULL;
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, m[i].sql, NULL, NULL, &e) != SQLITE_OK) {
            snprintf(err, errlen, "migration %s failed: %s", m[i].name, e ? e : sqlite3_errmsg(db));
            sqlite3_free(e);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return MT_ESYS;
        }
        rc = sq_run(db, sq_prep(db,
                                "INSERT INTO schema_history(version,name,checksum,applied_at) "
                                "VALUES(?,?,?,?)",
                                "isss", (int64_t)v, m[i].name, sum, now));
        if (sq_end(db, rc) != MT_OK) {
            snprintf(err, errlen, "migration %s: cannot commit: %s", m[i].name, sqlite3_errmsg(db));
            return MT_ESYS;
        }
        mt__log(MT_LOG_INFO, "migration applied", "name", m[i].name, NULL);
    }
    return MT_OK;
}

static int sq_open_conn(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return MT_ESYS;
    }
    sqlite3_busy_timeout(db, 5000);
    /* WAL: readers never block the writer; synchronous=FULL: a committed second survives a
     * power cut, not only a process crash (one fsync per commit, about one per second per
     * run: cheap here). */
    if (sq_exec(db, "PRAGMA journal_mode=WAL") != MT_OK ||
        sq_exec(db, "PRAGMA synchronous=FULL") != MT_OK ||
        sq_exec(db, "PRAGMA foreign_keys=ON") != MT_OK) {
        snprintf(err, errlen, "%s: cannot set up: %s (%s)", path, sqlite3_errmsg(db),
                 sq_kind(sqlite3_extended_errcode(db)));
        sqlite3_close(db);
        return MT_ESYS;
    }
    *out = db;
    return MT_OK;
}

static void sq_close(mt__store_t *s)
{
    if (s == NULL)
        return;
    sq_store_t *q = SQ(s);
    for (int i = 0; i < SQ_READERS; i++) {
        sqlite3_close(q->r[i].db);
        pthread_mutex_destroy(&q->r[i].mu);
    }
    if (q->w.db)
        sqlite3_exec(q->w.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(q->w.db);
    pthread_mutex_destroy(&q->w.mu);
    pthread_mutex_destroy(&q->fault_mu);
    free(q);
}

int mt__store_open_sqlite_with(const char *dir, const mt__migration_t *m, size_t n,
                               mt__store_t **out, char *err, size_t errlen)
{
    /* like mkdir -p: the parents too */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0700);
            *p = '/';
        }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the data directory: %s", dir, strerror(errno));
        return MT_ESYS;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/mortar.db", dir);
    sq_store_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MT_ENOMEM;
    q->base.ops = &sq_ops;
    pthread_mutex_init(&q->w.mu, NULL);
    pthread_mutex_init(&q->fault_mu, NULL);
    for (int i = 0; i < SQ_READERS; i++)
        pthread_mutex_init(&q->r[i].mu, NULL);
    int rc = sq_open_conn(path, &q->w.db, err, errlen);
    if (rc == MT_OK)
        rc = sq_migrate(q->w.db, m, n, err, errlen);
    for (int i = 0; rc == MT_OK && i < SQ_READERS; i++)
        rc = sq_open_conn(path, &q->r[i].db, err, errlen);
    if (rc != MT_OK) {
        sq_close(&q->base);
        return rc;
    }
    *out = &q->base;
    return MT_OK;
}

int mt__store_open_sqlite(const char *dir, mt__store_t **out, char *err, size_t errlen)
{
    return mt__store_open_sqlite_with(dir, mt__migrations, mt__nmigrations, out, err, errlen);
}

static int sq_ping(mt__store_t *s)
{
    sq_conn_t *c = sq_rlock(s);
    int rc = sq_one(c->db, sq_prep(c->db, "SELECT count(*) AS n FROM schema_history", NULL), NULL);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static const char *sq_last_error(mt__store_t *s)
{
    (void)s;
    return sq_tl_why;
}

/* Writes work when the last one committed. While they fail, a probe write (at most one a
 * second) finds out when they work again even if nothing else writes. */
static int sq_health(mt__store_t *s, char *why, size_t n)
{
    sq_store_t *q = SQ(s);
    int64_t now = mt__now_ms();
    pthread_mutex_lock(&q->fault_mu);
    int fault = q->wfault, probe = fault && now - q->last_probe_ms >= 1000;
    if (probe)
        q->last_probe_ms = now;
    pthread_mutex_unlock(&q->fault_mu);
    if (probe) {
        sqlite3 *db = sq_wlock(s);
        int rc = sq_begin(db);
        if (rc == MT_OK)
            rc = sq_run(db, sq_prep(db,
                                    "UPDATE schema_history SET applied_at = applied_at WHERE "
                                    "version = (SELECT max(version) FROM schema_history)",
                                    NULL));
        sq_end(db, rc);
        sq_wunlock(s);
    }
    pthread_mutex_lock(&q->fault_mu);
    fault = q->wfault;
    snprintf(why, n, "%s", fault ? q->wwhy : "");
    pthread_mutex_unlock(&q->fault_mu);
    return fault ? MT_ESYS : MT_OK;
}

/* ---- reads through the pool ------------------------------------------------------------- */

static int sq_read_one(mt__store_t *s, json_t **out, const char *sql, const char *fmt, ...)
{
    /* fmt here is only "s" or "ss" */
    va_list ap;
    va_start(ap, fmt);
    const char *a = fmt[0] ? va_arg(ap, const char *) : NULL;
    const char *b = fmt[0] && fmt[1] ? va_arg(ap, const char *) : NULL;
    va_end(ap);
    sq_conn_t *c = sq_rlock(s);
    int rc = sq_one(c->db, sq_prep(c->db, sql, fmt, a, b), out);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- tokens ----------------------------------------------------------------------------- */

static int sq_token_create(mt__store_t *s, const char *name, const char *role, const char *hash,
                           json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO tokens(id,name,role,hash,created_at) "
                                "VALUES(?,?,?,?,?)",
                                "sssss", id, name, role, hash, now));
    sq_wunlock(s);
    if (rc == MT_OK && out)
        *out =
            json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", name, "role", role, "created_at", now);
    return rc;
}

static int sq_token_lookup(mt__store_t *s, const char *hash, char *id, char *role, char *name)
{
    json_t *row = NULL;
    int rc = sq_read_one(s, &row, "SELECT id, role, name FROM tokens WHERE hash = ?", "s", hash);
    if (rc == MT_OK) {
        snprintf(id, 40, "%s", json_string_value(json_object_get(row, "id")));
        snprintf(role, 16, "%s", json_string_value(json_object_get(row, "role")));
        snprintf(name, MT_STORE_TOKEN_NAME, "%s",
                 json_string_value(json_object_get(row, "name")) ?: "");
        json_decref(row);
    }
    return rc;
}

/* One page of a keyset-paged list: sql takes the cursor (?1) and the limit (?2) and reads
 * newest first; one row more than the page says whether there is a next one. */
static int sq_list_page(mt__store_t *s, const char *sql, const mt__store_page_t *pg, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db, sq_prep(c->db, sql, "si", sq_cursor(pg), (int64_t)pg->limit + 1), &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = sq_page(rows, pg->limit);
    return rc;
}

static int sq_token_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return sq_list_page(s,
                        "SELECT id, name, role, created_at FROM tokens WHERE id < ? "
                        "ORDER BY id DESC LIMIT ?",
                        pg, out);
}

static int sq_delete_by_id(mt__store_t *s, const char *sql, const char *id)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db, sql, "s", id));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ENOTFOUND;
    sq_wunlock(s);
    return rc;
}

static int sq_token_delete(mt__store_t *s, const char *id)
{
    return sq_delete_by_id(s, "DELETE FROM tokens WHERE id = ?", id);
}

/* ---- idempotency ------------------------------------------------------------------------- */

static int sq_idem_get(mt__store_t *s, const char *scope, const char *key, char **req_hash,
                       int *status, char **ctype, char **body)
{
    sq_conn_t *c = sq_rlock(s);
    sqlite3_stmt *st = sq_prep(c->db,
                               "SELECT request_hash, status, content_type, body FROM "
                               "idempotency_keys WHERE scope = ? AND key = ? AND created_at > ?",
                               "ssi", scope, key, (int64_t)(mt__now_ms() / 1000 - 86400));
    int rc = MT_ESYS;
    if (st) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *req_hash = strdup((const char *)sqlite3_column_text(st, 0));
            *status = sqlite3_column_int(st, 1);
            *ctype = strdup((const char *)sqlite3_column_text(st, 2));
            *body = strdup((const char *)sqlite3_column_text(st, 3));
            rc = MT_OK;
        } else {
            rc = r == SQLITE_DONE ? MT_ENOTFOUND : MT_ESYS;
            if (rc == MT_ESYS)
                sq_log(c->db, "select idempotency_keys");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int sq_idem_put(mt__store_t *s, const char *scope, const char *key, const char *req_hash,
                       int status, const char *ctype, const char *body)
{
    int64_t now = mt__now_ms() / 1000;
    sqlite3 *db = sq_wlock(s);
    /* expired keys go first, so a key reused after 24 h starts afresh */
    int rc = sq_run(
        db, sq_prep(db, "DELETE FROM idempotency_keys WHERE created_at <= ?", "i", now - 86400));
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "INSERT INTO idempotency_keys(scope,key,request_hash,"
                                "status,content_type,body,created_at) VALUES(?,?,?,?,?,?,?) "
                                "ON CONFLICT(scope,key) DO UPDATE SET status = excluded.status,"
                                " content_type = excluded.content_type, body = excluded.body "
                                "WHERE idempotency_keys.status = 0",
                                "sssnssi", scope, key, req_hash, status, ctype, body, now));
    sq_wunlock(s);
    return rc;
}

/* ---- settings ------------------------------------------------------------------------------ */

static int sq_policy_get(mt__store_t *s, char **json, int64_t *version)
{
    sq_conn_t *c = sq_rlock(s);
    sqlite3_stmt *st =
        sq_prep(c->db, "SELECT value, version FROM settings WHERE key = 'policy'", "");
    int rc = MT_ESYS;
    if (st) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *json = strdup((const char *)sqlite3_column_text(st, 0));
            *version = sqlite3_column_int64(st, 1);
            rc = *json ? MT_OK : MT_ENOMEM;
        } else {
            rc = r == SQLITE_DONE ? MT_ENOTFOUND : MT_ESYS;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int sq_policy_put(mt__store_t *s, const char *json, int64_t *version)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO settings(key, value, version, updated_at) "
                                "VALUES('policy', ?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
                                "value = excluded.value, version = version + 1, "
                                "updated_at = excluded.updated_at",
                                "ss", json, now));
    if (rc == MT_OK) {
        sqlite3_stmt *st = sq_prep(db, "SELECT version FROM settings WHERE key = 'policy'", "");
        rc = st && sqlite3_step(st) == SQLITE_ROW ? MT_OK : MT_ESYS;
        if (rc == MT_OK)
            *version = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sq_wunlock(s);
    return rc;
}

/* ---- tests ------------------------------------------------------------------------------ */

#define SQ_TEST_COLS                                                                               \
    "SELECT id, name, description, version, config_version, config_json, tolerances_json, "        \
    "baseline_run_id, "                                                                            \
    "CASE WHEN fail_on_regression THEN 'true' ELSE 'false' END AS fail_on_regression_json, "       \
    "created_at, updated_at FROM tests "

static int sq_test_get_db(sqlite3 *db, const char *id, json_t **out)
{
    return sq_one(db, sq_prep(db, SQ_TEST_COLS "WHERE id = ? AND deleted = 0", "s", id), out);
}

static int sq_test_version_row(sqlite3 *db, const json_t *t)
{
    char *cfg = sq_dump(json_object_get(t, "config"));
    char *tol = sq_dump(json_object_get(t, "tolerances"));
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO test_versions(test_id,version,name,description,"
                                "config_json,tolerances_json,created_at) VALUES(?,?,?,?,?,?,?)",
                                "sisssss", json_string_value(json_object_get(t, "id")),
                                (int64_t)json_integer_value(json_object_get(t, "version")),
                                json_string_value(json_object_get(t, "name")),
                                json_string_value(json_object_get(t, "description")), cfg, tol,
                                json_string_value(json_object_get(t, "updated_at"))));
    free(cfg);
    free(tol);
    return rc;
}

static const char *sq_str(const json_t *o, const char *k, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : dflt;
}

static json_t *sq_tol(const json_t *body)
{
    json_t *t = json_object_get(body, "tolerances");
    return t ? json_incref(t) : json_object();
}

/* Creates (update_id NULL) or updates a test: the row, a version row and the event, in one
 * transaction. */
static int sq_test_write(mt__store_t *s, const char *update_id, const json_t *body, json_t **out)
{
    char id[37], now[32];
    if (update_id)
        snprintf(id, sizeof id, "%s", update_id);
    else
        mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    json_t *tol = sq_tol(body);
    char *cfg = sq_dump(json_object_get(body, "config"));
    char *tols = sq_dump(tol);
    json_decref(tol);
    const char *name = sq_str(body, "name", ""), *desc = sq_str(body, "description", "");
    int64_t forg = json_is_true(json_object_get(body, "fail_on_regression"));
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    if (rc == MT_OK && !update_id)
        rc = sq_run(db, sq_prep(db,
                                "INSERT INTO tests(id,name,description,version,config_json,"
                                "tolerances_json,fail_on_regression,created_at,updated_at) "
                                "VALUES(?,?,?,1,?,?,?,?,?)",
                                "sssssiss", id, name, desc, cfg, tols, forg, now, now));
    if (rc == MT_OK && update_id) {
        rc = sq_run(db, sq_prep(db,
                                "UPDATE tests SET name = ?, description = ?, config_json = ?, "
                                "tolerances_json = ?, fail_on_regression = ?, "
                                "version = version + 1, updated_at = ?, "
                                "config_version = config_version + (config_json IS NOT ?3) "
                                "WHERE id = ? AND deleted = 0",
                                "ssssiss", name, desc, cfg, tols, forg, now, id));
        if (rc == MT_OK && sqlite3_changes(db) == 0)
            rc = MT_ENOTFOUND;
    }
    json_t *t = NULL;
    if (rc == MT_OK)
        rc = sq_test_get_db(db, id, &t);
    if (rc == MT_OK)
        rc = sq_test_version_row(db, t);
    if (rc == MT_OK)
        rc = sq_event(db, update_id ? "test.updated" : "test.created", t);
    rc = sq_end(db, rc);
    sq_wunlock(s);
    free(cfg);
    free(tols);
    if (rc == MT_OK)
        *out = t;
    else
        json_decref(t);
    return rc;
}

static int sq_test_create(mt__store_t *s, const json_t *body, json_t **out)
{
    return sq_test_write(s, NULL, body, out);
}

static int sq_test_update(mt__store_t *s, const char *id, const json_t *body, json_t **out)
{
    return sq_test_write(s, id, body, out);
}

static int sq_test_get(mt__store_t *s, const char *id, json_t **out)
{
    return sq_read_one(s, out, SQ_TEST_COLS "WHERE id = ? AND deleted = 0", "s", id);
}

static int sq_test_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return sq_list_page(s, SQ_TEST_COLS "WHERE deleted = 0 AND id < ? ORDER BY id DESC LIMIT ?", pg,
                        out);
}

static int sq_test_versions(mt__store_t *s, const char *id, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    int rc = sq_one(
        c->db, sq_prep(c->db, "SELECT id FROM tests WHERE id = ? AND deleted = 0", "s", id), NULL);
    json_t *rows = NULL;
    if (rc == MT_OK)
        rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT version, name, description, config_json, tolerances_json, "
                            "created_at FROM test_versions WHERE test_id = ? ORDER BY version",
                            "s", id),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = json_pack("{s:o}", "items", rows);
    return rc;
}

static int sq_test_delete(mt__store_t *s, const char *id)
{
    /* soft delete: the name is freed (renamed) so a new test may take it; runs keep test_id */
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "UPDATE tests SET deleted = 1, name = name || ' (deleted ' || id "
                                "|| ')' WHERE id = ? AND deleted = 0",
                                "s", id));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ENOTFOUND;
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db, "UPDATE schedules SET enabled = 0 WHERE test_id = ?", "s", id));
    rc = sq_end(db, rc);
    sq_wunlock(s);
    return rc;
}

static int sq_is_final(const char *st)
{
    return st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
}

static int sq_test_set_baseline(mt__store_t *s, const char *id, const char *run_id, json_t **out,
                                char *err, size_t errlen)
{
    sqlite3 *db = sq_wlock(s);
    json_t *run = NULL, *t = NULL;
    int rc = sq_test_get_db(db, id, &t);
    if (rc == MT_OK) {
        rc = sq_one(db, sq_prep(db, "SELECT test_id, state FROM runs WHERE id = ?", "s", run_id),
                    &run);
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
        } else if (!sq_is_final(st) || strcmp(st, "error") == 0) {
            snprintf(err, errlen, "run %s is %s, not finished", run_id, st);
            rc = MT_EINVAL;
        }
    }
    if (rc == MT_OK)
        rc = sq_run(
            db, sq_prep(db, "UPDATE tests SET baseline_run_id = ? WHERE id = ?", "ss", run_id, id));
    json_decref(t);
    t = NULL;
    if (rc == MT_OK)
        rc = sq_test_get_db(db, id, &t);
    sq_wunlock(s);
    json_decref(run);
    if (rc == MT_OK)
        *out = t;
    return rc;
}

static int sq_test_trend(mt__store_t *s, const char *id, size_t limit, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    int rc = sq_one(c->db, sq_prep(c->db, "SELECT id FROM tests WHERE id = ?", "s", id), NULL);
    json_t *rows = NULL;
    if (rc == MT_OK)
        rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT * FROM (SELECT id AS run_id, created_at, state, "
                            "config_version, "
                            "json_extract(summary_json, '$.rps') AS rps, "
                            "json_extract(summary_json, '$.latency_us.p50') AS p50_us, "
                            "json_extract(summary_json, '$.latency_us.p99') AS p99_us, "
                            "CASE WHEN coalesce(json_extract(summary_json, '$.requests'), 0) > 0 "
                            "THEN 1.0 * json_extract(summary_json, '$.errors') / "
                            "json_extract(summary_json, '$.requests') ELSE 0 END AS error_rate "
                            "FROM runs WHERE test_id = ? AND state IN ('passed','failed',"
                            "'stopped') ORDER BY id DESC LIMIT ?) ORDER BY run_id",
                            "si", id, (int64_t)limit),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = json_pack("{s:o}", "items", rows);
    return rc;
}

static int sq_test_history(mt__store_t *s, const char *id, size_t limit, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    int rc = sq_one(c->db, sq_prep(c->db, "SELECT id FROM tests WHERE id = ?", "s", id), NULL);
    json_t *rows = NULL;
    if (rc == MT_OK)
        rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT * FROM (SELECT id AS run_id, state, started_at, test_version, "
                            "config_version, "
                            "json_extract(summary_json, '$.latency_us.p50') AS p50, "
                            "json_extract(summary_json, '$.latency_us.p90') AS p90, "
                            "json_extract(summary_json, '$.latency_us.p99') AS p99, "
                            "json_extract(summary_json, '$.latency_us.p999') AS p999, "
                            "json_extract(summary_json, '$.rps') AS rps, "
                            "CASE WHEN coalesce(json_extract(summary_json, '$.requests'), 0) > 0 "
                            "THEN 1.0 * json_extract(summary_json, '$.errors') / "
                            "json_extract(summary_json, '$.requests') END AS error_rate, "
                            "coalesce(started_at, created_at) AS ord "
                            "FROM runs WHERE test_id = ? AND state IN ('passed','failed',"
                            "'stopped') AND summary_json IS NOT NULL "
                            "ORDER BY ord DESC, id DESC LIMIT ?) ORDER BY ord, run_id",
                            "si", id, (int64_t)limit),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK) {
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r) json_object_del(r, "ord");
        *out = json_pack("{s:o}", "items", rows);
    }
    return rc;
}

/* Whether any run id of ids is in known (both arrays of strings). */
static int sq_any_known(const json_t *ids, const json_t *known)
{
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(ids, i, a) json_array_foreach(known, j, b) if (json_equal(a, b)) return 1;
    return 0;
}

#define SQ_KNOWN_MAX 200 /* run ids remembered per metric */

static int sq_test_changes_put(mt__store_t *s, const char *id, const json_t *found, json_t **fresh)
{
    sqlite3 *db = sq_wlock(s);
    json_t *row = NULL, *known = NULL, *news = json_array();
    int rc = sq_begin(db);
    if (rc == MT_OK)
        rc = sq_one(db, sq_prep(db, "SELECT name, changes_json FROM tests WHERE id = ?", "s", id),
                    &row);
    int first = 0;
    if (rc == MT_OK) {
        known = json_object_get(row, "changes");
        first = !json_is_object(known);
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
                if (!first && !sq_any_known(near, k)) {
                    json_t *c = json_deep_copy(cp);
                    json_object_del(c, "near");
                    json_object_set_new(c, "metric", json_string(metric));
                    json_array_append_new(news, c);
                }
                json_t *rid = json_object_get(cp, "run_id");
                json_t *one = json_pack("[O]", rid);
                if (!sq_any_known(one, k))
                    json_array_append(k, rid);
                json_decref(one);
            }
            while (json_array_size(k) > SQ_KNOWN_MAX)
                json_array_remove(k, 0);
        }
        char *text = sq_dump(known);
        rc = sq_run(db,
                    sq_prep(db, "UPDATE tests SET changes_json = ? WHERE id = ?", "ss", text, id));
        free(text);
    }
    if (rc == MT_OK && json_array_size(news) > 0) {
        json_t *data = json_pack("{s:s,s:O,s:O}", "test_id", id, "test_name",
                                 json_object_get(row, "name"), "changes", news);
        rc = sq_event(db, "test.changed", data);
        json_decref(data);
    }
    rc = sq_end(db, rc);
    sq_wunlock(s);
    json_decref(row);
    json_decref(known);
    if (rc == MT_OK && fresh)
        *fresh = news;
    else
        json_decref(news);
    return rc;
}

/* ---- runs ------------------------------------------------------------------------------- */

/* A run's agents as a JSON array, by index (the Run's "agents"; run_agents_list's items). */
#define SQ_RUN_AGENTS(where)                                                                       \
    "(SELECT json_group_array(json(a)) FROM (SELECT json_object('name', name, 'index', idx, "      \
    "'share', json(share_json), 'state', state, 'reason', reason, 'clock_offset_us', "             \
    "clock_offset_us, 'start_skew_us', start_skew_us, 'last_second', last_second, 'updated_at', "  \
    "updated_at) AS a FROM run_agents WHERE " where " ORDER BY idx, name))"

#define SQ_RUN_COLS                                                                                \
    "SELECT id, test_id, test_version, config_version, schedule_id, state, reason, config_json, "  \
    "labels_json, agent, created_at, started_at, ended_at, seconds, lost_seconds, loss_reason, "   \
    "summary_json, "                                                                               \
    "verdicts_json, source_json, created_by_json, " SQ_RUN_AGENTS(                                 \
        "run_id = runs.id") " AS agents_json FROM runs "

static int sq_run_get_db(sqlite3 *db, const char *id, json_t **out)
{
    return sq_one(db, sq_prep(db, SQ_RUN_COLS "WHERE id = ?", "s", id), out);
}

static int sq_run_insert(sqlite3 *db, const char *test_id, const json_t *config,
                         const json_t *labels, const char *schedule_id, const json_t *created_by,
                         json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    json_t *t = NULL;
    int64_t ver = 0;
    char *cfg = NULL;
    int rc = MT_OK;
    if (test_id) {
        rc = sq_test_get_db(db, test_id, &t);
        if (rc != MT_OK)
            return rc;
        ver = json_integer_value(json_object_get(t, "version"));
        cfg = sq_dump(json_object_get(t, "config"));
    } else {
        cfg = sq_dump(config);
    }
    char *lab = labels ? sq_dump(labels) : strdup("{}");
    char *by = created_by ? sq_dump(created_by) : NULL;
    sqlite3_stmt *st = sq_prep(db,
                               "INSERT INTO runs(id,test_id,test_version,config_version,"
                               "schedule_id,state,config_json,labels_json,created_at,"
                               "created_by_json) "
                               "VALUES(?1,?2,?3,(SELECT config_version FROM tests WHERE id = ?2),"
                               "?4,'queued',?5,?6,?7,?8)",
                               "ssisssss", id, test_id, ver, schedule_id, cfg, lab, now, by);
    if (st && !test_id)
        sqlite3_bind_null(st, 3);
    rc = sq_run(db, st);
    free(cfg);
    free(lab);
    free(by);
    json_decref(t);
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = sq_run_get_db(db, id, &run);
    if (rc == MT_OK)
        rc = sq_event(db, "run.queued", run);
    if (rc == MT_OK && out)
        *out = run;
    else
        json_decref(run);
    return rc;
}

static int sq_run_create(mt__store_t *s, const char *test_id, const json_t *config,
                         const json_t *labels, const char *schedule_id, const json_t *created_by,
                         json_t **out)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = sq_run_insert(db, test_id, config, labels, schedule_id, created_by, &run);
    rc = sq_end(db, rc);
    sq_wunlock(s);
    if (rc == MT_OK)
        *out = run;
    else
        json_decref(run);
    return rc;
}

static int sq_test_find(mt__store_t *s, const char *key, json_t **out)
{
    return sq_read_one(s, out, SQ_TEST_COLS "WHERE (id = ?1 OR name = ?1) AND deleted = 0", "s",
                       key);
}

static int sq_run_import_begin(mt__store_t *s, const char *test_id, const char *source_json,
                               const json_t *created_by, json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    char *by = created_by ? sq_dump(created_by) : NULL;
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "INSERT INTO runs(id,test_id,test_version,config_version,"
                                "schedule_id,state,config_json,labels_json,created_at,agent,"
                                "started_at,source_json,created_by_json) "
                                "SELECT ?1, id, version, config_version, NULL, 'running', "
                                "config_json, '{}', ?2, 'import', ?2, ?3, ?5 FROM tests "
                                "WHERE id = ?4 AND deleted = 0",
                                "sssss", id, now, source_json, test_id, by));
    free(by);
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ENOTFOUND;
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = sq_run_get_db(db, id, &run);
    if (rc == MT_OK)
        rc = sq_event(db, "run.started", run);
    rc = sq_end(db, rc);
    sq_wunlock(s);
    if (rc == MT_OK && out)
        *out = run;
    else
        json_decref(run);
    return rc;
}

static int sq_run_import_source(mt__store_t *s, const char *id, const char *source_json,
                                int64_t start_ms, uint32_t seconds)
{
    char start[32], end[32];
    mt__rfc3339(start_ms, start);
    mt__rfc3339(start_ms + (int64_t)seconds * 1000, end);
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "UPDATE runs SET source_json = ?1, started_at = CASE WHEN ?5 "
                                "THEN ?2 ELSE started_at END, ended_at = CASE WHEN ?5 AND "
                                "ended_at IS NOT NULL THEN ?3 ELSE ended_at END WHERE id = ?4",
                                "ssssi", source_json, start, end, id, (int64_t)(start_ms > 0)));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ENOTFOUND;
    sq_wunlock(s);
    return rc;
}

static int sq_run_get(mt__store_t *s, const char *id, json_t **out)
{
    return sq_read_one(s, out, SQ_RUN_COLS "WHERE id = ?", "s", id);
}

static int sq_run_list(mt__store_t *s, const char *state, const char *test_id,
                       const mt__store_page_t *pg, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db,
                    sq_prep(c->db,
                            SQ_RUN_COLS "WHERE id < ?1 AND (?2 IS NULL OR state = ?2) AND "
                                        "(?3 IS NULL OR test_id = ?3) ORDER BY id DESC LIMIT ?4",
                            "sssi", sq_cursor(pg), state, test_id, (int64_t)pg->limit + 1),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = sq_page(rows, pg->limit);
    return rc;
}

static int sq_run_next_queued(mt__store_t *s, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    int rc = sq_one(
        c->db, sq_prep(c->db, SQ_RUN_COLS "WHERE state = 'queued' ORDER BY id LIMIT 1", NULL), out);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int sq_run_queued_reason(mt__store_t *s, const char *id, const char *reason, int *changed)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "UPDATE runs SET reason = ?1 WHERE id = ?2 AND state = 'queued' "
                                "AND reason IS NOT ?1",
                                "ss", reason, id));
    *changed = rc == MT_OK && sqlite3_changes(db) > 0;
    sq_wunlock(s);
    return rc;
}

static int sq_run_start(mt__store_t *s, const char *id, const char *agent, json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    if (rc == MT_OK)
        rc = sq_run(
            db,
            sq_prep(db,
                    "UPDATE runs SET state = 'running', agent = ?, started_at = ?, reason = NULL "
                    "WHERE id = ? AND state = 'queued'",
                    "sss", agent, now, id));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ECONFLICT;
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = sq_run_get_db(db, id, &run);
    if (rc == MT_OK)
        rc = sq_event(db, "run.started", run);
    rc = sq_end(db, rc);
    sq_wunlock(s);
    if (rc == MT_OK && out)
        *out = run;
    else
        json_decref(run);
    return rc;
}

/* Does the run's baseline verdict (docs/analysis.md) say it regressed? */
static int sq_regressed(const json_t *run)
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

/* at_last: ended_at is the end of the run's last stored second (started_at when none), not
 * now (an interrupted run ended when its data ends, not when the server came back). */
static int sq_finish_db(sqlite3 *db, const char *id, const char *state, const char *reason,
                        const char *summary_json, const char *verdicts_json, int at_last,
                        json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    /* the run is over: so are the parts of its agents that were still in progress */
    int rc = sq_run(db, sq_prep(db,
                                "UPDATE run_agents SET state = 'ended', updated_at = ?1 "
                                "WHERE run_id = ?2 AND state IN ('preparing','ready','running') "
                                "AND EXISTS (SELECT 1 FROM runs WHERE id = ?2 AND state IN "
                                "('queued','running'))",
                                "ss", now, id));
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "UPDATE runs SET state = ?, reason = ?, ended_at = ?, "
                                "summary_json = coalesce(?, summary_json), "
                                "verdicts_json = coalesce(?, verdicts_json), "
                                "seconds = (SELECT count(*) FROM run_seconds WHERE run_id = ?6 "
                                "AND tag = '') WHERE id = ?6 AND state IN ('queued','running')",
                                "ssssss", state, reason, now, summary_json, verdicts_json, id));
    if (rc == MT_OK && at_last && sqlite3_changes(db) > 0)
        rc = sq_run(db, sq_prep(db,
                                "UPDATE runs SET ended_at = coalesce(strftime('%Y-%m-%dT%H:%M:%fZ',"
                                " started_at, '+' || (SELECT max(second) + 1 FROM run_seconds "
                                "WHERE run_id = ?1 AND tag = '') || ' seconds'), started_at, "
                                "ended_at) WHERE id = ?1",
                                "s", id));
    if (rc == MT_OK && sqlite3_changes(db) == 0) {
        rc = sq_one(db, sq_prep(db, "SELECT id FROM runs WHERE id = ?", "s", id), NULL);
        if (rc == MT_OK)
            rc = MT_ECONFLICT;
    }
    json_t *run = NULL;
    if (rc == MT_OK)
        rc = sq_run_get_db(db, id, &run);
    if (rc == MT_OK && strcmp(state, "stopped") == 0)
        rc = sq_event(db, "run.stopped", run);
    if (rc == MT_OK)
        rc = sq_event(db, "run.finished", run);
    if (rc == MT_OK && sq_regressed(run))
        rc = sq_event(db, "run.regressed", run);
    if (rc == MT_OK && out)
        *out = run;
    else
        json_decref(run);
    return rc;
}

static int sq_run_finish(mt__store_t *s, const char *id, const char *state, const char *reason,
                         const char *summary_json, const char *verdicts_json, json_t **out)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    if (rc == MT_OK)
        rc = sq_finish_db(db, id, state, reason, summary_json, verdicts_json, 0, out);
    rc = sq_end(db, rc);
    sq_wunlock(s);
    return rc;
}

static int sq_run_append_second(mt__store_t *s, const char *run_id, uint32_t second,
                                const mt__agg_row_t *rows, size_t n)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    sqlite3_stmt *st = NULL;
    if (rc == MT_OK && sqlite3_prepare_v2(db,
                                          "INSERT OR REPLACE INTO run_seconds(run_id,second,tag,"
                                          "data_json,latency_b64,service_b64) "
                                          "VALUES(?,?,?,?,?,?)",
                                          -1, &st, NULL) != SQLITE_OK) {
        sq_log(db, "prepare run_seconds");
        rc = MT_ESYS;
    }
    for (size_t i = 0; rc == MT_OK && i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, second);
        sqlite3_bind_text(st, 3, rows[i].tag ? rows[i].tag : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, rows[i].data_json ? rows[i].data_json : "{}", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rows[i].latency_b64 ? rows[i].latency_b64 : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, rows[i].service_b64 ? rows[i].service_b64 : "", -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r != SQLITE_DONE) {
            sq_log(db, "insert run_seconds");
            rc = r == SQLITE_CONSTRAINT ? MT_ENOTFOUND : MT_ESYS;
        }
    }
    sqlite3_finalize(st);
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "UPDATE runs SET seconds = (SELECT count(*) FROM run_seconds "
                                "WHERE run_id = ?1 AND tag = '') WHERE id = ?1",
                                "s", run_id));
    /* a merged second is complete: every agent still running the run has sent it */
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "UPDATE run_agents SET last_second = ?2 WHERE run_id = ?1 AND "
                                "state = 'running' AND coalesce(last_second, -1) < ?2",
                                "si", run_id, (int64_t)second));
    rc = sq_end(db, rc);
    sq_wunlock(s);
    return rc;
}

void mt__store_rows_dispose(mt__store_rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->rows[i].tag);
        free((char *)r->rows[i].data_json);
        free((char *)r->rows[i].latency_b64);
        free((char *)r->rows[i].service_b64);
    }
    free(r->rows);
    free(r->second);
    memset(r, 0, sizeof *r);
}

static char *sq_col_dup(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return strdup(v ? v : "");
}

static int sq_run_rows(mt__store_t *s, const char *run_id, const char *tag, int64_t from,
                       int64_t to, mt__store_rows_t *out)
{
    memset(out, 0, sizeof *out);
    sq_conn_t *c = sq_rlock(s);
    sqlite3_stmt *st = sq_prep(c->db,
                               "SELECT second, tag, data_json, latency_b64, service_b64 FROM "
                               "run_seconds WHERE run_id = ? AND second BETWEEN ? AND ? AND "
                               "(?4 IS NULL OR tag = ?4) ORDER BY second, tag",
                               "siis", run_id, from, to, tag);
    int rc = st ? MT_OK : MT_ESYS, r;
    size_t cap = 0;
    while (rc == MT_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            mt__agg_row_t *nr = realloc(out->rows, cap * sizeof *nr);
            uint32_t *ns = nr ? realloc(out->second, cap * sizeof *ns) : NULL;
            if (nr)
                out->rows = nr;
            if (ns)
                out->second = ns;
            if (nr == NULL || ns == NULL) {
                rc = MT_ENOMEM;
                break;
            }
        }
        out->second[out->n] = (uint32_t)sqlite3_column_int64(st, 0);
        out->rows[out->n] = (mt__agg_row_t){sq_col_dup(st, 1), sq_col_dup(st, 2), sq_col_dup(st, 3),
                                            sq_col_dup(st, 4)};
        out->n++;
    }
    if (rc == MT_OK && r != SQLITE_DONE) {
        sq_log(c->db, "select run_seconds");
        rc = MT_ESYS;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&c->mu);
    if (rc != MT_OK)
        mt__store_rows_dispose(out);
    return rc;
}

static int sq_run_series(mt__store_t *s, const char *run_id, const char *tag, int64_t from,
                         int64_t to, char **json, size_t *len)
{
    sq_conn_t *c = sq_rlock(s);
    /* the run's existence and its rows in one statement (one read snapshot) */
    sqlite3_stmt *st = sq_prep(c->db,
                               "SELECT json_object('run_id', r.id, 'items', json('[' || "
                               "coalesce((SELECT group_concat(data_json, ',') FROM (SELECT "
                               "data_json FROM run_seconds WHERE run_id = r.id AND second "
                               "BETWEEN ?2 AND ?3 AND tag = ?4 ORDER BY second)), '') || ']')) "
                               "FROM runs r WHERE r.id = ?1",
                               "siis", run_id, from, to, tag ? tag : "");
    int rc = st ? MT_OK : MT_ESYS;
    if (st) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(st, 0);
            *len = (size_t)sqlite3_column_bytes(st, 0);
            *json = v ? malloc(*len + 1) : NULL;
            if (*json == NULL)
                rc = MT_ENOMEM;
            else
                memcpy(*json, v, *len + 1);
        } else if (r == SQLITE_DONE) {
            rc = MT_ENOTFOUND;
        } else {
            sq_log(c->db, "series");
            rc = MT_ESYS;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int sq_run_set_loss(mt__store_t *s, const char *id, uint32_t lost, const char *reason)
{
    sqlite3 *db = sq_wlock(s);
    int rc =
        sq_run(db, sq_prep(db, "UPDATE runs SET lost_seconds = ?, loss_reason = ? WHERE id = ?",
                           "iss", (int64_t)lost, reason, id));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ENOTFOUND;
    sq_wunlock(s);
    return rc;
}

static int sq_run_set_summary(mt__store_t *s, const char *id, const char *summary_json)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(
        db, sq_prep(db, "UPDATE runs SET summary_json = ? WHERE id = ?", "ss", summary_json, id));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ENOTFOUND;
    sq_wunlock(s);
    return rc;
}

static int sq_run_recover(mt__store_t *s, const char *reason, size_t *n)
{
    sqlite3 *db = sq_wlock(s);
    json_t *ids = NULL;
    int rc = sq_all(db, sq_prep(db, "SELECT id FROM runs WHERE state = 'running'", NULL), &ids);
    *n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        /* one transaction per run: what one run recovers never waits on another */
        int r = sq_begin(db);
        if (r == MT_OK)
            r = sq_finish_db(db, id, "interrupted", reason, NULL, NULL, 1, NULL);
        r = sq_end(db, r);
        if (r == MT_OK)
            (*n)++;
        else
            rc = r;
    }
    sq_wunlock(s);
    json_decref(ids);
    return rc;
}

static int sq_run_counts(mt__store_t *s, json_t **out, int64_t *outbox_pending)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL, *p = NULL;
    int rc = sq_all(
        c->db, sq_prep(c->db, "SELECT state, count(*) AS n FROM runs GROUP BY state", NULL), &rows);
    if (rc == MT_OK)
        rc = sq_one(
            c->db,
            sq_prep(c->db, "SELECT count(*) AS n FROM deliveries WHERE state = 'pending'", NULL),
            &p);
    pthread_mutex_unlock(&c->mu);
    if (rc != MT_OK) {
        json_decref(rows);
        return rc;
    }
    json_t *o = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
        json_object_set(o, json_string_value(json_object_get(v, "state")), json_object_get(v, "n"));
    *outbox_pending = json_integer_value(json_object_get(p, "n"));
    json_decref(rows);
    json_decref(p);
    *out = o;
    return MT_OK;
}

/* ---- a run's agents -------------------------------------------------------------------- */

static int sq_run_agent_state_ok(const char *st)
{
    static const char *const states[] = {"preparing", "ready",   "running", "ended",
                                         "lost",      "refused", NULL};
    for (const char *const *p = states; *p; p++)
        if (strcmp(st, *p) == 0)
            return 1;
    return 0;
}

static int sq_run_agent_put(mt__store_t *s, const char *run_id, const mt__store_run_agent_t *a)
{
    if (a == NULL || a->name == NULL || (a->state && !sq_run_agent_state_ok(a->state)))
        return MT_EINVAL;
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    sqlite3 *db = sq_wlock(s);
    sqlite3_stmt *st =
        sq_prep(db,
                "INSERT INTO run_agents(run_id,name,idx,share_json,state,reason,clock_offset_us,"
                "start_skew_us,last_second,updated_at) VALUES(?1,?2,coalesce(?3,0),?4,"
                "coalesce(?5,'preparing'),?6,?7,?8,?9,?10) ON CONFLICT(run_id,name) DO UPDATE SET "
                "idx = coalesce(?3, idx), share_json = coalesce(?4, share_json), "
                "state = coalesce(?5, state), reason = coalesce(?6, reason), "
                "clock_offset_us = coalesce(?7, clock_offset_us), "
                "start_skew_us = coalesce(?8, start_skew_us), "
                "last_second = coalesce(?9, last_second), updated_at = ?10",
                "ss", run_id, a->name);
    if (st) {
        const int64_t nums[] = {a->index, a->clock_offset_us, a->start_skew_us, a->last_second};
        const int cols[] = {3, 7, 8, 9};
        for (int i = 0; i < 4; i++)
            if (nums[i] == MT_STORE_KEEP)
                sqlite3_bind_null(st, cols[i]);
            else
                sqlite3_bind_int64(st, cols[i], nums[i]);
        const char *texts[] = {a->share_json, a->state, a->reason, now};
        const int tcols[] = {4, 5, 6, 10};
        for (int i = 0; i < 4; i++)
            if (texts[i])
                sqlite3_bind_text(st, tcols[i], texts[i], -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, tcols[i]);
    }
    int rc = sq_run(db, st);
    sq_wunlock(s);
    return rc;
}

static int sq_run_agents_list(mt__store_t *s, const char *run_id, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *row = NULL;
    int rc = sq_one(c->db, sq_prep(c->db, "SELECT id FROM runs WHERE id = ?", "s", run_id), NULL);
    if (rc == MT_OK)
        rc = sq_one(
            c->db,
            sq_prep(c->db, "SELECT " SQ_RUN_AGENTS("run_id = ?1") " AS items_json", "s", run_id),
            &row);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = row;
    return rc;
}

/* ---- agents ----------------------------------------------------------------------------- */

static int sq_agent_heartbeat(mt__store_t *s, const char *name, const char *labels_json,
                              int capacity, int active, const char *version, const char *state,
                              int64_t now_ms)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO agents(name,labels_json,capacity,active_runs,"
                                "last_heartbeat,version,state) VALUES(?1,?2,?3,?4,?5,"
                                "coalesce(?6,''),coalesce(?7,'up')) ON CONFLICT(name) DO "
                                "UPDATE SET labels_json=?2, capacity=?3, active_runs=?4, "
                                "last_heartbeat=?5, version=coalesce(?6,version), "
                                "state=coalesce(?7,state)",
                                "ssnniss", name, labels_json ? labels_json : "{}", capacity, active,
                                now_ms, version, state));
    sq_wunlock(s);
    return rc;
}

static int sq_agent_list(mt__store_t *s, int64_t now_ms, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT name, labels_json, capacity, active_runs, "
                            "(SELECT json_group_array(run_id) FROM (SELECT run_id FROM "
                            "run_agents WHERE run_agents.name = agents.name AND state IN "
                            "('preparing','ready','running') ORDER BY run_id)) AS runs_json, "
                            "version, CASE WHEN state = 'stopped' THEN 'stopped' WHEN "
                            "last_heartbeat <= ? THEN 'down' ELSE state END AS state, "
                            "strftime('%Y-%m-%dT%H:%M:%fZ', last_heartbeat / 1000.0, "
                            "'unixepoch') AS last_heartbeat FROM agents ORDER BY name",
                            "i", now_ms - 10000),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = json_pack("{s:o}", "items", rows);
    return rc;
}

/* ---- schedules -------------------------------------------------------------------------- */

#define SQ_SCHED_COLS                                                                              \
    "SELECT id, test_id, cron, policy, enabled AS enabled_bool, CASE WHEN enabled = 1 AND "        \
    "next_fire_at > 0 THEN next_fire_at END AS next_fire_at_unix, last_fire_at AS "                \
    "last_fire_at_unix, created_at, updated_at FROM "                                              \
    "schedules "

static int sq_sched_check_test(sqlite3 *db, const json_t *body)
{
    int rc = sq_one(db,
                    sq_prep(db, "SELECT id FROM tests WHERE id = ? AND deleted = 0", "s",
                            sq_str(body, "test_id", "")),
                    NULL);
    return rc == MT_ENOTFOUND ? MT_EINVAL : rc;
}

static int sq_sched_create(mt__store_t *s, const json_t *body, int64_t next_fire_at, json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    json_t *en = json_object_get(body, "enabled");
    sqlite3 *db = sq_wlock(s);
    int rc = sq_sched_check_test(db, body);
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "INSERT INTO schedules(id,test_id,cron,policy,enabled,"
                                "next_fire_at,created_at,updated_at) VALUES(?,?,?,?,?,?,?,?)",
                                "ssssniss", id, sq_str(body, "test_id", ""),
                                sq_str(body, "cron", ""), sq_str(body, "policy", "skip"),
                                en ? json_is_true(en) : 1, next_fire_at, now, now));
    if (rc == MT_OK)
        rc = sq_one(db, sq_prep(db, SQ_SCHED_COLS "WHERE id = ?", "s", id), out);
    sq_wunlock(s);
    return rc;
}

static int sq_sched_update(mt__store_t *s, const char *id, const json_t *body, int64_t next_fire_at,
                           json_t **out)
{
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    json_t *en = json_object_get(body, "enabled");
    sqlite3 *db = sq_wlock(s);
    int rc = sq_one(db, sq_prep(db, "SELECT id FROM schedules WHERE id = ?", "s", id), NULL);
    if (rc == MT_OK)
        rc = sq_sched_check_test(db, body);
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "UPDATE schedules SET test_id = ?, cron = ?, policy = ?, "
                                "enabled = ?, next_fire_at = ?, updated_at = ? WHERE id = ?",
                                "sssniss", sq_str(body, "test_id", ""), sq_str(body, "cron", ""),
                                sq_str(body, "policy", "skip"), en ? json_is_true(en) : 1,
                                next_fire_at, now, id));
    if (rc == MT_OK)
        rc = sq_one(db, sq_prep(db, SQ_SCHED_COLS "WHERE id = ?", "s", id), out);
    sq_wunlock(s);
    return rc;
}

static int sq_sched_get(mt__store_t *s, const char *id, json_t **out)
{
    return sq_read_one(s, out, SQ_SCHED_COLS "WHERE id = ?", "s", id);
}

static int sq_sched_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return sq_list_page(s, SQ_SCHED_COLS "WHERE id < ? ORDER BY id DESC LIMIT ?", pg, out);
}

static int sq_sched_delete(mt__store_t *s, const char *id)
{
    return sq_delete_by_id(s, "DELETE FROM schedules WHERE id = ?", id);
}

/* The scheduler's callbacks (scheduler.h); ud = the store. */
static int sq_sc_list(void *ud, mt__sched_entry_t **out, size_t *n)
{
    mt__store_t *s = ud;
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT s.id, s.test_id, s.cron, s.policy, s.next_fire_at FROM "
                            "schedules s JOIN tests t ON t.id = s.test_id WHERE s.enabled = 1 "
                            "AND t.deleted = 0 ORDER BY s.id",
                            NULL),
                    &rows);
    pthread_mutex_unlock(&c->mu);
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
        e[i].id = strdup(sq_str(r, "id", ""));
        e[i].test_id = strdup(sq_str(r, "test_id", ""));
        e[i].cron = strdup(sq_str(r, "cron", ""));
        e[i].policy = strdup(sq_str(r, "policy", "skip"));
        e[i].next_fire_at = json_integer_value(json_object_get(r, "next_fire_at"));
    }
    json_decref(rows);
    *out = e;
    *n = k;
    return MT_OK;
}

static void sq_sc_free(void *ud, mt__sched_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)e[i].id);
        free((char *)e[i].test_id);
        free((char *)e[i].cron);
        free((char *)e[i].policy);
    }
    free(e);
}

static int sq_sc_has_active(void *ud, const char *schedule_id)
{
    mt__store_t *s = ud;
    json_t *row = NULL;
    int rc = sq_read_one(s, &row,
                         "SELECT id FROM runs WHERE schedule_id = ? AND state IN "
                         "('queued','running') LIMIT 1",
                         "s", schedule_id);
    json_decref(row);
    return rc == MT_OK ? 1 : rc == MT_ENOTFOUND ? 0 : rc;
}

static int sq_sc_fire_event(sqlite3 *db, const char *type, const char *schedule_id,
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
    int rc = sq_event(db, type, d);
    json_decref(d);
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db, "UPDATE schedules SET last_fire_at = ? WHERE id = ?", "is",
                                fire_at, schedule_id));
    return rc;
}

static int sq_sc_enqueue(void *ud, const char *schedule_id, const char *test_id, int64_t fire_at)
{
    mt__store_t *s = ud;
    sqlite3 *db = sq_wlock(s);
    int rc = sq_begin(db);
    json_t *run = NULL;
    json_t *labels = json_pack("{s:s}", "schedule", schedule_id);
    json_t *by = json_pack("{s:s}", "schedule_id", schedule_id);
    if (rc == MT_OK)
        rc = sq_run_insert(db, test_id, NULL, labels, schedule_id, by, &run);
    json_decref(by);
    if (rc == MT_OK)
        rc = sq_sc_fire_event(db, "schedule.fired", schedule_id, test_id, fire_at, run, NULL);
    rc = sq_end(db, rc);
    sq_wunlock(s);
    json_decref(labels);
    json_decref(run);
    return rc;
}

static int sq_sc_skipped(void *ud, const char *schedule_id, int64_t fire_at, const char *reason)
{
    mt__store_t *s = ud;
    sqlite3 *db = sq_wlock(s);
    json_t *row = NULL;
    int rc = sq_one(db, sq_prep(db, "SELECT test_id FROM schedules WHERE id = ?", "s", schedule_id),
                    &row);
    if (rc == MT_OK)
        rc = sq_begin(db);
    if (rc == MT_OK) {
        rc = sq_sc_fire_event(db, "schedule.skipped", schedule_id, sq_str(row, "test_id", ""),
                              fire_at, NULL, reason);
        rc = sq_end(db, rc);
    }
    sq_wunlock(s);
    json_decref(row);
    return rc;
}

static int sq_sc_set_next(void *ud, const char *schedule_id, int64_t next)
{
    mt__store_t *s = ud;
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db, "UPDATE schedules SET next_fire_at = ? WHERE id = ?", "is",
                                next, schedule_id));
    sq_wunlock(s);
    return rc;
}

static const mt__scheduler_ops_t sq_sched_ops = {
    .list = sq_sc_list,
    .free_entries = sq_sc_free,
    .has_active = sq_sc_has_active,
    .enqueue = sq_sc_enqueue,
    .skipped = sq_sc_skipped,
    .set_next = sq_sc_set_next,
};

/* ---- webhooks and the relay ------------------------------------------------------------- */

static int sq_webhook_create(mt__store_t *s, const char *url, const char *secret,
                             const json_t *events, json_t **out)
{
    char id[37], now[32];
    mt__uuid7(id);
    mt__rfc3339(mt__now_ms(), now);
    char *ev = sq_dump(events);
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO webhooks(id,url,secret,events_json,created_at) "
                                "VALUES(?,?,?,?,?)",
                                "sssss", id, url, secret, ev, now));
    sq_wunlock(s);
    free(ev);
    if (rc == MT_OK)
        *out = json_pack("{s:s,s:s,s:O,s:s}", "id", id, "url", url, "events", events, "created_at",
                         now);
    return rc;
}

static int sq_webhook_list(mt__store_t *s, const mt__store_page_t *pg, json_t **out)
{
    return sq_list_page(s,
                        "SELECT id, url, events_json, created_at FROM webhooks WHERE id < ? "
                        "ORDER BY id DESC LIMIT ?",
                        pg, out);
}

static int sq_webhook_delete(mt__store_t *s, const char *id)
{
    return sq_delete_by_id(s, "DELETE FROM webhooks WHERE id = ?", id);
}

static int sq_webhook_deliveries(mt__store_t *s, const char *id, const mt__store_page_t *pg,
                                 json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_one(c->db, sq_prep(c->db, "SELECT id FROM webhooks WHERE id = ?", "s", id), NULL);
    if (rc == MT_OK)
        rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT d.id, d.event_id, e.type AS event_type, d.state, d.attempts, "
                            "d.next_attempt_at AS next_attempt_at_unix, d.last_status, "
                            "d.last_error, d.created_at, d.updated_at FROM deliveries d JOIN "
                            "events e ON e.id = d.event_id WHERE d.webhook_id = ? AND d.id < ? "
                            "ORDER BY d.id DESC LIMIT ?",
                            "ssi", id, sq_cursor(pg), (int64_t)pg->limit + 1),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = sq_page(rows, pg->limit);
    return rc;
}

static int sq_rl_due(void *ud, int64_t now, size_t max, mt__delivery_t **out, size_t *n)
{
    mt__store_t *s = ud;
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db,
                    sq_prep(c->db,
                            /* at most 10 per webhook: a receiver with a long backlog (5 in
                             * flight, the rest waiting) never crowds another's out of a page */
                            "SELECT d.id, w.url, w.secret, d.event_id, e.type, e.body_json AS "
                            "body, d.attempts FROM (SELECT id, webhook_id, event_id, attempts, "
                            "next_attempt_at, row_number() OVER (PARTITION BY webhook_id ORDER "
                            "BY next_attempt_at, id) AS k FROM deliveries WHERE state = "
                            "'pending' AND next_attempt_at <= ?) d JOIN webhooks w ON w.id = "
                            "d.webhook_id JOIN events e ON e.id = d.event_id WHERE d.k <= 10 "
                            "ORDER BY d.next_attempt_at, d.id LIMIT ?",
                            "ii", now, (int64_t)max),
                    &rows);
    pthread_mutex_unlock(&c->mu);
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
        d[i].id = strdup(sq_str(r, "id", ""));
        d[i].url = strdup(sq_str(r, "url", ""));
        d[i].secret = strdup(sq_str(r, "secret", ""));
        d[i].event_id = strdup(sq_str(r, "event_id", ""));
        d[i].event_type = strdup(sq_str(r, "type", ""));
        d[i].body = strdup(sq_str(r, "body", "{}"));
        d[i].attempt = (int)json_integer_value(json_object_get(r, "attempts"));
    }
    json_decref(rows);
    *out = d;
    *n = k;
    return MT_OK;
}

static void sq_rl_free(void *ud, mt__delivery_t *d, size_t n)
{
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

static int sq_rl_record(void *ud, const char *delivery_id, int ok, int status, const char *error,
                        int64_t next_attempt_at)
{
    mt__store_t *s = ud;
    char now[32];
    mt__rfc3339(mt__now_ms(), now);
    const char *state = ok ? "delivered" : next_attempt_at ? "pending" : "failed";
    sqlite3 *db = sq_wlock(s);
    sqlite3_stmt *st = sq_prep(db,
                               "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
                               "next_attempt_at = ?, last_status = ?, last_error = ?, "
                               "updated_at = ? WHERE id = ?",
                               "sinsss", state, next_attempt_at, status, error, now, delivery_id);
    if (st && status == 0)
        sqlite3_bind_null(st, 3);
    int rc = sq_run(db, st);
    sq_wunlock(s);
    return rc;
}

/* ---- several servers (store.h): one server per data directory, so every lease and the
 * leadership are granted; the rows say who runs what (/metrics, docs/serve.md) ---- */

static int sq_lease_take(mt__store_t *s, const char *run_id, const char *owner, int64_t ttl_ms,
                         int *got, char *holder)
{
    int64_t now = mt__now_ms();
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "INSERT INTO run_leases(run_id,owner,expires_at,taken_at) "
                                "VALUES(?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                                "owner = excluded.owner, expires_at = excluded.expires_at, "
                                "taken_at = CASE WHEN run_leases.owner = excluded.owner THEN "
                                "run_leases.taken_at ELSE excluded.taken_at END, "
                                "generation = run_leases.generation + "
                                "(run_leases.owner <> excluded.owner)",
                                "ssii", run_id, owner, now + ttl_ms, now));
    sq_wunlock(s);
    *got = rc == MT_OK;
    if (holder != NULL)
        snprintf(holder, 128, "%s", rc == MT_OK ? owner : "");
    return rc;
}

static int sq_lease_renew(mt__store_t *s, const char *run_id, const char *owner, int64_t ttl_ms)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "UPDATE run_leases SET expires_at = ? WHERE run_id = ? AND "
                                "owner = ?",
                                "iss", mt__now_ms() + ttl_ms, run_id, owner));
    if (rc == MT_OK && sqlite3_changes(db) == 0)
        rc = MT_ECONFLICT;
    sq_wunlock(s);
    return rc;
}

static int sq_lease_release(mt__store_t *s, const char *run_id, const char *owner)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db, "DELETE FROM run_leases WHERE run_id = ? AND owner = ?", "ss",
                                run_id, owner));
    sq_wunlock(s);
    return rc;
}

static int sq_lease_orphans(mt__store_t *s, const char *owner, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT r.id AS id FROM runs r LEFT JOIN run_leases l ON "
                            "l.run_id = r.id WHERE r.state = 'running' AND (l.run_id IS NULL "
                            "OR l.owner <> ? OR l.expires_at < ?) ORDER BY r.id",
                            "si", owner, mt__now_ms()),
                    &rows);
    pthread_mutex_unlock(&c->mu);
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

static int sq_lease_list(mt__store_t *s, json_t **out)
{
    sq_conn_t *c = sq_rlock(s);
    json_t *rows = NULL;
    int rc = sq_all(c->db,
                    sq_prep(c->db,
                            "SELECT l.run_id AS run_id, l.owner AS owner, l.expires_at - ? AS "
                            "expires_in_ms FROM run_leases l JOIN runs r ON r.id = l.run_id "
                            "WHERE r.state = 'running' ORDER BY l.run_id",
                            "i", mt__now_ms()),
                    &rows);
    pthread_mutex_unlock(&c->mu);
    if (rc == MT_OK)
        *out = json_pack("{s:o}", "items", rows);
    return rc;
}

static int sq_leader_try(mt__store_t *s, const char *owner, int *leader)
{
    (void)s;
    (void)owner;
    *leader = 1;
    return MT_OK;
}

static int sq_idem_claim(mt__store_t *s, const char *scope, const char *key, const char *req_hash,
                         int *claimed)
{
    int64_t now = mt__now_ms() / 1000;
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(
        db, sq_prep(db, "DELETE FROM idempotency_keys WHERE created_at <= ?", "i", now - 86400));
    if (rc == MT_OK)
        rc = sq_run(db, sq_prep(db,
                                "INSERT OR IGNORE INTO idempotency_keys(scope,key,request_hash,"
                                "status,content_type,body,created_at) VALUES(?,?,?,0,'','',?)",
                                "sssi", scope, key, req_hash, now));
    *claimed = rc == MT_OK && sqlite3_changes(db) == 1;
    sq_wunlock(s);
    return rc;
}

static int sq_idem_release(mt__store_t *s, const char *scope, const char *key)
{
    sqlite3 *db = sq_wlock(s);
    int rc = sq_run(db, sq_prep(db,
                                "DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND "
                                "status = 0",
                                "ss", scope, key));
    sq_wunlock(s);
    return rc;
}

static const mt__relay_ops_t sq_relay_ops = {
    .due = sq_rl_due,
    .free_due = sq_rl_free,
    .record = sq_rl_record,
};

static const mt__store_ops_t sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .health = sq_health,
    .last_error = sq_last_error,
    .run_set_loss = sq_run_set_loss,
    .token_create = sq_token_create,
    .token_lookup = sq_token_lookup,
    .token_list = sq_token_list,
    .token_delete = sq_token_delete,
    .idem_get = sq_idem_get,
    .idem_put = sq_idem_put,
    .test_create = sq_test_create,
    .test_update = sq_test_update,
    .test_get = sq_test_get,
    .test_list = sq_test_list,
    .test_versions = sq_test_versions,
    .test_delete = sq_test_delete,
    .test_set_baseline = sq_test_set_baseline,
    .test_trend = sq_test_trend,
    .test_history = sq_test_history,
    .test_changes_put = sq_test_changes_put,
    .run_create = sq_run_create,
    .test_find = sq_test_find,
    .run_import_begin = sq_run_import_begin,
    .run_import_source = sq_run_import_source,
    .run_get = sq_run_get,
    .run_list = sq_run_list,
    .run_next_queued = sq_run_next_queued,
    .run_queued_reason = sq_run_queued_reason,
    .run_start = sq_run_start,
    .run_finish = sq_run_finish,
    .run_append_second = sq_run_append_second,
    .run_rows = sq_run_rows,
    .run_series = sq_run_series,
    .run_set_summary = sq_run_set_summary,
    .run_recover = sq_run_recover,
    .run_counts = sq_run_counts,
    .policy_get = sq_policy_get,
    .policy_put = sq_policy_put,
    .run_agent_put = sq_run_agent_put,
    .run_agents_list = sq_run_agents_list,
    .agent_heartbeat = sq_agent_heartbeat,
    .agent_list = sq_agent_list,
    .sched_create = sq_sched_create,
    .sched_update = sq_sched_update,
    .sched_get = sq_sched_get,
    .sched_list = sq_sched_list,
    .sched_delete = sq_sched_delete,
    .webhook_create = sq_webhook_create,
    .webhook_list = sq_webhook_list,
    .webhook_delete = sq_webhook_delete,
    .webhook_deliveries = sq_webhook_deliveries,
    .sched_ops = &sq_sched_ops,
    .relay_ops = &sq_relay_ops,
    .lease_take = sq_lease_take,
    .lease_renew = sq_lease_renew,
    .lease_release = sq_lease_release,
    .lease_orphans = sq_lease_orphans,
    .lease_list = sq_lease_list,
    .leader_try = sq_leader_try,
    .idem_claim = sq_idem_claim,
    .idem_release = sq_idem_release,
};
