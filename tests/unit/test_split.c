/* The split of a run between agents (mortar/split.h): for every schedule type and unequal
 * weights, the agents' requests partition the single-generator sequence, so the union of their
 * due times is that schedule exactly and each ammo entry of the sequential order is sent once;
 * closed-model connections and threads by largest remainder; the wire form; and the real engine
 * running three parts at one common start instant against the built-in target. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <cmocka.h>

#include "runspec/runjob.h"
#include "engine/internal.h"
#include "mortar/engine.h"
#include "mortar/schedule.h"
#include "mortar/split.h"
#include "mortar/target.h"

#define S 1000000000LL

static const char *const schedules[] = {
    "const(97, 3s)",
    "line(1, 120, 4s)",
    "step(10, 50, 10, 1s)",
    "line(5, 50, 2s) const(33, 1500ms) step(40, 10, 15, 1s) line(60, 1, 1s)",
    NULL, /* -R 250 for 2s (mt_sched_const) */
};
#define NSCHED (sizeof(schedules) / sizeof(schedules[0]))

static const uint32_t w1[] = {1};
static const uint32_t w3[] = {1, 1, 1};
static const uint32_t wun[] = {3, 1, 2};
static const uint32_t wbig[] = {10001, 20000, 3, 7777}; /* reduced sum above the max period */
static const uint32_t wgcd[] = {4000, 2000, 6000};
static const struct {
    const uint32_t *w;
    size_t n;
} weight_sets[] = {{w1, 1}, {w3, 3}, {wun, 3}, {wbig, 4}, {wgcd, 3}};
#define NWSETS (sizeof(weight_sets) / sizeof(weight_sets[0]))

static void sched_get(size_t i, mt_sched_t *s)
{
    mt_parse_err_t pe;
    if (schedules[i] == NULL)
        assert_int_equal(mt_sched_const(250, 2 * S, s), MT_OK);
    else
        assert_int_equal(mt_sched_parse(schedules[i], s, &pe), MT_OK);
}

/* The global request numbers of a part's requests m = 0, 1, ... through the engine's mapping. */
static uint64_t global_n(const mt_part_t *p, uint64_t m)
{
    struct mt_run r;
    mt_stripe_t st = mt_part_stripe(p);
    memset(&r, 0, sizeof r);
    r.cfg.stripe = &st;
    return mt__global_n(&r, m);
}

static void split_ok(bool open, int conns, int threads, const uint32_t *w, size_t n,
                     mt_part_t *parts)
{
    mt_split_model_t m = {.open = open, .connections = conns, .threads = threads};
    char err[200];
    assert_int_equal(mt_split(&m, w, n, parts, err, sizeof err), MT_OK);
    for (size_t i = 0; i < n; i++) {
        char msg[160];
        assert_int_equal(mt_part_check(&parts[i], msg, sizeof msg), MT_OK);
        assert_int_equal(parts[i].index, i);
        assert_int_equal(parts[i].of, n);
    }
}

/* Every schedule x every weight set: walking each part's requests as the engine's workers do
 * (T workers, worker id takes m = id, id + T, ...; one cursor per worker) gives each global n
 * below the total exactly once, at the single generator's due time. */
static void test_union_is_the_schedule(void **state)
{
    (void)state;
    for (size_t si = 0; si < NSCHED; si++) {
        mt_sched_t s;
        sched_get(si, &s);
        int64_t *due = malloc(s.total * sizeof *due);
        uint8_t *seen = calloc(s.total, 1);
        assert_non_null(due);
        assert_non_null(seen);
        {
            mt_sched_cursor_t c = {0};
            for (uint64_t n = 0; n < s.total; n++)
                assert_int_equal(mt_sched_due(&s, &c, n, &due[n]), MT_OK);
        }
        for (size_t wi = 0; wi < NWSETS; wi++) {
            size_t n = weight_sets[wi].n;
            mt_part_t parts[8];
            uint64_t sum = 0;
            memset(seen, 0, s.total);
            split_ok(true, 100, 4, weight_sets[wi].w, n, parts);
            for (size_t a = 0; a < n; a++) {
                const int T = 3; /* workers of this agent */
                uint64_t mine = 0;
                for (int id = 0; id < T; id++) {
                    mt_sched_cursor_t cur = {0};
                    uint64_t prev = 0;
                    for (uint64_t m = (uint64_t)id;; m += T) {
                        uint64_t g = global_n(&parts[a], m);
                        int64_t d;
                        if (m > (uint64_t)id)
                            assert_true(g > prev); /* the cursor only moves forward */
                        prev = g;
                        if (mt_sched_due(&s, &cur, g, &d) != MT_OK)
                            break;
                        assert_true(g < s.total);
                        assert_int_equal(d, due[g]);
                        assert_int_equal(seen[g], 0);
                        seen[g] = 1;
                        mine++;
                    }
                }
                /* the share follows the stripe: within one period's slots of exact */
                double want = (double)s.total * parts[a].nresidues / parts[a].period;
                assert_true((double)mine >= want - parts[a].nresidues - 1 &&
                            (double)mine <= want + parts[a].nresidues + 1);
                sum += mine;
            }
            assert_int_equal(sum, s.total);
            for (uint64_t k = 0; k < s.total; k++)
                assert_int_equal(seen[k], 1);
            for (size_t a = 0; a < n; a++)
                mt_part_dispose(&parts[a]);
        }
        free(due);
        free(seen);
        mt_sched_dispose(&s);
    }
}

