/* lesionrank stats cindex|npll|uno|auc|lmm|bench FILE.csv (km|breslow|brier|ibs|cox|calibration: cmd_stats_prognosis.c) [options]: survival statistics on a CSV file,
 * printed as key: value lines (%.17g, so values round-trip exactly). */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "survival/bootstrap.h"
#include "survival/concordance.h"
#include "survival/ipcw.h"
#include "survival/lmm.h"
#include "survival/npll.h"
#include "survival/stats.h"
#include "util/cli.h"
#include "util/csv.h"
#include "util/rng.h"
#include "verbs.h"

#define VERB "stats"

static const char *const stats_usage =
    "usage: lesionrank stats <sub-command> FILE.csv [options]   (columns are found by header name)\n"
    "  cindex FILE --time T --event E --risk R [--compare R2] [--bootstrap B --seed S --ci percentile|bca --level 0.95]\n"
    "  npll   FILE --time T --event E --risk R [--ties breslow|efron]\n"
    "  uno    FILE --time T --event E --risk R [--tau X]\n"
    "  auc    FILE --time T --event E --risk R --at t1[,t2...]\n"
    "  lmm    FILE --response Y --group G [--nested N] --fixed X1[,X2...] [--ml] [--test X1] [--df satterthwaite|containment]\n"
    "  km     FILE --time T --event E [--group G] [--at t1,...]       Kaplan-Meier, Greenwood, log-rank\n"
    "  breslow FILE --time T --event E --risk R --at t1,...          baseline cumulative hazard (risk as offset)\n"
    "  brier  FILE --time T --event E --surv S --at t                IPCW Brier score, KM null model, IPA\n"
    "  ibs    FILE --time T --event E --surv S1,...,Sm --at t1,...,tm integrated Brier score\n"
    "  cox    FILE --time T --event E --covariate X                  Cox regression: coef, hr, CI, Wald p\n"
    "  calibration FILE --time T --event E --surv S --at t [--bins 5] calibration groups, slope, ICI\n"
    "  bench  timing of the C-index (1e5, 1e6 patients) and of a B=2000 bootstrap on 258 patients\n"
    "Output: key: value lines. Exit 0 ok, 1 bad input, 2 usage error. 'lesionrank stats SUB --help' for details.\n";

/* ---- shared input handling ---- */

typedef struct {
    const char *time, *event, *risk;
} survival_columns;

typedef struct {
    size_t n;
    double *time, *risk, *risk_other; /* [n] */
    int *event;                       /* [n] */
} survival_input;

static void survival_input_free(survival_input *in)
{
    free(in->time);
    free(in->risk);
    free(in->risk_other);
    free(in->event);
    memset(in, 0, sizeof *in);
}

/* Reads time/event/risk (and optionally a second risk); times must be >= 0. */
static int load_survival(const char *path, const survival_columns *cols, const char *other_risk,
                         survival_input *in, lr_err *err)
{
    memset(in, 0, sizeof *in);
    lr_csv *table = NULL;
    if (lr_csv_read(path, &table, err) != 0) return -1;
    size_t n = table->n_rows;
    in->n = n;
    in->time = lr_malloc(n, sizeof *in->time, err);
    in->risk = lr_malloc(n, sizeof *in->risk, err);
    in->event = lr_malloc(n, sizeof *in->event, err);
    if (other_risk) in->risk_other = lr_malloc(n, sizeof *in->risk_other, err);
    if (!in->time || !in->risk || !in->event || (other_risk && !in->risk_other)) goto fail;
    LR_TRY(lr_csv_column_double(table, cols->time, in->time, err));
    LR_TRY(lr_csv_column_binary(table, cols->event, in->event, err));
    LR_TRY(lr_csv_column_double(table, cols->risk, in->risk, err));
    if (other_risk) LR_TRY(lr_csv_column_double(table, other_risk, in->risk_other, err));
    long time_col = lr_csv_column(table, cols->time, err);
    for (size_t r = 0; r < n; r++)
        if (in->time[r] < 0.0) {
            lr_fail(err, "%s:%zu: column '%s' (column %ld): negative time %s", path, table->row_line[r],
                    cols->time, time_col + 1, lr_csv_cell(table, r, (size_t)time_col));
            goto fail;
        }
    lr_csv_free(table);
    return 0;
fail:
    lr_csv_free(table);
    survival_input_free(in);
    return -1;
}

