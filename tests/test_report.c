/* The report library on a fixture campaign built here (a small synthetic cohort and made-up risks with a
 * failed and a missing job): Table 2 recomputed from the file, the bootstrap interval, the KDE, the growth
 * mixed model against the LMM on its exported CSV, and the bad-input errors.
 * `test_report --write-fixture DIR` writes DIR/cohort.h5 and DIR/campaign.h5 for tests/cli_report.sh. */
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data/cohort.h"
#include "data/synth.h"
#include "report/report.h"
#include "survival/concordance.h"
#include "survival/lmm.h"
#include "util/csv.h"
#include "report/prognosis.h"
#include "runner/merge_survival.h"
#include "util/h5.h"
#include "util/hash.h"
#include "util/rng.h"

#define FOLDS 4
#define N_MODELS 10
static const char *const models[N_MODELS] = {"proposed", "no_fc", "no_scaler", "mean_largest5", "whole_volume",
                                             "imagenet_resnet50", "radimagenet_resnet50", "total_volume",
                                             "sum_diameters", "lesion_count"};
static char fixture_dir[512];

static int wd(hid_t f, const char *path, int rank, const hsize_t *dims, const double *v, lr_err *e)
{
    return lr_h5_write(f, path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, dims, NULL, 0, v, e);
}

static int wi32(hid_t f, const char *path, hsize_t n, const int32_t *v, lr_err *e)
{
    return lr_h5_write(f, path, H5T_NATIVE_INT32, H5T_STD_I32LE, 1, &n, NULL, 0, v, e);
}

/* Patient p is in test at fold p % 4 and in validation at fold (p + 1) % 4 (so fold k validates on
 * part (k + 1) % 4, as the runner). Risks: truth + model-specific noise. Job (imagenet_resnet50, fold 3)
 * failed, (no_fc, fold 2) missing. */
