/* Imports of other tools' per-request results (docs/import.md, docs/adr/0035-imports.md):
 * Yandex.Tank / Pandora phout, JMeter JTL (CSV with or without a header, XML) and k6's NDJSON
 * (`k6 run --out json`). A streaming parser: bytes in (any split), per-second rows out, the
 * same mt_second_t a native run hands to its callback (counters, status codes, error kinds,
 * an exact latency histogram, per-tag statistics), so the server stores, checks and shows an
 * imported run exactly as it does a native one.
 *
 * Reorder rule: records are placed by their start time. Seconds are held in a window of
 * `window_s` seconds: a second is closed (handed to the callback) once a record more than
 * window_s seconds later has been read, or at mt_imp_finish, or (live follow) by mt_imp_tick
 * when the wall clock is window_s past its end. A record of a second already closed is late:
 * counted in mt_imp_stats_t.late and left out of the run. Second 0 of the run is the earliest
 * second present when the first second closes; every later second is handed over, empty ones
 * included, in order. Memory: O(window_s x tags), whatever the input's length.
 *
 * A malformed record (a line, or an XML sample) is skipped and counted with its place
 * ("phout.log:12: column 3 (interval_real): not a number"); with `strict` the first one makes
 * mt_imp_feed return MT_EPARSE and mt_imp_error says where. A single line over 64 KiB is
 * malformed. No I/O: the caller reads the file or the request body. */
#ifndef MORTAR_IMPORT_H
#define MORTAR_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/engine.h"
#include "mortar/hist.h"

typedef enum mt_imp_format {
    MT_IMP_AUTO = 0, /* detected from the first line (see mt_imp_new) */
    MT_IMP_PHOUT,    /* "phout": Tank / Pandora, 12 tab-separated columns */
    MT_IMP_JTL_CSV,  /* "jtl-csv": JMeter CSV, with a header line or JMeter's default columns */
    MT_IMP_JTL_XML,  /* "jtl-xml": JMeter XML (<testResults>, <httpSample>/<sample>) */
    MT_IMP_K6,       /* "k6": k6's JSON lines output, Point records of http_req_* metrics */
} mt_imp_format_t;

/* "auto" | "phout" | "jtl-csv" | "jtl-xml" | "k6" (also "jtl": detected between the two JTL
 * forms; "csv", "xml" as aliases). MT_EINVAL for anything else. */
int mt_imp_format_parse(const char *name, mt_imp_format_t *out);
const char *mt_imp_format_name(mt_imp_format_t f); /* "phout", ...; "auto" */

#define MT_IMP_DEFAULT_WINDOW 10u           /* seconds */
#define MT_IMP_MAX_SPAN       (7u * 86400u) /* a record later than this after second 0 is malformed */
#define MT_IMP_MAX_LINE       65536u
#define MT_IMP_EXAMPLES       5 /* malformed records kept as examples */

typedef struct mt_imp_opts {
    mt_imp_format_t format; /* MT_IMP_AUTO: detect */
    bool strict;            /* first malformed record: MT_EPARSE */
    uint32_t window_s;      /* reorder window; 0 = MT_IMP_DEFAULT_WINDOW */
    const char *name;       /* the file's name in messages (copied); NULL = "input" */
} mt_imp_opts_t;

typedef struct mt_imp_stats {
    uint64_t records;   /* requests read (in the run, or late) */
    uint64_t malformed; /* records skipped as malformed */
    uint64_t late;      /* records whose second had closed (left out of the run) */
    uint64_t ignored;   /* lines that are not requests: k6 Metric lines, other metrics */
    uint32_t seconds;   /* seconds handed to the callback */
    uint64_t lines;     /* lines read (XML: the current line) */
    char examples[MT_IMP_EXAMPLES][200]; /* the first malformed records' messages */
    /* The timing breakdown over the whole input, in us, where the format has it (NULL
     * otherwise): connect, send, wait (latency / TTFB after the request was sent), receive. */
    const mt_hist_t *connect, *send, *wait, *recv;
} mt_imp_stats_t;

/* One closed second. s->tags[i] is named tags[i] (tags[0] = "" = every request); ntags grows
 * as tags appear (at most MT_MAX_TAGS; later tags count as untagged only). Non-zero return
 * stops the import: mt_imp_feed / mt_imp_finish return it. */
typedef int (*mt_imp_second_cb)(const mt_second_t *s, const char *const *tags, size_t ntags,
                                void *ud);

typedef struct mt_imp mt_imp_t;

/* MT_OK, MT_ENOMEM, MT_EINVAL (bad options). Free with mt_imp_free. */
int mt_imp_new(const mt_imp_opts_t *o, mt_imp_second_cb cb, void *ud, mt_imp_t **out);
/* Parses len more bytes (any split, even mid-line or mid-number). MT_OK; MT_EPARSE in strict
 * mode or when the format cannot be detected (mt_imp_error says why); the callback's return.
 * After an error every later call returns it again. */
int mt_imp_feed(mt_imp_t *p, const char *buf, size_t len);
/* Live follow: closes every second whose end is at least window_s before now_unix_ns. */
int mt_imp_tick(mt_imp_t *p, int64_t now_unix_ns);
/* End of input: the last line (without a newline), then every open second. */
int mt_imp_finish(mt_imp_t *p);
const mt_imp_stats_t *mt_imp_stats(const mt_imp_t *p);
const char *mt_imp_error(const mt_imp_t *p);      /* "" when none */
mt_imp_format_t mt_imp_format(const mt_imp_t *p); /* as detected (AUTO until then) */
/* The wall-clock instant of second 0 (ns); 0 until the first second closed. */
int64_t mt_imp_start_unix_ns(const mt_imp_t *p);
void mt_imp_free(mt_imp_t *p);

#endif
