/* The run spec (src/runspec): the key table against the docs, every source (flags, files,
 * JSON) and every error-location form, the file marks, and the canonical JSON round trip
 * parse(canonical(x)) == x. Nothing runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runspec/runspec.h"

static mt_rs_err_t err;
static char msg[1024];

static mt_rs_at_t flag_at(const char *flag)
{
    mt_rs_at_t at;
    memset(&at, 0, sizeof(at));
    at.src = MT_RS_SRC_FLAG;
    snprintf(at.name, sizeof(at.name), "%s", flag);
    return at;
}

/* JSON text into a fresh spec (mode), checked and built; returns the rc, msg holds the
 * formatted error. */
static int from_json(mt_runspec_t *s, unsigned mode, const char *text, const char *base)
{
    int rc;
    mt_runspec_init(s, mode);
    rc = mt_runspec_from_json_text(s, text, strlen(text), base, &err);
    if (rc == MT_OK)
        rc = mt_runspec_check(s, &err);
    if (rc == MT_OK)
        rc = mt_runspec_build(s, &err);
    msg[0] = '\0';
    if (rc != MT_OK)
        mt_rs_err_format(&err, msg, sizeof(msg));
    return rc;
}

static int json_fails(const char *text, const char *pointer, const char *detail)
{
    mt_runspec_t s;
    int rc = from_json(&s, MT_RS_SERVER, text, "/config");
    mt_runspec_dispose(&s);
    if (rc == MT_OK) {
        print_error("accepted: %s\n", text);
        return 0;
    }
    if (err.at.src != MT_RS_SRC_JSON || strcmp(err.at.name, pointer) != 0 ||
        strstr(err.msg, detail) == NULL) {
        print_error("%s: got %d '%s' '%s', want '%s' '%s'\n", text, err.at.src, err.at.name,
                    err.msg, pointer, detail);
        return 0;
    }
    return 1;
}

/* ---- the table ---- */

static char *slurp(const char *rel)
{
    char path[1024];
    const char *file = __FILE__; /* .../tests/unit/test_runspec.c */
    const char *cut = strstr(file, "tests/unit/");
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%.*s%s", (int)(cut - file), file, rel);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < MT_RSK__COUNT; i++) {
        const mt_rs_key_t *k = &mt_rs_keys[i];
        assert_int_equal(k->id, i);
        assert_ptr_equal(mt_rs_key_find(k->name), k);
        assert_non_null(k->doc);
        if (k->flag != NULL)
            assert_ptr_equal(mt_rs_key_by_flag(k->flag), k);
        if (k->marks & MT_RSK_SERVER)
            assert_null(k->flag); /* the CLI has no flag for a server-only key */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(k->name, mt_rs_keys[j].name);
    }
    assert_ptr_equal(mt_rs_key_find("max_queue"), &mt_rs_keys[MT_RSK_MAX_QUEUE]);
    assert_ptr_equal(mt_rs_key_find("agent-labels"), &mt_rs_keys[MT_RSK_AGENT_LABELS]);
    assert_null(mt_rs_key_find("conections"));
}

