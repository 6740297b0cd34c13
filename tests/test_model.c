/* The lesion model: split, augmentation, size scaler, aggregation, every variant end to end. */
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/pretrain.h"
#include "data/augment.h"
#include "data/cohort.h"
#include "data/split.h"
#include "data/synth.h"
#include "model/lesion_model.h"
#include "model/train.h"
#include "runner/config.h"
#include "survival/npll.h"
#include "util/h5.h"
#include "util/hash.h"
#include "util/rng.h"

static char tmpdir[512];

static int synth_cohort(lr_cohort *c, size_t patients, uint64_t seed, int patches)
{
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.patients = patients;
    p.seed = seed;
    p.skip_patches = !patches;
    lr_err err = {0};
    return lr_synth_generate(&p, c, &err);
}

/* ---- split ---- */

/* A 4-part split of the 258-patient cohort: equal sizes, every arm x event stratum balanced, matched
 * survival. */
static void check_stratified(const lr_cohort *c, const int *part, const char *what)
{
    size_t P = c->n_patients, size[4] = {0}, strata[4][2][2] = {{{0}}};
    static double times[4][258];
    for (size_t p = 0; p < P; p++) {
        CHECK(part[p] >= 0 && part[p] < 4);
        times[part[p]][size[part[p]]] = c->time_days[p];
        size[part[p]]++;
        strata[part[p]][c->arm[p]][c->event[p]]++;
    }
    /* equal sizes (258 = 4·64 + 2) and every arm × event stratum balanced within one patient */
    for (int k = 0; k < 4; k++) {
        CHECK_MSG(size[k] == 64 || size[k] == 65, "%s: part %d has %zu", what, k, size[k]);
        for (int a = 0; a < 2; a++)
            for (int e = 0; e < 2; e++)
                for (int q = 0; q < 4; q++) {
                    long d = (long)strata[k][a][e] - (long)strata[q][a][e];
                    CHECK_MSG(labs(d) <= 1, "%s: stratum arm %d event %d: parts %d, %d differ by %ld", what, a, e, k,
                              q, d);
                }
    }
    /* matched survival: every part's median time within 20 % of the others' mean */
    double med[4], mean = 0;
    for (int k = 0; k < 4; k++) {
        gsl_sort(times[k], 1, size[k]);
        med[k] = gsl_stats_median_from_sorted_data(times[k], 1, size[k]);
        mean += med[k] / 4;
    }
    for (int k = 0; k < 4; k++)
        CHECK_MSG(fabs(med[k] - mean) < 0.2 * mean, "%s: part %d median %g vs %g", what, k, med[k], mean);
}

/* Repeat 0 is the split campaigns had before repeated CV: the FNV-1a of its parts on a hand-made cohort
 * (independent of the synthetic generator) as computed by the split of that time. */
static void test_split_repeat0_unchanged(void)
{
    enum { NP = 103 };
    double t[NP];
    int8_t ev[NP];
    int16_t arm[NP];
    for (int p = 0; p < NP; p++) {
        t[p] = 30.0 + (double)((p * 7919) % 1009);
        ev[p] = (p * 7) % 3 != 0;
        arm[p] = (int16_t)(p % 2);
    }
    lr_cohort c;
    memset(&c, 0, sizeof c);
    c.n_patients = NP, c.time_days = t, c.event = ev, c.arm = arm;
    int part[NP];
    int64_t v[NP];
    lr_err err = {0};
    CHECK(lr_split_parts(&c, 4, 99, 0, part, &err) == 0);
    for (int p = 0; p < NP; p++) v[p] = part[p];
    CHECK_MSG(lr_fnv1a64(LR_FNV1A64_OFFSET_BASIS, v, sizeof v) == 0x556060617a3afe47ULL,
              "repeat 0 split changed: %016llx", (unsigned long long)lr_fnv1a64(LR_FNV1A64_OFFSET_BASIS, v, sizeof v));
    CHECK(lr_split_parts(&c, 4, 99, 1, part, &err) == 0);
    for (int p = 0; p < NP; p++) v[p] = part[p];
    CHECK(lr_fnv1a64(LR_FNV1A64_OFFSET_BASIS, v, sizeof v) != 0x556060617a3afe47ULL);
    CHECK(lr_split_parts(&c, 4, 99, -1, part, &err) != 0);
}

