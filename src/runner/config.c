#include "runner/config.h"

#include <ctype.h>
#include <libconfig.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/campaign_schema.h"
#include "data/cohort.h"
#include "survival/npll.h"
#include "util/cli.h"
#include "util/h5.h"

/* ---- the key table: one row per key drives parsing, defaults, range checks and the README table ---- */

typedef enum {
    K_GROUP,  /* { ... } */
    K_INT,    /* int */
    K_U64,    /* uint64_t */
    K_SIZE,   /* size_t */
    K_FLOAT,  /* double */
    K_BOOL,   /* int 0/1 */
    K_STRING, /* char[size]; max = the longest accepted length */
    K_MODELS, /* the models list (lr_experiment.models, n_models) */
    K_DIMS,   /* "DxHxW" -> size_t[3], each in [min, max] */
    K_FLOAT3, /* double[3] */
    K_INT3,   /* int[3] */
    K_TIES,   /* "breslow" / "efron" -> int */
    K_FLOAT_LIST, /* 1..LR_MAX_HORIZONS increasing numbers -> lr_horizons; default: the nonzero dflt[] */
    K_SWEEP      /* sweep = { group = { key = [values]; }; }: lr_sweep (the numeric keys of SWEEP_GROUPS) */
} key_type;

typedef struct {
    const char *path;     /* dotted path */
    key_type type;
    double min, max;      /* numeric range (inclusive); strings: max = length limit */
    size_t offset, size;  /* the field in lr_experiment (AT checks its C type at compile time) */
    double dflt[3];       /* default of a number (all three of a triple) */
    const char *dflt_str; /* default of a string or ties key */
    const char *required; /* when set: no default, the key must be present; the words in the message */
    int preset;           /* 1: the default is set elsewhere (lr_synth_default_params, derived after parsing) */
    const char *shown;    /* README default when it is not a plain value */
    const char *help;     /* what is expected, for messages */
    const char *doc;      /* README meaning when it says more than help */
} key_spec;

/* offsetof with a compile-time check that the member has the C type of the key (a mismatch between the
 * table and the struct is a build error, never a silent overwrite). */
#define AT(member, ctype)                                                                                  \
    .offset = offsetof(lr_experiment, member) + 0 * sizeof(_Generic(((lr_experiment *)0)->member, ctype: 1)), \
    .size = sizeof(((lr_experiment *)0)->member)
#define GROUP(p) {.path = p, .type = K_GROUP}