/* Weights 3:1:2 interleave evenly: period 6, each agent's residues spread over it. */
static void test_weights_interleave(void **state)
{
    mt_part_t p[4];
    (void)state;
    split_ok(true, 60, 6, wun, 3, p);
    assert_int_equal(p[0].period, 6);
    assert_int_equal(p[0].nresidues, 3);
    assert_int_equal(p[1].nresidues, 1);
    assert_int_equal(p[2].nresidues, 2);
    /* smooth weighted round robin: a c a b c a */
    static const uint32_t r0[] = {0, 2, 5}, r1[] = {3}, r2[] = {1, 4};
    assert_memory_equal(p[0].residues, r0, sizeof r0);
    assert_memory_equal(p[1].residues, r1, sizeof r1);
    assert_memory_equal(p[2].residues, r2, sizeof r2);
    assert_int_equal(p[0].connections, 30);
    assert_int_equal(p[1].connections, 10);
    assert_int_equal(p[2].connections, 20);
    assert_int_equal(p[0].threads + p[1].threads + p[2].threads, 6);
    for (int i = 0; i < 3; i++)
        mt_part_dispose(&p[i]);
    /* the gcd is taken out: 4000:2000:6000 is 2:1:3 */
    split_ok(true, 10, 1, wgcd, 3, p);
    assert_int_equal(p[0].period, 6);
    assert_int_equal(p[1].nresidues, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].threads, 1); /* at least one thread each */
        mt_part_dispose(&p[i]);
    }
    /* large weights are scaled to at most MT_SPLIT_MAX_PERIOD, every agent keeps a slot */
    split_ok(true, 100, 4, wbig, 4, p);
    assert_true(p[0].period <= MT_SPLIT_MAX_PERIOD);
    for (int i = 0; i < 4; i++) {
        assert_true(p[i].nresidues >= 1);
        mt_part_dispose(&p[i]);
    }
}

/* Closed model: largest remainder; the stripe follows the connections. */
static void test_closed_largest_remainder(void **state)
{
    mt_part_t p[4];
    mt_split_model_t m = {.open = false, .connections = 2, .threads = 1};
    char err[200];
    (void)state;
    split_ok(false, 10, 4, w3, 3, p);
    assert_int_equal(p[0].connections, 4); /* 3.33 each: the remainder goes to the first */
    assert_int_equal(p[1].connections, 3);
    assert_int_equal(p[2].connections, 3);
    assert_int_equal(p[0].period, 10);
    assert_int_equal(p[0].nresidues, 4);
    assert_int_equal(p[0].threads + p[1].threads + p[2].threads, 4);
    for (int i = 0; i < 3; i++) {
        assert_true(p[i].threads >= 1 && p[i].threads <= p[i].connections);
        mt_part_dispose(&p[i]);
    }
    /* 2 connections, weights 3:1: 1.5 / 0.5, then every agent at least one */
    static const uint32_t w31[] = {3, 1};
    split_ok(false, 2, 2, w31, 2, p);
    assert_int_equal(p[0].connections, 1);
    assert_int_equal(p[1].connections, 1);
    assert_int_equal(p[0].period, 2);
    mt_part_dispose(&p[0]);
    mt_part_dispose(&p[1]);
    /* 101 connections 3:1:2 -> 50.5, 16.8, 33.7 -> 50, 17, 34 */
    split_ok(false, 101, 3, wun, 3, p);
    assert_int_equal(p[0].connections, 50);
    assert_int_equal(p[1].connections, 17);
    assert_int_equal(p[2].connections, 34);
    for (int i = 0; i < 3; i++)
        mt_part_dispose(&p[i]);
    /* errors */
    assert_int_equal(mt_split(&m, w3, 3, p, err, sizeof err), MT_EINVAL);
    assert_string_equal(err, "3 agents need at least 3 connections (got 2)");
    static const uint32_t w0[] = {1, 0};
    m.connections = 10;
    assert_int_equal(mt_split(&m, w0, 2, p, err, sizeof err), MT_EINVAL);
    assert_non_null(strstr(err, "weight of agent 1 is 0"));
    assert_int_equal(mt_split(&m, w0, 0, p, err, sizeof err), MT_EINVAL);
    m.threads = 11;
    assert_int_equal(mt_split(&m, w3, 3, p, err, sizeof err), MT_EINVAL);
}

