/* Merge job shards into the campaign file results/<name>.h5 with parallel HDF5 (schema in the README).
 * Every rank opens the file with the MPI-IO driver, all datasets are created collectively with their
 * final shapes, and each rank writes the rows of its share of jobs (job id mod size) with independent
 * I/O. The file is written under a temporary name and renamed when complete, so a merge killed half
 * way leaves the previous campaign file (if any) untouched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/campaign_schema.h"
#include "model/kept_model.h"
#include "runner/merge_survival.h"
#include "runner/runner.h"
#include "util/cli.h"
#include "util/h5.h"

#define S_SHORT LR_CAMPAIGN_S_SHORT
#define S_LONG LR_CAMPAIGN_S_LONG
#define S_HOST LR_CAMPAIGN_S_HOST
#define PATH(d) lr_campaign_datasets[d].path

typedef struct {
    hid_t file;
    lr_campaign_sizes n;
    size_t text_width; /* the config text's string width (strlen + 1) */
} out_file;

/* Collective: every dataset of the schema with its final shape (HDF5's default fill of zeros). */
static int create_datasets(out_file *o, int has_truth, int has_keys, lr_err *err)
{
    for (int d = 0; d < LR_CAMPAIGN_N_DATASETS; d++) {
        if (lr_campaign_datasets[d].truth_only && !has_truth) continue;
        if (lr_campaign_datasets[d].keys_only && !has_keys) continue;
        if (lr_campaign_datasets[d].sweep_only && !o->n.SS) continue;
        hsize_t dims[3];
        int rank = lr_campaign_dims(d, &o->n, dims);
        hid_t type = lr_campaign_hdf5_type(d, o->text_width, 0);
        hid_t ds = lr_h5_create_dataset(o->file, PATH(d), type, rank, dims, NULL, err);
        lr_campaign_type_close(d, type);
        if (ds < 0) return -1;
        H5Dclose(ds);
    }
    return 0;
}

/* Independent write of rows [start, start + count) of dataset d. */
static int write_rows(out_file *o, lr_campaign_dataset_id d, size_t start, size_t count, const void *buf, lr_err *err)
{
    if (count == 0) return 0;
    hid_t ds = H5Dopen2(o->file, PATH(d), H5P_DEFAULT);
    if (ds < 0) return lr_fail(err, "cannot open %s", PATH(d));
    hid_t type = lr_campaign_hdf5_type(d, o->text_width, 1);
    int rc = lr_h5_write_rows(ds, type, start, count, buf, PATH(d), err);
    lr_campaign_type_close(d, type);
    H5Dclose(ds);
    return rc;
}

static int write_string_row(out_file *o, lr_campaign_dataset_id d, size_t j, const char *s, lr_err *err)
{
    size_t width = lr_campaign_value_size(d, o->text_width);
    char *buf = calloc(1, width);
    if (!buf) return lr_fail(err, "out of memory");
    snprintf(buf, width, "%s", s ? s : "");
    int rc = write_rows(o, d, j, 1, buf, err);
    free(buf);
    return rc;
}

/* /sweep/key and /sweep/values: the keys, and per setting its values (the setting's number is its row). */
static int write_sweep(out_file *o, const lr_sweep *sw, lr_err *err)
{
    size_t K = (size_t)sw->n_keys, S = (size_t)sw->n_settings, width = lr_campaign_value_size(LR_CD_SWEEP_KEY, 0);
    char *keys = calloc(K, width);
    double *values = malloc(S * K * sizeof *values);
    int rc = keys && values ? 0 : lr_fail(err, "out of memory");
    for (size_t k = 0; !rc && k < K; k++) snprintf(keys + k * width, width, "%s", sw->key[k]);
    for (size_t s = 0; !rc && s < S; s++)
        for (size_t k = 0; k < K; k++) values[s * K + k] = sw->values[k][lr_sweep_value_index(sw, (int)s, (int)k)];
    if (!rc) rc = write_rows(o, LR_CD_SWEEP_KEY, 0, K, keys, err);
    if (!rc) rc = write_rows(o, LR_CD_SWEEP_VALUES, 0, S, values, err);
    free(keys);
    free(values);
    return rc;
}

