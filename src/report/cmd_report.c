/* lesionrank report RESULTS.h5 -o DIR: Table 2, Figures 3-5, training curves, truth recovery and the
 * interpretation (report.md ties them together). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cohort.h"
#include "model/model.h"
#include "report/prognosis.h"
#include "report/report.h"
#include "survival/concordance.h"
#include "util/cli.h"
#include "verbs.h"

#define VERB "report"

static const char *help =
    "usage: lesionrank report RESULTS.h5 -o DIR [options]\n"
    "Turns a campaign file (lesionrank merge) into the paper's Table 2 and figures: DIR/report.md,\n"
    "table2.md|csv|tex, interpretation.md, lmm_growth.csv, lmm_growth_nested.csv (with lesion keys), figures/*.png|svg (gnuplot), data/ (the numbers\n"
    "behind every figure) and figures/render.sh (re-render them). Missing or failed jobs are listed and\n"
    "everything that can be computed without them is.\n"
    "  -o DIR            report directory (created; an existing non-empty one needs --force)\n"
    "  --force           write into an existing non-empty DIR\n"
    "  --model NAME      model of the lesion-level figures and the growth test (default proposed)\n"
    "  --fold K          split whose test lesions the figures use (default 0, as in the paper)\n"
    "  --all-folds       use the test lesions of every fold (risks of different folds are on different\n"
    "                    scales; the report says so)\n"
    "                    With replicates > 1 a lesion's risk is the replicates' mean standardized risk\n"
    "                    (the ensemble, in sd units, one scale across folds)\n"
    "  --bootstrap B     bootstrap replicates for Table 2 intervals (default 2000)\n"
    "  --seed S          bootstrap seed (default: the campaign's seed)\n"
    "  --cohort PATH     cohort file for Figure 5's patches (default: the campaign's cohort_path)\n"
    "  --saliency PRED.h5  draw Figure 5's patches with their occlusion maps, from `lesionrank predict\n"
    "                    RESULTS.h5 --model NAME --cohort <the campaign's cohort> --saliency -o PRED.h5`\n"
    "                    (same model as --model; the maps are the mean over the row's fold models)\n"
    "  --analysis DIR    plot templates (default: $LESIONRANK_ANALYSIS, <binary>/../analysis, ./analysis)\n"
    "Prints key: value lines (report, table2, figures_rendered, growth_beta, growth_p_one_sided, ...).\n"
    "Exit status: 0 report written, 1 bad input (not a campaign file, DIR not empty), 2 usage error.\n";

typedef struct {
    const char *results, *out_dir, *model, *cohort, *analysis, *saliency;
    int fold, force;
    long bootstrap;
    int have_seed;
    unsigned long long seed;
} report_args;

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

static int make_dir(const char *path, lr_err *err)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return lr_fail(err, "%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return lr_fail(err, "%s: cannot create: %s", buf, strerror(errno));
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The cohort for Figure 5: --cohort, the campaign's cohort_path as given, or next to the campaign file. */
static void find_cohort(const report_args *a, const lr_results *c, char *out, size_t size)
{
    if (a->cohort) {
        snprintf(out, size, "%s", a->cohort);
        return;
    }
    snprintf(out, size, "%s", c->cohort_path);
    if (file_exists(out) || c->cohort_path[0] == '/') return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", a->results);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = 0;
    char alt[2048];
    snprintf(alt, sizeof alt, "%s/%s", dir, c->cohort_path);
    if (file_exists(alt)) snprintf(out, size, "%s", alt);
}

