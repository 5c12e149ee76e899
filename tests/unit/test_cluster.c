/* Several servers (src/server/cluster.c, ADR 0034): server ids, and the cluster over a SQLite
 * store (the single server leads; owning a run takes its lease, ending it releases the lease);
 * the live streams of a run aggregated elsewhere follow the store (sse.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "mortar/error.h"
#include "server/cluster.h"
#include "server/log.h"

static void test_ids(void **state)
{
    (void)state;
    assert_true(mt__cluster_id_ok("serve-a"));
    assert_true(mt__cluster_id_ok("host.example_1-42"));
    assert_false(mt__cluster_id_ok(""));
    assert_false(mt__cluster_id_ok(NULL));
    assert_false(mt__cluster_id_ok("a b"));
    assert_false(mt__cluster_id_ok("a\"b"));
    char longid[MT_CLUSTER_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_false(mt__cluster_id_ok(longid));
    longid[MT_CLUSTER_ID_MAX] = '\0';
    assert_true(mt__cluster_id_ok(longid));
    char id[MT_CLUSTER_ID_MAX + 1], pid[32];
    mt__cluster_default_id(id);
    assert_true(mt__cluster_id_ok(id));
    snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    assert_true(strlen(id) > strlen(pid));
    assert_string_equal(id + strlen(id) - strlen(pid), pid);
}

static void test_sqlite_cluster(void **state)
{
    (void)state;
    char dir[] = "/tmp/mortar-test-cluster.XXXXXX";
    assert_non_null(mkdtemp(dir));
    mt__log_init(2, MT_LOG_ERROR);
    mt__serve_t sv = {0};
    pthread_mutex_init(&sv.wake_mu, NULL);
    pthread_cond_init(&sv.wake, NULL);
    char err[256] = "";
    assert_int_equal(mt__store_open_sqlite(dir, &sv.store, err, sizeof err), MT_OK);
    assert_int_equal(mt__sse_new(&sv.live), MT_OK);
    assert_int_equal(mt__bus_new_inproc(&sv.bus), MT_OK);
    mt__cluster_t *c = NULL;
    assert_int_equal(mt__cluster_new(&sv, "bad id", 0, &c), MT_EINVAL);
    assert_int_equal(mt__cluster_new(&sv, "serve-a", 0, &c), MT_OK);
    sv.cluster = c;
    assert_string_equal(mt__cluster_id(c), "serve-a");
    assert_true(mt__cluster_leader(c)); /* SQLite: the single server leads */

    json_t *cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/"), *r = NULL, *l = NULL;
    assert_int_equal(sv.store->ops->run_create(sv.store, NULL, cfg, NULL, NULL, NULL, &r), MT_OK);
    char id[40];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    json_decref(cfg);
    assert_int_equal(mt__cluster_own(c, id), MT_OK);
    assert_int_equal(mt__cluster_owned(c), 1);
    assert_int_equal(sv.store->ops->run_start(sv.store, id, "local", &r), MT_OK);
    json_decref(r);
    assert_int_equal(sv.store->ops->lease_list(sv.store, &l), MT_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(l, "items"), 0), "owner")),
        "serve-a");
    json_decref(l);

    /* a live stream of the run follows the store: a second stored by "another server" */
    mt__listener_t *li = mt__sse_listen(sv.live, id);
    assert_non_null(li);
    mt__listener_prime(li, sv.store, id, 0, 0);
    char buf[4096];
    long n = mt__listener_read(li, buf, sizeof buf - 1, 10);
    assert_true(n > 0); /* the state */
    mt__agg_row_t row = {.tag = "", .data_json = "{\"t\":0,\"sent\":7}"};
    assert_int_equal(sv.store->ops->run_append_second(sv.store, id, 0, &row, 1), MT_OK);
    mt__sse_follow(sv.live, sv.store);
    n = mt__listener_read(li, buf, sizeof buf - 1, 10);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "event: second"));
    assert_non_null(strstr(buf, "\"sent\":7"));
    mt__sse_follow(sv.live, sv.store); /* nothing new: nothing sent twice */
    assert_int_equal(mt__listener_read(li, buf, sizeof buf - 1, 10), 0);
    mt__listener_free(sv.live, li);

    mt__cluster_disown(c, id, 1);
    assert_int_equal(mt__cluster_owned(c), 0);
    assert_int_equal(sv.store->ops->lease_list(sv.store, &l), MT_OK);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
    json_decref(l);

    mt__cluster_free(c);
    mt__bus_free(sv.bus);
    mt__sse_free(sv.live);
    sv.store->ops->close(sv.store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_sqlite_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
