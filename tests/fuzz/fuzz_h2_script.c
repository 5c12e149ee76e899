/* libFuzzer driver for a script's request() result over HTTP/2 (src/engine/h2.c): the result is
 * split into its requests (mt__h2_script_next) and each is converted to HTTP/2 fields
 * (mt__h2_req_build), as the engine does before it sends them as streams. The first byte picks
 * the scheme (bit 0: https). Checks: every split is inside the input and not empty, the splits
 * cover it up to trailing blank lines, and every field and the body lie inside the request (or
 * the lower-cased copy of its head), names never upper-case. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

static int inside(const void *p, size_t n, const char *lo, size_t len)
{
    const char *c = p;
    return c >= lo && c + n <= lo + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int tls = data[0] & 1;
    const char *p = (const char *)data + 1;
    size_t len = size - 1, off = 0;
    while (off < len) {
        size_t n = 0;
        int rc = mt__h2_script_next(p + off, len - off, &n);
        if (rc == MT_EEOF) {
            for (size_t i = off; i < len; i++)
                if (p[i] != '\r' && p[i] != '\n')
                    abort();
            break;
        }
        if (rc != MT_OK)
            break;
        if (n == 0 || n > len - off)
            abort();
        mt_request_t q = {.data = p + off, .len = n};
        mt__h2req_t r;
        memset(&r, 0, sizeof r);
        if (mt__h2_req_build(&q, tls, &r) == MT_OK) {
            size_t head = (size_t)(r.body - q.data);
            if (!inside(r.body, r.body_len, q.data, n) || r.body + r.body_len != q.data + n)
                abort();
            for (size_t i = 0; i < r.nnv; i++) {
                const nghttp2_nv *v = &r.nv[i];
                if (!v->name || v->namelen == 0)
                    abort();
                if (v->name[0] != ':') {
                    if (!inside(v->name, v->namelen, r.lower, head))
                        abort();
                    for (size_t j = 0; j < v->namelen; j++)
                        if (v->name[j] >= 'A' && v->name[j] <= 'Z')
                            abort();
                }
                if (v->valuelen && !inside(v->value, v->valuelen, q.data, n) &&
                    !inside(v->value, v->valuelen, tls ? "https" : "http", tls ? 5 : 4) &&
                    strncmp((const char *)v->value, tls ? "https" : "http", v->valuelen) != 0)
                    abort();
            }
        }
        free(r.nv);
        free(r.lower);
        off += n;
    }
    return 0;
}
