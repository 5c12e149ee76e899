/* Webhook delivery (webhook.h): HMAC-SHA256 signatures, exponential backoff, and the relay
 * that POSTs due deliveries from the outbox with libcurl (ADR 0013). */
#include "server/webhook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mortar/error.h"
#include "server/log.h"

#define HOOK_MAX_ATTEMPTS 10
#define HOOK_BACKOFF_CAP  600 /* s */
#define HOOK_TIMEOUT_MS   10000L
#define HOOK_PASS_MAX     64 /* deliveries per pass */

void mt_webhook_sign(const char *secret, int64_t ts, const char *body, char *out, size_t n)
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

int64_t mt_webhook_backoff(int attempt)
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

/* One attempt. Fills *status (0 = no HTTP response) and err (empty on success); returns 1 when
 * delivered, 0 when failed but worth retrying, -1 when it can never succeed. */
static int hook_attempt(CURL *curl, const mt_delivery_t *d, int64_t now, long *status, char *err,
                        size_t errn)
{
    struct curl_slist *h = NULL;
    char sig[80], ts[24], cerr[CURL_ERROR_SIZE];
    CURLcode cc;
    int rc, result = 0;

    *status = 0;
    err[0] = '\0';
    if (!d->url || !hook_scheme_ok(d->url)) {
        snprintf(err, errn, "only http and https URLs are delivered to");
        return -1;
    }
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    mt_webhook_sign(d->secret, now, d->body, sig, sizeof sig);
    if ((rc = hook_header(&h, "Content-Type", "application/json")) < 0 ||
        (rc = hook_header(&h, "User-Agent", "mortar/" MT_VERSION)) < 0 ||
        (rc = hook_header(&h, "X-Mortar-Event", d->event_type ? d->event_type : "")) < 0 ||
        (rc = hook_header(&h, "X-Mortar-Event-Id", d->event_id ? d->event_id : "")) < 0 ||
        (rc = hook_header(&h, "X-Mortar-Delivery", d->id)) < 0 ||
        (rc = hook_header(&h, "X-Mortar-Timestamp", ts)) < 0 ||
        (rc = hook_header(&h, "X-Mortar-Signature", sig)) < 0 ||
        (rc = hook_header(&h, "Expect", "")) < 0) {
        snprintf(err, errn, "building headers: %s", mt_strerror(rc));
        result = rc == MT_ENOMEM ? 0 : -1;
        goto out;
    }

    curl_easy_reset(curl);
    cerr[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, d->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, HOOK_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body ? d->body : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(d->body ? strlen(d->body) : 0));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, hook_discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        snprintf(err, errn, "%s%s%s", curl_easy_strerror(cc), cerr[0] ? ": " : "", cerr);
        result = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ? -1 : 0;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (*status >= 200 && *status < 300) {
        result = 1;
    } else if (*status >= 300 && *status < 400) {
        snprintf(err, errn, "HTTP %ld (redirects are not followed)", *status);
    } else {
        snprintf(err, errn, "HTTP %ld", *status);
    }
out:
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    return result;
}

int mt_relay_pass(const mt_relay_ops_t *ops, void *ud, int64_t now)
{
    mt_delivery_t *d = NULL;
    size_t n = 0;
    CURL *curl = NULL;
    int rc, done = 0;

    if (!ops || !ops->due || !ops->record)
        return MT_EINVAL;
    pthread_once(&hook_once, hook_global_init);
    if (hook_global_rc != CURLE_OK)
        return MT_ESYS;
    if ((rc = ops->due(ud, now, HOOK_PASS_MAX, &d, &n)) < 0)
        return rc;
    if (n == 0)
        goto out;
    /* one handle per pass: connections to the same receiver are reused */
    if (!(curl = curl_easy_init())) {
        rc = MT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char err[CURL_ERROR_SIZE + 64];
        long status;
        int64_t next = 0;
        int made = (d[i].attempt < 0 ? 0 : d[i].attempt) + 1;
        int r = hook_attempt(curl, &d[i], now, &status, err, sizeof err);

        if (r == 0 && made < HOOK_MAX_ATTEMPTS)
            next = now + mt_webhook_backoff(made);
        if (r != 1) {
            char a[16], s[16];
            snprintf(a, sizeof a, "%d", made);
            snprintf(s, sizeof s, "%ld", status);
            mt_log(next ? MT_LOG_WARN : MT_LOG_ERROR,
                   next ? "webhook delivery failed, will retry" : "webhook delivery failed",
                   "delivery", d[i].id, "event", d[i].event_id ? d[i].event_id : "", "attempt", a,
                   "status", s, "error", err, NULL);
        }
        if ((rc = ops->record(ud, d[i].id, r == 1, (int)status, r == 1 ? NULL : err, next)) < 0)
            mt_log(MT_LOG_ERROR, "webhook: recording a delivery attempt failed", "delivery",
                   d[i].id, "error", mt_strerror(rc), NULL);
        done++;
    }
    rc = MT_OK;
out:
    if (curl)
        curl_easy_cleanup(curl);
    if (ops->free_due)
        ops->free_due(ud, d, n);
    return rc < 0 ? rc : done;
}
