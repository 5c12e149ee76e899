/* libFuzzer driver for the request-head parser (and the target's query parser on what it
 * finds). The input is parsed whole, then split in two at a point taken from the input, then
 * byte by byte: all three must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1_req.h"
#include "target/behave.h"

#define MAX_HEAD 4096

static int parse(const uint8_t *data, size_t size, size_t split, size_t chunk, mt__h1_req_t *p,
                 size_t *used)
{
    size_t off = 0;
    int rc = MT_EAGAIN;
    mt__h1_req_init(p, MAX_HEAD);
    *used = 0;
    while (off < size) {
        size_t n = size - off, c = 0;
        if (off == 0 && split > 0 && split < n)
            n = split;
        else if (off > 0 && chunk > 0 && chunk < n)
            n = chunk;
        rc = mt__h1_req_feed(p, (const char *)data + off, n, &c);
        if (c > n)
            abort();
        off += c;
        *used += c;
        if (rc != MT_EAGAIN)
            break;
        if (c != n)
            abort();
    }
    return rc;
}

static void same(const mt__h1_req_t *a, const mt__h1_req_t *b, int rca, int rcb, size_t ua,
                 size_t ub)
{
    if (rca != rcb || ua != ub || a->method != b->method || a->target_off != b->target_off ||
        a->target_len != b->target_len || a->head_len != b->head_len ||
        a->version_minor != b->version_minor || a->content_length != b->content_length ||
        a->conn_close != b->conn_close || a->conn_keep_alive != b->conn_keep_alive ||
        a->has_host != b->has_host || a->has_transfer_encoding != b->has_transfer_encoding ||
        a->expect_continue != b->expect_continue || a->err_offset != b->err_offset ||
        a->err_status != b->err_status)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt__h1_req_t whole, split, bytes;
    size_t uw, us, ub;
    int rw, rs, rb;

    rw = parse(data, size, 0, 0, &whole, &uw);
    rs = parse(data, size, size ? (size_t)data[0] % (size + 1) : 0, 0, &split, &us);
    rb = parse(data, size, 1, 1, &bytes, &ub);
    same(&whole, &split, rw, rs, uw, us);
    same(&whole, &bytes, rw, rb, uw, ub);

    if (uw > size || uw > MAX_HEAD)
        abort();
    if (rw == MT_OK) {
        mt__tgt_behave_t b;
        char msg[MT__TGT_MSG_MAX];
        char head[MT__TGT_HEAD_MAX];
        if (whole.head_len != uw || whole.target_len == 0 ||
            whole.target_off + whole.target_len > whole.head_len)
            abort();
        if (mt__tgt_behave_parse((const char *)data + whole.target_off, whole.target_len, &b,
                                 msg) == 0) {
            if (b.status < 200 || b.status > 599 || b.delay_ns < 0 || msg[0])
                abort();
            if (mt__tgt_format_head(head, b.status, b.size, MT__TGT_CONN_KEEP_ALIVE) > sizeof(head))
                abort();
        } else if (strlen(msg) == 0 || strlen(msg) >= sizeof(msg) || msg[strlen(msg) - 1] != '\n') {
            abort();
        }
    } else if (rw != MT_EAGAIN) {
        if (whole.err_offset != uw || !whole.err_msg ||
            (whole.err_status != 400 && whole.err_status != 431 && whole.err_status != 505))
            abort();
    }
    return 0;
}