/* Ammo in sequential order: global request n sends entry n mod N, so over the sequence's first
 * k*N requests the agents together send every entry exactly k times. */
static void test_ammo_entries_once(void **state)
{
    (void)state;
    for (size_t wi = 0; wi < NWSETS; wi++) {
        enum { N = 7, K = 5 };
        unsigned count[N] = {0};
        mt_part_t p[8];
        size_t n = weight_sets[wi].n;
        split_ok(true, 50, 1, weight_sets[wi].w, n, p);
        for (size_t a = 0; a < n; a++) {
            for (uint64_t m = 0;; m++) {
                uint64_t g = global_n(&p[a], m);
                if (g >= (uint64_t)N * K)
                    break;
                count[g % N]++;
            }
            mt_part_dispose(&p[a]);
        }
        for (int e = 0; e < N; e++)
            assert_int_equal(count[e], K);
    }
}

static void test_part_json(void **state)
{
    mt_part_t p[3], q;
    mt_parse_err_t pe;
    (void)state;
    split_ok(true, 100, 4, wun, 3, p);
    char *js = mt_part_to_json(&p[2]);
    assert_non_null(js);
    assert_string_equal(js, "{\"index\":2,\"of\":3,\"period\":6,\"residues\":[1,4],"
                            "\"connections\":33,\"threads\":1}");
    assert_int_equal(mt_part_from_json(js, strlen(js), &q, &pe), MT_OK);
    assert_int_equal(q.index, 2);
    assert_int_equal(q.period, 6);
    assert_int_equal(q.nresidues, 2);
    assert_int_equal(q.residues[1], 4);
    assert_int_equal(q.connections, 33);
    mt_part_dispose(&q);
    free(js);
    for (int i = 0; i < 3; i++)
        mt_part_dispose(&p[i]);

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "part: "},
        {"[]", "part: not a JSON object"},
        {"{\"index\":0,\"of\":1,\"period\":2,\"residues\":[1,0],\"connections\":1,\"threads\":1}",
         "part: residues: not ascending at 1"},
        {"{\"index\":0,\"of\":1,\"period\":2,\"residues\":[2],\"connections\":1,\"threads\":1}",
         "residues: entry 0 must be an integer below the period"},
        {"{\"index\":3,\"of\":3,\"period\":2,\"residues\":[1],\"connections\":1,\"threads\":1}",
         "part: index 3 of 3: need index < of <= 1024"},
        {"{\"index\":0,\"of\":1,\"period\":2,\"residues\":[1],\"connections\":1,\"threads\":2}",
         "part: connections 1, threads 2: need 1 <= threads <= connections"},
        {"{\"index\":0,\"of\":1,\"period\":2,\"residues\":[1],\"connections\":1}",
         "threads: missing"},
        {"{\"index\":0,\"of\":1,\"period\":2000,\"residues\":[1],\"connections\":1,\"threads\":1}",
         "period: must be an integer between 1 and 1024"},
        {"{\"index\":0,\"of\":1,\"period\":2,\"residues\":[0,1,1],\"connections\":1,\"threads\":1}",
         "residues: must be an array of 1..period integers"},
        {"{\"index\":0,\"of\":1,\"period\":1,\"residues\":[0],\"connections\":1,\"threads\":1,"
         "\"x\":1}",
         "part: unknown key 'x'"},
        {"{\"index\":0,\"index\":0}", "part: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = mt_part_from_json(bad[i].in, strlen(bad[i].in), &q, &pe);
        assert_int_equal(rc, MT_EPARSE);
        if (strncmp(pe.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("%s: got '%s', want '%s'", bad[i].in, pe.msg, bad[i].msg);
        assert_null(q.residues);
    }
}

/* ---- the real engine: three parts at one start instant ---- */

enum { NENT = 7 };
static const char *const ent_tags[NENT + 1] = {"", "e0", "e1", "e2", "e3", "e4", "e5", "e6"};

typedef struct agent_run {
    pthread_t th;
    mt_run_config_t cfg;
    mt_stripe_t stripe;
    mt_run_t *run;
    int rc;
    pthread_mutex_t mu;
    int64_t *due_us; /* due times relative to the start, us */
    size_t ndue, cap;
} agent_run_t;

static void on_records(const mt_req_record_t *recs, size_t n, void *ud)
{
    agent_run_t *a = ud;
    int64_t t0 = mt_run_result(a->run)->start_unix_ns / 1000;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        if (a->ndue == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 256;
            a->due_us = realloc(a->due_us, a->cap * sizeof *a->due_us);
            assert_non_null(a->due_us);
        }
        a->due_us[a->ndue++] = recs[i].due_unix_us - t0;
    }
    pthread_mutex_unlock(&a->mu);
}

