/* Target server TLS: the one SSL_CTX every worker shares (OpenSSL makes it safe to share),
 * from a certificate and key file or from a self-signed certificate made at start. The event
 * loop side (non-blocking handshakes, reads, writes) is in target.c. */
#ifndef MT_TARGET_TLS_H
#define MT_TARGET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* Builds the server context: TLS 1.2 and 1.3, a server-side session cache and session tickets
 * (so clients can resume), ALPN choosing "h2" (when http2) or "http/1.1", renegotiation off.
 * Either cert_file and key_file (PEM; the certificate file may hold a chain), or self_signed:
 * a new EC P-256 key and a certificate for localhost, 127.0.0.1 and ::1, valid from an hour
 * ago for a year; written to self_signed_out (PEM) if that is not NULL. On success *out is
 * owned by the caller (SSL_CTX_free). On failure returns MT_EINVAL (unreadable or mismatched
 * files, unwritable output) or MT_ENOMEM, with a one-line message naming the file in err. */
int mt__tgt_tls_ctx(const char *cert_file, const char *key_file, bool self_signed,
                    const char *self_signed_out, bool http2, SSL_CTX **out, char *err,
                    size_t errlen);

#endif
