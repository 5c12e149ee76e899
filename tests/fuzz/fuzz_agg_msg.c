/* libFuzzer driver for the aggregator's message handling (src/server/aggregator.c): bus
 * messages from agents are outside input. The first byte picks the subject (s: the run's
 * .second, e: its .end, anything else: another subject), the rest is the message. One
 * aggregator lives across inputs, watching run "r1" (one agent, tags, an autostop criterion
 * and a threshold, so merging, rows, verdicts and the end all run); when an end finishes the
 * run it is watched again. Run "r2" is watched with named agents "a" and "b" (watermarks,
 * duplicates; on_agent_loss continue): first byte S and E go to its .second and .end, L
 * declares the agent named by the rest lost. The 3 s limit is off (a constant clock). aggregator.c
 * and snapshot.c are included so they carry the fuzzer's coverage instrumentation. */
#include "server/snapshot.c"

#include "server/aggregator.c"

#define FZ_CONFIG                                                                                  \
    "{\"url\":\"http://127.0.0.1:9/\",\"rate\":1,\"uri\":[\"/a api\",\"/b web\"],"                 \
    "\"autostop\":[\"http(5xx,10%,2s)\",\"quantile(99,100ms,3s,api)\"],"                           \
    "\"threshold\":[\"p(99)<100ms\",\"errors<1%;abortOnFail\"]}"

static mt__bus_t *fz_bus;
static mt__agg_t *fz_agg;

static int fz_second(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                     size_t n)
{
    (void)ud;
    (void)run_id;
    (void)second;
    for (size_t i = 0; i < n; i++)
        if (rows[i].data_json == NULL || rows[i].latency_b64 == NULL)
            __builtin_trap();
    return 0;
}

static void fz_end(void *ud, const mt__agg_end_t *e)
{
    (void)ud;
    if (e->summary_json == NULL || e->verdicts_json == NULL || e->state == NULL)
        __builtin_trap();
}

static int64_t fz_clock(void *ud)
{
    (void)ud;
    return 0;
}

static void fz_watch(void)
{
    char err[512];
    pthread_mutex_lock(&fz_agg->mu);
    bool watched = run_find(fz_agg, "r1", 2) != NULL;
    pthread_mutex_unlock(&fz_agg->mu);
    if (!watched && mt__agg_watch(fz_agg, "r1", FZ_CONFIG, 1, err, sizeof(err)) != MT_OK)
        __builtin_trap();
    pthread_mutex_lock(&fz_agg->mu);
    watched = run_find(fz_agg, "r2", 2) != NULL;
    pthread_mutex_unlock(&fz_agg->mu);
    if (!watched) {
        static const char *const names[2] = {"a", "b"};
        mt__agg_opts_t o = {.on_agent_loss = "continue"};
        if (mt__agg_watch_agents(fz_agg, "r2", FZ_CONFIG, names, 2, &o, err, sizeof(err)) != MT_OK)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const mt__agg_sink_t sink = {fz_second, fz_end, NULL};
    const char *subject;

    if (fz_agg == NULL) {
        mt__log_init(-1, MT_LOG_ERROR); /* no log lines on every rejected input */
        if (mt__bus_new_inproc(&fz_bus) != MT_OK || mt__agg_new(fz_bus, &sink, NULL, &fz_agg))
            __builtin_trap();
        mt__agg_set_clock(fz_agg, fz_clock, NULL);
    }
    if (size < 1 || size > (1u << 20))
        return 0;
    fz_watch();
    if (data[0] == 'L') {
        char name[80];
        size_t n = size - 1 < sizeof(name) - 1 ? size - 1 : sizeof(name) - 1;
        memcpy(name, data + 1, n);
        name[n] = '\0';
        int rc = mt__agg_agent_lost(fz_agg, "r2", name);
        if (rc != MT_OK && rc != MT_ENOTFOUND)
            __builtin_trap();
        return 0;
    }
    subject = data[0] == 's'   ? "mortar.runs.r1.second"
              : data[0] == 'e' ? "mortar.runs.r1.end"
              : data[0] == 'S' ? "mortar.runs.r2.second"
              : data[0] == 'E' ? "mortar.runs.r2.end"
                               : "mortar.runs.r1.control";
    agg_on_msg(subject, data + 1, size - 1, fz_agg);
    return 0;
}