static void print_double(const char *key, double v)
{
    printf("%s: %.17g\n", key, v);
}

/* Parses the common --time/--event/--risk options; returns 1 if handled, 0 if not ours. */
static int survival_option(int c, survival_columns *cols)
{
    switch (c) {
    case 't': cols->time = optarg; return 1;
    case 'e': cols->event = optarg; return 1;
    case 'r': cols->risk = optarg; return 1;
    default: return 0;
    }
}

static int need_file_and_columns(const char *sub, int argc, char **argv, const survival_columns *cols,
                                 const char **file)
{
    char verb[64];
    snprintf(verb, sizeof verb, VERB " %s", sub);
    if (optind >= argc) return lr_usage_error(verb, "missing FILE.csv");
    if (optind + 1 < argc) return lr_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    if (!cols->time || !cols->event || !cols->risk)
        return lr_usage_error(verb, "--time, --event and --risk are required");
    *file = argv[optind];
    return 0;
}

#define SURVIVAL_LONG_OPTIONS                                                                      \
    {"time", required_argument, NULL, 't'}, {"event", required_argument, NULL, 'e'},               \
        {"risk", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}

/* ---- cindex ---- */

static int stats_cindex(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats cindex FILE.csv --time T --event E --risk R [options]\n"
        "  Harrell's C (R survival::concordance conventions; higher risk = shorter survival).\n"
        "  --compare R2        second risk column: also C of R2 and the paired difference C(R) - C(R2)\n"
        "  --bootstrap B       bootstrap over patients with B replicates (0 = none; default 0)\n"
        "  --seed S            bootstrap seed (default 0)\n"
        "  --ci percentile|bca interval type (default percentile)\n"
        "  --level L           confidence level (default 0.95)\n"
        "  prints cindex, concordant, discordant, tied_risk, comparable[, ci_low, ci_high, bootstrap_se]\n";
    static const struct option options[] = {SURVIVAL_LONG_OPTIONS,
                                            {"compare", required_argument, NULL, 'c'},
                                            {"bootstrap", required_argument, NULL, 'B'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"ci", required_argument, NULL, 'C'},
                                            {"level", required_argument, NULL, 'l'},
                                            {NULL, 0, NULL, 0}};
    const char *sub = VERB " cindex";
    survival_columns cols = {0};
    const char *compare = NULL, *file = NULL;
    long replicates = 0, seed = 0;
    lr_ci_method method = LR_CI_PERCENTILE;
    double level = 0.95;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (survival_option(c, &cols)) continue;
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'c': compare = optarg; break;
        case 'B':
            if (lr_parse_long(optarg, 0, 100000000, &replicates) != 0 || replicates == 1)
                return lr_usage_error(sub, "--bootstrap wants 0 or an integer >= 2, got '%s'", optarg);
            break;
        case 's':
            if (lr_parse_long(optarg, 0, INT64_MAX, &seed) != 0)
                return lr_usage_error(sub, "--seed wants a non-negative integer, got '%s'", optarg);
            break;
        case 'C':
            if (!strcmp(optarg, "percentile")) method = LR_CI_PERCENTILE;
            else if (!strcmp(optarg, "bca")) method = LR_CI_BCA;
            else return lr_usage_error(sub, "--ci wants percentile or bca, got '%s'", optarg);
            break;
        case 'l':
            if (lr_parse_double(optarg, &level) != 0 || !(level > 0.0 && level < 1.0))
                return lr_usage_error(sub, "--level wants a number in (0, 1), got '%s'", optarg);
            break;
        default: return lr_usage_error(sub, "unknown option");
        }
    }
    int rc = need_file_and_columns("cindex", argc, argv, &cols, &file);
    if (rc) return rc;
    lr_err err = {0};
    survival_input in;
    if (load_survival(file, &cols, compare, &in, &err) != 0) return lr_runtime_error(sub, "%s", err.msg);
    lr_concordance conc, conc_other;
    lr_cindex_boot_ctx ctx = {0};
    if (lr_harrell_cindex(in.n, in.time, in.event, in.risk, &conc, &err) != 0) goto fail;
    print_double("cindex", conc.cindex);
    printf("concordant: %lld\ndiscordant: %lld\ntied_risk: %lld\ncomparable: %lld\n", (long long)conc.concordant,
           (long long)conc.discordant, (long long)conc.tied_risk, (long long)conc.comparable);
    if (compare) {
        if (lr_harrell_cindex(in.n, in.time, in.event, in.risk_other, &conc_other, &err) != 0) goto fail;
        print_double("cindex_compare", conc_other.cindex);
        print_double("cindex_diff", conc.cindex - conc_other.cindex);
    }
    if (replicates > 0) {
        if (lr_cindex_boot_ctx_init(&ctx, in.n, in.time, in.event, in.risk, in.risk_other, &err) != 0) goto fail;
        lr_boot_options opt = lr_boot_defaults();
        opt.replicates = (size_t)replicates;
        opt.seed = (uint64_t)seed;
        opt.level = level;
        opt.jackknife = method == LR_CI_BCA;
        lr_boot_result res;
        if (lr_bootstrap(in.n, lr_boot_stat_cindex, &ctx, &opt, &res, NULL, &err) != 0) goto fail;
        print_double("ci_low", method == LR_CI_BCA ? res.bca_low : res.pct_low);
        print_double("ci_high", method == LR_CI_BCA ? res.bca_high : res.pct_high);
        print_double("bootstrap_se", res.se);
        printf("bootstrap_used: %zu\n", res.used);
        if (compare) {
            opt.ids[0] = 1; /* its own stream */
            if (lr_bootstrap(in.n, lr_boot_stat_cindex_diff, &ctx, &opt, &res, NULL, &err) != 0) goto fail;
            print_double("diff_ci_low", method == LR_CI_BCA ? res.bca_low : res.pct_low);
            print_double("diff_ci_high", method == LR_CI_BCA ? res.bca_high : res.pct_high);
            print_double("diff_bootstrap_se", res.se);
        }
    }
    lr_cindex_boot_ctx_free(&ctx);
    survival_input_free(&in);
    return 0;
