/* lesionrank stats km|breslow|brier|ibs|cox|calibration: the prognostic-model statistics (issue 13) on a
 * CSV file, printed as key: value lines (%.17g). Dispatched from cmd_stats.c; same exit codes (0 ok,
 * 1 bad input, 2 usage error). Keys that carry a time use the time as written on the command line. */
#include <getopt.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "survival/breslow.h"
#include "survival/brier.h"
#include "survival/calibration.h"
#include "survival/cox.h"
#include "survival/km.h"
#include "survival/stats.h"
#include "util/cli.h"
#include "util/csv.h"

/* ---- input ---- */

typedef struct {
    lr_csv *table;
    size_t n;
    double *time; /* [n] */
    int *event;   /* [n] */
} prognosis_input;

static void prognosis_input_free(prognosis_input *in)
{
    lr_csv_free(in->table);
    free(in->time);
    free(in->event);
    *in = (prognosis_input){0};
}

/* Reads the file and its time (>= 0) and event (0/1) columns; the table stays open for more columns. */
static int load_time_event(const char *path, const char *time_col, const char *event_col, prognosis_input *in,
                           lr_err *err)
{
    *in = (prognosis_input){0};
    if (lr_csv_read(path, &in->table, err) != 0) return -1;
    in->n = in->table->n_rows;
    in->time = lr_malloc(in->n, sizeof *in->time, err);
    in->event = lr_malloc(in->n, sizeof *in->event, err);
    if (!in->time || !in->event) return -1;
    if (lr_csv_column_double(in->table, time_col, in->time, err) != 0) return -1;
    if (lr_csv_column_binary(in->table, event_col, in->event, err) != 0) return -1;
    long col = lr_csv_column(in->table, time_col, err);
    for (size_t r = 0; r < in->n; r++)
        if (in->time[r] < 0.0)
            return lr_fail(err, "%s:%zu: column '%s' (column %ld): negative time %s", path, in->table->row_line[r],
                           time_col, col + 1, lr_csv_cell(in->table, r, (size_t)col));
    return 0;
}

/* out[n] = a column of probabilities in [0, 1]. */
static int load_probability(const prognosis_input *in, const char *name, double *out, lr_err *err)
{
    if (lr_csv_column_double(in->table, name, out, err) != 0) return -1;
    long col = lr_csv_column(in->table, name, err);
    for (size_t r = 0; r < in->n; r++)
        if (out[r] < 0.0 || out[r] > 1.0)
            return lr_fail(err, "%s:%zu: column '%s' (column %ld): %s is not a probability in [0, 1]", in->table->path,
                           in->table->row_line[r], name, col + 1, lr_csv_cell(in->table, r, (size_t)col));
    return 0;
}

/* The last follow-up time of the file, for "t beyond follow-up" messages naming the file. */
static int check_horizon(const prognosis_input *in, const char *time_col, const char *token, double t, lr_err *err)
{
    double last = 0.0;
    for (size_t i = 0; i < in->n; i++) last = fmax(last, in->time[i]);
    if (t < 0.0) return lr_fail(err, "%s: --at %s is negative", in->table->path, token);
    if (t > last)
        return lr_fail(err, "%s: --at %s is beyond the last follow-up time %.17g (column '%s')", in->table->path, token,
                       last, time_col);
    return 0;
}

static int check_events_before(const prognosis_input *in, const char *event_col, const char *token, double t,
                               lr_err *err)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->event[i] && in->time[i] <= t) return 0;
    return lr_fail(err, "%s: no event (column '%s') at or before --at %s", in->table->path, event_col, token);
}

/* "a,b,c" split in place into tokens[count]. */
static int split_list(char *list, char ***tokens, size_t *count)
{
    size_t cap = 1;
    for (const char *s = list; *s; s++) cap += *s == ',';
    *tokens = calloc(cap, sizeof **tokens);
    *count = 0;
    if (!*tokens) return -1;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) (*tokens)[(*count)++] = tok;
    return *count > 0 ? 0 : -1;
}

/* --at "t1,t2,...": tokens (for keys) and values (finite, >= 0). */
typedef struct {
    char **token;
    double *value;
    size_t count;
} time_list;

