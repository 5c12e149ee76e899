/* libFuzzer driver for the report (src/report/report.c): any bytes as a result document become
 * either a page and a text table, or MT_EFORMAT with a message naming the input. Never a crash
 * or a leak (ASan's leak check runs at exit). Bytes after a line "#B#" are a second document,
 * for the comparison.
 *
 * report.c lives in mortar_cli, which cmake/web.cmake links into this target (with the embedded
 * assets); the whole tree is built with coverage instrumentation under MT_FUZZ. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "report/report.h"
#include "mortar/error.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(FILE *sink, const mt__report_src_t *a, const mt__report_src_t *b)
{
    char err[256];
    int rc;

    err[0] = 'x';
    err[1] = '\0';
    rc = mt__report_html(sink, a, b, err, sizeof(err));
    CHECK(rc == MT_OK || rc == MT_EFORMAT || rc == MT_ENOMEM);
    if (rc == MT_EFORMAT) /* a message naming the input */
        CHECK(strncmp(err, "a: ", 3) == 0 || strncmp(err, "b: ", 3) == 0);
    int rc2 = mt__report_text(sink, a, b, err, sizeof(err));
    CHECK(rc2 == rc || rc2 == MT_ENOMEM || rc == MT_ENOMEM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    const char *text = (const char *)data, *sep;
    mt__report_src_t a = {text, size, "a"}, b = {NULL, 0, "b"};

    if (size > (1u << 20))
        return 0;
    if (sink == NULL)
        sink = fopen("/dev/null", "w");
    if (sink == NULL)
        return 0;
    sep = memmem(text, size, "\n#B#\n", 5);
    if (sep != NULL) {
        a.len = (size_t)(sep - text);
        b.json = sep + 5;
        b.len = size - a.len - 5;
        one(sink, &a, &b);
    } else {
        one(sink, &a, NULL);
    }
    return 0;
}
