/* The target policy (policy.h, docs/security.md, ADR 0026). */
#include "server/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "mortar/error.h"
#include "mortar/schedule.h"
#include "proto/url.h"
#include "runspec/runspec.h"

#define PL_MAX_LIST 1024 /* entries of one list */

typedef struct pl_ports {
    uint16_t lo, hi;
} pl_ports_t;

enum { PL_RUNNER, PL_ADMIN, PL_NROLES };
static const char *const pl_role_names[PL_NROLES] = {"runner", "admin"};

struct mt__policy {
    atomic_int refs;
    char **schemes;
    size_t nschemes;
    char **hosts; /* allowed names/patterns */
    size_t nhosts;
    mt__cidr_t *cidrs; /* allowed networks */
    size_t ncidrs;
    char **cidr_txt;
    pl_ports_t *ports;
    size_t nports;
    char **deny_hosts;
    size_t ndeny_hosts;
    mt__cidr_t *deny;
    size_t ndeny;
    char **deny_txt;
    char **methods; /* NULL: any */
    size_t nmethods;
    bool any_method;
    char **deny_headers;
    size_t ndeny_headers;
    int64_t max_body; /* 0: none */
    mt__policy_limits_t limits[PL_NROLES];
};

/* ---- defaults ---------------------------------------------------------------------------- */

static const char *const pl_def_schemes[] = {"http", "https", NULL};
/* Networks no run or webhook may reach whatever else is allowed: "this network" (0.0.0.0
 * connects to the local host), link-local (cloud metadata 169.254.169.254 among it), Alibaba
 * Cloud's metadata, multicast, reserved and broadcast, the unspecified IPv6 address, IPv6
 * link-local, AWS's IPv6 metadata, IPv6 multicast. */
static const char *const pl_def_deny[] = {
    "0.0.0.0/8", "169.254.0.0/16", "100.100.100.200/32", "224.0.0.0/4", "240.0.0.0/4",
    "::/128",    "fe80::/10",      "fd00:ec2::254/128",  "ff00::/8",    NULL};
static const char *const pl_def_deny_hosts[] = {"metadata.google.internal",
                                                "metadata.goog",
                                                "metadata",
                                                "instance-data",
                                                "*.metadata.google.internal",
                                                "instance-data.ec2.internal",
                                                NULL};
static const char *const pl_def_methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                             "PATCH", "DELETE", "OPTIONS", NULL};
/* hop-by-hop headers and those that smuggle or forward: the engine frames each request
 * itself, and a run must not speak for a proxy */
static const char *const pl_def_deny_headers[] = {
    "Connection",          "Keep-Alive",       "Transfer-Encoding",  "TE", "Trailer", "Upgrade",
    "Proxy-Authorization", "Proxy-Connection", "Proxy-Authenticate", NULL};

#define PL_NS_PER_S 1000000000LL
static const mt__policy_limits_t pl_def_limits[PL_NROLES] = {
    /* runner: a day, a million requests a second, ten thousand connections */
    {1e6, 10000, 64, 24 * 3600 * PL_NS_PER_S, 10},
    /* admin: the run spec's own ranges */
    {0, 0, 0, 0, 0},
};

/* ---- small helpers ------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int pl_why(char *why, size_t n, const char *fmt, ...)
{
    if (why != NULL && n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void pl_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static char **pl_strv_dup(const char *const *src, size_t *n)
{
    size_t k = 0;
    while (src[k])
        k++;
    char **v = calloc(k + 1, sizeof *v);
    for (size_t i = 0; v && i < k; i++)
        if ((v[i] = strdup(src[i])) == NULL) {
            pl_strv_free(v, i);
            return NULL;
        }
    *n = v ? k : 0;
    return v;
}

static void pl_free(mt__policy_t *p)
{
    if (p == NULL)
        return;
    pl_strv_free(p->schemes, p->nschemes);
    pl_strv_free(p->hosts, p->nhosts);
    free(p->cidrs);
    pl_strv_free(p->cidr_txt, p->ncidrs);
    free(p->ports);
    pl_strv_free(p->deny_hosts, p->ndeny_hosts);
    free(p->deny);
    pl_strv_free(p->deny_txt, p->ndeny);
    pl_strv_free(p->methods, p->nmethods);
    pl_strv_free(p->deny_headers, p->ndeny_headers);
    free(p);
}

mt__policy_t *mt__policy_ref(mt__policy_t *p)
{
    if (p)
        atomic_fetch_add(&p->refs, 1);
    return p;
}

void mt__policy_unref(mt__policy_t *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        pl_free(p);
}

/* ---- addresses ------------------------------------------------------------------------------ */

