/* One cross-validation job: the training loop (2D lesion batches and whole volumes), the job's setup and
 * its result. Evaluation is in evaluate.c, checkpoints in checkpoint.c (shared state: model/train_job.h). */
#include "model/train.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort_ulong.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "data/augment.h"
#include "data/resample.h"
#include "data/split.h"
#include "model/batch.h"
#include "model/pretrain.h"
#include "model/train_job.h"
#include "survival/npll.h"
#include "util/h5.h"
#include "util/rng.h"

/* (fold, replicate) -> one id of the order and augmentation streams (replicates stay below it) */
#define STREAM_IDS_PER_FOLD 1000003

/* The (repeat, fold) unit of the streams: the fold itself in repeat 0, so a campaign without repeats draws
 * what it always drew. */
static int64_t cv_unit(const lr_job_spec *s) { return (int64_t)s->repeat * s->folds + s->fold; }

void lr_job_log(train_job *job, const char *fmt, ...)
{
    va_list ap;
    if (job->log) {
        va_start(ap, fmt);
        vfprintf(job->log, fmt, ap);
        va_end(ap);
        fflush(job->log);
    }
    if (job->spec->verbose) {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
    }
}

int lr_job_grow_lesions(train_job *job, size_t n, lr_err *err)
{
    if (n <= job->lesion_cap) return 0;
    size_t cap = n + n / 2 + 16, E = (size_t)job->model->cnn->emb_size;
    free(job->input);
    free(job->lesion_slot);
    free(job->lesion_volume);
    /* rows are kept: evaluation grows the buffer while collecting them */
    int64_t *rows = realloc(job->lesion_rows, cap * sizeof *job->lesion_rows);
    if (rows) job->lesion_rows = rows;
    job->input = lr_malloc(cap * (P2 + 6 + E), sizeof(float), err);
    job->lesion_slot = lr_malloc(cap, sizeof *job->lesion_slot, err);
    job->lesion_volume = lr_malloc(cap * 2, sizeof *job->lesion_volume, err);
    if (!rows || !job->input || !job->lesion_slot || !job->lesion_volume) {
        job->lesion_cap = 0;
        return lr_fail(err, "out of memory for a batch of %zu lesions", n);
    }
    job->lesion_score = job->input + cap * P2;
    job->lesion_scale = job->lesion_score + cap;
    job->dlesion_score = job->lesion_scale + cap;
    job->dlesion_scale = job->dlesion_score + cap;
    job->dout = job->dlesion_scale + cap;
    job->demb = job->dout + cap;
    job->lesion_weight = job->lesion_volume + cap;
    job->lesion_cap = cap;
    return 0;
}

static int grow_batch(train_job *job, size_t n, lr_err *err)
{
    if (n <= job->batch_cap) return 0;
    size_t cap = n + 8;
    free(job->batch_time);
    free(job->batch_event);
    free(job->eta);
    job->batch_time = lr_malloc(cap, sizeof(double), err);
    job->batch_event = lr_malloc(cap, sizeof(int), err);
    job->eta = lr_malloc(cap * 2, sizeof(float), err);
    if (!job->batch_time || !job->batch_event || !job->eta) return -1;
    job->deta = job->eta + cap;
    job->batch_cap = cap;
    return 0;
}

/* ---- size statistics from the training lesions ---- */

static void size_normalisation(train_job *job)
{
    const lr_cohort *cohort = job->cohort;
    double s = 0, s2 = 0, sv = 0;
    size_t n = 0;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        if (job->role[cohort->ann_patient[a]] != LR_ROLE_TRAIN) continue;
        for (int k = 0; k < cohort->ann_n_lesions[a]; k++) {
            double v = cohort->volume_mm3[cohort->ann_first_lesion[a] + k], lv = log(v);
            s += lv;
            s2 += lv * lv;
            sv += v;
            n++;
        }
    }
    if (n > 1) {
        job->model->logv_mean = s / (double)n;
        job->model->logv_sd = sqrt(fmax(s2 / (double)n - job->model->logv_mean * job->model->logv_mean, 1e-6));
        job->model->v_mean = sv / (double)n;
    }
}

