#include "survival/lmm.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_min.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything one fit needs, allocated once: group summaries and the whitened least-squares problem. */
typedef struct {
    const lr_lmm_data *d;
    int reml;
    double *group_size;   /* [G] */
    double *group_mean_y; /* [G] */
    double *group_mean_X; /* [G*p] */
    double *shrink;       /* [G] 1 - 1/sqrt(1 + n_g λ) for the current λ */
    gsl_matrix *qr;       /* [N,p] whitened X, then its QR */
    gsl_vector *tau;      /* [p] Householder coefficients */
    gsl_vector *ystar;    /* [N] whitened y */
    gsl_vector *beta;     /* [p] */
    gsl_vector *resid;    /* [N] */
} lmm_work;

static void work_free(lmm_work *w)
{
    free(w->group_size);
    free(w->group_mean_y);
    free(w->group_mean_X);
    free(w->shrink);
    if (w->qr) gsl_matrix_free(w->qr);
    if (w->tau) gsl_vector_free(w->tau);
    if (w->ystar) gsl_vector_free(w->ystar);
    if (w->beta) gsl_vector_free(w->beta);
    if (w->resid) gsl_vector_free(w->resid);
    memset(w, 0, sizeof *w);
}

static int work_init(lmm_work *w, const lr_lmm_data *d, int reml, lr_err *err)
{
    memset(w, 0, sizeof *w);
    w->d = d;
    w->reml = reml;
    size_t N = d->n_obs, p = d->n_fixed, G = d->n_groups;
    if (p == 0) return lr_fail(err, "lmm: no fixed effects");
    if (N < p + 1) return lr_fail(err, "lmm: %zu observations for %zu fixed effects", N, p);
    if (G < 2) return lr_fail(err, "lmm: %zu group%s: a random intercept needs at least 2", G, G == 1 ? "" : "s");
    w->group_size = lr_calloc(G, sizeof *w->group_size, err);
    w->group_mean_y = lr_calloc(G, sizeof *w->group_mean_y, err);
    w->group_mean_X = lr_calloc(G * p, sizeof *w->group_mean_X, err);
    w->shrink = lr_calloc(G, sizeof *w->shrink, err);
    if (!w->group_size || !w->group_mean_y || !w->group_mean_X || !w->shrink) goto fail;
    w->qr = gsl_matrix_alloc(N, p);
    w->tau = gsl_vector_alloc(p);
    w->ystar = gsl_vector_alloc(N);
    w->beta = gsl_vector_alloc(p);
    w->resid = gsl_vector_alloc(N);
    if (!w->qr || !w->tau || !w->ystar || !w->beta || !w->resid) {
        lr_fail(err, "lmm: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < N; i++) {
        size_t g = d->group[i];
        if (g >= G) {
            lr_fail(err, "lmm: observation %zu has group %zu outside 0..%zu", i, g, G - 1);
            goto fail;
        }
        w->group_size[g] += 1.0;
        w->group_mean_y[g] += d->y[i];
        for (size_t k = 0; k < p; k++) w->group_mean_X[g * p + k] += d->X[i * p + k];
    }
    for (size_t g = 0; g < G; g++) {
        if (w->group_size[g] == 0.0) {
            lr_fail(err, "lmm: group %zu has no observations", g);
            goto fail;
        }
        w->group_mean_y[g] /= w->group_size[g];
        for (size_t k = 0; k < p; k++) w->group_mean_X[g * p + k] /= w->group_size[g];
    }
    return 0;
fail:
    work_free(w);
    return -1;
}

/* Whiten with λ and solve the least squares. Returns the RSS and log|det R|; -1 when X* is rank deficient. */
static int whitened_ls(lmm_work *w, double lambda, double *rss, double *logdet_r)
{
    const lr_lmm_data *d = w->d;
    size_t N = d->n_obs, p = d->n_fixed;
    for (size_t g = 0; g < d->n_groups; g++) w->shrink[g] = 1.0 - 1.0 / sqrt(1.0 + w->group_size[g] * lambda);
    double *a = w->qr->data, *b = w->ystar->data;
    size_t tda = w->qr->tda, stride = w->ystar->stride;
    for (size_t i = 0; i < N; i++) {
        size_t g = d->group[i];
        double shrink = w->shrink[g];
        b[i * stride] = d->y[i] - shrink * w->group_mean_y[g];
        for (size_t k = 0; k < p; k++) a[i * tda + k] = d->X[i * p + k] - shrink * w->group_mean_X[g * p + k];
    }
    gsl_linalg_QR_decomp(w->qr, w->tau);
    double max_diag = 0.0;
    for (size_t k = 0; k < p; k++) max_diag = fmax(max_diag, fabs(gsl_matrix_get(w->qr, k, k)));
    double logdet = 0.0;
    for (size_t k = 0; k < p; k++) {
        double r = fabs(gsl_matrix_get(w->qr, k, k));
        if (!(r > 1e-10 * max_diag)) return -1;
        logdet += log(r);
    }
    gsl_linalg_QR_lssolve(w->qr, w->tau, w->ystar, w->beta, w->resid);
    double s = 0.0;
    gsl_blas_ddot(w->resid, w->resid, &s);
    *rss = s;
    *logdet_r = logdet;
    return 0;
}

static double sum_log1p(const lmm_work *w, double lambda)
{
    double s = 0.0;
    for (size_t g = 0; g < w->d->n_groups; g++) s += log1p(w->group_size[g] * lambda);
    return s;
}

static double residual_dof(const lmm_work *w)
{
    return (double)w->d->n_obs - (w->reml ? (double)w->d->n_fixed : 0.0);
}

/* -2 log-likelihood (REML criterion for REML) with σ² profiled out, as a function of θ = √λ. */
static double profiled_deviance(double theta, void *params)
{
    lmm_work *w = params;
    double lambda = theta * theta, rss, logdet_r;
    if (whitened_ls(w, lambda, &rss, &logdet_r) != 0) return INFINITY;
    double m = residual_dof(w);
    double dev = m * (1.0 + log(2.0 * M_PI * rss / m)) + sum_log1p(w, lambda);
    if (w->reml) dev += 2.0 * logdet_r;
    return dev;
}

/* -2 log-likelihood at (θ, σ) without profiling: the function lmerTest differentiates. */
static double full_deviance(lmm_work *w, double theta, double sigma)
{
    double lambda = theta * theta, rss, logdet_r;
    if (whitened_ls(w, lambda, &rss, &logdet_r) != 0) return NAN;
    double s2 = sigma * sigma;
    double dev = residual_dof(w) * log(2.0 * M_PI * s2) + rss / s2 + sum_log1p(w, lambda);
    if (w->reml) dev += 2.0 * logdet_r;
    return dev;
}

/* [p] diagonal of (X*ᵀX*)⁻¹ = R⁻¹R⁻ᵀ at the current QR; R⁻¹ by back substitution per column. */
static void unscaled_cov_diag(const lmm_work *w, double *diag)
{
    size_t p = w->d->n_fixed;
    gsl_matrix_const_view r = gsl_matrix_const_submatrix(w->qr, 0, 0, p, p);
    double rinv_row_sq[64]; /* accumulated Σ_j (R⁻¹)_kj² per row k, p <= 64 checked by caller */
    for (size_t k = 0; k < p; k++) rinv_row_sq[k] = 0.0;
    gsl_vector *col = gsl_vector_alloc(p);
    for (size_t j = 0; j < p; j++) {
        gsl_vector_set_basis(col, j);
        gsl_blas_dtrsv(CblasUpper, CblasNoTrans, CblasNonUnit, &r.matrix, col);
        for (size_t k = 0; k < p; k++) rinv_row_sq[k] += gsl_vector_get(col, k) * gsl_vector_get(col, k);
    }
    gsl_vector_free(col);
    for (size_t k = 0; k < p; k++) diag[k] = rinv_row_sq[k];
}

/* Var β̂ (diag) at (θ, σ). */
static int beta_var(lmm_work *w, double theta, double sigma, double *var)
{
    double rss, logdet_r;
    if (whitened_ls(w, theta * theta, &rss, &logdet_r) != 0) return -1;
    unscaled_cov_diag(w, var);
    for (size_t k = 0; k < w->d->n_fixed; k++) var[k] *= sigma * sigma;
    return 0;
}

/* Brent on [lo, hi] from a point `mid` with f(mid) < f(lo), f(hi). */
static double brent_minimise(lmm_work *w, double lo, double mid, double hi, double f_lo, double f_mid, double f_hi)
{
    gsl_function fn = {profiled_deviance, w};
    gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!m) return mid;
    gsl_min_fminimizer_set_with_values(m, &fn, mid, f_mid, lo, f_lo, hi, f_hi);
    /* The deviance is flat to rounding within ~1e-8 relative of θ̂, where Brent's interval stalls:
     * stop at 1e-8 or after 5 iterations without shrinking. */
    double width = INFINITY;
    for (int iter = 0, stalled = 0; iter < 100 && stalled < 5; iter++) {
        if (gsl_min_fminimizer_iterate(m) != GSL_SUCCESS) break;
        double a = gsl_min_fminimizer_x_lower(m), b = gsl_min_fminimizer_x_upper(m);
        if (gsl_min_test_interval(a, b, 1e-10, 1e-8) == GSL_SUCCESS) break;
        stalled = b - a < width ? 0 : stalled + 1;
        width = fmin(width, b - a);
    }
    double best = gsl_min_fminimizer_x_minimum(m);
    gsl_min_fminimizer_free(m);
    return best;
}

