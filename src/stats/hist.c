/* Log-linear latency histogram with HdrHistogram_c's bucket layout and V2 wire encoding.
 *
 * Layout (same arithmetic as HdrHistogram, so counts arrays line up index for index):
 *   sub_count  = 2^ceil(log2(2 * 10^sigfigs))     sub-buckets per bucket
 *   unit_mag   = floor(log2(lowest))              values below 2^unit_mag share index 0
 *   bucket b covers [sub_count/2, sub_count) << (b + unit_mag), except bucket 0 which also
 *   covers [0, sub_count/2); only the upper half of each bucket >0 gets its own indexes, so
 *   counts_len = (bucket_count + 1) * sub_count / 2.
 *
 * Wire format (HdrHistogram "V2", what jHiccup/wrk2/HdrHistogram tools print as "HISTF..."):
 *   base64( be32 0x1c849314 | be32 zlib_len | zlib( V2 payload ) )
 *   V2 payload = be32 0x1c849313 | be32 payload_len | be32 normalizing_index_offset |
 *                be32 sigfigs | be64 lowest | be64 highest | be64 double bits of the
 *                integer-to-double ratio | payload_len bytes of ZigZag LEB128 counts, where a
 *                negative value -n stands for n consecutive zero counts.
 * The low nibble of the cookie is the version, bits 4..7 the word size (1 = varint); readers
 * compare the cookie with those bits masked off, as HdrHistogram does. */
#include "mortar/hist.h"
#include "mortar/error.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HIST_V2_ENCODING_COOKIE   0x1c849303u
#define HIST_V2_COMPRESSED_COOKIE 0x1c849304u
#define HIST_COOKIE_WORD_MASK     0xf0u
#define HIST_COOKIE_VARINT_WORD   0x10u
#define HIST_V2_HEADER_LEN        40
#define HIST_COMPRESSED_HDR_LEN   8
#define HIST_MAX_VARINT_LEN       9
/* Hard cap on anything decode allocates from untrusted sizes (wire bytes, payload, counts). */
#define HIST_MAX_DECODED ((size_t)64 << 20)

#define HIST_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HIST_UNLIKELY(x) __builtin_expect(!!(x), 0)

struct mt_hist {
    int64_t lowest;
    int64_t highest;
    int32_t sigfigs;
    int32_t unit_mag;     /* floor(log2(lowest)) */
    int32_t sub_half_mag; /* log2(sub_count / 2) */
    int32_t sub_half;     /* sub_count / 2 */
    int32_t sub_count;
    int32_t bucket_count;
    int32_t counts_len;
    int32_t bucket_base; /* bucket index = bucket_base - clz(value | sub_mask) */
    int64_t sub_mask;    /* (sub_count - 1) << unit_mag */
    int64_t min_value;   /* smallest non-zero value recorded, INT64_MAX when none */
    int64_t max_value;   /* largest value recorded, 0 when none */
    uint64_t total;
    uint64_t counts[];
};

typedef struct hist_layout {
    int64_t lowest;
    int64_t highest;
    int32_t sigfigs;
    int32_t unit_mag;
    int32_t sub_half_mag;
    int32_t bucket_count;
    int32_t counts_len;
} hist_layout_t;

/* ---- layout ------------------------------------------------------------------------------ */

