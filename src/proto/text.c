#include "proto/text.h"

#include <stdio.h>
#include <string.h>

void mt__quote(char *dst, size_t cap, const char *s, size_t len)
{
    size_t i, n = len > 40 ? 40 : len;
    if (cap == 0)
        return;
    if (n + 4 > cap)
        n = cap > 4 ? cap - 4 : 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < len && cap >= 4) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
}

int mt__perr_vset(mt_parse_err_t *err, int col, int rc, const char *fmt, va_list ap)
{
    if (err) {
        err->line = 0;
        err->col = col;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return rc;
}

int mt__perr_set(mt_parse_err_t *err, int col, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt__perr_vset(err, col, rc, fmt, ap);
    va_end(ap);
    return rc;
}

const char *mt__show(const char *s, char *buf, size_t n)
{
    size_t i = 0, max = n > 64 ? 60 : n - 4;
    for (; s[i] != '\0' && i < max; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}
