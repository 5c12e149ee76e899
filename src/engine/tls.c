/* The TLS client context of a run (OpenSSL): verification, SNI/name check settings, client
 * certificate, version range, ALPN, and session resumption. Each worker keeps the newest
 * session it was given (worker.c); this file only builds the shared SSL_CTX. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

struct mt_tls_ctx {
    SSL_CTX *ctx;
    char *server_name;
    int name_is_ip;
};

/* OpenSSL's most recent error as text ("" if none), the queue cleared. */
void mt__tls_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error(), last = e;
    while (e) {
        last = e;
        e = ERR_get_error();
    }
    if (n == 0)
        return;
    buf[0] = '\0';
    if (last) {
        const char *r = ERR_reason_error_string(last);
        if (r)
            snprintf(buf, n, "%s", r);
        else
            ERR_error_string_n(last, buf, n);
    }
}

static int tls_fail(char *err, size_t n, const char *what)
{
    char why[160];
    mt__tls_reason(why, sizeof why);
    snprintf(err, n, "%s%s%s", what, why[0] ? ": " : "", why);
    return MT_EINVAL;
}

static int tls_version(int v)
{
    return v == 12 ? TLS1_2_VERSION : v == 13 ? TLS1_3_VERSION : 0;
}

static int tls_is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A new session arrived (after the handshake in TLS 1.2, in a NewSessionTicket in 1.3): the
 * worker keeps it for its next connection. Returning 1 keeps our reference. */
static int tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
    mt__worker_t *w = SSL_get_app_data(ssl);
    if (!w)
        return 0;
    if (w->tls_sess)
        SSL_SESSION_free(w->tls_sess);
    w->tls_sess = sess;
    return 1;
}

int mt_tls_ctx_new(const mt_tls_config_t *cfg, mt_tls_ctx_t **out, char *err, size_t n)
{
    *out = NULL;
    mt_tls_ctx_t *t = calloc(1, sizeof *t);
    if (!t)
        return MT_ENOMEM;
    int rc = MT_EINVAL;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx) {
        rc = tls_fail(err, n, "TLS: cannot create a context");
        goto fail;
    }
    SSL_CTX *c = t->ctx;
    int lo = tls_version(cfg->min_version), hi = tls_version(cfg->max_version);
    if ((cfg->min_version && !lo) || (cfg->max_version && !hi)) {
        snprintf(err, n, "TLS version must be 1.2 or 1.3");
        goto fail;
    }
    if (lo && hi && lo > hi) {
        snprintf(err, n, "TLS minimum version is above the maximum");
        goto fail;
    }
    if ((lo && !SSL_CTX_set_min_proto_version(c, lo)) ||
        (hi && !SSL_CTX_set_max_proto_version(c, hi))) {
        rc = tls_fail(err, n, "TLS: cannot set the version range");
        goto fail;
    }
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    /* read what the socket has in one read(2), not a record header then its body (two reads
     * per record); records already read are decrypted from the buffer */
    SSL_CTX_set_read_ahead(c, 1);
    SSL_CTX_set_default_read_buffer_len(c, 64 * 1024);
    /* a peer that closes without close_notify is an EOF, as for plain HTTP */
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (cfg->insecure) {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        if (cfg->cacert) {
            if (!SSL_CTX_load_verify_locations(c, cfg->cacert, NULL)) {
                char what[300];
                snprintf(what, sizeof what, "--cacert %s: cannot load the CA certificates",
                         cfg->cacert);
                rc = tls_fail(err, n, what);
                goto fail;
            }
        } else if (!SSL_CTX_set_default_verify_paths(c)) {
            rc = tls_fail(err, n, "TLS: cannot load the system's CA certificates");
            goto fail;
        }
    }
    if (cfg->cert) {
        char what[300];
        if (!SSL_CTX_use_certificate_chain_file(c, cfg->cert)) {
            snprintf(what, sizeof what, "--cert %s: cannot load the certificate", cfg->cert);
            rc = tls_fail(err, n, what);
            goto fail;
        }
        const char *key = cfg->key ? cfg->key : cfg->cert;
        if (!SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM)) {
            snprintf(what, sizeof what, "--key %s: cannot load the private key", key);
            rc = tls_fail(err, n, what);
            goto fail;
        }
        if (!SSL_CTX_check_private_key(c)) {
            snprintf(what, sizeof what, "--key %s: does not match --cert %s", key, cfg->cert);
            rc = tls_fail(err, n, what);
            goto fail;
        }
    } else if (cfg->key) {
        snprintf(err, n, "--key needs --cert");
        goto fail;
    }
    static const unsigned char alpn_h2[] = "\x02h2", alpn_h1[] = "\x08http/1.1";
    if (cfg->http2 ? SSL_CTX_set_alpn_protos(c, alpn_h2, sizeof alpn_h2 - 1)
                   : SSL_CTX_set_alpn_protos(c, alpn_h1, sizeof alpn_h1 - 1)) {
        rc = tls_fail(err, n, "TLS: cannot set ALPN");
        goto fail;
    }
    if (cfg->no_resume) {
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    } else {
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c, tls_new_session);
    }
    if (cfg->server_name) {
        t->server_name = strdup(cfg->server_name);
        if (!t->server_name) {
            rc = MT_ENOMEM;
            goto fail;
        }
        t->name_is_ip = tls_is_ip(cfg->server_name);
    }
    *out = t;
    return MT_OK;
