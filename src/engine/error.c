#include "mortar/error.h"

const char *mt_strerror(int err)
{
    switch (err) {
    case MT_OK:
        return "success";
#define XX(name, code, msg)                                                                        \
    case MT_##name:                                                                                \
        return msg;
        MT_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}
