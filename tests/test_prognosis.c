/* Kaplan–Meier, log-rank, Breslow baseline, Brier/IPA, IBS, Cox regression and calibration against R
 * (tests/references/prognosis, written by tests/gen_prognosis_refs.R), plus properties R cannot show:
 * shift invariance of the baseline, Cox log-likelihood = −NPLL at β̂, and the documented errors.
 *
 * Each CASE_args.txt line "PREFIX VERB OPTIONS" says how the reference keys PREFIX_<key> were made; this
 * test computes the same keys through the library (not the CLI) and checks every reference key once. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner/merge_survival.h"
#include "survival/breslow.h"
#include "survival/brier.h"
#include "survival/calibration.h"
#include "survival/cox.h"
#include "survival/km.h"
#include "survival/npll.h"
#include "util/csv.h"

#define REF_DIR "tests/references/prognosis/"
#define MAX_N 512
#define MAX_KEYS 256

/* ---- computed key/value pairs ---- */

typedef struct {
    char key[MAX_KEYS][96];
    double value[MAX_KEYS];
    size_t count;
} values;

static void put(values *v, double value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(values *v, double value, const char *fmt, ...)
{
    if (v->count == MAX_KEYS) {
        CHECK_MSG(0, "too many keys");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->key[v->count], sizeof v->key[0], fmt, ap);
    va_end(ap);
    v->value[v->count++] = value;
}

static const double *lookup(const values *v, const char *key)
{
    for (size_t k = 0; k < v->count; k++)
        if (!strcmp(v->key[k], key)) return &v->value[k];
    return NULL;
}

/* ---- a case: the input table and its options ---- */

typedef struct {
    lr_csv *table, *ref;
    size_t n;
    double time[MAX_N];
    int event[MAX_N];
} prognosis_case;

static int load_case(const char *name, prognosis_case *c)
{
    char path[256];
    lr_err err = {0};
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, REF_DIR "%s.csv", name);
    int ok = lr_csv_read(path, &c->table, &err) == 0 && c->table->n_rows <= MAX_N;
    if (ok) {
        c->n = c->table->n_rows;
        ok = lr_csv_column_double(c->table, "time", c->time, &err) == 0 &&
             lr_csv_column_binary(c->table, "event", c->event, &err) == 0;
    }
    snprintf(path, sizeof path, REF_DIR "%s_expected.csv", name);
    ok = ok && lr_csv_read(path, &c->ref, &err) == 0;
    CHECK_MSG(ok, "%s: %s", name, err.msg);
    return ok ? 0 : -1;
}

static void free_case(prognosis_case *c)
{
    lr_csv_free(c->table);
    lr_csv_free(c->ref);
}

typedef struct {
    char *group, *at, *risk, *ties, *surv, *covariate, *bins; /* option values, NULL when absent */
} options;

/* Splits "--name value" pairs of an args line in place. */
static void parse_options(char *rest, options *o)
{
    memset(o, 0, sizeof *o);
    char *save = NULL;
    for (char *name = strtok_r(rest, " \n", &save); name; name = strtok_r(NULL, " \n", &save)) {
        char *value = strtok_r(NULL, " \n", &save);
        if (!strcmp(name, "--group")) o->group = value;
        else if (!strcmp(name, "--at")) o->at = value;
        else if (!strcmp(name, "--risk")) o->risk = value;
        else if (!strcmp(name, "--ties")) o->ties = value;
        else if (!strcmp(name, "--surv")) o->surv = value;
        else if (!strcmp(name, "--covariate")) o->covariate = value;
        else if (!strcmp(name, "--bins")) o->bins = value;
        else CHECK_MSG(0, "unknown option %s in an args file", name);
    }
}

/* Comma list -> tokens (in place). */
static size_t split(char *list, char **tokens, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && n < max; t = strtok_r(NULL, ",", &save))
        tokens[n++] = t;
    return n;
}

static void column(const prognosis_case *c, const char *name, double *out)
{
    lr_err err = {0};
    CHECK_MSG(lr_csv_column_double(c->table, name, out, &err) == 0, "%s", err.msg);
}

/* ---- each verb through the library ---- */

