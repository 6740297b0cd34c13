/* NPLL, Harrell's C, Uno's C and AUC(t) against R (tests/references/survival, written by
 * tests/gen_survival_refs.R), the NPLL gradient by finite differences, and the C-index at n = 10^6. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "survival/concordance.h"
#include "survival/ipcw.h"
#include "survival/npll.h"
#include "util/csv.h"
#include "util/rng.h"

#define REF_DIR "tests/references/survival/"

/* ---- reference files ---- */

static double expected(const lr_csv *ref, const char *key)
{
    for (size_t r = 0; r < ref->n_rows; r++)
        if (!strcmp(lr_csv_cell(ref, r, 0), key)) {
            const char *s = lr_csv_cell(ref, r, 1);
            return !strcmp(s, "nan") ? NAN : strtod(s, NULL);
        }
    CHECK_MSG(0, "reference key '%s' missing", key);
    return NAN;
}

static int has_key(const lr_csv *ref, const char *key)
{
    for (size_t r = 0; r < ref->n_rows; r++)
        if (!strcmp(lr_csv_cell(ref, r, 0), key)) return 1;
    return 0;
}

typedef struct {
    size_t n;
    double time[512], risk[512];
    int event[512];
    lr_csv *ref, *grad;
} survival_case;

static void free_case(survival_case *c)
{
    lr_csv_free(c->ref);
    lr_csv_free(c->grad);
}

static int load_case(const char *name, survival_case *c)
{
    char path[256];
    lr_err err = {0};
    lr_csv *in = NULL;
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, REF_DIR "%s.csv", name);
    if (lr_csv_read(path, &in, &err) != 0 || in->n_rows > 512) {
        CHECK_MSG(0, "%s", err.msg);
        lr_csv_free(in);
        return -1;
    }
    c->n = in->n_rows;
    int ok = lr_csv_column_double(in, "time", c->time, &err) == 0 &&
             lr_csv_column_binary(in, "event", c->event, &err) == 0 &&
             lr_csv_column_double(in, "risk", c->risk, &err) == 0;
    lr_csv_free(in);
    snprintf(path, sizeof path, REF_DIR "%s_expected.csv", name);
    ok = ok && lr_csv_read(path, &c->ref, &err) == 0;
    /* every case has events, so R wrote its gradient (martingale residuals): a missing file is a failure */
    snprintf(path, sizeof path, REF_DIR "%s_grad.csv", name);
    ok = ok && lr_csv_read(path, &c->grad, &err) == 0;
    CHECK_MSG(ok, "%s: %s", name, err.msg);
    if (!ok) free_case(c);
    return ok ? 0 : -1;
}

static const char *const cases[] = {"small_ties", "continuous", "heavy_censoring", "tiny", "large_risk", "lung"};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- tests against R ---- */

static void test_cindex_matches_r(void)
{
    size_t loaded = 0;
    for (size_t k = 0; k < N_CASES; k++) {
        survival_case c;
        if (load_case(cases[k], &c) != 0) continue; /* load_case recorded the failure */
        loaded++;
        lr_concordance conc;
        lr_err err;
        CHECK(lr_harrell_cindex(c.n, c.time, c.event, c.risk, &conc, &err) == 0);
        CHECK_MSG((double)conc.concordant == expected(c.ref, "cindex_concordant"), "%s", cases[k]);
        CHECK_MSG((double)conc.discordant == expected(c.ref, "cindex_discordant"), "%s", cases[k]);
        CHECK_MSG((double)conc.tied_risk == expected(c.ref, "cindex_tied_risk"), "%s", cases[k]);
        CHECK_MSG((double)conc.comparable == expected(c.ref, "cindex_comparable"), "%s", cases[k]);
        CHECK_CLOSE(conc.cindex, expected(c.ref, "cindex"), 1e-14, 0);
        free_case(&c);
    }
    CHECK(loaded == N_CASES);
}

static void test_npll_matches_r(void)
{
    static const char *names[2] = {"breslow", "efron"};
    double *grad = malloc(512 * sizeof *grad);
    size_t gradient_checks = 0;
    for (size_t k = 0; k < N_CASES; k++) {
        survival_case c;
        if (load_case(cases[k], &c) != 0) continue;
        for (int ties = 0; ties < 2; ties++) {
            char key[64];
            snprintf(key, sizeof key, "npll_%s", names[ties]);
            lr_npll_result res;
            lr_err err;
            CHECK(lr_npll(c.n, c.time, c.event, c.risk, (lr_ties)ties, &res, grad, &err) == 0);
            CHECK_CLOSE(res.sum, expected(c.ref, key), 0, 1e-8);
            CHECK_CLOSE(res.mean * (double)res.events, res.sum, 0, 1e-14);
            CHECK(!res.no_events);
            double r_grad[512];
            CHECK(lr_csv_column_double(c.grad, names[ties], r_grad, &err) == 0);
            gradient_checks++;
            double worst = 0.0;
            for (size_t i = 0; i < c.n; i++) worst = fmax(worst, fabs(grad[i] - r_grad[i]));
            CHECK_MSG(worst < 1e-8, "%s %s: gradient differs from R's martingale residuals by %g", cases[k],
                      names[ties], worst);
        }
        free_case(&c);
    }
    free(grad);
    CHECK_MSG(gradient_checks == 2 * N_CASES, "%zu gradient checks, expected %zu", gradient_checks, 2 * N_CASES);
}