static void test_split(void)
{
    lr_cohort c;
    CHECK(synth_cohort(&c, 258, 7, 0) == 0);
    size_t P = c.n_patients;
    int *part = malloc(P * sizeof *part), *again = malloc(P * sizeof *again), *other = malloc(P * sizeof *other);
    int *rep1 = malloc(P * sizeof *rep1), *rep2 = malloc(P * sizeof *rep2);
    lr_err err = {0};
    CHECK(lr_split_parts(&c, 4, 99, 0, part, &err) == 0);
    CHECK(lr_split_parts(&c, 4, 99, 0, again, &err) == 0);
    CHECK(lr_split_parts(&c, 4, 100, 0, other, &err) == 0);
    CHECK(lr_split_parts(&c, 4, 99, 1, rep1, &err) == 0);
    CHECK(lr_split_parts(&c, 4, 99, 2, rep2, &err) == 0);
    CHECK(!memcmp(part, again, P * sizeof *part));
    CHECK(memcmp(part, other, P * sizeof *part) != 0);
    /* repeated CV: each repeat its own split, every one stratified; a good share of patients moves */
    size_t moved = 0;
    for (size_t p = 0; p < P; p++) moved += part[p] != rep1[p];
    CHECK_MSG(moved > P / 2, "repeats 0 and 1 differ in only %zu of %zu patients' parts", moved, P);
    CHECK(memcmp(rep1, rep2, P * sizeof *part) != 0);
    check_stratified(&c, part, "repeat 0");
    check_stratified(&c, rep1, "repeat 1");
    check_stratified(&c, rep2, "repeat 2");
    free(rep1);
    free(rep2);
    /* roles: test = k, valid = k+1, train = the other two; disjoint and covering */
    for (int fold = 0; fold < 4; fold++) {
        int count[3] = {0, 0, 0};
        for (int q = 0; q < 4; q++) count[lr_split_role(q, fold, 4)]++;
        CHECK(count[LR_ROLE_TRAIN] == 2 && count[LR_ROLE_VALID] == 1 && count[LR_ROLE_TEST] == 1);
        CHECK(lr_split_role(fold, fold, 4) == LR_ROLE_TEST);
        CHECK(lr_split_role((fold + 1) % 4, fold, 4) == LR_ROLE_VALID);
    }
    free(part);
    free(again);
    free(other);
    lr_cohort_free(&c);
}

/* ---- augmentation ---- */

static void radial_patch(float *p, int n)
{
    double c = 0.5 * (n - 1);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double r2 = (x - c) * (x - c) + (y - c) * (y - c);
            p[y * n + x] = (float)(1000.0 * exp(-r2 / 200.0) - 500.0);
        }
}

