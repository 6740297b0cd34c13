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

#include "runner/runner.h"
#include "util/cli.h"
#include "util/h5.h"

#define S_MODEL 32
#define S_SHORT 16
#define S_LONG 256
#define S_HOST 64

typedef struct {
    hid_t file;
    size_t J, P, A, L, K, E;
} out_file;

static hid_t fixed_string(size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, n);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    return t;
}

/* Collective: create a dataset of the given shape (no fill beyond HDF5's default of zeros). */
static int create(out_file *o, const char *path, hid_t type, int rank, const hsize_t *dims, lr_err *err)
{
    hid_t space = H5Screate_simple(rank, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(o->file, path, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Sclose(space);
    if (d < 0) return lr_fail(err, "cannot create %s", path);
    H5Dclose(d);
    return 0;
}

/* Independent write of the block starting at row `row` (count[0] rows). */
static int write_block(out_file *o, const char *path, hid_t memtype, int rank, const hsize_t *start,
                       const hsize_t *count, const void *buf, lr_err *err)
{
    hid_t d = H5Dopen2(o->file, path, H5P_DEFAULT);
    if (d < 0) return lr_fail(err, "cannot open %s", path);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    int rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                     H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) < 0
                 ? lr_fail(err, "cannot write %s", path)
                 : 0;
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

static int write_row(out_file *o, const char *path, hid_t memtype, size_t j, size_t n1, size_t n2, const void *buf,
                     lr_err *err)
{
    hsize_t start[3] = {j, 0, 0}, count[3] = {1, n1, n2};
    int rank = n1 == 0 ? 1 : n2 == 0 ? 2 : 3;
    return write_block(o, path, memtype, rank, start, count, buf, err);
}

static int write_string_row(out_file *o, const char *path, size_t width, size_t j, const char *s, lr_err *err)
{
    char *buf = calloc(1, width);
    if (!buf) return lr_fail(err, "out of memory");
    snprintf(buf, width, "%s", s ? s : "");
    hid_t t = fixed_string(width);
    int rc = write_row(o, path, t, j, 0, 0, buf, err);
    H5Tclose(t);
    free(buf);
    return rc;
}

static int create_all(out_file *o, lr_err *err)
{
    hsize_t J = o->J, P = o->P, A = o->A, L = o->L, E = o->E;
    hsize_t j1[1] = {J}, j3[2] = {J, 3}, je[2] = {J, E}, je3[3] = {J, E, 3}, jp[2] = {J, P}, ja[2] = {J, A},
            jl[2] = {J, L};
    hid_t sm = fixed_string(S_MODEL), ss = fixed_string(S_SHORT), sl = fixed_string(S_LONG), sh = fixed_string(S_HOST);
    int rc = 0;
    const char *i32[] = {"/jobs/id", "/jobs/fold", "/jobs/replicate", "/jobs/attempts", "/jobs/rank",
                         "/jobs/best_epoch", "/jobs/selected_epoch", "/jobs/epochs_run"};
    for (size_t k = 0; k < sizeof i32 / sizeof *i32 && !rc; k++) rc = create(o, i32[k], H5T_STD_I32LE, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/seed", H5T_STD_I64LE, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/wall_seconds", H5T_IEEE_F64LE, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/model", sm, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/status", ss, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/selection", ss, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/error", sl, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/weights_source", sl, 1, j1, err);
    if (!rc) rc = create(o, "/jobs/host", sh, 1, j1, err);
    const char *c3[] = {"/jobs/cindex", "/jobs/cindex_last", "/jobs/cindex_best"};
    for (int k = 0; k < 3 && !rc; k++) rc = create(o, c3[k], H5T_IEEE_F64LE, 2, j3, err);
    if (!rc) rc = create(o, "/curves/train_loss", H5T_IEEE_F64LE, 2, je, err);
    if (!rc) rc = create(o, "/curves/cindex", H5T_IEEE_F64LE, 3, je3, err);
    if (!rc) rc = create(o, "/risks/patient", H5T_IEEE_F64LE, 2, jp, err);
    if (!rc) rc = create(o, "/risks/patient_role", H5T_STD_I8LE, 2, jp, err);
    if (!rc) rc = create(o, "/risks/annotation", H5T_IEEE_F64LE, 2, ja, err);
    if (!rc) rc = create(o, "/risks/lesion", H5T_IEEE_F32LE, 2, jl, err);
    if (!rc) rc = create(o, "/risks/lesion_scale", H5T_IEEE_F32LE, 2, jl, err);
    if (!rc) rc = create(o, "/risks/lesion_used", H5T_STD_I8LE, 2, jl, err);
    H5Tclose(sm);
    H5Tclose(ss);
    H5Tclose(sl);
    H5Tclose(sh);
    return rc;
}

static int create_cohort_copy(out_file *o, const lr_cohort *co, size_t text_len, lr_err *err)
{
    hsize_t P = o->P, A = o->A, L = o->L, K = o->K, one = 1;
    int rc = create(o, "/cohort/time_days", H5T_IEEE_F64LE, 1, &P, err);
    if (!rc) rc = create(o, "/cohort/event", H5T_STD_I8LE, 1, &P, err);
    if (!rc) rc = create(o, "/cohort/arm", H5T_STD_I16LE, 1, &P, err);
    if (!rc) rc = create(o, "/cohort/annotation_patient", H5T_STD_I32LE, 1, &A, err);
    if (!rc) rc = create(o, "/cohort/annotation_first_lesion", H5T_STD_I64LE, 1, &A, err);
    if (!rc) rc = create(o, "/cohort/annotation_n_lesions", H5T_STD_I32LE, 1, &A, err);
    if (!rc) rc = create(o, "/cohort/lesion_organ", H5T_STD_I16LE, 1, &L, err);
    if (!rc) rc = create(o, "/cohort/lesion_volume_mm3", H5T_IEEE_F64LE, 1, &L, err);
    if (!rc) rc = create(o, "/cohort/lesion_volume_followup_mm3", H5T_IEEE_F64LE, 1, &L, err);
    if (!rc) rc = create(o, "/cohort/lesion_diameter_mm", H5T_IEEE_F64LE, 1, &L, err);
    hid_t sm = fixed_string(S_MODEL), st = fixed_string(text_len + 1);
    if (!rc) rc = create(o, "/cohort/organ_name", sm, 1, &K, err);
    if (!rc) rc = create(o, "/config_text", st, 1, &one, err);
    H5Tclose(sm);
    H5Tclose(st);
    if (!rc && co->has_truth) {
        rc = create(o, "/cohort/truth_lesion_log_hazard", H5T_IEEE_F64LE, 1, &L, err);
        if (!rc) rc = create(o, "/cohort/truth_patient_log_hazard", H5T_IEEE_F64LE, 1, &P, err);
        if (!rc) rc = create(o, "/cohort/oracle_cindex", H5T_IEEE_F64LE, 1, &one, err);
    }
    return rc;
}

static int write_all_1d(out_file *o, const char *path, hid_t memtype, size_t n, const void *buf, lr_err *err)
{
    hsize_t start = 0, count = n;
    if (n == 0) return 0;
    return write_block(o, path, memtype, 1, &start, &count, buf, err);
}

static int write_cohort_copy(out_file *o, const lr_cohort *co, const char *text, lr_err *err)
{
    size_t P = o->P, A = o->A, L = o->L, K = o->K;
    int rc = write_all_1d(o, "/cohort/time_days", H5T_NATIVE_DOUBLE, P, co->time_days, err);
    if (!rc) rc = write_all_1d(o, "/cohort/event", H5T_NATIVE_INT8, P, co->event, err);
    if (!rc) rc = write_all_1d(o, "/cohort/arm", H5T_NATIVE_INT16, P, co->arm, err);
    if (!rc) rc = write_all_1d(o, "/cohort/annotation_patient", H5T_NATIVE_INT32, A, co->ann_patient, err);
    if (!rc) rc = write_all_1d(o, "/cohort/annotation_first_lesion", H5T_NATIVE_INT64, A, co->ann_first_lesion, err);
    if (!rc) rc = write_all_1d(o, "/cohort/annotation_n_lesions", H5T_NATIVE_INT32, A, co->ann_n_lesions, err);
    if (!rc) rc = write_all_1d(o, "/cohort/lesion_organ", H5T_NATIVE_INT16, L, co->organ, err);
    if (!rc) rc = write_all_1d(o, "/cohort/lesion_volume_mm3", H5T_NATIVE_DOUBLE, L, co->volume_mm3, err);
    if (!rc) rc = write_all_1d(o, "/cohort/lesion_volume_followup_mm3", H5T_NATIVE_DOUBLE, L, co->volume_followup_mm3, err);
    if (!rc) rc = write_all_1d(o, "/cohort/lesion_diameter_mm", H5T_NATIVE_DOUBLE, L, co->diameter_mm, err);
    char *names = calloc(K ? K : 1, S_MODEL);
    if (!names) return lr_fail(err, "out of memory");
    for (size_t k = 0; k < K; k++) snprintf(names + k * S_MODEL, S_MODEL, "%s", co->organ_name[k]);
    hid_t sm = fixed_string(S_MODEL), st = fixed_string(strlen(text) + 1);
    if (!rc) rc = write_all_1d(o, "/cohort/organ_name", sm, K, names, err);
    if (!rc) rc = write_all_1d(o, "/config_text", st, 1, text, err);
    H5Tclose(sm);
    H5Tclose(st);
    free(names);
    if (!rc && co->has_truth) {
        rc = write_all_1d(o, "/cohort/truth_lesion_log_hazard", H5T_NATIVE_DOUBLE, L, co->truth_lesion_log_hazard, err);
        if (!rc) rc = write_all_1d(o, "/cohort/truth_patient_log_hazard", H5T_NATIVE_DOUBLE, P, co->truth_patient_log_hazard, err);
        lr_cohort_summary s;
        if (!rc && lr_cohort_summarise(co, &s, err) == 0) {
            rc = write_all_1d(o, "/cohort/oracle_cindex", H5T_NATIVE_DOUBLE, 1, &s.oracle_cindex, err);
            lr_cohort_summary_free(&s);
        }
    }
    return rc;
}

/* One job's rows; a missing or unreadable shard gives status "missing"/"failed" and NaN rows. */
typedef struct {
    int32_t attempts, rank, best_epoch, selected_epoch, epochs_run;
    double wall;
    char status[S_SHORT], selection[S_SHORT], error[S_LONG], weights[S_LONG], host[S_HOST];
    double c[3], c_last[3], c_best[3];
    double *loss, *curve, *prisk, *arisk;
    int8_t *role, *used;
    float *lrisk, *lscale;
} job_rows;

static int rows_alloc(job_rows *r, const out_file *o)
{
    memset(r, 0, sizeof *r);
    r->loss = malloc(o->E * sizeof(double));
    r->curve = malloc(o->E * 3 * sizeof(double));
    r->prisk = malloc((o->P + 1) * sizeof(double));
    r->arisk = malloc((o->A + 1) * sizeof(double));
    r->role = malloc(o->P + 1);
    r->used = malloc(o->L + 1);
    r->lrisk = malloc((o->L + 1) * sizeof(float));
    r->lscale = malloc((o->L + 1) * sizeof(float));
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
    r->selection[0] = r->weights[0] = r->host[0] = '\0';
    for (int k = 0; k < 3; k++) r->c[k] = r->c_last[k] = r->c_best[k] = NAN;
    for (size_t i = 0; i < o->E; i++) r->loss[i] = NAN;
    for (size_t i = 0; i < 3 * o->E; i++) r->curve[i] = NAN;
    for (size_t i = 0; i < o->P; i++) r->prisk[i] = NAN, r->role[i] = -1;
    for (size_t i = 0; i < o->A; i++) r->arisk[i] = NAN;
    for (size_t i = 0; i < o->L; i++) r->lrisk[i] = NAN, r->lscale[i] = NAN, r->used[i] = 0;
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
        attr_l(f, "replicate", -9) != j->replicate)
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
        if (!rc && lr_h5_shape(f, "/curves/train_loss", &rank, d, err) == 0 && d[0] <= o->E && d[0] > 0) {
            size_t e = d[0];
            double *tmp = malloc(e * 3 * sizeof(double));
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
        rc = read_1d(f, "/patients/risk", H5T_NATIVE_DOUBLE, o->P, r->prisk, err);
        if (!rc) rc = read_1d(f, "/patients/role", H5T_NATIVE_INT8, o->P, r->role, err);
        if (!rc) rc = read_1d(f, "/annotations/risk", H5T_NATIVE_DOUBLE, o->A, r->arisk, err);
        if (!rc) rc = read_1d(f, "/lesions/risk", H5T_NATIVE_FLOAT, o->L, r->lrisk, err);
        if (!rc) rc = read_1d(f, "/lesions/scale", H5T_NATIVE_FLOAT, o->L, r->lscale, err);
        if (!rc) rc = read_1d(f, "/lesions/used", H5T_NATIVE_INT8, o->L, r->used, err);
    }
    H5Fclose(f);
    return rc;
}

static int write_job(out_file *o, const lr_experiment *exp, const lr_job *j, job_rows *r, lr_err *err)
{
    size_t id = (size_t)j->id;
    int32_t i32[8] = {j->id, j->fold, j->replicate, r->attempts, r->rank, r->best_epoch, r->selected_epoch,
                      r->epochs_run};
    const char *names[8] = {"/jobs/id", "/jobs/fold", "/jobs/replicate", "/jobs/attempts", "/jobs/rank",
                            "/jobs/best_epoch", "/jobs/selected_epoch", "/jobs/epochs_run"};
    int rc = 0;
    for (int k = 0; k < 8 && !rc; k++) rc = write_row(o, names[k], H5T_NATIVE_INT32, id, 0, 0, &i32[k], err);
    int64_t seed = (int64_t)exp->seed;
    if (!rc) rc = write_row(o, "/jobs/seed", H5T_NATIVE_INT64, id, 0, 0, &seed, err);
    if (!rc) rc = write_row(o, "/jobs/wall_seconds", H5T_NATIVE_DOUBLE, id, 0, 0, &r->wall, err);
    if (!rc) rc = write_string_row(o, "/jobs/model", S_MODEL, id, lr_model_name(j->kind), err);
    if (!rc) rc = write_string_row(o, "/jobs/status", S_SHORT, id, r->status, err);
    if (!rc) rc = write_string_row(o, "/jobs/selection", S_SHORT, id, r->selection, err);
    if (!rc) rc = write_string_row(o, "/jobs/error", S_LONG, id, r->error, err);
    if (!rc) rc = write_string_row(o, "/jobs/weights_source", S_LONG, id, r->weights, err);
    if (!rc) rc = write_string_row(o, "/jobs/host", S_HOST, id, r->host, err);
    if (!rc) rc = write_row(o, "/jobs/cindex", H5T_NATIVE_DOUBLE, id, 3, 0, r->c, err);
    if (!rc) rc = write_row(o, "/jobs/cindex_last", H5T_NATIVE_DOUBLE, id, 3, 0, r->c_last, err);
    if (!rc) rc = write_row(o, "/jobs/cindex_best", H5T_NATIVE_DOUBLE, id, 3, 0, r->c_best, err);
    if (!rc) rc = write_row(o, "/curves/train_loss", H5T_NATIVE_DOUBLE, id, o->E, 0, r->loss, err);
    if (!rc) rc = write_row(o, "/curves/cindex", H5T_NATIVE_DOUBLE, id, o->E, 3, r->curve, err);
    if (!rc) rc = write_row(o, "/risks/patient", H5T_NATIVE_DOUBLE, id, o->P, 0, r->prisk, err);
    if (!rc) rc = write_row(o, "/risks/patient_role", H5T_NATIVE_INT8, id, o->P, 0, r->role, err);
    if (!rc) rc = write_row(o, "/risks/annotation", H5T_NATIVE_DOUBLE, id, o->A, 0, r->arisk, err);
    if (!rc) rc = write_row(o, "/risks/lesion", H5T_NATIVE_FLOAT, id, o->L, 0, r->lrisk, err);
    if (!rc) rc = write_row(o, "/risks/lesion_scale", H5T_NATIVE_FLOAT, id, o->L, 0, r->lscale, err);
    if (!rc) rc = write_row(o, "/risks/lesion_used", H5T_NATIVE_INT8, id, o->L, 0, r->used, err);
    return rc;
}


static int write_attrs(out_file *o, const lr_experiment *exp, const lr_campaign *c, uint64_t checksum, lr_err *err)
{
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)checksum);
    int rc = lr_h5_attr_write_string(o->file, "/", "format", "lesionrank-campaign", err);
    long version = 1, seed = (long)exp->seed, folds = exp->folds, reps = exp->replicates, nj = c->n_model_jobs;
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "version", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &version, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "name", exp->name, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "config_path", exp->path, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "cohort_path", exp->cohort, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "cohort_fnv1a64", hex, err);
    if (!rc) rc = lr_h5_attr_write_string(o->file, "/", "software_version", LR_VERSION, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "seed", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &seed, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "folds", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &folds, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "replicates", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &reps, err);
    if (!rc) rc = lr_h5_attr_write(o->file, "/", "n_jobs", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &nj, err);
    return rc;
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
    out_file o = {-1, (size_t)c->n_model_jobs, co.n_patients, co.n_annotations, co.n_lesions, co.n_organs,
                  (size_t)(exp->train.epochs > 0 ? exp->train.epochs : 1)};
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
    rc = write_attrs(&o, exp, c, checksum, err);
    if (!rc) rc = create_all(&o, err);
    if (!rc) rc = create_cohort_copy(&o, &co, strlen(exp->text ? exp->text : ""), err);
    /* independent part: rank 0 the cohort copy, each rank its jobs */
    if (!rc && rank == 0) rc = write_cohort_copy(&o, &co, exp->text ? exp->text : "", err);
    job_rows r;
    memset(&r, 0, sizeof r);
    if (!rc && rows_alloc(&r, &o)) rc = lr_fail(err, "out of memory");
    for (int id = rank; !rc && id < c->n_model_jobs; id += size) {
        const lr_job *j = &c->jobs[id];
        char shard[LR_PATH_MAX + 64];
        lr_campaign_shard_path(exp, j, shard, sizeof shard);
        rows_blank(&r, &o, "missing", "no shard");
        if (access(shard, F_OK) == 0) {
            lr_err e2 = {{0}};
            if (read_shard(shard, j, lr_job_identity(exp, j), &o, &r, &e2)) {
                rows_blank(&r, &o, "failed", "");
                snprintf(r.error, sizeof r.error, "unreadable shard: %.200s", e2.msg);
            }
        }
        rc = write_job(&o, exp, j, &r, err);
    }
    rows_free(&r);
    rc = agree(rc, comm) ? (rc ? rc : lr_fail(err, "another rank failed writing %s", tmp)) : 0;
    if (H5Fclose(o.file) < 0 && !rc) rc = lr_fail(err, "%s: error closing", tmp);
    lr_cohort_free(&co);
    rc = agree(rc, comm) ? -1 : 0;
    if (rc == 0 && rank == 0 && rename(tmp, final) != 0) rc = lr_fail(err, "%s: cannot rename into place", final);
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    if (seconds) *seconds = MPI_Wtime() - t0;
    return rc;
}
