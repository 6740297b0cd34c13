#include "runner/merge_survival.h"

#include "data/campaign_schema.h"

#define PATH(d) lr_campaign_datasets[d].path

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "survival/breslow.h"
#include "survival/cox.h"

enum { ROLE_TRAIN = 0, ROLE_TEST = 2 };

int lr_survival_grid_make(const lr_horizons *h, lr_survival_grid *g, lr_err *err)
{
    *g = (lr_survival_grid){.horizons = *h};
    if (h->n < 1) return lr_fail(err, "survival grid: no horizon");
    double last = h->days[h->n - 1];
    size_t cap = (size_t)(last / LR_SURVIVAL_GRID_STEP_DAYS) + (size_t)h->n + 1;
    g->grid = lr_malloc(cap, sizeof *g->grid, err);
    if (!g->grid) return -1;
    size_t k = 0;
    int next = 0; /* merge the regular grid and the horizons */
    for (double t = LR_SURVIVAL_GRID_STEP_DAYS; t <= last + 1e-9 || next < h->n;) {
        double reg = t <= last + 1e-9 ? t : INFINITY, hz = next < h->n ? h->days[next] : INFINITY;
        double v = fmin(reg, hz);
        if (k == 0 || v > g->grid[k - 1]) g->grid[k++] = v;
        if (reg == v) t += LR_SURVIVAL_GRID_STEP_DAYS;
        if (hz == v) next++;
    }
    g->G = k;
    return 0;
}

void lr_survival_grid_free(lr_survival_grid *g)
{
    free(g->grid);
    *g = (lr_survival_grid){0};
}

int lr_survival_from_fold(size_t P, const double *time_days, const int8_t *event, const double *risk,
                          const int8_t *role, int fit_coef, const lr_survival_grid *g, double *coef, double *cumhaz,
                          double *surv, lr_err *err)
{
    *coef = NAN;
    for (size_t k = 0; k < g->G; k++) cumhaz[k] = NAN;
    for (size_t i = 0; i < P * g->G; i++) surv[i] = NAN;
    double *t = lr_malloc(P, sizeof *t, err), *eta = lr_malloc(P, sizeof *eta, err);
    int *e = lr_malloc(P, sizeof *e, err);
    int rc = -1;
    if (!t || !eta || !e) goto done;
    size_t m = 0, events = 0;
    for (size_t p = 0; p < P; p++)
        if (role[p] == ROLE_TRAIN && isfinite(risk[p])) {
            t[m] = time_days[p];
            e[m] = event[p] != 0;
            events += (size_t)e[m];
            eta[m++] = risk[p];
        }
    if (m == 0 || events == 0) {
        rc = lr_fail(err, "Breslow baseline: %zu training patients with %zu events", m, events);
        goto done;
    }
    double beta = 1.0;
    if (fit_coef) { /* a size score is not a log-hazard: its Cox coefficient on the training patients */
        lr_cox_fit fit;
        int fit_rc = lr_cox_fit_model(m, 1, t, e, eta, LR_TIES_EFRON, &fit, err);
        if (fit_rc == 0) beta = fit.beta[0];
        lr_cox_fit_free(&fit);
        if (fit_rc != 0) goto done;
        for (size_t i = 0; i < m; i++) eta[i] *= beta;
    }
    *coef = beta;
    lr_baseline base;
    if (lr_breslow_fit(m, t, e, eta, LR_TIES_EFRON, &base, err) != 0) goto done;
    for (size_t k = 0; k < g->G; k++) {
        if (g->grid[k] > base.last_followup) break; /* undefined: NaN */
        double test_eta[1];
        for (size_t p = 0; p < P; p++) {
            if (role[p] != ROLE_TEST || !isfinite(risk[p])) continue;
            test_eta[0] = beta * risk[p];
            lr_baseline_surv(&base, g->grid[k], 1, test_eta, &surv[p * g->G + k], err);
        }
        lr_baseline_cumhaz(&base, g->grid[k], &cumhaz[k], err);
    }
    lr_baseline_free(&base);
    rc = 0;
done:
    free(t);
    free(eta);
    free(e);
    return rc;
}

/* Independent write of rows [row, row + count[0]) of a float64 dataset. */
static int write_rows(hid_t file, const char *path, int rank, const hsize_t *start, const hsize_t *count,
                      const double *buf, lr_err *err)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return lr_fail(err, "cannot open %s", path);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    int rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                     H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf) < 0
                 ? lr_fail(err, "cannot write %s", path)
                 : 0;
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

int lr_merge_survival_write_grid(hid_t file, const lr_survival_grid *g, lr_err *err)
{
    hsize_t zero = 0, h = (hsize_t)g->horizons.n, G = g->G;
    if (write_rows(file, PATH(LR_CD_SURVIVAL_HORIZONS_DAYS), 1, &zero, &h, g->horizons.days, err)) return -1;
    return write_rows(file, PATH(LR_CD_SURVIVAL_GRID_DAYS), 1, &zero, &G, g->grid, err);
}

int lr_merge_survival_write_job(hid_t file, size_t job, size_t P, const double *time_days, const int8_t *event,
                                const double *risk, const int8_t *role, int fit_coef, const lr_survival_grid *g,
                                lr_err *err)
{
    double coef = NAN, *cumhaz = lr_malloc(g->G, sizeof *cumhaz, err), *surv = lr_malloc(P * g->G, sizeof *surv, err);
    int rc = -1;
    if (!cumhaz || !surv) goto done;
    if (risk && role) {
        lr_err fit_err = {0};
        /* a fold without training events keeps its NaN rows: the report says the metrics are missing */
        (void)lr_survival_from_fold(P, time_days, event, risk, role, fit_coef, g, &coef, cumhaz, surv, &fit_err);
    } else {
        for (size_t k = 0; k < g->G; k++) cumhaz[k] = NAN;
        for (size_t i = 0; i < P * g->G; i++) surv[i] = NAN;
    }
    hsize_t start1 = job, one = 1;
    if (write_rows(file, PATH(LR_CD_SURVIVAL_RISK_COEF), 1, &start1, &one, &coef, err)) goto done;
    hsize_t start2[2] = {job, 0}, count2[2] = {1, g->G}, start3[3] = {job, 0, 0}, count3[3] = {1, P, g->G};
    if (write_rows(file, PATH(LR_CD_SURVIVAL_BASELINE_CUMHAZ), 2, start2, count2, cumhaz, err)) goto done;
    if (write_rows(file, PATH(LR_CD_SURVIVAL_PATIENT_SURV), 3, start3, count3, surv, err)) goto done;
    rc = 0;
done:
    free(cumhaz);
    free(surv);
    return rc;
}
