/* Experiment files (libconfig): parsed and validated completely before any training starts.
 * Every error names the file, the line and the key, and says what was expected. */
#ifndef LR_RUNNER_CONFIG_H
#define LR_RUNNER_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "data/synth.h"
#include "model/model.h"
#include "util/err.h"

#define LR_MAX_HORIZONS 8
typedef struct {
    int n;
    double days[LR_MAX_HORIZONS]; /* increasing */
} lr_horizons;
/* The longest results_dir and campaign name the key table accepts, so that every path built from them
 * (results_dir/name/jobs/<job>.h5, ...) fits LR_PATH_MAX; LR_CAMPAIGN_DIR_FMT formats results_dir/name. */
#define LR_RESULTS_DIR_MAX 700
#define LR_NAME_MAX 100
#define LR_STR_(x) #x
#define LR_STR(x) LR_STR_(x)
#define LR_CAMPAIGN_DIR_FMT "%." LR_STR(LR_RESULTS_DIR_MAX) "s/%." LR_STR(LR_NAME_MAX) "s"

/* A sweep (`sweep = { train = { lr = [1e-4, 3e-4]; }; cnn = { width = [32, 64]; }; };`): numeric keys of
 * the groups train, cnn, scaler, augment, each with a list of values; the settings are the Cartesian
 * product, numbered with the last key varying fastest. */
#define LR_SWEEP_MAX_KEYS 8
#define LR_SWEEP_MAX_VALUES 16
#define LR_SWEEP_MAX_SETTINGS 64
typedef struct {
    int n_keys;
    char key[LR_SWEEP_MAX_KEYS][64];                 /* dotted key paths ("train.lr"), in file order */
    int n_values[LR_SWEEP_MAX_KEYS];
    double values[LR_SWEEP_MAX_KEYS][LR_SWEEP_MAX_VALUES];
    int n_settings;                                  /* product of n_values; 0 without a sweep */
} lr_sweep;

typedef struct {
    char path[LR_PATH_MAX];        /* the experiment file */
    char name[128];                /* campaign name: results/<name>/... */
    char cohort[LR_PATH_MAX];      /* cohort file (relative to the current directory) */
    int has_synth;                 /* cohort.synth block: generate the cohort when the file is missing */
    lr_synth_params synth;
    uint64_t seed;                 /* experiment seed: every stream derives from it */
    int folds;                     /* 4 as in the paper */
    int replicates;                /* new seeds on one split */
    int repeats;                   /* repeated CV: stratified splits from (seed, repeat) */
    int n_models;
    lr_model_kind models[LR_N_MODELS];
    char results_dir[LR_PATH_MAX]; /* default "results" */
    int retries;                   /* campaign runner: attempts after the first */
    int threads;                   /* CNN engine threads per rank (BLIS + OpenMP) */
    lr_train_options train;
    lr_horizons horizons;          /* report.horizons_days: prognosis horizons (default 365, 730) */
    lr_sweep sweep;                /* sweep = { ... }: settings of every learned model row */
    char *text;                    /* the file's text, echoed into shards */
} lr_experiment;

/* Every key at its default (the key table in config.c; the synthetic cohort's from lr_synth_default_params). */
void lr_experiment_defaults(lr_experiment *exp);
/* The key table as the Markdown table of experiments/README.md (tests/test_config.c compares them). */
void lr_experiment_print_keys(FILE *out);
/* Parse and validate (types, ranges, unknown keys). On error err = "<file>:<line>: <what>". */
int lr_experiment_load(const char *path, lr_experiment *exp, lr_err *err);
void lr_experiment_free(lr_experiment *exp);
/* Checks that need the cohort: volumes present for whole_volume, weights files readable.
 * Generates the cohort first when it is missing and the config has a synth block. */
int lr_experiment_check_inputs(const lr_experiment *exp, lr_err *err);
/* Generate the experiment's synthetic cohort if missing (temporary name + rename: never a partial file). */
int lr_experiment_ensure_cohort(const lr_experiment *exp, lr_err *err);
int lr_experiment_has_model(const lr_experiment *exp, lr_model_kind kind);
/* Setting s of the sweep: key k's value index (mixed radix, the last key fastest). */
int lr_sweep_value_index(const lr_sweep *sw, int setting, int key);
/* exp (a copy of the experiment) with setting s's values written into their keys; s < 0: unchanged. */
void lr_experiment_apply_setting(lr_experiment *exp, int setting);
/* "train.lr=0.0001, cnn.width=32" */
void lr_sweep_setting_text(const lr_sweep *sw, int setting, char *buf, size_t n);

#endif
