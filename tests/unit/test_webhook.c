/* Webhooks: the signature, the backoff, and mt__relay_pass against a real receiver on
 * 127.0.0.1 (libmicrohttpd in this process, port 0) that fails the first attempts, driven by
 * a stepped clock and fake outbox ops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "mortar/error.h"
#include "server/webhook.h"

/* ---- the receiver -------------------------------------------------------------------------- */

enum recv_mode { RECV_FAIL_THEN_OK, RECV_ALWAYS_500, RECV_REDIRECT, RECV_OK };

typedef struct recv_req {
    char event[64], event_id[64], delivery[64], ts[32], sig[96], ctype[64];
    char body[1024];
} recv_req_t;

typedef struct receiver {
    struct MHD_Daemon *d;
    int port;
    enum recv_mode mode;
    pthread_mutex_t mu;
    recv_req_t reqs[16];
    int n; /* requests seen (complete bodies) */
} receiver_t;

typedef struct recv_conn {
    char body[1024];
    size_t len;
} recv_conn_t;

static void recv_copy(struct MHD_Connection *c, const char *name, char *out, size_t n)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, n, "%s", v ? v : "");
}

static enum MHD_Result recv_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    receiver_t *r = cls;
    recv_conn_t *rc = *con_cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    int k, status;

    if (!rc) {
        if (!(rc = calloc(1, sizeof *rc)))
            return MHD_NO;
        *con_cls = rc;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t room = sizeof rc->body - 1 - rc->len;
        size_t take = *upload_data_size < room ? *upload_data_size : room;
        memcpy(rc->body + rc->len, upload_data, take);
        rc->len += take;
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    k = r->n;
    if (k < 16) {
        recv_req_t *q = &r->reqs[k];
        recv_copy(c, "X-Mortar-Event", q->event, sizeof q->event);
        recv_copy(c, "X-Mortar-Event-Id", q->event_id, sizeof q->event_id);
        recv_copy(c, "X-Mortar-Delivery", q->delivery, sizeof q->delivery);
        recv_copy(c, "X-Mortar-Timestamp", q->ts, sizeof q->ts);
        recv_copy(c, "X-Mortar-Signature", q->sig, sizeof q->sig);
        recv_copy(c, "Content-Type", q->ctype, sizeof q->ctype);
        memcpy(q->body, rc->body, rc->len + 1);
    }
    r->n++;
    pthread_mutex_unlock(&r->mu);
    if (r->mode == RECV_OK && strstr(url, "fail"))
        return MHD_NO;

    if (r->mode == RECV_FAIL_THEN_OK && k == 1)
        return MHD_NO; /* close the connection without an answer */
    status = r->mode == RECV_ALWAYS_500 || (r->mode == RECV_FAIL_THEN_OK && k == 0) ? 500 : 200;
    if (r->mode == RECV_REDIRECT)
        status = 302;
    resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (status == 302)
        MHD_add_response_header(resp, "Location", "/elsewhere");
    ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void recv_done(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static receiver_t *recv_start(enum recv_mode mode)
{
    receiver_t *r = calloc(1, sizeof *r);
    struct sockaddr_in sa;
    assert_non_null(r);
    pthread_mutex_init(&r->mu, NULL);
    r->mode = mode;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, recv_handler, r,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, recv_done, r, MHD_OPTION_END);
    assert_non_null(r->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    r->port = info->port;
    assert_true(r->port > 0);
    return r;
}

static int recv_count(receiver_t *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void recv_stop(receiver_t *r)
{
    MHD_stop_daemon(r->d);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ---- the fake outbox ----------------------------------------------------------------------- */

typedef struct attempt_rec {
    int ok, status;
    char error[256];
    int64_t now, next;
} attempt_rec_t;

typedef struct outbox {
    char url[128];
    int attempts;    /* made so far */
    int64_t next_at; /* due when <= now; 0 = done */
    int due_calls;
    attempt_rec_t rec[16];
    int nrec;
    int64_t now; /* the stepped clock, for the records */
    int handed_out;
} outbox_t;

static const char *const ob_body =
    "{\"id\":\"0193a1b2-0000-7000-8000-000000000001\",\"type\":\"run.finished\","
    "\"created_at\":\"2026-11-27T23:01:02.345Z\",\"data\":{\"id\":\"r1\",\"state\":\"passed\"}}";

static int ob_due(void *ud, int64_t now, size_t max, mt__delivery_t **out, size_t *n)
{
    outbox_t *o = ud;
    o->due_calls++;
    assert_true(max >= 1);
    *out = NULL;
    *n = 0;
    if (o->next_at == 0 || o->next_at > now)
        return MT_OK;
    mt__delivery_t *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->id = "dlv-1";
    d->url = o->url;
    d->secret = "s3cr3t";
    d->event_id = "0193a1b2-0000-7000-8000-000000000001";
    d->event_type = "run.finished";
    d->body = ob_body;
    d->attempt = o->attempts;
    *out = d;
    *n = 1;
    o->handed_out++;
    return MT_OK;
}

static void ob_free(void *ud, mt__delivery_t *d, size_t n)
{
    outbox_t *o = ud;
    if (d)
        o->handed_out--;
    free(d);
}

static int ob_record(void *ud, const char *id, int ok, int status, const char *error, int64_t next)
{
    outbox_t *o = ud;
    assert_string_equal(id, "dlv-1");
    assert_true(o->nrec < 16);
    attempt_rec_t *a = &o->rec[o->nrec++];
    a->ok = ok;
    a->status = status;
    snprintf(a->error, sizeof a->error, "%s", error ? error : "");
    a->now = o->now;
    a->next = next;
    o->attempts++;
    o->next_at = next;
    return MT_OK;
}

static const mt__relay_ops_t ob_ops = {.due = ob_due, .free_due = ob_free, .record = ob_record};

/* ---- tests --------------------------------------------------------------------------------- */

/* The receiver's check, written independently of mt__webhook_sign (OpenSSL's one-shot HMAC). */
static int verify(const char *secret, const char *ts, const char *body, const char *sig)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    char msg[2048], hex[2 * EVP_MAX_MD_SIZE + 8];
    int n = snprintf(msg, sizeof msg, "%s.%s", ts, body);
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret), (unsigned char *)msg,
                   (size_t)n, mac, sizeof mac, &len))
        return 0;
    strcpy(hex, "sha256=");
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 7 + 2 * i, "%02x", mac[i]);
    return strcmp(hex, sig) == 0;
}