static int write_cohort_copy(out_file *o, const lr_cohort *co, const char *text, lr_err *err)
{
    size_t P = o->n.P, A = o->n.A, L = o->n.L, K = o->n.K;
    int rc = write_rows(o, LR_CD_COHORT_TIME_DAYS, 0, P, co->time_days, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_EVENT, 0, P, co->event, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_ARM, 0, P, co->arm, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_ANNOTATION_PATIENT, 0, A, co->ann_patient, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_ANNOTATION_FIRST_LESION, 0, A, co->ann_first_lesion, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_ANNOTATION_N_LESIONS, 0, A, co->ann_n_lesions, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_LESION_ORGAN, 0, L, co->organ, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_LESION_VOLUME_MM3, 0, L, co->volume_mm3, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_LESION_VOLUME_FOLLOWUP_MM3, 0, L, co->volume_followup_mm3, err);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_LESION_DIAMETER_MM, 0, L, co->diameter_mm, err);
    size_t width = lr_campaign_value_size(LR_CD_COHORT_ORGAN_NAME, 0);
    char *names = calloc(K ? K : 1, width);
    if (!names) return lr_fail(err, "out of memory");
    for (size_t k = 0; k < K; k++) snprintf(names + k * width, width, "%s", co->organ_name[k]);
    if (!rc) rc = write_rows(o, LR_CD_COHORT_ORGAN_NAME, 0, K, names, err);
    if (!rc) rc = write_rows(o, LR_CD_CONFIG_TEXT, 0, 1, text, err);
    free(names);
    if (!rc && co->lesion_key) rc = write_rows(o, LR_CD_COHORT_LESION_KEY, 0, L, co->lesion_key, err);
    if (!rc && co->has_truth) {
        rc = write_rows(o, LR_CD_COHORT_TRUTH_LESION_LOG_HAZARD, 0, L, co->truth_lesion_log_hazard, err);
        if (!rc) rc = write_rows(o, LR_CD_COHORT_TRUTH_PATIENT_LOG_HAZARD, 0, P, co->truth_patient_log_hazard, err);
        lr_cohort_summary s;
        if (!rc && lr_cohort_summarise(co, &s, err) == 0) {
            rc = write_rows(o, LR_CD_COHORT_ORACLE_CINDEX, 0, 1, &s.oracle_cindex, err);
            if (!rc) rc = write_rows(o, LR_CD_COHORT_ANNOTATED_TRUTH_CINDEX, 0, 1, &s.annotated_truth_cindex, err);
            lr_cohort_summary_free(&s);
        }
    }
    return rc;
}

/* One job's rows; a missing or unreadable shard gives status "missing"/"failed" and NaN rows. */
typedef struct {
    int32_t attempts, rank, best_epoch, selected_epoch, epochs_run;
    double wall;
    char status[S_SHORT], selection[S_SHORT], error[S_LONG], weights[S_LONG], host[S_HOST], blis_arch[S_SHORT];
    double c[3], c_last[3], c_best[3];
    double *loss, *curve, *prisk, *arisk;
    int8_t *role, *used;
    float *lrisk, *lscale;
} job_rows;

static int rows_alloc(job_rows *r, const out_file *o)
{
    memset(r, 0, sizeof *r);
    r->loss = malloc(o->n.E * sizeof(double));
    r->curve = malloc(o->n.E * 3 * sizeof(double));
    r->prisk = malloc((o->n.P + 1) * sizeof(double));
    r->arisk = malloc((o->n.A + 1) * sizeof(double));
    r->role = malloc(o->n.P + 1);
    r->used = malloc(o->n.L + 1);
    r->lrisk = malloc((o->n.L + 1) * sizeof(float));
    r->lscale = malloc((o->n.L + 1) * sizeof(float));
    return r->loss && r->curve && r->prisk && r->arisk && r->role && r->used && r->lrisk && r->lscale ? 0 : -1;
}

static void rows_free(job_rows *r)
{
    free(r->loss);
    free(r->curve);
    free(r->prisk);
    free(r->arisk);
    free(r->role);
    free(r->used);
    free(r->lrisk);
    free(r->lscale);
}

