/* Cox proportional hazards regression on a few covariates: h(t | x) = h₀(t) exp(xᵀβ), fitted by
 * Newton–Raphson with step halving from β = 0 on the partial likelihood with Efron (coxph's default) or
 * Breslow ties — R's coxph(Surv(time, event) ~ x1 + ..., ties = ...). Covariates are centred
 * internally (as coxph does; β does not change). Standard errors from the inverse information at β̂,
 * Wald z tests, hazard ratios with exp(β ± z·se) intervals. Stops when |Δ loglik| <= 1e-12·|loglik|
 * (coxph's default is 1e-9; the R references are written with eps = 1e-14). */
#ifndef LR_SURVIVAL_COX_H
#define LR_SURVIVAL_COX_H

#include <stddef.h>

#include "survival/npll.h"
#include "util/err.h"

typedef struct {
    size_t p, iterations;
    int converged;
    double loglik, loglik_null;  /* at β̂ and at β = 0 */
    double *beta, *se;           /* [p] each, one allocation owned by the fit */
} lr_cox_fit;

/* X[n*p] row-major. Fails for no events, non-finite input, or a singular information matrix
 * (a constant covariate, or perfect separation that drives β to infinity). */
int lr_cox_fit_model(size_t n, size_t p, const double *time, const int *event, const double *X, lr_ties ties,
                     lr_cox_fit *fit, lr_err *err);
void lr_cox_fit_free(lr_cox_fit *fit);

#endif
