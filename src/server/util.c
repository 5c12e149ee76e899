/* Small helpers of the server: UUIDv7 ids, RFC 3339 times, SHA-256 (store.h). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <zlib.h>
#include <openssl/rand.h>

#include "mortar/error.h"
#include "server/serve.h"
#include "server/store.h"

int64_t mt__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mt__rfc3339(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char b[96];
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    snprintf(out, 32, "%.31s", b);
}

/* UUIDv7 (RFC 9562): 48-bit Unix ms, then a 12-bit counter in rand_a so ids made in the same
 * millisecond by this process still sort in creation order (list order = id order). */
void mt__uuid7(char out[37])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int64_t last_ms;
    static unsigned seq;
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    }
    pthread_mutex_lock(&mu);
    int64_t ms = mt__now_ms();
    if (ms <= last_ms) {
        ms = last_ms;
        if (++seq > 0xfff) {
            ms++;
            seq = 0;
        }
    } else {
        seq = 0;
    }
    last_ms = ms;
    unsigned s = seq;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | ((s >> 8) & 0x0f));
    b[7] = (unsigned char)(s & 0xff);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void mt__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int mt__token_secret(char out[64])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[32];
    if (RAND_bytes(r, sizeof r) != 1)
        return MT_ESYS;
    size_t o = 0;
    out[o++] = 'm';
    out[o++] = 't';
    out[o++] = '_';
    /* 6 bits per character: 256 bits -> 43 characters */
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof r; i++) {
        acc = (acc << 8) | r[i];
        bits += 8;
        while (bits >= 6) {
            out[o++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0)
        out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return MT_OK;
}

int mt__gzip(const char *body, size_t len, char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return MT_ENOMEM;
    size_t cap = deflateBound(&z, (uLong)len);
    char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return MT_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return MT_EFORMAT;
    }
    *out = buf;
    return MT_OK;
}

int mt__flag_int(const char *cmd, const char *flag, const char *arg, long min, long max, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        fprintf(stderr, "mortar %s: %s: '%s' is not a whole number in [%ld, %ld]\n", cmd, flag, arg,
                min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}
