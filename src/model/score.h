/* Applying a trained lesion model to a cohort it was not trained on (predict): the evaluation of a training
 * job (model/evaluate.c, eval mode: BN running statistics, no augmentation), on the patients one asks for. */
#ifndef LR_MODEL_SCORE_H
#define LR_MODEL_SCORE_H

#include <stdint.h>

#include "data/cohort.h"
#include "model/lesion_model.h"

typedef struct {
    double *annotation_risk;  /* [A] r_a = Σ r_l s_l over its selected lesions (NaN: not scored) */
    float *lesion_risk;       /* [L] r_l */
    float *lesion_scale;      /* [L] s_l (mean_largest5: the diameter weight) */
    int8_t *lesion_used;      /* [L] entered its annotation's risk (the max_lesions largest) */
} lr_scores;

int lr_scores_alloc(lr_scores *s, const lr_cohort *cohort, lr_err *err);
void lr_scores_free(lr_scores *s);

/* Scores every annotation with wanted[a] != 0 (NULL: all) and each of its lesions with model m under
 * options o (HU window, lesion cap), exactly as a training job's full evaluation does; the other rows are
 * NaN / 0. 2D lesion models only (not whole_volume). The CNN's rounding depends on the batch a patch is
 * forwarded in: ask for whole chunks of lr_score_chunks and the risks are bitwise those of the full
 * evaluation (and of the training job's /risks/lesion), whoever scores the other chunks. */
int lr_score_cohort(lr_lesion_model *m, const lr_train_options *o, const lr_cohort *cohort, const int8_t *wanted,
                    lr_scores *out, lr_err *err);

/* chunk[A]: the eval chunk of each annotation; returns the number of chunks. */
size_t lr_score_chunks(const lr_cohort *cohort, int32_t *chunk);

/* Eval-mode lesion risks r[n] of n HU patches [n][72][72] (windowed here with o's HU window). */
int lr_score_patches(lr_lesion_model *m, const lr_train_options *o, const float *hu, int n, float *risk, lr_err *err);

#endif
