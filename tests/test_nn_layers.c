/* Finite-difference gradient checks for every layer of src/nn (inputs and parameters), with the scalar
 * loss L = Σ out·r for a fixed random r, computed in fp64 from the fp32 forward. Central differences
 * with a step suited to fp32; the comparison is relative to the gradient's scale. */
#include <stdlib.h>

#include "check.h"
#include "nn/layers.h"
#include "nn/net.h"
#include "nn/winograd.h"
#include "util/rng.h"

typedef double (*loss_fn)(void *ctx);

static void fill(float *x, size_t n, gsl_rng *rng, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(rng));
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compares analytic[i] with (L(x+h) − L(x−h)) / 2h on up to `samples` indices (all when n is small). */
static int fd_check(const char *what, float *x, size_t n, const float *analytic, loss_fn loss, void *ctx, float h,
                    double tol)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(analytic[i]) > scale) scale = fabs(analytic[i]);
    size_t step = n > 60 ? n / 60 : 1;
    int ok = 1;
    for (size_t i = 0; i < n; i += step) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss(ctx);
        x[i] = keep - h;
        double lm = loss(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * h);
        if (fabs(fd - analytic[i]) > tol * (scale > 1e-3 ? scale : 1e-3)) {
            fprintf(stderr, "  %s[%zu]: analytic %.6g, finite difference %.6g (scale %.3g)\n", what, i, analytic[i],
                    fd, scale);
            ok = 0;
        }
    }
    return ok;
}

static gsl_rng *test_rng(int id) { return lr_rng_stream(7, "test_nn_layers", id, 0, 0); }

/* ---- convolution ---- */

typedef struct {
    lr_conv_shape s;
    float *in, *w, *out, *col, *r;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    lr_conv_forward(c->out, c->col, c->in, c->w, &c->s);
    return dot(c->out, c->r, (size_t)c->s.cout * c->s.n * lr_conv_out_plane(&c->s));
}

static void check_conv(const char *name, int n, int cin, int cout, const int in[3], const int k[3], const int st[3],
                       const int pd[3], int id)
{
    gsl_rng *rng = test_rng(id);
    conv_ctx c;
    CHECK(lr_conv_shape_init(&c.s, n, cin, cout, in, k, st, pd) == 0);
    size_t nin = (size_t)cin * n * lr_conv_in_plane(&c.s), nout = (size_t)cout * n * lr_conv_out_plane(&c.s);
    size_t nw = (size_t)cout * lr_conv_k(&c.s), ws = lr_conv_workspace(&c.s);
    c.in = malloc(sizeof(float) * nin);
    c.w = malloc(sizeof(float) * nw);
    c.out = malloc(sizeof(float) * nout);
    c.r = malloc(sizeof(float) * nout);
    c.col = malloc(sizeof(float) * (ws ? ws : 1));
    float *din = calloc(nin, sizeof(float)), *dw = calloc(nw, sizeof(float));
    fill(c.in, nin, rng, -1, 1);
    fill(c.w, nw, rng, -1, 1);
    fill(c.r, nout, rng, -1, 1);
    conv_loss(&c);
    lr_conv_backward(din, dw, c.col, c.r, c.in, c.w, &c.s);
    char what[64];
    snprintf(what, sizeof what, "%s d_in", name);
    CHECK_MSG(fd_check(what, c.in, nin, din, conv_loss, &c, 1e-2f, 2e-3), "%s", what);
    snprintf(what, sizeof what, "%s d_w", name);
    CHECK_MSG(fd_check(what, c.w, nw, dw, conv_loss, &c, 1e-2f, 2e-3), "%s", what);
    /* din and dw accumulate (+=): a second backward doubles every element */
    lr_conv_backward(din, dw, c.col, c.r, c.in, c.w, &c.s);
    float *din2 = calloc(nin, sizeof(float)), *dw2 = calloc(nw, sizeof(float));
    lr_conv_backward(din2, dw2, c.col, c.r, c.in, c.w, &c.s);
    size_t bad_din = 0, bad_dw = 0;
    for (size_t i = 0; i < nin; i++) bad_din += !(fabsf(din[i] - 2 * din2[i]) <= 1e-5f + 1e-5f * fabsf(2 * din2[i]));
    for (size_t i = 0; i < nw; i++) bad_dw += !(fabsf(dw[i] - 2 * dw2[i]) <= 1e-5f + 1e-5f * fabsf(2 * dw2[i]));
    CHECK_MSG(bad_din == 0 && bad_dw == 0, "%s: %zu of %zu d_in and %zu of %zu d_w do not accumulate", name, bad_din,
              nin, bad_dw, nw);
    free(din2), free(dw2);
    free(c.in), free(c.w), free(c.out), free(c.r), free(c.col), free(din), free(dw);
    gsl_rng_free(rng);
}

