/* Save / load a network as HDF5, one float32 dataset per state_dict key (the torchvision converter's
 * format), and Adam. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn/engine.h"
#include "util/h5.h"

static void key_path(char *buf, size_t size, const char *prefix, const char *name)
{
    snprintf(buf, size, "%s/%s", prefix ? prefix : "", name);
}

static void format_dims(char *buf, size_t size, int rank, const hsize_t *dims)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

int lr_net_save_h5(const lr_net *net, hid_t file, const char *prefix, lr_err *err)
{
    char path[256];
    for (int i = 0; i < net->n_tensors; i++) {
        const lr_tensor *t = &net->tensors[i];
        hsize_t dims[LR_TENSOR_MAXRANK];
        for (int d = 0; d < t->rank; d++) dims[d] = (hsize_t)t->dims[d];
        key_path(path, sizeof path, prefix, t->name);
        const float *data = (t->is_buffer ? net->buffers : net->params) + t->offset;
        if (lr_h5_write(file, path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t->rank, dims, NULL, 0, data, err)) return -1;
    }
    return 0;
}

int lr_net_save(const lr_net *net, const char *path, lr_err *err)
{
    hid_t f = lr_h5_create(path, err);
    if (f < 0) return -1;
    int rc = lr_net_save_h5(net, f, "", err);
    if (!rc && lr_h5_attr_write_string(f, "/", "arch", lr_arch_name(net->cfg.arch), err)) rc = -1;
    if (H5Fclose(f) < 0 && !rc) rc = lr_fail(err, "%s: cannot close", path);
    if (rc) lr_fail_ctx(err, "saving %s", path);
    return rc;
}

/* Reads one key into dst (numel floats of the net's shape), handling the 3-channel → 1-channel stem. */
static int load_tensor(lr_net *net, const lr_tensor *t, hid_t file, const char *prefix, int flags, lr_err *err)
{
    char path[256], got[96], want[96];
    key_path(path, sizeof path, prefix, t->name);
    if (!lr_h5_exists(file, path)) return lr_fail(err, "missing key '%s'", t->name);
    int rank;
    hsize_t dims[LR_H5_MAXRANK], wdims[LR_TENSOR_MAXRANK];
    if (lr_h5_shape(file, path, &rank, dims, err)) return lr_fail_ctx(err, "key '%s'", t->name);
    int same = rank == t->rank;
    for (int d = 0; d < t->rank; d++) {
        wdims[d] = (hsize_t)t->dims[d];
        if (same && dims[d] != wdims[d]) same = 0;
    }
    float *dst = (t->is_buffer ? net->buffers : net->params) + t->offset;
    int is_fc = !strncmp(t->name, "fc.", 3);
    if (!same && is_fc && (flags & LR_LOAD_SKIP_FC_MISMATCH)) return 0;
    format_dims(got, sizeof got, rank, dims);
    format_dims(want, sizeof want, t->rank, wdims);
    int stem_sum = !same && !strcmp(t->name, "conv1.weight") && rank == t->rank && t->dims[1] == 1 && dims[1] > 1;
    for (int d = 0; stem_sum && d < rank; d++)
        if (d != 1 && dims[d] != wdims[d]) stem_sum = 0;
    if (!same && !stem_sum)
        return lr_fail(err, "key '%s': shape %s in file, the network expects %s", t->name, got, want);
    size_t n_file = 1;
    for (int d = 0; d < rank; d++) n_file *= (size_t)dims[d];
    float *buf = stem_sum ? lr_malloc(n_file, sizeof(float), err) : dst;
    if (!buf) return -1;
    int rc = lr_h5_read(file, path, H5T_NATIVE_FLOAT, buf, err);
    for (size_t i = 0; !rc && i < n_file; i++)
        if (!isfinite(buf[i])) rc = lr_fail(err, "key '%s': non-finite value (%g) at element %zu", t->name, buf[i], i);
    if (!rc && stem_sum) {
        /* a 3-channel stem into a 1-channel net: sum the channel weights, as is customary */
        size_t cin = (size_t)dims[1], inner = t->numel / (size_t)t->dims[0];
        for (int o = 0; o < t->dims[0]; o++)
            for (size_t i = 0; i < inner; i++) {
                float sum = 0.0f;
                for (size_t c = 0; c < cin; c++) sum += buf[((size_t)o * cin + c) * inner + i];
                dst[(size_t)o * inner + i] = sum;
            }
    }
    if (stem_sum) free(buf);
    return rc;
}

