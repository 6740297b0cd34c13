/* Evaluation of a training job at a checkpoint: lesion risks (in chunks of patches), annotation risks,
 * patient risks (mean over annotations) and the C-index of each split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"
#include "model/batch.h"
#include "model/train_job.h"
#include "survival/concordance.h"

#define EVAL_CHUNK 128 /* patches per eval-mode forward */

int lr_eval_alloc(eval_out *e, const lr_cohort *cohort, lr_err *err)
{
    e->patient_risk = lr_malloc(cohort->n_patients, sizeof(double), err);
    e->annotation_risk = lr_malloc(cohort->n_annotations + 1, sizeof(double), err);
    e->lesion_risk = lr_malloc(cohort->n_lesions + 1, sizeof(float), err);
    e->lesion_scale = lr_malloc(cohort->n_lesions + 1, sizeof(float), err);
    e->lesion_used = lr_calloc(cohort->n_lesions + 1, 1, err);
    return (e->patient_risk && e->annotation_risk && e->lesion_risk && e->lesion_scale && e->lesion_used) ? 0 : -1;
}

void lr_eval_free(eval_out *e)
{
    free(e->patient_risk);
    free(e->annotation_risk);
    free(e->lesion_risk);
    free(e->lesion_scale);
    free(e->lesion_used);
    memset(e, 0, sizeof *e);
}

void lr_eval_copy(eval_out *dst, const eval_out *src, const lr_cohort *cohort)
{
    memcpy(dst->patient_risk, src->patient_risk, cohort->n_patients * sizeof(double));
    memcpy(dst->annotation_risk, src->annotation_risk, cohort->n_annotations * sizeof(double));
    memcpy(dst->lesion_risk, src->lesion_risk, cohort->n_lesions * sizeof(float));
    memcpy(dst->lesion_scale, src->lesion_scale, cohort->n_lesions * sizeof(float));
    memcpy(dst->lesion_used, src->lesion_used, cohort->n_lesions);
    memcpy(dst->cindex, src->cindex, sizeof dst->cindex);
}

/* Patient risk = mean over the patient's annotations; C-index per role. */
int lr_eval_finish(train_job *job, eval_out *e, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    size_t P = cohort->n_patients;
    double *cnt = lr_calloc(P, sizeof *cnt, err);
    if (!cnt) return -1;
    for (size_t p = 0; p < P; p++) e->patient_risk[p] = 0;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        e->patient_risk[cohort->ann_patient[a]] += e->annotation_risk[a];
        cnt[cohort->ann_patient[a]] += 1;
    }
    for (size_t p = 0; p < P; p++) e->patient_risk[p] = cnt[p] > 0 ? e->patient_risk[p] / cnt[p] : NAN;
    free(cnt);
    double *t = lr_malloc(P, sizeof *t, err), *risk = lr_malloc(P, sizeof *risk, err);
    int *ev = lr_malloc(P, sizeof *ev, err);
    int rc = (t && risk && ev) ? 0 : -1;
    for (int role = 0; role < 3 && rc == 0; role++) {
        size_t n = 0;
        for (size_t p = 0; p < P; p++) {
            if (job->role[p] != role || !isfinite(e->patient_risk[p])) continue;
            t[n] = cohort->time_days[p];
            ev[n] = cohort->event[p];
            risk[n] = e->patient_risk[p];
            n++;
        }
        lr_concordance cc;
        rc = lr_harrell_cindex(n, t, ev, risk, &cc, err);
        e->cindex[role] = cc.cindex;
    }
    free(t);
    free(risk);
    free(ev);
    return rc;
}

