/* libFuzzer driver for mt__snapshot_decode (the wire form agents publish, docs/aggregation.md).
 * Whatever decodes must encode and decode again to the same counters. snapshot.c is included
 * so it carries the fuzzer's coverage instrumentation. */
#include "server/snapshot.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt__snapshot_t s, back;
    mt_parse_err_t err;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (size > (1u << 20))
        return 0;
    rc = mt__snapshot_decode((const char *)data, size, &s, &err);
    if (rc != MT_OK) {
        if ((rc != MT_EPARSE && rc != MT_ENOMEM) || s.latency != NULL || s.tags != NULL ||
            (rc == MT_EPARSE && err.msg[0] == '\0'))
            __builtin_trap();
        return 0;
    }
    if (mt__snapshot_encode(&s, &text, &len) != MT_OK)
        __builtin_trap();
    if (mt__snapshot_decode(text, len, &back, &err) != MT_OK ||
        memcmp(&back.c, &s.c, sizeof(s.c)) != 0 || back.ntags != s.ntags ||
        mt_hist_count(back.latency) != mt_hist_count(s.latency))
        __builtin_trap();
    mt__snapshot_dispose(&back);
    mt__snapshot_dispose(&s);
    free(text);
    return 0;
}
