/* External-validation metrics with bootstrap intervals (survival/bootstrap.h: BCa as R's boot). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "predict/predict.h"
#include "survival/bootstrap.h"
#include "survival/brier.h"
#include "survival/concordance.h"
#include "survival/ipcw.h"

typedef enum { M_HARRELL, M_UNO, M_AUC, M_BRIER, M_IPA } metric_kind;

typedef struct {
    metric_kind kind;
    size_t n;
    const double *time, *risk, *surv; /* [n]; surv: S(t) at this metric's horizon */
    const int *event;
    double t;                         /* horizon (Uno: τ) */
    double *wt, *wr, *ws;             /* [n] scratch */
    int *we;
} metric_ctx;

static int metric_value(const metric_ctx *c, size_t n, const double *time, const int *event, const double *risk,
                        const double *surv, double *value, lr_err *err)
{
    *value = NAN;
    switch (c->kind) {
    case M_HARRELL: {
        lr_concordance cc;
        if (lr_harrell_cindex(n, time, event, risk, &cc, err)) return -1;
        *value = cc.cindex;
        return 0;
    }
    case M_UNO: {
        lr_uno_result u;
        if (lr_uno_cindex(n, time, event, risk, c->t, &u, err)) return -1;
        *value = u.cindex;
        return 0;
    }
    case M_AUC: return lr_auc_cd(n, time, event, risk, 1, &c->t, value, err);
    case M_BRIER:
    case M_IPA: {
        lr_brier_result b;
        if (lr_brier(n, time, event, surv, c->t, &b, err)) return -1;
        *value = c->kind == M_BRIER ? b.brier : b.ipa;
        return 0;
    }
    }
    return 0;
}

/* A resample that fails (e.g. a horizon beyond its last follow-up) is a non-finite replicate, dropped. */
static int boot_stat(const size_t *units, size_t n, void *vctx, double *value, lr_err *err)
{
    metric_ctx *c = vctx;
    for (size_t i = 0; i < n; i++) {
        size_t u = units[i];
        c->wt[i] = c->time[u], c->we[i] = c->event[u], c->wr[i] = c->risk[u], c->ws[i] = c->surv ? c->surv[u] : 0;
    }
    lr_err e = {0};
    if (metric_value(c, n, c->wt, c->we, c->wr, c->ws, value, &e)) *value = NAN;
    return 0;
}

static void add_metric(lr_predict_metrics *out, metric_ctx *c, const char *name, size_t replicates, uint64_t seed,
                       lr_err *err)
{
    size_t m = out->n++;
    snprintf(out->name[m], sizeof out->name[m], "%s", name);
    out->note[m][0] = '\0';
    out->low[m] = out->high[m] = NAN;
    lr_err e = {0};
    if (metric_value(c, c->n, c->time, c->event, c->risk, c->surv, &out->estimate[m], &e)) {
        out->estimate[m] = NAN;
        snprintf(out->note[m], sizeof out->note[m], "%.150s", e.msg);
        return;
    }
    if (!isfinite(out->estimate[m]) || replicates == 0) return;
    lr_boot_options opt = lr_boot_defaults();
    opt.replicates = replicates;
    opt.seed = seed;
    opt.purpose = "predict-bootstrap";
    opt.ids[0] = (int64_t)m;
    lr_boot_result r;
    if (lr_bootstrap(c->n, boot_stat, c, &opt, &r, NULL, &e)) {
        snprintf(out->note[m], sizeof out->note[m], "bootstrap: %.140s", e.msg);
        return;
    }
    out->low[m] = r.bca_low;
    out->high[m] = r.bca_high;
}

int lr_predict_metrics_compute(const lr_cohort *cohort, const double *risk, const double *surv, size_t H,
                               const double *horizons, size_t replicates, uint64_t seed, lr_predict_metrics *out,
                               lr_err *err)
{
    memset(out, 0, sizeof *out);
    size_t P = cohort->n_patients, n = 0;
    double *buf = lr_malloc(7 * (P + 1) + H * (P + 1), sizeof(double), err);
    int *ev = lr_malloc(2 * (P + 1), sizeof(int), err);
    if (!buf || !ev) {
        free(buf);
        free(ev);
        return -1;
    }
    double *t = buf, *r = buf + (P + 1), *s = buf + 7 * (P + 1);
    for (size_t p = 0; p < P; p++) {
        if (!isfinite(risk[p])) continue;
        t[n] = cohort->time_days[p], ev[n] = cohort->event[p], r[n] = risk[p];
        for (size_t h = 0; h < H; h++) s[h * (P + 1) + n] = surv[p * H + h];
        out->events += (size_t)ev[n];
        n++;
    }
    out->patients = n;
    metric_ctx c = {.n = n, .time = t, .risk = r, .event = ev, .wt = buf + 2 * (P + 1), .wr = buf + 3 * (P + 1),
                    .ws = buf + 4 * (P + 1), .we = ev + (P + 1)};
    char name[48];
    c.kind = M_HARRELL;
    add_metric(out, &c, "external_cindex", replicates, seed, err);
    c.kind = M_UNO;
    c.t = H ? horizons[H - 1] : INFINITY;
    add_metric(out, &c, "external_uno_cindex", replicates, seed, err);
    for (size_t h = 0; h < H && out->n + 3 <= LR_PREDICT_MAX_METRICS; h++) {
        c.t = horizons[h];
        c.surv = s + h * (P + 1);
        c.kind = M_AUC;
        snprintf(name, sizeof name, "external_auc_%.0f", horizons[h]);
        add_metric(out, &c, name, replicates, seed, err);
        c.kind = M_BRIER;
        snprintf(name, sizeof name, "external_brier_%.0f", horizons[h]);
        add_metric(out, &c, name, replicates, seed, err);
        c.kind = M_IPA;
        snprintf(name, sizeof name, "external_ipa_%.0f", horizons[h]);
        add_metric(out, &c, name, replicates, seed, err);
        c.surv = NULL;
    }
    free(buf);
    free(ev);
    return 0;
}
