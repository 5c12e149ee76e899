/* The aggregator on a real in-process bus: snapshots of three simulated agents merge exactly
 * (counters added, histograms equal to one histogram of every value), out-of-order and missing
 * agents, the 3 s limit on a test clock, verdicts (an autostop trip publishes the control
 * stop; a failed threshold fails the run), per-tag rows. Synchronised with mt__bus_flush. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "server/aggregator.h"
#include "server/snapshot.h"

#define S     1000000000LL
#define NTAGS 3
static const char *const tag_names[NTAGS] = {"", "api", "web"};

#include "synth_seconds.h"

#define CONFIG_TAGS                                                                                \
    "{\"url\":\"http://127.0.0.1:9/\",\"rate\":10,\"duration\":\"5s\","                            \
    "\"uri\":[\"/a api\",\"/b web\"]"

/* ---- a sink that keeps what it is given ---- */

typedef struct row_copy {
    char tag[32];
    json_t *data;
    mt_hist_t *lat, *svc;
} row_copy_t;

typedef struct stored {
    uint32_t second;
    row_copy_t rows[8];
    size_t n;
} stored_t;

typedef struct sink {
    stored_t secs[32];
    size_t nsecs;
    bool ended;
    char state[16], reason[400];
    json_t *summary, *verdicts;
    uint32_t seconds;
    char controls[8][200];
    int ncontrols;
    /* a failing store: second refuse_second is refused refuse_times times (-1: none) */
    int64_t refuse_second;
    int refuse_times, refused;
    uint32_t lost;
    char loss_reason[200];
} sink_t;

static int on_second(void *ud, const char *run_id, uint32_t second, const mt__agg_row_t *rows,
                     size_t n)
{
    sink_t *k = ud;
    if ((int64_t)second == k->refuse_second && k->refused < k->refuse_times) {
        k->refused++;
        return MT_ESYS;
    }
    stored_t *s = &k->secs[k->nsecs++];
    (void)run_id;
    assert_true(k->nsecs <= 32 && n <= 8);
    assert_string_equal(rows[0].tag, "");
    s->second = second;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(s->rows[i].tag, sizeof(s->rows[i].tag), "%s", rows[i].tag);
        s->rows[i].data = json_loads(rows[i].data_json, 0, NULL);
        assert_non_null(s->rows[i].data);
        assert_null(json_object_get(s->rows[i].data, "hist"));
        assert_int_equal(
            mt_hist_decode(rows[i].latency_b64, strlen(rows[i].latency_b64), &s->rows[i].lat),
            MT_OK);
        assert_int_equal(
            mt_hist_decode(rows[i].service_b64, strlen(rows[i].service_b64), &s->rows[i].svc),
            MT_OK);
    }
    return 0;
}

static void on_end(void *ud, const mt__agg_end_t *e)
{
    sink_t *k = ud;
    assert_false(k->ended);
    k->ended = true;
    snprintf(k->state, sizeof(k->state), "%s", e->state);
    snprintf(k->reason, sizeof(k->reason), "%s", e->reason);
    k->summary = json_loads(e->summary_json, 0, NULL);
    k->verdicts = json_loads(e->verdicts_json, 0, NULL);
    assert_non_null(k->summary);
    assert_non_null(k->verdicts);
    k->seconds = e->seconds;
    k->lost = e->lost_seconds;
    snprintf(k->loss_reason, sizeof(k->loss_reason), "%s", e->loss_reason ? e->loss_reason : "");
}

static const char *sink_why(void *ud)
{
    (void)ud;
    return "disk full";
}

static void on_control(const char *subject, const void *msg, size_t len, void *ud)
{
    sink_t *k = ud;
    if (strstr(subject, ".control") != NULL && k->ncontrols < 8)
        snprintf(k->controls[k->ncontrols++], 200, "%s %.*s", subject, (int)len, (const char *)msg);
}

static void sink_free(sink_t *k)
{
    for (size_t i = 0; i < k->nsecs; i++)
        for (size_t r = 0; r < k->secs[i].n; r++) {
            json_decref(k->secs[i].rows[r].data);
            mt_hist_free(k->secs[i].rows[r].lat);
            mt_hist_free(k->secs[i].rows[r].svc);
        }
    json_decref(k->summary);
    json_decref(k->verdicts);
}

static _Atomic int64_t now_ns;
static int64_t test_clock(void *ud)
{
    (void)ud;
    return now_ns;
}

typedef struct fx {
    mt__bus_t *bus;
    mt__agg_t *agg;
    sink_t k;
} fx_t;

static void fx_init(fx_t *f)
{
    static const mt__agg_sink_t sk = {on_second, on_end, sink_why};
    memset(f, 0, sizeof(*f));
    f->k.refuse_second = -1;
    now_ns = 1000 * S;
    assert_int_equal(mt__bus_new_inproc(&f->bus), MT_OK);
    assert_int_equal(mt__bus_subscribe(f->bus, "mortar.runs.", on_control, &f->k), MT_OK);
    assert_int_equal(mt__agg_new(f->bus, &sk, &f->k, &f->agg), MT_OK);
    mt__agg_set_clock(f->agg, test_clock, NULL);
}

