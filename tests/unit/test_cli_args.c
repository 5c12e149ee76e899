/* `mortar run` argument parsing: flags -> options, and each bad input's message and exit code.
 * Nothing runs: run_parse_args only parses, checks and builds the request and schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* reach the statics; the other two are what cmd_run.c links against */
#include "cli/cmd_run.c"
#include "cli/json_out.c"
#include "cli/output.c"

#define MAX_ARGS 64

static run_opts_t opts;
static char err[512];

/* Parses "run" followed by the NULL-terminated arguments. */
static int parse(const char *first, ...)
{
    static char *argv[MAX_ARGS];
    int argc = 0;
    va_list ap;
    const char *a;

    run_opts_dispose(&opts);
    argv[argc++] = "run";
    va_start(ap, first);
    for (a = first; a != NULL && argc < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return run_parse_args(argc, argv, &opts, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    run_opts_dispose(&opts);
    return 0;
}

static int expected_threads(int connections)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n < connections ? (int)n : connections;
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse("http://example.com:8080/x?y", NULL), 0);
    assert_int_equal(opts.s.connections, 10);
    assert_int_equal(opts.s.threads, expected_threads(10));
    assert_int_equal(opts.s.duration_ns, 10000000000LL);
    assert_int_equal(opts.s.planned_ns, 10000000000LL);
    assert_int_equal(opts.s.timeout_ns, 2000000000LL);
    assert_false(opts.s.open_model);
    assert_null(opts.s.json_path);
    assert_false(opts.s.quiet);
    assert_false(opts.s.latency);
    assert_string_equal(opts.s.method, "GET");
    assert_string_equal(opts.s.url.host, "example.com");
    assert_string_equal(opts.s.url.port, "8080");
    assert_int_equal(opts.s.parse_flags, 0);
    assert_string_equal(opts.s.request, "GET /x?y HTTP/1.1\r\n"
                                        "Host: example.com:8080\r\n"
                                        "User-Agent: mortar/" MT_VERSION "\r\n"
                                        "Accept: */*\r\n"
                                        "\r\n");
    assert_int_equal(opts.s.request_len, strlen(opts.s.request));
}

static void test_flags(void **state)
{
    (void)state;
    assert_int_equal(parse("-c", "100", "-t", "2", "-d", "1m30s", "--timeout", "500ms", "-H",
                           "X-A: 1", "--header", "Host: other", "-m", "HEAD", "--json", "out.json",
                           "-q", "--latency", "http://h/", NULL),
                     0);
    assert_int_equal(opts.s.connections, 100);
    assert_int_equal(opts.s.threads, 2);
    assert_int_equal(opts.s.duration_ns, 90000000000LL);
    assert_int_equal(opts.s.timeout_ns, 500000000LL);
    assert_string_equal(opts.s.json_path, "out.json");
    assert_true(opts.s.quiet);
    assert_true(opts.s.latency);
    assert_int_equal(opts.s.parse_flags, MT_H1_NO_BODY);
    assert_int_equal(opts.s.nheaders, 2);
    assert_string_equal(opts.s.request, "HEAD / HTTP/1.1\r\n"
                                        "Host: other\r\n"
                                        "User-Agent: mortar/" MT_VERSION "\r\n"
                                        "Accept: */*\r\n"
                                        "X-A: 1\r\n"
                                        "\r\n");
}

static void test_long_equals_and_order(void **state)
{
    (void)state;
    /* --flag=value, options after the URL (GNU order), -L as wrk spells --latency */
    assert_int_equal(parse("http://h/", "--connections=7", "--threads=3", "--duration=2s",
                           "--timeout=0", "-L", NULL),
                     0);
    assert_int_equal(opts.s.connections, 7);
    assert_int_equal(opts.s.threads, 3);
    assert_int_equal(opts.s.duration_ns, 2000000000LL);
    assert_int_equal(opts.s.timeout_ns, 0);
    assert_true(opts.s.latency);
    /* the last of a repeated flag wins */
    assert_int_equal(parse("-c", "5", "-c", "6", "http://h/", NULL), 0);
    assert_int_equal(opts.s.connections, 6);
}

