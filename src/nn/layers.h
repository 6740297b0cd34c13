/* CNN layers as forward/backward pairs (outputs first, then inputs, then sizes).
 *
 * Activation layout is channel-major with the batch inside: [C][N][D][H][W] ("CN-spatial"), so that
 * one convolution of a whole batch is one GEMM  Y[Cout][N·P] = W[Cout][K] · col[K][N·P]  with the
 * large dimension N·P as the GEMM's n, and batch normalisation sees each channel as one contiguous run.
 * 2D layers are 3D layers with D = 1 and kernel depth 1. fp32 storage; BN statistics in fp64.
 * Backward functions accumulate parameter gradients with += (zeroing is the caller's job) and write
 * (or, where stated, accumulate into) input gradients. */
#ifndef LR_NN_LAYERS_H
#define LR_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* Geometry of one convolution (or pooling window) over three spatial dims (D, H, W). */
typedef struct {
    int n;                  /* batch */
    int cin, cout;          /* channels (pooling: cin == cout) */
    int in[3];              /* input D, H, W */
    int k[3], stride[3], pad[3];
    int out[3];             /* output D, H, W (filled by lr_conv_shape_init) */
} lr_conv_shape;

/* Fill s and compute the output dims; returns -1 when the output would be empty. */
int lr_conv_shape_init(lr_conv_shape *s, int n, int cin, int cout, const int in[3], const int k[3],
                       const int stride[3], const int pad[3]);
size_t lr_conv_in_plane(const lr_conv_shape *s);  /* D·H·W of the input */
size_t lr_conv_out_plane(const lr_conv_shape *s); /* D·H·W of the output */
size_t lr_conv_k(const lr_conv_shape *s);         /* cin·kd·kh·kw (GEMM inner dim) */
/* Floats of workspace lr_conv_forward / lr_conv_backward need (im2col columns, or the Winograd scratch
 * and state; 0 for a 1×1×1 stride-1 unpadded conv: no unroll). */
size_t lr_conv_workspace(const lr_conv_shape *s);
/* For a network that keeps per-layer state between its forward and backward passes: floats of that
 * state (the Winograd transformed weights and input, or the im2col columns; 0 for a 1×1×1 stride-1 conv)
 * and of the shared scratch. */
size_t lr_conv_saved_size(const lr_conv_shape *s);
size_t lr_conv_layer_workspace(const lr_conv_shape *s);
/* Multiply-adds of the forward pass (×2 for FLOP). */
double lr_conv_macs(const lr_conv_shape *s);

/* im2col / vol2col: col[cin·kd·kh·kw][N·Do·Ho·Wo] from in[cin][N][Di][Hi][Wi], zero padding (col of that full
 * size: lr_conv_workspace can be smaller, the conv itself unrolls columns it does not keep in blocks). */
void lr_im2col(float *col, const float *in, const lr_conv_shape *s);
/* Adjoint of lr_im2col: in[cin][N][Di][Hi][Wi] += scatter of col. */
void lr_col2im_add(float *in, const float *col, const lr_conv_shape *s);

/* Convolution without bias (torchvision ResNets have none).
 * out [cout][N·Po]; col workspace lr_conv_workspace(s) floats; in [cin][N·Pi]; w [cout][cin][kd][kh][kw]. */
void lr_conv_forward(float *out, float *col, const float *in, const float *w, const lr_conv_shape *s);
/* din [cin][N·Pi] += (NULL: not needed), dw [cout][K] += (NULL: not needed); dout [cout][N·Po].
 * col is the workspace (its content is recomputed from in). */
void lr_conv_backward(float *din, float *dw, float *col, const float *dout, const float *in, const float *w,
                      const lr_conv_shape *s);
/* The same pair with the state kept by the caller: saved [lr_conv_saved_size] is written by the forward
 * pass and read by the backward pass (weights unchanged in between); col [lr_conv_layer_workspace]. */
void lr_conv_forward_saved(float *out, float *saved, float *col, const float *in, const float *w,
                           const lr_conv_shape *s);
void lr_conv_backward_saved(float *din, float *dw, float *col, const float *dout, const float *in, const float *w,
                            const float *saved, const lr_conv_shape *s);
/* The plain im2col + GEMM path (the reference; lr_conv_forward/backward take Winograd F(4×4, 3×3) for
 * 3×3 stride-1 2D convs on maps of at least 3×3, see winograd.h). */
