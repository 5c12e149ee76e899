/* A small in-memory cache of immutable API responses (the series, summary and result of a
 * finished run never change), least recently used first out, bounded in bytes. Thread-safe.
 * It is what lets 100 dashboards read the same finished run without each one rebuilding it
 * from the database (docs/benchmarks.md row 9). */
#ifndef MT_SERVER_CACHE_H
#define MT_SERVER_CACHE_H

#include <stddef.h>

typedef struct mt__cache mt__cache_t;

int mt__cache_new(size_t max_bytes, mt__cache_t **out);
void mt__cache_free(mt__cache_t *c);
/* A malloc'd copy of the entry for key into body and len; 0 if found, MT_ENOTFOUND if not. */
int mt__cache_get(mt__cache_t *c, const char *key, char **body, size_t *len);
/* Stores a copy of body under key (replacing any); entries larger than an eighth of the
 * cache are not kept. */
void mt__cache_put(mt__cache_t *c, const char *key, const char *body, size_t len);

#endif
