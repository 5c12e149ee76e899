/* `mortar run --config`: mortar's YAML/JSON keys and Yandex.Tank load.yaml files -> the exact
 * long options cmd_run.c will parse, and each bad input's message and position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/runspec/config.c"

/* the state of one parse, freed by reset() */
static int g_argc;
static char **g_argv;
static char *g_url;
static mt__config_info_t g_info;
static mt_parse_err_t g_err;

static void reset(void)
{
    mt__config_argv_free(g_argc, g_argv);
    g_argc = 0;
    g_argv = NULL;
    free(g_url);
    g_url = NULL;
    mt__config_info_dispose(&g_info);
    memset(&g_err, 0, sizeof(g_err));
}

static int teardown(void **state)
{
    (void)state;
    reset();
    return 0;
}

static int parse_named(const char *name, const char *text)
{
    reset();
    return mt__config_parse(text, strlen(text), name, &g_argc, &g_argv, &g_url, &g_info, &g_err);
}

static int parse(const char *text)
{
    return parse_named("test.yaml", text);
}

/* Checks g_argv[from..] against the NULL-terminated list. */
static void expect_argv_from(int from, const char *first, ...)
{
    va_list ap;
    int i = from;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *), i++) {
        if (i >= g_argc)
            fail_msg("argv has %d entries; expected '%s' at %d", g_argc, s, i);
        if (strcmp(g_argv[i], s) != 0)
            fail_msg("argv[%d] is '%s'; expected '%s'", i, g_argv[i], s);
    }
    va_end(ap);
    if (i != g_argc)
        fail_msg("argv has %d entries, expected %d (argv[%d] = '%s')", g_argc, i, i, g_argv[i]);
    assert_null(g_argv[g_argc]);
}
#define expect_argv(...) expect_argv_from(0, __VA_ARGS__, NULL)

static void expect_err(int line, int col, const char *msg_part)
{
    if (g_err.line != line || g_err.col != col || strstr(g_err.msg, msg_part) == NULL)
        fail_msg("got %d:%d: %s; expected %d:%d: ...%s...", g_err.line, g_err.col, g_err.msg, line,
                 col, msg_part);
    assert_int_equal(g_argc, 0);
    assert_null(g_argv);
    assert_null(g_url);
}

static void expect_warning(const char *part)
{
    for (size_t i = 0; i < g_info.nwarnings; i++)
        if (strstr(g_info.warnings[i], part) != NULL)
            return;
    fail_msg("no warning containing '%s' (%zu warnings)", part, g_info.nwarnings);
}

/* ---- mortar's own format ---- */

static const char mortar_yaml[] = "# every key\n"
                                  "url: http://127.0.0.1:8080/api\n"
                                  "connections: 50\n"
                                  "threads: '2'\n"
                                  "duration: 30s\n"
                                  "rate: 1500.5\n"
                                  "header:\n"
                                  "  - 'Accept: application/json'\n"
                                  "  - \"X-Trace: 1\"\n"
                                  "method: POST\n"
                                  "body: '@req.json'\n"
                                  "timeout: 2\n"
                                  "max_queue: 10000\n"
                                  "tick: 1ms\n"
                                  "json: out.json\n"
                                  "phout: phout.log\n"
                                  "quiet: true\n"
                                  "latency: no\n"
                                  "ammo: ammo.txt\n"
                                  "ammo-type: uri\n"
                                  "ammo_order: random\n"
                                  "seed: 42\n"
                                  "autostop:\n"
                                  "  - time(1s500ms, 30s)\n"
                                  "  - http(5xx, 10%, 1m)\n"
                                  "threshold: [\"p(99) < 200ms\"]\n"
                                  "html: report.html\n";

static void test_mortar_yaml(void **state)
{
    (void)state;
    assert_int_equal(parse(mortar_yaml), MT_OK);
    assert_string_equal(g_url, "http://127.0.0.1:8080/api");
    expect_argv("--connections", "50", "--threads", "2", "--duration", "30s", "--rate", "1500.5",
                "--header", "Accept: application/json", "--header", "X-Trace: 1", "--method",
                "POST", "--body", "@req.json", "--timeout", "2", "--max-queue", "10000", "--tick",
                "1ms", "--json", "out.json", "--phout", "phout.log", "--quiet", "--ammo",
                "ammo.txt", "--ammo-type", "uri", "--ammo-order", "random", "--seed", "42",
                "--autostop", "time(1s500ms, 30s)", "--autostop", "http(5xx, 10%, 1m)",
                "--threshold", "p(99) < 200ms", "--html", "report.html");
    assert_int_equal(g_info.nwarnings, 0);
    /* origins: "--connections" is the key at 3:1, its value at 3:14 */
    assert_int_equal(g_info.first, 0);
    assert_int_equal(g_info.n, g_argc);
    assert_int_equal(g_info.src[0].line, 3);
    assert_int_equal(g_info.src[0].col, 1);
    assert_int_equal(g_info.src[1].line, 3);
    assert_int_equal(g_info.src[1].col, 14);
    /* the second header's value: a quoted one-line value's origin is its text, after the quote */
    assert_int_equal(g_info.src[11].line, 9);
    assert_int_equal(g_info.src[11].col, 6);
}

