/* The campaign plan: a work model per job from the cohort and the split, and a per-host calibration of
 * every distinct network shape (real training steps, timed in a forked child). */
#include "runner/plan.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/resample.h"
#include "data/split.h"
#include "data/synth.h"
#include "model/batch.h"
#include "model/pretrain.h"
#include "nn/engine.h"
#include "nn/net.h"
#include "util/cli.h"
#include "util/h5.h"
#include "util/rng.h"

#define P2 ((size_t)LR_PATCH * LR_PATCH)
#define EVAL_CHUNK 128         /* as in train.c: patches per eval-mode forward */
#define PRETRAIN_BATCH 32      /* as in pretrain.c */
#define CAL_MAX_VOXELS 1048576 /* a calibration volume above this is scaled down (time and memory scale back) */
#define MB (1024.0 * 1024.0)
#define MAX_SHAPES 32          /* distinct network shapes calibrated (a sweep over widths adds some) */

/* ---- one network shape and its calibration ---- */

typedef struct {
    lr_arch arch;
    int width, out;
    int dims[3];       /* input grid (2D: 1x72x72); for volumes possibly scaled down for the calibration */
    double voxel_ratio;/* full grid voxels / calibrated grid voxels (1 for 2D) */
    size_t raw[3];     /* volumes: the cohort grid the input is resampled from (scaled like dims) */
    double raw_spacing[3], spacing[3];
    int augment;
    int n1, n2;        /* train batch sizes measured: an affine time and memory model */
    int ne, ne2;       /* eval batch sizes measured (ne2 > ne: the eval-mode memory slope; timed at ne2) */
} shape;

typedef struct {
    double cpu1, cpu2, wall1, wall2; /* one train step at n1, n2 (input building, forward, backward, Adam) */
    double cpu_e, wall_e;            /* one eval forward at ne2 */
    double rss0, rss1, rss2;         /* bytes: before the net, after train steps at n1, n2 */
    double rss_e1, rss_e;            /* after eval forwards at ne, ne2 */
    double n_params, n_buffers;
    double save_cpu, save_wall;      /* lr_net_save of the weights (checkpoints and shards scale from it) */
    double warm_cpu;                 /* once per job: creating the net and the first step at each new batch
                                        size (allocations, page faults) beyond a repeated step's time */
} calib;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Peak resident set (VmHWM; ru_maxrss where /proc is missing). */
static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb >= 0) return kb * 1024.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0;
}

/* A calibration child starts from its parent's heap: memory the parent freed is still resident and the
 * child's allocations would reuse it without growing its peak. Give it back and restart the peak. */
static void child_fresh_peak(void)
{
    malloc_trim(0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f); /* 5: reset the peak resident set size to the current one (Linux >= 4.0) */
        fclose(f);
    }
}

static void shape_key(const shape *s, int threads, const char *arch, char *buf, size_t n)
{
    snprintf(buf, n, "%s:w%d:o%d:%dx%dx%d:r%zux%zux%zu:aug%d:n%d,%d,%d,%d:t%d:%s:e%d", lr_arch_name(s->arch), s->width,
             s->out, s->dims[0], s->dims[1], s->dims[2], s->raw[0], s->raw[1], s->raw[2], s->augment, s->n1, s->n2,
             s->ne, s->ne2, threads, arch, LR_NN_ENGINE_REVISION);
}

/* The input of n samples as a job builds it: patches augmented and windowed, or volumes resampled,
 * augmented and windowed. */
typedef struct {
    const shape *s;
    const lr_train_options *o;
    lr_patch_pipeline pp;
    lr_cohort fake;    /* patches only, for lr_build_patch_batch */
    int64_t *rows;
    int16_t *raw;
    float *tmp;
    gsl_rng *rng;
} input_builder;

static int build_input(input_builder *b, float *x, int n, int train, lr_err *err)
{
    const shape *s = b->s;
    if (s->dims[0] == 1) return lr_build_patch_batch(&b->pp, &b->fake, b->rows, n, b->o, train ? b->rng : NULL, x, err);
    size_t nv = (size_t)s->dims[0] * s->dims[1] * s->dims[2];
    const size_t crop[3] = {(size_t)s->dims[0], (size_t)s->dims[1], (size_t)s->dims[2]};
    for (int k = 0; k < n; k++) {
        float *dst = x + (size_t)k * nv, *target = train && s->augment ? b->tmp : dst;
        lr_volume_resample(target, LR_VOXEL_FLOAT, crop, s->spacing, b->raw, LR_VOXEL_INT16, s->raw, s->raw_spacing,
                           -1000.0f);
        if (train && s->augment) {
            lr_aug_params ap = {b->o->aug_shift, b->o->aug_scale, b->o->aug_rotate_deg, b->o->aug_flip};
            lr_aug_draw d;
            lr_aug_sample(&d, &ap, s->dims[1], b->rng);
            lr_augment_volume(dst, b->tmp, s->dims[0], s->dims[1], s->dims[2], &d, 0.5);
        }
        for (size_t i = 0; i < nv; i++) dst[i] = lr_window(dst[i], b->o->hu_min, b->o->hu_max);
    }
    return 0;
}

