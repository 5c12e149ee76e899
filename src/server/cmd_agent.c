/* mortar agent: a long-lived load generator that a `mortar serve --nats` control plane drives
 * over NATS (docs/distributed.md, docs/adr/0022-agents-over-nats.md). It registers by its
 * heartbeats (name, labels, capacity, version, instance), takes prepares and commits
 * (agent_host.c), runs its part of each run with the engine of `mortar run` (agent.c) and
 * publishes one snapshot per second to the JetStream stream. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "server/commands.h"
#include "mortar/error.h"
#include "mortar/schedule.h"
#include "server/agent.h"
#include "server/agent_host.h"
#include "server/bus.h"
#include "server/log.h"
#include "server/nats_flags.h"
#include "server/serve.h"

static void ag_usage(FILE *f)
{
    fprintf(f, "Usage: mortar agent --nats URL [flags]\n"
               "\n"
               "A load generator for `mortar serve --nats`: takes parts of runs over NATS, runs\n"
               "them with the engine of `mortar run`, and streams one snapshot per second.\n"
               "\n"
               "Flags:\n" MT__NATS_USAGE
               "  --name NAME           this agent's name, unique among agents (A-Z a-z 0-9 - _;\n"
               "                        default: the host name)\n"
               "  --labels K=V,...      labels for placement (runs' agent_labels select them)\n"
               "  --capacity N          runs at once (default 1)\n"
               "  --policy FILE         the target policy this agent enforces (YAML or JSON,\n"
               "                        docs/security.md; default: the built-in default)\n"
               "  --lost-after DUR      stop runs after this long without the control plane\n"
               "                        (default 30s)\n"
               "  --log-level LEVEL     debug, info, warn or error (default info)\n"
               "  -h, --help            this help\n"
               "\n"
               "Docs: docs/distributed.md\n");
}

static mt__policy_t *ag_policy(void *ud)
{
    return mt__policy_ref(ud);
}

static int ag_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* "k=v,k2=v2" -> a JSON object; NULL (message printed) when malformed. */
static json_t *ag_labels(const char *text)
{
    json_t *o = json_object();
    char *dup = strdup(text), *save = NULL;
    for (char *kv = strtok_r(dup, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv || eq[1] == '\0') {
            fprintf(stderr, "mortar agent: --labels: '%s' is not KEY=VALUE\n", kv);
            goto bad;
        }
        *eq = '\0';
        for (const char *p = kv; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || strchr("-_./", *p) != NULL)) {
                fprintf(stderr, "mortar agent: --labels: key '%s': A-Z a-z 0-9 - _ . / only\n", kv);
                goto bad;
            }
        if (json_object_get(o, kv) != NULL) {
            fprintf(stderr, "mortar agent: --labels: '%s' given twice\n", kv);
            goto bad;
        }
        json_object_set_new(o, kv, json_string(eq + 1));
    }
    free(dup);
    return o;
bad:
    free(dup);
    json_decref(o);
    return NULL;
}