static int write_fixture(const char *dir)
{
    char cohort_path[1024], path[1024];
    snprintf(cohort_path, sizeof cohort_path, "%s/cohort.h5", dir);
    snprintf(path, sizeof path, "%s/campaign.h5", dir);
    lr_err e = {0};
    lr_synth_params sp;
    lr_synth_default_params(&sp);
    sp.patients = 32;
    sp.seed = 5;
    if (lr_synth_write(cohort_path, &sp, &e)) {
        fprintf(stderr, "fixture: %s\n", e.msg);
        return -1;
    }
    lr_cohort c;
    if (lr_cohort_read(cohort_path, LR_COHORT_NO_PATCHES, &c, &e)) {
        fprintf(stderr, "fixture: %s\n", e.msg);
        return -1;
    }
    size_t P = c.n_patients, A = c.n_annotations, L = c.n_lesions, J = N_MODELS * FOLDS, E = 3;
    double *prisk = calloc(J * P, sizeof *prisk), *arisk = calloc(J * A, sizeof *arisk);
    int8_t *role = calloc(J * P, 1), *used = calloc(J * L, 1);
    float *lrisk = calloc(J * L, sizeof *lrisk), *lscale = calloc(J * L, sizeof *lscale);
    double *cidx = calloc(J * 3, sizeof *cidx), *loss = calloc(J * E, sizeof *loss), *ccur = calloc(J * E * 3, 8);
    double *wall = calloc(J, 8), *t = calloc(P, 8), *r = calloc(P, 8);
    int *ev = calloc(P, sizeof *ev);
    int32_t *id = calloc(J, 4), *fold = calloc(J, 4), *rep = calloc(J, 4), *ep = calloc(J, 4), *zero = calloc(J, 4);
    const char **model = calloc(J, sizeof *model), **status = calloc(J, sizeof *status);
    const char **error = calloc(J, sizeof *error), **weights = calloc(J, sizeof *weights);
    const char **sel = calloc(J, sizeof *sel);
    gsl_rng *rng = lr_rng_stream(1, "report-fixture", 0, 0, 0);
    for (size_t j = 0; j < J; j++) {
        size_t m = j / FOLDS, k = j % FOLDS;
        id[j] = (int32_t)j;
        fold[j] = (int32_t)k;
        ep[j] = 2;
        model[j] = models[m];
        int failed = !strcmp(models[m], "imagenet_resnet50") && k == 3, missing = !strcmp(models[m], "no_fc") && k == 2;
        status[j] = failed ? "failed" : missing ? "missing" : "ok";
        error[j] = failed ? "NaN loss at epoch 1" : missing ? "no shard" : "";
        weights[j] = m >= 7   ? "none"
                     : m == 5 ? "pretrained: formula-driven fractal task, FractalDB-style, not ImageNet (fixture)"
                     : m == 6 ? "pretrained: synthetic organ task, CT organ classification, not RadImageNet (fixture)"
                              : "random init";
        sel[j] = (m == 5 || m == 6) ? "best_valid" : "last";
        double noise = 0.3 + 0.25 * (double)m;
        for (size_t e2 = 0; e2 < E; e2++) {
            loss[j * E + e2] = failed || missing ? NAN : 2.0 - 0.1 * (double)e2 + 0.05 * (double)m;
            for (int s = 0; s < 3; s++) ccur[(j * E + e2) * 3 + s] = (e2 == 1 || failed || missing) ? NAN : 0.6 + 0.01 * s;
        }
        for (size_t l = 0; l < L; l++) {
            lrisk[j * L + l] = failed || missing ? NAN : (float)(c.truth_lesion_log_hazard[l] + gsl_ran_gaussian(rng, noise));
            lscale[j * L + l] = failed || missing ? NAN : 0.5f;
            used[j * L + l] = !(failed || missing);
        }
        for (size_t a = 0; a < A; a++) arisk[j * A + a] = NAN;
        for (size_t p = 0; p < P; p++) {
            role[j * P + p] = failed || missing ? -1 : p % FOLDS == k ? 2 : (p + 1) % FOLDS == k ? 1 : 0;
            prisk[j * P + p] = failed || missing ? NAN : c.truth_patient_log_hazard[p] + gsl_ran_gaussian(rng, noise);
        }
        for (int s = 0; s < 3; s++) {
            size_t n = 0;
            for (size_t p = 0; p < P; p++)
                if (role[j * P + p] == (s == 0 ? 0 : s == 1 ? 1 : 2)) {
                    t[n] = c.time_days[p];
                    ev[n] = c.event[p];
                    r[n] = prisk[j * P + p];
                    n++;
                }
            lr_concordance conc;
            lr_harrell_cindex(n, t, ev, r, &conc, &e);
            cidx[j * 3 + s] = failed || missing ? NAN : conc.cindex;
        }
    }
    gsl_rng_free(rng);
    hid_t f = lr_h5_create(path, &e);
    int rc = f < 0;
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", lr_fnv1a64_file(cohort_path, NULL));
    long one = 1, folds = FOLDS, seed = 9, nj = (long)J;
    hsize_t hJ = J, hP = P, hA = A, hL = L, J3[2] = {J, 3}, JE[2] = {J, E}, JE3[3] = {J, E, 3}, JP[2] = {J, P},
            JA[2] = {J, A}, JL[2] = {J, L}, h1 = 1;
    double oracle = 0.75;
    int8_t *event8 = calloc(P, 1);
    for (size_t p = 0; p < P; p++) event8[p] = c.event[p];
    if (!rc) rc = lr_h5_attr_write_string(f, "/", "format", LR_CAMPAIGN_FORMAT, &e);
    if (!rc) rc = lr_h5_attr_write(f, "/", "version", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &one, &e);
    if (!rc) rc = lr_h5_attr_write_string(f, "/", "name", "fixture", &e);
    if (!rc) rc = lr_h5_attr_write_string(f, "/", "config_path", "fixture.cfg", &e);
    if (!rc) rc = lr_h5_attr_write_string(f, "/", "cohort_path", cohort_path, &e);
    if (!rc) rc = lr_h5_attr_write_string(f, "/", "cohort_fnv1a64", hex, &e);
    if (!rc) rc = lr_h5_attr_write_string(f, "/", "software_version", "test", &e);
    if (!rc) rc = lr_h5_attr_write(f, "/", "seed", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &seed, &e);
    if (!rc) rc = lr_h5_attr_write(f, "/", "folds", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &folds, &e);
    if (!rc) rc = lr_h5_attr_write(f, "/", "replicates", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &one, &e);
    if (!rc) rc = lr_h5_attr_write(f, "/", "n_jobs", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &nj, &e);
    if (!rc) rc = wi32(f, "/jobs/id", hJ, id, &e) || wi32(f, "/jobs/fold", hJ, fold, &e) ||
                  wi32(f, "/jobs/replicate", hJ, zero, &e) || wi32(f, "/jobs/best_epoch", hJ, ep, &e) ||
                  wi32(f, "/jobs/selected_epoch", hJ, ep, &e) || wi32(f, "/jobs/epochs_run", hJ, ep, &e);
    if (!rc) rc = lr_h5_write_strings(f, "/jobs/model", J, model, &e) ||
                  lr_h5_write_strings(f, "/jobs/status", J, status, &e) ||
                  lr_h5_write_strings(f, "/jobs/error", J, error, &e) ||
                  lr_h5_write_strings(f, "/jobs/weights_source", J, weights, &e) ||
                  lr_h5_write_strings(f, "/jobs/selection", J, sel, &e);
    if (!rc) rc = wd(f, "/jobs/wall_seconds", 1, &hJ, wall, &e) || wd(f, "/jobs/cindex", 2, J3, cidx, &e) ||
                  wd(f, "/curves/train_loss", 2, JE, loss, &e) || wd(f, "/curves/cindex", 3, JE3, ccur, &e) ||
                  wd(f, "/risks/patient", 2, JP, prisk, &e) || wd(f, "/risks/annotation", 2, JA, arisk, &e);
    if (!rc) rc = lr_h5_write(f, "/risks/patient_role", H5T_NATIVE_INT8, H5T_STD_I8LE, 2, JP, NULL, 0, role, &e) ||
                  lr_h5_write(f, "/risks/lesion", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, JL, NULL, 0, lrisk, &e) ||
                  lr_h5_write(f, "/risks/lesion_scale", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, JL, NULL, 0, lscale, &e) ||
                  lr_h5_write(f, "/risks/lesion_used", H5T_NATIVE_INT8, H5T_STD_I8LE, 2, JL, NULL, 0, used, &e);
    if (!rc) rc = wd(f, "/cohort/time_days", 1, &hP, c.time_days, &e) ||
                  lr_h5_write(f, "/cohort/event", H5T_NATIVE_INT8, H5T_STD_I8LE, 1, &hP, NULL, 0, event8, &e) ||
                  lr_h5_write(f, "/cohort/arm", H5T_NATIVE_INT16, H5T_STD_I16LE, 1, &hP, NULL, 0, c.arm, &e) ||
                  wi32(f, "/cohort/annotation_patient", hA, c.ann_patient, &e) ||
                  lr_h5_write(f, "/cohort/annotation_first_lesion", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, &hA, NULL, 0,
                              c.ann_first_lesion, &e) ||
                  wi32(f, "/cohort/annotation_n_lesions", hA, c.ann_n_lesions, &e) ||
                  lr_h5_write(f, "/cohort/lesion_organ", H5T_NATIVE_INT16, H5T_STD_I16LE, 1, &hL, NULL, 0, c.organ, &e) ||
                  wd(f, "/cohort/lesion_volume_mm3", 1, &hL, c.volume_mm3, &e) ||
                  wd(f, "/cohort/lesion_volume_followup_mm3", 1, &hL, c.volume_followup_mm3, &e) ||
                  wd(f, "/cohort/lesion_diameter_mm", 1, &hL, c.diameter_mm, &e) ||
                  lr_h5_write_strings(f, "/cohort/organ_name", c.n_organs, (const char *const *)c.organ_name, &e) ||
                  wd(f, "/cohort/truth_lesion_log_hazard", 1, &hL, c.truth_lesion_log_hazard, &e) ||
                  wd(f, "/cohort/truth_patient_log_hazard", 1, &hP, c.truth_patient_log_hazard, &e) ||
                  wd(f, "/cohort/oracle_cindex", 1, &h1, &oracle, &e);
    /* /survival as the merge writes it (runner/merge_survival.h) */
    lr_horizons horizons = {.n = 2, .days = {365, 730}};
    lr_survival_grid grid = {0};
    if (!rc) rc = lr_survival_grid_make(&horizons, &grid, &e);
    double *cumhaz = calloc(J * (grid.G + 1), 8), *surv = calloc(J * P * (grid.G + 1), 8), *coef = calloc(J, 8);
    for (size_t j = 0; !rc && j < J; j++) {
        int ok = !strcmp(status[j], "ok");
        lr_err e2;
        if (!ok || lr_survival_from_fold(P, c.time_days, event8, prisk + j * P, role + j * P, j / FOLDS >= 7, &grid,
                                         coef + j, cumhaz + j * grid.G, surv + j * P * grid.G, &e2)) {
            coef[j] = NAN;
            for (size_t g = 0; g < grid.G; g++) cumhaz[j * grid.G + g] = NAN;
            for (size_t i = 0; i < P * grid.G; i++) surv[j * P * grid.G + i] = NAN;
        }
    }
    hsize_t hH = 2, hJ2 = J, hG = grid.G, JG[2] = {J, grid.G}, JPG[3] = {J, P, grid.G};
    if (!rc) rc = wd(f, "/survival/horizons_days", 1, &hH, horizons.days, &e) ||
                  wd(f, "/survival/grid_days", 1, &hG, grid.grid, &e) || wd(f, "/survival/risk_coef", 1, &hJ2, coef, &e) ||
                  wd(f, "/survival/baseline_cumhaz", 2, JG, cumhaz, &e) ||
                  wd(f, "/survival/patient_surv", 3, JPG, surv, &e);
    free(cumhaz);
    free(surv);
    free(coef);
    lr_survival_grid_free(&grid);
    if (f >= 0) H5Fclose(f);
    if (rc) fprintf(stderr, "fixture: %s\n", e.msg);
    lr_cohort_free(&c);
    free(prisk), free(arisk), free(role), free(used), free(lrisk), free(lscale), free(cidx), free(loss), free(ccur);
    free(wall), free(t), free(r), free(ev), free(id), free(fold), free(rep), free(ep), free(zero), free(model);
    free(status), free(error), free(weights), free(sel), free(event8);
    return rc ? -1 : 0;
}