/* θ̂ ≥ 0: a log grid brackets the minimum, Brent refines; 0 when the deviance rises from the boundary. */
static double optimise_theta(lmm_work *w)
{
    enum { GRID = 49 }; /* θ = 0 and 48 points from 1e-4 to 1e4, a factor 1.48 apart */
    double theta[GRID], dev[GRID];
    size_t best = 0;
    for (size_t k = 0; k < GRID; k++) {
        theta[k] = k == 0 ? 0.0 : pow(10.0, -4.0 + 8.0 * (double)(k - 1) / (GRID - 2));
        dev[k] = profiled_deviance(theta[k], w);
        if (dev[k] < dev[best]) best = k;
    }
    if (best > 0 && best < GRID - 1) {
        if (dev[best] < dev[best - 1] && dev[best] < dev[best + 1])
            return brent_minimise(w, theta[best - 1], theta[best], theta[best + 1], dev[best - 1], dev[best],
                                  dev[best + 1]);
        return theta[best];
    }
    if (best == GRID - 1) return theta[best];
    /* best at the boundary: look for an interior dip between 0 and the first grid point */
    for (double x = theta[1] / 2.0; x > 1e-12; x /= 2.0) {
        double fx = profiled_deviance(x, w);
        if (fx < dev[0] && fx < dev[1]) return brent_minimise(w, 0.0, x, theta[1], dev[0], fx, dev[1]);
        if (fx > dev[0]) break;
    }
    return 0.0;
}

