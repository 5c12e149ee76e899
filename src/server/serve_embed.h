/* Files embedded at build time by cmake/serve.cmake (besides the migrations, store.h). */
#ifndef MT_SERVER_SERVE_EMBED_H
#define MT_SERVER_SERVE_EMBED_H

#include <stddef.h>

extern const char mt__openapi_json[]; /* docs/openapi.json, NUL-terminated */
extern const size_t mt__openapi_len;

#endif