int mt__cidr_parse(const char *text, mt__cidr_t *out, char *why, size_t n)
{
    char buf[64];
    memset(out, 0, sizeof *out);
    /* only the characters of an address (the text is echoed in messages below) */
    if (text == NULL || strlen(text) >= sizeof buf || text[0] == '\0' ||
        strspn(text, "0123456789abcdefABCDEF.:/") != strlen(text))
        return pl_why(why, n, "not an IPv4 or IPv6 network (ADDRESS/BITS)");
    snprintf(buf, sizeof buf, "%s", text);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        if (*b == '\0' || strspn(b, "0123456789") != strlen(b) || strlen(b) > 3)
            return pl_why(why, n, "'%s': the prefix length is not a number", text);
        bits = strtol(b, NULL, 10);
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        if (bits > 32)
            return pl_why(why, n, "'%s': an IPv4 prefix is at most 32 bits", text);
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &a4, 4);
        out->bits = 96 + (int)(bits < 0 ? 32 : bits);
    } else if (inet_pton(AF_INET6, buf, &a6) == 1) {
        if (bits > 128)
            return pl_why(why, n, "'%s': an IPv6 prefix is at most 128 bits", text);
        memcpy(out->addr, &a6, 16);
        out->bits = (int)(bits < 0 ? 128 : bits);
    } else {
        return pl_why(why, n, "'%s' is not an IPv4 or IPv6 network (ADDRESS/BITS)", text);
    }
    for (int i = out->bits; i < 128; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return pl_why(why, n, "'%s' has bits set after the prefix (did you mean a /%d?)", text,
                          out->bits >= 96 && inet_pton(AF_INET, buf, &a4) == 1 ? 32 : 128);
    return 0;
}

int mt__cidr_match(const mt__cidr_t *c, const uint8_t addr[16])
{
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

int mt__addr_norm(const struct sockaddr *sa, socklen_t len, uint8_t out[16])
{
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    memset(out, 0, 16);
    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        if (memcmp(out, nat64, 12) == 0) { /* the IPv4 address a NAT64 gateway reaches */
            memset(out, 0, 10);
            out[10] = out[11] = 0xff;
        }
        return 0;
    }
    return -1;
}

static void pl_addr_text(const uint8_t a[16], char *buf, size_t n)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0)
        inet_ntop(AF_INET, a + 12, buf, (socklen_t)n);
    else
        inet_ntop(AF_INET6, a, buf, (socklen_t)n);
}

int mt__host_match(const char *pattern, const char *host)
{
    size_t pl = strlen(pattern), hl = strlen(host);
    if (pl && pattern[pl - 1] == '.')
        pl--;
    if (hl && host[hl - 1] == '.')
        hl--;
    if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        size_t sl = pl - 1; /* ".suffix" */
        return hl > sl && strncasecmp(host + hl - sl, pattern + 1, sl) == 0;
    }
    return pl == hl && strncasecmp(pattern, host, pl) == 0;
}

/* ---- checks ---------------------------------------------------------------------------------- */

int mt__policy_check_name(const mt__policy_t *p, const char *scheme, const char *host, int port,
                          char *why, size_t n)
{
    bool ok = false;
    for (size_t i = 0; i < p->nschemes; i++)
        ok |= strcasecmp(p->schemes[i], scheme) == 0;
    if (!ok)
        return pl_why(why, n, "the scheme %s is not allowed by the target policy", scheme);
    ok = p->nports == 0;
    for (size_t i = 0; i < p->nports; i++)
        ok |= port >= p->ports[i].lo && port <= p->ports[i].hi;
    if (!ok)
        return pl_why(why, n, "the port %d is not allowed by the target policy", port);
    for (size_t i = 0; i < p->ndeny_hosts; i++)
        if (mt__host_match(p->deny_hosts[i], host))
            return pl_why(why, n, "the host %s is denied by the target policy (%s)", host,
                          p->deny_hosts[i]);
    return 0;
}

