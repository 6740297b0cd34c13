/* The report: Table 2 with bootstrap intervals, the interpretation statistics of the paper's §6 (organ
 * violins, the growing-vs-shrinking mixed model, top/bottom lesions, truth recovery) and the figures. The
 * numbers live here (GSL); the plots are gnuplot scripts in analysis/ that read the data files we write. */
#ifndef LR_REPORT_REPORT_H
#define LR_REPORT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/results.h"
#include "util/err.h"

/* ---- Table 2 ---- */

#define LR_TABLE2_ROWS 10

typedef struct {
    const char *model;   /* campaign model name */
    const char *label;   /* the paper's row name */
    char shown[256];     /* the row as the tables name it: the label, with a sweep "[selected]" or the setting */
    int setting;         /* -1: the model's row (with a sweep: the selected setting per unit); >= 0: that setting */
    int learned;         /* 0 for the size baselines */
    int present;         /* the campaign has jobs of this model */
    int starred;         /* best-validation checkpoint (from /jobs/selection) */
    char weights[256];   /* weight provenance (/jobs/weights_source of the first ok job) */
    size_t n_jobs, n_ok, n_failed, n_missing;
    char problems[512];  /* "fold 2 rep 0 missing; fold 3 rep 0 failed (reason)" */
    int n_folds;         /* (repeat, fold) units with at least one ok job (the folds with one repeat) */
    double fold_c[LR_CAMPAIGN_MAX_CV_UNITS][3]; /* per unit u = repeat * folds + fold (replicates averaged), NaN
                                                    when the unit has no ok job */
    double mean[3], sd[3];  /* over units; sd is the sample sd (n-1); NaN with < 2 units */
    /* pooled out-of-fold test C: mean over folds of the per-fold test C, stratified bootstrap */
    double pooled, pct_low, pct_high, bca_low, bca_high, boot_se;
    /* paired difference to Proposed on the same resampled patients (folds both have) */
    double diff, diff_low, diff_high, diff_pct_low, diff_pct_high;
    int diff_folds;      /* units both have */
} lr_table2_row;

typedef struct {
    size_t replicates;  /* bootstrap replicates B */
    double level;       /* 0.95 */
    uint64_t seed;
} lr_table2_options;

/* Nested selection of one (model, repeat, fold): the setting with the best validation C and its test C. */
typedef struct {
    const char *model;
    int repeat, fold, setting; /* setting -1: none had an ok job with a finite validation C */
    double valid_c, test_c;    /* the selected setting's (replicates averaged) */
    char values[200];          /* the setting's values, "train.lr=0.0001, cnn.width=32" */
} lr_table2_selection;

typedef struct {
    lr_table2_row rows[LR_TABLE2_ROWS]; /* the model rows (with a sweep: the selected setting) */
    lr_table2_selection *selection; /* [n_selection] a sweep: per swept model and (repeat, fold) */
    size_t n_selection;
    lr_table2_row *settings;  /* [n_settings] sweep: one row per (learned model, setting) */
    size_t n_settings;
    size_t folds, repeats, units; /* units = repeats x folds */
    size_t n_test_patients;   /* patients that are test patients in some (repeat, fold) */
    size_t n_test_entries;    /* (unit, test patient) pairs: n_test_patients x repeats when complete */
    lr_table2_options opt;
    double oracle_cindex;     /* NaN without truth */
    double annotated_truth_cindex; /* NaN without truth: the reachable ceiling (cohort.h) */
    size_t n_unknown_models;  /* jobs whose model is not a Table 2 row */
} lr_table2;

lr_table2_options lr_table2_default_options(void);
/* Every row, present or not, in the paper's order followed by the size baselines. Free with lr_table2_free. */
int lr_table2_compute(const lr_results *c, const lr_table2_options *opt, lr_table2 *t, lr_err *err);
void lr_table2_free(lr_table2 *t);
/* table2.md, table2.csv, table2.tex in dir; with a sweep also selection.csv (lr_table2_selection rows). */
int lr_table2_write(const lr_table2 *t, const char *dir, lr_err *err);
/* Intervals from the finite replicates t[used] (sorted in place): percentile, and BCa from z0 and the
 * stratified jackknife values L[n] (non-finite L ignored); NaN when undefined. Shared by Table 2 and the
 * prognosis tables. */