/* Richardson extrapolation of central differences (numDeriv-like: step h, h/2, h/4, h/8). */
static double richardson(double a[4])
{
    /* a[k] computed with step h/2^k; the error is a series in h² */
    for (int level = 1; level < 4; level++) {
        double f = pow(4.0, level);
        for (int k = 0; k + level < 4; k++) a[k] = (f * a[k + 1] - a[k]) / (f - 1.0);
    }
    return a[0];
}

static double step_for(double x)
{
    return x == 0.0 ? 1e-4 : 0.1 * fabs(x);
}

static double eval_dev(lmm_work *w, double theta, double sigma)
{
    return full_deviance(w, theta, sigma);
}

static void deviance_hessian(lmm_work *w, const double x[2], double h[2][2])
{
    double f0 = eval_dev(w, x[0], x[1]);
    for (int i = 0; i < 2; i++) {
        double a[4];
        for (int k = 0; k < 4; k++) {
            double s = step_for(x[i]) / pow(2.0, k);
            double xp[2] = {x[0], x[1]}, xm[2] = {x[0], x[1]};
            xp[i] += s;
            xm[i] -= s;
            a[k] = (eval_dev(w, xp[0], xp[1]) - 2.0 * f0 + eval_dev(w, xm[0], xm[1])) / (s * s);
        }
        h[i][i] = richardson(a);
    }
    double a[4];
    for (int k = 0; k < 4; k++) {
        double s0 = step_for(x[0]) / pow(2.0, k), s1 = step_for(x[1]) / pow(2.0, k);
        a[k] = (eval_dev(w, x[0] + s0, x[1] + s1) - eval_dev(w, x[0] + s0, x[1] - s1) -
                eval_dev(w, x[0] - s0, x[1] + s1) + eval_dev(w, x[0] - s0, x[1] - s1)) /
               (4.0 * s0 * s1);
    }
    h[0][1] = h[1][0] = richardson(a);
}

