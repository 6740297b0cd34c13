/* Convolution (2D and 3D) as im2col/vol2col + one BLIS sgemm per layer for the whole batch.
 * Transposes are stride swaps (BLIS takes row and column strides), never copies. */
#include <blis.h>
#include <string.h>

#include "nn/layers.h"
#include "nn/engine.h"
#include "nn/winograd.h"

int lr_conv_shape_init(lr_conv_shape *s, int n, int cin, int cout, const int in[3], const int k[3],
                       const int stride[3], const int pad[3])
{
    s->n = n;
    s->cin = cin;
    s->cout = cout;
    for (int i = 0; i < 3; i++) {
        s->in[i] = in[i];
        s->k[i] = k[i];
        s->stride[i] = stride[i];
        s->pad[i] = pad[i];
        int span = in[i] + 2 * pad[i] - k[i];
        if (span < 0 || stride[i] < 1) return -1;
        s->out[i] = span / stride[i] + 1;
    }
    return 0;
}

size_t lr_conv_in_plane(const lr_conv_shape *s) { return (size_t)s->in[0] * s->in[1] * s->in[2]; }
size_t lr_conv_out_plane(const lr_conv_shape *s) { return (size_t)s->out[0] * s->out[1] * s->out[2]; }
size_t lr_conv_k(const lr_conv_shape *s) { return (size_t)s->cin * s->k[0] * s->k[1] * s->k[2]; }

/* A 1×1×1 stride-1 unpadded conv reads its input as the col matrix directly. */
static int conv_is_pointwise(const lr_conv_shape *s)
{
    for (int i = 0; i < 3; i++)
        if (s->k[i] != 1 || s->stride[i] != 1 || s->pad[i] != 0) return 0;
    return 1;
}

/* The im2col columns are kept for the weight gradient when they cost at most this many times the input
 * (2D stems and strided convs: 2–12×); a 3D 3×3×3 conv's 27× is recomputed instead. */
#define KEEP_COLUMNS_MAX_RATIO 16

static int keeps_columns(const lr_conv_shape *s)
{
    size_t in = (size_t)s->cin * s->n * lr_conv_in_plane(s);
    return !conv_is_pointwise(s) && lr_conv_k(s) * s->n * lr_conv_out_plane(s) <= KEEP_COLUMNS_MAX_RATIO * in;
}

/* Columns that are not kept are made and used a block of output planes (image, output depth) at a time,
 * about this many floats (2 MB, cache-sized; at least one plane): a 3D stem's columns are 37× its input
 * (16 GB for Table 2's batch of four 120×480×480 volumes), a block is bounded. */
#define COLUMN_BLOCK_FLOATS (512 * 1024)

static size_t block_planes(const lr_conv_shape *s)
{
    if (keeps_columns(s)) return (size_t)s->n * s->out[0];
    size_t per_plane = lr_conv_k(s) * s->out[1] * s->out[2], b = COLUMN_BLOCK_FLOATS / per_plane;
    size_t total = (size_t)s->n * s->out[0];
    return b < 1 ? 1 : b > total ? total : b;
}

static size_t im2col_workspace(const lr_conv_shape *s)
{
    return conv_is_pointwise(s) ? 0 : lr_conv_k(s) * block_planes(s) * s->out[1] * s->out[2];
}

/* Kept from forward to backward: Winograd's U and V, or the im2col columns (the weight gradient reads
 * the same columns the forward pass made). */
/* Winograd's transformed weights U are kept from forward to backward unless they outweigh the kept input V
 * by more than this (ResNet18's layer4 at a batch of 40: U 9.4M floats, V 0.7M): then the backward pass
 * transforms the weights again (the same bits), a few milliseconds for over 100 MB less peak memory. */
#define KEEP_WEIGHTS_MAX_RATIO 4

static int keeps_weights(const lr_conv_shape *s)
{
    return lr_winograd_weights_size(s) <= KEEP_WEIGHTS_MAX_RATIO * lr_winograd_input_size(s);
}

