/* The engine gives the same bits for 1 and 2 threads (OpenMP passes split channels with one writer per
 * element, the batched Winograd GEMMs run whole on one thread each, BLIS splits only m and n): three
 * train steps (forward, backward, Adam) of ResNet18, ResNet50 and the 3D ResNet18, compared with memcmp
 * on outputs, embeddings, gradients, BN running statistics and parameters. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/net.h"
#include "nn/engine.h"
#include "util/rng.h"

typedef struct {
    float *out, *grads, *params, *buffers;
} step_result;

/* Three train steps from the same initial state at the given thread count. */
static int run_steps(lr_arch arch, int width, int n, const int dims[3], int threads, step_result *res)
{
    lr_err err;
    lr_nn_set_threads(threads);
    gsl_rng *rng = lr_rng_stream(11, "test_nn_threads", (int)arch, 0, 0);
    lr_net_config cfg = {arch, 1, width, 1};
    lr_net *net = lr_net_create(&cfg, rng, &err);
    CHECK_MSG(net, "%s", err.msg);
    if (!net) {
        gsl_rng_free(rng);
        return -1;
    }
    size_t nx = (size_t)n * dims[0] * dims[1] * dims[2];
    float *x = malloc(sizeof(float) * nx), dy[64];
    for (size_t i = 0; i < nx; i++) x[i] = (float)(gsl_rng_uniform(rng) * 2.0 - 1.0);
    for (int i = 0; i < n; i++) dy[i] = (float)(gsl_rng_uniform(rng) - 0.5);
    lr_adam opt;
    int rc = lr_adam_init(&opt, net->n_params, 1e-3f, 1e-4f, &err);
    for (int s = 0; !rc && s < 3; s++) {
        lr_net_zero_grad(net);
        rc = lr_net_forward(net, x, n, dims, 1, &err) || lr_net_backward(net, dy, NULL, &err);
        if (!rc && s < 2) lr_adam_step(&opt, net->params, net->grads);
    }
    CHECK_MSG(rc == 0, "%s", err.msg);
    res->out = malloc(sizeof(float) * n);
    res->grads = malloc(sizeof(float) * net->n_params);
    res->params = malloc(sizeof(float) * net->n_params);
    res->buffers = malloc(sizeof(float) * net->n_buffers);
    memcpy(res->out, lr_net_output(net), sizeof(float) * n);
    memcpy(res->grads, net->grads, sizeof(float) * net->n_params);
    memcpy(res->params, net->params, sizeof(float) * net->n_params);
    memcpy(res->buffers, net->buffers, sizeof(float) * net->n_buffers);
    lr_adam_free(&opt);
    free(x);
    lr_net_free(net);
    gsl_rng_free(rng);
    lr_nn_set_threads(1);
    return rc ? -1 : 0;
}

static void free_result(step_result *r) { free(r->out), free(r->grads), free(r->params), free(r->buffers); }

static void check_same_bits(const char *what, lr_arch arch, int width, int n, const int dims[3])
{
    step_result one = {0}, two = {0};
    lr_err err;
    gsl_rng *rng = lr_rng_stream(11, "test_nn_threads", (int)arch, 0, 0);
    lr_net_config cfg = {arch, 1, width, 1};
    lr_net *probe = lr_net_create(&cfg, rng, &err);
    gsl_rng_free(rng);
    if (!probe) return;
    size_t np = probe->n_params, nb = probe->n_buffers;
    lr_net_free(probe);
    int ok1 = run_steps(arch, width, n, dims, 1, &one) == 0, ok2 = run_steps(arch, width, n, dims, 2, &two) == 0;
    CHECK(ok1 && ok2);
    if (ok1 && ok2) {
        CHECK_MSG(!memcmp(one.out, two.out, sizeof(float) * n), "%s: outputs differ", what);
        CHECK_MSG(!memcmp(one.grads, two.grads, sizeof(float) * np), "%s: gradients differ", what);
        CHECK_MSG(!memcmp(one.params, two.params, sizeof(float) * np), "%s: parameters differ", what);
        CHECK_MSG(!memcmp(one.buffers, two.buffers, sizeof(float) * nb), "%s: running statistics differ", what);
        /* the comparison can fail: the steps did move the parameters */
        CHECK(one.grads[np / 2] != 0.0f || one.grads[np - 3] != 0.0f);
    }
    free_result(&one), free_result(&two);
}

static void test_resnet18_threads(void)
{
    int dims[3] = {1, 72, 72}; /* the paper's patch: maps 36, 18, 9, 5, 3 (every Winograd tile case) */
    check_same_bits("resnet18", LR_ARCH_RESNET18, 16, 6, dims);
}

static void test_resnet50_threads(void)
{
    int dims[3] = {1, 40, 40};
    check_same_bits("resnet50", LR_ARCH_RESNET50, 8, 3, dims);
}

static void test_resnet18_3d_threads(void)
{
    int dims[3] = {8, 32, 32};
    check_same_bits("resnet18_3d", LR_ARCH_RESNET18_3D, 8, 2, dims);
}

int main(void)
{
    RUN(test_resnet18_threads);
    RUN(test_resnet50_threads);
    RUN(test_resnet18_3d_threads);
    return TEST_SUMMARY();
}
