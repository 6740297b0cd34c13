/* A campaign: every (model, repeat, fold, replicate) of an experiment, plus the organ pretraining that the two
 * ResNet50 rows need when no weights file is configured. Paths of its shards, logs and checkpoints. */
#ifndef LR_RUNNER_CAMPAIGN_H
#define LR_RUNNER_CAMPAIGN_H

#include "data/cohort.h"
#include "model/train.h"
#include "runner/config.h"

typedef struct {
    int id;           /* position in the campaign (model jobs in config order × settings × repeats × folds ×
                         replicates) */
    int pretrain;     /* 0 a model job; 1 + lr_pretrain_task: a pretraining job (no shard in the campaign file) */
    lr_model_kind kind;
    int repeat;       /* repeated CV: the split (0 .. repeats-1) */
    int setting;      /* sweep: the setting of a learned model row (0 .. n_settings-1); -1 none */
    int fold, replicate;
    double cost;      /* relative estimate, for scheduling (most expensive first) */
    int depends_on;   /* job id that must finish first, or -1 */
    char name[96];    /* "proposed-f0-r0" ("proposed-s2-rep1-f0-r0" with a sweep and repeats > 1),
                         "pretrain-organ-resnet50", "pretrain-fractal-resnet50" */
} lr_job;

typedef struct {
    lr_job *jobs;
    int n_jobs;       /* all jobs */
    int n_model_jobs; /* jobs with a shard (ids 0..n_model_jobs-1); the pretraining job, if any, is last */
} lr_campaign;

int lr_campaign_build(const lr_experiment *exp, lr_campaign *c, lr_err *err);
void lr_campaign_free(lr_campaign *c);

/* results_dir/<name>/jobs/<job>.h5, .../logs/<job>.log, .../checkpoints/<job>.h5, results_dir/<name>.h5 */
void lr_campaign_shard_path(const lr_experiment *exp, const lr_job *j, char *buf, size_t n);
void lr_campaign_log_path(const lr_experiment *exp, const lr_job *j, char *buf, size_t n);
void lr_campaign_checkpoint_path(const lr_experiment *exp, const lr_job *j, char *buf, size_t n);
void lr_campaign_file_path(const lr_experiment *exp, char *buf, size_t n);
/* results_dir/<name>: the campaign's directory */
void lr_campaign_dir(const lr_experiment *exp, char *buf, size_t n);
/* mkdir -p results_dir/<name>/{jobs,logs,checkpoints} */
int lr_campaign_make_dirs(const lr_experiment *exp, lr_err *err);
/* 1 when the job's shard exists and says status ok (a finished job is skipped on resume), 0 when not
 * finished, -1 when the shard belongs to another config (lr_job_identity differs). */
int lr_campaign_job_done(const lr_experiment *exp, const lr_job *j);

/* Where a job stands, from its shard and log: finished ok, failed (a shard with status failed, or a log
 * whose last job line says "job failed"), not run yet, or a shard of another config. */
typedef enum { LR_JOB_STATE_PENDING, LR_JOB_STATE_DONE, LR_JOB_STATE_FAILED, LR_JOB_STATE_STALE } lr_job_state;
/* error (may be NULL) receives the failure's last error line ("" otherwise). */
lr_job_state lr_campaign_job_state(const lr_experiment *exp, const lr_job *j, char *error, size_t n);

/* A job's identity: 64-bit FNV-1a of the config text and (model, fold, replicate), followed by the repeat
 * and the sweep setting when the repeat is not 0 or there is a setting (so a campaign of one split without a
 * sweep keeps the identities it always had); never 0 (0 marks a
 * shard of the standalone train verb). A shard or checkpoint with another identity belongs to another
 * config or job and is never mixed in. */
uint64_t lr_job_identity(const lr_experiment *exp, const lr_job *j);

/* The training job j (model, repeat, fold, replicate; its fields, not its id, are used) of an experiment on a
 * cohort and the repeat's split (lr_split_parts with j->repeat): the one setup of the campaign worker and the
 * train verb. Log, verbosity, checkpoint and identity are left off (NULL, 0): the caller sets what it uses. */
lr_job_spec lr_job_spec_make(const lr_experiment *exp, const lr_cohort *cohort, const int *part, const lr_job *j);
/* The experiment of job j: a copy of exp with j's sweep setting applied (exp itself when it has none), for
 * lr_job_spec_make; NULL when out of memory. Release with lr_job_experiment_free(exp, result). */
const lr_experiment *lr_job_experiment(const lr_experiment *exp, const lr_job *j);
void lr_job_experiment_free(const lr_experiment *exp, const lr_experiment *job_exp);
/* A model job's name from its fields (the shard, log and checkpoint file names). */
void lr_job_name(const lr_experiment *exp, lr_job *j);

#endif