int mt__policy_check_addr(const mt__policy_t *p, const char *host, const struct sockaddr *sa,
                          socklen_t len, char *why, size_t n)
{
    uint8_t a[16];
    char txt[INET6_ADDRSTRLEN];
    if (mt__addr_norm(sa, len, a) != 0)
        return pl_why(why, n, "%s resolved to an address that is not IPv4 or IPv6", host);
    pl_addr_text(a, txt, sizeof txt);
    for (size_t i = 0; i < p->ndeny; i++)
        if (mt__cidr_match(&p->deny[i], a))
            return pl_why(why, n, "%s (%s) is in the denied network %s", host, txt, p->deny_txt[i]);
    if (p->nhosts == 0 && p->ncidrs == 0)
        return 0;
    for (size_t i = 0; i < p->nhosts; i++)
        if (mt__host_match(p->hosts[i], host))
            return 0;
    for (size_t i = 0; i < p->ncidrs; i++)
        if (mt__cidr_match(&p->cidrs[i], a))
            return 0;
    return pl_why(why, n,
                  "%s (%s) is not among the allowed hosts and networks of the target policy", host,
                  txt);
}

int mt__policy_check_url(const mt__policy_t *p, const char *url, char *why, size_t n)
{
    mt_url_t u;
    mt_parse_err_t perr = {0};
    if (mt_url_parse(url, &u, &perr) != MT_OK)
        return pl_why(why, n, "not a URL: %s", perr.msg);
    int rc = mt__policy_check_name(p, u.tls ? "https" : "http", u.host, u.port_num, why, n);
    if (rc == 0) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int g = getaddrinfo(u.host, u.port, &hints, &res);
        if (g != 0 || res == NULL)
            rc = pl_why(why, n, "the host %s does not resolve (%s), so it cannot be checked",
                        u.host, gai_strerror(g));
        for (struct addrinfo *ai = res; rc == 0 && ai; ai = ai->ai_next)
            rc = mt__policy_check_addr(p, u.host, ai->ai_addr, ai->ai_addrlen, why, n);
        if (res)
            freeaddrinfo(res);
    }
    mt_url_dispose(&u);
    return rc;
}

int mt__policy_guard_cb(const struct sockaddr *sa, unsigned len, void *ud)
{
    mt__policy_guard_t *g = ud;
    return mt__policy_check_addr(g->policy, g->host, sa, (socklen_t)len, g->why, sizeof g->why);
}

const mt__policy_limits_t *mt__policy_limits(const mt__policy_t *p, const char *role)
{
    static const mt__policy_limits_t none = {0, 0, 0, 0, 0};
    for (int i = 0; i < PL_NROLES; i++)
        if (role && strcmp(role, pl_role_names[i]) == 0)
            return &p->limits[i];
    return &none;
}

static double pl_peak_rate(const mt_sched_t *s)
{
    double m = 0;
    for (size_t i = 0; i < s->nsteps; i++)
        m = fmax(m, fmax(s->steps[i].a, s->steps[i].b));
    return m;
}

static void pl_dur_text(int64_t ns, char *buf, size_t n)
{
    if (ns % (3600 * PL_NS_PER_S) == 0)
        snprintf(buf, n, "%lldh", (long long)(ns / (3600 * PL_NS_PER_S)));
    else if (ns % (60 * PL_NS_PER_S) == 0)
        snprintf(buf, n, "%lldm", (long long)(ns / (60 * PL_NS_PER_S)));
    else if (ns % PL_NS_PER_S == 0)
        snprintf(buf, n, "%llds", (long long)(ns / PL_NS_PER_S));
    else if (ns % 1000000 == 0)
        snprintf(buf, n, "%lldms", (long long)(ns / 1000000));
    else if (ns % 1000 == 0)
        snprintf(buf, n, "%lldus", (long long)(ns / 1000));
    else
        snprintf(buf, n, "%lld.%09llds", (long long)(ns / PL_NS_PER_S),
                 (long long)(ns % PL_NS_PER_S));
}

#define PL_FAIL(key, ...)                                                                          \
    do {                                                                                           \
        snprintf(pointer, n, "%s/%s", base, key);                                                  \
        snprintf(detail, n, __VA_ARGS__);                                                          \
        rc = -1;                                                                                   \
        goto out;                                                                                  \
    } while (0)

