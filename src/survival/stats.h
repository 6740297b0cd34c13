/* The stats verb's library-level entry points (the verb itself, cmd_stats, is declared in util/cli.h). */
#ifndef LR_SURVIVAL_STATS_H
#define LR_SURVIVAL_STATS_H

/* Prints key: value timings: C-index on 1e5 and 1e6 random patients, B=2000 bootstrap on 258.
 * Run as `bin/lesionrank stats bench`. Returns 0, or 1 after printing an error. */
int lr_survival_bench(void);

#endif
