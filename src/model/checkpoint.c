/* Checkpoints of a training job: the best-validation snapshot in memory, and the per-epoch checkpoint file
 * a killed job resumes from (bitwise the same result as an uninterrupted run). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/train_job.h"
#include "util/h5.h"

int lr_job_snapshot_best(train_job *job, lr_err *err)
{
    lr_job_result *res = job->result;
    lr_lesion_model *m = job->model;
    if (!res->best_params) {
        res->best_params = lr_malloc(m->cnn->n_params + m->cnn->n_buffers + m->n_head + 1, sizeof(float), err);
        if (!res->best_params) return -1;
        res->best_buffers = res->best_params + m->cnn->n_params;
        res->best_head = res->best_buffers + m->cnn->n_buffers;
    }
    memcpy(res->best_params, m->cnn->params, m->cnn->n_params * sizeof(float));
    memcpy(res->best_buffers, m->cnn->buffers, m->cnn->n_buffers * sizeof(float));
    if (m->n_head) memcpy(res->best_head, m->head, m->n_head * sizeof(float));
    return 0;
}

static int ck_write_f(hid_t f, const char *path, const float *v, size_t n, lr_err *err)
{
    hsize_t d = n;
    return lr_h5_write(f, path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, &d, NULL, 0, v, err);
}

static int ck_write_d(hid_t f, const char *path, const double *v, size_t n, lr_err *err)
{
    hsize_t d = n;
    return lr_h5_write(f, path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, NULL, 0, v, err);
}

static int ck_read(hid_t f, const char *path, hid_t type, void *v, size_t n, lr_err *err)
{
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    if (lr_h5_shape(f, path, &rank, d, err)) return -1;
    if (rank != 1 || d[0] != n) return lr_fail(err, "checkpoint %s: expected %zu values", path, n);
    return n ? lr_h5_read(f, path, type, v, err) : 0;
}

/* Everything the remaining epochs depend on: weights, BN statistics, Adam state, curves, the best
 * checkpoint so far. The RNG streams are keyed by epoch, so they need no state. */
