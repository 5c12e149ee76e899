/* The result model (src/result): every counter of the table (mortar/counters.h) is in the
 * struct, merges as the table says, and appears in the result JSON (summary and seconds), the
 * snapshots on the wire and the analysis over stored rows, and reads back equal; the web's
 * list (web/shared/fmt.js) is the same table; the document `mortar run --json` builds and the
 * one GET /runs/{id}/result builds from stored rows have the same shape and totals, and both
 * validate against docs/result-schema.json. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "report/report.h"
#include "result/result.h"
#include "server/analysis.h"
#include "server/snapshot.h"

#define S     1000000000LL
#define NTAGS 2
static const char *const tag_names[NTAGS] = {"", "api"};

#include "synth_seconds.h"

/* The source tree, from this file's path (CMake compiles it by its absolute path). */
static void source_path(char *buf, size_t n, const char *rel)
{
    const char *me = __FILE__, *cut = strstr(me, "tests/unit/test_result.c");
    assert_non_null(cut);
    snprintf(buf, n, "%.*s%s", (int)(cut - me), me, rel);
}

/* Counters with every table counter set to a distinct value (not 0). */
static void fill(mt_counters_t *c, uint64_t base)
{
    memset(c, 0, sizeof(*c));
    c->sent = 1000 + base;
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        if (strcmp(d->name, "sent") == 0)
            continue;
        /* PER_SENT values are written as value / sent: a multiple of sent reads back exactly */
        mt__counter_set(c, d, d->per_sent ? c->sent * (i + 3) : base + 10 * (i + 1));
    }
    c->err[MT_ERR_RESET] = c->errors; /* errors is the sum of err[] */
    c->status[200] = c->completed;
}

static uint64_t written(const mt_counters_t *c, const mt__counter_desc_t *d)
{
    uint64_t v = mt__counter_get(c, d);
    return d->per_sent ? v / c->sent : v;
}

static void test_table_is_the_struct(void **state)
{
    (void)state;
    /* every scalar member of mt_counters_t is a row: the rows and the two arrays fill it */
    assert_int_equal(sizeof(mt_counters_t), mt__ncounters * sizeof(uint64_t) +
                                                sizeof(((mt_counters_t *)0)->err) +
                                                sizeof(((mt_counters_t *)0)->status));
    for (size_t i = 0; i < mt__ncounters; i++) {
        assert_true(mt__counters[i].off < offsetof(mt_counters_t, err));
        assert_non_null(mt__counters[i].summary);
        assert_non_null(mt__counters[i].second);
        assert_non_null(mt__counters[i].web);
        assert_true(strlen(mt__counters[i].label) > 0);
        for (size_t j = 0; j < i; j++) {
            assert_true(mt__counters[i].off != mt__counters[j].off);
            assert_string_not_equal(mt__counters[i].name, mt__counters[j].name);
            assert_string_not_equal(mt__counters[i].summary, mt__counters[j].summary);
            assert_string_not_equal(mt__counters[i].second, mt__counters[j].second);
            assert_string_not_equal(mt__counters[i].web, mt__counters[j].web);
        }
    }
}

static void test_merge(void **state)
{
    mt_counters_t a, b, sum;
    (void)state;
    fill(&a, 1);
    fill(&b, 5);
    mt__counter_set(&b, &mt__counters[0], 1); /* b smaller in one, larger in the rest */
    sum = a;
    mt_counters_add(&sum, &b);
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        uint64_t x = mt__counter_get(&a, d), y = mt__counter_get(&b, d);
        assert_int_equal(mt__counter_get(&sum, d), d->max ? (x > y ? x : y) : x + y);
    }
    assert_int_equal(sum.err[MT_ERR_RESET], a.err[MT_ERR_RESET] + b.err[MT_ERR_RESET]);
    assert_int_equal(sum.status[200], a.status[200] + b.status[200]);
}

