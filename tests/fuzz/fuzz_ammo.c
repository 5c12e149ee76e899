/* libFuzzer driver for the ammo parser. The first byte picks what to do with the rest:
 *   bits 0-1  type: uri, uripost, phantom, access
 *   bit 2     the rest is gzip data: gunzip it (1 MB cap), then parse what comes out
 *   bit 3     options: a host, -H headers and a user agent (else none: uri needs [Host])
 *   bit 4     tight limits (3 requests, 2 KB), to reach the limit paths
 * Checks on success: the invariants of mt_ammo_t, and every request mortar serialised (uri,
 * uripost, access) parses as one complete HTTP/1.1 request head with the server-side parser
 * (src/proto/http1_req.c), with its Content-Length, and nothing left over. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/ammo.h"
#include "mortar/http1.h"
#include "proto/http1_req.h"

static void check_http(const mt_request_t *r, mt_ammo_type_t type)
{
    mt__h1_req_t p;
    size_t used = 0;
    int rc;

    /* URIs may carry UTF-8 (Tank sends them raw); the strict parser takes ASCII targets */
    for (size_t i = 0; i < r->len && r->data[i] != '\n'; i++)
        if ((unsigned char)r->data[i] >= 0x80)
            return;
    mt__h1_req_init(&p, 1u << 20);
    rc = mt__h1_req_feed(&p, r->data, r->len, &used);
    if (rc != MT_OK || p.version_minor != 1 || !p.has_host)
        abort();
    if (type == MT_AMMO_URIPOST) {
        if (p.method != MT__H1_M_POST || !p.has_content_length || p.content_length != r->len - used)
            abort();
    } else if (p.method != MT__H1_M_GET || used != r->len || p.has_content_length) {
        abort();
    }
}

static void check(const mt_ammo_t *a, mt_ammo_type_t type)
{
    size_t sum = 0;
    if (a->nreqs == 0 || a->ntags == 0 || a->ntags > MT_MAX_TAGS || a->tags[0][0] != '\0' ||
        a->type != type)
        abort();
    for (size_t i = 1; i < a->ntags; i++) {
        size_t n = strlen(a->tags[i]);
        if (n == 0 || n > MT_AMMO_MAX_TAG)
            abort();
        for (size_t j = 1; j < i; j++)
            if (strcmp(a->tags[i], a->tags[j]) == 0)
                abort();
    }
    for (size_t i = 0; i < a->nreqs; i++) {
        const mt_request_t *r = &a->reqs[i];
        volatile char sink;
        if (r->len == 0 || r->tag >= a->ntags)
            abort();
        sink = r->data[0]; /* ASan: the bytes must be readable */
        sink = r->data[r->len - 1];
        (void)sink;
        sum += r->len;
        if (type == MT_AMMO_PHANTOM) {
            int head = r->len >= 5 && memcmp(r->data, "HEAD ", 5) == 0;
            if ((r->parse_flags == MT_H1_NO_BODY) != head)
                abort();
        } else {
            if (r->parse_flags != 0 || (type == MT_AMMO_ACCESS && r->tag != 0))
                abort();
            check_http(r, type);
        }
    }
    if (sum != a->bytes)
        abort();
    if (type != MT_AMMO_ACCESS && (a->skipped || a->malformed))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const mt_ammo_type_t types[4] = {MT_AMMO_URI, MT_AMMO_URIPOST, MT_AMMO_PHANTOM,
                                            MT_AMMO_ACCESS};
    static const char *const hs[] = {"Accept: */*", "X-Test:  yes ", "accept: text/html"};
    mt_ammo_opts_t o = {0};
    mt_ammo_type_t type;
    mt_parse_err_t err;
    mt_ammo_t a;
    const char *text;
    char *inflated = NULL;
    size_t len;
    int rc;

    if (size < 1)
        return 0;
    type = types[data[0] & 3];
    text = (const char *)data + 1;
    len = size - 1;
    if (data[0] & 4) {
        if (mt_ammo_gunzip(text, len, 1u << 20, &inflated, &len, &err) != MT_OK) {
            if (inflated || err.msg[0] == '\0' || err.line != 0)
                abort();
            return 0;
        }
        if (len > (1u << 20) || inflated[len] != '\0')
            abort();
        text = inflated;
    }
    if (data[0] & 8) {
        o.host = "fuzz.example:8080";
        o.headers = hs;
        o.nheaders = 3;
        o.user_agent = "mortar-fuzz";
    }
    if (data[0] & 16) {
        o.max_requests = 3;
        o.max_bytes = 2048;
    }
    rc = mt_ammo_parse(text, len, type, &o, &a, &err);
    if (rc == MT_OK) {
        check(&a, type);
        if (a.bytes > (o.max_bytes ? o.max_bytes : MT_AMMO_DEF_BYTES) ||
            a.nreqs > (o.max_requests ? o.max_requests : MT_AMMO_DEF_REQUESTS))
            abort();
    } else {
        if (a.reqs || a.nreqs || err.msg[0] == '\0' || err.line < 0 || err.col < 0)
            abort();
        if (rc != MT_EPARSE && rc != MT_ETOOBIG && rc != MT_ENOMEM)
            abort();
    }
    mt_ammo_dispose(&a);
    free(inflated);
    return 0;
}
