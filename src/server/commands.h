/* The subcommands src/server provides to the binary's entry point (src/cli/main.c, the one file
 * above both front ends). Each returns the process exit code. */
#ifndef MT_SERVER_COMMANDS_H
#define MT_SERVER_COMMANDS_H

int mt_cli_serve(int argc, char **argv); /* mortar serve [flags]      (cmd_serve.c) */
int mt_cli_token(int argc, char **argv); /* mortar token create ...   (cmd_token.c) */
int mt_cli_agent(int argc, char **argv); /* mortar agent --nats URL   (cmd_agent.c) */
int mt_cli_db(int argc, char **argv);    /* mortar db migrate|status|prune (cmd_db.c) */

#endif