static void test_augment(void)
{
    const int n = LR_PATCH;
    lr_err err = {0};
    lr_augmenter *a = lr_augmenter_create(n, &err);
    CHECK(a != NULL);
    float in[LR_PATCH * LR_PATCH], out1[LR_PATCH * LR_PATCH], out2[LR_PATCH * LR_PATCH];
    radial_patch(in, n);
    /* identity */
    lr_aug_draw id = {0, 0, 1.0, 0, 0, 0};
    CHECK(lr_augment_patch(a, out1, in, &id, &err) == 0);
    double maxdiff = 0;
    for (int i = 0; i < n * n; i++) maxdiff = fmax(maxdiff, fabs(out1[i] - in[i]));
    CHECK_CLOSE(maxdiff, 0.0, 1e-3, 0);
    /* deterministic per seed */
    lr_aug_params prm = {0.1, 0.15, 180, 1};
    gsl_rng *r1 = lr_rng_stream(5, "augment", 1, 2, 3), *r2 = lr_rng_stream(5, "augment", 1, 2, 3),
            *r3 = lr_rng_stream(6, "augment", 1, 2, 3);
    lr_aug_draw d1, d2, d3;
    lr_aug_sample(&d1, &prm, n, r1);
    lr_aug_sample(&d2, &prm, n, r2);
    lr_aug_sample(&d3, &prm, n, r3);
    CHECK(lr_augment_patch(a, out1, in, &d1, &err) == 0);
    CHECK(lr_augment_patch(a, out2, in, &d2, &err) == 0);
    CHECK(!memcmp(out1, out2, sizeof out1));
    CHECK(memcmp(&d1, &d3, sizeof d1) != 0);
    /* without shift the lesion (the centre) stays at the centre for any rotation, zoom and flip */
    for (int t = 0; t < 20; t++) {
        lr_aug_draw d;
        lr_aug_params noshift = {0.0, 0.3, 180, 1};
        lr_aug_sample(&d, &noshift, n, r1);
        CHECK(lr_augment_patch(a, out1, in, &d, &err) == 0);
        int c0 = n / 2 - 1, c1 = n / 2;
        for (int y = c0; y <= c1; y++)
            for (int x = c0; x <= c1; x++) CHECK_CLOSE(out1[y * n + x], in[y * n + x], 15.0, 0);
        /* the brightest pixel stays within one pixel of the centre */
        int best = 0;
        for (int i = 1; i < n * n; i++) best = out1[i] > out1[best] ? i : best;
        CHECK(abs(best / n - c0) <= 1 && abs(best % n - c0) <= 1);
    }
    /* the volume augmenter keeps the centre too */
    float vin[6 * 16 * 16], vout[6 * 16 * 16];
    for (int k = 0; k < 6; k++) radial_patch(vin + k * 256, 16);
    lr_aug_draw dv = {0, 0, 1.2, 0.7, 1, 0};
    lr_augment_volume(vout, vin, 6, 16, 16, &dv, 0.0);
    CHECK_CLOSE(vout[3 * 256 + 7 * 16 + 7], vin[3 * 256 + 7 * 16 + 7], 40.0, 0);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
    gsl_rng_free(r3);
    lr_augmenter_free(a);
}

/* ---- size scaler and aggregation ---- */

static lr_train_options tiny_options(void)
{
    lr_experiment defaults;
    lr_experiment_defaults(&defaults);
    lr_train_options o = defaults.train;
    o.width = 2;
    o.r50_width = 2;
    o.wv_width = 2;
    o.epochs = 1;
    o.batch_annotations = 8;
    o.max_lesions = 6;
    o.lr = 1e-3;
    o.scaler_hidden = 3;
    o.pretrain_patients = 8;
    o.pretrain_epochs = 1;
    o.wv_spacing_mm[0] = 75.0;
    o.wv_spacing_mm[1] = o.wv_spacing_mm[2] = 375.0 / 32;
    o.wv_crop[0] = 8;
    o.wv_crop[1] = o.wv_crop[2] = 32;
    o.wv_batch = 4;
    o.wv_augment = 1;
    snprintf(o.pretrain_path, sizeof o.pretrain_path, "%s/pretrain/organ.h5", tmpdir);
    snprintf(o.pretrain_generic_path, sizeof o.pretrain_generic_path, "%s/pretrain/fractal.h5", tmpdir);
    return o;
}

static double softplus_d(double x) { return log1p(exp(x)); }

