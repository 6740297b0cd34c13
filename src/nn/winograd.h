/* Winograd F(4×4, 3×3) for 3×3, stride-1, pad-1 2D convolutions (the bulk of ResNet18/50's work), and
 * F(1×4×4, 3×3×3) for 3×3×3 stride-1 pad-1 3D ones (every depth plane a map of its own, the three depth
 * taps as shifted GEMMs); the im2col path in conv.c is the reference both are tested against
 * (tests/test_nn_layers.c).
 *
 * A conv of the whole batch is 36 GEMMs over all T tiles (6×6 input tiles, 4×4 outputs; in 3D per depth
 * tap, the outer taps per volume):
 *   forward        M[ξ][cout][T]  = U[ξ][cout][cin] · V[ξ][cin][T]
 *   input grad     dV[ξ][cin][T]  = U[ξ]ᵀ · dM[ξ][cout][T]
 *   weight grad    dU[ξ][cout][cin] = dM[ξ] · V[ξ]ᵀ
 * U (transformed weights) and V (transformed input) are made once in the forward pass and kept by the
 * caller for the backward pass, which transforms dout once (dM) for both gradients. The input gradient
 * is the exact adjoint of the forward transforms, so it shares U. */
#ifndef LR_NN_WINOGRAD_H
#define LR_NN_WINOGRAD_H

#include <stddef.h>

#include "nn/layers.h"


/* 1 when the conv is 3×3/stride 1/pad 1 in 2D, or 3×3×3/stride 1/pad 1 in 3D over at least 2 planes of
 * at least 6 tiles, and F(4×4) saves at least 1.5× the multiplies. */
int lr_winograd_eligible(const lr_conv_shape *s);
size_t lr_winograd_tiles(const lr_conv_shape *s);        /* T = N·D·⌈H/4⌉·⌈W/4⌉ (D = 1 in 2D) */
size_t lr_winograd_weights_size(const lr_conv_shape *s); /* floats of U: 36·kd·cout·cin (kd = 1 or 3 taps) */
size_t lr_winograd_input_size(const lr_conv_shape *s);   /* floats of V: 36·cin·T */
size_t lr_winograd_workspace(const lr_conv_shape *s);    /* floats of scratch for forward or backward */

/* U [kd][36][cout][cin] from w [cout][cin][kd][3][3]. */
void lr_winograd_transform_weights(float *U, const float *w, const lr_conv_shape *s);
/* V [36][cin][T] from in [cin][N·H·W] (the forward pass does this itself). */
void lr_winograd_transform_input(float *V, const float *in, const lr_conv_shape *s);
/* out [cout][N·H·W] = conv(in [cin][N·H·W]); V [36][cin][T] receives the transformed input. */
void lr_winograd_forward(float *out, float *V, float *ws, const float *in, const float *U, const lr_conv_shape *s);
/* din [cin][N·H·W] += input gradient (din NULL: skipped); dw [cout][cin][kd][3][3] += weight gradient (NULL:
 * skipped); U and V as the forward pass left them. */
void lr_winograd_backward(float *din, float *dw, float *ws, const float *dout, const float *U, const float *V,
                          const lr_conv_shape *s);

#endif