/* Every counter of c at its path in o, with the value written; and reads back into c. */
static void check_json(const json_t *o, const mt_counters_t *c, bool second)
{
    mt_counters_t back;
    char err[128];
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        const json_t *v = mt__result_path(o, second ? d->second : d->summary);
        if (v == NULL)
            fail_msg("counter %s missing at %s", d->name, second ? d->second : d->summary);
        assert_true(json_is_integer(v));
        assert_int_equal(json_integer_value(v), written(c, d));
    }
    assert_int_equal(mt__result_get_counters(o, second, &back, err, sizeof(err)), MT_OK);
    for (size_t i = 0; i < mt__ncounters; i++)
        assert_int_equal(mt__counter_get(&back, &mt__counters[i]),
                         mt__counter_get(c, &mt__counters[i]));
}

static void test_every_counter_everywhere(void **state)
{
    sec_t x;
    mt_second_t *s;
    mt_run_result_t r;
    mt__snapshot_t snap, dec;
    mt_parse_err_t perr;
    char *wire = NULL, *data, *lat, *svc, err[200];
    size_t len;
    json_t *o, *w;
    (void)state;

    sec_init(&x);
    s = sec_next(&x);
    resp(&x, 0, 200, 1000, 10);
    fill(&s->c, 7);
    s->ntags = 0;

    /* the result's seconds */
    o = mt__result_second_json(s, NULL, 0);
    assert_non_null(o);
    check_json(o, &s->c, true);
    json_decref(o);

    /* the result's summary */
    memset(&r, 0, sizeof(r));
    r.c = s->c;
    r.elapsed_ns = S;
    r.latency = x.lat;
    r.service = x.svc;
    o = mt__result_summary_json(&r, false, NULL, 0);
    assert_non_null(o);
    check_json(o, &r.c, false);
    json_decref(o);

    /* the snapshot on the wire: every counter by its name, and back */
    assert_int_equal(mt__snapshot_from_second(&snap, "r1", "local", s, NULL, 0), MT_OK);
    assert_int_equal(mt__snapshot_encode(&snap, &wire, &len), MT_OK);
    w = json_loads(wire, 0, NULL);
    assert_non_null(w);
    for (size_t i = 0; i < mt__ncounters; i++) {
        const json_t *v = json_object_get(json_object_get(w, "counters"), mt__counters[i].name);
        if (v == NULL)
            fail_msg("snapshot lacks counter %s", mt__counters[i].name);
        assert_int_equal(json_integer_value(v), mt__counter_get(&s->c, &mt__counters[i]));
    }
    json_decref(w);
    assert_int_equal(mt__snapshot_decode(wire, len, &dec, &perr), MT_OK);
    assert_memory_equal(&dec.c, &s->c, sizeof(s->c));
    mt__snapshot_dispose(&dec);
    mt__snapshot_dispose(&snap);
    free(wire);

    /* the analysis over a stored row: every counter in its summary, equal */
    o = mt__result_second_json(s, NULL, 0);
    data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_int_equal(mt_hist_encode(s->latency, &lat, &len), MT_OK);
    assert_int_equal(mt_hist_encode(s->service, &svc, &len), MT_OK);
    {
        mt__agg_row_t row = {"", data, lat, svc};
        o = mt__analysis_summary(&row, 1, err, sizeof(err));
        assert_non_null(o);
        check_json(o, &s->c, false);
        json_decref(o);
    }
    free(data);
    free(lat);
    free(svc);
    sec_free(&x);
}

static void test_zero_and_absent(void **state)
{
    mt_counters_t c, back;
    char err[128];
    json_t *o = json_object();
    (void)state;

    memset(&c, 0, sizeof(c));
    assert_int_equal(mt__result_put_counters(o, &c, true, false), MT_OK);
    json_object_set_new(o, "status", json_object());
    for (size_t i = 0; i < mt__ncounters; i++) {
        const mt__counter_desc_t *d = &mt__counters[i];
        bool there = mt__result_path(o, d->second) != NULL;
        assert_int_equal(there, d->presence != MT__CP_NONZERO);
    }
    assert_int_equal(mt__result_get_counters(o, true, &back, err, sizeof(err)), MT_OK);
    /* a required counter missing is named */
    json_object_del(o, "completed");
    assert_int_equal(mt__result_get_counters(o, true, &back, err, sizeof(err)), MT_EFORMAT);
    assert_string_equal(err, "completed: missing");
    json_decref(o);
}