static void fx_free(fx_t *f)
{
    mt__agg_free(f->agg);
    mt__bus_free(f->bus);
    sink_free(&f->k);
}

/* ---- simulated agents ---- */

static void publish_sec(fx_t *f, const char *run, const char *agent, sec_t *x)
{
    mt__snapshot_t snap;
    char subject[96], *buf;
    size_t len;
    assert_int_equal(mt__snapshot_from_second(&snap, run, agent, &x->s, tag_names, NTAGS), MT_OK);
    assert_int_equal(mt__snapshot_encode(&snap, &buf, &len), MT_OK);
    snprintf(subject, sizeof(subject), "mortar.runs.%s.second", run);
    assert_int_equal(mt__bus_publish(f->bus, subject, buf, len), MT_OK);
    free(buf);
    mt__snapshot_dispose(&snap);
}

static void publish_end(fx_t *f, const char *run, const char *agent, const char *outcome,
                        const char *reason)
{
    char subject[96], body[400];
    snprintf(subject, sizeof(subject), "mortar.runs.%s.end", run);
    snprintf(body, sizeof(body),
             "{\"run_id\":\"%s\",\"agent\":\"%s\",\"outcome\":\"%s\",\"reason\":\"%s\","
             "\"seconds\":3}",
             run, agent, outcome, reason);
    assert_int_equal(mt__bus_publish(f->bus, subject, body, strlen(body)), MT_OK);
}

/* Agent a's second sec: deterministic pseudo-random latencies, also recorded in combined
 * (everything of that second) and ctag[tag] (per tag). */
static void make_sec(sec_t *x, int a, uint32_t sec, mt_hist_t *combined, mt_hist_t **ctag,
                     mt_counters_t *csum)
{
    mt_second_t *s = sec_next(x);
    uint32_t seed = 2654435761u * (uint32_t)(a * 131 + (int)sec + 1);
    s->index = sec;
    s->open_conns = 2;
    for (int i = 0; i < 200 + 37 * a; i++) {
        seed = seed * 1103515245u + 12345u;
        int64_t lat = 50 + (int64_t)(seed >> 8) % 200000;
        int tag = (int)(seed >> 4) % 3;
        unsigned status = (seed >> 12) % 10 == 0 ? 500 : 200;
        resp(x, tag, status, lat, 1);
        mt_hist_record(combined, lat);
        mt_hist_record(ctag[tag], lat);
    }
    s->c.sent = s->c.due = s->c.completed + 3;
    s->c.errors = s->c.err[MT_ERR_TIMEOUT] = 3;
    s->c.bytes_in = 1000u * (unsigned)(a + 1);
    mt_counters_add(csum, &s->c);
}

static void assert_hist_same(const mt_hist_t *a, const mt_hist_t *b)
{
    assert_int_equal(mt_hist_count(a), mt_hist_count(b));
    assert_int_equal(mt_hist_max(a), mt_hist_max(b));
    assert_int_equal(mt_hist_min(a), mt_hist_min(b));
    for (double p = 1; p <= 100; p += 0.5)
        assert_int_equal(mt_hist_value_at_percentile(a, p), mt_hist_value_at_percentile(b, p));
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *x = json_object_get(o, k);
    assert_true(json_is_integer(x));
    return json_integer_value(x);
}

