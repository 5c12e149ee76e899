/* Synthetic merged seconds (mt_second_t with per-tag statistics) for the verdict tests:
 * build a second, add responses, feed it. Include after <cmocka.h> and after defining
 * NTAGS (tags per second) and S (nanoseconds per second). */
#ifndef MT_TEST_SYNTH_SECONDS_H
#define MT_TEST_SYNTH_SECONDS_H

#include "mortar/engine.h"

typedef struct sec {
    mt_second_t s;
    mt_hist_t *lat, *svc;
    mt_tag_stats_t tags[NTAGS];
    mt_hist_t *tlat[NTAGS], *tsvc[NTAGS];
    uint32_t next;
} sec_t;

static void sec_init(sec_t *x)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(mt_hist_new_latency(&x->lat), MT_OK);
    assert_int_equal(mt_hist_new_latency(&x->svc), MT_OK);
    for (int i = 0; i < NTAGS; i++) {
        assert_int_equal(mt_hist_new_latency(&x->tlat[i]), MT_OK);
        assert_int_equal(mt_hist_new_latency(&x->tsvc[i]), MT_OK);
    }
}

static void sec_free(sec_t *x)
{
    mt_hist_free(x->lat);
    mt_hist_free(x->svc);
    for (int i = 0; i < NTAGS; i++) {
        mt_hist_free(x->tlat[i]);
        mt_hist_free(x->tsvc[i]);
    }
}

/* Starts the next second: counters zero, histograms empty. */
static mt_second_t *sec_next(sec_t *x)
{
    memset(&x->s, 0, sizeof x->s);
    mt_hist_reset(x->lat);
    mt_hist_reset(x->svc);
    for (int i = 0; i < NTAGS; i++) {
        memset(&x->tags[i], 0, sizeof x->tags[i]);
        mt_hist_reset(x->tlat[i]);
        mt_hist_reset(x->tsvc[i]);
        x->tags[i].latency = x->tlat[i];
        x->tags[i].service = x->tsvc[i];
    }
    x->s.index = x->next++;
    x->s.span_ns = S;
    x->s.latency = x->lat;
    x->s.service = x->svc;
    x->s.tags = x->tags;
    x->s.ntags = NTAGS;
    return &x->s;
}

/* n responses with this status and latency, for the tag (0 = untagged). */
static void resp(sec_t *x, int tag, unsigned status, int64_t lat_us, uint64_t n)
{
    mt_counters_t *cs[2] = {&x->s.c, &x->tags[tag].c};
    for (int i = 0; i < 2; i++) {
        cs[i]->completed += n;
        cs[i]->status[status < MT_STATUS_MAX ? status : 0] += n;
    }
    assert_true(mt_hist_record_n(x->lat, lat_us, n));
    assert_true(mt_hist_record_n(x->tlat[tag], lat_us, n));
    assert_true(mt_hist_record_n(x->svc, lat_us, n));
    assert_true(mt_hist_record_n(x->tsvc[tag], lat_us, n));
}

#endif