int mt__policy_check_config(const mt__policy_t *p, const char *role, const json_t *config,
                            int resolve, const char *base, char *pointer, char *detail, size_t n)
{
    mt_runspec_t s;
    mt_rs_err_t rerr;
    int rc = 0;
    char why[512];
    mt_runspec_init(&s, MT_RS_SERVER);
    if (mt_runspec_from_json(&s, config, base, &rerr) != MT_OK ||
        mt_runspec_check(&s, &rerr) != MT_OK) {
        snprintf(pointer, n, "%s", rerr.at.name[0] ? rerr.at.name : base);
        snprintf(detail, n, "%s", rerr.msg);
        rc = -1;
        goto out;
    }
    /* the destination */
    if (mt__policy_check_name(p, s.url.tls ? "https" : "http", s.url.host, s.url.port_num, why,
                              sizeof why) != 0)
        PL_FAIL("url", "%s", why);
    if (resolve && mt__policy_check_url(p, s.url_txt, why, sizeof why) != 0)
        PL_FAIL("url", "%s", why);
    /* the requests */
    if (!p->any_method) {
        bool ok = false;
        for (size_t i = 0; i < p->nmethods; i++)
            ok |= strcmp(p->methods[i], s.method) == 0;
        if (!ok)
            PL_FAIL("method", "the method %.64s is not allowed by the target policy", s.method);
    }
    for (size_t i = 0; i < s.nheaders; i++) {
        const char *h = s.header_txt[i];
        size_t hl = strcspn(h, ":");
        while (hl > 0 && (h[hl - 1] == ' ' || h[hl - 1] == '\t'))
            hl--;
        for (size_t j = 0; j < p->ndeny_headers; j++)
            if (strlen(p->deny_headers[j]) == hl && strncasecmp(p->deny_headers[j], h, hl) == 0) {
                char k[32];
                snprintf(k, sizeof k, "header/%zu", i);
                if (s.nheaders == 1 && !json_is_array(json_object_get(config, "header")))
                    snprintf(k, sizeof k, "header");
                PL_FAIL(k, "the header %s is denied by the target policy", p->deny_headers[j]);
            }
    }
    if (p->max_body > 0 && s.body_txt && (int64_t)strlen(s.body_txt) > p->max_body)
        PL_FAIL("body", "the body is %zu bytes; the target policy allows at most %lld",
                strlen(s.body_txt), (long long)p->max_body);
    /* the role's limits */
    const mt__policy_limits_t *l = mt__policy_limits(p, role);
    char lim[32];
    if (l->rate > 0 && s.open_model && pl_peak_rate(&s.sched) > l->rate)
        PL_FAIL(s.schedule_txt ? "schedule" : "rate",
                "a %s may send at most %g requests/s (the target policy's limit); this run "
                "would send %g",
                role, l->rate, pl_peak_rate(&s.sched));
    if (l->connections > 0 && s.connections > l->connections)
        PL_FAIL("connections", "a %s may open at most %lld connections (the target policy's limit)",
                role, (long long)l->connections);
    if (l->threads > 0 && s.threads_set && s.threads > l->threads)
        PL_FAIL("threads", "a %s may use at most %lld threads (the target policy's limit)", role,
                (long long)l->threads);
    if (l->duration_ns > 0 && (s.planned_ns > l->duration_ns || s.planned_ns <= 0)) {
        pl_dur_text(l->duration_ns, lim, sizeof lim);
        PL_FAIL(s.schedule_txt && !s.duration_set ? "schedule" : "duration",
                "a %s's run may last at most %s (the target policy's limit)", role, lim);
    }
out:
    mt_runspec_dispose(&s);
    return rc;
}

/* ---- JSON in ------------------------------------------------------------------------------ */

typedef struct pl_err {
    char *pointer, *detail;
    size_t n;
} pl_err_t;

__attribute__((format(printf, 3, 4))) static int pl_fail(pl_err_t *e, const char *pointer,
                                                         const char *fmt, ...)
{
    snprintf(e->pointer, e->n, "%s", pointer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, e->n, fmt, ap);
    va_end(ap);
    return -1;
}

static int pl_keys(const json_t *o, const char *const *allowed, const char *base, pl_err_t *e)
{
    char p[300];
    if (!json_is_object(o))
        return pl_fail(e, base, "must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, k) == 0;
        if (!ok) {
            snprintf(p, sizeof p, "%s/%.200s", base, k);
            return pl_fail(e, p, "unknown key '%.200s'", k);
        }
    }
    return 0;
}

/* A list of strings at o[key] (absent: keep *v as it is). Each item goes through item(). */
typedef int (*pl_item_fn)(const char *s, size_t i, void *out, char *why, size_t n);

