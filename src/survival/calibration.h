/* Calibration of predicted survival probabilities S_i(t) at a horizon t.
 *
 *  - Groups: patients sorted by predicted S (ties in index order) and cut into `bins` groups of equal
 *    size, group k holding sorted positions [⌈k n/B⌉, ⌈(k+1) n/B⌉) (R: floor((rank(S, ties = "first")
 *    − 1) B / n)). Per group: mean predicted S and the Kaplan–Meier S(t) with its Greenwood standard
 *    error and log-scale interval (survfit's default conf.type = "log"). A group whose last follow-up is
 *    before t has NaN observed values (survfit cannot say; documented, not extrapolated).
 *  - Slope and intercept on the complementary log-log scale: with c_i = log(−log S_i(t)) the model
 *    H(t | c) = H₀(t) exp(β c) (coxph(Surv(time, event) ~ c), Efron ties) gives the calibration line
 *    log H_obs(t) = log H₀(t) + β·log H_pred(t): slope β (1 ideal; Crowson 2016, Austin 2020) and
 *    intercept log H₀(t) from basehaz(centered = FALSE) (0 ideal).
 *  - ICI, E50, E90 (Austin, Harrell & van Klaveren 2020): the smoothed observed S_obs,i(t) from
 *    coxph(Surv ~ rcs(c, 3)) with knots at the 10th/50th/90th percentiles of c (quantile type 7; Hmisc's
 *    default for 3 knots without its small-sample and tie adjustments), ICI = mean |S_i − S_obs,i|,
 *    E50/E90 its median/90th percentile (type 7). coxph in place of rms::cph, same fit.
 * Errors: t beyond the last follow-up, no event at or before t, a predicted S outside (0, 1) (the
 * log-log scale needs 0 < S < 1), fewer than 2 patients per group. */
#ifndef LR_SURVIVAL_CALIBRATION_H
#define LR_SURVIVAL_CALIBRATION_H

#include <stddef.h>

#include "util/err.h"

typedef struct {
    size_t bins;
    size_t *bin_n;                                /* [bins] */
    double *pred, *obs, *obs_se, *obs_lower, *obs_upper; /* [bins] each; one allocation with bin_n */
    double slope, slope_se, intercept;
    double ici, e50, e90;
    double knots[3];
} lr_calibration;

/* surv[n] predicted S_i(t); level: two-sided level of the per-group intervals. smooth_obs[n] (may be
 * NULL) receives S_obs,i(t) of the spline model, for drawing the calibration curve. */
int lr_calibration_at(size_t n, const double *time, const int *event, const double *surv, double t, size_t bins,
                      double level, lr_calibration *out, double *smooth_obs, lr_err *err);
void lr_calibration_free(lr_calibration *c);

/* Slope and intercept alone (the first half of lr_calibration_at; same errors except the group size). */
int lr_calibration_slope(size_t n, const double *time, const int *event, const double *surv, double t,
                         double *slope, double *slope_se, double *intercept, lr_err *err);

/* R's rcspline.eval(x, knots, inclx = TRUE, norm = 2) for 3 knots: basis[0] = x, basis[1] = the
 * non-linear term. */
void lr_rcs3_basis(double x, const double knots[3], double basis[2]);

#endif
