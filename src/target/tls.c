/* The target's SSL_CTX: certificate and key from files or made at start, resumption, ALPN. */
#include "target/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mortar/error.h"

/* ALPN protocol lists in wire format, in the server's order of preference. */
static const unsigned char k_alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char k_alpn_h1[] = "\x08http/1.1";

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    const unsigned char *ours = arg;
    unsigned ourlen = ours == k_alpn_h2 ? sizeof(k_alpn_h2) - 1 : sizeof(k_alpn_h1) - 1;
    unsigned char *sel = NULL;
    unsigned char sellen = 0;

    (void)ssl;
    /* the server's preference wins; no overlap: no ALPN (the client may still speak HTTP/1.1
     * or send the HTTP/2 preface, which the connection recognises) */
    if (SSL_select_next_proto(&sel, &sellen, ours, ourlen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

__attribute__((format(printf, 3, 4))) static void tls_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    va_list ap;
    size_t n;
    unsigned long e = ERR_peek_last_error();

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    n = strlen(err);
    if (e && n + 3 < errlen) {
        char why[160];
        ERR_error_string_n(e, why, sizeof(why));
        snprintf(err + n, errlen - n, ": %s", why);
    }
    ERR_clear_error();
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return 0;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A new P-256 key and a self-signed certificate for the loopback names. */
static int self_signed(SSL_CTX *ctx, const char *out_file, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = NULL;
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    FILE *f = NULL;
    int rc = MT_ENOMEM;

    if (!key || !(x = X509_new()) || RAND_bytes(serial, sizeof(serial)) != 1) {
        tls_err(err, errlen, "cannot make a key for the self-signed certificate");
        goto out;
    }
    serial[0] &= 0x7f; /* a positive serial number */
    if (!X509_set_version(x, 2) || !(bn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) || !X509_set_pubkey(x, key))
        goto fail;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"mortar target",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto fail;
    /* a CA certificate for itself, so clients can trust it as their CA file (curl --cacert) */
    if (!add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth") ||
        !add_ext(x, NID_subject_key_identifier, "hash") ||
        !add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        !X509_sign(x, key, EVP_sha256()))
        goto fail;
    if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        goto fail;
    if (out_file) {
        rc = MT_EINVAL;
        f = fopen(out_file, "w");
        if (!f) {
            snprintf(err, errlen, "--tls-self-signed-out: cannot write %s: %s", out_file,
                     strerror(errno));
            goto out;
        }
        if (PEM_write_X509(f, x) != 1 || fclose(f) != 0) {
            f = NULL;
            tls_err(err, errlen, "--tls-self-signed-out: cannot write %s", out_file);
            goto out;
        }
        f = NULL;
    }
    rc = MT_OK;
    goto out;
fail:
    tls_err(err, errlen, "cannot make the self-signed certificate");
out:
    if (f)
        fclose(f);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int mt__tgt_tls_ctx(const char *cert_file, const char *key_file, bool self_signed_cert,
                    const char *self_signed_out, bool http2, SSL_CTX **out, char *err,
                    size_t errlen)
{
    static const unsigned char sid_ctx[] = "mortar-target";
    SSL_CTX *ctx;
    int rc = MT_ENOMEM;

    *out = NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_err(err, errlen, "SSL_CTX_new");
        return MT_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    /* no renegotiation: a write never has to wait for a read (and the reverse) in TLS 1.2;
     * the server's cipher order; no compression; a peer closing without close_notify is an
     * end of stream, not an error (most clients do, and HTTP frames its own messages) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* resumption: a session cache (session IDs, TLS 1.2) and tickets (both versions; on by
     * default, keys made per context) */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20480);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)(http2 ? k_alpn_h2 : k_alpn_h1));

    if (self_signed_cert) {
        if ((rc = self_signed(ctx, self_signed_out, err, errlen)) != MT_OK)
            goto out;
    } else {
        rc = MT_EINVAL;
        if (!cert_file || !key_file) {
            snprintf(err, errlen, "TLS needs a certificate and a key");
            goto out;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            tls_err(err, errlen, "--tls-cert: cannot use %s", cert_file);
            goto out;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
                tls_err(err, errlen, "--tls-key: %s does not match the certificate in %s", key_file,
                        cert_file);
            else
                tls_err(err, errlen, "--tls-key: cannot use %s", key_file);
            goto out;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            tls_err(err, errlen, "--tls-key: %s does not match the certificate in %s", key_file,
                    cert_file);
            goto out;
        }
    }
    *out = ctx;
    ctx = NULL;
    rc = MT_OK;
out:
    SSL_CTX_free(ctx);
    return rc;
}