static const key_spec schema[] = {
    {.path = "name", .type = K_STRING, .max = LR_NAME_MAX, AT(name, char *), .required = "the campaign name",
     .help = "campaign name (letters, digits, - and _)", .doc = "campaign name (letters, digits, `-` and `_`): `results/<name>/`, `results/<name>.h5`"},
    {.path = "seed", .type = K_U64, .min = 0, .max = 2147483647, AT(seed, uint64_t), .dflt = {1},
     .help = "experiment seed",
     .doc = "experiment seed; every random number derives from (seed, model, repeat, fold, replicate, purpose)"},
    {.path = "folds", .type = K_INT, .min = 3, .max = 20, AT(folds, int), .dflt = {4},
     .help = "number of cross-validation folds (4 as in the paper; >= 3: test, validation, training)",
     .doc = "cross-validation parts (test = k, validation = k+1, training = the rest)"},
    {.path = "replicates", .type = K_INT, .min = 1, .max = 1000, AT(replicates, int), .dflt = {1},
     .help = "replicates per (model, fold)",
     .doc = "replicates per (model, repeat, fold): new seeds on the same split. Table 2 averages a fold's C over "
            "them; the lesion-level analysis uses their ensemble (each replicate's lesion risks standardized on "
            "the fold's test lesions, then averaged)"},
    {.path = "repeats", .type = K_INT, .min = 1, .max = 64, AT(repeats, int), .dflt = {1},
     .help = "repeated cross-validation: stratified splits (repeats x folds <= " LR_STR(LR_CAMPAIGN_MAX_CV_UNITS) ")",
     .doc = "repeated cross-validation: R stratified splits, each from (seed, repeat); repeat 0 is the split of "
            "a campaign without repeats. Table 2 is over repeats × folds"},
    {.path = "models", .type = K_MODELS, AT(models, lr_model_kind *), .required = "a list of model names",
     .help = "list of model names",
     .doc = "`proposed no_fc no_scaler mean_largest5 whole_volume imagenet_resnet50 radimagenet_resnet50 "
            "total_volume sum_diameters lesion_count`"},
    {.path = "results_dir", .type = K_STRING, .max = LR_RESULTS_DIR_MAX, AT(results_dir, char *), .dflt_str = "results",
     .help = "output directory (default \"results\")", .doc = "where shards, logs and campaign files go"},
    {.path = "retries", .type = K_INT, .min = 0, .max = 100, AT(retries, int), .dflt = {1},
     .help = "attempts after a failed job", .doc = "further attempts of a failed job in `run`"},
    {.path = "threads", .type = K_INT, .min = 1, .max = 256, AT(threads, int), .dflt = {1},
     .help = "CNN engine threads per rank (BLIS and OpenMP)",
     .doc = "CNN engine threads per rank (BLIS and OpenMP); results are bitwise the same for any value. "
            "`run`/`train --threads N` override it without changing the jobs' identity; SLURM: `--cpus-per-task`"},
    GROUP("cohort"),
    {.path = "cohort.path", .type = K_STRING, .max = LR_PATH_MAX - 1, AT(cohort, char *), .required = "the cohort file",
     .help = "cohort file", .doc = "cohort file (format v1)"},
    GROUP("cohort.synth"),
    {.path = "cohort.synth.patients", .type = K_SIZE, .min = 8, .max = 1000000, AT(synth.patients, size_t),
     .preset = 1, .help = "synthetic patients",
     .doc = "the block generates the synthetic cohort at `cohort.path` when it does not exist"},
    {.path = "cohort.synth.seed", .type = K_U64, .min = 0, .max = 2147483647, AT(synth.seed, uint64_t), .preset = 1,
     .help = "synthetic cohort seed"},
    {.path = "cohort.synth.volumes", .type = K_DIMS, .min = 4, .max = 2048, AT(synth.volume_dims, size_t *),
     .preset = 1, .shown = "none", .help = "whole-volume size \"DxHxW\"", .doc = "also write `/volumes/ct` of this size"},
    GROUP("train"),
    {.path = "train.epochs", .type = K_INT, .min = 1, .max = 100000, AT(train.epochs, int), .dflt = {30},
     .help = "epochs"},
    {.path = "train.batch_annotations", .type = K_INT, .min = 2, .max = 100000, AT(train.batch_annotations, int),
     .dflt = {16}, .help = "annotations per mini-batch (>= 2 for a Cox risk set)",
     .doc = "annotations per mini-batch; the Cox risk sets are within the batch"},
    {.path = "train.max_lesions", .type = K_INT, .min = 1, .max = 100000, AT(train.max_lesions, int), .dflt = {40},
     .help = "lesions per annotation (largest kept)",
     .doc = "lesions per annotation; when more, the largest by volume are kept (ties: row order)"},
    {.path = "train.lr", .type = K_FLOAT, .min = 1e-12, .max = 10, AT(train.lr, double), .dflt = {1e-4},
     .help = "Adam learning rate", .doc = "Adam (as `torch.optim.Adam`) learning rate"},
    {.path = "train.weight_decay", .type = K_FLOAT, .min = 0, .max = 10, AT(train.weight_decay, double), .dflt = {0},
     .help = "L2 weight decay", .doc = "Adam L2 weight decay"},
    {.path = "train.ties", .type = K_TIES, AT(train.ties, int), .dflt_str = "breslow",
     .help = "\"breslow\" or \"efron\"", .doc = "NPLL tie handling"},
    {.path = "train.eval_every", .type = K_INT, .min = 1, .max = 100000, AT(train.eval_every, int), .dflt = {1},
     .help = "evaluate every k epochs", .doc = "C-index on every split every k epochs (always at the last)"},
    GROUP("cnn"),
    {.path = "cnn.width", .type = K_INT, .min = 1, .max = 1024, AT(train.width, int), .dflt = {64},
     .help = "ResNet18 base width (64 in the paper)"},
    {.path = "cnn.hu_min", .type = K_FLOAT, .min = -4096, .max = 4096, AT(train.hu_min, double), .dflt = {-250},
     .help = "HU window lower end",
     .doc = "HU window lower end (mapped to −1); the default −250..350 (L 50, W 600) is a soft-tissue window: a "
            "lesion's texture is a visible fraction of it (a CNN regressing the synthetic phenotype from patches "
            "reached Spearman 0.86 with it and 0.74 with −1000..1000, same budget), while air, fat and bone clip"},
    {.path = "cnn.hu_max", .type = K_FLOAT, .min = -4096, .max = 4096, AT(train.hu_max, double), .dflt = {350},
     .help = "HU window upper end", .doc = "HU window upper end (mapped to 1), > `cnn.hu_min`"},
    GROUP("scaler"),
    {.path = "scaler.hidden", .type = K_INT, .min = 1, .max = 4096, AT(train.scaler_hidden, int), .dflt = {16},
     .help = "size-scaler hidden units",
     .doc = "size scaler: 1 → hidden → hidden → 1 with ReLU, softplus output"},
    GROUP("augment"),
    {.path = "augment.enabled", .type = K_BOOL, AT(train.augment, int), .dflt = {1}, .help = "true or false",
     .doc = "augment every patch at every step"},
    {.path = "augment.shift", .type = K_FLOAT, .min = 0, .max = 0.5, AT(train.aug_shift, double), .dflt = {0.1},
     .help = "max shift as a fraction of the patch"},
    {.path = "augment.scale", .type = K_FLOAT, .min = 0, .max = 0.9, AT(train.aug_scale, double), .dflt = {0.15},
     .help = "scale jitter s: factor in [1-s, 1+s]"},
    {.path = "augment.rotate_deg", .type = K_FLOAT, .min = 0, .max = 180, AT(train.aug_rotate_deg, double),
     .dflt = {180}, .help = "max rotation in degrees"},
    {.path = "augment.flip", .type = K_BOOL, AT(train.aug_flip, int), .dflt = {1}, .help = "true or false",
     .doc = "random horizontal and vertical flips"},
    GROUP("resnet50"),
    {.path = "resnet50.width", .type = K_INT, .min = 1, .max = 1024, AT(train.r50_width, int), .dflt = {64},
     .help = "ResNet50 base width (64 = torchvision)"},
    {.path = "resnet50.imagenet_weights", .type = K_STRING, .max = LR_PATH_MAX - 1, AT(train.imagenet_weights, char *),
     .dflt_str = "", .help = "torchvision-layout HDF5 weights file",
     .doc = "torchvision-layout HDF5 (`analysis/torchvision_to_h5.py`); none: fractal (formula-driven) pretraining"},
    {.path = "resnet50.radimagenet_weights", .type = K_STRING, .max = LR_PATH_MAX - 1,
     AT(train.radimagenet_weights, char *), .dflt_str = "", .help = "torchvision-layout HDF5 weights file",
     .doc = "torchvision-layout HDF5; none: organ pretraining"},
    GROUP("resnet50.pretrain"),
    {.path = "resnet50.pretrain.path", .type = K_STRING, .max = LR_PATH_MAX - 1, AT(train.pretrain_path, char *),
     .preset = 1, .shown = "`<results_dir>/<name>/pretrain/organ_resnet50.h5`",
     .help = "where organ-task pretraining weights are written (the RadImageNet row without a file)"},
    {.path = "resnet50.pretrain.generic_path", .type = K_STRING, .max = LR_PATH_MAX - 1,
     AT(train.pretrain_generic_path, char *), .preset = 1,
     .shown = "`<results_dir>/<name>/pretrain/fractal_resnet50.h5`",
     .help = "where fractal-task pretraining weights are written (the ImageNet row without a file)"},
    {.path = "resnet50.pretrain.patients", .type = K_INT, .min = 8, .max = 1000000,
     AT(train.pretrain_patients, int), .dflt = {200}, .help = "patients of the pretraining corpus"},
    {.path = "resnet50.pretrain.epochs", .type = K_INT, .min = 1, .max = 100000, AT(train.pretrain_epochs, int),
     .dflt = {5}, .help = "pretraining epochs"},
    {.path = "resnet50.pretrain.seed", .type = K_U64, .min = 0, .max = 2147483647, AT(train.pretrain_seed, uint64_t),
     .dflt = {1000003}, .help = "pretraining corpus seed (must differ from the cohort's)"},
    GROUP("whole_volume"),
    {.path = "whole_volume.width", .type = K_INT, .min = 1, .max = 1024, AT(train.wv_width, int), .dflt = {64},
     .help = "3D ResNet18 base width"},
    {.path = "whole_volume.spacing_mm", .type = K_FLOAT3, .min = 0.01, .max = 100, AT(train.wv_spacing_mm, double *),
     .dflt = {5.0, 0.78125, 0.78125}, .help = "[z, y, x] spacing in mm",
     .doc = "[z, y, x] spacing in mm of the 3D input grid (`/volumes/ct` is resampled to it)"},
    {.path = "whole_volume.crop", .type = K_INT3, .min = 4, .max = 4096, AT(train.wv_crop, int *),
     .dflt = {120, 480, 480}, .help = "[D, H, W] crop", .doc = "[D, H, W] of the 3D input grid, centred"},
    {.path = "whole_volume.batch", .type = K_INT, .min = 2, .max = 10000, AT(train.wv_batch, int), .dflt = {4},
     .help = "patients per mini-batch"},
    {.path = "whole_volume.augment", .type = K_BOOL, AT(train.wv_augment, int), .dflt = {1}, .help = "true or false",
     .doc = "augment volumes as patches (the 3D analogue of `augment.*`; only when `augment.enabled`)"},
    {.path = "sweep", .type = K_SWEEP, AT(sweep, lr_sweep), .shown = "none",
     .help = "groups of lists of values: sweep = { train = { lr = [1e-4, 3e-4]; }; cnn = { width = [32, 64]; }; }",
     .doc = "`sweep = { train = { lr = [1e-4, 3e-4]; }; cnn = { width = [32, 64]; }; };`: lists of values of "
            "numeric keys of `train`, `cnn`, `scaler`, `augment` (each in the key's own range; at most "
            LR_STR(LR_SWEEP_MAX_KEYS) " keys, " LR_STR(LR_SWEEP_MAX_SETTINGS) " settings); every learned model "
            "row runs every setting of the Cartesian product, and the report selects per (repeat, fold) the "
            "setting with the best validation C"},
    GROUP("report"),
    {.path = "report.horizons_days", .type = K_FLOAT_LIST, .min = 1, .max = 36500, AT(horizons, lr_horizons),
     .dflt = {365, 730}, .help = "1 to 8 increasing prognosis horizons in days",
     .doc = "prognosis horizons (days) of the report's survival metrics: td-AUC, Brier/IPA, calibration, "
            "decision curve"},
};
#define N_SCHEMA (sizeof schema / sizeof schema[0])