static char campaign_path[1024];

/* ---- Table 2 recomputed from the file ---- */

static void test_table2_recomputed(void)
{
    lr_err e = {0};
    lr_results c;
    CHECK_MSG(lr_results_read(campaign_path, &c, &e) == 0, "%s", e.msg);
    lr_table2_options opt = lr_table2_default_options();
    opt.replicates = 300;
    lr_table2 t;
    CHECK_MSG(lr_table2_compute(&c, &opt, &t, &e) == 0, "%s", e.msg);
    /* independent recomputation: Harrell's C on each ok job's test patients, mean and n-1 sd over folds */
    double *tt = malloc(c.P * 8), *rr = malloc(c.P * 8);
    int *ee = malloc(c.P * sizeof *ee);
    for (int row = 0; row < LR_TABLE2_ROWS; row++) {
        const lr_table2_row *w = &t.rows[row];
        double fold_c[FOLDS];
        int n = 0;
        for (size_t j = 0; j < c.J; j++) {
            if (strcmp(c.job_model[j], w->model) || c.job_status[j] != LR_JOB_STATUS_OK) continue;
            size_t m = 0;
            for (size_t p = 0; p < c.P; p++)
                if (c.patient_role[j * c.P + p] == 2) {
                    tt[m] = c.time_days[p], ee[m] = c.event[p], rr[m] = c.patient_risk[j * c.P + p];
                    m++;
                }
            lr_concordance conc;
            lr_harrell_cindex(m, tt, ee, rr, &conc, &e);
            CHECK_CLOSE(conc.cindex, c.job_cindex[j * 3 + 2], 1e-12, 0);
            fold_c[n++] = conc.cindex;
        }
        double mean = 0, ss = 0;
        for (int k = 0; k < n; k++) mean += fold_c[k] / n;
        for (int k = 0; k < n; k++) ss += (fold_c[k] - mean) * (fold_c[k] - mean);
        CHECK_CLOSE(w->mean[2], mean, 1e-12, 0);
        CHECK_CLOSE(w->sd[2], sqrt(ss / (n - 1)), 1e-12, 0);
        CHECK(w->n_folds == n);
        /* the pooled statistic is the mean of per-fold test C; its BCa interval brackets it */
        CHECK_CLOSE(w->pooled, mean, 1e-12, 0);
        CHECK_MSG(w->bca_low <= w->pooled && w->pooled <= w->bca_high, "%s: [%g, %g] vs %g", w->model, w->bca_low,
                  w->bca_high, w->pooled);
        CHECK(w->pct_low < w->pct_high);
        if (row != 2) {
            CHECK(isfinite(w->diff));
            CHECK(w->diff_low <= w->diff_high);
        }
    }
    CHECK(!strcmp(t.rows[0].model, "imagenet_resnet50") && t.rows[0].starred && t.rows[0].n_failed == 1 &&
          t.rows[0].n_folds == 3);
    CHECK(strstr(t.rows[0].problems, "fold 3 rep 0 failed (NaN loss at epoch 1)") != NULL);
    CHECK(!strcmp(t.rows[3].model, "no_fc") && t.rows[3].n_missing == 1 && t.rows[3].diff_folds == 3);
    CHECK(!t.rows[2].starred && strstr(t.rows[2].weights, "random init"));
    CHECK_CLOSE(t.oracle_cindex, 0.75, 0, 0);
    CHECK(t.n_test_patients == c.P);
    /* the same seed gives the same interval; the written CSV holds the numbers */
    lr_table2 t2;
    lr_table2_compute(&c, &opt, &t2, &e);
    CHECK(t2.rows[2].bca_low == t.rows[2].bca_low && t2.rows[2].bca_high == t.rows[2].bca_high);
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/t2", fixture_dir);
    mkdir(dir, 0755);
    CHECK_MSG(lr_table2_write(&t, dir, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/table2.csv", dir);
    lr_csv *csv = NULL;
    CHECK_MSG(lr_csv_read(path, &csv, &e) == 0, "%s", e.msg);
    if (csv) {
        CHECK(csv->n_rows == LR_TABLE2_ROWS);
        long col = lr_csv_column(csv, "test_mean", &e), sdcol = lr_csv_column(csv, "test_sd", &e);
        for (size_t r2 = 0; r2 < csv->n_rows && col >= 0 && sdcol >= 0; r2++) {
            CHECK_CLOSE(strtod(lr_csv_cell(csv, r2, (size_t)col), NULL), t.rows[r2].mean[2], 1e-6, 0);
            CHECK_CLOSE(strtod(lr_csv_cell(csv, r2, (size_t)sdcol), NULL), t.rows[r2].sd[2], 1e-6, 0);
        }
        lr_csv_free(csv);
    }
    snprintf(path, sizeof path, "%s/table2.md", dir);
    FILE *f = fopen(path, "r");
    char text[16384] = "";
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = 0;
        fclose(f);
    }
    CHECK(strstr(text, "| ImageNet ResNet50* | best validation |") != NULL);
    CHECK(strstr(text, "3/4 ok (1 failed, 0 missing)") != NULL);
    CHECK(strstr(text, "Oracle C") != NULL);
    /* the two ResNet50 rows' provenance, distinct, in all three files */
    const char *prov[2] = {"formula-driven fractal task, FractalDB-style, not ImageNet",
                           "synthetic organ task, CT organ classification, not RadImageNet"};
    for (int k = 0; k < 2; k++) CHECK_MSG(strstr(text, prov[k]) != NULL, "table2.md lacks '%s'", prov[k]);
    const char *other[2] = {"table2.csv", "table2.tex"};
    for (int q = 0; q < 2; q++) {
        snprintf(path, sizeof path, "%s/%s", dir, other[q]);
        char body[16384] = "";
        FILE *g = fopen(path, "r");
        if (g) {
            body[fread(body, 1, sizeof body - 1, g)] = 0;
            fclose(g);
        }
        for (int k = 0; k < 2; k++) CHECK_MSG(strstr(body, prov[k]) != NULL, "%s lacks '%s'", other[q], prov[k]);
    }
    free(tt), free(rr), free(ee);
    lr_results_free(&c);
}

/* ---- densities ---- */

static void test_kde(void)
{
    double x[200], grid[2001], dens[2001];
    gsl_rng *rng = lr_rng_stream(2, "kde", 0, 0, 0);
    for (int i = 0; i < 200; i++) x[i] = gsl_ran_gaussian(rng, 2.0);
    gsl_rng_free(rng);
    gsl_sort(x, 1, 200);
    double h = lr_silverman_bandwidth(x, 200);
    double sd = gsl_stats_sd(x, 1, 200);
    double iqr = gsl_stats_quantile_from_sorted_data(x, 1, 200, 0.75) - gsl_stats_quantile_from_sorted_data(x, 1, 200, 0.25);
    CHECK_CLOSE(h, 0.9 * fmin(sd, iqr / 1.34) * pow(200, -0.2), 1e-12, 0);
    for (int i = 0; i <= 2000; i++) grid[i] = -15 + 30.0 * i / 2000;
    lr_gaussian_kde(x, 200, h, grid, 2001, dens);
    double area = 0;
    for (int i = 0; i < 2000; i++) area += 0.5 * (dens[i] + dens[i + 1]) * (grid[i + 1] - grid[i]);
    CHECK_CLOSE(area, 1.0, 1e-6, 0);
    double one = 3.0;
    CHECK(lr_silverman_bandwidth(&one, 1) > 0);
    double same[3] = {2, 2, 2};
    CHECK(lr_silverman_bandwidth(same, 3) > 0);
}

/* ---- growth mixed model vs the LMM on the exported CSV ---- */

/* With lesion keys (the fixture cohort's truth) and a max_lesions cap (every 4th row marked unused): the
 * nested model uses exactly the used test rows with a follow-up, one lesion per (patient, key), and refits
 * identically from lmm_growth_nested.csv. */
static void test_growth_nested(lr_results *c, const lr_lesion_set *s, const lr_growth_result *paper)
{
    char path[1100], nested_csv[1100];
    lr_err e = {0};
    lr_cohort co;
    snprintf(path, sizeof path, "%s/cohort.h5", fixture_dir);
    CHECK_MSG(lr_cohort_read(path, LR_COHORT_NO_PATCHES, &co, &e) == 0, "%s", e.msg);
    if (!co.lesion_key) {
        CHECK(co.lesion_key != NULL);
        lr_cohort_free(&co);
        return;
    }
    c->lesion_key = co.lesion_key;
    co.lesion_key = NULL;
    lr_cohort_free(&co);
    int8_t *saved = malloc(c->J * c->L);
    CHECK(saved != NULL);
    if (!saved) return;
    memcpy(saved, c->lesion_used, c->J * c->L);
    for (size_t j = 0; j < c->J; j++)
        for (size_t l = 0; l < c->L; l += 4) c->lesion_used[j * c->L + l] = 0;
    size_t used_rows = 0, unused_rows = 0, distinct = 0, disagree = 0;
    /* per used row, in order: its lesion's first row; per first row, the lesion's volume sums */
    size_t *first = calloc(s->n + 1, sizeof *first), *row_first = calloc(s->n + 1, sizeof *row_first);
    double *sums = calloc(2 * (s->n + 1), sizeof *sums);
    int *row_growing = calloc(s->n + 1, sizeof *row_growing);
    CHECK(first && row_first && sums && row_growing);
    if (!first || !row_first || !sums || !row_growing) return;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = s->lesion[i];
        if (isnan(c->lesion_volume_followup_mm3[l])) continue;
        if (l % 4 == 0) {
            unused_rows++;
            continue;
        }
        size_t k = 0;
        int seen = 0;
        for (; k < i && !seen; k++) {
            size_t m = s->lesion[k];
            seen = m % 4 != 0 && !isnan(c->lesion_volume_followup_mm3[m]) && c->lesion_key[m] == c->lesion_key[l] &&
                   c->ann_patient[c->lesion_annotation[m]] == c->ann_patient[c->lesion_annotation[l]];
        }
        first[i] = seen ? k - 1 : i;
        row_first[used_rows] = first[i];
        row_growing[used_rows] = c->lesion_volume_followup_mm3[l] > c->lesion_volume_mm3[l];
        sums[2 * first[i]] += c->lesion_volume_mm3[l];
        sums[2 * first[i] + 1] += c->lesion_volume_followup_mm3[l];
        used_rows++;
        distinct += !seen;
    }
    /* the lesion's growing (its readers' mean volumes), and how many rows a reader's own label would flip */
    for (size_t r = 0; r < used_rows; r++) {
        int lesion_growing = sums[2 * row_first[r] + 1] > sums[2 * row_first[r]];
        disagree += row_growing[r] != lesion_growing;
        row_growing[r] = lesion_growing;
    }
    CHECK_MSG(disagree > 0, "no reader disagrees with its lesion's growing: the fixture cannot tell the rules apart");
    snprintf(nested_csv, sizeof nested_csv, "%s/lmm_growth_nested.csv", fixture_dir);
    lr_growth_result g;
    CHECK_MSG(lr_growth_test(c, s, NULL, nested_csv, &g, &e) == 0, "%s", e.msg);
    CHECK_MSG(g.nested.fitted, "nested model not fitted");
    CHECK(g.nested.n_obs == used_rows && g.nested.n_unused == unused_rows && g.nested.n_lesions == distinct);
    CHECK_MSG(g.nested.n_lesions < g.nested.n_obs, "%zu lesions, %zu rows: readers should repeat lesions",
              g.nested.n_lesions, g.nested.n_obs);
    /* the paper's line is unchanged by the keys */
    CHECK(g.n_obs == paper->n_obs && g.beta == paper->beta && g.p_one_sided == paper->p_one_sided);
    CHECK(isfinite(g.nested.beta) && g.nested.se > 0 && g.nested.df > 0 && isfinite(g.nested.tau2_lesion));
    lr_csv *csv = NULL;
    CHECK_MSG(lr_csv_read(nested_csv, &csv, &e) == 0, "%s", e.msg);
    if (csv && csv->n_rows == g.nested.n_obs) {
        size_t N = csv->n_rows, G = 0, K = 0;
        double *y = malloc(N * 8), *X = malloc(2 * N * 8), *gr = malloc(N * 8), *pat = malloc(N * 8), *les = malloc(N * 8);
        size_t *group = malloc(N * sizeof *group), *lesion = malloc(N * sizeof *lesion);
        size_t *gmap = calloc(c->P, sizeof *gmap), *kmap = calloc(N + 1, sizeof *kmap);
        CHECK(lr_csv_column_double(csv, "risk", y, &e) == 0 && lr_csv_column_double(csv, "growing", gr, &e) == 0 &&
              lr_csv_column_double(csv, "patient", pat, &e) == 0 && lr_csv_column_double(csv, "lesion", les, &e) == 0);
        size_t wrong = 0;
        for (size_t i = 0; i < N; i++) wrong += (int)gr[i] != row_growing[i];
        CHECK_MSG(wrong == 0, "%zu of %zu rows: growing is not their lesion's (mean follow-up > mean baseline)",
                  wrong, N);
        for (size_t i = 0; i < N; i++) {
            size_t p = (size_t)pat[i], k = (size_t)les[i];
            if (!gmap[p]) gmap[p] = ++G;
            if (!kmap[k]) kmap[k] = ++K;
            group[i] = gmap[p] - 1;
            lesion[i] = kmap[k] - 1;
            X[2 * i] = 1, X[2 * i + 1] = gr[i];
        }
        lr_lmm_data d = {.n_obs = N, .n_fixed = 2, .n_groups = G, .y = y, .X = X, .group = group, .n_nested = K,
                         .nested = lesion};
        lr_lmm_fit fit;
        CHECK_MSG(lr_lmm_fit_model(&d, 1, &fit, &e) == 0, "%s", e.msg);
        CHECK(K == g.nested.n_lesions && G == g.nested.n_patients);
        CHECK_CLOSE(fit.beta[1], g.nested.beta, 1e-9, 1e-7);
        CHECK_CLOSE(fit.df_satterthwaite[1], g.nested.df, 1e-6, 1e-5);
        CHECK_CLOSE(fit.p_one_sided_satterthwaite[1], g.nested.p_one_sided, 1e-9, 1e-5);
        printf("  fixture growth: paper's model p = %.3g (%zu rows), nested p = %.3g (%zu rows, %zu lesions, "
               "tau2_lesion %.3g)\n", paper->p_one_sided, paper->n_obs, g.nested.p_one_sided, g.nested.n_obs,
               g.nested.n_lesions, g.nested.tau2_lesion);
        lr_lmm_fit_free(&fit);
        free(y), free(X), free(gr), free(pat), free(les), free(group), free(lesion), free(gmap), free(kmap);
    } else {
        CHECK_MSG(0, "%s: %zu rows, expected %zu", nested_csv, csv ? csv->n_rows : 0, g.nested.n_obs);
    }
    lr_csv_free(csv);
    free(first), free(row_first), free(sums), free(row_growing);
    memcpy(c->lesion_used, saved, c->J * c->L);
    free(saved);
}

