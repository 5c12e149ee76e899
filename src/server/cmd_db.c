/* mortar db migrate|status|prune --store URI: the PostgreSQL store's schema and retention
 * (docs/serve.md#choosing-a-store, ADR 0033). `serve` migrates at start too; `migrate` lets an
 * operator do it first (e.g. from a deploy job) and `status` shows what would be applied. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mortar/error.h"
#include "server/commands.h"
#include "server/log.h"
#include "server/serve.h"
#include "server/store.h"

static void db_usage(FILE *f)
{
    fprintf(f, "Usage: mortar db migrate|status|prune --store URI [flags]\n"
               "\n"
               "The PostgreSQL store of `mortar serve` (docs/serve.md#choosing-a-store):\n"
               "  migrate   applies the pending migrations (serve also does at start)\n"
               "  status    lists the migrations: applied, pending, or changed (refused)\n"
               "  prune     drops the per-second data of runs older than --older-than, a whole\n"
               "            month (partition) at a time; runs and their summaries stay\n"
               "\n"
               "  --store URI           postgresql://[user@]host[:port]/db[?...]; required\n"
               "  --store-password-file FILE\n"
               "                        the password: the first line of FILE (else PGPASSWORD\n"
               "                        or ~/.pgpass)\n"
               "  --older-than AGE      prune: Nd (days) or Nh (hours), e.g. 90d; required\n"
               "  --dry-run             prune: list what would be dropped, drop nothing\n"
               "  -h, --help            this help\n"
               "\n"
               "Docs: docs/serve.md\n");
}

/* "90d" / "36h" into seconds; -1 when malformed. */
static int64_t db_age(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > 100000 || end[1] != '\0')
        return -1;
    return end[0] == 'd' ? v * 86400 : end[0] == 'h' ? v * 3600 : -1;
}

int mt_cli_db(int argc, char **argv)
{
    static const struct option lo[] = {
        {"store", required_argument, NULL, 'S'},
        {"store-password-file", required_argument, NULL, 'Q'},
        {"older-than", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        db_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "migrate") != 0 && strcmp(sub, "status") != 0 && strcmp(sub, "prune") != 0) {
        fprintf(stderr, "mortar db: unknown subcommand '%s' (migrate, status or prune)\n", sub);
        return 2;
    }
    const char *store = NULL, *pwf = NULL, *older = NULL;
    int dry = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'S':
            store = optarg;
            break;
        case 'Q':
            pwf = optarg;
            break;
        case 'o':
            older = optarg;
            break;
        case 'n':
            dry = 1;
            break;
        case 'h':
            db_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "mortar db %s: unknown or incomplete flag '%s'\n", sub, argv[optind]);
            return 2;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "mortar db %s: unexpected argument '%s'\n", sub, argv[optind + 1]);
        return 2;
    }
    char err[512] = "";
    if (store == NULL) {
        fprintf(stderr,
                "mortar db %s: --store URI is required (the SQLite store migrates "
                "itself when serve starts)\n",
                sub);
        return 2;
    }
    if (mt__store_uri_check(store, err, sizeof err) != MT_OK) {
        fprintf(stderr, "mortar db %s: %s\n", sub, err);
        return 2;
    }
    int64_t age = 0;
    if (strcmp(sub, "prune") == 0) {
        if (older == NULL || (age = db_age(older)) < 0) {
            fprintf(stderr, "mortar db prune: --older-than: %s%s%s (want Nd or Nh, e.g. 90d)\n",
                    older ? "'" : "required", older ? older : "", older ? "' is not an age" : "");
            return 2;
        }
    } else if (older != NULL || dry) {
        fprintf(stderr, "mortar db %s: --older-than and --dry-run are flags of prune\n", sub);
        return 2;
    }
    char *pw = NULL;
    if (pwf != NULL && (pw = mt__store_read_password(pwf, err, sizeof err)) == NULL) {
        fprintf(stderr, "mortar db %s: %s\n", sub, err);
        return 2;
    }
    mt__log_init(2, MT_LOG_WARN);
    int rc;
    if (strcmp(sub, "prune") != 0) {
        json_t *st = NULL;
        rc = mt__store_pg_migrations(store, pw, strcmp(sub, "migrate") == 0, &st, err, sizeof err);
        if (rc == MT_OK) {
            size_t i;
            json_t *m;
            int changed = 0;
            json_array_foreach(st, i, m)
            {
                const char *state = json_string_value(json_object_get(m, "state"));
                changed += strcmp(state, "changed") == 0;
                printf("%-40s %-8s %.12s %s\n", json_string_value(json_object_get(m, "name")),
                       state, json_string_value(json_object_get(m, "checksum")),
                       json_is_string(json_object_get(m, "applied_at"))
                           ? json_string_value(json_object_get(m, "applied_at"))
                           : "-");
            }
            json_decref(st);
            if (changed) {
                fprintf(stderr,
                        "mortar db status: %d applied migration(s) changed since they "
                        "were applied: serve refuses to start\n",
                        changed);
                rc = MT_EFORMAT;
            }
        } else {
            fprintf(stderr, "mortar db %s: %s\n", sub, err);
        }
    } else {
        mt__store_t *s = NULL;
        rc = mt__store_open_pg(store, pw, &s, err, sizeof err);
        json_t *dropped = NULL;
        if (rc == MT_OK)
            rc = mt__store_pg_prune(s, mt__now_ms() - age * 1000, dry, &dropped, err, sizeof err);
        if (rc == MT_OK) {
            size_t i;
            json_t *v;
            json_array_foreach(dropped, i, v)
                printf("%s %s\n", dry ? "would drop" : "dropped", json_string_value(v));
            if (json_array_size(dropped) == 0)
                printf("nothing to prune: no partition is wholly older than %s\n", older);
            json_decref(dropped);
        } else {
            fprintf(stderr, "mortar db prune: %s\n", err);
        }
        if (s)
            s->ops->close(s);
    }
    if (pw) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    return rc == MT_OK ? 0 : rc == MT_EFORMAT ? 2 : 1;
}
