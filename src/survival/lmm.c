#include "survival/lmm.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_multimin.h>
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
    /* the nested level (d->nested): inner group k of size m_k inside outer group inner_outer[k] */
    size_t q;             /* variance ratios: 1, or 2 with a nested level */
    double *inner_size;   /* [K] */
    double *inner_mean_y; /* [K] */
    double *inner_mean_X; /* [K*p] */
    size_t *inner_outer;  /* [K] */
    double *inner_w;      /* [K] 1/sqrt(1 + m_k λ₂) for the current λ₂ */
    double *outer_s;      /* [G] s_g = Σ_k m_k w_k² */
    double *outer_y;      /* [G] Σ_k m_k w_k² ȳ_k */
    double *outer_X;      /* [G*p] Σ_k m_k w_k² x̄_k */
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
    free(w->inner_size);
    free(w->inner_mean_y);
    free(w->inner_mean_X);
    free(w->inner_outer);
    free(w->inner_w);
    free(w->outer_s);
    free(w->outer_y);
    free(w->outer_X);
    memset(w, 0, sizeof *w);
}

/* Inner-group summaries; every inner group non-empty and inside one outer group. */
static int nested_init(lmm_work *w, lr_err *err)
{
    const lr_lmm_data *d = w->d;
    size_t N = d->n_obs, p = d->n_fixed, G = d->n_groups, K = d->n_nested;
    if (K < 2) return lr_fail(err, "lmm: %zu nested group%s: a nested random intercept needs at least 2", K,
                              K == 1 ? "" : "s");
    w->inner_size = lr_calloc(K, sizeof *w->inner_size, err);
    w->inner_mean_y = lr_calloc(K, sizeof *w->inner_mean_y, err);
    w->inner_mean_X = lr_calloc(K * p, sizeof *w->inner_mean_X, err);
    w->inner_outer = lr_malloc(K, sizeof *w->inner_outer, err);
    w->inner_w = lr_malloc(K, sizeof *w->inner_w, err);
    w->outer_s = lr_malloc(G, sizeof *w->outer_s, err);
    w->outer_y = lr_malloc(G, sizeof *w->outer_y, err);
    w->outer_X = lr_malloc(G * p, sizeof *w->outer_X, err);
    if (!w->inner_size || !w->inner_mean_y || !w->inner_mean_X || !w->inner_outer || !w->inner_w || !w->outer_s ||
        !w->outer_y || !w->outer_X)
        return -1;
    for (size_t k = 0; k < K; k++) w->inner_outer[k] = (size_t)-1;
    for (size_t i = 0; i < N; i++) {
        size_t k = d->nested[i], g = d->group[i];
        if (k >= K) return lr_fail(err, "lmm: observation %zu has nested group %zu outside 0..%zu", i, k, K - 1);
        if (w->inner_outer[k] == (size_t)-1) w->inner_outer[k] = g;
        else if (w->inner_outer[k] != g)
            return lr_fail(err, "lmm: nested group %zu appears in groups %zu and %zu (it must lie in one group)", k,
                           w->inner_outer[k], g);
        w->inner_size[k] += 1.0;
        w->inner_mean_y[k] += d->y[i];
        for (size_t j = 0; j < p; j++) w->inner_mean_X[k * p + j] += d->X[i * p + j];
    }
    for (size_t k = 0; k < K; k++) {
        if (w->inner_size[k] == 0.0) return lr_fail(err, "lmm: nested group %zu has no observations", k);
        w->inner_mean_y[k] /= w->inner_size[k];
        for (size_t j = 0; j < p; j++) w->inner_mean_X[k * p + j] /= w->inner_size[k];
    }
    return 0;
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
    w->q = d->nested ? 2 : 1;
    if (d->nested && nested_init(w, err) != 0) goto fail;
    return 0;
fail:
    work_free(w);
    return -1;
}

/* V/σ² of one outer group is I + λ₂B + λ₁11ᵀ (B: blocks of ones over its inner groups; λ₂ = 0 without a
 * nested level). Its inverse square root in closed form: first A = I + λ₂B per inner block,
 * A^(-1/2) z = z − (1 − w_k)·z̄_k with w_k = 1/√(1+m_kλ₂); then the rank-one term λ₁ uuᵀ, u = A^(-1/2)1
 * (u_i = w_k), |u|² = s_g = Σ_k m_k w_k²: (I + λ₁uuᵀ)^(-1/2) = I − a_g uuᵀ, a_g = (1 − 1/√(1+λ₁s_g))/s_g.
 * log|V/σ²| = Σ_k log(1+m_kλ₂) + Σ_g log(1+λ₁s_g). Without nesting this is y − (1 − 1/√(1+n_gλ))ȳ_g. */