static int pl_list(const json_t *o, const char *key, const char *base, char ***v, size_t *nv,
                   void **extra, size_t esize, pl_item_fn item, pl_err_t *e)
{
    json_t *a = json_object_get(o, key);
    char p[300];
    snprintf(p, sizeof p, "%s/%s", base, key);
    if (a == NULL)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > PL_MAX_LIST)
        return pl_fail(e, p, "'%s' must be a list of at most %d strings", key, PL_MAX_LIST);
    size_t n = json_array_size(a);
    char **nv_ = calloc(n + 1, sizeof *nv_);
    void *ex = esize ? calloc(n + 1, esize) : NULL;
    if (nv_ == NULL || (esize && ex == NULL)) {
        free(nv_);
        free(ex);
        return pl_fail(e, p, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        char ip[344], why[256] = "";
        snprintf(ip, sizeof ip, "%s/%zu", p, i);
        const char *t = json_is_string(s) ? json_string_value(s) : NULL;
        char num[32];
        if (json_is_integer(s)) { /* ports may be numbers */
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(s));
            t = num;
        }
        if (t == NULL || strlen(t) == 0 || strlen(t) > 253 || strlen(t) != json_string_length(s)) {
            if (!(json_is_integer(s) && t == num)) {
                pl_strv_free(nv_, i);
                free(ex);
                return pl_fail(e, ip, "must be a string of 1 to 253 characters");
            }
        }
        for (const char *c = t; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                pl_strv_free(nv_, i);
                free(ex);
                return pl_fail(e, ip, "must not contain control characters");
            }
        if (item && item(t, i, ex, why, sizeof why) != 0) {
            pl_strv_free(nv_, i);
            free(ex);
            return pl_fail(e, ip, "%s", why);
        }
        if ((nv_[i] = strdup(t)) == NULL) {
            pl_strv_free(nv_, i);
            free(ex);
            return pl_fail(e, ip, "out of memory");
        }
    }
    pl_strv_free(*v, *nv);
    *v = nv_;
    *nv = n;
    if (extra) {
        free(*extra);
        *extra = ex;
    }
    return 0;
}

static int pl_item_cidr(const char *s, size_t i, void *out, char *why, size_t n)
{
    return mt__cidr_parse(s, &((mt__cidr_t *)out)[i], why, n);
}

static int pl_item_port(const char *s, size_t i, void *out, char *why, size_t n)
{
    pl_ports_t *p = &((pl_ports_t *)out)[i];
    char *end;
    errno = 0;
    long lo = strtol(s, &end, 10), hi = lo;
    if (end == s || !isdigit((unsigned char)s[0]))
        return pl_why(why, n, "'%s' is not a port or a range LOW-HIGH", s);
    if (*end == '-') {
        const char *h = end + 1;
        if (!isdigit((unsigned char)*h))
            return pl_why(why, n, "'%s' is not a port or a range LOW-HIGH", s);
        hi = strtol(h, &end, 10);
    }
    if (*end != '\0' || errno || lo < 1 || hi > 65535 || lo > hi)
        return pl_why(why, n, "'%s' is not a port in 1..65535 or a range LOW-HIGH of them", s);
    p->lo = (uint16_t)lo;
    p->hi = (uint16_t)hi;
    return 0;
}