static int parse_times(char *list, time_list *out)
{
    *out = (time_list){0};
    if (split_list(list, &out->token, &out->count) != 0) return -1;
    out->value = calloc(out->count, sizeof *out->value);
    if (!out->value) return -1;
    for (size_t k = 0; k < out->count; k++)
        if (lr_parse_double(out->token[k], &out->value[k]) != 0 || out->value[k] < 0.0) return -1;
    return 0;
}

static void time_list_free(time_list *t)
{
    free(t->token);
    free(t->value);
    *t = (time_list){0};
}

static void print_double(const char *key, double v)
{
    printf("%s: %.17g\n", key, v);
}

/* Option parsing shared by the verbs: --time, --event, --help and the verb's own options, each of which
 * takes a value kept as text (the verb converts it); exactly one FILE. */
enum { OPT_TIME = 't', OPT_EVENT = 'e', OPT_HELP = 'h', OPT_VERB = 256, MAX_VERB_OPTIONS = 8 };

typedef struct {
    const char *file, *time, *event;
} common_args;

typedef struct {
    const char *name; /* --name VALUE */
    char **value;     /* where VALUE (argv's text, writable) goes; left as it was when the option is absent */
    int required;
} verb_option;

/* Returns 0, OPT_HELP after printing the help (the verb then exits 0), or the usage exit code. */
static int parse_verb_args(const char *sub, const char *help, int argc, char **argv, const verb_option *opts,
                           size_t n_opts, common_args *a)
{
    struct option table[MAX_VERB_OPTIONS + 4] = {
        {"time", required_argument, NULL, OPT_TIME},
        {"event", required_argument, NULL, OPT_EVENT},
        {"help", no_argument, NULL, OPT_HELP},
    };
    if (n_opts > MAX_VERB_OPTIONS) return lr_usage_error(sub, "internal: too many options");
    for (size_t k = 0; k < n_opts; k++)
        table[3 + k] = (struct option){opts[k].name, required_argument, NULL, OPT_VERB + (int)k};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
        if (c == OPT_HELP) {
            fputs(help, stdout);
            return OPT_HELP;
        }
        if (c == OPT_TIME) a->time = optarg;
        else if (c == OPT_EVENT) a->event = optarg;
        else if (c >= OPT_VERB && c < OPT_VERB + (int)n_opts) *opts[c - OPT_VERB].value = optarg;
        else return lr_usage_error(sub, "unknown option");
    }
    if (optind >= argc) return lr_usage_error(sub, "missing FILE.csv");
    if (optind + 1 < argc) return lr_usage_error(sub, "unexpected argument '%s'", argv[optind + 1]);
    if (!a->time || !a->event) return lr_usage_error(sub, "--time and --event are required");
    for (size_t k = 0; k < n_opts; k++)
        if (opts[k].required && !*opts[k].value) return lr_usage_error(sub, "--%s is required", opts[k].name);
    a->file = argv[optind];
    return 0;
}

/* In a verb: parse, and return 0 after --help or the usage exit code. */
#define PARSE_VERB_ARGS(sub, help, opts, a)                                                           \
    do {                                                                                              \
        int parse_rc_ = parse_verb_args(sub, help, argc, argv, opts, sizeof opts / sizeof *opts, a); \
        if (parse_rc_) return parse_rc_ == OPT_HELP ? 0 : parse_rc_;                                  \
    } while (0)

/* --ties, --level and a single --at time; NULL text keeps the default. Returns 0 or the usage exit code. */
static int parse_ties_arg(const char *sub, const char *text, lr_ties *ties)
{
    if (text && lr_ties_parse(text, ties) != 0)
        return lr_usage_error(sub, "--ties wants breslow or efron, got '%s'", text);
    return 0;
}

static int parse_level_arg(const char *sub, const char *text, double *level)
{
    if (text && (lr_parse_double(text, level) != 0 || !(*level > 0.0 && *level < 1.0)))
        return lr_usage_error(sub, "--level wants a number in (0, 1), got '%s'", text);
    return 0;
}

static int parse_one_time(const char *sub, const char *text, double *t)
{
    if (lr_parse_double(text, t) != 0 || *t < 0.0)
        return lr_usage_error(sub, "--at wants one non-negative number, got '%s'", text);
    return 0;
}

