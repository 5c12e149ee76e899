/* mortar-agg-bench: the aggregation path of mortar serve under load, without the engine.
 * N simulated agents each send one snapshot per second (T tags, HdrHistogram V2 base64) over
 * the in-process bus into the aggregator, whose merged rows go to a no-op sink or to SQLite
 * (one transaction per second). Snapshots are built and encoded before the clock starts, so
 * what is measured is what the server pays: bus copies, decoding, merging, verdict-free row
 * building and the sink. Prints CPU per agent-second (getrusage, whole process) and the
 * agent-seconds one core could take. The target: 1,000 agent-seconds per second with
 * 10 tags in under half a core, i.e. at most 500 us of CPU per agent-second.
 *
 * --sink postgresql --store URI: the rows go through the PostgreSQL store's own
 * run_append_second (store_pg.c: one statement per merged second) into a run it creates.
 *
 * Usage: mortar-agg-bench [--agents N] [--seconds S] [--tags T] [--sink none|sqlite|postgresql]
 *                         [--db FILE] [--store URI]
 * bench/agg.sh runs it and prints a line for docs/benchmarks.md. */
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mortar/error.h"
#include "mortar/hist.h"
#include "server/aggregator.h"
#include "server/bus.h"
#include "server/snapshot.h"
#include "server/store.h"

typedef struct bench {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ended;
    uint64_t rows, seconds;
    sqlite3 *db;
    sqlite3_stmt *ins;
    mt__store_t *pg; /* --sink postgresql */
    char pg_run[40]; /* the run it writes to */
} bench_t;

