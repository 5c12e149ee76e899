/* The run spec: everything one run is, as one typed struct, filled from any of three sources
 * and validated in one place (docs/adr/0017-run-spec.md).
 *
 *   command line   mt_runspec_set(s, key, "100", &at{FLAG "--rate"}, &err) per flag
 *   --config FILE  runspec/config.h turns a mortar or Yandex.Tank YAML/JSON file into
 *                  (key, value, line:col) entries; mt_runspec_apply_entries sets them
 *   JSON object    mt_runspec_from_json (API bodies, and the canonical form an agent gets)
 *
 * then mt_runspec_check (cross-key rules, the URL, the schedule: pure) and mt_runspec_build
 * (the request bytes, ammo, the TLS context: reads the files the spec names, which a server
 * run never has, since mt_runspec_from_json with MT_RS_SERVER refuses every key marked as
 * reading or writing a local file). mt_runspec_to_json gives the canonical JSON: the same keys
 * as --config, defaults filled in.
 *
 * Errors: one mt_rs_err_t, whose `at` says where in the source's own form (a flag, FILE:L:C,
 * a JSON pointer) and whose msg is worded for that reader; mt_rs_err_format prints it for
 * people. Nothing here prints or exits. */
#ifndef MT_RUNSPEC_H
#define MT_RUNSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/ammo.h"
#include "mortar/engine.h"
#include "mortar/http1.h"
#include "mortar/schedule.h"
#include "proto/request.h"
#include "proto/url.h"
#include "runspec/config.h"
#include "runspec/keys.h"
#include "runspec/verdicts.h"

#define MT_RS_MAX_HEADERS 1024

/* Where a value came from, in its source's form. */
typedef enum mt_rs_src {
    MT_RS_SRC_NONE, /* a default, or the spec as a whole */
    MT_RS_SRC_FLAG, /* name: the flag as typed ("-R", "--rate"); "" for the URL argument */
    MT_RS_SRC_FILE, /* name: the file; line, col (1-based; 0 = unknown) */
    MT_RS_SRC_JSON, /* name: the JSON pointer ("/config/rate") */
} mt_rs_src_t;

typedef struct mt_rs_at {
    mt_rs_src_t src;
    char name[200];
    int line, col;
    int multiline; /* FILE: the value spans lines: a column inside it stays "col N: " */
} mt_rs_at_t;

/* The one error of this layer. code: MT_EINVAL (bad input: msg for people), MT_ENOMEM. */
typedef struct mt_rs_err {
    int code;
    mt_rs_at_t at;
    char key[32]; /* the key's name, "" when the error is not about one key */
    char msg[400];
} mt_rs_err_t;

/* For people: "--rate: MSG", "FILE:3:7: rate: MSG", "/config/rate: MSG" or "MSG" into buf
 * (the CLI adds "mortar run: "; the API puts at.name in a problem's pointer and msg in its
 * detail instead). Returns buf. */
const char *mt_rs_err_format(const mt_rs_err_t *e, char *buf, size_t n);

/* The spec. Strings are owned; release with mt_runspec_dispose. Fields after "built" are set
 * by check/build. */
typedef struct mt_runspec {
    unsigned mode;      /* MT_RS_CLI or MT_RS_SERVER: which keys are allowed */
    char json_base[64]; /* the pointer of the JSON object read last ("" or "/config") */
    mt_rs_at_t at[MT_RSK__COUNT];
    bool set[MT_RSK__COUNT];

    char *url_txt;
    int connections;
    int threads; /* 0 until check when not set */
    bool threads_set;
    int64_t duration_ns;
    bool duration_set;
    double rate; /* 0 = not given */
    char *schedule_txt;
    int64_t timeout_ns;
    uint64_t max_queue;
    int64_t tick_ns;
    int64_t send_tolerance_ns;
    int64_t grace_ns;
    bool no_kernel_ts;
    int io;             /* MT_IO_AUTO, MT_IO_EPOLL, MT_IO_URING */
    const char *method; /* "GET" or method_own */
    char *method_own;
    bool method_set;
    char **header_txt;    /* as given, "Name: value" */
    mt_header_t *headers; /* slices of header_txt */
    size_t nheaders;
    char *body_txt; /* --body as given (text, or "@FILE") */
    char *body;     /* the bytes (after build for @FILE) */
    size_t body_len;
    bool has_body;
    char *ammo_path;
    char *ammo_type_txt;
    int ammo_order;
    uint64_t seed;
    char **uris;
    size_t nuris;
    char **autostop_txt;
    size_t nautostop;
    char **threshold_txt;
    size_t nthreshold;
    char *expected_txt;       /* NULL = the default, 200-399 */
    mt_status_set_t expected; /* statuses that are not failures (k6's http_req_failed) */
    char *json_path;
    char *phout_path;
    char *html_path;
    bool quiet;
    bool latency;
    char *cacert, *cert, *key;
    int tls_min, tls_max; /* 12, 13 or 0 */
    bool insecure;
    bool no_tls_resume;
    bool http2;
    int streams;
    bool streams_set;
    bool phout_tls;
    int agents;
    char *agent_labels;
    char *on_agent_loss; /* NULL = "error" */
    int64_t placement_timeout_ns;
    char *script_txt; /* the script key as given: text, or "@FILE" */
    char *script;     /* the script's text (after build for @FILE) */
    size_t script_len;
    char *script_name;  /* its name in messages: the file, or "script" */
    char **script_args; /* init(args) */
    size_t nscript_args;
    bool trace; /* trace: send traceparent headers, keep exemplars */
    double trace_ratio;
    char *trace_url; /* NULL: no links */

    /* ---- built ---- */
    bool checked, built;
    bool open_model;
    uint64_t planned;   /* open model: requests due within the run */
    int64_t planned_ns; /* the run's planned length */
    mt_url_t url;
    mt_sched_t sched;
    mt__verdicts_t verdicts;
    char *request;
    size_t request_len;
    unsigned parse_flags;
    mt_tls_config_t tls;
    mt_tls_ctx_t *tls_ctx;
    mt_ammo_t ammo;
    bool has_ammo;
    struct mt__script *script_obj; /* the loaded script (src/script), or NULL */
    char **warnings;               /* for people (ammo warnings); the CLI prints them */
    size_t nwarnings;
} mt_runspec_t;

