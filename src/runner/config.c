#include "runner/config.h"

#include <libconfig.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cohort.h"
#include "survival/npll.h"
#include "util/cli.h"
#include "util/h5.h"

typedef enum { K_GROUP, K_INT, K_FLOAT, K_BOOL, K_STRING, K_MODELS, K_DIMS, K_FLOAT3, K_INT3, K_TIES, K_FLOAT_LIST } key_type;

typedef struct {
    const char *path; /* dotted path */
    key_type type;
    double min, max;  /* numeric range (inclusive) */
    const char *help; /* what is expected, for messages */
} key_spec;

static const key_spec schema[] = {
    {"name", K_STRING, 0, 0, "campaign name (letters, digits, - and _)"},
    {"seed", K_INT, 0, 2147483647, "experiment seed"},
    {"folds", K_INT, 3, 20, "number of cross-validation folds (4 as in the paper; >= 3: test, validation, training)"},
    {"replicates", K_INT, 1, 1000, "replicates per (model, fold)"},
    {"models", K_MODELS, 0, 0, "list of model names"},
    {"results_dir", K_STRING, 0, 0, "output directory (default \"results\")"},
    {"retries", K_INT, 0, 100, "attempts after a failed job"},
    {"cohort", K_GROUP, 0, 0, ""},
    {"cohort.path", K_STRING, 0, 0, "cohort file"},
    {"cohort.synth", K_GROUP, 0, 0, ""},
    {"cohort.synth.patients", K_INT, 8, 1000000, "synthetic patients"},
    {"cohort.synth.seed", K_INT, 0, 2147483647, "synthetic cohort seed"},
    {"cohort.synth.volumes", K_DIMS, 0, 0, "whole-volume size \"DxHxW\""},
    {"train", K_GROUP, 0, 0, ""},
    {"train.epochs", K_INT, 1, 100000, "epochs"},
    {"train.batch_annotations", K_INT, 2, 100000, "annotations per mini-batch (>= 2 for a Cox risk set)"},
    {"train.max_lesions", K_INT, 1, 100000, "lesions per annotation (largest kept)"},
    {"train.lr", K_FLOAT, 1e-12, 10, "Adam learning rate"},
    {"train.weight_decay", K_FLOAT, 0, 10, "L2 weight decay"},
    {"train.ties", K_TIES, 0, 0, "\"breslow\" or \"efron\""},
    {"train.eval_every", K_INT, 1, 100000, "evaluate every k epochs"},
    {"cnn", K_GROUP, 0, 0, ""},
    {"cnn.width", K_INT, 1, 1024, "ResNet18 base width (64 in the paper)"},
    {"cnn.hu_min", K_FLOAT, -4096, 4096, "HU window lower end"},
    {"cnn.hu_max", K_FLOAT, -4096, 4096, "HU window upper end"},
    {"scaler", K_GROUP, 0, 0, ""},
    {"scaler.hidden", K_INT, 1, 4096, "size-scaler hidden units"},
    {"augment", K_GROUP, 0, 0, ""},
    {"augment.enabled", K_BOOL, 0, 0, "true or false"},
    {"augment.shift", K_FLOAT, 0, 0.5, "max shift as a fraction of the patch"},
    {"augment.scale", K_FLOAT, 0, 0.9, "scale jitter s: factor in [1-s, 1+s]"},
    {"augment.rotate_deg", K_FLOAT, 0, 180, "max rotation in degrees"},
    {"augment.flip", K_BOOL, 0, 0, "true or false"},
    {"resnet50", K_GROUP, 0, 0, ""},
    {"resnet50.width", K_INT, 1, 1024, "ResNet50 base width (64 = torchvision)"},
    {"resnet50.imagenet_weights", K_STRING, 0, 0, "torchvision-layout HDF5 weights file"},
    {"resnet50.radimagenet_weights", K_STRING, 0, 0, "torchvision-layout HDF5 weights file"},
    {"resnet50.pretrain", K_GROUP, 0, 0, ""},
    {"resnet50.pretrain.path", K_STRING, 0, 0, "where organ-task pretraining weights are written"},
    {"resnet50.pretrain.patients", K_INT, 8, 1000000, "patients of the pretraining corpus"},
    {"resnet50.pretrain.epochs", K_INT, 1, 100000, "pretraining epochs"},
    {"resnet50.pretrain.seed", K_INT, 0, 2147483647, "pretraining corpus seed (must differ from the cohort's)"},
    {"whole_volume", K_GROUP, 0, 0, ""},
    {"whole_volume.width", K_INT, 1, 1024, "3D ResNet18 base width"},
    {"whole_volume.spacing_mm", K_FLOAT3, 0.01, 100, "[z, y, x] spacing in mm"},
    {"whole_volume.crop", K_INT3, 4, 4096, "[D, H, W] crop"},
    {"whole_volume.batch", K_INT, 2, 10000, "patients per mini-batch"},
    {"report", K_GROUP, 0, 0, ""},
    {"report.horizons_days", K_FLOAT_LIST, 1, 36500, "1 to 8 increasing prognosis horizons in days"},
};
#define N_SCHEMA (sizeof schema / sizeof schema[0])