/* sigfigs 0..5: HdrHistogram Java writes 0 on the wire; mt_hist_new asks for at least 1. */
static int hist_layout(int64_t lowest, int64_t highest, int sigfigs, hist_layout_t *l)
{
    if (lowest < 1 || sigfigs < 0 || sigfigs > 5 || lowest > INT64_MAX / 2 || highest < 2 * lowest)
        return MT_EINVAL;

    /* smallest power of two >= 2 * 10^sigfigs, i.e. ceil(log2(...)) without floating point */
    int64_t single_unit = 2;
    for (int i = 0; i < sigfigs; i++)
        single_unit *= 10;
    int32_t sub_count_mag = 0;
    while (((int64_t)1 << sub_count_mag) < single_unit)
        sub_count_mag++;

    l->lowest = lowest;
    l->highest = highest;
    l->sigfigs = sigfigs;
    l->sub_half_mag = (sub_count_mag > 1 ? sub_count_mag : 1) - 1;
    l->unit_mag = 63 - __builtin_clzll((uint64_t)lowest);
    if (l->unit_mag + l->sub_half_mag > 61)
        return MT_EINVAL;

    int64_t sub_count = (int64_t)1 << (l->sub_half_mag + 1);
    int64_t smallest_untrackable = sub_count << l->unit_mag;
    int32_t buckets = 1;
    while (smallest_untrackable <= highest) {
        if (smallest_untrackable > INT64_MAX / 2) {
            buckets++;
            break;
        }
        smallest_untrackable <<= 1;
        buckets++;
    }
    l->bucket_count = buckets;
    l->counts_len = (buckets + 1) * (int32_t)(sub_count / 2);
    return 0;
}

static mt_hist_t *hist_alloc(const hist_layout_t *l)
{
    mt_hist_t *h = calloc(1, sizeof(*h) + (size_t)l->counts_len * sizeof(uint64_t));
    if (!h)
        return NULL;
    h->lowest = l->lowest;
    h->highest = l->highest;
    h->sigfigs = l->sigfigs;
    h->unit_mag = l->unit_mag;
    h->sub_half_mag = l->sub_half_mag;
    h->sub_count = (int32_t)1 << (l->sub_half_mag + 1);
    h->sub_half = h->sub_count / 2;
    h->bucket_count = l->bucket_count;
    h->counts_len = l->counts_len;
    h->bucket_base = 63 - l->unit_mag - l->sub_half_mag;
    h->sub_mask = ((int64_t)h->sub_count - 1) << l->unit_mag;
    h->min_value = INT64_MAX;
    h->max_value = 0;
    return h;
}

/* ---- index <-> value (value >= 0 everywhere below) ---------------------------------------- */

static inline int32_t hist_bucket_of(const mt_hist_t *h, int64_t value)
{
    return h->bucket_base - __builtin_clzll((uint64_t)value | (uint64_t)h->sub_mask);
}

static inline int32_t hist_index_for(const mt_hist_t *h, int64_t value)
{
    int32_t bucket = hist_bucket_of(h, value);
    int32_t sub = (int32_t)(value >> (bucket + h->unit_mag));
    return ((bucket + 1) << h->sub_half_mag) + (sub - h->sub_half);
}

static int64_t hist_value_at_index(const mt_hist_t *h, int32_t index)
{
    int32_t bucket = (index >> h->sub_half_mag) - 1;
    int32_t sub = (index & (h->sub_half - 1)) + h->sub_half;
    if (bucket < 0) {
        sub -= h->sub_half;
        bucket = 0;
    }
    return (int64_t)sub << (bucket + h->unit_mag);
}

static int64_t hist_range_size(const mt_hist_t *h, int64_t value)
{
    int32_t bucket = hist_bucket_of(h, value);
    int32_t sub = (int32_t)(value >> (bucket + h->unit_mag));
    if (sub >= h->sub_count)
        bucket++;
    return (int64_t)1 << (h->unit_mag + bucket);
}

static int64_t hist_lowest_equiv(const mt_hist_t *h, int64_t value)
{
    int32_t bucket = hist_bucket_of(h, value);
    int32_t sub = (int32_t)(value >> (bucket + h->unit_mag));
    return (int64_t)sub << (bucket + h->unit_mag);
}

/* The top bucket of a histogram whose highest is near INT64_MAX ends at 2^63: clamp. */
static int64_t hist_highest_equiv(const mt_hist_t *h, int64_t value)
{
    uint64_t next = (uint64_t)hist_lowest_equiv(h, value) + (uint64_t)hist_range_size(h, value);
    return next - 1 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(next - 1);
}

