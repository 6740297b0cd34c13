/* Job shards: one HDF5 file per finished job (schema in the README, "Job shards"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "model/kept_model.h"
#include "model/train.h"
#include "nn/engine.h"
#include "util/cli.h"
#include "util/h5.h"

static int write_d(hid_t f, const char *path, int rank, const hsize_t *dims, const double *v, lr_err *err)
{
    return lr_h5_write(f, path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, dims, NULL, 0, v, err);
}

static int attr_long(hid_t f, const char *name, long v, lr_err *err)
{
    return lr_h5_attr_write(f, "/", name, H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &v, err);
}

static int attr_double(hid_t f, const char *name, double v, lr_err *err)
{
    return lr_h5_attr_write(f, "/", name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &v, err);
}

static int write_weights(hid_t f, const lr_job_result *res, lr_err *err)
{
    lr_lesion_model *m = (lr_lesion_model *)&res->model;
    if (lr_net_save_h5(m->cnn, f, "/weights/final", err)) return -1;
    if (lr_lesion_model_save_head(m, f, "/weights/final", err)) return -1;
    if (!res->best_params) return 0;
    /* Save the best-validation snapshot through the same writer by swapping it in. */
    float *params = m->cnn->params, *buffers = m->cnn->buffers, *head = m->head;
    m->cnn->params = res->best_params;
    m->cnn->buffers = res->best_buffers;
    if (m->n_head) m->head = res->best_head;
    int rc = lr_net_save_h5(m->cnn, f, "/weights/best", err);
    if (!rc) rc = lr_lesion_model_save_head(m, f, "/weights/best", err);
    m->cnn->params = params;
    m->cnn->buffers = buffers;
    m->head = head;
    return rc;
}

/* The selected checkpoint (the model's Table 2 rule: best validation or last epoch) as the kept model. */
static int write_kept_model(hid_t f, const lr_shard_meta *meta, const lr_job_result *res, lr_err *err)
{
    const lr_lesion_model *m = &res->model;
    lr_kept_model k;
    lr_kept_model_describe(m, meta->opt, &k);
    int best = lr_model_selects_best(m->kind) && res->best_epoch >= 0 && res->best_params;
    return lr_kept_model_write_shard(f, &k, best ? res->best_params : m->cnn->params,
                                     best ? res->best_buffers : m->cnn->buffers, best ? res->best_head : m->head, err);
}

static int write_body(hid_t f, const lr_shard_meta *meta, const lr_job_result *res, lr_err *err)
{
    LR_TRY(lr_h5_attr_write_string(f, "/", "format", "lesionrank-shard", err));
    LR_TRY(attr_long(f, "version", 1, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "software_version", LR_VERSION, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "model", meta->model, err));
    LR_TRY(attr_long(f, "repeat", meta->repeat, err));
    LR_TRY(attr_long(f, "setting", meta->setting, err));
    LR_TRY(attr_long(f, "fold", meta->fold, err));
    LR_TRY(attr_long(f, "replicate", meta->replicate, err));
    LR_TRY(attr_long(f, "attempts", meta->attempts, err));
    char ident[32];
    snprintf(ident, sizeof ident, "%016llx", (unsigned long long)meta->identity);
    LR_TRY(lr_h5_attr_write_string(f, "/", "identity", ident, err));
    LR_TRY(attr_long(f, "rank", meta->rank, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "host", meta->host ? meta->host : "", err));
    /* kernels round differently: results are bitwise reproducible per BLIS sub-configuration */
    LR_TRY(lr_h5_attr_write_string(f, "/", "blis_arch", lr_blis_arch_in_use(), err));
    LR_TRY(attr_long(f, "threads", lr_nn_threads(), err));
    LR_TRY(attr_long(f, "seed", (long)meta->seed, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "status", res->status == LR_JOB_OK ? "ok" : "failed", err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "error", res->error, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "config_path", meta->config_path, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "cohort_path", meta->cohort_path, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "weights_source", res->weights_source, err));
    lr_model_kind kind;
    int best = lr_model_parse(meta->model, &kind) == 0 && lr_model_selects_best(kind);
    LR_TRY(lr_h5_attr_write_string(f, "/", "selection", best ? "best_valid" : "last", err));
    LR_TRY(attr_double(f, "wall_seconds", res->wall_seconds, err));
    LR_TRY(attr_long(f, "peak_rss_kb", res->peak_rss_kb, err));
    LR_TRY(attr_long(f, "epochs", res->epochs, err));
    LR_TRY(attr_long(f, "epochs_run", res->epochs_run, err));
    LR_TRY(attr_long(f, "best_epoch", res->best_epoch, err));
    LR_TRY(attr_long(f, "selected_epoch", res->selected_epoch, err));
    LR_TRY(attr_long(f, "patients_without_annotations", (long)res->patients_without_annotations, err));
    LR_TRY(attr_long(f, "annotations_without_lesions", (long)res->annotations_without_lesions, err));
    const char *text = meta->config_text ? meta->config_text : "";
    LR_TRY(lr_h5_write_strings(f, "/config_text", 1, &text, err));

    hsize_t three = 3, ep = (hsize_t)res->epochs, ep3[2] = {ep, 3};
    LR_TRY(write_d(f, "/cindex/final", 1, &three, res->c_final, err));
    LR_TRY(write_d(f, "/cindex/last", 1, &three, res->c_last, err));
    LR_TRY(write_d(f, "/cindex/best", 1, &three, res->c_best, err));
    LR_TRY(write_d(f, "/curves/train_loss", 1, &ep, res->train_loss, err));
    LR_TRY(write_d(f, "/curves/cindex", 2, ep3, res->c_epoch, err));
    if (res->status != LR_JOB_OK || !res->patient_risk) return 0;
    hsize_t P = res->n_patients, A = res->n_annotations, L = res->n_lesions;
    LR_TRY(write_d(f, "/patients/risk", 1, &P, res->patient_risk, err));
    LR_TRY(lr_h5_write(f, "/patients/role", H5T_NATIVE_INT8, H5T_STD_I8LE, 1, &P, NULL, 0, res->patient_role, err));
    LR_TRY(write_d(f, "/annotations/risk", 1, &A, res->annotation_risk, err));
    LR_TRY(lr_h5_write(f, "/lesions/risk", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, &L, NULL, 0, res->lesion_risk, err));
    LR_TRY(lr_h5_write(f, "/lesions/scale", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, &L, NULL, 0, res->lesion_scale, err));
    LR_TRY(lr_h5_write(f, "/lesions/used", H5T_NATIVE_INT8, H5T_STD_I8LE, 1, &L, NULL, 0, res->lesion_used, err));
    if (res->have_model) LR_TRY(write_weights(f, res, err));
    if (res->have_model && meta->opt) LR_TRY(write_kept_model(f, meta, res, err));
    return 0;
fail:
    return -1;
}

int lr_shard_write(const char *path, const lr_shard_meta *meta, const lr_job_result *res, lr_err *err)
{
    char tmp[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    hid_t f = lr_h5_create(tmp, err);
    if (f < 0) return -1;
    int rc = write_body(f, meta, res, err);
    if (H5Fclose(f) < 0 && rc == 0) rc = lr_fail(err, "%s: error closing", tmp);
    if (rc == 0) {
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        if (rename(tmp, path) != 0) rc = lr_fail(err, "%s: cannot rename %s into place", path, tmp);
    }
    if (rc) {
        unlink(tmp);
        return lr_fail_ctx(err, "writing shard %s", path);
    }
    return 0;
}
