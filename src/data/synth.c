/* Synthetic cohort generator. See README.md "The synthetic cohort" for the model; constants are here. */
#include "data/synth.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/h5.h"
#include "util/rng.h"

const char *const lr_synth_organ_names[N_SYNTH_ORGANS] = {"lung",   "mediastinum", "bone",   "liver",
                                                          "other",  "spleen",      "kidney", "stomach"};

/* ---- the truth model's constants ---- */
static const double organ_prob[N_SYNTH_ORGANS] = {0.36, 0.18, 0.11, 0.12, 0.14, 0.03, 0.03, 0.03};
static const double organ_log_hazard[N_SYNTH_ORGANS] = {-0.90, 0.00, 1.60, 0.90, 0.20, 0.40, 0.50, 0.40};
static const double organ_log_volume_shift[N_SYNTH_ORGANS] = {-0.3, 0.0, 0.2, 0.4, 0.1, 0.0, 0.1, 0.1};
#define LOG_VOLUME_MEDIAN 7.0       /* ln(mm^3): median lesion ~ 1100 mm^3 (13 mm sphere) */
#define LOG_VOLUME_SD 1.35
#define VOLUME_MIN 40.0
#define VOLUME_MAX 250000.0
#define PROLIFERATION_EFFECT 0.90   /* log-hazard per SD of the proliferation phenotype */
#define PHENOTYPE_SHARED 0.75        /* correlation of a lesion's phenotype with its patient's */
#define CONTAINMENT_EFFECT 0.35     /* lung: +0.35 at the pleura, -0.35 when well inside */
#define SIZE_REF_MM3 4000.0         /* size weight s(v) = 1 - exp(-v / SIZE_REF) */
#define ARM_EFFECT (-0.35)          /* log hazard ratio of arm 1 vs arm 0 */
#define HAZARD_GAMMA 1.0            /* eta = gamma * log(sum_l s(v_l) exp(h_l)) + arm effect */
#define WEIBULL_SHAPE 1.3
#define BASE_MEDIAN_DAYS 725.0      /* median survival of a patient at eta = mean(eta) */
#define ACCRUAL_DAYS 1000.0         /* patients enter uniformly over this many days ... */
#define EVENT_FRACTION (186.0 / 258.0) /* ... and the analysis waits for this fraction of deaths */
#define DROPOUT_RATE (1.0 / 9000.0) /* per-day loss to follow-up */
#define LESION_COUNT_MEDIAN 12.8    /* true lesions per patient: 1 + lognormal */
#define LESION_COUNT_SDLOG 0.96
#define LESION_COUNT_MAX 80
#define DETECT_V50_MM3 180.0        /* a reader finds a lesion of this volume half the time */
#define DETECT_SLOPE 0.55           /* in ln(volume) */
#define READER_VOLUME_JITTER 0.12   /* SD of ln(volume) between readers (boundary disagreement) */
#define READER_DIAMETER_JITTER 0.06
#define FOLLOWUP_PROB 0.896         /* fraction of patients with a second scan (exact, stratified) */
#define GROWTH_MEAN (-0.05)
#define GROWTH_PROLIFERATION 0.45
#define GROWTH_ARM (-0.25)
#define GROWTH_SD 0.40
#define VANISH_LOG_RATIO (-1.8)     /* below this the lesion is not visible at follow-up (volume 0) */
#define N_READER_POOL 6
static const double readers_prob[4] = {0.08, 0.22, 0.40, 0.30}; /* 1..4 readers: mean 2.92 */

void lr_synth_default_params(lr_synth_params *p)
{
    memset(p, 0, sizeof *p);
    p->patients = LR_SYNTH_DEFAULT_PATIENTS;
    p->seed = 1;
    p->volume_dims[0] = 24;
    p->volume_dims[1] = 96;
    p->volume_dims[2] = 96;
}

double lr_synth_size_weight(double v) { return 1.0 - exp(-v / SIZE_REF_MM3); }

static int draw_categorical(gsl_rng *r, const double *prob, int n)
{
    double u = gsl_rng_uniform(r), acc = 0;
    for (int k = 0; k < n; k++) {
        acc += prob[k];
        if (u < acc) return k;
    }
    return n - 1;
}