static int64_t hist_median_equiv(const mt_hist_t *h, int64_t value)
{
    return hist_lowest_equiv(h, value) + (hist_range_size(h, value) >> 1);
}

static uint64_t hist_count_at_index(const mt_hist_t *h, int32_t index)
{
    return index >= 0 && index < h->counts_len ? h->counts[index] : 0;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int mt_hist_new(int64_t lowest, int64_t highest, int sigfigs, mt_hist_t **out)
{
    hist_layout_t l;
    int rc;

    if (!out)
        return MT_EINVAL;
    *out = NULL;
    if (sigfigs < 1)
        return MT_EINVAL;
    if ((rc = hist_layout(lowest, highest, sigfigs, &l)) != 0)
        return rc;
    if (!(*out = hist_alloc(&l)))
        return MT_ENOMEM;
    return 0;
}

int mt_hist_new_latency(mt_hist_t **out)
{
    return mt_hist_new(1, INT64_C(3600000000), 2, out);
}

void mt_hist_free(mt_hist_t *h)
{
    free(h);
}

void mt_hist_reset(mt_hist_t *h)
{
    memset(h->counts, 0, (size_t)h->counts_len * sizeof(h->counts[0]));
    h->total = 0;
    h->min_value = INT64_MAX;
    h->max_value = 0;
}

/* ---- recording (hot path) ------------------------------------------------------------------ */

static inline bool hist_record(mt_hist_t *h, int64_t value, uint64_t n)
{
    if (HIST_UNLIKELY(value < 0 || value > h->highest))
        return false;
    int32_t idx = hist_index_for(h, value);
    /* Cannot fire for value <= highest (bucket_count covers highest); kept as a cheap guard. */
    if (HIST_UNLIKELY((uint32_t)idx >= (uint32_t)h->counts_len))
        return false;
    h->counts[idx] += n;
    h->total += n;
    /* Conditional moves, not branches; 0 never becomes the (non-zero) minimum. */
    int64_t nz = value != 0 ? value : INT64_MAX;
    h->min_value = nz < h->min_value ? nz : h->min_value;
    h->max_value = value > h->max_value ? value : h->max_value;
    return true;
}

bool mt_hist_record(mt_hist_t *h, int64_t value)
{
    return hist_record(h, value, 1);
}

bool mt_hist_record_n(mt_hist_t *h, int64_t value, uint64_t n)
{
    if (n == 0)
        return value >= 0 && value <= h->highest;
    return hist_record(h, value, n);
}

void mt_hist_record_clamped(mt_hist_t *h, int64_t value)
{
    value = value < 0 ? 0 : value;
    value = value > h->highest ? h->highest : value;
    (void)hist_record(h, value, 1);
}

/* ---- merging -------------------------------------------------------------------------------- */

static bool hist_same_layout(const mt_hist_t *a, const mt_hist_t *b)
{
    return a->unit_mag == b->unit_mag && a->sub_half_mag == b->sub_half_mag &&
           a->counts_len == b->counts_len;
}

uint64_t mt_hist_add(mt_hist_t *dst, const mt_hist_t *src)
{
    uint64_t dropped = 0;

    if (hist_same_layout(dst, src)) {
        /* Same index -> value mapping: every bucket carries over exactly. */
        for (int32_t i = 0; i < src->counts_len; i++)
            dst->counts[i] += src->counts[i];
        dst->total += src->total;
        dst->min_value = src->min_value < dst->min_value ? src->min_value : dst->min_value;
        dst->max_value = src->max_value > dst->max_value ? src->max_value : dst->max_value;
        return 0;
    }
    /* HdrHistogram's hdr_add: re-record each bucket's (lowest equivalent) value. */
    for (int32_t i = 0; i < src->counts_len; i++) {
        uint64_t c = src->counts[i];
        if (c != 0 && !hist_record(dst, hist_value_at_index(src, i), c))
            dropped += c;
    }
    return dropped;
}

/* ---- queries -------------------------------------------------------------------------------- */

uint64_t mt_hist_count(const mt_hist_t *h)
{
    return h->total;
}

int64_t mt_hist_min(const mt_hist_t *h)
{
    if (hist_count_at_index(h, 0) > 0 || h->min_value == INT64_MAX)
        return 0;
    return hist_lowest_equiv(h, h->min_value);
}

int64_t mt_hist_max(const mt_hist_t *h)
{
    return h->max_value == 0 ? 0 : hist_highest_equiv(h, h->max_value);
}

double mt_hist_mean(const mt_hist_t *h)
{
    if (h->total == 0)
        return 0.0;
    double sum = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] != 0)
            sum += (double)h->counts[i] * (double)hist_median_equiv(h, hist_value_at_index(h, i));
    }
    return sum / (double)h->total;
}

