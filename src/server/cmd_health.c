/* mortar health [URL]: asks a running `mortar serve` whether it is ready (GET URL, by default
 * http://127.0.0.1:8400/readyz) and exits 0 on a 200 answer, 1 otherwise. The container image
 * has no curl: this is its HEALTHCHECK (deploy/container/Containerfile, docs/deploy.md). */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"

#define HEALTH_DEFAULT_URL "http://127.0.0.1:8400/readyz"

static void hl_usage(FILE *f)
{
    fprintf(f, "Usage: mortar health [--timeout S] [URL]\n"
               "\n"
               "Asks a running `mortar serve` whether it is ready: GET URL, exit 0 on a 200\n"
               "answer, 1 on any other answer or none (the reason on stderr), 2 for bad flags.\n"
               "URL is http://HOST:PORT/PATH (default " HEALTH_DEFAULT_URL ";\n"
               "/healthz asks only whether the process serves). The container image's\n"
               "HEALTHCHECK.\n"
               "\n"
               "  --timeout S           seconds to wait for the answer, 1..60 (default 3)\n"
               "  -h, --help            this help\n"
               "\n"
               "Docs: docs/deploy.md\n");
}

/* the body is not needed: count it away */
static size_t hl_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int mt_cli_health(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long timeout_s = 3;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 't': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 || v > 60) {
                fprintf(stderr, "mortar health: --timeout '%s' is not a number of seconds 1..60\n",
                        optarg);
                return 2;
            }
            timeout_s = v;
            break;
        }
        case 'h':
            hl_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "mortar health: unknown or incomplete flag '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "mortar health: unexpected argument '%s' (one URL at most)\n",
                argv[optind + 1]);
        return 2;
    }
    const char *url = optind < argc ? argv[optind] : HEALTH_DEFAULT_URL;
    if (strncmp(url, "http://", 7) != 0 || url[7] == '\0' || url[7] == '/') {
        fprintf(stderr, "mortar health: URL '%s' is not http://HOST:PORT/PATH\n", url);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "mortar health: cannot initialise libcurl\n");
        return 1;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        curl_global_cleanup();
        fprintf(stderr, "mortar health: cannot initialise libcurl\n");
        return 1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* a health check asks this server, never a proxy */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hl_discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    if (rc != CURLE_OK) {
        fprintf(stderr, "mortar health: %s: %s\n", url,
                errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "mortar health: %s answered %ld\n", url, status);
        return 1;
    }
    return 0;
}