static void km_keys(const double *time, const int *event, size_t n, const char *label, char **at, size_t n_at,
                    values *v)
{
    lr_km km;
    lr_err err;
    CHECK(lr_km_fit(n, time, event, &km, &err) == 0);
    const char *sep = label ? "_" : "", *g = label ? label : "";
    put(v, (double)n, "n%s%s", sep, g);
    put(v, (double)km.events, "events%s%s", sep, g);
    put(v, lr_km_median(&km), "median_survival%s%s", sep, g);
    for (size_t k = 0; k < n_at; k++) {
        double s, se;
        CHECK(lr_km_at(&km, strtod(at[k], NULL), &s, &se, &err) == 0);
        put(v, s, "surv%s%s_at_%s", sep, g, at[k]);
        put(v, se, "se%s%s_at_%s", sep, g, at[k]);
    }
    lr_km_free(&km);
}

static void run_km(const prognosis_case *c, options *o, values *v)
{
    char *at[32];
    size_t n_at = split(o->at, at, 32);
    km_keys(c->time, c->event, c->n, NULL, at, n_at, v);
    if (!o->group) return;
    lr_err err;
    long col = lr_csv_column(c->table, o->group, &err);
    CHECK(col >= 0);
    if (col < 0) return;
    /* distinct labels in sorted order, as the CLI and R's factor levels */
    const char *labels[16];
    size_t n_groups = 0, group[MAX_N];
    for (size_t i = 0; i < c->n; i++) {
        const char *l = lr_csv_cell(c->table, i, (size_t)col);
        size_t g = 0;
        while (g < n_groups && strcmp(labels[g], l)) g++;
        if (g == n_groups && n_groups < 16) labels[n_groups++] = l;
    }
    for (size_t a = 0; a < n_groups; a++) /* insertion sort of the few labels */
        for (size_t b = a; b > 0 && strcmp(labels[b - 1], labels[b]) > 0; b--) {
            const char *t = labels[b];
            labels[b] = labels[b - 1];
            labels[b - 1] = t;
        }
    for (size_t g = 0; g < n_groups; g++) {
        double t[MAX_N];
        int e[MAX_N];
        size_t m = 0;
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(lr_csv_cell(c->table, i, (size_t)col), labels[g])) {
                group[i] = g;
                t[m] = c->time[i];
                e[m++] = c->event[i];
            }
        km_keys(t, e, m, labels[g], at, n_at, v);
    }
    lr_logrank_result r;
    CHECK(lr_logrank(c->n, c->time, c->event, group, n_groups, &r, &err) == 0);
    put(v, r.chisq, "logrank_chisq");
    put(v, (double)r.df, "logrank_df");
    put(v, r.p, "logrank_p");
}

static void run_breslow(const prognosis_case *c, options *o, values *v)
{
    double risk[MAX_N];
    char *at[32];
    size_t n_at = split(o->at, at, 32);
    column(c, o->risk, risk);
    lr_ties ties = LR_TIES_EFRON;
    if (o->ties) CHECK(lr_ties_parse(o->ties, &ties) == 0);
    lr_baseline b;
    lr_err err;
    CHECK(lr_breslow_fit(c->n, c->time, c->event, risk, ties, &b, &err) == 0);
    for (size_t k = 0; k < n_at; k++) {
        double H = NAN;
        CHECK(lr_baseline_cumhaz(&b, strtod(at[k], NULL), &H, &err) == 0);
        put(v, H, "cumhaz_at_%s", at[k]);
    }
    lr_baseline_free(&b);
}

static void run_brier(const prognosis_case *c, options *o, values *v)
{
    double surv[MAX_N];
    column(c, o->surv, surv);
    lr_brier_result b;
    lr_err err;
    CHECK(lr_brier(c->n, c->time, c->event, surv, strtod(o->at, NULL), &b, &err) == 0);
    CHECK(b.events_before > 0);
    put(v, b.brier, "brier");
    put(v, b.brier_km, "brier_km");
    put(v, b.ipa, "ipa");
}

static void run_ibs(const prognosis_case *c, options *o, values *v)
{
    char *cols[32], *at[32];
    size_t m = split(o->surv, cols, 32), n_at = split(o->at, at, 32);
    CHECK(m == n_at && m > 0);
    double *surv = malloc(m * c->n * sizeof *surv), times[32];
    for (size_t k = 0; k < m; k++) {
        column(c, cols[k], surv + k * c->n);
        times[k] = strtod(at[k], NULL);
    }
    lr_ibs_result r;
    lr_err err;
    CHECK(lr_ibs(c->n, c->time, c->event, m, times, surv, &r, &err) == 0);
    put(v, r.ibs, "ibs");
    put(v, r.ibs_km, "ibs_km");
    free(surv);
}

