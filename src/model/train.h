/* One cross-validation job: (model, repeat, fold, replicate) on a cohort — train, evaluate every split, keep
 * the checkpoint the Table 2 rule selects, and describe every lesion's risk. No MPI here. */
#ifndef LR_MODEL_TRAIN_H
#define LR_MODEL_TRAIN_H

#include <stdint.h>

#include "data/cohort.h"
#include "model/lesion_model.h"
#include "model/model.h"
#include "util/err.h"

typedef struct {
    const lr_cohort *cohort;      /* read with patches */
    const char *cohort_path;      /* for whole volumes (read on demand) and the shard */
    const lr_train_options *opt;
    lr_model_kind kind;
    int fold, folds, replicate;
    int repeat;                   /* repeated CV: which split part[] is (its streams are keyed by the
                                     (repeat, fold) unit; repeat 0 draws what a campaign without repeats did) */
    uint64_t seed;                /* experiment seed */
    const int *part;              /* [P] split parts (lr_split_parts) */
    const char *log_path;         /* per-epoch log lines appended here, NULL for none */
    int verbose;                  /* also print epoch lines to stdout */
    const char *checkpoint_path;  /* model, optimiser and curves saved every epoch; a run resumes from it
                                     and ends bitwise identical to an uninterrupted run. NULL: none */
    uint64_t identity;            /* hash of (config text, model, fold, replicate): a checkpoint of another
                                     job or config is ignored */
    int stop_after_epochs;        /* testing: stop (status failed, "interrupted") after this many epochs; 0 = off */
} lr_job_spec;

enum { LR_JOB_OK = 0, LR_JOB_FAILED = 1 };

typedef struct {
    int status;                   /* LR_JOB_OK / LR_JOB_FAILED */
    char error[1024];
    int epochs;                   /* planned */
    int epochs_run;
    double *train_loss;           /* [epochs] mean NPLL per event over the epoch's batches */
    double *c_epoch;              /* [epochs][3] train, valid, test C (NaN when not evaluated) */
    int best_epoch;               /* by validation C (-1: none evaluated) */
    int selected_epoch;           /* the checkpoint reported (last or best, per the model's rule) */
    double c_last[3], c_best[3], c_final[3];
    size_t n_patients, n_annotations, n_lesions;
    double *patient_risk;         /* [P] at the selected checkpoint; NaN when the patient has no annotation */
    int8_t *patient_role;         /* [P] LR_ROLE_* */
    double *annotation_risk;      /* [A] */
    float *lesion_risk;           /* [L] r_l (NaN when not scored, e.g. whole_volume) */
    float *lesion_scale;          /* [L] s_l */
    int8_t *lesion_used;          /* [L] 1 when the lesion entered its annotation's risk */
    size_t patients_without_annotations, annotations_without_lesions;
    char weights_source[512];
    double wall_seconds;
    long peak_rss_kb;
    lr_lesion_model model;        /* final weights (learned kinds) */
    float *best_params, *best_buffers, *best_head; /* weights at the best validation epoch */
    int have_model;
} lr_job_result;

/* Runs the job. Returns 0 when the job ran to a status (ok or failed — see res->status and res->error);
 * -1 only for errors of the caller's inputs. */
int lr_train_job(const lr_job_spec *spec, lr_job_result *res, lr_err *err);
void lr_job_result_free(lr_job_result *res);

/* Shard: HDF5 with the job's identity, curves, risks and weights (schema in the README).
 * Written to path.tmp.<pid>, fsynced and renamed. */
typedef struct {
    const char *config_text, *config_path, *cohort_path, *model;
    int repeat, fold, replicate;
    int setting;                  /* sweep setting, -1 none */
    uint64_t seed;
    int attempts, rank;           /* campaign bookkeeping (1, -1 for a standalone train) */
    uint64_t identity;            /* lr_job_identity: config text, model, fold, replicate (0: standalone train) */
    const char *host;
    const lr_train_options *opt;  /* the job's options: the kept model's HU window and lesion cap (/model) */
} lr_shard_meta;
int lr_shard_write(const char *path, const lr_shard_meta *meta, const lr_job_result *res, lr_err *err);
/* The "identity" attribute of a shard the standalone train verb wrote (meta.identity 0: no campaign). */
#define LR_SHARD_STANDALONE_IDENTITY "0000000000000000"

/* Size baselines (total_volume, sum_diameters, lesion_count) per annotation. */
double lr_baseline_annotation_risk(const lr_cohort *c, size_t a, lr_model_kind kind, int max_lesions);

#endif
