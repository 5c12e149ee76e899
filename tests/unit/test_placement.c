/* Placement (src/server/placement.c): label selectors (syntax, errors with their column,
 * Kubernetes semantics of != and notin), the choice of agents (capacity, up, preference,
 * reasons for people) and the run config's placement keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mortar/error.h"
#include "server/placement.h"

/* Does sel match labels (JSON text)? Fails the test on a parse error. */
static int match(const char *sel, const char *labels)
{
    mt__selector_t *s = malloc(sizeof *s);
    mt_parse_err_t err = {0};
    int rc = mt__selector_parse(sel, s, &err);
    if (rc != MT_OK)
        fail_msg("'%s': column %d: %s", sel, err.col, err.msg);
    json_t *l = json_loads(labels, 0, NULL);
    int m = mt__selector_match(s, l);
    json_decref(l);
    free(s);
    return m;
}

/* The parse error of sel: its column, and whether its message contains want. */
static int bad(const char *sel, const char *want)
{
    mt__selector_t *s = malloc(sizeof *s);
    mt_parse_err_t err = {0};
    int rc = mt__selector_parse(sel, s, &err);
    free(s);
    assert_int_equal(rc, MT_EPARSE);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", sel, err.msg, want);
    return err.col;
}

static void test_selector_match(void **state)
{
    const char *a = "{\"zone\":\"a\",\"tier\":\"spot\",\"gpu\":\"\"}";
    assert_true(match("", a));
    assert_true(match(NULL, a));
    assert_true(match("   ", "{}"));
    assert_true(match("zone=a", a));
    assert_true(match("zone==a", a));
    assert_true(match(" zone = a ", a));
    assert_false(match("zone=b", a));
    assert_false(match("region=a", a));
    assert_true(match("zone!=b", a));
    assert_false(match("zone!=a", a));
    assert_true(match("region!=a", a)); /* absent key: != matches (Kubernetes) */
    assert_true(match("zone in (a,b)", a));
    assert_true(match("zone in(b , a)", a));
    assert_false(match("zone in (b,c)", a));
    assert_false(match("region in (a)", a));
    assert_true(match("zone notin (b,c)", a));
    assert_false(match("zone notin (a)", a));
    assert_true(match("region notin (a)", a));
    assert_true(match("gpu", a));
    assert_true(match("gpu=", a)); /* an empty value */
    assert_false(match("!gpu", a));
    assert_true(match("!region", a));
    assert_true(match("zone=a,tier=spot", a));
    assert_false(match("zone=a,tier!=spot", a));
    assert_true(match("zone in (a,b), tier notin (reserved), !region", a));
    assert_true(
        match("kubernetes.io/zone=eu-west_1.a", "{\"kubernetes.io/zone\":\"eu-west_1.a\"}"));
    /* a key named like an operator is still a key */
    assert_true(match("in", "{\"in\":\"x\"}"));
    assert_true(match("notin=x", "{\"notin\":\"x\"}"));
    /* non-string label values count as absent; no labels at all */
    assert_false(match("n=1", "{\"n\":1}"));
    assert_true(match("n!=1", "{\"n\":1}"));
    assert_false(match("zone=a", "[]"));
    assert_true(match("!zone", "null"));
}