/* ---- km ---- */

/* group[r] = index among the sorted distinct labels of column `name`; labels[g] point into the table. */
static int read_groups(const lr_csv *table, const char *name, size_t *group, const char ***labels,
                       size_t *n_groups, lr_err *err)
{
    *labels = lr_malloc(table->n_rows, sizeof **labels, err);
    if (!*labels) return -1;
    return lr_csv_column_groups(table, name, group, *labels, n_groups, err);
}

/* Prints n, events, median and S/se at the times for one curve; suffix "" or "_<g>". */
static int print_km(const char *sub, const prognosis_input *in, size_t m, const double *time, const int *event,
                    const char *label, const time_list *at, lr_err *err)
{
    lr_km km;
    if (lr_km_fit(m, time, event, &km, err) != 0) {
        lr_km_free(&km);
        return -1;
    }
    char key[512];
    const char *sep = label ? "_" : "", *g = label ? label : "";
    printf("n%s%s: %zu\nevents%s%s: %zu\n", sep, g, m, sep, g, km.events);
    snprintf(key, sizeof key, "median_survival%s%s", sep, g);
    print_double(key, lr_km_median(&km));
    for (size_t k = 0; k < at->count; k++) {
        double s, se;
        if (lr_km_at(&km, at->value[k], &s, &se, err) != 0) {
            lr_fail_ctx(err, "%s%s%s", in->table->path, label ? ", group " : "", g);
            lr_km_free(&km);
            return -1;
        }
        snprintf(key, sizeof key, "surv%s%s_at_%s", sep, g, at->token[k]);
        print_double(key, s);
        snprintf(key, sizeof key, "se%s%s_at_%s", sep, g, at->token[k]);
        print_double(key, se);
    }
    (void)sub;
    lr_km_free(&km);
    return 0;
}

static int stats_km(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats km FILE.csv --time T --event E [--group G] [--at t1,t2,...]\n"
        "  Kaplan-Meier (= survival::survfit): n, events, median_survival (print.survfit's median; nan when S\n"
        "  never reaches 1/2), surv_at_<t> and its Greenwood standard error se_at_<t> (= summary(survfit)$std.err;\n"
        "  nan once S = 0). With --group, also per group n_<g>, events_<g>, median_survival_<g>, surv_<g>_at_<t>,\n"
        "  se_<g>_at_<t> and the log-rank test logrank_chisq, logrank_df, logrank_p (= survdiff).\n"
        "  A time beyond the last follow-up (of the file or of a group) is an error.\n";
    const char *sub = "stats km";
    char *group_col = NULL, *at_arg = NULL;
    const verb_option options[] = {{"group", &group_col, 0}, {"at", &at_arg, 0}};
    common_args a = {0};
    time_list at = {0};
    PARSE_VERB_ARGS(sub, help, options, &a);
    int rc;
    if (at_arg && parse_times(at_arg, &at) != 0) {
        time_list_free(&at);
        return lr_usage_error(sub, "--at wants comma-separated non-negative numbers, got '%s'", at_arg);
    }
    lr_err err = {0};
    prognosis_input in;
    size_t *group = NULL, n_groups = 0;
    const char **labels = NULL;
    double *g_time = NULL;
    int *g_event = NULL;
    rc = 1;
    if (load_time_event(a.file, a.time, a.event, &in, &err) != 0) goto done;
    for (size_t k = 0; k < at.count; k++)
        if (check_horizon(&in, a.time, at.token[k], at.value[k], &err) != 0) goto done;
    if (group_col) {
        group = lr_malloc(in.n, sizeof *group, &err);
        g_time = lr_malloc(in.n, sizeof *g_time, &err);
        g_event = lr_malloc(in.n, sizeof *g_event, &err);
        if (!group || !g_time || !g_event) goto done;
        if (read_groups(in.table, group_col, group, &labels, &n_groups, &err) != 0) goto done;
        if (n_groups < 2) {
            lr_fail(&err, "%s: column '%s' has a single group; the log-rank test needs two", a.file, group_col);
            goto done;
        }
    }
    if (print_km(sub, &in, in.n, in.time, in.event, NULL, &at, &err) != 0) goto done;
    if (group_col) {
        for (size_t g = 0; g < n_groups; g++) {
            size_t m = 0;
            for (size_t i = 0; i < in.n; i++)
                if (group[i] == g) {
                    g_time[m] = in.time[i];
                    g_event[m++] = in.event[i];
                }
            if (print_km(sub, &in, m, g_time, g_event, labels[g], &at, &err) != 0) goto done;
        }
        lr_logrank_result lrk;
        if (lr_logrank(in.n, in.time, in.event, group, n_groups, &lrk, &err) != 0) goto done;
        print_double("logrank_chisq", lrk.chisq);
        printf("logrank_df: %zu\n", lrk.df);
        print_double("logrank_p", lrk.p);
    }
    rc = 0;
done:
    if (rc) lr_runtime_error(sub, "%s", err.msg);
    free(group);
    free(labels);
    free(g_time);
    free(g_event);
    time_list_free(&at);
    prognosis_input_free(&in);
    return rc;
}