void lr_report_intervals(double *t, size_t used, double estimate, const double *L, size_t n, double level,
                         double *pct_low, double *pct_high, double *bca_low, double *bca_high, double *se);

/* Patient p's test fold (the fold whose ok jobs have it in test), -1 if none. out[P]. */
void lr_results_test_fold(const lr_results *c, int *out);

/* ---- densities ---- */

/* Silverman's rule of thumb h = 0.9 min(sd, IQR/1.34) n^(-1/5) (sd from gsl_stats_sd, IQR from
 * gsl_stats_quantile_from_sorted_data); when both are 0 (constant data) h = 1e-3 (|mean| + 1). */
double lr_silverman_bandwidth(const double *sorted, size_t n);
/* Gaussian kernel density of data[n] at x[m] with bandwidth h: out[m] (integrates to 1). */
void lr_gaussian_kde(const double *data, size_t n, double h, const double *x, size_t m, double *out);

/* ---- selection of the lesions the figures use ---- */

typedef struct {
    size_t n;           /* test lesions of the split with a finite risk */
    size_t *lesion;     /* [n] lesion rows */
    double *risk;       /* [n] */
    long *lesion_job;   /* [n] the job each risk comes from (one per fold when all folds are pooled; with
                         * replicates, the fold's lowest ok replicate) */
    double *by_lesion;  /* [L] risk of each lesion row, NaN when not in the set */
    long job;           /* the job they come from (the first, when pooled) */
    int replicates;     /* most ok replicates averaged in one fold (1: the job's own risks) */
} lr_lesion_set;

/* Test lesions of (model, fold); all folds when fold < 0 (risks of different folds are on different scales:
 * the report says so where it pools them). With one ok replicate in a fold its risks are the job's own; with
 * R > 1, a lesion's risk is the mean over the replicates of its standardized risk (each replicate's risks
 * minus their mean, over its sd, over that fold's test lesions): the replicate ensemble, on a common scale. */
int lr_test_lesions(const lr_results *c, const char *model, int fold, lr_lesion_set *s, lr_err *err);
void lr_lesion_set_free(lr_lesion_set *s);

/* ---- growth (paper §6.2) ---- */

typedef struct {
    size_t n_obs, n_growing, n_shrinking, n_vanished, n_patients, n_no_followup;
    double beta, se, df, t, p_one_sided, p_two_sided;      /* growing effect, Satterthwaite df (lmerTest) */
    double df_containment, p_one_sided_containment;
    double intercept, tau2, sigma2;
    int singular;
    double median_growing, median_shrinking;
    /* Each lesion counted once: risk ~ growing + (1 | patient) + (1 | patient:lesion) by REML (Satterthwaite
     * df), on the rows that entered the patient's risk (/risks/lesion_used); only with lesion keys
     * (/cohort/lesion_key; a row with key -1 is its own lesion). The fields above stay the paper's model. */
    struct {
        int fitted;           /* 0: no keys, or too few growing/shrinking lesions */
        size_t n_obs, n_lesions, n_patients, n_unused; /* n_unused: test rows with follow-up beyond the cap */
        double beta, se, df, t, p_one_sided, p_two_sided;
        double intercept, tau2, tau2_lesion, sigma2;
        int singular;
    } nested;
} lr_growth_result;

/* Labels test lesions with a follow-up (NaN excluded), fits risk ~ growing + (1 | patient) by REML and
 * writes csv_path (columns risk, growing, patient) when not NULL; with lesion keys also the nested model
 * (see nested above) and its rows to nested_csv_path (columns risk, growing, patient, lesion) when not NULL. */
int lr_growth_test(const lr_results *c, const lr_lesion_set *s, const char *csv_path, const char *nested_csv_path,
                   lr_growth_result *g, lr_err *err);


