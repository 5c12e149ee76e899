/* Webhook delivery (webhook.h): HMAC-SHA256 signatures, exponential backoff, and the relay
 * that POSTs due deliveries from the outbox with libcurl (ADR 0013). */
#include "server/webhook.h"

#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mortar/error.h"
#include "server/log.h"

#define HOOK_MAX_ATTEMPTS 10
#define HOOK_BACKOFF_CAP  600 /* s */
#define HOOK_TIMEOUT_MS   10000L
#define HOOK_PASS_MAX     64 /* deliveries per pass */

void mt__webhook_sign(const char *secret, int64_t ts, const char *body, char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char prefix[32];
    int plen;

    if (!out || n == 0)
        return;
    out[0] = '\0';
    if (n < 72)
        return;
    if (!secret)
        secret = "";
    if (!body)
        body = "";
    /* HMAC over "<ts>.<body>" without building the concatenation */
    plen = snprintf(prefix, sizeof prefix, "%lld.", (long long)ts);
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
             EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) &&
             EVP_MAC_update(ctx, (const unsigned char *)body, strlen(body)) &&
             EVP_MAC_final(ctx, mac, &outl, sizeof mac);
    maclen = (unsigned int)outl;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    if (!ok || maclen != 32)
        return;
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < maclen; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[8 + 2 * i] = hex[mac[i] & 15];
    }
    out[7 + 2 * maclen] = '\0';
}

int64_t mt__webhook_backoff(int attempt)
{
    if (attempt < 1)
        return 0;
    if (attempt > 10)
        return HOOK_BACKOFF_CAP;
    int64_t d = (int64_t)1 << (attempt - 1);
    return d < HOOK_BACKOFF_CAP ? d : HOOK_BACKOFF_CAP;
}

/* ---- the relay ----------------------------------------------------------------------------- */

static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static CURLcode hook_global_rc = CURLE_FAILED_INIT;

static void hook_global_init(void)
{
    hook_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The response body is not used: read and dropped. */
static size_t hook_discard(char *p, size_t size, size_t nmemb, void *ud)
{
    return size * nmemb;
}

static int hook_scheme_ok(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static int hook_header(struct curl_slist **h, const char *name, const char *value)
{
    char line[512];
    struct curl_slist *n;
    /* header values come from our own ids and types; refuse anything that could split lines */
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return MT_EINVAL;
    if ((size_t)snprintf(line, sizeof line, "%s: %s", name, value) >= sizeof line)
        return MT_ETOOBIG;
    if (!(n = curl_slist_append(*h, line)))
        return MT_ENOMEM;
    *h = n;
    return MT_OK;
}

/* One delivery attempt of a pass. */
typedef struct hook_job {
    const mt__delivery_t *d;
    CURL *curl;
    struct curl_slist *h;
    char cerr[CURL_ERROR_SIZE];
    char err[CURL_ERROR_SIZE + 64]; /* empty on success */
    long status;                    /* 0 = no HTTP response */
    int result;        /* 1 delivered, 0 failed (retry), -1 can never succeed, 2 in flight */
    char refused[256]; /* the target policy refused an address: why */
} hook_job_t;

static const mt__webhook_guard_t *_Atomic hook_guard;

void mt__webhook_set_guard(const mt__webhook_guard_t *g)
{
    hook_guard = g;
}

/* curl's socket opener: the policy sees every address before a socket exists. */
static curl_socket_t hook_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    hook_job_t *j = ud;
    const mt__webhook_guard_t *g = hook_guard;
    (void)purpose;
    if (g && g->addr_ok &&
        g->addr_ok(g->ud, j->d->url, &a->addr, a->addrlen, j->refused, sizeof j->refused) != 0)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Sets up job->curl for the POST, or settles the job (result -1/0) when it cannot start. */
static void hook_prepare(hook_job_t *j, int64_t now)
{
    const mt__delivery_t *d = j->d;
    char sig[80], ts[24];
    int rc;

    if (!d->url || !hook_scheme_ok(d->url)) {
        snprintf(j->err, sizeof j->err, "only http and https URLs are delivered to");
        j->result = -1;
        return;
    }
    const mt__webhook_guard_t *g = hook_guard;
    char why[200];
    if (g && g->url_ok && g->url_ok(g->ud, d->url, why, sizeof why) != 0) {
        snprintf(j->err, sizeof j->err, "refused by the target policy: %s", why);
        j->result = -1;
        return;
    }
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    mt__webhook_sign(d->secret, now, d->body, sig, sizeof sig);
    if ((rc = hook_header(&j->h, "Content-Type", "application/json")) < 0 ||
        (rc = hook_header(&j->h, "User-Agent", "mortar/" MT_VERSION)) < 0 ||
        (rc = hook_header(&j->h, "X-Mortar-Event", d->event_type ? d->event_type : "")) < 0 ||
        (rc = hook_header(&j->h, "X-Mortar-Event-Id", d->event_id ? d->event_id : "")) < 0 ||
        (rc = hook_header(&j->h, "X-Mortar-Delivery", d->id ? d->id : "")) < 0 ||
        (rc = hook_header(&j->h, "X-Mortar-Timestamp", ts)) < 0 ||
        (rc = hook_header(&j->h, "X-Mortar-Signature", sig)) < 0 ||
        (rc = hook_header(&j->h, "Expect", "")) < 0) {
        snprintf(j->err, sizeof j->err, "building headers: %s", mt_strerror(rc));
        j->result = rc == MT_ENOMEM ? 0 : -1;
        return;
    }
    if (!(j->curl = curl_easy_init())) {
        snprintf(j->err, sizeof j->err, "out of memory");
        j->result = 0;
        return;
    }
    CURL *c = j->curl;
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HOOK_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body ? d->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(d->body ? strlen(d->body) : 0));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->cerr);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, hook_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, j);
    j->result = 2;
}