/* ---- 2D lesion models: one training step on a batch of annotations ---- */

int lr_job_gather_batch(train_job *job, const size_t *ann, int B, int max_lesions, int *n_out, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    size_t n = 0;
    for (int b = 0; b < B; b++) n += (size_t)cohort->ann_n_lesions[ann[b]];
    if (lr_job_grow_lesions(job, n + 1, err) || grow_batch(job, (size_t)B, err)) return -1;
    int total = 0;
    for (int b = 0; b < B; b++) {
        int k = lr_select_lesions(cohort, ann[b], max_lesions, job->lesion_rows + total);
        if (k < 0) return lr_fail(err, "out of memory selecting lesions");
        double dsum = 0;
        for (int i = 0; i < k; i++) dsum += cohort->diameter_mm[job->lesion_rows[total + i]];
        for (int i = 0; i < k; i++) {
            job->lesion_slot[total + i] = b;
            job->lesion_volume[total + i] = cohort->volume_mm3[job->lesion_rows[total + i]];
            job->lesion_weight[total + i] = dsum > 0 ? cohort->diameter_mm[job->lesion_rows[total + i]] / dsum : 0;
        }
        total += k;
        size_t p = (size_t)cohort->ann_patient[ann[b]];
        job->batch_time[b] = cohort->time_days[p];
        job->batch_event[b] = cohort->event[p];
    }
    *n_out = total;
    return 0;
}

/* Every risk of the batch the same value: the model has collapsed (e.g. a step too large sent the size
 * scaler to softplus's flat end), which no non-finite check sees. */
static int batch_is_flat(const float *eta, int B)
{
    for (int b = 1; b < B; b++)
        if (eta[b] != eta[0]) return 0;
    return 1;
}

/* Annotation risks eta[b] from lesion outputs (train or eval); fills J->s. */
static int aggregate(train_job *job, int n, int B, const float *cnn_out, lr_err *err)
{
    lr_lesion_model *m = job->model;
    for (int b = 0; b < B; b++) job->eta[b] = 0;
    if (lr_job_is_mean5(job)) {
        for (int i = 0; i < n; i++) job->lesion_scale[i] = (float)job->lesion_weight[i];
        lr_mean5_forward(m, job->eta, job->lesion_score, cnn_out, job->lesion_weight, job->lesion_slot, n, B);
        return 0;
    }
    if (lr_size_scale_forward(m, job->lesion_volume, n, job->lesion_scale, err)) return -1;
    memcpy(job->lesion_score, cnn_out, (size_t)n * sizeof(float));
    lr_aggregate_sum(job->eta, job->lesion_score, job->lesion_scale, job->lesion_slot, n, B);
    return 0;
}

static int train_step_2d(train_job *job, const size_t *ann, int B, gsl_rng *aug, double *loss, int *used, lr_err *err)
{
    lr_lesion_model *m = job->model;
    const lr_train_options *o = job->opt;
    int n;
    *used = 0;
    if (lr_job_gather_batch(job, ann, B, lr_job_is_mean5(job) ? 5 : o->max_lesions, &n, err)) return -1;
    if (n == 0) return 0;
    if (lr_build_patch_batch(&job->pipeline, job->cohort, job->lesion_rows, n, o, aug, job->input, err)) return -1;
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    if (lr_net_forward(m->cnn, job->input, n, dims, 1, err)) return -1;
    const float *out = lr_job_is_mean5(job) ? lr_net_embedding(m->cnn) : lr_net_output(m->cnn);
    if (aggregate(job, n, B, out, err)) return -1;
    for (int b = 0; b < B; b++)
        if (!isfinite(job->eta[b])) return lr_fail(err, "non-finite risk: training diverged (lower train.lr?)");
    job->flat_steps += batch_is_flat(job->eta, B);
    lr_npll_result nr;
    if (lr_npll_f((size_t)B, job->batch_time, job->batch_event, job->eta, (lr_ties)o->ties, &nr, job->deta, err)) return -1;
    if (nr.no_events) return 0; /* no event in the batch: nothing to learn, skip the step */
    *loss = nr.mean;
    if (!isfinite(nr.mean)) return 0;
    float inv = 1.0f / (float)nr.events;
    lr_net_zero_grad(m->cnn);
    if (m->n_head) memset(m->head_grad, 0, m->n_head * sizeof(float));
    for (int b = 0; b < B; b++) job->deta[b] *= inv; /* gradient of the mean over events */
    if (lr_job_is_mean5(job)) {
        lr_mean5_backward(m, job->demb, job->deta, lr_net_embedding(m->cnn), job->lesion_weight, job->lesion_slot, n, B);
        for (int i = 0; i < n; i++) job->dout[i] = 0;
        if (lr_net_backward(m->cnn, job->dout, job->demb, err)) return -1;
    } else {
        lr_aggregate_sum_backward(job->dlesion_score, job->dlesion_scale, job->deta, job->lesion_score, job->lesion_scale, job->lesion_slot, n);
        lr_size_scale_backward(m, job->dlesion_scale, n);
        if (lr_net_backward(m->cnn, job->dlesion_score, NULL, err)) return -1;
    }
    lr_adam_step(&m->opt_cnn, m->cnn->params, m->cnn->grads);
    if (m->n_head) lr_adam_step(&m->opt_head, m->head, m->head_grad); /* no_scaler has no head */
    *used = 1;
    return 0;
}