static void test_conv2d_grad(void)
{
    int in[3] = {1, 9, 8}, k3[3] = {1, 3, 3}, k7[3] = {1, 7, 7}, k1[3] = {1, 1, 1};
    int s1[3] = {1, 1, 1}, s2[3] = {1, 2, 2}, p0[3] = {0, 0, 0}, p1[3] = {0, 1, 1}, p3[3] = {0, 3, 3};
    check_conv("conv3x3", 2, 3, 4, in, k3, s1, p1, 1);
    check_conv("conv3x3s2", 2, 3, 4, in, k3, s2, p1, 2);
    check_conv("conv7x7s2", 2, 2, 3, in, k7, s2, p3, 3);
    check_conv("conv1x1", 2, 3, 5, in, k1, s1, p0, 4);
    check_conv("conv1x1s2", 2, 3, 5, in, k1, s2, p0, 5);
}

static void test_conv3d_grad(void)
{
    int in[3] = {5, 6, 7}, k3[3] = {3, 3, 3}, k1[3] = {1, 1, 1}, ks[3] = {3, 7, 7};
    int s1[3] = {1, 1, 1}, s2[3] = {2, 2, 2}, ss[3] = {1, 2, 2};
    int p0[3] = {0, 0, 0}, p1[3] = {1, 1, 1}, pst[3] = {1, 3, 3};
    int wide[3] = {3, 9, 10}; /* 3×3 tiles per plane: the Winograd path */
    check_conv("conv3d", 2, 2, 3, in, k3, s1, p1, 11);
    check_conv("conv3d_winograd", 2, 2, 3, wide, k3, s1, p1, 15);
    lr_conv_shape ws;
    CHECK(lr_conv_shape_init(&ws, 2, 2, 3, wide, k3, s1, p1) == 0 && lr_winograd_eligible(&ws));
    check_conv("conv3d_s2", 2, 2, 3, in, k3, s2, p1, 12);
    check_conv("conv3d_stem", 1, 1, 2, in, ks, ss, pst, 13);
    check_conv("conv3d_1x1s2", 2, 3, 2, in, k1, s2, p0, 14);
}

/* ---- Winograd fast path against the im2col reference ---- */