/* ---- figures (figures.c): data files in DIR/data, gnuplot scripts copied to DIR/figures/gp, every
 * gnuplot command also written to DIR/figures/render.sh so a user can re-render (or render later when
 * gnuplot was missing). ---- */

typedef struct {
    char out_dir[1024];
    char analysis_dir[1024];
    int gnuplot;            /* gnuplot found and runs */
    char png_terminal[16];  /* pngcairo, or png when cairo is missing */
    FILE *render;           /* DIR/figures/render.sh */
    size_t rendered, failed;/* image files produced / gnuplot runs that failed */
} lr_plotter;

/* The plot templates' directory: given, else $LESIONRANK_ANALYSIS, else <binary>/../analysis, else ./analysis. */
void lr_find_analysis_dir(const char *given, char *out, size_t size);
/* Finds gnuplot (and pngcairo), copies the .gp scripts from analysis_dir, starts render.sh. */
int lr_plotter_init(lr_plotter *pl, const char *out_dir, const char *analysis_dir, lr_err *err);
/* Renders analysis/<script>.gp to DIR/figures/<name>.png and .svg; vars are extra "name='value'"
 * gnuplot assignments. A failing gnuplot run is counted (pl->failed), not an error. */
int lr_plot(lr_plotter *pl, const char *script, const char *name, const char *const *vars, size_t n_vars,
            lr_err *err);
void lr_plotter_close(lr_plotter *pl);

/* 0xRRGGBB colours shared by every figure. */
unsigned lr_model_colour(const char *model);
unsigned lr_organ_colour(size_t organ);
/* t in [0,1]: blue (low risk) -> red (high risk). */
unsigned lr_risk_colour(double t);
/* A saliency overlay as gnuplot rgbimage rows "x y r g b" (0..255): the patch hu [side*side] in the window
 * (level, width), with map [side*side] (NULL: the patch alone) blended over it — red where the map raises the
 * risk, blue where it lowers it, opacity 0.65 |map| / max |map|. */
void lr_saliency_write_rgb(FILE *f, const float *hu, const float *map, int side, double level, double width);

typedef struct {
    size_t n;
    double median, q1, q3;
} lr_group_stats;

/* Figure 3: risks per organ. stats[K] receives each organ's counts and quartiles. */
int lr_figure_organs(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *caption,
                     lr_group_stats *stats, lr_err *err);
/* Figure 4: growing vs shrinking (rereads DIR/lmm_growth.csv's rows from the set). */
int lr_figure_growth(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *caption,
                     lr_err *err);

typedef struct {
    size_t lesion, annotation, patient;
    double risk;
    int rank_high;   /* 1 highest, 2 second; 0 for the lowest two */
    int rank_low;
} lr_picked_lesion;

/* The 2 highest and 2 lowest risks of the set: out[4] (highest first, then lowest first). */
int lr_pick_extremes(const lr_lesion_set *s, const lr_results *c, lr_picked_lesion *out, size_t *n_out);
/* Figure 5 from the cohort's patches. *skipped receives a reason (and 0 is returned) when the cohort
 * cannot be used; the figure is then not drawn. With saliency_path (a `predict --saliency` file of this
 * campaign's `model` on this campaign's cohort, else an error naming what differs) each patch carries its
 * occlusion map. */
int lr_figure_lesions(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *cohort_path,
                      const char *saliency_path, const char *model, const lr_picked_lesion *picked,
                      size_t n_picked, char *skipped, size_t skipped_size, lr_err *err);
/* Training curves of every learned model: loss, train C, valid C per epoch, mean ± sd over jobs. */
int lr_figure_curves(lr_plotter *pl, const lr_results *c, size_t *n_models, lr_err *err);

typedef struct {
    const char *model;
    size_t folds;
    double rho_mean, rho_sd, rho_split; /* Spearman of lesion risk vs true lesion log-hazard, test lesions */
    size_t n_split;
} lr_truth_rho;

/* Truth recovery (synthetic cohorts): scatter for the set's model/split and a ρ per learned model. */
int lr_figure_truth(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *model,
                    lr_truth_rho *rho, size_t *n_rho, double *rho_split, lr_err *err);

#endif
