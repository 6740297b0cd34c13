/* Campaign execution: one job in this process (the code path of `train`), the MPI master/worker
 * scheduler, and the merge of job shards into the parallel-HDF5 campaign file. */
#ifndef LR_RUNNER_RUNNER_H
#define LR_RUNNER_RUNNER_H

#include <mpi.h>

#include "data/cohort.h"
#include "model/train.h"
#include "runner/campaign.h"

/* What a worker keeps between jobs: the cohort (read once) and the split. */
typedef struct {
    const lr_experiment *exp;
    lr_cohort cohort;
    int have_cohort, have_patches;
    int *part;          /* [P] the split of repeat part_repeat */
    int part_repeat;
    int rank;
    char host[64];
} lr_worker_state;

typedef struct {
    int id, status, attempt, rank;
    double c[3], wall;
    double cpu;        /* core-seconds of the job (all threads of this process) */
    long peak_rss_kb;  /* the process's peak RSS after the job (per job under run --job) */
    char error[512];
} lr_job_report;

void lr_worker_init(lr_worker_state *w, const lr_experiment *exp, int rank);
void lr_worker_free(lr_worker_state *w);
/* The cohort (with patches when a 2D model needs them) and the split of the repeat for a job of this kind:
 * read once, re-read only when a later job needs patches the first did not; the split is redrawn when the
 * repeat changes. */
int lr_worker_load_cohort(lr_worker_state *w, lr_model_kind kind, int repeat, lr_err *err);
/* Runs job j (attempt number given), writes its shard / weights, fills the report. Never exits. */
void lr_worker_run_job(lr_worker_state *w, const lr_job *j, int attempt, lr_job_report *rep);

/* Rank 0: schedule the campaign over ranks 1..size-1 (or run it alone when size == 1): every job not yet
 * finished (LR_RUN_ALL), or only those that failed before and the pretraining they need
 * (LR_RUN_RETRY_FAILED). Returns the number of jobs that failed every try. */
enum { LR_RUN_ALL = 0, LR_RUN_RETRY_FAILED = 1 };
int lr_master_run(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm, int which);
void lr_worker_loop(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm);

/* Collective over comm: write results/<name>.h5 from the shards (temporary name, then rename). */
int lr_campaign_merge(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm, double *seconds, lr_err *err);


#endif