void mt_hist_bucketize(const mt_hist_t *h, const int64_t *bounds, size_t nbounds, uint64_t *counts)
{
    memset(counts, 0, (nbounds + 1) * sizeof *counts);
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] == 0)
            continue;
        int64_t v = hist_highest_equiv(h, hist_value_at_index(h, i));
        size_t b = 0;
        while (b < nbounds && v > bounds[b])
            b++;
        counts[b] += h->counts[i];
    }
}

double mt_hist_stddev(const mt_hist_t *h)
{
    if (h->total == 0)
        return 0.0;
    double mean = mt_hist_mean(h), acc = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] != 0) {
            double dev = (double)hist_median_equiv(h, hist_value_at_index(h, i)) - mean;
            acc += dev * dev * (double)h->counts[i];
        }
    }
    return sqrt(acc / (double)h->total);
}

int64_t mt_hist_value_at_percentile(const mt_hist_t *h, double p)
{
    if (h->total == 0)
        return 0;
    if (!(p > 0.0)) /* also NaN */
        p = 0.0;
    if (p > 100.0)
        p = 100.0;

    double want = (p / 100.0) * (double)h->total + 0.5;
    uint64_t count_at = want >= (double)h->total ? h->total : (uint64_t)want;
    if (count_at < 1)
        count_at = 1;

    uint64_t seen = 0;
    int32_t i;
    for (i = 0; i < h->counts_len - 1; i++) {
        seen += h->counts[i];
        if (seen >= count_at)
            break;
    }
    int64_t value = hist_value_at_index(h, i);
    return p == 0.0 ? hist_lowest_equiv(h, value) : hist_highest_equiv(h, value);
}

/* HdrHistogram's percentile iterator: report at percentile steps that halve the distance to
 * 100% every ticks_per_half_distance steps, then a final line at 100%. */
void mt_hist_foreach_percentile(const mt_hist_t *h, int ticks_per_half_distance,
                                mt_hist_percentile_cb cb, void *ud)
{
    const double ticks = ticks_per_half_distance > 0 ? (double)ticks_per_half_distance : 1.0;
    const int32_t last = h->counts_len - 1;
    double pct_to = 0.0;
    bool ticks_done = false;
    uint64_t cumulative;
    int32_t idx = 0;

    if (h->total == 0)
        return;
    cumulative = h->counts[0];
    while (!ticks_done) {
        /* advance to the first bucket that reaches the next reporting percentile */
        while (h->counts[idx] == 0 || pct_to > (100.0 * (double)cumulative) / (double)h->total) {
            if (cumulative >= h->total || idx >= last)
                goto final;
            cumulative += h->counts[++idx];
        }
        if (cb(pct_to, hist_highest_equiv(h, hist_value_at_index(h, idx)), cumulative, ud) != 0)
            return;
        if (cumulative >= h->total)
            break;
        /* log(x)/log(2), not log2(x), so the steps match HdrHistogram's output exactly */
        double half_distance = pow(2.0, floor(log(100.0 / (100.0 - pct_to)) / log(2.0)) + 1);
        double next = pct_to + 100.0 / (ticks * half_distance);
        /* > 2^53 counts can round the current percentile to 100: never loop in place */
        ticks_done = !(next > pct_to) || !(next < 100.0) || !isfinite(next);
        pct_to = next;
    }
final:
    while (cumulative < h->total && idx < last)
        cumulative += h->counts[++idx];
    (void)cb(100.0, hist_highest_equiv(h, hist_value_at_index(h, idx)), cumulative, ud);
}