static void test_growth_lmm(void)
{
    lr_err e = {0};
    lr_results c;
    CHECK_MSG(lr_results_read(campaign_path, &c, &e) == 0, "%s", e.msg);
    lr_lesion_set s;
    CHECK_MSG(lr_test_lesions(&c, "proposed", 0, &s, &e) == 0, "%s", e.msg);
    size_t expect = 0, with_fu = 0;
    for (size_t l = 0; l < c.L; l++) {
        size_t p = (size_t)c.ann_patient[c.lesion_annotation[l]];
        if (p % FOLDS == 0) {
            expect++;
            with_fu += !isnan(c.lesion_volume_followup_mm3[l]);
        }
    }
    CHECK(s.n == expect);
    char csv_path[1100];
    snprintf(csv_path, sizeof csv_path, "%s/lmm_growth.csv", fixture_dir);
    lr_growth_result g;
    CHECK_MSG(lr_growth_test(&c, &s, csv_path, NULL, &g, &e) == 0, "%s", e.msg);
    CHECK(c.lesion_key == NULL && !g.nested.fitted); /* a campaign without keys: the paper's model only */
    CHECK(g.n_obs == with_fu && g.n_obs == g.n_growing + g.n_shrinking && g.n_obs > 20);
    CHECK(isfinite(g.beta) && g.se > 0 && g.df > 0 && g.p_one_sided > 0 && g.p_one_sided < 1);
    /* refit from the CSV, as `lesionrank stats lmm` does */
    lr_csv *csv = NULL;
    CHECK_MSG(lr_csv_read(csv_path, &csv, &e) == 0, "%s", e.msg);
    if (csv) {
        size_t N = csv->n_rows;
        double *y = malloc(N * 8), *X = malloc(2 * N * 8), *gr = malloc(N * 8);
        size_t *group = malloc(N * sizeof *group), *dense = calloc(c.P, sizeof *dense), G = 0;
        lr_csv_column_double(csv, "risk", y, &e);
        lr_csv_column_double(csv, "growing", gr, &e);
        long pc = lr_csv_column(csv, "patient", &e);
        for (size_t i = 0; i < N; i++) {
            size_t p = strtoul(lr_csv_cell(csv, i, (size_t)pc), NULL, 10);
            if (!dense[p]) dense[p] = ++G;
            group[i] = dense[p] - 1;
            X[2 * i] = 1, X[2 * i + 1] = gr[i];
        }
        lr_lmm_data d = {.n_obs = N, .n_fixed = 2, .n_groups = G, .y = y, .X = X, .group = group};
        lr_lmm_fit fit;
        CHECK(lr_lmm_fit_model(&d, 1, &fit, &e) == 0);
        CHECK(N == g.n_obs && G == g.n_patients);
        CHECK_CLOSE(fit.beta[1], g.beta, 1e-9, 1e-7);
        CHECK_CLOSE(fit.se[1], g.se, 1e-9, 1e-6);
        CHECK_CLOSE(fit.df_satterthwaite[1], g.df, 1e-6, 1e-5);
        CHECK_CLOSE(fit.p_one_sided_satterthwaite[1], g.p_one_sided, 1e-9, 1e-5);
        lr_lmm_fit_free(&fit);
        free(y), free(X), free(gr), free(group), free(dense);
        lr_csv_free(csv);
    }
    test_growth_nested(&c, &s, &g);
    lr_picked_lesion picked[4];
    size_t n_picked;
    lr_pick_extremes(&s, &c, picked, &n_picked);
    CHECK(n_picked == 4);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < s.n; i++) lo = fmin(lo, s.risk[i]), hi = fmax(hi, s.risk[i]);
    CHECK(picked[0].risk == hi && picked[2].risk == lo && picked[1].risk <= hi && picked[3].risk >= lo);
    CHECK(picked[0].lesion != picked[1].lesion && picked[2].lesion != picked[3].lesion);
    lr_lesion_set_free(&s);
    /* a model with a missing job at the requested fold: a clear error, not a crash */
    CHECK(lr_test_lesions(&c, "no_fc", 2, &s, &e) != 0 && strstr(e.msg, "no ok job"));
    lr_results_free(&c);
}

