/* Batch normalisation over [C][M], fused with residual add and ReLU in one pass; statistics in fp64. */
#include <math.h>

#include "nn/layers.h"

void lr_batchnorm_forward(float *out, float *saved_mean, float *saved_invstd, float *running_mean,
                          float *running_var, const float *in, const float *gamma, const float *beta,
                          const float *residual, int relu, int train, const lr_bn_shape *s)
{
    const size_t M = s->m;
    for (int c = 0; c < s->channels; c++) {
        const float *x = in + (size_t)c * M;
        float mean, invstd;
        if (train) {
            double sum = 0.0, sq = 0.0;
            for (size_t i = 0; i < M; i++) sum += x[i];
            double mu = sum / (double)M;
            for (size_t i = 0; i < M; i++) {
                double d = x[i] - mu;
                sq += d * d;
            }
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
        double sum_dy = 0.0, sum_dy_xc = 0.0;
        if (z)
            for (size_t i = 0; i < M; i++) {
                float g = z[i] > 0.0f ? dy[i] : 0.0f;
                sum_dy += g;
                sum_dy_xc += (double)g * (x[i] - mean);
            }
        else
            for (size_t i = 0; i < M; i++) {
                sum_dy += dy[i];
                sum_dy_xc += (double)dy[i] * (x[i] - mean);
            }
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