static void test_three_agents_merge_exactly(void **state)
{
    static const char *const agents[3] = {"a1", "a2", "a3"};
    fx_t f;
    sec_t x[3];
    mt_hist_t *comb[3], *ctag[3][NTAGS], *all;
    mt_counters_t csum[3];
    char err[256];
    (void)state;

    fx_init(&f);
    assert_int_equal(mt__agg_watch(f.agg, "r1", CONFIG_TAGS "}", 3, err, sizeof(err)), MT_OK);
    assert_int_equal(mt_hist_new_latency(&all), MT_OK);
    for (int s = 0; s < 3; s++) {
        assert_int_equal(mt_hist_new_latency(&comb[s]), MT_OK);
        for (int t = 0; t < NTAGS; t++)
            assert_int_equal(mt_hist_new_latency(&ctag[s][t]), MT_OK);
        memset(&csum[s], 0, sizeof(csum[s]));
    }
    for (int a = 0; a < 3; a++)
        sec_init(&x[a]);

    /* second 0 from everyone, in agent order */
    for (int a = 0; a < 3; a++) {
        make_sec(&x[a], a, 0, comb[0], ctag[0], &csum[0]);
        publish_sec(&f, "r1", agents[a], &x[a]);
        mt__bus_flush(f.bus);
        assert_int_equal(f.k.nsecs, a == 2 ? 1 : 0); /* complete only with the third */
    }
    /* across agents, out of order: a3 and a1 send second 1, a1 its second 2 too, then a2
     * sends second 1 (each agent's own snapshots are in order, as the bus keeps them) */
    make_sec(&x[2], 2, 1, comb[1], ctag[1], &csum[1]);
    publish_sec(&f, "r1", agents[2], &x[2]);
    make_sec(&x[0], 0, 1, comb[1], ctag[1], &csum[1]);
    publish_sec(&f, "r1", agents[0], &x[0]);
    sec_t a1s2;
    sec_init(&a1s2);
    make_sec(&a1s2, 0, 2, comb[2], ctag[2], &csum[2]);
    publish_sec(&f, "r1", agents[0], &a1s2);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 1);
    make_sec(&x[1], 1, 1, comb[1], ctag[1], &csum[1]);
    publish_sec(&f, "r1", agents[1], &x[1]);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 2);
    /* second 2: a2 sends it, a3 ends without it (a missing agent) */
    make_sec(&x[1], 1, 2, comb[2], ctag[2], &csum[2]);
    publish_sec(&f, "r1", agents[1], &x[1]);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 2);
    publish_end(&f, "r1", agents[2], "completed", "completed");
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 3);
    publish_end(&f, "r1", agents[0], "completed", "completed");
    publish_end(&f, "r1", agents[1], "completed", "completed");
    mt__bus_flush(f.bus);

    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "passed");
    assert_string_equal(f.k.reason, "completed");
    assert_int_equal(f.k.seconds, 3);
    for (int s = 0; s < 3; s++) {
        stored_t *st = &f.k.secs[s];
        assert_int_equal(st->second, s);
        assert_int_equal(st->n, 3); /* "" + api + web */
        assert_hist_same(st->rows[0].lat, comb[s]);
        assert_hist_same(st->rows[0].svc, comb[s]);
        assert_int_equal(jint(st->rows[0].data, "t"), s);
        assert_int_equal(jint(st->rows[0].data, "completed"), csum[s].completed);
        assert_int_equal(jint(st->rows[0].data, "sent"), csum[s].sent);
        assert_int_equal(jint(st->rows[0].data, "errors"), csum[s].errors);
        assert_int_equal(jint(st->rows[0].data, "bytes_in"), csum[s].bytes_in);
        assert_int_equal(jint(json_object_get(st->rows[0].data, "status"), "500"),
                         csum[s].status[500]);
        assert_int_equal(jint(st->rows[0].data, "open_connections"), s == 2 ? 4 : 6);
        assert_int_equal(jint(json_object_get(st->rows[0].data, "latency_us"), "p99"),
                         mt_hist_value_at_percentile(comb[s], 99));
        assert_string_equal(st->rows[1].tag, "api");
        assert_string_equal(st->rows[2].tag, "web");
        for (int t = 1; t < NTAGS; t++) {
            assert_hist_same(st->rows[t].lat, ctag[s][t]);
            assert_int_equal(jint(st->rows[t].data, "completed"), mt_hist_count(ctag[s][t]));
        }
        mt_hist_add(all, comb[s]);
    }
    /* the summary is over the merged totals */
    assert_int_equal(jint(f.k.summary, "requests"),
                     csum[0].completed + csum[1].completed + csum[2].completed);
    assert_int_equal(jint(json_object_get(f.k.summary, "latency_us"), "p999"),
                     mt_hist_value_at_percentile(all, 99.9));
    assert_non_null(json_object_get(json_object_get(f.k.summary, "tags"), "api"));
    assert_true(json_is_array(f.k.verdicts));
    uint64_t nsec = 0, nsnap = 0, nrej = 0;
    mt__agg_stats(f.agg, &nsec, &nsnap, &nrej);
    assert_int_equal(nsec, 3);
    assert_int_equal(nsnap, 8);
    assert_int_equal(nrej, 0);

    for (int a = 0; a < 3; a++)
        sec_free(&x[a]);
    sec_free(&a1s2);
    for (int s = 0; s < 3; s++) {
        mt_hist_free(comb[s]);
        for (int t = 0; t < NTAGS; t++)
            mt_hist_free(ctag[s][t]);
    }
    mt_hist_free(all);
    fx_free(&f);
}

