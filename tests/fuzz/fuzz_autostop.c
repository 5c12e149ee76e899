/* libFuzzer driver for the autostop parser and evaluator. The source is included, not linked
 * from mortar_core, so that libFuzzer's coverage instrumentation sees it. Checks: errors carry
 * a column inside the text and a printable message; every parsed criterion parses again from
 * its own text to the same criterion; evaluation on a few synthetic seconds never fails. */
#include "../../src/stats/autostop.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

#define CAP 8

static const char *const fz_tags[] = {"", "api", "static"};

static bool same(const mt_autostop_crit_t *a, const mt_autostop_crit_t *b)
{
    return a->kind == b->kind && a->rt_us == b->rt_us && a->quantile == b->quantile &&
           a->limit_ns == b->limit_ns && strcmp(a->mask, b->mask) == 0 &&
           a->relative == b->relative && a->level == b->level && a->window_s == b->window_s &&
           strcmp(a->tag, b->tag) == 0 && strcmp(a->text, b->text) == 0;
}

static void check_err(int rc, const mt_parse_err_t *err, size_t len)
{
    CHECK(rc == MT_EPARSE || rc == MT_ERANGE || rc == MT_ETOOBIG);
    CHECK(err->col >= 1 && (size_t)err->col <= len + 1);
    CHECK(err->msg[0] != '\0');
    for (const char *p = err->msg; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
}

static void check_crit(const mt_autostop_crit_t *c)
{
    mt_autostop_crit_t again;
    mt_parse_err_t err;

    CHECK(c->text[0] != '\0' && strlen(c->text) < MT_VERDICT_TEXT_MAX);
    CHECK(c->kind == MT_AUTOSTOP_LIMIT ? c->limit_ns > 0 : c->window_s >= 1);
    CHECK(!c->relative || c->level <= 1000000);
    CHECK(c->rt_us >= 0);
    CHECK(c->kind != MT_AUTOSTOP_QUANTILE || (c->quantile > 0 && c->quantile <= 100));
    for (const char *p = c->mask; *p; p++)
        CHECK((*p >= '0' && *p <= '9') || *p == 'x');
    memset(&err, 0, sizeof err);
    CHECK(mt_autostop_parse(c->text, &again, &err) == MT_OK);
    CHECK(same(c, &again));
}

/* A few seconds whose contents come from the input bytes. */
static void feed(const mt_autostop_crit_t *c, size_t n, const uint8_t *data, size_t size)
{
    static mt_hist_t *lat[3];
    mt_autostop_t *a = NULL;
    mt_parse_err_t err;
    mt_tag_stats_t tags[3];
    mt_second_t s;
    mt_autostop_trip_t trip;

    if (!lat[0]) {
        for (int i = 0; i < 3; i++)
            if (mt_hist_new_latency(&lat[i]) != MT_OK)
                abort();
    }
    memset(&err, 0, sizeof err);
    int rc = mt_autostop_new(c, n, fz_tags, 3, &a, &err);
    if (rc != MT_OK) {
        CHECK(rc == MT_EINVAL); /* an unknown tag */
        CHECK(err.msg[0] != '\0');
        return;
    }
    for (uint32_t sec = 0; sec < 6; sec++) {
        uint8_t b = size ? data[sec % size] : 0;
        memset(&s, 0, sizeof s);
        memset(tags, 0, sizeof tags);
        for (int i = 0; i < 3; i++) {
            mt_hist_reset(lat[i]);
            tags[i].latency = lat[i];
            tags[i].service = lat[i];
        }
        s.index = sec;
        s.span_ns = (b & 1) ? 1000000000LL : 250000000LL;
        s.c.completed = b % 50;
        s.c.status[200] = s.c.completed / 2;
        s.c.status[503] = s.c.completed - s.c.status[200];
        s.c.errors = b % 7;
        s.c.err[b % MT_ERR__COUNT] = s.c.errors;
        tags[1].c = s.c;
        mt_hist_record_n(lat[0], (int64_t)b * 1000, s.c.completed);
        mt_hist_record_n(lat[1], (int64_t)b * 1000, s.c.completed);
        s.latency = s.service = lat[0];
        s.tags = (b & 2) ? tags : NULL;
        s.ntags = (b & 2) ? 3 : 0;
        s.open_conns = b;
        rc = mt_autostop_feed(a, &s, b & 4 ? 100 : 0, &trip);
        CHECK(rc == 0 || rc == 1);
        if (rc == 1) {
            CHECK(trip.exit_code >= 21 && trip.exit_code <= 30);
            CHECK(trip.index < n);
            CHECK(trip.message[0] != '\0');
        }
    }
    mt_autostop_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_autostop_crit_t c[CAP], one;
    mt_parse_err_t err;
    size_t n = 0;
    char *text;
    int rc;

    text = fuzz_cstr(data, size, 2048);
    if (!text)
        return 0;

    memset(&err, 0, sizeof err);
    rc = mt_autostop_parse(text, &one, &err);
    if (rc == MT_OK)
        check_crit(&one);
    else
        check_err(rc, &err, strlen(text));

    memset(&err, 0, sizeof err);
    rc = mt_autostop_parse_list(text, c, CAP, &n, &err);
    if (rc == MT_OK) {
        CHECK(n <= CAP);
        for (size_t i = 0; i < n; i++)
            check_crit(&c[i]);
        feed(c, n, data, size);
    } else {
        check_err(rc, &err, strlen(text));
    }
    free(text);
    return 0;
}