/* d = 1: a 3×3 2D conv; d > 1: a 3×3×3 3D conv over d planes (pad 1 in depth too) */
static void check_winograd_3d(int n, int cin, int cout, int d, int h, int w, int id)
{
    gsl_rng *rng = test_rng(id);
    int deep = d > 1;
    int in[3] = {d, h, w}, k[3] = {deep ? 3 : 1, 3, 3}, st[3] = {1, 1, 1}, pd[3] = {deep, 1, 1};
    lr_conv_shape s;
    CHECK(lr_conv_shape_init(&s, n, cin, cout, in, k, st, pd) == 0);
    CHECK(lr_winograd_eligible(&s));
    size_t nin = (size_t)cin * n * d * h * w, nout = (size_t)cout * n * d * h * w;
    size_t nw = (size_t)cout * cin * 9 * (deep ? 3 : 1);
    float *x = malloc(sizeof(float) * nin), *wt = malloc(sizeof(float) * nw), *dy = malloc(sizeof(float) * nout);
    float *y_ref = malloc(sizeof(float) * nout), *y = malloc(sizeof(float) * nout);
    float *dx_ref = calloc(nin, sizeof(float)), *dx = calloc(nin, sizeof(float));
    float *ws = malloc(sizeof(float) * lr_conv_workspace(&s));
    fill(x, nin, rng, -1, 1), fill(wt, nw, rng, -1, 1), fill(dy, nout, rng, -1, 1);
    lr_conv_forward_im2col(y_ref, ws, x, wt, &s);
    lr_conv_forward(y, ws, x, wt, &s); /* eligible: the Winograd path */
    lr_conv_backward_im2col(dx_ref, NULL, ws, dy, x, wt, &s);
    lr_conv_backward(dx, NULL, ws, dy, x, wt, &s);
    float *dw_ref = calloc(nw, sizeof(float)), *dw = calloc(nw, sizeof(float));
    lr_conv_backward_im2col(NULL, dw_ref, ws, dy, x, wt, &s);
    lr_conv_backward(NULL, dw, ws, dy, x, wt, &s);
    /* both gradients in one call (one transform of dout) agree with the separate calls */
    float *dx2 = calloc(nin, sizeof(float)), *dw2 = calloc(nw, sizeof(float));
    lr_conv_backward(dx2, dw2, ws, dy, x, wt, &s);
    CHECK(!memcmp(dx2, dx, sizeof(float) * nin) && !memcmp(dw2, dw, sizeof(float) * nw));
    free(dx2), free(dw2);
    double ew = 0, sw = 0;
    for (size_t i = 0; i < nw; i++) ew = fmax(ew, fabs(dw[i] - dw_ref[i])), sw = fmax(sw, fabs(dw_ref[i]));
    CHECK_MSG(ew <= 1e-5 * sw, "weights %dx%d: max diff %g, scale %g", h, w, ew, sw);
    free(dw_ref), free(dw);
    double ey = 0, ex = 0, sy = 0, sx = 0;
    for (size_t i = 0; i < nout; i++) ey = fmax(ey, fabs(y[i] - y_ref[i])), sy = fmax(sy, fabs(y_ref[i]));
    for (size_t i = 0; i < nin; i++) ex = fmax(ex, fabs(dx[i] - dx_ref[i])), sx = fmax(sx, fabs(dx_ref[i]));
    CHECK_MSG(ey <= 1e-5 * sy, "forward %dx%d: max diff %g, scale %g", h, w, ey, sy);
    CHECK_MSG(ex <= 1e-5 * sx, "backward %dx%d: max diff %g, scale %g", h, w, ex, sx);
    free(x), free(wt), free(dy), free(y_ref), free(y), free(dx_ref), free(dx), free(ws);
    gsl_rng_free(rng);
}

static void check_winograd(int n, int cin, int cout, int h, int w, int id)
{
    check_winograd_3d(n, cin, cout, 1, h, w, id);
}

static void test_winograd_matches_im2col(void)
{
    check_winograd(2, 3, 5, 8, 8, 60);   /* whole tiles */
    check_winograd(3, 4, 2, 9, 7, 61);   /* odd maps: partial tiles at the edges */
    check_winograd(1, 16, 24, 18, 18, 62);
    check_winograd(2, 5, 3, 5, 6, 63);
    check_winograd(4, 8, 6, 3, 3, 64);   /* one tile, mostly outside the map (ResNet18's last stage) */
    check_winograd(2, 3, 4, 7, 150, 65); /* more tiles in a row than one chunk */
    check_winograd(4, 64, 64, 18, 18, 66); /* ResNet18 layer1 at full width, a batch of 4 */
    lr_conv_shape s;
    int in2[3] = {1, 2, 2}, k[3] = {1, 3, 3}, st[3] = {1, 1, 1}, pd[3] = {0, 1, 1};
    CHECK(lr_conv_shape_init(&s, 1, 4, 4, in2, k, st, pd) == 0);
    CHECK(!lr_winograd_eligible(&s)); /* a 2×2 map: one 4×4 tile saves nothing */
}

/* A conv whose unkept im2col columns are made a block of output planes at a time (a 3D stem: columns 37×
 * the input), against direct loops: forward, input and weight gradients. */