int lr_net_load_h5(lr_net *net, hid_t file, const char *prefix, int flags, lr_err *err)
{
    for (int i = 0; i < net->n_tensors; i++)
        if (load_tensor(net, &net->tensors[i], file, prefix, flags, err)) return -1;
    return 0;
}

int lr_net_load(lr_net *net, const char *path, int flags, lr_err *err)
{
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    int rc = lr_net_load_h5(net, f, "", flags, err);
    H5Fclose(f);
    if (rc) lr_fail_ctx(err, "%s", path);
    return rc;
}

int lr_net_config_from_h5(lr_net_config *cfg, lr_arch arch, hid_t file, const char *prefix, lr_err *err)
{
    char path[256];
    int rank, want = arch == LR_ARCH_RESNET18_3D ? 5 : 4;
    hsize_t dims[LR_H5_MAXRANK];
    key_path(path, sizeof path, prefix, "conv1.weight");
    if (!lr_h5_exists(file, path)) return lr_fail(err, "missing key 'conv1.weight'");
    if (lr_h5_shape(file, path, &rank, dims, err)) return lr_fail_ctx(err, "key 'conv1.weight'");
    if (rank != want)
        return lr_fail(err, "key 'conv1.weight': rank %d in file, %s expects %d", rank, lr_arch_name(arch), want);
    cfg->arch = arch;
    cfg->width = (int)dims[0];
    cfg->in_channels = (int)dims[1];
    key_path(path, sizeof path, prefix, "fc.weight");
    if (!lr_h5_exists(file, path)) return lr_fail(err, "missing key 'fc.weight'");
    if (lr_h5_shape(file, path, &rank, dims, err)) return lr_fail_ctx(err, "key 'fc.weight'");
    if (rank != 2) return lr_fail(err, "key 'fc.weight': rank %d in file, expected 2", rank);
    cfg->out_size = (int)dims[0];
    return 0;
}

/* ---- Adam ------------------------------------------------------------------------------------ */

int lr_adam_init(lr_adam *opt, size_t n, float lr, float weight_decay, lr_err *err)
{
    memset(opt, 0, sizeof *opt);
    opt->m = lr_calloc(2 * n, sizeof(float), err); /* m and v: one allocation */
    if (!opt->m) return -1;
    opt->v = opt->m + n;
    opt->n = n;
    opt->lr = lr;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->weight_decay = weight_decay;
    return 0;
}

/* One Adam update of elements [lo, hi): the same operations, in the same order, as torch.optim.Adam's
 * single-tensor path (torch 1.13): m = m·β1 + (1−β1)·g, v = v·β2 + (1−β2)·g², p −= step·m/denom. */
LR_SIMD_CLONES
static void adam_range(float *restrict params, const float *restrict grads, float *restrict m, float *restrict v,
                       size_t lo, size_t hi, float beta1, float beta2, float eps, float weight_decay, float step_size,
                       float bias2_sqrt)
{
    const float one_m_b1 = 1.0f - beta1, one_m_b2 = 1.0f - beta2;
    for (size_t i = lo; i < hi; i++) {
        float g = grads[i];
        if (weight_decay != 0.0f) g += weight_decay * params[i];
        m[i] = m[i] * beta1 + one_m_b1 * g;
        v[i] = v[i] * beta2 + one_m_b2 * g * g;
        float denom = sqrtf(v[i]) / bias2_sqrt + eps;
        params[i] -= step_size * (m[i] / denom);
    }
}

void lr_adam_step(lr_adam *opt, float *params, const float *grads)
{
    double t0 = lr_prof_start();
    opt->step++;
    /* bias corrections in double, as torch */
    double bias1 = 1.0 - pow(opt->beta1, (double)opt->step);
    double bias2 = 1.0 - pow(opt->beta2, (double)opt->step);
    float step_size = (float)(opt->lr / bias1);
    float bias2_sqrt = (float)sqrt(bias2);
    /* element-wise: any split over threads gives the same bits */
    const size_t chunk = 1 << 16, n_chunks = (opt->n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n_chunks; c++) {
        size_t hi = (c + 1) * chunk < opt->n ? (c + 1) * chunk : opt->n;
        adam_range(params, grads, opt->m, opt->v, c * chunk, hi, opt->beta1, opt->beta2, opt->eps, opt->weight_decay,
                   step_size, bias2_sqrt);
    }
    lr_prof_stop(LR_PASS_OPTIMIZER, LR_KIND_ADAM, t0);
}

void lr_adam_free(lr_adam *opt)
{
    free(opt->m);
    opt->m = opt->v = NULL;
}