/* The key table's rows as docs/config.md shows them (between its "keys" markers). */
static void md_table(char *out, size_t n)
{
    static const char *const types[] = {
        [MT_RS_URL] = "URL",
        [MT_RS_INT] = "whole number",
        [MT_RS_NUM] = "number",
        [MT_RS_DUR] = "duration",
        [MT_RS_STR] = "string",
        [MT_RS_BOOL] = "true / false",
        [MT_RS_LIST] = "string, or list of strings",
        [MT_RS_CRITS] = "list of criteria, or one string of them",
    };
    size_t at = (size_t)snprintf(out, n,
                                 "| key | value | flag | default | what |\n"
                                 "|---|---|---|---|---|\n");
    for (size_t i = 0; i < MT_RSK__COUNT && at < n; i++) {
        const mt_rs_key_t *k = &mt_rs_keys[i];
        char flag[64], type[96];
        if (k->marks & MT_RSK_SERVER)
            snprintf(flag, sizeof(flag), "none: mortar serve only");
        else if (k->id == MT_RSK_SCRIPT)
            snprintf(flag, sizeof(flag), "`-s`, `--script` FILE");
        else if (k->id == MT_RSK_SCRIPT_ARGS)
            snprintf(flag, sizeof(flag), "the arguments after `--`");
        else if (k->flag == NULL)
            snprintf(flag, sizeof(flag), "the URL argument");
        else if (k->shortflag != 0)
            snprintf(flag, sizeof(flag), "`-%c`, `--%s`", k->shortflag, k->flag);
        else
            snprintf(flag, sizeof(flag), "`--%s`", k->flag);
        if ((k->type == MT_RS_INT || k->type == MT_RS_NUM) && k->max > 0 && k->max < 1e15)
            snprintf(type, sizeof(type), "%s, at most %.0f", types[k->type], k->max);
        else
            snprintf(type, sizeof(type), "%s", types[k->type]);
        at +=
            (size_t)snprintf(out + at, n - at, "| `%s` | %s | %s | %s | %s%s%s |\n", k->name, type,
                             flag, k->dflt != NULL ? k->dflt : "", k->doc,
                             (k->marks & (MT_RSK_READS | MT_RSK_READS_AT)) ? " (reads a local file)"
                             : (k->marks & MT_RSK_WRITES) ? " (writes a local file)"
                                                          : "",
                             "");
    }
}

/* docs/config.md's key table is the key table. */
static void test_docs_config_md(void **state)
{
    static char want[16384];
    char *md = slurp("docs/config.md");
    const char *start, *end;
    (void)state;
    assert_non_null(md);
    md_table(want, sizeof(want));
    start = strstr(
        md, "<!-- keys: checked against src/runspec/keys.h by tests/unit/test_runspec.c -->\n");
    end = strstr(md, "<!-- keys end -->");
    if (start != NULL)
        start = strchr(start, '\n') + 1;
    if (start == NULL || end == NULL || (size_t)(end - start) != strlen(want) ||
        memcmp(start, want, strlen(want)) != 0) {
        FILE *f = fopen("config-keys.expected.md", "w");
        if (f != NULL) {
            fputs(want, f);
            fclose(f);
        }
        fail_msg("docs/config.md's key table (between its keys markers) differs from "
                 "src/runspec/keys.h; the table it should hold is in config-keys.expected.md");
    }
    free(md);
}

/* docs/config-schema.json's properties are exactly the keys, with their types. */
static void test_docs_schema(void **state)
{
    char *text = slurp("docs/config-schema.json");
    json_error_t je;
    json_t *schema, *props, *v;
    const char *name;
    (void)state;
    assert_non_null(text);
    schema = json_loads(text, 0, &je);
    free(text);
    assert_non_null(schema);
    props = json_object_get(schema, "properties");
    assert_non_null(props);
    for (size_t i = 0; i < MT_RSK__COUNT; i++) {
        const mt_rs_key_t *k = &mt_rs_keys[i];
        json_t *p = json_object_get(props, k->name);
        const char *ref, *type;
        if (p == NULL)
            fail_msg("docs/config-schema.json has no property '%s'", k->name);
        ref = json_string_value(json_object_get(p, "$ref"));
        type = json_string_value(json_object_get(p, "type"));
        ref = ref != NULL ? ref : "";
        type = type != NULL ? type : json_object_get(p, "enum") != NULL ? "string" : "";
        switch (k->type) {
        case MT_RS_INT:
            if (strcmp(ref, "#/$defs/wholeNumber") != 0 && strcmp(type, "integer") != 0)
                fail_msg("docs/config-schema.json: '%s' is not a whole number", k->name);
            break;
        case MT_RS_NUM:
            if (strcmp(ref, "#/$defs/number") != 0)
                fail_msg("docs/config-schema.json: '%s' is not a number", k->name);
            break;
        case MT_RS_DUR:
            if (strcmp(ref, "#/$defs/duration") != 0)
                fail_msg("docs/config-schema.json: '%s' is not a duration", k->name);
            break;
        case MT_RS_BOOL:
            if (strcmp(type, "boolean") != 0)
                fail_msg("docs/config-schema.json: '%s' is not a boolean", k->name);
            break;
        case MT_RS_LIST:
        case MT_RS_CRITS:
            if (strcmp(ref, "#/$defs/strings") != 0)
                fail_msg("docs/config-schema.json: '%s' is not strings", k->name);
            break;
        default:
            if (strcmp(type, "string") != 0)
                fail_msg("docs/config-schema.json: '%s' is not a string", k->name);
        }
    }
    json_object_foreach(props, name, v)
    {
        if (mt_rs_key_find(name) == NULL)
            fail_msg("docs/config-schema.json has property '%s', which is not a key", name);
    }
    json_decref(schema);
}

