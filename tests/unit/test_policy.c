/* The target policy (server/policy.h): networks (IPv4, IPv6, host bits, prefixes), address
 * normalisation (IPv4-mapped, NAT64), host patterns, the deny list winning over allow lists,
 * names denied before any lookup, ports, the policy file's errors with line and column, the
 * canonical JSON round trip, and run configs against request rules and role limits (no name
 * is resolved here: resolve = 0, and every address is built by hand). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "server/policy.h"

static mt__cidr_t cidr(const char *t)
{
    mt__cidr_t c;
    char why[200] = "";
    if (mt__cidr_parse(t, &c, why, sizeof why) != 0)
        fail_msg("%s: %s", t, why);
    return c;
}

static void norm(const char *addr, uint8_t out[16])
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1)
        assert_int_equal(mt__addr_norm((struct sockaddr *)&a4, sizeof a4, out), 0);
    else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1)
        assert_int_equal(mt__addr_norm((struct sockaddr *)&a6, sizeof a6, out), 0);
    else
        fail_msg("not an address: %s", addr);
}

static int in(const char *net, const char *addr)
{
    mt__cidr_t c = cidr(net);
    uint8_t a[16];
    norm(addr, a);
    return mt__cidr_match(&c, a);
}

static void test_cidr(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.255.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("169.254.0.0/16", "169.254.169.254"));
    assert_true(in("192.0.2.1", "192.0.2.1"));
    assert_false(in("192.0.2.1", "192.0.2.2"));
    assert_true(in("0.0.0.0/0", "203.0.113.9"));
    assert_false(in("0.0.0.0/0", "2001:db8::1")); /* an IPv4 /0 is all of IPv4 only */
    assert_true(in("fe80::/10", "fe80::1"));
    assert_true(in("fe80::/10", "febf::1"));
    assert_false(in("fe80::/10", "fec0::1"));
    assert_true(in("::/0", "2001:db8::1"));
    assert_true(in("::/0", "127.0.0.1")); /* IPv4 is inside IPv6's ::ffff:0:0/96 */
    assert_true(in("127.0.0.2/31", "127.0.0.3"));
    assert_false(in("127.0.0.2/31", "127.0.0.4"));
    /* IPv4-mapped and NAT64 are the IPv4 address they carry */
    assert_true(in("169.254.0.0/16", "::ffff:169.254.169.254"));
    assert_true(in("169.254.0.0/16", "64:ff9b::a9fe:a9fe"));
    assert_true(in("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_false(in("::1/128", "127.0.0.1"));

    mt__cidr_t c;
    char why[200];
    const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "fe80::/129", "10.0.0.0/",
                         "10.0.0.0/x", "banana",      "",           "10.0.0.0/-1",
                         "fe80::1/10", NULL};
    for (const char **b = bad; *b; b++) {
        why[0] = '\0';
        assert_int_equal(mt__cidr_parse(*b, &c, why, sizeof why), -1);
        assert_true(why[0] != '\0');
    }
    mt__cidr_parse("10.0.0.1/8", &c, why, sizeof why);
    assert_non_null(strstr(why, "bits set after the prefix"));
}

static void test_host_match(void **state)
{
    (void)state;
    assert_true(mt__host_match("api.example.com", "API.example.com"));
    assert_true(mt__host_match("api.example.com", "api.example.com."));
    assert_false(mt__host_match("api.example.com", "xapi.example.com"));
    assert_true(mt__host_match("*.example.com", "a.b.example.com"));
    assert_false(mt__host_match("*.example.com", "example.com"));
    assert_false(mt__host_match("*.example.com", "badexample.com"));
    assert_false(mt__host_match("*.example.com", "example.com.evil"));
}

static mt__policy_t *parse(const char *text)
{
    char err[512] = "";
    mt__policy_t *p = mt__policy_parse(text, strlen(text), "p.yaml", err, sizeof err);
    if (p == NULL)
        fail_msg("%s", err);
    return p;
}

static int addr_ok(const mt__policy_t *p, const char *host, const char *addr)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    char why[300];
    if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1)
        return mt__policy_check_addr(p, host, (struct sockaddr *)&a4, sizeof a4, why, sizeof why);
    assert_int_equal(inet_pton(AF_INET6, addr, &a6.sin6_addr), 1);
    return mt__policy_check_addr(p, host, (struct sockaddr *)&a6, sizeof a6, why, sizeof why);
}