/* ---- whole volumes ---- */

int lr_job_load_volume(train_job *job, size_t p, float *dst, gsl_rng *aug, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    const lr_train_options *o = job->opt;
    if (lr_cohort_read_volume(job->vol_file, p, cohort->volume_dims, job->vol_raw, err)) return -1;
    size_t nv = (size_t)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    int augment = aug && o->augment && o->wv_augment;
    float *target = augment ? job->vol_tmp : dst;
    const size_t crop[3] = {(size_t)o->wv_crop[0], (size_t)o->wv_crop[1], (size_t)o->wv_crop[2]};
    lr_volume_resample(target, LR_VOXEL_FLOAT, crop, o->wv_spacing_mm, job->vol_raw, LR_VOXEL_INT16, cohort->volume_dims,
                       cohort->volume_spacing_mm, LR_HU_AIR);
    if (augment) {
        lr_aug_params ap = {o->aug_shift, o->aug_scale, o->aug_rotate_deg, o->aug_flip};
        lr_aug_draw d;
        lr_aug_sample(&d, &ap, o->wv_crop[1], aug);
        double shift_z = (2 * gsl_rng_uniform(aug) - 1) * o->aug_shift * o->wv_crop[0];
        lr_augment_volume(dst, job->vol_tmp, o->wv_crop[0], o->wv_crop[1], o->wv_crop[2], &d, shift_z);
    }
    for (size_t i = 0; i < nv; i++) dst[i] = lr_window(dst[i], o->hu_min, o->hu_max);
    return 0;
}

int lr_job_volume_buffers(train_job *job, int B, lr_err *err)
{
    size_t nv = (size_t)job->opt->wv_crop[0] * job->opt->wv_crop[1] * job->opt->wv_crop[2];
    if (!job->vol_raw) {
        const size_t *d = job->cohort->volume_dims;
        job->vol_raw = lr_malloc(d[0] * d[1] * d[2], sizeof(int16_t), err);
        job->vol_tmp = lr_malloc(nv, sizeof(float), err);
        if (!job->vol_raw || !job->vol_tmp) return -1;
    }
    if ((size_t)B * nv / P2 + 1 > job->lesion_cap && lr_job_grow_lesions(job, (size_t)B * nv / P2 + 2, err)) return -1;
    return grow_batch(job, (size_t)B, err);
}