static void test_im2col_blocks_match_direct(void)
{
    gsl_rng *rng = test_rng(80);
    int in[3] = {8, 32, 32}, k[3] = {3, 7, 7}, st[3] = {1, 2, 2}, pd[3] = {1, 3, 3};
    const int n = 2, cin = 3, cout = 2;
    lr_conv_shape s;
    CHECK(lr_conv_shape_init(&s, n, cin, cout, in, k, st, pd) == 0);
    const int Do = s.out[0], Ho = s.out[1], Wo = s.out[2];
    size_t nin = (size_t)cin * n * lr_conv_in_plane(&s), nout = (size_t)cout * n * lr_conv_out_plane(&s);
    size_t nw = (size_t)cout * lr_conv_k(&s), full = lr_conv_k(&s) * n * lr_conv_out_plane(&s);
    CHECK_MSG(lr_conv_workspace(&s) * 2 < full, "workspace %zu floats, full columns %zu: not blocked",
              lr_conv_workspace(&s), full);
    float *x = malloc(sizeof(float) * nin), *wt = malloc(sizeof(float) * nw), *dy = malloc(sizeof(float) * nout);
    float *y = malloc(sizeof(float) * nout), *ws = malloc(sizeof(float) * lr_conv_workspace(&s));
    float *dx = calloc(nin, sizeof(float)), *dw = calloc(nw, sizeof(float));
    double *y_ref = calloc(nout, sizeof(double)), *dx_ref = calloc(nin, sizeof(double)), *dw_ref = calloc(nw, sizeof(double));
    fill(x, nin, rng, -1, 1), fill(wt, nw, rng, -1, 1), fill(dy, nout, rng, -1, 1);
    lr_conv_forward(y, ws, x, wt, &s);
    lr_conv_backward(dx, dw, ws, dy, x, wt, &s);
    for (int co = 0; co < cout; co++)
        for (int b = 0; b < n; b++)
            for (int od = 0; od < Do; od++)
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++) {
                        size_t o = ((((size_t)co * n + b) * Do + od) * Ho + oh) * Wo + ow;
                        for (int ci = 0; ci < cin; ci++)
                            for (int kd = 0; kd < 3; kd++)
                                for (int kh = 0; kh < 7; kh++)
                                    for (int kw = 0; kw < 7; kw++) {
                                        int id = od - 1 + kd, ih = 2 * oh - 3 + kh, iw = 2 * ow - 3 + kw;
                                        if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2]) continue;
                                        size_t i = ((((size_t)ci * n + b) * in[0] + id) * in[1] + ih) * in[2] + iw;
                                        size_t j = (((size_t)co * cin + ci) * 3 + kd) * 49 + kh * 7 + kw;
                                        y_ref[o] += (double)wt[j] * x[i];
                                        dx_ref[i] += (double)wt[j] * dy[o];
                                        dw_ref[j] += (double)dy[o] * x[i];
                                    }
                    }
    double ey = 0, sy = 0, ex = 0, sx = 0, ew = 0, sw = 0;
    for (size_t i = 0; i < nout; i++) ey = fmax(ey, fabs(y[i] - y_ref[i])), sy = fmax(sy, fabs(y_ref[i]));
    for (size_t i = 0; i < nin; i++) ex = fmax(ex, fabs(dx[i] - dx_ref[i])), sx = fmax(sx, fabs(dx_ref[i]));
    for (size_t i = 0; i < nw; i++) ew = fmax(ew, fabs(dw[i] - dw_ref[i])), sw = fmax(sw, fabs(dw_ref[i]));
    CHECK_MSG(ey <= 1e-5 * sy, "forward: max diff %g, scale %g", ey, sy);
    CHECK_MSG(ex <= 1e-5 * sx, "input gradient: max diff %g, scale %g", ex, sx);
    CHECK_MSG(ew <= 1e-5 * sw, "weight gradient: max diff %g, scale %g", ew, sw);
    free(x), free(wt), free(dy), free(y), free(ws), free(dx), free(dw), free(y_ref), free(dx_ref), free(dw_ref);
    gsl_rng_free(rng);
}

