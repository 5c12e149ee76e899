/* src/script: wrk's Lua API on LuaJIT (docs/scripting.md): wrk.format, request counting,
 * error messages with file, line and phase, declared tags, the hooks (request, response with a
 * chunked body, delay), thread:get/set between states and done()'s arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "script/script.c"

static const mt__script_target_t target = {
    .url = "http://127.0.0.1:8080/start",
    .scheme = "http",
    .host = "127.0.0.1",
    .port = "8080",
    .connect_port = "8080",
    .host_header = "127.0.0.1:8080",
    .method = "GET",
    .path = "/start",
};

static mt__script_t *load(const char *text, const char *const *args, size_t nargs)
{
    mt__script_t *s = NULL;
    char err[600];
    int rc = mt__script_new("t.lua", text, strlen(text), args, nargs, &target, &s, err, sizeof err);
    if (rc != MT_OK)
        fail_msg("load: %s", err);
    return s;
}

static const char *global_str(lua_State *L, const char *name)
{
    lua_getglobal(L, name);
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

static void test_format(void **state)
{
    (void)state;
    mt__script_t *s = load("", NULL, 0);
    char err[600];
    assert_int_equal(mt__script_start(s, 1, "127.0.0.1:8080", err, sizeof err), MT_OK);
    lua_State *L = s->th[0].L;
    assert_int_equal(luaL_dostring(L, "a = wrk.format('POST', '/p', {['X-A'] = '1'}, 'hi')\n"
                                      "b = wrk.format()\n"
                                      "c = wrk.scheme .. ' ' .. wrk.host .. ' ' .. wrk.port .. ' ' "
                                      ".. wrk.method .. ' ' .. wrk.path"),
                     0);
    assert_string_equal(global_str(L, "a"), "POST /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\n"
                                            "Content-Length: 2\r\n\r\nhi");
    assert_string_equal(global_str(L, "b"), "GET /start HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
    assert_string_equal(global_str(L, "c"), "http 127.0.0.1 8080 GET /start");
    /* no request(): the static request, formatted once, never copied */
    mt_script_req_t q;
    assert_int_equal(hk_request(s, 0, &q), MT_OK);
    assert_true(q.stable);
    assert_int_equal(q.count, 1);
    assert_memory_equal(q.data, "GET /start HTTP/1.1\r\n", 21);
    mt__script_free(s);
}

static void test_count(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int rc;
        uint32_t count;
        unsigned flags;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", MT_OK, 1, 0},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", MT_OK, 2, 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: "
         "a\r\n\r\n",
         MT_OK, 2, 0},
        {"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n", MT_OK, 2,
         MT_H1_NO_BODY},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n", MT_OK, 1, 0}, /* trailing blank line */
        {"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", MT_EINVAL, 0, 0},
        {"GET / HTTP/1.1\r\nHost: a\r\n", MT_EINVAL, 0, 0},
        {"hello", MT_EINVAL, 0, 0},
        {"", MT_EINVAL, 0, 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc", MT_EINVAL, 0, 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", MT_EINVAL, 0,
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t count = 0;
        unsigned flags = 0;
        char why[200] = "";
        int rc =
            count_requests(cases[i].req, strlen(cases[i].req), &count, &flags, why, sizeof why);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d (%s), want %d", i, rc, why, cases[i].rc);
        if (rc == MT_OK) {
            assert_int_equal(count, cases[i].count);
            assert_int_equal(flags, cases[i].flags);
        } else {
            assert_true(why[0] != '\0');
        }
    }
}

static void test_messages(void **state)
{
    (void)state;
    mt__script_t *s = load("", NULL, 0);
    char out[300];
    phase_msg(s, "request()", "t.lua:12: attempt to index nil", out, sizeof out);
    assert_string_equal(out, "t.lua:12: in request(): attempt to index nil");
    phase_msg(s, "init()", "no line here", out, sizeof out);
    assert_string_equal(out, "t.lua: in init(): no line here");
    phase_msg(s, "done()", NULL, out, sizeof out);
    assert_string_equal(out, "t.lua: in done(): (error object is not a string)");
    mt__script_free(s);

    char err[600];
    mt__script_t *b = NULL;
    const char *syn = "x = 1\nfunction (\n";
    assert_int_equal(
        mt__script_new("t.lua", syn, strlen(syn), NULL, 0, &target, &b, err, sizeof err),
        MT_EPARSE);
    assert_null(b);
    assert_non_null(strstr(err, "t.lua:2:"));
    const char *top = "\n\nerror('top')\n";
    assert_int_equal(
        mt__script_new("t.lua", top, strlen(top), NULL, 0, &target, &b, err, sizeof err),
        MT_EINVAL);
    assert_string_equal(err, "t.lua:3: in the script's top level: top");
}

static void test_tags(void **state)
{
    (void)state;
    mt__script_t *s = load("wrk.tags = {'login', 'browse'}", NULL, 0);
    size_t n = 0;
    const char *const *tags = mt__script_tags(s, &n);
    assert_int_equal(n, 3);
    assert_string_equal(tags[0], "");
    assert_string_equal(tags[1], "login");
    assert_string_equal(tags[2], "browse");
    mt__script_free(s);
    static const char *const bad[] = {"wrk.tags = {'a', 'a'}", "wrk.tags = {1}", "wrk.tags = 'a'",
                                      "wrk.tags = {''}",
                                      "wrk.tags = {} for i = 1, 64 do wrk.tags[i] = 't' .. i end"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mt__script_t *b = NULL;
        char err[600];
        if (mt__script_new("t.lua", bad[i], strlen(bad[i]), NULL, 0, &target, &b, err,
                           sizeof err) != MT_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(err, "wrk.tags"));
    }
}