fail:
    lr_cindex_boot_ctx_free(&ctx);
    survival_input_free(&in);
    return lr_runtime_error(sub, "%s", err.msg);
}

/* ---- npll ---- */

static int stats_npll(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats npll FILE.csv --time T --event E --risk R [--ties breslow|efron]\n"
        "  negative Cox partial log-likelihood of the risk column (= -loglik of\n"
        "  coxph(Surv(T, E) ~ offset(R), ties = ...)); default ties efron.\n"
        "  prints npll_sum, npll_mean (per event), events, no_events\n";
    static const struct option options[] = {SURVIVAL_LONG_OPTIONS, {"ties", required_argument, NULL, 'T'},
                                            {NULL, 0, NULL, 0}};
    const char *sub = VERB " npll", *file = NULL;
    survival_columns cols = {0};
    lr_ties ties = LR_TIES_EFRON;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (survival_option(c, &cols)) continue;
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'T':
            if (lr_ties_parse(optarg, &ties) != 0)
                return lr_usage_error(sub, "--ties wants breslow or efron, got '%s'", optarg);
            break;
        default: return lr_usage_error(sub, "unknown option");
        }
    }
    int rc = need_file_and_columns("npll", argc, argv, &cols, &file);
    if (rc) return rc;
    lr_err err = {0};
    survival_input in;
    if (load_survival(file, &cols, NULL, &in, &err) != 0) return lr_runtime_error(sub, "%s", err.msg);
    lr_npll_result res;
    if (lr_npll(in.n, in.time, in.event, in.risk, ties, &res, NULL, &err) != 0) {
        survival_input_free(&in);
        return lr_runtime_error(sub, "%s", err.msg);
    }
    print_double("npll_sum", res.sum);
    print_double("npll_mean", res.mean);
    printf("events: %zu\nno_events: %d\n", res.events, res.no_events);
    survival_input_free(&in);
    return 0;
}

/* ---- uno, auc ---- */

