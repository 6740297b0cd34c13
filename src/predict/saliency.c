/* Lesion saliency maps: occlusion (below) and SmoothGrad (at the end of this file).
 *
 * Occlusion saliency: how much of a lesion's risk each part of its patch carries. An 8×8 window (stride
 * 4: 17 × 17 positions cover the 72 × 72 patch) is replaced by the lesion's surroundings — the median HU of
 * the patch border — and the eval-mode risk of every occluded copy is computed in batches; a pixel's value
 * is the mean risk drop r(patch) − r(occluded) over the windows that cover it. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort_float.h>
#include <gsl/gsl_statistics_float.h>
#include <stdlib.h>
#include <string.h>

#include "model/batch.h"
#include "model/score.h"
#include "util/rng.h"
#include "predict/predict.h"

#define WIN 8
#define STRIDE 4
#define N_POS ((LR_PATCH - WIN) / STRIDE + 1)
#define P2 (LR_PATCH * LR_PATCH)

static float border_median(const float *hu)
{
    float border[4 * LR_PATCH];
    size_t n = 0;
    for (int i = 0; i < LR_PATCH; i++) {
        border[n++] = hu[i];                               /* top row */
        border[n++] = hu[(LR_PATCH - 1) * LR_PATCH + i];   /* bottom row */
        if (i > 0 && i < LR_PATCH - 1) {
            border[n++] = hu[i * LR_PATCH];                /* left column */
            border[n++] = hu[i * LR_PATCH + LR_PATCH - 1]; /* right column */
        }
    }
    gsl_sort_float(border, 1, n);
    return (float)gsl_stats_float_median_from_sorted_data(border, 1, n);
}

int lr_saliency_occlusion(lr_lesion_model *m, const lr_train_options *o, const float *hu, float *map, lr_err *err)
{
    const int n_win = N_POS * N_POS;
    float *batch = lr_malloc((size_t)(n_win + 1) * P2, sizeof(float), err);
    float *risk = lr_malloc((size_t)n_win + 1, sizeof(float), err);
    int *cover = lr_calloc(P2, sizeof(int), err);
    if (!batch || !risk || !cover) {
        free(batch);
        free(risk);
        free(cover);
        return -1;
    }
    float fill = border_median(hu);
    /* copy 0 is the patch itself, copies 1.. the occluded ones */
    memcpy(batch, hu, P2 * sizeof(float));
    for (int w = 0; w < n_win; w++) {
        float *x = batch + (size_t)(w + 1) * P2;
        memcpy(x, hu, P2 * sizeof(float));
        int r0 = (w / N_POS) * STRIDE, c0 = (w % N_POS) * STRIDE;
        for (int i = r0; i < r0 + WIN; i++)
            for (int j = c0; j < c0 + WIN; j++) x[i * LR_PATCH + j] = fill;
    }
    /* batches of the same size every time, so a lesion's map does not depend on anything else */
    const int chunk = 58; /* 290 copies = 5 × 58 */
    int rc = 0;
    float *all = lr_malloc((size_t)n_win + 1, sizeof(float), err);
    if (!all) rc = -1;
    for (int s = 0; !rc && s < n_win + 1; s += chunk) {
        int n = n_win + 1 - s < chunk ? n_win + 1 - s : chunk;
        rc = lr_score_patches(m, o, batch + (size_t)s * P2, n, all + s, err);
    }
    if (!rc) {
        for (size_t i = 0; i < P2; i++) map[i] = 0;
        for (int w = 0; w < n_win; w++) {
            float drop = all[0] - all[w + 1];
            int r0 = (w / N_POS) * STRIDE, c0 = (w % N_POS) * STRIDE;
            for (int i = r0; i < r0 + WIN; i++)
                for (int j = c0; j < c0 + WIN; j++) map[i * LR_PATCH + j] += drop, cover[i * LR_PATCH + j]++;
        }
        for (size_t i = 0; i < P2; i++) map[i] /= (float)cover[i];
    }
    free(all);
    free(batch);
    free(risk);
    free(cover);
    return rc;
}

/* SmoothGrad (Smilkov et al. 2017): the input gradient of the eval-mode lesion risk, d r_l / d x, by the
 * engine's own backward pass (lr_net_input_gradient), averaged over LR_SMOOTHGRAD_COPIES copies of the
 * windowed patch with Gaussian noise of sd 0.3 (15 % of the window's [-1, 1] range) drawn from the stream
 * (seed, "saliency-smoothgrad", lesion): the same copies for every fold model. Units: risk per unit of the
 * windowed intensity. */
int lr_saliency_smoothgrad(lr_lesion_model *m, const lr_train_options *o, const float *hu, uint64_t seed,
                           int64_t lesion, float *map, lr_err *err)
{
    const int n = LR_SMOOTHGRAD_COPIES;
    const size_t E = (size_t)m->cnn->emb_size;
    float *x = lr_malloc((size_t)n * P2 * 2 + (size_t)n * (E + 1), sizeof(float), err);
    if (!x) return -1;
    float *dx = x + (size_t)n * P2, *dy = dx + (size_t)n * P2, *demb = dy + n;
    gsl_rng *r = lr_rng_stream(seed, "saliency-smoothgrad", lesion, 0, 0);
    if (!r) {
        free(x);
        return lr_fail(err, "out of memory (rng)");
    }
    for (int c = 0; c < n; c++)
        for (size_t i = 0; i < P2; i++)
            x[(size_t)c * P2 + i] = lr_window(hu[i], o->hu_min, o->hu_max) + (float)gsl_ran_gaussian_ziggurat(r, 0.3);
    gsl_rng_free(r);
    int mean5 = m->kind == LR_MODEL_MEAN_LARGEST5; /* r_l = w . emb_l: the gradient enters at the embedding */
    for (int c = 0; c < n; c++) {
        dy[c] = mean5 ? 0.0f : 1.0f;
        for (size_t k = 0; k < E; k++) demb[(size_t)c * E + k] = mean5 ? m->head[k] : 0.0f;
    }
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    int rc = lr_net_forward(m->cnn, x, n, dims, 0, err);
    if (!rc) rc = lr_net_input_gradient(m->cnn, dy, mean5 ? demb : NULL, dx, err);
    if (!rc)
        for (size_t i = 0; i < P2; i++) {
            double s = 0;
            for (int c = 0; c < n; c++) s += dx[(size_t)c * P2 + i];
            map[i] = (float)(s / n);
        }
    free(x);
    return rc;
}
