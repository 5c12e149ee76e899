/* --store: which store a command opens (store.h). The URI check is a pure parser (fuzzed by
 * tests/fuzz/fuzz_store_uri.c): it never connects, it only refuses what must not be given on
 * a command line (a password: it would show in `ps` and shell history). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"
#include "server/store.h"

#define URI_MAX 4096

int mt__store_uri_check(const char *uri, char *err, size_t errlen)
{
    static const char *const schemes[] = {"postgresql://", "postgres://"};
    size_t len = strlen(uri), pre = 0;
    if (len > URI_MAX) {
        snprintf(err, errlen, "--store: the URI is over %d bytes", URI_MAX);
        return MT_EINVAL;
    }
    for (size_t i = 0; i < 2 && pre == 0; i++)
        if (strncmp(uri, schemes[i], strlen(schemes[i])) == 0)
            pre = strlen(schemes[i]);
    if (pre == 0) {
        snprintf(err, errlen,
                 "--store: column 1: want a PostgreSQL URI postgresql://[user@]host[:port]/db "
                 "(without --store, --data DIR uses SQLite)");
        return MT_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)uri[i];
        if (ch < 0x21 || ch == 0x7f) {
            snprintf(err, errlen, "--store: column %zu: a space or control character", i + 1);
            return MT_EINVAL;
        }
    }
    /* the authority: up to the first '/', '?' or '#' after the scheme; userinfo before '@' */
    size_t end = pre;
    while (end < len && uri[end] != '/' && uri[end] != '?' && uri[end] != '#')
        end++;
    const char *at = NULL;
    for (size_t i = pre; i < end; i++)
        if (uri[i] == '@')
            at = uri + i;
    if (at != NULL) {
        const char *colon = memchr(uri + pre, ':', (size_t)(at - (uri + pre)));
        if (colon != NULL) {
            snprintf(err, errlen,
                     "--store: column %zu: the URI holds a password; give it with PGPASSWORD, "
                     "~/.pgpass or --store-password-file FILE, never on the command line",
                     (size_t)(colon - uri) + 2);
            return MT_EINVAL;
        }
    }
    /* query parameters: key=value&...; password= is refused the same way */
    const char *q = strchr(uri + end, '?');
    while (q != NULL) {
        q++;
        if (strncmp(q, "password=", 9) == 0) {
            snprintf(err, errlen,
                     "--store: column %zu: the URI holds a password; give it with PGPASSWORD, "
                     "~/.pgpass or --store-password-file FILE, never on the command line",
                     (size_t)(q - uri) + 1);
            return MT_EINVAL;
        }
        q = strchr(q, '&');
    }
    return MT_OK;
}

char *mt__store_read_password(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "--store-password-file %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t l = strcspn(buf, "\r\n");
    buf[l] = '\0';
    if (l == 0 || (n == sizeof buf - 1 && l == n)) {
        snprintf(err, errlen, "--store-password-file %s:1: %s", path,
                 l == 0 ? "empty: want the password on the first line"
                        : "the first line is over 1023 bytes");
        memset(buf, 0, sizeof buf);
        return NULL;
    }
    char *pw = strdup(buf);
    memset(buf, 0, sizeof buf);
    if (pw == NULL)
        snprintf(err, errlen, "out of memory");
    return pw;
}

int mt__store_open_any(const char *data_dir, const char *uri, const char *password_file,
                       mt__store_t **out, char *err, size_t errlen)
{
    if (uri == NULL)
        return mt__store_open_sqlite(data_dir, out, err, errlen);
    int rc = mt__store_uri_check(uri, err, errlen);
    if (rc != MT_OK)
        return rc;
    char *pw = NULL;
    if (password_file != NULL && (pw = mt__store_read_password(password_file, err, errlen)) == NULL)
        return MT_EINVAL;
    rc = mt__store_open_pg(uri, pw, out, err, errlen);
    if (pw != NULL) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    return rc;
}
