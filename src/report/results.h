/* The campaign file (results/<name>.h5, format "lesionrank-campaign" v1; schema in the README, "Job shards
 * and the campaign file") read whole into memory for the report. The reader is tolerant of unfinished
 * campaigns: a job whose status is "missing" or "failed" keeps its row (NaN risks, role -1) and the report
 * says so; it fails only on a file that is not a campaign or whose datasets disagree in shape. */
#ifndef LR_REPORT_RESULTS_H
#define LR_REPORT_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "data/campaign_schema.h"
#include "util/err.h"

/* Root attribute `format` of a `predict` output file (written by predict, read by report --saliency). */
#define LR_PREDICT_FORMAT "lesionrank-predictions"


enum { LR_JOB_STATUS_OK = 0, LR_JOB_STATUS_FAILED = 1, LR_JOB_STATUS_MISSING = 2 };

typedef struct {
    char path[1024];
    char name[256], config_path[1024], cohort_path[1024], cohort_fnv1a64[64], software_version[64];
    char blis_archs[256]; /* BLIS sub-configurations the jobs ran on, comma-separated ("" unknown) */
    int n_blis_archs;     /* > 1: a mixed campaign (bits differ between sub-configurations) */
    long seed, folds, replicates;
    long repeats;         /* repeated CV: splits (1 in campaign files without the attribute) */
    size_t J, P, A, L, K, E; /* jobs, patients, annotations, lesions, organs, epochs (curve width) */

    /* jobs [J] */
    int32_t *job_id, *job_fold, *job_replicate;
    int32_t *job_repeat;   /* [J] the job's split (zeros for files without /jobs/repeat) */
    int32_t *job_setting;  /* [J] sweep setting, -1 not swept (all -1 for files without /jobs/setting) */
    /* [J] derived, nested selection: the setting selected for the job's (model, repeat, fold) — the one whose
     * ok jobs have the best mean validation C (ties: the lowest setting); -1 when not swept or none has one */
    int32_t *job_unit_selected;
    unsigned char *job_selected; /* [J] 1 when not swept or job_setting == job_unit_selected */
    /* [J] derived: 1 for the jobs whose risks the per-patient outputs use (one out-of-fold risk per patient:
     * KM, calibration, prognosis, the lesion figures, interpretation, training curves): repeat 0 and, with a
     * sweep, the selected setting. Table 2 uses every repeat and shows every setting. */
    unsigned char *job_pooled;
    /* the sweep (/sweep; n_settings = 0 without one) */
    size_t n_sweep_keys, n_settings;
    char **sweep_key;      /* [n_sweep_keys] dotted config keys */
    double *sweep_values;  /* [n_settings * n_sweep_keys] */
    int32_t *job_best_epoch, *job_selected_epoch, *job_epochs_run;
    char **job_model, **job_error, **job_weights_source, **job_selection;
    int *job_status;       /* LR_JOB_STATUS_* (an unknown string counts as failed) */
    double *job_wall_seconds;
    double *job_cindex;    /* [J*3] train, valid, test under the model's checkpoint rule */
    double *curve_loss;    /* [J*E] NaN padded */
    double *curve_cindex;  /* [J*E*3] NaN where not evaluated */

    /* risks */
    double *patient_risk;  /* [J*P] */
    int8_t *patient_role;  /* [J*P] 0 train, 1 valid, 2 test, -1 missing */
    float *lesion_risk;    /* [J*L] r_l */
    float *lesion_scale;   /* [J*L] s_l */
    int8_t *lesion_used;   /* [J*L] 1 when the lesion entered its annotation's risk (max_lesions) */

    /* cohort copy */
    double *time_days;     /* [P] */
    int *event;            /* [P] 0/1 */
    int32_t *ann_patient;  /* [A] */
    int64_t *ann_first_lesion; /* [A] */
    int32_t *ann_n_lesions;    /* [A] */
    int32_t *lesion_annotation; /* [L] derived: the annotation owning each lesion row (-1 none) */
    int16_t *lesion_organ;     /* [L] */
    double *lesion_volume_mm3, *lesion_volume_followup_mm3, *lesion_diameter_mm; /* [L] */
    char **organ_name;         /* [K] */
    int has_truth;
    double *truth_lesion_log_hazard;  /* [L] */
    double *truth_patient_log_hazard; /* [P] */
    double oracle_cindex;             /* NaN without truth */

    /* survival probabilities (runner/merge_survival.h); has_survival = 0 for older campaign files */
    int has_survival;
    size_t H, G;                      /* horizons, grid times */
    double *horizons_days;            /* [H], each also in the grid */
    double *grid_days;                /* [G] */
    double *risk_coef;                /* [J] beta of eta = beta * risk (1 learned; fitted for size baselines) */
    double *baseline_cumhaz;          /* [J*G] fold-training Breslow H0 of eta */
    double *patient_surv;             /* [J*P*G] S(t | risk) of the job's test patients, NaN otherwise */
    double annotated_truth_cindex;    /* NaN without truth (or in campaign files from before issue 12) */
    int32_t *lesion_key;              /* [L] physical lesion across readers; NULL when the cohort has none */
} lr_results;

/* Reads and checks the file; on failure *c is freed and err names the file and what is wrong. */
int lr_results_read(const char *path, lr_results *c, lr_err *err);
void lr_results_free(lr_results *c);

const char *lr_job_status_name(int status);
/* The (repeat, fold) unit of job j: repeat * folds + fold, in [0, repeats * folds). */
#define LR_RESULTS_UNIT(c, j) ((size_t)(c)->job_repeat[j] * (size_t)(c)->folds + (size_t)(c)->job_fold[j])
/* The ok pooled jobs (job_pooled) of (model, fold), lowest replicate first, into out[J]; returns their count. */
size_t lr_results_fold_jobs(const lr_results *c, const char *model, int fold, long *out);

#endif