void lr_conv_forward_im2col(float *out, float *col, const float *in, const float *w, const lr_conv_shape *s);
void lr_conv_backward_im2col(float *din, float *dw, float *col, const float *dout, const float *in,
                             const float *w, const lr_conv_shape *s);

/* Batch normalisation over [C][M] (M = N·spatial), fused with an optional residual add and ReLU:
 *   out = act(gamma·(in − mean)·invstd + beta + residual)
 * train: mean/var from the batch (fp64), saved for backward, running stats updated as PyTorch does
 * (momentum, unbiased variance); eval: running stats. residual may be NULL; out may alias residual. */
#define LR_BN_MOMENTUM 0.1f /* torch.nn.BatchNorm defaults */
#define LR_BN_EPS 1e-5f
typedef struct {
    int channels;
    size_t m;       /* elements per channel: N·D·H·W */
    float momentum; /* PyTorch default 0.1 */
    float eps;      /* PyTorch default 1e-5 */
} lr_bn_shape;
void lr_batchnorm_forward(float *out, float *saved_mean, float *saved_invstd, float *running_mean,
                          float *running_var, const float *in, const float *gamma, const float *beta,
                          const float *residual, int relu, int train, const lr_bn_shape *s);
/* Train-mode backward: din (may alias dout) overwritten; dgamma, dbeta +=. dout is the gradient of
 * the layer's output; relu_out (may be NULL) is that output when a ReLU was fused, so dout counts only
 * where relu_out > 0. */
void lr_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                           const float *relu_out, const float *saved_mean, const float *saved_invstd,
                           const float *gamma, const lr_bn_shape *s);

/* The same, also writing the ReLU-masked dout to dres (NULL: not wanted): the gradient a residual
 * shortcut receives, in the same pass. dres must not alias din or dout. */
void lr_batchnorm_backward_res(float *din, float *dres, float *dgamma, float *dbeta, const float *dout,
                               const float *in, const float *relu_out, const float *saved_mean,
                               const float *saved_invstd, const float *gamma, const lr_bn_shape *s);

/* Eval-mode backward (running statistics, which do not depend on the input): din = gamma·invstd·dout,
 * dout masked where relu_out <= 0 when relu_out is given, the masked dout also to dres (NULL: not
 * wanted; must not alias). din may alias dout. invstd from the running variance, as the eval-mode forward
 * uses it. No parameter gradients. */
void lr_batchnorm_backward_eval(float *din, float *dres, const float *dout, const float *relu_out,
                                const float *running_var, const float *gamma, const lr_bn_shape *s);

/* ReLU: out = max(in, 0) (may alias). Backward: d[i] = 0 where out[i] <= 0 (in place on d). */
void lr_relu_forward(float *out, const float *in, size_t n);
void lr_relu_backward(float *d, const float *out, size_t n);

/* Residual add: out += in. */
void lr_add(float *out, const float *in, size_t n);

/* Max pool (window/stride/pad in s; cin == cout), padding never wins, ties go to the first element in
 * scan order as in PyTorch. out [C][N·Po], argmax [C·N·Po] (index within the input plane of that (c,n));
 * backward overwrites din [C][N·Pi]. */
void lr_maxpool_forward(float *out, int32_t *argmax, const float *in, const lr_conv_shape *s);
void lr_maxpool_backward(float *din, const float *dout, const int32_t *argmax, const lr_conv_shape *s);

/* Global average pool: emb [N][C] = mean over the plane of in [C][N][plane]. Backward overwrites din. */
void lr_avgpool_forward(float *emb, const float *in, int n, int c, size_t plane);
void lr_avgpool_backward(float *din, const float *demb, int n, int c, size_t plane);

/* Linear: y [N][O] = x [N][I] · wᵀ + b, w [O][I] (PyTorch layout), b [O].
 * Backward: dx [N][I] overwritten (may be NULL), dw, db +=. */
void lr_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in, int out);
void lr_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n,
                        int in, int out);

/* Layout changes at the network boundary: [N][C][plane] <-> [C][N][plane]. */
void lr_nc_to_cn(float *dst, const float *src, int n, int c, size_t plane);
void lr_cn_to_nc(float *dst, const float *src, int n, int c, size_t plane);

#endif
