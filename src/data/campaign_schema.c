#include "data/campaign_schema.h"

#include <stdio.h>
#include <string.h>

#include "util/h5.h"

#define ROWS(p, t, ...) {.path = p, .type = t, .rank = 1, .extent = {__VA_ARGS__}}
#define TABLE(p, t, r, ...) {.path = p, .type = t, .rank = r, .extent = {__VA_ARGS__}}
#define STRINGS(p, w, e) {.path = p, .type = LR_CT_STRING, .string_width = w, .rank = 1, .extent = {e}}
#define MODELS(p, t, r, ...) {.path = p, .type = t, .rank = r, .extent = {__VA_ARGS__}, .models = 1}
#define MODEL_STRINGS(p, w) {.path = p, .type = LR_CT_STRING, .string_width = w, .rank = 1, .extent = {LR_EXT_J}, .models = 1}

const lr_campaign_dataset lr_campaign_datasets[LR_CAMPAIGN_N_DATASETS] = {
    [LR_CD_JOBS_ID] = ROWS("/jobs/id", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_FOLD] = ROWS("/jobs/fold", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_REPLICATE] = ROWS("/jobs/replicate", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_ATTEMPTS] = ROWS("/jobs/attempts", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_RANK] = ROWS("/jobs/rank", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_BEST_EPOCH] = ROWS("/jobs/best_epoch", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_SELECTED_EPOCH] = ROWS("/jobs/selected_epoch", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_EPOCHS_RUN] = ROWS("/jobs/epochs_run", LR_CT_I32, LR_EXT_J),
    [LR_CD_JOBS_SEED] = ROWS("/jobs/seed", LR_CT_I64, LR_EXT_J),
    [LR_CD_JOBS_WALL_SECONDS] = ROWS("/jobs/wall_seconds", LR_CT_F64, LR_EXT_J),
    [LR_CD_JOBS_MODEL] = STRINGS("/jobs/model", LR_CAMPAIGN_S_MODEL, LR_EXT_J),
    [LR_CD_JOBS_STATUS] = STRINGS("/jobs/status", LR_CAMPAIGN_S_SHORT, LR_EXT_J),
    [LR_CD_JOBS_SELECTION] = STRINGS("/jobs/selection", LR_CAMPAIGN_S_SHORT, LR_EXT_J),
    [LR_CD_JOBS_ERROR] = STRINGS("/jobs/error", LR_CAMPAIGN_S_LONG, LR_EXT_J),
    [LR_CD_JOBS_WEIGHTS_SOURCE] = STRINGS("/jobs/weights_source", LR_CAMPAIGN_S_LONG, LR_EXT_J),
    [LR_CD_JOBS_HOST] = STRINGS("/jobs/host", LR_CAMPAIGN_S_HOST, LR_EXT_J),
    [LR_CD_JOBS_BLIS_ARCH] = STRINGS("/jobs/blis_arch", LR_CAMPAIGN_S_SHORT, LR_EXT_J),
    [LR_CD_JOBS_CINDEX] = TABLE("/jobs/cindex", LR_CT_F64, 2, LR_EXT_J, LR_EXT_3),
    [LR_CD_JOBS_CINDEX_LAST] = TABLE("/jobs/cindex_last", LR_CT_F64, 2, LR_EXT_J, LR_EXT_3),
    [LR_CD_JOBS_CINDEX_BEST] = TABLE("/jobs/cindex_best", LR_CT_F64, 2, LR_EXT_J, LR_EXT_3),
    [LR_CD_CURVES_TRAIN_LOSS] = TABLE("/curves/train_loss", LR_CT_F64, 2, LR_EXT_J, LR_EXT_E),
    [LR_CD_CURVES_CINDEX] = TABLE("/curves/cindex", LR_CT_F64, 3, LR_EXT_J, LR_EXT_E, LR_EXT_3),
    [LR_CD_RISKS_PATIENT] = TABLE("/risks/patient", LR_CT_F64, 2, LR_EXT_J, LR_EXT_P),
    [LR_CD_RISKS_PATIENT_ROLE] = TABLE("/risks/patient_role", LR_CT_I8, 2, LR_EXT_J, LR_EXT_P),
    [LR_CD_RISKS_ANNOTATION] = TABLE("/risks/annotation", LR_CT_F64, 2, LR_EXT_J, LR_EXT_A),
    [LR_CD_RISKS_LESION] = TABLE("/risks/lesion", LR_CT_F32, 2, LR_EXT_J, LR_EXT_L),
    [LR_CD_RISKS_LESION_SCALE] = TABLE("/risks/lesion_scale", LR_CT_F32, 2, LR_EXT_J, LR_EXT_L),
    [LR_CD_RISKS_LESION_USED] = TABLE("/risks/lesion_used", LR_CT_I8, 2, LR_EXT_J, LR_EXT_L),
    [LR_CD_COHORT_TIME_DAYS] = ROWS("/cohort/time_days", LR_CT_F64, LR_EXT_P),
    [LR_CD_COHORT_EVENT] = ROWS("/cohort/event", LR_CT_I8, LR_EXT_P),
    [LR_CD_COHORT_ARM] = ROWS("/cohort/arm", LR_CT_I16, LR_EXT_P),
    [LR_CD_COHORT_ANNOTATION_PATIENT] = ROWS("/cohort/annotation_patient", LR_CT_I32, LR_EXT_A),
    [LR_CD_COHORT_ANNOTATION_FIRST_LESION] = ROWS("/cohort/annotation_first_lesion", LR_CT_I64, LR_EXT_A),
    [LR_CD_COHORT_ANNOTATION_N_LESIONS] = ROWS("/cohort/annotation_n_lesions", LR_CT_I32, LR_EXT_A),
    [LR_CD_COHORT_LESION_ORGAN] = ROWS("/cohort/lesion_organ", LR_CT_I16, LR_EXT_L),
    [LR_CD_COHORT_LESION_VOLUME_MM3] = ROWS("/cohort/lesion_volume_mm3", LR_CT_F64, LR_EXT_L),
    [LR_CD_COHORT_LESION_VOLUME_FOLLOWUP_MM3] = ROWS("/cohort/lesion_volume_followup_mm3", LR_CT_F64, LR_EXT_L),
    [LR_CD_COHORT_LESION_DIAMETER_MM] = ROWS("/cohort/lesion_diameter_mm", LR_CT_F64, LR_EXT_L),
    [LR_CD_COHORT_ORGAN_NAME] = STRINGS("/cohort/organ_name", LR_CAMPAIGN_S_MODEL, LR_EXT_K),
    [LR_CD_CONFIG_TEXT] = STRINGS("/config_text", 0, LR_EXT_1),
    [LR_CD_COHORT_TRUTH_LESION_LOG_HAZARD] = {.path = "/cohort/truth_lesion_log_hazard", .type = LR_CT_F64,
                                              .rank = 1, .extent = {LR_EXT_L}, .truth_only = 1},
    [LR_CD_COHORT_TRUTH_PATIENT_LOG_HAZARD] = {.path = "/cohort/truth_patient_log_hazard", .type = LR_CT_F64,
                                               .rank = 1, .extent = {LR_EXT_P}, .truth_only = 1},
    [LR_CD_COHORT_ORACLE_CINDEX] = {.path = "/cohort/oracle_cindex", .type = LR_CT_F64, .rank = 1,
                                    .extent = {LR_EXT_1}, .truth_only = 1},
    /* survival probabilities: the report's horizons, the time grid (every 30 days plus the horizons), the
     * coefficient on each job's risk (1 for learned models; the fold-training Cox beta of a size score), the
     * fold-training Breslow baseline and S(t | risk) of each job's test patients (NaN elsewhere) */
    [LR_CD_SURVIVAL_HORIZONS_DAYS] = {.path = "/survival/horizons_days", .type = LR_CT_F64, .rank = 1,
                                      .extent = {LR_EXT_H}, .survival = 1},
    [LR_CD_SURVIVAL_GRID_DAYS] = {.path = "/survival/grid_days", .type = LR_CT_F64, .rank = 1,
                                  .extent = {LR_EXT_G}, .survival = 1},
    [LR_CD_SURVIVAL_RISK_COEF] = {.path = "/survival/risk_coef", .type = LR_CT_F64, .rank = 1,
                                  .extent = {LR_EXT_J}, .survival = 1},
    [LR_CD_SURVIVAL_BASELINE_CUMHAZ] = {.path = "/survival/baseline_cumhaz", .type = LR_CT_F64, .rank = 2,
                                        .extent = {LR_EXT_J, LR_EXT_G}, .survival = 1},
    [LR_CD_SURVIVAL_PATIENT_SURV] = {.path = "/survival/patient_surv", .type = LR_CT_F64, .rank = 3,
                                     .extent = {LR_EXT_J, LR_EXT_P, LR_EXT_G}, .survival = 1},
    [LR_CD_COHORT_ANNOTATED_TRUTH_CINDEX] = {.path = "/cohort/annotated_truth_cindex", .type = LR_CT_F64,
                                             .rank = 1, .extent = {LR_EXT_1}, .truth_only = 1},
    [LR_CD_COHORT_LESION_KEY] = {.path = "/cohort/lesion_key", .type = LR_CT_I32, .rank = 1, .extent = {LR_EXT_L},
                                 .keys_only = 1},
    /* kept models (model/kept_model.h), one row per row of /jobs: the job's model, fold, replicate copied;
     * kept = 1 when the row holds the selected checkpoint of a finished learned job. Its values (parameters,
     * BN running statistics, head, in the engine's allocation order) are values[offset, offset + n_params +
     * n_buffers + n_head), so rows of different architectures share one dataset without padding. */
    [LR_CD_MODELS_JOB] = MODELS("/models/job", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_MODEL] = MODEL_STRINGS("/models/model", LR_CAMPAIGN_S_MODEL),
    [LR_CD_MODELS_FOLD] = MODELS("/models/fold", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_REPLICATE] = MODELS("/models/replicate", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_KEPT] = MODELS("/models/kept", LR_CT_I8, 1, LR_EXT_J),
    [LR_CD_MODELS_IDENTITY] = MODEL_STRINGS("/models/identity", LR_CAMPAIGN_S_MODEL),
    [LR_CD_MODELS_ARCH] = MODEL_STRINGS("/models/arch", LR_CAMPAIGN_S_SHORT),
    [LR_CD_MODELS_WIDTH] = MODELS("/models/width", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_SCALER_HIDDEN] = MODELS("/models/scaler_hidden", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_MAX_LESIONS] = MODELS("/models/max_lesions", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_PATCH_SIZE] = MODELS("/models/patch_size", LR_CT_I32, 1, LR_EXT_J),
    [LR_CD_MODELS_HU_WINDOW] = MODELS("/models/hu_window", LR_CT_F64, 2, LR_EXT_J, LR_EXT_2),
    [LR_CD_MODELS_SIZE_NORMALISATION] = MODELS("/models/size_normalisation", LR_CT_F64, 2, LR_EXT_J, LR_EXT_3),
    [LR_CD_MODELS_N_PARAMS] = MODELS("/models/n_params", LR_CT_I64, 1, LR_EXT_J),
    [LR_CD_MODELS_N_BUFFERS] = MODELS("/models/n_buffers", LR_CT_I64, 1, LR_EXT_J),
    [LR_CD_MODELS_N_HEAD] = MODELS("/models/n_head", LR_CT_I64, 1, LR_EXT_J),
    [LR_CD_MODELS_OFFSET] = MODELS("/models/offset", LR_CT_I64, 1, LR_EXT_J),
    [LR_CD_MODELS_VALUES] = MODELS("/models/values", LR_CT_F32, 1, LR_EXT_V),
    /* repeated CV: the job's split (0 in campaigns without repeats, and in older files, which lack it) */
    [LR_CD_JOBS_REPEAT] = ROWS("/jobs/repeat", LR_CT_I32, LR_EXT_J),
    /* a sweep: each job's setting (-1: not swept, e.g. a size baseline; files without it have no sweep), the
     * swept keys (dotted config paths) and each setting's values (row s, column k: key k's value) */
    [LR_CD_JOBS_SETTING] = ROWS("/jobs/setting", LR_CT_I32, LR_EXT_J),
    [LR_CD_SWEEP_KEY] = {.path = "/sweep/key", .type = LR_CT_STRING, .string_width = LR_CAMPAIGN_S_MODEL, .rank = 1,
                         .extent = {LR_EXT_SK}, .sweep_only = 1},
    [LR_CD_SWEEP_VALUES] = {.path = "/sweep/values", .type = LR_CT_F64, .rank = 2, .extent = {LR_EXT_SS, LR_EXT_SK},
                            .sweep_only = 1},
};

