/* PyTorch parity of the CNN engine from committed references (tests/gen_nn_refs.py wrote them):
 * eval and train outputs and embeddings, every parameter gradient, BN running statistics after a
 * train-mode forward, and parameters after 3 Adam steps — for ResNet18, ResNet50 and the 3D ResNet18. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/net.h"
#include "util/h5.h"
#include "util/rng.h"

typedef struct {
    hid_t file;
    lr_net *net;
    float *x, *dy;
    int n, dims[3];
    float adam_lr, adam_wd, adam_eps;
    int adam_steps;
} ref_case;

/* max |a-b| / max|b| over the array must be <= tol (relative to the tensor's scale, so tiny entries
 * of a tensor are judged against its typical magnitude). */
static int close_arrays_abs(const char *what, const float *a, const float *b, size_t n, double tol, double abs_tol)
{
    double max_diff = 0.0, max_ref = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= max_diff)) max_diff = d, worst = i;
        if (fabs(b[i]) > max_ref) max_ref = fabs(b[i]);
    }
    int ok = max_diff <= tol * (max_ref > 0 ? max_ref : 1.0) + abs_tol;
    if (getenv("LR_PARITY_REPORT")) /* measured deviations, for notes: relative to the tensor's scale */
        printf("parity %s rel %.3g\n", what, max_diff / (max_ref > 0 ? max_ref : 1.0));
    if (!ok)
        fprintf(stderr, "  %s: max |diff| %.3g at %zu (got %.8g, want %.8g), scale %.3g, tol %.1g\n", what, max_diff,
                worst, a[worst], b[worst], max_ref, tol);
    return ok;
}

static int close_arrays(const char *what, const float *a, const float *b, size_t n, double tol)
{
    return close_arrays_abs(what, a, b, n, tol, 0.0);
}