static void test_sign(void **state)
{
    char sig[80];
    /* printf '%s' '1700000000.{}' | openssl dgst -sha256 -hmac key (docs/webhooks.md) */
    mt__webhook_sign("key", 1700000000, "{}", sig, sizeof sig);
    assert_string_equal(sig,
                        "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
    assert_true(verify("key", "1700000000", "{}", sig));
    assert_false(verify("key", "1700000001", "{}", sig));
    assert_false(verify("kez", "1700000000", "{}", sig));
    mt__webhook_sign("", -5, "", sig, sizeof sig);
    assert_true(verify("", "-5", "", sig));
    /* a buffer too small gets an empty string, not a truncated signature */
    char small[40];
    mt__webhook_sign("key", 1, "{}", small, sizeof small);
    assert_string_equal(small, "");
}

static void test_backoff(void **state)
{
    static const int64_t want[] = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600};
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
        assert_true(mt__webhook_backoff(i) == want[i]);
    assert_true(mt__webhook_backoff(1000) == 600);
    assert_true(mt__webhook_backoff(-3) == 0);
}

static void test_retries_then_delivers(void **state)
{
    receiver_t *r = recv_start(RECV_FAIL_THEN_OK);
    outbox_t *o = calloc(1, sizeof *o);
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:%d/hook", r->port);
    o->now = 1795820460;
    o->next_at = o->now;

    /* attempt 1: HTTP 500, retried after 1 s */
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
    assert_int_equal(o->nrec, 1);
    assert_int_equal(o->rec[0].ok, 0);
    assert_int_equal(o->rec[0].status, 500);
    assert_string_equal(o->rec[0].error, "HTTP 500");
    assert_true(o->rec[0].next == o->now + 1);
    /* not due again in the same second */
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 0);
    /* attempt 2: the receiver closes the connection, retried after 2 s */
    o->now += 1;
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
    assert_int_equal(o->rec[1].ok, 0);
    assert_int_equal(o->rec[1].status, 0);
    assert_true(o->rec[1].error[0] != '\0');
    assert_true(o->rec[1].next == o->now + 2);
    o->now += 1;
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 0);
    /* attempt 3: 200, recorded ok and never tried again */
    o->now += 1;
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
    assert_int_equal(o->rec[2].ok, 1);
    assert_int_equal(o->rec[2].status, 200);
    assert_string_equal(o->rec[2].error, "");
    assert_true(o->rec[2].next == 0);
    o->now += 1000;
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 0);
    assert_int_equal(o->handed_out, 0);

    /* what the receiver saw: 3 requests, one event id and delivery id, valid signatures */
    assert_int_equal(recv_count(r), 3);
    for (int i = 0; i < 3; i++) {
        recv_req_t *q = &r->reqs[i];
        assert_string_equal(q->event, "run.finished");
        assert_string_equal(q->event_id, "0193a1b2-0000-7000-8000-000000000001");
        assert_string_equal(q->delivery, "dlv-1");
        assert_string_equal(q->ctype, "application/json");
        assert_string_equal(q->body, ob_body);
        assert_true(verify("s3cr3t", q->ts, q->body, q->sig));
        assert_false(verify("wrong", q->ts, q->body, q->sig));
    }
    /* the timestamp is the relay's clock at each attempt */
    assert_int_equal(atoll(r->reqs[0].ts), 1795820460);
    assert_int_equal(atoll(r->reqs[2].ts), 1795820463);
    recv_stop(r);
    free(o);
}