static const char *const ties_names[2] = {"breslow", "efron"};

static const key_spec *find_spec(const char *path)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (!strcmp(schema[i].path, path)) return &schema[i];
    return NULL;
}

static void *field(lr_experiment *exp, const key_spec *k) { return (char *)exp + k->offset; }
static const void *cfield(const lr_experiment *exp, const key_spec *k) { return (const char *)exp + k->offset; }

void lr_experiment_defaults(lr_experiment *exp)
{
    memset(exp, 0, sizeof *exp);
    lr_synth_default_params(&exp->synth); /* the synthetic cohort's defaults are the synth verb's */
    for (size_t i = 0; i < N_SCHEMA; i++) {
        const key_spec *k = &schema[i];
        if (k->required || k->preset) continue;
        void *f = field(exp, k);
        switch (k->type) {
        case K_INT: *(int *)f = (int)k->dflt[0]; break;
        case K_U64: *(uint64_t *)f = (uint64_t)k->dflt[0]; break;
        case K_SIZE: *(size_t *)f = (size_t)k->dflt[0]; break;
        case K_FLOAT: *(double *)f = k->dflt[0]; break;
        case K_BOOL: *(int *)f = k->dflt[0] != 0; break;
        case K_STRING: snprintf(f, k->size, "%s", k->dflt_str); break;
        case K_FLOAT3: memcpy(f, k->dflt, 3 * sizeof(double)); break;
        case K_FLOAT_LIST: {
            lr_horizons *h = f;
            for (h->n = 0; h->n < 3 && k->dflt[h->n] > 0; h->n++) h->days[h->n] = k->dflt[h->n];
            break;
        }
        case K_INT3:
            for (int j = 0; j < 3; j++) ((int *)f)[j] = (int)k->dflt[j];
            break;
        case K_TIES: {
            lr_ties t = LR_TIES_BRESLOW;
            lr_ties_parse(k->dflt_str, &t);
            *(int *)f = (int)t;
            break;
        }
        default: break;
        }
    }
}