static int parse_args(int argc, char **argv, report_args *a)
{
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"force", no_argument, NULL, 'f'},
                                            {"model", required_argument, NULL, 'm'},
                                            {"fold", required_argument, NULL, 'k'},
                                            {"all-folds", no_argument, NULL, 'a'},
                                            {"bootstrap", required_argument, NULL, 'b'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"cohort", required_argument, NULL, 'c'},
                                            {"saliency", required_argument, NULL, 'S'},
                                            {"analysis", required_argument, NULL, 'A'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->model = "proposed";
    a->bootstrap = 2000;
    int c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", options, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return 1;
        case 'o': a->out_dir = optarg; break;
        case 'f': a->force = 1; break;
        case 'm': {
            lr_model_kind kind;
            if (lr_model_parse(optarg, &kind)) return lr_usage_error(VERB, "unknown model '%s'", optarg);
            if (!lr_model_is_learned(kind) || kind == LR_MODEL_WHOLE_VOLUME)
                return lr_usage_error(VERB, "--model %s has no lesion risks (use a lesion model, e.g. proposed)",
                                      optarg);
            a->model = optarg;
            break;
        }
        case 'k':
            if (lr_parse_long(optarg, 0, 63, &v)) return lr_usage_error(VERB, "--fold wants 0..63, got '%s'", optarg);
            a->fold = (int)v;
            break;
        case 'a': a->fold = -1; break;
        case 'b':
            if (lr_parse_long(optarg, 0, 1000000, &v) || v == 1)
                return lr_usage_error(VERB, "--bootstrap wants 0 (no intervals) or 2..1000000, got '%s'", optarg);
            a->bootstrap = v;
            break;
        case 's':
            if (lr_parse_long(optarg, 0, LONG_MAX, &v)) return lr_usage_error(VERB, "--seed wants an integer >= 0");
            a->seed = (unsigned long long)v;
            a->have_seed = 1;
            break;
        case 'c': a->cohort = optarg; break;
        case 'S': a->saliency = optarg; break;
        case 'A': a->analysis = optarg; break;
        default: return lr_usage_error(VERB, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return lr_usage_error(VERB, "missing RESULTS.h5");
    if (optind + 1 < argc) return lr_usage_error(VERB, "unexpected argument '%s'", argv[optind + 1]);
    if (!a->out_dir) return lr_usage_error(VERB, "missing -o DIR");
    if (!a->out_dir[0]) return lr_usage_error(VERB, "-o '': expected a directory name");
    a->results = argv[optind];
    return 0;
}

/* Everything the markdown writers need. */
typedef struct {
    const report_args *args;
    const lr_results *c;
    lr_table2 table;
    lr_plotter plot;
    lr_lesion_set lesions;
    char lesions_note[512];  /* why the lesion figures are missing */
    lr_group_stats *organ;   /* [K] */
    lr_growth_result growth;
    int have_growth;
    lr_picked_lesion picked[4];
    size_t n_picked;
    char fig5_skipped[1024];
    char cohort[2048];
    size_t curve_models;
    lr_truth_rho rho[8];
    size_t n_rho;
    double rho_split;
    char split[64];          /* "fold 0" or "all folds" */
    lr_prognosis prognosis;  /* issue 13: calibration, Brier/IBS, risk groups, td-AUC, decision curve */
    int have_prognosis;
} report_state;

static void fmt_p(char *buf, size_t size, double p)
{
    if (!isfinite(p)) snprintf(buf, size, "NA");
    else if (p < 1e-4) snprintf(buf, size, "%.1e", p);
    else snprintf(buf, size, "%.4f", p);
}

static int write_interpretation(const report_state *st, lr_err *err)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/interpretation.md", st->args->out_dir);
    FILE *f = fopen(path, "w");
    if (!f) return lr_fail(err, "%s: cannot write: %s", path, strerror(errno));
    const lr_results *c = st->c;
    fprintf(f, "# Interpretation — model `%s`, test lesions of %s\n\n", st->args->model, st->split);
    if (!st->lesions.n) {
        fprintf(f, "No lesion-level analysis: %s.\n", st->lesions_note);
        return fclose(f) ? lr_fail(err, "%s: write failed", path) : 0;
    }
    if (st->lesions.replicates > 1)
        fprintf(f, "Lesion risks are the replicate ensemble: in each fold, the mean over its ok replicates (up to %d) "
                   "of each replicate's standardized risk (minus its mean, over its sd, on that fold's test lesions), "
                   "so they are in standard deviations%s.\n\n",
                st->lesions.replicates, st->args->fold < 0 ? " and the pooled folds share one scale" : "");
    else if (st->args->fold < 0)
        fprintf(f, "Lesions of all folds are pooled; each fold's model puts risks on its own scale, so "
                   "between-fold differences add spread.\n\n");
    fprintf(f, "%zu test lesion rows (one row per reader's annotation of a lesion) from %s.\n\n", st->lesions.n,
            st->split);
    fprintf(f, "## Lesion risk by organ (paper §6.1, Figure 3)\n\n| Organ | Lesions | Median risk | IQR |\n|---|---|---|---|\n");
    size_t order[256], n = 0;
    for (size_t k = 0; k < c->K && n < 256; k++)
        if (st->organ[k].n) order[n++] = k;
    for (size_t i = 1; i < n; i++) /* highest median first */
        for (size_t j = i; j > 0 && st->organ[order[j]].median > st->organ[order[j - 1]].median; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        const lr_group_stats *g = &st->organ[order[i]];
        fprintf(f, "| %s | %zu | %.3f | %.3f – %.3f |\n", c->organ_name[order[i]], g->n, g->median, g->q1, g->q3);
    }
    if (n >= 2)
        fprintf(f, "\nHighest median risk: %s; lowest: %s.\n", c->organ_name[order[0]], c->organ_name[order[n - 1]]);
    const lr_growth_result *g = &st->growth;
    fprintf(f, "\n## Growing vs shrinking lesions (paper §6.2, Figure 4)\n\n");
    fprintf(f, "Test lesions with a second time point: %zu (%zu growing, %zu shrinking of which %zu vanished) in %zu "
               "patients; %zu without a second time point were excluded. Growing = follow-up volume > baseline "
               "volume; a vanished lesion (volume 0) counts as shrinking.\n\n",
            g->n_obs, g->n_growing, g->n_shrinking, g->n_vanished, g->n_patients, g->n_no_followup);
    if (st->have_growth && g->nested.fitted) {
        char p1[32], p2[32];
        fmt_p(p1, sizeof p1, g->nested.p_one_sided);
        fmt_p(p2, sizeof p2, g->nested.p_two_sided);
        fprintf(f, "**Each lesion counted once** (lesion identity across readers from `/lesions/lesion_key`): "
                   "`risk ~ growing + (1 | patient) + (1 | patient:lesion)` (REML) on the %zu rows that entered the "
                   "patient's risk (%zu physical lesions, %zu patients; %zu rows beyond `max_lesions` left out), growing "
                   "being the lesion's (the mean of its readers' follow-up volumes > the mean of their baseline "
                   "volumes), not each reader's: "
                   "β_growing = %.4f, SE = %.4f, df = %.1f (Satterthwaite), t = %.3f, one-sided p = %s (two-sided "
                   "p = %s). τ²_patient = %.4g, τ²_lesion = %.4g, σ² = %.4g (reader-to-reader)%s. Rerun: `lesionrank "
                   "stats lmm lmm_growth_nested.csv --response risk --group patient --nested lesion --fixed growing`."
                   "\n\nThe paper's model (every reader's row a separate lesion, patient intercept only; "
                   "anti-conservative when readers repeat lesions):\n\n",
                g->nested.n_obs, g->nested.n_lesions, g->nested.n_patients, g->nested.n_unused, g->nested.beta,
                g->nested.se, g->nested.df, g->nested.t, p1, p2, g->nested.tau2, g->nested.tau2_lesion,
                g->nested.sigma2, g->nested.singular ? " (singular fit)" : "");
    } else if (st->have_growth && c->lesion_key) {
        fprintf(f, "The nested model (each lesion counted once) was not fitted: it needs growing and shrinking "
                   "lesions that entered the risk in at least 2 patients.\n\n");
    } else if (st->have_growth) {
        fprintf(f, "The cohort has no lesion keys (`/lesions/lesion_key`): every reader's row counts as a separate "
                   "lesion below, so the p-value is anti-conservative when readers annotate the same lesions.\n\n");
    }
    if (st->have_growth && isfinite(g->beta)) {
        char p1[32], p2[32], pc[32];
        fmt_p(p1, sizeof p1, g->p_one_sided);
        fmt_p(p2, sizeof p2, g->p_two_sided);
        fmt_p(pc, sizeof pc, g->p_one_sided_containment);
        fprintf(f, "Random-intercept mixed model `risk ~ growing + (1 | patient)` (REML): β_growing = %.4f, SE = %.4f, "
                   "df = %.1f (Satterthwaite), t = %.3f, one-sided p = %s (H1: β > 0; two-sided p = %s; with "
                   "containment df %.0f: one-sided p = %s). Intercept %.4f, τ² = %.4g, σ² = %.4g%s.\n\n",
                g->beta, g->se, g->df, g->t, p1, p2, g->df_containment, pc, g->intercept, g->tau2, g->sigma2,
                g->singular ? " (singular fit: τ² = 0)" : "");
        fprintf(f, "Median risk: growing %.3f, shrinking %.3f. %s\n\n", g->median_growing, g->median_shrinking,
                g->p_one_sided < 0.05 ? "Growing lesions have significantly higher predicted risk (one-sided α = 0.05)."
                                      : "No significant difference at one-sided α = 0.05.");
        fprintf(f, "Rerun: `lesionrank stats lmm lmm_growth.csv --response risk --group patient --fixed growing`.\n");
    } else {
        fprintf(f, "The mixed model was not fitted: it needs growing and shrinking lesions in at least 2 patients.\n");
    }
    fprintf(f, "\n## Highest and lowest risk lesions (paper §6.3, Figure 5)\n\n| | Risk | Organ | Volume (mm³) | "
               "Diameter (mm) | Patient | Lesion row |\n|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < st->n_picked; i++) {
        const lr_picked_lesion *p = &st->picked[i];
        fprintf(f, "| %s #%d | %.3f | %s | %.0f | %.1f | %zu | %zu |\n", p->rank_high ? "highest" : "lowest",
                p->rank_high ? p->rank_high : p->rank_low, p->risk, c->organ_name[c->lesion_organ[p->lesion]],
                c->lesion_volume_mm3[p->lesion], c->lesion_diameter_mm[p->lesion], p->patient, p->lesion);
    }
    if (st->fig5_skipped[0]) fprintf(f, "\nFigure 5 was not drawn: %s.\n", st->fig5_skipped);
    if (c->has_truth) {
        fprintf(f, "\n## Truth recovery (synthetic cohort)\n\nSpearman ρ between predicted lesion risk and the "
                   "generator's true lesion log-hazard, test lesions, per fold (mean ± sample sd over folds) and on "
                   "the report's split:\n\n| Model | Folds | ρ mean ± sd | ρ (%s) |\n|---|---|---|---|\n",
                st->split);
        for (size_t i = 0; i < st->n_rho; i++) {
            const lr_truth_rho *r = &st->rho[i];
            char sd[32];
            if (isfinite(r->rho_sd)) snprintf(sd, sizeof sd, "%.3f", r->rho_sd);
            else snprintf(sd, sizeof sd, "NA");
            fprintf(f, "| %s | %zu | %.3f ± %s | %.3f |\n", r->model, r->folds, r->rho_mean, sd, r->rho_split);
        }
    }
    return fclose(f) ? lr_fail(err, "%s: write failed", path) : 0;
}