static void rows_blank(job_rows *r, const out_file *o, const char *status, const char *error)
{
    r->attempts = 0;
    r->rank = -1;
    r->best_epoch = r->selected_epoch = -1;
    r->epochs_run = 0;
    r->wall = NAN;
    snprintf(r->status, sizeof r->status, "%s", status);
    snprintf(r->error, sizeof r->error, "%s", error);
    r->selection[0] = r->weights[0] = r->host[0] = r->blis_arch[0] = '\0';
    for (int k = 0; k < 3; k++) r->c[k] = r->c_last[k] = r->c_best[k] = NAN;
    for (size_t i = 0; i < o->n.E; i++) r->loss[i] = NAN;
    for (size_t i = 0; i < 3 * o->n.E; i++) r->curve[i] = NAN;
    for (size_t i = 0; i < o->n.P; i++) r->prisk[i] = NAN, r->role[i] = -1;
    for (size_t i = 0; i < o->n.A; i++) r->arisk[i] = NAN;
    for (size_t i = 0; i < o->n.L; i++) r->lrisk[i] = NAN, r->lscale[i] = NAN, r->used[i] = 0;
}

static long attr_l(hid_t f, const char *name, long dflt)
{
    long v = dflt;
    lr_err e;
    if (lr_h5_attr_read(f, "/", name, H5T_NATIVE_LONG, 1, &v, &e)) return dflt;
    return v;
}

static int read_1d(hid_t f, const char *path, hid_t type, size_t n, void *buf, lr_err *err)
{
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    if (lr_h5_shape(f, path, &rank, d, err)) return -1;
    size_t total = 1;
    for (int i = 0; i < rank; i++) total *= d[i];
    if (total != n) return lr_fail(err, "%s: expected %zu values, found %zu", path, n, total);
    return n ? lr_h5_read(f, path, type, buf, err) : 0;
}

static int read_shard(const char *path, const lr_job *j, uint64_t identity, const out_file *o, job_rows *r,
                      lr_err *err)
{
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    int rc = 0;
    char model[64] = "";
    lr_h5_attr_read_string(f, "/", "model", model, sizeof model, err);
    if (strcmp(model, lr_model_name(j->kind)) || attr_l(f, "fold", -9) != j->fold ||
        attr_l(f, "replicate", -9) != j->replicate || attr_l(f, "repeat", 0) != j->repeat ||
        attr_l(f, "setting", -1) != j->setting)
        rc = lr_fail(err, "%s: shard of another job (model %s)", path, model);
    char ident[32] = "", want[32];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)identity);
    lr_err e2;
    lr_h5_attr_read_string(f, "/", "identity", ident, sizeof ident, &e2);
    int stale = !rc && strcmp(ident, want) != 0;
    if (!rc) {
        lr_h5_attr_read_string(f, "/", "status", r->status, sizeof r->status, &e2);
        lr_h5_attr_read_string(f, "/", "error", r->error, sizeof r->error, &e2);
        lr_h5_attr_read_string(f, "/", "selection", r->selection, sizeof r->selection, &e2);
        lr_h5_attr_read_string(f, "/", "weights_source", r->weights, sizeof r->weights, &e2);
        lr_h5_attr_read_string(f, "/", "host", r->host, sizeof r->host, &e2);
        if (lr_h5_attr_exists(f, "/", "blis_arch"))
            lr_h5_attr_read_string(f, "/", "blis_arch", r->blis_arch, sizeof r->blis_arch, &e2);
        r->attempts = (int32_t)attr_l(f, "attempts", 1);
        r->rank = (int32_t)attr_l(f, "rank", -1);
        r->best_epoch = (int32_t)attr_l(f, "best_epoch", -1);
        r->selected_epoch = (int32_t)attr_l(f, "selected_epoch", -1);
        r->epochs_run = (int32_t)attr_l(f, "epochs_run", 0);
        double w = NAN;
        lr_h5_attr_read(f, "/", "wall_seconds", H5T_NATIVE_DOUBLE, 1, &w, &e2);
        r->wall = w;
        rc = read_1d(f, "/cindex/final", H5T_NATIVE_DOUBLE, 3, r->c, err);
        if (!rc) rc = read_1d(f, "/cindex/last", H5T_NATIVE_DOUBLE, 3, r->c_last, err);
        if (!rc) rc = read_1d(f, "/cindex/best", H5T_NATIVE_DOUBLE, 3, r->c_best, err);
        int rank;
        hsize_t d[LR_H5_MAXRANK];
        if (!rc && lr_h5_shape(f, "/curves/train_loss", &rank, d, err) == 0 && d[0] <= o->n.E && d[0] > 0) {
            size_t e = d[0];
            double *tmp = malloc(e * 3 * sizeof(double));
            if (!tmp) rc = lr_fail(err, "out of memory (curves of %zu epochs)", e);
            if (tmp && read_1d(f, "/curves/train_loss", H5T_NATIVE_DOUBLE, e, r->loss, err) == 0 &&
                read_1d(f, "/curves/cindex", H5T_NATIVE_DOUBLE, 3 * e, tmp, err) == 0)
                memcpy(r->curve, tmp, e * 3 * sizeof(double));
            free(tmp);
        }
    }
    if (stale && !strcmp(ident, LR_SHARD_STANDALONE_IDENTITY)) {
        rows_blank(r, o, "failed", "shard written by the standalone train verb, not by this campaign (run --job)");
    } else if (stale) {
        rows_blank(r, o, "failed", "shard made with another config (run --fresh)");
    } else if (!rc && !strcmp(r->status, "ok")) {
        rc = read_1d(f, "/patients/risk", H5T_NATIVE_DOUBLE, o->n.P, r->prisk, err);
        if (!rc) rc = read_1d(f, "/patients/role", H5T_NATIVE_INT8, o->n.P, r->role, err);
        if (!rc) rc = read_1d(f, "/annotations/risk", H5T_NATIVE_DOUBLE, o->n.A, r->arisk, err);
        if (!rc) rc = read_1d(f, "/lesions/risk", H5T_NATIVE_FLOAT, o->n.L, r->lrisk, err);
        if (!rc) rc = read_1d(f, "/lesions/scale", H5T_NATIVE_FLOAT, o->n.L, r->lscale, err);
        if (!rc) rc = read_1d(f, "/lesions/used", H5T_NATIVE_INT8, o->n.L, r->used, err);
    }
    H5Fclose(f);
    return rc;
}