/* ---- breslow ---- */

static int stats_breslow(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats breslow FILE.csv --time T --event E --risk R --at t1[,t2...] [--ties efron|breslow]\n"
        "  baseline cumulative hazard of a Cox model with the risk column as offset:\n"
        "  cumhaz_at_<t> = H0(t) with S(t | R) = exp(-H0(t) e^R), = -log S(t | R = 0) of\n"
        "  survfit(coxph(Surv(T, E) ~ offset(R), ties = ...), newdata) (default ties efron, coxph's default).\n"
        "  Note: R's basehaz(centered = FALSE) of this model is H0(t) * exp(mean R) (the offset stays centred).\n"
        "  Also n, events.\n";
    const char *sub = "stats breslow";
    char *risk_col = NULL, *at_arg = NULL, *ties_arg = NULL;
    const verb_option options[] = {{"risk", &risk_col, 1}, {"at", &at_arg, 1}, {"ties", &ties_arg, 0}};
    common_args a = {0};
    lr_ties ties = LR_TIES_EFRON;
    PARSE_VERB_ARGS(sub, help, options, &a);
    int rc = parse_ties_arg(sub, ties_arg, &ties);
    if (rc) return rc;
    time_list at;
    if (parse_times(at_arg, &at) != 0) {
        time_list_free(&at);
        return lr_usage_error(sub, "--at wants comma-separated non-negative numbers, got '%s'", at_arg);
    }
    lr_err err = {0};
    prognosis_input in;
    lr_baseline base = {0};
    double *risk = NULL;
    rc = 1;
    if (load_time_event(a.file, a.time, a.event, &in, &err) != 0) goto done;
    if (!(risk = lr_malloc(in.n, sizeof *risk, &err)) || lr_csv_column_double(in.table, risk_col, risk, &err) != 0)
        goto done;
    for (size_t k = 0; k < at.count; k++)
        if (check_horizon(&in, a.time, at.token[k], at.value[k], &err) != 0) goto done;
    if (lr_breslow_fit(in.n, in.time, in.event, risk, ties, &base, &err) != 0) goto done;
    size_t events = 0;
    for (size_t i = 0; i < in.n; i++) events += in.event[i] != 0;
    printf("n: %zu\nevents: %zu\n", in.n, events);
    for (size_t k = 0; k < at.count; k++) {
        double H;
        char key[256];
        if (lr_baseline_cumhaz(&base, at.value[k], &H, &err) != 0) goto done;
        snprintf(key, sizeof key, "cumhaz_at_%s", at.token[k]);
        print_double(key, H);
    }
    rc = 0;
done:
    if (rc) lr_runtime_error(sub, "%s", err.msg);
    lr_baseline_free(&base);
    free(risk);
    time_list_free(&at);
    prognosis_input_free(&in);
    return rc;
}

/* ---- brier, ibs ---- */