/* web/shared/fmt.js lists the table: [web, summary, second, label] rows, in its order. */
static void test_web_names(void **state)
{
    char path[1024], line[512];
    size_t n = 0;
    bool in = false;
    FILE *f;
    (void)state;

    source_path(path, sizeof(path), "web/shared/fmt.js");
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char web[64], sum[64], sec[64], label[128];
        if (strstr(line, "const COUNTERS = [") != NULL) {
            in = true;
            continue;
        }
        if (!in)
            continue;
        if (strstr(line, "];") != NULL)
            break;
        assert_int_equal(
            sscanf(line, " ['%63[^']', '%63[^']', '%63[^']', '%127[^']'],", web, sum, sec, label),
            4);
        if (n >= mt__ncounters)
            fail_msg("web/shared/fmt.js lists '%s', which MT_COUNTER_MAP does not have", web);
        assert_string_equal(web, mt__counters[n].web);
        assert_string_equal(sum, mt__counters[n].summary);
        assert_string_equal(sec, mt__counters[n].second);
        assert_string_equal(label, mt__counters[n].label);
        n++;
    }
    fclose(f);
    if (n != mt__ncounters)
        fail_msg("web/shared/fmt.js lists %zu counters, MT_COUNTER_MAP has %zu: add the row "
                 "['%s', '%s', '%s', '%s'] to its COUNTERS",
                 n, mt__ncounters, mt__counters[n].web, mt__counters[n].summary,
                 mt__counters[n].second, mt__counters[n].label);
}

/* ---- the two builders: mortar run --json and the API's from stored rows ---------------- */

enum { NSEC = 3 };

typedef struct run_data {
    sec_t x;
    mt_hist_t *lat, *svc, *tlat[NTAGS], *tsvc[NTAGS];
    mt_tag_stats_t tt[NTAGS];
    mt_run_result_t r;
    char *data[NSEC * NTAGS], *hl[NSEC * NTAGS], *hs[NSEC * NTAGS];
    mt__agg_row_t rows[NSEC * NTAGS];
    size_t nrows;
} run_data_t;

static json_t *config_of(void)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:f, s:s, s:f}", "url", "http://127.0.0.1:1/", "method",
                     "GET", "connections", 4, "threads", 2, "duration_s", 3.0, "model", "closed",
                     "timeout_s", 2.0);
}

static json_t *config_cb(const mt_run_result_t *totals, size_t nseconds, void *ud)
{
    (void)totals;
    (void)ud;
    assert_int_equal(nseconds, NSEC);
    return config_of();
}

/* NSEC seconds of two tags with TLS and HTTP/2 counters, fed to the CLI's builder (*cli) and
 * stored as rows (d->rows) as the aggregator stores them. */