/* F(1×4×4, 3×3×3): per depth plane, the depth taps as shifted GEMMs (against the vol2col reference) */
static void test_winograd_3d_matches_im2col(void)
{
    check_winograd_3d(2, 3, 5, 4, 8, 12, 70);   /* whole tiles, two volumes (taps cross no volume boundary) */
    check_winograd_3d(3, 4, 2, 2, 9, 7, 71);    /* two planes (each outer tap reaches one), partial tiles */
    check_winograd_3d(1, 8, 6, 5, 5, 10, 72);   /* tiles mostly outside the map */
    check_winograd_3d(2, 16, 8, 6, 18, 18, 73);
    check_winograd_3d(4, 3, 4, 3, 7, 150, 74); /* more tiles in a row than one chunk */
    lr_conv_shape s;
    int k[3] = {3, 3, 3}, st[3] = {1, 1, 1}, pd[3] = {1, 1, 1}, st2[3] = {2, 2, 2};
    int one[3] = {1, 12, 12}, vol[3] = {4, 12, 12}, small[3] = {4, 8, 8};
    CHECK(lr_conv_shape_init(&s, 1, 4, 4, one, k, st, pd) == 0);
    CHECK(!lr_winograd_eligible(&s)); /* one plane: the vol2col path */
    CHECK(lr_conv_shape_init(&s, 1, 4, 4, vol, k, st2, pd) == 0);
    CHECK(!lr_winograd_eligible(&s)); /* strided */
    CHECK(lr_conv_shape_init(&s, 4, 4, 4, small, k, st, pd) == 0);
    CHECK(!lr_winograd_eligible(&s)); /* 2×2 tiles per plane: too few for 3D Winograd to pay */
    CHECK(lr_conv_shape_init(&s, 4, 4, 4, vol, k, st, pd) == 0);
    CHECK(lr_winograd_eligible(&s));
}

/* ---- batch norm (train mode), with residual and ReLU ---- */

typedef struct {
    lr_bn_shape s;
    float *in, *gamma, *beta, *out, *res, *r, *mean, *invstd, *rmean, *rvar;
    int relu;
} bn_ctx;

static double bn_loss(void *p)
{
    bn_ctx *b = p;
    lr_batchnorm_forward(b->out, b->mean, b->invstd, b->rmean, b->rvar, b->in, b->gamma, b->beta, b->res, b->relu,
                         1, &b->s);
    return dot(b->out, b->r, (size_t)b->s.channels * b->s.m);
}

static void check_bn(int relu, int residual)
{
    gsl_rng *rng = test_rng(20 + relu + 2 * residual);
    bn_ctx b = {.s = {3, 24, LR_BN_MOMENTUM, LR_BN_EPS}};
    size_t n = 3 * 24;
    b.relu = relu;
    b.in = malloc(sizeof(float) * n), b.out = malloc(sizeof(float) * n), b.r = malloc(sizeof(float) * n);
    b.res = residual ? malloc(sizeof(float) * n) : NULL;
    float st[7][3];
    b.gamma = st[0], b.beta = st[1], b.mean = st[2], b.invstd = st[3], b.rmean = st[4], b.rvar = st[5];
    fill(b.in, n, rng, -2, 3);
    fill(b.r, n, rng, -1, 1);
    if (residual) fill(b.res, n, rng, -1, 1);
    fill(b.gamma, 3, rng, 0.5, 1.5);
    fill(b.beta, 3, rng, -0.3, 0.3);
    float dgamma[3] = {0}, dbeta[3] = {0}, *din = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n);
    bn_loss(&b);
    memcpy(d, b.r, sizeof(float) * n);
    /* the fused ReLU's mask: given to backward (fused) or applied first (as for a block output) */
    if (relu && residual) lr_relu_backward(d, b.out, n);
    const float *relu_out = relu && !residual ? b.out : NULL;
    lr_batchnorm_backward(din, dgamma, dbeta, d, b.in, relu_out, b.mean, b.invstd, b.gamma, &b.s);
    CHECK(fd_check("bn d_in", b.in, n, din, bn_loss, &b, 1e-3f, 5e-3));
    CHECK(fd_check("bn d_gamma", b.gamma, 3, dgamma, bn_loss, &b, 1e-3f, 5e-3));
    CHECK(fd_check("bn d_beta", b.beta, 3, dbeta, bn_loss, &b, 1e-3f, 5e-3));
    /* in-place backward gives the same */
    lr_batchnorm_backward(d, dgamma, dbeta, d, b.in, relu_out, b.mean, b.invstd, b.gamma, &b.s);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += !(fabsf(d[i] - din[i]) <= 1e-6f + 1e-6f * fabsf(din[i]));
    CHECK_MSG(differ == 0, "in-place backward differs at %zu of %zu elements", differ, n);
    free(b.in), free(b.out), free(b.r), free(b.res), free(din), free(d);
    gsl_rng_free(rng);
}

static void test_batchnorm_grad(void)
{
    check_bn(0, 0);
    check_bn(1, 0);
    check_bn(1, 1);
}