static int stats_brier(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats brier FILE.csv --time T --event E --surv S --at t\n"
        "  IPCW Brier score of the predicted survival probabilities S (at t) with the Kaplan-Meier censoring\n"
        "  distribution, = riskRegression::Score(list(1 - S), Surv(T, E) ~ 1, metrics = \"brier\",\n"
        "  cens.model = \"marginal\", times = t): brier, brier_km (the Kaplan-Meier null model),\n"
        "  ipa = 1 - brier/brier_km, km_surv (KM at t), censoring_surv (G(t)), events_before.\n"
        "  Errors: t beyond the last follow-up, no event at or before t, S outside [0, 1].\n";
    const char *sub = "stats brier";
    char *surv_col = NULL, *at_arg = NULL;
    const verb_option options[] = {{"surv", &surv_col, 1}, {"at", &at_arg, 1}};
    common_args a = {0};
    double t;
    PARSE_VERB_ARGS(sub, help, options, &a);
    int rc = parse_one_time(sub, at_arg, &t);
    if (rc) return rc;
    lr_err err = {0};
    prognosis_input in;
    double *surv = NULL;
    rc = 1;
    if (load_time_event(a.file, a.time, a.event, &in, &err) != 0) goto done;
    if (!(surv = lr_malloc(in.n, sizeof *surv, &err)) || load_probability(&in, surv_col, surv, &err) != 0) goto done;
    if (check_horizon(&in, a.time, at_arg, t, &err) != 0 || check_events_before(&in, a.event, at_arg, t, &err) != 0)
        goto done;
    lr_brier_result b;
    if (lr_brier(in.n, in.time, in.event, surv, t, &b, &err) != 0) goto done;
    print_double("brier", b.brier);
    print_double("brier_km", b.brier_km);
    print_double("ipa", b.ipa);
    print_double("km_surv", b.km_surv);
    print_double("censoring_surv", b.censoring_surv);
    printf("events_before: %zu\nn: %zu\n", b.events_before, in.n);
    rc = 0;
done:
    if (rc) lr_runtime_error(sub, "%s", err.msg);
    free(surv);
    prognosis_input_free(&in);
    return rc;
}

static int stats_ibs(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats ibs FILE.csv --time T --event E --surv S1,S2,...,Sm --at t1,t2,...,tm\n"
        "  integrated Brier score over [0, tm] of the predicted survival columns S1..Sm (Sk = S(tk)),\n"
        "  = pec::ibs(pec(list(cbind(1, S)), Surv(T, E) ~ 1, times = c(0, t), exact = FALSE,\n"
        "  cens.model = \"marginal\")): (1/tm) sum_{k<m} (t_{k+1} - t_k) BS(t_k). Prints ibs, ibs_km (Kaplan-Meier\n"
        "  null model), tau (= tm). Times strictly increasing and > 0, tm within follow-up.\n";
    const char *sub = "stats ibs";
    char *surv_arg = NULL, *at_arg = NULL;
    const verb_option options[] = {{"surv", &surv_arg, 1}, {"at", &at_arg, 1}};
    common_args a = {0};
    PARSE_VERB_ARGS(sub, help, options, &a);
    int rc;
    time_list at;
    char **cols = NULL;
    size_t n_cols = 0;
    if (parse_times(at_arg, &at) != 0 || split_list(surv_arg, &cols, &n_cols) != 0 || n_cols != at.count) {
        time_list_free(&at);
        free(cols);
        return lr_usage_error(sub, "--surv and --at want equally many comma-separated entries ('%s' vs '%s')",
                              surv_arg, at_arg);
    }
    lr_err err = {0};
    prognosis_input in;
    double *surv = NULL;
    rc = 1;
    if (load_time_event(a.file, a.time, a.event, &in, &err) != 0) goto done;
    if (!(surv = lr_malloc(in.n * n_cols, sizeof *surv, &err))) goto done;
    for (size_t k = 0; k < n_cols; k++)
        if (load_probability(&in, cols[k], surv + k * in.n, &err) != 0) goto done;
    if (check_horizon(&in, a.time, at.token[at.count - 1], at.value[at.count - 1], &err) != 0) goto done;
    lr_ibs_result r;
    if (lr_ibs(in.n, in.time, in.event, at.count, at.value, surv, &r, &err) != 0) {
        lr_fail_ctx(&err, "%s", a.file);
        goto done;
    }
    print_double("ibs", r.ibs);
    print_double("ibs_km", r.ibs_km);
    print_double("tau", r.tau);
    rc = 0;
done:
    if (rc) lr_runtime_error(sub, "%s", err.msg);
    free(surv);
    free(cols);
    time_list_free(&at);
    prognosis_input_free(&in);
    return rc;
}

