/* The SQLite store (src/server/store_sqlite.c): migrations and their checksums, idempotency
 * keys, the outbox written in the state change's transaction, run lifecycle and recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mortar/error.h"
#include "server/log.h"
#include "server/store.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mortar-test-store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    mt__log_init(2, MT_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static mt__store_t *open_store(void)
{
    mt__store_t *s = NULL;
    char err[512] = "";
    int rc = mt__store_open_sqlite(dir, &s, err, sizeof err);
    if (rc != MT_OK)
        fail_msg("open: %s", err);
    return s;
}

static void test_migrations(void **state)
{
    /* applied once, recorded; reopening applies nothing new and succeeds */
    mt__store_t *s = open_store();
    assert_int_equal(s->ops->ping(s), MT_OK);
    s->ops->close(s);
    s = open_store();
    s->ops->close(s);

    /* a changed applied migration is refused, naming it */
    mt__migration_t changed[] = {{mt__migrations[0].name, "CREATE TABLE x (a INTEGER);"}};
    char err[512] = "";
    assert_int_equal(mt__store_open_sqlite_with(dir, changed, 1, &s, err, sizeof err), MT_EFORMAT);
    assert_non_null(strstr(err, mt__migrations[0].name));
    assert_non_null(strstr(err, "changed"));

    /* a new one is applied after the embedded ones; a bad order is refused */
    mt__migration_t more[32];
    size_t n = mt__nmigrations;
    memcpy(more, mt__migrations, n * sizeof more[0]);
    more[n] = (mt__migration_t){"V99__extra.sql", "CREATE TABLE extra (a INTEGER);"};
    assert_int_equal(mt__store_open_sqlite_with(dir, more, n + 1, &s, err, sizeof err), MT_OK);
    s->ops->close(s);
    mt__migration_t bad[] = {{"V2__b.sql", "SELECT 1;"}, {"V1__a.sql", "SELECT 1;"}};
    assert_int_equal(mt__store_open_sqlite_with(dir, bad, 2, &s, err, sizeof err), MT_EFORMAT);
}

static void test_idempotency(void **state)
{
    mt__store_t *s = open_store();
    char *h = NULL, *ct = NULL, *b = NULL;
    int st = 0;
    assert_int_equal(s->ops->idem_get(s, "tok1", "k1", &h, &st, &ct, &b), MT_ENOTFOUND);
    assert_int_equal(s->ops->idem_put(s, "tok1", "k1", "hash1", 201, "application/json", "{}"),
                     MT_OK);
    /* a concurrent twin's put keeps the first response */
    assert_int_equal(s->ops->idem_put(s, "tok1", "k1", "hash2", 500, "text/plain", "x"), MT_OK);
    assert_int_equal(s->ops->idem_get(s, "tok1", "k1", &h, &st, &ct, &b), MT_OK);
    assert_string_equal(h, "hash1");
    assert_int_equal(st, 201);
    assert_string_equal(b, "{}");
    free(h);
    free(ct);
    free(b);
    /* keys are scoped per token */
    assert_int_equal(s->ops->idem_get(s, "tok2", "k1", &h, &st, &ct, &b), MT_ENOTFOUND);
    s->ops->close(s);
}

static json_t *test_body(const char *name)
{
    return json_pack("{s:s,s:s,s:{s:s,s:i,s:s},s:{}}", "name", name, "description", "d", "config",
                     "url", "http://127.0.0.1:1/", "rate", 10, "duration", "1s", "tolerances");
}

static size_t due_count(mt__store_t *s, const char *type)
{
    mt__delivery_t *d = NULL;
    size_t n = 0, k = 0;
    assert_int_equal(s->ops->relay_ops->due(s, INT64_MAX / 2, 100, &d, &n), MT_OK);
    for (size_t i = 0; i < n; i++)
        if (type == NULL || strcmp(d[i].event_type, type) == 0)
            k++;
    s->ops->relay_ops->free_due(s, d, n);
    return k;
}