static int flush_eval_chunk(train_job *job, eval_out *e, int n, lr_err *err)
{
    if (n == 0) return 0;
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    if (lr_build_patch_batch(&job->pipeline, job->cohort, job->lesion_rows, n, job->opt, NULL, job->input, err)) return -1;
    if (lr_net_forward(job->model->cnn, job->input, n, dims, 0, err)) return -1;
    lr_lesion_model *m = job->model;
    if (lr_job_is_mean5(job)) {
        const size_t E = (size_t)m->cnn->emb_size;
        const float *emb = lr_net_embedding(m->cnn);
        for (int i = 0; i < n; i++) e->lesion_risk[job->lesion_rows[i]] = (float)lr_mean5_lesion_score(m, emb + (size_t)i * E);
    } else {
        const float *out = lr_net_output(m->cnn);
        for (int i = 0; i < n; i++) e->lesion_risk[job->lesion_rows[i]] = out[i];
    }
    return 0;
}

/* Whether annotation a is scored: full evaluations every one (or those of job->score_annotations),
 * otherwise the validation patients'. */
static int scores_annotation(const train_job *job, size_t a, int full)
{
    if (!full) return job->role[job->cohort->ann_patient[a]] == LR_ROLE_VALID;
    return !job->score_annotations || job->score_annotations[a];
}

size_t lr_eval_chunks(const lr_cohort *cohort, int32_t *chunk)
{
    size_t c = 0;
    int n = 0;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        chunk[a] = (int32_t)c;
        n += cohort->ann_n_lesions[a];
        if (n >= EVAL_CHUNK) c++, n = 0;
    }
    return c + (n > 0);
}

/* full: every patient and every lesion (a reported checkpoint); otherwise only the validation patients'
 * annotations and the lesions that enter their risks (checkpoint selection and the validation curve). */
static int evaluate_2d(train_job *job, eval_out *e, int full, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    /* 1. lesion risks r_l, in chunks of whole annotations */
    int n = 0, max = full ? 0 : (lr_job_is_mean5(job) ? 5 : job->opt->max_lesions);
    if (lr_job_grow_lesions(job, EVAL_CHUNK + 64, err)) return -1;
    for (size_t l = 0; l < cohort->n_lesions; l++) e->lesion_risk[l] = NAN;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        if (!scores_annotation(job, a, full)) continue;
        int k = cohort->ann_n_lesions[a];
        if (lr_job_grow_lesions(job, (size_t)(n + k) + 1, err)) return -1;
        n += lr_select_lesions(cohort, a, max, job->lesion_rows + n);
        if (n >= EVAL_CHUNK) {
            if (flush_eval_chunk(job, e, n, err)) return -1;
            n = 0;
        }
    }
    if (flush_eval_chunk(job, e, n, err)) return -1;
    /* 2. per annotation: scales of the selected lesions and the aggregate */
    for (size_t l = 0; l < cohort->n_lesions; l++) e->lesion_scale[l] = NAN, e->lesion_used[l] = 0;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        if (!scores_annotation(job, a, full)) {
            e->annotation_risk[a] = NAN;
            continue;
        }
        int k;
        if (lr_job_gather_batch(job, &a, 1, lr_job_is_mean5(job) ? 5 : job->opt->max_lesions, &k, err)) return -1;
        if (lr_job_is_mean5(job)) {
            float eta = job->model->head[job->model->cnn->emb_size];
            for (int i = 0; i < k; i++) {
                eta += (float)job->lesion_weight[i] * e->lesion_risk[job->lesion_rows[i]];
                e->lesion_scale[job->lesion_rows[i]] = (float)job->lesion_weight[i];
                e->lesion_used[job->lesion_rows[i]] = 1;
            }
            e->annotation_risk[a] = eta;
            continue;
        }
        if (k && lr_size_scale_forward(job->model, job->lesion_volume, k, job->lesion_scale, err)) return -1;
        double eta = 0;
        for (int i = 0; i < k; i++) {
            eta += (double)e->lesion_risk[job->lesion_rows[i]] * job->lesion_scale[i];
            e->lesion_scale[job->lesion_rows[i]] = job->lesion_scale[i];
            e->lesion_used[job->lesion_rows[i]] = 1;
        }
        e->annotation_risk[a] = eta;
    }
    /* lesions beyond max_lesions: report their would-be scale too, marked unused */
    if (full && !lr_job_is_mean5(job))
        for (size_t l = 0; l < cohort->n_lesions; l++)
            if (!e->lesion_used[l] && isfinite(e->lesion_risk[l])) {
                if (lr_size_scale_forward(job->model, &cohort->volume_mm3[l], 1, &e->lesion_scale[l], err)) return -1;
            }
    return lr_eval_finish(job, e, err);
}

