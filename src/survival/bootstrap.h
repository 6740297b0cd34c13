/* Nonparametric bootstrap over units (patients, or groups for the mixed model) with a statistic callback.
 *
 * Each replicate draws n units with replacement from one GSL stream lr_rng_stream(seed, purpose, ids...)
 * and calls the statistic on the index vector (duplicates included: a unit drawn twice appears twice).
 * Intervals follow R's boot package exactly, so that only Monte Carlo error separates us from
 * boot.ci(..., type = c("perc", "bca"), L = empinf(b, type = "jack")):
 *  - endpoints are order statistics interpolated on the normal scale at (B+1)·α (boot's norm.inter);
 *  - BCa: z0 = Φ⁻¹(#{t* < t̂}/B), acceleration a = Σ L³ / (6 (Σ L²)^{3/2}) with the jackknife
 *    influence values L_i = (n-1)(θ̂ - θ̂_(-i)) (boot's empinf(type = "jack"); centred on the full-data
 *    estimate θ̂, where Efron–Tibshirani centre on the mean of the θ̂_(-i));
 *    α' = Φ(z0 + (z0+z_α)/(1 - a(z0+z_α))).
 * Replicates whose statistic is not finite (e.g. no comparable pair) are dropped, as boot.ci does. */
#ifndef LR_SURVIVAL_BOOTSTRAP_H
#define LR_SURVIVAL_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The statistic on the units units[0..n_units-1] (indices into the caller's data). */
typedef int (*lr_boot_statistic)(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err);

typedef enum { LR_CI_PERCENTILE = 0, LR_CI_BCA = 1 } lr_ci_method;

typedef struct {
    size_t replicates;   /* B (default 2000) */
    double level;        /* two-sided confidence level (default 0.95) */
    uint64_t seed;       /* experiment seed for lr_rng_stream */
    const char *purpose; /* stream purpose (default "bootstrap") */
    int64_t ids[3];      /* stream ids (model, fold, replicate...) */
    int jackknife;       /* 1: compute the acceleration and the BCa interval (n extra statistic calls) */
} lr_boot_options;

/* B = 2000, level 0.95, seed 0, purpose "bootstrap", jackknife on. */
lr_boot_options lr_boot_defaults(void);

typedef struct {
    double estimate;               /* statistic on all units */
    double mean, se, bias;         /* of the finite replicates */
    double pct_low, pct_high;      /* percentile interval */
    double bca_low, bca_high;      /* BCa interval (NaN without jackknife) */
    double z0, acceleration;       /* BCa bias correction and acceleration */
    size_t used;                   /* finite replicates */
} lr_boot_result;

/* replicates[opt->replicates] (may be NULL) receives every replicate in draw order (NaN kept). */
int lr_bootstrap(size_t n_units, lr_boot_statistic statistic, void *ctx, const lr_boot_options *opt,
                 lr_boot_result *out, double *replicates, lr_err *err);

/* R's boot:::norm.inter on sorted finite replicates: the α-quantile interpolated on the normal scale. */
double lr_boot_norm_inter(const double *sorted, size_t n, double alpha);

/* Ready-made statistics on patients. */
typedef struct {
    const double *time, *risk; /* [n] */
    const int *event;          /* [n] */
    const double *risk_other;  /* [n] second model for the paired difference, else NULL */
    double *work_time, *work_risk, *work_other; /* [n] scratch (allocated by lr_cindex_boot_ctx_init) */
    int *work_event;
} lr_cindex_boot_ctx;

int lr_cindex_boot_ctx_init(lr_cindex_boot_ctx *ctx, size_t n, const double *time, const int *event,
                            const double *risk, const double *risk_other, lr_err *err);
void lr_cindex_boot_ctx_free(lr_cindex_boot_ctx *ctx);
/* Harrell's C of risk on the resampled patients. */
int lr_boot_stat_cindex(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err);
/* C(risk) - C(risk_other) on the same resampled patients (paired comparison of two models). */
int lr_boot_stat_cindex_diff(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err);

#endif
