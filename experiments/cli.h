/* cli.h - the `alig` command line: one function per subcommand, dispatched by main.c.
 * CLI conventions: usage errors (bad flag, bad value) print one line "alig CMD: ..." on stderr
 * and return 2; runtime failures print one line and return 1; success returns 0.
 * Output files are written to a temporary file and renamed (cli_util.h). */
#ifndef ALIG_CLI_H
#define ALIG_CLI_H

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
    const char *help;                     /* one line for `alig --help` */
} cli_command;

int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_solve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_rates(int argc, char **argv);
int cmd_oscillation(int argc, char **argv);
int cmd_figures(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

#endif
