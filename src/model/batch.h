/* Building CNN input batches from a cohort: lesion selection (largest first), HU windowing, augmentation. */
#ifndef LR_MODEL_BATCH_H
#define LR_MODEL_BATCH_H

#include <gsl/gsl_rng.h>

#include "data/augment.h"
#include "data/cohort.h"
#include "model/model.h"
#include "util/err.h"

/* The rows of annotation a that enter its risk: all of them, or the `max` largest by volume (ties by row
 * order), written to rows[] in row order; returns the count. For mean_largest5 pass max = 5. */
int lr_select_lesions(const lr_cohort *c, size_t a, int max, int64_t *rows);

/* x[k][72*72] = window(augment(patch[rows[k]])). aug NULL (or rng NULL): no augmentation. */
typedef struct {
    lr_augmenter *augmenter;
    lr_aug_params params;
    float *tmp; /* [72*72] */
} lr_patch_pipeline;

int lr_patch_pipeline_init(lr_patch_pipeline *pp, const lr_train_options *o, lr_err *err);
void lr_patch_pipeline_free(lr_patch_pipeline *pp);
int lr_build_patch_batch(lr_patch_pipeline *pp, const lr_cohort *c, const int64_t *rows, int n,
                         const lr_train_options *o, gsl_rng *aug_rng, float *x, lr_err *err);

/* HU window to [-1, 1]. */
static inline float lr_window(float hu, double lo, double hi)
{
    double v = (hu - lo) / (hi - lo) * 2.0 - 1.0;
    return (float)(v < -1 ? -1 : v > 1 ? 1 : v);
}

#endif