/* A true lesion: organ, size, shape, phenotype, and its log-hazard. */
static void draw_lesion(gsl_rng *r, int arm, double patient_phenotype, lr_synth_lesion *L)
{
    memset(L, 0, sizeof *L);
    L->organ = draw_categorical(r, organ_prob, N_SYNTH_ORGANS);
    double lv = LOG_VOLUME_MEDIAN + organ_log_volume_shift[L->organ] + gsl_ran_gaussian(r, LOG_VOLUME_SD);
    L->volume_mm3 = GSL_MIN(GSL_MAX(exp(lv), VOLUME_MIN), VOLUME_MAX);
    double elong = 1.0 + 0.6 * gsl_rng_uniform(r);   /* a / b */
    double zratio = 0.7 + 0.5 * gsl_rng_uniform(r);  /* c / a */
    L->semi_a = cbrt(3.0 * L->volume_mm3 / (4.0 * M_PI) * elong / zratio);
    L->semi_b = L->semi_a / elong;
    L->semi_c = L->semi_a * zratio;
    L->orientation = M_PI * gsl_rng_uniform(r);
    L->margin = 1.5 * gsl_rng_uniform(r);
    L->boundary_angle = 2 * M_PI * gsl_rng_uniform(r);
    /* lesions of one patient share part of their biology */
    L->proliferation = PHENOTYPE_SHARED * patient_phenotype + sqrt(1 - PHENOTYPE_SHARED * PHENOTYPE_SHARED) * gsl_ran_gaussian(r, 1.0);
    double q_sig = 1.0 / (1.0 + exp(-1.5 * L->proliferation));
    for (int k = 0; k < 3; k++) {
        L->lobulation[k] = (0.03 + 0.07 * q_sig) * gsl_rng_uniform(r);
        L->lobulation_phase[k] = 2 * M_PI * gsl_rng_uniform(r);
    }
    L->spicule_k = 7 + (int)gsl_rng_uniform_int(r, 5);
    L->spiculation = 0.01 + 0.13 * q_sig * q_sig;
    L->spicule_phase = 2 * M_PI * gsl_rng_uniform(r);
    L->variant = (int)gsl_rng_uniform_int(r, 2);

    double containment = 0;
    if (L->organ == ORGAN_LUNG) containment = CONTAINMENT_EFFECT * (1.0 - 2.0 * GSL_MIN(L->margin / 0.5, 1.0));
    L->log_hazard = organ_log_hazard[L->organ] + containment + PROLIFERATION_EFFECT * L->proliferation;
    L->growth_log_ratio = GROWTH_MEAN + GROWTH_PROLIFERATION * L->proliferation + GROWTH_ARM * arm +
                          gsl_ran_gaussian(r, GROWTH_SD);
}

typedef struct {
    int arm;
    int n_true;
    lr_synth_lesion *lesions;
    double raw_eta; /* before centring */
    int has_followup;
    double u_survival, u_accrual, u_dropout;
    int n_readers;
    int readers[4];
    lr_synth_scene scene; /* the true lesions placed in the phantom: the patient's CT */
    int *lesion_key; /* [n_true] /lesions/lesion_key of each true lesion, -1 until a reader finds it: keys are
                      * numbered 0, 1, ... per patient in order of first appearance in row order */
    int n_keys;
} synth_patient;

/* Cohort-level strata (Latin hypercube over patients) for the lesion-count quantile and the follow-up
 * scan, so that a 258-patient cohort matches the paper's quartiles and follow-up fraction for any seed. */
typedef struct {
    double count_u;   /* in (0, 1): quantile of this patient's true lesion count */
    int has_followup;
} patient_strata;

static int draw_strata(const lr_synth_params *prm, patient_strata *st, lr_err *err)
{
    size_t P = prm->patients;
    size_t *perm = lr_malloc(P, sizeof *perm, err);
    gsl_rng *r = lr_rng_stream(prm->seed, "synth-strata", 0, 0, 0);
    if (!perm || !r) {
        free(perm);
        if (r) gsl_rng_free(r);
        return lr_fail(err, "out of memory (strata)");
    }
    for (size_t p = 0; p < P; p++) perm[p] = p;
    gsl_ran_shuffle(r, perm, P, sizeof *perm);
    for (size_t p = 0; p < P; p++) st[p].count_u = ((double)perm[p] + gsl_rng_uniform_pos(r)) / (double)P;
    gsl_ran_shuffle(r, perm, P, sizeof *perm);
    size_t with_fu = (size_t)lround(FOLLOWUP_PROB * (double)P);
    for (size_t p = 0; p < P; p++) st[p].has_followup = perm[p] < with_fu;
    free(perm);
    gsl_rng_free(r);
    return 0;
}