static void copy_into(FILE *to, const char *path)
{
    FILE *from = fopen(path, "r");
    if (!from) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, from)) > 0) fwrite(buf, 1, n, to);
    fclose(from);
}

static void figure_md(FILE *f, const report_state *st, const char *name, const char *title, const char *caption)
{
    char png[2048];
    snprintf(png, sizeof png, "%s/figures/%s.png", st->args->out_dir, name);
    if (file_exists(png))
        fprintf(f, "### %s\n\n![%s](figures/%s.png)\n\n%s (SVG: `figures/%s.svg`; data: `data/`.)\n\n", title, title,
                name, caption, name);
    else
        fprintf(f, "### %s\n\nNot rendered (%s); the data are in `data/` and `sh figures/render.sh` draws it.\n\n%s\n\n",
                title, st->plot.gnuplot ? "gnuplot failed, see figures/gnuplot.log" : "gnuplot not found", caption);
}

/* The prognosis section: the tables of prognosis.md and the four figures. */
static void write_prognosis_md(FILE *f, const report_state *st)
{
    fprintf(f, "## Prognosis: discrimination, accuracy, calibration\n\n");
    if (!st->have_prognosis) {
        fprintf(f, "Not available: the campaign file has no `/survival` datasets (merged before survival "
                   "probabilities were stored); run `lesionrank merge` again.\n\n");
        return;
    }
    char path[2048], cap[1024];
    snprintf(path, sizeof path, "%s/prognosis.md", st->args->out_dir);
    copy_into(f, path);
    fprintf(f, "\nAlso as `prognosis.csv`; every out-of-fold prediction is in `data/prognosis_patients.csv`.\n\n");
    const lr_prognosis *p = &st->prognosis;
    figure_md(f, st, "prognosis_calibration", "Calibration",
              "Mean predicted survival against the Kaplan–Meier survival of 5 equal-size groups of predicted "
              "survival (out-of-fold patients, 95 % log-scale intervals), at each horizon; Proposed and the size "
              "baselines. Slope and ICI in `data/calibration.csv`.");
    snprintf(cap, sizeof cap, "Kaplan–Meier survival of the out-of-fold high- and low-risk halves, each patient "
             "classified against the median risk of its fold's training patients (no test information). "
             "Log-rank tests and hazard ratios for every model are in the risk-group table above.");
    figure_md(f, st, "prognosis_km_risk_groups", "Risk groups", cap);
    figure_md(f, st, "prognosis_td_auc", "Time-dependent AUC",
              "Cumulative/dynamic AUC(t) with IPCW on the 30-day grid, mean over folds of each fold's AUC.");
    snprintf(cap, sizeof cap, "Net benefit at %.0f days of treating patients whose predicted risk of death "
             "1 − S(t) exceeds the threshold (survival decision curve, Vickers 2008), against treating all and "
             "treating none.", p->horizons[0]);
    figure_md(f, st, "prognosis_decision_curve", "Decision curve", cap);
}

