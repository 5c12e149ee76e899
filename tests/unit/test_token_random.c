/* A token is never made from a failed random source (issue 14): RAND_bytes is replaced here
 * (this executable's definition wins over libcrypto's), then mt__token_secret and
 * POST /api/v1/tokens are asked for a token while it fails. */
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
#include "server/serve.h"
#include "server/store.h"

static int rand_fails;
static unsigned rand_next = 1;

int RAND_bytes(unsigned char *buf, int num);
int RAND_bytes(unsigned char *buf, int num)
{
    if (rand_fails)
        return 0;
    for (int i = 0; i < num; i++) /* not random: only this test's tokens */
        buf[i] = (unsigned char)(rand_next = rand_next * 1103515245u + 12345u) >> 16;
    return 1;
}

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mortar-test-token.XXXXXX");
    assert_non_null(mkdtemp(dir));
    mt__log_init(2, MT_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_secret_fails_closed(void **state)
{
    (void)state;
    char out[64];
    rand_fails = 1;
    assert_int_equal(mt__token_secret(out), MT_ESYS);
    rand_fails = 0;
    assert_int_equal(mt__token_secret(out), MT_OK);
    assert_int_equal(strlen(out), 46);
    assert_memory_equal(out, "mt_", 3);
}

static void post_token(mt__serve_t *sv, mt__resp_t *resp)
{
    static const char body[] = "{\"name\":\"ci\",\"role\":\"viewer\"}";
    mt__req_t req = {.method = "POST",
                     .path = "/api/v1/tokens",
                     .authorization = "Bearer the-admin-secret",
                     .content_type = "application/json",
                     .body = body,
                     .body_len = sizeof body - 1};
    mt__api_handle(sv, &req, resp);
}

static void test_api_fails_closed(void **state)
{
    (void)state;
    mt__store_t *st = NULL;
    char err[512] = "", hash[65];
    assert_int_equal(mt__store_open_sqlite(dir, &st, err, sizeof err), MT_OK);
    mt__sha256_hex("the-admin-secret", strlen("the-admin-secret"), hash);
    assert_int_equal(st->ops->token_create(st, "admin", "admin", hash, NULL), MT_OK);
    mt__serve_t sv = {.store = st};
    mt__resp_t resp;

    rand_fails = 1;
    post_token(&sv, &resp);
    assert_int_equal(resp.status, 503);
    assert_string_equal(resp.ctype, "application/problem+json");
    assert_null(strstr(resp.body, "\"token\""));
    free(resp.body);
    /* and no token was stored */
    mt__store_page_t pg = {50, NULL};
    json_t *list = NULL;
    assert_int_equal(st->ops->token_list(st, &pg, &list), MT_OK);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);

    rand_fails = 0;
    post_token(&sv, &resp);
    assert_int_equal(resp.status, 201);
    json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "token"))), 46);
    json_decref(j);
    free(resp.body);
    st->ops->close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_fails_closed),
        cmocka_unit_test_setup_teardown(test_api_fails_closed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
