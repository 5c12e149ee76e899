/* The in-process agent without a target: config checks name the key, capacity, stop by call
 * and by control message, heartbeats, and the messages a run publishes (snapshots in order,
 * then one end). The target is a refused loopback port: every request fails fast, which is
 * fine here. Synchronised on the end message (condition variable), never on time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>

#include "server/agent.h"
#include "server/snapshot.h"

typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int heartbeats;
    int seconds[4];
    int ends[4];
    uint32_t next[4];
    bool in_order;
    char outcome[4][16];
    char reason[4][200];
} seen_t;

static int run_index(const char *subject)
{
    const char *p = strstr(subject, "mortar.runs.r");
    return p != NULL ? p[13] - '0' : -1;
}

static void on_msg(const char *subject, const void *msg, size_t len, void *ud)
{
    seen_t *s = ud;
    pthread_mutex_lock(&s->mu);
    if (strstr(subject, ".heartbeat") != NULL) {
        json_t *o = json_loadb(msg, len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(o, "name")), "local");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(o, "labels"), "zone")), "z1");
        json_decref(o);
        s->heartbeats++;
    } else if (strstr(subject, ".second") != NULL) {
        int i = run_index(subject);
        mt__snapshot_t snap;
        mt_parse_err_t pe;
        assert_true(i >= 0 && i < 4);
        assert_int_equal(mt__snapshot_decode(msg, len, &snap, &pe), MT_OK);
        assert_string_equal(snap.agent, "local");
        if (snap.second != s->next[i] || s->ends[i] > 0)
            s->in_order = false;
        s->next[i] = snap.second + 1;
        s->seconds[i]++;
        mt__snapshot_dispose(&snap);
    } else if (strstr(subject, ".end") != NULL) {
        int i = run_index(subject);
        json_t *o = json_loadb(msg, len, 0, NULL);
        assert_true(i >= 0 && i < 4);
        s->ends[i]++;
        snprintf(s->outcome[i], sizeof(s->outcome[i]), "%s",
                 json_string_value(json_object_get(o, "outcome")));
        snprintf(s->reason[i], sizeof(s->reason[i]), "%s",
                 json_string_value(json_object_get(o, "reason")));
        assert_int_equal(json_integer_value(json_object_get(o, "seconds")), s->seconds[i]);
        json_decref(o);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void wait_end(seen_t *s, int i)
{
    pthread_mutex_lock(&s->mu);
    while (s->ends[i] == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void wait_seconds(seen_t *s, int i, int n)
{
    pthread_mutex_lock(&s->mu);
    while (s->seconds[i] < n && s->ends[i] == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void test_check_config(void **state)
{
    char err[512];
    (void)state;
    assert_int_equal(
        mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"rate\":5}", err, sizeof(err)),
        MT_OK);
    assert_int_equal(mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"rate\":\"fast\"}",
                                            err, sizeof(err)),
                     MT_EINVAL);
    assert_non_null(strstr(err, "/rate: bad rate 'fast'"));
    assert_int_equal(mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"connections\":0}",
                                            err, sizeof(err)),
                     MT_EINVAL);
    assert_non_null(strstr(err, "/connections: must be between 1 and"));
    assert_int_equal(mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"duraton\":\"1s\"}",
                                            err, sizeof(err)),
                     MT_EINVAL);
    assert_non_null(strstr(err, "/duraton: unknown key 'duraton' (did you mean 'duration'?)"));
    assert_int_equal(mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"phout\":\"x\"}",
                                            err, sizeof(err)),
                     MT_EINVAL);
    assert_non_null(strstr(err, "/phout: not allowed"));
    assert_int_equal(
        mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"ammo\":\"/etc/passwd\"}", err,
                               sizeof(err)),
        MT_EINVAL);
    assert_non_null(strstr(err, "/ammo: not allowed"));
    assert_int_equal(mt__agent_check_config("[1,2", err, sizeof(err)), MT_EINVAL);
    assert_int_equal(mt__agent_check_config("{}", err, sizeof(err)), MT_EINVAL);
    assert_non_null(strstr(err, "/url: the target URL is required"));
}

static void test_runs(void **state)
{
    static const char *slow = "{\"url\":\"http://127.0.0.1:1/\",\"rate\":5,\"duration\":\"1h\","
                              "\"connections\":1,\"threads\":1,\"timeout\":\"1s\"}";
    static const char *quick = "{\"url\":\"http://127.0.0.1:1/\",\"schedule\":\"const(3,1s)\","
                               "\"duration\":\"1.2s\",\"connections\":1,\"threads\":1,"
                               "\"uri\":[\"/x tagged\"]}";
    mt__agent_info_t info = {"local", "{\"zone\":\"z1\"}", 2, NULL, NULL, NULL};
    mt__bus_t *bus = NULL;
    mt__agent_t *a = NULL;
    seen_t s;
    char err[512];
    (void)state;

    memset(&s, 0, sizeof(s));
    s.in_order = true;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    assert_int_equal(mt__bus_new_inproc(&bus), MT_OK);
    assert_int_equal(mt__bus_subscribe(bus, "mortar.", on_msg, &s), MT_OK);
    assert_int_equal(mt__agent_new(&info, bus, &a), MT_OK);
    mt__bus_flush(bus);
    assert_true(s.heartbeats >= 1); /* the first beat is sent by mt__agent_new */

    /* r0 and r1 fill the capacity of 2; r2 is refused; bad ids and configs too */
    assert_int_equal(mt__agent_start(a, "r0", slow, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__agent_start(a, "r1", quick, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__agent_start(a, "r0", slow, err, sizeof(err)), MT_EINVAL);
    assert_int_equal(mt__agent_start(a, "r2", slow, err, sizeof(err)), MT_EBUSY);
    assert_non_null(strstr(err, "capacity"));
    assert_int_equal(mt__agent_start(a, "r.x", slow, err, sizeof(err)), MT_EINVAL);
    assert_int_equal(mt__agent_start(a, "r3", "{\"url\":1}", err, sizeof(err)), MT_EINVAL);
    assert_int_equal(mt__agent_active(a), 2);

    /* r1 runs to its end: every snapshot before the end, in order */
    wait_end(&s, 1);
    pthread_mutex_lock(&s.mu);
    assert_string_equal(s.outcome[1], "completed");
    assert_true(s.seconds[1] >= 2);
    assert_true(s.in_order);
    pthread_mutex_unlock(&s.mu);

    /* r0 is stopped through the bus, as the aggregator or the API does */
    wait_seconds(&s, 0, 1);
    assert_int_equal(
        mt__bus_publish(bus, "mortar.runs.r0.control", "{\"stop\":\"stopped by API\"}", 25), MT_OK);
    wait_end(&s, 0);
    pthread_mutex_lock(&s.mu);
    assert_string_equal(s.outcome[0], "stopped");
    assert_string_equal(s.reason[0], "stopped by API");
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(mt__agent_stop(a, "r0", "again"), MT_ENOTFOUND);

    /* r2 now fits; mt__agent_stop ends it */
    assert_int_equal(mt__agent_start(a, "r2", slow, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__agent_stop(a, "r2", "enough"), MT_OK);
    wait_end(&s, 2);
    assert_string_equal(s.outcome[2], "stopped");
    assert_string_equal(s.reason[2], "enough");

    /* freeing the agent stops what still runs, and each run still publishes its end */
    assert_int_equal(mt__agent_start(a, "r3", slow, err, sizeof(err)), MT_OK);
    mt__agent_free(a);
    mt__bus_flush(bus);
    assert_int_equal(s.ends[3], 1);
    assert_string_equal(s.outcome[3], "stopped");
    for (int i = 0; i < 4; i++)
        assert_int_equal(s.ends[i], 1);
    mt__bus_free(bus);
}

/* Two phases: prepare reserves a slot and runs nothing; a commit after its instant is refused
 * and frees the slot; a stop before the commit drops the prepare; a commit in time starts the
 * run at the instant, numbering seconds from it. */
static void test_prepare_commit(void **state)
{
    static const char *quick = "{\"url\":\"http://127.0.0.1:1/\",\"schedule\":\"const(3,1s)\","
                               "\"duration\":\"1s\",\"connections\":1,\"threads\":1,"
                               "\"agents\":2,\"on_agent_loss\":\"continue\"}";
    static const char *part = "{\"index\":0,\"of\":2,\"period\":2,\"residues\":[0],"
                              "\"connections\":1,\"threads\":1}";
    mt__agent_info_t info = {"local", "{\"zone\":\"z1\"}", 1, "inst-1", NULL, NULL};
    mt__bus_t *bus = NULL;
    mt__agent_t *a = NULL;
    seen_t s;
    char err[512];
    struct timespec ts;
    (void)state;

    memset(&s, 0, sizeof(s));
    s.in_order = true;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    assert_int_equal(mt__bus_new_inproc(&bus), MT_OK);
    assert_int_equal(mt__bus_subscribe(bus, "mortar.", on_msg, &s), MT_OK);
    assert_int_equal(mt__agent_new(&info, bus, &a), MT_OK);

    /* a prepare holds the slot */
    assert_int_equal(mt__agent_prepare(a, "r0", quick, part, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__agent_active(a), 1);
    assert_int_equal(mt__agent_prepare(a, "r1", quick, NULL, err, sizeof(err)), MT_EBUSY);
    /* a commit whose instant has passed is refused, and the slot is free again */
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    assert_int_equal(mt__agent_commit(a, "r0", now - 1000000, err, sizeof(err)), MT_ECONFLICT);
    assert_non_null(strstr(err, "after the start instant"));
    assert_int_equal(mt__agent_active(a), 0);
    assert_int_equal(mt__agent_commit(a, "r0", now, err, sizeof(err)), MT_ENOTFOUND);
    /* a stop before the commit drops the prepare */
    assert_int_equal(mt__agent_prepare(a, "r1", quick, part, err, sizeof(err)), MT_OK);
    assert_int_equal(mt__bus_publish(bus, "mortar.runs.r1.control", "{\"stop\":\"x\"}", 12), MT_OK);
    mt__bus_flush(bus);
    assert_int_equal(mt__agent_active(a), 0);
    assert_int_equal(mt__agent_abort(a, "r1"), MT_ENOTFOUND);
    /* a bad part is refused at prepare */
    assert_int_equal(mt__agent_prepare(a, "r2", quick, "{\"index\":3,\"of\":2}", err, sizeof(err)),
                     MT_EINVAL);
    /* a commit in time: the run starts at the instant and ends */
    assert_int_equal(mt__agent_prepare(a, "r3", quick, part, err, sizeof(err)), MT_OK);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    assert_int_equal(mt__agent_commit(a, "r3", now + 200000000LL, err, sizeof(err)), MT_OK);
    wait_end(&s, 3);
    pthread_mutex_lock(&s.mu);
    assert_string_equal(s.outcome[3], "completed");
    assert_true(s.seconds[3] >= 1);
    assert_true(s.in_order);
    pthread_mutex_unlock(&s.mu);
    /* a run config's distribution keys are checked too */
    assert_int_equal(
        mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"agents\":0}", err, sizeof(err)),
        MT_EINVAL);
    assert_non_null(strstr(err, "agents"));
    assert_int_equal(
        mt__agent_check_config("{\"url\":\"http://127.0.0.1:1/\",\"on_agent_loss\":\"retry\"}", err,
                               sizeof(err)),
        MT_EINVAL);
    assert_int_equal(mt__agent_check_config(quick, err, sizeof(err)), MT_OK);

    mt__agent_free(a);
    mt__bus_free(bus);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_prepare_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