size_t lr_conv_saved_size(const lr_conv_shape *s)
{
    if (lr_winograd_eligible(s))
        return lr_winograd_input_size(s) + (keeps_weights(s) ? lr_winograd_weights_size(s) : 0);
    return keeps_columns(s) ? im2col_workspace(s) : 0;
}

/* Winograd scratch, then (when they are not kept) room for the transformed weights. */
size_t lr_conv_layer_workspace(const lr_conv_shape *s)
{
    size_t col = im2col_workspace(s), wino = 0;
    if (lr_winograd_eligible(s))
        wino = lr_winograd_workspace(s) + (keeps_weights(s) ? 0 : lr_winograd_weights_size(s));
    return col > wino ? col : wino;
}

/* Where U lives: after V in saved, or after the Winograd scratch in col. */
static float *weights_slot(float *saved, float *col, const lr_conv_shape *s)
{
    return keeps_weights(s) ? saved + lr_winograd_input_size(s) : col + lr_winograd_workspace(s);
}

size_t lr_conv_workspace(const lr_conv_shape *s) { return lr_conv_layer_workspace(s) + lr_conv_saved_size(s); }

double lr_conv_macs(const lr_conv_shape *s)
{
    return (double)s->cout * (double)lr_conv_k(s) * (double)s->n * (double)lr_conv_out_plane(s);
}