/* In the child: the measurements of one shape at `threads` threads. */
static int measure_shape(const shape *s, const lr_train_options *o, int threads, const char *tmp_weights,
                         calib *out, lr_err *err)
{
    lr_nn_set_threads(threads);
    memset(out, 0, sizeof *out);
    size_t in_size = s->dims[0] == 1 ? P2 : (size_t)s->dims[0] * s->dims[1] * s->dims[2];
    int nmax = s->n2 > s->ne2 ? s->n2 : s->ne2;
    input_builder b = {.s = s, .o = o};
    b.rng = lr_rng_stream(1, "plan", 0, 0, 0);
    float *x = lr_malloc((size_t)nmax * in_size + (size_t)nmax * s->out + 1, sizeof(float), err);
    if (!b.rng || !x) return -1;
    float *dy = x + (size_t)nmax * in_size;
    if (s->dims[0] == 1) {
        b.fake.patch = lr_malloc((size_t)nmax * P2, sizeof(float), err);
        b.rows = lr_malloc((size_t)nmax, sizeof *b.rows, err);
        if (!b.fake.patch || !b.rows || lr_patch_pipeline_init(&b.pp, o, err)) return -1;
        for (size_t i = 0; i < (size_t)nmax * P2; i++) b.fake.patch[i] = (float)(gsl_rng_uniform(b.rng) * 2000 - 1000);
        for (int k = 0; k < nmax; k++) b.rows[k] = k;
        b.fake.n_lesions = (size_t)nmax;
    } else {
        size_t nr = s->raw[0] * s->raw[1] * s->raw[2];
        b.raw = lr_malloc(nr, sizeof *b.raw, err);
        b.tmp = lr_malloc(in_size, sizeof *b.tmp, err);
        if (!b.raw || !b.tmp) return -1;
        for (size_t i = 0; i < nr; i++) b.raw[i] = (int16_t)(gsl_rng_uniform_int(b.rng, 2000) - 1000);
    }
    for (int i = 0; i < nmax * s->out; i++) dy[i] = (float)((gsl_rng_uniform(b.rng) - 0.5) / nmax);
    out->rss0 = rss_bytes();
    double c_create = cpu_s();
    lr_net_config cfg = {s->arch, 1, s->width, s->out};
    lr_net *net = lr_net_create(&cfg, b.rng, err);
    lr_adam opt = {0};
    if (!net || lr_adam_init(&opt, net->n_params, 1e-4f, 0.0f, err)) return -1;
    out->warm_cpu = cpu_s() - c_create;
    out->n_params = (double)net->n_params;
    out->n_buffers = (double)net->n_buffers;
    int dims[3] = {s->dims[0], s->dims[1], s->dims[2]};
    /* each size: one warm-up step (allocations, page faults), then the timed one */
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? s->n2 : s->n1;
        for (int rep = 0; rep < 2; rep++) {
            double t0 = now_s(), c0 = cpu_s();
            if (build_input(&b, x, n, 1, err)) return -1;
            lr_net_zero_grad(net);
            if (lr_net_forward(net, x, n, dims, 1, err) || lr_net_backward(net, dy, NULL, err)) return -1;
            lr_adam_step(&opt, net->params, net->grads);
            double dc = cpu_s() - c0;
            if (rep == 0) out->warm_cpu += dc;
            if (rep == 1) {
                out->warm_cpu -= dc;
                *(pass ? &out->cpu2 : &out->cpu1) = dc;
                *(pass ? &out->wall2 : &out->wall1) = now_s() - t0;
            }
        }
        *(pass ? &out->rss2 : &out->rss1) = rss_bytes();
    }
    for (int rep = 0; rep < 3; rep++) { /* ne, then ne2 twice (the second timed) */
        int n = rep ? s->ne2 : s->ne;
        double t0 = now_s(), c0 = cpu_s();
        if (build_input(&b, x, n, 0, err) || lr_net_forward(net, x, n, dims, 0, err)) return -1;
        if (rep == 1) out->warm_cpu += cpu_s() - c0;
        out->cpu_e = cpu_s() - c0;
        out->wall_e = now_s() - t0;
        if (rep == 2) out->warm_cpu -= out->cpu_e;
        if (rep == 0) out->rss_e1 = rss_bytes();
    }
    out->rss_e = rss_bytes();
    double t0 = now_s(), c0 = cpu_s();
    if (lr_net_save(net, tmp_weights, err)) return -1;
    out->save_cpu = cpu_s() - c0;
    out->save_wall = now_s() - t0;
    unlink(tmp_weights);
    return 0;
}