static int write_job(out_file *o, const lr_experiment *exp, const lr_job *j, job_rows *r, lr_err *err)
{
    size_t id = (size_t)j->id;
    int64_t seed = (int64_t)exp->seed;
    int rc = write_rows(o, LR_CD_JOBS_ID, id, 1, &j->id, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_FOLD, id, 1, &j->fold, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_REPLICATE, id, 1, &j->replicate, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_REPEAT, id, 1, &j->repeat, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_SETTING, id, 1, &j->setting, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_ATTEMPTS, id, 1, &r->attempts, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_RANK, id, 1, &r->rank, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_BEST_EPOCH, id, 1, &r->best_epoch, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_SELECTED_EPOCH, id, 1, &r->selected_epoch, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_EPOCHS_RUN, id, 1, &r->epochs_run, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_SEED, id, 1, &seed, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_WALL_SECONDS, id, 1, &r->wall, err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_MODEL, id, lr_model_name(j->kind), err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_STATUS, id, r->status, err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_SELECTION, id, r->selection, err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_ERROR, id, r->error, err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_WEIGHTS_SOURCE, id, r->weights, err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_HOST, id, r->host, err);
    if (!rc) rc = write_string_row(o, LR_CD_JOBS_BLIS_ARCH, id, r->blis_arch, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_CINDEX, id, 1, r->c, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_CINDEX_LAST, id, 1, r->c_last, err);
    if (!rc) rc = write_rows(o, LR_CD_JOBS_CINDEX_BEST, id, 1, r->c_best, err);
    if (!rc) rc = write_rows(o, LR_CD_CURVES_TRAIN_LOSS, id, 1, r->loss, err);
    if (!rc) rc = write_rows(o, LR_CD_CURVES_CINDEX, id, 1, r->curve, err);
    if (!rc) rc = write_rows(o, LR_CD_RISKS_PATIENT, id, 1, r->prisk, err);
    if (!rc) rc = write_rows(o, LR_CD_RISKS_PATIENT_ROLE, id, 1, r->role, err);
    if (!rc) rc = write_rows(o, LR_CD_RISKS_ANNOTATION, id, 1, r->arisk, err);
    if (!rc) rc = write_rows(o, LR_CD_RISKS_LESION, id, 1, r->lrisk, err);
    if (!rc) rc = write_rows(o, LR_CD_RISKS_LESION_SCALE, id, 1, r->lscale, err);
    if (!rc) rc = write_rows(o, LR_CD_RISKS_LESION_USED, id, 1, r->used, err);
    return rc;
}

