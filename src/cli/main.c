/* mortar's entry point: dispatch to the subcommand. Everything else lives in cmd_*.c. */
#include "cli/cli.h"
#include "server/commands.h"

#include <stdio.h>
#include <string.h>

static void main_usage(FILE *f)
{
    fprintf(f, "Usage: mortar COMMAND [flags]\n"
               "\n"
               "Commands:\n"
               "  run [flags] URL   load-test an HTTP server (mortar run --help)\n"
               "  target [flags]    start the built-in target server (mortar target --help)\n"
               "  report FILE       HTML report of a --json result (mortar report --help)\n"
               "  serve [flags]     the control plane: API, web UI, runs (mortar serve --help)\n"
               "  token create      an API token for serve (mortar token --help)\n"
               "  agent --nats URL  a load generator for serve over NATS (mortar agent --help)\n"
               "  db migrate|status|prune  serve's PostgreSQL store (mortar db --help)\n"
               "  version           print the version\n"
               "  help [COMMAND]    this help, or a command's\n"
               "\n"
               "Docs: docs/cli.md\n");
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        main_usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "run") == 0)
        return mt_cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "target") == 0)
        return mt_cli_target(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return mt_cli_report(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return mt_cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return mt_cli_token(argc - 1, argv + 1);
    if (strcmp(cmd, "agent") == 0)
        return mt_cli_agent(argc - 1, argv + 1);
    if (strcmp(cmd, "db") == 0)
        return mt_cli_db(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("mortar %s\n", MT_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        char *help[] = {argc > 2 ? argv[2] : NULL, "--help", NULL};
        if (help[0] != NULL && strcmp(help[0], "run") == 0)
            return mt_cli_run(2, help);
        if (help[0] != NULL && strcmp(help[0], "target") == 0)
            return mt_cli_target(2, help);
        if (help[0] != NULL && strcmp(help[0], "report") == 0)
            return mt_cli_report(2, help);
        if (help[0] != NULL && strcmp(help[0], "serve") == 0)
            return mt_cli_serve(2, help);
        if (help[0] != NULL && strcmp(help[0], "token") == 0)
            return mt_cli_token(2, help);
        if (help[0] != NULL && strcmp(help[0], "agent") == 0)
            return mt_cli_agent(2, help);
        if (help[0] != NULL && strcmp(help[0], "db") == 0)
            return mt_cli_db(2, help);
        if (help[0] != NULL && strcmp(help[0], "version") != 0 && strcmp(help[0], "help") != 0) {
            fprintf(stderr, "mortar help: unknown command '%s'\n", help[0]);
            main_usage(stderr);
            return 2;
        }
        main_usage(stdout);
        return 0;
    }
    fprintf(stderr, "mortar: unknown command '%s'\n", cmd);
    if (cmd[0] == '-')
        fprintf(stderr, "(wrk-style flags go after 'run': mortar run %s ...)\n", cmd);
    fprintf(stderr, "Try 'mortar --help'.\n");
    return 2;
}