static hsize_t extent_size(lr_campaign_extent e, const lr_campaign_sizes *s)
{
    switch (e) {
    case LR_EXT_J: return s->J;
    case LR_EXT_P: return s->P;
    case LR_EXT_A: return s->A;
    case LR_EXT_L: return s->L;
    case LR_EXT_K: return s->K;
    case LR_EXT_E: return s->E;
    case LR_EXT_H: return s->H;
    case LR_EXT_G: return s->G;
    case LR_EXT_V: return s->V;
    case LR_EXT_3: return 3;
    case LR_EXT_2: return 2;
    case LR_EXT_1: return 1;
    case LR_EXT_SK: return s->SK;
    case LR_EXT_SS: return s->SS;
    }
    return 0;
}

int lr_campaign_dims(lr_campaign_dataset_id d, const lr_campaign_sizes *s, hsize_t dims[3])
{
    const lr_campaign_dataset *ds = &lr_campaign_datasets[d];
    for (int k = 0; k < ds->rank; k++) dims[k] = extent_size(ds->extent[k], s);
    return ds->rank;
}

size_t lr_campaign_row_size(lr_campaign_dataset_id d, const lr_campaign_sizes *s)
{
    hsize_t dims[3];
    int rank = lr_campaign_dims(d, s, dims);
    size_t n = 1;
    for (int k = 1; k < rank; k++) n *= dims[k];
    return n;
}

