#include "model/kept_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/cohort.h"
#include "util/h5.h"

void lr_kept_model_describe(const lr_lesion_model *m, const lr_train_options *o, lr_kept_model *k)
{
    *k = (lr_kept_model){
        .kind = m->kind,
        .width = m->cnn->cfg.width,
        .scaler_hidden = m->hidden,
        .max_lesions = m->kind == LR_MODEL_MEAN_LARGEST5 ? 5 : o->max_lesions,
        .patch_size = LR_PATCH,
        .hu_window = {o->hu_min, o->hu_max},
        .size_normalisation = {m->logv_mean, m->logv_sd, m->v_mean},
        .n_params = m->cnn->n_params,
        .n_buffers = m->cnn->n_buffers,
        .n_head = m->n_head,
    };
    snprintf(k->arch, sizeof k->arch, "%s", lr_arch_name(m->cnn->cfg.arch));
}

static int attr_l(hid_t f, const char *name, long v, lr_err *err)
{
    return lr_h5_attr_write(f, "/model", name, H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &v, err);
}

int lr_kept_model_write_shard(hid_t f, const lr_kept_model *k, const float *params, const float *buffers,
                              const float *head, lr_err *err)
{
    size_t n = lr_kept_model_n_values(k);
    float *values = lr_malloc(n + 1, sizeof(float), err);
    if (!values) return -1;
    memcpy(values, params, k->n_params * sizeof(float));
    memcpy(values + k->n_params, buffers, k->n_buffers * sizeof(float));
    if (k->n_head) memcpy(values + k->n_params + k->n_buffers, head, k->n_head * sizeof(float));
    hsize_t dn = n, two = 2, three = 3;
    int rc = lr_h5_write(f, "/model/values", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, &dn, NULL, 0, values, err);
    free(values);
    LR_TRY(rc);
    LR_TRY(lr_h5_write(f, "/model/hu_window", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &two, NULL, 0, k->hu_window, err));
    LR_TRY(lr_h5_write(f, "/model/size_normalisation", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &three, NULL, 0,
                       k->size_normalisation, err));
    LR_TRY(lr_h5_attr_write_string(f, "/model", "model", lr_model_name(k->kind), err));
    LR_TRY(lr_h5_attr_write_string(f, "/model", "arch", k->arch, err));
    LR_TRY(attr_l(f, "width", k->width, err));
    LR_TRY(attr_l(f, "scaler_hidden", k->scaler_hidden, err));
    LR_TRY(attr_l(f, "max_lesions", k->max_lesions, err));
    LR_TRY(attr_l(f, "patch_size", k->patch_size, err));
    LR_TRY(attr_l(f, "n_params", (long)k->n_params, err));
    LR_TRY(attr_l(f, "n_buffers", (long)k->n_buffers, err));
    LR_TRY(attr_l(f, "n_head", (long)k->n_head, err));
    return 0;
fail:
    return -1;
}

int lr_kept_model_in_shard(hid_t f)
{
    return lr_h5_exists(f, "/model/values");
}

static int read_l(hid_t f, const char *name, long *v, lr_err *err)
{
    return lr_h5_attr_read(f, "/model", name, H5T_NATIVE_LONG, 1, v, err);
}

int lr_kept_model_read_shard(hid_t f, lr_kept_model *k, float **values, lr_err *err)
{
    char model[64] = "";
    long width, hidden, max_lesions, patch, np, nb, nh;
    memset(k, 0, sizeof *k);
    LR_TRY(lr_h5_attr_read_string(f, "/model", "model", model, sizeof model, err));
    if (lr_model_parse(model, &k->kind)) return lr_fail(err, "/model: unknown model '%s'", model);
    LR_TRY(lr_h5_attr_read_string(f, "/model", "arch", k->arch, sizeof k->arch, err));
    LR_TRY(read_l(f, "width", &width, err));
    LR_TRY(read_l(f, "scaler_hidden", &hidden, err));
    LR_TRY(read_l(f, "max_lesions", &max_lesions, err));
    LR_TRY(read_l(f, "patch_size", &patch, err));
    LR_TRY(read_l(f, "n_params", &np, err));
    LR_TRY(read_l(f, "n_buffers", &nb, err));
    LR_TRY(read_l(f, "n_head", &nh, err));
    k->width = (int)width, k->scaler_hidden = (int)hidden, k->max_lesions = (int)max_lesions;
    k->patch_size = (int)patch;
    k->n_params = (size_t)np, k->n_buffers = (size_t)nb, k->n_head = (size_t)nh;
    size_t got = 0;
    double *hu = lr_h5_read_1d(f, "/model/hu_window", H5T_NATIVE_DOUBLE, sizeof(double), 2, &got, err);
    if (!hu) return -1;
    memcpy(k->hu_window, hu, sizeof k->hu_window);
    free(hu);
    double *norm = lr_h5_read_1d(f, "/model/size_normalisation", H5T_NATIVE_DOUBLE, sizeof(double), 3, &got, err);
    if (!norm) return -1;
    memcpy(k->size_normalisation, norm, sizeof k->size_normalisation);
    free(norm);
    if (!values) return 0;
    *values = lr_h5_read_1d(f, "/model/values", H5T_NATIVE_FLOAT, sizeof(float), (long)lr_kept_model_n_values(k), &got, err);
    return *values ? 0 : -1;
fail:
    return -1;
}

int lr_kept_model_build(const lr_kept_model *k, const float *values, lr_train_options *o, lr_lesion_model *m,
                        lr_err *err)
{
    lr_arch arch;
    if (lr_arch_parse(k->arch, &arch)) return lr_fail(err, "unknown architecture '%s'", k->arch);
    if (!lr_model_is_learned(k->kind)) return lr_fail(err, "model %s is not learned", lr_model_name(k->kind));
    o->width = o->r50_width = o->wv_width = k->width;
    o->scaler_hidden = k->scaler_hidden;
    o->max_lesions = k->max_lesions;
    o->hu_min = k->hu_window[0];
    o->hu_max = k->hu_window[1];
    /* the initial values are overwritten: any fixed stream will do */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return lr_fail(err, "out of memory (rng)");
    int rc = lr_lesion_model_init(m, k->kind, o, rng, err);
    gsl_rng_free(rng);
    if (rc) return -1;
    if (m->cnn->cfg.arch != arch || m->cnn->n_params != k->n_params || m->cnn->n_buffers != k->n_buffers ||
        m->n_head != k->n_head) {
        rc = lr_fail(err, "kept model of %s: %s width %d holds %zu + %zu + %zu values, the network built from it "
                          "expects %s %zu + %zu + %zu (parameters + BN statistics + head)",
                     lr_model_name(k->kind), k->arch, k->width, k->n_params, k->n_buffers, k->n_head,
                     lr_arch_name(m->cnn->cfg.arch), m->cnn->n_params, m->cnn->n_buffers, m->n_head);
        lr_lesion_model_free(m);
        return rc;
    }
    memcpy(m->cnn->params, values, k->n_params * sizeof(float));
    memcpy(m->cnn->buffers, values + k->n_params, k->n_buffers * sizeof(float));
    if (k->n_head) memcpy(m->head, values + k->n_params + k->n_buffers, k->n_head * sizeof(float));
    m->logv_mean = k->size_normalisation[0];
    m->logv_sd = k->size_normalisation[1];
    m->v_mean = k->size_normalisation[2];
    return 0;
}