static void test_batchnorm_running_stats(void)
{
    /* one channel, values 1..4: mean 2.5, biased var 1.25, unbiased 5/3 */
    float in[4] = {1, 2, 3, 4}, out[4], g = 1, b = 0, mean, invstd, rm = 0, rv = 1;
    lr_bn_shape s = {1, 4, LR_BN_MOMENTUM, LR_BN_EPS};
    lr_batchnorm_forward(out, &mean, &invstd, &rm, &rv, in, &g, &b, NULL, 0, 1, &s);
    CHECK_CLOSE(rm, 0.25, 1e-6, 0);
    CHECK_CLOSE(rv, 0.9 + 0.1 * 5.0 / 3.0, 1e-6, 0);
    CHECK_CLOSE(out[0], -1.5 / sqrt(1.25 + 1e-5), 1e-5, 0);
    /* eval mode uses the running statistics */
    lr_batchnorm_forward(out, &mean, &invstd, &rm, &rv, in, &g, &b, NULL, 0, 0, &s);
    CHECK_CLOSE(out[3], (4 - 0.25) / sqrt(rv + 1e-5), 1e-5, 0);
}

/* ---- ReLU, max pool, average pool, linear ---- */

typedef struct {
    lr_conv_shape s;
    float *in, *out, *r;
    int32_t *idx;
    int kind; /* 0 relu, 1 maxpool, 2 avgpool */
} pool_ctx;

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    size_t nin = (size_t)c->s.cin * c->s.n * lr_conv_in_plane(&c->s);
    if (c->kind == 0) {
        lr_relu_forward(c->out, c->in, nin);
        return dot(c->out, c->r, nin);
    }
    if (c->kind == 1) {
        lr_maxpool_forward(c->out, c->idx, c->in, &c->s);
        return dot(c->out, c->r, (size_t)c->s.cin * c->s.n * lr_conv_out_plane(&c->s));
    }
    lr_avgpool_forward(c->out, c->in, c->s.n, c->s.cin, lr_conv_in_plane(&c->s));
    return dot(c->out, c->r, (size_t)c->s.n * c->s.cin);
}

static void check_pool(int kind, const int in[3], const int k[3], const int st[3], const int pd[3])
{
    gsl_rng *rng = test_rng(30 + kind);
    pool_ctx c = {.kind = kind};
    CHECK(lr_conv_shape_init(&c.s, 2, 3, 3, in, k, st, pd) == 0);
    size_t nin = (size_t)3 * 2 * lr_conv_in_plane(&c.s);
    c.in = malloc(sizeof(float) * nin);
    c.out = malloc(sizeof(float) * nin);
    c.r = malloc(sizeof(float) * nin);
    c.idx = malloc(sizeof(int32_t) * nin);
    float *din = malloc(sizeof(float) * nin);
    /* distinct values, away from 0 and from each other by more than the FD step */
    for (size_t i = 0; i < nin; i++) c.in[i] = (float)(((i * 7919) % nin) * 0.05 - nin * 0.025 + 0.013);
    fill(c.r, nin, rng, -1, 1);
    pool_loss(&c);
    if (kind == 0) {
        memcpy(din, c.r, sizeof(float) * nin);
        lr_relu_backward(din, c.out, nin);
    } else if (kind == 1) {
        lr_maxpool_backward(din, c.r, c.idx, &c.s);
    } else {
        lr_avgpool_backward(din, c.r, 2, 3, lr_conv_in_plane(&c.s));
    }
    CHECK(fd_check(kind == 0 ? "relu" : kind == 1 ? "maxpool" : "avgpool", c.in, nin, din, pool_loss, &c, 1e-2f,
                   1e-3));
    free(c.in), free(c.out), free(c.r), free(c.idx), free(din);
    gsl_rng_free(rng);
}

static void test_relu_pool_grad(void)
{
    int in2[3] = {1, 7, 6}, in3[3] = {4, 5, 5}, k2[3] = {1, 3, 3}, k3[3] = {3, 3, 3};
    int s2[3] = {1, 2, 2}, s3[3] = {2, 2, 2}, p2[3] = {0, 1, 1}, p3[3] = {1, 1, 1};
    check_pool(0, in2, k2, s2, p2);
    check_pool(1, in2, k2, s2, p2);
    check_pool(1, in3, k3, s3, p3);
    check_pool(2, in3, k3, s3, p3);
}