static int on_second(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                     size_t n)
{
    bench_t *b = ud;
    (void)run_id;
    if (b->pg != NULL && b->pg->ops->run_append_second(b->pg, b->pg_run, second, rows, n) != MT_OK)
        return 1;
    if (b->db != NULL) {
        sqlite3_exec(b->db, "BEGIN", NULL, NULL, NULL);
        for (size_t i = 0; i < n; i++) {
            sqlite3_bind_text(b->ins, 1, run_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(b->ins, 2, second);
            sqlite3_bind_text(b->ins, 3, rows[i].tag, -1, SQLITE_STATIC);
            sqlite3_bind_text(b->ins, 4, rows[i].data_json, -1, SQLITE_STATIC);
            sqlite3_bind_text(b->ins, 5, rows[i].latency_b64, -1, SQLITE_STATIC);
            sqlite3_bind_text(b->ins, 6, rows[i].service_b64, -1, SQLITE_STATIC);
            if (sqlite3_step(b->ins) != SQLITE_DONE)
                return 1;
            sqlite3_reset(b->ins);
        }
        if (sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return 1;
    }
    b->rows += n;
    b->seconds++;
    return 0;
}

static void on_end(void *ud, const mt__agg_end_t *e)
{
    bench_t *b = ud;
    (void)e;
    pthread_mutex_lock(&b->mu);
    b->ended = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One agent's snapshot of one second: 1,000 responses spread over the tags. */
__attribute__((noinline)) static char *make_snapshot(int agent, uint32_t second, int ntags,
                                                     const char *const *names, size_t *len)
{
    mt__snapshot_t s;
    uint32_t seed = 2654435761u * (uint32_t)(agent + 1) + second * 40503u;
    char *buf = NULL, name[16];

    memset(&s, 0, sizeof(s));
    snprintf(s.run_id, sizeof(s.run_id), "bench");
    snprintf(name, sizeof(name), "a%d", agent);
    snprintf(s.agent, sizeof(s.agent), "%s", name);
    s.second = second;
    s.span_ns = 1000000000LL;
    s.open_conns = 10;
    s.ntags = (size_t)ntags + 1;
    s.tags = calloc(s.ntags, sizeof(*s.tags));
    if (s.tags == NULL || mt_hist_new_latency(&s.latency) || mt_hist_new_latency(&s.service))
        exit(1);
    for (size_t t = 0; t < s.ntags; t++) {
        s.tags[t].name = strdup(names[t]);
        if (mt_hist_new_latency(&s.tags[t].latency) || mt_hist_new_latency(&s.tags[t].service))
            exit(1);
    }
    for (int i = 0; i < 1000; i++) {
        seed = seed * 1103515245u + 12345u;
        int64_t lat = 200 + (int64_t)(seed >> 8) % 50000;
        size_t t = 1 + (seed >> 3) % (uint32_t)ntags;
        mt__snap_tag_t *tg = &s.tags[t];
        s.c.completed++;
        s.c.sent++;
        s.c.status[200]++;
        tg->c.completed++;
        tg->c.sent++;
        tg->c.status[200]++;
        mt_hist_record(s.latency, lat);
        mt_hist_record(s.service, lat - 100);
        mt_hist_record(tg->latency, lat);
        mt_hist_record(tg->service, lat - 100);
    }
    s.c.due = s.c.sent;
    if (mt__snapshot_encode(&s, &buf, len) != MT_OK)
        exit(1);
    mt__snapshot_dispose(&s);
    return buf;
}

int main(int argc, char **argv)
{
    static const mt__agg_sink_t sink = {on_second, on_end, NULL};
    int agents = 100, seconds = 5, ntags = 10;
    const char *sinkname = "none", *dbpath = ":memory:", *store_uri = NULL;
    char **snaps, err[512], subject[64], *config;
    size_t *lens, clen;
    const char **names;
    mt__bus_t *bus = NULL;
    mt__agg_t *agg = NULL;
    bench_t b;
    double c0, w0, cpu, wall;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--agents") == 0)
            agents = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tags") == 0)
            ntags = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sink") == 0)
            sinkname = argv[i + 1];
        else if (strcmp(argv[i], "--db") == 0)
            dbpath = argv[i + 1];
        else if (strcmp(argv[i], "--store") == 0)
            store_uri = argv[i + 1];
        else {
            fprintf(stderr, "mortar-agg-bench: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (agents < 1 || agents > 100000 || seconds < 1 || ntags < 1 || ntags > 60 ||
        (strcmp(sinkname, "none") != 0 && strcmp(sinkname, "sqlite") != 0 &&
         strcmp(sinkname, "postgresql") != 0) ||
        (strcmp(sinkname, "postgresql") == 0) != (store_uri != NULL)) {
        fprintf(stderr, "usage: mortar-agg-bench [--agents N] [--seconds S] [--tags 1..60] "
                        "[--sink none|sqlite|postgresql] [--db FILE] [--store URI]\n");
        return 2;
    }
    /* what mt__agg_new does for the process, done first so that building the snapshots (one
     * deflate state per histogram) does not churn the heap either */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    if (store_uri != NULL) {
        json_t *cfg = json_pack("{s:s,s:i}", "url", "http://127.0.0.1:9/", "rate", 1), *run = NULL;
        if (mt__store_open_pg(store_uri, NULL, &b.pg, err, sizeof err) != MT_OK ||
            b.pg->ops->run_create(b.pg, NULL, cfg, NULL, NULL, NULL, &run) != MT_OK) {
            fprintf(stderr, "mortar-agg-bench: postgresql: %s\n", err);
            return 1;
        }
        snprintf(b.pg_run, sizeof b.pg_run, "%s", json_string_value(json_object_get(run, "id")));
        json_decref(run);
        json_decref(cfg);
    }
    if (strcmp(sinkname, "sqlite") == 0) {
        if (sqlite3_open(dbpath, &b.db) != SQLITE_OK ||
            sqlite3_exec(b.db,
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         "CREATE TABLE IF NOT EXISTS run_seconds(run_id TEXT, second INTEGER, "
                         "tag TEXT, data_json TEXT, latency_b64 TEXT, service_b64 TEXT, "
                         "PRIMARY KEY(run_id, second, tag)); DELETE FROM run_seconds;",
                         NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(b.db, "INSERT INTO run_seconds VALUES(?,?,?,?,?,?)", -1, &b.ins,
                               NULL) != SQLITE_OK) {
            fprintf(stderr, "mortar-agg-bench: sqlite: %s\n", sqlite3_errmsg(b.db));
            return 1;
        }
    }

    /* the run config: one uri per tag, so the run has these tags */
    names = calloc((size_t)ntags + 1, sizeof(*names));
    clen = 128 + (size_t)ntags * 32;
    config = malloc(clen);
    if (names == NULL || config == NULL)
        return 1;
    names[0] = "";
    size_t at =
        (size_t)snprintf(config, clen, "{\"url\":\"http://127.0.0.1:9/\",\"rate\":1,\"uri\":[");
    for (int t = 0; t < ntags; t++) {
        char *nm = malloc(16);
        snprintf(nm, 16, "t%d", t);
        names[t + 1] = nm;
        at += (size_t)snprintf(config + at, clen - at, "%s\"/ %s\"", t ? "," : "", nm);
    }
    snprintf(config + at, clen - at, "]}");

    snaps = calloc((size_t)agents * (size_t)seconds, sizeof(*snaps));
    lens = calloc((size_t)agents * (size_t)seconds, sizeof(*lens));
    if (snaps == NULL || lens == NULL)
        return 1;
    /* one encoding per agent (histogram encoding is slow); the other seconds are the same
     * document with another "second" */
    for (int a = 0; a < agents; a++) {
        size_t len0;
        char *first = make_snapshot(a, 0, ntags, names, &len0);
        char *at0 = strstr(first, "\"second\":0,");
        if (at0 == NULL)
            return 1;
        for (int s = 0; s < seconds; s++) {
            size_t k = (size_t)s * (size_t)agents + (size_t)a, head = (size_t)(at0 - first);
            char *doc = malloc(len0 + 16);
            if (doc == NULL)
                return 1;
            memcpy(doc, first, head);
            lens[k] = head + (size_t)sprintf(doc + head, "\"second\":%d,", s);
            memcpy(doc + lens[k], at0 + 11, len0 - head - 11 + 1);
            lens[k] += len0 - head - 11;
            snaps[k] = doc;
        }
        free(first);
    }

    if (mt__bus_new_inproc(&bus) != MT_OK || mt__agg_new(bus, &sink, &b, &agg) != MT_OK ||
        mt__agg_watch(agg, "bench", config, (unsigned)agents, err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "mortar-agg-bench: setup: %s\n", err);
        return 1;
    }

    c0 = cpu_s();
    w0 = wall_s();
    snprintf(subject, sizeof(subject), "mortar.runs.bench.second");
    for (int s = 0; s < seconds; s++) {
        for (int a = 0; a < agents; a++) {
            size_t k = (size_t)s * (size_t)agents + (size_t)a;
            while (mt__bus_publish(bus, subject, snaps[k], lens[k]) == MT_ENOMEM)
                mt__bus_flush(bus); /* the queue is full: let the aggregator catch up */
        }
    }
    for (int a = 0; a < agents; a++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"run_id\":\"bench\",\"agent\":\"a%d\",\"outcome\":\"completed\","
                 "\"reason\":\"completed\",\"seconds\":%d}",
                 a, seconds);
        mt__bus_publish(bus, "mortar.runs.bench.end", body, strlen(body));
    }
    pthread_mutex_lock(&b.mu);
    while (!b.ended)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    cpu = cpu_s() - c0;
    wall = wall_s() - w0;

    {
        uint64_t nsec = 0, nsnap = 0, nrej = 0;
        double per = cpu / ((double)agents * seconds) * 1e6;
        mt__agg_stats(agg, &nsec, &nsnap, &nrej);
        printf("agg-bench: agents=%d seconds=%d tags=%d sink=%s snapshots=%llu rejected=%llu "
               "rows=%llu cpu_s=%.3f wall_s=%.3f cpu_us_per_agent_second=%.1f "
               "agent_seconds_per_core_second=%.0f half_core_target=%s\n",
               agents, seconds, ntags, sinkname, (unsigned long long)nsnap,
               (unsigned long long)nrej, (unsigned long long)b.rows, cpu, wall, per,
               per > 0 ? 1e6 / per : 0, per <= 500.0 ? "PASS" : "MISS");
    }
    if (b.pg != NULL)
        printf("agg-bench: postgresql run %s\n", b.pg_run);
    mt__agg_free(agg);
    mt__bus_free(bus);
    if (b.pg != NULL)
        b.pg->ops->close(b.pg);
    if (b.db != NULL) {
        sqlite3_finalize(b.ins);
        sqlite3_close(b.db);
    }
    for (size_t k = 0; k < (size_t)agents * (size_t)seconds; k++)
        free(snaps[k]);
    free(snaps);
    free(lens);
    for (int t = 1; t <= ntags; t++)
        free((char *)names[t]);
    free(names);
    free(config);
    return 0;
}
