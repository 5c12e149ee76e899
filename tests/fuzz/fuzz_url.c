/* libFuzzer driver for the URL parser (and the request builder fed with what it returns).
 * Checks the parser's promises: on success the host is non-empty, the port is 1..65535, the
 * target starts with '/' and holds no byte that would break the request line; on failure a
 * column inside the input (or just past it) and a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/request.h"
#include "fuzz_text.h"
#include "proto/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size, SIZE_MAX - 1);
    mt_url_t u;
    mt_parse_err_t err;
    int rc;

    if (text == NULL)
        return 0;

    rc = mt_url_parse(text, &u, &err);
    if (rc == MT_OK) {
        mt_request_spec_t spec = {.target = u.target, .host = u.host_header};
        char *req = NULL;
        size_t len = 0;

        if (u.host[0] == '\0' || u.port_num == 0 || u.target[0] != '/')
            abort();
        for (const char *p = u.target; *p != '\0'; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                abort();
        if (strchr(u.host_header, '\r') != NULL || strchr(u.host_header, '\n') != NULL)
            abort();
        if (mt_request_build(&spec, &req, &len, &err) != MT_OK)
            abort(); /* whatever the parser accepts must make a valid request */
        if (len < 4 || memcmp(req + len - 4, "\r\n\r\n", 4) != 0)
            abort();
        free(req);
        mt_url_dispose(&u);
    } else {
        if (rc != MT_ENOMEM &&
            (err.col < 1 || (size_t)err.col > strlen(text) + 1 || err.msg[0] == '\0'))
            abort();
    }

    /* the -H splitter on the same bytes */
    {
        mt_header_t h;
        if (mt_header_parse(text, &h, &err) == MT_OK) {
            if (!mt_http_is_token(h.name, h.name_len))
                abort();
            if (memchr(h.value, '\r', h.value_len) != NULL ||
                memchr(h.value, '\n', h.value_len) != NULL)
                abort();
        }
    }
    free(text);
    return 0;
}
