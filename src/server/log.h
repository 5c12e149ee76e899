/* Structured logs: one JSON object per line on stderr (or a file), e.g.
 *   {"ts":"2026-11-27T23:01:02.345Z","level":"info","msg":"run
 * started","run":"0193...","agent":"local"} Fields are given as key/value string pairs (numbers as
 * text are written as numbers when they parse as such); values are JSON-escaped. Thread-safe; a
 * line is written with one write(2). */
#ifndef MT_SERVER_LOG_H
#define MT_SERVER_LOG_H

enum mt__log_level { MT_LOG_DEBUG, MT_LOG_INFO, MT_LOG_WARN, MT_LOG_ERROR };

void mt__log_init(int fd, enum mt__log_level min);
/* mt__log(MT_LOG_INFO, "run started", "run", id, "agent", name, NULL) */
void mt__log(enum mt__log_level lvl, const char *msg, ...) __attribute__((sentinel));

/* The same, at most one line per kind every every_s seconds (a failing store or a looping
 * thread must not flood the log): the lines in between are counted, and the next line written
 * carries "suppressed": N. kind: a short fixed name ("store.append", ...). */
void mt__log_limited(const char *kind, int every_s, enum mt__log_level lvl, const char *msg, ...)
    __attribute__((sentinel));

#endif
