/* Reading a whole (bounded) stream into memory, for the CLI's file inputs (--body @FILE,
 * --config FILE). */
#ifndef MT_RUNSPEC_READALL_H
#define MT_RUNSPEC_READALL_H

#include <stddef.h>
#include <stdio.h>

/* Reads f to its end, but at most max + 1 bytes, so a caller sees "larger than max" as
 * *len > max. *out is malloc'd (NULL when nothing was read); the caller frees it. Returns
 * MT_OK, MT_ESYS on a read error (errno kept; *out freed) or MT_ENOMEM (*out freed). */
int mt__read_stream(FILE *f, size_t max, char **out, size_t *len);

#endif
