/* What a campaign will cost, before it runs: per job the core-seconds, the wall seconds at the config's
 * threads and the peak memory, from the config's real sizes (cohort, split, lesions per annotation,
 * widths, volume grid, epochs) and a calibration that times real training steps of every distinct
 * network shape on this host (in a forked child, so its peak RSS is its own), cached per host in
 * <results_dir>/.plan/ (campaign names have no dot: never a campaign's directory). The run's ETA and slurm/submit.sh use it. */
#ifndef LR_RUNNER_PLAN_H
#define LR_RUNNER_PLAN_H

#include <stdio.h>

#include "runner/campaign.h"

typedef struct {
    double cpu_s;   /* core-seconds (CPU time of all the job's threads) */
    double wall_s;  /* wall seconds at exp->threads threads */
    double peak_mb; /* peak resident memory of a process running this one job (run --job) */
    int epochs;     /* training epochs (0: baselines, pretraining's own epochs for it) */
} lr_job_plan;

typedef struct {
    lr_job_plan *jobs;  /* [n_jobs], in campaign order */
    int n_jobs;
    int n_shapes;       /* distinct network shapes */
    int n_measured;     /* of them calibrated now (the others came from the cache) */
    double calibration_s;
    char cache_path[LR_PATH_MAX + 64];
    char host[64];
    char blis_arch[32];
    char cohort_source[64]; /* "file" or "generated in memory (synth block)" */
} lr_plan;

enum { LR_PLAN_CALIBRATE = 1, LR_PLAN_CACHE_ONLY = 0 };
/* Builds the plan. mode LR_PLAN_CACHE_ONLY never trains: returns 1 (no plan) when a shape is not in the
 * cache. Returns 0 on success, -1 on error (err). */
int lr_plan_make(const lr_experiment *exp, const lr_campaign *c, int mode, lr_plan *p, lr_err *err);
void lr_plan_free(lr_plan *p);

/* Safety factors submit.sh applies to the plan (time, memory). */
#define LR_PLAN_TIME_SAFETY 1.5
#define LR_PLAN_MEM_SAFETY 1.25
/* The shortest --time of an array task: slurm/table2-array.sbatch asks for USR1 120 s before the limit (to
 * requeue itself), SLURM may send it up to a minute early, and a task also starts, reads the cohort and writes
 * its shard; a shorter limit would requeue a task before it could finish. */
#define LR_PLAN_MIN_TASK_S 600.0

/* key: value lines: per job, per kind, totals, the makespan on `cores` cores and the #SBATCH lines: one array
 * of every model job, the pretraining tasks, one array per model kind (array_sbatch: KIND after=ID|none
 * OPTIONS, ID the pretraining job the kind waits for) and one allocation. */
void lr_plan_print(FILE *out, const lr_experiment *exp, const lr_campaign *c, const lr_plan *p, int cores);

/* Wall seconds from now until every job is done when `workers` ranks take them in order[] (the master's
 * order: most expensive first, a job after its dependency). remaining[j] > 0: job j is pending and needs
 * that many wall seconds; otherwise it is not scheduled and finish[j] (in) says when it ends (0: done,
 * > 0: running). free_at[w] (in/out): when worker w is next free. finish[] is filled for pending jobs. */
double lr_plan_makespan(const lr_campaign *c, const int *order, const double *remaining, double *finish,
                        double *free_at, int workers);

#endif
