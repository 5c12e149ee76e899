/* Internal interface between main.c and the subcommands. Each returns the process exit code. */
#ifndef MT_CLI_H
#define MT_CLI_H

int mt_cli_run(int argc, char **argv);    /* mortar run [flags] URL    (cmd_run.c) */
int mt_cli_target(int argc, char **argv); /* mortar target [flags]     (cmd_target.c) */
int mt_cli_report(int argc, char **argv); /* mortar report FILE [flags] (cmd_report.c) */

int mt_cli_import(int argc, char **argv);  /* mortar import FILE [flags] (cmd_import.c) */
int mt_cli_collect(int argc, char **argv); /* mortar collect --follow FILE (cmd_import.c) */

#endif
