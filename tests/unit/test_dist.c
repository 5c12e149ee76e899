/* The NATS side's pure parts: a run config's distribution keys and label selectors
 * (src/server/dist.c), the prepare/commit decoders (agent_host.c), stream message ids and
 * the nkey public key derivation (bus_nats.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "mortar/error.h"
#include "server/agent_host.h"
#include "server/bus.h"
#include "server/dist.h"

static void test_keys(void **state)
{
    mt__dist_keys_t k;
    char err[256];
    (void)state;
    json_t *o = json_loads("{\"url\":\"x\"}", 0, NULL);
    assert_int_equal(mt__dist_keys(o, &k, err, sizeof err), MT_OK);
    assert_int_equal(k.agents, 1);
    assert_string_equal(k.labels, "");
    assert_string_equal(k.on_loss, "error");
    assert_int_equal(k.placement_timeout_ms, 60000);
    json_decref(o);
    o = json_loads("{\"agents\":3,\"agent_labels\":\"zone=a,tier!=b\",\"on_agent_loss\":"
                   "\"continue\",\"placement_timeout\":\"2s\"}",
                   0, NULL);
    assert_int_equal(mt__dist_keys(o, &k, err, sizeof err), MT_OK);
    assert_int_equal(k.agents, 3);
    assert_string_equal(k.on_loss, "continue");
    assert_int_equal(k.placement_timeout_ms, 2000);
    json_decref(o);
    static const char *bad[] = {
        "{\"agents\":0}",
        "{\"agents\":\"3\"}",
        "{\"agents\":257}",
        "{\"agent_labels\":\"zone in a\"}",
        "{\"agent_labels\":\"=a\"}",
        "{\"agent_labels\":\"!=a\"}",
        "{\"agent_labels\":7}",
        "{\"on_agent_loss\":\"no\"}",
        "{\"placement_timeout\":\"x\"}",
        "{\"placement_timeout\":-1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(mt__dist_keys(o, &k, err, sizeof err), MT_EINVAL);
        assert_true(err[0] != '\0');
        json_decref(o);
    }
}

static void test_selectors(void **state)
{
    (void)state;
    json_t *l = json_pack("{s:s, s:s}", "zone", "a", "tier", "x");
    assert_true(mt__dist_labels_match("", l));
    assert_true(mt__dist_labels_match("zone=a", l));
    assert_true(mt__dist_labels_match("zone=a,tier=x", l));
    assert_true(mt__dist_labels_match("zone!=b", l));
    assert_true(mt__dist_labels_match("gpu!=yes", l)); /* a missing label is not equal */
    assert_false(mt__dist_labels_match("zone=b", l));
    assert_false(mt__dist_labels_match("zone=a,tier!=x", l));
    assert_false(mt__dist_labels_match("gpu=yes", l));
    assert_true(mt__dist_labels_match("", NULL));
    assert_false(mt__dist_labels_match("zone=a", NULL));
    json_decref(l);
}

static void test_decoders(void **state)
{
    char run[40], *cfg, *part, err[256];
    int64_t ttl, t;
    (void)state;
    const char *ok = "{\"run_id\":\"r-1\",\"config\":{\"url\":\"u\"},\"part\":{\"index\":0},"
                     "\"deadline_ms\":1500}";
    assert_int_equal(mt__prepare_decode(ok, strlen(ok), run, &cfg, &part, &ttl, err, sizeof err),
                     MT_OK);
    assert_string_equal(run, "r-1");
    assert_string_equal(cfg, "{\"url\":\"u\"}");
    assert_string_equal(part, "{\"index\":0}");
    assert_int_equal(ttl, 1500);
    free(cfg);
    free(part);
    static const char *bad[] = {
        "[]",
        "{\"run_id\":\"a.b\",\"config\":{}}",
        "{\"run_id\":\"\",\"config\":{}}",
        "{\"run_id\":\"r\"}",
        "{\"run_id\":\"r\",\"config\":[]}",
        "{\"run_id\":\"r\",\"config\":{},\"part\":1}",
        "{\"run_id\":\"r\",\"config\":{},\"deadline_ms\":0}",
        "{\"run_id\":\"r\",\"run_id\":\"s\",\"config\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            mt__prepare_decode(bad[i], strlen(bad[i]), run, &cfg, &part, &ttl, err, sizeof err),
            MT_EINVAL);
        assert_null(cfg);
        assert_null(part);
    }
    assert_int_equal(mt__commit_decode("{\"start_unix_ns\":5}", 19, &t), MT_OK);
    assert_int_equal(t, 5);
    assert_int_equal(mt__commit_decode("{\"start_unix_ns\":0}", 19, &t), MT_EINVAL);
    assert_int_equal(mt__commit_decode("{}", 2, &t), MT_EINVAL);

    char r[64];
    uint32_t sec;
    assert_int_equal(mt__nats_msg_id_parse("run-1.gen-2.17", r, &sec), MT_OK);
    assert_string_equal(r, "run-1");
    assert_int_equal(sec, 17);
    assert_int_equal(mt__nats_msg_id_parse("run-1.gen-2.end", r, &sec), MT_OK);
    assert_int_equal(sec, UINT32_MAX);
    assert_int_equal(mt__nats_msg_id_parse("run-1.17", r, &sec), MT_EINVAL);
    assert_int_equal(mt__nats_msg_id_parse("run-1..17", r, &sec), MT_EINVAL);
    assert_int_equal(mt__nats_msg_id_parse("run-1.g.x", r, &sec), MT_EINVAL);
    assert_int_equal(mt__nats_msg_id_parse("run-1.g.", r, &sec), MT_EINVAL);
}

/* A known nkey pair (the NATS docs' example user, also in nats-server's tests). */
static void test_nkey(void **state)
{
    char path[] = "/tmp/mortar-test-nkey-XXXXXX", pub[64], err[256];
    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *seed = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n";
    assert_int_equal(write(fd, seed, strlen(seed)), (ssize_t)strlen(seed));
    close(fd);
    assert_int_equal(mt__nkey_public_from_seed_file(path, pub, err, sizeof err), MT_OK);
    assert_string_equal(pub, "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4");
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "SUBAD\n", 6), 6);
    close(fd);
    assert_int_equal(mt__nkey_public_from_seed_file(path, pub, err, sizeof err), MT_EINVAL);
    assert_non_null(strstr(err, "no valid nkey seed"));
    unlink(path);
    assert_int_equal(mt__nkey_public_from_seed_file(path, pub, err, sizeof err), MT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_decoders),
        cmocka_unit_test(test_nkey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