static void setting_path(const config_setting_t *s, char *buf, size_t n)
{
    const char *names[16];
    int depth = 0;
    for (const config_setting_t *p = s; p && config_setting_name(p) && depth < 16; p = config_setting_parent(p))
        names[depth++] = config_setting_name(p);
    buf[0] = '\0';
    for (int i = depth - 1; i >= 0; i--) {
        strncat(buf, names[i], n - strlen(buf) - 1);
        if (i) strncat(buf, ".", n - strlen(buf) - 1);
    }
}

static int fail_at(lr_err *err, const char *file, const config_setting_t *s, const char *fmt, const char *key,
                   const char *what)
{
    char msg[700];
    snprintf(msg, sizeof msg, fmt, key, what);
    return lr_fail(err, "%s:%d: %s", file, s ? config_setting_source_line(s) : 0, msg);
}

/* Every setting in the file must be in the schema with the right type. */
static int check_unknown(const config_setting_t *group, const char *file, lr_err *err)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char path[256];
        setting_path(s, path, sizeof path);
        const key_spec *k = find_spec(path);
        if (!k) return fail_at(err, file, s, "unknown key '%s'%s", path, " (see experiments/README.md for the keys)");
        int is_group = config_setting_type(s) == CONFIG_TYPE_GROUP;
        if (k->type == K_SWEEP) continue; /* checked by parse_sweep */
        if ((k->type == K_GROUP) != is_group)
            return fail_at(err, file, s, "'%s': expected %s", path, k->type == K_GROUP ? "a group { ... }" : k->help);
        if (is_group && check_unknown(s, file, err)) return -1;
    }
    return 0;
}

static int get_number(const config_setting_t *s, double *v)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: *v = config_setting_get_int(s); return 0;
    case CONFIG_TYPE_INT64: *v = (double)config_setting_get_int64(s); return 0;
    case CONFIG_TYPE_FLOAT: *v = config_setting_get_float(s); return 0;
    default: return -1;
    }
}

static int parse_models(const config_setting_t *s, const char *file, const char *path, lr_experiment *exp,
                        lr_err *err)
{
    int type = config_setting_type(s);
    if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || config_setting_length(s) < 1)
        return fail_at(err, file, s, "'%s': expected a non-empty list of %s", path, "model names");
    exp->n_models = 0;
    for (int i = 0; i < config_setting_length(s); i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *name = config_setting_get_string(e);
        lr_model_kind kind;
        if (!name || lr_model_parse(name, &kind))
            return fail_at(err, file, s, "'%s': unknown model '%s' (expected proposed, no_fc, no_scaler, "
                           "mean_largest5, whole_volume, imagenet_resnet50, radimagenet_resnet50, total_volume, "
                           "sum_diameters, lesion_count)", path, name ? name : "(not a string)");
        for (int j = 0; j < exp->n_models; j++)
            if (exp->models[j] == kind) return fail_at(err, file, s, "'%s': model '%s' listed twice", path, name);
        exp->models[exp->n_models++] = kind;
    }
    return 0;
}

/* The groups whose numeric keys a sweep may vary (the training of one job; not the campaign or pretraining). */
static const char *const sweep_groups[] = {"train", "cnn", "scaler", "augment"};

static int sweepable_group(const char *name)
{
    for (size_t g = 0; g < sizeof sweep_groups / sizeof sweep_groups[0]; g++)
        if (!strcmp(name, sweep_groups[g])) return 1;
    return 0;
}

