/* ResNet construction (torchvision layout and state_dict keys), batch preparation, forward, backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "nn/net.h"
#include "nn/engine.h"

int lr_arch_parse(const char *name, lr_arch *arch)
{
    if (!strcmp(name, "resnet18")) *arch = LR_ARCH_RESNET18;
    else if (!strcmp(name, "resnet50")) *arch = LR_ARCH_RESNET50;
    else if (!strcmp(name, "resnet18_3d")) *arch = LR_ARCH_RESNET18_3D;
    else return -1;
    return 0;
}

const char *lr_arch_name(lr_arch arch)
{
    switch (arch) {
    case LR_ARCH_RESNET18: return "resnet18";
    case LR_ARCH_RESNET50: return "resnet50";
    case LR_ARCH_RESNET18_3D: return "resnet18_3d";
    }
    return "?";
}

/* ---- tensor table ---------------------------------------------------------------------------- */

static int add_tensor(lr_net *net, size_t *offset_out, int is_buffer, int rank, const int *dims, lr_err *err,
                      const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int add_tensor(lr_net *net, size_t *offset_out, int is_buffer, int rank, const int *dims, lr_err *err,
                      const char *fmt, ...)
{
    if (net->n_tensors == net->cap_tensors) {
        int cap = net->cap_tensors ? 2 * net->cap_tensors : 64;
        lr_tensor *t = realloc(net->tensors, sizeof *t * cap);
        if (!t) return lr_fail(err, "out of memory (tensor table)");
        net->tensors = t;
        net->cap_tensors = cap;
    }
    lr_tensor *t = &net->tensors[net->n_tensors++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->rank = rank;
    t->numel = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->numel *= (size_t)dims[i];
    }
    t->is_buffer = is_buffer;
    size_t *counter = is_buffer ? &net->n_buffers : &net->n_params;
    t->offset = *counter;
    *counter += t->numel;
    *offset_out = t->offset;
    return 0;
}

static int add_conv(lr_net *net, lr_conv_layer *c, int cin, int cout, const int k[3], const int stride[3],
                    const int pad[3], const char *key, lr_err *err)
{
    c->cin = cin;
    c->cout = cout;
    memcpy(c->k, k, sizeof c->k);
    memcpy(c->stride, stride, sizeof c->stride);
    memcpy(c->pad, pad, sizeof c->pad);
    int dims[5] = {cout, cin, k[0], k[1], k[2]};
    if (net->dims == 2) dims[2] = k[1], dims[3] = k[2];
    return add_tensor(net, &c->w, 0, net->dims == 2 ? 4 : 5, dims, err, "%s.weight", key);
}

static int add_bn(lr_net *net, lr_bn_layer *b, int channels, const char *key, lr_err *err)
{
    b->channels = channels;
    if (add_tensor(net, &b->gamma, 0, 1, &channels, err, "%s.weight", key)) return -1;
    if (add_tensor(net, &b->beta, 0, 1, &channels, err, "%s.bias", key)) return -1;
    if (add_tensor(net, &b->mean, 1, 1, &channels, err, "%s.running_mean", key)) return -1;
    return add_tensor(net, &b->var, 1, 1, &channels, err, "%s.running_var", key);
}

/* One residual block, keys "layer{L}.{i}.*" as torchvision names them. */
static int add_block(lr_net *net, int layer, int index, int inplanes, int planes, int stride, int bottleneck,
                     lr_err *err)
{
    if (net->n_blocks == LR_NET_MAX_BLOCKS) return lr_fail(err, "too many blocks");
    lr_block *b = &net->blocks[net->n_blocks++];
    memset(b, 0, sizeof *b);
    int three = net->dims == 3;
    int k1[3] = {1, 1, 1}, k3[3] = {three ? 3 : 1, 3, 3}, p0[3] = {0, 0, 0}, p1[3] = {three, 1, 1};
    int s1[3] = {1, 1, 1}, ss[3] = {three ? stride : 1, stride, stride};
    int expansion = bottleneck ? 4 : 1;
    char key[48];
    b->n_conv = bottleneck ? 3 : 2;
    if (bottleneck) {
        /* torchvision v1.5: the stride sits on the 3×3 conv */
        const int cin[3] = {inplanes, planes, planes}, cout[3] = {planes, planes, planes * 4};
        const int *ks[3] = {k1, k3, k1}, *st[3] = {s1, ss, s1}, *pd[3] = {p0, p1, p0};
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "layer%d.%d.conv%d", layer, index, i + 1);
            if (add_conv(net, &b->conv[i], cin[i], cout[i], ks[i], st[i], pd[i], key, err)) return -1;
            snprintf(key, sizeof key, "layer%d.%d.bn%d", layer, index, i + 1);
            if (add_bn(net, &b->bn[i], cout[i], key, err)) return -1;
        }
    } else {
        const int cin[2] = {inplanes, planes};
        const int *st[2] = {ss, s1};
        for (int i = 0; i < 2; i++) {
            snprintf(key, sizeof key, "layer%d.%d.conv%d", layer, index, i + 1);
            if (add_conv(net, &b->conv[i], cin[i], planes, k3, st[i], p1, key, err)) return -1;
            snprintf(key, sizeof key, "layer%d.%d.bn%d", layer, index, i + 1);
            if (add_bn(net, &b->bn[i], planes, key, err)) return -1;
        }
    }
    if (stride != 1 || inplanes != planes * expansion) {
        b->has_down = 1;
        snprintf(key, sizeof key, "layer%d.%d.downsample.0", layer, index);
        if (add_conv(net, &b->down, inplanes, planes * expansion, k1, ss, p0, key, err)) return -1;
        snprintf(key, sizeof key, "layer%d.%d.downsample.1", layer, index);
        if (add_bn(net, &b->down_bn, planes * expansion, key, err)) return -1;
    }
    return 0;
}