static void run_cox(const prognosis_case *c, options *o, values *v)
{
    char *names[8];
    size_t p = split(o->covariate, names, 8);
    double *X = malloc(c->n * p * sizeof *X), col[MAX_N];
    for (size_t j = 0; j < p; j++) {
        column(c, names[j], col);
        for (size_t i = 0; i < c->n; i++) X[i * p + j] = col[i];
    }
    lr_ties ties = LR_TIES_EFRON;
    if (o->ties) CHECK(lr_ties_parse(o->ties, &ties) == 0);
    lr_cox_fit fit;
    lr_err err;
    CHECK_MSG(lr_cox_fit_model(c->n, p, c->time, c->event, X, ties, &fit, &err) == 0, "%s", err.msg);
    for (size_t j = 0; j < p && fit.beta; j++) {
        const char *sep = p > 1 ? "_" : "", *nm = p > 1 ? names[j] : "";
        double b = fit.beta[j], se = fit.se[j];
        put(v, b, "coef%s%s", sep, nm);
        put(v, se, "se%s%s", sep, nm);
        put(v, exp(b), "hr%s%s", sep, nm);
        put(v, exp(b - 1.959963984540054 * se), "hr_lower%s%s", sep, nm);
        put(v, exp(b + 1.959963984540054 * se), "hr_upper%s%s", sep, nm);
        put(v, erfc(fabs(b / se) / sqrt(2.0)), "wald_p%s%s", sep, nm);
    }
    put(v, fit.loglik, "loglik");
    /* the partial log-likelihood is −NPLL of the fitted linear predictor (an independent code path) */
    double eta[MAX_N];
    for (size_t i = 0; i < c->n && fit.beta; i++) {
        eta[i] = 0.0;
        for (size_t j = 0; j < p; j++) eta[i] += X[i * p + j] * fit.beta[j];
    }
    lr_npll_result npll;
    CHECK(lr_npll(c->n, c->time, c->event, eta, ties, &npll, NULL, &err) == 0);
    CHECK_CLOSE(-npll.sum, fit.loglik, 1e-9, 1e-11);
    lr_cox_fit_free(&fit);
    free(X);
}

static void run_calibration(const prognosis_case *c, options *o, values *v)
{
    double surv[MAX_N], smooth[MAX_N];
    column(c, o->surv, surv);
    size_t bins = o->bins ? (size_t)strtoul(o->bins, NULL, 10) : 5;
    lr_calibration cal;
    lr_err err;
    CHECK_MSG(lr_calibration_at(c->n, c->time, c->event, surv, strtod(o->at, NULL), bins, 0.95, &cal, smooth, &err) == 0,
              "%s", err.msg);
    if (!cal.bin_n) return;
    put(v, (double)cal.bins, "bins");
    for (size_t k = 0; k < cal.bins; k++) {
        put(v, (double)cal.bin_n[k], "bin%zu_n", k + 1);
        put(v, cal.pred[k], "bin%zu_pred", k + 1);
        put(v, cal.obs[k], "bin%zu_obs", k + 1);
        put(v, cal.obs_se[k], "bin%zu_obs_se", k + 1);
        put(v, cal.obs_lower[k], "bin%zu_obs_lower", k + 1);
        put(v, cal.obs_upper[k], "bin%zu_obs_upper", k + 1);
    }
    put(v, cal.slope, "slope");
    put(v, cal.slope_se, "slope_se");
    put(v, cal.intercept, "intercept");
    put(v, cal.ici, "ici");
    put(v, cal.e50, "e50");
    put(v, cal.e90, "e90");
    for (int k = 0; k < 3; k++) put(v, cal.knots[k], "knot%d", k + 1);
    double ici = 0.0; /* ICI is the mean of the smoothed curve's absolute errors */
    for (size_t i = 0; i < c->n; i++) ici += fabs(surv[i] - smooth[i]) / (double)c->n;
    CHECK_CLOSE(ici, cal.ici, 1e-14, 1e-12);
    lr_calibration_free(&cal);
}

/* ---- the reference loop ---- */