/* ---- sources and where errors point ---- */

static void test_flags(void **state)
{
    mt_runspec_t s;
    mt_rs_at_t at = flag_at("--rate");
    (void)state;
    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_set(&s, &mt_rs_keys[MT_RSK_RATE], "1e12", &at, &err), MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "--rate: must be more than 0 and at most 1000000000 (got 1e12)");
    at = flag_at("-c");
    assert_int_equal(mt_runspec_set(&s, &mt_rs_keys[MT_RSK_CONNECTIONS], "2", &at, &err), MT_OK);
    at = flag_at("-t");
    assert_int_equal(mt_runspec_set(&s, &mt_rs_keys[MT_RSK_THREADS], "4", &at, &err), MT_OK);
    at = flag_at("");
    assert_int_equal(mt_runspec_set(&s, &mt_rs_keys[MT_RSK_URL], "http://h/", &at, &err), MT_OK);
    assert_int_equal(mt_runspec_check(&s, &err), MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "-t: 4 threads need at least as many connections (-c 2)");
    mt_runspec_dispose(&s);

    /* a server-only key on the command line's side */
    mt_runspec_init(&s, MT_RS_CLI);
    at = flag_at("");
    assert_int_equal(mt_runspec_set(&s, &mt_rs_keys[MT_RSK_AGENTS], "3", &at, &err), MT_EINVAL);
    assert_non_null(strstr(err.msg, "runs started through mortar serve"));
    mt_runspec_dispose(&s);
}

