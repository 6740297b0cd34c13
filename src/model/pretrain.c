#include "model/pretrain.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/synth.h"
#include "model/batch.h"
#include "nn/net.h"
#include "util/cli.h"
#include "util/h5.h"
#include "util/rng.h"

#define PRETRAIN_BATCH 32

lr_pretrain_task lr_pretrain_task_of(lr_model_kind kind)
{
    return kind == LR_MODEL_IMAGENET_RESNET50 ? LR_PRETRAIN_FRACTAL : LR_PRETRAIN_ORGAN;
}

const char *lr_pretrain_task_name(lr_pretrain_task t) { return t == LR_PRETRAIN_FRACTAL ? "fractal" : "organ"; }

const char *lr_pretrain_path(const lr_train_options *o, lr_pretrain_task t)
{
    return t == LR_PRETRAIN_FRACTAL ? o->pretrain_generic_path : o->pretrain_path;
}

void lr_pretrain_describe(const lr_train_options *o, lr_pretrain_task t, char *desc, size_t n)
{
    if (t == LR_PRETRAIN_FRACTAL)
        snprintf(desc, n,
                 "pretrained: formula-driven fractal task, FractalDB-style, not ImageNet (ResNet50 width %d, %d "
                 "classes, %d images, seed %llu, %d epochs)",
                 o->r50_width, LR_FRACTAL_CLASSES, o->pretrain_patients * LR_FRACTAL_IMAGES_PER_PATIENT,
                 (unsigned long long)o->pretrain_seed, o->pretrain_epochs);
    else
        snprintf(desc, n,
                 "pretrained: synthetic organ task, CT organ classification, not RadImageNet (ResNet50 width %d, corpus seed %llu, %d "
                 "patients, %d epochs)",
                 o->r50_width, (unsigned long long)o->pretrain_seed, o->pretrain_patients, o->pretrain_epochs);
}

static int settings_match(const lr_train_options *o, lr_pretrain_task t, const char *path, lr_err *err)
{
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    long v[5] = {0, 0, 0, 0, LR_PRETRAIN_ORGAN}; /* files from before the fractal task have 4 settings: organ */
    long want[5] = {o->r50_width, (long)o->pretrain_seed, o->pretrain_patients, o->pretrain_epochs, (long)t};
    int n = lr_h5_attr_exists(f, "/", "pretrain_task") ? 1 : 0;
    int rc = lr_h5_attr_read(f, "/", "pretrain_settings", H5T_NATIVE_LONG, 4, v, err);
    if (!rc && n) rc = lr_h5_attr_read(f, "/", "pretrain_task", H5T_NATIVE_LONG, 1, &v[4], err);
    H5Fclose(f);
    if (rc) return lr_fail_ctx(err, "%s", path);
    if (memcmp(v, want, sizeof v))
        return lr_fail(err, "%s: pretrained weights were made with other settings (task %s, width %ld, seed %ld, %ld "
                       "patients, %ld epochs); delete the file or set its resnet50.pretrain path", path,
                       lr_pretrain_task_name((lr_pretrain_task)v[4]), v[0], v[1], v[2], v[3]);
    return 0;
}

int lr_pretrain_current(const lr_train_options *o, lr_pretrain_task t)
{
    lr_err err;
    struct stat st;
    const char *path = lr_pretrain_path(o, t);
    return stat(path, &st) == 0 && settings_match(o, t, path, &err) == 0;
}

int lr_pretrain_ensure(const lr_train_options *o, lr_pretrain_task t, char *desc, size_t desc_size, lr_err *err)
{
    lr_pretrain_describe(o, t, desc, desc_size);
    struct stat st;
    const char *path = lr_pretrain_path(o, t);
    if (stat(path, &st) == 0) return settings_match(o, t, path, err);
    return lr_pretrain_run(o, t, 0, err);
}

/* ---- the formula-driven corpus ---- */

typedef struct {
    int n_maps;
    double m[4][6]; /* x' = a x + b y + e, y' = c x + d y + f */
    double p[4];    /* chaos-game probabilities ∝ |det| */
} ifs;

/* A random contractive affine map: entries in [-1, 1], rescaled so its largest singular value is < 0.8. */
static void draw_map(gsl_rng *r, double *m)
{
    for (int k = 0; k < 6; k++) m[k] = 2.0 * gsl_rng_uniform(r) - 1.0;
    double a = m[0], b = m[1], c = m[2], d = m[3];
    double s1 = a * a + b * b + c * c + d * d, det = a * d - b * c;
    double smax = sqrt(0.5 * (s1 + sqrt(fmax(s1 * s1 - 4.0 * det * det, 0.0))));
    if (smax > 0.8)
        for (int k = 0; k < 4; k++) m[k] *= 0.8 / smax;
}