static void whiten_nested(lmm_work *w, double lambda, double lambda2, double *logdet_v)
{
    const lr_lmm_data *d = w->d;
    size_t N = d->n_obs, p = d->n_fixed, G = d->n_groups, K = d->n_nested;
    double logdet = 0.0;
    for (size_t g = 0; g < G; g++) {
        w->outer_s[g] = w->outer_y[g] = 0.0;
        for (size_t j = 0; j < p; j++) w->outer_X[g * p + j] = 0.0;
    }
    for (size_t k = 0; k < K; k++) {
        double m = w->inner_size[k], wk = 1.0 / sqrt(1.0 + m * lambda2), f = m * wk * wk;
        size_t g = w->inner_outer[k];
        w->inner_w[k] = wk;
        w->outer_s[g] += f;
        w->outer_y[g] += f * w->inner_mean_y[k];
        for (size_t j = 0; j < p; j++) w->outer_X[g * p + j] += f * w->inner_mean_X[k * p + j];
        logdet += log1p(m * lambda2);
    }
    for (size_t g = 0; g < G; g++) {
        double sg = w->outer_s[g];
        logdet += log1p(lambda * sg);
        w->shrink[g] = (1.0 - 1.0 / sqrt(1.0 + lambda * sg)) / sg; /* a_g */
    }
    double *a = w->qr->data, *b = w->ystar->data;
    size_t tda = w->qr->tda, stride = w->ystar->stride;
    for (size_t i = 0; i < N; i++) {
        size_t k = d->nested[i], g = d->group[i];
        double wk = w->inner_w[k], ck = 1.0 - wk, ag = w->shrink[g] * wk;
        b[i * stride] = d->y[i] - ck * w->inner_mean_y[k] - ag * w->outer_y[g];
        for (size_t j = 0; j < p; j++)
            a[i * tda + j] = d->X[i * p + j] - ck * w->inner_mean_X[k * p + j] - ag * w->outer_X[g * p + j];
    }
    *logdet_v = logdet;
}

/* Whiten with θ (λ₁ = θ₀², λ₂ = θ₁² when nested) and solve the least squares. Returns the RSS, log|det R|
 * and log|V/σ²|; -1 when X* is rank deficient. */