static void test_timeout_and_rejects(void **state)
{
    fx_t f;
    sec_t x;
    mt_hist_t *comb, *ctag[NTAGS];
    mt_counters_t cs = {0};
    char err[256];
    uint64_t rej = 0;
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(mt_hist_new_latency(&comb), MT_OK);
    for (int t = 0; t < NTAGS; t++)
        assert_int_equal(mt_hist_new_latency(&ctag[t]), MT_OK);
    assert_int_equal(mt__agg_watch(f.agg, "r2", CONFIG_TAGS "}", 2, err, sizeof(err)), MT_OK);
    make_sec(&x, 0, 0, comb, ctag, &cs);
    publish_sec(&f, "r2", "a1", &x);
    mt__bus_flush(f.bus);
    mt__agg_poll(f.agg);
    assert_int_equal(f.k.nsecs, 0);
    now_ns += 3 * S - 1;
    mt__agg_poll(f.agg);
    assert_int_equal(f.k.nsecs, 0);
    now_ns += 1; /* 3 s after the first snapshot of second 0 */
    mt__agg_poll(f.agg);
    assert_int_equal(f.k.nsecs, 1);
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "completed"), cs.completed);

    /* the other agent's second 0 comes too late; a duplicate; a third agent; garbage */
    publish_sec(&f, "r2", "a2", &x);
    make_sec(&x, 0, 1, comb, ctag, &cs);
    publish_sec(&f, "r2", "a1", &x);
    publish_sec(&f, "r2", "a1", &x);
    publish_sec(&f, "r2", "a3", &x);
    assert_int_equal(mt__bus_publish(f.bus, "mortar.runs.r2.second", "{nope", 5), MT_OK);
    assert_int_equal(mt__bus_publish(f.bus, "mortar.runs.zz.second", "{}", 2), MT_OK);
    assert_int_equal(mt__bus_publish(f.bus, "mortar.runs.r2.end", "{\"agent\":7}", 11), MT_OK);
    mt__bus_flush(f.bus);
    mt__agg_stats(f.agg, NULL, NULL, &rej);
    assert_int_equal(rej, 5);
    assert_int_equal(mt__agg_duplicates(f.agg), 1); /* a redelivery is ignored, not an error */
    /* a bad criterion, a duplicate watch */
    assert_int_equal(mt__agg_watch(f.agg, "r3",
                                   CONFIG_TAGS ",\"autostop\":[\"http(5xx,10%,1s,nope)\"]}", 1, err,
                                   sizeof(err)),
                     MT_EINVAL);
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(mt__agg_watch(f.agg, "r2", CONFIG_TAGS "}", 1, err, sizeof(err)),
                     MT_ECONFLICT);
    assert_int_equal(mt__agg_watch(f.agg, "r9", CONFIG_TAGS "}", 1, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__agg_unwatch(f.agg, "r9"), MT_OK);
    assert_int_equal(mt__agg_unwatch(f.agg, "r9"), MT_ENOTFOUND);
    /* an agent that died: the server publishes its end for it */
    assert_int_equal(mt__agg_watch(f.agg, "r8", CONFIG_TAGS "}", 1, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__agg_watch(f.agg, "r4", "{\"rate\":1}", 1, err, sizeof(err)), MT_EINVAL);
    assert_non_null(strstr(err, "URL"));
    assert_int_equal(
        mt__agg_watch(f.agg, "r4", CONFIG_TAGS ",\"json\":\"/tmp/x\"}", 1, err, sizeof(err)),
        MT_EINVAL);
    assert_non_null(strstr(err, "json: not allowed"));
    publish_end(&f, "r2", "a1", "completed", "completed");
    publish_end(&f, "r2", "a2", "error", "cannot set up the run");
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "error");
    assert_non_null(strstr(f.k.reason, "a2: cannot set up the run"));
    f.k.ended = false;
    json_decref(f.k.summary);
    json_decref(f.k.verdicts);
    publish_end(&f, "r8", "gone", "error", "agent down");
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "error");
    assert_string_equal(f.k.reason, "agent gone: agent down");
    assert_int_equal(f.k.nsecs, 2);

    sec_free(&x);
    mt_hist_free(comb);
    for (int t = 0; t < NTAGS; t++)
        mt_hist_free(ctag[t]);
    fx_free(&f);
}

static void test_autostop_publishes_stop(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(mt__agg_watch(f.agg, "r5", CONFIG_TAGS ",\"autostop\":[\"http(5xx,10%,1s)\"]}",
                                   2, err, sizeof(err)),
                     MT_OK);
    /* each agent alone has 5% of 5xx; merged, 10% + 1 response: trips */
    sec_next(&x);
    resp(&x, 1, 200, 1000, 95);
    resp(&x, 1, 503, 1000, 5);
    publish_sec(&f, "r5", "a1", &x);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.ncontrols, 0);
    x.s.index = 0;
    sec_next(&x);
    x.s.index = 0;
    resp(&x, 2, 200, 1000, 84);
    resp(&x, 2, 500, 1000, 16);
    publish_sec(&f, "r5", "a2", &x);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 1);
    assert_int_equal(f.k.ncontrols, 1);
    assert_non_null(strstr(f.k.controls[0], "mortar.runs.r5.control {\"stop\":\"autostop "));
    publish_end(&f, "r5", "a1", "stopped", "autostop");
    publish_end(&f, "r5", "a2", "stopped", "autostop");
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "failed");
    assert_non_null(strstr(f.k.reason, "autostop http(5xx,10%,1s)"));
    json_t *v0 = json_array_get(f.k.verdicts, 0);
    assert_false(json_is_true(json_object_get(v0, "passed")));
    assert_int_equal(jint(v0, "exit_code"), 22);
    sec_free(&x);
    fx_free(&f);
}

