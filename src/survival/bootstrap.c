#include "survival/bootstrap.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdlib.h>

#include "survival/concordance.h"
#include "util/rng.h"

lr_boot_options lr_boot_defaults(void)
{
    return (lr_boot_options){.replicates = 2000, .level = 0.95, .seed = 0, .purpose = "bootstrap",
                             .ids = {0, 0, 0}, .jackknife = 1};
}

double lr_boot_norm_inter(const double *sorted, size_t n, double alpha)
{
    if (n == 0) return NAN;
    double rank = (double)(n + 1) * alpha;
    double k_real = trunc(rank);
    if (k_real <= 0.0) return sorted[0];
    if (k_real >= (double)n) return sorted[n - 1];
    size_t k = (size_t)k_real; /* 1-based order statistic */
    if (k_real == rank) return sorted[k - 1];
    double z = gsl_cdf_ugaussian_Pinv(alpha);
    double z_k = gsl_cdf_ugaussian_Pinv((double)k / (double)(n + 1));
    double z_k1 = gsl_cdf_ugaussian_Pinv((double)(k + 1) / (double)(n + 1));
    return sorted[k - 1] + (z - z_k) / (z_k1 - z_k) * (sorted[k] - sorted[k - 1]);
}

/* Jackknife acceleration: a = Σ L³ / (6 (Σ L²)^{3/2}), L_i = (n-1)(θ̂ - θ̂_(-i)) as boot's empinf(type =
 * "jack") (boot:::usual.jack centres on the full-data estimate, not on the mean of the θ̂_(-i)). */
static int jackknife_acceleration(size_t n, double estimate, lr_boot_statistic statistic, void *ctx,
                                  double *accel, lr_err *err)
{
    size_t *units = lr_malloc(n, sizeof *units, err);   /* [n-1] all but one */
    double *leave_out = lr_malloc(n, sizeof *leave_out, err); /* [n] θ_(-i) */
    int rc = -1;
    if (!units || !leave_out) goto done;
    for (size_t i = 0; i < n; i++) {
        size_t m = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i) units[m++] = j;
        if (statistic(units, m, ctx, &leave_out[i], err) != 0) goto done;
    }
    double s2 = 0.0, s3 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double l = (double)(n - 1) * (estimate - leave_out[i]);
        s2 += l * l;
        s3 += l * l * l;
    }
    *accel = s2 > 0.0 ? s3 / (6.0 * pow(s2, 1.5)) : 0.0;
    rc = 0;
done:
    free(units);
    free(leave_out);
    return rc;
}

int lr_bootstrap(size_t n_units, lr_boot_statistic statistic, void *ctx, const lr_boot_options *opt,
                 lr_boot_result *out, double *replicates, lr_err *err)
{
    *out = (lr_boot_result){NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0};
    if (n_units < 2) return lr_fail(err, "bootstrap: need at least 2 units, got %zu", n_units);
    if (opt->replicates < 2) return lr_fail(err, "bootstrap: need at least 2 replicates");
    if (!(opt->level > 0.0 && opt->level < 1.0)) return lr_fail(err, "bootstrap: level must be in (0, 1)");
    size_t B = opt->replicates;
    size_t *units = lr_malloc(n_units, sizeof *units, err); /* [n_units] */
    double *t = lr_malloc(B, sizeof *t, err);              /* [B] finite replicates, sorted later */
    gsl_rng *rng = lr_rng_stream(opt->seed, opt->purpose ? opt->purpose : "bootstrap", opt->ids[0],
                                 opt->ids[1], opt->ids[2]);
    int rc = -1;
    if (!units || !t) goto done;
    if (!rng) {
        lr_fail(err, "bootstrap: out of memory for the RNG");
        goto done;
    }
    for (size_t i = 0; i < n_units; i++) units[i] = i;
    if (statistic(units, n_units, ctx, &out->estimate, err) != 0) goto done;

    size_t used = 0;
    for (size_t b = 0; b < B; b++) {
        for (size_t i = 0; i < n_units; i++) units[i] = gsl_rng_uniform_int(rng, n_units);
        double value;
        if (statistic(units, n_units, ctx, &value, err) != 0) goto done;
        if (replicates) replicates[b] = value;
        if (isfinite(value)) t[used++] = value;
    }
    out->used = used;
    if (used < 2) {
        lr_fail(err, "bootstrap: fewer than 2 replicates gave a finite statistic");
        goto done;
    }
    gsl_sort(t, 1, used);
    double sum = 0.0, below = 0.0;
    for (size_t b = 0; b < used; b++) {
        sum += t[b];
        below += t[b] < out->estimate;
    }
    out->mean = sum / (double)used;
    double ss = 0.0;
    for (size_t b = 0; b < used; b++) ss += (t[b] - out->mean) * (t[b] - out->mean);
    out->se = sqrt(ss / (double)(used - 1));
    out->bias = out->mean - out->estimate;

    double alpha_low = (1.0 - opt->level) / 2.0, alpha_high = (1.0 + opt->level) / 2.0;
    out->pct_low = lr_boot_norm_inter(t, used, alpha_low);
    out->pct_high = lr_boot_norm_inter(t, used, alpha_high);
    if (opt->jackknife) {
        out->z0 = gsl_cdf_ugaussian_Pinv(below / (double)used);
        if (!isfinite(out->z0)) {
            lr_fail(err, "bootstrap: BCa bias correction is infinite (every replicate on one side of the estimate)");
            goto done;
        }
        if (jackknife_acceleration(n_units, out->estimate, statistic, ctx, &out->acceleration, err) != 0) goto done;
        double ends[2] = {alpha_low, alpha_high}, adjusted[2];
        for (int e = 0; e < 2; e++) {
            double z = out->z0 + gsl_cdf_ugaussian_Pinv(ends[e]);
            adjusted[e] = gsl_cdf_ugaussian_P(out->z0 + z / (1.0 - out->acceleration * z));
        }
        out->bca_low = lr_boot_norm_inter(t, used, adjusted[0]);
        out->bca_high = lr_boot_norm_inter(t, used, adjusted[1]);
    }
    rc = 0;
done:
    free(units);
    free(t);
    if (rng) gsl_rng_free(rng);
    return rc;
}