static int build(lr_net *net, lr_err *err)
{
    const lr_net_config *cfg = &net->cfg;
    int three = cfg->arch == LR_ARCH_RESNET18_3D;
    int bottleneck = cfg->arch == LR_ARCH_RESNET50;
    static const int blocks18[4] = {2, 2, 2, 2}, blocks50[4] = {3, 4, 6, 3};
    const int *n_blocks = bottleneck ? blocks50 : blocks18;
    int expansion = bottleneck ? 4 : 1;
    net->dims = three ? 3 : 2;
    /* stem: 7×7 stride 2 (3D: 3×7×7, stride 1×2×2, as torchvision's video ResNets) */
    int k[3] = {three ? 3 : 1, 7, 7}, st[3] = {1, 2, 2}, pd[3] = {three, 3, 3};
    if (add_conv(net, &net->stem, cfg->in_channels, cfg->width, k, st, pd, "conv1", err)) return -1;
    if (add_bn(net, &net->stem_bn, cfg->width, "bn1", err)) return -1;
    int inplanes = cfg->width;
    for (int layer = 0; layer < 4; layer++) {
        int planes = cfg->width << layer;
        for (int i = 0; i < n_blocks[layer]; i++) {
            int stride = (layer > 0 && i == 0) ? 2 : 1;
            if (add_block(net, layer + 1, i, inplanes, planes, stride, bottleneck, err)) return -1;
            inplanes = planes * expansion;
        }
    }
    net->emb_size = inplanes;
    int wdims[2] = {cfg->out_size, inplanes};
    if (add_tensor(net, &net->fc_w, 0, 2, wdims, err, "fc.weight")) return -1;
    return add_tensor(net, &net->fc_b, 0, 1, &cfg->out_size, err, "fc.bias");
}