/* One swept key: its values, each checked as the key table checks the key. */
static int parse_sweep_key(const config_setting_t *v, const char *file, const char *path, lr_sweep *sw, lr_err *err)
{
    const key_spec *k = find_spec(path);
    if (!k) return fail_at(err, file, v, "sweep: unknown key '%s'%s", path, " (see experiments/README.md for the keys)");
    if (k->type != K_INT && k->type != K_FLOAT)
        return fail_at(err, file, v, "sweep: key '%s' is not numeric%s", path, " (a sweep varies integer or float keys)");
    int type = config_setting_type(v), len = config_setting_length(v);
    if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || len < 1)
        return fail_at(err, file, v, "sweep: key '%s': expected a non-empty list of values%s", path, "");
    if (len > LR_SWEEP_MAX_VALUES)
        return fail_at(err, file, v, "sweep: key '%s': more than %s values", path, LR_STR(LR_SWEEP_MAX_VALUES));
    if (sw->n_keys == LR_SWEEP_MAX_KEYS)
        return fail_at(err, file, v, "sweep: key '%s': more than %s keys", path, LR_STR(LR_SWEEP_MAX_KEYS));
    int n = sw->n_keys;
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(v, (unsigned)i);
        double x;
        char what[200];
        if (get_number(e, &x) || (k->type == K_INT && config_setting_type(e) == CONFIG_TYPE_FLOAT)) {
            snprintf(what, sizeof what, ": expected %s values: %s", k->type == K_INT ? "integer" : "numeric", k->help);
            return fail_at(err, file, v, "sweep: key '%s'%s", path, what);
        }
        if (!(x >= k->min && x <= k->max)) {
            snprintf(what, sizeof what, "value %g out of range: expected %s in [%g, %g]", x, k->help, k->min, k->max);
            return fail_at(err, file, v, "sweep: key '%s': %s", path, what);
        }
        for (int q = 0; q < i; q++)
            if (sw->values[n][q] == x) {
                snprintf(what, sizeof what, "value %g listed twice", x);
                return fail_at(err, file, v, "sweep: key '%s': %s", path, what);
            }
        sw->values[n][i] = x;
    }
    snprintf(sw->key[n], sizeof sw->key[n], "%.63s", k->path);
    sw->n_values[n] = len;
    sw->n_keys++;
    return 0;
}

/* sweep = { group = { key = [values]; ... }; ... }: groups of SWEEP_GROUPS, keys of the key table. */
static int parse_sweep(const config_setting_t *s, const char *file, lr_sweep *sw, lr_err *err)
{
    memset(sw, 0, sizeof *sw);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return fail_at(err, file, s, "'%s': expected %s", "sweep",
                       "a group: sweep = { train = { lr = [1e-4, 3e-4]; }; cnn = { width = [32, 64]; }; }");
    for (int g = 0; g < config_setting_length(s); g++) {
        const config_setting_t *grp = config_setting_get_elem(s, (unsigned)g);
        const char *gname = config_setting_name(grp);
        if (config_setting_type(grp) != CONFIG_TYPE_GROUP) {
            const key_spec *k = find_spec(gname);
            if (k && k->type != K_GROUP)
                return fail_at(err, file, grp, "sweep: key '%s'%s", gname,
                               " cannot be swept: only keys of the groups train, cnn, scaler, augment");
            return fail_at(err, file, grp, "sweep: '%s': expected a group of keys, e.g. %s", gname,
                           "train = { lr = [1e-4, 3e-4]; }");
        }
        for (int i = 0; i < config_setting_length(grp); i++) {
            const config_setting_t *v = config_setting_get_elem(grp, (unsigned)i);
            char path[160];
            snprintf(path, sizeof path, "%s.%s", gname, config_setting_name(v));
            if (config_setting_type(v) == CONFIG_TYPE_GROUP)
                return fail_at(err, file, v, "sweep: key '%s'%s", path, ": expected a list of values, not a group");
            if (!sweepable_group(gname)) {
                if (!find_spec(path))
                    return fail_at(err, file, v, "sweep: unknown key '%s'%s", path,
                                   " (see experiments/README.md for the keys)");
                return fail_at(err, file, v, "sweep: key '%s'%s", path,
                               " cannot be swept: only keys of the groups train, cnn, scaler, augment");
            }
            if (parse_sweep_key(v, file, path, sw, err)) return -1;
        }
    }
    if (sw->n_keys == 0) return fail_at(err, file, s, "'%s': %s", "sweep", "expected at least one key with values");
    long n = 1;
    for (int k = 0; k < sw->n_keys; k++) n *= sw->n_values[k];
    if (n > LR_SWEEP_MAX_SETTINGS)
        return fail_at(err, file, s, "'%s': %s", "sweep", "more than " LR_STR(LR_SWEEP_MAX_SETTINGS) " settings");
    sw->n_settings = (int)n;
    return 0;
}

int lr_sweep_value_index(const lr_sweep *sw, int setting, int key)
{
    int stride = 1;
    for (int k = sw->n_keys - 1; k > key; k--) stride *= sw->n_values[k];
    return (setting / stride) % sw->n_values[key];
}

void lr_experiment_apply_setting(lr_experiment *exp, int setting)
{
    if (setting < 0 || setting >= exp->sweep.n_settings) return;
    for (int k = 0; k < exp->sweep.n_keys; k++) {
        const key_spec *spec = find_spec(exp->sweep.key[k]);
        double v = exp->sweep.values[k][lr_sweep_value_index(&exp->sweep, setting, k)];
        if (spec->type == K_INT) *(int *)field(exp, spec) = (int)v;
        else *(double *)field(exp, spec) = v;
    }
}