static void test_scaler_by_hand(void)
{
    lr_train_options o = tiny_options();
    gsl_rng *r = lr_rng_stream(1, "test", 0, 0, 0);
    lr_lesion_model m;
    lr_err err = {0};
    CHECK(lr_lesion_model_init(&m, LR_MODEL_PROPOSED, &o, r, &err) == 0);
    m.logv_mean = 7.0;
    m.logv_sd = 1.5;
    double vol[3] = {300.0, 2000.0, 40000.0};
    float s[3];
    /* the model starts at the Cox null: the scaler flat at 1 for every volume, the scorer's fc bias 0 */
    CHECK(lr_size_scale_forward(&m, vol, 3, s, &err) == 0);
    for (int i = 0; i < 3; i++) CHECK_CLOSE(s[i], 1.0, 1e-6, 1e-6);
    const lr_tensor *fb = lr_net_tensor(m.cnn, "fc.bias");
    CHECK(fb != NULL && fb->numel == 1);
    if (fb) CHECK(lr_net_tensor_data(m.cnn, fb)[0] == 0.0f);
    /* then a random head, so every layer of the scaler matters in the hand computation */
    for (size_t k = 0; k < m.n_head; k++) m.head[k] = (float)(2 * gsl_rng_uniform(r) - 1);
    CHECK(lr_size_scale_forward(&m, vol, 3, s, &err) == 0);
    const float *h = m.head;
    int H = 3;
    for (int i = 0; i < 3; i++) {
        double z = (log(vol[i]) - 7.0) / 1.5, h1[3], h2[3], o3 = h[m.b3];
        for (int j = 0; j < H; j++) h1[j] = fmax(0.0, h[m.w1 + j] * z + h[m.b1 + j]);
        for (int j = 0; j < H; j++) {
            double a = h[m.b2 + j];
            for (int k = 0; k < H; k++) a += h[m.w2 + j * H + k] * h1[k];
            h2[j] = fmax(0.0, a);
        }
        for (int k = 0; k < H; k++) o3 += h[m.w3 + k] * h2[k];
        CHECK_CLOSE(s[i], softplus_d(o3), 1e-6, 1e-5);
    }
    lr_lesion_model_free(&m);
    /* no_fc: linear in volume with one constant */
    CHECK(lr_lesion_model_init(&m, LR_MODEL_NO_FC, &o, r, &err) == 0);
    m.v_mean = 1000.0;
    m.head[0] = 0.5f;
    CHECK(lr_size_scale_forward(&m, vol, 3, s, &err) == 0);
    for (int i = 0; i < 3; i++) CHECK_CLOSE(s[i], 0.5 * vol[i] / 1000.0, 1e-6, 1e-6);
    lr_lesion_model_free(&m);
    /* no_scaler: 1 */
    CHECK(lr_lesion_model_init(&m, LR_MODEL_NO_SCALER, &o, r, &err) == 0);
    CHECK(lr_size_scale_forward(&m, vol, 3, s, &err) == 0);
    for (int i = 0; i < 3; i++) CHECK(s[i] == 1.0f);
    lr_lesion_model_free(&m);
    /* aggregation: r_p = Σ r_l s_l by hand */
    float rr[5] = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f}, ss[5] = {1.0f, 2.0f, 0.5f, 4.0f, 0.1f}, eta[2];
    int slot[5] = {0, 0, 1, 1, 1};
    lr_aggregate_sum(eta, rr, ss, slot, 5, 2);
    CHECK_CLOSE(eta[0], 0.5 * 1 - 1.0 * 2, 1e-6, 0);
    CHECK_CLOSE(eta[1], 2.0 * 0.5 + 0.25 * 4 + 3.0 * 0.1, 1e-6, 0);
    gsl_rng_free(r);
}

static void test_scaler_gradient(void)
{
    lr_train_options o = tiny_options();
    o.scaler_hidden = 4;
    gsl_rng *r = lr_rng_stream(2, "test", 0, 0, 0);
    lr_lesion_model m;
    lr_err err = {0};
    lr_model_kind kinds[2] = {LR_MODEL_PROPOSED, LR_MODEL_NO_FC};
    for (int t = 0; t < 2; t++) {
        CHECK(lr_lesion_model_init(&m, kinds[t], &o, r, &err) == 0);
        m.logv_mean = 7.0;
        m.logv_sd = 1.3;
        m.v_mean = 1500;
        double vol[6] = {100, 700, 1500, 4000, 12000, 60000};
        float coef[6] = {0.3f, -1.2f, 0.8f, 0.5f, -0.4f, 1.1f}, s[6];
        /* L = Σ coef_i s_i; analytic head gradient vs central differences */
        memset(m.head_grad, 0, m.n_head * sizeof(float));
        CHECK(lr_size_scale_forward(&m, vol, 6, s, &err) == 0);
        lr_size_scale_backward(&m, coef, 6);
        for (size_t k = 0; k < m.n_head; k++) {
            float keep = m.head[k];
            double h = 1e-2 * fmax(1.0, fabs(keep)), lp = 0, lm = 0;
            m.head[k] = keep + (float)h;
            lr_size_scale_forward(&m, vol, 6, s, &err);
            for (int i = 0; i < 6; i++) lp += coef[i] * s[i];
            m.head[k] = keep - (float)h;
            lr_size_scale_forward(&m, vol, 6, s, &err);
            for (int i = 0; i < 6; i++) lm += coef[i] * s[i];
            m.head[k] = keep;
            double fd = (lp - lm) / (2 * h);
            CHECK_MSG(fabs(fd - m.head_grad[k]) <= 2e-3 + 2e-2 * fabs(fd), "%s param %zu: fd %g analytic %g",
                      lr_model_name(kinds[t]), k, fd, (double)m.head_grad[k]);
        }
        lr_lesion_model_free(&m);
    }
    gsl_rng_free(r);
}