static void *agent_main(void *arg)
{
    agent_run_t *a = arg;
    a->rc = mt_run_exec(a->run, NULL, NULL);
    return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static int64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * S + ts.tv_nsec;
}

static void test_engine_three_parts(void **state)
{
    mt_target_config_t tc = {.threads = 1};
    mt_target_t *t;
    mt_target_stats_t ts;
    mt_sched_t s;
    mt_parse_err_t pe;
    char err[200], port[16];
    mt_request_t reqs[NENT];
    char heads[NENT][64];
    agent_run_t ag[3];
    mt_part_t parts[3];
    uint64_t due = 0, sent = 0, completed = 0, per_entry[NENT] = {0};
    (void)state;

    assert_int_equal(mt_target_new(&tc, &t, err, sizeof err), MT_OK);
    assert_int_equal(mt_target_start(t), MT_OK);
    snprintf(port, sizeof port, "%u", (unsigned)mt_target_port(t));
    for (int e = 0; e < NENT; e++) {
        snprintf(heads[e], sizeof heads[e], "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", e);
        reqs[e] = (mt_request_t){.data = heads[e], .len = strlen(heads[e]), .tag = e + 1};
    }
    assert_int_equal(mt_sched_parse("line(20, 200, 1s) const(90, 500ms)", &s, &pe), MT_OK);
    split_ok(true, 30, 6, wun, 3, parts);
    /* far enough ahead for three engines to set up on a loaded machine under ASan: an
     * engine that is not ready in time returns MT_ELATE, which would fail the test */
    int64_t start = wall_now() + 2 * S;
    for (int a = 0; a < 3; a++) {
        memset(&ag[a], 0, sizeof ag[a]);
        pthread_mutex_init(&ag[a].mu, NULL);
        ag[a].stripe = mt_part_stripe(&parts[a]);
        ag[a].cfg = (mt_run_config_t){.host = "127.0.0.1",
                                      .port = port,
                                      .threads = parts[a].threads,
                                      .connections = parts[a].connections,
                                      .schedule = &s,
                                      /* a quiet second after the schedule: no request is
                                       * still in flight (abandoned) at the end */
                                      .duration_ns = s.total_ns + S,
                                      .timeout_ns = 10 * S,
                                      .requests = reqs,
                                      .nrequests = NENT,
                                      .order = MT_ORDER_SEQUENTIAL,
                                      .tags = ent_tags,
                                      .ntags = NENT + 1,
                                      .on_records = on_records,
                                      .records_ud = &ag[a],
                                      .stripe = &ag[a].stripe,
                                      .start_unix_ns = start};
        assert_int_equal(mt_run_new(&ag[a].cfg, &ag[a].run), MT_OK);
        assert_int_equal(pthread_create(&ag[a].th, NULL, agent_main, &ag[a]), 0);
    }
    int64_t all_n = 0;
    for (int a = 0; a < 3; a++) {
        pthread_join(ag[a].th, NULL);
        assert_int_equal(ag[a].rc, MT_OK);
        const mt_run_result_t *res = mt_run_result(ag[a].run);
        assert_int_equal(res->start_unix_ns, start); /* seconds numbered from the common t0 */
        assert_int_equal(res->records_dropped, 0);
        due += res->c.due;
        sent += res->c.sent;
        completed += res->c.completed;
        for (int e = 0; e < NENT; e++)
            per_entry[e] += res->tags[e + 1].c.sent;
        all_n += (int64_t)ag[a].ndue;
    }
    /* the union of the due times is the single generator's schedule */
    assert_int_equal(due, s.total);
    assert_int_equal(sent, s.total);
    assert_int_equal(all_n, (int64_t)s.total);
    int64_t *u = malloc(s.total * sizeof *u), k = 0;
    for (int a = 0; a < 3; a++) {
        memcpy(u + k, ag[a].due_us, ag[a].ndue * sizeof *u);
        k += (int64_t)ag[a].ndue;
    }
    qsort(u, s.total, sizeof *u, cmp_i64);
    mt_sched_cursor_t cur = {0};
    for (uint64_t n = 0; n < s.total; n++) {
        int64_t d;
        assert_int_equal(mt_sched_due(&s, &cur, n, &d), MT_OK);
        assert_int_equal(u[n], d / 1000);
    }
    for (int e = 0; e < NENT; e++) /* entry e: the n < total with n mod 7 == e */
        assert_int_equal(per_entry[e], s.total / NENT + ((uint64_t)e < s.total % NENT ? 1 : 0));
    mt_target_stop(t);
    assert_int_equal(mt_target_wait(t), MT_OK);
    mt_target_stats(t, &ts);
    assert_int_equal(ts.responses, completed);
    assert_int_equal(completed, s.total);

    free(u);
    for (int a = 0; a < 3; a++) {
        mt_run_free(ag[a].run);
        free(ag[a].due_us);
        pthread_mutex_destroy(&ag[a].mu);
        mt_part_dispose(&parts[a]);
    }
    mt_sched_dispose(&s);
    mt_target_free(t);
}

