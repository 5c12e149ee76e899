/* The in-process bus: prefix subscriptions, copies, publish order, close drains and refuses,
 * callbacks may publish, unsubscribe. Synchronised with mt__bus_flush, never with sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mortar/error.h"
#include "server/bus.h"

typedef struct rec {
    char log[64][64];
    int n;
} rec_t;

static void on_msg(const char *subject, const void *msg, size_t len, void *ud)
{
    rec_t *r = ud;
    if (r->n < 64)
        snprintf(r->log[r->n++], 64, "%s=%.*s", subject, (int)len, (const char *)msg);
}

static void test_prefix_and_order(void **state)
{
    mt__bus_t *b = NULL;
    rec_t all = {0}, runs = {0}, one = {0};
    char buf[16];
    (void)state;

    assert_int_equal(mt__bus_new_inproc(&b), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "", on_msg, &all), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "mortar.runs.", on_msg, &runs), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "mortar.runs.r1.", on_msg, &one), MT_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        assert_int_equal(mt__bus_publish(b,
                                         i % 2 ? "mortar.runs.r1.second" : "mortar.runs.r2.second",
                                         buf, strlen(buf)),
                         MT_OK);
        memset(buf, 'x', sizeof(buf)); /* the bus copied it */
    }
    assert_int_equal(mt__bus_publish(b, "mortar.agents.a.heartbeat", "hb", 2), MT_OK);
    mt__bus_flush(b);
    assert_int_equal(mt__bus_pending(b), 0);
    assert_int_equal(all.n, 21);
    assert_int_equal(runs.n, 20);
    assert_int_equal(one.n, 10);
    for (int i = 0; i < 20; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s=%d",
                 i % 2 ? "mortar.runs.r1.second" : "mortar.runs.r2.second", i);
        assert_string_equal(runs.log[i], want);
    }
    assert_string_equal(all.log[20], "mortar.agents.a.heartbeat=hb");
    assert_string_equal(one.log[0], "mortar.runs.r1.second=1");
    mt__bus_free(b);
}

static void test_close_drains_and_refuses(void **state)
{
    mt__bus_t *b = NULL;
    rec_t r = {0};
    (void)state;

    assert_int_equal(mt__bus_new_inproc(&b), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "a", on_msg, &r), MT_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(mt__bus_publish(b, "a.b", "m", 1), MT_OK);
    mt__bus_close(b); /* delivers all 50 before returning */
    assert_int_equal(r.n, 50);
    assert_int_equal(mt__bus_publish(b, "a.b", "m", 1), MT_EINVAL);
    assert_int_equal(mt__bus_pending(b), 0);
    mt__bus_free(b);
    mt__bus_free(NULL);
}

typedef struct chain {
    mt__bus_t *b;
    rec_t r;
} chain_t;

/* A callback that publishes: its message is delivered after the current one. */
static void on_ping(const char *subject, const void *msg, size_t len, void *ud)
{
    chain_t *c = ud;
    on_msg(subject, msg, len, &c->r);
    if (strcmp(subject, "ping") == 0)
        assert_int_equal(mt__bus_publish(c->b, "pong", msg, len), MT_OK);
}

static void test_publish_from_callback(void **state)
{
    chain_t c = {0};
    (void)state;
    assert_int_equal(mt__bus_new_inproc(&c.b), MT_OK);
    assert_int_equal(mt__bus_subscribe(c.b, "p", on_ping, &c), MT_OK);
    assert_int_equal(mt__bus_publish(c.b, "ping", "1", 1), MT_OK);
    assert_int_equal(mt__bus_publish(c.b, "ping", "2", 1), MT_OK);
    mt__bus_flush(c.b);
    assert_int_equal(c.r.n, 4);
    assert_string_equal(c.r.log[0], "ping=1");
    assert_string_equal(c.r.log[1], "ping=2");
    assert_string_equal(c.r.log[2], "pong=1");
    assert_string_equal(c.r.log[3], "pong=2");
    mt__bus_free(c.b);
}