static int agree(int local_rc, MPI_Comm comm);

/* ---- kept models (/models): sized before the collective create, copied from the shards ---- */

/* Values of the kept model in a job's shard: 0 when there is none (no shard, another config, failed, a
 * non-learned job, a shard from before models were kept). */
static int64_t shard_kept_values(const char *path, uint64_t identity)
{
    if (access(path, F_OK) != 0) return 0;
    lr_err e = {0};
    hid_t f = lr_h5_open_read(path, &e);
    if (f < 0) return 0;
    char ident[32] = "", want[32], status[S_SHORT] = "";
    snprintf(want, sizeof want, "%016llx", (unsigned long long)identity);
    lr_h5_attr_read_string(f, "/", "identity", ident, sizeof ident, &e);
    lr_h5_attr_read_string(f, "/", "status", status, sizeof status, &e);
    lr_kept_model k;
    int64_t n = 0;
    if (!strcmp(ident, want) && !strcmp(status, "ok") && lr_kept_model_in_shard(f) &&
        lr_kept_model_read_shard(f, &k, NULL, &e) == 0)
        n = (int64_t)lr_kept_model_n_values(&k);
    H5Fclose(f);
    return n;
}

/* Collective: every job's kept values (each rank looks at its own jobs) and their offsets in job order. */
static int kept_layout(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm, int64_t *count, int64_t *offset,
                       size_t *total)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int64_t *mine = calloc((size_t)c->n_model_jobs + 1, sizeof *mine);
    int bad = !mine;
    for (int id = rank; !bad && id < c->n_model_jobs; id += size) {
        char shard[LR_PATH_MAX + 64];
        lr_campaign_shard_path(exp, &c->jobs[id], shard, sizeof shard);
        mine[id] = shard_kept_values(shard, lr_job_identity(exp, &c->jobs[id]));
    }
    if (agree(bad, comm)) {
        free(mine);
        return -1;
    }
    MPI_Allreduce(mine, count, c->n_model_jobs, MPI_INT64_T, MPI_SUM, comm);
    free(mine);
    int64_t at = 0;
    for (int id = 0; id < c->n_model_jobs; id++) offset[id] = at, at += count[id];
    *total = (size_t)at;
    return 0;
}

static int write_model_row(out_file *o, const lr_experiment *exp, const lr_job *j, const char *shard, int64_t count,
                           int64_t offset, lr_err *err)
{
    size_t id = (size_t)j->id;
    char ident[32];
    snprintf(ident, sizeof ident, "%016llx", (unsigned long long)lr_job_identity(exp, j));
    lr_kept_model k = {.kind = j->kind, .hu_window = {NAN, NAN}, .size_normalisation = {NAN, NAN, NAN}};
    float *values = NULL;
    if (count > 0) {
        hid_t f = lr_h5_open_read(shard, err);
        if (f < 0) return -1;
        int rc = lr_kept_model_read_shard(f, &k, &values, err);
        H5Fclose(f);
        if (rc) return lr_fail_ctx(err, "kept model of %s", shard);
        if ((int64_t)lr_kept_model_n_values(&k) != count) {
            free(values);
            return lr_fail(err, "%s: kept model changed while merging", shard);
        }
    }
    int8_t kept = count > 0;
    int32_t width = k.width, hidden = k.scaler_hidden, max_lesions = k.max_lesions, patch = k.patch_size;
    int64_t np = (int64_t)k.n_params, nb = (int64_t)k.n_buffers, nh = (int64_t)k.n_head;
    int rc = write_rows(o, LR_CD_MODELS_JOB, id, 1, &j->id, err);
    if (!rc) rc = write_string_row(o, LR_CD_MODELS_MODEL, id, lr_model_name(j->kind), err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_FOLD, id, 1, &j->fold, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_REPLICATE, id, 1, &j->replicate, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_KEPT, id, 1, &kept, err);
    if (!rc) rc = write_string_row(o, LR_CD_MODELS_IDENTITY, id, ident, err);
    if (!rc) rc = write_string_row(o, LR_CD_MODELS_ARCH, id, k.arch, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_WIDTH, id, 1, &width, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_SCALER_HIDDEN, id, 1, &hidden, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_MAX_LESIONS, id, 1, &max_lesions, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_PATCH_SIZE, id, 1, &patch, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_HU_WINDOW, id, 1, k.hu_window, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_SIZE_NORMALISATION, id, 1, k.size_normalisation, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_N_PARAMS, id, 1, &np, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_N_BUFFERS, id, 1, &nb, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_N_HEAD, id, 1, &nh, err);
    if (!rc) rc = write_rows(o, LR_CD_MODELS_OFFSET, id, 1, &offset, err);
    if (!rc && count > 0) rc = write_rows(o, LR_CD_MODELS_VALUES, (size_t)offset, (size_t)count, values, err);
    free(values);
    return rc;
}

