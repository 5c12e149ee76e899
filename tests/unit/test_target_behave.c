/* The target's behaviour parser (query parameters and defaults), the outcomes drawn from it,
 * response heads and chunked bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mortar/target.h"
#include "target/behave.h"

#define MS 1000000ll

static mt__tgt_behave_t parse_ok(const char *target)
{
    mt__tgt_behave_t b;
    char msg[MT__TGT_MSG_MAX];
    if (mt__tgt_behave_parse(target, strlen(target), &b, msg) != 0)
        fail_msg("'%s': %s", target, msg);
    assert_string_equal(msg, "");
    return b;
}

/* Parses a bad target; returns its message (static) after checking its shape. */
static const char *parse_bad(const char *target)
{
    static char msg[MT__TGT_MSG_MAX];
    mt__tgt_behave_t b;
    size_t n;
    if (mt__tgt_behave_parse(target, strlen(target), &b, msg) == 0)
        fail_msg("'%s' was accepted", target);
    n = strlen(msg);
    assert_true(n > 1 && n < MT__TGT_MSG_MAX);
    assert_int_equal(msg[n - 1], '\n');
    return msg;
}

static void test_defaults(void **state)
{
    mt__tgt_behave_t b = parse_ok("/");
    (void)state;
    assert_int_equal(b.status, 200);
    assert_int_equal(b.nmix, 1);
    assert_false(b.has_size);
    assert_false(b.chunked);
    assert_false(b.close);
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_FIXED);
    assert_int_equal(b.delay_ns, 0);
    assert_int_equal(b.reset, 0);
    assert_int_equal(b.malformed, 0);
    assert_int_equal(b.slow_bps, 0);
    b = parse_ok("/a/b?");
    assert_int_equal(b.status, 200);
    b = parse_ok("/?&&");
    assert_int_equal(b.status, 200);
    b = parse_ok("/?status=503#status=x"); /* the fragment is not the query */
    assert_int_equal(b.status, 503);
}

static void test_status(void **state)
{
    mt__tgt_behave_t b;
    (void)state;

    b = parse_ok("/?status=503");
    assert_int_equal(b.status, 503);
    assert_int_equal(b.nmix, 1);

    b = parse_ok("/?status=200:90,503:10");
    assert_int_equal(b.nmix, 2);
    assert_int_equal(b.status, 200);
    assert_int_equal(b.mix_status[0], 200);
    assert_int_equal(b.mix_status[1], 503);
    assert_int_equal(b.mix_cum[0], 90);
    assert_int_equal(b.mix_cum[1], 100);

    b = parse_ok("/?status=200,404,500"); /* no weight: 1 */
    assert_int_equal(b.nmix, 3);
    assert_int_equal(b.mix_cum[2], 3);

    b = parse_ok("/?status=200:0,599:1000000");
    assert_int_equal(b.nmix, 2);
    assert_int_equal(b.mix_cum[0], 0);
    assert_int_equal(b.mix_cum[1], 1000000);

    b = parse_ok("/?status=200:1,201:1,202:1,203:1,204:1,205:1,206:1,207:1,208:1,209:1,210:1,"
                 "211:1,212:1,213:1,214:1,215:1");
    assert_int_equal(b.nmix, 16);

    b = parse_ok("/?status=503&status=201"); /* the last one wins */
    assert_int_equal(b.status, 201);
}