lr_net *lr_net_create(const lr_net_config *cfg, gsl_rng *rng, lr_err *err)
{
    if (cfg->in_channels < 1 || cfg->in_channels > 1024 || cfg->width < 1 || cfg->width > 1024 ||
        cfg->out_size < 1 || cfg->out_size > 1 << 20) {
        lr_fail(err, "invalid network configuration (in_channels %d, width %d, out_size %d)", cfg->in_channels,
                cfg->width, cfg->out_size);
        return NULL;
    }
    lr_net *net = lr_calloc(1, sizeof *net, err);
    if (!net) return NULL;
    net->cfg = *cfg;
    if (build(net, err)) goto fail;
    net->params = lr_calloc(2 * net->n_params, sizeof(float), err); /* params and grads: one allocation */
    net->buffers = lr_calloc(net->n_buffers, sizeof(float), err);
    if (!net->params || !net->buffers) goto fail;
    net->grads = net->params + net->n_params;
    lr_net_init(net, rng);
    return net;
fail:
    lr_net_free(net);
    return NULL;
}

static void release_batch(lr_net *net)
{
    free(net->arena);
    free(net->pool_argmax);
    free(net->col);
    free(net->scratch[0]);
    net->arena = net->col = NULL;
    net->pool_argmax = NULL;
    memset(net->scratch, 0, sizeof net->scratch);
    net->batch = 0;
    net->arena_cap = net->argmax_cap = net->col_cap = net->scratch_cap = 0;
}

void lr_net_free(lr_net *net)
{
    if (!net) return;
    release_batch(net);
    free(net->tensors);
    free(net->params);
    free(net->buffers);
    free(net);
}

const lr_tensor *lr_net_tensor(const lr_net *net, const char *name)
{
    for (int i = 0; i < net->n_tensors; i++)
        if (!strcmp(net->tensors[i].name, name)) return &net->tensors[i];
    return NULL;
}

float *lr_net_tensor_data(lr_net *net, const lr_tensor *t)
{
    return (t->is_buffer ? net->buffers : net->params) + t->offset;
}

static void init_conv(lr_net *net, const lr_conv_layer *c, gsl_rng *rng)
{
    /* kaiming_normal_(mode="fan_out", nonlinearity="relu") */
    double fan_out = (double)c->cout * c->k[0] * c->k[1] * c->k[2];
    double sd = sqrt(2.0 / fan_out);
    size_t n = (size_t)c->cout * c->cin * c->k[0] * c->k[1] * c->k[2];
    for (size_t i = 0; i < n; i++) net->params[c->w + i] = (float)gsl_ran_gaussian(rng, sd);
}

static void init_bn(lr_net *net, const lr_bn_layer *b)
{
    for (int i = 0; i < b->channels; i++) {
        net->params[b->gamma + i] = 1.0f;
        net->params[b->beta + i] = 0.0f;
        net->buffers[b->mean + i] = 0.0f;
        net->buffers[b->var + i] = 1.0f;
    }
}

void lr_net_init(lr_net *net, gsl_rng *rng)
{
    init_conv(net, &net->stem, rng);
    init_bn(net, &net->stem_bn);
    for (int i = 0; i < net->n_blocks; i++) {
        lr_block *b = &net->blocks[i];
        for (int j = 0; j < b->n_conv; j++) {
            init_conv(net, &b->conv[j], rng);
            init_bn(net, &b->bn[j]);
        }
        if (b->has_down) {
            init_conv(net, &b->down, rng);
            init_bn(net, &b->down_bn);
        }
    }
    /* nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias */
    double bound = 1.0 / sqrt((double)net->emb_size);
    for (size_t i = 0; i < (size_t)net->cfg.out_size * net->emb_size; i++)
        net->params[net->fc_w + i] = (float)((2.0 * gsl_rng_uniform(rng) - 1.0) * bound);
    for (int i = 0; i < net->cfg.out_size; i++)
        net->params[net->fc_b + i] = (float)((2.0 * gsl_rng_uniform(rng) - 1.0) * bound);
}

void lr_net_zero_grad(lr_net *net) { memset(net->grads, 0, sizeof(float) * net->n_params); }

/* ---- batch preparation: shapes and arena offsets --------------------------------------------- */

typedef struct {
    size_t arena, col, scratch;
} plan_sizes;

static size_t take(plan_sizes *ps, size_t n)
{
    size_t off = ps->arena;
    ps->arena += (n + 15) & ~(size_t)15; /* 64-byte aligned runs */
    return off;
}