static float *read_floats(hid_t f, const char *path, size_t n)
{
    lr_err err;
    int rank;
    hsize_t dims[LR_H5_MAXRANK];
    if (lr_h5_shape(f, path, &rank, dims, &err)) return NULL;
    size_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    if (total != n) return NULL;
    float *buf = malloc(sizeof(float) * n);
    if (buf && lr_h5_read(f, path, H5T_NATIVE_FLOAT, buf, &err)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int open_case(ref_case *rc, const char *name)
{
    lr_err err;
    char path[256];
    memset(rc, 0, sizeof *rc);
    snprintf(path, sizeof path, "tests/references/nn/%s.h5", name);
    rc->file = lr_h5_open_read(path, &err);
    CHECK_MSG(rc->file >= 0, "%s", err.msg);
    if (rc->file < 0) return -1;
    char arch_name[32];
    lr_net_config cfg;
    int ok = !lr_h5_attr_read_string(rc->file, "/", "arch", arch_name, sizeof arch_name, &err) &&
             !lr_arch_parse(arch_name, &cfg.arch) && !lr_net_config_from_h5(&cfg, cfg.arch, rc->file, "/params", &err);
    CHECK_MSG(ok, "%s", err.msg);
    if (!ok) return -1;
    double lr, wd, eps;
    long steps;
    lr_h5_attr_read(rc->file, "/", "adam_lr", H5T_NATIVE_DOUBLE, 1, &lr, &err);
    lr_h5_attr_read(rc->file, "/", "adam_weight_decay", H5T_NATIVE_DOUBLE, 1, &wd, &err);
    lr_h5_attr_read(rc->file, "/", "adam_steps", H5T_NATIVE_LONG, 1, &steps, &err);
    lr_h5_attr_read(rc->file, "/", "adam_eps", H5T_NATIVE_DOUBLE, 1, &eps, &err);
    rc->adam_eps = (float)eps;
    rc->adam_lr = (float)lr;
    rc->adam_wd = (float)wd;
    rc->adam_steps = (int)steps;
    gsl_rng *rng = lr_rng_stream(1, "test_nn_parity", 0, 0, 0);
    rc->net = lr_net_create(&cfg, rng, &err);
    gsl_rng_free(rng);
    CHECK_MSG(rc->net, "%s", err.msg);
    if (!rc->net) return -1;
    int rc_load = lr_net_load_h5(rc->net, rc->file, "/params", 0, &err);
    CHECK_MSG(rc_load == 0, "%s", err.msg);
    int rank;
    hsize_t xd[LR_H5_MAXRANK];
    lr_h5_shape(rc->file, "/x", &rank, xd, &err);
    rc->n = (int)xd[0];
    rc->dims[0] = rank == 5 ? (int)xd[2] : 1;
    rc->dims[1] = (int)xd[rank - 2];
    rc->dims[2] = (int)xd[rank - 1];
    size_t nx = (size_t)rc->n * cfg.in_channels * rc->dims[0] * rc->dims[1] * rc->dims[2];
    rc->x = read_floats(rc->file, "/x", nx);
    rc->dy = read_floats(rc->file, "/dy", (size_t)rc->n * cfg.out_size);
    CHECK(rc->x && rc->dy);
    return rc_load || !rc->x || !rc->dy ? -1 : 0;
}

static void close_case(ref_case *rc)
{
    lr_net_free(rc->net);
    free(rc->x);
    free(rc->dy);
    if (rc->file >= 0) H5Fclose(rc->file);
}

static void check_outputs(ref_case *rc, const char *y_key, const char *emb_key)
{
    lr_net *net = rc->net;
    size_t ny = (size_t)rc->n * net->cfg.out_size, ne = (size_t)rc->n * net->emb_size;
    float *y = read_floats(rc->file, y_key, ny), *emb = read_floats(rc->file, emb_key, ne);
    CHECK(y && emb);
    if (y && emb) {
        CHECK_MSG(close_arrays(y_key, lr_net_output(net), y, ny, 1e-4), "%s", y_key);
        CHECK_MSG(close_arrays(emb_key, lr_net_embedding(net), emb, ne, 1e-4), "%s", emb_key);
    }
    free(y);
    free(emb);
}

/* Every tensor of the net (params or buffers as selected) against group/<key>. */
static void check_tensors(ref_case *rc, const char *group, int want_params, int want_buffers, const float *values,
                          double tol, double abs_tol)
{
    lr_net *net = rc->net;
    int n_checked = 0;
    for (int i = 0; i < net->n_tensors; i++) {
        const lr_tensor *t = &net->tensors[i];
        if (t->is_buffer ? !want_buffers : !want_params) continue;
        char path[160];
        snprintf(path, sizeof path, "/%s/%s", group, t->name);
        float *ref = read_floats(rc->file, path, t->numel);
        CHECK_MSG(ref, "%s", path);
        if (!ref) continue;
        const float *got = t->is_buffer ? net->buffers + t->offset : values + t->offset;
        CHECK_MSG(close_arrays_abs(path, got, ref, t->numel, tol, abs_tol), "%s", path);
        n_checked++;
        free(ref);
    }
    CHECK(n_checked > 0);
}

static void run_case(const char *name)
{
    ref_case rc;
    lr_err err;
    if (open_case(&rc, name)) {
        close_case(&rc);
        return;
    }
    lr_net *net = rc.net;
    /* eval mode */
    CHECK_MSG(lr_net_forward(net, rc.x, rc.n, rc.dims, 0, &err) == 0, "%s", err.msg);
    check_outputs(&rc, "/y_eval", "/emb_eval");
    /* train mode: outputs, gradients, running statistics */
    lr_net_zero_grad(net);
    CHECK_MSG(lr_net_forward(net, rc.x, rc.n, rc.dims, 1, &err) == 0, "%s", err.msg);
    check_outputs(&rc, "/y_train", "/emb_train");
    CHECK_MSG(lr_net_backward(net, rc.dy, NULL, &err) == 0, "%s", err.msg);
    check_tensors(&rc, "grads", 1, 0, net->grads, 1e-3, 0.0);
    check_tensors(&rc, "running_after", 0, 1, NULL, 1e-4, 0.0);
    /* Adam from the initial parameters */
    CHECK_MSG(lr_net_load_h5(net, rc.file, "/params", 0, &err) == 0, "%s", err.msg);
    lr_adam opt;
    CHECK(lr_adam_init(&opt, net->n_params, rc.adam_lr, rc.adam_wd, &err) == 0);
    opt.eps = rc.adam_eps;
    for (int s = 0; s < rc.adam_steps; s++) {
        lr_net_zero_grad(net);
        lr_net_forward(net, rc.x, rc.n, rc.dims, 1, &err);
        lr_net_backward(net, rc.dy, NULL, &err);
        lr_adam_step(&opt, net->params, net->grads);
    }
    /* An Adam update is about ±lr per step whatever the gradient's size, so a gradient entry near its
     * rounding level may move by a fraction of lr: allow 0.1·lr on top of 1e-4 of the tensor's scale
     * (a wrong bias correction or moment would be off by more than lr). */
    check_tensors(&rc, "adam", 1, 1, net->params, 1e-4, 0.1 * rc.adam_lr);
    lr_adam_free(&opt);
    close_case(&rc);
}

/* ---- full width: ResNet18 width 64, a batch of 4 patches of 72×72 (every fast path at users' sizes) ---- */

static uint64_t fnv1a(const char *key)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 0x100000001B3ULL;
    return h;
}

/* uniform01 of tests/gen_nn_refs.py: splitmix64(fnv1a(key) + i) >> 11, scaled to [0, 1) */
static double uniform01(const char *key, size_t i)
{
    uint64_t z = fnv1a(key) + (uint64_t)i + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* formula_weights of tests/gen_nn_refs.py */
static void formula_weights(lr_net *net)
{
    for (int t = 0; t < net->n_tensors; t++) {
        const lr_tensor *ten = &net->tensors[t];
        float *v = lr_net_tensor_data(net, ten);
        const char *key = ten->name;
        size_t len = strlen(key);
        int ends_weight = len >= 6 && !strcmp(key + len - 6, "weight");
        int ends_var = len >= 11 && !strcmp(key + len - 11, "running_var");
        for (size_t i = 0; i < ten->numel; i++) {
            double u = uniform01(key, i), x;
            if (!strncmp(key, "fc.", 3)) x = (2.0 * u - 1.0) / sqrt((double)net->emb_size);
            else if (ten->rank >= 4) {
                double fan_out = (double)ten->dims[0] * ten->dims[2] * ten->dims[3] * (ten->rank == 5 ? ten->dims[4] : 1);
                x = (2.0 * u - 1.0) * sqrt(3.0) * sqrt(2.0 / fan_out);
            } else if (ends_var || ends_weight) x = 0.5 + u;
            else x = 0.1 * (2.0 * u - 1.0);
            v[i] = (float)x;
        }
    }
}

static void test_resnet18_full_width(void)
{
    lr_err err;
    hid_t f = H5Fopen("tests/references/nn/resnet18_w64.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK_MSG(f >= 0, "tests/references/nn/resnet18_w64.h5 missing (tests/gen_nn_refs.py writes it)");
    if (f < 0) return;
    lr_net_config cfg = {LR_ARCH_RESNET18, 1, 64, 1};
    gsl_rng *rng = lr_rng_stream(1, "test_nn_parity", 0, 0, 0);
    lr_net *net = lr_net_create(&cfg, rng, &err);
    gsl_rng_free(rng);
    CHECK_MSG(net, "%s", err.msg);
    const int n = 4, dims[3] = {1, 72, 72};
    float *x = read_floats(f, "/x", (size_t)n * 72 * 72), *dy = read_floats(f, "/dy", n);
    CHECK(x && dy);
    if (net && x && dy) {
        formula_weights(net);
        ref_case rc = {.file = f, .net = net, .n = n};
        CHECK_MSG(lr_net_forward(net, x, n, dims, 0, &err) == 0, "%s", err.msg);
        check_outputs(&rc, "/y_eval", "/emb_eval");
        lr_net_zero_grad(net);
        CHECK_MSG(lr_net_forward(net, x, n, dims, 1, &err) == 0, "%s", err.msg);
        check_outputs(&rc, "/y_train", "/emb_train");
        CHECK_MSG(lr_net_backward(net, dy, NULL, &err) == 0, "%s", err.msg);
        /* the 3×3 convs of layer2-4 (Winograd weight gradients at 9×9, 5×5, 3×3; large tensors sampled
         * every grad_stride-th element) and two small tensors whole; see tests/gen_nn_refs.py for why the
         * stem and layer1 are left out */
        const char *keys[] = {"layer2.1.conv2.weight", "layer3.1.conv2.weight", "layer4.1.conv2.weight",
                              "layer2.1.bn2.weight", "layer3.0.downsample.0.weight"};
        long stride = 0;
        CHECK(lr_h5_attr_read(f, "/", "grad_stride", H5T_NATIVE_LONG, 1, &stride, &err) == 0 && stride > 1);
        int checked = 0;
        for (int k = 0; k < 5 && stride > 1; k++) {
            const lr_tensor *t = lr_net_tensor(net, keys[k]);
            CHECK(t != NULL);
            if (!t) continue;
            size_t step = t->numel > 100000 ? (size_t)stride : 1, n_ref = (t->numel + step - 1) / step;
            char path[96];
            snprintf(path, sizeof path, "/grads/%s", keys[k]);
            float *ref = read_floats(f, path, n_ref), *got = malloc(sizeof(float) * n_ref);
            CHECK_MSG(ref && got, "%s", path);
            if (ref && got) {
                for (size_t i = 0; i < n_ref; i++) got[i] = net->grads[t->offset + i * step];
                CHECK_MSG(close_arrays(path, got, ref, n_ref, 1e-3), "%s", path);
                checked++;
            }
            free(ref), free(got);
        }
        CHECK(checked == 5);
    }
    free(x), free(dy);
    lr_net_free(net);
    H5Fclose(f);
}

static void test_resnet18_parity(void) { run_case("resnet18"); }
static void test_resnet50_parity(void) { run_case("resnet50"); }
static void test_resnet18_3d_parity(void) { run_case("resnet18_3d"); }

int main(void)
{
    lr_h5_quiet();
    RUN(test_resnet18_parity);
    RUN(test_resnet50_parity);
    RUN(test_resnet18_3d_parity);
    RUN(test_resnet18_full_width);
    return TEST_SUMMARY();
}
