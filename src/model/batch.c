#include "model/batch.h"

#include <gsl/gsl_sort.h>
#include <stdlib.h>
#include <string.h>

int lr_select_lesions(const lr_cohort *c, size_t a, int max, int64_t *rows)
{
    int n = c->ann_n_lesions[a];
    int64_t first = c->ann_first_lesion[a];
    if (max <= 0 || n <= max) {
        for (int k = 0; k < n; k++) rows[k] = first + k;
        return n;
    }
    /* Rank by volume (descending; stable so equal volumes keep row order), keep the largest, restore order. */
    size_t *order = malloc((size_t)n * sizeof *order);
    double *negv = malloc((size_t)n * sizeof *negv);
    if (!order || !negv) {
        free(order);
        free(negv);
        return -1;
    }
    for (int k = 0; k < n; k++) negv[k] = -c->volume_mm3[first + k];
    gsl_sort_index(order, negv, 1, (size_t)n);
    int8_t *keep = calloc((size_t)n, 1);
    if (!keep) {
        free(order);
        free(negv);
        return -1;
    }
    for (int k = 0; k < max; k++) keep[order[k]] = 1;
    int m = 0;
    for (int k = 0; k < n; k++)
        if (keep[k]) rows[m++] = first + k;
    free(keep);
    free(order);
    free(negv);
    return m;
}

int lr_patch_pipeline_init(lr_patch_pipeline *pp, const lr_train_options *o, lr_err *err)
{
    memset(pp, 0, sizeof *pp);
    pp->params.shift = o->aug_shift;
    pp->params.scale = o->aug_scale;
    pp->params.rotate_deg = o->aug_rotate_deg;
    pp->params.flip = o->aug_flip;
    pp->augmenter = lr_augmenter_create(LR_PATCH, err);
    pp->tmp = lr_malloc(LR_PATCH * LR_PATCH, sizeof(float), err);
    if (!pp->augmenter || !pp->tmp) {
        lr_patch_pipeline_free(pp);
        return -1;
    }
    return 0;
}

void lr_patch_pipeline_free(lr_patch_pipeline *pp)
{
    lr_augmenter_free(pp->augmenter);
    free(pp->tmp);
    memset(pp, 0, sizeof *pp);
}

int lr_build_patch_batch(lr_patch_pipeline *pp, const lr_cohort *c, const int64_t *rows, int n,
                         const lr_train_options *o, gsl_rng *aug_rng, float *x, lr_err *err)
{
    const size_t P2 = LR_PATCH * LR_PATCH;
    for (int k = 0; k < n; k++) {
        const float *src = c->patch + (size_t)rows[k] * P2;
        if (aug_rng && o->augment) {
            lr_aug_draw d;
            lr_aug_sample(&d, &pp->params, LR_PATCH, aug_rng);
            if (lr_augment_patch(pp->augmenter, pp->tmp, src, &d, err)) return -1;
            src = pp->tmp;
        }
        float *dst = x + (size_t)k * P2;
        for (size_t i = 0; i < P2; i++) dst[i] = lr_window(src[i], o->hu_min, o->hu_max);
    }
    return 0;
}