static const char *const cases[] = {"lung", "sim_groups", "small_ties", "km_half"};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_matches_r(void)
{
    size_t lines_run = 0;
    for (size_t k = 0; k < N_CASES; k++) {
        prognosis_case c;
        if (load_case(cases[k], &c) != 0) continue;
        char path[256], line[1024];
        snprintf(path, sizeof path, REF_DIR "%s_args.txt", cases[k]);
        FILE *f = fopen(path, "r");
        CHECK_MSG(f != NULL, "cannot open %s", path);
        size_t checked_total = 0;
        while (f && fgets(line, sizeof line, f)) {
            char prefix[64], verb[64];
            int used = 0;
            if (sscanf(line, "%63s %63s %n", prefix, verb, &used) < 2) continue;
            options o;
            parse_options(line + used, &o);
            values v = {.count = 0};
            if (!strcmp(verb, "km")) run_km(&c, &o, &v);
            else if (!strcmp(verb, "breslow")) run_breslow(&c, &o, &v);
            else if (!strcmp(verb, "brier")) run_brier(&c, &o, &v);
            else if (!strcmp(verb, "ibs")) run_ibs(&c, &o, &v);
            else if (!strcmp(verb, "cox")) run_cox(&c, &o, &v);
            else if (!strcmp(verb, "calibration")) run_calibration(&c, &o, &v);
            else CHECK_MSG(0, "unknown verb %s", verb);
            int loose = !strncmp(prefix, "cox", 3) || !strcmp(prefix, "cal");
            size_t checked = 0, plen = strlen(prefix);
            for (size_t r = 0; r < c.ref->n_rows; r++) {
                const char *key = lr_csv_cell(c.ref, r, 0), *want_s = lr_csv_cell(c.ref, r, 1);
                if (strncmp(key, prefix, plen) || key[plen] != '_') continue;
                const double *got = lookup(&v, key + plen + 1);
                CHECK_MSG(got != NULL, "%s: %s not computed", cases[k], key);
                checked++;
                if (!got) continue;
                if (!strcmp(want_s, "nan")) {
                    CHECK_MSG(isnan(*got), "%s: %s = %g, R nan", cases[k], key, *got);
                    continue;
                }
                double want = strtod(want_s, NULL);
                CHECK_MSG(fabs(*got - want) <= (loose ? 1e-7 : 1e-10) * fabs(want) + 1e-14,
                          "%s: %s = %.17g, R %.17g", cases[k], key, *got, want);
            }
            CHECK_MSG(checked > 0, "%s %s: no reference key checked", cases[k], prefix);
            checked_total += checked;
            lines_run++;
        }
        if (f) fclose(f);
        CHECK_MSG(checked_total == c.ref->n_rows, "%s: %zu of %zu reference keys checked", cases[k], checked_total,
                  c.ref->n_rows);
        free_case(&c);
    }
    CHECK(lines_run >= 20);
}

/* ---- properties and errors ---- */

static void test_breslow_shift_invariance(void)
{
    double time[8] = {3, 1, 4, 1, 5, 9, 2, 6}, eta[8] = {0.2, -1, 0.5, 0.1, 2, -0.3, 0, 1}, big[8], s1[8], s2[8];
    int event[8] = {1, 1, 0, 1, 1, 0, 1, 1};
    for (int i = 0; i < 8; i++) big[i] = eta[i] + 600.0; /* e^600 overflows a naive sum */
    lr_baseline a, b;
    lr_err err;
    for (int ties = 0; ties < 2; ties++) {
        CHECK(lr_breslow_fit(8, time, event, eta, (lr_ties)ties, &a, &err) == 0);
        CHECK(lr_breslow_fit(8, time, event, big, (lr_ties)ties, &b, &err) == 0);
        for (double t = 0.5; t <= 9.0; t += 0.5) { /* S(t | η) does not depend on the shift */
            CHECK(lr_baseline_surv(&a, t, 8, eta, s1, &err) == 0);
            CHECK(lr_baseline_surv(&b, t, 8, big, s2, &err) == 0);
            for (int i = 0; i < 8; i++) CHECK_CLOSE(s2[i], s1[i], 1e-13, 1e-11);
        }
        double H;
        CHECK(lr_baseline_cumhaz(&a, 0.5, &H, &err) == 0 && H == 0.0); /* before the first event */
        CHECK(lr_baseline_cumhaz(&a, 9.5, &H, &err) == -1);           /* beyond follow-up */
        CHECK(strstr(err.msg, "beyond the last follow-up") != NULL);
        lr_baseline_free(&a);
        lr_baseline_free(&b);
    }
}

