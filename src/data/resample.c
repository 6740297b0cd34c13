#include "data/resample.h"

#include <math.h>

void lr_volume_resample(float *out, const int out_dims[3], const double out_spacing[3], const int16_t *in,
                        const size_t in_dims[3], const double in_spacing[3], float fill)
{
    const long D = (long)in_dims[0], H = (long)in_dims[1], W = (long)in_dims[2];
    double scale[3], offset[3];
    for (int a = 0; a < 3; a++) {
        /* input index = (out index + 0.5 - n_out/2) * sp_out / sp_in + n_in/2 - 0.5 */
        scale[a] = out_spacing[a] / in_spacing[a];
        offset[a] = (0.5 - 0.5 * out_dims[a]) * scale[a] + 0.5 * (double)in_dims[a] - 0.5;
    }
    for (int k = 0; k < out_dims[0]; k++) {
        double z = k * scale[0] + offset[0];
        for (int i = 0; i < out_dims[1]; i++) {
            double y = i * scale[1] + offset[1];
            for (int j = 0; j < out_dims[2]; j++) {
                double x = j * scale[2] + offset[2];
                float *dst = out + ((size_t)k * out_dims[1] + i) * out_dims[2] + j;
                /* half a voxel of tolerance at the border, then clamp (edge value inside the volume) */
                if (z < -0.5 || z > D - 0.5 || y < -0.5 || y > H - 0.5 || x < -0.5 || x > W - 0.5) {
                    *dst = fill;
                    continue;
                }
                double zc = fmin(fmax(z, 0), D - 1), yc = fmin(fmax(y, 0), H - 1), xc = fmin(fmax(x, 0), W - 1);
                long z0 = (long)floor(zc), y0 = (long)floor(yc), x0 = (long)floor(xc);
                long z1 = z0 + 1 < D ? z0 + 1 : z0, y1 = y0 + 1 < H ? y0 + 1 : y0, x1 = x0 + 1 < W ? x0 + 1 : x0;
                double fz = zc - z0, fy = yc - y0, fx = xc - x0;
#define V(a, b, c) (double)in[((size_t)(a) * H + (b)) * W + (c)]
                double c0 = (V(z0, y0, x0) * (1 - fx) + V(z0, y0, x1) * fx) * (1 - fy) +
                            (V(z0, y1, x0) * (1 - fx) + V(z0, y1, x1) * fx) * fy;
                double c1 = (V(z1, y0, x0) * (1 - fx) + V(z1, y0, x1) * fx) * (1 - fy) +
                            (V(z1, y1, x0) * (1 - fx) + V(z1, y1, x1) * fx) * fy;
#undef V
                *dst = (float)(c0 * (1 - fz) + c1 * fz);
            }
        }
    }
}