static void run_build(run_data_t *d, json_t **cli)
{
    mt__result_t *b;
    size_t len;

    memset(d, 0, sizeof(*d));
    sec_init(&d->x);
    assert_int_equal(mt_hist_new_latency(&d->lat), MT_OK);
    assert_int_equal(mt_hist_new_latency(&d->svc), MT_OK);
    for (int t = 0; t < NTAGS; t++) {
        assert_int_equal(mt_hist_new_latency(&d->tlat[t]), MT_OK);
        assert_int_equal(mt_hist_new_latency(&d->tsvc[t]), MT_OK);
    }
    assert_int_equal(mt__result_new(config_of(), tag_names, NTAGS, &b), MT_OK);
    for (int i = 0; i < NSEC; i++) {
        mt_second_t *s = sec_next(&d->x);
        resp(&d->x, 0, 200, 1000 + 100 * i, 50);
        resp(&d->x, 1, 503, 9000, 5);
        s->c.sent = s->c.due = 60;
        s->c.errors = s->c.err[MT_ERR_TIMEOUT] = 5;
        s->c.lag_sum_us = 60 * 7;
        s->c.lag_max_us = 40 + (uint64_t)i;
        s->c.bytes_in = 5000;
        s->c.bytes_out = 3000;
        s->c.connects = 4;
        /* every counter written only when not 0 (TLS, HTTP/2, any added later): the documents
         * below then carry them all, so the schema must know each */
        for (size_t k = 0; k < mt__ncounters; k++)
            if (mt__counters[k].presence == MT__CP_NONZERO)
                mt__counter_set(&s->c, &mt__counters[k],
                                strcmp(mt__counters[k].name, "h2_retried") == 0 ? 3
                                                                                : k + (size_t)i);
        for (int t = 0; t < NTAGS; t++) {
            d->x.tags[t].c.sent = d->x.tags[t].c.due = d->x.tags[t].c.completed;
            d->x.tags[t].c.bytes_in = 100;
        }
        assert_int_equal(mt__result_add_second(b, s), MT_OK);
        mt_counters_add(&d->r.c, &s->c);
        mt_hist_add(d->lat, s->latency);
        mt_hist_add(d->svc, s->service);
        for (int t = 0; t < NTAGS; t++) {
            mt_counters_add(&d->tt[t].c, &d->x.tags[t].c);
            mt_hist_add(d->tlat[t], d->x.tags[t].latency);
            mt_hist_add(d->tsvc[t], d->x.tags[t].service);
        }
        /* the aggregator's rows: the second, then one per tag (the untagged tag included) */
        for (int t = -1; t < NTAGS; t++) {
            mt_second_t one = *s;
            json_t *o;
            size_t k;
            if (t == 0)
                continue; /* the untagged slice: the "" row is every request */
            k = d->nrows++;
            if (t > 0) {
                one.c = d->x.tags[t].c;
                one.latency = d->x.tags[t].latency;
                one.service = d->x.tags[t].service;
                one.tags = NULL;
                one.ntags = 0;
            }
            o = mt__result_second_json(&one, tag_names, NTAGS);
            d->data[k] = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            assert_int_equal(mt_hist_encode(one.latency, &d->hl[k], &len), MT_OK);
            assert_int_equal(mt_hist_encode(one.service, &d->hs[k], &len), MT_OK);
            d->rows[k] = (mt__agg_row_t){t > 0 ? tag_names[t] : "", d->data[k], d->hl[k], d->hs[k]};
        }
    }
    for (int t = 0; t < NTAGS; t++) {
        d->tt[t].latency = d->tlat[t];
        d->tt[t].service = d->tsvc[t];
    }
    d->r.elapsed_ns = NSEC * S;
    d->r.start_unix_ns = 1700000000LL * S;
    d->r.latency = d->lat;
    d->r.service = d->svc;
    d->r.tags = d->tt;
    d->r.ntags = NTAGS;
    assert_int_equal(mt__result_finish(b, &d->r, false), MT_OK);
    *cli = json_incref(mt__result_doc(b));
    mt__result_free(b);
}

static void run_free(run_data_t *d)
{
    sec_free(&d->x);
    mt_hist_free(d->lat);
    mt_hist_free(d->svc);
    for (int t = 0; t < NTAGS; t++) {
        mt_hist_free(d->tlat[t]);
        mt_hist_free(d->tsvc[t]);
    }
    for (size_t i = 0; i < NSEC * NTAGS; i++) {
        free(d->data[i]);
        free(d->hl[i]);
        free(d->hs[i]);
    }
}

/* Adds the shape of v to the set out: object keys as paths, arrays by their first element,
 * tag names and status codes as "*" (stored rows have no row for the untagged slice: the API's
 * document lists only the named tags, the run's also ""). */