void lr_sweep_setting_text(const lr_sweep *sw, int setting, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int k = 0; k < sw->n_keys && setting >= 0; k++) {
        size_t used = strlen(buf);
        snprintf(buf + used, n - used, "%s%s=%g", k ? ", " : "", sw->key[k],
                 sw->values[k][lr_sweep_value_index(sw, setting, k)]);
    }
}

/* One key present in the file: type, range, then the value into its field. */
static int parse_key(const key_spec *k, const config_setting_t *s, const char *file, lr_experiment *exp, lr_err *err)
{
    const char *path = k->path;
    int type = config_setting_type(s);
    void *f = field(exp, k);
    char range[128];
    snprintf(range, sizeof range, "%s in [%g, %g]", k->help, k->min, k->max);
    switch (k->type) {
    case K_INT:
    case K_U64:
    case K_SIZE: {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return fail_at(err, file, s, "'%s': expected an integer: %s", path, k->help);
        double v;
        get_number(s, &v);
        if (v < k->min || v > k->max) return fail_at(err, file, s, "'%s': out of range: expected %s", path, range);
        if (k->type == K_INT) *(int *)f = (int)v;
        else if (k->type == K_U64) *(uint64_t *)f = (uint64_t)v;
        else *(size_t *)f = (size_t)v;
        return 0;
    }
    case K_FLOAT: {
        double v;
        if (get_number(s, &v)) return fail_at(err, file, s, "'%s': expected a number: %s", path, k->help);
        if (!(v >= k->min && v <= k->max)) return fail_at(err, file, s, "'%s': out of range: expected %s", path, range);
        *(double *)f = v;
        return 0;
    }
    case K_BOOL:
        if (type != CONFIG_TYPE_BOOL) return fail_at(err, file, s, "'%s': expected %s", path, k->help);
        *(int *)f = config_setting_get_bool(s);
        return 0;
    case K_STRING:
    case K_DIMS:
    case K_TIES: {
        if (type != CONFIG_TYPE_STRING) return fail_at(err, file, s, "'%s': expected a string: %s", path, k->help);
        const char *v = config_setting_get_string(s);
        if (k->type == K_DIMS) {
            if (lr_parse_dims(v, (long)k->min, (long)k->max, f)) {
                snprintf(range, sizeof range, "expected \"DxHxW\" with each in [%g, %g]", k->min, k->max);
                return fail_at(err, file, s, "'%s': %s", path, range);
            }
            return 0;
        }
        if (k->type == K_TIES) {
            lr_ties ties;
            if (lr_ties_parse(v, &ties)) return fail_at(err, file, s, "'%s': %s", path, "expected \"breslow\" or \"efron\"");
            *(int *)f = (int)ties;
            return 0;
        }
        if (strlen(v) > (size_t)k->max) {
            snprintf(range, sizeof range, "expected at most %g characters: %s", k->max, k->help);
            return fail_at(err, file, s, "'%s': too long: %s", path, range);
        }
        snprintf(f, k->size, "%s", v);
        return 0;
    }
    case K_FLOAT_LIST: {
        lr_horizons *h = f;
        int len = config_setting_length(s);
        if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || len < 1 || len > LR_MAX_HORIZONS)
            return fail_at(err, file, s, "'%s': expected a list of %s", path, k->help);
        for (int i = 0; i < len; i++) {
            double v;
            if (get_number(config_setting_get_elem(s, (unsigned)i), &v) || !(v >= k->min && v <= k->max) ||
                (i > 0 && !(v > h->days[i - 1])))
                return fail_at(err, file, s, "'%s': expected %s", path, range);
            h->days[i] = v;
        }
        h->n = len;
        return 0;
    }
    case K_FLOAT3:
    case K_INT3: {
        if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || config_setting_length(s) != 3)
            return fail_at(err, file, s, "'%s': expected three numbers: %s", path, k->help);
        double three[3];
        for (int i = 0; i < 3; i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (get_number(e, &three[i]) || (k->type == K_INT3 && config_setting_type(e) == CONFIG_TYPE_FLOAT))
                return fail_at(err, file, s, "'%s': expected three %s", path,
                               k->type == K_INT3 ? "integers" : "numbers");
            if (!(three[i] >= k->min && three[i] <= k->max))
                return fail_at(err, file, s, "'%s': out of range: expected %s", path, range);
        }
        for (int i = 0; i < 3; i++) {
            if (k->type == K_FLOAT3) ((double *)f)[i] = three[i];
            else ((int *)f)[i] = (int)three[i];
        }
        return 0;
    }
    case K_MODELS: return parse_models(s, file, path, exp, err);
    case K_SWEEP: return parse_sweep(s, file, f, err);
    default: return 0;
    }
}

static int valid_name(const char *s)
{
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return 0;
    return 1;
}

