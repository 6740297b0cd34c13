#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/campaign_schema.h"
#include "predict/predict.h"
#include "util/h5.h"

#define PATH(d) lr_campaign_datasets[d].path

void lr_predict_close(lr_predict_set *s)
{
    lr_results_free(&s->campaign);
    free(s->job);
    free(s->fold);
    free(s->replicate);
    free(s->label);
    free(s->kept);
    free(s->offset);
    free(s->coef);
    free(s->cumhaz);
    memset(s, 0, sizeof *s);
}

/* A numeric /models column [J] (or [J,w]) into buf. */
static int read_col(hid_t f, lr_campaign_dataset_id d, hid_t type, void *buf, lr_err *err)
{
    return lr_h5_read(f, PATH(d), type, buf, err);
}

/* The rows whose model has kept models, listed for an error message. */
static void kept_rows(const int8_t *kept, char **model, size_t J, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t j = 0; j < J; j++) {
        if (!kept[j]) continue;
        int seen = 0;
        for (size_t i = 0; i < j && !seen; i++) seen = kept[i] && !strcmp(model[i], model[j]);
        if (!seen) snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? ", " : "", model[j]);
    }
    if (!out[0]) snprintf(out, size, "none");
}

static int read_descriptions(hid_t f, lr_predict_set *s, const int8_t *kept, lr_err *err)
{
    size_t J = s->campaign.J;
    int32_t *w = lr_malloc(4 * J, sizeof *w, err);
    int64_t *n = lr_malloc(4 * J, sizeof *n, err);
    double *hu = lr_malloc(5 * J, sizeof *hu, err);
    size_t na = 0;
    char **arch = lr_h5_read_strings(f, PATH(LR_CD_MODELS_ARCH), &na, err);
    int rc = w && n && hu && arch && na == J ? 0 : lr_fail(err, "%s: cannot read /models", s->path);
    if (!rc) rc = read_col(f, LR_CD_MODELS_WIDTH, H5T_NATIVE_INT32, w, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_SCALER_HIDDEN, H5T_NATIVE_INT32, w + J, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_MAX_LESIONS, H5T_NATIVE_INT32, w + 2 * J, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_PATCH_SIZE, H5T_NATIVE_INT32, w + 3 * J, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_N_PARAMS, H5T_NATIVE_INT64, n, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_N_BUFFERS, H5T_NATIVE_INT64, n + J, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_N_HEAD, H5T_NATIVE_INT64, n + 2 * J, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_OFFSET, H5T_NATIVE_INT64, n + 3 * J, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_HU_WINDOW, H5T_NATIVE_DOUBLE, hu, err);
    if (!rc) rc = read_col(f, LR_CD_MODELS_SIZE_NORMALISATION, H5T_NATIVE_DOUBLE, hu + 2 * J, err);
    for (size_t k = 0; !rc && k < s->K; k++) {
        size_t j = (size_t)s->job[k];
        lr_kept_model *d = &s->kept[k];
        *d = (lr_kept_model){.width = w[j], .scaler_hidden = w[J + j], .max_lesions = w[2 * J + j],
                             .patch_size = w[3 * J + j], .hu_window = {hu[2 * j], hu[2 * j + 1]},
                             .size_normalisation = {hu[2 * J + 3 * j], hu[2 * J + 3 * j + 1], hu[2 * J + 3 * j + 2]},
                             .n_params = (size_t)n[j], .n_buffers = (size_t)n[J + j], .n_head = (size_t)n[2 * J + j]};
        lr_model_parse(s->model, &d->kind);
        snprintf(d->arch, sizeof d->arch, "%s", arch[j]);
        s->offset[k] = n[3 * J + j];
        if (!kept[j]) rc = lr_fail(err, "%s: job %zu (%s fold %d replicate %d) has no kept model", s->path, j, s->model,
                                   s->fold[k], s->replicate[k]);
    }
    if (arch) lr_h5_free_strings(arch, na);
    free(w);
    free(n);
    free(hu);
    return rc;
}