static void test_gives_up_after_max_attempts(void **state)
{
    receiver_t *r = recv_start(RECV_ALWAYS_500);
    outbox_t *o = calloc(1, sizeof *o);
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:%d/", r->port);
    o->now = 1795820460;
    o->next_at = o->now;
    /* step the clock to each due time, a bounded number of passes */
    for (int pass = 0; pass < 40 && o->next_at != 0; pass++) {
        o->now = o->next_at;
        assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
    }
    assert_int_equal(o->nrec, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(o->rec[i].ok, 0);
        assert_int_equal(o->rec[i].status, 500);
        if (i < 9)
            assert_true(o->rec[i].next == o->rec[i].now + mt__webhook_backoff(i + 1));
    }
    assert_true(o->rec[9].next == 0);
    /* 1+2+4+...+256 s from the first attempt to the last */
    assert_true(o->rec[9].now - o->rec[0].now == 511);
    assert_int_equal(recv_count(r), 10);
    recv_stop(r);
    free(o);
}

static void test_redirects_and_schemes(void **state)
{
    receiver_t *r = recv_start(RECV_REDIRECT);
    outbox_t *o = calloc(1, sizeof *o);
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:%d/", r->port);
    o->now = 1000;
    o->next_at = 1000;
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
    assert_int_equal(recv_count(r), 1); /* not followed */
    assert_int_equal(o->rec[0].ok, 0);
    assert_int_equal(o->rec[0].status, 302);
    assert_string_equal(o->rec[0].error, "HTTP 302 (redirects are not followed)");
    assert_true(o->rec[0].next == 1001);
    recv_stop(r);

    /* other schemes are never tried and never retried */
    static const char *const bad[] = {"file:///etc/passwd", "ftp://127.0.0.1/", "gopher://x/",
                                      "127.0.0.1:80", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(o, 0, sizeof *o);
        snprintf(o->url, sizeof o->url, "%s", bad[i]);
        o->now = o->next_at = 1000;
        assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
        assert_int_equal(o->rec[0].ok, 0);
        assert_int_equal(o->rec[0].status, 0);
        assert_string_equal(o->rec[0].error, "only http and https URLs are delivered to");
        assert_true(o->rec[0].next == 0);
    }
    /* a refused connection is retried (the port of a receiver that stopped) */
    r = recv_start(RECV_REDIRECT);
    int port = r->port;
    recv_stop(r);
    memset(o, 0, sizeof *o);
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:%d/", port);
    o->now = o->next_at = 1000;
    assert_int_equal(mt__relay_pass(&ob_ops, o, o->now), 1);
    assert_int_equal(o->rec[0].ok, 0);
    assert_true(o->rec[0].next == 1001);
    assert_true(mt__relay_pass(NULL, o, 0) == MT_EINVAL);
    free(o);
}