static int draw_patient(const lr_synth_params *prm, size_t p, const patient_strata *st, synth_patient *sp,
                        lr_err *err)
{
    gsl_rng *r = lr_rng_stream(prm->seed, "synth-patient", (int64_t)p, 0, 0);
    if (!r) return lr_fail(err, "out of memory (rng)");
    memset(sp, 0, sizeof *sp);
    sp->arm = (int)gsl_rng_uniform_int(r, 2);
    double z = gsl_cdf_ugaussian_Pinv(st->count_u);
    double cnt = 1.0 + floor(LESION_COUNT_MEDIAN * exp(LESION_COUNT_SDLOG * z) - 0.5);
    sp->n_true = (int)GSL_MIN(GSL_MAX(cnt, 1.0), (double)LESION_COUNT_MAX);
    sp->lesions = lr_calloc((size_t)sp->n_true, sizeof *sp->lesions, err);
    sp->lesion_key = lr_malloc((size_t)sp->n_true, sizeof *sp->lesion_key, err);
    if (!sp->lesions || !sp->lesion_key) {
        gsl_rng_free(r);
        return -1;
    }
    for (int l = 0; l < sp->n_true; l++) sp->lesion_key[l] = -1;
    double total = 0, patient_phenotype = gsl_ran_gaussian(r, 1.0);
    for (int l = 0; l < sp->n_true; l++) {
        draw_lesion(r, sp->arm, patient_phenotype, &sp->lesions[l]);
        total += lr_synth_size_weight(sp->lesions[l].volume_mm3) * exp(sp->lesions[l].log_hazard);
    }
    sp->raw_eta = HAZARD_GAMMA * log(total) + ARM_EFFECT * sp->arm;
    sp->has_followup = st->has_followup;
    sp->u_survival = gsl_rng_uniform_pos(r);
    sp->u_accrual = gsl_rng_uniform(r);
    sp->u_dropout = gsl_rng_uniform_pos(r);
    sp->n_readers = 1 + draw_categorical(r, readers_prob, 4);
    int pool[N_READER_POOL];
    for (int k = 0; k < N_READER_POOL; k++) pool[k] = k;
    gsl_ran_shuffle(r, pool, N_READER_POOL, sizeof(int));
    gsl_sort_int(pool, 1, (size_t)sp->n_readers);
    memcpy(sp->readers, pool, (size_t)sp->n_readers * sizeof(int));
    gsl_rng_free(r);
    return 0;
}

/* Latent survival time from a Weibull proportional-hazards model (days from entry). */
static double latent_survival(const synth_patient *sp, double eta)
{
    double scale = BASE_MEDIAN_DAYS / pow(log(2.0), 1.0 / WEIBULL_SHAPE);
    return scale * pow(-log(sp->u_survival) * exp(-eta), 1.0 / WEIBULL_SHAPE);
}

/* Event-driven analysis, as in a phase III trial: patients enter uniformly over ACCRUAL_DAYS, may be
 * lost to follow-up (exponential dropout), and the analysis happens on the calendar day of the
 * round(EVENT_FRACTION * P)-th observed death. Everyone alive then is censored. */
static void event_driven_censoring(const synth_patient *sp, const double *eta, size_t P, double *time,
                                   int8_t *event, double *scratch)
{
    size_t n_deaths = 0;
    for (size_t p = 0; p < P; p++) {
        double t = latent_survival(&sp[p], eta[p]);
        double dropout = -log(sp[p].u_dropout) / DROPOUT_RATE;
        if (t <= dropout) scratch[n_deaths++] = ACCRUAL_DAYS * sp[p].u_accrual + t;
    }
    size_t target = (size_t)lround(EVENT_FRACTION * (double)P);
    double cutoff = HUGE_VAL;
    if (target >= 1 && n_deaths >= target) {
        gsl_sort(scratch, 1, n_deaths);
        cutoff = scratch[target - 1];
    }
    for (size_t p = 0; p < P; p++) {
        double entry = ACCRUAL_DAYS * sp[p].u_accrual;
        double t = latent_survival(&sp[p], eta[p]);
        double cens = GSL_MIN(cutoff - entry, -log(sp[p].u_dropout) / DROPOUT_RATE);
        event[p] = t <= cens;
        time[p] = GSL_MAX(1.0, round(GSL_MIN(t, cens)));
    }
}