static size_t act_size(const lr_conv_shape *s) { return (size_t)s->cout * s->n * lr_conv_out_plane(s); }

static int plan_conv(lr_conv_layer *c, int n, const int in[3], plan_sizes *ps, lr_err *err)
{
    if (lr_conv_shape_init(&c->shape, n, c->cin, c->cout, in, c->k, c->stride, c->pad))
        return lr_fail(err, "input too small for the network (a %dx%dx%d map reaches a %dx%dx%d kernel)", in[0],
                       in[1], in[2], c->k[0], c->k[1], c->k[2]);
    size_t ws = lr_conv_layer_workspace(&c->shape);
    if (ws > ps->col) ps->col = ws;
    c->saved = take(ps, lr_conv_saved_size(&c->shape));
    size_t a = act_size(&c->shape), ain = (size_t)c->cin * n * lr_conv_in_plane(&c->shape);
    if (a > ps->scratch) ps->scratch = a;
    if (ain > ps->scratch) ps->scratch = ain;
    return 0;
}

static void plan_bn(lr_bn_layer *b, plan_sizes *ps) { b->saved = take(ps, 2 * (size_t)b->channels); }

static int prepare(lr_net *net, int n, const int dims[3], lr_err *err)
{
    if (net->arena && net->batch == n && !memcmp(net->in_dims, dims, sizeof net->in_dims)) return 0;
    /* Re-plan offsets for the new shape; buffers only grow, so batches of varying size (lesions per
     * annotation) do not re-fault hundreds of MB at every step. */
    plan_sizes ps = {0, 0, 0};
    int cur[3] = {dims[0], dims[1], dims[2]};
    net->x = take(&ps, (size_t)net->cfg.in_channels * n * cur[0] * cur[1] * cur[2]);
    if (plan_conv(&net->stem, n, cur, &ps, err)) return -1;
    net->y0 = take(&ps, act_size(&net->stem.shape));
    net->z0 = take(&ps, act_size(&net->stem.shape));
    plan_bn(&net->stem_bn, &ps);
    int three = net->dims == 3;
    int pk[3] = {three ? 3 : 1, 3, 3}, pst[3] = {three ? 2 : 1, 2, 2}, ppd[3] = {three, 1, 1};
    if (lr_conv_shape_init(&net->pool, n, net->cfg.width, net->cfg.width, net->stem.shape.out, pk, pst, ppd))
        return lr_fail(err, "input too small for the network");
    net->m0 = take(&ps, act_size(&net->pool));
    memcpy(cur, net->pool.out, sizeof cur);
    size_t prev = net->m0;
    for (int i = 0; i < net->n_blocks; i++) {
        lr_block *b = &net->blocks[i];
        b->in = prev;
        int bin[3] = {cur[0], cur[1], cur[2]};
        for (int j = 0; j < b->n_conv; j++) {
            if (plan_conv(&b->conv[j], n, cur, &ps, err)) return -1;
            b->y[j] = take(&ps, act_size(&b->conv[j].shape));
            b->z[j] = take(&ps, act_size(&b->conv[j].shape));
            plan_bn(&b->bn[j], &ps);
            memcpy(cur, b->conv[j].shape.out, sizeof cur);
        }
        if (b->has_down) {
            if (plan_conv(&b->down, n, bin, &ps, err)) return -1;
            b->y_down = take(&ps, act_size(&b->down.shape));
            plan_bn(&b->down_bn, &ps);
        }
        prev = b->z[b->n_conv - 1];
    }
    net->emb = take(&ps, (size_t)n * net->emb_size);
    net->demb = take(&ps, (size_t)n * net->emb_size);
    net->out = take(&ps, (size_t)n * net->cfg.out_size);

    size_t argmax = act_size(&net->pool), col = ps.col ? ps.col : 1;
    if (!net->arena || ps.arena > net->arena_cap || argmax > net->argmax_cap || col > net->col_cap ||
        ps.scratch > net->scratch_cap) {
        release_batch(net);
        /* headroom so that a slightly larger batch next step reuses the buffers */
        size_t a = ps.arena + ps.arena / 4, g = argmax + argmax / 4, c = col + col / 4, sc = ps.scratch + ps.scratch / 4;
        net->arena = lr_malloc(a, sizeof(float), err);
        net->pool_argmax = lr_malloc(g, sizeof(int32_t), err);
        net->col = lr_malloc(c, sizeof(float), err);
        net->scratch[0] = lr_malloc(4 * sc, sizeof(float), err);
        if (!net->arena || !net->pool_argmax || !net->col || !net->scratch[0]) {
            release_batch(net);
            return lr_fail_ctx(err, "activations for a batch of %d", n);
        }
        net->arena_cap = a;
        net->argmax_cap = g;
        net->col_cap = c;
        net->scratch_cap = sc;
    }
    for (int i = 1; i < 4; i++) net->scratch[i] = net->scratch[0] + i * net->scratch_cap;
    net->arena_size = ps.arena;
    net->col_size = ps.col;
    net->scratch_size = ps.scratch;
    net->batch = n;
    memcpy(net->in_dims, dims, sizeof net->in_dims);
    return 0;
}