static void test_selector_errors(void **state)
{
    assert_int_equal(bad("zone=a,", "expected a label key"), 8);
    assert_int_equal(bad(",zone=a", "expected a label key"), 1);
    assert_int_equal(bad("zone in a", "expected '('"), 9);
    assert_int_equal(bad("zone in (a", "expected ',' or ')'"), 11);
    assert_int_equal(bad("zone in ()", "expected a value"), 10);
    assert_int_equal(bad("zone in (a,)", "expected a value"), 12);
    assert_int_equal(bad("zone > a", "expected =, ==, !=, in, notin"), 6);
    assert_int_equal(bad("zone=a b", "expected ','"), 8);
    assert_int_equal(bad("zone=a=b", "expected ','"), 7);
    assert_int_equal(bad("!zone=a", "expected ','"), 6);
    assert_int_equal(bad("zone=\xc3\xa9", "expected ','"), 6);
    bad("zone in (a) x", "expected ','");
    bad("zo\"ne=a", "expected");
    /* limits: token length, requirement count, set size, selector length */
    char big[2048];
    memset(big, 'k', 129);
    snprintf(big + 129, sizeof big - 129, "=v");
    assert_int_equal(bad(big, "key longer than 128"), 1);
    big[0] = '\0';
    for (int i = 0; i < 33; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%sk%d", i ? "," : "", i);
    bad(big, "more than 32 requirements");
    snprintf(big, sizeof big, "z in (");
    for (int i = 0; i < 33; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%sv%d", i ? "," : "", i);
    snprintf(big + strlen(big), sizeof big - strlen(big), ")");
    bad(big, "more than 32 values");
    memset(big, ' ', 1100);
    big[1100] = '\0';
    bad(big, "longer than 1024");
    /* 32 requirements of 31-character keys and values still fit */
    big[0] = '\0';
    for (int i = 0; i < 16; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big),
                 "%skkkkkkkkkkkkkkkkkkkkkkkkkkkk%02d=v", i ? "," : "", i);
    mt__selector_t *s = malloc(sizeof *s);
    assert_int_equal(mt__selector_parse(big, s, NULL), MT_OK);
    assert_int_equal(s->n, 16);
    free(s);
}

#define AG(n, l, cap, act, up)                                                                     \
    {                                                                                              \
        n, l, cap, act, up                                                                         \
    }

static void test_place(void **state)
{
    const mt__place_agent_t ag[] = {
        AG("gen-1", "{\"zone\":\"a\"}", 1, 1, 1), /* busy */
        AG("gen-2", "{\"zone\":\"a\"}", 2, 0, 1), /* 2 free slots */
        AG("gen-3", "{\"zone\":\"a\"}", 1, 0, 0), /* down */
        AG("gen-4", "{\"zone\":\"b\"}", 4, 1, 1), /* 3 free slots */
        AG("gen-5", "{\"zone\":\"b\"}", 1, 0, 1), /* 1 free slot */
        AG("gen-6", NULL, 1, 0, 1),               /* no labels */
        AG("gen-7", "not json", 1, 0, 1),         /* labels unreadable: none */
    };
    size_t n = sizeof ag / sizeof ag[0], chosen[8];
    char reason[256];
    mt__place_stats_t st;

    /* the most free slots first, then fewer active parts, then the name */
    assert_int_equal(mt__place(ag, n, 1, "", chosen, reason, sizeof reason), MT_OK);
    assert_int_equal(chosen[0], 3); /* gen-4: 3 free */
    assert_int_equal(mt__place(ag, n, 3, NULL, chosen, reason, sizeof reason), MT_OK);
    assert_int_equal(chosen[0], 3);
    assert_int_equal(chosen[1], 1); /* gen-2: 2 free */
    assert_int_equal(chosen[2], 4); /* gen-5 before gen-6, gen-7: same slots, name */
    assert_int_equal(mt__place(ag, n, 5, NULL, chosen, reason, sizeof reason), MT_OK);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < i; j++)
            assert_int_not_equal(chosen[i], chosen[j]); /* one part per agent */

    /* capacity and up are honoured: zone=a has one free agent */
    assert_int_equal(mt__place(ag, n, 1, "zone=a", chosen, reason, sizeof reason), MT_OK);
    assert_int_equal(chosen[0], 1);
    assert_int_equal(mt__place_ex(ag, n, 3, "zone=a", chosen, reason, sizeof reason, &st),
                     MT_EBUSY);
    assert_string_equal(reason,
                        "waiting for 3 agents matching zone=a: 1 free of 2 matching (1 more down)");
    assert_int_equal(st.matching, 3);
    assert_int_equal(st.matching_up, 2);
    assert_int_equal(st.free, 1);
    assert_int_equal(
        mt__place_ex(ag, n, 2, " zone in (a,b) ,zone!=b ", chosen, reason, sizeof reason, &st),
        MT_EBUSY);
    assert_string_equal(
        reason,
        "waiting for 2 agents matching zone in (a,b) ,zone!=b: 1 free of 2 matching (1 more down)");
    assert_int_equal(mt__place(ag, n, 1, "zone=c", chosen, reason, sizeof reason), MT_EBUSY);
    assert_string_equal(reason, "waiting for 1 agent matching zone=c: 0 free of 0 matching");
    assert_int_equal(mt__place(ag, n, 7, "", chosen, reason, sizeof reason), MT_EBUSY);
    assert_string_equal(reason, "waiting for 7 agents: 5 free of 6 up (1 more down)");
    assert_int_equal(mt__place(ag, 0, 1, "", chosen, reason, sizeof reason), MT_EBUSY);
    assert_string_equal(reason, "waiting for 1 agent: 0 free of 0 up");
    assert_int_equal(mt__place(NULL, 0, 1, "", chosen, reason, 0), MT_EBUSY);

    /* bad input */
    assert_int_equal(mt__place(ag, n, 0, "", chosen, reason, sizeof reason), MT_EINVAL);
    assert_int_equal(mt__place(ag, n, 1, "zone in a", chosen, reason, sizeof reason), MT_EINVAL);
    assert_string_equal(reason, "agent_labels: column 9: expected '(' after in/notin of 'zone'");

    /* a tiny reason buffer is cut, not overrun */
    char small[8];
    assert_int_equal(mt__place(ag, n, 9, "", chosen, small, sizeof small), MT_EBUSY);
    assert_int_equal(strlen(small), 7);
}