/* Which true lesions a reader finds: small lesions are missed more often; the largest is always found. */
static int reader_finds(gsl_rng *r, const synth_patient *sp, int l, int largest)
{
    if (l == largest) return 1;
    double z = (log(sp->lesions[l].volume_mm3) - log(DETECT_V50_MM3)) / DETECT_SLOPE;
    return gsl_rng_uniform(r) < 0.97 / (1.0 + exp(-z));
}

typedef struct {
    size_t cap_a, cap_l;
    lr_synth_patch_view *views; /* [cap_l] when the caller keeps the records, else NULL */
    int keep_views;
} capacity;

static int grow(void **p, size_t *cap, size_t need, size_t el, lr_err *err)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * el);
    if (!q) return lr_fail(err, "out of memory growing to %zu elements", nc);
    *p = q;
    *cap = nc;
    return 0;
}

static int ensure(const lr_synth_params *prm, lr_cohort *c, capacity *cap, size_t need_a, size_t need_l, lr_err *err)
{
    size_t ca = cap->cap_a, cl = cap->cap_l;
    size_t t;
    if (need_a > ca) {
        t = ca; LR_TRY(grow((void **)&c->ann_patient, &t, need_a, sizeof(int32_t), err));
        t = ca; LR_TRY(grow((void **)&c->ann_reader, &t, need_a, sizeof(int16_t), err));
        t = ca; LR_TRY(grow((void **)&c->ann_first_lesion, &t, need_a, sizeof(int64_t), err));
        t = ca; LR_TRY(grow((void **)&c->ann_n_lesions, &t, need_a, sizeof(int32_t), err));
        cap->cap_a = t;
    }
    if (need_l > cl) {
        t = cl; LR_TRY(grow((void **)&c->volume_mm3, &t, need_l, sizeof(double), err));
        t = cl; LR_TRY(grow((void **)&c->diameter_mm, &t, need_l, sizeof(double), err));
        t = cl; LR_TRY(grow((void **)&c->volume_followup_mm3, &t, need_l, sizeof(double), err));
        t = cl; LR_TRY(grow((void **)&c->organ, &t, need_l, sizeof(int16_t), err));
        t = cl; LR_TRY(grow((void **)&c->lesion_key, &t, need_l, sizeof(int32_t), err));
        t = cl; LR_TRY(grow((void **)&c->truth_lesion_log_hazard, &t, need_l, sizeof(double), err));
        if (!prm->skip_patches) {
            t = cl; LR_TRY(grow((void **)&c->patch, &t, need_l, sizeof(float) * LR_PATCH * LR_PATCH, err));
        }
        if (cap->keep_views) {
            t = cl; LR_TRY(grow((void **)&cap->views, &t, need_l, sizeof *cap->views, err));
        }
        cap->cap_l = t;
    }
    return 0;
fail:
    return -1;
}

