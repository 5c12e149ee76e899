/* The floor under any closed-model HTTP/1.1 client on this machine (issue 17, docs/performance.md):
 * a client that does nothing but the system calls a request needs. Each of N keep-alive
 * connections sends one fixed GET, reads until the response's known length has arrived, and sends
 * the next; one epoll_wait serves every ready connection. No parsing beyond the first response, no
 * clocks, no statistics: what it spends per request is, in practice, the kernel's TCP work for one
 * request and one response (two segments on loopback), which every client sending the same bytes
 * pays. bench/kts.sh runs it beside wrk and mortar so that a ratio to wrk can be read against what
 * no client can go below.
 *
 * Usage: floor HOST_IPV4 PORT CONNECTIONS SECONDS
 * Prints "floor: N requests in S s". Every response must have the first one's length (a fixed
 * answer such as bench/nginx.conf.in's); a different length or a closed connection is an error.
 * Built by bench/kts.sh: cc -O2 bench/floor.c. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, errno ? strerror(errno) : "unexpected data");
    exit(1);
}

static int dial(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof *a) != 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* The length of one whole response, read with blocking calls on a first connection. */
static size_t response_length(int fd)
{
    char buf[4096];
    size_t got = 0;
    if (send(fd, req, sizeof req - 1, 0) != (ssize_t)(sizeof req - 1))
        die("send");
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            die("first response");
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "\r\ncontent-length:");
        if (end && cl && cl < end) {
            size_t total = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
            if (got >= total)
                return got == total ? total : (die("first response"), 0);
        }
        if (got == sizeof buf - 1)
            die("first response too long");
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: floor HOST_IPV4 PORT CONNECTIONS SECONDS\n");
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    int conns = atoi(argv[3]);
    double secs = atof(argv[4]);
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || a.sin_port == 0 || conns < 1 ||
        conns > 10000 || !(secs > 0)) {
        fprintf(stderr, "floor: bad arguments (usage: floor HOST_IPV4 PORT CONNECTIONS SECONDS)\n");
        return 2;
    }
    int ep = epoll_create1(0);
    size_t *left =
        calloc((size_t)conns, sizeof *left); /* bytes of the current response still due */
    if (ep < 0 || !left)
        die("setup");
    size_t total = 0;
    for (int i = 0; i < conns; i++) {
        int fd = dial(&a);
        if (i == 0)
            total = response_length(fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)i << 32) | (uint32_t)fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl");
        if (send(fd, req, sizeof req - 1, 0) != (ssize_t)(sizeof req - 1))
            die("send");
        left[i] = total;
    }
    unsigned long done = 0;
    double start = now_s(), end = start + secs, t = start;
    char buf[65536];
    struct epoll_event evs[256];
    while (t < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int k = 0; k < n; k++) {
            int i = (int)(evs[k].data.u64 >> 32), fd = (int)(uint32_t)evs[k].data.u64;
            ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (got == 0 || (got < 0 && errno != EAGAIN))
                die("recv");
            if (got < 0)
                continue;
            if ((size_t)got > left[i])
                die("response length");
            left[i] -= (size_t)got;
            if (left[i] == 0) {
                done++;
                left[i] = total;
                if (send(fd, req, sizeof req - 1, MSG_DONTWAIT) != (ssize_t)(sizeof req - 1))
                    die("send");
            }
        }
        t = now_s();
    }
    printf("floor: %lu requests in %.2f s\n", done, t - start);
    return 0;
}