static int stats_uno(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats uno FILE.csv --time T --event E --risk R [--tau X]\n"
        "  Uno-type IPCW C-index, equal to R's survival::concordance(..., timewt = \"n/G2\", ymax = X):\n"
        "  Harrell's pairs weighted by 1/G(t-)^2 (G: Kaplan-Meier of censoring), events after X ignored.\n"
        "  prints uno_cindex, tau\n";
    static const struct option options[] = {SURVIVAL_LONG_OPTIONS, {"tau", required_argument, NULL, 'u'},
                                            {NULL, 0, NULL, 0}};
    const char *sub = VERB " uno", *file = NULL;
    survival_columns cols = {0};
    double tau = INFINITY;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (survival_option(c, &cols)) continue;
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'u':
            if (lr_parse_double(optarg, &tau) != 0 || tau <= 0.0)
                return lr_usage_error(sub, "--tau wants a positive number, got '%s'", optarg);
            break;
        default: return lr_usage_error(sub, "unknown option");
        }
    }
    int rc = need_file_and_columns("uno", argc, argv, &cols, &file);
    if (rc) return rc;
    lr_err err = {0};
    survival_input in;
    if (load_survival(file, &cols, NULL, &in, &err) != 0) return lr_runtime_error(sub, "%s", err.msg);
    lr_uno_result res;
    if (lr_uno_cindex(in.n, in.time, in.event, in.risk, tau, &res, &err) != 0) {
        survival_input_free(&in);
        return lr_runtime_error(sub, "%s", err.msg);
    }
    print_double("uno_cindex", res.cindex);
    print_double("tau", tau);
    survival_input_free(&in);
    return 0;
}

/* "t1,t2,..." -> values and the original tokens (for the auc_<t> keys). */
static int parse_horizons(char *list, double **values, char ***tokens, size_t *count)
{
    size_t cap = 1;
    for (const char *s = list; *s; s++) cap += *s == ',';
    *values = calloc(cap, sizeof **values);
    *tokens = calloc(cap, sizeof **tokens);
    *count = 0;
    if (!*values || !*tokens) return -1;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (lr_parse_double(tok, &(*values)[*count]) != 0) return -1;
        (*tokens)[(*count)++] = tok;
    }
    return *count > 0 ? 0 : -1;
}

static int stats_auc(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats auc FILE.csv --time T --event E --risk R --at t1[,t2...]\n"
        "  cumulative/dynamic time-dependent AUC(t) with IPCW (Uno 2007, Hung-Chiang 2010; timeROC's\n"
        "  marginal weights): cases T <= t with an event, weighted 1/G(T-); controls T > t; tied risks 1/2.\n"
        "  prints auc_<t> for each t as written on the command line\n";
    static const struct option options[] = {SURVIVAL_LONG_OPTIONS, {"at", required_argument, NULL, 'a'},
                                            {NULL, 0, NULL, 0}};
    const char *sub = VERB " auc", *file = NULL;
    survival_columns cols = {0};
    char *at = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (survival_option(c, &cols)) continue;
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'a': at = optarg; break;
        default: return lr_usage_error(sub, "unknown option");
        }
    }
    int rc = need_file_and_columns("auc", argc, argv, &cols, &file);
    if (rc) return rc;
    if (!at) return lr_usage_error(sub, "--at t1[,t2...] is required");
    double *horizons = NULL, *auc = NULL;
    char **tokens = NULL;
    size_t n_times = 0;
    if (parse_horizons(at, &horizons, &tokens, &n_times) != 0) {
        free(horizons);
        free(tokens);
        return lr_usage_error(sub, "--at wants comma-separated numbers, got '%s'", at);
    }
    lr_err err = {0};
    survival_input in = {0};
    rc = 1;
    auc = lr_malloc(n_times, sizeof *auc, &err);
    if (!auc || load_survival(file, &cols, NULL, &in, &err) != 0 ||
        lr_auc_cd(in.n, in.time, in.event, in.risk, n_times, horizons, auc, &err) != 0) {
        lr_runtime_error(sub, "%s", err.msg);
    } else {
        for (size_t h = 0; h < n_times; h++) printf("auc_%s: %.17g\n", tokens[h], auc[h]);
        rc = 0;
    }
    survival_input_free(&in);
    free(horizons);
    free(tokens);
    free(auc);
    return rc;
}

/* ---- lmm ---- */

typedef struct {
    const char *label;
    size_t row;
} labelled_row;