/* The whole queue in one pass: starts take slots, a run waiting its turn holds its agents,
 * a run waiting for agents that are not there holds nothing, bad runs are named. */
static void test_queue(void **state)
{
    const mt__place_agent_t ag[] = {
        AG("a-1", "{\"zone\":\"a\"}", 1, 0, 1), AG("a-2", "{\"zone\":\"a\"}", 1, 1, 1), /* busy */
        AG("a-3", "{\"zone\":\"a\"}", 1, 0, 1), AG("b-1", "{\"zone\":\"b\"}", 2, 0, 1),
        AG("b-2", "{\"zone\":\"b\"}", 1, 0, 0), /* down */
        AG("c-1", "{\"zone\":\"c\"}", 1, 0, 1),
    };
    size_t n = sizeof ag / sizeof ag[0];
    const mt__place_run_t runs[] = {
        {1, "zone=b"},        /* 0: starts on b-1 */
        {3, "zone=a"},        /* 1: 3 up, 2 free: waits its turn, holds a-1 and a-3 */
        {1, "zone=a"},        /* 2: a-1, a-3 held: waits its turn too (no overtaking) */
        {2, "zone=b"},        /* 3: b-2 is down: only 1 up -> waits for agents, holds none */
        {1, "zone in (a,b)"}, /* 4: a's held, b-1 has one slot left: starts on b-1 */
        {1, "zone in (a,b)"}, /* 5: b-1 full now, a's held: waits its turn */
        {0, ""},              /* 6: invalid */
        {1, "zone in a"},     /* 7: invalid selector */
        {1, NULL},            /* 8: any agent: c-1 is the one left */
        {1, ""},              /* 9: nothing free, enough up: waits its turn */
        {7, ""},              /* 10: 5 up: waits for agents */
    };
    size_t nr = sizeof runs / sizeof runs[0];
    mt__place_result_t res[11];
    size_t chosen[11][8];
    memset(res, 0, sizeof res);
    for (size_t i = 0; i < nr; i++)
        res[i].chosen = runs[i].want ? chosen[i] : NULL;
    assert_int_equal(mt__place_queue(ag, n, runs, nr, res), MT_OK);
    static const enum mt__place_verdict want[] = {
        MT_PLACE_START, MT_PLACE_TURN, MT_PLACE_TURN,    MT_PLACE_AGENTS,
        MT_PLACE_START, MT_PLACE_TURN, MT_PLACE_INVALID, MT_PLACE_INVALID,
        MT_PLACE_START, MT_PLACE_TURN, MT_PLACE_AGENTS,
    };
    for (size_t i = 0; i < nr; i++)
        if (res[i].verdict != want[i])
            fail_msg("run %zu: verdict %d, want %d (%s)", i, res[i].verdict, want[i],
                     res[i].reason);
    assert_int_equal(chosen[0][0], 3);
    assert_int_equal(chosen[4][0], 3); /* b-1's second slot */
    assert_int_equal(chosen[8][0], 5);
    assert_string_equal(res[1].reason,
                        "waiting for 3 agents matching zone=a: 2 free of 3 matching");
    assert_string_equal(res[2].reason, "waiting for 1 agent matching zone=a: 0 free of 3 matching");
    assert_string_equal(res[3].reason,
                        "waiting for 2 agents matching zone=b: 1 free of 1 matching (1 more down)");
    assert_string_equal(res[6].reason, "agents: must be at least 1");
    assert_string_equal(res[7].reason,
                        "agent_labels: column 9: expected '(' after in/notin of 'zone'");
    assert_string_equal(res[10].reason, "waiting for 7 agents: 0 free of 5 up (1 more down)");
    /* the caller's agents are untouched */
    assert_int_equal(ag[0].active, 0);
    assert_int_equal(ag[3].active, 0);

    /* the built-in agent alone, capacity 1, a run in progress: FIFO as before */
    const mt__place_agent_t local[] = {AG("local", "{\"zone\":\"local\"}", 1, 1, 1)};
    const mt__place_run_t q[] = {{1, NULL}, {1, NULL}};
    mt__place_result_t lr[2];
    size_t lc[2];
    memset(lr, 0, sizeof lr);
    lr[0].chosen = &lc[0];
    lr[1].chosen = &lc[1];
    assert_int_equal(mt__place_queue(local, 1, q, 2, lr), MT_OK);
    assert_int_equal(lr[0].verdict, MT_PLACE_TURN);
    assert_int_equal(lr[1].verdict, MT_PLACE_TURN);
    assert_string_equal(lr[0].reason, "waiting for 1 agent: 0 free of 1 up");
    /* capacity 2, one free slot: only the oldest starts */
    const mt__place_agent_t local2[] = {AG("local", "{}", 2, 1, 1)};
    assert_int_equal(mt__place_queue(local2, 1, q, 2, lr), MT_OK);
    assert_int_equal(lr[0].verdict, MT_PLACE_START);
    assert_int_equal(lr[1].verdict, MT_PLACE_TURN);
    /* an empty fleet and an empty queue */
    assert_int_equal(mt__place_queue(NULL, 0, q, 2, lr), MT_OK);
    assert_int_equal(lr[0].verdict, MT_PLACE_AGENTS);
    assert_int_equal(mt__place_queue(local, 1, NULL, 0, NULL), MT_OK);
}