static int write_attrs(out_file *o, const lr_experiment *exp, const lr_campaign *c, uint64_t checksum, lr_err *err)
{
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)checksum);
    int rc = lr_h5_attr_write_string(o->file, "/", "format", LR_CAMPAIGN_FORMAT, err);
    long version = LR_CAMPAIGN_VERSION, seed = (long)exp->seed, folds = exp->folds, reps = exp->replicates, nj = c->n_model_jobs;
    long repeats = exp->repeats;
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "version", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &version, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "name", exp->name, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "config_path", exp->path, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "cohort_path", exp->cohort, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "cohort_fnv1a64", hex, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "software_version", LR_VERSION, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "seed", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &seed, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "folds", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &folds, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "replicates", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &reps, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "repeats", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &repeats, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "n_jobs", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &nj, err);
    return rc;
}

/* Which BLIS kernels the jobs ran on; a mixed campaign is said out loud (bits differ between them). */
static void report_blis_archs(const char *file)
{
    lr_err e;
    hid_t f = lr_h5_open_read(file, &e);
    if (f < 0) return;
    char archs[256];
    int n = lr_campaign_blis_archs(f, archs, sizeof archs);
    H5Fclose(f);
    if (n == 1) printf("blis_arch: %s\n", archs);
    else if (n > 1)
        printf("blis_arch: mixed (%s): jobs ran on different BLIS kernels, which round differently; the results are "
               "reproducible per sub-configuration (set BLIS_ARCH_TYPE on every node for identical bits)\n",
               archs);
}

/* The curves' width: the most epochs of any job (a sweep may vary train.epochs). */
static int max_epochs(const lr_experiment *exp)
{
    int e = exp->train.epochs > 0 ? exp->train.epochs : 1;
    for (int s = 0; s < exp->sweep.n_settings; s++) {
        lr_job proto = {.setting = s};
        const lr_experiment *one = lr_job_experiment(exp, &proto);
        if (one && one->train.epochs > e) e = one->train.epochs;
        if (one) lr_job_experiment_free(exp, one);
    }
    return e;
}

/* Every rank must reach the same collective calls: errors before the file is open are agreed upon. */
static int agree(int local_rc, MPI_Comm comm)
{
    int any = 0;
    MPI_Allreduce(&local_rc, &any, 1, MPI_INT, MPI_LOR, comm);
    return any ? -1 : 0;
}