/* ---- bad input ---- */

static void test_bad_input(void)
{
    lr_err e = {0};
    lr_results c;
    char path[1100];
    snprintf(path, sizeof path, "%s/cohort.h5", fixture_dir);
    CHECK(lr_results_read(path, &c, &e) != 0);
    CHECK_MSG(strstr(e.msg, "not a campaign file") && strstr(e.msg, "this is a cohort"), "%s", e.msg);
    snprintf(path, sizeof path, "%s/not_hdf5.txt", fixture_dir);
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    CHECK(lr_results_read(path, &c, &e) != 0 && strstr(e.msg, "not_hdf5.txt"));
    CHECK(lr_results_read("/nonexistent/x.h5", &c, &e) != 0);
}


/* ---- prognosis: one Brier score and one calibration bin recomputed from the campaign file by hand ---- */

/* Written-out Kaplan–Meier S(t) of the patients idx[m] (O(m^2), independent of survival/km.c). */
static double hand_km(const lr_results *c, const size_t *idx, size_t m, double t)
{
    double S = 1.0;
    for (size_t a = 0; a < m; a++) {
        double s = c->time_days[idx[a]];
        int first = 1;
        for (size_t b = 0; b < a; b++) first &= c->time_days[idx[b]] != s; /* each distinct time once */
        if (!first || s > t) continue;
        double d = 0, at_risk = 0;
        for (size_t b = 0; b < m; b++) {
            at_risk += c->time_days[idx[b]] >= s;
            d += c->time_days[idx[b]] == s && c->event[idx[b]];
        }
        if (d > 0) S *= 1.0 - d / at_risk;
    }
    return S;
}