static int write_report_md(const report_state *st, lr_err *err)
{
    const lr_results *c = st->c;
    char path[2048];
    snprintf(path, sizeof path, "%s/report.md", st->args->out_dir);
    FILE *f = fopen(path, "w");
    if (!f) return lr_fail(err, "%s: cannot write: %s", path, strerror(errno));
    size_t ok = 0, failed = 0, missing = 0;
    for (size_t j = 0; j < c->J; j++) {
        ok += c->job_status[j] == LR_JOB_STATUS_OK;
        failed += c->job_status[j] == LR_JOB_STATUS_FAILED;
        missing += c->job_status[j] == LR_JOB_STATUS_MISSING;
    }
    fprintf(f, "# lesionrank report — campaign `%s`\n\n", c->name);
    fprintf(f, "- campaign file: `%s` (software %s)\n- config: `%s`\n- cohort: `%s` (%zu patients, %zu annotations, "
               "%zu lesion rows%s)\n- jobs: %zu (%zu ok, %zu failed, %zu missing); %ld folds × %ld replicate(s), seed "
               "%ld\n",
            c->path, c->software_version, c->config_path, c->cohort_path, c->P, c->A, c->L,
            c->has_truth ? ", synthetic with truth" : "", c->J, ok, failed, missing, c->folds, c->replicates, c->seed);
    fprintf(f, "- repeats: %ld%s\n", c->repeats,
            c->repeats > 1 ? " (repeated cross-validation: Table 2 over repeats × folds; the per-patient figures, "
                             "prognosis and interpretation use repeat 0)"
                           : "");
    if (c->n_blis_archs == 1) fprintf(f, "- BLIS kernels: `%s`\n", c->blis_archs);
    else if (c->n_blis_archs > 1)
        fprintf(f, "\n**Mixed BLIS kernels** (%s): the jobs ran on nodes whose BLIS sub-configurations round "
                   "differently, so a rerun on other nodes can differ in the last bits. Set `BLIS_ARCH_TYPE` on every "
                   "node for identical bits.\n", c->blis_archs);
    if (failed || missing) {
        fprintf(f, "\n**Unfinished campaign.** These jobs have no results; every number below is computed from the "
                   "others:\n\n");
        for (size_t j = 0; j < c->J; j++) {
            if (c->job_status[j] == LR_JOB_STATUS_OK) continue;
            char where[64] = "";
            if (c->job_setting[j] >= 0) snprintf(where, sizeof where, " setting %d", c->job_setting[j]);
            if (c->repeats > 1) snprintf(where + strlen(where), sizeof where - strlen(where), " repeat %d", c->job_repeat[j]);
            fprintf(f, "- job %d `%s`%s fold %d replicate %d: %s%s%s\n", c->job_id[j], c->job_model[j], where,
                    c->job_fold[j], c->job_replicate[j], lr_job_status_name(c->job_status[j]),
                    c->job_error[j][0] ? " — " : "", c->job_error[j]);
        }
    }
    fprintf(f, "\n## Table 2\n\n");
    snprintf(path, sizeof path, "%s/table2.md", st->args->out_dir);
    copy_into(f, path);
    fprintf(f, "\nAlso as `table2.csv` and `table2.tex`.\n\n");
    write_prognosis_md(f, st);
    fprintf(f, "## Figures\n\n");
    if (st->lesions.n) {
        char cap[2048];
        snprintf(cap, sizeof cap, "**Figure 3.** Predicted lesion risk (model `%s`, test lesions of %s) per organ; "
                 "n = lesion rows (readers' annotations). Densities: Gaussian kernel, Silverman bandwidth "
                 "0.9·min(sd, IQR/1.34)·n^(−1/5), each violin scaled to its own peak and trimmed to the data range; "
                 "white dot = median, bar = interquartile range.", st->args->model, st->split);
        figure_md(f, st, "fig3_organs", "Figure 3 — lesion risk by organ", cap);
        snprintf(cap, sizeof cap, "**Figure 4.** Predicted risk of growing (follow-up volume > baseline) and "
                 "shrinking or vanished test lesions (model `%s`, %s); lesions without a second time point are "
                 "excluded. Mixed-model test in `interpretation.md`.", st->args->model, st->split);
        figure_md(f, st, "fig4_growth", "Figure 4 — growing vs shrinking lesions", cap);
        if (st->fig5_skipped[0])
            fprintf(f, "### Figure 5 — highest and lowest risk lesions\n\nSkipped: %s. The four lesions are listed in "
                       "`interpretation.md`.\n\n", st->fig5_skipped);
        else {
            snprintf(cap, sizeof cap, "**Figure 5.** Top row: the 2 highest-risk test lesions; bottom row: the 2 "
                     "lowest (model `%s`, %s). Each panel is the cohort's stored axial patch (2d × 2d around a "
                     "lesion of diameter d; lung window L −600/W 1500 HU for lung lesions, soft tissue L 40/W 400 "
                     "otherwise). The circle is the lesion's nominal outline — diameter d, the patch's inner half — "
                     "not a segmentation. The cohort stores patches, not slices, so the annotation's other lesions "
                     "cannot be shown in place: they are the dots under each patch (larger dot = this lesion), "
                     "coloured by risk like the outline (blue low → red high over this split's test lesions).%s",
                     st->args->model, st->split,
                     st->args->saliency ? " Over each patch, its occlusion map (`predict --saliency`, mean over the "
                                          "row's fold models): red where an 8×8 window raises the lesion's risk, blue "
                                          "where it lowers it, opacity ∝ |map| / max |map| of the lesion." : "");
            figure_md(f, st, "fig5_lesions", "Figure 5 — highest and lowest risk lesions", cap);
        }
    } else {
        fprintf(f, "Figures 3–5 were not drawn: %s.\n\n", st->lesions_note);
    }
    if (st->curve_models)
        figure_md(f, st, "training_curves", "Training curves",
                  "Mean training NPLL (per event) and C-index per epoch for each learned model: line = mean over "
                  "folds and replicates, band = ± 1 sd; only evaluated epochs are drawn.");
    if (c->has_truth && st->lesions.n) {
        char cap[512];
        snprintf(cap, sizeof cap, "Predicted lesion risk against the generator's true lesion log-hazard (model `%s`, "
                 "test lesions of %s), coloured by organ; Spearman ρ = %.3f. ρ per model in `interpretation.md`.",
                 st->args->model, st->split, st->rho_split);
        figure_md(f, st, "truth_scatter", "Truth recovery", cap);
    }
    fprintf(f, "## Interpretation\n\nSee [`interpretation.md`](interpretation.md)");
    if (st->have_growth && st->growth.nested.fitted) {
        char p[32];
        fmt_p(p, sizeof p, st->growth.nested.p_one_sided);
        fprintf(f, ": growing lesions' risk − shrinking lesions' risk, each lesion counted once (nested model), "
                   "β = %.4f (SE %.4f, df %.1f), one-sided p = %s",
                st->growth.nested.beta, st->growth.nested.se, st->growth.nested.df, p);
    }
    if (st->have_growth && isfinite(st->growth.beta)) {
        char p[32];
        fmt_p(p, sizeof p, st->growth.p_one_sided);
        fprintf(f, "%s growing lesions' risk − shrinking lesions' risk β = %.4f (SE %.4f, df %.1f), one-sided p = %s",
                st->growth.nested.fitted ? "; the paper's patient-only model:" : ":", st->growth.beta,
                st->growth.se, st->growth.df, p);
    }
    fprintf(f, ".\n\n## Method notes\n\n- Standard deviations are sample standard deviations (n − 1) over folds.\n"
               "- Pooled test C: mean of per-fold test C; stratified (within-fold) patient bootstrap, BCa intervals "
               "as R's boot with stratified jackknife acceleration; risks of different folds are never compared.\n"
               "- Densities: Debian's GSL 2.7 has no KDE, so the Gaussian KDE is ours (sd and IQR from gsl_stats).\n"
               "- Figures: gnuplot scripts in `figures/gp` (copied from `analysis/`), data in `data/`, commands in "
               "`figures/render.sh`.\n");
    if (!st->plot.gnuplot) fprintf(f, "- **gnuplot was not found: no figure was rendered.** Install gnuplot "
                                      "(Debian: gnuplot-nox) and run `sh figures/render.sh`.\n");
    return fclose(f) ? lr_fail(err, "report.md: write failed") : 0;
}