static int pl_item_host(const char *s, size_t i, void *out, char *why, size_t n)
{
    (void)i;
    (void)out;
    const char *name = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
    if (*name == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-._:") != strlen(name))
        return pl_why(why, n, "'%s' is not a host name or *.suffix pattern", s);
    return 0;
}

static int pl_item_token(const char *s, size_t i, void *out, char *why, size_t n)
{
    (void)i;
    (void)out;
    if (strspn(s,
               "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
        strlen(s))
        return pl_why(why, n, "'%s' is not an HTTP token", s);
    return 0;
}

static int pl_item_scheme(const char *s, size_t i, void *out, char *why, size_t n)
{
    (void)i;
    (void)out;
    if (strcmp(s, "http") != 0 && strcmp(s, "https") != 0)
        return pl_why(why, n, "'%s': the schemes are http and https", s);
    return 0;
}

/* A limit: null or 0 = none; a number >= 0 (whole for counts). */
static int pl_limit_num(const json_t *o, const char *key, const char *base, int whole, double max,
                        double *out, pl_err_t *e)
{
    json_t *v = json_object_get(o, key);
    char p[300];
    snprintf(p, sizeof p, "%s/%s", base, key);
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > max ||
        (whole && !json_is_integer(v)))
        return pl_fail(e, p, "'%s' must be %s in [0, %g] (0 or null: no limit)", key,
                       whole ? "a whole number" : "a number", max);
    *out = json_number_value(v);
    return 0;
}

static int pl_limits(const json_t *o, const char *base, mt__policy_limits_t *l, pl_err_t *e)
{
    static const char *const keys[] = {"rate",     "connections",     "threads",
                                       "duration", "concurrent_runs", NULL};
    if (pl_keys(o, keys, base, e))
        return -1;
    double c = (double)l->connections, t = (double)l->threads, r = (double)l->concurrent_runs;
    if (pl_limit_num(o, "rate", base, 0, 1e9, &l->rate, e) ||
        pl_limit_num(o, "connections", base, 1, 1e6, &c, e) ||
        pl_limit_num(o, "threads", base, 1, 1024, &t, e) ||
        pl_limit_num(o, "concurrent_runs", base, 1, 1e6, &r, e))
        return -1;
    l->connections = (int64_t)c;
    l->threads = (int64_t)t;
    l->concurrent_runs = (int64_t)r;
    json_t *d = json_object_get(o, "duration");
    if (d == NULL)
        return 0;
    char p[300];
    snprintf(p, sizeof p, "%s/duration", base);
    if (json_is_null(d)) {
        l->duration_ns = 0;
        return 0;
    }
    mt_parse_err_t pe = {0};
    int64_t ns;
    if (!json_is_string(d) || mt_parse_duration(json_string_value(d), &ns, &pe) != MT_OK || ns < 0)
        return pl_fail(e, p,
                       "'duration' must be a duration such as \"24h\" or \"90m\" (null: no "
                       "limit)");
    l->duration_ns = ns;
    return 0;
}

mt__policy_t *mt__policy_default(void)
{
    mt__policy_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    atomic_init(&p->refs, 1);
    p->schemes = pl_strv_dup(pl_def_schemes, &p->nschemes);
    p->deny_hosts = pl_strv_dup(pl_def_deny_hosts, &p->ndeny_hosts);
    p->deny_txt = pl_strv_dup(pl_def_deny, &p->ndeny);
    p->methods = pl_strv_dup(pl_def_methods, &p->nmethods);
    p->deny_headers = pl_strv_dup(pl_def_deny_headers, &p->ndeny_headers);
    p->deny = calloc(p->ndeny + 1, sizeof *p->deny);
    if (!p->schemes || !p->deny_hosts || !p->deny_txt || !p->methods || !p->deny_headers ||
        !p->deny) {
        pl_free(p);
        return NULL;
    }
    for (size_t i = 0; i < p->ndeny; i++)
        mt__cidr_parse(p->deny_txt[i], &p->deny[i], NULL, 0);
    p->max_body = 1 << 20;
    memcpy(p->limits, pl_def_limits, sizeof p->limits);
    return p;
}

mt__policy_t *mt__policy_from_json(const json_t *j, char *pointer, char *detail, size_t n)
{
    pl_err_t e = {pointer, detail, n};
    static const char *const top[] = {"destinations", "requests", "limits", NULL};
    static const char *const dk[] = {"schemes",    "hosts",      "cidrs", "ports",
                                     "deny_hosts", "deny_cidrs", NULL};
    static const char *const rk[] = {"methods", "deny_headers", "max_body", NULL};
    static const char *const lk[] = {"runner", "admin", NULL};
    mt__policy_t *p = mt__policy_default();
    if (p == NULL) {
        pl_fail(&e, "", "out of memory");
        return NULL;
    }
    if (pl_keys(j, top, "", &e))
        goto bad;
    const json_t *d = json_object_get(j, "destinations");
    if (d) {
        if (pl_keys(d, dk, "/destinations", &e) ||
            pl_list(d, "schemes", "/destinations", &p->schemes, &p->nschemes, NULL, 0,
                    pl_item_scheme, &e) ||
            pl_list(d, "hosts", "/destinations", &p->hosts, &p->nhosts, NULL, 0, pl_item_host,
                    &e) ||
            pl_list(d, "cidrs", "/destinations", &p->cidr_txt, &p->ncidrs, (void **)&p->cidrs,
                    sizeof(mt__cidr_t), pl_item_cidr, &e) ||
            pl_list(d, "deny_hosts", "/destinations", &p->deny_hosts, &p->ndeny_hosts, NULL, 0,
                    pl_item_host, &e) ||
            pl_list(d, "deny_cidrs", "/destinations", &p->deny_txt, &p->ndeny, (void **)&p->deny,
                    sizeof(mt__cidr_t), pl_item_cidr, &e))
            goto bad;
        char **ptxt = NULL;
        size_t np = 0;
        if (pl_list(d, "ports", "/destinations", &ptxt, &np, (void **)&p->ports, sizeof(pl_ports_t),
                    pl_item_port, &e))
            goto bad;
        if (ptxt)
            p->nports = np;
        pl_strv_free(ptxt, np);
    }
    const json_t *r = json_object_get(j, "requests");
    if (r) {
        if (pl_keys(r, rk, "/requests", &e))
            goto bad;
        json_t *m = json_object_get(r, "methods");
        if (json_is_null(m)) {
            p->any_method = true;
        } else if (pl_list(r, "methods", "/requests", &p->methods, &p->nmethods, NULL, 0,
                           pl_item_token, &e) ||
                   pl_list(r, "deny_headers", "/requests", &p->deny_headers, &p->ndeny_headers,
                           NULL, 0, pl_item_token, &e))
            goto bad;
        if (json_is_null(m) && pl_list(r, "deny_headers", "/requests", &p->deny_headers,
                                       &p->ndeny_headers, NULL, 0, pl_item_token, &e))
            goto bad;
        double mb = (double)p->max_body;
        if (pl_limit_num(r, "max_body", "/requests", 1, 1 << 30, &mb, &e))
            goto bad;
        p->max_body = (int64_t)mb;
    }
    const json_t *l = json_object_get(j, "limits");
    if (l) {
        if (pl_keys(l, lk, "/limits", &e))
            goto bad;
        for (int i = 0; i < PL_NROLES; i++) {
            const json_t *o = json_object_get(l, pl_role_names[i]);
            char b[32];
            snprintf(b, sizeof b, "/limits/%s", pl_role_names[i]);
            if (o && pl_limits(o, b, &p->limits[i], &e))
                goto bad;
        }
    }
    return p;
bad:
    pl_free(p);
    return NULL;
}

/* ---- JSON out ------------------------------------------------------------------------------ */

static json_t *pl_strv_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *pl_limits_json(const mt__policy_limits_t *l)
{
    char d[32];
    pl_dur_text(l->duration_ns, d, sizeof d);
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "rate",
                     l->rate > 0 ? json_real(l->rate) : json_null(), "connections",
                     l->connections > 0 ? json_integer(l->connections) : json_null(), "threads",
                     l->threads > 0 ? json_integer(l->threads) : json_null(), "duration",
                     l->duration_ns > 0 ? json_string(d) : json_null(), "concurrent_runs",
                     l->concurrent_runs > 0 ? json_integer(l->concurrent_runs) : json_null());
}

