/* Linear layer, element-wise layers (ReLU, residual add) and layout changes at the network boundary. */
#include <blis.h>
#include <string.h>

#include "nn/layers.h"

void lr_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    float one = 1.0f;
    /* y[N][O] = b (broadcast), then y += x[N][I] · wᵀ (w read as I×O through strides 1, I) */
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * out);
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, out, in, &one, (float *)x, in, 1, (float *)w, 1, in, &one, y,
              out, 1);
}

void lr_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n,
                        int in, int out)
{
    float one = 1.0f, zero = 0.0f;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
    /* dw[O][I] += dyᵀ (O×N through strides 1, O) · x[N][I] */
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, out, in, n, &one, (float *)dy, 1, out, (float *)x, in, 1, &one,
              dw, in, 1);
    if (!dx) return;
    /* dx[N][I] = dy[N][O] · w[O][I] */
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, in, out, &one, (float *)dy, out, 1, (float *)w, in, 1, &zero,
              dx, in, 1);
}

void lr_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void lr_relu_backward(float *d, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(out[i] > 0.0f)) d[i] = 0.0f;
}

void lr_add(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] += in[i];
}

void lr_nc_to_cn(float *dst, const float *src, int n, int c, size_t plane)
{
    for (int ni = 0; ni < n; ni++)
        for (int ci = 0; ci < c; ci++)
            memcpy(dst + ((size_t)ci * n + ni) * plane, src + ((size_t)ni * c + ci) * plane, sizeof(float) * plane);
}

void lr_cn_to_nc(float *dst, const float *src, int n, int c, size_t plane)
{
    for (int ci = 0; ci < c; ci++)
        for (int ni = 0; ni < n; ni++)
            memcpy(dst + ((size_t)ni * c + ci) * plane, src + ((size_t)ci * n + ni) * plane, sizeof(float) * plane);
}