static int whitened_ls(lmm_work *w, const double *theta, double *rss, double *logdet_r, double *logdet_v)
{
    const lr_lmm_data *d = w->d;
    size_t N = d->n_obs, p = d->n_fixed;
    double lambda = theta[0] * theta[0];
    if (d->nested) {
        whiten_nested(w, lambda, theta[1] * theta[1], logdet_v);
    } else {
        double logdet = 0.0;
        for (size_t g = 0; g < d->n_groups; g++) {
            w->shrink[g] = 1.0 - 1.0 / sqrt(1.0 + w->group_size[g] * lambda);
            logdet += log1p(w->group_size[g] * lambda);
        }
        double *a = w->qr->data, *b = w->ystar->data;
        size_t tda = w->qr->tda, stride = w->ystar->stride;
        for (size_t i = 0; i < N; i++) {
            size_t g = d->group[i];
            double shrink = w->shrink[g];
            b[i * stride] = d->y[i] - shrink * w->group_mean_y[g];
            for (size_t k = 0; k < p; k++) a[i * tda + k] = d->X[i * p + k] - shrink * w->group_mean_X[g * p + k];
        }
        *logdet_v = logdet;
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

static double residual_dof(const lmm_work *w)
{
    return (double)w->d->n_obs - (w->reml ? (double)w->d->n_fixed : 0.0);
}

/* -2 log-likelihood (REML criterion for REML) with σ² profiled out, as a function of θ (lme4's parameter). */
static double profiled_deviance(lmm_work *w, const double *theta)
{
    double rss, logdet_r, logdet_v;
    if (whitened_ls(w, theta, &rss, &logdet_r, &logdet_v) != 0) return INFINITY;
    double m = residual_dof(w);
    double dev = m * (1.0 + log(2.0 * M_PI * rss / m)) + logdet_v;
    if (w->reml) dev += 2.0 * logdet_r;
    return dev;
}

/* -2 log-likelihood at (θ, σ) without profiling: the function lmerTest differentiates. */
static double full_deviance(lmm_work *w, const double *theta, double sigma)
{
    double rss, logdet_r, logdet_v;
    if (whitened_ls(w, theta, &rss, &logdet_r, &logdet_v) != 0) return NAN;
    double s2 = sigma * sigma;
    double dev = residual_dof(w) * log(2.0 * M_PI * s2) + rss / s2 + logdet_v;
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
static int beta_var(lmm_work *w, const double *theta, double sigma, double *var)
{
    double rss, logdet_r, logdet_v;
    if (whitened_ls(w, theta, &rss, &logdet_r, &logdet_v) != 0) return -1;
    unscaled_cov_diag(w, var);
    for (size_t k = 0; k < w->d->n_fixed; k++) var[k] *= sigma * sigma;
    return 0;
}

/* The deviance along one coordinate of θ, the others held: what the 1-D search minimises. */
typedef struct {
    lmm_work *w;
    double theta[2];
    size_t index;
} theta_slice;

static double slice_deviance(double x, void *params)
{
    theta_slice *sl = params;
    sl->theta[sl->index] = x;
    return profiled_deviance(sl->w, sl->theta);
}

/* Brent on [lo, hi] from a point `mid` with f(mid) < f(lo), f(hi). */
static double brent_minimise(theta_slice *sl, double lo, double mid, double hi, double f_lo, double f_mid, double f_hi)
{
    gsl_function fn = {slice_deviance, sl};
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

/* θ[index] ≥ 0 with the other coordinates held: a log grid brackets the minimum, Brent refines; 0 when
 * the deviance rises from the boundary. */
static double optimise_coordinate(lmm_work *w, const double *theta0, size_t index)
{
    enum { GRID = 49 }; /* θ = 0 and 48 points from 1e-4 to 1e4, a factor 1.48 apart */
    theta_slice sl = {.w = w, .theta = {theta0[0], w->q > 1 ? theta0[1] : 0.0}, .index = index};
    double theta[GRID], dev[GRID];
    size_t best = 0;
    for (size_t k = 0; k < GRID; k++) {
        theta[k] = k == 0 ? 0.0 : pow(10.0, -4.0 + 8.0 * (double)(k - 1) / (GRID - 2));
        dev[k] = slice_deviance(theta[k], &sl);
        if (dev[k] < dev[best]) best = k;
    }
    if (best > 0 && best < GRID - 1) {
        if (dev[best] < dev[best - 1] && dev[best] < dev[best + 1])
            return brent_minimise(&sl, theta[best - 1], theta[best], theta[best + 1], dev[best - 1], dev[best],
                                  dev[best + 1]);
        return theta[best];
    }
    if (best == GRID - 1) return theta[best];
    /* best at the boundary: look for an interior dip between 0 and the first grid point */
    for (double x = theta[1] / 2.0; x > 1e-12; x /= 2.0) {
        double fx = slice_deviance(x, &sl);
        if (fx < dev[0] && fx < dev[1]) return brent_minimise(&sl, 0.0, x, theta[1], dev[0], fx, dev[1]);
        if (fx > dev[0]) break;
    }
    return 0.0;
}

static double nm_deviance(const gsl_vector *x, void *params)
{
    double theta[2] = {fabs(gsl_vector_get(x, 0)), fabs(gsl_vector_get(x, 1))}; /* λ = θ²: symmetric in sign */
    return profiled_deviance(params, theta);
}

/* Two variance ratios: Nelder-Mead (GSL nmsimplex2) on (|θ₁|, |θ₂|) from the best point of a coarse grid,
 * then alternating exact 1-D searches until θ stops moving; the boundary faces θ₁ = 0 and θ₂ = 0 (where
 * lme4's bounded optimiser can land) are searched too and the lowest deviance wins. */
static void optimise_theta2(lmm_work *w, double *theta)
{
    static const double grid[] = {0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0};
    enum { NG = sizeof grid / sizeof grid[0] };
    double best_dev = INFINITY, start[2] = {1.0, 1.0};
    for (size_t a = 0; a < NG; a++)
        for (size_t b = 0; b < NG; b++) {
            double t[2] = {grid[a], grid[b]}, dv = profiled_deviance(w, t);
            if (dv < best_dev) best_dev = dv, start[0] = t[0], start[1] = t[1];
        }
    double cand[4][2] = {{start[0], start[1]}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    gsl_multimin_fminimizer *m = gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, 2);
    gsl_vector *x = gsl_vector_alloc(2), *step = gsl_vector_alloc(2);
    if (m && x && step) {
        gsl_multimin_function fn = {nm_deviance, 2, w};
        for (size_t k = 0; k < 2; k++) {
            gsl_vector_set(x, k, start[k]);
            gsl_vector_set(step, k, fmax(0.5 * start[k], 0.05));
        }
        gsl_multimin_fminimizer_set(m, &fn, x, step);
        for (int iter = 0; iter < 5000; iter++) {
            if (gsl_multimin_fminimizer_iterate(m) != GSL_SUCCESS) break;
            if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(m), 1e-11) == GSL_SUCCESS) break;
        }
        cand[0][0] = fabs(gsl_vector_get(m->x, 0));
        cand[0][1] = fabs(gsl_vector_get(m->x, 1));
    }
    if (m) gsl_multimin_fminimizer_free(m);
    if (x) gsl_vector_free(x);
    if (step) gsl_vector_free(step);
    for (int round = 0; round < 50; round++) { /* polish: alternating exact searches */
        double old0 = cand[0][0], old1 = cand[0][1];
        cand[0][0] = optimise_coordinate(w, cand[0], 0);
        cand[0][1] = optimise_coordinate(w, cand[0], 1);
        if (fabs(cand[0][0] - old0) <= 1e-12 * (1.0 + old0) && fabs(cand[0][1] - old1) <= 1e-12 * (1.0 + old1)) break;
    }
    cand[1][1] = optimise_coordinate(w, cand[1], 1); /* θ₁ = 0 */
    cand[2][0] = optimise_coordinate(w, cand[2], 0); /* θ₂ = 0 */
    size_t best = 3;                                 /* (0, 0) */
    double dev_best = profiled_deviance(w, cand[3]);
    for (size_t c = 0; c < 3; c++) {
        double dv = profiled_deviance(w, cand[c]);
        if (dv < dev_best) dev_best = dv, best = c;
    }
    theta[0] = cand[best][0];
    theta[1] = cand[best][1];
}

static void optimise_theta(lmm_work *w, double *theta)
{
    double zero[2] = {0.0, 0.0};
    if (w->q == 1) {
        theta[0] = optimise_coordinate(w, zero, 0);
        theta[1] = 0.0;
    } else {
        optimise_theta2(w, theta);
    }
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

/* The deviance at varpar x = (θ₁[, θ₂], σ). */
static double eval_dev(lmm_work *w, const double *x)
{
    double theta[2] = {x[0], w->q > 1 ? x[1] : 0.0};
    return full_deviance(w, theta, x[w->q]);
}

enum { MAX_VARPAR = 3 };

/* numDeriv-like Hessian of the deviance in varpar (n = q + 1 parameters). */
static void deviance_hessian(lmm_work *w, const double *x, size_t n, double h[MAX_VARPAR][MAX_VARPAR])
{
    double f0 = eval_dev(w, x);
    for (size_t i = 0; i < n; i++) {
        double a[4];
        for (int k = 0; k < 4; k++) {
            double s = step_for(x[i]) / pow(2.0, k), xp[MAX_VARPAR], xm[MAX_VARPAR];
            memcpy(xp, x, n * sizeof *x);
            memcpy(xm, x, n * sizeof *x);
            xp[i] += s;
            xm[i] -= s;
            a[k] = (eval_dev(w, xp) - 2.0 * f0 + eval_dev(w, xm)) / (s * s);
        }
        h[i][i] = richardson(a);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double a[4];
            for (int k = 0; k < 4; k++) {
                double si = step_for(x[i]) / pow(2.0, k), sj = step_for(x[j]) / pow(2.0, k);
                double v[4][MAX_VARPAR];
                for (int c = 0; c < 4; c++) memcpy(v[c], x, n * sizeof *x);
                v[0][i] += si, v[0][j] += sj;
                v[1][i] += si, v[1][j] -= sj;
                v[2][i] -= si, v[2][j] += sj;
                v[3][i] -= si, v[3][j] -= sj;
                a[k] = (eval_dev(w, v[0]) - eval_dev(w, v[1]) - eval_dev(w, v[2]) + eval_dev(w, v[3])) / (4.0 * si * sj);
            }
            h[i][j] = h[j][i] = richardson(a);
        }
}

/* 2 · pseudo-inverse of the symmetric Hessian (eigenvalues below 1e-8 dropped, as lmerTest). */
static int vcov_from_hessian(double h[MAX_VARPAR][MAX_VARPAR], size_t n, double v[MAX_VARPAR][MAX_VARPAR])
{
    gsl_matrix *a = gsl_matrix_alloc(n, n), *vec = gsl_matrix_alloc(n, n);
    gsl_vector *ev = gsl_vector_alloc(n);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(n);
    int rc = -1;
    if (a && vec && ev && ws) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) gsl_matrix_set(a, i, j, h[i][j]);
        rc = gsl_eigen_symmv(a, ev, vec, ws) == GSL_SUCCESS ? 0 : -1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            v[i][j] = 0.0;
            for (size_t e = 0; rc == 0 && e < n; e++) {
                double lam = gsl_vector_get(ev, e);
                if (lam > 1e-8) v[i][j] += 2.0 * gsl_matrix_get(vec, i, e) * gsl_matrix_get(vec, j, e) / lam;
            }
        }
    if (a) gsl_matrix_free(a);
    if (vec) gsl_matrix_free(vec);
    if (ev) gsl_vector_free(ev);
    if (ws) gsl_eigen_symmv_free(ws);
    return rc;
}

static int satterthwaite(lmm_work *w, const double *theta, double sigma, double *df, lr_err *err)
{
    size_t p = w->d->n_fixed, q = w->q, n = q + 1;
    double x[MAX_VARPAR] = {theta[0], q > 1 ? theta[1] : sigma, sigma};
    double h[MAX_VARPAR][MAX_VARPAR], vcov[MAX_VARPAR][MAX_VARPAR];
    deviance_hessian(w, x, n, h);
    if (vcov_from_hessian(h, n, vcov) != 0)
        return lr_fail(err, "lmm: eigen-decomposition of the deviance Hessian failed");
    /* [p] Var β̂, [p] at θ+h, [p] at θ-h, [q*p] ∂/∂θ_j */
    double *var0 = lr_malloc((3 + q) * p, sizeof *var0, err);
    if (!var0) return -1;
    double *var_p = var0 + p, *var_m = var0 + 2 * p, *grad_theta = var0 + 3 * p;
    double th[2] = {theta[0], q > 1 ? theta[1] : 0.0};
    if (beta_var(w, th, sigma, var0) != 0) {
        free(var0);
        return lr_fail(err, "lmm: the fixed-effect columns are collinear");
    }
    for (size_t j = 0; j < q; j++) {
        double a[64][4];
        for (int k = 0; k < 4; k++) {
            double s = step_for(th[j]) / pow(2.0, k), tp[2] = {th[0], th[1]}, tm[2] = {th[0], th[1]};
            tp[j] += s;
            tm[j] -= s;
            if (beta_var(w, tp, sigma, var_p) != 0 || beta_var(w, tm, sigma, var_m) != 0) {
                free(var0);
                return lr_fail(err, "lmm: the fixed-effect columns are collinear near the optimum");
            }
            for (size_t c = 0; c < p; c++) a[c][k] = (var_p[c] - var_m[c]) / (2.0 * s);
        }
        for (size_t c = 0; c < p; c++) grad_theta[j * p + c] = richardson(a[c]);
    }
    for (size_t c = 0; c < p; c++) {
        double g[MAX_VARPAR];
        for (size_t j = 0; j < q; j++) g[j] = grad_theta[j * p + c];
        g[q] = 2.0 * var0[c] / sigma; /* Var = σ² c(θ): ∂/∂σ is exact */
        double quad = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) quad += g[i] * vcov[i][j] * g[j];
        df[c] = 2.0 * var0[c] * var0[c] / quad;
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

    double theta[2];
    optimise_theta(&w, theta);
    double rss, logdet_r, logdet_v;
    if (whitened_ls(&w, theta, &rss, &logdet_r, &logdet_v) != 0) {
        lr_fail(err, "lmm: the fixed-effect columns are collinear");
        goto fail;
    }
    fit->nested = data->nested != NULL;
    fit->lambda = theta[0] * theta[0];
    fit->lambda_nested = theta[1] * theta[1];
    fit->singular = theta[0] == 0.0 || (fit->nested && theta[1] == 0.0);
    fit->sigma2 = rss / residual_dof(&w);
    fit->tau2 = fit->lambda * fit->sigma2;
    fit->tau2_nested = fit->nested ? fit->lambda_nested * fit->sigma2 : NAN;
    fit->loglik = -0.5 * profiled_deviance(&w, theta);
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
    if (fit->nested)
        for (size_t k = 0; k < p; k++) fit->df_containment[k] = NAN; /* one grouping level only */
    else
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
    if (data->nested) return lr_fail(err, "lmm bootstrap: one grouping level only (got a nested level)");
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
    lr_lmm_data resampled = {.n_obs = m, .n_fixed = p, .n_groups = n_units, .y = c->work_y, .X = c->work_X,
                             .group = c->work_group};
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