/* One reader's annotation of one patient: lesion rows appended to the cohort. */
static int add_annotation(const lr_synth_params *prm, size_t p, synth_patient *sp, int reader_slot,
                          lr_cohort *c, capacity *cap, lr_err *err)
{
    gsl_rng *r = lr_rng_stream(prm->seed, "synth-reader", (int64_t)p, sp->readers[reader_slot], 0);
    if (!r) return lr_fail(err, "out of memory (rng)");
    int largest = 0;
    for (int l = 1; l < sp->n_true; l++)
        if (sp->lesions[l].volume_mm3 > sp->lesions[largest].volume_mm3) largest = l;
    size_t a = c->n_annotations;
    if (ensure(prm, c, cap, a + 1, c->n_lesions + (size_t)sp->n_true, err)) {
        gsl_rng_free(r);
        return -1;
    }
    c->ann_patient[a] = (int32_t)p;
    c->ann_reader[a] = (int16_t)sp->readers[reader_slot];
    c->ann_first_lesion[a] = (int64_t)c->n_lesions;
    int32_t n = 0;
    for (int l = 0; l < sp->n_true; l++) {
        const lr_synth_lesion *L = &sp->lesions[l];
        /* Draw every reader-specific number whether or not the lesion is found, so streams stay aligned. */
        int found = reader_finds(r, sp, l, largest);
        double vj = gsl_ran_gaussian(r, READER_VOLUME_JITTER);
        double dj = gsl_ran_gaussian(r, READER_DIAMETER_JITTER);
        double fj = gsl_ran_gaussian(r, READER_VOLUME_JITTER);
        double sx = gsl_ran_gaussian(r, 0.04), sy = gsl_ran_gaussian(r, 0.04);
        if (!found) continue;
        size_t row = c->n_lesions++;
        n++;
        c->organ[row] = (int16_t)L->organ;
        if (sp->lesion_key[l] < 0) sp->lesion_key[l] = sp->n_keys++;
        c->lesion_key[row] = sp->lesion_key[l];
        c->volume_mm3[row] = L->volume_mm3 * exp(vj);
        c->diameter_mm[row] = lr_synth_axial_diameter(L) * exp(dj);
        if (!sp->has_followup) c->volume_followup_mm3[row] = NAN;
        else if (L->growth_log_ratio < VANISH_LOG_RATIO) c->volume_followup_mm3[row] = 0.0;
        else c->volume_followup_mm3[row] = L->volume_mm3 * exp(L->growth_log_ratio + fj);
        c->truth_lesion_log_hazard[row] = L->log_hazard;
        double crop = 2.0 * c->diameter_mm[row];
        lr_synth_patch_view view = {.lesion = l, .crop_mm = crop, .shift_y_mm = sy * crop, .shift_x_mm = sx * crop,
                                    .noise_key = lr_stream_key(prm->seed, "synth-patch", (int64_t)p, l, sp->readers[reader_slot])};
        if (cap->keep_views) cap->views[row] = view;
        if (!prm->skip_patches && lr_synth_render_patch(c->patch + row * LR_PATCH * LR_PATCH, &sp->scene, &view, err)) {
            gsl_rng_free(r);
            return -1;
        }
    }
    c->ann_n_lesions[a] = n;
    c->n_annotations++;
    gsl_rng_free(r);
    return 0;
}

static int alloc_patients(lr_cohort *c, size_t P, lr_err *err)
{
    c->n_patients = P;
    c->patient_id = lr_calloc(P, sizeof *c->patient_id, err);
    c->time_days = lr_calloc(P, sizeof *c->time_days, err);
    c->event = lr_calloc(P, sizeof *c->event, err);
    c->arm = lr_calloc(P, sizeof *c->arm, err);
    c->truth_patient_log_hazard = lr_calloc(P, sizeof(double), err);
    c->n_organs = N_SYNTH_ORGANS;
    c->organ_name = lr_calloc(N_SYNTH_ORGANS, sizeof(char *), err);
    if (!c->patient_id || !c->time_days || !c->event || !c->arm || !c->truth_patient_log_hazard || !c->organ_name)
        return -1;
    for (int k = 0; k < N_SYNTH_ORGANS; k++)
        if (!(c->organ_name[k] = strdup(lr_synth_organ_names[k]))) return lr_fail(err, "out of memory");
    for (size_t p = 0; p < P; p++) {
        char id[32];
        snprintf(id, sizeof id, "SYN%04zu", p + 1);
        if (!(c->patient_id[p] = strdup(id))) return lr_fail(err, "out of memory");
    }
    return 0;
}

static void free_patients(synth_patient *sp, size_t P)
{
    if (!sp) return;
    for (size_t p = 0; p < P; p++) {
        free(sp[p].lesions);
        free(sp[p].lesion_key);
        lr_synth_scene_free(&sp[p].scene);
    }
    free(sp);
}

/* Draws every patient; *out keeps the true lesions and their scenes (for volumes); with views, also the
 * view of every lesion row (*views, [L]). */