static void test_brier_errors_and_limits(void)
{
    double time[6] = {1, 2, 3, 4, 5, 6}, surv[6] = {0.2, 0.4, 0.5, 0.6, 0.7, 0.9};
    int event[6] = {1, 0, 1, 1, 0, 1}, none[6] = {0};
    lr_brier_result b;
    lr_err err;
    CHECK(lr_brier(6, time, event, surv, 7.0, &b, &err) == -1);
    CHECK(strstr(err.msg, "beyond the last follow-up") != NULL);
    surv[2] = 1.5;
    CHECK(lr_brier(6, time, event, surv, 3.0, &b, &err) == -1);
    CHECK(strstr(err.msg, "not a probability") != NULL);
    surv[2] = NAN;
    CHECK(lr_brier(6, time, event, surv, 3.0, &b, &err) == -1);
    surv[2] = 0.5;
    CHECK(lr_brier(6, time, none, surv, 3.0, &b, &err) == 0); /* no event: documented NaN IPA */
    CHECK(b.events_before == 0 && b.brier_km == 0.0 && isnan(b.ipa));
    /* a perfect prediction (S = 1 for survivors past t, 0 for the dead) scores 0 */
    double perfect[6];
    for (int i = 0; i < 6; i++) perfect[i] = time[i] <= 3.0 && event[i] ? 0.0 : 1.0;
    CHECK(lr_brier(6, time, event, perfect, 3.0, &b, &err) == 0);
    CHECK(b.brier == 0.0 && b.ipa == 1.0);
    double times[2] = {2, 1};
    lr_ibs_result r;
    double grid_surv[12] = {0};
    CHECK(lr_ibs(6, time, event, 2, times, grid_surv, &r, &err) == -1); /* not increasing */
}

static void test_km_and_calibration_errors(void)
{
    double time[4] = {1, 2, 3, 4}, surv[4] = {0.5, 0.5, 0.6, 1.0};
    int event[4] = {1, 1, 1, 1};
    lr_km km;
    lr_err err;
    double s, se;
    CHECK(lr_km_fit(4, time, event, &km, &err) == 0);
    CHECK(lr_km_at(&km, 4.0, &s, &se, &err) == 0 && s == 0.0 && isnan(se)); /* S = 0: se documented NaN */
    CHECK(lr_km_at(&km, 4.5, &s, &se, &err) == -1);
    CHECK(lr_km_median(&km) == 2.5); /* S = 1/2 on [2, 3): midpoint */
    lr_km_free(&km);
    lr_calibration cal;
    CHECK(lr_calibration_at(4, time, event, surv, 2.0, 2, 0.95, &cal, NULL, &err) == -1); /* S = 1 */
    CHECK(strstr(err.msg, "0 < S < 1") != NULL);
    size_t group[4] = {0, 0, 0, 0};
    lr_logrank_result r;
    CHECK(lr_logrank(4, time, event, group, 2, &r, &err) == -1); /* an empty group */
}

static void test_cox_against_logrank(void)
{
    /* the Cox score test of a binary covariate at β = 0 is the log-rank test without ties; check the
     * fitted Wald statistic is close to it (same data, large-sample equivalence) and the signs agree */
    prognosis_case c;
    if (load_case("lung", &c) != 0) return;
    double sex[MAX_N];
    column(&c, "sex", sex);
    lr_cox_fit fit;
    lr_err err;
    CHECK(lr_cox_fit_model(c.n, 1, c.time, c.event, sex, LR_TIES_BRESLOW, &fit, &err) == 0);
    size_t group[MAX_N];
    for (size_t i = 0; i < c.n; i++) group[i] = sex[i] == 2.0;
    lr_logrank_result r;
    CHECK(lr_logrank(c.n, c.time, c.event, group, 2, &r, &err) == 0);
    double wald = fit.beta[0] * fit.beta[0] / (fit.se[0] * fit.se[0]);
    CHECK_CLOSE(wald, r.chisq, 0, 0.1);
    CHECK(fit.beta[0] < 0.0); /* women (sex 2) live longer in lung */
    lr_cox_fit_free(&fit);
    free_case(&c);
}

