/* Random-intercept LMM against lme4/lmerTest/nlme (tests/references/survival/lmm_*, from
 * tests/gen_survival_refs.R): estimates, SEs, variance components, loglik, Satterthwaite and containment
 * df and p-values, the ML likelihood-ratio test; plus the boundary (singular) fit and groups of size 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "survival/lmm.h"
#include "util/csv.h"

#define REF_DIR "tests/references/survival/"

static double expected(const lr_csv *ref, const char *key)
{
    for (size_t r = 0; r < ref->n_rows; r++)
        if (!strcmp(lr_csv_cell(ref, r, 0), key)) return strtod(lr_csv_cell(ref, r, 1), NULL);
    CHECK_MSG(0, "reference key '%s' missing", key);
    return NAN;
}

/* Largest relative deviation seen per quantity, printed at the end for the report. */
static double worst_rel[8];
static const char *const worst_name[8] = {"beta", "se", "tau2/sigma2", "loglik", "df", "p", "lrt", "containment p"};

static void close_rel(double got, double want, double rel, int kind, const char *what)
{
    double dev = fabs(got - want) / fmax(fabs(want), 1e-300);
    if (dev > worst_rel[kind]) worst_rel[kind] = dev;
    CHECK_MSG(fabs(got - want) <= rel * fabs(want) + 1e-12, "%s = %.15g, R %.15g (rel %.3g)", what, got, want, dev);
}

typedef struct {
    const char *name;
    const char *fixed[3];
    size_t n_fixed_cols; /* excluding the intercept */
    size_t test;         /* coefficient index for the LRT */
} lmm_case;

static const lmm_case cases[] = {
    {"lmm_sleepstudy", {"days"}, 1, 1},
    {"lmm_orthodont", {"age", "female"}, 2, 2},
    {"lmm_unbalanced", {"xw", "xb"}, 2, 1},
    {"lmm_singular", {"x"}, 1, 1},
};

typedef struct {
    double y[512], X[512 * 4];
    size_t group[512];
    lr_lmm_data data;
} lmm_input;

static int load_input(const lmm_case *c, lmm_input *in)
{
    char path[256];
    lr_csv *t = NULL;
    lr_err err = {0};
    snprintf(path, sizeof path, REF_DIR "%s.csv", c->name);
    if (lr_csv_read(path, &t, &err) != 0 || t->n_rows > 512) {
        CHECK_MSG(0, "%s", err.msg);
        lr_csv_free(t);
        return -1;
    }
    size_t N = t->n_rows, p = c->n_fixed_cols + 1;
    double col[512];
    int ok = lr_csv_column_double(t, "y", in->y, &err) == 0;
    for (size_t i = 0; i < N; i++) in->X[i * p] = 1.0;
    for (size_t k = 1; k < p && ok; k++) {
        ok = lr_csv_column_double(t, c->fixed[k - 1], col, &err) == 0;
        for (size_t i = 0; i < N; i++) in->X[i * p + k] = col[i];
    }
    /* group ids by first appearance */
    long gcol = lr_csv_column(t, "g", &err);
    size_t n_groups = 0;
    for (size_t i = 0; i < N && gcol >= 0; i++) {
        size_t g = 0;
        while (g < i && strcmp(lr_csv_cell(t, g, (size_t)gcol), lr_csv_cell(t, i, (size_t)gcol)) != 0) g++;
        in->group[i] = g == i ? n_groups++ : in->group[g];
    }
    in->data = (lr_lmm_data){N, p, n_groups, in->y, in->X, in->group};
    lr_csv_free(t);
    CHECK_MSG(ok && gcol >= 0, "%s: %s", c->name, err.msg);
    return ok && gcol >= 0 ? 0 : -1;
}