static void test_mortar_json(void **state)
{
    (void)state;
    assert_int_equal(parse_named("run.json",
                                 "{\n"
                                 "  \"url\": \"http://[::1]:8080/\",\n"
                                 "  \"connections\": 8,\n"
                                 "  \"duration\": \"1m\",\n"
                                 "  \"rate\": 1e3,\n"
                                 "  \"schedule\": \"line(1, 100, 10s) const(100, 20s)\",\n"
                                 "  \"header\": \"Host: example.com\",\n"
                                 "  \"max-queue\": 500,\n"
                                 "\t\"quiet\": false,\n"
                                 "  \"latency\": true,\n"
                                 "  \"body\": \"{\\\"a\\\": \\\"x\\/y\\u00e9\\\"}\",\n"
                                 "  \"json\": null\n"
                                 "}\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://[::1]:8080/");
    expect_argv("--connections", "8", "--duration", "1m", "--rate", "1e3", "--schedule",
                "line(1, 100, 10s) const(100, 20s)", "--header", "Host: example.com", "--max-queue",
                "500", "--latency", "--body", "{\"a\": \"x/y\xc3\xa9\"}");
}

static void test_mortar_one_line_json(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"connections\":4,\"header\":[\"A: 1\",\"B: 2\"],\"quiet\":true}"),
                     MT_OK);
    assert_null(g_url);
    expect_argv("--connections", "4", "--header", "A: 1", "--header", "B: 2", "--quiet");
}

static void test_mortar_nulls_and_strings(void **state)
{
    (void)state;
    /* null means "not given"; quoted text is text; a single autostop string may hold several */
    assert_int_equal(parse("url:\n"
                           "connections: ~\n"
                           "method: \"yes\"\n"
                           "body: ''\n"
                           "header: []\n"
                           "autostop: 'time(1s, 10s) http(5xx,10%,5s)\n  net(xx,1,30)'\n"
                           "uri: /a\n"),
                     MT_OK);
    assert_null(g_url);
    expect_argv("--method", "yes", "--body", "", "--autostop", "time(1s, 10s)", "--autostop",
                "http(5xx,10%,5s)", "--autostop", "net(xx,1,30)", "--uri", "/a");
}

static void test_mortar_appends(void **state)
{
    (void)state;
    /* the caller's entries stay; ours come after them */
    reset();
    g_argv = calloc(3, sizeof(char *));
    assert_non_null(g_argv);
    g_argv[0] = strdup("run");
    g_argv[1] = strdup("-q");
    g_argc = 2;
    assert_int_equal(mt__config_parse("connections: 3\nlatency: true\n", 29, "x.yaml", &g_argc,
                                      &g_argv, &g_url, &g_info, &g_err),
                     MT_OK);
    expect_argv("run", "-q", "--connections", "3", "--latency");
    assert_int_equal(g_info.first, 2);
    assert_int_equal(g_info.n, 3);
    assert_int_equal(g_info.src[2].line, 2);

    /* an error leaves them as they were */
    mt__config_info_dispose(&g_info);
    assert_int_equal(mt__config_parse("connections: 3\nbogus: 1\n", 24, "x.yaml", &g_argc, &g_argv,
                                      &g_url, &g_info, &g_err),
                     MT_EPARSE);
    expect_argv("run", "-q", "--connections", "3", "--latency");
    assert_null(g_url);

    /* without info */
    assert_int_equal(
        mt__config_parse("tick: 5ms\n", 10, NULL, &g_argc, &g_argv, &g_url, NULL, &g_err), MT_OK);
    expect_argv("run", "-q", "--connections", "3", "--latency", "--tick", "5ms");
}

