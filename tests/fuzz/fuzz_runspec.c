/* libFuzzer driver for the run spec's JSON reader (what POST /runs and agents parse): any bytes
 * either fail with a message and a place (a JSON pointer, printable) or give a spec whose
 * canonical JSON reads back to the same canonical JSON (parse(canonical(x)) == x). The first
 * byte picks the mode (server: no local files; CLI). Never a crash or a leak.
 *
 * The sources are included so that libFuzzer's coverage instrumentation sees them. */
#include "../../src/runspec/runspec.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"

static void check_printable(const char *s)
{
    for (const char *p = s; *p; p++)
        CHECK((unsigned char)*p >= 0x20);
}

static int read_spec(mt_runspec_t *s, unsigned mode, const char *text, size_t len, bool build,
                     mt_rs_err_t *err)
{
    int rc;
    mt_runspec_init(s, mode);
    rc = mt_runspec_from_json_text(s, text, len, "/config", err);
    if (rc == MT_OK)
        rc = mt_runspec_check(s, err);
    if (rc == MT_OK && build)
        rc = mt_runspec_build(s, err);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_runspec_t a, b;
    mt_rs_err_t err;
    unsigned mode;
    json_t *ja, *jb;
    char *ta;
    char buf[1024];
    int rc;

    if (size < 1 || size > 64 * 1024)
        return 0;
    mode = data[0] & 1 ? MT_RS_CLI : MT_RS_SERVER;
    rc = read_spec(&a, mode, (const char *)data + 1, size - 1, false, &err);
    if (rc != MT_OK) {
        CHECK(rc == MT_EINVAL || rc == MT_ENOMEM);
        CHECK(err.msg[0] != '\0');
        check_printable(err.msg);
        if (err.at.src == MT_RS_SRC_JSON)
            CHECK(strncmp(err.at.name, "/config", 7) == 0);
        mt_rs_err_format(&err, buf, sizeof(buf));
        mt_runspec_dispose(&a);
        return 0;
    }
    /* build reads no file in server mode; https would load the system's CAs on every input */
    if (mode == MT_RS_SERVER && !a.url.tls) {
        rc = mt_runspec_build(&a, &err);
        CHECK(rc == MT_OK || rc == MT_EINVAL || rc == MT_ENOMEM);
    }
    ja = mt_runspec_to_json(&a);
    CHECK(ja != NULL);
    ta = json_dumps(ja, JSON_COMPACT);
    CHECK(ta != NULL);
    rc = read_spec(&b, mode, ta, strlen(ta), false, &err);
    CHECK(rc == MT_OK);
    jb = mt_runspec_to_json(&b);
    CHECK(jb != NULL && json_equal(ja, jb));
    free(ta);
    json_decref(ja);
    json_decref(jb);
    mt_runspec_dispose(&a);
    mt_runspec_dispose(&b);
    return 0;
}
