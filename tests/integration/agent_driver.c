/* Test-only driver for test_agent_run.sh: runs a run config through N in-process agents, the
 * bus and the aggregator (what `mortar serve` does), and prints what the store would have
 * received as one JSON object on stdout:
 *   {"state","reason","seconds","heartbeats","rows":{"sent","completed","errors","bytes_in",
 *    "status":{...},"hist_count"},"tags":{"api":completed,...},"summary":{...},"verdicts":[...]}
 * Usage: mortar-agent-driver CONFIG_JSON [AGENTS [STOP_AFTER_SECONDS]]
 * Exit 0 when the run ended (whatever its state), 2 for bad arguments, 1 on a timeout. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/error.h"
#include "mortar/hist.h"
#include "server/agent.h"
#include "server/aggregator.h"
#include "server/bus.h"

typedef struct drv {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mt__bus_t *bus;
    json_t *rows, *status, *tags;
    uint64_t sent, completed, errors, bytes_in, hist_count;
    uint32_t seconds, stop_after;
    int heartbeats;
    bool ended, stop_sent;
    json_t *out;
} drv_t;

static void add_u(json_t *o, const char *k, json_int_t v)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + v));
}

static int on_second(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                     size_t n)
{
    drv_t *d = ud;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(rows[i].data_json, 0, NULL);
        if (i == 0) {
            const char *k;
            json_t *v;
            mt_hist_t *h = NULL;
            d->sent += (uint64_t)json_integer_value(json_object_get(o, "sent"));
            d->completed += (uint64_t)json_integer_value(json_object_get(o, "completed"));
            d->errors += (uint64_t)json_integer_value(json_object_get(o, "errors"));
            d->bytes_in += (uint64_t)json_integer_value(json_object_get(o, "bytes_in"));
            json_object_foreach(json_object_get(o, "status"), k, v)
                add_u(d->status, k, json_integer_value(v));
            if (mt_hist_decode(rows[0].latency_b64, strlen(rows[0].latency_b64), &h) == MT_OK)
                d->hist_count += mt_hist_count(h);
            mt_hist_free(h);
        } else {
            add_u(d->tags, rows[i].tag, json_integer_value(json_object_get(o, "completed")));
        }
        json_decref(o);
    }
    d->seconds++;
    if (d->stop_after > 0 && d->seconds >= d->stop_after && !d->stop_sent) {
        char subject[96];
        snprintf(subject, sizeof(subject), "mortar.runs.%s.control", run_id);
        mt__bus_publish(d->bus, subject, "{\"stop\":\"stopped by API\"}", 25);
        d->stop_sent = true;
    }
    pthread_mutex_unlock(&d->mu);
    (void)second;
    return 0;
}

static void on_end(void *ud, const mt__agg_end_t *e)
{
    drv_t *d = ud;
    json_t *rows;
    pthread_mutex_lock(&d->mu);
    rows = json_pack("{s:I, s:I, s:I, s:I, s:O, s:I}", "sent", (json_int_t)d->sent, "completed",
                     (json_int_t)d->completed, "errors", (json_int_t)d->errors, "bytes_in",
                     (json_int_t)d->bytes_in, "status", d->status, "hist_count",
                     (json_int_t)d->hist_count);
    d->out = json_pack("{s:s, s:s, s:i, s:i, s:o, s:O, s:o, s:o}", "state", e->state, "reason",
                       e->reason, "seconds", (int)e->seconds, "heartbeats", d->heartbeats, "rows",
                       rows, "tags", d->tags, "summary", json_loads(e->summary_json, 0, NULL),
                       "verdicts", json_loads(e->verdicts_json, 0, NULL));
    d->ended = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void on_heartbeat(const char *subject, const void *msg, size_t len, void *ud)
{
    drv_t *d = ud;
    (void)subject;
    (void)msg;
    (void)len;
    pthread_mutex_lock(&d->mu);
    d->heartbeats++;
    pthread_mutex_unlock(&d->mu);
}

int main(int argc, char **argv)
{
    static const mt__agg_sink_t sink = {on_second, on_end, NULL};
    mt__agent_t *agents[16] = {0};
    mt__agg_t *agg = NULL;
    drv_t d;
    char err[512];
    int nagents = argc > 2 ? atoi(argv[2]) : 1, code = 1;
    struct timespec deadline;

    if (argc < 2 || nagents < 1 || nagents > 16) {
        fprintf(stderr, "usage: mortar-agent-driver CONFIG_JSON [AGENTS [STOP_AFTER]]\n");
        return 2;
    }
    memset(&d, 0, sizeof(d));
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    d.status = json_object();
    d.tags = json_object();
    d.stop_after = argc > 3 ? (uint32_t)atoi(argv[3]) : 0;
    if (mt__agent_check_config(argv[1], err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "bad config: %s\n", err);
        json_decref(d.status);
        json_decref(d.tags);
        return 2;
    }
    if (mt__bus_new_inproc(&d.bus) != MT_OK ||
        mt__bus_subscribe(d.bus, "mortar.agents.", on_heartbeat, &d) != MT_OK ||
        mt__agg_new(d.bus, &sink, &d, &agg) != MT_OK) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    if (mt__agg_watch(agg, "run1", argv[1], (unsigned)nagents, err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "watch: %s\n", err);
        return 2;
    }
    for (int i = 0; i < nagents; i++) {
        char name[16];
        mt__agent_info_t info = {name, "{\"zone\":\"test\"}", 1, NULL, NULL, NULL};
        snprintf(name, sizeof(name), "agent%d", i);
        if (mt__agent_new(&info, d.bus, &agents[i]) != MT_OK) {
            fprintf(stderr, "agent %d: cannot start\n", i);
            return 1;
        }
    }
    for (int i = 0; i < nagents; i++)
        if (mt__agent_start(agents[i], "run1", argv[1], err, sizeof(err)) != MT_OK) {
            fprintf(stderr, "start: %s\n", err);
            return 2;
        }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 300;
    pthread_mutex_lock(&d.mu);
    while (!d.ended)
        if (pthread_cond_timedwait(&d.cv, &d.mu, &deadline) != 0)
            break;
    if (d.ended) {
        char *text = json_dumps(d.out, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        code = 0;
    } else {
        fprintf(stderr, "timed out waiting for the end of the run\n");
    }
    pthread_mutex_unlock(&d.mu);
    for (int i = 0; i < nagents; i++)
        mt__agent_free(agents[i]);
    mt__bus_flush(d.bus);
    mt__agg_free(agg);
    mt__bus_free(d.bus);
    json_decref(d.out);
    json_decref(d.status);
    json_decref(d.tags);
    return code;
}
