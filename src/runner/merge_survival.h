/* The campaign file's survival probabilities (issue 13), one clearly delimited block of datasets:
 *
 *   /survival/horizons_days   float64 [H]      report.horizons_days of the experiment
 *   /survival/grid_days       float64 [G]      every 30 days up to the last horizon, plus the horizons
 *   /survival/baseline_cumhaz float64 [J, G]   job j's Breslow H₀(t) fitted on its fold's TRAINING patients
 *                                              with the patient risk as offset (Efron ties, = R's −log S(t |
 *                                              risk = 0) of survfit(coxph(Surv ~ offset(risk)))); NaN beyond
 *                                              the training patients' last follow-up or for a job not ok
 *   /survival/patient_surv    float64 [J, P, G] S(t | risk) = exp(−H₀(t) e^risk) for job j's TEST patients;
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

/* Collective: creates the four datasets. */
int lr_merge_survival_create(hid_t file, size_t J, size_t P, const lr_survival_grid *g, lr_err *err);
/* One rank: the horizons and the grid. */
int lr_merge_survival_write_grid(hid_t file, const lr_survival_grid *g, lr_err *err);
/* Job `job`'s rows. risk/role NULL (a job that is not ok): NaN rows. role: 0 train, 2 test. */
int lr_merge_survival_write_job(hid_t file, size_t job, size_t P, const double *time_days, const int8_t *event,
                                const double *risk, const int8_t *role, const lr_survival_grid *g, lr_err *err);

/* The fitting step alone (also used by tests): H₀ on the grid from the training patients and S for the
 * test patients. cumhaz[G], surv[P*G] (NaN where undefined). */
int lr_survival_from_fold(size_t P, const double *time_days, const int8_t *event, const double *risk,
                          const int8_t *role, const lr_survival_grid *g, double *cumhaz, double *surv, lr_err *err);

#endif
