/* One cross-validation job: training loop, evaluation, checkpoint selection. */
#include "model/train.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort_ulong.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "data/augment.h"
#include "data/resample.h"
#include "data/split.h"
#include "model/batch.h"
#include "model/pretrain.h"
#include "survival/concordance.h"
#include "survival/npll.h"
#include "util/h5.h"
#include "util/rng.h"

#define P2 (LR_PATCH * LR_PATCH)
#define EVAL_CHUNK 128 /* patches per eval-mode forward */
/* (fold, replicate) -> one id of the order and augmentation streams (replicates stay below it) */
#define STREAM_IDS_PER_FOLD 1000003

/* Evaluation outputs at one checkpoint. */
typedef struct {
    double *patient_risk;    /* [P] */
    double *annotation_risk; /* [A] */
    float *lesion_risk, *lesion_scale; /* [L] */
    int8_t *lesion_used;     /* [L] */
    double c[3];
} eval_out;

typedef struct {
    const lr_job_spec *spec;
    const lr_cohort *c;
    const lr_train_options *o;
    lr_job_result *res;
    lr_lesion_model *m;
    lr_patch_pipeline pp;
    int8_t *role;            /* [P] */
    size_t *train_units;     /* annotations (2D) or patients (whole volume) used for training */
    size_t n_train_units;
    /* batch buffers, grown on demand */
    size_t cap;
    float *x, *r, *s, *dr, *ds, *demb, *dy;
    int64_t *rows;
    int *slot;
    double *vol, *w;
    size_t cap_b;
    double *bt;
    int *bev;
    float *eta, *geta;
    /* whole volumes */
    hid_t vol_file;
    int16_t *vol_raw;
    float *vol_tmp;
    FILE *log;
    eval_out cur, best;
} job;

