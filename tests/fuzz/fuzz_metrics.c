/* libFuzzer driver for the metrics registry's label parser and renderer: label text (which
 * carries user-chosen names such as test names) goes through add/set/remove; the rendered
 * exposition text must stay well formed. The source is included so coverage sees it. */
#include "../../src/server/metrics.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_text.h"
#include "fuzz_check.h"

/* One sample line: name, optional {labels} that re-canonicalise to themselves, a value. */
static void fuzz_check_sample(const char *line, size_t len)
{
    char buf[MET_MAX_LABEL + 64], canon[MET_MAX_LABEL];
    const char *sp, *brace = memchr(line, '{', len);
    CHECK(len < sizeof buf);
    memcpy(buf, line, len);
    buf[len] = '\0';
    sp = strrchr(buf, ' ');
    CHECK(sp && sp[1] != '\0');
    if (brace) {
        size_t open = (size_t)(brace - line);
        size_t close = (size_t)(sp - buf) - 1;
        CHECK(buf[close] == '}');
        buf[close] = '\0';
        CHECK(met_canon_labels(buf + open + 1, canon, sizeof canon) == MT_OK);
        CHECK(strcmp(canon, buf + open + 1) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt__metrics_t *m;
    char *text, *p, *save = NULL, *render;
    size_t len;

    text = fuzz_cstr(data, size, 8192);
    if (!text)
        return 0;
    if (mt__metrics_new(&m) != MT_OK) {
        free(text);
        return 0;
    }
    CHECK(mt__metrics_declare(m, "g", MT_GAUGE, "a gauge") == MT_OK);
    CHECK(mt__metrics_declare(m, "c_total", MT_COUNTER, "a counter") == MT_OK);
    /* each line: an op character, then label text */
    for (p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
        char lab[600];
        switch (p[0]) {
        case 's':
            mt__metrics_set(m, "g", p + 1, (double)strlen(p));
            break;
        case 'a':
            mt__metrics_add(m, "c_total", p + 1, 1);
            break;
        case 'r':
            mt__metrics_remove(m, "g", p + 1);
            break;
        case 'l': /* a raw value through mt__metrics_labels */
            if (mt__metrics_labels(lab, sizeof lab, "test", p + 1, "run", "r", NULL) == MT_OK) {
                char canon[MET_MAX_LABEL];
                CHECK(met_canon_labels(lab, canon, sizeof canon) == MT_OK);
                mt__metrics_set(m, "g", lab, -1.5);
            }
            break;
        default:
            mt__metrics_declare(m, p, MT_GAUGE, p);
            mt__metrics_set(m, p, "", 1);
            break;
        }
    }
    render = mt__metrics_render(m, &len);
    CHECK(render && strlen(render) == len);
    for (const char *line = render; *line;) {
        const char *nl = strchr(line, '\n');
        CHECK(nl);
        if (line[0] == '#')
            CHECK(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
        else
            fuzz_check_sample(line, (size_t)(nl - line));
        line = nl + 1;
    }
    /* the output is valid UTF-8 */
    for (const char *q = render; *q;) {
        size_t n = met_utf8_len((const unsigned char *)q);
        CHECK(n > 0);
        q += n;
    }
    free(render);
    mt__metrics_free(m);
    free(text);
    return 0;
}