/* ---- forward --------------------------------------------------------------------------------- */

#define ACT(off) (net->arena + (off))
#define PRM(off) (net->params + (off))
#define GRD(off) (net->grads + (off))
#define BUF(off) (net->buffers + (off))

static void conv_forward(lr_net *net, const lr_conv_layer *c, float *out, const float *in)
{
    lr_conv_forward_saved(out, ACT(c->saved), net->col, in, PRM(c->w), &c->shape);
}

/* din NULL: the input gradient is not needed (the stem) */
static void conv_backward(lr_net *net, const lr_conv_layer *c, float *din, const float *dout, const float *in)
{
    lr_conv_backward_saved(din, GRD(c->w), net->col, dout, in, PRM(c->w), ACT(c->saved), &c->shape);
}

static void bn_forward(lr_net *net, const lr_bn_layer *b, float *out, const float *in, const float *residual,
                       int relu, size_t m)
{
    lr_bn_shape s = {b->channels, m, LR_BN_MOMENTUM, LR_BN_EPS};
    float *saved = ACT(b->saved);
    LR_PROF(LR_PASS_FORWARD, LR_KIND_BN,
            lr_batchnorm_forward(out, saved, saved + b->channels, BUF(b->mean), BUF(b->var), in, PRM(b->gamma),
                                 PRM(b->beta), residual, relu, net->bn_train, &s));
}

static size_t plane_m(const lr_conv_shape *s) { return (size_t)s->n * lr_conv_out_plane(s); }

static void block_forward(lr_net *net, lr_block *b)
{
    const float *in = ACT(b->in);
    const float *residual = in;
    if (b->has_down) {
        conv_forward(net, &b->down, ACT(b->y_down), in);
        bn_forward(net, &b->down_bn, net->scratch[0], ACT(b->y_down), NULL, 0, plane_m(&b->down.shape));
        residual = net->scratch[0];
    }
    const float *x = in;
    for (int j = 0; j < b->n_conv; j++) {
        lr_conv_layer *c = &b->conv[j];
        conv_forward(net, c, ACT(b->y[j]), x);
        int last = j == b->n_conv - 1;
        bn_forward(net, &b->bn[j], ACT(b->z[j]), ACT(b->y[j]), last ? residual : NULL, 1, plane_m(&c->shape));
        x = ACT(b->z[j]);
    }
}

