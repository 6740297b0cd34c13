/* Batch normalisation over [C][M], fused with residual add and ReLU in one pass; statistics in fp64.
 * Channels are split over OpenMP threads (one channel, one thread: no cross-thread sums), and each
 * channel's sums run in LANES fixed partial sums combined in a fixed order, which the compiler turns
 * into vector code; the result is the same for any thread count. */
#pragma GCC diagnostic ignored "-Wpsabi" /* static inline vector helpers, inlined into each ISA clone */
#include <math.h>
#include <string.h>

#include "nn/layers.h"
#include "nn/engine.h"

#define LANES 8

/* GCC/Clang vector extensions: 8 float lanes, split into two halves of 4 doubles for the sums. The
 * partial sums are lanes 0..7 of one logical accumulator, combined in a fixed order. */
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

static inline v8f load8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline v4d low4(v8f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d); }
static inline v4d high4(v8f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d); }

static double combine(v4d lo, v4d hi)
{
    return ((lo[0] + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3]));
}

/* Σ(x−shift) and Σ(x−shift)² in fp64 (shift = x[0] keeps the one-pass variance exact enough). */
LR_SIMD_CLONES
static void shifted_sums(const float *x, size_t m, double shift, double *sum_out, double *sq_out)
{
    v4d s_lo = {0}, s_hi = {0}, q_lo = {0}, q_hi = {0}, sh = {shift, shift, shift, shift};
    size_t i = 0;
    for (; i + LANES <= m; i += LANES) {
        v8f v = load8(x + i);
        v4d d_lo = low4(v) - sh, d_hi = high4(v) - sh;
        s_lo += d_lo, s_hi += d_hi;
        q_lo += d_lo * d_lo, q_hi += d_hi * d_hi;
    }
    for (; i < m; i++) {
        double d = (double)x[i] - shift;
        s_lo[0] += d;
        q_lo[0] += d * d;
    }
    *sum_out = combine(s_lo, s_hi);
    *sq_out = combine(q_lo, q_hi);
}

/* Σg and Σg·(x−mean), g = dy masked by relu_out > 0 when relu_out is given. */
LR_SIMD_CLONES
static void grad_sums(const float *dy, const float *x, const float *relu_out, float mean, size_t m, double *sum_out,
                      double *dot_out)
{
    v4d s_lo = {0}, s_hi = {0}, d_lo = {0}, d_hi = {0};
    const v8f mu = {mean, mean, mean, mean, mean, mean, mean, mean}, zero = {0};
    size_t i = 0;
    for (; i + LANES <= m; i += LANES) {
        v8f g = load8(dy + i);
        if (relu_out) g = (v8f)((v8i)g & (load8(relu_out + i) > zero)); /* g where relu_out > 0, else +0 */
        v8f xc = load8(x + i) - mu;
        v4d g_lo = low4(g), g_hi = high4(g);
        s_lo += g_lo, s_hi += g_hi;
        d_lo += g_lo * low4(xc), d_hi += g_hi * high4(xc);
    }
    for (; i < m; i++) {
        float g = relu_out && !(relu_out[i] > 0.0f) ? 0.0f : dy[i];
        s_lo[0] += g;
        d_lo[0] += (double)g * (double)(x[i] - mean);
    }
    *sum_out = combine(s_lo, s_hi);
    *dot_out = combine(d_lo, d_hi);
}

/* y = act(x·scale + shift (+ r)) */
LR_SIMD_CLONES
static void affine(float *y, const float *x, const float *r, float scale, float shift, int relu, size_t m)
{
    if (r && relu)
        for (size_t i = 0; i < m; i++) {
            float v = x[i] * scale + shift + r[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else if (r)
        for (size_t i = 0; i < m; i++) y[i] = x[i] * scale + shift + r[i];
    else if (relu)
        for (size_t i = 0; i < m; i++) {
            float v = x[i] * scale + shift;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else
        for (size_t i = 0; i < m; i++) y[i] = x[i] * scale + shift;
}

void lr_batchnorm_forward(float *out, float *saved_mean, float *saved_invstd, float *running_mean,
                          float *running_var, const float *in, const float *gamma, const float *beta,
                          const float *residual, int relu, int train, const lr_bn_shape *s)
{
    const size_t M = s->m;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < s->channels; c++) {
        const float *x = in + (size_t)c * M;
        float mean, invstd;
        if (train) {
            double shift = M ? (double)x[0] : 0.0, sum, sq;
            shifted_sums(x, M, shift, &sum, &sq);
            double mu_shifted = sum / (double)M;
            double centred = sq - sum * mu_shifted; /* Σ(x−μ)² */
            if (centred < 0.0) centred = 0.0;
            double mu = shift + mu_shifted, var = centred / (double)M;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + s->eps));
            saved_mean[c] = mean;
            saved_invstd[c] = invstd;
            double unbiased = M > 1 ? centred / (double)(M - 1) : var;
            running_mean[c] = (1.0f - s->momentum) * running_mean[c] + s->momentum * (float)mu;
            running_var[c] = (1.0f - s->momentum) * running_var[c] + s->momentum * (float)unbiased;
        } else {
            mean = running_mean[c];
            invstd = (float)(1.0 / sqrt((double)running_var[c] + s->eps));
        }
        float scale = gamma[c] * invstd, shift = beta[c] - mean * scale;
        affine(out + (size_t)c * M, x, residual ? residual + (size_t)c * M : NULL, scale, shift, relu, M);
    }
}

