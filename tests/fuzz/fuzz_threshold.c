/* libFuzzer driver for the threshold parser and evaluator (source included for coverage).
 * Checks: errors carry a column inside the text and a printable message; a parsed threshold
 * parses again from its own text to the same threshold; evaluation on a synthetic run and the
 * abortOnFail watch never fail and produce printable messages. */
#include "../../src/stats/threshold.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

static const char *const fz_tags[] = {"", "api", "static"};

static bool same(const mt_threshold_t *a, const mt_threshold_t *b)
{
    return a->metric == b->metric && a->agg == b->agg && a->pct == b->pct && a->op == b->op &&
           a->value == b->value && strcmp(a->mask, b->mask) == 0 && strcmp(a->tag, b->tag) == 0 &&
           a->abort_on_fail == b->abort_on_fail && a->delay_abort_ns == b->delay_abort_ns &&
           strcmp(a->text, b->text) == 0;
}

/* Parse errors quote the input as printable ASCII. */
static void printable(const char *s)
{
    CHECK(s[0] != '\0');
    for (; *s; s++)
        CHECK((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
}

/* Result messages carry the threshold's text as written (UTF-8 tags, white space). */
static void message(const char *s)
{
    CHECK(s[0] != '\0' && strlen(s) < MT_VERDICT_MSG_MAX);
}

static void evaluate(const mt_threshold_t *t, const uint8_t *data, size_t size)
{
    static mt_hist_t *h;
    static mt_tag_stats_t tags[3];
    mt_run_result_t r;
    mt_threshold_result_t res;
    mt_threshold_watch_t *w = NULL;
    mt_parse_err_t err;
    mt_second_t s;
    size_t idx;
    uint8_t b = size ? data[0] : 0;
    int rc;

    if (!h) {
        if (mt_hist_new_latency(&h) != MT_OK)
            abort();
    }
    mt_hist_reset(h);
    mt_hist_record_n(h, (int64_t)b * 997, 3);
    mt_hist_record_n(h, 5, b);
    memset(&r, 0, sizeof r);
    memset(tags, 0, sizeof tags);
    r.c.completed = (uint64_t)b + 3;
    r.c.status[200] = b;
    r.c.status[404] = 3;
    r.c.errors = b % 5;
    r.c.err[MT_ERR_TIMEOUT] = r.c.errors;
    r.elapsed_ns = (int64_t)(b % 3) * 1000000000LL;
    r.latency = r.service = (b & 1) ? h : NULL;
    tags[1].c = r.c;
    tags[1].latency = tags[1].service = h;
    r.tags = (b & 2) ? tags : NULL;
    r.ntags = (b & 2) ? 3 : 0;

    rc = mt_threshold_eval_run(t, &r, fz_tags, 3, &res);
    CHECK(rc == MT_OK || rc == MT_EINVAL);
    message(res.message);
    CHECK(res.unit != NULL);
    CHECK(res.has_value || !res.pass);

    memset(&err, 0, sizeof err);
    rc = mt_threshold_watch_new(t, 1, fz_tags, 3, &w, &err);
    if (rc != MT_OK) {
        CHECK(rc == MT_EINVAL);
        return;
    }
    for (uint32_t i = 0; i < 3; i++) {
        memset(&s, 0, sizeof s);
        s.index = i;
        s.span_ns = 1000000000LL;
        s.c = r.c;
        s.latency = s.service = r.latency;
        s.tags = r.tags;
        s.ntags = r.ntags;
        rc = mt_threshold_watch_feed(w, &s, &idx, &res);
        CHECK(rc == 0 || rc == 1);
        if (rc == 1) {
            CHECK(idx == 0);
            CHECK(!res.pass && res.has_value);
            message(res.message);
        }
    }
    mt_threshold_watch_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_threshold_t t, again;
    mt_parse_err_t err;
    char *text;
    int rc;

    text = fuzz_cstr(data, size, 2048);
    if (!text)
        return 0;

    memset(&err, 0, sizeof err);
    rc = mt_threshold_parse(text, &t, &err);
    if (rc == MT_OK) {
        CHECK(t.text[0] != '\0' && strlen(t.text) < MT_VERDICT_TEXT_MAX);
        CHECK(t.pct >= 0 && t.pct <= 100);
        CHECK(t.delay_abort_ns >= 0);
        CHECK(t.abort_on_fail || t.delay_abort_ns == 0);
        CHECK((t.metric == MT_TM_STATUS) == (t.mask[0] != '\0'));
        CHECK(agg_allowed(t.metric, t.agg));
        memset(&err, 0, sizeof err);
        CHECK(mt_threshold_parse(t.text, &again, &err) == MT_OK);
        CHECK(same(&t, &again));
        evaluate(&t, data, size);
    } else {
        CHECK(rc == MT_EPARSE || rc == MT_ERANGE);
        CHECK(err.col >= 1 && (size_t)err.col <= strlen(text) + 1);
        printable(err.msg);
    }
    free(text);
    return 0;
}