int lr_net_forward(lr_net *net, const float *x, int n, const int dims[3], int train, lr_err *err)
{
    if (n < 1) return lr_fail(err, "empty batch");
    if (net->dims == 2 && dims[0] != 1) return lr_fail(err, "2D network given a volume of depth %d", dims[0]);
    if (prepare(net, n, dims, err)) return -1;
    net->bn_train = train;
    size_t plane = (size_t)dims[0] * dims[1] * dims[2];
    LR_PROF(LR_PASS_FORWARD, LR_KIND_COPY, lr_nc_to_cn(ACT(net->x), x, n, net->cfg.in_channels, plane));
    conv_forward(net, &net->stem, ACT(net->y0), ACT(net->x));
    bn_forward(net, &net->stem_bn, ACT(net->z0), ACT(net->y0), NULL, 1, plane_m(&net->stem.shape));
    LR_PROF(LR_PASS_FORWARD, LR_KIND_POOL, lr_maxpool_forward(ACT(net->m0), net->pool_argmax, ACT(net->z0), &net->pool));
    for (int i = 0; i < net->n_blocks; i++) block_forward(net, &net->blocks[i]);
    const lr_block *last = &net->blocks[net->n_blocks - 1];
    const lr_conv_shape *ls = &last->conv[last->n_conv - 1].shape;
    LR_PROF(LR_PASS_FORWARD, LR_KIND_POOL,
            lr_avgpool_forward(ACT(net->emb), ACT(last->z[last->n_conv - 1]), n, net->emb_size, lr_conv_out_plane(ls)));
    lr_linear_forward(ACT(net->out), ACT(net->emb), PRM(net->fc_w), PRM(net->fc_b), n, net->emb_size,
                      net->cfg.out_size);
    return 0;
}

const float *lr_net_output(const lr_net *net) { return net->arena + net->out; }
const float *lr_net_embedding(const lr_net *net) { return net->arena + net->emb; }

/* ---- backward -------------------------------------------------------------------------------- */

/* relu_out: the fused ReLU's output (NULL when the gradient is already masked or there is no ReLU) */
static void bn_backward(lr_net *net, const lr_bn_layer *b, float *din, const float *dout, const float *in,
                        const float *relu_out, size_t m)
{
    lr_bn_shape s = {b->channels, m, LR_BN_MOMENTUM, LR_BN_EPS};
    const float *saved = ACT(b->saved);
    if (!net->bn_train) { /* lr_net_input_gradient after an eval-mode forward */
        lr_batchnorm_backward_eval(din, NULL, dout, relu_out, BUF(b->var), PRM(b->gamma), &s);
        return;
    }
    LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_BN,
            lr_batchnorm_backward(din, GRD(b->gamma), GRD(b->beta), dout, in, relu_out, saved, saved + b->channels,
                                  PRM(b->gamma), &s));
}

/* dout: gradient of the block output (destroyed); din: receives the gradient of the block input. */
static void block_backward(lr_net *net, lr_block *b, float *dout, float *din, float *tmp_a, float *tmp_b)
{
    const float *in = ACT(b->in);
    int last = b->n_conv - 1;
    /* The last BN applies the block output's ReLU mask and, in the same pass, hands the masked gradient
     * to the shortcut: straight into din (identity) or into tmp_a for the projection's BN and conv. */
    const lr_bn_layer *bn = &b->bn[last];
    lr_bn_shape bs = {bn->channels, plane_m(&b->conv[last].shape), LR_BN_MOMENTUM, LR_BN_EPS};
    const float *saved = ACT(bn->saved);
    float *dshort = b->has_down ? tmp_a : din;
    if (!net->bn_train) /* lr_net_input_gradient after an eval-mode forward */
        lr_batchnorm_backward_eval(dout, dshort, dout, ACT(b->z[last]), BUF(bn->var), PRM(bn->gamma), &bs);
    else
        LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_BN,
                lr_batchnorm_backward_res(dout, dshort, GRD(bn->gamma), GRD(bn->beta), dout, ACT(b->y[last]),
                                          ACT(b->z[last]), saved, saved + bn->channels, PRM(bn->gamma), &bs));
    if (b->has_down) {
        bn_backward(net, &b->down_bn, tmp_a, tmp_a, ACT(b->y_down), NULL, plane_m(&b->down.shape));
        LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_COPY,
                memset(din, 0, sizeof(float) * (size_t)b->down.cin * b->down.shape.n * lr_conv_in_plane(&b->down.shape)));
        conv_backward(net, &b->down, din, tmp_a, in);
    }
    float *d = dout;
    for (int j = last; j >= 0; j--) {
        lr_conv_layer *c = &b->conv[j];
        if (j != last) bn_backward(net, &b->bn[j], d, d, ACT(b->y[j]), ACT(b->z[j]), plane_m(&c->shape));
        float *dx = j == 0 ? din : (d == tmp_a ? tmp_b : tmp_a);
        if (j != 0)
            LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_COPY,
                    memset(dx, 0, sizeof(float) * (size_t)c->cin * c->shape.n * lr_conv_in_plane(&c->shape)));
        conv_backward(net, c, dx, d, j == 0 ? in : ACT(b->z[j - 1]));
        d = dx;
    }
}