#define MT_RS_CLI    0u /* `mortar run`: every key but MT_RSK_SERVER ones */
#define MT_RS_SERVER 1u /* a run started through mortar serve: no local files, server keys ok */

/* Defaults; mode is MT_RS_CLI or MT_RS_SERVER. */
void mt_runspec_init(mt_runspec_t *s, unsigned mode);
void mt_runspec_dispose(mt_runspec_t *s); /* frees everything; s is zeroed */

/* Sets one key from text (value NULL for a BOOL key means true; "true"/"false" also work).
 * at says where the text came from (copied). Repeatable (LIST/CRITS) keys add up; others
 * override. Checks the value alone (range, units, syntax) and the mode's rules (a file key in
 * a server run, a server key in the CLI). MT_OK, MT_EINVAL or MT_ENOMEM with err filled. */
int mt_runspec_set(mt_runspec_t *s, const mt_rs_key_t *key, const char *value, const mt_rs_at_t *at,
                   mt_rs_err_t *err);

/* Sets every key of a JSON object (base: the object's pointer, "" or "/config"); null values
 * are "not given". Unknown keys and wrong JSON types are errors at their pointer. */
int mt_runspec_from_json(mt_runspec_t *s, const json_t *obj, const char *base, mt_rs_err_t *err);

/* Parses JSON text (an object) and mt_runspec_from_json's it, in s (initialised by the
 * caller). */
int mt_runspec_from_json_text(mt_runspec_t *s, const char *text, size_t len, const char *base,
                              mt_rs_err_t *err);

/* A --config file's text (mortar keys or a Yandex.Tank load.yaml; YAML or JSON) read by
 * runspec/config.c and set key by key; file names the file in errors (FILE:LINE:COL), or
 * json_at (not NULL) places every error there instead. Warnings for people (Tank settings
 * mortar ignores) are added to s->warnings. */
int mt_runspec_apply_text(mt_runspec_t *s, const char *buf, size_t len, const char *file,
                          const mt_rs_at_t *json_at, mt_rs_err_t *err);

/* The entries mt__config_parse appended (argv[info->first ..], "--name" [value]) and the
 * file's URL (may be NULL), as mt_runspec_apply_text sets them. */
int mt_runspec_apply_entries(mt_runspec_t *s, int argc, char **argv, const mt__config_info_t *info,
                             const char *url, const char *file, const mt_rs_at_t *json_at,
                             mt_rs_err_t *err);

/* Cross-key rules, the URL, the schedule, the verdicts' syntax; the threads default. Pure. */
int mt_runspec_check(mt_runspec_t *s, mt_rs_err_t *err);

/* After check: reads the files the spec names (body @FILE, ammo, certificates), builds the
 * request bytes or ammo and the TLS context. */
int mt_runspec_build(mt_runspec_t *s, mt_rs_err_t *err);

/* The canonical JSON (new reference; NULL when out of memory): every key with a value or a
 * default, in table order; the keys are those of --config. After check. */
json_t *mt_runspec_to_json(const mt_runspec_t *s);

/* The result document's "config" object (docs/result-schema.json: url, method, connections,
 * threads, duration_s, model, rate or schedule, planned_requests, timeout_s, max_queue, http2,
 * streams, tls) of a checked spec: the one builder for `mortar run --json` and GET
 * /runs/{id}/result. planned: the open model's planned requests (the spec's own when NULL).
 * A new reference, NULL when out of memory. */
json_t *mt_runspec_result_config(const mt_runspec_t *s, const uint64_t *planned);

/* The engine's settings (everything but callbacks); after build. Borrowed from s. */
void mt_runspec_engine_config(const mt_runspec_t *s, mt_run_config_t *cfg);

/* The key's name as the reader of an error from src knows it: "-c" for flags, "connections"
 * otherwise. */
const char *mt_rs_key_word(const mt_rs_key_t *k, mt_rs_src_t src, char *buf, size_t n);

#endif