static void job_log(job *J, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_log(job *J, const char *fmt, ...)
{
    va_list ap;
    if (J->log) {
        va_start(ap, fmt);
        vfprintf(J->log, fmt, ap);
        va_end(ap);
        fflush(J->log);
    }
    if (J->spec->verbose) {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
    }
}

static int grow_lesions(job *J, size_t n, lr_err *err)
{
    if (n <= J->cap) return 0;
    size_t cap = n + n / 2 + 16, E = (size_t)J->m->cnn->emb_size;
    free(J->x);
    free(J->slot);
    free(J->vol);
    /* rows are kept: evaluation grows the buffer while collecting them */
    int64_t *rows = realloc(J->rows, cap * sizeof *J->rows);
    if (rows) J->rows = rows;
    J->x = lr_malloc(cap * (P2 + 6 + E), sizeof(float), err);
    J->slot = lr_malloc(cap, sizeof *J->slot, err);
    J->vol = lr_malloc(cap * 2, sizeof *J->vol, err);
    if (!rows || !J->x || !J->slot || !J->vol) {
        J->cap = 0;
        return lr_fail(err, "out of memory for a batch of %zu lesions", n);
    }
    J->r = J->x + cap * P2;
    J->s = J->r + cap;
    J->dr = J->s + cap;
    J->ds = J->dr + cap;
    J->dy = J->ds + cap;
    J->demb = J->dy + cap;
    J->w = J->vol + cap;
    J->cap = cap;
    return 0;
}

static int grow_batch(job *J, size_t n, lr_err *err)
{
    if (n <= J->cap_b) return 0;
    size_t cap = n + 8;
    free(J->bt);
    free(J->bev);
    free(J->eta);
    J->bt = lr_malloc(cap, sizeof(double), err);
    J->bev = lr_malloc(cap, sizeof(int), err);
    J->eta = lr_malloc(cap * 2, sizeof(float), err);
    if (!J->bt || !J->bev || !J->eta) return -1;
    J->geta = J->eta + cap;
    J->cap_b = cap;
    return 0;
}

/* ---- size statistics from the training lesions ---- */

static void size_normalisation(job *J)
{
    const lr_cohort *c = J->c;
    double s = 0, s2 = 0, sv = 0;
    size_t n = 0;
    for (size_t a = 0; a < c->n_annotations; a++) {
        if (J->role[c->ann_patient[a]] != LR_ROLE_TRAIN) continue;
        for (int k = 0; k < c->ann_n_lesions[a]; k++) {
            double v = c->volume_mm3[c->ann_first_lesion[a] + k], lv = log(v);
            s += lv;
            s2 += lv * lv;
            sv += v;
            n++;
        }
    }
    if (n > 1) {
        J->m->logv_mean = s / (double)n;
        J->m->logv_sd = sqrt(fmax(s2 / (double)n - J->m->logv_mean * J->m->logv_mean, 1e-6));
        J->m->v_mean = sv / (double)n;
    }
}

/* ---- 2D lesion models: one training step on a batch of annotations ---- */

static int gather_batch(job *J, const size_t *ann, int B, int max_lesions, int *n_out, lr_err *err)
{
    const lr_cohort *c = J->c;
    size_t n = 0;
    for (int b = 0; b < B; b++) n += (size_t)c->ann_n_lesions[ann[b]];
    if (grow_lesions(J, n + 1, err) || grow_batch(J, (size_t)B, err)) return -1;
    int total = 0;
    for (int b = 0; b < B; b++) {
        int k = lr_select_lesions(c, ann[b], max_lesions, J->rows + total);
        if (k < 0) return lr_fail(err, "out of memory selecting lesions");
        double dsum = 0;
        for (int i = 0; i < k; i++) dsum += c->diameter_mm[J->rows[total + i]];
        for (int i = 0; i < k; i++) {
            J->slot[total + i] = b;
            J->vol[total + i] = c->volume_mm3[J->rows[total + i]];
            J->w[total + i] = dsum > 0 ? c->diameter_mm[J->rows[total + i]] / dsum : 0;
        }
        total += k;
        size_t p = (size_t)c->ann_patient[ann[b]];
        J->bt[b] = c->time_days[p];
        J->bev[b] = c->event[p];
    }
    *n_out = total;
    return 0;
}

static int is_mean5(const job *J) { return J->m->kind == LR_MODEL_MEAN_LARGEST5; }

/* Annotation risks eta[b] from lesion outputs (train or eval); fills J->s. */
static int aggregate(job *J, int n, int B, const float *r_or_emb, lr_err *err)
{
    lr_lesion_model *m = J->m;
    for (int b = 0; b < B; b++) J->eta[b] = 0;
    if (is_mean5(J)) {
        for (int i = 0; i < n; i++) J->s[i] = (float)J->w[i];
        lr_mean5_forward(m, J->eta, J->r, r_or_emb, J->w, J->slot, n, B);
        return 0;
    }
    if (lr_size_scale_forward(m, J->vol, n, J->s, err)) return -1;
    memcpy(J->r, r_or_emb, (size_t)n * sizeof(float));
    lr_aggregate_sum(J->eta, J->r, J->s, J->slot, n, B);
    return 0;
}

static int train_step_2d(job *J, const size_t *ann, int B, gsl_rng *aug, double *loss, int *used, lr_err *err)
{
    lr_lesion_model *m = J->m;
    const lr_train_options *o = J->o;
    int n;
    *used = 0;
    if (gather_batch(J, ann, B, is_mean5(J) ? 5 : o->max_lesions, &n, err)) return -1;
    if (n == 0) return 0;
    if (lr_build_patch_batch(&J->pp, J->c, J->rows, n, o, aug, J->x, err)) return -1;
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    if (lr_net_forward(m->cnn, J->x, n, dims, 1, err)) return -1;
    const float *out = is_mean5(J) ? lr_net_embedding(m->cnn) : lr_net_output(m->cnn);
    if (aggregate(J, n, B, out, err)) return -1;
    for (int b = 0; b < B; b++)
        if (!isfinite(J->eta[b])) return lr_fail(err, "non-finite risk: training diverged (lower train.lr?)");
    lr_npll_result nr;
    if (lr_npll_f((size_t)B, J->bt, J->bev, J->eta, (lr_ties)o->ties, &nr, J->geta, err)) return -1;
    if (nr.no_events) return 0; /* no event in the batch: nothing to learn, skip the step */
    *loss = nr.mean;
    if (!isfinite(nr.mean)) return 0;
    float inv = 1.0f / (float)nr.events;
    lr_net_zero_grad(m->cnn);
    if (m->n_head) memset(m->head_grad, 0, m->n_head * sizeof(float));
    for (int b = 0; b < B; b++) J->geta[b] *= inv; /* gradient of the mean over events */
    if (is_mean5(J)) {
        lr_mean5_backward(m, J->demb, J->geta, lr_net_embedding(m->cnn), J->w, J->slot, n, B);
        for (int i = 0; i < n; i++) J->dy[i] = 0;
        if (lr_net_backward(m->cnn, J->dy, J->demb, err)) return -1;
    } else {
        lr_aggregate_sum_backward(J->dr, J->ds, J->geta, J->r, J->s, J->slot, n);
        lr_size_scale_backward(m, J->ds, n);
        if (lr_net_backward(m->cnn, J->dr, NULL, err)) return -1;
    }
    lr_adam_step(&m->opt_cnn, m->cnn->params, m->cnn->grads);
    if (m->n_head) lr_adam_step(&m->opt_head, m->head, m->head_grad); /* no_scaler has no head */
    *used = 1;
    return 0;
}

/* ---- whole volumes ---- */

static int load_volume(job *J, size_t p, float *dst, gsl_rng *aug, lr_err *err)
{
    const lr_cohort *c = J->c;
    const lr_train_options *o = J->o;
    if (lr_cohort_read_volume(J->vol_file, p, c->volume_dims, J->vol_raw, err)) return -1;
    size_t nv = (size_t)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    float *target = aug && o->augment ? J->vol_tmp : dst;
    const size_t crop[3] = {(size_t)o->wv_crop[0], (size_t)o->wv_crop[1], (size_t)o->wv_crop[2]};
    lr_volume_resample(target, LR_VOXEL_FLOAT, crop, o->wv_spacing_mm, J->vol_raw, LR_VOXEL_INT16, c->volume_dims,
                       c->volume_spacing_mm, LR_HU_AIR);
    if (aug && o->augment) {
        lr_aug_params ap = {o->aug_shift, o->aug_scale, o->aug_rotate_deg, o->aug_flip};
        lr_aug_draw d;
        lr_aug_sample(&d, &ap, o->wv_crop[1], aug);
        double shift_z = (2 * gsl_rng_uniform(aug) - 1) * o->aug_shift * o->wv_crop[0];
        lr_augment_volume(dst, J->vol_tmp, o->wv_crop[0], o->wv_crop[1], o->wv_crop[2], &d, shift_z);
    }
    for (size_t i = 0; i < nv; i++) dst[i] = lr_window(dst[i], o->hu_min, o->hu_max);
    return 0;
}

static int volume_batch_buffers(job *J, int B, lr_err *err)
{
    size_t nv = (size_t)J->o->wv_crop[0] * J->o->wv_crop[1] * J->o->wv_crop[2];
    if (!J->vol_raw) {
        const size_t *d = J->c->volume_dims;
        J->vol_raw = lr_malloc(d[0] * d[1] * d[2], sizeof(int16_t), err);
        J->vol_tmp = lr_malloc(nv, sizeof(float), err);
        if (!J->vol_raw || !J->vol_tmp) return -1;
    }
    if ((size_t)B * nv / P2 + 1 > J->cap && grow_lesions(J, (size_t)B * nv / P2 + 2, err)) return -1;
    return grow_batch(J, (size_t)B, err);
}

static int train_step_volume(job *J, const size_t *patients, int B, gsl_rng *aug, double *loss, int *used,
                             lr_err *err)
{
    const lr_train_options *o = J->o;
    size_t nv = (size_t)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    *used = 0;
    if (volume_batch_buffers(J, B, err)) return -1;
    for (int b = 0; b < B; b++) {
        if (load_volume(J, patients[b], J->x + (size_t)b * nv, aug, err)) return -1;
        J->bt[b] = J->c->time_days[patients[b]];
        J->bev[b] = J->c->event[patients[b]];
    }
    lr_net *net = J->m->cnn;
    if (lr_net_forward(net, J->x, B, o->wv_crop, 1, err)) return -1;
    const float *out = lr_net_output(net);
    for (int b = 0; b < B; b++) {
        J->eta[b] = out[b];
        if (!isfinite(J->eta[b])) return lr_fail(err, "non-finite risk: training diverged (lower train.lr?)");
    }
    lr_npll_result nr;
    if (lr_npll_f((size_t)B, J->bt, J->bev, J->eta, (lr_ties)o->ties, &nr, J->geta, err)) return -1;
    if (nr.no_events) return 0;
    *loss = nr.mean;
    if (!isfinite(nr.mean)) return 0;
    for (int b = 0; b < B; b++) J->dy[b] = J->geta[b] / (float)nr.events;
    lr_net_zero_grad(net);
    if (lr_net_backward(net, J->dy, NULL, err)) return -1;
    lr_adam_step(&J->m->opt_cnn, net->params, net->grads);
    *used = 1;
    return 0;
}

/* ---- evaluation ---- */

static int eval_alloc(eval_out *e, const lr_cohort *c, lr_err *err)
{
    e->patient_risk = lr_malloc(c->n_patients, sizeof(double), err);
    e->annotation_risk = lr_malloc(c->n_annotations + 1, sizeof(double), err);
    e->lesion_risk = lr_malloc(c->n_lesions + 1, sizeof(float), err);
    e->lesion_scale = lr_malloc(c->n_lesions + 1, sizeof(float), err);
    e->lesion_used = lr_calloc(c->n_lesions + 1, 1, err);
    return (e->patient_risk && e->annotation_risk && e->lesion_risk && e->lesion_scale && e->lesion_used) ? 0 : -1;
}

static void eval_free(eval_out *e)
{
    free(e->patient_risk);
    free(e->annotation_risk);
    free(e->lesion_risk);
    free(e->lesion_scale);
    free(e->lesion_used);
    memset(e, 0, sizeof *e);
}

static void eval_copy(eval_out *dst, const eval_out *src, const lr_cohort *c)
{
    memcpy(dst->patient_risk, src->patient_risk, c->n_patients * sizeof(double));
    memcpy(dst->annotation_risk, src->annotation_risk, c->n_annotations * sizeof(double));
    memcpy(dst->lesion_risk, src->lesion_risk, c->n_lesions * sizeof(float));
    memcpy(dst->lesion_scale, src->lesion_scale, c->n_lesions * sizeof(float));
    memcpy(dst->lesion_used, src->lesion_used, c->n_lesions);
    memcpy(dst->c, src->c, sizeof dst->c);
}

/* Patient risk = mean over the patient's annotations; C-index per role. */
static int finish_eval(job *J, eval_out *e, lr_err *err)
{
    const lr_cohort *c = J->c;
    size_t P = c->n_patients;
    double *cnt = lr_calloc(P, sizeof *cnt, err);
    if (!cnt) return -1;
    for (size_t p = 0; p < P; p++) e->patient_risk[p] = 0;
    for (size_t a = 0; a < c->n_annotations; a++) {
        e->patient_risk[c->ann_patient[a]] += e->annotation_risk[a];
        cnt[c->ann_patient[a]] += 1;
    }
    for (size_t p = 0; p < P; p++) e->patient_risk[p] = cnt[p] > 0 ? e->patient_risk[p] / cnt[p] : NAN;
    free(cnt);
    double *t = lr_malloc(P, sizeof *t, err), *risk = lr_malloc(P, sizeof *risk, err);
    int *ev = lr_malloc(P, sizeof *ev, err);
    int rc = (t && risk && ev) ? 0 : -1;
    for (int role = 0; role < 3 && rc == 0; role++) {
        size_t n = 0;
        for (size_t p = 0; p < P; p++) {
            if (J->role[p] != role || !isfinite(e->patient_risk[p])) continue;
            t[n] = c->time_days[p];
            ev[n] = c->event[p];
            risk[n] = e->patient_risk[p];
            n++;
        }
        lr_concordance cc;
        rc = lr_harrell_cindex(n, t, ev, risk, &cc, err);
        e->c[role] = cc.cindex;
    }
    free(t);
    free(risk);
    free(ev);
    return rc;
}

static int flush_eval_chunk(job *J, eval_out *e, int n, lr_err *err)
{
    if (n == 0) return 0;
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    if (lr_build_patch_batch(&J->pp, J->c, J->rows, n, J->o, NULL, J->x, err)) return -1;
    if (lr_net_forward(J->m->cnn, J->x, n, dims, 0, err)) return -1;
    lr_lesion_model *m = J->m;
    if (is_mean5(J)) {
        const size_t E = (size_t)m->cnn->emb_size;
        const float *emb = lr_net_embedding(m->cnn);
        for (int i = 0; i < n; i++) e->lesion_risk[J->rows[i]] = (float)lr_mean5_lesion_score(m, emb + (size_t)i * E);
    } else {
        const float *out = lr_net_output(m->cnn);
        for (int i = 0; i < n; i++) e->lesion_risk[J->rows[i]] = out[i];
    }
    return 0;
}

/* full: every patient and every lesion (a reported checkpoint); otherwise only the validation patients'
 * annotations and the lesions that enter their risks (checkpoint selection and the validation curve). */
static int evaluate_2d(job *J, eval_out *e, int full, lr_err *err)
{
    const lr_cohort *c = J->c;
    /* 1. lesion risks r_l, in chunks of whole annotations */
    int n = 0, max = full ? 0 : (is_mean5(J) ? 5 : J->o->max_lesions);
    if (grow_lesions(J, EVAL_CHUNK + 64, err)) return -1;
    for (size_t l = 0; l < c->n_lesions; l++) e->lesion_risk[l] = NAN;
    for (size_t a = 0; a < c->n_annotations; a++) {
        if (!full && J->role[c->ann_patient[a]] != LR_ROLE_VALID) continue;
        int k = c->ann_n_lesions[a];
        if (grow_lesions(J, (size_t)(n + k) + 1, err)) return -1;
        n += lr_select_lesions(c, a, max, J->rows + n);
        if (n >= EVAL_CHUNK) {
            if (flush_eval_chunk(J, e, n, err)) return -1;
            n = 0;
        }
    }
    if (flush_eval_chunk(J, e, n, err)) return -1;
    /* 2. per annotation: scales of the selected lesions and the aggregate */
    for (size_t l = 0; l < c->n_lesions; l++) e->lesion_scale[l] = NAN, e->lesion_used[l] = 0;
    for (size_t a = 0; a < c->n_annotations; a++) {
        if (!full && J->role[c->ann_patient[a]] != LR_ROLE_VALID) {
            e->annotation_risk[a] = NAN;
            continue;
        }
        int k;
        if (gather_batch(J, &a, 1, is_mean5(J) ? 5 : J->o->max_lesions, &k, err)) return -1;
        if (is_mean5(J)) {
            float eta = J->m->head[J->m->cnn->emb_size];
            for (int i = 0; i < k; i++) {
                eta += (float)J->w[i] * e->lesion_risk[J->rows[i]];
                e->lesion_scale[J->rows[i]] = (float)J->w[i];
                e->lesion_used[J->rows[i]] = 1;
            }
            e->annotation_risk[a] = eta;
            continue;
        }
        if (k && lr_size_scale_forward(J->m, J->vol, k, J->s, err)) return -1;
        double eta = 0;
        for (int i = 0; i < k; i++) {
            eta += (double)e->lesion_risk[J->rows[i]] * J->s[i];
            e->lesion_scale[J->rows[i]] = J->s[i];
            e->lesion_used[J->rows[i]] = 1;
        }
        e->annotation_risk[a] = eta;
    }
    /* lesions beyond max_lesions: report their would-be scale too, marked unused */
    if (full && !is_mean5(J))
        for (size_t l = 0; l < c->n_lesions; l++)
            if (!e->lesion_used[l]) {
                if (lr_size_scale_forward(J->m, &c->volume_mm3[l], 1, &e->lesion_scale[l], err)) return -1;
            }
    return finish_eval(J, e, err);
}

static int evaluate_volume(job *J, eval_out *e, int full, lr_err *err)
{
    const lr_cohort *c = J->c;
    const lr_train_options *o = J->o;
    size_t nv = (size_t)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    int B = o->wv_batch;
    if (volume_batch_buffers(J, B, err)) return -1;
    double *prisk = lr_malloc(c->n_patients, sizeof *prisk, err);
    if (!prisk) return -1;
    size_t *todo = lr_malloc(c->n_patients, sizeof *todo, err), n = 0;
    if (!todo) goto fail;
    for (size_t p = 0; p < c->n_patients; p++) {
        prisk[p] = NAN;
        if (full || J->role[p] == LR_ROLE_VALID) todo[n++] = p;
    }
    for (size_t i0 = 0; i0 < n; i0 += (size_t)B) {
        int nb = (int)((n - i0) < (size_t)B ? n - i0 : (size_t)B);
        for (int b = 0; b < nb; b++)
            if (load_volume(J, todo[i0 + b], J->x + (size_t)b * nv, NULL, err)) {
                free(todo);
                goto fail;
            }
        if (lr_net_forward(J->m->cnn, J->x, nb, o->wv_crop, 0, err)) {
            free(todo);
            goto fail;
        }
        for (int b = 0; b < nb; b++) prisk[todo[i0 + b]] = lr_net_output(J->m->cnn)[b];
    }
    free(todo);
    for (size_t a = 0; a < c->n_annotations; a++) e->annotation_risk[a] = prisk[c->ann_patient[a]];
    for (size_t l = 0; l < c->n_lesions; l++) e->lesion_risk[l] = NAN, e->lesion_scale[l] = NAN, e->lesion_used[l] = 0;
    free(prisk);
    /* a patient's risk does not depend on annotations here, but the mean over them is the same number */
    return finish_eval(J, e, err);
fail:
    free(prisk);
    return -1;
}

static int evaluate(job *J, eval_out *e, int full, lr_err *err)
{
    return J->m->kind == LR_MODEL_WHOLE_VOLUME ? evaluate_volume(J, e, full, err) : evaluate_2d(J, e, full, err);
}

/* ---- checkpoints ---- */

static int snapshot_best(job *J, lr_err *err)
{
    lr_job_result *res = J->res;
    lr_lesion_model *m = J->m;
    if (!res->best_params) {
        res->best_params = lr_malloc(m->cnn->n_params + m->cnn->n_buffers + m->n_head + 1, sizeof(float), err);
        if (!res->best_params) return -1;
        res->best_buffers = res->best_params + m->cnn->n_params;
        res->best_head = res->best_buffers + m->cnn->n_buffers;
    }
    memcpy(res->best_params, m->cnn->params, m->cnn->n_params * sizeof(float));
    memcpy(res->best_buffers, m->cnn->buffers, m->cnn->n_buffers * sizeof(float));
    if (m->n_head) memcpy(res->best_head, m->head, m->n_head * sizeof(float));
    return 0;
}


/* ---- per-epoch checkpoints ---- */

static int ck_write_f(hid_t f, const char *path, const float *v, size_t n, lr_err *err)
{
    hsize_t d = n;
    return lr_h5_write(f, path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, &d, NULL, 0, v, err);
}

static int ck_write_d(hid_t f, const char *path, const double *v, size_t n, lr_err *err)
{
    hsize_t d = n;
    return lr_h5_write(f, path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, NULL, 0, v, err);
}

static int ck_read(hid_t f, const char *path, hid_t type, void *v, size_t n, lr_err *err)
{
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    if (lr_h5_shape(f, path, &rank, d, err)) return -1;
    if (rank != 1 || d[0] != n) return lr_fail(err, "checkpoint %s: expected %zu values", path, n);
    return n ? lr_h5_read(f, path, type, v, err) : 0;
}

/* Everything the remaining epochs depend on: weights, BN statistics, Adam state, curves, the best
 * checkpoint so far. The RNG streams are keyed by epoch, so they need no state. */
static int checkpoint_save(job *J, int epochs_done, double best_valid, lr_err *err)
{
    const lr_job_spec *s = J->spec;
    lr_lesion_model *m = J->m;
    lr_job_result *res = J->res;
    const lr_cohort *c = J->c;
    char tmp[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", s->checkpoint_path, (long)getpid());
    hid_t f = lr_h5_create(tmp, err);
    if (f < 0) return -1;
    long meta[3] = {(long)s->identity, epochs_done, res->best_epoch}, steps[2] = {m->opt_cnn.step, m->opt_head.step};
    int rc = lr_h5_attr_write(f, "/", "meta", H5T_NATIVE_LONG, H5T_STD_I64LE, 3, meta, err);
    if (!rc) rc = lr_h5_attr_write(f, "/", "adam_steps", H5T_NATIVE_LONG, H5T_STD_I64LE, 2, steps, err);
    if (!rc) rc = lr_h5_attr_write(f, "/", "best_valid", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &best_valid, err);
    if (!rc) rc = ck_write_f(f, "/params", m->cnn->params, m->cnn->n_params, err);
    if (!rc) rc = ck_write_f(f, "/buffers", m->cnn->buffers, m->cnn->n_buffers, err);
    if (!rc) rc = ck_write_f(f, "/adam_m", m->opt_cnn.m, 2 * m->opt_cnn.n, err); /* m and v are one allocation */
    if (!rc && m->n_head) rc = ck_write_f(f, "/head", m->head, m->n_head, err);
    if (!rc && m->n_head) rc = ck_write_f(f, "/head_adam", m->opt_head.m, 2 * m->opt_head.n, err);
    if (!rc) rc = ck_write_d(f, "/train_loss", res->train_loss, (size_t)res->epochs, err);
    if (!rc) rc = ck_write_d(f, "/c_epoch", res->c_epoch, 3 * (size_t)res->epochs, err);
    if (!rc && res->best_epoch >= 0) {
        eval_out *b = &J->best;
        rc = ck_write_f(f, "/best/params", res->best_params, m->cnn->n_params + m->cnn->n_buffers + m->n_head, err);
        if (!rc) rc = ck_write_d(f, "/best/patient_risk", b->patient_risk, c->n_patients, err);
        if (!rc) rc = ck_write_d(f, "/best/annotation_risk", b->annotation_risk, c->n_annotations, err);
        if (!rc) rc = ck_write_f(f, "/best/lesion_risk", b->lesion_risk, c->n_lesions, err);
        if (!rc) rc = ck_write_f(f, "/best/lesion_scale", b->lesion_scale, c->n_lesions, err);
        hsize_t L = c->n_lesions;
        if (!rc) rc = lr_h5_write(f, "/best/lesion_used", H5T_NATIVE_INT8, H5T_STD_I8LE, 1, &L, NULL, 0, b->lesion_used, err);
        if (!rc) rc = ck_write_d(f, "/best/c", b->c, 3, err);
    }
    if (H5Fclose(f) < 0 && !rc) rc = lr_fail(err, "%s: error closing", tmp);
    if (!rc && rename(tmp, s->checkpoint_path) != 0) rc = lr_fail(err, "%s: cannot rename checkpoint", s->checkpoint_path);
    if (rc) unlink(tmp);
    return rc;
}

/* Returns the number of epochs already done (0: no usable checkpoint). */
static int checkpoint_load(job *J, double *best_valid, lr_err *err)
{
    const lr_job_spec *s = J->spec;
    struct stat st;
    if (!s->checkpoint_path || stat(s->checkpoint_path, &st) != 0) return 0;
    lr_lesion_model *m = J->m;
    lr_job_result *res = J->res;
    const lr_cohort *c = J->c;
    lr_err e2;
    hid_t f = lr_h5_open_read(s->checkpoint_path, &e2);
    if (f < 0) return 0; /* a torn checkpoint cannot exist (rename), but be safe: start over */
    long meta[3], steps[2];
    int done = 0;
    if (lr_h5_attr_read(f, "/", "meta", H5T_NATIVE_LONG, 3, meta, &e2) || meta[0] != (long)s->identity ||
        meta[1] < 1 || meta[1] > res->epochs) {
        H5Fclose(f);
        job_log(J, "checkpoint %s belongs to another job or config: starting from epoch 1\n", s->checkpoint_path);
        return 0;
    }
    int rc = lr_h5_attr_read(f, "/", "adam_steps", H5T_NATIVE_LONG, 2, steps, err);
    if (!rc) rc = lr_h5_attr_read(f, "/", "best_valid", H5T_NATIVE_DOUBLE, 1, best_valid, err);
    if (!rc) rc = ck_read(f, "/params", H5T_NATIVE_FLOAT, m->cnn->params, m->cnn->n_params, err);
    if (!rc) rc = ck_read(f, "/buffers", H5T_NATIVE_FLOAT, m->cnn->buffers, m->cnn->n_buffers, err);
    if (!rc) rc = ck_read(f, "/adam_m", H5T_NATIVE_FLOAT, m->opt_cnn.m, 2 * m->opt_cnn.n, err);
    if (!rc && m->n_head) rc = ck_read(f, "/head", H5T_NATIVE_FLOAT, m->head, m->n_head, err);
    if (!rc && m->n_head) rc = ck_read(f, "/head_adam", H5T_NATIVE_FLOAT, m->opt_head.m, 2 * m->opt_head.n, err);
    if (!rc) rc = ck_read(f, "/train_loss", H5T_NATIVE_DOUBLE, res->train_loss, (size_t)res->epochs, err);
    if (!rc) rc = ck_read(f, "/c_epoch", H5T_NATIVE_DOUBLE, res->c_epoch, 3 * (size_t)res->epochs, err);
    res->best_epoch = (int)meta[2];
    if (!rc && res->best_epoch >= 0) {
        eval_out *b = &J->best;
        if (snapshot_best(J, err)) rc = -1; /* allocates the snapshot, then overwritten */
        if (!rc) rc = ck_read(f, "/best/params", H5T_NATIVE_FLOAT, res->best_params,
                              m->cnn->n_params + m->cnn->n_buffers + m->n_head, err);
        if (!rc) rc = ck_read(f, "/best/patient_risk", H5T_NATIVE_DOUBLE, b->patient_risk, c->n_patients, err);
        if (!rc) rc = ck_read(f, "/best/annotation_risk", H5T_NATIVE_DOUBLE, b->annotation_risk, c->n_annotations, err);
        if (!rc) rc = ck_read(f, "/best/lesion_risk", H5T_NATIVE_FLOAT, b->lesion_risk, c->n_lesions, err);
        if (!rc) rc = ck_read(f, "/best/lesion_scale", H5T_NATIVE_FLOAT, b->lesion_scale, c->n_lesions, err);
        if (!rc) rc = ck_read(f, "/best/lesion_used", H5T_NATIVE_INT8, b->lesion_used, c->n_lesions, err);
        if (!rc) rc = ck_read(f, "/best/c", H5T_NATIVE_DOUBLE, b->c, 3, err);
    }
    H5Fclose(f);
    if (rc) return lr_fail_ctx(err, "resuming from %s", s->checkpoint_path);
    m->opt_cnn.step = steps[0];
    m->opt_head.step = steps[1];
    done = (int)meta[1];
    res->epochs_run = done;
    job_log(J, "resumed from checkpoint after epoch %d\n", done);
    return done;
}

/* ---- the job ---- */

static int job_setup(job *J, lr_err *err)
{
    const lr_cohort *c = J->c;
    const lr_job_spec *s = J->spec;
    J->role = lr_malloc(c->n_patients, 1, err);
    J->train_units = lr_malloc(c->n_annotations + c->n_patients + 1, sizeof(size_t), err);
    if (!J->role || !J->train_units) return -1;
    for (size_t p = 0; p < c->n_patients; p++) J->role[p] = (int8_t)lr_split_role(s->part[p], s->fold, s->folds);
    size_t *n_ann = lr_calloc(c->n_patients, sizeof *n_ann, err);
    if (!n_ann) return -1;
    for (size_t a = 0; a < c->n_annotations; a++) {
        n_ann[c->ann_patient[a]]++;
        if (c->ann_n_lesions[a] == 0) J->res->annotations_without_lesions++;
    }
    for (size_t p = 0; p < c->n_patients; p++) J->res->patients_without_annotations += n_ann[p] == 0;
    J->n_train_units = 0;
    if (s->kind == LR_MODEL_WHOLE_VOLUME) {
        for (size_t p = 0; p < c->n_patients; p++)
            if (J->role[p] == LR_ROLE_TRAIN) J->train_units[J->n_train_units++] = p;
    } else {
        /* every annotation is a training example; annotations without lesions carry no signal */
        for (size_t a = 0; a < c->n_annotations; a++)
            if (J->role[c->ann_patient[a]] == LR_ROLE_TRAIN && c->ann_n_lesions[a] > 0)
                J->train_units[J->n_train_units++] = a;
    }
    free(n_ann);
    if (J->n_train_units < 2) return lr_fail(err, "fold %d has %zu training examples: nothing to train on", s->fold,
                                             J->n_train_units);
    return 0;
}

static int init_weights(job *J, lr_err *err)
{
    const lr_job_spec *s = J->spec;
    const lr_train_options *o = J->o;
    lr_job_result *res = J->res;
    gsl_rng *r = lr_rng_stream(s->seed, "init", s->kind, s->fold, s->replicate);
    if (!r) return lr_fail(err, "out of memory (rng)");
    int rc = lr_lesion_model_init(J->m, s->kind, o, r, err);
    gsl_rng_free(r);
    if (rc) return -1;
    snprintf(res->weights_source, sizeof res->weights_source, "random init (torchvision scheme)");
    if (!lr_model_uses_resnet50(s->kind)) return 0;
    const char *file = s->kind == LR_MODEL_IMAGENET_RESNET50 ? o->imagenet_weights : o->radimagenet_weights;
    if (file[0]) {
        if (lr_net_load(J->m->cnn, file, LR_LOAD_SKIP_FC_MISMATCH, err)) return lr_fail_ctx(err, "weights %s", file);
        snprintf(res->weights_source, sizeof res->weights_source, "file: %.490s", file);
    } else {
        char desc[400];
        lr_pretrain_task task = lr_pretrain_task_of(s->kind);
        if (lr_pretrain_ensure(o, task, desc, sizeof desc, err)) return -1;
        if (lr_net_load(J->m->cnn, lr_pretrain_path(o, task), LR_LOAD_SKIP_FC_MISMATCH, err))
            return lr_fail_ctx(err, "pretrained weights %s", lr_pretrain_path(o, task));
        snprintf(res->weights_source, sizeof res->weights_source, "%s", desc);
        job_log(J, "note: no %s weights file in the config; using %s (not ImageNet)\n",
                s->kind == LR_MODEL_IMAGENET_RESNET50 ? "ImageNet" : "RadImageNet", desc);
    }
    /* the loaded fc belongs to another task: restart the risk head near zero */
    const lr_tensor *fw = lr_net_tensor(J->m->cnn, "fc.weight"), *fb = lr_net_tensor(J->m->cnn, "fc.bias");
    gsl_rng *r2 = lr_rng_stream(s->seed, "init-fc", s->kind, s->fold, s->replicate);
    if (!r2) return lr_fail(err, "out of memory (rng)");
    float *w = lr_net_tensor_data(J->m->cnn, fw);
    double bound = 0.1 / sqrt((double)J->m->cnn->emb_size);
    for (size_t i = 0; i < fw->numel; i++) w[i] = (float)((2 * gsl_rng_uniform(r2) - 1) * bound);
    lr_net_tensor_data(J->m->cnn, fb)[0] = 0;
    gsl_rng_free(r2);
    return 0;
}

static int run_epoch(job *J, int epoch, double *mean_loss, lr_err *err)
{
    const lr_job_spec *s = J->spec;
    int64_t id = (int64_t)s->fold * STREAM_IDS_PER_FOLD + s->replicate;
    gsl_rng *order = lr_rng_stream(s->seed, "order", s->kind, id, epoch);
    gsl_rng *aug = lr_rng_stream(s->seed, "augment", s->kind, id, epoch);
    if (!order || !aug) {
        if (order) gsl_rng_free(order);
        if (aug) gsl_rng_free(aug);
        return lr_fail(err, "out of memory (rng)");
    }
    /* every epoch shuffles the same ascending list, so the order depends on the epoch alone (resume) */
    gsl_sort_ulong((unsigned long *)J->train_units, 1, J->n_train_units);
    gsl_ran_shuffle(order, J->train_units, J->n_train_units, sizeof(size_t));
    int B = J->m->kind == LR_MODEL_WHOLE_VOLUME ? J->o->wv_batch : J->o->batch_annotations;
    double sum = 0;
    int steps = 0, rc = 0;
    for (size_t i = 0; i < J->n_train_units && rc == 0; i += (size_t)B) {
        int nb = (int)((J->n_train_units - i) < (size_t)B ? J->n_train_units - i : (size_t)B);
        if (nb < 2) break; /* a single example has no Cox risk set */
        double loss = 0;
        int used = 0;
        rc = J->m->kind == LR_MODEL_WHOLE_VOLUME ? train_step_volume(J, J->train_units + i, nb, aug, &loss, &used, err)
                                                 : train_step_2d(J, J->train_units + i, nb, aug, &loss, &used, err);
        if (rc) lr_fail_ctx(err, "epoch %d, batch %zu", epoch + 1, i / (size_t)B + 1);
        if (rc == 0 && !isfinite(loss))
            rc = lr_fail(err, "non-finite loss at epoch %d, batch %zu (learning rate too high?)", epoch + 1,
                         i / (size_t)B + 1);
        if (used) sum += loss, steps++;
    }
    gsl_rng_free(order);
    gsl_rng_free(aug);
    *mean_loss = steps ? sum / steps : NAN;
    return rc;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int result_alloc(lr_job_result *res, const lr_cohort *c, int epochs, lr_err *err)
{
    res->epochs = epochs;
    res->best_epoch = -1;
    res->selected_epoch = -1;
    res->n_patients = c->n_patients;
    res->n_annotations = c->n_annotations;
    res->n_lesions = c->n_lesions;
    res->train_loss = lr_malloc((size_t)epochs + 1, sizeof(double), err);
    res->c_epoch = lr_malloc(3 * (size_t)epochs + 1, sizeof(double), err);
    res->patient_role = lr_malloc(c->n_patients, 1, err);
    if (!res->train_loss || !res->c_epoch || !res->patient_role) return -1;
    for (int e = 0; e < epochs; e++) {
        res->train_loss[e] = NAN;
        for (int k = 0; k < 3; k++) res->c_epoch[3 * e + k] = NAN;
    }
    for (int k = 0; k < 3; k++) res->c_last[k] = res->c_best[k] = res->c_final[k] = NAN;
    return 0;
}

static void take_eval(lr_job_result *res, eval_out *e)
{
    res->patient_risk = e->patient_risk;
    res->annotation_risk = e->annotation_risk;
    res->lesion_risk = e->lesion_risk;
    res->lesion_scale = e->lesion_scale;
    res->lesion_used = e->lesion_used;
    memset(e, 0, sizeof *e);
}

static int baseline_job(job *J, lr_err *err)
{
    const lr_cohort *c = J->c;
    lr_job_result *res = J->res;
    eval_out *e = &J->cur;
    for (size_t a = 0; a < c->n_annotations; a++) {
        e->annotation_risk[a] = lr_baseline_annotation_risk(c, a, J->spec->kind, 0);
        for (int k = 0; k < c->ann_n_lesions[a]; k++) e->lesion_used[c->ann_first_lesion[a] + k] = 1;
    }
    for (size_t l = 0; l < c->n_lesions; l++) e->lesion_risk[l] = NAN, e->lesion_scale[l] = NAN;
    if (finish_eval(J, e, err)) return -1;
    memcpy(res->c_last, e->c, sizeof res->c_last);
    memcpy(res->c_final, e->c, sizeof res->c_final);
    res->epochs_run = 0;
    snprintf(res->weights_source, sizeof res->weights_source, "none (non-learned baseline)");
    job_log(J, "baseline %s: C train %.4f valid %.4f test %.4f\n", lr_model_name(J->spec->kind), e->c[0], e->c[1],
            e->c[2]);
    take_eval(res, e);
    return 0;
}

/* Full evaluation of the best-validation snapshot (the intermediate evaluation that chose it scored the
 * validation split only); the final weights are put back afterwards. */
static int evaluate_best_fully(job *J, lr_err *err)
{
    lr_lesion_model *m = J->m;
    lr_job_result *res = J->res;
    size_t np = m->cnn->n_params, nb = m->cnn->n_buffers, nh = m->n_head;
    float *keep = lr_malloc(np + nb + nh + 1, sizeof(float), err);
    if (!keep) return -1;
    memcpy(keep, m->cnn->params, np * sizeof(float));
    memcpy(keep + np, m->cnn->buffers, nb * sizeof(float));
    if (nh) memcpy(keep + np + nb, m->head, nh * sizeof(float));
    memcpy(m->cnn->params, res->best_params, np * sizeof(float));
    memcpy(m->cnn->buffers, res->best_buffers, nb * sizeof(float));
    if (nh) memcpy(m->head, res->best_head, nh * sizeof(float));
    int rc = evaluate(J, &J->best, 1, err);
    memcpy(m->cnn->params, keep, np * sizeof(float));
    memcpy(m->cnn->buffers, keep + np, nb * sizeof(float));
    if (nh) memcpy(m->head, keep + np + nb, nh * sizeof(float));
    free(keep);
    return rc;
}

static int learned_job(job *J, lr_err *err)
{
    lr_job_result *res = J->res;
    const lr_train_options *o = J->o;
    lr_model_kind kind = J->spec->kind;
    if (init_weights(J, err)) return -1;
    res->have_model = 1;
    size_normalisation(J);
    if (kind == LR_MODEL_WHOLE_VOLUME) {
        J->vol_file = lr_h5_open_read(J->spec->cohort_path, err);
        if (J->vol_file < 0) return -1;
    }
    if (eval_alloc(&J->best, J->c, err)) return -1;
    double best_valid = -1;
    int start = checkpoint_load(J, &best_valid, err);
    if (start < 0) return -1;
    for (int e = start; e < o->epochs; e++) {
        if (J->spec->stop_after_epochs > 0 && e >= J->spec->stop_after_epochs)
            return lr_fail(err, "interrupted after epoch %d (testing)", e);
        double t0 = now_seconds(), loss = NAN;
        if (run_epoch(J, e, &loss, err)) return -1;
        res->train_loss[e] = loss;
        res->epochs_run = e + 1;
        int last = e == o->epochs - 1;
        if ((e + 1) % o->eval_every == 0 || last) {
            /* intermediate evaluations score the validation split only (checkpoint selection); the last
             * epoch, and the best one for best-valid models (below), are evaluated on every split */
            if (evaluate(J, &J->cur, last, err)) return -1;
            memcpy(&res->c_epoch[3 * e], J->cur.c, sizeof J->cur.c);
            if (isfinite(J->cur.c[1]) && J->cur.c[1] > best_valid) {
                best_valid = J->cur.c[1];
                res->best_epoch = e;
                eval_copy(&J->best, &J->cur, J->c);
                if (snapshot_best(J, err)) return -1;
            }
        }
        job_log(J, "epoch %d/%d loss %.5f C train %.4f valid %.4f test %.4f (%.1f s)\n", e + 1, o->epochs, loss,
                res->c_epoch[3 * e], res->c_epoch[3 * e + 1], res->c_epoch[3 * e + 2], now_seconds() - t0);
        if (J->spec->checkpoint_path && !last && checkpoint_save(J, e + 1, best_valid, err)) return -1;
    }
    memcpy(res->c_last, J->cur.c, sizeof res->c_last);
    if (res->best_epoch >= 0 && res->best_epoch != o->epochs - 1 && evaluate_best_fully(J, err)) return -1;
    if (res->best_epoch >= 0) memcpy(res->c_best, J->best.c, sizeof res->c_best);
    if (lr_model_selects_best(kind) && res->best_epoch >= 0) {
        res->selected_epoch = res->best_epoch;
        memcpy(res->c_final, J->best.c, sizeof res->c_final);
        take_eval(res, &J->best);
    } else {
        res->selected_epoch = o->epochs - 1;
        memcpy(res->c_final, J->cur.c, sizeof res->c_final);
        take_eval(res, &J->cur);
    }
    return 0;
}

int lr_train_job(const lr_job_spec *spec, lr_job_result *res, lr_err *err)
{
    memset(res, 0, sizeof *res);
    double t0 = now_seconds();
    job J;
    memset(&J, 0, sizeof J);
    J.spec = spec;
    J.c = spec->cohort;
    J.o = spec->opt;
    J.res = res;
    J.m = &res->model;
    J.vol_file = -1;
    if (spec->log_path) J.log = fopen(spec->log_path, "a");
    int learned = lr_model_is_learned(spec->kind);
    if (result_alloc(res, J.c, learned ? J.o->epochs : 0, err)) return -1;
    lr_err jerr = {0};
    int rc = job_setup(&J, &jerr);
    if (rc == 0) rc = eval_alloc(&J.cur, J.c, &jerr);
    if (rc == 0) memcpy(res->patient_role, J.role, J.c->n_patients);
    if (rc == 0 && learned) rc = lr_patch_pipeline_init(&J.pp, J.o, &jerr);
    job_log(&J, "job model=%s fold=%d replicate=%d seed=%llu: %zu training %s\n", lr_model_name(spec->kind),
            spec->fold, spec->replicate, (unsigned long long)spec->seed, J.n_train_units,
            spec->kind == LR_MODEL_WHOLE_VOLUME ? "patients" : "annotations");
    if (rc == 0) rc = learned ? learned_job(&J, &jerr) : baseline_job(&J, &jerr);
    if (rc) {
        res->status = LR_JOB_FAILED;
        snprintf(res->error, sizeof res->error, "%s", jerr.msg);
        char where[300];
        job_log(&J, "job failed: %s (raised at %s)\n", jerr.msg, lr_err_where(&jerr, where, sizeof where));
    } else {
        job_log(&J, "job done: C train %.4f valid %.4f test %.4f (epoch %d selected)\n", res->c_final[0],
                res->c_final[1], res->c_final[2], res->selected_epoch + 1);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    res->peak_rss_kb = ru.ru_maxrss;
    res->wall_seconds = now_seconds() - t0;
    if (J.log) fclose(J.log);
    if (J.vol_file >= 0) H5Fclose(J.vol_file);
    lr_patch_pipeline_free(&J.pp);
    eval_free(&J.cur);
    eval_free(&J.best);
    free(J.role);
    free(J.train_units);
    free(J.x);
    free(J.rows);
    free(J.slot);
    free(J.vol);
    free(J.bt);
    free(J.bev);
    free(J.eta);
    free(J.vol_raw);
    free(J.vol_tmp);
    return 0;
}

void lr_job_result_free(lr_job_result *res)
{
    free(res->train_loss);
    free(res->c_epoch);
    free(res->patient_risk);
    free(res->patient_role);
    free(res->annotation_risk);
    free(res->lesion_risk);
    free(res->lesion_scale);
    free(res->lesion_used);
    free(res->best_params);
    if (res->have_model) lr_lesion_model_free(&res->model);
    memset(res, 0, sizeof *res);
}

double lr_baseline_annotation_risk(const lr_cohort *c, size_t a, lr_model_kind kind, int max_lesions)
{
    int n = c->ann_n_lesions[a];
    if (max_lesions > 0 && n > max_lesions) n = max_lesions;
    double s = 0;
    for (int k = 0; k < n; k++) {
        int64_t l = c->ann_first_lesion[a] + k;
        if (kind == LR_MODEL_TOTAL_VOLUME) s += c->volume_mm3[l];
        else if (kind == LR_MODEL_SUM_DIAMETERS) s += c->diameter_mm[l];
        else s += 1;
    }
    return s;
}