static void test_default(void **state)
{
    (void)state;
    mt__policy_t *p = mt__policy_default();
    assert_non_null(p);
    const char *refused[] = {"169.254.169.254",
                             "0.0.0.0",
                             "0.1.2.3",
                             "100.100.100.200",
                             "224.0.0.1",
                             "255.255.255.255",
                             "fe80::1",
                             "fd00:ec2::254",
                             "::",
                             "ff02::1",
                             "::ffff:169.254.169.254",
                             "64:ff9b::a9fe:a9fe",
                             NULL};
    for (const char **a = refused; *a; a++)
        assert_int_equal(addr_ok(p, "h", *a), -1);
    const char *allowed[] = {"127.0.0.1", "::1", "10.0.0.1", "192.168.1.1", "203.0.113.5", NULL};
    for (const char **a = allowed; *a; a++)
        assert_int_equal(addr_ok(p, "h", *a), 0);
    char why[300];
    assert_int_equal(
        mt__policy_check_name(p, "http", "metadata.google.internal", 80, why, sizeof why), -1);
    assert_int_equal(
        mt__policy_check_name(p, "http", "METADATA.google.internal.", 80, why, sizeof why), -1);
    assert_int_equal(mt__policy_check_name(p, "https", "example.com", 8443, why, sizeof why), 0);
    /* the canonical JSON reads back as the same policy */
    json_t *j = mt__policy_to_json(p, 1, NULL);
    char pointer[200], detail[200];
    mt__policy_t *q = mt__policy_from_json(j, pointer, detail, sizeof pointer);
    assert_non_null(q);
    json_t *k = mt__policy_to_json(q, 1, NULL);
    assert_true(json_equal(j, k));
    json_t *part = mt__policy_to_json(p, 0, "viewer");
    assert_int_equal(json_object_size(json_object_get(part, "limits")), 0);
    json_decref(part);
    json_decref(j);
    json_decref(k);
    mt__policy_unref(q);
    mt__policy_unref(p);
}

static void test_allow_lists(void **state)
{
    (void)state;
    mt__policy_t *p = parse("destinations:\n"
                            "  hosts: [localhost, '*.staging.example']\n"
                            "  cidrs: [10.1.0.0/16, '2001:db8::/32']\n"
                            "  ports: [80, '8000-8999']\n"
                            "  deny_cidrs: [10.1.2.0/24]\n");
    assert_int_equal(addr_ok(p, "x", "10.1.9.9"), 0);
    assert_int_equal(addr_ok(p, "x", "10.2.0.1"), -1);
    assert_int_equal(addr_ok(p, "x", "2001:db8::5"), 0);
    assert_int_equal(addr_ok(p, "localhost", "127.0.0.1"), 0);
    assert_int_equal(addr_ok(p, "a.staging.example", "192.0.2.7"), 0);
    /* the deny list wins over both allow lists */
    assert_int_equal(addr_ok(p, "x", "10.1.2.3"), -1);
    assert_int_equal(addr_ok(p, "localhost", "10.1.2.3"), -1);
    /* deny_cidrs replaced the default list: link-local is the admin's call now */
    assert_int_equal(addr_ok(p, "localhost", "169.254.169.254"), 0);
    char why[300];
    assert_int_equal(mt__policy_check_name(p, "http", "h", 80, why, sizeof why), 0);
    assert_int_equal(mt__policy_check_name(p, "http", "h", 8500, why, sizeof why), 0);
    assert_int_equal(mt__policy_check_name(p, "http", "h", 9000, why, sizeof why), -1);
    assert_non_null(strstr(why, "port 9000"));
    mt__policy_unref(p);

    p = parse("{\"destinations\": {\"schemes\": [\"https\"]}}");
    assert_int_equal(mt__policy_check_name(p, "http", "h", 80, why, sizeof why), -1);
    assert_non_null(strstr(why, "scheme http"));
    mt__policy_unref(p);
}

