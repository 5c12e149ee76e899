/* Test-only driver of test_serve_changes.sh: writes test histories into a serve data directory
 * through the store's own calls (what `mortar serve` does when runs end), so 30 runs take
 * milliseconds, not 30 runs' worth of seconds. After each run's end it calls what serve calls
 * (mt__changes_after_run). Seeded noise: the same histories every time.
 *   mortar-changes-driver DATA TARGET_URL HOOK_URL
 * First a webhook to HOOK_URL for test.changed (secret "s3cret"), so the change points these
 * histories reveal are in the outbox when serve starts.
 * Tests written (name: history of p99 in us, 1000 requests per run, no errors):
 *   step:  15 runs near 2000, 15 near 2600
 *   flat:  30 runs near 2000
 *   cfg:   15 runs near 2000, the test's config changed, 15 near 2600 (a change of the test)
 *   event: 30 runs near 2000; its config runs TARGET_URL/?delay=60ms, so the runs serve
 *          makes of it next are a change
 * Prints {"<name>": {"test_id": ..., "runs": [run ids oldest first]}, ...}. Exit 0, or 1 with
 * the failing call on stderr. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"
#include "server/changes.h"
#include "server/store.h"

static uint64_t lcg = 42;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        u[i] = ((double)(lcg >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MT_OK) {                                                                        \
            fprintf(stderr, "changes-driver: %s: %s\n", #call, mt_strerror(rc_));                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* One finished run of test id whose p99 is about p99 us (the other percentiles follow it). */
static void run(mt__store_t *s, const char *id, double p99, json_t *ids)
{
    json_t *r = NULL, *done = NULL;
    CHECK(s->ops->run_create(s, id, NULL, NULL, NULL, NULL, &r));
    const char *rid = json_string_value(json_object_get(r, "id"));
    CHECK(s->ops->run_start(s, rid, "changes-driver", NULL));
    double v = p99 * (1 + 0.03 * gauss());
    json_t *sum = json_pack("{s:i,s:i,s:f,s:f,s:{s:f,s:f,s:f,s:f}}", "requests", 1000, "errors", 0,
                            "rps", 100.0, "duration_s", 10.0, "latency_us", "p50", v / 2, "p90",
                            v * 0.8, "p99", v, "p999", v * 1.2);
    char *text = json_dumps(sum, JSON_COMPACT);
    CHECK(s->ops->run_finish(s, rid, "passed", NULL, text, NULL, &done));
    mt__changes_after_run(s, done);
    json_array_append_new(ids, json_string(rid));
    free(text);
    json_decref(sum);
    json_decref(r);
    json_decref(done);
}

static json_t *test(mt__store_t *s, const char *name, const char *url, char *id)
{
    json_t *body = json_pack("{s:s,s:s,s:{s:s,s:i,s:s},s:{}}", "name", name, "description", "",
                             "config", "url", url, "rate", 20, "duration", "1s", "tolerances");
    json_t *t = NULL;
    CHECK(s->ops->test_create(s, body, &t));
    snprintf(id, 37, "%s", json_string_value(json_object_get(t, "id")));
    json_decref(t);
    json_decref(body);
    return json_array();
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mortar-changes-driver DATA TARGET_URL HOOK_URL\n");
        return 2;
    }
    char err[512] = "", id[37], url[512];
    mt__store_t *s = NULL;
    if (mt__store_open_sqlite(argv[1], &s, err, sizeof err) != MT_OK) {
        fprintf(stderr, "changes-driver: %s\n", err);
        return 1;
    }
    json_t *out = json_object(), *ids, *hook = NULL, *events = json_pack("[s]", "test.changed");
    CHECK(s->ops->webhook_create(s, argv[3], "s3cret", events, &hook));
    json_decref(events);
    json_decref(hook);

    ids = test(s, "step", argv[2], id);
    for (int i = 0; i < 30; i++)
        run(s, id, i < 15 ? 2000 : 2600, ids);
    json_object_set_new(out, "step", json_pack("{s:s,s:o}", "test_id", id, "runs", ids));

    ids = test(s, "flat", argv[2], id);
    for (int i = 0; i < 30; i++)
        run(s, id, 2000, ids);
    json_object_set_new(out, "flat", json_pack("{s:s,s:o}", "test_id", id, "runs", ids));

    ids = test(s, "cfg", argv[2], id);
    for (int i = 0; i < 15; i++)
        run(s, id, 2000, ids);
    json_t *t = NULL, *body = json_pack("{s:s,s:s,s:{s:s,s:i,s:s},s:{}}", "name", "cfg",
                                        "description", "twice the rate", "config", "url", argv[2],
                                        "rate", 40, "duration", "1s", "tolerances");
    CHECK(s->ops->test_update(s, id, body, &t));
    json_decref(t);
    json_decref(body);
    for (int i = 0; i < 15; i++)
        run(s, id, 2600, ids);
    json_object_set_new(out, "cfg", json_pack("{s:s,s:o}", "test_id", id, "runs", ids));

    snprintf(url, sizeof url, "%s/?delay=60ms", argv[2]);
    ids = test(s, "event", url, id);
    for (int i = 0; i < 30; i++)
        run(s, id, 2000, ids);
    json_object_set_new(out, "event", json_pack("{s:s,s:o}", "test_id", id, "runs", ids));

    s->ops->close(s);
    char *text = json_dumps(out, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(out);
    return 0;
}
