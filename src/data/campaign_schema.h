/* The campaign file (results/<name>.h5, format "lesionrank-campaign" v1; README "Job shards and the
 * campaign file"): every dataset with its type and shape, once. The merge (src/runner/merge.c) creates and
 * writes from this table, the report (src/report/results.c) reads from it. It lives in data/ beside the
 * cohort format because both of its users (runner, report) may use data/ and not each other. */
#ifndef LR_DATA_CAMPAIGN_SCHEMA_H
#define LR_DATA_CAMPAIGN_SCHEMA_H

#include <hdf5.h>
#include <stddef.h>

#define LR_CAMPAIGN_FORMAT "lesionrank-campaign"
#define LR_CAMPAIGN_VERSION 1

/* The most (repeat, fold) units of a campaign: repeats x folds (the config refuses more). */
#define LR_CAMPAIGN_MAX_CV_UNITS 256

/* Fixed string widths (bytes with the terminating NUL) of the string datasets. */
enum { LR_CAMPAIGN_S_MODEL = 32, LR_CAMPAIGN_S_SHORT = 16, LR_CAMPAIGN_S_LONG = 256, LR_CAMPAIGN_S_HOST = 64 };

/* One extent of a dataset's shape, resolved against a file's sizes. */
typedef enum {
    LR_EXT_J, LR_EXT_P, LR_EXT_A, LR_EXT_L, LR_EXT_K, LR_EXT_E, LR_EXT_H, LR_EXT_G, LR_EXT_V, LR_EXT_3, LR_EXT_2, LR_EXT_1,
    LR_EXT_SK, LR_EXT_SS /* a sweep's keys and settings */
} lr_campaign_extent;
typedef enum { LR_CT_I8, LR_CT_I16, LR_CT_I32, LR_CT_I64, LR_CT_F32, LR_CT_F64, LR_CT_STRING } lr_campaign_type;

typedef enum {
    LR_CD_JOBS_ID, LR_CD_JOBS_FOLD, LR_CD_JOBS_REPLICATE, LR_CD_JOBS_ATTEMPTS, LR_CD_JOBS_RANK,
    LR_CD_JOBS_BEST_EPOCH, LR_CD_JOBS_SELECTED_EPOCH, LR_CD_JOBS_EPOCHS_RUN, LR_CD_JOBS_SEED,
    LR_CD_JOBS_WALL_SECONDS, LR_CD_JOBS_MODEL, LR_CD_JOBS_STATUS, LR_CD_JOBS_SELECTION, LR_CD_JOBS_ERROR,
    LR_CD_JOBS_WEIGHTS_SOURCE, LR_CD_JOBS_HOST, LR_CD_JOBS_BLIS_ARCH, LR_CD_JOBS_CINDEX, LR_CD_JOBS_CINDEX_LAST, LR_CD_JOBS_CINDEX_BEST,
    LR_CD_CURVES_TRAIN_LOSS, LR_CD_CURVES_CINDEX,
    LR_CD_RISKS_PATIENT, LR_CD_RISKS_PATIENT_ROLE, LR_CD_RISKS_ANNOTATION, LR_CD_RISKS_LESION,
    LR_CD_RISKS_LESION_SCALE, LR_CD_RISKS_LESION_USED,
    LR_CD_COHORT_TIME_DAYS, LR_CD_COHORT_EVENT, LR_CD_COHORT_ARM, LR_CD_COHORT_ANNOTATION_PATIENT,
    LR_CD_COHORT_ANNOTATION_FIRST_LESION, LR_CD_COHORT_ANNOTATION_N_LESIONS, LR_CD_COHORT_LESION_ORGAN,
    LR_CD_COHORT_LESION_VOLUME_MM3, LR_CD_COHORT_LESION_VOLUME_FOLLOWUP_MM3, LR_CD_COHORT_LESION_DIAMETER_MM,
    LR_CD_COHORT_ORGAN_NAME, LR_CD_CONFIG_TEXT,
    LR_CD_COHORT_TRUTH_LESION_LOG_HAZARD, LR_CD_COHORT_TRUTH_PATIENT_LOG_HAZARD, LR_CD_COHORT_ORACLE_CINDEX,
    LR_CD_SURVIVAL_HORIZONS_DAYS, LR_CD_SURVIVAL_GRID_DAYS, LR_CD_SURVIVAL_RISK_COEF, LR_CD_SURVIVAL_BASELINE_CUMHAZ,
    LR_CD_SURVIVAL_PATIENT_SURV,
    LR_CD_COHORT_ANNOTATED_TRUTH_CINDEX, LR_CD_COHORT_LESION_KEY,
    LR_CD_MODELS_JOB, LR_CD_MODELS_MODEL, LR_CD_MODELS_FOLD, LR_CD_MODELS_REPLICATE, LR_CD_MODELS_KEPT,
    LR_CD_MODELS_IDENTITY, LR_CD_MODELS_ARCH, LR_CD_MODELS_WIDTH, LR_CD_MODELS_SCALER_HIDDEN,
    LR_CD_MODELS_MAX_LESIONS, LR_CD_MODELS_PATCH_SIZE, LR_CD_MODELS_HU_WINDOW, LR_CD_MODELS_SIZE_NORMALISATION,
    LR_CD_MODELS_N_PARAMS, LR_CD_MODELS_N_BUFFERS, LR_CD_MODELS_N_HEAD, LR_CD_MODELS_OFFSET, LR_CD_MODELS_VALUES,
    LR_CD_JOBS_REPEAT, LR_CD_JOBS_SETTING, LR_CD_SWEEP_KEY, LR_CD_SWEEP_VALUES,
    LR_CAMPAIGN_N_DATASETS
} lr_campaign_dataset_id;

