/* Trilinear resampling of a CT volume onto another grid with the same physical centre (centre crop or
 * pad); voxels outside the input (beyond half a voxel from its edge centres) take `fill`. One resampler
 * for the two uses: the whole-volume model's input (int16 cohort volume -> float) and ingest (float NIfTI
 * -> int16 cohort volume, rounded and clamped). */
#ifndef LR_DATA_RESAMPLE_H
#define LR_DATA_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LR_VOXEL_INT16, LR_VOXEL_FLOAT } lr_voxel_type;

/* out [D][H][W] (out_dims) at out_spacing (z, y, x mm) from in [in_dims] at in_spacing; an int16 output is
 * rounded to the nearest integer and clamped to the int16 range. */
void lr_volume_resample(void *out, lr_voxel_type out_type, const size_t out_dims[3], const double out_spacing[3],
                        const void *in, lr_voxel_type in_type, const size_t in_dims[3], const double in_spacing[3],
                        float fill);

#endif