static void test_maxpool_ties(void)
{
    /* all-equal window: the gradient goes to the first element in scan order (PyTorch's choice) */
    int in[3] = {1, 2, 2}, k[3] = {1, 2, 2}, st[3] = {1, 2, 2}, pd[3] = {0, 0, 0};
    lr_conv_shape s;
    lr_conv_shape_init(&s, 1, 1, 1, in, k, st, pd);
    float x[4] = {0, 0, 0, 0}, y, dy = 1, dx[4];
    int32_t idx;
    lr_maxpool_forward(&y, &idx, x, &s);
    lr_maxpool_backward(dx, &dy, &idx, &s);
    CHECK(dx[0] == 1 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0);
}

/* The plain kh-major scan with PyTorch's rule (a greater value or a NaN replaces the running maximum). */
static void maxpool_reference(float *y, int32_t *idx, const float *x, int H, int W, int Ho, int Wo)
{
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            float best = 0;
            int32_t bi = -1;
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    int ih = 2 * oh - 1 + kh, iw = 2 * ow - 1 + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    float v = x[ih * W + iw];
                    if (bi < 0 || v > best || v != v) best = v, bi = ih * W + iw;
                }
            y[oh * Wo + ow] = best;
            idx[oh * Wo + ow] = bi;
        }
}

/* The stem pool's fast path (3×3, stride 2, pad 1) against the scan: many ties (ReLU zeros, a few
 * levels) and NaNs, even and odd map sizes, several planes. */
static void test_maxpool_fast_path(void)
{
    gsl_rng *rng = test_rng(80);
    const int sizes[4][2] = {{36, 36}, {7, 6}, {5, 9}, {2, 3}};
    for (int t = 0; t < 4; t++) {
        int H = sizes[t][0], W = sizes[t][1], C = 3, N = 2;
        int in[3] = {1, H, W}, k[3] = {1, 3, 3}, st[3] = {1, 2, 2}, pd[3] = {0, 1, 1};
        lr_conv_shape s;
        CHECK(lr_conv_shape_init(&s, N, C, C, in, k, st, pd) == 0);
        int Ho = s.out[1], Wo = s.out[2];
        size_t nin = (size_t)C * N * H * W, nout = (size_t)C * N * Ho * Wo;
        float *x = malloc(sizeof(float) * nin), *y = malloc(sizeof(float) * nout), *yr = malloc(sizeof(float) * nout);
        int32_t *idx = malloc(sizeof(int32_t) * nout), *idxr = malloc(sizeof(int32_t) * nout);
        for (size_t i = 0; i < nin; i++) {
            double u = gsl_rng_uniform(rng);
            x[i] = u < 0.4 ? 0.0f : u < 0.97 ? (float)gsl_rng_uniform_int(rng, 4) : NAN;
        }
        lr_maxpool_forward(y, idx, x, &s);
        int same = 1;
        for (int p = 0; p < C * N; p++) {
            maxpool_reference(yr + (size_t)p * Ho * Wo, idxr + (size_t)p * Ho * Wo, x + (size_t)p * H * W, H, W, Ho, Wo);
        }
        for (size_t i = 0; i < nout; i++)
            if (idx[i] != idxr[i] || !(y[i] == yr[i] || (y[i] != y[i] && yr[i] != yr[i]))) same = 0;
        CHECK_MSG(same, "%dx%d: fast path differs from the scan", H, W);
        free(x), free(y), free(yr), free(idx), free(idxr);
    }
    gsl_rng_free(rng);
}

typedef struct {
    float *x, *w, *b, *y, *r;
    int n, in, out;
} linear_ctx;

static double linear_loss(void *p)
{
    linear_ctx *c = p;
    lr_linear_forward(c->y, c->x, c->w, c->b, c->n, c->in, c->out);
    return dot(c->y, c->r, (size_t)c->n * c->out);
}