static int compare_labels(const void *a, const void *b)
{
    const labelled_row *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* ids[r] = index of row r's label among the sorted distinct labels (rows[] is sorted in place). */
static size_t ids_from_labels(labelled_row *rows, size_t n, size_t *ids)
{
    qsort(rows, n, sizeof *rows, compare_labels);
    size_t g = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && strcmp(rows[k].label, rows[k - 1].label) != 0) g++;
        ids[rows[k].row] = g;
    }
    return g + 1;
}

static int nonempty_label(const lr_csv *table, const char *name, long col, size_t r, lr_err *err)
{
    if (lr_csv_cell(table, r, (size_t)col)[0]) return 0;
    return lr_fail(err, "%s:%zu: column '%s' (column %ld): empty group label", table->path, table->row_line[r], name,
                   col + 1);
}


/* The nested level g:n (lme4's interaction): one id per distinct (group label, nested label) pair. */
static int nested_ids(const lr_csv *table, const char *group_name, const char *name, size_t *nested,
                      size_t *n_nested, lr_err *err)
{
    long gcol = lr_csv_column(table, group_name, err), col = gcol < 0 ? -1 : lr_csv_column(table, name, err);
    if (col < 0) return -1;
    size_t n = table->n_rows, total = 0;
    for (size_t r = 0; r < n; r++)
        total += strlen(lr_csv_cell(table, r, (size_t)gcol)) + strlen(lr_csv_cell(table, r, (size_t)col)) + 2;
    labelled_row *rows = lr_malloc(n ? n : 1, sizeof *rows, err);
    char *buf = lr_malloc(total ? total : 1, 1, err), *at = buf;
    int rc = -1;
    if (!rows || !buf) goto done;
    for (size_t r = 0; r < n; r++) {
        if (nonempty_label(table, name, col, r, err)) goto done;
        /* the unit separator cannot occur in a CSV label we split on commas */
        int len = sprintf(at, "%s\x1f%s", lr_csv_cell(table, r, (size_t)gcol), lr_csv_cell(table, r, (size_t)col));
        rows[r] = (labelled_row){at, r};
        at += len + 1;
    }
    *n_nested = ids_from_labels(rows, n, nested);
    rc = 0;
done:
    free(rows);
    free(buf);
    return rc;
}

typedef struct {
    char *names_buf;     /* --fixed copy, split in place */
    const char **names;  /* [n_fixed] "intercept", X1, X2... */
    size_t n_fixed;
    double *y, *X;       /* [N], [N*n_fixed] */
    size_t *group;       /* [N] */
    size_t *nested;      /* [N] or NULL without --nested */
    lr_lmm_data data;
} lmm_input;

static void lmm_input_free(lmm_input *in)
{
    free(in->names_buf);
    free(in->names);
    free(in->y);
    free(in->X);
    free(in->group);
    free(in->nested);
    memset(in, 0, sizeof *in);
}