/* Censoring survival as riskRegression's prodlim(reverse = TRUE): deaths leave first; the left limit
 * G(t-) when strict, else G(t). */
static double hand_censoring(const lr_results *c, const size_t *idx, size_t m, double t, int strict)
{
    double G = 1.0;
    for (size_t a = 0; a < m; a++) {
        double s = c->time_days[idx[a]];
        int first = 1;
        for (size_t b = 0; b < a; b++) first &= c->time_days[idx[b]] != s;
        if (!first || (strict ? s >= t : s > t)) continue;
        double cens = 0, dead = 0, at_risk = 0;
        for (size_t b = 0; b < m; b++) {
            at_risk += c->time_days[idx[b]] >= s;
            cens += c->time_days[idx[b]] == s && !c->event[idx[b]];
            dead += c->time_days[idx[b]] == s && c->event[idx[b]];
        }
        if (cens > 0 && at_risk - dead > 0) G *= 1.0 - cens / (at_risk - dead);
    }
    return G;
}

static int compare_by_surv(const void *a, const void *b, void *ctx)
{
    const double *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return s[i] < s[j] ? -1 : s[i] > s[j] ? 1 : (i > j) - (i < j);
}

static void test_prognosis_recomputed(void)
{
    lr_err e = {0};
    lr_results c;
    CHECK_MSG(lr_results_read(campaign_path, &c, &e) == 0, "%s", e.msg);
    CHECK(c.has_survival && c.H == 2);
    if (!c.has_survival) return;
    lr_table2_options opt = lr_table2_default_options();
    opt.replicates = 0; /* estimates only */
    lr_table2 t;
    CHECK_MSG(lr_table2_compute(&c, &opt, &t, &e) == 0, "%s", e.msg);
    lr_prognosis p;
    CHECK_MSG(lr_prognosis_compute(&c, &t, &p, &e) == 0, "%s", e.msg);
    /* Proposed's out-of-fold S at 365 d, straight from /survival/patient_surv (one replicate per fold) */
    size_t g365 = 0;
    while (g365 < c.G && c.grid_days[g365] != 365.0) g365++;
    CHECK(g365 < c.G);
    double *S = calloc(c.P, sizeof *S);
    size_t *idx = calloc(c.P, sizeof *idx), m = 0;
    for (size_t q = 0; q < c.P; q++) S[q] = NAN;
    for (size_t j = 0; j < c.J && g365 < c.G; j++) {
        if (strcmp(c.job_model[j], "proposed") || c.job_status[j] != LR_JOB_STATUS_OK) continue;
        for (size_t q = 0; q < c.P; q++)
            if (c.patient_role[j * c.P + q] == 2) S[q] = c.patient_surv[(j * c.P + q) * c.G + g365];
    }
    for (size_t q = 0; q < c.P; q++)
        if (isfinite(S[q])) idx[m++] = q;
    CHECK(m == c.P); /* every fold's baseline reaches 365 d in the fixture */
    /* Brier: mean of w (y - F)^2 with the censoring weights written out */
    double t365 = 365.0, G_t = hand_censoring(&c, idx, m, t365, 0), sum = 0.0;
    for (size_t a = 0; a < m; a++) {
        size_t q = idx[a];
        if (c.time_days[q] <= t365 && c.event[q]) sum += S[q] * S[q] / hand_censoring(&c, idx, m, c.time_days[q], 1);
        else if (c.time_days[q] > t365) sum += (1.0 - S[q]) * (1.0 - S[q]) / G_t;
    }
    double brier = sum / (double)m;
    size_t r_prop = 2, k_brier = 0;
    for (size_t i = 0; i < p.M; i++)
        if (!strcmp(p.metric[i].key, "brier_365")) k_brier = i;
    CHECK(!strcmp(p.rows[r_prop].model, "proposed") && !strcmp(p.metric[k_brier].key, "brier_365"));
    CHECK_CLOSE(p.rows[r_prop].cell[k_brier].est, brier, 1e-12, 1e-10);
    /* the first calibration group: the ceil(m/5) patients with the lowest S, KM at 365 d */
    qsort_r(idx, m, sizeof *idx, compare_by_surv, S);
    size_t nb = (m + 4) / 5;
    double pred = 0.0;
    for (size_t a = 0; a < nb; a++) pred += S[idx[a]] / (double)nb;
    double obs = hand_km(&c, idx, nb, t365);
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/prognosis", fixture_dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/data", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/figures", dir);
    mkdir(path, 0755);
    lr_plotter pl;
    CHECK_MSG(lr_plotter_init(&pl, dir, "analysis", &e) == 0, "%s", e.msg);
    CHECK_MSG(lr_prognosis_write(&c, &p, &pl, dir, &e) == 0, "%s", e.msg);
    lr_plotter_close(&pl);
    snprintf(path, sizeof path, "%s/data/calibration.csv", dir);
    lr_csv *csv = NULL;
    int found = 0;
    CHECK_MSG(lr_csv_read(path, &csv, &e) == 0, "%s", e.msg);
    for (size_t r = 0; csv && r < csv->n_rows; r++) {
        if (strcmp(lr_csv_cell(csv, r, 0), "proposed") || strcmp(lr_csv_cell(csv, r, 1), "365") ||
            strcmp(lr_csv_cell(csv, r, 2), "1"))
            continue;
        found = 1;
        CHECK(strtoul(lr_csv_cell(csv, r, 3), NULL, 10) == nb);
        CHECK_CLOSE(strtod(lr_csv_cell(csv, r, 4), NULL), pred, 1e-9, 0);
        CHECK_CLOSE(strtod(lr_csv_cell(csv, r, 5), NULL), obs, 1e-9, 0);
    }
    CHECK(found);
    lr_csv_free(csv);
    free(S);
    free(idx);
    lr_results_free(&c);
}

