/* Structured JSON log lines (log.h). */
#include "server/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static enum mt__log_level log_min = MT_LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void mt__log_init(int fd, enum mt__log_level min)
{
    log_fd = fd;
    log_min = min;
}

typedef struct log_buf {
    char b[4096];
    size_t n;
} log_buf_t;

static void log_putc(log_buf_t *l, char c)
{
    if (l->n < sizeof(l->b) - 2)
        l->b[l->n++] = c;
}

static void log_puts(log_buf_t *l, const char *s)
{
    while (*s)
        log_putc(l, *s++);
}

static void log_str(log_buf_t *l, const char *s)
{
    log_putc(l, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            log_putc(l, '\\');
            log_putc(l, (char)c);
        } else if (c == '\n') {
            log_puts(l, "\\n");
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            log_puts(l, e);
        } else {
            log_putc(l, (char)c);
        }
    }
    log_putc(l, '"');
}

/* A value that reads as a JSON number (an optional '-', digits, an optional fraction). */
static int log_is_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0' && p - s < 24;
}

/* One line: msg, the pairs of ap, then extra_k/extra_v when extra_k is not NULL. */
static void log_v(enum mt__log_level lvl, const char *msg, const char *extra_k, const char *extra_v,
                  va_list ap)
{
    log_buf_t l = {.n = 0};
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    log_puts(&l, "{\"ts\":\"");
    log_puts(&l, when);
    log_puts(&l, "\",\"level\":\"");
    log_puts(&l, log_names[lvl]);
    log_puts(&l, "\",\"msg\":");
    log_str(&l, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL)
            break;
        const char *v = va_arg(ap, const char *);
        log_putc(&l, ',');
        log_str(&l, k);
        log_putc(&l, ':');
        if (v == NULL)
            log_puts(&l, "null");
        else if (log_is_number(v))
            log_puts(&l, v);
        else
            log_str(&l, v);
    }
    if (extra_k != NULL) {
        log_putc(&l, ',');
        log_str(&l, extra_k);
        log_putc(&l, ':');
        log_puts(&l, extra_v);
    }
    log_puts(&l, "}\n");
    ssize_t w = write(log_fd, l.b, l.n);
    (void)w;
}

void mt__log(enum mt__log_level lvl, const char *msg, ...)
{
    if (lvl < log_min || lvl > MT_LOG_ERROR)
        return;
    va_list ap;
    va_start(ap, msg);
    log_v(lvl, msg, NULL, NULL, ap);
    va_end(ap);
}

/* Rate limiting: one slot per kind (a handful of kinds exist: store faults, dispatcher). */
#define LOG_KINDS 32
static struct {
    char kind[48];
    int64_t last_ns;
    uint64_t suppressed;
} log_kinds[LOG_KINDS];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void mt__log_limited(const char *kind, int every_s, enum mt__log_level lvl, const char *msg, ...)
{
    if (lvl < log_min || lvl > MT_LOG_ERROR)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    uint64_t suppressed = 0;
    int write_it = 1;
    pthread_mutex_lock(&log_mu);
    size_t i, free_i = LOG_KINDS;
    for (i = 0; i < LOG_KINDS; i++) {
        if (strcmp(log_kinds[i].kind, kind) == 0)
            break;
        if (free_i == LOG_KINDS && log_kinds[i].kind[0] == '\0')
            free_i = i;
    }
    if (i == LOG_KINDS && free_i < LOG_KINDS) { /* a new kind: its first line is written */
        i = free_i;
        snprintf(log_kinds[i].kind, sizeof log_kinds[i].kind, "%s", kind);
        log_kinds[i].last_ns = now;
    } else if (i < LOG_KINDS) {
        if (now - log_kinds[i].last_ns < (int64_t)every_s * 1000000000LL) {
            log_kinds[i].suppressed++;
            write_it = 0;
        } else {
            suppressed = log_kinds[i].suppressed;
            log_kinds[i].suppressed = 0;
            log_kinds[i].last_ns = now;
        }
    } /* else: the table is full: every line is written (kinds are few and fixed) */
    pthread_mutex_unlock(&log_mu);
    if (!write_it)
        return;
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)suppressed);
    va_list ap;
    va_start(ap, msg);
    log_v(lvl, msg, suppressed ? "suppressed" : NULL, n, ap);
    va_end(ap);
}