json_t *mt__policy_to_json(const mt__policy_t *p, int full, const char *role)
{
    json_t *ports = json_array();
    for (size_t i = 0; i < p->nports; i++) {
        char b[16];
        if (p->ports[i].lo == p->ports[i].hi)
            json_array_append_new(ports, json_integer(p->ports[i].lo));
        else {
            snprintf(b, sizeof b, "%u-%u", p->ports[i].lo, p->ports[i].hi);
            json_array_append_new(ports, json_string(b));
        }
    }
    json_t *dest = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:o}", "schemes", pl_strv_json(p->schemes, p->nschemes), "hosts",
        pl_strv_json(p->hosts, p->nhosts), "cidrs", pl_strv_json(p->cidr_txt, p->ncidrs), "ports",
        ports, "deny_hosts", pl_strv_json(p->deny_hosts, p->ndeny_hosts), "deny_cidrs",
        pl_strv_json(p->deny_txt, p->ndeny));
    json_t *req = json_pack("{s:o,s:o,s:o}", "methods",
                            p->any_method ? json_null() : pl_strv_json(p->methods, p->nmethods),
                            "deny_headers", pl_strv_json(p->deny_headers, p->ndeny_headers),
                            "max_body", p->max_body > 0 ? json_integer(p->max_body) : json_null());
    json_t *lim = json_object();
    for (int i = 0; i < PL_NROLES; i++)
        if (full || (role && strcmp(role, pl_role_names[i]) == 0))
            json_object_set_new(lim, pl_role_names[i], pl_limits_json(&p->limits[i]));
    return json_pack("{s:o,s:o,s:o}", "destinations", dest, "requests", req, "limits", lim);
}

/* ---- files: YAML (JSON is YAML) to JSON, keeping each node's position ------------------------ */

typedef struct pl_yaml {
    yaml_document_t *doc;
    json_t *pos; /* pointer -> [line, col] */
    size_t nodes;
    char err[256];
} pl_yaml_t;

static void pl_ptr_append(char *buf, size_t n, const char *key)
{
    size_t l = strlen(buf);
    if (l + 2 >= n)
        return;
    buf[l++] = '/';
    for (const char *k = key; *k && l + 3 < n; k++) {
        if (*k == '~' || *k == '/') {
            buf[l++] = '~';
            buf[l++] = *k == '~' ? '0' : '1';
        } else
            buf[l++] = *k;
    }
    buf[l] = '\0';
}

