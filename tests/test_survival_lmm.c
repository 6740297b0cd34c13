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
    size_t group[512], nested[512];
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
    in->data = (lr_lmm_data){.n_obs = N, .n_fixed = p, .n_groups = n_groups, .y = in->y, .X = in->X, .group = in->group};
    lr_csv_free(t);
    CHECK_MSG(ok && gcol >= 0, "%s: %s", c->name, err.msg);
    return ok && gcol >= 0 ? 0 : -1;
}

/* nested level: (g, n) pairs by first appearance, when the input has an n column */
static int load_nested(const lmm_case *c, lmm_input *in)
{
    char path[256];
    lr_csv *t = NULL;
    lr_err err = {0};
    snprintf(path, sizeof path, REF_DIR "%s.csv", c->name);
    if (lr_csv_read(path, &t, &err) != 0) {
        CHECK_MSG(0, "%s", err.msg);
        return -1;
    }
    long gcol = lr_csv_column(t, "g", &err), ncol = lr_csv_column(t, "n", &err);
    CHECK_MSG(gcol >= 0 && ncol >= 0, "%s: %s", c->name, err.msg);
    size_t K = 0, N = t->n_rows;
    for (size_t i = 0; i < N && gcol >= 0 && ncol >= 0; i++) {
        size_t j = 0;
        while (j < i && (strcmp(lr_csv_cell(t, j, (size_t)gcol), lr_csv_cell(t, i, (size_t)gcol)) ||
                         strcmp(lr_csv_cell(t, j, (size_t)ncol), lr_csv_cell(t, i, (size_t)ncol))))
            j++;
        in->nested[i] = j == i ? K++ : in->nested[j];
    }
    in->data.nested = in->nested;
    in->data.n_nested = K;
    lr_csv_free(t);
    return gcol >= 0 && ncol >= 0 ? 0 : -1;
}

/* y ~ X + (1 | g) + (1 | g:n) against lme4 + lmerTest (tests/gen_lmm_nested_refs.R). */
static const lmm_case nested_cases[] = {
    {"lmm_nested_growth", {"growing", "x"}, 2, 1},
    {"lmm_nested_pastes", {NULL}, 0, 0},
    {"lmm_nested_singular", {"x"}, 1, 1},
};

static void check_nested_case(const lmm_case *c, int reml)
{
    lmm_input *in = malloc(sizeof *in);
    if (!in || load_input(c, in) != 0 || load_nested(c, in) != 0) {
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
    CHECK(fit.nested == 1);
    const char *names[4] = {"intercept", c->fixed[0], c->fixed[1], c->fixed[2]};
    size_t compared = 0;
    for (size_t k = 0; k < in->data.n_fixed && fit.beta; k++, compared++) {
#define CMP(field, prefix, kind, tol)                                                              \
    do {                                                                                           \
        snprintf(key, sizeof key, prefix "%s", names[k]);                                          \
        snprintf(what, sizeof what, "%s %s %s", c->name, reml ? "REML" : "ML", key);               \
        close_rel(fit.field[k], expected(ref, key), tol, kind, what);                              \
    } while (0)
        CMP(beta, "beta_", 0, 1e-6);
        CMP(se, "se_", 1, 1e-6);
        CMP(df_satterthwaite, "df_", 4, 1e-5);
        CMP(p_satterthwaite, "p_", 5, 1e-5);
        CMP(p_one_sided_satterthwaite, "p_one_sided_", 5, 1e-5);
#undef CMP
        CHECK(isnan(fit.df_containment[k]));
    }
    CHECK(compared == c->n_fixed_cols + 1);
    snprintf(what, sizeof what, "%s %s", c->name, reml ? "REML" : "ML");
    close_rel(fit.tau2, expected(ref, "tau2"), 1e-6, 2, what);
    if (expected(ref, "tau2_nested") > 1e-10) close_rel(fit.tau2_nested, expected(ref, "tau2_nested"), 1e-6, 2, what);
    else CHECK_MSG(fit.tau2_nested == 0.0 && fit.singular, "%s: expected a singular fit, tau2_nested = %g", what,
                   fit.tau2_nested);
    close_rel(fit.sigma2, expected(ref, "sigma2"), 1e-6, 2, what);
    close_rel(fit.loglik, expected(ref, "loglik"), 1e-9, 3, what);
    CHECK(fit.singular == (int)expected(ref, "singular"));
    lr_lmm_fit_free(&fit);
    lr_csv_free(ref);
    free(in);
}

static void test_lmm_nested_matches_r(void)
{
    for (size_t k = 0; k < sizeof nested_cases / sizeof nested_cases[0]; k++) {
        check_nested_case(&nested_cases[k], 1);
        check_nested_case(&nested_cases[k], 0);
    }
}

/* The reduction: a nested level whose groups are the outer groups themselves splits one variance in two
 * (only τ² + τ²_nested is identified), so the maximised REML criterion and β̂ equal the one-level fit's. */
static void test_lmm_nested_reduces(void)
{
    lmm_input *in = malloc(sizeof *in);
    const lmm_case *c = &cases[0]; /* sleepstudy */
    if (!in || load_input(c, in) != 0) {
        free(in);
        return;
    }
    lr_lmm_fit one, two;
    lr_err err = {0};
    CHECK(lr_lmm_fit_model(&in->data, 1, &one, &err) == 0);
    for (size_t i = 0; i < in->data.n_obs; i++) in->nested[i] = in->group[i];
    in->data.nested = in->nested;
    in->data.n_nested = in->data.n_groups;
    CHECK_MSG(lr_lmm_fit_model(&in->data, 1, &two, &err) == 0, "%s", err.msg);
    CHECK_CLOSE(two.loglik, one.loglik, 1e-8, 0);
    CHECK_CLOSE(two.tau2 + two.tau2_nested, one.tau2, 0, 1e-5);
    CHECK_CLOSE(two.beta[1], one.beta[1], 0, 1e-8);
    lr_lmm_fit_free(&one);
    lr_lmm_fit_free(&two);
    /* a nested group spanning two groups is refused */
    in->nested[0] = in->nested[in->data.n_obs - 1];
    CHECK(lr_lmm_fit_model(&in->data, 1, &two, &err) == -1 && strstr(err.msg, "nested group"));
    lr_lmm_fit_free(&two);
    free(in);
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
    lr_lmm_data d = {.n_obs = 4, .n_fixed = 2, .n_groups = 2, .y = y, .X = X_collinear, .group = group};
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
    memset(worst_rel, 0, sizeof worst_rel);
    RUN(test_lmm_nested_matches_r);
    RUN(test_lmm_nested_reduces);
    printf("  nested (1 | g) + (1 | g:n), largest relative deviation from R:");
    for (int k = 0; k < 6; k++) printf(" %s %.2g%s", worst_name[k], worst_rel[k], k < 5 ? "," : "\n");
    return TEST_SUMMARY();
}