static void set_probabilities(ifs *f)
{
    double sum = 0;
    for (int k = 0; k < f->n_maps; k++) sum += f->p[k] = fmax(fabs(f->m[k][0] * f->m[k][3] - f->m[k][1] * f->m[k][2]), 0.02);
    for (int k = 0; k < f->n_maps; k++) f->p[k] /= sum;
}

/* Chaos game: n_points of the attractor, normalised to the image (with rotation, scale and shift), counted
 * per pixel into img[72*72]; returns the fraction of pixels hit. */
static double render_ifs(const ifs *f, gsl_rng *r, int n_points, double angle, double scale, double dx, double dy,
                         float *img)
{
    enum { S = LR_PATCH, WARM = 20 };
    double *pts = malloc(2 * (size_t)n_points * sizeof *pts);
    if (!pts) return 0;
    double x = 0, y = 0, lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int i = 0; i < n_points + WARM; i++) {
        double u = gsl_rng_uniform(r), acc = 0;
        int k = 0;
        while (k < f->n_maps - 1 && u >= (acc += f->p[k])) k++;
        const double *m = f->m[k];
        double nx = m[0] * x + m[1] * y + m[4], ny = m[2] * x + m[3] * y + m[5];
        x = nx, y = ny;
        if (i < WARM) continue;
        pts[2 * (i - WARM)] = x, pts[2 * (i - WARM) + 1] = y;
        lo[0] = fmin(lo[0], x), hi[0] = fmax(hi[0], x), lo[1] = fmin(lo[1], y), hi[1] = fmax(hi[1], y);
    }
    double cx = 0.5 * (lo[0] + hi[0]), cy = 0.5 * (lo[1] + hi[1]);
    double extent = fmax(fmax(hi[0] - lo[0], hi[1] - lo[1]), 1e-9), co = cos(angle), si = sin(angle);
    for (int i = 0; i < S * S; i++) img[i] = 0;
    for (int i = 0; i < n_points; i++) {
        double u = (pts[2 * i] - cx) / extent, v = (pts[2 * i + 1] - cy) / extent; /* in [-0.5, 0.5] */
        double px = (co * u - si * v) * scale + 0.5 + dx, py = (si * u + co * v) * scale + 0.5 + dy;
        int c = (int)floor(px * S), row = (int)floor(py * S);
        if (c >= 0 && c < S && row >= 0 && row < S) img[row * S + c] += 1.0f;
    }
    free(pts);
    size_t hit = 0;
    for (int i = 0; i < S * S; i++) hit += img[i] > 0;
    return (double)hit / (S * S);
}