/* Fork, measure, read the numbers back. */
static int calibrate_shape(const shape *s, const lr_train_options *o, int threads, const char *tmp_weights,
                           calib *out, lr_err *err)
{
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    if (pipe(fds)) return lr_fail(err, "plan: pipe failed");
    pid_t pid = fork();
    if (pid < 0) return lr_fail(err, "plan: fork failed");
    if (pid == 0) {
        close(fds[0]);
        child_fresh_peak();
        lr_err cerr = {0};
        calib m;
        int rc = measure_shape(s, o, threads, tmp_weights, &m, &cerr);
        char msg[sizeof cerr.msg];
        snprintf(msg, sizeof msg, "%s", rc ? cerr.msg : "");
        if (write(fds[1], &m, sizeof m) != (ssize_t)sizeof m || write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg)
            rc = -1;
        close(fds[1]);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    char msg[sizeof err->msg] = "";
    ssize_t got = read(fds[0], out, sizeof *out);
    ssize_t got2 = got == (ssize_t)sizeof *out ? read(fds[0], msg, sizeof msg) : 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    (void)got2;
    if (got != (ssize_t)sizeof *out || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return lr_fail(err, "plan: calibrating %s width %d failed%s%s", lr_arch_name(s->arch), s->width,
                       msg[0] ? ": " : "", msg);
    return 0;
}

/* ---- the cache: one line per shape, "<key> <numbers>"; the last line of a key wins ---- */

#define CALIB_FIELDS 16
static void calib_to_array(const calib *m, double v[CALIB_FIELDS])
{
    double a[CALIB_FIELDS] = {m->cpu1,  m->cpu2,  m->wall1, m->wall2,    m->cpu_e,      m->wall_e,
                              m->rss0,  m->rss1,  m->rss2,  m->rss_e,    m->n_params,   m->n_buffers,
                              m->save_cpu, m->save_wall, m->rss_e1, m->warm_cpu};
    memcpy(v, a, sizeof a);
}

static void calib_from_array(calib *m, const double v[CALIB_FIELDS])
{
    *m = (calib){.cpu1 = v[0], .cpu2 = v[1], .wall1 = v[2], .wall2 = v[3], .cpu_e = v[4], .wall_e = v[5],
                 .rss0 = v[6], .rss1 = v[7], .rss2 = v[8], .rss_e = v[9], .n_params = v[10], .n_buffers = v[11],
                 .save_cpu = v[12], .save_wall = v[13], .rss_e1 = v[14], .warm_cpu = v[15]};
}

static int cache_lookup(const char *path, const char *key, calib *m)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    int found = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) || line[kl] != ' ') continue;
        double v[CALIB_FIELDS] = {0};
        char *p = line + kl;
        int k = 0;
        for (; k < CALIB_FIELDS; k++) {
            char *end;
            v[k] = strtod(p, &end);
            if (end == p) break;
            p = end;
        }
        if (k == CALIB_FIELDS) {
            calib_from_array(m, v);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static int cache_append(const char *path, const char *key, const calib *m, lr_err *err)
{
    if (lr_mkdir_parents(path, 0)) return lr_fail(err, "%s: cannot create its directory", path);
    FILE *f = fopen(path, "a");
    if (!f) return lr_fail(err, "%s: cannot write the calibration cache", path);
    double v[CALIB_FIELDS];
    calib_to_array(m, v);
    fprintf(f, "%s", key);
    for (int k = 0; k < CALIB_FIELDS; k++) fprintf(f, " %.9g", v[k]);
    fprintf(f, "\n");
    return fclose(f) == 0 ? 0 : lr_fail(err, "%s: write error", path);
}

/* ---- the work of each job, from the cohort and the split ---- */

typedef struct {
    int shape;               /* index into the shapes, -1 for none */
    double steps, samples;   /* per training epoch: steps and samples (patches or volumes) */
    double eval_valid;       /* samples of an intermediate (validation-only) evaluation */
    double eval_full;        /* samples of a full evaluation */
    double n_max_train, n_max_eval; /* largest batches (memory) */
    int epochs, evals;       /* epochs and intermediate evaluations */
    int needs_patches;
} work;

typedef struct {
    const lr_experiment *exp;
    lr_cohort cohort;
    int have_cohort;
    int *part;
    shape shapes[MAX_SHAPES];
    calib cal[MAX_SHAPES];
    const lr_experiment *setting_exp[LR_SWEEP_MAX_SETTINGS]; /* a sweep: each setting's experiment */
    int n_shapes;
    double read_cpu, read_wall;          /* cohort read with patches (the 2D jobs) */
    double read_np_cpu, read_np_wall;    /* without patches */
    double base_bytes;                   /* a job process before its cohort */
    double vol_read_wall;                /* one /volumes/ct read */
    double corpus_lesions, corpus_all_lesions, corpus_gen_cpu; /* pretraining corpus */
    int corpus_organs;
} planner;

/* The training options of job j: its sweep setting's, else the experiment's. */
static const lr_train_options *job_opt(const planner *P, const lr_job *j)
{
    return j->setting >= 0 && P->setting_exp[j->setting] ? &P->setting_exp[j->setting]->train : &P->exp->train;
}

static int cap_of(lr_model_kind k, int max_lesions) { return k == LR_MODEL_MEAN_LARGEST5 ? 5 : max_lesions; }

static int find_or_add_shape(planner *P, const shape *s)
{
    for (int i = 0; i < P->n_shapes; i++)
        if (!memcmp(&P->shapes[i], s, sizeof *s)) return i;
    if (P->n_shapes == MAX_SHAPES) return -1;
    P->shapes[P->n_shapes] = *s;
    return P->n_shapes++;
}

static shape shape_2d(lr_arch arch, int width, int out, int augment)
{
    shape s;
    memset(&s, 0, sizeof s); /* compared with memcmp: padding zeroed */
    s.arch = arch, s.width = width, s.out = out, s.augment = augment;
    s.dims[0] = 1, s.dims[1] = LR_PATCH, s.dims[2] = LR_PATCH;
    s.voxel_ratio = 1;
    s.n1 = 16, s.n2 = 48, s.ne = 64, s.ne2 = 128;
    return s;
}

static shape shape_volume(const planner *P)
{
    const lr_train_options *o = &P->exp->train;
    shape s;
    memset(&s, 0, sizeof s);
    s.arch = LR_ARCH_RESNET18_3D, s.width = o->wv_width, s.out = 1, s.augment = o->augment;
    double full = (double)o->wv_crop[0] * o->wv_crop[1] * o->wv_crop[2];
    double f = full > CAL_MAX_VOXELS ? cbrt(full / CAL_MAX_VOXELS) : 1;
    double vox = 1;
    for (int d = 0; d < 3; d++) {
        s.dims[d] = (int)fmax(4, round(o->wv_crop[d] / f));
        vox *= s.dims[d];
        size_t raw = P->cohort.volume_dims[d] ? P->cohort.volume_dims[d] : (size_t)o->wv_crop[d];
        s.raw[d] = (size_t)fmax(4, round((double)raw / f));
        /* the same physical extent as the crop at the calibrated size */
        s.spacing[d] = o->wv_spacing_mm[d] * o->wv_crop[d] / s.dims[d];
        double src = P->cohort.volume_spacing_mm[d] > 0 ? P->cohort.volume_spacing_mm[d] : o->wv_spacing_mm[d];
        s.raw_spacing[d] = src * (double)raw / (double)s.raw[d];
    }
    s.voxel_ratio = full / vox;
    s.n1 = 1, s.n2 = 2, s.ne = 3, s.ne2 = 4;
    return s;
}

/* Training units of one fold: (count, selected samples, the B largest) and evaluation samples. */
static void fold_work(const planner *P, const lr_job *j, work *w)
{
    const lr_cohort *c = &P->cohort;
    const lr_train_options *o = job_opt(P, j);
    int vol = j->kind == LR_MODEL_WHOLE_VOLUME, cap = cap_of(j->kind, o->max_lesions);
    int B = vol ? o->wv_batch : o->batch_annotations;
    size_t units = 0;
    double samples = 0, valid = 0;
    const int *part = P->part + (size_t)j->repeat * c->n_patients;
    int top[1024] = {0}; /* the B largest selected counts (B <= 1024 in practice; the rest ignored) */
    int nb = B < 1024 ? B : 1024;
    for (size_t a = 0; a < c->n_annotations && !vol; a++) {
        int role = lr_split_role(part[c->ann_patient[a]], j->fold, P->exp->folds), n = c->ann_n_lesions[a];
        int k = n < cap ? n : cap;
        if (role == LR_ROLE_VALID) valid += k;
        if (role != LR_ROLE_TRAIN || n == 0) continue;
        units++;
        samples += k;
        for (int i = 0; i < nb; i++)
            if (k > top[i]) {
                memmove(top + i + 1, top + i, (size_t)(nb - i - 1) * sizeof *top);
                top[i] = k;
                break;
            }
    }
    if (vol) {
        for (size_t p = 0; p < c->n_patients; p++) {
            int role = lr_split_role(part[p], j->fold, P->exp->folds);
            units += role == LR_ROLE_TRAIN;
            valid += role == LR_ROLE_VALID;
        }
        samples = (double)units;
    }
    /* run_epoch: batches of B, a final batch of one is dropped */
    w->steps = (double)(units / (size_t)B) + (units % (size_t)B >= 2);
    if (units % (size_t)B == 1) samples -= vol ? 1 : samples / (double)units;
    w->samples = samples;
    w->eval_valid = valid;
    w->eval_full = vol ? (double)c->n_patients : (double)c->n_lesions;
    double mx = 0;
    for (int i = 0; i < nb; i++) mx += top[i];
    int max_ann = 0;
    for (size_t a = 0; a < c->n_annotations; a++) max_ann = c->ann_n_lesions[a] > max_ann ? c->ann_n_lesions[a] : max_ann;
    w->n_max_train = vol ? B : mx;
    w->n_max_eval = vol ? B : EVAL_CHUNK - 1 + max_ann;
}

static void job_work(planner *P, const lr_job *j, work *w)
{
    const lr_train_options *o = job_opt(P, j);
    memset(w, 0, sizeof *w);
    w->shape = -1;
    if (j->pretrain) {
        /* the organ task trains on the first reader's lesions of a synthetic corpus; the fractal task on
         * pretrain.patients x LR_FRACTAL_IMAGES_PER_PATIENT rendered images of LR_FRACTAL_CLASSES classes */
        int fractal = j->pretrain - 1 == LR_PRETRAIN_FRACTAL;
        shape s = shape_2d(LR_ARCH_RESNET50, o->r50_width, fractal ? LR_FRACTAL_CLASSES : P->corpus_organs, o->augment);
        s.n1 = PRETRAIN_BATCH / 2, s.n2 = PRETRAIN_BATCH, s.ne = PRETRAIN_BATCH, s.ne2 = PRETRAIN_BATCH + 1;
        w->shape = find_or_add_shape(P, &s);
        w->epochs = o->pretrain_epochs;
        w->samples = fractal ? (double)o->pretrain_patients * LR_FRACTAL_IMAGES_PER_PATIENT : P->corpus_lesions;
        w->steps = ceil((w->samples - 1) / PRETRAIN_BATCH);
        w->n_max_train = w->n_max_eval = PRETRAIN_BATCH;
        return;
    }
    if (!lr_model_is_learned(j->kind)) return;
    fold_work(P, j, w);
    w->epochs = o->epochs;
    for (int e = 0; e + 1 < o->epochs; e++) w->evals += (e + 1) % o->eval_every == 0;
    if (j->kind == LR_MODEL_WHOLE_VOLUME) {
        shape s = shape_volume(P);
        w->shape = find_or_add_shape(P, &s);
        return;
    }
    w->needs_patches = 1;
    int r50 = lr_model_uses_resnet50(j->kind);
    /* mean_largest5's net outputs its embedding through fc of size 1 as well: the same shape */
    shape s = shape_2d(r50 ? LR_ARCH_RESNET50 : LR_ARCH_RESNET18, r50 ? o->r50_width : o->width, 1, o->augment);
    w->shape = find_or_add_shape(P, &s);
}

/* Affine per-step model from the two timed steps: t(n) = a + b n. */
static void affine(double n1, double t1, double n2, double t2, double *a, double *b)
{
    *b = n2 > n1 ? (t2 - t1) / (n2 - n1) : t2 / n2;
    if (*b < 0) *b = t2 / n2; /* noise: fall back to proportional */
    *a = fmax(0, t2 - *b * n2);
}

static double cohort_bytes(const lr_cohort *c, int patches)
{
    return (double)c->n_patients * 48 + (double)c->n_annotations * 20 + (double)c->n_lesions * 42 +
           (patches ? (double)c->n_lesions * P2 * 4 : 0);
}

static void estimate(planner *P, const lr_job *j, lr_job_plan *jp)
{
    const lr_cohort *c = &P->cohort;
    work w;
    job_work(P, j, &w);
    jp->epochs = w.epochs;
    double result_bytes = (double)c->n_patients * 9 + (double)c->n_annotations * 8 + (double)c->n_lesions * 9;
    if (j->pretrain) {
        const shape *s = &P->shapes[w.shape];
        const calib *m = &P->cal[w.shape];
        double a, b, aw, bw;
        affine(s->n1, m->cpu1, s->n2, m->cpu2, &a, &b);
        affine(s->n1, m->wall1, s->n2, m->wall2, &aw, &bw);
        int fractal = j->pretrain - 1 == LR_PRETRAIN_FRACTAL;
        /* rendering the fractal images (a chaos game per image) is left out: milliseconds per hundred images */
        double gen = fractal ? 0.0 : P->corpus_gen_cpu;
        jp->cpu_s = gen + fmax(0, m->warm_cpu) + w.epochs * (w.steps * a + b * w.samples) + m->save_cpu;
        jp->wall_s = gen + fmax(0, m->warm_cpu) + w.epochs * (w.steps * aw + bw * w.samples) + m->save_wall;
        double corpus = fractal ? w.samples * (P2 * 4 + 42) + 2 * w.samples * 8
                                : P->corpus_all_lesions * (P2 * 4 + 42) + 2 * P->corpus_lesions * 8;
        jp->peak_mb = (P->base_bytes + corpus + (m->rss2 - m->rss0) + 2 * PRETRAIN_BATCH * P2 * 4) / MB;
        return;
    }
    int vol = j->kind == LR_MODEL_WHOLE_VOLUME;
    double read_cpu = w.needs_patches ? P->read_cpu : P->read_np_cpu;
    double read_wall = w.needs_patches ? P->read_wall : P->read_np_wall;
    /* a baseline: read the cohort, score, write a shard */
    jp->cpu_s = read_cpu + 1e-6 * (double)c->n_annotations; /* about a microsecond per annotation */
    jp->wall_s = read_wall + 1e-6 * (double)c->n_annotations;
    jp->peak_mb = (P->base_bytes + cohort_bytes(c, w.needs_patches) + 4 * result_bytes) / MB;
    if (w.shape < 0) return;
    const shape *s = &P->shapes[w.shape];
    const calib *m = &P->cal[w.shape];
    double r = s->voxel_ratio;
    double a, b, aw, bw;
    affine(s->n1, m->cpu1, s->n2, m->cpu2, &a, &b);
    affine(s->n1, m->wall1, s->n2, m->wall2, &aw, &bw);
    b *= r, bw *= r;
    double e = m->cpu_e / s->ne2 * r, ew = m->wall_e / s->ne2 * r;
    if (vol) e += P->vol_read_wall, ew += P->vol_read_wall, b += P->vol_read_wall, bw += P->vol_read_wall;
    /* the best epoch is fully evaluated again when it is not the last: counted as even odds */
    double eval_samples = w.evals * w.eval_valid + 1.5 * w.eval_full;
    double ckpt = 4 * (w.epochs - 1) + 2; /* per-epoch checkpoints (weights, Adam m and v, best) + the shard */
    double warm = fmax(0, m->warm_cpu) * (r > 1 ? r : 1);
    jp->cpu_s += warm + w.epochs * (w.steps * a + b * w.samples) + e * eval_samples + ckpt * m->save_cpu;
    jp->wall_s += warm + w.epochs * (w.steps * aw + bw * w.samples) + ew * eval_samples + ckpt * m->save_wall;
    /* memory: the net's share grows linearly with the batch, in train mode (steps) and eval mode (the
     * evaluation chunks), each from two measured points; the larger of the two is the peak */
    double n_max = fmax(w.n_max_train, w.n_max_eval);
    double per_t = fmax(0, (m->rss2 - m->rss1) / (s->n2 - s->n1)) * r;
    double per_e = fmax(0, (m->rss_e - m->rss_e1) / (s->ne2 - s->ne)) * r;
    double net = (m->rss2 - m->rss0) + per_t * (w.n_max_train - s->n2);
    net = fmax(net, (m->rss_e - m->rss0) + per_e * (w.n_max_eval - s->ne2));
    double in = vol ? (double)s->dims[0] * s->dims[1] * s->dims[2] * r : (double)P2;
    double emb = (s->arch == LR_ARCH_RESNET50 ? 32 : 8) * s->width;
    double buffers = 1.5 * n_max * (in + 6 + emb) * 4 + 2 * (m->n_params + m->n_buffers) * 4;
    if (vol) buffers += (double)c->volume_dims[0] * c->volume_dims[1] * c->volume_dims[2] * 2 + in * 4;
    jp->peak_mb = (P->base_bytes + cohort_bytes(c, w.needs_patches) + 4 * result_bytes + net + buffers) / MB;
}

/* The cohort: read when it exists, else generated in memory from the synth block (no volumes). */
static int plan_cohort(planner *P, lr_plan *p, lr_err *err)
{
    const lr_experiment *exp = P->exp;
    struct stat st;
    if (stat(exp->cohort, &st) == 0) {
        double t0 = now_s(), c0 = cpu_s();
        if (lr_cohort_read(exp->cohort, LR_COHORT_NO_PATCHES, &P->cohort, err)) return lr_fail_ctx(err, "%s", exp->cohort);
        P->read_np_cpu = cpu_s() - c0, P->read_np_wall = now_s() - t0;
        P->have_cohort = 1;
        snprintf(p->cohort_source, sizeof p->cohort_source, "file");
        int need = 0;
        for (int m = 0; m < exp->n_models; m++)
            need |= lr_model_is_learned(exp->models[m]) && exp->models[m] != LR_MODEL_WHOLE_VOLUME;
        if (need) { /* time the read the 2D jobs do */
            lr_cohort full;
            t0 = now_s(), c0 = cpu_s();
            if (lr_cohort_read(exp->cohort, 0, &full, err)) return lr_fail_ctx(err, "%s", exp->cohort);
            P->read_cpu = cpu_s() - c0, P->read_wall = now_s() - t0;
            lr_cohort_free(&full);
        }
        if (P->cohort.has_volumes && lr_experiment_has_model(exp, LR_MODEL_WHOLE_VOLUME)) {
            hid_t f = lr_h5_open_read(exp->cohort, err);
            size_t nv = P->cohort.volume_dims[0] * P->cohort.volume_dims[1] * P->cohort.volume_dims[2];
            int16_t *v = f >= 0 ? lr_malloc(nv, sizeof *v, err) : NULL;
            if (v) {
                t0 = now_s();
                if (lr_cohort_read_volume(f, 0, P->cohort.volume_dims, v, err) == 0) P->vol_read_wall = now_s() - t0;
            }
            free(v);
            if (f >= 0) H5Fclose(f);
        }
    } else if (exp->has_synth) {
        lr_synth_params sp = exp->synth;
        sp.volumes = 0;
        if (lr_synth_generate(&sp, &P->cohort, err)) return lr_fail_ctx(err, "plan: generating the cohort in memory");
        P->have_cohort = 1;
        if (exp->synth.volumes) {
            const double fov[3] = {600, 375, 375};
            for (int d = 0; d < 3; d++) {
                P->cohort.volume_dims[d] = exp->synth.volume_dims[d];
                P->cohort.volume_spacing_mm[d] = fov[d] / (double)exp->synth.volume_dims[d];
            }
        }
        /* reading: at 1 GB/s (assumed; the file does not exist yet) */
        P->read_cpu = P->read_wall = cohort_bytes(&P->cohort, 1) / 1e9;
        P->read_np_cpu = P->read_np_wall = cohort_bytes(&P->cohort, 0) / 1e9;
        double vb = 2.0 * exp->synth.volume_dims[0] * exp->synth.volume_dims[1] * exp->synth.volume_dims[2];
        P->vol_read_wall = exp->synth.volumes ? vb / 1e9 : 0;
        snprintf(p->cohort_source, sizeof p->cohort_source, "generated in memory (synth block)");
    } else {
        return lr_fail(err, "%s: cohort '%s' does not exist and the config has no synth block: nothing to plan from",
                       exp->path, exp->cohort);
    }
    /* every repeat's split (repeated CV): a job's counts are those of its own split */
    size_t np = P->cohort.n_patients;
    P->part = lr_malloc(np * (size_t)exp->repeats, sizeof *P->part, err);
    if (!P->part) return -1;
    for (int k = 0; k < exp->repeats; k++)
        if (lr_split_parts(&P->cohort, exp->folds, exp->seed, k, P->part + (size_t)k * np, err)) return -1;
    return 0;
}

/* The pretraining corpus (default generator, pretraining seed): lesions of the first reader, from a sample
 * of its patients; its generation time scales the same way. */
static int plan_corpus(planner *P, lr_err *err)
{
    const lr_train_options *o = &P->exp->train;
    lr_synth_params sp;
    lr_synth_default_params(&sp);
    int n = o->pretrain_patients < 40 ? o->pretrain_patients : 40;
    sp.patients = (size_t)n;
    sp.seed = o->pretrain_seed;
    lr_cohort corpus;
    double c0 = cpu_s();
    if (lr_synth_generate(&sp, &corpus, err)) return lr_fail_ctx(err, "plan: pretraining corpus");
    double gen = cpu_s() - c0, lesions = 0;
    int last = -1;
    for (size_t a = 0; a < corpus.n_annotations; a++) {
        if (corpus.ann_patient[a] == last) continue;
        last = corpus.ann_patient[a];
        lesions += corpus.ann_n_lesions[a];
    }
    P->corpus_all_lesions = (double)corpus.n_lesions * o->pretrain_patients / n;
    P->corpus_organs = (int)corpus.n_organs;
    lr_cohort_free(&corpus);
    P->corpus_lesions = lesions * o->pretrain_patients / n;
    P->corpus_gen_cpu = gen * o->pretrain_patients / n;
    return 0;
}

int lr_plan_make(const lr_experiment *exp, const lr_campaign *c, int mode, lr_plan *p, lr_err *err)
{
    memset(p, 0, sizeof *p);
    planner *P = lr_calloc(1, sizeof *P, err);
    if (!P) return -1;
    P->exp = exp;
    int rc = -1;
    double t_start = now_s();
    for (int s = 0; s < exp->sweep.n_settings; s++) {
        lr_job proto = {.setting = s};
        if (!(P->setting_exp[s] = lr_job_experiment(exp, &proto))) {
            lr_fail(err, "out of memory");
            goto done;
        }
    }
    P->base_bytes = rss_bytes();
    gethostname(p->host, sizeof p->host - 1);
    snprintf(p->blis_arch, sizeof p->blis_arch, "%s", lr_blis_arch_in_use());
    snprintf(p->cache_path, sizeof p->cache_path, "%.700s/.plan/calibration-%.60s.txt", exp->results_dir, p->host);
    if (plan_cohort(P, p, err)) goto done;
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i].pretrain && plan_corpus(P, err)) goto done;
    work w;
    for (int i = 0; i < c->n_jobs; i++) job_work(P, &c->jobs[i], &w); /* collects the shapes */
    p->n_shapes = P->n_shapes;
    for (int i = 0; i < P->n_shapes; i++) {
        char key[256];
        shape_key(&P->shapes[i], exp->threads, p->blis_arch, key, sizeof key);
        if (cache_lookup(p->cache_path, key, &P->cal[i])) continue;
        if (mode == LR_PLAN_CACHE_ONLY) {
            rc = 1;
            goto done;
        }
        char tmp[LR_PATH_MAX + 128];
        snprintf(tmp, sizeof tmp, "%s.weights.%ld.h5", p->cache_path, (long)getpid());
        if (lr_mkdir_parents(tmp, 0)) {
            lr_fail(err, "%s: cannot create its directory", tmp);
            goto done;
        }
        if (calibrate_shape(&P->shapes[i], &exp->train, exp->threads, tmp, &P->cal[i], err) ||
            cache_append(p->cache_path, key, &P->cal[i], err))
            goto done;
        p->n_measured++;
    }
    p->jobs = lr_calloc((size_t)c->n_jobs, sizeof *p->jobs, err);
    if (!p->jobs) goto done;
    p->n_jobs = c->n_jobs;
    for (int i = 0; i < c->n_jobs; i++) {
        lr_job_plan *jp = &p->jobs[i];
        estimate(P, &c->jobs[i], jp);
        /* Wall time on a machine of our own: the core-seconds over the threads at the speedup the
         * calibration saw, never better than perfect scaling and never worse than one thread (a wall time
         * above the CPU time means the calibration shared its cores with other work, not a slow job). */
        jp->wall_s = fmin(fmax(jp->wall_s, jp->cpu_s / exp->threads), jp->cpu_s);
    }
    p->calibration_s = now_s() - t_start;
    rc = 0;