static void test_uno_and_auc_match_r(void)
{
    size_t loaded = 0;
    for (size_t k = 0; k < N_CASES; k++) {
        survival_case c;
        if (load_case(cases[k], &c) != 0) continue;
        loaded++;
        char key[64];
        int n_tau = 0, n_auc = 0;
        for (int j = 1;; j++, n_tau++) {
            snprintf(key, sizeof key, "uno_tau%d", j);
            if (!has_key(c.ref, key)) break;
            double tau = expected(c.ref, key);
            lr_uno_result res;
            lr_err err;
            CHECK(lr_uno_cindex(c.n, c.time, c.event, c.risk, tau, &res, &err) == 0);
            snprintf(key, sizeof key, "uno_cindex%d", j);
            CHECK_CLOSE(res.cindex, expected(c.ref, key), 1e-12, 0);
        }
        for (int j = 1;; j++, n_auc++) {
            snprintf(key, sizeof key, "auc_t%d", j);
            if (!has_key(c.ref, key)) break;
            double t = expected(c.ref, key), auc;
            lr_err err;
            CHECK(lr_auc_cd(c.n, c.time, c.event, c.risk, 1, &t, &auc, &err) == 0);
            snprintf(key, sizeof key, "auc%d", j);
            double want = expected(c.ref, key);
            if (isnan(want)) CHECK(isnan(auc));
            else CHECK_CLOSE(auc, want, 1e-12, 0);
        }
        /* a renamed reference key would end the loops before their first check */
        CHECK_MSG(n_tau >= 1 && n_auc >= 1, "%s: %d uno_tau and %d auc_t keys", cases[k], n_tau, n_auc);
        free_case(&c);
    }
    CHECK(loaded == N_CASES);
}

/* ---- properties ---- */

static void test_npll_gradient_finite_differences(void)
{
    survival_case c;
    if (load_case("small_ties", &c) != 0) return;
    for (int ties = 0; ties < 2; ties++) {
        double grad[512], eta[512];
        lr_npll_result res, plus, minus;
        lr_err err;
        memcpy(eta, c.risk, c.n * sizeof *eta);
        CHECK(lr_npll(c.n, c.time, c.event, eta, (lr_ties)ties, &res, grad, &err) == 0);
        for (size_t i = 0; i < c.n; i++) {
            double h = 1e-5;
            eta[i] = c.risk[i] + h;
            lr_npll(c.n, c.time, c.event, eta, (lr_ties)ties, &plus, NULL, &err);
            eta[i] = c.risk[i] - h;
            lr_npll(c.n, c.time, c.event, eta, (lr_ties)ties, &minus, NULL, &err);
            eta[i] = c.risk[i];
            CHECK_CLOSE(grad[i], (plus.sum - minus.sum) / (2 * h), 1e-8, 1e-6);
        }
        /* float API agrees */
        float eta_f[512], grad_f[512];
        for (size_t i = 0; i < c.n; i++) eta_f[i] = (float)c.risk[i];
        CHECK(lr_npll_f(c.n, c.time, c.event, eta_f, (lr_ties)ties, &plus, grad_f, &err) == 0);
        CHECK_CLOSE(plus.sum, res.sum, 1e-5, 1e-5);
        for (size_t i = 0; i < c.n; i++) CHECK_CLOSE(grad_f[i], grad[i], 1e-5, 1e-5);
    }
    free_case(&c);
}

static void test_npll_stable_and_no_events(void)
{
    double time[6] = {1, 2, 3, 3, 4, 5}, eta[6] = {0.1, -0.3, 0.5, 0.2, 0.0, 1.0}, shifted[6], grad[6], grad_s[6];
    int event[6] = {1, 0, 1, 1, 0, 1}, none[6] = {0};
    lr_npll_result a, b;
    lr_err err;
    for (int ties = 0; ties < 2; ties++) {
        for (int i = 0; i < 6; i++) shifted[i] = eta[i] + 1000.0; /* exp would overflow without the shift */
        CHECK(lr_npll(6, time, event, eta, (lr_ties)ties, &a, grad, &err) == 0);
        CHECK(lr_npll(6, time, event, shifted, (lr_ties)ties, &b, grad_s, &err) == 0);
        CHECK(isfinite(b.sum));
        CHECK_CLOSE(b.sum, a.sum, 1e-9, 1e-9);
        for (int i = 0; i < 6; i++) CHECK_CLOSE(grad_s[i], grad[i], 1e-9, 1e-9);
        for (int i = 0; i < 6; i++) shifted[i] = eta[i] * 1000.0; /* extreme spread: each term finite */
        CHECK(lr_npll(6, time, event, shifted, (lr_ties)ties, &b, grad_s, &err) == 0);
        CHECK(isfinite(b.sum));
        for (int i = 0; i < 6; i++) CHECK(isfinite(grad_s[i]));
        CHECK(lr_npll(6, time, none, eta, (lr_ties)ties, &b, grad_s, &err) == 0);
        CHECK(b.no_events && b.sum == 0.0 && b.mean == 0.0 && b.events == 0);
        for (int i = 0; i < 6; i++) CHECK(grad_s[i] == 0.0);
    }
    eta[2] = NAN;
    CHECK(lr_npll(6, time, event, eta, LR_TIES_EFRON, &a, NULL, &err) == -1);
}