static hid_t fixed_string(size_t width)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    return t;
}

static size_t width_of(lr_campaign_dataset_id d, size_t width)
{
    return lr_campaign_datasets[d].string_width ? lr_campaign_datasets[d].string_width : width;
}

/* The HDF5 types of a numeric dataset (predefined: never closed) and its bytes per value. */
static void numeric_types(lr_campaign_type t, hid_t *file, hid_t *mem, size_t *bytes)
{
    switch (t) {
    case LR_CT_I8: *file = H5T_STD_I8LE, *mem = H5T_NATIVE_INT8, *bytes = 1; return;
    case LR_CT_I16: *file = H5T_STD_I16LE, *mem = H5T_NATIVE_INT16, *bytes = 2; return;
    case LR_CT_I32: *file = H5T_STD_I32LE, *mem = H5T_NATIVE_INT32, *bytes = 4; return;
    case LR_CT_I64: *file = H5T_STD_I64LE, *mem = H5T_NATIVE_INT64, *bytes = 8; return;
    case LR_CT_F32: *file = H5T_IEEE_F32LE, *mem = H5T_NATIVE_FLOAT, *bytes = 4; return;
    case LR_CT_F64: *file = H5T_IEEE_F64LE, *mem = H5T_NATIVE_DOUBLE, *bytes = 8; return;
    case LR_CT_STRING: break;
    }
    *file = *mem = -1, *bytes = 0;
}