static void test_outbox_and_tests(void **state)
{
    mt__store_t *s = open_store();
    json_t *wh = NULL, *ev = json_pack("[s,s]", "test.created", "run.finished");
    assert_int_equal(s->ops->webhook_create(s, "http://127.0.0.1:9/", "sec", ev, &wh), MT_OK);
    json_decref(ev);

    json_t *b = test_body("checkout"), *t = NULL, *t2 = NULL;
    assert_int_equal(s->ops->test_create(s, b, &t), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(t, "version")), 1);
    /* the event's delivery was written with the test */
    assert_int_equal(due_count(s, "test.created"), 1);
    /* names are unique, and a refused create leaves no event behind */
    assert_int_equal(s->ops->test_create(s, b, &t2), MT_ECONFLICT);
    assert_int_equal(due_count(s, "test.created"), 1);

    const char *id = json_string_value(json_object_get(t, "id"));
    json_object_set_new(b, "description", json_string("v2"));
    assert_int_equal(s->ops->test_update(s, id, b, &t2), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(t2, "version")), 2);
    json_decref(t2);
    json_t *vers = NULL;
    assert_int_equal(s->ops->test_versions(s, id, &vers), MT_OK);
    assert_int_equal(json_array_size(json_object_get(vers, "items")), 2);
    json_decref(vers);
    /* test.updated does not match the webhook: no delivery */
    assert_int_equal(due_count(s, NULL), 1);

    /* a run through its life; run.finished gets a delivery */
    json_t *run = NULL;
    assert_int_equal(s->ops->run_create(s, id, NULL, NULL, NULL, NULL, &run), MT_OK);
    const char *rid = json_string_value(json_object_get(run, "id"));
    assert_string_equal(json_string_value(json_object_get(run, "state")), "queued");
    assert_int_equal(json_integer_value(json_object_get(run, "test_version")), 2);
    assert_int_equal(s->ops->run_start(s, rid, "local", NULL), MT_OK);
    assert_int_equal(s->ops->run_start(s, rid, "local", NULL), MT_ECONFLICT);
    mt__agg_row_t rows[2] = {{"", "{\"t\":0}", "HISTFAAAAA", "HISTFAAAAA"},
                             {"a", "{\"t\":0,\"tag\":\"a\"}", "HISTFAAAAA", "HISTFAAAAA"}};
    assert_int_equal(s->ops->run_append_second(s, rid, 0, rows, 2), MT_OK);
    assert_int_equal(s->ops->run_append_second(s, rid, 1, rows, 1), MT_OK);
    mt__store_rows_t got;
    assert_int_equal(s->ops->run_rows(s, rid, "", 0, 100, &got), MT_OK);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.second[1], 1);
    mt__store_rows_dispose(&got);
    assert_int_equal(s->ops->run_rows(s, rid, NULL, 0, 0, &got), MT_OK);
    assert_int_equal(got.n, 2);
    mt__store_rows_dispose(&got);

    char *series = NULL;
    size_t slen = 0;
    assert_int_equal(s->ops->run_series(s, rid, NULL, 0, 100, &series, &slen), MT_OK);
    json_t *sj = json_loadb(series, slen, 0, NULL);
    assert_non_null(sj);
    assert_int_equal(json_array_size(json_object_get(sj, "items")), 2);
    assert_string_equal(json_string_value(json_object_get(sj, "run_id")), rid);
    json_decref(sj);
    free(series);
    assert_int_equal(s->ops->run_series(s, rid, "a", 0, 100, &series, &slen), MT_OK);
    assert_non_null(strstr(series, "\"tag\":\"a\""));
    free(series);
    assert_int_equal(s->ops->run_series(s, "nope", NULL, 0, 100, &series, &slen), MT_ENOTFOUND);

    json_t *fin = NULL;
    assert_int_equal(
        s->ops->run_finish(s, rid, "passed", "completed", "{\"requests\":1}", "{}", &fin), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(fin, "seconds")), 2);
    assert_int_equal(s->ops->run_finish(s, rid, "stopped", "x", NULL, NULL, NULL), MT_ECONFLICT);
    assert_int_equal(due_count(s, "run.finished"), 1);
    json_decref(fin);

    /* the relay's record: delivered deliveries are no longer due */
    mt__delivery_t *d = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->relay_ops->due(s, INT64_MAX / 2, 100, &d, &n), MT_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s->ops->relay_ops->record(s, d[i].id, 1, 200, NULL, 0), MT_OK);
    s->ops->relay_ops->free_due(s, d, n);
    assert_int_equal(due_count(s, NULL), 0);

    json_decref(run);
    json_decref(t);
    json_decref(b);
    json_decref(wh);
    s->ops->close(s);
}

/* fail_on_regression is stored with the test; run.regressed is written with run.finished
 * when the run's verdicts hold a baseline verdict that regressed (docs/analysis.md). */
/* A run's creator is kept as given (the API passes its caller's token); none is null. */
static void test_run_creator(void **state)
{
    (void)state;
    mt__store_t *s = open_store();
    json_t *cfg =
        json_pack("{s:s,s:i,s:s}", "url", "http://127.0.0.1:1/", "rate", 1, "duration", "1s");
    json_t *by =
        json_pack("{s:s,s:s,s:s}", "token_id", "t-1", "token_name", "ci", "role", "runner");
    json_t *r = NULL, *got = NULL;
    assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, by, &r), MT_OK);
    assert_true(json_equal(json_object_get(r, "created_by"), by));
    assert_int_equal(s->ops->run_get(s, json_string_value(json_object_get(r, "id")), &got), MT_OK);
    assert_true(json_equal(json_object_get(got, "created_by"), by));
    json_decref(r);
    json_decref(got);
    assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
    assert_true(json_is_null(json_object_get(r, "created_by")));
    json_decref(r);
    json_decref(by);
    json_decref(cfg);
    s->ops->close(s);
}

