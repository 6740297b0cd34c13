/* The stats verb's library-level entry points (the verb itself, cmd_stats, is declared in util/cli.h). */
#ifndef LR_SURVIVAL_STATS_H
#define LR_SURVIVAL_STATS_H

/* Prints key: value timings: C-index on 1e5 and 1e6 random patients, B=2000 bootstrap on 258.
 * Run as `bin/lesionrank stats bench`. Returns 0, or 1 after printing an error. */
int lr_survival_bench(void);

/* stats km|breslow|brier|ibs|cox|calibration (cmd_stats_prognosis.c): argv[0] is the sub-command.
 * Returns the exit code, or -1 when `sub` is not one of them. */
int lr_stats_prognosis(const char *sub, int argc, char **argv);

#endif