static void test_status_bad(void **state)
{
    static const char *const bad[] = {
        "/?status=",       "/?status",         "/?status=99",        "/?status=600",
        "/?status=2000",   "/?status=20",      "/?status=abc",       "/?status=200:",
        "/?status=200:x",  "/?status=200,",    "/?status=,200",      "/?status=200,,503",
        "/?status=200:-1", "/?status=200;503", "/?status=200:90:10", "/?status=+200",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(strstr(parse_bad(bad[i]), "status: '"));
    assert_string_equal(parse_bad("/?status=99"),
                        "status: '99' is not a status code 200..599 or a mix like 200:90,503:10\n");
    assert_string_equal(parse_bad("/?status=200:0,503:0"),
                        "status: '200:0,503:0' has weights adding up to 0\n");
    assert_string_equal(parse_bad("/?status=200:1000001"),
                        "status: '200:1000001' has a weight above 1000000\n");
    assert_non_null(strstr(parse_bad("/?status=200,201,202,203,204,205,206,207,208,209,210,211,"
                                     "212,213,214,215,216"),
                           "has more than 16 entries"));
}

static void test_delay(void **state)
{
    mt__tgt_behave_t b;
    (void)state;

    b = parse_ok("/?delay=50ms");
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_FIXED);
    assert_int_equal(b.delay_ns, 50 * MS);

    b = parse_ok("/?delay=10ms..200ms");
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_UNIFORM);
    assert_int_equal(b.delay_ns, 10 * MS);
    assert_int_equal(b.delay_hi_ns, 200 * MS);

    b = parse_ok("/?delay=5ms..5ms"); /* an empty range is a fixed delay */
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_FIXED);
    assert_int_equal(b.delay_ns, 5 * MS);

    b = parse_ok("/?delay=0.5..1.5"); /* bare numbers are seconds, fractions allowed */
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_UNIFORM);
    assert_int_equal(b.delay_ns, 500 * MS);
    assert_int_equal(b.delay_hi_ns, 1500 * MS);

    b = parse_ok("/?delay=exp:50ms");
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_EXP);
    assert_int_equal(b.delay_ns, 50 * MS);

    b = parse_ok("/?delay=1h");
    assert_int_equal(b.delay_ns, MT_TARGET_MAX_DELAY_NS);
}

static void test_delay_bad(void **state)
{
    static const char *const syntax[] = {
        "/?delay=",          "/?delay=5parsecs", "/?delay=..",          "/?delay=10ms..",
        "/?delay=..10ms",    "/?delay=exp:",     "/?delay=exp:x",       "/?delay=exp",
        "/?delay=1ms..2..3", "/?delay=-1s",      "/?delay=uniform:1ms", "/?delay=1ms...2ms",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
        const char *m = parse_bad(syntax[i]);
        if (!strstr(m, "delay: '") || (!strstr(m, "is not a duration") && !strstr(m, "more than")))
            fail_msg("'%s': %s", syntax[i], m);
    }
    assert_string_equal(parse_bad("/?delay=5parsecs"),
                        "delay: '5parsecs' is not a duration (like 50ms), range (10ms..200ms) or "
                        "exp:MEAN\n");
    assert_string_equal(parse_bad("/?delay=2h"), "delay: '2h' is more than 1h\n");
    assert_string_equal(parse_bad("/?delay=1ms..2h"), "delay: '1ms..2h' is more than 1h\n");
    assert_string_equal(parse_bad("/?delay=exp:61m"), "delay: 'exp:61m' is more than 1h\n");
    assert_string_equal(parse_bad("/?delay=200ms..10ms"),
                        "delay: '200ms..10ms' has its low end above its high end\n");
}

static void test_flags_and_faults(void **state)
{
    mt__tgt_behave_t b;
    (void)state;

    b = parse_ok("/?chunked=1&close=1&size=10k&slow=2k");
    assert_true(b.chunked);
    assert_true(b.close);
    assert_true(b.has_size);
    assert_int_equal(b.size, 10240);
    assert_int_equal(b.slow_bps, 2048);
    b = parse_ok("/?chunked=1&chunked=0&close=0&slow=0");
    assert_false(b.chunked);
    assert_false(b.close);
    assert_int_equal(b.slow_bps, 0);

    b = parse_ok("/?reset=0&malformed=100");
    assert_int_equal(b.reset, 0);
    assert_int_equal(b.malformed, MT__TGT_PCT_ONE);
    b = parse_ok("/?reset=0.5&malformed=99.999999");
    assert_int_equal(b.reset, 500000);
    assert_int_equal(b.malformed, MT__TGT_PCT_ONE - 1);
    b = parse_ok("/?reset=007&malformed=100.000000");
    assert_int_equal(b.reset, 7000000);
    assert_int_equal(b.malformed, MT__TGT_PCT_ONE);

    assert_string_equal(parse_bad("/?chunked=yes"), "chunked: 'yes' is not 0 or 1\n");
    assert_string_equal(parse_bad("/?close"), "close: '' is not 0 or 1\n");
    assert_string_equal(parse_bad("/?chunked=2"), "chunked: '2' is not 0 or 1\n");
    static const char *const pct[] = {"/?reset=",     "/?reset=101",    "/?reset=100.1",
                                      "/?reset=.5",   "/?reset=5.",     "/?reset=0.0000001",
                                      "/?reset=-1",   "/?reset=1e3",    "/?reset=50%",
                                      "/?reset=1000", "/?malformed=1,5"};
    for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
        assert_non_null(strstr(parse_bad(pct[i]), "is not a percentage 0..100 (like 5 or 0.1)"));
    assert_string_equal(parse_bad("/?reset=101"),
                        "reset: '101' is not a percentage 0..100 (like 5 or 0.1)\n");
    assert_string_equal(parse_bad("/?malformed=x"),
                        "malformed: 'x' is not a percentage 0..100 (like 5 or 0.1)\n");
    assert_string_equal(parse_bad("/?slow=fast"),
                        "slow: 'fast' is not a byte rate per second (like 1000, 10k, 1m)\n");
    assert_string_equal(parse_bad("/?slow=2g"), "slow: '2g' is more than 1g (bytes per second)\n");
    assert_string_equal(parse_bad("/?size=lots"),
                        "size: 'lots' is not a byte count (like 100, 10k, 2m)\n");
}