static void test_hooks(void **state)
{
    (void)state;
    const char *const args[] = {"x", "y"};
    mt__script_t *s = load("wrk.tags = {'t'}\n"
                           "function init(a) nargs = #a; a1 = a[1]; name = a[0] end\n"
                           "function request() wrk.tag = 't'\n"
                           "  return wrk.format(nil, '/a') .. wrk.format(nil, '/b') end\n"
                           "function response(status, headers, body)\n"
                           "  st = status; ct = headers['Content-Type']; got = body end\n"
                           "function delay() return 1.5 end\n",
                           args, 2);
    char err[600];
    assert_int_equal(mt__script_start(s, 2, "127.0.0.1:8080", err, sizeof err), MT_OK);
    const mt_script_hooks_t *h = mt__script_hooks(s);
    assert_non_null(h->response);
    assert_non_null(h->delay);
    lua_State *L = s->th[1].L;
    assert_string_equal(global_str(L, "a1"), "x");
    assert_string_equal(global_str(L, "name"), "http://127.0.0.1:8080/start"); /* wrk's args[0] */
    lua_getglobal(L, "nargs");
    assert_int_equal(lua_tointeger(L, -1), 2);
    lua_pop(L, 1);

    mt_script_req_t q;
    assert_int_equal(h->request(h->ud, 1, &q), MT_OK);
    assert_false(q.stable);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.tag, 1);

    static const char resp[] = "HTTP/1.1 100 Continue\r\n\r\n"
                               "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
    assert_int_equal(h->response(h->ud, 1, resp, sizeof resp - 1, false), MT_OK);
    lua_getglobal(L, "st");
    assert_int_equal(lua_tointeger(L, -1), 201);
    lua_pop(L, 1);
    assert_string_equal(global_str(L, "ct"), "text/plain");
    assert_string_equal(global_str(L, "got"), "abcde");

    int64_t ns = 0;
    assert_int_equal(h->delay(h->ud, 0, &ns), MT_OK);
    assert_int_equal(ns, 1500000);

    /* thread.addr: read, set (wrk's addr.lua), refused when not an address */
    assert_int_equal(luaL_dostring(L, "a0 = wrk.thread.addr\n"
                                      "wrk.thread.addr = '[::1]:9'\n"
                                      "a1 = wrk.thread.addr\n"
                                      "ok, e = pcall(function() wrk.thread.addr = 'x' end)\n"),
                     0);
    assert_string_equal(global_str(L, "a0"), "127.0.0.1:8080");
    assert_string_equal(global_str(L, "a1"), "[::1]:9");
    assert_non_null(strstr(global_str(L, "e"), "not an address"));

    /* thread:stop() from the thread's own state ends its requests */
    assert_int_equal(luaL_dostring(L, "wrk.thread:stop()"), 0);
    assert_int_equal(h->request(h->ud, 1, &q), MT_EEOF);
    assert_int_equal(h->request(h->ud, 0, &q), MT_OK);
    mt__script_free(s);
}

static void test_get_set_done(void **state)
{
    (void)state;
    mt__script_t *s =
        load("threads = {}\n"
             "function setup(t) table.insert(threads, t)\n"
             "  t:set('cfg', {name = 'n', list = {1, 2, {deep = true}}, f = print})\n"
             "end\n"
             "function done(summary, latency, requests)\n"
             "  local c = threads[2]:get('cfg')\n"
             "  out = string.format('%s %d %s %s %d %d %d %d %d %d %d', c.name,\n"
             "    #c.list, tostring(c.list[3].deep), tostring(c.f), summary.requests,\n"
             "    summary.duration, summary.errors.status, summary.errors.timeout,\n"
             "    latency.max, latency:percentile(100), requests.max)\n"
             "end\n",
             NULL, 0);
    char err[600];
    assert_int_equal(mt__script_start(s, 2, NULL, err, sizeof err), MT_OK);
    assert_true(mt__script_has_done(s));
    mt_run_result_t r;
    memset(&r, 0, sizeof r);
    mt_hist_t *lat = NULL, *rps = NULL;
    assert_int_equal(mt_hist_new_latency(&lat), MT_OK);
    assert_int_equal(mt_hist_new(1, 1000000000LL, 3, &rps), MT_OK);
    mt_hist_record(lat, 1000);
    mt_hist_record(rps, 50);
    r.latency = lat;
    r.elapsed_ns = 2000000000LL;
    r.c.completed = 7;
    r.c.status[503] = 2;
    r.c.err[MT_ERR_TIMEOUT] = 3;
    assert_int_equal(mt__script_done(s, &r, rps, err, sizeof err), MT_OK);
    /* 1000 us is kept at 3 significant digits: its highest equivalent value is 1000 */
    char want[200];
    snprintf(want, sizeof want, "n 3 true nil 7 2000000 2 3 %lld %lld 50",
             (long long)mt_hist_max(lat), (long long)mt_hist_value_at_percentile(lat, 100));
    assert_string_equal(global_str(s->M, "out"), want);
    mt_hist_free(lat);
    mt_hist_free(rps);
    mt__script_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),   cmocka_unit_test(test_count),
        cmocka_unit_test(test_messages), cmocka_unit_test(test_tags),
        cmocka_unit_test(test_hooks),    cmocka_unit_test(test_get_set_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
