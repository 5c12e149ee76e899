/* The target policy of `mortar serve` (docs/security.md, ADR 0026): where runs and webhooks may
 * send traffic (schemes, host names, networks, ports, with a deny list that wins), what
 * requests may carry (methods, headers, body size), and the limits of each role (rate,
 * connections, threads, duration, runs at once).
 *
 * A policy is immutable once made and reference-counted, so the API, the dispatcher, the
 * agents' engine threads and the webhook relay share one without locks: a PUT makes a new
 * policy and swaps the pointer (mt__serve_policy). Parsing is pure (text in, a policy or a
 * positioned error out; tests/fuzz/fuzz_policy.c); only mt__policy_check_url resolves names. */
#ifndef MT_SERVER_POLICY_H
#define MT_SERVER_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

typedef struct mt__policy mt__policy_t;

/* A role's limits; 0 = none (only the run spec's own ranges). */
typedef struct mt__policy_limits {
    double rate;             /* requests/s (open model: the schedule's peak) */
    int64_t connections;     /* connections (open model: the cap) */
    int64_t threads;         /* worker threads, when the config sets them */
    int64_t duration_ns;     /* the run's planned length */
    int64_t concurrent_runs; /* runs queued or running on the server when one is created */
} mt__policy_limits_t;

/* The built-in default (docs/security.md): http and https to any host and port except the
 * deny list (link-local, cloud metadata, "this network", multicast, reserved); the common
 * methods; hop-by-hop and smuggling headers refused; bodies up to 1 MiB; runner limits. A new
 * reference; NULL only when out of memory. */
mt__policy_t *mt__policy_default(void);

/* A policy from JSON (the API's PUT body, or a parsed file). Omitted keys take the default's
 * value. NULL on error with pointer (a JSON pointer into j, "" for the root) and detail set. */
mt__policy_t *mt__policy_from_json(const json_t *j, char *pointer, char *detail, size_t n);

/* A policy file's text (YAML or JSON: JSON is read as YAML). NULL on error with err set to
 * "NAME:LINE:COL: what" (name = the file's name). */
mt__policy_t *mt__policy_parse(const char *text, size_t len, const char *name, char *err,
                               size_t errlen);
/* The same from a file; a file that cannot be read is "NAME: strerror". */
mt__policy_t *mt__policy_load(const char *path, char *err, size_t errlen);

mt__policy_t *mt__policy_ref(mt__policy_t *p); /* returns p; NULL is fine */
void mt__policy_unref(mt__policy_t *p);        /* frees at the last reference; NULL is fine */

/* The whole policy in its canonical JSON form (every key, defaults filled in); full = 0 gives
 * only the "destinations" and "requests" parts and the caller's role limits (what a
 * non-admin may read: why a run is refused). role may be NULL (full only). New reference. */
json_t *mt__policy_to_json(const mt__policy_t *p, int full, const char *role);

/* The limits of role ("viewer", "runner", "admin"). */
const mt__policy_limits_t *mt__policy_limits(const mt__policy_t *p, const char *role);

/* The name and scheme part of a destination (no resolution): scheme allowed, port allowed,
 * host not denied by name. 0 or -1 with why. host: a name or an address (IPv6 without
 * brackets). */
int mt__policy_check_name(const mt__policy_t *p, const char *scheme, const char *host, int port,
                          char *why, size_t n);

/* One resolved address of host (which the URL named): refused when in a denied network, or
 * when the policy lists allowed hosts or networks and host matches none of the hosts and the
 * address none of the networks. IPv4-mapped and NAT64 (64:ff9b::/96) addresses are checked
 * as the IPv4 address they carry. 0 or -1 with why ("169.254.169.254 is in the denied network
 * 169.254.0.0/16"). */
int mt__policy_check_addr(const mt__policy_t *p, const char *host, const struct sockaddr *sa,
                          socklen_t len, char *why, size_t n);

/* A URL as a whole: parsed, checked by name, resolved (getaddrinfo; numeric forms such as
 * "0", "2130706433" or "0x7f.1" resolve to the address they mean) and every address checked.
 * A name that does not resolve is refused too (it cannot be checked). 0 or -1 with why. */
int mt__policy_check_url(const mt__policy_t *p, const char *url, char *why, size_t n);

/* A run config (the canonical JSON of runspec.h, already checked by the run spec) against the
 * destination (resolve: also resolve the URL), the request rules and role's limits. 0, or -1
 * with pointer ("/config/rate" with base "/config") and detail naming the limit. */
int mt__policy_check_config(const mt__policy_t *p, const char *role, const json_t *config,
                            int resolve, const char *base, char *pointer, char *detail, size_t n);

/* The engine's address check (mortar/engine.h mt_addr_check_cb) over a policy and the host the
 * run's URL names: ud is an mt__policy_guard_t. */
typedef struct mt__policy_guard {
    mt__policy_t *policy; /* a reference the guard's owner releases */
    char host[256];
    char why[256]; /* the refusal, when the callback refused */
} mt__policy_guard_t;
int mt__policy_guard_cb(const struct sockaddr *sa, unsigned len, void *ud);

/* ---- pieces, for the unit tests and the fuzzer ---- */
typedef struct mt__cidr {
    uint8_t addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    int bits;         /* over the 128 bits (IPv4 /n is 96 + n) */
} mt__cidr_t;
/* "10.0.0.0/8", "fe80::/10", "192.0.2.1" (a /32), "::1" (a /128): 0, or -1 with why. Host bits
 * that are set are an error (a typo is more likely than intent). */
int mt__cidr_parse(const char *text, mt__cidr_t *out, char *why, size_t n);
/* addr (16 bytes, normalised) is in c. */
int mt__cidr_match(const mt__cidr_t *c, const uint8_t addr[16]);
/* A sockaddr's address as 16 bytes: IPv4 as IPv4-mapped; IPv4-mapped, IPv4-compatible is not
 * touched; NAT64 64:ff9b::/96 becomes the IPv4-mapped address it carries. -1 for others. */
int mt__addr_norm(const struct sockaddr *sa, socklen_t len, uint8_t out[16]);
/* host matches pattern: exact (case-insensitive, a trailing dot ignored) or "*.suffix" (any
 * name ending in ".suffix", not suffix itself). */
int mt__host_match(const char *pattern, const char *host);

#endif