int lr_campaign_merge(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm, double *seconds, lr_err *err)
{
    double t0 = MPI_Wtime();
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    lr_cohort co;
    int have = lr_cohort_read(exp->cohort, LR_COHORT_NO_PATCHES, &co, err) == 0;
    if (agree(!have, comm)) {
        if (have) lr_cohort_free(&co);
        if (!have) return -1;
        return lr_fail(err, "another rank could not read the cohort %s", exp->cohort);
    }
    uint64_t checksum = rank == 0 ? lr_fnv1a64_file(exp->cohort, NULL) : 0;
    MPI_Bcast(&checksum, 1, MPI_UINT64_T, 0, comm);
    char final[LR_PATH_MAX], tmp[LR_PATH_MAX + 16];
    lr_campaign_file_path(exp, final, sizeof final);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    const char *text = exp->text ? exp->text : "";
    out_file o = {.file = -1,
                  .n = {.J = (size_t)c->n_model_jobs, .P = co.n_patients, .A = co.n_annotations, .L = co.n_lesions,
                        .K = co.n_organs, .E = (size_t)max_epochs(exp),
                        .SK = (size_t)exp->sweep.n_keys, .SS = (size_t)exp->sweep.n_settings},
                  .text_width = strlen(text) + 1};
    /* results_dir need not exist yet (merge of shards copied from elsewhere) */
    int dir_rc = rank == 0 && lr_mkdir_parents(final, 0) ? lr_fail(err, "%s: cannot create its directory", final) : 0;
    if (agree(dir_rc, comm)) {
        lr_cohort_free(&co);
        return dir_rc ? -1 : lr_fail(err, "%s: rank 0 could not create its directory", final);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    o.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int rc = o.file < 0 ? lr_fail(err, "%s: cannot create (parallel HDF5)", tmp) : 0;
    if (agree(rc, comm)) {
        if (o.file >= 0) H5Fclose(o.file);
        lr_cohort_free(&co);
        return rc ? -1 : lr_fail(err, "%s: another rank could not create the file", tmp);
    }
    /* collective part: attributes and every dataset */
    lr_survival_grid grid = {0};
    int64_t *kept_count = calloc((size_t)c->n_model_jobs + 1, sizeof *kept_count);
    int64_t *kept_offset = calloc((size_t)c->n_model_jobs + 1, sizeof *kept_offset);
    rc = agree(!kept_count || !kept_offset, comm) ? lr_fail(err, "out of memory") : 0;
    if (!rc && kept_layout(exp, c, comm, kept_count, kept_offset, &o.n.V)) rc = lr_fail(err, "out of memory");
    if (!rc) rc = lr_survival_grid_make(&exp->horizons, &grid, err);
    o.n.H = (size_t)grid.horizons.n, o.n.G = grid.G;
    if (!rc) rc = write_attrs(&o, exp, c, checksum, err);
    if (!rc) rc = create_datasets(&o, co.has_truth, co.lesion_key != NULL, err);
    /* independent part: rank 0 the cohort copy, each rank its jobs */
    if (!rc && rank == 0) rc = write_cohort_copy(&o, &co, text, err);
    if (!rc && rank == 0 && o.n.SS) rc = write_sweep(&o, &exp->sweep, err);
    /* survival probabilities (merge_survival.h): rank 0 the grid, each rank its jobs' rows below */
    if (!rc && rank == 0) rc = lr_merge_survival_write_grid(o.file, &grid, err);
    job_rows r;
    memset(&r, 0, sizeof r);
    if (!rc && rows_alloc(&r, &o)) rc = lr_fail(err, "out of memory");
    for (int id = rank; !rc && id < c->n_model_jobs; id += size) {
        const lr_job *j = &c->jobs[id];
        char shard[LR_PATH_MAX + 64];
        lr_campaign_shard_path(exp, j, shard, sizeof shard);
        rows_blank(&r, &o, "missing", "no shard");
        if (access(shard, F_OK) == 0) {
            lr_err e2 = {0};
            if (read_shard(shard, j, lr_job_identity(exp, j), &o, &r, &e2)) {
                rows_blank(&r, &o, "failed", "");
                snprintf(r.error, sizeof r.error, "unreadable shard: %.200s", e2.msg);
            }
        }
        rc = write_job(&o, exp, j, &r, err);
        int ok = !strcmp(r.status, "ok");
        if (!rc) rc = lr_merge_survival_write_job(o.file, (size_t)j->id, o.n.P, co.time_days, co.event,
                                                  ok ? r.prisk : NULL, ok ? r.role : NULL,
                                                  !lr_model_is_learned(j->kind), &grid, err);
        if (!rc) rc = write_model_row(&o, exp, j, shard, ok ? kept_count[id] : 0, kept_offset[id], err);
    }
    free(kept_count);
    free(kept_offset);
    rows_free(&r);
    lr_survival_grid_free(&grid);
    rc = agree(rc, comm) ? (rc ? rc : lr_fail(err, "another rank failed writing %s", tmp)) : 0;
    if (H5Fclose(o.file) < 0 && !rc) rc = lr_fail(err, "%s: error closing", tmp);
    lr_cohort_free(&co);
    rc = agree(rc, comm) ? -1 : 0;
    if (rc == 0 && rank == 0 && rename(tmp, final) != 0) rc = lr_fail(err, "%s: cannot rename into place", final);
    if (rc == 0 && rank == 0) report_blis_archs(final);
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    if (seconds) *seconds = MPI_Wtime() - t0;
    return rc;
}
