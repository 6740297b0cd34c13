/* Random-intercept linear mixed model  y = Xβ + u_group + ε,  u ~ N(0, τ²), ε ~ N(0, σ²).
 *
 * Fit by profiling the variance ratio λ = τ²/σ²: for a given λ, V_g = σ²(I + λJ) has the closed-form
 * inverse σ⁻²(I − λ/(1+n_gλ)·J), so whitening a group is y* = y − (1 − 1/√(1+n_gλ))·ȳ_g (same for X),
 * β̂ is ordinary least squares of y* on X* (GSL QR) and σ̂² = RSS/(N−p) (REML) or RSS/N (ML).
 * The profiled deviance is minimised over θ = √λ (lme4's parameter) with a grid then
 * gsl_min_fminimizer_brent; θ = 0 (a singular fit) is accepted when the deviance rises from the boundary.
 *
 * Reported like R: loglik = lme4's logLik (REML criterion for REML fits); standard errors from
 * σ̂²(X*ᵀX*)⁻¹; denominator degrees of freedom both by Satterthwaite (as lmerTest: Hessian of the
 * deviance in (θ, σ) and gradient of Var β̂_k, by Richardson-extrapolated central differences) and by
 * containment (as nlme::getFixDF: columns constant within every group are between-group effects with
 * df = G − (between-group columns + 1); the others have df = N − G − within columns; the intercept gets
 * the larger of the two). p-values from Student t with the lme4 standard error: two-sided, and one-sided
 * for the alternative β > 0. For ML fits nlme's summary() inflates SEs by √(N/(N−p)) unless
 * adjustSigma = FALSE; our containment p-values equal nlme's with adjustSigma = FALSE.
 * Singular fits (θ̂ = 0) report tau2 = 0 and singular = 1; Satterthwaite then uses a pseudo-inverse of
 * the deviance Hessian as lmerTest does. Groups of size 1 are allowed.
 *
 * Nested random intercepts y = Xβ + u_group + v_nested + ε (lme4: (1 | g) + (1 | g:n)), v ~ N(0, τ²_nested):
 * the same profiling with θ = (√λ, √λ_nested), whitened in closed form per group (see whiten_nested in
 * lmm.c), θ̂ by Nelder-Mead then alternating 1-D searches (and the boundary faces), Satterthwaite df from
 * the 3 x 3 deviance Hessian in (θ₁, θ₂, σ) as lmerTest. Containment df are NaN for nested fits (nlme's rule
 * for several levels is not implemented); the group bootstrap is one-level only. */
#ifndef LR_SURVIVAL_LMM_H
#define LR_SURVIVAL_LMM_H

#include <stddef.h>

#include "util/err.h"

typedef struct {
    size_t n_obs, n_fixed, n_groups;
    const double *y;     /* [n_obs] */
    const double *X;     /* [n_obs * n_fixed] row-major; include a column of ones for an intercept */
    const size_t *group; /* [n_obs] group index in 0..n_groups-1, every group non-empty */
    /* optional nested level (patient:lesion): NULL for one level. [n_obs] index in 0..n_nested-1, every
     * nested group non-empty and inside one group */
    size_t n_nested;
    const size_t *nested;
} lr_lmm_data;

typedef struct {
    size_t n_fixed;
    int reml;         /* 1 REML, 0 ML */
    int singular;     /* 1 when λ̂ = 0 (τ̂² = 0), or λ̂_nested = 0 */
    int nested;       /* fitted with the nested level */
    double lambda, tau2, sigma2, loglik;
    double lambda_nested, tau2_nested; /* the nested level's variance (NaN without one) */
    /* [n_fixed] each, carved from one allocation owned by the fit */
    double *beta, *se, *tstat;
    double *df_satterthwaite, *p_satterthwaite, *p_one_sided_satterthwaite;
    double *df_containment, *p_containment, *p_one_sided_containment;
} lr_lmm_fit;

/* Fits the model; fit must be freed with lr_lmm_fit_free (also after failure). */
int lr_lmm_fit_model(const lr_lmm_data *data, int reml, lr_lmm_fit *fit, lr_err *err);
void lr_lmm_fit_free(lr_lmm_fit *fit);

/* Likelihood-ratio test of β_drop = 0: both models fitted by ML, χ²₁. */
int lr_lmm_lrt(const lr_lmm_data *data, size_t drop, double *statistic, double *p_value, lr_err *err);

/* Group bootstrap of one coefficient: resampled groups become distinct groups. */
typedef struct {
    const lr_lmm_data *data;
    size_t coefficient;
    int reml;
    size_t *group_start, *group_obs; /* CSR: observations of group g are group_obs[group_start[g]..[g+1]) */
    double *work_y, *work_X;         /* [n_groups*max_size] and [.. * n_fixed] scratch */
    size_t *work_group;
    size_t max_group;
} lr_lmm_boot_ctx;

int lr_lmm_boot_ctx_init(lr_lmm_boot_ctx *ctx, const lr_lmm_data *data, size_t coefficient, int reml, lr_err *err);
void lr_lmm_boot_ctx_free(lr_lmm_boot_ctx *ctx);
int lr_boot_stat_lmm_beta(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err);

#endif
