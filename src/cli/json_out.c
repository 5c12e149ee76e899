#include "cli/json_out.h"
#include "runspec/runspec.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "result/result.h"

#define JO_DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(12))

struct mt__json {
    mt__result_t *doc; /* the document (src/result) */
    char *path;        /* NULL: stdout */
    char *tmp_path;
    FILE *tmp;
    bool memory;    /* path NULL: keep the document in memory only (--html alone) */
    int second_err; /* the first second that could not be recorded */
};

static json_t *jo_config(const mt__run_info_t *info)
{
    return mt_runspec_result_config(info->spec, NULL);
}

int mt__json_new(const mt__run_info_t *info, const char *path, mt__json_t **out, char *errbuf,
                 size_t errlen)
{
    mt__json_t *j = calloc(1, sizeof(*j));
    int rc = MT_ENOMEM;

    *out = NULL;
    if (j == NULL)
        goto out;
    if (mt__result_new(jo_config(info), info->tags, info->ntags, &j->doc) != MT_OK)
        goto out;

    if (path == NULL)
        j->memory = true;
    else if (strcmp(path, "-") != 0) {
        size_t n = strlen(path) + 32;
        j->path = strdup(path);
        j->tmp_path = malloc(n);
        if (j->path == NULL || j->tmp_path == NULL)
            goto out;
        snprintf(j->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
        j->tmp = fopen(j->tmp_path, "w");
        if (j->tmp == NULL) {
            snprintf(errbuf, errlen, "--json: cannot create '%s': %s", j->tmp_path,
                     strerror(errno));
            free(j->tmp_path);
            j->tmp_path = NULL;
            rc = MT_ESYS;
            goto out;
        }
    }
    *out = j;
    j = NULL;
    rc = MT_OK;
out:
    if (rc == MT_ENOMEM)
        snprintf(errbuf, errlen, "--json: out of memory");
    mt__json_free(j);
    return rc;
}

int mt__json_second(mt__json_t *j, const mt_second_t *s)
{
    int rc = mt__result_add_second(j->doc, s);
    if (rc != MT_OK && j->second_err == MT_OK)
        j->second_err = rc;
    return rc;
}

int mt__json_finish(mt__json_t *j, const mt_run_result_t *r, bool interrupted, char *errbuf,
                    size_t errlen)
{
    const char *where = j->path != NULL ? j->path : "stdout";
    json_t *root = mt__result_doc(j->doc);
    int rc = mt__result_finish(j->doc, r, interrupted);

    if (j->second_err != MT_OK) {
        snprintf(errbuf, errlen, "--json: cannot record a second: %s", mt_strerror(j->second_err));
        goto out;
    }
    if (rc == MT_ENOMEM) {
        snprintf(errbuf, errlen, "--json: out of memory");
        goto out;
    }
    if (rc != MT_OK) {
        snprintf(errbuf, errlen, "--json: cannot encode a histogram: %s", mt_strerror(rc));
        goto out;
    }
    if (j->memory)
        goto out;
    if (j->path == NULL) {
        if (json_dumpf(root, stdout, JO_DUMP_FLAGS) != 0 || fputc('\n', stdout) == EOF ||
            fflush(stdout) != 0) {
            rc = MT_ESYS;
            snprintf(errbuf, errlen, "--json: cannot write to %s: %s", where, strerror(errno));
        }
        goto out;
    }

    errno = 0;
    if (json_dumpf(root, j->tmp, JO_DUMP_FLAGS) != 0 || fputc('\n', j->tmp) == EOF ||
        fflush(j->tmp) != 0 || fsync(fileno(j->tmp)) != 0) {
        rc = MT_ESYS;
        snprintf(errbuf, errlen, "--json: cannot write '%s': %s", j->tmp_path,
                 errno != 0 ? strerror(errno) : "write failed");
        goto out;
    }
    {
        FILE *f = j->tmp;
        j->tmp = NULL;
        if (fclose(f) != 0) {
            rc = MT_ESYS;
            snprintf(errbuf, errlen, "--json: cannot write '%s': %s", j->tmp_path, strerror(errno));
            goto out;
        }
    }
    if (rename(j->tmp_path, j->path) != 0) {
        rc = MT_ESYS;
        snprintf(errbuf, errlen, "--json: cannot rename '%s' to '%s': %s", j->tmp_path, j->path,
                 strerror(errno));
        goto out;
    }
    free(j->tmp_path); /* renamed: nothing left to remove */
    j->tmp_path = NULL;
    rc = MT_OK;
out:
    return rc;
}

char *mt__json_text(const mt__json_t *j, size_t *len)
{
    char *text = json_dumps(mt__result_doc(j->doc), JO_DUMP_FLAGS);
    *len = text != NULL ? strlen(text) : 0;
    return text;
}

void mt__json_set(mt__json_t *j, const char *key, json_t *value)
{
    mt__result_set(j->doc, key, value);
}

void mt__json_free(mt__json_t *j)
{
    if (j == NULL)
        return;
    if (j->tmp != NULL)
        fclose(j->tmp);
    if (j->tmp_path != NULL)
        unlink(j->tmp_path);
    free(j->tmp_path);
    free(j->path);
    mt__result_free(j->doc);
    free(j);
}
