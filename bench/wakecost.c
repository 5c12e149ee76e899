/* What one sleep and wake-up costs on this machine (issue 17, docs/performance.md): the floor
 * under any open-model loop that sends every request at its due time, which needs one timed
 * wake-up per request when requests fall due farther apart than a send takes.
 *
 * Usage: wakecost [GAP_US] [COUNT]     (defaults: 50 us apart, 100000 wake-ups)
 * Prints, for each way of sleeping until an absolute time GAP_US apart, the CPU time (user +
 * sys of this process) per wake-up and how late it woke on average; and what one trivial
 * system call costs. Run it pinned to one CPU (taskset -c 0), like the clients of bench/kts.sh.
 * Built by bench/kts.sh: cc -O2 bench/wakecost.c -luring. */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static double cpu_us(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec * 1e6 + (double)r.ru_utime.tv_usec +
           (double)r.ru_stime.tv_sec * 1e6 + (double)r.ru_stime.tv_usec;
}

typedef struct {
    int ep;
    struct io_uring ring;
} ctx_t;

enum { NANOSLEEP, EPOLL, URING, NWAYS };
static const char *const names[NWAYS] = {"clock_nanosleep", "epoll_pwait2", "io_uring timeout"};

/* Sleeps until `at` (CLOCK_MONOTONIC, ns) the given way. */
static int sleep_until(ctx_t *x, int way, int64_t at)
{
    if (way == NANOSLEEP) {
        struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        return 0;
    }
    if (way == EPOLL) {
        struct epoll_event ev;
        for (int64_t d; (d = at - now_ns()) > 0;) {
            struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
            if (epoll_pwait2(x->ep, &ev, 1, &ts, NULL) < 0 && errno != EINTR)
                return -1;
        }
        return 0;
    }
    struct __kernel_timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
    struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
    io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_ABS);
    struct io_uring_cqe *cqe;
    if (io_uring_submit_and_wait(&x->ring, 1) < 0 || io_uring_peek_cqe(&x->ring, &cqe) != 0)
        return -1;
    io_uring_cqe_seen(&x->ring, cqe);
    return 0;
}

int main(int argc, char **argv)
{
    long gap_us = argc > 1 ? strtol(argv[1], NULL, 10) : 50;
    long count = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    if (argc > 3 || gap_us < 1 || gap_us > 1000000 || count < 1 || count > 100000000) {
        fprintf(stderr, "usage: wakecost [GAP_US 1..1000000] [COUNT 1..100000000]\n");
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* as the engine: no 50-us slack on wake-ups */
    ctx_t x;
    x.ep = epoll_create1(0);
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int have_ring = io_uring_queue_init_params(8, &x.ring, &p) == 0;
    if (x.ep < 0) {
        perror("wakecost: epoll_create1");
        return 1;
    }
    printf("wake-ups %ld us apart, %ld of each:\n", gap_us, count);
    for (int way = 0; way < NWAYS; way++) {
        if (way == URING && !have_ring) {
            printf("  %-18s unavailable (io_uring disabled here)\n", names[way]);
            continue;
        }
        double c0 = cpu_us();
        int64_t due = now_ns(), late = 0;
        for (long i = 0; i < count; i++) {
            due += gap_us * 1000;
            if (sleep_until(&x, way, due) != 0) {
                fprintf(stderr, "wakecost: %s: %s\n", names[way], strerror(errno));
                return 1;
            }
            late += now_ns() - due;
        }
        printf("  %-18s cpu %6.2f us per wake-up, %6.1f us late on average\n", names[way],
               (cpu_us() - c0) / (double)count, (double)late / 1e3 / (double)count);
    }
    int64_t t0 = now_ns();
    for (int i = 0; i < 1000000; i++)
        syscall(SYS_getppid);
    printf("  %-18s wall %5.2f us per call\n", "getppid (syscall)", (double)(now_ns() - t0) / 1e9);
    if (have_ring)
        io_uring_queue_exit(&x.ring);
    close(x.ep);
    return 0;
}