/* ---- cox ---- */

static int stats_cox(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats cox FILE.csv --time T --event E --covariate X[,X2...] [--ties efron|breslow]\n"
        "                             [--level 0.95]\n"
        "  Cox regression (= coxph(Surv(T, E) ~ X + ..., ties = ...), default efron): coef, se, hr, hr_lower,\n"
        "  hr_upper, wald_p (two-sided Wald z); with several covariates the keys end in _<X>. Also loglik,\n"
        "  loglik_null, n, events. Separation (an infinite hazard ratio) is an error.\n";
    const char *sub = "stats cox";
    char *cov_arg = NULL, *ties_arg = NULL, *level_arg = NULL;
    const verb_option options[] = {{"covariate", &cov_arg, 0}, {"ties", &ties_arg, 0}, {"level", &level_arg, 0}};
    common_args a = {0};
    lr_ties ties = LR_TIES_EFRON;
    double level = 0.95;
    PARSE_VERB_ARGS(sub, help, options, &a);
    int rc = parse_ties_arg(sub, ties_arg, &ties);
    if (rc || (rc = parse_level_arg(sub, level_arg, &level))) return rc;
    char **names = NULL;
    size_t p = 0;
    if (!cov_arg || split_list(cov_arg, &names, &p) != 0) {
        free(names);
        return lr_usage_error(sub, "--covariate X[,X2...] is required");
    }
    lr_err err = {0};
    prognosis_input in;
    double *X = NULL, *column = NULL;
    lr_cox_fit fit = {0};
    rc = 1;
    if (load_time_event(a.file, a.time, a.event, &in, &err) != 0) goto done;
    X = lr_malloc(in.n * p, sizeof *X, &err);
    column = lr_malloc(in.n, sizeof *column, &err);
    if (!X || !column) goto done;
    for (size_t j = 0; j < p; j++) {
        if (lr_csv_column_double(in.table, names[j], column, &err) != 0) goto done;
        for (size_t i = 0; i < in.n; i++) X[i * p + j] = column[i];
    }
    if (lr_cox_fit_model(in.n, p, in.time, in.event, X, ties, &fit, &err) != 0) {
        lr_fail_ctx(&err, "%s", a.file);
        goto done;
    }
    double z = gsl_cdf_ugaussian_Pinv(0.5 + level / 2.0);
    char key[256];
    for (size_t j = 0; j < p; j++) {
        const char *sep = p > 1 ? "_" : "", *nm = p > 1 ? names[j] : "";
        double b = fit.beta[j], se = fit.se[j];
#define KEY(name, value) (snprintf(key, sizeof key, name "%s%s", sep, nm), print_double(key, value))
        KEY("coef", b);
        KEY("se", se);
        KEY("hr", exp(b));
        KEY("hr_lower", exp(b - z * se));
        KEY("hr_upper", exp(b + z * se));
        KEY("wald_p", 2.0 * gsl_cdf_ugaussian_Q(fabs(b / se)));
#undef KEY
    }
    print_double("loglik", fit.loglik);
    print_double("loglik_null", fit.loglik_null);
    size_t events = 0;
    for (size_t i = 0; i < in.n; i++) events += in.event[i] != 0;
    printf("n: %zu\nevents: %zu\niterations: %zu\n", in.n, events, fit.iterations);
    rc = 0;
done:
    if (rc) lr_runtime_error(sub, "%s", err.msg);
    lr_cox_fit_free(&fit);
    free(X);
    free(column);
    free(names);
    prognosis_input_free(&in);
    return rc;
}

/* ---- calibration ---- */