/* the examples of docs/config.md give the command lines it shows */
static void test_docs_examples(void **state)
{
    (void)state;
    assert_int_equal(parse("# run.yaml\n"
                           "url: http://127.0.0.1:8080/api\n"
                           "schedule: line(1, 1000, 30s) const(1000, 1m)\n"
                           "connections: 200\n"
                           "timeout: 1s\n"
                           "header:\n"
                           "  - 'Accept: application/json'\n"
                           "  - 'Authorization: Bearer xyz'\n"
                           "autostop:\n"
                           "  - http(5xx, 10%, 5s)\n"
                           "  - quantile(99, 500ms, 10s)\n"
                           "json: result.json\n"
                           "quiet: true\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://127.0.0.1:8080/api");
#define DOC_ARGV                                                                                   \
    "--schedule", "line(1, 1000, 30s) const(1000, 1m)", "--connections", "200", "--timeout", "1s", \
        "--header", "Accept: application/json", "--header", "Authorization: Bearer xyz",           \
        "--autostop", "http(5xx, 10%, 5s)", "--autostop", "quantile(99, 500ms, 10s)", "--json",    \
        "result.json", "--quiet"
    expect_argv(DOC_ARGV);
    assert_int_equal(parse_named("run.json",
                                 "{\n"
                                 "  \"url\": \"http://127.0.0.1:8080/api\",\n"
                                 "  \"schedule\": \"line(1, 1000, 30s) const(1000, 1m)\",\n"
                                 "  \"connections\": 200,\n"
                                 "  \"timeout\": \"1s\",\n"
                                 "  \"header\": [\"Accept: application/json\", \"Authorization: "
                                 "Bearer xyz\"],\n"
                                 "  \"autostop\": [\"http(5xx, 10%, 5s)\", \"quantile(99, 500ms, "
                                 "10s)\"],\n"
                                 "  \"json\": \"result.json\",\n"
                                 "  \"quiet\": true\n"
                                 "}\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://127.0.0.1:8080/api");
    expect_argv(DOC_ARGV);
#undef DOC_ARGV
    assert_int_equal(parse("phantom:\n"
                           "  address: 203.0.113.1:80\n"
                           "  headers:\n"
                           "    - \"[Host: example.org]\"\n"
                           "    - \"[Connection: close]\"\n"
                           "  uris:\n"
                           "    - /\n"
                           "    - /buy?id=1\n"
                           "  load_profile:\n"
                           "    load_type: rps\n"
                           "    schedule: line(1, 10, 10m) const(10, 5m)\n"
                           "autostop:\n"
                           "  autostop:\n"
                           "    - http(5xx, 10%, 1m)\n"
                           "console:\n"
                           "  enabled: true\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://203.0.113.1:80/");
    expect_argv("--schedule", "line(1, 10, 10m) const(10, 5m)", "--connections", "1000",
                "--timeout", "11s", "--header", "Host: example.org", "--header",
                "Connection: close", "--uri", "/", "--uri", "/buy?id=1", "--autostop",
                "http(5xx, 10%, 1m)");
}

/* ---- Yandex.Tank load.yaml ---- */

static void test_tank_tutorial(void **state)
{
    (void)state;
    /* Tank's tutorial example, as is */
    assert_int_equal(
        parse("phantom:\n"
              "  address: 203.0.113.1:80 # [Target's address]:[target's port]\n"
              "  uris:\n"
              "    - /\n"
              "  load_profile:\n"
              "    load_type: rps # schedule load by defining requests per second\n"
              "    schedule: line(1, 10, 10m) # starting from 1rps growing linearly to 10rps\n"
              "console:\n"
              "  enabled: true # enable console output\n"
              "telegraf:\n"
              "  enabled: false # let's disable telegraf monitoring for the first time\n"),
        MT_OK);
    assert_string_equal(g_url, "http://203.0.113.1:80/");
    expect_argv("--schedule", "line(1, 10, 10m)", "--connections", "1000", "--timeout", "11s",
                "--uri", "/");
    assert_int_equal(g_info.nwarnings, 0);
}

static void test_tank_full(void **state)
{
    (void)state;
    assert_int_equal(parse("overload:\n"
                           "  enabled: true\n"
                           "  package: yandextank.plugins.DataUploader\n"
                           "  token_file: token.txt\n"
                           "uploader: {enabled: false}\n"
                           "core: {}\n"
                           "version: '1'\n"
                           "phantom:\n"
                           "  enabled: true\n"
                           "  package: yandextank.plugins.Phantom\n"
                           "  address: \"example.org\"\n"
                           "  ssl: false\n"
                           "  instances: 200\n"
                           "  timeout: 5s\n"
                           "  header_http: \"1.1\"\n"
                           "  headers:\n"
                           "    - \"[Host: example.org]\"\n"
                           "    - '[Connection: close]'\n"
                           "    - 'X-Plain: yes'\n"
                           "  uris:\n"
                           "    - /\n"
                           "    - ''\n"
                           "    - /buy?id=1\n"
                           "  load_profile:\n"
                           "    load_type: rps\n"
                           "    schedule: const(10, 1m) step(10, 50, 10, 30s)\n"
                           "      line(50, 1, 2m)\n"
                           "  buffered_seconds: 3\n"
                           "  loop: -1\n"
                           "  writelog: \"0\"\n"
                           "  phout_file: phout.log\n"
                           "autostop:\n"
                           "  enabled: true\n"
                           "  package: yandextank.plugins.Autostop\n"
                           "  autostop:\n"
                           "    - time(1s500ms, 30s)\n"
                           "    - http(5xx, 10%, 1m)\n"
                           "    - ''\n"
                           "    - quantile(95, 100ms, 10s)\n"
                           "  report_file: autostop_report.txt\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://example.org/");
    expect_argv("--schedule", "const(10, 1m) step(10, 50, 10, 30s) line(50, 1, 2m)",
                "--connections", "200", "--timeout", "5s", "--header", "Host: example.org",
                "--header", "Connection: close", "--header", "X-Plain: yes", "--uri", "/", "--uri",
                "/buy?id=1", "--phout", "phout.log", "--autostop", "time(1s500ms, 30s)",
                "--autostop", "http(5xx, 10%, 1m)", "--autostop", "quantile(95, 100ms, 10s)");
    assert_int_equal(g_info.nwarnings, 0); /* defaults and tuning keys do not warn */
}

static void test_tank_ammofile(void **state)
{
    (void)state;
    assert_int_equal(parse("phantom:\n"
                           "  address: '[2001:db8::1]:8080'\n"
                           "  ammofile: ./ammo.gz\n"
                           "  ammo_type: uripost\n"
                           "  headers: [\"[User-Agent: tank]\"]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(100,10m)'}\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://[2001:db8::1]:8080/");
    expect_argv("--schedule", "const(100,10m)", "--connections", "1000", "--timeout", "11s",
                "--header", "User-Agent: tank", "--ammo", "./ammo.gz", "--ammo-type", "uripost");

    /* Tank's default (and explicit) "phantom" is its guess between phantom and uri: auto */
    assert_int_equal(parse("phantom:\n"
                           "  address: ::1\n"
                           "  ammofile: ammo.txt\n"
                           "  ammo_type: phantom\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://[::1]/");
    expect_argv("--schedule", "const(1,1s)", "--connections", "1000", "--timeout", "11s", "--ammo",
                "ammo.txt", "--ammo-type", "auto");
    assert_int_equal(parse("phantom:\n"
                           "  address: host:81\n"
                           "  ammofile: ammo.txt\n"
                           "  uris: []\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_OK);
    expect_argv("--schedule", "const(1,1s)", "--connections", "1000", "--timeout", "11s", "--ammo",
                "ammo.txt", "--ammo-type", "auto");
}

static void test_tank_ssl(void **state)
{
    (void)state;
    assert_int_equal(parse("phantom:\n"
                           "  address: 'google.com:443'\n"
                           "  ssl: true\n"
                           "  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'line(1, 10, 10m)'}\n"),
                     MT_OK);
    assert_string_equal(g_url, "https://google.com:443/");
    assert_int_equal(g_info.nwarnings, 0);

    /* no port: Tank's AddressWizard uses 80 even with ssl, so does mortar, with a warning */
    assert_int_equal(parse("phantom:\n"
                           "  address: example.com\n"
                           "  ssl: yes\n"
                           "  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1, 1s)'}\n"),
                     MT_OK);
    assert_string_equal(g_url, "https://example.com:80/");
    expect_warning("test.yaml:2:12: phantom.address has no port");

    /* phantom.port overrides the address's */
    assert_int_equal(parse("phantom:\n"
                           "  address: '[example.com]:80'\n"
                           "  port: 8443\n"
                           "  ssl: true\n"
                           "  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1, 1s)'}\n"),
                     MT_OK);
    assert_string_equal(g_url, "https://example.com:8443/");
}

static void test_tank_instances(void **state)
{
    (void)state;
    assert_int_equal(parse("phantom:\n"
                           "  address: localhost:8080\n"
                           "  instances: 500\n"
                           "  uris:\n"
                           "    - /a\n"
                           "  load_profile:\n"
                           "    load_type: instances\n"
                           "    schedule: ' const( 20 ,1m30s ) '\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://localhost:8080/");
    expect_argv("--connections", "20", "--duration", "1m30s", "--timeout", "11s", "--uri", "/a");
    expect_warning("test.yaml:3:3: phantom.instances is not used");
}

static void test_tank_string_lists(void **state)
{
    (void)state;
    /* the one-string forms of Tank's INI days: one item per line */
    assert_int_equal(parse("phantom:\n"
                           "  address: h:1\n"
                           "  headers: |\n"
                           "    [Host: h]\n"
                           "\n"
                           "    [Connection: close]\n"
                           "  uris: \"/x\\n/y\"\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"
                           "autostop:\n"
                           "  autostop: time(1s,10s) http(5xx,10%,5s)\n"),
                     MT_OK);
    expect_argv("--schedule", "const(1,1s)", "--connections", "1000", "--timeout", "11s",
                "--header", "Host: h", "--header", "Connection: close", "--uri", "/x", "--uri",
                "/y", "--autostop", "time(1s,10s)", "--autostop", "http(5xx,10%,5s)");
}

static void test_tank_ignored(void **state)
{
    (void)state;
    assert_int_equal(parse("phantom:\n"
                           "  address: h:1\n"
                           "  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"
                           "  loop: 5\n"
                           "  writelog: all\n"
                           "  header_http: '1.0'\n"
                           "  threads: 4\n"
                           "  autocases: 0\n"
                           "  multi:\n"
                           "    - address: other:80\n"
                           "  cache_dir: /tmp\n"
                           "autostop:\n"
                           "  enabled: false\n"
                           "  autostop: [time(1s,1s)]\n"),
                     MT_OK);
    expect_argv("--schedule", "const(1,1s)", "--connections", "1000", "--timeout", "11s", "--uri",
                "/");
    assert_int_equal(g_info.nwarnings, 4); /* header_http: '1.0' is Tank's default: silent */
    expect_warning("test.yaml:5:3: phantom.loop is ignored");
    expect_warning("test.yaml:6:3: phantom.writelog is ignored");
    expect_warning("test.yaml:8:3: phantom.threads is ignored");
    expect_warning("test.yaml:10:3: phantom.multi is ignored");
}

/* ---- errors ---- */

static void test_err_yaml_syntax(void **state)
{
    (void)state;
    assert_int_equal(parse("connections: 1\nheader: [a, b\nquiet: true\n"), MT_EPARSE);
    assert_int_not_equal(g_err.line, 0);
    assert_non_null(strstr(g_err.msg, "while parsing a flow sequence at line 2"));
    assert_null(g_argv);

    assert_int_equal(parse("a: 1\n b: 2\n"), MT_EPARSE);
    expect_err(2, 3, "mapping values are not allowed");

    assert_int_equal(parse("{\"connections\" 1}\n"), MT_EPARSE);
    assert_int_equal(g_err.line, 1);

    assert_int_equal(parse("{\"connections\": 1\n"), MT_EPARSE);
    assert_int_equal(g_err.line, 2);

    assert_int_equal(parse("url: \"\xff\"\n"), MT_EPARSE);
    expect_err(1, 7, "invalid");
}

static void test_err_unknown_key(void **state)
{
    (void)state;
    assert_int_equal(parse_named("config.yaml", "url: http://h/\n"
                                                "duration: 10s\n"
                                                "conections: 10\n"),
                     MT_EPARSE);
    expect_err(3, 1, "unknown key 'conections' (did you mean 'connections'?)");
    {
        char buf[256];
        assert_string_equal(
            mt__config_format_err("config.yaml", MT_EPARSE, &g_err, buf, sizeof(buf)),
            "config.yaml:3:1: unknown key 'conections' (did you mean "
            "'connections'?)");
    }
    assert_int_equal(parse("  latnecy: true\n"), MT_EPARSE);
    expect_err(1, 3, "unknown key 'latnecy' (did you mean 'latency'?)");
    assert_int_equal(parse("zzzzzz: 1\n"), MT_EPARSE);
    expect_err(1, 1, "unknown key 'zzzzzz'");
    assert_null(strstr(g_err.msg, "did you mean"));
    assert_int_equal(parse("connections: 1\ntelegraf: {enabled: false}\n"), MT_EPARSE);
    expect_err(2, 1, "a Yandex.Tank section");
    assert_int_equal(parse("help: true\n"), MT_EPARSE);
    expect_err(1, 1, "unknown key 'help'");
    assert_int_equal(parse("? [a]\n: 1\n"), MT_EPARSE);
    expect_err(1, 3, "expected a key name, got a list");

    /* inside phantom */
    assert_int_equal(parse("phantom:\n  adress: h:80\n"), MT_EPARSE);
    expect_err(2, 3, "unknown key 'adress' in phantom (did you mean 'address'?)");
    assert_int_equal(parse("phantom:\n  address: h\n  load_profile: {load_type: rps, schedule: "
                           "const(1,1s)}\n"),
                     MT_EPARSE);
    expect_err(3, 52, "unknown key '1s)' in load_profile (quote values with commas inside { }");
    assert_int_equal(parse("phantom:\n  rps_schedule: const(1,1s)\n"), MT_EPARSE);
    expect_err(2, 3, "use load_profile");
    assert_int_equal(parse("phantom:\n  address: h\n  load_profile: {load_typ: rps}\n"), MT_EPARSE);
    expect_err(3, 18, "unknown key 'load_typ' in load_profile (did you mean 'load_type'?)");
    assert_int_equal(parse("autostop:\n  autostp: []\nphantom: {address: h, uris: [/], "
                           "load_profile: {load_type: rps, schedule: 'const(1,1s)'}}\n"),
                     MT_EPARSE);
    expect_err(2, 3, "unknown key 'autostp' in autostop (did you mean 'autostop'?)");
}

static void test_err_types(void **state)
{
    (void)state;
    assert_int_equal(parse("connections: [1, 2]\n"), MT_EPARSE);
    expect_err(1, 14, "connections: expected a whole number, got a list");
    assert_int_equal(parse("connections: ten\n"), MT_EPARSE);
    expect_err(1, 14, "connections: expected a whole number, got 'ten'");
    assert_int_equal(parse("threads: 1.5\n"), MT_EPARSE);
    expect_err(1, 10, "threads: expected a whole number, got '1.5'");
    assert_int_equal(parse("rate: 0x10\n"), MT_EPARSE);
    expect_err(1, 7, "rate: expected a number, got '0x10'");
    assert_int_equal(parse("quiet: \"true\"\n"), MT_EPARSE);
    expect_err(1, 8, "quiet: expected true or false, got a string");
    assert_int_equal(parse("latency: 1\n"), MT_EPARSE);
    expect_err(1, 10, "latency: expected true or false");
    assert_int_equal(parse("json: true\n"), MT_EPARSE);
    expect_err(1, 7, "json: expected a string, got a boolean");
    assert_int_equal(parse("header: {Host: x}\n"), MT_EPARSE);
    expect_err(1, 9, "header: expected a string or a list of strings, got a mapping");
    assert_int_equal(parse("header:\n  - 'A: 1'\n  - [x]\n"), MT_EPARSE);
    expect_err(3, 5, "header: expected a string in the list, got a list");
    assert_int_equal(parse("duration: {a: 1}\n"), MT_EPARSE);
    expect_err(1, 11, "duration: expected a duration, got a mapping");
    assert_int_equal(parse("body: \"a\\0b\"\n"), MT_EPARSE);
    expect_err(1, 7, "body: contains a NUL character");
    assert_int_equal(parse("connections: 1\nconnections: 2\n"), MT_EPARSE);
    expect_err(2, 1, "duplicate key 'connections' (first at line 1)");
    assert_int_equal(parse("max-queue: 1\nmax_queue: 2\n"), MT_EPARSE);
    expect_err(2, 1, "duplicate key 'max-queue'");

    assert_int_equal(parse("phantom:\n  address: h\n  ssl: maybe\n"), MT_EPARSE);
    expect_err(3, 8, "ssl: expected true or false");
    assert_int_equal(parse("phantom:\n  address: h\n  uris: {a: b}\n  load_profile: {load_type: "
                           "rps, schedule: 'const(1,1s)'}\n"),
                     MT_EPARSE);
    expect_err(3, 9, "uris: expected a list of strings, got a mapping");
    assert_int_equal(parse("phantom:\n  address: h\n  instances: many\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_EPARSE);
    expect_err(3, 14, "instances: expected a whole number");
    assert_int_equal(parse("phantom: [1]\n"), MT_EPARSE);
    expect_err(1, 10, "phantom: expected a mapping, got a list");
}

static void test_err_documents(void **state)
{
    (void)state;
    assert_int_equal(parse(""), MT_EPARSE);
    expect_err(1, 1, "empty");
    assert_int_equal(parse("# only a comment\n"), MT_EPARSE);
    expect_err(1, 1, "empty");
    assert_int_equal(parse("- a\n- b\n"), MT_EPARSE);
    expect_err(1, 1, "expected a mapping of settings (key: value), got a list");
    assert_int_equal(parse("connections: 1\n---\nconnections: 2\n"), MT_EPARSE);
    expect_err(3, 1, "a second YAML document");
    assert_int_equal(mt__config_parse(NULL, 0, "x", &g_argc, &g_argv, &g_url, NULL, &g_err),
                     MT_EPARSE);

    /* nesting is bounded before libyaml builds anything (its scanner is quadratic in it) */
    {
        static char deep[2 * 100000 + 16];
        size_t n = 0;
        memcpy(deep, "a: ", 3);
        n = 3;
        for (int i = 0; i < 100000; i++)
            deep[n++] = '[';
        for (int i = 0; i < 100000; i++)
            deep[n++] = ']';
        deep[n] = '\0';
        assert_int_equal(parse(deep), MT_EPARSE);
        expect_err(1, 67, "nested deeper than 64 levels");
        assert_int_equal(
            parse("a:\n - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - "
                  "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - "
                  "- - - 1\n"),
            MT_EPARSE);
        expect_err(2, 128, "nested deeper than 64 levels");
    }
}

static void test_err_tank(void **state)
{
    (void)state;
    /* instances with a ramp: the peak count for the whole length, with a warning */
    assert_int_equal(parse("phantom:\n"
                           "  address: h:80\n"
                           "  uris: [/]\n"
                           "  load_profile:\n"
                           "    load_type: instances\n"
                           "    schedule: line(1, 10, 1m) const(8, 30s)\n"),
                     MT_OK);
    expect_argv("--connections", "10", "--duration", "90000ms", "--timeout", "11s", "--uri", "/");
    assert_int_equal(g_info.nwarnings, 1);
    expect_warning("test.yaml:6:15: phantom.load_profile: mortar keeps a fixed number of "
                   "connections: the instances schedule runs as 10 connections (its peak) for "
                   "its whole 90000ms");
    /* a bad step keeps its place in the file */
    assert_int_equal(parse("phantom:\n  address: h\n  uris: [/]\n  load_profile:\n"
                           "    load_type: instances\n    schedule: 'const(1,1m) ramp(2,1m)'\n"),
                     MT_EPARSE);
    expect_err(6, 28, "unknown step 'ramp'");
    assert_int_equal(parse("phantom:\n  address: h\n  uris: [/]\n  load_profile:\n"
                           "    load_type: stpd_file\n    schedule: test.stpd\n"),
                     MT_EPARSE);
    expect_err(5, 16, "stpd_file is not supported");
    assert_int_equal(parse("phantom:\n  address: h\n  uris: [/]\n  load_profile:\n"
                           "    load_type: rpss\n    schedule: const(1,1s)\n"),
                     MT_EPARSE);
    expect_err(5, 16, "load_type: expected rps or instances, got 'rpss'");
    assert_int_equal(parse("phantom:\n  address: h\n  uris: [/]\n  load_profile:\n"
                           "    load_type: rps\n"),
                     MT_EPARSE);
    expect_err(5, 5, "schedule is required");

    assert_int_equal(parse("phantom:\n  uris: [/]\n"), MT_EPARSE);
    expect_err(1, 1, "address is required");
    /* an unusable address is an error only without a URL on the command line: deferred */
    assert_int_equal(parse("phantom:\n  address: http://h/\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_OK);
    assert_null(g_url);
    assert_int_equal(g_info.need_url.line, 2);
    assert_int_equal(g_info.need_url.col, 12);
    assert_non_null(strstr(g_info.need_url.msg, "is not host:port"));
    assert_int_equal(g_info.need_ammo.line, 0);
    assert_int_equal(parse("phantom:\n  address: h:8o\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_OK);
    assert_non_null(strstr(g_info.need_url.msg, "the port is not a number"));
    assert_int_equal(parse("phantom:\n  address: '{{ target }}'\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_OK);
    assert_int_equal(g_info.need_url.line, 2);
    /* no requests: fine when the command line gives --ammo (yandex-tank -c load.yaml ammo) */
    assert_int_equal(parse("phantom:\n  address: h:80\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_OK);
    assert_string_equal(g_url, "http://h:80/");
    assert_int_equal(g_info.need_url.line, 0);
    assert_int_equal(g_info.need_ammo.line, 1);
    assert_int_equal(g_info.need_ammo.col, 1);
    assert_non_null(strstr(g_info.need_ammo.msg, "give ammofile or uris"));
    assert_int_equal(parse("phantom:\n  address: h:80\n  ammofile: a.txt\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_EPARSE);
    expect_err(4, 3, "both uris and ammofile");
    assert_int_equal(parse("phantom:\n  address: h:80\n  ammofile: a.txt\n  ammo_type: json\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"),
                     MT_EPARSE);
    expect_err(4, 14, "ammo_type: expected phantom, uri, uripost or access");
    assert_int_equal(parse("phantom:\n  enabled: false\n  address: h\n"), MT_EPARSE);
    expect_err(2, 12, "phantom is disabled");
    assert_int_equal(parse("phantom:\n  tank_type: none\n  address: h\n"), MT_EPARSE);
    expect_err(2, 14, "tank_type: none");
    assert_int_equal(parse("phantom:\n  address: h\nconnections: 10\n"), MT_EPARSE);
    expect_err(3, 1, "'connections' is not a Yandex.Tank section");
    assert_int_equal(parse("autostop:\n  autostop: []\npandora: {enabled: true}\n"), MT_EPARSE);
    expect_err(3, 1, "a Pandora config (pandora:/pools:)");
    assert_int_equal(parse("pools:\n  - id: HTTP\n    gun: {type: http, target: 'h:80'}\n"),
                     MT_EPARSE);
    expect_err(1, 1, "a Pandora config (pandora:/pools:): mortar runs phantom: configs");
    assert_int_equal(parse("phantom: {address: a}\nphantom: {address: b}\n"), MT_EPARSE);
    expect_err(2, 1, "duplicate section 'phantom'");
}

/* ---- files ---- */

static void test_load_file(void **state)
{
    char path[] = "/tmp/mortar-test-config-XXXXXX";
    char buf[512];
    int fd;
    const char text[] = "url: http://h:1/\nconnections: 2\n";

    (void)state;
    reset();
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    assert_int_equal(mt__config_load(path, &g_argc, &g_argv, &g_url, &g_err), MT_OK);
    assert_string_equal(g_url, "http://h:1/");
    expect_argv("--connections", "2");
    unlink(path);

    reset();
    assert_int_equal(mt__config_load(path, &g_argc, &g_argv, &g_url, &g_err), MT_ESYS);
    assert_non_null(strstr(g_err.msg, "cannot open '/tmp/mortar-test-config-"));
    assert_non_null(strstr(g_err.msg, "No such file or directory"));
    assert_string_equal(mt__config_format_err(path, MT_ESYS, &g_err, buf, sizeof(buf)), g_err.msg);
    assert_null(g_argv);

    assert_int_equal(mt__config_load("/tmp", &g_argc, &g_argv, &g_url, &g_err), MT_ESYS);
    assert_non_null(strstr(g_err.msg, "cannot read '/tmp'"));

    assert_int_equal(mt__config_load_info(NULL, &g_argc, &g_argv, &g_url, &g_info, &g_err),
                     MT_EINVAL);
}

static void test_edit_distance(void **state)
{
    static const char *const names[] = {"connections", "threads", "timeout", "tick"};
    (void)state;
    assert_int_equal(cfg_distance("conections", "connections"), 1);
    assert_int_equal(cfg_distance("tiemout", "timeout"), 1); /* a transposition */
    assert_int_equal(cfg_distance("", "abc"), 3);
    assert_string_equal(mt__config_suggest("Threads", names, 4), "threads");
    assert_string_equal(mt__config_suggest("tik", names, 4), "tick");
    assert_null(mt__config_suggest("x", names, 4));
    assert_null(mt__config_suggest("verylongunrelatedkey", names, 4));
}

/* ---- Tank INI (load.ini) ---- */

static const char tank_ini[] = "; a classic Tank INI config\n"
                               "[tank]\n"
                               "artifacts_base_dir = logs\n"
                               "\n"
                               "[phantom]\n"
                               "address=target.example.com:8080\n"
                               "rps_schedule=line(1, 100, 1m) const(100, 5m)\n"
                               "headers = [Host: example.org] [Connection: close]\n"
                               "  [X-Trace: 1]\n"
                               "uris=/\n"
                               "  /buy tag1\n"
                               "\n"
                               "  /sell?x=1 tag2\n"
                               "Instances = 200\n"
                               "ssl=0\n"
                               "writelog=0\n"
                               "\n"
                               "[autostop]\n"
                               "autostop=time(1s,10s) http(5xx,10%,5s)\n"
                               "  net(xx,1,30)\n"
                               "[meta]\n"
                               "job_name: smoke\n";

static void test_tank_ini(void **state)
{
    (void)state;
    assert_true(mt__ini_detect(tank_ini, strlen(tank_ini)));
    assert_int_equal(parse_named("load.ini", tank_ini), MT_OK);
    assert_string_equal(g_url, "http://target.example.com:8080/");
    expect_argv("--schedule", "line(1, 100, 1m) const(100, 5m)", "--connections", "200",
                "--timeout", "11s", "--header", "Host: example.org", "--header",
                "Connection: close", "--header", "X-Trace: 1", "--uri", "/", "--uri", "/buy tag1",
                "--uri", "/sell?x=1 tag2", "--autostop", "time(1s,10s)", "--autostop",
                "http(5xx,10%,5s)", "--autostop", "net(xx,1,30)");
    assert_int_equal(g_info.nwarnings, 0);
    /* origins are places in the INI text: the schedule's value at 7:14 */
    assert_int_equal(g_info.src[1].line, 7);
    assert_int_equal(g_info.src[1].col, 14);
    /* the same by content, whatever the name; instances_schedule; ssl=1 */
    assert_int_equal(parse_named("cfg", "\n# c\n[phantom]\naddress = h:443\nssl = 1\n"
                                        "instances_schedule = const(5, 10s)\nuris = /\n"),
                     MT_OK);
    assert_string_equal(g_url, "https://h:443/");
    expect_argv("--insecure", "--connections", "5", "--duration", "10s", "--timeout", "11s",
                "--uri", "/");
}

static void test_tank_ini_errors(void **state)
{
    (void)state;
    assert_false(mt__ini_detect("phantom:\n  address: h\n", 22));
    assert_false(mt__ini_detect("[a, b]\n", 7));
    assert_int_equal(parse_named("x.ini", "address = h\n[phantom]\n"), MT_EPARSE);
    expect_err(1, 1, "'address' is outside any section");
    assert_int_equal(parse_named("x.ini", "[phantom]\naddress h\n"), MT_EPARSE);
    expect_err(2, 1, "expected 'key = value' or a [section], got 'address h'");
    assert_int_equal(parse_named("x.ini", "[phantom\n"), MT_EPARSE);
    expect_err(1, 1, "closing ']'");
    assert_int_equal(parse_named("x.ini", "[phantom]\n[phantom]\n"), MT_EPARSE);
    expect_err(2, 2, "section [phantom] given twice (first at line 1)");
    assert_int_equal(parse_named("x.ini", "[phantom]\nuris=/\nURIS=/a\n"), MT_EPARSE);
    expect_err(3, 1, "key 'uris' given twice in [phantom]");
    assert_int_equal(parse_named("x.ini", "; nothing\n"), MT_EPARSE);
    expect_err(1, 1, "no [section]");
    /* mapped errors keep the INI place */
    assert_int_equal(parse_named("x.ini", "[phantom]\naddress=h\nuris=/\n"), MT_EPARSE);
    expect_err(1, 2, "rps_schedule (or instances_schedule) is required");
    assert_int_equal(parse_named("x.ini", "[phantom]\naddress=h\nrps_schedul=const(1,1s)\n"),
                     MT_EPARSE);
    expect_err(3, 1, "did you mean 'rps_schedule'?");
    assert_int_equal(parse_named("x.ini", "[phantom]\naddress=h\nrps_schedule=const(1,1s)\n"
                                          "instances_schedule=const(1,1s)\nuris=/\n"),
                     MT_EPARSE);
    expect_err(4, 1, "both rps_schedule and instances_schedule");
    assert_int_equal(parse_named("x.ini", "[phantom]\naddress=h\nrps_schedule=const(1,1s)\n"
                                          "headers=[Host: a] Connection: close\nuris=/\n"),
                     MT_EPARSE);
    expect_err(4, 9, "headers: expected '[Name: value]' items");
    assert_int_equal(parse_named("x.ini", "[phantom]\naddress=h\nrps_schedule=const(1,1s)\n"
                                          "ssl=maybe\nuris=/\n"),
                     MT_EPARSE);
    expect_err(4, 5, "ssl: expected true or false");
    assert_int_equal(parse_named("x.ini", "[pandora]\nenabled=1\n"), MT_EPARSE);
    expect_err(1, 2, "a Pandora config");
}

/* YAML's headers take Tank's one-line bracket form too */
static void test_tank_bracket_headers(void **state)
{
    (void)state;
    assert_int_equal(parse("phantom:\n  address: h\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"
                           "  headers: \"[Host: a] [Connection: close]\"\n"),
                     MT_OK);
    expect_argv("--schedule", "const(1,1s)", "--connections", "1000", "--timeout", "11s",
                "--header", "Host: a", "--header", "Connection: close", "--uri", "/");
    assert_int_equal(parse("phantom:\n  address: h\n  uris: [/]\n"
                           "  load_profile: {load_type: rps, schedule: 'const(1,1s)'}\n"
                           "  headers: ['[Host: a] [Connection: close', '[X: 1]']\n"),
                     MT_EPARSE);
    expect_err(5, 13, "'[' without a closing ']'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_mortar_yaml, teardown),
        cmocka_unit_test_teardown(test_mortar_json, teardown),
        cmocka_unit_test_teardown(test_mortar_one_line_json, teardown),
        cmocka_unit_test_teardown(test_mortar_nulls_and_strings, teardown),
        cmocka_unit_test_teardown(test_mortar_appends, teardown),
        cmocka_unit_test_teardown(test_docs_examples, teardown),
        cmocka_unit_test_teardown(test_tank_tutorial, teardown),
        cmocka_unit_test_teardown(test_tank_full, teardown),
        cmocka_unit_test_teardown(test_tank_ammofile, teardown),
        cmocka_unit_test_teardown(test_tank_ssl, teardown),
        cmocka_unit_test_teardown(test_tank_instances, teardown),
        cmocka_unit_test_teardown(test_tank_string_lists, teardown),
        cmocka_unit_test_teardown(test_tank_ignored, teardown),
        cmocka_unit_test_teardown(test_err_yaml_syntax, teardown),
        cmocka_unit_test_teardown(test_err_unknown_key, teardown),
        cmocka_unit_test_teardown(test_err_types, teardown),
        cmocka_unit_test_teardown(test_err_documents, teardown),
        cmocka_unit_test_teardown(test_err_tank, teardown),
        cmocka_unit_test_teardown(test_tank_ini, teardown),
        cmocka_unit_test_teardown(test_tank_ini_errors, teardown),
        cmocka_unit_test_teardown(test_tank_bracket_headers, teardown),
        cmocka_unit_test_teardown(test_load_file, teardown),
        cmocka_unit_test_teardown(test_edit_distance, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