/* A start instant that has passed: MT_ELATE, nothing sent. A stop while waiting for a far
 * start ends at once. */
static void test_engine_late_and_stop(void **state)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    mt_run_config_t cfg = {.host = "127.0.0.1",
                           .port = "9",
                           .request = req,
                           .request_len = sizeof req - 1,
                           .threads = 1,
                           .connections = 1,
                           .duration_ns = S,
                           .start_unix_ns = wall_now() - S};
    mt_run_t *r;
    (void)state;
    assert_int_equal(mt_run_new(&cfg, &r), MT_OK);
    assert_int_equal(mt_run_exec(r, NULL, NULL), MT_ELATE);
    assert_string_equal(mt_strerror(MT_ELATE), "the start instant has passed");
    assert_int_equal(mt_run_result(r)->c.sent, 0);
    mt_run_free(r);

    cfg.start_unix_ns = wall_now() + 3600 * S;
    assert_int_equal(mt_run_new(&cfg, &r), MT_OK);
    mt_run_stop(r);
    assert_int_equal(mt_run_exec(r, NULL, NULL), MT_OK);
    assert_int_equal(mt_run_result(r)->c.sent, 0);
    mt_run_free(r);

    /* a bad stripe is refused */
    static const uint32_t res[] = {1, 1};
    mt_stripe_t st = {.period = 2, .residues = res, .nresidues = 2};
    cfg.start_unix_ns = 0;
    cfg.stripe = &st;
    assert_int_equal(mt_run_new(&cfg, &r), MT_EINVAL);
}

/* Closed model, HTTP/1 and HTTP/2 (h2c): with as many ammo entries as the stripe's period,
 * each agent sends only the entries of its residues. */