/* 2 · pseudo-inverse of a symmetric 2x2 (eigenvalues below tol dropped, as lmerTest). */
static void vcov_from_hessian(double h[2][2], double v[2][2])
{
    double a = h[0][0], b = h[0][1], c = h[1][1];
    double mean = 0.5 * (a + c), rad = sqrt(0.25 * (a - c) * (a - c) + b * b);
    double ev[2] = {mean + rad, mean - rad};
    double vec[2][2];
    if (fabs(b) > 0.0) {
        for (int e = 0; e < 2; e++) {
            double x0 = b, x1 = ev[e] - a, norm = hypot(x0, x1);
            vec[e][0] = x0 / norm;
            vec[e][1] = x1 / norm;
        }
    } else {
        int first_is_a = a >= c;
        vec[0][0] = first_is_a ? 1.0 : 0.0;
        vec[0][1] = first_is_a ? 0.0 : 1.0;
        vec[1][0] = vec[0][1];
        vec[1][1] = vec[0][0];
    }
    memset(v, 0, 4 * sizeof(double));
    for (int e = 0; e < 2; e++) {
        if (!(ev[e] > 1e-8)) continue;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) v[i][j] += 2.0 * vec[e][i] * vec[e][j] / ev[e];
    }
}

static int satterthwaite(lmm_work *w, double theta, double sigma, double *df, lr_err *err)
{
    size_t p = w->d->n_fixed;
    double x[2] = {theta, sigma}, h[2][2], vcov[2][2];
    deviance_hessian(w, x, h);
    vcov_from_hessian(h, vcov);
    double *var0 = lr_malloc(4 * p, sizeof *var0, err); /* [p] Var β̂, [p] at θ+h, [p] at θ-h, [p] ∂/∂θ */
    if (!var0) return -1;
    double *var_p = var0 + p, *var_m = var0 + 2 * p, *grad_theta = var0 + 3 * p;
    if (beta_var(w, theta, sigma, var0) != 0) {
        free(var0);
        return lr_fail(err, "lmm: the fixed-effect columns are collinear");
    }
    double a[64][4];
    for (int k = 0; k < 4; k++) {
        double s = step_for(theta) / pow(2.0, k);
        if (beta_var(w, theta + s, sigma, var_p) != 0 || beta_var(w, theta - s, sigma, var_m) != 0) {
            free(var0);
            return lr_fail(err, "lmm: the fixed-effect columns are collinear near the optimum");
        }
        for (size_t j = 0; j < p; j++) a[j][k] = (var_p[j] - var_m[j]) / (2.0 * s);
    }
    for (size_t j = 0; j < p; j++) grad_theta[j] = richardson(a[j]);
    for (size_t j = 0; j < p; j++) {
        double g[2] = {grad_theta[j], 2.0 * var0[j] / sigma}; /* Var = σ² c(θ): ∂/∂σ is exact */
        double q = g[0] * g[0] * vcov[0][0] + 2.0 * g[0] * g[1] * vcov[0][1] + g[1] * g[1] * vcov[1][1];
        df[j] = 2.0 * var0[j] * var0[j] / q;
    }
    free(var0);
    return 0;
}

/* nlme's containment rule for one grouping level. */
static void containment_df(const lr_lmm_data *d, double *df)
{
    size_t N = d->n_obs, p = d->n_fixed, G = d->n_groups;
    int *between = calloc(p, sizeof *between);
    size_t *first = malloc(G * sizeof *first);
    size_t n_between = 0, n_within = 0;
    int has_intercept = 0;
    if (!between || !first) {
        for (size_t k = 0; k < p; k++) df[k] = NAN;
        free(between);
        free(first);
        return;
    }
    for (size_t k = 0; k < p; k++) {
        int constant_overall = 1, constant_in_groups = 1;
        for (size_t g = 0; g < G; g++) first[g] = (size_t)-1;
        for (size_t i = 0; i < N; i++) {
            double v = d->X[i * p + k];
            if (v != d->X[k]) constant_overall = 0;
            size_t g = d->group[i];
            if (first[g] == (size_t)-1) first[g] = i;
            else if (v != d->X[first[g] * p + k]) constant_in_groups = 0;
        }
        if (constant_overall && !has_intercept) {
            between[k] = -1; /* the intercept */
            has_intercept = 1;
        } else if (constant_in_groups) {
            between[k] = 1;
            n_between++;
        } else {
            n_within++;
        }
    }
    /* nlme::getFixDF: an intercept is charged to the group stratum but reported with the larger df;
     * without an intercept the residual stratum gets one back */
    double df_within = (double)N - (double)G - (double)n_within + (has_intercept ? 0.0 : 1.0);
    double df_between = (double)G - (double)n_between - (has_intercept ? 1.0 : 0.0);
    for (size_t k = 0; k < p; k++)
        df[k] = between[k] == 1 ? df_between : between[k] == -1 ? fmax(df_between, df_within) : df_within;
    free(between);
    free(first);
}