/* The checks that involve more than one key. */
static int check_together(const config_t *cfg, const char *file, lr_experiment *exp, lr_err *err)
{
    for (int s = 0; s < exp->sweep.n_settings; s++) { /* every setting of a sweep as a config of its own */
        lr_experiment *one = malloc(sizeof *one);
        if (!one) return lr_fail(err, "out of memory");
        *one = *exp;
        lr_experiment_apply_setting(one, s);
        one->sweep.n_settings = 0;
        int rc = check_together(cfg, file, one, err);
        free(one);
        if (rc) {
            char text[400];
            lr_sweep_setting_text(&exp->sweep, s, text, sizeof text);
            return lr_fail_ctx(err, "sweep setting %d (%s)", s, text);
        }
    }
    if (!valid_name(exp->name))
        return fail_at(err, file, config_lookup(cfg, "name"), "'%s': %s", "name", "expected letters, digits, - and _ only");
    if (exp->repeats * exp->folds > LR_CAMPAIGN_MAX_CV_UNITS)
        return fail_at(err, file, config_lookup(cfg, "repeats"), "'%s': %s", "repeats",
                       "expected repeats x folds <= " LR_STR(LR_CAMPAIGN_MAX_CV_UNITS));
    if (exp->train.hu_max <= exp->train.hu_min)
        return fail_at(err, file, config_lookup(cfg, "cnn.hu_max"), "'%s': %s", "cnn.hu_max", "expected hu_max > hu_min");
    if (exp->has_synth && exp->train.pretrain_seed == exp->synth.seed)
        return fail_at(err, file, config_lookup(cfg, "resnet50.pretrain.seed"), "'%s': %s", "resnet50.pretrain.seed",
                       "must differ from cohort.synth.seed (the pretraining corpus is disjoint from the cohort)");
    return 0;
}

/* A libconfig syntax error on a line with "name.name =" (a dotted key written as a setting name). */
static int dotted_name_on_line(const char *file, int line)
{
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char buf[1024];
    int n = 0, found = 0;
    while (fgets(buf, sizeof buf, f))
        if (++n == line) {
            for (const char *dot = strchr(buf, '.'); dot && !found; dot = strchr(dot + 1, '.'))
                found = dot > buf && (isalpha((unsigned char)dot[-1]) || dot[-1] == '_') &&
                        isalpha((unsigned char)dot[1]) && strchr(dot, '=') && !strchr(buf, '"');
            break;
        }
    fclose(f);
    return found;
}

int lr_experiment_load(const char *file, lr_experiment *exp, lr_err *err)
{
    lr_experiment_defaults(exp);
    snprintf(exp->path, sizeof exp->path, "%s", file);
    struct stat st;
    if (stat(file, &st) != 0) return lr_fail(err, "%s: no such experiment file", file);
    config_t cfg;
    config_init(&cfg);
    if (config_read_file(&cfg, file) != CONFIG_TRUE) {
        lr_fail(err, "%s:%d: %s%s", file, config_error_line(&cfg), config_error_text(&cfg),
                dotted_name_on_line(file, config_error_line(&cfg))
                    ? " (setting names cannot contain '.': write a sweep as sweep = { train = { lr = [1e-4, 3e-4]; }; })"
                    : "");
        config_destroy(&cfg);
        return -1;
    }
    if (check_unknown(config_root_setting(&cfg), file, err)) goto fail;
    for (size_t i = 0; i < N_SCHEMA; i++) {
        const key_spec *k = &schema[i];
        if (k->type == K_GROUP) continue;
        const config_setting_t *s = config_lookup(&cfg, k->path);
        if (!s && k->required) {
            lr_fail(err, "%s: missing key '%s' (%s)", file, k->path, k->required);
            goto fail;
        }
        if (s && parse_key(k, s, file, exp, err)) goto fail;
    }
    exp->has_synth = config_lookup(&cfg, "cohort.synth") != NULL;
    exp->synth.volumes = config_lookup(&cfg, "cohort.synth.volumes") != NULL;
    if (check_together(&cfg, file, exp, err)) goto fail;
    if (!exp->train.pretrain_path[0])
        snprintf(exp->train.pretrain_path, LR_PATH_MAX, LR_CAMPAIGN_DIR_FMT "/pretrain/organ_resnet50.h5",
                 exp->results_dir, exp->name);
    if (!exp->train.pretrain_generic_path[0])
        snprintf(exp->train.pretrain_generic_path, LR_PATH_MAX, LR_CAMPAIGN_DIR_FMT "/pretrain/fractal_resnet50.h5",
                 exp->results_dir, exp->name);
    config_destroy(&cfg);
    exp->text = lr_read_text_file(file);
    if (!exp->text) return lr_fail(err, "%s: cannot read", file);
    return 0;
fail:
    config_destroy(&cfg);
    return -1;
}

/* ---- the README table ---- */

static void print_range(FILE *out, const key_spec *k)
{
    switch (k->type) {
    case K_INT:
    case K_U64:
    case K_SIZE: fprintf(out, "int %.0f–%.0f", k->min, k->max); break;
    case K_FLOAT: fprintf(out, "float [%g, %g]", k->min, k->max); break;
    case K_BOOL: fprintf(out, "bool"); break;
    case K_STRING: fprintf(out, "string (≤ %g characters)", k->max); break;
    case K_MODELS: fprintf(out, "list of model names"); break;
    case K_DIMS: fprintf(out, "`\"DxHxW\"`, each %g–%g", k->min, k->max); break;
    case K_FLOAT3: fprintf(out, "3 floats in [%g, %g]", k->min, k->max); break;
    case K_INT3: fprintf(out, "3 ints %.0f–%.0f", k->min, k->max); break;
    case K_TIES: fprintf(out, "`\"breslow\"`/`\"efron\"`"); break;
    case K_FLOAT_LIST: fprintf(out, "list of 1–%d increasing floats in [%g, %g]", LR_MAX_HORIZONS, k->min, k->max); break;
    case K_SWEEP: fprintf(out, "group of groups of lists"); break;
    default: break;
    }
}