int lr_fractal_corpus(uint64_t seed, size_t n, lr_cohort *c, lr_err *err)
{
    enum { S = LR_PATCH, POINTS = 6000 };
    memset(c, 0, sizeof *c);
    c->patch_size = LR_PATCH;
    ifs classes[LR_FRACTAL_CLASSES];
    float *img = lr_malloc(S * S, sizeof *img, err);
    if (!img) return -1;
    /* classes: FractalDB's filter -- keep a system whose attractor covers enough of the image */
    for (int k = 0; k < LR_FRACTAL_CLASSES; k++) {
        gsl_rng *r = lr_rng_stream(seed, "fractal-class", k, 0, 0);
        if (!r) {
            free(img);
            return lr_fail(err, "out of memory (rng)");
        }
        for (int attempt = 0; attempt < 1000; attempt++) {
            ifs *f = &classes[k];
            f->n_maps = 2 + (int)gsl_rng_uniform_int(r, 3);
            for (int q = 0; q < f->n_maps; q++) draw_map(r, f->m[q]);
            set_probabilities(f);
            if (render_ifs(f, r, POINTS, 0, 0.9, 0, 0, img) >= 0.12) break;
        }
        gsl_rng_free(r);
    }
    c->n_patients = c->n_annotations = 1;
    c->n_lesions = n;
    c->n_organs = LR_FRACTAL_CLASSES;
    c->patient_id = lr_calloc(1, sizeof *c->patient_id, err);
    c->time_days = lr_calloc(1, sizeof *c->time_days, err);
    c->event = lr_calloc(1, 1, err);
    c->arm = lr_calloc(1, sizeof *c->arm, err);
    c->ann_patient = lr_calloc(1, sizeof *c->ann_patient, err);
    c->ann_reader = lr_calloc(1, sizeof *c->ann_reader, err);
    c->ann_first_lesion = lr_calloc(1, sizeof *c->ann_first_lesion, err);
    c->ann_n_lesions = lr_calloc(1, sizeof *c->ann_n_lesions, err);
    c->patch = lr_malloc(n * S * S, sizeof *c->patch, err);
    c->volume_mm3 = lr_malloc(n, sizeof *c->volume_mm3, err);
    c->diameter_mm = lr_malloc(n, sizeof *c->diameter_mm, err);
    c->volume_followup_mm3 = lr_malloc(n, sizeof *c->volume_followup_mm3, err);
    c->organ = lr_malloc(n, sizeof *c->organ, err);
    c->organ_name = lr_calloc(LR_FRACTAL_CLASSES, sizeof *c->organ_name, err);
    int rc = -1;
    if (!c->patient_id || !c->time_days || !c->event || !c->arm || !c->ann_patient || !c->ann_reader ||
        !c->ann_first_lesion || !c->ann_n_lesions || !c->patch || !c->volume_mm3 || !c->diameter_mm ||
        !c->volume_followup_mm3 || !c->organ || !c->organ_name)
        goto done;
    c->ann_n_lesions[0] = (int32_t)n;
    c->time_days[0] = 1;
    if (!(c->patient_id[0] = strdup("fractal"))) goto oom;
    for (int k = 0; k < LR_FRACTAL_CLASSES; k++) {
        char name[32];
        snprintf(name, sizeof name, "fractal_%02d", k);
        if (!(c->organ_name[k] = strdup(name))) goto oom;
    }
    for (size_t i = 0; i < n; i++) {
        gsl_rng *r = lr_rng_stream(seed, "fractal-image", (int64_t)i, 0, 0);
        if (!r) goto oom;
        int k = (int)(i % LR_FRACTAL_CLASSES);
        ifs f = classes[k]; /* intra-class variation: every parameter jittered by up to ±10 % of its range */
        for (int q = 0; q < f.n_maps; q++)
            for (int e = 0; e < 6; e++) f.m[q][e] += 0.1 * (2.0 * gsl_rng_uniform(r) - 1.0);
        set_probabilities(&f);
        /* as FractalDB, images are rendered upright; rotation and flips come from the training augmentation */
        double scale = 0.8 + 0.15 * gsl_rng_uniform(r);
        double dx = 0.1 * (gsl_rng_uniform(r) - 0.5), dy = 0.1 * (gsl_rng_uniform(r) - 0.5);
        render_ifs(&f, r, POINTS, 0.0, scale, dx, dy, img);
        gsl_rng_free(r);
        float *out = c->patch + i * S * S;
        for (int p = 0; p < S * S; p++) out[p] = -1000.0f + 2000.0f * fminf(img[p] / 3.0f, 1.0f);
        c->organ[i] = (int16_t)k;
        c->volume_mm3[i] = c->diameter_mm[i] = 1.0;
        c->volume_followup_mm3[i] = NAN;
    }
    rc = 0;
    goto done;
oom:
    lr_fail(err, "out of memory (fractal corpus)");
done:
    free(img);
    if (rc) lr_cohort_free(c);
    return rc;
}

/* Softmax cross-entropy over K classes, mean over the batch; dlogits overwritten. */
static double cross_entropy(const float *logits, const int *label, int n, int K, float *dlogits)
{
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        float mx = z[0];
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        double sum = 0;
        for (int k = 0; k < K; k++) sum += exp((double)z[k] - mx);
        loss += log(sum) + mx - z[label[i]];
        for (int k = 0; k < K; k++)
            dlogits[(size_t)i * K + k] = (float)((exp((double)z[k] - mx) / sum - (k == label[i])) / n);
    }
    return loss / n;
}

/* The task's labelled patch corpus: patches with their class in /lesions/organ. */
static int task_corpus(const lr_train_options *o, lr_pretrain_task t, lr_cohort *corpus, lr_err *err)
{
    if (t == LR_PRETRAIN_FRACTAL)
        return lr_fractal_corpus(o->pretrain_seed, (size_t)o->pretrain_patients * LR_FRACTAL_IMAGES_PER_PATIENT,
                                 corpus, err);
    lr_synth_params sp;
    lr_synth_default_params(&sp);
    sp.patients = (size_t)o->pretrain_patients;
    sp.seed = o->pretrain_seed;
    return lr_synth_generate(&sp, corpus, err);
}