static int load_lmm(const char *path, const char *response, const char *group_col, const char *nested_col,
                    const char *fixed, lmm_input *in, lr_err *err)
{
    memset(in, 0, sizeof *in);
    lr_csv *table = NULL;
    double *column = NULL;
    in->names_buf = strdup(fixed);
    size_t cap = 2;
    for (const char *s = fixed; *s; s++) cap += *s == ',';
    in->names = calloc(cap, sizeof *in->names);
    if (!in->names_buf || !in->names) {
        lr_fail(err, "out of memory");
        goto fail;
    }
    in->names[in->n_fixed++] = "intercept";
    char *save = NULL;
    for (char *tok = strtok_r(in->names_buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        in->names[in->n_fixed++] = tok;
    LR_TRY(lr_csv_read(path, &table, err));
    size_t N = table->n_rows, p = in->n_fixed;
    in->y = lr_malloc(N, sizeof *in->y, err);
    in->X = lr_malloc(N * p, sizeof *in->X, err);
    in->group = lr_malloc(N, sizeof *in->group, err);
    column = lr_malloc(N, sizeof *column, err);
    if (!in->y || !in->X || !in->group || !column) goto fail;
    LR_TRY(lr_csv_column_double(table, response, in->y, err));
    LR_TRY(lr_csv_column_groups(table, group_col, in->group, NULL, &in->data.n_groups, err));
    if (nested_col) {
        if (!(in->nested = lr_malloc(N ? N : 1, sizeof *in->nested, err))) goto fail;
        LR_TRY(nested_ids(table, group_col, nested_col, in->nested, &in->data.n_nested, err));
        in->data.nested = in->nested;
    }
    for (size_t i = 0; i < N; i++) in->X[i * p] = 1.0;
    for (size_t k = 1; k < p; k++) {
        LR_TRY(lr_csv_column_double(table, in->names[k], column, err));
        for (size_t i = 0; i < N; i++) in->X[i * p + k] = column[i];
    }
    in->data.n_obs = N;
    in->data.n_fixed = p;
    in->data.y = in->y;
    in->data.X = in->X;
    in->data.group = in->group;
    free(column);
    lr_csv_free(table);
    return 0;
fail:
    free(column);
    lr_csv_free(table);
    lmm_input_free(in);
    return -1;
}

/* The first --fixed column that is a linear combination of the intercept and the columns before it
 * (Gram-Schmidt with a relative tolerance), or 0 when there is none. */
static size_t first_collinear_column(const lmm_input *in, lr_err *err)
{
    size_t N = in->data.n_obs, p = in->n_fixed, found = 0;
    double *basis = lr_malloc(N * p, sizeof *basis, err);
    if (!basis) return 0;
    for (size_t k = 0; k < p && !found; k++) {
        double *v = basis + k * N, norm0 = 0, norm = 0;
        for (size_t i = 0; i < N; i++) v[i] = in->X[i * p + k], norm0 += v[i] * v[i];
        for (size_t j = 0; j < k; j++) {
            const double *u = basis + j * N;
            double dot = 0;
            for (size_t i = 0; i < N; i++) dot += u[i] * v[i];
            for (size_t i = 0; i < N; i++) v[i] -= dot * u[i];
        }
        for (size_t i = 0; i < N; i++) norm += v[i] * v[i];
        if (!(norm > 1e-20 * norm0) || norm0 == 0) {
            found = k;
            break;
        }
        for (size_t i = 0; i < N; i++) v[i] /= sqrt(norm);
    }
    free(basis);
    return found;
}

/* Inputs lme4 refuses, named by file and column: too few rows, one group, collinear fixed effects. */
static int check_lmm_input(const char *path, const char *group_col, const lmm_input *in, lr_err *err)
{
    size_t N = in->data.n_obs, p = in->n_fixed;
    if (N < p + 1)
        return lr_fail(err, "%s: %zu rows for %zu fixed effects (intercept and --fixed): at least %zu needed", path, N,
                       p, p + 1);
    if (in->data.n_groups < 2)
        return lr_fail(err, "%s: column '%s' (--group) has a single group: a random intercept needs at least 2 groups",
                       path, group_col);
    size_t k = first_collinear_column(in, err);
    if (k)
        return lr_fail(err, "%s: column '%s' (--fixed) is collinear with the intercept%s", path, in->names[k],
                       k > 1 ? " and the columns before it" : "");
    return 0;
}

static int stats_lmm(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats lmm FILE.csv --response Y --group G [--nested N] --fixed X1[,X2...] [options]\n"
        "  random-intercept linear mixed model Y ~ 1 + X1 + ... + (1 | G), REML by default.\n"
        "  --nested N          add the nested random intercept (1 | G:N) (e.g. --group patient --nested lesion:\n"
        "                      each lesion counted once over its readers' rows); prints tau2_nested too (tau2\n"
        "                      stays G's); Satterthwaite df only (no containment, no --df containment)\n"
        "  --ml                fit by maximum likelihood\n"
        "  --test X            likelihood-ratio test of X = 0 (both models refitted by ML): lrt_stat, lrt_p\n"
        "  --df satterthwaite|containment  df behind df_<x>/p_<x> (default satterthwaite, as lmerTest;\n"
        "                      containment is nlme's); both are printed\n"
        "  prints beta_, se_, t_, df_, p_, p_one_sided_ (alternative beta > 0) per effect (intercept, X1, ...),\n"
        "  df_containment_, p_containment_, tau2, sigma2, loglik (lme4's logLik), singular, n_obs, n_groups\n"
        "  (with --nested also tau2_nested and n_nested)\n";
    static const struct option options[] = {{"response", required_argument, NULL, 'y'},
                                            {"group", required_argument, NULL, 'g'},
                                            {"nested", required_argument, NULL, 'n'},
                                            {"fixed", required_argument, NULL, 'x'},
                                            {"ml", no_argument, NULL, 'm'},
                                            {"test", required_argument, NULL, 'T'},
                                            {"df", required_argument, NULL, 'd'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *sub = VERB " lmm";
    const char *response = NULL, *group = NULL, *nested = NULL, *fixed = NULL, *test = NULL;
    int reml = 1, containment = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'y': response = optarg; break;
        case 'g': group = optarg; break;
        case 'n': nested = optarg; break;
        case 'x': fixed = optarg; break;
        case 'm': reml = 0; break;
        case 'T': test = optarg; break;
        case 'd':
            if (!strcmp(optarg, "satterthwaite")) containment = 0;
            else if (!strcmp(optarg, "containment")) containment = 1;
            else return lr_usage_error(sub, "--df wants satterthwaite or containment, got '%s'", optarg);
            break;
        default: return lr_usage_error(sub, "unknown option");
        }
    }
    if (optind >= argc) return lr_usage_error(sub, "missing FILE.csv");
    if (optind + 1 < argc) return lr_usage_error(sub, "unexpected argument '%s'", argv[optind + 1]);
    if (!response || !group || !fixed) return lr_usage_error(sub, "--response, --group and --fixed are required");
    if (nested && containment)
        return lr_usage_error(sub, "--df containment is for one grouping level (with --nested: satterthwaite)");
    lr_err err = {0};
    lmm_input in;
    if (load_lmm(argv[optind], response, group, nested, fixed, &in, &err) != 0) return lr_runtime_error(sub, "%s", err.msg);
    if (check_lmm_input(argv[optind], group, &in, &err) != 0) {
        lmm_input_free(&in);
        return lr_runtime_error(sub, "%s", err.msg);
    }
    size_t test_index = 0;
    if (test) {
        for (size_t k = 1; k < in.n_fixed; k++)
            if (!strcmp(in.names[k], test)) test_index = k;
        if (!test_index) {
            lmm_input_free(&in);
            return lr_usage_error(sub, "--test %s is not one of the --fixed columns", test);
        }
    }
    lr_lmm_fit fit;
    if (lr_lmm_fit_model(&in.data, reml, &fit, &err) != 0) {
        lr_lmm_fit_free(&fit);
        lmm_input_free(&in);
        return lr_runtime_error(sub, "%s: %s", argv[optind], err.msg);
    }
    char key[256];
    for (size_t k = 0; k < in.n_fixed; k++) {
        const char *name = in.names[k];
#define KEY(prefix, value) (snprintf(key, sizeof key, prefix "%s", name), print_double(key, value))
        KEY("beta_", fit.beta[k]);
        KEY("se_", fit.se[k]);
        KEY("t_", fit.tstat[k]);
        KEY("df_", containment ? fit.df_containment[k] : fit.df_satterthwaite[k]);
        KEY("p_", containment ? fit.p_containment[k] : fit.p_satterthwaite[k]);
        KEY("p_one_sided_", containment ? fit.p_one_sided_containment[k] : fit.p_one_sided_satterthwaite[k]);
        KEY("df_containment_", fit.df_containment[k]);
        KEY("p_containment_", fit.p_containment[k]);
        KEY("df_satterthwaite_", fit.df_satterthwaite[k]);
        KEY("p_satterthwaite_", fit.p_satterthwaite[k]);
#undef KEY
    }
    print_double("tau2", fit.tau2);
    if (nested) print_double("tau2_nested", fit.tau2_nested);
    print_double("sigma2", fit.sigma2);
    print_double("loglik", fit.loglik);
    printf("method: %s\nsingular: %d\nn_obs: %zu\nn_groups: %zu\n", reml ? "REML" : "ML", fit.singular,
           in.data.n_obs, in.data.n_groups);
    if (nested) printf("n_nested: %zu\n", in.data.n_nested);
    lr_lmm_fit_free(&fit);
    int rc = 0;
    if (test) {
        double stat, p;
        if (lr_lmm_lrt(&in.data, test_index, &stat, &p, &err) != 0) {
            rc = lr_runtime_error(sub, "%s: --test %s: %s", argv[optind], test, err.msg);
        } else {
            print_double("lrt_stat", stat);
            print_double("lrt_p", p);
        }
    }
    lmm_input_free(&in);
    return rc;
}

/* ---- bench ---- */

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Random cohort: exponential times with hazard exp(risk), ~30% censoring, risks rounded to create ties. */
static void random_cohort(gsl_rng *rng, size_t n, double *time, int *event, double *risk)
{
    for (size_t i = 0; i < n; i++) {
        risk[i] = round(100.0 * (gsl_rng_uniform(rng) * 2.0 - 1.0)) / 100.0;
        double t = -log(gsl_rng_uniform_pos(rng)) / exp(risk[i]);
        double cens = -log(gsl_rng_uniform_pos(rng)) * 2.0;
        time[i] = ceil(fmin(t, cens) * 365.0);
        event[i] = t <= cens;
    }
}

int lr_survival_bench(void)
{
    lr_err err = {0};
    size_t n_max = 1000000;
    double *time = lr_malloc(n_max, sizeof *time, &err), *risk = lr_malloc(n_max, sizeof *risk, &err);
    int *event = lr_malloc(n_max, sizeof *event, &err);
    gsl_rng *rng = lr_rng_stream(1, "survival-bench", 0, 0, 0);
    lr_cindex_boot_ctx ctx = {0};
    int rc = 1;
    if (!time || !risk || !event || !rng) goto done;
    size_t sizes[2] = {100000, 1000000};
    for (int s = 0; s < 2; s++) {
        random_cohort(rng, sizes[s], time, event, risk);
        lr_concordance conc;
        double t0 = seconds_now();
        if (lr_harrell_cindex(sizes[s], time, event, risk, &conc, &err) != 0) goto done;
        printf("cindex_n%zu_seconds: %.6f\ncindex_n%zu: %.6f\n", sizes[s], seconds_now() - t0, sizes[s],
               conc.cindex);
    }
    size_t n = 258;
    random_cohort(rng, n, time, event, risk);
    if (lr_cindex_boot_ctx_init(&ctx, n, time, event, risk, NULL, &err) != 0) goto done;
    lr_boot_options opt = lr_boot_defaults();
    lr_boot_result res;
    opt.jackknife = 0;
    double t0 = seconds_now();
    if (lr_bootstrap(n, lr_boot_stat_cindex, &ctx, &opt, &res, NULL, &err) != 0) goto done;
    printf("bootstrap_percentile_n258_B2000_seconds: %.6f\n", seconds_now() - t0);
    opt.jackknife = 1;
    t0 = seconds_now();
    if (lr_bootstrap(n, lr_boot_stat_cindex, &ctx, &opt, &res, NULL, &err) != 0) goto done;
    printf("bootstrap_bca_n258_B2000_seconds: %.6f\n", seconds_now() - t0);
    rc = 0;
done:
    if (rc) fprintf(stderr, "lesionrank stats bench: %s\n", err.msg);
    lr_cindex_boot_ctx_free(&ctx);
    if (rng) gsl_rng_free(rng);
    free(time);
    free(risk);
    free(event);
    return rc;
}

int cmd_stats(int argc, char **argv)
{
    if (argc < 2) {
        fputs(stats_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(stats_usage, stdout);
        return 0;
    }
    if (!strcmp(sub, "cindex")) return stats_cindex(argc - 1, argv + 1);
    if (!strcmp(sub, "npll")) return stats_npll(argc - 1, argv + 1);
    if (!strcmp(sub, "uno")) return stats_uno(argc - 1, argv + 1);
    if (!strcmp(sub, "auc")) return stats_auc(argc - 1, argv + 1);
    if (!strcmp(sub, "lmm")) return stats_lmm(argc - 1, argv + 1);
    int prognosis_rc = lr_stats_prognosis(sub, argc - 1, argv + 1);
    if (prognosis_rc >= 0) return prognosis_rc;
    if (!strcmp(sub, "bench")) {
        if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            puts("usage: lesionrank stats bench\n  times the C-index on 1e5 and 1e6 random patients and a "
                 "B=2000 bootstrap (percentile, BCa) on 258");
            return 0;
        }
        return lr_survival_bench() ? 1 : 0;
    }
    return lr_usage_error(VERB, "unknown sub-command '%s' (cindex, npll, uno, auc, lmm, km, breslow, brier, ibs, cox, calibration, bench)", sub);
}