static void print_default(FILE *out, const key_spec *k, const lr_experiment *d)
{
    const void *f = cfield(d, k);
    if (k->required) {
        fprintf(out, "required");
        return;
    }
    if (k->shown) {
        fprintf(out, "%s", k->shown);
        return;
    }
    switch (k->type) {
    case K_INT: fprintf(out, "%d", *(const int *)f); break;
    case K_U64: fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case K_SIZE: fprintf(out, "%zu", *(const size_t *)f); break;
    case K_FLOAT: fprintf(out, "%g", *(const double *)f); break;
    case K_BOOL: fprintf(out, "%s", *(const int *)f ? "true" : "false"); break;
    case K_STRING: fprintf(out, "`\"%s\"`", (const char *)f); break;
    case K_FLOAT3: {
        const double *v = f;
        fprintf(out, "[%g, %g, %g]", v[0], v[1], v[2]);
        break;
    }
    case K_INT3: {
        const int *v = f;
        fprintf(out, "[%d, %d, %d]", v[0], v[1], v[2]);
        break;
    }
    case K_FLOAT_LIST: {
        const lr_horizons *h = f;
        fprintf(out, "[");
        for (int j = 0; j < h->n; j++) fprintf(out, "%s%g", j ? ", " : "", h->days[j]);
        fprintf(out, "]");
        break;
    }
    case K_TIES: fprintf(out, "%s", ties_names[*(const int *)f ? 1 : 0]); break;
    default: break;
    }
}

void lr_experiment_print_keys(FILE *out)
{
    lr_experiment d;
    lr_experiment_defaults(&d);
    fprintf(out, "| key | type, range | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < N_SCHEMA; i++) {
        const key_spec *k = &schema[i];
        if (k->type == K_GROUP) continue;
        fprintf(out, "| `%s` | ", k->path);
        print_range(out, k);
        fprintf(out, " | ");
        print_default(out, k, &d);
        fprintf(out, " | %s |\n", k->doc ? k->doc : k->help);
    }
}

void lr_experiment_free(lr_experiment *exp)
{
    free(exp->text);
    exp->text = NULL;
}

int lr_experiment_has_model(const lr_experiment *exp, lr_model_kind kind)
{
    for (int i = 0; i < exp->n_models; i++)
        if (exp->models[i] == kind) return 1;
    return 0;
}

int lr_experiment_ensure_cohort(const lr_experiment *exp, lr_err *err)
{
    struct stat st;
    if (stat(exp->cohort, &st) == 0) return 0;
    if (!exp->has_synth)
        return lr_fail(err, "%s: cohort '%s' does not exist (and the config has no cohort.synth block to generate it)",
                       exp->path, exp->cohort);
    if (lr_mkdir_parents(exp->cohort, 0)) return lr_fail(err, "%s: cannot create its directory", exp->cohort);
    char tmp[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", exp->cohort, (long)getpid());
    if (lr_synth_write(tmp, &exp->synth, err)) {
        unlink(tmp);
        return lr_fail_ctx(err, "generating the synthetic cohort %s", exp->cohort);
    }
    if (rename(tmp, exp->cohort) != 0) {
        unlink(tmp);
        return lr_fail(err, "%s: cannot rename the generated cohort into place", exp->cohort);
    }
    return 0;
}

static int weights_readable(const char *cfg, const char *key, const char *path, lr_err *err)
{
    if (!path[0]) return 0;
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return lr_fail_ctx(err, "%s: %s", cfg, key);
    H5Fclose(f);
    return 0;
}

int lr_experiment_check_inputs(const lr_experiment *exp, lr_err *err)
{
    if (lr_experiment_ensure_cohort(exp, err)) return -1;
    lr_cohort c;
    if (lr_cohort_read(exp->cohort, LR_COHORT_NO_PATCHES, &c, err))
        return lr_fail_ctx(err, "%s: cohort.path", exp->path);
    int rc = 0;
    if (lr_experiment_has_model(exp, LR_MODEL_WHOLE_VOLUME) && !c.has_volumes)
        rc = lr_fail(err, "%s: model whole_volume needs /volumes/ct, but cohort %s has none (synth --volumes or "
                     "ingest --volumes)", exp->path, exp->cohort);
    if (rc == 0 && c.n_patients < (size_t)exp->folds * 2)
        rc = lr_fail(err, "%s: cohort %s has %zu patients: too few for %d folds", exp->path, exp->cohort,
                     c.n_patients, exp->folds);
    lr_cohort_free(&c);
    if (rc) return rc;
    if (lr_experiment_has_model(exp, LR_MODEL_IMAGENET_RESNET50) &&
        weights_readable(exp->path, "resnet50.imagenet_weights", exp->train.imagenet_weights, err))
        return -1;
    if (lr_experiment_has_model(exp, LR_MODEL_RADIMAGENET_RESNET50) &&
        weights_readable(exp->path, "resnet50.radimagenet_weights", exp->train.radimagenet_weights, err))
        return -1;
    return 0;
}
