/* mortar token create: makes an API token straight in the store (the way to get the first
 * admin token), printing the secret alone on stdout. Safe while `mortar serve` runs on the
 * same data directory (SQLite WAL: one more writer for one transaction). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "server/commands.h"
#include "mortar/error.h"
#include "server/log.h"
#include "server/serve.h"
#include "server/store.h"

static void tk_usage(FILE *f)
{
    fprintf(f, "Usage: mortar token create --role viewer|runner|admin [--name NAME]\n"
               "                          [--data DIR | --store URI]\n"
               "\n"
               "Creates an API token for `mortar serve` and prints it alone on stdout. It is\n"
               "stored hashed (SHA-256): keep the printed secret, it is not shown again.\n"
               "\n"
               "  --role ROLE           viewer (read), runner (viewer + run tests, edit tests and\n"
               "                        schedules) or admin (everything); required\n"
               "  --name NAME           a name to tell tokens apart (default: none)\n"
               "  --data DIR            serve's data directory (default ./mortar-data)\n"
               "  --store URI           serve's PostgreSQL store instead (postgresql://...;\n"
               "                        password from PGPASSWORD or ~/.pgpass)\n"
               "  --store-password-file FILE\n"
               "                        the PostgreSQL password: the first line of FILE\n"
               "  -h, --help            this help\n"
               "\n"
               "Docs: docs/serve.md\n");
}

int mt_cli_token(int argc, char **argv)
{
    static const struct option lo[] = {
        {"role", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"data", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, 'S'},
        {"store-password-file", required_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        tk_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "create") != 0) {
        fprintf(stderr, "mortar token: unknown subcommand '%s' (only 'create')\n", argv[1]);
        return 2;
    }
    const char *role = NULL, *name = "", *data = "./mortar-data", *store = NULL, *pwf = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'r':
            role = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'S':
            store = optarg;
            break;
        case 'Q':
            pwf = optarg;
            break;
        case 'h':
            tk_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "mortar token create: unknown or incomplete flag '%s'\n", argv[optind]);
            return 2;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "mortar token create: unexpected argument '%s'\n", argv[optind + 1]);
        return 2;
    }
    if (role == NULL || (strcmp(role, "viewer") != 0 && strcmp(role, "runner") != 0 &&
                         strcmp(role, "admin") != 0)) {
        fprintf(stderr, "mortar token create: --role must be viewer, runner or admin\n");
        return 2;
    }
    if (strlen(name) > 200) {
        fprintf(stderr, "mortar token create: --name is over 200 characters\n");
        return 2;
    }
    mt__log_init(2, MT_LOG_WARN);
    mt__store_t *s = NULL;
    char err[512] = "";
    int rc = mt__store_open_any(data, store, pwf, &s, err, sizeof err);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar token create: %s\n", err);
        return rc == MT_EFORMAT || rc == MT_EINVAL ? 2 : 1;
    }
    char secret[64], hash[65];
    rc = mt__token_secret(secret);
    if (rc != MT_OK) { /* fail closed: never a token from a failed random source */
        s->ops->close(s);
        fprintf(stderr, "mortar token create: the system's random source failed: no token was "
                        "made\n");
        return 1;
    }
    mt__sha256_hex(secret, strlen(secret), hash);
    rc = s->ops->token_create(s, name, role, hash, NULL);
    s->ops->close(s);
    if (rc != MT_OK) {
        fprintf(stderr, "mortar token create: cannot store the token: %s\n", mt_strerror(rc));
        return 1;
    }
    printf("%s\n", secret);
    return 0;
}
