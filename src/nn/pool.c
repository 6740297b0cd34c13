/* Max pool (2D/3D) and global average pool over [C][N][plane] activations. */
#include <float.h>
#include <string.h>

#include "nn/layers.h"

void lr_maxpool_forward(float *out, int32_t *argmax, const float *in, const lr_conv_shape *s)
{
    const int Di = s->in[0], Hi = s->in[1], Wi = s->in[2];
    const int Do = s->out[0], Ho = s->out[1], Wo = s->out[2];
    const size_t pin = lr_conv_in_plane(s), pout = lr_conv_out_plane(s);
    for (size_t plane = 0; plane < (size_t)s->cin * s->n; plane++) {
        const float *x = in + plane * pin;
        float *y = out + plane * pout;
        int32_t *idx = argmax + plane * pout;
        for (int od = 0; od < Do; od++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    float best = -FLT_MAX;
                    int32_t best_i = -1;
                    for (int kd = 0; kd < s->k[0]; kd++) {
                        int id = od * s->stride[0] - s->pad[0] + kd;
                        if (id < 0 || id >= Di) continue;
                        for (int kh = 0; kh < s->k[1]; kh++) {
                            int ih = oh * s->stride[1] - s->pad[1] + kh;
                            if (ih < 0 || ih >= Hi) continue;
                            for (int kw = 0; kw < s->k[2]; kw++) {
                                int iw = ow * s->stride[2] - s->pad[2] + kw;
                                if (iw < 0 || iw >= Wi) continue;
                                int32_t i = (int32_t)(((size_t)id * Hi + ih) * Wi + iw);
                                if (best_i < 0 || x[i] > best || x[i] != x[i]) {
                                    best = x[i];
                                    best_i = i;
                                }
                            }
                        }
                    }
                    size_t o = ((size_t)od * Ho + oh) * Wo + ow;
                    y[o] = best;
                    idx[o] = best_i;
                }
    }
}

void lr_maxpool_backward(float *din, const float *dout, const int32_t *argmax, const lr_conv_shape *s)
{
    const size_t pin = lr_conv_in_plane(s), pout = lr_conv_out_plane(s);
    memset(din, 0, sizeof(float) * (size_t)s->cin * s->n * pin);
    for (size_t plane = 0; plane < (size_t)s->cin * s->n; plane++) {
        float *dx = din + plane * pin;
        const float *dy = dout + plane * pout;
        const int32_t *idx = argmax + plane * pout;
        for (size_t o = 0; o < pout; o++) dx[idx[o]] += dy[o];
    }
}

void lr_avgpool_forward(float *emb, const float *in, int n, int c, size_t plane)
{
    for (int ci = 0; ci < c; ci++)
        for (int ni = 0; ni < n; ni++) {
            const float *x = in + ((size_t)ci * n + ni) * plane;
            double sum = 0.0;
            for (size_t i = 0; i < plane; i++) sum += x[i];
            emb[(size_t)ni * c + ci] = (float)(sum / (double)plane);
        }
}

void lr_avgpool_backward(float *din, const float *demb, int n, int c, size_t plane)
{
    for (int ci = 0; ci < c; ci++)
        for (int ni = 0; ni < n; ni++) {
            float *dx = din + ((size_t)ci * n + ni) * plane;
            float g = demb[(size_t)ni * c + ci] / (float)plane;
            for (size_t i = 0; i < plane; i++) dx[i] = g;
        }
}