static json_t *pl_scalar(const yaml_node_t *nd)
{
    const char *s = (const char *)nd->data.scalar.value;
    size_t len = nd->data.scalar.length;
    if (nd->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(s, len);
    if (len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0)
        return json_null();
    if (strcmp(s, "true") == 0)
        return json_true();
    if (strcmp(s, "false") == 0)
        return json_false();
    if (strlen(s) == len && strspn(s, "+-0123456789.eE") == len) {
        char *end;
        errno = 0;
        if (strspn(s + (*s == '-'), "0123456789") == len - (*s == '-')) {
            long long v = strtoll(s, &end, 10);
            if (*end == '\0' && errno == 0)
                return json_integer(v);
        }
        double d = strtod(s, &end);
        if (*end == '\0' && errno == 0 && isfinite(d))
            return json_real(d);
    }
    return json_stringn(s, len);
}

static json_t *pl_node(pl_yaml_t *y, int id, char *ptr, size_t pn, int depth)
{
    yaml_node_t *nd = yaml_document_get_node(y->doc, id);
    if (nd == NULL || depth > 32 || ++y->nodes > 100000) {
        snprintf(y->err, sizeof y->err, "too deep or too large (aliases?)");
        return NULL;
    }
    json_object_set_new(y->pos, ptr,
                        json_pack("[I,I]", (json_int_t)nd->start_mark.line + 1,
                                  (json_int_t)nd->start_mark.column + 1));
    size_t base = strlen(ptr);
    if (nd->type == YAML_SCALAR_NODE)
        return pl_scalar(nd);
    if (nd->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        size_t i = 0;
        for (yaml_node_item_t *it = nd->data.sequence.items.start; it < nd->data.sequence.items.top;
             it++, i++) {
            char k[24];
            snprintf(k, sizeof k, "%zu", i);
            pl_ptr_append(ptr, pn, k);
            json_t *v = pl_node(y, *it, ptr, pn, depth + 1);
            ptr[base] = '\0';
            if (v == NULL) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *pr = nd->data.mapping.pairs.start; pr < nd->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE) {
            snprintf(y->err, sizeof y->err, "a key must be a string");
            json_decref(o);
            return NULL;
        }
        const char *ks = (const char *)k->data.scalar.value;
        if (json_object_get(o, ks) != NULL) {
            snprintf(y->err, sizeof y->err, "the key '%.100s' is given twice", ks);
            json_object_set_new(y->pos, "",
                                json_pack("[I,I]", (json_int_t)k->start_mark.line + 1,
                                          (json_int_t)k->start_mark.column + 1));
            json_decref(o);
            return NULL;
        }
        pl_ptr_append(ptr, pn, ks);
        json_t *v = pl_node(y, pr->value, ptr, pn, depth + 1);
        ptr[base] = '\0';
        if (v == NULL) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, ks, v);
    }
    return o;
}

/* The position of pointer (or of its nearest parent) in the file. */
static void pl_pos_of(const json_t *pos, const char *pointer, int *line, int *col)
{
    char p[512];
    snprintf(p, sizeof p, "%s", pointer);
    for (;;) {
        json_t *v = json_object_get(pos, p);
        if (v) {
            *line = (int)json_integer_value(json_array_get(v, 0));
            *col = (int)json_integer_value(json_array_get(v, 1));
            return;
        }
        char *s = strrchr(p, '/');
        if (s == NULL)
            break;
        *s = '\0';
    }
    *line = *col = 1;
}

mt__policy_t *mt__policy_parse(const char *text, size_t len, const char *name, char *err,
                               size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    mt__policy_t *p = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    pl_yaml_t y = {.doc = &doc, .pos = json_object()};
    char ptr[512] = "";
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    json_t *j = root ? pl_node(&y, 1, ptr, sizeof ptr, 0) : json_object();
    if (j == NULL) {
        int line, col;
        pl_pos_of(y.pos, "", &line, &col);
        snprintf(err, errlen, "%s:%d:%d: %s", name, line, col, y.err);
    } else {
        char pointer[300] = "", detail[300] = "";
        p = mt__policy_from_json(j, pointer, detail, sizeof pointer);
        if (p == NULL) {
            int line, col;
            pl_pos_of(y.pos, pointer, &line, &col);
            snprintf(err, errlen, "%s:%d:%d: %s: %s", name, line, col, pointer[0] ? pointer : "/",
                     detail);
        }
    }
    json_decref(j);
    json_decref(y.pos);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return p;
}

mt__policy_t *mt__policy_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
        if (len == cap) {
            if (cap >= (4u << 20)) {
                free(buf);
                buf = NULL;
                snprintf(err, errlen, "%s: larger than 4 MiB", path);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap *= 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        return NULL;
    }
    mt__policy_t *p = mt__policy_parse(buf, len, path, err, errlen);
    free(buf);
    return p;
}