static void test_regressed_event(void **state)
{
    mt__store_t *s = open_store();
    json_t *wh = NULL, *ev = json_pack("[s]", "run.regressed");
    (void)state;
    assert_int_equal(s->ops->webhook_create(s, "http://127.0.0.1:9/", "sec", ev, &wh), MT_OK);
    json_decref(ev);

    json_t *b = test_body("slow"), *t = NULL, *t2 = NULL;
    assert_int_equal(s->ops->test_create(s, b, &t), MT_OK);
    assert_true(json_is_false(json_object_get(t, "fail_on_regression")));
    const char *id = json_string_value(json_object_get(t, "id"));
    json_object_set_new(b, "fail_on_regression", json_true());
    assert_int_equal(s->ops->test_update(s, id, b, &t2), MT_OK);
    assert_true(json_is_true(json_object_get(t2, "fail_on_regression")));
    json_decref(t2);
    assert_int_equal(s->ops->test_get(s, id, &t2), MT_OK);
    assert_true(json_is_true(json_object_get(t2, "fail_on_regression")));
    json_decref(t2);

    static const char *const verdicts[] = {
        "[{\"kind\":\"threshold\",\"passed\":false}]",
        "[{\"kind\":\"baseline\",\"regressed\":false,\"passed\":true}]",
        ("[{\"kind\":\"threshold\",\"passed\":true},{\"kind\":\"baseline\",\"regressed\":true,"
         "\"passed\":false}]"),
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *run = NULL;
        assert_int_equal(s->ops->run_create(s, id, NULL, NULL, NULL, NULL, &run), MT_OK);
        const char *rid = json_string_value(json_object_get(run, "id"));
        assert_int_equal(s->ops->run_start(s, rid, "local", NULL), MT_OK);
        assert_int_equal(s->ops->run_finish(s, rid, "passed", "completed", "{}", verdicts[i], NULL),
                         MT_OK);
        assert_int_equal(due_count(s, "run.regressed"), i == 2 ? 1 : 0);
        json_decref(run);
    }
    json_decref(t);
    json_decref(b);
    json_decref(wh);
    s->ops->close(s);
}

static void test_recover_and_pages(void **state)
{
    mt__store_t *s = open_store();
    json_t *cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/"), *r = NULL;
    char ids[5][40];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
        snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(r, "id")));
        json_decref(r);
    }
    assert_int_equal(s->ops->run_start(s, ids[1], "local", NULL), MT_OK);
    size_t n = 0;
    assert_int_equal(s->ops->run_recover(s, "server stopped during the run", &n), MT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s->ops->run_get(s, ids[1], &r), MT_OK);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "interrupted");
    json_decref(r);
    assert_int_equal(s->ops->run_get(s, ids[0], &r), MT_OK);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "queued");
    json_decref(r);

    /* newest first, two per page, the cursor continues */
    mt__store_page_t pg = {2, NULL};
    json_t *p1 = NULL, *p2 = NULL;
    assert_int_equal(s->ops->run_list(s, NULL, NULL, &pg, &p1), MT_OK);
    json_t *items = json_object_get(p1, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), ids[4]);
    pg.cursor = json_string_value(json_object_get(p1, "next_cursor"));
    assert_int_equal(s->ops->run_list(s, NULL, NULL, &pg, &p2), MT_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(p2, "items"), 0), "id")),
        ids[2]);
    json_decref(p1);
    json_decref(p2);
    pg.cursor = NULL;
    assert_int_equal(s->ops->run_list(s, "queued", NULL, &pg, &p1), MT_OK);
    assert_int_equal(json_array_size(json_object_get(p1, "items")), 2);
    json_decref(p1);
    json_decref(cfg);
    s->ops->close(s);
}

/* The scheduler's and the relay's callbacks over the store (scheduler.h, webhook.h). */
/* A webhook with a long backlog never crowds another's deliveries out of a page of due ones;
 * a run's losses are stored and shown; a healthy store says so. */