void lr_lmm_fit_free(lr_lmm_fit *fit)
{
    free(fit->beta);
    memset(fit, 0, sizeof *fit);
}

static void p_values(double t, double df, double *two, double *one)
{
    *two = isfinite(df) && df > 0 ? 2.0 * gsl_cdf_tdist_Q(fabs(t), df) : NAN;
    *one = isfinite(df) && df > 0 ? gsl_cdf_tdist_Q(t, df) : NAN;
}

/* inference = 0 skips the Satterthwaite and containment df (the bootstrap needs only β̂). */
static int fit_model(const lr_lmm_data *data, int reml, int inference, lr_lmm_fit *fit, lr_err *err)
{
    memset(fit, 0, sizeof *fit);
    size_t p = data->n_fixed;
    if (p > 64) return lr_fail(err, "lmm: at most 64 fixed effects (got %zu)", p);
    lmm_work w;
    if (work_init(&w, data, reml, err) != 0) return -1;
    double *arrays = lr_calloc(9 * p, sizeof *arrays, err);
    if (!arrays) goto fail;
    fit->n_fixed = p;
    fit->reml = reml;
    fit->beta = arrays;
    fit->se = arrays + p;
    fit->tstat = arrays + 2 * p;
    fit->df_satterthwaite = arrays + 3 * p;
    fit->p_satterthwaite = arrays + 4 * p;
    fit->p_one_sided_satterthwaite = arrays + 5 * p;
    fit->df_containment = arrays + 6 * p;
    fit->p_containment = arrays + 7 * p;
    fit->p_one_sided_containment = arrays + 8 * p;

    double theta = optimise_theta(&w);
    double rss, logdet_r;
    if (whitened_ls(&w, theta * theta, &rss, &logdet_r) != 0) {
        lr_fail(err, "lmm: the fixed-effect columns are collinear");
        goto fail;
    }
    fit->lambda = theta * theta;
    fit->singular = theta == 0.0;
    fit->sigma2 = rss / residual_dof(&w);
    fit->tau2 = fit->lambda * fit->sigma2;
    fit->loglik = -0.5 * profiled_deviance(theta, &w);
    for (size_t k = 0; k < p; k++) fit->beta[k] = gsl_vector_get(w.beta, k);
    unscaled_cov_diag(&w, fit->se);
    for (size_t k = 0; k < p; k++) {
        fit->se[k] = sqrt(fit->sigma2 * fit->se[k]);
        fit->tstat[k] = fit->beta[k] / fit->se[k];
    }
    if (!inference) {
        work_free(&w);
        return 0;
    }
    if (satterthwaite(&w, theta, sqrt(fit->sigma2), fit->df_satterthwaite, err) != 0) goto fail;
    containment_df(data, fit->df_containment);
    for (size_t k = 0; k < p; k++) {
        p_values(fit->tstat[k], fit->df_satterthwaite[k], &fit->p_satterthwaite[k], &fit->p_one_sided_satterthwaite[k]);
        p_values(fit->tstat[k], fit->df_containment[k], &fit->p_containment[k], &fit->p_one_sided_containment[k]);
    }
    work_free(&w);
    return 0;
fail:
    work_free(&w);
    return -1;
}

int lr_lmm_fit_model(const lr_lmm_data *data, int reml, lr_lmm_fit *fit, lr_err *err)
{
    return fit_model(data, reml, 1, fit, err);
}