/* ---- ZigZag LEB128 (HdrHistogram flavour: at most 9 bytes, the 9th carries 8 bits) -------- */

static size_t zz_put(uint8_t *out, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
    for (size_t i = 0; i < 8; i++) {
        if (u < 0x80) {
            out[i] = (uint8_t)u;
            return i + 1;
        }
        out[i] = (uint8_t)((u & 0x7f) | 0x80);
        u >>= 7;
    }
    out[8] = (uint8_t)u;
    return 9;
}

/* Returns bytes consumed, 0 when the varint runs past len. */
static size_t zz_get(const uint8_t *in, size_t len, int64_t *v)
{
    uint64_t u = 0;
    size_t n = 0;
    for (;;) {
        if (n >= len)
            return 0;
        uint8_t b = in[n];
        if (n == 8) {
            u |= (uint64_t)b << 56;
            n++;
            break;
        }
        u |= (uint64_t)(b & 0x7f) << (7 * n);
        n++;
        if (!(b & 0x80))
            break;
    }
    uint64_t s = (u >> 1) ^ (0 - (u & 1));
    /* two's complement reinterpretation without implementation-defined conversion */
    *v = s <= (uint64_t)INT64_MAX ? (int64_t)s : -(int64_t)(~s) - 1;
    return n;
}