/* Settles a finished transfer: any 2xx is delivered; redirects are not followed. */
static void hook_finish(hook_job_t *j, CURLcode cc)
{
    if (cc != CURLE_OK && j->refused[0]) {
        snprintf(j->err, sizeof j->err, "refused by the target policy: %s", j->refused);
        j->result = -1;
        return;
    }
    if (cc != CURLE_OK) {
        snprintf(j->err, sizeof j->err, "%s%s%s", curl_easy_strerror(cc), j->cerr[0] ? ": " : "",
                 j->cerr);
        j->result = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ? -1 : 0;
        return;
    }
    curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &j->status);
    if (j->status >= 200 && j->status < 300) {
        j->result = 1;
        return;
    }
    j->result = 0;
    if (j->status >= 300 && j->status < 400)
        snprintf(j->err, sizeof j->err, "HTTP %ld (redirects are not followed)", j->status);
    else
        snprintf(j->err, sizeof j->err, "HTTP %ld", j->status);
}

/* Runs the prepared transfers concurrently (each bounded by its 10 s timeout). */
static int hook_run(hook_job_t *jobs, size_t n)
{
    CURLM *multi = curl_multi_init();
    int running = 0, rc = MT_OK;
    size_t added = 0;

    if (!multi)
        return MT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].result != 2)
            continue;
        if (curl_multi_add_handle(multi, jobs[i].curl) != CURLM_OK) {
            snprintf(jobs[i].err, sizeof jobs[i].err, "could not start the transfer");
            jobs[i].result = 0;
            continue;
        }
        added++;
    }
    while (added > 0) {
        CURLMcode mc = curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            hook_job_t *j = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            hook_finish(j, msg->data.result);
            curl_multi_remove_handle(multi, msg->easy_handle);
            added--;
        }
        if (mc != CURLM_OK) {
            rc = MT_ESYS;
            break;
        }
        if (added > 0 && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            rc = MT_ESYS;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].result == 2) { /* only after a multi failure */
            curl_multi_remove_handle(multi, jobs[i].curl);
            snprintf(jobs[i].err, sizeof jobs[i].err, "transfer aborted");
            jobs[i].result = 0;
        }
    }
    curl_multi_cleanup(multi);
    return rc;
}

/* Records the end of one attempt: delivered, retried later (backoff), or failed for good. */
static void hook_settle(const mt__relay_ops_t *ops, void *ud, const mt__delivery_t *d,
                        const hook_job_t *j, int64_t now)
{
    int64_t next = 0;
    int made = (d->attempt < 0 ? 0 : d->attempt) + 1, rc;

    if (j->result == 0 && made < HOOK_MAX_ATTEMPTS)
        next = now + mt__webhook_backoff(made);
    if (j->result != 1) {
        char a[16], st[16];
        snprintf(a, sizeof a, "%d", made);
        snprintf(st, sizeof st, "%ld", j->status);
        mt__log(next ? MT_LOG_WARN : MT_LOG_ERROR,
                next ? "webhook delivery failed, will retry" : "webhook delivery failed",
                "delivery", d->id, "event", d->event_id ? d->event_id : "", "attempt", a, "status",
                st, "error", j->err, NULL);
    }
    if ((rc = ops->record(ud, d->id, j->result == 1, (int)j->status, j->result == 1 ? NULL : j->err,
                          next)) < 0)
        mt__log_limited("webhook.record", 10, MT_LOG_ERROR,
                        "webhook: recording a delivery attempt failed", "delivery", d->id, "error",
                        mt_strerror(rc), NULL);
}

