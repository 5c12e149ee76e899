/* Internal interface between main.c and the subcommands. Each returns the process exit code. */
#ifndef MT_CLI_H
#define MT_CLI_H

int mt_cli_run(int argc, char **argv);    /* mortar run [flags] URL    (cmd_run.c) */
int mt_cli_target(int argc, char **argv); /* mortar target [flags]     (cmd_target.c) */
int mt_cli_report(int argc, char **argv); /* mortar report FILE [flags] (cmd_report.c) */
int mt_cli_serve(int argc, char **argv);  /* mortar serve [flags]      (src/server/cmd_serve.c) */
int mt_cli_token(int argc, char **argv);  /* mortar token create ...   (src/server/cmd_token.c) */
int mt_cli_agent(int argc, char **argv);  /* mortar agent --nats URL   (src/server/cmd_agent.c) */

#endif