/* ---- big-endian helpers -------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- base64 (RFC 4648, standard alphabet, padded) ------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* out must hold 4 * ((n + 2) / 3) + 1 bytes; returns the length written (NUL not counted). */
static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[w >> 18];
        out[o++] = b64_alphabet[(w >> 12) & 63];
        out[o++] = b64_alphabet[(w >> 6) & 63];
        out[o++] = b64_alphabet[w & 63];
    }
    if (i < n) {
        uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[w >> 18];
        out[o++] = b64_alphabet[(w >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(w >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict: length a multiple of 4, '=' only as 1 or 2 trailing pad characters.
 * out must hold len / 4 * 3 bytes. Returns 0 and *out_len, or MT_EFORMAT. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    size_t o = 0;
    if (len % 4 != 0)
        return MT_EFORMAT;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64_value(c)) < 0)
                return MT_EFORMAT;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return 0;
}

/* ---- encoding ------------------------------------------------------------------------------ */

/* Uncompressed V2 payload (header + varint counts). *out is malloc'd; caller frees. */
static int hist_encode_payload(const mt_hist_t *h, uint8_t **out, size_t *out_len)
{
    int32_t limit = 0;
    uint8_t *buf = NULL;
    size_t pos = HIST_V2_HEADER_LEN;
    int rc = 0;

    *out = NULL;
    /* Counts up to the largest non-empty bucket (HdrHistogram stops at max's index; an empty
     * histogram still carries one zero run). */
    for (int32_t i = h->counts_len - 1; i >= 0; i--) {
        if (h->counts[i] != 0) {
            limit = i + 1;
            break;
        }
    }
    if (limit == 0)
        limit = 1;
    if (!(buf = malloc(HIST_V2_HEADER_LEN + (size_t)limit * HIST_MAX_VARINT_LEN))) {
        rc = MT_ENOMEM;
        goto out;
    }
    for (int32_t i = 0; i < limit;) {
        uint64_t c = h->counts[i++];
        if (c == 0) {
            int64_t zeros = 1;
            while (i < limit && h->counts[i] == 0) {
                zeros++;
                i++;
            }
            pos += zz_put(buf + pos, -zeros);
        } else if (c > (uint64_t)INT64_MAX) {
            rc = MT_ERANGE; /* not representable on the wire */
            goto out;
        } else {
            pos += zz_put(buf + pos, (int64_t)c);
        }
    }
    put_be32(buf, HIST_V2_ENCODING_COOKIE | HIST_COOKIE_VARINT_WORD);
    put_be32(buf + 4, (uint32_t)(pos - HIST_V2_HEADER_LEN));
    put_be32(buf + 8, 0); /* normalizing index offset: mortar never shifts */
    put_be32(buf + 12, (uint32_t)h->sigfigs);
    put_be64(buf + 16, (uint64_t)h->lowest);
    put_be64(buf + 24, (uint64_t)h->highest);
    put_be64(buf + 32, UINT64_C(0x3ff0000000000000)); /* 1.0: integer histogram */
    *out = buf;
    *out_len = pos;
    buf = NULL;
out:
    free(buf);
    return rc;
}

int mt_hist_encode(const mt_hist_t *h, char **out, size_t *out_len)
{
    uint8_t *payload = NULL, *wire = NULL;
    size_t payload_len = 0;
    char *text = NULL;
    int rc;

    if (!h || !out || !out_len)
        return MT_EINVAL;
    *out = NULL;
    *out_len = 0;
    if ((rc = hist_encode_payload(h, &payload, &payload_len)) != 0)
        goto out;

    uLongf zlen = compressBound((uLong)payload_len);
    if (!(wire = malloc(HIST_COMPRESSED_HDR_LEN + (size_t)zlen))) {
        rc = MT_ENOMEM;
        goto out;
    }
    int zrc = compress(wire + HIST_COMPRESSED_HDR_LEN, &zlen, payload, (uLong)payload_len);
    if (zrc != Z_OK) {
        rc = zrc == Z_MEM_ERROR ? MT_ENOMEM : MT_EINVAL;
        goto out;
    }
    put_be32(wire, HIST_V2_COMPRESSED_COOKIE | HIST_COOKIE_VARINT_WORD);
    put_be32(wire + 4, (uint32_t)zlen);

    size_t wire_len = HIST_COMPRESSED_HDR_LEN + (size_t)zlen;
    if (!(text = malloc(4 * ((wire_len + 2) / 3) + 1))) {
        rc = MT_ENOMEM;
        goto out;
    }
    *out_len = b64_encode(wire, wire_len, text);
    *out = text;
    text = NULL;
out:
    free(payload);
    free(wire);
    free(text);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------------------ */

typedef struct hist_v2_header {
    hist_layout_t layout;
    size_t payload_len;
} hist_v2_header_t;

static int hist_parse_header(const uint8_t *p, hist_v2_header_t *hd)
{
    uint32_t cookie = get_be32(p);
    uint32_t payload_len = get_be32(p + 4);
    uint32_t normalizing_offset = get_be32(p + 8);
    uint32_t sigfigs = get_be32(p + 12);
    uint64_t lowest = get_be64(p + 16), highest = get_be64(p + 24);

    if ((cookie & ~HIST_COOKIE_WORD_MASK) != HIST_V2_ENCODING_COOKIE)
        return MT_EFORMAT;
    /* A non-zero offset only comes from Java's shiftValues*(); not supported. */
    if (payload_len > (uint32_t)INT32_MAX || normalizing_offset != 0)
        return MT_EFORMAT;
    if (sigfigs > 5 || lowest > (uint64_t)INT64_MAX || highest > (uint64_t)INT64_MAX)
        return MT_EFORMAT;
    if (hist_layout((int64_t)lowest, (int64_t)highest, (int)sigfigs, &hd->layout) != 0)
        return MT_EFORMAT;
    /* every varint is at most 9 bytes and accounts for at least one count (+ the header, which
     * older HdrHistogram_c counted in payload_len) */
    if ((size_t)payload_len >
            (size_t)hd->layout.counts_len * HIST_MAX_VARINT_LEN + HIST_V2_HEADER_LEN ||
        (size_t)payload_len > HIST_MAX_DECODED ||
        (size_t)hd->layout.counts_len * sizeof(uint64_t) > HIST_MAX_DECODED)
        return MT_EFORMAT;
    hd->payload_len = payload_len;
    return 0;
}

static int hist_from_counts(const hist_v2_header_t *hd, const uint8_t *p, size_t len,
                            mt_hist_t **out)
{
    mt_hist_t *h = hist_alloc(&hd->layout);
    size_t pos = 0;
    int32_t idx = 0, min_idx = -1, max_idx = -1;
    uint64_t total = 0;
    int rc = MT_EFORMAT;

    if (!h) {
        rc = MT_ENOMEM;
        goto out;
    }
    /* total, min and max as the counts go in (no second pass over every bucket) */
    while (pos < len) {
        int64_t v;
        size_t used = zz_get(p + pos, len - pos, &v);
        if (used == 0)
            goto out; /* truncated varint */
        pos += used;
        if (v < 0) {
            if (v < -(int64_t)(h->counts_len - idx))
                goto out; /* zero run past the end */
            idx += (int32_t)-v;
        } else {
            if (idx >= h->counts_len || total + (uint64_t)v < total)
                goto out; /* more counts than buckets, or total overflows */
            if (v > 0) {
                max_idx = idx;
                if (min_idx < 0 && idx != 0)
                    min_idx = idx;
            }
            h->counts[idx++] = (uint64_t)v;
            total += (uint64_t)v;
        }
    }
    h->total = total;
    h->max_value = max_idx < 0 ? 0 : hist_value_at_index(h, max_idx);
    h->min_value = min_idx < 0 ? INT64_MAX : hist_value_at_index(h, min_idx);
    *out = h;
    h = NULL;
    rc = 0;
out:
    free(h);
    return rc;
}

/* Inflates exactly want bytes; 0 or MT_EFORMAT. */
static int hist_inflate_exact(z_stream *zs, uint8_t *dst, size_t want)
{
    zs->next_out = dst;
    zs->avail_out = (uInt)want;
    while (zs->avail_out > 0) {
        int zrc = inflate(zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END)
            break;
        if (zrc != Z_OK)
            return MT_EFORMAT;
    }
    return zs->avail_out == 0 ? 0 : MT_EFORMAT;
}

/* Inflates to the end of the stream (checksum verified), at most max bytes; 0 or MT_EFORMAT. */
static int hist_inflate_rest(z_stream *zs, uint8_t *dst, size_t max, size_t *got)
{
    uint8_t spare;
    zs->next_out = dst;
    zs->avail_out = (uInt)max;
    for (;;) {
        if (zs->avail_out == 0) {
            /* full: only the end of the stream may follow, not another byte */
            zs->next_out = &spare;
            zs->avail_out = 1;
            int zrc = inflate(zs, Z_NO_FLUSH);
            if (zrc != Z_STREAM_END || zs->avail_out == 0)
                return MT_EFORMAT;
            break;
        }
        int zrc = inflate(zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END)
            break;
        if (zrc != Z_OK)
            return MT_EFORMAT;
    }
    *got = zs->next_out == &spare ? max : (size_t)(zs->next_out - dst);
    return 0;
}

/* One inflate state per thread, reset between histograms: inflateInit allocates (and zeroes)
 * ~40 KiB of state and window that the 22 decodes of every agent snapshot would otherwise
 * allocate and free each (docs/benchmarks.md row 8). Freed when the thread ends. */
static pthread_key_t hist_zs_key;
static pthread_once_t hist_zs_once = PTHREAD_ONCE_INIT;

static void hist_zs_free(void *p)
{
    (void)inflateEnd(p);
    free(p);
}

static void hist_zs_key_init(void)
{
    (void)pthread_key_create(&hist_zs_key, hist_zs_free);
}

static z_stream *hist_zs_get(void)
{
    pthread_once(&hist_zs_once, hist_zs_key_init);
    z_stream *zs = pthread_getspecific(hist_zs_key);
    if (zs)
        return inflateReset(zs) == Z_OK ? zs : NULL;
    if (!(zs = calloc(1, sizeof *zs)))
        return NULL;
    if (inflateInit(zs) != Z_OK) {
        free(zs);
        return NULL;
    }
    if (pthread_setspecific(hist_zs_key, zs) != 0) {
        hist_zs_free(zs);
        return NULL;
    }
    return zs;
}

static int hist_decode_compressed(const uint8_t *wire, size_t n, mt_hist_t **out)
{
    z_stream *zs;
    uint8_t header[HIST_V2_HEADER_LEN];
    uint8_t *payload = NULL;
    size_t got = 0;
    hist_v2_header_t hd;
    int rc = MT_EFORMAT;

    if (n < HIST_COMPRESSED_HDR_LEN || get_be32(wire + 4) != n - HIST_COMPRESSED_HDR_LEN)
        goto out;
    if (!(zs = hist_zs_get())) {
        rc = MT_ENOMEM;
        goto out;
    }
    zs->next_in = (Bytef *)(uintptr_t)(wire + HIST_COMPRESSED_HDR_LEN); /* zlib is not const */
    zs->avail_in = (uInt)(n - HIST_COMPRESSED_HDR_LEN);
    if ((rc = hist_inflate_exact(zs, header, sizeof(header))) != 0 ||
        (rc = hist_parse_header(header, &hd)) != 0)
        goto out;
    if (!(payload = malloc(hd.payload_len ? hd.payload_len : 1))) {
        rc = MT_ENOMEM;
        goto out;
    }
    /* Older HdrHistogram_c counted the header in payload_len, so the stream may carry less
     * than declared (as HdrHistogram_c's own decoder allows), never more; nothing may follow
     * the zlib stream inside the declared compressed length. */
    rc = MT_EFORMAT;
    if (hist_inflate_rest(zs, payload, hd.payload_len, &got) != 0 || zs->avail_in != 0)
        goto out;
    rc = hist_from_counts(&hd, payload, got, out);
out:
    free(payload);
    return rc;
}

static int hist_decode_plain(const uint8_t *buf, size_t n, mt_hist_t **out)
{
    hist_v2_header_t hd;
    int rc;

    if (n < HIST_V2_HEADER_LEN)
        return MT_EFORMAT;
    if ((rc = hist_parse_header(buf, &hd)) != 0)
        return rc;
    /* exact: without zlib's checksum, a shorter payload would hide truncation */
    if (hd.payload_len != n - HIST_V2_HEADER_LEN)
        return MT_EFORMAT;
    return hist_from_counts(&hd, buf + HIST_V2_HEADER_LEN, hd.payload_len, out);
}

static bool hist_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

int mt_hist_decode(const char *b64, size_t len, mt_hist_t **out)
{
    uint8_t *wire = NULL;
    size_t n = 0;
    int rc = MT_EFORMAT;

    if (!out || (!b64 && len))
        return MT_EINVAL;
    *out = NULL;
    /* tolerate the surroundings of a log line or a C string passed with its NUL */
    while (len > 0 && hist_is_space(b64[len - 1]))
        len--;
    while (len > 0 && hist_is_space(*b64)) {
        b64++;
        len--;
    }
    if (len < 8 || len / 4 * 3 > HIST_MAX_DECODED)
        goto out;
    if (!(wire = malloc(len / 4 * 3))) {
        rc = MT_ENOMEM;
        goto out;
    }
    if (b64_decode(b64, len, wire, &n) != 0 || n < 4)
        goto out;

    uint32_t base = get_be32(wire) & ~HIST_COOKIE_WORD_MASK;
    if (base == HIST_V2_COMPRESSED_COOKIE)
        rc = hist_decode_compressed(wire, n, out);
    else if (base == HIST_V2_ENCODING_COOKIE)
        rc = hist_decode_plain(wire, n, out);
out:
    free(wire);
    return rc;
}