typedef struct {
    const char *path;
    lr_campaign_type type;
    size_t string_width;            /* LR_CT_STRING: fixed width; 0 = set per file (the config text) */
    int rank;
    lr_campaign_extent extent[3];
    int truth_only;                 /* only in campaigns of a synthetic cohort (with the generator's truth) */
    int survival;                   /* the /survival block (runner/merge_survival.c; absent in older files) */
    int keys_only;                  /* only when the cohort has /lesions/lesion_key */
    int models;                     /* the /models block (kept models for predict; absent in older files) */
    int sweep_only;                 /* only when the experiment has a sweep (the /sweep block) */
} lr_campaign_dataset;

/* In creation order. */
extern const lr_campaign_dataset lr_campaign_datasets[LR_CAMPAIGN_N_DATASETS];

typedef struct {
    size_t J, P, A, L, K, E; /* model jobs, patients, annotations, lesions, organs, epochs (curve width) */
    size_t H, G;             /* survival horizons and time grid (/survival) */
    size_t V;                /* values of every kept model (/models/values) */
    size_t SK, SS;           /* sweep keys and settings (/sweep) */
} lr_campaign_sizes;

/* The BLIS sub-configurations the campaign's jobs ran on (/jobs/blis_arch; absent in older files): their
 * distinct non-empty names, comma-separated, into out; returns how many (0: unknown). Kernels round
 * differently, so results are bitwise reproducible per sub-configuration: more than one means a mixed
 * (heterogeneous) cluster. */
int lr_campaign_blis_archs(hid_t file, char *out, size_t size);

/* The shape of dataset d in a file of these sizes; returns its rank. */
int lr_campaign_dims(lr_campaign_dataset_id d, const lr_campaign_sizes *s, hsize_t dims[3]);
/* Number of values of one row (everything after the first extent; 1 for a 1-D dataset). */
size_t lr_campaign_row_size(lr_campaign_dataset_id d, const lr_campaign_sizes *s);
/* The HDF5 type of dataset d in memory (native) or in the file (little-endian); strings are fixed width
 * (width: the string width where the table's is 0). Release it with lr_campaign_type_close (a string
 * type is new, a numeric one predefined). */
hid_t lr_campaign_hdf5_type(lr_campaign_dataset_id d, size_t width, int in_memory);
void lr_campaign_type_close(lr_campaign_dataset_id d, hid_t type);
/* Bytes of one value in memory (the string width for strings). */
size_t lr_campaign_value_size(lr_campaign_dataset_id d, size_t width);

#endif