static void test_threshold_fails_at_end(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(mt__agg_watch(f.agg, "r6",
                                   CONFIG_TAGS ",\"threshold\":[\"p(99)<2ms\",\"errors<50%\"]}", 1,
                                   err, sizeof(err)),
                     MT_OK);
    sec_next(&x);
    resp(&x, 0, 200, 1000, 90);
    resp(&x, 0, 200, 5000, 10);
    publish_sec(&f, "r6", "a1", &x);
    publish_end(&f, "r6", "a1", "completed", "completed");
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "failed");
    assert_non_null(strstr(f.k.reason, "p(99)<2ms"));
    assert_int_equal(f.k.ncontrols, 0);
    assert_int_equal(json_array_size(f.k.verdicts), 2);
    assert_false(json_is_true(json_object_get(json_array_get(f.k.verdicts, 0), "passed")));
    assert_true(json_is_true(json_object_get(json_array_get(f.k.verdicts, 1), "passed")));
    sec_free(&x);
    fx_free(&f);
}

static void test_stopped_by_api(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(mt__agg_watch(f.agg, "r7", CONFIG_TAGS "}", 1, err, sizeof(err)), MT_OK);
    sec_next(&x);
    resp(&x, 0, 200, 1000, 10);
    publish_sec(&f, "r7", "a1", &x);
    publish_end(&f, "r7", "a1", "stopped", "stopped by API");
    mt__bus_flush(f.bus);
    assert_string_equal(f.k.state, "stopped");
    assert_string_equal(f.k.reason, "stopped by API");
    assert_true(json_is_true(json_object_get(f.k.summary, "interrupted")));
    sec_free(&x);
    fx_free(&f);
}

/* ---- named agents: watermarks, duplicates, loss ---- */

static void pub_n(fx_t *f, sec_t *x, const char *run, const char *agent, uint32_t second,
                  uint64_t n)
{
    sec_next(x);
    x->s.index = second;
    resp(x, 1, 200, 1000 + second, n);
    x->s.c.due = x->s.c.sent = n;
    publish_sec(f, run, agent, x);
}

static void end_n(fx_t *f, const char *run, const char *agent, const char *outcome,
                  unsigned seconds)
{
    char subject[96], body[300];
    snprintf(subject, sizeof(subject), "mortar.runs.%s.end", run);
    snprintf(body, sizeof(body),
             "{\"run_id\":\"%s\",\"agent\":\"%s\",\"outcome\":\"%s\",\"reason\":\"%s\","
             "\"seconds\":%u}",
             run, agent, outcome, outcome, seconds);
    assert_int_equal(mt__bus_publish(f->bus, subject, body, strlen(body)), MT_OK);
}

static const char *const gens[3] = {"gen-1", "gen-2", "gen-3"};

/* An end message of agent with the breakdown histograms given as JSON text (NULL: none). */
static void end_bd(fx_t *f, const char *run, const char *agent, const char *bd)
{
    char subject[96], body[4000];
    snprintf(subject, sizeof(subject), "mortar.runs.%s.end", run);
    snprintf(body, sizeof(body),
             "{\"run_id\":\"%s\",\"agent\":\"%s\",\"outcome\":\"completed\","
             "\"reason\":\"completed\",\"seconds\":1%s%s}",
             run, agent, bd ? ",\"breakdown\":" : "", bd ? bd : "");
    assert_int_equal(mt__bus_publish(f->bus, subject, body, strlen(body)), MT_OK);
}

/* {"connect": H(values), "wait": H(values)} as an end message's breakdown */
static char *bd_text(const int64_t *v, size_t n)
{
    mt_run_result_t r = {0};
    mt_hist_t *c, *w;
    assert_int_equal(mt_hist_new_latency(&c), MT_OK);
    assert_int_equal(mt_hist_new_latency(&w), MT_OK);
    for (size_t i = 0; i < n; i++) {
        mt_hist_record(c, v[i]);
        mt_hist_record(w, 10 * v[i]);
    }
    r.connect = c;
    r.wait = w;
    json_t *o = mt__breakdown_json(&r);
    assert_non_null(o);
    assert_null(json_object_get(o, "tls")); /* none timed: absent */
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    mt_hist_free(c);
    mt_hist_free(w);
    return t;
}

/* The agents' whole-run timing breakdowns (end messages) are merged exactly into the run's
 * summary; a malformed one is ignored (the end still counts), an end without one adds nothing. */