static void test_backlog_losses_health(void **state)
{
    (void)state;
    mt__store_t *s = open_store();
    json_t *ev = json_pack("[s]", "test.created"), *wa = NULL, *wb = NULL, *t = NULL;
    char name[32], why[64];
    assert_int_equal(s->ops->webhook_create(s, "http://127.0.0.1:9/a", "k", ev, &wa), MT_OK);
    for (int i = 0; i < 15; i++) {
        snprintf(name, sizeof name, "backlog-%d", i);
        json_t *b = test_body(name);
        assert_int_equal(s->ops->test_create(s, b, &t), MT_OK);
        json_decref(b);
        json_decref(t);
    }
    assert_int_equal(s->ops->webhook_create(s, "http://127.0.0.1:9/b", "k", ev, &wb), MT_OK);
    json_t *b = test_body("last");
    assert_int_equal(s->ops->test_create(s, b, &t), MT_OK);
    json_decref(b);
    json_decref(t);
    mt__delivery_t *d = NULL;
    size_t n = 0, na = 0, nb = 0;
    assert_int_equal(s->ops->relay_ops->due(s, INT64_MAX / 2, 100, &d, &n), MT_OK);
    for (size_t i = 0; i < n; i++) {
        na += strcmp(d[i].url, "http://127.0.0.1:9/a") == 0;
        nb += strcmp(d[i].url, "http://127.0.0.1:9/b") == 0;
    }
    s->ops->relay_ops->free_due(s, d, n);
    assert_int_equal(na, 10); /* 16 pending, 10 a page */
    assert_int_equal(nb, 1);

    json_t *cfg = json_pack("{s:s,s:i,s:s}", "url", "http://127.0.0.1:1/", "rate", 1, "duration",
                            "1s"),
           *r = NULL;
    assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
    const char *rid = json_string_value(json_object_get(r, "id"));
    json_t *got = NULL;
    assert_int_equal(s->ops->run_get(s, rid, &got), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(got, "lost_seconds")), 0);
    assert_true(json_is_null(json_object_get(got, "loss_reason")));
    json_decref(got);
    assert_int_equal(s->ops->run_set_loss(s, rid, 3, "3 seconds lost: disk full"), MT_OK);
    assert_int_equal(s->ops->run_get(s, rid, &got), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(got, "lost_seconds")), 3);
    assert_string_equal(json_string_value(json_object_get(got, "loss_reason")),
                        "3 seconds lost: disk full");
    json_decref(got);
    assert_int_equal(s->ops->run_set_loss(s, "no-such-run", 1, "x"), MT_ENOTFOUND);
    assert_int_equal(s->ops->health(s, why, sizeof why), MT_OK);
    assert_string_equal(why, "");
    assert_string_equal(s->ops->last_error(s), "");
    json_decref(r);
    json_decref(cfg);
    json_decref(wa);
    json_decref(wb);
    json_decref(ev);
    s->ops->close(s);
}

static void test_scheduler_and_relay_ops(void **state)
{
    mt__store_t *s = open_store();
    const mt__scheduler_ops_t *so = s->ops->sched_ops;
    json_t *b = test_body("nightly"), *t = NULL, *sc = NULL, *wh = NULL;
    assert_int_equal(s->ops->test_create(s, b, &t), MT_OK);
    const char *tid = json_string_value(json_object_get(t, "id"));
    json_t *sb = json_pack("{s:s,s:s,s:s,s:b}", "test_id", tid, "cron", "0 3 * * *", "policy",
                           "skip", "enabled", 1);
    assert_int_equal(s->ops->sched_create(s, sb, 1000, &sc), MT_OK);
    const char *sid = json_string_value(json_object_get(sc, "id"));
    json_t *ev = json_pack("[s]", "*");
    assert_int_equal(s->ops->webhook_create(s, "http://127.0.0.1:9/", "k", ev, &wh), MT_OK);

    mt__sched_entry_t *e = NULL;
    size_t n = 0;
    assert_int_equal(so->list(s, &e, &n), MT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].test_id, tid);
    assert_int_equal(e[0].next_fire_at, 1000);
    so->free_entries(s, e, n);

    assert_int_equal(so->has_active(s, sid), 0);
    assert_int_equal(so->enqueue(s, sid, tid, 2000), MT_OK);
    assert_int_equal(so->has_active(s, sid), 1);
    assert_int_equal(so->skipped(s, sid, 2060, "previous run still active"), MT_OK);
    assert_int_equal(so->set_next(s, sid, 3000), MT_OK);
    json_t *got = NULL;
    assert_int_equal(s->ops->sched_get(s, sid, &got), MT_OK);
    assert_non_null(json_string_value(json_object_get(got, "last_fire_at")));
    json_decref(got);
    /* the fired schedule's run is queued with its schedule id; events in the outbox */
    mt__store_page_t pg = {10, NULL};
    json_t *runs = NULL;
    assert_int_equal(s->ops->run_list(s, "queued", tid, &pg, &runs), MT_OK);
    json_t *r0 = json_array_get(json_object_get(runs, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "schedule_id")), sid);
    /* ... and made by it */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r0, "created_by"), "schedule_id")), sid);
    json_decref(runs);
    assert_int_equal(due_count(s, "schedule.fired"), 1);
    assert_int_equal(due_count(s, "schedule.skipped"), 1);
    assert_int_equal(due_count(s, "run.queued"), 1);
    {
        /* the skipped event says why */
        mt__delivery_t *d = NULL;
        size_t nd = 0, seen = 0;
        assert_int_equal(s->ops->relay_ops->due(s, INT64_MAX / 2, 100, &d, &nd), MT_OK);
        for (size_t i = 0; i < nd; i++)
            if (strcmp(d[i].event_type, "schedule.skipped") == 0) {
                assert_non_null(strstr(d[i].body, "\"reason\":\"previous run still active\""));
                seen++;
            }
        s->ops->relay_ops->free_due(s, d, nd);
        assert_int_equal(seen, 1);
    }

    /* a failed attempt with a retry time stays pending until then; out of attempts: failed */
    mt__delivery_t *d = NULL;
    assert_int_equal(s->ops->relay_ops->due(s, INT64_MAX / 2, 1, &d, &n), MT_OK);
    assert_int_equal(n, 1);
    char id[64];
    snprintf(id, sizeof id, "%s", d[0].id);
    assert_int_equal(d[0].attempt, 0);
    s->ops->relay_ops->free_due(s, d, n);
    assert_int_equal(s->ops->relay_ops->record(s, id, 0, 500, "HTTP 500", INT64_MAX / 4), MT_OK);
    size_t before = due_count(s, NULL);
    assert_int_equal(s->ops->relay_ops->due(s, 10, 100, &d, &n), MT_OK);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(d[i].id, id);
    s->ops->relay_ops->free_due(s, d, n);
    assert_int_equal(s->ops->relay_ops->record(s, id, 0, 0, "refused", 0), MT_OK);
    assert_int_equal(due_count(s, NULL), before - 1);

    /* deleting the test disables its schedule: the scheduler no longer sees it */
    assert_int_equal(s->ops->test_delete(s, tid), MT_OK);
    assert_int_equal(so->list(s, &e, &n), MT_OK);
    assert_int_equal(n, 0);
    so->free_entries(s, e, n);

    json_decref(ev);
    json_decref(sb);
    json_decref(sc);
    json_decref(wh);
    json_decref(t);
    json_decref(b);
    s->ops->close(s);
}

