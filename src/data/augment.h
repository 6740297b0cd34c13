/* Data augmentation of lesion patches (2D) and whole volumes (3D): random shift, scale, flip and
 * rotation about the patch centre, resampled with bilinear (GSL gsl_interp2d) or trilinear
 * interpolation. Samples falling outside the input take the nearest edge value (edge replication),
 * so augmentation never paints artificial air around a lesion. With zero shift the centre maps to
 * the centre: the lesion stays where it was. */
#ifndef LR_DATA_AUGMENT_H
#define LR_DATA_AUGMENT_H

#include <gsl/gsl_rng.h>

#include "util/err.h"

typedef struct {
    double shift;      /* max shift, fraction of the side */
    double scale;      /* zoom factor in [1 - scale, 1 + scale] */
    double rotate_deg; /* rotation in [-r, r] degrees */
    int flip;          /* random flips of each in-plane axis */
} lr_aug_params;

typedef struct {
    double shift_x, shift_y; /* pixels */
    double zoom;             /* > 1 enlarges */
    double angle;            /* radians */
    int flip_x, flip_y;
} lr_aug_draw;

/* Draw one transform for a side of `size` pixels (the same calls for every patch: deterministic). */
void lr_aug_sample(lr_aug_draw *d, const lr_aug_params *p, int size, gsl_rng *r);

/* Reusable bilinear resampler for size x size patches (GSL interp2d). */
typedef struct lr_augmenter lr_augmenter;
lr_augmenter *lr_augmenter_create(int size, lr_err *err);
void lr_augmenter_free(lr_augmenter *a);
/* out[size*size] = in transformed by d. */
int lr_augment_patch(lr_augmenter *a, float *out, const float *in, const lr_aug_draw *d, lr_err *err);

/* 3D: the same in-plane transform on every slice plus a shift along z (slices); trilinear, edge
 * replication. vol and out are [D][H][W]. */
void lr_augment_volume(float *out, const float *in, int D, int H, int W, const lr_aug_draw *d, double shift_z);

#endif
