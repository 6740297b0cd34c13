/* Max pool (2D/3D) and global average pool over [C][N][plane] activations. */
#include <float.h>
#include <string.h>

#include "nn/layers.h"
#include "nn/engine.h"

/* Input index range [lo, hi) of the window of output o along one dim (clipped to the map). */
static void window(int o, int stride, int pad, int k, int n_in, int *lo, int *hi)
{
    int a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > n_in ? n_in : b;
}

/* One (c, n) plane. Scan order kd, kh, kw with the first maximum kept and NaN winning, as PyTorch. */
static void maxpool_plane(float *y, int32_t *idx, const float *x, const lr_conv_shape *s)
{
    const int Hi = s->in[1], Wi = s->in[2], Do = s->out[0], Ho = s->out[1], Wo = s->out[2];
    for (int od = 0; od < Do; od++) {
        int d_lo, d_hi;
        window(od, s->stride[0], s->pad[0], s->k[0], s->in[0], &d_lo, &d_hi);
        for (int oh = 0; oh < Ho; oh++) {
            int h_lo, h_hi;
            window(oh, s->stride[1], s->pad[1], s->k[1], Hi, &h_lo, &h_hi);
            for (int ow = 0; ow < Wo; ow++) {
                int w_lo, w_hi;
                window(ow, s->stride[2], s->pad[2], s->k[2], Wi, &w_lo, &w_hi);
                int32_t best_i = (int32_t)(((size_t)d_lo * Hi + h_lo) * Wi + w_lo);
                float best = x[best_i];
                for (int id = d_lo; id < d_hi; id++)
                    for (int ih = h_lo; ih < h_hi; ih++) {
                        const size_t row = ((size_t)id * Hi + ih) * Wi;
                        for (int iw = w_lo; iw < w_hi; iw++) { /* branch-free: the maximum is data-dependent */
                            float v = x[row + iw];
                            int take = (v > best) | (v != v); /* a NaN wins (the last one), as PyTorch */
                            best = take ? v : best;
                            best_i = take ? (int32_t)(row + iw) : best_i;
                        }
                    }
                size_t o = ((size_t)od * Ho + oh) * Wo + ow;
                y[o] = best;
                idx[o] = best_i;
            }
        }
    }
}

#define ROW_MAX 1024 /* widest output row of the 2D fast path */

/* (best, best_i) ← (v, i) when v wins: greater, or NaN (the last NaN wins), as the scan above. */
#define POOL_TAKE(best, best_i, v, i)                                                              \
    do {                                                                                           \
        int take_ = ((v) > (best)) | ((v) != (v));                                                 \
        best = take_ ? (v) : best;                                                                 \
        best_i = take_ ? (i) : best_i;                                                             \
    } while (0)

/* The ResNet stem's 2D 3×3, stride-2, pad-1 pool, one plane: per output row, each input row's three
 * columns in order, then the rows in order — the same winner as the kh-major scan — with the loops
 * over output columns branch-free (data-dependent maxima mispredict as branches). */
LR_SIMD_CLONES
static void maxpool_plane_3x3s2(float *y, int32_t *idx, const float *x, int Hi, int Wi, int Ho, int Wo)
{
    float hv[ROW_MAX], best[ROW_MAX];
    int32_t hi[ROW_MAX], best_i[ROW_MAX];
    for (int oh = 0; oh < Ho; oh++) {
        int first = 1;
        for (int r = 0; r < 3; r++) {
            int ih = 2 * oh - 1 + r;
            if (ih < 0 || ih >= Hi) continue;
            const float *row = x + (size_t)ih * Wi;
            const int32_t base = (int32_t)((size_t)ih * Wi);
            for (int ow = 0; ow < Wo; ow++) { /* column 2·ow (always inside) */
                hv[ow] = row[2 * ow];
                hi[ow] = base + 2 * ow;
            }
            for (int ow = 1; ow < Wo; ow++) { /* column 2·ow − 1 comes first in the scan */
                float v = row[2 * ow - 1], c = hv[ow];
                int take_c = (c > v) | (c != c); /* c is later than v */
                hv[ow] = take_c ? c : v;
                hi[ow] = take_c ? hi[ow] : base + 2 * ow - 1;
            }
            int full = (Wi - 2) / 2 + 1 < Wo ? (Wi - 2) / 2 + 1 : Wo; /* outputs whose column 2·ow + 1 < Wi */
            for (int ow = 0; ow < full; ow++) {
                float v = row[2 * ow + 1];
                POOL_TAKE(hv[ow], hi[ow], v, base + 2 * ow + 1);
            }
            if (first) {
                memcpy(best, hv, sizeof(float) * Wo);
                memcpy(best_i, hi, sizeof(int32_t) * Wo);
                first = 0;
                continue;
            }
            for (int ow = 0; ow < Wo; ow++) POOL_TAKE(best[ow], best_i[ow], hv[ow], hi[ow]);
        }
        memcpy(y + (size_t)oh * Wo, best, sizeof(float) * Wo);
        memcpy(idx + (size_t)oh * Wo, best_i, sizeof(int32_t) * Wo);
    }
}

static int is_stem_pool(const lr_conv_shape *s)
{
    return s->in[0] == 1 && s->k[0] == 1 && s->k[1] == 3 && s->k[2] == 3 && s->stride[1] == 2 && s->stride[2] == 2 &&
           s->pad[1] == 1 && s->pad[2] == 1 && s->out[2] <= ROW_MAX && s->in[2] >= 2 && s->in[1] >= 2;
}

void lr_maxpool_forward(float *out, int32_t *argmax, const float *in, const lr_conv_shape *s)
{
    const size_t pin = lr_conv_in_plane(s), pout = lr_conv_out_plane(s);
    const long planes = (long)s->cin * s->n;
    const int fast = is_stem_pool(s);
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < planes; plane++) {
        if (fast)
            maxpool_plane_3x3s2(out + plane * pout, argmax + plane * pout, in + plane * pin, s->in[1], s->in[2],
                                s->out[1], s->out[2]);
        else
            maxpool_plane(out + plane * pout, argmax + plane * pout, in + plane * pin, s);
    }
}

void lr_maxpool_backward(float *din, const float *dout, const int32_t *argmax, const lr_conv_shape *s)
{
    const size_t pin = lr_conv_in_plane(s), pout = lr_conv_out_plane(s);
    const long planes = (long)s->cin * s->n;
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < planes; plane++) {
        float *dx = din + plane * pin;
        const float *dy = dout + plane * pout;
        const int32_t *idx = argmax + plane * pout;
        memset(dx, 0, sizeof(float) * pin);
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