static void test_threads_default_clamped(void **state)
{
    (void)state;
    assert_int_equal(parse("-c", "1", "http://h/", NULL), 0);
    assert_int_equal(opts.s.threads, 1);
    assert_int_equal(parse("-c", "3", "-t", "3", "http://h/", NULL), 0);
    assert_int_equal(opts.s.threads, 3);
}

static void test_rate(void **state)
{
    (void)state;
    assert_int_equal(parse("-R", "100", "-d", "5s", "--max-queue", "50", "http://h/", NULL), 0);
    assert_true(opts.s.open_model);
    assert_true(opts.s.rate == 100.0);
    assert_int_equal(opts.s.planned_ns, 5000000000LL);
    assert_int_equal(opts.s.planned, 500);
    assert_int_equal(opts.s.max_queue, 50);
    assert_int_equal(opts.s.sched.total_ns, 5000000000LL);
}

static void test_schedule(void **state)
{
    (void)state;
    assert_int_equal(parse("--schedule", "const(10, 2s) const(20, 1s)", "http://h/", NULL), 0);
    assert_true(opts.s.open_model);
    assert_false(opts.s.duration_set);
    assert_int_equal(opts.s.planned_ns, 3000000000LL); /* the schedule's length */
    assert_int_equal(opts.s.planned, 40);
    assert_string_equal(opts.s.schedule_txt, "const(10, 2s) const(20, 1s)");

    /* -d cuts the schedule short */
    assert_int_equal(parse("--schedule=const(10,10s)", "-d", "2s", "http://h/", NULL), 0);
    assert_int_equal(opts.s.planned_ns, 2000000000LL);
    assert_int_equal(opts.s.planned, 20);
}

static void test_body(void **state)
{
    char path[] = "/tmp/mortar_test_body_XXXXXX";
    int fd;
    FILE *f;
    (void)state;

    assert_int_equal(parse("-m", "POST", "--body", "hello", "http://h/", NULL), 0);
    assert_int_equal(opts.s.body_len, 5);
    assert_non_null(strstr(opts.s.request, "Content-Length: 5\r\n\r\nhello"));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    fwrite("a\0b\n", 1, 4, f);
    fclose(f);
    {
        char arg[64];
        snprintf(arg, sizeof(arg), "@%s", path);
        assert_int_equal(parse("--body", arg, "-m", "PUT", "http://h/", NULL), 0);
        assert_int_equal(opts.s.body_len, 4);
        assert_memory_equal(opts.s.request + opts.s.request_len - 4, "a\0b\n", 4);
        assert_non_null(strstr(opts.s.request, "Content-Length: 4\r\n\r\n"));
    }
    unlink(path);
}

static void test_help_version(void **state)
{
    (void)state;
    assert_int_equal(parse("--help", NULL), 0);
    assert_true(opts.help);
    assert_int_equal(parse("-h", "-c", "5", NULL), 0);
    assert_true(opts.help);
    assert_int_equal(parse("--version", NULL), 0);
    assert_true(opts.version);
}

typedef struct bad_case {
    const char *args[8];
    const char *msg; /* exact, or a prefix when it ends in '*' */
} bad_case_t;

