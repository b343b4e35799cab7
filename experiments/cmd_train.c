/* cmd_train.c - placeholder until the subcommand lands. */
#include <stdio.h>
#include "cli.h"
int cmd_train(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "alig %s: unavailable in this build\n", argv[0]);
    return 1;
}