static int build_report(const report_args *a, const lr_results *c, report_state *st, lr_err *err)
{
    char buf[2048];
    LR_TRY(make_dir(a->out_dir, err));
    snprintf(buf, sizeof buf, "%s/data", a->out_dir);
    LR_TRY(make_dir(buf, err));
    snprintf(buf, sizeof buf, "%s/figures", a->out_dir);
    LR_TRY(make_dir(buf, err));

    lr_table2_options opt = lr_table2_default_options();
    opt.replicates = (size_t)a->bootstrap;
    opt.seed = a->have_seed ? a->seed : (uint64_t)c->seed;
    LR_TRY(lr_table2_compute(c, &opt, &st->table, err));
    LR_TRY(lr_table2_write(&st->table, a->out_dir, err));

    char analysis[1024];
    lr_find_analysis_dir(a->analysis, analysis, sizeof analysis);
    LR_TRY(lr_plotter_init(&st->plot, a->out_dir, analysis, err));
    LR_TRY(lr_figure_curves(&st->plot, c, &st->curve_models, err));
    if (c->has_survival) {
        LR_TRY(lr_prognosis_compute(c, &st->table, &st->prognosis, err));
        LR_TRY(lr_prognosis_write(c, &st->prognosis, &st->plot, a->out_dir, err));
        st->have_prognosis = 1;
    }

    if (a->fold >= 0) snprintf(st->split, sizeof st->split, "fold %d", a->fold);
    else snprintf(st->split, sizeof st->split, "all folds");
    if (a->fold >= c->folds) {
        snprintf(st->lesions_note, sizeof st->lesions_note, "--fold %d but the campaign has %ld folds", a->fold,
                 c->folds);
    } else if (lr_test_lesions(c, a->model, a->fold, &st->lesions, err)) {
        snprintf(st->lesions_note, sizeof st->lesions_note, "%.500s", err->msg);
        err->msg[0] = 0;
    } else if (!st->lesions.n) {
        snprintf(st->lesions_note, sizeof st->lesions_note, "model %s has no scored test lesions in %s", a->model,
                 st->split);
    }
    if (!st->lesions.n) return 0;

    char caption[256];
    snprintf(caption, sizeof caption, "model %s, test lesions of %s", a->model, st->split);
    st->organ = lr_calloc(c->K ? c->K : 1, sizeof *st->organ, err);
    if (!st->organ) goto fail;
    LR_TRY(lr_figure_organs(&st->plot, c, &st->lesions, caption, st->organ, err));
    char nested_csv[2100];
    snprintf(buf, sizeof buf, "%s/lmm_growth.csv", a->out_dir);
    snprintf(nested_csv, sizeof nested_csv, "%s/lmm_growth_nested.csv", a->out_dir);
    LR_TRY(lr_growth_test(c, &st->lesions, buf, nested_csv, &st->growth, err));
    st->have_growth = 1;
    LR_TRY(lr_figure_growth(&st->plot, c, &st->lesions, caption, err));
    lr_pick_extremes(&st->lesions, c, st->picked, &st->n_picked);
    find_cohort(a, c, st->cohort, sizeof st->cohort);
    LR_TRY(lr_figure_lesions(&st->plot, c, &st->lesions, st->cohort, a->saliency, a->model, st->picked,
                             st->n_picked, st->fig5_skipped, sizeof st->fig5_skipped, err));
    if (c->has_truth)
        LR_TRY(lr_figure_truth(&st->plot, c, &st->lesions, a->model, st->rho, &st->n_rho, &st->rho_split, err));
    return 0;
fail:
    return -1;
}