static void test_unsubscribe_and_args(void **state)
{
    mt__bus_t *b = NULL;
    rec_t r1 = {0}, r2 = {0};
    (void)state;
    assert_int_equal(mt__bus_new_inproc(&b), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "", on_msg, &r1), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "", on_msg, &r2), MT_OK);
    assert_int_equal(mt__bus_publish(b, "x", "1", 1), MT_OK);
    mt__bus_flush(b);
    mt__bus_unsubscribe(b, on_msg, &r1);
    assert_int_equal(mt__bus_publish(b, "x", "", 0), MT_OK); /* empty messages are fine */
    mt__bus_flush(b);
    assert_int_equal(r1.n, 1);
    assert_int_equal(r2.n, 2);
    assert_string_equal(r2.log[1], "x=");
    assert_int_equal(mt__bus_publish(b, NULL, "1", 1), MT_EINVAL);
    assert_int_equal(mt__bus_publish(b, "x", NULL, 1), MT_EINVAL);
    assert_int_equal(mt__bus_subscribe(b, "x", NULL, NULL), MT_EINVAL);
    mt__bus_free(b);
}

/* NATS subject patterns: * is one token, a final > the rest (one token at least). */
static void test_patterns(void **state)
{
    (void)state;
    assert_true(mt__bus_match("mortar.runs.*.control", "mortar.runs.r1.control"));
    assert_false(mt__bus_match("mortar.runs.*.control", "mortar.runs.r1.second"));
    assert_false(mt__bus_match("mortar.runs.*.control", "mortar.runs.r1.x.control"));
    assert_false(mt__bus_match("mortar.runs.*.control", "mortar.runs..control"));
    assert_true(mt__bus_match("mortar.>", "mortar.time"));
    assert_true(mt__bus_match("mortar.>", "mortar.a.b.c"));
    assert_false(mt__bus_match("mortar.>", "mortar"));
    assert_false(mt__bus_match("mortar.>", "mortar."));
    assert_true(mt__bus_match("mortar.time", "mortar.time")); /* a prefix */
    assert_true(mt__bus_match("mortar.", "mortar.time"));     /* a prefix */
    assert_true(mt__bus_match("", "anything"));               /* a prefix */
    assert_false(mt__bus_match("*", "a.b"));
    assert_true(mt__bus_match("*.b", "a.b"));

    mt__bus_t *b;
    rec_t r = {0};
    assert_int_equal(mt__bus_new_inproc(&b), MT_OK);
    assert_int_equal(mt__bus_subscribe(b, "mortar.runs.*.control", on_msg, &r), MT_OK);
    mt__bus_publish(b, "mortar.runs.r1.second", "s", 1);
    mt__bus_publish(b, "mortar.runs.r1.control", "c", 1);
    mt__bus_publish_id(b, "mortar.runs.r2.control", "r2.x.1", "d", 1);
    mt__bus_flush(b);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.log[0], "mortar.runs.r1.control=c");
    assert_string_equal(r.log[1], "mortar.runs.r2.control=d");
    mt__bus_ack(b, "r1", 3); /* a no-op in process */
    assert_true(mt__bus_connected(b));
    mt__bus_free(b);
}

static int echo(const char *subject, const void *msg, size_t len, char **reply, size_t *rlen,
                void *ud)
{
    (void)subject;
    (void)ud;
    *reply = malloc(len + 1);
    memcpy(*reply, msg, len);
    (*reply)[len] = '!';
    *rlen = len + 1;
    return 0;
}

static void test_request_reply(void **state)
{
    (void)state;
    mt__bus_t *b;
    char *rep = NULL;
    size_t n = 0;
    assert_int_equal(mt__bus_new_inproc(&b), MT_OK);
    assert_int_equal(mt__bus_request(b, "mortar.time", "x", 1, 100, &rep, &n), MT_ENOTFOUND);
    assert_int_equal(mt__bus_respond(b, "mortar.time", echo, NULL), MT_OK);
    assert_int_equal(mt__bus_request(b, "mortar.time", "hi", 2, 100, &rep, &n), MT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rep, "hi!");
    free(rep);
    mt__bus_unrespond(b, "mortar.time");
    assert_int_equal(mt__bus_request(b, "mortar.time", "x", 1, 100, &rep, &n), MT_ENOTFOUND);
    mt__bus_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_and_order),
        cmocka_unit_test(test_close_drains_and_refuses),
        cmocka_unit_test(test_publish_from_callback),
        cmocka_unit_test(test_unsubscribe_and_args),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_request_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
