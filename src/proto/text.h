/* Small text helpers shared by the parsers for their error messages. */
#ifndef MT_PROTO_TEXT_H
#define MT_PROTO_TEXT_H

#include <stdarg.h>
#include <stddef.h>

#include "mortar/error.h"

/* Copies at most 40 bytes of s (len bytes) into dst (cap bytes, NUL-terminated) for a
 * message, replacing bytes that are not printable ASCII with '?' and marking a cut with "...". */
void mt__quote(char *dst, size_t cap, const char *s, size_t len);

/* A printable excerpt of the NUL-terminated user input s for a message, into buf (n >= 8
 * bytes): control bytes become '?', text longer than 60 bytes (or than buf) is cut with "...".
 * Returns buf. */
const char *mt__show(const char *s, char *buf, size_t n);

/* Fills err (if not NULL) with line 0, column col and the formatted message; returns rc. */
int mt__perr_set(mt_parse_err_t *err, int col, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int mt__perr_vset(mt_parse_err_t *err, int col, int rc, const char *fmt, va_list ap);

#endif