/* Harrell's C of the reachable ceiling (cohort.h: annotated_truth_cindex) over one fold's test patients;
 * the campaign file's cohort copy seen as an lr_cohort (views, no copies) so the definition stays one. */
static double fold_annotated_truth_cindex(const lr_results *c, int fold)
{
    if (!c->has_truth || fold < 0) return NAN;
    lr_cohort view = {.n_patients = c->P, .n_annotations = c->A, .n_lesions = c->L, .ann_patient = c->ann_patient,
                      .ann_first_lesion = c->ann_first_lesion, .ann_n_lesions = c->ann_n_lesions,
                      .volume_mm3 = c->lesion_volume_mm3, .truth_lesion_log_hazard = c->truth_lesion_log_hazard};
    double *truth = malloc((c->P ? c->P : 1) * sizeof *truth), *t = malloc((c->P ? c->P : 1) * sizeof *t);
    double *r = malloc((c->P ? c->P : 1) * sizeof *r);
    int *test_fold = malloc((c->P ? c->P : 1) * sizeof *test_fold), *ev = malloc((c->P ? c->P : 1) * sizeof *ev);
    double out = NAN;
    if (truth && t && r && test_fold && ev) {
        lr_cohort_annotated_truth(&view, truth);
        lr_results_test_fold(c, test_fold);
        size_t n = 0;
        for (size_t p = 0; p < c->P; p++)
            if (test_fold[p] == fold) t[n] = c->time_days[p], ev[n] = c->event[p], r[n] = truth[p], n++;
        lr_concordance cc;
        lr_err e;
        if (n >= 2 && lr_harrell_cindex(n, t, ev, r, &cc, &e) == 0) out = cc.cindex;
    }
    free(truth), free(t), free(r), free(test_fold), free(ev);
    return out;
}

