/* The campaign file's survival probabilities (issue 13), one clearly delimited block of datasets:
 *
 *   /survival/horizons_days   float64 [H]      report.horizons_days of the experiment
 *   /survival/grid_days       float64 [G]      every 30 days up to the last horizon, plus the horizons
 *   /survival/risk_coef       float64 [J]      β: the linear predictor is η = β·risk. 1 for learned models
 *                                              (their risk is a log-hazard, trained by NPLL: an offset); for
 *                                              the size baselines (a volume, a count: not a log-hazard) β is
 *                                              coxph(Surv ~ risk) on the fold's TRAINING patients (Efron)
 *   /survival/baseline_cumhaz float64 [J, G]   job j's Breslow H₀(t) fitted on its fold's TRAINING patients
 *                                              with η as offset (Efron ties, = R's −log S(t | η = 0) of
 *                                              survfit(coxph(Surv ~ offset(η)))); NaN beyond the training
 *                                              patients' last follow-up or for a job not ok
 *   /survival/patient_surv    float64 [J, P, G] S(t | η) = exp(−H₀(t) e^η) for job j's TEST patients;
 *                                              NaN for every other patient
 *
 * Written by the merge (every input is already there: the cohort's times and events, each job's patient
 * risks and roles), so shards do not change. Create is collective; each rank writes its own jobs' rows. */
#ifndef LR_RUNNER_MERGE_SURVIVAL_H
#define LR_RUNNER_MERGE_SURVIVAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "runner/config.h"
#include "util/err.h"

#define LR_SURVIVAL_GRID_STEP_DAYS 30.0

typedef struct {
    size_t G;
    double *grid; /* [G] increasing */
    lr_horizons horizons;
} lr_survival_grid;

int lr_survival_grid_make(const lr_horizons *h, lr_survival_grid *g, lr_err *err);
void lr_survival_grid_free(lr_survival_grid *g);

/* One rank: the horizons and the grid. */
int lr_merge_survival_write_grid(hid_t file, const lr_survival_grid *g, lr_err *err);
/* Job `job`'s rows. risk/role NULL (a job that is not ok): NaN rows. role: 0 train, 2 test. fit_coef: 0 for
 * a learned model (β = 1), 1 for a size baseline (β fitted on the training patients). */
int lr_merge_survival_write_job(hid_t file, size_t job, size_t P, const double *time_days, const int8_t *event,
                                const double *risk, const int8_t *role, int fit_coef, const lr_survival_grid *g,
                                lr_err *err);

/* The fitting step alone (also used by tests): β (1, or fitted when fit_coef), H₀ on the grid from the
 * training patients and S for the test patients. cumhaz[G], surv[P*G] (NaN where undefined). */
int lr_survival_from_fold(size_t P, const double *time_days, const int8_t *event, const double *risk,
                          const int8_t *role, int fit_coef, const lr_survival_grid *g, double *coef, double *cumhaz,
                          double *surv, lr_err *err);

#endif
