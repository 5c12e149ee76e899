/* libFuzzer driver for Tank INI configs (runspec/ini.c): any bytes either become a YAML document
 * whose nodes all carry a place in the text, or a positioned, printable message; the whole
 * --config path (mt__config_parse with a .ini name) then maps or refuses it. Never a crash or a
 * leak (ASan's leak check runs at exit).
 *
 * The source is included so that libFuzzer's coverage instrumentation sees it. */
#include "../../src/runspec/ini.c"
#include "runspec/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    yaml_document_t doc;
    mt_parse_err_t err;
    mt__config_info_t info;
    char **argv = NULL, *url = NULL;
    int argc = 0, rc;
    size_t lines = 1;

    if (size > 64 * 1024)
        return 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    (void)mt__ini_detect((const char *)data, size);
    rc = mt__ini_to_yaml((const char *)data, size, &doc, &err);
    if (rc == MT_OK) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        CHECK(root != NULL && root->type == YAML_MAPPING_NODE);
        for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++)
            CHECK(n->start_mark.line < lines && n->end_mark.line >= n->start_mark.line);
        yaml_document_delete(&doc);
    } else {
        CHECK(rc == MT_EPARSE || rc == MT_ENOMEM);
        CHECK(err.msg[0] != '\0');
        fuzz_check_ascii(err.msg);
        CHECK(err.line >= 0 && (size_t)err.line <= lines && err.col >= 0);
    }

    memset(&info, 0, sizeof(info));
    rc = mt__config_parse((const char *)data, size, "fuzz.ini", &argc, &argv, &url, &info, &err);
    if (rc == MT_OK) {
        for (int i = 0; i < info.n; i++)
            CHECK(info.src[i].line >= 1 && (size_t)info.src[i].line <= lines);
    } else {
        CHECK(argc == 0 && url == NULL);
        fuzz_check_ascii(err.msg);
    }
    mt__config_info_dispose(&info);
    free(url);
    mt__config_argv_free(argc, argv);
    return 0;
}
