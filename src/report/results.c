#include "report/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/h5.h"

const char *lr_job_status_name(int status)
{
    return status == LR_JOB_STATUS_OK ? "ok" : status == LR_JOB_STATUS_MISSING ? "missing" : "failed";
}

#define PATH(d) lr_campaign_datasets[d].path

/* Reads dataset d, whose shape must be the schema's for these sizes, into a new buffer (native type). */
static void *read_dataset(hid_t f, lr_campaign_dataset_id d, const lr_campaign_sizes *sizes, lr_err *err)
{
    const char *path = PATH(d);
    hsize_t dims[3];
    int rank = lr_campaign_dims(d, sizes, dims);
    int file_rank;
    hsize_t file_dims[LR_H5_MAXRANK];
    if (lr_h5_shape(f, path, &file_rank, file_dims, err)) return NULL;
    size_t n = 1;
    int same = file_rank == rank;
    for (int k = 0; k < rank; k++) {
        n *= dims[k];
        if (same && file_dims[k] != dims[k]) same = 0;
    }
    if (!same) {
        char want[128] = "", got[128] = "";
        for (int k = 0; k < rank; k++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%llu", k ? "x" : "",
                     (unsigned long long)dims[k]);
        for (int k = 0; k < file_rank && k < LR_H5_MAXRANK; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", k ? "x" : "",
                     (unsigned long long)file_dims[k]);
        lr_fail(err, "%s: expected shape [%s], found [%s]", path, want, got);
        return NULL;
    }
    void *buf = lr_malloc(n ? n : 1, lr_campaign_value_size(d, 0), err);
    if (!buf) return NULL;
    if (n && lr_h5_read(f, path, lr_campaign_hdf5_type(d, 0, 1), buf, err)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char **read_strings_n(hid_t f, lr_campaign_dataset_id d, size_t n, lr_err *err)
{
    const char *path = PATH(d);
    size_t got = 0;
    char **s = lr_h5_read_strings(f, path, &got, err);
    if (!s) return NULL;
    if (got != n) {
        lr_h5_free_strings(s, got);
        lr_fail(err, "%s: expected %zu strings, found %zu", path, n, got);
        return NULL;
    }
    return s;
}

static int read_attr_long(hid_t f, const char *name, long *v, lr_err *err)
{
    return lr_h5_attr_read(f, "/", name, H5T_NATIVE_LONG, 1, v, err);
}

static int dataset_len(hid_t f, lr_campaign_dataset_id d, size_t *n, lr_err *err)
{
    const char *path = PATH(d);
    int rank;
    hsize_t dims[LR_H5_MAXRANK];
    if (lr_h5_shape(f, path, &rank, dims, err)) return -1;
    if (rank < 1) return lr_fail(err, "%s: expected an array", path);
    *n = dims[0];
    return 0;
}

static int read_root(hid_t f, lr_results *c, lr_err *err)
{
    char format[64] = "";
    if (!lr_h5_attr_exists(f, "/", "format"))
        return lr_fail(err, "not a lesionrank campaign file (no root attribute 'format'; "
                            "a campaign file is written by 'lesionrank merge')");
    LR_TRY(lr_h5_attr_read_string(f, "/", "format", format, sizeof format, err));
    if (strcmp(format, LR_CAMPAIGN_FORMAT) != 0)
        return lr_fail(err, "not a campaign file: format = '%s', expected '%s'%s", format, LR_CAMPAIGN_FORMAT,
                       !strcmp(format, "lesionrank-shard") ? " (this is one job's shard; merge the campaign first)"
                       : !strcmp(format, "lesionrank-cohort") ? " (this is a cohort)" : "");
    long version = 0;
    LR_TRY(read_attr_long(f, "version", &version, err));
    if (version != LR_CAMPAIGN_VERSION)
        return lr_fail(err, "campaign version %ld, this reader knows version %d", version, LR_CAMPAIGN_VERSION);
    LR_TRY(lr_h5_attr_read_string(f, "/", "name", c->name, sizeof c->name, err));
    LR_TRY(lr_h5_attr_read_string(f, "/", "cohort_path", c->cohort_path, sizeof c->cohort_path, err));
    /* informational attributes: tolerate their absence */
    if (lr_h5_attr_exists(f, "/", "config_path"))
        LR_TRY(lr_h5_attr_read_string(f, "/", "config_path", c->config_path, sizeof c->config_path, err));
    if (lr_h5_attr_exists(f, "/", "cohort_fnv1a64"))
        LR_TRY(lr_h5_attr_read_string(f, "/", "cohort_fnv1a64", c->cohort_fnv1a64, sizeof c->cohort_fnv1a64, err));
    c->n_blis_archs = lr_campaign_blis_archs(f, c->blis_archs, sizeof c->blis_archs);
    if (lr_h5_attr_exists(f, "/", "software_version"))
        LR_TRY(lr_h5_attr_read_string(f, "/", "software_version", c->software_version, sizeof c->software_version,
                                      err));
    LR_TRY(read_attr_long(f, "seed", &c->seed, err));
    LR_TRY(read_attr_long(f, "folds", &c->folds, err));
    LR_TRY(read_attr_long(f, "replicates", &c->replicates, err));
    c->repeats = 1;
    if (lr_h5_attr_exists(f, "/", "repeats")) LR_TRY(read_attr_long(f, "repeats", &c->repeats, err));
    if (c->repeats < 1 || c->repeats * c->folds > LR_CAMPAIGN_MAX_CV_UNITS)
        return lr_fail(err, "root attribute repeats = %ld: expected 1 .. %ld (repeats x folds <= %d)", c->repeats,
                       LR_CAMPAIGN_MAX_CV_UNITS / (c->folds > 0 ? c->folds : 1), LR_CAMPAIGN_MAX_CV_UNITS);
    if (c->folds < 2 || c->replicates < 1)
        return lr_fail(err, "root attributes: folds = %ld (>= 2 expected), replicates = %ld (>= 1 expected)",
                       c->folds, c->replicates);
    return 0;
fail:
    return -1;
}

static lr_campaign_sizes sizes_of(const lr_results *c)
{
    return (lr_campaign_sizes){.J = c->J, .P = c->P, .A = c->A, .L = c->L, .K = c->K, .E = c->E};
}

static int read_jobs(hid_t f, lr_results *c, lr_err *err)
{
    size_t J = c->J;
    lr_campaign_sizes n = sizes_of(c);
    if (!(c->job_id = read_dataset(f, LR_CD_JOBS_ID, &n, err))) return -1;
    if (!(c->job_fold = read_dataset(f, LR_CD_JOBS_FOLD, &n, err))) return -1;
    if (!(c->job_replicate = read_dataset(f, LR_CD_JOBS_REPLICATE, &n, err))) return -1;
    if (lr_h5_exists(f, PATH(LR_CD_JOBS_SETTING))) {
        if (!(c->job_setting = read_dataset(f, LR_CD_JOBS_SETTING, &n, err))) return -1;
    } else {
        if (!(c->job_setting = lr_malloc(J ? J : 1, sizeof *c->job_setting, err))) return -1;
        for (size_t j = 0; j < J; j++) c->job_setting[j] = -1;
    }
    if (lr_h5_exists(f, PATH(LR_CD_JOBS_REPEAT))) {
        if (!(c->job_repeat = read_dataset(f, LR_CD_JOBS_REPEAT, &n, err))) return -1;
    } else if (!(c->job_repeat = lr_calloc(J ? J : 1, sizeof *c->job_repeat, err))) {
        return -1;
    }
    if (!(c->job_best_epoch = read_dataset(f, LR_CD_JOBS_BEST_EPOCH, &n, err))) return -1;
    if (!(c->job_selected_epoch = read_dataset(f, LR_CD_JOBS_SELECTED_EPOCH, &n, err))) return -1;
    if (!(c->job_epochs_run = read_dataset(f, LR_CD_JOBS_EPOCHS_RUN, &n, err))) return -1;
    if (!(c->job_wall_seconds = read_dataset(f, LR_CD_JOBS_WALL_SECONDS, &n, err))) return -1;
    if (!(c->job_cindex = read_dataset(f, LR_CD_JOBS_CINDEX, &n, err))) return -1;
    if (!(c->job_model = read_strings_n(f, LR_CD_JOBS_MODEL, J, err))) return -1;
    if (!(c->job_error = read_strings_n(f, LR_CD_JOBS_ERROR, J, err))) return -1;
    if (!(c->job_weights_source = read_strings_n(f, LR_CD_JOBS_WEIGHTS_SOURCE, J, err))) return -1;
    if (!(c->job_selection = read_strings_n(f, LR_CD_JOBS_SELECTION, J, err))) return -1;
    char **status = read_strings_n(f, LR_CD_JOBS_STATUS, J, err);
    if (!status) return -1;
    c->job_status = lr_malloc(J ? J : 1, sizeof *c->job_status, err);
    if (!c->job_status) {
        lr_h5_free_strings(status, J);
        return -1;
    }
    for (size_t j = 0; j < J; j++)
        c->job_status[j] = !strcmp(status[j], "ok")        ? LR_JOB_STATUS_OK
                           : !strcmp(status[j], "missing") ? LR_JOB_STATUS_MISSING
                                                           : LR_JOB_STATUS_FAILED;
    lr_h5_free_strings(status, J);
    for (size_t j = 0; j < J; j++) {
        if (c->job_fold[j] < 0 || c->job_fold[j] >= c->folds || c->job_replicate[j] < 0)
            return lr_fail(err, "/jobs/fold, /jobs/replicate: job %zu has fold %d, replicate %d (folds = %ld)", j,
                           c->job_fold[j], c->job_replicate[j], c->folds);
        if (c->job_repeat[j] < 0 || c->job_repeat[j] >= c->repeats)
            return lr_fail(err, "/jobs/repeat: job %zu has repeat %d (repeats = %ld)", j, c->job_repeat[j], c->repeats);
    }
    return 0;
}

static int read_risks(hid_t f, lr_results *c, lr_err *err)
{
    int rank;
    hsize_t dims[LR_H5_MAXRANK];
    LR_TRY(lr_h5_shape(f, PATH(LR_CD_CURVES_TRAIN_LOSS), &rank, dims, err));
    if (rank != 2 || dims[0] != c->J)
        return lr_fail(err, "%s: expected shape [%zu, E]", PATH(LR_CD_CURVES_TRAIN_LOSS), c->J);
    c->E = dims[1];
    lr_campaign_sizes n = sizes_of(c);
    if (!(c->curve_loss = read_dataset(f, LR_CD_CURVES_TRAIN_LOSS, &n, err))) return -1;
    if (!(c->curve_cindex = read_dataset(f, LR_CD_CURVES_CINDEX, &n, err))) return -1;
    if (!(c->patient_risk = read_dataset(f, LR_CD_RISKS_PATIENT, &n, err))) return -1;
    if (!(c->patient_role = read_dataset(f, LR_CD_RISKS_PATIENT_ROLE, &n, err))) return -1;
    if (!(c->lesion_risk = read_dataset(f, LR_CD_RISKS_LESION, &n, err))) return -1;
    if (!(c->lesion_scale = read_dataset(f, LR_CD_RISKS_LESION_SCALE, &n, err))) return -1;
    if (!(c->lesion_used = read_dataset(f, LR_CD_RISKS_LESION_USED, &n, err))) return -1;
    return 0;
fail:
    return -1;
}

static int read_cohort_copy(hid_t f, lr_results *c, lr_err *err)
{
    size_t P = c->P;
    lr_campaign_sizes n = sizes_of(c);
    if (!(c->time_days = read_dataset(f, LR_CD_COHORT_TIME_DAYS, &n, err))) return -1;
    int8_t *event = read_dataset(f, LR_CD_COHORT_EVENT, &n, err);
    if (!event) return -1;
    c->event = lr_malloc(P ? P : 1, sizeof *c->event, err);
    if (!c->event) {
        free(event);
        return -1;
    }
    for (size_t i = 0; i < P; i++) c->event[i] = event[i] != 0;
    free(event);
    if (!(c->ann_patient = read_dataset(f, LR_CD_COHORT_ANNOTATION_PATIENT, &n, err))) return -1;
    if (!(c->ann_first_lesion = read_dataset(f, LR_CD_COHORT_ANNOTATION_FIRST_LESION, &n, err))) return -1;
    if (!(c->ann_n_lesions = read_dataset(f, LR_CD_COHORT_ANNOTATION_N_LESIONS, &n, err))) return -1;
    if (!(c->lesion_organ = read_dataset(f, LR_CD_COHORT_LESION_ORGAN, &n, err))) return -1;
    if (!(c->lesion_volume_mm3 = read_dataset(f, LR_CD_COHORT_LESION_VOLUME_MM3, &n, err))) return -1;
    if (!(c->lesion_volume_followup_mm3 = read_dataset(f, LR_CD_COHORT_LESION_VOLUME_FOLLOWUP_MM3, &n, err)))
        return -1;
    if (!(c->lesion_diameter_mm = read_dataset(f, LR_CD_COHORT_LESION_DIAMETER_MM, &n, err))) return -1;
    if (!(c->organ_name = lr_h5_read_strings(f, PATH(LR_CD_COHORT_ORGAN_NAME), &c->K, err))) return -1;
    c->oracle_cindex = c->annotated_truth_cindex = NAN;
    if (lr_h5_exists(f, PATH(LR_CD_COHORT_LESION_KEY)) &&
        !(c->lesion_key = read_dataset(f, LR_CD_COHORT_LESION_KEY, &n, err)))
        return -1;
    c->has_truth = lr_h5_exists(f, PATH(LR_CD_COHORT_TRUTH_LESION_LOG_HAZARD));
    if (c->has_truth) {
        if (!(c->truth_lesion_log_hazard = read_dataset(f, LR_CD_COHORT_TRUTH_LESION_LOG_HAZARD, &n, err)))
            return -1;
        if (!(c->truth_patient_log_hazard = read_dataset(f, LR_CD_COHORT_TRUTH_PATIENT_LOG_HAZARD, &n, err)))
            return -1;
        if (lr_h5_exists(f, PATH(LR_CD_COHORT_ORACLE_CINDEX))) {
            double *oracle = read_dataset(f, LR_CD_COHORT_ORACLE_CINDEX, &n, err);
            if (!oracle) return -1;
            c->oracle_cindex = oracle[0];
            free(oracle);
        }
        if (lr_h5_exists(f, PATH(LR_CD_COHORT_ANNOTATED_TRUTH_CINDEX))) {
            double *ceiling = read_dataset(f, LR_CD_COHORT_ANNOTATED_TRUTH_CINDEX, &n, err);
            if (!ceiling) return -1;
            c->annotated_truth_cindex = ceiling[0];
            free(ceiling);
        }
    }
    return 0;
}

/* ---- survival probabilities (runner/merge_survival.h); optional: campaign files from before issue 13 lack
 * them and the report then omits the prognosis section ---- */
static int read_survival(hid_t f, lr_results *c, lr_err *err)
{
    if (!lr_h5_exists(f, PATH(LR_CD_SURVIVAL_GRID_DAYS))) return 0;
    LR_TRY(dataset_len(f, LR_CD_SURVIVAL_HORIZONS_DAYS, &c->H, err));
    LR_TRY(dataset_len(f, LR_CD_SURVIVAL_GRID_DAYS, &c->G, err));
    lr_campaign_sizes n = sizes_of(c);
    n.H = c->H, n.G = c->G;
    if (!(c->horizons_days = read_dataset(f, LR_CD_SURVIVAL_HORIZONS_DAYS, &n, err))) return -1;
    if (!(c->grid_days = read_dataset(f, LR_CD_SURVIVAL_GRID_DAYS, &n, err))) return -1;
    if (!(c->risk_coef = read_dataset(f, LR_CD_SURVIVAL_RISK_COEF, &n, err))) return -1;
    if (!(c->baseline_cumhaz = read_dataset(f, LR_CD_SURVIVAL_BASELINE_CUMHAZ, &n, err))) return -1;
    if (!(c->patient_surv = read_dataset(f, LR_CD_SURVIVAL_PATIENT_SURV, &n, err))) return -1;
    for (size_t h = 0; h < c->H; h++) {
        size_t g = 0;
        while (g < c->G && c->grid_days[g] != c->horizons_days[h]) g++;
        if (g == c->G)
            return lr_fail(err, "%s[%zu] = %g is not in %s", PATH(LR_CD_SURVIVAL_HORIZONS_DAYS), h, c->horizons_days[h],
                           PATH(LR_CD_SURVIVAL_GRID_DAYS));
    }
    c->has_survival = 1;
    return 0;
fail:
    return -1;
}

/* /sweep/key and /sweep/values (absent without a sweep). */
static int read_sweep(hid_t f, lr_results *c, lr_err *err)
{
    if (!lr_h5_exists(f, PATH(LR_CD_SWEEP_KEY))) return 0;
    LR_TRY(dataset_len(f, LR_CD_SWEEP_KEY, &c->n_sweep_keys, err));
    LR_TRY(dataset_len(f, LR_CD_SWEEP_VALUES, &c->n_settings, err));
    lr_campaign_sizes n = sizes_of(c);
    n.SK = c->n_sweep_keys, n.SS = c->n_settings;
    if (!(c->sweep_key = read_strings_n(f, LR_CD_SWEEP_KEY, c->n_sweep_keys, err))) return -1;
    if (!(c->sweep_values = read_dataset(f, LR_CD_SWEEP_VALUES, &n, err))) return -1;
    for (size_t j = 0; j < c->J; j++)
        if (c->job_setting[j] >= (int32_t)c->n_settings || c->job_setting[j] < -1)
            return lr_fail(err, "/jobs/setting: job %zu has setting %d (%zu settings)", j, c->job_setting[j],
                           c->n_settings);
    return 0;
fail:
    return -1;
}

/* Nested selection, from validation C only: per (model, repeat, fold) the setting whose ok jobs have the best
 * mean validation C (/jobs/cindex column 1; ties: the lowest setting). Then which jobs the per-patient
 * outputs pool. */
static int select_settings(lr_results *c, lr_err *err)
{
    size_t J = c->J, U = (size_t)(c->repeats * c->folds), S = c->n_settings ? c->n_settings : 1;
    c->job_unit_selected = lr_malloc(J ? J : 1, sizeof *c->job_unit_selected, err);
    c->job_selected = lr_malloc(J ? J : 1, 1, err);
    c->job_pooled = lr_malloc(J ? J : 1, 1, err);
    double *sum = lr_calloc(U * S, sizeof *sum, err), *count = lr_calloc(U * S, sizeof *count, err);
    int rc = -1;
    if (!c->job_unit_selected || !c->job_selected || !c->job_pooled || !sum || !count) goto done;
    for (size_t j = 0; j < J; j++) c->job_unit_selected[j] = -2; /* not decided yet */
    for (size_t j = 0; j < J; j++) {
        if (c->job_setting[j] < 0) {
            c->job_unit_selected[j] = -1;
            continue;
        }
        if (c->job_unit_selected[j] != -2) continue;
        /* every job of this model: sums per (unit, setting), then the choice per unit */
        memset(sum, 0, U * S * sizeof *sum);
        memset(count, 0, U * S * sizeof *count);
        for (size_t q = j; q < J; q++) {
            double v = c->job_cindex[q * 3 + 1];
            if (c->job_setting[q] < 0 || strcmp(c->job_model[q], c->job_model[j]) ||
                c->job_status[q] != LR_JOB_STATUS_OK || !isfinite(v))
                continue;
            sum[LR_RESULTS_UNIT(c, q) * S + (size_t)c->job_setting[q]] += v;
            count[LR_RESULTS_UNIT(c, q) * S + (size_t)c->job_setting[q]] += 1;
        }
        for (size_t q = j; q < J; q++) {
            if (c->job_setting[q] < 0 || strcmp(c->job_model[q], c->job_model[j])) continue;
            size_t u = LR_RESULTS_UNIT(c, q);
            int best = -1;
            for (size_t s = 0; s < S; s++)
                if (count[u * S + s] > 0 &&
                    (best < 0 || sum[u * S + s] / count[u * S + s] > sum[u * S + best] / count[u * S + best]))
                    best = (int)s;
            c->job_unit_selected[q] = best;
        }
    }
    for (size_t j = 0; j < J; j++) {
        c->job_selected[j] = c->job_setting[j] < 0 || c->job_setting[j] == c->job_unit_selected[j];
        c->job_pooled[j] = c->job_repeat[j] == 0 && c->job_selected[j];
    }
    rc = 0;
done:
    free(sum);
    free(count);
    return rc;
}

/* Cross-references: annotations point at patients and lesion rows, lesions at organs. */
static int check_and_index(lr_results *c, lr_err *err)
{
    c->lesion_annotation = lr_malloc(c->L ? c->L : 1, sizeof *c->lesion_annotation, err);
    if (!c->lesion_annotation) return -1;
    for (size_t l = 0; l < c->L; l++) c->lesion_annotation[l] = -1;
    for (size_t a = 0; a < c->A; a++) {
        if (c->ann_patient[a] < 0 || (size_t)c->ann_patient[a] >= c->P)
            return lr_fail(err, "/cohort/annotation_patient[%zu] = %d outside [0, %zu)", a, c->ann_patient[a], c->P);
        int64_t first = c->ann_first_lesion[a], n = c->ann_n_lesions[a];
        if (first < 0 || n < 0 || (uint64_t)(first + n) > c->L)
            return lr_fail(err, "/cohort/annotation_first_lesion[%zu], n_lesions: rows %lld+%lld outside [0, %zu)", a,
                           (long long)first, (long long)n, c->L);
        for (int64_t l = first; l < first + n; l++) c->lesion_annotation[l] = (int32_t)a;
    }
    for (size_t l = 0; l < c->L; l++)
        if (c->lesion_organ[l] < 0 || (size_t)c->lesion_organ[l] >= c->K)
            return lr_fail(err, "/cohort/lesion_organ[%zu] = %d outside /cohort/organ_name [0, %zu)", l,
                           c->lesion_organ[l], c->K);
    return 0;
}

int lr_results_read(const char *path, lr_results *c, lr_err *err)
{
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    LR_TRY(read_root(f, c, err));
    LR_TRY(dataset_len(f, LR_CD_JOBS_ID, &c->J, err));
    LR_TRY(dataset_len(f, LR_CD_COHORT_TIME_DAYS, &c->P, err));
    LR_TRY(dataset_len(f, LR_CD_COHORT_ANNOTATION_PATIENT, &c->A, err));
    LR_TRY(dataset_len(f, LR_CD_COHORT_LESION_ORGAN, &c->L, err));
    LR_TRY(read_jobs(f, c, err));
    LR_TRY(read_risks(f, c, err));
    LR_TRY(read_cohort_copy(f, c, err));
    LR_TRY(check_and_index(c, err));
    LR_TRY(read_survival(f, c, err));
    LR_TRY(read_sweep(f, c, err));
    LR_TRY(select_settings(c, err));
    H5Fclose(f);
    return 0;
fail:
    H5Fclose(f);
    lr_results_free(c);
    return lr_fail_ctx(err, "%s", path);
}

void lr_results_free(lr_results *c)
{
    free(c->job_id);
    free(c->job_fold);
    free(c->job_replicate);
    free(c->job_repeat);
    free(c->job_pooled);
    free(c->job_setting);
    free(c->job_unit_selected);
    free(c->job_selected);
    if (c->sweep_key) lr_h5_free_strings(c->sweep_key, c->n_sweep_keys);
    free(c->sweep_values);
    free(c->job_best_epoch);
    free(c->job_selected_epoch);
    free(c->job_epochs_run);
    if (c->job_model) lr_h5_free_strings(c->job_model, c->J);
    if (c->job_error) lr_h5_free_strings(c->job_error, c->J);
    if (c->job_weights_source) lr_h5_free_strings(c->job_weights_source, c->J);
    if (c->job_selection) lr_h5_free_strings(c->job_selection, c->J);
    free(c->job_status);
    free(c->job_wall_seconds);
    free(c->job_cindex);
    free(c->curve_loss);
    free(c->curve_cindex);
    free(c->patient_risk);
    free(c->patient_role);
    free(c->lesion_risk);
    free(c->lesion_scale);
    free(c->time_days);
    free(c->event);
    free(c->ann_patient);
    free(c->ann_first_lesion);
    free(c->ann_n_lesions);
    free(c->lesion_annotation);
    free(c->lesion_organ);
    free(c->lesion_volume_mm3);
    free(c->lesion_volume_followup_mm3);
    free(c->lesion_diameter_mm);
    if (c->organ_name) lr_h5_free_strings(c->organ_name, c->K);
    free(c->truth_lesion_log_hazard);
    free(c->truth_patient_log_hazard);
    free(c->horizons_days);
    free(c->grid_days);
    free(c->baseline_cumhaz);
    free(c->risk_coef);
    free(c->patient_surv);
    free(c->lesion_used);
    free(c->lesion_key);
    memset(c, 0, sizeof *c);
}

size_t lr_results_fold_jobs(const lr_results *c, const char *model, int fold, long *out)
{
    size_t n = 0;
    for (size_t j = 0; j < c->J; j++) {
        if (c->job_status[j] != LR_JOB_STATUS_OK || !c->job_pooled[j] || c->job_fold[j] != fold ||
            strcmp(c->job_model[j], model))
            continue;
        size_t i = n++;
        for (; i > 0 && c->job_replicate[out[i - 1]] > c->job_replicate[j]; i--) out[i] = out[i - 1];
        out[i] = (long)j;
    }
    return n;
}
