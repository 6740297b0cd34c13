/* Winograd F(2×2,3×3) fast path for 3×3 stride-1 pad-1 2D convolutions; the im2col path in conv.c is
 * the reference it is tested against (tests/test_nn_layers.c). */
#ifndef LR_NN_WINOGRAD_H
#define LR_NN_WINOGRAD_H

#include <stddef.h>

#include "nn/layers.h"

/* 1 when the conv is 3×3/stride 1/pad 1 in 2D and its map is large enough for Winograd to pay. */
int lr_winograd_eligible(const lr_conv_shape *s);
/* Floats of workspace for lr_winograd_forward / lr_winograd_backward_data. */
size_t lr_winograd_workspace(const lr_conv_shape *s);
/* out [cout][N·H·W] = conv(in [cin][N·H·W], w [cout][cin][3][3]). */
void lr_winograd_forward(float *out, float *ws, const float *in, const float *w, const lr_conv_shape *s);
/* din [cin][N·H·W] += gradient of the conv's input given dout [cout][N·H·W]. */
void lr_winograd_backward_data(float *din, float *ws, const float *dout, const float *w, const lr_conv_shape *s);

/* dw [cout][cin][3][3] += gradient of the weights given dout and the conv's input (the exact adjoint of
 * the forward transform, with the tile sums as 16 GEMMs whose inner dimension is the tile count). */
void lr_winograd_backward_weights(float *dw, float *ws, const float *dout, const float *in, const lr_conv_shape *s);

#endif