int lr_cindex_boot_ctx_init(lr_cindex_boot_ctx *ctx, size_t n, const double *time, const int *event,
                            const double *risk, const double *risk_other, lr_err *err)
{
    *ctx = (lr_cindex_boot_ctx){.time = time, .event = event, .risk = risk, .risk_other = risk_other};
    ctx->work_time = lr_malloc(n, sizeof *ctx->work_time, err);
    ctx->work_risk = lr_malloc(n, sizeof *ctx->work_risk, err);
    ctx->work_event = lr_malloc(n, sizeof *ctx->work_event, err);
    ctx->work_other = risk_other ? lr_malloc(n, sizeof *ctx->work_other, err) : NULL;
    if (!ctx->work_time || !ctx->work_risk || !ctx->work_event || (risk_other && !ctx->work_other)) {
        lr_cindex_boot_ctx_free(ctx);
        return -1;
    }
    return 0;
}

void lr_cindex_boot_ctx_free(lr_cindex_boot_ctx *ctx)
{
    free(ctx->work_time);
    free(ctx->work_risk);
    free(ctx->work_event);
    free(ctx->work_other);
    ctx->work_time = ctx->work_risk = ctx->work_other = NULL;
    ctx->work_event = NULL;
}

static void gather_patients(lr_cindex_boot_ctx *c, const size_t *units, size_t n_units)
{
    for (size_t k = 0; k < n_units; k++) {
        size_t i = units[k];
        c->work_time[k] = c->time[i];
        c->work_event[k] = c->event[i];
        c->work_risk[k] = c->risk[i];
        if (c->risk_other) c->work_other[k] = c->risk_other[i];
    }
}

int lr_boot_stat_cindex(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err)
{
    lr_cindex_boot_ctx *c = ctx;
    gather_patients(c, units, n_units);
    lr_concordance conc;
    if (lr_harrell_cindex(n_units, c->work_time, c->work_event, c->work_risk, &conc, err) != 0) return -1;
    *value = conc.cindex;
    return 0;
}

int lr_boot_stat_cindex_diff(const size_t *units, size_t n_units, void *ctx, double *value, lr_err *err)
{
    lr_cindex_boot_ctx *c = ctx;
    if (!c->risk_other) return lr_fail(err, "bootstrap: paired C-index difference needs a second risk");
    gather_patients(c, units, n_units);
    lr_concordance a, b;
    if (lr_harrell_cindex(n_units, c->work_time, c->work_event, c->work_risk, &a, err) != 0) return -1;
    if (lr_harrell_cindex(n_units, c->work_time, c->work_event, c->work_other, &b, err) != 0) return -1;
    *value = a.cindex - b.cindex;
    return 0;
}
