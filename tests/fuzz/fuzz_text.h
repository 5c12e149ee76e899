/* Shared by the fuzz drivers of text parsers: the input as a NUL-terminated string. */
#ifndef MT_FUZZ_TEXT_H
#define MT_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd NUL-terminated copy of data, or NULL when size > max (the input is skipped) or
 * memory is short. The caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size, size_t max)
{
    char *text;
    if (size > max || (text = malloc(size + 1)) == NULL)
        return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

#endif