static void test_aggregation_gradient(void)
{
    /* L(r, s) = NPLL(Σ r s) (Efron): aggregation backward vs central differences in double */
    enum { N = 7, B = 4 };
    double r[N] = {0.2, -0.5, 1.1, 0.3, -0.9, 0.4, 0.05}, s[N] = {1.2, 0.4, 0.9, 2.0, 0.7, 1.5, 0.3};
    int slot[N] = {0, 0, 1, 2, 2, 3, 3}, ev[B] = {1, 0, 1, 1};
    double t[B] = {30, 50, 50, 80};
    float rf[N], sf[N], eta[B], deta[B], dr[N], ds[N];
    for (int i = 0; i < N; i++) rf[i] = (float)r[i], sf[i] = (float)s[i];
    lr_aggregate_sum(eta, rf, sf, slot, N, B);
    lr_npll_result res;
    lr_err err = {0};
    CHECK(lr_npll_f(B, t, ev, eta, LR_TIES_EFRON, &res, deta, &err) == 0);
    lr_aggregate_sum_backward(dr, ds, deta, rf, sf, slot, N);
    for (int which = 0; which < 2; which++)
        for (int i = 0; i < N; i++) {
            double *v = which ? s : r, keep = v[i], h = 1e-6, l[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                v[i] = keep + (sgn ? -h : h);
                double e[B] = {0};
                for (int k = 0; k < N; k++) e[slot[k]] += r[k] * s[k];
                lr_npll_result rr;
                CHECK(lr_npll(B, t, ev, e, LR_TIES_EFRON, &rr, NULL, &err) == 0);
                l[sgn] = rr.sum;
            }
            v[i] = keep;
            double fd = (l[0] - l[1]) / (2 * h), an = which ? ds[i] : dr[i];
            CHECK_MSG(fabs(fd - an) <= 1e-4 + 1e-3 * fabs(fd), "%s[%d]: fd %g analytic %g", which ? "s" : "r", i, fd, an);
        }
}

static void test_mean5_gradient(void)
{
    /* mean_largest5 head: L = Σ_b c_b·eta_b + ½ Σ_b eta_b²; analytic dL/demb and dL/dhead vs central differences */
    lr_train_options o = tiny_options();
    gsl_rng *rng = lr_rng_stream(3, "test", 0, 0, 0);
    lr_lesion_model m;
    lr_err err = {0};
    CHECK(lr_lesion_model_init(&m, LR_MODEL_MEAN_LARGEST5, &o, rng, &err) == 0);
    enum { N = 6, B = 3 };
    const int E = m.cnn->emb_size;
    int slot[N] = {0, 0, 1, 1, 1, 2};
    double weight[N] = {0.7, 0.3, 0.2, 0.5, 0.3, 1.0};
    float c[B] = {0.4f, -1.1f, 0.8f}, eta[B], deta[B], score[N];
    float *emb = malloc(sizeof(float) * N * E), *demb = malloc(sizeof(float) * N * E);
    for (int i = 0; i < N * E; i++) emb[i] = (float)(2 * gsl_rng_uniform(rng) - 1);
    for (size_t k = 0; k < m.n_head; k++) m.head[k] = (float)(2 * gsl_rng_uniform(rng) - 1);
    memset(m.head_grad, 0, m.n_head * sizeof(float));
    lr_mean5_forward(&m, eta, score, emb, weight, slot, N, B);
    for (int i = 0; i < N; i++) CHECK_CLOSE(score[i], lr_mean5_lesion_score(&m, emb + (size_t)i * E), 1e-6, 1e-6);
    for (int b = 0; b < B; b++) deta[b] = c[b] + eta[b];
    lr_mean5_backward(&m, demb, deta, emb, weight, slot, N, B);
    for (int which = 0; which < 2; which++) {
        float *v = which ? m.head : emb, *an = which ? m.head_grad : demb;
        size_t nv = which ? m.n_head : (size_t)N * E, bad = 0;
        for (size_t k = 0; k < nv; k++) {
            float keep = v[k], h = 1e-2f;
            double l[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                v[k] = keep + (sgn ? -h : h);
                lr_mean5_forward(&m, eta, score, emb, weight, slot, N, B);
                l[sgn] = 0;
                for (int b = 0; b < B; b++) l[sgn] += c[b] * eta[b] + 0.5 * eta[b] * eta[b];
            }
            v[k] = keep;
            double fd = (l[0] - l[1]) / (2.0 * h);
            if (!(fabs(fd - an[k]) <= 2e-3 + 1e-2 * fabs(fd))) {
                if (bad++ < 3) fprintf(stderr, "  %s[%zu]: fd %g analytic %g\n", which ? "head" : "emb", k, fd, an[k]);
            }
        }
        CHECK_MSG(bad == 0, "%s: %zu of %zu gradients differ from finite differences", which ? "head" : "emb", bad, nv);
    }
    free(emb), free(demb);
    lr_lesion_model_free(&m);
    gsl_rng_free(rng);
}

