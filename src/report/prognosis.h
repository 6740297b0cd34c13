/* The prognosis section of the report (issue 13): for every Table 2 row (learned models and the size
 * baselines), out-of-fold discrimination, accuracy and calibration at the campaign's horizons
 * (/survival/horizons_days, config report.horizons_days), each with the stratified patient bootstrap of
 * Table 2 (resampling within test folds, BCa with the stratified jackknife) and the paired difference to
 * Proposed on the same resampled patients.
 *
 * What is pooled how:
 *  - Uno's C(τ) (τ = the last horizon) and td-AUC(t) use risks, which are on a different scale in every
 *    fold: like Table 2, the statistic is the mean over folds of the fold's value (never a C across folds).
 *  - Brier, IPA, IBS (to τ, on the 30-day grid) and the calibration slope use the survival probabilities of
 *    the campaign file (fold-training Breslow baseline of β·risk; β = 1 for learned models, the training
 *    Cox coefficient for the size baselines): probabilities share one scale, so they are pooled
 *    over every out-of-fold patient. A fold whose baseline stops before a time (its training follow-up
 *    ends earlier) is left out at that time, and the table says so.
 *  - Replicates of a (model, fold) are averaged per patient (risk, and S on the grid).
 * Risk groups: a test patient is high risk when its risk exceeds the median risk of its fold's TRAINING
 * patients (no test information); the groups are compared by Kaplan–Meier, the log-rank test and a Cox
 * hazard ratio (Efron ties, Wald interval). */
#ifndef LR_REPORT_PROGNOSIS_H
#define LR_REPORT_PROGNOSIS_H

#include <stddef.h>

#include "report/report.h"
#include "report/results.h"
#include "util/err.h"

#define LR_PROG_MAX_HORIZONS 8
#define LR_PROG_MAX_METRICS (2 + 4 * LR_PROG_MAX_HORIZONS)

typedef enum { LR_PM_UNO = 0, LR_PM_AUC, LR_PM_BRIER, LR_PM_IPA, LR_PM_IBS, LR_PM_SLOPE } lr_prog_kind;

typedef struct {
    lr_prog_kind kind;
    size_t horizon;  /* index into horizons (UNO and IBS: the last) */
    char key[32];    /* "brier_365" — prognosis.csv's metric column */
    char label[48];  /* "Brier (365 d)" */
} lr_prog_metric;

typedef struct {
    double est, low, high;           /* estimate and BCa interval */
    double diff, diff_low, diff_high;/* minus Proposed, same resampled patients */
} lr_prog_cell;

typedef struct {
    const char *model, *label;
    int present;                       /* has out-of-fold values in at least one fold */
    lr_prog_cell cell[LR_PROG_MAX_METRICS];
    /* risk groups (training-median split) */
    size_t n_high, n_low;
    double logrank_chisq, logrank_p, hr, hr_low, hr_high;
} lr_prog_row;

typedef struct {
    size_t H;
    double horizons[LR_PROG_MAX_HORIZONS];
    double tau;
    size_t M;
    lr_prog_metric metric[LR_PROG_MAX_METRICS];
    lr_prog_row rows[LR_TABLE2_ROWS];
    size_t n_test;                      /* out-of-fold patients */
    size_t folds_left_out[LR_PROG_MAX_HORIZONS]; /* (row, fold) pairs without S at a horizon */
    size_t replicates;
    double level;
} lr_prognosis;

/* Needs c->has_survival. t gives the rows (models, labels) and the bootstrap options. */
int lr_prognosis_compute(const lr_results *c, const lr_table2 *t, lr_prognosis *p, lr_err *err);
/* prognosis.md, prognosis.csv, data/prognosis_patients.csv, the figure data (data/calibration.csv,
 * km_risk_groups.csv, td_auc.csv, decision_curve.csv) and the four figures. */
int lr_prognosis_write(const lr_results *c, const lr_prognosis *p, lr_plotter *pl, const char *dir, lr_err *err);

/* Net benefit at threshold pt of treating patients with predicted risk 1 − S(t) >= pt, the survival
 * version of Vickers et al. (2008): NB = P(treated)·(1 − KM_treated(t)) − P(treated)·KM_treated(t)·pt/(1 − pt).
 * surv = NULL: treat all. NaN when the treated group's follow-up ends before t. */
double lr_net_benefit(size_t n, const double *time, const int *event, const double *surv, double t, double pt,
                      lr_err *err);

#endif