static void test_linear_grad(void)
{
    gsl_rng *rng = test_rng(40);
    linear_ctx c = {.n = 3, .in = 5, .out = 2};
    float x[15], w[10], b[2], y[6], r[6], dx[15], dw[10] = {0}, db[2] = {0};
    c.x = x, c.w = w, c.b = b, c.y = y, c.r = r;
    fill(x, 15, rng, -1, 1), fill(w, 10, rng, -1, 1), fill(b, 2, rng, -1, 1), fill(r, 6, rng, -1, 1);
    linear_loss(&c);
    lr_linear_backward(dx, dw, db, r, x, w, 3, 5, 2);
    CHECK(fd_check("linear d_x", x, 15, dx, linear_loss, &c, 1e-2f, 1e-3));
    CHECK(fd_check("linear d_w", w, 10, dw, linear_loss, &c, 1e-2f, 1e-3));
    CHECK(fd_check("linear d_b", b, 2, db, linear_loss, &c, 1e-2f, 1e-3));
    gsl_rng_free(rng);
}

static void test_layout_roundtrip(void)
{
    float a[24], b[24], c[24];
    for (int i = 0; i < 24; i++) a[i] = (float)i;
    lr_nc_to_cn(b, a, 2, 3, 4);
    CHECK(b[4] == 12.0f); /* (c=0, n=1) plane starts at a[(1·3+0)·4] */
    lr_cn_to_nc(c, b, 2, 3, 4);
    CHECK(!memcmp(a, c, sizeof a));
}

/* ---- whole network: finite differences through a tiny ResNet18 (train-mode BN) ---- */

typedef struct {
    lr_net *net;
    float *x, *r;
    int n, dims[3];
} net_ctx;

static double net_loss(void *p)
{
    net_ctx *c = p;
    lr_err err;
    lr_net_forward(c->net, c->x, c->n, c->dims, 1, &err);
    return dot(lr_net_output(c->net), c->r, (size_t)c->n * c->net->cfg.out_size);
}

static void test_net_grad(void)
{
    lr_err err;
    gsl_rng *rng = test_rng(50);
    lr_net_config cfg = {LR_ARCH_RESNET18, 1, 2, 2};
    net_ctx c = {.n = 4, .dims = {1, 64, 64}};
    c.net = lr_net_create(&cfg, rng, &err);
    CHECK_MSG(c.net, "%s", err.msg);
    if (!c.net) return;
    size_t nx = (size_t)c.n * 64 * 64;
    float *x = malloc(sizeof(float) * nx), r[8];
    c.x = x, c.r = r;
    fill(x, nx, rng, -1, 1);
    fill(r, 8, rng, -1, 1);
    /* running statistics change on every train forward but do not enter the train-mode loss */
    net_loss(&c);
    lr_net_zero_grad(c.net);
    CHECK(lr_net_backward(c.net, r, NULL, &err) == 0);
    float *g = malloc(sizeof(float) * c.net->n_params);
    memcpy(g, c.net->grads, sizeof(float) * c.net->n_params);
    /* conv1.weight is left out: a stem weight moves thousands of pre-activations across ReLU and max-pool
     * kinks, so its finite difference is noise at any fp32 step (the PyTorch parity test covers it). */
    const char *keys[] = {"layer1.0.bn1.weight", "layer2.0.downsample.0.weight", "layer3.0.conv1.weight",
                          "layer4.1.conv2.weight", "fc.bias"};
    for (int i = 0; i < 5; i++) {
        const lr_tensor *t = lr_net_tensor(c.net, keys[i]);
        CHECK(t != NULL);
        if (!t) continue;
        /* fp32 through 20 layers: a loose tolerance, the layer tests above are the precise ones */
        CHECK_MSG(fd_check(keys[i], c.net->params + t->offset, t->numel, g + t->offset, net_loss, &c, 5e-4f, 5e-2),
                  "%s", keys[i]);
    }
    free(x), free(g);
    lr_net_free(c.net);
    gsl_rng_free(rng);
}

int main(void)
{
    RUN(test_conv2d_grad);
    RUN(test_conv3d_grad);
    RUN(test_winograd_matches_im2col);
    RUN(test_winograd_3d_matches_im2col);
    RUN(test_im2col_blocks_match_direct);
    RUN(test_batchnorm_grad);
    RUN(test_batchnorm_running_stats);
    RUN(test_relu_pool_grad);
    RUN(test_maxpool_ties);
    RUN(test_maxpool_fast_path);
    RUN(test_linear_grad);
    RUN(test_layout_roundtrip);
    RUN(test_net_grad);
    return TEST_SUMMARY();
}