/* A run's agents (run_agents, V2): upserts keep what is not given, the Run carries them by
 * index, finishing the run ends the parts in progress; agents list their version, state and
 * the runs they hold. */
static void test_run_agents(void **state)
{
    mt__store_t *s = open_store();
    json_t *cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/"), *r = NULL;
    assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
    char id[40];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    assert_int_equal(json_array_size(json_object_get(r, "agents")), 0);
    json_decref(r);

    mt__store_run_agent_t a = MT_STORE_RUN_AGENT_INIT("gen-2");
    a.index = 1;
    a.share_json = "{\"index\":1,\"of\":2,\"period\":2,\"residues\":[1]}";
    assert_int_equal(s->ops->run_agent_put(s, id, &a), MT_OK);
    mt__store_run_agent_t b = MT_STORE_RUN_AGENT_INIT("gen-1");
    b.index = 0;
    b.state = "ready";
    b.clock_offset_us = -120;
    assert_int_equal(s->ops->run_agent_put(s, id, &b), MT_OK);
    /* a partial update: only the state and the skew change */
    mt__store_run_agent_t u = MT_STORE_RUN_AGENT_INIT("gen-1");
    u.state = "running";
    u.start_skew_us = 85;
    u.last_second = 4;
    assert_int_equal(s->ops->run_agent_put(s, id, &u), MT_OK);
    /* bad input: unknown state, missing name, unknown run */
    mt__store_run_agent_t bad = MT_STORE_RUN_AGENT_INIT("gen-1");
    bad.state = "sleeping";
    assert_int_equal(s->ops->run_agent_put(s, id, &bad), MT_EINVAL);
    mt__store_run_agent_t noname = MT_STORE_RUN_AGENT_INIT(NULL);
    assert_int_equal(s->ops->run_agent_put(s, id, &noname), MT_EINVAL);
    assert_int_equal(s->ops->run_agent_put(s, "no-such-run", &b), MT_ECONFLICT);

    assert_int_equal(s->ops->run_start(s, id, "gen-1,gen-2", &r), MT_OK);
    json_t *ag = json_object_get(r, "agents");
    assert_int_equal(json_array_size(ag), 2);
    json_t *g1 = json_array_get(ag, 0), *g2 = json_array_get(ag, 1);
    assert_string_equal(json_string_value(json_object_get(g1, "name")), "gen-1");
    assert_int_equal(json_integer_value(json_object_get(g1, "index")), 0);
    assert_string_equal(json_string_value(json_object_get(g1, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(g1, "clock_offset_us")), -120);
    assert_int_equal(json_integer_value(json_object_get(g1, "start_skew_us")), 85);
    assert_int_equal(json_integer_value(json_object_get(g1, "last_second")), 4);
    assert_true(json_is_null(json_object_get(g1, "share")));
    assert_string_equal(json_string_value(json_object_get(g2, "name")), "gen-2");
    assert_string_equal(json_string_value(json_object_get(g2, "state")), "preparing");
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(g2, "share"), "residues"), 0)),
                     1);
    assert_true(json_is_null(json_object_get(g2, "last_second")));
    json_decref(r);

    json_t *l = NULL;
    assert_int_equal(s->ops->run_agents_list(s, id, &l), MT_OK);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
    json_decref(l);
    assert_int_equal(s->ops->run_agents_list(s, "no-such-run", &l), MT_ENOTFOUND);

    /* agents: version and state, the runs they hold, down without heartbeats */
    int64_t now = 1800000000000;
    assert_int_equal(
        s->ops->agent_heartbeat(s, "gen-1", "{\"zone\":\"a\"}", 2, 1, "1.2.3", NULL, now), MT_OK);
    assert_int_equal(s->ops->agent_heartbeat(s, "gen-2", "{}", 1, 1, NULL, "draining", now - 60000),
                     MT_OK);
    assert_int_equal(s->ops->agent_heartbeat(s, "gen-3", "{}", 1, 0, "1.2.3", "stopped", now),
                     MT_OK);
    assert_int_equal(s->ops->agent_list(s, now, &l), MT_OK);
    json_t *items = json_object_get(l, "items");
    assert_int_equal(json_array_size(items), 3);
    json_t *x = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(x, "version")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(x, "state")), "up");
    assert_string_equal(json_string_value(json_object_get(json_object_get(x, "labels"), "zone")),
                        "a");
    assert_int_equal(json_array_size(json_object_get(x, "runs")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(x, "runs"), 0)), id);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "state")),
                        "down");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "state")),
                        "stopped");
    json_decref(l);
    /* a heartbeat without version keeps the stored one */
    assert_int_equal(s->ops->agent_heartbeat(s, "gen-1", "{}", 2, 0, NULL, NULL, now), MT_OK);
    assert_int_equal(s->ops->agent_list(s, now, &l), MT_OK);
    x = json_array_get(json_object_get(l, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "version")), "1.2.3");
    json_decref(l);

    /* the run ends: parts in progress end with it; gen-1 holds no run any more */
    assert_int_equal(s->ops->run_finish(s, id, "passed", NULL, NULL, NULL, &r), MT_OK);
    ag = json_object_get(r, "agents");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ag, 0), "state")),
                        "ended");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ag, 1), "state")),
                        "ended");
    json_decref(r);
    assert_int_equal(s->ops->agent_list(s, now, &l), MT_OK);
    x = json_array_get(json_object_get(l, "items"), 0);
    assert_int_equal(json_array_size(json_object_get(x, "runs")), 0);
    json_decref(l);
    json_decref(cfg);
    s->ops->close(s);
}