static const bad_case_t bad[] = {
    {{NULL}, "mortar run: missing URL (usage: mortar run [flags] URL)"},
    {{"-c", "0", "http://h/"}, "mortar run: -c: must be between 1 and 1000000 (got 0)"},
    {{"-c", "-5", "http://h/"}, "mortar run: -c: must be between 1 and 1000000 (got -5)"},
    {{"-c", "abc", "http://h/"}, "mortar run: -c: bad number 'abc'"},
    {{"-c", "10x", "http://h/"}, "mortar run: -c: bad number '10x'"},
    {{"-c", "2M", "http://h/"}, "mortar run: -c: must be between 1 and 1000000 (got 2M)"},
    {{"-c", "k", "http://h/"}, "mortar run: -c: bad number 'k'"},
    {{"-c", "1kk", "http://h/"}, "mortar run: -c: bad number '1kk'"},
    {{"-D", "exp", "http://h/"}, "mortar run: -D exp: wrk2's exp/norm/zipf*"},
    {{"--dist", "zipf", "http://h/"}, "mortar run: --dist zipf: wrk2's*"},
    {{"--expected-status", "200-", "http://h/"},
     "mortar run: --expected-status: col 5: a status is missing at the end (200-399)"},
    {{"--connections", "", "http://h/"}, "mortar run: --connections: bad number ''"},
    {{"-c"}, "mortar run: -c: missing value"},
    {{"http://h/", "--connections"}, "mortar run: --connections: missing value"},
    {{"-t", "0", "http://h/"}, "mortar run: -t: must be between 1 and 1024 (got 0)"},
    {{"-t", "8", "-c", "4", "http://h/"},
     "mortar run: -t: 8 threads need at least as many connections (-c 4)"},
    {{"-d", "10x", "http://h/"}, "mortar run: -d: bad duration '10x' (col 3)"},
    {{"--duration", "x", "http://h/"}, "mortar run: --duration: bad duration 'x' (col 1)"},
    {{"-d", "0", "http://h/"}, "mortar run: -d: must be more than 0 (got '0')"},
    {{"--timeout", "2q", "http://h/"}, "mortar run: --timeout: bad duration '2q' (col 2)"},
    {{"--schedule", "line(1,100,10s) lin(1,2,3s)", "http://h/"}, "mortar run: --schedule: col *"},
    {{"-R", "10", "--schedule", "const(1,1s)", "http://h/"},
     "mortar run: -R and --schedule cannot be used together"},
    {{"-R", "0", "http://h/"},
     "mortar run: -R: must be more than 0 and at most 1000000000 (got 0)"},
    {{"--rate", "fast", "http://h/"}, "mortar run: --rate: bad rate 'fast'"},
    {{"-R", "nan", "http://h/"}, "mortar run: -R: bad rate 'nan'"},
    {{"--max-queue", "5", "http://h/"},
     "mortar run: --max-queue needs the open model (-R or --schedule)"},
    {{"-H", "Foo", "http://h/"}, "mortar run: -H: header 'Foo' has no ':'"},
    {{"-H", "Fo o: x", "http://h/"},
     "mortar run: -H: header 'Fo o: x': white space in header name (col 3)"},
    {{"-H", "X: a\r\nEvil: 1", "http://h/"},
     "mortar run: -H: header 'X: a??Evil: 1': value contains CR/LF (col 5)"},
    {{"--header", "Content-Length: 3", "http://h/"},
     "mortar run: --header: Content-Length is computed from the body (use --body)"},
    {{"-m", "G T", "http://h/"},
     "mortar run: -m: bad method 'G T' (letters, digits and "
     "!#$%&'*+-.^_`|~)"},
    {{"--body", "@", "http://h/"},
     "mortar run: --body: '@' needs a file name (@FILE, or @- for stdin)"},
    {{"--body", "@/nonexistent/mortar-body", "http://h/"},
     "mortar run: --body: cannot open '/nonexistent/mortar-body': No such file or directory"},
    {{"--json", "", "http://h/"}, "mortar run: --json: empty file name (use - for stdout)"},
    {{"htp://x"}, "mortar run: bad URL 'htp://x': unsupported scheme 'htp'"},
    {{"-k", "http://example.com/"},
     "mortar run: TLS flags (-k, --cacert, --cert, --key, --tls*, --no-tls-resume) need an "
     "https:// URL"},
    {{"--streams", "4", "https://example.com/"}, "mortar run: --streams needs --http2"},
    {{"--tls", "1.1", "https://example.com/"},
     "mortar run: --tls: '1.1' is not a TLS version (1.2 or 1.3)"},
    {{"--phout-tls", "http://example.com/"}, "mortar run: --phout-tls needs an https:// URL"},
    {{"http://h/a b"},
     "mortar run: bad URL 'http://h/a b': space not allowed in path or query (percent-encode "
     "it) (col 11)"},
    {{"localhost:8080"},
     "mortar run: bad URL 'localhost:8080': missing scheme (use http://HOST[:PORT]/PATH)"},
    {{"http://a/", "http://b/"}, "mortar run: unexpected argument 'http://b/' (give one URL)"},
    {{"--foo", "http://h/"}, "mortar run: unknown option '--foo'"},
    {{"--foo=bar", "http://h/"}, "mortar run: unknown option '--foo'"},
    {{"-Z", "http://h/"}, "mortar run: unknown option '-Z'"},
    {{"-s", "/nonexistent/script.lua", "http://h/"},
     "mortar run: -s: cannot open '/nonexistent/script.lua': No such file or directory"},
    {{"http://h/", "--", "a"}, "mortar run: script arguments (after --) need a script (-s FILE)"},
};