done:
    if (P->have_cohort) lr_cohort_free(&P->cohort);
    free(P->part);
    for (int s = 0; s < exp->sweep.n_settings; s++)
        if (P->setting_exp[s]) lr_job_experiment_free(exp, P->setting_exp[s]);
    free(P);
    return rc;
}

void lr_plan_free(lr_plan *p)
{
    free(p->jobs);
    memset(p, 0, sizeof *p);
}

/* ---- scheduling and printing ---- */

double lr_plan_makespan(const lr_campaign *c, const int *order, const double *remaining, double *finish,
                        double *free_at, int workers)
{
    double end = 0;
    for (int w = 0; w < workers; w++) end = fmax(end, free_at[w]);
    for (int k = 0; k < c->n_jobs; k++) end = fmax(end, remaining[k] > 0 ? 0 : finish[k]);
    for (int k = 0; k < c->n_jobs; k++) {
        int j = order[k];
        if (remaining[j] <= 0) continue;
        int best = 0;
        for (int w = 1; w < workers; w++)
            if (free_at[w] < free_at[best]) best = w;
        double start = free_at[best];
        int dep = c->jobs[j].depends_on;
        if (dep >= 0) start = fmax(start, finish[dep]);
        finish[j] = start + remaining[j];
        free_at[best] = finish[j];
        end = fmax(end, finish[j]);
    }
    return end;
}

