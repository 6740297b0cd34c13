/* predict: the kept models of one campaign row (model/kept_model.h, the campaign's /models rows) applied to
 * a new cohort — risks per lesion, annotation and patient for every fold model, survival probabilities at
 * the report's horizons from each fold's training Breslow baseline, averaged over the fold models, the
 * external-validation metrics with bootstrap intervals, and lesion saliency maps. The verb (cmd_predict.c)
 * deals patients to MPI ranks and gathers to rank 0, which writes PRED.h5 (README "predict").
 * This folder may use model, survival, data, runner (the config defaults) and report (the campaign reader). */
#ifndef LR_PREDICT_PREDICT_H
#define LR_PREDICT_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "data/cohort.h"
#include "model/kept_model.h"
#include "report/results.h"
#include "util/err.h"

#define LR_PREDICT_VERSION 1

/* The fold models of one campaign row. */
typedef struct {
    lr_results campaign;       /* the campaign file, read whole (no cohort file is read) */
    char path[1024];
    char model[64];
    size_t K;                  /* fold models (folds × replicates), in (fold, replicate) order */
    int32_t *job;              /* [K] row of /jobs */
    int32_t *fold, *replicate; /* [K] */
    char (*label)[64];         /* [K] "fold0"; "repeat1_fold0" with repeats; "_rep1" appended with replicates */
    lr_kept_model *kept;       /* [K] */
    int64_t *offset;           /* [K] into /models/values */
    double *coef;              /* [K] /survival/risk_coef */
    double *cumhaz;            /* [K*H] the fold-training Breslow H0 at each horizon */
} lr_predict_set;

/* Opens the campaign and resolves the row `model`: every job of the row must be ok and kept. Errors name
 * the file and say what is missing: no /models (a campaign merged before models were kept), an unknown row
 * (the rows with kept models are listed), a failed or missing job. */
int lr_predict_open(const char *campaign, const char *model, lr_predict_set *set, lr_err *err);
void lr_predict_close(lr_predict_set *set);
/* The new cohort fits the models: same patch size, every organ name among the training organ names. */
int lr_predict_check_cohort(const lr_predict_set *set, const lr_cohort *cohort, const char *cohort_path, lr_err *err);
/* Builds fold model k (o: scoring options, from the config defaults and the kept model). */
int lr_predict_build(const lr_predict_set *set, size_t k, lr_train_options *o, lr_lesion_model *m, lr_err *err);

/* External-validation metrics of the patients with a finite risk: Harrell's C and Uno's C(τ = last
 * horizon) of the mean risk, AUC(t), Brier(t) and IPA(t) of the mean survival probability at each horizon;
 * each with a BCa bootstrap interval (B replicates, streams from the campaign seed). */
#define LR_PREDICT_MAX_METRICS 40
typedef struct {
    size_t n;
    char name[LR_PREDICT_MAX_METRICS][48];
    double estimate[LR_PREDICT_MAX_METRICS], low[LR_PREDICT_MAX_METRICS], high[LR_PREDICT_MAX_METRICS];
    char note[LR_PREDICT_MAX_METRICS][160]; /* why a metric is NaN ("" otherwise) */
    size_t patients, events;
} lr_predict_metrics;

/* risk[P], surv[P*H] (row-major: patient, horizon); NaN risk = no annotation: left out. */
int lr_predict_metrics_compute(const lr_cohort *cohort, const double *risk, const double *surv, size_t H,
                               const double *horizons, size_t replicates, uint64_t seed, lr_predict_metrics *out,
                               lr_err *err);

/* Saliency of one lesion patch hu [72*72] for model m (saliency.c), map [72*72]: the occlusion map (risk
 * drop when an 8×8 window, stride 4, is set to the patch's border median HU, each pixel the mean drop over
 * the windows covering it), and the SmoothGrad map (the input gradient of the lesion risk averaged over
 * noisy copies drawn from (seed, lesion)). */
int lr_saliency_occlusion(lr_lesion_model *m, const lr_train_options *o, const float *hu, float *map, lr_err *err);
#define LR_SMOOTHGRAD_COPIES 8
int lr_saliency_smoothgrad(lr_lesion_model *m, const lr_train_options *o, const float *hu, uint64_t seed,
                           int64_t lesion, float *map, lr_err *err);

/* The saliency figure (figure.c): DIR/figures/saliency_lesions.png|svg of the 2 highest- and 2 lowest-risk
 * lesions (risk_mean [L]) with their maps [L*72*72] over the patch; *rendered = image files gnuplot made
 * (0 without gnuplot: the data and DIR/figures/render.sh are written all the same). */
int lr_predict_figure(const char *dir, const char *analysis, const lr_cohort *co, const float *risk_mean,
                      const float *occlusion, const float *gradient, size_t *rendered, lr_err *err);

#endif