static int stats_calibration(int argc, char **argv)
{
    static const char *help =
        "usage: lesionrank stats calibration FILE.csv --time T --event E --surv S --at t [--bins 5] [--level 0.95]\n"
        "  calibration at t of predicted survival probabilities S (see src/survival/calibration.h):\n"
        "  bins; per group k = 1..bins (equal-size groups of ascending S): bin<k>_n, bin<k>_pred (mean S),\n"
        "  bin<k>_obs (Kaplan-Meier S(t); nan when the group's follow-up ends before t), bin<k>_obs_se,\n"
        "  bin<k>_obs_lower, bin<k>_obs_upper (log-scale interval); slope, slope_se, intercept (log-log\n"
        "  scale: coxph(Surv ~ log(-log S)) and log basehaz(centered = FALSE) at t); ici, e50, e90 (Austin\n"
        "  2020, coxph(Surv ~ rcs(log(-log S), 3))) and the spline's knot1..knot3.\n"
        "  Errors: t beyond the last follow-up, no event at or before t, S outside (0, 1).\n";
    const char *sub = "stats calibration";
    char *surv_col = NULL, *at_arg = NULL, *bins_arg = NULL, *level_arg = NULL;
    const verb_option options[] = {
        {"surv", &surv_col, 1}, {"at", &at_arg, 1}, {"bins", &bins_arg, 0}, {"level", &level_arg, 0}};
    common_args a = {0};
    long bins = 5;
    double level = 0.95, t;
    PARSE_VERB_ARGS(sub, help, options, &a);
    if (bins_arg && lr_parse_long(bins_arg, 1, 1000, &bins) != 0)
        return lr_usage_error(sub, "--bins wants an integer in [1, 1000], got '%s'", bins_arg);
    int rc = parse_level_arg(sub, level_arg, &level);
    if (rc || (rc = parse_one_time(sub, at_arg, &t))) return rc;
    lr_err err = {0};
    prognosis_input in;
    double *surv = NULL;
    lr_calibration cal = {0};
    rc = 1;
    if (load_time_event(a.file, a.time, a.event, &in, &err) != 0) goto done;
    if (!(surv = lr_malloc(in.n, sizeof *surv, &err)) || load_probability(&in, surv_col, surv, &err) != 0) goto done;
    if (check_horizon(&in, a.time, at_arg, t, &err) != 0 || check_events_before(&in, a.event, at_arg, t, &err) != 0)
        goto done;
    if (lr_calibration_at(in.n, in.time, in.event, surv, t, (size_t)bins, level, &cal, NULL, &err) != 0) {
        lr_fail_ctx(&err, "%s: column '%s'", a.file, surv_col);
        goto done;
    }
    printf("bins: %zu\n", cal.bins);
    char key[64];
    for (size_t k = 0; k < cal.bins; k++) {
        printf("bin%zu_n: %zu\n", k + 1, cal.bin_n[k]);
#define KEY(name, value) (snprintf(key, sizeof key, "bin%zu_" name, k + 1), print_double(key, value))
        KEY("pred", cal.pred[k]);
        KEY("obs", cal.obs[k]);
        KEY("obs_se", cal.obs_se[k]);
        KEY("obs_lower", cal.obs_lower[k]);
        KEY("obs_upper", cal.obs_upper[k]);
#undef KEY
    }
    print_double("slope", cal.slope);
    print_double("slope_se", cal.slope_se);
    print_double("intercept", cal.intercept);
    print_double("ici", cal.ici);
    print_double("e50", cal.e50);
    print_double("e90", cal.e90);
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "knot%d", k + 1);
        print_double(key, cal.knots[k]);
    }
    rc = 0;
done:
    if (rc) lr_runtime_error(sub, "%s", err.msg);
    lr_calibration_free(&cal);
    free(surv);
    prognosis_input_free(&in);
    return rc;
}

int lr_stats_prognosis(const char *sub, int argc, char **argv)
{
    if (!strcmp(sub, "km")) return stats_km(argc, argv);
    if (!strcmp(sub, "breslow")) return stats_breslow(argc, argv);
    if (!strcmp(sub, "brier")) return stats_brier(argc, argv);
    if (!strcmp(sub, "ibs")) return stats_ibs(argc, argv);
    if (!strcmp(sub, "cox")) return stats_cox(argc, argv);
    if (!strcmp(sub, "calibration")) return stats_calibration(argc, argv);
    return -1;
}