/* The backward pass; din_x: also the input gradient (in the arena's [C][N][plane] layout), else NULL. */
static void backward(lr_net *net, const float *dy, const float *demb, float *din_x)
{
    int n = net->batch;
    float *d_emb = ACT(net->demb);
    lr_linear_backward(d_emb, GRD(net->fc_w), GRD(net->fc_b), dy, ACT(net->emb), PRM(net->fc_w), n, net->emb_size,
                       net->cfg.out_size);
    if (demb) lr_add(d_emb, demb, (size_t)n * net->emb_size);
    const lr_block *lastb = &net->blocks[net->n_blocks - 1];
    const lr_conv_shape *ls = &lastb->conv[lastb->n_conv - 1].shape;
    float *g = net->scratch[0], *g_next = net->scratch[1];
    LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_POOL, lr_avgpool_backward(g, d_emb, n, net->emb_size, lr_conv_out_plane(ls)));
    for (int i = net->n_blocks - 1; i >= 0; i--) {
        block_backward(net, &net->blocks[i], g, g_next, net->scratch[2], net->scratch[3]);
        float *t = g;
        g = g_next;
        g_next = t;
    }
    /* stem: g is the gradient of the pool output */
    float *d_z0 = g_next;
    LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_POOL, lr_maxpool_backward(d_z0, g, net->pool_argmax, &net->pool));
    bn_backward(net, &net->stem_bn, d_z0, d_z0, ACT(net->y0), ACT(net->z0), plane_m(&net->stem.shape));
    if (din_x) memset(din_x, 0, sizeof(float) * (size_t)net->stem.cin * n * lr_conv_in_plane(&net->stem.shape));
    conv_backward(net, &net->stem, din_x, d_z0, ACT(net->x));
}

int lr_net_backward(lr_net *net, const float *dy, const float *demb, lr_err *err)
{
    if (!net->arena || !net->bn_train) return lr_fail(err, "backward needs a train-mode forward first");
    backward(net, dy, demb, NULL);
    return 0;
}

int lr_net_input_gradient(lr_net *net, const float *dy, const float *demb, float *dx, lr_err *err)
{
    if (!net->arena) return lr_fail(err, "the input gradient needs a forward first");
    size_t plane = (size_t)lr_conv_in_plane(&net->stem.shape), n = (size_t)net->batch * net->cfg.in_channels * plane;
    float *cn = lr_malloc(n + 1, sizeof(float), err);
    if (!cn) return -1;
    backward(net, dy, demb, cn);
    lr_cn_to_nc(dx, cn, net->batch, net->cfg.in_channels, plane);
    free(cn);
    return 0;
}

double lr_net_forward_flop(const lr_net *net)
{
    double macs = lr_conv_macs(&net->stem.shape);
    for (int i = 0; i < net->n_blocks; i++) {
        const lr_block *b = &net->blocks[i];
        for (int j = 0; j < b->n_conv; j++) macs += lr_conv_macs(&b->conv[j].shape);
        if (b->has_down) macs += lr_conv_macs(&b->down.shape);
    }
    macs += (double)net->batch * net->emb_size * net->cfg.out_size;
    return 2.0 * macs;
}

double lr_net_train_flop(const lr_net *net)
{
    return 3.0 * lr_net_forward_flop(net) - 2.0 * lr_conv_macs(&net->stem.shape);
}
