/* Bootstrap intervals against R's boot (tests/references/survival/boot_*): the estimate and the jackknife
 * acceleration are deterministic and must match tightly; the bootstrap SE, z0 and the percentile/BCa
 * endpoints are compared as distributions (Monte Carlo tolerance), never seed for seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "survival/bootstrap.h"
#include "survival/lmm.h"
#include "util/csv.h"

#define REF_DIR "tests/references/survival/"

static double expected(const lr_csv *ref, const char *key)
{
    for (size_t r = 0; r < ref->n_rows; r++)
        if (!strcmp(lr_csv_cell(ref, r, 0), key)) return strtod(lr_csv_cell(ref, r, 1), NULL);
    CHECK_MSG(0, "reference key '%s' missing", key);
    return NAN;
}

static lr_csv *read_ref(const char *name)
{
    char path[256];
    lr_csv *t = NULL;
    lr_err err = {0};
    snprintf(path, sizeof path, REF_DIR "%s", name);
    if (lr_csv_read(path, &t, &err) != 0) CHECK_MSG(0, "%s", err.msg);
    return t;
}

/* endpoint tolerance in units of the bootstrap SE: with B = 20000 on both sides one endpoint's Monte
 * Carlo SD is about 0.02 SE, so `k` ~ 0.1 is a 4-5 sigma band */
static void compare(const char *what, const lr_boot_result *res, const lr_csv *ref, double k)
{
    double se = expected(ref, "se");
    printf("  %s: estimate %.6f  se %.5f (R %.5f)  perc [%.5f, %.5f] (R [%.5f, %.5f])  bca [%.5f, %.5f] "
           "(R [%.5f, %.5f])  z0 %.4f (R %.4f)  a %.6f (R %.6f)\n",
           what, res->estimate, res->se, se, res->pct_low, res->pct_high, expected(ref, "perc_low"),
           expected(ref, "perc_high"), res->bca_low, res->bca_high, expected(ref, "bca_low"),
           expected(ref, "bca_high"), res->z0, expected(ref, "z0"), res->acceleration,
           expected(ref, "acceleration"));
    CHECK_CLOSE(res->estimate, expected(ref, "estimate"), 1e-12, 1e-9);
    CHECK_CLOSE(res->acceleration, expected(ref, "acceleration"), 1e-10, 1e-7);
    CHECK_CLOSE(res->se, se, 0, 0.05);
    CHECK_CLOSE(res->z0, expected(ref, "z0"), 0.06, 0);
    CHECK_CLOSE(res->pct_low, expected(ref, "perc_low"), k * se, 0);
    CHECK_CLOSE(res->pct_high, expected(ref, "perc_high"), k * se, 0);
    CHECK_CLOSE(res->bca_low, expected(ref, "bca_low"), k * se, 0);
    CHECK_CLOSE(res->bca_high, expected(ref, "bca_high"), k * se, 0);
}

typedef struct {
    size_t n;
    double time[512], risk[512], other[512];
    int event[512];
} lung_data;

static int load_lung(lung_data *d)
{
    lr_csv *t = read_ref("lung.csv");
    lr_err err = {0};
    if (!t) return -1;
    d->n = t->n_rows;
    int ok = d->n <= 512 && lr_csv_column_double(t, "time", d->time, &err) == 0 &&
             lr_csv_column_binary(t, "event", d->event, &err) == 0 &&
             lr_csv_column_double(t, "risk", d->risk, &err) == 0 &&
             lr_csv_column_double(t, "risk_other", d->other, &err) == 0;
    lr_csv_free(t);
    CHECK_MSG(ok, "%s", err.msg);
    return ok ? 0 : -1;
}