int lr_lmm_lrt(const lr_lmm_data *data, size_t drop, double *statistic, double *p_value, lr_err *err)
{
    size_t N = data->n_obs, p = data->n_fixed;
    if (drop >= p) return lr_fail(err, "lmm: no fixed effect %zu to test", drop);
    if (p < 2) return lr_fail(err, "lmm: the reduced model would have no fixed effect");
    double *X_reduced = lr_malloc(N * (p - 1), sizeof *X_reduced, err); /* [N, p-1] */
    if (!X_reduced) return -1;
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0, m = 0; k < p; k++)
            if (k != drop) X_reduced[i * (p - 1) + m++] = data->X[i * p + k];
    lr_lmm_data reduced = *data;
    reduced.X = X_reduced;
    reduced.n_fixed = p - 1;
    lr_lmm_fit full_fit, reduced_fit;
    int rc = -1;
    if (fit_model(data, 0, 0, &full_fit, err) != 0) goto done_full;
    if (fit_model(&reduced, 0, 0, &reduced_fit, err) != 0) goto done_reduced;
    *statistic = fmax(0.0, 2.0 * (full_fit.loglik - reduced_fit.loglik));
    *p_value = gsl_cdf_chisq_Q(*statistic, 1.0);
    rc = 0;
done_reduced:
    lr_lmm_fit_free(&reduced_fit);
done_full:
    lr_lmm_fit_free(&full_fit);
    free(X_reduced);
    return rc;
}

int lr_lmm_boot_ctx_init(lr_lmm_boot_ctx *ctx, const lr_lmm_data *data, size_t coefficient, int reml, lr_err *err)
{
    memset(ctx, 0, sizeof *ctx);
    size_t N = data->n_obs, G = data->n_groups, p = data->n_fixed;
    if (coefficient >= p) return lr_fail(err, "lmm bootstrap: no coefficient %zu", coefficient);
    ctx->data = data;
    ctx->coefficient = coefficient;
    ctx->reml = reml;
    ctx->group_start = lr_calloc(G + 1, sizeof *ctx->group_start, err);
    ctx->group_obs = lr_malloc(N, sizeof *ctx->group_obs, err);
    if (!ctx->group_start || !ctx->group_obs) goto fail;
    for (size_t i = 0; i < N; i++) ctx->group_start[data->group[i] + 1]++;
    for (size_t g = 0; g < G; g++) {
        size_t size = ctx->group_start[g + 1];
        if (size > ctx->max_group) ctx->max_group = size;
        ctx->group_start[g + 1] += ctx->group_start[g];
    }
    size_t *fill = lr_calloc(G, sizeof *fill, err);
    if (!fill) goto fail;
    for (size_t i = 0; i < N; i++) {
        size_t g = data->group[i];
        ctx->group_obs[ctx->group_start[g] + fill[g]++] = i;
    }
    free(fill);
    size_t cap = G * ctx->max_group;
    ctx->work_y = lr_malloc(cap, sizeof *ctx->work_y, err);
    ctx->work_X = lr_malloc(cap * p, sizeof *ctx->work_X, err);
    ctx->work_group = lr_malloc(cap, sizeof *ctx->work_group, err);
    if (!ctx->work_y || !ctx->work_X || !ctx->work_group) goto fail;
    return 0;
fail:
    lr_lmm_boot_ctx_free(ctx);
    return -1;
}

void lr_lmm_boot_ctx_free(lr_lmm_boot_ctx *ctx)
{
    free(ctx->group_start);
    free(ctx->group_obs);
    free(ctx->work_y);
    free(ctx->work_X);
    free(ctx->work_group);
    memset(ctx, 0, sizeof *ctx);
}

int lr_boot_stat_lmm_beta(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err)
{
    lr_lmm_boot_ctx *c = ctx;
    const lr_lmm_data *d = c->data;
    size_t p = d->n_fixed, m = 0;
    for (size_t u = 0; u < n_units; u++) {
        size_t g = units[u];
        for (size_t k = c->group_start[g]; k < c->group_start[g + 1]; k++) {
            size_t i = c->group_obs[k];
            c->work_y[m] = d->y[i];
            memcpy(&c->work_X[m * p], &d->X[i * p], p * sizeof *c->work_X);
            c->work_group[m] = u; /* a group drawn twice is two groups */
            m++;
        }
    }
    lr_lmm_data resampled = {m, p, n_units, c->work_y, c->work_X, c->work_group};
    lr_lmm_fit fit;
    lr_err local;
    if (fit_model(&resampled, c->reml, 0, &fit, &local) != 0) {
        *value = NAN; /* e.g. a resample where a covariate is constant: dropped like boot's NA */
        lr_lmm_fit_free(&fit);
        return 0;
    }
    *value = fit.beta[c->coefficient];
    lr_lmm_fit_free(&fit);
    return 0;
}