/* ---- every variant end to end ---- */

static int write_tiny_cohort(const char *path, size_t patients, uint64_t seed)
{
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.patients = patients;
    p.seed = seed;
    p.volumes = 1;
    p.volume_dims[0] = 8;
    p.volume_dims[1] = 32;
    p.volume_dims[2] = 32;
    lr_err err = {0};
    int rc = lr_synth_write(path, &p, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* The formula-driven corpus of the ImageNet row: deterministic, HU-like range, every class present, and
 * learnable -- a nearest-centroid classifier on half the images beats chance by far on the other half. */
static void test_fractal_corpus(void)
{
    lr_cohort a, b;
    lr_err err = {0};
    size_t n = 8 * LR_FRACTAL_CLASSES, P2 = LR_PATCH * LR_PATCH;
    CHECK_MSG(lr_fractal_corpus(17, n, &a, &err) == 0, "%s", err.msg);
    CHECK_MSG(lr_fractal_corpus(17, n, &b, &err) == 0, "%s", err.msg);
    CHECK(a.n_lesions == n && a.n_organs == LR_FRACTAL_CLASSES);
    CHECK(memcmp(a.patch, b.patch, n * P2 * sizeof(float)) == 0);
    lr_cohort_free(&b);
    CHECK(lr_cohort_check(&a, &err) == 0);
    int seen[LR_FRACTAL_CLASSES] = {0};
    double lit = 0;
    for (size_t i = 0; i < n; i++) {
        seen[a.organ[i]]++;
        for (size_t q = 0; q < P2; q++) {
            float v = a.patch[i * P2 + q];
            CHECK(v >= -1000.0f && v <= 1000.0f);
            lit += v > -1000.0f;
        }
    }
    for (int k = 0; k < LR_FRACTAL_CLASSES; k++) CHECK(seen[k] == 8);
    CHECK_MSG(lit / (double)(n * P2) > 0.05, "images nearly empty: %g lit", lit / (double)(n * P2));
    /* centroids of 4x4-pooled images from the even instances of each class, classify the odd ones */
    enum { Q = LR_PATCH / 4 };
    double *cent = calloc(LR_FRACTAL_CLASSES * Q * Q, sizeof *cent), *feat = malloc(Q * Q * sizeof *feat);
    size_t correct = 0, tested = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if ((int)((i / LR_FRACTAL_CLASSES) % 2) != pass) continue;
            for (int q = 0; q < Q * Q; q++) feat[q] = 0;
            for (int y = 0; y < LR_PATCH; y++)
                for (int x = 0; x < LR_PATCH; x++) feat[(y / 4) * Q + x / 4] += a.patch[i * P2 + (size_t)(y * LR_PATCH + x)] + 1000.0;
            if (pass == 0) {
                for (int q = 0; q < Q * Q; q++) cent[a.organ[i] * Q * Q + q] += feat[q];
                continue;
            }
            int best = 0;
            double best_d = INFINITY;
            for (int k = 0; k < LR_FRACTAL_CLASSES; k++) {
                double d = 0;
                for (int q = 0; q < Q * Q; q++) d += (feat[q] - cent[k * Q * Q + q] / 4.0) * (feat[q] - cent[k * Q * Q + q] / 4.0);
                if (d < best_d) best_d = d, best = k;
            }
            correct += best == a.organ[i];
            tested++;
        }
    double acc = (double)correct / (double)tested;
    printf("  fractal corpus: nearest-centroid accuracy %.2f (chance %.2f)\n", acc, 1.0 / LR_FRACTAL_CLASSES);
    CHECK_MSG(acc > 3.0 / LR_FRACTAL_CLASSES, "accuracy %g", acc);
    free(cent);
    free(feat);
    lr_cohort_free(&a);
}

static void test_variants_run(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tiny.h5", tmpdir);
    CHECK(write_tiny_cohort(path, 24, 5) == 0);
    lr_cohort c;
    lr_err err = {0};
    CHECK_MSG(lr_cohort_read(path, 0, &c, &err) == 0, "%s", err.msg);
    int part[24];
    CHECK(lr_split_parts(&c, 4, 3, 0, part, &err) == 0);
    lr_train_options o = tiny_options();
    for (int k = 0; k < LR_N_MODELS; k++) {
        lr_job_spec spec = {.cohort = &c, .cohort_path = path, .opt = &o, .kind = (lr_model_kind)k, .fold = 1,
                            .folds = 4, .replicate = 0, .seed = 3, .part = part};
        lr_job_result res;
        CHECK(lr_train_job(&spec, &res, &err) == 0);
        CHECK_MSG(res.status == LR_JOB_OK, "%s: %s", lr_model_name((lr_model_kind)k), res.error);
        for (int s = 0; s < 3; s++)
            CHECK_MSG(isfinite(res.c_final[s]) && res.c_final[s] >= 0 && res.c_final[s] <= 1, "%s split %d: %g",
                      lr_model_name((lr_model_kind)k), s, res.c_final[s]);
        if (k == LR_MODEL_RADIMAGENET_RESNET50)
            CHECK_MSG(strstr(res.weights_source, "synthetic organ task") != NULL, "%s", res.weights_source);
        if (k == LR_MODEL_IMAGENET_RESNET50)
            CHECK_MSG(strstr(res.weights_source, "formula-driven fractal task") != NULL &&
                          strstr(res.weights_source, "not ImageNet") != NULL,
                      "%s", res.weights_source);
        if (k == LR_MODEL_PROPOSED) {
            /* every lesion scored; the used ones reproduce the annotation risk */
            size_t a = 3;
            double eta = 0;
            for (int i = 0; i < c.ann_n_lesions[a]; i++) {
                size_t l = (size_t)c.ann_first_lesion[a] + i;
                CHECK(isfinite(res.lesion_risk[l]) && isfinite(res.lesion_scale[l]));
                if (res.lesion_used[l]) eta += (double)res.lesion_risk[l] * res.lesion_scale[l];
            }
            CHECK_CLOSE(eta, res.annotation_risk[a], 1e-4, 1e-4);
            /* shard round trip of the headline numbers */
            char shard[700];
            snprintf(shard, sizeof shard, "%s/proposed.h5", tmpdir);
            lr_shard_meta meta = {.config_text = "name = \"t\";", .config_path = "t.cfg", .cohort_path = path,
                                  .model = "proposed", .fold = 1, .replicate = 0, .seed = 3, .attempts = 1, .rank = -1,
                                  .identity = 0, .host = "test"};
            CHECK_MSG(lr_shard_write(shard, &meta, &res, &err) == 0, "%s", err.msg);
            hid_t f = lr_h5_open_read(shard, &err);
            double cf[3];
            CHECK(lr_h5_read(f, "/cindex/final", H5T_NATIVE_DOUBLE, cf, &err) == 0);
            CHECK(cf[2] == res.c_final[2]);
            CHECK(lr_h5_exists(f, "/weights/final/conv1.weight"));
            H5Fclose(f);
        }
        if (k == LR_MODEL_LESION_COUNT) {
            for (size_t a = 0; a < c.n_annotations; a++)
                CHECK(res.annotation_risk[a] == (double)c.ann_n_lesions[a]);
        }
        lr_job_result_free(&res);
    }
    lr_cohort_free(&c);
}

static void test_loss_decreases(void)
{
    lr_cohort c;
    CHECK(synth_cohort(&c, 24, 8, 1) == 0);
    int part[24];
    lr_err err = {0};
    CHECK(lr_split_parts(&c, 4, 1, 0, part, &err) == 0);
    lr_train_options o = tiny_options();
    o.width = 4;
    o.epochs = 8;
    o.augment = 0;
    o.batch_annotations = 1000; /* full batch: a deterministic descent */
    o.lr = 3e-3;
    o.eval_every = 8;
    lr_job_spec spec = {.cohort = &c, .opt = &o, .kind = LR_MODEL_PROPOSED, .fold = 0, .folds = 4, .replicate = 0,
                        .seed = 1, .part = part};
    lr_job_result res;
    CHECK(lr_train_job(&spec, &res, &err) == 0);
    CHECK_MSG(res.status == LR_JOB_OK, "%s", res.error);
    CHECK_MSG(res.train_loss[7] < res.train_loss[0] - 0.05, "loss %g -> %g", res.train_loss[0], res.train_loss[7]);
    lr_job_result_free(&res);
    lr_cohort_free(&c);
}

static void test_failure_modes(void)
{
    lr_cohort c;
    CHECK(synth_cohort(&c, 24, 9, 1) == 0);
    int part[24];
    lr_err err = {0};
    CHECK(lr_split_parts(&c, 4, 1, 0, part, &err) == 0);
    /* an annotation without lesions and a patient without annotations: defined, not fatal */
    c.ann_n_lesions[0] = 0;
    int32_t orphan = c.ann_patient[c.n_annotations - 1];
    for (size_t a = 0; a < c.n_annotations; a++)
        if (c.ann_patient[a] == orphan) c.ann_patient[a] = 0;
    lr_train_options o = tiny_options();
    lr_job_spec spec = {.cohort = &c, .opt = &o, .kind = LR_MODEL_PROPOSED, .fold = 0, .folds = 4, .replicate = 0,
                        .seed = 1, .part = part};
    lr_job_result res;
    CHECK(lr_train_job(&spec, &res, &err) == 0);
    CHECK_MSG(res.status == LR_JOB_OK, "%s", res.error);
    CHECK(res.patients_without_annotations == 1 && res.annotations_without_lesions == 1);
    CHECK(isnan(res.patient_risk[orphan]));
    CHECK(res.annotation_risk[0] == 0.0);
    lr_job_result_free(&res);
    /* a diverging optimiser: the job ends as failed with a message, no crash */
    o.lr = 1e30;
    o.epochs = 3;
    CHECK(lr_train_job(&spec, &res, &err) == 0);
    CHECK(res.status == LR_JOB_FAILED);
    CHECK_MSG(strstr(res.error, "non-finite") != NULL || strstr(res.error, "collapsed") != NULL, "%s", res.error);
    printf("  diverging optimiser: %s\n", res.error);
    lr_job_result_free(&res);
    lr_cohort_free(&c);
}

int main(void)
{
    lr_h5_quiet();
    snprintf(tmpdir, sizeof tmpdir, "%s/model-XXXXXX", getenv("TMPDIR_TESTS") ? getenv("TMPDIR_TESTS") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_split);
    RUN(test_split_repeat0_unchanged);
    RUN(test_augment);
    RUN(test_scaler_by_hand);
    RUN(test_scaler_gradient);
    RUN(test_aggregation_gradient);
    RUN(test_mean5_gradient);
    RUN(test_fractal_corpus);
    RUN(test_variants_run);
    RUN(test_loss_decreases);
    RUN(test_failure_modes);
    return TEST_SUMMARY();
}