static void check_case(const lmm_case *c, int reml)
{
    lmm_input *in = malloc(sizeof *in);
    if (load_input(c, in) != 0) {
        free(in);
        return;
    }
    char path[256], key[128], what[192];
    lr_csv *ref = NULL;
    lr_err err = {0};
    snprintf(path, sizeof path, REF_DIR "%s_%s_expected.csv", c->name, reml ? "reml" : "ml");
    if (lr_csv_read(path, &ref, &err) != 0) {
        CHECK_MSG(0, "%s", err.msg);
        free(in);
        return;
    }
    lr_lmm_fit fit;
    CHECK_MSG(lr_lmm_fit_model(&in->data, reml, &fit, &err) == 0, "%s", err.msg);
    const char *names[4] = {"intercept", c->fixed[0], c->fixed[1], c->fixed[2]};
    for (size_t k = 0; k < in->data.n_fixed && fit.beta; k++) {
#define CMP(field, prefix, kind, tol)                                                              \
    do {                                                                                           \
        snprintf(key, sizeof key, prefix "%s", names[k]);                                          \
        snprintf(what, sizeof what, "%s %s %s", c->name, reml ? "REML" : "ML", key);               \
        close_rel(fit.field[k], expected(ref, key), tol, kind, what);                              \
    } while (0)
        CMP(beta, "beta_", 0, 1e-6);
        CMP(se, "se_", 1, 1e-6);
        CMP(df_satterthwaite, "df_", 4, 1e-6);
        CMP(p_satterthwaite, "p_", 5, 1e-6);
        CMP(p_one_sided_satterthwaite, "p_one_sided_", 5, 1e-6);
        CMP(df_containment, "df_containment_", 4, 1e-12);
        CMP(p_containment, "p_containment_", 7, 1e-6);
#undef CMP
    }
    snprintf(what, sizeof what, "%s %s", c->name, reml ? "REML" : "ML");
    close_rel(fit.tau2 + fit.sigma2, expected(ref, "tau2") + expected(ref, "sigma2"), 1e-6, 2, what);
    if (expected(ref, "tau2") > 0) close_rel(fit.tau2, expected(ref, "tau2"), 1e-6, 2, what);
    else CHECK_MSG(fit.tau2 == 0.0 && fit.singular, "%s: expected a singular fit, tau2 = %g", what, fit.tau2);
    close_rel(fit.sigma2, expected(ref, "sigma2"), 1e-6, 2, what);
    close_rel(fit.loglik, expected(ref, "loglik"), 1e-9, 3, what);
    CHECK(fit.singular == (int)expected(ref, "singular"));
    if (!reml) {
        double stat, p;
        CHECK(lr_lmm_lrt(&in->data, c->test, &stat, &p, &err) == 0);
        close_rel(stat, expected(ref, "lrt_stat"), 1e-6, 6, what);
        close_rel(p, expected(ref, "lrt_p"), 1e-6, 6, what);
    }
    lr_lmm_fit_free(&fit);
    lr_csv_free(ref);
    free(in);
}

static void test_lmm_reml_matches_r(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_case(&cases[k], 1);
}

static void test_lmm_ml_matches_r(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_case(&cases[k], 0);
}

static void test_lmm_errors(void)
{
    double y[4] = {1, 2, 3, 4}, X[8] = {1, 2, 1, 4, 1, 6, 1, 8}; /* second column = 2 * row: fine */
    double X_collinear[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    size_t group[4] = {0, 0, 1, 1};
    lr_lmm_data d = {4, 2, 2, y, X_collinear, group};
    lr_lmm_fit fit;
    lr_err err = {0};
    CHECK(lr_lmm_fit_model(&d, 1, &fit, &err) == -1 && strstr(err.msg, "collinear"));
    lr_lmm_fit_free(&fit);
    d.X = X;
    size_t bad_group[4] = {0, 0, 5, 1};
    d.group = bad_group;
    CHECK(lr_lmm_fit_model(&d, 1, &fit, &err) == -1);
    lr_lmm_fit_free(&fit);
}

int main(void)
{
    RUN(test_lmm_reml_matches_r);
    RUN(test_lmm_ml_matches_r);
    RUN(test_lmm_errors);
    printf("  largest relative deviation from R:");
    for (int k = 0; k < 8; k++) printf(" %s %.2g%s", worst_name[k], worst_rel[k], k < 7 ? "," : "\n");
    return TEST_SUMMARY();
}