/* H0 of each fold model at each horizon (the horizons are grid points). */
static int baselines(lr_predict_set *s, lr_err *err)
{
    const lr_results *c = &s->campaign;
    if (!c->has_survival)
        return lr_fail(err, "%s: no /survival (a campaign merged before survival baselines were kept): merge it again",
                       s->path);
    for (size_t k = 0; k < s->K; k++) {
        size_t j = (size_t)s->job[k];
        s->coef[k] = c->risk_coef[j];
        for (size_t h = 0; h < c->H; h++) {
            size_t g = 0;
            while (g < c->G && c->grid_days[g] != c->horizons_days[h]) g++;
            if (g == c->G) return lr_fail(err, "%s: horizon %g days is not on /survival/grid_days", s->path, c->horizons_days[h]);
            s->cumhaz[k * c->H + h] = c->baseline_cumhaz[j * c->G + g];
        }
    }
    return 0;
}

static int resolve_row(lr_predict_set *s, const int8_t *kept, lr_err *err)
{
    const lr_results *c = &s->campaign;
    size_t J = c->J;
    char rows[512];
    kept_rows(kept, c->job_model, J, rows, sizeof rows);
    lr_model_kind kind;
    if (lr_model_parse(s->model, &kind))
        return lr_fail(err, "unknown model '%s'; rows of %s with kept models: %s", s->model, s->path, rows);
    if (!lr_model_is_learned(kind) || kind == LR_MODEL_WHOLE_VOLUME)
        return lr_fail(err, "model '%s' %s; rows of %s with kept models: %s", s->model,
                       kind == LR_MODEL_WHOLE_VOLUME ? "scores whole volumes, not lesions: predict applies lesion models"
                                                     : "is not learned (a size baseline has no model to apply)",
                       s->path, rows);
    /* one model per (repeat, fold, replicate): with a sweep, the setting nested selection chose for that
     * (repeat, fold) by validation C (report/results.c), as the report's selected row */
    for (size_t j = 0; j < J; j++) s->K += !strcmp(c->job_model[j], s->model) && c->job_selected[j];
    if (!s->K) return lr_fail(err, "model '%s' is not in the campaign %s; rows with kept models: %s", s->model, s->path, rows);
    s->job = lr_malloc(s->K, sizeof *s->job, err);
    s->fold = lr_malloc(s->K, sizeof *s->fold, err);
    s->replicate = lr_malloc(s->K, sizeof *s->replicate, err);
    s->label = lr_malloc(s->K, sizeof *s->label, err);
    s->kept = lr_malloc(s->K, sizeof *s->kept, err);
    s->offset = lr_malloc(s->K, sizeof *s->offset, err);
    s->coef = lr_malloc(s->K, sizeof *s->coef, err);
    s->cumhaz = lr_malloc(s->K * (c->H + 1), sizeof *s->cumhaz, err);
    if (!s->job || !s->fold || !s->replicate || !s->label || !s->kept || !s->offset || !s->coef || !s->cumhaz) return -1;
    /* (repeat, fold, replicate) order; /jobs is in that order within a model, but do not rely on it */
    size_t k = 0;
    for (long q = 0; q < c->repeats; q++)
        for (long f = 0; f < c->folds; f++)
            for (long r = 0; r < c->replicates; r++)
                for (size_t j = 0; j < J; j++) {
                    if (strcmp(c->job_model[j], s->model) || !c->job_selected[j] || c->job_repeat[j] != q ||
                        c->job_fold[j] != f || c->job_replicate[j] != r)
                        continue;
                    if (c->job_status[j] != LR_JOB_STATUS_OK)
                        return lr_fail(err, "model '%s' failed in %s: job %zu (repeat %ld, fold %ld, replicate %ld) is %s%s%s",
                                       s->model, s->path, j, q, f, r, lr_job_status_name(c->job_status[j]),
                                       c->job_error[j][0] ? ": " : "", c->job_error[j]);
                    if (k < s->K) {
                        s->job[k] = (int32_t)j, s->fold[k] = (int32_t)f, s->replicate[k] = (int32_t)r;
                        /* "fold0"; "repeat1_fold0" with repeats; "_rep1" appended with replicates */
                        char repeat[20] = "", replicate[16] = "";
                        if (c->repeats > 1) snprintf(repeat, sizeof repeat, "repeat%d_", (int)q);
                        if (c->replicates > 1) snprintf(replicate, sizeof replicate, "_rep%d", (int)r);
                        snprintf(s->label[k], sizeof s->label[k], "%sfold%d%s", repeat, (int)f, replicate);
                    }
                    k++;
                }
    if (k != s->K) return lr_fail(err, "%s: model '%s' has %zu jobs, expected one per repeat, fold and replicate", s->path, s->model, s->K);
    return 0;
}