static void shape(const json_t *v, const char *at, json_t *out)
{
    const char *k;
    json_t *x;
    char p[512];
    size_t n = strlen(at);
    bool tags = (n >= 5 && strcmp(at + n - 5, "/tags") == 0) ||
                (n >= 7 && strcmp(at + n - 7, "/status") == 0);

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            snprintf(p, sizeof(p), "%s/%s", at, tags ? "*" : k);
            json_object_set_new(out, p, json_true());
            shape(x, p, out);
        }
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        snprintf(p, sizeof(p), "%s/0", at);
        shape(json_array_get(v, 0), p, out);
    }
}

static json_t *shape_of(const json_t *doc)
{
    json_t *a = json_object();
    shape(doc, "", a);
    return a;
}

/* The first path one shape has and the other lacks, or NULL. */
static const char *shape_diff(const json_t *a, const json_t *b)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
    {
        if (json_object_get(b, k) == NULL)
            return k;
    }
    return NULL;
}

/* Validates the document with docs/result-schema.json (node + ajv, as the build installs). */
static void validate(const json_t *doc, const char *name)
{
    char schema[1024], script[1024], file[256], cmd[3000];
    source_path(schema, sizeof(schema), "docs/result-schema.json");
    source_path(script, sizeof(script), "tests/schema/validate.mjs");
    snprintf(file, sizeof(file), "test_result.%s.%ld.json", name, (long)getpid());
    assert_int_equal(json_dump_file(doc, file, JSON_INDENT(1)), 0);
    snprintf(cmd, sizeof(cmd), "node '%s' '%s' '%s' >/dev/null", script, schema, file);
    if (system(cmd) != 0)
        fail_msg("%s does not validate against docs/result-schema.json (kept as %s)", name, file);
    unlink(file);
}

static void test_cli_and_api_documents(void **state)
{
    run_data_t d;
    json_t *cli, *api;
    char err[200];
    (void)state;

    run_build(&d, &cli);
    assert_int_equal(
        mt__analysis_result_doc(d.rows, d.nrows, config_cb, NULL, &api, err, sizeof(err)), MT_OK);
    json_object_set(api, "started_at", json_object_get(cli, "started_at"));

    /* the same shape ... */
    {
        json_t *a = shape_of(cli), *b = shape_of(api);
        const char *d1 = shape_diff(a, b), *d2 = shape_diff(b, a);
        if (d1 != NULL || d2 != NULL)
            fail_msg("shapes differ: mortar run --json has %s, the API's %s", d1 ? d1 : "-",
                     d2 ? d2 : "-");
        json_decref(a);
        json_decref(b);
    }
    /* ... the same totals, seconds and histograms (the API's summary is recomputed from the
     * stored seconds: equal to the run's where the rows carry what the run had) */
    {
        const json_t *sa = json_object_get(cli, "summary"), *sb = json_object_get(api, "summary");
        for (size_t i = 0; i < mt__ncounters; i++) {
            const char *p = mt__counters[i].summary;
            json_t *va = mt__result_path(sa, p), *vb = mt__result_path(sb, p);
            if (!json_equal(va, vb))
                fail_msg("summary.%s differs: %lld vs %lld", p, json_integer_value(va),
                         json_integer_value(vb));
        }
        assert_true(
            json_equal(json_object_get(sa, "latency_us"), json_object_get(sb, "latency_us")));
        assert_true(json_equal(json_object_get(sa, "status"), json_object_get(sb, "status")));
        assert_true(json_equal(json_object_get(json_object_get(sa, "tags"), "api"),
                               json_object_get(json_object_get(sb, "tags"), "api")));
    }
    {
        json_t *hs = json_object_get(api, "seconds");
        size_t i;
        json_t *sec;
        /* stored seconds come back as they were written, with their histograms */
        json_array_foreach(hs, i, sec)
            assert_true(json_equal(sec, json_array_get(json_object_get(cli, "seconds"), i)));
        assert_int_equal(json_array_size(hs), NSEC);
    }
    {
        const json_t *ha = json_object_get(cli, "histograms"),
                     *hb = json_object_get(api, "histograms");
        assert_true(json_equal(json_object_get(ha, "latency"), json_object_get(hb, "latency")));
        assert_true(json_equal(json_object_get(ha, "service"), json_object_get(hb, "service")));
        assert_true(json_equal(json_object_get(json_object_get(ha, "tags"), "api"),
                               json_object_get(json_object_get(hb, "tags"), "api")));
    }

    validate(cli, "cli");
    validate(api, "api");
    json_decref(cli);
    json_decref(api);
    run_free(&d);
}