static void test_breakdown_merged_from_ends(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "b1", CONFIG_TAGS "}", gens, 3, NULL, err, sizeof(err)), MT_OK);
    for (int a = 0; a < 3; a++)
        pub_n(&f, &x, "b1", gens[a], 0, 10);
    static const int64_t v1[] = {100, 200, 300}, v2[] = {400, 5000};
    char *b1 = bd_text(v1, 3), *b2 = bd_text(v2, 2);
    end_bd(&f, "b1", "gen-1", b1);
    end_bd(&f, "b1", "gen-2", "{\"connect\":\"not a histogram\"}");
    end_bd(&f, "b1", "gen-3", b2);
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "passed");
    const json_t *bd = json_object_get(f.k.summary, "breakdown_us");
    mt_hist_t *all;
    assert_int_equal(mt_hist_new_latency(&all), MT_OK);
    for (size_t i = 0; i < 3; i++)
        mt_hist_record(all, v1[i]);
    for (size_t i = 0; i < 2; i++)
        mt_hist_record(all, v2[i]);
    assert_int_equal(jint(json_object_get(bd, "connect"), "max"), mt_hist_max(all));
    assert_int_equal(jint(json_object_get(bd, "connect"), "p50"),
                     mt_hist_value_at_percentile(all, 50));
    assert_true(jint(json_object_get(bd, "wait"), "max") >= 50000 - 50000 / 128);
    assert_int_equal(jint(json_object_get(bd, "send"), "max"), 0); /* no agent timed it */
    mt_hist_free(all);
    free(b1);
    free(b2);
    sec_free(&x);
    fx_free(&f);
}

/* Seconds 0..2 of 10 requests each, second 1 refused `times` times by the store; the test
 * clock steps 0.25 s at a time (retries at 0.25, 0.5, 1, 2, 4 s) until the run ends. */
static void run_with_refusals(fx_t *f, const char *run, int times)
{
    sec_t x;
    char err[256];
    sec_init(&x);
    f->k.refuse_second = 1;
    f->k.refuse_times = times;
    assert_int_equal(mt__agg_watch(f->agg, run, CONFIG_TAGS "}", 1, err, sizeof(err)), MT_OK);
    for (uint32_t i = 0; i < 3; i++)
        pub_n(f, &x, run, "a1", i, 10);
    publish_end(f, run, "a1", "completed", "completed");
    mt__bus_flush(f->bus);
    for (int i = 0; i < 200 && !f->k.ended; i++) { /* 50 s of test clock at most */
        now_ns += S / 4;
        mt__agg_poll(f->agg);
    }
    assert_true(f->k.ended);
    sec_free(&x);
}

/* A second the store refuses is retried; lost after its retries, the run says so and does
 * not pass; its summary covers the stored seconds only (what /summary reads back). */
static void test_store_refuses_a_second(void **state)
{
    fx_t f;
    (void)state;
    fx_init(&f);
    run_with_refusals(&f, "r10", 1000);
    assert_int_equal(f.k.refused, 6); /* the first try and 5 retries */
    assert_string_equal(f.k.state, "failed");
    assert_string_equal(f.k.reason, "1 second lost: disk full");
    assert_int_equal(f.k.lost, 1);
    assert_string_equal(f.k.loss_reason, "1 second lost: disk full");
    assert_int_equal(f.k.seconds, 2);
    assert_int_equal(f.k.nsecs, 2);
    assert_int_equal(jint(f.k.summary, "requests"), 20);
    fx_free(&f);

    /* refused twice, then stored: nothing lost, the run passes with every second */
    fx_init(&f);
    run_with_refusals(&f, "r11", 2);
    assert_int_equal(f.k.refused, 2);
    assert_string_equal(f.k.state, "passed");
    assert_int_equal(f.k.lost, 0);
    assert_string_equal(f.k.loss_reason, "");
    assert_int_equal(f.k.seconds, 3);
    assert_int_equal(jint(f.k.summary, "requests"), 30);
    fx_free(&f);
}

/* Snapshots arrive reordered (a later second before an earlier one, an end before the agent's
 * last second) and duplicated (redelivery): each second is stored once, in order, when every
 * agent's watermark passed it, with the exact sum; no timer closes a second of live agents. */
