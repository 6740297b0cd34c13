/* PyTorch parity of the CNN engine from committed references (tests/gen_nn_refs.py wrote them):
 * eval and train outputs and embeddings, every parameter gradient, BN running statistics after a
 * train-mode forward, and parameters after 3 Adam steps — for ResNet18, ResNet50 and the 3D ResNet18. */
#include <math.h>
#include <stdlib.h>

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

static void test_resnet18_parity(void) { run_case("resnet18"); }
static void test_resnet50_parity(void) { run_case("resnet50"); }
static void test_resnet18_3d_parity(void) { run_case("resnet18_3d"); }

int main(void)
{
    lr_h5_quiet();
    RUN(test_resnet18_parity);
    RUN(test_resnet50_parity);
    RUN(test_resnet18_3d_parity);
    return TEST_SUMMARY();
}