static void test_file(void **state)
{
    static const char yaml[] = "url: http://127.0.0.1:1/\n"
                               "connections: 4\n"
                               "rate: 1e12\n";
    static const char cross[] = "url: http://127.0.0.1:1/\n"
                                "connections: 2\n"
                                "threads: 4\n";
    static const char server[] = "url: http://127.0.0.1:1/\n"
                                 "agents: 3\n";
    static const char tank[] = "phantom:\n"
                               "  address: 127.0.0.1:8080\n"
                               "  load_profile:\n"
                               "    load_type: rps\n"
                               "    schedule: const(10, 2s)\n"
                               "  uris: [/a, /b]\n";
    static const char as_str[] = "url: http://127.0.0.1:1/\n"
                                 "autostop: time(1s,10s) http(5xx,10%,5q)\n";
    static const char th_str[] = "url: http://127.0.0.1:1/\n"
                                 "threshold: 'p(95) << 1s'\n";
    static const char tank_as[] = "phantom:\n"
                                  "  address: 127.0.0.1:8080\n"
                                  "  uris: [/]\n"
                                  "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"
                                  "autostop:\n"
                                  "  autostop:\n"
                                  "    - quantile(95,100ms,10s)\n"
                                  "    - http(5xx,10%,5q)\n";
    static const char block_as[] = "url: http://127.0.0.1:1/\n"
                                   "autostop: |\n"
                                   "  time(1s,10s)\n"
                                   "  http(5xx,10%,5q)\n";
    mt_runspec_t s;
    (void)state;

    /* a value over several lines: its start, and the column inside the criterion */
    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, block_as, strlen(block_as), "b.yaml", NULL, &err),
                     MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "b.yaml:2:11: autostop: col 15: bad window: unknown unit 'q' (use ms s "
                        "m h d w)");
    mt_runspec_dispose(&s);

    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, yaml, strlen(yaml), "load.yaml", NULL, &err),
                     MT_EINVAL);
    assert_string_equal(
        mt_rs_err_format(&err, msg, sizeof(msg)),
        "load.yaml:3:7: rate: must be more than 0 and at most 1000000000 (got 1e12)");
    mt_runspec_dispose(&s);

    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, cross, strlen(cross), "c.yaml", NULL, &err), MT_OK);
    assert_int_equal(mt_runspec_check(&s, &err), MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "c.yaml:3:10: threads: 4 threads need at least as many connections "
                        "(connections is 2)");
    mt_runspec_dispose(&s);

    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, server, strlen(server), "s.yaml", NULL, &err),
                     MT_EINVAL);
    mt_rs_err_format(&err, msg, sizeof(msg));
    assert_non_null(
        strstr(msg, "s.yaml:2:9: agents: applies to runs started through mortar serve"));
    mt_runspec_dispose(&s);

    /* an autostop or threshold error folds its column into the file position, as schedule's
     * does: the second criterion of a one-string list, a quoted threshold, a Tank list item */
    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, as_str, strlen(as_str), "a.yaml", NULL, &err),
                     MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "a.yaml:2:38: autostop: bad window: unknown unit 'q' (use ms s m h d w)");
    mt_runspec_dispose(&s);
    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, th_str, strlen(th_str), "t.yaml", NULL, &err),
                     MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "t.yaml:2:20: threshold: expected a number");
    mt_runspec_dispose(&s);
    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, tank_as, strlen(tank_as), "l.yaml", NULL, &err),
                     MT_EINVAL);
    assert_string_equal(mt_rs_err_format(&err, msg, sizeof(msg)),
                        "l.yaml:8:21: autostop: bad window: unknown unit 'q' (use ms s m h d w)");
    mt_runspec_dispose(&s);

    mt_runspec_init(&s, MT_RS_CLI);
    assert_int_equal(mt_runspec_apply_text(&s, tank, strlen(tank), "load.yaml", NULL, &err), MT_OK);
    assert_int_equal(mt_runspec_check(&s, &err), MT_OK);
    assert_string_equal(s.url_txt, "http://127.0.0.1:8080/");
    assert_string_equal(s.schedule_txt, "const(10, 2s)");
    assert_int_equal(s.nuris, 2);
    assert_int_equal(s.connections, 1000); /* Tank's instances */
    assert_int_equal(mt_runspec_build(&s, &err), MT_OK);
    assert_int_equal(s.ammo.nreqs, 2);
    mt_runspec_dispose(&s);
}