/* Decision curve: net benefit against the definition written out (no R package for it in Debian). */
static void test_net_benefit(void)
{
    double time[8] = {50, 100, 150, 200, 400, 500, 600, 700}, surv[8] = {0.2, 0.9, 0.3, 0.8, 0.5, 0.95, 0.4, 0.7};
    int event[8] = {1, 0, 1, 1, 0, 1, 0, 0};
    lr_err e;
    double t = 365.0, pt = 0.4;
    /* treat all: KM(365) = (1 - 1/8)(1 - 1/6)(1 - 1/5) = 0.58333 */
    double km_all = (7.0 / 8.0) * (5.0 / 6.0) * (4.0 / 5.0);
    CHECK_CLOSE(lr_net_benefit(8, time, event, NULL, t, pt, &e), (1.0 - km_all) - km_all * pt / 0.6, 1e-14, 0);
    /* treat 1 - S >= 0.4: subjects 0, 2, 4, 6 (times 50 e, 150 e, 400 c, 600 c): KM(365) = (3/4)(2/3) = 1/2 */
    double treated = 4.0 / 8.0, km_t = 0.5;
    CHECK_CLOSE(lr_net_benefit(8, time, event, surv, t, pt, &e), treated * (1.0 - km_t) - treated * km_t * pt / 0.6,
                1e-14, 0);
    CHECK(lr_net_benefit(8, time, event, surv, t, 0.99, &e) == 0.0); /* nobody treated */
    CHECK(isnan(lr_net_benefit(8, time, event, surv, 800.0, pt, &e))); /* beyond the treated group's follow-up */
}