/* Several deliveries in one pass: run concurrently, each recorded with its own result. */
typedef struct multi_box {
    char urls[5][128];
    const char *ids[5];
    int ok[5], status[5], seen[5];
    int64_t next[5];
} multi_box_t;

static int mb_due(void *ud, int64_t now, size_t max, mt__delivery_t **out, size_t *n)
{
    multi_box_t *b = ud;
    mt__delivery_t *d = calloc(5, sizeof *d);
    assert_non_null(d);
    assert_true(max >= 5);
    for (int i = 0; i < 5; i++) {
        d[i].id = b->ids[i];
        d[i].url = b->urls[i];
        d[i].secret = "k";
        d[i].event_id = b->ids[i];
        d[i].event_type = "test.created";
        d[i].body = "{}";
        d[i].attempt = i; /* the last one makes its 5th attempt */
    }
    *out = d;
    *n = 5;
    return MT_OK;
}

static void mb_free(void *ud, mt__delivery_t *d, size_t n)
{
    assert_int_equal(n, 5);
    free(d);
}

static int mb_record(void *ud, const char *id, int ok, int status, const char *error, int64_t next)
{
    multi_box_t *b = ud;
    for (int i = 0; i < 5; i++) {
        if (strcmp(b->ids[i], id) == 0) {
            b->seen[i]++;
            b->ok[i] = ok;
            b->status[i] = status;
            b->next[i] = next;
            assert_true(ok ? error == NULL : error != NULL && error[0] != '\0');
            return MT_OK;
        }
    }
    fail_msg("unknown delivery %s", id);
    return MT_EINVAL;
}

static void test_one_pass_many_deliveries(void **state)
{
    static const mt__relay_ops_t ops = {.due = mb_due, .free_due = mb_free, .record = mb_record};
    receiver_t *r = recv_start(RECV_OK);
    multi_box_t *b = calloc(1, sizeof *b);
    static const char *const ids[] = {"d0", "d1", "d2", "d3", "d4"};
    for (int i = 0; i < 5; i++)
        b->ids[i] = ids[i];
    snprintf(b->urls[0], sizeof b->urls[0], "http://127.0.0.1:%d/a", r->port);
    snprintf(b->urls[1], sizeof b->urls[1], "http://127.0.0.1:%d/fail", r->port);
    snprintf(b->urls[2], sizeof b->urls[2], "ftp://127.0.0.1:%d/", r->port);
    snprintf(b->urls[3], sizeof b->urls[3], "HTTP://127.0.0.1:%d/b", r->port);
    snprintf(b->urls[4], sizeof b->urls[4], "http://127.0.0.1:%d/fail", r->port);
    assert_int_equal(mt__relay_pass(&ops, b, 5000), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(b->seen[i], 1);
    assert_true(b->ok[0] && b->status[0] == 200 && b->next[0] == 0);
    assert_true(!b->ok[1] && b->status[1] == 0 && b->next[1] == 5000 + 2); /* 2nd attempt */
    assert_true(!b->ok[2] && b->next[2] == 0);                             /* never */
    assert_true(b->ok[3] && b->status[3] == 200);
    assert_true(!b->ok[4] && b->next[4] == 5000 + 16); /* 5th failure: 16 s */
    assert_int_equal(recv_count(r), 4);
    recv_stop(r);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retries_then_delivers),
        cmocka_unit_test(test_gives_up_after_max_attempts),
        cmocka_unit_test(test_redirects_and_schemes),
        cmocka_unit_test(test_one_pass_many_deliveries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