int lr_pretrain_run(const lr_train_options *o, lr_pretrain_task t, int verbose, lr_err *err)
{
    lr_cohort corpus;
    if (task_corpus(o, t, &corpus, err)) return lr_fail_ctx(err, "pretraining corpus (%s task)", lr_pretrain_task_name(t));
    const char *path = lr_pretrain_path(o, t);
    int K = (int)corpus.n_organs, rc = -1;
    /* one annotation per patient (the first reader) so no lesion appears twice */
    size_t n = 0;
    int64_t *rows = lr_malloc(corpus.n_lesions, sizeof *rows, err);
    int *label = lr_malloc(PRETRAIN_BATCH, sizeof *label, err);
    float *x = lr_malloc((size_t)PRETRAIN_BATCH * LR_PATCH * LR_PATCH, sizeof *x, err);
    float *dlog = lr_malloc((size_t)PRETRAIN_BATCH * K, sizeof *dlog, err);
    lr_net *net = NULL;
    lr_adam opt = {0};
    lr_patch_pipeline pp = {0};
    gsl_rng *r = lr_rng_stream(o->pretrain_seed, "pretrain", (int64_t)t, 0, 0);
    char tmp[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (!rows || !label || !x || !dlog || !r) goto done;
    int last_patient = -1;
    for (size_t a = 0; a < corpus.n_annotations; a++) {
        if (corpus.ann_patient[a] == last_patient) continue;
        last_patient = corpus.ann_patient[a];
        for (int k = 0; k < corpus.ann_n_lesions[a]; k++) rows[n++] = corpus.ann_first_lesion[a] + k;
    }
    lr_net_config cfg = {LR_ARCH_RESNET50, 1, o->r50_width, K};
    net = lr_net_create(&cfg, r, err);
    if (!net || lr_adam_init(&opt, net->n_params, 1e-3f, 0.0f, err) || lr_patch_pipeline_init(&pp, o, err)) goto done;
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    for (int e = 0; e < o->pretrain_epochs; e++) {
        gsl_ran_shuffle(r, rows, n, sizeof *rows);
        double sum = 0;
        int steps = 0, correct = 0, seen = 0;
        for (size_t i = 0; i + 1 < n; i += PRETRAIN_BATCH) {
            int b = (int)(n - i < PRETRAIN_BATCH ? n - i : PRETRAIN_BATCH);
            for (int k = 0; k < b; k++) label[k] = corpus.organ[rows[i + k]];
            if (lr_build_patch_batch(&pp, &corpus, rows + i, b, o, r, x, err)) goto done;
            if (lr_net_forward(net, x, b, dims, 1, err)) goto done;
            const float *logits = lr_net_output(net);
            for (int k = 0; k < b; k++) {
                int arg = 0;
                for (int j = 1; j < K; j++) arg = logits[(size_t)k * K + j] > logits[(size_t)k * K + arg] ? j : arg;
                correct += arg == label[k];
            }
            seen += b;
            double loss = cross_entropy(logits, label, b, K, dlog);
            if (!isfinite(loss)) {
                lr_fail(err, "pretraining: non-finite loss at epoch %d", e + 1);
                goto done;
            }
            lr_net_zero_grad(net);
            if (lr_net_backward(net, dlog, NULL, err)) goto done;
            lr_adam_step(&opt, net->params, net->grads);
            sum += loss;
            steps++;
        }
        if (verbose)
            printf("pretrain (%s) epoch %d/%d: cross-entropy %.4f, accuracy %.3f\n", lr_pretrain_task_name(t), e + 1,
                   o->pretrain_epochs, steps ? sum / steps : NAN, seen ? (double)correct / seen : NAN);
    }
    lr_mkdir_parents(path, 0);
    hid_t f = lr_h5_create(tmp, err);
    if (f < 0) goto done;
    long settings[4] = {o->r50_width, (long)o->pretrain_seed, o->pretrain_patients, o->pretrain_epochs}, task = t;
    char desc[400];
    lr_pretrain_describe(o, t, desc, sizeof desc);
    int wrc = lr_net_save_h5(net, f, "", err);
    if (!wrc) wrc = lr_h5_attr_write(f, "/", "pretrain_settings", H5T_NATIVE_LONG, H5T_STD_I64LE, 4, settings, err);
    if (!wrc) wrc = lr_h5_attr_write(f, "/", "pretrain_task", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &task, err);
    if (!wrc) wrc = lr_h5_attr_write_string(f, "/", "provenance", desc, err);
    if (H5Fclose(f) < 0 || wrc) {
        unlink(tmp);
        if (!wrc) lr_fail(err, "%s: error closing", tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        lr_fail(err, "%s: cannot rename into place", path);
        goto done;
    }
    rc = 0;
done:
    if (net) lr_net_free(net);
    if (opt.m) lr_adam_free(&opt);
    lr_patch_pipeline_free(&pp);
    if (r) gsl_rng_free(r);
    free(rows);
    free(label);
    free(x);
    free(dlog);
    lr_cohort_free(&corpus);
    return rc;
}