static int train_step_volume(train_job *job, const size_t *patients, int B, gsl_rng *aug, double *loss, int *used,
                             lr_err *err)
{
    const lr_train_options *o = job->opt;
    size_t nv = (size_t)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    *used = 0;
    if (lr_job_volume_buffers(job, B, err)) return -1;
    for (int b = 0; b < B; b++) {
        if (lr_job_load_volume(job, patients[b], job->input + (size_t)b * nv, aug, err)) return -1;
        job->batch_time[b] = job->cohort->time_days[patients[b]];
        job->batch_event[b] = job->cohort->event[patients[b]];
    }
    lr_net *net = job->model->cnn;
    if (lr_net_forward(net, job->input, B, o->wv_crop, 1, err)) return -1;
    const float *out = lr_net_output(net);
    for (int b = 0; b < B; b++) {
        job->eta[b] = out[b];
        if (!isfinite(job->eta[b])) return lr_fail(err, "non-finite risk: training diverged (lower train.lr?)");
    }
    job->flat_steps += batch_is_flat(job->eta, B);
    lr_npll_result nr;
    if (lr_npll_f((size_t)B, job->batch_time, job->batch_event, job->eta, (lr_ties)o->ties, &nr, job->deta, err)) return -1;
    if (nr.no_events) return 0;
    *loss = nr.mean;
    if (!isfinite(nr.mean)) return 0;
    for (int b = 0; b < B; b++) job->dout[b] = job->deta[b] / (float)nr.events;
    lr_net_zero_grad(net);
    if (lr_net_backward(net, job->dout, NULL, err)) return -1;
    lr_adam_step(&job->model->opt_cnn, net->params, net->grads);
    *used = 1;
    return 0;
}

/* ---- the job ---- */

static int job_setup(train_job *job, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    const lr_job_spec *s = job->spec;
    job->role = lr_malloc(cohort->n_patients, 1, err);
    job->train_units = lr_malloc(cohort->n_annotations + cohort->n_patients + 1, sizeof(size_t), err);
    if (!job->role || !job->train_units) return -1;
    for (size_t p = 0; p < cohort->n_patients; p++) job->role[p] = (int8_t)lr_split_role(s->part[p], s->fold, s->folds);
    size_t *n_ann = lr_calloc(cohort->n_patients, sizeof *n_ann, err);
    if (!n_ann) return -1;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        n_ann[cohort->ann_patient[a]]++;
        if (cohort->ann_n_lesions[a] == 0) job->result->annotations_without_lesions++;
    }
    for (size_t p = 0; p < cohort->n_patients; p++) job->result->patients_without_annotations += n_ann[p] == 0;
    job->n_train_units = 0;
    if (s->kind == LR_MODEL_WHOLE_VOLUME) {
        for (size_t p = 0; p < cohort->n_patients; p++)
            if (job->role[p] == LR_ROLE_TRAIN) job->train_units[job->n_train_units++] = p;
    } else {
        /* every annotation is a training example; annotations without lesions carry no signal */
        for (size_t a = 0; a < cohort->n_annotations; a++)
            if (job->role[cohort->ann_patient[a]] == LR_ROLE_TRAIN && cohort->ann_n_lesions[a] > 0)
                job->train_units[job->n_train_units++] = a;
    }
    free(n_ann);
    if (job->n_train_units < 2) return lr_fail(err, "fold %d has %zu training examples: nothing to train on", s->fold,
                                             job->n_train_units);
    return 0;
}

