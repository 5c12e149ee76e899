/* The executor (runspec/runjob.h): a checked and built spec driven through the engine. */
#include "runspec/runjob.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script/script.h"

struct mt__runjob {
    mt_runspec_t spec;
    mt_run_config_t cfg;
    pthread_mutex_t mu;
    mt_run_t *run; /* after prepare */
    bool stop;
    bool executed;
    bool has_part;
    mt_part_t part; /* owned copy (mt__runjob_set_part) */
    mt_stripe_t stripe;
    int64_t start_unix_ns;
    /* a script's run: requests per second of each second, for done()'s requests stats */
    mt_hist_t *rps;
    mt_second_cb user_cb;
    void *user_ud;
};

int mt__runjob_new_spec(mt_runspec_t *spec, mt__runjob_t **out, mt_rs_err_t *err)
{
    mt__runjob_t *j;
    int rc;

    *out = NULL;
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        mt_runspec_dispose(spec);
        memset(err, 0, sizeof(*err));
        err->code = MT_ENOMEM;
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return MT_ENOMEM;
    }
    pthread_mutex_init(&j->mu, NULL);
    j->spec = *spec;
    memset(spec, 0, sizeof(*spec));
    rc = mt_runspec_check(&j->spec, err);
    if (rc == MT_OK)
        rc = mt_runspec_build(&j->spec, err);
    if (rc != MT_OK) {
        mt__runjob_free(j);
        return rc;
    }
    *out = j;
    return MT_OK;
}

int mt__runjob_new(const char *config, size_t len, mt__runjob_t **out, mt_rs_err_t *err)
{
    mt_runspec_t s;
    int rc;

    *out = NULL;
    mt_runspec_init(&s, MT_RS_SERVER);
    rc = mt_runspec_from_json_text(&s, config, len, "", err);
    if (rc != MT_OK) {
        mt_runspec_dispose(&s);
        return rc;
    }
    return mt__runjob_new_spec(&s, out, err);
}

void mt__runjob_set_records(mt__runjob_t *j, mt_records_cb cb, void *ud)
{
    j->cfg.on_records = cb;
    j->cfg.records_ud = ud;
}

void mt__runjob_set_finishing(mt__runjob_t *j, void (*cb)(uint64_t, int64_t, void *), void *ud)
{
    j->cfg.on_finishing = cb;
    j->cfg.finishing_ud = ud;
}

void mt__runjob_set_addr_check(mt__runjob_t *j,
                               int (*cb)(const struct sockaddr *, unsigned, void *), void *ud)
{
    j->cfg.addr_check = cb;
    j->cfg.addr_check_ud = ud;
}