static void test_unknown_and_long(void **state)
{
    char target[2048];
    const char *m;
    (void)state;

    assert_string_equal(parse_bad("/?sise=10"),
                        "unknown query parameter: 'sise' (known: status, size, delay, chunked, "
                        "close, reset, slow, malformed)\n");
    assert_non_null(strstr(parse_bad("/?=5"), "unknown query parameter: ''"));
    assert_non_null(strstr(parse_bad("/?status=200&bogus"), "'bogus'"));

    /* long names and values are shortened, the message stays within bounds */
    memcpy(target, "/?status=", 9);
    memset(target + 9, '2', 1500);
    target[1509] = 0;
    m = parse_bad(target);
    assert_non_null(strstr(m, "'..."));
    target[1] = '?';
    memset(target + 2, 'k', 1500);
    target[1502] = 0;
    m = parse_bad(target);
    assert_true(strlen(m) < MT__TGT_MSG_MAX);
}

static void test_over_defaults(void **state)
{
    mt__tgt_behave_t d, b;
    char msg[MT__TGT_MSG_MAX];
    static const char flags[] = "status=200:90,503:10&delay=exp:20ms&chunked=1&reset=1";
    (void)state;

    mt__tgt_behave_init(&d);
    assert_int_equal(mt__tgt_behave_apply(flags, strlen(flags), &d, msg), 0);
    assert_int_equal(d.nmix, 2);
    assert_int_equal(d.delay_kind, MT__TGT_DELAY_EXP);
    assert_true(d.chunked);
    assert_int_equal(d.reset, 1000000);

    /* no query: the defaults as they are */
    assert_int_equal(mt__tgt_behave_parse_over(&d, "/x", 2, &b, msg), 0);
    assert_memory_equal(&b, &d, sizeof(b));
    /* a query overrides only what it names */
    assert_int_equal(mt__tgt_behave_parse_over(&d, "/?status=204&chunked=0", 22, &b, msg), 0);
    assert_int_equal(b.nmix, 1);
    assert_int_equal(b.status, 204);
    assert_false(b.chunked);
    assert_int_equal(b.delay_kind, MT__TGT_DELAY_EXP);
    assert_int_equal(b.reset, 1000000);

    /* the public check names the parameter, without the newline */
    assert_int_equal(mt_target_check_behaviour("status=503&delay=1ms..2ms", NULL, 0), MT_OK);
    assert_int_equal(mt_target_check_behaviour("", NULL, 0), MT_OK);
    assert_int_equal(mt_target_check_behaviour("delay=1parsec", msg, sizeof(msg)), MT_EINVAL);
    assert_string_equal(msg, "delay: '1parsec' is not a duration (like 50ms), range (10ms..200ms) "
                             "or exp:MEAN");
}

static void test_rand(void **state)
{
    uint64_t a = mt__tgt_rand_seed(1, 0), b = mt__tgt_rand_seed(1, 0);
    uint64_t c = mt__tgt_rand_seed(1, 1), d = mt__tgt_rand_seed(2, 0);
    (void)state;
    assert_true(a == b);
    assert_true(a != c && a != d && c != d);
    for (int i = 0; i < 100; i++)
        assert_true(mt__tgt_rand(&a) == mt__tgt_rand(&b));
}