hid_t lr_campaign_hdf5_type(lr_campaign_dataset_id d, size_t width, int in_memory)
{
    /* fixed-width strings are the same type in the file and in memory */
    if (lr_campaign_datasets[d].type == LR_CT_STRING) return fixed_string(width_of(d, width));
    hid_t file, mem;
    size_t bytes;
    numeric_types(lr_campaign_datasets[d].type, &file, &mem, &bytes);
    return in_memory ? mem : file;
}

void lr_campaign_type_close(lr_campaign_dataset_id d, hid_t type)
{
    if (lr_campaign_datasets[d].type == LR_CT_STRING) H5Tclose(type);
}

size_t lr_campaign_value_size(lr_campaign_dataset_id d, size_t width)
{
    if (lr_campaign_datasets[d].type == LR_CT_STRING) return width_of(d, width);
    hid_t file, mem;
    size_t bytes;
    numeric_types(lr_campaign_datasets[d].type, &file, &mem, &bytes);
    return bytes;
}

int lr_campaign_blis_archs(hid_t file, char *out, size_t size)
{
    out[0] = '\0';
    const char *path = lr_campaign_datasets[LR_CD_JOBS_BLIS_ARCH].path;
    if (!lr_h5_exists(file, path)) return 0;
    size_t n = 0;
    lr_err err;
    char **names = lr_h5_read_strings(file, path, &n, &err);
    if (!names) return 0;
    int distinct = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = !names[i][0];
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(names[i], names[j]);
        if (seen) continue;
        int w = snprintf(out + len, size - len, "%s%s", distinct ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < size - len) len += (size_t)w;
        distinct++;
    }
    lr_h5_free_strings(names, n);
    return distinct;
}
