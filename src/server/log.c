/* Structured JSON log lines (log.h). */
#include "server/log.h"

#include <stdarg.h>
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

void mt__log(enum mt__log_level lvl, const char *msg, ...)
{
    if (lvl < log_min || lvl > MT_LOG_ERROR)
        return;
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
    va_list ap;
    va_start(ap, msg);
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
    va_end(ap);
    log_puts(&l, "}\n");
    ssize_t w = write(log_fd, l.b, l.n);
    (void)w;
}