static void test_pick_mix(void **state)
{
    mt__tgt_behave_t b = parse_ok("/?status=200:90,503:10,404:0");
    uint64_t rng = mt__tgt_rand_seed(1, 0), rng2 = mt__tgt_rand_seed(1, 0);
    unsigned n200 = 0, n503 = 0;
    mt__tgt_pick_t p, q;
    (void)state;

    for (int i = 0; i < 100000; i++) {
        mt__tgt_pick(&b, &rng, &p);
        mt__tgt_pick(&b, &rng2, &q);
        assert_int_equal(p.status, q.status); /* reproducible */
        assert_int_equal(p.action, MT__TGT_RESPOND);
        assert_int_equal(p.delay_ns, 0);
        if (p.status == 200)
            n200++;
        else if (p.status == 503)
            n503++;
        else
            fail_msg("status %u has weight 0", p.status);
    }
    /* 10 % of 100000 = 10000, sigma ~95 */
    assert_in_range(n503, 9500, 10500);
    assert_int_equal(n200 + n503, 100000);

    /* nothing random: nothing drawn */
    b = parse_ok("/?status=503&delay=5ms&reset=0&malformed=100");
    rng = rng2 = 42;
    mt__tgt_pick(&b, &rng, &p);
    assert_true(rng == rng2);
    assert_int_equal(p.status, 503);
    assert_int_equal(p.delay_ns, 5 * MS);
    assert_int_equal(p.action, MT__TGT_MALFORMED);
    b = parse_ok("/?reset=100&malformed=100");
    mt__tgt_pick(&b, &rng, &p);
    assert_int_equal(p.action, MT__TGT_RESET); /* reset first */
}

static void test_pick_delay(void **state)
{
    mt__tgt_behave_t b = parse_ok("/?delay=10ms..20ms");
    uint64_t rng = mt__tgt_rand_seed(7, 3);
    mt__tgt_pick_t p;
    double sum = 0;
    int64_t lo = INT64_MAX, hi = 0;
    (void)state;

    for (int i = 0; i < 100000; i++) {
        mt__tgt_pick(&b, &rng, &p);
        assert_in_range(p.delay_ns, 10 * MS, 20 * MS);
        lo = p.delay_ns < lo ? p.delay_ns : lo;
        hi = p.delay_ns > hi ? p.delay_ns : hi;
        sum += (double)p.delay_ns;
    }
    assert_true(lo < 10 * MS + MS / 10 && hi > 20 * MS - MS / 10);
    assert_true(sum / 100000 > 14.9 * MS && sum / 100000 < 15.1 * MS);

    b = parse_ok("/?delay=exp:50ms");
    sum = 0;
    for (int i = 0; i < 100000; i++) {
        mt__tgt_pick(&b, &rng, &p);
        assert_in_range(p.delay_ns, 0, MT_TARGET_MAX_DELAY_NS);
        sum += (double)p.delay_ns;
    }
    /* mean 50 ms, standard error 50 ms / sqrt(1e5) ~ 0.16 ms */
    assert_true(sum / 100000 > 49 * MS && sum / 100000 < 51 * MS);

    /* a mean of an hour is capped at an hour */
    b = parse_ok("/?delay=exp:1h");
    for (int i = 0; i < 10000; i++) {
        mt__tgt_pick(&b, &rng, &p);
        assert_in_range(p.delay_ns, 0, MT_TARGET_MAX_DELAY_NS);
    }
    b = parse_ok("/?delay=exp:0s");
    mt__tgt_pick(&b, &rng, &p);
    assert_int_equal(p.delay_ns, 0);
}

static void test_pick_faults(void **state)
{
    mt__tgt_behave_t b = parse_ok("/?reset=30&malformed=50");
    uint64_t rng = mt__tgt_rand_seed(1, 0);
    unsigned resets = 0, mal = 0;
    mt__tgt_pick_t p;
    (void)state;

    for (int i = 0; i < 100000; i++) {
        mt__tgt_pick(&b, &rng, &p);
        resets += p.action == MT__TGT_RESET;
        mal += p.action == MT__TGT_MALFORMED;
    }
    assert_in_range(resets, 29000, 31000);
    assert_in_range(mal, 34000, 36000); /* 50 % of the 70 % not reset */

    b = parse_ok("/?reset=0.001");
    resets = 0;
    for (int i = 0; i < 1000000; i++) {
        mt__tgt_pick(&b, &rng, &p);
        resets += p.action == MT__TGT_RESET;
    }
    assert_in_range(resets, 1, 30); /* expected 10 */
}