/* lr_test_lesions with replicates: a fold with one ok replicate keeps its job's risks; a fold with two averages
 * each replicate's standardized risk (z over that fold's test lesions), skipping a replicate's NaN; a failed
 * replicate and another model's jobs are ignored. Checked against a hand computation. */
static void test_replicate_ensemble(void)
{
    enum { P = 4, L = 8, J = 5 };
    /* patients 0, 1 test in fold 0; 2, 3 test in fold 1; two lesions per patient, one annotation each */
    int32_t ann_patient[P] = {0, 1, 2, 3}, lesion_annotation[L] = {0, 0, 1, 1, 2, 2, 3, 3};
    int32_t fold[J] = {0, 0, 1, 0, 0}, rep[J] = {1, 0, 0, 2, 0};
    int status[J] = {LR_JOB_STATUS_OK, LR_JOB_STATUS_OK, LR_JOB_STATUS_OK, LR_JOB_STATUS_FAILED, LR_JOB_STATUS_OK};
    unsigned char pooled[J] = {1, 1, 1, 1, 1};
    char *model[J] = {"proposed", "proposed", "proposed", "proposed", "no_fc"};
    int8_t role[J * P];
    float risk[J * L];
    for (int j = 0; j < J; j++)
        for (int p = 0; p < P; p++) role[j * P + p] = (p / 2 == fold[j]) ? 2 : 0;
    const float r0[L] = {1, 2, 3, 6, 9, 9, 9, 9}, r1[L] = {10, NAN, 30, 50, 0, 0, 0, 0}; /* fold 0: jobs 1 and 0 */
    for (int l = 0; l < L; l++) {
        risk[1 * L + l] = r0[l];
        risk[0 * L + l] = r1[l];
        risk[2 * L + l] = (float)(0.5 * l);
        risk[3 * L + l] = 1000;
        risk[4 * L + l] = -1000;
    }
    lr_results c;
    memset(&c, 0, sizeof c);
    c.J = J, c.P = P, c.A = P, c.L = L, c.folds = 2;
    c.job_fold = fold, c.job_replicate = rep, c.job_status = status, c.job_pooled = pooled, c.job_model = model;
    c.patient_role = role, c.lesion_risk = risk, c.ann_patient = ann_patient, c.lesion_annotation = lesion_annotation;
    /* hand: z over fold 0's test lesions 0..3 of each replicate */
    double m0 = 3.0, s0 = sqrt((4.0 + 1.0 + 0.0 + 9.0) / 3.0), m1 = 30.0, s1 = 20.0;
    double want[4] = {((1 - m0) / s0 + (10 - m1) / s1) / 2, (2 - m0) / s0, ((3 - m0) / s0 + (30 - m1) / s1) / 2,
                      ((6 - m0) / s0 + (50 - m1) / s1) / 2};
    lr_lesion_set s;
    lr_err e = {0};
    CHECK_MSG(lr_test_lesions(&c, "proposed", 0, &s, &e) == 0, "%s", e.msg);
    CHECK(s.n == 4 && s.replicates == 2 && s.job == 1);
    double worst = 0;
    for (size_t i = 0; i < s.n && i < 4; i++) {
        CHECK(s.lesion[i] == i && s.lesion_job[i] == 1);
        worst = fmax(worst, fabs(s.risk[i] - want[s.lesion[i]]) + fabs(s.by_lesion[s.lesion[i]] - s.risk[i]));
    }
    CHECK_MSG(worst < 1e-6, "ensemble risk off by %g", worst);
    CHECK(isnan(s.by_lesion[4]));
    lr_lesion_set_free(&s);
    CHECK(lr_test_lesions(&c, "proposed", 1, &s, &e) == 0 && s.n == 4 && s.replicates == 1 && s.job == 2);
    for (size_t i = 0; i < s.n; i++) CHECK(s.lesion[i] == 4 + i && s.risk[i] == 0.5 * (double)(4 + i));
    lr_lesion_set_free(&s);
    CHECK(lr_test_lesions(&c, "proposed", -1, &s, &e) == 0 && s.n == 8 && s.replicates == 2 && s.job == 1);
    lr_lesion_set_free(&s);
    CHECK(lr_test_lesions(&c, "no_fc", 1, &s, &e) != 0 && strstr(e.msg, "no ok job"));
}

int main(int argc, char **argv)
{
    lr_h5_quiet();
    if (argc == 3 && !strcmp(argv[1], "--write-fixture")) return write_fixture(argv[2]) ? 1 : 0;
    const char *base = getenv("TMPDIR_TESTS");
    snprintf(fixture_dir, sizeof fixture_dir, "%s/test_report", base ? base : "/tmp");
    mkdir(fixture_dir, 0755);
    snprintf(campaign_path, sizeof campaign_path, "%s/campaign.h5", fixture_dir);
    if (write_fixture(fixture_dir)) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_table2_recomputed);
    RUN(test_kde);
    RUN(test_growth_lmm);
    RUN(test_replicate_ensemble);
    RUN(test_bad_input);
    RUN(test_prognosis_recomputed);
    RUN(test_net_benefit);
    return TEST_SUMMARY();
}