fail:
    mt_tls_ctx_free(t);
    return rc;
}

void mt_tls_ctx_free(mt_tls_ctx_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->server_name);
    free(t);
}

/* A socket BIO whose reads are recvmsg with the kernel's receive timestamp (mt__sock_recv):
 * the record that completes a response is timed by the read that brought it. */
static BIO_METHOD *kts_method;
static pthread_once_t kts_once = PTHREAD_ONCE_INIT;

static int kts_read(BIO *b, char *buf, int len)
{
    mt__conn_t *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = mt__sock_recv(c, buf, (size_t)(len > 0 ? len : 0));
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)n;
}

static int kts_write(BIO *b, const char *buf, int len)
{
    mt__conn_t *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = send(c->fd, buf, (size_t)(len > 0 ? len : 0), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)n;
}

static long kts_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    mt__conn_t *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_C_GET_FD:
        if (ptr)
            *(int *)ptr = c ? c->fd : -1;
        return c ? c->fd : -1;
    default:
        return 0;
    }
}

static int kts_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void kts_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mortar socket");
    if (m && (!BIO_meth_set_read(m, kts_read) || !BIO_meth_set_write(m, kts_write) ||
              !BIO_meth_set_ctrl(m, kts_ctrl) || !BIO_meth_set_create(m, kts_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    kts_method = m; /* lives as long as the process */
}

/* A client connection's SSL object on c's socket: SNI, the name check, the worker's last
 * session. With kernel timestamps its reads go through the timestamping BIO. */
SSL *mt__tls_new(const mt_tls_ctx_t *t, mt__worker_t *w, mt__conn_t *c, bool resume)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return NULL;
    if (w->kts)
        pthread_once(&kts_once, kts_method_new);
    if (w->kts && kts_method) {
        BIO *b = BIO_new(kts_method);
        if (!b)
            goto fail;
        BIO_set_data(b, c);
        SSL_set_bio(ssl, b, b);
    } else if (!SSL_set_fd(ssl, c->fd)) {
        goto fail;
    }
    SSL_set_app_data(ssl, w);
    if (t->server_name) {
        if (!t->name_is_ip && !SSL_set_tlsext_host_name(ssl, t->server_name))
            goto fail;
        if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
            if (t->name_is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->server_name)
                              : !SSL_set1_host(ssl, t->server_name))
                goto fail;
        }
    }
    if (resume && w->tls_sess)
        SSL_set_session(ssl, w->tls_sess);
    SSL_set_connect_state(ssl);
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}