static void test_norm_inter(void)
{
    double t[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(lr_boot_norm_inter(t, 9, 0.5) == 5.0);   /* (B+1)·α = 5: an order statistic */
    CHECK(lr_boot_norm_inter(t, 9, 0.01) == 1.0);  /* below the first: the extreme */
    CHECK(lr_boot_norm_inter(t, 9, 0.999) == 9.0);
    double v = lr_boot_norm_inter(t, 9, 0.25);     /* 2.5: between 2 and 3 on the normal scale */
    CHECK(v > 2.0 && v < 3.0);
}

static void test_cindex_bootstrap_matches_r(void)
{
    lung_data *d = malloc(sizeof *d);
    lr_csv *ref = read_ref("boot_cindex_lung_expected.csv"), *ref_diff = read_ref("boot_cindex_diff_lung_expected.csv");
    if (!ref || !ref_diff || load_lung(d) != 0) goto done;
    lr_cindex_boot_ctx ctx;
    lr_err err = {0};
    CHECK(lr_cindex_boot_ctx_init(&ctx, d->n, d->time, d->event, d->risk, d->other, &err) == 0);
    lr_boot_options opt = lr_boot_defaults();
    opt.replicates = (size_t)expected(ref, "B");
    opt.seed = 2024;
    lr_boot_result res, again;
    CHECK_MSG(lr_bootstrap(d->n, lr_boot_stat_cindex, &ctx, &opt, &res, NULL, &err) == 0, "%s", err.msg);
    compare("C-index (lung)", &res, ref, 0.12);
    /* the same stream gives the same answer; another stream a different one */
    opt.replicates = 200;
    CHECK(lr_bootstrap(d->n, lr_boot_stat_cindex, &ctx, &opt, &res, NULL, &err) == 0);
    CHECK(lr_bootstrap(d->n, lr_boot_stat_cindex, &ctx, &opt, &again, NULL, &err) == 0);
    CHECK(res.pct_low == again.pct_low && res.bca_high == again.bca_high);
    opt.ids[0] = 1;
    CHECK(lr_bootstrap(d->n, lr_boot_stat_cindex, &ctx, &opt, &again, NULL, &err) == 0);
    CHECK(res.se != again.se);

    opt = lr_boot_defaults();
    opt.replicates = (size_t)expected(ref_diff, "B");
    opt.seed = 99;
    CHECK_MSG(lr_bootstrap(d->n, lr_boot_stat_cindex_diff, &ctx, &opt, &res, NULL, &err) == 0, "%s", err.msg);
    compare("paired C difference (lung)", &res, ref_diff, 0.12);
    lr_cindex_boot_ctx_free(&ctx);
done:
    lr_csv_free(ref);
    lr_csv_free(ref_diff);
    free(d);
}

static void test_lmm_group_bootstrap_matches_r(void)
{
    lr_csv *ref = read_ref("boot_lmm_sleepstudy_expected.csv"), *in = read_ref("lmm_sleepstudy.csv");
    if (!ref || !in) goto done;
    size_t N = in->n_rows;
    double *y = malloc(N * sizeof *y), *days = malloc(N * sizeof *days), *X = malloc(2 * N * sizeof *X);
    size_t *group = malloc(N * sizeof *group), n_groups = 0;
    lr_err err = {0};
    CHECK(lr_csv_column_double(in, "y", y, &err) == 0 && lr_csv_column_double(in, "days", days, &err) == 0);
    long gcol = lr_csv_column(in, "g", &err);
    for (size_t i = 0; i < N; i++) {
        X[2 * i] = 1.0;
        X[2 * i + 1] = days[i];
        size_t g = 0;
        while (g < i && strcmp(lr_csv_cell(in, g, (size_t)gcol), lr_csv_cell(in, i, (size_t)gcol))) g++;
        group[i] = g == i ? n_groups++ : group[g];
    }
    lr_lmm_data data = {.n_obs = N, .n_fixed = 2, .n_groups = n_groups, .y = y, .X = X, .group = group};
    lr_lmm_boot_ctx ctx;
    CHECK(lr_lmm_boot_ctx_init(&ctx, &data, 1, 1, &err) == 0);
    lr_boot_options opt = lr_boot_defaults();
    opt.replicates = 2000;
    opt.seed = 5;
    lr_boot_result res;
    CHECK_MSG(lr_bootstrap(n_groups, lr_boot_stat_lmm_beta, &ctx, &opt, &res, NULL, &err) == 0, "%s", err.msg);
    /* R used 4000 replicates, we 2000: a wider band */
    compare("LMM slope, group bootstrap (sleepstudy)", &res, ref, 0.25);
    lr_lmm_boot_ctx_free(&ctx);
    free(y);
    free(days);
    free(X);
    free(group);
done:
    lr_csv_free(ref);
    lr_csv_free(in);
}

int main(void)
{
    RUN(test_norm_inter);
    RUN(test_cindex_bootstrap_matches_r);
    RUN(test_lmm_group_bootstrap_matches_r);
    return TEST_SUMMARY();
}
