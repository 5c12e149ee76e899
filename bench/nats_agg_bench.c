/* mortar-nats-agg-bench: the aggregation path of `mortar serve --nats` under load, without the
 * engine (bench/nats_agg.sh drives it; docs/benchmarks.md).
 *   agg: the server side: the NATS bus with the durable consumer (bus_nats.c), the aggregator
 *        watching run "bench" of N agents, a no-op sink that acknowledges each stored second
 *        (as serve does); prints its CPU per agent-second (getrusage) when the run ends.
 *   pub: N simulated agents on one connection, one snapshot per agent per second (T tags,
 *        HdrHistogram V2 base64, built before the clock starts), published to the JetStream
 *        stream with message ids, paced at one second; then each agent's end.
 * Usage: mortar-nats-agg-bench agg|pub --nats URL [--agents N] [--seconds S] [--tags T] */
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
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

static mt__bus_t *g_bus;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ended;
static uint64_t g_seconds;

static int on_second(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                     size_t n)
{
    (void)ud;
    (void)rows;
    (void)n;
    g_seconds++;
    mt__bus_ack(g_bus, run_id, second);
    return 0;
}

static void on_end(void *ud, const mt__agg_end_t *e)
{
    (void)ud;
    mt__bus_ack(g_bus, e->run_id, UINT32_MAX);
    pthread_mutex_lock(&g_mu);
    g_ended = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
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

/* One agent's snapshot: 1,000 responses spread over the tags (as bench/agg_bench.c). */
static char *make_snapshot(int agent, int ntags, const char *const *names, size_t *len)
{
    mt__snapshot_t s;
    uint32_t seed = 2654435761u * (uint32_t)(agent + 1);
    char *buf = NULL;

    memset(&s, 0, sizeof(s));
    snprintf(s.run_id, sizeof(s.run_id), "bench");
    snprintf(s.agent, sizeof(s.agent), "a%d", agent);
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
        s.c.completed++;
        s.c.sent++;
        s.c.status[200]++;
        s.tags[t].c.completed++;
        s.tags[t].c.sent++;
        s.tags[t].c.status[200]++;
        mt_hist_record(s.latency, lat);
        mt_hist_record(s.service, lat - 100);
        mt_hist_record(s.tags[t].latency, lat);
        mt_hist_record(s.tags[t].service, lat - 100);
    }
    s.c.due = s.c.sent;
    if (mt__snapshot_encode(&s, &buf, len) != MT_OK)
        exit(1);
    mt__snapshot_dispose(&s);
    return buf;
}