static int generate(const lr_synth_params *prm, lr_cohort *c, synth_patient **out, lr_synth_patch_view **views,
                    lr_err *err)
{
    size_t P = prm->patients;
    memset(c, 0, sizeof *c);
    c->patch_size = LR_PATCH;
    c->has_truth = 1;
    synth_patient *sp = lr_calloc(P, sizeof *sp, err);
    double *scratch = NULL;
    patient_strata *strata = lr_calloc(P, sizeof *strata, err);
    capacity cap = {.keep_views = views != NULL};
    if (!sp || !strata || alloc_patients(c, P, err)) goto fail;
    LR_TRY(draw_strata(prm, strata, err));
    double mean_eta = 0;
    for (size_t p = 0; p < P; p++) {
        LR_TRY(draw_patient(prm, p, &strata[p], &sp[p], err));
        mean_eta += sp[p].raw_eta / (double)P;
        /* the patient's CT: lesions placed in the phantom (patches and volumes are cut from it) */
        lr_synth_place_lesions(sp[p].lesions, sp[p].n_true, lr_stream_key(prm->seed, "synth-volume", (int64_t)p, 0, 0));
        LR_TRY(lr_synth_scene_init(&sp[p].scene, sp[p].lesions, sp[p].n_true,
                                   lr_stream_key(prm->seed, "synth-scene", (int64_t)p, 0, 0), err));
    }
    /* Centre eta so that BASE_MEDIAN_DAYS is the median survival of an average patient. */
    for (size_t p = 0; p < P; p++) c->truth_patient_log_hazard[p] = sp[p].raw_eta - mean_eta;
    scratch = lr_malloc(P, sizeof *scratch, err);
    if (!scratch) goto fail;
    event_driven_censoring(sp, c->truth_patient_log_hazard, P, c->time_days, c->event, scratch);
    for (size_t p = 0; p < P; p++) {
        c->arm[p] = (int16_t)sp[p].arm;
        for (int k = 0; k < sp[p].n_readers; k++) LR_TRY(add_annotation(prm, p, &sp[p], k, c, &cap, err));
    }
    *out = sp;
    if (views) *views = cap.views;
    free(scratch);
    free(strata);
    return 0;
fail:
    free(cap.views);
    free(scratch);
    free(strata);
    free_patients(sp, P);
    lr_cohort_free(c);
    return -1;
}

int lr_synth_generate(const lr_synth_params *prm, lr_cohort *c, lr_err *err)
{
    synth_patient *sp = NULL;
    if (generate(prm, c, &sp, NULL, err)) return -1;
    free_patients(sp, prm->patients);
    return 0;
}

int lr_synth_generate_records(const lr_synth_params *prm, lr_cohort *c, lr_synth_records *rec, lr_err *err)
{
    synth_patient *sp = NULL;
    *rec = (lr_synth_records){0};
    if (generate(prm, c, &sp, &rec->views, err)) return -1;
    rec->n_patients = prm->patients;
    rec->n_rows = c->n_lesions;
    rec->scenes = lr_calloc(prm->patients, sizeof *rec->scenes, err);
    for (size_t p = 0; rec->scenes && p < prm->patients; p++) {
        rec->scenes[p] = sp[p].scene; /* moved: the patient no longer owns it */
        sp[p].scene = (lr_synth_scene){0};
    }
    free_patients(sp, prm->patients);
    if (!rec->scenes) {
        lr_synth_records_free(rec);
        lr_cohort_free(c);
        return -1;
    }
    return 0;
}

void lr_synth_records_free(lr_synth_records *rec)
{
    for (size_t p = 0; rec->scenes && p < rec->n_patients; p++) lr_synth_scene_free(&rec->scenes[p]);
    free(rec->scenes);
    free(rec->views);
    *rec = (lr_synth_records){0};
}

int lr_synth_write(const char *path, const lr_synth_params *prm, lr_err *err)
{
    lr_cohort c;
    synth_patient *sp = NULL;
    if (generate(prm, &c, &sp, NULL, err)) return -1;
    int rc = lr_cohort_write(path, &c, err);
    if (rc == 0 && prm->volumes) {
        const size_t *d = prm->volume_dims;
        double spacing[3] = {600.0 / (double)d[0], 375.0 / (double)d[1], 375.0 / (double)d[2]};
        int16_t *vol = lr_malloc(d[0] * d[1] * d[2], sizeof *vol, err);
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        rc = (!vol || f < 0) ? lr_fail(err, "%s: cannot reopen to add volumes", path) : 0;
        if (rc == 0) rc = lr_cohort_volumes_create(f, prm->patients, d, spacing, err);
        for (size_t p = 0; rc == 0 && p < prm->patients; p++) {
            uint64_t key = lr_stream_key(prm->seed, "synth-volume", (int64_t)p, 0, 0);
            rc = lr_synth_render_volume(vol, d, spacing, &sp[p].scene, key, err);
            if (rc == 0) rc = lr_cohort_volume_write(f, p, d, vol, err);
        }
        if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = lr_fail(err, "%s: error closing file", path);
        free(vol);
    }
    free_patients(sp, prm->patients);
    lr_cohort_free(&c);
    return rc;
}