/* dx = k·(g − mean_dy − (x − mean)·proj), g masked by z > 0 when z is given; the masked g is also
 * written to dres (the residual branch's gradient) when dres is given. */
LR_SIMD_CLONES
static void input_grad(float *dx, float *dres, const float *dy, const float *x, const float *z, float k, float mean,
                       float mean_dy, float proj, size_t m)
{
    if (z && dres)
        for (size_t i = 0; i < m; i++) {
            float g = dy[i], zi = z[i];
            g = zi > 0.0f ? g : 0.0f;
            dres[i] = g;
            dx[i] = k * (g - mean_dy - (x[i] - mean) * proj);
        }
    else if (z)
        for (size_t i = 0; i < m; i++) {
            float g = dy[i], zi = z[i];
            g = zi > 0.0f ? g : 0.0f;
            dx[i] = k * (g - mean_dy - (x[i] - mean) * proj);
        }
    else
        for (size_t i = 0; i < m; i++) dx[i] = k * (dy[i] - mean_dy - (x[i] - mean) * proj);
}

void lr_batchnorm_backward_res(float *din, float *dres, float *dgamma, float *dbeta, const float *dout,
                               const float *in, const float *relu_out, const float *saved_mean,
                               const float *saved_invstd, const float *gamma, const lr_bn_shape *s)
{
    const size_t M = s->m;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < s->channels; c++) {
        const float *x = in + (size_t)c * M, *dy = dout + (size_t)c * M;
        const float *z = relu_out ? relu_out + (size_t)c * M : NULL;
        const float mean = saved_mean[c], invstd = saved_invstd[c];
        double sum_dy, sum_dy_xc;
        grad_sums(dy, x, z, mean, M, &sum_dy, &sum_dy_xc);
        dgamma[c] += (float)(sum_dy_xc * invstd);
        dbeta[c] += (float)sum_dy;
        /* dx = gamma·invstd·(dy − mean(dy) − xhat·mean(dy·xhat)) */
        float k = gamma[c] * invstd;
        float mean_dy = (float)(sum_dy / (double)M);
        float proj = (float)(sum_dy_xc / (double)M) * invstd * invstd; /* mean(dy·xhat)·invstd */
        input_grad(din + (size_t)c * M, dres ? dres + (size_t)c * M : NULL, dy, x, z, k, mean, mean_dy, proj, M);
    }
}

void lr_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                           const float *relu_out, const float *saved_mean, const float *saved_invstd,
                           const float *gamma, const lr_bn_shape *s)
{
    lr_batchnorm_backward_res(din, NULL, dgamma, dbeta, dout, in, relu_out, saved_mean, saved_invstd, gamma, s);
}

void lr_batchnorm_backward_eval(float *din, float *dres, const float *dout, const float *relu_out,
                                const float *running_var, const float *gamma, const lr_bn_shape *s)
{
    const size_t M = s->m;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < s->channels; c++) {
        const float *dy = dout + (size_t)c * M, *z = relu_out ? relu_out + (size_t)c * M : NULL;
        float *dx = din + (size_t)c * M, *dr = dres ? dres + (size_t)c * M : NULL;
        float k = gamma[c] * (float)(1.0 / sqrt((double)running_var[c] + s->eps));
        for (size_t i = 0; i < M; i++) {
            float g = z && !(z[i] > 0.0f) ? 0.0f : dy[i];
            if (dr) dr[i] = g;
            dx[i] = k * g;
        }
    }
}