/* With --fold K: that fold's numbers, one key per line, for scripts (experiments/science.sh). */
static void print_fold_summary(const report_state *st)
{
    int k = st->args->fold;
    if (k < 0 || k >= (int)st->table.folds) return;
    for (int r = 0; r < LR_TABLE2_ROWS; r++) {
        const lr_table2_row *w = &st->table.rows[r];
        if (!w->present) continue;
        printf("fold_cindex_%s: %.4f %.4f %.4f\n", w->model, w->fold_c[k][0], w->fold_c[k][1], w->fold_c[k][2]);
    }
    printf("fold_annotated_truth_cindex: %.4f\n", fold_annotated_truth_cindex(st->c, k));
    const lr_results *c = st->c;
    if (st->organ && st->lesions.n) {
        size_t hi = c->K, lo = c->K;
        for (size_t o = 0; o < c->K; o++) {
            if (!st->organ[o].n) continue;
            if (hi == c->K || st->organ[o].median > st->organ[hi].median) hi = o;
            if (lo == c->K || st->organ[o].median < st->organ[lo].median) lo = o;
        }
        if (hi < c->K) printf("organ_highest_median: %s\norgan_lowest_median: %s\n", c->organ_name[hi], c->organ_name[lo]);
    }
    if (c->has_truth && st->lesions.n) printf("lesion_rho: %.4f\n", st->rho_split);
}