/* A queued run's reason: written when it changes, cleared at the start. */
static void test_queued_reason(void **state)
{
    mt__store_t *s = open_store();
    json_t *cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/"), *r = NULL;
    assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
    char id[40];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    int changed = -1;
    assert_int_equal(s->ops->run_queued_reason(s, id, "waiting for 2 agents", &changed), MT_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(s->ops->run_queued_reason(s, id, "waiting for 2 agents", &changed), MT_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(s->ops->run_get(s, id, &r), MT_OK);
    assert_string_equal(json_string_value(json_object_get(r, "reason")), "waiting for 2 agents");
    assert_string_equal(json_string_value(json_object_get(r, "state")), "queued");
    json_decref(r);
    assert_int_equal(s->ops->run_start(s, id, "local", &r), MT_OK);
    assert_true(json_is_null(json_object_get(r, "reason")));
    json_decref(r);
    /* no longer queued: nothing written */
    assert_int_equal(s->ops->run_queued_reason(s, id, "late", &changed), MT_OK);
    assert_int_equal(changed, 0);
    json_decref(cfg);
    s->ops->close(s);
}

/* A finished run of test id with summary p99 (the change points' input). */
static void finished_run(mt__store_t *s, const char *id, double p99, char *rid_out)
{
    json_t *r = NULL;
    assert_int_equal(s->ops->run_create(s, id, NULL, NULL, NULL, NULL, &r), MT_OK);
    const char *rid = json_string_value(json_object_get(r, "id"));
    assert_int_equal(s->ops->run_start(s, rid, "local", NULL), MT_OK);
    char sum[160];
    snprintf(sum, sizeof sum,
             "{\"requests\":100,\"errors\":5,\"rps\":10,\"latency_us\":{\"p99\":%g}}", p99);
    assert_int_equal(s->ops->run_finish(s, rid, "passed", NULL, sum, NULL, NULL), MT_OK);
    if (rid_out)
        snprintf(rid_out, 40, "%s", rid);
    json_decref(r);
}

static json_t *found_one(const char *metric, const char *run_id, const char *near1)
{
    return json_pack("{s:[{s:s,s:[s,s]}]}", metric, "run_id", run_id, "near", run_id, near1);
}

static void test_config_version_and_changes(void **state)
{
    mt__store_t *s = open_store();
    json_t *b = test_body("cv"), *t = NULL, *t2 = NULL;
    assert_int_equal(s->ops->test_create(s, b, &t), MT_OK);
    const char *id = json_string_value(json_object_get(t, "id"));
    assert_int_equal(json_integer_value(json_object_get(t, "config_version")), 1);
    char r1[40], r2[40], r3[40];
    finished_run(s, id, 1000, r1);
    /* a new description is a new version, not a new config version */
    json_object_set_new(b, "description", json_string("other words"));
    assert_int_equal(s->ops->test_update(s, id, b, &t2), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(t2, "version")), 2);
    assert_int_equal(json_integer_value(json_object_get(t2, "config_version")), 1);
    json_decref(t2);
    finished_run(s, id, 1100, r2);
    json_object_set_new(json_object_get(b, "config"), "rate", json_integer(20));
    assert_int_equal(s->ops->test_update(s, id, b, &t2), MT_OK);
    assert_int_equal(json_integer_value(json_object_get(t2, "version")), 3);
    assert_int_equal(json_integer_value(json_object_get(t2, "config_version")), 2);
    json_decref(t2);
    finished_run(s, id, 1200, r3);
    /* a run that never finished is not history */
    json_t *q = NULL;
    assert_int_equal(s->ops->run_create(s, id, NULL, NULL, NULL, NULL, &q), MT_OK);

    json_t *h = NULL;
    assert_int_equal(s->ops->test_history(s, id, 100, &h), MT_OK);
    json_t *items = json_object_get(h, "items");
    assert_int_equal(json_array_size(items), 3);
    const char *want[3] = {r1, r2, r3};
    const int cv[3] = {1, 1, 2};
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(it, "run_id")), want[i]);
        assert_int_equal(json_integer_value(json_object_get(it, "config_version")), cv[i]);
        assert_true(json_real_value(json_object_get(it, "error_rate")) == 0.05);
        assert_true(json_is_null(json_object_get(it, "p50")));
    }
    assert_true(json_number_value(json_object_get(json_array_get(items, 2), "p99")) == 1200);
    json_decref(h);
    assert_int_equal(s->ops->test_history(s, id, 2, &h), MT_OK); /* the last 2 */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(h, "items"), 0), "run_id")),
                        r2);
    json_decref(h);
    assert_int_equal(s->ops->test_history(s, "nope", 2, &h), MT_ENOTFOUND);

    /* test.changed: the first call records silently, a new one is announced once, a change
     * point whose "near" runs include a known one is that one */
    json_t *wh = NULL, *ev = json_pack("[s]", "test.changed");
    assert_int_equal(s->ops->webhook_create(s, "http://127.0.0.1:9/", "sec", ev, &wh), MT_OK);
    json_t *f = found_one("p99", r1, r2), *fresh = NULL;
    assert_int_equal(s->ops->test_changes_put(s, id, f, &fresh), MT_OK);
    assert_int_equal(json_array_size(fresh), 0);
    json_decref(fresh);
    json_decref(f);
    f = found_one("p99", r3, r1); /* r1 is known: the same change, moved */
    assert_int_equal(s->ops->test_changes_put(s, id, f, &fresh), MT_OK);
    assert_int_equal(json_array_size(fresh), 0);
    json_decref(fresh);
    json_decref(f);
    assert_int_equal(due_count(s, "test.changed"), 0);
    f = found_one("rps", r2, r3); /* another metric: new */
    assert_int_equal(s->ops->test_changes_put(s, id, f, &fresh), MT_OK);
    assert_int_equal(json_array_size(fresh), 1);
    json_t *c = json_array_get(fresh, 0);
    assert_string_equal(json_string_value(json_object_get(c, "metric")), "rps");
    assert_string_equal(json_string_value(json_object_get(c, "run_id")), r2);
    assert_null(json_object_get(c, "near"));
    json_decref(fresh);
    assert_int_equal(due_count(s, "test.changed"), 1);
    assert_int_equal(s->ops->test_changes_put(s, id, f, &fresh), MT_OK); /* again: known */
    assert_int_equal(json_array_size(fresh), 0);
    assert_int_equal(due_count(s, "test.changed"), 1);
    json_decref(fresh);
    json_decref(f);
    assert_int_equal(s->ops->test_changes_put(s, "nope", f = json_object(), NULL), MT_ENOTFOUND);
    json_decref(f);

    json_decref(wh);
    json_decref(ev);
    json_decref(q);
    json_decref(t);
    json_decref(b);
    s->ops->close(s);
}