static int evaluate_volume(train_job *job, eval_out *e, int full, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    const lr_train_options *o = job->opt;
    size_t nv = (size_t)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    int B = o->wv_batch;
    if (lr_job_volume_buffers(job, B, err)) return -1;
    double *prisk = lr_malloc(cohort->n_patients, sizeof *prisk, err);
    if (!prisk) return -1;
    size_t *todo = lr_malloc(cohort->n_patients, sizeof *todo, err), n = 0;
    if (!todo) goto fail;
    for (size_t p = 0; p < cohort->n_patients; p++) {
        prisk[p] = NAN;
        if (full || job->role[p] == LR_ROLE_VALID) todo[n++] = p;
    }
    for (size_t i0 = 0; i0 < n; i0 += (size_t)B) {
        int nb = (int)((n - i0) < (size_t)B ? n - i0 : (size_t)B);
        for (int b = 0; b < nb; b++)
            if (lr_job_load_volume(job, todo[i0 + b], job->input + (size_t)b * nv, NULL, err)) {
                free(todo);
                goto fail;
            }
        if (lr_net_forward(job->model->cnn, job->input, nb, o->wv_crop, 0, err)) {
            free(todo);
            goto fail;
        }
        for (int b = 0; b < nb; b++) prisk[todo[i0 + b]] = lr_net_output(job->model->cnn)[b];
    }
    free(todo);
    for (size_t a = 0; a < cohort->n_annotations; a++) e->annotation_risk[a] = prisk[cohort->ann_patient[a]];
    for (size_t l = 0; l < cohort->n_lesions; l++) e->lesion_risk[l] = NAN, e->lesion_scale[l] = NAN, e->lesion_used[l] = 0;
    free(prisk);
    /* a patient's risk does not depend on annotations here, but the mean over them is the same number */
    return lr_eval_finish(job, e, err);
fail:
    free(prisk);
    return -1;
}

int lr_job_evaluate(train_job *job, eval_out *e, int full, lr_err *err)
{
    return job->model->kind == LR_MODEL_WHOLE_VOLUME ? evaluate_volume(job, e, full, err) : evaluate_2d(job, e, full, err);
}

/* Full evaluation of the best-validation snapshot (the intermediate evaluation that chose it scored the
 * validation split only); the final weights are put back afterwards. */
int lr_job_evaluate_best_fully(train_job *job, lr_err *err)
{
    lr_lesion_model *m = job->model;
    lr_job_result *res = job->result;
    size_t np = m->cnn->n_params, nb = m->cnn->n_buffers, nh = m->n_head;
    float *keep = lr_malloc(np + nb + nh + 1, sizeof(float), err);
    if (!keep) return -1;
    memcpy(keep, m->cnn->params, np * sizeof(float));
    memcpy(keep + np, m->cnn->buffers, nb * sizeof(float));
    if (nh) memcpy(keep + np + nb, m->head, nh * sizeof(float));
    memcpy(m->cnn->params, res->best_params, np * sizeof(float));
    memcpy(m->cnn->buffers, res->best_buffers, nb * sizeof(float));
    if (nh) memcpy(m->head, res->best_head, nh * sizeof(float));
    int rc = lr_job_evaluate(job, &job->best, 1, err);
    memcpy(m->cnn->params, keep, np * sizeof(float));
    memcpy(m->cnn->buffers, keep + np, nb * sizeof(float));
    if (nh) memcpy(m->head, keep + np + nb, nh * sizeof(float));
    free(keep);
    return rc;
}
