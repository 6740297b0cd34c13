/* The state of one running job, shared by the three files of the training job: train.c (loop, setup,
 * result), evaluate.c (risks and C-indices at a checkpoint), checkpoint.c (resume and the best snapshot).
 * Internal to src/model: the public interface is model/train.h. */
#ifndef LR_MODEL_TRAIN_JOB_H
#define LR_MODEL_TRAIN_JOB_H

#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>

#include "model/batch.h"
#include "model/train.h"

#define P2 (LR_PATCH * LR_PATCH)

/* Evaluation outputs at one checkpoint. */
typedef struct {
    double *patient_risk;    /* [P] */
    double *annotation_risk; /* [A] */
    float *lesion_risk, *lesion_scale; /* [L] */
    int8_t *lesion_used;     /* [L] */
    double cindex[3];        /* train, valid, test */
} eval_out;

/* One job while it runs. N = lesions of the current batch (or eval chunk), B = annotations (2D) or
 * patients (whole volume) of the batch, E = the CNN's embedding size. */
typedef struct {
    const lr_job_spec *spec;
    const lr_cohort *cohort;
    const lr_train_options *opt;
    lr_job_result *result;
    lr_lesion_model *model;
    lr_patch_pipeline pipeline;
    int8_t *role;            /* [P] LR_ROLE_* */
    const int8_t *score_annotations; /* [A] full evaluations score only these annotations (NULL: all) */
    size_t *train_units;     /* [n_train_units] annotations (2D) or patients (whole volume) used for training */
    size_t n_train_units;
    /* lesion buffers, grown on demand to lesion_cap (one allocation from input) */
    size_t lesion_cap;
    float *input;            /* [N][72][72] windowed patches, or [B][D][H][W] whole volumes */
    float *lesion_score;     /* [N] r_l (mean_largest5: wᵀ emb_l) */
    float *lesion_scale;     /* [N] s_l (mean_largest5: the diameter weight) */
    float *dlesion_score, *dlesion_scale; /* [N] dL/dr_l, dL/ds_l */
    float *dout;             /* [N] dL/d(CNN output) */
    float *demb;             /* [N][E] dL/d(embedding) (mean_largest5) */
    int64_t *lesion_rows;    /* [N] rows in the cohort's lesion tables */
    int *lesion_slot;        /* [N] the batch entry (annotation) each lesion belongs to */
    double *lesion_volume;   /* [N] mm³ */
    double *lesion_weight;   /* [N] d_l / Σ d over the annotation (mean_largest5) */
    /* batch buffers, grown to batch_cap */
    size_t batch_cap;
    double *batch_time;      /* [B] survival or censoring time of the entry's patient */
    int *batch_event;        /* [B] */
    float *eta, *deta;       /* [B] risks and dL/deta (one allocation) */
    /* whole volumes */
    hid_t vol_file;
    int16_t *vol_raw;        /* [D][H][W] one cohort volume */
    float *vol_tmp;          /* [crop D][H][W] resampled, before augmentation */
    FILE *log;
    eval_out cur, best;
    int flat_steps; /* this epoch's steps whose batch risks were all equal (a collapsed model) */
} train_job;

static inline int lr_job_is_mean5(const train_job *job) { return job->model->kind == LR_MODEL_MEAN_LARGEST5; }

/* train.c */
void lr_job_log(train_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lesion buffers for at least n lesions (lesion_rows is kept: evaluation grows it while collecting). */
int lr_job_grow_lesions(train_job *job, size_t n, lr_err *err);
/* The lesions of B annotations (at most max_lesions each, the largest) into the lesion buffers, and the
 * batch's times and events; *n_out = the number of lesions. */
int lr_job_gather_batch(train_job *job, const size_t *ann, int B, int max_lesions, int *n_out, lr_err *err);
/* Patient p's volume resampled to the crop, augmented when aug is given, windowed: dst [D][H][W]. */
int lr_job_load_volume(train_job *job, size_t p, float *dst, gsl_rng *aug, lr_err *err);
/* Frees the job's own buffers (role, units, lesion and batch buffers, volume buffers). */
void lr_job_free_buffers(train_job *job);
/* Buffers for a batch of B whole volumes. */
int lr_job_volume_buffers(train_job *job, int B, lr_err *err);

/* evaluate.c */
int lr_eval_alloc(eval_out *e, const lr_cohort *cohort, lr_err *err);
void lr_eval_free(eval_out *e);
void lr_eval_copy(eval_out *dst, const eval_out *src, const lr_cohort *cohort);
/* Patient risks (mean over the patient's annotations) and the C-index of each split from e's annotation risks. */
int lr_eval_finish(train_job *job, eval_out *e, lr_err *err);
/* The eval chunks of a full evaluation: chunk[a] for every annotation (consecutive annotations, flushed
 * once they hold EVAL_CHUNK lesions); returns the number of chunks. A lesion's risk depends on the batch it
 * is forwarded in, so scoring whole chunks of this partition reproduces a full evaluation bit for bit. */
size_t lr_eval_chunks(const lr_cohort *cohort, int32_t *chunk);
/* full: every split (a reported checkpoint); otherwise the validation split only (checkpoint selection). */
int lr_job_evaluate(train_job *job, eval_out *e, int full, lr_err *err);
/* Full evaluation of the best-validation snapshot into job->best; the final weights are put back. */
int lr_job_evaluate_best_fully(train_job *job, lr_err *err);

/* checkpoint.c */
/* Copies the current weights into the result's best snapshot (allocated on first use). */
int lr_job_snapshot_best(train_job *job, lr_err *err);
int lr_job_checkpoint_save(train_job *job, int epochs_done, double best_valid, lr_err *err);
/* Returns the number of epochs already done (0: no usable checkpoint), -1 on a read error. */
int lr_job_checkpoint_load(train_job *job, double *best_valid, lr_err *err);

#endif