static void test_watermarks_reordered_duplicated(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    uint32_t wm;
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "w1", CONFIG_TAGS "}", gens, 3, NULL, err, sizeof(err)), MT_OK);
    /* gen-1 sends second 1 before second 0; gen-2 and gen-3 send second 1 only */
    pub_n(&f, &x, "w1", "gen-1", 1, 10);
    pub_n(&f, &x, "w1", "gen-2", 1, 20);
    pub_n(&f, &x, "w1", "gen-3", 1, 30);
    pub_n(&f, &x, "w1", "gen-3", 1, 30); /* redelivered */
    pub_n(&f, &x, "w1", "gen-2", 0, 2);
    pub_n(&f, &x, "w1", "gen-3", 0, 3);
    mt__bus_flush(f.bus);
    now_ns += 60 * S; /* no timeout for named agents: gen-1's second 0 is still coming */
    mt__agg_poll(f.agg);
    assert_int_equal(f.k.nsecs, 0);
    assert_int_equal(mt__agg_agent_watermark(f.agg, "w1", "gen-1", &wm), MT_OK);
    assert_int_equal(wm, 0);
    assert_int_equal(mt__agg_agent_watermark(f.agg, "w1", "gen-3", &wm), MT_OK);
    assert_int_equal(wm, 2);
    assert_int_equal(mt__agg_agent_watermark(f.agg, "w1", "nope", &wm), MT_ENOTFOUND);
    pub_n(&f, &x, "w1", "gen-1", 0, 1);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 2); /* both seconds: every watermark is 2 now */
    assert_int_equal(f.k.secs[0].second, 0);
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "completed"), 6);
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "agents"), 3);
    assert_int_equal(f.k.secs[1].second, 1);
    assert_int_equal(jint(f.k.secs[1].rows[0].data, "completed"), 60);
    assert_int_equal(jint(f.k.secs[1].rows[1].data, "agents"), 3); /* tag rows too */
    /* redeliveries of stored seconds, an agent the run does not have */
    pub_n(&f, &x, "w1", "gen-1", 0, 1);
    pub_n(&f, &x, "w1", "gen-2", 1, 20);
    pub_n(&f, &x, "w1", "gen-9", 2, 5);
    /* ends overtake the last seconds: gen-1 and gen-2 sent 3 seconds, gen-3 2 */
    end_n(&f, "w1", "gen-1", "completed", 3);
    end_n(&f, "w1", "gen-2", "completed", 3);
    end_n(&f, "w1", "gen-3", "completed", 2);
    pub_n(&f, &x, "w1", "gen-2", 2, 7);
    mt__bus_flush(f.bus);
    assert_false(f.k.ended);
    assert_int_equal(f.k.nsecs, 2);
    pub_n(&f, &x, "w1", "gen-1", 2, 5);
    pub_n(&f, &x, "w1", "gen-1", 2, 5); /* after the run's end: for a run not watched */
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "passed");
    assert_int_equal(f.k.nsecs, 3);
    assert_int_equal(jint(f.k.secs[2].rows[0].data, "completed"), 12);
    assert_int_equal(jint(f.k.secs[2].rows[0].data, "agents"), 2);
    assert_int_equal(jint(f.k.summary, "completed"), 6 + 60 + 12);
    assert_int_equal(mt__agg_duplicates(f.agg), 3);
    {
        uint64_t rej;
        mt__agg_stats(f.agg, NULL, NULL, &rej);
        assert_int_equal(rej, 2); /* gen-9, and the snapshot for a run no longer watched */
    }
    /* bad watches */
    static const char *const twice[2] = {"a", "a"};
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "w2", CONFIG_TAGS "}", twice, 2, NULL, err, sizeof(err)),
        MT_EINVAL);
    assert_string_equal(err, "agent a: named twice");
    mt__agg_opts_t bad = {.on_agent_loss = "ignore"};
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "w2", CONFIG_TAGS "}", gens, 3, &bad, err, sizeof(err)),
        MT_EINVAL);
    assert_string_equal(err, "on_agent_loss: must be error or continue (got 'ignore')");
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "w2", CONFIG_TAGS "}", NULL, 0, NULL, err, sizeof(err)),
        MT_EINVAL);
    int pol = -1;
    assert_int_equal(mt__agg_loss_parse("continue", &pol), MT_OK);
    assert_int_equal(pol, MT_AGG_LOSS_CONTINUE);
    assert_int_equal(mt__agg_loss_parse(NULL, &pol), MT_OK);
    assert_int_equal(pol, MT_AGG_LOSS_ERROR);
    assert_int_equal(mt__agg_loss_parse("ignore", &pol), MT_EINVAL);
    sec_free(&x);
    fx_free(&f);
}

/* on_agent_loss error (the default): the others are told to stop, their seconds are stored
 * (marked with how many agents reported), the run ends error naming the agent and second. */
