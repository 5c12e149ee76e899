/* Shared by the import drivers (fuzz_import_*.c): the input fed whole and split at a point
 * the first two bytes choose must give the same counts; each second's latency histogram holds
 * its responses (records with an error are counted, not timed); strict mode stops at the first
 * malformed record with a message; every message is printable ASCII. */
#ifndef MT_FUZZ_IMPORT_H
#define MT_FUZZ_IMPORT_H

#include "../../src/proto/import.c"

#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"

static int fuzz_imp_second(const mt_second_t *s, const char *const *tags, size_t ntags, void *ud)
{
    uint64_t *sent = ud;
    CHECK(s->ntags == ntags);
    CHECK(ntags == 0 || tags[0][0] == '\0');
    CHECK(mt_hist_count(s->latency) == s->c.completed); /* responses are timed, errors not */
    CHECK(s->c.completed + s->c.errors == s->c.sent);
    *sent += s->c.sent;
    return 0;
}

static void fuzz_imp_run(mt_imp_format_t fmt, const uint8_t *d, size_t n, size_t split, bool strict,
                         mt_imp_stats_t *st, uint64_t *sent, int *rc)
{
    mt_imp_opts_t o = {.format = fmt, .strict = strict, .window_s = 2, .name = "fuzz"};
    mt_imp_t *p = NULL;
    *sent = 0;
    CHECK(mt_imp_new(&o, fuzz_imp_second, sent, &p) == MT_OK);
    *rc = mt_imp_feed(p, (const char *)d, split);
    if (*rc == MT_OK)
        *rc = mt_imp_feed(p, (const char *)d + split, n - split);
    if (*rc == MT_OK)
        *rc = mt_imp_finish(p);
    *st = *mt_imp_stats(p);
    if (*rc != MT_OK) {
        CHECK(*rc == MT_EPARSE);
        CHECK(mt_imp_error(p)[0] != '\0');
        fuzz_check_ascii(mt_imp_error(p));
    }
    for (uint64_t i = 0; i < st->malformed && i < MT_IMP_EXAMPLES; i++)
        fuzz_check_ascii(st->examples[i]);
    mt_imp_free(p);
}

static int fuzz_import(mt_imp_format_t fmt, const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t split = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    data += 2;
    size -= 2;
    if (split > size)
        split = size;
    mt_imp_stats_t a, b;
    uint64_t sa, sb;
    int ra, rb;
    fuzz_imp_run(fmt, data, size, size, false, &a, &sa, &ra);
    fuzz_imp_run(fmt, data, size, split, false, &b, &sb, &rb);
    CHECK(ra == rb);
    if (ra == MT_OK) {
        CHECK(a.records == b.records && a.malformed == b.malformed && a.late == b.late);
        CHECK(a.seconds == b.seconds && sa == sb);
        CHECK(sa + a.late == a.records);
    }
    fuzz_imp_run(fmt, data, size, split, true, &b, &sb, &rb);
    if (ra == MT_OK && a.malformed == 0)
        CHECK(rb == MT_OK);
    if (ra == MT_OK && a.malformed > 0)
        CHECK(rb == MT_EPARSE);
    return 0;
}

#endif
