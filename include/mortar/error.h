/* mortar error codes: functions return 0 on success or a negative MT_E* code.
 * One table (MT_ERRNO_MAP) holds codes and messages; mt_strerror() reads it. */
#ifndef MORTAR_ERROR_H
#define MORTAR_ERROR_H

#define MT_ERRNO_MAP(XX)                                                                           \
    XX(EAGAIN, -1, "would block / need more input")                                                \
    XX(EINVAL, -2, "invalid argument")                                                             \
    XX(ENOMEM, -3, "out of memory")                                                                \
    XX(ERANGE, -4, "value out of range")                                                           \
    XX(EPARSE, -5, "syntax error")                                                                 \
    XX(EPROTO, -6, "protocol error")                                                               \
    XX(ETOOBIG, -7, "size limit exceeded")                                                         \
    XX(ESYS, -8, "system call failed")                                                             \
    XX(EDNS, -9, "name resolution failed")                                                         \
    XX(EEOF, -10, "unexpected end of input")                                                       \
    XX(EFORMAT, -11, "unsupported or corrupt encoding")                                            \
    XX(EBUSY, -12, "at capacity / busy")                                                           \
    XX(ENOTFOUND, -13, "not found")                                                                \
    XX(ECONFLICT, -14, "conflict")                                                                 \
    XX(ELATE, -15, "the start instant has passed")                                                 \
    XX(EPOLICY, -16, "refused by the target policy")

enum {
    MT_OK = 0,
#define XX(name, code, msg) MT_##name = (code),
    MT_ERRNO_MAP(XX)
#undef XX
};

/* Static message for an MT_E* code ("unknown error" for anything else). Never NULL. */
const char *mt_strerror(int err);

/* Position-carrying error for parsers of people's input (schedules, flags, files).
 * line and col are 1-based; 0 means "not applicable". msg is a static or buffer string. */
typedef struct mt_parse_err {
    int line;
    int col;
    char msg[160];
} mt_parse_err_t;

#endif