int mt_cli_agent(int argc, char **argv)
{
    static const struct option lo[] = {
        MT__NATS_LONGOPTS,
        {"name", required_argument, NULL, 'n'},
        {"labels", required_argument, NULL, 'L'},
        {"capacity", required_argument, NULL, 'c'},
        {"policy", required_argument, NULL, 'P'},
        {"lost-after", required_argument, NULL, 'A'},
        {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mt__nats_opts_t no = {0};
    char name[64] = "";
    const char *labels = "";
    int capacity = 1;
    const char *policy_file = NULL;
    int64_t lost_ns = 30LL * 1000000000LL;
    enum mt__log_level level = MT_LOG_INFO;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (!ag_name_ok(optarg)) {
                fprintf(stderr, "mortar agent: --name: '%s': 1..63 of A-Z a-z 0-9 - _\n", optarg);
                return 2;
            }
            snprintf(name, sizeof name, "%s", optarg);
            break;
        case 'L':
            labels = optarg;
            break;
        case 'c':
            if (mt__flag_int("agent", "--capacity", optarg, 1, 64, &capacity) != 0)
                return 2;
            break;
        case 'A': {
            mt_parse_err_t pe;
            if (mt_parse_duration(optarg, &lost_ns, &pe) != MT_OK || lost_ns < 1000000000LL) {
                fprintf(stderr,
                        "mortar agent: --lost-after: '%s' is not a duration of 1s or "
                        "more (e.g. 30s, 2m)\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'v':
            if (strcmp(optarg, "debug") == 0)
                level = MT_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                level = MT_LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                level = MT_LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                level = MT_LOG_ERROR;
            else {
                fprintf(stderr,
                        "mortar agent: --log-level: '%s' is not debug, info, warn or "
                        "error\n",
                        optarg);
                return 2;
            }
            break;
        case 'P':
            policy_file = optarg;
            break;
        case 'h':
            ag_usage(stdout);
            return 0;
        default:
            if (ch >= MT__NF_URL && ch <= MT__NF_KEY) {
                if (mt__nats_flag("agent", ch, optarg, &no) != 0)
                    return 2;
                break;
            }
            fprintf(stderr,
                    "mortar agent: unknown or incomplete flag '%s'\nTry 'mortar agent "
                    "--help'.\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mortar agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (no.url == NULL) {
        fprintf(stderr, "mortar agent: --nats URL is required\nTry 'mortar agent --help'.\n");
        return 2;
    }
    if (mt__nats_flags_finish("agent", &no) != 0)
        return 2;
    if (name[0] == '\0') {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        size_t k = 0;
        for (size_t i = 0; host[i] != '\0' && host[i] != '.' && k < 63; i++)
            name[k++] = ag_name_ok((char[]){host[i], 0}) ? host[i] : '-';
        name[k] = '\0';
        if (!ag_name_ok(name))
            snprintf(name, sizeof name, "agent");
    }
    /* the agent's own policy: the machine that sends the traffic decides where it may go */
    char perr[600];
    mt__policy_t *policy =
        policy_file ? mt__policy_load(policy_file, perr, sizeof perr) : mt__policy_default();
    if (policy == NULL) {
        fprintf(stderr, "mortar agent: --policy: %s\n", policy_file ? perr : "out of memory");
        return 2;
    }
    json_t *lj = ag_labels(labels);
    if (lj == NULL) {
        mt__policy_unref(policy);
        return 2;
    }
    char *labels_json = json_dumps(lj, JSON_COMPACT);
    json_decref(lj);

    /* a new instance id per process: a restarted agent is a new instance and never takes
     * back its old runs (the control plane sees the change and counts the old one lost) */
    unsigned char rnd[8];
    char instance[20];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    for (int i = 0; i < 8; i++)
        snprintf(instance + 2 * i, 3, "%02x", rnd[i]);

    mt__log_init(2, level);
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    char conn_name[96], err[512] = "";
    snprintf(conn_name, sizeof conn_name, "mortar-agent-%s", name);
    no.name = conn_name;
    mt__bus_t *bus = NULL;
    mt__agent_t *agent = NULL;
    mt__agent_host_t *host = NULL;
    int ret = 1, rc = mt__bus_new_nats(&no, &bus, err, sizeof err);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar agent: %s\n", err);
        ret = rc == MT_EINVAL ? 2 : 1;
        goto out;
    }
    mt__agent_info_t info = {.name = name,
                             .labels_json = labels_json,
                             .capacity = capacity,
                             .instance = instance,
                             .policy = ag_policy,
                             .policy_ud = policy};
    if ((rc = mt__agent_new(&info, bus, &agent)) != MT_OK ||
        (rc = mt__agent_host_new(bus, agent, name, instance, lost_ns / 1000000, &host)) != MT_OK) {
        fprintf(stderr, "mortar agent: cannot start: %s\n", mt_strerror(rc));
        goto out;
    }
    mt__log(MT_LOG_INFO, "agent started", "name", name, "instance", instance, "nats", no.url,
            "labels", labels_json, NULL);
    printf("mortar agent: %s (instance %s) on %s\n", name, instance, no.url);
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    mt__log(MT_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    ret = 0;
out:
    mt__agent_host_free(host);
    mt__agent_free(agent); /* each run finishes its second and publishes its end */
    mt__bus_free(bus);     /* gives the outbox a few seconds to reach the stream */
    free(labels_json);
    mt__policy_unref(policy);
    return ret;
}