static void test_cfg(void **state)
{
    mt__place_cfg_t pc;
    char key[32], err[256];
    json_t *c = json_pack("{s:s}", "url", "http://127.0.0.1/");
    assert_int_equal(mt__place_cfg_read(c, &pc, key, sizeof key, err, sizeof err), MT_OK);
    assert_int_equal(pc.agents, 1);
    assert_string_equal(pc.selector, "");
    assert_int_equal(pc.loss_continue, 0);
    assert_int_equal(pc.timeout_ms, 60000);
    json_decref(c);

    c = json_pack("{s:s,s:i,s:s,s:s,s:s}", "url", "http://127.0.0.1/", "agents", 3, "agent_labels",
                  "zone in (a,b)", "on_agent_loss", "continue", "placement_timeout", "1m30s");
    assert_int_equal(mt__place_cfg_read(c, &pc, key, sizeof key, err, sizeof err), MT_OK);
    assert_int_equal(pc.agents, 3);
    assert_string_equal(pc.selector, "zone in (a,b)");
    assert_int_equal(pc.loss_continue, 1);
    assert_int_equal(pc.timeout_ms, 90000);
    json_t *st = mt__place_cfg_strip(c);
    assert_int_equal(json_object_size(st), 1);
    assert_non_null(json_object_get(st, "url"));
    assert_int_equal(json_object_size(c), 5); /* the original is untouched */
    json_decref(st);
    json_decref(c);

    c = json_pack("{s:i}", "placement_timeout", 0);
    assert_int_equal(mt__place_cfg_read(c, &pc, key, sizeof key, err, sizeof err), MT_OK);
    assert_int_equal(pc.timeout_ms, 0);
    json_decref(c);

    static const struct {
        const char *json, *key, *msg;
    } bads[] = {
        {"{\"agents\":0}", "agents", "[1, 1024]"},
        {"{\"agents\":1025}", "agents", "[1, 1024]"},
        {"{\"agents\":\"3\"}", "agents", "whole number"},
        {"{\"agents\":2.5}", "agents", "whole number"},
        {"{\"agent_labels\":\"zone in a\"}", "agent_labels", "column 9: expected '('"},
        {"{\"agent_labels\":3}", "agent_labels", "label selector string"},
        {"{\"on_agent_loss\":\"retry\"}", "on_agent_loss", "\"error\" or \"continue\""},
        {"{\"placement_timeout\":\"soon\"}", "placement_timeout", "duration"},
        {"{\"placement_timeout\":-1}", "placement_timeout", "duration"},
        {"{\"placement_timeout\":\"400d\"}", "placement_timeout", "366d"},
        {"{\"placement_timeout\":true}", "placement_timeout", "duration"},
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        c = json_loads(bads[i].json, 0, NULL);
        assert_non_null(c);
        assert_int_equal(mt__place_cfg_read(c, &pc, key, sizeof key, err, sizeof err), MT_EINVAL);
        assert_string_equal(key, bads[i].key);
        if (strstr(err, bads[i].msg) == NULL || strncmp(err, bads[i].key, strlen(key)) != 0)
            fail_msg("%s: '%s'", bads[i].json, err);
        json_decref(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_match),
        cmocka_unit_test(test_selector_errors),
        cmocka_unit_test(test_place),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