static void print_summary(const report_state *st)
{
    const report_args *a = st->args;
    printf("report: %s/report.md\ntable2: %s/table2.md\ninterpretation: %s/interpretation.md\n", a->out_dir, a->out_dir,
           a->out_dir);
    size_t incomplete = 0;
    printf("repeats: %zu\n", st->table.repeats);
    for (int r = 0; r < LR_TABLE2_ROWS; r++) {
        const lr_table2_row *w = &st->table.rows[r];
        printf("cindex_test_%s: %.4f\n", w->model, w->mean[2]);
        incomplete += w->present && w->n_ok < w->n_jobs;
    }
    const lr_table2_row *prop = &st->table.rows[2];
    printf("pooled_test_c_proposed: %.4f\npooled_bca_proposed: [%.4f, %.4f]\n", prop->pooled, prop->bca_low,
           prop->bca_high);
    printf("incomplete_rows: %zu\n", incomplete);
    if (st->table.n_selection) printf("selection: %s/selection.csv\n", a->out_dir);
    if (st->have_prognosis) {
        const lr_prognosis *p = &st->prognosis;
        printf("prognosis: %s/prognosis.md\n", a->out_dir);
        for (size_t r = 0; r < LR_TABLE2_ROWS; r++) {
            if (strcmp(p->rows[r].model, "proposed")) continue;
            for (size_t i = 0; i < p->M; i++) printf("%s_proposed: %.6g\n", p->metric[i].key, p->rows[r].cell[i].est);
            printf("logrank_p_proposed: %.6g\nhr_proposed: %.6g\n", p->rows[r].logrank_p, p->rows[r].hr);
        }
    } else {
        printf("prognosis: skipped (no /survival in the campaign file)\n");
    }
    printf("figures_rendered: %zu\nfigures_failed: %zu\ngnuplot: %s\n", st->plot.rendered, st->plot.failed,
           st->plot.gnuplot ? st->plot.png_terminal : "not found (data and figures/render.sh written)");
    if (st->lesions.n) {
        printf("test_lesions: %zu\n", st->lesions.n);
        printf("growth_n_obs: %zu\ngrowth_beta: %.6g\ngrowth_se: %.6g\ngrowth_df: %.6g\ngrowth_p_one_sided: %.6g\n",
               st->growth.n_obs, st->growth.beta, st->growth.se, st->growth.df, st->growth.p_one_sided);
        if (st->growth.nested.fitted)
            printf("growth_nested_n_obs: %zu\ngrowth_nested_lesions: %zu\ngrowth_nested_beta: %.6g\n"
                   "growth_nested_se: %.6g\ngrowth_nested_df: %.6g\ngrowth_nested_p_one_sided: %.6g\n"
                   "growth_nested_tau2_lesion: %.6g\n",
                   st->growth.nested.n_obs, st->growth.nested.n_lesions, st->growth.nested.beta, st->growth.nested.se,
                   st->growth.nested.df, st->growth.nested.p_one_sided, st->growth.nested.tau2_lesion);
        printf("figure5: %s\n", st->fig5_skipped[0] ? st->fig5_skipped : "drawn");
        if (st->n_picked == 4)
            printf("figure5_lesions: %zu,%zu,%zu,%zu\nfigure5_saliency: %s\n", st->picked[0].lesion,
                   st->picked[1].lesion, st->picked[2].lesion, st->picked[3].lesion,
                   st->args->saliency && !st->fig5_skipped[0] ? st->args->saliency : "none");
    } else {
        printf("lesion_figures: skipped (%s)\n", st->lesions_note);
    }
    if (isfinite(st->table.oracle_cindex)) printf("oracle_cindex: %.4f\n", st->table.oracle_cindex);
    if (isfinite(st->c->annotated_truth_cindex))
        printf("annotated_truth_cindex: %.4f\n", st->c->annotated_truth_cindex);
    if (st->c->n_blis_archs > 0)
        printf("blis_arch: %s%s\n", st->c->n_blis_archs > 1 ? "mixed: " : "", st->c->blis_archs);
    print_fold_summary(st);
}

int cmd_report(int argc, char **argv)
{
    report_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    lr_err err = {0};
    lr_results c;
    if (lr_results_read(a.results, &c, &err)) return lr_runtime_error(VERB, "%s", err.msg);
    if (file_exists(a.out_dir) && !dir_is_empty(a.out_dir) && !a.force) {
        lr_results_free(&c);
        return lr_runtime_error(VERB, "%s exists and is not empty; refusing to overwrite (use --force)", a.out_dir);
    }
    report_state st;
    memset(&st, 0, sizeof st);
    st.args = &a;
    st.c = &c;
    st.lesions.job = -1;
    rc = build_report(&a, &c, &st, &err);
    if (!rc) rc = write_interpretation(&st, &err);
    if (!rc) rc = write_report_md(&st, &err);
    lr_plotter_close(&st.plot);
    if (!rc) print_summary(&st);
    lr_lesion_set_free(&st.lesions);
    lr_table2_free(&st.table);
    free(st.organ);
    lr_results_free(&c);
    if (rc) return lr_runtime_error(VERB, "%s", err.msg);
    return 0;
}