static const key_spec *find_spec(const char *path)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (!strcmp(schema[i].path, path)) return &schema[i];
    return NULL;
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

/* Look up a key; *found = 0 when absent (defaults stay). Validates type and range. */
static int lookup(const config_t *cfg, const char *file, const char *path, void *out, int *found, lr_err *err)
{
    const key_spec *k = find_spec(path);
    config_setting_t *s = config_lookup(cfg, path);
    *found = s != NULL;
    if (!s || !k) return 0;
    int type = config_setting_type(s);
    char range[128];
    snprintf(range, sizeof range, "%s in [%g, %g]", k->help, k->min, k->max);
    switch (k->type) {
    case K_INT: {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return fail_at(err, file, s, "'%s': expected an integer: %s", path, k->help);
        double v;
        get_number(s, &v);
        if (v < k->min || v > k->max) return fail_at(err, file, s, "'%s': out of range: expected %s", path, range);
        *(long *)out = (long)v;
        return 0;
    }
    case K_FLOAT: {
        double v;
        if (get_number(s, &v)) return fail_at(err, file, s, "'%s': expected a number: %s", path, k->help);
        if (!(v >= k->min && v <= k->max)) return fail_at(err, file, s, "'%s': out of range: expected %s", path, range);
        *(double *)out = v;
        return 0;
    }
    case K_BOOL:
        if (type != CONFIG_TYPE_BOOL) return fail_at(err, file, s, "'%s': expected %s", path, k->help);
        *(int *)out = config_setting_get_bool(s);
        return 0;
    case K_STRING:
    case K_DIMS:
    case K_TIES:
        if (type != CONFIG_TYPE_STRING) return fail_at(err, file, s, "'%s': expected a string: %s", path, k->help);
        snprintf((char *)out, LR_PATH_MAX, "%s", config_setting_get_string(s));
        return 0;
    case K_FLOAT3:
    case K_INT3: {
        if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || config_setting_length(s) != 3)
            return fail_at(err, file, s, "'%s': expected three numbers: %s", path, k->help);
        for (int i = 0; i < 3; i++) {
            double v;
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (get_number(e, &v) || (k->type == K_INT3 && config_setting_type(e) == CONFIG_TYPE_FLOAT))
                return fail_at(err, file, s, "'%s': expected three %s", path,
                               k->type == K_INT3 ? "integers" : "numbers");
            if (!(v >= k->min && v <= k->max)) return fail_at(err, file, s, "'%s': out of range: expected %s", path, range);
            ((double *)out)[i] = v;
        }
        return 0;
    }
    case K_FLOAT_LIST: {
        lr_horizons *h = out;
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
    case K_MODELS: {
        if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || config_setting_length(s) < 1)
            return fail_at(err, file, s, "'%s': expected a non-empty list of %s", path, "model names");
        lr_experiment *exp = out;
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
    default: return 0;
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

#define GET(path, var)                                                                             \
    do {                                                                                           \
        if (lookup(&cfg, file, path, &(var), &found, err)) goto fail;                              \
    } while (0)


int lr_experiment_load(const char *file, lr_experiment *exp, lr_err *err)
{
    memset(exp, 0, sizeof *exp);
    snprintf(exp->path, sizeof exp->path, "%s", file);
    snprintf(exp->results_dir, sizeof exp->results_dir, "results");
    exp->seed = 1;
    exp->folds = 4;
    exp->replicates = 1;
    exp->retries = 1;
    lr_train_options_default(&exp->train);
    lr_synth_default_params(&exp->synth);
    exp->horizons = (lr_horizons){.n = 2, .days = {365.0, 730.0}};
    struct stat st;
    if (stat(file, &st) != 0) return lr_fail(err, "%s: no such experiment file", file);
    config_t cfg;
    config_init(&cfg);
    if (config_read_file(&cfg, file) != CONFIG_TRUE) {
        lr_fail(err, "%s:%d: %s", file, config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    int found;
    long v;
    double d;
    char s[LR_PATH_MAX];
    double three[3];
    lr_train_options *t = &exp->train;
    if (check_unknown(config_root_setting(&cfg), file, err)) goto fail;

    GET("name", s);
    if (!found) {
        lr_fail(err, "%s: missing key 'name' (the campaign name)", file);
        goto fail;
    }
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')) {
            fail_at(err, file, config_lookup(&cfg, "name"), "'%s': %s", "name", "expected letters, digits, - and _ only");
            goto fail;
        }
    snprintf(exp->name, sizeof exp->name, "%.100s", s);
    GET("seed", v); if (found) exp->seed = (uint64_t)v;
    GET("folds", v); if (found) exp->folds = (int)v;
    GET("replicates", v); if (found) exp->replicates = (int)v;
    GET("retries", v); if (found) exp->retries = (int)v;
    GET("results_dir", s); if (found) snprintf(exp->results_dir, sizeof exp->results_dir, "%s", s);
    if (lookup(&cfg, file, "models", exp, &found, err)) goto fail;
    if (!found) {
        lr_fail(err, "%s: missing key 'models' (a list of model names)", file);
        goto fail;
    }
    GET("cohort.path", s);
    if (!found) {
        lr_fail(err, "%s: missing key 'cohort.path' (the cohort file)", file);
        goto fail;
    }
    snprintf(exp->cohort, sizeof exp->cohort, "%s", s);
    exp->has_synth = config_lookup(&cfg, "cohort.synth") != NULL;
    GET("cohort.synth.patients", v); if (found) exp->synth.patients = (size_t)v;
    GET("cohort.synth.seed", v); if (found) exp->synth.seed = (uint64_t)v;
    GET("cohort.synth.volumes", s);
    if (found) {
        if (lr_parse_dims(s, 4, 2048, exp->synth.volume_dims)) {
            fail_at(err, file, config_lookup(&cfg, "cohort.synth.volumes"), "'%s': %s", "cohort.synth.volumes",
                    "expected \"DxHxW\" with each in [4, 2048]");
            goto fail;
        }
        exp->synth.volumes = 1;
    }

    GET("train.epochs", v); if (found) t->epochs = (int)v;
    GET("train.batch_annotations", v); if (found) t->batch_annotations = (int)v;
    GET("train.max_lesions", v); if (found) t->max_lesions = (int)v;
    GET("train.lr", d); if (found) t->lr = d;
    GET("train.weight_decay", d); if (found) t->weight_decay = d;
    GET("train.eval_every", v); if (found) t->eval_every = (int)v;
    GET("train.ties", s);
    if (found) {
        lr_ties ties;
        if (lr_ties_parse(s, &ties)) {
            fail_at(err, file, config_lookup(&cfg, "train.ties"), "'%s': %s", "train.ties", "expected \"breslow\" or \"efron\"");
            goto fail;
        }
        t->ties = (int)ties;
    }
    GET("cnn.width", v); if (found) t->width = (int)v;
    GET("cnn.hu_min", d); if (found) t->hu_min = d;
    GET("cnn.hu_max", d); if (found) t->hu_max = d;
    if (t->hu_max <= t->hu_min) {
        fail_at(err, file, config_lookup(&cfg, "cnn.hu_max"), "'%s': %s", "cnn.hu_max", "expected hu_max > hu_min");
        goto fail;
    }
    GET("scaler.hidden", v); if (found) t->scaler_hidden = (int)v;
    GET("augment.enabled", t->augment);
    GET("augment.shift", d); if (found) t->aug_shift = d;
    GET("augment.scale", d); if (found) t->aug_scale = d;
    GET("augment.rotate_deg", d); if (found) t->aug_rotate_deg = d;
    GET("augment.flip", t->aug_flip);
    GET("resnet50.width", v); if (found) t->r50_width = (int)v;
    GET("resnet50.imagenet_weights", s); if (found) snprintf(t->imagenet_weights, LR_PATH_MAX, "%s", s);
    GET("resnet50.radimagenet_weights", s); if (found) snprintf(t->radimagenet_weights, LR_PATH_MAX, "%s", s);
    GET("resnet50.pretrain.path", s); if (found) snprintf(t->pretrain_path, LR_PATH_MAX, "%s", s);
    GET("resnet50.pretrain.patients", v); if (found) t->pretrain_patients = (int)v;
    GET("resnet50.pretrain.epochs", v); if (found) t->pretrain_epochs = (int)v;
    GET("resnet50.pretrain.seed", v); if (found) t->pretrain_seed = (uint64_t)v;
    if (exp->has_synth && t->pretrain_seed == exp->synth.seed) {
        fail_at(err, file, config_lookup(&cfg, "resnet50.pretrain.seed"), "'%s': %s", "resnet50.pretrain.seed",
                "must differ from cohort.synth.seed (the pretraining corpus is disjoint from the cohort)");
        goto fail;
    }
    GET("whole_volume.width", v); if (found) t->wv_width = (int)v;
    GET("whole_volume.batch", v); if (found) t->wv_batch = (int)v;
    GET("report.horizons_days", exp->horizons);
    GET("whole_volume.spacing_mm", three); if (found) memcpy(t->wv_spacing_mm, three, sizeof three);
    GET("whole_volume.crop", three);
    if (found)
        for (int i = 0; i < 3; i++) t->wv_crop[i] = (int)three[i];
    if (!t->pretrain_path[0])
        snprintf(t->pretrain_path, LR_PATH_MAX, "%.800s/%.100s/pretrain/organ_resnet50.h5", exp->results_dir, exp->name);
    config_destroy(&cfg);
    exp->text = slurp(file);
    if (!exp->text) return lr_fail(err, "%s: cannot read", file);
    return 0;
fail:
    config_destroy(&cfg);
    return -1;
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