/* O(n^2) Harrell counts, the definition itself. */
static void brute_cindex(size_t n, const double *time, const int *event, const double *risk, lr_concordance *out)
{
    *out = (lr_concordance){0, 0, 0, 0, NAN};
    for (size_t i = 0; i < n; i++) {
        if (!event[i]) continue;
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            int later = time[j] > time[i] || (time[j] == time[i] && !event[j]);
            if (!later) continue;
            if (risk[i] > risk[j]) out->concordant++;
            else if (risk[i] < risk[j]) out->discordant++;
            else out->tied_risk++;
        }
    }
    out->comparable = out->concordant + out->discordant + out->tied_risk;
    out->cindex = ((double)out->concordant + 0.5 * (double)out->tied_risk) / (double)out->comparable;
}

/* CPU time of this process: the limit should not depend on what else the machine is running. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_cindex_million(void)
{
    size_t n = 1000000, m = 3000;
    double *time = malloc(n * sizeof *time), *risk = malloc(n * sizeof *risk);
    int *event = malloc(n * sizeof *event);
    double *sub_time = malloc(m * sizeof *sub_time), *sub_risk = malloc(m * sizeof *sub_risk);
    int *sub_event = malloc(m * sizeof *sub_event);
    gsl_rng *rng = lr_rng_stream(42, "test-cindex-million", 0, 0, 0);
    for (size_t i = 0; i < n; i++) {
        risk[i] = round(gsl_rng_uniform(rng) * 1000.0);     /* ties in risk */
        time[i] = ceil(gsl_rng_uniform(rng) * 3650.0);      /* ties in time */
        event[i] = gsl_rng_uniform(rng) < 0.4;
    }
    lr_concordance conc, fast, brute;
    lr_err err;
    double t0 = now_seconds();
    CHECK(lr_harrell_cindex(n, time, event, risk, &conc, &err) == 0);
    double elapsed = now_seconds() - t0;
    printf("  C-index n=1e6: %.3f s CPU (C = %.6f)\n", elapsed, conc.cindex);
#if !defined(__SANITIZE_ADDRESS__)
    CHECK_MSG(elapsed < 1.0, "n = 1e6 took %.3f s", elapsed);
#endif
    /* comparable pairs by another route: for each event, subjects later in time or censored at its time */
    int64_t comparable = 0;
    int64_t *at_time = calloc(3651, sizeof *at_time), *cens_at = calloc(3651, sizeof *cens_at);
    for (size_t i = 0; i < n; i++) {
        at_time[(size_t)time[i]]++;
        cens_at[(size_t)time[i]] += !event[i];
    }
    int64_t later = 0;
    int64_t *later_than = calloc(3652, sizeof *later_than);
    for (size_t t = 3651; t-- > 0;) {
        later_than[t] = later;
        later += at_time[t];
    }
    for (size_t i = 0; i < n; i++)
        if (event[i]) comparable += later_than[(size_t)time[i]] + cens_at[(size_t)time[i]];
    CHECK(comparable == conc.comparable);
    CHECK(conc.concordant + conc.discordant + conc.tied_risk == conc.comparable);
    for (int rep = 0; rep < 3; rep++) {
        for (size_t k = 0; k < m; k++) {
            size_t i = gsl_rng_uniform_int(rng, n);
            sub_time[k] = time[i];
            sub_event[k] = event[i];
            sub_risk[k] = risk[i];
        }
        CHECK(lr_harrell_cindex(m, sub_time, sub_event, sub_risk, &fast, &err) == 0);
        brute_cindex(m, sub_time, sub_event, sub_risk, &brute);
        CHECK(fast.concordant == brute.concordant && fast.discordant == brute.discordant &&
              fast.tied_risk == brute.tied_risk && fast.comparable == brute.comparable);
    }
    gsl_rng_free(rng);
    free(at_time);
    free(cens_at);
    free(later_than);
    free(time);
    free(risk);
    free(event);
    free(sub_time);
    free(sub_risk);
    free(sub_event);
}

int main(void)
{
    RUN(test_cindex_matches_r);
    RUN(test_npll_matches_r);
    RUN(test_uno_and_auc_match_r);
    RUN(test_npll_gradient_finite_differences);
    RUN(test_npll_stable_and_no_events);
    RUN(test_cindex_million);
    return TEST_SUMMARY();
}