static void test_engine_closed_stripe(void **state)
{
    mt_target_config_t tc = {.threads = 1};
    mt_target_t *t;
    char err[200], port[16], heads[6][64];
    mt_request_t reqs[6];
    mt_part_t parts[3];
    (void)state;

    assert_int_equal(mt_target_new(&tc, &t, err, sizeof err), MT_OK);
    assert_int_equal(mt_target_start(t), MT_OK);
    snprintf(port, sizeof port, "%u", (unsigned)mt_target_port(t));
    for (int e = 0; e < 6; e++) {
        snprintf(heads[e], sizeof heads[e], "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", e);
        reqs[e] = (mt_request_t){.data = heads[e], .len = strlen(heads[e]), .tag = e + 1};
    }
    split_ok(false, 6, 3, wun, 3, parts);
    assert_int_equal(parts[0].period, 6);
    for (int h2 = 0; h2 < 2; h2++)
        for (int a = 0; a < 3; a++) {
            mt_stripe_t st = mt_part_stripe(&parts[a]);
            mt_run_config_t cfg = {.host = "127.0.0.1",
                                   .port = port,
                                   .threads = parts[a].threads,
                                   .connections = parts[a].connections,
                                   .duration_ns = S / 4,
                                   .timeout_ns = 10 * S,
                                   .requests = reqs,
                                   .nrequests = 6,
                                   .tags = ent_tags,
                                   .ntags = 7,
                                   .http2 = h2,
                                   .streams = 2,
                                   .stripe = &st};
            mt_run_t *r;
            uint64_t sum = 0;
            assert_int_equal(mt_run_new(&cfg, &r), MT_OK);
            assert_int_equal(mt_run_exec(r, NULL, NULL), MT_OK);
            const mt_run_result_t *res = mt_run_result(r);
            for (uint32_t e = 0; e < 6; e++) {
                bool mine = false;
                for (uint32_t i = 0; i < parts[a].nresidues; i++)
                    mine = mine || parts[a].residues[i] == e;
                if (!mine)
                    assert_int_equal(res->tags[e + 1].c.sent, 0);
                sum += res->tags[e + 1].c.sent;
            }
            assert_int_equal(sum, res->c.sent);
            assert_true(res->c.sent > 0);
            mt_run_free(r);
        }
    for (int a = 0; a < 3; a++)
        mt_part_dispose(&parts[a]);
    mt_target_free(t);
}

/* The agent's path: a run config, its part and start instant through runjob. */
static void test_runjob_part(void **state)
{
    mt_target_config_t tc = {.threads = 1};
    mt_target_t *t;
    mt__runjob_t *j;
    mt_split_model_t m;
    mt_part_t parts[3];
    char err[256], cfg[200];
    mt_rs_err_t rerr;
    (void)state;

    assert_int_equal(mt_target_new(&tc, &t, err, sizeof err), MT_OK);
    assert_int_equal(mt_target_start(t), MT_OK);
    snprintf(cfg, sizeof cfg,
             "{\"url\":\"http://127.0.0.1:%u/\",\"rate\":50,\"duration\":\"1s\","
             "\"connections\":12,\"threads\":3}",
             (unsigned)mt_target_port(t));
    assert_int_equal(mt__runjob_new(cfg, strlen(cfg), &j, &rerr), MT_OK);
    mt__runjob_model(j, &m);
    assert_true(m.open);
    assert_int_equal(m.connections, 12);
    assert_int_equal(m.threads, 3);
    assert_int_equal(mt_split(&m, wun, 3, parts, err, sizeof err), MT_OK);
    /* a part that does not hold together is refused */
    parts[1].threads = 99;
    assert_int_equal(mt__runjob_set_part(j, &parts[1], 0), MT_EINVAL);
    assert_int_equal(mt__runjob_set_part(j, NULL, -1), MT_EINVAL);
    parts[1].threads = 1;
    /* part 1 of 3:1:2 has residue 3 of period 6: requests 3, 9, ..., 45 of the 50 */
    assert_int_equal(mt__runjob_set_part(j, &parts[1], wall_now() + 2 * S), MT_OK);
    for (int i = 0; i < 3; i++)
        mt_part_dispose(&parts[i]); /* the job has its own copy */
    assert_int_equal(mt__runjob_exec(j, NULL, NULL, &rerr), MT_OK);
    assert_int_equal(mt__runjob_result(j)->c.due, 8);
    assert_int_equal(mt__runjob_set_part(j, NULL, 0), MT_EINVAL); /* it ran */
    mt__runjob_free(j);

    /* the commit came after the start instant: refused, nothing sent */
    assert_int_equal(mt__runjob_new(cfg, strlen(cfg), &j, &rerr), MT_OK);
    assert_int_equal(mt__runjob_set_part(j, NULL, wall_now() - S), MT_OK);
    assert_int_equal(mt__runjob_exec(j, NULL, NULL, &rerr), MT_ELATE);
    assert_string_equal(rerr.msg, "not started: the start instant has passed");
    mt__runjob_free(j);
    mt_target_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_union_is_the_schedule),
        cmocka_unit_test(test_weights_interleave),
        cmocka_unit_test(test_closed_largest_remainder),
        cmocka_unit_test(test_ammo_entries_once),
        cmocka_unit_test(test_part_json),
        cmocka_unit_test(test_engine_three_parts),
        cmocka_unit_test(test_engine_late_and_stop),
        cmocka_unit_test(test_engine_closed_stripe),
        cmocka_unit_test(test_runjob_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