static int init_weights(train_job *job, lr_err *err)
{
    const lr_job_spec *s = job->spec;
    const lr_train_options *o = job->opt;
    lr_job_result *res = job->result;
    gsl_rng *init_rng = lr_rng_stream(s->seed, "init", s->kind, cv_unit(s), s->replicate);
    if (!init_rng) return lr_fail(err, "out of memory (rng)");
    int rc = lr_lesion_model_init(job->model, s->kind, o, init_rng, err);
    gsl_rng_free(init_rng);
    if (rc) return -1;
    snprintf(res->weights_source, sizeof res->weights_source, "random init (torchvision scheme)");
    if (!lr_model_uses_resnet50(s->kind)) return 0;
    const char *file = s->kind == LR_MODEL_IMAGENET_RESNET50 ? o->imagenet_weights : o->radimagenet_weights;
    if (file[0]) {
        if (lr_net_load(job->model->cnn, file, LR_LOAD_SKIP_FC_MISMATCH, err)) return lr_fail_ctx(err, "weights %s", file);
        snprintf(res->weights_source, sizeof res->weights_source, "file: %.490s", file);
    } else {
        char desc[400];
        lr_pretrain_task task = lr_pretrain_task_of(s->kind);
        if (lr_pretrain_ensure(o, task, desc, sizeof desc, err)) return -1;
        if (lr_net_load(job->model->cnn, lr_pretrain_path(o, task), LR_LOAD_SKIP_FC_MISMATCH, err))
            return lr_fail_ctx(err, "pretrained weights %s", lr_pretrain_path(o, task));
        snprintf(res->weights_source, sizeof res->weights_source, "%s", desc);
        lr_job_log(job, "note: no %s weights file in the config; using %s (not ImageNet)\n",
                s->kind == LR_MODEL_IMAGENET_RESNET50 ? "ImageNet" : "RadImageNet", desc);
    }
    /* the loaded fc belongs to another task: restart the risk head near zero */
    const lr_tensor *fw = lr_net_tensor(job->model->cnn, "fc.weight"), *fb = lr_net_tensor(job->model->cnn, "fc.bias");
    gsl_rng *fc_rng = lr_rng_stream(s->seed, "init-fc", s->kind, cv_unit(s), s->replicate);
    if (!fc_rng) return lr_fail(err, "out of memory (rng)");
    float *w = lr_net_tensor_data(job->model->cnn, fw);
    double bound = 0.1 / sqrt((double)job->model->cnn->emb_size);
    for (size_t i = 0; i < fw->numel; i++) w[i] = (float)((2 * gsl_rng_uniform(fc_rng) - 1) * bound);
    lr_net_tensor_data(job->model->cnn, fb)[0] = 0;
    gsl_rng_free(fc_rng);
    return 0;
}