static void expect_err(const char *text, const char *want)
{
    char err[512] = "";
    mt__policy_t *p = mt__policy_parse(text, strlen(text), "p.yaml", err, sizeof err);
    assert_null(p);
    if (strstr(err, want) == NULL)
        fail_msg("want '%s', got '%s'", want, err);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_err("destinations:\n  cidrs: [10.0.0.0/8, 10.0.0.1/8]\n",
               "p.yaml:2:23: /destinations/cidrs/1: '10.0.0.1/8' has bits set");
    expect_err("limits:\n  runner:\n    rate: -1\n",
               "p.yaml:3:11: /limits/runner/rate: 'rate' must be a number");
    expect_err("limits:\n  viewer: {}\n", "p.yaml:2:11: /limits/viewer: unknown key 'viewer'");
    expect_err("limits: {runner: {duration: forever}}\n", "/limits/runner/duration");
    expect_err("destinations: {ports: [0]}\n", "/destinations/ports/0");
    expect_err("destinations: {ports: ['9-1']}\n", "/destinations/ports/0");
    expect_err("destinations: {schemes: [ftp]}\n", "/destinations/schemes/0");
    expect_err("destinations: {hosts: ['a b']}\n", "/destinations/hosts/0");
    expect_err("requests: {methods: ['GE T']}\n", "/requests/methods/0");
    expect_err("requests: {max_body: 1.5}\n", "/requests/max_body");
    expect_err("destinations: {\n", "p.yaml:2:1: ");
    expect_err("a: 1\na: 2\n", "given twice");
    expect_err("[1, 2]\n", "must be an object");
    expect_err("x: &a [*a]\n", "p.yaml:");
}

static void test_config(void **state)
{
    (void)state;
    mt__policy_t *p = parse("requests:\n"
                            "  methods: [GET, POST]\n"
                            "  deny_headers: [X-Internal-Auth]\n"
                            "  max_body: 4\n"
                            "limits:\n"
                            "  runner: {rate: 100, connections: 20, threads: 2, duration: 1m}\n");
    struct {
        const char *cfg, *role, *pointer, *detail;
    } cases[] = {
        {"{\"url\":\"http://h/\"}", "runner", NULL, NULL},
        {"{\"url\":\"http://h/\",\"rate\":101}", "runner", "/config/rate", "at most 100"},
        {"{\"url\":\"http://h/\",\"rate\":101}", "admin", NULL, NULL},
        {"{\"url\":\"http://h/\",\"schedule\":\"line(1,200,10s)\"}", "runner", "/config/schedule",
         "at most 100"},
        {"{\"url\":\"http://h/\",\"connections\":21}", "runner", "/config/connections", "20"},
        {"{\"url\":\"http://h/\",\"threads\":3}", "runner", "/config/threads", "at most 2"},
        {"{\"url\":\"http://h/\",\"duration\":\"61s\"}", "runner", "/config/duration", "1m"},
        {"{\"url\":\"http://h/\",\"method\":\"PUT\"}", "admin", "/config/method", "PUT"},
        {"{\"url\":\"http://h/\",\"header\":[\"A: b\",\"x-internal-auth: 1\"]}", "admin",
         "/config/header/1", "X-Internal-Auth"},
        {"{\"url\":\"http://h/\",\"method\":\"POST\",\"body\":\"12345\"}", "admin", "/config/body",
         "at most 4"},
        {"{\"url\":\"http://metadata.google.internal/\"}", "admin", "/config/url",
         "metadata.google.internal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *cfg = json_loads(cases[i].cfg, 0, NULL);
        assert_non_null(cfg);
        char pointer[256] = "", detail[512] = "";
        int rc = mt__policy_check_config(p, cases[i].role, cfg, 0, "/config", pointer, detail,
                                         sizeof pointer);
        json_decref(cfg);
        if (cases[i].pointer == NULL) {
            if (rc != 0)
                fail_msg("%s: refused: %s: %s", cases[i].cfg, pointer, detail);
            continue;
        }
        if (rc == 0 || strcmp(pointer, cases[i].pointer) != 0 ||
            strstr(detail, cases[i].detail) == NULL)
            fail_msg("%s: got %d %s: %s", cases[i].cfg, rc, pointer, detail);
    }
    mt__policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr),        cmocka_unit_test(test_host_match),
        cmocka_unit_test(test_default),     cmocka_unit_test(test_allow_lists),
        cmocka_unit_test(test_file_errors), cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