int mt__relay_pass(const mt__relay_ops_t *ops, void *ud, int64_t now)
{
    mt__delivery_t *d = NULL;
    hook_job_t *jobs = NULL;
    size_t n = 0, n_run = 0, n_claimed = 0;
    int rc, done = 0;

    if (!ops || !ops->due || !ops->record)
        return MT_EINVAL;
    pthread_once(&hook_once, hook_global_init);
    if (hook_global_rc != CURLE_OK)
        return MT_ESYS;
    if ((rc = ops->due(ud, now, HOOK_PASS_MAX, &d, &n)) < 0)
        return rc;
    if (ops->claim != NULL) { /* the ones another relay has go to the end, untouched */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (ops->claim(ud, d[i].id, now) == MT_OK) {
                mt__delivery_t t = d[k];
                d[k++] = d[i];
                d[i] = t;
            }
        n_claimed = k;
    } else {
        n_claimed = n;
    }
    if (n_claimed == 0)
        goto out;
    if (n_claimed > HOOK_PASS_MAX)
        n_run = HOOK_PASS_MAX; /* the rest stay due for the next pass */
    else
        n_run = n_claimed;
    if (!(jobs = calloc(n_run, sizeof *jobs))) {
        rc = MT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_run; i++) {
        jobs[i].d = &d[i];
        hook_prepare(&jobs[i], now);
    }
    if ((rc = hook_run(jobs, n_run)) < 0)
        mt__log(MT_LOG_ERROR, "webhook: the transfer loop failed", "error", mt_strerror(rc), NULL);
    for (size_t i = 0; i < n_run; i++) {
        hook_settle(ops, ud, &d[i], &jobs[i], now);
        done++;
    }
    rc = MT_OK;
out:
    if (jobs) {
        for (size_t i = 0; i < n_run; i++) {
            if (jobs[i].curl)
                curl_easy_cleanup(jobs[i].curl);
            curl_slist_free_all(jobs[i].h);
        }
        free(jobs);
    }
    if (ops->free_due)
        ops->free_due(ud, d, n);
    return rc < 0 ? rc : done;
}

/* ---- the relay thread: deliveries as they come due, receivers apart -------------------- */

#define RELAY_PER_RECEIVER 5   /* attempts in flight per receiver */
#define RELAY_MAX_INFLIGHT 256 /* in all */
#define RELAY_POLL_MS      1000

typedef struct relay_job {
    struct relay_job *next;
    mt__delivery_t d; /* owned copies */
    char receiver[160];
    hook_job_t j;
} relay_job_t;

struct mt__relay {
    const mt__relay_ops_t *ops;
    void *ud;
    pthread_t thread;
    pthread_mutex_t mu;
    int quit, woken;
    CURLM *multi;
    relay_job_t *jobs; /* in flight */
    size_t njobs;
};

/* The receiver of a URL: scheme://host[:port] (what one slow server holds up). */
static void relay_receiver(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    size_t len = strlen(url);
    if (p != NULL) {
        const char *e = p + 3;
        while (*e && *e != '/' && *e != '?' && *e != '#')
            e++;
        len = (size_t)(e - url);
    }
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), url);
    for (char *c = out; *c; c++) /* scheme and host are case-insensitive */
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
}

static void relay_job_free(relay_job_t *rj)
{
    if (rj->j.curl)
        curl_easy_cleanup(rj->j.curl);
    curl_slist_free_all(rj->j.h);
    free((char *)rj->d.id);
    free((char *)rj->d.url);
    free((char *)rj->d.secret);
    free((char *)rj->d.event_id);
    free((char *)rj->d.event_type);
    free((char *)rj->d.body);
    free(rj);
}

