/* Batch normalisation over [C][M], fused with residual add and ReLU in one pass; statistics in fp64. */
#include <math.h>

#include "nn/layers.h"

/* Σx and Σ(x−shift)² in fp64 with four independent accumulators each (a single fp64 chain is latency
 * bound; fp32 would lose digits over 50k-element channels). */
static void sum_and_sq(const float *x, size_t m, double *sum_out, double *sq_out)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4) s0 += x[i], s1 += x[i + 1], s2 += x[i + 2], s3 += x[i + 3];
    for (; i < m; i++) s0 += x[i];
    double sum = (s0 + s1) + (s2 + s3), mu = sum / (double)m;
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (i = 0; i + 4 <= m; i += 4) {
        double d0 = x[i] - mu, d1 = x[i + 1] - mu, d2 = x[i + 2] - mu, d3 = x[i + 3] - mu;
        q0 += d0 * d0, q1 += d1 * d1, q2 += d2 * d2, q3 += d3 * d3;
    }
    for (; i < m; i++) q0 += (x[i] - mu) * (x[i] - mu);
    *sum_out = sum;
    *sq_out = (q0 + q1) + (q2 + q3);
}

/* Σg and Σg·(x−mean), g = dy masked by relu_out > 0 when relu_out is given; four chains each. */
static void grad_sums(const float *dy, const float *x, const float *relu_out, float mean, size_t m, double *sum_out,
                      double *dot_out)
{
    double s[4] = {0, 0, 0, 0}, d[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= m; i += 4)
        for (int k = 0; k < 4; k++) {
            float g = relu_out && !(relu_out[i + k] > 0.0f) ? 0.0f : dy[i + k];
            s[k] += g;
            d[k] += (double)g * (x[i + k] - mean);
        }
    for (; i < m; i++) {
        float g = relu_out && !(relu_out[i] > 0.0f) ? 0.0f : dy[i];
        s[0] += g;
        d[0] += (double)g * (x[i] - mean);
    }
    *sum_out = (s[0] + s[1]) + (s[2] + s[3]);
    *dot_out = (d[0] + d[1]) + (d[2] + d[3]);
}

void lr_batchnorm_forward(float *out, float *saved_mean, float *saved_invstd, float *running_mean,
                          float *running_var, const float *in, const float *gamma, const float *beta,
                          const float *residual, int relu, int train, const lr_bn_shape *s)
{
    const size_t M = s->m;
    for (int c = 0; c < s->channels; c++) {
        const float *x = in + (size_t)c * M;
        float mean, invstd;
        if (train) {
            double sum, sq;
            sum_and_sq(x, M, &sum, &sq);
            double mu = sum / (double)M;
            double var = sq / (double)M;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + s->eps));
            saved_mean[c] = mean;
            saved_invstd[c] = invstd;
            double unbiased = M > 1 ? sq / (double)(M - 1) : var;
            running_mean[c] = (1.0f - s->momentum) * running_mean[c] + s->momentum * (float)mu;
            running_var[c] = (1.0f - s->momentum) * running_var[c] + s->momentum * (float)unbiased;
        } else {
            mean = running_mean[c];
            invstd = (float)(1.0 / sqrt((double)running_var[c] + s->eps));
        }
        /* out = x·scale + shift */
        float scale = gamma[c] * invstd, shift = beta[c] - mean * scale;
        float *y = out + (size_t)c * M;
        const float *r = residual ? residual + (size_t)c * M : NULL;
        if (r && relu)
            for (size_t i = 0; i < M; i++) {
                float v = x[i] * scale + shift + r[i];
                y[i] = v > 0.0f ? v : 0.0f;
            }
        else if (r)
            for (size_t i = 0; i < M; i++) y[i] = x[i] * scale + shift + r[i];
        else if (relu)
            for (size_t i = 0; i < M; i++) {
                float v = x[i] * scale + shift;
                y[i] = v > 0.0f ? v : 0.0f;
            }
        else
            for (size_t i = 0; i < M; i++) y[i] = x[i] * scale + shift;
    }
}

void lr_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                           const float *relu_out, const float *saved_mean, const float *saved_invstd,
                           const float *gamma, const lr_bn_shape *s)
{
    const size_t M = s->m;
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
        float *dx = din + (size_t)c * M;
        if (z)
            for (size_t i = 0; i < M; i++) {
                float g = z[i] > 0.0f ? dy[i] : 0.0f;
                dx[i] = k * (g - mean_dy - (x[i] - mean) * proj);
            }
        else
            for (size_t i = 0; i < M; i++) dx[i] = k * (dy[i] - mean_dy - (x[i] - mean) * proj);
    }
}
