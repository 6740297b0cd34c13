#include "model/score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"
#include "model/batch.h"
#include "model/train_job.h"

int lr_scores_alloc(lr_scores *s, const lr_cohort *cohort, lr_err *err)
{
    memset(s, 0, sizeof *s);
    s->annotation_risk = lr_malloc(cohort->n_annotations + 1, sizeof(double), err);
    s->lesion_risk = lr_malloc(cohort->n_lesions + 1, sizeof(float), err);
    s->lesion_scale = lr_malloc(cohort->n_lesions + 1, sizeof(float), err);
    s->lesion_used = lr_calloc(cohort->n_lesions + 1, 1, err);
    if (s->annotation_risk && s->lesion_risk && s->lesion_scale && s->lesion_used) return 0;
    lr_scores_free(s);
    return -1;
}

void lr_scores_free(lr_scores *s)
{
    free(s->annotation_risk);
    free(s->lesion_risk);
    free(s->lesion_scale);
    free(s->lesion_used);
    memset(s, 0, sizeof *s);
}

int lr_score_cohort(lr_lesion_model *m, const lr_train_options *o, const lr_cohort *cohort, const int8_t *wanted,
                    lr_scores *out, lr_err *err)
{
    if (m->kind == LR_MODEL_WHOLE_VOLUME)
        return lr_fail(err, "model %s scores whole volumes, not lesions", lr_model_name(m->kind));
    lr_job_spec spec = {.cohort = cohort, .opt = o, .kind = m->kind};
    lr_job_result res;
    memset(&res, 0, sizeof res);
    train_job job;
    memset(&job, 0, sizeof job);
    job.spec = &spec;
    job.cohort = cohort;
    job.opt = o;
    job.result = &res;
    job.model = m;
    job.vol_file = -1;
    job.score_annotations = wanted;
    /* every patient is a "test" patient of this evaluation; the C-index it computes is not used */
    job.role = lr_malloc(cohort->n_patients + 1, 1, err);
    int rc = job.role ? 0 : -1;
    for (size_t p = 0; !rc && p < cohort->n_patients; p++) job.role[p] = LR_ROLE_TEST;
    eval_out e;
    memset(&e, 0, sizeof e);
    if (!rc) rc = lr_patch_pipeline_init(&job.pipeline, o, err);
    if (!rc) rc = lr_eval_alloc(&e, cohort, err);
    if (!rc) rc = lr_job_evaluate(&job, &e, 1, err);
    if (!rc) {
        memcpy(out->annotation_risk, e.annotation_risk, cohort->n_annotations * sizeof(double));
        memcpy(out->lesion_risk, e.lesion_risk, cohort->n_lesions * sizeof(float));
        memcpy(out->lesion_scale, e.lesion_scale, cohort->n_lesions * sizeof(float));
        memcpy(out->lesion_used, e.lesion_used, cohort->n_lesions);
    }
    lr_eval_free(&e);
    lr_patch_pipeline_free(&job.pipeline);
    lr_job_free_buffers(&job);
    return rc;
}

int lr_score_patches(lr_lesion_model *m, const lr_train_options *o, const float *hu, int n, float *risk, lr_err *err)
{
    float *x = lr_malloc((size_t)n * P2 + 1, sizeof(float), err);
    if (!x) return -1;
    for (size_t i = 0; i < (size_t)n * P2; i++) x[i] = lr_window(hu[i], o->hu_min, o->hu_max);
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    int rc = lr_net_forward(m->cnn, x, n, dims, 0, err);
    free(x);
    if (rc) return -1;
    if (m->kind == LR_MODEL_MEAN_LARGEST5) {
        const size_t E = (size_t)m->cnn->emb_size;
        const float *emb = lr_net_embedding(m->cnn);
        for (int i = 0; i < n; i++) risk[i] = (float)lr_mean5_lesion_score(m, emb + (size_t)i * E);
    } else {
        const float *out = lr_net_output(m->cnn);
        for (int i = 0; i < n; i++) risk[i] = out[i];
    }
    return 0;
}

size_t lr_score_chunks(const lr_cohort *cohort, int32_t *chunk)
{
    return lr_eval_chunks(cohort, chunk);
}