int lr_job_checkpoint_save(train_job *job, int epochs_done, double best_valid, lr_err *err)
{
    const lr_job_spec *s = job->spec;
    lr_lesion_model *m = job->model;
    lr_job_result *res = job->result;
    const lr_cohort *cohort = job->cohort;
    char tmp[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", s->checkpoint_path, (long)getpid());
    hid_t f = lr_h5_create(tmp, err);
    if (f < 0) return -1;
    long meta[3] = {(long)s->identity, epochs_done, res->best_epoch}, steps[2] = {m->opt_cnn.step, m->opt_head.step};
    int rc = lr_h5_attr_write(f, "/", "meta", H5T_NATIVE_LONG, H5T_STD_I64LE, 3, meta, err);
    if (!rc) rc = lr_h5_attr_write(f, "/", "adam_steps", H5T_NATIVE_LONG, H5T_STD_I64LE, 2, steps, err);
    if (!rc) rc = lr_h5_attr_write(f, "/", "best_valid", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &best_valid, err);
    if (!rc) rc = ck_write_f(f, "/params", m->cnn->params, m->cnn->n_params, err);
    if (!rc) rc = ck_write_f(f, "/buffers", m->cnn->buffers, m->cnn->n_buffers, err);
    if (!rc) rc = ck_write_f(f, "/adam_m", m->opt_cnn.m, 2 * m->opt_cnn.n, err); /* m and v are one allocation */
    if (!rc && m->n_head) rc = ck_write_f(f, "/head", m->head, m->n_head, err);
    if (!rc && m->n_head) rc = ck_write_f(f, "/head_adam", m->opt_head.m, 2 * m->opt_head.n, err);
    if (!rc) rc = ck_write_d(f, "/train_loss", res->train_loss, (size_t)res->epochs, err);
    if (!rc) rc = ck_write_d(f, "/c_epoch", res->c_epoch, 3 * (size_t)res->epochs, err);
    if (!rc && res->best_epoch >= 0) {
        eval_out *b = &job->best;
        rc = ck_write_f(f, "/best/params", res->best_params, m->cnn->n_params + m->cnn->n_buffers + m->n_head, err);
        if (!rc) rc = ck_write_d(f, "/best/patient_risk", b->patient_risk, cohort->n_patients, err);
        if (!rc) rc = ck_write_d(f, "/best/annotation_risk", b->annotation_risk, cohort->n_annotations, err);
        if (!rc) rc = ck_write_f(f, "/best/lesion_risk", b->lesion_risk, cohort->n_lesions, err);
        if (!rc) rc = ck_write_f(f, "/best/lesion_scale", b->lesion_scale, cohort->n_lesions, err);
        hsize_t L = cohort->n_lesions;
        if (!rc) rc = lr_h5_write(f, "/best/lesion_used", H5T_NATIVE_INT8, H5T_STD_I8LE, 1, &L, NULL, 0, b->lesion_used, err);
        if (!rc) rc = ck_write_d(f, "/best/c", b->cindex, 3, err);
    }
    if (H5Fclose(f) < 0 && !rc) rc = lr_fail(err, "%s: error closing", tmp);
    if (!rc && rename(tmp, s->checkpoint_path) != 0) rc = lr_fail(err, "%s: cannot rename checkpoint", s->checkpoint_path);
    if (rc) unlink(tmp);
    return rc;
}

/* Returns the number of epochs already done (0: no usable checkpoint). */
int lr_job_checkpoint_load(train_job *job, double *best_valid, lr_err *err)
{
    const lr_job_spec *s = job->spec;
    struct stat st;
    if (!s->checkpoint_path || stat(s->checkpoint_path, &st) != 0) return 0;
    lr_lesion_model *m = job->model;
    lr_job_result *res = job->result;
    const lr_cohort *cohort = job->cohort;
    lr_err e2;
    hid_t f = lr_h5_open_read(s->checkpoint_path, &e2);
    if (f < 0) return 0; /* a torn checkpoint cannot exist (rename), but be safe: start over */
    long meta[3], steps[2];
    int done = 0;
    if (lr_h5_attr_read(f, "/", "meta", H5T_NATIVE_LONG, 3, meta, &e2) || meta[0] != (long)s->identity ||
        meta[1] < 1 || meta[1] > res->epochs) {
        H5Fclose(f);
        lr_job_log(job, "checkpoint %s belongs to another job or config: starting from epoch 1\n", s->checkpoint_path);
        return 0;
    }
    int rc = lr_h5_attr_read(f, "/", "adam_steps", H5T_NATIVE_LONG, 2, steps, err);
    if (!rc) rc = lr_h5_attr_read(f, "/", "best_valid", H5T_NATIVE_DOUBLE, 1, best_valid, err);
    if (!rc) rc = ck_read(f, "/params", H5T_NATIVE_FLOAT, m->cnn->params, m->cnn->n_params, err);
    if (!rc) rc = ck_read(f, "/buffers", H5T_NATIVE_FLOAT, m->cnn->buffers, m->cnn->n_buffers, err);
    if (!rc) rc = ck_read(f, "/adam_m", H5T_NATIVE_FLOAT, m->opt_cnn.m, 2 * m->opt_cnn.n, err);
    if (!rc && m->n_head) rc = ck_read(f, "/head", H5T_NATIVE_FLOAT, m->head, m->n_head, err);
    if (!rc && m->n_head) rc = ck_read(f, "/head_adam", H5T_NATIVE_FLOAT, m->opt_head.m, 2 * m->opt_head.n, err);
    if (!rc) rc = ck_read(f, "/train_loss", H5T_NATIVE_DOUBLE, res->train_loss, (size_t)res->epochs, err);
    if (!rc) rc = ck_read(f, "/c_epoch", H5T_NATIVE_DOUBLE, res->c_epoch, 3 * (size_t)res->epochs, err);
    res->best_epoch = (int)meta[2];
    if (!rc && res->best_epoch >= 0) {
        eval_out *b = &job->best;
        if (lr_job_snapshot_best(job, err)) rc = -1; /* allocates the snapshot, then overwritten */
        if (!rc) rc = ck_read(f, "/best/params", H5T_NATIVE_FLOAT, res->best_params,
                              m->cnn->n_params + m->cnn->n_buffers + m->n_head, err);
        if (!rc) rc = ck_read(f, "/best/patient_risk", H5T_NATIVE_DOUBLE, b->patient_risk, cohort->n_patients, err);
        if (!rc) rc = ck_read(f, "/best/annotation_risk", H5T_NATIVE_DOUBLE, b->annotation_risk, cohort->n_annotations, err);
        if (!rc) rc = ck_read(f, "/best/lesion_risk", H5T_NATIVE_FLOAT, b->lesion_risk, cohort->n_lesions, err);
        if (!rc) rc = ck_read(f, "/best/lesion_scale", H5T_NATIVE_FLOAT, b->lesion_scale, cohort->n_lesions, err);
        if (!rc) rc = ck_read(f, "/best/lesion_used", H5T_NATIVE_INT8, b->lesion_used, cohort->n_lesions, err);
        if (!rc) rc = ck_read(f, "/best/c", H5T_NATIVE_DOUBLE, b->cindex, 3, err);
    }
    H5Fclose(f);
    if (rc) return lr_fail_ctx(err, "resuming from %s", s->checkpoint_path);
    m->opt_cnn.step = steps[0];
    m->opt_head.step = steps[1];
    done = (int)meta[1];
    res->epochs_run = done;
    lr_job_log(job, "resumed from checkpoint after epoch %d\n", done);
    return done;
}
