#include "runspec/verdicts.h"

#include <string.h>

static int vd_err(char *err, size_t n, const char *flag, const mt_parse_err_t *pe)
{
    if (pe->col > 0)
        snprintf(err, n, "mortar run: %s: col %d: %s", flag, pe->col, pe->msg);
    else
        snprintf(err, n, "mortar run: %s: %s", flag, pe->msg);
    return MT_EPARSE;
}

/* The message without a prefix or column: the run spec says where (in a config file the
 * column is folded into FILE:LINE:COL, elsewhere it is given as "col N: "). */
static int vd_msg(char *err, size_t n, int *col, const mt_parse_err_t *pe)
{
    *col = pe->col;
    snprintf(err, n, "%s", pe->msg);
    return MT_EPARSE;
}

int mt__verdicts_add_autostop(mt__verdicts_t *v, const char *text, int *col, char *err, size_t n)
{
    mt_parse_err_t pe = {0};
    size_t got = 0;
    int rc =
        mt_autostop_parse_list(text, v->crits + v->ncrits, MT__MAX_VERDICTS - v->ncrits, &got, &pe);
    if (rc != MT_OK)
        return vd_msg(err, n, col, &pe);
    v->ncrits += got;
    return MT_OK;
}

int mt__verdicts_add_threshold(mt__verdicts_t *v, const char *text, int *col, char *err, size_t n)
{
    mt_parse_err_t pe = {0};
    if (v->nths >= MT__MAX_VERDICTS) {
        snprintf(err, n, "more than %d thresholds", MT__MAX_VERDICTS);
        return MT_ERANGE;
    }
    if (mt_threshold_parse(text, &v->ths[v->nths], &pe) != MT_OK)
        return vd_msg(err, n, col, &pe);
    v->nths++;
    return MT_OK;
}

bool mt__verdicts_any(const mt__verdicts_t *v)
{
    return v->ncrits > 0 || v->nths > 0;
}

int mt__verdicts_start(mt__verdicts_t *v, const char *const *tags, size_t ntags,
                       uint32_t max_instances, char *err, size_t n)
{
    mt_parse_err_t pe = {0};
    int rc;
    v->max_instances = max_instances;
    if (v->ncrits > 0) {
        rc = mt_autostop_new(v->crits, v->ncrits, tags, ntags, &v->as, &pe);
        if (rc != MT_OK)
            return vd_err(err, n, "--autostop", &pe);
    }
    for (size_t i = 0; i < v->nths; i++) {
        rc = mt_threshold_check_tags(&v->ths[i], tags, ntags, &pe);
        if (rc != MT_OK)
            return vd_err(err, n, "--threshold", &pe);
    }
    if (v->nths > 0) {
        rc = mt_threshold_watch_new(v->ths, v->nths, tags, ntags, &v->watch, &pe);
        if (rc != MT_OK)
            return vd_err(err, n, "--threshold", &pe);
    }
    return MT_OK;
}

bool mt__verdicts_second(mt__verdicts_t *v, const mt_second_t *s)
{
    bool stop = false;
    if (v->as != NULL && !v->tripped && mt_autostop_feed(v->as, s, v->max_instances, &v->trip) == 1)
        v->tripped = stop = true;
    if (v->watch != NULL && !v->aborted) {
        size_t idx = 0;
        mt_threshold_result_t res;
        if (mt_threshold_watch_feed(v->watch, s, &idx, &res) == 1) {
            v->aborted = stop = true;
            v->abort_index = idx;
        }
    }
    return stop;
}

void mt__verdicts_finish(mt__verdicts_t *v, const mt_run_result_t *r, const char *const *tags,
                         size_t ntags)
{
    for (size_t i = 0; i < v->nths; i++)
        mt_threshold_eval_run(&v->ths[i], r, tags, ntags, &v->results[i]);
    v->finished = true;
}

int mt__verdicts_exit_code(const mt__verdicts_t *v)
{
    if (v->tripped)
        return v->trip.exit_code;
    for (size_t i = 0; v->finished && i < v->nths; i++)
        if (!v->results[i].pass)
            return MT_THRESHOLD_EXIT_CODE;
    return 0;
}

void mt__verdicts_print(FILE *f, const mt__verdicts_t *v)
{
    if (!mt__verdicts_any(v))
        return;
    fprintf(f, "\nVerdicts\n");
    for (size_t i = 0; i < v->ncrits; i++) {
        bool hit = v->tripped && v->trip.index == i;
        if (hit)
            fprintf(f, "  autostop  TRIPPED  %s (second %u, exit %d)\n", v->trip.message,
                    (unsigned)v->trip.second, v->trip.exit_code);
        else
            fprintf(f, "  autostop  ok       %s\n", v->crits[i].text);
    }
    for (size_t i = 0; v->finished && i < v->nths; i++)
        fprintf(f, "  threshold %-8s %s%s\n", v->results[i].pass ? "pass" : "FAIL",
                v->results[i].message,
                v->aborted && v->abort_index == i ? " (aborted the run)" : "");
}

json_t *mt__verdicts_json(const mt__verdicts_t *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < v->ncrits; i++) {
        bool hit = v->tripped && v->trip.index == i;
        json_t *o = json_pack("{s:s, s:s, s:b}", "kind", "autostop", "spec", v->crits[i].text,
                              "passed", !hit);
        if (o != NULL && hit) {
            json_object_set_new(o, "message", json_string(v->trip.message));
            json_object_set_new(o, "exit_code", json_integer(v->trip.exit_code));
            json_object_set_new(o, "second", json_integer(v->trip.second));
        }
        json_array_append_new(a, o);
    }
    for (size_t i = 0; a != NULL && v->finished && i < v->nths; i++) {
        const mt_threshold_result_t *r = &v->results[i];
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:s, s:b, s:b}", "kind", "threshold", "spec", v->ths[i].text,
                      "passed", r->pass, "message", r->message, "abort_on_fail",
                      v->ths[i].abort_on_fail, "aborted", v->aborted && v->abort_index == i);
        if (o != NULL && r->has_value) {
            json_object_set_new(o, "observed", json_real(r->observed));
            json_object_set_new(o, "unit", json_string(r->unit));
        }
        json_array_append_new(a, o);
    }
    return a;
}

void mt__verdicts_dispose(mt__verdicts_t *v)
{
    mt_autostop_free(v->as);
    mt_threshold_watch_free(v->watch);
    v->as = NULL;
    v->watch = NULL;
}