int main(int argc, char **argv)
{
    int agents = 100, seconds = 10, ntags = 10;
    const char *url = NULL, *mode = argc > 1 ? argv[1] : "";
    char err[512] = "";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--agents") == 0)
            agents = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tags") == 0)
            ntags = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--nats") == 0)
            url = argv[i + 1];
        else
            mode = "";
    }
    if ((strcmp(mode, "agg") != 0 && strcmp(mode, "pub") != 0) || url == NULL || agents < 1 ||
        agents > 100000 || seconds < 1 || ntags < 1 || ntags > 60) {
        fprintf(stderr, "usage: mortar-nats-agg-bench agg|pub --nats URL [--agents N] "
                        "[--seconds S] [--tags 1..60]\n");
        return 2;
    }
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    const char **names = calloc((size_t)ntags + 1, sizeof(*names));
    size_t clen = 128 + (size_t)ntags * 32;
    char *config = malloc(clen);
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

    mt__nats_opts_t no = {.url = url, .name = mode, .outbox_max = (size_t)agents * 4 + 16};
    if (strcmp(mode, "agg") == 0) {
        static const mt__agg_sink_t sink = {on_second, on_end, NULL};
        mt__agg_t *agg = NULL;
        no.durable = "mortar-serve";
        if (mt__bus_new_nats(&no, &g_bus, err, sizeof err) != MT_OK ||
            mt__agg_new(g_bus, &sink, NULL, &agg) != MT_OK ||
            mt__agg_watch(agg, "bench", config, (unsigned)agents, err, sizeof err) != MT_OK) {
            fprintf(stderr, "mortar-nats-agg-bench: %s\n", err);
            return 1;
        }
        printf("ready\n");
        fflush(stdout);
        double c0 = cpu_s();
        pthread_mutex_lock(&g_mu);
        while (!g_ended)
            pthread_cond_wait(&g_cv, &g_mu);
        pthread_mutex_unlock(&g_mu);
        double cpu = cpu_s() - c0, per = cpu / ((double)agents * seconds) * 1e6;
        uint64_t nsec = 0, nsnap = 0, nrej = 0;
        mt__agg_stats(agg, &nsec, &nsnap, &nrej);
        printf("nats-agg: agents=%d seconds=%d tags=%d snapshots=%llu rejected=%llu "
               "stored_seconds=%llu cpu_s=%.3f cpu_us_per_agent_second=%.1f target=%s\n",
               agents, seconds, ntags, (unsigned long long)nsnap, (unsigned long long)nrej,
               (unsigned long long)g_seconds, cpu, per, per <= 500.0 ? "PASS" : "MISS");
        mt__agg_free(agg);
        mt__bus_free(g_bus);
        return 0;
    }

    /* pub */
    char **snaps = calloc((size_t)agents, sizeof(*snaps));
    size_t *lens = calloc((size_t)agents, sizeof(*lens));
    for (int a = 0; a < agents; a++)
        snaps[a] = make_snapshot(a, ntags, names, &lens[a]);
    if (mt__bus_new_nats(&no, &g_bus, err, sizeof err) != MT_OK) {
        fprintf(stderr, "mortar-nats-agg-bench: %s\n", err);
        return 1;
    }
    double w0 = wall_s();
    int late = 0;
    for (int s = 0; s < seconds; s++) {
        for (int a = 0; a < agents; a++) {
            /* the same document with this second's number */
            char *p = strstr(snaps[a], "\"second\":");
            char *e = p ? strchr(p, ',') : NULL;
            if (p == NULL || e == NULL)
                return 1;
            size_t head = (size_t)(p - snaps[a]);
            char *doc = malloc(lens[a] + 16), id[64];
            size_t n = head;
            memcpy(doc, snaps[a], head);
            n += (size_t)sprintf(doc + n, "\"second\":%d", s);
            memcpy(doc + n, e, lens[a] - (size_t)(e - snaps[a]));
            n += lens[a] - (size_t)(e - snaps[a]);
            snprintf(id, sizeof id, "bench.a%d.%d", a, s);
            while (mt__bus_publish_id(g_bus, "mortar.runs.bench.second", id, doc, n) == MT_ENOMEM)
                mt__bus_flush(g_bus);
            free(doc);
        }
        double next = w0 + s + 1, now = wall_s();
        if (now < next) {
            struct timespec ts = {(time_t)(next - now),
                                  (long)((next - now - (time_t)(next - now)) * 1e9)};
            nanosleep(&ts, NULL);
        } else {
            late++;
        }
    }
    for (int a = 0; a < agents; a++) {
        char body[200], id[64];
        snprintf(body, sizeof body,
                 "{\"run_id\":\"bench\",\"agent\":\"a%d\",\"outcome\":\"completed\","
                 "\"reason\":\"completed\",\"seconds\":%d}",
                 a, seconds);
        snprintf(id, sizeof id, "bench.a%d.end", a);
        mt__bus_publish_id(g_bus, "mortar.runs.bench.end", id, body, strlen(body));
    }
    mt__bus_flush(g_bus);
    printf("nats-pub: agents=%d seconds=%d seconds_late=%d wall_s=%.3f\n", agents, seconds, late,
           wall_s() - w0);
    mt__bus_free(g_bus);
    return 0;
}
