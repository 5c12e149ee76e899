/* phout: Phantom's per-request result format (one tab-separated line per request, 12 columns,
 * durations in microseconds), so Yandex.Tank tooling can read mortar's results. Lines are
 * written from the engine's record callback, in mt_run_exec's thread, through a large stdio
 * buffer: never on the workers' hot path. */
#ifndef MT_CLI_PHOUT_H
#define MT_CLI_PHOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "mortar/engine.h"

typedef struct mt__phout mt__phout_t;

/* Opens (truncates) path for writing; tags[i] names tag index i (tags may be NULL when
 * ntags == 0). Returns MT_OK, MT_ESYS (errbuf names the file and the reason) or MT_ENOMEM. */
int mt__phout_open(const char *path, const char *const *tags, size_t ntags, mt__phout_t **out,
                   char *errbuf, size_t errlen);

/* mt_records_cb: appends one line per record. Write errors are kept for mt__phout_close. */
/* --phout-tls: append a 13th column, the TLS handshake time in us (0 on a reused connection). */
void mt__phout_tls_column(mt__phout_t *p, bool on);
void mt__phout_records(const mt_req_record_t *recs, size_t n, void *ud);

/* Flushes and closes; returns MT_OK or MT_ESYS with errbuf filled (a write failed at some
 * point, e.g. the disk filled up). Frees p. */
int mt__phout_close(mt__phout_t *p, char *errbuf, size_t errlen);

/* One record as a phout line (no newline) into buf; returns its length (truncated to n - 1). */
size_t mt__phout_format(char *buf, size_t n, const mt_req_record_t *r, const char *tag);

#endif