/* Several servers (store.h, ADR 0034): on SQLite every lease and the leadership are granted
 * (one server per data directory), the rows say who owns what, an orphan is a running run
 * leased to no one or to an earlier process; an idempotency key is reserved before its
 * request runs, filled by the put, released when not kept. */
static void test_leases_and_claims(void **state)
{
    mt__store_t *s = open_store();
    json_t *cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/"), *r = NULL, *o = NULL;
    assert_int_equal(s->ops->run_create(s, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
    char id[40];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    json_decref(cfg);
    int got = 0, leader = 0;
    char holder[128];
    assert_int_equal(s->ops->leader_try(s, "a-1", &leader), MT_OK);
    assert_int_equal(leader, 1);
    /* a queued run is nobody's orphan */
    assert_int_equal(s->ops->lease_orphans(s, "a-1", &o), MT_OK);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
    assert_int_equal(s->ops->lease_take(s, id, "a-1", 3000, &got, holder), MT_OK);
    assert_int_equal(got, 1);
    assert_string_equal(holder, "a-1");
    assert_int_equal(s->ops->run_start(s, id, "gen-1", &r), MT_OK);
    json_decref(r);
    assert_int_equal(s->ops->lease_orphans(s, "a-1", &o), MT_OK);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
    assert_int_equal(s->ops->lease_list(s, &o), MT_OK);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "items"), 0), "owner")),
        "a-1");
    json_decref(o);
    assert_int_equal(s->ops->lease_renew(s, id, "a-1", 3000), MT_OK);
    /* a later process of the same data directory: the run is its orphan, taken over */
    assert_int_equal(s->ops->lease_orphans(s, "a-2", &o), MT_OK);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "items"), 0)), id);
    json_decref(o);
    assert_int_equal(s->ops->lease_take(s, id, "a-2", 3000, &got, holder), MT_OK);
    assert_int_equal(got, 1);
    /* the old owner's renewal finds the run taken */
    assert_int_equal(s->ops->lease_renew(s, id, "a-1", 3000), MT_ECONFLICT);
    assert_int_equal(s->ops->lease_release(s, id, "a-1"), MT_OK); /* not its: kept */
    assert_int_equal(s->ops->lease_renew(s, id, "a-2", 3000), MT_OK);
    assert_int_equal(s->ops->lease_release(s, id, "a-2"), MT_OK);
    assert_int_equal(s->ops->lease_orphans(s, "a-2", &o), MT_OK); /* running, no lease */
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    json_decref(o);

    /* idempotency: reserve, a twin sees the reservation (status 0), the put fills it */
    char *h = NULL, *ct = NULL, *b = NULL;
    int st = -1, claimed = 0;
    assert_int_equal(s->ops->idem_claim(s, "tok1", "k1", "hash1", &claimed), MT_OK);
    assert_int_equal(claimed, 1);
    assert_int_equal(s->ops->idem_claim(s, "tok1", "k1", "hash1", &claimed), MT_OK);
    assert_int_equal(claimed, 0);
    assert_int_equal(s->ops->idem_get(s, "tok1", "k1", &h, &st, &ct, &b), MT_OK);
    assert_int_equal(st, 0);
    free(h);
    free(ct);
    free(b);
    assert_int_equal(s->ops->idem_put(s, "tok1", "k1", "hash1", 201, "application/json", "{}"),
                     MT_OK);
    assert_int_equal(s->ops->idem_get(s, "tok1", "k1", &h, &st, &ct, &b), MT_OK);
    assert_int_equal(st, 201);
    assert_string_equal(b, "{}");
    free(h);
    free(ct);
    free(b);
    /* a stored response is never released; a reservation is */
    assert_int_equal(s->ops->idem_release(s, "tok1", "k1"), MT_OK);
    assert_int_equal(s->ops->idem_get(s, "tok1", "k1", &h, &st, &ct, &b), MT_OK);
    free(h);
    free(ct);
    free(b);
    assert_int_equal(s->ops->idem_claim(s, "tok1", "k2", "hash2", &claimed), MT_OK);
    assert_int_equal(claimed, 1);
    assert_int_equal(s->ops->idem_release(s, "tok1", "k2"), MT_OK);
    assert_int_equal(s->ops->idem_get(s, "tok1", "k2", &h, &st, &ct, &b), MT_ENOTFOUND);
    s->ops->close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_and_tests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_creator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regressed_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler_and_relay_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_losses_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_version_and_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases_and_claims, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
