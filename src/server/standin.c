/* stand-in until split merges (see standin.h). */
#include "server/standin.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mortar/error.h"

int mt_split(uint32_t n, int connections, int threads, mt_part_t *parts)
{
    if (n == 0)
        return MT_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        parts[i] = (mt_part_t){.index = i, .of = n, .period = n, .nresidues = 1};
        parts[i].residues = malloc(sizeof(uint32_t));
        if (parts[i].residues == NULL)
            return MT_ENOMEM;
        parts[i].residues[0] = i;
        parts[i].connections = connections / (int)n + ((int)i < connections % (int)n ? 1 : 0);
        parts[i].threads = threads < parts[i].connections ? threads : parts[i].connections;
    }
    return MT_OK;
}

void mt_part_dispose(mt_part_t *p)
{
    if (p != NULL) {
        free(p->residues);
        p->residues = NULL;
    }
}

json_t *mt_part_to_json(const mt_part_t *p)
{
    json_t *r = json_array();
    for (uint32_t i = 0; i < p->nresidues; i++)
        json_array_append_new(r, json_integer(p->residues[i]));
    return json_pack("{s:i, s:i, s:i, s:o, s:i, s:i}", "index", (int)p->index, "of", (int)p->of,
                     "period", (int)p->period, "residues", r, "connections", p->connections,
                     "threads", p->threads);
}

int mt_part_from_json(const json_t *j, mt_part_t *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    json_t *r = json_object_get(j, "residues");
    json_int_t idx = json_integer_value(json_object_get(j, "index")),
               of = json_integer_value(json_object_get(j, "of")),
               per = json_integer_value(json_object_get(j, "period"));
    if (!json_is_object(j) || !json_is_array(r) || of < 1 || idx < 0 || idx >= of || per < 1 ||
        json_array_size(r) > (size_t)per) {
        snprintf(err, errlen, "part: index, of, period and residues expected");
        return MT_EINVAL;
    }
    p->index = (uint32_t)idx;
    p->of = (uint32_t)of;
    p->period = (uint32_t)per;
    p->nresidues = (uint32_t)json_array_size(r);
    p->residues = calloc(p->nresidues + 1, sizeof(uint32_t));
    if (p->residues == NULL)
        return MT_ENOMEM;
    for (uint32_t i = 0; i < p->nresidues; i++) {
        json_int_t v = json_integer_value(json_array_get(r, i));
        if (v < 0 || v >= per) {
            snprintf(err, errlen, "part: residues[%u] out of [0, period)", i);
            mt_part_dispose(p);
            return MT_EINVAL;
        }
        p->residues[i] = (uint32_t)v;
    }
    p->connections = (int)json_integer_value(json_object_get(j, "connections"));
    p->threads = (int)json_integer_value(json_object_get(j, "threads"));
    return MT_OK;
}

int mt__runjob_set_part(mt__runjob_t *j, const mt_part_t *part, int64_t start_unix_ns)
{
    (void)j;
    (void)part;
    (void)start_unix_ns;
    return MT_OK;
}

int mt__standin_wait_start(int64_t start_unix_ns)
{
    struct timespec now, ts;
    if (start_unix_ns <= 0)
        return MT_OK;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t n = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (n > start_unix_ns + 50000000LL)
        return MT_ECONFLICT;
    ts.tv_sec = (time_t)(start_unix_ns / 1000000000LL);
    ts.tv_nsec = (long)(start_unix_ns % 1000000000LL);
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    return MT_OK;
}

/* ---- aggregator ---- */

static mt_bus_t *si_bus;
static pthread_mutex_t si_mu = PTHREAD_MUTEX_INITIALIZER;
typedef struct si_run {
    struct si_run *next;
    char run[64], agent[64];
    int64_t second;
    int cont;
} si_run_t;
static si_run_t *si_runs;

void mt__standin_agg_bus(mt_bus_t *bus)
{
    si_bus = bus;
}

static si_run_t *si_get(const char *run, const char *agent)
{
    for (si_run_t *r = si_runs; r != NULL; r = r->next)
        if (strcmp(r->run, run) == 0 && strcmp(r->agent, agent) == 0)
            return r;
    si_run_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    snprintf(r->run, sizeof r->run, "%s", run);
    snprintf(r->agent, sizeof r->agent, "%s", agent);
    r->second = -1;
    r->next = si_runs;
    si_runs = r;
    return r;
}

int mt_agg_watch_agents(mt_agg_t *g, const char *run_id, const char *spec_json,
                        const char *const *agents, size_t n, const mt_agg_opts_t *opts, char *err,
                        size_t errlen)
{
    int cont =
        opts != NULL && opts->on_agent_loss != NULL && strcmp(opts->on_agent_loss, "continue") == 0;
    pthread_mutex_lock(&si_mu);
    for (size_t i = 0; i < n; i++) {
        si_run_t *r = si_get(run_id, agents[i]);
        if (r != NULL)
            r->cont = cont;
    }
    pthread_mutex_unlock(&si_mu);
    /* the control plane's keys are not the aggregator's (autostop, thresholds) */
    json_t *o = json_loads(spec_json, 0, NULL);
    json_object_del(o, "agents");
    json_object_del(o, "agent_labels");
    json_object_del(o, "on_agent_loss");
    json_object_del(o, "placement_timeout");
    char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    int rc = mt_agg_watch(g, run_id, t ? t : spec_json, (unsigned)n, err, errlen);
    free(t);
    return rc;
}

void mt__standin_agg_lost_at(const char *run_id, const char *agent, int64_t second)
{
    pthread_mutex_lock(&si_mu);
    si_run_t *r = si_get(run_id, agent);
    if (r != NULL && second > r->second)
        r->second = second;
    pthread_mutex_unlock(&si_mu);
}

int mt_agg_agent_lost(mt_agg_t *g, const char *run_id, const char *agent)
{
    char subject[128], body[512], id[160];
    (void)g;
    pthread_mutex_lock(&si_mu);
    si_run_t *r = si_get(run_id, agent);
    int64_t sec = r != NULL ? r->second + 1 : 0;
    int cont = r != NULL && r->cont;
    pthread_mutex_unlock(&si_mu);
    snprintf(subject, sizeof subject, "mortar.runs.%s.end", run_id);
    snprintf(id, sizeof id, "%s.%s.end", run_id, agent);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "run_id", run_id, "agent", agent, "outcome",
                          cont ? "completed" : "error", "reason", "");
    char reason[160];
    /* the aggregator prefixes "agent NAME: " */
    snprintf(reason, sizeof reason, "lost at second %lld", (long long)sec);
    json_object_set_new(o, "reason", json_string(reason));
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    snprintf(body, sizeof body, "%s", t ? t : "{}");
    free(t);
    int rc = mt_bus_publish_id(si_bus, subject, id, body, strlen(body));
    if (!cont) { /* policy error: the others stop too */
        snprintf(subject, sizeof subject, "mortar.runs.%s.control", run_id);
        snprintf(body, sizeof body, "{\"stop\":\"agent %s lost at second %lld\"}", agent,
                 (long long)sec);
        mt_bus_publish(si_bus, subject, body, strlen(body));
    }
    return rc;
}
