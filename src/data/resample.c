#include "data/resample.h"

#include <math.h>

/* Where output index o falls on an input axis of n voxels: the two neighbours and the second's weight. */
typedef struct {
    long i0, i1;
    double w;
    int inside;
} axis_tap;

static axis_tap tap_at(long o, double scale, double offset, long n)
{
    double f = o * scale + offset;
    axis_tap t;
    /* half a voxel of tolerance at the border, then clamp (edge value inside the volume) */
    t.inside = !(f < -0.5 || f > n - 0.5);
    double c = fmin(fmax(f, 0), n - 1);
    t.i0 = (long)floor(c);
    t.i1 = t.i0 + 1 < n ? t.i0 + 1 : t.i0;
    t.w = c - t.i0;
    return t;
}

static double voxel(const void *in, lr_voxel_type type, size_t i)
{
    return type == LR_VOXEL_INT16 ? (double)((const int16_t *)in)[i] : (double)((const float *)in)[i];
}

static void store(void *out, lr_voxel_type type, size_t i, double v)
{
    if (type == LR_VOXEL_FLOAT) ((float *)out)[i] = (float)v;
    else ((int16_t *)out)[i] = (int16_t)lrint(fmin(fmax(v, -32768.0), 32767.0));
}

void lr_volume_resample(void *out, lr_voxel_type out_type, const size_t out_dims[3], const double out_spacing[3],
                        const void *in, lr_voxel_type in_type, const size_t in_dims[3], const double in_spacing[3],
                        float fill)
{
    const long D = (long)in_dims[0], H = (long)in_dims[1], W = (long)in_dims[2];
    double scale[3], offset[3];
    for (int a = 0; a < 3; a++) {
        /* input index = (out index + 0.5 - n_out/2) * sp_out / sp_in + n_in/2 - 0.5 */
        scale[a] = out_spacing[a] / in_spacing[a];
        offset[a] = (0.5 - 0.5 * (double)out_dims[a]) * scale[a] + 0.5 * (double)in_dims[a] - 0.5;
    }
    for (size_t k = 0; k < out_dims[0]; k++) {
        axis_tap z = tap_at((long)k, scale[0], offset[0], D);
        for (size_t i = 0; i < out_dims[1]; i++) {
            axis_tap y = tap_at((long)i, scale[1], offset[1], H);
            for (size_t j = 0; j < out_dims[2]; j++) {
                axis_tap x = tap_at((long)j, scale[2], offset[2], W);
                size_t dst = (k * out_dims[1] + i) * out_dims[2] + j;
                if (!z.inside || !y.inside || !x.inside) {
                    store(out, out_type, dst, fill);
                    continue;
                }
#define V(a, b, c) voxel(in, in_type, ((size_t)(a) * H + (size_t)(b)) * W + (size_t)(c))
                double fz = z.w, fy = y.w, fx = x.w;
                double c0 = (V(z.i0, y.i0, x.i0) * (1 - fx) + V(z.i0, y.i0, x.i1) * fx) * (1 - fy) +
                            (V(z.i0, y.i1, x.i0) * (1 - fx) + V(z.i0, y.i1, x.i1) * fx) * fy;
                double c1 = (V(z.i1, y.i0, x.i0) * (1 - fx) + V(z.i1, y.i0, x.i1) * fx) * (1 - fy) +
                            (V(z.i1, y.i1, x.i0) * (1 - fx) + V(z.i1, y.i1, x.i1) * fx) * fy;
#undef V
                store(out, out_type, dst, c0 * (1 - fz) + c1 * fz);
            }
        }
    }
}