/* wrk's spellings: -T, SI suffixes, -D fixed; k6's expected statuses */
static void test_wrk_k6_flags(void **state)
{
    (void)state;
    assert_int_equal(parse("-c", "1k", "-t", "2", "-R", "1M", "-d", "1h", "-T", "5s", "-D", "fixed",
                           "http://h/", NULL),
                     0);
    assert_int_equal(opts.s.connections, 1000);
    assert_true(opts.s.rate == 1e6);
    assert_int_equal(opts.s.duration_ns, 3600LL * 1000000000LL);
    assert_int_equal(opts.s.timeout_ns, 5000000000LL);
    assert_int_equal(parse("-R", "2.5k", "--expected-status", "200-299,404", "http://h/", NULL), 0);
    assert_true(opts.s.rate == 2500);
    assert_true(mt_status_set_has(&opts.s.expected, 404));
    assert_false(mt_status_set_has(&opts.s.expected, 302));
    assert_int_equal(parse("http://h/", NULL), 0);
    assert_true(mt_status_set_has(&opts.s.expected, 302));
}

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const *a = bad[i].args;
        size_t ml = strlen(bad[i].msg);
        bool prefix = bad[i].msg[ml - 1] == '*';
        int code = parse(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
        if (code != 2)
            fail_msg("case %zu: exit code %d (%s), want 2", i, code, err);
        if (prefix ? strncmp(err, bad[i].msg, ml - 1) != 0 : strcmp(err, bad[i].msg) != 0)
            fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err, bad[i].msg);
    }
}

static void test_schedule_error_names_step(void **state)
{
    (void)state;
    assert_int_equal(parse("--schedule", "line(1,100,10s) lin(1,2,3s)", "http://h/", NULL), 2);
    assert_non_null(strstr(err, "lin"));
}

static void test_reparse(void **state)
{
    (void)state;
    /* getopt state is reset between calls: an error then a good parse */
    assert_int_equal(parse("-Z", "http://h/", NULL), 2);
    assert_int_equal(parse("-c", "3", "http://h/", NULL), 0);
    assert_int_equal(opts.s.connections, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_flags, teardown),
        cmocka_unit_test_teardown(test_long_equals_and_order, teardown),
        cmocka_unit_test_teardown(test_threads_default_clamped, teardown),
        cmocka_unit_test_teardown(test_rate, teardown),
        cmocka_unit_test_teardown(test_schedule, teardown),
        cmocka_unit_test_teardown(test_body, teardown),
        cmocka_unit_test_teardown(test_help_version, teardown),
        cmocka_unit_test_teardown(test_bad, teardown),
        cmocka_unit_test_teardown(test_wrk_k6_flags, teardown),
        cmocka_unit_test_teardown(test_schedule_error_names_step, teardown),
        cmocka_unit_test_teardown(test_reparse, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