static int run_epoch(train_job *job, int epoch, double *mean_loss, lr_err *err)
{
    const lr_job_spec *s = job->spec;
    int64_t id = cv_unit(s) * STREAM_IDS_PER_FOLD + s->replicate;
    gsl_rng *order = lr_rng_stream(s->seed, "order", s->kind, id, epoch);
    gsl_rng *aug = lr_rng_stream(s->seed, "augment", s->kind, id, epoch);
    if (!order || !aug) {
        if (order) gsl_rng_free(order);
        if (aug) gsl_rng_free(aug);
        return lr_fail(err, "out of memory (rng)");
    }
    /* every epoch shuffles the same ascending list, so the order depends on the epoch alone (resume) */
    gsl_sort_ulong((unsigned long *)job->train_units, 1, job->n_train_units);
    gsl_ran_shuffle(order, job->train_units, job->n_train_units, sizeof(size_t));
    int B = job->model->kind == LR_MODEL_WHOLE_VOLUME ? job->opt->wv_batch : job->opt->batch_annotations;
    double sum = 0;
    int steps = 0, rc = 0;
    job->flat_steps = 0;
    for (size_t i = 0; i < job->n_train_units && rc == 0; i += (size_t)B) {
        int nb = (int)((job->n_train_units - i) < (size_t)B ? job->n_train_units - i : (size_t)B);
        if (nb < 2) break; /* a single example has no Cox risk set */
        double loss = 0;
        int used = 0;
        rc = job->model->kind == LR_MODEL_WHOLE_VOLUME ? train_step_volume(job, job->train_units + i, nb, aug, &loss, &used, err)
                                                 : train_step_2d(job, job->train_units + i, nb, aug, &loss, &used, err);
        if (rc) lr_fail_ctx(err, "epoch %d, batch %zu", epoch + 1, i / (size_t)B + 1);
        if (rc == 0 && !isfinite(loss))
            rc = lr_fail(err, "non-finite loss at epoch %d, batch %zu (learning rate too high?)", epoch + 1,
                         i / (size_t)B + 1);
        if (used) sum += loss, steps++;
    }
    if (rc == 0 && steps > 0 && job->flat_steps >= steps)
        rc = lr_fail(err, "training collapsed at epoch %d: every annotation of every batch had the same risk "
                          "(learning rate too high?)", epoch + 1);
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

static int result_alloc(lr_job_result *res, const lr_cohort *cohort, int epochs, lr_err *err)
{
    res->epochs = epochs;
    res->best_epoch = -1;
    res->selected_epoch = -1;
    res->n_patients = cohort->n_patients;
    res->n_annotations = cohort->n_annotations;
    res->n_lesions = cohort->n_lesions;
    res->train_loss = lr_malloc((size_t)epochs + 1, sizeof(double), err);
    res->c_epoch = lr_malloc(3 * (size_t)epochs + 1, sizeof(double), err);
    res->patient_role = lr_malloc(cohort->n_patients, 1, err);
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

static int baseline_job(train_job *job, lr_err *err)
{
    const lr_cohort *cohort = job->cohort;
    lr_job_result *res = job->result;
    eval_out *e = &job->cur;
    for (size_t a = 0; a < cohort->n_annotations; a++) {
        e->annotation_risk[a] = lr_baseline_annotation_risk(cohort, a, job->spec->kind, 0);
        for (int k = 0; k < cohort->ann_n_lesions[a]; k++) e->lesion_used[cohort->ann_first_lesion[a] + k] = 1;
    }
    for (size_t l = 0; l < cohort->n_lesions; l++) e->lesion_risk[l] = NAN, e->lesion_scale[l] = NAN;
    if (lr_eval_finish(job, e, err)) return -1;
    memcpy(res->c_last, e->cindex, sizeof res->c_last);
    memcpy(res->c_final, e->cindex, sizeof res->c_final);
    res->epochs_run = 0;
    snprintf(res->weights_source, sizeof res->weights_source, "none (non-learned baseline)");
    lr_job_log(job, "baseline %s: C train %.4f valid %.4f test %.4f\n", lr_model_name(job->spec->kind), e->cindex[0], e->cindex[1],
            e->cindex[2]);
    take_eval(res, e);
    return 0;
}

static int learned_job(train_job *job, lr_err *err)
{
    lr_job_result *res = job->result;
    const lr_train_options *o = job->opt;
    lr_model_kind kind = job->spec->kind;
    if (init_weights(job, err)) return -1;
    res->have_model = 1;
    size_normalisation(job);
    if (kind == LR_MODEL_WHOLE_VOLUME) {
        job->vol_file = lr_h5_open_read(job->spec->cohort_path, err);
        if (job->vol_file < 0) return -1;
    }
    if (lr_eval_alloc(&job->best, job->cohort, err)) return -1;
    double best_valid = -1;
    int start = lr_job_checkpoint_load(job, &best_valid, err);
    if (start < 0) return -1;
    for (int e = start; e < o->epochs; e++) {
        if (job->spec->stop_after_epochs > 0 && e >= job->spec->stop_after_epochs)
            return lr_fail(err, "interrupted after epoch %d (testing)", e);
        double t0 = now_seconds(), loss = NAN;
        if (run_epoch(job, e, &loss, err)) return -1;
        res->train_loss[e] = loss;
        res->epochs_run = e + 1;
        int last = e == o->epochs - 1;
        if ((e + 1) % o->eval_every == 0 || last) {
            /* intermediate evaluations score the validation split only (checkpoint selection); the last
             * epoch, and the best one for best-valid models (below), are evaluated on every split */
            if (lr_job_evaluate(job, &job->cur, last, err)) return -1;
            memcpy(&res->c_epoch[3 * e], job->cur.cindex, sizeof job->cur.cindex);
            if (isfinite(job->cur.cindex[1]) && job->cur.cindex[1] > best_valid) {
                best_valid = job->cur.cindex[1];
                res->best_epoch = e;
                lr_eval_copy(&job->best, &job->cur, job->cohort);
                if (lr_job_snapshot_best(job, err)) return -1;
            }
        }
        lr_job_log(job, "epoch %d/%d loss %.5f C train %.4f valid %.4f test %.4f (%.1f s)\n", e + 1, o->epochs, loss,
                res->c_epoch[3 * e], res->c_epoch[3 * e + 1], res->c_epoch[3 * e + 2], now_seconds() - t0);
        if (job->spec->checkpoint_path && !last && lr_job_checkpoint_save(job, e + 1, best_valid, err)) return -1;
    }
    memcpy(res->c_last, job->cur.cindex, sizeof res->c_last);
    if (res->best_epoch >= 0 && res->best_epoch != o->epochs - 1 && lr_job_evaluate_best_fully(job, err)) return -1;
    if (res->best_epoch >= 0) memcpy(res->c_best, job->best.cindex, sizeof res->c_best);
    if (lr_model_selects_best(kind) && res->best_epoch >= 0) {
        res->selected_epoch = res->best_epoch;
        memcpy(res->c_final, job->best.cindex, sizeof res->c_final);
        take_eval(res, &job->best);
    } else {
        res->selected_epoch = o->epochs - 1;
        memcpy(res->c_final, job->cur.cindex, sizeof res->c_final);
        take_eval(res, &job->cur);
    }
    return 0;
}

int lr_train_job(const lr_job_spec *spec, lr_job_result *res, lr_err *err)
{
    memset(res, 0, sizeof *res);
    double t0 = now_seconds();
    train_job job;
    memset(&job, 0, sizeof job);
    job.spec = spec;
    job.cohort = spec->cohort;
    job.opt = spec->opt;
    job.result = res;
    job.model = &res->model;
    job.vol_file = -1;
    if (spec->log_path) job.log = fopen(spec->log_path, "a");
    int learned = lr_model_is_learned(spec->kind);
    if (result_alloc(res, job.cohort, learned ? job.opt->epochs : 0, err)) return -1;
    lr_err jerr = {0};
    int rc = job_setup(&job, &jerr);
    if (rc == 0) rc = lr_eval_alloc(&job.cur, job.cohort, &jerr);
    if (rc == 0) memcpy(res->patient_role, job.role, job.cohort->n_patients);
    if (rc == 0 && learned) rc = lr_patch_pipeline_init(&job.pipeline, job.opt, &jerr);
    lr_job_log(&job, "job model=%s repeat=%d fold=%d replicate=%d seed=%llu: %zu training %s\n",
            lr_model_name(spec->kind), spec->repeat, spec->fold, spec->replicate, (unsigned long long)spec->seed, job.n_train_units,
            spec->kind == LR_MODEL_WHOLE_VOLUME ? "patients" : "annotations");
    if (rc == 0) rc = learned ? learned_job(&job, &jerr) : baseline_job(&job, &jerr);
    if (rc) {
        res->status = LR_JOB_FAILED;
        snprintf(res->error, sizeof res->error, "%s", jerr.msg);
        char where[300];
        lr_job_log(&job, "job failed: %s (raised at %s)\n", jerr.msg, lr_err_where(&jerr, where, sizeof where));
    } else {
        lr_job_log(&job, "job done: C train %.4f valid %.4f test %.4f (epoch %d selected)\n", res->c_final[0],
                res->c_final[1], res->c_final[2], res->selected_epoch + 1);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    res->peak_rss_kb = ru.ru_maxrss;
    res->wall_seconds = now_seconds() - t0;
    if (job.log) fclose(job.log);
    if (job.vol_file >= 0) H5Fclose(job.vol_file);
    lr_patch_pipeline_free(&job.pipeline);
    lr_eval_free(&job.cur);
    lr_eval_free(&job.best);
    lr_job_free_buffers(&job);
    return 0;
}

void lr_job_free_buffers(train_job *job)
{
    free(job->role);
    free(job->train_units);
    free(job->input);
    free(job->lesion_rows);
    free(job->lesion_slot);
    free(job->lesion_volume);
    free(job->batch_time);
    free(job->batch_event);
    free(job->eta);
    free(job->vol_raw);
    free(job->vol_tmp);
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

double lr_baseline_annotation_risk(const lr_cohort *cohort, size_t a, lr_model_kind kind, int max_lesions)
{
    int n = cohort->ann_n_lesions[a];
    if (max_lesions > 0 && n > max_lesions) n = max_lesions;
    double s = 0;
    for (int k = 0; k < n; k++) {
        int64_t l = cohort->ann_first_lesion[a] + k;
        if (kind == LR_MODEL_TOTAL_VOLUME) s += cohort->volume_mm3[l];
        else if (kind == LR_MODEL_SUM_DIAMETERS) s += cohort->diameter_mm[l];
        else s += 1;
    }
    return s;
}