static char *relay_dup(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* Records the end of an attempt (delivered, retry later, or failed for good). */
static void relay_settle(mt__relay_t *r, relay_job_t *rj, int64_t now)
{
    hook_settle(r->ops, r->ud, &rj->d, &rj->j, now);
}

/* Starts the due deliveries that are not in flight, within each receiver's share. */
static void relay_fill(mt__relay_t *r, int64_t now)
{
    mt__delivery_t *d = NULL;
    size_t n = 0;
    if (r->njobs >= RELAY_MAX_INFLIGHT ||
        r->ops->due(r->ud, now, RELAY_MAX_INFLIGHT + HOOK_PASS_MAX, &d, &n) < 0)
        return;
    for (size_t i = 0; i < n && r->njobs < RELAY_MAX_INFLIGHT; i++) {
        char recv[160];
        size_t same = 0;
        int busy = 0;
        relay_receiver(d[i].url ? d[i].url : "", recv, sizeof recv);
        for (relay_job_t *x = r->jobs; x != NULL; x = x->next) {
            if (strcmp(x->d.id, d[i].id) == 0)
                busy = 1; /* this very delivery is in flight */
            same += strcmp(x->receiver, recv) == 0;
        }
        if (busy || same >= RELAY_PER_RECEIVER)
            continue; /* stays due: taken when a slot of its receiver frees */
        if (r->ops->claim != NULL && r->ops->claim(r->ud, d[i].id, now) != MT_OK)
            continue; /* another server's relay has it (or the store failed: next poll) */
        relay_job_t *rj = calloc(1, sizeof *rj);
        if (rj == NULL)
            break;
        rj->d = (mt__delivery_t){.id = relay_dup(d[i].id),
                                 .url = relay_dup(d[i].url),
                                 .secret = relay_dup(d[i].secret),
                                 .event_id = relay_dup(d[i].event_id),
                                 .event_type = relay_dup(d[i].event_type),
                                 .body = relay_dup(d[i].body),
                                 .attempt = d[i].attempt};
        snprintf(rj->receiver, sizeof rj->receiver, "%s", recv);
        rj->j.d = &rj->d;
        if (!rj->d.id || !rj->d.url || !rj->d.secret || !rj->d.event_id || !rj->d.event_type ||
            !rj->d.body) {
            relay_job_free(rj);
            break;
        }
        hook_prepare(&rj->j, now);
        if (rj->j.result == 2 && curl_multi_add_handle(r->multi, rj->j.curl) != CURLM_OK) {
            snprintf(rj->j.err, sizeof rj->j.err, "could not start the transfer");
            rj->j.result = 0;
        }
        if (rj->j.result != 2) { /* settled before it started */
            relay_settle(r, rj, now);
            relay_job_free(rj);
            continue;
        }
        rj->next = r->jobs;
        r->jobs = rj;
        r->njobs++;
    }
    if (r->ops->free_due)
        r->ops->free_due(r->ud, d, n);
}

static void *relay_main(void *arg)
{
    mt__relay_t *r = arg;
    int64_t next_poll = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int quit = r->quit, woken = r->woken;
        r->woken = 0;
        pthread_mutex_unlock(&r->mu);
        if (quit)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t mono = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (woken || mono >= next_poll) {
            relay_fill(r, (int64_t)time(NULL));
            next_poll = mono + RELAY_POLL_MS;
        }
        int running = 0, left;
        curl_multi_perform(r->multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            CURLcode cc = msg->data.result;
            relay_job_t **pp = &r->jobs;
            while (*pp != NULL && (*pp)->j.curl != e)
                pp = &(*pp)->next;
            curl_multi_remove_handle(r->multi, e);
            if (*pp == NULL)
                continue;
            relay_job_t *rj = *pp;
            *pp = rj->next;
            r->njobs--;
            hook_finish(&rj->j, cc);
            relay_settle(r, rj, (int64_t)time(NULL));
            relay_job_free(rj);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        mono = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int wait = next_poll > mono ? (int)(next_poll - mono) : 0;
        curl_multi_poll(r->multi, NULL, 0, wait > RELAY_POLL_MS ? RELAY_POLL_MS : wait, NULL);
    }
    /* attempts still in flight are dropped unrecorded: they stay pending and are retried */
    while (r->jobs != NULL) {
        relay_job_t *rj = r->jobs;
        r->jobs = rj->next;
        curl_multi_remove_handle(r->multi, rj->j.curl);
        relay_job_free(rj);
    }
    return NULL;
}

int mt__relay_start(const mt__relay_ops_t *ops, void *ud, mt__relay_t **out)
{
    *out = NULL;
    if (!ops || !ops->due || !ops->record)
        return MT_EINVAL;
    pthread_once(&hook_once, hook_global_init);
    if (hook_global_rc != CURLE_OK)
        return MT_ESYS;
    mt__relay_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MT_ENOMEM;
    r->ops = ops;
    r->ud = ud;
    pthread_mutex_init(&r->mu, NULL);
    if ((r->multi = curl_multi_init()) == NULL) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return MT_ENOMEM;
    }
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        curl_multi_cleanup(r->multi);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return MT_ESYS;
    }
    *out = r;
    return MT_OK;
}

void mt__relay_wake(mt__relay_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->woken = 1;
    pthread_mutex_unlock(&r->mu);
    curl_multi_wakeup(r->multi);
}

void mt__relay_stop(mt__relay_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = 1;
    pthread_mutex_unlock(&r->mu);
    curl_multi_wakeup(r->multi);
    pthread_join(r->thread, NULL);
    curl_multi_cleanup(r->multi);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
