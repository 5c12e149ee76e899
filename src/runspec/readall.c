#include "runspec/readall.h"

#include <errno.h>
#include <stdlib.h>

#include "mortar/error.h"

int mt__read_stream(FILE *f, size_t max, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *len = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap == 0 ? 16 * 1024 : cap * 2;
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= cap)
                break; /* read max + 1 bytes: the caller reports "too large" */
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                return MT_ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                errno = e;
                return MT_ESYS;
            }
            break;
        }
    }
    *out = buf;
    *len = n;
    return MT_OK;
}