/* Output columns o in [lo, hi) read input i = o·stride − pad + kk inside [0, n). */
static void valid_range(int *lo, int *hi, int n_out, int n_in, int stride, int pad, int kk)
{
    int a = pad - kk; /* need o·stride >= a */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = n_in - 1 + pad - kk; /* need o·stride <= b */
    int h = b < 0 ? 0 : b / stride + 1;
    if (h > n_out) h = n_out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* One row (c, kd, kh, kw) of col over the output planes q = image·Do + od in [q0, q1): copied from the
 * input (im2col) or added back into it (col2im). */
static void im2col_row(float *crow, float *in_mut, const float *in, const lr_conv_shape *s, int add, int c, int kd,
                       int kh, int kw, size_t q0, size_t q1)
{
    const int Di = s->in[0], Hi = s->in[1], Wi = s->in[2];
    const int Do = s->out[0], Ho = s->out[1], Wo = s->out[2];
    const size_t pin = lr_conv_in_plane(s);
    const int sd = s->stride[0], sh = s->stride[1], sw = s->stride[2];
    int wlo, whi;
    valid_range(&wlo, &whi, Wo, Wi, sw, s->pad[2], kw);
    for (size_t q = q0; q < q1; q++) {
        int n = (int)(q / (size_t)Do), od = (int)(q % (size_t)Do);
        size_t plane_off = ((size_t)c * s->n + n) * pin;
        int id = od * sd - s->pad[0] + kd;
        for (int oh = 0; oh < Ho; oh++) {
            float *dst = crow + ((q - q0) * Ho + oh) * Wo;
            int ih = oh * sh - s->pad[1] + kh;
            if (id < 0 || id >= Di || ih < 0 || ih >= Hi) {
                if (!add) memset(dst, 0, sizeof(float) * Wo);
                continue;
            }
            size_t src_off = plane_off + ((size_t)id * Hi + ih) * Wi;
            int iw0 = wlo * sw - s->pad[2] + kw;
            if (add) {
                float *src = in_mut + src_off + iw0;
                for (int ow = wlo; ow < whi; ow++, src += sw) *src += dst[ow];
                continue;
            }
            const float *src = in + src_off + iw0;
            for (int ow = 0; ow < wlo; ow++) dst[ow] = 0.0f;
            if (sw == 1) memcpy(dst + wlo, src, sizeof(float) * (whi - wlo));
            else
                for (int ow = wlo; ow < whi; ow++, src += sw) dst[ow] = *src;
            for (int ow = whi; ow < Wo; ow++) dst[ow] = 0.0f;
        }
    }
}

/* im2col: rows split over threads. col2im: channels split over threads (the rows of one channel add into
 * the same input plane, in row order), so the sums are the same for any thread count. col holds the output
 * planes [q0, q1): [K][(q1 − q0)·Ho·Wo]. */
static void im2col_or_back(float *col, float *in_mut, const float *in, const lr_conv_shape *s, int add, size_t q0,
                           size_t q1)
{
    const size_t P = (q1 - q0) * s->out[1] * s->out[2];
    const int kvol = s->k[0] * s->k[1] * s->k[2], kk = s->k[1] * s->k[2];
    if (!add) {
        const long rows = (long)s->cin * kvol;
#pragma omp parallel for schedule(static)
        for (long row = 0; row < rows; row++) {
            int c = (int)(row / kvol), r = (int)(row % kvol);
            im2col_row(col + (size_t)row * P, NULL, in, s, 0, c, r / kk, (r % kk) / s->k[2], r % s->k[2], q0, q1);
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < s->cin; c++)
        for (int r = 0; r < kvol; r++)
            im2col_row(col + ((size_t)c * kvol + r) * P, in_mut, NULL, s, 1, c, r / kk, (r % kk) / s->k[2],
                       r % s->k[2], q0, q1);
}

void lr_im2col(float *col, const float *in, const lr_conv_shape *s)
{
    im2col_or_back(col, NULL, in, s, 0, 0, (size_t)s->n * s->out[0]);
}

void lr_col2im_add(float *in, const float *col, const lr_conv_shape *s)
{
    im2col_or_back((float *)col, in, NULL, s, 1, 0, (size_t)s->n * s->out[0]);
}

static void im2col_backward(float *din, float *dw, float *work, const float *cols, const float *dout,
                            const float *in, const float *w, const lr_conv_shape *s);

void lr_conv_forward_saved(float *out, float *saved, float *col, const float *in, const float *w,
                           const lr_conv_shape *s)
{
    if (!lr_winograd_eligible(s)) {
        lr_conv_forward_im2col(out, keeps_columns(s) ? saved : col, in, w, s); /* kept columns stay in saved */
        return;
    }
    float *V = saved, *U = weights_slot(saved, col, s);
    lr_winograd_transform_weights(U, w, s);
    lr_winograd_forward(out, V, col, in, U, s);
}

void lr_conv_backward_saved(float *din, float *dw, float *col, const float *dout, const float *in, const float *w,
                            const float *saved, const lr_conv_shape *s)
{
    if (!lr_winograd_eligible(s)) {
        im2col_backward(din, dw, col, keeps_columns(s) ? saved : NULL, dout, in, w, s);
        return;
    }
    float *U = weights_slot((float *)saved, col, s);
    if (!keeps_weights(s)) lr_winograd_transform_weights(U, w, s);
    lr_winograd_backward(din, dw, col, dout, U, saved, s);
}

/* The stand-alone pair keeps the Winograd state at the end of the workspace. */
void lr_conv_forward(float *out, float *col, const float *in, const float *w, const lr_conv_shape *s)
{
    lr_conv_forward_saved(out, col + lr_conv_layer_workspace(s), col, in, w, s);
}

void lr_conv_backward(float *din, float *dw, float *col, const float *dout, const float *in, const float *w,
                      const lr_conv_shape *s)
{
    float *saved = col + lr_conv_layer_workspace(s);
    if (lr_winograd_eligible(s)) { /* the state a forward pass would have left */
        lr_winograd_transform_input(saved, in, s);
        if (keeps_weights(s)) lr_winograd_transform_weights(weights_slot(saved, col, s), w, s);
    } else if (keeps_columns(s)) {
        lr_im2col(saved, in, s);
    }
    lr_conv_backward_saved(din, dw, col, dout, in, w, saved, s);
}

void lr_conv_forward_im2col(float *out, float *col, const float *in, const float *w, const lr_conv_shape *s)
{
    const dim_t M = s->cout, K = (dim_t)lr_conv_k(s), P = (dim_t)((size_t)s->n * lr_conv_out_plane(s));
    float one = 1.0f, zero = 0.0f;
    if (conv_is_pointwise(s)) {
        LR_PROF(LR_PASS_FORWARD, LR_KIND_GEMM,
                bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, P, K, &one, (float *)w, K, 1, (float *)in, P, 1,
                          &zero, out, P, 1));
        return;
    }
    /* out[Cout][block's columns] = w[Cout][K] · col[K][block's columns], a block of output planes at a time */
    const size_t planes = (size_t)s->n * s->out[0], bp = block_planes(s), pc = (size_t)s->out[1] * s->out[2];
    for (size_t q0 = 0; q0 < planes; q0 += bp) {
        size_t q1 = q0 + bp < planes ? q0 + bp : planes;
        dim_t cols = (dim_t)((q1 - q0) * pc);
        LR_PROF(LR_PASS_FORWARD, LR_KIND_IM2COL, im2col_or_back(col, NULL, in, s, 0, q0, q1));
        LR_PROF(LR_PASS_FORWARD, LR_KIND_GEMM,
                bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, cols, K, &one, (float *)w, K, 1, col, cols, 1, &zero,
                          out + q0 * pc, P, 1));
    }
}

