/* libFuzzer driver for mt_hist_decode.
 *
 * The input goes to the decoder twice: as text (the base64 layer), and base64-encoded first,
 * so the fuzzer also mutates the binary layers directly (cookies, header fields, zlib stream,
 * uncompressed varint counts) instead of having to find valid base64 first.
 * Whatever decodes must survive encode -> decode with identical counts.
 *
 * hist.c is included rather than linked so it carries the fuzzer's coverage instrumentation
 * (mortar_core itself is not built with -fsanitize=fuzzer). */
#include "stats/hist.c"

#include <stdio.h>

static int count_line(double percentile, int64_t value, uint64_t count_to, void *ud)
{
    (void)percentile;
    (void)value;
    (void)count_to;
    return ++*(int *)ud > 100000; /* a runaway iterator shows up as a timeout anyway */
}

static void check_roundtrip(const mt_hist_t *h)
{
    char *text = NULL;
    size_t len = 0;
    int lines = 0;
    mt_hist_t *back = NULL;

    /* exercise the queries on whatever came in */
    (void)mt_hist_mean(h);
    (void)mt_hist_stddev(h);
    (void)mt_hist_value_at_percentile(h, 99.9);
    (void)mt_hist_min(h);

    mt_hist_foreach_percentile(h, 5, count_line, &lines);

    /* decoded counts are each <= INT64_MAX, so re-encoding cannot fail */
    int rc = mt_hist_encode(h, &text, &len);
    if (rc != 0 || mt_hist_decode(text, len, &back) != 0) {
        fprintf(stderr, "re-encode/decode failed: %d\n", rc);
        __builtin_trap();
    }
    if (back->counts_len != h->counts_len || back->lowest != h->lowest ||
        back->highest != h->highest || back->sigfigs != h->sigfigs || back->total != h->total ||
        mt_hist_max(back) != mt_hist_max(h) || mt_hist_min(back) != mt_hist_min(h) ||
        memcmp(back->counts, h->counts, (size_t)h->counts_len * sizeof(h->counts[0])) != 0) {
        fprintf(stderr, "round trip changed the histogram\n");
        __builtin_trap();
    }
    mt_hist_free(back);
    free(text);
}

static void one(const char *text, size_t len)
{
    mt_hist_t *h = NULL;
    int rc = mt_hist_decode(text, len, &h);
    if (rc == 0) {
        check_roundtrip(h);
        mt_hist_free(h);
    } else if (h != NULL || (rc != MT_EFORMAT && rc != MT_ENOMEM)) {
        fprintf(stderr, "decode failed with rc %d and out %p\n", rc, (void *)h);
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    one((const char *)data, size);

    char *text = malloc(4 * ((size + 2) / 3) + 1);
    if (!text)
        return 0;
    size_t len = b64_encode(data, size, text);
    one(text, len);
    free(text);
    return 0;
}