static void test_json_pointers(void **state)
{
    (void)state;
    assert_true(json_fails("{\"url\":\"http://h/\",\"rate\":1e12}", "/config/rate",
                           "must be more than 0 and at most 1000000000 (got 1e+12)"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"threads\":1024}", "/config/threads",
                           "1024 threads need at least as many connections (connections is 10)"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"threshold\":[\"p(99)<1s\",\"p(99)<<1s\"]}",
                           "/config/threshold/1", "col"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"connections\":true}", "/config/connections",
                           "expected a whole number, got a boolean"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"conections\":3}", "/config/conections",
                           "did you mean 'connections'?"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"rate\":5,\"schedule\":\"const(1,1s)\"}",
                           "/config/schedule", "rate and schedule cannot be used together"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"streams\":5}", "/config/streams",
                           "streams needs http2"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"insecure\":true}", "/config/insecure",
                           "insecure needs an https:// URL"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"tls\":\"1.3\"}", "/config/tls",
                           "tls needs an https:// URL"));
    assert_true(json_fails("{\"url\":\"ftp://h/\"}", "/config/url", "bad URL"));
    assert_true(json_fails("{\"rate\":5}", "/config/url", "the target URL is required"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"schedule\":\"lin(1,2,3s)\"}",
                           "/config/schedule", "col 1"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"header\":[\"A: b\",\"nocolon\"]}",
                           "/config/header/1", "has no ':'"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"on_agent_loss\":\"retry\"}",
                           "/config/on_agent_loss", "not error or continue"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"placement_timeout\":\"-1s\"}",
                           "/config/placement_timeout", "bad duration"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"agents\":0}", "/config/agents",
                           "must be between 1 and 1024"));
    /* the breakdown never reaches the server: refused, not failed at the end */
    assert_true(json_fails("{\"url\":\"http://h/\",\"threshold\":[\"p(99)<1s\","
                           "\"http_req_waiting: p(95)<100ms\"]}",
                           "/config/threshold/1", "is measured by mortar run only"));
    assert_true(json_fails("{\"url\":\"http://h/\",\"threshold\":\"connect: avg<5ms\"}",
                           "/config/threshold", "agents do not send it to the server"));
    {
        mt_runspec_t s;
        assert_int_equal(from_json(&s, MT_RS_CLI,
                                   "{\"url\":\"http://h/\",\"threshold\":\"http_req_waiting: "
                                   "p(95)<100ms\"}",
                                   ""),
                         MT_OK);
        mt_runspec_dispose(&s);
    }
    assert_true(json_fails("[1]", "/config", "must be a JSON object"));
    /* no "mortar run:" and no flags in API wording */
    assert_true(json_fails("{\"url\":\"http://h/\",\"max_queue\":5}", "/config/max_queue",
                           "max-queue needs the open model (rate or schedule)"));
    assert_null(strstr(err.msg, "--"));
}

/* Every key marked as reading or writing a local file is refused in a server run because of
 * the mark, whatever its name. */
static void test_file_marks(void **state)
{
    size_t nmarked = 0;
    (void)state;
    for (size_t i = 0; i < MT_RSK__COUNT; i++) {
        const mt_rs_key_t *k = &mt_rs_keys[i];
        mt_runspec_t s;
        mt_rs_at_t at = flag_at("");
        const char *v = k->type == MT_RS_BOOL ? NULL : (k->marks & MT_RSK_READS_AT) ? "@x" : "x";
        int rc;
        if (!(k->marks & (MT_RSK_READS | MT_RSK_WRITES | MT_RSK_READS_AT)))
            continue;
        nmarked++;
        mt_runspec_init(&s, MT_RS_SERVER);
        rc = mt_runspec_set(&s, k, v, &at, &err);
        mt_runspec_dispose(&s);
        assert_int_equal(rc, MT_EINVAL);
        assert_non_null(strstr(err.msg, "not allowed in a server run"));
        assert_string_equal(err.key, k->name);
    }
    assert_int_equal(nmarked, 9); /* body @, json, phout, html, ammo, cacert, cert, key, script @ */
    {
        mt_runspec_t s;
        assert_int_equal(from_json(&s, MT_RS_SERVER, "{\"url\":\"http://h/\",\"body\":\"x\"}", ""),
                         MT_OK);
        mt_runspec_dispose(&s);
    }
}

/* ---- canonical JSON ---- */

static void round_trip(unsigned mode, const char *text)
{
    mt_runspec_t a, b;
    json_t *ja, *jb;
    char *ta, *tb;

    if (from_json(&a, mode, text, "") != MT_OK)
        fail_msg("%s: %s", text, msg);
    ja = mt_runspec_to_json(&a);
    assert_non_null(ja);
    ta = json_dumps(ja, JSON_COMPACT);
    if (from_json(&b, mode, ta, "") != MT_OK)
        fail_msg("canonical %s: %s", ta, msg);
    jb = mt_runspec_to_json(&b);
    tb = json_dumps(jb, JSON_COMPACT);
    if (!json_equal(ja, jb))
        fail_msg("round trip differs:\n%s\n%s", ta, tb);
    /* the typed fields agree too */
    assert_int_equal(a.connections, b.connections);
    assert_int_equal(a.threads, b.threads);
    assert_int_equal(a.duration_ns, b.duration_ns);
    assert_int_equal(a.planned_ns, b.planned_ns);
    assert_int_equal(a.planned, b.planned);
    assert_true(a.rate == b.rate);
    assert_int_equal(a.timeout_ns, b.timeout_ns);
    assert_int_equal(a.http2, b.http2);
    assert_int_equal(a.streams, b.streams);
    assert_int_equal(a.request_len, b.request_len);
    if (a.request != NULL)
        assert_memory_equal(a.request, b.request, a.request_len);
    assert_int_equal(a.verdicts.ncrits, b.verdicts.ncrits);
    assert_int_equal(a.verdicts.nths, b.verdicts.nths);
    assert_int_equal(a.agents, b.agents);
    assert_int_equal(a.placement_timeout_ns, b.placement_timeout_ns);
    free(ta);
    free(tb);
    json_decref(ja);
    json_decref(jb);
    mt_runspec_dispose(&a);
    mt_runspec_dispose(&b);
}