/* cols: the input's columns when already made (NULL: unrolled here into work, a block of output planes at a
 * time, which also serves dcol). */
static void im2col_backward(float *din, float *dw, float *work, const float *cols, const float *dout,
                            const float *in, const float *w, const lr_conv_shape *s)
{
    const dim_t M = s->cout, K = (dim_t)lr_conv_k(s), P = (dim_t)((size_t)s->n * lr_conv_out_plane(s));
    float one = 1.0f, zero = 0.0f;
    if (conv_is_pointwise(s) || cols) {
        const float *b = cols ? cols : in;
        /* dw[Cout][K] += dout[Cout][P] · bᵀ (b read as P×K through strides 1, P) */
        if (dw)
            LR_PROF(LR_PASS_WEIGHT_GRAD, LR_KIND_GEMM,
                    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, K, P, &one, (float *)dout, P, 1, (float *)b, 1,
                              P, &one, dw, K, 1));
        if (!din) return;
        /* dcol[K][P] = wᵀ · dout  (w read as K×Cout through strides 1, K); pointwise: dcol is din */
        float *dcol = conv_is_pointwise(s) ? din : work;
        LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_GEMM,
                bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, K, P, M, &one, (float *)w, 1, K, (float *)dout, P, 1,
                          conv_is_pointwise(s) ? &one : &zero, dcol, P, 1));
        if (!conv_is_pointwise(s)) LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_IM2COL, lr_col2im_add(din, work, s));
        return;
    }
    /* the same per block of output planes: the weight gradient sums the blocks in order */
    const size_t planes = (size_t)s->n * s->out[0], bp = block_planes(s), pc = (size_t)s->out[1] * s->out[2];
    for (size_t q0 = 0; q0 < planes; q0 += bp) {
        size_t q1 = q0 + bp < planes ? q0 + bp : planes;
        dim_t n = (dim_t)((q1 - q0) * pc);
        const float *dy = dout + q0 * pc;
        if (dw) {
            LR_PROF(LR_PASS_WEIGHT_GRAD, LR_KIND_IM2COL, im2col_or_back(work, NULL, in, s, 0, q0, q1));
            LR_PROF(LR_PASS_WEIGHT_GRAD, LR_KIND_GEMM,
                    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, K, n, &one, (float *)dy, P, 1, work, 1, n, &one,
                              dw, K, 1));
        }
        if (din) {
            LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_GEMM,
                    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, K, n, M, &one, (float *)w, 1, K, (float *)dy, P, 1,
                              &zero, work, n, 1));
            LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_IM2COL, im2col_or_back(work, din, NULL, s, 1, q0, q1));
        }
    }
}

void lr_conv_backward_im2col(float *din, float *dw, float *col, const float *dout, const float *in,
                             const float *w, const lr_conv_shape *s)
{
    im2col_backward(din, dw, col, NULL, dout, in, w, s);
}