static void test_heads(void **state)
{
    char h[MT__TGT_HEAD_MAX];
    size_t n;
    (void)state;

    n = mt__tgt_format_head(h, 200, 0, MT__TGT_CONN_NONE | MT__TGT_HEAD_CHUNKED);
    assert_int_equal(n, strlen("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"));
    assert_memory_equal(h,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n",
                        n);
    n = mt__tgt_format_head(h, 204, 0, MT__TGT_CONN_CLOSE | MT__TGT_HEAD_CHUNKED);
    h[n] = 0;
    assert_string_equal(h, "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n"
                           "Connection: close\r\n\r\n");
    n = mt__tgt_format_head(h, 200, 12, MT__TGT_CONN_KEEP_ALIVE | MT__TGT_HEAD_JSON);
    h[n] = 0;
    assert_string_equal(h, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: 12\r\nConnection: keep-alive\r\n\r\n");
    /* the longest head fits */
    n = mt__tgt_format_head(h, 431, MT_TARGET_MAX_BODY * 10, MT__TGT_CONN_KEEP_ALIVE | 0x30);
    assert_true(n <= MT__TGT_HEAD_MAX);
}

/* The chunked body as plain bytes, the obvious way. */
static size_t chunked_ref(char *out, uint64_t body)
{
    size_t n = 0;
    while (body > 0) {
        uint64_t c = body < MT__TGT_CHUNK ? body : MT__TGT_CHUNK;
        n += (size_t)sprintf(out + n, "%llx\r\n", (unsigned long long)c);
        memset(out + n, 'x', c);
        n += c;
        memcpy(out + n, "\r\n", 2);
        n += 2;
        body -= c;
    }
    memcpy(out + n, "0\r\n\r\n", 5);
    return n + 5;
}

/* Reassembles the wire bytes from iovecs taken `step` bytes (at most) and `max` iovecs at a
 * time. */
static size_t chunked_gather(char *out, uint64_t body, const char *filler, uint64_t step,
                             size_t max)
{
    char tail[8];
    uint64_t off = 0, len = mt__tgt_chunked_len(body);
    mt__tgt_chunked_tail(tail, body);
    while (off < len) {
        struct iovec iov[8];
        uint64_t bytes = 0, sum = 0;
        size_t n = mt__tgt_chunked_iov(body, tail, off, filler, iov, max, step, &bytes);
        assert_true(n > 0 && n <= max);
        for (size_t i = 0; i < n; i++) {
            assert_true(iov[i].iov_len > 0);
            memcpy(out + off + sum, iov[i].iov_base, iov[i].iov_len);
            sum += iov[i].iov_len;
        }
        assert_true(sum == bytes && sum <= step);
        off += sum;
    }
    /* nothing past the end */
    {
        struct iovec iov[1];
        uint64_t bytes = 0;
        assert_int_equal(mt__tgt_chunked_iov(body, tail, len, filler, iov, 1, 100, &bytes), 0);
    }
    return (size_t)off;
}

static void test_chunked(void **state)
{
    static const uint64_t sizes[] = {0, 1, 3, 15, 16, 255, 256, 16383, 16384, 16385, 32768, 50000};
    char *filler = malloc(MT__TGT_CHUNK);
    char *ref = malloc(70000), *got = malloc(70000);
    char tail[8];
    (void)state;

    memset(filler, 'x', MT__TGT_CHUNK);
    assert_int_equal(mt__tgt_chunked_tail(tail, 16384), 0);
    assert_int_equal(mt__tgt_chunked_tail(tail, 16383), 6);
    assert_memory_equal(tail, "3fff\r\n", 6);
    assert_int_equal(mt__tgt_chunked_tail(tail, 20000), 5);
    assert_memory_equal(tail, "e20\r\n", 5);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t rn = chunked_ref(ref, sizes[i]);
        static const uint64_t steps[] = {UINT64_MAX, 1, 2, 5, 7, 4096, 16389};
        assert_int_equal(mt__tgt_chunked_len(sizes[i]), rn);
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            if (steps[s] < 16 && sizes[i] > 16385)
                continue; /* byte by byte through 50 KB is slow and proves nothing new */
            for (size_t max = 1; max <= 8; max += 7) {
                memset(got, 0, rn);
                assert_int_equal(chunked_gather(got, sizes[i], filler, steps[s], max), rn);
                assert_memory_equal(got, ref, rn);
            }
        }
    }
    free(filler);
    free(ref);
    free(got);
}

