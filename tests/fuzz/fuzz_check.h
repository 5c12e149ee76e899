/* Shared by the fuzz drivers: CHECK traps (libFuzzer reports the input) when a property the
 * driver asserts does not hold. */
#ifndef MT_FUZZ_CHECK_H
#define MT_FUZZ_CHECK_H

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

/* A message meant for a terminal: printable ASCII only. */
static inline void fuzz_check_ascii(const char *s)
{
    for (const char *p = s; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
}

#endif