/* The report reads the counters from the table: per-second columns by their web names, and a
 * "Protocol" row for each NONZERO counter a run has. */
static void test_report_columns(void **state)
{
    run_data_t d;
    json_t *cli, *data, *run, *rows, *row;
    char *text, err[200];
    size_t i;
    bool seen = false;
    (void)state;

    run_build(&d, &cli);
    text = json_dumps(cli, JSON_COMPACT);
    {
        mt__report_src_t a = {text, strlen(text), "a.json"};
        assert_int_equal(mt__report_data(&a, NULL, &data, err, sizeof(err)), MT_OK);
    }
    run = json_array_get(json_object_get(data, "runs"), 0);
    for (size_t k = 0; k < mt__ncounters; k++) {
        json_t *col = json_object_get(json_object_get(run, "seconds"), mt__counters[k].web);
        if (col == NULL)
            fail_msg("the report has no column %s", mt__counters[k].web);
        assert_int_equal(json_array_size(col), NSEC);
    }
    rows = json_object_get(data, "rows");
    json_array_foreach(rows, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "n")), "HTTP/2 requests retried") == 0) {
            assert_string_equal(json_string_value(json_object_get(row, "g")), "Protocol");
            assert_int_equal((int)json_number_value(json_object_get(row, "a")), 3 * NSEC);
            seen = true;
        }
    }
    assert_true(seen);
    json_decref(data);
    free(text);
    json_decref(cli);
    run_free(&d);
}

/* Layers (docs/architecture.md): src/result and src/report stand below src/cli and src/server
 * and include nothing from them; src/server takes the result and the report from there, not
 * from src/cli. Fails naming the file and the include. */
static void check_includes(const char *dir, const char *const *banned)
{
    char path[1024], line[512];
    DIR *d;
    struct dirent *e;

    source_path(path, sizeof(path), dir);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        FILE *f;
        char file[1400];
        if (n < 3 || (strcmp(e->d_name + n - 2, ".c") != 0 && strcmp(e->d_name + n - 2, ".h") != 0))
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        f = fopen(file, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "#include \"", 10) != 0)
                continue;
            for (size_t i = 0; banned[i] != NULL; i++)
                if (strncmp(line + 10, banned[i], strlen(banned[i])) == 0) {
                    fclose(f);
                    closedir(d);
                    fail_msg("%s/%s includes %s (a layer above it)", dir, e->d_name, banned[i]);
                }
        }
        fclose(f);
    }
    closedir(d);
}

static void test_layers(void **state)
{
    static const char *const above_result[] = {"cli/", "server/", "report/", NULL};
    static const char *const above_report[] = {"cli/", "server/", NULL};
    static const char *const cli_result[] = {"cli/json_out.h", "cli/report.h", "cli/output.h",
                                             NULL};
    (void)state;
    check_includes("src/result", above_result);
    check_includes("src/report", above_report);
    check_includes("src/server", cli_result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_the_struct),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_every_counter_everywhere),
        cmocka_unit_test(test_zero_and_absent),
        cmocka_unit_test(test_web_names),
        cmocka_unit_test(test_cli_and_api_documents),
        cmocka_unit_test(test_report_columns),
        cmocka_unit_test(test_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