static void hms(double s, char *buf, size_t n)
{
    long t = (long)ceil(s);
    if (t < 60) t = 60; /* SLURM's granularity is a minute */
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

/* hms() of an array task's limit: at least LR_PLAN_MIN_TASK_S */
static void hms_task(double s, char *buf, size_t n) { hms(fmax(s, LR_PLAN_MIN_TASK_S), buf, n); }

/* "pretrain_<task>" for a pretraining job (one per task: fractal for the ImageNet row, organ for RadImageNet;
 * both are costed with the organ corpus's model, the fractal images being of the same size and count). */
static const char *kind_label(const lr_job *j)
{
    if (!j->pretrain) return lr_model_name(j->kind);
    return j->pretrain - 1 == LR_PRETRAIN_ORGAN ? "pretrain_organ" : "pretrain_fractal";
}

/* 1 when job i is the first of its kind label in campaign order. */
static int first_of_kind(const lr_campaign *c, int i)
{
    for (int q = 0; q < i; q++)
        if (!strcmp(kind_label(&c->jobs[q]), kind_label(&c->jobs[i]))) return 0;
    return 1;
}

/* "a-b,c,d-e": the ids of the model jobs of kind label k, in order, as an sbatch --array list. */
static char *kind_ids(const lr_campaign *c, const char *k)
{
    size_t cap = (size_t)c->n_model_jobs * 24 + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[0] = 0;
    for (int i = 0; i < c->n_model_jobs; i++) {
        if (strcmp(kind_label(&c->jobs[i]), k)) continue;
        int e = i;
        while (e + 1 < c->n_model_jobs && !strcmp(kind_label(&c->jobs[e + 1]), k)) e++;
        len += (size_t)snprintf(buf + len, cap - len, e > i ? "%s%d-%d" : "%s%d", len ? "," : "", i, e);
        i = e;
    }
    return buf;
}

/* One array per model kind (slurm/submit.sh): each asks for its own longest job and largest peak, so the
 * size baselines do not hold a ResNet50's limits; a ResNet50 kind names the pretraining job it needs. */
static void print_kind_arrays(FILE *out, const lr_campaign *c, const lr_plan *p, int T)
{
    for (int i = 0; i < c->n_model_jobs; i++) {
        if (!first_of_kind(c, i)) continue;
        const char *k = kind_label(&c->jobs[i]);
        double wall = 0, mem = 0;
        for (int q = i; q < c->n_model_jobs; q++)
            if (!strcmp(kind_label(&c->jobs[q]), k)) wall = fmax(wall, p->jobs[q].wall_s), mem = fmax(mem, p->jobs[q].peak_mb);
        int after = -1; /* the pretraining job of a ResNet50 kind, when the campaign has one */
        for (int q = c->n_model_jobs; lr_model_uses_resnet50(c->jobs[i].kind) && q < c->n_jobs; q++)
            if (c->jobs[q].pretrain - 1 == (int)lr_pretrain_task_of(c->jobs[i].kind)) after = q;
        char *ids = kind_ids(c, k), t[32], a[16] = "none";
        if (!ids) continue;
        hms_task(wall * LR_PLAN_TIME_SAFETY, t, sizeof t);
        if (after >= 0) snprintf(a, sizeof a, "%d", after);
        fprintf(out, "array_sbatch: %s after=%s --array=%s --cpus-per-task=%d --time=%s --mem-per-cpu=%.0fM\n", k, a, ids,
                T, t, ceil(mem * LR_PLAN_MEM_SAFETY / T));
        free(ids);
    }
}

void lr_plan_print(FILE *out, const lr_experiment *exp, const lr_campaign *c, const lr_plan *p, int cores)
{
    fprintf(out, "plan: %s\nhost: %s\nblis_arch: %s\nthreads: %d\ncohort: %s (%s)\ncalibration_cache: %s\n"
            "shapes: %d\nshapes_calibrated_now: %d\nplan_seconds: %.1f\n",
            exp->name, p->host, p->blis_arch, exp->threads, exp->cohort, p->cohort_source, p->cache_path, p->n_shapes,
            p->n_measured, p->calibration_s);
    double total_cpu = 0, array_wall = 0, array_mem = 0, pre_wall = 0, pre_mem = 0;
    for (int i = 0; i < c->n_jobs; i++) {
        const lr_job_plan *jp = &p->jobs[i];
        fprintf(out, "job_%d: %s core_s %.3f wall_s %.3f peak_mb %.1f\n", i, c->jobs[i].name, jp->cpu_s, jp->wall_s,
                jp->peak_mb);
        total_cpu += jp->cpu_s;
        if (c->jobs[i].pretrain) {
            pre_wall = jp->wall_s, pre_mem = jp->peak_mb;
        } else {
            array_wall = fmax(array_wall, jp->wall_s), array_mem = fmax(array_mem, jp->peak_mb);
        }
    }
    /* per kind, in campaign order */
    for (int i = 0; i < c->n_jobs; i++) {
        if (!first_of_kind(c, i)) continue;
        const char *k = kind_label(&c->jobs[i]);
        double cpu = 0, wall = 0, mem = 0;
        int n = 0;
        for (int q = i; q < c->n_jobs; q++)
            if (!strcmp(kind_label(&c->jobs[q]), k)) {
                n++;
                cpu += p->jobs[q].cpu_s, wall = fmax(wall, p->jobs[q].wall_s), mem = fmax(mem, p->jobs[q].peak_mb);
            }
        fprintf(out, "kind_%s: jobs %d core_s %.3f max_wall_s %.3f peak_mb %.1f\n", k, n, cpu, wall, mem);
    }
    int T = exp->threads, ranks = cores / T > 0 ? cores / T : 1;
    int *order = malloc((size_t)c->n_jobs * sizeof *order);
    double *rem = malloc((size_t)c->n_jobs * sizeof *rem), *fin = calloc((size_t)c->n_jobs, sizeof *fin);
    double *free_at = calloc((size_t)ranks, sizeof *free_at);
    double span = NAN;
    if (order && rem && fin && free_at) {
        /* the master's order: pretraining first, then by planned wall time, longest first */
        int n = 0;
        for (int i = 0; i < c->n_jobs; i++)
            if (c->jobs[i].pretrain) order[n++] = i;
        for (int i = 0; i < c->n_jobs; i++)
            if (!c->jobs[i].pretrain) order[n++] = i;
        for (int a = 1; a < c->n_jobs; a++)
            for (int b = a; b > 0 && !c->jobs[order[b]].pretrain && !c->jobs[order[b - 1]].pretrain &&
                            p->jobs[order[b]].wall_s > p->jobs[order[b - 1]].wall_s;
                 b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        for (int i = 0; i < c->n_jobs; i++) rem[i] = fmax(p->jobs[i].wall_s, 1e-6);
        span = lr_plan_makespan(c, order, rem, fin, free_at, ranks);
    }
    free(order), free(rem), free(fin), free(free_at);
    char t_array[32], t_pre[32], t_alloc[32];
    hms_task(array_wall * LR_PLAN_TIME_SAFETY, t_array, sizeof t_array);
    hms_task(pre_wall * LR_PLAN_TIME_SAFETY, t_pre, sizeof t_pre);
    hms(span * LR_PLAN_TIME_SAFETY, t_alloc, sizeof t_alloc);
    double mem_all = fmax(array_mem, pre_mem);
    fprintf(out, "total_core_seconds: %.3f\ntotal_core_hours: %.4f\njobs: %d\ncores: %d\nranks: %d\n"
            "makespan_seconds: %.1f\nsafety_time: %.2f\nsafety_mem: %.2f\n",
            total_cpu, total_cpu / 3600, c->n_jobs, cores, ranks, span, LR_PLAN_TIME_SAFETY, LR_PLAN_MEM_SAFETY);
    /* array mode (slurm/submit.sh): one task per job; memory per CPU of a task of T threads */
    fprintf(out, "#SBATCH --array=0-%d\n#SBATCH --cpus-per-task=%d\n#SBATCH --time=%s\n#SBATCH --mem-per-cpu=%.0fM\n",
            c->n_model_jobs - 1, T, t_array, ceil(array_mem * LR_PLAN_MEM_SAFETY / T));
    if (c->n_jobs > c->n_model_jobs)
        fprintf(out, "pretrain_sbatch: --array=%d-%d --cpus-per-task=%d --time=%s --mem-per-cpu=%.0fM\n",
                c->n_model_jobs, c->n_jobs - 1, T, t_pre, ceil(pre_mem * LR_PLAN_MEM_SAFETY / T));
    print_kind_arrays(out, c, p, T);
    /* one allocation (slurm/table2.sbatch): ranks workers plus the master */
    fprintf(out, "allocation_sbatch: --ntasks=%d --cpus-per-task=%d --time=%s --mem-per-cpu=%.0fM\n", ranks + 1, T,
            t_alloc, ceil(mem_all * LR_PLAN_MEM_SAFETY / T));
}
