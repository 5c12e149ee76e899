/* libFuzzer driver for `mortar serve --listen` (sv_parse_listen in src/server/cmd_serve.c,
 * static: the file is included). Whatever the input, it either fails or gives an address whose
 * family and length agree, whose loopback flag is right, and which, written back as ADDR:PORT
 * or [IPV6]:PORT, parses to the same. And it accepts everything `mortar target --listen`
 * (mt_target_parse_listen) accepts, as the same address: the two commands take the same form. */
#include "../../src/server/cmd_serve.c"

#include <stdbool.h>
#include <stdint.h>

#include "mortar/target.h"

#include "fuzz_text.h"
#include "fuzz_check.h"

/* The address as text and its port. */
static uint16_t show(const struct sockaddr_storage *a, char *host, size_t cap)
{
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
        CHECK(inet_ntop(AF_INET6, &a6->sin6_addr, host, (socklen_t)cap) != NULL);
        return ntohs(a6->sin6_port);
    }
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
    CHECK(inet_ntop(AF_INET, &a4->sin_addr, host, (socklen_t)cap) != NULL);
    return ntohs(a4->sin_port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage a, b;
    socklen_t alen = 0, blen = 0;
    int lb = -1, lb2 = -1;
    char host[INET6_ADDRSTRLEN], host2[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN + 16];
    char thost[64];
    uint16_t port, tport;
    char *text = fuzz_cstr(data, size, 512);

    if (!text)
        return 0;
    if (sv_parse_listen(text, &a, &alen, &lb) == 0) {
        CHECK((a.ss_family == AF_INET && alen == sizeof(struct sockaddr_in)) ||
              (a.ss_family == AF_INET6 && alen == sizeof(struct sockaddr_in6)));
        port = show(&a, host, sizeof(host));
        if (a.ss_family == AF_INET6)
            CHECK(lb == (strcmp(host, "::1") == 0));
        else
            CHECK(lb == (strncmp(host, "127.", 4) == 0));
        snprintf(back, sizeof(back), a.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
                 (unsigned)port);
        CHECK(sv_parse_listen(back, &b, &blen, &lb2) == 0);
        CHECK(blen == alen && lb2 == lb && show(&b, host2, sizeof(host2)) == port);
        CHECK(strcmp(host, host2) == 0);
    }
    if (mt_target_parse_listen(text, thost, sizeof(thost), &tport, NULL, 0) == MT_OK) {
        unsigned char t[16], s[16];
        bool v6 = strchr(thost, ':') != NULL;
        CHECK(sv_parse_listen(text, &a, &alen, &lb) == 0);
        CHECK(a.ss_family == (v6 ? AF_INET6 : AF_INET));
        CHECK(show(&a, host, sizeof(host)) == tport);
        CHECK(inet_pton(a.ss_family, thost, t) == 1 && inet_pton(a.ss_family, host, s) == 1);
        CHECK(memcmp(t, s, v6 ? 16 : 4) == 0);
    }
    free(text);
    return 0;
}