static void test_agent_loss_error(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "l1", CONFIG_TAGS "}", gens, 2, NULL, err, sizeof(err)), MT_OK);
    pub_n(&f, &x, "l1", "gen-1", 0, 10);
    pub_n(&f, &x, "l1", "gen-2", 0, 20);
    pub_n(&f, &x, "l1", "gen-1", 1, 10);
    pub_n(&f, &x, "l1", "gen-2", 2, 20); /* gen-2's second 1 never comes */
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.nsecs, 1);
    assert_int_equal(mt__agg_agent_lost(f.agg, "l1", "gen-3"), MT_ENOTFOUND);
    assert_int_equal(mt__agg_agent_lost(f.agg, "zz", "gen-2"), MT_ENOTFOUND);
    assert_int_equal(mt__agg_agent_lost(f.agg, "l1", "gen-2"), MT_OK);
    assert_int_equal(mt__agg_agent_lost(f.agg, "l1", "gen-2"), MT_OK); /* once is enough */
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.ncontrols, 1);
    assert_string_equal(f.k.controls[0],
                        "mortar.runs.l1.control {\"stop\":\"agent gen-2 lost at second 1\"}");
    assert_false(f.k.ended); /* gen-1 still has seconds to send */
    assert_int_equal(f.k.nsecs, 2);
    assert_int_equal(jint(f.k.secs[1].rows[0].data, "agents"), 1);
    /* gen-2's late snapshots and end are refused; gen-1 stops and ends */
    pub_n(&f, &x, "l1", "gen-2", 1, 20);
    pub_n(&f, &x, "l1", "gen-1", 2, 4);
    end_n(&f, "l1", "gen-2", "completed", 3);
    end_n(&f, "l1", "gen-1", "stopped", 3);
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "error");
    assert_string_equal(f.k.reason, "agent gen-2 lost at second 1");
    assert_int_equal(f.k.nsecs, 3);
    assert_int_equal(f.k.secs[0].second, 0);
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "completed"), 30); /* intact */
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "agents"), 2);
    /* gen-2's second 2 came before it was declared lost: it counts, and says so */
    assert_int_equal(jint(f.k.secs[2].rows[0].data, "completed"), 24);
    assert_int_equal(jint(f.k.secs[2].rows[0].data, "agents"), 2);
    assert_int_equal(f.k.seconds, 3);
    sec_free(&x);
    fx_free(&f);
}

/* on_agent_loss continue: the run goes on without the lost share; a loss after the agent
 * ended changes nothing; a resumed watch ignores the seconds stored before. */
static void test_agent_loss_continue_and_resume(void **state)
{
    fx_t f;
    sec_t x;
    char err[256];
    mt__agg_opts_t o = {.on_agent_loss = "continue"};
    (void)state;

    fx_init(&f);
    sec_init(&x);
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "c1", CONFIG_TAGS "}", gens, 3, &o, err, sizeof(err)), MT_OK);
    for (int a = 0; a < 3; a++)
        pub_n(&f, &x, "c1", gens[a], 0, 10);
    pub_n(&f, &x, "c1", "gen-3", 1, 10);
    end_n(&f, "c1", "gen-3", "completed", 2);
    mt__bus_flush(f.bus);
    assert_int_equal(mt__agg_agent_lost(f.agg, "c1", "gen-3"), MT_OK); /* had ended: no-op */
    assert_int_equal(mt__agg_agent_lost(f.agg, "c1", "gen-1"), MT_OK);
    pub_n(&f, &x, "c1", "gen-2", 1, 10);
    pub_n(&f, &x, "c1", "gen-2", 2, 10);
    mt__bus_flush(f.bus);
    assert_int_equal(f.k.ncontrols, 0); /* nobody is stopped */
    assert_int_equal(f.k.nsecs, 3);
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "agents"), 3);
    assert_int_equal(jint(f.k.secs[1].rows[0].data, "agents"), 2);
    assert_int_equal(jint(f.k.secs[1].rows[0].data, "completed"), 20);
    assert_int_equal(jint(f.k.secs[2].rows[0].data, "agents"), 1);
    end_n(&f, "c1", "gen-2", "completed", 3);
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_string_equal(f.k.state, "passed");
    assert_string_equal(f.k.reason, "completed; agent gen-1 lost at second 1 (its share was not "
                                    "redistributed)");
    sink_free(&f.k);
    memset(&f.k, 0, sizeof(f.k));

    /* resume at second 2: seconds 0 and 1 are in the store already */
    o = (mt__agg_opts_t){.first_second = 2};
    assert_int_equal(
        mt__agg_watch_agents(f.agg, "c2", CONFIG_TAGS "}", gens, 2, &o, err, sizeof(err)), MT_OK);
    for (uint32_t sec = 0; sec < 4; sec++)
        for (int a = 0; a < 2; a++)
            pub_n(&f, &x, "c2", gens[a], sec, 1 + sec);
    end_n(&f, "c2", "gen-1", "completed", 4);
    end_n(&f, "c2", "gen-2", "completed", 4);
    mt__bus_flush(f.bus);
    assert_true(f.k.ended);
    assert_int_equal(f.k.nsecs, 2);
    assert_int_equal(f.k.secs[0].second, 2);
    assert_int_equal(jint(f.k.secs[0].rows[0].data, "completed"), 6);
    assert_int_equal(f.k.secs[1].second, 3);
    assert_int_equal(mt__agg_duplicates(f.agg), 4);
    sec_free(&x);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_agents_merge_exactly),
        cmocka_unit_test(test_timeout_and_rejects),
        cmocka_unit_test(test_autostop_publishes_stop),
        cmocka_unit_test(test_threshold_fails_at_end),
        cmocka_unit_test(test_stopped_by_api),
        cmocka_unit_test(test_watermarks_reordered_duplicated),
        cmocka_unit_test(test_agent_loss_error),
        cmocka_unit_test(test_agent_loss_continue_and_resume),
        cmocka_unit_test(test_store_refuses_a_second),
        cmocka_unit_test(test_breakdown_merged_from_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