static void test_parse_size(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(mt_target_parse_size("10k", 3, &v), MT_OK);
    assert_int_equal(v, 10240);
    assert_int_equal(mt_target_parse_size("1g", 2, &v), MT_OK);
    assert_int_equal(mt_target_parse_size("2g", 2, &v), MT_ERANGE);
    assert_int_equal(mt_target_parse_size("k", 1, &v), MT_EPARSE);
    assert_int_equal(mt_target_parse_size("", 0, &v), MT_EPARSE);
}

/* The HTTP/2 preface, fed a byte at a time, and what is not it. */
static void test_h2_sniff(void **state)
{
    static const char pre[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00";
    (void)state;
    assert_int_equal(MT__TGT_H2_PREFACE_LEN, 24);
    for (size_t n = 0; n < MT__TGT_H2_PREFACE_LEN; n++)
        assert_int_equal(mt__tgt_h2_sniff(pre, n), 0);
    assert_int_equal(mt__tgt_h2_sniff(pre, 24), 1);
    assert_int_equal(mt__tgt_h2_sniff(pre, 26), 1);
    assert_int_equal(mt__tgt_h2_sniff("GET / HTTP/1.1\r\n", 16), -1);
    assert_int_equal(mt__tgt_h2_sniff("PRI * HTTP/1.1\r\n", 16), -1);
    assert_int_equal(mt__tgt_h2_sniff("PUT", 3), -1);
    assert_int_equal(mt__tgt_h2_sniff("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r", 24), -1);
}

/* Lenient (the default for requests): unknown parameters are skipped and counted, known ones
 * still apply, a bad value of a known one still fails; strict fails on the first unknown. */
static void test_resolve_policy(void **state)
{
    mt__tgt_behave_t b;
    char msg[MT__TGT_MSG_MAX];
    uint32_t unknown = 0;
    static const char t1[] = "/buy/?rt=0&station_to=7&status=503&&=x&flag#frag=1";
    static const char t2[] = "/?drg&delay=soon";

    (void)state;
    assert_int_equal(mt__tgt_behave_resolve(NULL, t1, strlen(t1), false, &b, &unknown, msg), 0);
    assert_string_equal(msg, "");
    assert_int_equal(b.status, 503);
    assert_int_equal(unknown, 4); /* rt, station_to, "" (=x), flag; the fragment is not query */
    unknown = 0;
    assert_int_equal(mt__tgt_behave_resolve(NULL, t2, strlen(t2), false, &b, &unknown, msg), -1);
    assert_non_null(strstr(msg, "delay: 'soon'"));
    assert_int_equal(unknown, 1);
    unknown = 0;
    assert_int_equal(mt__tgt_behave_resolve(NULL, t1, strlen(t1), true, &b, &unknown, msg), -1);
    assert_string_equal(msg, "unknown query parameter: 'rt' (known: status, size, delay, chunked, "
                             "close, reset, slow, malformed)\n");
    assert_int_equal(unknown, 0);
    /* NULL counter is fine; no query at all counts nothing */
    assert_int_equal(mt__tgt_behave_resolve(NULL, t1, strlen(t1), false, &b, NULL, msg), 0);
    assert_int_equal(mt__tgt_behave_resolve(NULL, "/x", 2, false, &b, &unknown, msg), 0);
    assert_int_equal(unknown, 0);
}

static void test_parse_listen(void **state)
{
    char host[64], err[256];
    uint16_t port = 1;

    (void)state;
    assert_int_equal(
        mt_target_parse_listen("127.0.0.1:0", host, sizeof(host), &port, err, sizeof(err)), MT_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 0);
    assert_int_equal(
        mt_target_parse_listen("[::1]:8080", host, sizeof(host), &port, err, sizeof(err)), MT_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(
        mt_target_parse_listen("localhost:65535", host, sizeof(host), &port, err, sizeof(err)),
        MT_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 65535);
    assert_int_equal(
        mt_target_parse_listen("127.0.0.1:x", host, sizeof(host), &port, err, sizeof(err)),
        MT_EINVAL);
    assert_string_equal(err, "bad port 'x'");
    assert_int_equal(mt_target_parse_listen("::1:80", host, sizeof(host), &port, err, sizeof(err)),
                     MT_EINVAL);
    assert_string_equal(err, "IPv6 addresses go in brackets: '::1:80'");
    assert_int_equal(mt_target_parse_listen("[::1]80", host, sizeof(host), &port, err, sizeof(err)),
                     MT_EINVAL);
    assert_int_equal(mt_target_parse_listen("80", host, sizeof(host), &port, err, sizeof(err)),
                     MT_EINVAL);
    assert_string_equal(err, "expected ADDR:PORT, got '80'");
    assert_int_equal(
        mt_target_parse_listen("example.com:80", host, sizeof(host), &port, err, sizeof(err)),
        MT_EINVAL);
    assert_int_equal(
        mt_target_parse_listen("127.0.0.1:65536", host, sizeof(host), &port, err, sizeof(err)),
        MT_EINVAL);
    assert_int_equal(
        mt_target_parse_listen("127.0.0.1:-1", host, sizeof(host), &port, err, sizeof(err)),
        MT_EINVAL);
    /* brackets are for IPv6 only */
    assert_int_equal(
        mt_target_parse_listen("[127.0.0.1]:80", host, sizeof(host), &port, err, sizeof(err)),
        MT_EINVAL);
    assert_string_equal(err, "'127.0.0.1' in brackets is not an IPv6 address");
    assert_int_equal(
        mt_target_parse_listen("[localhost]:80", host, sizeof(host), &port, err, sizeof(err)),
        MT_EINVAL);
    /* a host longer than the buffer is refused, not cut */
    assert_int_equal(mt_target_parse_listen("127.0.0.1:80", host, 5, &port, err, sizeof(err)),
                     MT_EINVAL);
    /* no error buffer is fine */
    assert_int_equal(mt_target_parse_listen(":80", host, sizeof(host), &port, NULL, 0), MT_EINVAL);
}

static void test_parse_stall(void **state)
{
    mt_target_stall_t s = {-1, -1};
    char err[256];

    (void)state;
    assert_int_equal(mt_target_parse_stall("3s:1s", &s, err, sizeof(err)), MT_OK);
    assert_int_equal(s.start_ns, 3000 * MS);
    assert_int_equal(s.len_ns, 1000 * MS);
    assert_int_equal(mt_target_parse_stall("0:250ms", &s, err, sizeof(err)), MT_OK);
    assert_int_equal(s.start_ns, 0);
    assert_int_equal(s.len_ns, 250 * MS);
    assert_int_equal(mt_target_parse_stall("3s", &s, err, sizeof(err)), MT_EINVAL);
    assert_string_equal(err, "expected START:LEN (like 3s:1s), got '3s'");
    assert_int_equal(mt_target_parse_stall("1s:0", &s, err, sizeof(err)), MT_EINVAL);
    assert_string_equal(err, "LEN must be more than 0 in '1s:0'");
    assert_int_equal(mt_target_parse_stall(":1s", &s, err, sizeof(err)), MT_EINVAL);
    assert_int_equal(mt_target_parse_stall("1s:", &s, err, sizeof(err)), MT_EINVAL);
    assert_int_equal(mt_target_parse_stall("x:1s", &s, err, sizeof(err)), MT_EINVAL);
    assert_non_null(strstr(err, "START"));
    assert_int_equal(mt_target_parse_stall("1s:x", &s, err, sizeof(err)), MT_EINVAL);
    assert_non_null(strstr(err, "LEN"));
    /* a failed parse leaves the output alone */
    assert_int_equal(s.start_ns, 0);
    assert_int_equal(s.len_ns, 250 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_status_bad),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_delay_bad),
        cmocka_unit_test(test_flags_and_faults),
        cmocka_unit_test(test_unknown_and_long),
        cmocka_unit_test(test_over_defaults),
        cmocka_unit_test(test_rand),
        cmocka_unit_test(test_pick_mix),
        cmocka_unit_test(test_pick_delay),
        cmocka_unit_test(test_pick_faults),
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_h2_sniff),
        cmocka_unit_test(test_resolve_policy),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_parse_stall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