int lr_predict_open(const char *campaign, const char *model, lr_predict_set *s, lr_err *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", campaign);
    snprintf(s->model, sizeof s->model, "%s", model);
    if (lr_results_read(campaign, &s->campaign, err)) return -1;
    lr_err e = {0};
    hid_t f = lr_h5_open_read(campaign, &e);
    if (f < 0) return lr_fail(err, "%s: %s", campaign, e.msg);
    int rc = 0;
    int8_t *kept = NULL;
    if (!lr_h5_exists(f, PATH(LR_CD_MODELS_KEPT))) {
        rc = lr_fail(err, "%s has no /models: the campaign was merged before trained models were kept; rerun "
                          "'lesionrank run CONFIG --fresh' (or retrain and merge) with this version", campaign);
    } else {
        kept = lr_malloc(s->campaign.J + 1, 1, err);
        rc = kept ? read_col(f, LR_CD_MODELS_KEPT, H5T_NATIVE_INT8, kept, err) : -1;
    }
    if (!rc) rc = resolve_row(s, kept, err);
    if (!rc) rc = read_descriptions(f, s, kept, err);
    if (!rc) rc = baselines(s, err);
    free(kept);
    H5Fclose(f);
    if (rc) lr_predict_close(s);
    return rc;
}

int lr_predict_check_cohort(const lr_predict_set *s, const lr_cohort *cohort, const char *path, lr_err *err)
{
    for (size_t k = 0; k < s->K; k++)
        if (cohort->patch_size != s->kept[k].patch_size)
            return lr_fail(err, "%s: patch size %d, the models of %s were trained on %d x %d patches", path,
                           cohort->patch_size, s->path, s->kept[k].patch_size, s->kept[k].patch_size);
    const lr_results *c = &s->campaign;
    for (size_t i = 0; i < cohort->n_organs; i++) {
        int found = 0;
        for (size_t t = 0; t < c->K && !found; t++) found = !strcmp(cohort->organ_name[i], c->organ_name[t]);
        if (!found) {
            char names[512] = "";
            for (size_t t = 0; t < c->K; t++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", t ? ", " : "", c->organ_name[t]);
            return lr_fail(err, "%s: organ '%s' (/organs/name[%zu]) is not a training organ of %s (%s)", path,
                           cohort->organ_name[i], i, s->path, names);
        }
    }
    return 0;
}

int lr_predict_build(const lr_predict_set *s, size_t k, lr_train_options *o, lr_lesion_model *m, lr_err *err)
{
    const lr_kept_model *d = &s->kept[k];
    size_t n = lr_kept_model_n_values(d);
    float *values = lr_malloc(n + 1, sizeof(float), err);
    if (!values) return -1;
    lr_err e = {0};
    hid_t f = lr_h5_open_read(s->path, &e);
    int rc = f < 0 ? lr_fail(err, "%s: %s", s->path, e.msg) : 0;
    if (!rc) {
        hid_t ds = H5Dopen2(f, PATH(LR_CD_MODELS_VALUES), H5P_DEFAULT);
        rc = ds < 0 ? lr_fail(err, "%s: cannot open %s", s->path, PATH(LR_CD_MODELS_VALUES))
                    : lr_h5_read_rows(ds, H5T_NATIVE_FLOAT, (hsize_t)s->offset[k], n, values, PATH(LR_CD_MODELS_VALUES), err);
        if (ds >= 0) H5Dclose(ds);
        H5Fclose(f);
    }
    if (!rc) rc = lr_kept_model_build(d, values, o, m, err);
    if (rc) lr_fail_ctx(err, "%s, %s %s", s->path, s->model, s->label[k]);
    free(values);
    return rc;
}