static void test_canonical(void **state)
{
    mt_runspec_t s;
    json_t *j;
    (void)state;

    round_trip(MT_RS_SERVER, "{\"url\":\"http://127.0.0.1:1/\"}");
    round_trip(MT_RS_SERVER, "{\"url\":\"http://127.0.0.1:1/x?y\",\"rate\":123.25,"
                             "\"duration\":\"1m30s\",\"max_queue\":77,\"tick\":\"250us\"}");
    round_trip(MT_RS_SERVER, "{\"url\":\"http://127.0.0.1:1/\",\"schedule\":\"line(1,10,2s) "
                             "const(10,1s)\",\"connections\":3,\"threads\":2,\"timeout\":0}");
    round_trip(MT_RS_SERVER,
               "{\"url\":\"https://127.0.0.1:1/\",\"http2\":true,\"insecure\":true,"
               "\"tls\":\"1.3\",\"no_tls_resume\":true,\"method\":\"POST\",\"body\":\"hi\","
               "\"header\":[\"X-A: 1\",\"X-B: 2\"],\"autostop\":\"time(1s,10s) http(5xx,10%,5s)\","
               "\"threshold\":[\"p(99)<200ms\",\"errors<1%;abortOnFail\"]}");
    round_trip(MT_RS_SERVER, "{\"url\":\"http://127.0.0.1:1/\",\"uri\":[\"/a a\",\"/b b\"],"
                             "\"ammo_order\":\"random\",\"seed\":42,\"agents\":3,"
                             "\"agent_labels\":\"zone=a\",\"on_agent_loss\":\"continue\","
                             "\"placement_timeout\":\"2m\",\"duration\":0.5}");
    round_trip(MT_RS_CLI, "{\"url\":\"http://127.0.0.1:1/\",\"json\":\"out.json\","
                          "\"phout\":\"p.log\",\"quiet\":true,\"latency\":true}");

    /* defaults filled in; server keys only in a server spec */
    assert_int_equal(from_json(&s, MT_RS_SERVER, "{\"url\":\"http://127.0.0.1:1/\"}", ""), MT_OK);
    j = mt_runspec_to_json(&s);
    assert_int_equal(json_integer_value(json_object_get(j, "connections")), 10);
    assert_string_equal(json_string_value(json_object_get(j, "duration")), "10s");
    assert_string_equal(json_string_value(json_object_get(j, "timeout")), "2s");
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "on_agent_loss")), "error");
    assert_int_equal(json_integer_value(json_object_get(j, "agents")), 1);
    assert_null(json_object_get(j, "threads")); /* the machine's CPUs where it runs */
    json_decref(j);
    mt_runspec_dispose(&s);
    assert_int_equal(from_json(&s, MT_RS_CLI, "{\"url\":\"http://127.0.0.1:1/\"}", ""), MT_OK);
    j = mt_runspec_to_json(&s);
    assert_null(json_object_get(j, "agents"));
    json_decref(j);
    mt_runspec_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_docs_config_md),
        cmocka_unit_test(test_docs_schema), cmocka_unit_test(test_flags),
        cmocka_unit_test(test_file),        cmocka_unit_test(test_json_pointers),
        cmocka_unit_test(test_file_marks),  cmocka_unit_test(test_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