/* The campaign file's construction (runner/merge_survival.c): baseline on the training patients, S for the
 * test patients — against the lung reference, whose s<t> columns R computed from a baseline fitted on the
 * odd rows (1-based) and applied to every row. */
static void test_fold_survival_matches_r(void)
{
    prognosis_case c;
    if (load_case("lung", &c) != 0) return;
    double risk[MAX_N];
    int8_t event[MAX_N], role[MAX_N];
    column(&c, "risk", risk);
    for (size_t i = 0; i < c.n; i++) {
        event[i] = (int8_t)c.event[i];
        role[i] = i % 2 == 0 ? 0 : 2; /* R's rows 1, 3, 5, ... train; the others are test */
    }
    lr_horizons h = {.n = 2, .days = {360, 720}};
    lr_survival_grid g;
    lr_err err;
    CHECK(lr_survival_grid_make(&h, &g, &err) == 0);
    CHECK(g.G == 24 && g.grid[0] == 30.0 && g.grid[g.G - 1] == 720.0);
    double cumhaz[64], *surv = malloc(c.n * g.G * sizeof *surv), ref[MAX_N], coef;
    CHECK(lr_survival_from_fold(c.n, c.time, event, risk, role, 0, &g, &coef, cumhaz, surv, &err) == 0);
    CHECK(coef == 1.0);
    size_t compared = 0, wrong = 0;
    for (size_t k = 0; k < g.G; k++) {
        char col[32];
        snprintf(col, sizeof col, "s%.0f", g.grid[k]);
        lr_err e2;
        if (lr_csv_column(c.table, col, &e2) < 0) continue; /* R wrote every 60 days */
        column(&c, col, ref);
        for (size_t i = 0; i < c.n; i++) {
            if (role[i] == 2) {
                if (!(fabs(surv[i * g.G + k] - ref[i]) <= 1e-9) && wrong++ < 3)
                    CHECK_CLOSE(surv[i * g.G + k], ref[i], 1e-9, 0);
                compared++;
            } else {
                CHECK(isnan(surv[i * g.G + k])); /* only test patients get probabilities */
            }
        }
    }
    CHECK_MSG(wrong == 0, "%zu of %zu probabilities differ from R", wrong, compared);
    CHECK(compared >= 12 * 100);
    /* a size score (age): β fitted on the training rows, then S(360 | β age), against R */
    double age[MAX_N], coef_age, r_s[MAX_N], r_coef[MAX_N];
    column(&c, "age", age);
    CHECK(lr_survival_from_fold(c.n, c.time, event, age, role, 1, &g, &coef_age, cumhaz, surv, &err) == 0);
    lr_csv *ref_age = NULL;
    CHECK_MSG(lr_csv_read(REF_DIR "lung_fold_age.csv", &ref_age, &err) == 0, "%s", err.msg);
    if (ref_age) {
        CHECK(lr_csv_column_double(ref_age, "s360", r_s, &err) == 0 && lr_csv_column_double(ref_age, "coef", r_coef, &err) == 0);
        CHECK_CLOSE(coef_age, r_coef[0], 0, 1e-9);
        size_t g360 = 0, tested = 0;
        while (g360 < g.G && g.grid[g360] != 360.0) g360++;
        for (size_t i = 0; i < c.n && g360 < g.G; i++)
            if (role[i] == 2) {
                CHECK_CLOSE(surv[i * g.G + g360], r_s[i], 1e-9, 0);
                tested++;
            }
        CHECK(tested > 100);
        lr_csv_free(ref_age);
    }
    /* a horizon off the 30-day grid is added to it */
    lr_horizons odd = {.n = 1, .days = {45}};
    lr_survival_grid g2;
    CHECK(lr_survival_grid_make(&odd, &g2, &err) == 0);
    CHECK(g2.G == 2 && g2.grid[0] == 30.0 && g2.grid[1] == 45.0);
    lr_survival_grid_free(&g2);
    lr_survival_grid_free(&g);
    free(surv);
    free_case(&c);
}

int main(void)
{
    RUN(test_fold_survival_matches_r);
    RUN(test_matches_r);
    RUN(test_breslow_shift_invariance);
    RUN(test_brier_errors_and_limits);
    RUN(test_km_and_calibration_errors);
    RUN(test_cox_against_logrank);
    return TEST_SUMMARY();
}
