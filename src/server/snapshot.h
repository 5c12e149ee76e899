/* One agent's second of one run: what an agent publishes once per second on
 * mortar.runs.<run_id>.second. The wire form is a JSON document ("mortar.snapshot/v1"):
 * counters as in the result JSON, histograms as HdrHistogram V2 compressed base64 strings,
 * so a snapshot merges exactly with any other of the same second. */
#ifndef MT_SERVER_SNAPSHOT_H
#define MT_SERVER_SNAPSHOT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mortar/engine.h"
#include "mortar/error.h"
#include "mortar/hist.h"

typedef struct mt__snap_tag {
    char *name; /* "" = untagged */
    mt_counters_t c;
    mt_hist_t *latency;
    mt_hist_t *service;
} mt__snap_tag_t;

typedef struct mt__snapshot {
    char run_id[40];
    char agent[64];
    uint32_t second; /* second number from run start */
    int64_t span_ns;
    uint32_t open_conns;
    uint64_t backlog;
    mt_counters_t c;
    mt_hist_t *latency, *service;
    mt__snap_tag_t *tags;
    size_t ntags;
    /* --trace: the second's exemplars (tag: index into tags[]); "exemplars" on the wire, as
     * in the result JSON (docs/tracing.md) */
    mt_exemplar_t slow[MT_EXEMPLARS_SLOW], errs[MT_EXEMPLARS_ERR];
    size_t nslow, nerrs;
} mt__snapshot_t;

/* Fills s from an engine second (copies the histograms); tags[] names the config's tags. */
int mt__snapshot_from_second(mt__snapshot_t *s, const char *run_id, const char *agent,
                             const mt_second_t *sec, const char *const *tags, size_t ntags);
/* The JSON wire form, malloc'd. */
int mt__snapshot_encode(const mt__snapshot_t *s, char **out, size_t *len);
/* Parses the wire form; any defect is MT_EPARSE with err saying what and where. Never trusts
 * the input (it is fuzzed: tests/fuzz/fuzz_snapshot.c). */
int mt__snapshot_decode(const char *buf, size_t len, mt__snapshot_t *out, mt_parse_err_t *err);
void mt__snapshot_dispose(mt__snapshot_t *s);

/* The timing breakdown of a whole run, shipped once in the agent's end message (docs/
 * aggregation.md): {"connect": HIST, "tls": HIST, "send", "wait", "receive"} (encoded like a
 * snapshot's histograms; "tls" only when a handshake was timed). */
#define MT__BD_N 5
extern const char *const mt__bd_names[MT__BD_N];
/* The object for r's breakdown histograms; NULL when r has none or on failure. */
json_t *mt__breakdown_json(const mt_run_result_t *r);
/* Adds the histograms of such an object into h[] (each created on first use), all or none.
 * MT_OK, MT_ENOMEM, or MT_EPARSE (not an object of known names and valid histograms). Never
 * trusts the input. */
int mt__breakdown_add(const json_t *bd, mt_hist_t *h[MT__BD_N]);

#endif
