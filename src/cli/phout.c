#include "cli/phout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PHOUT_BUF (1 << 20)

struct mt__phout {
    FILE *f;
    char *path;
    const char *const *tags;
    size_t ntags;
    int err; /* first errno of a failed write, 0 if none */
    char *buf;
    bool tls_column; /* --phout-tls */
};

void mt__phout_tls_column(mt__phout_t *p, bool on)
{
    p->tls_column = on;
}

size_t mt__phout_format(char *buf, size_t n, const mt_req_record_t *r, const char *tag)
{
    /* time: request start, Unix seconds with milliseconds; connect_time: until the connection
     * is usable, TLS handshake included (as Phantom); interval_event: the time spent waiting
     * for the response (send end .. last byte, or .. the error) */
    int64_t ms = r->start_unix_us / 1000;
    int len = snprintf(buf, n,
                       "%" PRId64 ".%03d\t%s\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu32
                       "\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu64 "\t%" PRIu64 "\t%d\t%u",
                       ms / 1000, (int)(ms % 1000), tag, r->total_us, r->connect_us + r->tls_us,
                       r->send_us, r->wait_us, r->receive_us, r->wait_us + r->receive_us,
                       r->bytes_out, r->bytes_in, (int)r->net_errno, (unsigned)r->status);
    if (len < 0)
        return 0;
    return (size_t)len < n ? (size_t)len : n - 1;
}

int mt__phout_open(const char *path, const char *const *tags, size_t ntags, mt__phout_t **out,
                   char *errbuf, size_t errlen)
{
    mt__phout_t *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->path = strdup(path)) || !(p->buf = malloc(PHOUT_BUF))) {
        if (p) {
            free(p->path);
            free(p);
        }
        snprintf(errbuf, errlen, "--phout: out of memory");
        return MT_ENOMEM;
    }
    p->f = fopen(path, "w");
    if (!p->f) {
        snprintf(errbuf, errlen, "--phout: cannot create '%s': %s", path, strerror(errno));
        free(p->buf);
        free(p->path);
        free(p);
        return MT_ESYS;
    }
    setvbuf(p->f, p->buf, _IOFBF, PHOUT_BUF);
    p->tags = tags;
    p->ntags = ntags;
    *out = p;
    return MT_OK;
}

void mt__phout_records(const mt_req_record_t *recs, size_t n, void *ud)
{
    mt__phout_t *p = ud;
    char line[256];
    for (size_t i = 0; i < n && !p->err; i++) {
        const char *tag = recs[i].tag < p->ntags ? p->tags[recs[i].tag] : "";
        size_t len = mt__phout_format(line, sizeof line - 1, &recs[i], tag);
        if (p->tls_column && len < sizeof line - 16)
            len +=
                (size_t)snprintf(line + len, sizeof line - 1 - len, "\t%" PRIu32, recs[i].tls_us);
        line[len++] = '\n';
        if (fwrite(line, 1, len, p->f) != len)
            p->err = errno ? errno : EIO;
    }
}

int mt__phout_close(mt__phout_t *p, char *errbuf, size_t errlen)
{
    int rc = MT_OK;
    if (!p)
        return MT_OK;
    if (fflush(p->f) != 0 && !p->err)
        p->err = errno;
    if (fclose(p->f) != 0 && !p->err)
        p->err = errno;
    if (p->err) {
        snprintf(errbuf, errlen, "--phout: writing '%s' failed: %s", p->path, strerror(p->err));
        rc = MT_ESYS;
    }
    free(p->buf);
    free(p->path);
    free(p);
    return rc;
}