int mt__runjob_prepare(mt__runjob_t *j, mt_rs_err_t *err)
{
    mt_run_t *run = NULL;
    int rc;

    if (j->run != NULL)
        return MT_OK;
    mt_runspec_engine_config(&j->spec, &j->cfg);
    if (j->has_part) {
        j->cfg.connections = j->part.connections;
        j->cfg.threads = j->part.threads;
        if (!j->spec.threads_set) /* no threads key: this machine's CPUs, as mortar run does */
            j->cfg.threads = mt_run_default_threads(j->cfg.connections);
        j->cfg.stripe = &j->stripe;
        if (j->cfg.order == MT_ORDER_RANDOM && j->part.of > 1)
            j->cfg.seed ^= 0x9E3779B97F4A7C15ULL * ((uint64_t)j->part.index + 1);
    }
    j->cfg.start_unix_ns = j->start_unix_ns;
    if (j->spec.script_obj != NULL) {
        char addr[300], msg[390];
        snprintf(addr, sizeof addr, j->spec.url.ipv6 ? "[%s]:%s" : "%s:%s", j->spec.url.host,
                 j->spec.url.port);
        rc = mt__script_start(j->spec.script_obj, j->cfg.threads, addr, msg, sizeof msg);
        if (rc == MT_OK && mt_hist_new(1, 1000000000LL, 3, &j->rps) != MT_OK)
            rc = MT_ENOMEM;
        if (rc != MT_OK) {
            memset(err, 0, sizeof(*err));
            err->code = rc == MT_ENOMEM ? MT_ENOMEM : MT_EINVAL;
            snprintf(err->msg, sizeof(err->msg), "%s", rc == MT_ENOMEM ? "out of memory" : msg);
            return err->code;
        }
        j->cfg.script = mt__script_hooks(j->spec.script_obj);
    }
    rc = mt_run_new(&j->cfg, &run);
    if (rc != MT_OK) {
        memset(err, 0, sizeof(*err));
        err->code = rc;
        snprintf(err->msg, sizeof(err->msg), "cannot set up the run: %s", mt_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&j->mu);
    j->run = run;
    if (j->stop)
        mt_run_stop(run); /* stopped before it started: the engine ends at once */
    pthread_mutex_unlock(&j->mu);
    return MT_OK;
}

mt_run_t *mt__runjob_engine(const mt__runjob_t *j)
{
    return j->run;
}

const mt_run_config_t *mt__runjob_config(const mt__runjob_t *j)
{
    return &j->cfg;
}

/* A script's run: each second's request rate is kept for done(). */
static void runjob_second(const mt_second_t *s, void *ud)
{
    mt__runjob_t *j = ud;
    if (s->span_ns > 0 && j->rps != NULL)
        mt_hist_record_clamped(j->rps,
                               (int64_t)((double)s->c.completed * 1e9 / (double)s->span_ns + 0.5));
    if (j->user_cb != NULL)
        j->user_cb(s, j->user_ud);
}

int mt__runjob_exec(mt__runjob_t *j, mt_second_cb on_second, void *ud, mt_rs_err_t *err)
{
    int rc;

    memset(err, 0, sizeof(*err));
    if (j->executed) {
        err->code = MT_EINVAL;
        snprintf(err->msg, sizeof(err->msg), "the job has run already");
        return MT_EINVAL;
    }
    j->executed = true;
    rc = mt__runjob_prepare(j, err);
    if (rc != MT_OK)
        return rc;
    if (j->spec.script_obj != NULL) {
        j->user_cb = on_second;
        j->user_ud = ud;
        rc = mt_run_exec(j->run, runjob_second, j);
    } else {
        rc = mt_run_exec(j->run, on_second, ud);
    }
    if (rc != MT_OK && j->spec.script_obj != NULL && mt__script_error(j->spec.script_obj)[0]) {
        err->code = MT_EINVAL;
        snprintf(err->msg, sizeof(err->msg), "%s", mt__script_error(j->spec.script_obj));
        return MT_EINVAL;
    }
    if (rc == MT_ELATE) {
        err->code = rc;
        snprintf(err->msg, sizeof(err->msg), "not started: the start instant has passed");
    } else if (rc == MT_EPOLICY) {
        err->code = rc;
        snprintf(err->msg, sizeof(err->msg),
                 "not started: the target's address is refused by "
                 "the target policy");
    } else if (rc != MT_OK) {
        err->code = rc;
        snprintf(err->msg, sizeof(err->msg), "the engine failed: %s", mt_strerror(rc));
    }
    return rc;
}

void mt__runjob_stop(mt__runjob_t *j)
{
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    if (j->run != NULL)
        mt_run_stop(j->run);
    pthread_mutex_unlock(&j->mu);
}

const mt_run_result_t *mt__runjob_result(const mt__runjob_t *j)
{
    return j->run != NULL && j->executed ? mt_run_result(j->run) : NULL;
}

int mt__runjob_script_done(mt__runjob_t *j, mt_rs_err_t *err)
{
    char msg[390];
    int rc;

    memset(err, 0, sizeof(*err));
    if (j->spec.script_obj == NULL || j->run == NULL || !j->executed)
        return MT_OK;
    rc = mt__script_done(j->spec.script_obj, mt_run_result(j->run), j->rps, msg, sizeof msg);
    if (rc != MT_OK) {
        err->code = rc;
        snprintf(err->msg, sizeof(err->msg), "%s", msg);
    }
    return rc;
}

const char *const *mt__runjob_tags(const mt__runjob_t *j, size_t *ntags)
{
    if (j->spec.script_obj != NULL)
        return mt__script_tags(j->spec.script_obj, ntags);
    if (!j->spec.has_ammo || j->spec.ammo.ntags == 0) {
        *ntags = 0;
        return NULL;
    }
    *ntags = j->spec.ammo.ntags;
    return j->spec.ammo.tags;
}

int mt__runjob_connections(const mt__runjob_t *j)
{
    return j->spec.connections;
}

const mt__verdicts_t *mt__runjob_verdicts(const mt__runjob_t *j)
{
    return &j->spec.verdicts;
}

mt_runspec_t *mt__runjob_spec(mt__runjob_t *j)
{
    return &j->spec;
}

int mt__runjob_set_start(mt__runjob_t *j, int64_t start_unix_ns)
{
    if (j->executed || j->run != NULL || start_unix_ns < 0)
        return MT_EINVAL;
    j->start_unix_ns = start_unix_ns;
    return MT_OK;
}

void mt__runjob_model(const mt__runjob_t *j, mt_split_model_t *out)
{
    out->open = j->spec.open_model;
    out->connections = j->spec.connections;
    out->threads = j->spec.threads;
}

int mt__runjob_set_part(mt__runjob_t *j, const mt_part_t *part, int64_t start_unix_ns)
{
    char why[160];
    uint32_t *res = NULL;

    if (j->executed || j->run != NULL || start_unix_ns < 0 ||
        (part != NULL && mt_part_check(part, why, sizeof why) != MT_OK))
        return MT_EINVAL;
    if (part != NULL) {
        res = malloc(part->nresidues * sizeof *res);
        if (res == NULL)
            return MT_ENOMEM;
        memcpy(res, part->residues, part->nresidues * sizeof *res);
    }
    mt_part_dispose(&j->part);
    j->has_part = part != NULL;
    if (part != NULL) {
        j->part = *part;
        j->part.residues = res;
        j->stripe = mt_part_stripe(&j->part);
    }
    j->start_unix_ns = start_unix_ns;
    return MT_OK;
}

void mt__runjob_free(mt__runjob_t *j)
{
    if (j == NULL)
        return;
    mt_part_dispose(&j->part);
    if (j->run != NULL)
        mt_run_free(j->run);
    mt_hist_free(j->rps);
    mt_runspec_dispose(&j->spec);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
