/* libFuzzer driver for mt__config_parse: any bytes (YAML, JSON, Tank load.yaml or garbage)
 * either become options appended after the caller's entries, or leave them untouched with a
 * positioned, printable message. Never a crash or a leak (ASan's leak check runs at exit).
 *
 * The source is included so that libFuzzer's coverage instrumentation sees it; link with
 * -lyaml (libyaml itself is not instrumented). */
#include "../../src/runspec/config.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt__config_info_t info;
    mt_parse_err_t err;
    char **argv;
    char *url = (char *)"sentinel";
    int argc = 1, rc;
    bool want_info;

    if (size > 64 * 1024)
        return 0;
    argv = malloc(2 * sizeof(*argv));
    if (argv == NULL)
        return 0;
    argv[0] = malloc(4);
    if (argv[0] == NULL) {
        free(argv);
        return 0;
    }
    memcpy(argv[0], "run", 4);
    argv[1] = NULL;
    want_info = size > 0 && (data[size - 1] & 1) == 0;

    rc = mt__config_parse((const char *)data, size, "fuzz.yaml", &argc, &argv, &url,
                          want_info ? &info : NULL, &err);
    CHECK(argv != NULL && strcmp(argv[0], "run") == 0);
    CHECK(argv[argc] == NULL);
    if (rc == MT_OK) {
        CHECK(argc >= 1 && argc - 1 <= MT_CONFIG_MAX_ARGS);
        for (int i = 1; i < argc; i++)
            CHECK(argv[i] != NULL);
        /* every option comes first as "--name" */
        CHECK(argc == 1 || strncmp(argv[1], "--", 2) == 0);
        if (want_info) {
            CHECK(info.first == 1 && info.n == argc - 1);
            for (int i = 0; i < info.n; i++)
                CHECK(info.src[i].line >= 1 && info.src[i].col >= 1);
            for (size_t i = 0; i < info.nwarnings; i++)
                CHECK(strncmp(info.warnings[i], "fuzz.yaml:", 10) == 0);
        }
    } else {
        CHECK(rc == MT_EPARSE || rc == MT_ENOMEM);
        CHECK(argc == 1 && url == NULL);
        CHECK(err.msg[0] != '\0');
        fuzz_check_ascii(err.msg);
        CHECK(err.line >= 0 && err.col >= 0);
        if (want_info)
            CHECK(info.n == 0 && info.nwarnings == 0 && info.src == NULL);
    }
    if (want_info)
        mt__config_info_dispose(&info);
    if (url != NULL && rc == MT_OK)
        free(url);
    mt__config_argv_free(argc, argv);
    return 0;
}
