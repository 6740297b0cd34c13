/* Trilinear resampling of a CT volume onto another grid with the same physical centre (centre crop or
 * pad); voxels outside the input take `fill` (air, -1000 HU). */
#ifndef LR_DATA_RESAMPLE_H
#define LR_DATA_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* out [D][H][W] (out_dims) at out_spacing (z, y, x mm) from in [in_dims] at in_spacing. */
void lr_volume_resample(float *out, const int out_dims[3], const double out_spacing[3], const int16_t *in,
                        const size_t in_dims[3], const double in_spacing[3], float fill);

#endif
