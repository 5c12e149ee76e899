/* wrk-compatible Lua scripts on LuaJIT (docs/scripting.md, docs/adr/0031-lua-scripts.md).
 *
 * One main Lua state (the script's top level, setup(thread) and done()) and one state per
 * engine worker thread (init(args), request(), response(), delay()), as wrk has. The engine
 * never sees Lua: it calls the mt_script_hooks_t this layer fills (mortar/engine.h).
 *
 * Life: mt__script_new (compiles the text and runs its top level in the main state: syntax
 * errors and top-level errors come out here, as "NAME:LINE: MSG"), mt__script_start (the
 * thread states, setup() for each, init() in each; before the run), the run (hooks, each
 * state used only by its worker thread), mt__script_done (done() in the main state with the
 * merged numbers; after the run), mt__script_free. Nothing here prints except what the
 * script itself prints. */
#ifndef MT_SCRIPT_SCRIPT_H
#define MT_SCRIPT_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "mortar/engine.h"

#define MT_SCRIPT_MAX_TEXT     (16 * 1024 * 1024) /* script text */
#define MT_SCRIPT_MAX_ARGS     1024               /* arguments after -- */
#define MT_SCRIPT_MAX_ARG      (64 * 1024)        /* bytes of one argument */
#define MT_SCRIPT_MAX_REQUEST  (64 * 1024 * 1024) /* what one request() call may return */
#define MT_SCRIPT_MAX_PIPELINE 4096               /* requests in one request() result */

typedef struct mt__script mt__script_t;

/* What the wrk table starts with (wrk sets them from the URL and its flags). Strings are
 * copied. */
typedef struct mt__script_target {
    const char *url;          /* the URL as given: init(args)'s args[0], as in wrk */
    const char *scheme;       /* "http" or "https" */
    const char *host;         /* URL host (IPv6 without brackets) */
    const char *port;         /* the URL's explicit port, or NULL */
    const char *connect_port; /* the port connected to (for thread.addr) */
    const char *host_header;  /* the Host header's default value */
    const char *method;
    const char *path;
    const char *const *headers; /* "Name: value" (-H), nheaders */
    size_t nheaders;
    const char *body; /* NULL: none */
    size_t body_len;
    bool sandbox; /* a server run: no files, processes or environment from Lua (io, os, require,
                   * dofile, loadfile, ffi are removed; io.write and os.time/clock/date stay) */
} mt__script_target_t;

/* Compiles text (len bytes) named name in messages, runs its top level in the main state and
 * reads the tags it declares (wrk.tags). args (copied) are what init(args) gets. MT_OK and
 * *out; MT_EPARSE (syntax error) or MT_EINVAL (an error running the top level, bad wrk.tags)
 * with err "NAME:LINE: MSG"; MT_ENOMEM. */
int mt__script_new(const char *name, const char *text, size_t len, const char *const *args,
                   size_t nargs, const mt__script_target_t *t, mt__script_t **out, char *err,
                   size_t errlen);

/* The tag names the script declares: tags[0] = "" (untagged), then wrk.tags in order; *n = 0
 * and NULL when it declares none. Owned by s. */
const char *const *mt__script_tags(const mt__script_t *s, size_t *n);

/* Before the run: one state per worker thread (nthreads), setup(thread) for each in the main
 * state, then init(args) in each. addr: "ip:port" the run connects to (thread.addr), or NULL.
 * MT_OK, or MT_EINVAL with err naming file, line and phase; MT_ENOMEM. */
int mt__script_start(mt__script_t *s, int nthreads, const char *addr, char *err, size_t errlen);

/* The engine hooks (valid until mt__script_free; after mt__script_start). */
const mt_script_hooks_t *mt__script_hooks(const mt__script_t *s);

/* The first error a hook met during the run ("" if none): file, line and phase. */
const char *mt__script_error(mt__script_t *s);

/* After the run: done(summary, latency, requests) in the main state when the script defines
 * it. rps: requests per second, one value per second of the run (may be NULL). */
int mt__script_done(mt__script_t *s, const mt_run_result_t *r, const mt_hist_t *rps, char *err,
                    size_t errlen);

/* Does the script define done()? */
bool mt__script_has_done(const mt__script_t *s);

void mt__script_free(mt__script_t *s); /* NULL is fine */

#endif
